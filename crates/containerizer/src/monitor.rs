//! Waiting for a task's monitor, also after an agent restart.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};
use crate::launch::Launched;
use crate::sys;

/// How a task ended, as recorded by its monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskExit {
    /// The task's top process exited with this status (127: it could not be exec'd).
    Exited(i32),
    /// The task's top process was terminated by this signal number.
    Signaled(i32),
    /// Nothing was recorded: the monitor itself died (e.g. it was SIGKILLed) or the
    /// status file is gone. The task may still be running: kill its cgroups / group.
    Unknown,
}

/// A task's monitor, to wait for the task's end.
///
/// Built right after [`crate::launch`] with [`Monitored::new`], or after an agent
/// restart from checkpointed integers with [`Monitored::recover`].
#[derive(Debug)]
pub struct Monitored {
    monitor_pid: i32,
    task_pgid: i32,
    status_file: PathBuf,
    /// `None` when the monitor was already gone (or its pid reused) at recovery.
    pidfd: Option<OwnedFd>,
}

impl Monitored {
    /// For a task just started by [`crate::launch`] with `status_file` as
    /// `LaunchSpec::status_file`.
    pub fn new(launched: &Launched, status_file: impl Into<PathBuf>) -> Result<Self> {
        Self::recover(launched.monitor_pid, launched.monitor_start_ticks, status_file, launched.task_pid)
    }

    /// Rebuilds a handle from checkpointed values, e.g. after the agent restarted while
    /// the task kept running. If no process `monitor_pid` exists, or it is a different
    /// process (its start time is not `monitor_start_ticks`: the pid was reused), the
    /// monitor is treated as gone and [`Monitored::wait_exit`] returns what the status
    /// file says at once.
    pub fn recover(
        monitor_pid: i32,
        monitor_start_ticks: u64,
        status_file: impl Into<PathBuf>,
        task_pgid: i32,
    ) -> Result<Self> {
        if monitor_pid <= 1 {
            return Err(Error::invalid("monitor pid", monitor_pid.to_string()));
        }
        // Open first, then check the start time: if the check passes, the descriptor
        // refers to the original monitor (a pid cannot be reused while it exists, and a
        // process that replaced it would have another start time).
        let pidfd = match sys::pidfd_open(monitor_pid) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => None,
            Err(e) => return Err(Error::sys("pidfd_open", e)),
        };
        let pidfd = pidfd.filter(|_| start_ticks(monitor_pid) == Some(monitor_start_ticks));
        Ok(Monitored { monitor_pid, task_pgid, status_file: status_file.into(), pidfd })
    }

    /// The monitor's pid.
    pub fn monitor_pid(&self) -> i32 {
        self.monitor_pid
    }

    /// The task's process group id (= the pid of its top process).
    pub fn task_pgid(&self) -> i32 {
        self.task_pgid
    }

    /// The status file the monitor writes to.
    pub fn status_file(&self) -> &Path {
        &self.status_file
    }

    /// Waits until the monitor has exited, reaps it if it is our child, and returns
    /// the recorded exit. Must run inside a tokio runtime with I/O enabled.
    ///
    /// The monitor exits right after the task's top process did and the rest of the
    /// task (its process group and cgroups) has been killed. Cancel-safe; may be
    /// called again (and concurrently) and then returns the same result.
    pub async fn wait_exit(&self) -> TaskExit {
        if let Some(pidfd) = &self.pidfd {
            if let Err(e) = wait_readable(pidfd).await {
                tracing::warn!(
                    monitor_pid = self.monitor_pid,
                    error = %e,
                    "containerizer: cannot watch the monitor's pidfd, polling instead"
                );
                while !matches!(sys::poll_readable(pidfd.as_fd(), 0), Ok(true) | Err(_)) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            reap(pidfd);
        }
        self.read_status()
    }

    /// Non-blocking [`Monitored::wait_exit`]: `None` while the monitor is running.
    pub fn try_exit(&self) -> Option<TaskExit> {
        if let Some(pidfd) = &self.pidfd {
            match sys::poll_readable(pidfd.as_fd(), 0) {
                Ok(false) => return None,
                Ok(true) | Err(_) => reap(pidfd),
            }
        }
        Some(self.read_status())
    }

    /// Sends `signal` to the task's process group, but only while the monitor is still
    /// running (which guarantees that the group id still belongs to this task).
    /// Returns whether a signal was sent.
    pub fn signal_group(&self, signal: nix::sys::signal::Signal) -> Result<bool> {
        match &self.pidfd {
            Some(pidfd) if matches!(sys::poll_readable(pidfd.as_fd(), 0), Ok(false)) => {
                crate::signal_group(self.task_pgid, signal)
            }
            _ => Ok(false),
        }
    }

    fn read_status(&self) -> TaskExit {
        read_status_file(&self.status_file)
    }
}

/// What a monitor recorded in `status_file` ([`TaskExit::Unknown`] when there is no such file
/// or no status in it), for a task whose monitor is not known (e.g. its launch was never
/// recorded before the agent died).
pub fn read_status_file(status_file: &Path) -> TaskExit {
    match std::fs::read_to_string(status_file) {
        Ok(text) => parse_status(&text),
        Err(_) => TaskExit::Unknown,
    }
}

async fn wait_readable(pidfd: &OwnedFd) -> io::Result<()> {
    // A duplicate per call, so that concurrent waiters register distinct descriptors.
    // `with_interest` is deprecated in recent tokio in favour of the `unsafe`
    // `register_with_interest` because an arbitrary `AsRawFd` may close its descriptor
    // behind tokio's back; an `OwnedFd` owned by the `AsyncFd` cannot, so this is sound
    // (and keeps working with older tokio 1.x releases).
    #[allow(deprecated)]
    let fd = AsyncFd::with_interest(pidfd.try_clone()?, Interest::READABLE)?;
    loop {
        let mut guard = fd.readable().await?;
        if sys::poll_readable(fd.get_ref().as_fd(), 0)? {
            return Ok(());
        }
        guard.clear_ready();
    }
}

/// Reaps the monitor if it is our child; ECHILD (not our child, or already reaped) is
/// expected after an agent restart and ignored.
fn reap(pidfd: &OwnedFd) {
    if let Err(e) = sys::reap_pidfd(pidfd.as_fd())
        && e.raw_os_error() != Some(libc::ECHILD)
    {
        tracing::warn!(error = %e, "containerizer: waitid on monitor failed");
    }
}

/// Parses a status record (`exited N` / `signaled N`).
fn parse_status(text: &str) -> TaskExit {
    let mut words = text.split_whitespace();
    match (words.next(), words.next().and_then(|n| n.parse::<i32>().ok())) {
        (Some("exited"), Some(code)) => TaskExit::Exited(code),
        (Some("signaled"), Some(sig)) => TaskExit::Signaled(sig),
        _ => TaskExit::Unknown,
    }
}

/// Field 22 of `/proc/<pid>/stat`: the process start time in clock ticks since boot.
pub(crate) fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state), so field 22 is the 20th word.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_records() {
        assert_eq!(parse_status("exited 3\n"), TaskExit::Exited(3));
        assert_eq!(parse_status("signaled 9\n"), TaskExit::Signaled(9));
        assert_eq!(parse_status(""), TaskExit::Unknown);
        assert_eq!(parse_status("exited\n"), TaskExit::Unknown);
        assert_eq!(parse_status("garbage 1"), TaskExit::Unknown);
    }

    #[test]
    fn reads_own_start_ticks() {
        let me = std::process::id() as i32;
        assert!(start_ticks(me).is_some());
        assert_eq!(start_ticks(i32::MAX), None);
    }
}
