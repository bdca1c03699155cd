//! Messages shared by the Mesos v1 APIs (`mesos.v1.*` in `mesos.proto`), as JSON.
//!
//! Fields this project interprets are typed. Fields it only carries from a framework to an agent
//! and back (container, health checks, discovery, labels) stay as raw JSON values, so nothing a
//! framework sends is lost on the way.

use crate::ids::*;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

fn default_true() -> bool {
    true
}

fn default_star() -> String {
    "*".to_string()
}

// ---------------------------------------------------------------------------------------------
// Values, resources, attributes

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    #[serde(rename = "SCALAR")]
    Scalar,
    #[serde(rename = "RANGES")]
    Ranges,
    #[serde(rename = "SET")]
    Set,
    #[serde(rename = "TEXT")]
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub begin: u64,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ranges {
    #[serde(default)]
    pub range: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ValueSet {
    #[serde(default)]
    pub item: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `mesos.v1.Resource`. Offers to frameworks without RESERVATION_REFINEMENT use the
/// pre-refinement format: `role` is set (`"*"` when unreserved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Json>,
}

impl Resource {
    fn plain(name: &str, kind: ValueType, role: &str) -> Self {
        Self {
            name: name.to_string(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: Some(role.to_string()),
            reservation: None,
            reservations: Vec::new(),
            allocation_info: None,
            disk: None,
            revocable: None,
            shared: None,
            provider_id: None,
        }
    }

    pub fn scalar(name: &str, value: f64, role: &str) -> Self {
        Self { scalar: Some(Scalar { value }), ..Self::plain(name, ValueType::Scalar, role) }
    }

    pub fn ranges(name: &str, range: Vec<Range>, role: &str) -> Self {
        Self { ranges: Some(Ranges { range }), ..Self::plain(name, ValueType::Ranges, role) }
    }

    pub fn set(name: &str, item: Vec<String>, role: &str) -> Self {
        Self { set: Some(ValueSet { item }), ..Self::plain(name, ValueType::Set, role) }
    }

    /// The role the resource is reserved for, `*` when unreserved (any resource format).
    pub fn reserved_role(&self) -> String {
        if let Some(last) = self.reservations.last()
            && let Some(role) = last.get("role").and_then(Json::as_str)
        {
            return role.to_string();
        }
        self.role.clone().unwrap_or_else(default_star)
    }
}

/// `mesos.v1.Attribute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

// ---------------------------------------------------------------------------------------------
// Frameworks, masters, agents

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// Kept as text: an unknown capability must not make a SUBSCRIBE fail.
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Label {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Labels {
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// `mesos.v1.FrameworkInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    #[serde(default)]
    pub failover_timeout: f64,
    #[serde(default)]
    pub checkpoint: bool,
    #[serde(default = "default_star")]
    pub role: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_filters: Option<Json>,
}

impl FrameworkInfo {
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c.kind == name)
    }

    pub fn partition_aware(&self) -> bool {
        self.has_capability("PARTITION_AWARE")
    }

    pub fn multi_role(&self) -> bool {
        self.has_capability("MULTI_ROLE")
    }

    /// The roles this framework receives offers for.
    pub fn effective_roles(&self) -> Vec<String> {
        if self.multi_role() && !self.roles.is_empty() { self.roles.clone() } else { vec![self.role.clone()] }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub scheme: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `mesos.v1.MasterInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    /// IPv4 address in network byte order read as a host integer (127.0.0.1 is 16777343).
    pub ip: u32,
    pub port: u16,
    pub pid: String,
    pub hostname: String,
    pub version: String,
    pub address: Address,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
}

/// `ip` field of MasterInfo for an IPv4 address.
pub fn ipv4_as_mesos_u32(ip: std::net::Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// `mesos.v1.AgentInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    #[serde(default = "default_agent_port")]
    pub port: u16,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Json>,
}

fn default_agent_port() -> u16 {
    5051
}

// ---------------------------------------------------------------------------------------------
// Offers

/// `mesos.v1.Offer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Json>,
}

/// `mesos.v1.Filters`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// The refusal in seconds after Mesos' rules: default 5, invalid or negative falls back to
    /// 5, capped at a year.
    pub fn effective_refuse_seconds(&self) -> f64 {
        const DEFAULT: f64 = 5.0;
        const MAX: f64 = 365.0 * 24.0 * 3600.0;
        match self.refuse_seconds {
            None => DEFAULT,
            Some(s) if !s.is_finite() || s < 0.0 => DEFAULT,
            Some(s) => s.min(MAX),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks and executors

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DurationInfo {
    pub nanoseconds: i64,
}

impl DurationInfo {
    pub fn from_secs_f64(secs: f64) -> Self {
        Self { nanoseconds: (secs * 1e9) as i64 }
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandUri {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    pub name: String,
    /// `VALUE` (default) or `SECRET`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Json>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Environment {
    #[serde(default)]
    pub variables: Vec<EnvironmentVariable>,
}

/// `mesos.v1.CommandInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<CommandUri>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default = "default_true")]
    pub shell: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `mesos.v1.ExecutorInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    pub executor_id: ExecutorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Json>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
}

/// `mesos.v1.TaskInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub task_id: TaskId,
    pub agent_id: AgentId,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Json>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskGroupInfo {
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

// ---------------------------------------------------------------------------------------------
// Task states and status updates

/// `mesos.v1.TaskState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    #[serde(rename = "TASK_STAGING")]
    Staging,
    #[serde(rename = "TASK_STARTING")]
    Starting,
    #[serde(rename = "TASK_RUNNING")]
    Running,
    #[serde(rename = "TASK_KILLING")]
    Killing,
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    #[serde(rename = "TASK_FAILED")]
    Failed,
    #[serde(rename = "TASK_KILLED")]
    Killed,
    #[serde(rename = "TASK_ERROR")]
    Error,
    #[serde(rename = "TASK_LOST")]
    Lost,
    #[serde(rename = "TASK_DROPPED")]
    Dropped,
    #[serde(rename = "TASK_UNREACHABLE")]
    Unreachable,
    #[serde(rename = "TASK_GONE")]
    Gone,
    #[serde(rename = "TASK_GONE_BY_OPERATOR")]
    GoneByOperator,
    #[serde(rename = "TASK_UNKNOWN")]
    Unknown,
}

impl TaskState {
    pub const ALL: [TaskState; 14] = [
        Self::Staging,
        Self::Starting,
        Self::Running,
        Self::Killing,
        Self::Finished,
        Self::Failed,
        Self::Killed,
        Self::Error,
        Self::Lost,
        Self::Dropped,
        Self::Unreachable,
        Self::Gone,
        Self::GoneByOperator,
        Self::Unknown,
    ];

    /// Terminal states free the task's resources.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Finished | Self::Failed | Self::Killed | Self::Error | Self::Lost | Self::Dropped | Self::Gone
        )
    }

    /// The wire name, e.g. `TASK_RUNNING`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Staging => "TASK_STAGING",
            Self::Starting => "TASK_STARTING",
            Self::Running => "TASK_RUNNING",
            Self::Killing => "TASK_KILLING",
            Self::Finished => "TASK_FINISHED",
            Self::Failed => "TASK_FAILED",
            Self::Killed => "TASK_KILLED",
            Self::Error => "TASK_ERROR",
            Self::Lost => "TASK_LOST",
            Self::Dropped => "TASK_DROPPED",
            Self::Unreachable => "TASK_UNREACHABLE",
            Self::Gone => "TASK_GONE",
            Self::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            Self::Unknown => "TASK_UNKNOWN",
        }
    }

    /// The state reported to a framework without PARTITION_AWARE, which knows only TASK_LOST
    /// for every failure of the cluster.
    pub fn for_framework(self, partition_aware: bool) -> TaskState {
        if partition_aware {
            return self;
        }
        match self {
            Self::Dropped | Self::Unreachable | Self::Gone | Self::GoneByOperator | Self::Unknown => Self::Lost,
            other => other,
        }
    }
}

/// `mesos.v1.TaskStatus.Source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    #[serde(rename = "SOURCE_MASTER")]
    Master,
    #[serde(rename = "SOURCE_AGENT")]
    Agent,
    #[serde(rename = "SOURCE_EXECUTOR")]
    Executor,
}

