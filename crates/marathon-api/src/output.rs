//! Response bodies: AppInfo, tasks, queue items, deployment results, error bodies.
//!
//! Key sets stay within what the strict marathon-python 0.13 models accept (it raises on any
//! unknown key): optional fields are written only when set, and deprecated fields never.

use crate::app::*;
use crate::error::{ParseError, ValidationError};
use crate::path::PathId;
use crate::time::{Timestamp, format_timestamp, serde_ts, write_timestamp};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value as Json, json};

/// Response header carrying the deployment id of deployment-producing requests.
pub const DEPLOYMENT_ID_HEADER: &str = "Marathon-Deployment-Id";

/// The AppInfo additions of an app response. `None` fields are not written, so the caller
/// decides through `embed` what appears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppExtras {
    /// `tasksStaged`, `tasksRunning`, `tasksHealthy`, `tasksUnhealthy`.
    pub counts: Option<TaskCounts>,
    /// Ids of the deployments touching the app: `deployments: [{"id": …}]`.
    pub deployments: Option<Vec<String>>,
    pub tasks: Option<Vec<TaskJson>>,
    pub last_task_failure: Option<TaskFailure>,
    /// Written as `taskStats`: the key marathon-python and go-marathon read (Marathon 1.11
    /// writes `tasksStats`, which marathon-python rejects).
    pub task_stats: Option<TaskStatsByVersion>,
    pub readiness_check_results: Option<Vec<ReadinessCheckResult>>,
}

/// Task counts by state; `healthy`/`unhealthy` count only tasks with health results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub staged: u32,
    pub running: u32,
    pub healthy: u32,
    pub unhealthy: u32,
}

