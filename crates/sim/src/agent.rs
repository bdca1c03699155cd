//! An agent host as the sim plays it: the agent process (its shell `agent::runtime` around the
//! real [`AgentCore`], and the link to the master), its disk (the checkpoint log) and its
//! process table (task processes live on the host, whatever happens to the agent process).
//!
//! Like the real runtime, a burst of events is one step: its checkpoints are written and
//! `fdatasync`ed together before any other command of the step runs, and events that arrive
//! meanwhile wait for the next step. A crash during the sync loses the step (nothing of it was
//! written, none of its commands ran). A process crash keeps what was written (the page cache
//! survives it); a host crash loses the processes and the agent then discards its checkpoint
//! (a new boot id), as the real agent does.

use crate::env::{Env, Ev, agent_now};
use crate::net::{Answer, Msg, Node, Sid};
use agent::core::{
    AgentCore, Checkpoint, Command, ContainerizerKind, CoreConfig, Event, ExecutorRun, ExitInfo, KillSignal,
    RecoveredExecutor, RecoveredProcess, RecoveredTask, Recovery, RunPath, Started, Termination, UpdateRecord,
};
use agent::paths::Layout;
use mesos_api::agent::{AgentCall, AgentEvent, StatusUpdate};
use mesos_api::resources::ResourceSet;
use mesos_api::{AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo};
use rand::Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the link waits for REGISTERED (and for an answer to REGISTER).
const REGISTER_TIMEOUT: Duration = Duration::from_secs(15);
/// Missed ping intervals after which the link gives the master up.
const SILENT_PINGS: u32 = 4;

pub(crate) const AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:10000";

fn config(idx: usize, ha: bool, seed: u64) -> CoreConfig {
    let resources = ResourceSet::parse_text(AGENT_RESOURCES).unwrap_or_default();
    CoreConfig {
        master: (!ha).then(|| crate::master::address(0)),
        agent_info: AgentInfo {
            hostname: format!("agent{idx}"),
            port: 5051,
            resources: resources.to_wire(),
            attributes: Vec::new(),
            id: None,
            domain: None,
        },
        endpoint: format!("10.0.0.{}:5051", idx + 1),
        ip: format!("10.0.0.{}", idx + 1),
        layout: Layout::new(format!("/sim/agent{idx}")),
        default_kill_grace: Duration::from_secs(2),
        containerizers: vec![ContainerizerKind::Mesos],
        // No limits are watched in the simulation (its tasks use none), and tasks run as the
        // agent's user.
        limits: agent::core::LimitsConfig::default(),
        switch_user: false,
        agent_user: None,
        docker_stop_timeout: Duration::ZERO,
        executor_shutdown_grace: Duration::from_secs(3),
        update_retry_min: Duration::from_secs(1),
        update_retry_max: Duration::from_secs(20),
        registration_backoff_factor: Duration::from_millis(500),
        registration_backoff_max: Duration::from_secs(5),
        cgroups: false,
        seed,
        gc_delay: Duration::from_secs(7 * 24 * 3600),
        gc_disk_headroom: 0.1,
        disk_watch_interval: Duration::from_secs(60),
    }
}

/// A run's place in the log: agent, framework, executor, container, task (as the real log).
type RunKey = (String, String, String, String, String);

fn run_key(run: &RunPath) -> RunKey {
    (
        run.agent_id.value.clone(),
        run.framework_id.value.clone(),
        run.executor_id.value.clone(),
        run.container_id.clone(),
        run.task_id.value.clone(),
    )
}

#[derive(Debug, Clone)]
pub(crate) struct LiveTask {
    pub(crate) run: RunPath,
    pub(crate) info: TaskInfo,
    pub(crate) records: Vec<UpdateRecord>,
    pub(crate) containerizer: ContainerizerKind,
    /// A task of the task group of `run.executor_id`.
    pub(crate) group: bool,
}

/// The agent's work dir as recovery reads it: the replayed checkpoint log and the agent id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disk {
    pub(crate) agent: Option<AgentId>,
    pub(crate) frameworks: BTreeMap<(AgentId, FrameworkId), FrameworkInfo>,
    pub(crate) tasks: BTreeMap<RunKey, LiveTask>,
    /// Executors of task groups: agent, framework, executor.
    pub(crate) executors: BTreeMap<(AgentId, FrameworkId, ExecutorId), (ExecutorRun, ExecutorInfo)>,
    /// Group commits so far.
    pub(crate) fsyncs: u64,
}

