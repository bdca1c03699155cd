use super::*;
use crate::paths::Layout;

mod docker;
mod gc;
mod groups;
mod limits;
mod recovery;

use mesos_api::messages::{Capability, DurationInfo, Environment, EnvironmentVariable, ExecutorInfo};
use recovery::{recovered, status_record};

const SECS: Duration = Duration::from_secs(1);

fn at(secs: f64) -> Now {
    Now { mono: Duration::from_secs_f64(secs), wall: 1_700_000_000.0 + secs }
}

fn config() -> CoreConfig {
    CoreConfig {
        master: Some("127.0.0.1:5050".into()),
        agent_info: AgentInfo {
            hostname: "host1".into(),
            port: 5051,
            resources: ResourceSet::parse_text("cpus:4;mem:4096;disk:1000;ports:[31000-32000]")
                .map(|r| r.to_wire())
                .unwrap_or_default(),
            attributes: vec![],
            id: None,
            domain: None,
        },
        endpoint: "127.0.0.1:5051".into(),
        ip: "127.0.0.1".into(),
        layout: Layout::new("/work"),
        default_kill_grace: 3 * SECS,
        executor_shutdown_grace: 5 * SECS,
        update_retry_min: 10 * SECS,
        update_retry_max: 600 * SECS,
        registration_backoff_factor: Duration::from_millis(100),
        registration_backoff_max: 5 * SECS,
        cgroups: true,
        seed: 7,
        gc_delay: 7 * 86400 * SECS,
        gc_disk_headroom: 0.1,
        disk_watch_interval: 60 * SECS,
        containerizers: vec![ContainerizerKind::Mesos, ContainerizerKind::Docker],
        docker_stop_timeout: Duration::ZERO,
        limits: LimitsConfig::default(),
        switch_user: false,
        agent_user: None,
    }
}

fn framework(id: &str, checkpoint: bool, caps: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: format!("fw-{id}"),
        id: Some(FrameworkId::new(id)),
        failover_timeout: 0.0,
        checkpoint,
        role: "*".into(),
        roles: vec![],
        hostname: None,
        principal: None,
        webui_url: None,
        capabilities: caps.iter().map(|c| Capability { kind: c.to_string() }).collect(),
        labels: None,
        offer_filters: None,
    }
}

fn task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id),
        agent_id: AgentId::new("A1"),
        resources: ResourceSet::parse_text("cpus:0.5;mem:64").map(|r| r.to_wire()).unwrap_or_default(),
        executor: None,
        command: Some(CommandInfo {
            uris: vec![],
            environment: None,
            shell: true,
            value: Some(command.into()),
            arguments: vec![],
            user: None,
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
        limits: None,
    }
}

fn registered_event(agent: &str) -> AgentEvent {
    AgentEvent::Registered {
        registered: Box::new(Registered {
            agent_id: AgentId::new(agent),
            master_info: MasterInfo {
                id: "m".into(),
                ip: 16777343,
                port: 5050,
                pid: "master@127.0.0.1:5050".into(),
                hostname: "m".into(),
                version: "1.11.0".into(),
                address: Default::default(),
                capabilities: vec![],
            },
            ping_interval_seconds: 1.0,
            kill_tasks: vec![],
        }),
    }
}

/// Test driver around the core.
struct Harness {
    core: AgentCore,
    conn: u64,
    now: f64,
}

impl Harness {
    fn new() -> Self {
        Self::with(config(), Recovery::default())
    }

    fn with(cfg: CoreConfig, recovery: Recovery) -> Self {
        let mut core = AgentCore::new(cfg);
        let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
        let conn = connects(&out).first().map(|(c, _)| *c).expect("start connects");
        Self { core, conn, now: 0.0 }
    }

    fn ev(&mut self, e: Event) -> Vec<Command> {
        self.core.handle(at(self.now), e)
    }

    fn master(&mut self, e: AgentEvent) -> Vec<Command> {
        let conn = self.conn;
        self.ev(Event::Master { conn, event: Box::new(e) })
    }

    fn register(&mut self, agent: &str) -> Vec<Command> {
        let conn = self.conn;
        self.ev(Event::LinkOpened { conn, stream_id: format!("stream-{conn}") });
        self.master(registered_event(agent))
    }

    fn advance(&mut self, secs: f64) -> Vec<Command> {
        self.now += secs;
        self.ev(Event::Tick)
    }

    fn run(&mut self, fw: FrameworkInfo, t: TaskInfo) -> Vec<Command> {
        self.master(AgentEvent::RunTask { framework: Box::new(fw), task: Box::new(t) })
    }

    fn ack(&mut self, fw: &str, task: &str, uuid: &str) -> Vec<Command> {
        self.master(AgentEvent::Acknowledge {
            framework_id: FrameworkId::new(fw),
            task_id: TaskId::new(task),
            uuid: uuid.into(),
        })
    }

    fn kill(&mut self, fw: &str, task: &str, grace: Option<f64>) -> Vec<Command> {
        self.master(AgentEvent::KillTask {
            framework_id: FrameworkId::new(fw),
            task_id: TaskId::new(task),
            kill_policy: grace.map(|g| KillPolicy { grace_period: Some(DurationInfo::from_secs_f64(g)) }),
        })
    }

    /// Runs a task up to its process being started; returns the container id and the
    /// STARTING update's uuid.
    fn launch(&mut self, fw: FrameworkInfo, t: TaskInfo) -> (String, String) {
        let out = self.run(fw, t);
        let spec = prepares(&out).pop().expect("prepare");
        let out = self.ev(Event::Prepared { container_id: spec.container_id.clone(), result: Ok(()) });
        assert_eq!(spawns(&out).len(), 1);
        let starting = sent(&out).pop().expect("STARTING sent");
        assert_eq!(starting.1, TaskState::Starting);
        let out = self.ev(Event::Spawned { container_id: spec.container_id.clone(), result: Ok(Started::pid(4242)) });
        assert!(sent(&out).is_empty(), "RUNNING waits for the ack of STARTING");
        (spec.container_id, starting.2)
    }
}

fn connects(out: &[Command]) -> Vec<(u64, Register)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Connect { conn, register, .. } => Some((*conn, (**register).clone())),
            _ => None,
        })
        .collect()
}

