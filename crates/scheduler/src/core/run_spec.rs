//! The domain app definition ([`RunSpec`]) the core schedules, and how a new definition relates
//! to the old one (scale-only or config change).
//!
//! Architecture invariant: nothing here knows Marathon's JSON. The `marathon-api` crate converts
//! its DTOs into these types (defaults applied, ids canonical, validated) before the core sees
//! them.

use super::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// An app id: an absolute path such as `/prod/web` (canonical: leading `/`, no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(String);

impl AppId {
    /// Canonicalises `path` (adds the leading `/`, drops empty segments).
    pub fn new(path: &str) -> Self {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        Self(format!("/{}", segments.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// Path segments joined by `_`: `/prod/web` is `prod_web`. Prefix of instance ids.
    pub fn safe_id(&self) -> String {
        self.segments().collect::<Vec<_>>().join("_")
    }

    /// Segments reversed and joined by `.`: `/prod/web` is `web.prod`. Upstream Marathon names
    /// tasks (and their discovery info) this way so that Mesos-DNS can derive host names.
    pub fn hostname(&self) -> String {
        let mut segments: Vec<&str> = self.segments().collect();
        segments.reverse();
        segments.join(".")
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    /// `cmd`: run with `/bin/sh -c`.
    Shell(String),
    /// `args`: exec form, the whole argv (argv\[0\] is the program).
    Args(Vec<String>),
    /// Neither: a Docker container's own entry point and command.
    None,
}

/// An artifact the fetcher downloads into the sandbox (`fetch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUri {
    pub uri: String,
    pub extract: bool,
    pub executable: bool,
    pub cache: bool,
    pub dest_path: Option<String>,
}

/// A port of an app: one of `portDefinitions` (host networking) or of
/// `container.portMappings` (bridge and container networks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDefinition {
    /// The service port; 0 asks for one from the service port range (see
    /// [`assign_service_ports`](super::ports::assign_service_ports)).
    pub port: u16,
    pub name: Option<String>,
    /// `tcp`, `udp` or `udp,tcp`.
    pub protocol: String,
    pub labels: BTreeMap<String, String>,
    /// Port mappings only: the port inside the container (0: the host port's number).
    pub container_port: Option<u16>,
    /// Port mappings only: the host port, `Some(0)` for any offered port, `None` for none (a
    /// container network's port reached at the container's address). Port definitions take
    /// their host port from the offer (`require_ports`: the service port itself).
    pub host_port: Option<u16>,
}

impl PortDefinition {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            name: None,
            protocol: "tcp".to_string(),
            labels: BTreeMap::new(),
            container_port: None,
            host_port: None,
        }
    }

    /// A port mapping `host_port` -> `container_port` with service port `service_port`.
    pub fn mapping(container_port: u16, host_port: Option<u16>, service_port: u16) -> Self {
        Self { container_port: Some(container_port), host_port, ..Self::new(service_port) }
    }

    pub fn named(port: u16, name: &str) -> Self {
        Self { name: Some(name.to_string()), ..Self::new(port) }
    }
}

/// How an app's tasks attach to the network (`networks`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// The agent's network; ports from `portDefinitions`.
    #[default]
    Host,
    /// Docker's bridge (`container/bridge`); ports from port mappings.
    Bridge,
    /// A named container (Docker user-defined) network (`container`).
    Container(String),
}

/// A Docker container (`container.type: DOCKER`) the app's tasks run in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerContainer {
    pub image: String,
    pub privileged: bool,
    pub force_pull_image: bool,
    /// `docker run` options as `(key, value)`, in order.
    pub parameters: Vec<(String, String)>,
    pub volumes: Vec<HostVolume>,
}

/// A host path mounted into the container (`container.volumes` with a `hostPath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    pub container_path: String,
    pub host_path: String,
    pub read_only: bool,
}

/// How one port of a task is reached: its host port (at the agent's address) and the port
/// inside its container (at the container's address), as upstream's `PortAssignment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortAssignment {
    pub host_port: Option<u16>,
    pub container_port: Option<u16>,
}

/// Launch backoff (`backoffSeconds`, `backoffFactor`, `maxLaunchDelaySeconds`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffStrategy {
    pub backoff: Duration,
    pub factor: f64,
    pub max_launch_delay: Duration,
}

impl Default for BackoffStrategy {
    fn default() -> Self {
        Self { backoff: Duration::from_secs(1), factor: 1.15, max_launch_delay: Duration::from_secs(300) }
    }
}

