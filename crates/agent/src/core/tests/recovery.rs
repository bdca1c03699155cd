//! Recovery: what the core makes of a work dir a previous run left.

use super::*;

pub(super) fn status_record(task: &str, state: TaskState, uuid: &str) -> UpdateRecord {
    let mut s = TaskStatus::new(TaskId::new(task), state);
    s.uuid = Some(uuid.to_string());
    s.agent_id = Some(AgentId::new("A1"));
    UpdateRecord::Update(Box::new(s))
}

pub(super) fn recovered(
    task_id: &str,
    cid: &str,
    records: Vec<UpdateRecord>,
    process: RecoveredProcess,
) -> RecoveredTask {
    RecoveredTask {
        executor_id: None,
        framework_id: FrameworkId::new("F"),
        container_id: cid.into(),
        info: task(task_id, "sleep 30"),
        records,
        process,
        containerizer: ContainerizerKind::Mesos,
        addresses: Vec::new(),
    }
}

#[test]
fn recovery_reattaches_running_tasks_and_resends_only_unacknowledged_updates() {
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![recovered(
            "t1",
            "c1",
            vec![
                status_record("t1", TaskState::Starting, "u1"),
                UpdateRecord::Ack("u1".into()),
                status_record("t1", TaskState::Running, "u2"),
            ],
            RecoveredProcess::Running { pid: Some(99) },
        )],
        orphan_containers: vec!["c9".into()],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    assert!(out.iter().any(|c| matches!(c, Command::Reattach { container_id } if container_id == "c1")));
    assert_eq!(destroys(&out), vec!["c9".to_string()]);
    assert!(sent(&out).is_empty());
    assert!(!out.iter().any(|c| matches!(c, Command::Spawn(_) | Command::Prepare(_))));
    let (conn, reg) = connects(&out).pop().expect("connect");
    assert_eq!(reg.agent_id.as_ref().map(AgentId::as_str), Some("A1"));
    assert_eq!(reg.tasks.len(), 1);
    assert_eq!(reg.tasks[0].task.state, TaskState::Running);
    assert_eq!(reg.tasks[0].task.status_update_uuid.as_deref(), Some("u2"));
    assert_eq!(reg.tasks[0].task.agent_id.as_str(), "A1");
    core.handle(at(0.1), Event::LinkOpened { conn, stream_id: "s".into() });
    let out = core.handle(at(0.1), Event::Master { conn, event: Box::new(registered_event("A1")) });
    let s = sent(&out);
    assert_eq!(s.len(), 1, "only the unacknowledged RUNNING is re-sent");
    assert_eq!(s[0].1, TaskState::Running);
    assert_eq!(s[0].2, "u2", "with the same uuid");
    // The task's process keeps being watched: its exit is reported normally.
    let out = core.handle(
        at(1.0),
        Event::Master {
            conn,
            event: Box::new(AgentEvent::Acknowledge {
                framework_id: FrameworkId::new("F"),
                task_id: TaskId::new("t1"),
                uuid: "u2".into(),
            }),
        },
    );
    assert!(sent(&out).is_empty());
    let out = core.handle(at(2.0), exited("c1", Termination::Exited(0)));
    assert_eq!(sent(&out)[0].1, TaskState::Finished);
}

#[test]
fn recovery_of_a_task_that_ended_while_the_agent_was_down() {
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![
            recovered(
                "t1",
                "c1",
                vec![
                    status_record("t1", TaskState::Starting, "u1"),
                    UpdateRecord::Ack("u1".into()),
                    status_record("t1", TaskState::Running, "u2"),
                    UpdateRecord::Ack("u2".into()),
                ],
                RecoveredProcess::Exited(ExitInfo { termination: Termination::Exited(2), oom: None }),
            ),
            recovered(
                "t2",
                "c2",
                vec![
                    status_record("t2", TaskState::Starting, "v1"),
                    UpdateRecord::Ack("v1".into()),
                    status_record("t2", TaskState::Running, "v2"),
                    UpdateRecord::Kill,
                ],
                RecoveredProcess::Exited(ExitInfo { termination: Termination::Signaled(15), oom: None }),
            ),
        ],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut h = Harness::with(config(), recovery);
    let out = h.register("A1");
    let s = sent(&out);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].0.as_str(), s[0].1), ("t1", TaskState::Failed));
    assert_eq!(s[0].3.status.message.as_deref(), Some("Command exited with status 2"));
    assert_eq!((s[1].0.as_str(), s[1].1, s[1].2.as_str()), ("t2", TaskState::Running, "v2"));
    assert_eq!(s[1].3.latest_state, TaskState::Killed, "killed before the restart: TASK_KILLED");
}

#[test]
fn recovery_of_tasks_without_a_process() {
    let mut pa = framework("P", true, &["PARTITION_AWARE"]);
    pa.id = Some(FrameworkId::new("P"));
    let mut staged_pa = recovered("t3", "c3", vec![], RecoveredProcess::Unknown);
    staged_pa.framework_id = FrameworkId::new("P");
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[]), pa],
        tasks: vec![
            recovered("t1", "c1", vec![], RecoveredProcess::Unknown),
            recovered("t2", "c2", vec![status_record("t2", TaskState::Starting, "u1")], RecoveredProcess::Unknown),
            staged_pa,
        ],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    let mut d = destroys(&out);
    d.sort();
    assert_eq!(d, vec!["c1", "c2", "c3"]);
    let snap = core.snapshot();
    let state = |id: &str| snap.tasks.iter().find(|t| t.task.task_id.as_str() == id).map(|t| t.task.state);
    assert_eq!(state("t1"), Some(TaskState::Lost));
    assert_eq!(state("t2"), Some(TaskState::Failed));
    assert_eq!(state("t3"), Some(TaskState::Dropped));
    let t1 = snap.tasks.iter().find(|t| t.task.task_id.as_str() == "t1").expect("t1");
    assert_eq!(t1.task.statuses[0].reason, Some(Reason::AgentRestarted));
}

