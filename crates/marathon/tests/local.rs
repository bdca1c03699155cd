//! `marathon local`: the whole system in one process, usable by a third-party framework.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runs_a_master_and_an_agent_that_frameworks_can_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_port, agent_port, http_port) = (free_port(), free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("local.log")).expect("log");
    let child = Command::new(BIN)
        .args(["local", "--work_dir"])
        .arg(dir.path().join("state"))
        .args(["--master_port", &master_port.to_string(), "--agent_port", &agent_port.to_string()])
        .args(["--http_port", &http_port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn marathon local");
    let _guard = Proc { child, log: dir.path().join("local.log") };
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
    assert!(out.status.success(), "pymesos program failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello"), "{stdout}");
}
