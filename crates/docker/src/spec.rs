//! The pure part: a Mesos task with a `DOCKER` ContainerInfo, its resources and environment,
//! mapped to the container to create, as Mesos' Docker containerizer does
//! (`Docker::RunOptions::create` in upstream `src/docker/docker.cpp`), but onto the Engine API
//! instead of a `docker run` command line.
//!
//! * name `mesos-<containerId>`; labels naming the agent, framework, task and container
//!   ([`labels`]), so that an agent finds its own containers (and only those) after a restart;
//! * `cpu.shares = max(1024 × cpus, 2)`; a CFS quota of `max(100 ms × cpus, 1 ms)` per 100 ms
//!   when the task has a finite `cpus` limit, or from its `cpus` with `--cgroups_enable_cfs`;
//!   memory limit `max(mem, 32 MB)` (its `mem` limit when it has one, the `mem` request then
//!   being the reservation);
//! * environment: the agent's variables for the task, then the task's `CommandInfo`
//!   variables (not overriding the agent's), then `MESOS_SANDBOX` (the sandbox's path inside
//!   the container, `--sandbox_directory`) and `MESOS_CONTAINER_NAME`;
//! * command: with `shell` (the default), entrypoint `/bin/sh` and command `-c <value>`;
//!   without, the image's entrypoint with the command `[value] + arguments` (the image's own
//!   command when both are empty);
//! * the sandbox mounted at `--sandbox_directory`; host-path volumes RO/RW (a relative host path
//!   is in the sandbox, a relative container path under the mapped sandbox); named Docker
//!   volumes;
//! * network `HOST` (the default), `BRIDGE`, `NONE`, or `USER` (the one `NetworkInfo`'s name),
//!   port mappings host -> container on bridge and user networks, each host port one of the
//!   task's `ports`;
//! * `privileged`, `force_pull_image`, and `parameters` ([`crate::params`]), which come last and
//!   so override what came before, as they do on Mesos' `docker run` command line.
//!
//! What the mapping cannot honour is refused by name ([`SpecError`]), never dropped.

use crate::params;
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, NetworkingConfig};
use mesos_api::container::{ContainerInfo, ContainerType, DockerNetwork, Limit, ResourceLimits, VolumeMode};
use mesos_api::resources::ResourceSet;
use mesos_api::{CommandInfo, Resource};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Prefix of the names of the containers the containerizer makes (as upstream).
pub const NAME_PREFIX: &str = "mesos-";

/// Where the sandbox appears inside a container (Mesos' `--sandbox_directory` default).
pub const DEFAULT_SANDBOX_DIRECTORY: &str = "/mnt/mesos/sandbox";

/// Labels set on every container.
pub mod labels {
    /// Which agent owns the container on this dockerd ([`super::Settings::owner`]). Recovery
    /// and cleanup only ever touch containers with this agent's value.
    pub const OWNER: &str = "mesos.agent";
    pub const AGENT_ID: &str = "mesos.agent_id";
    pub const FRAMEWORK_ID: &str = "mesos.framework_id";
    pub const TASK_ID: &str = "mesos.task_id";
    pub const CONTAINER_ID: &str = "mesos.container_id";
    /// Sizes of the sandbox's `stdout`/`stderr` when the container was created: the
    /// container's output is appended after them, so a re-attached stream knows how much of
    /// the log is already there.
    pub const STDOUT_BASE: &str = "mesos.stdout_base";
    pub const STDERR_BASE: &str = "mesos.stderr_base";

    /// Whether `key` is one of the containerizer's own labels (a `label` parameter may not
    /// set it).
    pub fn is_reserved(key: &str) -> bool {
        key.starts_with("mesos.")
    }
}

/// Docker's and Mesos' floor for the memory limit.
const MIN_MEMORY: u64 = 32 * 1024 * 1024;
const CPU_SHARES_PER_CPU: f64 = 1024.0;
const MIN_CPU_SHARES: i64 = 2;
/// The CFS period (the kernel's default, 100 ms) and the smallest quota, in microseconds.
const CFS_PERIOD_US: f64 = 100_000.0;
const MIN_CFS_QUOTA_US: i64 = 1_000;

