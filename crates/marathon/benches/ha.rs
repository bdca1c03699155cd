//! Failover with a large state in ZooKeeper (issue 14): of the Marathon scheduler, and (`master`)
//! of the Mesos master.
//!
//! ```text
//! cargo bench -p marathon --bench ha -- [APPSxTASKS]             (default 1000x10000)
//! cargo bench -p marathon --bench ha -- master [AGENTSxTASKS]    (default 100x10000)
//! ```
//!
//! **Scheduler failover**: a real ZooKeeper (`xtask::zookeeper`), a master, hollow agents and two
//! `marathon scheduler` processes with `--zk` (release build, `--zk_session_timeout 2000`). The
//! leader gets APPS apps with TASKS tasks in all; once they run and it idles, it is killed
//! (SIGKILL). Measured on the standby, from its election (the `elected leader` line of its log):
//!
//! - `state_loaded_ms`: until its state is loaded (`state loaded`);
//! - `serving_ms`: until `GET /v2/apps?embed=apps.tasks` answers with every task;
//! - `launching_ms`: until a new one-instance app posted then runs.
//!
//! The floor: the same state read from ZooKeeper by one client in this process (every node under
//! `<zk>/state` but the version history, every read of a level in flight at once, as the
//! store does), as bytes per second; the scheduler's load rate is the same
//! bytes over `state_loaded_ms`. Goal: `serving_ms` <= 1,000 (upstream Marathon needs minutes at
//! this size).
//!
//! **Master failover** (`master`): a real ZooKeeper, AGENTS hollow agents and two masters with
//! `--zk` and `--zk_session_timeout 2secs`, Marathon (`--master zk://...`) holding TASKS tasks
//! (100 per app). The leading master is killed (SIGKILL). Measured on the other one, from its
//! election (its `elected leading master` line), polling its `/metrics/snapshot` every 10 ms:
//!
//! - `registry_loaded_ms`: until it leads with the registry loaded (its `leading` line);
//! - `agents_reregistered_ms`: until every agent is active again (`agents_reregistered_log_ms`:
//!   until the log says the last agent of the registry is back);
//! - `tasks_known_ms`: until it knows every task as running (the agents bring them back);
//! - `framework_resubscribed_ms`: until Marathon is subscribed again.
//!
//! The floor: the agents are started first and wait (no master yet); the first master's election
//! to every agent registered with it (the same path: the agents' detectors see a leader appear
//! and all register at once, with no task and nothing in the registry). Goal:
//! `agents_reregistered_ms` <= 2,000.
//!
//! One JSON line on stdout; BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/stack.rs"]
mod stack;

use common::{Proc, eventually, free_port};
use futures::StreamExt;
use serde_json::{Value, json};
use stack::*;
use std::time::{Duration, Instant};
use xtask::zookeeper::ZooKeeper;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let master = args.first().is_some_and(|a| a == "master");
    let size = args.iter().find(|a| a.contains('x'));
    let size = size.and_then(|s| s.split_once('x').and_then(|(a, t)| Some((a.parse().ok()?, t.parse().ok()?))));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let result = if master {
        let (agents, tasks) = size.unwrap_or((100, 10_000));
        runtime.block_on(master_failover(agents, tasks))
    } else {
        let (apps, tasks) = size.unwrap_or((1000, 10_000));
        runtime.block_on(failover(apps, tasks))
    };
    println!("{result}");
}

