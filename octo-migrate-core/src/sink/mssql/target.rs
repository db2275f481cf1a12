//! SQL Server targets as the command line names them, parsed into one type (issue 4 groundwork:
//! the tiberius sink will take a [`MssqlTarget`]). Two spellings are accepted:
//!
//! - `mssql://user:password@host:port/database?trust_server_certificate=true&encrypt=true`
//! - ADO.NET: `Server=host,port;Database=...;User Id=...;Password=...;TrustServerCertificate=true;Encrypt=true`
//!
//! Encryption defaults to required (TLS for the whole session), as current SQL Server drivers do.
//!
//! The password is zeroed on drop and never printed: `Display` and `Debug` redact it, and no
//! parse error quotes the input.

use std::fmt;

use zeroize::Zeroizing;

/// The default SQL Server port.
pub const DEFAULT_PORT: u16 = 1433;

/// A parsed SQL Server target.
#[derive(Clone, PartialEq, Eq)]
pub struct MssqlTarget {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub database: String,
    /// SQL login.
    pub user: String,
    password: Zeroizing<String>,
    /// Accept the server's certificate without validating it.
    pub trust_server_certificate: bool,
    /// Whether the session must be encrypted.
    pub encrypt: Encrypt,
}

/// The TLS policy of a SQL Server connection (`encrypt=` in the URL, `Encrypt=` in ADO.NET).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encrypt {
    /// TLS for the whole session; fail if the server does not offer it (`true`, the default).
    #[default]
    Required,
    /// TLS only when the server asks for it (`false`): for test servers without a certificate.
    Optional,
    /// TDS 8.0 strict mode: TLS before the first TDS packet (`strict`).
    Strict,
}

fn parse_encrypt(v: &str, what: &str) -> Result<Encrypt, MssqlTargetError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "mandatory" | "required" => Ok(Encrypt::Required),
        "false" | "no" | "0" | "optional" => Ok(Encrypt::Optional),
        "strict" => Ok(Encrypt::Strict),
        _ => Err(err(format!("{what} must be true, false or strict"))),
    }
}

/// Why a target string is not a SQL Server target. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SQL Server target: {0}. Use mssql://user:password@host:port/database or Server=host,port;Database=...;User Id=...;Password=...")]
pub struct MssqlTargetError(pub String);

fn err(s: impl Into<String>) -> MssqlTargetError {
    MssqlTargetError(s.into())
}

/// Decodes `%xx` escapes (user names and passwords in URLs may contain `@`, `:` or `/`).
fn percent_decode(s: &str) -> Result<String, MssqlTargetError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| err("a %-escape in the URL is malformed"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("a %-escape in the URL is not UTF-8"))
}

fn parse_bool(v: &str, what: &str) -> Result<bool, MssqlTargetError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(err(format!("{what} must be true or false"))),
    }
}

fn parse_port(p: &str) -> Result<u16, MssqlTargetError> {
    p.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| err("the port is not a number from 1 to 65535"))
}

impl MssqlTarget {
    /// Parses either spelling.
    pub fn parse(s: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let t = s.trim();
        if t.len() >= 8 && t[..8].eq_ignore_ascii_case("mssql://") {
            Self::parse_url(&t[8..])
        } else if t.contains('=') {
            Self::parse_ado(t)
        } else {
            Err(err("neither an mssql:// URL nor a connection string"))
        }
    }

