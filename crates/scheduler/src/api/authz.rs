//! Enforcement of `--acl_file` on the leader: the principal authenticated by `api::auth` may do
//! what [`crate::acl`] decides for the request's method and path, the ids in its body (an app
//! or group created or changed, the tasks killed) and the apps of a deployment it cancels.
//! Listings show only what it may read (the answer is cut down with
//! `marathon_api::visible`), and the event stream only the events of apps it may read
//! ([`Viewer`], used by `api::events`). 401 without a principal, 403 without the right, in
//! Marathon's error format.

use super::auth::Principal;
use super::{Api, MAX_BODY_BYTES, error};
use crate::acl::{Access, Acl, Requirement, requirement};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use marathon_api::PathId;
use marathon_api::output::messages::{NOT_AUTHENTICATED, NOT_AUTHORIZED};
use serde_json::Value as Json;
use std::sync::Arc;

/// The reader of an event stream whose events must be filtered (one who may not read `/`).
#[derive(Clone)]
pub(crate) struct Viewer {
    acl: Arc<Acl>,
    principal: String,
}

impl Viewer {
    /// Whether this reader may see an event of this type about `paths`.
    pub(crate) fn may_see(&self, event_type: &str, paths: Option<&[PathId]>) -> bool {
        self.acl.may_see_event(&self.principal, event_type, paths)
    }
}

fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, NOT_AUTHORIZED)
}

/// The middleware (on the leader, behind the proxy).
pub(crate) async fn authorize(State(api): State<Api>, request: Request, next: Next) -> Response {
    let Some(acl) = api.acl.clone() else { return next.run(request).await };
    let needed = requirement(request.method().as_str(), request.uri().path());
    if needed == Requirement::Nothing {
        return next.run(request).await;
    }
    let Some(Principal(principal)) = request.extensions().get::<Principal>().cloned() else {
        // Authentication lets nothing through without a principal; this is a second lock.
        return error(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED);
    };
    match needed {
        Requirement::Nothing | Requirement::Authenticated => next.run(request).await,
        Requirement::On(access, path) => {
            if acl.allows(&principal, access, &path) {
                next.run(request).await
            } else {
                forbidden()
            }
        }
        Requirement::BodyAppIds | Requirement::BodyGroupIds(_) | Requirement::BodyTaskIds => {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
                let message = format!("Request entity too large: the body is limited to {MAX_BODY_BYTES} bytes");
                return error(StatusCode::PAYLOAD_TOO_LARGE, &message);
            };
            let targets = body_targets(&needed, &bytes);
            if !acl.allows_all(&principal, Access::Write, targets.iter()) {
                return forbidden();
            }
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        Requirement::Deployment(id) => {
            let apps = api.service.read(move |service| service.deployments().get(&id).map(|d| d.apps())).await;
            match apps {
                // Unknown: the handler answers 404.
                Some(None) => next.run(request).await,
                Some(Some(apps)) => {
                    let paths: Vec<PathId> = apps.iter().map(|app| PathId::parse(app.as_str())).collect();
                    if acl.allows_all(&principal, Access::Write, paths.iter()) {
                        next.run(request).await
                    } else {
                        forbidden()
                    }
                }
                None => super::unavailable(),
            }
        }
        Requirement::Filtered => {
            if acl.reads_everything(&principal) {
                return next.run(request).await;
            }
            if request.uri().path() == "/v2/events" {
                let mut request = request;
                request.extensions_mut().insert(Viewer { acl, principal });
                return next.run(request).await;
            }
            filtered(next.run(request).await, &acl, &principal).await
        }
        Requirement::ReadOrFiltered(path) => {
            if acl.allows(&principal, Access::Read, &path) {
                next.run(request).await
            } else if acl.reads_below(&principal, &path) {
                filtered(next.run(request).await, &acl, &principal).await
            } else {
                forbidden()
            }
        }
    }
}

/// What a request body changes: the apps (and groups) it names, resolved as the handlers
/// resolve them, or for task ids their apps. A body that cannot be read names the base (`/`
/// for apps and tasks), so that only who may write there gets the handler's own answer.
fn body_targets(needed: &Requirement, bytes: &[u8]) -> Vec<PathId> {
    let body: Option<Json> = serde_json::from_slice(bytes).ok();
    let mut targets = Vec::new();
    match (needed, &body) {
        (Requirement::BodyAppIds, Some(Json::Array(apps))) => {
            targets.extend(apps.iter().map(|app| PathId::parse(app["id"].as_str().unwrap_or("/"))));
        }
        (Requirement::BodyAppIds, Some(app)) => targets.push(PathId::parse(app["id"].as_str().unwrap_or("/"))),
        (Requirement::BodyGroupIds(base), Some(group)) => group_targets(group, base, &mut targets),
        (Requirement::BodyGroupIds(base), None) => targets.push(base.clone()),
        (Requirement::BodyTaskIds, Some(body)) => {
            let ids = body["ids"].as_array().into_iter().flatten();
            targets.extend(ids.map(|id| {
                let task = id.as_str().and_then(|id| marathon_api::TaskId::parse(id).ok());
                task.map_or_else(PathId::root, |task| task.run_spec_id().clone())
            }));
        }
        _ => {}
    }
    if targets.is_empty() {
        targets.push(PathId::root());
    }
    targets
}

/// A group body's own id (resolved against `base`, which it is without one) and those of every
/// app and group in it.
fn group_targets(group: &Json, base: &PathId, targets: &mut Vec<PathId>) {
    let id = group["id"].as_str().map_or_else(|| base.clone(), |id| PathId::resolve(id, base));
    for app in group["apps"].as_array().into_iter().flatten() {
        targets.push(PathId::resolve(app["id"].as_str().unwrap_or(""), &id));
    }
    for sub in group["groups"].as_array().into_iter().flatten() {
        group_targets(sub, &id, targets);
    }
    targets.push(id);
}

/// A successful JSON (or `text/plain` task listing) answer cut down to what `principal` may
/// read.
async fn filtered(response: Response, acl: &Acl, principal: &str) -> Response {
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_json = content_type.starts_with("application/json");
    let is_text = content_type.starts_with("text/plain");
    if response.status() != StatusCode::OK || !(is_json || is_text) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return super::unavailable();
    };
    if is_text {
        let text = String::from_utf8_lossy(&bytes);
        let kept = marathon_api::endpoints::retain_visible_lines(&text, &|id| acl.allows(principal, Access::Read, id));
        let mut response = Response::from_parts(parts, Body::from(kept));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        return response.into_response();
    }
    let Ok(mut json) = serde_json::from_slice::<Json>(&bytes) else { return forbidden() };
    marathon_api::visible::retain_visible(&mut json, &|id| acl.allows(principal, Access::Read, &PathId::parse(id)));
    let mut response = Response::from_parts(parts, Body::from(serde_json::to_vec(&json).unwrap_or_default()));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response.into_response()
}
