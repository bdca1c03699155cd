//! The scheduler service: the one task that owns the [`SchedulerCore`] and everything the API
//! shows besides it, and executes the core's commands against the Mesos master and the store.
//!
//! ```text
//!  Mesos master ──events──▶ ┌──────────────┐ ──calls (in order)──▶ caller task ──▶ master
//!  REST API ──read/change──▶│ driver task  │ ──batches──▶ store writer thread (group commit)
//!  timer (next_wakeup) ────▶└──────────────┘ ◀──Stored(write id)──┘
//! ```
//!
//! The API reaches the state only through [`ServiceHandle::read`] and [`ServiceHandle::change`],
//! closures run by the driver between two events, so no lock guards the state. A change is
//! answered only once every write issued up to it is durable: an acknowledged API call survives
//! kill -9.

use crate::convert;
use crate::core::{AppId, Command, Event, Now, SchedulerConfig, SchedulerCore, Timestamp, WriteId};
use crate::definitions::Definitions;
use crate::deployments::{Change, Deployment, DeploymentKind, DeploymentTracker, Step, simple_steps};
use crate::events::EventBus;
use crate::flags::SchedulerFlags;
use crate::records;
use marathon_api::{AppDefinition, RenderedApp};
use mesos_api::scheduler::Call;
use mesos_api::{Capability, FrameworkInfo};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::{Batch, Generation, Store, limits};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

mod calls;
mod pods;
mod runner;

pub use calls::{mesos_call, redecline};
pub(crate) use runner::CurrentStore;
use runner::{Durable, Write, core_event};
pub use runner::{RunningScheduler, start};

/// Why the scheduler could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot create work dir {path}: {source}")]
    WorkDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("loading state: {0}")]
    Load(#[from] records::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("a store write failed, giving up leadership: {0}")]
    WriteFailed(String),
    #[error("cannot build the health and readiness check client: {0}")]
    ProbeClient(#[source] reqwest::Error),
    #[error("--zk: {0}")]
    Zk(#[from] coordination::UrlError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Auth(#[from] crate::api::auth::AuthError),
}

/// What the API shows about this scheduler (`/v2/info`, headers).
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub flags: SchedulerFlags,
    pub hostname: String,
    /// `host:port` of the REST API.
    pub http_address: String,
    pub started: Instant,
    /// What `/metrics` and `/metrics/prometheus` show (outlives incarnations).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The TLS of the cluster's servers (`LIBPROCESS_SSL_*`): how the master and the agents
    /// are reached (`None`: plain HTTP).
    pub mesos_tls: Option<Arc<rustls::ClientConfig>>,
}

impl ServiceInfo {
    /// The scheme the master and the agents serve: `https` under `LIBPROCESS_SSL_ENABLED`.
    pub fn mesos_scheme(&self) -> &'static str {
        if self.mesos_tls.is_some() { "https" } else { "http" }
    }

    /// A client for the master's and the agents' HTTP servers, from `builder`.
    pub fn mesos_http(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match &self.mesos_tls {
            Some(tls) => builder.tls_backend_preconfigured(rustls::ClientConfig::clone(tls)),
            None => builder,
        }
    }

    /// How app definitions are normalized here: apps without a role get `--mesos_role`.
    pub fn normalize_config(&self) -> marathon_api::NormalizeConfig {
        marathon_api::NormalizeConfig {
            default_role: self.flags.mesos_role.clone(),
            subscribed_roles: Some([self.flags.mesos_role.clone()].into()),
            ..marathon_api::NormalizeConfig::default()
        }
    }
}

/// The monotonic origin of the core's time.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        Now { mono: self.start.elapsed(), wall: wall_clock() }
    }

    fn instant_of(&self, mono: Duration) -> Instant {
        self.start + mono
    }
}

/// The wall clock as the core sees it (milliseconds).
pub fn wall_clock() -> Timestamp {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_millis(i64::try_from(wall.as_millis()).unwrap_or(0))
}

/// A planned change of the group tree.
pub struct TreePlan {
    /// The tree with versions set on every changed app.
    pub target: crate::groups::Tree,
    pub steps: Vec<crate::deployments::Step>,
    /// Every affected app.
    pub ids: Vec<AppId>,
    /// The pods it removes (a group delete).
    pub removed_pods: Vec<AppId>,
    pub version: marathon_api::Timestamp,
}

/// The outcome of a deployment-producing change.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    pub deployment_id: String,
    pub version: marathon_api::Timestamp,
}

