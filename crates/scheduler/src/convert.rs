//! Between Marathon's JSON types (`marathon-api`) and the core's domain types: the app
//! definition the API stores becomes the [`RunSpec`] the core schedules, and the core's instances,
//! queue entries and failures become the response shapes.

use crate::core::{
    self, AppId, CommandSpec, Condition, Constraint, ConstraintOperator, DockerContainer, FetchUri, HealthCheck,
    HealthCheckProtocol, HostVolume, Instance, KillSelection, Network, PortDefinition, QueueEntry, RunSpec,
    TaskFailure, UnreachableStrategy, UpgradeStrategy,
};
use marathon_api::app::{self as api, AppDefinition, EnvValue};
use marathon_api::output::{DeclinedOfferStep, ProcessedOffersSummary, QueueDelay, QueueItem};
use marathon_api::{PathId, TaskJson, TaskView};
use std::time::Duration;

/// A core timestamp as the API's.
pub fn api_time(t: core::Timestamp) -> marathon_api::Timestamp {
    chrono::DateTime::from_timestamp_millis(t.millis()).unwrap_or_default()
}

/// An API timestamp as the core's (millisecond precision, like Marathon's versions).
pub fn core_time(t: marathon_api::Timestamp) -> core::Timestamp {
    core::Timestamp::from_millis(t.timestamp_millis())
}

fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

/// The run spec of a normalized definition. `version` must be set (the API sets it before
/// handing a definition over); without one the epoch is used.
pub fn run_spec(def: &AppDefinition) -> RunSpec {
    let version = def.version.map(core_time).unwrap_or_default();
    let mut spec = RunSpec::new(AppId::new(&def.id), version);
    if let Some(info) = def.version_info {
        spec.version_info = core::VersionInfo {
            last_scaling_at: core_time(info.last_scaling_at),
            last_config_change_at: core_time(info.last_config_change_at),
        };
    }
    spec.instances = u32::try_from(def.instances).unwrap_or(0);
    spec.cpus = def.cpus;
    spec.mem = def.mem;
    spec.disk = def.disk;
    spec.gpus = u32::try_from(def.gpus).unwrap_or(0);
    spec.command = match (&def.cmd, def.args.is_empty()) {
        (Some(cmd), _) => CommandSpec::Shell(cmd.clone()),
        (None, false) => CommandSpec::Args(def.args.clone()),
        (None, true) => CommandSpec::None,
    };
    spec.env = env_values(&def.env);
    spec.labels = def.labels.clone();
    spec.fetch = def.fetch.iter().map(fetch_uri).collect();
    spec.network = network(def);
    let port = |p: i32| u16::try_from(p).unwrap_or(0);
    spec.port_definitions = if spec.network == Network::Host {
        def.port_definitions
            .iter()
            .flatten()
            .map(|p| PortDefinition {
                name: p.name.clone(),
                protocol: p.protocol.clone(),
                labels: p.labels.clone(),
                ..PortDefinition::new(port(p.port))
            })
            .collect()
    } else {
        def.container
            .iter()
            .flat_map(|c| c.port_mappings.iter().flatten())
            .map(|m| PortDefinition {
                name: m.name.clone(),
                protocol: m.protocol.clone(),
                labels: m.labels.clone(),
                ..PortDefinition::mapping(port(m.container_port), m.host_port.map(port), port(m.service_port))
            })
            .collect()
    };
    spec.docker = docker_container(def);
    spec.require_ports = def.require_ports;
    spec.constraints = def.constraints.iter().filter_map(|c| constraint(c)).collect();
    spec.accepted_resource_roles = def
        .accepted_resource_roles
        .as_ref()
        .filter(|roles| !roles.is_empty())
        .map(|roles| roles.iter().cloned().collect());
    spec.role = def.role.clone().unwrap_or_else(|| "*".to_string());
    spec.backoff = core::BackoffStrategy {
        backoff: seconds(def.backoff_seconds),
        factor: def.backoff_factor,
        max_launch_delay: seconds(def.max_launch_delay_seconds),
    };
    spec.task_kill_grace_period = def.task_kill_grace_period_seconds.map(seconds);
    spec.unreachable_strategy = unreachable_strategy(def.effective_unreachable_strategy());
    spec.kill_selection = kill_selection(def.kill_selection);
    spec.upgrade_strategy = upgrade_strategy(def.effective_upgrade_strategy());
    spec.health_checks = def.health_checks.iter().map(health_check).collect();
    let port_names: Vec<Option<&str>> = spec.port_definitions.iter().map(|p| p.name.as_deref()).collect();
    spec.readiness_checks = def
        .readiness_checks
        .iter()
        .map(|r| core::ReadinessCheck {
            name: r.name.clone(),
            https: r.protocol.eq_ignore_ascii_case("HTTPS"),
            path: r.path.clone(),
            port_index: port_names.iter().position(|n| *n == Some(r.port_name.as_str())).unwrap_or(0),
            interval: seconds(r.interval_seconds),
            timeout: seconds(r.timeout_seconds),
            ready_statuses: r
                .http_status_codes_for_ready
                .iter()
                .flatten()
                .filter_map(|c| u16::try_from(*c).ok())
                .collect::<Vec<u16>>(),
            preserve_last_response: r.preserve_last_response,
        })
        .map(|mut r| {
            if r.ready_statuses.is_empty() {
                r.ready_statuses = vec![200];
            }
            r
        })
        .collect();
    spec.user = def.user.clone();
    spec
}

