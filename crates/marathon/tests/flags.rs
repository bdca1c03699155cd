//! Flags from the environment, as upstream reads them: `MARATHON_<FLAG>` for the scheduler and
//! `MESOS_<FLAG>` for the master, so existing env files and systemd units keep working.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn spawn_with_env(args: &[&str], env: &[(&str, String)], log: &std::path::Path) -> Proc {
    let out = std::fs::File::create(log).expect("log");
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null()).stdout(out.try_clone().expect("log")).stderr(out);
    for (key, value) in env {
        command.env(key, value);
    }
    Proc { child: command.spawn().expect("spawn marathon"), log: log.to_path_buf() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_and_the_master_take_their_flags_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_port, http_port) = (free_port(), free_port());
    let _master = spawn_with_env(
        &["master"],
        &[
            ("MESOS_PORT", master_port.to_string()),
            ("MESOS_WORK_DIR", dir.path().join("master").display().to_string()),
            ("MESOS_HOSTNAME", "master.example".to_string()),
        ],
        &dir.path().join("master.log"),
    );
    let _scheduler = spawn_with_env(
        &["scheduler"],
        &[
            ("MARATHON_MASTER", format!("127.0.0.1:{master_port}")),
            ("MARATHON_HTTP_PORT", http_port.to_string()),
            ("MARATHON_HTTP_ADDRESS", "127.0.0.1".to_string()),
            ("MARATHON_WORK_DIR", dir.path().join("scheduler").display().to_string()),
            ("MARATHON_FRAMEWORK_NAME", "from-env".to_string()),
        ],
        &dir.path().join("scheduler.log"),
    );
    let http = reqwest::Client::new();
    let state: serde_json::Value =
        eventually(Duration::from_secs(20), "Marathon registered with the master", || async {
            let state: serde_json::Value = http
                .get(format!("http://127.0.0.1:{master_port}/master/state"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            state["frameworks"].as_array()?.iter().any(|f| f["name"] == "from-env").then_some(state)
        })
        .await;
    assert_eq!(state["hostname"], "master.example", "{state}");
    let info: serde_json::Value = http
        .get(format!("http://127.0.0.1:{http_port}/v2/info"))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["marathon_config"]["framework_name"], "from-env", "{info}");
    assert_eq!(info["http_config"]["http_port"], http_port, "{info}");
    assert!(dir.path().join("scheduler").exists() && dir.path().join("master").exists());
}
