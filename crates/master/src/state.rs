//! The master's read-only endpoints (`/master/state`, `/master/tasks`, `/metrics/snapshot`...) in
//! Mesos' v0 JSON conventions: `slaves`, flat resources, flat attributes.

use crate::core::{AdmittedAgent, AgentEntry, AgentState, ExecutorEntry, FrameworkEntry, MasterCore, Now};
use crate::server::MasterFlags;
use mesos_api::operator::{GetHealth, GetVersion, MasterCallType, MasterResponse, VersionInfo};
use mesos_api::resources::ResourceSet;
use mesos_api::{AgentId, Attribute, MESOS_VERSION, MasterInfo, Offer, Task, TaskState, ValueType, duration};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) enum Query {
    State,
    StateSummary,
    Frameworks {
        framework_id: Option<String>,
    },
    Slaves {
        slave_id: Option<String>,
    },
    Tasks {
        limit: usize,
        offset: usize,
        ascending: bool,
        framework_id: Option<String>,
        task_id: Option<String>,
    },
    Metrics,
    Flags,
    /// A call of the v1 operator API that reads the master (`GET_STATE`, `GET_AGENTS`...).
    Operator(MasterCallType),
}

pub(crate) fn version_json() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": "2026-11-25 00:00:00",
        "build_time": 1_795_000_000.0,
        "build_user": "marathon-rs",
    })
}

/// The endpoints of the leading master. `started` is when the process started (the core
/// started when this master was elected).
pub(crate) fn render(core: &MasterCore, flags: &MasterFlags, started: f64, now: Now, query: &Query) -> Value {
    match query {
        Query::State => state(core, flags, started),
        Query::StateSummary => state_summary(core),
        Query::Frameworks { framework_id } => {
            let keep = |f: &&FrameworkEntry| framework_id.as_ref().is_none_or(|id| id == f.id.as_str());
            json!({
                "frameworks": core.frameworks().filter(keep).map(|f| framework(core, f)).collect::<Vec<_>>(),
                "completed_frameworks": core.completed_frameworks().filter(keep).map(|f| framework(core, f)).collect::<Vec<_>>(),
                "unregistered_frameworks": [],
            })
        }
        Query::Slaves { slave_id } => {
            let used_by_agent = core.used_by_agent();
            json!({
                "slaves": core.agents()
                    .filter(|a| a.state != AgentState::Unreachable)
                    .filter(|a| slave_id.as_ref().is_none_or(|id| id == a.id.as_str()))
                    .map(|a| agent(core, a, &used_by_agent)).collect::<Vec<_>>(),
                "recovered_slaves": recovered_agents(core),
            })
        }
        Query::Tasks { limit, offset, ascending, framework_id, task_id } => {
            let mut tasks: Vec<&Task> = core
                .frameworks()
                .chain(core.completed_frameworks())
                .filter(|f| framework_id.as_ref().is_none_or(|id| id == f.id.as_str()))
                .flat_map(|f| f.tasks.values().map(|t| &t.task).chain(f.completed_tasks.iter()))
                .filter(|t| task_id.as_ref().is_none_or(|id| id == t.task_id.as_str()))
                .collect();
            tasks.sort_by(|a, b| start_time(a).total_cmp(&start_time(b)));
            if !ascending {
                tasks.reverse();
            }
            json!({"tasks": tasks.into_iter().skip(*offset).take(*limit).map(task).collect::<Vec<_>>()})
        }
        Query::Metrics => metrics(core, started, now),
        Query::Flags => json!({"flags": flags_json(flags)}),
        Query::Operator(kind) => {
            let snapshot = || metrics(core, started, now);
            operator_response(Some(core), core.master_info(), flags, started, &snapshot, *kind)
        }
    }
}

