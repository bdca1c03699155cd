//! Pods on the service's side: a pod definition (`marathon-api`'s [`Pod`], normalized and
//! supported) becomes the [`RunSpec`] the core schedules (its containers as
//! [`core::PodSpec`]), and the core's instances of it become upstream's `PodStatus`.

use crate::convert::{self, api_time, core_time};
use crate::core::{
    self, AppId, CommandSpec, Condition, HealthCheck, HealthCheckProtocol, Instance, PodContainer, PodSpec,
    PortDefinition, RunSpec,
};
use marathon_api::pod::{
    ContainerEndpointStatus, ContainerStatus, MesosCommand, Pod, PodInstanceState, PodInstanceStatus, PodResources,
    PodState, PodStatus, StatusCondition, spec_reference,
};
use std::time::Duration;

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or_default()
}

fn command(command: &MesosCommand) -> CommandSpec {
    match command {
        MesosCommand::Shell { shell } => CommandSpec::Shell(shell.clone()),
        MesosCommand::Argv { argv } => CommandSpec::Args(argv.clone()),
    }
}

/// The run spec of a normalized pod (its `version` set; the epoch without one).
pub fn run_spec(pod: &Pod) -> RunSpec {
    let version = pod.version.map(core_time).unwrap_or_default();
    let mut spec = RunSpec::new(AppId::new(&pod.id), version);
    spec.instances = u32::try_from(pod.instances()).unwrap_or(0);
    spec.env = convert::env_values(&pod.environment);
    spec.labels = pod.labels.clone();
    spec.user = pod.user.clone();
    spec.port_definitions = pod
        .endpoints()
        .map(|(_, e)| PortDefinition {
            name: Some(e.name.clone()),
            protocol: e.protocols().join(","),
            labels: e.labels.clone(),
            ..PortDefinition::new(e.host_port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0))
        })
        .collect();
    let endpoint_index = |name: &str| pod.endpoints().position(|(_, e)| e.name == name);
    let mut next_endpoint = 0;
    let containers = pod
        .containers
        .iter()
        .map(|c| {
            let mut container = PodContainer::new(&c.name);
            container.cpus = c.resources.cpus;
            container.mem = c.resources.mem;
            container.disk = c.resources.disk;
            container.command = c.exec.as_ref().map_or(CommandSpec::None, |e| command(&e.command));
            container.env = convert::env_values(&c.environment);
            container.labels = c.labels.clone();
            container.fetch = c.artifacts.iter().map(convert::fetch_uri).collect();
            container.endpoints = (next_endpoint..next_endpoint + c.endpoints.len()).collect();
            next_endpoint += c.endpoints.len();
            container.health_check = c.health_check.as_ref().map(|h| {
                let (protocol, endpoint, path, shell) = match (&h.http, &h.tcp, &h.exec) {
                    (Some(http), _, _) => {
                        let https = matches!(http.scheme, marathon_api::pod::HttpScheme::Https);
                        let protocol =
                            if https { HealthCheckProtocol::MesosHttps } else { HealthCheckProtocol::MesosHttp };
                        (protocol, Some(http.endpoint.as_str()), http.path.clone(), None)
                    }
                    (None, Some(tcp), _) => (HealthCheckProtocol::MesosTcp, Some(tcp.endpoint.as_str()), None, None),
                    (None, None, Some(exec)) => {
                        let shell = match &exec.command {
                            MesosCommand::Shell { shell } => shell.clone(),
                            MesosCommand::Argv { argv } => argv.join(" "),
                        };
                        (HealthCheckProtocol::Command, None, None, Some(shell))
                    }
                    (None, None, None) => (HealthCheckProtocol::Command, None, None, Some("true".to_string())),
                };
                let secs = |v: i32| Duration::from_secs(u64::try_from(v).unwrap_or(0));
                HealthCheck {
                    port_index: endpoint.and_then(endpoint_index),
                    path,
                    command: shell,
                    grace_period: secs(h.grace_period_seconds),
                    interval: secs(h.interval_seconds),
                    timeout: secs(h.timeout_seconds),
                    max_consecutive_failures: u32::try_from(h.max_consecutive_failures).unwrap_or(0),
                    delay: secs(h.delay_seconds),
                    ..HealthCheck::new(protocol)
                }
            });
            container.kill_grace_period = c.lifecycle.as_ref().and_then(|l| l.kill_grace_period_seconds).map(seconds);
            container
        })
        .collect();
    let scheduling = &pod.scheduling;
    spec.constraints =
        scheduling.placement.constraints.iter().filter_map(|c| convert::constraint(&c.as_app_constraint())).collect();
    let roles = &scheduling.placement.accepted_resource_roles;
    spec.accepted_resource_roles = (!roles.is_empty()).then(|| roles.iter().cloned().collect());
    spec.role = pod.role.clone().unwrap_or_else(|| "*".to_string());
    spec.backoff = core::BackoffStrategy {
        backoff: seconds(scheduling.backoff.backoff),
        factor: scheduling.backoff.backoff_factor,
        max_launch_delay: seconds(scheduling.backoff.max_launch_delay),
    };
    spec.unreachable_strategy = convert::unreachable_strategy(pod.effective_unreachable_strategy());
    spec.kill_selection = convert::kill_selection(scheduling.kill_selection);
    spec.upgrade_strategy = convert::upgrade_strategy(pod.effective_upgrade_strategy());
    let executor = &pod.executor_resources;
    PodSpec { containers, executor_cpus: executor.cpus, executor_mem: executor.mem, executor_disk: executor.disk }
        .apply_to(&mut spec);
    spec
}

