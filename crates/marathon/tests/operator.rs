//! The master's v1 operator API (`POST /api/v1`) end to end: a real master, agents and a
//! framework with a running task, an operator client speaking JSON over real HTTP, and the
//! `SUBSCRIBE` event stream following launches, agents coming and going and frameworks.

mod common;

use common::*;
use futures::StreamExt;
use mesos_api::recordio::Decoder;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(20);

async fn call(http: &reqwest::Client, master: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(format!("http://{master}/api/v1"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("operator call");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn ok_call(http: &reqwest::Client, master: &str, kind: &str) -> Value {
    let (status, v) = call(http, master, json!({"type": kind})).await;
    assert_eq!(status, 200, "{kind}: {v}");
    assert_eq!(v["type"], kind, "{v}");
    v[kind.to_lowercase()].clone()
}

/// Starts a framework on the cluster and runs `sleep` as task `id`.
async fn framework_with_task(cluster: &Cluster, id: &str) -> Framework {
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("ops", false, &[])).await;
    let offer = fw.next_offers(LONG).await.into_iter().next().expect("an offer");
    assert_eq!(fw.launch(&offer, vec![command_task(&offer, id, "sleep 600", 0.5, 32.0)]).await, 202);
    fw.wait_state(id, "TASK_RUNNING", LONG).await;
    fw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_calls_answer_with_upstreams_v1_shapes() {
    let cluster = Cluster::start(1).await;
    let master = cluster.master_addr();
    let http = reqwest::Client::new();
    let fw = framework_with_task(&cluster, "web").await;

    assert_eq!(ok_call(&http, &master, "GET_HEALTH").await, json!({"healthy": true}));
    assert_eq!(ok_call(&http, &master, "GET_VERSION").await["version_info"]["version"], "1.11.0");

    let state = ok_call(&http, &master, "GET_STATE").await;
    let tasks = state["get_tasks"]["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{state}");
    assert_eq!(tasks[0]["task_id"]["value"], "web");
    assert_eq!(tasks[0]["state"], "TASK_RUNNING");
    assert_eq!(tasks[0]["framework_id"]["value"], fw.id.as_str());
    assert_eq!(state["get_executors"], json!({"executors": [], "orphan_executors": []}));
    assert_eq!(state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"], fw.id.as_str());
    let agent_id = state["get_agents"]["agents"][0]["agent_info"]["id"]["value"].as_str().expect("agent id");

    let agents = ok_call(&http, &master, "GET_AGENTS").await;
    let agent = &agents["agents"][0];
    assert_eq!(agent["agent_info"]["id"]["value"], agent_id);
    assert_eq!(agent["agent_info"]["hostname"], "agent0");
    assert_eq!((agent["active"].clone(), agent["deactivated"].clone()), (json!(true), json!(false)));
    assert_eq!(agent["version"], "1.11.0");
    assert!(agent["registered_time"]["nanoseconds"].as_i64().expect("registered_time") > 0, "{agent}");
    let scalar = |resources: &Value, name: &str| -> f64 {
        resources
            .as_array()
            .expect("resources")
            .iter()
            .filter(|r| r["name"] == name)
            .map(|r| r["scalar"]["value"].as_f64().unwrap_or_default())
            .sum()
    };
    assert_eq!(scalar(&agent["total_resources"], "cpus"), 4.0, "{agent}");
    assert_eq!(scalar(&agent["allocated_resources"], "cpus"), 0.5, "{agent}");
    assert_eq!(agents["recovered_agents"], json!([]));

    let frameworks = ok_call(&http, &master, "GET_FRAMEWORKS").await;
    let f = &frameworks["frameworks"][0];
    assert_eq!(f["framework_info"]["name"], "ops");
    assert_eq!(
        (f["active"].clone(), f["connected"].clone(), f["recovered"].clone()),
        (json!(true), json!(true), json!(false))
    );
    assert_eq!(scalar(&f["allocated_resources"], "mem"), 32.0, "{f}");
    assert_eq!(frameworks["completed_frameworks"], json!([]));

    let tasks = ok_call(&http, &master, "GET_TASKS").await;
    assert_eq!(tasks["tasks"][0]["task_id"]["value"], "web", "{tasks}");
    for key in ["pending_tasks", "unreachable_tasks", "completed_tasks", "orphan_tasks"] {
        assert_eq!(tasks[key], json!([]), "{key}: {tasks}");
    }

    let flags = ok_call(&http, &master, "GET_FLAGS").await;
    let flag = |name: &str| {
        flags["flags"].as_array().expect("flags").iter().find(|f| f["name"] == name).map(|f| f["value"].clone())
    };
    assert_eq!(flag("port"), Some(json!(cluster.master_port.to_string())), "{flags}");
    assert_eq!(flag("allocation_interval"), Some(json!("200ms")), "{flags}");

    let m = ok_call(&http, &master, "GET_MASTER").await;
    assert_eq!(m["master_info"]["port"], cluster.master_port, "{m}");
    let (start, elected) = (m["start_time"].as_f64().expect("start"), m["elected_time"].as_f64().expect("elected"));
    assert!(start > 1.7e9 && elected >= start, "{m}");

    // The same numbers as /metrics/snapshot (with a timeout, as pymesos sends it).
    let (status, metrics) = call(
        &http,
        &master,
        json!({"type": "GET_METRICS", "get_metrics": {"timeout": {"nanoseconds": 5_000_000_000u64}}}),
    )
    .await;
    assert_eq!(status, 200, "{metrics}");
    let metric = |name: &str| {
        metrics["get_metrics"]["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["value"].as_f64())
    };
    let snapshot = cluster.master_metrics().await;
    for name in
        ["master/elected", "master/tasks_running", "master/slaves_active", "master/cpus_total", "master/cpus_used"]
    {
        assert_eq!(metric(name), snapshot[name].as_f64(), "{name}: {metrics} vs {snapshot}");
    }
    assert_eq!(metric("master/tasks_running"), Some(1.0));

    let roles = ok_call(&http, &master, "GET_ROLES").await;
    let star = roles["roles"].as_array().expect("roles").iter().find(|r| r["name"] == "*").expect("role *").clone();
    assert_eq!(star["frameworks"], json!([{"value": fw.id}]), "{roles}");
    assert_eq!(star["weight"], 1.0);
    assert_eq!(scalar(&star["allocated"], "cpus"), 0.5, "{roles}");

    // Refusals: an unknown call, a known one this master does not serve, protobuf, GET.
    let (status, body) = call(&http, &master, json!({"type": "GET_BANANAS"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("GET_BANANAS"), "{body}");
    let (status, body) = call(&http, &master, json!({})).await;
    assert_eq!((status, body), (400, json!("Expecting 'type' to be present")));
    let (status, body) = call(&http, &master, json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    assert_eq!(status, 501, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("GET_MAINTENANCE_STATUS"), "{body}");
    let post = |content_type: &'static str, accept: &'static str| {
        http.post(format!("http://{master}/api/v1"))
            .header("Content-Type", content_type)
            .header("Accept", accept)
            .body(r#"{"type":"GET_HEALTH"}"#)
            .send()
    };
    assert_eq!(post("application/x-protobuf", "application/json").await.expect("post").status(), 415);
    assert_eq!(post("application/json", "application/x-protobuf").await.expect("post").status(), 406);
    let get = http.get(format!("http://{master}/api/v1")).send().await.expect("get");
    assert_eq!(get.status(), 405);
    drop(fw);
}

/// An operator's `SUBSCRIBE` stream, read in the background.
struct Subscription {
    events: mpsc::UnboundedReceiver<Value>,
    reader: tokio::task::JoinHandle<()>,
    seen: Vec<Value>,
}

impl Subscription {
    async fn open(http: &reqwest::Client, master: &str) -> Result<Subscription, (u16, String)> {
        let r = http
            .post(format!("http://{master}/api/v1"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(json!({"type": "SUBSCRIBE"}).to_string())
            .send()
            .await
            .expect("subscribe");
        if r.status() != 200 {
            return Err((r.status().as_u16(), r.text().await.unwrap_or_default()));
        }
        let (tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut body = r.bytes_stream();
            let mut decoder = Decoder::new();
            while let Some(Ok(chunk)) = body.next().await {
                let Ok(records) = decoder.feed(&chunk) else { return };
                for record in records {
                    if let Ok(v) = serde_json::from_slice::<Value>(&record)
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(Subscription { events, reader, seen: Vec::new() })
    }

    /// Waits for an event matching `pred` (HEARTBEATs included).
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                _ => panic!("no {what}; seen: {:#?}", self.seen),
            }
        }
    }
}

impl Subscription {
    /// Like [`Subscription::wait_for`], satisfied by an event seen earlier too.
    async fn seen_or_wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        match self.seen.iter().find(|e| pred(e)) {
            Some(e) => e.clone(),
            None => self.wait_for(what, pred).await,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_the_state_then_tasks_agents_and_frameworks_change() {
    let mut cluster =
        Cluster::start_custom(1, &["--heartbeat_interval=1secs", "--max_operator_event_stream_subscribers=1"], &[])
            .await;
    let master = cluster.master_addr();
    let http = reqwest::Client::new();
    let mut sub = Subscription::open(&http, &master).await.expect("subscribed");
    let first = sub.wait_for("SUBSCRIBED", |_| true).await;
    assert_eq!(first["type"], "SUBSCRIBED", "{first}");
    assert_eq!(first["subscribed"]["heartbeat_interval_seconds"], 1.0);
    let agents = first["subscribed"]["get_state"]["get_agents"]["agents"].as_array().expect("agents").clone();
    assert_eq!(agents.len(), 1, "{first}");
    let agent0 = agents[0]["agent_info"]["id"]["value"].as_str().expect("id").to_string();
    assert_eq!(first["subscribed"]["get_state"]["get_tasks"]["tasks"], json!([]));

    // One subscriber at most: the next is refused while this one is open.
    let (status, message) = Subscription::open(&http, &master).await.err().expect("refused");
    assert_eq!(status, 503, "{message}");
    assert!(message.contains("max_operator_event_stream_subscribers"), "{message}");

    // A framework comes and runs a task: FRAMEWORK_ADDED, TASK_ADDED, TASK_UPDATED.
    let fw = framework_with_task(&cluster, "web").await;
    let added = sub.wait_for("FRAMEWORK_ADDED", |e| e["type"] == "FRAMEWORK_ADDED").await;
    assert_eq!(added["framework_added"]["framework"]["framework_info"]["id"]["value"], fw.id.as_str());
    assert_eq!(added["framework_added"]["framework"]["connected"], true);
    let task = sub.wait_for("TASK_ADDED", |e| e["type"] == "TASK_ADDED").await;
    assert_eq!(task["task_added"]["task"]["task_id"]["value"], "web", "{task}");
    assert_eq!(task["task_added"]["task"]["state"], "TASK_STAGING", "{task}");
    let running = sub
        .wait_for("TASK_UPDATED to TASK_RUNNING", |e| {
            e["type"] == "TASK_UPDATED" && e["task_updated"]["state"] == "TASK_RUNNING"
        })
        .await;
    assert_eq!(running["task_updated"]["framework_id"]["value"], fw.id.as_str());
    assert_eq!(running["task_updated"]["status"]["task_id"]["value"], "web");
    assert_eq!(running["task_updated"]["status"]["state"], "TASK_RUNNING");
    sub.wait_for("HEARTBEAT", |e| e["type"] == "HEARTBEAT").await;

    // A second agent comes, the first one goes: AGENT_ADDED, then AGENT_REMOVED and its task lost.
    cluster.add_agent(1, &[]).await;
    let added = sub.wait_for("AGENT_ADDED", |e| e["type"] == "AGENT_ADDED").await;
    assert_eq!(added["agent_added"]["agent"]["agent_info"]["hostname"], "agent1", "{added}");
    assert_eq!(added["agent_added"]["agent"]["active"], true);
    cluster.agents[0].proc.kill();
    let removed = sub.wait_for("AGENT_REMOVED", |e| e["type"] == "AGENT_REMOVED").await;
    assert_eq!(removed["agent_removed"]["agent_id"]["value"], agent0.as_str());
    // The task's update may come before or after the agent's removal.
    let lost = sub
        .seen_or_wait_for("TASK_UPDATED to TASK_LOST", |e| {
            e["type"] == "TASK_UPDATED" && e["task_updated"]["state"] == "TASK_LOST"
        })
        .await;
    // A framework that does not checkpoint loses its tasks as soon as the agent disconnects.
    assert_eq!(lost["task_updated"]["status"]["state"], "TASK_LOST", "{lost}");
    assert_eq!(lost["task_updated"]["status"]["reason"], "REASON_AGENT_DISCONNECTED", "{lost}");
    assert_eq!(lost["task_updated"]["status"]["source"], "SOURCE_MASTER", "{lost}");

    // The framework is torn down: FRAMEWORK_REMOVED.
    assert_eq!(fw.teardown().await, 202);
    let gone = sub.wait_for("FRAMEWORK_REMOVED", |e| e["type"] == "FRAMEWORK_REMOVED").await;
    assert_eq!(gone["framework_removed"]["framework_info"]["id"]["value"], fw.id.as_str());

    // Once this subscriber leaves, another may subscribe, and hears the state as it is now.
    drop(sub);
    let mut next =
        eventually(LONG, "a new subscription", || async { Subscription::open(&http, &master).await.ok() }).await;
    let state = next.wait_for("SUBSCRIBED", |_| true).await;
    let agents = &state["subscribed"]["get_state"]["get_agents"]["agents"];
    assert_eq!(agents.as_array().map(Vec::len), Some(1), "{state}");
    assert_eq!(agents[0]["agent_info"]["hostname"], "agent1");
    assert_eq!(state["subscribed"]["get_state"]["get_frameworks"]["frameworks"], json!([]));
    assert_eq!(
        state["subscribed"]["get_state"]["get_frameworks"]["completed_frameworks"][0]["framework_info"]["id"]["value"],
        fw.id.as_str()
    );
}

/// pymesos' operator driver (`MesosOperatorMasterDriver`) reads the master with its calls
/// and subscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_operator_driver_reads_the_master_and_subscribes() {
    let cluster = Cluster::start(1).await;
    let _fw = framework_with_task(&cluster, "web").await;
    let master = cluster.master_addr();
    let path = workspace_root().join("tests/compat/pymesos_operator.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(&path).args(["--master", &master, "--timeout", "20"]).output().expect("run python")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("no JSON summary ({e}); stdout: {stdout}; stderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    assert!(out.status.success() && summary.get("error").is_none(), "{summary}");
    assert_eq!(summary["healthy"], true, "{summary}");
    assert_eq!(summary["state_tasks"], json!(["web"]), "{summary}");
    assert_eq!(summary["agents"], json!(["agent0"]), "{summary}");
    assert_eq!(summary["frameworks"], json!(["ops"]), "{summary}");
    assert_eq!(summary["tasks"], json!(["web"]), "{summary}");
    assert_eq!(summary["master_port"], cluster.master_port, "{summary}");
    assert_eq!(summary["tasks_running_metric"], 1.0, "{summary}");
    assert_eq!(summary["subscribed_tasks"], json!(["web"]), "{summary}");
}

/// The agent's `/monitor/statistics` and `/containers` read a running task's cgroups: the CPU
/// time of a busy loop grows, its memory shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_monitor_statistics_show_a_busy_tasks_cpu_time_growing_and_its_memory() {
    if !cgroups_available() {
        eprintln!("skipped: cgroups v1 are not available");
        return;
    }
    let cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("busy", false, &[])).await;
    let offer = fw.next_offers(LONG).await.into_iter().next().expect("an offer");
    // 40 MB held in a shell variable, then a busy loop.
    let cmd = "x=$(head -c 40000000 /dev/zero | tr '\\0' a); while :; do :; done";
    assert_eq!(fw.launch(&offer, vec![command_task(&offer, "busy", cmd, 0.5, 256.0)]).await, 202);
    fw.wait_state("busy", "TASK_RUNNING", LONG).await;

    let read = |path: &'static str| {
        let cluster = &cluster;
        async move {
            let r = cluster.agent_get(0, path).await;
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.expect("json")
        }
    };
    let busy =
        |entries: &Value| entries.as_array().expect("array").iter().find(|e| e["executor_id"] == "busy").cloned();
    let first = eventually(LONG, "the task's memory to show", || async {
        busy(&read("/monitor/statistics").await)
            .filter(|e| e["statistics"]["mem_rss_bytes"].as_u64().unwrap_or_default() > 30_000_000)
    })
    .await;
    assert_eq!(first["framework_id"], fw.id.as_str(), "{first}");
    assert_eq!(first["source"], "busy", "{first}");
    assert!(first["executor_name"].as_str().is_some_and(|n| !n.is_empty()), "{first}");
    let st = &first["statistics"];
    assert_eq!(st["cpus_limit"], 0.5, "{st}");
    assert_eq!(st["mem_limit_bytes"], 256 * 1024 * 1024, "{st}");
    assert!(
        st["mem_total_bytes"].as_u64().expect("mem_total_bytes") >= st["mem_rss_bytes"].as_u64().expect("rss"),
        "{st}"
    );
    assert!(st["processes"].as_u64().expect("processes") >= 1, "{st}");
    let cpu = |st: &Value| {
        st["cpus_user_time_secs"].as_f64().expect("user time")
            + st["cpus_system_time_secs"].as_f64().expect("system time")
    };
    let before = cpu(st);
    let grown = eventually(LONG, "the task's CPU time to grow", || async {
        let later = busy(&read("/monitor/statistics.json").await)?;
        (cpu(&later["statistics"]) >= before + 0.3).then_some(later)
    })
    .await;
    assert!(grown["statistics"]["timestamp"].as_f64() > st["timestamp"].as_f64(), "{grown}");

    let containers = read("/containers").await;
    let c = busy(&containers).expect("the task's container");
    assert_eq!(c["framework_id"], fw.id.as_str(), "{c}");
    let container_id = c["container_id"].as_str().expect("container_id");
    assert_eq!(c["status"]["container_id"]["value"], container_id, "{c}");
    assert!(c["statistics"]["cpus_user_time_secs"].as_f64().is_some(), "{c}");
    let state = cluster.agent_get(0, "/state").await.json::<Value>().await.expect("state");
    assert_eq!(state["frameworks"][0]["executors"][0]["container"], container_id, "{state}");

    assert_eq!(fw.teardown().await, 202);
    eventually(LONG, "no container listed", || async {
        read("/monitor/statistics").await.as_array().is_some_and(Vec::is_empty).then_some(())
    })
    .await;
}
