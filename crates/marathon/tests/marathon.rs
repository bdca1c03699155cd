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
    // Relaunched at once, long before the 9 s delay would have ended; its failure starts the
    // backoff over at 1 s.
    let last = failures_seen.clone();
    eventually(Duration::from_secs(5), "a relaunch right after the reset", || async {
        let (_, app) = marathon.get("/v2/apps/crashy").await;
        let failed = app["app"]["lastTaskFailure"]["taskId"].as_str()?.to_string();
        if last.contains(&failed) {
            return None;
        }
        let (_, queue) = marathon.get("/v2/queue").await;
        let item = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == "/crashy")?.clone();
        let left = item["delay"]["timeLeftSeconds"].as_u64()?;
        assert!(left <= 1, "the delay did not start over: {item}");
        Some(())
    })
    .await;

    let response = marathon.http.delete(marathon.url("/v2/queue/unknown/delay")).send().await.expect("DELETE");
    assert_eq!(response.status().as_u16(), 404);
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/crashy", None).await;
    assert_eq!(status, 200);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_kills_unknown_tasks_and_replaces_tasks_the_master_lost() {
    let mut cluster = Cluster::start(1).await;
    let work_dir = cluster.dir.path().join("marathon");
    let mut marathon = Marathon::start(&cluster.master_addr(), &work_dir, &[]).await;
    let app = json!({"id": "rec", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2, "portDefinitions": []});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let first = ids(&marathon.wait_running("rec", 2, TIMEOUT).await);

    // A backup of the state with tasks {a, b}.
    let state_file = work_dir.join("marathon-state.redb");
    let backup = cluster.dir.path().join("backup.redb");
    marathon.kill9_and_restart().await;
    marathon.proc.kill();
    std::fs::copy(&state_file, &backup).expect("back up the state");
    marathon.kill9_and_restart().await;

    // Task a is wiped: its instance is replaced by a new one, c. The master now runs {b, c}.
    let a = first.iter().next().expect("a task").clone();
    let (status, answer) = marathon.send(Method::DELETE, &format!("/v2/apps/rec/tasks/{a}?wipe=true"), None).await;
    assert_eq!(status, 200, "{answer}");
    let second = eventually(TIMEOUT, "a replaced by a new task", || async {
        let now = ids(&marathon.wait_running("rec", 2, TIMEOUT).await);
        (!now.contains(&a)).then_some(now)
    })
    .await;
    let c = second.difference(&first).next().expect("a new task").clone();

    // Restored from the backup, Marathon expects {a, b}: reconciliation kills c, which it does
    // not know, and relaunches a's instance, which the master does not know.
    marathon.proc.kill();
    std::fs::copy(&backup, &state_file).expect("restore the state");
    marathon.kill9_and_restart().await;
    let a_instance = a.split("._app.").next().expect("instance id").to_string();
    let converged = eventually(TIMEOUT, "a relaunched and c killed", || async {
        let tasks = marathon.wait_running("rec", 2, TIMEOUT).await;
        let now = ids(&tasks);
        let relaunched = now.iter().any(|t| t.starts_with(&a_instance) && *t != a);
        (relaunched && !now.contains(&c)).then_some(now)
    })
    .await;
    cluster
        .wait_state("the master to see c killed", |s| {
            s["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|f| f["tasks"].as_array().into_iter().flatten().all(|t| t["id"] != c.as_str()))
        })
        .await;
    assert_eq!(converged.len(), 2);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_lists_filter_by_cmd_id_and_label_selector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&unreachable_master, &dir.path().join("marathon"), &[]).await;
    for (id, cmd, labels) in [
        ("/prod/web", "python3 -m http.server", json!({"tier": "front", "env": "prod"})),
        ("/prod/db", "postgres", json!({"tier": "back", "env": "prod"})),
        ("/dev/web", "python3 -m HTTP.server --dev", json!({"tier": "front", "env": "dev"})),
        ("/dev/tools", "sleep 600", json!({})),
    ] {
        let app = json!({"id": id, "cmd": cmd, "labels": labels, "instances": 0});
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let listed = |query: &'static str| {
        let marathon = &marathon;
        async move {
            let (status, body) = marathon.get(&format!("/v2/apps?{query}")).await;
            assert_eq!(status, 200, "{query}: {body}");
            body["apps"]
                .as_array()
                .expect("apps")
                .iter()
                .map(|a| a["id"].as_str().unwrap_or("").to_string())
                .collect::<BTreeSet<_>>()
        }
    };
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(listed("cmd=http.server").await, set(&["/prod/web", "/dev/web"]));
    assert_eq!(listed("id=PROD").await, set(&["/prod/web", "/prod/db"]));
    assert_eq!(listed("label=tier==front").await, set(&["/prod/web", "/dev/web"]));
    assert_eq!(listed("label=tier%3D%3Dfront,env%3D%3Dprod").await, set(&["/prod/web"]));
    assert_eq!(listed("label=env").await, set(&["/prod/web", "/prod/db", "/dev/web"]));
    assert_eq!(listed("label=tier%20in%20(back,middle)").await, set(&["/prod/db"]));
    assert_eq!(listed("label=env%20notin%20(prod)").await, set(&["/dev/web"]));
    let (_, group) = marathon.get("/v2/apps/prod/*").await;
    assert_eq!(group["*"].as_array().map(Vec::len), Some(2), "{group}");
    let (status, _) = marathon.get("/v2/apps?label=tier%20in%20(").await;
    assert_eq!(status, 400);

    // Like upstream, every selector requires the label to exist (`notin` included).
    assert_eq!(listed("label=env!%3Dprod").await, set(&["/dev/web"]));
    // Every embed value is accepted, with both prefixes and repeated.
    let (status, body) =
        marathon.get("/v2/apps?embed=apps.tasks&embed=app.counts&embed=apps.lastTaskFailure&embed=apps.taskStats&embed=apps.readiness&embed=apps.failures&embed=apps.deployments").await;
    assert_eq!(status, 200);
    let app = &body["apps"][0];
    for key in ["tasks", "tasksRunning", "deployments", "readinessCheckResults", "taskStats"] {
        assert!(app.get(key).is_some(), "{key} missing in {app}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_versions_rollback_and_batch_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&unreachable_master, &dir.path().join("marathon"), &[]).await;

    // PUT creates (201 + Location), PATCH changes, versions list newest first.
    let (status, created) =
        marathon.send(Method::PUT, "/v2/apps/svc", Some(json!({"cmd": "sleep 1", "instances": 1}))).await;
    assert_eq!(status, 201, "{created}");
    // Without a master the creation never finishes: its deployment locks the app.
    let (status, locked) = marathon.send(Method::PATCH, "/v2/apps/svc", Some(json!({"cmd": "sleep 2"}))).await;
    assert_eq!(status, 409, "{locked}");
    assert_eq!(locked["deployments"][0]["id"], created["deploymentId"], "{locked}");
    let (status, changed) =
        marathon.send(Method::PATCH, "/v2/apps/svc?force=true", Some(json!({"cmd": "sleep 2"}))).await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed["deploymentId"].is_string() && changed["version"].is_string(), "{changed}");
    let (_, versions) = marathon.get("/v2/apps/svc/versions").await;
    let versions: Vec<String> = serde_json::from_value(versions["versions"].clone()).expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], changed["version"].as_str().expect("version"));
    let (status, first) = marathon.get(&format!("/v2/apps/svc/versions/{}", versions[1])).await;
    assert_eq!(status, 200);
    assert_eq!(first["cmd"], "sleep 1");

    // Rolling back makes the old definition current again (as a new version).
    // (Rollback through an update is a new version; DELETE /v2/deployments restores exactly.)
    let (status, answer) =
        marathon.send(Method::PUT, "/v2/apps/svc?force=true", Some(json!({"version": versions[1]}))).await;
    assert_eq!(status, 200, "{answer}");
    let (_, app) = marathon.get("/v2/apps/svc").await;
    assert_eq!(app["app"]["cmd"], "sleep 1");
    assert_eq!(app["app"]["versionInfo"]["lastConfigChangeAt"], app["app"]["version"]);
    let (status, _) = marathon
        .send(Method::PUT, "/v2/apps/svc?force=true", Some(json!({"version": "2001-01-01T00:00:00.000Z"})))
        .await;
    assert_eq!(status, 404);
    let (status, _) = marathon.get("/v2/apps/svc/versions/2001-01-01T00:00:00.000Z").await;
    assert_eq!(status, 404);

    // A scale-only change keeps lastConfigChangeAt.
    let config_change = app["app"]["versionInfo"]["lastConfigChangeAt"].clone();
    let (status, _) = marathon.send(Method::PUT, "/v2/apps/svc?force=true", Some(json!({"instances": 0}))).await;
    assert_eq!(status, 200);
    let (_, app) = marathon.get("/v2/apps/svc").await;
    assert_eq!(app["app"]["versionInfo"]["lastConfigChangeAt"], config_change);

    // PATCH of an unknown app is 404; POST of an existing one 409.
    let (status, _) = marathon.send(Method::PATCH, "/v2/apps/nope", Some(json!({"cmd": "x"}))).await;
    assert_eq!(status, 404);
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(json!({"id": "svc", "cmd": "sleep 1"}))).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["message"], "An app with id [/svc] already exists.");

    // Batch PUT creates and updates in one deployment; ids without a slash are absolute.
    let batch =
        json!([{"id": "svc", "instances": 0, "cmd": "sleep 3"}, {"id": "other", "cmd": "sleep 4", "instances": 0}]);
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps?force=true", Some(batch)).await;
    assert_eq!(status, 200, "{answer}");
    let (_, svc) = marathon.get("/v2/apps/svc").await;
    assert_eq!(svc["app"]["cmd"], "sleep 3");
    let (status, _) = marathon.get("/v2/apps/other").await;
    assert_eq!(status, 200);
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps", Some(json!([{"cmd": "sleep 1"}]))).await;
    assert_eq!(status, 422, "{answer}");

    // Restart and delete answer with deployments; unknown apps are 404.
    let response = marathon.http.post(marathon.url("/v2/apps/svc/restart?force=true")).send().await.expect("restart");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("marathon-deployment-id"));
    assert!(response.headers().contains_key("x-marathon-leader"));
    let (status, _) = marathon.send(Method::POST, "/v2/apps/nope/restart", None).await;
    assert_eq!(status, 404);
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/other?force=True", None).await;
    assert_eq!(status, 200);
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/other", None).await;
    assert_eq!(status, 404);

    // The state survives a restart.
    let mut marathon = marathon;
    marathon.kill9_and_restart().await;
    let (_, apps) = marathon.get("/v2/apps").await;
    let ids: Vec<&str> = apps["apps"].as_array().expect("apps").iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, ["/svc"]);
    let (_, svc) = marathon.get("/v2/apps/svc").await;
    assert_eq!(svc["app"]["cmd"], "sleep 3");
}