/// `networks` (normalized: never empty; at most one bridge or container network with Docker).
fn network(def: &AppDefinition) -> Network {
    match def.networks.iter().find(|n| n.mode != api::NetworkMode::Host) {
        None => Network::Host,
        Some(n) if n.mode == api::NetworkMode::ContainerBridge => Network::Bridge,
        Some(n) => Network::Container(n.name.clone().unwrap_or_default()),
    }
}

/// The Docker container of a `DOCKER` app (`support` refuses what this cannot express).
fn docker_container(def: &AppDefinition) -> Option<Box<DockerContainer>> {
    let container = def.container.as_ref().filter(|c| c.kind == api::ContainerType::Docker)?;
    let docker = container.docker.as_ref()?;
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_string);
    Some(Box::new(DockerContainer {
        image: docker.image.clone(),
        privileged: docker.privileged,
        force_pull_image: docker.force_pull_image,
        parameters: docker.parameters.iter().map(|p| (p.key.clone(), p.value.clone())).collect(),
        volumes: container
            .volumes
            .iter()
            .filter_map(|v| {
                Some(HostVolume {
                    container_path: text(v, "containerPath")?,
                    host_path: text(v, "hostPath")?,
                    read_only: text(v, "mode").is_some_and(|m| m.eq_ignore_ascii_case("RO")),
                })
            })
            .collect(),
    }))
}

/// The plain values of an environment (secret references are refused by `support`).
pub(crate) fn env_values(
    env: &std::collections::BTreeMap<String, EnvValue>,
) -> std::collections::BTreeMap<String, String> {
    env.iter()
        .filter_map(|(k, v)| match v {
            EnvValue::Value(value) => Some((k.clone(), value.clone())),
            EnvValue::Secret { .. } => None,
        })
        .collect()
}

/// An artifact (`fetch`) as the fetcher's URI.
pub(crate) fn fetch_uri(a: &api::Artifact) -> FetchUri {
    FetchUri {
        uri: a.uri.clone(),
        extract: a.extract,
        executable: a.executable,
        cache: a.cache,
        dest_path: a.dest_path.clone(),
    }
}

pub(crate) fn unreachable_strategy(strategy: api::UnreachableStrategy) -> UnreachableStrategy {
    match strategy {
        api::UnreachableStrategy::Disabled => UnreachableStrategy::Disabled,
        api::UnreachableStrategy::Enabled { inactive_after_seconds, expunge_after_seconds } => {
            UnreachableStrategy::Enabled {
                inactive_after: Duration::from_secs(u64::try_from(inactive_after_seconds).unwrap_or(0)),
                expunge_after: Duration::from_secs(u64::try_from(expunge_after_seconds).unwrap_or(0)),
            }
        }
    }
}

pub(crate) fn kill_selection(selection: api::KillSelection) -> KillSelection {
    match selection {
        api::KillSelection::YoungestFirst => KillSelection::YoungestFirst,
        api::KillSelection::OldestFirst => KillSelection::OldestFirst,
    }
}

