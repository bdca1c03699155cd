//! The app definition (`/v2/apps` request body, §2.1/§2.2 of the reference) as typed structs.
//!
//! Serde (camelCase, unknown fields ignored) gives the *storage* form: lossless, every field a
//! definition can hold. Clients see the *API* form built by [`crate::app_json`], which hides the
//! deprecated fields and applies the output rules. Fields whose absence means something
//! (`portDefinitions` absent ≠ `[]`, `upgradeStrategy` depends on residency, …) are `Option`s;
//! after [`crate::normalize()`] the ones with defaults are always `Some`.

use crate::time::{Timestamp, serde_ts};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Label key that limits an app to one instance and a `{0, 0}` upgrade strategy.
pub const LABEL_SINGLE_INSTANCE_APP: &str = "MARATHON_SINGLE_INSTANCE_APP";
/// DC/OS migration label: when set it must be `v1` and the two labels below must be set too.
pub const LABEL_DCOS_MIGRATION_API_VERSION: &str = "DCOS_MIGRATION_API_VERSION";
/// Required with [`LABEL_DCOS_MIGRATION_API_VERSION`].
pub const LABEL_DCOS_MIGRATION_API_PATH: &str = "DCOS_MIGRATION_API_PATH";
/// Required with [`LABEL_DCOS_MIGRATION_API_VERSION`].
pub const LABEL_DCOS_PACKAGE_FRAMEWORK_NAME: &str = "DCOS_PACKAGE_FRAMEWORK_NAME";

pub(crate) fn default_instances() -> i32 {
    1
}
pub(crate) fn default_cpus() -> f64 {
    1.0
}
pub(crate) fn default_mem() -> f64 {
    128.0
}
pub(crate) fn default_backoff_seconds() -> i32 {
    1
}
pub(crate) fn default_backoff_factor() -> f64 {
    1.15
}
pub(crate) fn default_max_launch_delay_seconds() -> i32 {
    300
}
fn default_true() -> bool {
    true
}
fn default_tcp() -> String {
    "tcp".to_string()
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// An app definition. See the module docs for the storage vs API forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDefinition {
    /// Raw on input (may be relative); canonical absolute (`/a/b`) after normalization.
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default = "default_instances")]
    pub instances: i32,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    #[serde(default = "default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default)]
    pub gpus: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceLimits>,
    #[serde(default)]
    pub executor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_resources: Option<ExecutorResources>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretDef>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `[field, OPERATOR, value?]`; operators are upper-cased by normalization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    /// Unset on input means "the default role"; normalization fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Deprecated input form of `portDefinitions`; `None` after normalization, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<i32>>,
    /// `None` = absent (host networking then gets one default port); `Some([])` = no ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    #[serde(default)]
    pub require_ports: bool,
    /// Empty on input means host networking; normalization writes `[{"mode":"host"}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// Deprecated (IP-per-task); migrated to `networks`/`portMappings`, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<Artifact>,
    /// Deprecated input form of `fetch`; `None` after normalization, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<AppHealthCheck>,
    /// Mesos check (`{"exec":…}`, `{"http":…}`, `{"tcp":…}`), carried opaquely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness_checks: Vec<ReadinessCheck>,
    /// Raw on input (may be relative); absolute after normalization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
    #[serde(default = "default_backoff_seconds")]
    pub backoff_seconds: i32,
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    #[serde(default = "default_max_launch_delay_seconds")]
    pub max_launch_delay_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_strategy: Option<UnreachableStrategy>,
    #[serde(default)]
    pub kill_selection: KillSelection,
    /// Deprecated and without effect; kept so resident apps echo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<Residency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Server-managed: the version of this definition. Parsed but never trusted from clients.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub version: Option<Timestamp>,
    /// Server-managed; parsed but never trusted from clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
}

impl Default for AppDefinition {
    fn default() -> Self {
        Self::with_id("")
    }
}