/// `pod` with what the core decided for it: its version and instance count.
pub fn decided_by_core(pod: &mut Pod, spec: &RunSpec) {
    pod.scaling.instances = i32::try_from(spec.instances).unwrap_or(i32::MAX);
    pod.version = Some(api_time(spec.version));
}

/// An instance's state as a pod's: waiting, launched, running (STABLE once healthy when any
/// container is `checked`), or on its way out.
fn instance_state(instance: &Instance, checked: bool, healthy: Option<bool>) -> PodInstanceState {
    match instance.condition {
        Condition::Scheduled | Condition::Provisioned => PodInstanceState::Pending,
        Condition::Staging | Condition::Starting => PodInstanceState::Staging,
        Condition::Running if checked && healthy != Some(true) => PodInstanceState::Degraded,
        Condition::Running => PodInstanceState::Stable,
        Condition::Unreachable | Condition::UnreachableInactive => PodInstanceState::Degraded,
        _ => PodInstanceState::Terminal,
    }
}

/// The status of one instance of `pod`.
pub fn instance_status(pod: &Pod, instance: &Instance) -> PodInstanceStatus {
    let since = api_time(instance.condition_since);
    let task = instance.task.as_ref();
    let healthy = task.and_then(|t| t.healthy);
    let mut containers = Vec::new();
    for (index, container) in pod.containers.iter().enumerate() {
        let reported = task.and_then(|t| t.containers.iter().find(|c| c.name == container.name));
        let first_endpoint: usize = pod.containers[..index].iter().map(|c| c.endpoints.len()).sum();
        let endpoints = container
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| ContainerEndpointStatus {
                name: e.name.clone(),
                allocated_host_port: task.and_then(|t| t.host_ports.get(first_endpoint + i).copied()),
                healthy: None,
            })
            .collect();
        let container_since = reported.and_then(|c| c.since).map(api_time).unwrap_or(since);
        let conditions = match reported.and_then(|c| c.healthy) {
            Some(h) if container.health_check.is_some() => {
                vec![StatusCondition::healthy(h, None, container_since, container_since)]
            }
            _ => Vec::new(),
        };
        containers.push(ContainerStatus {
            name: container.name.clone(),
            status: reported.and_then(|c| c.mesos_state).map_or("TASK_STAGING", |s| s.name()).to_string(),
            status_since: container_since,
            message: reported.and_then(|c| c.message.clone()),
            conditions,
            container_id: reported.map(|c| c.task_id.to_string()),
            endpoints,
            resources: Some(container.resources),
            termination: None,
            last_updated: container_since,
            last_changed: container_since,
        });
    }
    let total = pod.container_resources();
    let executor = &pod.executor_resources;
    PodInstanceStatus {
        id: instance.id.to_string(),
        status: instance_state(instance, pod.containers.iter().any(|c| c.health_check.is_some()), healthy),
        status_since: since,
        message: None,
        conditions: healthy.map(|h| vec![StatusCondition::healthy(h, None, since, since)]).unwrap_or_default(),
        agent_hostname: task.map(|t| t.hostname.clone()),
        agent_id: task.map(|t| t.agent_id.to_string()),
        agent_region: task.and_then(|t| t.region.clone()),
        agent_zone: task.and_then(|t| t.zone.clone()),
        resources: task.map(|_| PodResources {
            cpus: total.cpus + executor.cpus,
            mem: total.mem + executor.mem,
            disk: total.disk + executor.disk,
            gpus: total.gpus,
        }),
        networks: Vec::new(),
        containers,
        spec_reference: Some(spec_reference(&pod.path_id(), api_time(instance.run_spec_version))),
        last_updated: since,
        last_changed: since,
        role: instance.role.clone(),
    }
}

