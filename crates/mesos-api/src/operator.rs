//! The master's v1 operator API (`POST /api/v1`, upstream's `mesos.v1.master` protos): the
//! calls an operator sends, the answers, and the events of a `SUBSCRIBE` stream, in the same
//! JSON conventions as the scheduler API (proto field names, enums by name).
//!
//! Only JSON is spoken: upstream's protobuf encoding of these messages is refused by the
//! master by name.

use crate::{
    AgentId, AgentInfo, DurationInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer, Resource, Task, TaskState,
    TaskStatus, TimeInfo,
};
use serde::{Deserialize, Serialize};

/// `mesos.v1.master.Call.Type`: every call upstream knows, so that a known call this master
/// does not serve is told apart from a misspelled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MasterCallType {
    Unknown,
    GetHealth,
    GetFlags,
    GetVersion,
    GetMetrics,
    GetLoggingLevel,
    SetLoggingLevel,
    ListFiles,
    ReadFile,
    GetState,
    GetAgents,
    GetFrameworks,
    GetExecutors,
    GetOperations,
    GetTasks,
    GetRoles,
    GetWeights,
    UpdateWeights,
    GetMaster,
    Subscribe,
    ReserveResources,
    UnreserveResources,
    CreateVolumes,
    DestroyVolumes,
    GrowVolume,
    ShrinkVolume,
    GetMaintenanceStatus,
    GetMaintenanceSchedule,
    UpdateMaintenanceSchedule,
    StartMaintenance,
    StopMaintenance,
    DrainAgent,
    DeactivateAgent,
    ReactivateAgent,
    GetQuota,
    UpdateQuota,
    SetQuota,
    RemoveQuota,
    Teardown,
    MarkAgentGone,
}

impl MasterCallType {
    /// The upstream name (`GET_STATE`).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

/// `mesos.v1.master.Call.GetMetrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GetMetricsCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationInfo>,
}

/// `mesos.v1.master.Call`: the payloads of the calls this master serves (others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterCall {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MasterCallType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_metrics: Option<GetMetricsCall>,
}

#[derive(Debug, thiserror::Error)]
pub enum MasterCallError {
    #[error("Failed to convert JSON into Call protobuf: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Expecting 'type' to be present")]
    MissingType,
}

impl MasterCall {
    /// Parses a JSON call; a call needs a known `type`.
    pub fn parse(body: &[u8]) -> Result<(MasterCall, MasterCallType), MasterCallError> {
        let call: MasterCall = serde_json::from_slice(body)?;
        match call.kind {
            None | Some(MasterCallType::Unknown) => Err(MasterCallError::MissingType),
            Some(kind) => Ok((call, kind)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetHealth {
    pub healthy: bool,
}

/// `mesos.v1.VersionInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetVersion {
    pub version_info: VersionInfo,
}

/// `mesos.v1.Flag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetFlags {
    pub flags: Vec<Flag>,
}

/// `mesos.v1.Metric`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetMetrics {
    pub metrics: Vec<Metric>,
}

/// `mesos.v1.master.Response.GetAgents.Agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub agent_info: AgentInfo,
    pub active: bool,
    pub deactivated: bool,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default)]
    pub total_resources: Vec<Resource>,
    #[serde(default)]
    pub allocated_resources: Vec<Resource>,
    #[serde(default)]
    pub offered_resources: Vec<Resource>,
    #[serde(default)]
    pub capabilities: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetAgents {
    pub agents: Vec<Agent>,
    /// Agents from the registry that have not reregistered since the master started.
    #[serde(default)]
    pub recovered_agents: Vec<AgentInfo>,
}

/// `mesos.v1.master.Response.GetFrameworks.Framework`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framework {
    pub framework_info: FrameworkInfo,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered_time: Option<TimeInfo>,
    #[serde(default)]
    pub offers: Vec<Offer>,
    #[serde(default)]
    pub inverse_offers: Vec<serde_json::Value>,
    #[serde(default)]
    pub allocated_resources: Vec<Resource>,
    #[serde(default)]
    pub offered_resources: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetFrameworks {
    pub frameworks: Vec<Framework>,
    #[serde(default)]
    pub completed_frameworks: Vec<Framework>,
}