/// The state the driver owns; API closures see it through [`ServiceHandle`].
pub struct Service {
    core: SchedulerCore,
    definitions: Definitions,
    /// The pods' stored definitions (`/v2/pods`), as normalized, with the version and instance
    /// count the core decided.
    pods: BTreeMap<AppId, marathon_api::Pod>,
    /// Groups created through `/v2/groups` (with their dependencies).
    groups: BTreeMap<marathon_api::PathId, crate::groups::GroupMeta>,
    deployments: DeploymentTracker,
    bus: EventBus,
    /// Events of the current driver step, published together when it ends.
    events: Vec<(marathon_api::events::Event, crate::core::Timestamp)>,
    info: Arc<ServiceInfo>,
    clock: Clock,
    calls: mpsc::UnboundedSender<Call>,
    writes: std::sync::mpsc::Sender<Write>,
    /// Health probes report here.
    probe_results: mpsc::UnboundedSender<Event>,
    http: reqwest::Client,
    /// Set while deployments advance (their changes feed the core, which advances them again).
    advancing: bool,
    /// `http://host:port` of the master this incarnation last subscribed with (the UI's
    /// cluster page and task logs go through it).
    master_url: Option<String>,
    /// Sequence number of the last batch handed to the writer, and of the last durable one.
    sent: u64,
    stored: u64,
    /// Replies waiting for a write to be durable.
    waiting: Vec<(u64, Box<dyn FnOnce() + Send>)>,
}

impl Service {
    pub fn core(&self) -> &SchedulerCore {
        &self.core
    }

    /// The stored definition of an app (full API form).
    pub fn definition(&self, id: &AppId) -> Option<&AppDefinition> {
        self.definitions.get(id)
    }

    pub fn definitions(&self) -> impl Iterator<Item = &AppDefinition> {
        self.definitions.values()
    }

    /// Every stored definition (id order) with its API JSON without extras, as written when it
    /// changed.
    pub fn rendered_apps(&self) -> impl Iterator<Item = (&AppId, &AppDefinition, &RenderedApp)> {
        self.definitions.with_rendered()
    }

    /// The stored definition of an app with its API JSON without extras.
    pub fn rendered_app(&self, id: &AppId) -> Option<(&AppDefinition, &RenderedApp)> {
        self.definitions.get_with_rendered(id)
    }

    pub fn deployments(&self) -> &DeploymentTracker {
        &self.deployments
    }

    pub fn info(&self) -> &ServiceInfo {
        &self.info
    }

    /// When this incarnation started (its leadership, with high availability).
    pub(crate) fn leading_since(&self) -> Instant {
        self.clock.start
    }

    pub fn now(&self) -> Now {
        self.clock.now()
    }

    /// `http://host:port` of the master this scheduler is subscribed with, once it is.
    pub fn master_url(&self) -> Option<&str> {
        self.master_url.as_deref()
    }

    /// Publishes an event the shell itself raises (API posts).
    pub fn publish(&mut self, event: marathon_api::events::Event) {
        let now = self.clock.now().wall;
        self.emit(event, now);
    }

    /// Queues an event for the bus; the driver publishes what a step queued together
    /// ([`Self::flush_events`]).
    fn emit(&mut self, event: marathon_api::events::Event, at: crate::core::Timestamp) {
        self.events.push((event, at));
    }

    /// Publishes the events queued since the last call as one batch, in order.
    fn flush_events(&mut self) {
        if !self.events.is_empty() {
            self.bus.publish_all(std::mem::take(&mut self.events));
        }
    }

    /// Creates or replaces apps (normalized definitions; `version` and `versionInfo` are set
    /// here, service ports assigned by the core), in one deployment.
    /// `announce` runs once the apps are changed, before the deployment starts (so that
    /// `api_post_event` precedes the deployment's events).
    /// Fails, changing nothing, if the apps' dependencies would form a cycle.
    pub fn put_apps(
        &mut self,
        defs: Vec<AppDefinition>,
        announce: impl FnOnce(&mut Service),
    ) -> Result<Deployed, marathon_api::ValidationError> {
        if let Some(def) = defs.iter().find(|d| self.pods.contains_key(&AppId::new(&d.id))) {
            return Err(pod_exists(&def.id));
        }
        // Only dependencies can make a cycle (the tree is cloned only if there are any).
        let has_dependencies = defs.iter().any(|d| !d.dependencies.is_empty())
            || self.groups.values().any(|g| !g.dependencies.is_empty())
            || self.definitions.values().any(|d| !d.dependencies.is_empty());
        if has_dependencies {
            let mut tree = self.tree();
            tree.apps.extend(defs.iter().map(|d| (d.path_id(), d.clone())));
            tree.layers(&std::collections::BTreeSet::new())?;
        }
        let ids: Vec<AppId> = defs.iter().map(|d| AppId::new(&d.id)).collect();
        let original = self.app_states(&ids);
        let originals = self.originals(&ids);
        let actions = defs.into_iter().map(|def| self.put_app(def)).collect();
        announce(self);
        Ok(self.start_deployment(simple_steps(actions), original, originals))
    }

    /// The definitions of `ids` as they are now (for rollbacks).
    fn originals(&self, ids: &[AppId]) -> Vec<(AppId, Option<AppDefinition>)> {
        ids.iter().map(|id| (id.clone(), self.definitions.get(id).cloned())).collect()
    }

