//! Pods (`/v2/pods`, §1.6 of the reference): upstream's RAML `Pod` (`pod.raml`,
//! `podContainer.raml`) as typed structs, read by [`parse_pod`], normalized and validated by
//! [`normalize_pod`], written back by [`pod_json`]; their status shapes (`podStatus.raml`) are in
//! [`status`].
//!
//! Serde (camelCase, unknown fields ignored, as for apps) gives both the storage form and the
//! API form: upstream writes a pod back as it read it, with its defaults filled in. Fields whose
//! default depends on the rest of the pod (`scheduling.upgrade`, `scheduling.unreachableStrategy`:
//! other defaults for pods with persistent volumes) or on the server (`role`) are `Option`s,
//! always `Some` after [`normalize_pod`]. Empty `networks` means host networking, as upstream
//! (whose normalization leaves them empty and whose output then omits them).

mod normalize;
mod parse;
pub mod status;
#[cfg(test)]
mod tests;

pub use normalize::{normalize_pod, pod_path_mismatch};
pub use parse::parse_pod;
pub use status::{
    ContainerEndpointStatus, ContainerStatus, ContainerTerminationHistory, ContainerTerminationState, NetworkStatus,
    PodInstanceState, PodInstanceStatus, PodState, PodStatus, StatusCondition, TerminationHistory, pod_json,
    spec_reference,
};

use crate::app::{
    Artifact, EnvValue, ExecutorResources, KillSelection, Network, NetworkMode, ResourceLimits, SecretDef,
};
use crate::app::{UnreachableStrategy, UpgradeStrategy};
use crate::time::{Timestamp, serde_ts};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A pod definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Absolute on input (upstream refuses relative pod ids); canonical after normalization.
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Server-managed: parsed, never trusted from clients (the scheduler sets it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub version: Option<Timestamp>,
    /// The OS user of every container without a `user` of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Variables of every container (a container's own win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, EnvValue>,
    #[serde(default)]
    pub containers: Vec<PodContainer>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretDef>,
    /// `PodVolume`s (host, ephemeral, secret, persistent), carried as given: see [`Pod::volume_names`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Json>,
    /// Empty = host networking (upstream's default; never filled in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(default)]
    pub scaling: PodScaling,
    #[serde(default)]
    pub scheduling: PodScheduling,
    #[serde(default)]
    pub executor_resources: ExecutorResources,
    /// Unset on input means the default role; normalization fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Seccomp and IPC settings, carried opaquely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<Json>,
    /// 1.10: all containers in the executor's cgroup. Only `true` is kept (upstream drops `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_shared_cgroups: Option<bool>,
}

impl Pod {
    /// A pod with the given id, no containers and every other field at its default.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            labels: BTreeMap::new(),
            version: None,
            user: None,
            environment: BTreeMap::new(),
            containers: Vec::new(),
            secrets: BTreeMap::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            scaling: PodScaling::default(),
            scheduling: PodScheduling::default(),
            executor_resources: ExecutorResources::default(),
            role: None,
            linux_info: None,
            legacy_shared_cgroups: None,
        }
    }

    /// The id as a [`crate::PathId`].
    pub fn path_id(&self) -> crate::PathId {
        crate::PathId::parse(&self.id)
    }

    /// The number of instances to run (`scaling.instances`).
    pub fn instances(&self) -> i32 {
        self.scaling.instances
    }

    /// `true` for host networking: no networks (the default) or a `host` one.
    pub fn has_host_networking(&self) -> bool {
        self.networks.is_empty() || self.networks.iter().any(|n| n.mode == NetworkMode::Host)
    }

    /// Pods with persistent volumes are resident (other defaults for their strategies).
    pub fn is_resident(&self) -> bool {
        self.volumes.iter().any(|v| v.get("persistent").is_some_and(|p| !p.is_null()))
    }

    /// The names of `volumes`, in order (a volume without a name gives `""`).
    pub fn volume_names(&self) -> Vec<&str> {
        self.volumes.iter().map(|v| v.get("name").and_then(Json::as_str).unwrap_or_default()).collect()
    }

    /// Every container's endpoints, in order, with the index of their container.
    pub fn endpoints(&self) -> impl Iterator<Item = (usize, &Endpoint)> {
        self.containers.iter().enumerate().flat_map(|(i, c)| c.endpoints.iter().map(move |e| (i, e)))
    }

    /// The upgrade strategy, or its default (`{0.5, 0}` for resident pods, `{1, 1}` otherwise).
    pub fn effective_upgrade_strategy(&self) -> UpgradeStrategy {
        self.scheduling.upgrade.unwrap_or(if self.is_resident() {
            UpgradeStrategy::FOR_RESIDENT_TASKS
        } else {
            UpgradeStrategy::default()
        })
    }

    /// The unreachable strategy, or its default (`disabled` for resident pods, `{0, 0}` otherwise).
    pub fn effective_unreachable_strategy(&self) -> UnreachableStrategy {
        self.scheduling.unreachable_strategy.unwrap_or(if self.is_resident() {
            UnreachableStrategy::Disabled
        } else {
            UnreachableStrategy::default()
        })
    }

    /// The sum of the containers' resources (without the executor's).
    pub fn container_resources(&self) -> PodResources {
        self.containers.iter().fold(PodResources { cpus: 0.0, mem: 0.0, disk: 0.0, gpus: 0 }, |sum, c| PodResources {
            cpus: sum.cpus + c.resources.cpus,
            mem: sum.mem + c.resources.mem,
            disk: sum.disk + c.resources.disk,
            gpus: sum.gpus.saturating_add(c.resources.gpus),
        })
    }
}