/// What happens to instances whose agent is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableStrategy {
    /// Wait for the agent forever (resident apps).
    Disabled,
    /// After `inactive_after` the instance stops counting and is replaced; after
    /// `expunge_after` it is forgotten (a task that shows up later is killed).
    Enabled { inactive_after: Duration, expunge_after: Duration },
}

impl Default for UnreachableStrategy {
    fn default() -> Self {
        Self::Enabled { inactive_after: Duration::ZERO, expunge_after: Duration::ZERO }
    }
}

/// Which instances go first when scaling down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillSelection {
    #[default]
    YoungestFirst,
    OldestFirst,
}

/// Stored for deployments (a later issue).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpgradeStrategy {
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        Self { minimum_health_capacity: 1.0, maximum_over_capacity: 1.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintOperator {
    Unique,
    Cluster,
    GroupBy,
    Like,
    Unlike,
    MaxPer,
    Is,
}

/// `[field, OPERATOR, value?]`, evaluated by [`placement`](super::matcher::placement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub field: String,
    pub operator: ConstraintOperator,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckProtocol {
    /// Executed by Marathon (a later issue).
    Http,
    Https,
    Tcp,
    /// Executed by Mesos on the agent: these go into the TaskInfo.
    Command,
    MesosHttp,
    MesosHttps,
    MesosTcp,
}

impl HealthCheckProtocol {
    /// Whether Mesos runs the check (and the check goes into `TaskInfo.health_check`).
    pub fn is_mesos(self) -> bool {
        matches!(self, Self::Command | Self::MesosHttp | Self::MesosHttps | Self::MesosTcp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub protocol: HealthCheckProtocol,
    pub path: Option<String>,
    pub port_index: Option<usize>,
    pub port: Option<u16>,
    /// Shell command of COMMAND checks.
    pub command: Option<String>,
    pub grace_period: Duration,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_consecutive_failures: u32,
    pub delay: Duration,
    pub ignore_http1xx: bool,
}

impl HealthCheck {
    /// Marathon's defaults for `protocol`.
    pub fn new(protocol: HealthCheckProtocol) -> Self {
        Self {
            protocol,
            path: None,
            port_index: None,
            port: None,
            command: None,
            grace_period: Duration::from_secs(300),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(20),
            max_consecutive_failures: 3,
            delay: Duration::from_secs(15),
            ignore_http1xx: false,
        }
    }
}

/// A readiness check (`readinessChecks`): polled over HTTP(S) for new instances until one of
/// `ready_statuses` answers; deployments wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessCheck {
    pub name: String,
    pub https: bool,
    pub path: String,
    /// Index into the port definitions (from `portName`).
    pub port_index: usize,
    pub interval: Duration,
    pub timeout: Duration,
    pub ready_statuses: Vec<u16>,
    pub preserve_last_response: bool,
}

/// When the definition last changed in size and in anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VersionInfo {
    pub last_scaling_at: Timestamp,
    pub last_config_change_at: Timestamp,
}

/// An app definition, as the core schedules it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub id: AppId,
    /// The version of this definition (the time it was written).
    pub version: Timestamp,
    /// Derived by the core on every put (see [`derive_version_info`]); the given value is
    /// ignored.
    pub version_info: VersionInfo,
    pub instances: u32,
    pub cpus: f64,
    /// MiB.
    pub mem: f64,
    /// MiB.
    pub disk: f64,
    pub gpus: u32,
    pub command: CommandSpec,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub fetch: Vec<FetchUri>,
    pub port_definitions: Vec<PortDefinition>,
    pub require_ports: bool,
    pub constraints: Vec<Constraint>,
    /// Roles whose resources may be used; `None` means the app's role and `*`.
    pub accepted_resource_roles: Option<BTreeSet<String>>,
    /// The Mesos role the app's tasks run under.
    pub role: String,
    pub backoff: BackoffStrategy,
    /// SIGTERM to SIGKILL delay (`taskKillGracePeriodSeconds`).
    pub task_kill_grace_period: Option<Duration>,
    pub unreachable_strategy: UnreachableStrategy,
    pub kill_selection: KillSelection,
    pub upgrade_strategy: UpgradeStrategy,
    pub health_checks: Vec<HealthCheck>,
    pub readiness_checks: Vec<ReadinessCheck>,
    pub user: Option<String>,
    pub network: Network,
    /// `None`: the command runs on the agent's file system (the Mesos containerizer).
    pub docker: Option<Box<DockerContainer>>,
    /// A pod's containers: its instances launch as task groups (one task per container, under
    /// Mesos' default executor). `None` for apps.
    pub pod: Option<Box<PodSpec>>,
}

