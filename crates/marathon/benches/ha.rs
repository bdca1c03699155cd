//! Scheduler failover with a large state in ZooKeeper (issue 14).
//!
//! ```text
//! cargo bench -p marathon --bench ha -- [APPSxTASKS]      (default 1000x10000)
//! ```
//!
//! A real ZooKeeper (`xtask::zookeeper`), a master, hollow agents and two `marathon scheduler`
//! processes with `--zk` (release build, `--zk_session_timeout 2000`). The leader gets APPS apps
//! with TASKS tasks in all; once they run and it idles, it is killed (SIGKILL). Measured on the
//! standby, from its election (the `elected leader` line of its log):
//!
//! - `state_loaded_ms`: until its state is loaded (`state loaded`);
//! - `serving_ms`: until `GET /v2/apps?embed=apps.tasks` answers with every task;
//! - `launching_ms`: until a new one-instance app posted then runs.
//!
//! The floor: the same state read from ZooKeeper by one client in this process (every node under
//! `<zk>/state` but the version history, every read of a level in flight at once, as the
//! store does), as bytes per second; the scheduler's load rate is the same
//! bytes over `state_loaded_ms`. Goal: `serving_ms` <= 1,000 (upstream Marathon needs minutes at
//! this size). One JSON line on stdout; BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/stack.rs"]
mod stack;

use futures::StreamExt;
use serde_json::{Value, json};
use stack::*;
use std::time::{Duration, Instant};
use xtask::zookeeper::ZooKeeper;

fn main() {
    let size = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (apps, tasks) = size
        .and_then(|s| s.split_once('x').and_then(|(a, t)| Some((a.parse().ok()?, t.parse().ok()?))))
        .unwrap_or((1000, 10_000));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!("{}", runtime.block_on(failover(apps, tasks)));
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
