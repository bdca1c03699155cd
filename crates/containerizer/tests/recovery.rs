//! Agent-restart recovery across processes: a helper process (this test binary
//! re-run in helper mode) launches the task, prints the integers an agent would
//! checkpoint, and exits without waiting, so the monitor is no longer our child. This
//! process then recovers it from those integers alone.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Fixture, eventually, shell};
use containerizer::{Monitored, TaskExit};

const HELPER_ENV: &str = "CONTAINERIZER_RECOVERY_HELPER_SANDBOX";

/// Helper mode only (a no-op in a normal run): launch and exit without waiting.
#[test]
fn helper_launch_and_exit() {
    let Some(sandbox) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let sandbox = std::path::PathBuf::from(sandbox);
    let spec = containerizer::LaunchSpec {
        command: shell("for i in $(seq 3000); do [ -e go ] && exit 7; sleep 0.01; done; exit 99"),
        env: vec![("PATH".into(), common::PATH.into())],
        working_dir: sandbox.clone(),
        stdout: sandbox.join("stdout"),
        stderr: sandbox.join("stderr"),
        status_file: sandbox.join("status"),
        cgroups: None,
        user: None,
        private_tmp: None,
        log_rotation: None,
    };
    let l = containerizer::launch(&spec).expect("launch");
    println!("LAUNCHED {} {} {}", l.monitor_pid, l.monitor_start_ticks, l.task_pid);
}

#[tokio::test]
async fn recovers_a_monitor_started_by_a_dead_process() {
    let mut f = Fixture::new();
    let sandbox = f.sandbox("t");
    std::fs::create_dir_all(&sandbox).expect("sandbox");
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", "helper_launch_and_exit", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, &sandbox)
        .output()
        .expect("run helper");
    assert!(out.status.success(), "helper failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("LAUNCHED ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no LAUNCHED line in {stdout}"));
    let nums: Vec<i64> = line.split_whitespace().map(|n| n.parse().expect("integer")).collect();
    let (pid, ticks, pgid) = (nums[0] as i32, nums[1] as u64, nums[2] as i32);

    // The launcher is gone; the monitor lives on and is not our child.
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .expect("monitor alive")
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(String::from))
        .expect("ppid");
    assert_ne!(ppid, std::process::id().to_string());

    let m = f.adopt(Monitored::recover(pid, ticks, sandbox.join("status"), pgid).expect("recover"));
    assert_eq!(f.monitored(m).try_exit(), None, "task should still run");
    std::fs::write(sandbox.join("go"), "").expect("go");
    assert_eq!(f.wait(m).await, TaskExit::Exited(7));
    eventually("task gone", Duration::from_secs(10), || !common::pid_alive(pgid)).await;
}
