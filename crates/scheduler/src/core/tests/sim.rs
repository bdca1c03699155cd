//! A simulation of the core against a tiny master: random sequences of offers, task failures,
//! scale and config changes, API kills, partitions, slow store writes, disconnections and
//! scheduler restarts.
//!
//! Safety (checked after every step): an offer is accepted at most once and only while it is
//! outstanding, tasks fit their offers, task ids are never reused, an instance never has two
//! live tasks, an app never runs more unkilled tasks than it wants beyond the instances it is
//! decommissioning, a tick never leaves a wakeup in the past, and the store mirrors the core
//! whenever every write is acknowledged.
//! Liveness (after the chaos): with every agent healed, writes acknowledged and offers
//! plentiful, every app converges to `instances` running tasks.

use super::*;
use proptest::prelude::*;

const APPS: usize = 3;
const AGENTS: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Op {
    OfferRound,
    Advance { millis: u32 },
    Scale { app: usize, instances: u32 },
    ConfigChange { app: usize },
    DeleteApp { app: usize },
    FailTask { pick: usize, finish: bool },
    KillViaApi { pick: usize, scale: bool, wipe: bool },
    Partition { agent: usize },
    Heal { agent: usize },
    StoreOne,
    StoreAll,
    Rescind { pick: usize },
    Disconnect,
    Resubscribe,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::OfferRound),
        5 => (1u32..20_000).prop_map(|millis| Op::Advance { millis }),
        3 => (0..APPS, 0u32..5).prop_map(|(app, instances)| Op::Scale { app, instances }),
        1 => (0..APPS).prop_map(|app| Op::ConfigChange { app }),
        1 => (0..APPS).prop_map(|app| Op::DeleteApp { app }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, finish)| Op::FailTask { pick, finish }),
        1 => (any::<usize>(), any::<bool>(), any::<bool>())
            .prop_map(|(pick, scale, wipe)| Op::KillViaApi { pick, scale, wipe: wipe && !scale }),
        1 => (0..AGENTS).prop_map(|agent| Op::Partition { agent }),
        2 => (0..AGENTS).prop_map(|agent| Op::Heal { agent }),
        3 => Just(Op::StoreOne),
        3 => Just(Op::StoreAll),
        1 => any::<usize>().prop_map(|pick| Op::Rescind { pick }),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Resubscribe),
        1 => Just(Op::Restart),
    ]
}

struct SimAgent {
    id: AgentId,
    reachable: bool,
    filtered_until: Duration,
    /// Kills that reach the agent when it is back.
    pending_kills: BTreeSet<TaskId>,
}

struct SimTask {
    agent: usize,
    state: TaskState,
    resources: ResourceSet,
}

struct Sim {
    now: Now,
    core: SchedulerCore,
    seed: u64,
    restarts: u64,
    agents: Vec<SimAgent>,
    agent_total: ResourceSet,
    /// Every task the master ever launched, with its latest state.
    tasks: BTreeMap<TaskId, SimTask>,
    /// Each task's ordered stream of reliable updates; the head is resent until acknowledged.
    streams: BTreeMap<TaskId, VecDeque<TaskStatus>>,
    outstanding: BTreeMap<OfferId, (usize, ResourceSet)>,
    used_offers: BTreeSet<OfferId>,
    sentenced: BTreeSet<TaskId>,
    suppressed: bool,
    subscribed: bool,
    events: VecDeque<Event>,
    pending_writes: VecDeque<(WriteId, Vec<Record>)>,
    store: FakeStore,
    auto_store: bool,
    next_offer: u64,
    next_uuid: u64,
    config_generation: u64,
    log: Vec<String>,
}

fn sim_app(index: usize, instances: u32, version: Timestamp) -> RunSpec {
    let mut spec = RunSpec::new(AppId::new(&format!("/app{index}")), version);
    spec.instances = instances;
    spec.cpus = 0.25;
    spec.mem = 32.0;
    spec.command = CommandSpec::Shell("sleep 1000".into());
    spec.backoff = BackoffStrategy { backoff: SEC, factor: 2.0, max_launch_delay: 16 * SEC };
    spec.unreachable_strategy = match index {
        0 => UnreachableStrategy::default(),
        1 => UnreachableStrategy::Enabled { inactive_after: 20 * SEC, expunge_after: 120 * SEC },
        _ => UnreachableStrategy::Enabled { inactive_after: Duration::ZERO, expunge_after: 60 * SEC },
    };
    if index == 2 {
        spec.kill_selection = KillSelection::OldestFirst;
    }
    spec
}

