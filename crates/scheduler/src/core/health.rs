//! Health bookkeeping: the results of the health checks Marathon runs itself (HTTP, HTTPS, TCP),
//! when the next probe is due, the grace period and the consecutive-failure kill rule, and the
//! one question deployments and counts ask: is this instance healthy?
//!
//! The core decides when to probe ([`Command::Probe`](super::Command::Probe)); the shell runs the
//! probe and reports [`Event::ProbeResult`](super::Event::ProbeResult). Results live in memory
//! only (like upstream's): after a restart, checks start over and the grace period applies again.
//! Mesos-executed checks (COMMAND, MESOS_*) arrive as `healthy` in status updates instead.

use super::instance::{Condition, Instance, InstanceId, Task};
use super::run_spec::{HealthCheck, PortAssignment, RunSpec};
use super::time::Timestamp;
use super::{BusEvent, Command, Goal, SchedulerCore};
use mesos_api::TaskId;
use std::time::Duration;
use tracing::info;

/// How soon a check that failed during its grace period (before any success) is retried.
const GRACE_RETRY: Duration = Duration::from_millis(100);

/// Probes of one check never start closer together than this, so that `intervalSeconds: 0`
/// (valid, as upstream) is no busy loop of probes; the agent spaces its checks the same way.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Healthy,
    Unhealthy {
        cause: String,
    },
    /// A 1xx answer of a check with `ignoreHttp1xx`: changes nothing.
    Ignored,
}

/// The state of one health check of one instance (`healthCheckResults[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// The last probe that counted succeeded.
    pub alive: bool,
    pub consecutive_failures: u32,
    pub first_success: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
    pub last_failure_cause: Option<String>,
}

impl CheckResult {
    /// A success exists and no failure counted after it.
    pub fn alive(&self) -> bool {
        self.alive
    }

    /// Whether any probe has counted yet.
    pub fn has_result(&self) -> bool {
        self.last_success.is_some() || self.last_failure.is_some()
    }
}

/// The Marathon-executed checks of one running task.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct InstanceChecks {
    pub(super) task_id: TaskId,
    /// Monotonic time the task was first seen running (grace period reference).
    pub(super) running_since: Duration,
    pub(super) results: Vec<CheckResult>,
    /// Per check: when the next probe is due, or `None` while one is in flight.
    pub(super) next_probe: Vec<Option<Duration>>,
}

/// Where the agent's side of a task is reached: its address from the offer, else its host name.
pub(super) fn agent_address(task: &Task) -> String {
    task.agent_ip.clone().unwrap_or_else(|| task.hostname.clone())
}

/// Where Marathon probes port `index` of a task (upstream's `PortAssignment`): its host port
/// at the agent, or a container port without one at the container's own address.
pub(super) fn probe_target(spec: &RunSpec, task: &Task, index: usize) -> (String, u16) {
    match spec.port_assignments(&task.host_ports).get(index) {
        Some(PortAssignment { host_port: Some(port), .. }) => (agent_address(task), *port),
        Some(PortAssignment { host_port: None, container_port: Some(port) }) => {
            let own = task.ip_addresses.first().map(ToString::to_string);
            (own.unwrap_or_else(|| agent_address(task)), *port)
        }
        _ => (agent_address(task), 0),
    }
}

/// The checks of `spec` Marathon runs, with their index in `spec.health_checks`.
pub(super) fn marathon_checks(spec: &RunSpec) -> impl Iterator<Item = (usize, &HealthCheck)> {
    spec.health_checks.iter().enumerate().filter(|(_, c)| !c.protocol.is_mesos())
}

/// Whether an instance counts as healthy for deployments: running, and every health check of its
/// app passing (Marathon checks alive; Mesos checks reported healthy). Apps without checks:
/// running is healthy.
pub(super) fn considered_healthy(spec: &RunSpec, instance: &Instance, checks: Option<&InstanceChecks>) -> bool {
    if instance.condition != Condition::Running {
        return false;
    }
    spec.health_checks.is_empty() || health_of(spec, instance, checks) == Some(true)
}

