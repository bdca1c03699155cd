//! The core's inputs and outputs: configuration, [`Event`]s, [`Command`]s, checkpoint records
//! and what the shell recovers from the work dir.

use crate::paths::Layout;
use mesos_api::AgentId;
use mesos_api::agent::{AgentCall, AgentEvent, Register};
use mesos_api::container::{ContainerInfo, ResourceLimits};
use mesos_api::messages::{
    AgentInfo, CommandInfo, CommandUri, ExecutorInfo, FrameworkInfo, Reason, Resource, TaskInfo, TaskStatus,
};
use mesos_api::{ExecutorId, FrameworkId, TaskId};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::HealthProbe;

/// The time as the shell sees it when it calls the core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    /// Monotonic time since an arbitrary origin (the shell's start); all timers use it.
    pub mono: Duration,
    /// Wall-clock seconds since the Unix epoch, for `TaskStatus.timestamp`.
    pub wall: f64,
}

/// Static configuration of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The master to register with (`host:port`): the `--master` address, or `None` when the
    /// leading master is detected in ZooKeeper ([`Event::MasterDetected`] then says which).
    pub master: Option<String>,
    /// What the agent advertises (the id is filled in by the core).
    pub agent_info: AgentInfo,
    /// `ip:port` of the agent's HTTP server.
    pub endpoint: String,
    /// The agent's IP, reported as the container IP of command tasks.
    pub ip: String,
    pub layout: Layout,
    /// Kill grace when neither the kill nor the task has a kill policy (Mesos: 3 s).
    pub default_kill_grace: Duration,
    pub executor_shutdown_grace: Duration,
    pub update_retry_min: Duration,
    pub update_retry_max: Duration,
    pub registration_backoff_factor: Duration,
    pub registration_backoff_max: Duration,
    /// Whether tasks get cgroups (cpu shares and memory limit).
    pub cgroups: bool,
    /// Seed of the RNG that makes container ids, update uuids and backoff jitter.
    pub seed: u64,
    /// How long the sandbox of a completed task is kept (Mesos' `--gc_delay`), at most.
    pub gc_delay: Duration,
    /// Free disk share kept (Mesos' `--gc_disk_headroom`): sandboxes are kept at most
    /// `gc_delay * max(0, 1 - gc_disk_headroom - disk usage)`.
    pub gc_disk_headroom: f64,
    /// How often the disk usage is measured (Mesos' `--disk_watch_interval`).
    pub disk_watch_interval: Duration,
    /// The containerizers this agent runs tasks with (Mesos' `--containerizers`).
    pub containerizers: Vec<ContainerizerKind>,
    /// Kill grace of a Docker task when neither the kill nor the task has a kill policy
    /// (Mesos' `--docker_stop_timeout`).
    pub docker_stop_timeout: Duration,
    /// Limits watched while the tasks of the Mesos containerizer run.
    pub limits: LimitsConfig,
    /// Tasks run as their user (Mesos' `--switch_user`): [`LaunchSpec::user`].
    pub switch_user: bool,
    /// The name of the user the agent runs as: tasks of that user need no switch.
    pub agent_user: Option<String>,
}

/// Limits the agent watches while tasks run (see `core::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitsConfig {
    /// `cgroups/pids` with `--cgroups_pids_max`: a task whose cgroup refused a fork (it
    /// reached this many processes and threads) fails. Checked every second.
    pub pids_max: Option<u64>,
    /// `disk/du` with `--enforce_container_disk_quota`: how often each task's sandbox is
    /// measured (`--container_disk_watcher_interval`); over its `disk` resource, it fails.
    pub disk_watch: Option<Duration>,
}

/// A limit a running task went over (upstream's `ContainerLimitation`): the task is killed at
/// once and fails with `reason` and `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limitation {
    pub reason: Reason,
    pub message: String,
    /// Names of the task's resources the limit is about (`disk`), reported with the status.
    pub resources: Vec<&'static str>,
}

/// What to measure of a running container ([`Command::Measure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measure {
    pub container_id: String,
    /// Read how many forks its pids cgroup refused.
    pub pids: bool,
    /// Measure the size of this sandbox (as `du`).
    pub sandbox: Option<PathBuf>,
}

/// What was measured of a container ([`Event::Measured`]); `None`: not measured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usage {
    pub container_id: String,
    pub refused_forks: Option<u64>,
    pub disk_bytes: Option<u64>,
}

