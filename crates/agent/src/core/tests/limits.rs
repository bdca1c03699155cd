//! Limits watched while tasks run (what is measured when, a task over a limit fails), and the
//! user tasks run as.

use super::*;

fn limits_config(pids_max: Option<u64>, disk_watch_secs: Option<u64>) -> CoreConfig {
    CoreConfig { limits: LimitsConfig { pids_max, disk_watch: disk_watch_secs.map(Duration::from_secs) }, ..config() }
}

fn measures(out: &[Command]) -> Vec<Measure> {
    out.iter()
        .filter_map(|c| match c {
            Command::Measure(m) => Some(m.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn with_disk(mut t: TaskInfo, disk_mb: f64) -> TaskInfo {
    t.resources =
        ResourceSet::parse_text(&format!("cpus:0.5;mem:64;disk:{disk_mb}")).map(|r| r.to_wire()).unwrap_or_default();
    t
}

#[test]
fn nothing_is_measured_without_watched_limits_or_running_tasks() {
    let mut h = Harness::new();
    h.register("A1");
    h.launch(framework("F", false, &[]), task("t", "sleep 100"));
    assert!(measures(&h.advance(5.0)).is_empty());

    let mut h = Harness::with(limits_config(Some(64), Some(10)), Recovery::default());
    h.register("A1");
    assert_eq!(h.core.next_wakeup(), None, "no task: no timer");
}

#[test]
fn pids_every_second_and_sandboxes_with_a_quota_every_interval() {
    let mut h = Harness::with(limits_config(Some(64), Some(10)), Recovery::default());
    h.register("A1");
    // Both measured at once when they start (the timers were due), then on their timers.
    let (quota, _) = h.launch(framework("F", false, &[]), with_disk(task("quota", "sleep 100"), 10.0));
    h.launch(framework("F", false, &[]), task("plain", "sleep 100"));
    assert_eq!(h.core.next_wakeup(), Some(Duration::from_secs_f64(h.now) + SECS));
    let second = measures(&h.advance(1.0));
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.iter().all(|m| m.pids && m.sandbox.is_none()), "the disk waits for its interval");
    let tenth = measures(&h.advance(9.0));
    assert!(tenth.iter().all(|m| m.pids));
    let sandboxes: Vec<&str> = tenth.iter().filter(|m| m.sandbox.is_some()).map(|m| m.container_id.as_str()).collect();
    assert_eq!(sandboxes, vec![quota.as_str()], "only a task with a disk resource has a quota");
}

#[test]
fn a_sandbox_over_its_quota_fails_its_task_with_the_disk_reason() {
    let mut h = Harness::with(limits_config(None, Some(10)), Recovery::default());
    h.register("A1");
    let (cid, starting) =
        h.launch(framework("F", false, &["TASK_KILLING_STATE"]), with_disk(task("filler", "dd"), 10.0));
    let running = sent(&h.ack("F", "filler", &starting)).pop().expect("RUNNING").2;
    h.ack("F", "filler", &running);
    let usage = |bytes: u64| {
        Event::Measured(vec![Usage { container_id: cid.clone(), refused_forks: None, disk_bytes: Some(bytes) }])
    };
    let out = h.ev(usage(10 << 20));
    assert!(signals(&out).is_empty(), "at the quota is fine");
    let out = h.ev(usage(11 << 20));
    assert_eq!(signals(&out), vec![KillSignal::Kill], "killed at once");
    assert!(sent(&out).is_empty(), "no TASK_KILLING for a limitation");
    assert!(measures(&h.advance(20.0)).is_empty(), "a task being failed is not measured again");
    let fin = sent(&h.ev(exited(&cid, Termination::Signaled(9)))).pop().expect("terminal update");
    let status = &fin.3.status;
    assert_eq!((status.state, status.reason), (TaskState::Failed, Some(Reason::ContainerLimitationDisk)));
    assert_eq!(status.source, Some(Source::Agent));
    assert_eq!(status.message.as_deref(), Some("Disk usage (11MB) exceeds quota (10MB)"));
    assert_eq!(status.limitation.as_ref().map(|l| l["resources"][0]["name"].clone()), Some(serde_json::json!("disk")));
}

#[test]
fn a_refused_fork_fails_the_task_even_when_it_ended_first() {
    let mut h = Harness::with(limits_config(Some(64), None), Recovery::default());
    h.register("A1");
    let (cid, starting) = h.launch(framework("F", false, &[]), task("bomb", "bomb"));
    let running = sent(&h.ack("F", "bomb", &starting)).pop().expect("RUNNING").2;
    h.ack("F", "bomb", &running);
    // What the shell sends when the process ended with forks refused: the count, then the exit.
    let counted = Event::Measured(vec![Usage { container_id: cid.clone(), refused_forks: Some(3), disk_bytes: None }]);
    let out = h.core.handle_all(at(h.now), [counted, exited(&cid, Termination::Exited(2))]);
    let fin = sent(&out).pop().expect("terminal update");
    assert_eq!((fin.1, fin.3.status.reason), (TaskState::Failed, Some(Reason::ContainerLimitation)));
    assert!(fin.3.status.message.as_deref().unwrap_or("").contains("limit of 64 processes"), "{:?}", fin.3.status);
    // Without the pids limit watched, the same count means nothing.
    let mut h = Harness::new();
    h.register("A1");
    let (cid, _) = h.launch(framework("F", false, &[]), task("t", "t"));
    let out = h.ev(Event::Measured(vec![Usage { container_id: cid, refused_forks: Some(3), disk_bytes: None }]));
    assert!(signals(&out).is_empty());
}

#[test]
fn tasks_run_as_the_commands_user_else_the_frameworks_unless_it_is_the_agents() {
    let cfg = CoreConfig { switch_user: true, agent_user: Some("root".into()), ..config() };
    let mut h = Harness::with(cfg, Recovery::default());
    h.register("A1");
    let user_of = |h: &mut Harness, fw_user: &str, cmd_user: Option<&str>, id: &str| {
        let mut fw = framework("F", false, &[]);
        fw.user = fw_user.into();
        let mut t = task(id, "true");
        if let Some(c) = t.command.as_mut() {
            c.user = cmd_user.map(str::to_string);
        }
        prepares(&h.run(fw, t)).pop().expect("prepare").user
    };
    assert_eq!(user_of(&mut h, "nobody", None, "a"), Some("nobody".into()));
    assert_eq!(user_of(&mut h, "nobody", Some("www"), "b"), Some("www".into()));
    assert_eq!(user_of(&mut h, "root", None, "c"), None, "the agent's own user: no switch");
    assert_eq!(user_of(&mut h, "", None, "d"), None);
    let mut h = Harness::with(CoreConfig { switch_user: false, ..config() }, Recovery::default());
    h.register("A1");
    assert_eq!(user_of(&mut h, "nobody", None, "e"), None, "--switch_user=false");
}

#[test]
fn measurements_that_change_nothing_leave_the_published_picture_alone() {
    let mut h = Harness::with(limits_config(Some(64), None), Recovery::default());
    h.register("A1");
    let (cid, _) = h.launch(framework("F", false, &[]), task("t", "sleep 100"));
    let version = h.core.version();
    assert_eq!(measures(&h.advance(1.0)).len(), 1);
    let fine = Usage { container_id: cid.clone(), refused_forks: Some(0), disk_bytes: None };
    h.ev(Event::Measured(vec![fine]));
    assert_eq!(h.core.version(), version, "no new snapshot for a tick and a measurement of nothing");
    let over = Usage { container_id: cid, refused_forks: Some(1), disk_bytes: None };
    h.ev(Event::Measured(vec![over]));
    assert_ne!(h.core.version(), version, "a limitation changes the task");
}
