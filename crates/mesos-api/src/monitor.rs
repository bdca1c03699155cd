//! The agent's monitoring endpoints: `GET /monitor/statistics` (one entry per running
//! executor) and `GET /containers` (one per container), in upstream's v0 JSON: ids as plain
//! strings, `statistics` as `mesos.v1.ResourceStatistics`.

use serde::{Deserialize, Serialize};

/// `mesos.v1.ResourceStatistics`: a container's usage at `timestamp` (seconds since the
/// epoch). Numbers the agent cannot measure are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceStatistics {
    pub timestamp: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_user_time_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_system_time_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_soft_limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_mapped_file_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swap_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_unevictable_bytes: Option<u64>,
}

/// An entry of `/monitor/statistics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorStatistics {
    pub executor_id: String,
    pub executor_name: String,
    pub framework_id: String,
    pub source: String,
    pub statistics: ResourceStatistics,
}

/// An entry of `/containers`. `status` is the task's `mesos.v1.ContainerStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerEntry {
    pub container_id: String,
    pub executor_id: String,
    pub executor_name: String,
    pub framework_id: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<ResourceStatistics>,
}