impl Disk {
    /// Applies one durable checkpoint (as `checkpoint::Store` writes and replays it).
    pub(crate) fn apply(&mut self, cp: &Checkpoint) {
        match cp {
            Checkpoint::Agent { agent_id, .. } => self.agent = Some(agent_id.clone()),
            Checkpoint::ForgetAgent { agent_id } => {
                self.frameworks.retain(|(a, _), _| a != agent_id);
                self.executors.retain(|(a, _, _), _| a != agent_id);
                self.tasks.retain(|_, t| &t.run.agent_id != agent_id);
                if self.agent.as_ref() == Some(agent_id) {
                    self.agent = None;
                }
            }
            Checkpoint::Framework { agent_id, info } => {
                let id = info.id.clone().unwrap_or_default();
                self.frameworks.insert((agent_id.clone(), id), (**info).clone());
            }
            Checkpoint::Executor { run, info } => {
                let key = (run.agent_id.clone(), run.framework_id.clone(), run.executor_id.clone());
                self.executors.insert(key, (run.clone(), (**info).clone()));
            }
            Checkpoint::Task { run, info, containerizer, group } => {
                let task = LiveTask {
                    run: run.clone(),
                    info: (**info).clone(),
                    records: Vec::new(),
                    containerizer: *containerizer,
                    group: *group,
                };
                self.tasks.insert(run_key(run), task);
            }
            Checkpoint::Record { run, record } => {
                if let Some(t) = self.tasks.get_mut(&run_key(run)) {
                    t.records.push((**record).clone());
                }
            }
            Checkpoint::RemoveRun { run } => {
                self.tasks.retain(|_, t| {
                    !(t.run.agent_id == run.agent_id
                        && t.run.framework_id == run.framework_id
                        && t.run.executor_id == run.executor_id
                        && t.run.task_id == run.task_id)
                });
                let key = (run.agent_id.clone(), run.framework_id.clone(), run.executor_id.clone());
                let left = self.tasks.values().any(|t| {
                    t.group && t.run.agent_id == key.0 && t.run.framework_id == key.1 && t.run.executor_id == key.2
                });
                if !left {
                    self.executors.remove(&key);
                }
            }
        }
    }

    /// Whether the update with `uuid` of `task` is on disk.
    pub(crate) fn has_update(&self, task: &TaskId, uuid: &str) -> bool {
        self.tasks
            .values()
            .filter(|t| &t.run.task_id == task)
            .any(|t| t.records.iter().any(|r| matches!(r, UpdateRecord::Update(s) if s.uuid.as_deref() == Some(uuid))))
    }