fn prepares(out: &[Command]) -> Vec<LaunchSpec> {
    out.iter()
        .filter_map(|c| match c {
            Command::Prepare(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

fn spawns(out: &[Command]) -> Vec<LaunchSpec> {
    out.iter()
        .filter_map(|c| match c {
            Command::Spawn(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

/// (task id, state, uuid, status) of every status update sent.
fn sent(out: &[Command]) -> Vec<(String, TaskState, String, StatusUpdate)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Send { call, .. } => match &**call {
                AgentCall::StatusUpdate { status_update } => Some((
                    status_update.status.task_id.value.clone(),
                    status_update.status.state,
                    status_update.status.uuid.clone().unwrap_or_default(),
                    status_update.clone(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn signals(out: &[Command]) -> Vec<KillSignal> {
    out.iter()
        .filter_map(|c| match c {
            Command::Signal { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect()
}

fn destroys(out: &[Command]) -> Vec<String> {
    out.iter()
        .filter_map(|c| match c {
            Command::Destroy { container_id } => Some(container_id.clone()),
            _ => None,
        })
        .collect()
}

fn checkpoints(out: &[Command]) -> Vec<Checkpoint> {
    out.iter()
        .filter_map(|c| match c {
            Command::Checkpoint(cp) => Some(cp.clone()),
            _ => None,
        })
        .collect()
}

fn exit(code: i32) -> Event {
    Event::Exited { container_id: String::new(), exit: ExitInfo { termination: Termination::Exited(code), oom: None } }
}

fn exited(cid: &str, termination: Termination) -> Event {
    Event::Exited { container_id: cid.to_string(), exit: ExitInfo { termination, oom: None } }
}

#[test]
fn registers_fresh_then_checkpoints_the_agent_id() {
    let mut h = Harness::new();
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::default()));
    let (_, reg) = connects(&out).pop().expect("connect");
    assert_eq!(reg.agent_id, None);
    assert!(reg.tasks.is_empty());
    assert_eq!(reg.endpoint, "127.0.0.1:5051");
    assert_eq!(reg.agent_info.hostname, "host1");

    let out = h.register("A1");
    assert!(h.core.is_registered());
    assert_eq!(h.core.agent_id().map(AgentId::as_str), Some("A1"));
    assert!(matches!(checkpoints(&out).as_slice(), [Checkpoint::Agent { agent_id, .. }] if agent_id.as_str() == "A1"));
    assert_eq!(h.core.next_wakeup(), None);
}

#[test]
fn command_task_happy_path_sends_starting_running_finished_in_order() {
    let mut h = Harness::new();
    h.register("A1");
    let (cid, starting) = h.launch(framework("F", false, &[]), task("t1", "echo hello; sleep 1"));

    let out = h.ack("F", "t1", &starting);
    let running = sent(&out);
    assert_eq!(running.len(), 1);
    let (_, state, running_uuid, update) = &running[0];
    assert_eq!(*state, TaskState::Running);
    let st = &update.status;
    assert_eq!(st.source, Some(Source::Executor));
    assert_eq!(st.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
    assert_eq!(st.executor_id.as_ref().map(ExecutorId::as_str), Some("t1"));
    assert!(st.timestamp.is_some());
    assert!(mesos_api::validate_status_uuid(running_uuid).is_ok());
    let cs = st.container_status.as_ref().expect("container status");
    assert_eq!(cs["container_id"]["value"], cid.as_str());
    assert_eq!(cs["network_infos"][0]["ip_addresses"][0]["ip_address"], "127.0.0.1");
    assert_eq!(update.latest_state, TaskState::Running);

    // The process ends before RUNNING is acknowledged: FINISHED waits, latest_state moves on.
    h.now = 2.0;
    let out = h.ev(Event::Exited {
        container_id: cid.clone(),
        exit: ExitInfo { termination: Termination::Exited(0), oom: None },
    });
    assert!(sent(&out).is_empty());
    assert_eq!(destroys(&out), vec![cid.clone()]);
    let snap = h.core.snapshot();
    assert_eq!(snap.tasks[0].task.state, TaskState::Finished);
    assert_eq!(snap.tasks[0].pending_updates, 2);

    let out = h.ack("F", "t1", running_uuid);
    let fin = sent(&out);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].1, TaskState::Finished);
    assert_eq!(fin[0].3.status.message.as_deref(), Some("Command exited with status 0"));

    // Completed: its sandbox and executor directory are scheduled for removal, nothing else.
    let out = h.ack("F", "t1", &fin[0].2);
    let sandbox = PathBuf::from("/work/slaves/A1/frameworks/F/executors/t1/runs").join(&cid);
    let executor = PathBuf::from("/work/slaves/A1/frameworks/F/executors/t1");
    assert_eq!(out, vec![Command::StampForGc(vec![sandbox, executor]), Command::CheckDiskUsage]);
    let snap = h.core.snapshot();
    assert!(snap.tasks.is_empty());
    assert_eq!(snap.completed_tasks.len(), 1);
    assert_eq!(snap.completed_tasks[0].task.statuses.len(), 3);
    assert_eq!(snap.terminal_counts.get("TASK_FINISHED"), Some(&1));
    assert_eq!(snap.valid_status_updates, 3);
}

#[test]
fn uuids_are_fresh_and_unique() {
    let mut h = Harness::new();
    h.register("A1");
    let (_, a) = h.launch(framework("F", false, &[]), task("t1", "x"));
    let (_, b) = h.launch(framework("F", false, &[]), task("t2", "x"));
    assert_ne!(a, b);
    assert!(mesos_api::validate_status_uuid(&a).is_ok());
}

#[test]
fn wrong_and_duplicate_acks_are_harmless() {
    let mut h = Harness::new();
    h.register("A1");
    let (_, starting) = h.launch(framework("F", false, &[]), task("t1", "x"));
    let bogus = mesos_api::new_status_uuid();
    let out = h.ack("F", "t1", &bogus);
    assert!(sent(&out).is_empty());
    assert_eq!(h.core.snapshot().tasks[0].pending_updates, 2);
    assert_eq!(h.core.snapshot().invalid_status_updates, 1);
    let out = h.ack("F", "t1", &starting);
    assert_eq!(sent(&out).len(), 1);
    let out = h.ack("F", "t1", &starting);
    assert!(sent(&out).is_empty());
    assert_eq!(h.core.snapshot().tasks[0].pending_updates, 1);
    // Unknown task.
    assert!(h.ack("F", "nope", &starting).is_empty());
}

#[test]
fn unacknowledged_head_is_retried_with_doubling_interval_and_same_uuid() {
    let mut h = Harness::new();
    h.register("A1");
    let (_, starting) = h.launch(framework("F", false, &[]), task("t1", "x"));
    assert_eq!(h.core.next_wakeup(), Some(10 * SECS));
    assert!(sent(&h.advance(9.9)).is_empty());
    let mut times = vec![];
    let mut t = 0.0;
    for _ in 0..9 {
        let wake = h.core.next_wakeup().expect("retry timer").as_secs_f64();
        h.now = wake;
        let out = h.ev(Event::Tick);
        let s = sent(&out);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, TaskState::Starting);
        assert_eq!(s[0].2, starting, "a retry carries the same uuid");
        times.push((wake - t).round() as u64);
        t = wake;
    }
    assert_eq!(times, vec![10, 20, 40, 80, 160, 320, 600, 600, 600]);
    // The ack stops the retries of STARTING and sends RUNNING with a fresh timer.
    let out = h.ack("F", "t1", &starting);
    assert_eq!(sent(&out)[0].1, TaskState::Running);
    assert_eq!(h.core.next_wakeup(), Some(Duration::from_secs_f64(h.now) + 10 * SECS));
}

#[test]
fn reconnects_with_backoff_and_resends_heads_after_reregistration() {
    let mut h = Harness::new();
    h.register("A1");
    let (_, starting) = h.launch(framework("F", true, &[]), task("t1", "x"));
    h.now = 1.0;
    let conn = h.conn;
    let out = h.ev(Event::LinkClosed { conn, reason: "eof".into() });
    assert!(out.is_empty());
    assert!(!h.core.is_registered());
    let wake = h.core.next_wakeup().expect("reconnect timer");
    assert!(wake >= SECS && wake <= SECS + Duration::from_millis(100), "{wake:?}");
    // No update retries while disconnected.
    h.now = wake.as_secs_f64();
    let out = h.ev(Event::Tick);
    let (conn2, reg) = connects(&out).pop().expect("reconnect");
    assert!(conn2 > conn);
    assert_eq!(reg.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
    assert_eq!(reg.agent_info.id.as_ref().map(AgentId::as_str), Some("A1"));
    assert_eq!(reg.tasks.len(), 1);
    assert_eq!(reg.tasks[0].task.state, TaskState::Running);
    assert_eq!(reg.tasks[0].task.status_update_state, Some(TaskState::Starting));
    assert_eq!(reg.tasks[0].task.status_update_uuid.as_deref(), Some(starting.as_str()));
    assert_eq!(reg.tasks[0].framework.name, "fw-F");
    // A failing connection backs off further (doubling, capped, jittered).
    let mut caps = vec![];
    let mut conn = conn2;
    for _ in 0..8 {
        let out = h.ev(Event::LinkClosed { conn, reason: "refused".into() });
        assert!(out.is_empty());
        let wake = h.core.next_wakeup().expect("timer");
        caps.push(wake.saturating_sub(Duration::from_secs_f64(h.now)));
        h.now = wake.as_secs_f64();
        let out = h.ev(Event::Tick);
        conn = connects(&out).pop().expect("connect").0;
    }
    let limits = [200u64, 400, 800, 1600, 3200, 5000, 5000, 5000];
    for (d, cap) in caps.iter().zip(limits) {
        assert!(d.as_millis() as u64 <= cap, "{caps:?}");
    }
    // Events of stale connections are ignored.
    let out = h.core.handle(at(h.now), Event::Master { conn: conn2, event: Box::new(registered_event("A1")) });
    assert!(out.is_empty());
    h.conn = conn;
    let out = h.register("A1");
    let s = sent(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].2, starting);
    assert!(checkpoints(&out).is_empty(), "same id: nothing new to checkpoint");
}

/// The masters of `out`'s connections.
fn connected_to(out: &[Command]) -> Vec<String> {
    out.iter()
        .filter_map(|c| match c {
            Command::Connect { master, .. } => Some(master.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_leading_master_is_registered_with_at_once_with_every_task() {
    let mut h = Harness::new();
    h.register("A1");
    let (_, starting) = h.launch(framework("F", true, &[]), task("t1", "x"));
    // The connection to the old leader may still look fine: it is left for the new one.
    h.now = 1.0;
    let old = h.conn;
    let out = h.ev(Event::MasterDetected { master: Some("10.0.0.2:5050".into()) });
    assert!(out.contains(&Command::Disconnect { conn: old }), "{out:?}");
    assert_eq!(connected_to(&out), ["10.0.0.2:5050"]);
    let (conn, reg) = connects(&out).pop().expect("registers at once");
    assert_eq!(reg.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
    assert_eq!(reg.tasks.len(), 1);
    assert_eq!(reg.tasks[0].task.task_id.as_str(), "t1");
    assert!(!h.core.is_registered());
    // The same leader again changes nothing; the old stream's events are ignored.
    assert!(h.ev(Event::MasterDetected { master: Some("10.0.0.2:5050".into()) }).is_empty());
    assert!(h.core.handle(at(1.0), Event::Master { conn: old, event: Box::new(AgentEvent::Ping) }).is_empty());
    // Registered with the new leader, the unacknowledged update goes there.
    h.conn = conn;
    let s = sent(&h.register("A1"));
    assert_eq!((s.len(), s[0].2.as_str()), (1, starting.as_str()));
    // A connection that fails is retried with the new leader's address.
    let out = h.ev(Event::LinkClosed { conn, reason: "refused".into() });
    assert!(out.is_empty());
    h.now = h.core.next_wakeup().expect("retry").as_secs_f64();
    assert_eq!(connected_to(&h.ev(Event::Tick)), ["10.0.0.2:5050"]);
}

#[test]
fn without_a_leading_master_the_agent_waits_for_one() {
    let mut core = AgentCore::new(CoreConfig { master: None, ..config() });
    let out = core.handle(at(0.0), Event::Start(Box::default()));
    assert!(connects(&out).is_empty(), "nobody to register with");
    assert_eq!(core.next_wakeup(), None, "no retry timer either");
    let out = core.handle(at(1.0), Event::MasterDetected { master: Some("m1:5050".into()) });
    assert_eq!(connected_to(&out), ["m1:5050"]);
    let (conn, _) = connects(&out).pop().expect("connect");
    core.handle(at(1.0), Event::LinkOpened { conn, stream_id: "s".into() });
    core.handle(at(1.0), Event::Master { conn, event: Box::new(registered_event("A1")) });
    assert!(core.is_registered());
    // The leader is gone and no other is elected: leave it, and wait.
    let out = core.handle(at(2.0), Event::MasterDetected { master: None });
    assert_eq!(out, vec![Command::Disconnect { conn }]);
    assert!(!core.is_registered());
    assert_eq!(core.next_wakeup(), None);
    let out = core.handle(at(3.0), Event::MasterDetected { master: Some("m2:5050".into()) });
    assert_eq!(connected_to(&out), ["m2:5050"]);
}

#[test]
fn events_before_registered_are_ignored() {
    let mut h = Harness::new();
    let conn = h.conn;
    h.ev(Event::LinkOpened { conn, stream_id: "s".into() });
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    assert!(out.is_empty());
}

#[test]
fn checkpointing_framework_writes_intent_before_acting() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", true, &[]), task("t1", "x"));
    let kinds: Vec<&str> = out
        .iter()
        .map(|c| match c {
            Command::Checkpoint(Checkpoint::Framework { .. }) => "framework",
            Command::Checkpoint(Checkpoint::Task { .. }) => "task",
            Command::Prepare(_) => "prepare",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["framework", "task", "prepare"]);
    let cid = prepares(&out)[0].container_id.clone();
    let out = h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    let pos_record = out
        .iter()
        .position(|c| matches!(c, Command::Checkpoint(Checkpoint::Record { record, .. }) if matches!(**record, UpdateRecord::Update(_))))
        .expect("record");
    let pos_send = out.iter().position(|c| matches!(c, Command::Send { .. })).expect("send");
    assert!(pos_record < pos_send, "an update is checkpointed before it is sent");
    let uuid = sent(&out)[0].2.clone();
    let out = h.ack("F", "t1", &uuid);
    assert!(
        matches!(checkpoints(&out).as_slice(), [Checkpoint::Record { record, .. }, ..] if **record == UpdateRecord::Ack(uuid.clone()))
    );
    // Same framework info again: not re-checkpointed.
    let out = h.run(framework("F", true, &[]), task("t2", "x"));
    assert!(!checkpoints(&out).iter().any(|c| matches!(c, Checkpoint::Framework { .. })));
    // Terminal and acknowledged: the run is removed.
    let out = h.ev(Event::Spawned { container_id: cid.clone(), result: Ok(Started::default()) });
    let running = sent(&out).pop().expect("RUNNING is the head now").2;
    let out = h.ev(exited(&cid, Termination::Exited(1)));
    assert!(sent(&out).is_empty());
    let out = h.ack("F", "t1", &running);
    let failed = sent(&out).pop().expect("failed");
    assert_eq!(failed.1, TaskState::Failed);
    let out = h.ack("F", "t1", &failed.2);
    let cps = checkpoints(&out);
    assert!(
        matches!(cps.last(), Some(Checkpoint::RemoveRun { run }) if run.task_id.as_str() == "t1" && run.container_id == cid)
    );
    let _ = exit(0);
}

#[test]
fn non_checkpointing_framework_writes_nothing() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    assert!(checkpoints(&out).is_empty());
    let cid = prepares(&out)[0].container_id.clone();
    let out = h.ev(Event::Prepared { container_id: cid, result: Ok(()) });
    assert!(checkpoints(&out).is_empty());
}

#[test]
fn launch_spec_environment_and_limits() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = task("t1", "echo $FOO");
    if let Some(c) = &mut t.command {
        c.environment = Some(Environment {
            variables: vec![
                EnvironmentVariable { name: "FOO".into(), kind: None, value: Some("bar".into()), secret: None },
                EnvironmentVariable {
                    name: "SECRET_ONE".into(),
                    kind: Some("SECRET".into()),
                    value: None,
                    secret: Some(serde_json::json!({})),
                },
                EnvironmentVariable {
                    name: "MESOS_TASK_ID".into(),
                    kind: Some("VALUE".into()),
                    value: Some("override".into()),
                    secret: None,
                },
            ],
        });
    }
    let out = h.run(framework("F", true, &[]), t);
    let spec = prepares(&out).pop().expect("prepare");
    let env: BTreeMap<String, String> = spec.env.iter().cloned().collect();
    assert_eq!(env["MESOS_FRAMEWORK_ID"], "F");
    assert_eq!(env["MESOS_EXECUTOR_ID"], "t1");
    assert_eq!(env["MESOS_SLAVE_ID"], "A1");
    assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@127.0.0.1:5051");
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5051");
    assert_eq!(env["MESOS_CHECKPOINT"], "1");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["MESOS_ALLOCATION_ROLE"], "*");
    assert_eq!(env["MESOS_DIRECTORY"], spec.sandbox.display().to_string());
    assert_eq!(env["MESOS_SANDBOX"], env["MESOS_DIRECTORY"]);
    assert_eq!(env["FOO"], "bar");
    assert!(!env.contains_key("SECRET_ONE"));
    // CommandInfo.environment comes last, so it wins when the shell applies it in order.
    assert_eq!(spec.env.iter().rev().find(|(k, _)| k == "MESOS_TASK_ID").map(|(_, v)| v.as_str()), Some("override"));
    assert_eq!(spec.command, CommandLine::Shell("echo $FOO".into()));
    let limits = spec.limits.expect("limits");
    assert_eq!((limits.cpu_shares(), limits.mem_limit_bytes()), (512, 64 * 1024 * 1024));
    assert!(spec.sandbox.starts_with("/work/slaves/A1/frameworks/F/executors/t1/runs/"));
    assert!(spec.sandbox.ends_with(&spec.container_id));

    let mut t = task("t2", "/bin/echo");
    if let Some(c) = &mut t.command {
        c.shell = false;
        c.arguments = vec!["echo".into(), "a".into()];
    }
    let out = h.run(framework("F", true, &[]), t);
    let spec = prepares(&out).pop().expect("prepare");
    assert_eq!(
        spec.command,
        CommandLine::Exec { value: "/bin/echo".into(), arguments: vec!["echo".into(), "a".into()] }
    );

    let mut cfg = config();
    cfg.cgroups = false;
    let mut h = Harness::with(cfg, Recovery::default());
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    assert_eq!(prepares(&out)[0].limits, None);
}

#[test]
fn cgroup_limits_follow_mesos() {
    let r = |t: &str| {
        let l = cgroup_limits(&ResourceSet::parse_text(t).expect("parse"));
        (l.cpu_shares(), l.mem_limit_bytes())
    };
    assert_eq!(r("cpus:1;mem:128"), (1024, 128 << 20));
    assert_eq!(r("cpus:0.001;mem:1"), (2, 32 << 20));
    assert_eq!(r("disk:1"), (2, 32 << 20));
}

#[test]
fn custom_executor_and_commandless_tasks_fail_at_launch() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = task("t1", "x");
    t.command = None;
    t.executor = Some(ExecutorInfo {
        executor_id: ExecutorId::new("e"),
        framework_id: None,
        kind: None,
        command: None,
        container: None,
        resources: vec![],
        name: None,
        source: None,
        data: None,
        shutdown_grace_period: None,
        labels: None,
        discovery: None,
    });
    let out = h.run(framework("F", false, &[]), t);
    assert!(prepares(&out).is_empty());
    let s = sent(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, TaskState::Failed);
    assert_eq!(s[0].3.status.reason, Some(Reason::ContainerLaunchFailed));
    assert_eq!(s[0].3.status.source, Some(Source::Agent));
    assert_eq!(s[0].3.status.message.as_deref(), Some("custom executors are not supported by this agent yet"));
    let uuid = s[0].2.clone();
    h.ack("F", "t1", &uuid);
    assert!(h.core.snapshot().tasks.is_empty());
    assert_eq!(h.core.snapshot().completed_tasks.len(), 1);
}

#[test]
fn fetch_failure_fails_the_task() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    let cid = prepares(&out)[0].container_id.clone();
    let out =
        h.ev(Event::Prepared { container_id: cid.clone(), result: Err("Failed to fetch 'http://x/y': 404".into()) });
    assert!(spawns(&out).is_empty());
    assert_eq!(destroys(&out), vec![cid]);
    let s = sent(&out);
    assert_eq!(s[0].1, TaskState::Failed);
    assert_eq!(s[0].3.status.reason, Some(Reason::ContainerLaunchFailed));
    assert!(s[0].3.status.message.as_deref().unwrap_or("").contains("404"));
}

#[test]
fn spawn_failure_fails_the_task() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    let cid = prepares(&out)[0].container_id.clone();
    let out = h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    let starting = sent(&out)[0].2.clone();
    let out = h.ev(Event::Spawned { container_id: cid.clone(), result: Err("cgroup: EPERM".into()) });
    assert_eq!(destroys(&out), vec![cid]);
    let out = h.ack("F", "t1", &starting);
    let s = sent(&out);
    assert_eq!(s[0].1, TaskState::Failed);
    assert_eq!(s[0].3.status.reason, Some(Reason::ContainerLaunchFailed));
}

#[test]
fn exit_messages() {
    assert_eq!(termination_message(Termination::Exited(3)), "Command exited with status 3");
    assert_eq!(termination_message(Termination::Signaled(9)), "Command terminated with signal Killed");
    assert_eq!(termination_message(Termination::Signaled(15)), "Command terminated with signal Terminated");
    assert_eq!(signal_description(40), "Real-time signal 6");
    assert_eq!(signal_description(99), "Unknown signal 99");
}

#[test]
fn failed_exit_and_signal_give_task_failed() {
    let mut h = Harness::new();
    h.register("A1");
    for (i, (term, message)) in [
        (Termination::Exited(3), "Command exited with status 3"),
        (Termination::Signaled(11), "Command terminated with signal Segmentation fault"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("t{i}");
        let (cid, starting) = h.launch(framework("F", false, &[]), task(&id, "x"));
        let running = sent(&h.ack("F", &id, &starting)).pop().expect("running").2;
        h.ev(exited(&cid, term));
        let s = sent(&h.ack("F", &id, &running)).pop().expect("failed");
        assert_eq!(s.1, TaskState::Failed);
        assert_eq!(s.3.status.message.as_deref(), Some(message));
        assert_eq!(s.3.status.source, Some(Source::Executor));
        assert_eq!(s.3.status.reason, None);
    }
}

#[test]
fn oom_gives_memory_limitation() {
    let mut h = Harness::new();
    h.register("A1");
    let (cid, starting) = h.launch(framework("F", false, &[]), task("t1", "x"));
    let running = sent(&h.ack("F", "t1", &starting)).pop().expect("running").2;
    h.ev(Event::Exited {
        container_id: cid,
        exit: ExitInfo {
            termination: Termination::Signaled(9),
            oom: Some(OomInfo { limit_bytes: 64 << 20, max_usage_bytes: 64 << 20 }),
        },
    });
    let s = sent(&h.ack("F", "t1", &running)).pop().expect("failed");
    assert_eq!(s.1, TaskState::Failed);
    assert_eq!(s.3.status.reason, Some(Reason::ContainerLimitationMemory));
    assert_eq!(s.3.status.source, Some(Source::Agent));
    assert!(s.3.status.message.as_deref().unwrap_or("").starts_with("Memory limit exceeded: Requested: 64MB"));
    assert!(s.3.status.limitation.is_some());
}

#[test]
fn kill_terms_then_kills_after_grace_and_reports_killed() {
    let mut h = Harness::new();
    h.register("A1");
    let (cid, starting) = h.launch(framework("F", false, &["TASK_KILLING_STATE"]), task("t1", "sleep 100"));
    let running = sent(&h.ack("F", "t1", &starting)).pop().expect("running").2;
    h.now = 5.0;
    let out = h.kill("F", "t1", None);
    assert_eq!(signals(&out), vec![KillSignal::Term]);
    let killing = sent(&h.ack("F", "t1", &running)).pop().expect("killing");
    assert_eq!(killing.1, TaskState::Killing);
    // Default grace is 3 s.
    assert!(signals(&h.advance(2.9)).is_empty());
    assert_eq!(signals(&h.advance(0.1)), vec![KillSignal::Kill]);
    assert!(signals(&h.advance(10.0)).is_empty());
    h.ev(exited(&cid, Termination::Signaled(9)));
    let s = sent(&h.ack("F", "t1", &killing.2)).pop().expect("killed");
    assert_eq!(s.1, TaskState::Killed);
    assert_eq!(s.3.status.message.as_deref(), Some("Command terminated with signal Killed"));
}

#[test]
fn no_killing_state_without_the_capability_and_exit_within_grace() {
    let mut h = Harness::new();
    h.register("A1");
    let (cid, starting) = h.launch(framework("F", false, &[]), task("t1", "sleep 100"));
    let running = sent(&h.ack("F", "t1", &starting)).pop().expect("running").2;
    let out = h.kill("F", "t1", None);
    assert!(sent(&out).is_empty());
    h.now = 0.5;
    let out = h.ev(exited(&cid, Termination::Signaled(15)));
    assert!(signals(&out).is_empty());
    let s = sent(&h.ack("F", "t1", &running)).pop().expect("killed");
    assert_eq!(s.1, TaskState::Killed);
    assert_eq!(h.core.next_wakeup().map(|d| d > Duration::from_secs(5)), Some(true), "only the update retry remains");
}

#[test]
fn kill_grace_comes_from_event_then_task_then_default_and_can_only_shorten() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = task("t1", "sleep 100");
    t.kill_policy = Some(KillPolicy { grace_period: Some(DurationInfo::from_secs_f64(7.0)) });
    h.launch(framework("F", false, &[]), t.clone());
    h.kill("F", "t1", None);
    assert!(signals(&h.advance(6.9)).is_empty());
    assert_eq!(signals(&h.advance(0.1)), vec![KillSignal::Kill]);

    let mut t2 = t.clone();
    t2.task_id = TaskId::new("t2");
    h.launch(framework("F", false, &[]), t2);
    let base = h.now;
    h.kill("F", "t2", Some(20.0));
    // A second kill with a longer grace does not extend it...
    h.now = base + 1.0;
    h.kill("F", "t2", Some(60.0));
    // ...a shorter one shortens it.
    h.now = base + 2.0;
    let out = h.kill("F", "t2", Some(1.0));
    assert!(signals(&out).is_empty(), "the second kill does not signal again");
    assert!(signals(&h.advance(0.9)).is_empty());
    assert_eq!(signals(&h.advance(0.1)), vec![KillSignal::Kill]);

    let mut t3 = t;
    t3.task_id = TaskId::new("t3");
    h.launch(framework("F", false, &[]), t3);
    let out = h.kill("F", "t3", Some(0.0));
    assert_eq!(signals(&out), vec![KillSignal::Kill]);
}

#[test]
fn kill_of_unknown_or_finished_task_is_ignored() {
    let mut h = Harness::new();
    h.register("A1");
    assert!(h.kill("F", "nope", None).is_empty());
    let (cid, _) = h.launch(framework("F", false, &[]), task("t1", "x"));
    h.ev(exited(&cid, Termination::Exited(0)));
    let out = h.kill("F", "t1", None);
    assert!(signals(&out).is_empty());
    assert!(sent(&out).is_empty());
}

#[test]
fn kill_while_fetching_reports_killed_during_launch() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", false, &["TASK_KILLING_STATE"]), task("t1", "x"));
    let cid = prepares(&out)[0].container_id.clone();
    let out = h.kill("F", "t1", None);
    let s = sent(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, TaskState::Killed);
    assert_eq!(s[0].3.status.reason, Some(Reason::TaskKilledDuringLaunch));
    assert_eq!(s[0].3.status.source, Some(Source::Agent));
    let out = h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    assert!(spawns(&out).is_empty());
    assert_eq!(destroys(&out), vec![cid.clone()]);
    h.ack("F", "t1", &s[0].2);
    assert!(h.core.snapshot().tasks.is_empty());

    // Acknowledged before the fetch returns: the late Prepared still destroys the container.
    let out = h.run(framework("F", false, &[]), task("t2", "x"));
    let cid = prepares(&out)[0].container_id.clone();
    let killed = sent(&h.kill("F", "t2", None)).pop().expect("killed").2;
    h.ack("F", "t2", &killed);
    assert!(h.core.snapshot().tasks.is_empty());
    let out = h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    assert_eq!(destroys(&out), vec![cid]);
    assert!(spawns(&out).is_empty());
}

#[test]
fn kill_between_spawn_and_spawned_skips_running() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run(framework("F", false, &[]), task("t1", "x"));
    let cid = prepares(&out)[0].container_id.clone();
    let starting =
        sent(&h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) })).pop().expect("starting").2;
    let out = h.kill("F", "t1", None);
    assert_eq!(signals(&out), vec![KillSignal::Term]);
    h.ev(Event::Spawned { container_id: cid.clone(), result: Ok(Started::pid(1)) });
    h.ev(exited(&cid, Termination::Signaled(15)));
    let s = sent(&h.ack("F", "t1", &starting)).pop().expect("next");
    assert_eq!(s.1, TaskState::Killed);
}

#[test]
fn shutdown_framework_kills_only_its_tasks() {
    let mut h = Harness::new();
    h.register("A1");
    h.launch(framework("F", false, &[]), task("t1", "x"));
    h.launch(framework("F", false, &[]), task("t2", "x"));
    h.launch(framework("G", false, &[]), task("t3", "x"));
    let out = h.master(AgentEvent::ShutdownFramework { framework_id: FrameworkId::new("F") });
    assert_eq!(signals(&out), vec![KillSignal::Term, KillSignal::Term]);
    let snap = h.core.snapshot();
    assert_eq!(snap.completed_frameworks.len(), 1);
    assert_eq!(snap.frameworks.len(), 1);
    let out = h.master(AgentEvent::ShutdownExecutor {
        framework_id: FrameworkId::new("G"),
        executor_id: ExecutorId::new("t3"),
    });
    assert_eq!(signals(&out), vec![KillSignal::Term]);
}

#[test]
fn max_completion_time_fails_the_task() {
    let mut h = Harness::new();
    h.register("A1");
    let mut t = task("t1", "sleep 100");
    t.max_completion_time = Some(DurationInfo::from_secs_f64(2.0));
    let (cid, starting) = h.launch(framework("F", false, &[]), t);
    let running = sent(&h.ack("F", "t1", &starting)).pop().expect("running").2;
    assert!(signals(&h.advance(1.9)).is_empty());
    assert_eq!(signals(&h.advance(0.1)), vec![KillSignal::Kill]);
    h.ev(exited(&cid, Termination::Signaled(9)));
    let s = sent(&h.ack("F", "t1", &running)).pop().expect("failed");
    assert_eq!(s.1, TaskState::Failed);
    assert_eq!(s.3.status.reason, Some(Reason::MaxCompletionTimeReached));
}

#[test]
fn master_shutdown_kills_everything_and_registers_as_new_agent() {
    let mut h = Harness::new();
    h.register("A1");
    let (c1, _) = h.launch(framework("F", true, &[]), task("t1", "x"));
    let out = h.master(AgentEvent::Shutdown { message: "removed".into() });
    assert_eq!(destroys(&out), vec![c1.clone()]);
    assert!(out.iter().any(|c| matches!(c, Command::Disconnect { .. })));
    assert!(
        matches!(checkpoints(&out).as_slice(), [Checkpoint::ForgetAgent { agent_id }] if agent_id.as_str() == "A1")
    );
    assert!(sent(&out).is_empty());
    assert_eq!(h.core.agent_id(), None);
    let wake = h.core.next_wakeup().expect("reconnect");
    h.now = wake.as_secs_f64();
    let out = h.ev(Event::Tick);
    let (conn, reg) = connects(&out).pop().expect("connect");
    assert_eq!(reg.agent_id, None);
    assert!(reg.tasks.is_empty());
    h.conn = conn;
    let out = h.register("A2");
    assert!(matches!(checkpoints(&out).as_slice(), [Checkpoint::Agent { agent_id, .. }] if agent_id.as_str() == "A2"));
    // A late exit of the old task is only cleaned up.
    let out = h.ev(exited(&c1, Termination::Signaled(9)));
    assert_eq!(destroys(&out), vec![c1]);
    assert!(sent(&out).is_empty());
}

#[test]
fn registered_kill_tasks_are_killed() {
    let mut h = Harness::new();
    h.register("A1");
    h.launch(framework("F", false, &[]), task("t1", "x"));
    let conn = h.conn;
    h.ev(Event::LinkClosed { conn, reason: "x".into() });
    h.now = 10.0;
    let out = h.ev(Event::Tick);
    h.conn = connects(&out).pop().expect("connect").0;
    let conn = h.conn;
    h.ev(Event::LinkOpened { conn, stream_id: "s2".into() });
    let mut ev = registered_event("A1");
    if let AgentEvent::Registered { registered } = &mut ev {
        registered.kill_tasks = vec![TaskId::new("t1")];
    }
    let out = h.master(ev);
    assert_eq!(signals(&out), vec![KillSignal::Term]);
}

#[test]
fn graceful_shutdown_keeps_checkpointed_tasks() {
    let mut h = Harness::new();
    h.register("A1");
    let (c1, _) = h.launch(framework("F", true, &[]), task("t1", "x"));
    let (c2, _) = h.launch(framework("G", false, &[]), task("t2", "x"));
    let out = h.ev(Event::Shutdown);
    assert_eq!(destroys(&out), vec![c2]);
    assert!(out.iter().any(|c| matches!(c, Command::Disconnect { .. })));
    assert!(h.core.is_stopped());
    assert_eq!(h.core.next_wakeup(), None, "no reconnect, no retries");
    assert!(connects(&h.advance(100.0)).is_empty());
    let _ = c1;
}

#[test]
fn executor_names_look_like_mesos() {
    assert_eq!(
        executor_name(&task("web.1", "python3 -m http.server")),
        "Command Executor (Task: web.1) (Command: sh -c 'python3 -m h...')"
    );
    assert_eq!(executor_name(&task("a", "ls")), "Command Executor (Task: a) (Command: sh -c 'ls')");
}

#[test]
fn seeded_cores_are_deterministic() {
    let run = || {
        let mut h = Harness::new();
        h.register("A1");
        h.launch(framework("F", false, &[]), task("t1", "x"))
    };
    assert_eq!(run(), run());
}

// ---------------------------------------------------------------------------------------------
// Health checks

fn checked_task(id: &str, check: serde_json::Value) -> TaskInfo {
    let mut t = task(id, "python3 -m http.server 31000");
    t.health_check = Some(check);
    t
}

/// (container id, check id, probe, timeout) of every health check started.
fn health_checks(out: &[Command]) -> Vec<(String, u64, HealthProbe, Option<Duration>)> {
    out.iter()
        .filter_map(|c| match c {
            Command::RunHealthCheck { container_id, check_id, probe, timeout } => {
                Some((container_id.clone(), *check_id, (**probe).clone(), *timeout))
            }
            _ => None,
        })
        .collect()
}

/// The `healthy` flag of every health update sent.
fn health_updates(out: &[Command]) -> Vec<bool> {
    sent(out)
        .into_iter()
        .filter(|(_, _, _, u)| u.status.reason == Some(Reason::TaskHealthCheckStatusUpdated))
        .map(|(_, state, _, u)| {
            assert_eq!(state, TaskState::Running);
            assert_eq!(u.status.source, Some(Source::Executor));
            u.status.healthy.expect("a health update says whether the task is healthy")
        })
        .collect()
}

impl Harness {
    /// Launches a task and acknowledges STARTING and RUNNING, so that later updates are sent
    /// as soon as they are made. Returns the container id and the id of the health check that
    /// started with the task (one without delay).
    fn running(&mut self, fw: FrameworkInfo, t: TaskInfo) -> (String, Option<u64>) {
        let (fw_id, task_id) = (fw.id.clone().expect("id"), t.task_id.value.clone());
        let spec = prepares(&self.run(fw, t)).pop().expect("prepare");
        let cid = spec.container_id.clone();
        let starting =
            sent(&self.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) })).pop().expect("STARTING sent");
        let out = self.ev(Event::Spawned { container_id: cid.clone(), result: Ok(Started::pid(4242)) });
        let first = health_checks(&out).first().map(|c| c.1);
        let out = self.ack(fw_id.as_str(), &task_id, &starting.2);
        let running = sent(&out).pop().expect("RUNNING sent");
        assert_eq!(running.1, TaskState::Running);
        assert!(self.ack(fw_id.as_str(), &task_id, &running.2).is_empty());
        (cid, first)
    }

    /// Moves to `secs` and starts the check due then; returns its id.
    fn check_due_at(&mut self, secs: f64) -> u64 {
        self.now = secs;
        let out = self.ev(Event::Tick);
        let checks = health_checks(&out);
        assert_eq!(checks.len(), 1, "one check starts at {secs}: {out:?}");
        checks[0].1
    }

    /// Reports the result of a check at the current time; acknowledges the updates it made
    /// (and those sent after them). Returns everything the core asked for on the way.
    fn check_result(&mut self, cid: &str, check_id: u64, healthy: bool) -> Vec<Command> {
        let result = if healthy { Ok(()) } else { Err("Command exited with status 1".to_string()) };
        let mut out = self.ev(Event::HealthCheckResult { container_id: cid.to_string(), check_id, result });
        let mut acked = 0;
        while let Some((task, _, uuid, u)) = sent(&out).get(acked).cloned() {
            acked += 1;
            let more = self.ack(u.framework_id.as_str(), &task, &uuid);
            out.extend(more);
        }
        out
    }

    /// Runs one check at `secs` with the given outcome.
    fn check_at(&mut self, cid: &str, secs: f64, healthy: bool) -> Vec<Command> {
        let id = self.check_due_at(secs);
        self.check_result(cid, id, healthy)
    }
}

#[test]
fn health_checks_start_after_the_delay_and_repeat_an_interval_after_each_result() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000}, "delay_seconds": 5, "interval_seconds": 2, "timeout_seconds": 1});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check));
    assert_eq!(first, None);
    assert_eq!(h.core.next_wakeup(), Some(5 * SECS), "first check after the delay");
    assert!(health_checks(&h.advance(4.9)).is_empty());

    h.now = 5.0;
    let out = h.ev(Event::Tick);
    let checks = health_checks(&out);
    assert_eq!(checks.len(), 1);
    let (check_cid, id, probe, timeout) = checks[0].clone();
    assert_eq!(check_cid, cid);
    assert_eq!(probe, HealthProbe::Tcp { addr: "127.0.0.1".parse().expect("ip"), port: 31000 });
    assert_eq!(timeout, Some(SECS));
    // While the check runs, no other starts; the core only waits for a lost result.
    assert!(health_checks(&h.advance(1.0)).is_empty());
    assert_eq!(h.core.next_wakeup(), Some(6 * SECS + health::RESULT_MARGIN));

    // The first success is reported once; the next check is an interval after the result.
    h.now = 6.5;
    let out = h.check_result(&cid, id, true);
    assert_eq!(health_updates(&out), vec![true]);
    let update = sent(&out).pop().expect("update").3.status;
    assert_eq!(update.container_status.as_ref().map(|c| c["container_id"]["value"].clone()), Some(cid.clone().into()));
    assert!(update.uuid.is_some(), "health updates are reliable");
    assert_eq!(h.core.next_wakeup(), Some(Duration::from_secs_f64(8.5)));
    assert!(health_checks(&h.advance(1.9)).is_empty());
    let out = h.check_at(&cid, 8.5, true);
    assert!(out.is_empty(), "later successes are silent: {out:?}");
    assert_eq!(h.core.next_wakeup(), Some(Duration::from_secs_f64(10.5)));
    // A duplicate or stale result changes nothing.
    assert!(h.check_result(&cid, 1, false).is_empty());
    assert_eq!(h.core.next_wakeup(), Some(Duration::from_secs_f64(10.5)));
}

