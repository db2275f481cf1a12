//! SQL Server targets as the command line names them, parsed into one type. Two spellings are
//! accepted:
//!
//! - a URL: `mssql://user:password@host:port/database?trust_server_certificate=true&encrypt=true`
//!   (`sqlserver://` too; `host\INSTANCE` or `?instance=` for a named instance);
//! - an ADO.NET connection string, as an Octopus 3.x server's own configuration holds it, with
//!   the spellings SqlClient accepts for what we support: `Server`/`Data Source`/`Address`/
//!   `Addr`/`Network Address` (with `tcp:`, `host,port`, `host\instance`, `(local)`, `.`),
//!   `Database`/`Initial Catalog`, `User ID`/`UID`/`User`, `Password`/`PWD`,
//!   `Integrated Security`/`Trusted_Connection`, `Encrypt`, `TrustServerCertificate`,
//!   `TrustServerCertificateCA`/`trust_cert_ca`, `HostNameInCertificate`,
//!   `Connect Timeout`/`Connection Timeout`/`Timeout`, `Application Name`/`App`; values quoted
//!   with `"` or `'` (the quote doubled inside) or `{}`; keys in any case, spaces ignored.
//!
//! Why not tiberius's own parser (`Config::from_ado_string`): it gives back an opaque `Config`
//! (host, user and password cannot be read back, so nothing could name the target without its
//! password), ignores unknown keys silently, refuses any non-ASCII character (a password with
//! `é`), names `Config::from_ado_string` in its errors, and needs the `mssql` feature while the
//! command line parses targets in every build. The `connection-string` crate it used before keeps
//! a doubled quote doubled (`"p;w=""1x"` would become `p;w=""1x`). So the tokenizer is ours,
//! and the tests check it against tiberius's parser on what both accept (`connect.rs`).
//!
//! Encryption defaults to required (TLS for the whole session), as current SQL Server drivers do.
//!
//! The password is zeroed on drop and never printed: `Display` and `Debug` redact it, no parse
//! error quotes a value, and every message that could meet a target's text goes through
//! [`redact`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// The default SQL Server port.
pub const DEFAULT_PORT: u16 = 1433;

/// A parsed SQL Server target.
#[derive(Clone, PartialEq, Eq)]
pub struct MssqlTarget {
    /// Host name or address (`(local)` and `.` are `localhost`).
    pub host: String,
    /// TCP port (when [`MssqlTarget::instance`] is set, the SQL Server Browser finds it).
    pub port: u16,
    /// A named instance (`host\INSTANCE`) without a port: its port is asked of the SQL Server
    /// Browser on the host (UDP 1434).
    pub instance: Option<String>,
    /// Database name.
    pub database: String,
    /// SQL login (empty with integrated security unless one was given).
    pub user: String,
    password: Zeroizing<String>,
    /// Log in as the running user (Windows authentication, Kerberos), not with a SQL login.
    pub integrated_security: bool,
    /// Accept the server's certificate without validating it.
    pub trust_server_certificate: bool,
    /// A CA certificate file (PEM or DER) to validate the server's certificate with.
    pub trust_cert_ca: Option<PathBuf>,
    /// The name the server's certificate must carry, when not the host's.
    pub host_name_in_certificate: Option<String>,
    /// Whether the session must be encrypted.
    pub encrypt: Encrypt,
    /// `Connect Timeout`: bound on reaching and logging in to the server.
    pub connect_timeout: Option<Duration>,
    /// `Application Name`, as the server's sessions list shows it.
    pub application_name: Option<String>,
}

/// The TLS policy of a SQL Server connection (`encrypt=` in the URL, `Encrypt=` in ADO.NET).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encrypt {
    /// TLS for the whole session; fail if the server does not offer it (`true`, `mandatory`,
    /// the default).
    #[default]
    Required,
    /// TLS only when the server asks for it (`false`, `optional`): for test servers without a
    /// certificate.
    Optional,
    /// TDS 8.0 strict mode: TLS before the first TDS packet (`strict`).
    Strict,
}

fn parse_encrypt(v: &str, what: &str) -> Result<Encrypt, MssqlTargetError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "mandatory" | "required" => Ok(Encrypt::Required),
        "false" | "no" | "0" | "optional" => Ok(Encrypt::Optional),
        "strict" => Ok(Encrypt::Strict),
        _ => Err(err(format!(
            "{what} must be true, false, mandatory, optional or strict"
        ))),
    }
}

/// Why a target string is not a SQL Server target. Never contains the password or any value
/// of the string.
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

/// `Integrated Security` / `Trusted_Connection`: SqlClient's `true`, `yes`, `sspi`.
fn parse_integrated(v: &str, what: &str) -> Result<bool, MssqlTargetError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "sspi" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(err(format!("{what} must be true, false or SSPI"))),
    }
}

fn parse_port(p: &str) -> Result<u16, MssqlTargetError> {
    p.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| err("the port is not a number from 1 to 65535"))
}

fn parse_timeout(v: &str, what: &str) -> Result<Duration, MssqlTargetError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=86_400).contains(s))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            err(format!(
                "{what} must be a number of seconds from 1 to 86400"
            ))
        })
}

/// Where to connect, from a `Server=` value or a URL's host part.
#[derive(Debug, PartialEq, Eq)]
struct Server {
    host: String,
    port: Option<u16>,
    instance: Option<String>,
}

