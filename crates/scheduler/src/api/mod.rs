//! Marathon's REST API v2 on axum: routing, query and body reading, and the headers every
//! response carries; the web UI (`webui`) and what it reads through the scheduler (`cluster`). Handlers read and change the state through [`ServiceHandle`]; the JSON
//! shapes come from `marathon-api`.

mod apps;
pub(crate) mod auth;
mod authz;
mod cluster;
mod cors;
mod events;
mod groups;
mod pods;
pub(crate) mod proxy;
mod render;
mod subscriptions;
mod system;
mod tasks;

use crate::service::ServiceHandle;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value as Json;
use std::sync::Arc;

/// The OpenAPI 3 document of the REST API v2, served at `GET /openapi.json`. Written by hand;
/// `openapi_tests` checks it against the routes of [`router`], and the end-to-end test
/// `crates/marathon/tests/openapi.rs` runs schemathesis with it against a `marathon local`.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

#[cfg(test)]
mod openapi_tests;

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) service: ServiceHandle,
    pub(crate) proxy: proxy::LeaderProxy,
    pub(crate) store: crate::service::CurrentStore,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// For the UI's reads of the master and agents (`cluster`).
    pub(crate) http: reqwest::Client,
    /// `--acl_file`: what each principal may do (`None`: everything).
    pub(crate) acl: Option<Arc<crate::acl::Acl>>,
}

/// The REST API router. On a standby, `proxy` forwards every request to the leader.
pub(crate) fn router(
    service: ServiceHandle,
    store: crate::service::CurrentStore,
    proxy: proxy::LeaderProxy,
    limit: Option<crate::listen::ConcurrencyLimit>,
    auth: auth::Authentication,
) -> Router {
    let metrics = service.info().metrics.clone();
    let http_metrics = metrics.http.clone();
    let http = webui::proxy::client(service.info().mesos_http(reqwest::Client::builder()));
    let api = Api { service, proxy: proxy.clone(), store, metrics, http, acl: auth.acl() };
    let leader_of = proxy.clone();
    let compression = api.service.info().flags.listen.compression();
    let origins =
        cors::AllowedOrigins::from_flag(api.service.info().flags.listen.access_control_allow_origin.as_deref());
    Router::new()
        .route("/v2/apps", get(apps::list).post(apps::create).put(apps::put_many).patch(apps::patch_many))
        .route("/v2/apps/{*path}", any(apps::dispatch))
        .route("/v2/groups", any(groups::root))
        .route("/v2/groups/{*path}", any(groups::dispatch))
        .route("/v2/pods", any(pods::root))
        .route("/v2/pods/{*path}", any(pods::dispatch))
        .route("/v2/tasks", get(tasks::list))
        .route("/v2/tasks/delete", post(tasks::delete_many))
        .route("/v2/queue", get(tasks::queue))
        .route("/v2/queue/{*path}", any(tasks::queue_delay))
        .route("/v2/deployments", get(tasks::deployments))
        .route("/v2/deployments/{id}", axum::routing::delete(tasks::delete_deployment))
        .route("/v2/events", get(events::events))
        .route(
            "/v2/eventSubscriptions",
            get(subscriptions::list).post(subscriptions::subscribe).delete(subscriptions::unsubscribe),
        )
        .route("/v2/info", get(system::info))
        .route("/v2/leader", get(system::leader).delete(system::abdicate))
        .route("/v2/plugins", get(system::plugins))
        .route("/v2/plugins/{*path}", any(system::plugin_path))
        .route("/ping", get(system::ping))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route(httpd::metrics::PROMETHEUS_PATH, get(system::prometheus))
        .route("/", get(system::root))
        .route("/ui/api/master/{endpoint}", get(cluster::master_endpoint))
        .route("/ui/api/agents/{agent}/files/{op}", get(cluster::agent_files))
        .merge(webui::router())
        .fallback(system::not_found)
        .with_state(api.clone())
        .layer(axum::middleware::from_fn(json_bodies_only))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // On the leader only (a standby forwards first): it reads the deployments.
        .layer(axum::middleware::from_fn_with_state(api, authz::authorize))
        .layer(axum::middleware::from_fn_with_state(proxy, proxy::to_leader))
        // Before the proxy: a standby refuses what the leader would refuse (and forwards the
        // `Authorization` header with the rest).
        .layer(axum::middleware::from_fn_with_state(Arc::new(auth), auth::authenticate))
        .layer(axum::middleware::map_response(move |mut response: Response| {
            let leader = leader_of.current_leader_url().and_then(|l| HeaderValue::from_str(&l).ok());
            async move {
                let headers = response.headers_mut();
                // A proxied answer carries the leader's own.
                if let Some(leader) = leader {
                    headers.entry(HeaderName::from_static("x-marathon-leader")).or_insert(leader);
                }
                headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
                headers.insert(HeaderName::from_static("x-xss-protection"), HeaderValue::from_static("1; mode=block"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
                response
            }
        }))
        .layer(axum::middleware::from_fn_with_state(limit, crate::listen::limit_concurrency))
        // A preflight is answered before authentication, as upstream's filter does.
        .layer(axum::middleware::from_fn_with_state(origins, cors::cors))
        // gzip when the client accepts it; event streams (`text/event-stream`) and small bodies
        // are left alone, so each event still goes out as it happens.
        .layer(tower_http::compression::CompressionLayer::new().compress_when(
            tower_http::compression::predicate::Predicate::and(
                tower_http::compression::predicate::DefaultPredicate::new(),
                move |_: StatusCode, _: axum::http::Version, _: &axum::http::HeaderMap, _: &axum::http::Extensions| {
                    compression
                },
            ),
        ))
        // Outermost: every request is measured, also those refused or proxied.
        .layer(axum::middleware::from_fn_with_state(http_metrics, httpd::metrics::track))
}

/// Request bodies are JSON (upstream's resources consume `application/json` only): a body of any
/// other type, or without a type, is answered 415 as upstream does, instead of being read as
/// JSON anyway. A body over the limit is answered 413 in Marathon's error format (axum's own
/// answer is plain text).
async fn json_bodies_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !is_json {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type");
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let message = format!("Request entity too large: the body is limited to {MAX_BODY_BYTES} bytes");
        return error(StatusCode::PAYLOAD_TOO_LARGE, &message);
    }
    response
}

/// The largest request body read (axum's default limit).
const MAX_BODY_BYTES: usize = 2 << 20;

/// Decoded query pairs in request order (repeated keys kept).
pub(crate) fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &Json) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A JSON response from bytes written already.
pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], Body::from(bytes)).into_response()
}

