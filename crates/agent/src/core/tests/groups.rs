//! Task groups: one executor's sandbox and id for all tasks, the default executor's rule
//! (a task that does not finish kills the others), completion and recovery.

use super::*;

fn group_executor(id: &str) -> ExecutorInfo {
    serde_json::from_value(serde_json::json!({
        "executor_id": {"value": id},
        "framework_id": {"value": "F"},
        "type": "DEFAULT",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
    }))
    .expect("executor")
}

impl Harness {
    fn run_group(&mut self, fw: FrameworkInfo, executor: &str, tasks: Vec<TaskInfo>) -> Vec<Command> {
        self.master(AgentEvent::RunTaskGroup {
            framework: Box::new(fw),
            executor: Box::new(group_executor(executor)),
            task_group: mesos_api::messages::TaskGroupInfo { tasks },
        })
    }

    /// Acknowledges every update in `out` and in what the acknowledgements bring, until none
    /// is left; returns every update sent on the way.
    fn ack_all(&mut self, out: Vec<Command>) -> Vec<(String, TaskState, String, StatusUpdate)> {
        let mut all = Vec::new();
        let mut pending = sent(&out);
        while let Some(update) = pending.pop() {
            let fw = update.3.framework_id.value.clone();
            let out = self.ack(&fw, &update.0, &update.2);
            pending.extend(sent(&out));
            all.push(update);
        }
        all
    }

    /// Runs a group of `tasks` (`sleep 30`) to TASK_RUNNING, every update acknowledged;
    /// returns each task's container id.
    fn running_group(&mut self, fw: FrameworkInfo, executor: &str, tasks: &[&str]) -> BTreeMap<String, String> {
        let out = self.run_group(fw, executor, tasks.iter().map(|t| task(t, "sleep 30")).collect());
        let mut containers = BTreeMap::new();
        for spec in prepares(&out) {
            containers.insert(spec.task_id.value.clone(), spec.container_id.clone());
            let out = self.ev(Event::Prepared { container_id: spec.container_id.clone(), result: Ok(()) });
            self.ack_all(out);
            let out = self.ev(Event::Spawned { container_id: spec.container_id.clone(), result: Ok(Started::pid(7)) });
            self.ack_all(out);
        }
        assert_eq!(containers.len(), tasks.len());
        for t in tasks {
            assert_eq!(self.state_of(t), Some(TaskState::Running));
        }
        containers
    }

    fn state_of(&self, task: &str) -> Option<TaskState> {
        self.core.snapshot().tasks.iter().find(|t| t.task.task_id.as_str() == task).map(|t| t.task.state)
    }
}

/// Containers signalled in `out`.
fn signalled(out: &[Command]) -> Vec<(String, KillSignal)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Signal { container_id, signal } => Some((container_id.clone(), *signal)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_group_runs_in_its_executors_sandbox_with_its_executors_id() {
    let mut h = Harness::new();
    h.register("A1");
    let out = h.run_group(framework("F", true, &[]), "E", vec![task("t1", "sleep 30"), task("t2", "sleep 30")]);
    // The executor is checkpointed before its tasks, which say they belong to it.
    let cps = checkpoints(&out);
    let Some(Checkpoint::Executor { run, info }) = cps.iter().find(|c| matches!(c, Checkpoint::Executor { .. })) else {
        panic!("executor checkpointed: {cps:?}")
    };
    assert_eq!((run.executor_id.as_str(), info.executor_id.as_str()), ("E", "E"));
    let executor_at = cps.iter().position(|c| matches!(c, Checkpoint::Executor { .. }));
    let tasks: Vec<(usize, &RunPath, bool)> = cps
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Checkpoint::Task { run, group, .. } => Some((i, run, *group)),
            _ => None,
        })
        .collect();
    assert_eq!(tasks.len(), 2);
    for (i, task_run, group) in &tasks {
        assert!(Some(*i) > executor_at);
        assert!(group);
        assert_eq!(task_run.executor_id.as_str(), "E");
    }
    let run_dir = PathBuf::from(format!("/work/slaves/A1/frameworks/F/executors/E/runs/{}", run.container_id));
    let specs = prepares(&out);
    assert_eq!(specs.len(), 2);
    for spec in &specs {
        assert_eq!(spec.executor_sandbox.as_ref(), Some(&run_dir));
        assert_eq!(spec.sandbox, run_dir.join("tasks").join(spec.task_id.as_str()));
        assert_ne!(spec.container_id, run.container_id, "each task is a container of its own");
        let env: BTreeMap<&str, &str> = spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env["MESOS_EXECUTOR_ID"], "E");
        assert_eq!(env["MESOS_SANDBOX"], spec.sandbox.display().to_string());
        assert!(spec.limits.is_some(), "each task has its own cgroup limits");
    }
    // Updates carry the executor's id.
    let out = h.ev(Event::Prepared { container_id: specs[0].container_id.clone(), result: Ok(()) });
    let update = sent(&out).pop().expect("STARTING");
    assert_eq!(update.3.status.executor_id.as_ref().map(ExecutorId::as_str), Some("E"));
    // `/state` shows one executor with both tasks, which carry its id.
    let snapshot = h.core.snapshot();
    assert_eq!(snapshot.executors.len(), 1);
    let executor = &snapshot.executors[0];
    assert_eq!((executor.info.executor_id.as_str(), &executor.directory), ("E", &run_dir));
    let ids: Vec<&str> = executor.tasks.iter().map(|t| t.task.task_id.as_str()).collect();
    assert_eq!(ids, vec!["t1", "t2"]);
    assert!(executor.tasks.iter().all(|t| t.task.executor_id.as_ref().map(ExecutorId::as_str) == Some("E")));
    // 0.1 cpus of the executor and 0.5 of each task.
    assert_eq!(ResourceSet::from_wire(&executor.resources).expect("r").scalar("cpus"), 1.1);
}

