//! Master failover with Marathon on top: master, agents and Marathon as separate processes. The
//! master keeps its registry (admitted agents) in its work dir, so a restarted master knows
//! which agents to expect back and does not let Marathon replace tasks that merely have not
//! been reported again yet.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

/// Samples the number of processes in the cluster's container cgroups until dropped; the
/// largest count seen.
struct ProcessCount {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProcessCount {
    fn watch(cgroups_root: &str) -> ProcessCount {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let (root, s, m) = (cgroups_root.to_string(), stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max(cgroup_root_pids(&root).len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        ProcessCount { stop, max, thread: Some(thread) }
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for ProcessCount {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn framework_tasks(state: &Value) -> Vec<Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_master_restarts_before_the_agent_is_back_replace_no_task() {
    if !cgroups_available() {
        eprintln!("skipped: needs root and cgroups v1");
        return;
    }
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app =
        json!({"id": "steady", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 20, "portDefinitions": []});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let tasks = ids(&marathon.wait_running("steady", 20, TIMEOUT).await);
    let pids = eventually(TIMEOUT, "20 task processes", || async {
        let pids = cluster.cgroup_pids();
        (pids.len() == 20).then_some(pids)
    })
    .await;
    let flags = cluster.http.get(format!("http://{}/master/flags", cluster.master_addr())).send().await;
    let flags: Value = flags.expect("GET /master/flags").json().await.expect("json");
    assert_eq!(flags["flags"]["registry"], "work_dir");
    let processes = ProcessCount::watch(&cluster.cgroups_root);

    for round in 1..=20 {
        // The agent is held back while the master restarts, so that Marathon subscribes to the
        // new master and reconciles before the agent has reregistered.
        let agent = cluster.agents[0].proc.pid();
        signal(agent, "STOP");
        cluster.kill_master();
        cluster.start_master().await;
        eventually(TIMEOUT, "Marathon reconciling with the new master", || async {
            let m = cluster.master_metrics().await;
            (m["master/messages_reconcile_tasks"].as_f64().unwrap_or_default() >= 2.0).then_some(())
        })
        .await;
        let state = cluster.master_state().await;
        assert_eq!(state["recovered_slaves"].as_array().map(Vec::len), Some(1), "round {round}: {state}");
        signal(agent, "CONT");
        cluster
            .wait_state("the agent back with its 20 tasks", |s| {
                s["slaves"].as_array().is_some_and(|a| a.iter().any(|x| x["active"] == true))
                    && framework_tasks(s).len() >= 20
            })
            .await;
        let now = ids(&marathon.wait_running("steady", 20, TIMEOUT).await);
        assert_eq!(now, tasks, "round {round}: tasks were replaced");
        assert!(processes.max() <= 20, "round {round}: {} task processes at once", processes.max());
    }
    // Give a replacement decided late a chance to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ids(&marathon.wait_running("steady", 20, TIMEOUT).await), tasks);
    assert_eq!(cluster.cgroup_pids(), pids, "the same processes throughout");
    assert!(processes.max() <= 20, "{} task processes at once", processes.max());
    let state = cluster.master_state().await;
    assert_eq!(state["unreachable_slaves"], 0, "{state}");
    drop(processes);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_comes_back_is_marked_unreachable_and_its_tasks_replaced() {
    if !cgroups_available() {
        eprintln!("skipped: needs root and cgroups v1");
        return;
    }
    let mut cluster = Cluster::start_custom(1, &["--agent_reregister_timeout", "3secs"], &[]).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({"id": "moved", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 3, "portDefinitions": []});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let old = ids(&marathon.wait_running("moved", 3, TIMEOUT).await);

    // The master and agent0 die; only the master comes back, and a new agent joins.
    cluster.agents[0].proc.kill();
    cluster.kill_master();
    cluster.start_master().await;
    let restarted = Instant::now();
    cluster.add_agent(1, &[]).await;
    cluster
        .wait_state("agent1 registered", |s| {
            s["slaves"].as_array().is_some_and(|a| a.iter().any(|x| x["hostname"] == "agent1" && x["active"] == true))
        })
        .await;

    // Until the timeout, Marathon keeps the tasks it cannot hear about.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, body) = marathon.get("/v2/apps/moved").await;
    let kept = ids(body["app"]["tasks"].as_array().expect("tasks"));
    assert!(restarted.elapsed() < Duration::from_secs(3), "too slow to check before the timeout");
    assert_eq!(kept, old, "tasks replaced before the agent's reregister timeout");
    let state = cluster.master_state().await;
    assert_eq!(state["recovered_slaves"][0]["hostname"], "agent0", "{state}");

    // Then agent0 is unreachable and its tasks run again on agent1.
    let replaced = eventually(TIMEOUT, "the tasks replaced on agent1", || async {
        let (_, body) = marathon.get("/v2/apps/moved").await;
        let tasks = body["app"]["tasks"].as_array()?.clone();
        let moved = tasks.len() == 3
            && tasks.iter().all(|t| t["state"] == "TASK_RUNNING" && t["host"] == "agent1")
            && ids(&tasks).is_disjoint(&old);
        moved.then_some(tasks)
    })
    .await;
    assert!(restarted.elapsed() >= Duration::from_secs(3), "replaced before the timeout");
    assert_eq!(replaced.len(), 3);
    let state = cluster.master_state().await;
    assert_eq!(state["unreachable_slaves"], 1, "{state}");
    assert_eq!(state["recovered_slaves"], json!([]), "{state}");
    let metrics = cluster.master_metrics().await;
    assert_eq!(metrics["master/recovery_slave_removals"], 1.0, "{metrics}");

    // The mark is durable: after another restart agent0 is still unreachable, not expected,
    // and agent1 is back at once.
    cluster.kill_master();
    cluster.start_master().await;
    let state = cluster
        .wait_state("agent1 back after the second restart", |s| {
            s["slaves"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["hostname"] == "agent1" && a[0]["active"] == true)
        })
        .await;
    assert_eq!(state["unreachable_slaves"], 1, "{state}");
    assert_eq!(state["recovered_slaves"], json!([]), "{state}");
    cluster.teardown();
}
