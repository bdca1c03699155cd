//! cgroups v1 tests. Skipped (with a printed notice) only when not root or when no
//! writable v1 hierarchy exists.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Fixture, HIERARCHY, eventually, pid_alive, read, shell};
use containerizer::{Limits, TaskExit};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn create_sets_limits_and_destroy_removes() {
    let Some(f) = Fixture::with_cgroups("create_sets_limits_and_destroy_removes") else {
        return;
    };
    assert!(f.cgroups().subsystems().contains(&"memory"));
    let cg = f.create_cgroup("c1", 0.5, 100.0);
    let base = Path::new(HIERARCHY);
    let cpu = base.join("cpu").join(&f.root).join("c1");
    let mem = base.join("memory").join(&f.root).join("c1");
    assert_eq!(read(&cpu.join("cpu.shares")).trim(), "512");
    assert_eq!(read(&mem.join("memory.limit_in_bytes")).trim(), (100 * 1024 * 1024).to_string());
    assert_eq!(read(&mem.join("memory.soft_limit_in_bytes")).trim(), (100 * 1024 * 1024).to_string());
    // Minimums: shares 2, memory 32 MB.
    let small = f.create_cgroup("c2", 0.0001, 1.0);
    let cpu2 = base.join("cpu").join(&f.root).join("c2");
    let mem2 = base.join("memory").join(&f.root).join("c2");
    assert_eq!(read(&cpu2.join("cpu.shares")).trim(), "2");
    assert_eq!(read(&mem2.join("memory.limit_in_bytes")).trim(), (32 * 1024 * 1024).to_string());
    // Creating an existing container fails.
    assert!(f.cgroups().create("c1", Limits { cpus: 1.0, mem_mb: 64.0 }).is_err());
    assert!(f.cgroups().create("../x", Limits { cpus: 1.0, mem_mb: 64.0 }).is_err());

    assert_eq!(f.cgroups().list_containers().expect("list"), vec!["c1", "c2"]);
    assert!(f.cgroups().open("c1").is_some());
    cg.destroy().expect("destroy");
    cg.destroy().expect("destroy is idempotent");
    small.destroy().expect("destroy");
    assert!(!cpu.exists() && !mem.exists());
    assert!(f.cgroups().open("c1").is_none());
    assert!(f.cgroups().list_containers().expect("list").is_empty());
}

#[tokio::test]
async fn task_joins_all_cgroups_before_exec() {
    let Some(mut f) = Fixture::with_cgroups("task_joins_all_cgroups_before_exec") else {
        return;
    };
    let cg = f.create_cgroup("c", 1.0, 128.0);
    let mut spec = f.spec("t", shell("cat /proc/self/cgroup"));
    spec.cgroups = Some(cg.clone());
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    let out = read(&spec.stdout);
    for sub in f.cgroups().subsystems() {
        let want = format!("/{}/c", f.root);
        assert!(
            out.lines().any(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
                ctrls.is_some_and(|c| c.split(',').any(|c| c == sub)) && path == Some(&want)
            }),
            "{sub} not joined:\n{out}"
        );
    }
    cg.destroy().expect("destroy");
}

#[tokio::test]
async fn kill_all_kills_the_whole_tree() {
    let Some(mut f) = Fixture::with_cgroups("kill_all_kills_the_whole_tree") else {
        return;
    };
    let cg = f.create_cgroup("tree", 1.0, 128.0);
    let mut spec = f.spec(
        "t",
        // One child escapes the process group: the cgroup still catches it.
        shell("sleep 100 & sleep 100 & setsid sleep 100 & echo ready > ready; wait"),
    );
    spec.cgroups = Some(cg.clone());
    let ready = spec.working_dir.join("ready");
    let (launched, m) = f.launch(&spec);
    eventually("tree started", T, || ready.exists() && cg.pids().is_ok_and(|p| p.len() == 4)).await;
    let pids = cg.pids().expect("pids");
    assert!(pids.contains(&launched.task_pid));
    assert!(!pids.contains(&launched.monitor_pid), "monitor must stay outside");

    cg.kill_all().expect("kill_all");
    assert!(cg.pids().expect("pids").is_empty());
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
    for pid in pids {
        assert!(!pid_alive(pid), "{pid} survived");
    }
    cg.destroy().expect("destroy");
    assert!(f.cgroups().open("tree").is_none());
}