    /// Every group (the explicit ones, every app's ancestors and the root), counted without
    /// building the tree.
    pub(crate) fn group_count(&self) -> usize {
        let mut groups: std::collections::BTreeSet<marathon_api::PathId> = [marathon_api::PathId::root()].into();
        let mut add = |mut p: marathon_api::PathId| {
            while !p.is_root() && groups.insert(p.clone()) {
                p = p.parent();
            }
        };
        for id in self.groups.keys() {
            add(id.clone());
        }
        for def in self.definitions.values() {
            add(def.path_id().parent());
        }
        for pod in self.pods.values() {
            add(pod.path_id().parent());
        }
        groups.len()
    }

    /// The group tree: every app and the explicit groups.
    /// Whether group `id` exists: the root, an explicit group, or a group an app or explicit
    /// group lies below (without cloning the tree as [`Self::tree`] does).
    pub fn group_exists(&self, id: &marathon_api::PathId) -> bool {
        id.is_root()
            || self.groups.keys().any(|g| g.starts_with(id))
            || self
                .definitions
                .values()
                .map(AppDefinition::path_id)
                .chain(self.pods.values().map(|p| p.path_id()))
                .any(|path| path.starts_with(id) && &path != id)
    }

    pub fn tree(&self) -> crate::groups::Tree {
        crate::groups::Tree {
            apps: self.definitions.values().map(|d| (d.path_id(), d.clone())).collect(),
            groups: self.groups.clone(),
            pods: self.pods.values().map(|p| p.path_id()).collect(),
        }
    }

    /// Makes `target` (a whole tree, derived from [`Self::tree`]) current in one deployment:
    /// removed apps stop first, then new ones are started, then new and changed apps are
    /// deployed in dependency order, each step after the previous one converged. `group` is the
    /// group that changed (its version is recorded). `version` is the change's time, the same
    /// the caller gave the groups it changed. Fails on a dependency cycle (nothing changes).
    pub fn change_tree(
        &mut self,
        group: &marathon_api::PathId,
        target: crate::groups::Tree,
        version: marathon_api::Timestamp,
    ) -> Result<Deployed, marathon_api::ValidationError> {
        // The group's versions are stored under its id.
        if store::backend::validate_key(&group.to_string()).is_err() {
            return Err(marathon_api::ValidationError::from_details([("/id".to_string(), UNSTORABLE_ID.to_string())]));
        }
        let TreePlan { target, mut steps, ids, removed_pods, version } = self.plan_tree(target, version)?;
        let original = self.app_states(&ids);
        let originals = self.originals(&ids);
        let pod_originals: Vec<(AppId, Option<marathon_api::Pod>)> =
            removed_pods.iter().map(|id| (id.clone(), self.pods.get(id).cloned())).collect();
        self.groups = target.groups.clone();
        let mut batch = Batch::new();
        records::put_groups(&mut batch, &self.groups);
        let snapshot = records::GroupSnapshot {
            apps: target.apps_below(group).map(|(_, d)| d.clone()).collect(),
            groups: target
                .groups
                .iter()
                .filter(|(id, _)| id.starts_with(group))
                .map(|(id, meta)| (id.to_string(), meta.clone()))
                .collect(),
        };
        records::put_group_version(&mut batch, group, &marathon_api::format_timestamp(version), &snapshot);
        self.write(batch, None);
        if steps.is_empty() {
            // Nothing to deploy: an empty plan finishes at once.
            steps.push(crate::deployments::Step::new(Vec::new()));
        }
        let first: Vec<Change> = std::mem::take(&mut steps[0].changes);
        for change in first {
            self.apply_change(change);
        }
        Ok(self.start_deployment_with_pods(steps, original, originals, pod_originals, version))
    }

    /// The normalization settings of app `app` (its default and valid roles follow its
    /// top-level group, see [`crate::groups::role_config`]; a role it has stays valid).
    pub fn normalize_config_for(&self, app: &marathon_api::PathId) -> marathon_api::NormalizeConfig {
        let existing = self.definitions.get(&AppId::new(&app.to_string())).and_then(|d| d.role.as_deref());
        crate::groups::role_config(&self.groups, app, existing, &self.info().normalize_config())
    }

    /// Sets a top-level group's `enforceRole` (`PATCH /v2/groups/{id}`): the group becomes an
    /// explicit one if it was only implied by its apps; nothing is deployed.
    pub fn patch_group(&mut self, group: &marathon_api::PathId, enforce_role: bool, version: marathon_api::Timestamp) {
        let meta = self.groups.entry(group.clone()).or_insert_with(|| crate::groups::GroupMeta::new(version));
        meta.enforce_role = enforce_role;
        let mut batch = Batch::new();
        records::put_groups(&mut batch, &self.groups);
        self.write(batch, None);
    }

