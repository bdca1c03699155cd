//! Marathon's scheduling core: a pure state machine that decides launches, kills, relaunches
//! and reconciliation.
//!
//! The shell calls [`SchedulerCore::handle`] with the current time and one [`Event`], executes
//! the returned [`Command`]s in order, and calls `handle(now, Event::Tick)` once
//! [`SchedulerCore::next_wakeup`] is reached. Reads for the API go through the accessors.
//!
//! Architecture invariants:
//! - No IO, no clock reads, no tokio, no serde on core types; randomness comes only from a
//!   `ChaCha8Rng` seeded by [`SchedulerConfig::seed`]. Maps are `BTreeMap`s, so a run is a
//!   function of the seed and the events.
//! - Intent before action: every state change is emitted as a [`Command::Persist`] before
//!   anything that depends on it. Commands that act on a change (`Accept`, `Kill` of a
//!   decommissioned instance, `Acknowledge`) are held back until the shell reports
//!   [`Event::Stored`] for the write that carries it. An instance is therefore on disk as
//!   Provisioned, with its agent, ports and task id, before its offer is accepted, and a status
//!   update is acknowledged only once its consequences are durable.
//! - A task is launched only for an instance whose previous task is terminal; task ids are never
//!   reused (`<instanceId>._app.<incarnation>`). Together with the previous rule, a scheduler
//!   that restarts from its records never runs two tasks for one instance.
//! - Until the first reconciliation after (re)subscribing has been answered (or timed out),
//!   offers are declined and surplus instances are not killed, so decisions are taken on fresh
//!   state. Silence is never an answer: a task the master did not answer for keeps its
//!   recorded state, and its explicit reconciliation is repeated with a truncated exponential
//!   backoff until something is heard of it (Mesos' reconciliation algorithm; a restarted
//!   master stays silent about tasks on agents it still expects back).
//! - Marathon's JSON is unknown here (crate `marathon-api`); the Mesos vocabulary
//!   (`mesos_api::{Offer, TaskInfo, TaskStatus}`) is used as is.

mod backoff;
mod health;
mod instance;
mod kill_order;
mod launch;
mod lifecycle;
mod matcher;
mod pod;
mod ports;
mod queue;
mod readiness;
mod run_spec;
mod table;
mod task_builder;
mod time;

#[cfg(test)]
mod tests;

pub use backoff::LaunchDelay;
pub use health::{CheckResult, ProbeOutcome};
pub use instance::{Condition, ContainerTask, Goal, Instance, InstanceId, Task, condition_from_status, parse_task_id};
pub use matcher::{NoMatchReason, placement};
pub use ports::{ServicePortsExhausted, assign_service_ports};
pub use queue::{OfferStats, QueueDelay, QueueEntry, RejectSummary, UnusedOffer};
pub use readiness::{ReadinessResponse, ReadinessResult};
pub use run_spec::{
    AppId, BackoffStrategy, CommandSpec, Constraint, ConstraintOperator, DockerContainer, FetchUri, HealthCheck,
    HealthCheckProtocol, HostVolume, KillSelection, Network, PodContainer, PodSpec, PortAssignment, PortDefinition,
    ReadinessCheck, RunSpec, UnreachableStrategy, UpgradeStrategy, VersionInfo, derive_version_info,
};
pub use task_builder::task_environment;
pub use time::{Now, Timestamp};

