//! The cluster core end to end: real `marathon master` and `marathon agent` processes, real task
//! processes under cgroups, and third-party frameworks (pymesos, mesoshttp) driving them.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// Runs one of the Python compat programs against the cluster and returns its JSON summary.
fn run_compat_program(script: &str, master: &str) -> Value {
    let path = workspace_root().join("tests/compat").join(script);
    let out =
        Command::new(python()).arg(&path).args(["--master", master, "--timeout", "30"]).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("{script}: no JSON summary ({e}); stdout: {stdout}; stderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    assert!(
        out.status.success() && summary.get("error").is_none(),
        "{script} failed: {summary}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary
}

fn assert_hello_task(summary: &Value) {
    let states: Vec<&str> = summary["states"].as_array().expect("states").iter().filter_map(Value::as_str).collect();
    assert_eq!(states, ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], "{summary}");
    for u in summary["updates"].as_array().expect("updates") {
        assert_eq!(u["has_uuid"], true, "{summary}");
        assert_eq!(u["has_agent_id"], true, "{summary}");
        assert_eq!(u["source"], "SOURCE_EXECUTOR", "{summary}");
    }
    assert!(summary["first_offer_seconds"].as_f64().expect("offer time") < 2.0, "{summary}");
    assert!(summary["stdout"].as_str().unwrap_or_default().contains("hello"), "{summary}");
}