pub(crate) fn upgrade_strategy(upgrade: api::UpgradeStrategy) -> UpgradeStrategy {
    UpgradeStrategy {
        minimum_health_capacity: upgrade.minimum_health_capacity,
        maximum_over_capacity: upgrade.maximum_over_capacity,
    }
}

pub(crate) fn constraint(raw: &[String]) -> Option<Constraint> {
    let operator = match marathon_api::normalize::ConstraintOperator::parse(raw.get(1)?)? {
        marathon_api::normalize::ConstraintOperator::Unique => ConstraintOperator::Unique,
        marathon_api::normalize::ConstraintOperator::Cluster => ConstraintOperator::Cluster,
        marathon_api::normalize::ConstraintOperator::GroupBy => ConstraintOperator::GroupBy,
        marathon_api::normalize::ConstraintOperator::Like => ConstraintOperator::Like,
        marathon_api::normalize::ConstraintOperator::Unlike => ConstraintOperator::Unlike,
        marathon_api::normalize::ConstraintOperator::MaxPer => ConstraintOperator::MaxPer,
        marathon_api::normalize::ConstraintOperator::Is => ConstraintOperator::Is,
    };
    Some(Constraint { field: raw.first()?.clone(), operator, value: raw.get(2).cloned() })
}

fn health_check(check: &api::AppHealthCheck) -> HealthCheck {
    let protocol = match check.effective_protocol() {
        api::HealthCheckProtocol::Http => HealthCheckProtocol::Http,
        api::HealthCheckProtocol::Https => HealthCheckProtocol::Https,
        api::HealthCheckProtocol::Tcp => HealthCheckProtocol::Tcp,
        api::HealthCheckProtocol::Command => HealthCheckProtocol::Command,
        api::HealthCheckProtocol::MesosHttp => HealthCheckProtocol::MesosHttp,
        api::HealthCheckProtocol::MesosHttps => HealthCheckProtocol::MesosHttps,
        api::HealthCheckProtocol::MesosTcp => HealthCheckProtocol::MesosTcp,
    };
    let mut out = HealthCheck::new(protocol);
    out.path = check.path.clone();
    out.port_index = check.port_index.and_then(|i| usize::try_from(i).ok());
    out.port = check.port.and_then(|p| u16::try_from(p).ok());
    out.command = check.command.as_ref().map(|c| c.value.clone());
    out.grace_period = seconds(check.grace_period_seconds);
    out.interval = seconds(check.interval_seconds);
    out.timeout = seconds(check.timeout_seconds);
    out.max_consecutive_failures = u32::try_from(check.max_consecutive_failures).unwrap_or(0);
    out.delay = seconds(check.delay_seconds);
    out.ignore_http1xx = check.ignore_http1xx.unwrap_or(false);
    out
}

/// The Mesos state name an instance shows in task JSON.
pub fn task_state_name(instance: &Instance) -> &'static str {
    match instance.condition {
        Condition::Scheduled | Condition::Provisioned => "TASK_STAGING",
        _ => match instance.task.as_ref().and_then(|t| t.mesos_state) {
            Some(state) => state.name(),
            None => "TASK_STAGING",
        },
    }
}

/// The task JSON of an instance that has a task (`None` while it waits for an offer).
pub fn task_json(instance: &Instance, service_ports: Option<&[u16]>) -> Option<TaskJson> {
    let app_id = app_id_text(&instance.app_id);
    task_view(instance, &app_id, service_ports).map(|task| TaskJson::from(&task))
}

/// An app id as task JSON shows it (`appId`, a [`PathId`]'s text).
pub fn app_id_text(id: &AppId) -> String {
    PathId::parse(id.as_str()).to_string()
}

/// The task fields of an instance that has a task (`None` while it waits for an offer), without
/// `healthCheckResults`; `app_id` is [`app_id_text`] of its app (listings make it once per app).
pub fn task_view<'a>(
    instance: &'a Instance,
    app_id: &'a str,
    service_ports: Option<&'a [u16]>,
) -> Option<TaskView<'a>> {
    let task = instance.task.as_ref()?;
    let active = instance.condition.is_active();
    Some(TaskView {
        app_id,
        health_check_results: None,
        host: &task.hostname,
        id: task.id.as_str(),
        ip_addresses: &task.ip_addresses,
        local_volumes: &[],
        ports: if active { &task.host_ports } else { &[] },
        region: None,
        role: &instance.role,
        service_ports,
        slave_id: Some(task.agent_id.as_str()),
        state: task_state_name(instance),
        staged_at: Some(api_time(task.staged_at)),
        started_at: task.started_at.map(api_time),
        version: Some(api_time(instance.run_spec_version)),
        zone: None,
    })
}

