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

/// How often `log` holds the compatibility warning of `flag`.
fn warnings(log: &str, flag: &str) -> usize {
    log.matches(&format!("flag {flag} is accepted for compatibility but not implemented yet (ignored)")).count()
}

/// An upstream-style setup, everything in the environment as `/etc/default/marathon` and
/// `/etc/mesos-*` files give it, with upstream flags we implement and some we do not yet:
/// master, agent and scheduler start, work (an agent registers, Marathon serves `/v2/info` with
/// the values given), and name each unimplemented flag in exactly one warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_env_files_start_every_component_and_unimplemented_flags_are_named_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master_port, agent_port, http_port) = (free_port(), free_port(), free_port());
    let zk = xtask::zookeeper::ZooKeeper::shared_or_skip("flags: MARATHON_ZK");
    let mesos_common = |work: &str| {
        vec![
            ("MESOS_WORK_DIR", dir.path().join(work).display().to_string()),
            ("MESOS_IP", "127.0.0.1".to_string()),
            ("MESOS_HOSTNAME", "node.example".to_string()),
            ("MESOS_LOG_DIR", dir.path().join("log").display().to_string()),
            ("MESOS_LOGGING_LEVEL", "INFO".to_string()),
            ("MESOS_HOSTNAME_LOOKUP", "false".to_string()),
        ]
    };
    let mut master_env = mesos_common("master");
    master_env.extend([
        ("MESOS_PORT", master_port.to_string()),
        ("MESOS_QUORUM", "1".to_string()),
        ("MESOS_CLUSTER", "compat".to_string()),
        ("MESOS_SLAVE_PING_TIMEOUT", "1secs".to_string()),
        ("MESOS_OFFER_TIMEOUT", "5mins".to_string()),
    ]);
    let master = spawn_with_env(&["master", "--no-authenticate_agents"], &master_env, &dir.path().join("master.log"));
    let mut agent_env = mesos_common("agent");
    agent_env.extend([
        ("MESOS_MASTER", format!("127.0.0.1:{master_port}")),
        ("MESOS_PORT", agent_port.to_string()),
        ("MESOS_RESOURCES", "cpus:3;mem:1234;ports:[31000-31100]".to_string()),
        ("MESOS_ATTRIBUTES", "rack:r1".to_string()),
        ("MESOS_CONTAINERIZERS", "mesos".to_string()),
        ("MESOS_ISOLATION", "posix/cpu,posix/mem".to_string()),
        ("MESOS_SYSTEMD_ENABLE_SUPPORT", "false".to_string()),
        ("MESOS_EXECUTOR_REGISTRATION_TIMEOUT", "5mins".to_string()),
        ("MESOS_GC_DELAY", "2days".to_string()),
        ("MESOS_STRICT", "true".to_string()),
        ("MESOS_CONTAINER_DISK_WATCH_INTERVAL", "30secs".to_string()),
    ]);
    let agent = spawn_with_env(&["agent", "--no-switch_user"], &agent_env, &dir.path().join("agent.log"));
    let mut marathon_env = vec![
        ("MARATHON_MASTER", format!("http://127.0.0.1:{master_port}")),
        ("MARATHON_HOSTNAME", "marathon.example".to_string()),
        ("MARATHON_HTTP_PORT", http_port.to_string()),
        ("MARATHON_HTTP_ADDRESS", "127.0.0.1".to_string()),
        ("MARATHON_WORK_DIR", dir.path().join("marathon").display().to_string()),
        ("MARATHON_FRAMEWORK_NAME", "compat".to_string()),
        ("MARATHON_TASK_LAUNCH_TIMEOUT", "123000".to_string()),
        ("MARATHON_ENABLE_FEATURES", "vips,task_killing".to_string()),
        ("MARATHON_MESOS_ROLE", "*".to_string()),
        ("MARATHON_MESOS_USER", "root".to_string()),
        ("MARATHON_EVENT_SUBSCRIBER", "http_callback".to_string()),
        ("MARATHON_HTTP_CREDENTIALS", "ops:secret".to_string()),
        ("MARATHON_LOGGING_LEVEL", "warn".to_string()),
        ("MARATHON_MAX_TASKS_PER_OFFER", "7".to_string()),
        ("MARATHON_DISABLE_HA", String::new()),
        ("MARATHON_CHECKPOINT", String::new()),
        ("MARATHON_DISABLE_HTTP_COMPRESSION", String::new()),
        ("MARATHON_WEBUI_URL", "http://marathon.example".to_string()),
        ("MARATHON_FAILOVER_TIMEOUT", "3600".to_string()),
        ("MARATHON_RECONCILIATION_INTERVAL", "300000".to_string()),
        ("MARATHON_ZK_TIMEOUT", "10000".to_string()),
    ];
    if let Some(zk) = &zk {
        marathon_env.push(("MARATHON_ZK", zk.url(&zk.unique_path("compat"))));
    }
    let scheduler = spawn_with_env(&["scheduler"], &marathon_env, &dir.path().join("scheduler.log"));

    let http = reqwest::Client::new();
    let state: serde_json::Value = eventually(Duration::from_secs(30), "the agent registered", || async {
        let state: serde_json::Value =
            http.get(format!("http://127.0.0.1:{master_port}/master/state")).send().await.ok()?.json().await.ok()?;
        let agents = state["slaves"].as_array()?;
        (!agents.is_empty() && state["frameworks"].as_array()?.iter().any(|f| f["name"] == "compat")).then_some(state)
    })
    .await;
    assert_eq!(state["slaves"][0]["resources"]["cpus"], 3.0, "{state}");
    assert_eq!(state["slaves"][0]["attributes"]["rack"], "r1", "{state}");
    let info: serde_json::Value = eventually(Duration::from_secs(20), "/v2/info", || async {
        http.get(format!("http://127.0.0.1:{http_port}/v2/info"))
            .basic_auth("ops", Some("secret"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    })
    .await;
    assert_eq!(info["marathon_config"]["framework_name"], "compat", "{info}");
    assert_eq!(info["marathon_config"]["max_instances_per_offer"], 7, "{info}");
    assert_eq!(info["marathon_config"]["task_launch_timeout"], 123000, "{info}");
    assert_eq!(info["marathon_config"]["hostname"], "marathon.example", "{info}");
    let unauthenticated = http.get(format!("http://127.0.0.1:{http_port}/v2/info")).send().await.expect("info");
    assert_eq!(unauthenticated.status(), 401);

    let expected = [
        (&scheduler, vec!["--enable_features", "--logging_level", "--checkpoint", "--webui_url"]),
        (&master, vec!["--log_dir", "--logging_level", "--hostname_lookup", "--cluster"]),
        (
            &agent,
            vec![
                "--log_dir",
                "--logging_level",
                "--hostname_lookup",
                "--systemd_enable_support",
                "--executor_registration_timeout",
                "--strict",
            ],
        ),
    ];
    for (process, flags) in expected {
        let log = process.log_text();
        for flag in flags {
            assert_eq!(warnings(&log, flag), 1, "one warning naming {flag}:\n{log}");
        }
        let all = log.matches("is accepted for compatibility but not implemented yet").count();
        assert!(all <= 6, "warnings only for unimplemented flags:\n{log}");
    }
    for implemented in
        ["--quorum", "--slave_ping_timeout", "--container_disk_watch_interval", "--max_tasks_per_offer", "--disable_ha"]
    {
        for process in [&master, &agent, &scheduler] {
            assert_eq!(warnings(&process.log_text(), implemented), 0, "{implemented} is implemented");
        }
    }
}

/// Flags nobody documents stay errors that name them, in every component; so do bad values of
/// accepted upstream switches.
#[test]
fn unknown_flags_still_fail_with_a_clear_error() {
    let cases: [&[&str]; 5] = [
        &["scheduler", "--master", "127.0.0.1:1", "--no_such_flag", "1"],
        &["master", "--work_dir", "/nonexistent", "--no_such_flag=1"],
        &["agent", "--master", "127.0.0.1:1", "--work_dir", "/nonexistent", "--no-no_such_flag"],
        &["local", "--no_such_flag"],
        &["agent", "--master", "127.0.0.1:1", "--work_dir", "/nonexistent", "--strict=perhaps"],
    ];
    for args in cases {
        let out = Command::new(BIN).args(args).env_clear().output().expect("run marathon");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} fails as a usage error: {stderr}");
        let named = if args.contains(&"--strict=perhaps") { "perhaps" } else { "no_such_flag" };
        assert!(stderr.contains(named), "{args:?}: the error names it: {stderr}");
    }
}