/// Which containerizer runs a task (Mesos' `--containerizers`): `mesos` runs the task's
/// command in cgroups on the agent's file system (the command executor's semantics), `docker`
/// runs it in a Docker container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContainerizerKind {
    #[default]
    Mesos,
    Docker,
}

impl ContainerizerKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Mesos => "mesos",
            Self::Docker => "docker",
        }
    }

    pub fn is_mesos(&self) -> bool {
        *self == Self::Mesos
    }
}

/// How a task process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
    /// A Docker container's exit code (`State.ExitCode`; 128 + n after signal n).
    ContainerExited(i32),
    /// Nothing was recorded (the process is gone without a status).
    Unknown,
}

/// What the shell learned when a task's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub termination: Termination,
    /// Set when the memory cgroup hit its limit (the kernel OOM-killed the task).
    pub oom: Option<OomInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomInfo {
    pub limit_bytes: u64,
    pub max_usage_bytes: u64,
}

/// Cgroup limits of a task (Mesos' cgroups cpu and memory isolators): the task's `cpus` and
/// `mem` scalars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    pub mem_mb: f64,
}

impl Limits {
    /// `cpu.shares = max(1024 × cpus, 2)`.
    pub fn cpu_shares(&self) -> u64 {
        ((1024.0 * self.cpus).round() as u64).max(2)
    }

    /// `memory.limit_in_bytes = max(mem, 32 MB)`.
    pub fn mem_limit_bytes(&self) -> u64 {
        ((self.mem_mb * 1024.0 * 1024.0).round() as u64).max(32 * 1024 * 1024)
    }
}

/// What to run, after CommandInfo semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `/bin/sh -c <value>`.
    Shell(String),
    /// Exec `value` with `arguments` as the whole argv.
    Exec { value: String, arguments: Vec<String> },
}

/// Everything the shell needs to prepare and start a task's container.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    pub container_id: String,
    pub framework_id: FrameworkId,
    pub task_id: TaskId,
    pub sandbox: PathBuf,
    /// For a task of a task group: its executor's run directory
    /// (`.../executors/<executor>/runs/<executor container>`, which `runs/latest` points at);
    /// `sandbox` is `tasks/<task id>` in it. `None`: `sandbox` is the run directory.
    pub executor_sandbox: Option<PathBuf>,
    pub uris: Vec<CommandUri>,
    pub command: CommandLine,
    /// Variables set on top of the agent's own environment.
    pub env: Vec<(String, String)>,
    /// `None` when cgroups are not in use.
    pub limits: Option<Limits>,
    /// The user the task runs as, owning its sandbox and fetching its URIs (the command's
    /// `user`, else the framework's; `None`: the agent's own, also without `--switch_user`).
    pub user: Option<String>,
    /// Set for a task the Docker containerizer runs (then `command`, `env`, `limits` and
    /// `user` are not used).
    pub docker: Option<Box<DockerLaunch>>,
}

impl LaunchSpec {
    pub fn containerizer(&self) -> ContainerizerKind {
        if self.docker.is_some() { ContainerizerKind::Docker } else { ContainerizerKind::Mesos }
    }
}

/// What the Docker containerizer needs of a task to make its container.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerLaunch {
    pub agent_id: String,
    pub container: ContainerInfo,
    /// `TaskInfo.command`; `None` runs the image's entrypoint and command.
    pub command: Option<CommandInfo>,
    pub resources: Vec<Resource>,
    pub limits: Option<ResourceLimits>,
    /// The agent's variables for the task (the task's own come from `command`).
    pub env: Vec<(String, String)>,
}

/// What the shell learned when a task's container started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Started {
    /// The task's top process, when known.
    pub pid: Option<i32>,
    /// The container's own addresses (bridge and user networks of Docker tasks); empty when
    /// the task uses the agent's network.
    pub addresses: Vec<IpAddr>,
}

impl Started {
    pub fn pid(pid: i32) -> Self {
        Self { pid: Some(pid), addresses: Vec::new() }
    }
}

/// Identifies a task's run in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPath {
    pub agent_id: AgentId,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub container_id: String,
    pub task_id: TaskId,
}