/// `mesos.v1.TaskStatus.Reason` (the values this project produces, plus a catch-all on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    #[serde(rename = "REASON_COMMAND_EXECUTOR_FAILED")]
    CommandExecutorFailed,
    #[serde(rename = "REASON_CONTAINER_LAUNCH_FAILED")]
    ContainerLaunchFailed,
    #[serde(rename = "REASON_CONTAINER_LIMITATION")]
    ContainerLimitation,
    #[serde(rename = "REASON_CONTAINER_LIMITATION_DISK")]
    ContainerLimitationDisk,
    #[serde(rename = "REASON_CONTAINER_LIMITATION_MEMORY")]
    ContainerLimitationMemory,
    #[serde(rename = "REASON_MAX_COMPLETION_TIME_REACHED")]
    MaxCompletionTimeReached,
    #[serde(rename = "REASON_EXECUTOR_REGISTRATION_TIMEOUT")]
    ExecutorRegistrationTimeout,
    #[serde(rename = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT")]
    ExecutorReregistrationTimeout,
    #[serde(rename = "REASON_EXECUTOR_TERMINATED")]
    ExecutorTerminated,
    #[serde(rename = "REASON_FRAMEWORK_REMOVED")]
    FrameworkRemoved,
    #[serde(rename = "REASON_INVALID_OFFERS")]
    InvalidOffers,
    #[serde(rename = "REASON_RECONCILIATION")]
    Reconciliation,
    #[serde(rename = "REASON_AGENT_DISCONNECTED")]
    AgentDisconnected,
    #[serde(rename = "REASON_AGENT_REMOVED")]
    AgentRemoved,
    #[serde(rename = "REASON_AGENT_REREGISTERED")]
    AgentReregistered,
    #[serde(rename = "REASON_AGENT_RESTARTED")]
    AgentRestarted,
    #[serde(rename = "REASON_AGENT_UNKNOWN")]
    AgentUnknown,
    #[serde(rename = "REASON_TASK_KILLED_DURING_LAUNCH")]
    TaskKilledDuringLaunch,
    #[serde(rename = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")]
    TaskHealthCheckStatusUpdated,
    #[serde(rename = "REASON_TASK_CHECK_STATUS_UPDATED")]
    TaskCheckStatusUpdated,
    #[serde(rename = "REASON_TASK_INVALID")]
    TaskInvalid,
    #[serde(rename = "REASON_TASK_GROUP_INVALID")]
    TaskGroupInvalid,
    #[serde(rename = "REASON_TASK_UNKNOWN")]
    TaskUnknown,
    #[serde(other, rename = "REASON_OTHER")]
    Other,
}