/// What a pod runs (`RunSpec::pod`). The pod's `RunSpec` holds what it shares: resources summed
/// over its containers and the executor (what an offer must hold), its endpoints as
/// `port_definitions` (host ports, `require_ports`: a fixed `hostPort` is that port), the
/// pod's environment and labels, scheduling and the containers' Mesos health checks (for the
/// instance's health).
#[derive(Debug, Clone, PartialEq)]
pub struct PodSpec {
    pub containers: Vec<PodContainer>,
    /// The default executor's own resources (`executorResources`).
    pub executor_cpus: f64,
    pub executor_mem: f64,
    pub executor_disk: f64,
}

/// One container of a pod: one task of each instance's task group.
#[derive(Debug, Clone, PartialEq)]
pub struct PodContainer {
    pub name: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub command: CommandSpec,
    /// The container's own environment (over the pod's).
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub fetch: Vec<FetchUri>,
    /// Its endpoints: indices into the pod's `port_definitions`.
    pub endpoints: Vec<usize>,
    /// Run by the executor; a port check's `port_index` indexes the pod's `port_definitions`.
    pub health_check: Option<HealthCheck>,
    /// SIGTERM to SIGKILL delay (`lifecycle.killGracePeriodSeconds`).
    pub kill_grace_period: Option<Duration>,
}

impl PodContainer {
    /// A container with upstream's default resources and no command.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            cpus: 1.0,
            mem: 128.0,
            disk: 0.0,
            command: CommandSpec::None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            fetch: Vec::new(),
            endpoints: Vec::new(),
            health_check: None,
            kill_grace_period: None,
        }
    }
}

impl PodSpec {
    /// Sets what `spec` (a pod's) shares from these containers: the resources of the
    /// containers and the executor together, and each container's health check (as Mesos
    /// checks, which the instance's health is made of).
    pub fn apply_to(self, spec: &mut RunSpec) {
        spec.cpus = self.executor_cpus + self.containers.iter().map(|c| c.cpus).sum::<f64>();
        spec.mem = self.executor_mem + self.containers.iter().map(|c| c.mem).sum::<f64>();
        spec.disk = self.executor_disk + self.containers.iter().map(|c| c.disk).sum::<f64>();
        spec.health_checks = self.containers.iter().filter_map(|c| c.health_check.clone()).collect();
        spec.require_ports = true;
        spec.network = Network::Host;
        spec.docker = None;
        spec.command = CommandSpec::None;
        spec.pod = Some(Box::new(self));
    }
}

impl RunSpec {
    /// A definition with Marathon's defaults (1 instance, 1 cpu, 128 MiB, one dynamic port).
    pub fn new(id: AppId, version: Timestamp) -> Self {
        Self {
            id,
            version,
            version_info: VersionInfo { last_scaling_at: version, last_config_change_at: version },
            instances: 1,
            cpus: 1.0,
            mem: 128.0,
            disk: 0.0,
            gpus: 0,
            command: CommandSpec::None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            fetch: Vec::new(),
            port_definitions: vec![PortDefinition::named(0, "default")],
            require_ports: false,
            constraints: Vec::new(),
            accepted_resource_roles: None,
            role: "*".to_string(),
            backoff: BackoffStrategy::default(),
            task_kill_grace_period: None,
            unreachable_strategy: UnreachableStrategy::default(),
            kill_selection: KillSelection::default(),
            upgrade_strategy: UpgradeStrategy::default(),
            health_checks: Vec::new(),
            readiness_checks: Vec::new(),
            user: None,
            network: Network::Host,
            docker: None,
            pod: None,
        }
    }

    pub fn is_pod(&self) -> bool {
        self.pod.is_some()
    }

    /// Whether `other` runs the same thing: every field equal except `instances`, `version` and
    /// `version_info`.
    pub fn same_config(&self, other: &RunSpec) -> bool {
        let normalized = RunSpec {
            instances: self.instances,
            version: self.version,
            version_info: self.version_info,
            ..other.clone()
        };
        *self == normalized
    }