    /// Whether a task's info is on disk (written before its launch).
    pub(crate) fn has_task(&self, container_id: &str) -> bool {
        self.tasks.values().any(|t| t.run.container_id == container_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcState {
    /// Started; the launch has not been reported to the agent yet.
    Launching,
    Running,
    Exited(ExitInfo),
}

/// A task process on the host.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) task_id: TaskId,
    pub(crate) pid: i32,
    pub(crate) state: ProcState,
    /// The agent read its launch report (so its launch record is in the log).
    pub(crate) reported: bool,
    /// The agent incarnation that waits for its end.
    watched: Option<u64>,
    /// It does not end on SIGTERM (only SIGKILL ends it).
    ignores_term: bool,
    /// The pending end, if one is scheduled: its token and how it ends.
    dying: Option<(u64, ExitInfo)>,
}

impl Proc {
    /// A process nobody launched (for `Mutation::StrayTask`): reported, so it looks recorded.
    pub(crate) fn stray(task_id: TaskId) -> Proc {
        Proc {
            task_id,
            pid: 1,
            state: ProcState::Running,
            reported: false,
            watched: None,
            ignores_term: true,
            dying: None,
        }
    }

    pub(crate) fn alive(&self) -> bool {
        !matches!(self.state, ProcState::Exited(_))
    }
}

/// The agent's link to the master: one registration stream.
#[derive(Debug, Clone)]
struct Link {
    conn: u64,
    master: usize,
    sid: Option<Sid>,
    agent_id: Option<AgentId>,
    /// Silence allowed before the link gives up.
    idle: Duration,
    deadline: Duration,
}

pub(crate) struct AgentNode {
    pub(crate) idx: usize,
    pub(crate) inc: u64,
    pub(crate) up: bool,
    pub(crate) core: Option<AgentCore>,
    /// A step's group commit is in flight: its checkpoints and other commands wait for it.
    busy: bool,
    pending_checkpoints: Vec<Checkpoint>,
    pending_commands: Vec<Command>,
    /// Events that arrived during the commit: the next step.
    inbox: Vec<Event>,
    pub(crate) disk: Disk,
    pub(crate) procs: BTreeMap<String, Proc>,
    link: Option<Link>,
    /// Where calls go (the master of the last REGISTER answer).
    current_master: Option<usize>,
    /// Launches in flight, with the signals and destroys that wait for them.
    spawning: BTreeMap<String, Vec<Command>>,
    next_pid: i32,
    next_token: u64,
    pub(crate) wake: Option<Duration>,
}

impl AgentNode {
    pub(crate) fn new(idx: usize) -> AgentNode {
        AgentNode {
            idx,
            inc: 0,
            up: false,
            core: None,
            busy: false,
            pending_checkpoints: Vec::new(),
            pending_commands: Vec::new(),
            inbox: Vec::new(),
            disk: Disk::default(),
            procs: BTreeMap::new(),
            link: None,
            current_master: None,
            spawning: BTreeMap::new(),
            next_pid: 1000,
            next_token: 0,
            wake: None,
        }
    }

    fn node(&self) -> Node {
        Node::Agent(self.idx)
    }

    /// Whether this agent's link is registered with master `m` (per the agent's view).
    pub(crate) fn registered_with(&self, m: usize) -> bool {
        self.up
            && self.link.as_ref().is_some_and(|l| l.master == m && l.sid.is_some())
            && self.core.as_ref().is_some_and(AgentCore::is_registered)
    }

    /// Starts the agent process: it recovers what the last one left.
    pub(crate) fn start(&mut self, env: &mut Env) {
        self.inc += 1;
        self.up = true;
        self.busy = false;
        self.pending_checkpoints.clear();
        self.pending_commands.clear();
        self.inbox.clear();
        self.link = None;
        self.spawning.clear();
        self.current_master = (!env.ha).then_some(0);
        let seed = env.rng.random();
        self.core = Some(AgentCore::new(config(self.idx, env.ha, seed)));
        let recovery = self.recovery();
        env.note(format!(
            "agent {} starts (incarnation {}): id {:?}, {} tasks, {} orphans",
            self.idx,
            self.inc,
            recovery.agent_id.as_ref().map(|a| a.value.as_str()),
            recovery.tasks.len(),
            recovery.orphan_containers.len()
        ));
        self.feed(env, vec![Event::Start(Box::new(recovery))]);
        if env.ha {
            let d = env.millis(1, 50);
            env.after(d, Ev::Detected { node: self.node() });
        }
    }

    /// What `agent::recover` finds: the checkpoint and the host's containers.
    fn recovery(&self) -> Recovery {
        let agent_id = self.disk.agent.clone();
        let mut recovery = Recovery { agent_id: agent_id.clone(), ..Recovery::default() };
        let mut matched = std::collections::BTreeSet::new();
        if let Some(agent_id) = &agent_id {
            for ((a, id), info) in &self.disk.frameworks {
                if a == agent_id {
                    let mut info = info.clone();
                    info.id = Some(id.clone());
                    recovery.frameworks.push(info);
                }
            }
            for t in self.disk.tasks.values() {
                if &t.run.agent_id != agent_id
                    || !self.disk.frameworks.contains_key(&(agent_id.clone(), t.run.framework_id.clone()))
                {
                    continue;
                }
                let process = match self.procs.get(&t.run.container_id) {
                    Some(p) if p.reported => {
                        matched.insert(t.run.container_id.clone());
                        match p.state {
                            ProcState::Exited(exit) => RecoveredProcess::Exited(exit),
                            _ => RecoveredProcess::Running { pid: Some(p.pid) },
                        }
                    }
                    _ => RecoveredProcess::NotStarted,
                };
                let executor_id = t.group.then(|| t.run.executor_id.clone());
                recovery.tasks.push(RecoveredTask {
                    framework_id: t.run.framework_id.clone(),
                    container_id: t.run.container_id.clone(),
                    info: t.info.clone(),
                    records: t.records.clone(),
                    process,
                    containerizer: t.containerizer,
                    addresses: Vec::new(),
                    executor_id,
                });
            }
            for ((a, framework_id, _), (run, info)) in &self.disk.executors {
                if a == agent_id {
                    recovery.executors.push(RecoveredExecutor {
                        framework_id: framework_id.clone(),
                        container_id: run.container_id.clone(),
                        info: info.clone(),
                    });
                }
            }
        }
        recovery.orphan_containers = self
            .procs
            .iter()
            .filter(|(cid, p)| p.reported && !matched.contains(*cid))
            .map(|(cid, _)| cid.clone())
            .collect();
        recovery
    }

    /// The agent process dies (`host`: the machine, with its task processes and what was not
    /// synced; the next agent discards the checkpoint, as after any reboot).
    pub(crate) fn crash(&mut self, env: &mut Env, host: bool) {
        if !self.up && !host {
            return;
        }
        env.note(format!("agent {} {}", self.idx, if host { "HOST CRASHES" } else { "CRASHES" }));
        env.dirty = true;
        if self.up {
            self.drop_link(env);
        }
        self.up = false;
        self.core = None;
        self.busy = false;
        self.pending_checkpoints.clear();
        self.pending_commands.clear();
        self.inbox.clear();
        self.spawning.clear();
        self.wake = None;
        if host {
            self.procs.clear();
            self.disk = Disk::default();
            env.history.agent_wiped(self.idx);
        } else {
            // Launches nobody will read the report of are abandoned: never started.
            let abandoned: Vec<String> =
                self.procs.iter().filter(|(_, p)| !p.reported).map(|(cid, _)| cid.clone()).collect();
            for cid in abandoned {
                self.procs.remove(&cid);
            }
            for p in self.procs.values_mut() {
                p.watched = None;
            }
        }
    }

    fn drop_link(&mut self, env: &mut Env) {
        if let Some(link) = self.link.take()
            && let Some(sid) = link.sid
        {
            env.stream_drop_by_client(sid);
        }
    }

    pub(crate) fn refresh_wake(&mut self) {
        if !self.up || self.busy {
            self.wake = None;
            return;
        }
        let core = self.core.as_ref().and_then(AgentCore::next_wakeup);
        let link = self.link.as_ref().map(|l| l.deadline);
        self.wake = match (core, link) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Timers: the link's silence limit and the core's.
    pub(crate) fn tick(&mut self, env: &mut Env) {
        let mut events = Vec::new();
        if let Some(link) = &self.link
            && link.deadline <= env.now
        {
            let conn = link.conn;
            env.note(format!("agent {} link {conn}: silent too long", self.idx));
            self.drop_link(env);
            events.push(Event::LinkClosed { conn, reason: "silent".into() });
        }
        events.push(Event::Tick);
        self.feed(env, events);
    }

    /// Feeds events to the core (or queues them behind a commit in flight).
    pub(crate) fn feed(&mut self, env: &mut Env, events: Vec<Event>) {
        if !self.up {
            return;
        }
        if self.busy {
            self.inbox.extend(events);
            return;
        }
        let Some(core) = &mut self.core else { return };
        let before = core.version();
        let commands = core.handle_all(agent_now(env.now), events);
        // Pings and ticks that change nothing leave the checks' inputs as they were.
        if core.version() != before {
            env.dirty = true;
        }
        let (checkpoints, others): (Vec<Command>, Vec<Command>) =
            commands.into_iter().partition(|c| matches!(c, Command::Checkpoint(_)));
        let checkpoints: Vec<Checkpoint> = checkpoints
            .into_iter()
            .filter_map(|c| match c {
                Command::Checkpoint(cp) => Some(cp),
                _ => None,
            })
            .collect();
        if checkpoints.is_empty() {
            self.execute(env, others);
            self.refresh_wake();
        } else {
            self.busy = true;
            self.pending_checkpoints = checkpoints;
            self.pending_commands = others;
            let d = env.millis(1, 8);
            env.after(d, Ev::AgentStepDone { agent: self.idx, inc: self.inc });
            self.wake = None;
        }
    }

    /// The step's group commit is durable: run the rest of it, then what waited.
    pub(crate) fn step_done(&mut self, env: &mut Env) {
        if !self.busy {
            return;
        }
        self.disk.fsyncs += 1;
        for cp in std::mem::take(&mut self.pending_checkpoints) {
            if let Checkpoint::Record { run, record } = &cp
                && let UpdateRecord::Update(status) = &**record
                && let Some(uuid) = &status.uuid
            {
                env.history.update_generated(self.idx, &run.task_id, uuid, status.state);
            }
            if matches!(cp, Checkpoint::ForgetAgent { .. }) {
                // Its tasks were dropped without updates (a new agent id, or shut down).
                env.history.agent_wiped(self.idx);
            }
            self.disk.apply(&cp);
        }
        let commands = std::mem::take(&mut self.pending_commands);
        self.busy = false;
        self.execute(env, commands);
        let inbox = std::mem::take(&mut self.inbox);
        if inbox.is_empty() {
            self.refresh_wake();
        } else {
            self.feed(env, inbox);
        }
    }

    fn execute(&mut self, env: &mut Env, commands: Vec<Command>) {
        // A step's status updates travel together, one call per stream.
        let mut updates: Vec<(String, StatusUpdate)> = Vec::new();
        for command in commands {
            match command {
                Command::Send { stream_id, call } => match *call {
                    AgentCall::StatusUpdate { status_update } => updates.push((stream_id, status_update)),
                    call => self.post(env, stream_id, call),
                },
                other => self.run(env, other),
            }
        }
        let mut batch: Vec<StatusUpdate> = Vec::new();
        let mut current: Option<String> = None;
        for (stream, update) in updates {
            if let Some(uuid) = &update.status.uuid
                && !self.disk.has_update(&update.status.task_id, uuid)
            {
                env.history.violation(crate::check::Violation::new(
                    crate::check::Kind::AcknowledgedWriteLost,
                    format!(
                        "agent {} sends update {} of {} that is not in its checkpoint",
                        self.idx, uuid, update.status.task_id
                    ),
                ));
            }
            if current.as_ref().is_some_and(|c| *c != stream) {
                self.send_batch(env, current.take(), std::mem::take(&mut batch));
            }
            current = Some(stream);
            batch.push(update);
        }
        self.send_batch(env, current, batch);
    }

    fn send_batch(&mut self, env: &mut Env, stream: Option<String>, mut batch: Vec<StatusUpdate>) {
        let Some(stream) = stream else { return };
        let call = match batch.len() {
            0 => return,
            1 => match batch.pop() {
                Some(status_update) => AgentCall::StatusUpdate { status_update },
                None => return,
            },
            _ => AgentCall::StatusUpdates { status_updates: batch },
        };
        self.post(env, stream, call);
    }

    fn post(&mut self, env: &mut Env, stream: String, call: AgentCall) {
        if let Some(m) = self.current_master {
            env.post(self.node(), Node::Master(m), Msg::AgentCall { stream, call: Box::new(call) });
        }
    }

    fn run(&mut self, env: &mut Env, command: Command) {
        env.dirty = true;
        let deferred = match &command {
            Command::Signal { container_id, .. } | Command::Destroy { container_id } => {
                self.spawning.get_mut(container_id)
            }
            _ => None,
        };
        if let Some(waiting) = deferred {
            waiting.push(command);
            return;
        }
        match command {
            Command::Connect { conn, register, master } => {
                self.drop_link(env);
                let Some(m) = crate::master::of_address(&master) else { return };
                self.current_master = Some(m);
                self.link = Some(Link {
                    conn,
                    master: m,
                    sid: None,
                    agent_id: None,
                    idle: REGISTER_TIMEOUT,
                    deadline: env.now + REGISTER_TIMEOUT,
                });
                env.post(self.node(), Node::Master(m), Msg::Register { conn, inc: self.inc, register, hops: 0 });
            }
            Command::Disconnect { conn } => {
                if self.link.as_ref().is_some_and(|l| l.conn == conn) {
                    self.drop_link(env);
                }
            }
            Command::Send { stream_id, call } => self.post(env, stream_id, *call),
            Command::Checkpoint(cp) => {
                // Only a step's own checkpoints come here (hoisted); apply at once.
                self.disk.apply(&cp);
            }
            Command::Prepare(spec) => {
                let d = env.millis(1, 10);
                let event = Event::Prepared { container_id: spec.container_id.clone(), result: Ok(()) };
                env.after(d, Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(event) });
            }
            Command::Spawn(spec) => {
                // Marathon checkpoints: a task's info is on disk before its process starts.
                if !self.disk.has_task(&spec.container_id) {
                    env.history.violation(crate::check::Violation::new(
                        crate::check::Kind::AcknowledgedWriteLost,
                        format!("agent {} launches {} before its task is checkpointed", self.idx, spec.task_id),
                    ));
                }
                self.spawning.insert(spec.container_id.clone(), Vec::new());
                self.next_pid += 1;
                let ignores_term = env.chance(0.2);
                self.procs.insert(
                    spec.container_id.clone(),
                    Proc {
                        task_id: spec.task_id.clone(),
                        pid: self.next_pid,
                        state: ProcState::Launching,
                        reported: false,
                        watched: None,
                        ignores_term,
                        dying: None,
                    },
                );
                let d = env.millis(1, 20);
                env.after(d, Ev::LaunchReported { agent: self.idx, inc: self.inc, cid: spec.container_id.clone() });
            }
            Command::Reattach { container_id } => match self.procs.get_mut(&container_id) {
                Some(p) => {
                    p.watched = Some(self.inc);
                    if let ProcState::Exited(exit) = p.state {
                        let event = Event::Exited { container_id, exit };
                        env.after(
                            Duration::from_micros(100),
                            Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(event) },
                        );
                    }
                }
                None => {
                    let exit = ExitInfo { termination: Termination::Unknown, oom: None };
                    let event = Event::Exited { container_id, exit };
                    env.after(
                        Duration::from_micros(100),
                        Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(event) },
                    );
                }
            },
            Command::Signal { container_id, signal } => {
                let Some(p) = self.procs.get(&container_id) else { return };
                if !p.alive() {
                    return;
                }
                match signal {
                    KillSignal::Term if p.ignores_term => {}
                    KillSignal::Term => {
                        let d = env.millis(5, 300);
                        self.schedule_exit(env, &container_id, d, Termination::Signaled(15));
                    }
                    KillSignal::Kill => {
                        let d = env.millis(1, 5);
                        self.schedule_exit(env, &container_id, d, Termination::Signaled(9));
                    }
                }
            }
            Command::Destroy { container_id } => {
                // The container goes; its watcher reports the end of a process it killed.
                if let Some(p) = self.procs.remove(&container_id)
                    && p.alive()
                    && p.watched == Some(self.inc)
                {
                    let exit = ExitInfo { termination: Termination::Signaled(9), oom: None };
                    let event = Event::Exited { container_id, exit };
                    env.after(
                        Duration::from_micros(500),
                        Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(event) },
                    );
                }
            }
            Command::RunHealthCheck { container_id, check_id, .. } => {
                let event = Event::HealthCheckResult { container_id, check_id, result: Ok(()) };
                env.after(
                    Duration::from_millis(1),
                    Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(event) },
                );
            }
            Command::StampForGc(_) | Command::GarbageCollect(_) | Command::Measure(_) => {}
            Command::CheckDiskUsage => {
                env.after(
                    Duration::from_millis(1),
                    Ev::AgentInput { agent: self.idx, inc: self.inc, event: Box::new(Event::DiskUsage(0.1)) },
                );
            }
        }
    }

    /// The process of `cid` ends `after` from now (unless it ends earlier anyway).
    pub(crate) fn schedule_exit(&mut self, env: &mut Env, cid: &str, after: Duration, termination: Termination) {
        let Some(p) = self.procs.get_mut(cid) else { return };
        if !p.alive() || p.dying.is_some() {
            return;
        }
        self.next_token += 1;
        let token = self.next_token;
        p.dying = Some((token, ExitInfo { termination, oom: None }));
        env.after(after, Ev::ProcessExit { agent: self.idx, cid: cid.to_string(), token });
    }

    /// A task process ends.
    pub(crate) fn process_exit(&mut self, env: &mut Env, cid: &str, token: u64) {
        let Some(p) = self.procs.get_mut(cid) else { return };
        let Some((t, exit)) = p.dying else { return };
        if t != token || !p.alive() {
            return;
        }
        p.dying = None;
        p.state = ProcState::Exited(exit);
        env.dirty = true;
        env.log(|| format!("agent {}: process of {} exits {:?}", self.idx, p.task_id, exit.termination));
        if self.up && p.watched == Some(self.inc) {
            self.feed(env, vec![Event::Exited { container_id: cid.to_string(), exit }]);
        }
    }

    /// A launch's report reaches the agent: the process runs, its launch is recorded.
    pub(crate) fn launch_reported(&mut self, env: &mut Env, cid: &str) {
        let waiting = self.spawning.remove(cid).unwrap_or_default();
        let Some(p) = self.procs.get_mut(cid) else { return };
        if p.state == ProcState::Launching {
            p.state = ProcState::Running;
        }
        p.reported = true;
        p.watched = Some(self.inc);
        let pid = p.pid;
        let exited = match p.state {
            ProcState::Exited(exit) => Some(exit),
            _ => None,
        };
        let mut events = vec![Event::Spawned {
            container_id: cid.to_string(),
            result: Ok(Started { pid: Some(pid), addresses: Vec::new() }),
        }];
        if let Some(exit) = exited {
            events.push(Event::Exited { container_id: cid.to_string(), exit });
        }
        self.feed(env, events);
        for command in waiting {
            self.run(env, command);
        }
        self.refresh_wake();
    }

    /// A message for this agent.
    pub(crate) fn on_msg(&mut self, env: &mut Env, msg: Msg) {
        match msg {
            Msg::RegisterAnswer { conn, answer } => {
                let current = self.link.as_ref().is_some_and(|l| l.conn == conn && l.sid.is_none());
                match answer {
                    Answer::Opened { sid, master } if current => {
                        self.current_master = Some(master);
                        if let Some(link) = &mut self.link {
                            link.sid = Some(sid);
                            link.master = master;
                            link.deadline = env.now + link.idle;
                        }
                        self.feed(env, vec![Event::LinkOpened { conn, stream_id: sid.to_string() }]);
                    }
                    Answer::Opened { sid, .. } => env.stream_drop_by_client(sid),
                    Answer::Redirect(_) | Answer::Unavailable if current => {
                        self.link = None;
                        self.feed(env, vec![Event::LinkClosed { conn, reason: "refused".into() }]);
                    }
                    Answer::Redirect(_) | Answer::Unavailable => {}
                }
            }
            Msg::AgentEvent { conn, event } => {
                let me = self.node();
                let Some(link) = self.link.as_mut().filter(|l| l.conn == conn) else { return };
                match &*event {
                    AgentEvent::Registered { registered } => {
                        link.agent_id = Some(registered.agent_id.clone());
                        let ping = registered.ping_interval_seconds;
                        if ping.is_finite() && ping > 0.0 {
                            link.idle =
                                Duration::from_secs_f64(ping * f64::from(SILENT_PINGS)).max(Duration::from_secs(1));
                        }
                    }
                    AgentEvent::Ping => {
                        // The link answers at once, to the master that pinged.
                        if let (Some(agent_id), Some(sid)) = (link.agent_id.clone(), link.sid) {
                            let call = AgentCall::Pong { agent_id };
                            let to = Node::Master(link.master);
                            env.post(me, to, Msg::AgentCall { stream: sid.to_string(), call: Box::new(call) });
                        }
                    }
                    _ => {}
                }
                link.deadline = env.now + link.idle;
                self.feed(env, vec![Event::Master { conn, event }]);
            }
            Msg::StreamEnded { sid } => {
                if let Some(link) = self.link.as_ref().filter(|l| l.sid == Some(sid)) {
                    let conn = link.conn;
                    self.link = None;
                    if let Some(s) = env.net.streams.get_mut(&sid) {
                        s.client_open = false;
                    }
                    self.feed(env, vec![Event::LinkClosed { conn, reason: "stream ended".into() }]);
                }
            }
            _ => {}
        }
        self.refresh_wake();
    }

    /// The detector says who leads now.
    pub(crate) fn detected(&mut self, env: &mut Env) {
        let master = env.zk.leader().map(crate::master::address);
        self.feed(env, vec![Event::MasterDetected { master }]);
        self.refresh_wake();
    }

    /// The host-level task processes that are alive, with their container ids.
    pub(crate) fn alive(&self) -> impl Iterator<Item = (&String, &Proc)> {
        self.procs.iter().filter(|(_, p)| p.alive())
    }
}