    /// The plan that makes `target` current (see [`Self::change_tree`]), without changing
    /// anything (`dryRun`).
    pub fn plan_tree(
        &self,
        mut target: crate::groups::Tree,
        version: marathon_api::Timestamp,
    ) -> Result<TreePlan, marathon_api::ValidationError> {
        use crate::deployments::Step;
        let current = self.tree();
        unstorable_ids(&current, &target)?;
        if let Some(id) = target.apps.keys().find(|id| target.pods.contains(*id)) {
            return Err(pod_exists(&id.to_string()));
        }
        let removed: Vec<AppId> = current
            .apps
            .keys()
            .filter(|id| !target.apps.contains_key(*id))
            .map(|id| AppId::new(&id.to_string()))
            .collect();
        let removed_pods: Vec<AppId> =
            current.pods.difference(&target.pods).map(|id| AppId::new(&id.to_string())).collect();
        let mut changes: BTreeMap<marathon_api::PathId, (AppDefinition, DeploymentKind)> = BTreeMap::new();
        for (id, def) in &mut target.apps {
            let app = AppId::new(&id.to_string());
            let old_def = self.definitions.get(&app);
            if let Some(old_def) = old_def {
                carry_service_ports(def, old_def);
                let mut unversioned = def.clone();
                unversioned.version = old_def.version;
                unversioned.version_info = old_def.version_info;
                if &unversioned == old_def {
                    *def = old_def.clone();
                    continue;
                }
            }
            def.version = Some(version);
            let spec = convert::run_spec(def);
            let old = self.core.app(&app);
            let info = crate::core::derive_version_info(old, &spec);
            def.version_info = Some(marathon_api::app::VersionInfo {
                last_scaling_at: convert::api_time(info.last_scaling_at),
                last_config_change_at: convert::api_time(info.last_config_change_at),
            });
            let kind = match old {
                None => DeploymentKind::Start,
                Some(old) if old.same_config(&spec) => DeploymentKind::Scale,
                Some(_) => DeploymentKind::Restart,
            };
            changes.insert(id.clone(), (def.clone(), kind));
        }
        let affected: std::collections::BTreeSet<marathon_api::PathId> = changes.keys().cloned().collect();
        let layers = target.layers(&affected)?;

        let mut steps = Vec::new();
        if !removed.is_empty() || !removed_pods.is_empty() {
            let stops = removed.iter().map(|id| (id.clone(), DeploymentKind::Stop));
            let pod_stops = removed_pods.iter().map(|id| (id.clone(), DeploymentKind::StopPod));
            let mut stop = Step::new(stops.chain(pod_stops).collect());
            stop.changes = removed.iter().chain(&removed_pods).map(|id| Change::Delete(id.to_string())).collect();
            steps.push(stop);
        }
        let started: Vec<(AppId, DeploymentKind)> = changes
            .iter()
            .filter(|(_, (_, kind))| *kind == DeploymentKind::Start)
            .map(|(id, _)| (AppId::new(&id.to_string()), DeploymentKind::Start))
            .collect();
        if !started.is_empty() {
            steps.push(Step::new(started));
        }
        for layer in layers {
            let mut step = Step::new(Vec::new());
            for id in layer {
                let Some((def, kind)) = changes.get(&id) else { continue };
                let kind = if *kind == DeploymentKind::Start { DeploymentKind::Scale } else { *kind };
                step.actions.push((id.to_string(), kind));
                step.changes.push(Change::Put(Box::new(def.clone())));
            }
            steps.push(step);
        }

        let ids: Vec<AppId> =
            removed.iter().cloned().chain(changes.keys().map(|id| AppId::new(&id.to_string()))).collect();
        Ok(TreePlan { target, steps, ids, removed_pods, version })
    }

    /// Ids of the running deployments that change any of `apps` (which lock them).
    pub fn locked_by(&self, apps: &[AppId]) -> Vec<String> {
        self.deployments.locking(apps)
    }

    /// Cancels a deployment (`DELETE /v2/deployments/{id}`). With `rollback`, its apps go back to
    /// their definitions before it (a created app is deleted, a deleted one re-created) in a new
    /// deployment, which is returned. `None` if there is no such deployment.
    pub fn cancel_deployment(&mut self, id: &str, rollback: bool) -> Option<Option<Deployed>> {
        let deployment = self.deployments.remove(id)?;
        let now = self.now().wall;
        let reason = if rollback { "rolled back" } else { "cancelled" };
        self.info.metrics.deployments_failed.inc();
        self.emit(deployment.failed_event(reason), now);
        if !rollback {
            return Some(None);
        }
        self.forget_deployment(&deployment.id);
        let ids: Vec<AppId> = deployment.originals.iter().map(|(id, _)| AppId::new(id)).collect();
        let original = self.app_states(&ids);
        let originals = self.originals(&ids);
        let mut actions = self.restore_pods(deployment.pod_originals);
        for (app_id, before) in deployment.originals {
            let app_id = AppId::new(&app_id);
            match before {
                Some(def) => actions.push(self.restore_app(def)),
                None => {
                    if self.core.app(&app_id).is_some() {
                        let now = self.now();
                        self.handle(now, Event::AppDeleted { id: app_id.clone() });
                        self.set_definition(&app_id, None, DeploymentKind::Stop);
                        actions.push((app_id, DeploymentKind::Stop));
                    }
                }
            }
        }
        Some(Some(self.start_deployment(simple_steps(actions), original, originals)))
    }

