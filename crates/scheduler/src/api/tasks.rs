//! `/v2/tasks`, killing tasks of an app, `/v2/queue` and `/v2/deployments`.

use super::render::{tasks_body, tasks_of};
use super::{
    Api, ApiError, bad_query, check_deployable, deployment_response, error, json, json_bytes, query_pairs, unavailable,
};
use crate::convert;
use crate::core::{AppId, Condition};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marathon_api::endpoints::{EndpointApp, endpoints_text};
use marathon_api::output::messages;
use marathon_api::query::{query_value, query_values};
use marathon_api::{PathId, TaskJson, query_bool};
use serde_json::json;

/// `GET /v2/tasks[?status=running|staging]`: every task, with its app's service ports; with
/// `Accept: text/plain`, upstream's tab-separated listing of the running tasks' endpoints.
pub(super) async fn list(State(api): State<Api>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if wants_text(&headers) {
        return list_text(api).await;
    }
    let pairs = query_pairs(query);
    let states: Vec<String> = query_values(&pairs, "status")
        .into_iter()
        .chain(query_values(&pairs, "status[]"))
        .filter_map(|s| match s.to_ascii_lowercase().as_str() {
            "running" => Some("TASK_RUNNING".to_string()),
            "staging" => Some("TASK_STAGING".to_string()),
            _ => None,
        })
        .collect();
    let body = api
        .service
        .read(move |service| {
            let keep = |state: &str| states.is_empty() || states.iter().any(|s| s == state);
            tasks_body(service, service.rendered_apps().map(|(id, _, _)| id), true, keep)
        })
        .await;
    match body {
        Some(body) => json_bytes(StatusCode::OK, body),
        None => unavailable(),
    }
}

/// Whether the client asks for text only (upstream picks the text form for `text/plain` and the
/// JSON one for anything else).
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("text/plain") && !accept.contains("application/json")
}

/// `GET /v2/tasks` as `text/plain`.
async fn list_text(api: Api) -> Response {
    let body = api
        .service
        .read(|service| {
            let core = service.core();
            let apps: Vec<EndpointApp> = service
                .definitions()
                .map(|def| {
                    let id = AppId::new(&def.id);
                    let spec = core.app(&id);
                    EndpointApp {
                        id: PathId::parse(&def.id),
                        service_ports: spec
                            .map(|s| s.service_ports().into_iter().map(u32::from).collect())
                            .unwrap_or_default(),
                        listed: def.ip_address.is_none() || def.container.as_ref().is_some_and(|c| c.docker.is_some()),
                        running: core
                            .instances_of(&id)
                            .filter(|i| i.condition == Condition::Running)
                            .filter_map(|i| i.task.as_ref())
                            .map(|t| (t.hostname.clone(), t.host_ports.iter().map(|&p| u32::from(p)).collect()))
                            .collect(),
                    }
                })
                .collect();
            endpoints_text(&apps)
        })
        .await;
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(),
        None => unavailable(),
    }
}

#[derive(serde::Deserialize)]
struct TaskIds {
    ids: Vec<String>,
}