/// The agent's settings that shape every container.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The value of the [`labels::OWNER`] label: identifies the agent among those sharing a
    /// dockerd, and must stay the same across its restarts (the agent's work dir does both).
    pub owner: String,
    /// Mesos' `--sandbox_directory`: the sandbox's path inside containers.
    pub sandbox_directory: String,
    /// Mesos' `--cgroups_enable_cfs`: a hard CPU quota from the task's `cpus`.
    pub cgroups_enable_cfs: bool,
    /// The host's memory, for the OOM score of a task whose memory limit exceeds its request
    /// (as upstream: `1000 - 1000 × request / total`). `None`: no score is set.
    pub host_memory_bytes: Option<u64>,
    /// The agent's `--cgroups_pids_max` with its `cgroups/pids` isolator: each container's
    /// process limit (`PidsLimit`), so that a fork bomb stays inside its task as with command
    /// tasks. A `pids-limit` parameter may lower it, never raise it. `None`: no limit.
    pub pids_max: Option<u64>,
}

impl Settings {
    pub fn new(owner: impl Into<String>) -> Self {
        Settings {
            owner: owner.into(),
            sandbox_directory: DEFAULT_SANDBOX_DIRECTORY.to_string(),
            cgroups_enable_cfs: false,
            host_memory_bytes: None,
            pids_max: None,
        }
    }
}

/// A task to run in a Docker container: what the agent knows about it.
#[derive(Debug, Clone, Copy)]
pub struct TaskContainer<'a> {
    pub agent_id: &'a str,
    pub framework_id: &'a str,
    pub task_id: &'a str,
    pub container_id: &'a str,
    pub container: &'a ContainerInfo,
    /// `TaskInfo.command`; `None` runs the image's entrypoint and command.
    pub command: Option<&'a CommandInfo>,
    pub resources: &'a [Resource],
    pub limits: Option<&'a ResourceLimits>,
    /// Variables the agent sets for the task (`MESOS_TASK_ID`, ...), before the task's own.
    pub env: &'a [(String, String)],
    /// The sandbox on the host.
    pub sandbox: &'a Path,
}

/// The network a container joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    Host,
    Bridge,
    None,
    /// A user-defined network, by name.
    User(String),
}

impl NetworkMode {
    /// The API's `NetworkMode` text.
    pub fn as_str(&self) -> &str {
        match self {
            NetworkMode::Host => "host",
            NetworkMode::Bridge => "bridge",
            NetworkMode::None => "none",
            NetworkMode::User(name) => name,
        }
    }

    fn from_text(text: &str) -> NetworkMode {
        match text {
            "host" => NetworkMode::Host,
            "bridge" | "default" => NetworkMode::Bridge,
            "none" => NetworkMode::None,
            other => NetworkMode::User(other.to_string()),
        }
    }

    /// Whether the container has addresses of its own (bridge and user networks).
    pub fn has_own_addresses(&self) -> bool {
        matches!(self, NetworkMode::Bridge | NetworkMode::User(_))
    }
}

/// One port published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// The container to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// `mesos-<containerId>`.
    pub name: String,
    pub container_id: String,
    pub image: String,
    /// Pull the image even when it is present (`force_pull_image`).
    pub force_pull: bool,
    pub network: NetworkMode,
    pub ports: Vec<PortMapping>,
    /// The Engine API's create body.
    pub body: ContainerCreateBody,
    /// What was accepted but is ignored, as upstream ignores it (for the agent's log).
    pub warnings: Vec<String>,
}

/// Why a task cannot run as a Docker container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the Docker containerizer runs DOCKER containers only")]
    NotDocker,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Parameters(String),
}

fn invalid(message: impl Into<String>) -> SpecError {
    SpecError::Invalid(message.into())
}

/// The name of the container of `container_id`.
pub fn container_name(container_id: &str) -> String {
    format!("{NAME_PREFIX}{container_id}")
}