impl AppDefinition {
    /// A definition with every field at its default and the given id (upstream's template for
    /// `PUT /v2/apps/{id}` creating an app from an update).
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            cmd: None,
            args: Vec::new(),
            user: None,
            instances: default_instances(),
            cpus: default_cpus(),
            mem: default_mem(),
            disk: 0.0,
            gpus: 0,
            resource_limits: None,
            executor: String::new(),
            executor_resources: None,
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            labels: BTreeMap::new(),
            constraints: Vec::new(),
            accepted_resource_roles: None,
            role: None,
            ports: None,
            port_definitions: None,
            require_ports: false,
            networks: Vec::new(),
            container: None,
            ip_address: None,
            fetch: Vec::new(),
            uris: None,
            health_checks: Vec::new(),
            check: None,
            readiness_checks: Vec::new(),
            dependencies: Vec::new(),
            upgrade_strategy: None,
            backoff_seconds: default_backoff_seconds(),
            backoff_factor: default_backoff_factor(),
            max_launch_delay_seconds: default_max_launch_delay_seconds(),
            task_kill_grace_period_seconds: None,
            unreachable_strategy: None,
            kill_selection: KillSelection::default(),
            residency: None,
            tty: None,
            version: None,
            version_info: None,
        }
    }

    /// The id as a [`crate::PathId`] (resolved against the root if still relative).
    pub fn path_id(&self) -> crate::PathId {
        crate::PathId::parse(&self.id)
    }

    /// Resident apps have persistent volumes (they reserve resources and are relaunched in place).
    pub fn is_resident(&self) -> bool {
        self.container.as_ref().is_some_and(Container::has_persistent_volumes)
    }

    /// `true` if `networks` selects host networking (or is empty, which means host).
    pub fn has_host_networking(&self) -> bool {
        self.networks.is_empty() || self.networks.iter().any(|n| n.mode == NetworkMode::Host)
    }

    /// `true` if the single-instance label is `"true"`.
    pub fn is_single_instance(&self) -> bool {
        self.labels.get(LABEL_SINGLE_INSTANCE_APP).is_some_and(|v| v == "true")
    }

    /// The upgrade strategy, or its default (`{0.5, 0}` for resident or external-volume apps, `{1, 1}` otherwise).
    pub fn effective_upgrade_strategy(&self) -> UpgradeStrategy {
        self.upgrade_strategy.unwrap_or_else(|| {
            let pinned =
                self.container.as_ref().is_some_and(|c| c.has_persistent_volumes() || c.has_external_volumes());
            if pinned { UpgradeStrategy::FOR_RESIDENT_TASKS } else { UpgradeStrategy::default() }
        })
    }

    /// The unreachable strategy, or its default (`disabled` for resident apps, `{0, 0}` otherwise).
    pub fn effective_unreachable_strategy(&self) -> UnreachableStrategy {
        self.unreachable_strategy.unwrap_or(if self.is_resident() {
            UnreachableStrategy::Disabled
        } else {
            UnreachableStrategy::default()
        })
    }

    /// The port names and count used by health-check `portIndex` and readiness `portName`:
    /// `container.portMappings` when non-empty, else `portDefinitions`.
    pub(crate) fn port_names(&self) -> Vec<Option<String>> {
        match self.container.as_ref().and_then(|c| c.port_mappings.as_ref()).filter(|m| !m.is_empty()) {
            Some(mappings) => mappings.iter().map(|m| m.name.clone()).collect(),
            None => self.port_definitions.iter().flatten().map(|p| p.name.clone()).collect(),
        }
    }
}

/// `resourceLimits` (1.10): a number ≥ the requested amount, or `"unlimited"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResourceLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<ResourceLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<ResourceLimit>,
}

/// One resource limit. Any string parses; validation accepts only `"unlimited"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceLimit {
    Number(f64),
    Text(String),
}

/// Resources of a custom executor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExecutorResources {
    #[serde(default = "ExecutorResources::default_cpus")]
    pub cpus: f64,
    #[serde(default = "ExecutorResources::default_mem")]
    pub mem: f64,
    #[serde(default = "ExecutorResources::default_disk")]
    pub disk: f64,
}

impl ExecutorResources {
    fn default_cpus() -> f64 {
        0.1
    }
    fn default_mem() -> f64 {
        32.0
    }
    fn default_disk() -> f64 {
        10.0
    }
}

impl Default for ExecutorResources {
    fn default() -> Self {
        Self { cpus: Self::default_cpus(), mem: Self::default_mem(), disk: Self::default_disk() }
    }
}

/// An environment variable: a plain value or a reference to an entry of `secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Value(String),
    Secret { secret: String },
}

/// A secret definition: where the secret store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretDef {
    pub source: String,
}

/// A port of a host-networking app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDefinition {
    /// 0 = assign a service port; with `requirePorts` the host port to use.
    #[serde(default)]
    pub port: i32,
    /// `tcp`, `udp` or `udp,tcp`.
    #[serde(default = "default_tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl PortDefinition {
    /// A tcp port definition without name or labels.
    pub fn new(port: i32) -> Self {
        Self { port, protocol: default_tcp(), name: None, labels: BTreeMap::new() }
    }
}

