//! One task's health checker (Mesos' `HealthCheckerProcess`, run by the built-in command
//! executor next to its task), as plain data: when the next check is due, and what a result
//! means. The core turns a due check into [`super::Command::RunHealthCheck`] and a result
//! ([`super::Event::HealthCheckResult`]) into status updates and kills; the shell runs the
//! probe.
//!
//! Semantics (Mesos `src/checks/health_checker.cpp`):
//! * the first check starts `delay` after the task became TASK_RUNNING; each next one starts
//!   `interval` after the previous one ended (or timed out);
//! * failures within `grace_period` of the start are ignored until the first success;
//! * every counted failure is reported (`healthy: false`); the first success, and the first
//!   success after failures, is reported (`healthy: true`); other successes are silent;
//! * once `consecutive_failures` failures happened in a row, the task is killed.

use super::{CommandLine, LaunchSpec};
use mesos_api::health::{HealthCheck, HealthCheckType};
use mesos_api::messages::{Reason, TaskStatus};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Checks never start closer together than this, so that `interval_seconds: 0` cannot turn
/// into a busy loop of probes (Mesos would run them back to back).
pub(super) const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How long after its timeout the core waits for a check's result before it counts the check
/// as failed anyway (the shell enforces the timeout itself; this only covers a lost result).
pub(super) const RESULT_MARGIN: Duration = Duration::from_secs(5);

/// What the shell runs for one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthProbe {
    /// Run in the task's sandbox with the task's environment (the agent's, the task's
    /// variables, then the check command's); exit status 0 is healthy. Killed (its whole
    /// process group) at the timeout.
    Command { command: CommandLine, env: Vec<(String, String)>, sandbox: PathBuf },
    /// Run inside the task's Docker container (`docker exec`, as upstream's Docker executor
    /// does) with the check command's variables on top of the container's; exit status 0 is
    /// healthy. Killed at the timeout.
    ContainerCommand { command: CommandLine, env: Vec<(String, String)> },
    /// `GET scheme://addr:port/path`, redirects followed; 200-399 is healthy.
    Http { scheme: String, addr: IpAddr, port: u16, path: String },
    /// A TCP connection to `addr:port` succeeds.
    Tcp { addr: IpAddr, port: u16 },
}

impl HealthProbe {
    /// The probe of `check` for the task launched with `spec`. HTTP and TCP checks connect to
    /// the task's own network: the container's address (`addresses`, a Docker task on a bridge
    /// or user network, where the check's port is the container's port, as upstream's checker
    /// that enters the container's network namespace sees it), the loopback otherwise.
    pub(super) fn of(check: &HealthCheck, spec: &LaunchSpec, addresses: &[IpAddr]) -> Option<Self> {
        let own = |protocol: mesos_api::health::IpProtocol| {
            let loopback = protocol.loopback();
            addresses.iter().find(|a| a.is_ipv4() == loopback.is_ipv4()).copied().unwrap_or(loopback)
        };
        match check.kind? {
            HealthCheckType::Command => {
                let command = check.command.as_ref()?;
                let value = command.value.clone()?;
                let line = if command.shell {
                    CommandLine::Shell(value)
                } else {
                    CommandLine::Exec { value, arguments: command.arguments.clone() }
                };
                let mut env = if spec.docker.is_some() { Vec::new() } else { spec.env.clone() };
                if let Some(vars) = &command.environment {
                    for v in &vars.variables {
                        if v.kind.as_deref().is_none_or(|k| k == "VALUE") {
                            env.push((v.name.clone(), v.value.clone().unwrap_or_default()));
                        }
                    }
                }
                if spec.docker.is_some() {
                    return Some(Self::ContainerCommand { command: line, env });
                }
                Some(Self::Command { command: line, env, sandbox: spec.sandbox.clone() })
            }
            HealthCheckType::Http => {
                let http = check.http.as_ref()?;
                Some(Self::Http {
                    scheme: http.scheme().to_string(),
                    addr: own(http.protocol.unwrap_or_default()),
                    port: u16::try_from(http.port).ok()?,
                    path: http.path().to_string(),
                })
            }
            HealthCheckType::Tcp => {
                let tcp = check.tcp.as_ref()?;
                Some(Self::Tcp { addr: own(tcp.protocol.unwrap_or_default()), port: u16::try_from(tcp.port).ok()? })
            }
            HealthCheckType::Unknown => None,
        }
    }
}

/// A check the shell is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: u64,
    /// When the result is considered lost (`None`: the check has no timeout).
    give_up: Option<Duration>,
}

/// What a check's outcome asks the core to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing to report (a success while healthy, or a failure within the grace period).
    Silent,
    /// Send TASK_RUNNING with `healthy: true`.
    Healthy,
    /// Send TASK_RUNNING with `healthy: false`; kill the task if `kill`.
    Unhealthy { failures: u32, kill: bool },
}

