//! Connecting to SQL Server: name resolution, TCP, TLS and login under one deadline, the
//! tiberius configuration, and what a TDS error means for people and for the connection.

use std::time::Duration;

use tiberius::{error::Error as TdsError, AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::MssqlOptions;
use crate::sink::mssql_target::{Encrypt, MssqlTarget};

/// A tiberius client over a tokio TCP stream.
pub(super) type Conn = Client<Compat<TcpStream>>;

/// Resolves, connects and logs in, all within `opts.connect_timeout` (or the target's own
/// `Connect Timeout`). Errors are messages for people (they never contain the password; the
/// target's Display redacts it, and the sink passes every message through `redact`).
pub(super) async fn connect(
    t: &MssqlTarget,
    opts: &MssqlOptions,
) -> std::result::Result<Conn, String> {
    let timeout = t.connect_timeout.unwrap_or(opts.connect_timeout);
    let deadline = Instant::now() + timeout;
    check_auth_supported(t)?;
    let tcp = match &t.instance {
        Some(instance) => connect_named(t, instance, opts, deadline, timeout).await?,
        None => connect_tcp(t, deadline, timeout).await?,
    };
    let addr = match (&t.instance, tcp.peer_addr()) {
        (Some(i), Ok(a)) => format!("{}\\{i} (port {})", t.host, a.port()),
        _ => t.address(),
    };
    let secs = timeout.as_secs();
    // Every bulk-load packet is flushed on its own: do not let Nagle hold them back.
    tcp.set_nodelay(true)
        .map_err(|e| format!("cannot configure the connection to {addr}: {e}"))?;
    let config = tds_config(t, opts, deadline.saturating_duration_since(Instant::now()));
    match tokio::time::timeout_at(deadline, Client::connect(config, tcp.compat_write())).await {
        Err(_) => Err(format!(
            "{addr} accepted the connection but the login did not finish within {secs} s: \
             check that this port is SQL Server's"
        )),
        Ok(Err(TdsError::Io {
            kind: std::io::ErrorKind::TimedOut,
            ..
        })) => Err(format!(
            "{addr} accepted the connection but the login did not finish within {secs} s: \
             check that this port is SQL Server's"
        )),
        Ok(Err(e)) => Err(login_error(t, &addr, &e)),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Refuses integrated security in a build that cannot do it, before any connection.
fn check_auth_supported(t: &MssqlTarget) -> std::result::Result<(), String> {
    if t.integrated_security && !INTEGRATED_SUPPORTED {
        return Err(format!(
            "this build does not support Integrated Security (logging in to {} as the running \
             user): use SQL authentication (User ID and Password), or a build with {}",
            t.address(),
            INTEGRATED_BUILD
        ));
    }
    Ok(())
}

/// Whether this build can log in as the running user: Windows authentication on Windows
/// (tiberius's `winauth`), Kerberos elsewhere with the `integrated-auth-gssapi` feature.
const INTEGRATED_SUPPORTED: bool =
    cfg!(windows) || cfg!(all(unix, feature = "integrated-auth-gssapi"));

/// The build that supports integrated security here.
const INTEGRATED_BUILD: &str = if cfg!(windows) {
    "Windows authentication (every Windows build has it)"
} else {
    "the cargo feature integrated-auth-gssapi (Kerberos; needs the MIT Kerberos GSSAPI library, \
     libgssapi-krb5, and a ticket from kinit)"
};

/// Resolves the host and connects over TCP.
async fn connect_tcp(
    t: &MssqlTarget,
    deadline: Instant,
    timeout: Duration,
) -> std::result::Result<TcpStream, String> {
    let secs = timeout.as_secs();
    let addr = t.address();
    let reach = format!(
        "check that SQL Server runs on {}, that TCP/IP is enabled in its network configuration \
         and listens on port {}, and that no firewall blocks the port",
        t.host, t.port
    );
    let addrs: Vec<_> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((t.host.as_str(), t.port)))
            .await
        {
            Err(_) => {
                return Err(format!(
                "cannot resolve host {}: no answer within {secs} s (check the server name and DNS)",
                t.host
            ))
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "cannot resolve host {} ({e}): check the server name and DNS",
                    t.host
                ))
            }
            Ok(Ok(a)) => a.collect(),
        };
    let mut last = None;
    for a in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(a)).await {
            Err(_) => {
                return Err(format!(
                    "connecting to {addr} timed out after {secs} s: {reach}"
                ))
            }
            Ok(Err(e)) => last = Some(e),
            Ok(Ok(s)) => return Ok(s),
        }
    }
    match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(format!("connection to {addr} refused: {reach}"))
        }
        Some(e) => Err(format!("cannot connect to {addr} ({e}): {reach}")),
        None => Err(format!("host {} resolves to no address", t.host)),
    }
}

