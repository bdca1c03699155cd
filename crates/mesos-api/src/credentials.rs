//! Credentials: Mesos' credentials files (the master's `--credentials`, an agent's
//! `--credential`) and HTTP basic authentication (`Authorization: Basic base64(principal:secret)`,
//! what pymesos and the other HTTP clients send).
//!
//! A credentials file is JSON, `{"credentials": [{"principal": "p", "secret": "s"}, ...]}`
//! (a single credential: `{"principal": "p", "secret": "s"}`), or, as upstream still accepts,
//! plain text with one `principal secret` pair per line.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// One principal and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub principal: String,
    #[serde(default)]
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    /// Never shows the secret (credentials end up in logged flags).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("principal", &self.principal).field("secret", &"<redacted>").finish()
    }
}

#[derive(Debug, Deserialize)]
struct CredentialsJson {
    credentials: Vec<Credential>,
}

/// Why a credentials file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("invalid credential format at line {0}: expecting 'principal secret'")]
    Line(usize),
    #[error("expecting only one credential, found {0}")]
    NotOne(usize),
    #[error("a credential has an empty principal")]
    EmptyPrincipal,
}

/// The credentials of a master's `--credentials` file (its text).
pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, CredentialsError> {
    let credentials = if let Ok(json) = serde_json::from_str::<CredentialsJson>(text) {
        json.credentials
    } else if let Ok(one) = serde_json::from_str::<Credential>(text) {
        vec![one]
    } else {
        let mut credentials = Vec::new();
        for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
            match words[..] {
                [principal, secret] => {
                    credentials.push(Credential { principal: principal.to_string(), secret: secret.trim().to_string() })
                }
                _ => return Err(CredentialsError::Line(credentials.len() + 1)),
            }
        }
        credentials
    };
    if credentials.iter().any(|c| c.principal.is_empty()) {
        return Err(CredentialsError::EmptyPrincipal);
    }
    Ok(credentials)
}

/// The one credential of an agent's `--credential` file (the same formats, exactly one entry).
pub fn parse_credential(text: &str) -> Result<Credential, CredentialsError> {
    let mut credentials = parse_credentials(text)?;
    match credentials.len() {
        1 => Ok(credentials.remove(0)),
        n => Err(CredentialsError::NotOne(n)),
    }
}

/// The value of an `Authorization` header for HTTP basic authentication.
pub fn basic_header(principal: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}")))
}

/// The principal and secret of a basic `Authorization` header (`None` for any other scheme or
/// a malformed value).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (principal, secret) = decoded.split_once(':')?;
    Some((principal.to_string(), secret.to_string()))
}

/// Compares secrets in time independent of where they differ (the length still shows).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials a server accepts, looked up by principal.
#[derive(Clone, Default)]
pub struct CredentialSet {
    by_principal: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSet").field("principals", &self.by_principal.keys().collect::<Vec<_>>()).finish()
    }
}

impl CredentialSet {
    pub fn new(credentials: impl IntoIterator<Item = Credential>) -> Self {
        Self { by_principal: credentials.into_iter().map(|c| (c.principal, c.secret)).collect() }
    }

    /// Whether `principal` with `secret` is one of these credentials.
    pub fn check(&self, principal: &str, secret: &str) -> bool {
        self.by_principal.get(principal).is_some_and(|known| secrets_equal(known, secret))
    }

    /// The principal a basic `Authorization` header proves (`None`: missing, malformed or wrong).
    pub fn authenticate(&self, header: Option<&str>) -> Option<String> {
        let (principal, secret) = parse_basic(header?)?;
        self.check(&principal, &secret).then_some(principal)
    }

    pub fn is_empty(&self) -> bool {
        self.by_principal.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_and_single_credentials_parse() {
        let json = r#"{"credentials":[{"principal":"marathon","secret":"s1"},{"principal":"agent","secret":"s2"}]}"#;
        let parsed = parse_credentials(json).expect("json");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1], Credential { principal: "agent".into(), secret: "s2".into() });
        let text = parse_credentials("marathon s1\nagent  s2\n\n").expect("text");
        assert_eq!(text, parsed);
        assert_eq!(parse_credentials("marathon\n"), Err(CredentialsError::Line(1)));
        assert_eq!(parse_credentials("a b\nc d e"), Err(CredentialsError::Line(2)));
        let one = parse_credential(r#"{"principal":"agent","secret":"s2"}"#).expect("one");
        assert_eq!(one.principal, "agent");
        assert_eq!(parse_credential(r#"{"credentials":[{"principal":"agent","secret":"s2"}]}"#), Ok(one.clone()));
        assert_eq!(parse_credential("agent s2"), Ok(one));
        assert_eq!(parse_credential(json), Err(CredentialsError::NotOne(2)));
        assert!(!format!("{:?}", parsed[0]).contains("s1"), "secrets are not shown");
    }

    #[test]
    fn basic_headers_round_trip_and_are_checked() {
        let header = basic_header("marathon", "pa:ss");
        assert_eq!(parse_basic(&header), Some(("marathon".into(), "pa:ss".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        let set = CredentialSet::new([Credential { principal: "marathon".into(), secret: "pa:ss".into() }]);
        assert_eq!(set.authenticate(Some(&header)), Some("marathon".into()));
        assert_eq!(set.authenticate(Some(&basic_header("marathon", "wrong"))), None);
        assert_eq!(set.authenticate(Some(&basic_header("other", "pa:ss"))), None);
        assert_eq!(set.authenticate(None), None);
        assert!(secrets_equal("abc", "abc") && !secrets_equal("abc", "abd") && !secrets_equal("abc", "ab"));
    }
}
