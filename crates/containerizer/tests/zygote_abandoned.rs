//! Launches whose report nobody reads any more: what an agent killed in the middle of a launch
//! burst leaves. A test binary of its own (its own zygote), so that stopping the zygote does not
//! disturb other tests.

mod common;

use std::time::Duration;

use common::{Fixture, eventually, pid_alive, ppid, shell};
use containerizer::{Signal, TaskExit};

/// Processes whose working directory is inside `dir`.
fn processes_in(dir: &std::path::Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir)))
        .collect()
}

#[tokio::test]
async fn a_launch_nobody_waits_for_is_not_started_and_leaves_no_status() {
    let mut f = Fixture::new();
    let (first, first_m) = f.launch(&f.spec("warm", shell("exec sleep 100")));
    let zygote = ppid(first.monitor_pid);
    // A stopped zygote takes requests into its socket but forks nothing, so the requests below
    // are handled only after their callers are gone.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), Signal::SIGSTOP).expect("stop zygote");
    let specs: Vec<_> = (0..3).map(|i| f.spec(&format!("t{i}"), shell("touch started; exec sleep 100"))).collect();
    for spec in &specs {
        // The caller gives up (or dies) before reading the monitor's report.
        drop(containerizer::launch_start(spec).expect("request sent"));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), Signal::SIGCONT).expect("resume zygote");
    // The zygote handles requests in order: once a later launch is reported, the abandoned
    // ones were handled.
    let (_, later_m) = f.launch(&f.spec("later", shell("exec sleep 100")));
    eventually("the abandoned launches to leave nothing running", Duration::from_secs(10), || {
        specs.iter().all(|s| processes_in(&s.working_dir).is_empty())
    })
    .await;
    for spec in &specs {
        assert!(!spec.working_dir.join("started").exists(), "{} was started", spec.working_dir.display());
        assert!(
            !spec.status_file.exists(),
            "{}: a status file says the task ended: {:?}",
            spec.working_dir.display(),
            std::fs::read_to_string(&spec.status_file)
        );
    }
    assert!(pid_alive(zygote));
    for m in [first_m, later_m] {
        assert!(f.monitored(m).signal_group(Signal::SIGKILL).expect("kill"));
        assert_eq!(f.wait(m).await, TaskExit::Signaled(libc::SIGKILL));
    }
}