    /// The API JSON of the apps that exist among `ids` (deployment plans' group states).
    fn app_states(&self, ids: &[AppId]) -> Vec<serde_json::Value> {
        ids.iter()
            .filter_map(|id| self.definitions.get(id))
            .map(|def| marathon_api::app_json(def, &marathon_api::AppExtras::default()))
            .collect()
    }

    /// Changes an app's definition (`None`: deleted), announcing health checks that go away
    /// (`remove_health_check_event`) and those of a new config (`add_health_check_event`);
    /// a scale-only change (`kind` Scale) announces nothing.
    fn set_definition(&mut self, id: &AppId, def: Option<AppDefinition>, kind: DeploymentKind) {
        use marathon_api::events::Event as Wire;
        let old = self.definitions.set(id, def.clone());
        if kind == DeploymentKind::Scale {
            return;
        }
        let now = self.now().wall;
        if old.as_ref().is_some_and(|o| !o.health_checks.is_empty()) {
            self.emit(Wire::RemoveHealthCheck { app_id: id.to_string() }, now);
        }
        if let Some(def) = &def {
            let version = def.version.unwrap_or_else(|| convert::api_time(now));
            for check in &def.health_checks {
                let health_check = serde_json::to_value(check).unwrap_or_default();
                self.emit(Wire::AddHealthCheck { app_id: id.to_string(), health_check, version }, now);
            }
        }
    }

    /// Puts a stored definition back as it was (version included).
    fn restore_app(&mut self, def: AppDefinition) -> (AppId, DeploymentKind) {
        let id = AppId::new(&def.id);
        let spec = convert::run_spec(&def);
        let kind = match self.core.app(&id) {
            None => DeploymentKind::Start,
            Some(current) if current.same_config(&spec) => DeploymentKind::Scale,
            Some(_) => DeploymentKind::Restart,
        };
        self.set_definition(&id, Some(def), kind);
        let now = self.now();
        self.handle(now, Event::AppRestore { spec });
        (id, kind)
    }

    fn put_app(&mut self, mut def: AppDefinition) -> (AppId, DeploymentKind) {
        let id = AppId::new(&def.id);
        let now = self.now();
        let old = self.core.app(&id).cloned();
        let version = self.next_version(&id, now);
        def.version = Some(convert::api_time(version));
        def.version_info = self.definitions.get(&id).and_then(|d| d.version_info);
        let spec = convert::run_spec(&def);
        let kind = match &old {
            None => DeploymentKind::Start,
            Some(old) if old.same_config(&spec) => DeploymentKind::Scale,
            Some(_) => DeploymentKind::Restart,
        };
        self.set_definition(&id, Some(def), kind);
        self.handle(now, Event::AppPut { spec });
        (id, kind)
    }

    /// The version of a new definition of app or pod `id` made `now`: versions only grow, after
    /// its current one and after those of its instances still being killed (a deleted one
    /// re-created within the same millisecond).
    fn next_version(&self, id: &AppId, now: Now) -> Timestamp {
        let current = self.core.app(id).map(|o| o.version);
        let newest = current.into_iter().chain(self.core.instances_of(id).map(|i| i.run_spec_version)).max();
        match newest {
            Some(newest) => now.wall.max(Timestamp::from_millis(newest.millis() + 1)),
            None => now.wall,
        }
    }

    pub fn delete_app(&mut self, id: &AppId) -> Option<Deployed> {
        // An app's, not a pod's (those go through `/v2/pods`).
        self.definitions.get(id)?;
        let original = self.app_states(std::slice::from_ref(id));
        let originals = self.originals(std::slice::from_ref(id));
        let now = self.now();
        self.handle(now, Event::AppDeleted { id: id.clone() });
        self.set_definition(id, None, DeploymentKind::Stop);
        Some(self.start_deployment(simple_steps(vec![(id.clone(), DeploymentKind::Stop)]), original, originals))
    }

    pub fn restart_app(&mut self, id: &AppId) -> Option<Deployed> {
        self.definitions.get(id)?;
        let original = self.app_states(std::slice::from_ref(id));
        let originals = self.originals(std::slice::from_ref(id));
        let now = self.now();
        self.handle(now, Event::AppRestart { id: id.clone(), version: now.wall });
        Some(self.start_deployment(simple_steps(vec![(id.clone(), DeploymentKind::Restart)]), original, originals))
    }