#[test]
fn command_checks_start_with_the_task_when_there_is_no_delay_and_run_in_its_sandbox() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "COMMAND", "delay_seconds": 0,
        "command": {"value": "test -f healthy", "environment": {"variables": [{"name": "X", "value": "1"}]}}});
    let spec = prepares(&h.run(framework("F", false, &[]), checked_task("t1", check))).pop().expect("prepare");
    let cid = spec.container_id.clone();
    h.ev(Event::Prepared { container_id: cid.clone(), result: Ok(()) });
    let out = h.ev(Event::Spawned { container_id: cid.clone(), result: Ok(Started::default()) });
    let checks = health_checks(&out);
    assert_eq!(checks.len(), 1, "no delay: the first check starts with the task");
    let (_, _, probe, timeout) = checks[0].clone();
    let HealthProbe::Command { command, env, sandbox } = probe else { panic!("{probe:?}") };
    assert_eq!(command, CommandLine::Shell("test -f healthy".into()));
    assert_eq!(sandbox, spec.sandbox);
    assert!(env.iter().any(|(k, v)| k == "MESOS_TASK_ID" && v == "t1"), "the task's environment");
    assert_eq!(env.last(), Some(&("X".to_string(), "1".to_string())), "then the check's own");
    assert_eq!(timeout, Some(20 * SECS), "default timeout");
}

