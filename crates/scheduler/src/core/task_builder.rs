//! Building the Mesos `TaskInfo` of an instance's task: command, environment, fetch URIs,
//! resources with their roles, labels, discovery info, kill policy, Mesos health check, and the
//! Docker `ContainerInfo` (image, network, port mappings, volumes, parameters).

use super::matcher::ResourceMatch;
use super::run_spec::{CommandSpec, FetchUri, HealthCheck, HealthCheckProtocol, Network, PortAssignment, RunSpec};
use mesos_api::{
    CommandInfo, CommandUri, DurationInfo, Environment, EnvironmentVariable, KillPolicy, Label, Labels, Offer, TaskId,
    TaskInfo,
};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// Environment variables are limited to this length (Marathon's rule for label variables).
const MAX_ENV_VAR_LENGTH: usize = 512;
const LABEL_PREFIX: &str = "MARATHON_APP_LABEL_";

/// The environment of a task of `spec`, Marathon's way: task context (`MESOS_TASK_ID`,
/// `MARATHON_APP_*`), then the port variables and `HOST` (with `env_vars_prefix`), then the
/// app's own `env`, which overrides everything generated.
pub fn task_environment(
    spec: &RunSpec,
    task_id: &TaskId,
    host: &str,
    host_ports: &[u16],
    env_vars_prefix: Option<&str>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("MESOS_TASK_ID".to_string(), task_id.value.clone());
    env.insert("MARATHON_APP_ID".to_string(), spec.id.to_string());
    env.insert("MARATHON_APP_VERSION".to_string(), spec.version.to_string());
    env.insert("MARATHON_APP_RESOURCE_CPUS".to_string(), format!("{:?}", spec.cpus));
    env.insert("MARATHON_APP_RESOURCE_MEM".to_string(), format!("{:?}", spec.mem));
    env.insert("MARATHON_APP_RESOURCE_DISK".to_string(), format!("{:?}", spec.disk));
    env.insert("MARATHON_APP_RESOURCE_GPUS".to_string(), spec.gpus.to_string());
    env.extend(label_env(&spec.labels));

    let prefix = env_vars_prefix.unwrap_or("");
    let mut prefixed = ports_env(spec, host_ports);
    prefixed.insert("HOST".to_string(), host.to_string());
    env.extend(prefixed.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));

    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Marathon's port variables (upstream's `EnvironmentHelper.portsEnv`). Each port has a
/// requested number (its service port, or with port mappings its container port; 0 for any)
/// and an effective one (its host port, if it has one):
/// * `PORT<index>`: the host port; for a container port without one, the container port;
/// * `PORT_<requested>` (`PORT_<host port>` when 0) and `PORT_<NAME>`: the same;
/// * `PORT` and `PORTS`: the first and all of them.
///
/// A container-only port of number 0 gets a number above 1024 no other port uses (upstream
/// draws a random one; this is the lowest, so that the same task gets the same one).
fn ports_env(spec: &RunSpec, host_ports: &[u16]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if spec.port_definitions.is_empty() {
        return env;
    }
    let assignments = spec.port_assignments(host_ports);
    let requested: Vec<u16> = spec
        .port_definitions
        .iter()
        .map(|p| if spec.has_port_mappings() { p.container_port.unwrap_or(0) } else { p.port })
        .collect();
    let mut consumed: std::collections::BTreeSet<u16> = requested.iter().copied().collect();
    consumed.extend(host_ports);
    let mut next_generated = 1025u16;
    // The number each port is known by in the variables (`None`: a port without one).
    let mut effective: Vec<u16> = Vec::with_capacity(assignments.len());
    let mut generated = Vec::new();
    for (a, req) in assignments.iter().zip(&requested) {
        let port = match a.host_port {
            Some(h) => h,
            None if *req != 0 => *req,
            None => {
                while consumed.contains(&next_generated) {
                    next_generated = next_generated.saturating_add(1);
                }
                consumed.insert(next_generated);
                generated.push(next_generated);
                next_generated
            }
        };
        effective.push(port);
    }
    for (index, port) in effective.iter().enumerate() {
        env.insert(format!("PORT{index}"), port.to_string());
    }
    for (req, port) in requested.iter().zip(&effective) {
        let key = if *req == 0 { *port } else { *req };
        env.insert(format!("PORT_{key}"), port.to_string());
    }
    for (definition, port) in spec.port_definitions.iter().zip(&effective) {
        if let Some(name) = &definition.name {
            env.insert(format!("PORT_{}", name.to_uppercase()), port.to_string());
        }
    }
    let all: Vec<u16> = assignments.iter().filter_map(|a| a.host_port).chain(generated).collect();
    if let Some(first) = all.first() {
        env.insert("PORT".to_string(), first.to_string());
    }
    env.insert("PORTS".to_string(), all.iter().map(u16::to_string).collect::<Vec<_>>().join(","));
    env
}