/// What [`HealthChecker::poll`] asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    /// Run check `id` now.
    Start { id: u64, probe: HealthProbe, timeout: Option<Duration> },
    /// The result of the check in flight is overdue: it counts as failed.
    Overdue(Verdict),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct HealthChecker {
    interval: Duration,
    timeout: Option<Duration>,
    grace_period: Duration,
    max_failures: u32,
    probe: HealthProbe,
    /// When the checker started (the grace period counts from here).
    started: Duration,
    /// When the next check starts (meaningless while one is in flight).
    next_due: Duration,
    in_flight: Option<InFlight>,
    next_id: u64,
    /// No success yet.
    initializing: bool,
    /// Failures in a row (reported ones).
    failures: u32,
}

/// Health state as the task's status updates tell it: (a success was reported, failures
/// reported since the last success). Every reported failure is counted and every success
/// after failures is reported, so this is exactly the checker's state when they were sent.
pub(super) fn reported_state(statuses: &[TaskStatus]) -> (bool, u32) {
    let health: Vec<bool> = statuses
        .iter()
        .filter(|s| s.reason == Some(Reason::TaskHealthCheckStatusUpdated))
        .filter_map(|s| s.healthy)
        .collect();
    let succeeded = health.contains(&true);
    let failures = health.iter().rev().take_while(|h| !**h).count();
    (succeeded, u32::try_from(failures).unwrap_or(u32::MAX))
}

impl HealthChecker {
    /// A checker starting at `now` (the task just became TASK_RUNNING, or was recovered with
    /// the health state `reported`, see [`reported_state`]). A recovered task that was healthy
    /// before is checked again after one interval, one that never was after the delay, with a
    /// fresh grace period.
    pub(super) fn new(check: &HealthCheck, probe: HealthProbe, now: Duration, reported: (bool, u32)) -> Self {
        let interval = check.interval().max(MIN_INTERVAL);
        let (succeeded, failures) = reported;
        let first = if succeeded { interval } else { check.delay() };
        Self {
            interval,
            timeout: check.timeout(),
            grace_period: check.grace_period(),
            max_failures: check.consecutive_failures,
            probe,
            started: now,
            next_due: now.saturating_add(first),
            in_flight: None,
            next_id: 1,
            initializing: !succeeded,
            failures,
        }
    }

    /// When [`HealthChecker::poll`] has something to do.
    pub(super) fn due(&self) -> Option<Duration> {
        match self.in_flight {
            Some(f) => f.give_up,
            None => Some(self.next_due),
        }
    }

    /// Starts a check if one is due, or counts a check whose result is overdue as failed.
    pub(super) fn poll(&mut self, now: Duration) -> Option<Step> {
        match self.in_flight {
            Some(f) if f.give_up.is_some_and(|g| g <= now) => Some(Step::Overdue(self.finish(now, false))),
            Some(_) => None,
            None if self.next_due <= now => {
                let id = self.next_id;
                self.next_id += 1;
                let give_up = self.timeout.map(|t| now.saturating_add(t).saturating_add(RESULT_MARGIN));
                self.in_flight = Some(InFlight { id, give_up });
                Some(Step::Start { id, probe: self.probe.clone(), timeout: self.timeout })
            }
            None => None,
        }
    }

    /// The result of check `id`; `None` if it is not the check in flight (stale).
    pub(super) fn on_result(&mut self, now: Duration, id: u64, healthy: bool) -> Option<Verdict> {
        if self.in_flight.map(|f| f.id) != Some(id) {
            return None;
        }
        Some(self.finish(now, healthy))
    }

    fn finish(&mut self, now: Duration, healthy: bool) -> Verdict {
        self.in_flight = None;
        self.next_due = now.saturating_add(self.interval);
        if healthy {
            let report = self.initializing || self.failures > 0;
            self.initializing = false;
            self.failures = 0;
            return if report { Verdict::Healthy } else { Verdict::Silent };
        }
        if self.initializing && !self.grace_period.is_zero() && now.saturating_sub(self.started) <= self.grace_period {
            return Verdict::Silent;
        }
        self.failures = self.failures.saturating_add(1);
        Verdict::Unhealthy { failures: self.failures, kill: self.failures >= self.max_failures }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: Duration = Duration::from_secs(1);

    /// A launch of a task with `env`, run by the Docker containerizer with `docker`.
    fn spec(env: &[(&str, &str)], docker: bool) -> LaunchSpec {
        LaunchSpec {
            container_id: "c".into(),
            framework_id: mesos_api::FrameworkId::new("f"),
            task_id: mesos_api::TaskId::new("t"),
            sandbox: "/sb".into(),
            executor_sandbox: None,
            uris: Vec::new(),
            command: CommandLine::Shell("true".into()),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            limits: None,
            user: None,
            docker: docker.then(|| {
                Box::new(super::super::DockerLaunch {
                    agent_id: "a".into(),
                    container: mesos_api::container::ContainerInfo::from_json(
                        &json!({"type": "DOCKER", "docker": {"image": "x"}}),
                    )
                    .expect("container"),
                    command: None,
                    resources: Vec::new(),
                    limits: None,
                    env: Vec::new(),
                })
            }),
        }
    }

    fn checker(extra: serde_json::Value) -> HealthChecker {
        let mut value = json!({"type": "TCP", "tcp": {"port": 8080}});
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            v.extend(e.clone());
        }
        let check = HealthCheck::from_json(&value).expect("valid");
        let probe = HealthProbe::of(&check, &spec(&[], false), &[]).expect("probe");
        HealthChecker::new(&check, probe, 100 * S, (false, 0))
    }