use backoff::LaunchDelays;
use mesos_api::{AgentId, ExecutorInfo, FrameworkId, Offer, OfferId, TaskId, TaskInfo, TaskState, TaskStatus};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Static configuration (Marathon's command-line flags that concern the core).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Seed of the RNG behind instance ids and host port choice. The shell must use a fresh
    /// seed on every start, or a restarted scheduler could mint ids it already used.
    pub seed: u64,
    /// `--max_instances_per_offer`.
    pub max_instances_per_offer: usize,
    /// `--decline_offer_duration`: refusal of offers declined when nothing waits for offers.
    pub decline_offer_duration: Duration,
    /// Refusal of offers declined while instances still wait for offers (short, so that other
    /// agents' offers come soon).
    pub decline_offer_duration_while_launching: Duration,
    /// `--min_revive_offers_interval`.
    pub min_revive_offers_interval: Duration,
    /// `--[disable_]suppress_offers`.
    pub suppress_offers: bool,
    /// `--reconciliation_interval`.
    pub reconciliation_interval: Duration,
    /// How long to wait for the answers of the explicit reconciliation after subscribing
    /// before launching anyway (unanswered tasks keep their recorded state, so waiting longer
    /// cannot cause duplicates; the master does not answer for tasks on recovering agents).
    pub reconciliation_answer_timeout: Duration,
    /// First delay before unanswered tasks are reconciled again; it doubles after each try up
    /// to `reconciliation_retry_max`.
    pub reconciliation_retry_min: Duration,
    pub reconciliation_retry_max: Duration,
    /// Kills are repeated this often until the task is terminal.
    pub kill_retry_interval: Duration,
    /// `--task_launch_confirm_timeout`: a Provisioned task without any status is killed.
    pub task_launch_confirm_timeout: Duration,
    /// `--task_launch_timeout`: a task not RUNNING in time is killed (and relaunched).
    pub task_launch_timeout: Duration,
    /// `--local_port_min` / `--local_port_max`: the service port range.
    pub local_port_min: u16,
    pub local_port_max: u16,
    /// `--env_vars_prefix`, applied to `PORT*` and `HOST`.
    pub env_vars_prefix: Option<String>,
    /// How many unused offers per app the queue statistics keep.
    pub max_unused_offers_per_app: usize,
    /// Most instances of one app waiting for an offer at a time. The rest of what an app
    /// wants is a number (its backlog), scheduled as these launch, so that a huge instance
    /// count costs nothing until it can be placed.
    pub max_scheduled_per_app: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_instances_per_offer: 5,
            decline_offer_duration: Duration::from_secs(120),
            decline_offer_duration_while_launching: Duration::from_secs(5),
            min_revive_offers_interval: Duration::from_secs(5),
            suppress_offers: true,
            reconciliation_interval: Duration::from_secs(600),
            reconciliation_answer_timeout: Duration::from_secs(30),
            reconciliation_retry_min: Duration::from_secs(2),
            reconciliation_retry_max: Duration::from_secs(30),
            kill_retry_interval: Duration::from_secs(10),
            task_launch_confirm_timeout: Duration::from_secs(300),
            task_launch_timeout: Duration::from_secs(300),
            local_port_min: 10_000,
            local_port_max: 20_000,
            env_vars_prefix: None,
            max_unused_offers_per_app: 10,
            max_scheduled_per_app: 1000,
        }
    }
}

/// Most rounds of convergence in one step (each round converges the apps the previous one
/// changed; two are enough for any app, the rest is a guard).
const CONVERGE_ROUNDS: usize = 4;

/// Identifies one [`Command::Persist`]; acknowledged by [`Event::Stored`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(pub u64);

/// Something the shell must make durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    FrameworkId(FrameworkId),
    /// The current definition of an app. The core writes one whenever it changes an app:
    /// on put (with the version info it derived), restart, and kill-and-scale.
    App(RunSpec),
    AppDeleted(AppId),
    /// The whole state of an instance (replaces the previous record).
    Instance(Instance),
    InstanceExpunged(InstanceId),
}

