//! The agent's HTTP endpoints (axum): `/state`, `/files/*`, `/health`, `/version`,
//! `/metrics/snapshot`, `/flags`, and (in [`crate::monitor`]) `/monitor/statistics` and
//! `/containers`. Handlers read the snapshot the runtime publishes; they never
//! touch the core. The `/files/*` handlers are in [`crate::file_server`].

use crate::core::{ExecutorView, Snapshot, TaskView};
use crate::file_server::{self, FileIo};
use crate::flags::attributes_flat_json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mesos_api::messages::{Attribute, FrameworkInfo, TaskStatus};
use mesos_api::resources::ResourceSet;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the endpoints need besides the snapshot.
#[derive(Debug)]
pub(crate) struct ServerInfo {
    pub(crate) work_dir: PathBuf,
    pub(crate) hostname: String,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) flags: Vec<(&'static str, String)>,
    pub(crate) resources: ResourceSet,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) start_time: f64,
    pub(crate) started: std::time::Instant,
    /// The containers' cgroups, read by `/monitor/statistics` and `/containers`.
    pub(crate) cgroups: Option<containerizer::Cgroups>,
}

/// A request for an up-to-date snapshot, answered by the runtime that owns the core.
pub(crate) type SnapshotRequest = tokio::sync::oneshot::Sender<Arc<Snapshot>>;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) info: Arc<ServerInfo>,
    pub(crate) snapshot: watch::Receiver<Arc<Snapshot>>,
    pub(crate) fresh: tokio::sync::mpsc::UnboundedSender<SnapshotRequest>,
    /// The blocking threads `/files/*` may use.
    pub(crate) file_io: FileIo,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// The state as of now (the runtime builds it on request), or the last published one if
    /// the runtime is gone.
    pub(crate) async fn snapshot(&self) -> Arc<Snapshot> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.fresh.send(tx).is_ok()
            && let Ok(snapshot) = rx.await
        {
            return snapshot;
        }
        self.snapshot.borrow().clone()
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let http_metrics = state.metrics.http.clone();
    Router::new()
        .route("/state", get(state_handler))
        .route("/state.json", get(state_handler))
        .route("/slave(1)/state", get(state_handler))
        .route("/slave(1)/state.json", get(state_handler))
        .route("/flags", get(flags_handler))
        .route("/slave(1)/flags", get(flags_handler))
        .route("/health", get(health))
        .route("/slave(1)/health", get(health))
        .route("/version", get(version))
        .route("/metrics/snapshot", get(metrics))
        .route("/monitor/statistics", get(crate::monitor::statistics))
        .route("/monitor/statistics.json", get(crate::monitor::statistics))
        .route("/containers", get(crate::monitor::containers))
        .route("/slave(1)/containers", get(crate::monitor::containers))
        .route(httpd::metrics::PROMETHEUS_PATH, get(prometheus))
        .route("/files/browse", get(file_server::browse))
        .route("/files/browse.json", get(file_server::browse))
        .route("/files/read", get(file_server::read))
        .route("/files/read.json", get(file_server::read))
        .route("/files/download", get(file_server::download))
        .route("/files/download.json", get(file_server::download))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(http_metrics, httpd::metrics::track))
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, mesos_api::json::to_ascii_vec(value)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn version() -> Response {
    json_response(StatusCode::OK, &version_json())
}

fn version_json() -> Value {
    json!({"version": mesos_api::MESOS_VERSION, "build_date": "", "build_time": 0.0, "build_user": ""})
}

async fn flags_handler(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &json!({ "flags": flags_json(&s.info) }))
}

fn flags_json(info: &ServerInfo) -> Value {
    Value::Object(info.flags.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

async fn state_handler(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &state_json(&s.info, &*s.snapshot().await))
}

async fn metrics(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &metrics_json(&s.info, &*s.snapshot().await))
}

/// `/metrics/prometheus`: the counters, histograms and process metrics, and the numbers of
/// `/metrics/snapshot` as gauges.
async fn prometheus(State(s): State<AppState>) -> Response {
    s.metrics.render(&metrics_json(&s.info, &*s.snapshot().await))
}

// ---------------------------------------------------------------------------------------------
// JSON models (v0 endpoint conventions: flat resources and attributes)

fn flat(resources: &[mesos_api::messages::Resource]) -> Value {
    Value::Object(ResourceSet::from_wire(resources).unwrap_or_default().to_flat_json())
}

