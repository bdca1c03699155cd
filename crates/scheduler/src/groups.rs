//! Groups: the tree apps live in (every ancestor path of an app is a group; groups created
//! through `/v2/groups` exist on their own and carry `dependencies`), how a GroupUpdate turns
//! into a target set of apps, and the dependency order in which a deployment changes them.
//!
//! Pure functions over definitions; the service applies the result.

use marathon_api::{AppDefinition, GroupUpdate, NormalizeConfig, PathId, Timestamp, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A group created through `/v2/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMeta {
    pub dependencies: Vec<PathId>,
    #[serde(with = "marathon_api::time::serde_ts")]
    pub version: Timestamp,
    /// `enforceRole` (top-level groups only): apps below default to the group's name as their
    /// role, and may have no other (but one they already have).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enforce_role: bool,
}

impl GroupMeta {
    pub fn new(version: Timestamp) -> Self {
        Self { dependencies: Vec::new(), version, enforce_role: false }
    }
}

/// What `enforceRole` may not be combined with: upstream's message when a group update changes
/// an existing group's `enforceRole` and adds, removes or changes services too.
pub const ENFORCE_ROLE_CANT_BE_CHANGED: &str = "enforceRole cannot be modified in a request that adds, removes or \
    modifies services; please make these changes in separate requests.";

/// Whether `update` changes services (apps, a rollback or a scale), here or in a subgroup.
pub fn update_modifies_services(update: &GroupUpdate) -> bool {
    update.version.is_some()
        || update.scale_by.is_some()
        || update.apps.is_some()
        || update.groups.iter().flatten().any(update_modifies_services)
}

/// The roles an app may have and the one it gets by default, as upstream's `RoleSettings`: an
/// app in the root group only `--mesos_role`; an app below a top-level group `/g` also the
/// role `g`, and only `g` (its default then) when `/g` enforces its role. A role the app has
/// already stays valid.
pub fn role_config(
    groups: &BTreeMap<PathId, GroupMeta>,
    app: &PathId,
    existing_role: Option<&str>,
    base: &NormalizeConfig,
) -> NormalizeConfig {
    let mut config = base.clone();
    let mut valid: BTreeSet<String> = BTreeSet::new();
    match top_level_of(app) {
        None => {
            valid.insert(base.default_role.clone());
        }
        Some(top) => {
            let group_role = top.segments().first().cloned().unwrap_or_default();
            if groups.get(&top).is_some_and(|g| g.enforce_role) {
                config.default_role = group_role.clone();
            } else {
                valid.insert(base.default_role.clone());
            }
            valid.insert(group_role);
        }
    }
    valid.extend(existing_role.map(str::to_string));
    config.valid_roles = Some(valid);
    config
}

/// The top-level group an app belongs to (`None` for apps in the root group).
fn top_level_of(app: &PathId) -> Option<PathId> {
    let parent = app.parent();
    let first = parent.segments().first()?.clone();
    Some(PathId::from_segments([first.as_str()]))
}

/// Apps keyed by id, and explicit groups keyed by path: the state a group change works on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    pub apps: BTreeMap<PathId, AppDefinition>,
    pub groups: BTreeMap<PathId, GroupMeta>,
    /// The pods' ids (pods are changed through `/v2/pods`; a group update keeps them, a group
    /// delete removes those below it).
    pub pods: BTreeSet<PathId>,
}

impl Tree {
    /// Every group: the explicit ones, every ancestor of an app or group, and the root.
    pub fn all_groups(&self) -> BTreeSet<PathId> {
        let mut out: BTreeSet<PathId> = [PathId::root()].into();
        let mut add_ancestors = |id: &PathId, include_self: bool| {
            let mut p = if include_self { id.clone() } else { id.parent() };
            while !p.is_root() {
                out.insert(p.clone());
                p = p.parent();
            }
        };
        for id in self.groups.keys() {
            add_ancestors(id, true);
        }
        for id in self.apps.keys().chain(&self.pods) {
            add_ancestors(id, false);
        }
        out
    }

    /// Pods directly in `group`.
    pub fn direct_pods<'a>(&'a self, group: &'a PathId) -> impl Iterator<Item = &'a PathId> + 'a {
        self.pods.iter().filter(move |id| &id.parent() == group)
    }

    pub fn group_exists(&self, id: &PathId) -> bool {
        id.is_root() || self.all_groups().contains(id)
    }

    /// Apps directly in `group`.
    pub fn direct_apps<'a>(&'a self, group: &'a PathId) -> impl Iterator<Item = &'a AppDefinition> + 'a {
        self.apps.iter().filter(move |(id, _)| &id.parent() == group).map(|(_, def)| def)
    }

    /// Groups directly in `group`.
    pub fn direct_groups(&self, group: &PathId) -> Vec<PathId> {
        self.all_groups().into_iter().filter(|g| !g.is_root() && &g.parent() == group).collect()
    }

    /// Apps in `group` or below.
    pub fn apps_below<'a>(&'a self, group: &'a PathId) -> impl Iterator<Item = (&'a PathId, &'a AppDefinition)> + 'a {
        self.apps.iter().filter(move |(id, _)| id.starts_with(group) && *id != group)
    }

    /// The dependencies of an app: its own plus those of every enclosing group, each a path of
    /// an app or a group (meaning every app below it).
    fn dependencies_of(&self, app: &PathId) -> Vec<PathId> {
        let mut deps: Vec<PathId> =
            self.apps.get(app).map(|d| d.dependencies.iter().map(|p| PathId::parse(p)).collect()).unwrap_or_default();
        let mut group = app.parent();
        loop {
            if let Some(meta) = self.groups.get(&group) {
                deps.extend(meta.dependencies.iter().cloned());
            }
            if group.is_root() {
                break;
            }
            group = group.parent();
        }
        deps
    }

    /// The apps an app depends on (dependencies on groups expanded, itself excluded).
    fn dependency_apps(&self, app: &PathId) -> BTreeSet<PathId> {
        let mut out = BTreeSet::new();
        for dep in self.dependencies_of(app) {
            if self.apps.contains_key(&dep) {
                out.insert(dep);
            } else {
                out.extend(self.apps_below(&dep).map(|(id, _)| id.clone()));
            }
        }
        out.remove(app);
        out
    }

    /// `affected` apps grouped by the length of their longest dependency path, shortest first
    /// (dependencies deploy first). Fails on a cycle.
    pub fn layers(&self, affected: &BTreeSet<PathId>) -> Result<Vec<Vec<PathId>>, ValidationError> {
        let mut depth: BTreeMap<PathId, usize> = BTreeMap::new();
        let mut visiting: BTreeSet<PathId> = BTreeSet::new();
        for app in self.apps.keys() {
            self.depth_of(app, &mut depth, &mut visiting)?;
        }
        let mut layers: BTreeMap<usize, Vec<PathId>> = BTreeMap::new();
        for app in affected {
            layers.entry(depth.get(app).copied().unwrap_or(0)).or_default().push(app.clone());
        }
        Ok(layers.into_values().collect())
    }

    fn depth_of(
        &self,
        app: &PathId,
        depth: &mut BTreeMap<PathId, usize>,
        visiting: &mut BTreeSet<PathId>,
    ) -> Result<usize, ValidationError> {
        if let Some(d) = depth.get(app) {
            return Ok(*d);
        }
        // An app that names itself is a cycle of one (a group naming an app's own group is
        // not: dependencies on groups leave the app itself out).
        let names_itself = self.apps.get(app).is_some_and(|d| d.dependencies.iter().any(|p| PathId::parse(p) == *app));
        if names_itself || !visiting.insert(app.clone()) {
            return Err(ValidationError::object("Dependency graph has cyclic dependencies."));
        }
        let mut d = 0;
        for dep in self.dependency_apps(app) {
            d = d.max(self.depth_of(&dep, depth, visiting)? + 1);
        }
        visiting.remove(app);
        depth.insert(app.clone(), d);
        Ok(d)
    }
}

/// Applies a (structural) GroupUpdate to `tree` for group `group`: listed apps replace the
/// group's direct apps, listed subgroups replace its subgroups (recursively; unlisted ones are
/// removed with everything in them), given dependencies replace the group's. Apps are
/// normalized relative to the group; ids must be children of the group.
pub fn apply_update(
    tree: &mut Tree,
    group: &PathId,
    update: &GroupUpdate,
    version: Timestamp,
    config: &NormalizeConfig,
) -> Result<(), ValidationError> {
    apply_update_in(tree, group, update, version, config, update_modifies_services(update))
}

fn apply_update_in(
    tree: &mut Tree,
    group: &PathId,
    update: &GroupUpdate,
    version: Timestamp,
    config: &NormalizeConfig,
    services_modified: bool,
) -> Result<(), ValidationError> {
    validate_group_id(group, &update.dependencies)?;
    let top_level = !group.is_root() && group.parent().is_root();
    if update.enforce_role == Some(true) && !top_level {
        return Err(ValidationError::from_details(vec![(
            "/enforceRole".to_string(),
            format!("enforceRole can only be set for top-level groups, and {group} is not top-level"),
        )]));
    }
    let existing = tree.groups.get(group).map(|m| m.enforce_role);
    if let (Some(new), Some(old)) = (update.enforce_role, existing)
        && new != old
        && services_modified
    {
        return Err(ValidationError::from_details(vec![(
            "/enforceRole".to_string(),
            ENFORCE_ROLE_CANT_BE_CHANGED.to_string(),
        )]));
    }
    let meta = tree.groups.entry(group.clone()).or_insert(GroupMeta::new(version));
    meta.version = version;
    if let Some(enforce) = update.enforce_role {
        meta.enforce_role = enforce && top_level;
    }
    if let Some(deps) = &update.dependencies {
        meta.dependencies = deps.iter().map(|d| PathId::resolve(d, group)).collect();
    }
    if let Some(apps) = &update.apps {
        let direct: Vec<PathId> = tree.direct_apps(group).map(|d| PathId::parse(&d.id)).collect();
        let mut old_roles: BTreeMap<PathId, Option<String>> = BTreeMap::new();
        for id in direct {
            if let Some(old) = tree.apps.remove(&id) {
                old_roles.insert(id, old.role);
            }
        }
        for (i, raw) in apps.iter().enumerate() {
            let id = PathId::resolve(&raw.id, group);
            let existing_role = old_roles.get(&id).cloned().flatten();
            let config = role_config(&tree.groups, &id, existing_role.as_deref(), config);
            let def = crate::support::normalize(raw.clone(), group, &config)
                .map_err(|e| prefix(e, &format!("/apps({i})")))?;
            let id = def.path_id();
            if &id.parent() != group {
                return Err(not_child(group, &format!("/apps({i})/id")));
            }
            tree.apps.insert(id, def);
        }
    }
    if let Some(subgroups) = &update.groups {
        let listed: Vec<PathId> =
            subgroups.iter().map(|g| PathId::resolve(g.id.as_deref().unwrap_or_default(), group)).collect();
        for (i, id) in listed.iter().enumerate() {
            if id.is_root() || &id.parent() != group {
                return Err(not_child(group, &format!("/groups({i})/id")));
            }
        }
        for existing in tree.direct_groups(group) {
            if !listed.contains(&existing) {
                remove_group(tree, &existing);
            }
        }
        for (i, (id, sub)) in listed.iter().zip(subgroups).enumerate() {
            apply_update_in(tree, id, sub, version, config, services_modified)
                .map_err(|e| prefix(e, &format!("/groups({i})")))?;
        }
    }
    Ok(())
}

/// A group's id and its dependencies follow the rules of app ids (upstream checks the segments;
/// the length limit is ours, see [`marathon_api::path::MAX_ID_LENGTH`]). Reserved last segments
/// are allowed for groups, as upstream.
fn validate_group_id(group: &PathId, dependencies: &Option<Vec<String>>) -> Result<(), ValidationError> {
    let allowed = |e: &marathon_api::PathIdError| {
        !matches!(e, marathon_api::PathIdError::Empty | marathon_api::PathIdError::Reserved(_))
    };
    let mut details = Vec::new();
    for error in group.validate().into_iter().filter(allowed) {
        details.push(("/id".to_string(), error.to_string()));
    }
    for (i, dep) in dependencies.iter().flatten().enumerate() {
        for error in PathId::resolve(dep, group).validate().into_iter().filter(allowed) {
            details.push((format!("/dependencies({i})"), error.to_string()));
        }
    }
    if details.is_empty() {
        return Ok(());
    }
    Err(ValidationError::from_details(details))
}

/// Removes a group with every app and group below it.
pub fn remove_group(tree: &mut Tree, group: &PathId) {
    tree.apps.retain(|id, _| !id.starts_with(group));
    tree.groups.retain(|id, _| !id.starts_with(group));
    tree.pods.retain(|id| !id.starts_with(group));
}

fn not_child(group: &PathId, path: &str) -> ValidationError {
    let mut e = ValidationError::object(format!("Identifier is not child of '{group}'"));
    e.details[0].path = path.to_string();
    e
}

fn prefix(mut e: ValidationError, prefix: &str) -> ValidationError {
    for v in &mut e.details {
        v.path = if v.path == "/" { prefix.to_string() } else { format!("{prefix}{}", v.path) };
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_api::parse_group_update;

    fn t() -> Timestamp {
        marathon_api::parse_timestamp("2026-01-01T00:00:00.000Z").expect("time")
    }

    fn tree_of(body: &str) -> Tree {
        let mut tree = Tree::default();
        let update = parse_group_update(body.as_bytes()).expect("parse");
        apply_update(&mut tree, &PathId::parse("/shop"), &update, t(), &NormalizeConfig::default()).expect("valid");
        tree
    }

    #[test]
    fn dependencies_order_the_layers() {
        let tree = tree_of(
            r#"{"groups":[
                {"id":"db","apps":[{"id":"pg","cmd":"run pg"}]},
                {"id":"backend","dependencies":["../db"],"apps":[{"id":"api","cmd":"run api"}]},
                {"id":"frontend","apps":[{"id":"web","cmd":"run web","dependencies":["/shop/backend/api"]}]}
            ]}"#,
        );
        let all: BTreeSet<PathId> = tree.apps.keys().cloned().collect();
        let layers = tree.layers(&all).expect("acyclic");
        let names: Vec<Vec<String>> = layers.iter().map(|l| l.iter().map(|p| p.to_string()).collect()).collect();
        assert_eq!(names, vec![vec!["/shop/db/pg"], vec!["/shop/backend/api"], vec!["/shop/frontend/web"]]);
        assert!(tree.group_exists(&PathId::parse("/shop/backend")));
        assert_eq!(tree.direct_groups(&PathId::parse("/shop")).len(), 3);
    }

    #[test]
    fn an_app_that_depends_on_itself_is_a_cycle() {
        let tree = tree_of(r#"{"apps":[{"id":"a","cmd":"run a","dependencies":["/shop/a"]}]}"#);
        let affected: BTreeSet<PathId> = tree.apps.keys().cloned().collect();
        let e = tree.layers(&affected).expect_err("self-dependency");
        assert_eq!(e.errors_at("/"), ["Dependency graph has cyclic dependencies."]);
    }

    #[test]
    fn cycles_are_refused() {
        let tree = tree_of(
            r#"{"apps":[{"id":"a","cmd":"run a","dependencies":["b"]},{"id":"b","cmd":"run b","dependencies":["a"]}]}"#,
        );
        let all: BTreeSet<PathId> = tree.apps.keys().cloned().collect();
        let error = tree.layers(&all).expect_err("cycle");
        assert_eq!(error.errors_at("/"), ["Dependency graph has cyclic dependencies."]);
    }

    #[test]
    fn listed_apps_and_groups_replace_the_old_ones() {
        let mut tree =
            tree_of(r#"{"apps":[{"id":"a","cmd":"run a"}],"groups":[{"id":"g","apps":[{"id":"x","cmd":"run x"}]}]}"#);
        let update = parse_group_update(br#"{"apps":[{"id":"b","cmd":"run b"}],"groups":[]}"#).expect("parse");
        apply_update(&mut tree, &PathId::parse("/shop"), &update, t(), &NormalizeConfig::default()).expect("valid");
        let ids: Vec<String> = tree.apps.keys().map(|p| p.to_string()).collect();
        assert_eq!(ids, ["/shop/b"]);
        // Apps absent from an update are kept.
        let update = parse_group_update(br#"{"dependencies":["/other"]}"#).expect("parse");
        apply_update(&mut tree, &PathId::parse("/shop"), &update, t(), &NormalizeConfig::default()).expect("valid");
        assert_eq!(tree.apps.len(), 1);
        assert_eq!(tree.groups[&PathId::parse("/shop")].dependencies, vec![PathId::parse("/other")]);
    }

    #[test]
    fn ids_must_be_children_of_their_group() {
        let mut tree = Tree::default();
        let update = parse_group_update(br#"{"apps":[{"id":"/elsewhere/a","cmd":"run a"}]}"#).expect("parse");
        let error = apply_update(&mut tree, &PathId::parse("/shop"), &update, t(), &NormalizeConfig::default())
            .expect_err("not a child");
        assert_eq!(error.errors_at("/apps(0)/id"), ["Identifier is not child of '/shop'"]);
        let update = parse_group_update(br#"{"apps":[{"id":"a","cmd":"run a","cpus":-1}]}"#).expect("parse");
        let error = apply_update(&mut tree, &PathId::parse("/shop"), &update, t(), &NormalizeConfig::default())
            .expect_err("invalid");
        assert!(!error.errors_at("/apps(0)/cpus").is_empty(), "{error:?}");
    }

    #[test]
    fn an_enforcing_top_level_group_gives_its_role_and_allows_no_other() {
        let mut tree = Tree::default();
        let base = NormalizeConfig::default();
        let update = parse_group_update(br#"{"enforceRole":true,"apps":[{"id":"web","cmd":"run"}]}"#).expect("parse");
        apply_update(&mut tree, &PathId::parse("/prod"), &update, t(), &base).expect("valid");
        assert!(tree.groups[&PathId::parse("/prod")].enforce_role);
        assert_eq!(tree.apps[&PathId::parse("/prod/web")].role.as_deref(), Some("prod"));
        let config = role_config(&tree.groups, &PathId::parse("/prod/sub/x"), None, &base);
        assert_eq!((config.default_role.as_str(), config.valid_roles), ("prod", Some(["prod".to_string()].into())));
        // Not enforcing: the default role, and the group's role is valid too; at the root only
        // the default; a role an app has stays valid.
        let config = role_config(&tree.groups, &PathId::parse("/dev/x"), None, &base);
        assert_eq!(config.default_role, "*");
        assert_eq!(config.valid_roles, Some(["*".to_string(), "dev".to_string()].into()));
        let config = role_config(&tree.groups, &PathId::parse("/x"), Some("old"), &base);
        assert_eq!(config.valid_roles, Some(["*".to_string(), "old".to_string()].into()));
    }

    #[test]
    fn only_top_level_groups_enforce_roles_and_not_together_with_service_changes() {
        let mut tree = Tree::default();
        let base = NormalizeConfig::default();
        let nested = parse_group_update(br#"{"groups":[{"id":"b","enforceRole":true}]}"#).expect("parse");
        let error = apply_update(&mut tree, &PathId::parse("/a"), &nested, t(), &base).expect_err("nested");
        assert_eq!(error.details[0].path, "/groups(0)/enforceRole");
        let create = parse_group_update(br#"{"enforceRole":true}"#).expect("parse");
        apply_update(&mut tree, &PathId::parse("/a"), &create, t(), &base).expect("top-level");
        let both = parse_group_update(br#"{"enforceRole":false,"apps":[]}"#).expect("parse");
        let error = apply_update(&mut tree.clone(), &PathId::parse("/a"), &both, t(), &base).expect_err("both");
        assert_eq!(error.details[0].errors, [ENFORCE_ROLE_CANT_BE_CHANGED]);
        let same = parse_group_update(br#"{"enforceRole":true,"apps":[]}"#).expect("parse");
        apply_update(&mut tree, &PathId::parse("/a"), &same, t(), &base).expect("unchanged");
    }
}
