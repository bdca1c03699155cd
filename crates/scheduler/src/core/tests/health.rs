//! Marathon health checks: probes, the grace period, the consecutive-failure kill rule, and what
//! health means for deployments and counts.

use super::*;

fn checked_app(max_failures: u32, grace: Duration) -> RunSpec {
    let mut spec = app("/web", 1);
    let mut check = HealthCheck::new(HealthCheckProtocol::Http);
    check.path = Some("/health".into());
    check.port_index = Some(0);
    check.interval = Duration::from_secs(2);
    check.timeout = Duration::from_secs(1);
    check.grace_period = grace;
    check.max_consecutive_failures = max_failures;
    spec.health_checks = vec![check];
    spec.port_definitions = vec![PortDefinition::new(0)];
    spec
}

fn probes(commands: &[Command]) -> Vec<(InstanceId, TaskId, usize, String, u16, String)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Probe { instance_id, task_id, check, host, port, path, .. } => {
                Some((instance_id.clone(), task_id.clone(), *check, host.clone(), *port, path.clone()))
            }
            _ => None,
        })
        .collect()
}

fn published(commands: &[Command]) -> Vec<BusEvent> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Publish(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

struct Checked {
    h: Harness,
    instance: InstanceId,
    task: TaskId,
}

impl Checked {
    fn start(max_failures: u32, grace: Duration) -> (Self, Vec<Command>) {
        let mut h = Harness::with_app(checked_app(max_failures, grace));
        let infos = h.launch(offer("o1", "agent-1", BIG));
        let task = infos[0].task_id.clone();
        let commands = h.update(&task, TaskState::Running);
        let instance = h.core.instance_of_task(&task).expect("instance").id.clone();
        (Checked { h, instance, task }, commands)
    }

    fn result(&mut self, outcome: ProbeOutcome) -> Vec<Command> {
        let event =
            Event::ProbeResult { instance_id: self.instance.clone(), task_id: self.task.clone(), check: 0, outcome };
        self.h.run(event)
    }

    fn fail(&mut self) -> Vec<Command> {
        self.result(ProbeOutcome::Unhealthy { cause: "503 Service Unavailable".into() })
    }

    fn instance(&self) -> Instance {
        self.h.core.instance(&self.instance).cloned().expect("instance")
    }
}

#[test]
fn a_running_task_is_probed_at_once_and_then_every_interval() {
    let (mut c, commands) = Checked::start(3, Duration::ZERO);
    let first = probes(&commands);
    assert_eq!(first.len(), 1);
    let host_port = c.instance().task.expect("task").host_ports[0];
    assert_eq!(
        first[0],
        (c.instance.clone(), c.task.clone(), 0, "agent-1.example.com".into(), host_port, "/health".into())
    );
    // No second probe while one is in flight.
    c.h.advance(Duration::from_secs(5));
    assert!(probes(&c.h.tick()).is_empty());
    let commands = c.result(ProbeOutcome::Healthy);
    assert!(probes(&commands).is_empty());
    assert_eq!(c.h.core.next_wakeup(), Some(c.h.now.mono + Duration::from_secs(2)));
    c.h.advance(Duration::from_secs(2));
    assert_eq!(probes(&c.h.tick()).len(), 1);
    assert_eq!(c.h.core.instance_health(&c.instance()), Some(true));
}

#[test]
fn failures_kill_only_after_max_consecutive_failures_were_exceeded() {
    let (mut c, _) = Checked::start(3, Duration::ZERO);
    let commands = c.result(ProbeOutcome::Healthy);
    assert!(published(&commands).iter().any(|e| matches!(e, BusEvent::HealthStatusChanged { alive: true, .. })));
    for round in 1..=3 {
        let commands = c.fail();
        assert!(kills(&commands).is_empty(), "killed after {round} failures");
        let events = published(&commands);
        assert!(events.iter().any(|e| matches!(e, BusEvent::FailedHealthCheck { .. })));
        assert_eq!(
            events.iter().any(|e| matches!(e, BusEvent::HealthStatusChanged { alive: false, .. })),
            round == 1,
            "health changes once"
        );
    }
    assert_eq!(c.h.core.health_results(&c.instance)[0].consecutive_failures, 3);
    assert_eq!(c.h.core.instance_health(&c.instance()), Some(false));
    // The fourth failure finds three before it: the task is killed, the instance stays wanted.
    let commands = c.fail();
    assert_eq!(kills(&commands), vec![c.task.clone()]);
    assert!(published(&commands).iter().any(|e| matches!(e, BusEvent::UnhealthyInstanceKill { .. })));
    c.h.update(&c.task.clone(), TaskState::Killed);
    let instance = c.instance();
    assert_eq!((instance.goal, instance.condition), (Goal::Running, Condition::Scheduled));
    assert_eq!(
        c.h.core.launch_delay(&AppId::new("/web")).map(|d| d.delay),
        Some(SEC),
        "a health kill counts toward the backoff"
    );
    assert!(c.h.core.health_results(&c.instance).is_empty());
}

/// Issue 13, item 7: a task that fails its health checks at once is not relaunched in a loop:
/// every kill for failing them, Marathon's or Mesos' (TASK_KILLED saying `healthy: false`),
/// grows the app's launch delay, and the relaunch waits for it.
#[test]
fn repeated_unhealthy_kills_grow_the_launch_delay() {
    for mesos in [false, true] {
        let mut spec = checked_app(1, Duration::ZERO);
        if mesos {
            let mut check = HealthCheck::new(HealthCheckProtocol::Command);
            check.command = Some("false".into());
            spec.health_checks = vec![check];
        }
        spec.backoff = BackoffStrategy { backoff: SEC, factor: 2.0, max_launch_delay: 60 * SEC };
        let app_id = spec.id.clone();
        let mut h = Harness::with_app(spec);
        let mut delays = Vec::new();
        for round in 0..4 {
            let infos = h.launch(offer(&format!("o{round}"), "agent-1", BIG));
            assert_eq!(infos.len(), 1, "mesos {mesos}: round {round} launches once the delay is over");
            let task = infos[0].task_id.clone();
            let commands = h.update(&task, TaskState::Running);
            if mesos {
                // The agent kills the task after its check failed and says why.
                h.health_update(&task, false);
                let mut killed = TaskStatus::new(task.clone(), TaskState::Killed);
                killed.agent_id = Some(AgentId::new("agent-1"));
                killed.uuid = Some(format!("uuid-killed-{round}"));
                killed.healthy = Some(false);
                h.run(Event::StatusUpdate(killed));
            } else {
                let (instance_id, _, check, ..) = probes(&commands).remove(0);
                let result = |cause: &str| Event::ProbeResult {
                    instance_id: instance_id.clone(),
                    task_id: task.clone(),
                    check,
                    outcome: ProbeOutcome::Unhealthy { cause: cause.into() },
                };
                assert!(kills(&h.run(result("503"))).is_empty());
                assert_eq!(kills(&h.run(result("503"))), vec![task.clone()]);
                h.update(&task, TaskState::Killed);
            }
            let delay = h.core.launch_delay(&app_id).map(|d| d.delay).expect("a launch delay");
            delays.push(delay);
            assert!(
                h.launch(offer(&format!("early{round}"), "agent-1", BIG)).is_empty(),
                "mesos {mesos}: no relaunch within the delay"
            );
            h.advance(delay);
            h.tick();
        }
        assert_eq!(delays, vec![SEC, 2 * SEC, 4 * SEC, 8 * SEC], "mesos {mesos}");
    }
}

#[test]
fn a_killed_task_that_was_merely_unhealthy_does_not_back_off() {
    // Killed on request (not by its check) while its Mesos check said unhealthy: no failure.
    let mut spec = app("/web", 1);
    let mut check = HealthCheck::new(HealthCheckProtocol::Command);
    check.command = Some("false".into());
    spec.health_checks = vec![check];
    let mut h = Harness::with_app(spec);
    let infos = h.launch(offer("o1", "agent-1", BIG));
    let task = infos[0].task_id.clone();
    h.update(&task, TaskState::Running);
    h.health_update(&task, false);
    h.run(Event::KillTasks { task_ids: vec![task.clone()], scale: false, wipe: false });
    h.update(&task, TaskState::Killed);
    assert!(h.core.launch_delay(&AppId::new("/web")).is_none());
}

#[test]
fn failures_in_the_grace_period_do_not_count_until_the_first_success() {
    let (mut c, _) = Checked::start(1, Duration::from_secs(30));
    for _ in 0..5 {
        assert!(kills(&c.fail()).is_empty());
    }
    assert_eq!(c.h.core.instance_health(&c.instance()), None, "no result yet");
    c.result(ProbeOutcome::Healthy);
    c.fail();
    assert_eq!(c.h.core.instance_health(&c.instance()), Some(false), "after a success failures count");
    assert_eq!(kills(&c.fail()), vec![c.task.clone()]);
}

#[test]
fn the_grace_period_ends_without_a_success() {
    let (mut c, _) = Checked::start(1, Duration::from_secs(30));
    c.h.advance(Duration::from_secs(31));
    c.fail();
    assert_eq!(kills(&c.fail()), vec![c.task.clone()]);
}

#[test]
fn zero_max_failures_never_kills_and_1xx_is_ignored() {
    let (mut c, _) = Checked::start(0, Duration::ZERO);
    for _ in 0..10 {
        assert!(kills(&c.fail()).is_empty());
    }
    c.result(ProbeOutcome::Healthy);
    c.result(ProbeOutcome::Ignored);
    assert_eq!(c.h.core.instance_health(&c.instance()), Some(true));
}

#[test]
fn a_zero_interval_spaces_probes_by_a_tenth_of_a_second() {
    let mut h = Harness::with_app({
        let mut spec = checked_app(3, Duration::from_secs(30));
        spec.health_checks[0].interval = Duration::ZERO;
        spec
    });
    let infos = h.launch(offer("o1", "agent-1", BIG));
    let task = infos[0].task_id.clone();
    let (instance_id, ..) = probes(&h.update(&task, TaskState::Running)).remove(0);
    let result = |outcome: ProbeOutcome| Event::ProbeResult {
        instance_id: instance_id.clone(),
        task_id: task.clone(),
        check: 0,
        outcome,
    };
    // In the grace period, and after a success: the next probe is 100 ms away, not at once.
    assert!(probes(&h.run(result(ProbeOutcome::Unhealthy { cause: "refused".into() }))).is_empty());
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + Duration::from_millis(100)));
    h.advance(Duration::from_millis(100));
    assert_eq!(probes(&h.tick()).len(), 1);
    assert!(probes(&h.run(result(ProbeOutcome::Healthy))).is_empty());
    assert_eq!(h.core.next_wakeup(), Some(h.now.mono + Duration::from_millis(100)));
}