#[test]
fn a_task_that_fails_kills_the_others_and_one_that_finishes_does_not() {
    let mut h = Harness::new();
    h.register("A1");
    let fw = framework("F", true, &["TASK_KILLING_STATE"]);
    let c = h.running_group(fw.clone(), "E", &["t1", "t2", "t3"]);
    // t1 finishes: the others keep running.
    let out = h.ev(exited(&c["t1"], Termination::Exited(0)));
    assert!(signalled(&out).is_empty(), "{out:?}");
    h.ack_all(out);
    assert_eq!(h.state_of("t2"), Some(TaskState::Running));
    // t2 fails: t3 is killed (TASK_KILLING first, then SIGTERM with the default grace).
    let out = h.ev(exited(&c["t2"], Termination::Exited(1)));
    assert_eq!(signalled(&out), vec![(c["t3"].clone(), KillSignal::Term)]);
    let states: Vec<(String, TaskState)> = sent(&out).into_iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(states, vec![("t2".into(), TaskState::Failed), ("t3".into(), TaskState::Killing)]);
    h.ack_all(out);
    assert_eq!(h.state_of("t3"), Some(TaskState::Killing));
    let out = h.advance(3.0);
    assert_eq!(signalled(&out), vec![(c["t3"].clone(), KillSignal::Kill)], "its grace period ran out");
    let out = h.ev(exited(&c["t3"], Termination::Signaled(9)));
    let updates = h.ack_all(out);
    assert_eq!(updates.last().map(|u| u.1), Some(TaskState::Killed));
    // Every task completed: the executor completed, its run directory is scheduled for removal.
    let snapshot = h.core.snapshot();
    assert!(snapshot.executors.is_empty());
    assert_eq!(snapshot.completed_executors.len(), 1);
    let done = &snapshot.completed_executors[0];
    let states: Vec<TaskState> = done.completed_tasks.iter().map(|t| t.task.state).collect();
    assert_eq!(states, vec![TaskState::Finished, TaskState::Failed, TaskState::Killed]);
    assert!(snapshot.completed_tasks.is_empty(), "group tasks are shown under their executor");
    assert_eq!(snapshot.gc_pending, 2, "the executor's run directory and its executor directory");
}

