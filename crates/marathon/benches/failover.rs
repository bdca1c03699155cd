//! Node failover: how long after a node dies (or is cut off) its instances run again elsewhere.
//!
//! ```text
//! cargo bench -p marathon --bench failover -- [trials=N] [kill] [partition]   (as root)
//! ```
//!
//! A 5-node `xtask::netcluster` (every agent in its own network namespace, IP and hostname;
//! master and `marathon scheduler` on the host side, release build, default failure-detection
//! settings) runs one app of 12 health-checked web servers (`python3 -m http.server $PORT0`,
//! HTTP check every second) with `["hostname", "MAX_PER", "3"]`, so a node runs at most 3 and the 4
//! other nodes have room for exactly the 3 replacements. Each trial picks a node running 3,
//! waits a random 0-1 s (so faults hit every phase of the master's ping timer), then:
//!
//! - `kill`: SIGKILL of the node's agent and every process in its namespace;
//! - `partition`: its link taken down.
//!
//! From the fault, `GET /v2/apps/web` every 10 ms until the 3 tasks of the node are replaced by
//! 3 RUNNING tasks on other nodes (`running`), and until those are also healthy (`healthy`);
//! `gone` is when the API stopped showing the lost tasks (detection plus Marathon's reaction).
//! Then the node is brought back (agent restarted, or link up) and the app converges (12 healthy
//! tasks, the master agreeing) before the next trial.
//!
//! Prints one JSON line per trial on stderr and one summary per fault on stdout (p50, p95, max
//! over the trials, nearest rank), next to upstream's defaults for the same event. BENCHMARKS.md
//! records results. Goal: p95 of `running` <= 3 s.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{BIN, Marathon, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use xtask::netcluster::{ClusterSpec, NetCluster};

const NODES: usize = 5;
const INSTANCES: usize = 12;
const PER_NODE: usize = 3;
const LONG: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let trials = args.iter().find_map(|a| a.strip_prefix("trials=")?.parse().ok()).unwrap_or(20);
    let faults: Vec<Fault> = [Fault::Kill, Fault::Partition]
        .into_iter()
        .filter(|f| !args.iter().any(|a| a == "kill" || a == "partition") || args.iter().any(|a| a == f.name()))
        .collect();
    let root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")));
    assert!(root, "the failover benchmark needs root (network namespaces)");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for fault in faults {
        println!("{}", runtime.block_on(bench(fault, trials)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Partition,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Partition => "partition",
        }
    }
}

struct Stack {
    marathon: Marathon,
    cluster: Option<NetCluster>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ClusterSpec::new(NODES, BIN, dir.path());
        let cluster =
            tokio::task::spawn_blocking(move || NetCluster::up(spec)).await.expect("join").expect("cluster up");
        let marathon = Marathon::start(&cluster.master_addr(), &dir.path().join("marathon"), &[]).await;
        Stack { marathon, cluster: Some(cluster), http: reqwest::Client::new(), _dir: dir }
    }

    fn cluster(&self) -> &NetCluster {
        self.cluster.as_ref().expect("cluster")
    }

    async fn tasks(&self) -> Vec<Value> {
        let (_, body) = self.marathon.get("/v2/apps/web").await;
        body["app"]["tasks"].as_array().cloned().unwrap_or_default()
    }

    async fn master(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.cluster().master_addr());
        match self.http.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Every instance healthy, on at most `PER_NODE` per node, all nodes active, and the master
    /// running exactly Marathon's tasks.
    async fn settled(&self) -> Option<Vec<Value>> {
        let tasks = self.tasks().await;
        let ok = tasks.len() == INSTANCES
            && tasks.iter().all(healthy)
            && per_host(&tasks).values().all(|&n| n <= PER_NODE)
            && self.master_running().await == ids(&tasks);
        let slaves = self.master("/master/slaves").await;
        let active = slaves["slaves"].as_array().map_or(0, |s| s.iter().filter(|s| s["active"] == true).count());
        (ok && active == NODES).then_some(tasks)
    }

    async fn master_running(&self) -> BTreeSet<String> {
        let state = self.master("/master/state").await;
        state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
            .filter(|t| t["state"] == "TASK_RUNNING")
            .filter_map(|t| t["id"].as_str().filter(|id| id.starts_with("web.")).map(str::to_string))
            .collect()
    }

    async fn down(mut self) {
        self.marathon.proc.kill();
        let cluster = self.cluster.take();
        tokio::task::spawn_blocking(move || drop(cluster)).await.expect("teardown");
    }
}

fn healthy(task: &Value) -> bool {
    task["state"] == "TASK_RUNNING"
        && task["healthCheckResults"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|c| c["alive"] == true))
}