/// The health an instance shows: `None` without health checks or while some check has no
/// result yet, else whether every check passes (one failing check is enough to be unhealthy).
pub(super) fn health_of(spec: &RunSpec, instance: &Instance, checks: Option<&InstanceChecks>) -> Option<bool> {
    if spec.health_checks.is_empty() {
        return None;
    }
    let mut all_known = true;
    if spec.health_checks.iter().any(|c| c.protocol.is_mesos()) {
        match instance.task.as_ref().and_then(|t| t.healthy) {
            Some(false) => return Some(false),
            Some(true) => {}
            None => all_known = false,
        }
    }
    for (index, _) in marathon_checks(spec) {
        match checks.and_then(|c| c.results.get(index)) {
            Some(result) if result.has_result() && !result.alive() => return Some(false),
            Some(result) if result.has_result() => {}
            _ => all_known = false,
        }
    }
    all_known.then_some(true)
}

impl SchedulerCore {
    /// Starts or stops the probes of an instance after its condition or task changed.
    pub(super) fn sync_health_checks(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get(id) else {
            self.health.remove(id);
            return;
        };
        let running_task = match (&instance.task, instance.condition) {
            (Some(task), Condition::Running) => Some(task.id.clone()),
            _ => None,
        };
        let Some(task_id) = running_task else {
            // Killing, unreachable or gone: stop probing, keep nothing.
            self.health.remove(id);
            return;
        };
        if self.health.get(id).is_some_and(|h| h.task_id == task_id) {
            return;
        }
        let Some(spec) = self.apps.get(&instance.app_id) else { return };
        let count = spec.health_checks.len();
        if marathon_checks(spec).next().is_none() {
            self.health.remove(id);
            return;
        }
        let now = self.now.mono;
        let next_probe = spec.health_checks.iter().map(|c| (!c.protocol.is_mesos()).then_some(now)).collect::<Vec<_>>();
        self.health.insert(
            id.clone(),
            InstanceChecks { task_id, running_since: now, results: vec![CheckResult::default(); count], next_probe },
        );
    }

    /// Emits the probes that are due.
    pub(super) fn send_probes(&mut self) {
        let now = self.now.mono;
        let mut probes = Vec::new();
        for (id, checks) in &mut self.health {
            let Some(instance) = self.instances.get(id) else { continue };
            let Some(spec) = self.apps.get(&instance.app_id) else { continue };
            let Some(task) = &instance.task else { continue };
            for (index, next) in checks.next_probe.iter_mut().enumerate() {
                if !next.is_some_and(|at| at <= now) {
                    continue;
                }
                let Some(check) = spec.health_checks.get(index) else { continue };
                let (host, port) = match check.port {
                    Some(port) => (agent_address(task), port),
                    None => probe_target(spec, task, check.port_index.unwrap_or(0)),
                };
                *next = None;
                probes.push(Command::Probe {
                    instance_id: id.clone(),
                    task_id: task.id.clone(),
                    check: index,
                    protocol: check.protocol,
                    host,
                    port,
                    path: check.path.clone().unwrap_or_else(|| "/".to_string()),
                    timeout: check.timeout,
                    ignore_http1xx: check.ignore_http1xx,
                });
            }
        }
        self.step.out.extend(probes);
    }

    /// The earliest due probe.
    pub(super) fn next_probe(&self) -> Option<Duration> {
        self.health.values().flat_map(|c| c.next_probe.iter().flatten().copied()).min()
    }

