//! The master's pure core: agent registry, framework registry, offers and DRF allocation, task
//! routing and status updates, reconciliation, and agent failure detection.
//!
//! No IO, no clock reads: every entry point takes `now`, and everything the master says to
//! frameworks and agents comes out of [`MasterCore::take_outputs`] addressed to a stream id. The
//! shell owns the sockets and maps stream ids to them.
//!
//! The durable part of the state is the [`Registry`] (admitted, unreachable and gone agents).
//! The core changes it and counts its versions ([`MasterCore::registry_version`]); the shell
//! stores each version and reports it with [`MasterCore::registry_stored`]. Nothing that depends
//! on a change is said before it is durable: an agent's REGISTERED waits for its admission, the
//! updates about an agent marked unreachable wait for that mark. A restarted master loads the
//! registry ([`MasterCore::recover`]) and waits `agent_reregister_timeout` for the agents it
//! admitted; until they are back, reconciliation does not answer for tasks that may be on them.

mod agents;
mod auth;
mod launch;
mod registry;
pub mod role;

pub use registry::{AdmittedAgent, Registry};

use mesos_api::agent::{AgentCall, AgentEvent, Register, Registered, StatusUpdate};
use mesos_api::resources::ResourceSet;
use mesos_api::scheduler::{
    Accept, Call, CallType, Event, Failure, Offers, Operation, OperationType, Reconcile, Rescind, Subscribed,
};
use mesos_api::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// A point in time as the core sees it: monotonic for timers, wall clock for timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    /// Time since an arbitrary fixed start.
    pub mono: Duration,
    /// Seconds since the Unix epoch.
    pub wall: f64,
}

pub type StreamId = String;

#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub master_info: MasterInfo,
    pub allocation_interval: Duration,
    pub heartbeat_interval: Duration,
    pub agent_ping_timeout: Duration,
    pub max_agent_ping_timeouts: u32,
    /// After a restart, how long agents from the registry have to come back before they are
    /// marked unreachable.
    pub agent_reregister_timeout: Duration,
    pub offer_timeout: Option<Duration>,
    pub max_completed_frameworks: usize,
    pub max_completed_tasks_per_framework: usize,
    /// Seed of the RNG that shuffles agents in each allocation cycle.
    pub seed: u64,
}

/// Something the shell must deliver.
// Outputs are drained right after each step, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Framework { stream: StreamId, event: Event },
    CloseFramework { stream: StreamId },
    Agent { stream: StreamId, event: AgentEvent },
    CloseAgent { stream: StreamId },
}

/// A refused HTTP call: status code and body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