/// `tcp:host`, `host,port`, `host\instance`, `host\instance,port` (the port wins, as in
/// SqlClient), `(local)` and `.` for this machine.
fn parse_server(v: &str) -> Result<Server, MssqlTargetError> {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    let v = if lower.starts_with("tcp:") {
        &v[4..]
    } else if ["np:", "lpc:", "admin:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(err(
            "only TCP connections are supported (not named pipes, shared memory or the \
             admin connection): name the server as tcp:host,port",
        ));
    } else {
        v
    };
    if v.to_ascii_lowercase().starts_with("(localdb)") {
        return Err(err(
            "LocalDB is not reachable over TCP: use a SQL Server instance with TCP/IP enabled",
        ));
    }
    let (hostinst, port) = match v.rsplit_once(',') {
        Some((h, p)) => (h.trim(), Some(parse_port(p)?)),
        None => (v, None),
    };
    let (host, instance) = match hostinst.split_once('\\') {
        Some((h, i)) if !i.trim().is_empty() => (h.trim(), Some(i.trim().to_owned())),
        Some(_) => return Err(err("the instance name after \\ is empty")),
        None => (hostinst, None),
    };
    let host = if host.eq_ignore_ascii_case("(local)") || host == "." {
        "localhost"
    } else {
        host
    };
    if host.is_empty() {
        return Err(err("the host is empty"));
    }
    Ok(Server {
        host: host.to_owned(),
        // A port given says where the instance listens: no need to ask the browser.
        instance: if port.is_some() { None } else { instance },
        port,
    })
}

/// One `key=value` pair of a connection string: the key as written (trimmed) and the value
/// unquoted, with whether it was quoted.
struct Pair {
    key: String,
    value: Zeroizing<String>,
    quoted: bool,
}

