//! The agent's monitoring endpoints, as upstream's: `GET /monitor/statistics` (one entry per
//! running executor; each command task here runs under its own command executor, named after
//! the task, and each task of a task group is shown with its group's executor id) and `GET /containers` (one entry per container, with its `ContainerStatus`).
//!
//! The numbers of a Mesos-containerizer task come from its cgroups (`cpuacct`, `cpu`,
//! `memory`: [`containerizer::TaskCgroups::statistics`]); `cpus_limit` is the task's `cpus`.
//! A task without cgroups (posix isolation, a hollow agent) and a Docker task (whose cgroups
//! dockerd owns) show only what their resources say: `cpus_limit` and `mem_limit_bytes`.

use crate::core::{Snapshot, TaskView};
use crate::server::{AppState, json_response};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mesos_api::monitor::{ContainerEntry, ExecutorStatistics, ResourceStatistics};
use mesos_api::resources::ResourceSet;
use serde_json::json;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// `GET /monitor/statistics`.
pub(crate) async fn statistics(State(s): State<AppState>) -> Response {
    match measure_all(&s).await {
        Some(measured) => {
            let entries: Vec<ExecutorStatistics> = measured
                .into_iter()
                .map(|(t, statistics)| ExecutorStatistics {
                    executor_id: executor_id(&t),
                    executor_name: t.executor_name.clone(),
                    framework_id: t.task.framework_id.value.clone(),
                    source: t.task.task_id.value.clone(),
                    statistics,
                })
                .collect();
            json_response(StatusCode::OK, &serde_json::to_value(entries).unwrap_or_default())
        }
        None => json_response(StatusCode::SERVICE_UNAVAILABLE, &json!("Failed to measure the containers")),
    }
}

/// `GET /containers`.
pub(crate) async fn containers(State(s): State<AppState>) -> Response {
    match measure_all(&s).await {
        Some(measured) => {
            let entries: Vec<ContainerEntry> = measured
                .into_iter()
                .map(|(t, statistics)| ContainerEntry {
                    container_id: t.container_id.clone(),
                    executor_id: executor_id(&t),
                    executor_name: t.executor_name.clone(),
                    framework_id: t.task.framework_id.value.clone(),
                    source: t.task.task_id.value.clone(),
                    status: Some(container_status(&t)),
                    statistics: Some(statistics),
                })
                .collect();
            json_response(StatusCode::OK, &serde_json::to_value(entries).unwrap_or_default())
        }
        None => json_response(StatusCode::SERVICE_UNAVAILABLE, &json!("Failed to measure the containers")),
    }
}

/// The task's executor: its task group's, else its own command executor (named after it).
fn executor_id(t: &TaskView) -> String {
    t.task.executor_id.as_ref().map_or_else(|| t.task.task_id.value.clone(), |e| e.value.clone())
}

/// The task's latest `ContainerStatus`, with its container id.
fn container_status(t: &TaskView) -> serde_json::Value {
    let mut status = t
        .task
        .statuses
        .iter()
        .rev()
        .find_map(|s| s.container_status.clone())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(o) = status.as_object_mut() {
        o.entry("container_id").or_insert_with(|| json!({"value": t.container_id}));
    }
    status
}

/// Every live task with its statistics, measured on a blocking thread (`None`: that failed).
async fn measure_all(s: &AppState) -> Option<Vec<(Arc<TaskView>, ResourceStatistics)>> {
    let snapshot = s.snapshot().await;
    let cgroups = s.info.cgroups.clone();
    tokio::task::spawn_blocking(move || measure(&snapshot, cgroups.as_ref())).await.ok()
}

fn measure(snapshot: &Snapshot, cgroups: Option<&containerizer::Cgroups>) -> Vec<(Arc<TaskView>, ResourceStatistics)> {
    snapshot
        .tasks
        .iter()
        .filter(|t| !t.task.state.is_terminal())
        .map(|t| {
            let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
            let resources = ResourceSet::from_wire(&t.task.resources).unwrap_or_default();
            let mut st = ResourceStatistics {
                timestamp,
                cpus_limit: Some(resources.scalar("cpus")).filter(|c| *c > 0.0),
                mem_limit_bytes: Some((resources.scalar("mem") * 1024.0 * 1024.0) as u64).filter(|m| *m > 0),
                ..ResourceStatistics::default()
            };
            let task_cgroups = if is_docker(t) { None } else { cgroups.and_then(|cg| cg.open(&t.container_id)) };
            if let Some(cg) = task_cgroups {
                let c = cg.statistics();
                st.processes = c.processes;
                st.threads = c.threads;
                st.cpus_user_time_secs = c.cpus_user_time_secs;
                st.cpus_system_time_secs = c.cpus_system_time_secs;
                st.cpus_nr_periods = c.cpus_nr_periods;
                st.cpus_nr_throttled = c.cpus_nr_throttled;
                st.cpus_throttled_time_secs = c.cpus_throttled_time_secs;
                st.mem_total_bytes = c.mem_total_bytes;
                st.mem_limit_bytes = c.mem_limit_bytes.or(st.mem_limit_bytes);
                st.mem_soft_limit_bytes = c.mem_soft_limit_bytes;
                st.mem_rss_bytes = c.mem_rss_bytes;
                st.mem_cache_bytes = c.mem_cache_bytes;
                st.mem_mapped_file_bytes = c.mem_mapped_file_bytes;
                st.mem_swap_bytes = c.mem_swap_bytes;
                st.mem_unevictable_bytes = c.mem_unevictable_bytes;
            }
            (t.clone(), st)
        })
        .collect()
}

/// Whether the Docker containerizer runs the task (its ContainerInfo says `DOCKER`).
fn is_docker(t: &TaskView) -> bool {
    t.task.container.as_ref().and_then(|c| c.get("type")).and_then(|k| k.as_str()) == Some("DOCKER")
}