/// `healthCheckResults` of a running task of an app with health checks: one entry per Marathon
/// check with a result, and one for the Mesos checks once Mesos reported health.
pub fn health_check_results(
    spec: &RunSpec,
    instance: &Instance,
    core: &crate::core::SchedulerCore,
) -> Option<Vec<marathon_api::output::HealthCheckResult>> {
    if spec.health_checks.is_empty() || instance.condition != Condition::Running {
        return None;
    }
    let instance_id = instance.id.as_str().to_string();
    let mut out: Vec<marathon_api::output::HealthCheckResult> = core
        .health_results(&instance.id)
        .iter()
        .filter(|r| r.has_result())
        .map(|r| marathon_api::output::HealthCheckResult {
            alive: r.alive(),
            consecutive_failures: r.consecutive_failures,
            first_success: r.first_success.map(api_time),
            last_failure: r.last_failure.map(api_time),
            last_success: r.last_success.map(api_time),
            last_failure_cause: r.last_failure_cause.clone(),
            instance_id: instance_id.clone(),
        })
        .collect();
    let mesos_health = instance.task.as_ref().and_then(|t| t.healthy);
    if spec.health_checks.iter().any(|c| c.protocol.is_mesos())
        && let Some(healthy) = mesos_health
    {
        out.push(marathon_api::output::HealthCheckResult {
            alive: healthy,
            consecutive_failures: u32::from(!healthy),
            first_success: None,
            last_failure: None,
            last_success: None,
            last_failure_cause: None,
            instance_id,
        });
    }
    Some(out)
}

/// `lastTaskFailure`.
pub fn task_failure(failure: &TaskFailure) -> marathon_api::output::TaskFailure {
    marathon_api::output::TaskFailure {
        app_id: PathId::parse(failure.app_id.as_str()),
        host: failure.host.clone(),
        message: failure.message.clone(),
        state: failure.state.name().to_string(),
        task_id: failure.task_id.as_str().to_string(),
        timestamp: api_time(failure.timestamp),
        version: api_time(failure.version),
        slave_id: Some(failure.agent_id.as_str().to_string()),
    }
}