fn status_json(s: &TaskStatus) -> Value {
    let mut v = json!({"state": s.state.name(), "timestamp": s.timestamp.unwrap_or(0.0)});
    if let Some(cs) = &s.container_status {
        v["container_status"] = cs.clone();
    }
    if let Some(h) = s.healthy {
        v["healthy"] = json!(h);
    }
    if let Some(l) = &s.labels {
        v["labels"] = json!(l.labels);
    }
    v
}

fn task_json(t: &TaskView) -> Value {
    let task = &t.task;
    let mut v = json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.as_ref().map(|e| e.value.as_str()).unwrap_or_default(),
        "slave_id": task.agent_id.value,
        "state": task.state.name(),
        "resources": flat(&task.resources),
        "statuses": task.statuses.iter().map(status_json).collect::<Vec<_>>(),
    });
    if let Some(role) = task.resources.iter().find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone())) {
        v["role"] = json!(role);
    }
    if let Some(l) = &task.labels {
        v["labels"] = json!(l.labels);
    }
    for (key, value) in
        [("discovery", &task.discovery), ("container", &task.container), ("health_check", &task.health_check)]
    {
        if let Some(x) = value {
            v[key] = x.clone();
        }
    }
    if let Some(u) = &task.user {
        v["user"] = json!(u);
    }
    v
}

fn executor_json(t: &TaskView, framework: Option<&FrameworkInfo>) -> Value {
    let task = task_json(t);
    let (tasks, completed) = if t.task.state.is_terminal() { (vec![], vec![task]) } else { (vec![task], vec![]) };
    let role = framework.map(|f| f.effective_roles().into_iter().next().unwrap_or_else(|| "*".into()));
    json!({
        "id": t.task.task_id.value,
        "name": t.executor_name,
        "source": t.task.task_id.value,
        "container": t.container_id,
        "directory": t.sandbox.display().to_string(),
        "resources": flat(&t.task.resources),
        "role": role.unwrap_or_else(|| "*".into()),
        "labels": [],
        "type": "COMMAND",
        "tasks": tasks,
        "queued_tasks": [],
        "completed_tasks": completed,
    })
}

/// A task group's executor (upstream's default executor): upstream's executor JSON with its
/// `type`.
fn group_executor_json(e: &ExecutorView, framework: &FrameworkInfo) -> Value {
    let role = e
        .info
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .or_else(|| framework.effective_roles().into_iter().next())
        .unwrap_or_else(|| "*".into());
    let mut v = json!({
        "id": e.info.executor_id.value,
        "name": e.info.name.clone().unwrap_or_default(),
        "source": e.info.source.clone().unwrap_or_default(),
        "container": e.container_id,
        "directory": e.directory.display().to_string(),
        "resources": flat(&e.resources),
        "role": role,
        "type": e.info.kind.clone().unwrap_or_else(|| "DEFAULT".into()),
        "tasks": e.tasks.iter().filter(|t| !t.task.state.is_terminal()).map(|t| task_json(t)).collect::<Vec<_>>(),
        "queued_tasks": [],
        "completed_tasks": e.completed_tasks.iter().chain(e.tasks.iter().filter(|t| t.task.state.is_terminal()))
            .map(|t| task_json(t)).collect::<Vec<_>>(),
    });
    if let Some(l) = &e.info.labels {
        v["labels"] = json!(l.labels);
    }
    v
}

fn framework_json(f: &FrameworkInfo, snap: &Snapshot) -> Value {
    let id = f.id.clone().unwrap_or_default();
    // Command tasks are each their own command executor; tasks of task groups are shown
    // under their group's executor.
    let executors: Vec<Value> = snap
        .tasks
        .iter()
        .filter(|t| t.task.framework_id == id && t.task.executor_id.is_none())
        .map(|t| executor_json(t, Some(f)))
        .chain(snap.executors.iter().filter(|e| e.framework_id == id).map(|e| group_executor_json(e, f)))
        .collect();
    let completed: Vec<Value> = snap
        .completed_tasks
        .iter()
        .filter(|t| t.task.framework_id == id)
        .map(|t| executor_json(t, Some(f)))
        .chain(snap.completed_executors.iter().filter(|e| e.framework_id == id).map(|e| group_executor_json(e, f)))
        .collect();
    let mut v = json!({
        "id": id.value,
        "name": f.name,
        "user": f.user,
        "failover_timeout": f.failover_timeout,
        "checkpoint": f.checkpoint,
        "hostname": f.hostname.clone().unwrap_or_default(),
        "role": f.role,
        "capabilities": f.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
        "executors": executors,
        "completed_executors": completed,
    });
    if f.multi_role() {
        v["roles"] = json!(f.roles);
    }
    if let Some(p) = &f.principal {
        v["principal"] = json!(p);
    }
    v
}