async fn failover(apps: usize, tasks: usize) -> Value {
    let zk = ZooKeeper::start(1).expect("ZooKeeper (Debian's zookeeper package)");
    let url = zk.url("/marathon");
    let mut settings = Settings::from_env();
    settings.scheduler_flags.extend(["--zk", &url, "--zk_session_timeout", "2000"].map(str::to_string));
    let mut stack = Stack::start(&settings, Agents::Hollow { count: settings.hollow_agents }).await;
    let standby = stack.start_standby("standby").await;

    let start = Instant::now();
    let definitions: Vec<Value> = (0..apps)
        .map(|i| app(&format!("/bench/ha/app-{i:04}"), tasks / apps + usize::from(i < tasks % apps)))
        .collect();
    for chunk in definitions.chunks(100) {
        stack.put_apps(chunk).await;
    }
    let mut running = 0;
    while running < tasks && start.elapsed() < settings.timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        running = stack.running().await;
    }
    stack.settle(start + settings.timeout).await;
    let setup = start.elapsed();

    let (state_bytes, nodes, floor) = read_state(&url).await;

    // The leader dies; the standby takes over.
    let killed_at = unix_now();
    stack.scheduler.kill();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let listing = format!("{}/v2/apps?embed=apps.tasks", standby.api);
    let mut served = None;
    while served.is_none() && unix_now() - killed_at < 120.0 {
        if let Ok(response) = http.get(&listing).send().await
            && response.status().is_success()
            && let Ok(body) = response.bytes().await
        {
            let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let listed: usize = document["apps"]
                .as_array()
                .map(|a| a.iter().map(|app| app["tasks"].as_array().map_or(0, Vec::len)).sum())
                .unwrap_or(0);
            if listed >= tasks {
                served = Some(unix_now());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let probe = json!({"id": "/bench/ha/after", "cmd": "sleep 600", "cpus": 0.001, "mem": 1, "instances": 1});
    let posted = http.post(format!("{}/v2/apps", standby.api)).json(&probe).send().await.map(|r| r.status().as_u16());
    let mut launched = None;
    while launched.is_none() && unix_now() - killed_at < 180.0 {
        let app: Value = match http.get(format!("{}/v2/apps/bench/ha/after", standby.api)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if app["app"]["tasksRunning"] == 1 {
            launched = Some(unix_now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = standby.proc.log_text();
    let line_time =
        |needle: &str| log.lines().map(strip_ansi).filter(|l| l.contains(needle)).find_map(|l| log_time(&l));
    let elected = line_time("elected leader").filter(|t| *t >= killed_at - 0.5);
    let loaded = log
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains("state loaded"))
        .filter_map(|l| log_time(&l))
        .find(|t| elected.is_some_and(|e| *t >= e));
    let after = |t: Option<f64>| match (elected, t) {
        (Some(e), Some(t)) => Some(round((t - e) * 1000.0)),
        _ => None,
    };
    let load_secs = match (elected, loaded) {
        (Some(e), Some(l)) => Some((l - e).max(1e-6)),
        _ => None,
    };
    let mb = state_bytes as f64 / 1_048_576.0;
    let result = json!({
        "bench": "scheduler_failover_zk",
        "apps": apps,
        "tasks": tasks,
        "hollow_agents": settings.hollow_agents,
        "setup_secs": round(setup.as_secs_f64()),
        "election_after_kill_ms": elected.map(|e| round((e - killed_at) * 1000.0)),
        "state_loaded_ms": after(loaded),
        "serving_ms": after(served),
        "goal_serving_ms": 1000,
        "launching_ms": after(launched),
        "probe_post_status": posted.ok(),
        "state_nodes": nodes,
        "state_mib": round(mb),
        "load_mib_per_s": load_secs.map(|s| round(mb / s)),
        "floor_read_secs": round(floor.as_secs_f64()),
        "floor_mib_per_s": round(mb / floor.as_secs_f64().max(1e-6)),
        "settings": settings.to_json(),
    });
    drop(standby);
    stack.teardown("ha");
    result
}

/// Every current node under `<zk path>/state` read by one client, all reads in flight at once:
/// (bytes, nodes, time).
async fn read_state(url: &str) -> (usize, usize, Duration) {
    let zk = coordination::ZkUrl::parse(url).expect("zk url");
    let client = coordination::session::connect(&zk, Duration::from_secs(10)).await.expect("connect");
    let root = format!("{}/state", zk.path);
    // The tree first (the listing is part of reading it).
    let start = Instant::now();
    let mut paths = Vec::new();
    let mut frontier = vec![root];
    while !frontier.is_empty() {
        let children: Vec<(String, Vec<String>)> = futures::stream::iter(frontier.drain(..))
            .map(|path| {
                let client = client.clone();
                async move { (path.clone(), client.list_children(&path).await.unwrap_or_default()) }
            })
            .buffer_unordered(1024)
            .collect()
            .await;
        for (path, names) in children {
            for name in names {
                // What a new leader loads: current records, not the version history.
                if name == "versions" {
                    continue;
                }
                let child = format!("{path}/{name}");
                paths.push(child.clone());
                frontier.push(child);
            }
        }
    }
    let reads = paths.iter().map(|path| client.get_data(path));
    let bytes: usize =
        futures::future::join_all(reads).await.into_iter().map(|r| r.map_or(0, |(data, _)| data.len())).sum();
    (bytes, paths.len(), start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Master failover

/// The masters' (and agents') ZooKeeper session timeout.
const MASTER_SESSION: &str = "2secs";

async fn master_failover(agents: usize, tasks: usize) -> Value {
    let settings = Settings::from_env();
    let zk = ZooKeeper::start(1).expect("ZooKeeper (Debian's zookeeper package)");
    let url = zk.url("/mesos");
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let start = Instant::now();

    // The agents first: with no master elected they wait for one.
    let mut agent_procs = Vec::with_capacity(agents);
    let mut agent_ports = Vec::with_capacity(agents);
    for i in 0..agents {
        let port = free_port();
        let work_dir = dir.path().join(format!("agent{i}"));
        let args = [
            "agent",
            "--master",
            &url,
            "--zk_session_timeout",
            MASTER_SESSION,
            "--port",
            &port.to_string(),
            "--work_dir",
            &work_dir.display().to_string(),
            "--hostname",
            &format!("agent{i}"),
            "--resources",
            "cpus:8;mem:32768;disk:65536;ports:[31000-32000]",
            "--hollow",
        ];
        agent_procs.push(spawn(&args, &dir.path().join(format!("agent{i}.log")), "info", &[]));
        agent_ports.push(port);
    }
    for port in &agent_ports {
        wait_http(&http, &format!("http://127.0.0.1:{port}/health")).await;
    }

    // The first master: its election to every agent registered is the floor.
    let start_master = |name: &str| {
        let port = free_port();
        let args = [
            "master",
            "--port",
            &port.to_string(),
            "--work_dir",
            &dir.path().join(name).display().to_string(),
            "--hostname",
            "localhost",
            "--allocation_interval",
            &settings.allocation_interval,
            "--zk",
            &url,
            "--quorum",
            "1",
            "--zk_session_timeout",
            MASTER_SESSION,
        ];
        (spawn(&args, &dir.path().join(format!("{name}.log")), "info", &[]), port)
    };
    let (mut first, first_port) = start_master("master-a");
    let first_api = format!("http://127.0.0.1:{first_port}");
    let registered = poll_metrics(&http, &first_api, Duration::from_secs(120), |m| {
        m["master/slaves_active"].as_f64() == Some(agents as f64)
    })
    .await;
    let first_elected = log_line_time(&first, "elected leading master", 0.0);
    let floor_ms = match (first_elected, registered) {
        (Some(e), Some(r)) => Some(round((r - e) * 1000.0)),
        _ => None,
    };

    // The standby, then Marathon with the tasks.
    let (mut second, second_port) = start_master("master-b");
    let second_api = format!("http://127.0.0.1:{second_port}");
    wait_http(&http, &format!("{second_api}/health")).await;
    eventually(Duration::from_secs(60), "the standby names the leader", || async {
        let state: Value = http.get(format!("{second_api}/master/state")).send().await.ok()?.json().await.ok()?;
        (state["leader"] == format!("master@127.0.0.1:{first_port}").as_str()).then_some(())
    })
    .await;
    let marathon_port = free_port();
    let mut args: Vec<String> = [
        "scheduler",
        "--master",
        &url,
        "--http_port",
        &marathon_port.to_string(),
        "--http_address",
        "127.0.0.1",
        "--hostname",
        "localhost",
        "--work_dir",
        &dir.path().join("marathon").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(settings.scheduler_flags.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let marathon = spawn(&args, &dir.path().join("marathon.log"), "info", &settings.scheduler_env);
    let marathon_api = format!("http://127.0.0.1:{marathon_port}");
    wait_http(&http, &format!("{marathon_api}/ping")).await;
    let apps = tasks.div_ceil(100).max(1);
    let definitions: Vec<Value> = (0..apps)
        .map(|i| app(&format!("/bench/master/app-{i:03}"), tasks / apps + usize::from(i < tasks % apps)))
        .collect();
    for chunk in definitions.chunks(100) {
        let response = http.put(format!("{marathon_api}/v2/apps")).json(&chunk.to_vec()).send().await.expect("PUT");
        assert!(response.status().is_success(), "PUT /v2/apps: {}", response.status());
    }
    let deadline = settings.timeout.max(Duration::from_secs(60));
    let all_running =
        poll_metrics(&http, &first_api, deadline, |m| m["master/tasks_running"].as_f64() == Some(tasks as f64)).await;
    assert!(all_running.is_some(), "fewer than {tasks} tasks running after {deadline:?}");
    // Quiet: Marathon's acknowledgements and the last offers done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let setup = start.elapsed();

    // The leader dies.
    let noise = Noise::start();
    let killed_at = unix_now();
    first.kill();
    let mut seen = Seen::default();
    let give_up = Instant::now() + Duration::from_secs(60);
    while !seen.done() && Instant::now() < give_up {
        if let Ok(response) = http.get(format!("{second_api}/metrics/snapshot")).send().await
            && let Ok(metrics) = response.json::<Value>().await
        {
            let now = unix_now();
            let at = |slot: &mut Option<f64>, reached: bool| {
                if reached && slot.is_none() {
                    *slot = Some(now);
                }
            };
            let elected = metrics["master/elected"] == 1.0;
            at(&mut seen.elected, elected);
            at(&mut seen.agents, elected && metrics["master/slaves_active"].as_f64() == Some(agents as f64));
            at(&mut seen.tasks, elected && metrics["master/tasks_running"].as_f64() == Some(tasks as f64));
            at(&mut seen.framework, elected && metrics["master/frameworks_active"].as_f64() == Some(1.0));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other_cpu_secs = noise.other_cpu_secs();
    let elected = log_line_time(&second, "elected leading master", killed_at - 0.5);
    let leading = elected.and_then(|e| log_line_time(&second, "leading", e));
    // The core's line for the last agent of the registry back (`left=0`).
    let last_back = elected.and_then(|e| {
        second
            .log_text()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains("agent from the registry reregistered") && l.ends_with(" left=0"))
            .filter_map(|l| log_time(&l))
            .find(|t| *t >= e)
    });
    let after = |t: Option<f64>| match (elected, t) {
        (Some(e), Some(t)) => Some(round((t - e) * 1000.0)),
        _ => None,
    };
    let state: Value = match http.get(format!("{second_api}/master/state")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let result = json!({
        "bench": "master_failover_zk",
        "agents": agents,
        "tasks": tasks,
        "apps": apps,
        "setup_secs": round(setup.as_secs_f64()),
        "election_after_kill_ms": elected.map(|e| round((e - killed_at) * 1000.0)),
        "registry_loaded_ms": after(leading),
        "agents_reregistered_ms": after(seen.agents),
        "agents_reregistered_log_ms": after(last_back),
        "goal_agents_reregistered_ms": 2000,
        "tasks_known_ms": after(seen.tasks),
        "framework_resubscribed_ms": after(seen.framework),
        "elected_seen_by_polling_ms": after(seen.elected),
        "floor_first_registration_ms": floor_ms,
        "recovered_slaves_left": state["recovered_slaves"].as_array().map(Vec::len),
        "unreachable_slaves": state["unreachable_slaves"],
        "other_cpu_secs_during_failover": other_cpu_secs,
        "settings": settings.to_json(),
    });
    if let Ok(logs) = std::env::var("BENCH_LOGS") {
        let to = std::path::Path::new(&logs).join("ha-master");
        let _ = std::fs::create_dir_all(&to);
        for name in ["master-a.log", "master-b.log", "marathon.log", "agent0.log"] {
            let _ = std::fs::copy(dir.path().join(name), to.join(name));
        }
    }
    drop(marathon);
    second.kill();
    drop(agent_procs);
    drop(zk);
    result
}

/// When each milestone of the failover was first seen (Unix seconds).
#[derive(Default)]
struct Seen {
    elected: Option<f64>,
    agents: Option<f64>,
    tasks: Option<f64>,
    framework: Option<f64>,
}

impl Seen {
    fn done(&self) -> bool {
        self.agents.is_some() && self.tasks.is_some() && self.framework.is_some()
    }
}

/// Polls `/metrics/snapshot` every 10 ms until `pred` holds: when it first did (Unix seconds).
async fn poll_metrics(
    http: &reqwest::Client,
    api: &str,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<f64> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(response) = http.get(format!("{api}/metrics/snapshot")).send().await
            && let Ok(metrics) = response.json::<Value>().await
            && pred(&metrics)
        {
            return Some(unix_now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// The time of the first line of `proc`'s log at or after `since` (Unix seconds) whose message
/// is or starts with `message`.
fn log_line_time(proc: &Proc, message: &str, since: f64) -> Option<f64> {
    proc.log_text()
        .lines()
        .map(strip_ansi)
        .filter(|l| l.split_once(": ").is_some_and(|(_, m)| m.starts_with(message)))
        .filter_map(|l| log_time(&l))
        .find(|t| *t >= since)
}