fn reject(status: u16, message: impl Into<String>) -> Rejection {
    Rejection { status, message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Registered with a live stream.
    Active,
    /// Its stream broke; it may come back before the ping timeouts run out.
    Disconnected,
    /// Declared unreachable after missed pings; its tasks were reported UNREACHABLE/LOST.
    Unreachable,
}

#[derive(Debug, Clone)]
pub struct AgentEntry {
    pub info: AgentInfo,
    pub id: AgentId,
    pub endpoint: String,
    pub stream: Option<StreamId>,
    pub state: AgentState,
    pub total: ResourceSet,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unreachable_time: Option<f64>,
    pending_pong: bool,
    missed_pings: u32,
}

impl AgentEntry {
    pub fn pid(&self) -> String {
        format!("slave(1)@{}", self.endpoint)
    }
}

#[derive(Debug, Clone)]
pub struct TaskEntry {
    pub task: Task,
    pub resources: ResourceSet,
    /// Set once the latest state is terminal and its update was acknowledged (or needs none).
    pub role: String,
}

/// The executor of a task group (upstream's `DEFAULT` executor) on an agent.
#[derive(Debug, Clone)]
pub struct ExecutorEntry {
    /// As the framework gave it (with its framework id filled in).
    pub info: ExecutorInfo,
    /// Its own resources (`ExecutorInfo.resources`), besides those of its tasks.
    pub resources: ResourceSet,
    pub role: String,
}

#[derive(Debug, Clone)]
struct OfferFilter {
    agent: AgentId,
    refused: ResourceSet,
    expires: Duration,
}

#[derive(Debug, Clone)]
pub struct FrameworkEntry {
    pub info: FrameworkInfo,
    pub id: FrameworkId,
    pub stream: Option<StreamId>,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    /// Monotonic time the stream closed; the failover timeout runs from here.
    disconnected_at: Option<Duration>,
    pub tasks: BTreeMap<TaskId, TaskEntry>,
    /// Executors of task groups (`LAUNCH_GROUP`), by agent and id. One holds its resources
    /// while a task of it on that agent is not terminal ([`FrameworkEntry::live_executors`]);
    /// entries of executors without such a task are dropped as their tasks end.
    pub executors: BTreeMap<(AgentId, ExecutorId), ExecutorEntry>,
    pub completed_tasks: VecDeque<Task>,
    pub suppressed_roles: BTreeSet<String>,
    filters: Vec<OfferFilter>,
    /// Updates this framework acknowledged, newest last (bounded). An agent that restarted
    /// before it saw an acknowledgement resends the update; the master then acknowledges it
    /// again on the framework's behalf instead of reporting the same state twice.
    acknowledged: AckLog,
    next_heartbeat: Duration,
    /// A trailing heartbeat after a burst of events, so that clients that handle an event only
    /// when the next one starts (mesoshttp) are not left one behind.
    trailing_heartbeat: Option<Duration>,
    /// True when the entry was rebuilt from an agent's report after a master restart.
    pub recovered: bool,
}

/// A bounded set of acknowledged `(task, uuid)` pairs.
#[derive(Debug, Clone, Default)]
struct AckLog {
    set: BTreeSet<(TaskId, String)>,
    order: VecDeque<(TaskId, String)>,
}

impl AckLog {
    const CAPACITY: usize = 10_000;

    fn insert(&mut self, task: TaskId, uuid: String) {
        if self.set.insert((task.clone(), uuid.clone())) {
            self.order.push_back((task, uuid));
            while self.order.len() > Self::CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, task: &TaskId, uuid: &str) -> bool {
        self.set.contains(&(task.clone(), uuid.to_string()))
    }
}

impl FrameworkEntry {
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }

    /// The executors that hold their resources: those with a task on their agent that is not
    /// terminal. One pass over the tasks (none without executors).
    pub fn live_executors(&self) -> impl Iterator<Item = (&(AgentId, ExecutorId), &ExecutorEntry)> {
        let live: BTreeSet<(&AgentId, &ExecutorId)> = if self.executors.is_empty() {
            BTreeSet::new()
        } else {
            self.tasks
                .values()
                .filter(|t| !t.task.state.is_terminal())
                .filter_map(|t| t.task.executor_id.as_ref().map(|e| (&t.task.agent_id, e)))
                .collect()
        };
        self.executors.iter().filter(move |((agent, id), _)| live.contains(&(agent, id)))
    }

    /// Resources of the framework's non-terminal tasks and live executors.
    pub fn used(&self) -> ResourceSet {
        let mut used = ResourceSet::new();
        for t in self.tasks.values().filter(|t| !t.task.state.is_terminal()) {
            used.add(&t.resources);
        }
        for (_, e) in self.live_executors() {
            used.add(&e.resources);
        }
        used
    }

    /// Forgets the executors whose tasks all ended: their resources are free.
    fn prune_executors(&mut self) {
        if self.executors.is_empty() {
            return;
        }
        let live: BTreeSet<(AgentId, ExecutorId)> = self.live_executors().map(|(k, _)| k.clone()).collect();
        self.executors.retain(|k, _| live.contains(k));
    }
}

#[derive(Debug, Clone)]
pub struct OfferEntry {
    pub offer: Offer,
    pub resources: ResourceSet,
    pub role: String,
    created: Duration,
}

/// The master's state machine.
#[derive(Debug)]
pub struct MasterCore {
    config: MasterConfig,
    agents: BTreeMap<AgentId, AgentEntry>,
    frameworks: BTreeMap<FrameworkId, FrameworkEntry>,
    completed_frameworks: VecDeque<FrameworkEntry>,
    offers: BTreeMap<OfferId, OfferEntry>,
    framework_streams: BTreeMap<StreamId, FrameworkId>,
    agent_streams: BTreeMap<StreamId, AgentId>,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    next_allocation: Duration,
    next_ping: Duration,
    rng: ChaCha8Rng,
    outputs: Vec<Output>,
    pub counters: Counters,
    pub start_time: f64,
    /// The durable state; `registry_version` counts its changes, `stored_version` is the latest
    /// version the shell reported durable.
    registry: Registry,
    registry_version: u64,
    stored_version: u64,
    /// The version of the last change to each agent's entry, while it is not yet durable.
    agent_changes: BTreeMap<AgentId, u64>,
    /// Agents from the registry that a restarted master expects back (upstream's
    /// `slaves.recovered`); they leave when they reregister or are marked unreachable.
    recovered: BTreeMap<AgentId, AdmittedAgent>,
    /// When the agents still in `recovered` are marked unreachable.
    recovery_deadline: Option<Duration>,
    /// Registrations waiting for their registry version to be durable, oldest first.
    pending_registrations: Vec<agents::PendingRegistration>,
    /// The version of the last change to each framework's binding, while it is not yet durable.
    framework_changes: BTreeMap<FrameworkId, u64>,
    /// Subscriptions waiting for their framework's binding to be durable, oldest first.
    pending_subscriptions: Vec<auth::PendingSubscription>,
    /// Outputs waiting for a registry version to be durable, oldest first.
    held: VecDeque<(u64, Output)>,
    /// Explicit reconciliations left unanswered because the task's agent (`None`: any agent)
    /// was expected back; answered once it is back or marked unreachable (bounded by
    /// [`MasterCore::MAX_DEFERRED_RECONCILIATIONS`]).
    deferred_reconciliation: BTreeSet<(Option<AgentId>, FrameworkId, TaskId)>,
}

/// Where the ids a master makes up (`<master id>-<n>` frameworks, `-S<n>` agents, `-O<n>`
/// offers) continue from: a master that leads again in the same process (same master id)
/// must not hand out an id of its earlier term again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdCounters {
    pub frameworks: u64,
    pub agents: u64,
    pub offers: u64,
}

/// Monotonic counters for `/metrics/snapshot`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub messages_launch_tasks: u64,
    pub messages_decline_offers: u64,
    pub messages_reconcile_tasks: u64,
    pub agents_removed: u64,
    /// Agents from the registry marked unreachable because they did not come back in time.
    pub recovery_agent_removals: u64,
}

const TRAILING_HEARTBEAT_DELAY: Duration = Duration::from_millis(100);

impl MasterCore {
    pub fn new(config: MasterConfig, now: Now) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        MasterCore {
            next_allocation: now.mono,
            next_ping: now.mono + config.agent_ping_timeout,
            config,
            agents: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            offers: BTreeMap::new(),
            framework_streams: BTreeMap::new(),
            agent_streams: BTreeMap::new(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            rng,
            outputs: Vec::new(),
            counters: Counters::default(),
            start_time: now.wall,
            registry: Registry::default(),
            registry_version: 0,
            stored_version: 0,
            agent_changes: BTreeMap::new(),
            recovered: BTreeMap::new(),
            recovery_deadline: None,
            pending_registrations: Vec::new(),
            framework_changes: BTreeMap::new(),
            pending_subscriptions: Vec::new(),
            held: VecDeque::new(),
            deferred_reconciliation: BTreeSet::new(),
        }
    }