/// ADO.NET's connection-string syntax (`DbConnectionStringBuilder`): pairs separated by `;`
/// (empty ones ignored); the key runs to the first `=` (`==` is a literal `=` in a key),
/// trimmed; a value is trimmed unless quoted with `"` or `'` (the quote doubled inside stands
/// for itself) or, as ODBC writes it, `{}` (`}}` inside stands for `}`). Errors name keys only.
fn tokenize(s: &str) -> Result<Vec<Pair>, MssqlTargetError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut pairs: Vec<Pair> = Vec::new();
    loop {
        while i < chars.len() && (chars[i] == ';' || chars[i].is_whitespace()) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        match next_pair(&chars, &mut i) {
            Ok(p) => pairs.push(p),
            // Right after an unquoted password, what does not parse is most likely the rest
            // of the password: say how to quote it, and name nothing of it.
            Err(_)
                if pairs
                    .last()
                    .is_some_and(|p| is_password_key(&p.key) && !p.quoted) =>
            {
                return Err(err(unquoted_password_advice()))
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(pairs)
}

/// The pair starting at `*i` (not at a separator); `*i` ends after it.
fn next_pair(chars: &[char], i: &mut usize) -> Result<Pair, String> {
    let n = chars.len();
    let mut key = String::new();
    loop {
        if *i >= n || chars[*i] == ';' {
            // No `=`: this text is not a pair (it may be a piece of a password).
            return Err("a part of the connection string has no = (each part is Key=Value)".into());
        }
        if chars[*i] == '=' {
            if chars.get(*i + 1) == Some(&'=') {
                key.push('=');
                *i += 2;
                continue;
            }
            *i += 1;
            break;
        }
        key.push(chars[*i]);
        *i += 1;
    }
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err("a part of the connection string has no key before =".into());
    }
    let shown = key_for_message(&key);
    while *i < n && chars[*i].is_whitespace() {
        *i += 1;
    }
    let mut value = Zeroizing::new(String::new());
    let quoted = *i < n && matches!(chars[*i], '"' | '\'' | '{');
    if quoted {
        let (open, close) = match chars[*i] {
            '{' => ('{', '}'),
            q => (q, q),
        };
        *i += 1;
        loop {
            if *i >= n {
                return Err(format!(
                    "the value of {shown} opens a quote ({open}) that is never closed"
                ));
            }
            if chars[*i] == close {
                if chars.get(*i + 1) == Some(&close) {
                    value.push(close);
                    *i += 2;
                    continue;
                }
                *i += 1;
                break;
            }
            value.push(chars[*i]);
            *i += 1;
        }
        while *i < n && chars[*i].is_whitespace() {
            *i += 1;
        }
        if *i < n && chars[*i] != ';' {
            return Err(format!(
                "the quoted value of {shown} is followed by more text before the next ; \
                 (inside a quoted value, write the quote twice)"
            ));
        }
    } else {
        while *i < n && chars[*i] != ';' {
            value.push(chars[*i]);
            *i += 1;
        }
        let trimmed = value.trim().to_owned();
        value = Zeroizing::new(trimmed);
    }
    Ok(Pair { key, value, quoted })
}

/// A key as compared: lower case, without spaces and underscores (`User ID`, `UserID`,
/// `Trusted_Connection`).
fn normalize_key(k: &str) -> String {
    k.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_password_key(k: &str) -> bool {
    matches!(normalize_key(k).as_str(), "password" | "pwd")
}

fn unquoted_password_advice() -> String {
    "the text after the password is not a Key=Value pair of a SQL Server connection string; \
     if the password contains ; quote it: Password=\"...\" (a \" inside written twice)"
        .to_owned()
}

/// Keys of SqlClient's connection strings that change nothing here (pooling and session
/// knobs): accepted so that an Octopus server's own connection string can be pasted as it is.
const IGNORED_KEYS: &[&str] = &[
    "persistsecurityinfo",
    "persistsensitiveinfo",
    "multipleactiveresultsets",
    "pooling",
    "maxpoolsize",
    "minpoolsize",
    "connectionlifetime",
    "loadbalancetimeout",
    "enlist",
    "workstationid",
    "wsid",
    "packetsize",
    "connectretrycount",
    "connectretryinterval",
    "multisubnetfailover",
    "currentlanguage",
    "language",
];

/// What parsing collects before it is checked.
#[derive(Default)]
struct Parts {
    server: Option<Server>,
    database: Option<String>,
    user: Option<String>,
    password: Zeroizing<String>,
    integrated: bool,
    trust: bool,
    ca: Option<PathBuf>,
    host_name_in_certificate: Option<String>,
    encrypt: Encrypt,
    timeout: Option<Duration>,
    app: Option<String>,
}

impl MssqlTarget {
    /// Parses either spelling.
    pub fn parse(s: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        for scheme in ["mssql://", "sqlserver://"] {
            if lower.starts_with(scheme) {
                return Self::parse_url(&t[scheme.len()..]);
            }
        }
        if t.contains('=') {
            Self::parse_ado(t)
        } else {
            Err(err("neither an mssql:// URL nor a connection string"))
        }
    }

    fn parse_url(rest: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut p = Parts::default();
        // The password may hold an unescaped @: the host follows the last one.
        let hostpath = match main.rsplit_once('@') {
            Some((auth, hostpath)) => {
                match auth.split_once(':') {
                    Some((u, pw)) => {
                        p.user = Some(percent_decode(u)?);
                        p.password = Zeroizing::new(percent_decode(pw)?);
                    }
                    None => p.user = Some(percent_decode(auth)?),
                }
                hostpath
            }
            None => main,
        };
        let (hostport, database) = hostpath
            .split_once('/')
            .ok_or_else(|| err("the URL names no database (host:port/database)"))?;
        let hostport = percent_decode(hostport)?;
        // host:port or host\instance (the URL's own port syntax; `,port` is ADO.NET's).
        let server = match hostport.rsplit_once(':') {
            Some((h, port)) if !h.contains(']') || h.ends_with(']') => {
                let mut s = parse_server(h)?;
                s.port = Some(parse_port(port)?);
                s.instance = None;
                s
            }
            _ => parse_server(&hostport)?,
        };
        p.server = Some(server);
        p.database = Some(percent_decode(database)?);
        let mut instance = None;
        for kv in query.split('&').filter(|x| !x.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            let v = percent_decode(v)?;
            match normalize_key(k).as_str() {
                "trustservercertificate" => p.trust = parse_bool(&v, "trust_server_certificate")?,
                "trustcertca" | "trustservercertificateca" => p.ca = Some(PathBuf::from(v)),
                "hostnameincertificate" => p.host_name_in_certificate = Some(v),
                "encrypt" => p.encrypt = parse_encrypt(&v, "encrypt")?,
                "instance" | "instancename" => instance = Some(v),
                "integratedsecurity" | "trustedconnection" => {
                    p.integrated = parse_integrated(&v, "integrated_security")?
                }
                "connecttimeout" | "connectiontimeout" | "timeout" => {
                    p.timeout = Some(parse_timeout(&v, "connect_timeout")?)
                }
                "applicationname" | "app" => p.app = Some(v),
                "password" | "pwd" | "user" | "userid" | "uid" => {
                    return Err(err(
                        "give the user and password before the host (user:password@host), \
                         not as URL options",
                    ))
                }
                _ => return Err(err(format!("unknown URL option {:?}", key_for_message(k)))),
            }
        }
        if let (Some(i), Some(s)) = (instance, p.server.as_mut()) {
            if s.port.is_none() {
                s.instance = Some(i);
            }
        }
        Self::checked(p)
    }

    fn parse_ado(s: &str) -> Result<MssqlTarget, MssqlTargetError> {
        let mut p = Parts::default();
        let mut after_password = false;
        for Pair { key, value, quoted } in tokenize(s)? {
            let v = value.trim();
            let k = normalize_key(&key);
            match k.as_str() {
                "server" | "datasource" | "address" | "addr" | "networkaddress" => {
                    p.server = Some(parse_server(v)?)
                }
                "database" | "initialcatalog" => p.database = Some(v.to_owned()),
                "userid" | "uid" | "user" | "username" => p.user = Some(v.to_owned()),
                // A quoted password keeps its spaces.
                "password" | "pwd" => {
                    p.password = if quoted {
                        value
                    } else {
                        Zeroizing::new(v.to_owned())
                    };
                    after_password = !quoted;
                    continue;
                }
                "integratedsecurity" | "trustedconnection" => {
                    p.integrated = parse_integrated(v, &key)?
                }
                "trustservercertificate" => p.trust = parse_bool(v, "TrustServerCertificate")?,
                "trustservercertificateca" | "trustcertca" => p.ca = Some(PathBuf::from(v)),
                "hostnameincertificate" => p.host_name_in_certificate = Some(v.to_owned()),
                "encrypt" => p.encrypt = parse_encrypt(v, "Encrypt")?,
                "connecttimeout" | "connectiontimeout" | "timeout" => {
                    p.timeout = Some(parse_timeout(v, &key)?)
                }
                "applicationname" | "app" => p.app = Some(v.to_owned()),
                "authentication" => {
                    return Err(err(
                        "Authentication= (Azure AD) is not supported: use SQL authentication \
                         (User ID and Password) or Integrated Security",
                    ))
                }
                "applicationintent" if !v.eq_ignore_ascii_case("readwrite") => {
                    return Err(err(
                        "ApplicationIntent=ReadOnly cannot be migrated into: leave it out",
                    ))
                }
                "applicationintent" => {}
                "attachdbfilename" | "initialfilename" | "extendedproperties" => {
                    return Err(err(format!(
                        "{} is not supported: name the database with Database=",
                        key_for_message(&key)
                    )))
                }
                k if IGNORED_KEYS.contains(&k) => {}
                _ if after_password => return Err(err(unquoted_password_advice())),
                _ => {
                    return Err(err(format!(
                        "unknown connection-string key {:?}",
                        key_for_message(&key)
                    )))
                }
            }
            after_password = false;
        }
        Self::checked(p)
    }

    fn checked(p: Parts) -> Result<MssqlTarget, MssqlTargetError> {
        let server = p
            .server
            .ok_or_else(|| err("no Server= (or Data Source=)"))?;
        let database = p
            .database
            .ok_or_else(|| err("no Database= (or Initial Catalog=)"))?;
        if database.trim().is_empty() {
            return Err(err("the database name is empty"));
        }
        let user = p.user.unwrap_or_default();
        if !p.integrated && user.trim().is_empty() {
            return Err(err(
                "no User Id= (a SQL login; or Integrated Security=true to log in as the \
                 running user)",
            ));
        }
        if p.trust && p.ca.is_some() {
            return Err(err(
                "TrustServerCertificate=true and a CA file exclude each other: give one",
            ));
        }
        Ok(MssqlTarget {
            host: server.host,
            port: server.port.unwrap_or(DEFAULT_PORT),
            instance: server.instance,
            database,
            // Integrated security ignores a password given with it, as SqlClient does; a
            // user name stays (Windows authentication may use it as the account).
            password: if p.integrated {
                Zeroizing::new(String::new())
            } else {
                p.password
            },
            user,
            integrated_security: p.integrated,
            trust_server_certificate: p.trust,
            trust_cert_ca: p.ca,
            host_name_in_certificate: p.host_name_in_certificate,
            encrypt: p.encrypt,
            connect_timeout: p.timeout,
            application_name: p.app,
        })
    }

    /// The password. Never log it.
    pub fn expose_password(&self) -> &str {
        &self.password
    }

    /// Replaces the password (from `--target-password-file` or the environment).
    pub fn set_password(&mut self, password: &str) {
        self.password = Zeroizing::new(password.to_owned());
    }

    /// `host:port`, or `host\INSTANCE` for a named instance whose port the browser gives.
    pub fn address(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}\\{i}", self.host),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// `message` without this target's password (see [`redact`]).
    pub fn redact(&self, message: &str) -> String {
        redact(message, &[self.expose_password()])
    }
}

/// A key as an error names it: keys are not secret, but a key is at most a few words; anything
/// longer or odd is more likely a piece of a value, and is not shown.
fn key_for_message(k: &str) -> String {
    let k = k.trim();
    if k.len() <= 40
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-.=".contains(c))
    {
        k.to_owned()
    } else {
        "(not shown)".to_owned()
    }
}

impl fmt::Display for MssqlTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.integrated_security {
            write!(
                f,
                "mssql://{}/{} (integrated security)",
                self.address(),
                self.database
            )
        } else {
            write!(
                f,
                "mssql://{}:***@{}/{}",
                self.user,
                self.address(),
                self.database
            )
        }
    }
}

