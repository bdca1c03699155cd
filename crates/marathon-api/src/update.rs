//! Partial updates (`PUT`/`PATCH /v2/apps/{id}`, `PUT`/`PATCH /v2/apps`).

use crate::app::*;
use crate::error::{ValidationError, Violations};
use crate::normalize::{migrate_container, translate_networks};
use crate::path::PathId;
use crate::time::{Timestamp, serde_ts};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// An AppUpdate: every App field, all optional. `Some` replaces the existing value wholesale
/// (no deep merge: a given `container` replaces the whole container).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_resources: Option<ExecutorResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, EnvValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, SecretDef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_ports: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<Network>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<Vec<Artifact>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<Vec<AppHealthCheck>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_checks: Option<Vec<ReadinessCheck>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_launch_delay_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_strategy: Option<UnreachableStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_selection: Option<KillSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<Residency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Rollback: replace the app by its stored definition of this version (only with `id`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub version: Option<Timestamp>,
}

impl AppUpdate {
    /// The version to roll back to, if this update is a rollback.
    pub fn rollback_version(&self) -> Option<Timestamp> {
        self.version
    }

    /// Validates and canonicalises an update before it is applied: `id` is resolved against
    /// `base`, the rollback rule is checked (path `/`: `The 'version' field may only be combined
    /// with the 'id' field.`), and deprecated fields are translated to their canonical forms
    /// (`uris` → `fetch`, `ports` → `portDefinitions`, `ipAddress` and
    /// `container.docker.network` → `networks` (an `ipAddress.networkName` of `mesos-bridge`
    /// means bridge networking), `container.docker.portMappings` → `container.portMappings`).
    /// Relative `dependencies` are kept: [`crate::normalize()`] resolves them against the app's
    /// parent, as for a new app.
    pub fn normalize(mut self, base: &PathId) -> Result<AppUpdate, ValidationError> {
        if let Some(id) = &self.id {
            self.id = Some(PathId::resolve(id, base).to_string());
        }
        if self.version.is_some() && !self.only_id_and_version() {
            return Err(ValidationError::object("The 'version' field may only be combined with the 'id' field."));
        }
        self.migrate()
    }

    fn only_id_and_version(&self) -> bool {
        match serde_json::to_value(self) {
            Ok(Json::Object(fields)) => fields.keys().all(|k| k == "id" || k == "version"),
            _ => false,
        }
    }

    fn migrate(mut self) -> Result<AppUpdate, ValidationError> {
        let mut v = Violations::default();
        if let Some(uris) = self.uris.take().filter(|u| !u.is_empty()) {
            if self.fetch.as_ref().is_some_and(|f| !f.is_empty()) {
                v.add("/", "cannot specify both uris and fetch fields");
            } else {
                self.fetch = Some(uris.iter().map(|u| Artifact::from_uri(u)).collect());
            }
        }
        let docker_network = self.container.as_ref().and_then(|c| c.docker.as_ref()).and_then(|d| d.network);
        if self.ip_address.is_some() || docker_network.is_some() {
            let networks = self.networks.clone().filter(|n| !n.is_empty());
            match translate_networks(self.ip_address.as_ref(), docker_network, networks, "mesos-bridge") {
                Ok(networks) => self.networks = networks,
                Err(message) => v.add("/", message),
            }
        }
        let discovery = self.ip_address.as_ref().and_then(|ip| ip.discovery.clone());
        let container = self.container.take().or_else(|| self.ip_address.as_ref().map(|_| Container::mesos()));
        self.container = match container.map(|c| migrate_container(c, discovery.as_ref())) {
            Some(Ok(c)) => Some(c),
            Some(Err(message)) => {
                v.add("/", message);
                None
            }
            None => None,
        };
        self.ip_address = None;
        if self.port_definitions.is_none() {
            self.port_definitions = self.ports.take().map(|ports| ports.into_iter().map(PortDefinition::new).collect());
        }
        self.ports = None;
        v.into_result().map(|()| self)
    }
}