/// Maps a task to the container that runs it (see the module documentation).
pub fn container_spec(settings: &Settings, task: &TaskContainer<'_>) -> Result<ContainerSpec, SpecError> {
    let info = task.container;
    if info.kind != ContainerType::Docker {
        return Err(SpecError::NotDocker);
    }
    let docker = info.docker.as_ref().ok_or_else(|| invalid("a DOCKER container needs 'container.docker'"))?;
    if docker.image.trim().is_empty() {
        return Err(invalid("'container.docker.image' is empty"));
    }
    refuse_unsupported(info)?;
    let name = container_name(task.container_id);
    let mut warnings = Vec::new();

    let resources = ResourceSet::from_wire(task.resources).map_err(|e| invalid(format!("invalid resources: {e}")))?;
    let mut host = HostConfig { privileged: Some(docker.privileged), ..Default::default() };
    resource_limits(settings, &resources, task.limits, &mut host)?;

    // Environment: a map, as upstream (later sources do not override the agent's variables;
    // the sandbox and name are always the containerizer's).
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in task.env {
        env.insert(k.clone(), v.clone());
    }
    let agent_env: std::collections::BTreeSet<&str> = task.env.iter().map(|(k, _)| k.as_str()).collect();
    if let Some(vars) = task.command.and_then(|c| c.environment.as_ref()) {
        for var in &vars.variables {
            if var.kind.as_deref().is_some_and(|k| k != "VALUE") {
                return Err(invalid(format!(
                    "environment variable '{}' of type {}: only VALUE variables are supported",
                    var.name,
                    var.kind.as_deref().unwrap_or_default()
                )));
            }
            if !agent_env.contains(var.name.as_str()) {
                env.insert(var.name.clone(), var.value.clone().unwrap_or_default());
            }
        }
    }
    env.insert("MESOS_SANDBOX".to_string(), settings.sandbox_directory.clone());
    env.insert("MESOS_CONTAINER_NAME".to_string(), name.clone());
    if let Some(role) = task.resources.first().and_then(|r| r.allocation_info.as_ref()).and_then(|a| a.role.clone()) {
        env.insert("MESOS_ALLOCATION_ROLE".to_string(), role);
    }

    // Volumes, then the sandbox.
    let sandbox = task.sandbox.to_str().ok_or_else(|| invalid("the sandbox path is not UTF-8"))?;
    let mut binds = Vec::new();
    let mut volume_driver = docker.volume_driver.clone();
    for volume in &info.volumes {
        let container_path = if volume.container_path.starts_with('/') {
            volume.container_path.clone()
        } else {
            format!("{}/{}", settings.sandbox_directory.trim_end_matches('/'), volume.container_path)
        };
        let source = if let Some(host_path) = &volume.host_path {
            if !host_path.starts_with('/') && !volume.container_path.starts_with('/') {
                return Err(invalid(format!(
                    "Both host_path '{host_path}' and container_path '{}' of a volume are relative",
                    volume.container_path
                )));
            }
            if !host_path.starts_with('/') && volume_driver.is_none() {
                format!("{}/{host_path}", sandbox.trim_end_matches('/'))
            } else {
                host_path.clone()
            }
        } else if let Some(dv) = volume.source.as_ref().and_then(|s| s.docker_volume.as_ref()) {
            if let Some(driver) = &dv.driver {
                if volume_driver.as_ref().is_some_and(|d| d != driver) {
                    return Err(invalid("Only one volume driver per task is supported"));
                }
                volume_driver = Some(driver.clone());
            }
            dv.name.clone()
        } else {
            return Err(invalid(format!(
                "volume at '{}': a host_path or a DOCKER_VOLUME source is required",
                volume.container_path
            )));
        };
        binds.push(bind(&source, &container_path, volume.mode)?);
    }
    binds.push(bind(sandbox, &settings.sandbox_directory, VolumeMode::Rw)?);
    host.binds = Some(binds);
    host.volume_driver = volume_driver;

    // Network and ports.
    let mut network = match docker.network.unwrap_or(DockerNetwork::Host) {
        DockerNetwork::Host => NetworkMode::Host,
        DockerNetwork::Bridge => NetworkMode::Bridge,
        DockerNetwork::None => NetworkMode::None,
        DockerNetwork::User => {
            let [network_info] = info.network_infos.as_slice() else {
                return Err(invalid(if info.network_infos.is_empty() {
                    "No network info found in container info"
                } else {
                    "Only a single network can be defined in Docker run"
                }));
            };
            let name = network_info.name.clone().ok_or_else(|| invalid("No network name found in network info"))?;
            NetworkMode::User(name)
        }
    };
    if info.hostname.is_some() && network == NetworkMode::Host {
        return Err(invalid("Unable to set hostname with host network mode"));
    }
    let ports = port_mappings(docker, &network, &resources)?;

    let (entrypoint, cmd) = command_line(task.command)?;
    if let Some(user) = task.command.and_then(|c| c.user.as_deref()) {
        warnings.push(format!(
            "CommandInfo.user '{user}' is ignored: Docker containers run as the image's user (a 'user' parameter sets it)"
        ));
    }

    let mut labels = HashMap::new();
    labels.insert(labels::OWNER.to_string(), settings.owner.clone());
    labels.insert(labels::AGENT_ID.to_string(), task.agent_id.to_string());
    labels.insert(labels::FRAMEWORK_ID.to_string(), task.framework_id.to_string());
    labels.insert(labels::TASK_ID.to_string(), task.task_id.to_string());
    labels.insert(labels::CONTAINER_ID.to_string(), task.container_id.to_string());

    let mut port_bindings: HashMap<String, Option<Vec<bollard::models::PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for p in &ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        port_bindings
            .entry(key.clone())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(bollard::models::PortBinding { host_ip: None, host_port: Some(p.host_port.to_string()) });
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
    if !port_bindings.is_empty() {
        host.port_bindings = Some(port_bindings);
    }
    // The sandbox's stdout/stderr are read back from the container's log.
    host.log_config = Some(HostConfigLogConfig { typ: Some("json-file".to_string()), config: None });

    let mut body = ContainerCreateBody {
        image: Some(docker.image.clone()),
        hostname: info.hostname.clone(),
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        entrypoint,
        cmd,
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host),
        ..Default::default()
    };

    let effects = params::apply(&docker.parameters, &mut body, labels::is_reserved).map_err(SpecError::Parameters)?;
    if let Some(net) = &effects.network {
        network = NetworkMode::from_text(net);
    }
    if let Some(host) = body.host_config.as_mut() {
        host.network_mode = Some(network.as_str().to_string());
        if let Some(max) = settings.pids_max.and_then(|m| i64::try_from(m).ok()) {
            // Docker reads 0 and negative values as "unlimited".
            host.pids_limit = Some(host.pids_limit.filter(|p| (1..max).contains(p)).unwrap_or(max));
        }
    }
    if let Some(endpoint) = effects.endpoint {
        attach_endpoint(&mut body, &network, endpoint)?;
    }

    Ok(ContainerSpec {
        name,
        container_id: task.container_id.to_string(),
        image: docker.image.clone(),
        force_pull: docker.force_pull_image.unwrap_or(false),
        network,
        ports,
        body,
        warnings,
    })
}