/// `scaling.kind`: only `fixed` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ScalingKind {
    #[default]
    #[serde(rename = "fixed")]
    Fixed,
}

/// `scaling`: `{"kind": "fixed", "instances": 1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodScaling {
    #[serde(default)]
    pub kind: ScalingKind,
    #[serde(default = "default_instances")]
    pub instances: i32,
    /// Older RAML (≤1.4) had it; without autoscaling it has no effect. Echoed when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i32>,
}

fn default_instances() -> i32 {
    1
}

impl Default for PodScaling {
    fn default() -> Self {
        Self { kind: ScalingKind::Fixed, instances: default_instances(), max_instances: None }
    }
}

/// `scheduling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodScheduling {
    #[serde(default)]
    pub backoff: PodBackoff,
    /// `None` on input: the default, filled in by normalization (see [`Pod::effective_upgrade_strategy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStrategy>,
    #[serde(default, skip_serializing_if = "PodPlacement::is_empty")]
    pub placement: PodPlacement,
    #[serde(default)]
    pub kill_selection: KillSelection,
    /// `None` on input: the default, filled in by normalization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_strategy: Option<UnreachableStrategy>,
}

/// `scheduling.backoff`, in seconds (numbers, not integers, in pods).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodBackoff {
    #[serde(default = "PodBackoff::default_backoff")]
    pub backoff: f64,
    #[serde(default = "PodBackoff::default_factor")]
    pub backoff_factor: f64,
    #[serde(default = "PodBackoff::default_max_launch_delay")]
    pub max_launch_delay: f64,
}

impl PodBackoff {
    fn default_backoff() -> f64 {
        1.0
    }
    fn default_factor() -> f64 {
        1.15
    }
    fn default_max_launch_delay() -> f64 {
        300.0
    }
}

impl Default for PodBackoff {
    fn default() -> Self {
        Self {
            backoff: Self::default_backoff(),
            backoff_factor: Self::default_factor(),
            max_launch_delay: Self::default_max_launch_delay(),
        }
    }
}

/// `scheduling.placement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// Operators upper case (RAML enum); deduplicated by normalization (RAML `uniqueItems`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<PodConstraint>,
    /// Empty = any role the server's default allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_resource_roles: Vec<String>,
}

impl PodPlacement {
    /// No constraints and no roles (upstream omits such a placement).
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty() && self.accepted_resource_roles.is_empty()
    }
}

/// A placement constraint, `{"fieldName": "hostname", "operator": "UNIQUE"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodConstraint {
    pub field_name: String,
    /// `UNIQUE`, `CLUSTER`, `GROUP_BY`, `LIKE`, `UNLIKE`, `MAX_PER` or `IS`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl PodConstraint {
    /// The app form, `[field, OPERATOR(, value)]`, which the constraint evaluation of apps takes.
    pub fn as_app_constraint(&self) -> Vec<String> {
        let mut c = vec![self.field_name.clone(), self.operator.clone()];
        c.extend(self.value.clone());
        c
    }
}

/// A container of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodContainer {
    pub name: String,
    /// `None`: the image's entrypoint runs (no image: nothing to run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<MesosExec>,
    pub resources: PodResources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceLimits>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, EnvValue>,
    /// Overrides the pod's `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<PodHealthCheck>,
    /// Mesos check (`{"http"|"tcp"|"exec": …}`), carried opaquely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
}

