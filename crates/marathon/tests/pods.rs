//! Pods end to end: `marathon scheduler` on a real master and agent. A pod of two containers
//! runs as task groups, its status turns STABLE (health checked), it scales, an instance killed
//! is relaunched, a version is kept per change, and a delete removes it; what this cluster
//! cannot run is refused by name.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn pod(instances: u32) -> Value {
    json!({
        "id": "/shop/web",
        "scaling": {"kind": "fixed", "instances": instances},
        "environment": {"GREETING": "hello"},
        "containers": [
            {"name": "server", "resources": {"cpus": 0.1, "mem": 32},
             "exec": {"command": {"shell": "echo $GREETING > greeting && exec python3 -m http.server $ENDPOINT_HTTP"}},
             "endpoints": [{"name": "http", "hostPort": 0}],
             "healthCheck": {"http": {"endpoint": "http", "path": "/greeting"}, "gracePeriodSeconds": 30,
                             "intervalSeconds": 2, "timeoutSeconds": 1, "delaySeconds": 0}},
            {"name": "sidecar", "resources": {"cpus": 0.1, "mem": 16},
             "exec": {"command": {"argv": ["/bin/sleep", "1000"]}}}
        ]
    })
}

async fn wait_stable(marathon: &Marathon, instances: usize) -> Value {
    eventually(TIMEOUT, &format!("{instances} STABLE instances"), || async {
        let (status, body) = marathon.get("/v2/pods/shop/web::status").await;
        let stable = body["instances"].as_array()?.iter().filter(|i| i["status"] == "STABLE").count();
        (status == 200 && body["status"] == "STABLE" && stable == instances).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_its_containers_together_scales_relaunches_and_goes() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;

    let (status, _) = marathon.send(Method::HEAD, "/v2/pods", None).await;
    assert_eq!(status, 200, "pods are supported");
    let (status, created) = marathon.send(Method::POST, "/v2/pods", Some(pod(1))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "/shop/web");
    assert_eq!(created["executorResources"]["mem"], 32.0, "defaults filled in: {created}");
    let (status, again) = marathon.send(Method::POST, "/v2/pods", Some(pod(1))).await;
    assert_eq!(status, 409, "{again}");

    let body = wait_stable(&marathon, 1).await;
    let instance = &body["instances"][0];
    let containers = instance["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 2);
    assert!(containers.iter().all(|c| c["status"] == "TASK_RUNNING"), "{instance}");
    let port = containers[0]["endpoints"][0]["allocatedHostPort"].as_u64().expect("a host port");
    let greeting = reqwest::get(format!("http://127.0.0.1:{port}/greeting")).await.expect("GET").text().await;
    assert_eq!(greeting.expect("body").trim(), "hello", "the server container runs with the pod's environment");
    // Both containers are tasks of one executor on the master.
    let state = cluster.master_state().await;
    let tasks: Vec<&Value> = state["frameworks"][0]["tasks"].as_array().expect("tasks").iter().collect();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!(tasks[0]["executor_id"], tasks[1]["executor_id"], "one task group");
    // The group's tasks count as launched.
    let metrics = reqwest::get(marathon.url("/metrics/prometheus")).await.expect("GET").text().await.expect("text");
    let launched = metrics
        .lines()
        .find_map(|l| l.strip_prefix("marathon_tasks_launched_counter "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(launched, Some(2.0), "{metrics}");

    // A scale through PUT is a new version; both versions are kept.
    let (status, updated) = marathon.send(Method::PUT, "/v2/pods/shop/web", Some(pod(2))).await;
    assert_eq!(status, 200, "{updated}");
    let body = wait_stable(&marathon, 2).await;
    let (_, versions) = marathon.get("/v2/pods/shop/web::versions").await;
    let versions = versions.as_array().expect("versions").clone();
    assert_eq!(versions.len(), 2, "{versions:?}");
    let (status, first) =
        marathon.get(&format!("/v2/pods/shop/web::versions/{}", versions[1].as_str().unwrap_or_default())).await;
    assert_eq!((status, first["scaling"]["instances"].as_u64()), (200, Some(1)), "{first}");
    let (status, listed) = marathon.get("/v2/pods").await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
    // The pod is in its group, with its status; no app may take its id.
    let (status, group) = marathon.get("/v2/groups/shop").await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["pods"][0]["id"], "/shop/web", "{group}");
    assert_eq!(group["pods"][0]["status"], "STABLE", "{group}");
    let app = json!({"id": "/shop/web", "cmd": "sleep 100", "cpus": 0.1, "mem": 16});
    let (status, refused) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 422, "{refused}");

    // An instance killed is relaunched under the same id with its next incarnation.
    let killed_id = body["instances"][0]["id"].as_str().expect("id").to_string();
    let (status, killed) =
        marathon.send(Method::DELETE, &format!("/v2/pods/shop/web::instances/{killed_id}"), None).await;
    assert_eq!(status, 200, "{killed}");
    assert_eq!(killed["id"], killed_id.as_str());
    eventually(TIMEOUT, "the killed instance relaunched", || async {
        let (_, body) = marathon.get("/v2/pods/shop/web::status").await;
        let instance = body["instances"].as_array()?.iter().find(|i| i["id"] == killed_id.as_str())?.clone();
        let ids: Vec<String> = instance["containers"]
            .as_array()?
            .iter()
            .filter_map(|c| c["containerId"].as_str().map(str::to_string))
            .collect();
        (instance["status"] == "STABLE" && ids.iter().all(|id| id.ends_with(".2"))).then_some(())
    })
    .await;

    // What this cluster cannot run is refused by name.
    let mut imaged = pod(1);
    imaged["id"] = json!("/shop/imaged");
    imaged["containers"][1]["image"] = json!({"kind": "DOCKER", "id": "busybox"});
    let (status, refused) = marathon.send(Method::POST, "/v2/pods", Some(imaged)).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("/containers(1)/image"), "{refused}");

    let (status, deleted) = marathon.send(Method::DELETE, "/v2/pods/shop/web", None).await;
    assert_eq!(status, 202, "{deleted}");
    assert!(deleted["deploymentId"].is_string());
    eventually(TIMEOUT, "the pod's tasks gone", || async {
        let state = cluster.master_state().await;
        let live = state["frameworks"][0]["tasks"].as_array().map_or(0, Vec::len);
        (live == 0).then_some(())
    })
    .await;
    let (status, _) = marathon.get("/v2/pods/shop/web").await;
    assert_eq!(status, 404);

    // Deleting a group deletes the pods in it.
    let mut side = pod(1);
    side["id"] = json!("/shop/side");
    let (status, created) = marathon.send(Method::POST, "/v2/pods", Some(side)).await;
    assert_eq!(status, 201, "{created}");
    eventually(TIMEOUT, "the second pod running", || async {
        let (_, body) = marathon.get("/v2/pods/shop/side::status").await;
        (body["status"] == "STABLE").then_some(())
    })
    .await;
    let (status, deleted) = marathon.send(Method::DELETE, "/v2/groups/shop", None).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, _) = marathon.get("/v2/pods/shop/side").await;
    assert_eq!(status, 404);
    eventually(TIMEOUT, "the group's pod's tasks gone", || async {
        let state = cluster.master_state().await;
        let live = state["frameworks"][0]["tasks"].as_array().map_or(0, Vec::len);
        (live == 0).then_some(())
    })
    .await;
    cluster.teardown();
}
