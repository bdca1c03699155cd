//! The agent's use of the `docker` crate (Mesos' `--containerizers=docker`): tasks whose
//! launch has a [`DockerLaunch`](crate::core::DockerLaunch) run as containers of a dockerd,
//! named `mesos-<containerId>` and labelled with this agent's work dir (the owner), so that a
//! restarted agent finds its own containers (and only those) again. dockerd itself is the
//! durable record of a container: the agent checkpoints only which containerizer a task uses
//! (with the task's info), and [`DockerTasks::recover`] asks dockerd about those tasks.
//!
//! Everything here is IO the runtime runs in helper tasks; the decisions (which containerizer,
//! kill grace, what a recovered container means) are the core's.

use crate::core::{CommandLine, ExitInfo, KillSignal, LaunchSpec, OomInfo, RecoveredProcess, Started, Termination};
use docker::{Container, ContainerExit, Docker, LogFiles, Recovered, Settings, TaskContainer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

/// Docker launches in flight at most (each is a create, a start and an inspect; dockerd
/// works on several at once).
const LAUNCH_CONCURRENCY: usize = 8;

/// The Docker containerizer's containers.
pub struct DockerTasks {
    docker: Docker,
    live: HashMap<String, Container>,
    remove_delay: Duration,
    slots: Arc<Semaphore>,
    /// The logrotate container logger's defaults (`None`: output grows without bound).
    log_rotation: Option<containerizer::LogRotation>,
}

/// What a recovered Docker task's container is.
#[derive(Debug)]
pub struct RecoveredContainer {
    pub process: RecoveredProcess,
    /// Its own addresses, when it runs on a bridge or user network.
    pub addresses: Vec<IpAddr>,
}

impl DockerTasks {
    /// Connects to dockerd on `socket` (`--docker_socket`).
    pub async fn connect(
        socket: &Path,
        settings: Settings,
        remove_delay: Duration,
        log_rotation: Option<containerizer::LogRotation>,
    ) -> Result<DockerTasks, String> {
        let docker = Docker::connect(socket, settings).await.map_err(|e| e.to_string())?;
        info!(socket = %socket.display(), owner = %docker.settings().owner, "Docker containerizer connected to dockerd");
        Ok(DockerTasks {
            docker,
            live: HashMap::new(),
            remove_delay,
            slots: Arc::new(Semaphore::new(LAUNCH_CONCURRENCY)),
            log_rotation,
        })
    }

    /// Starts `spec`'s container (pulling its image when dockerd does not have it), within
    /// the bound of launches in flight.
    pub fn launch(&self, spec: LaunchSpec) -> impl Future<Output = Result<Container, String>> + Send + 'static {
        let docker = self.docker.clone();
        let slots = self.slots.clone();
        let log_rotation = self.log_rotation;
        async move {
            let _slot = slots.acquire_owned().await.map_err(|e| e.to_string())?;
            launch(&docker, &spec, log_rotation).await
        }
    }

    pub fn insert(&mut self, container: Container) {
        self.live.insert(container.container_id().to_string(), container);
    }

    pub fn get(&self, container_id: &str) -> Option<Container> {
        self.live.get(container_id).cloned()
    }

    /// Whether `container_id` is a container of this containerizer.
    pub fn has(&self, container_id: &str) -> bool {
        self.live.contains_key(container_id)
    }

    /// Forgets the container and returns what tears it down: a container that still runs is
    /// killed; then it is removed, at once (`now`: the agent is stopping) or after
    /// `--docker_remove_delay`.
    pub fn destroy(&mut self, container_id: &str, now: bool) -> impl Future<Output = ()> + Send + 'static {
        let container = self.live.remove(container_id);
        let docker = self.docker.clone();
        let delay = self.remove_delay;
        let container_id = container_id.to_string();
        async move {
            if let Some(c) = &container
                && matches!(c.exit().await, Ok(None))
            {
                info!(container = c.name(), "killing a container that is being destroyed");
                if let Err(e) = c.kill().await {
                    warn!(container = c.name(), error = %e, "cannot kill the container");
                }
            }
            if now || delay.is_zero() {
                if let Err(e) = docker.remove(&container_id).await {
                    warn!(%container_id, error = %e, "cannot remove the container");
                }
            } else {
                debug!(%container_id, delay_secs = delay.as_secs(), "container removed after --docker_remove_delay");
                drop(docker.remove_after(&container_id, delay));
            }
        }
    }

    /// After a restart: asks dockerd about the containers of the agent's checkpointed Docker
    /// tasks (container id -> sandbox), keeps handles to those it finds, and removes this
    /// agent's containers it does not know (never another agent's).
    pub async fn recover(
        &mut self,
        known: &[(String, PathBuf)],
    ) -> Result<HashMap<String, RecoveredContainer>, String> {
        let files: HashMap<String, LogFiles> =
            known.iter().map(|(cid, sandbox)| (cid.clone(), LogFiles::in_sandbox(sandbox))).collect();
        let recovery = self.docker.recover(&files).await.map_err(|e| format!("Docker recovery failed: {e}"))?;
        if !recovery.removed.is_empty() {
            info!(removed = recovery.removed.len(), "removed containers of this agent it has no record of");
        }
        let mut out = HashMap::new();
        for (cid, found) in recovery.containers {
            let recovered = match found {
                Recovered::Running(container) => {
                    let started = started(&container);
                    self.insert(container);
                    RecoveredContainer {
                        process: RecoveredProcess::Running { pid: started.pid },
                        addresses: started.addresses,
                    }
                }
                Recovered::Exited { container, exit } => {
                    self.insert(container);
                    RecoveredContainer { process: RecoveredProcess::Exited(exit_info(&exit)), addresses: Vec::new() }
                }
                Recovered::NotStarted => {
                    RecoveredContainer { process: RecoveredProcess::NotStarted, addresses: Vec::new() }
                }
                Recovered::Missing => RecoveredContainer { process: RecoveredProcess::Missing, addresses: Vec::new() },
            };
            info!(container_id = %cid, process = ?recovered.process, "recovered a Docker task's container");
            out.insert(cid, recovered);
        }
        Ok(out)
    }
}