    /// Kills tasks (see [`Event::KillTasks`]); with `scale`, returns the deployment that scales
    /// their apps down.
    pub fn kill_tasks(&mut self, task_ids: Vec<mesos_api::TaskId>, scale: bool, wipe: bool) -> Option<Deployed> {
        let mut apps: Vec<AppId> =
            task_ids.iter().filter_map(|t| self.core.instance_of_task(t)).map(|i| i.app_id.clone()).collect();
        apps.sort();
        apps.dedup();
        let original = self.app_states(&apps);
        let originals = self.originals(&apps);
        let now = self.now();
        self.handle(now, Event::KillTasks { task_ids, scale, wipe });
        (scale && !apps.is_empty()).then(|| {
            let actions = apps.into_iter().map(|id| (id, DeploymentKind::Scale)).collect();
            self.start_deployment(simple_steps(actions), original, originals)
        })
    }

    /// Resets the launch delay; `false` if nothing of the app waits in the queue.
    pub fn reset_delay(&mut self, id: &AppId) -> bool {
        let now = self.now();
        if !self.core.queue(now).iter().any(|entry| &entry.app_id == id) {
            return false;
        }
        self.handle(now, Event::ResetDelay { app_id: id.clone() });
        true
    }

    /// Records a deployment whose first step's changes are applied already (later steps'
    /// changes wait in the plan), publishes its start and lets it advance.
    pub(crate) fn start_deployment(
        &mut self,
        steps: Vec<Step>,
        original: Vec<serde_json::Value>,
        originals: Vec<(AppId, Option<AppDefinition>)>,
    ) -> Deployed {
        let version = steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter_map(|(id, _)| self.core.app(&AppId::new(id)))
            .map(|spec| spec.version)
            .max()
            .unwrap_or(self.now().wall);
        self.start_deployment_at(steps, original, originals, convert::api_time(version))
    }

    /// [`Self::start_deployment`] of a change made at `version` (a group change: its later
    /// steps' apps are not changed yet, so their versions cannot tell).
    pub(crate) fn start_deployment_at(
        &mut self,
        steps: Vec<Step>,
        original: Vec<serde_json::Value>,
        originals: Vec<(AppId, Option<AppDefinition>)>,
        version: marathon_api::Timestamp,
    ) -> Deployed {
        self.start_deployment_with_pods(steps, original, originals, Vec::new(), version)
    }

    /// [`Self::start_deployment_at`] of a change that also changes pods (`pod_originals`: the
    /// pods before it, for a rollback).
    pub(crate) fn start_deployment_with_pods(
        &mut self,
        steps: Vec<Step>,
        original: Vec<serde_json::Value>,
        originals: Vec<(AppId, Option<AppDefinition>)>,
        pod_originals: Vec<(AppId, Option<marathon_api::Pod>)>,
        version: marathon_api::Timestamp,
    ) -> Deployed {
        let mut ids: Vec<AppId> = steps.iter().flat_map(|s| s.actions.iter().map(|(id, _)| AppId::new(id))).collect();
        ids.sort();
        ids.dedup();
        let deployment_id = uuid::Uuid::new_v4().to_string();
        let target = self.app_states(&ids);
        let deployment = Deployment {
            id: deployment_id.clone(),
            version,
            steps,
            current: 0,
            original: marathon_api::events::group_state(original, version),
            target: marathon_api::events::group_state(target, version),
            originals: originals.into_iter().map(|(id, def)| (id.to_string(), def)).collect(),
            pod_originals: pod_originals.into_iter().map(|(id, pod)| (id.to_string(), pod)).collect(),
        };
        let now = self.now().wall;
        for group in deployment.changed_groups() {
            self.emit(marathon_api::events::Event::GroupChangeSuccess { group_id: group, version }, now);
        }
        for event in deployment.started_events() {
            self.emit(event, now);
        }
        self.persist_deployment(&deployment);
        self.info.metrics.deployments_started.inc();
        for superseded in self.deployments.start(deployment) {
            self.info.metrics.deployments_failed.inc();
            self.forget_deployment(&superseded.id);
            self.emit(superseded.failed_event("superseded by a newer deployment of its apps"), now);
        }
        self.advance_deployments();
        Deployed { deployment_id, version }
    }

    /// Moves deployments on: finished steps are announced, the next steps' changes applied, and
    /// finished deployments forgotten. Re-entrant calls (from the changes it applies) are no-ops;
    /// the outer call loops until nothing moves.
    fn advance_deployments(&mut self) {
        if self.advancing {
            return;
        }
        self.advancing = true;
        loop {
            let moved = self.deployments.advance(&self.core);
            if moved.is_empty() {
                break;
            }
            let now = self.now().wall;
            for (id, progress) in moved {
                for event in &progress.events {
                    self.emit(event.clone(), now);
                }
                for change in progress.changes {
                    self.apply_change(change);
                }
                if progress.finished {
                    info!(deployment = %id, "deployment finished");
                    self.info.metrics.deployments_succeeded.inc();
                    self.forget_deployment(&id);
                } else if let Some(deployment) = self.deployments.get(&id).cloned() {
                    self.persist_deployment(&deployment);
                }
            }
        }
        self.advancing = false;
    }