/// The app JSON of API responses, with the output rules applied: `ports`, `uris`, `ipAddress`
/// and the deprecated docker fields are never written; `portDefinitions` only for host
/// networking, `container.portMappings` only otherwise; `upgradeStrategy`,
/// `unreachableStrategy`, `killSelection`, `role`, `networks` always (defaults filled in for
/// definitions that were not normalized); other optional fields only when set.
pub fn app_json(app: &AppDefinition, extras: &AppExtras) -> Json {
    let mut out = match serde_json::to_value(app) {
        Ok(Json::Object(map)) => map,
        _ => Map::new(),
    };
    for deprecated in ["ports", "uris", "ipAddress"] {
        out.remove(deprecated);
    }
    let networks = if app.networks.is_empty() { vec![Network::new(NetworkMode::Host)] } else { app.networks.clone() };
    let non_host = networks.iter().any(|n| n.mode != NetworkMode::Host);
    out.insert("networks".into(), to_json(&networks));
    if non_host {
        out.remove("portDefinitions");
        out.insert("requirePorts".into(), Json::Bool(false));
    } else {
        out.insert("portDefinitions".into(), to_json(app.port_definitions.as_deref().unwrap_or_default()));
    }
    if let Some(Json::Object(container)) = out.get_mut("container") {
        if !non_host {
            container.remove("portMappings");
        }
        if let Some(Json::Object(docker)) = container.get_mut("docker") {
            docker.remove("network");
            docker.remove("portMappings");
        }
    }
    if !app.health_checks.is_empty() {
        let checks: Vec<AppHealthCheck> = app
            .health_checks
            .iter()
            .map(|c| AppHealthCheck { protocol: Some(c.effective_protocol()), ..c.clone() })
            .collect();
        out.insert("healthChecks".into(), to_json(&checks));
    }
    if app.accepted_resource_roles.as_ref().is_some_and(Vec::is_empty) {
        out.remove("acceptedResourceRoles");
    }
    let unreachable = app.effective_unreachable_strategy();
    out.insert("upgradeStrategy".into(), to_json(&app.effective_upgrade_strategy()));
    out.insert("unreachableStrategy".into(), to_json(&unreachable));
    out.insert("role".into(), Json::String(app.role.clone().unwrap_or_else(|| "*".to_string())));
    if app.is_resident() {
        let residency = match unreachable {
            UnreachableStrategy::Disabled => Residency::default(),
            UnreachableStrategy::Enabled { inactive_after_seconds, .. } => {
                Residency { relaunch_escalation_timeout_seconds: inactive_after_seconds, ..Residency::default() }
            }
        };
        out.insert("residency".into(), to_json(&residency));
    } else {
        out.remove("residency");
    }

    if let Some(counts) = extras.counts {
        out.insert("tasksStaged".into(), counts.staged.into());
        out.insert("tasksRunning".into(), counts.running.into());
        out.insert("tasksHealthy".into(), counts.healthy.into());
        out.insert("tasksUnhealthy".into(), counts.unhealthy.into());
    }
    if let Some(ids) = &extras.deployments {
        out.insert("deployments".into(), ids.iter().map(|id| json!({ "id": id })).collect());
    }
    if let Some(tasks) = &extras.tasks {
        out.insert("tasks".into(), to_json(tasks));
    }
    if let Some(failure) = &extras.last_task_failure {
        out.insert("lastTaskFailure".into(), to_json(failure));
    }
    if let Some(stats) = &extras.task_stats {
        out.insert("taskStats".into(), to_json(stats));
    }
    if let Some(results) = &extras.readiness_check_results {
        out.insert("readinessCheckResults".into(), to_json(results));
    }
    Json::Object(out)
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Json {
    // Our types have string keys only, so serialization cannot fail.
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// An app's JSON without extras ([`app_json`] with no [`AppExtras`]), written once so that
/// listings can copy it: the bytes of its members (`"key":value`) in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedApp {
    /// The members in key order, separated by commas (no braces), so that a run of members is
    /// copied in one piece.
    bytes: Box<[u8]>,
    /// Per member: where it starts and ends in `bytes`.
    members: Box<[(u32, u32)]>,
    /// Per key of [`EXTRA_KEYS`]: the index of the first member whose key is not below it, and
    /// whether that member has this very key (an extra replaces it).
    extra_slots: [(u32, bool); EXTRA_KEYS.len()],
}

impl RenderedApp {
    pub fn new(app: &AppDefinition) -> Self {
        let map = match app_json(app, &AppExtras::default()) {
            Json::Object(map) => map,
            _ => Map::new(),
        };
        let mut bytes = Vec::new();
        let mut members = Vec::with_capacity(map.len());
        for (key, value) in &map {
            if !bytes.is_empty() {
                bytes.push(b',');
            }
            let start = bytes.len();
            write_json(&mut bytes, key);
            bytes.push(b':');
            write_json(&mut bytes, value);
            members.push((offset(start), offset(bytes.len())));
        }
        let extra_slots = EXTRA_KEYS.map(|extra| {
            let at = map.keys().take_while(|key| key.as_str() < extra).count();
            (offset(at), map.keys().nth(at).is_some_and(|key| key == extra))
        });
        Self { bytes: bytes.into_boxed_slice(), members: members.into_boxed_slice(), extra_slots }
    }

    /// The size of the app's JSON without extras.
    pub fn len(&self) -> usize {
        self.bytes.len() + 2
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Appends members `from..to` (with a comma first unless `*first`).
    fn copy_members(&self, out: &mut Vec<u8>, first: &mut bool, from: usize, to: usize) {
        let (Some(&(start, _)), Some(&(_, end))) =
            (self.members.get(from), to.checked_sub(1).and_then(|last| self.members.get(last)))
        else {
            return;
        };
        if let Some(run) = self.bytes.get(start as usize..end as usize) {
            separate(out, first);
            out.extend_from_slice(run);
        }
    }
}

fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Writes `value` as JSON. Writing into a `Vec` fails only for maps with non-string keys,
/// which our types do not have.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Writes `s` as a JSON string: the same bytes as [`write_json`], copied as they are when no
/// character needs escaping (serde_json escapes `"`, `\` and control characters only).
fn write_str(out: &mut Vec<u8>, s: &str) {
    // No early exit: a fold over all bytes vectorizes, and our strings are short.
    let plain = !s.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, s);
    }
}

/// Writes an unsigned integer as JSON (the digits serde_json writes, through the same `itoa`).
fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// The extras' keys in key order, each written by [`write_extra`] when set.
const EXTRA_KEYS: [&str; 9] = [
    "deployments",
    "lastTaskFailure",
    "readinessCheckResults",
    "taskStats",
    "tasks",
    "tasksHealthy",
    "tasksRunning",
    "tasksStaged",
    "tasksUnhealthy",
];

#[derive(Serialize)]
struct DeploymentRef<'a> {
    id: &'a str,
}