#[test]
fn failures_within_the_grace_period_are_ignored_until_the_first_success() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 3, "consecutive_failures": 2});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check));
    // Failures at 0, 1, 2 and 3 s (3 s is still within the grace period): nothing happens.
    assert!(h.check_result(&cid, first.expect("first check"), false).is_empty());
    for t in [1.0, 2.0, 3.0] {
        assert!(h.check_at(&cid, t, false).is_empty(), "failure at {t} s ignored");
    }
    // After the grace period failures count, even before any success.
    assert_eq!(health_updates(&h.check_at(&cid, 4.0, false)), vec![false]);
    assert_eq!(health_updates(&h.check_at(&cid, 5.0, true)), vec![true]);
}

#[test]
fn a_success_ends_the_grace_period() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 100});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check));
    assert_eq!(health_updates(&h.check_result(&cid, first.expect("first check"), true)), vec![true]);
    assert_eq!(health_updates(&h.check_at(&cid, 1.0, false)), vec![false], "counted despite the grace period");
}

#[test]
fn consecutive_failures_kill_the_task_which_ends_unhealthy() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "HTTP", "http": {"port": 31000, "path": "/health"},
        "delay_seconds": 1, "interval_seconds": 1, "grace_period_seconds": 0, "consecutive_failures": 3});
    let (cid, _) = h.running(framework("F", false, &["TASK_KILLING_STATE"]), checked_task("t1", check));
    assert_eq!(health_updates(&h.check_at(&cid, 1.0, false)), vec![false]);
    assert!(signals(&h.check_at(&cid, 2.0, false)).is_empty(), "2 failures of 3 tolerated");
    let out = h.check_at(&cid, 3.0, false);
    let states: Vec<TaskState> = sent(&out).iter().map(|s| s.1).collect();
    // The third failure is reported, then the kill begins (TASK_KILLING is queued behind it).
    assert_eq!(health_updates(&out), vec![false]);
    assert_eq!(states, vec![TaskState::Running, TaskState::Killing]);
    assert_eq!(signals(&out), vec![KillSignal::Term]);
    // Checks stop once the task is being killed; the kill escalates after the default grace.
    assert_eq!(h.core.next_wakeup(), Some(6 * SECS));
    let out = h.advance(3.0);
    assert!(health_checks(&out).is_empty());
    assert_eq!(signals(&out), vec![KillSignal::Kill]);
    let out = h.ev(exited(&cid, Termination::Signaled(9)));
    let terminal = sent(&out).pop().expect("terminal update").3.status;
    assert_eq!(terminal.state, TaskState::Killed);
    assert_eq!(terminal.healthy, Some(false));
    assert_eq!(terminal.reason, None);
    assert!(health_checks(&h.advance(10.0)).is_empty());
}