fn app_index(task_id: &TaskId) -> Option<usize> {
    let (instance, _) = parse_task_id(task_id.as_str())?;
    instance.safe_app_id().strip_prefix("app")?.parse().ok()
}

impl Sim {
    fn new(seed: u64) -> Self {
        let now = start();
        let config = SchedulerConfig { seed, ..config() };
        let agents = (0..AGENTS)
            .map(|i| SimAgent {
                id: AgentId::new(format!("agent-{i}")),
                reachable: true,
                filtered_until: Duration::ZERO,
                pending_kills: BTreeSet::new(),
            })
            .collect();
        let mut sim = Sim {
            now,
            core: SchedulerCore::new(config, now),
            seed,
            restarts: 0,
            agents,
            agent_total: ResourceSet::parse_text("cpus:4;mem:4096;ports:[31000-31099]").expect("resources"),
            tasks: BTreeMap::new(),
            streams: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            used_offers: BTreeSet::new(),
            sentenced: BTreeSet::new(),
            suppressed: false,
            subscribed: false,
            events: VecDeque::new(),
            pending_writes: VecDeque::new(),
            store: FakeStore::default(),
            auto_store: false,
            next_offer: 0,
            next_uuid: 0,
            config_generation: 0,
            log: Vec::new(),
        };
        sim.subscribe();
        for index in 0..APPS {
            sim.events.push_back(Event::AppPut { spec: sim_app(index, 2, now.wall) });
        }
        sim.pump();
        sim
    }

    fn is_live(&self, task_id: &TaskId) -> bool {
        self.tasks.get(task_id).is_some_and(|t| !t.state.is_terminal())
    }

    // ------------------------------------------------------------------------------------------
    // The master

    fn subscribe(&mut self) {
        self.subscribed = true;
        self.outstanding.clear();
        self.suppressed = false;
        for agent in &mut self.agents {
            agent.filtered_until = Duration::ZERO;
        }
        self.events.push_back(Event::Subscribed { framework_id: FrameworkId::new("fw-1") });
        let heads: Vec<TaskId> = self.streams.keys().cloned().collect();
        for task_id in heads {
            self.deliver_head(&task_id);
        }
    }

    /// A reliable update from the agent: queued on the task's stream.
    fn agent_update(&mut self, task_id: &TaskId, state: TaskState) {
        let Some(task) = self.tasks.get_mut(task_id) else { return };
        task.state = state;
        let mut status = TaskStatus::new(task_id.clone(), state);
        status.agent_id = Some(self.agents[task.agent].id.clone());
        status.source = Some(mesos_api::Source::Executor);
        self.next_uuid += 1;
        status.uuid = Some(format!("uuid-{}", self.next_uuid));
        let stream = self.streams.entry(task_id.clone()).or_default();
        stream.push_back(status);
        if stream.len() == 1 {
            self.deliver_head(task_id);
        }
    }

    fn deliver_head(&mut self, task_id: &TaskId) {
        let Some(head) = self.streams.get(task_id).and_then(|s| s.front()).cloned() else { return };
        let reachable = self.tasks.get(task_id).is_some_and(|t| self.agents[t.agent].reachable);
        if reachable && self.subscribed {
            self.events.push_back(Event::StatusUpdate(head));
        }
    }

    /// An update made up by the master (no uuid, not retried).
    fn master_update(&mut self, task_id: &TaskId, state: TaskState, reason: Reason, message: &str) {
        if !self.subscribed {
            return;
        }
        let mut status = TaskStatus::new(task_id.clone(), state);
        status.source = Some(mesos_api::Source::Master);
        status.reason = Some(reason);
        status.message = Some(message.to_string());
        status.agent_id = self.tasks.get(task_id).map(|t| self.agents[t.agent].id.clone());
        if state == TaskState::Unreachable {
            status.unreachable_time = Some(mesos_api::TimeInfo { nanoseconds: self.now.wall.millis() * 1_000_000 });
        }
        self.events.push_back(Event::StatusUpdate(status));
    }