/// Identifies a task group's executor run in the checkpoint (its tasks' [`RunPath`]s name the
/// same executor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorRun {
    pub agent_id: AgentId,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    /// The executor's container: its run directory's name.
    pub container_id: String,
}

/// One record of a task's status update stream in the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateRecord {
    /// A status update was generated (and will be delivered until acknowledged).
    Update(Box<TaskStatus>),
    /// The update with this uuid was acknowledged.
    Ack(String),
    /// A kill was requested (so an exit while the agent is down reads as TASK_KILLED).
    Kill,
}

/// A write to the agent's checkpoint (`meta/`). Executed synchronously (and durably) before
/// the commands after it.
#[derive(Debug, Clone, PartialEq)]
pub enum Checkpoint {
    /// `meta/boot_id`, `meta/slaves/latest`, `meta/slaves/<id>/slave.info`.
    Agent {
        agent_id: AgentId,
        info: Box<AgentInfo>,
    },
    /// The master told this agent to shut down: the id is no longer valid.
    ForgetAgent {
        agent_id: AgentId,
    },
    Framework {
        agent_id: AgentId,
        info: Box<FrameworkInfo>,
    },
    /// A task group's executor (written before its first task): the group's membership is
    /// its tasks' `run.executor_id`.
    Executor {
        run: ExecutorRun,
        info: Box<ExecutorInfo>,
    },
    /// The task's info and the containerizer that runs it (written before it is launched);
    /// `group`: a task of the task group of `run.executor_id`.
    Task {
        run: RunPath,
        info: Box<TaskInfo>,
        containerizer: ContainerizerKind,
        group: bool,
    },
    /// Appended to the task's records (durable before the update it records is sent).
    Record {
        run: RunPath,
        record: Box<UpdateRecord>,
    },
    /// The task is done and its last update acknowledged: its run can be forgotten (and a task
    /// group's executor with it once it has no task left).
    RemoveRun {
        run: RunPath,
    },
}

/// Signals the shell can send to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    /// SIGTERM to the task's process group.
    Term,
    /// SIGKILL to every process of the container (cgroup and process group).
    Kill,
}

/// What the core asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a registration stream: POST REGISTER, then report [`Event::LinkOpened`], each
    /// event as [`Event::Master`], and the end as [`Event::LinkClosed`], all tagged `conn`.
    Connect {
        conn: u64,
        register: Box<Register>,
        /// The master's `host:port`.
        master: String,
    },
    /// Close the stream `conn` (no `LinkClosed` needs to follow).
    Disconnect {
        conn: u64,
    },
    /// POST a call on the current stream.
    Send {
        stream_id: String,
        call: Box<AgentCall>,
    },
    Checkpoint(Checkpoint),
    /// Create the sandbox (and `runs/latest`), fetch the URIs; report [`Event::Prepared`].
    Prepare(Box<LaunchSpec>),
    /// Start the task process; report [`Event::Spawned`], then [`Event::Exited`].
    Spawn(Box<LaunchSpec>),
    /// Watch a process found alive at recovery; report [`Event::Exited`].
    Reattach {
        container_id: String,
    },
    Signal {
        container_id: String,
        signal: KillSignal,
    },
    /// Kill whatever is left of the container and release it (cgroups, records). Idempotent.
    Destroy {
        container_id: String,
    },
    /// Run one health check of the task in `container_id` (in the background, bounded by
    /// `timeout` when set); report [`Event::HealthCheckResult`] with the same `check_id`.
    RunHealthCheck {
        container_id: String,
        check_id: u64,
        probe: Box<HealthProbe>,
        timeout: Option<Duration>,
    },
    /// Set these directories' modification time to now: they are scheduled for removal from
    /// now on, and a restarted agent schedules what it finds from their modification time.
    StampForGc(Vec<PathBuf>),
    /// Remove these directories, whose time is up (in the background).
    GarbageCollect(Vec<GcPath>),
    /// Measure how full the file system of the work dir is; report [`Event::DiskUsage`].
    CheckDiskUsage,
    /// Measure these running containers (in the background); report [`Event::Measured`].
    Measure(Vec<Measure>),
}

/// A directory the garbage collector removes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GcPath {
    pub path: PathBuf,
    pub kind: GcKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GcKind {
    /// A run's sandbox, or the directory of an agent id no longer in use: removed with
    /// everything in it.
    Tree,
    /// An executor's directory (`.../executors/<id>`): removed only when no run is left in
    /// it (a task id used again meanwhile keeps it), with its `runs/latest` link if that
    /// leads nowhere and its empty `runs`.
    Executor,
}