/// What the scheduler publishes on its event bus (`/v2/events` later).
#[derive(Debug, Clone, PartialEq)]
pub enum BusEvent {
    /// Every status update of a known task (`status_update_event`).
    StatusUpdate {
        app_id: AppId,
        instance_id: InstanceId,
        task_id: TaskId,
        agent_id: AgentId,
        host: String,
        state: TaskState,
        message: Option<String>,
        host_ports: Vec<u16>,
        ip_addresses: Vec<std::net::IpAddr>,
        version: Timestamp,
        timestamp: Timestamp,
    },
    /// An instance changed its condition (`instance_changed_event`).
    InstanceChanged {
        instance_id: InstanceId,
        app_id: AppId,
        condition: Condition,
        agent_id: Option<AgentId>,
        host: Option<String>,
        version: Timestamp,
        timestamp: Timestamp,
    },
    /// A terminal update for a task the scheduler does not track (`unknown_instance_terminated_event`).
    UnknownInstanceTerminated {
        instance_id: Option<InstanceId>,
        task_id: TaskId,
        condition: Condition,
        timestamp: Timestamp,
    },
    /// An app was deleted (`app_terminated_event`).
    AppTerminated {
        app_id: AppId,
        timestamp: Timestamp,
    },
    SchedulerRegistered {
        framework_id: FrameworkId,
        timestamp: Timestamp,
    },
    SchedulerDisconnected {
        timestamp: Timestamp,
    },
    /// A Marathon health check of an instance changed its verdict (or gave its first one)
    /// (`health_status_changed_event`, `instance_health_changed_event`).
    HealthStatusChanged {
        app_id: AppId,
        instance_id: InstanceId,
        task_id: TaskId,
        version: Timestamp,
        alive: bool,
        timestamp: Timestamp,
    },
    /// A Marathon health check failed outside the grace period (`failed_health_check_event`).
    FailedHealthCheck {
        app_id: AppId,
        instance_id: InstanceId,
        task_id: TaskId,
        /// Index into the app's `healthChecks`.
        check: usize,
        timestamp: Timestamp,
    },
    /// An instance is killed for failing its health checks (`unhealthy_instance_kill_event`).
    UnhealthyInstanceKill {
        app_id: AppId,
        instance_id: InstanceId,
        task_id: TaskId,
        version: Timestamp,
        reason: String,
        host: Option<String>,
        agent_id: Option<AgentId>,
        timestamp: Timestamp,
    },
}

/// What the shell must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Write `records` atomically, after every earlier `Persist`, then report
    /// [`Event::Stored`]. A failed write is fatal for this leader: the shell must give up
    /// leadership (Marathon exits), because the core cannot know what is on disk.
    Persist {
        write_id: WriteId,
        records: Vec<Record>,
    },
    /// ACCEPT with one LAUNCH operation (the apps' tasks) and a LAUNCH_GROUP per pod instance.
    /// Emitted only after the instances it launches are stored as Provisioned.
    Accept {
        offer_ids: Vec<OfferId>,
        task_infos: Vec<TaskInfo>,
        task_groups: Vec<(ExecutorInfo, Vec<TaskInfo>)>,
        refuse_seconds: f64,
    },
    /// DECLINE with `filters.refuse_seconds`.
    Decline {
        offer_ids: Vec<OfferId>,
        refuse_seconds: f64,
    },
    /// KILL, with the app's kill grace period as kill policy when it has one.
    Kill {
        task_id: TaskId,
        agent_id: Option<AgentId>,
        grace: Option<Duration>,
    },
    /// RECONCILE: explicit with `tasks`, implicit when empty.
    Reconcile {
        tasks: Vec<(TaskId, Option<AgentId>)>,
    },
    Revive,
    Suppress,
    /// ACKNOWLEDGE a status update; emitted once the update's consequences are stored.
    Acknowledge {
        agent_id: AgentId,
        task_id: TaskId,
        uuid: String,
    },
    Publish(BusEvent),
    /// Run one Marathon health check (HTTP, HTTPS or TCP) against `host:port` and report
    /// [`Event::ProbeResult`]. The core sends the next probe of that check only after the result.
    Probe {
        instance_id: InstanceId,
        task_id: TaskId,
        /// Index into the app's `healthChecks`.
        check: usize,
        protocol: HealthCheckProtocol,
        host: String,
        port: u16,
        /// HTTP(S) path.
        path: String,
        timeout: Duration,
        /// HTTP(S): 1xx answers are reported as [`ProbeOutcome::Ignored`].
        ignore_http1xx: bool,
    },
    /// GET `http(s)://host:port<path>` for a readiness check and report
    /// [`Event::ReadinessResult`].
    ReadinessProbe {
        instance_id: InstanceId,
        task_id: TaskId,
        /// Index into the app's `readinessChecks`.
        check: usize,
        https: bool,
        host: String,
        port: u16,
        path: String,
        timeout: Duration,
    },
}