    fn latest_state(&self, task_id: &TaskId) -> Option<TaskState> {
        let task = self.tasks.get(task_id)?;
        let unreachable = !self.agents[task.agent].reachable && !task.state.is_terminal();
        Some(if unreachable { TaskState::Unreachable } else { task.state })
    }

    fn execute(&mut self, command: Command) {
        self.log.push(format!("{command:?}"));
        match command {
            Command::Persist { write_id, records } => {
                self.pending_writes.push_back((write_id, records));
                if self.auto_store {
                    self.store_all();
                }
            }
            Command::Accept { offer_ids, task_infos, refuse_seconds, .. } => {
                assert!(self.subscribed, "ACCEPT without a subscription");
                assert_eq!(offer_ids.len(), 1);
                let offer_id = &offer_ids[0];
                assert!(self.used_offers.insert(offer_id.clone()), "offer {offer_id} accepted twice");
                let (agent, mut available) = self.outstanding.remove(offer_id).expect("accepted offer is outstanding");
                assert!(self.agents[agent].reachable);
                for info in task_infos {
                    assert_eq!(info.agent_id, self.agents[agent].id);
                    let resources = ResourceSet::from_wire(&info.resources).expect("task resources");
                    assert!(available.contains(&resources), "task {} does not fit its offer", info.task_id);
                    available.subtract(&resources);
                    assert!(!self.tasks.contains_key(&info.task_id), "task id {} reused", info.task_id);
                    self.tasks.insert(info.task_id.clone(), SimTask { agent, state: TaskState::Staging, resources });
                    self.agent_update(&info.task_id, TaskState::Running);
                }
                self.agents[agent].filtered_until = self.now.mono + Duration::from_secs_f64(refuse_seconds);
            }
            Command::Decline { offer_ids, refuse_seconds } => {
                for offer_id in offer_ids {
                    if let Some((agent, _)) = self.outstanding.remove(&offer_id) {
                        self.agents[agent].filtered_until = self.now.mono + Duration::from_secs_f64(refuse_seconds);
                    }
                }
            }
            // The simulated apps have no Marathon health checks.
            Command::Probe { .. } => panic!("probe for an app without Marathon health checks"),
            Command::ReadinessProbe { .. } => panic!("probe for an app without readiness checks"),
            Command::Kill { task_id, .. } => {
                self.sentenced.insert(task_id.clone());
                match self.tasks.get(&task_id) {
                    None => self.master_update(
                        &task_id,
                        TaskState::Gone,
                        Reason::Reconciliation,
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    Some(task) if task.state.is_terminal() => {}
                    Some(task) if !self.agents[task.agent].reachable => {
                        let agent = task.agent;
                        self.agents[agent].pending_kills.insert(task_id);
                    }
                    Some(_) => self.agent_update(&task_id, TaskState::Killed),
                }
            }
            Command::Reconcile { tasks } => {
                let answers: Vec<(TaskId, TaskState, &str)> = if tasks.is_empty() {
                    self.tasks
                        .iter()
                        .filter(|(_, t)| !t.state.is_terminal())
                        .filter_map(|(id, _)| {
                            Some((id.clone(), self.latest_state(id)?, "Reconciliation: Latest task state"))
                        })
                        .collect()
                } else {
                    tasks
                        .into_iter()
                        .map(|(id, _)| match self.latest_state(&id) {
                            Some(state) => (id, state, "Reconciliation: Latest task state"),
                            None => (id, TaskState::Gone, "Reconciliation: Task is unknown to the agent"),
                        })
                        .collect()
                };
                for (id, state, message) in answers {
                    self.master_update(&id, state, Reason::Reconciliation, message);
                }
            }
            Command::Revive => {
                self.suppressed = false;
                for agent in &mut self.agents {
                    agent.filtered_until = Duration::ZERO;
                }
            }
            Command::Suppress => self.suppressed = true,
            Command::Acknowledge { task_id, uuid, .. } => {
                let acked = self
                    .streams
                    .get(&task_id)
                    .and_then(|s| s.front())
                    .is_some_and(|h| h.uuid.as_deref() == Some(uuid.as_str()));
                if acked {
                    let stream = self.streams.get_mut(&task_id).expect("stream");
                    stream.pop_front();
                    if stream.is_empty() {
                        self.streams.remove(&task_id);
                    } else {
                        self.deliver_head(&task_id);
                    }
                }
            }
            Command::Publish(_) => {}
        }
    }

    fn store_one(&mut self) {
        if let Some((write_id, records)) = self.pending_writes.pop_front() {
            self.store.apply(&records);
            self.events.push_back(Event::Stored { write_id });
        }
    }

    fn store_all(&mut self) {
        while !self.pending_writes.is_empty() {
            self.store_one();
        }
    }

    /// Delivers events until nothing happens any more.
    fn pump(&mut self) {
        let mut steps = 0;
        while let Some(event) = self.events.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "no quiescence");
            self.log.push(format!("{event:?}"));
            let commands = self.core.handle(self.now, event);
            for command in commands {
                self.execute(command);
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now.mono += d;
        self.now.wall = self.now.wall.saturating_add(d);
        let mut ticks = 0;
        while self.core.next_wakeup().is_some_and(|at| at <= self.now.mono) {
            ticks += 1;
            self.events.push_back(Event::Tick);
            self.pump();
            assert!(ticks < 3, "a tick left its wakeup in the past: {:?}", self.core.next_wakeup());
        }
    }

    fn offer_round(&mut self) {
        if !self.subscribed || self.suppressed {
            return;
        }
        let mut offers = Vec::new();
        for (index, agent) in self.agents.iter().enumerate() {
            let offered = self.outstanding.values().any(|(a, _)| *a == index);
            if !agent.reachable || offered || self.now.mono < agent.filtered_until {
                continue;
            }
            let mut free = self.agent_total.clone();
            for task in self.tasks.values().filter(|t| t.agent == index && !t.state.is_terminal()) {
                free.subtract(&task.resources);
            }
            self.next_offer += 1;
            let id = OfferId::new(format!("offer-{}", self.next_offer));
            let mut offer = offer(id.as_str(), agent.id.as_str(), "cpus:0");
            offer.resources = free.to_wire();
            self.outstanding.insert(id, (index, free));
            offers.push(offer);
        }
        if !offers.is_empty() {
            self.events.push_back(Event::Offers(offers));
        }
    }

    fn live_tasks(&self) -> Vec<TaskId> {
        self.tasks
            .iter()
            .filter(|(_, t)| !t.state.is_terminal() && self.agents[t.agent].reachable)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::OfferRound => self.offer_round(),
            Op::Advance { millis } => self.advance(Duration::from_millis(u64::from(millis))),
            Op::Scale { app, instances } => {
                let id = AppId::new(&format!("/app{app}"));
                let version = self.next_version(&id);
                let base = self.core.app(&id).cloned().unwrap_or_else(|| sim_app(app, instances, version));
                let spec = RunSpec { instances, version, ..base };
                self.events.push_back(Event::AppPut { spec });
            }
            Op::ConfigChange { app } => {
                let id = AppId::new(&format!("/app{app}"));
                if let Some(mut spec) = self.core.app(&id).cloned() {
                    self.config_generation += 1;
                    spec.command = CommandSpec::Shell(format!("sleep {}", 1000 + self.config_generation));
                    spec.version = self.next_version(&id);
                    self.events.push_back(Event::AppPut { spec });
                }
            }
            Op::DeleteApp { app } => self.events.push_back(Event::AppDeleted { id: AppId::new(&format!("/app{app}")) }),
            Op::FailTask { pick, finish } => {
                let live = self.live_tasks();
                if !live.is_empty() {
                    let task = live[pick % live.len()].clone();
                    self.agent_update(&task, if finish { TaskState::Finished } else { TaskState::Failed });
                }
            }
            Op::KillViaApi { pick, scale, wipe } => {
                let live = self.live_tasks();
                if !live.is_empty() {
                    let task = live[pick % live.len()].clone();
                    self.events.push_back(Event::KillTasks { task_ids: vec![task], scale, wipe });
                }
            }
            Op::Partition { agent } => {
                if self.agents[agent].reachable {
                    self.agents[agent].reachable = false;
                    let rescinded: Vec<OfferId> =
                        self.outstanding.iter().filter(|(_, (a, _))| *a == agent).map(|(id, _)| id.clone()).collect();
                    for id in rescinded {
                        self.outstanding.remove(&id);
                        if self.subscribed {
                            self.events.push_back(Event::OfferRescinded(id));
                        }
                    }
                    let on_agent: Vec<TaskId> = self
                        .tasks
                        .iter()
                        .filter(|(_, t)| t.agent == agent && !t.state.is_terminal())
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in on_agent {
                        self.master_update(&id, TaskState::Unreachable, Reason::AgentRemoved, "Agent removed");
                    }
                }
            }
            Op::Heal { agent } => self.heal(agent),
            Op::StoreOne => self.store_one(),
            Op::StoreAll => self.store_all(),
            Op::Rescind { pick } => {
                if !self.outstanding.is_empty() {
                    let id = self.outstanding.keys().nth(pick % self.outstanding.len()).cloned().expect("offer");
                    self.outstanding.remove(&id);
                    if self.subscribed {
                        self.events.push_back(Event::OfferRescinded(id));
                    }
                }
            }
            Op::Disconnect => {
                if self.subscribed {
                    self.subscribed = false;
                    self.outstanding.clear();
                    self.events.push_back(Event::Disconnected);
                }
            }
            Op::Resubscribe => {
                if !self.subscribed {
                    self.subscribe();
                }
            }
            Op::Restart => self.restart(),
        }
        self.pump();
        self.check_safety();
    }

