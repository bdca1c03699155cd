//! Authentication of the master's HTTP endpoints (upstream's flags): `--authenticate_frameworks`
//! (the v1 scheduler API), `--authenticate_agents` (the agent API), `--authenticate_http_readonly`
//! (`/master/state` and the other read-only endpoints) and `--authenticate_http_readwrite` (the
//! operator API), all with HTTP basic credentials from `--credentials`. A request that needs
//! them and has none, or wrong ones, is answered 401 with `WWW-Authenticate: Basic
//! realm="<upstream's realm of the endpoint>"`. The principal proved goes with the request to
//! the core, which binds framework and agent ids to it (`core::auth`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesos_api::credentials::{CredentialSet, parse_credentials};
use std::path::Path;

/// What a request reaches, as far as authentication goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/api/v1/scheduler`.
    Scheduler,
    /// The agent API.
    Agent,
    /// `/master/state`, `/metrics/snapshot` and the other read-only endpoints.
    ReadOnly,
    /// The operator API.
    ReadWrite,
}

impl Endpoint {
    /// Upstream's realms.
    fn realm(self) -> &'static str {
        match self {
            Endpoint::Scheduler => "mesos-master-scheduler",
            Endpoint::Agent => "mesos-master-agent",
            Endpoint::ReadOnly => "mesos-master-readonly",
            Endpoint::ReadWrite => "mesos-master-readwrite",
        }
    }
}

/// Which endpoints need credentials, and the credentials.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpAuth {
    credentials: CredentialSet,
    frameworks: bool,
    agents: bool,
    readonly: bool,
    readwrite: bool,
}

/// Why the authentication flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--credentials {path}: {message}")]
    Credentials { path: String, message: String },
    #[error("{0} needs --credentials (the principals and secrets to accept)")]
    NoCredentials(&'static str),
}

impl HttpAuth {
    /// From the flags (reads `--credentials`).
    pub(crate) fn from_flags(flags: &crate::MasterFlags) -> Result<Self, AuthError> {
        let credentials = match &flags.credentials {
            Some(path) => read_credentials(path)?,
            None => CredentialSet::default(),
        };
        let auth = Self {
            credentials,
            frameworks: flags.authenticate_frameworks || flags.authenticate_http_frameworks,
            agents: flags.authenticate_agents,
            readonly: flags.authenticate_http_readonly,
            readwrite: flags.authenticate_http_readwrite,
        };
        let needed = [
            (auth.frameworks, "--authenticate_frameworks"),
            (auth.agents, "--authenticate_agents"),
            (auth.readonly, "--authenticate_http_readonly"),
            (auth.readwrite, "--authenticate_http_readwrite"),
        ];
        if let Some((_, flag)) = needed.iter().find(|(on, _)| *on).filter(|_| auth.credentials.is_empty()) {
            return Err(AuthError::NoCredentials(flag));
        }
        Ok(auth)
    }

    fn required(&self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::Scheduler => self.frameworks,
            Endpoint::Agent => self.agents,
            Endpoint::ReadOnly => self.readonly,
            Endpoint::ReadWrite => self.readwrite,
        }
    }

    /// The principal of a request to `endpoint` (`None` when it needs no authentication).
    pub(crate) fn authenticate(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
    ) -> Result<Option<String>, Unauthenticated> {
        if !self.required(endpoint) {
            return Ok(None);
        }
        let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        self.credentials.authenticate(header).map(Some).ok_or(Unauthenticated(endpoint))
    }
}

/// A request to this endpoint without valid credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unauthenticated(Endpoint);

impl IntoResponse for Unauthenticated {
    /// 401 with the endpoint's challenge.
    fn into_response(self) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.0.realm())) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn read_credentials(path: &Path) -> Result<CredentialSet, AuthError> {
    let error = |message: String| AuthError::Credentials { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    warn_if_open(path);
    let credentials = parse_credentials(&text).map_err(|e| error(e.to_string()))?;
    tracing::info!(path = %path.display(), principals = credentials.len(), "loaded credentials");
    Ok(CredentialSet::new(credentials))
}

/// As upstream: a credentials file others can read is worth a warning.
pub(crate) fn warn_if_open(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o007 != 0
    {
        tracing::warn!(path = %path.display(), "the credentials file is accessible by others; it should not be");
    }
}
