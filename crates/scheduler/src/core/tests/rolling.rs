//! Rolling upgrades: upstream's capacity arithmetic (minimumHealthCapacity and
//! maximumOverCapacity), checked after every step of a whole upgrade.

use super::*;

struct Rollout {
    h: Harness,
    app: AppId,
    /// Most instances active (not terminal, any goal) seen at once.
    max_active: usize,
    /// Fewest healthy (running, wanted) instances seen at once.
    min_healthy: usize,
    offers: usize,
    /// Status updates arrive in batches (one core step each), as from a busy master.
    batched: bool,
    /// The app has a Mesos (COMMAND) health check: a task counts as healthy once a later
    /// status update says so.
    mesos_checked: bool,
}

impl Rollout {
    fn start(n: u32, min_health: f64, max_over: f64) -> Self {
        Self::start_with(n, min_health, max_over, Vec::new())
    }

    /// Like [`Rollout::start`], for an app with a Mesos COMMAND health check.
    fn start_mesos_checked(n: u32, min_health: f64, max_over: f64) -> Self {
        let mut check = HealthCheck::new(HealthCheckProtocol::Command);
        check.command = Some("true".into());
        Self::start_with(n, min_health, max_over, vec![check])
    }

    fn start_with(n: u32, min_health: f64, max_over: f64, health_checks: Vec<HealthCheck>) -> Self {
        let mut spec = app("/web", n);
        spec.upgrade_strategy =
            UpgradeStrategy { minimum_health_capacity: min_health, maximum_over_capacity: max_over };
        let mesos_checked = health_checks.iter().any(|c| c.protocol.is_mesos());
        spec.health_checks = health_checks;
        let mut h = Harness::with_app(spec);
        for round in 0..n {
            if h.running("/web").len() == n as usize {
                break;
            }
            for task in h.launch_running(&format!("setup-{round}")) {
                if mesos_checked {
                    h.health_update(&task, true);
                }
            }
        }
        assert_eq!(h.running("/web").len(), n as usize);
        let mut r = Rollout {
            h,
            app: AppId::new("/web"),
            max_active: 0,
            min_healthy: usize::MAX,
            offers: 0,
            batched: false,
            mesos_checked,
        };
        r.observe();
        assert_eq!(r.min_healthy, n as usize, "every instance healthy before the upgrade");
        r
    }

    fn observe(&mut self) {
        let instances: Vec<Instance> = self.h.core.instances_of(&self.app).cloned().collect();
        let active =
            instances.iter().filter(|i| i.condition.is_active() || i.condition == Condition::Scheduled).count();
        let healthy =
            instances.iter().filter(|i| i.goal == Goal::Running && self.h.core.is_considered_healthy(i)).count();
        self.max_active = self.max_active.max(active);
        self.min_healthy = self.min_healthy.min(healthy);
    }

    /// Answers kills with KILLED, one at a time (all of them together when batched),
    /// observing after each step.
    fn answer_kills(&mut self, commands: Vec<Command>) {
        if self.batched {
            let mut pending = kills(&commands);
            while !pending.is_empty() {
                self.observe();
                let batch: Vec<(TaskId, TaskState)> = pending.iter().map(|t| (t.clone(), TaskState::Killed)).collect();
                let more = self.h.updates(&batch);
                assert_eq!(acks(&more), batch.len(), "every update is acknowledged");
                pending = kills(&more);
            }
            self.observe();
            return;
        }
        let mut pending: VecDeque<TaskId> = kills(&commands).into();
        while let Some(task) = pending.pop_front() {
            self.observe();
            let more = self.h.update(&task, TaskState::Killed);
            pending.extend(kills(&more));
        }
        self.observe();
    }