/// Refuses, by name, the parts of a ContainerInfo the Docker containerizer does not implement.
fn refuse_unsupported(info: &ContainerInfo) -> Result<(), SpecError> {
    let mut refused = Vec::new();
    if info.mesos.is_some() {
        refused.push("'container.mesos' (the Mesos containerizer's image)".to_string());
    }
    for (field, value) in
        [("linux_info", &info.linux_info), ("rlimit_info", &info.rlimit_info), ("tty_info", &info.tty_info)]
    {
        if value.is_some() {
            refused.push(format!("'container.{field}'"));
        }
    }
    for v in &info.volumes {
        if v.image.is_some() {
            refused.push(format!("'image' of the volume at '{}'", v.container_path));
        }
        if let Some(source) = &v.source {
            let supported = match source.kind.as_deref() {
                Some("DOCKER_VOLUME") => source.docker_volume.is_some(),
                None => source.host_path.is_none() && source.sandbox_path.is_none() && source.secret.is_none(),
                Some(_) => false,
            };
            if !supported {
                refused.push(format!(
                    "source type {} of the volume at '{}' (only host paths and DOCKER_VOLUME)",
                    source.kind.as_deref().unwrap_or("(none)"),
                    v.container_path
                ));
            }
            if source.docker_volume.as_ref().is_some_and(|d| d.driver_options.is_some()) {
                refused.push(format!("'driver_options' of the Docker volume at '{}'", v.container_path));
            }
        }
    }
    for n in &info.network_infos {
        if !n.ip_addresses.is_empty() {
            refused.push("'network_infos.ip_addresses'".to_string());
        }
        if !n.groups.is_empty() {
            refused.push("'network_infos.groups'".to_string());
        }
        if !n.port_mappings.is_empty() {
            refused.push("'network_infos.port_mappings' (use 'docker.port_mappings')".to_string());
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!("not supported by the Docker containerizer: {}", refused.join(", "))))
    }
}