/// Files named `name` below `dir` (the agent's sandboxes).
fn find_files(dir: &std::path::Path, name: &str, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            find_files(&path, name, out);
        } else if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_get_marathons_environment_and_their_ports() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({
        "id": "/tools/envy", "cmd": "env > env.txt && sleep 600", "cpus": 0.01, "mem": 8,
        "env": {"GREETING": "hello"}, "labels": {"team": "infra"},
        "portDefinitions": [{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}]
    });
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{created}");
    let service_ports: Vec<u64> =
        created["portDefinitions"].as_array().expect("ports").iter().filter_map(|p| p["port"].as_u64()).collect();
    assert_eq!(service_ports.len(), 2);
    assert!(service_ports.iter().all(|p| (10_000..=20_000).contains(p)), "{service_ports:?}");
    let task = marathon.wait_running("tools/envy", 1, TIMEOUT).await.remove(0);
    let host_ports: Vec<String> = task["ports"].as_array().expect("ports").iter().map(|p| p.to_string()).collect();

    let env = eventually(TIMEOUT, "the task's env.txt", || async {
        let mut files = Vec::new();
        find_files(&cluster.agents[0].work_dir, "env.txt", &mut files);
        let text = std::fs::read_to_string(files.first()?).ok()?;
        let env: std::collections::BTreeMap<String, String> =
            text.lines().filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect();
        env.contains_key("PORTS").then_some(env)
    })
    .await;
    let get = |key: &str| env.get(key).map(String::as_str).unwrap_or_default();
    assert_eq!(get("PORT0"), host_ports[0]);
    assert_eq!(get("PORT1"), host_ports[1]);
    assert_eq!(get("PORT"), host_ports[0]);
    assert_eq!(get("PORTS"), host_ports.join(","));
    assert_eq!(get("PORT_HTTP"), host_ports[0]);
    assert_eq!(get("PORT_ADMIN"), host_ports[1]);
    assert_eq!(get(&format!("PORT_{}", service_ports[0])), host_ports[0]);
    assert_eq!(get("HOST"), "agent0");
    assert_eq!(get("MARATHON_APP_ID"), "/tools/envy");
    assert_eq!(get("MARATHON_APP_VERSION"), created["version"].as_str().expect("version"));
    assert_eq!(get("MESOS_TASK_ID"), task["id"].as_str().expect("task id"));
    assert_eq!(get("MARATHON_APP_LABEL_TEAM"), "infra");
    assert_eq!(get("GREETING"), "hello");
    assert!(get("MESOS_TASK_ID").starts_with("tools_envy.instance-"), "{env:?}");
    let (_, tasks) = marathon.get("/v2/tasks").await;
    let listed = &tasks["tasks"][0];
    assert_eq!(listed["servicePorts"], json!(service_ports), "{tasks}");
    assert_eq!(listed["ports"], task["ports"]);
    cluster.teardown();
}