#[test]
fn results_for_an_old_task_are_ignored() {
    let (mut c, _) = Checked::start(1, Duration::ZERO);
    let stale = Event::ProbeResult {
        instance_id: c.instance.clone(),
        task_id: TaskId::new("web.instance-x._app.0"),
        check: 0,
        outcome: ProbeOutcome::Healthy,
    };
    c.h.run(stale);
    assert_eq!(c.h.core.instance_health(&c.instance()), None);
}

#[test]
fn a_deployment_waits_for_health() {
    let (mut c, _) = Checked::start(3, Duration::ZERO);
    let app = AppId::new("/web");
    assert!(!c.h.core.is_converged(&app), "running but not yet healthy");
    c.result(ProbeOutcome::Healthy);
    assert!(c.h.core.is_converged(&app));
}

#[test]
fn a_scheduler_restarted_mid_upgrade_kills_no_old_instance_it_has_not_probed_yet() {
    let mut spec = checked_app(3, Duration::ZERO);
    spec.instances = 4;
    spec.upgrade_strategy = UpgradeStrategy { minimum_health_capacity: 0.5, maximum_over_capacity: 0.5 };
    let mut h = Harness::with_app(spec.clone());
    let tasks = h.launch_running("o1");
    assert_eq!(tasks.len(), 4);
    for task in &tasks {
        let instance_id = h.core.instance_of_task(task).expect("instance").id.clone();
        h.run(Event::ProbeResult { instance_id, task_id: task.clone(), check: 0, outcome: ProbeOutcome::Healthy });
    }
    // The upgrade starts: two old instances go (four healthy, two must stay).
    h.advance(SEC);
    let mut v2 = spec.clone();
    v2.command = CommandSpec::Shell("sleep 2000".into());
    v2.version = h.now.wall;
    v2.version_info = VersionInfo { last_scaling_at: h.now.wall, last_config_change_at: h.now.wall };
    let first_kills = kills(&h.put(v2));
    assert_eq!(first_kills.len(), 2, "{first_kills:?}");
    for task in &first_kills {
        h.update(task, TaskState::Killed);
    }
    // The scheduler restarts (or another one takes over): health results are gone.
    let mut restarted = h.restarted(7);
    let mut commands = restarted.subscribe();
    let survivors: Vec<TaskId> = tasks.iter().filter(|t| !first_kills.contains(t)).cloned().collect();
    for task in &survivors {
        commands.extend(restarted.update(task, TaskState::Running));
    }
    commands.extend(restarted.tick());
    let killed: Vec<TaskId> = kills(&commands).into_iter().filter(|t| survivors.contains(t)).collect();
    assert!(killed.is_empty(), "old instances killed before their health was known: {killed:?}");
    // Once probed healthy again, the upgrade goes on as before.
    for task in &survivors {
        let instance_id = restarted.core.instance_of_task(task).expect("instance").id.clone();
        restarted.run(Event::ProbeResult {
            instance_id,
            task_id: task.clone(),
            check: 0,
            outcome: ProbeOutcome::Healthy,
        });
    }
    assert_eq!(restarted.running("/web").len(), 2);
}
