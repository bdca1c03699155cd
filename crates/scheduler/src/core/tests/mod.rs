//! Tests of the whole core: a harness that feeds events and plays the store, scenario tests
//! that assert on the commands (`engine`), and a simulation against a tiny master (`sim`).

mod constraints;
mod docker;
mod engine;
mod health;
mod pods;
mod reconciliation;
mod rolling;
mod sim;

use super::*;
use mesos_api::Reason;
use mesos_api::resources::ResourceSet;

pub(super) const T0: i64 = 1_700_000_000_000;
pub(super) const SEC: Duration = Duration::from_secs(1);

/// The store as the shell would keep it: the last record of everything.
#[derive(Debug, Clone, Default)]
pub(super) struct FakeStore {
    pub(super) framework_id: Option<FrameworkId>,
    pub(super) apps: BTreeMap<AppId, RunSpec>,
    pub(super) instances: BTreeMap<InstanceId, Instance>,
}

impl FakeStore {
    pub(super) fn apply(&mut self, records: &[Record]) {
        for record in records {
            match record {
                Record::FrameworkId(id) => self.framework_id = Some(id.clone()),
                Record::App(spec) => {
                    self.apps.insert(spec.id.clone(), spec.clone());
                }
                Record::AppDeleted(id) => {
                    self.apps.remove(id);
                }
                Record::Instance(instance) => {
                    self.instances.insert(instance.id.clone(), instance.clone());
                }
                Record::InstanceExpunged(id) => {
                    self.instances.remove(id);
                }
            }
        }
    }

    pub(super) fn recovered(&self) -> RecoveredState {
        RecoveredState {
            framework_id: self.framework_id.clone(),
            apps: self.apps.values().cloned().collect(),
            instances: self.instances.values().cloned().collect(),
        }
    }
}

pub(super) struct Harness {
    pub(super) core: SchedulerCore,
    pub(super) now: Now,
    pub(super) store: FakeStore,
}

pub(super) fn config() -> SchedulerConfig {
    SchedulerConfig { seed: 42, ..SchedulerConfig::default() }
}

pub(super) fn start() -> Now {
    Now { mono: Duration::from_secs(1000), wall: Timestamp::from_millis(T0) }
}

impl Harness {
    pub(super) fn new() -> Self {
        Self::with_config(config())
    }

    pub(super) fn with_config(config: SchedulerConfig) -> Self {
        let now = start();
        Harness { core: SchedulerCore::new(config, now), now, store: FakeStore::default() }
    }

    /// A scheduler subscribed to the master.
    pub(super) fn subscribed() -> Self {
        let mut h = Self::new();
        h.subscribe();
        h
    }

    /// A subscribed scheduler that runs `spec` (its instances scheduled, nothing launched).
    pub(super) fn with_app(spec: RunSpec) -> Self {
        let mut h = Self::subscribed();
        h.put(spec);
        h
    }

    /// A restarted scheduler on this harness' store.
    pub(super) fn restarted(&self, seed: u64) -> Self {
        let config = SchedulerConfig { seed, ..self.core.config().clone() };
        let core = SchedulerCore::recover(config, self.now, self.store.recovered());
        Harness { core, now: self.now, store: self.store.clone() }
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now.mono += d;
        self.now.wall = self.now.wall.saturating_add(d);
    }

    /// One event, nothing stored.
    pub(super) fn handle(&mut self, event: Event) -> Vec<Command> {
        self.core.handle(self.now, event)
    }

    /// One event, every write stored at once: the commands emitted plus those the writes
    /// released, Persist commands included (in order).
    pub(super) fn run(&mut self, event: Event) -> Vec<Command> {
        let commands = self.handle(event);
        self.store_all(commands)
    }

    pub(super) fn store_all(&mut self, commands: Vec<Command>) -> Vec<Command> {
        let mut out = Vec::new();
        let mut queue: VecDeque<Command> = commands.into();
        while let Some(command) = queue.pop_front() {
            if let Command::Persist { write_id, records } = &command {
                self.store.apply(records);
                let write_id = *write_id;
                out.push(command);
                let released = self.handle(Event::Stored { write_id });
                queue.extend(released);
            } else {
                out.push(command);
            }
        }
        out
    }

    pub(super) fn subscribe(&mut self) -> Vec<Command> {
        self.run(Event::Subscribed { framework_id: FrameworkId::new("fw-1") })
    }

    pub(super) fn put(&mut self, spec: RunSpec) -> Vec<Command> {
        self.run(Event::AppPut { spec })
    }

    pub(super) fn tick(&mut self) -> Vec<Command> {
        self.run(Event::Tick)
    }

    /// Status update from the executor (with uuid and agent).
    pub(super) fn update(&mut self, task_id: &TaskId, state: TaskState) -> Vec<Command> {
        let status = self.status(task_id, state);
        self.run(Event::StatusUpdate(status))
    }