impl PodContainer {
    /// A container running `shell` with the default resources.
    pub fn shell(name: impl Into<String>, shell: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            exec: Some(MesosExec { command: MesosCommand::Shell { shell: shell.into() }, override_entrypoint: None }),
            resources: PodResources::default(),
            resource_limits: None,
            endpoints: Vec::new(),
            image: None,
            environment: BTreeMap::new(),
            user: None,
            health_check: None,
            check: None,
            volume_mounts: Vec::new(),
            artifacts: Vec::new(),
            labels: BTreeMap::new(),
            lifecycle: None,
            linux_info: None,
            tty: None,
        }
    }
}

/// `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MesosExec {
    pub command: MesosCommand,
    /// Only meaningful with an image: argv\[0\] replaces its entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_entrypoint: Option<bool>,
}

/// A command run by Mesos: through `/bin/sh -c`, or as an argument vector (no shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MesosCommand {
    Shell { shell: String },
    Argv { argv: Vec<String> },
}

/// `resources` of a container (every field written back).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PodResources {
    #[serde(default = "crate::app::default_cpus")]
    pub cpus: f64,
    #[serde(default = "crate::app::default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default)]
    pub gpus: i32,
}

impl Default for PodResources {
    fn default() -> Self {
        Self { cpus: crate::app::default_cpus(), mem: crate::app::default_mem(), disk: 0.0, gpus: 0 }
    }
}

/// A named port of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub name: String,
    /// Container networks: the port inside; not allowed with host networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    /// 0 = any port of the offer. Normalization sets 0 when absent, except on container networks
    /// (where absent = no host port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// Empty = `tcp` (see [`Endpoint::protocols`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_names: Vec<String>,
}

impl Endpoint {
    /// The protocols, `["tcp"]` when none are given.
    pub fn protocols(&self) -> Vec<String> {
        if self.protocol.is_empty() { vec!["tcp".to_string()] } else { self.protocol.clone() }
    }
}

/// `image.kind`: only `DOCKER` in 1.11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ImageKind {
    #[default]
    #[serde(rename = "DOCKER")]
    Docker,
}

/// `image` of a container (provisioned by the Mesos containerizer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub kind: ImageKind,
    pub id: String,
    /// `{"secret": "<name>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_config: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `http` / `tcp` health check scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum HttpScheme {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

/// `healthCheck.http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// The name of an endpoint of the same container.
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub scheme: HttpScheme,
}

/// `healthCheck.tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheck {
    pub endpoint: String,
}

/// `healthCheck.exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCheck {
    pub command: MesosCommand,
}

/// A container's health check (run by Mesos on the agent): exactly one of `http`, `tcp`, `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodHealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<CommandCheck>,
    #[serde(default = "PodHealthCheck::default_grace_period")]
    pub grace_period_seconds: i32,
    #[serde(default = "PodHealthCheck::default_interval")]
    pub interval_seconds: i32,
    #[serde(default = "PodHealthCheck::default_max_failures")]
    pub max_consecutive_failures: i32,
    #[serde(default = "PodHealthCheck::default_timeout")]
    pub timeout_seconds: i32,
    #[serde(default = "PodHealthCheck::default_delay")]
    pub delay_seconds: i32,
}

impl PodHealthCheck {
    fn default_grace_period() -> i32 {
        300
    }
    fn default_interval() -> i32 {
        60
    }
    fn default_max_failures() -> i32 {
        3
    }
    fn default_timeout() -> i32 {
        20
    }
    fn default_delay() -> i32 {
        15
    }

    /// A check with no kind set and every number at its default.
    pub fn with_defaults() -> Self {
        Self {
            http: None,
            tcp: None,
            exec: None,
            grace_period_seconds: Self::default_grace_period(),
            interval_seconds: Self::default_interval(),
            max_consecutive_failures: Self::default_max_failures(),
            timeout_seconds: Self::default_timeout(),
            delay_seconds: Self::default_delay(),
        }
    }

    /// The endpoint an `http` or `tcp` check connects to.
    pub fn endpoint(&self) -> Option<&str> {
        self.http.as_ref().map(|h| h.endpoint.as_str()).or_else(|| self.tcp.as_ref().map(|t| t.endpoint.as_str()))
    }
}

/// `volumeMounts[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// `lifecycle`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// SIGTERM to SIGKILL, in seconds (a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_period_seconds: Option<f64>,
}