/// Something that happened, fed to [`SchedulerCore::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Create or replace an app (validated, defaults applied; service ports may be 0).
    AppPut {
        spec: RunSpec,
    },
    /// Put a definition back exactly as it was before (version and version info as given): a
    /// rollback.
    AppRestore {
        spec: RunSpec,
    },
    /// Restart an app: a config change without a change of the definition.
    AppRestart {
        id: AppId,
        version: Timestamp,
    },
    AppDeleted {
        id: AppId,
    },
    /// Kill tasks. Without `scale` and `wipe` the instances are relaunched (same instance,
    /// next incarnation); `wipe` replaces them by new instances; `scale` also lowers the
    /// app's `instances` by the number of active instances that were not already being killed.
    KillTasks {
        task_ids: Vec<TaskId>,
        scale: bool,
        wipe: bool,
    },
    /// `DELETE /v2/queue/{app}/delay`.
    ResetDelay {
        app_id: AppId,
    },
    Offers(Vec<Offer>),
    OfferRescinded(OfferId),
    StatusUpdate(TaskStatus),
    /// The Mesos SUBSCRIBED event (also after a resubscription).
    Subscribed {
        framework_id: FrameworkId,
    },
    /// The subscription stream ended; offers are void.
    Disconnected,
    /// The master reported an agent lost (FAILURE without an executor): its tasks are
    /// reconciled at once.
    AgentLost {
        agent_id: AgentId,
    },
    /// Every write up to and including `write_id` is durable.
    Stored {
        write_id: WriteId,
    },
    /// [`SchedulerCore::next_wakeup`] was reached.
    Tick,
    /// The answer to a [`Command::ReadinessProbe`] (`None`: no HTTP answer).
    ReadinessResult {
        instance_id: InstanceId,
        task_id: TaskId,
        check: usize,
        response: Option<ReadinessResponse>,
    },
    /// The result of a [`Command::Probe`].
    ProbeResult {
        instance_id: InstanceId,
        task_id: TaskId,
        check: usize,
        outcome: ProbeOutcome,
    },
}

/// The last failed task of an app (`lastTaskFailure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub app_id: AppId,
    pub instance_id: InstanceId,
    pub task_id: TaskId,
    pub state: TaskState,
    pub message: String,
    pub host: String,
    pub agent_id: AgentId,
    pub version: Timestamp,
    pub timestamp: Timestamp,
}

/// Persisted state a restarted scheduler starts from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveredState {
    pub framework_id: Option<FrameworkId>,
    pub apps: Vec<RunSpec>,
    pub instances: Vec<Instance>,
}

/// In-memory companions of an instance (timers), rebuilt on recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Runtime {
    /// When the condition last changed (monotonic), for launch timeouts.
    condition_changed: Duration,
    /// When the agent became unreachable (monotonic).
    unreachable_at: Option<Duration>,
}

/// Offers accepted but held back until their instances are stored, with the instances they
/// launch (also indexed by instance: launch deadlines ask about every Provisioned instance).
#[derive(Debug, Clone, Default)]
struct PendingAccepts {
    by_offer: BTreeMap<OfferId, Vec<InstanceId>>,
    instances: BTreeSet<InstanceId>,
}

impl PendingAccepts {
    fn insert(&mut self, offer_id: OfferId, instances: Vec<InstanceId>) {
        self.remove(&offer_id);
        self.instances.extend(instances.iter().cloned());
        self.by_offer.insert(offer_id, instances);
    }

    /// The instances the offer's accept launches, if it is still pending.
    fn remove(&mut self, offer_id: &OfferId) -> Option<Vec<InstanceId>> {
        let instances = self.by_offer.remove(offer_id)?;
        for id in &instances {
            self.instances.remove(id);
        }
        Some(instances)
    }

    fn contains_offer(&self, offer_id: &OfferId) -> bool {
        self.by_offer.contains_key(offer_id)
    }

    fn offer_ids(&self) -> Vec<OfferId> {
        self.by_offer.keys().cloned().collect()
    }

    fn holds(&self, id: &InstanceId) -> bool {
        self.instances.contains(id)
    }

    fn is_empty(&self) -> bool {
        self.by_offer.is_empty()
    }
}