#[test]
fn a_success_resets_the_failure_count() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 0, "consecutive_failures": 3});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check));
    assert_eq!(health_updates(&h.check_result(&cid, first.expect("first check"), false)), vec![false]);
    assert_eq!(health_updates(&h.check_at(&cid, 1.0, false)), vec![false]);
    assert_eq!(health_updates(&h.check_at(&cid, 2.0, true)), vec![true], "first success after failures");
    assert!(h.check_at(&cid, 3.0, true).is_empty());
    assert_eq!(health_updates(&h.check_at(&cid, 4.0, false)), vec![false]);
    let out = h.check_at(&cid, 5.0, false);
    assert_eq!(health_updates(&out), vec![false]);
    assert!(signals(&out).is_empty(), "only two failures in a row");
    let out = h.check_at(&cid, 6.0, false);
    assert_eq!(signals(&out), vec![KillSignal::Term]);
    // Killed by its health check, the task's terminal update says it was unhealthy, and
    // without TASK_KILLING_STATE there is no TASK_KILLING.
    assert_eq!(sent(&out).len(), 1);
    let out = h.ev(exited(&cid, Termination::Signaled(15)));
    let terminal = sent(&out).pop().expect("terminal").3.status;
    assert_eq!((terminal.state, terminal.healthy), (TaskState::Killed, Some(false)));
}