fn host_of(task: &Value) -> String {
    task["host"].as_str().unwrap_or_default().to_string()
}

fn per_host(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for t in tasks {
        *counts.entry(host_of(t)).or_default() += 1;
    }
    counts
}

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

/// A small xorshift, seeded from the clock: the random wait before each fault.
fn random_below(limit: u64, state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % limit.max(1)
}

struct Trial {
    gone: Duration,
    running: Duration,
    healthy: Duration,
}

async fn bench(fault: Fault, trials: usize) -> Value {
    let mut stack = Stack::start().await;
    let app = json!({
        "id": "web", "instances": INSTANCES, "cpus": 0.01, "mem": 32,
        "cmd": "exec python3 -m http.server $PORT0",
        "constraints": [["hostname", "MAX_PER", PER_NODE.to_string()]],
        "healthChecks": [{
            "protocol": "HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 1,
            "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3
        }]
    });
    let (status, answer) = stack.marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let mut results = Vec::new();
    for trial in 0..trials {
        let tasks = eventually(LONG, "the app to settle", || stack.settled()).await;
        let counts = per_host(&tasks);
        let Some((victim, _)) = counts.iter().find(|(_, n)| **n == PER_NODE) else {
            panic!("no node runs {PER_NODE} instances: {counts:?}")
        };
        let victim = victim.clone();
        let index: usize = victim.trim_start_matches("node").parse().expect("node index");
        let lost: BTreeSet<String> = tasks
            .iter()
            .filter(|t| host_of(t) == victim)
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect();
        // Not waiting for a state: a random phase of the master's ping timer for the fault.
        tokio::time::sleep(Duration::from_millis(random_below(1000, &mut seed))).await;

        let fault_at = Instant::now();
        match fault {
            Fault::Kill => {
                let cluster = stack.cluster.as_mut().expect("cluster");
                tokio::task::block_in_place(|| cluster.kill_node(index)).expect("kill");
            }
            Fault::Partition => stack.cluster().partition(index).expect("partition"),
        }
        let (mut gone, mut running) = (None, None);
        let healthy_at = loop {
            let tasks = stack.tasks().await;
            let now = fault_at.elapsed();
            let current = ids(&tasks);
            if gone.is_none() && current.is_disjoint(&lost) {
                gone = Some(now);
            }
            let elsewhere = tasks.len() == INSTANCES
                && current.is_disjoint(&lost)
                && tasks.iter().all(|t| t["state"] == "TASK_RUNNING" && host_of(t) != victim);
            if elsewhere && running.is_none() {
                running = Some(now);
            }
            if elsewhere && tasks.iter().all(healthy) {
                break now;
            }
            assert!(now < LONG, "trial {trial}: no replacements after {now:?}: {tasks:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let trial_result =
            Trial { gone: gone.unwrap_or(healthy_at), running: running.unwrap_or(healthy_at), healthy: healthy_at };
        eprintln!(
            "{}",
            json!({"fault": fault.name(), "trial": trial, "node": victim, "gone_secs": secs(trial_result.gone),
                   "running_secs": secs(trial_result.running), "healthy_secs": secs(trial_result.healthy)})
        );
        results.push(trial_result);

        // Bring the node back (empty after a kill; its tasks killed after a partition, as
        // Marathon forgot them) for the next trial.
        match fault {
            Fault::Kill => {
                let cluster = stack.cluster.as_mut().expect("cluster");
                tokio::task::block_in_place(|| cluster.start_agent(index)).expect("restart the agent");
            }
            Fault::Partition => stack.cluster().heal(index).expect("heal"),
        }
    }
    eventually(LONG, "the app to settle", || stack.settled()).await;
    stack.down().await;
    let summary = |pick: fn(&Trial) -> Duration| {
        let mut values: Vec<Duration> = results.iter().map(pick).collect();
        values.sort_unstable();
        let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        json!({"p50": secs(rank(0.5)), "p95": secs(rank(0.95)), "max": secs(rank(1.0))})
    };
    let running = summary(|t| t.running);
    json!({
        "bench": "failover",
        "fault": fault.name(),
        "trials": results.len(),
        "nodes": NODES,
        "replaced_per_trial": PER_NODE,
        "running_secs": running,
        "healthy_secs": summary(|t| t.healthy),
        "gone_secs": summary(|t| t.gone),
        "goal_p95_secs": 3.0,
        "goal_met": running["p95"].as_f64().is_some_and(|p95| p95 <= 3.0),
        "upstream_defaults_secs": {"mesos_marathon": 75.0, "kubernetes": 348.0},
    })
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