    /// The roles whose resources this app's tasks may use.
    pub fn usable_roles(&self) -> BTreeSet<String> {
        let allowed: BTreeSet<String> = [self.role.clone(), "*".to_string()].into();
        match &self.accepted_resource_roles {
            Some(accepted) => accepted.intersection(&allowed).cloned().collect(),
            None => allowed,
        }
    }

    /// Whether an instance launched for version `version` runs this definition's config: from
    /// the last config change up to this version (a rollback moves the version back, so
    /// instances of the abandoned newer versions are outdated).
    pub fn is_current(&self, version: Timestamp) -> bool {
        self.version_info.last_config_change_at <= version && version <= self.version
    }

    /// The service ports (`portDefinitions[].port` or `portMappings[].servicePort`) in order.
    pub fn service_ports(&self) -> Vec<u16> {
        self.port_definitions.iter().map(|p| p.port).collect()
    }

    /// Whether the ports are port mappings of a bridge or container network.
    pub fn has_port_mappings(&self) -> bool {
        self.network != Network::Host
    }

    /// How each port of a task with these host ports (the task's `ports`, one per port that
    /// has one, in order) is reached.
    pub fn port_assignments(&self, host_ports: &[u16]) -> Vec<PortAssignment> {
        let mut hosts = host_ports.iter().copied();
        self.port_definitions
            .iter()
            .map(|p| {
                if !self.has_port_mappings() {
                    return PortAssignment { host_port: hosts.next(), container_port: None };
                }
                let host_port = p.host_port.and_then(|_| hosts.next());
                // On the bridge, container port 0 means the host port's number.
                let container_port = match (p.container_port, host_port) {
                    (Some(0) | None, Some(h)) => Some(h),
                    (Some(0) | None, None) => None,
                    (Some(c), _) => Some(c),
                };
                PortAssignment { host_port, container_port }
            })
            .collect()
    }
}

/// The version info of `new` given the definition it replaces: a config change (anything but
/// `instances` differs) moves both timestamps to `new.version`, a scale change only
/// `last_scaling_at`, and an identical definition keeps the old info. The API layer calls this
/// too, so that what it stores equals what the core derives.
pub fn derive_version_info(old: Option<&RunSpec>, new: &RunSpec) -> VersionInfo {
    match old {
        None => VersionInfo { last_scaling_at: new.version, last_config_change_at: new.version },
        Some(old) if !old.same_config(new) => {
            VersionInfo { last_scaling_at: new.version, last_config_change_at: new.version }
        }
        Some(old) if old.instances != new.instances => {
            VersionInfo { last_scaling_at: new.version, last_config_change_at: old.version_info.last_config_change_at }
        }
        Some(old) => old.version_info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: i64) -> RunSpec {
        RunSpec::new(AppId::new("/prod/web"), Timestamp::from_millis(version))
    }

    #[test]
    fn app_ids_are_canonical() {
        assert_eq!(AppId::new("prod/web/").as_str(), "/prod/web");
        assert_eq!(AppId::new("/prod//web").safe_id(), "prod_web");
        assert_eq!(AppId::new("/prod/web").hostname(), "web.prod");
    }

    #[test]
    fn version_info_tells_scale_from_config_changes() {
        let old = RunSpec { version_info: derive_version_info(None, &spec(1)), ..spec(1) };
        assert_eq!(old.version_info, VersionInfo { last_scaling_at: old.version, last_config_change_at: old.version });

        let scaled = RunSpec { instances: 3, ..spec(2) };
        assert_eq!(
            derive_version_info(Some(&old), &scaled),
            VersionInfo {
                last_scaling_at: Timestamp::from_millis(2),
                last_config_change_at: Timestamp::from_millis(1)
            }
        );

        let changed = RunSpec { command: CommandSpec::Shell("sleep 1".into()), ..spec(3) };
        assert_eq!(
            derive_version_info(Some(&old), &changed),
            VersionInfo {
                last_scaling_at: Timestamp::from_millis(3),
                last_config_change_at: Timestamp::from_millis(3)
            }
        );

        assert_eq!(derive_version_info(Some(&old), &spec(4)), old.version_info);
    }

    #[test]
    fn usable_roles_default_to_own_role_and_unreserved() {
        let mut s = spec(1);
        s.role = "web".into();
        assert_eq!(s.usable_roles(), ["*".to_string(), "web".to_string()].into());
        s.accepted_resource_roles = Some(["web".to_string(), "other".to_string()].into());
        assert_eq!(s.usable_roles(), ["web".to_string()].into());
    }
}