/// `mesos.v1.master.Response.GetExecutors.Executor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executor {
    pub executor_info: serde_json::Value,
    pub agent_id: AgentId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GetExecutors {
    pub executors: Vec<Executor>,
    #[serde(default)]
    pub orphan_executors: Vec<Executor>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GetTasks {
    #[serde(default)]
    pub pending_tasks: Vec<Task>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub unreachable_tasks: Vec<Task>,
    #[serde(default)]
    pub completed_tasks: Vec<Task>,
    #[serde(default)]
    pub orphan_tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetState {
    pub get_tasks: GetTasks,
    pub get_executors: GetExecutors,
    pub get_frameworks: GetFrameworks,
    pub get_agents: GetAgents,
}

/// `mesos.v1.Role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub weight: f64,
    #[serde(default)]
    pub frameworks: Vec<FrameworkId>,
    /// Deprecated upstream: the same as `allocated`.
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub allocated: Vec<Resource>,
    #[serde(default)]
    pub offered: Vec<Resource>,
    #[serde(default)]
    pub reserved: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetRoles {
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetMaster {
    pub master_info: MasterInfo,
    /// When this master started (seconds since the epoch).
    pub start_time: f64,
    /// When it was elected (absent while it does not lead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elected_time: Option<f64>,
}

/// `mesos.v1.master.Response`: the payload nests under the lower-cased type name.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MasterResponse {
    GetHealth { get_health: GetHealth },
    GetFlags { get_flags: GetFlags },
    GetVersion { get_version: GetVersion },
    GetMetrics { get_metrics: GetMetrics },
    GetState { get_state: GetState },
    GetAgents { get_agents: GetAgents },
    GetFrameworks { get_frameworks: GetFrameworks },
    GetExecutors { get_executors: GetExecutors },
    GetTasks { get_tasks: GetTasks },
    GetRoles { get_roles: GetRoles },
    GetMaster { get_master: GetMaster },
}

// ---------------------------------------------------------------------------------------------
// Events of a SUBSCRIBE stream

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub get_state: GetState,
    pub heartbeat_interval_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAdded {
    pub task: Task,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdated {
    pub framework_id: FrameworkId,
    /// The task's latest status.
    pub status: TaskStatus,
    /// The task's latest state.
    pub state: TaskState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAdded {
    pub agent: Agent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRemoved {
    pub agent_id: AgentId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkEvent {
    pub framework: Framework,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRemoved {
    pub framework_info: FrameworkInfo,
}

/// `mesos.v1.master.Event`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MasterEvent {
    Subscribed { subscribed: Subscribed },
    TaskAdded { task_added: TaskAdded },
    TaskUpdated { task_updated: TaskUpdated },
    AgentAdded { agent_added: AgentAdded },
    AgentRemoved { agent_removed: AgentRemoved },
    FrameworkAdded { framework_added: FrameworkEvent },
    FrameworkUpdated { framework_updated: FrameworkEvent },
    FrameworkRemoved { framework_removed: FrameworkRemoved },
    Heartbeat,
}

impl MasterEvent {
    /// The event as one RecordIO record of ASCII-only JSON.
    pub fn to_record(&self) -> bytes::Bytes {
        crate::recordio::encode(&crate::json::to_ascii_vec(self))
    }
}

/// Seconds since the epoch as a `TimeInfo`.
pub fn time_info(secs: f64) -> TimeInfo {
    TimeInfo { nanoseconds: (secs * 1e9) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_parse_and_unknown_types_are_errors() {
        let (call, kind) =
            MasterCall::parse(br#"{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5}}}"#).expect("parse");
        assert_eq!(kind, MasterCallType::GetMetrics);
        assert_eq!(call.get_metrics.and_then(|m| m.timeout).map(|t| t.nanoseconds), Some(5));
        assert!(matches!(MasterCall::parse(br#"{"type":"GET_BANANAS"}"#), Err(MasterCallError::Json(_))));
        assert!(matches!(MasterCall::parse(br#"{}"#), Err(MasterCallError::MissingType)));
        assert_eq!(MasterCallType::MarkAgentGone.name(), "MARK_AGENT_GONE");
    }

    #[test]
    fn responses_and_events_nest_under_their_type() {
        let r = MasterResponse::GetHealth { get_health: GetHealth { healthy: true } };
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
        );
        let e = MasterEvent::AgentRemoved { agent_removed: AgentRemoved { agent_id: AgentId::new("a") } };
        assert_eq!(
            serde_json::to_value(&e).expect("json"),
            json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "a"}}})
        );
        assert_eq!(serde_json::to_value(MasterEvent::Heartbeat).expect("json"), json!({"type": "HEARTBEAT"}));
    }
}