/// `MARATHON_APP_LABELS` (space-separated sanitised keys) and `MARATHON_APP_LABEL_<KEY>`. Keys
/// are upper-cased with every run of characters outside `[A-Za-z0-9_]` replaced by `_`; labels
/// whose variable would be too long are skipped.
fn label_env(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut names = Vec::new();
    for (key, value) in labels {
        if key.len() >= MAX_ENV_VAR_LENGTH - LABEL_PREFIX.len() || value.len() >= MAX_ENV_VAR_LENGTH {
            continue;
        }
        let name = sanitize_label_key(key);
        env.insert(format!("{LABEL_PREFIX}{name}"), value.clone());
        names.push(name);
    }
    env.insert("MARATHON_APP_LABELS".to_string(), names.join(" "));
    env
}

fn sanitize_label_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_run = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_uppercase());
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// Mesos `Labels` of a label map (`None` when empty).
pub(super) fn labels(map: &BTreeMap<String, String>) -> Option<Labels> {
    (!map.is_empty())
        .then(|| Labels { labels: map.iter().map(|(k, v)| Label { key: k.clone(), value: Some(v.clone()) }).collect() })
}

fn labels_json(map: &BTreeMap<String, String>) -> Json {
    json!({"labels": map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
}

/// `DiscoveryInfo`: visibility FRAMEWORK, the app's host name, one port per port and protocol:
/// its host port (`network-scope: host`), or a container port without one (`container`).
fn discovery(spec: &RunSpec, host_ports: &[u16]) -> Json {
    let mut ports = Vec::new();
    for (definition, a) in spec.port_definitions.iter().zip(spec.port_assignments(host_ports)) {
        let (port, scope) = match (a.host_port, a.container_port) {
            (Some(h), _) => (h, "host"),
            (None, Some(c)) => (c, "container"),
            (None, None) => continue,
        };
        let mut port_labels = definition.labels.clone();
        port_labels.insert("network-scope".to_string(), scope.to_string());
        if let Network::Container(name) = &spec.network
            && scope == "container"
        {
            port_labels.insert("network-name".to_string(), name.clone());
        }
        for protocol in definition.protocol.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut entry = json!({"number": port, "protocol": protocol, "labels": labels_json(&port_labels)});
            if let Some(name) = &definition.name {
                entry["name"] = json!(name);
            }
            ports.push(entry);
        }
    }
    json!({"visibility": "FRAMEWORK", "name": spec.id.hostname(), "ports": {"ports": ports}})
}

/// The first Mesos-executed health check (Mesos runs at most one per task). Its port is the
/// container port when the port has one (the agent checks inside the container's network, as
/// upstream), the host port otherwise.
fn mesos_health_check(spec: &RunSpec, host_ports: &[u16]) -> Option<Json> {
    let check: &HealthCheck = spec.health_checks.iter().find(|c| c.protocol.is_mesos())?;
    let assignments = spec.port_assignments(host_ports);
    let port = check.port.or_else(|| {
        let a: &PortAssignment = assignments.get(check.port_index.unwrap_or(0))?;
        a.container_port.or(a.host_port)
    });
    health_check_json(check, port)
}

/// `TaskInfo.health_check` of a Mesos-run check against `port` (HTTP and TCP need one);
/// `None` for the checks Marathon runs itself.
pub(super) fn health_check_json(check: &HealthCheck, port: Option<u16>) -> Option<Json> {
    let mut out = json!({
        "delay_seconds": check.delay.as_secs_f64(),
        "interval_seconds": check.interval.as_secs_f64(),
        "timeout_seconds": check.timeout.as_secs_f64(),
        "consecutive_failures": check.max_consecutive_failures,
        "grace_period_seconds": check.grace_period.as_secs_f64(),
    });
    match check.protocol {
        HealthCheckProtocol::Command => {
            out["type"] = json!("COMMAND");
            out["command"] = json!({"shell": true, "value": check.command.clone().unwrap_or_default()});
        }
        HealthCheckProtocol::MesosHttp | HealthCheckProtocol::MesosHttps => {
            let scheme = if check.protocol == HealthCheckProtocol::MesosHttps { "https" } else { "http" };
            out["type"] = json!("HTTP");
            out["http"] = json!({"scheme": scheme, "port": port?, "path": check.path.as_deref().unwrap_or("/")});
        }
        HealthCheckProtocol::MesosTcp => {
            out["type"] = json!("TCP");
            out["tcp"] = json!({"port": port?});
        }
        HealthCheckProtocol::Http | HealthCheckProtocol::Https | HealthCheckProtocol::Tcp => return None,
    }
    Some(out)
}

fn command_info(spec: &RunSpec, environment: BTreeMap<String, String>) -> CommandInfo {
    // In a Docker container `args` are the arguments of the image's entrypoint (no value).
    let entrypoint_args = spec.docker.is_some();
    command_info_of(&spec.command, entrypoint_args, &spec.fetch, environment, spec.user.clone())
}

/// A `CommandInfo`: `/bin/sh -c` for a shell command, the argv otherwise (only arguments with
/// `entrypoint_args`: an image's entrypoint runs them), the fetcher's URIs and the environment.
pub(super) fn command_info_of(
    command: &CommandSpec,
    entrypoint_args: bool,
    fetch: &[FetchUri],
    environment: BTreeMap<String, String>,
    user: Option<String>,
) -> CommandInfo {
    let (shell, value, arguments) = match command {
        CommandSpec::Shell(cmd) => (true, Some(cmd.clone()), Vec::new()),
        CommandSpec::Args(args) if entrypoint_args => (false, None, args.clone()),
        CommandSpec::Args(args) => (false, args.first().cloned(), args.clone()),
        CommandSpec::None => (false, None, Vec::new()),
    };
    CommandInfo {
        uris: fetch
            .iter()
            .map(|f| CommandUri {
                value: f.uri.clone(),
                executable: Some(f.executable),
                extract: f.extract,
                cache: Some(f.cache),
                output_file: f.dest_path.clone(),
            })
            .collect(),
        environment: Some(Environment {
            variables: environment
                .into_iter()
                .map(|(name, value)| EnvironmentVariable { name, kind: None, value: Some(value), secret: None })
                .collect(),
        }),
        shell,
        value,
        arguments,
        user,
    }
}

/// The `ContainerInfo` of a Docker app's task (Mesos v1 JSON): image, network (`HOST`,
/// `BRIDGE`, or `USER` with the network's name), a port mapping per host port and protocol,
/// privileged, parameters, force pull, and host-path volumes.
fn container_info(spec: &RunSpec, host_ports: &[u16]) -> Option<Json> {
    let docker = spec.docker.as_ref()?;
    let network = match &spec.network {
        Network::Host => "HOST",
        Network::Bridge => "BRIDGE",
        Network::Container(_) => "USER",
    };
    let mut port_mappings = Vec::new();
    // On the host network the container uses the host ports themselves: nothing to map.
    let mapped = if spec.has_port_mappings() { spec.port_definitions.as_slice() } else { &[] };
    for (definition, a) in mapped.iter().zip(spec.port_assignments(host_ports)) {
        let Some(host_port) = a.host_port else { continue };
        for protocol in definition.protocol.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            port_mappings.push(json!({
                "host_port": host_port,
                "container_port": a.container_port.unwrap_or(host_port),
                "protocol": protocol,
            }));
        }
    }
    let mut docker_info = json!({
        "image": docker.image,
        "network": network,
        "privileged": docker.privileged,
        "force_pull_image": docker.force_pull_image,
    });
    if !port_mappings.is_empty() {
        docker_info["port_mappings"] = json!(port_mappings);
    }
    if !docker.parameters.is_empty() {
        docker_info["parameters"] =
            json!(docker.parameters.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>());
    }
    let mut info = json!({"type": "DOCKER", "docker": docker_info});
    if !docker.volumes.is_empty() {
        info["volumes"] = json!(
            docker
                .volumes
                .iter()
                .map(|v| json!({
                    "container_path": v.container_path,
                    "host_path": v.host_path,
                    "mode": if v.read_only { "RO" } else { "RW" },
                }))
                .collect::<Vec<_>>()
        );
    }
    if let Network::Container(name) = &spec.network {
        info["network_infos"] = json!([{"name": name}]);
    }
    Some(info)
}

