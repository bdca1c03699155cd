//! Task groups (LAUNCH_GROUP with the DEFAULT executor) end to end: a real `marathon master`
//! and `marathon agent`, a framework on the v1 scheduler API over HTTP, real task processes.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

fn executor(id: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "executor_id": {"value": id},
        "type": "DEFAULT",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
    })
}

async fn launch_group(fw: &Framework, offer: &Value, executor: Value, tasks: Vec<Value>) -> u16 {
    fw.call(json!({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH_GROUP", "launch_group": {"executor": executor, "task_group": {"tasks": tasks}}}],
        "filters": {"refuse_seconds": 0.0}}}))
    .await
}

/// Waits until one offer holds `total` cpus (everything of the agent is free again) and
/// returns it. Every offer seen so far is declined first (offers of what was left over stay
/// outstanding otherwise), then each smaller one as it comes.
async fn offered_again(fw: &mut Framework, total: f64) -> Value {
    let seen: Vec<Value> = fw
        .seen
        .iter()
        .filter(|e| e["type"] == "OFFERS")
        .flat_map(|e| e["offers"]["offers"].as_array().cloned().unwrap_or_default())
        .collect();
    fw.decline_all(&seen).await;
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        for offer in fw.next_offers(left).await {
            let cpus: f64 = offer["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["name"] == "cpus")
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum();
            if (cpus - total).abs() < 1e-9 {
                return offer;
            }
            fw.decline_all(&[offer]).await;
        }
    }
}

async fn assert_no_leftovers(cluster: &Cluster) {
    eventually(LONG, "task processes and cgroups to be gone", || async {
        (cluster.sandbox_pids().is_empty() && cluster.cgroup_pids().is_empty() && cluster.cgroup_dirs().is_empty())
            .then_some(())
    })
    .await;
}