/// The tasks an app's JSON shows: none, owned ones, or ones its writer pushes.
enum Tasks<'a> {
    None,
    Owned(&'a [TaskJson]),
    Written(&'a mut dyn FnMut(&mut TaskArray<'_>)),
}

/// Whether `extras` (with `tasks`) has extra `key`.
fn has_extra(key: &str, extras: &AppExtras, tasks: &Tasks<'_>) -> bool {
    match key {
        "deployments" => extras.deployments.is_some(),
        "lastTaskFailure" => extras.last_task_failure.is_some(),
        "readinessCheckResults" => extras.readiness_check_results.is_some(),
        "taskStats" => extras.task_stats.is_some(),
        "tasks" => !matches!(tasks, Tasks::None),
        "tasksHealthy" | "tasksRunning" | "tasksStaged" | "tasksUnhealthy" => extras.counts.is_some(),
        _ => false,
    }
}

/// Writes the value of extra `key` (nothing if `extras` does not have it).
fn write_extra(out: &mut Vec<u8>, key: &str, extras: &AppExtras, tasks: &mut Tasks<'_>) {
    let counts = extras.counts.unwrap_or_default();
    match key {
        "deployments" => {
            if let Some(ids) = &extras.deployments {
                write_json(out, &ids.iter().map(|id| DeploymentRef { id }).collect::<Vec<_>>());
            }
        }
        // Written through `Value`, as `app_json` does (few and small: not worth their key order).
        "lastTaskFailure" => write_json(out, &to_json(&extras.last_task_failure)),
        "readinessCheckResults" => write_json(out, &to_json(&extras.readiness_check_results)),
        "taskStats" => write_json(out, &to_json(&extras.task_stats)),
        // Fields in key order: the same bytes as through `Value`, without building one.
        "tasks" => match tasks {
            Tasks::None => {}
            Tasks::Owned(tasks) => write_json(out, tasks),
            Tasks::Written(push) => write_tasks(out, push),
        },
        "tasksHealthy" => write_u64(out, counts.healthy.into()),
        "tasksRunning" => write_u64(out, counts.running.into()),
        "tasksStaged" => write_u64(out, counts.staged.into()),
        "tasksUnhealthy" => write_u64(out, counts.unhealthy.into()),
        _ => {}
    }
}

fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

/// Appends the JSON of `app` with `extras` to `out`: the same bytes as
/// `serde_json::to_vec(&app_json(def, extras))` for the definition `app` was made of, without
/// building a `Value` (an extra replaces a member of the same key, as in [`app_json`]).
pub fn write_app_json(out: &mut Vec<u8>, app: &RenderedApp, extras: &AppExtras) {
    let tasks = extras.tasks.as_deref().map_or(Tasks::None, Tasks::Owned);
    write_app(out, app, extras, tasks);
}

