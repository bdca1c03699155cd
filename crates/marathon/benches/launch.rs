//! Bulk launch through the whole cluster core, against the operating system's floor.
//!
//! ```text
//! cargo bench -p marathon --bench launch -- [N=1000] [--argv]     (as root, for cgroups)
//! ```
//!
//! 1. Floor: spawn N `sleep 600` processes with `std::process::Command`, each in its own new
//!    cpu and memory cgroup (mkdir, set cpu.shares and memory.limit_in_bytes, write the pid to
//!    cgroup.procs). Nothing else: no sandbox, no monitor, no HTTP.
//! 2. Cluster: a `marathon master` and one `marathon agent` process; a framework subscribes and
//!    launches N `sleep 600` tasks (0.01 cpu, 8 MB each) from its first offer. Measured from the
//!    ACCEPT until the framework has seen TASK_RUNNING for all N. The command is the shell
//!    command `sleep 600`, which the agent execs directly (plain words need no `/bin/sh`, see
//!    `containerizer::launch::simple_command`); with `--argv` it is `sleep` with arguments
//!    `["sleep", "600"]` (`shell: false`). Both run the same process as the floor.
//!
//! Profiling knobs (environment): `LAUNCH_BENCH_CPU=1` prints the CPU seconds the master, the
//! agent and the framework used during the launch; `LAUNCH_BENCH_LOGS=<dir>` keeps the master's
//! and the agent's logs; `LAUNCH_BENCH_FLOOR=0` skips the floor.
//!
//! Prints one JSON line with both times and their ratio; BENCHMARKS.md records results.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/floor.rs"]
mod floor;

use common::*;
use floor::raw_floor;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let argv = std::env::args().any(|a| a == "--argv");
    assert!(cgroups_available(), "the launch benchmark needs root and cgroups v1");
    // For profiling the cluster alone: LAUNCH_BENCH_FLOOR=0 skips the floor.
    let floor =
        if std::env::var("LAUNCH_BENCH_FLOOR").is_ok_and(|v| v == "0") { Duration::from_secs(1) } else { raw_floor(n) };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (cluster_time, all_starting) = runtime.block_on(through_cluster(n, argv));
    println!(
        "{}",
        json!({
            "bench": "launch",
            "tasks": n,
            "command": if argv { "argv" } else { "shell" },
            "floor_spawn_cgroup_secs": round(floor.as_secs_f64()),
            "cluster_secs": round(cluster_time.as_secs_f64()),
            "cluster_all_starting_secs": round(all_starting.as_secs_f64()),
            "ratio": round(cluster_time.as_secs_f64() / floor.as_secs_f64()),
            "cluster_tasks_per_sec": round(n as f64 / cluster_time.as_secs_f64()),
        })
    );
}

/// User and system CPU seconds of process `pid` (all its threads) so far.
fn cpu_secs(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (11 and 12 after the command name).
    (ticks(11) + ticks(12)) / 100.0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Time until all N are running, and until all N were reported starting.
async fn through_cluster(n: usize, argv: bool) -> (Duration, Duration) {
    let resources = format!("--resources=cpus:{};mem:{};disk:4096;ports:[31000-32000]", n / 50 + 4, n * 8 + 1024);
    let mut cluster = Cluster::start_with(1, &[resources.as_str()]).await;
    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("bench", true, &[])).await;
    fw.pipelined_acks = true;
    let offer = fw.next_offers(Duration::from_secs(20)).await.remove(0);
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let mut task = command_task(&offer, &format!("sleep-{i}"), "sleep 600", 0.01, 8.0);
            if argv {
                task["command"] = json!({"shell": false, "value": "sleep", "arguments": ["sleep", "600"]});
            }
            task
        })
        .collect();
    let pids = [
        ("master", cluster.master.pid()),
        ("agent", cluster.agents[0].proc.pid()),
        ("bench", std::process::id() as i32),
    ];
    let cpu_before: Vec<f64> = pids.iter().map(|(_, p)| cpu_secs(*p)).collect();
    let start = Instant::now();
    assert_eq!(fw.launch(&offer, tasks).await, 202);
    let mut running = BTreeSet::new();
    let mut starting = 0;
    let mut all_starting = Duration::ZERO;
    let deadline = Duration::from_secs(600);
    while running.len() < n {
        let left = deadline.saturating_sub(start.elapsed());
        let e = fw.next_event(left).await.unwrap_or_else(|| panic!("only {} of {n} running", running.len()));
        if e["type"] != "UPDATE" {
            continue;
        }
        let status = &e["update"]["status"];
        match status["state"].as_str() {
            Some("TASK_RUNNING") => {
                running.insert(status["task_id"]["value"].as_str().unwrap_or_default().to_string());
            }
            Some("TASK_STARTING") => {
                starting += 1;
                if starting == n {
                    all_starting = start.elapsed();
                }
            }
            other => panic!("unexpected state {other:?}: {status}"),
        }
    }
    let elapsed = start.elapsed();
    if std::env::var_os("LAUNCH_BENCH_CPU").is_some() {
        let used: Vec<String> = pids
            .iter()
            .zip(&cpu_before)
            .map(|((name, p), before)| format!("{name} {:.3}", cpu_secs(*p) - before))
            .collect();
        eprintln!("cpu seconds during the launch: {}", used.join(", "));
    }
    // For profiling: LAUNCH_BENCH_LOGS=<dir> keeps the master's and the agent's logs.
    if let Some(dir) = std::env::var_os("LAUNCH_BENCH_LOGS") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(&cluster.master.log, dir.join("master.log"));
        let _ = std::fs::copy(&cluster.agents[0].proc.log, dir.join("agent.log"));
    }
    fw.teardown().await;
    eventually(Duration::from_secs(120), "tasks to be cleaned up", || async {
        cluster.sandbox_pids().is_empty().then_some(())
    })
    .await;
    cluster.teardown();
    (elapsed, all_starting)
}