impl fmt::Debug for MssqlTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MssqlTarget({self})")
    }
}

/// The secrets a target's text may hold, found however the text is mistyped: the password of a
/// URL (between the first `:` after the scheme and the last `@`; the whole user part when it
/// has no `:`), and the value of every `Password`/`PWD` key (quoted or not, up to the next pair
/// whose key is one we know, so a password with an unquoted `;` is caught whole too).
pub fn secrets_of(text: &str) -> Vec<Zeroizing<String>> {
    let mut out: Vec<Zeroizing<String>> = Vec::new();
    let mut add = |s: &str| {
        let s = s.trim();
        if !s.is_empty() {
            out.push(Zeroizing::new(s.to_owned()));
            if let Ok(d) = percent_decode(s) {
                out.push(Zeroizing::new(d));
            }
            // The same text unquoted, as a parser would give it.
            let inner = s
                .strip_prefix(['"', '\'', '{'])
                .map(|x| x.strip_suffix(['"', '\'', '}']).unwrap_or(x));
            if let Some(inner) = inner {
                out.push(Zeroizing::new(inner.to_owned()));
                out.push(Zeroizing::new(
                    inner.replace("\"\"", "\"").replace("''", "'"),
                ));
            }
        }
    };
    // A URL's user information.
    if let Some(at) = text.rfind('@') {
        let head = &text[..at];
        let start = url_scheme_len(head);
        let userinfo = head[start..].trim_start_matches(['/', '\\']);
        match userinfo.split_once(':') {
            Some((_, pw)) => add(pw),
            None => add(userinfo),
        }
    }
    // Password= / PWD= anywhere (a URL's query or an ADO.NET string), however spaced.
    let lower: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let chars: Vec<char> = text.chars().collect();
    if lower.len() == chars.len() {
        let mut i = 0;
        while i < chars.len() {
            if let Some(vstart) = password_key_at(&lower, i) {
                let end = secret_end(&chars, &lower, vstart);
                let v: String = chars[vstart..end].iter().collect();
                add(&v);
                // Its first piece alone too (a parser may have stopped at the first `;`).
                if let Some((first, _)) = v.split_once([';', '&']) {
                    add(first);
                }
                i = end.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// The length of `scheme:` at the start of `s`, or 0.
fn url_scheme_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b"+.-".contains(&b[i])) {
        i += 1;
    }
    if i > 0 && b.get(i) == Some(&b':') {
        i + 1
    } else {
        0
    }
}

/// If a `password` or `pwd` key (spaces and `_` allowed) starts at `i` after a separator and
/// is followed by `=`, where its value starts.
fn password_key_at(lower: &[char], i: usize) -> Option<usize> {
    if i > 0 && !matches!(lower[i - 1], ';' | '&' | '?' | ' ' | '\t' | '"' | '\'') {
        return None;
    }
    for key in ["password", "pwd"] {
        let mut j = i;
        let mut matched = 0;
        let k: Vec<char> = key.chars().collect();
        while j < lower.len() && matched < k.len() {
            if lower[j] == k[matched] {
                matched += 1;
            } else if !(lower[j].is_whitespace() || lower[j] == '_') || matched == 0 {
                break;
            }
            j += 1;
        }
        if matched < k.len() {
            continue;
        }
        while j < lower.len() && lower[j].is_whitespace() {
            j += 1;
        }
        if lower.get(j) == Some(&'=') {
            j += 1;
            while j < lower.len() && lower[j].is_whitespace() {
                j += 1;
            }
            return Some(j);
        }
    }
    None
}

/// Where a password value starting at `v` ends: its closing quote (doubled quotes inside), or
/// the end of the text if unclosed; unquoted, the first `;` or `&` followed by a key we know
/// (so a password with an unquoted `;` is taken whole), or the end.
fn secret_end(chars: &[char], lower: &[char], v: usize) -> usize {
    let n = chars.len();
    if let Some(&q) = chars.get(v).filter(|c| matches!(c, '"' | '\'' | '{')) {
        let close = if q == '{' { '}' } else { q };
        let mut i = v + 1;
        while i < n {
            if chars[i] == close {
                if chars.get(i + 1) == Some(&close) {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i += 1;
        }
        return n;
    }
    let mut i = v;
    while i < n {
        if matches!(chars[i], ';' | '&') && known_key_at(lower, i + 1) {
            return i;
        }
        i += 1;
    }
    n
}

/// Whether a key we recognize (followed by `=`) starts at `i`, spaces before it allowed.
fn known_key_at(lower: &[char], mut i: usize) -> bool {
    while i < lower.len() && lower[i].is_whitespace() {
        i += 1;
    }
    let mut key = String::new();
    while i < lower.len() && lower[i] != '=' && lower[i] != ';' {
        key.push(lower[i]);
        i += 1;
    }
    if lower.get(i) != Some(&'=') {
        return false;
    }
    let k = normalize_key(&key);
    const KNOWN: &[&str] = &[
        "server",
        "datasource",
        "address",
        "addr",
        "networkaddress",
        "database",
        "initialcatalog",
        "userid",
        "uid",
        "user",
        "username",
        "password",
        "pwd",
        "integratedsecurity",
        "trustedconnection",
        "trustservercertificate",
        "trustservercertificateca",
        "trustcertca",
        "hostnameincertificate",
        "encrypt",
        "connecttimeout",
        "connectiontimeout",
        "timeout",
        "applicationname",
        "app",
        "instance",
        "applicationintent",
    ];
    KNOWN.contains(&k.as_str()) || IGNORED_KEYS.contains(&k.as_str())
}

/// `message` with every secret replaced by `***`: the one redaction every error path that may
/// meet a target's text uses (the parser, the command line, the SQL Server sink). `secrets`
/// are passwords, or the target texts themselves, whose secrets [`secrets_of`] finds; both may
/// be given. Secrets of one or two characters are replaced only where they stand alone between
/// non-alphanumeric characters, so that a message stays readable.
pub fn redact(message: &str, secrets: &[&str]) -> String {
    let mut found: Vec<Zeroizing<String>> = Vec::new();
    for s in secrets {
        if s.is_empty() {
            continue;
        }
        found.push(Zeroizing::new((*s).to_owned()));
        found.extend(secrets_of(s));
    }
    // Each also as `{:?}` writes it inside a quoted string (`\` and `"` escaped), in case a
    // message quotes a target that way.
    let mut all: Vec<Zeroizing<String>> = Vec::new();
    for s in found {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        if escaped != *s {
            all.push(Zeroizing::new(escaped));
        }
        all.push(s);
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = message.to_owned();
    for s in &all {
        let s = s.as_str();
        if s.chars().count() >= 3 {
            if out.contains(s) {
                out = out.replace(s, "***");
            }
        } else if !s.is_empty() {
            out = replace_standalone(&out, s);
        }
    }
    out
}

/// Replaces `s` where it is not part of a longer word.
fn replace_standalone(text: &str, s: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(s) {
        let before = rest[..pos].chars().next_back();
        let after = rest[pos + s.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..pos]);
        if word(before) || word(after) {
            out.push_str(s);
        } else {
            out.push_str("***");
        }
        rest = &rest[pos + s.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MssqlTarget {
        MssqlTarget::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ado(extra: &str) -> MssqlTarget {
        p(&format!("Server=h;Database=O;User Id=u;Password=p;{extra}"))
    }

    #[test]
    fn url_form() {
        let t = p("mssql://octo:p%40ss:w0rd@db01:1444/Octopus?trust_server_certificate=true");
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
        let d = p("MSSQL://sa:x@localhost/Octo");
        assert_eq!(d.port, DEFAULT_PORT);
        assert_eq!(d.encrypt, Encrypt::Required);
        let o = p("mssql://sa:x@localhost/Octo?encrypt=false");
        assert_eq!(o.encrypt, Encrypt::Optional);
        let e = MssqlTarget::parse("mssql://sa:x@h/O?encrypt=maybe").unwrap_err();
        assert!(e.to_string().contains("encrypt"), "{e}");
        // sqlserver:// is the same; an unescaped @ in the password: the host follows the last.
        let s = p("sqlserver://sa:a@b@h:1500/O");
        assert_eq!((s.host.as_str(), s.port), ("h", 1500));
        assert_eq!(s.expose_password(), "a@b");
    }

    #[test]
    fn url_options() {
        let t = p("mssql://u:p@db01/O?trust_cert_ca=/etc/ca.pem&connect_timeout=5&application_name=mig&hostname_in_certificate=sql.corp");
        assert_eq!(t.trust_cert_ca, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(t.application_name.as_deref(), Some("mig"));
        assert_eq!(t.host_name_in_certificate.as_deref(), Some("sql.corp"));
        let i = p("mssql://u:p@db01%5CSQLEXPRESS/O");
        assert_eq!(
            (i.host.as_str(), i.instance.as_deref()),
            ("db01", Some("SQLEXPRESS"))
        );
        assert_eq!(i.to_string(), "mssql://u:***@db01\\SQLEXPRESS/O");
        let q = p("mssql://u:p@db01/O?instance=SQLEXPRESS");
        assert_eq!(q.instance.as_deref(), Some("SQLEXPRESS"));
        // Without a password (given on its own: --target-password-file).
        let n = p("mssql://octo@db01:1433/Octopus");
        assert_eq!((n.user.as_str(), n.expose_password()), ("octo", ""));
        let w = p("mssql://db01/O?integrated_security=true");
        assert!(w.integrated_security);
        assert_eq!(w.to_string(), "mssql://db01:1433/O (integrated security)");
        let e = MssqlTarget::parse("mssql://u:p@h/O?colour=blue").unwrap_err();
        assert!(e.to_string().contains("\"colour\""), "{e}");
        assert!(!e.to_string().contains("blue"), "{e}");
    }

    #[test]
    fn ado_server_spellings() {
        for (key, value, host, port, instance) in [
            ("Server", "db01", "db01", 1433, None),
            ("Data Source", "db01", "db01", 1433, None),
            ("Address", "db01", "db01", 1433, None),
            ("Addr", "db01", "db01", 1433, None),
            ("Network Address", "db01", "db01", 1433, None),
            ("server", "tcp:db01,1444", "db01", 1444, None),
            ("Data Source", "tcp:db01,1433", "db01", 1433, None),
            ("SERVER", "TCP:db01", "db01", 1433, None),
            ("Server", "db01 , 1500", "db01", 1500, None),
            (
                "Server",
                "db01\\SQLEXPRESS",
                "db01",
                1433,
                Some("SQLEXPRESS"),
            ),
            ("Server", "tcp:db01\\SQLEXPRESS,1500", "db01", 1500, None),
            ("Server", "(local)", "localhost", 1433, None),
            (
                "Server",
                "(local)\\SQLEXPRESS",
                "localhost",
                1433,
                Some("SQLEXPRESS"),
            ),
            ("Data Source", ".", "localhost", 1433, None),
            (
                "Data Source",
                ".\\SQLEXPRESS",
                "localhost",
                1433,
                Some("SQLEXPRESS"),
            ),
            ("Server", "10.0.0.5,1433", "10.0.0.5", 1433, None),
        ] {
            let t = p(&format!("{key}={value};Database=O;User Id=u;Password=p"));
            assert_eq!(
                (t.host.as_str(), t.port, t.instance.as_deref()),
                (host, port, instance),
                "{key}={value}"
            );
        }
        for bad in [
            "np:\\\\db01\\pipe\\sql\\query",
            "(localdb)\\MSSQLLocalDB",
            "db01,99999",
            "db01\\",
        ] {
            let e = MssqlTarget::parse(&format!("Server={bad};Database=O;User Id=u;Password=p"));
            assert!(e.is_err(), "{bad}");
        }
    }

    #[test]
    fn ado_database_user_password_spellings() {
        for db in ["Database", "Initial Catalog", "initial catalog", "DATABASE"] {
            assert_eq!(
                p(&format!("Server=h;{db}=Octo;User Id=u;Password=p")).database,
                "Octo"
            );
        }
        for user in [
            "User ID",
            "User Id",
            "UID",
            "uid",
            "User",
            "UserID",
            "User Name",
        ] {
            assert_eq!(
                p(&format!("Server=h;Database=O;{user}=octo;Password=p")).user,
                "octo"
            );
        }
        for pw in ["Password", "PWD", "pwd", "PassWord"] {
            let t = p(&format!("Server=h;Database=O;User Id=u;{pw}=s3cr3t"));
            assert_eq!(t.expose_password(), "s3cr3t", "{pw}");
        }
    }

    #[test]
    fn ado_quoting() {
        for (written, password) in [
            // The issue's password: as ADO.NET quotes a value holding ; and ".
            (r#""p;w=""1x""#, r#"p;w="1x"#),
            ("'p;w=''1x'", "p;w='1x"),
            ("\"it's\"", "it's"),
            ("'say \"hi\"'", "say \"hi\""),
            ("{p;w=1x}", "p;w=1x"),
            ("{a}}b}", "a}b"),
            ("\"  spaced  \"", "  spaced  "),
            ("  plain  ", "plain"),
            ("a=b==c", "a=b==c"),
            ("pässwörd", "pässwörd"),
            ("\"\"", ""),
        ] {
            let t = p(&format!(
                "Server=h;Database=O;User Id=u;Password={written};Encrypt=false"
            ));
            assert_eq!(t.expose_password(), password, "{written}");
            assert_eq!(t.encrypt, Encrypt::Optional, "{written}");
        }
        // Keys: any case, trimmed, `==` is a literal `=` in a key (and so not one of ours).
        let t = p("  sErVeR = h ;  database=O;uSeR iD =u;Password=p;;");
        assert_eq!((t.host.as_str(), t.user.as_str()), ("h", "u"));
        let e = MssqlTarget::parse("Server=h;a==b=1;Database=O;User Id=u;Password=p").unwrap_err();
        assert!(e.to_string().contains("\"a=b\""), "{e}");
        // Last one wins, as in ADO.NET.
        assert_eq!(
            p("Server=a;Server=b;Database=O;User Id=u;Password=p").host,
            "b"
        );
    }

    #[test]
    fn ado_security_and_options() {
        for v in ["True", "SSPI", "yes", "true", "sspi"] {
            for k in [
                "Integrated Security",
                "Trusted_Connection",
                "IntegratedSecurity",
            ] {
                let t = p(&format!("Server=h;Database=O;{k}={v}"));
                assert!(t.integrated_security, "{k}={v}");
                assert_eq!(t.expose_password(), "");
            }
        }
        assert!(!ado("Integrated Security=False").integrated_security);
        for (v, e) in [
            ("True", Encrypt::Required),
            ("yes", Encrypt::Required),
            ("Mandatory", Encrypt::Required),
            ("False", Encrypt::Optional),
            ("no", Encrypt::Optional),
            ("Optional", Encrypt::Optional),
            ("Strict", Encrypt::Strict),
        ] {
            assert_eq!(ado(&format!("Encrypt={v}")).encrypt, e, "{v}");
        }
        assert!(ado("TrustServerCertificate=True").trust_server_certificate);
        assert!(ado("Trust Server Certificate=yes").trust_server_certificate);
        assert!(!ado("TrustServerCertificate=false").trust_server_certificate);
        assert_eq!(
            ado("TrustServerCertificateCA=C:\\ca.crt").trust_cert_ca,
            Some(PathBuf::from("C:\\ca.crt"))
        );
        assert_eq!(
            ado("trust_cert_ca=/etc/ca.pem").trust_cert_ca,
            Some(PathBuf::from("/etc/ca.pem"))
        );
        for k in ["Connect Timeout", "Connection Timeout", "Timeout"] {
            assert_eq!(
                ado(&format!("{k}=7")).connect_timeout,
                Some(Duration::from_secs(7))
            );
        }
        for k in ["Application Name", "App"] {
            assert_eq!(
                ado(&format!("{k}=Octo Mig")).application_name.as_deref(),
                Some("Octo Mig")
            );
        }
        // Pooling knobs of an Octopus server's own string are accepted and change nothing.
        let t = ado("MultipleActiveResultSets=True;Max Pool Size=100;Persist Security Info=False");
        assert_eq!(t, ado(""));
        for bad in [
            "Encrypt=maybe",
            "TrustServerCertificate=perhaps",
            "Connect Timeout=0",
            "Connect Timeout=soon",
            "Integrated Security=sometimes",
            "Authentication=ActiveDirectoryPassword",
            "ApplicationIntent=ReadOnly",
            "TrustServerCertificate=true;trust_cert_ca=/ca.pem",
        ] {
            assert!(
                MssqlTarget::parse(&format!("Server=h;Database=O;User Id=u;Password=p;{bad}"))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_are_specific_and_never_quote_a_value() {
        for (bad, says) in [
            ("mssql://octo:pw@db01:99999/Octopus", "port"),
            ("mssql://octo:pw@db01", "database"),
            ("Server=db01;User Id=u;Password=hunter2", "Database"),
            ("Server=db01;Database=O;Password=hunter2", "User Id"),
            (
                "Server=db01;Bogus=1;Database=O;User Id=u;Password=hunter2",
                "\"Bogus\"",
            ),
            // Right after an unquoted password, an unknown key may be a piece of it.
            (
                "Server=db01;Database=O;User Id=u;Password=hunter2;Bogus=1",
                "quote it",
            ),
            (
                "Server=db01;Database=O;User Id=u;Password=\"hunter2;Bogus=1",
                "never closed",
            ),
            (
                "Server=db01;Database=O;User Id=u;Password=\"hunter2\"x;Bogus=1",
                "followed by more text",
            ),
            ("postgres://x", "neither"),
            // The issue's password unquoted: the piece after ; is not named.
            (
                "Server=h;Database=O;User Id=u;Password=p;w=\"\"1x\"",
                "quote it",
            ),
            (
                "Server=h;Database=O;User Id=u;Password=hunter2;2;x",
                "quote it",
            ),
        ] {
            let e = MssqlTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(
                !e.contains("hunter2") && !e.contains(":pw@") && !e.contains("1x"),
                "{e}"
            );
            assert!(!e.contains("\"w\""), "{e}");
        }
    }

    const SECRET: &str = "S3cretPW";

    /// Targets as people mistype them, each holding SECRET: redact finds it in every one.
    fn hostile_targets() -> Vec<String> {
        [
            "sqlserver://u:S3cretPW@h/db",
            "mssql:/u:S3cretPW@h/db",
            "mssql:u:S3cretPW@h/db",
            "postgres://u:S3cretPW@h/db",
            "mssql://u:S3cretPW@h",
            "mssql://u:S3cretPW@",
            "mssql://S3cretPW@h/db",
            "Password=S3cretPW;Server =h;Database=d",
            "Password =S3cretPW;Server =h;...",
            "PWD=S3cretPW",
            "pwd = 'S3cretPW'",
            "Server=h;Password=\"S3cretPW",
            "Server=h;Password=\"S3cretPW\"x;Database=d",
            "Server=h;Password={S3cretPW",
            "Server=h;Password=S3cretPW;w=1;Database=d",
            "Server=h;Password=p;S3cretPW",
            "Server=h;Password=p;w=S3cretPW;Database=d",
            "Server=h;Pass word=S3cretPW",
            "Server=h;Database=d;User=u;Password=S3cretPW;Bogus=1",
            "mssql://u:S3cretPW@h/db?password=S3cretPW",
            "mssql://u:S3cretPW@h:notaport/db",
            "mssql://u:S3cret%50W@h/db",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn redact_removes_the_password_of_every_mistyped_target() {
        for t in hostile_targets() {
            // Whatever a message quotes of the target, the secret does not survive.
            let msg = format!("cannot use {t:?}: bad; also {t}");
            let r = redact(&msg, &[&t]);
            assert!(!r.contains(SECRET), "{t} -> {r}");
            assert!(!r.contains("S3cret%50W"), "{t} -> {r}");
            // And the parser's own error never holds it.
            if let Err(e) = MssqlTarget::parse(&t) {
                assert!(!e.to_string().contains(SECRET), "{t}: {e}");
            }
        }
        // The issue's quoted password, whole and in its pieces.
        let t = r#"Server=h;Database=d;User Id=u;Password="p;w=""1x""#;
        let r = redact(&format!("{t} / p;w=\"1x / p;w=\"\"1x"), &[t]);
        assert!(!r.contains("1x"), "{r}");
        // Short passwords are replaced where they stand alone, not inside words.
        assert_eq!(redact("user p, login p", &["p"]), "user ***, login ***");
        assert_eq!(redact("pass", &["p"]), "pass");
    }

    proptest::proptest! {
        /// However the password is spelled and wherever it sits in the target, neither the
        /// parser's error nor a message redacted with the target's text holds it.
        #[test]
        fn no_message_holds_the_password(
            pw in "[A-Za-z0-9!#$%^*()_+=\\-\\[\\]{}|:,.<>?~ ;\"'@/\\\\]{4,24}",
            form in 0usize..6,
        ) {
            let t = match form {
                0 => format!("mssql://u:{pw}@h/db"),
                1 => format!("Server=h;Database=d;User Id=u;Password={pw}"),
                2 => format!("Server=h;Database=d;User Id=u;Password=\"{}\"", pw.replace('"', "\"\"")),
                3 => format!("Password={pw};Server =h;Database=d"),
                4 => format!("sqlserver:/u:{pw}@h/db"),
                _ => format!("Server=h;Password='{pw}"),
            };
            let pw_trimmed = pw.trim();
            proptest::prop_assume!(pw_trimmed.chars().count() >= 4);
            let msg = format!("error with {t} and {t:?}");
            let r = redact(&msg, &[&t]);
            proptest::prop_assert!(!r.contains(pw_trimmed), "{} -> {}", t, r);
            if let Err(e) = MssqlTarget::parse(&t) {
                let e = e.to_string();
                proptest::prop_assert!(!e.contains(pw_trimmed), "{} -> {}", t, e);
            }
            if let Ok(parsed) = MssqlTarget::parse(&t) {
                let shown = format!("{parsed} {parsed:?}");
                let p = parsed.expose_password();
                if p.chars().count() >= 3 {
                    proptest::prop_assert!(!shown.contains(p), "{}", shown);
                }
            }
        }
    }
}