    fn heal(&mut self, agent: usize) {
        if self.agents[agent].reachable {
            return;
        }
        self.agents[agent].reachable = true;
        let on_agent: Vec<TaskId> =
            self.tasks.iter().filter(|(_, t)| t.agent == agent).map(|(id, _)| id.clone()).collect();
        for id in &on_agent {
            if self.is_live(id) {
                let state = self.tasks[id].state;
                self.master_update(id, state, Reason::AgentReregistered, "Agent reregistered");
            }
        }
        for id in std::mem::take(&mut self.agents[agent].pending_kills) {
            if self.is_live(&id) {
                self.agent_update(&id, TaskState::Killed);
            }
        }
        for id in &on_agent {
            self.deliver_head(id);
        }
    }

    /// The scheduler process dies: writes not yet done are lost, and so are the commands the
    /// old core held back. The new one recovers from the store and subscribes again.
    fn restart(&mut self) {
        self.restarts += 1;
        self.pending_writes.clear();
        self.events.clear();
        let config = SchedulerConfig { seed: self.seed.wrapping_add(self.restarts * 7919), ..config() };
        self.core = SchedulerCore::recover(config, self.now, self.store.recovered());
        self.subscribed = false;
        self.subscribe();
    }

    // ------------------------------------------------------------------------------------------
    // Invariants