#[test]
fn framework_kills_and_exits_stop_health_checks_without_healthy_flags() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000}, "delay_seconds": 0, "interval_seconds": 1});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check.clone()));
    let id = first.expect("first check");
    h.kill("F", "t1", Some(1.0));
    // The result of the check in flight is ignored.
    assert!(h.check_result(&cid, id, false).is_empty());
    assert!(health_checks(&h.advance(0.5)).is_empty());
    let out = h.ev(exited(&cid, Termination::Signaled(15)));
    let (_, _, uuid, terminal) = sent(&out).pop().expect("terminal");
    assert_eq!((terminal.status.state, terminal.status.healthy), (TaskState::Killed, None));
    h.ack("F", "t1", &uuid);

    // A task that ends on its own stops being checked too.
    let (cid2, _) = h.running(framework("F", false, &[]), checked_task("t2", check));
    let (_, _, uuid, _) = sent(&h.ev(exited(&cid2, Termination::Exited(0)))).pop().expect("terminal");
    h.ack("F", "t2", &uuid);
    let later = Duration::from_secs_f64(h.now) + 60 * SECS;
    assert!(h.core.next_wakeup().is_some_and(|w| w >= later), "only the garbage collector's timers are left");
    assert!(health_checks(&h.advance(5.0)).is_empty());
}