/// [`write_app_json`] with tasks that `push` writes in place (`extras.tasks` is not looked at):
/// the same bytes as with `extras.tasks` set to the [`TaskJson`]s of the pushed views.
pub fn write_app_json_with_tasks(
    out: &mut Vec<u8>,
    app: &RenderedApp,
    extras: &AppExtras,
    mut push: impl FnMut(&mut TaskArray<'_>),
) {
    write_app(out, app, extras, Tasks::Written(&mut push));
}

fn write_app(out: &mut Vec<u8>, app: &RenderedApp, extras: &AppExtras, mut tasks: Tasks<'_>) {
    out.reserve(app.len() + 128);
    out.push(b'{');
    let mut first = true;
    let mut next = 0;
    for (key, &(at, replaces)) in EXTRA_KEYS.iter().zip(&app.extra_slots) {
        if !has_extra(key, extras, &tasks) {
            continue;
        }
        let at = at as usize;
        app.copy_members(out, &mut first, next, at);
        next = next.max(at + usize::from(replaces));
        separate(out, &mut first);
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        write_extra(out, key, extras, &mut tasks);
    }
    app.copy_members(out, &mut first, next, app.members.len());
    out.push(b'}');
}

/// Appends the JSON array of the tasks `push` pushes: the same bytes as serializing their
/// [`TaskJson`]s.
pub fn write_tasks(out: &mut Vec<u8>, push: impl FnOnce(&mut TaskArray<'_>)) {
    out.push(b'[');
    push(&mut TaskArray { out, empty: true, last_version: None });
    out.push(b']');
}

/// A task's fields, borrowed from wherever they are kept: listings write tasks straight from
/// the scheduler's state with [`TaskArray::push`], without an owned [`TaskJson`] each. The
/// fields are [`TaskJson`]'s (see there); ports are `u16`s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskView<'a> {
    /// The app's id as text (a [`PathId`]'s).
    pub app_id: &'a str,
    pub health_check_results: Option<&'a [HealthCheckResult]>,
    pub host: &'a str,
    pub id: &'a str,
    pub ip_addresses: &'a [std::net::IpAddr],
    pub local_volumes: &'a [LocalVolume],
    pub ports: &'a [u16],
    pub region: Option<&'a str>,
    pub role: &'a str,
    pub service_ports: Option<&'a [u16]>,
    pub slave_id: Option<&'a str>,
    pub staged_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub state: &'a str,
    pub version: Option<Timestamp>,
    pub zone: Option<&'a str>,
}

impl From<&TaskView<'_>> for TaskJson {
    fn from(task: &TaskView<'_>) -> Self {
        let ports = |ports: &[u16]| ports.iter().map(|p| u32::from(*p)).collect::<Vec<u32>>();
        TaskJson {
            app_id: PathId::parse(task.app_id),
            health_check_results: task.health_check_results.map(<[_]>::to_vec),
            host: task.host.to_string(),
            id: task.id.to_string(),
            ip_addresses: task.ip_addresses.iter().map(TaskIpAddress::of).collect(),
            local_volumes: task.local_volumes.to_vec(),
            ports: ports(task.ports),
            region: task.region.map(str::to_string),
            role: task.role.to_string(),
            service_ports: task.service_ports.map(ports),
            slave_id: task.slave_id.map(str::to_string),
            staged_at: task.staged_at,
            started_at: task.started_at,
            state: task.state.to_string(),
            version: task.version,
            zone: task.zone.map(str::to_string),
        }
    }
}

/// `,"<key>":` before a member that is not the first (`key` needs no escaping).
fn member_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A string member, if it has a value.
fn str_member(out: &mut Vec<u8>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        member_key(out, key);
        write_str(out, value);
    }
}

/// A timestamp member, if it has a value.
fn time_member(out: &mut Vec<u8>, key: &str, value: Option<Timestamp>) {
    if let Some(t) = value {
        member_key(out, key);
        write_timestamp(out, t);
    }
}

/// A JSON array of tasks being written ([`write_tasks`], [`write_app_json_with_tasks`]).
pub struct TaskArray<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
    /// The last task's version and its text (with quotes): an app's tasks mostly share it.
    last_version: Option<(Timestamp, [u8; 26])>,
}

impl TaskArray<'_> {
    /// Appends the JSON of `task`.
    pub fn push(&mut self, task: &TaskView<'_>) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        // The keys in order, as `TaskJson` writes them (optional ones only when set).
        let out = &mut *self.out;
        out.extend_from_slice(b"{\"appId\":");
        write_str(out, task.app_id);
        if let Some(results) = task.health_check_results {
            member_key(out, "healthCheckResults");
            write_json(out, results);
        }
        str_member(out, "host", Some(task.host));
        str_member(out, "id", Some(task.id));
        member_key(out, "ipAddresses");
        out.push(b'[');
        for (i, ip) in task.ip_addresses.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"ipAddress\":\"");
            out.extend_from_slice(ip.to_string().as_bytes());
            out.extend_from_slice(if ip.is_ipv4() {
                b"\",\"protocol\":\"IPv4\"}"
            } else {
                b"\",\"protocol\":\"IPv6\"}"
            });
        }
        out.push(b']');
        member_key(out, "localVolumes");
        write_json(out, task.local_volumes);
        member_key(out, "ports");
        write_ports(out, task.ports);
        str_member(out, "region", task.region);
        str_member(out, "role", Some(task.role));
        if let Some(ports) = task.service_ports {
            member_key(out, "servicePorts");
            write_ports(out, ports);
        }
        str_member(out, "slaveId", task.slave_id);
        time_member(out, "stagedAt", task.staged_at);
        time_member(out, "startedAt", task.started_at);
        str_member(out, "state", Some(task.state));
        if let Some(t) = task.version {
            member_key(out, "version");
            self.write_version(t);
        }
        str_member(self.out, "zone", task.zone);
        self.out.push(b'}');
    }

    /// Appends version `t` as a JSON string ([`write_timestamp`]), reusing the text of the
    /// last task's version if it is the same.
    fn write_version(&mut self, t: Timestamp) {
        match &self.last_version {
            Some((last, text)) if *last == t => self.out.extend_from_slice(text),
            _ => {
                let start = self.out.len();
                write_timestamp(self.out, t);
                let text = self.out.get(start..).and_then(|text| <[u8; 26]>::try_from(text).ok());
                self.last_version = text.map(|text| (t, text));
            }
        }
    }
}