    fn parse_url(rest: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, hostpath) = main
            .rsplit_once('@')
            .ok_or_else(|| err("the URL has no user (user:password@host)"))?;
        let (user, password) = auth
            .split_once(':')
            .ok_or_else(|| err("the URL has no password (user:password@host)"))?;
        let (hostport, database) = hostpath
            .split_once('/')
            .ok_or_else(|| err("the URL names no database (host:port/database)"))?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (hostport, DEFAULT_PORT),
        };
        let mut trust = false;
        let mut encrypt = Encrypt::default();
        for kv in query.split('&').filter(|x| !x.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            match k.to_ascii_lowercase().replace('_', "").as_str() {
                "trustservercertificate" => trust = parse_bool(v, "trust_server_certificate")?,
                "encrypt" => encrypt = parse_encrypt(v, "encrypt")?,
                other => return Err(err(format!("unknown URL option {other:?}"))),
            }
        }
        Self::checked(
            host.to_owned(),
            port,
            percent_decode(database)?,
            percent_decode(user)?,
            Zeroizing::new(percent_decode(password)?),
            (trust, encrypt),
        )
    }

    fn parse_ado(s: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let (mut host, mut port) = (None, DEFAULT_PORT);
        let (mut database, mut user) = (None, None);
        let mut password = Zeroizing::new(String::new());
        let mut trust = false;
        let mut encrypt = Encrypt::default();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err("a connection-string part has no ="))?;
            let v = v.trim();
            match k.trim().to_ascii_lowercase().replace(' ', "").as_str() {
                "server" | "datasource" | "address" | "addr" => {
                    let v = v.strip_prefix("tcp:").unwrap_or(v);
                    match v.split_once(',') {
                        Some((h, p)) => {
                            host = Some(h.trim().to_owned());
                            port = parse_port(p)?;
                        }
                        None => host = Some(v.to_owned()),
                    }
                }
                "database" | "initialcatalog" => database = Some(v.to_owned()),
                "userid" | "uid" | "user" => user = Some(v.to_owned()),
                "password" | "pwd" => password = Zeroizing::new(v.to_owned()),
                "trustservercertificate" => trust = parse_bool(v, "TrustServerCertificate")?,
                "encrypt" => encrypt = parse_encrypt(v, "Encrypt")?,
                // Accepted and without effect here (--connect-timeout style knobs live in
                // MssqlOptions).
                "connecttimeout" | "connectiontimeout" | "applicationname" => {}
                other => return Err(err(format!("unknown connection-string key {other:?}"))),
            }
        }
        Self::checked(
            host.ok_or_else(|| err("no Server="))?,
            port,
            database.ok_or_else(|| err("no Database="))?,
            user.ok_or_else(|| err("no User Id= (SQL logins only)"))?,
            password,
            (trust, encrypt),
        )
    }

    fn checked(
        host: String,
        port: u16,
        database: String,
        user: String,
        password: Zeroizing<String>,
        (trust_server_certificate, encrypt): (bool, Encrypt),
    ) -> Result<MssqlTarget, MssqlTargetError> {
        if host.trim().is_empty() {
            return Err(err("the host is empty"));
        }
        if database.trim().is_empty() {
            return Err(err("the database name is empty"));
        }
        if user.trim().is_empty() {
            return Err(err("the user is empty"));
        }
        Ok(MssqlTarget {
            host,
            port,
            database,
            user,
            password,
            trust_server_certificate,
            encrypt,
        })
    }

    /// The password. Never log it.
    pub fn expose_password(&self) -> &str {
        &self.password
    }
}

impl fmt::Display for MssqlTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mssql://{}:***@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

impl fmt::Debug for MssqlTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MssqlTarget({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_form() {
        let t = MssqlTarget::parse(
            "mssql://octo:p%40ss:w0rd@db01:1444/Octopus?trust_server_certificate=true",
        )
        .unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.database.as_str(),
                t.user.as_str()
            ),
            ("db01", 1444, "Octopus", "octo")
        );
        assert_eq!(t.expose_password(), "p@ss:w0rd");
        assert!(t.trust_server_certificate);
        assert_eq!(t.to_string(), "mssql://octo:***@db01:1444/Octopus");
        assert!(!format!("{t:?}").contains("w0rd"));
        let d = MssqlTarget::parse("MSSQL://sa:x@localhost/Octo").unwrap();
        assert_eq!(d.port, DEFAULT_PORT);
        assert_eq!(d.encrypt, Encrypt::Required);
        let o = MssqlTarget::parse("mssql://sa:x@localhost/Octo?encrypt=false").unwrap();
        assert_eq!(o.encrypt, Encrypt::Optional);
        let e = MssqlTarget::parse("mssql://sa:x@h/O?encrypt=maybe").unwrap_err();
        assert!(e.to_string().contains("encrypt"), "{e}");
    }

    #[test]
    fn ado_form() {
        let t = MssqlTarget::parse(
            "Server=tcp:db01,1433;Database=Octopus;User Id=octo;Password=s3cr3t;TrustServerCertificate=true",
        )
        .unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("db01", 1433, "Octopus")
        );
        assert_eq!(t.expose_password(), "s3cr3t");
        assert_eq!(t.encrypt, Encrypt::Required);
        let s = MssqlTarget::parse("Server=h;Database=O;User Id=u;Password=p;Encrypt=strict");
        assert_eq!(s.unwrap().encrypt, Encrypt::Strict);
        let t = MssqlTarget::parse("Data Source=db02;Initial Catalog=O;UID=u;PWD=p").unwrap();
        assert_eq!(
            (t.host.as_str(), t.database.as_str(), t.user.as_str()),
            ("db02", "O", "u")
        );
    }

    #[test]
    fn errors_are_specific_and_never_quote_the_password() {
        for (bad, says) in [
            ("mssql://octo@db01/Octopus", "no password"),
            ("mssql://octo:pw@db01:99999/Octopus", "port"),
            ("mssql://octo:pw@db01", "database"),
            ("Server=db01;User Id=u;Password=hunter2", "Database"),
            ("Server=db01;Database=O;Password=hunter2", "User Id"),
            (
                "Server=db01;Database=O;User Id=u;Password=hunter2;Bogus=1",
                "bogus",
            ),
            ("postgres://x", "neither"),
        ] {
            let e = MssqlTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("hunter2") && !e.contains(":pw@"), "{e}");
        }
    }
}
