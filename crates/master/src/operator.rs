//! The v1 operator API's view of the master (pure: no IO, no clock): the answers of the
//! `GET_*` calls built from the core, and [`Watcher`], which decides which events a change
//! of the core's state makes for `SUBSCRIBE` streams.
//!
//! The events are found by comparing what the core holds after each step of the driver with
//! what the watcher saw last (one pass over the tasks, only while someone is subscribed), so
//! that no path of the core that changes a task, an agent or a framework can forget to
//! report it. Upstream's rules: a task the master learns of (launched, or reported by a
//! reregistering agent) is TASK_ADDED; a task whose latest state changes is TASK_UPDATED
//! (also when it leaves for the completed tasks in the same step); an agent that registers
//! (or comes back after being unreachable) is AGENT_ADDED, one marked unreachable or gone is
//! AGENT_REMOVED (a disconnected agent stays, deactivated); a framework that subscribes is
//! FRAMEWORK_ADDED, one whose connection, registration or info changes is FRAMEWORK_UPDATED,
//! one torn down or failed over past its timeout is FRAMEWORK_REMOVED.

use crate::core::{AgentEntry, AgentState, FrameworkEntry, MasterCore};
use mesos_api::operator::{
    Agent, AgentAdded, AgentRemoved, Executor, Flag, Framework, FrameworkEvent, FrameworkRemoved, GetAgents,
    GetExecutors, GetFrameworks, GetMaster, GetMetrics, GetRoles, GetState, GetTasks, MasterEvent, Metric, Role,
    TaskAdded, TaskUpdated, time_info,
};
use mesos_api::resources::ResourceSet;
use mesos_api::{AgentId, FrameworkId, FrameworkInfo, MESOS_VERSION, MasterInfo, Task, TaskId, TaskState};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `GET_AGENTS`: the registered agents (disconnected ones deactivated; unreachable ones are
/// not registered any more) and the ones from the registry not back yet.
pub(crate) fn agents(core: &MasterCore) -> GetAgents {
    let used = core.used_by_agent();
    GetAgents {
        agents: core.agents().filter(|a| a.state != AgentState::Unreachable).map(|a| agent(core, a, &used)).collect(),
        recovered_agents: core.recovered_agents().map(|a| a.info.clone()).collect(),
    }
}

fn agent(core: &MasterCore, a: &AgentEntry, used: &BTreeMap<AgentId, ResourceSet>) -> Agent {
    let mut info = a.info.clone();
    info.id = Some(a.id.clone());
    info.resources = a.total.to_wire();
    Agent {
        agent_info: info,
        active: a.state == AgentState::Active,
        deactivated: a.state != AgentState::Active,
        version: MESOS_VERSION.to_string(),
        pid: Some(a.pid()),
        registered_time: Some(time_info(a.registered_time)),
        reregistered_time: a.reregistered_time.map(time_info),
        total_resources: a.total.to_wire(),
        allocated_resources: used.get(&a.id).map(ResourceSet::to_wire).unwrap_or_default(),
        offered_resources: core.agent_offered(&a.id).to_wire(),
        capabilities: Vec::new(),
    }
}

/// `GET_FRAMEWORKS`.
pub(crate) fn frameworks(core: &MasterCore) -> GetFrameworks {
    GetFrameworks {
        frameworks: core.frameworks().map(|f| framework(core, f)).collect(),
        completed_frameworks: core.completed_frameworks().map(|f| framework(core, f)).collect(),
    }
}

fn framework_info(f: &FrameworkEntry) -> FrameworkInfo {
    let mut info = f.info.clone();
    info.id = Some(f.id.clone());
    info
}

fn framework(core: &MasterCore, f: &FrameworkEntry) -> Framework {
    let mut offered = ResourceSet::new();
    let mut offers = Vec::new();
    for o in core.offers().filter(|o| o.offer.framework_id == f.id) {
        offered.add(&o.resources);
        offers.push(o.offer.clone());
    }
    let mut allocated = ResourceSet::new();
    for t in f.tasks.values().filter(|t| !t.task.state.is_terminal()) {
        allocated.add(&t.resources);
    }
    Framework {
        framework_info: framework_info(f),
        active: f.connected(),
        connected: f.connected(),
        recovered: f.recovered,
        registered_time: Some(time_info(f.registered_time)),
        reregistered_time: f.reregistered_time.map(time_info),
        unregistered_time: f.unregistered_time.map(time_info),
        offers,
        inverse_offers: Vec::new(),
        allocated_resources: allocated.to_wire(),
        offered_resources: offered.to_wire(),
    }
}

/// `GET_TASKS`: live tasks (terminal ones whose update is not acknowledged yet included),
/// unreachable ones apart, and the completed ones of every framework.
pub(crate) fn tasks(core: &MasterCore) -> GetTasks {
    let mut out = GetTasks::default();
    for f in core.frameworks().chain(core.completed_frameworks()) {
        for t in f.tasks.values().map(|t| &t.task) {
            if t.state == TaskState::Unreachable {
                out.unreachable_tasks.push(t.clone());
            } else {
                out.tasks.push(t.clone());
            }
        }
        out.completed_tasks.extend(f.completed_tasks.iter().cloned());
    }
    out
}

/// `GET_EXECUTORS`: the executors of task groups that hold resources (command tasks' command
/// executors are the agents' business, so upstream lists none for them).
pub(crate) fn executors(core: &MasterCore) -> GetExecutors {
    let executors = core
        .frameworks()
        .flat_map(FrameworkEntry::live_executors)
        .map(|((agent_id, _), e)| Executor {
            executor_info: serde_json::to_value(&e.info).unwrap_or_default(),
            agent_id: agent_id.clone(),
        })
        .collect();
    GetExecutors { executors, orphan_executors: Vec::new() }
}

/// `GET_STATE`.
pub(crate) fn state(core: &MasterCore) -> GetState {
    GetState {
        get_tasks: tasks(core),
        get_executors: executors(core),
        get_frameworks: frameworks(core),
        get_agents: agents(core),
    }
}

/// The `GET_STATE` of a master that does not lead: nothing.
pub(crate) fn empty_state() -> GetState {
    GetState {
        get_tasks: GetTasks::default(),
        get_executors: GetExecutors::default(),
        get_frameworks: GetFrameworks { frameworks: Vec::new(), completed_frameworks: Vec::new() },
        get_agents: GetAgents { agents: Vec::new(), recovered_agents: Vec::new() },
    }
}

/// `GET_ROLES`: every role a framework is subscribed with or a task uses, weight 1 (this
/// master has no weights, quotas or reservations of its own).
pub(crate) fn roles(core: &MasterCore) -> GetRoles {
    #[derive(Default)]
    struct Acc {
        frameworks: BTreeSet<FrameworkId>,
        allocated: ResourceSet,
        offered: ResourceSet,
    }
    let mut roles: BTreeMap<String, Acc> = BTreeMap::new();
    for f in core.frameworks() {
        for role in f.info.effective_roles() {
            roles.entry(role).or_default().frameworks.insert(f.id.clone());
        }
        for t in f.tasks.values().filter(|t| !t.task.state.is_terminal()) {
            roles.entry(t.role.clone()).or_default().allocated.add(&t.resources);
        }
    }
    for o in core.offers() {
        roles.entry(o.role.clone()).or_default().offered.add(&o.resources);
    }
    GetRoles {
        roles: roles
            .into_iter()
            .map(|(name, acc)| Role {
                name,
                weight: 1.0,
                frameworks: acc.frameworks.into_iter().collect(),
                resources: acc.allocated.to_wire(),
                allocated: acc.allocated.to_wire(),
                offered: acc.offered.to_wire(),
                reserved: Vec::new(),
            })
            .collect(),
    }
}

/// `GET_MASTER`.
pub(crate) fn master(info: &MasterInfo, start_time: f64, elected_time: Option<f64>) -> GetMaster {
    GetMaster { master_info: info.clone(), start_time, elected_time }
}

/// `GET_FLAGS` from the flags as `/flags` shows them (`{"name": "value"}`).
pub(crate) fn flags(v0: &serde_json::Value) -> mesos_api::operator::GetFlags {
    let flags = v0
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(name, value)| Flag {
                    name: name.clone(),
                    value: Some(value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())),
                })
                .collect()
        })
        .unwrap_or_default();
    mesos_api::operator::GetFlags { flags }
}