/// How an app's tasks attach to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NetworkMode {
    #[serde(rename = "host")]
    Host,
    /// A named (CNI) container network.
    #[default]
    #[serde(rename = "container")]
    Container,
    #[serde(rename = "container/bridge")]
    ContainerBridge,
}

/// One entry of `networks`. Upstream's default mode is `container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Network {
    #[serde(default)]
    pub mode: NetworkMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// `{"mode": mode}`.
    pub fn new(mode: NetworkMode) -> Self {
        Self { mode, name: None, labels: BTreeMap::new() }
    }
}

/// Container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ContainerType {
    /// The Docker containerizer (upstream's RAML default).
    #[default]
    #[serde(rename = "DOCKER")]
    Docker,
    /// The Mesos containerizer (UCR), optionally with a Docker image.
    #[serde(rename = "MESOS")]
    Mesos,
}

/// `container`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(rename = "type", default)]
    pub kind: ContainerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerContainer>,
    /// Non-host networking only. `None` = absent (defaults apply), `Some([])` = no ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    /// Host, persistent, external and secret volumes, carried as JSON objects.
    #[serde(default)]
    pub volumes: Vec<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<Json>,
}

impl Container {
    /// An empty Mesos container.
    pub fn mesos() -> Self {
        Self { kind: ContainerType::Mesos, ..Self::default() }
    }

    /// `true` if a volume has a `persistent` section (the app is then resident).
    pub fn has_persistent_volumes(&self) -> bool {
        self.volumes.iter().any(|v| v.get("persistent").is_some_and(|p| !p.is_null()))
    }

    /// `true` if a volume has an `external` section.
    pub fn has_external_volumes(&self) -> bool {
        self.volumes.iter().any(|v| v.get("external").is_some_and(|p| !p.is_null()))
    }
}

/// Deprecated `container.docker.network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DockerNetwork {
    #[serde(rename = "BRIDGE")]
    Bridge,
    #[serde(rename = "HOST")]
    Host,
    #[serde(rename = "USER")]
    User,
    #[serde(rename = "NONE")]
    None,
}

impl DockerNetwork {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bridge => "BRIDGE",
            Self::Host => "HOST",
            Self::User => "USER",
            Self::None => "NONE",
        }
    }
}

/// `container.docker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DockerContainer {
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub force_pull_image: bool,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<DockerParameter>,
    /// Deprecated; migrated to `networks` and cleared by normalization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<DockerNetwork>,
    /// Deprecated; moved to `container.portMappings` by normalization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    /// `{"secret": "<name>"}`, Mesos containerizer only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_config: Option<Json>,
    /// Deprecated `{principal, secret}`; rejected by validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Json>,
}

/// A `docker run` flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerParameter {
    pub key: String,
    pub value: String,
}

/// A container port mapping (non-host networking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// 0 = same as the assigned host port.
    #[serde(default)]
    pub container_port: i32,
    /// Bridge: `None` is normalized to 0 (random). Container networks: `None` = no host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// 0 = assign a service port.
    #[serde(default)]
    pub service_port: i32,
    #[serde(default = "default_tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_names: Vec<String>,
}

impl Default for PortMapping {
    fn default() -> Self {
        Self {
            container_port: 0,
            host_port: None,
            service_port: 0,
            protocol: default_tcp(),
            name: None,
            labels: BTreeMap::new(),
            network_names: Vec::new(),
        }
    }
}

/// Deprecated `ipAddress` (IP-per-task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<IpDiscovery>,
}

/// `ipAddress.discovery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IpDiscovery {
    #[serde(default)]
    pub ports: Vec<IpDiscoveryPort>,
}

/// `ipAddress.discovery.ports[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpDiscoveryPort {
    #[serde(default)]
    pub number: i32,
    pub name: String,
    #[serde(default = "default_tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A URI the fetcher downloads into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub uri: String,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