/// Maps the task to its container (a mapping error fails the launch with its message) and
/// starts it.
async fn launch(
    docker: &Docker,
    spec: &LaunchSpec,
    log_rotation: Option<containerizer::LogRotation>,
) -> Result<Container, String> {
    let d = spec.docker.as_ref().ok_or_else(|| "not a Docker task".to_string())?;
    let rotate = log_rotation.map(|default| output_rotation(default, d.command.as_ref())).transpose()?;
    let task = TaskContainer {
        agent_id: &d.agent_id,
        framework_id: spec.framework_id.as_str(),
        task_id: spec.task_id.as_str(),
        container_id: &spec.container_id,
        container: &d.container,
        command: d.command.as_ref(),
        resources: &d.resources,
        limits: d.limits.as_ref(),
        env: &d.env,
        sandbox: &spec.sandbox,
    };
    let container_spec = docker.spec(&task).map_err(|e| e.to_string())?;
    for warning in &container_spec.warnings {
        warn!(task_id = %spec.task_id, "{warning}");
    }
    let files = LogFiles::in_sandbox(&spec.sandbox).rotated(rotate);
    docker.launch(&container_spec, files).await.map_err(|e| e.to_string())
}

/// The logrotate logger's rotation of a Docker task's output: the agent's defaults, which the
/// task's own environment may override (`CONTAINER_LOGGER_MAX_STDOUT_SIZE`, ...), as for
/// command tasks.
fn output_rotation(
    default: containerizer::LogRotation,
    command: Option<&mesos_api::messages::CommandInfo>,
) -> Result<(docker::Rotate, docker::Rotate), String> {
    let env: Vec<(String, String)> = command
        .and_then(|c| c.environment.as_ref())
        .map(|e| e.variables.iter().map(|v| (v.name.clone(), v.value.clone().unwrap_or_default())).collect())
        .unwrap_or_default();
    let rotation =
        crate::isolation::logrotate::for_task(default, &env).map_err(|e| format!("container logger: {e}"))?;
    let rotate = |r: containerizer::Rotate| docker::Rotate { max_size: r.max_size, keep: r.keep };
    Ok((rotate(rotation.stdout), rotate(rotation.stderr)))
}

/// What the core learns of a started container.
pub fn started(container: &Container) -> Started {
    Started { pid: container.pid().and_then(|p| i32::try_from(p).ok()), addresses: container.ip_addresses().to_vec() }
}

/// How a container ended, for the core.
pub fn exit_info(exit: &ContainerExit) -> ExitInfo {
    let limit = exit.memory_limit_bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0);
    ExitInfo {
        termination: Termination::ContainerExited(i32::try_from(exit.exit_code).unwrap_or(-1)),
        oom: exit.oom_killed.then_some(OomInfo { limit_bytes: limit, max_usage_bytes: limit }),
    }
}

/// Waits until the container ends.
pub async fn wait(container: &Container) -> ExitInfo {
    match container.wait().await {
        Ok(exit) => exit_info(&exit),
        Err(e) => {
            warn!(container = container.name(), error = %e, "cannot learn how the container ended");
            ExitInfo { termination: Termination::Unknown, oom: None }
        }
    }
}

/// The stop signal for [`KillSignal::Term`], SIGKILL for [`KillSignal::Kill`].
pub async fn signal(container: &Container, signal: KillSignal) {
    let result = match signal {
        KillSignal::Term => container.terminate().await,
        KillSignal::Kill => container.kill().await,
    };
    match result {
        Ok(()) => debug!(container = container.name(), ?signal, "signalled the container"),
        Err(e) => warn!(container = container.name(), error = %e, "cannot signal the container"),
    }
}

/// A COMMAND health check inside the container (`docker exec`); `Err` says why unhealthy.
pub async fn exec_check(
    container: &Container,
    command: &CommandLine,
    env: &[(String, String)],
    timeout: Option<Duration>,
) -> Result<(), String> {
    let argv = match command {
        CommandLine::Shell(value) => vec!["/bin/sh".to_string(), "-c".to_string(), value.clone()],
        // `value` is the program, `arguments` the whole argv (argv[0] first).
        CommandLine::Exec { value, arguments } => {
            std::iter::once(value.clone()).chain(arguments.iter().skip(1).cloned()).collect()
        }
    };
    let env = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    match container.exec(argv, env, timeout).await {
        Ok(out) if out.exit_code == 0 => Ok(()),
        Ok(out) => Err(format!("Command exited with status {}: {}", out.exit_code, out.output.trim())),
        Err(docker::ExecError::TimedOut(t)) => {
            Err(format!("Health check timed out after {}", crate::flags::format_duration(t)))
        }
        Err(e) => Err(format!("cannot run the check in the container: {e}")),
    }
}