fn write_ports(out: &mut Vec<u8>, ports: &[u16]) {
    out.push(b'[');
    for (i, port) in ports.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_u64(out, u64::from(*port));
    }
    out.push(b']');
}

/// A task as `/v2/tasks`, `/v2/apps/{id}/tasks` and embedded app tasks show it (exactly the keys
/// marathon-python's `MarathonTask` accepts; `checkResult` is left out for that reason).
///
/// Fields are in the order of their keys, so that writing a task directly gives the same bytes
/// as writing it through a sorted `serde_json::Value` (what [`app_json`] does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskJson {
    pub app_id: PathId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_results: Option<Vec<HealthCheckResult>>,
    pub host: String,
    pub id: String,
    #[serde(default)]
    pub ip_addresses: Vec<TaskIpAddress>,
    #[serde(default)]
    pub local_volumes: Vec<LocalVolume>,
    /// Host ports (empty for inactive tasks).
    #[serde(default)]
    pub ports: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub role: String,
    /// The app's service ports; set only in `/v2/tasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ports: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub staged_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub started_at: Option<Timestamp>,
    /// Mesos task state name (`TASK_RUNNING`); scheduled instances show `TASK_STAGING`.
    pub state: String,
    /// The app version the task runs.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub version: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// An IP address of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIpAddress {
    pub ip_address: String,
    /// `IPv4` or `IPv6`.
    pub protocol: String,
}

impl TaskIpAddress {
    pub fn of(ip: &std::net::IpAddr) -> Self {
        TaskIpAddress { ip_address: ip.to_string(), protocol: if ip.is_ipv4() { "IPv4" } else { "IPv6" }.to_string() }
    }
}

/// A persistent volume of a resident task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalVolume {
    pub container_path: String,
    pub persistence_id: String,
}

/// The result of one Marathon health check for one instance (fields in key order, as
/// [`TaskJson`]'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckResult {
    pub alive: bool,
    pub consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub first_success: Option<Timestamp>,
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub last_failure: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub last_success: Option<Timestamp>,
}

/// `lastTaskFailure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    pub app_id: PathId,
    pub host: String,
    pub message: String,
    /// Mesos task state name (`TASK_FAILED`).
    pub state: String,
    pub task_id: String,
    #[serde(with = "serde_ts")]
    pub timestamp: Timestamp,
    #[serde(with = "serde_ts")]
    pub version: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<String>,
}

/// Task statistics of one group of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStats {
    pub counts: TaskCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub life_time: Option<TaskLifeTime>,
}

/// Lifetime of running tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLifeTime {
    pub average_seconds: f64,
    pub median_seconds: f64,
}

/// `taskStats`: statistics per task group; each present group is written as `{"stats": …}`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskStatsByVersion {
    pub started_after_last_scaling: Option<TaskStats>,
    pub with_latest_config: Option<TaskStats>,
    pub with_outdated_config: Option<TaskStats>,
    pub total_summary: Option<TaskStats>,
}

impl Serialize for TaskStatsByVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        for (key, stats) in [
            ("startedAfterLastScaling", &self.started_after_last_scaling),
            ("withLatestConfig", &self.with_latest_config),
            ("withOutdatedConfig", &self.with_outdated_config),
            ("totalSummary", &self.total_summary),
        ] {
            if let Some(stats) = stats {
                map.insert(key.into(), json!({ "stats": to_json(stats) }));
            }
        }
        map.serialize(serializer)
    }
}

/// The state of a readiness check of a task in a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckResult {
    pub name: String,
    pub task_id: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_response: Option<ReadinessCheckResponse>,
}

