//! Instances (one replica of an app, with at most one task at a time), their ids, and how Mesos
//! task states map to instance conditions.

use super::run_spec::AppId;
use super::time::Timestamp;
use mesos_api::{AgentId, Reason, TaskId, TaskState, TaskStatus};
use std::fmt;

/// `<safeAppId>.instance-<uuid>` (legacy `<safeAppId>.marathon-<uuid>` is accepted on input).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn new(app: &AppId, uuid: uuid::Uuid) -> Self {
        Self(format!("{}.instance-{}", app.safe_id(), uuid))
    }

    /// Accepts `^(.+)\.(instance-|marathon-)([^.]+)$`.
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, uuid) = text.rsplit_once('.').and_then(|(head, tail)| {
            let uuid = tail.strip_prefix("instance-").or_else(|| tail.strip_prefix("marathon-"))?;
            Some((head, uuid))
        })?;
        (!prefix.is_empty() && !uuid.is_empty()).then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The app's safe id (`prod_web`) this instance id starts with.
    pub fn safe_app_id(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(head, _)| head)
    }

    /// The task id of incarnation `incarnation` (apps use container name `_app`).
    pub fn task_id(&self, incarnation: u64) -> TaskId {
        self.container_task_id("_app", incarnation)
    }

    /// The task id of a pod container's task in incarnation `incarnation`.
    pub fn container_task_id(&self, container: &str, incarnation: u64) -> TaskId {
        TaskId::new(format!("{}.{container}.{incarnation}", self.0))
    }

    /// The id of the default executor that runs incarnation `incarnation` of a pod instance.
    pub fn executor_id(&self, incarnation: u64) -> mesos_api::ExecutorId {
        mesos_api::ExecutorId::new(format!("instance-{}.{incarnation}", self.0))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The instance a task id belongs to, and its incarnation when the id has one. Accepts every
/// form Marathon 1.x produced: `<instanceId>._app.<n>` (1.8+), `<instanceId>.<container>`
/// (pods 1.4 to 1.7) and `<safeId>.<uuid>` (apps up to 1.7, instance `<safeId>.marathon-<uuid>`).
pub fn parse_task_id(task_id: &str) -> Option<(InstanceId, Option<u64>)> {
    // 1.8+: `<instanceId>.<container>.<incarnation>`.
    if let Some((head, incarnation)) = task_id.rsplit_once('.')
        && let Ok(incarnation) = incarnation.parse::<u64>()
        && let Some((instance, _container)) = head.rsplit_once('.')
        && let Some(instance) = InstanceId::parse(instance)
    {
        return Some((instance, Some(incarnation)));
    }
    // Pods 1.4 to 1.7: `<instanceId>.<container>`.
    if let Some((instance, _container)) = task_id.rsplit_once('.')
        && let Some(instance) = InstanceId::parse(instance)
    {
        return Some((instance, None));
    }
    // Apps up to 1.7: `<safeId>.<uuid>` (very old ones used `_`).
    let (safe_id, uuid) = task_id.rsplit_once('.').or_else(|| task_id.rsplit_once('_'))?;
    let uuid = uuid::Uuid::parse_str(uuid).ok()?;
    Some((InstanceId(format!("{safe_id}.marathon-{uuid}")), None))
}

/// What the scheduler wants from an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Keep a task running; relaunch it when it ends.
    Running,
    /// Kill the task and forget the instance.
    Decommissioned,
}

/// An instance's state (API and event spelling via [`Condition::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// Waiting for an offer (no task).
    Scheduled,
    /// An offer was accepted for it; no status yet.
    Provisioned,
    Staging,
    Starting,
    Running,
    Killing,
    Unreachable,
    /// Unreachable for longer than `inactive_after`: no longer counted, replaced.
    UnreachableInactive,
    Killed,
    Finished,
    Failed,
    Error,
    Gone,
    Dropped,
    Unknown,
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Provisioned => "Provisioned",
            Self::Staging => "Staging",
            Self::Starting => "Starting",
            Self::Running => "Running",
            Self::Killing => "Killing",
            Self::Unreachable => "Unreachable",
            Self::UnreachableInactive => "UnreachableInactive",
            Self::Killed => "Killed",
            Self::Finished => "Finished",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Gone => "Gone",
            Self::Dropped => "Dropped",
            Self::Unknown => "Unknown",
        }
    }

    /// Provisioned, Staging, Starting, Running, Killing, Unreachable.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Provisioned | Self::Staging | Self::Starting | Self::Running | Self::Killing | Self::Unreachable
        )
    }

    /// Killed, Finished, Failed, Error, Gone, Dropped, Unknown.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Killed | Self::Finished | Self::Failed | Self::Error | Self::Gone | Self::Dropped | Self::Unknown
        )
    }

    /// Whether the end of a task in this condition grows the launch delay: Failed, Finished,
    /// Error and Gone do. Killed does not (we asked for it; a kill for failing health checks
    /// does count, see `backoff`), and neither does Dropped, unlike in upstream Marathon: Mesos
    /// drops a task that was never launched (an agent that restarted before starting it, say),
    /// which says nothing about the app. A framework that missed the agent's own update learns
    /// of it from a reconciliation answer that no longer tells why, so the state alone decides.
    pub fn is_launch_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Finished | Self::Error | Self::Gone)
    }
}

