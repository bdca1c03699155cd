//! What `/v2/pods` answers: the pod itself ([`pod_json`]) and its status (`GET
//! /v2/pods/{id}::status`, `DELETE /v2/pods/{id}::instances/...`), with the field names of
//! upstream's `podStatus.raml`. The scheduler fills these structs; optional fields left `None`
//! (or empty lists of optional arrays) are not written.

use super::{Pod, PodResources};
use crate::path::PathId;
use crate::time::{Timestamp, format_timestamp, serde_ts};
use serde::Serialize;
use serde_json::Value as Json;

/// The pod as upstream answers it (`POST`/`PUT`/`GET /v2/pods...`): the normalized definition,
/// `version` included when set.
pub fn pod_json(pod: &Pod) -> Json {
    serde_json::to_value(pod).unwrap_or(Json::Null)
}

/// `specReference` of an instance: `/v2/pods/<id>::versions/<version>`.
pub fn spec_reference(id: &PathId, version: Timestamp) -> String {
    format!("/v2/pods{id}::versions/{}", format_timestamp(version))
}

/// `PodState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PodState {
    /// Fewer STABLE instances than wanted.
    #[serde(rename = "DEGRADED")]
    Degraded,
    /// Every wanted instance is STABLE.
    #[serde(rename = "STABLE")]
    Stable,
    /// Marathon is tearing the pod down.
    #[serde(rename = "TERMINAL")]
    Terminal,
}

/// `PodInstanceState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PodInstanceState {
    /// Queued for launch.
    #[serde(rename = "PENDING")]
    Pending,
    /// Launched, not running yet.
    #[serde(rename = "STAGING")]
    Staging,
    /// Running (and healthy, where checked).
    #[serde(rename = "STABLE")]
    Stable,
    /// Running but not STABLE.
    #[serde(rename = "DEGRADED")]
    Degraded,
    /// Shutting down or ended.
    #[serde(rename = "TERMINAL")]
    Terminal,
}

/// `PodStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub id: String,
    /// The latest version of the pod.
    pub spec: Pod,
    pub status: PodState,
    #[serde(with = "serde_ts")]
    pub status_since: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub instances: Vec<PodInstanceStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub termination_history: Vec<TerminationHistory>,
    #[serde(with = "serde_ts")]
    pub last_updated: Timestamp,
    #[serde(with = "serde_ts")]
    pub last_changed: Timestamp,
}

/// `PodInstanceStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodInstanceStatus {
    /// The instance id (`<safe pod id>.instance-<uuid>`).
    pub id: String,
    pub status: PodInstanceState,
    #[serde(with = "serde_ts")]
    pub status_since: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_zone: Option<String>,
    /// Everything allocated to the instance, the executor's resources included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<PodResources>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkStatus>,
    pub containers: Vec<ContainerStatus>,
    /// See [`spec_reference`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_reference: Option<String>,
    #[serde(with = "serde_ts")]
    pub last_updated: Timestamp,
    #[serde(with = "serde_ts")]
    pub last_changed: Timestamp,
    /// The Mesos role of the instance's resources.
    pub role: String,
}

/// `ContainerStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// The container's name in the pod.
    pub name: String,
    /// The Mesos state of its task (`TASK_RUNNING`, …).
    pub status: String,
    #[serde(with = "serde_ts")]
    pub status_since: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `healthy` when the container has a health check (see [`StatusCondition::healthy`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
    /// The Mesos task id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<ContainerEndpointStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<PodResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination: Option<ContainerTerminationState>,
    #[serde(with = "serde_ts")]
    pub last_updated: Timestamp,
    #[serde(with = "serde_ts")]
    pub last_changed: Timestamp,
}

/// `StatusCondition`: `{"name": "healthy", "value": "true", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    pub name: String,
    /// At most 64 characters: `"true"`, `"false"`, or an enumeration's value.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "serde_ts")]
    pub last_changed: Timestamp,
    #[serde(with = "serde_ts")]
    pub last_updated: Timestamp,
}

impl StatusCondition {
    /// Upstream's `healthy` condition of a container or instance.
    pub fn healthy(healthy: bool, reason: Option<String>, last_changed: Timestamp, last_updated: Timestamp) -> Self {
        Self { name: "healthy".to_string(), value: healthy.to_string(), reason, last_changed, last_updated }
    }
}

/// `ContainerEndpointStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEndpointStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_host_port: Option<u16>,
    /// Only for the endpoint a health check uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// `NetworkStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// `ContainerTerminationState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerTerminationState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `TerminationHistory` (note upstream's `instanceID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminationHistory {
    #[serde(rename = "instanceID")]
    pub instance_id: String,
    #[serde(with = "serde_ts")]
    pub started_at: Timestamp,
    #[serde(with = "serde_ts")]
    pub terminated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerTerminationHistory>,
}

/// `ContainerTerminationHistory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerTerminationHistory {
    pub container_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_known_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination: Option<ContainerTerminationState>,
}