    /// Most explicit reconciliations kept for a later answer; beyond, they stay unanswered
    /// (the framework asks again, as upstream expects it to).
    pub const MAX_DEFERRED_RECONCILIATIONS: usize = 100_000;

    /// The id counters as they are now.
    pub fn id_counters(&self) -> IdCounters {
        IdCounters { frameworks: self.next_framework, agents: self.next_agent, offers: self.next_offer }
    }

    /// Continues the ids of an earlier core of this master (call before anything else).
    pub fn continue_ids(&mut self, from: IdCounters) {
        self.next_framework = self.next_framework.max(from.frameworks);
        self.next_agent = self.next_agent.max(from.agents);
        self.next_offer = self.next_offer.max(from.offers);
    }

    /// Starts from a registry loaded after a restart (call once, before anything else): its
    /// admitted agents are expected back within `agent_reregister_timeout`.
    pub fn recover(&mut self, now: Now, registry: Registry) {
        tracing::info!(
            agents = registry.admitted.len(),
            unreachable = registry.unreachable.len(),
            gone = registry.gone.len(),
            timeout = ?self.config.agent_reregister_timeout,
            "recovered the registry; waiting for its agents to reregister"
        );
        self.recovered = registry.admitted.clone();
        self.recovery_deadline = (!self.recovered.is_empty()).then(|| now.mono + self.config.agent_reregister_timeout);
        self.registry = registry;
    }

    /// The registry as the core wants it stored.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The version of [`MasterCore::registry`]: it grows with every change.
    pub fn registry_version(&self) -> u64 {
        self.registry_version
    }

    /// Agents from the registry that are expected back after a restart.
    pub fn recovered_agents(&self) -> impl Iterator<Item = &AdmittedAgent> {
        self.recovered.values()
    }

    pub fn config(&self) -> &MasterConfig {
        &self.config
    }

    pub fn master_info(&self) -> &MasterInfo {
        &self.config.master_info
    }

    pub fn agents(&self) -> impl Iterator<Item = &AgentEntry> {
        self.agents.values()
    }

    pub fn frameworks(&self) -> impl Iterator<Item = &FrameworkEntry> {
        self.frameworks.values()
    }

    pub fn completed_frameworks(&self) -> impl Iterator<Item = &FrameworkEntry> {
        self.completed_frameworks.iter()
    }