#[tokio::test]
async fn oom_kill_is_detected_and_neighbour_survives() {
    let Some(mut f) = Fixture::with_cgroups("oom_kill_is_detected_and_neighbour_survives") else {
        return;
    };
    let hog_cg = f.create_cgroup("hog", 1.0, 64.0);
    let quiet_cg = f.create_cgroup("quiet", 1.0, 64.0);

    let mut quiet = f.spec("quiet", shell("echo ready > ready; exec sleep 100"));
    quiet.cgroups = Some(quiet_cg.clone());
    let quiet_ready = quiet.working_dir.join("ready");
    let (quiet_launched, quiet_m) = f.launch(&quiet);
    eventually("neighbour ready", T, || quiet_ready.exists()).await;

    // tail keeps everything since the last newline: /dev/zero has none, so it grows
    // to 300 MB, far above the 64 MB limit.
    let mut hog = f.spec("hog", shell("head -c 300M /dev/zero | tail"));
    hog.cgroups = Some(hog_cg.clone());
    let (_, hog_m) = f.launch(&hog);
    let exit = f.wait(hog_m).await;
    // sh reports the OOM-killed tail as 128 + 9.
    assert!(matches!(exit, TaskExit::Exited(137) | TaskExit::Signaled(libc::SIGKILL)), "{exit:?}");
    assert!(hog_cg.oom_killed().expect("oom_killed"));
    assert!(!quiet_cg.oom_killed().expect("oom_killed"));
    assert!(quiet_cg.memory_usage().expect("usage") < 64 * 1024 * 1024);

    assert!(pid_alive(quiet_launched.task_pid), "neighbour was killed");
    assert_eq!(f.monitored(quiet_m).try_exit(), None);
    quiet_cg.destroy().expect("destroy");
    assert_eq!(f.wait(quiet_m).await, TaskExit::Signaled(libc::SIGKILL));
    hog_cg.destroy().expect("destroy");
}

#[tokio::test]
async fn leftovers_in_cgroups_are_killed_when_the_task_exits() {
    let Some(mut f) = Fixture::with_cgroups("leftovers_in_cgroups_are_killed_when_the_task_exits") else {
        return;
    };
    let cg = f.create_cgroup("c", 1.0, 64.0);
    // The daemon leaves the task's process group and session; only the cgroup knows it.
    let mut spec = f.spec("t", shell("setsid sleep 100 & echo $! > bg; exit 0"));
    spec.cgroups = Some(cg.clone());
    let (_, m) = f.launch(&spec);
    assert_eq!(f.wait(m).await, TaskExit::Exited(0));
    assert!(cg.pids().expect("pids").is_empty());
    let bg: i32 = read(&spec.working_dir.join("bg")).trim().parse().expect("pid");
    assert!(!pid_alive(bg));
    cg.destroy().expect("destroy");
}

#[tokio::test]
async fn orphaned_containers_can_be_listed_and_destroyed() {
    let Some(mut f) = Fixture::with_cgroups("orphaned_containers_can_be_listed_and_destroyed") else {
        return;
    };
    let cg = f.create_cgroup("orphan", 1.0, 64.0);
    let mut spec = f.spec("t", shell("sleep 100"));
    spec.cgroups = Some(cg);
    let (_, m) = f.launch(&spec);
    // "After a restart": only the root and the id are known.
    let ids = f.cgroups().list_containers().expect("list");
    assert_eq!(ids, vec!["orphan"]);
    let reopened = f.cgroups().open("orphan").expect("open");
    eventually("task in cgroup", T, || reopened.pids().is_ok_and(|p| !p.is_empty())).await;
    reopened.destroy().expect("destroy");
    assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
    assert!(f.cgroups().list_containers().expect("list").is_empty());
}