#[test]
fn tasks_without_or_with_an_invalid_health_check_are_not_checked() {
    let mut h = Harness::new();
    h.register("A1");
    h.running(framework("F", false, &[]), task("plain", "sleep 30"));
    h.running(framework("F", false, &[]), checked_task("bad", serde_json::json!({"type": "HTTP", "delay_seconds": 0})));
    assert_eq!(h.core.next_wakeup(), None);
    assert!(health_checks(&h.advance(100.0)).is_empty());
}

#[test]
fn health_check_results_that_change_nothing_do_not_republish_the_state() {
    let mut h = Harness::new();
    h.register("A1");
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000}, "delay_seconds": 0, "interval_seconds": 1});
    let (cid, first) = h.running(framework("F", false, &[]), checked_task("t1", check));
    h.check_result(&cid, first.expect("first check"), true);
    let version = h.core.version();
    assert!(h.check_at(&cid, 1.0, true).is_empty());
    assert_eq!(h.core.version(), version);
}

fn health_record(task: &str, healthy: bool, uuid: &str) -> UpdateRecord {
    let mut s = TaskStatus::new(TaskId::new(task), TaskState::Running);
    s.uuid = Some(uuid.to_string());
    s.reason = Some(Reason::TaskHealthCheckStatusUpdated);
    s.healthy = Some(healthy);
    UpdateRecord::Update(Box::new(s))
}

