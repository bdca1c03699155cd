//! `/v2/groups`: the group tree, and changes of whole groups (nested apps and groups with
//! dependencies, `scaleBy`, rollback to a group version) deployed in dependency order.

use super::render::app_info;
use super::{Api, ApiError, bad_query, check_deployable, deployment_response, error, json, query_pairs, unavailable};
use crate::core::AppId;
use crate::groups::{GroupMeta, Tree, apply_update, remove_group};
use crate::records::GroupSnapshot;
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marathon_api::output::messages;
use marathon_api::query::query_values;
use marathon_api::{
    Embed, GroupEmbed, GroupUpdate, ParseError, PathId, group_json, parse_error_json, parse_group_update, query_bool,
};
use serde_json::{Value as Json, json};

/// What a path below `/v2/groups` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Group(PathId),
    Apps(PathId),
    Versions(PathId),
    Version(PathId, String),
}

fn target(path: &str) -> Target {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let id = |n: usize| PathId::from_segments(segments[..n].iter().copied());
    match segments.as_slice() {
        [.., "apps"] => Target::Apps(id(segments.len() - 1)),
        [.., "versions"] => Target::Versions(id(segments.len() - 1)),
        [.., "versions", version] => Target::Version(id(segments.len() - 2), (*version).to_string()),
        _ => Target::Group(PathId::parse(path)),
    }
}

fn group_not_found(id: &PathId) -> Response {
    error(StatusCode::NOT_FOUND, &messages::group_not_found(id))
}

pub(super) async fn root(State(api): State<Api>, method: Method, RawQuery(query): RawQuery, body: Bytes) -> Response {
    dispatch_target(api, method, Target::Group(PathId::root()), query_pairs(query), body).await
}

pub(super) async fn dispatch(
    State(api): State<Api>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    dispatch_target(api, method, target(&path), query_pairs(query), body).await
}

async fn dispatch_target(
    api: Api,
    method: Method,
    target: Target,
    pairs: Vec<(String, String)>,
    body: Bytes,
) -> Response {
    match (method, target) {
        (Method::GET, Target::Group(id)) => get_group(api, id, &pairs).await,
        (Method::GET, Target::Apps(id)) => get_group_apps(api, id).await,
        (Method::GET, Target::Versions(id)) => versions(api, id).await,
        (Method::GET, Target::Version(id, at)) => version(api, id, at).await,
        (Method::POST, Target::Group(id)) => change(api, id, &pairs, body, Mode::Create).await,
        (Method::PUT, Target::Group(id)) => change(api, id, &pairs, body, Mode::Update).await,
        (Method::DELETE, Target::Group(id)) => change(api, id, &pairs, body, Mode::Delete).await,
        (Method::PATCH, Target::Group(id)) => patch(api, id, body).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed"),
    }
}

/// The GroupInfo of `id` in `tree`, recursively.
fn group_info(service: &Service, tree: &Tree, id: &PathId, embed: GroupEmbed, apps_embed: Embed) -> Json {
    let apps: Vec<Json> = if embed.apps {
        tree.direct_apps(id)
            .filter_map(|d| service.definition(&AppId::new(&d.id)))
            .map(|d| app_info(service, d, apps_embed))
            .collect()
    } else {
        Vec::new()
    };
    let groups: Vec<Json> = if embed.groups {
        tree.direct_groups(id).iter().map(|g| group_info(service, tree, g, embed, apps_embed)).collect()
    } else {
        Vec::new()
    };
    let meta = tree.groups.get(id);
    let dependencies = meta.map(|m| m.dependencies.clone()).unwrap_or_default();
    let latest_app = || tree.apps_below(id).filter_map(|(_, d)| d.version).max();
    let version = if id.is_root() {
        // The root changes with everything below it: its version is the latest change's, also
        // when that was the deletion of every app and group (which leaves only the root's own).
        let groups = tree.groups.values().map(|m| m.version);
        groups.chain(latest_app()).max()
    } else {
        meta.map(|m| m.version).or_else(latest_app)
    };
    let enforce_role = meta.is_some_and(|m| m.enforce_role);
    let pods: Vec<Json> = if embed.pods {
        let now = service.now().wall;
        tree.direct_pods(id)
            .filter_map(|p| service.pod(&AppId::new(&p.to_string())))
            .map(|pod| {
                let instances = service.pod_instances(&AppId::new(&pod.id));
                serde_json::to_value(crate::pods::status(pod, &instances, now)).unwrap_or(Json::Null)
            })
            .collect()
    } else {
        Vec::new()
    };
    group_json(id, apps, groups, pods, &dependencies, version.unwrap_or_default(), enforce_role, embed)
}

async fn get_group(api: Api, id: PathId, pairs: &[(String, String)]) -> Response {
    let embed = GroupEmbed::from_query(pairs);
    let mut apps_embed = Embed::default();
    for value in query_values(pairs, "embed") {
        apps_embed.add(value);
    }
    let result = api
        .service
        .read(move |service| {
            let tree = service.tree();
            tree.group_exists(&id).then(|| group_info(service, &tree, &id, embed, apps_embed)).ok_or(id)
        })
        .await;
    match result {
        Some(Ok(group)) => json(StatusCode::OK, &group),
        Some(Err(id)) => group_not_found(&id),
        None => unavailable(),
    }
}