/// `mesos.v1.TaskStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskId,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Base64 of 16 random bytes; present only on updates that must be acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<Json>,
}

impl TaskStatus {
    pub fn new(task_id: TaskId, state: TaskState) -> Self {
        Self {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }

    /// The task's addresses from `container_status.network_infos[].ip_addresses` (the
    /// container's own on bridge and user networks, the agent's otherwise), in order;
    /// unparseable ones skipped.
    pub fn ip_addresses(&self) -> Vec<std::net::IpAddr> {
        let Some(infos) =
            self.container_status.as_ref().and_then(|c| c.get("network_infos")).and_then(|n| n.as_array())
        else {
            return Vec::new();
        };
        infos
            .iter()
            .filter_map(|info| info.get("ip_addresses").and_then(|a| a.as_array()))
            .flatten()
            .filter_map(|a| a.get("ip_address").and_then(|ip| ip.as_str()).and_then(|ip| ip.parse().ok()))
            .collect()
    }
}

/// `mesos.v1.TimeInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    pub nanoseconds: i64,
}

/// `mesos.v1.Task`: the master's and agent's record of a launched task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    pub task_id: TaskId,
    pub framework_id: FrameworkId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    pub agent_id: AgentId,
    pub state: TaskState,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_state: Option<TaskState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Fresh status-update uuid: base64 of 16 random bytes.
