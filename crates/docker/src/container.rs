//! A running container: its handle ([`Container`]: wait, stop, signal, addresses), how it
//! ended ([`ContainerExit`]), and the pump that copies its output into the sandbox's files.

use crate::error::{self, Error};
use crate::output::{LogFiles, OutputState, Sink};
use crate::spec::labels;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures::StreamExt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, warn};

/// How long [`Container::wait`] waits for the output of an ended container to reach the
/// files before it reports the exit anyway.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Container::wait`] asks again whether a SIGKILLed container was OOM-killed, and
/// how often.
const OOM_RECORD_WAIT: Duration = Duration::from_secs(1);
const OOM_RECORD_POLL: Duration = Duration::from_millis(50);
/// The exit code of a process killed by SIGKILL.
const SIGKILL_EXIT: i64 = 128 + 9;

/// Pause before a failed wait or log stream is retried (dockerd restarting, a dropped socket).
const RETRY_DELAY: Duration = Duration::from_millis(250);

/// How a container ended, from dockerd's record (`State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    /// `State.ExitCode` (128 + n for a process killed by signal n).
    pub exit_code: i64,
    /// `State.OOMKilled`: the memory cgroup hit its limit.
    pub oom_killed: bool,
    /// `State.Error`, when dockerd could not run the container's process.
    pub error: Option<String>,
    /// Whether the container ever started (one created but never started has not).
    pub started: bool,
    /// The container's memory limit (`HostConfig.Memory`), for the OOM message.
    pub memory_limit_bytes: Option<i64>,
}

impl ContainerExit {
    fn from_inspect(inspect: &ContainerInspectResponse) -> ContainerExit {
        let state = inspect.state.clone().unwrap_or_default();
        let started = state.started_at.as_deref().is_some_and(|t| !t.is_empty() && !t.starts_with("0001-01-01"));
        ContainerExit {
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.filter(|e| !e.is_empty()),
            started,
            memory_limit_bytes: inspect.host_config.as_ref().and_then(|h| h.memory).filter(|m| *m > 0),
        }
    }

    /// Exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        self.started && self.exit_code == 0 && !self.oom_killed && self.error.is_none()
    }

    /// A status message, as Mesos' Docker executor words it ("Container exited with status
    /// 3"), saying "Memory limit exceeded" for an OOM kill.
    pub fn message(&self) -> String {
        if !self.started {
            return format!("Container never started: {}", self.error.as_deref().unwrap_or("unknown reason"));
        }
        if self.oom_killed {
            let limit = match self.memory_limit_bytes {
                Some(bytes) => format!("{} MB", bytes / (1024 * 1024)),
                None => "unknown".to_string(),
            };
            return format!(
                "Memory limit exceeded: the container was OOM-killed (limit {limit}, exit status {})",
                self.exit_code
            );
        }
        match &self.error {
            Some(e) => format!("Container exited with status {}: {e}", self.exit_code),
            None => format!("Container exited with status {}", self.exit_code),
        }
    }
}