impl Artifact {
    /// The `fetch` entry a deprecated `uris` entry becomes: extract only if the URI's path has an
    /// extension the Mesos fetcher extracts.
    pub fn from_uri(uri: &str) -> Self {
        const ARCHIVES: [&str; 9] = [".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".gz", ".tgz", ".tbz2", ".txz", ".zip"];
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let extract = ARCHIVES.iter().any(|suffix| path.ends_with(suffix));
        Self { uri: uri.to_string(), extract, executable: false, cache: false, dest_path: None }
    }
}

/// Health check protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum HealthCheckProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "COMMAND")]
    Command,
    #[serde(rename = "MESOS_HTTP")]
    MesosHttp,
    #[serde(rename = "MESOS_HTTPS")]
    MesosHttps,
    #[serde(rename = "MESOS_TCP")]
    MesosTcp,
}

impl HealthCheckProtocol {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Tcp => "TCP",
            Self::Command => "COMMAND",
            Self::MesosHttp => "MESOS_HTTP",
            Self::MesosHttps => "MESOS_HTTPS",
            Self::MesosTcp => "MESOS_TCP",
        }
    }

    /// Checks Marathon itself performs (as opposed to Mesos on the agent).
    pub fn is_marathon_check(self) -> bool {
        matches!(self, Self::Http | Self::Https | Self::Tcp)
    }

    /// Checks with a `path`.
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https | Self::MesosHttp | Self::MesosHttps)
    }
}

/// IP version of Mesos health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum IpProtocol {
    #[default]
    #[serde(rename = "IPv4")]
    IPv4,
    #[serde(rename = "IPv6")]
    IPv6,
}

/// The shell command of a `COMMAND` health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCheck {
    pub value: String,
}

/// An app health check. After normalization `protocol` is set, HTTP-family checks have a
/// `path`, HTTP/HTTPS checks `ignoreHttp1xx`, and port-based checks a `portIndex` when the app
/// has ports and no fixed `port` was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppHealthCheck {
    /// `None` on input means `HTTP`, or `COMMAND` when a `command` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<HealthCheckProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<i32>,
    #[serde(default = "AppHealthCheck::default_grace_period")]
    pub grace_period_seconds: i32,
    #[serde(default = "AppHealthCheck::default_interval")]
    pub interval_seconds: i32,
    #[serde(default = "AppHealthCheck::default_timeout")]
    pub timeout_seconds: i32,
    #[serde(default = "AppHealthCheck::default_max_failures")]
    pub max_consecutive_failures: i32,
    #[serde(default = "AppHealthCheck::default_delay")]
    pub delay_seconds: i32,
    #[serde(default, rename = "ignoreHttp1xx", skip_serializing_if = "Option::is_none")]
    pub ignore_http1xx: Option<bool>,
    #[serde(default)]
    pub ip_protocol: IpProtocol,
}

impl AppHealthCheck {
    fn default_grace_period() -> i32 {
        300
    }
    fn default_interval() -> i32 {
        60
    }
    fn default_timeout() -> i32 {
        20
    }
    fn default_max_failures() -> i32 {
        3
    }
    fn default_delay() -> i32 {
        15
    }

    /// A check of `protocol` with every other field at its default.
    pub fn new(protocol: HealthCheckProtocol) -> Self {
        Self {
            protocol: Some(protocol),
            command: None,
            path: None,
            port: None,
            port_index: None,
            grace_period_seconds: Self::default_grace_period(),
            interval_seconds: Self::default_interval(),
            timeout_seconds: Self::default_timeout(),
            max_consecutive_failures: Self::default_max_failures(),
            delay_seconds: Self::default_delay(),
            ignore_http1xx: None,
            ip_protocol: IpProtocol::IPv4,
        }
    }

    /// The protocol with the input default applied.
    pub fn effective_protocol(&self) -> HealthCheckProtocol {
        self.protocol.unwrap_or(if self.command.is_some() {
            HealthCheckProtocol::Command
        } else {
            HealthCheckProtocol::Http
        })
    }
}

/// A readiness check (at most one per app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheck {
    #[serde(default = "ReadinessCheck::default_name")]
    pub name: String,
    /// `HTTP` or `HTTPS`.
    #[serde(default = "ReadinessCheck::default_protocol")]
    pub protocol: String,
    #[serde(default = "ReadinessCheck::default_path")]
    pub path: String,
    #[serde(default = "ReadinessCheck::default_port_name")]
    pub port_name: String,
    #[serde(default = "ReadinessCheck::default_interval")]
    pub interval_seconds: i32,
    #[serde(default = "ReadinessCheck::default_timeout")]
    pub timeout_seconds: i32,
    /// Normalization fills in `[200]` when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status_codes_for_ready: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub preserve_last_response: bool,
}