/// The answer to an operator call that reads the master (`core`: `None` while it does not
/// lead), in the v1 JSON of `mesos_api::operator`. `metrics` gives the numbers of
/// `/metrics/snapshot`.
fn operator_response(
    core: Option<&MasterCore>,
    info: &MasterInfo,
    flags: &MasterFlags,
    started: f64,
    metrics: &dyn Fn() -> Value,
    kind: MasterCallType,
) -> Value {
    use crate::operator;
    let response = match kind {
        MasterCallType::GetState => {
            MasterResponse::GetState { get_state: core.map(operator::state).unwrap_or_else(operator::empty_state) }
        }
        MasterCallType::GetAgents => MasterResponse::GetAgents {
            get_agents: core.map(operator::agents).unwrap_or_else(|| operator::empty_state().get_agents),
        },
        MasterCallType::GetFrameworks => MasterResponse::GetFrameworks {
            get_frameworks: core.map(operator::frameworks).unwrap_or_else(|| operator::empty_state().get_frameworks),
        },
        MasterCallType::GetTasks => {
            MasterResponse::GetTasks { get_tasks: core.map(operator::tasks).unwrap_or_default() }
        }
        MasterCallType::GetExecutors => {
            MasterResponse::GetExecutors { get_executors: core.map(operator::executors).unwrap_or_default() }
        }
        MasterCallType::GetRoles => MasterResponse::GetRoles {
            get_roles: core.map(operator::roles).unwrap_or(mesos_api::operator::GetRoles { roles: Vec::new() }),
        },
        MasterCallType::GetMaster => {
            MasterResponse::GetMaster { get_master: operator::master(info, started, core.map(|c| c.start_time)) }
        }
        MasterCallType::GetFlags => MasterResponse::GetFlags { get_flags: operator::flags(&flags_json(flags)) },
        MasterCallType::GetMetrics => MasterResponse::GetMetrics { get_metrics: operator::metrics(&metrics()) },
        MasterCallType::GetHealth => MasterResponse::GetHealth { get_health: GetHealth { healthy: true } },
        _ => MasterResponse::GetVersion { get_version: GetVersion { version_info: version_info() } },
    };
    serde_json::to_value(response).unwrap_or_default()
}

/// `/version` as the operator API's `VersionInfo`.
pub(crate) fn version_info() -> VersionInfo {
    serde_json::from_value(version_json()).unwrap_or(VersionInfo {
        version: MESOS_VERSION.to_string(),
        build_date: None,
        build_time: None,
        build_user: None,
    })
}

fn start_time(t: &Task) -> f64 {
    t.statuses.first().and_then(|s| s.timestamp).unwrap_or_default()
}