    fn check_safety(&self) {
        // One live task per instance, wherever it runs.
        let mut per_instance: BTreeMap<InstanceId, Vec<&TaskId>> = BTreeMap::new();
        for (id, task) in &self.tasks {
            if !task.state.is_terminal() {
                let (instance, _) = parse_task_id(id.as_str()).expect("task ids parse");
                per_instance.entry(instance).or_default().push(id);
            }
        }
        for (instance, tasks) in &per_instance {
            let unsentenced: Vec<_> = tasks.iter().filter(|t| !self.sentenced.contains(**t)).collect();
            assert!(unsentenced.len() <= 1, "instance {instance} runs {unsentenced:?}");
        }
        // No app runs more unkilled tasks than it wants, beyond what it is decommissioning.
        if self.core.is_connected() && self.core.is_reconciled() {
            for index in 0..APPS {
                let id = AppId::new(&format!("/app{index}"));
                let wanted = self.core.app(&id).map_or(0, |s| s.instances as usize);
                let decommissioning = self.core.instances_of(&id).filter(|i| i.goal == Goal::Decommissioned).count();
                let running = self
                    .live_tasks()
                    .into_iter()
                    .filter(|t| app_index(t) == Some(index) && !self.sentenced.contains(t))
                    .count();
                // A rolling upgrade may run up to maxCapacity (+1 when the bounds leave no room).
                let headroom = self.core.app(&id).map_or(0, |s| {
                    let n = s.instances as f64;
                    ((n * (1.0 + s.upgrade_strategy.maximum_over_capacity)).floor() as usize + 1)
                        .saturating_sub(s.instances as usize)
                });
                assert!(
                    running <= wanted + headroom + decommissioning,
                    "/app{index}: {running} unkilled tasks, wants {wanted}, decommissioning {decommissioning}"
                );
                if let Some(spec) = self.core.app(&id) {
                    let config = spec.version_info.last_config_change_at;
                    let counted: Vec<&Instance> = self.core.instances_of(&id).filter(|i| i.is_counted()).collect();
                    // Old instances, even those being killed, hold capacity while they live.
                    let upgrading =
                        self.core.instances_of(&id).any(|i| i.run_spec_version < config && !i.condition.is_terminal());
                    if upgrading {
                        assert!(counted.len() <= spec.instances as usize + headroom, "/app{index} upgrade headroom");
                    } else {
                        assert_eq!(counted.len(), spec.instances as usize, "/app{index} counts its instances");
                    }
                }
            }
        }
        // With every write acknowledged, the store holds exactly the core's state.
        if self.pending_writes.is_empty() && self.events.is_empty() {
            let core_instances: BTreeMap<InstanceId, Instance> =
                self.core.instances().map(|i| (i.id.clone(), i.clone())).collect();
            let core_apps: BTreeMap<AppId, RunSpec> = self.core.apps().map(|a| (a.id.clone(), a.clone())).collect();
            assert_eq!(self.store.instances, core_instances, "store mirrors the instances");
            assert_eq!(self.store.apps, core_apps, "store mirrors the apps");
        }
    }