/// A `/v2/queue` item (without the app).
pub fn queue_item(entry: &QueueEntry, embed_last_unused_offers: bool) -> QueueItem {
    let stats = &entry.offer_stats;
    let funnel = |rows: Vec<core::RejectSummary>| -> Vec<DeclinedOfferStep> {
        rows.into_iter()
            .map(|row| DeclinedOfferStep {
                reason: row.reason.name().to_string(),
                declined: u32::try_from(row.declined).unwrap_or(u32::MAX),
                processed: u32::try_from(row.processed).unwrap_or(u32::MAX),
            })
            .collect()
    };
    let last_unused_offers = embed_last_unused_offers.then(|| {
        stats
            .last_unused_offers
            .iter()
            .map(|offer| {
                serde_json::json!({
                    "offer": {
                        "id": offer.offer_id.as_str(),
                        "agentId": offer.agent_id.as_str(),
                        "hostname": offer.hostname,
                    },
                    "reason": offer.reasons.iter().map(|r| r.name()).collect::<Vec<_>>(),
                    "timestamp": marathon_api::format_timestamp(api_time(offer.at)),
                })
            })
            .collect()
    });
    QueueItem {
        count: u32::try_from(entry.count).unwrap_or(u32::MAX),
        delay: QueueDelay {
            time_left_seconds: entry.delay.time_left.as_secs_f64().ceil() as u64,
            overdue: entry.delay.overdue,
        },
        since: api_time(entry.since),
        processed_offers_summary: ProcessedOffersSummary {
            processed_offers_count: u32::try_from(stats.processed_offers).unwrap_or(u32::MAX),
            unused_offers_count: u32::try_from(stats.unused_offers).unwrap_or(u32::MAX),
            last_unused_offer_at: stats.last_unused_offer_at.map(api_time),
            last_used_offer_at: stats.last_used_offer_at.map(api_time),
            reject_summary_last_offers: Some(funnel(stats.reject_summary_last_offers())),
            reject_summary_launch_attempt: Some(funnel(stats.reject_summary_launch_attempt())),
        },
        last_unused_offers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_api::{normalize, parse_app};

    fn normalized(body: &str) -> AppDefinition {
        let mut def = normalize(parse_app(body.as_bytes()).expect("parse"), &PathId::root()).expect("valid");
        def.version = marathon_api::parse_timestamp("2026-01-02T03:04:05.678Z");
        def
    }

    #[test]
    fn a_normalized_definition_becomes_the_run_spec_the_core_schedules() {
        let def = normalized(
            r#"{"id":"web","cmd":"python3 -m http.server $PORT0","cpus":0.1,"mem":32,"instances":5,
                "env":{"A":"1"},"labels":{"team":"x"},"constraints":[["hostname","unique"]],
                "backoffSeconds":2,"backoffFactor":2.0,"maxLaunchDelaySeconds":60,
                "killSelection":"OLDEST_FIRST","portDefinitions":[{"port":0,"name":"http"}]}"#,
        );
        let spec = run_spec(&def);
        assert_eq!(spec.id.as_str(), "/web");
        assert_eq!(spec.instances, 5);
        assert_eq!(spec.command, CommandSpec::Shell("python3 -m http.server $PORT0".into()));
        assert_eq!(spec.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(spec.constraints[0].operator, ConstraintOperator::Unique);
        assert_eq!(spec.backoff.backoff, Duration::from_secs(2));
        assert_eq!(spec.backoff.max_launch_delay, Duration::from_secs(60));
        assert_eq!(spec.kill_selection, KillSelection::OldestFirst);
        assert_eq!(spec.port_definitions.len(), 1);
        assert_eq!(spec.port_definitions[0].name.as_deref(), Some("http"));
        assert_eq!(api_time(spec.version), def.version.expect("version"));
    }

    #[test]
    fn docker_apps_keep_their_container_network_and_port_mappings_in_both_forms() {
        let canonical = normalized(
            r#"{"id":"web","instances":2,"networks":[{"mode":"container/bridge"}],
                "container":{"type":"DOCKER","docker":{"image":"nginx","privileged":true,"forcePullImage":true,
                  "parameters":[{"key":"add-host","value":"a:1.2.3.4"}]},
                  "portMappings":[{"containerPort":80,"hostPort":0,"servicePort":10005,"name":"http"},
                                  {"containerPort":81}],
                  "volumes":[{"containerPath":"/etc/stuff","hostPath":"/etc/stuff","mode":"RO"}]}}"#,
        );
        let legacy = normalized(
            r#"{"id":"web","instances":2,
                "container":{"type":"DOCKER","docker":{"image":"nginx","privileged":true,"forcePullImage":true,
                  "network":"BRIDGE","parameters":[{"key":"add-host","value":"a:1.2.3.4"}],
                  "portMappings":[{"containerPort":80,"hostPort":0,"servicePort":10005,"name":"http"},
                                  {"containerPort":81}]},
                  "volumes":[{"containerPath":"/etc/stuff","hostPath":"/etc/stuff","mode":"RO"}]}}"#,
        );
        for def in [canonical, legacy] {
            let spec = run_spec(&def);
            assert_eq!(spec.network, Network::Bridge);
            assert_eq!(spec.command, CommandSpec::None, "the image's own command");
            let docker = spec.docker.as_ref().expect("docker");
            assert_eq!(docker.image, "nginx");
            assert!(docker.privileged && docker.force_pull_image);
            assert_eq!(docker.parameters, vec![("add-host".to_string(), "a:1.2.3.4".to_string())]);
            assert_eq!(
                docker.volumes,
                vec![HostVolume {
                    container_path: "/etc/stuff".into(),
                    host_path: "/etc/stuff".into(),
                    read_only: true
                }]
            );
            let ports: Vec<String> = spec
                .port_definitions
                .iter()
                .map(|p| format!("{:?} {:?} {} {:?}", p.container_port, p.host_port, p.port, p.name))
                .collect();
            // On the bridge a mapping without a host port gets any offered one.
            assert_eq!(ports, vec!["Some(80) Some(0) 10005 Some(\"http\")", "Some(81) Some(0) 0 None"]);
            // Service ports the core assigns go back into the mappings.
            let mut assigned = spec.clone();
            assigned.port_definitions[1].port = 10006;
            let stored = crate::records::definition_of(&def, &assigned);
            let mappings = stored.container.as_ref().and_then(|c| c.port_mappings.clone()).expect("mappings");
            assert_eq!(mappings.iter().map(|m| m.service_port).collect::<Vec<_>>(), vec![10005, 10006]);
            assert!(stored.port_definitions.is_none());
        }
        let user = normalized(
            r#"{"id":"u","cmd":"sleep 1","networks":[{"mode":"container","name":"net1"}],
                "container":{"type":"DOCKER","docker":{"image":"nginx"},"portMappings":[{"containerPort":80}]}}"#,
        );
        let spec = run_spec(&user);
        assert_eq!(spec.network, Network::Container("net1".into()));
        assert_eq!(spec.port_definitions[0].host_port, None, "no host port on a container network");
    }

    fn instance(condition: Condition, task: bool) -> Instance {
        let app = AppId::new("/prod/web");
        let id = crate::core::InstanceId::new(&app, uuid::Uuid::nil());
        Instance {
            task: task.then(|| crate::core::Task {
                id: id.task_id(1),
                agent_id: mesos_api::AgentId::new("agent-1"),
                hostname: "host-1".into(),
                host_ports: vec![31000, 31001],
                staged_at: core::Timestamp::from_millis(1_000),
                started_at: (condition == Condition::Running).then(|| core::Timestamp::from_millis(2_000)),
                mesos_state: (condition == Condition::Running).then_some(mesos_api::TaskState::Running),
                healthy: None,
                agent_ip: None,
                ip_addresses: Vec::new(),
                attributes: Vec::new(),
                region: Some("r".into()),
                zone: None,
                containers: Vec::new(),
            }),
            id,
            app_id: app,
            run_spec_version: core::Timestamp::from_millis(500),
            goal: crate::core::Goal::Running,
            condition,
            condition_since: core::Timestamp::from_millis(0),
            incarnation: 1,
            unreachable_since: None,
            role: "*".into(),
        }
    }

    #[test]
    fn task_views_show_what_task_json_shows() {
        let app_id = app_id_text(&AppId::new("/prod/web"));
        assert_eq!(app_id, "/prod/web");
        assert_eq!(task_view(&instance(Condition::Scheduled, false), &app_id, None), None);
        let running = instance(Condition::Running, true);
        let view = task_view(&running, &app_id, Some(&[10_000])).expect("a task");
        assert_eq!(view.id, "prod_web.instance-00000000-0000-0000-0000-000000000000._app.1");
        assert_eq!((view.host, view.slave_id, view.role), ("host-1", Some("agent-1"), "*"));
        assert_eq!((view.ports, view.service_ports), (&[31000, 31001][..], Some(&[10_000][..])));
        assert_eq!(view.state, "TASK_RUNNING");
        assert_eq!(view.started_at, Some(api_time(core::Timestamp::from_millis(2_000))));
        assert_eq!(view.version, Some(api_time(core::Timestamp::from_millis(500))));
        // Region and zone stay unset, as before views.
        assert_eq!((view.region, view.zone), (None, None));
        let json = task_json(&running, Some(&[10_000])).expect("a task");
        assert_eq!(json, TaskJson::from(&view));
        assert_eq!(json.app_id, PathId::parse("/prod/web"));
        // Inactive tasks show no host ports.
        let killed = instance(Condition::Killed, true);
        assert_eq!(task_view(&killed, &app_id, None).map(|v| v.ports), Some(&[][..]));
        assert_eq!(
            task_view(&instance(Condition::Provisioned, true), &app_id, None).map(|v| v.state),
            Some("TASK_STAGING")
        );
    }

    #[test]
    fn timestamps_round_trip_at_millisecond_precision() {
        let t = core::Timestamp::from_millis(1_767_323_045_678);
        assert_eq!(core_time(api_time(t)), t);
        assert_eq!(marathon_api::format_timestamp(api_time(t)), "2026-01-02T03:04:05.678Z");
    }
}