/// Whether a terminal status says that the agent never started the task: TASK_DROPPED (TASK_LOST
/// for a framework that is not partition-aware) with REASON_AGENT_RESTARTED, which an agent
/// sends for a task it had accepted but not launched when it restarted. Like any TASK_DROPPED
/// (see [`Condition::is_launch_failure`]), its TASK_LOST form does not count toward the launch
/// backoff: the instance is replaced at once.
pub(crate) fn never_started(status: &TaskStatus) -> bool {
    matches!(status.state, TaskState::Dropped | TaskState::Lost) && status.reason == Some(Reason::AgentRestarted)
}

/// The condition a task status puts an instance in (Marathon's mapping, TASK_LOST included).
pub fn condition_from_status(status: &TaskStatus) -> Condition {
    match status.state {
        TaskState::Staging => Condition::Staging,
        TaskState::Starting => Condition::Starting,
        TaskState::Running => Condition::Running,
        TaskState::Killing => Condition::Killing,
        TaskState::Killed => Condition::Killed,
        TaskState::Finished => Condition::Finished,
        TaskState::Failed => Condition::Failed,
        TaskState::Error => Condition::Error,
        TaskState::Unreachable => Condition::Unreachable,
        TaskState::Gone | TaskState::GoneByOperator => Condition::Gone,
        TaskState::Dropped => Condition::Dropped,
        TaskState::Unknown => Condition::Unknown,
        TaskState::Lost => {
            let unknown_message =
                status.message.as_deref().is_some_and(|m| m.starts_with("Reconciliation: Task is unknown to the"));
            match status.reason {
                _ if unknown_message => Condition::Unknown,
                Some(Reason::TaskUnknown) => Condition::Unknown,
                Some(Reason::Reconciliation | Reason::AgentDisconnected | Reason::AgentRemoved) => {
                    Condition::Unreachable
                }
                _ => Condition::Gone,
            }
        }
    }
}

/// The current task of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// One per port definition, or per port mapping that has a host port, in order (the
    /// task's `ports`).
    pub host_ports: Vec<u16>,
    /// When the offer was accepted for it.
    pub staged_at: Timestamp,
    /// The first TASK_RUNNING.
    pub started_at: Option<Timestamp>,
    /// The last state Mesos reported (none before the first update).
    pub mesos_state: Option<TaskState>,
    /// The last health Mesos reported (Mesos health checks only).
    pub healthy: Option<bool>,
    /// The agent's IP address from the offer, where Marathon's health checks connect to.
    pub agent_ip: Option<String>,
    /// The task's addresses as Mesos reported them (`ipAddresses`): its container's on bridge
    /// and container networks, the agent's otherwise.
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// The agent's attributes as placement constraints compare them (name, text; the first of
    /// each name, in offer order), from the offer.
    pub attributes: Vec<(String, String)>,
    /// The agent's fault domain region and zone, from the offer.
    pub region: Option<String>,
    pub zone: Option<String>,
    /// A pod instance's tasks, one per container (the first one's id is `id`), each with what
    /// Mesos last said of it; `mesos_state` and `healthy` above are the group's together
    /// (see `core::pod`). Empty for apps.
    pub containers: Vec<ContainerTask>,
}

impl Task {
    /// Every Mesos task of it: its own id, or a pod instance's container tasks.
    pub fn task_ids(&self) -> impl Iterator<Item = &TaskId> {
        let own = self.containers.is_empty().then_some(&self.id);
        own.into_iter().chain(self.containers.iter().map(|c| &c.task_id))
    }
}

/// One container's task of a pod instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTask {
    pub name: String,
    pub task_id: TaskId,
    pub mesos_state: Option<TaskState>,
    /// Its health check's last result (`None` without one, or before the first).
    pub healthy: Option<bool>,
    pub has_health_check: bool,
    /// When Mesos last reported a state change of it.
    pub since: Option<Timestamp>,
    pub message: Option<String>,
}