    /// Applies a change a deployment step holds (definitions carry their versions already, so
    /// applying one twice changes nothing).
    fn apply_change(&mut self, change: Change) {
        match change {
            Change::Put(def) => {
                self.restore_app(*def);
            }
            Change::Delete(id) => {
                let id = AppId::new(&id);
                if self.pods.remove(&id).is_some() {
                    let now = self.now();
                    self.handle(now, Event::AppDeleted { id });
                } else if self.core.app(&id).is_some() {
                    let now = self.now();
                    self.handle(now, Event::AppDeleted { id: id.clone() });
                    self.set_definition(&id, None, DeploymentKind::Stop);
                }
            }
        }
    }

    fn persist_deployment(&mut self, deployment: &Deployment) {
        let mut batch = Batch::new();
        records::put_deployment(&mut batch, deployment);
        self.write(batch, None);
    }

    fn forget_deployment(&mut self, id: &str) {
        let mut batch = Batch::new();
        records::delete_deployment(&mut batch, id);
        self.write(batch, None);
    }

    /// Feeds events from the master (through the Mesos client) to the core, in order; a run of
    /// status updates is one step ([`SchedulerCore::handle_status_updates`]).
    fn handle_client_events(&mut self, events: Vec<mesos_client::ClientEvent>) {
        let now = self.now();
        let mut updates = Vec::new();
        let metrics = self.info.metrics.clone();
        for event in events {
            if let mesos_client::ClientEvent::Subscribed { master_info, .. } = &event {
                self.master_url = Some(master_url(master_info, self.info.mesos_scheme()));
            }
            match core_event(event) {
                Some(Event::StatusUpdate(status)) => {
                    metrics.count_update(&status);
                    updates.push(status);
                }
                Some(Event::Offers(offers)) => {
                    metrics.offers_incoming.inc_by(offers.len() as u64);
                    self.handle_status_updates(now, std::mem::take(&mut updates));
                    self.handle(now, Event::Offers(offers));
                }
                Some(other) => {
                    self.handle_status_updates(now, std::mem::take(&mut updates));
                    self.handle(now, other);
                }
                None => {}
            }
        }
        self.handle_status_updates(now, updates);
    }

    fn handle_status_updates(&mut self, now: Now, updates: Vec<mesos_api::TaskStatus>) {
        if updates.is_empty() {
            return;
        }
        let commands = self.core.handle_status_updates(now, updates);
        self.after_step(commands);
    }

    /// Feeds one event to the core and executes what it decides.
    fn handle(&mut self, now: Now, event: Event) {
        let commands = self.core.handle(now, event);
        self.after_step(commands);
    }

    /// Executes what a core step decided and moves the deployments it may have advanced.
    fn after_step(&mut self, commands: Vec<Command>) {
        self.execute(commands);
        self.advance_deployments();
    }

    fn execute(&mut self, commands: Vec<Command>) {
        let framework_id = self.core.framework_id().cloned();
        for command in commands {
            let call = match command {
                Command::Persist { write_id, records } => {
                    self.persist(write_id, &records);
                    continue;
                }
                Command::Publish(event) => {
                    debug!(?event, "event");
                    let app = match &event {
                        crate::core::BusEvent::FailedHealthCheck { app_id, .. } => self.definitions.get(app_id),
                        _ => None,
                    };
                    let wire = crate::events::from_core(&event, app, &self.info.flags.master);
                    self.events.extend(wire);
                    continue;
                }
                Command::ReadinessProbe { instance_id, task_id, check, https, host, port, path, timeout } => {
                    let results = self.probe_results.clone();
                    let http = self.http.clone();
                    tokio::spawn(async move {
                        let response = crate::probe::readiness(&http, https, &host, port, &path, timeout).await;
                        let _ = results.send(Event::ReadinessResult { instance_id, task_id, check, response });
                    });
                    continue;
                }
                Command::Probe { instance_id, task_id, check, protocol, host, port, path, timeout, ignore_http1xx } => {
                    let results = self.probe_results.clone();
                    let http = self.http.clone();
                    let metrics = self.info.metrics.clone();
                    tokio::spawn(async move {
                        let outcome =
                            crate::probe::run(&http, protocol, &host, port, &path, timeout, ignore_http1xx).await;
                        metrics.count_probe(&outcome);
                        let _ = results.send(Event::ProbeResult { instance_id, task_id, check, outcome });
                    });
                    continue;
                }
                other => match calls::mesos_call(framework_id.as_ref(), other) {
                    Some(call) => call,
                    None => continue,
                },
            };
            self.info.metrics.count_call(&call);
            // The caller task lives as long as the driver.
            let _ = self.calls.send(call);
        }
    }

