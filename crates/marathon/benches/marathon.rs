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
//! - `BENCH_PERF` (unset): a directory for `perf record --call-graph dwarf` of the scheduler, master and agent
//!   processes during the measured part (`<bench>.perf.data`; needs `perf`).
//!
//! Besides the goal numbers, each JSON line carries what explains them: when the scheduler
//! launched on which offer (from its log), how many ACCEPT/DECLINE calls the master saw, and the
//! CPU seconds each process used in the measured interval. BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let settings = Settings::from_env();
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

struct Settings {
    allocation_interval: String,
    scheduler_flags: Vec<String>,
    scheduler_env: Vec<(String, String)>,
    poll: Duration,
    hollow_agents: usize,
    requests: usize,
    timeout: Duration,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let num = |name: &str, default: u64| var(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            allocation_interval: var("BENCH_ALLOCATION_INTERVAL").unwrap_or_else(|| "1secs".to_string()),
            scheduler_flags: var("BENCH_SCHEDULER_FLAGS")
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            scheduler_env: var("BENCH_SCHEDULER_ENV")
                .map(|v| {
                    v.split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            poll: Duration::from_millis(num("BENCH_POLL_MS", 50)),
            hollow_agents: num("BENCH_HOLLOW_AGENTS", 20) as usize,
            requests: num("BENCH_REQUESTS", 200) as usize,
            timeout: Duration::from_secs(num("BENCH_TIMEOUT_SECS", 600)),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "allocation_interval": self.allocation_interval,
            "scheduler_flags": self.scheduler_flags.join(" "),
            "scheduler_env": self.scheduler_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            "tmpdir": std::env::temp_dir().display().to_string(),
        })
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

/// The launch benchmark's floor: N x (two new cgroups, spawn `sleep 600`, join the cgroups).
fn raw_floor(n: usize) -> Duration {
    let root = unique("bench-floor");
    let cpu_root = Path::new("/sys/fs/cgroup/cpu").join(&root);
    let mem_root = Path::new("/sys/fs/cgroup/memory").join(&root);
    std::fs::create_dir_all(&cpu_root).expect("cpu root");
    std::fs::create_dir_all(&mem_root).expect("memory root");
    let mut children = Vec::with_capacity(n);
    let mut dirs: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let cpu = cpu_root.join(i.to_string());
        let mem = mem_root.join(i.to_string());
        std::fs::create_dir(&cpu).expect("mkdir cpu");
        std::fs::create_dir(&mem).expect("mkdir memory");
        std::fs::write(cpu.join("cpu.shares"), "10").expect("cpu.shares");
        std::fs::write(mem.join("memory.limit_in_bytes"), "33554432").expect("memory limit");
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id().to_string();
        std::fs::write(cpu.join("cgroup.procs"), &pid).expect("join cpu");
        std::fs::write(mem.join("cgroup.procs"), &pid).expect("join memory");
        children.push(child);
        dirs.push((cpu, mem));
    }
    let elapsed = start.elapsed();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    for (cpu, mem) in dirs {
        let _ = std::fs::remove_dir(cpu);
        let _ = std::fs::remove_dir(mem);
    }
    let _ = std::fs::remove_dir(cpu_root);
    let _ = std::fs::remove_dir(mem_root);
    elapsed
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

// ---------------------------------------------------------------------------------------------
// The processes

enum Agents {
    /// One real agent (cgroups if root) with these resources.
    Real { resources: String },
    /// Hollow agents with `marathon agent --hollow`'s default-sized resources.
    Hollow { count: usize },
}

/// A master, agents and a scheduler, each its own process. The [`Cluster`] of the tests owns the
/// master, the agents and the temp dir, and its teardown kills whatever they started.
struct Stack {
    cluster: Cluster,
    scheduler: Proc,
    /// How the scheduler was started (for [`Stack::restart_scheduler`]).
    scheduler_args: Vec<String>,
    scheduler_env: Vec<(String, String)>,
    api: String,
    http: reqwest::Client,
}

impl Stack {
    async fn start(settings: &Settings, agents: Agents) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client");
        let master_port = free_port();
        let master = spawn(
            &[
                "master",
                "--port",
                &master_port.to_string(),
                "--work_dir",
                &dir.path().join("master").display().to_string(),
                "--hostname",
                "localhost",
                "--allocation_interval",
                &settings.allocation_interval,
            ],
            &dir.path().join("master.log"),
            "info",
            &[],
        );
        wait_http(&http, &format!("http://127.0.0.1:{master_port}/health")).await;
        let mut cluster = Cluster {
            dir,
            master,
            master_port,
            master_args: Vec::new(),
            master_starts: 1,
            agents: Vec::new(),
            cgroups_root: unique("marathon-bench"),
            http: http.clone(),
        };
        let (count, hollow, resources) = match agents {
            Agents::Real { resources } => (1, false, resources),
            Agents::Hollow { count } => (count, true, "cpus:8;mem:32768;disk:65536;ports:[31000-32000]".to_string()),
        };
        for i in 0..count {
            let port = free_port();
            let work_dir = cluster.dir.path().join(format!("agent{i}"));
            let mut args: Vec<String> = [
                "agent",
                "--master",
                &cluster.master_addr(),
                "--port",
                &port.to_string(),
                "--work_dir",
                &work_dir.display().to_string(),
                "--hostname",
                &format!("agent{i}"),
                "--cgroups_root",
                &cluster.cgroups_root,
                "--resources",
                &resources,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if hollow {
                args.push("--hollow".to_string());
            }
            let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
            let proc = spawn(&args_ref, &cluster.dir.path().join(format!("agent{i}.log")), "info", &[]);
            wait_http(&http, &format!("http://127.0.0.1:{port}/health")).await;
            cluster.agents.push(Agent { proc, port, work_dir, args });
        }
        cluster
            .wait_state("all agents registered", |s| {
                s["slaves"].as_array().is_some_and(|a| a.iter().filter(|x| x["active"] == true).count() == count)
            })
            .await;

        let port = free_port();
        let mut args: Vec<String> = [
            "scheduler",
            "--master",
            &cluster.master_addr(),
            "--http_port",
            &port.to_string(),
            "--http_address",
            "127.0.0.1",
            "--hostname",
            "localhost",
            "--work_dir",
            &cluster.dir.path().join("marathon").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(settings.scheduler_flags.iter().cloned());
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        // `reviving offers` is a debug line of the core; it shows when the rate limit let a
        // REVIVE out.
        let log = cluster.dir.path().join("scheduler.log");
        let scheduler = spawn(&args_ref, &log, "info,scheduler::core::launch=debug", &settings.scheduler_env);
        let stack = Stack {
            cluster,
            scheduler,
            scheduler_args: args,
            scheduler_env: settings.scheduler_env.clone(),
            api: format!("http://127.0.0.1:{port}"),
            http,
        };
        stack.wait_subscribed().await;
        stack
    }

    async fn wait_subscribed(&self) {
        eventually(Duration::from_secs(60), "Marathon subscribed", || async {
            let metrics = self.metrics().await;
            (metrics["gauges"]["marathon.mesos.connected.gauge"]["value"] == 1).then_some(())
        })
        .await;
    }

    /// SIGKILL the scheduler and start it again on the same work dir (it reloads its state).
    async fn restart_scheduler(&mut self) {
        self.scheduler.kill();
        let args: Vec<&str> = self.scheduler_args.iter().map(String::as_str).collect();
        let log = self.cluster.dir.path().join("scheduler-restart.log");
        self.scheduler = spawn(&args, &log, "info,scheduler::core::launch=debug", &self.scheduler_env);
        self.wait_subscribed().await;
    }

    /// `GET /metrics` (`Null` while the API is not up).
    async fn metrics(&self) -> Value {
        let Ok(response) = self.http.get(format!("{}/metrics", self.api)).send().await else { return Value::Null };
        response.json().await.unwrap_or(Value::Null)
    }

    /// `marathon.instances.running.gauge`.
    async fn running(&self) -> usize {
        self.metrics().await["gauges"]["marathon.instances.running.gauge"]["value"].as_u64().unwrap_or(0) as usize
    }

    /// Waits until no deployment is left and the scheduler used less than 50 ms of CPU in a
    /// second (or `deadline`).
    async fn settle(&self, deadline: Instant) {
        while Instant::now() < deadline {
            let deployments: Value = serde_json::from_slice(&self.get("/v2/deployments").await).unwrap_or(Value::Null);
            let before = proc_cpu_secs(self.scheduler.pid());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = proc_cpu_secs(self.scheduler.pid()) - before;
            if deployments.as_array().is_some_and(Vec::is_empty) && busy < 0.05 {
                return;
            }
        }
    }

    async fn post_app(&self, app: &Value) -> u16 {
        let response = self
            .http
            .post(format!("{}/v2/apps", self.api))
            .header("Content-Type", "application/json")
            .body(app.to_string())
            .send()
            .await
            .expect("POST /v2/apps");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(status == 201, "POST /v2/apps {}: {status} {body}", app["id"]);
        status
    }

    async fn put_apps(&self, apps: &[Value]) {
        let response = self
            .http
            .put(format!("{}/v2/apps", self.api))
            .header("Content-Type", "application/json")
            .body(Value::from(apps.to_vec()).to_string())
            .send()
            .await
            .expect("PUT /v2/apps");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(status == 200, "PUT /v2/apps: {status} {body}");
    }

    /// The whole body of a GET on the REST API.
    async fn get(&self, path_and_query: &str) -> Vec<u8> {
        let response = self.http.get(format!("{}{path_and_query}", self.api)).send().await.expect("GET");
        response.bytes().await.expect("body").to_vec()
    }

    async fn master_metrics(&self) -> Value {
        let url = format!("http://{}/metrics/snapshot", self.cluster.master_addr());
        match self.http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Lines of the scheduler's log written at or after `since` (Unix seconds) that contain
    /// `needle`, as (seconds after `since`, line).
    fn scheduler_log_since(&self, since: f64, needle: &str) -> Vec<(f64, String)> {
        self.scheduler
            .log_text()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(needle))
            .filter_map(|l| log_time(&l).map(|t| (t - since, l)))
            .filter(|(t, _)| *t >= -0.001)
            .collect()
    }

    /// The scheduler's launches (one per ACCEPT): (seconds after `since`, instances).
    fn launches_since(&self, since: f64) -> Vec<(f64, u64)> {
        self.scheduler_log_since(since, "launching on offer")
            .into_iter()
            .map(|(t, l)| (t, log_field(&l, "instances=").unwrap_or(0)))
            .collect()
    }

    fn cpu_secs(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![
            ("scheduler", proc_cpu_secs(self.scheduler.pid())),
            ("master", proc_cpu_secs(self.cluster.master.pid())),
        ];
        let agents: f64 = self.cluster.agents.iter().map(|a| proc_cpu_secs(a.proc.pid())).sum();
        out.push(("agents", agents));
        out
    }

    fn teardown(mut self, bench: &str) {
        self.scheduler.kill();
        if let Ok(dir) = std::env::var("BENCH_LOGS") {
            let to = Path::new(&dir).join(bench);
            let _ = std::fs::create_dir_all(&to);
            for entry in std::fs::read_dir(self.cluster.dir.path()).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
                }
            }
        }
        let leaked = self.cluster.teardown();
        if !leaked.is_empty() {
            eprintln!("teardown: killed {} task and monitor processes", leaked.len());
        }
    }
}

/// `perf record` of the stack's processes while the measured part runs (with `BENCH_PERF`).
struct Perf(Option<std::process::Child>);

impl Perf {
    fn start(stack: &Stack, bench: &str) -> Perf {
        let Ok(dir) = std::env::var("BENCH_PERF") else { return Perf(None) };
        let _ = std::fs::create_dir_all(&dir);
        let mut pids = vec![stack.scheduler.pid(), stack.cluster.master.pid()];
        pids.extend(stack.cluster.agents.iter().map(|a| a.proc.pid()));
        let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
        // Which process is which (`perf report --pid`): scheduler, master, agents.
        let _ = std::fs::write(Path::new(&dir).join(format!("{bench}.pids")), pids.join("\n"));
        let out = Path::new(&dir).join(format!("{bench}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(&out)
            .args(["-p", &pids.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_millis(500));
        Perf(child)
    }

    fn stop(mut self) {
        if let Some(child) = &mut self.0 {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

fn spawn(args: &[&str], log: &Path, rust_log: &str, env: &[(String, String)]) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn marathon");
    Proc { child, log: log.to_path_buf() }
}

async fn wait_http(http: &reqwest::Client, url: &str) {
    eventually(Duration::from_secs(20), url, || async {
        http.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

fn app(id: &str, instances: usize) -> Value {
    json!({
        "id": id,
        "cmd": "sleep 600",
        "cpus": 0.001,
        "mem": 1,
        "instances": instances,
        "portDefinitions": [],
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// The first number after `"key":` in a JSON body (the app's own counts come before its tasks,
/// which have no such keys), without parsing the whole body.
fn field(body: &[u8], key: &str) -> Option<u64> {
    let pattern = format!("\"{key}\":");
    let at = body.windows(pattern.len()).position(|w| w == pattern.as_bytes())? + pattern.len();
    let digits: String = body[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    digits.parse().ok()
}

fn log_field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Unix seconds of a tracing line's leading `2026-11-25T10:11:12.123456Z`.
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let mut hms = time.split(':');
    let (h, min) = (hms.next()?.parse::<f64>().ok()?, hms.next()?.parse::<f64>().ok()?);
    let s = hms.next()?.parse::<f64>().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// CPU used on this machine by processes other than this benchmark and its descendants (the
/// stack, its tasks), between [`Noise::start`] and [`Noise::other_cpu_secs`]: other work on a
/// shared machine makes a run unrepresentative, so every result reports it.
struct Noise {
    busy: f64,
    ours: std::collections::HashMap<i32, f64>,
}

impl Noise {
    fn start() -> Noise {
        Noise { busy: machine_busy_secs(), ours: descendants_cpu() }
    }

    fn other_cpu_secs(&self) -> f64 {
        let busy = machine_busy_secs() - self.busy;
        let ours: f64 =
            descendants_cpu().iter().map(|(pid, cpu)| cpu - self.ours.get(pid).copied().unwrap_or(0.0)).sum();
        round((busy - ours).max(0.0))
    }
}

/// Busy CPU seconds of the whole machine since boot (`/proc/stat`, ticks of 1/100 s).
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    (ticks.iter().take(8).sum::<f64>() - idle) / 100.0
}

/// CPU seconds of this process and every live descendant, by pid.
fn descendants_cpu() -> std::collections::HashMap<i32, f64> {
    let mut parent = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) {
            parent.insert(pid, ppid);
        }
    }
    let me = std::process::id() as i32;
    let ours = |mut pid: i32| {
        for _ in 0..64 {
            if pid == me {
                return true;
            }
            match parent.get(&pid) {
                Some(p) if *p > 1 => pid = *p,
                _ => return false,
            }
        }
        false
    };
    parent.keys().filter(|pid| ours(**pid)).map(|pid| (*pid, proc_cpu_secs(*pid))).collect()
}

/// User + system CPU seconds of a process (clock ticks of 1/100 s).
fn proc_cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn cpu_delta(before: &[(&'static str, f64)], after: &[(&'static str, f64)]) -> Value {
    let mut out = serde_json::Map::new();
    for ((name, b), (_, a)) in before.iter().zip(after) {
        out.insert((*name).to_string(), json!(round(a - b)));
    }
    Value::Object(out)
}

fn status_kib(pid: i32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: i32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0)
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// p50, p99 (nearest rank), max and mean in milliseconds.
fn stats(samples: &mut [Duration]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    samples.sort_unstable();
    let rank = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    json!({
        "n": samples.len(),
        "p50": ms(rank(0.50)),
        "p99": ms(rank(0.99)),
        "max": ms(samples[samples.len() - 1]),
        "mean": round(mean * 1000.0),
    })
}
