//! `/v2/pods`: create, list, read, update and delete pods, their status, versions and
//! instances (upstream's `PodsResource`). Paths below `/v2/pods/` name a pod and an optional
//! `::status`, `::versions[/<version>]` or `::instances[/<instance id>]`.

use super::{Api, ApiError, bad_query, check_deployable, deployment_response, error, json, query_pairs, unavailable};
use crate::core::{AppId, InstanceId};
use crate::pods;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marathon_api::events::Event;
use marathon_api::output::messages;
use marathon_api::{PathId, parse_error_json, parse_pod, pod_json, query_bool};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;

/// What a path below `/v2/pods/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Pod(PathId),
    /// `::status` of every pod (`/v2/pods/::status`) or of one.
    Status(Option<PathId>),
    Versions(PathId),
    Version(PathId, String),
    Instances(PathId),
    Instance(PathId, String),
}

fn target(path: &str) -> Target {
    let (id, suffix) = match path.split_once("::") {
        Some((id, suffix)) => (id, Some(suffix)),
        None => (path, None),
    };
    let pod = PathId::parse(id);
    match suffix {
        None => Target::Pod(pod),
        Some("status") if pod.is_root() => Target::Status(None),
        Some("status") => Target::Status(Some(pod)),
        Some("versions") => Target::Versions(pod),
        Some("instances") => Target::Instances(pod),
        Some(rest) => match rest.split_once('/') {
            Some(("versions", version)) => Target::Version(pod, version.to_string()),
            Some(("instances", instance)) => Target::Instance(pod, instance.to_string()),
            _ => Target::Pod(PathId::parse(path)),
        },
    }
}

fn pod_id(id: &PathId) -> AppId {
    AppId::new(&id.to_string())
}

fn not_found(id: &PathId) -> ApiError {
    ApiError::not_found(messages::pod_not_found(id, None))
}