    /// The version of a change of `app` as the service gives it: now, but always after the
    /// app's current version (which a kill-and-scale may have set ahead of the clock).
    fn next_version(&self, app: &AppId) -> Timestamp {
        let newest = self
            .core
            .app(app)
            .map(|s| s.version)
            .into_iter()
            .chain(self.core.instances_of(app).map(|i| i.run_spec_version));
        newest.max().map_or(self.now.wall, |newest| self.now.wall.max(Timestamp::from_millis(newest.millis() + 1)))
    }

    /// Heals everything and runs with plentiful offers until every app runs its instances.
    fn check_liveness(&mut self) {
        self.auto_store = true;
        self.store_all();
        for agent in 0..AGENTS {
            self.heal(agent);
        }
        if !self.subscribed {
            self.subscribe();
        }
        self.pump();
        let deadline = self.now.mono + Duration::from_secs(3000);
        while self.now.mono < deadline {
            self.offer_round();
            self.pump();
            self.check_safety();
            if self.converged() {
                return;
            }
            self.advance(Duration::from_secs(2));
            self.pump();
        }
        let state: Vec<String> =
            self.core.instances().map(|i| format!("{} {:?} {:?}", i.id, i.goal, i.condition)).collect();
        panic!("no convergence; instances: {state:#?}; queue: {:#?}", self.core.queue(self.now));
    }

    fn converged(&self) -> bool {
        (0..APPS).all(|index| {
            let id = AppId::new(&format!("/app{index}"));
            let wanted = self.core.app(&id).map_or(0, |s| s.instances as usize);
            let running_tasks = self
                .live_tasks()
                .into_iter()
                .filter(|t| app_index(t) == Some(index) && !self.sentenced.contains(t))
                .count();
            let instances: Vec<&Instance> = self.core.instances_of(&id).collect();
            let all_running = instances.iter().all(|i| i.condition == Condition::Running && i.goal == Goal::Running);
            running_tasks == wanted && instances.len() == wanted && all_running
        })
    }
}

fn run(seed: u64, ops: &[Op]) -> Vec<String> {
    let mut sim = Sim::new(seed);
    for op in ops {
        sim.apply(*op);
    }
    sim.check_liveness();
    // Every live task belongs to an instance the core runs (nothing leaked).
    let live = sim.live_tasks();
    let leaked: Vec<&TaskId> =
        live.iter().filter(|t| !sim.sentenced.contains(*t) && sim.core.instance_of_task(t).is_none()).collect();
    assert!(leaked.is_empty(), "tasks nobody tracks: {leaked:?}");
    sim.log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_runs_are_safe_and_converge(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..150)) {
        run(seed, &ops);
    }
}

