//! The agent's decision logic as a plain state machine: no IO, no clock, no randomness other
//! than a seeded RNG.
//!
//! The shell feeds [`Event`]s (master stream events, results of launches, process exits, timer
//! ticks) to [`AgentCore::handle`] together with the current time, executes the returned
//! [`Command`]s in order, and calls `handle(now, Event::Tick)` when [`AgentCore::next_wakeup`]
//! is reached. Commands are ordered on purpose: a checkpoint command always precedes the
//! action it protects (a task's info before its launch, an update's record before the
//! update is sent), so the shell must finish each checkpoint before executing what follows.

mod containerizer;
mod gc;
mod groups;
mod health;
mod launch;
mod limits;
mod recovery;
mod stream;
#[cfg(test)]
mod tests;
mod types;

pub use groups::ExecutorView;
pub use health::HealthProbe;
pub use types::*;

use self::containerizer::docker_launch;
use health::{HealthChecker, Step, Verdict};
use mesos_api::agent::{AgentCall, AgentEvent, Register, Registered, ReportedExecutor, ReportedTask, StatusUpdate};
use mesos_api::health::HealthCheck;
use mesos_api::messages::{
    AgentInfo, CommandInfo, ExecutorInfo, FrameworkInfo, KillPolicy, MasterInfo, Reason, Resource, Source, Task,
    TaskInfo, TaskState, TaskStatus,
};
use mesos_api::resources::ResourceSet;
use mesos_api::{AgentId, ExecutorId, FrameworkId, TaskId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stream::{AckOutcome, UpdateStream};
use tracing::{debug, info, warn};

type TaskKey = (FrameworkId, TaskId);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sandbox and fetch in progress.
    Preparing,
    /// The process was asked for (Spawn issued) or runs.
    Launched,
    /// No process any more (ended, failed to start, or never will).
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillCause {
    Request,
    MaxCompletion,
    /// Too many health checks failed in a row: TASK_KILLED with `healthy: false`.
    HealthCheck,
    /// The task went over a limit (`TaskEntry::limitation`): TASK_FAILED.
    Limitation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kill {
    deadline: Duration,
    escalated: bool,
    cause: KillCause,
}

#[derive(Debug, Clone)]
struct TaskEntry {
    info: TaskInfo,
    framework_id: FrameworkId,
    /// Set for a task of a task group: the id of its executor (in [`AgentCore::executors`]).
    group: Option<ExecutorId>,
    container_id: String,
    checkpoint: bool,
    phase: Phase,
    /// Newest state (the tail of the stream; STAGING before the first update).
    state: TaskState,
    /// Every update generated for the task, oldest first.
    statuses: Vec<TaskStatus>,
    stream: UpdateStream,
    kill: Option<Kill>,
    completion_deadline: Option<Duration>,
    pid: Option<i32>,
    /// The container's own addresses (a Docker task on a bridge or user network), where its
    /// health checks connect and which its TASK_RUNNING reports; empty: the agent's.
    addresses: Vec<std::net::IpAddr>,
    spec: LaunchSpec,
    /// Set while the task runs and has a (valid) health check.
    health: Option<HealthChecker>,
    /// The limit it went over, once it did: it is being killed and fails with this.
    limitation: Option<Limitation>,
    /// The task as the last snapshot showed it; reset whatever changes what it shows (see
    /// [`AgentCore::touch`]), so that a snapshot rebuilds only the views of changed tasks.
    view: std::sync::OnceLock<Arc<TaskView>>,
}

impl TaskEntry {
    /// The earliest of the task's timers (update retry when `registered`, kill escalation,
    /// max completion time, health check), as [`AgentCore::fire_timers`] acts on them.
    fn next_timer(&self, registered: bool) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| next = Some(next.map_or(t, |n| n.min(t)));
        if registered && let Some(due) = self.stream.due() {
            consider(due);
        }
        if let Some(k) = self.kill
            && !k.escalated
            && self.phase == Phase::Launched
        {
            consider(k.deadline);
        }
        if let Some(d) = self.completion_deadline
            && self.kill.is_none()
            && self.phase == Phase::Launched
        {
            consider(d);
        }
        if self.checking_health()
            && let Some(due) = self.health.as_ref().and_then(HealthChecker::due)
        {
            consider(due);
        }
        next
    }

    /// Whether the task's health is being checked: it runs, is TASK_RUNNING and not being
    /// killed (checks stop when it leaves TASK_RUNNING).
    fn checking_health(&self) -> bool {
        self.health.is_some()
            && self.phase == Phase::Launched
            && self.kill.is_none()
            && self.state == TaskState::Running
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// Not connected; connect at `retry_at`.
    Idle {
        retry_at: Duration,
    },
    /// REGISTER posted, no REGISTERED yet.
    Connecting {
        conn: u64,
        stream_id: Option<String>,
    },
    Registered {
        conn: u64,
        stream_id: String,
    },
    /// Shut down: never connect again.
    Stopped,
}

/// A task as `/state` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub task: Task,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub executor_name: String,
    /// Pending (unacknowledged) updates.
    pub pending_updates: usize,
}

/// A read-only picture of the agent, published for the HTTP endpoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub agent_id: Option<AgentId>,
    pub registered: bool,
    pub master: Option<MasterInfo>,
    pub agent_info: Option<AgentInfo>,
    /// Frameworks with live or completed tasks here (not shut down).
    pub frameworks: Vec<FrameworkInfo>,
    /// Frameworks the master shut down.
    pub completed_frameworks: Vec<FrameworkInfo>,
    /// Every task here, of task groups too.
    pub tasks: Vec<Arc<TaskView>>,
    /// Command tasks that completed (those of task groups are in their executor's view).
    pub completed_tasks: Vec<Arc<TaskView>>,
    /// Executors of task groups with tasks here.
    pub executors: Vec<Arc<ExecutorView>>,
    /// Executors of task groups whose tasks all completed.
    pub completed_executors: Vec<Arc<ExecutorView>>,
    /// Count of tasks that reached each terminal state since start.
    pub terminal_counts: BTreeMap<String, u64>,
    /// Directories scheduled for removal.
    pub gc_pending: usize,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub registrations: u64,
}