    /// Offers resources, then reports the launched tasks running one by one.
    fn launch_round(&mut self) -> usize {
        self.offers += 1;
        let infos = self.h.launch(offer(&format!("o{}", self.offers), "agent-1", BIG));
        self.observe();
        if self.batched && !infos.is_empty() {
            let batch: Vec<(TaskId, TaskState)> =
                infos.iter().map(|i| (i.task_id.clone(), TaskState::Running)).collect();
            let commands = self.h.updates(&batch);
            assert_eq!(acks(&commands), batch.len(), "every update is acknowledged");
            self.observe();
            self.answer_kills(commands);
            self.report_healthy(&infos);
            return infos.len();
        }
        for info in &infos {
            let commands = self.h.update(&info.task_id, TaskState::Running);
            self.observe();
            self.answer_kills(commands);
        }
        self.report_healthy(&infos);
        infos.len()
    }

    /// The Mesos health checks of launched tasks pass: each reports healthy in an update of its
    /// own, after the task's TASK_RUNNING.
    fn report_healthy(&mut self, infos: &[TaskInfo]) {
        if !self.mesos_checked {
            return;
        }
        for info in infos {
            let commands = self.h.health_update(&info.task_id, true);
            self.observe();
            self.answer_kills(commands);
        }
    }

    fn change_config(&mut self) {
        let mut spec = self.h.core.app(&self.app).cloned().expect("app");
        spec.version = self.h.now.wall.saturating_add(SEC);
        spec.command = CommandSpec::Shell("sleep 2000".into());
        self.h.advance(SEC);
        let commands = self.h.put(spec);
        self.observe();
        self.answer_kills(commands);
    }

    fn run_to_end(&mut self) {
        for _ in 0..100 {
            if self.h.core.is_converged(&self.app) {
                return;
            }
            self.launch_round();
        }
        panic!("the upgrade did not finish: {:#?}", self.h.instances("/web"));
    }
}

#[test]
fn ten_instances_with_half_health_and_twenty_percent_headroom() {
    let mut r = Rollout::start(10, 0.5, 0.2);
    r.change_config();
    r.run_to_end();
    assert!(r.max_active <= 12, "active peaked at {}", r.max_active);
    assert!(r.min_healthy >= 5, "healthy fell to {}", r.min_healthy);
    let config = r.h.core.app(&r.app).expect("app").version_info.last_config_change_at;
    let running = r.h.running("/web");
    assert_eq!(running.len(), 10);
    assert!(running.iter().all(|i| i.run_spec_version == config));
}

fn acks(commands: &[Command]) -> usize {
    commands.iter().filter(|c| matches!(c, Command::Acknowledge { .. })).count()
}

#[test]
fn updates_in_batches_keep_the_bounds_of_an_upgrade() {
    for (n, min_health, max_over) in [(20, 0.5, 0.2), (10, 1.0, 0.0), (12, 0.0, 0.0), (9, 0.75, 0.5)] {
        let mut r = Rollout::start(n, min_health, max_over);
        r.batched = true;
        r.change_config();
        r.run_to_end();
        let n = n as usize;
        let min_healthy = ((n as f64) * min_health).ceil() as usize;
        let max_capacity = ((n as f64) * (1.0 + max_over)).floor() as usize;
        // One extra instance when the bounds leave no room (see `roll`).
        let max_capacity = if min_healthy == max_capacity { max_capacity + 1 } else { max_capacity };
        assert!(r.min_healthy >= min_healthy, "{n}: healthy fell to {}", r.min_healthy);
        assert!(r.max_active <= max_capacity, "{n}: active peaked at {}", r.max_active);
        let config = r.h.core.app(&r.app).expect("app").version_info.last_config_change_at;
        let running = r.h.running("/web");
        assert_eq!(running.len(), n);
        assert!(running.iter().all(|i| i.run_spec_version == config));
    }
}

#[test]
fn the_default_strategy_starts_every_new_instance_next_to_the_old_ones() {
    let mut r = Rollout::start(4, 1.0, 1.0);
    r.change_config();
    assert_eq!(r.launch_round(), 4, "all four new instances launch at once, next to the old ones");
    r.run_to_end();
    assert_eq!(r.min_healthy, 4);
    assert!(r.max_active <= 8);
}