pub fn new_status_uuid() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Checks that `b64` is the base64 encoding of exactly 16 bytes (a UUID).
pub fn validate_status_uuid(b64: &str) -> Result<(), String> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(bytes) if bytes.len() == 16 => Ok(()),
        Ok(bytes) => Err(format!("Not a valid UUID: expected 16 bytes, got {}", bytes.len())),
        Err(e) => Err(format!("Not a valid UUID: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_info_defaults_are_emitted_and_unknown_fields_ignored() {
        let fw: FrameworkInfo = serde_json::from_str(
            r#"{"user":"root","name":"x","hostname":"","webui_url":"","bogus":{"a":1},
                "capabilities":[{"type":"GPU_RESOURCES"},{"type":"SOMETHING_NEW"}]}"#,
        )
        .expect("parse");
        let out = serde_json::to_value(&fw).expect("ser");
        assert_eq!(out["failover_timeout"], 0.0);
        assert_eq!(out["checkpoint"], false);
        assert_eq!(out["role"], "*");
        assert!(!fw.partition_aware());
    }

    #[test]
    fn framework_info_requires_user_and_name() {
        assert!(serde_json::from_str::<FrameworkInfo>(r#"{"name":"x"}"#).is_err());
    }

    #[test]
    fn states_map_for_non_partition_aware_frameworks() {
        assert_eq!(TaskState::Unreachable.for_framework(false), TaskState::Lost);
        assert_eq!(TaskState::Unreachable.for_framework(true), TaskState::Unreachable);
        assert_eq!(TaskState::Running.for_framework(false), TaskState::Running);
        for s in TaskState::ALL {
            assert_eq!(serde_json::to_value(s).expect("ser"), s.name());
        }
    }

    #[test]
    fn status_uuids_are_16_bytes() {
        let u = new_status_uuid();
        assert_eq!(u.len(), 24);
        assert!(validate_status_uuid(&u).is_ok());
        assert!(validate_status_uuid("AAAA").is_err());
        assert!(validate_status_uuid("***").is_err());
    }

    #[test]
    fn a_status_tells_the_tasks_addresses() {
        let mut s = TaskStatus::new(TaskId::new("t"), TaskState::Running);
        assert!(s.ip_addresses().is_empty());
        s.container_status = Some(serde_json::json!({"network_infos": [
            {"name": "n", "ip_addresses": [{"protocol": "IPv4", "ip_address": "10.1.2.3"}, {"ip_address": "bogus"}]},
            {"ip_addresses": [{"protocol": "IPv6", "ip_address": "fd00::1"}]}
        ]}));
        let ips: Vec<String> = s.ip_addresses().iter().map(ToString::to_string).collect();
        assert_eq!(ips, vec!["10.1.2.3", "fd00::1"]);
    }

    #[test]
    fn master_info_ip_is_network_order() {
        assert_eq!(ipv4_as_mesos_u32("127.0.0.1".parse().expect("ip")), 16777343);
    }

    #[test]
    fn command_shell_defaults_true() {
        let c: CommandInfo = serde_json::from_str(r#"{"value":"echo hi"}"#).expect("parse");
        assert!(c.shell);
        let c: CommandInfo =
            serde_json::from_str(r#"{"value":"ls","shell":false,"arguments":["ls","-l"]}"#).expect("parse");
        assert!(!c.shell);
    }
}