/// One replica of an app: the unit the scheduler persists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub app_id: AppId,
    /// The app version its task runs (or will run, while Scheduled).
    pub run_spec_version: Timestamp,
    pub goal: Goal,
    pub condition: Condition,
    pub condition_since: Timestamp,
    /// The number of tasks launched for this instance so far; the task id ends with it.
    pub incarnation: u64,
    pub task: Option<Task>,
    /// When the agent became unreachable (set while Unreachable or UnreachableInactive).
    pub unreachable_since: Option<Timestamp>,
    /// The Mesos role its task runs under.
    pub role: String,
}

impl Instance {
    /// Counted against the app's `instances`: wanted, and not given up on as unreachable.
    pub fn is_counted(&self) -> bool {
        self.goal == Goal::Running && self.condition != Condition::UnreachableInactive
    }

    /// Since when the task is active, for kill ordering: staged time while Provisioned or
    /// Staging, the condition's start while Starting, the first RUNNING once running.
    pub fn active_since(&self) -> Timestamp {
        let task = self.task.as_ref();
        match self.condition {
            Condition::Provisioned | Condition::Staging => task.map_or(self.condition_since, |t| t.staged_at),
            Condition::Running => task.and_then(|t| t.started_at).unwrap_or(self.condition_since),
            _ => self.condition_since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(reason: Option<Reason>, message: Option<&str>) -> Condition {
        let mut status = TaskStatus::new(TaskId::new("t"), TaskState::Lost);
        status.reason = reason;
        status.message = message.map(str::to_string);
        condition_from_status(&status)
    }

    #[test]
    fn task_lost_maps_by_reason_and_message() {
        let unknown_to_agent = Some("Reconciliation: Task is unknown to the agent");
        assert_eq!(lost(Some(Reason::Reconciliation), unknown_to_agent), Condition::Unknown);
        assert_eq!(lost(Some(Reason::TaskUnknown), None), Condition::Unknown);
        let unreachable = Some("Reconciliation: Task is unreachable");
        assert_eq!(lost(Some(Reason::Reconciliation), unreachable), Condition::Unreachable);
        assert_eq!(lost(Some(Reason::AgentDisconnected), None), Condition::Unreachable);
        assert_eq!(lost(Some(Reason::AgentRemoved), None), Condition::Unreachable);
        assert_eq!(lost(Some(Reason::InvalidOffers), None), Condition::Gone);
        assert_eq!(lost(None, None), Condition::Gone);
    }

    #[test]
    fn other_states_map_one_to_one() {
        let expected = [
            (TaskState::Staging, Condition::Staging),
            (TaskState::Starting, Condition::Starting),
            (TaskState::Running, Condition::Running),
            (TaskState::Killing, Condition::Killing),
            (TaskState::Killed, Condition::Killed),
            (TaskState::Finished, Condition::Finished),
            (TaskState::Failed, Condition::Failed),
            (TaskState::Error, Condition::Error),
            (TaskState::Unreachable, Condition::Unreachable),
            (TaskState::Gone, Condition::Gone),
            (TaskState::GoneByOperator, Condition::Gone),
            (TaskState::Dropped, Condition::Dropped),
            (TaskState::Unknown, Condition::Unknown),
        ];
        for (state, condition) in expected {
            assert_eq!(condition_from_status(&TaskStatus::new(TaskId::new("t"), state)), condition, "{state:?}");
        }
    }

    #[test]
    fn ids_round_trip() {
        let app = AppId::new("/my-group/my-app");
        let uuid = uuid::Uuid::from_u128(0xb6ff5fa5_7714_11e7_a55c_5ecf1c4671f6);
        let instance = InstanceId::new(&app, uuid);
        assert_eq!(instance.as_str(), "my-group_my-app.instance-b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6");
        assert_eq!(instance.safe_app_id(), "my-group_my-app");
        let task = instance.task_id(3);
        assert_eq!(task.as_str(), "my-group_my-app.instance-b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6._app.3");
        assert_eq!(parse_task_id(task.as_str()), Some((instance.clone(), Some(3))));
        assert_eq!(parse_task_id(&format!("{instance}.rails")), Some((instance, None)));
        let legacy = parse_task_id("my-app.6b3a5bc8-37e6-11e4-b05e-56847afe9799").expect("legacy id");
        assert_eq!(legacy.0.as_str(), "my-app.marathon-6b3a5bc8-37e6-11e4-b05e-56847afe9799");
        assert_eq!(parse_task_id("nonsense"), None);
        assert_eq!(InstanceId::parse("x.instance-"), None);
        assert!(InstanceId::parse("x.marathon-abc").is_some());
    }
}
