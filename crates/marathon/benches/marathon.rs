//! Marathon's REST API v2 under load, each result next to a floor measured in the same run.
//!
//! ```text
//! cargo bench -p marathon --bench marathon -- [scale[=N]] [sequential[=N]] [list[=APPSxTASKS]]
//! ```
//!
//! Without a name all three run (`scale` needs root and cgroups v1). Every component is its own
//! process (`marathon master`, `marathon agent`, `marathon scheduler`, release build), in a temp
//! dir (`TMPDIR=/dev/shm` puts work dirs on tmpfs) with free ports; everything is killed at the
//! end.
//!
//! 1. `scale` (N = 1000): one app of N `sleep 600` instances (cpus 0.001, mem 1, no ports) on one
//!    real agent with cgroups. From POST /v2/apps until GET /v2/apps/{id} shows
//!    `tasksRunning == N`, against the raw spawn + cgroup floor of `launch.rs`. Goal: 2 x floor.
//! 2. `sequential` (N = 200): N single-instance apps, one after another: POST, then GET
//!    /v2/apps/{id} every millisecond until `tasksRunning == 1`. p50/p99 of POST-to-running,
//!    next to the p50 of GET /ping (one HTTP round trip). Goal: p99 <= 50 ms.
//! 3. `list` (1000 apps x 10,000 tasks on hollow agents): p50/p99 of
//!    `GET /v2/apps?embed=apps.tasks`, next to GET /ping, GET /v2/apps (no tasks) and
//!    re-serializing the same document in this process; the scheduler's VmRSS. Goals: p99 <=
//!    50 ms, RSS <= 100 MB.
//!
//! Settings (environment):
//! - `BENCH_ALLOCATION_INTERVAL` (`1secs`): the master's `--allocation_interval`.
//! - `BENCH_SCHEDULER_FLAGS` (empty): extra `marathon scheduler` flags, e.g.
//!   `--min_revive_offers_interval 0 --max_instances_per_offer 1000`.
//! - `BENCH_SCHEDULER_ENV` (empty): extra environment of the scheduler process, e.g.
//!   `MALLOC_ARENA_MAX=2`.
//! - `BENCH_POLL_MS` (50): poll period of `scale` (`sequential` always polls every 1 ms).
//! - `BENCH_HOLLOW_AGENTS` (20), `BENCH_REQUESTS` (200): for `list`.
//! - `BENCH_TIMEOUT_SECS` (600): give up waiting (the result then says `timed_out`).
//! - `BENCH_LOGS` (unset): a directory to copy every component's log to, per benchmark.
//! - `BENCH_ZK` (unset): `1` keeps the scheduler's state in a real ZooKeeper started by the
//!   benchmark (`--zk ... --disable_ha`) instead of the embedded store.
//! - `BENCH_PERF` (unset): a directory for `perf record --call-graph dwarf` of the scheduler, master and agent
//!   processes during the measured part (`<bench>.perf.data`; needs `perf`).
//!
//! Besides the goal numbers, each JSON line carries what explains them: when the scheduler
//! launched on which offer (from its log), how many ACCEPT/DECLINE calls the master saw, and the
//! CPU seconds each process used in the measured interval. BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/stack.rs"]
mod stack;

