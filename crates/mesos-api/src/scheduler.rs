//! `mesos.v1.scheduler`: the calls a framework posts to `/api/v1/scheduler` and the events the
//! master streams back.

use crate::ids::*;
use crate::messages::*;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallType {
    Unknown,
    Subscribe,
    Teardown,
    Accept,
    Decline,
    AcceptInverseOffers,
    DeclineInverseOffers,
    Revive,
    Kill,
    Shutdown,
    Acknowledge,
    AcknowledgeOperationStatus,
    Reconcile,
    ReconcileOperations,
    Message,
    Request,
    Suppress,
    UpdateFramework,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OperationId {
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationType {
    Launch,
    LaunchGroup,
    Reserve,
    Unreserve,
    Create,
    Destroy,
    GrowVolume,
    ShrinkVolume,
    CreateDisk,
    DestroyDisk,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_infos: Vec<TaskInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub executor: ExecutorInfo,
    pub task_group: TaskGroupInfo,
}

/// `mesos.v1.Offer.Operation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    #[serde(rename = "type", default = "unknown_operation")]
    pub kind: OperationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<OperationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
}

fn unknown_operation() -> OperationType {
    OperationType::Unknown
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Roles {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    pub executor_id: ExecutorId,
    pub agent_id: AgentId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub uuid: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileTask {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Reconcile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ReconcileTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

/// `mesos.v1.scheduler.Call`. Unknown fields (mesoshttp's top-level `requests`, its `slave_id`
/// on TaskInfos) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CallType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_framework: Option<UpdateFramework>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_inverse_offers: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_inverse_offers: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_operation_status: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_operations: Option<Json>,
}

/// Why a call body was refused before it reached the master's state (answered with 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("Failed to convert JSON into Call protobuf: {0}")]
    Parse(String),
    #[error("Failed to validate scheduler::Call: {0}")]
    Invalid(String),
}

impl Call {
    /// Parses and validates a JSON call body the way Mesos' HTTP handler does.
    pub fn parse(body: &[u8]) -> Result<Call, CallError> {
        let call: Call = serde_json::from_slice(body).map_err(|e| CallError::Parse(e.to_string()))?;
        call.validate()?;
        Ok(call)
    }

    fn validate(&self) -> Result<(), CallError> {
        let invalid = |m: &str| Err(CallError::Invalid(m.to_string()));
        let Some(kind) = self.kind else {
            return invalid("Expecting 'type' to be present");
        };
        if kind == CallType::Subscribe {
            let Some(sub) = &self.subscribe else {
                return invalid("Expecting 'subscribe' to be present");
            };
            let info_id = sub.framework_info.id.as_ref().filter(|id| !id.value.is_empty());
            let call_id = self.framework_id.as_ref().filter(|id| !id.value.is_empty());
            if info_id != call_id {
                return invalid("'framework_id' differs from 'subscribe.framework_info.id'");
            }
            return Ok(());
        }
        if kind == CallType::Unknown {
            return Ok(());
        }
        if self.framework_id.is_none() {
            return invalid("Expecting 'framework_id' to be present");
        }
        let present = match kind {
            CallType::Accept => self.accept.is_some().then_some(()).ok_or("accept"),
            CallType::Decline => self.decline.is_some().then_some(()).ok_or("decline"),
            CallType::Kill => self.kill.is_some().then_some(()).ok_or("kill"),
            CallType::Shutdown => self.shutdown.is_some().then_some(()).ok_or("shutdown"),
            CallType::Acknowledge => self.acknowledge.is_some().then_some(()).ok_or("acknowledge"),
            CallType::Reconcile => self.reconcile.is_some().then_some(()).ok_or("reconcile"),
            CallType::Message => self.message.is_some().then_some(()).ok_or("message"),
            CallType::Request => self.request.is_some().then_some(()).ok_or("request"),
            CallType::UpdateFramework => self.update_framework.is_some().then_some(()).ok_or("update_framework"),
            CallType::AcceptInverseOffers => {
                self.accept_inverse_offers.is_some().then_some(()).ok_or("accept_inverse_offers")
            }
            CallType::DeclineInverseOffers => {
                self.decline_inverse_offers.is_some().then_some(()).ok_or("decline_inverse_offers")
            }
            CallType::AcknowledgeOperationStatus => {
                self.acknowledge_operation_status.is_some().then_some(()).ok_or("acknowledge_operation_status")
            }
            CallType::ReconcileOperations => {
                self.reconcile_operations.is_some().then_some(()).ok_or("reconcile_operations")
            }
            CallType::Subscribe | CallType::Unknown | CallType::Teardown | CallType::Revive | CallType::Suppress => {
                Ok(())
            }
        };
        if let Err(field) = present {
            return Err(CallError::Invalid(format!("Expecting '{field}' to be present")));
        }
        if let Some(ack) = &self.acknowledge
            && kind == CallType::Acknowledge
        {
            validate_status_uuid(&ack.uuid).map_err(CallError::Invalid)?;
        }
        if let Some(update) = &self.update_framework
            && kind == CallType::UpdateFramework
            && update.framework_info.id != self.framework_id
        {
            return invalid("'framework_id' differs from 'update_framework.framework_info.id'");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Events

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkId,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_seconds: f64,
    pub master_info: MasterInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    pub offers: Vec<Offer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub message: String,
}

fn default_heartbeat() -> f64 {
    15.0
}

/// `mesos.v1.scheduler.Event`: the payload nests under the lower-cased type name.
// Events are built and serialized right away, never stored in bulk: size differences don't matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    Subscribed { subscribed: Subscribed },
    Offers { offers: Offers },
    Rescind { rescind: Rescind },
    Update { update: Update },
    Message { message: MessageEvent },
    Failure { failure: Failure },
    Error { error: ErrorEvent },
    Heartbeat,
}

impl Event {
    pub fn update(status: TaskStatus) -> Self {
        Event::Update { update: Update { status } }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Event::Error { error: ErrorEvent { message: message.into() } }
    }

    /// The event as one RecordIO record of ASCII-only JSON.
    pub fn to_record(&self) -> bytes::Bytes {
        crate::recordio::encode(&crate::json::to_ascii_vec(self))
    }
}

impl Call {
    /// A call of `kind` for `framework_id` with no payload; set the payload field after.
    pub fn new(kind: CallType, framework_id: Option<FrameworkId>) -> Call {
        Call {
            kind: Some(kind),
            framework_id,
            subscribe: None,
            accept: None,
            decline: None,
            revive: None,
            suppress: None,
            kill: None,
            shutdown: None,
            acknowledge: None,
            reconcile: None,
            message: None,
            request: None,
            update_framework: None,
            accept_inverse_offers: None,
            decline_inverse_offers: None,
            acknowledge_operation_status: None,
            reconcile_operations: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pymesos_subscribe_parses() {
        let call = Call::parse(
            br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t",
            "capabilities":[{"type":"GPU_RESOURCES"}],"failover_timeout":100}}}"#,
        )
        .expect("parse");
        assert_eq!(call.kind, Some(CallType::Subscribe));
        assert_eq!(call.subscribe.expect("sub").framework_info.failover_timeout, 100.0);
    }

    #[test]
    fn mesoshttp_accept_with_slave_id_parses() {
        let call = Call::parse(
            br#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],
            "operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},
            "agent_id":{"value":"a"},"slave_id":{"value":"a"},"resources":[],"command":{"value":"true"}}]}}],
            "filters":{"refuse_seconds":5}}}"#,
        )
        .expect("parse");
        let accept = call.accept.expect("accept");
        assert_eq!(accept.operations[0].kind, OperationType::Launch);
    }

    #[test]
    fn validation_messages_follow_mesos() {
        let err = |b: &[u8]| Call::parse(b).expect_err("must fail").to_string();
        assert!(err(br#"{"framework_id":{"value":"f"}}"#).contains("Expecting 'type' to be present"));
        assert!(err(br#"{"type":"SUBSCRIBE"}"#).contains("Expecting 'subscribe' to be present"));
        assert!(err(br#"{"type":"ACCEPT","framework_id":{"value":"f"}}"#).contains("'accept'"));
        assert!(err(br#"{"type":"REVIVE"}"#).contains("'framework_id'"));
        assert!(err(br#"{"type":"NOPE"}"#).starts_with("Failed to convert JSON"));
        assert!(
            err(br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}"#)
                .contains("UUID")
        );
    }

    #[test]
    fn events_nest_payload_under_lowercase_type() {
        let e = serde_json::to_value(Event::error("boom")).expect("ser");
        assert_eq!(e, serde_json::json!({"type":"ERROR","error":{"message":"boom"}}));
        let e = serde_json::to_value(Event::Heartbeat).expect("ser");
        assert_eq!(e, serde_json::json!({"type":"HEARTBEAT"}));
    }

    #[test]
    fn calls_and_events_round_trip_for_clients() {
        let mut call = Call::new(CallType::Reconcile, Some("f".into()));
        call.reconcile = Some(Reconcile { tasks: vec![] });
        let text = serde_json::to_string(&call).expect("ser");
        assert_eq!(text, r#"{"type":"RECONCILE","framework_id":{"value":"f"},"reconcile":{}}"#);
        assert_eq!(Call::parse(text.as_bytes()).expect("parse"), call);
        let update = Event::update(TaskStatus::new("t".into(), TaskState::Running));
        let back: Event = serde_json::from_slice(&crate::json::to_ascii_vec(&update)).expect("event");
        assert_eq!(back, update);
        let hb: Event = serde_json::from_str(r#"{"type":"HEARTBEAT"}"#).expect("heartbeat");
        assert_eq!(hb, Event::Heartbeat);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_call_decoder(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Call::parse(&data);
        }

        #[test]
        fn random_json_never_panics_the_call_decoder(json in arb_json()) {
            let _ = Call::parse(json.to_string().as_bytes());
            let wrapped = serde_json::json!({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": json});
            let _ = Call::parse(wrapped.to_string().as_bytes());
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            prop_oneof![
                Just("SUBSCRIBE".to_string()),
                Just("ACCEPT".to_string()),
                Just("LAUNCH".to_string()),
                Just("value".to_string()),
                ".*"
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("type".to_string()),
                        Just("framework_id".to_string()),
                        Just("value".to_string()),
                        Just("offer_ids".to_string()),
                        Just("operations".to_string()),
                        Just("task_infos".to_string()),
                        "[a-z_]{1,12}"
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
