//! Which containerizer runs a task, and what a Docker task's container needs (Mesos'
//! `--containerizers`, as its composing containerizer decides): a task whose ContainerInfo is
//! `DOCKER` goes to the Docker containerizer, a task without one (or `MESOS`) to the Mesos
//! containerizer (the command executor's semantics in cgroups). What no enabled containerizer
//! can run fails at once with TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED) and a message that
//! says why.

use super::*;
use mesos_api::container::{ContainerInfo, ContainerType, ResourceLimits};
use std::net::IpAddr;

/// The agent's variables a Docker container gets (those that describe the task; not the
/// executor's or the host's paths: the container has its own file system, and
/// `MESOS_SANDBOX` is the sandbox's path inside it).
const DOCKER_ENV: [&str; 6] = [
    "MESOS_TASK_ID",
    "MESOS_FRAMEWORK_ID",
    "MESOS_EXECUTOR_ID",
    "MESOS_SLAVE_ID",
    "MESOS_AGENT_ENDPOINT",
    "MESOS_ALLOCATION_ROLE",
];

impl AgentCore {
    /// The containerizer for `task`, or why none of the enabled ones can run it.
    pub(super) fn containerizer_for(&self, task: &TaskInfo) -> Result<ContainerizerKind, String> {
        let enabled = |kind: ContainerizerKind| self.cfg.containerizers.contains(&kind);
        let Some(raw) = &task.container else {
            return if enabled(ContainerizerKind::Mesos) {
                Ok(ContainerizerKind::Mesos)
            } else {
                Err("a task without a ContainerInfo needs the Mesos containerizer, which is not enabled on this agent \
                     (--containerizers)"
                    .to_string())
            };
        };
        let info = ContainerInfo::from_json(raw).map_err(|e| format!("invalid ContainerInfo: {e}"))?;
        match info.kind {
            ContainerType::Docker if enabled(ContainerizerKind::Docker) => Ok(ContainerizerKind::Docker),
            ContainerType::Docker => Err("container type DOCKER needs the Docker containerizer, which is not enabled \
                                          on this agent (--containerizers=docker,mesos)"
                .to_string()),
            ContainerType::Mesos if !enabled(ContainerizerKind::Mesos) => Err(
                "container type MESOS needs the Mesos containerizer, which is not enabled on this agent (--containerizers)"
                    .to_string(),
            ),
            ContainerType::Mesos if info.mesos.as_ref().is_some_and(|m| m.get("image").is_some()) => Err(
                "container images of the Mesos containerizer are not supported by this agent: use a DOCKER container"
                    .to_string(),
            ),
            ContainerType::Mesos => Ok(ContainerizerKind::Mesos),
        }
    }

    /// `container_status.network_infos` of a TASK_RUNNING: the container's own addresses, or
    /// the agent's for a task on the agent's network.
    pub(super) fn network_infos(&self, t: &TaskEntry) -> serde_json::Value {
        let protocol = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        let addresses: Vec<serde_json::Value> = if t.addresses.is_empty() {
            vec![serde_json::json!({"protocol": "IPv4", "ip_address": self.cfg.ip})]
        } else {
            t.addresses
                .iter()
                .map(|ip| serde_json::json!({"protocol": protocol(ip), "ip_address": ip.to_string()}))
                .collect()
        };
        let mut info = serde_json::json!({ "ip_addresses": addresses });
        // A user network is named, as upstream reports it.
        if let Some(name) = t
            .spec
            .docker
            .as_ref()
            .filter(|_| !t.addresses.is_empty())
            .and_then(|d| d.container.network_infos.first())
            .and_then(|n| n.name.clone())
        {
            info["name"] = serde_json::json!(name);
        }
        serde_json::json!([info])
    }
}

/// What the Docker containerizer needs of `task` (`env`: the agent's variables for it).
pub(super) fn docker_launch(agent_id: &AgentId, task: &TaskInfo, env: &[(String, String)]) -> DockerLaunch {
    // The containerizer was chosen from a ContainerInfo that parsed; a recovered one that no
    // longer does makes an empty DOCKER container, which the containerizer refuses by name.
    let container = task.container.as_ref().and_then(|raw| ContainerInfo::from_json(raw).ok());
    let limits = task.limits.as_ref().and_then(|l| ResourceLimits::from_json(l).ok());
    DockerLaunch {
        agent_id: agent_id.value.clone(),
        container: container.unwrap_or_else(empty_docker_container),
        command: task.command.clone(),
        resources: task.resources.clone(),
        limits,
        env: env.iter().filter(|(k, _)| DOCKER_ENV.contains(&k.as_str())).cloned().collect(),
    }
}

fn empty_docker_container() -> ContainerInfo {
    ContainerInfo {
        kind: ContainerType::Docker,
        volumes: Vec::new(),
        hostname: None,
        docker: None,
        mesos: None,
        network_infos: Vec::new(),
        linux_info: None,
        rlimit_info: None,
        tty_info: None,
    }
}