#[test]
fn killing_one_task_of_a_group_ends_the_group() {
    let mut h = Harness::new();
    h.register("A1");
    let c = h.running_group(framework("F", false, &[]), "E", &["t1", "t2"]);
    let out = h.kill("F", "t1", Some(0.0));
    assert_eq!(signalled(&out), vec![(c["t1"].clone(), KillSignal::Kill)]);
    let out = h.ev(exited(&c["t1"], Termination::Signaled(9)));
    assert_eq!(sent(&out).pop().map(|s| s.1), Some(TaskState::Killed));
    // t2 is killed with its own grace (its kill policy, else the default).
    assert_eq!(signalled(&out), vec![(c["t2"].clone(), KillSignal::Term)]);
    h.ack_all(out);
    let out = h.ev(exited(&c["t2"], Termination::Signaled(15)));
    let updates = h.ack_all(out);
    assert_eq!(updates.first().map(|u| (u.0.as_str(), u.1)), Some(("t2", TaskState::Killed)));
    // SHUTDOWN of the executor kills all of a group's tasks.
    let c = h.running_group(framework("F", false, &[]), "E2", &["u1", "u2"]);
    let out = h.master(AgentEvent::ShutdownExecutor {
        framework_id: FrameworkId::new("F"),
        executor_id: ExecutorId::new("E2"),
    });
    let mut killed: Vec<String> = signalled(&out).into_iter().map(|(c, _)| c).collect();
    killed.sort();
    let mut expected = vec![c["u1"].clone(), c["u2"].clone()];
    expected.sort();
    assert_eq!(killed, expected);
}

#[test]
fn a_group_the_agent_cannot_run_fails_whole() {
    let mut h = Harness::new();
    h.register("A1");
    let mut docker = task("t2", "sleep 30");
    docker.container = Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox"}}));
    let out = h.run_group(framework("F", false, &[]), "E", vec![task("t1", "sleep 30"), docker]);
    assert!(prepares(&out).is_empty(), "nothing of the group starts");
    let updates = sent(&out);
    assert_eq!(updates.len(), 2);
    for (_, state, _, update) in &updates {
        assert_eq!(*state, TaskState::Failed);
        let message = update.status.message.as_deref().unwrap_or_default();
        assert!(message.contains("Task 't2'") && message.contains("Docker"), "{message}");
        assert_eq!(update.status.executor_id.as_ref().map(ExecutorId::as_str), Some("E"));
    }
}

#[test]
fn recovery_takes_the_group_back_and_still_kills_the_rest_when_one_failed() {
    let executor =
        RecoveredExecutor { framework_id: FrameworkId::new("F"), container_id: "ce".into(), info: group_executor("E") };
    let in_group = |t: RecoveredTask| RecoveredTask { executor_id: Some(ExecutorId::new("E")), ..t };
    let running = vec![status_record("t1", TaskState::Running, "u1"), UpdateRecord::Ack("u1".into())];
    let recovery = Recovery {
        executors: vec![executor],
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![
            // t1 failed while the agent was down; t2 still runs.
            in_group(recovered(
                "t1",
                "c1",
                running.clone(),
                RecoveredProcess::Exited(ExitInfo { termination: Termination::Exited(3), oom: None }),
            )),
            in_group(recovered("t2", "c2", running, RecoveredProcess::Running { pid: Some(9) })),
        ],
        orphan_containers: vec![],
        sandboxes: vec![],
    };
    let mut core = AgentCore::new(config());
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    // t2 is killed at once: the rule holds across the restart.
    assert_eq!(signalled(&out), vec![("c2".to_string(), KillSignal::Term)]);
    // The registration reports both tasks with the executor's id, and the executor.
    let (conn, register) = connects(&out).pop().expect("connects");
    assert_eq!(register.executors.len(), 1);
    assert_eq!(register.executors[0].executor.executor_id.as_str(), "E");
    assert_eq!(register.tasks.len(), 2);
    assert!(register.tasks.iter().all(|t| t.task.executor_id.as_ref().map(ExecutorId::as_str) == Some("E")));
    let mut h = Harness { core, conn, now: 0.0 };
    let snapshot = h.core.snapshot();
    assert_eq!(snapshot.executors.len(), 1);
    assert_eq!(snapshot.executors[0].directory, PathBuf::from("/work/slaves/A1/frameworks/F/executors/E/runs/ce"));
    let out = h.register("A1");
    assert!(sent(&out).iter().any(|s| s.0 == "t1" && s.1 == TaskState::Failed));
    let out = h.advance(3.0);
    assert_eq!(signalled(&out), vec![("c2".to_string(), KillSignal::Kill)], "the kill escalates after its grace");
    let out = h.ev(exited("c2", Termination::Signaled(9)));
    assert!(sent(&out).iter().any(|s| s.0 == "t2" && s.1 == TaskState::Killed));
}
