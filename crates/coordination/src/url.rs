//! `zk://` URLs as Mesos (`--zk`, `--master`) and Marathon (`--zk`, `--master`) accept them:
//! `zk://[user:pass@]host1[:port],host2[:port],.../path`, the port 2181 unless given, the path
//! required (a ZooKeeper node other than `/`). Credentials mean ZooKeeper `digest` authentication
//! (`user:pass`) and nodes only their creator may change. Mesos also accepts `file:///path` naming
//! a file that holds such a URL ([`ZkUrl::from_flag`]).

use std::fmt;

/// The port of a host given without one.
pub const DEFAULT_PORT: u16 = 2181;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL does not have the expected form; the message says what is wrong.
    #[error(
        "invalid ZooKeeper URL {url:?}: {reason} (expected zk://[user:pass@]host1:port1,host2:port2/path, e.g. zk://127.0.0.1:2181/mesos)"
    )]
    Invalid {
        /// The URL, credentials redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A `file://` URL could not be read.
    #[error("cannot read the ZooKeeper URL from {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// `digest` credentials from the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

impl Credentials {
    /// The `digest` scheme's auth data: `user:password`.
    pub fn digest(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }
}

/// One server of the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Name or address (IPv6 without brackets).
    pub host: String,
    /// Client port.
    pub port: u16,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `zk://` URL. `Display` redacts the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `user:pass@` credentials, if given.
    pub credentials: Option<Credentials>,
    /// The servers, in order.
    pub hosts: Vec<Host>,
    /// The node, e.g. `/mesos`: starts with `/`, no empty, `.` or `..` segments, no trailing `/`.
    pub path: String,
}

impl ZkUrl {
    /// Parses `zk://[user:pass@]host[:port](,host[:port])*/path`.
    pub fn parse(text: &str) -> Result<ZkUrl, UrlError> {
        let invalid = |reason: &str| UrlError::Invalid { url: redact(text), reason: reason.to_owned() };
        let rest = text.strip_prefix("zk://").ok_or_else(|| invalid("it must start with zk://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => return Err(invalid("a path is required (the root node is not supported)")),
        };
        let (credentials, hosts_text) = match authority.split_once('@') {
            Some((userinfo, hosts)) => {
                let (user, password) =
                    userinfo.split_once(':').ok_or_else(|| invalid("credentials must be user:password"))?;
                if user.is_empty() || password.is_empty() {
                    return Err(invalid("credentials must be user:password, both non-empty"));
                }
                (Some(Credentials { user: user.to_owned(), password: password.to_owned() }), hosts)
            }
            None => (None, authority),
        };
        let hosts =
            hosts_text.split(',').map(|h| parse_host(h).map_err(|r| invalid(&r))).collect::<Result<Vec<_>, _>>()?;
        validate_path(path).map_err(|r| invalid(&r))?;
        Ok(ZkUrl { credentials, hosts, path: path.to_owned() })
    }

    /// Parses a flag value: a `zk://` URL, or `file:///path` of a file holding one (as Mesos
    /// accepts for `--zk` and `--master`).
    pub fn from_flag(text: &str) -> Result<ZkUrl, UrlError> {
        match text.strip_prefix("file://") {
            Some(path) => {
                let contents = std::fs::read_to_string(path)
                    .map_err(|err| UrlError::File { path: path.to_owned(), reason: err.to_string() })?;
                ZkUrl::parse(contents.trim())
            }
            None => ZkUrl::parse(text),
        }
    }

    /// The servers as a ZooKeeper connect string: `host1:port1,host2:port2`.
    pub fn connect_string(&self) -> String {
        self.hosts.iter().map(Host::to_string).collect::<Vec<_>>().join(",")
    }

    /// The same servers with `segment` appended to the path (`/marathon` -> `/marathon/state`).
    pub fn join(&self, segment: &str) -> ZkUrl {
        ZkUrl { path: format!("{}/{}", self.path, segment.trim_matches('/')), ..self.clone() }
    }

    /// The URL with its credentials, for passing on (never log it).
    pub fn unredacted(&self) -> String {
        let creds = match &self.credentials {
            Some(c) => format!("{}:{}@", c.user, c.password),
            None => String::new(),
        };
        format!("zk://{creds}{}{}", self.connect_string(), self.path)
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let creds = if self.credentials.is_some() { "xxxxxxxx:xxxxxxxx@" } else { "" };
        write!(f, "zk://{creds}{}{}", self.connect_string(), self.path)
    }
}

impl std::str::FromStr for ZkUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<ZkUrl, UrlError> {
        ZkUrl::parse(s)
    }
}

fn redact(text: &str) -> String {
    match (text.find("://"), text.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}xxxxxxxx:xxxxxxxx{}", &text[..scheme + 3], &text[at..]),
        _ => text.to_owned(),
    }
}