/// Offer ids seen recently (an offer is used at most once, even if delivered twice).
#[derive(Debug, Clone, Default)]
struct SeenOffers {
    set: BTreeSet<OfferId>,
    order: VecDeque<OfferId>,
}

impl SeenOffers {
    const CAPACITY: usize = 10_000;

    fn insert(&mut self, id: &OfferId) -> bool {
        if !self.set.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id.clone());
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Writes in flight and the commands waiting for them.
#[derive(Debug, Clone, Default)]
struct Writes {
    /// The last write id handed out.
    issued: u64,
    /// Every write up to here is durable.
    stored: u64,
    gated: BTreeMap<WriteId, Vec<Command>>,
}

/// What one `handle` call accumulates before it is flushed.
#[derive(Debug, Clone, Default)]
struct Step {
    out: Vec<Command>,
    /// App and framework records, in order.
    records: Vec<Record>,
    /// Instances whose record must be written (or expunged when gone).
    dirty: BTreeSet<InstanceId>,
    /// Commands that must wait until this step's writes (and all before) are stored.
    gated: Vec<Command>,
    /// Apps whose instance count must be checked.
    converge: BTreeSet<AppId>,
}

/// The scheduler's state machine.
#[derive(Debug)]
pub struct SchedulerCore {
    config: SchedulerConfig,
    rng: ChaCha8Rng,
    now: Now,
    apps: BTreeMap<AppId, RunSpec>,
    instances: table::Instances,
    /// Current task id of every instance that has one.
    tasks: BTreeMap<TaskId, InstanceId>,
    delays: LaunchDelays,
    offer_stats: BTreeMap<AppId, OfferStats>,
    /// Per app, instances wanted beyond `max_scheduled_per_app` scheduled ones (derived by
    /// `converge`, never persisted).
    backlog: BTreeMap<AppId, usize>,
    last_failures: BTreeMap<AppId, TaskFailure>,
    framework_id: Option<FrameworkId>,
    connected: bool,
    reconciled: bool,
    /// Explicitly reconciled tasks whose answer has not arrived yet.
    awaiting_answers: BTreeSet<TaskId>,
    answers_deadline: Option<Duration>,
    /// When the unanswered tasks are reconciled again, and the delay after that.
    reconcile_retry: Option<(Duration, Duration)>,
    next_reconciliation: Option<Duration>,
    suppressed: bool,
    revive_wanted: bool,
    last_revive: Option<Duration>,
    /// Whether nothing was left to launch at some point since the last REVIVE.
    demand_met_since_revive: bool,
    /// Whether an offer arrived since the last REVIVE (one that brings none may have been
    /// lost on its way: it is repeated).
    offers_since_revive: bool,
    launchable_before: usize,
    seen_offers: SeenOffers,
    pending_accepts: PendingAccepts,
    /// Instances whose task must be killed, with the time the last KILL went out.
    kills: BTreeMap<InstanceId, Option<Duration>>,
    /// Marathon health checks of running instances.
    health: BTreeMap<InstanceId, health::InstanceChecks>,
    /// Instances whose task Marathon kills for failing its health checks: the task's end
    /// counts toward the app's launch backoff.
    unhealthy_kills: BTreeSet<InstanceId>,
    /// Readiness checks of running instances.
    readiness: BTreeMap<InstanceId, readiness::InstanceReadiness>,
    writes: Writes,
    step: Step,
}

impl SchedulerCore {
    /// A core without apps or instances (first start).
    pub fn new(config: SchedulerConfig, now: Now) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            now,
            apps: BTreeMap::new(),
            instances: table::Instances::default(),
            tasks: BTreeMap::new(),
            delays: LaunchDelays::default(),
            offer_stats: BTreeMap::new(),
            backlog: BTreeMap::new(),
            last_failures: BTreeMap::new(),
            framework_id: None,
            connected: false,
            reconciled: false,
            awaiting_answers: BTreeSet::new(),
            answers_deadline: None,
            reconcile_retry: None,
            next_reconciliation: None,
            suppressed: false,
            revive_wanted: false,
            last_revive: None,
            demand_met_since_revive: true,
            offers_since_revive: false,
            launchable_before: 0,
            seen_offers: SeenOffers::default(),
            pending_accepts: PendingAccepts::default(),
            kills: BTreeMap::new(),
            health: BTreeMap::new(),
            unhealthy_kills: BTreeSet::new(),
            readiness: BTreeMap::new(),
            writes: Writes::default(),
            step: Step::default(),
        }
    }

    /// A core rebuilt from persisted records. Nothing is launched or killed before the shell
    /// reports `Subscribed` and the reconciliation that follows it is answered; repairs of the
    /// records themselves (e.g. instances of a deleted app) are written by the first `handle`.
    pub fn recover(config: SchedulerConfig, now: Now, state: RecoveredState) -> Self {
        let mut core = Self::new(config, now);
        core.framework_id = state.framework_id;
        for spec in state.apps {
            core.step.converge.insert(spec.id.clone());
            core.apps.insert(spec.id.clone(), spec);
        }
        for mut instance in state.instances {
            let id = instance.id.clone();
            if instance.condition.is_terminal() || instance.condition == Condition::Scheduled {
                // Terminal conditions are never written (a terminal task is replaced at once),
                // but records of other versions might have them.
                if instance.condition != Condition::Scheduled {
                    instance.condition = Condition::Scheduled;
                    core.step.dirty.insert(id.clone());
                }
                instance.task = None;
                instance.unreachable_since = None;
            }
            let runtime = Runtime {
                condition_changed: now.mono,
                unreachable_at: instance.unreachable_since.map(|at| now.mono_of(at)),
            };
            for task_id in instance.task.iter().flat_map(Task::task_ids) {
                core.tasks.insert(task_id.clone(), id.clone());
            }
            core.instances.insert(instance, runtime);
        }
        let ids: Vec<InstanceId> = core.instances.keys().cloned().collect();
        for id in &ids {
            core.sync_health_checks(id);
            core.sync_readiness(id);
        }
        for id in ids {
            let Some(instance) = core.instances.get(&id) else { continue };
            let orphan = !core.apps.contains_key(&instance.app_id);
            if instance.goal == Goal::Decommissioned || orphan {
                core.decommission(&id);
            }
        }
        core
    }

    /// Handles one event and returns what the shell must do, in order.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Command> {
        debug_assert!(now.mono >= self.now.mono, "monotonic time went backwards");
        self.now = now;
        match event {
            Event::AppPut { spec } => self.put_app(spec),
            Event::AppRestore { spec } => self.restore_app(spec),
            Event::AppRestart { id, version } => self.restart_app(&id, version),
            Event::AppDeleted { id } => self.delete_app(&id),
            Event::KillTasks { task_ids, scale, wipe } => self.kill_tasks(&task_ids, scale, wipe),
            Event::ResetDelay { app_id } => self.delays.reset(&app_id),
            Event::Offers(offers) => self.offers(offers),
            Event::OfferRescinded(offer_id) => self.offer_rescinded(&offer_id),
            Event::StatusUpdate(status) => self.status_update(status),
            Event::Subscribed { framework_id } => self.subscribed(framework_id),
            Event::Disconnected => self.disconnected(),
            Event::AgentLost { agent_id } => self.agent_lost(&agent_id),
            Event::Stored { write_id } => self.stored(write_id),
            Event::Tick => self.tick(),
            Event::ProbeResult { instance_id, task_id, check, outcome } => {
                self.probe_result(&instance_id, &task_id, check, outcome)
            }
            Event::ReadinessResult { instance_id, task_id, check, response } => {
                self.readiness_result(&instance_id, &task_id, check, response)
            }
        }
        self.finish_step()
    }

    /// Status updates that arrived together, handled as one step: each exactly as
    /// [`Event::StatusUpdate`] would be, then the step ends once (its apps converge once, its
    /// records are one write behind which all its acknowledgements wait) instead of once per
    /// update. Other events must not be folded in: an offer, for one, must see what the
    /// previous event's convergence scheduled.
    pub fn handle_status_updates(&mut self, now: Now, statuses: Vec<TaskStatus>) -> Vec<Command> {
        debug_assert!(now.mono >= self.now.mono, "monotonic time went backwards");
        self.now = now;
        for status in statuses {
            self.status_update(status);
        }
        self.finish_step()
    }

    fn finish_step(&mut self) -> Vec<Command> {
        // Converging may change what an app needs (a decommissioned old instance that vanished
        // ends an upgrade, and the app then scales): until it is stable, a few rounds at most.
        for _ in 0..CONVERGE_ROUNDS {
            let apps = std::mem::take(&mut self.step.converge);
            if apps.is_empty() {
                break;
            }
            for app_id in &apps {
                self.converge(app_id);
            }
        }
        self.send_kills();
        let touched: Vec<InstanceId> = self.step.dirty.iter().cloned().collect();
        for id in &touched {
            self.sync_health_checks(id);
            self.sync_readiness(id);
        }
        if self.connected {
            self.send_probes();
            self.send_readiness_probes();
        }
        self.update_offer_interest();
        self.flush();
        std::mem::take(&mut self.step.out)
    }

    /// Emits this step's records as one write and schedules the gated commands behind it (or
    /// behind the last write in flight, or emits them when everything is stored).
    fn flush(&mut self) {
        let mut records = std::mem::take(&mut self.step.records);
        for id in std::mem::take(&mut self.step.dirty) {
            records.push(match self.instances.get(&id) {
                Some(instance) => Record::Instance(instance.clone()),
                None => Record::InstanceExpunged(id),
            });
        }
        let gated = std::mem::take(&mut self.step.gated);
        if !records.is_empty() {
            self.writes.issued += 1;
            let write_id = WriteId(self.writes.issued);
            self.step.out.push(Command::Persist { write_id, records });
            if !gated.is_empty() {
                self.writes.gated.insert(write_id, gated);
            }
        } else if self.writes.issued > self.writes.stored {
            if !gated.is_empty() {
                self.writes.gated.entry(WriteId(self.writes.issued)).or_default().extend(gated);
            }
        } else {
            self.step.out.extend(gated);
        }
    }

    fn stored(&mut self, write_id: WriteId) {
        if write_id.0 > self.writes.issued {
            tracing::warn!(write_id = write_id.0, issued = self.writes.issued, "stored report for an unknown write");
            return;
        }
        self.writes.stored = self.writes.stored.max(write_id.0);
        let later = self.writes.gated.split_off(&WriteId(self.writes.stored + 1));
        let released = std::mem::replace(&mut self.writes.gated, later);
        for command in released.into_values().flatten() {
            if let Command::Accept { offer_ids, .. } = &command {
                for offer_id in offer_ids {
                    self.pending_accepts.remove(offer_id);
                }
            }
            self.step.out.push(command);
        }
    }

    /// The earliest time at which [`Event::Tick`] has work to do.
    pub fn next_wakeup(&self) -> Option<Duration> {
        let now = self.now.mono;
        let mut next: Option<Duration> = None;
        let mut consider = |at: Duration| next = Some(next.map_or(at, |n: Duration| n.min(at)));
        if self.connected {
            if !self.reconciled
                && let Some(at) = self.answers_deadline
            {
                consider(at);
            }
            if let Some(at) = self.next_reconciliation {
                consider(at);
            }
            if let Some((at, _)) = self.reconcile_retry {
                consider(at);
            }
            if self.revive_pending()
                && let Some(last) = self.last_revive
            {
                consider(last + self.config.min_revive_offers_interval);
            }
            // Walks the delays, not the apps: few apps are backed off at once.
            for (app_id, config, delay) in self.delays.waiting(now) {
                let current =
                    self.apps.get(app_id).is_some_and(|spec| spec.version_info.last_config_change_at == config);
                if current && self.scheduled_of(app_id).next().is_some() {
                    consider(delay.launch_not_before());
                }
            }
            for last_sent in self.kills.values().flatten() {
                consider(*last_sent + self.config.kill_retry_interval);
            }
            if let Some(at) = self.next_probe() {
                consider(at);
            }
            if let Some(at) = self.next_readiness_probe() {
                consider(at);
            }
        }
        for (instance, runtime) in self.instances.with_runtimes() {
            if let Some(at) = self.next_deadline(instance, runtime, next) {
                next = Some(at);
            }
        }
        next
    }

    // -----------------------------------------------------------------------------------------
    // Read accessors

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework_id.as_ref()
    }

    /// Subscribed to the master.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The reconciliation after the last subscription was answered (launches are allowed).
    pub fn is_reconciled(&self) -> bool {
        self.reconciled
    }

    pub fn apps(&self) -> impl Iterator<Item = &RunSpec> {
        self.apps.values()
    }

    pub fn app(&self, id: &AppId) -> Option<&RunSpec> {
        self.apps.get(id)
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// Every instance of an app (also those being killed after the app was deleted).
    pub fn instances_of<'a>(&'a self, app_id: &AppId) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.of_app(app_id)
    }

    /// The instance whose current task is `task_id`.
    pub fn instance_of_task(&self, task_id: &TaskId) -> Option<&Instance> {
        self.tasks.get(task_id).and_then(|id| self.instances.get(id))
    }

    pub fn last_task_failure(&self, app_id: &AppId) -> Option<&TaskFailure> {
        self.last_failures.get(app_id)
    }

    /// The backoff of the app's current config, if it has one.
    pub fn launch_delay(&self, app_id: &AppId) -> Option<&LaunchDelay> {
        let spec = self.apps.get(app_id)?;
        self.delays.get(&spec.id, spec.version_info.last_config_change_at, self.now.mono)
    }

    /// Apps with instances waiting for offers (`/v2/queue`).
    pub fn queue(&self, now: Now) -> Vec<QueueEntry> {
        let mut out = Vec::new();
        for (app_id, spec) in &self.apps {
            let scheduled: Vec<&Instance> = self.scheduled_of(app_id).collect();
            if scheduled.is_empty() {
                continue;
            }
            let not_before = self
                .delays
                .get(&spec.id, spec.version_info.last_config_change_at, now.mono)
                .map(LaunchDelay::launch_not_before);
            let delay = match not_before {
                Some(at) if at > now.mono => QueueDelay { time_left: at - now.mono, overdue: false },
                _ => QueueDelay { time_left: Duration::ZERO, overdue: true },
            };
            out.push(QueueEntry {
                app_id: app_id.clone(),
                count: scheduled.len() + self.backlog.get(app_id).copied().unwrap_or(0),
                role: spec.role.clone(),
                delay,
                since: scheduled.iter().map(|i| i.condition_since).min().unwrap_or(now.wall),
                offer_stats: self.offer_stats.get(app_id).cloned().unwrap_or_default(),
            });
        }
        out
    }

    /// Service ports of every app except `except`.
    pub fn service_ports_in_use(&self, except: Option<&AppId>) -> BTreeSet<u16> {
        self.apps
            .values()
            .filter(|spec| Some(&spec.id) != except && !spec.is_pod())
            .flat_map(|spec| spec.port_definitions.iter().map(|p| p.port))
            .filter(|port| *port != 0)
            .collect()
    }

    /// Fills in the service ports of `spec` that are 0, unique across all apps (the API layer
    /// calls this before it stores a new or updated app; the core does the same on put).
    pub fn assign_service_ports(&self, spec: &mut RunSpec) -> Result<(), ServicePortsExhausted> {
        let used = self.service_ports_in_use(Some(&spec.id));
        let range = self.config.local_port_min..=self.config.local_port_max;
        assign_service_ports(spec, self.apps.get(&spec.id), &used, range)
    }

    // -----------------------------------------------------------------------------------------
    // Helpers shared by the handlers

    fn scheduled_of<'a>(&'a self, app_id: &AppId) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances_of(app_id).filter(|i| i.goal == Goal::Running && i.condition == Condition::Scheduled)
    }

    fn new_instance_id(&mut self, app_id: &AppId) -> InstanceId {
        loop {
            let uuid = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
            let id = InstanceId::new(app_id, uuid);
            if !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    fn publish(&mut self, event: BusEvent) {
        self.step.out.push(Command::Publish(event));
    }

    fn mark_dirty(&mut self, id: &InstanceId) {
        self.step.dirty.insert(id.clone());
    }
}