/// cpu shares, CFS quota, memory limit and reservation (see the module documentation).
fn resource_limits(
    settings: &Settings,
    resources: &ResourceSet,
    limits: Option<&ResourceLimits>,
    host: &mut HostConfig,
) -> Result<(), SpecError> {
    let cpus = resources.has("cpus").then(|| resources.scalar("cpus"));
    let mem_mb = resources.has("mem").then(|| resources.scalar("mem"));
    let cpu_limit = limits.and_then(|l| l.cpus);
    let mem_limit = limits.and_then(|l| l.mem);
    if let Some(cpus) = cpus {
        host.cpu_shares = Some(((CPU_SHARES_PER_CPU * cpus) as i64).max(MIN_CPU_SHARES));
    }
    let quota = |cpus: f64| ((CFS_PERIOD_US * cpus) as i64).max(MIN_CFS_QUOTA_US);
    match (cpu_limit, cpus) {
        (Some(Limit::Value(limit)), _) => host.cpu_quota = Some(quota(limit)),
        (Some(Limit::Unlimited), _) => {}
        (None, Some(cpus)) if settings.cgroups_enable_cfs => host.cpu_quota = Some(quota(cpus)),
        (None, _) => {}
    }
    // Mesos counts memory in whole megabytes.
    let bytes = |mb: f64| ((mb.max(0.0) as u64) * 1024 * 1024).max(MIN_MEMORY) as i64;
    match mem_limit {
        Some(limit) => {
            if let Limit::Value(limit) = limit {
                host.memory = Some(bytes(limit));
            }
            if let Some(request) = mem_mb {
                let request = bytes(request);
                host.memory_reservation = Some(request);
                let below_limit = match limit {
                    Limit::Unlimited => true,
                    Limit::Value(l) => (request as f64) < l * 1024.0 * 1024.0,
                };
                if below_limit && let Some(total) = settings.host_memory_bytes.filter(|t| *t > 0) {
                    let score = 1000 - (1000i128 * request as i128 / total as i128) as i64;
                    host.oom_score_adj = Some(score.clamp(-1000, 1000));
                }
            }
        }
        None => {
            if let Some(mb) = mem_mb {
                host.memory = Some(bytes(mb));
            }
        }
    }
    Ok(())
}

/// A `Binds` entry: `source:target:ro|rw`.
fn bind(source: &str, target: &str, mode: VolumeMode) -> Result<String, SpecError> {
    if source.contains(':') || target.contains(':') {
        return Err(invalid(format!("volume paths must not contain ':' ('{source}' -> '{target}')")));
    }
    let mode = match mode {
        VolumeMode::Rw => "rw",
        VolumeMode::Ro => "ro",
    };
    Ok(format!("{source}:{target}:{mode}"))
}

fn port_mappings(
    docker: &mesos_api::container::DockerInfo,
    network: &NetworkMode,
    resources: &ResourceSet,
) -> Result<Vec<PortMapping>, SpecError> {
    if docker.port_mappings.is_empty() {
        return Ok(Vec::new());
    }
    if matches!(network, NetworkMode::Host | NetworkMode::None) {
        return Err(invalid("Port mappings are only supported for bridge and user-defined networks"));
    }
    let ranges = resources.ranges_of("ports");
    if ranges.is_empty() {
        return Err(invalid("Port mappings require port resources"));
    }
    let mut out = Vec::new();
    for m in &docker.port_mappings {
        if !ranges.iter().any(|(b, e)| (*b..=*e).contains(&u64::from(m.host_port))) {
            return Err(invalid(format!("Port [{}] not included in resources", m.host_port)));
        }
        let host_port =
            u16::try_from(m.host_port).map_err(|_| invalid(format!("host port {} is out of range", m.host_port)))?;
        let container_port = u16::try_from(m.container_port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid(format!("container port {} is out of range", m.container_port)))?;
        let protocol = m.protocol.as_deref().unwrap_or("tcp").to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(invalid(format!("port mapping protocol '{protocol}': expected tcp, udp or sctp")));
        }
        out.push(PortMapping { host_port, container_port, protocol });
    }
    Ok(out)
}

/// Entrypoint and command, as upstream: a shell command runs as `/bin/sh -c <value>` (the
/// image's entrypoint replaced); otherwise `[value] + arguments` is the command for the image's
/// entrypoint.
type CommandLine = (Option<Vec<String>>, Option<Vec<String>>);

fn command_line(command: Option<&CommandInfo>) -> Result<CommandLine, SpecError> {
    let Some(command) = command else {
        return Ok((None, None));
    };
    if command.shell {
        let value = command.value.clone().ok_or_else(|| invalid("Shell specified but no command value provided"))?;
        return Ok((Some(vec!["/bin/sh".to_string()]), Some(vec!["-c".to_string(), value])));
    }
    let mut args: Vec<String> = command.value.iter().cloned().collect();
    args.extend(command.arguments.iter().cloned());
    Ok((None, (!args.is_empty()).then_some(args)))
}

/// Endpoint settings from parameters (`network-alias`, `ip`, `ip6`) belong to the container's
/// user-defined network.
fn attach_endpoint(
    body: &mut ContainerCreateBody,
    network: &NetworkMode,
    endpoint: EndpointSettings,
) -> Result<(), SpecError> {
    let NetworkMode::User(name) = network else {
        return Err(SpecError::Parameters(
            "docker parameters refused: 'network-alias', 'ip' and 'ip6' need a user-defined network".to_string(),
        ));
    };
    let mut endpoints = HashMap::new();
    endpoints.insert(name.clone(), endpoint);
    body.networking_config = Some(NetworkingConfig { endpoints_config: Some(endpoints) });
    Ok(())
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