fn health_checked_web_app(id: &str, instances: u32) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.02, "mem": 24,
        "cmd": "echo ok > health && exec python3 -m http.server $PORT0",
        "healthChecks": [{
            "protocol": "HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": 1,
            "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 2
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_failing_its_health_checks_is_killed_and_replaced() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let events = follow_events(&marathon.url(""), "");
    eventually(TIMEOUT, "the event stream", || async {
        events.lock().expect("lock").iter().any(|e| e.kind == "event_stream_attached").then_some(())
    })
    .await;
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(health_checked_web_app("hc", 1))).await;
    assert_eq!(status, 201, "{answer}");
    let healthy_task = || async {
        let (_, app) = marathon.get("/v2/apps/hc").await;
        let app = &app["app"];
        let task = app["tasks"].as_array()?.first()?.clone();
        let alive = task["healthCheckResults"].as_array()?.first()?["alive"] == true;
        (app["tasksHealthy"] == 1 && alive && app["deployments"] == json!([])).then_some(task)
    };
    let first = eventually(TIMEOUT, "a healthy task", healthy_task).await;

    // The health endpoint starts failing: the task is killed after the third failure in a row
    // (two allowed) and a new healthy one replaces it.
    let mut files = Vec::new();
    find_files(&cluster.agents[0].work_dir, "health", &mut files);
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::remove_file(&files[0]).expect("break the health endpoint");
    let unhealthy = eventually(TIMEOUT, "the task to be reported unhealthy", || async {
        let (_, app) = marathon.get("/v2/apps/hc").await;
        let task = app["app"]["tasks"].as_array()?.first()?.clone();
        let result = task["healthCheckResults"].as_array()?.first()?.clone();
        (task["id"] == first["id"] && result["alive"] == false)
            .then_some((app["app"]["tasksUnhealthy"].clone(), result))
    })
    .await;
    assert_eq!(unhealthy.0, 1);
    assert!(unhealthy.1["lastFailureCause"].as_str().is_some_and(|c| c.contains("404")), "{:?}", unhealthy.1);
    let replacement = eventually(TIMEOUT, "a healthy replacement", || async {
        let task = healthy_task().await?;
        (task["id"] != first["id"]).then_some(task)
    })
    .await;
    let instance_of = |t: &Value| t["id"].as_str().and_then(|id| id.split("._app.").next()).map(str::to_string);
    assert_eq!(instance_of(&replacement), instance_of(&first), "the same instance is relaunched");
    let seen = events.lock().expect("lock").clone();
    for kind in [
        "add_health_check_event",
        "health_status_changed_event",
        "instance_health_changed_event",
        "failed_health_check_event",
        "unhealthy_instance_kill_event",
    ] {
        assert!(seen.iter().any(|e| e.kind == kind), "no {kind} in {seen:?}");
    }
    // Health check results parse with the strict marathon-python models.
    let url = marathon.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .args([
                "-c",
                "import sys; from marathon import MarathonClient as C; \
                   a = C(sys.argv[1]).get_app('/hc', embed_tasks=True); \
                   print(a.tasks[0].health_check_results[0].alive)",
                &url,
            ])
            .output()
    })
    .await
    .expect("join")
    .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True");
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_keeps_half_healthy_and_at_most_twenty_percent_extra() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let mut app = health_checked_web_app("rolling", 10);
    app["upgradeStrategy"] = json!({"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    eventually(TIMEOUT, "ten healthy instances", || async {
        let (_, app) = marathon.get("/v2/apps/rolling").await;
        (app["app"]["tasksHealthy"] == 10 && app["app"]["deployments"] == json!([])).then_some(())
    })
    .await;
    let before = marathon.wait_running("rolling", 10, TIMEOUT).await;

    let (status, restarted) = marathon.send(Method::POST, "/v2/apps/rolling/restart", None).await;
    assert_eq!(status, 200, "{restarted}");
    let version = restarted["version"].as_str().expect("version").to_string();
    let (mut min_healthy, mut max_tasks, mut samples) = (usize::MAX, 0usize, 0usize);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (_, app) = marathon.get("/v2/apps/rolling").await;
        let app = &app["app"];
        let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
        let healthy = app["tasksHealthy"].as_u64().unwrap_or(0) as usize;
        min_healthy = min_healthy.min(healthy);
        max_tasks = max_tasks.max(tasks.len());
        samples += 1;
        let done = app["deployments"] == json!([])
            && tasks.len() == 10
            && tasks.iter().all(|t| t["version"] == version.as_str())
            && healthy == 10;
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the restart did not finish: {app}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(min_healthy >= 5, "healthy instances fell to {min_healthy}");
    assert!(max_tasks <= 12, "{max_tasks} tasks at once");
    assert!(samples > 10, "too few samples ({samples}) to mean anything");
    let after = marathon.wait_running("rolling", 10, TIMEOUT).await;
    assert!(ids(&before).is_disjoint(&ids(&after)), "every task was replaced");
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_follows_the_event_stream_through_create_restart_and_delete() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let script = workspace_root().join("tests/compat/marathon_events.py");
    let url = marathon.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(script).args(["--url", &url, "--timeout", "60"]).output()
    })
    .await
    .expect("join")
    .expect("run the marathon events program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "events program failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let events = seen["events"].as_array().expect("events").clone();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"event_stream_attached"), "{types:?}");
    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred);
    let of = |kind: &'static str, deployment: &Value| {
        let deployment = deployment.clone();
        move |e: &Value| e["type"] == kind && e["deploymentId"] == deployment
    };
    for deployment in [&seen["create"], &seen["restart"]] {
        let info = position(&of("deployment_info", deployment)).expect("deployment_info");
        let step = position(&of("deployment_step_success", deployment)).expect("deployment_step_success");
        let success = position(&of("deployment_success", deployment)).expect("deployment_success");
        assert!(info < step && step < success, "out of order: {types:?}");
    }
    let api_post = position(&|e| e["type"] == "api_post_event").expect("api_post_event");
    let group_change = position(&|e| e["type"] == "group_change_success").expect("group_change_success");
    assert!(api_post < group_change, "{types:?}");
    assert!(events.iter().any(|e| e["type"] == "status_update_event" && e["task_status"] == "TASK_RUNNING"));
    assert!(events.iter().any(|e| e["type"] == "instance_changed_event" && e["condition"] == "Running"));
    assert!(types.contains(&"app_terminated_event"));
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_gets_healthy_is_rolled_back_while_the_old_one_serves() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(health_checked_web_app("rb", 2))).await;
    assert_eq!(status, 201, "{answer}");
    let (original_version, old) = eventually(TIMEOUT, "two healthy instances", || async {
        let (_, app) = marathon.get("/v2/apps/rb").await;
        let app = &app["app"];
        let done = app["tasksHealthy"] == 2 && app["deployments"] == json!([]);
        done.then(|| (app["version"].clone(), ids(app["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]))))
    })
    .await;

    // Version 2 serves no /health: it never becomes healthy, so the deployment never ends.
    let broken = json!({"cmd": "exec python3 -m http.server $PORT0"});
    let (status, upgrade) = marathon.send(Method::PUT, "/v2/apps/rb", Some(broken)).await;
    assert_eq!(status, 200, "{upgrade}");
    let old_serving = |app: &Value| {
        let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
        let healthy_old = tasks
            .iter()
            .filter(|t| old.contains(t["id"].as_str().unwrap_or_default()))
            .filter(|t| t["healthCheckResults"][0]["alive"] == true)
            .count();
        healthy_old == 2
    };
    eventually(TIMEOUT, "the new version's tasks to run next to the old ones", || async {
        let (_, app) = marathon.get("/v2/apps/rb").await;
        let app = &app["app"];
        assert!(old_serving(app), "the old version stopped serving: {app}");
        let running = app["tasks"].as_array()?.iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        (running == 4).then_some(())
    })
    .await;
    let (_, deployments) = marathon.get("/v2/deployments").await;
    assert_eq!(deployments[0]["id"], upgrade["deploymentId"], "{deployments}");

    let response = marathon
        .http
        .delete(marathon.url(&format!("/v2/deployments/{}", upgrade["deploymentId"].as_str().expect("id"))))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status().as_u16(), 200);
    let rollback: Value = response.json().await.expect("json");
    assert!(rollback["deploymentId"].is_string() && rollback["deploymentId"] != upgrade["deploymentId"]);
    eventually(TIMEOUT, "the rollback to finish with the original tasks", || async {
        let (_, app) = marathon.get("/v2/apps/rb").await;
        let app = &app["app"];
        assert!(old_serving(app), "the old version stopped serving: {app}");
        let now = ids(app["tasks"].as_array()?);
        (now == old && app["deployments"] == json!([])).then_some(())
    })
    .await;
    let (_, app) = marathon.get("/v2/apps/rb").await;
    assert_eq!(app["app"]["version"], original_version);
    assert_eq!(app["app"]["cmd"], health_checked_web_app("rb", 2)["cmd"]);
    let (status, _) = marathon.send(Method::DELETE, "/v2/deployments/nope", None).await;
    assert_eq!(status, 404);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_deploys_its_apps_in_dependency_order_each_waiting_for_health() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    // The database takes a moment to become healthy: its dependents must wait for it.
    let mut db = health_checked_web_app("pg", 1);
    db["cmd"] = json!("sleep 1 && echo ok > health && exec python3 -m http.server $PORT0");
    let group = json!({"groups": [
        {"id": "db", "apps": [db]},
        {"id": "backend", "dependencies": ["../db"], "apps": [health_checked_web_app("api", 2)]},
        {"id": "frontend", "dependencies": ["../backend"], "apps": [health_checked_web_app("web", 1)]},
    ]});
    let (status, answer) = marathon.send(Method::PUT, "/v2/groups/shop", Some(group)).await;
    assert_eq!(status, 200, "{answer}");
    let (_, deployments) = marathon.get("/v2/deployments").await;
    let steps: Vec<String> = deployments[0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            s["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["app"].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(
        steps[1..],
        ["/shop/db/pg", "/shop/backend/api", "/shop/frontend/web"],
        "one step per dependency layer after the start step: {deployments}"
    );

    // Sample until done: an app gets tasks only once everything it depends on is healthy.
    let apps = ["shop/db/pg", "shop/backend/api", "shop/frontend/web"];
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut healthy = [false; 3];
    loop {
        let mut tasks = [0usize; 3];
        for (i, app) in apps.iter().enumerate() {
            let (_, body) = marathon.get(&format!("/v2/apps/{app}")).await;
            let app = &body["app"];
            tasks[i] = app["tasks"].as_array().map_or(0, Vec::len);
            healthy[i] = app["tasksHealthy"] == app["instances"] && app["instances"].as_u64() > Some(0);
        }
        for i in 1..3 {
            assert!(tasks[i] == 0 || healthy[i - 1], "{} started before {} was healthy", apps[i], apps[i - 1]);
        }
        if healthy.iter().all(|h| *h) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the group did not deploy: healthy {healthy:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eventually(TIMEOUT, "the deployment to finish", || async {
        let (_, deployments) = marathon.get("/v2/deployments").await;
        (deployments == json!([])).then_some(())
    })
    .await;

    // The tree, as the strict marathon-python models read it.
    let (status, tree) = marathon.get("/v2/groups/shop").await;
    assert_eq!(status, 200);
    assert_eq!(tree["groups"].as_array().map(Vec::len), Some(3), "{tree}");
    let backend = tree["groups"].as_array().into_iter().flatten().find(|g| g["id"] == "/shop/backend").cloned();
    assert_eq!(backend.map(|g| g["dependencies"].clone()), Some(json!(["/shop/db"])));
    let url = marathon.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .args([
                "-c",
                "import sys; from marathon import MarathonClient as C; c = C(sys.argv[1]); \
                   g = c.get_group('/shop'); print(len(g.groups), len(c.list_groups()))",
                &url,
            ])
            .output()
    })
    .await
    .expect("join")
    .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // scaleBy scales every app of the group; deleting the group stops them all.
    let (status, answer) = marathon.send(Method::PUT, "/v2/groups/shop?force=true", Some(json!({"scaleBy": 2}))).await;
    assert_eq!(status, 200, "{answer}");
    // Apps change when their step starts: the backend after the database scaled.
    eventually(TIMEOUT, "the backend scaled to 4", || async {
        let (_, api) = marathon.get("/v2/apps/shop/backend/api").await;
        (api["app"]["instances"] == 4).then_some(())
    })
    .await;
    let (status, answer) = marathon.send(Method::DELETE, "/v2/groups/shop?force=true", None).await;
    assert_eq!(status, 200, "{answer}");
    eventually(TIMEOUT, "every app of the group gone", || async {
        let (_, apps) = marathon.get("/v2/apps").await;
        let (_, tasks) = marathon.get("/v2/tasks").await;
        (apps["apps"] == json!([]) && tasks["tasks"] == json!([])).then_some(())
    })
    .await;
    let (status, _) = marathon.get("/v2/groups/shop").await;
    assert_eq!(status, 404);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_are_validated_and_versioned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&unreachable_master, &dir.path().join("marathon"), &[]).await;
    let cyclic = json!({"id": "loop", "apps": [
        {"id": "a", "cmd": "sleep 1", "dependencies": ["b"], "instances": 0},
        {"id": "b", "cmd": "sleep 1", "dependencies": ["a"], "instances": 0},
    ]});
    let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(cyclic)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("Dependency graph has cyclic dependencies."), "{answer}");
    let (status, answer) = marathon
        .send(Method::POST, "/v2/groups", Some(json!({"id": "g", "apps": [{"id": "/other/x", "cmd": "sleep 1"}]})))
        .await;
    assert_eq!(status, 422, "{answer}");
    let (_, apps) = marathon.get("/v2/apps").await;
    assert_eq!(apps["apps"], json!([]), "nothing was stored");

    let ok = json!({"id": "g", "apps": [{"id": "x", "cmd": "sleep 1", "instances": 0}]});
    let (status, created) = marathon.send(Method::POST, "/v2/groups", Some(ok.clone())).await;
    assert_eq!(status, 201, "{created}");
    let (status, again) = marathon.send(Method::POST, "/v2/groups", Some(ok)).await;
    assert_eq!(status, 409, "{again}");
    let (status, dry) = marathon
        .send(
            Method::PUT,
            "/v2/groups/g?dryRun=true",
            Some(json!({"apps": [{"id": "y", "cmd": "sleep 2", "instances": 0}]})),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert!(dry["steps"].to_string().contains("/g/y"), "{dry}");
    let (_, still) = marathon.get("/v2/apps/g/x").await;
    assert_eq!(still["app"]["id"], "/g/x", "a dry run changes nothing");

    let (status, _) = marathon
        .send(Method::PUT, "/v2/groups/g", Some(json!({"apps": [{"id": "y", "cmd": "sleep 2", "instances": 0}]})))
        .await;
    assert_eq!(status, 200);
    let (_, versions) = marathon.get("/v2/groups/g/versions").await;
    let versions: Vec<String> = serde_json::from_value(versions).expect("versions");
    assert_eq!(versions.len(), 2);
    let (status, old) = marathon.get(&format!("/v2/groups/g/versions/{}", versions[1])).await;
    assert_eq!(status, 200);
    assert_eq!(old["apps"][0]["id"], "/g/x", "{old}");
    // Rolling the group back to its first version brings x back and removes y.
    let (status, answer) = marathon.send(Method::PUT, "/v2/groups/g", Some(json!({"version": versions[1]}))).await;
    assert_eq!(status, 200, "{answer}");
    let (_, group) = marathon.get("/v2/groups/g").await;
    let ids: Vec<&str> = group["apps"].as_array().expect("apps").iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, ["/g/x"]);
    let (status, root) = marathon.get("/v2/groups").await;
    assert_eq!((status, root["id"].clone()), (200, json!("/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_waits_for_readiness_and_shows_its_results() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let app = json!({
        "id": "ready", "cpus": 0.02, "mem": 24, "instances": 1,
        "cmd": "echo serving > marker && exec python3 -m http.server $PORT0",
        "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [{"name": "warm", "path": "/ready", "portName": "http", "intervalSeconds": 2,
                             "timeoutSeconds": 1, "preserveLastResponse": true}]
    });
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{created}");
    // Running but not ready: the deployment waits and shows why.
    let pending = eventually(TIMEOUT, "a running task that is not ready yet", || async {
        let (_, deployments) = marathon.get("/v2/deployments").await;
        let result = deployments[0]["currentActions"][0]["readinessCheckResults"][0].clone();
        (result["ready"] == false && result["lastResponse"]["status"] == 404).then_some(result)
    })
    .await;
    assert_eq!(pending["name"], "warm");
    let (_, deployments) = marathon.get("/v2/deployments").await;
    assert_eq!(deployments[0]["id"], created["deployments"][0]["id"], "still deploying while not ready");
    // The task becomes ready: its sandbox gets the file the check asks for.
    let mut markers = Vec::new();
    find_files(&cluster.agents[0].work_dir, "marker", &mut markers);
    let sandbox = markers.first().and_then(|m| m.parent()).expect("the task's sandbox").to_path_buf();
    std::fs::write(sandbox.join("ready"), "ok").expect("write ready");
    eventually(TIMEOUT, "the deployment to finish once ready", || async {
        let (_, deployments) = marathon.get("/v2/deployments").await;
        (deployments == json!([])).then_some(())
    })
    .await;
    let (_, app) = marathon.get("/v2/apps/ready?embed=app.readiness").await;
    assert_eq!(app["app"]["readinessCheckResults"][0]["ready"], true, "{app}");
    cluster.teardown();
}

