//! Authentication of the REST API: with `--http_credentials user:pass` every request but
//! `GET /ping` needs HTTP basic credentials (upstream Marathon's `--http_credentials` and
//! `--http_realm`). A request without them, or with wrong ones, is answered 401 with
//! `WWW-Authenticate: Basic realm="<realm>"` and Marathon's error body. This layer sits in front
//! of the standby proxy, which forwards the `Authorization` header to the leader unchanged.
//!
//! The principal a request proved goes into its extensions ([`Principal`]), where the
//! authorization of `--acl_file` finds it.

use super::error;
use crate::acl::{Acl, Presented};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use mesos_api::credentials::{Credential, CredentialSet};
use std::sync::Arc;

/// Why the authentication flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--http_credentials: expecting 'user:password', with a user that has no ':'")]
    Credentials,
    #[error("--http_realm: {0:?} cannot be sent in a header")]
    Realm(String),
    #[error("--mesos_authentication_secret_file {path}: {source}")]
    SecretFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("--acl_file {path}: {message}")]
    AclFile { path: std::path::PathBuf, message: String },
    #[error("--http_credentials and --acl_file cannot be used together: give the user a principal in the ACL file")]
    Both,
    #[error("--mesos_authentication needs --mesos_authentication_principal and --mesos_authentication_secret_file")]
    MesosAuthentication,
}

/// The credential Marathon authenticates to the master with (`None`: it does not).
pub(crate) fn mesos_credential(flags: &crate::SchedulerFlags) -> Result<Option<Credential>, AuthError> {
    let (principal, path) = match (&flags.mesos_authentication_principal, &flags.mesos_authentication_secret_file) {
        (Some(principal), Some(path)) => (principal, path),
        _ if flags.mesos_authentication => return Err(AuthError::MesosAuthentication),
        _ => return Ok(None),
    };
    let secret =
        std::fs::read_to_string(path).map_err(|source| AuthError::SecretFile { path: path.clone(), source })?;
    let secret = secret.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&secret);
    Ok(Some(Credential { principal: principal.clone(), secret: secret.to_string() }))
}

/// Who may use the API.
#[derive(Debug, Clone)]
pub(crate) struct Authentication {
    /// `None`: anyone (no `--http_credentials`).
    credentials: Option<CredentialSet>,
    /// `--acl_file`: its principals, with passwords or tokens.
    acl: Option<Arc<Acl>>,
    /// `WWW-Authenticate: Basic realm="…"`.
    challenge: HeaderValue,
}

/// The principal a request authenticated as (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal(pub(crate) String);

impl Authentication {
    /// From `--http_credentials`, `--acl_file` and `--http_realm`.
    pub(crate) fn from_flags(flags: &crate::SchedulerFlags) -> Result<Self, AuthError> {
        let mut auth = Self::basic(flags.http_credentials.as_deref(), &flags.http_realm)?;
        if let Some(path) = &flags.acl_file {
            if auth.credentials.is_some() {
                return Err(AuthError::Both);
            }
            let error = |message: String| AuthError::AclFile { path: path.clone(), message };
            let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
            auth.acl = Some(Arc::new(Acl::parse(&text).map_err(|e| error(e.to_string()))?));
        }
        Ok(auth)
    }

    /// The ACL requests are authorized by, if any.
    pub(crate) fn acl(&self) -> Option<Arc<Acl>> {
        self.acl.clone()
    }

    /// From `--http_credentials` and `--http_realm`.
    fn basic(credentials: Option<&str>, realm: &str) -> Result<Self, AuthError> {
        let credentials = credentials
            .map(|c| match c.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    Ok(CredentialSet::new([Credential { principal: user.into(), secret: password.into() }]))
                }
                _ => Err(AuthError::Credentials),
            })
            .transpose()?;
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
            .ok()
            .filter(|_| !realm.contains('"'))
            .ok_or_else(|| AuthError::Realm(realm.to_string()))?;
        Ok(Self { credentials, acl: None, challenge })
    }

    /// 401 in Marathon's format, with the challenge.
    fn unauthenticated(&self) -> Response {
        let mut response = error(StatusCode::UNAUTHORIZED, marathon_api::output::messages::NOT_AUTHENTICATED);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        response
    }
}

/// The ACL principal an `Authorization` header proves: basic credentials, `Bearer <token>`, or
/// DC/OS' `token=<token>` (what the `marathon` Python client sends given an `auth_token`).
fn acl_principal(acl: &Acl, header: &str) -> Option<String> {
    let header = header.trim();
    let token = header.strip_prefix("token=").or_else(|| {
        let (scheme, rest) = header.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    if let Some(token) = token {
        return acl.authenticate(&Presented::Token(token)).map(str::to_string);
    }
    let (user, password) = mesos_api::credentials::parse_basic(header)?;
    acl.authenticate(&Presented::Basic { user: &user, password: &password }).map(str::to_string)
}

/// Paths anyone may reach: load balancers' and supervisors' liveness checks.
fn is_public(request: &Request) -> bool {
    request.uri().path() == "/ping"
}

/// The middleware in front of every route.
pub(crate) async fn authenticate(
    State(auth): State<Arc<Authentication>>,
    mut request: Request,
    next: Next,
) -> Response {
    if (auth.credentials.is_none() && auth.acl.is_none()) || is_public(&request) {
        return next.run(request).await;
    }
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let principal = match (&auth.credentials, &auth.acl) {
        (Some(credentials), _) => credentials.authenticate(header),
        (None, Some(acl)) => header.and_then(|h| acl_principal(acl, h)),
        (None, None) => None,
    };
    match principal {
        Some(principal) => {
            request.extensions_mut().insert(Principal(principal));
            next.run(request).await
        }
        None => auth.unauthenticated(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked() {
        assert!(Authentication::basic(Some("user:pa:ss"), "Mesosphere").is_ok());
        assert!(matches!(Authentication::basic(Some("user"), "Mesosphere"), Err(AuthError::Credentials)));
        assert!(matches!(Authentication::basic(Some(":pass"), "Mesosphere"), Err(AuthError::Credentials)));
        assert!(matches!(Authentication::basic(None, "a\"b"), Err(AuthError::Realm(_))));
        assert!(matches!(Authentication::basic(None, "a\nb"), Err(AuthError::Realm(_))));
        let open = Authentication::basic(None, "Mesosphere").expect("open");
        assert!(open.credentials.is_none());
    }
}