#[test]
fn recovered_running_tasks_are_checked_again_from_their_reported_health() {
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000},
        "delay_seconds": 30, "interval_seconds": 2, "grace_period_seconds": 0, "consecutive_failures": 3});
    let mut healthy = recovered(
        "t1",
        "c1",
        vec![
            status_record("t1", TaskState::Starting, "u1"),
            UpdateRecord::Ack("u1".into()),
            status_record("t1", TaskState::Running, "u2"),
            UpdateRecord::Ack("u2".into()),
            health_record("t1", true, "u3"),
            UpdateRecord::Ack("u3".into()),
            health_record("t1", false, "u4"),
            UpdateRecord::Ack("u4".into()),
        ],
        RecoveredProcess::Running { pid: Some(5) },
    );
    healthy.info.health_check = Some(check.clone());
    let mut fresh = recovered(
        "t2",
        "c2",
        vec![status_record("t2", TaskState::Starting, "v1"), UpdateRecord::Ack("v1".into())],
        RecoveredProcess::Running { pid: Some(6) },
    );
    fresh.info.health_check = Some(check);
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![healthy, fresh],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut h = Harness::with(config(), recovery);
    for (task, _, uuid, _) in sent(&h.register("A1")) {
        h.ack("F", &task, &uuid);
    }
    // t1 had been checked: next check one interval after recovery, and it still has one
    // failure on record. t2 just became RUNNING: its checks start after the delay.
    assert_eq!(h.core.next_wakeup(), Some(2 * SECS));
    assert_eq!(health_updates(&h.check_at("c1", 2.0, false)), vec![false]);
    let out = h.check_at("c1", 4.0, false);
    assert_eq!(health_updates(&out), vec![false]);
    assert_eq!(signals(&out), vec![KillSignal::Term], "the third failure in a row, counting the one before");
    assert_eq!(h.core.next_wakeup(), Some(7 * SECS), "kill escalation; t2 waits for its delay");
    h.now = 29.9;
    assert!(health_checks(&h.ev(Event::Tick)).is_empty());
    h.now = 30.0;
    let out = h.ev(Event::Tick);
    assert_eq!(health_checks(&out).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), vec!["c2"]);
}

#[test]
fn a_task_killed_by_its_health_check_while_the_agent_was_down_ends_unhealthy() {
    let check = serde_json::json!({"type": "TCP", "tcp": {"port": 31000}, "consecutive_failures": 2});
    let records = |t: &str| {
        vec![
            status_record(t, TaskState::Starting, "u1"),
            UpdateRecord::Ack("u1".into()),
            status_record(t, TaskState::Running, "u2"),
            UpdateRecord::Ack("u2".into()),
            health_record(t, false, "u3"),
            UpdateRecord::Ack("u3".into()),
        ]
    };
    // t1 failed twice and was killed by its check; t2 failed once and the framework killed it.
    let mut by_check = records("t1");
    by_check.extend([health_record("t1", false, "u4"), UpdateRecord::Ack("u4".into()), UpdateRecord::Kill]);
    let mut by_framework = records("t2");
    by_framework.push(UpdateRecord::Kill);
    let ended = RecoveredProcess::Exited(ExitInfo { termination: Termination::Signaled(15), oom: None });
    let mut t1 = recovered("t1", "c1", by_check, ended);
    t1.info.health_check = Some(check.clone());
    let mut t2 = recovered("t2", "c2", by_framework, ended);
    t2.info.health_check = Some(check);
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![t1, t2],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut h = Harness::with(config(), recovery);
    let mut terminal: Vec<(String, TaskState, Option<bool>)> =
        sent(&h.register("A1")).into_iter().map(|(t, s, _, u)| (t, s, u.status.healthy)).collect();
    terminal.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(terminal, vec![("t1".into(), TaskState::Killed, Some(false)), ("t2".into(), TaskState::Killed, None)]);
}
