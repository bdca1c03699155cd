//! `marathon local`: the whole system in one process, usable by a third-party framework.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runs_a_master_and_an_agent_that_frameworks_can_use() {
    let cgroups = CgroupRoot::new("local-test");
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_port, agent_port, http_port) = (free_port(), free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("local.log")).expect("log");
    let child = Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.path().join("state"))
        .args(["--master_port", &master_port.to_string(), "--agent_port", &agent_port.to_string()])
        .args(["--http_port", &http_port.to_string(), "--cgroups_root", &cgroups.0])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn marathon local");
    let guard = Proc { child, log: dir.path().join("local.log") };
    let http = reqwest::Client::new();
    let slaves_url = format!("http://127.0.0.1:{master_port}/master/slaves");
    eventually(Duration::from_secs(20), "the local agent to register", || async {
        let v: serde_json::Value = http.get(&slaves_url).send().await.ok()?.json().await.ok()?;
        (v["slaves"].as_array()?.iter().filter(|s| s["active"] == true).count() == 1).then_some(())
    })
    .await;
    let script = workspace_root().join("tests/compat/pymesos_scheduler.py");
    let master = format!("127.0.0.1:{master_port}");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg(script).args(["--master", &master, "--timeout", "30"]).output()
    })
    .await
    .expect("join")
    .expect("run pymesos program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = guard.log_text();
    assert!(out.status.success(), "pymesos program failed: {stdout}\n{}\n{log}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello"), "{stdout}\n{log}");
}

fn start_local(dir: &std::path::Path, ports: [u16; 3], cgroups_root: &str, log: &str) -> Proc {
    let [http_port, master_port, agent_port] = ports;
    let log = dir.join(log);
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.join("state"))
        .args(["--http_port", &http_port.to_string(), "--master_port", &master_port.to_string()])
        .args(["--agent_port", &agent_port.to_string(), "--cgroups_root", cgroups_root])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn marathon local");
    Proc { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serves_the_marathon_api_and_resumes_apps_and_tasks_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let cgroups = CgroupRoot::new("local-test");
    let cgroups_root = cgroups.0.clone();
    let mut local = start_local(dir.path(), ports, &cgroups_root, "local.log");
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{}", ports[0]);
    eventually(Duration::from_secs(20), "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    // The banner is printed once the API listens, which may be just after it first answered.
    let banner = format!("Marathon API and UI on http://127.0.0.1:{}", ports[0]);
    eventually(Duration::from_secs(5), "the banner with the API's address", || async {
        local.log_text().contains(&banner).then_some(())
    })
    .await;
    let app = serde_json::json!({"id": "keep", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "portDefinitions": []});
    let response = http.post(format!("{api}/v2/apps")).json(&app).send().await.expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let running_task = || async {
        let app: serde_json::Value = http.get(format!("{api}/v2/apps/keep")).send().await.ok()?.json().await.ok()?;
        let task = app["app"]["tasks"].as_array()?.first()?.clone();
        (task["state"] == "TASK_RUNNING").then(|| task["id"].as_str().map(str::to_string)).flatten()
    };
    let before = eventually(Duration::from_secs(30), "the task to run", running_task).await;

    local.kill();
    let _local = start_local(dir.path(), ports, &cgroups_root, "local-restart.log");
    let after = eventually(Duration::from_secs(30), "the app and its task back", running_task).await;
    assert_eq!(before, after, "the task was restarted");
    let response = http.delete(format!("{api}/v2/apps/keep")).send().await.expect("DELETE");
    assert_eq!(response.status().as_u16(), 200);
    eventually(Duration::from_secs(30), "the task to be gone", || async {
        let tasks: serde_json::Value = http.get(format!("{api}/v2/tasks")).send().await.ok()?.json().await.ok()?;
        tasks["tasks"].as_array()?.is_empty().then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the task's process to be gone", || async {
        cgroup_root_pids(&cgroups_root).is_empty().then_some(())
    })
    .await;
}