fn flags_json(flags: &MasterFlags) -> Value {
    let mut v = json!({
        "port": flags.port.to_string(),
        "ip": flags.ip.to_string(),
        "work_dir": flags.work_dir.display().to_string(),
        "allocation_interval": duration::format(flags.allocation_interval),
        "agent_ping_timeout": duration::format(flags.agent_ping_timeout),
        "max_agent_ping_timeouts": flags.max_agent_ping_timeouts.to_string(),
        "agent_reregister_timeout": duration::format(flags.agent_reregister_timeout),
        "max_completed_frameworks": flags.max_completed_frameworks.to_string(),
        "max_completed_tasks_per_framework": flags.max_completed_tasks_per_framework.to_string(),
        "registry": flags.registry.map(|r| r.name()).unwrap_or_default(),
        "zk_session_timeout": duration::format(flags.zk_session_timeout),
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(zk) = &flags.zk {
            // Credentials never leave the process.
            let shown = coordination::ZkUrl::from_flag(zk).map(|u| u.to_string()).unwrap_or_default();
            o.insert("zk".into(), json!(shown));
        }
        if let Some(quorum) = flags.quorum {
            o.insert("quorum".into(), json!(quorum.to_string()));
        }
    }
    v
}

fn state(core: &MasterCore, flags: &MasterFlags, start_time: f64) -> Value {
    let info = core.master_info();
    let used_by_agent = core.used_by_agent();
    let count = |s: AgentState| core.agents().filter(|a| a.state == s).count();
    let mut v = version_json();
    let extra = json!({
        "start_time": start_time,
        "elected_time": core.start_time,
        "id": info.id,
        "pid": info.pid,
        "hostname": info.hostname,
        "capabilities": [],
        "activated_slaves": count(AgentState::Active),
        "deactivated_slaves": count(AgentState::Disconnected),
        "unreachable_slaves": core.registry().unreachable.len(),
        "leader": info.pid,
        "leader_info": info,
        "flags": flags_json(flags),
        "slaves": core.agents().filter(|a| a.state != AgentState::Unreachable).map(|a| agent(core, a, &used_by_agent)).collect::<Vec<_>>(),
        "recovered_slaves": recovered_agents(core),
        "frameworks": core.frameworks().map(|f| framework(core, f)).collect::<Vec<_>>(),
        "completed_frameworks": core.completed_frameworks().map(|f| framework(core, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    });
    if let (Some(base), Value::Object(extra)) = (v.as_object_mut(), extra) {
        base.extend(extra);
    }
    v
}

fn state_summary(core: &MasterCore) -> Value {
    let counts = |tasks: &mut dyn Iterator<Item = &Task>| {
        let mut m = Map::new();
        for s in TaskState::ALL {
            m.insert(s.name().to_string(), json!(0));
        }
        for t in tasks {
            if let Some(v) = m.get_mut(t.state.name()) {
                *v = json!(v.as_u64().unwrap_or_default() + 1);
            }
        }
        Value::Object(m)
    };
    let used_by_agent = core.used_by_agent();
    let slaves: Vec<Value> = core
        .agents()
        .map(|a| {
            let mut v = agent(core, a, &used_by_agent);
            let mut tasks =
                core.frameworks().flat_map(|f| f.tasks.values().map(|t| &t.task)).filter(|t| t.agent_id == a.id);
            if let (Some(o), Value::Object(c)) = (v.as_object_mut(), counts(&mut tasks)) {
                o.extend(c);
            }
            v
        })
        .collect();
    let frameworks: Vec<Value> = core
        .frameworks()
        .map(|f| {
            let mut v = json!({"id": f.id.as_str(), "name": f.info.name, "active": f.connected(),
                "used_resources": used(f).to_flat_json(), "slave_ids": []});
            let mut tasks = f.tasks.values().map(|t| &t.task);
            if let (Some(o), Value::Object(c)) = (v.as_object_mut(), counts(&mut tasks)) {
                o.extend(c);
            }
            v
        })
        .collect();
    json!({"hostname": core.master_info().hostname, "slaves": slaves, "frameworks": frameworks})
}

/// The endpoints of a master that does not act (a standby, or one elected that is still
/// loading its registry): its own identity, the leader it knows (`leader`, `leader_info`, as
/// upstream), no `elected_time`, `master/elected` 0, and no agents, frameworks or tasks.
pub(crate) fn render_standby(
    info: &MasterInfo,
    leader: Option<&MasterInfo>,
    flags: &MasterFlags,
    start_time: f64,
    now: Now,
    query: &Query,
) -> Value {
    match query {
        Query::State => {
            let mut v = version_json();
            let extra = json!({
                "start_time": start_time,
                "id": info.id,
                "pid": info.pid,
                "hostname": info.hostname,
                "capabilities": [],
                "activated_slaves": 0,
                "deactivated_slaves": 0,
                "unreachable_slaves": 0,
                "flags": flags_json(flags),
                "slaves": [],
                "recovered_slaves": [],
                "frameworks": [],
                "completed_frameworks": [],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            });
            if let (Some(base), Value::Object(extra)) = (v.as_object_mut(), extra) {
                base.extend(extra);
                if let Some(leader) = leader {
                    base.insert("leader".into(), json!(leader.pid));
                    base.insert("leader_info".into(), json!(leader));
                }
            }
            v
        }
        Query::StateSummary => json!({"hostname": info.hostname, "slaves": [], "frameworks": []}),
        Query::Frameworks { .. } => {
            json!({"frameworks": [], "completed_frameworks": [], "unregistered_frameworks": []})
        }
        Query::Slaves { .. } => json!({"slaves": [], "recovered_slaves": []}),
        Query::Tasks { .. } => json!({"tasks": []}),
        Query::Metrics => json!({
            "master/elected": 0.0,
            "master/uptime_secs": (now.wall - start_time).max(0.0),
        }),
        Query::Flags => json!({"flags": flags_json(flags)}),
        Query::Operator(kind) => {
            let snapshot = || render_standby(info, leader, flags, start_time, now, &Query::Metrics);
            operator_response(None, info, flags, start_time, &snapshot, *kind)
        }
    }
}

pub(crate) fn flat_attributes(attributes: &[Attribute]) -> Map<String, Value> {
    let mut out = Map::new();
    for a in attributes {
        let v = match a.kind {
            ValueType::Scalar => json!(a.scalar.map(|s| s.value).unwrap_or_default()),
            ValueType::Text => json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default()),
            ValueType::Ranges => {
                let r: Vec<(u64, u64)> =
                    a.ranges.as_ref().map(|r| r.range.iter().map(|x| (x.begin, x.end)).collect()).unwrap_or_default();
                json!(mesos_api::resources::format_ranges(&r))
            }
            ValueType::Set => json!(format!("{{{}}}", a.set.as_ref().map(|s| s.item.join(",")).unwrap_or_default())),
        };
        out.insert(a.name.clone(), v);
    }
    out
}

/// Agents from the registry still expected back after a restart, as upstream shows them
/// (their AgentInfo).
fn recovered_agents(core: &MasterCore) -> Vec<Value> {
    core.recovered_agents().map(recovered_agent).collect()
}

fn recovered_agent(a: &AdmittedAgent) -> Value {
    json!({
        "id": a.info.id.as_ref().map(|id| id.as_str()).unwrap_or_default(),
        "hostname": a.info.hostname,
        "port": a.info.port,
        "attributes": flat_attributes(&a.info.attributes),
        "resources": ResourceSet::from_wire(&a.info.resources).unwrap_or_default().to_flat_json(),
    })
}

/// An agent's JSON; `used_by_agent` is [`MasterCore::used_by_agent`].
fn agent(core: &MasterCore, a: &AgentEntry, used_by_agent: &BTreeMap<AgentId, ResourceSet>) -> Value {
    let used = used_by_agent.get(&a.id).cloned().unwrap_or_default();
    let offered = core.agent_offered(&a.id);
    let unreserved = a.total.allocatable_to("*");
    let mut v = json!({
        "id": a.id.as_str(),
        "hostname": a.info.hostname,
        "port": a.info.port,
        "pid": a.pid(),
        "attributes": flat_attributes(&a.info.attributes),
        "registered_time": a.registered_time,
        "resources": a.total.to_flat_json(),
        "used_resources": used.to_flat_json(),
        "offered_resources": offered.to_flat_json(),
        "reserved_resources": {},
        "unreserved_resources": unreserved.to_flat_json(),
        "active": a.state == AgentState::Active,
        "deactivated": a.state != AgentState::Active,
        "version": MESOS_VERSION,
        "capabilities": [],
    });
    if let (Some(o), Some(t)) = (v.as_object_mut(), a.reregistered_time) {
        o.insert("reregistered_time".into(), json!(t));
    }
    if let (Some(o), Some(d)) = (v.as_object_mut(), &a.info.domain) {
        o.insert("domain".into(), d.clone());
    }
    v
}

fn used(f: &FrameworkEntry) -> ResourceSet {
    f.used()
}

/// A task group's executor as upstream's `/master/state` lists it under its framework's
/// `executors` (`json(ExecutorInfo)` and the agent's id).
fn executor(agent: &AgentId, e: &ExecutorEntry) -> Value {
    let resources = &e.resources;
    let mut v = json!({
        "executor_id": e.info.executor_id.as_str(),
        "name": e.info.name.clone().unwrap_or_default(),
        "framework_id": e.info.framework_id.as_ref().map(|f| f.as_str()).unwrap_or_default(),
        "command": {"argv": [], "uris": []},
        "resources": resources.to_flat_json(),
        "slave_id": agent.as_str(),
    });
    if let Some(o) = v.as_object_mut() {
        if !e.info.resources.is_empty() {
            o.insert("role".into(), json!(e.role));
        }
        if let Some(l) = &e.info.labels {
            o.insert("labels".into(), json!(l.labels));
        }
        if let Some(kind) = &e.info.kind {
            o.insert("type".into(), json!(kind));
        }
    }
    v
}

fn framework(core: &MasterCore, f: &FrameworkEntry) -> Value {
    let offers: Vec<&Offer> = core.offers().map(|o| &o.offer).filter(|o| o.framework_id == f.id).collect();
    let mut offered = ResourceSet::new();
    for o in core.offers().filter(|o| o.offer.framework_id == f.id) {
        offered.add(&o.resources);
    }
    let (live, unreachable): (Vec<&Task>, Vec<&Task>) =
        f.tasks.values().map(|t| &t.task).partition(|t| t.state != TaskState::Unreachable);
    let mut v = json!({
        "id": f.id.as_str(),
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "failover_timeout": f.info.failover_timeout,
        "checkpoint": f.info.checkpoint,
        "role": f.info.role,
        "capabilities": f.info.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
        "active": f.connected(),
        "connected": f.connected(),
        "recovered": f.recovered,
        "registered_time": f.registered_time,
        "unregistered_time": f.unregistered_time.unwrap_or_default(),
        "used_resources": used(f).to_flat_json(),
        "offered_resources": offered.to_flat_json(),
        "tasks": live.into_iter().map(task).collect::<Vec<_>>(),
        "unreachable_tasks": unreachable.into_iter().map(task).collect::<Vec<_>>(),
        "completed_tasks": f.completed_tasks.iter().map(task).collect::<Vec<_>>(),
        "offers": offers.into_iter().map(|o| json!({
            "id": o.id.as_str(), "framework_id": o.framework_id.as_str(), "slave_id": o.agent_id.as_str(),
            "resources": ResourceSet::from_wire(&o.resources).unwrap_or_default().to_flat_json()})).collect::<Vec<_>>(),
        "executors": f.live_executors().map(|((agent, _), e)| executor(agent, e)).collect::<Vec<_>>(),
    });
    let o = v.as_object_mut();
    if let Some(o) = o {
        if !f.info.roles.is_empty() {
            o.insert("roles".into(), json!(f.info.roles));
        }
        if let Some(p) = &f.info.principal {
            o.insert("principal".into(), json!(p));
        }
        if let Some(t) = f.reregistered_time {
            o.insert("reregistered_time".into(), json!(t));
        }
        if let Some(l) = &f.info.labels {
            o.insert("labels".into(), json!(l.labels));
        }
    }
    v
}

fn task(t: &Task) -> Value {
    let resources = ResourceSet::from_wire(&t.resources).unwrap_or_default();
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut v = json!({"state": s.state, "timestamp": s.timestamp.unwrap_or_default()});
            if let Some(o) = v.as_object_mut() {
                if let Some(c) = &s.container_status {
                    o.insert("container_status".into(), c.clone());
                }
                if let Some(h) = s.healthy {
                    o.insert("healthy".into(), json!(h));
                }
                if let Some(l) = &s.labels {
                    o.insert("labels".into(), json!(l.labels));
                }
                // Beyond upstream's v0 rendering (only its v1 API has them): why a task ended
                // is what an operator reading `/master/tasks` looks for.
                if let Some(r) = &s.reason {
                    o.insert("reason".into(), json!(r));
                }
                if let Some(m) = &s.message {
                    o.insert("message".into(), json!(m));
                }
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": t.task_id.as_str(),
        "name": t.name,
        "framework_id": t.framework_id.as_str(),
        "executor_id": t.executor_id.as_ref().map(|e| e.as_str()).unwrap_or_default(),
        "slave_id": t.agent_id.as_str(),
        "state": t.state,
        "resources": resources.to_flat_json(),
        "role": resources.roles().into_iter().find(|r| r != "*").unwrap_or_else(|| "*".to_string()),
        "statuses": statuses,
    });
    if let Some(o) = v.as_object_mut() {
        for (k, val) in [("discovery", &t.discovery), ("container", &t.container), ("health_check", &t.health_check)] {
            if let Some(val) = val {
                o.insert(k.into(), val.clone());
            }
        }
        if let Some(l) = &t.labels {
            o.insert("labels".into(), json!(l.labels));
        }
        if let Some(u) = &t.user {
            o.insert("user".into(), json!(u));
        }
    }
    v
}

fn metrics(core: &MasterCore, start_time: f64, now: Now) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(format!("master/{k}"), json!(v));
    };
    let count = |s: AgentState| core.agents().filter(|a| a.state == s).count() as f64;
    put("elected", 1.0);
    put("uptime_secs", (now.wall - start_time).max(0.0));
    put("slaves_active", count(AgentState::Active));
    put("slaves_connected", count(AgentState::Active));
    put("slaves_disconnected", count(AgentState::Disconnected));
    put("slaves_inactive", count(AgentState::Disconnected));
    put("slaves_unreachable", core.registry().unreachable.len() as f64);
    put("recovery_slave_removals", core.counters.recovery_agent_removals as f64);
    put("messages_reconcile_tasks", core.counters.messages_reconcile_tasks as f64);
    let connected = core.frameworks().filter(|f| f.connected()).count() as f64;
    put("frameworks_active", connected);
    put("frameworks_connected", connected);
    put("frameworks_disconnected", core.frameworks().count() as f64 - connected);
    put("frameworks_inactive", core.frameworks().count() as f64 - connected);
    let all_tasks: Vec<&Task> = core
        .frameworks()
        .chain(core.completed_frameworks())
        .flat_map(|f| f.tasks.values().map(|t| &t.task).chain(f.completed_tasks.iter()))
        .collect();
    for s in TaskState::ALL {
        let name = s.name().trim_start_matches("TASK_").to_lowercase();
        put(&format!("tasks_{name}"), all_tasks.iter().filter(|t| t.state == s).count() as f64);
    }
    put("outstanding_offers", core.offers().count() as f64);
    let mut total = ResourceSet::new();
    let mut used = ResourceSet::new();
    let used_by_agent = core.used_by_agent();
    for a in core.agents().filter(|a| a.state != AgentState::Unreachable) {
        total.add(&a.total);
        if let Some(on_agent) = used_by_agent.get(&a.id) {
            used.add(on_agent);
        }
    }
    for r in ["cpus", "mem", "disk", "gpus"] {
        let (t, u) = (total.scalar(r), used.scalar(r));
        put(&format!("{r}_total"), t);
        put(&format!("{r}_used"), u);
        put(&format!("{r}_percent"), if t > 0.0 { u / t } else { 0.0 });
    }
    put("valid_status_updates", core.counters.valid_status_updates as f64);
    put("invalid_status_updates", core.counters.invalid_status_updates as f64);
    put("messages_launch_tasks", core.counters.messages_launch_tasks as f64);
    put("messages_decline_offers", core.counters.messages_decline_offers as f64);
    put("slave_removals", core.counters.agents_removed as f64);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::{Label, Labels, Reason, Source, TaskId, TaskStatus};

    /// Upstream's v0 task status (`json(JSON::ObjectWriter*, const TaskStatus&)` in
    /// src/common/http.cpp, used by `/master/tasks` and `/master/state`) has `state`,
    /// `timestamp`, and `labels`, `container_status`, `healthy` when set; ours adds `reason`
    /// and `message` (upstream has them only in the v1 operator API), never `source`.
    #[test]
    fn task_statuses_have_upstreams_v0_keys() {
        let mut status = TaskStatus::new(TaskId::new("t"), TaskState::Running);
        status.timestamp = Some(1.5);
        status.healthy = Some(true);
        status.labels = Some(Labels { labels: vec![Label { key: "k".into(), value: Some("v".into()) }] });
        status.reason = Some(Reason::TaskHealthCheckStatusUpdated);
        status.message = Some("healthy".into());
        status.source = Some(Source::Executor);
        let task: Task = serde_json::from_value(json!({
            "name": "t", "task_id": {"value": "t"}, "framework_id": {"value": "f"},
            "agent_id": {"value": "a"}, "state": "TASK_RUNNING", "resources": [],
        }))
        .expect("task");
        let task = Task { statuses: vec![status], ..task };
        let rendered = super::task(&task);
        assert_eq!(
            rendered["statuses"],
            json!([{"state": "TASK_RUNNING", "timestamp": 1.5, "healthy": true, "labels": [{"key": "k", "value": "v"}],
                "reason": "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", "message": "healthy"}])
        );
    }
}