/// Asks the SQL Server Browser on the host (UDP `opts.browser_port`, 1434) for the named
/// instance's port and connects to it (tiberius's `sql-browser-tokio`).
async fn connect_named(
    t: &MssqlTarget,
    instance: &str,
    opts: &MssqlOptions,
    deadline: Instant,
    timeout: Duration,
) -> std::result::Result<TcpStream, String> {
    use tiberius::SqlBrowser as _;
    let mut c = Config::new();
    c.host(&t.host);
    c.port(opts.browser_port);
    c.instance_name(instance);
    let name = format!("{}\\{instance}", t.host);
    let browser = format!(
        "the SQL Server Browser on {} (UDP port {})",
        t.host, opts.browser_port
    );
    let fix = format!(
        "check that the SQL Server Browser service runs on {} and that UDP port {} is open, or \
         give the instance's TCP port instead of its name (Server={},PORT; SQL Server \
         Configuration Manager shows it under the instance's TCP/IP properties)",
        t.host, opts.browser_port, t.host
    );
    match tokio::time::timeout_at(deadline, TcpStream::connect_named(&c)).await {
        Err(_) => Err(format!(
            "connecting to {name} timed out after {} s: {fix}",
            timeout.as_secs()
        )),
        Ok(Ok(s)) => Ok(s),
        Ok(Err(TdsError::Conversion(m))) if m.contains("timeout") => Err(format!(
            "{browser} did not answer for instance {instance}: {fix}"
        )),
        Ok(Err(TdsError::Conversion(_))) => Err(format!(
            "{browser} did not give a TCP port for instance {instance}: check the instance name \
             (SELECT @@SERVICENAME on the server), and that TCP/IP is enabled for it, or give \
             the instance's port (Server={},PORT)",
            t.host
        )),
        Ok(Err(TdsError::Io {
            kind: std::io::ErrorKind::ConnectionRefused,
            message,
        })) => Err(format!(
            "{browser} named a port for instance {instance} that refused the connection \
                 ({message}): check that TCP/IP is enabled for the instance and no firewall \
                 blocks it"
        )),
        Ok(Err(e)) => Err(format!(
            "cannot reach instance {name} through {browser} ({}): {fix}",
            describe_tds_error(&e)
        )),
    }
}

/// The tiberius configuration for `t`.
fn tds_config(t: &MssqlTarget, opts: &MssqlOptions, handshake: Duration) -> Config {
    let mut c = Config::new();
    c.host(&t.host);
    c.port(t.port);
    c.database(&t.database);
    c.application_name(t.application_name.as_deref().unwrap_or("octo-migrate"));
    c.authentication(auth_method(t));
    c.encryption(match t.encrypt {
        Encrypt::Required => EncryptionLevel::Required,
        // NotSupported still follows a server that requires TLS (tiberius negotiates On).
        Encrypt::Optional => EncryptionLevel::NotSupported,
        Encrypt::Strict => EncryptionLevel::Strict,
    });
    if t.trust_server_certificate {
        c.trust_cert();
    } else if let Some(ca) = t.trust_cert_ca.as_ref().or(opts.trust_cert_ca.as_ref()) {
        c.trust_cert_ca(ca.display());
    }
    if let Some(h) = &t.host_name_in_certificate {
        c.hostname_in_certificate(h);
    }
    // The largest TDS packet: at the default 4 KB, per-packet flushes limit bulk loads.
    c.packet_size(32767);
    c.handshake_timeout(Some(handshake));
    c.command_timeout(Some(opts.command_timeout));
    c
}