    /// Status updates that arrived together, handled as one step, every write stored.
    pub(super) fn updates(&mut self, updates: &[(TaskId, TaskState)]) -> Vec<Command> {
        let statuses = updates.iter().map(|(task_id, state)| self.status(task_id, *state)).collect();
        let commands = self.core.handle_status_updates(self.now, statuses);
        self.store_all(commands)
    }

    /// The update a Mesos health check sends: TASK_RUNNING saying `healthy`.
    pub(super) fn health_update(&mut self, task_id: &TaskId, healthy: bool) -> Vec<Command> {
        let mut status = self.status(task_id, TaskState::Running);
        status.healthy = Some(healthy);
        status.reason = Some(Reason::TaskHealthCheckStatusUpdated);
        status.uuid = Some(format!("uuid-{task_id}-healthy-{healthy}-{}", self.now.mono.as_millis()));
        self.run(Event::StatusUpdate(status))
    }

    fn status(&self, task_id: &TaskId, state: TaskState) -> TaskStatus {
        let agent = self.core.instance_of_task(task_id).and_then(|i| i.task.as_ref()).map(|t| t.agent_id.clone());
        let mut status = TaskStatus::new(task_id.clone(), state);
        status.agent_id = Some(agent.unwrap_or_else(|| AgentId::new("agent-1")));
        status.uuid = Some(format!("uuid-{}-{}", task_id, state.name()));
        status
    }

    pub(super) fn offer_commands(&mut self, offer: Offer) -> Vec<Command> {
        self.run(Event::Offers(vec![offer]))
    }

    /// Offers `offer` and returns the launched task infos (empty when declined).
    pub(super) fn launch(&mut self, offer: Offer) -> Vec<TaskInfo> {
        let commands = self.offer_commands(offer);
        accepts(&commands).into_iter().flat_map(|(_, infos)| infos).collect()
    }

    /// Launches every scheduled instance of `app` on one big offer and reports them running.
    pub(super) fn launch_running(&mut self, offer_id: &str) -> Vec<TaskId> {
        let infos = self.launch(offer(offer_id, "agent-1", BIG));
        let ids: Vec<TaskId> = infos.iter().map(|t| t.task_id.clone()).collect();
        for id in &ids {
            self.update(id, TaskState::Running);
        }
        ids
    }

    pub(super) fn instances(&self, app: &str) -> Vec<Instance> {
        self.core.instances_of(&AppId::new(app)).cloned().collect()
    }

    pub(super) fn running(&self, app: &str) -> Vec<Instance> {
        self.instances(app).into_iter().filter(|i| i.condition == Condition::Running).collect()
    }
}

pub(super) const BIG: &str = "cpus:16;mem:16384;disk:10000;ports:[31000-32000]";

pub(super) fn offer(id: &str, agent: &str, resources: &str) -> Offer {
    Offer {
        id: OfferId::new(id),
        framework_id: FrameworkId::new("fw-1"),
        agent_id: AgentId::new(agent),
        hostname: format!("{agent}.example.com"),
        url: None,
        resources: ResourceSet::parse_text(resources).expect("resources").to_wire(),
        attributes: Vec::new(),
        executor_ids: Vec::new(),
        allocation_info: None,
        domain: None,
    }
}

/// `offer` from an agent with TEXT attributes (`rack:r1`).
pub(super) fn offer_with_attributes(id: &str, agent: &str, resources: &str, attributes: &[(&str, &str)]) -> Offer {
    let attributes = attributes
        .iter()
        .map(|(name, value)| mesos_api::Attribute {
            name: name.to_string(),
            kind: mesos_api::ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(mesos_api::Text { value: value.to_string() }),
        })
        .collect();
    Offer { attributes, ..offer(id, agent, resources) }
}

pub(super) fn app(id: &str, instances: u32) -> RunSpec {
    let mut spec = RunSpec::new(AppId::new(id), Timestamp::from_millis(T0));
    spec.instances = instances;
    spec.cpus = 0.5;
    spec.mem = 64.0;
    spec.command = CommandSpec::Shell("sleep 1000".into());
    spec
}

pub(super) fn accepts(commands: &[Command]) -> Vec<(Vec<OfferId>, Vec<TaskInfo>)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Accept { offer_ids, task_infos, .. } => Some((offer_ids.clone(), task_infos.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn kills(commands: &[Command]) -> Vec<TaskId> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Kill { task_id, .. } => Some(task_id.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn declines(commands: &[Command]) -> Vec<(Vec<OfferId>, f64)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Decline { offer_ids, refuse_seconds } => Some((offer_ids.clone(), *refuse_seconds)),
            _ => None,
        })
        .collect()
}

pub(super) fn reconciles(commands: &[Command]) -> Vec<Vec<(TaskId, Option<AgentId>)>> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Reconcile { tasks } => Some(tasks.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn env_of(task: &TaskInfo) -> BTreeMap<String, String> {
    task.command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .map(|e| e.variables.iter().map(|v| (v.name.clone(), v.value.clone().unwrap_or_default())).collect())
        .unwrap_or_default()
}