    fn start(c: &mut HealthChecker, now: Duration) -> u64 {
        match c.poll(now) {
            Some(Step::Start { id, .. }) => id,
            other => panic!("no check started at {now:?}: {other:?}"),
        }
    }

    #[test]
    fn probes_of_each_type() {
        let check = HealthCheck::from_json(&json!({
            "type": "COMMAND",
            "command": {"value": "test -f x", "environment": {"variables": [{"name": "A", "value": "2"}]}}
        }))
        .expect("valid");
        assert_eq!(
            HealthProbe::of(&check, &spec(&[("A", "1")], false), &[]),
            Some(HealthProbe::Command {
                command: CommandLine::Shell("test -f x".into()),
                env: vec![("A".into(), "1".into()), ("A".into(), "2".into())],
                sandbox: "/sb".into()
            })
        );
        // In a Docker container, with the check's own variables (the container has the task's).
        assert_eq!(
            HealthProbe::of(&check, &spec(&[("A", "1")], true), &[]),
            Some(HealthProbe::ContainerCommand {
                command: CommandLine::Shell("test -f x".into()),
                env: vec![("A".into(), "2".into())],
            })
        );
        let check =
            HealthCheck::from_json(&json!({"type": "HTTP", "http": {"port": 80, "protocol": "IPv6"}})).expect("valid");
        assert_eq!(
            HealthProbe::of(&check, &spec(&[], false), &[]),
            Some(HealthProbe::Http {
                scheme: "http".into(),
                addr: "::1".parse().expect("ip"),
                port: 80,
                path: "/".into()
            })
        );
        // A container with an address of its own is checked there (the check's port is the
        // container's); one with only an IPv4 address is checked on the IPv6 loopback.
        let bridge: std::net::IpAddr = "10.250.0.5".parse().expect("ip");
        let tcp = HealthCheck::from_json(&json!({"type": "TCP", "tcp": {"port": 80}})).expect("valid");
        assert_eq!(
            HealthProbe::of(&tcp, &spec(&[], true), &[bridge]),
            Some(HealthProbe::Tcp { addr: bridge, port: 80 })
        );
        assert!(matches!(
            HealthProbe::of(&check, &spec(&[], true), &[bridge]),
            Some(HealthProbe::Http { addr, .. }) if addr.is_loopback()
        ));
    }

    #[test]
    fn timeout_gives_a_deadline_for_the_result() {
        let mut c = checker(json!({"delay_seconds": 0, "timeout_seconds": 2}));
        let id = start(&mut c, 100 * S);
        assert_eq!(c.due(), Some(102 * S + RESULT_MARGIN));
        assert!(c.poll(106 * S).is_none());
        // The result never came: a failure (inside the grace period, so silent).
        assert_eq!(c.poll(107 * S), Some(Step::Overdue(Verdict::Silent)));
        assert_eq!(c.on_result(107 * S, id, true), None, "a late result is stale");
        assert_eq!(c.due(), Some(117 * S));
    }

    #[test]
    fn no_timeout_means_waiting_forever() {
        let mut c = checker(json!({"delay_seconds": 0, "timeout_seconds": 0}));
        start(&mut c, 100 * S);
        assert_eq!(c.due(), None);
    }

    #[test]
    fn zero_interval_is_raised() {
        let mut c = checker(json!({"delay_seconds": 0, "interval_seconds": 0}));
        let id = start(&mut c, 100 * S);
        assert_eq!(c.on_result(100 * S, id, true), Some(Verdict::Healthy));
        assert_eq!(c.due(), Some(100 * S + MIN_INTERVAL));
    }

    #[test]
    fn reported_state_reads_trailing_failures() {
        let mut statuses = Vec::new();
        let mut push = |healthy: Option<bool>, reason: Option<Reason>| {
            let mut s = TaskStatus::new(mesos_api::TaskId::new("t"), mesos_api::TaskState::Running);
            s.healthy = healthy;
            s.reason = reason;
            statuses.push(s);
        };
        let h = Some(Reason::TaskHealthCheckStatusUpdated);
        push(None, None);
        push(Some(false), h);
        push(Some(true), h);
        push(Some(false), h);
        push(Some(false), h);
        push(Some(false), Some(Reason::Reconciliation));
        assert_eq!(reported_state(&statuses), (true, 2));
        assert_eq!(reported_state(&statuses[..2]), (false, 1));
        assert_eq!(reported_state(&[]), (false, 0));
    }
}