/// Tasks serve HTTPS with self-signed certificates, which HTTPS checks accept as upstream's do:
/// a task making its certificate with the openssl CLI becomes ready through an HTTPS readiness
/// check and healthy through both Marathon's `HTTPS` check and the agent's `MESOS_HTTPS` check,
/// while an `HTTPS` check of a plain HTTP server fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_checks_accept_self_signed_certificates_and_fail_without_tls() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let script = workspace_root().join("tests/compat/https_server.py");
    let check = |protocol: &str| {
        json!({"protocol": protocol, "path": "/health", "portIndex": 0, "intervalSeconds": 1, "timeoutSeconds": 1,
               "delaySeconds": 0, "gracePeriodSeconds": 60, "maxConsecutiveFailures": 3})
    };
    let tls = json!({
        "id": "tls", "cpus": 0.05, "mem": 64, "instances": 1,
        "cmd": format!("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout key.pem \
                        -out cert.pem 2>/dev/null && echo ok > health && exec python3 {} $PORT0 cert.pem key.pem",
                       script.display()),
        "portDefinitions": [{"port": 0, "name": "https"}],
        "healthChecks": [check("HTTPS"), check("MESOS_HTTPS")],
        "readinessChecks": [{"name": "warm", "protocol": "HTTPS", "path": "/ready", "portName": "https",
                             "intervalSeconds": 2, "timeoutSeconds": 1, "preserveLastResponse": true}]
    });
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(tls)).await;
    assert_eq!(status, 201, "{created}");
    // The readiness check gets HTTPS answers: 404 until the task's sandbox has the file.
    let pending = eventually(TIMEOUT, "an HTTPS readiness answer saying not ready", || async {
        let (_, deployments) = marathon.get("/v2/deployments").await;
        let deployment = deployments.as_array()?.iter().find(|d| d["id"] == created["deployments"][0]["id"])?.clone();
        let result = deployment["currentActions"][0]["readinessCheckResults"][0].clone();
        (result["ready"] == false && result["lastResponse"]["status"] == 404).then_some(result)
    })
    .await;
    assert_eq!(pending["name"], "warm");
    let mut certs = Vec::new();
    find_files(&cluster.agents[0].work_dir, "cert.pem", &mut certs);
    assert_eq!(certs.len(), 1, "{certs:?}");
    let sandbox = certs[0].parent().expect("the task's sandbox").to_path_buf();
    std::fs::write(sandbox.join("ready"), "ok").expect("write ready");
    eventually(TIMEOUT, "the tls app's deployment to finish once healthy and ready", || async {
        let (_, deployments) = marathon.get("/v2/deployments").await;
        (!deployments.as_array()?.iter().any(|d| d["id"] == created["deployments"][0]["id"])).then_some(())
    })
    .await;
    let (_, app) = marathon.get("/v2/apps/tls?embed=app.readiness").await;
    let app = &app["app"];
    assert_eq!((app["tasksHealthy"].clone(), app["tasksUnhealthy"].clone()), (json!(1), json!(0)), "{app}");
    assert_eq!(app["readinessCheckResults"][0]["ready"], true, "{app}");
    let results = app["tasks"][0]["healthCheckResults"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2, "one result from Marathon's check, one from the agent's: {app}");
    assert!(results.iter().all(|r| r["alive"] == true), "{results:?}");

    // HTTPS against plain HTTP: unhealthy at once (no grace period), with a cause, and not killed
    // (no failure limit).
    let mut plain_check = check("HTTPS");
    plain_check["gracePeriodSeconds"] = json!(0);
    plain_check["maxConsecutiveFailures"] = json!(0);
    let plain = json!({"id": "plain", "cpus": 0.02, "mem": 24, "instances": 1,
                       "cmd": "echo ok > health && exec python3 -m http.server $PORT0", "healthChecks": [plain_check]});
    let (status, created_plain) = marathon.send(Method::POST, "/v2/apps", Some(plain)).await;
    assert_eq!(status, 201, "{created_plain}");
    let failed = eventually(TIMEOUT, "the plain app's HTTPS check to fail", || async {
        let (_, app) = marathon.get("/v2/apps/plain").await;
        let task = app["app"]["tasks"].as_array()?.first()?.clone();
        let result = task["healthCheckResults"].as_array()?.first()?.clone();
        (result["alive"] == false && app["app"]["tasksUnhealthy"] == 1).then_some(result)
    })
    .await;
    assert!(failed["lastFailureCause"].as_str().is_some_and(|c| !c.is_empty()), "{failed}");
    assert_eq!(failed["consecutiveFailures"].as_u64().map(|n| n >= 1), Some(true), "{failed}");
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_of_the_framework_role_use_the_agents_static_reservation() {
    let reserved = "--resources=cpus(web):1;mem(web):256;cpus:2;mem:1024;disk:1024;ports:[31000-32000]";
    let mut cluster = Cluster::start_with(1, &[reserved]).await;
    let marathon =
        Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &["--mesos_role", "web"]).await;
    let app = json!({"id": "res", "cmd": "sleep 600", "cpus": 0.5, "mem": 64, "portDefinitions": [],
                     "acceptedResourceRoles": ["web"]});
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"], "web", "apps get the framework's role: {created}");
    let task = marathon.wait_running("res", 1, TIMEOUT).await.remove(0);
    assert_eq!(task["role"], "web");
    // Only the reservation may be used: 2 cpus do not fit in it, whatever is unreserved.
    let big = json!({"id": "big", "cmd": "sleep 600", "cpus": 2, "mem": 64, "portDefinitions": [],
                     "acceptedResourceRoles": ["web"]});
    let (status, _) = marathon.send(Method::POST, "/v2/apps", Some(big)).await;
    assert_eq!(status, 201);
    let reasons = eventually(TIMEOUT, "the big app to wait for resources", || async {
        let (_, queue) = marathon.get("/v2/queue").await;
        let item = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == "/big")?.clone();
        let steps = item["processedOffersSummary"]["rejectSummaryLaunchAttempt"].as_array()?.clone();
        let declined: Vec<String> = steps
            .iter()
            .filter(|s| s["declined"].as_u64().unwrap_or(0) > 0)
            .filter_map(|s| s["reason"].as_str().map(str::to_string))
            .collect();
        (!declined.is_empty()).then_some(declined)
    })
    .await;
    assert!(reasons.contains(&"InsufficientCpus".to_string()), "{reasons:?}");
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_level_group_enforces_its_role_on_its_apps_and_keeps_it_across_restarts() {
    let mut cluster = Cluster::start(1).await;
    let mut marathon =
        Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &["--mesos_role", "prod"]).await;
    let (status, created) = marathon.send(Method::POST, "/v2/groups", Some(json!({"id": "prod"}))).await;
    assert_eq!(status, 201, "{created}");
    let (_, group) = marathon.get("/v2/groups/prod").await;
    assert!(group.get("enforceRole").is_none(), "false is left out (marathon-python): {group}");

    // PATCH: only existing top-level groups, only enforceRole, a boolean.
    let (status, answer) =
        marathon.send(Method::PATCH, "/v2/groups/prod/sub", Some(json!({"enforceRole": true}))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("Path needs to be top-level"), "{answer}");
    let (status, answer) = marathon.send(Method::PATCH, "/v2/groups/nope", Some(json!({"enforceRole": true}))).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = marathon.send(Method::PATCH, "/v2/groups/prod", Some(json!({"enforceRole": "yes"}))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("/enforceRole"), "{answer}");
    let (status, answer) =
        marathon.send(Method::PATCH, "/v2/groups/prod", Some(json!({"enforceRole": true, "apps": []}))).await;
    assert_eq!(status, 422, "a field PATCH does not set is named: {answer}");
    assert!(answer.to_string().contains("/apps"), "{answer}");
    let (status, _) = marathon.send(Method::PATCH, "/v2/groups/prod", Some(json!({"enforceRole": true}))).await;
    assert_eq!(status, 200);
    let (_, group) = marathon.get("/v2/groups/prod").await;
    assert_eq!(group["enforceRole"], true, "{group}");

    // Group updates: only top-level groups may enforce a role, and a change of it does not
    // come with changes of services.
    let nested = json!({"id": "a", "groups": [{"id": "b", "enforceRole": true}]});
    let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(nested)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("/groups(0)/enforceRole"), "{answer}");
    assert!(answer.to_string().contains("enforceRole can only be set for top-level groups"), "{answer}");
    let both = json!({"enforceRole": false, "apps": [{"id": "x", "cmd": "sleep 600", "instances": 0}]});
    let (status, answer) = marathon.send(Method::PUT, "/v2/groups/prod", Some(both)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("enforceRole cannot be modified"), "{answer}");

    // An app of the group gets the group's role and runs with it; no other role is valid.
    let app = json!({"id": "/prod/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 32, "portDefinitions": []});
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"], "prod", "{created}");
    let task = marathon.wait_running("/prod/web", 1, TIMEOUT).await.remove(0);
    assert_eq!(task["role"], "prod");
    let star = json!({"id": "/prod/star", "cmd": "sleep 600", "role": "*", "instances": 0});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(star)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("got *, expected one of: [prod]"), "{answer}");
    // A group's role that the framework does not subscribe with is refused by name.
    let dev = json!({"id": "/dev/x", "cmd": "sleep 600", "role": "dev", "instances": 0});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(dev)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("multi-role frameworks are not supported yet"), "{answer}");

    // The setting is stored: a restarted scheduler still has it.
    marathon.kill9_and_restart().await;
    let (_, root) = marathon.get("/v2/groups").await;
    let prod = root["groups"].as_array().and_then(|g| g.iter().find(|g| g["id"] == "/prod")).cloned();
    assert_eq!(prod.map(|g| g["enforceRole"].clone()), Some(json!(true)), "{root}");
    let (status, _) = marathon.send(Method::PATCH, "/v2/groups/prod", Some(json!({}))).await;
    assert_eq!(status, 200, "an empty patch turns it off, as upstream");
    let (_, group) = marathon.get("/v2/groups/prod").await;
    assert!(group.get("enforceRole").is_none(), "{group}");
    cluster.teardown();
}