#[test]
fn recovery_of_tasks_whose_process_never_started_drops_them_without_a_failure() {
    let pa = framework("P", true, &["PARTITION_AWARE", "TASK_KILLING_STATE"]);
    let in_framework = |fw: &str, mut t: RecoveredTask| {
        t.framework_id = FrameworkId::new(fw);
        t
    };
    let starting = |task: &str, uuid: &str| vec![status_record(task, TaskState::Starting, uuid)];
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[]), pa],
        tasks: vec![
            // Checkpointed, its sandbox not even made.
            in_framework("P", recovered("staged", "c1", vec![], RecoveredProcess::NotStarted)),
            // STARTING sent (and acknowledged), the launch never reached the zygote.
            in_framework(
                "P",
                recovered(
                    "starting",
                    "c2",
                    vec![status_record("starting", TaskState::Starting, "u2"), UpdateRecord::Ack("u2".into())],
                    RecoveredProcess::NotStarted,
                ),
            ),
            // The same for a framework that is not partition-aware: TASK_LOST.
            recovered("old-style", "c3", starting("old-style", "u3"), RecoveredProcess::NotStarted),
            // Killed while its launch was pending.
            in_framework(
                "P",
                recovered(
                    "killed",
                    "c4",
                    vec![
                        status_record("killed", TaskState::Starting, "u4"),
                        UpdateRecord::Kill,
                        status_record("killed", TaskState::Killing, "u5"),
                    ],
                    RecoveredProcess::NotStarted,
                ),
            ),
            // It did start (its launch is recorded) and its monitor vanished: a failure.
            in_framework("P", recovered("vanished", "c5", starting("vanished", "u6"), RecoveredProcess::Unknown)),
            // It started and ended while the agent was down: reported as it ended.
            in_framework(
                "P",
                recovered(
                    "ended",
                    "c6",
                    starting("ended", "u7"),
                    RecoveredProcess::Exited(ExitInfo { termination: Termination::Exited(3), oom: None }),
                ),
            ),
        ],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    let mut d = destroys(&out);
    d.sort();
    assert_eq!(d, vec!["c1", "c2", "c3", "c4", "c5", "c6"], "whatever a launch left is destroyed");
    assert!(!out.iter().any(|c| matches!(c, Command::Spawn(_) | Command::Prepare(_) | Command::Reattach { .. })));
    let snap = core.snapshot();
    let last = |id: &str| {
        let t = snap.tasks.iter().find(|t| t.task.task_id.as_str() == id).expect("task");
        let s = t.task.statuses.last().expect("status").clone();
        (s.state, s.reason, s.source, s.message.unwrap_or_default())
    };
    let dropped =
        |state| (state, Some(Reason::AgentRestarted), Some(Source::Agent), "Task launched during agent restart".into());
    assert_eq!(last("staged"), dropped(TaskState::Dropped));
    assert_eq!(last("starting"), dropped(TaskState::Dropped));
    assert_eq!(last("old-style"), dropped(TaskState::Lost));
    assert_eq!(
        last("killed"),
        (
            TaskState::Killed,
            Some(Reason::TaskKilledDuringLaunch),
            Some(Source::Agent),
            "Task killed before it was launched".into()
        )
    );
    assert_eq!(last("vanished").0, TaskState::Failed);
    assert_eq!(last("vanished").1, Some(Reason::ExecutorTerminated));
    assert_eq!(last("ended").0, TaskState::Failed);
    assert_eq!(last("ended").3, "Command exited with status 3");
}

#[test]
fn recovery_forgets_fully_acknowledged_terminal_tasks() {
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![recovered(
            "t1",
            "c1",
            vec![status_record("t1", TaskState::Finished, "u1"), UpdateRecord::Ack("u1".into())],
            RecoveredProcess::Exited(ExitInfo { termination: Termination::Exited(0), oom: None }),
        )],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    assert!(checkpoints(&out).iter().any(|c| matches!(c, Checkpoint::RemoveRun { .. })));
    assert_eq!(destroys(&out), vec!["c1".to_string()]);
    let (_, reg) = connects(&out).pop().expect("connect");
    assert!(reg.tasks.is_empty());
    assert_eq!(core.snapshot().completed_tasks.len(), 1);
}

#[test]
fn recovery_of_a_running_task_whose_running_update_was_never_written() {
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![recovered(
            "t1",
            "c1",
            vec![status_record("t1", TaskState::Starting, "u1"), UpdateRecord::Ack("u1".into())],
            RecoveredProcess::Running { pid: Some(5) },
        )],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut h = Harness::with(config(), recovery);
    let s = sent(&h.register("A1"));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, TaskState::Running);
    assert_ne!(s[0].2, "u1");
}

#[test]
fn recovered_task_of_unknown_framework_is_destroyed() {
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![],
        tasks: vec![recovered("t1", "c1", vec![], RecoveredProcess::Running { pid: None })],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    assert_eq!(destroys(&out), vec!["c1".to_string()]);
    assert!(core.snapshot().tasks.is_empty());
}