/// A request whose body did not arrive within `--http_body_timeout`: 408 `{"message": …}`.
pub(crate) fn request_timeout() -> Response {
    error(StatusCode::REQUEST_TIMEOUT, httpd::BODY_TIMED_OUT)
}

/// `{"message": …}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    json(status, &marathon_api::error_json(message))
}

/// A request that fails, as decided inside the driver (small, so closures can return it).
#[derive(Debug)]
pub(crate) enum ApiError {
    /// `{"message": …}` with the status.
    Message(StatusCode, String),
    /// 422 with `details`.
    Invalid(marathon_api::ValidationError),
    /// 409: running deployments lock the apps.
    Locked(Vec<String>),
}

impl ApiError {
    pub(crate) fn not_found(message: String) -> Self {
        Self::Message(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Message(status, message) => error(status, &message),
            Self::Invalid(e) => json(StatusCode::UNPROCESSABLE_ENTITY, &marathon_api::validation_error_json(&e)),
            Self::Locked(ids) => json(StatusCode::CONFLICT, &marathon_api::app_locked_json(&ids)),
        }
    }
}

/// Whether a change of `apps` may start a deployment: apps locked by running deployments are
/// refused (409) unless `force`d, and at most `--max_running_deployments` may run (403; forcing
/// replaces the locking ones, so they do not count).
pub(crate) fn check_deployable(
    service: &crate::service::Service,
    apps: &[crate::core::AppId],
    force: bool,
) -> Result<(), ApiError> {
    let locks = service.locked_by(apps);
    if !force && !locks.is_empty() {
        return Err(ApiError::Locked(locks));
    }
    let max = service.info().flags.max_running_deployments;
    let running = service.deployments().len() - if force { locks.len() } else { 0 };
    if running >= max {
        let message = marathon_api::output::messages::too_many_deployments(u32::try_from(max).unwrap_or(u32::MAX));
        return Err(ApiError::Message(StatusCode::FORBIDDEN, message));
    }
    Ok(())
}

/// The service is gone (it failed and is stopping).
pub(crate) fn unavailable() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "Marathon is not running")
}

/// Whether `id` can name something stored: the store refuses other keys (control characters,
/// say), and no app or group has such an id, so a read of one is a 404, not a store error.
pub(crate) fn storable(id: &marathon_api::PathId) -> bool {
    store::backend::validate_key(&id.to_string()).is_ok()
}

/// 400/422 for a query parameter that cannot be read.
pub(crate) fn bad_query(e: &marathon_api::QueryError) -> Response {
    error(StatusCode::BAD_REQUEST, &e.to_string())
}

/// The body of deployment-producing requests, with the deployment id header.
pub(crate) fn deployment_response(status: StatusCode, deployed: &crate::service::Deployed) -> Response {
    let mut response = json(status, &marathon_api::deployment_result(deployed.version, &deployed.deployment_id));
    if let Ok(value) = HeaderValue::from_str(&deployed.deployment_id) {
        response.headers_mut().insert(HeaderName::from_static("marathon-deployment-id"), value);
    }
    response
}
