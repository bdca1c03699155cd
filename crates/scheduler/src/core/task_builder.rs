//! Building the Mesos `TaskInfo` of an instance's task: command, environment, fetch URIs,
//! resources with their roles, labels, discovery info, kill policy and Mesos health check.

use super::matcher::ResourceMatch;
use super::run_spec::{CommandSpec, HealthCheck, HealthCheckProtocol, RunSpec};
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

/// `PORT0..n`, `PORT_<servicePort>` (`PORT_<hostPort>` when the service port is 0),
/// `PORT_<NAME>`, `PORT` and `PORTS`; nothing without ports.
fn ports_env(spec: &RunSpec, host_ports: &[u16]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if host_ports.is_empty() {
        return env;
    }
    for (index, port) in host_ports.iter().enumerate() {
        env.insert(format!("PORT{index}"), port.to_string());
    }
    for (definition, port) in spec.port_definitions.iter().zip(host_ports) {
        let requested = if definition.port == 0 { *port } else { definition.port };
        env.insert(format!("PORT_{requested}"), port.to_string());
    }
    for (definition, port) in spec.port_definitions.iter().zip(host_ports) {
        if let Some(name) = &definition.name {
            env.insert(format!("PORT_{}", name.to_uppercase()), port.to_string());
        }
    }
    env.insert("PORT".to_string(), host_ports[0].to_string());
    let all: Vec<String> = host_ports.iter().map(u16::to_string).collect();
    env.insert("PORTS".to_string(), all.join(","));
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

fn labels(map: &BTreeMap<String, String>) -> Option<Labels> {
    (!map.is_empty())
        .then(|| Labels { labels: map.iter().map(|(k, v)| Label { key: k.clone(), value: Some(v.clone()) }).collect() })
}

fn labels_json(map: &BTreeMap<String, String>) -> Json {
    json!({"labels": map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
}

/// `DiscoveryInfo`: visibility FRAMEWORK, the app's host name, one port per host port and
/// protocol.
fn discovery(spec: &RunSpec, host_ports: &[u16]) -> Json {
    let mut ports = Vec::new();
    for (definition, port) in spec.port_definitions.iter().zip(host_ports) {
        let mut port_labels = definition.labels.clone();
        port_labels.insert("network-scope".to_string(), "host".to_string());
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

/// The first Mesos-executed health check (Mesos runs at most one per task).
fn mesos_health_check(spec: &RunSpec, host_ports: &[u16]) -> Option<Json> {
    let check: &HealthCheck = spec.health_checks.iter().find(|c| c.protocol.is_mesos())?;
    let port = check.port.or_else(|| host_ports.get(check.port_index.unwrap_or(0)).copied());
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
    let (shell, value, arguments) = match &spec.command {
        CommandSpec::Shell(cmd) => (true, Some(cmd.clone()), Vec::new()),
        CommandSpec::Args(args) => (false, args.first().cloned(), args.clone()),
        CommandSpec::None => (false, None, Vec::new()),
    };
    CommandInfo {
        uris: spec
            .fetch
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
        user: spec.user.clone(),
    }
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
        container: None,
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
