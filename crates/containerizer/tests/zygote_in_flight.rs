//! Launches in flight when the zygote dies. A test binary of its own (its own zygote), so
//! that killing the zygote does not disturb other tests.

mod common;

use std::time::Duration;

use common::{Fixture, eventually, pid_alive, ppid, shell};
use containerizer::{Signal, TaskExit};

#[tokio::test]
async fn launches_in_flight_when_the_zygote_dies_are_sent_to_a_new_one() {
    let mut f = Fixture::new();
    let (first, first_m) = f.launch(&f.spec("warm", shell("exec sleep 100")));
    let zygote = ppid(first.monitor_pid);
    // A stopped zygote takes requests into its socket but forks nothing; killed, it leaves
    // every launch in flight without a report.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), Signal::SIGSTOP).expect("stop zygote");
    // Each waits for its `go` file, so that its monitor is there to be looked at.
    let wait_then_exit =
        |code: i32| shell(&format!("for i in $(seq 3000); do [ -e go ] && exit {code}; sleep 0.01; done"));
    let specs: Vec<_> = (0..3).map(|i| f.spec(&format!("t{i}"), wait_then_exit(10 + i))).collect();
    let pending: Vec<_> = specs.iter().map(|s| containerizer::launch_start(s).expect("request sent")).collect();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), Signal::SIGKILL).expect("kill zygote");
    eventually("zygote dead", Duration::from_secs(10), || !pid_alive(zygote)).await;
    for (i, (spec, pending)) in specs.iter().zip(pending).enumerate() {
        let launched = pending.finish(spec).expect("launched by a new zygote");
        assert_ne!(ppid(launched.monitor_pid), zygote);
        let m = f.adopt(containerizer::Monitored::new(&launched, &spec.status_file).expect("monitor"));
        std::fs::write(spec.working_dir.join("go"), "").expect("go");
        assert_eq!(f.wait(m).await, TaskExit::Exited(10 + i as i32));
    }
    assert!(f.monitored(first_m).signal_group(Signal::SIGKILL).expect("kill"));
    assert_eq!(f.wait(first_m).await, TaskExit::Signaled(libc::SIGKILL));
}