/// Applies a partial update to an existing (normalized) definition, like upstream's
/// `AppUpdate + AppDefinition → App`: every field given in `update` replaces the existing one,
/// `id`, `version` and `versionInfo` stay. Deprecated update fields are translated first (see
/// [`AppUpdate::normalize`]); if they conflict they are passed through for
/// [`crate::normalize()`] to report.
///
/// The result is a *raw* definition: run it through [`crate::normalize()`] (which re-applies
/// defaults and validates). For `PUT /v2/apps/{id}` creating an app, or with
/// `partialUpdate=false`, apply the update to [`AppDefinition::with_id`] instead of the existing
/// app. Rollbacks ([`AppUpdate::rollback_version`]) are the caller's business.
pub fn apply_update(existing: &AppDefinition, update: &AppUpdate) -> AppDefinition {
    let u = update.clone().migrate().unwrap_or_else(|_| update.clone());
    let e = existing.clone();
    AppDefinition {
        id: e.id,
        cmd: u.cmd.or(e.cmd),
        args: u.args.unwrap_or(e.args),
        user: u.user.or(e.user),
        instances: u.instances.unwrap_or(e.instances),
        cpus: u.cpus.unwrap_or(e.cpus),
        mem: u.mem.unwrap_or(e.mem),
        disk: u.disk.unwrap_or(e.disk),
        gpus: u.gpus.unwrap_or(e.gpus),
        resource_limits: u.resource_limits.or(e.resource_limits),
        executor: u.executor.unwrap_or(e.executor),
        executor_resources: u.executor_resources.or(e.executor_resources),
        env: u.env.unwrap_or(e.env),
        secrets: u.secrets.unwrap_or(e.secrets),
        labels: u.labels.unwrap_or(e.labels),
        constraints: u.constraints.unwrap_or(e.constraints),
        accepted_resource_roles: u.accepted_resource_roles.or(e.accepted_resource_roles),
        role: u.role.or(e.role),
        ports: u.ports.or(e.ports),
        port_definitions: u.port_definitions.or(e.port_definitions),
        require_ports: u.require_ports.unwrap_or(e.require_ports),
        networks: u.networks.unwrap_or(e.networks),
        container: u.container.or(e.container),
        ip_address: u.ip_address.or(e.ip_address),
        fetch: u.fetch.unwrap_or(e.fetch),
        uris: u.uris.or(e.uris),
        health_checks: u.health_checks.unwrap_or(e.health_checks),
        check: u.check.or(e.check),
        readiness_checks: u.readiness_checks.unwrap_or(e.readiness_checks),
        dependencies: u.dependencies.unwrap_or(e.dependencies),
        upgrade_strategy: u.upgrade_strategy.or(e.upgrade_strategy),
        backoff_seconds: u.backoff_seconds.unwrap_or(e.backoff_seconds),
        backoff_factor: u.backoff_factor.unwrap_or(e.backoff_factor),
        max_launch_delay_seconds: u.max_launch_delay_seconds.unwrap_or(e.max_launch_delay_seconds),
        task_kill_grace_period_seconds: u.task_kill_grace_period_seconds.or(e.task_kill_grace_period_seconds),
        unreachable_strategy: u.unreachable_strategy.or(e.unreachable_strategy),
        kill_selection: u.kill_selection.unwrap_or(e.kill_selection),
        residency: u.residency.or(e.residency),
        tty: u.tty.or(e.tty),
        version: e.version,
        version_info: e.version_info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{normalize, parse_app, parse_app_update};

    fn update(body: &str) -> AppUpdate {
        parse_app_update(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn existing() -> AppDefinition {
        let raw = parse_app(
            br#"{"id":"/prod/web","cmd":"sleep 100","instances":2,"env":{"A":"1"},"labels":{"x":"y"},
                "healthChecks":[{"protocol":"HTTP"}],"container":{"type":"MESOS"}}"#,
        )
        .expect("valid");
        let mut app = normalize(raw, &PathId::root()).expect("valid");
        app.version = crate::parse_timestamp("2021-03-01T10:00:00.000Z");
        app
    }

    #[test]
    fn version_rule() {
        let root = PathId::root();
        assert!(update(r#"{"version":"2021-03-01T10:00:00.000Z"}"#).normalize(&root).is_ok());
        let rollback = update(r#"{"id":"a","version":"2021-03-01T10:00:00.000Z"}"#).normalize(&root).expect("valid");
        assert_eq!(rollback.id.as_deref(), Some("/a"));
        assert!(rollback.rollback_version().is_some());
        let error =
            update(r#"{"version":"2021-03-01T10:00:00.000Z","cmd":"x"}"#).normalize(&root).expect_err("invalid");
        assert_eq!(error.errors_at("/"), ["The 'version' field may only be combined with the 'id' field."]);
        assert_eq!(update(r#"{"cmd":"x"}"#).rollback_version(), None);
    }

    #[test]
    fn deprecated_update_fields_are_translated() {
        let u = update(
            r#"{"id":"web","uris":["http://x/a.tgz"],"ports":[0,80],
                "container":{"docker":{"image":"i","network":"BRIDGE","portMappings":[{"containerPort":80}]}}}"#,
        )
        .normalize(&PathId::parse("/prod"))
        .expect("valid");
        assert_eq!(u.id.as_deref(), Some("/prod/web"));
        assert_eq!(u.fetch.as_ref().map(|f| f[0].extract), Some(true));
        assert_eq!(u.uris, None);
        assert_eq!(
            u.port_definitions.as_ref().map(|p| p.iter().map(|d| d.port).collect::<Vec<_>>()),
            Some(vec![0, 80])
        );
        assert_eq!(u.ports, None);
        assert_eq!(u.networks, Some(vec![Network::new(NetworkMode::ContainerBridge)]));
        let container = u.container.expect("container");
        assert_eq!(container.port_mappings.map(|m| m.len()), Some(1));
        assert_eq!(container.docker.and_then(|d| d.network), None);
        let ip = update(r#"{"ipAddress":{"networkName":"n"}}"#).normalize(&PathId::root()).expect("valid");
        assert_eq!(ip.networks.map(|n| n[0].mode), Some(NetworkMode::Container));
        assert_eq!(ip.container.map(|c| c.kind), Some(ContainerType::Mesos));
        let error = update(r#"{"uris":["http://x"],"fetch":[{"uri":"http://y"}]}"#).normalize(&PathId::root());
        assert_eq!(error.expect_err("conflict").errors_at("/"), ["cannot specify both uris and fetch fields"]);
    }

    #[test]
    fn scaling_changes_only_instances() {
        let before = existing();
        let merged = apply_update(&before, &update(r#"{"instances":5}"#));
        let after = normalize(merged, &PathId::root()).expect("valid");
        assert_eq!(after, AppDefinition { instances: 5, ..before });
    }

    #[test]
    fn given_fields_replace_existing_ones_wholesale() {
        let before = existing();
        let u = update(
            r#"{"id":"/elsewhere","env":{"B":"2"},"labels":{},"cmd":"sleep 5","container":{"docker":{"image":"busybox"}}}"#,
        );
        let after = normalize(apply_update(&before, &u), &PathId::root()).expect("valid");
        assert_eq!(after.id, "/prod/web", "the id of the existing app wins");
        assert_eq!(after.version, before.version, "versions stay");
        assert_eq!(after.env.len(), 1);
        assert!(after.env.contains_key("B"));
        assert!(after.labels.is_empty());
        assert_eq!(after.cmd.as_deref(), Some("sleep 5"));
        assert_eq!(after.container.map(|c| c.kind), Some(ContainerType::Docker));
        assert_eq!(after.health_checks, before.health_checks, "absent fields stay");
        assert_eq!(after.instances, 2);
    }

    #[test]
    fn switching_to_bridge_networking_drops_port_definitions() {
        let u = update(r#"{"networks":[{"mode":"container/bridge"}]}"#);
        let after = normalize(apply_update(&existing(), &u), &PathId::root()).expect("valid");
        assert_eq!(after.port_definitions, None);
        let mappings = after.container.and_then(|c| c.port_mappings).expect("mappings");
        assert_eq!(mappings.len(), 1);
        assert_eq!(mappings[0].host_port, Some(0));
    }

    #[test]
    fn deprecated_ports_in_an_update_replace_port_definitions() {
        let after =
            normalize(apply_update(&existing(), &update(r#"{"ports":[8080]}"#)), &PathId::root()).expect("valid");
        assert_eq!(after.port_definitions, Some(vec![PortDefinition::new(8080)]));
    }

    #[test]
    fn put_creating_an_app_starts_from_defaults() {
        let u = update(r#"{"cmd":"sleep 1","instances":0}"#);
        let created = normalize(apply_update(&AppDefinition::with_id("/tomcat"), &u), &PathId::root()).expect("valid");
        assert_eq!(created.id, "/tomcat");
        assert_eq!((created.instances, created.cpus, created.mem), (0, 1.0, 128.0));
        assert_eq!(created.port_definitions.map(|p| p.len()), Some(1));
    }

    #[test]
    fn relative_dependencies_resolve_like_new_apps() {
        let u = update(r#"{"dependencies":["../db"]}"#).normalize(&PathId::root()).expect("valid");
        let after = normalize(apply_update(&existing(), &u), &PathId::root()).expect("valid");
        assert_eq!(after.dependencies, ["/db"]);
    }
}
