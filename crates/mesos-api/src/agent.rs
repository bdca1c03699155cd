//! Our own master<->agent protocol, shaped like the v1 APIs (DESIGN.md §1).
//!
//! The agent POSTs `REGISTER` to the master's `/api/v1/agent` and keeps the response open: a
//! chunked RecordIO stream of [`AgentEvent`]s (commands from the master, and `PING`s). Everything
//! the agent reports goes back as separate POSTs of [`AgentCall`] carrying the stream id it was
//! given in `REGISTERED`, so that calls from a superseded connection are refused. Status updates
//! that arise together travel in one `STATUS_UPDATES` call.
//!
//! Liveness: the master sends `PING` every `ping_interval_seconds`; the agent answers each with a
//! `PONG` call. The master counts missed pongs; the agent treats a silent stream (no event for
//! several ping intervals) as a lost master and reconnects.

use crate::ids::*;
use crate::messages::*;
use serde::{Deserialize, Serialize};

/// Header carrying the stream id on agent calls (same name as the scheduler API's).
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Path of the agent endpoint on the master.
pub const AGENT_API_PATH: &str = "/api/v1/agent";

/// A task the agent holds, reported when it (re-)registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedTask {
    pub task: Task,
    pub framework: FrameworkInfo,
}

/// An executor the agent runs for a task group (a `DEFAULT` executor), reported when it
/// (re-)registers with its tasks, so that a master that restarted counts its resources again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedExecutor {
    pub framework_id: FrameworkId,
    pub executor: ExecutorInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub agent_info: AgentInfo,
    /// Set when the agent recovered an id from its work dir (re-registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Non-terminal tasks and terminal tasks whose last update was not yet acknowledged.
    #[serde(default)]
    pub tasks: Vec<ReportedTask>,
    /// The executors of task groups among those tasks (their tasks carry the executor's id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executors: Vec<ReportedExecutor>,
    /// `ip:port` of the agent's HTTP server (sandbox files, state).
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub framework_id: FrameworkId,
    /// Carries `uuid`, `agent_id` and (for executor updates) `executor_id`.
    pub status: TaskStatus,
    /// The newest state the agent knows for the task; the master frees resources on it.
    pub latest_state: TaskState,
}

/// Calls from an agent to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentCall {
    /// Opens the event stream (answered with 200 and the stream).
    Register { register: Register },
    /// A task status change to forward to the framework (answered with 202).
    StatusUpdate { status_update: StatusUpdate },
    /// Several status changes at once, in order (answered with 202): each is handled as a
    /// `STATUS_UPDATE`. An agent sends the updates of a burst of events this way.
    StatusUpdates { status_updates: Vec<StatusUpdate> },
    /// Answer to a PING.
    Pong { agent_id: AgentId },
    /// A framework message from an executor.
    ExecutorMessage { framework_id: FrameworkId, executor_id: ExecutorId, data: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub agent_id: AgentId,
    pub master_info: MasterInfo,
    pub ping_interval_seconds: f64,
    /// Frameworks of the reported tasks that the master no longer knows as partition-aware and
    /// whose tasks must therefore be killed (their schedulers already saw them LOST).
    #[serde(default)]
    pub kill_tasks: Vec<TaskId>,
}

/// Events from the master to an agent, on the registration stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentEvent {
    Registered {
        registered: Box<Registered>,
    },
    Ping,
    RunTask {
        framework: Box<FrameworkInfo>,
        task: Box<TaskInfo>,
    },
    /// A task group (upstream's `LAUNCH_GROUP`): every task runs under the one `DEFAULT`
    /// executor, validated by the master as a whole. The agent runs them as upstream's default
    /// executor does: together in the executor's sandbox, and when one ends in any state but
    /// TASK_FINISHED, the others are killed.
    RunTaskGroup {
        framework: Box<FrameworkInfo>,
        executor: Box<ExecutorInfo>,
        task_group: TaskGroupInfo,
    },
    KillTask {
        framework_id: FrameworkId,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    },
    /// The framework acknowledged the update with this uuid.
    Acknowledge {
        framework_id: FrameworkId,
        task_id: TaskId,
        uuid: String,
    },
    /// The framework was removed: kill all its tasks.
    ShutdownFramework {
        framework_id: FrameworkId,
    },
    ShutdownExecutor {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
    },
    FrameworkMessage {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: String,
    },
    /// The master refuses this agent (e.g. it was removed); the agent should start afresh.
    Shutdown {
        message: String,
    },
}

impl AgentEvent {
    pub fn to_record(&self) -> bytes::Bytes {
        crate::recordio::encode(&crate::json::to_ascii_vec(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let e = AgentEvent::KillTask { framework_id: "f".into(), task_id: "t".into(), kill_policy: None };
        let bytes = crate::json::to_ascii_vec(&e);
        let back: AgentEvent = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(back, e);
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["type"], "KILL_TASK");
        let ping: AgentEvent = serde_json::from_str(r#"{"type":"PING"}"#).expect("ping");
        assert_eq!(ping, AgentEvent::Ping);
    }

    #[test]
    fn task_groups_round_trip() {
        let executor: ExecutorInfo = serde_json::from_value(serde_json::json!({
            "executor_id": {"value": "e"}, "type": "DEFAULT",
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]
        }))
        .expect("executor");
        let task: TaskInfo = serde_json::from_value(serde_json::json!({
            "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, "command": {"value": "true"}
        }))
        .expect("task");
        let e = AgentEvent::RunTaskGroup {
            framework: Box::new(serde_json::from_value(serde_json::json!({"user": "u", "name": "f"})).expect("fw")),
            executor: Box::new(executor.clone()),
            task_group: TaskGroupInfo { tasks: vec![task] },
        };
        let v: serde_json::Value = serde_json::from_slice(&crate::json::to_ascii_vec(&e)).expect("json");
        assert_eq!(v["type"], "RUN_TASK_GROUP");
        assert_eq!(v["task_group"]["tasks"][0]["task_id"]["value"], "t");
        assert_eq!(serde_json::from_value::<AgentEvent>(v).expect("parse"), e);
        // A REGISTER without executors (an older agent) still parses.
        let register: Register = serde_json::from_value(serde_json::json!({
            "agent_info": {"hostname": "h", "port": 1}, "endpoint": "h:1"
        }))
        .expect("register");
        assert!(register.executors.is_empty());
        let with = Register { executors: vec![ReportedExecutor { framework_id: "f".into(), executor }], ..register };
        let back: Register = serde_json::from_slice(&crate::json::to_ascii_vec(&with)).expect("parse");
        assert_eq!(back, with);
    }

    #[test]
    fn batched_status_updates_round_trip() {
        let update = |task: &str| StatusUpdate {
            framework_id: "f".into(),
            status: TaskStatus::new(task.into(), TaskState::Running),
            latest_state: TaskState::Running,
        };
        let call = AgentCall::StatusUpdates { status_updates: vec![update("a"), update("b")] };
        let bytes = crate::json::to_ascii_vec(&call);
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["type"], "STATUS_UPDATES");
        assert_eq!(v["status_updates"][1]["status"]["task_id"]["value"], "b");
        let back: AgentCall = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(back, call);
    }
}