fn agent_used_cpus(state: &Value) -> f64 {
    state["slaves"][0]["used_resources"]["cpus"].as_f64().unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_runs_in_one_executor_and_its_resources_come_back_when_it_ends() {
    let cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("pods", true, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let tasks = vec![
        command_task(&offer, "a", "sleep 600", 0.5, 64.0),
        command_task(&offer, "b", "echo hello-from-b; sleep 600", 0.5, 64.0),
    ];
    assert_eq!(launch_group(&fw, &offer, executor("pod-1", 0.25, 32.0), tasks).await, 202);
    for t in ["a", "b"] {
        let running = fw.wait_state_seen(t, "TASK_RUNNING", LONG).await;
        assert_eq!(running["executor_id"]["value"], "pod-1", "{running}");
    }
    // The master: the tasks carry the executor's id, the executor is listed with its
    // resources, and the agent's used resources count it.
    let state = cluster.wait_state("the group running", |s| agent_used_cpus(s) == 1.25).await;
    let framework = &state["frameworks"][0];
    assert!(framework["tasks"].as_array().expect("tasks").iter().all(|t| t["executor_id"] == "pod-1"), "{state}");
    let executors = framework["executors"].as_array().expect("executors");
    assert_eq!(executors.len(), 1, "{state}");
    assert_eq!(executors[0]["executor_id"], "pod-1");
    assert_eq!(executors[0]["type"], "DEFAULT");
    assert_eq!(executors[0]["resources"]["cpus"], 0.25);
    assert_eq!(framework["used_resources"]["cpus"], 1.25);
    // The agent: one executor with both tasks, each task's sandbox in it.
    let agent_state: Value = cluster.agent_get(0, "/state").await.json().await.expect("json");
    let agent_executors = agent_state["frameworks"][0]["executors"].as_array().expect("executors");
    assert_eq!(agent_executors.len(), 1, "{agent_state}");
    assert_eq!(agent_executors[0]["id"], "pod-1");
    assert_eq!(agent_executors[0]["tasks"].as_array().map(Vec::len), Some(2));
    let path = format!("/frameworks/{}/executors/pod-1/runs/latest/tasks/b/stdout", fw.id);
    let body = eventually(LONG, "b's stdout", || async {
        let r = cluster.agent_get(0, &format!("/files/read?path={path}&offset=0")).await;
        let body: Value = r.json().await.ok()?;
        body["data"].as_str().unwrap_or_default().contains("hello-from-b").then_some(body)
    })
    .await;
    assert_eq!(body["offset"], 0);
    // A kill of one task ends the group; then the whole offer comes back.
    assert_eq!(fw.call(json!({"type": "KILL", "kill": {"task_id": {"value": "a"}}})).await, 202);
    for t in ["a", "b"] {
        let killed = fw.wait_state_seen(t, "TASK_KILLED", LONG).await;
        assert_eq!(killed["executor_id"]["value"], "pod-1");
    }
    let state = cluster.wait_state("the group's resources free", |s| agent_used_cpus(s) == 0.0).await;
    assert_eq!(state["frameworks"][0]["executors"].as_array().map(Vec::len), Some(0), "{state}");
    let offer = offered_again(&mut fw, 4.0).await;

    // One task exits non-zero: the other is killed. One exits 0: the other keeps running.
    let tasks = vec![
        command_task(&offer, "fails", "sleep 1; exit 2", 0.5, 64.0),
        command_task(&offer, "victim", "sleep 600", 0.5, 64.0),
    ];
    assert_eq!(launch_group(&fw, &offer, executor("pod-2", 0.25, 32.0), tasks).await, 202);
    let failed = fw.wait_state_seen("fails", "TASK_FAILED", LONG).await;
    assert_eq!(failed["message"], "Command exited with status 2");
    fw.wait_state_seen("victim", "TASK_KILLED", LONG).await;
    let offer = offered_again(&mut fw, 4.0).await;
    let tasks = vec![
        command_task(&offer, "finishes", "sleep 1", 0.5, 64.0),
        command_task(&offer, "stays", "sleep 600", 0.5, 64.0),
    ];
    assert_eq!(launch_group(&fw, &offer, executor("pod-3", 0.25, 32.0), tasks).await, 202);
    fw.wait_state_seen("finishes", "TASK_FINISHED", LONG).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    while tokio::time::timeout(Duration::from_millis(200), fw.next_event(Duration::from_millis(200))).await.is_ok() {}
    assert_eq!(fw.states_of("stays"), ["TASK_STARTING", "TASK_RUNNING"]);
    // The finished task's share is free, the executor's is held while "stays" runs.
    cluster.wait_state("pod-3 with one task left", |s| agent_used_cpus(s) == 0.75).await;
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_task_group_is_task_error_for_every_task_and_nothing_runs() {
    let cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("bad-pods", false, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let mut docker = command_task(&offer, "d2", "sleep 600", 0.5, 64.0);
    docker["container"] = json!({"type": "DOCKER", "docker": {"image": "busybox"}});
    let tasks = vec![command_task(&offer, "d1", "sleep 600", 0.5, 64.0), docker];
    assert_eq!(launch_group(&fw, &offer, executor("pod-d", 0.25, 32.0), tasks).await, 202);
    for t in ["d1", "d2"] {
        let error = fw.wait_state_seen(t, "TASK_ERROR", LONG).await;
        assert_eq!(error["reason"], "REASON_TASK_GROUP_INVALID", "{error}");
        assert!(error["message"].as_str().unwrap_or_default().contains("Docker"), "{error}");
    }
    let offer = fw.next_offers(LONG).await.remove(0);
    let tasks = vec![
        command_task(&offer, "same", "sleep 600", 0.5, 64.0),
        command_task(&offer, "same", "sleep 600", 0.5, 64.0),
    ];
    assert_eq!(launch_group(&fw, &offer, executor("pod-e", 0.25, 32.0), tasks).await, 202);
    let error = fw.wait_state_seen("same", "TASK_ERROR", LONG).await;
    assert_eq!(error["reason"], "REASON_TASK_GROUP_INVALID", "{error}");
    assert!(error["message"].as_str().unwrap_or_default().contains("Duplicate task 'same'"), "{error}");
    // One per task.
    fw.wait_for(LONG, "the second TASK_ERROR", |e| e["update"]["status"]["task_id"]["value"] == "same").await;
    assert_eq!(fw.states_of("same"), ["TASK_ERROR", "TASK_ERROR"]);
    // Nothing was launched.
    let agent_state: Value = cluster.agent_get(0, "/state").await.json().await.expect("json");
    assert!(agent_state["frameworks"].as_array().is_none_or(Vec::is_empty), "{agent_state}");
    assert!(cluster.sandbox_pids().is_empty());
    offered_again(&mut fw, 4.0).await;
}

/// `kill -9` of the agent while a group runs, and of the master: the restarted agent takes the
/// tasks back (and reports the executor, so the restarted master counts its resources again),
/// and a task that fails afterwards still ends the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_survives_agent_and_master_restarts_and_keeps_its_rule() {
    let mut cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("pods", true, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let tasks =
        vec![command_task(&offer, "p", "sleep 600", 0.5, 64.0), command_task(&offer, "q", "sleep 600", 0.5, 64.0)];
    assert_eq!(launch_group(&fw, &offer, executor("pod-r", 0.25, 32.0), tasks).await, 202);
    let p = fw.wait_state_seen("p", "TASK_RUNNING", LONG).await;
    fw.wait_state_seen("q", "TASK_RUNNING", LONG).await;
    let p_pid = p["container_status"]["executor_pid"].as_i64().expect("p's pid") as i32;
    let before = cluster.sandbox_pids();

    cluster.agents[0].proc.kill();
    cluster.restart_agent(0).await;
    cluster.kill_master();
    cluster.start_master().await;
    // The agent comes back to the new master with both tasks and the executor's resources.
    let state = cluster
        .wait_state("the agent back with the group", |s| {
            s["slaves"].as_array().is_some_and(|a| a.len() == 1 && a[0]["active"] == true) && agent_used_cpus(s) == 1.25
        })
        .await;
    let framework = &state["frameworks"][0];
    assert_eq!(framework["executors"][0]["executor_id"], "pod-r", "{state}");
    assert!(framework["tasks"].as_array().expect("tasks").iter().all(|t| t["executor_id"] == "pod-r"), "{state}");
    let after = cluster.sandbox_pids();
    assert!(after.iter().all(|p| before.contains(p)), "the same task processes: {before:?} -> {after:?}");
    let agent_state: Value = cluster.agent_get(0, "/state").await.json().await.expect("json");
    assert_eq!(agent_state["frameworks"][0]["executors"][0]["tasks"].as_array().map(Vec::len), Some(2));

    // The framework subscribes to the new master; p dies: q is killed.
    drop(fw);
    let mut info = framework_info("pods", true, &[]);
    info["id"] = json!({"value": state["frameworks"][0]["id"]});
    let mut fw = Framework::subscribe(&cluster.master_addr(), info).await;
    signal(p_pid, "KILL");
    let failed = fw.wait_state_seen("p", "TASK_FAILED", LONG).await;
    assert_eq!(failed["executor_id"]["value"], "pod-r");
    fw.wait_state_seen("q", "TASK_KILLED", LONG).await;
    cluster.wait_state("the group's resources free", |s| agent_used_cpus(s) == 0.0).await;
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}
