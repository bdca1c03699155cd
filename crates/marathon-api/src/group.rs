//! Groups (`/v2/groups`, §1.4): the GroupUpdate request body and the GroupInfo response.

use crate::app::AppDefinition;
use crate::error::{ParseError, Violation};
use crate::path::PathId;
use crate::query::GroupEmbed;
use crate::time::{Timestamp, format_timestamp, parse_timestamp};
use serde_json::{Map, Value as Json, json};

/// A GroupUpdate: what `POST`/`PUT /v2/groups[/{id}]` send. Every field is optional; `apps` and
/// `groups`, when given, replace the group's apps and subgroups (listed apps are full
/// definitions). Ids are raw (relative to the enclosing group) until resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupUpdate {
    pub id: Option<String>,
    pub apps: Option<Vec<AppDefinition>>,
    pub groups: Option<Vec<GroupUpdate>>,
    pub dependencies: Option<Vec<String>>,
    /// Every app below gets `instances = ceil(instances * scaleBy)`.
    pub scale_by: Option<f64>,
    /// Roll the group back to this stored version.
    pub version: Option<Timestamp>,
    pub enforce_role: Option<bool>,
}

/// Parses a GroupUpdate body: 400 for bad JSON, 422 (`details` with paths such as
/// `/groups(0)/apps(1)/cpus`) for wrong types.
pub fn parse_group_update(body: &[u8]) -> Result<GroupUpdate, ParseError> {
    let value: Json = serde_json::from_slice(body).map_err(|e| ParseError::Syntax(e.to_string()))?;
    GroupUpdate::from_json(value, "")
}

impl GroupUpdate {
    fn from_json(value: Json, at: &str) -> Result<Self, ParseError> {
        let Json::Object(mut map) = value else {
            return Err(types(at, "error.expected.jsobject"));
        };
        let mut update = GroupUpdate::default();
        match map.remove("id") {
            None | Some(Json::Null) => {}
            Some(Json::String(id)) => update.id = Some(id),
            Some(_) => return Err(types(&format!("{at}/id"), "error.expected.jsstring")),
        }
        match map.remove("apps") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                let mut apps = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    apps.push(AppDefinition::from_json(item).map_err(|e| prefixed(e, &format!("{at}/apps({i})")))?);
                }
                update.apps = Some(apps);
            }
            Some(_) => return Err(types(&format!("{at}/apps"), "error.expected.jsarray")),
        }
        match map.remove("groups") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                let mut groups = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    groups.push(GroupUpdate::from_json(item, &format!("{at}/groups({i})"))?);
                }
                update.groups = Some(groups);
            }
            Some(_) => return Err(types(&format!("{at}/groups"), "error.expected.jsarray")),
        }
        match map.remove("dependencies") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                let mut deps = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Json::String(dep) => deps.push(dep),
                        _ => return Err(types(&format!("{at}/dependencies({i})"), "error.expected.jsstring")),
                    }
                }
                update.dependencies = Some(deps);
            }
            Some(_) => return Err(types(&format!("{at}/dependencies"), "error.expected.jsarray")),
        }
        match map.remove("scaleBy") {
            None | Some(Json::Null) => {}
            Some(Json::Number(n)) => update.scale_by = n.as_f64(),
            Some(_) => return Err(types(&format!("{at}/scaleBy"), "error.expected.jsnumber")),
        }
        match map.remove("version") {
            None | Some(Json::Null) => {}
            Some(Json::String(v)) => match parse_timestamp(&v) {
                Some(t) => update.version = Some(t),
                None => return Err(types(&format!("{at}/version"), "error.expected.date.isoformat")),
            },
            Some(_) => return Err(types(&format!("{at}/version"), "error.expected.date.isoformat")),
        }
        match map.remove("enforceRole") {
            None | Some(Json::Null) => {}
            Some(Json::Bool(b)) => update.enforce_role = Some(b),
            Some(_) => return Err(types(&format!("{at}/enforceRole"), "error.expected.jsboolean")),
        }
        Ok(update)
    }
}

/// A GroupPartialUpdate: what `PATCH /v2/groups/{id}` sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPatch {
    pub enforce_role: Option<bool>,
}

