//! Authentication of the agent's read-only endpoints (`/state`, `/flags`, `/metrics/snapshot`,
//! `/files/*`) with `--authenticate_http_readonly` and the credentials of `--http_credentials`
//! (upstream's flags): 401 with `WWW-Authenticate: Basic realm="mesos-agent-readonly"` without
//! valid HTTP basic credentials. `/health` and `/version` stay open.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mesos_api::credentials::CredentialSet;
use std::sync::Arc;

/// The credentials the read-only endpoints need (`None`: they need none).
pub(crate) type ReadOnlyAuth = Option<Arc<CredentialSet>>;

/// From `--authenticate_http_readonly` and `--http_credentials`.
pub(crate) fn from_flags(flags: &crate::AgentFlags) -> Result<ReadOnlyAuth, crate::FlagError> {
    if !flags.authenticate_http_readonly {
        return Ok(None);
    }
    let error = |why: String| crate::FlagError::Credential { path: "--http_credentials".into(), why };
    let path = flags.http_credentials.as_ref().ok_or_else(|| error("--authenticate_http_readonly needs it".into()))?;
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("{}: {e}", path.display())))?;
    let credentials = mesos_api::credentials::parse_credentials(&text).map_err(|e| error(e.to_string()))?;
    Ok(Some(Arc::new(CredentialSet::new(credentials))))
}

fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/slave(1)/health" | "/version")
}

/// The middleware in front of every route.
pub(crate) async fn authenticate(State(auth): State<ReadOnlyAuth>, request: Request, next: Next) -> Response {
    let Some(credentials) = auth else { return next.run(request).await };
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if credentials.authenticate(header).is_some() {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"mesos-agent-readonly\""));
    response
}