impl ReadinessCheck {
    fn default_name() -> String {
        "readinessCheck".to_string()
    }
    fn default_protocol() -> String {
        "HTTP".to_string()
    }
    fn default_path() -> String {
        "/".to_string()
    }
    fn default_port_name() -> String {
        "http-api".to_string()
    }
    fn default_interval() -> i32 {
        30
    }
    fn default_timeout() -> i32 {
        10
    }
}

impl Default for ReadinessCheck {
    fn default() -> Self {
        Self {
            name: Self::default_name(),
            protocol: Self::default_protocol(),
            path: Self::default_path(),
            port_name: Self::default_port_name(),
            interval_seconds: Self::default_interval(),
            timeout_seconds: Self::default_timeout(),
            http_status_codes_for_ready: None,
            preserve_last_response: false,
        }
    }
}

/// How many instances may be down / extra during a rolling upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default = "one")]
    pub minimum_health_capacity: f64,
    #[serde(default = "one")]
    pub maximum_over_capacity: f64,
}

fn one() -> f64 {
    1.0
}

impl UpgradeStrategy {
    /// The default for resident (and external-volume) apps.
    pub const FOR_RESIDENT_TASKS: Self = Self { minimum_health_capacity: 0.5, maximum_over_capacity: 0.0 };
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        Self { minimum_health_capacity: 1.0, maximum_over_capacity: 1.0 }
    }
}

/// What happens to instances whose agent became unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UnreachableRepr", into = "UnreachableRepr")]
pub enum UnreachableStrategy {
    /// `"disabled"`: wait forever.
    Disabled,
    /// Replace after `inactive_after_seconds`, expunge after `expunge_after_seconds`.
    Enabled { inactive_after_seconds: i64, expunge_after_seconds: i64 },
}

impl Default for UnreachableStrategy {
    fn default() -> Self {
        Self::Enabled { inactive_after_seconds: 0, expunge_after_seconds: 0 }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum UnreachableRepr {
    Text(String),
    #[serde(rename_all = "camelCase")]
    Object {
        #[serde(default)]
        inactive_after_seconds: i64,
        #[serde(default)]
        expunge_after_seconds: i64,
    },
}

impl TryFrom<UnreachableRepr> for UnreachableStrategy {
    type Error = String;

    fn try_from(repr: UnreachableRepr) -> Result<Self, Self::Error> {
        match repr {
            UnreachableRepr::Text(s) if s == "disabled" => Ok(Self::Disabled),
            UnreachableRepr::Text(s) => Err(format!("unknown unreachable strategy {s:?}")),
            UnreachableRepr::Object { inactive_after_seconds, expunge_after_seconds } => {
                Ok(Self::Enabled { inactive_after_seconds, expunge_after_seconds })
            }
        }
    }
}

impl From<UnreachableStrategy> for UnreachableRepr {
    fn from(s: UnreachableStrategy) -> Self {
        match s {
            UnreachableStrategy::Disabled => Self::Text("disabled".to_string()),
            UnreachableStrategy::Enabled { inactive_after_seconds, expunge_after_seconds } => {
                Self::Object { inactive_after_seconds, expunge_after_seconds }
            }
        }
    }
}

/// Which instances to kill first when scaling down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KillSelection {
    #[default]
    #[serde(rename = "YOUNGEST_FIRST")]
    YoungestFirst,
    #[serde(rename = "OLDEST_FIRST")]
    OldestFirst,
}

/// Deprecated `residency` (no effect since 1.8; echoed for resident apps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Residency {
    #[serde(default = "Residency::default_relaunch_timeout")]
    pub relaunch_escalation_timeout_seconds: i64,
    /// `WAIT_FOREVER` or `RELAUNCH_AFTER_TIMEOUT`.
    #[serde(default = "Residency::default_task_lost_behavior")]
    pub task_lost_behavior: String,
}

impl Residency {
    fn default_relaunch_timeout() -> i64 {
        3600
    }
    fn default_task_lost_behavior() -> String {
        "WAIT_FOREVER".to_string()
    }
}

impl Default for Residency {
    fn default() -> Self {
        Self {
            relaunch_escalation_timeout_seconds: Self::default_relaunch_timeout(),
            task_lost_behavior: Self::default_task_lost_behavior(),
        }
    }
}

/// When the definition last changed in scale and in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(with = "serde_ts")]
    pub last_scaling_at: Timestamp,
    #[serde(with = "serde_ts")]
    pub last_config_change_at: Timestamp,
}