/// Completed tasks kept per framework (Mesos' `--max_completed_executors_per_framework`).
const MAX_COMPLETED_PER_FRAMEWORK: usize = 150;

pub struct AgentCore {
    cfg: CoreConfig,
    rng: ChaCha8Rng,
    agent_id: Option<AgentId>,
    link: Link,
    backoff: Duration,
    next_conn: u64,
    /// Where the master is (`host:port`); `None` while no leading master is known.
    master_addr: Option<String>,
    master: Option<MasterInfo>,
    frameworks: BTreeMap<FrameworkId, FrameworkInfo>,
    shut_down_frameworks: BTreeSet<FrameworkId>,
    tasks: BTreeMap<TaskKey, TaskEntry>,
    containers: BTreeMap<String, TaskKey>,
    /// Executors of task groups, while they have tasks here.
    executors: BTreeMap<(FrameworkId, ExecutorId), groups::GroupExecutor>,
    /// Tasks that ended and whose updates were all acknowledged (for `/state`).
    completed: BTreeMap<FrameworkId, VecDeque<Arc<TaskView>>>,
    /// Executors of task groups whose tasks all completed (for `/state`).
    completed_executors: BTreeMap<FrameworkId, VecDeque<Arc<ExecutorView>>>,
    /// Set while the recovered tasks are taken back at start: executors stay until all
    /// their tasks are back.
    recovering: bool,
    terminal_counts: BTreeMap<String, u64>,
    valid_acks: u64,
    invalid_acks: u64,
    registrations: u64,
    started: bool,
    version: u64,
    gc: gc::Gc,
    limit_timers: limits::LimitTimers,
}

impl AgentCore {
    pub fn new(cfg: CoreConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let backoff = cfg.registration_backoff_factor;
        let master_addr = cfg.master.clone();
        Self {
            cfg,
            rng,
            agent_id: None,
            link: Link::Idle { retry_at: Duration::MAX },
            backoff,
            next_conn: 1,
            master_addr,
            master: None,
            frameworks: BTreeMap::new(),
            shut_down_frameworks: BTreeSet::new(),
            tasks: BTreeMap::new(),
            containers: BTreeMap::new(),
            executors: BTreeMap::new(),
            completed: BTreeMap::new(),
            completed_executors: BTreeMap::new(),
            recovering: false,
            terminal_counts: BTreeMap::new(),
            valid_acks: 0,
            invalid_acks: 0,
            registrations: 0,
            started: false,
            version: 0,
            gc: gc::Gc::default(),
            limit_timers: limits::LimitTimers::default(),
        }
    }