    fn persist(&mut self, write_id: WriteId, records: &[crate::core::Record]) {
        for record in records {
            if let crate::core::Record::App(spec) = record {
                if spec.is_pod() {
                    if let Some(pod) = self.pods.get_mut(&spec.id) {
                        crate::pods::decided_by_core(pod, spec);
                    }
                } else {
                    self.definitions.update(&spec.id, |def| records::definition_of(def, spec));
                }
            }
        }
        let mut batch = Batch::new();
        records::add_to_batch(&mut batch, records, |id| self.definitions.get(id), |id| self.pods.get(id));
        self.write(batch, Some(write_id));
    }

    /// Hands a batch to the writer (after every earlier one); `core` is the core's write it
    /// carries, if any.
    fn write(&mut self, batch: Batch, core: Option<WriteId>) {
        self.sent += 1;
        // The writer lives as long as the driver.
        let _ = self.writes.send(Write { seq: self.sent, core, batch });
    }

    fn stored(&mut self, report: Durable) {
        self.stored = self.stored.max(report.seq);
        if let Some(write_id) = report.core {
            let now = self.now();
            self.handle(now, Event::Stored { write_id });
        }
        let stored = self.stored;
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(w, _)| *w <= stored);
        self.waiting = waiting;
        for (_, reply) in ready {
            reply();
        }
    }

    /// Runs `reply` once every write issued so far is durable.
    fn reply_when_durable(&mut self, reply: Box<dyn FnOnce() + Send>) {
        if self.sent <= self.stored {
            reply();
        } else {
            self.waiting.push((self.sent, reply));
        }
    }
}

type ReadFn = Box<dyn FnOnce(&Service) + Send>;
type ChangeFn = Box<dyn FnOnce(&mut Service) -> Box<dyn FnOnce() + Send> + Send>;

enum Request {
    Read(ReadFn),
    Change(ChangeFn),
}

/// The base URL of a master's HTTP API from its `MasterInfo` (its address, preferring the IP).
fn master_url(info: &mesos_api::MasterInfo, scheme: &str) -> String {
    let host = info.address.ip.as_deref().or(info.address.hostname.as_deref()).unwrap_or(&info.hostname);
    format!("{scheme}://{host}:{}", info.address.port)
}

/// The API's way into the service. Cheap to clone.
#[derive(Clone)]
pub struct ServiceHandle {
    requests: mpsc::UnboundedSender<Request>,
    info: Arc<ServiceInfo>,
    bus: EventBus,
}

impl ServiceHandle {
    pub fn info(&self) -> &ServiceInfo {
        &self.info
    }

    /// The event bus (`/v2/events`).
    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    /// Runs `f` on the state; `None` if the service stopped.
    pub async fn read<R: Send + 'static>(&self, f: impl FnOnce(&Service) -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let request = Request::Read(Box::new(move |service| {
            let _ = tx.send(f(service));
        }));
        self.requests.send(request).ok()?;
        rx.await.ok()
    }

    /// Runs `f` on the state and answers once everything it wrote is durable.
    pub async fn change<R: Send + 'static>(&self, f: impl FnOnce(&mut Service) -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let request = Request::Change(Box::new(move |service| {
            let result = f(service);
            Box::new(move || {
                let _ = tx.send(result);
            })
        }));
        self.requests.send(request).ok()?;
        rx.await.ok()
    }
}

/// Why an id the store cannot hold is refused.
const UNSTORABLE_ID: &str = "must not contain control characters and must fit the store's key limit";

/// Every app and group id that `target` adds to `current` must be a key the store takes: the
/// API validates ids as upstream does before they get here, so this guards against a path that
/// forgot to (a refused write would otherwise put the state in memory ahead of the store).
fn unstorable_ids(
    current: &crate::groups::Tree,
    target: &crate::groups::Tree,
) -> Result<(), marathon_api::ValidationError> {
    let added_apps = target.apps.keys().filter(|id| !current.apps.contains_key(*id));
    let added_groups = target.groups.keys().filter(|id| !current.groups.contains_key(*id));
    let details: Vec<(String, String)> = added_apps
        .chain(added_groups)
        .filter(|id| store::backend::validate_key(&id.to_string()).is_err())
        .map(|id| ("/id".to_string(), format!("{UNSTORABLE_ID}: {:?}", id.to_string())))
        .collect();
    if details.is_empty() { Ok(()) } else { Err(marathon_api::ValidationError::from_details(details)) }
}

/// Keeps the service ports `old` was given where `new` asks for any port (0), so that an
/// unchanged definition stays unchanged.
/// An app cannot take a pod's id.
fn pod_exists(id: &str) -> marathon_api::ValidationError {
    marathon_api::ValidationError::from_details([("/id".to_string(), format!("A pod with id [{id}] already exists."))])
}

fn carry_service_ports(new: &mut AppDefinition, old: &AppDefinition) {
    if let (Some(new_ports), Some(old_ports)) = (new.port_definitions.as_mut(), old.port_definitions.as_ref())
        && new_ports.len() == old_ports.len()
    {
        for (n, o) in new_ports.iter_mut().zip(old_ports) {
            if n.port == 0 {
                n.port = o.port;
            }
        }
    }
}

fn hostname_of_this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