/// `POST /v2/tasks/delete[?scale&wipe]` with `{"ids": [...]}`.
pub(super) async fn delete_many(State(api): State<Api>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let pairs = query_pairs(query);
    let (scale, wipe) = match (query_bool(&pairs, "scale", false), query_bool(&pairs, "wipe", false)) {
        (Ok(scale), Ok(wipe)) => (scale, wipe),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    let force = match query_bool(&pairs, "force", false) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    if scale && wipe {
        return error(StatusCode::BAD_REQUEST, messages::SCALE_AND_WIPE);
    }
    let ids = match serde_json::from_slice::<TaskIds>(&body) {
        Ok(ids) => ids.ids,
        Err(e) => return json(StatusCode::BAD_REQUEST, &json!({"message": "Invalid JSON", "details": e.to_string()})),
    };
    if let Some(bad) = ids.iter().find(|id| crate::core::parse_task_id(id).is_none()) {
        return error(StatusCode::BAD_REQUEST, &format!("Invalid task id '{bad}'. [{bad}]"));
    }
    let result = api
        .service
        .change(move |service| {
            let task_ids: Vec<mesos_api::TaskId> = ids.into_iter().map(mesos_api::TaskId::new).collect();
            let instances: Vec<&crate::core::Instance> =
                task_ids.iter().filter_map(|t| service.core().instance_of_task(t)).collect();
            if scale {
                let mut apps: Vec<AppId> = instances.iter().map(|i| i.app_id.clone()).collect();
                apps.dedup();
                check_deployable(service, &apps, force)?;
            }
            let killed: Vec<TaskJson> = instances.iter().filter_map(|i| convert::task_json(i, None)).collect();
            let deployed = service.kill_tasks(task_ids, scale, wipe);
            Ok::<_, ApiError>((killed, deployed))
        })
        .await;
    match result {
        Some(Ok((_, Some(deployed)))) => deployment_response(StatusCode::OK, &deployed),
        Some(Ok((killed, None))) => json(StatusCode::OK, &json!({ "tasks": killed })),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

/// `DELETE /v2/apps/{id}/tasks[/{taskId}][?host&scale&wipe]`.
pub(super) async fn kill_app_tasks(api: Api, id: PathId, task: Option<String>, pairs: &[(String, String)]) -> Response {
    let (scale, wipe) = match (query_bool(pairs, "scale", false), query_bool(pairs, "wipe", false)) {
        (Ok(scale), Ok(wipe)) => (scale, wipe),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    let force = match query_bool(pairs, "force", false) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    if scale && wipe {
        return error(StatusCode::BAD_REQUEST, messages::SCALE_AND_WIPE);
    }
    let host = query_value(pairs, "host").filter(|h| !h.is_empty() && *h != "*").map(str::to_string);
    let single = task.is_some();
    let result = api
        .service
        .change(move |service| {
            let app = AppId::new(&id.to_string());
            if service.definition(&app).is_none() {
                return Err(ApiError::not_found(messages::app_not_found(&id, None)));
            }
            let selected: Vec<TaskJson> = tasks_of(service, &app, false)
                .into_iter()
                .filter(|t| task.as_ref().is_none_or(|wanted| &t.id == wanted))
                .filter(|t| host.as_ref().is_none_or(|h| &t.host == h))
                .collect();
            if let Some(task) = &task
                && selected.is_empty()
            {
                return Err(ApiError::not_found(messages::task_not_found(task)));
            }
            if scale {
                check_deployable(service, std::slice::from_ref(&app), force)?;
            }
            let task_ids = selected.iter().map(|t| mesos_api::TaskId::new(t.id.clone())).collect();
            let deployed = service.kill_tasks(task_ids, scale, wipe);
            Ok((selected, deployed))
        })
        .await;
    match result {
        Some(Ok((_, Some(deployed)))) => deployment_response(StatusCode::OK, &deployed),
        Some(Ok((mut killed, None))) if single => match killed.pop() {
            Some(task) => json(StatusCode::OK, &json!({ "task": task })),
            None => error(StatusCode::NOT_FOUND, "Task does not exist"),
        },
        Some(Ok((killed, None))) => json(StatusCode::OK, &json!({ "tasks": killed })),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

/// `GET /v2/queue[?embed=lastUnusedOffers]`.
pub(super) async fn queue(State(api): State<Api>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query);
    let last_unused = query_values(&pairs, "embed").iter().any(|e| e.ends_with("lastUnusedOffers"));
    let items = api
        .service
        .read(move |service| {
            let now = service.now();
            service
                .core()
                .queue(now)
                .iter()
                .filter_map(|entry| {
                    let item = convert::queue_item(entry, last_unused);
                    match service.definition(&entry.app_id) {
                        Some(def) => Some(marathon_api::queue_item_json(def, &item)),
                        None => Some(marathon_api::output::queue_pod_item_json(service.pod(&entry.app_id)?, &item)),
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
    match items {
        Some(items) => json(StatusCode::OK, &json!({ "queue": items })),
        None => unavailable(),
    }
}

/// `DELETE /v2/queue/{id}/delay`: resets the backoff of a queued app.
pub(super) async fn queue_delay(State(api): State<Api>, method: Method, Path(path): Path<String>) -> Response {
    let Some(id) = path.strip_suffix("/delay").map(PathId::parse) else {
        return super::system::not_found().await;
    };
    if method != Method::DELETE {
        return error(StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed");
    }
    let reset = api
        .service
        .change({
            let id = id.clone();
            move |service| service.reset_delay(&AppId::new(&id.to_string()))
        })
        .await;
    match reset {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        Some(false) => error(StatusCode::NOT_FOUND, &messages::not_in_queue(&id)),
        None => unavailable(),
    }
}

/// `GET /v2/deployments`.
pub(super) async fn deployments(State(api): State<Api>) -> Response {
    let list = api
        .service
        .read(|service| {
            service
                .deployments()
                .all()
                .map(|d| {
                    let mut json = marathon_api::deployment_json(&d.info());
                    // Readiness of the apps the current step deploys.
                    if let Some(actions) = json["currentActions"].as_array_mut() {
                        for action in actions {
                            let app = AppId::new(action["app"].as_str().unwrap_or_default());
                            let results = super::render::readiness_of(service, &app);
                            action["readinessCheckResults"] = serde_json::to_value(results).unwrap_or_default();
                        }
                    }
                    json
                })
                .collect::<Vec<_>>()
        })
        .await;
    match list {
        Some(list) => json(StatusCode::OK, &serde_json::Value::Array(list)),
        None => unavailable(),
    }
}

/// `DELETE /v2/deployments/{id}`: rolls the deployment back (200 with the rollback deployment),
/// or with `force=true` only cancels it (202).
pub(super) async fn delete_deployment(
    State(api): State<Api>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let force = match query_bool(&query_pairs(query), "force", false) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    let result = api.service.change(move |service| service.cancel_deployment(&id, !force).ok_or(id)).await;
    match result {
        Some(Ok(Some(deployed))) => deployment_response(StatusCode::OK, &deployed),
        Some(Ok(None)) => StatusCode::ACCEPTED.into_response(),
        Some(Err(id)) => error(StatusCode::NOT_FOUND, &messages::deployment_not_found(&id)),
        None => unavailable(),
    }
}