/// A container of this agent, running or ended; cheap to clone. Its output is copied into
/// the sandbox's files for as long as a handle exists.
#[derive(Debug, Clone)]
pub struct Container {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: bollard::Docker,
    name: String,
    container_id: String,
    docker_id: String,
    ip_addresses: Vec<IpAddr>,
    pid: Option<u32>,
    stop_signal: Option<String>,
    logs_done: watch::Receiver<bool>,
    pump: tokio::task::AbortHandle,
    /// Whether the agent stopped or signalled it (then a SIGKILL exit is no OOM to wait for).
    signalled: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Container {
    /// Builds the handle of an inspected container and starts copying its output, skipping
    /// the bytes of each stream that are already in the files.
    pub(crate) fn new(
        client: bollard::Docker,
        inspect: &ContainerInspectResponse,
        container_id: String,
        files: LogFiles,
        skip: (u64, u64),
    ) -> Container {
        let name = inspect.name.as_deref().unwrap_or_default().trim_start_matches('/').to_string();
        let (done_tx, logs_done) = watch::channel(false);
        let pump = tokio::spawn(pump_logs(client.clone(), name.clone(), files, skip, done_tx)).abort_handle();
        let state = inspect.state.as_ref();
        Container {
            inner: Arc::new(Inner {
                docker_id: inspect.id.clone().unwrap_or_default(),
                ip_addresses: ip_addresses(inspect),
                pid: state.and_then(|s| s.pid).and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0),
                stop_signal: inspect.config.as_ref().and_then(|c| c.stop_signal.clone()),
                client,
                name,
                container_id,
                logs_done,
                pump,
                signalled: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// `mesos-<containerId>`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn container_id(&self) -> &str {
        &self.inner.container_id
    }

    /// dockerd's id of the container.
    pub fn docker_id(&self) -> &str {
        &self.inner.docker_id
    }

    /// The container's addresses on its bridge or user-defined network (none on the host
    /// network: the task has the agent's), as upstream reports them in `NetworkInfo`s.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.inner.ip_addresses
    }

    /// The container's init process on the host, while it ran when the handle was made.
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid
    }

    /// Waits until the container is not running, then until its output is in the files (at
    /// most [`LOG_DRAIN_TIMEOUT`]), and returns how it ended. A failed wait (dockerd
    /// restarting) is retried; [`Error::NotFound`] if the container was removed meanwhile.
    pub async fn wait(&self) -> Result<ContainerExit, Error> {
        let name = &self.inner.name;
        loop {
            let options = WaitContainerOptions { condition: "not-running".to_string() };
            let mut stream = self.inner.client.wait_container(name, Some(options));
            match stream.next().await {
                // bollard reports a non-zero exit as an error: the exit itself comes from inspect.
                Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => break,
                Some(Err(e)) if error::is_not_found(&e) => return Err(Error::NotFound { name: name.clone() }),
                Some(Err(e)) => debug!(container = %name, error = %e, "waiting for the container failed; retrying"),
                None => debug!(container = %name, "the wait ended without an answer; retrying"),
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
        let mut done = self.inner.logs_done.clone();
        if tokio::time::timeout(LOG_DRAIN_TIMEOUT, done.wait_for(|d| *d)).await.is_err() {
            warn!(container = %name, "the container's output did not reach the sandbox in time");
        }
        let not_running =
            || Error::Api { what: "wait", name: name.clone(), message: "the container runs again".to_string() };
        let mut exit = self.exit().await?.ok_or_else(not_running)?;
        // dockerd records an OOM kill from the kernel's event, which may come just after the
        // exit: a container with a memory limit that died of SIGKILL nobody here sent is asked
        // again for a moment before its end is reported as anything but an OOM.
        let deadline = tokio::time::Instant::now() + OOM_RECORD_WAIT;
        while exit.exit_code == SIGKILL_EXIT
            && !exit.oom_killed
            && exit.memory_limit_bytes.is_some_and(|m| m > 0)
            && !self.inner.signalled.load(std::sync::atomic::Ordering::Relaxed)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(OOM_RECORD_POLL).await;
            exit = self.exit().await?.ok_or_else(not_running)?;
        }
        Ok(exit)
    }

    /// How the container ended, or `None` while it runs.
    pub async fn exit(&self) -> Result<Option<ContainerExit>, Error> {
        let inspect = inspect(&self.inner.client, &self.inner.name).await?;
        let running = inspect.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        Ok((!running).then(|| ContainerExit::from_inspect(&inspect)))
    }

    /// `docker stop`: the container's stop signal (SIGTERM unless the image or a `stop-signal`
    /// parameter says otherwise), then SIGKILL after `grace` (rounded up to whole seconds, the
    /// API's unit). Returns once the container stopped. Stopping a stopped container is fine.
    pub async fn stop(&self, grace: Duration) -> Result<(), Error> {
        self.inner.signalled.store(true, std::sync::atomic::Ordering::Relaxed);
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let t = i32::try_from(secs).unwrap_or(i32::MAX);
        // The answer comes when the container has stopped: after the grace period at most.
        let client = self.inner.client.clone().with_timeout(Duration::from_secs(secs + 120));
        let options = StopContainerOptions { signal: None, t: Some(t) };
        match client.stop_container(&self.inner.name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if error::status(&e) == Some(304) => Ok(()),
            Err(e) => Err(Error::api("stop", &self.inner.name, &e)),
        }
    }

    /// Sends `signal` (`SIGTERM`, `TERM`, `15`, ...) to the container's init process. A
    /// container that is not running is left alone.
    pub async fn signal(&self, signal: &str) -> Result<(), Error> {
        self.inner.signalled.store(true, std::sync::atomic::Ordering::Relaxed);
        let options = KillContainerOptions { signal: signal.to_string() };
        match self.inner.client.kill_container(&self.inner.name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if error::status(&e) == Some(409) => Ok(()),
            Err(e) => Err(Error::api("kill", &self.inner.name, &e)),
        }
    }

    /// Sends the container's stop signal (what `docker stop` sends first).
    pub async fn terminate(&self) -> Result<(), Error> {
        let signal = self.inner.stop_signal.clone().unwrap_or_else(|| "SIGTERM".to_string());
        self.signal(&signal).await
    }

    /// SIGKILL.
    pub async fn kill(&self) -> Result<(), Error> {
        self.signal("SIGKILL").await
    }

    /// Removes the container (killing it if it runs) and its anonymous volumes.
    pub async fn remove(&self) -> Result<(), Error> {
        remove(&self.inner.client, &self.inner.name).await
    }

    /// `docker exec`: runs `cmd` (an argv) inside the running container with `env` (`K=V`)
    /// added to the container's environment, and returns its exit code and the first
    /// [`EXEC_OUTPUT_LIMIT`] bytes of its output (stdout and stderr together). With a
    /// `timeout`, a command still running then is killed (SIGKILL to its process, found on the
    /// host by the pid dockerd reports) and [`ExecError::TimedOut`] returned.
    pub async fn exec(
        &self,
        cmd: Vec<String>,
        env: Vec<String>,
        timeout: Option<Duration>,
    ) -> Result<ExecOutput, ExecError> {
        let name = &self.inner.name;
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            env: (!env.is_empty()).then_some(env),
            cmd: Some(cmd),
            ..Default::default()
        };
        let created = self.inner.client.create_exec(name, options).await.map_err(|e| Error::api("exec", name, &e))?;
        let id = created.id;
        let run = async {
            let started = self.inner.client.start_exec(&id, None::<StartExecOptions>).await;
            let mut output = Vec::new();
            if let StartExecResults::Attached { output: mut stream, .. } =
                started.map_err(|e| Error::api("exec", name, &e))?
            {
                while let Some(item) = stream.next().await {
                    let bytes = match item {
                        Ok(log) => log.into_bytes(),
                        Err(e) => return Err(Error::api("exec", name, &e)),
                    };
                    let room = EXEC_OUTPUT_LIMIT.saturating_sub(output.len());
                    output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
            // The stream ends when the process has exited; dockerd records the code just after.
            loop {
                let inspect = self.inner.client.inspect_exec(&id).await.map_err(|e| Error::api("exec", name, &e))?;
                if inspect.running != Some(true) {
                    return Ok(ExecOutput {
                        exit_code: inspect.exit_code.unwrap_or(-1),
                        output: String::from_utf8_lossy(&output).into_owned(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let Some(limit) = timeout else { return run.await.map_err(ExecError::Docker) };
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result.map_err(ExecError::Docker),
            Err(_) => {
                // dockerd cannot kill an exec'd process; its pid on the host can be.
                if let Ok(inspect) = self.inner.client.inspect_exec(&id).await
                    && inspect.running == Some(true)
                    && let Some(pid) = inspect.pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0)
                    && let Err(e) =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
                {
                    debug!(container = %name, pid, error = %e, "cannot kill a timed-out exec");
                }
                Err(ExecError::TimedOut(limit))
            }
        }
    }
}

/// Output bytes [`Container::exec`] keeps.
pub const EXEC_OUTPUT_LIMIT: usize = 4096;

/// How a [`Container::exec`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// The first [`EXEC_OUTPUT_LIMIT`] bytes of stdout and stderr, as they came.
    pub output: String,
}

/// Why a [`Container::exec`] has no exit code.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Docker(#[from] Error),
    #[error("the command did not end within {0:?}")]
    TimedOut(Duration),
}

pub(crate) async fn inspect(client: &bollard::Docker, name: &str) -> Result<ContainerInspectResponse, Error> {
    client.inspect_container(name, None::<InspectContainerOptions>).await.map_err(|e| Error::api("inspect", name, &e))
}

pub(crate) async fn remove(client: &bollard::Docker, name: &str) -> Result<(), Error> {
    let options = RemoveContainerOptions { v: true, force: true, link: false };
    match client.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        // "removal already in progress"
        Err(e) if error::status(&e) == Some(409) => Ok(()),
        Err(e) => Err(Error::api("remove", name, &e)),
    }
}

/// The owner label of an inspected container.
pub(crate) fn owner(inspect: &ContainerInspectResponse) -> Option<&str> {
    inspect.config.as_ref()?.labels.as_ref()?.get(labels::OWNER).map(String::as_str)
}

/// The container's addresses on the network of its `NetworkMode` (as upstream looks them
/// up), IPv4 first.
fn ip_addresses(inspect: &ContainerInspectResponse) -> Vec<IpAddr> {
    let mode = inspect.host_config.as_ref().and_then(|h| h.network_mode.clone()).unwrap_or_default();
    let mode = if mode == "default" { "bridge".to_string() } else { mode };
    let Some(endpoint) = inspect.network_settings.as_ref().and_then(|n| n.networks.as_ref()).and_then(|n| n.get(&mode))
    else {
        return Vec::new();
    };
    [&endpoint.ip_address, &endpoint.global_ipv6_address]
        .into_iter()
        .filter_map(|a| a.as_deref().filter(|a| !a.is_empty()).and_then(|a| a.parse().ok()))
        .collect()
}

/// Copies the container's log into the files (appending), skipping the first `skip` bytes of
/// stdout and stderr, until the log ends (the container stopped). A broken stream is
/// re-read from the start, skipping what was already copied. Signals `done` at the end.
async fn pump_logs(
    client: bollard::Docker,
    name: String,
    files: LogFiles,
    skip: (u64, u64),
    done: watch::Sender<bool>,
) {
    if let Err(e) = copy_logs(&client, &name, &files, skip).await {
        warn!(container = %name, error = %e, "cannot copy the container's output to the sandbox");
    }
    let _ = done.send(true);
}

async fn copy_logs(client: &bollard::Docker, name: &str, files: &LogFiles, skipped: (u64, u64)) -> std::io::Result<()> {
    let rotate = files.rotate;
    let mut stdout = Sink::open(&files.stdout, rotate.map(|r| r.0)).await?;
    let mut stderr = Sink::open(&files.stderr, rotate.map(|r| r.1)).await?;
    // Bytes of each stream seen in the log so far (copied or skipped).
    let (mut seen_out, mut seen_err) = (0u64, 0u64);
    loop {
        let options = LogsOptions { follow: true, stdout: true, stderr: true, ..Default::default() };
        let mut stream = client.logs(name, Some(options));
        let (mut read_out, mut read_err) = (0u64, 0u64);
        let mut failed = false;
        while let Some(item) = stream.next().await {
            let (bytes, read, seen, skip, sink) = match item {
                Ok(bollard::container::LogOutput::StdOut { message })
                | Ok(bollard::container::LogOutput::Console { message }) => {
                    (message, &mut read_out, &mut seen_out, skipped.0, &mut stdout)
                }
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    (message, &mut read_err, &mut seen_err, skipped.1, &mut stderr)
                }
                Ok(bollard::container::LogOutput::StdIn { .. }) => continue,
                Err(e) if error::is_not_found(&e) => return Ok(()),
                Err(e) => {
                    debug!(container = name, error = %e, "the log stream broke; reading it again");
                    failed = true;
                    break;
                }
            };
            // This read's position in the stream, and how much of the chunk is new.
            let start = *read;
            *read += bytes.len() as u64;
            let already = (*seen).max(skip);
            if *read > already {
                let from = usize::try_from(already.saturating_sub(start)).unwrap_or(usize::MAX).min(bytes.len());
                sink.write(&bytes[from..]).await?;
                *seen = *read;
                // Rotated files no longer tell how much was copied: the record does.
                if let Some(rotate) = rotate {
                    // What the record counts is in the file first.
                    sink.flush().await?;
                    let copied = (seen_out.max(skipped.0), seen_err.max(skipped.1));
                    OutputState { rotate, copied }.write(&files.state_path()).await?;
                }
            }
        }
        if !failed {
            stdout.flush().await?;
            stderr.flush().await?;
            return Ok(());
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
}
