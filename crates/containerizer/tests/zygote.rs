//! The per-process zygote that forks the monitors: its descriptors, and recovery from
//! its death. A separate test binary (its own zygote), so that killing the zygote does
//! not disturb other tests.

mod common;

use std::time::Duration;

use common::{Fixture, eventually, pid_alive, ppid, shell};
use containerizer::{Signal, TaskExit};

#[tokio::test]
async fn zygote_holds_only_its_own_descriptors_and_is_restarted_after_a_crash() {
    let mut f = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let spec = f.spec("a", shell("echo ready > ready; exec sleep 100"));
    let ready = spec.working_dir.join("ready");
    let (first, first_m) = f.launch(&spec);
    eventually("task ready", Duration::from_secs(10), || ready.exists()).await;

    let zygote = ppid(first.monitor_pid);
    assert_eq!(ppid(zygote), std::process::id() as i32, "the zygote is our child");
    let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{zygote}/fd"))
        .expect("fd dir")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), target)
        })
        .collect();
    fds.sort();
    let numbers: Vec<&str> = fds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(numbers, ["0", "1", "2", "3"], "{fds:?}");
    assert_eq!(fds[0].1, "/dev/null");
    assert_eq!(fds[1].1, "/dev/null");
    assert!(fds[3].1.starts_with("socket:"), "{fds:?}");
    drop(listener);

    // Crash the zygote: running tasks and their monitors are unaffected...
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), Signal::SIGKILL).expect("kill zygote");
    eventually("zygote dead", Duration::from_secs(10), || !pid_alive(zygote)).await;
    assert!(pid_alive(first.monitor_pid) && pid_alive(first.task_pid));

    // ...and the next launch starts a new zygote.
    let spec = f.spec("b", shell("for i in $(seq 3000); do [ -e go ] && exit 6; sleep 0.01; done; exit 99"));
    let (second, second_m) = f.launch(&spec);
    assert_ne!(ppid(second.monitor_pid), zygote);
    std::fs::write(spec.working_dir.join("go"), "").expect("go");
    assert_eq!(f.wait(second_m).await, TaskExit::Exited(6));

    assert!(f.monitored(first_m).signal_group(Signal::SIGKILL).expect("kill"));
    assert_eq!(f.wait(first_m).await, TaskExit::Signaled(libc::SIGKILL));
}