    pub fn offers(&self) -> impl Iterator<Item = &OfferEntry> {
        self.offers.values()
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// When [`MasterCore::tick`] must run next at the latest.
    pub fn next_wakeup(&self) -> Duration {
        let mut next = self.next_allocation.min(self.next_ping);
        if let Some(at) = self.recovery_deadline {
            next = next.min(at);
        }
        for fw in self.frameworks.values() {
            if fw.connected() {
                next = next.min(fw.next_heartbeat);
                if let Some(t) = fw.trailing_heartbeat {
                    next = next.min(t);
                }
            } else if let Some(at) = fw.disconnected_at {
                next = next.min(at + failover_timeout(&fw.info));
            }
        }
        if let Some(timeout) = self.config.offer_timeout {
            for offer in self.offers.values() {
                next = next.min(offer.created + timeout);
            }
        }
        next
    }

    /// Resources used by (non-terminal) tasks, per agent: one pass over the tasks, for callers
    /// that look at every agent (allocation, `/state`, metrics). Agents without tasks are absent.
    pub fn used_by_agent(&self) -> BTreeMap<AgentId, ResourceSet> {
        let mut used: BTreeMap<AgentId, ResourceSet> = BTreeMap::new();
        let mut add = |agent: &AgentId, resources: &ResourceSet| match used.get_mut(agent) {
            Some(sum) => sum.add(resources),
            None => {
                used.insert(agent.clone(), resources.clone());
            }
        };
        for t in self.frameworks.values().flat_map(|fw| fw.tasks.values()).filter(|t| !t.task.state.is_terminal()) {
            add(&t.task.agent_id, &t.resources);
        }
        for ((agent, _), e) in self.frameworks.values().flat_map(FrameworkEntry::live_executors) {
            add(agent, &e.resources);
        }
        used
    }

    /// Resources held in outstanding offers on an agent.
    pub fn agent_offered(&self, agent: &AgentId) -> ResourceSet {
        let mut offered = ResourceSet::new();
        for o in self.offers.values().filter(|o| &o.offer.agent_id == agent) {
            offered.add(&o.resources);
        }
        offered
    }

    // -----------------------------------------------------------------------------------------
    // Frameworks

    /// A SUBSCRIBE call on a new stream. The stream always opens; refusals arrive as an ERROR
    /// event on it, as in Mesos.
    pub fn subscribe(&mut self, now: Now, stream: StreamId, mut info: FrameworkInfo) -> Option<FrameworkId> {
        let requested = info.id.clone().filter(|id| !id.value.is_empty());
        if let Some(id) = &requested
            && self.completed_frameworks.iter().any(|f| &f.id == id)
        {
            self.send_framework(&stream, Event::error("Framework has been removed"));
            self.outputs.push(Output::CloseFramework { stream });
            return None;
        }
        if info.multi_role() && info.roles.is_empty() {
            info.roles = vec![info.role.clone()];
        }
        let id = match requested {
            Some(id) => id,
            None => {
                let id = FrameworkId::new(format!("{}-{:04}", self.config.master_info.id, self.next_framework));
                self.next_framework += 1;
                id
            }
        };
        info.id = Some(id.clone());
        let heartbeat = self.config.heartbeat_interval;
        let old_stream = match self.frameworks.get_mut(&id) {
            Some(fw) => {
                let old = fw.stream.replace(stream.clone());
                fw.info = info.clone();
                fw.reregistered_time = Some(now.wall);
                fw.disconnected_at = None;
                fw.unregistered_time = None;
                fw.recovered = false;
                fw.next_heartbeat = now.mono + heartbeat;
                old
            }
            None => {
                self.frameworks.insert(
                    id.clone(),
                    FrameworkEntry {
                        info: info.clone(),
                        id: id.clone(),
                        stream: Some(stream.clone()),
                        registered_time: now.wall,
                        reregistered_time: None,
                        unregistered_time: None,
                        disconnected_at: None,
                        tasks: BTreeMap::new(),
                        executors: BTreeMap::new(),
                        completed_tasks: VecDeque::new(),
                        suppressed_roles: BTreeSet::new(),
                        filters: Vec::new(),
                        acknowledged: AckLog::default(),
                        next_heartbeat: now.mono + heartbeat,
                        trailing_heartbeat: None,
                        recovered: false,
                    },
                );
                None
            }
        };
        if let Some(old) = old_stream {
            self.framework_streams.remove(&old);
            self.send_framework(&old, Event::error("Framework failed over"));
            self.outputs.push(Output::CloseFramework { stream: old });
        }
        // Offers made to the previous connection are void; the new one gets fresh offers.
        self.remove_offers_where(|o| o.offer.framework_id == id, false);
        self.framework_streams.insert(stream.clone(), id.clone());
        let subscribed = Subscribed {
            framework_id: id.clone(),
            heartbeat_interval_seconds: self.config.heartbeat_interval.as_secs_f64(),
            master_info: self.config.master_info.clone(),
        };
        self.send_framework(&stream, Event::Subscribed { subscribed });
        // Mesos sends a heartbeat right after SUBSCRIBED; mesoshttp needs it to see SUBSCRIBED.
        self.send_framework(&stream, Event::Heartbeat);
        self.next_allocation = now.mono;
        Some(id)
    }

    /// The stream of a subscription closed.
    pub fn framework_disconnected(&mut self, now: Now, stream: &str) {
        self.pending_subscriptions.retain(|p| p.stream != stream);
        let Some(id) = self.framework_streams.remove(stream) else { return };
        let Some(fw) = self.frameworks.get_mut(&id) else { return };
        if fw.stream.as_deref() != Some(stream) {
            return;
        }
        fw.stream = None;
        fw.disconnected_at = Some(now.mono);
        fw.unregistered_time = Some(now.wall);
        fw.trailing_heartbeat = None;
        self.remove_offers_where(|o| o.offer.framework_id == id, false);
        if failover_timeout(&self.frameworks[&id].info).is_zero() {
            self.remove_framework(now, &id);
        }
    }

    /// A non-SUBSCRIBE call. `stream` is the `Mesos-Stream-Id` header.
    pub fn call(&mut self, now: Now, stream: Option<&str>, call: Call) -> Result<(), Rejection> {
        let kind = call.kind.unwrap_or(CallType::Unknown);
        if kind == CallType::Unknown {
            return Err(reject(501, "Received 'UNKNOWN' call"));
        }
        let id = call.framework_id.clone().ok_or_else(|| reject(400, "Expecting 'framework_id' to be present"))?;
        let fw = self.frameworks.get(&id).ok_or_else(|| reject(400, "Framework cannot be found"))?;
        let Some(current) = &fw.stream else {
            return Err(reject(403, "Framework is not subscribed"));
        };
        let Some(stream) = stream else {
            return Err(reject(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"));
        };
        if current != stream {
            return Err(reject(
                400,
                format!(
                    "The stream ID '{stream}' included in this request didn't match the stream ID currently associated with framework ID {id}"
                ),
            ));
        }
        match kind {
            CallType::Teardown => self.remove_framework(now, &id),
            CallType::Accept => {
                if let Some(accept) = call.accept {
                    self.accept(now, &id, accept);
                }
            }
            CallType::Decline => {
                if let Some(decline) = call.decline {
                    let filters = decline.filters.unwrap_or_default();
                    self.counters.messages_decline_offers += 1;
                    for offer_id in decline.offer_ids {
                        self.decline_offer(now, &id, &offer_id, filters);
                    }
                }
            }
            CallType::Revive => {
                let roles = call.revive.unwrap_or_default().roles;
                if let Some(fw) = self.frameworks.get_mut(&id) {
                    if roles.is_empty() {
                        fw.suppressed_roles.clear();
                        fw.filters.clear();
                    } else {
                        fw.suppressed_roles.retain(|r| !roles.contains(r));
                        // Filters are per (framework, agent); clear them all for the roles given.
                        fw.filters.clear();
                    }
                }
                self.next_allocation = now.mono;
            }
            CallType::Suppress => {
                let roles = call.suppress.unwrap_or_default().roles;
                if let Some(fw) = self.frameworks.get_mut(&id) {
                    let roles = if roles.is_empty() { fw.info.effective_roles() } else { roles };
                    fw.suppressed_roles.extend(roles);
                }
            }
            CallType::Kill => {
                if let Some(kill) = call.kill {
                    self.kill(now, &id, kill);
                }
            }
            CallType::Shutdown => {
                if let Some(shutdown) = call.shutdown
                    && let Some(agent) = self.agents.get(&shutdown.agent_id)
                    && let Some(agent_stream) = agent.stream.clone()
                {
                    self.send_agent(
                        &agent_stream,
                        AgentEvent::ShutdownExecutor { framework_id: id.clone(), executor_id: shutdown.executor_id },
                    );
                }
            }
            CallType::Acknowledge => {
                if let Some(ack) = call.acknowledge {
                    self.acknowledge(&id, ack);
                }
            }
            CallType::Reconcile => {
                self.counters.messages_reconcile_tasks += 1;
                self.reconcile(now, &id, call.reconcile.unwrap_or_default());
            }
            CallType::Message => {
                if let Some(message) = call.message
                    && let Some(agent) = self.agents.get(&message.agent_id)
                    && let Some(agent_stream) = agent.stream.clone()
                {
                    self.send_agent(
                        &agent_stream,
                        AgentEvent::FrameworkMessage {
                            framework_id: id.clone(),
                            executor_id: message.executor_id,
                            data: message.data,
                        },
                    );
                }
            }
            CallType::UpdateFramework => {
                if let Some(update) = call.update_framework {
                    let fw = self.frameworks.get_mut(&id).ok_or_else(|| reject(400, "Framework cannot be found"))?;
                    if update.framework_info.user != fw.info.user
                        || update.framework_info.principal != fw.info.principal
                        || update.framework_info.checkpoint != fw.info.checkpoint
                    {
                        return Err(reject(400, "Updating 'user', 'principal' or 'checkpoint' is not supported"));
                    }
                    let mut info = update.framework_info;
                    info.id = Some(id.clone());
                    fw.info = info;
                    fw.suppressed_roles = update.suppressed_roles.into_iter().collect();
                    self.next_allocation = now.mono;
                }
            }
            // Accepted and ignored: no inverse offers, operation feedback or resource requests.
            CallType::Request
            | CallType::AcceptInverseOffers
            | CallType::DeclineInverseOffers
            | CallType::AcknowledgeOperationStatus
            | CallType::ReconcileOperations => {}
            CallType::Subscribe | CallType::Unknown => {}
        }
        Ok(())
    }

    fn remove_framework(&mut self, now: Now, id: &FrameworkId) {
        let Some(mut fw) = self.frameworks.remove(id) else { return };
        if self.registry.unbind_framework(id) {
            self.registry_version += 1;
        }
        self.remove_offers_where(|o| &o.offer.framework_id == id, false);
        if let Some(stream) = fw.stream.take() {
            self.framework_streams.remove(&stream);
            self.outputs.push(Output::CloseFramework { stream });
        }
        let agents: BTreeSet<AgentId> = fw.tasks.values().map(|t| t.task.agent_id.clone()).collect();
        for agent in agents {
            if let Some(stream) = self.agents.get(&agent).and_then(|a| a.stream.clone()) {
                self.send_agent(&stream, AgentEvent::ShutdownFramework { framework_id: id.clone() });
            }
        }
        for (_, mut t) in std::mem::take(&mut fw.tasks) {
            if !t.task.state.is_terminal() {
                t.task.state = TaskState::Killed;
                let mut status = TaskStatus::new(t.task.task_id.clone(), TaskState::Killed);
                status.reason = Some(Reason::FrameworkRemoved);
                status.source = Some(Source::Master);
                status.timestamp = Some(now.wall);
                t.task.statuses.push(status);
            }
            push_completed(&mut fw.completed_tasks, t.task, self.config.max_completed_tasks_per_framework);
        }
        fw.unregistered_time = Some(now.wall);
        fw.disconnected_at = None;
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > self.config.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
    }

    fn kill(&mut self, now: Now, framework: &FrameworkId, kill: mesos_api::scheduler::Kill) {
        let task = self.frameworks.get(framework).and_then(|fw| fw.tasks.get(&kill.task_id));
        let Some(task) = task.filter(|t| !t.task.state.is_terminal()) else {
            // Unknown task: answer as an explicit reconciliation of it.
            let reconcile = Reconcile {
                tasks: vec![mesos_api::scheduler::ReconcileTask { task_id: kill.task_id, agent_id: kill.agent_id }],
            };
            self.reconcile(now, framework, reconcile);
            return;
        };
        if kill.agent_id.as_ref().is_some_and(|a| a != &task.task.agent_id) {
            return;
        }
        let agent_id = task.task.agent_id.clone();
        if let Some(stream) = self.agents.get(&agent_id).and_then(|a| a.stream.clone()) {
            self.send_agent(
                &stream,
                AgentEvent::KillTask {
                    framework_id: framework.clone(),
                    task_id: kill.task_id,
                    kill_policy: kill.kill_policy,
                },
            );
        }
    }

    fn acknowledge(&mut self, framework: &FrameworkId, ack: mesos_api::scheduler::Acknowledge) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        fw.acknowledged.insert(ack.task_id.clone(), ack.uuid.clone());
        if let Some(t) = fw.tasks.get(&ack.task_id)
            && t.task.status_update_uuid.as_deref() == Some(ack.uuid.as_str())
            && t.task.status_update_state.is_some_and(TaskState::is_terminal)
            && let Some(t) = fw.tasks.remove(&ack.task_id)
        {
            push_completed(&mut fw.completed_tasks, t.task, self.config.max_completed_tasks_per_framework);
        }
        if let Some(stream) = self.agents.get(&ack.agent_id).and_then(|a| a.stream.clone()) {
            self.send_agent(
                &stream,
                AgentEvent::Acknowledge { framework_id: framework.clone(), task_id: ack.task_id, uuid: ack.uuid },
            );
        }
    }

    /// Upstream's rules: implicit reconciliation answers every task the master knows. Explicit
    /// reconciliation answers a known task with its latest state; for an unknown one it stays
    /// silent while the task's agent (or, without an agent id, any agent) is still expected back
    /// after a restart or failover, and otherwise answers by what it knows of the agent:
    /// registered (gone from it), unreachable, gone, or unknown. The last three are TASK_LOST
    /// for frameworks that are not partition-aware. Unlike upstream, which stays silent and
    /// leaves it to the framework to ask again, a silent answer is given once the agent is back
    /// or marked unreachable ([`MasterCore::answer_deferred_reconciliation`]): a framework that
    /// subscribed to a new leader before the agents did hears of its tasks as soon as they can
    /// be known.
    fn reconcile(&mut self, now: Now, framework: &FrameworkId, reconcile: Reconcile) {
        let Some(fw) = self.frameworks.get(framework) else { return };
        let pa = fw.info.partition_aware();
        let mut updates = Vec::new();
        let base = |task_id: TaskId, state: TaskState, message: &str| {
            let mut s = TaskStatus::new(task_id, state.for_framework(pa));
            s.source = Some(Source::Master);
            s.reason = Some(Reason::Reconciliation);
            s.message = Some(message.to_string());
            s.timestamp = Some(now.wall);
            s
        };
        let latest = |t: &TaskEntry| {
            let mut s = base(t.task.task_id.clone(), t.task.state, "Reconciliation: Latest task state");
            s.agent_id = Some(t.task.agent_id.clone());
            s.executor_id = t.task.executor_id.clone();
            if let Some(last) = t.task.statuses.last() {
                s.healthy = last.healthy;
                s.check_status = last.check_status.clone();
                s.container_status = last.container_status.clone();
                s.unreachable_time = last.unreachable_time;
            }
            s
        };
        let mut silent = Vec::new();
        if reconcile.tasks.is_empty() {
            updates.extend(fw.tasks.values().map(latest));
        } else {
            for entry in reconcile.tasks {
                if let Some(t) = fw.tasks.get(&entry.task_id) {
                    updates.push(latest(t));
                    continue;
                }
                let recovering = match &entry.agent_id {
                    Some(agent) => self.recovered.contains_key(agent),
                    None => !self.recovered.is_empty(),
                };
                if recovering {
                    silent.push((entry.agent_id, framework.clone(), entry.task_id));
                    continue;
                }
                let Some(agent_id) = entry.agent_id else {
                    updates.push(base(entry.task_id, TaskState::Unknown, "Reconciliation: Task is unknown"));
                    continue;
                };
                let registered = self.agents.get(&agent_id).is_some_and(|a| a.state != AgentState::Unreachable);
                let mut s = if registered {
                    base(entry.task_id, TaskState::Gone, "Reconciliation: Task is unknown to the agent")
                } else if let Some(at) = self.registry.unreachable.get(&agent_id) {
                    let mut s = base(entry.task_id, TaskState::Unreachable, "Reconciliation: Task is unreachable");
                    s.unreachable_time = Some(TimeInfo { nanoseconds: (at * 1e9) as i64 });
                    s
                } else if self.registry.gone.contains_key(&agent_id) {
                    base(entry.task_id, TaskState::GoneByOperator, "Reconciliation: Task is gone")
                } else {
                    base(entry.task_id, TaskState::Unknown, "Reconciliation: Task is unknown")
                };
                s.agent_id = Some(agent_id);
                updates.push(s);
            }
        }
        if !silent.is_empty() {
            tracing::info!(
                framework = %framework,
                tasks = silent.len(),
                "reconciliation of tasks on agents not yet reregistered after the restart answered once they are"
            );
            for entry in silent {
                if self.deferred_reconciliation.len() >= Self::MAX_DEFERRED_RECONCILIATIONS {
                    break;
                }
                self.deferred_reconciliation.insert(entry);
            }
        }
        for status in updates {
            self.send_to_framework(now, framework, Event::update(status));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Offers

    fn accept(&mut self, now: Now, framework: &FrameworkId, accept: Accept) {
        self.counters.messages_launch_tasks += 1;
        let pa = self.frameworks.get(framework).is_some_and(|f| f.info.partition_aware());
        // Validate the offers: they must exist, belong to this framework, be on one agent.
        let mut error = None;
        let mut agent: Option<AgentId> = None;
        let mut seen = BTreeSet::new();
        for offer_id in &accept.offer_ids {
            if !seen.insert(offer_id.clone()) {
                error = Some(format!("Offer {offer_id} is duplicated"));
                break;
            }
            match self.offers.get(offer_id) {
                None => {
                    error = Some(format!("Offer {offer_id} is no longer valid"));
                    break;
                }
                Some(o) if &o.offer.framework_id != framework => {
                    error = Some(format!("Offer {offer_id} has invalid framework"));
                    break;
                }
                Some(o) => match &agent {
                    Some(a) if a != &o.offer.agent_id => {
                        error = Some("Aggregated offers must belong to one single agent".to_string());
                        break;
                    }
                    _ => agent = Some(o.offer.agent_id.clone()),
                },
            }
        }
        if accept.offer_ids.is_empty() {
            error = Some("No offers specified".to_string());
        }
        // The offers are used up either way.
        let mut available = ResourceSet::new();
        let mut role = None;
        for offer_id in &accept.offer_ids {
            if let Some(o) = self.offers.get(offer_id)
                && &o.offer.framework_id == framework
                && let Some(o) = self.offers.remove(offer_id)
            {
                available.add(&o.resources);
                role = Some(o.role.clone());
            }
        }
        let tasks_of = |op: &Operation| -> Vec<TaskInfo> {
            match op.kind {
                OperationType::Launch => op.launch.as_ref().map(|l| l.task_infos.clone()).unwrap_or_default(),
                OperationType::LaunchGroup => {
                    op.launch_group.as_ref().map(|l| l.task_group.tasks.clone()).unwrap_or_default()
                }
                _ => Vec::new(),
            }
        };
        if let Some(error) = error {
            for op in &accept.operations {
                for task in tasks_of(op) {
                    let mut s = TaskStatus::new(task.task_id.clone(), TaskState::Dropped.for_framework(pa));
                    s.source = Some(Source::Master);
                    s.reason = Some(Reason::InvalidOffers);
                    s.message = Some(format!("Task launched with invalid offers: {error}"));
                    s.timestamp = Some(now.wall);
                    s.agent_id = Some(task.agent_id.clone());
                    self.send_to_framework(now, framework, Event::update(s));
                }
            }
            self.next_allocation = self.next_allocation.min(now.mono + self.config.allocation_interval);
            return;
        }
        let (Some(agent_id), Some(role)) = (agent, role) else { return };
        for op in accept.operations {
            match op.kind {
                OperationType::Launch => {
                    for task in tasks_of(&op) {
                        self.launch(now, framework, &agent_id, &role, task, &mut available);
                    }
                }
                OperationType::LaunchGroup => match op.launch_group {
                    Some(group) => self.launch_group(now, framework, &agent_id, &role, group, &mut available),
                    None => tracing::warn!(%framework, "LAUNCH_GROUP without 'launch_group' ignored"),
                },
                other => tracing::warn!(?other, %framework, "offer operation not supported; ignored"),
            }
        }
        let filters = accept.filters.unwrap_or_default();
        if filters.effective_refuse_seconds() <= 0.0 && !available.is_empty() {
            // The framework wants the rest of the offer back (it launches in batches): offer it
            // now rather than one allocation interval later.
            self.next_allocation = now.mono;
        }
        self.install_filter(now, framework, &agent_id, available, filters);
    }

    fn decline_offer(&mut self, now: Now, framework: &FrameworkId, offer_id: &OfferId, filters: Filters) {
        let Some(o) = self.offers.get(offer_id) else { return };
        if &o.offer.framework_id != framework {
            return;
        }
        let Some(o) = self.offers.remove(offer_id) else { return };
        self.install_filter(now, framework, &o.offer.agent_id, o.resources, filters);
    }

    fn install_filter(
        &mut self,
        now: Now,
        framework: &FrameworkId,
        agent: &AgentId,
        refused: ResourceSet,
        filters: Filters,
    ) {
        let secs = filters.effective_refuse_seconds();
        if secs <= 0.0 || refused.is_empty() {
            return;
        }
        let duration = Duration::from_secs_f64(secs).max(self.config.allocation_interval);
        if let Some(fw) = self.frameworks.get_mut(framework) {
            fw.filters.push(OfferFilter { agent: agent.clone(), refused, expires: now.mono + duration });
        }
    }

    /// Removes matching offers, giving their resources back; `rescind` tells connected
    /// frameworks.
    fn remove_offers_where(&mut self, pred: impl Fn(&OfferEntry) -> bool, rescind: bool) {
        let ids: Vec<OfferId> = self.offers.values().filter(|o| pred(o)).map(|o| o.offer.id.clone()).collect();
        for id in ids {
            let Some(o) = self.offers.remove(&id) else { continue };
            if rescind && let Some(stream) = self.frameworks.get(&o.offer.framework_id).and_then(|f| f.stream.clone()) {
                self.send_framework(&stream, Event::Rescind { rescind: Rescind { offer_id: id } });
            }
        }
    }

    /// One allocation cycle: offers every active agent's free resources to one eligible
    /// framework each, lowest dominant share first (DRF).
    fn allocate(&mut self, now: Now) {
        for fw in self.frameworks.values_mut() {
            fw.filters.retain(|f| f.expires > now.mono);
        }
        let mut agents: Vec<AgentId> =
            self.agents.values().filter(|a| a.state == AgentState::Active).map(|a| a.id.clone()).collect();
        if agents.is_empty() {
            return;
        }
        agents.shuffle(&mut self.rng);
        // Cluster totals and each framework's allocation (tasks plus outstanding offers).
        let mut total = ResourceSet::new();
        for a in self.agents.values().filter(|a| a.state != AgentState::Unreachable) {
            total.add(&a.total);
        }
        let used = self.used_by_agent();
        let mut allocated: BTreeMap<FrameworkId, ResourceSet> = BTreeMap::new();
        for fw in self.frameworks.values() {
            allocated.insert(fw.id.clone(), fw.used());
        }
        for o in self.offers.values() {
            allocated.entry(o.offer.framework_id.clone()).or_default().add(&o.resources);
        }
        let mut new_offers: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        for agent_id in agents {
            let Some(agent) = self.agents.get(&agent_id) else { continue };
            let mut free = agent.total.clone();
            if let Some(used) = used.get(&agent_id) {
                free.subtract(used);
            }
            free.subtract(&self.agent_offered(&agent_id));
            if free.is_empty() {
                continue;
            }
            // Candidates in DRF order: lowest dominant share, ties broken by id.
            let mut candidates: Vec<(f64, FrameworkId)> = self
                .frameworks
                .values()
                .filter(|fw| fw.connected())
                .map(|fw| (dominant_share(allocated.get(&fw.id), &total), fw.id.clone()))
                .collect();
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            for (_, fw_id) in candidates {
                let Some(fw) = self.frameworks.get(&fw_id) else { continue };
                let Some((role, resources)) = fw
                    .info
                    .effective_roles()
                    .into_iter()
                    .filter(|r| !fw.suppressed_roles.contains(r))
                    .map(|r| {
                        let res = free.allocatable_to(&r);
                        (r, res)
                    })
                    .find(|(_, res)| {
                        allocatable(res) && !fw.filters.iter().any(|f| f.agent == agent_id && f.refused.contains(res))
                    })
                else {
                    continue;
                };
                let offer_id = OfferId::new(format!("{}-O{}", self.config.master_info.id, self.next_offer));
                let offer = build_offer(offer_id, fw, agent, &role, &resources);
                self.next_offer += 1;
                free.subtract(&resources);
                allocated.entry(fw_id.clone()).or_default().add(&resources);
                self.offers
                    .insert(offer.id.clone(), OfferEntry { offer: offer.clone(), resources, role, created: now.mono });
                new_offers.entry(fw_id).or_default().push(offer);
                break;
            }
        }
        for (fw_id, offers) in new_offers {
            self.send_to_framework(now, &fw_id, Event::Offers { offers: Offers { offers } });
        }
    }
}

fn build_offer(id: OfferId, fw: &FrameworkEntry, agent: &AgentEntry, role: &str, resources: &ResourceSet) -> Offer {
    {
        let multi_role = fw.info.multi_role();
        let mut wire = resources.to_wire();
        if multi_role {
            for r in &mut wire {
                r.allocation_info = Some(AllocationInfo { role: Some(role.to_string()) });
            }
        }
        let (host, port) = split_endpoint(&agent.endpoint);
        Offer {
            id,
            framework_id: fw.id.clone(),
            agent_id: agent.id.clone(),
            hostname: agent.info.hostname.clone(),
            url: Some(Url {
                scheme: "http".to_string(),
                address: Address { hostname: Some(agent.info.hostname.clone()), ip: Some(host), port },
                path: Some("/slave(1)".to_string()),
            }),
            resources: wire,
            attributes: agent.info.attributes.clone(),
            executor_ids: Vec::new(),
            allocation_info: multi_role.then(|| AllocationInfo { role: Some(role.to_string()) }),
            domain: agent.info.domain.clone(),
        }
    }
}

impl MasterCore {
    // -----------------------------------------------------------------------------------------
    // Timers

    /// Runs every timer that is due.
    pub fn tick(&mut self, now: Now) {
        if self.recovery_deadline.is_some_and(|at| now.mono >= at) {
            self.recovery_timeout(now);
        }
        if now.mono >= self.next_ping {
            self.ping_agents(now);
            self.next_ping = now.mono + self.config.agent_ping_timeout;
        }
        // Failover timeouts.
        let expired: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| f.disconnected_at.is_some_and(|at| now.mono >= at + failover_timeout(&f.info)))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            tracing::info!(framework = %id, "framework failover timeout expired; removing it");
            self.remove_framework(now, &id);
        }
        if let Some(timeout) = self.config.offer_timeout {
            self.remove_offers_where(|o| now.mono >= o.created + timeout, true);
        }
        if now.mono >= self.next_allocation {
            self.allocate(now);
            self.next_allocation = now.mono + self.config.allocation_interval;
        }
        let heartbeat = self.config.heartbeat_interval;
        let mut beats = Vec::new();
        for fw in self.frameworks.values_mut() {
            let Some(stream) = &fw.stream else { continue };
            let trailing_due = fw.trailing_heartbeat.is_some_and(|t| now.mono >= t);
            if now.mono >= fw.next_heartbeat || trailing_due {
                beats.push(stream.clone());
                fw.next_heartbeat = now.mono + heartbeat;
                fw.trailing_heartbeat = None;
            }
        }
        for stream in beats {
            self.outputs.push(Output::Framework { stream, event: Event::Heartbeat });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Output helpers

    fn send_framework(&mut self, stream: &str, event: Event) {
        self.outputs.push(Output::Framework { stream: stream.to_string(), event });
    }

    /// Sends to a framework's current stream, if it is connected; arms a trailing heartbeat.
    fn send_to_framework(&mut self, now: Now, framework: &FrameworkId, event: Event) {
        let Some(fw) = self.frameworks.get_mut(framework) else { return };
        let Some(stream) = fw.stream.clone() else { return };
        if fw.trailing_heartbeat.is_none() {
            fw.trailing_heartbeat = Some(now.mono + TRAILING_HEARTBEAT_DELAY);
        }
        self.outputs.push(Output::Framework { stream, event });
    }

    fn send_agent(&mut self, stream: &str, event: AgentEvent) {
        self.outputs.push(Output::Agent { stream: stream.to_string(), event });
    }
}

fn failover_timeout(info: &FrameworkInfo) -> Duration {
    let secs = info.failover_timeout;
    if secs.is_finite() && secs > 0.0 { Duration::from_secs_f64(secs.min(1e10)) } else { Duration::ZERO }
}

fn push_completed(list: &mut VecDeque<Task>, task: Task, max: usize) {
    list.push_back(task);
    while list.len() > max {
        list.pop_front();
    }
}

/// Mesos' default `--min_allocatable_resources`: `cpus:0.01|mem:32`.
fn allocatable(r: &ResourceSet) -> bool {
    r.scalar("cpus") >= 0.01 || r.scalar("mem") >= 32.0
}

fn dominant_share(allocated: Option<&ResourceSet>, total: &ResourceSet) -> f64 {
    let Some(allocated) = allocated else { return 0.0 };
    ["cpus", "mem", "disk", "gpus"]
        .iter()
        .filter(|n| total.scalar(n) > 0.0)
        .map(|n| allocated.scalar(n) / total.scalar(n))
        .fold(0.0, f64::max)
}

/// `ip:port` into its parts (port 5051 when absent or invalid).
fn split_endpoint(endpoint: &str) -> (String, u16) {
    match endpoint.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(5051)),
        None => (endpoint.to_string(), 5051),
    }
}

#[cfg(test)]
mod tests;