/// A directory under `<work_dir>/slaves` found at start, with its modification time (wall
/// clock seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct FoundSandbox {
    pub path: PathBuf,
    pub kind: FoundKind,
    pub mtime: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundKind {
    /// `slaves/<agent>`, for an agent id other than the one recovered.
    Agent,
    /// `slaves/<agent>/frameworks/<framework>/executors/<executor>`.
    Executor { framework_id: FrameworkId, executor_id: ExecutorId },
    /// `.../executors/<executor>/runs/<container>`: a sandbox.
    Run { container_id: String },
}

/// A process found by the shell's recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveredProcess {
    /// Still running; `pid` is the task's top process when known.
    Running { pid: Option<i32> },
    /// Ended while the agent was down.
    Exited(ExitInfo),
    /// Its launch was recorded, but nothing says how it ended (its monitor is gone without a
    /// status): the process started and died abnormally.
    Unknown,
    /// No launch record: the agent died before it learned that the process started (the
    /// launch was never sent, or its monitor's report never read). Whatever a request that
    /// did reach the zygote left is destroyed; the task was never launched as far as anyone
    /// was told.
    NotStarted,
    /// A Docker task's container is not there: never created if the task was not known to
    /// run yet ([`RecoveredProcess::NotStarted`]), removed behind the agent's back otherwise
    /// ([`RecoveredProcess::Unknown`]). The core tells which from the task's state.
    Missing,
}

/// A checkpointed task, as read back from `meta/`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredTask {
    pub framework_id: FrameworkId,
    pub container_id: String,
    pub info: TaskInfo,
    pub records: Vec<UpdateRecord>,
    pub process: RecoveredProcess,
    pub containerizer: ContainerizerKind,
    /// The container's own addresses, for a Docker task found running.
    pub addresses: Vec<IpAddr>,
    /// Set for a task of a task group: its executor's id (see [`Recovery::executors`]).
    pub executor_id: Option<ExecutorId>,
}

/// A checkpointed task group's executor, as read back from `meta/`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredExecutor {
    pub framework_id: FrameworkId,
    pub container_id: String,
    pub info: ExecutorInfo,
}

/// What the shell read from the work dir at start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recovery {
    pub agent_id: Option<AgentId>,
    pub frameworks: Vec<FrameworkInfo>,
    /// Executors of task groups (their tasks are among `tasks`).
    pub executors: Vec<RecoveredExecutor>,
    pub tasks: Vec<RecoveredTask>,
    /// Containers with a runtime record or cgroup but no checkpointed task: killed.
    pub orphan_containers: Vec<String>,
    /// Directories of the agent's sandboxes (and of other agent ids) found in the work dir:
    /// those of no live task are scheduled for removal.
    pub sandboxes: Vec<FoundSandbox>,
}

/// Inputs of the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// First event: the recovered state (empty on a fresh work dir).
    Start(Box<Recovery>),
    LinkOpened {
        conn: u64,
        stream_id: String,
    },
    Master {
        conn: u64,
        event: Box<AgentEvent>,
    },
    LinkClosed {
        conn: u64,
        reason: String,
    },
    Prepared {
        container_id: String,
        result: Result<(), String>,
    },
    Spawned {
        container_id: String,
        result: Result<Started, String>,
    },
    Exited {
        container_id: String,
        exit: ExitInfo,
    },
    /// How the health check `check_id` of a [`Command::RunHealthCheck`] went: `Err` says why
    /// the task is unhealthy.
    HealthCheckResult {
        container_id: String,
        check_id: u64,
        result: Result<(), String>,
    },
    /// How full the work dir's file system is (0.0 to 1.0), after [`Command::CheckDiskUsage`].
    DiskUsage(f64),
    /// What [`Command::Measure`] found.
    Measured(Vec<Usage>),
    /// The leading master as detected in ZooKeeper changed (`None`: no master leads).
    MasterDetected {
        /// Its `host:port`.
        master: Option<String>,
    },
    /// Timers may be due.
    Tick,
    /// The agent process is stopping (not a crash): tasks of frameworks that do not checkpoint
    /// are killed, the others keep running and are recovered on restart.
    Shutdown,
}