async fn get_group_apps(api: Api, id: PathId) -> Response {
    let result = api
        .service
        .read(move |service| {
            let tree = service.tree();
            if !tree.group_exists(&id) {
                return Err(id);
            }
            let embed = Embed { counts: true, deployments: true, ..Embed::default() };
            Ok(tree.direct_apps(&id).map(|d| app_info(service, d, embed)).collect::<Vec<_>>())
        })
        .await;
    match result {
        Some(Ok(apps)) => json(StatusCode::OK, &Json::Array(apps)),
        Some(Err(id)) => group_not_found(&id),
        None => unavailable(),
    }
}

async fn versions(api: Api, id: PathId) -> Response {
    if !super::storable(&id) {
        return group_not_found(&id);
    }
    match api.store.list_versions(store::Namespace::GROUP_VERSIONS, id.to_string()).await {
        Ok(mut versions) => {
            versions.reverse();
            json(StatusCode::OK, &json!(versions))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn load_version(api: &Api, id: &PathId, at: &str) -> Result<GroupSnapshot, Response> {
    let Some(at) = marathon_api::parse_timestamp(at).filter(|_| super::storable(id)) else {
        return Err(group_not_found(id));
    };
    let key = marathon_api::format_timestamp(at);
    match api.store.get_version(store::Namespace::GROUP_VERSIONS, id.to_string(), key).await {
        Ok(Some(bytes)) => {
            serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
        }
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            &format!("Group '{id}' does not exist in version {}", marathon_api::format_timestamp(at)),
        )),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
    }
}

async fn version(api: Api, id: PathId, at: String) -> Response {
    let snapshot = match load_version(&api, &id, &at).await {
        Ok(snapshot) => snapshot,
        Err(response) => return response,
    };
    let tree = Tree {
        apps: snapshot.apps.iter().map(|d| (d.path_id(), d.clone())).collect(),
        groups: snapshot.groups.iter().map(|(k, v)| (PathId::parse(k), v.clone())).collect(),
        pods: Default::default(),
    };
    let all = GroupEmbed { groups: true, apps: true, pods: true };
    let body = snapshot_json(&tree, &id, all);
    json(StatusCode::OK, &body)
}

/// A stored group version as GroupInfo (apps as stored, without runtime counts).
fn snapshot_json(tree: &Tree, id: &PathId, embed: GroupEmbed) -> Json {
    let apps = tree.direct_apps(id).map(|d| marathon_api::app_json(d, &marathon_api::AppExtras::default())).collect();
    let groups = tree.direct_groups(id).iter().map(|g| snapshot_json(tree, g, embed)).collect();
    let meta = tree.groups.get(id);
    let dependencies = meta.map(|m| m.dependencies.clone()).unwrap_or_default();
    let version = meta.map(|m| m.version).unwrap_or_default();
    group_json(id, apps, groups, Vec::new(), &dependencies, version, meta.is_some_and(|m| m.enforce_role), embed)
}

/// `PATCH /v2/groups/{id}` (`{"enforceRole": bool}`, absent meaning `false`, as upstream): sets
/// a top-level group's attributes without deploying anything; 200 with an empty body. The
/// apps keep their roles: the new setting decides the roles of apps created or changed later.
async fn patch(api: Api, group: PathId, body: Bytes) -> Response {
    let enforce_role = match marathon_api::parse_group_patch(&body) {
        Ok(patch) => patch.enforce_role.unwrap_or(false),
        Err(e) => return parse_failed(&e),
    };
    if group.is_root() || !group.parent().is_root() {
        let e = marathon_api::ValidationError::from_details(vec![(
            "/".to_string(),
            "Path needs to be top-level".to_string(),
        )]);
        return ApiError::Invalid(e).into_response();
    }
    let result = api
        .service
        .change(move |service| {
            if !service.tree().group_exists(&group) {
                return Err(ApiError::not_found(messages::group_not_found(&group)));
            }
            let version = crate::convert::api_time(service.now().wall);
            service.patch_group(&group, enforce_role, version);
            Ok(())
        })
        .await;
    match result {
        Some(Ok(())) => StatusCode::OK.into_response(),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
    Delete,
}

/// POST (create), PUT (create or update) and DELETE of a group.
async fn change(api: Api, path: PathId, pairs: &[(String, String)], body: Bytes, mode: Mode) -> Response {
    let (force, dry_run) = match (query_bool(pairs, "force", false), query_bool(pairs, "dryRun", false)) {
        (Ok(force), Ok(dry_run)) => (force, dry_run),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    let update = if mode == Mode::Delete {
        GroupUpdate::default()
    } else {
        match parse_group_update(&body) {
            Ok(update) => update,
            Err(e) => return parse_failed(&e),
        }
    };
    // POST /v2/groups[/{id}] names the new group in the body, relative to the path.
    let group = match (mode, &update.id) {
        (Mode::Create, Some(id)) => PathId::resolve(id, &path),
        _ => path,
    };
    let rollback = match update.version {
        Some(at) => match load_version(&api, &group, &marathon_api::format_timestamp(at)).await {
            Ok(snapshot) => Some(snapshot),
            Err(response) => return response,
        },
        None => None,
    };
    let result = api
        .service
        .change(move |service| {
            let current = service.tree();
            if mode == Mode::Create && group.is_root() {
                return Err(ApiError::Message(StatusCode::UNPROCESSABLE_ENTITY, "Group id is required".into()));
            }
            if mode == Mode::Create && current.group_exists(&group) {
                let message = format!("Group {group} is already created. Use PUT to change this group.");
                return Err(ApiError::Message(StatusCode::CONFLICT, message));
            }
            if mode != Mode::Delete && current.apps.contains_key(&group) {
                let message = format!("An app with the path {group} already exists.");
                return Err(ApiError::Message(StatusCode::CONFLICT, message));
            }
            if mode == Mode::Delete && !current.group_exists(&group) {
                return Err(ApiError::not_found(messages::group_not_found(&group)));
            }
            let mut target = current.clone();
            let version = crate::convert::api_time(service.now().wall);
            match (mode, rollback, update.scale_by) {
                (Mode::Delete, _, _) => {
                    remove_group(&mut target, &group);
                    if group.is_root() {
                        target.groups.insert(group.clone(), GroupMeta::new(version));
                    }
                }
                (_, Some(snapshot), _) => {
                    target.apps.retain(|id, _| !id.starts_with(&group) || id == &group);
                    target.groups.retain(|id, _| !id.starts_with(&group));
                    target.apps.extend(snapshot.apps.into_iter().map(|d| (d.path_id(), d)));
                    target.groups.extend(snapshot.groups.into_iter().map(|(k, v)| (PathId::parse(&k), v)));
                }
                (_, None, Some(factor)) => {
                    if !current.group_exists(&group) {
                        return Err(ApiError::not_found(messages::group_not_found(&group)));
                    }
                    if factor < 0.0 {
                        let e = marathon_api::ValidationError::object("scaleBy must not be negative");
                        return Err(ApiError::Invalid(e));
                    }
                    for (id, def) in target.apps.iter_mut() {
                        if id.starts_with(&group) {
                            def.instances = (f64::from(def.instances) * factor).ceil() as i32;
                        }
                    }
                }
                (_, None, None) => {
                    let config = service.info().normalize_config();
                    apply_update(&mut target, &group, &update, version, &config).map_err(ApiError::Invalid)?
                }
            }
            let mut touched: Vec<AppId> = current
                .apps
                .keys()
                .chain(target.apps.keys())
                .filter(|id| current.apps.get(*id) != target.apps.get(*id))
                .map(|id| AppId::new(&id.to_string()))
                .collect();
            touched.sort();
            touched.dedup();
            if dry_run {
                let plan = service.plan_tree(target, version).map_err(ApiError::Invalid)?;
                let steps: Vec<Json> = plan
                    .steps
                    .iter()
                    .map(|step| {
                        let actions: Vec<Json> = step
                            .actions
                            .iter()
                            .map(|(app, kind)| json!({"action": kind.action(), "app": app}))
                            .collect();
                        json!({ "actions": actions })
                    })
                    .collect();
                return Ok(Outcome::DryRun(json!({ "steps": steps })));
            }
            check_deployable(service, &touched, force)?;
            let deployed = service.change_tree(&group, target, version).map_err(ApiError::Invalid)?;
            Ok(Outcome::Deployed(group, deployed))
        })
        .await;
    match result {
        Some(Ok(Outcome::Deployed(group, deployed))) if mode == Mode::Create => {
            let mut response = deployment_response(StatusCode::CREATED, &deployed);
            if let Ok(value) = HeaderValue::from_str(&format!("/v2/groups{group}")) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Some(Ok(Outcome::Deployed(_, deployed))) => deployment_response(StatusCode::OK, &deployed),
        Some(Ok(Outcome::DryRun(plan))) => json(StatusCode::OK, &plan),
        Some(Err(e)) => e.into_response(),
        None => unavailable(),
    }
}

enum Outcome {
    Deployed(PathId, crate::service::Deployed),
    DryRun(Json),
}

fn parse_failed(e: &ParseError) -> Response {
    json(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST), &parse_error_json(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_groups() {
        assert_eq!(target("prod"), Target::Group(PathId::parse("/prod")));
        assert_eq!(target("prod/apps"), Target::Apps(PathId::parse("/prod")));
        assert_eq!(target("prod/versions"), Target::Versions(PathId::parse("/prod")));
        assert_eq!(target("versions"), Target::Versions(PathId::root()));
        assert_eq!(
            target("prod/versions/2026-01-01T00:00:00.000Z"),
            Target::Version(PathId::parse("/prod"), "2026-01-01T00:00:00.000Z".into())
        );
    }
}
