//! Sandbox garbage collection: what is scheduled for removal, when, and what is kept.

use super::*;

fn gc_config(gc_delay_secs: u64) -> CoreConfig {
    CoreConfig { gc_delay: Duration::from_secs(gc_delay_secs), ..config() }
}

fn removals(out: &[Command]) -> Vec<GcPath> {
    out.iter()
        .filter_map(|c| match c {
            Command::GarbageCollect(paths) => Some(paths.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn sandbox(task: &str, cid: &str) -> PathBuf {
    PathBuf::from(format!("/work/slaves/A1/frameworks/F/executors/{task}/runs/{cid}"))
}

fn executor(task: &str) -> PathBuf {
    PathBuf::from(format!("/work/slaves/A1/frameworks/F/executors/{task}"))
}

fn tree(path: PathBuf) -> GcPath {
    GcPath { path, kind: GcKind::Tree }
}

fn executor_dir(path: PathBuf) -> GcPath {
    GcPath { path, kind: GcKind::Executor }
}

impl Harness {
    /// Runs `task` to TASK_FINISHED and acknowledges everything; returns its container id.
    fn complete(&mut self, task: &str) -> String {
        let (cid, starting) = self.launch(framework("F", false, &[]), super::task(task, "true"));
        let running = sent(&self.ack("F", task, &starting)).pop().expect("RUNNING").2;
        self.ack("F", task, &running);
        let fin = sent(&self.ev(exited(&cid, Termination::Exited(0)))).pop().expect("FINISHED").2;
        self.ack("F", task, &fin);
        cid
    }

    fn removals_until(&mut self, secs: f64) -> Vec<GcPath> {
        self.now = secs;
        removals(&self.ev(Event::Tick))
    }
}

#[test]
fn sandboxes_of_completed_tasks_are_removed_after_the_delay_and_running_ones_kept() {
    let mut h = Harness::with(gc_config(100), Recovery::default());
    h.register("A1");
    h.now = 10.0;
    let done = h.complete("done");
    let (running, _) = h.launch(framework("F", false, &[]), task("running", "sleep 1000"));
    assert!(h.removals_until(109.9).is_empty());
    assert_eq!(h.core.next_wakeup(), Some(110 * SECS));
    assert_eq!(h.removals_until(110.0), vec![tree(sandbox("done", &done)), executor_dir(executor("done"))]);
    assert!(h.removals_until(10_000.0).is_empty(), "{running} runs: its sandbox stays");
    assert_eq!(h.core.snapshot().gc_pending, 0);
}

#[test]
fn a_task_id_used_again_keeps_its_executor_directory() {
    let mut h = Harness::with(gc_config(100), Recovery::default());
    h.register("A1");
    let first = h.complete("t");
    h.now = 50.0;
    h.launch(framework("F", false, &[]), task("t", "sleep 1000"));
    assert_eq!(h.removals_until(100.0), vec![tree(sandbox("t", &first))], "the old run only");
}

#[test]
fn disk_usage_shortens_the_delay() {
    let mut h = Harness::with(gc_config(100), Recovery::default());
    h.register("A1");
    let old = h.complete("old");
    h.now = 50.0;
    let young = h.complete("young");
    h.now = 60.0;
    // At most 100 s × (1 - 0.1 headroom - 0.5 used) = 40 s old.
    assert_eq!(removals(&h.ev(Event::DiskUsage(0.5))), vec![tree(sandbox("old", &old)), executor_dir(executor("old"))]);
    // Full: nothing may stay.
    assert_eq!(
        removals(&h.ev(Event::DiskUsage(0.95))),
        vec![tree(sandbox("young", &young)), executor_dir(executor("young"))]
    );
}

#[test]
fn disk_usage_is_measured_every_interval_while_something_is_scheduled() {
    let mut h = Harness::with(gc_config(1000), Recovery::default());
    h.register("A1");
    let checks = |out: &[Command]| out.iter().filter(|c| matches!(c, Command::CheckDiskUsage)).count();
    assert_eq!(h.core.next_wakeup(), None, "nothing scheduled, nothing to measure");
    h.now = 5.0;
    let (cid, starting) = h.launch(framework("F", false, &[]), task("t", "true"));
    let running = sent(&h.ack("F", "t", &starting)).pop().expect("RUNNING").2;
    h.ack("F", "t", &running);
    let fin = sent(&h.ev(exited(&cid, Termination::Exited(0)))).pop().expect("FINISHED").2;
    assert_eq!(checks(&h.ack("F", "t", &fin)), 1, "measured as soon as something is scheduled");
    assert_eq!(h.core.next_wakeup(), Some(65 * SECS));
    assert_eq!(checks(&h.advance(59.0)), 0);
    assert_eq!(checks(&h.advance(1.0)), 1);
}

#[test]
fn recovery_schedules_what_no_live_task_uses_from_its_modification_time() {
    let found = |path: PathBuf, kind: FoundKind, age: f64| FoundSandbox { path, kind, mtime: at(0.0).wall - age };
    let recovery = Recovery {
        executors: Vec::new(),
        agent_id: Some(AgentId::new("A1")),
        frameworks: vec![framework("F", true, &[])],
        tasks: vec![recovery::recovered(
            "live",
            "c-live",
            vec![recovery::status_record("live", TaskState::Running, "u1")],
            RecoveredProcess::Running { pid: Some(7) },
        )],
        orphan_containers: vec![],
        sandboxes: vec![
            found(sandbox("live", "c-live"), FoundKind::Run { container_id: "c-live".into() }, 500.0),
            found(
                executor("live"),
                FoundKind::Executor { framework_id: FrameworkId::new("F"), executor_id: ExecutorId::new("live") },
                500.0,
            ),
            found(sandbox("gone", "c-gone"), FoundKind::Run { container_id: "c-gone".into() }, 30.0),
            found(
                executor("gone"),
                FoundKind::Executor { framework_id: FrameworkId::new("F"), executor_id: ExecutorId::new("gone") },
                30.0,
            ),
            found(sandbox("ancient", "c-old"), FoundKind::Run { container_id: "c-old".into() }, 1e9),
            found(PathBuf::from("/work/slaves/A0"), FoundKind::Agent, 1e9),
        ],
    };
    let mut core = AgentCore::new(gc_config(100));
    let out = core.handle(at(0.0), Event::Start(Box::new(recovery)));
    // Older than the delay: at once; another agent id's directory: a whole delay from now.
    assert_eq!(removals(&out), vec![tree(sandbox("ancient", "c-old"))]);
    assert!(out.contains(&Command::StampForGc(vec![PathBuf::from("/work/slaves/A0")])));
    assert_eq!(core.snapshot().gc_pending, 3);
    let out = core.handle(at(70.0), Event::Tick);
    assert_eq!(removals(&out), vec![tree(sandbox("gone", "c-gone")), executor_dir(executor("gone"))]);
    let out = core.handle(at(100.0), Event::Tick);
    assert_eq!(removals(&out), vec![tree(PathBuf::from("/work/slaves/A0"))]);
    assert!(removals(&core.handle(at(10_000.0), Event::Tick)).is_empty(), "the live task's directories stay");
}

#[test]
fn a_new_agent_id_schedules_the_old_one_s_directory() {
    let mut h = Harness::with(gc_config(100), Recovery { agent_id: Some(AgentId::new("A0")), ..Recovery::default() });
    let out = h.register("A1");
    assert!(out.contains(&Command::StampForGc(vec![PathBuf::from("/work/slaves/A0")])));
    assert_eq!(h.removals_until(100.0), vec![tree(PathBuf::from("/work/slaves/A0"))]);
}
