//! `/v2/apps`: list, create, update, delete, restart, tasks and versions of apps.

use super::render::{app_body, app_info, apps_body, tasks_body};
use super::{
    Api, ApiError, bad_query, check_deployable, deployment_response, error, json, json_bytes, query_pairs, unavailable,
};
use crate::core::AppId;
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marathon_api::events::Event;
use marathon_api::output::messages;
use marathon_api::query::query_value;
use marathon_api::{
    AppDefinition, AppUpdate, Embed, LabelSelector, ParseError, PathId, ValidationError, apply_update, parse_app,
    parse_app_update, parse_app_updates, parse_error_json, query_bool, validation_error_json,
};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;

/// What a path below `/v2/apps/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    App(PathId),
    /// `{group}/*`: every app below the group.
    Group(PathId),
    Restart(PathId),
    Tasks(PathId),
    Task(PathId, String),
    Versions(PathId),
    Version(PathId, String),
}

fn target(path: &str) -> Target {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let id = |n: usize| PathId::from_segments(segments[..n].iter().copied());
    match segments.as_slice() {
        [.., "*"] => Target::Group(id(segments.len() - 1)),
        [_, .., "restart"] => Target::Restart(id(segments.len() - 1)),
        [_, .., "tasks"] => Target::Tasks(id(segments.len() - 1)),
        [_, .., "tasks", task] => Target::Task(id(segments.len() - 2), (*task).to_string()),
        [_, .., "versions"] => Target::Versions(id(segments.len() - 1)),
        [_, .., "versions", version] => Target::Version(id(segments.len() - 2), (*version).to_string()),
        _ => Target::App(PathId::parse(path)),
    }
}

fn app_id(id: &PathId) -> AppId {
    AppId::new(&id.to_string())
}

fn parse_failed(e: &ParseError) -> Response {
    json(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST), &parse_error_json(e))
}

fn invalid(e: &ValidationError) -> Response {
    json(StatusCode::UNPROCESSABLE_ENTITY, &validation_error_json(e))
}

fn app_not_found(id: &PathId) -> Response {
    error(StatusCode::NOT_FOUND, &messages::app_not_found(id, None))
}

/// `GET /v2/apps`: every app matching `cmd`, `id` and `label`, with counts and deployments.
pub(super) async fn list(State(api): State<Api>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query);
    let embed = Embed::from_query(&pairs).with(Embed { counts: true, deployments: true, ..Embed::default() });
    let cmd = query_value(&pairs, "cmd").map(str::to_lowercase);
    let id = query_value(&pairs, "id").map(str::to_lowercase);
    let label = match query_value(&pairs, "label").map(LabelSelector::parse).transpose() {
        Ok(label) => label,
        Err(e) => return bad_query(&e),
    };
    let body = api
        .service
        .read(move |service| {
            let apps: Vec<_> = service
                .rendered_apps()
                .filter(|(_, def, _)| {
                    cmd.as_ref().is_none_or(|c| def.cmd.as_ref().is_some_and(|cmd| cmd.to_lowercase().contains(c)))
                })
                .filter(|(_, def, _)| id.as_ref().is_none_or(|i| def.id.to_lowercase().contains(i)))
                .filter(|(_, def, _)| label.as_ref().is_none_or(|l| l.matches(&def.labels)))
                .map(|(id, _, rendered)| (id, rendered))
                .collect();
            apps_body(service, "apps", &apps, embed)
        })
        .await;
    match body {
        Some(body) => json_bytes(StatusCode::OK, body),
        None => unavailable(),
    }
}

/// Who posted an app (`api_post_event`).
#[derive(Debug, Clone)]
struct Poster {
    client_ip: String,
    uri: String,
}

impl Poster {
    fn new(remote: SocketAddr, uri: &axum::http::Uri) -> Self {
        Self { client_ip: remote.ip().to_string(), uri: uri.path().to_string() }
    }

    /// Publishes `api_post_event` with the app as the API now shows it.
    fn publish(self, service: &mut Service, app: &AppId) {
        let Some(def) = service.definition(app) else { return };
        let app_definition = marathon_api::app_json(def, &marathon_api::AppExtras::default());
        service.publish(Event::ApiPost { client_ip: self.client_ip, uri: self.uri, app_definition });
    }
}