/// The last HTTP response of a readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Reasons an offer was not used for a launch, in upstream's funnel order (the first one that
/// applies is reported).
pub const OFFER_REJECT_REASONS: [&str; 10] = [
    "UnfulfilledRole",
    "UnfulfilledConstraint",
    "NoCorrespondingReservationFound",
    "AgentMaintenance",
    "InsufficientCpus",
    "InsufficientMemory",
    "InsufficientDisk",
    "InsufficientGpus",
    "InsufficientPorts",
    "DeclinedScarceResources",
];

/// One item of a queue item's `/v2/queue` body besides the app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    /// Instances still to launch.
    pub count: u32,
    pub delay: QueueDelay,
    /// When the run spec was queued.
    #[serde(with = "serde_ts")]
    pub since: Timestamp,
    pub processed_offers_summary: ProcessedOffersSummary,
    /// Only with `embed=lastUnusedOffers`: `[{"offer":…,"reason":[…],"timestamp":…}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_unused_offers: Option<Vec<Json>>,
}

/// Backoff state: `overdue` = not backed off (waiting for offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDelay {
    pub time_left_seconds: u64,
    pub overdue: bool,
}

/// Offer statistics of a queued run spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedOffersSummary {
    pub processed_offers_count: u32,
    pub unused_offers_count: u32,
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub last_unused_offer_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_ts::option")]
    pub last_used_offer_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_summary_last_offers: Option<Vec<DeclinedOfferStep>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_summary_launch_attempt: Option<Vec<DeclinedOfferStep>>,
}

/// One funnel step: of `processed` offers reaching this check, `declined` failed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclinedOfferStep {
    pub reason: String,
    pub declined: u32,
    pub processed: u32,
}

impl DeclinedOfferStep {
    /// The funnel over [`OFFER_REJECT_REASONS`]: each step processes what the previous ones
    /// did not decline. `declined(reason)` gives the offers declined for that reason.
    pub fn funnel(processed: u32, declined: impl Fn(&str) -> u32) -> Vec<DeclinedOfferStep> {
        let mut remaining = processed;
        OFFER_REJECT_REASONS
            .iter()
            .map(|reason| {
                let count = declined(reason);
                let step = DeclinedOfferStep { reason: (*reason).to_string(), declined: count, processed: remaining };
                remaining = remaining.saturating_sub(count);
                step
            })
            .collect()
    }
}