    /// Handles one event and fires every timer due at `now`.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Command> {
        self.handle_all(now, [event])
    }

    /// Handles a burst of events that arrived together, in order, then fires every timer due
    /// at `now` once (as [`AgentCore::handle`] of each event would, but without a scan of
    /// the timers per event).
    pub fn handle_all(&mut self, now: Now, events: impl IntoIterator<Item = Event>) -> Vec<Command> {
        let mut out = Vec::new();
        // Ticks, pings, health results and measurements that lead to nothing but health checks
        // and measurements leave the published picture as it is.
        let mut quiet = true;
        for event in events {
            quiet &= matches!(&event, Event::Tick | Event::HealthCheckResult { .. } | Event::Measured(_))
                || matches!(&event, Event::Master { event, .. } if matches!(**event, AgentEvent::Ping));
            self.dispatch(now, event, &mut out);
        }
        self.fire_timers(now, &mut out);
        if !(quiet && out.iter().all(|c| matches!(c, Command::RunHealthCheck { .. } | Command::Measure(_)))) {
            self.version += 1;
        }
        out
    }

    fn dispatch(&mut self, now: Now, event: Event, out: &mut Vec<Command>) {
        match event {
            Event::Start(recovery) => self.on_start(now, *recovery, out),
            Event::LinkOpened { conn, stream_id } => self.on_link_opened(conn, stream_id),
            Event::Master { conn, event } => self.on_master(now, conn, *event, out),
            Event::LinkClosed { conn, reason } => self.on_link_closed(now, conn, &reason),
            Event::Prepared { container_id, result } => self.on_prepared(now, &container_id, result, out),
            Event::Spawned { container_id, result } => self.on_spawned(now, &container_id, result, out),
            Event::Exited { container_id, exit } => self.on_exited(now, &container_id, exit, out),
            Event::HealthCheckResult { container_id, check_id, result } => {
                self.on_health_result(now, &container_id, check_id, result, out)
            }
            Event::DiskUsage(usage) => self.on_disk_usage(now, usage, out),
            Event::Measured(usages) => self.on_measured(now, usages, out),
            Event::MasterDetected { master } => self.on_master_detected(master, out),
            Event::Tick => {}
            Event::Shutdown => self.on_shutdown(out),
        }
    }

    /// The earliest time at which a timer is due (`handle(now, Event::Tick)` then).
    pub fn next_wakeup(&self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| next = Some(next.map_or(t, |n| n.min(t)));
        if let Link::Idle { retry_at } = self.link
            && self.started
            && retry_at != Duration::MAX
        {
            consider(retry_at);
        }
        if let Some(due) = self.gc_next_wakeup() {
            consider(due);
        }
        if let Some(due) = self.limits_next_wakeup() {
            consider(due);
        }
        let registered = matches!(self.link, Link::Registered { .. });
        for t in self.tasks.values() {
            if let Some(due) = t.next_timer(registered) {
                consider(due);
            }
        }
        next
    }

    /// A counter that changes whenever the core handled something (to republish snapshots).
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn agent_id(&self) -> Option<&AgentId> {
        self.agent_id.as_ref()
    }

    pub fn is_registered(&self) -> bool {
        matches!(self.link, Link::Registered { .. })
    }

    /// Whether the core has shut down (after [`Event::Shutdown`]).
    pub fn is_stopped(&self) -> bool {
        self.link == Link::Stopped
    }

    pub fn snapshot(&self) -> Snapshot {
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let tasks = self
            .tasks
            .values()
            .map(|t| t.view.get_or_init(|| Arc::new(self.task_view(t, &agent_id))).clone())
            .collect();
        let completed_tasks = self.completed.values().flatten().cloned().collect();
        let (completed_frameworks, frameworks): (Vec<FrameworkInfo>, Vec<FrameworkInfo>) = self
            .frameworks
            .values()
            .cloned()
            .partition(|f| f.id.as_ref().is_some_and(|id| self.shut_down_frameworks.contains(id)));
        Snapshot {
            agent_id: self.agent_id.clone(),
            registered: self.is_registered(),
            master: self.master.clone(),
            agent_info: Some(self.agent_info()),
            frameworks,
            completed_frameworks,
            tasks,
            completed_tasks,
            executors: self.executor_views(&agent_id),
            completed_executors: self.completed_executors.values().flatten().cloned().collect(),
            terminal_counts: self.terminal_counts.clone(),
            gc_pending: self.gc.schedule.len(),
            valid_status_updates: self.valid_acks,
            invalid_status_updates: self.invalid_acks,
            registrations: self.registrations,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Master connection

    fn connect(&mut self, out: &mut Vec<Command>) {
        let Some(master) = self.master_addr.clone() else {
            info!("no leading master known; waiting for one to be detected");
            self.link = Link::Idle { retry_at: Duration::MAX };
            return;
        };
        let conn = self.next_conn;
        self.next_conn += 1;
        self.link = Link::Connecting { conn, stream_id: None };
        let agent_id = self.agent_id.clone();
        let tasks = match &agent_id {
            Some(id) => self.reported_tasks(id),
            None => Vec::new(),
        };
        let executors = self.reported_executors(&tasks);
        info!(conn, agent_id = ?agent_id.as_ref().map(|a| a.value.as_str()), tasks = tasks.len(), "registering with the master");
        let mut agent_info = self.agent_info();
        agent_info.id = agent_id.clone();
        out.push(Command::Connect {
            conn,
            register: Box::new(Register {
                agent_info,
                agent_id,
                tasks,
                executors,
                endpoint: self.cfg.endpoint.clone(),
            }),
            master,
        });
    }

    /// A new leading master (detected in ZooKeeper): leave the old one and register with the
    /// new one at once, with every task (as upstream agents do when their detector fires); with
    /// no leader, wait for one.
    fn on_master_detected(&mut self, master: Option<String>, out: &mut Vec<Command>) {
        if self.master_addr == master {
            return;
        }
        info!(old = ?self.master_addr, new = ?master, "the leading master changed");
        self.master_addr = master;
        if !self.started || self.link == Link::Stopped {
            return;
        }
        if let Some(conn) = self.current_conn() {
            out.push(Command::Disconnect { conn });
            for t in self.tasks.values_mut() {
                t.stream.pause();
            }
        }
        self.backoff = self.cfg.registration_backoff_factor;
        self.connect(out);
    }

    fn agent_info(&self) -> AgentInfo {
        let mut info = self.cfg.agent_info.clone();
        info.id = self.agent_id.clone();
        info
    }

    fn reported_tasks(&self, agent_id: &AgentId) -> Vec<ReportedTask> {
        self.tasks
            .values()
            .filter(|t| !t.state.is_terminal() || !t.stream.is_empty())
            .filter_map(|t| {
                let framework = self.frameworks.get(&t.framework_id)?.clone();
                Some(ReportedTask { task: self.task_record(t, agent_id), framework })
            })
            .collect()
    }

    fn task_view(&self, t: &TaskEntry, agent_id: &AgentId) -> TaskView {
        TaskView {
            task: self.task_record(t, agent_id),
            container_id: t.container_id.clone(),
            sandbox: t.spec.sandbox.clone(),
            executor_name: executor_name(&t.info),
            pending_updates: t.stream.len(),
        }
    }

    /// Marks what a snapshot shows of every task as changed (the agent id or a framework's
    /// user changed). Changes of one task reset its own view where they happen.
    fn touch_all(&mut self) {
        for t in self.tasks.values_mut() {
            t.view.take();
        }
    }

    fn task_record(&self, t: &TaskEntry, agent_id: &AgentId) -> Task {
        let head = t.stream.head();
        Task {
            name: t.info.name.clone(),
            task_id: t.info.task_id.clone(),
            framework_id: t.framework_id.clone(),
            executor_id: t.group.clone(),
            agent_id: agent_id.clone(),
            state: t.state,
            resources: t.info.resources.clone(),
            statuses: t.statuses.clone(),
            status_update_state: head.map(|h| h.state),
            status_update_uuid: head.and_then(|h| h.uuid.clone()),
            labels: t.info.labels.clone(),
            discovery: t.info.discovery.clone(),
            container: t.info.container.clone(),
            health_check: t.info.health_check.clone(),
            kill_policy: t.info.kill_policy,
            user: self
                .frameworks
                .get(&t.framework_id)
                .map(|f| t.info.command.as_ref().and_then(|c| c.user.clone()).unwrap_or_else(|| f.user.clone())),
        }
    }

    fn on_link_opened(&mut self, conn: u64, stream_id: String) {
        match &mut self.link {
            Link::Connecting { conn: c, stream_id: s } if *c == conn => *s = Some(stream_id),
            _ => debug!(conn, "stream opened for a stale connection"),
        }
    }

    fn current_conn(&self) -> Option<u64> {
        match &self.link {
            Link::Connecting { conn, .. } | Link::Registered { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    fn on_link_closed(&mut self, now: Now, conn: u64, reason: &str) {
        if self.current_conn() != Some(conn) {
            debug!(conn, reason, "stale connection closed");
            return;
        }
        let delay = self.next_backoff();
        warn!(conn, reason, retry_in_ms = delay.as_millis() as u64, "lost the master; will register again");
        self.link = Link::Idle { retry_at: now.mono + delay };
        for t in self.tasks.values_mut() {
            t.stream.pause();
        }
    }

    /// A random delay in `[0, backoff]`; the backoff then doubles up to its cap.
    fn next_backoff(&mut self) -> Duration {
        let cap = self.backoff;
        self.backoff = self.backoff.saturating_mul(2).min(self.cfg.registration_backoff_max);
        let nanos = cap.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(if nanos == 0 { 0 } else { self.rng.random_range(0..=nanos) })
    }

    fn on_master(&mut self, now: Now, conn: u64, event: AgentEvent, out: &mut Vec<Command>) {
        if self.current_conn() != Some(conn) {
            debug!(conn, "event from a stale connection ignored");
            return;
        }
        let registered = matches!(self.link, Link::Registered { .. });
        match event {
            AgentEvent::Registered { registered: r } => self.on_registered(now, conn, *r, out),
            AgentEvent::Ping => {}
            _ if !registered => warn!(conn, "event before REGISTERED ignored"),
            AgentEvent::RunTask { framework, task } => self.run_task(now, *framework, *task, out),
            AgentEvent::RunTaskGroup { framework, executor, task_group } => {
                self.run_task_group(now, *framework, *executor, task_group.tasks, out)
            }
            AgentEvent::KillTask { framework_id, task_id, kill_policy } => {
                let key = (framework_id, task_id);
                if self.tasks.contains_key(&key) {
                    self.start_kill(now, &key, kill_policy, KillCause::Request, out);
                } else {
                    info!(framework_id = %key.0, task_id = %key.1, "kill of an unknown task ignored");
                }
            }
            AgentEvent::Acknowledge { framework_id, task_id, uuid } => {
                self.on_ack(now, (framework_id, task_id), &uuid, out)
            }
            AgentEvent::ShutdownFramework { framework_id } => {
                info!(%framework_id, "shutting down framework");
                self.shut_down_frameworks.insert(framework_id.clone());
                let keys: Vec<TaskKey> = self.tasks.keys().filter(|k| k.0 == framework_id).cloned().collect();
                for key in keys {
                    self.start_kill(now, &key, None, KillCause::Request, out);
                }
            }
            AgentEvent::ShutdownExecutor { framework_id, executor_id }
                if self.executors.contains_key(&(framework_id.clone(), executor_id.clone())) =>
            {
                self.shutdown_group(now, &(framework_id, executor_id), out);
            }
            AgentEvent::ShutdownExecutor { framework_id, executor_id } => {
                // A command executor's id is its task's id.
                let key = (framework_id, TaskId::new(executor_id.value));
                if self.tasks.contains_key(&key) {
                    let grace = KillPolicy { grace_period: Some(duration_info(self.cfg.executor_shutdown_grace)) };
                    self.start_kill(now, &key, Some(grace), KillCause::Request, out);
                } else {
                    info!(framework_id = %key.0, executor_id = %key.1, "shutdown of an unknown executor ignored");
                }
            }
            AgentEvent::FrameworkMessage { framework_id, executor_id, .. } => {
                debug!(%framework_id, %executor_id, "framework message for a command executor dropped");
            }
            AgentEvent::Shutdown { message } => self.on_master_shutdown(now, conn, &message, out),
        }
    }

    fn on_registered(&mut self, now: Now, conn: u64, r: Registered, out: &mut Vec<Command>) {
        let Link::Connecting { stream_id, .. } = &self.link else {
            warn!(conn, "duplicate REGISTERED ignored");
            return;
        };
        let Some(stream_id) = stream_id.clone() else {
            warn!(conn, "REGISTERED before the stream id is known");
            return;
        };
        if let Some(old) = self.agent_id.clone()
            && old != r.agent_id
        {
            warn!(old = %old, new = %r.agent_id, "the master gave this agent a new id; dropping the old tasks");
            self.drop_all_tasks(out);
            self.gc_old_agent(now, &old, out);
            out.push(Command::Checkpoint(Checkpoint::ForgetAgent { agent_id: old }));
            self.agent_id = None;
        }
        if self.agent_id.is_none() {
            self.agent_id = Some(r.agent_id.clone());
            self.touch_all();
            out.push(Command::Checkpoint(Checkpoint::Agent {
                agent_id: r.agent_id.clone(),
                info: Box::new(self.agent_info()),
            }));
            // Frameworks recovered or known so far belong to the old id.
        }
        info!(agent_id = %r.agent_id, ping_interval = r.ping_interval_seconds, "registered with the master");
        self.registrations += 1;
        self.master = Some(r.master_info);
        self.link = Link::Registered { conn, stream_id };
        self.backoff = self.cfg.registration_backoff_factor;
        // Re-send every stream's head now.
        let keys: Vec<TaskKey> = self.tasks.keys().cloned().collect();
        for key in &keys {
            self.send_head(now, key, false, out);
        }
        for task_id in r.kill_tasks {
            let keys: Vec<TaskKey> = self.tasks.keys().filter(|k| k.1 == task_id).cloned().collect();
            for key in keys {
                info!(task_id = %key.1, "the master asks to kill this task on re-registration");
                self.start_kill(now, &key, None, KillCause::Request, out);
            }
        }
    }

    fn on_master_shutdown(&mut self, now: Now, conn: u64, message: &str, out: &mut Vec<Command>) {
        warn!(message, "the master shut this agent down; killing all tasks and registering as a new agent");
        self.drop_all_tasks(out);
        if let Some(old) = self.agent_id.take() {
            self.gc_old_agent(now, &old, out);
            out.push(Command::Checkpoint(Checkpoint::ForgetAgent { agent_id: old }));
        }
        self.frameworks.clear();
        self.shut_down_frameworks.clear();
        self.completed.clear();
        self.completed_executors.clear();
        out.push(Command::Disconnect { conn });
        let delay = self.next_backoff();
        self.link = Link::Idle { retry_at: now.mono + delay };
    }

    /// Kills every task at once and forgets it, without any status update.
    fn drop_all_tasks(&mut self, out: &mut Vec<Command>) {
        for (_, t) in std::mem::take(&mut self.tasks) {
            out.push(Command::Destroy { container_id: t.container_id });
        }
        self.containers.clear();
        self.executors.clear();
    }

    fn on_shutdown(&mut self, out: &mut Vec<Command>) {
        info!("agent shutting down; tasks of checkpointing frameworks keep running");
        let keys: Vec<TaskKey> = self.tasks.iter().filter(|(_, t)| !t.checkpoint).map(|(k, _)| k.clone()).collect();
        for key in keys {
            if let Some(t) = self.tasks.remove(&key) {
                self.containers.remove(&t.container_id);
                out.push(Command::Destroy { container_id: t.container_id });
            }
        }
        let tasks = &self.tasks;
        self.executors.retain(|(f, _), e| e.tasks.iter().any(|t| tasks.contains_key(&(f.clone(), t.clone()))));
        if let Some(conn) = self.current_conn() {
            out.push(Command::Disconnect { conn });
        }
        self.link = Link::Stopped;
    }

    // -----------------------------------------------------------------------------------------
    // Tasks

    fn run_path(&self, key: &TaskKey) -> RunPath {
        let t = self.tasks.get(key);
        let container_id = t.map(|t| t.container_id.clone()).unwrap_or_default();
        RunPath {
            agent_id: self.agent_id.clone().unwrap_or_default(),
            framework_id: key.0.clone(),
            executor_id: self.executor_id_of(key),
            container_id,
            task_id: key.1.clone(),
        }
    }

    fn on_prepared(&mut self, now: Now, cid: &str, result: Result<(), String>, out: &mut Vec<Command>) {
        let Some(key) = self.containers.get(cid).cloned() else {
            out.push(Command::Destroy { container_id: cid.to_string() });
            return;
        };
        let Some(t) = self.tasks.get_mut(&key) else { return };
        if t.phase != Phase::Preparing {
            warn!(container_id = cid, "unexpected Prepared event");
            return;
        }
        if t.state.is_terminal() {
            // Killed while its URIs were being fetched.
            t.phase = Phase::Gone;
            out.push(Command::Destroy { container_id: cid.to_string() });
            self.maybe_complete(now, &key, out);
            return;
        }
        match result {
            Err(e) => {
                t.phase = Phase::Gone;
                warn!(task_id = %key.1, error = %e, "task launch failed");
                self.fail_launch(now, &key, cid, &e, out);
            }
            Ok(()) => {
                t.phase = Phase::Launched;
                let spec = t.spec.clone();
                self.push_update(now, &key, TaskState::Starting, Source::Executor, None, None, out);
                out.push(Command::Spawn(Box::new(spec)));
            }
        }
    }

    /// A task whose container could not be started: TASK_FAILED, and its container removed.
    fn fail_launch(&mut self, now: Now, key: &TaskKey, cid: &str, error: &str, out: &mut Vec<Command>) {
        self.push_update(
            now,
            key,
            TaskState::Failed,
            Source::Agent,
            Some(Reason::ContainerLaunchFailed),
            Some(format!("Failed to launch container: {error}")),
            out,
        );
        out.push(Command::Destroy { container_id: cid.to_string() });
        self.maybe_complete(now, key, out);
    }

    fn on_spawned(&mut self, now: Now, cid: &str, result: Result<Started, String>, out: &mut Vec<Command>) {
        let Some(key) = self.containers.get(cid).cloned() else {
            out.push(Command::Destroy { container_id: cid.to_string() });
            return;
        };
        let Some(t) = self.tasks.get_mut(&key) else { return };
        if t.phase != Phase::Launched {
            warn!(container_id = cid, "unexpected Spawned event");
            return;
        }
        match result {
            Err(e) => {
                t.phase = Phase::Gone;
                warn!(task_id = %key.1, error = %e, "task process failed to start");
                self.fail_launch(now, &key, cid, &e, out);
            }
            Ok(started) => {
                t.pid = started.pid;
                t.addresses = started.addresses;
                t.completion_deadline =
                    t.info.max_completion_time.map(|d| now.mono + Duration::from_nanos(d.nanoseconds.max(0) as u64));
                if t.kill.is_none() && !t.state.is_terminal() {
                    self.push_running(now, &key, out);
                    self.start_health(now, &key);
                }
            }
        }
    }

    fn push_running(&mut self, now: Now, key: &TaskKey, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get(key) else { return };
        let mut container_status = serde_json::json!({
            "container_id": {"value": t.container_id},
            "network_infos": self.network_infos(t),
        });
        if let Some(pid) = t.pid {
            container_status["executor_pid"] = serde_json::json!(pid);
        }
        let mut status = self.new_status(now, key, TaskState::Running, Source::Executor, None, None);
        status.container_status = Some(container_status);
        self.enqueue(now, key, status, out);
    }

    // -----------------------------------------------------------------------------------------
    // Health checks

    /// Starts checking the health of a task that just became TASK_RUNNING (or was recovered
    /// running), if it has a health check. An invalid check is logged and not run, as Mesos'
    /// command executor does.
    fn start_health(&mut self, now: Now, key: &TaskKey) {
        let Some(t) = self.tasks.get_mut(key) else { return };
        let Some(raw) = &t.info.health_check else { return };
        let check = match HealthCheck::from_json(raw) {
            Ok(check) => check,
            Err(e) => {
                warn!(task_id = %key.1, error = %e, "the task's health check is invalid; its health is not checked");
                return;
            }
        };
        let Some(probe) = HealthProbe::of(&check, &t.spec, &t.addresses) else { return };
        let reported = health::reported_state(&t.statuses);
        debug!(task_id = %key.1, ?probe, ?reported, "health checks start");
        t.health = Some(HealthChecker::new(&check, probe, now.mono, reported));
    }

    /// Starts the task's health check if one is due (or counts an overdue one as failed).
    fn poll_health(&mut self, now: Now, key: &TaskKey, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get_mut(key) else { return };
        if !t.checking_health() {
            return;
        }
        let container_id = t.container_id.clone();
        let Some(step) = t.health.as_mut().and_then(|h| h.poll(now.mono)) else { return };
        match step {
            Step::Start { id, probe, timeout } => {
                out.push(Command::RunHealthCheck { container_id, check_id: id, probe: Box::new(probe), timeout });
            }
            Step::Overdue(verdict) => {
                warn!(task_id = %key.1, "no result of the health check in time; counted as failed");
                self.apply_health_verdict(now, key, verdict, out);
            }
        }
    }

    fn on_health_result(
        &mut self,
        now: Now,
        cid: &str,
        check_id: u64,
        result: Result<(), String>,
        out: &mut Vec<Command>,
    ) {
        let Some(key) = self.containers.get(cid).cloned() else {
            debug!(container_id = cid, "health check result for an unknown container ignored");
            return;
        };
        let Some(t) = self.tasks.get_mut(&key) else { return };
        if !t.checking_health() {
            debug!(task_id = %key.1, "health check result for a task no longer checked ignored");
            return;
        }
        let Some(verdict) = t.health.as_mut().and_then(|h| h.on_result(now.mono, check_id, result.is_ok())) else {
            debug!(task_id = %key.1, check_id, "stale health check result ignored");
            return;
        };
        match &result {
            Ok(()) => debug!(task_id = %key.1, check_id, "health check passed"),
            Err(e) => info!(task_id = %key.1, check_id, error = %e, ?verdict, "health check failed"),
        }
        self.apply_health_verdict(now, &key, verdict, out);
    }

    fn apply_health_verdict(&mut self, now: Now, key: &TaskKey, verdict: Verdict, out: &mut Vec<Command>) {
        match verdict {
            Verdict::Silent => {}
            Verdict::Healthy => {
                info!(task_id = %key.1, "task is healthy");
                self.push_health(now, key, true, out);
            }
            Verdict::Unhealthy { failures, kill } => {
                warn!(task_id = %key.1, failures, "task is unhealthy");
                self.push_health(now, key, false, out);
                if kill {
                    info!(task_id = %key.1, failures, "killing the task after consecutive failed health checks");
                    self.start_kill(now, key, None, KillCause::HealthCheck, out);
                }
            }
        }
    }

    /// TASK_RUNNING with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED. Mesos' executor
    /// derives it from its last status (the TASK_RUNNING), so the container status is kept.
    fn push_health(&mut self, now: Now, key: &TaskKey, healthy: bool, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get(key) else { return };
        let container_status =
            t.statuses.iter().rev().find(|s| s.state == TaskState::Running).and_then(|s| s.container_status.clone());
        let mut status = self.new_status(
            now,
            key,
            TaskState::Running,
            Source::Executor,
            Some(Reason::TaskHealthCheckStatusUpdated),
            None,
        );
        status.container_status = container_status;
        status.healthy = Some(healthy);
        self.enqueue(now, key, status, out);
    }

    fn on_exited(&mut self, now: Now, cid: &str, exit: ExitInfo, out: &mut Vec<Command>) {
        let Some(key) = self.containers.get(cid).cloned() else {
            out.push(Command::Destroy { container_id: cid.to_string() });
            return;
        };
        let Some(t) = self.tasks.get_mut(&key) else { return };
        info!(task_id = %key.1, container_id = cid, termination = ?exit.termination, oom = exit.oom.is_some(), "task process ended");
        t.phase = Phase::Gone;
        t.health = None;
        if !t.state.is_terminal() {
            self.push_exit_update(now, &key, exit, out);
        }
        out.push(Command::Destroy { container_id: cid.to_string() });
        self.maybe_complete(now, &key, out);
    }

    /// The terminal update for a process that ended.
    fn push_exit_update(&mut self, now: Now, key: &TaskKey, exit: ExitInfo, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get(key) else { return };
        let message = termination_message(exit.termination);
        if let Some(limitation) = t.limitation.clone() {
            let limited: Vec<Resource> =
                t.info.resources.iter().filter(|r| limitation.resources.contains(&r.name.as_str())).cloned().collect();
            let mut status = self.new_status(
                now,
                key,
                TaskState::Failed,
                Source::Agent,
                Some(limitation.reason),
                Some(limitation.message),
            );
            status.limitation = Some(serde_json::json!({ "resources": limited }));
            self.enqueue(now, key, status, out);
            return;
        }
        if let Some(oom) = exit.oom {
            let mem = ResourceSet::from_wire(&t.info.resources).map(|r| r.scalar("mem")).unwrap_or(0.0);
            let text = format!(
                "Memory limit exceeded: Requested: {}MB Maximum Used: {}MB",
                (oom.limit_bytes / (1024 * 1024)).max(mem as u64),
                oom.max_usage_bytes / (1024 * 1024)
            );
            let mem_resources: Vec<Resource> = t.info.resources.iter().filter(|r| r.name == "mem").cloned().collect();
            let mut status = self.new_status(
                now,
                key,
                TaskState::Failed,
                Source::Agent,
                Some(Reason::ContainerLimitationMemory),
                Some(text),
            );
            status.limitation = Some(serde_json::json!({ "resources": mem_resources }));
            self.enqueue(now, key, status, out);
            return;
        }
        let cause = t.kill.map(|k| k.cause);
        let (state, reason) = match (cause, exit.termination) {
            (Some(KillCause::MaxCompletion), _) => (TaskState::Failed, Some(Reason::MaxCompletionTimeReached)),
            // Without its limitation (cannot happen): failed all the same.
            (Some(KillCause::Limitation), _) => (TaskState::Failed, Some(Reason::ContainerLimitation)),
            (Some(KillCause::Request | KillCause::HealthCheck), _) => (TaskState::Killed, None),
            (None, Termination::Exited(0) | Termination::ContainerExited(0)) => (TaskState::Finished, None),
            (None, _) => (TaskState::Failed, None),
        };
        let mut status = self.new_status(now, key, state, Source::Executor, reason, Some(message));
        // As Mesos' command executor: a task killed by its health check ends unhealthy.
        if cause == Some(KillCause::HealthCheck) {
            status.healthy = Some(false);
        }
        self.enqueue(now, key, status, out);
    }

    fn start_kill(
        &mut self,
        now: Now,
        key: &TaskKey,
        policy: Option<KillPolicy>,
        cause: KillCause,
        out: &mut Vec<Command>,
    ) {
        let Some(t) = self.tasks.get_mut(key) else { return };
        // As upstream's Docker executor: `--docker_stop_timeout` unless a kill policy says.
        let default_grace = match t.spec.containerizer() {
            ContainerizerKind::Mesos => self.cfg.default_kill_grace,
            ContainerizerKind::Docker => self.cfg.docker_stop_timeout,
        };
        if t.state.is_terminal() || t.phase == Phase::Gone {
            debug!(task_id = %key.1, "kill of a task that already ended ignored");
            return;
        }
        // Health checks stop once the task is being killed.
        t.health = None;
        let grace = policy
            .and_then(|p| p.grace_period)
            .or_else(|| t.info.kill_policy.and_then(|p| p.grace_period))
            .map(|g| Duration::from_nanos(g.nanoseconds.max(0) as u64))
            .unwrap_or(default_grace);
        let container_id = t.container_id.clone();
        if t.phase == Phase::Preparing {
            info!(task_id = %key.1, "task killed before its process started");
            self.push_update(
                now,
                key,
                TaskState::Killed,
                Source::Agent,
                Some(Reason::TaskKilledDuringLaunch),
                Some("Task killed before it was launched".to_string()),
                out,
            );
            return;
        }
        if let Some(k) = &mut t.kill {
            // A kill in progress can only be shortened.
            let deadline = now.mono + grace;
            if !k.escalated && deadline < k.deadline {
                k.deadline = deadline;
                if grace.is_zero() {
                    k.escalated = true;
                    out.push(Command::Signal { container_id, signal: KillSignal::Kill });
                }
            }
            return;
        }
        info!(task_id = %key.1, grace_ms = grace.as_millis() as u64, "killing task");
        let escalated = grace.is_zero();
        t.kill = Some(Kill { deadline: now.mono + grace, escalated, cause });
        let checkpoint = t.checkpoint;
        let killing = !matches!(cause, KillCause::MaxCompletion | KillCause::Limitation)
            && t.state != TaskState::Killing
            && self.frameworks.get(&key.0).is_some_and(|f| f.has_capability("TASK_KILLING_STATE"));
        if checkpoint {
            out.push(Command::Checkpoint(Checkpoint::Record {
                run: self.run_path(key),
                record: Box::new(UpdateRecord::Kill),
            }));
        }
        if killing {
            self.push_update(now, key, TaskState::Killing, Source::Executor, None, None, out);
        }
        let signal = if escalated { KillSignal::Kill } else { KillSignal::Term };
        out.push(Command::Signal { container_id, signal });
    }

    // -----------------------------------------------------------------------------------------
    // Status updates

    fn new_uuid(&mut self) -> uuid::Uuid {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn new_status(
        &mut self,
        now: Now,
        key: &TaskKey,
        state: TaskState,
        source: Source,
        reason: Option<Reason>,
        message: Option<String>,
    ) -> TaskStatus {
        use base64::Engine;
        let uuid = base64::engine::general_purpose::STANDARD.encode(self.new_uuid().as_bytes());
        let mut s = TaskStatus::new(key.1.clone(), state);
        s.source = Some(source);
        s.reason = reason;
        s.message = message;
        s.agent_id = self.agent_id.clone();
        s.executor_id = Some(self.executor_id_of(key));
        s.timestamp = Some(now.wall);
        s.uuid = Some(uuid);
        s
    }

    #[allow(clippy::too_many_arguments)]
    fn push_update(
        &mut self,
        now: Now,
        key: &TaskKey,
        state: TaskState,
        source: Source,
        reason: Option<Reason>,
        message: Option<String>,
        out: &mut Vec<Command>,
    ) {
        let status = self.new_status(now, key, state, source, reason, message);
        self.enqueue(now, key, status, out);
    }

    /// Appends an update to the task's stream: checkpointed first, sent if it is the head.
    fn enqueue(&mut self, now: Now, key: &TaskKey, status: TaskStatus, out: &mut Vec<Command>) {
        let run = self.run_path(key);
        let Some(t) = self.tasks.get_mut(key) else { return };
        info!(task_id = %key.1, state = status.state.name(), uuid = ?status.uuid, "status update");
        let ended = status.state.is_terminal() && !t.state.is_terminal();
        if ended {
            *self.terminal_counts.entry(status.state.name().to_string()).or_default() += 1;
        }
        let group_failed = (ended && status.state != TaskState::Finished).then(|| t.group.clone()).flatten();
        t.state = status.state;
        t.statuses.push(status.clone());
        t.view.take();
        if t.checkpoint {
            out.push(Command::Checkpoint(Checkpoint::Record {
                run,
                record: Box::new(UpdateRecord::Update(Box::new(status.clone()))),
            }));
        }
        if t.stream.push(status) {
            self.send_head(now, key, false, out);
        }
        if let Some(executor_id) = group_failed {
            self.kill_rest_of_group(now, &(key.0.clone(), executor_id), out);
        }
    }

    /// Sends the head of a task's stream if connected (`retry`: a timer fired).
    fn send_head(&mut self, now: Now, key: &TaskKey, retry: bool, out: &mut Vec<Command>) {
        let Link::Registered { stream_id, .. } = &self.link else { return };
        let stream_id = stream_id.clone();
        let (min, max) = (self.cfg.update_retry_min, self.cfg.update_retry_max);
        let Some(t) = self.tasks.get_mut(key) else { return };
        let Some(head) = t.stream.head().cloned() else { return };
        if retry {
            t.stream.sent_retry(now.mono, min, max);
            info!(task_id = %key.1, state = head.state.name(), uuid = ?head.uuid, "re-sending unacknowledged update");
        } else {
            t.stream.sent_fresh(now.mono, min);
        }
        out.push(Command::Send {
            stream_id,
            call: Box::new(AgentCall::StatusUpdate {
                status_update: StatusUpdate { framework_id: key.0.clone(), status: head, latest_state: t.state },
            }),
        });
    }

    fn on_ack(&mut self, now: Now, key: TaskKey, uuid: &str, out: &mut Vec<Command>) {
        let run = self.run_path(&key);
        let Some(t) = self.tasks.get_mut(&key) else {
            debug!(task_id = %key.1, uuid, "acknowledgement for an unknown task ignored");
            self.invalid_acks += 1;
            return;
        };
        match t.stream.ack(uuid) {
            AckOutcome::Ignored => {
                debug!(task_id = %key.1, uuid, "acknowledgement does not match the pending update; ignored");
                self.invalid_acks += 1;
            }
            AckOutcome::Popped => {
                self.valid_acks += 1;
                t.view.take();
                if t.checkpoint {
                    out.push(Command::Checkpoint(Checkpoint::Record {
                        run,
                        record: Box::new(UpdateRecord::Ack(uuid.to_string())),
                    }));
                }
                self.send_head(now, &key, false, out);
                self.maybe_complete(now, &key, out);
            }
        }
    }

    /// Moves a task that ended and has no pending update to the completed list.
    fn maybe_complete(&mut self, now: Now, key: &TaskKey, out: &mut Vec<Command>) {
        let Some(t) = self.tasks.get(key) else { return };
        if !(t.state.is_terminal() && t.stream.is_empty() && t.phase != Phase::Launched) {
            return;
        }
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let view = Arc::new(self.task_view(t, &agent_id));
        let run = self.run_path(key);
        let Some(t) = self.tasks.remove(key) else { return };
        // A Prepare still in flight then finds no task and destroys its container.
        self.containers.remove(&t.container_id);
        if t.checkpoint {
            out.push(Command::Checkpoint(Checkpoint::RemoveRun { run }));
        }
        debug!(task_id = %key.1, state = t.state.name(), "task completed");
        if let Some(executor_id) = &t.group {
            // Its sandbox goes with its executor's.
            self.group_task_completed(now, &(key.0.clone(), executor_id.clone()), &key.1, view, out);
            return;
        }
        self.gc_completed(now, &t.spec.sandbox, out);
        let list = self.completed.entry(key.0.clone()).or_default();
        list.push_back(view);
        while list.len() > MAX_COMPLETED_PER_FRAMEWORK {
            list.pop_front();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Timers

    fn fire_timers(&mut self, now: Now, out: &mut Vec<Command>) {
        if let Link::Idle { retry_at } = self.link
            && self.started
            && retry_at <= now.mono
        {
            self.connect(out);
        }
        self.fire_gc(now, out);
        self.fire_limits(now, out);
        let registered = matches!(self.link, Link::Registered { .. });
        // Only tasks with a timer due: this runs after every event, so it must not cost more
        // than a scan when nothing is due.
        let keys: Vec<TaskKey> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.next_timer(registered).is_some_and(|due| due <= now.mono))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(t) = self.tasks.get_mut(&key) else { continue };
            if t.phase == Phase::Launched {
                if let Some(k) = &mut t.kill
                    && !k.escalated
                    && k.deadline <= now.mono
                {
                    k.escalated = true;
                    info!(task_id = %key.1, "kill grace period elapsed; sending SIGKILL");
                    out.push(Command::Signal { container_id: t.container_id.clone(), signal: KillSignal::Kill });
                }
                if let Some(d) = t.completion_deadline
                    && t.kill.is_none()
                    && d <= now.mono
                {
                    info!(task_id = %key.1, "max completion time reached; killing task");
                    let zero = KillPolicy { grace_period: Some(duration_info(Duration::ZERO)) };
                    self.start_kill(now, &key, Some(zero), KillCause::MaxCompletion, out);
                }
                self.poll_health(now, &key, out);
            }
            if registered
                && let Some(t) = self.tasks.get(&key)
                && t.stream.due().is_some_and(|d| d <= now.mono)
            {
                self.send_head(now, &key, true, out);
            }
        }
    }
}

/// Whether a kill recorded for this task was the health checker's: as many `healthy: false`
/// updates in a row as the check tolerates (checks stop at the first kill, whoever asked).
fn killed_by_health_check(info: &TaskInfo, statuses: &[TaskStatus]) -> bool {
    let Some(check) = info.health_check.as_ref().and_then(|raw| HealthCheck::from_json(raw).ok()) else {
        return false;
    };
    let (_, failures) = health::reported_state(statuses);
    failures > 0 && failures >= check.consecutive_failures
}

fn duration_info(d: Duration) -> mesos_api::messages::DurationInfo {
    mesos_api::messages::DurationInfo { nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX) }
}

/// The cgroup limits of a task with these resources.
pub fn cgroup_limits(resources: &ResourceSet) -> Limits {
    Limits { cpus: resources.scalar("cpus"), mem_mb: resources.scalar("mem") }
}

fn allocation_role(framework: &FrameworkInfo, resources: &[Resource]) -> String {
    resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .unwrap_or_else(|| framework.effective_roles().into_iter().next().unwrap_or_else(|| "*".to_string()))
}

/// `Command Executor (Task: <id>) (Command: sh -c '<first 12 chars>...')`.
pub fn executor_name(task: &TaskInfo) -> String {
    let command = match &task.command {
        Some(c) if c.shell => {
            let v = c.value.clone().unwrap_or_default();
            let short: String = v.chars().take(12).collect();
            let dots = if v.chars().count() > 12 { "..." } else { "" };
            format!("sh -c '{short}{dots}'")
        }
        Some(c) => format!("[{}]", c.arguments.join(", ")),
        None => String::new(),
    };
    format!("Command Executor (Task: {}) (Command: {command})", task.task_id)
}

/// `Command exited with status N` / `Command terminated with signal <strsignal>`.
pub fn termination_message(t: Termination) -> String {
    match t {
        Termination::Exited(code) => format!("Command exited with status {code}"),
        Termination::Signaled(sig) => format!("Command terminated with signal {}", signal_description(sig)),
        Termination::ContainerExited(code) => format!("Container exited with status {code}"),
        Termination::Unknown => "Command terminated for an unknown reason".to_string(),
    }
}

/// The text `strsignal(3)` gives on Linux (glibc).
pub fn signal_description(sig: i32) -> String {
    let text = match sig {
        1 => "Hangup",
        2 => "Interrupt",
        3 => "Quit",
        4 => "Illegal instruction",
        5 => "Trace/breakpoint trap",
        6 => "Aborted",
        7 => "Bus error",
        8 => "Floating point exception",
        9 => "Killed",
        10 => "User defined signal 1",
        11 => "Segmentation fault",
        12 => "User defined signal 2",
        13 => "Broken pipe",
        14 => "Alarm clock",
        15 => "Terminated",
        16 => "Stack fault",
        17 => "Child exited",
        18 => "Continued",
        19 => "Stopped (signal)",
        20 => "Stopped",
        21 => "Stopped (tty input)",
        22 => "Stopped (tty output)",
        23 => "Urgent I/O condition",
        24 => "CPU time limit exceeded",
        25 => "File size limit exceeded",
        26 => "Virtual timer expired",
        27 => "Profiling timer expired",
        28 => "Window changed",
        29 => "I/O possible",
        30 => "Power failure",
        31 => "Bad system call",
        34..=64 => return format!("Real-time signal {}", sig - 34),
        _ => return format!("Unknown signal {sig}"),
    };
    text.to_string()
}
