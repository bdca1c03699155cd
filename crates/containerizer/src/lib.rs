//! Runs Mesos command tasks as real process trees on Linux.
//!
//! Each task runs in its own session / process group and (optionally) its own cgroups
//! v1, under a small *monitor* process that records the task's exact wait status in a
//! file. Monitors are independent of the agent: if the agent is SIGKILLed and
//! restarted, tasks keep running with the same pids, and the restarted agent learns how
//! they ended with [`Monitored::recover`] + [`Monitored::wait_exit`].
//!
//! ```text
//! agent ──clone(VM|VFORK)+exec, once──▶ zygote (embedded ~1 MB static helper, own session)
//!   │  request over a Unix socket           └─fork──▶ monitor (own session, subreaper,
//!   │  (argv, env, paths + 4 fds)                         not in the task cgroups)
//!   │                                                      └─vfork──▶ task: own process group,
//!   ◀── report pipe: monitor pid, task pid, ok ──────────────────  chdir, joins cgroups, exec
//! ```
//!
//! * [`launch`] (blocking; or [`launch_start`] then [`PendingLaunch::finish`], to have several
//!   in flight on one thread) / [`launch_async`] start a task and return plain integers
//!   ([`Launched`]) to checkpoint.
//! * [`Monitored::wait_exit`] waits on a pidfd (works for non-children, e.g. after an
//!   agent restart) and returns a [`TaskExit`]. When the task's top process exits, the
//!   monitor records its status, SIGKILLs what remains of the task (process group and
//!   cgroups, as a Mesos container destroy would), reaps it, and exits.
//! * [`signal_group`] / [`Monitored::signal_group`] signal the whole process group
//!   (SIGTERM, then SIGKILL after the agent's grace period);
//!   [`TaskCgroups::kill_all`] / [`TaskCgroups::destroy`] kill everything in the
//!   cgroups and remove them; [`TaskCgroups::oom_killed`] detects OOM kills;
//!   [`Cgroups::list_containers`] finds leftovers after a restart.
//!
//! # Why a zygote
//!
//! The monitor lives as long as its task, so it must not be a plain fork of the agent:
//! a long-lived fork keeps every agent page it was forked with (copy-on-write) for the
//! task's whole life, i.e. up to the agent's whole heap per task (measured here: 40
//! such forks of a process rewriting a 50 MB heap pinned 2 GB), plus a copy of the
//! agent's page tables. Exec'ing a helper per task avoids that but costs a full exec
//! (~0.6 ms on the reference VM, as much as the task's own). So the embedded helper
//! (`monitor/main.rs`, built by `build.rs`, run from a sealed memfd) is exec'd once per
//! process as a zygote, and forks one small monitor per task: two forks of a tiny
//! process plus the task's own exec.
//!
//! The zygote is the caller's child; it exits when the caller does (EOF on its socket)
//! and is restarted transparently if it dies. Monitors are its children and are reaped
//! by the kernel as soon as they exit. Monitors are *not* in the task's cgroups (so
//! killing the cgroups does not lose the status) but stay in the agent's: under
//! systemd, run the agent with `KillMode=process`.
//!
//! # Caveats
//!
//! * [`TaskExit::Unknown`] means the monitor died without recording anything: the task
//!   may still run; kill its cgroups.
//! * Linux only (pidfd: 5.3+, `close_range`: 5.9+ with a fallback); the embedded
//!   helper hard-codes Linux constants of x86_64 / aarch64 / riscv64 / loongarch64.
#![cfg(target_os = "linux")]

mod cgroups;
mod error;
pub mod isolators;
mod launch;
mod monitor;
mod sys;
mod zygote;

pub use cgroups::{CgroupStatistics, Cgroups, Limits, TaskCgroups};
pub use error::{Error, Result};
pub use isolators::Isolation;
pub use launch::{
    LaunchSpec, Launched, LogRotation, PendingLaunch, Rotate, TaskCommand, UserCreds, launch, launch_async,
    launch_start,
};
pub use monitor::{Monitored, TaskExit, read_status_file};
pub use nix::sys::signal::Signal;

/// Sends `signal` to the process group `pgid` (a task's [`Launched::task_pid`]).
///
/// Returns `Ok(false)` if the group no longer exists. Prefer
/// [`Monitored::signal_group`], which only signals while the task's monitor is alive
/// and the group id therefore cannot have been reused.
pub fn signal_group(pgid: i32, signal: Signal) -> Result<bool> {
    if pgid <= 1 {
        return Err(Error::invalid("process group", pgid.to_string()));
    }
    match nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(e) => Err(Error::sys("killpg", e.into())),
    }
}

/// The monitor program's source, also compiled here in test builds so that it is
/// type-checked, linted and formatted together with the crate (`build.rs` builds the
/// real, standalone binary from the same file).
#[cfg(test)]
#[allow(unsafe_code, dead_code)]
#[path = "../monitor/main.rs"]
mod monitor_program;