/// One `/v2/queue` entry: `{"app": <app JSON>, "count", "delay", "since", "processedOffersSummary", "lastUnusedOffers"?}`.
pub fn queue_item_json(app: &AppDefinition, item: &QueueItem) -> Json {
    let mut out = match to_json(item) {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    out.insert("app".into(), app_json(app, &AppExtras::default()));
    Json::Object(out)
}

/// A pod's QueueItem (`{"pod": …, "count": …, …}`).
pub fn queue_pod_item_json(pod: &crate::pod::Pod, item: &QueueItem) -> Json {
    let mut out = match to_json(item) {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    out.insert("pod".into(), crate::pod::pod_json(pod));
    Json::Object(out)
}

/// The body of deployment-producing requests: `{"version": <ts>, "deploymentId": <id>}`
/// (send the id in [`DEPLOYMENT_ID_HEADER`] too).
pub fn deployment_result(version: Timestamp, deployment_id: &str) -> Json {
    json!({"version": format_timestamp(version), "deploymentId": deployment_id})
}

/// `{"message": <message>}`, the body of every error without details.
pub fn error_json(message: &str) -> Json {
    json!({ "message": message })
}

/// 422 body of a validation failure.
pub fn validation_error_json(error: &ValidationError) -> Json {
    error.to_json()
}

/// 400/422 body of an unreadable request (see [`ParseError::status`]).
pub fn parse_error_json(error: &ParseError) -> Json {
    error.to_json()
}

/// 409 body when deployments lock the app (the message's `<DEPLOYMENT_ID>` is literal upstream).
pub fn app_locked_json(deployment_ids: &[String]) -> Json {
    json!({
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. \
                    View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": deployment_ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
    })
}

/// Error messages of the apps API (wrap with [`error_json`]).
pub mod messages {
    use super::*;

    /// 401: missing or wrong credentials (upstream's authentication plugins' message).
    pub const NOT_AUTHENTICATED: &str = "Invalid username or password.";

    /// 403: authenticated, but without the right (upstream's authorization plugins' message).
    pub const NOT_AUTHORIZED: &str = "Not Authorized to perform this action!";

    fn in_version(version: Option<Timestamp>) -> String {
        version.map(|v| format!(" in version {}", format_timestamp(v))).unwrap_or_default()
    }

    /// 404 `App '/x' does not exist[ in version <ts>]`.
    pub fn app_not_found(id: &PathId, version: Option<Timestamp>) -> String {
        format!("App '{id}' does not exist{}", in_version(version))
    }

    /// 404 `Pod '/x' does not exist[ in version <ts>]`.
    pub fn pod_not_found(id: &PathId, version: Option<Timestamp>) -> String {
        format!("Pod '{id}' does not exist{}", in_version(version))
    }

    /// 404 `Group '/x' does not exist`.
    pub fn group_not_found(id: &PathId) -> String {
        format!("Group '{id}' does not exist")
    }

    /// 404 `Task 'x' does not exist`.
    pub fn task_not_found(task_id: &str) -> String {
        format!("Task '{task_id}' does not exist")
    }

    /// 409 on `POST /v2/apps` for an existing id.
    pub fn app_exists(id: &PathId) -> String {
        format!("An app with id [{id}] already exists.")
    }

    /// 404 on `DELETE /v2/deployments/{id}`.
    pub fn deployment_not_found(id: &str) -> String {
        format!("DeploymentPlan {id} does not exist")
    }

    /// 403 when `--max_running_deployments` is reached.
    pub fn too_many_deployments(max: u32) -> String {
        format!(
            "Max number ({max}) of running deployments is achieved. Wait for existing deployments to complete or cancel one \
             using force=true parameter. You can increase max deployment number by using --max_running_deployments parameter \
             but be advised that this can have negative effects on the performance."
        )
    }

    /// 400 for `scale=true&wipe=true`.
    pub const SCALE_AND_WIPE: &str = "You cannot use scale and wipe at the same time.";

    /// 404 on `DELETE /v2/queue/{id}/delay` when nothing is queued.
    pub fn not_in_queue(id: &PathId) -> String {
        format!("Application {id} not found in tasks queue.")
    }
}

#[cfg(test)]
mod tests;

/// One action of a deployment step (`{"action": "ScaleApplication", "app": "/foo"}`, or a
/// pod's `{"action": "ScalePod", "pod": "/bar"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentAction {
    /// `StartApplication`, `StopApplication`, `ScaleApplication`, `RestartApplication`,
    /// `StartPod`, …
    pub action: String,
    /// The app's id, or the pod's when `pod`.
    pub app: PathId,
    pub pod: bool,
}

impl DeploymentAction {
    /// The action's JSON, with `extra` keys.
    fn json_with(&self, extra: &[(&str, Json)]) -> Json {
        let mut out = serde_json::Map::new();
        out.insert("action".into(), json!(self.action));
        out.insert((if self.pod { "pod" } else { "app" }).into(), json!(self.app));
        for (k, v) in extra {
            out.insert((*k).into(), v.clone());
        }
        Json::Object(out)
    }
}

impl Serialize for DeploymentAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json_with(&[]).serialize(serializer)
    }
}

/// A deployment as `GET /v2/deployments` lists it (the keys marathon-python's
/// `MarathonDeployment` accepts).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentInfo {
    pub id: String,
    pub version: Timestamp,
    pub affected_apps: Vec<PathId>,
    pub affected_pods: Vec<PathId>,
    /// Each step's actions, in order.
    pub steps: Vec<Vec<DeploymentAction>>,
    /// 1-based index of the step in progress.
    pub current_step: usize,
}

/// The DeploymentInfo JSON; `currentActions` are the actions of the current step, each with its
/// (empty until readiness checks exist) `readinessCheckResults`.
pub fn deployment_json(info: &DeploymentInfo) -> Json {
    let current: Vec<Json> = info
        .current_step
        .checked_sub(1)
        .and_then(|i| info.steps.get(i))
        .into_iter()
        .flatten()
        .map(|a| a.json_with(&[("readinessCheckResults", json!([]))]))
        .collect();
    json!({
        "id": info.id,
        "version": format_timestamp(info.version),
        "affectedApps": info.affected_apps,
        "affectedPods": info.affected_pods,
        "steps": info.steps.iter().map(|actions| json!({ "actions": actions })).collect::<Vec<_>>(),
        "currentActions": current,
        "currentStep": info.current_step,
        "totalSteps": info.steps.len(),
    })
}