/// How `t` logs in. Integrated security is refused before this in builds without it
/// (`check_auth_supported`).
fn auth_method(t: &MssqlTarget) -> AuthMethod {
    #[cfg(any(windows, all(unix, feature = "integrated-auth-gssapi")))]
    if t.integrated_security {
        return AuthMethod::Integrated;
    }
    AuthMethod::sql_server(&t.user, t.expose_password())
}

/// A login-phase error, with what to do about it.
fn login_error(t: &MssqlTarget, addr: &str, e: &TdsError) -> String {
    match e {
        TdsError::Server(te) => server_login_error(t, addr, te.code(), te.message()),
        TdsError::Tls(m) => tls_error(t, addr, m),
        TdsError::Io { message, .. } if t.trust_cert_ca.is_some() && message.contains("CA") => {
            format!(
                "the CA certificate file for {addr} cannot be used ({message}): give a PEM or \
                 DER certificate file"
            )
        }
        TdsError::Io { message, .. } => format!(
            "{addr} closed or broke the connection during the login ({message}): check that \
             this host and port are SQL Server's, that encrypt/trust settings fit the server, \
             and that no proxy or firewall interferes"
        ),
        TdsError::Protocol(m) if m.contains("encryption") => format!(
            "{addr} does not offer the required encryption ({m}): enable TLS on the server, or \
             add encrypt=false (Encrypt=false) for a test server"
        ),
        _ if t.integrated_security && cfg!(windows) => format!(
            "login to {addr} as the running Windows user (Integrated Security) failed: {}. \
             Check that this account has a login on the server",
            describe_tds_error(e)
        ),
        _ if t.integrated_security => format!(
            "login to {addr} as the running user (Integrated Security) failed: {}. On Linux \
             and macOS this is Kerberos: get a ticket first (kinit user@REALM), and check that \
             the server has an SPN (MSSQLSvc/{}:{}) and that this machine resolves its name",
            describe_tds_error(e),
            t.host,
            t.port
        ),
        _ => format!("login to {addr} failed: {}", describe_tds_error(e)),
    }
}

/// A failed TLS handshake, for an administrator: which server, why in a few words, and the
/// two ways out. The driver's text (advice to programmers, naming its `Config` methods) is
/// not repeated.
fn tls_error(t: &MssqlTarget, addr: &str, m: &str) -> String {
    let why = if m.contains("NotValidForName") || m.contains("not valid for name") {
        format!(
            "its certificate is made out for another name than {} (if the server is known by \
             another name, add HostNameInCertificate=NAME)",
            t.host
        )
    } else if m.contains("CaUsedAsEndEntity") {
        "its certificate is a CA certificate used as the server's own (self-signed and marked \
         CA:TRUE), which TLS does not accept even from a CA file: give the server a certificate \
         issued by a CA, or use TrustServerCertificate=true"
            .to_owned()
    } else if m.contains("Expired") || m.contains("expired") {
        "its certificate has expired".to_owned()
    } else if m.contains("UnknownIssuer") || m.contains("rejected") {
        "its certificate is not issued by an authority this machine trusts (SQL Server's own \
         self-signed certificate never is)"
            .to_owned()
    } else if m.contains("UnsupportedCertVersion") {
        "its certificate is of an old X.509 version (as SQL Server's self-signed one)".to_owned()
    } else {
        "the TLS handshake failed".to_owned()
    };
    // The driver's own reason, without its advice to programmers (which names its `Config`).
    let reason = m
        .split(" To connect anyway")
        .next()
        .unwrap_or("")
        .split("Config::")
        .next()
        .unwrap_or("")
        .trim_end_matches(['.', ' ', '`', '('])
        .trim();
    let why = if reason.is_empty() {
        why
    } else {
        format!("{why} ({reason})")
    };
    format!(
        "cannot trust SQL Server {addr}: {why}. Either give the CA certificate that issued the \
         server's certificate (--target-ca-file PATH, or TrustServerCertificateCA=PATH in the \
         connection string), or, if you trust this server and network, add \
         TrustServerCertificate=true (trust_server_certificate=true in an mssql:// URL)"
    )
}

