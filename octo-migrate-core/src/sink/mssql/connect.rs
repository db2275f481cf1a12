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

/// Resolves, connects and logs in, all within `opts.connect_timeout`. Errors are messages for
/// people (they never contain the password; the target's Display redacts it).
pub(super) async fn connect(
    t: &MssqlTarget,
    opts: &MssqlOptions,
) -> std::result::Result<Conn, String> {
    let deadline = Instant::now() + opts.connect_timeout;
    let secs = opts.connect_timeout.as_secs();
    let addr = format!("{}:{}", t.host, t.port);
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
    let mut tcp = None;
    for a in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(a)).await {
            Err(_) => {
                return Err(format!(
                    "connecting to {addr} timed out after {secs} s: {reach}"
                ))
            }
            Ok(Err(e)) => last = Some(e),
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
        }
    }
    let tcp = match (tcp, last) {
        (Some(s), _) => s,
        (None, Some(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(format!("connection to {addr} refused: {reach}"))
        }
        (None, Some(e)) => return Err(format!("cannot connect to {addr} ({e}): {reach}")),
        (None, None) => return Err(format!("host {} resolves to no address", t.host)),
    };
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
        Ok(Err(e)) => Err(login_error(t, &e)),
        Ok(Ok(c)) => Ok(c),
    }
}

/// The tiberius configuration for `t`.
fn tds_config(t: &MssqlTarget, opts: &MssqlOptions, handshake: Duration) -> Config {
    let mut c = Config::new();
    c.host(&t.host);
    c.port(t.port);
    c.database(&t.database);
    c.application_name("octo-migrate");
    c.authentication(AuthMethod::sql_server(&t.user, t.expose_password()));
    c.encryption(match t.encrypt {
        Encrypt::Required => EncryptionLevel::Required,
        // NotSupported still follows a server that requires TLS (tiberius negotiates On).
        Encrypt::Optional => EncryptionLevel::NotSupported,
        Encrypt::Strict => EncryptionLevel::Strict,
    });
    if t.trust_server_certificate {
        c.trust_cert();
    }
    // The largest TDS packet: at the default 4 KB, per-packet flushes limit bulk loads.
    c.packet_size(32767);
    c.handshake_timeout(Some(handshake));
    c.command_timeout(Some(opts.command_timeout));
    c
}

/// A login-phase error, with what to do about it.
fn login_error(t: &MssqlTarget, e: &TdsError) -> String {
    let addr = format!("{}:{}", t.host, t.port);
    match e {
        TdsError::Server(te) => server_login_error(t, te.code(), te.message()),
        TdsError::Tls(m) => format!(
            "TLS with {addr} failed ({m}): install a certificate the client trusts on the \
             server, or add trust_server_certificate=true (TrustServerCertificate=true) if you \
             trust this server"
        ),
        TdsError::Io { message, .. } => format!(
            "{addr} closed or broke the connection during the login ({message}): check that \
             this host and port are SQL Server's, that encrypt/trust settings fit the server, \
             and that no proxy or firewall interferes"
        ),
        TdsError::Protocol(m) if m.contains("encryption") => format!(
            "{addr} does not offer the required encryption ({m}): enable TLS on the server, or \
             add encrypt=false (Encrypt=false) for a test server"
        ),
        _ => format!("login to {addr} failed: {}", describe_tds_error(e)),
    }
}

/// A login refused by the server (error number `code`), with what to do about it.
fn server_login_error(t: &MssqlTarget, code: u32, message: &str) -> String {
    let addr = format!("{}:{}", t.host, t.port);
    match code {
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

    #[test]
    fn login_errors_say_what_to_do_without_the_password() {
        let t = MssqlTarget::parse("mssql://octo:hunter2@db01:1433/Octopus").unwrap();
        let tls = login_error(&t, &TdsError::Tls("bad certificate".into()));
        assert!(tls.contains("db01:1433") && tls.contains("trust_server_certificate"));
        let enc = login_error(
            &t,
            &TdsError::Protocol("Server does not allow the requested encryption level.".into()),
        );
        assert!(enc.contains("encrypt=false"), "{enc}");
        let login = server_login_error(&t, 18456, "Login failed for user 'octo'.");
        assert!(
            login.contains("login failed for user octo on db01:1433"),
            "{login}"
        );
        assert!(login.contains("user name and password"), "{login}");
        let db = server_login_error(&t, 4060, "Cannot open database \"Octopus\"");
        assert!(
            db.contains("database Octopus on db01:1433 does not exist"),
            "{db}"
        );
        for m in [tls, enc, login, db] {
            assert!(!m.contains("hunter2"));
        }
    }
}