    /// A probe's result: updates the check, publishes health events and applies the kill rule.
    pub(super) fn probe_result(&mut self, id: &InstanceId, task_id: &TaskId, check: usize, outcome: ProbeOutcome) {
        let now = self.now;
        let Some(instance) = self.instances.get(id) else { return };
        let Some(spec) = self.apps.get(&instance.app_id) else { return };
        let Some(definition) = spec.health_checks.get(check).cloned() else { return };
        let Some(checks) = self.health.get_mut(id) else { return };
        if &checks.task_id != task_id || check >= checks.results.len() {
            return;
        }
        checks.next_probe[check] = Some(now.mono + definition.interval.max(MIN_INTERVAL));
        let result = &mut checks.results[check];
        let was_alive = result.alive();
        let had_result = result.has_result();
        let mut kill = false;
        let mut failed = false;
        match outcome {
            ProbeOutcome::Ignored => return,
            ProbeOutcome::Healthy => {
                result.alive = true;
                result.consecutive_failures = 0;
                result.first_success.get_or_insert(now.wall);
                result.last_success = Some(now.wall);
            }
            ProbeOutcome::Unhealthy { cause } => {
                let in_grace =
                    result.first_success.is_none() && now.mono < checks.running_since + definition.grace_period;
                if in_grace {
                    // Starting up: look again soon rather than a whole interval later, so a
                    // replacement counts as healthy as soon as it serves.
                    let retry = definition.interval.min(GRACE_RETRY).max(MIN_INTERVAL);
                    checks.next_probe[check] = Some(now.mono + retry);
                    return;
                }
                failed = true;
                let max = definition.max_consecutive_failures;
                kill = max > 0 && result.consecutive_failures >= max;
                result.consecutive_failures += 1;
                result.alive = false;
                result.last_failure = Some(now.wall);
                result.last_failure_cause = Some(cause);
            }
        }
        let alive = result.alive();
        let app_id = instance.app_id.clone();
        let version = instance.run_spec_version;
        let task_info = instance.task.as_ref().map(|t| (t.hostname.clone(), t.agent_id.clone()));
        let unreachable = matches!(instance.condition, Condition::Unreachable | Condition::UnreachableInactive);
        let goal = instance.goal;
        if failed {
            self.publish(BusEvent::FailedHealthCheck {
                app_id: app_id.clone(),
                instance_id: id.clone(),
                task_id: task_id.clone(),
                check,
                timestamp: now.wall,
            });
        }
        if alive != was_alive || !had_result {
            self.publish(BusEvent::HealthStatusChanged {
                app_id: app_id.clone(),
                instance_id: id.clone(),
                task_id: task_id.clone(),
                version,
                alive,
                timestamp: now.wall,
            });
            self.step.converge.insert(app_id.clone());
        }
        if kill && !unreachable && goal == Goal::Running && !self.kills.contains_key(id) {
            let (host, agent_id) = task_info.unzip();
            info!(instance_id = %id, %task_id, "killing an instance that failed its health checks");
            self.publish(BusEvent::UnhealthyInstanceKill {
                app_id,
                instance_id: id.clone(),
                task_id: task_id.clone(),
                version,
                reason: format!("{} consecutive health check failures", definition.max_consecutive_failures),
                host,
                agent_id,
                timestamp: now.wall,
            });
            self.kills.insert(id.clone(), None);
            self.unhealthy_kills.insert(id.clone());
        }
    }

    /// The Marathon health check results of an instance (empty without Marathon checks).
    pub fn health_results(&self, id: &InstanceId) -> &[CheckResult] {
        self.health.get(id).map_or(&[], |c| c.results.as_slice())
    }

    /// The health an instance shows in counts and task JSON: `None` without checks or results.
    pub fn instance_health(&self, instance: &Instance) -> Option<bool> {
        self.instance_health_in(self.apps.get(&instance.app_id)?, instance)
    }

    /// [`Self::instance_health`] with the instance's app at hand (listings ask it of every
    /// instance of every app).
    pub fn instance_health_in(&self, spec: &RunSpec, instance: &Instance) -> Option<bool> {
        if instance.condition != Condition::Running {
            return None;
        }
        health_of(spec, instance, self.health.get(&instance.id))
    }

    /// Whether an instance counts as healthy for deployments.
    pub fn is_considered_healthy(&self, instance: &Instance) -> bool {
        self.apps
            .get(&instance.app_id)
            .is_some_and(|spec| considered_healthy(spec, instance, self.health.get(&instance.id)))
    }

    /// An app has converged when exactly `instances` wanted instances run its current config,
    /// each healthy, and no other instance of it is left (being killed, or of an older config).
    /// A deleted app has converged when none of its instances is left.
    pub fn is_converged(&self, app_id: &super::AppId) -> bool {
        let Some(spec) = self.apps.get(app_id) else {
            return self.instances_of(app_id).next().is_none();
        };
        let mut ready = 0u32;
        for instance in self.instances_of(app_id) {
            let current = instance.goal == Goal::Running
                && spec.is_current(instance.run_spec_version)
                && considered_healthy(spec, instance, self.health.get(&instance.id))
                && self.is_ready_in(spec, instance);
            if !current {
                return false;
            }
            ready += 1;
        }
        ready == spec.instances
    }
}