/// `POST /v2/apps`: creates an app; 409 if it exists.
pub(super) async fn create(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let poster = Poster::new(remote, &uri);
    let force = match query_bool(&query_pairs(query), "force", false) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    let raw = match parse_app(&body) {
        Ok(raw) => raw,
        Err(e) => return parse_failed(&e),
    };
    let id = PathId::resolve(&raw.id, &PathId::root());
    let created = api
        .service
        .change(move |service| {
            let config = service.normalize_config_for(&id);
            let def = crate::support::normalize(raw, &PathId::root(), &config).map_err(ApiError::Invalid)?;
            let id = def.path_id();
            let app = app_id(&id);
            if service.definition(&app).is_some() {
                return Err(ApiError::Message(StatusCode::CONFLICT, messages::app_exists(&id)));
            }
            check_deployable(service, std::slice::from_ref(&app), force)?;
            let deployed =
                service.put_apps(vec![def], |service| poster.publish(service, &app)).map_err(ApiError::Invalid)?;
            let embed = Embed { counts: true, deployments: true, ..Embed::default() };
            let body = service.definition(&app).map(|def| app_info(service, def, embed)).unwrap_or(Json::Null);
            Ok((id, deployed, body))
        })
        .await;
    match created {
        Some(Ok((id, deployed, body))) => {
            let mut response = deployment_response(StatusCode::CREATED, &deployed);
            *response.body_mut() = axum::body::Body::from(serde_json::to_vec(&body).unwrap_or_default());
            set_location(&mut response, &id);
            response
        }
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

fn set_location(response: &mut Response, id: &PathId) {
    if let Ok(value) = HeaderValue::from_str(&format!("/v2/apps{id}")) {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

/// `PUT /v2/apps`: creates or updates every app of the body in one deployment.
pub(super) async fn put_many(State(api): State<Api>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    update_many(api, query, body, false).await
}

/// `PATCH /v2/apps`: updates existing apps (404 if one does not exist).
pub(super) async fn patch_many(State(api): State<Api>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    update_many(api, query, body, true).await
}

async fn update_many(api: Api, query: Option<String>, body: Bytes, existing_only: bool) -> Response {
    let pairs = query_pairs(query);
    let (partial, force) = match (query_bool(&pairs, "partialUpdate", true), query_bool(&pairs, "force", false)) {
        (Ok(partial), Ok(force)) => (partial || existing_only, force),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    let updates = match parse_app_updates(&body) {
        Ok(updates) => updates,
        Err(e) => return parse_failed(&e),
    };
    let mut normalized = Vec::new();
    for update in updates {
        if update.id.is_none() {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "requirement failed: App Update must have app id set");
        }
        match update.normalize(&PathId::root()) {
            Ok(update) => normalized.push(update),
            Err(e) => return invalid(&e),
        }
    }
    let result = api
        .service
        .change(move |service| {
            let mut defs = Vec::new();
            for update in normalized {
                let id = PathId::parse(update.id.as_deref().unwrap_or_default());
                let existing = service.definition(&app_id(&id));
                if existing_only && existing.is_none() {
                    return Err(ApiError::not_found(messages::app_not_found(&id, None)));
                }
                defs.push(updated_definition(service, &id, &update, partial)?);
            }
            let ids: Vec<AppId> = defs.iter().map(|d| AppId::new(&d.id)).collect();
            check_deployable(service, &ids, force)?;
            service.put_apps(defs, |_| {}).map_err(ApiError::Invalid)
        })
        .await;
    match result {
        Some(Ok(deployed)) => deployment_response(StatusCode::OK, &deployed),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

/// The definition `update` makes of app `id` (validated), without storing it.
fn updated_definition(
    service: &Service,
    id: &PathId,
    update: &AppUpdate,
    partial: bool,
) -> Result<AppDefinition, ApiError> {
    let existing = service.definition(&app_id(id));
    let base = match existing {
        Some(def) if partial => def.clone(),
        _ => AppDefinition::with_id(id.to_string()),
    };
    let mut merged = apply_update(&base, update);
    merged.id = id.to_string();
    let config = service.normalize_config_for(id);
    let mut def = crate::support::normalize(merged, &PathId::root(), &config).map_err(ApiError::Invalid)?;
    if let Some(existing) = existing {
        def.version_info = existing.version_info;
    }
    Ok(def)
}

/// Every route below `/v2/apps/`.
pub(super) async fn dispatch(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let pairs = query_pairs(query);
    match (method, target(&path)) {
        (Method::GET, Target::App(id)) => get_app(api, id, &pairs).await,
        (Method::GET, Target::Group(group)) => get_group_apps(api, group, &pairs).await,
        (Method::PUT, Target::App(id)) => put_app(api, id, &pairs, body, false, Poster::new(remote, &uri)).await,
        (Method::PATCH, Target::App(id)) => put_app(api, id, &pairs, body, true, Poster::new(remote, &uri)).await,
        (Method::DELETE, Target::App(id)) => delete_app(api, id, &pairs).await,
        (Method::POST, Target::Restart(id)) => restart_app(api, id, &pairs).await,
        (Method::GET, Target::Tasks(id)) => get_tasks(api, id).await,
        (Method::DELETE, Target::Tasks(id)) => super::tasks::kill_app_tasks(api, id, None, &pairs).await,
        (Method::DELETE, Target::Task(id, task)) => super::tasks::kill_app_tasks(api, id, Some(task), &pairs).await,
        (Method::GET, Target::Versions(id)) => versions(api, id).await,
        (Method::GET, Target::Version(id, at)) => version(api, id, at).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed"),
    }
}

/// `GET /v2/apps/{id}`: the app with tasks, counts, deployments and last failure.
async fn get_app(api: Api, id: PathId, pairs: &[(String, String)]) -> Response {
    let embed = Embed::from_query(pairs).with(Embed {
        counts: true,
        deployments: true,
        tasks: true,
        last_task_failure: true,
        ..Embed::default()
    });
    let body = api
        .service
        .read(move |service| {
            let app = app_id(&id);
            match service.rendered_app(&app) {
                Some((_, rendered)) => Ok(app_body(service, &app, rendered, embed)),
                None => Err(id),
            }
        })
        .await;
    match body {
        Some(Ok(body)) => json_bytes(StatusCode::OK, body),
        Some(Err(id)) => app_not_found(&id),
        None => unavailable(),
    }
}

/// `GET /v2/apps/{group}/*`: every app below the group.
async fn get_group_apps(api: Api, group: PathId, pairs: &[(String, String)]) -> Response {
    let embed = Embed::from_query(pairs).with(Embed { counts: true, deployments: true, ..Embed::default() });
    let body = api
        .service
        .read(move |service| {
            if !service.group_exists(&group) {
                return Err(group);
            }
            let apps: Vec<_> = service
                .rendered_apps()
                .filter(|(_, def, _)| def.path_id().starts_with(&group))
                .map(|(id, _, rendered)| (id, rendered))
                .collect();
            Ok(apps_body(service, "*", &apps, embed))
        })
        .await;
    match body {
        Some(Ok(body)) => json_bytes(StatusCode::OK, body),
        Some(Err(group)) => error(StatusCode::NOT_FOUND, &messages::group_not_found(&group)),
        None => unavailable(),
    }
}

/// `PUT`/`PATCH /v2/apps/{id}`: updates (or, for PUT, creates) an app; a body with only
/// `version` rolls the app back to that stored version.
async fn put_app(
    api: Api,
    id: PathId,
    pairs: &[(String, String)],
    body: Bytes,
    patch: bool,
    poster: Poster,
) -> Response {
    let (partial, force) = match (query_bool(pairs, "partialUpdate", true), query_bool(pairs, "force", false)) {
        (Ok(partial), Ok(force)) => (partial || patch, force),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    let update = match parse_app_update(&body).map(|u| u.normalize(&id.parent())) {
        Ok(Ok(update)) => update,
        Ok(Err(e)) => return invalid(&e),
        Err(e) => return parse_failed(&e),
    };
    let rollback = match update.rollback_version() {
        None => None,
        Some(version) if !super::storable(&id) => {
            return error(StatusCode::NOT_FOUND, &messages::app_not_found(&id, Some(version)));
        }
        Some(version) => {
            let key = marathon_api::format_timestamp(version);
            match api.store.get_version(store::Namespace::APP_VERSIONS, id.to_string(), key).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<AppDefinition>(&bytes) {
                    Ok(def) => Some(def),
                    Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
                },
                Ok(None) => {
                    return error(StatusCode::NOT_FOUND, &messages::app_not_found(&id, Some(version)));
                }
                Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
    };
    let result = api
        .service
        .change(move |service| {
            let exists = service.definition(&app_id(&id)).is_some();
            if patch && !exists {
                return Err(ApiError::not_found(messages::app_not_found(&id, None)));
            }
            let def = match rollback {
                Some(def) => def,
                None => updated_definition(service, &id, &update, partial)?,
            };
            let app = app_id(&id);
            check_deployable(service, std::slice::from_ref(&app), force)?;
            let deployed =
                service.put_apps(vec![def], |service| poster.publish(service, &app)).map_err(ApiError::Invalid)?;
            Ok((deployed, exists, id))
        })
        .await;
    match result {
        Some(Ok((deployed, true, _))) => deployment_response(StatusCode::OK, &deployed),
        Some(Ok((deployed, false, id))) => {
            let mut response = deployment_response(StatusCode::CREATED, &deployed);
            set_location(&mut response, &id);
            response
        }
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

/// `DELETE /v2/apps/{id}` (`force` defaults to true here, as upstream).
async fn delete_app(api: Api, id: PathId, pairs: &[(String, String)]) -> Response {
    let force = match query_bool(pairs, "force", true) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    deploying(api, id, force, |service, app| service.delete_app(app)).await
}

async fn restart_app(api: Api, id: PathId, pairs: &[(String, String)]) -> Response {
    let force = match query_bool(pairs, "force", false) {
        Ok(force) => force,
        Err(e) => return bad_query(&e),
    };
    deploying(api, id, force, |service, app| service.restart_app(app)).await
}

/// Runs a deployment-producing change of one existing app: 404 if it does not exist, 409/403
/// if it may not deploy now.
async fn deploying(
    api: Api,
    id: PathId,
    force: bool,
    change: impl FnOnce(&mut Service, &AppId) -> Option<crate::service::Deployed> + Send + 'static,
) -> Response {
    let result = api
        .service
        .change(move |service| {
            let app = app_id(&id);
            if service.definition(&app).is_none() {
                return Err(ApiError::not_found(messages::app_not_found(&id, None)));
            }
            check_deployable(service, std::slice::from_ref(&app), force)?;
            change(service, &app).ok_or_else(|| ApiError::not_found(messages::app_not_found(&id, None)))
        })
        .await;
    match result {
        Some(Ok(deployed)) => deployment_response(StatusCode::OK, &deployed),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

/// `GET /v2/apps/{id}/tasks` (and `{group}/*/tasks`).
async fn get_tasks(api: Api, id: PathId) -> Response {
    let group = id.segments().last().is_some_and(|s| s == "*").then(|| id.parent());
    let body = api
        .service
        .read(move |service| match group {
            Some(group) => {
                let apps = service.rendered_apps().filter(|(_, def, _)| def.path_id().starts_with(&group));
                Ok(tasks_body(service, apps.map(|(id, _, _)| id), false, |_| true))
            }
            None => {
                let app = app_id(&id);
                match service.definition(&app) {
                    Some(_) => Ok(tasks_body(service, std::iter::once(&app), false, |_| true)),
                    None => Err(id),
                }
            }
        })
        .await;
    match body {
        Some(Ok(body)) => json_bytes(StatusCode::OK, body),
        Some(Err(id)) => app_not_found(&id),
        None => unavailable(),
    }
}

/// `GET /v2/apps/{id}/versions`: newest first.
async fn versions(api: Api, id: PathId) -> Response {
    let exists = api.service.read({
        let id = id.clone();
        move |service| service.definition(&app_id(&id)).is_some()
    });
    match exists.await {
        Some(true) => {}
        Some(false) => return app_not_found(&id),
        None => return unavailable(),
    }
    match api.store.list_versions(store::Namespace::APP_VERSIONS, id.to_string()).await {
        Ok(mut versions) => {
            versions.reverse();
            json(StatusCode::OK, &json!({ "versions": versions }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// `GET /v2/apps/{id}/versions/{version}`: the definition as stored then.
async fn version(api: Api, id: PathId, version: String) -> Response {
    let Some(at) = marathon_api::parse_timestamp(&version).filter(|_| super::storable(&id)) else {
        return error(StatusCode::NOT_FOUND, &messages::app_not_found(&id, None));
    };
    let key = marathon_api::format_timestamp(at);
    match api.store.get_version(store::Namespace::APP_VERSIONS, id.to_string(), key).await {
        Ok(Some(bytes)) => match serde_json::from_slice::<AppDefinition>(&bytes) {
            Ok(def) => json(StatusCode::OK, &marathon_api::app_json(&def, &marathon_api::AppExtras::default())),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Ok(None) => error(StatusCode::NOT_FOUND, &messages::app_not_found(&id, Some(at))),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_apps_name_apps_tasks_and_versions() {
        let p = PathId::parse;
        assert_eq!(target("prod/web"), Target::App(p("/prod/web")));
        assert_eq!(target("prod/*"), Target::Group(p("/prod")));
        assert_eq!(target("*"), Target::Group(PathId::root()));
        assert_eq!(target("web/restart"), Target::Restart(p("/web")));
        assert_eq!(target("prod/web/tasks"), Target::Tasks(p("/prod/web")));
        assert_eq!(target("web/tasks/web.instance-1._app.1"), Target::Task(p("/web"), "web.instance-1._app.1".into()));
        assert_eq!(target("web/versions"), Target::Versions(p("/web")));
        assert_eq!(
            target("web/versions/2026-01-01T00:00:00.000Z"),
            Target::Version(p("/web"), "2026-01-01T00:00:00.000Z".into())
        );
        // A reserved word in the middle of an id is part of the id.
        assert_eq!(target("tasks/web"), Target::App(p("/tasks/web")));
    }
}
