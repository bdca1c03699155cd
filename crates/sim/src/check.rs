//! The invariants and the history they need. The checks are plain functions of what they
//! are given, so that each can be shown to fail on a bad history (see the tests below).
//!
//! - **Convergence**: once faults stop, every app runs exactly its instance count: that many
//!   task processes, each the current task of a running instance, and nothing else runs.
//! - **Capacity during deployments**: while an app is being upgraded, the task processes that
//!   run its live instances never exceed `floor(instances * (1 + maximumOverCapacity))` (one
//!   more when that equals `ceil(instances * minimumHealthCapacity)`, as upstream allows), and
//!   in a deployment that starts from a converged app and meets no fault (so the cluster can
//!   hold the instances) the healthy instances never drop below
//!   `ceil(instances * minimumHealthCapacity)`.
//! - **No acknowledged write lost**: what a component acted on is on disk first (an agent's
//!   update and a task's info before the update is sent or the task launched; an instance
//!   before its offer is accepted; a terminal update before it is acknowledged; an agent's
//!   admission before REGISTERED, its unreachable mark before frameworks hear of it), and a
//!   restarted scheduler has every app change the API answered.
//! - **Every status update reaches its framework**, in order: each update an agent made
//!   durable is delivered to the scheduler (unless the agent's checkpoint was discarded), and
//!   never after a later update of the same task.
//! - **No unknown task lingers**: a task process that no framework knows (no scheduler
//!   instance has it as its task) does not run for longer than the reconciliation interval
//!   (plus the kill's grace) of fault-free time while its agent and the scheduler are both
//!   connected to the leading master.

use mesos_api::{TaskId, TaskState};
use scheduler::core::{AppId, RunSpec, UpgradeStrategy};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// Which invariant failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Convergence,
    OverCapacity,
    MinimumHealth,
    AcknowledgedWriteLost,
    UpdateNotDelivered,
    UpdateOrder,
    UnknownTask,
    /// A core asked to be woken up in the past again right after it was woken up.
    TimerInThePast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    pub message: String,
}