#[test]
fn full_health_without_headroom_replaces_one_by_one() {
    // minHealthy = ceil(3 * 0.7) = 3 = maxCapacity: one extra instance makes progress possible.
    let mut r = Rollout::start(3, 0.7, 0.0);
    r.change_config();
    assert_eq!(r.launch_round(), 1);
    r.run_to_end();
    assert_eq!(r.min_healthy, 3);
    assert_eq!(r.max_active, 4);
}

#[test]
fn zero_health_stops_everything_first() {
    let mut r = Rollout::start(4, 0.0, 0.0);
    r.change_config();
    r.run_to_end();
    assert_eq!(r.min_healthy, 0);
    assert_eq!(r.max_active, 4);
}

#[test]
fn half_health_and_half_headroom() {
    let mut r = Rollout::start(4, 0.5, 0.5);
    r.change_config();
    r.run_to_end();
    assert!(r.min_healthy >= 2, "healthy fell to {}", r.min_healthy);
    assert!(r.max_active <= 6, "active peaked at {}", r.max_active);
}

#[test]
fn an_upgrade_resumes_after_a_restart() {
    let mut r = Rollout::start(4, 0.5, 0.0);
    r.change_config();
    r.launch_round();
    let mut h = r.h.restarted(7);
    let commands = h.subscribe();
    // The master answers the reconciliation: everything with a task still runs.
    for (task, _) in reconciles(&commands).into_iter().flatten() {
        h.update(&task, TaskState::Running);
    }
    assert!(h.core.is_reconciled());
    r.h = h;
    r.run_to_end();
    assert!(r.min_healthy >= 2, "healthy fell to {}", r.min_healthy);
    assert_eq!(r.h.running("/web").len(), 4);
}

#[test]
fn readiness_gates_the_replacement_of_old_instances() {
    let mut r = Rollout::start(2, 1.0, 0.0);
    let mut spec = r.h.core.app(&r.app).cloned().expect("app");
    spec.version = r.h.now.wall.saturating_add(SEC);
    spec.command = CommandSpec::Shell("sleep 2000".into());
    spec.readiness_checks = vec![ReadinessCheck {
        name: "ready".into(),
        https: false,
        path: "/ready".into(),
        port_index: 0,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        ready_statuses: vec![200],
        preserve_last_response: true,
    }];
    r.h.advance(SEC);
    r.h.put(spec);
    // One extra instance (minHealthy == maxCapacity); it runs but is not ready: nothing is killed.
    let infos = r.h.launch(offer("o-new", "agent-1", BIG));
    assert_eq!(infos.len(), 1);
    let new_task = infos[0].task_id.clone();
    let commands = r.h.update(&new_task, TaskState::Running);
    assert!(kills(&commands).is_empty(), "an unready instance does not replace an old one: {commands:#?}");
    let probe = commands
        .iter()
        .find_map(|c| match c {
            Command::ReadinessProbe { instance_id, task_id, check, path, .. } => {
                Some((instance_id.clone(), task_id.clone(), *check, path.clone()))
            }
            _ => None,
        })
        .expect("a readiness probe");
    assert_eq!(probe.3, "/ready");
    let answer = |status: u16| Event::ReadinessResult {
        instance_id: probe.0.clone(),
        task_id: probe.1.clone(),
        check: probe.2,
        response: Some(ReadinessResponse { status, content_type: "text/plain".into(), body: "not yet".into() }),
    };
    assert!(kills(&r.h.run(answer(503))).is_empty());
    assert!(!r.h.core.is_converged(&r.app));
    assert_eq!(r.h.core.readiness_results(&probe.0)[0].last_response.as_ref().map(|l| l.status), Some(503));
    // Ready: the next old instance goes.
    r.h.advance(Duration::from_secs(1));
    assert_eq!(kills(&r.h.run(answer(200))).len(), 1);
}