/// `GET /v2/pods/{id}::status`: the pod and its live instances; STABLE when as many instances
/// as wanted are STABLE.
pub fn status(pod: &Pod, instances: &[&Instance], now: core::Timestamp) -> PodStatus {
    let statuses: Vec<PodInstanceStatus> = instances.iter().map(|i| instance_status(pod, i)).collect();
    let stable = statuses.iter().filter(|s| s.status == PodInstanceState::Stable).count();
    let wanted = usize::try_from(pod.instances()).unwrap_or(0);
    let status = if stable >= wanted { PodState::Stable } else { PodState::Degraded };
    let since = statuses.iter().map(|s| s.status_since).max().or(pod.version).unwrap_or_else(|| api_time(now));
    PodStatus {
        id: pod.id.clone(),
        spec: pod.clone(),
        status,
        status_since: since,
        message: None,
        instances: statuses,
        termination_history: Vec::new(),
        last_updated: api_time(now),
        last_changed: since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_api::{NormalizeConfig, normalize_pod, parse_pod};

    fn pod(json: &str) -> Pod {
        let raw = parse_pod(json.as_bytes()).expect("parse");
        let mut pod = normalize_pod(raw, None, &NormalizeConfig::default()).expect("normalize");
        pod.version = Some(api_time(core::Timestamp::from_millis(1_700_000_000_000)));
        pod
    }

    #[test]
    fn a_pod_becomes_a_run_spec_with_its_containers() {
        let pod = pod(r#"{"id": "/shop", "scaling": {"kind": "fixed", "instances": 2},
            "environment": {"A": "1"},
            "containers": [
              {"name": "web", "resources": {"cpus": 0.5, "mem": 64},
               "exec": {"command": {"shell": "python3 -m http.server $ENDPOINT_HTTP"}},
               "endpoints": [{"name": "http", "hostPort": 0}, {"name": "admin", "hostPort": 31555}],
               "healthCheck": {"http": {"endpoint": "http", "path": "/"}},
               "lifecycle": {"killGracePeriodSeconds": 3}},
              {"name": "log", "resources": {"cpus": 0.1, "mem": 16},
               "exec": {"command": {"argv": ["/bin/sleep", "100"]}}}
            ]}"#);
        let spec = run_spec(&pod);
        assert_eq!(spec.id, AppId::new("/shop"));
        assert_eq!(spec.instances, 2);
        assert!((spec.cpus - 0.7).abs() < 1e-9, "containers and executor: {}", spec.cpus);
        assert_eq!(spec.mem, 64.0 + 16.0 + 32.0);
        let ports: Vec<(Option<&str>, u16)> =
            spec.port_definitions.iter().map(|p| (p.name.as_deref(), p.port)).collect();
        assert_eq!(ports, [(Some("http"), 0), (Some("admin"), 31555)]);
        assert!(spec.require_ports);
        let containers = &spec.pod.as_ref().expect("a pod").containers;
        assert_eq!(containers[0].endpoints, [0, 1]);
        assert!(containers[1].endpoints.is_empty());
        assert_eq!(containers[1].command, CommandSpec::Args(vec!["/bin/sleep".into(), "100".into()]));
        let check = containers[0].health_check.as_ref().expect("check");
        assert_eq!(
            (check.protocol, check.port_index, check.path.as_deref()),
            (HealthCheckProtocol::MesosHttp, Some(0), Some("/"))
        );
        assert_eq!(spec.health_checks.len(), 1);
        assert_eq!(containers[0].kill_grace_period, Some(Duration::from_secs(3)));
        assert_eq!(spec.env["A"], "1");
        // Service ports are not a pod's: nothing is assigned.
        let mut assigned = spec.clone();
        core::assign_service_ports(&mut assigned, None, &Default::default(), 10000..=20000).expect("ports");
        assert_eq!(assigned, spec);
    }
}