impl Violation {
    pub fn new(kind: Kind, message: impl Into<String>) -> Violation {
        Violation { kind, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

/// `floor(n * (1 + maximumOverCapacity))`, one more when it equals the healthy minimum (the
/// room upstream's rolling upgrade makes for one new instance).
pub fn max_capacity(instances: u32, strategy: UpgradeStrategy) -> usize {
    let n = f64::from(instances);
    let max = (n * (1.0 + strategy.maximum_over_capacity)).floor() as usize;
    if max == min_healthy(instances, strategy) { max + 1 } else { max }
}

/// `ceil(n * minimumHealthCapacity)`.
pub fn min_healthy(instances: u32, strategy: UpgradeStrategy) -> usize {
    (f64::from(instances) * strategy.minimum_health_capacity).ceil() as usize
}

/// What the API sees of an app: enough to tell its versions apart.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    pub version: scheduler::core::Timestamp,
    pub instances: u32,
    pub command: scheduler::core::CommandSpec,
}

impl AppState {
    pub fn of(spec: &RunSpec) -> AppState {
        AppState { version: spec.version, instances: spec.instances, command: spec.command.clone() }
    }
}

/// Every state an app was put in through the API, and how many of them were answered.
#[derive(Debug, Clone, Default)]
pub struct AppLedger {
    /// `None`: deleted.
    pub issued: Vec<Option<AppState>>,
    /// `issued[..acked]` were answered (the latest of them is durable).
    pub acked: usize,
}

/// A restarted scheduler's apps against what the API answered: each app must be in its last
/// answered state or a later one it was put in.
pub fn check_recovered_apps(ledger: &BTreeMap<AppId, AppLedger>, recovered: &[RunSpec]) -> Result<(), Violation> {
    let by_id: BTreeMap<&AppId, AppState> = recovered.iter().map(|s| (&s.id, AppState::of(s))).collect();
    for (id, app) in ledger {
        if app.acked == 0 {
            continue;
        }
        let now = by_id.get(id).cloned();
        let allowed = &app.issued[app.acked - 1..];
        if !allowed.contains(&now) {
            return Err(Violation::new(
                Kind::AcknowledgedWriteLost,
                format!(
                    "the restarted scheduler has {id} as {now:?}; the API answered {:?}",
                    app.issued[app.acked - 1]
                ),
            ));
        }
    }
    Ok(())
}

/// An update an agent made durable.
#[derive(Debug, Clone)]
struct Generated {
    agent: usize,
    task: TaskId,
    /// Its place in its task's stream.
    index: u64,
    state: TaskState,
    /// The agent's checkpoint was discarded (or its tasks dropped) before it was delivered.
    void: bool,
}

/// What the invariants remember of the run.
#[derive(Debug, Default)]
pub struct History {
    pub violations: Vec<Violation>,
    generated: BTreeMap<String, Generated>,
    next_index: BTreeMap<TaskId, u64>,
    delivered_index: BTreeMap<TaskId, u64>,
    delivered: BTreeSet<String>,
    /// Fault-free time each unknown task process was exposed, by (agent, container).
    exposure: BTreeMap<(usize, String), Duration>,
    pub apps: BTreeMap<AppId, AppLedger>,
    /// Per app in a deployment: the capacity bound (the highest since it started) and whether
    /// it is calm (started converged, no fault since).
    deployments: BTreeMap<AppId, Deployment>,
    /// The last fault (a crash, partition, lost or duplicated message, task failure...).
    pub last_fault: Option<Duration>,
    /// Updates the `LoseUpdates` mutation swallows.
    lost_updates: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub bound: usize,
    pub calm: bool,
    pub started: Duration,
}

impl History {
    pub fn violation(&mut self, v: Violation) {
        self.violations.push(v);
    }

    /// An API change: deployments under way are no longer calm (a kill or a scale is the
    /// user's doing, not the upgrade's).
    pub fn disturb(&mut self) {
        for d in self.deployments.values_mut() {
            d.calm = false;
        }
    }

    pub fn fault(&mut self, now: Duration) {
        self.last_fault = Some(now);
        for d in self.deployments.values_mut() {
            d.calm = false;
        }
        self.exposure.clear();
    }

    // ------------------------------------------------------------------------------------------
    // Status updates

    pub fn update_generated(&mut self, agent: usize, task: &TaskId, uuid: &str, state: TaskState) {
        if self.generated.contains_key(uuid) {
            return;
        }
        let next = self.next_index.entry(task.clone()).or_default();
        let index = *next;
        *next += 1;
        self.generated.insert(uuid.to_string(), Generated { agent, task: task.clone(), index, state, void: false });
    }

    /// The agent's checkpoint is gone (or its tasks dropped): its undelivered updates with it.
    pub fn agent_wiped(&mut self, agent: usize) {
        for (uuid, g) in &mut self.generated {
            if g.agent == agent && !self.delivered.contains(uuid) {
                g.void = true;
            }
        }
    }

    /// The scheduler got the update `uuid` of `task`.
    pub fn update_delivered(&mut self, task: &TaskId, uuid: &str) {
        self.delivered.insert(uuid.to_string());
        let Some(g) = self.generated.get(uuid) else { return };
        let index = g.index;
        let last = self.delivered_index.entry(task.clone()).or_insert(index);
        if index < *last {
            let v = check_order(task, index, *last);
            self.violations.extend(v.err());
        } else {
            *last = index;
        }
    }

    /// Updates made durable and never delivered (the end of a run).
    pub fn undelivered(&self) -> Vec<String> {
        self.generated
            .iter()
            .filter(|(uuid, g)| !g.void && !self.delivered.contains(*uuid))
            .map(|(uuid, g)| format!("{} {} uuid={uuid} (agent {})", g.task, g.state.name(), g.agent))
            .collect()
    }

    /// For `Mutation::LoseUpdates`: the first update of each task is swallowed, every time.
    pub fn lose_update(&mut self, uuid: &str) -> bool {
        if self.lost_updates.contains(uuid) {
            return true;
        }
        let first = self.generated.get(uuid).is_some_and(|g| g.index == 0);
        if first {
            self.lost_updates.insert(uuid.to_string());
        }
        first
    }

    // ------------------------------------------------------------------------------------------
    // Unknown tasks

    /// `exposed`: unknown task processes now exposed (agent, container, task); the others
    /// are forgotten. Fails once one was exposed for longer than `limit`.
    pub fn observe_unknown(
        &mut self,
        dt: Duration,
        exposed: &[(usize, String, TaskId)],
        limit: Duration,
    ) -> Result<(), Violation> {
        let keys: BTreeSet<(usize, String)> = exposed.iter().map(|(a, c, _)| (*a, c.clone())).collect();
        self.exposure.retain(|k, _| keys.contains(k));
        for (agent, cid, task) in exposed {
            let t = self.exposure.entry((*agent, cid.clone())).or_default();
            *t += dt;
            check_unknown(task, *agent, *t, limit)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // Apps through the API

    /// An API change left `app` as `state`; returns its index in the app's ledger.
    pub fn app_issued(&mut self, app: &AppId, state: Option<AppState>) -> usize {
        let ledger = self.apps.entry(app.clone()).or_default();
        ledger.issued.push(state);
        ledger.issued.len()
    }

    /// The API answered the change number `index` (1-based) of `app`.
    pub fn app_acked(&mut self, app: &AppId, index: usize) {
        let ledger = self.apps.entry(app.clone()).or_default();
        ledger.acked = ledger.acked.max(index);
    }

    pub fn scheduler_recovered(&mut self, apps: &[RunSpec]) {
        if let Err(v) = check_recovered_apps(&self.apps, apps) {
            self.violations.push(v);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Deployments

    /// Whether `app` is in a deployment (since an earlier step).
    pub fn deploying(&self, app: &AppId) -> bool {
        self.deployments.contains_key(app)
    }

    /// The state of `app`'s deployment after a step: `None` when it is not being upgraded;
    /// else its capacity bound now, and whether it would start calm (from a converged app in
    /// a healthy cluster).
    pub fn deployment(&mut self, app: &AppId, upgrading: Option<(usize, bool)>, now: Duration) -> Option<Deployment> {
        match upgrading {
            None => {
                if !self.deployments.is_empty() {
                    self.deployments.remove(app);
                }
                None
            }
            Some((bound, calm_start)) => {
                let d =
                    self.deployments.entry(app.clone()).or_insert(Deployment { bound, calm: calm_start, started: now });
                d.bound = d.bound.max(bound);
                Some(*d)
            }
        }
    }
}

/// A task's updates reach the framework in order.
pub fn check_order(task: &TaskId, index: u64, last: u64) -> Result<(), Violation> {
    if index < last {
        return Err(Violation::new(
            Kind::UpdateOrder,
            format!("update #{index} of {task} reached the framework after update #{last}"),
        ));
    }
    Ok(())
}

pub fn check_unknown(task: &TaskId, agent: usize, exposed: Duration, limit: Duration) -> Result<(), Violation> {
    if exposed > limit {
        return Err(Violation::new(
            Kind::UnknownTask,
            format!("{task} runs on agent {agent}, unknown to the framework, for {exposed:?} (limit {limit:?})"),
        ));
    }
    Ok(())
}

/// A master answers REGISTER only once the agent's admission is durable.
pub fn check_admitted(agent: &mesos_api::AgentId, durable: Option<&master::core::Registry>) -> Result<(), Violation> {
    if durable.is_some_and(|r| r.admitted.contains_key(agent)) {
        return Ok(());
    }
    Err(Violation::new(
        Kind::AcknowledgedWriteLost,
        format!("REGISTERED sent to {agent} before its admission is durable"),
    ))
}

/// Whether a framework event says that an agent is lost (see [`check_unreachable_durable`]).
pub fn is_about_a_lost_agent(event: &mesos_api::scheduler::Event) -> bool {
    use mesos_api::scheduler::Event;
    match event {
        Event::Failure { failure } => failure.executor_id.is_none(),
        Event::Update { update } => update.status.reason == Some(mesos_api::Reason::AgentRemoved),
        _ => false,
    }
}

/// Frameworks hear that an agent is lost only once its unreachable mark is durable.
pub fn check_unreachable_durable(
    event: &mesos_api::scheduler::Event,
    durable: Option<&master::core::Registry>,
) -> Result<(), Violation> {
    use mesos_api::scheduler::Event;
    let agent = match event {
        Event::Failure { failure } if failure.executor_id.is_none() => failure.agent_id.as_ref(),
        Event::Update { update } if update.status.reason == Some(mesos_api::Reason::AgentRemoved) => {
            update.status.agent_id.as_ref()
        }
        _ => None,
    };
    let Some(agent) = agent else { return Ok(()) };
    if durable.is_some_and(|r| r.unreachable.contains_key(agent)) {
        return Ok(());
    }
    Err(Violation::new(
        Kind::AcknowledgedWriteLost,
        format!("frameworks hear that {agent} is lost before its unreachable mark is durable"),
    ))
}

/// A launch during a deployment: `launched` live instances of the app have a task now.
pub fn check_capacity(app: &AppId, launched: usize, bound: usize) -> Result<(), Violation> {
    if launched > bound {
        return Err(Violation::new(
            Kind::OverCapacity,
            format!("a launch during {app}'s deployment makes {launched} launched instances; at most {bound} allowed"),
        ));
    }
    Ok(())
}

/// During a calm deployment: `healthy` instances of the app.
pub fn check_min_health(app: &AppId, healthy: usize, min: usize) -> Result<(), Violation> {
    if healthy < min {
        return Err(Violation::new(
            Kind::MinimumHealth,
            format!("{app} has {healthy} healthy instances during a calm deployment; at least {min} required"),
        ));
    }
    Ok(())
}

/// What convergence asks of one app at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEnd {
    pub id: AppId,
    pub wanted: usize,
    /// Instances the scheduler has for it, and how many of them run (Running, wanted).
    pub instances: usize,
    pub running_instances: usize,
    /// Task processes that run the current tasks of its running instances.
    pub processes: usize,
}

/// Every app runs its instances, and no other task process runs (`strays`).
pub fn check_converged(apps: &[AppEnd], strays: &[String], pending_updates: usize) -> Result<(), Violation> {
    for a in apps {
        if a.instances != a.wanted || a.running_instances != a.wanted || a.processes != a.wanted {
            return Err(Violation::new(
                Kind::Convergence,
                format!(
                    "{} wants {} instances: the scheduler has {} ({} running), {} task processes run them",
                    a.id, a.wanted, a.instances, a.running_instances, a.processes
                ),
            ));
        }
    }
    if !strays.is_empty() {
        return Err(Violation::new(Kind::Convergence, format!("task processes nobody wants still run: {strays:?}")));
    }
    if pending_updates > 0 {
        return Err(Violation::new(
            Kind::Convergence,
            format!("{pending_updates} status updates are still waiting for their acknowledgement"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(min: f64, over: f64) -> UpgradeStrategy {
        UpgradeStrategy { minimum_health_capacity: min, maximum_over_capacity: over }
    }

    #[test]
    fn capacity_bounds_follow_upstream_arithmetic() {
        assert_eq!(max_capacity(3, strategy(1.0, 1.0)), 6);
        assert_eq!(min_healthy(3, strategy(1.0, 1.0)), 3);
        assert_eq!(max_capacity(3, strategy(0.5, 0.0)), 3);
        assert_eq!(min_healthy(3, strategy(0.5, 0.0)), 2);
        // No room between the bounds: one extra instance.
        assert_eq!(max_capacity(2, strategy(1.0, 0.0)), 3);
        assert_eq!(max_capacity(0, strategy(1.0, 0.0)), 1);
    }

    #[test]
    fn too_many_tasks_during_a_deployment_fail() {
        let app = AppId::new("/a");
        assert!(check_capacity(&app, 3, 3).is_ok());
        assert_eq!(check_capacity(&app, 4, 3).map_err(|v| v.kind), Err(Kind::OverCapacity));
    }

    #[test]
    fn too_few_healthy_instances_in_a_calm_deployment_fail() {
        let app = AppId::new("/a");
        assert!(check_min_health(&app, 2, 2).is_ok());
        assert_eq!(check_min_health(&app, 1, 2).map_err(|v| v.kind), Err(Kind::MinimumHealth));
    }

    #[test]
    fn a_deployment_is_calm_only_if_it_started_converged_and_met_no_fault() {
        let mut h = History::default();
        let app = AppId::new("/a");
        let t = Duration::from_secs(10);
        let d = h.deployment(&app, Some((4, true)), t).expect("deploying");
        assert!(d.calm);
        assert_eq!(h.deployment(&app, Some((3, true)), t).map(|d| d.bound), Some(4), "the bound never shrinks");
        h.fault(t + Duration::from_secs(1));
        assert!(!h.deployment(&app, Some((4, true)), t + Duration::from_secs(2)).is_some_and(|d| d.calm));
        assert_eq!(h.deployment(&app, None, t + Duration::from_secs(3)), None);
        let late = h.deployment(&app, Some((4, false)), t + Duration::from_secs(4)).expect("deploying");
        assert!(!late.calm, "not converged (or the cluster not healthy) when it started");
    }

    #[test]
    fn an_undelivered_update_is_reported_unless_its_agent_was_wiped() {
        let mut h = History::default();
        let task = TaskId::new("t1");
        h.update_generated(0, &task, "u1", TaskState::Running);
        h.update_generated(1, &TaskId::new("t2"), "u2", TaskState::Running);
        assert_eq!(h.undelivered().len(), 2);
        h.update_delivered(&task, "u1");
        assert_eq!(h.undelivered().len(), 1);
        h.agent_wiped(1);
        assert!(h.undelivered().is_empty());
    }

    #[test]
    fn updates_delivered_out_of_order_fail() {
        let mut h = History::default();
        let task = TaskId::new("t1");
        h.update_generated(0, &task, "u1", TaskState::Starting);
        h.update_generated(0, &task, "u2", TaskState::Running);
        h.update_delivered(&task, "u1");
        h.update_delivered(&task, "u2");
        h.update_delivered(&task, "u2");
        assert!(h.violations.is_empty(), "in order, duplicates allowed");
        h.update_delivered(&task, "u1");
        assert_eq!(h.violations.first().map(|v| v.kind), Some(Kind::UpdateOrder));
    }

    #[test]
    fn an_unknown_task_exposed_too_long_fails_and_faults_reset_the_clock() {
        let mut h = History::default();
        let limit = Duration::from_secs(30);
        let task = TaskId::new("t");
        let exposed = vec![(0, "c".to_string(), task.clone())];
        for _ in 0..30 {
            assert!(h.observe_unknown(Duration::from_secs(1), &exposed, limit).is_ok());
        }
        h.fault(Duration::from_secs(30));
        assert!(h.observe_unknown(Duration::from_secs(20), &exposed, limit).is_ok());
        assert!(h.observe_unknown(Duration::ZERO, &[], limit).is_ok(), "gone: forgotten");
        assert!(h.observe_unknown(Duration::from_secs(20), &exposed, limit).is_ok());
        let err = h.observe_unknown(Duration::from_secs(11), &exposed, limit).map_err(|v| v.kind);
        assert_eq!(err, Err(Kind::UnknownTask));
    }

    fn spec(id: &str, version: i64, instances: u32) -> RunSpec {
        let mut s = RunSpec::new(AppId::new(id), scheduler::core::Timestamp::from_millis(version));
        s.instances = instances;
        s
    }

    #[test]
    fn a_restart_that_lost_an_answered_change_fails() {
        let mut ledger = BTreeMap::new();
        let a = AppId::new("/a");
        let v1 = spec("/a", 1, 1);
        let v2 = spec("/a", 2, 3);
        let v3 = spec("/a", 3, 0);
        ledger.insert(
            a.clone(),
            AppLedger {
                issued: vec![Some(AppState::of(&v1)), Some(AppState::of(&v2)), Some(AppState::of(&v3)), None],
                acked: 2,
            },
        );
        assert!(check_recovered_apps(&ledger, std::slice::from_ref(&v2)).is_ok());
        assert!(check_recovered_apps(&ledger, std::slice::from_ref(&v3)).is_ok(), "a later change may be durable");
        assert!(check_recovered_apps(&ledger, &[]).is_ok(), "so may the later deletion");
        let lost = check_recovered_apps(&ledger, &[v1]).map_err(|v| v.kind);
        assert_eq!(lost, Err(Kind::AcknowledgedWriteLost));
    }

    #[test]
    fn an_app_short_of_its_instances_or_a_stray_task_is_not_converged() {
        let end = |processes| AppEnd { id: AppId::new("/a"), wanted: 2, instances: 2, running_instances: 2, processes };
        assert!(check_converged(&[end(2)], &[], 0).is_ok());
        assert_eq!(check_converged(&[end(1)], &[], 0).map_err(|v| v.kind), Err(Kind::Convergence));
        assert_eq!(check_converged(&[end(2)], &["t".into()], 0).map_err(|v| v.kind), Err(Kind::Convergence));
        assert_eq!(check_converged(&[end(2)], &[], 1).map_err(|v| v.kind), Err(Kind::Convergence));
    }
}