#[test]
fn a_run_is_a_function_of_seed_and_events() {
    let ops = [
        Op::OfferRound,
        Op::StoreAll,
        Op::Advance { millis: 3000 },
        Op::FailTask { pick: 1, finish: false },
        Op::Partition { agent: 0 },
        Op::OfferRound,
        Op::StoreAll,
        Op::Scale { app: 1, instances: 4 },
        Op::Restart,
        Op::Heal { agent: 0 },
        Op::OfferRound,
    ];
    assert_eq!(run(9, &ops), run(9, &ops));
}

#[test]
fn a_plain_run_converges_quickly() {
    let mut sim = Sim::new(1);
    sim.check_liveness();
    assert!(sim.now.mono < start().mono + Duration::from_secs(30), "converged at {:?}", sim.now.mono);
}

#[test]
fn a_scale_after_a_kill_and_scale_in_the_same_millisecond_converges() {
    // Found by `random_runs_are_safe_and_converge`: the kill-and-scale set the app's version a
    // millisecond ahead of the clock; the scale after it must not carry an older version (the
    // service never gives one; the simulation did).
    let ops = [
        Op::Advance { millis: 1 },
        Op::Scale { app: 0, instances: 0 },
        Op::Scale { app: 2, instances: 1 },
        Op::StoreAll,
        Op::OfferRound,
        Op::StoreOne,
        Op::Scale { app: 2, instances: 2 },
        Op::KillViaApi { pick: 816085417354917476, scale: true, wipe: false },
        Op::OfferRound,
        Op::StoreAll,
        Op::Scale { app: 2, instances: 1 },
    ];
    run(0, &ops);
}

#[test]
fn replaced_unreachable_instances_of_an_upgrade_are_all_rescheduled() {
    // Found by `random_runs_are_safe_and_converge`: the old instance and two new ones of an
    // upgrade turn UnreachableInactive in one step; the old one is expunged and the app must
    // then schedule replacements for all three.
    let ops = [
        Op::StoreAll,
        Op::OfferRound,
        Op::StoreOne,
        Op::OfferRound,
        Op::Heal { agent: 0 },
        Op::StoreAll,
        Op::DeleteApp { app: 2 },
        Op::FailTask { pick: 129273154348016763, finish: false },
        Op::Scale { app: 2, instances: 3 },
        Op::Partition { agent: 0 },
        Op::Resubscribe,
        Op::Advance { millis: 1000 },
        Op::Scale { app: 1, instances: 3 },
        Op::OfferRound,
        Op::StoreAll,
        Op::KillViaApi { pick: 9919236418423153462, scale: false, wipe: false },
        Op::Heal { agent: 0 },
        Op::FailTask { pick: 4891051905973340011, finish: false },
        Op::FailTask { pick: 12561204925708140408, finish: false },
        Op::ConfigChange { app: 1 },
        Op::KillViaApi { pick: 3731526508799992550, scale: false, wipe: false },
        Op::OfferRound,
        Op::StoreAll,
        Op::FailTask { pick: 14875081034273692101, finish: false },
        Op::Restart,
        Op::Partition { agent: 0 },
        Op::Advance { millis: 10050 },
        Op::Advance { millis: 9950 },
    ];
    run(14687887965175152644, &ops);
}

#[test]
fn an_app_re_created_while_its_old_tasks_are_killed_gets_its_instances() {
    // Found by `random_runs_are_safe_and_converge`.
    let ops = [
        Op::OfferRound,
        Op::StoreAll,
        Op::Scale { app: 2, instances: 3 },
        Op::OfferRound,
        Op::DeleteApp { app: 2 },
        Op::Scale { app: 2, instances: 1 },
    ];
    run(0, &ops);
}

#[test]
fn a_config_change_then_a_kill_and_scale_in_the_same_millisecond_converges() {
    // Found by `random_runs_are_safe_and_converge` (the versions of changes made within one
    // millisecond of each other).
    let ops = [
        Op::StoreAll,
        Op::OfferRound,
        Op::StoreOne,
        Op::FailTask { pick: 4807783953784827936, finish: false },
        Op::FailTask { pick: 1695700267271203316, finish: false },
        Op::Advance { millis: 1 },
        Op::ConfigChange { app: 1 },
        Op::FailTask { pick: 6126096596064482410, finish: false },
        Op::KillViaApi { pick: 13284442000092145540, scale: true, wipe: false },
        Op::OfferRound,
        Op::StoreAll,
        Op::Scale { app: 1, instances: 3 },
    ];
    run(0, &ops);
}