use common::*;
use floor::raw_floor;
use serde_json::{Value, json};
use stack::*;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut settings = Settings::from_env();
    // `BENCH_ZK=1`: the scheduler keeps its state in a real ZooKeeper (started here).
    let _zk = std::env::var("BENCH_ZK").is_ok_and(|v| v == "1").then(|| {
        let zk = xtask::zookeeper::ZooKeeper::start(1).expect("ZooKeeper (Debian's zookeeper package)");
        settings.scheduler_flags.extend(["--zk".to_string(), zk.url("/marathon"), "--disable_ha".to_string()]);
        zk
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| a == name || a.starts_with(&format!("{name}=")));
    let size = |name: &str| args.iter().find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string));
    if wanted("scale") {
        let n = size("scale").and_then(|s| s.parse().ok()).unwrap_or(1000);
        assert!(cgroups_available(), "the scale benchmark needs root and cgroups v1");
        println!("{}", runtime.block_on(scale(n, &settings)));
    }
    if wanted("sequential") {
        let n = size("sequential").and_then(|s| s.parse().ok()).unwrap_or(200);
        println!("{}", runtime.block_on(sequential(n, &settings)));
    }
    if wanted("list") {
        let (apps, tasks) = size("list")
            .and_then(|s| s.split_once('x').and_then(|(a, t)| Some((a.parse().ok()?, t.parse().ok()?))))
            .unwrap_or((1000, 10_000));
        println!("{}", runtime.block_on(list(apps, tasks, &settings)));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. One app, N instances, against the spawn + cgroup floor

async fn scale(n: usize, settings: &Settings) -> Value {
    // Best of three: the first run after a teardown can still compete with the kernel freeing
    // the previous run's cgroups.
    let floor = (0..3).map(|_| raw_floor(n)).min().unwrap_or_default();
    let resources = format!("cpus:64;mem:{};disk:65536;ports:[31000-32000]", (n * 2).max(65_536));
    let stack = Stack::start(settings, Agents::Real { resources }).await;
    let perf = Perf::start(&stack, "scale");
    let noise = Noise::start();
    let cpu_before = stack.cpu_secs();
    let (wall, start) = (unix_now(), Instant::now());
    let post = stack.post_app(&app("/bench/scale", n)).await;
    let post_ms = ms(start.elapsed());
    let mut polls = Vec::new();
    // (seconds after the POST, tasksRunning) of every poll.
    let mut progress: Vec<(f64, usize)> = Vec::new();
    let (mut first_staged, mut first_running, mut running) = (None, None, 0);
    while running < n && start.elapsed() < settings.timeout {
        let t = Instant::now();
        let body = stack.get("/v2/apps/bench/scale").await;
        polls.push(t.elapsed());
        let staged = field(&body, "tasksStaged").unwrap_or(0) as usize;
        running = field(&body, "tasksRunning").unwrap_or(0) as usize;
        progress.push((start.elapsed().as_secs_f64(), running));
        if staged + running > 0 && first_staged.is_none() {
            first_staged = Some(start.elapsed());
        }
        if running > 0 && first_running.is_none() {
            first_running = Some(start.elapsed());
        }
        if running < n {
            tokio::time::sleep(settings.poll).await;
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_delta(&cpu_before, &stack.cpu_secs());
    let other_cpu = noise.other_cpu_secs();
    perf.stop();
    let launches = stack.launches_since(wall);
    let revives = stack.scheduler_log_since(wall, "reviving offers").len();
    // The same progress as the agent logged it: tasks handed to it, and RUNNING updates made.
    let agent_log = stack.cluster.agents[0].proc.log_text();
    let agent_times = |needle: &str| -> Vec<f64> {
        agent_log
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| log_time(&strip_ansi(l)))
            .map(|t| t - wall)
            .collect()
    };
    let milestones = |times: &[f64]| -> Value {
        let at = |q: f64| times.get(((q * n as f64).ceil() as usize).clamp(1, n) - 1).map(|t| round(*t));
        json!({"first": at(0.0), "p50": at(0.5), "p90": at(0.9), "all": at(1.0)})
    };
    let mut scheduler_running: Vec<f64> = Vec::new();
    for (t, count) in &progress {
        while scheduler_running.len() < (*count).min(n) {
            scheduler_running.push(*t);
        }
    }
    let master = stack.master_metrics().await;
    let rss = rss_kib(stack.scheduler.pid());
    stack.teardown("scale");
    json!({
        "bench": "marathon_scale",
        "instances": n,
        "post_status": post,
        "floor_spawn_cgroup_secs": round(floor.as_secs_f64()),
        "marathon_secs": round(elapsed.as_secs_f64()),
        "ratio": round(elapsed.as_secs_f64() / floor.as_secs_f64()),
        "goal_ratio": 2.0,
        "timed_out": running < n,
        "tasks_running": running,
        "post_ms": post_ms,
        "first_staged_secs": first_staged.map(|d| round(d.as_secs_f64())),
        "first_running_secs": first_running.map(|d| round(d.as_secs_f64())),
        "accepts": launches.len(),
        "launch_at_secs": launches.iter().map(|(t, _)| round(*t)).collect::<Vec<_>>(),
        "instances_per_accept": launches.iter().map(|(_, k)| k).collect::<Vec<_>>(),
        "revives": revives,
        "master_accept_calls": master["master/messages_launch_tasks"],
        "master_decline_calls": master["master/messages_decline_offers"],
        "agent_got_task_at_secs": milestones(&agent_times("launching task")),
        "agent_sent_running_at_secs": milestones(&agent_times("state=\"TASK_RUNNING\"")),
        "api_running_at_secs": milestones(&scheduler_running),
        "get_app_ms": stats(&mut polls),
        "cpu_secs": cpu,
        "other_cpu_secs": other_cpu,
        "scheduler_rss_mib": rss.map(mib),
        "settings": settings.to_json(),
    })
}

// ---------------------------------------------------------------------------------------------
// 2. Single-instance apps one after another

async fn sequential(n: usize, settings: &Settings) -> Value {
    let agents = if cgroups_available() {
        Agents::Real { resources: "cpus:64;mem:65536;disk:65536;ports:[31000-32000]".to_string() }
    } else {
        Agents::Hollow { count: 1 }
    };
    let real = matches!(agents, Agents::Real { .. });
    let stack = Stack::start(settings, agents).await;
    let mut ping = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        stack.get("/ping").await;
        ping.push(t.elapsed());
    }
    let perf = Perf::start(&stack, "sequential");
    let noise = Noise::start();
    let cpu_before = stack.cpu_secs();
    let (wall, start_all) = (unix_now(), Instant::now());
    let (mut total, mut posts, mut to_staged, mut staged_to_running) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut polls = 0usize;
    let mut timed_out = false;
    // Unix seconds of each POST and of the poll that saw the task running.
    let mut walls: Vec<(f64, f64)> = Vec::new();
    for i in 0..n {
        let id = format!("/bench/seq/app-{i:04}");
        let posted_at = unix_now();
        let start = Instant::now();
        stack.post_app(&app(&id, 1)).await;
        posts.push(start.elapsed());
        let mut staged_at = None;
        loop {
            let body = stack.get(&format!("/v2/apps{id}")).await;
            polls += 1;
            let running = field(&body, "tasksRunning").unwrap_or(0);
            if staged_at.is_none() && field(&body, "tasksStaged").unwrap_or(0) + running > 0 {
                staged_at = Some(start.elapsed());
            }
            if running >= 1 {
                break;
            }
            if start.elapsed() > settings.timeout {
                timed_out = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let done = start.elapsed();
        walls.push((posted_at, unix_now()));
        let staged = staged_at.unwrap_or(done);
        total.push(done);
        to_staged.push(staged);
        staged_to_running.push(done - staged);
        if timed_out {
            break;
        }
    }
    let all = start_all.elapsed();
    let mut slowest: Vec<(usize, f64)> = total.iter().map(|d| ms(*d)).enumerate().collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    slowest.truncate(5);
    let cpu = cpu_delta(&cpu_before, &stack.cpu_secs());
    let other_cpu = noise.other_cpu_secs();
    perf.stop();
    let launches = stack.launches_since(wall);
    let revive_times = stack.scheduler_log_since(wall, "reviving offers");
    let revives = revive_times.len();
    let breakdown = breakdown(&stack, wall, &walls, &launches, &revive_times);
    let master = stack.master_metrics().await;
    stack.teardown("sequential");
    json!({
        "bench": "marathon_sequential",
        "apps": n,
        "real_agent": real,
        "timed_out": timed_out,
        "post_to_running_ms": stats(&mut total),
        "slowest_app_ms": slowest,
        "goal_p99_ms": 50,
        "post_ms": stats(&mut posts),
        "post_to_staged_ms": stats(&mut to_staged),
        "staged_to_running_ms": stats(&mut staged_to_running),
        "breakdown_ms": breakdown,
        "ping_ms": stats(&mut ping),
        "total_secs": round(all.as_secs_f64()),
        "polls": polls,
        "accepts": launches.len(),
        "revives": revives,
        "master_accept_calls": master["master/messages_launch_tasks"],
        "master_decline_calls": master["master/messages_decline_offers"],
        "cpu_secs": cpu,
        "other_cpu_secs": other_cpu,
        "settings": settings.to_json(),
    })
}

/// Where each app's POST-to-running went, from the components' logs (one clock): POST until
/// the scheduler's REVIVE and until it launched on an offer, from there until the agent got the
/// task, until the agent made the RUNNING update, and until the API showed it.
fn breakdown(
    stack: &Stack,
    since: f64,
    walls: &[(f64, f64)],
    launches: &[(f64, u64)],
    revives: &[(f64, String)],
) -> Value {
    let agent_log = stack.cluster.agents[0].proc.log_text();
    let mut got: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    let mut running: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for line in agent_log.lines().map(strip_ansi) {
        let Some(t) = log_time(&line) else { continue };
        let Some(app) = line.split("task_id=").nth(1).and_then(|rest| rest.split(".instance-").next()) else {
            continue;
        };
        if line.contains("launching task") {
            got.entry(app.to_string()).or_insert(t);
        } else if line.contains("state=\"TASK_RUNNING\"") {
            running.entry(app.to_string()).or_insert(t);
        }
    }
    let (mut to_revive, mut to_launch, mut to_agent, mut in_agent, mut to_api) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let secs = |d: f64| Duration::from_secs_f64(d.max(0.0));
    for (i, (posted, done)) in walls.iter().enumerate() {
        let (posted, done) = (posted - since, done - since);
        let key = format!("bench_seq_app-{i:04}");
        let (Some(got), Some(running)) = (got.get(&key).map(|t| t - since), running.get(&key).map(|t| t - since))
        else {
            continue;
        };
        if let Some((revived, _)) = revives.iter().find(|(t, _)| *t >= posted && *t <= got) {
            to_revive.push(secs(revived - posted));
        }
        if let Some((launched, _)) = launches.iter().find(|(t, _)| *t >= posted && *t <= got) {
            to_launch.push(secs(launched - posted));
            to_agent.push(secs(got - launched));
        }
        in_agent.push(secs(running - got));
        to_api.push(secs(done - running));
    }
    json!({
        "post_to_revive": stats(&mut to_revive),
        "post_to_launch_on_offer": stats(&mut to_launch),
        "launch_to_agent_got_task": stats(&mut to_agent),
        "agent_got_task_to_running_update": stats(&mut in_agent),
        "running_update_to_api": stats(&mut to_api),
    })
}

// ---------------------------------------------------------------------------------------------
// 3. Listing many apps with their tasks

async fn list(apps: usize, tasks: usize, settings: &Settings) -> Value {
    let stack = Stack::start(settings, Agents::Hollow { count: settings.hollow_agents }).await;
    let rss_empty = rss_kib(stack.scheduler.pid());
    let setup_noise = Noise::start();
    let setup_cpu_before = stack.cpu_secs();
    let start = Instant::now();
    // 100 apps per `PUT /v2/apps` (one deployment each: a POST per app would run into
    // `--max_running_deployments`).
    let definitions: Vec<Value> = (0..apps)
        .map(|i| app(&format!("/bench/list/app-{i:04}"), tasks / apps + usize::from(i < tasks % apps)))
        .collect();
    for chunk in definitions.chunks(100) {
        stack.put_apps(chunk).await;
    }
    let posted = start.elapsed();
    let mut running = 0;
    while running < tasks && start.elapsed() < settings.timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        running = stack.running().await;
    }
    let all_running = start.elapsed();
    // Running tasks are counted before their updates are stored and acknowledged and their
    // deployments finished: wait until the scheduler idles, so that the requests below measure
    // the listing alone.
    stack.settle(start + settings.timeout).await;
    let settled = start.elapsed();
    let setup_cpu = cpu_delta(&setup_cpu_before, &stack.cpu_secs());
    let setup_other_cpu = setup_noise.other_cpu_secs();
    let launches = stack.launches_since(0.0);
    let rss_loaded = rss_kib(stack.scheduler.pid());

    let requests = settings.requests;
    let noise = Noise::start();
    let mut ping = Vec::new();
    for _ in 0..requests {
        let t = Instant::now();
        stack.get("/ping").await;
        ping.push(t.elapsed());
    }
    let mut plain = Vec::new();
    let mut plain_bytes = 0;
    for _ in 0..requests.min(50) {
        let t = Instant::now();
        plain_bytes = stack.get("/v2/apps").await.len();
        plain.push(t.elapsed());
    }
    let perf = Perf::start(&stack, "list");
    let cpu_before = stack.cpu_secs();
    let mut embedded = Vec::new();
    let mut body = Vec::new();
    let mut rss_first = None;
    for _ in 0..requests {
        let t = Instant::now();
        body = stack.get("/v2/apps?embed=apps.tasks").await;
        embedded.push(t.elapsed());
        if rss_first.is_none() {
            rss_first = rss_kib(stack.scheduler.pid());
        }
    }
    let cpu = cpu_delta(&cpu_before, &stack.cpu_secs());
    perf.stop();
    let other_cpu = noise.other_cpu_secs();
    let rss_after = rss_kib(stack.scheduler.pid());
    let hwm = status_kib(stack.scheduler.pid(), "VmHWM:");
    let metrics_rss = stack.metrics().await["gauges"]["process.memory.resident.gauge.bytes"]["value"].as_u64();

    // The same document parsed and written again in this process: what rendering JSON alone
    // costs, without the scheduler's state walk, its driver hop or HTTP.
    let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let listed_tasks: usize = document["apps"]
        .as_array()
        .map(|a| a.iter().map(|app| app["tasks"].as_array().map_or(0, Vec::len)).sum())
        .unwrap_or(0);
    let mut serialize = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let bytes = serde_json::to_vec(&document).expect("serialize");
        serialize.push(t.elapsed());
        std::hint::black_box(bytes);
    }
    let mut to_value = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let v: Value = serde_json::from_slice(&body).expect("parse");
        to_value.push(t.elapsed());
        std::hint::black_box(v);
    }
    // The same state loaded from the store by a fresh process (no garbage of the setup or of
    // earlier listings): what the state itself costs, and what one listing adds to it.
    let mut stack = stack;
    let restart = Instant::now();
    stack.restart_scheduler().await;
    let mut running_again = 0;
    while running_again < tasks && restart.elapsed() < settings.timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        running_again = stack.running().await;
    }
    stack.settle(restart + settings.timeout).await;
    let restarted = restart.elapsed();
    let rss_restarted = rss_kib(stack.scheduler.pid());
    let t = Instant::now();
    stack.get("/v2/apps?embed=apps.tasks").await;
    let first_after_restart = t.elapsed();
    let rss_restarted_listed = rss_kib(stack.scheduler.pid());
    let per_request = |secs: f64| round(secs * 1000.0 / requests.max(1) as f64);
    let result = json!({
        "bench": "marathon_list",
        "apps": apps,
        "tasks": tasks,
        "hollow_agents": settings.hollow_agents,
        "listed_tasks": listed_tasks,
        "timed_out": running < tasks,
        "embed_tasks_ms": stats(&mut embedded),
        "goal_p99_ms": 50,
        "body_bytes": body.len(),
        "apps_without_tasks_ms": stats(&mut plain),
        "apps_without_tasks_bytes": plain_bytes,
        "ping_ms": stats(&mut ping),
        "same_json_serialize_ms": stats(&mut serialize),
        "same_json_parse_ms": stats(&mut to_value),
        "scheduler_cpu_ms_per_request": cpu["scheduler"].as_f64().map(per_request),
        "other_cpu_secs": other_cpu,
        "scheduler_rss_mib": rss_after.map(mib),
        "scheduler_rss_before_requests_mib": rss_loaded.map(mib),
        "scheduler_rss_after_first_request_mib": rss_first.map(mib),
        "scheduler_rss_empty_mib": rss_empty.map(mib),
        "scheduler_hwm_mib": hwm.map(mib),
        "metrics_resident_mib": metrics_rss.map(|b| round(b as f64 / 1_048_576.0)),
        "goal_rss_mib": 100,
        "restarted_secs": round(restarted.as_secs_f64()),
        "restarted_rss_mib": rss_restarted.map(mib),
        "restarted_rss_after_one_request_mib": rss_restarted_listed.map(mib),
        "restarted_first_request_ms": ms(first_after_restart),
        "setup_put_secs": round(posted.as_secs_f64()),
        "setup_all_running_secs": round(all_running.as_secs_f64()),
        "setup_settled_secs": round(settled.as_secs_f64()),
        "setup_accepts": launches.len(),
        "setup_cpu_secs": setup_cpu,
        "setup_other_cpu_secs": setup_other_cpu,
        "settings": settings.to_json(),
    });
    stack.teardown("list");
    result
}