/// Issue 13, item 4: Mesos-run checks report health in TASK_RUNNING updates of their own. A new
/// instance that runs but has not reported healthy yet holds the next kill back; its healthy
/// update lets the upgrade go on, up to the end (it used to stop at 4 old and 2 new instances,
/// all healthy, with nothing left to trigger the next step).
#[test]
fn mesos_health_updates_gate_and_advance_an_upgrade() {
    for batched in [false, true] {
        let mut r = Rollout::start_mesos_checked(5, 0.8, 0.2);
        r.batched = batched;
        r.change_config();
        r.run_to_end();
        assert!(r.min_healthy >= 4, "batched {batched}: healthy fell to {}", r.min_healthy);
        assert!(r.max_active <= 6, "batched {batched}: active peaked at {}", r.max_active);
        let config = r.h.core.app(&r.app).expect("app").version_info.last_config_change_at;
        let running = r.h.running("/web");
        assert_eq!(running.len(), 5);
        assert!(running.iter().all(|i| i.run_spec_version == config && r.h.core.is_considered_healthy(i)));
    }
}

#[test]
fn a_new_instance_not_yet_reported_healthy_holds_the_next_kill_back() {
    let mut r = Rollout::start_mesos_checked(2, 1.0, 0.0);
    let mut spec = r.h.core.app(&r.app).cloned().expect("app");
    spec.version = r.h.now.wall.saturating_add(SEC);
    spec.command = CommandSpec::Shell("sleep 2000".into());
    r.h.advance(SEC);
    r.h.put(spec);
    let infos = r.h.launch(offer("o-new", "agent-1", BIG));
    assert_eq!(infos.len(), 1, "one extra instance (minHealthy == maxCapacity)");
    let task = infos[0].task_id.clone();
    assert!(kills(&r.h.update(&task, TaskState::Running)).is_empty(), "running is not healthy yet");
    assert!(kills(&r.h.health_update(&task, false)).is_empty(), "unhealthy holds the kill back");
    assert_eq!(kills(&r.h.health_update(&task, true)).len(), 1, "healthy: the next old instance goes");
}

/// Found by the simulation (crates/sim): replacements scheduled for unreachable instances
/// take the new version when an upgrade starts (here while the scheduler is disconnected, so
/// the upgrade's kills wait for the reconciliation); when the old instances come back, all of
/// them are active again, and the replacements must not launch beyond maxCapacity.
#[test]
fn instances_waiting_when_an_upgrade_starts_launch_only_within_max_capacity() {
    let mut spec = app("/web", 2);
    spec.unreachable_strategy =
        UnreachableStrategy::Enabled { inactive_after: Duration::ZERO, expunge_after: 600 * SEC };
    // minHealthy 1, maxCapacity 3.
    spec.upgrade_strategy = UpgradeStrategy { minimum_health_capacity: 0.5, maximum_over_capacity: 0.5 };
    let mut h = Harness::with_app(spec);
    let old = h.launch_running("o-setup");
    assert_eq!(old.len(), 2);
    for task in &old {
        let mut status = TaskStatus::new(task.clone(), TaskState::Unreachable);
        status.agent_id = Some(AgentId::new("agent-1"));
        status.reason = Some(Reason::AgentRemoved);
        h.run(Event::StatusUpdate(status));
    }
    assert_eq!(h.instances("/web").len(), 4, "two inactive, two replacements waiting");
    // The upgrade starts while the scheduler is disconnected: the waiting replacements are
    // instances of the new version now.
    h.run(Event::Disconnected);
    let mut v2 = h.core.app(&AppId::new("/web")).cloned().expect("app");
    h.advance(SEC);
    v2.version = h.now.wall;
    v2.command = CommandSpec::Shell("sleep 2000".into());
    h.put(v2);
    // Subscribed again, the master says the old instances run: four are active or waiting.
    h.subscribe();
    for task in &old {
        let mut status = TaskStatus::new(task.clone(), TaskState::Running);
        status.agent_id = Some(AgentId::new("agent-1"));
        status.reason = Some(Reason::Reconciliation);
        h.run(Event::StatusUpdate(status));
    }
    assert!(h.core.is_reconciled());
    let launched = h.launch(offer("o-new", "agent-2", BIG));
    let with_task = h.instances("/web").iter().filter(|i| i.task.is_some() && !i.condition.is_terminal()).count();
    assert!(with_task <= 3, "{} launched: {with_task} instances with a task, maxCapacity 3", launched.len());
}