/// A login refused by the server (error number `code`), with what to do about it.
fn server_login_error(t: &MssqlTarget, addr: &str, code: u32, message: &str) -> String {
    match code {
        18452 if t.integrated_security => format!(
            "{addr} refused the login as the running user (Integrated Security): the server \
             does not trust this machine's domain account, or accepts SQL logins only \
             (server says: {message})"
        ),
        18456 | 18470 | 18486 | 18487 | 18488 => format!(
            "login failed for user {} on {addr}: check the user name and password, and that \
             SQL Server authentication is enabled (server says: {message})",
            t.user
        ),
        4060 | 911 | 4063 => format!(
            "database {} on {addr} does not exist or user {} may not open it (server says: \
             {message}): create it first, or grant the login access",
            t.database, t.user
        ),
        _ => format!("login to {addr} failed: SQL Server error {code}: {message}"),
    }
}

/// A tiberius error as one line (server errors with their number, which is what people search).
pub(super) fn describe_tds_error(e: &TdsError) -> String {
    match e {
        TdsError::Server(te) => format!("SQL Server error {}: {}", te.code(), te.message()),
        other => other.to_string(),
    }
}

/// Whether `e` leaves the connection unusable.
pub(super) fn connection_is_lost(e: &TdsError) -> bool {
    matches!(
        e,
        TdsError::Io { .. } | TdsError::Protocol(_) | TdsError::Tls(_) | TdsError::Routing { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_follows_the_target_and_options() {
        let t = MssqlTarget::parse("mssql://u:pw@db01:1444/Octo?encrypt=false").unwrap();
        let c = tds_config(&t, &MssqlOptions::default(), Duration::from_secs(3));
        assert_eq!(c.get_addr(), "db01:1444");
        assert_eq!(c.get_packet_size(), Some(32767));
        assert_eq!(c.get_command_timeout(), Some(Duration::from_secs(600)));
        assert_eq!(c.get_handshake_timeout(), Some(Duration::from_secs(3)));
    }

    /// tiberius's own ADO.NET parser as the oracle for what both accept: the same address.
    #[test]
    fn ado_strings_agree_with_tiberius_on_the_address() {
        for s in [
            "Server=tcp:db01,1444;Database=O;User Id=u;Password=p",
            "Data Source=db01,1500;Initial Catalog=O;UID=u;PWD=p",
            "server=db01;database=O;user=u;password='a;b'",
            "Server=(local),1433;Database=O;User ID=u;Password=\"x\"",
        ] {
            let ours = MssqlTarget::parse(s).unwrap();
            let theirs = Config::from_ado_string(s).unwrap();
            let mine = tds_config(&ours, &MssqlOptions::default(), Duration::from_secs(1));
            assert_eq!(mine.get_addr(), theirs.get_addr(), "{s}");
        }
    }

    #[test]
    fn login_errors_say_what_to_do_without_the_password() {
        let t = MssqlTarget::parse("mssql://octo:hunter2@db01:1433/Octopus").unwrap();
        let addr = t.address();
        let enc = login_error(
            &t,
            &addr,
            &TdsError::Protocol("Server does not allow the requested encryption level.".into()),
        );
        assert!(enc.contains("encrypt=false"), "{enc}");
        let login = server_login_error(&t, &addr, 18456, "Login failed for user 'octo'.");
        assert!(
            login.contains("login failed for user octo on db01:1433"),
            "{login}"
        );
        assert!(login.contains("user name and password"), "{login}");
        let db = server_login_error(&t, &addr, 4060, "Cannot open database \"Octopus\"");
        assert!(
            db.contains("database Octopus on db01:1433 does not exist"),
            "{db}"
        );
        for m in [enc, login, db] {
            assert!(!m.contains("hunter2"));
        }
    }

    /// Issue 12: the TLS failure in an administrator's words: the server named, the two ways
    /// out offered, nothing of the driver's advice to programmers.
    #[test]
    fn a_certificate_not_trusted_is_explained_for_an_administrator() {
        let t = MssqlTarget::parse("Server=db01;Database=O;User Id=u;Password=hunter2").unwrap();
        // tiberius's text for a rejected certificate (rustls_tls_stream.rs), abridged.
        let driver = "the server's certificate was rejected during the TLS handshake: invalid \
                      peer certificate: UnknownIssuer. To connect anyway you can: (1) trust a \
                      specific CA certificate with `Config::trust_cert_ca(path)` ...";
        for (m, says) in [
            (driver, "not issued by an authority"),
            (
                "invalid peer certificate: NotValidForName",
                "HostNameInCertificate",
            ),
            ("invalid peer certificate: Expired", "expired"),
            (
                "the server's certificate was rejected during the TLS handshake: \
                 Other(OtherError(CaUsedAsEndEntity)). To connect anyway you can: (1) trust a \
                 specific CA certificate with `Config::trust_cert_ca(path)`",
                "self-signed and marked CA:TRUE",
            ),
            ("unexpected EOF", "TLS handshake failed"),
        ] {
            let e = login_error(&t, "db01:1433", &TdsError::Tls(m.into()));
            assert!(e.contains("SQL Server db01:1433"), "{e}");
            assert!(e.contains(says), "{e}");
            assert!(e.contains("TrustServerCertificate=true"), "{e}");
            assert!(e.contains("--target-ca-file"), "{e}");
            assert!(!e.contains("Config::") && !e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_ca_file_goes_to_the_driver_unless_the_certificate_is_trusted_anyway() {
        let t = MssqlTarget::parse(
            "Server=h;Database=O;User Id=u;Password=p;TrustServerCertificateCA=/no/ca.pem",
        )
        .unwrap();
        // Config has no getter for its trust settings; that it builds (trust_cert_ca and
        // trust_cert panic when both are set) is what can be checked here.
        let _ = tds_config(&t, &MssqlOptions::default(), Duration::from_secs(1));
        let o = MssqlOptions {
            trust_cert_ca: Some("/other/ca.pem".into()),
            ..MssqlOptions::default()
        };
        let trusting = MssqlTarget::parse(
            "Server=h;Database=O;User Id=u;Password=p;TrustServerCertificate=true",
        )
        .unwrap();
        let _ = tds_config(&trusting, &o, Duration::from_secs(1));
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    #[cfg(not(any(windows, feature = "integrated-auth-gssapi")))]
    fn integrated_security_is_refused_by_a_build_without_it_before_connecting() {
        // Port 9 of a documentation address: connecting would hang or fail differently.
        let t =
            MssqlTarget::parse("Server=192.0.2.1,9;Database=O;Integrated Security=SSPI").unwrap();
        let start = std::time::Instant::now();
        let e = rt()
            .block_on(connect(&t, &MssqlOptions::default()))
            .err()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(e.contains("does not support Integrated Security"), "{e}");
        assert!(e.contains("integrated-auth-gssapi"), "{e}");
        assert!(e.contains("SQL authentication"), "{e}");
    }

    /// A UDP "browser" on localhost that answers each request with `reply` (or never).
    fn fake_browser(reply: Option<&'static [u8]>) -> (u16, std::thread::JoinHandle<()>) {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            if let Ok((_, from)) = sock.recv_from(&mut buf) {
                if let Some(r) = reply {
                    let _ = sock.send_to(r, from);
                }
            }
        });
        (port, h)
    }

    fn named_error(reply: Option<&'static [u8]>) -> String {
        let (port, h) = fake_browser(reply);
        let t = MssqlTarget::parse(
            "Server=127.0.0.1\\SQLEXPRESS;Database=O;User Id=u;Password=hunter2;Encrypt=false",
        )
        .unwrap();
        let o = MssqlOptions {
            browser_port: port,
            connect_timeout: Duration::from_secs(10),
            ..MssqlOptions::default()
        };
        let e = rt().block_on(connect(&t, &o)).err().unwrap();
        h.join().unwrap();
        assert!(!e.contains("hunter2"), "{e}");
        e
    }

    #[test]
    fn a_browser_that_never_answers_is_named_with_what_to_do() {
        let e = named_error(None);
        assert!(e.contains("SQL Server Browser on 127.0.0.1"), "{e}");
        assert!(e.contains("did not answer for instance SQLEXPRESS"), "{e}");
        assert!(e.contains("Server=127.0.0.1,PORT"), "{e}");
    }

    #[test]
    fn a_browser_that_answers_garbage_is_named_with_what_to_do() {
        let e = named_error(Some(b"\x05\x10\x00garbage;no;port;here"));
        assert!(
            e.contains("did not give a TCP port for instance SQLEXPRESS"),
            "{e}"
        );
    }
}