fn respond(result: Option<Result<Response, ApiError>>) -> Response {
    match result {
        Some(Ok(response)) => response,
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

fn with_deployment(status: StatusCode, deployed: &crate::service::Deployed, body: &Json, id: &PathId) -> Response {
    let mut response = deployment_response(status, deployed);
    *response.body_mut() = axum::body::Body::from(serde_json::to_vec(body).unwrap_or_default());
    if let Ok(value) = HeaderValue::from_str(&format!("/v2/pods{id}")) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn force_of(query: Option<String>) -> Result<bool, Box<Response>> {
    query_bool(&query_pairs(query), "force", false).map_err(|e| Box::new(bad_query(&e)))
}

/// `HEAD /v2/pods` (pods are supported), `GET /v2/pods` and `POST /v2/pods`.
pub(super) async fn root(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match method {
        Method::HEAD => StatusCode::OK.into_response(),
        Method::GET => {
            let pods = api.service.read(|service| service.pods().map(pod_json).collect::<Vec<Json>>()).await;
            match pods {
                Some(pods) => json(StatusCode::OK, &Json::Array(pods)),
                None => unavailable(),
            }
        }
        Method::POST => {
            let force = match force_of(query) {
                Ok(force) => force,
                Err(response) => return *response,
            };
            let client_ip = remote.ip().to_string();
            put(api, None, body, force, client_ip, uri.path().to_string()).await
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
    }
}

/// Creates (`path` `None`: `POST /v2/pods`) or replaces (`PUT /v2/pods/{id}`) a pod.
async fn put(api: Api, path: Option<PathId>, body: Bytes, force: bool, client_ip: String, uri: String) -> Response {
    let raw = match parse_pod(&body) {
        Ok(raw) => raw,
        Err(e) => {
            return json(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST), &parse_error_json(&e));
        }
    };
    if let Some(path) = &path
        && let Some(message) = marathon_api::pod_path_mismatch(path, &raw)
    {
        return error(StatusCode::BAD_REQUEST, &message);
    }
    let result = api
        .service
        .change(move |service| {
            let id = path.clone().unwrap_or_else(|| PathId::parse(&raw.id));
            let config = service.normalize_config_for(&id);
            let pod = crate::support::normalize_pod(raw, path.as_ref(), &config).map_err(ApiError::Invalid)?;
            let id = pod.path_id();
            let key = pod_id(&id);
            let exists = service.pod(&key).is_some();
            if path.is_none() && exists {
                return Err(ApiError::Message(StatusCode::CONFLICT, format!("Pod {id} already exists.")));
            }
            if service.definition(&key).is_some() {
                return Err(ApiError::Message(StatusCode::CONFLICT, format!("An app with id [{id}] already exists.")));
            }
            if service.group_exists(&id) && !exists {
                return Err(ApiError::Message(StatusCode::CONFLICT, format!("A group with id [{id}] already exists.")));
            }
            check_deployable(service, std::slice::from_ref(&key), force)?;
            let deployed = service.put_pod(pod);
            let event = if exists {
                Event::PodUpdated { client_ip, uri, pod_id: id.to_string() }
            } else {
                Event::PodCreated { client_ip, uri, pod_id: id.to_string() }
            };
            service.publish(event);
            let body = service.pod(&key).map(pod_json).unwrap_or(Json::Null);
            let status = if exists { StatusCode::OK } else { StatusCode::CREATED };
            Ok(with_deployment(status, &deployed, &body, &id))
        })
        .await;
    respond(result)
}

/// Everything below `/v2/pods/`.
pub(super) async fn dispatch(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let target = target(&path);
    match (method, target) {
        (Method::GET, Target::Pod(id)) => {
            read(&api, move |service| {
                service.pod(&pod_id(&id)).map(|p| json(StatusCode::OK, &pod_json(p))).ok_or_else(|| not_found(&id))
            })
            .await
        }
        (Method::PUT, Target::Pod(id)) => {
            let force = match force_of(query) {
                Ok(force) => force,
                Err(response) => return *response,
            };
            put(api, Some(id), body, force, remote.ip().to_string(), uri.path().to_string()).await
        }
        (Method::DELETE, Target::Pod(id)) => {
            let force = match force_of(query) {
                Ok(force) => force,
                Err(response) => return *response,
            };
            let (client_ip, uri) = (remote.ip().to_string(), uri.path().to_string());
            let result = api
                .service
                .change(move |service| {
                    let key = pod_id(&id);
                    if service.pod(&key).is_none() {
                        return Err(not_found(&id));
                    }
                    check_deployable(service, std::slice::from_ref(&key), force)?;
                    let deployed = service.delete_pod(&key).ok_or_else(|| not_found(&id))?;
                    service.publish(Event::PodDeleted { client_ip, uri, pod_id: id.to_string() });
                    let mut response = deployment_response(StatusCode::ACCEPTED, &deployed);
                    if let Ok(value) = HeaderValue::from_str(&deployed.deployment_id) {
                        response.headers_mut().insert(header::LOCATION, value);
                    }
                    Ok(response)
                })
                .await;
            respond(result)
        }
        (Method::GET, Target::Status(None)) => {
            read(&api, |service| {
                let now = service.now().wall;
                let all: Vec<Json> = service
                    .pods()
                    .map(|p| {
                        let instances = service.pod_instances(&AppId::new(&p.id));
                        serde_json::to_value(pods::status(p, &instances, now)).unwrap_or(Json::Null)
                    })
                    .collect();
                Ok(json(StatusCode::OK, &Json::Array(all)))
            })
            .await
        }
        (Method::GET, Target::Status(Some(id))) => {
            read(&api, move |service| {
                let key = pod_id(&id);
                let pod = service.pod(&key).ok_or_else(|| not_found(&id))?;
                let status = pods::status(pod, &service.pod_instances(&key), service.now().wall);
                Ok(json(StatusCode::OK, &serde_json::to_value(status).unwrap_or(Json::Null)))
            })
            .await
        }
        (Method::GET, Target::Versions(id)) => {
            let key = pod_id(&id);
            match api.service.read(move |service| service.pod(&key).is_some()).await {
                Some(true) => {}
                Some(false) => return not_found(&id).into_response(),
                None => return unavailable(),
            }
            match api.store.list_versions(store::Namespace::POD_VERSIONS, id.to_string()).await {
                Ok(mut versions) => {
                    versions.reverse();
                    json(StatusCode::OK, &json!(versions))
                }
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
        (Method::GET, Target::Version(id, version)) => {
            let Some(at) = marathon_api::parse_timestamp(&version).filter(|_| super::storable(&id)) else {
                return not_found(&id).into_response();
            };
            let key = marathon_api::format_timestamp(at);
            match api.store.get_version(store::Namespace::POD_VERSIONS, id.to_string(), key).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<marathon_api::Pod>(&bytes) {
                    Ok(pod) => json(StatusCode::OK, &pod_json(&pod)),
                    Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
                },
                Ok(None) => error(StatusCode::NOT_FOUND, &messages::pod_not_found(&id, Some(at))),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
        (Method::DELETE, Target::Instance(id, instance)) => {
            let wipe = match query_bool(&query_pairs(query), "wipe", false) {
                Ok(wipe) => wipe,
                Err(e) => return bad_query(&e),
            };
            kill(api, id, vec![instance], wipe, true).await
        }
        (Method::DELETE, Target::Instances(id)) => {
            let wipe = match query_bool(&query_pairs(query), "wipe", false) {
                Ok(wipe) => wipe,
                Err(e) => return bad_query(&e),
            };
            let instances: Vec<String> = match serde_json::from_slice(&body) {
                Ok(instances) => instances,
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("Invalid JSON: {e}")),
            };
            kill(api, id, instances, wipe, false).await
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
    }
}

async fn read(
    api: &Api,
    f: impl FnOnce(&crate::service::Service) -> Result<Response, ApiError> + Send + 'static,
) -> Response {
    respond(api.service.read(f).await)
}

/// Kills instances of a pod; `one`: the answer is that instance's status (404 if unknown).
async fn kill(api: Api, id: PathId, instances: Vec<String>, wipe: bool, one: bool) -> Response {
    let result =
        api.service
            .change(move |service| {
                let key = pod_id(&id);
                let pod = service.pod(&key).cloned().ok_or_else(|| not_found(&id))?;
                let ids: Vec<InstanceId> = instances.iter().filter_map(|i| InstanceId::parse(i)).collect();
                let killed = service.kill_pod_instances(&key, &ids, wipe);
                let statuses: Vec<Json> = killed
                    .iter()
                    .map(|i| serde_json::to_value(pods::instance_status(&pod, i)).unwrap_or(Json::Null))
                    .collect();
                if one {
                    let first = statuses.into_iter().next().ok_or_else(|| {
                        ApiError::not_found(format!("Instance '{}' does not exist", instances.join(",")))
                    })?;
                    return Ok(json(StatusCode::OK, &first));
                }
                Ok(json(StatusCode::OK, &Json::Array(statuses)))
            })
            .await;
    respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_pods() {
        assert_eq!(target("shop"), Target::Pod(PathId::parse("/shop")));
        assert_eq!(target("a/shop::status"), Target::Status(Some(PathId::parse("/a/shop"))));
        assert_eq!(target("::status"), Target::Status(None));
        assert_eq!(target("shop::versions"), Target::Versions(PathId::parse("/shop")));
        assert_eq!(
            target("shop::versions/2026-01-01T00:00:00.000Z"),
            Target::Version(PathId::parse("/shop"), "2026-01-01T00:00:00.000Z".into())
        );
        assert_eq!(target("shop::instances"), Target::Instances(PathId::parse("/shop")));
        assert_eq!(
            target("shop::instances/shop.instance-1"),
            Target::Instance(PathId::parse("/shop"), "shop.instance-1".into())
        );
    }
}