pub(crate) fn state_json(info: &ServerInfo, snap: &Snapshot) -> Value {
    let total = &info.resources;
    let unreserved = total.allocatable_to("*");
    let mut reserved = Map::new();
    for role in total.roles().into_iter().filter(|r| r != "*") {
        let mut only = total.allocatable_to(&role);
        only.subtract(&unreserved);
        reserved.insert(role, Value::Object(only.to_flat_json()));
    }
    let mut v = version_json();
    let extra = json!({
        "start_time": info.start_time,
        "id": snap.agent_id.as_ref().map(|a| a.value.clone()).unwrap_or_default(),
        "pid": format!("slave(1)@{}:{}", info.ip, info.port),
        "hostname": info.hostname,
        "port": info.port,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        "resources": Value::Object(total.to_flat_json()),
        "reserved_resources": reserved,
        "unreserved_resources": Value::Object(unreserved.to_flat_json()),
        "attributes": Value::Object(attributes_flat_json(&info.attributes)),
        "master_hostname": snap.master.as_ref().map(|m| m.hostname.clone()),
        "flags": flags_json(info),
        "frameworks": snap.frameworks.iter().map(|f| framework_json(f, snap)).collect::<Vec<_>>(),
        "completed_frameworks": snap.completed_frameworks.iter().map(|f| framework_json(f, snap)).collect::<Vec<_>>(),
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
        if snap.master.is_none() {
            obj.remove("master_hostname");
        }
    }
    v
}

pub(crate) fn metrics_json(info: &ServerInfo, snap: &Snapshot) -> Value {
    let mut m: BTreeMap<String, f64> = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("slave/registered", if snap.registered { 1.0 } else { 0.0 });
    put("slave/uptime_secs", info.started.elapsed().as_secs_f64());
    put("slave/recovery_errors", 0.0);
    put("gc/path_removals_pending", snap.gc_pending as f64);
    let live = |state: &str| snap.tasks.iter().filter(|t| t.task.state.name() == state).count() as f64;
    for (name, state) in [
        ("staging", "TASK_STAGING"),
        ("starting", "TASK_STARTING"),
        ("running", "TASK_RUNNING"),
        ("killing", "TASK_KILLING"),
    ] {
        put(&format!("slave/tasks_{name}"), live(state));
    }
    for (name, state) in [
        ("finished", "TASK_FINISHED"),
        ("failed", "TASK_FAILED"),
        ("killed", "TASK_KILLED"),
        ("lost", "TASK_LOST"),
        ("error", "TASK_ERROR"),
        ("dropped", "TASK_DROPPED"),
        ("gone", "TASK_GONE"),
    ] {
        put(&format!("slave/tasks_{name}"), snap.terminal_counts.get(state).copied().unwrap_or(0) as f64);
    }
    let running: Vec<&TaskView> = snap.tasks.iter().map(|t| &**t).filter(|t| !t.task.state.is_terminal()).collect();
    put("slave/executors_running", running.len() as f64);
    put("slave/executors_registering", 0.0);
    put("slave/executors_terminating", live("TASK_KILLING"));
    put("slave/executors_terminated", snap.completed_tasks.len() as f64);
    put("slave/frameworks_active", snap.frameworks.len() as f64);
    put("slave/valid_status_updates", snap.valid_status_updates as f64);
    put("slave/invalid_status_updates", snap.invalid_status_updates as f64);
    put("slave/valid_framework_messages", 0.0);
    put("slave/invalid_framework_messages", 0.0);
    let mut used = ResourceSet::new();
    for t in &running {
        used.add(&ResourceSet::from_wire(&t.task.resources).unwrap_or_default());
    }
    for name in ["cpus", "mem", "disk", "gpus"] {
        let total = info.resources.scalar(name);
        let u = used.scalar(name);
        put(&format!("slave/{name}_total"), total);
        put(&format!("slave/{name}_used"), u);
        put(&format!("slave/{name}_percent"), if total > 0.0 { u / total } else { 0.0 });
    }
    Value::Object(m.into_iter().map(|(k, v)| (k, json!(v))).collect())
}