fn parse_host(text: &str) -> Result<Host, String> {
    if text.is_empty() {
        return Err("empty host".to_owned());
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| format!("unclosed [ in host {text:?}"))?;
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(format!("invalid IPv6 address in {text:?}"));
        }
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(|| format!("invalid host {text:?}"))?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if !text.starts_with('[')
        && (host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
    {
        return Err(format!("invalid host {host:?}"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err(format!("invalid port {p:?}")),
        },
    };
    Ok(Host { host: host.to_owned(), port })
}

fn validate_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Err("a path is required (the root node is not supported)".to_owned());
    }
    if path.ends_with('/') {
        return Err(format!("path {path:?} must not end with /"));
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err(format!("path {path:?} has an empty segment"));
        }
        if segment == "." || segment == ".." {
            return Err(format!("path {path:?} has a relative segment"));
        }
        if segment.chars().any(|c| c.is_control()) {
            return Err(format!("path {path:?} has control characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str, port: u16) -> Host {
        Host { host: h.to_owned(), port }
    }

    #[test]
    fn hosts_ports_and_path() {
        let url = ZkUrl::parse("zk://host1:123,host2,host3:312/path").expect("parse");
        assert_eq!(url.hosts, vec![host("host1", 123), host("host2", 2181), host("host3", 312)]);
        assert_eq!(url.path, "/path");
        assert_eq!(url.credentials, None);
        assert_eq!(url.connect_string(), "host1:123,host2:2181,host3:312");
        assert_eq!(url.to_string(), "zk://host1:123,host2:2181,host3:312/path");
        let nested = ZkUrl::parse("zk://10.0.0.1:2181/a/b-c/d_e").expect("parse");
        assert_eq!(nested.path, "/a/b-c/d_e");
        assert_eq!(nested.join("state").path, "/a/b-c/d_e/state");
        assert_eq!(nested.join("/leader-curator").path, "/a/b-c/d_e/leader-curator");
    }

    #[test]
    fn credentials_are_parsed_and_redacted() {
        let url = ZkUrl::parse("zk://user1:pass1@host1:123,host2,host3:312/path").expect("parse");
        let creds = url.credentials.clone().expect("credentials");
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("user1", "pass1"));
        assert_eq!(creds.digest(), b"user1:pass1");
        assert_eq!(url.hosts.len(), 3);
        assert_eq!(url.to_string(), "zk://xxxxxxxx:xxxxxxxx@host1:123,host2:2181,host3:312/path");
        assert!(!format!("{url:?}").contains("pass1"));
        assert_eq!(url.unredacted(), "zk://user1:pass1@host1:123,host2:2181,host3:312/path");
        // A password may hold ':' (not '@').
        let colon = ZkUrl::parse("zk://u:p:w@h/x").expect("parse");
        assert_eq!(colon.credentials.map(|c| c.password), Some("p:w".to_owned()));
        let err = ZkUrl::parse("zk://user:secret@h:0/x").expect_err("port 0").to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn ipv6_hosts() {
        let url = ZkUrl::parse("zk://[::1]:2181,[fe80::1]/mesos").expect("parse");
        assert_eq!(url.hosts, vec![host("::1", 2181), host("fe80::1", 2181)]);
        assert_eq!(url.connect_string(), "[::1]:2181,[fe80::1]:2181");
    }

    #[test]
    fn refused_forms_say_why() {
        for (text, why) in [
            ("http://h:2181/mesos", "zk://"),
            ("zk://h:2181", "path is required"),
            ("zk://h:2181/", "path is required"),
            ("zk://h:2181/mesos/", "end with /"),
            ("zk://h:2181//mesos", "empty segment"),
            ("zk://h:2181/a/../b", "relative"),
            ("zk://h:port/mesos", "invalid port"),
            ("zk://h:70000/mesos", "invalid port"),
            ("zk://h:0/mesos", "invalid port"),
            ("zk://h1,,h2/mesos", "empty host"),
            ("zk:///mesos", "empty host"),
            ("zk://user@h/mesos", "user:password"),
            ("zk://:pass@h/mesos", "non-empty"),
            ("zk://h o/mesos", "invalid host"),
            ("zk://[::1/mesos", "unclosed"),
        ] {
            let err = ZkUrl::parse(text).expect_err(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn file_urls_are_read() {
        let dir = std::env::temp_dir().join(format!("zk-url-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("zk");
        std::fs::write(&file, "zk://a:1,b:2/mesos\n").expect("write");
        let url = ZkUrl::from_flag(&format!("file://{}", file.display())).expect("from file");
        assert_eq!(url.connect_string(), "a:1,b:2");
        assert_eq!(url.path, "/mesos");
        assert!(matches!(ZkUrl::from_flag("file:///nonexistent/zk"), Err(UrlError::File { .. })));
        assert_eq!(ZkUrl::from_flag("zk://a/b").expect("plain").path, "/b");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