async fn assert_no_leftovers(cluster: &Cluster) {
    eventually(LONG, "task processes and cgroups to be gone", || async {
        (cluster.sandbox_pids().is_empty() && cluster.cgroup_pids().is_empty() && cluster.cgroup_dirs().is_empty())
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_scheduler_runs_a_command_task() {
    let cluster = Cluster::start(1).await;
    let addr = cluster.master_addr();
    let summary =
        tokio::task::spawn_blocking(move || run_compat_program("pymesos_scheduler.py", &addr)).await.expect("join");
    assert_hello_task(&summary);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesoshttp_scheduler_runs_a_command_task() {
    let cluster = Cluster::start(1).await;
    let addr = cluster.master_addr();
    let summary =
        tokio::task::spawn_blocking(move || run_compat_program("mesoshttp_scheduler.py", &addr)).await.expect("join");
    assert_hello_task(&summary);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_over_its_memory_limit_fails_and_its_neighbour_keeps_running() {
    if !cgroups_available() {
        eprintln!("NOTICE: not root or no cgroups v1; the memory-limit test needs them");
        return;
    }
    let cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("oom", true, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let hog = "python3 -c \"import time; b = bytearray(256 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(30)\"";
    let tasks =
        vec![command_task(&offer, "neighbour", "sleep 600", 0.1, 64.0), command_task(&offer, "hog", hog, 0.1, 64.0)];
    assert_eq!(fw.launch(&offer, tasks).await, 202);
    fw.wait_state_seen("neighbour", "TASK_RUNNING", LONG).await;
    let failed = fw.wait_state_seen("hog", "TASK_FAILED", LONG).await;
    assert_eq!(failed["reason"], "REASON_CONTAINER_LIMITATION_MEMORY", "{failed}");
    // The neighbour is still running: no terminal update for it, and the master agrees.
    assert_eq!(fw.states_of("neighbour"), ["TASK_STARTING", "TASK_RUNNING"]);
    let state = cluster.master_state().await;
    let running: Vec<&Value> = state["frameworks"][0]["tasks"].as_array().expect("tasks").iter().collect();
    assert!(running.iter().any(|t| t["id"] == "neighbour" && t["state"] == "TASK_RUNNING"), "{state}");
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_agent_tasks_become_unreachable_within_three_seconds() {
    let mut cluster = Cluster::start(2).await;
    let info = framework_info("pa", true, &["PARTITION_AWARE"]);
    let mut fw = Framework::subscribe(&cluster.master_addr(), info).await;
    let agent0_id = cluster.master_state().await["slaves"]
        .as_array()
        .expect("slaves")
        .iter()
        .find(|s| s["hostname"] == "agent0")
        .map(|s| s["id"].as_str().expect("id").to_string())
        .expect("agent0");
    // Launch on agent0, then hold on to the next offer of agent0 so that it can be rescinded.
    let offer = loop {
        let offers = fw.next_offers(LONG).await;
        let (mine, others): (Vec<Value>, Vec<Value>) =
            offers.into_iter().partition(|o| o["agent_id"]["value"] == agent0_id.as_str());
        fw.decline_all(&others).await;
        if let Some(o) = mine.into_iter().next() {
            break o;
        }
    };
    assert_eq!(fw.launch(&offer, vec![command_task(&offer, "web", "sleep 600", 0.5, 32.0)]).await, 202);
    fw.wait_state("web", "TASK_RUNNING", LONG).await;
    let held = loop {
        let offers = fw.next_offers(LONG).await;
        let (mine, others): (Vec<Value>, Vec<Value>) =
            offers.into_iter().partition(|o| o["agent_id"]["value"] == agent0_id.as_str());
        fw.decline_all(&others).await;
        if let Some(o) = mine.into_iter().next() {
            break o;
        }
    };

    let killed_at = Instant::now();
    cluster.agents[0].proc.kill();
    let status = fw.wait_state("web", "TASK_UNREACHABLE", Duration::from_secs(10)).await;
    let elapsed = killed_at.elapsed();
    assert!(elapsed < Duration::from_secs(3), "TASK_UNREACHABLE took {elapsed:?}");
    assert_eq!(status["reason"], "REASON_AGENT_REMOVED");
    assert!(status.get("uuid").is_none(), "{status}");
    assert!(
        fw.seen.iter().any(|e| e["type"] == "RESCIND" && e["rescind"]["offer_id"] == held["id"]),
        "offer {} was not rescinded; seen {:#?}",
        held["id"],
        fw.seen
    );

    // The agent comes back with the same work dir: the task is reported RUNNING again.
    cluster.restart_agent(0).await;
    let back = fw.wait_state("web", "TASK_RUNNING", LONG).await;
    assert_eq!(back["reason"], "REASON_AGENT_REREGISTERED", "{back}");
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_keeps_its_tasks_and_delivers_what_happened_meanwhile() {
    let mut cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("ckpt", true, &["PARTITION_AWARE"])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let tasks = vec![
        command_task(&offer, "long", "sleep 600", 0.1, 32.0),
        command_task(&offer, "short", "sleep 3; echo done", 0.1, 32.0),
    ];
    assert_eq!(fw.launch(&offer, tasks).await, 202);
    fw.wait_state_seen("long", "TASK_RUNNING", LONG).await;
    fw.wait_state_seen("short", "TASK_RUNNING", LONG).await;
    let before = cluster.sandbox_pids();
    assert!(!before.is_empty());

    cluster.agents[0].proc.kill();
    // The tasks outlive the agent process.
    for pid in &before {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "task process {pid} died with the agent");
    }
    cluster.restart_agent(0).await;
    let finished = fw.wait_state("short", "TASK_FINISHED", LONG).await;
    assert!(finished.get("uuid").is_some());
    // The long task kept its processes, and nothing was reported twice.
    let after = cluster.sandbox_pids();
    assert!(after.iter().all(|p| before.contains(p)), "new task processes after restart: {before:?} -> {after:?}");
    assert_eq!(fw.states_of("long"), ["TASK_STARTING", "TASK_RUNNING"]);
    assert_eq!(fw.states_of("short"), ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]);
    let stdout = cluster
        .agent_get(0, &format!("/files/read?path=/frameworks/{}/executors/short/runs/latest/stdout&offset=0", fw.id))
        .await;
    assert_eq!(stdout.status(), 200);
    let body: Value = stdout.json().await.expect("json");
    assert!(body["data"].as_str().unwrap_or_default().contains("done"), "{body}");
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_files_are_confined_to_sandboxes() {
    let cluster = Cluster::start(1).await;
    for path in ["/etc/passwd", "/frameworks/../../../../etc/passwd", "../../etc/passwd"] {
        let r = cluster.agent_get(0, &format!("/files/read?path={path}&offset=0")).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = cluster.agent_get(0, "/files/browse").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hollow_agent_reports_tasks_running_without_processes() {
    let cluster = Cluster::start_with(1, &["--hollow"]).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("hollow", true, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let tasks = (0..50).map(|i| command_task(&offer, &format!("t{i}"), "sleep 600", 0.01, 8.0)).collect();
    assert_eq!(fw.launch(&offer, tasks).await, 202);
    for i in 0..50 {
        fw.wait_state_seen(&format!("t{i}"), "TASK_RUNNING", LONG).await;
    }
    assert!(cluster.sandbox_pids().is_empty(), "a hollow agent started processes");
    assert!(cluster.cgroup_dirs().is_empty(), "a hollow agent created cgroups");
    assert_eq!(fw.call(serde_json::json!({"type": "KILL", "kill": {"task_id": {"value": "t7"}}})).await, 202);
    fw.wait_state("t7", "TASK_KILLED", LONG).await;
    let state = cluster.master_state().await;
    let running = state["frameworks"][0]["tasks"].as_array().map_or(0, |t| t.len());
    assert_eq!(running, 49, "{state}");
}

/// A port of `offer`'s ranges that nothing on this host listens on right now.
fn offered_free_port(offer: &Value) -> u16 {
    let resources = offer["resources"].as_array().expect("resources");
    let ranges = resources.iter().find(|r| r["name"] == "ports").expect("offered ports")["ranges"]["range"]
        .as_array()
        .expect("ranges")
        .clone();
    ranges
        .iter()
        .flat_map(|r| r["begin"].as_u64().unwrap_or(0)..=r["end"].as_u64().unwrap_or(0))
        .filter_map(|p| u16::try_from(p).ok())
        .find(|p| std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
        .expect("a free offered port")
}

/// Whether `e` is an update of `task_id` from its health check saying `healthy`.
fn is_health_update(e: &Value, task_id: &str, healthy: bool) -> bool {
    let s = &e["update"]["status"];
    e["type"] == "UPDATE"
        && s["task_id"]["value"] == task_id
        && s["state"] == "TASK_RUNNING"
        && s["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
        && s["healthy"] == healthy
}

/// Acceptance case C26: health checks run by the agent next to the task (Mesos' command
/// executor). An HTTP check of a web server reports it healthy; a COMMAND check that starts
/// failing reports `healthy: false` at each failure and has the task killed after three in a row,
/// the terminal update saying it was unhealthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_health_checks_report_health_and_kill_unhealthy_tasks() {
    let cluster = Cluster::start(1).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("health", false, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let port = offered_free_port(&offer);
    let mut web = command_task(&offer, "web", "exec python3 -m http.server $PORT --bind 127.0.0.1", 0.1, 64.0);
    web["resources"].as_array_mut().expect("resources").push(
        serde_json::json!({"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": port, "end": port}]}}),
    );
    web["command"]["environment"] = serde_json::json!({"variables": [{"name": "PORT", "value": port.to_string()}]});
    web["health_check"] = serde_json::json!({"type": "HTTP", "http": {"port": port},
        "delay_seconds": 0, "interval_seconds": 1, "grace_period_seconds": 5, "consecutive_failures": 3});
    let mut probe = command_task(&offer, "probe", "touch healthy && exec sleep 600", 0.1, 32.0);
    probe["health_check"] = serde_json::json!({"type": "COMMAND", "command": {"value": "test -f healthy"},
        "delay_seconds": 0, "interval_seconds": 1, "timeout_seconds": 5, "grace_period_seconds": 5,
        "consecutive_failures": 3});
    assert_eq!(fw.launch(&offer, vec![web, probe]).await, 202);

    // Both become healthy (failures while the server starts fall in the grace period).
    for task in ["web", "probe"] {
        if !fw.seen.iter().any(|e| is_health_update(e, task, true)) {
            fw.wait_for(LONG, &format!("{task} healthy"), |e| is_health_update(e, task, true)).await;
        }
        let update =
            fw.seen.iter().find(|e| is_health_update(e, task, true)).expect("seen")["update"]["status"].clone();
        assert_eq!(update["source"], "SOURCE_EXECUTOR", "{update}");
        assert!(update.get("uuid").is_some(), "health updates are acknowledged like others: {update}");
    }

    // The probe's check starts failing: three unhealthy updates, then the task is killed.
    let agent_id = offer["agent_id"]["value"].as_str().expect("agent id");
    let marker = cluster.agents[0]
        .work_dir
        .join(format!("slaves/{agent_id}/frameworks/{}/executors/probe/runs/latest/healthy", fw.id));
    std::fs::remove_file(&marker).expect("remove the probe's marker file");
    let killed = fw.wait_state("probe", "TASK_KILLED", LONG).await;
    assert_eq!(killed["healthy"], false, "{killed}");
    let probe_updates: Vec<(String, Value)> = fw
        .seen
        .iter()
        .filter(|e| e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == "probe")
        .map(|e| {
            let s = &e["update"]["status"];
            (s["state"].as_str().unwrap_or_default().to_string(), s["healthy"].clone())
        })
        .collect();
    let unhealthy = probe_updates.iter().filter(|(state, h)| state == "TASK_RUNNING" && *h == false).count();
    assert_eq!(unhealthy, 3, "{probe_updates:?}");
    let tail: Vec<&(String, Value)> = probe_updates.iter().rev().take(4).collect();
    assert!(tail[1..].iter().all(|(s, h)| s == "TASK_RUNNING" && *h == false), "{probe_updates:?}");

    // The web server stays healthy and running.
    assert_eq!(fw.states_of("web").last().map(String::as_str), Some("TASK_RUNNING"));
    assert!(!fw.seen.iter().any(|e| is_health_update(e, "web", false)), "web reported unhealthy");
    assert_eq!(fw.teardown().await, 202);
    assert_no_leftovers(&cluster).await;
}

/// A hollow agent runs no process, so it has nothing to probe: its health checks pass at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hollow_agent_reports_health_checked_tasks_healthy() {
    let cluster = Cluster::start_with(1, &["--hollow"]).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("hollow-health", false, &[])).await;
    let offer = fw.next_offers(LONG).await.remove(0);
    let mut task = command_task(&offer, "h", "sleep 600", 0.1, 8.0);
    task["health_check"] = serde_json::json!({"type": "COMMAND", "command": {"value": "false"}, "delay_seconds": 0});
    assert_eq!(fw.launch(&offer, vec![task]).await, 202);
    fw.wait_for(LONG, "h healthy", |e| is_health_update(e, "h", true)).await;
    assert!(cluster.sandbox_pids().is_empty(), "a hollow agent started processes");
}