/// The `TaskInfo` of `task_id` for an instance of `spec` on `offer`.
pub(crate) fn build_task_info(
    spec: &RunSpec,
    task_id: &TaskId,
    offer: &Offer,
    matched: &ResourceMatch,
    env_vars_prefix: Option<&str>,
) -> TaskInfo {
    let environment = task_environment(spec, task_id, &offer.hostname, &matched.host_ports, env_vars_prefix);
    let mut resources = matched.resources.to_wire();
    if let Some(allocation) = &offer.allocation_info {
        for r in &mut resources {
            r.allocation_info = Some(allocation.clone());
        }
    }
    TaskInfo {
        name: spec.id.hostname(),
        task_id: task_id.clone(),
        agent_id: offer.agent_id.clone(),
        resources,
        executor: None,
        command: Some(command_info(spec, environment)),
        container: container_info(spec, &matched.host_ports),
        health_check: mesos_health_check(spec, &matched.host_ports),
        check: None,
        kill_policy: spec.task_kill_grace_period.map(|grace| KillPolicy {
            grace_period: Some(DurationInfo { nanoseconds: i64::try_from(grace.as_nanos()).unwrap_or(i64::MAX) }),
        }),
        data: None,
        labels: labels(&spec.labels),
        discovery: Some(discovery(spec, &matched.host_ports)),
        max_completion_time: None,
        limits: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_are_sanitised() {
        assert_eq!(sanitize_label_key("com.example/my-label"), "COM_EXAMPLE_MY_LABEL");
        assert_eq!(sanitize_label_key("a..b"), "A_B");
        let labels: BTreeMap<String, String> =
            [("b.x".to_string(), "1".to_string()), ("a".to_string(), "2".to_string()), ("k".repeat(493), "x".into())]
                .into();
        let env = label_env(&labels);
        assert_eq!(env["MARATHON_APP_LABELS"], "A B_X");
        assert_eq!(env["MARATHON_APP_LABEL_B_X"], "1");
        assert_eq!(env.len(), 3);
    }
}
