//! Marathon end to end: `marathon scheduler` on a real master and agent, driven through its REST
//! API by the `marathon` Python client and by plain HTTP.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_runs_scales_kills_and_deletes_a_web_app() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let script = workspace_root().join("tests/compat/marathon_web_app.py");
    let url = marathon.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(script).args(["--url", &url, "--timeout", "60"]).output()
    })
    .await
    .expect("join")
    .expect("run the marathon client program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "marathon client program failed: {stdout}\n{}\nscheduler log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        marathon.proc.log_text()
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["deployments_after_create"], 1, "{seen}");
    assert_eq!(seen["ports"].as_array().map(Vec::len), Some(5), "{seen}");

    // Deleting the app killed every process and removed every cgroup.
    eventually(Duration::from_secs(20), "every task process and cgroup to be gone", || async {
        (cluster.cgroup_pids().is_empty() && cluster.cgroup_dirs().is_empty() && cluster.sandbox_pids().is_empty())
            .then_some(())
    })
    .await;
    assert!(cluster.teardown().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_get_422_with_details_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No master: the REST API validates and stores without one.
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&unreachable_master, &dir.path().join("marathon"), &[]).await;
    let cases = [
        (json!({"id": "neg", "cmd": "sleep 1", "cpus": -1}), "/cpus"),
        (json!({"id": "both", "cmd": "sleep 1", "args": ["sleep", "1"]}), "/"),
        (json!({"id": "Bad_Id!", "cmd": "sleep 1"}), "/id"),
        (json!({"id": "op", "cmd": "sleep 1", "constraints": [["hostname", "SOMETIMES"]]}), "/constraints(0)"),
    ];
    for (body, path) in cases {
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(body.clone())).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert_eq!(answer["message"], "Object is not valid", "{answer}");
        let details = answer["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d["path"] == path && d["errors"].as_array().is_some_and(|e| !e.is_empty())),
            "{body}: no error at {path} in {answer}"
        );
    }
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/neg", Some(json!({"cpus": -2}))).await;
    assert_eq!(status, 422, "{answer}");

    let response = marathon
        .http
        .post(marathon.url("/v2/apps"))
        .header("Content-Type", "application/json")
        .body("{\"id\": ")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["message"], "Invalid JSON", "{answer}");

    let (status, answer) = marathon.get("/v2/apps").await;
    assert_eq!((status, answer), (200, json!({"apps": []})));
    let (status, _) = marathon.get("/v2/apps/neg").await;
    assert_eq!(status, 404);
    let (_, deployments) = marathon.get("/v2/deployments").await;
    assert_eq!(deployments, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_during_a_scale_up_finishes_it_after_a_restart() {
    let mut cluster = Cluster::start(1).await;
    let mut marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app =
        json!({"id": "sleepy", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2, "portDefinitions": []});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let before = marathon.wait_running("sleepy", 2, TIMEOUT).await;

    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/sleepy", Some(json!({"instances": 12}))).await;
    assert_eq!(status, 200, "{answer}");
    marathon.kill9_and_restart().await;

    let after = marathon.wait_running("sleepy", 12, TIMEOUT).await;
    assert!(ids(&before).is_subset(&ids(&after)), "a running task was restarted: {before:?} vs {after:?}");
    let instances: BTreeSet<&str> = after.iter().filter_map(|t| t["id"].as_str()?.split("._app.").next()).collect();
    assert_eq!(instances.len(), 12, "duplicated instances: {after:?}");

    // The master agrees: exactly 12 active tasks, no orphan launched before the kill.
    let state = cluster
        .wait_state("12 running tasks on the master", |s| {
            let tasks = s["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|f| f["tasks"].as_array().into_iter().flatten().filter(|t| t["state"] == "TASK_RUNNING"));
            tasks.count() == 12
        })
        .await;
    let active: usize =
        state["frameworks"].as_array().into_iter().flatten().map(|f| f["tasks"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(active, 12, "{state}");
    let (_, app) = marathon.get("/v2/apps/sleepy").await;
    assert_eq!(app["app"]["instances"], 12);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_app_backs_off_with_growing_delays_until_the_delay_is_reset() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({
        "id": "crashy", "cmd": "exit 1", "cpus": 0.01, "mem": 8, "portDefinitions": [],
        "backoffSeconds": 1, "backoffFactor": 3, "maxLaunchDelaySeconds": 300
    });
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");

    // The delay after each failure grows: 1 s, 3 s, 9 s.
    let mut delays = Vec::new();
    let mut failures_seen = BTreeSet::new();
    while delays.len() < 3 {
        let (failed_task, delay) = eventually(TIMEOUT, "the next failure and its backoff", || async {
            let (_, app) = marathon.get("/v2/apps/crashy").await;
            let failed = app["app"]["lastTaskFailure"]["taskId"].as_str()?.to_string();
            if failures_seen.contains(&failed) {
                return None;
            }
            let (_, queue) = marathon.get("/v2/queue").await;
            let item = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == "/crashy")?.clone();
            let delay = item["delay"].clone();
            (delay["overdue"] == false).then(|| (failed, delay["timeLeftSeconds"].as_u64().unwrap_or(0)))
        })
        .await;
        failures_seen.insert(failed_task);
        delays.push(delay);
    }
    assert!(delays[1] > delays[0] && delays[2] > delays[1], "delays did not grow: {delays:?}");
    assert!(delays[2] >= 5, "third delay should be about 9 s: {delays:?}");

    let response = marathon.http.delete(marathon.url("/v2/queue/crashy/delay")).send().await.expect("DELETE");
    assert_eq!(response.status().as_u16(), 204);
    let (_, queue) = marathon.get("/v2/queue").await;
    let item = queue["queue"].as_array().and_then(|q| q.first()).cloned().unwrap_or(Value::Null);
    assert_eq!(item["delay"]["overdue"], true, "{queue}");
    // Relaunched at once, long before the 9 s delay would have ended.
    let last = failures_seen.clone();
    eventually(Duration::from_secs(5), "a relaunch right after the reset", || async {
        let (_, app) = marathon.get("/v2/apps/crashy").await;
        let failed = app["app"]["lastTaskFailure"]["taskId"].as_str()?.to_string();
        (!last.contains(&failed)).then_some(())
    })
    .await;

    let response = marathon.http.delete(marathon.url("/v2/queue/unknown/delay")).send().await.expect("DELETE");
    assert_eq!(response.status().as_u16(), 404);
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/crashy", None).await;
    assert_eq!(status, 200);
    cluster.teardown();
}