/// Parses a GroupPartialUpdate body: 400 for bad JSON, 422 for a wrong type or a field other
/// than `enforceRole` (the only one upstream's GroupPartialUpdate has; nothing is ignored).
pub fn parse_group_patch(body: &[u8]) -> Result<GroupPatch, ParseError> {
    let value: Json = serde_json::from_slice(body).map_err(|e| ParseError::Syntax(e.to_string()))?;
    let Json::Object(mut map) = value else {
        return Err(types("", "error.expected.jsobject"));
    };
    let mut patch = GroupPatch::default();
    match map.remove("enforceRole") {
        None | Some(Json::Null) => {}
        Some(Json::Bool(b)) => patch.enforce_role = Some(b),
        Some(_) => return Err(types("/enforceRole", "error.expected.jsboolean")),
    }
    if let Some(key) = map.keys().next() {
        return Err(types(&format!("/{key}"), "error.path.unknown: a group patch sets only enforceRole"));
    }
    Ok(patch)
}

fn types(path: &str, error: &str) -> ParseError {
    let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
    ParseError::Types(vec![Violation { path, errors: vec![error.to_string()] }])
}

fn prefixed(error: ParseError, prefix: &str) -> ParseError {
    match error {
        ParseError::Types(violations) => ParseError::Types(
            violations
                .into_iter()
                .map(|v| Violation { path: format!("{prefix}{}", if v.path == "/" { "" } else { &v.path }), ..v })
                .collect(),
        ),
        other => other,
    }
}

/// The GroupInfo JSON (`{"id","apps","groups","pods","dependencies","version"}`) with what
/// `embed` asks for. `enforceRole` is written only when it is `true`: marathon-python's strict
/// group model rejects the key, and `false` (every group it can make) is what its absence means.
#[allow(clippy::too_many_arguments)]
pub fn group_json(
    id: &PathId,
    apps: Vec<Json>,
    groups: Vec<Json>,
    pods: Vec<Json>,
    dependencies: &[PathId],
    version: Timestamp,
    enforce_role: bool,
    embed: GroupEmbed,
) -> Json {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    if embed.apps {
        out.insert("apps".into(), Json::Array(apps));
    }
    if embed.groups {
        out.insert("groups".into(), Json::Array(groups));
    }
    if embed.pods {
        out.insert("pods".into(), Json::Array(pods));
    }
    out.insert("dependencies".into(), json!(dependencies));
    out.insert("version".into(), json!(format_timestamp(version)));
    if enforce_role {
        out.insert("enforceRole".into(), json!(true));
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_groups_and_apps_parse_with_paths_in_errors() {
        let update = parse_group_update(
            br#"{"id":"prod","dependencies":["../db"],"apps":[{"id":"web","cmd":"sleep 1"}],
                 "groups":[{"id":"db","apps":[{"id":"pg","cmd":"postgres"}]}],"scaleBy":2}"#,
        )
        .expect("valid");
        assert_eq!(update.id.as_deref(), Some("prod"));
        assert_eq!(update.apps.as_ref().map(Vec::len), Some(1));
        assert_eq!(update.groups.as_ref().and_then(|g| g[0].apps.as_ref()).map(|a| a[0].id.clone()), Some("pg".into()));
        assert_eq!(update.scale_by, Some(2.0));
        let error = parse_group_update(br#"{"groups":[{"apps":[{"id":"x","cpus":"lots"}]}]}"#).expect_err("types");
        let ParseError::Types(violations) = error else { panic!("{error:?}") };
        assert_eq!(violations[0].path, "/groups(0)/apps(0)/cpus");
        assert!(matches!(parse_group_update(b"{"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn group_json_embeds_what_is_asked() {
        let t = parse_timestamp("2026-01-01T00:00:00.000Z").expect("time");
        let all = GroupEmbed { groups: true, apps: true, pods: true };
        let json = group_json(&PathId::parse("/prod"), vec![], vec![], vec![], &[PathId::parse("/db")], t, false, all);
        assert_eq!(
            json,
            json!({"id":"/prod","apps":[],"groups":[],"pods":[],"dependencies":["/db"],"version":"2026-01-01T00:00:00.000Z"})
        );
        let none = GroupEmbed { groups: false, apps: false, pods: false };
        let json = group_json(&PathId::root(), vec![], vec![], vec![], &[], t, true, none);
        assert_eq!(json["enforceRole"], true);
        assert!(json.get("apps").is_none() && json.get("groups").is_none());
    }
}