/// `GET_METRICS` from the numbers of `/metrics/snapshot` (`{"name": number}`).
pub(crate) fn metrics(snapshot: &serde_json::Value) -> GetMetrics {
    let metrics = snapshot
        .as_object()
        .map(|o| o.iter().map(|(name, value)| Metric { name: name.clone(), value: value.as_f64() }).collect())
        .unwrap_or_default();
    GetMetrics { metrics }
}

// ---------------------------------------------------------------------------------------------
// Events

/// What a framework looked like when last seen: a change of any of it is FRAMEWORK_UPDATED.
#[derive(Debug, Clone, PartialEq)]
struct FrameworkSeen {
    info: FrameworkInfo,
    connected: bool,
    reregistered_time: Option<f64>,
}

/// The state the subscribers last heard of.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    tasks: HashMap<(FrameworkId, TaskId), TaskState>,
    agents: BTreeSet<AgentId>,
    frameworks: BTreeMap<FrameworkId, FrameworkSeen>,
}

impl Watcher {
    /// A watcher that has seen everything the core holds now (what SUBSCRIBED carries).
    pub(crate) fn new(core: &MasterCore) -> Watcher {
        let mut w = Watcher::default();
        let _ = w.observe(core);
        w
    }

    /// The events that bring a subscriber from what it saw last to the core's state now.
    pub(crate) fn observe(&mut self, core: &MasterCore) -> Vec<MasterEvent> {
        let mut events = Vec::new();
        let mut used: Option<BTreeMap<AgentId, ResourceSet>> = None;

        // Frameworks that came or changed.
        let mut frameworks = BTreeMap::new();
        for f in core.frameworks() {
            let seen = FrameworkSeen {
                info: framework_info(f),
                connected: f.connected(),
                reregistered_time: f.reregistered_time,
            };
            match self.frameworks.get(&f.id) {
                None => events.push(MasterEvent::FrameworkAdded {
                    framework_added: FrameworkEvent { framework: framework(core, f) },
                }),
                Some(before) if *before != seen => events.push(MasterEvent::FrameworkUpdated {
                    framework_updated: FrameworkEvent { framework: framework(core, f) },
                }),
                Some(_) => {}
            }
            frameworks.insert(f.id.clone(), seen);
        }

        // Agents that came.
        let mut agents = BTreeSet::new();
        for a in core.agents().filter(|a| a.state != AgentState::Unreachable) {
            if !self.agents.contains(&a.id) {
                let used = used.get_or_insert_with(|| core.used_by_agent());
                events.push(MasterEvent::AgentAdded { agent_added: AgentAdded { agent: agent(core, a, used) } });
            }
            agents.insert(a.id.clone());
        }

        // Tasks that came or changed state.
        let mut tasks = HashMap::with_capacity(self.tasks.len());
        for f in core.frameworks().chain(core.completed_frameworks()) {
            for t in f.tasks.values().map(|t| &t.task) {
                let key = (t.framework_id.clone(), t.task_id.clone());
                match self.tasks.remove(&key) {
                    None => events.push(MasterEvent::TaskAdded { task_added: TaskAdded { task: t.clone() } }),
                    Some(before) if before != t.state => events.push(task_updated(t)),
                    Some(_) => {}
                }
                tasks.insert(key, t.state);
            }
        }
        // What is left went to the completed tasks (or is forgotten): its last state, if new.
        if !self.tasks.is_empty() {
            let completed: HashMap<(&FrameworkId, &TaskId), &Task> = core
                .frameworks()
                .chain(core.completed_frameworks())
                .flat_map(|f| f.completed_tasks.iter())
                .map(|t| ((&t.framework_id, &t.task_id), t))
                .collect();
            for ((framework_id, task_id), before) in self.tasks.drain() {
                if let Some(t) = completed.get(&(&framework_id, &task_id))
                    && t.state != before
                {
                    events.push(task_updated(t));
                }
            }
        }
        self.tasks = tasks;

        // Agents that went.
        for gone in self.agents.difference(&agents) {
            events.push(MasterEvent::AgentRemoved { agent_removed: AgentRemoved { agent_id: gone.clone() } });
        }
        self.agents = agents;

        // Frameworks that went.
        for (id, seen) in std::mem::take(&mut self.frameworks) {
            if !frameworks.contains_key(&id) {
                events.push(MasterEvent::FrameworkRemoved {
                    framework_removed: FrameworkRemoved { framework_info: seen.info },
                });
            }
        }
        self.frameworks = frameworks;
        events
    }
}

/// TASK_UPDATED of a task: its latest status, or, when the master changed its state without
/// keeping a status (a task lost with its agent), one of the master's with that state.
fn task_updated(t: &Task) -> MasterEvent {
    let status = t.statuses.last().filter(|s| s.state == t.state).cloned().unwrap_or_else(|| {
        let mut s = mesos_api::TaskStatus::new(t.task_id.clone(), t.state);
        s.source = Some(mesos_api::Source::Master);
        s.agent_id = Some(t.agent_id.clone());
        s.executor_id = t.executor_id.clone();
        s
    });
    MasterEvent::TaskUpdated {
        task_updated: TaskUpdated { framework_id: t.framework_id.clone(), status, state: t.state },
    }
}
