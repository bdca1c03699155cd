//! Marathon on a multi-node cluster (every agent in its own network namespace, with its own IP,
//! hostname and `rack`/`zone` attributes), driven through its REST API: placement constraints
//! across nodes, replacement of a killed node's work within seconds, convergence after a
//! partition heals, and no false agent loss while the machine is saturated.
//!
//! Node `i` is `node{i}` with `rack:rack-{i % 2}` and `zone:zone-{i % 3}` (see
//! `xtask::netcluster`). Every test needs root and `ip netns`; without them it prints a NOTICE
//! and passes.

mod common;

use common::{Marathon, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xtask::netcluster::{ClusterSpec, NetCluster};

const LONG: Duration = Duration::from_secs(60);

fn can_make_namespaces() -> bool {
    std::process::Command::new("ip").args(["netns", "list"]).output().is_ok_and(|o| o.status.success())
        && std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// One test at a time, also under `cargo test`'s default parallelism: the timings (and the CPU
/// burner) must not share two cores with another cluster.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A cluster of `agents` nodes and Marathon on the host side. `None` (after a NOTICE) when this
/// machine cannot make network namespaces.
struct Env {
    marathon: Marathon,
    cluster: Option<NetCluster>,
    http: reqwest::Client,
    // Removed after everything in it stopped.
    _dir: tempfile::TempDir,
    // Released last.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Env {
    async fn start(agents: usize) -> Option<Env> {
        if !can_make_namespaces() {
            eprintln!("NOTICE: not root or no `ip netns`; the multi-node tests need both");
            return None;
        }
        let serial = SERIAL.lock().await;
        let mut dir = tempfile::tempdir().expect("tempdir");
        if std::env::var_os("MULTINODE_KEEP_LOGS").is_some() {
            // For debugging: logs and work dirs stay (everything else is still removed).
            dir.disable_cleanup(true);
            eprintln!("logs in {}", dir.path().display());
        }
        let spec = ClusterSpec::new(agents, common::BIN, dir.path());
        let cluster =
            tokio::task::spawn_blocking(move || NetCluster::up(spec)).await.expect("join").expect("cluster up");
        let marathon = Marathon::start(&cluster.master_addr(), &dir.path().join("marathon"), &[]).await;
        Some(Env { _serial: serial, marathon, cluster: Some(cluster), http: reqwest::Client::new(), _dir: dir })
    }

    fn cluster(&self) -> &NetCluster {
        self.cluster.as_ref().expect("cluster")
    }

    fn cluster_mut(&mut self) -> &mut NetCluster {
        self.cluster.as_mut().expect("cluster")
    }

    /// Tears the cluster down off the async runtime (it runs `ip` commands and waits).
    async fn down(mut self) {
        self.marathon.proc.kill();
        let cluster = self.cluster.take();
        tokio::task::spawn_blocking(move || drop(cluster)).await.expect("teardown");
    }

    async fn create(&self, app: Value) {
        let (status, answer) = self.marathon.send(Method::POST, "/v2/apps", Some(app.clone())).await;
        assert_eq!(status, 201, "{app} -> {answer}");
    }

    /// The app's tasks as `/v2/apps/{id}` shows them.
    async fn tasks(&self, app: &str) -> Vec<Value> {
        let (_, body) = self.marathon.get(&format!("/v2/apps/{app}")).await;
        body["app"]["tasks"].as_array().cloned().unwrap_or_default()
    }

    async fn master(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.cluster().master_addr());
        match self.http.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Ids of the tasks the master reports TASK_RUNNING for app `app`.
    async fn master_running(&self, app: &str) -> BTreeSet<String> {
        let state = self.master("/master/state").await;
        let prefix = format!("{app}.");
        state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
            .filter(|t| t["state"] == "TASK_RUNNING")
            .filter_map(|t| t["id"].as_str().filter(|id| id.starts_with(&prefix)).map(str::to_string))
            .collect()
    }

    fn log_tail(&self) -> String {
        let log = self.marathon.proc.log_text();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

fn sleeper(id: &str, instances: usize, constraints: Value) -> Value {
    json!({
        "id": id, "cmd": "sleep 600", "cpus": 0.01, "mem": 16, "instances": instances,
        "portDefinitions": [], "constraints": constraints
    })
}

/// A web server answering Marathon's HTTP health check every second.
fn web(id: &str, instances: usize, cpus: f64) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": cpus, "mem": 32,
        "cmd": "exec python3 -m http.server $PORT0",
        "healthChecks": [{
            "protocol": "HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 1,
            "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3
        }]
    })
}

fn host_of(task: &Value) -> String {
    task["host"].as_str().unwrap_or_default().to_string()
}

fn node_index(host: &str) -> usize {
    host.strip_prefix("node").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

/// Tasks per host.
fn per_host(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for t in tasks {
        *counts.entry(host_of(t)).or_default() += 1;
    }
    counts
}

fn all_running(tasks: &[Value], n: usize) -> bool {
    tasks.len() == n && tasks.iter().all(|t| t["state"] == "TASK_RUNNING")
}

fn healthy(task: &Value) -> bool {
    task["state"] == "TASK_RUNNING"
        && task["healthCheckResults"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|c| c["alive"] == true))
}

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

/// Reasons with declined offers in a queue item's `processedOffersSummary`.
fn reject_reasons(item: &Value) -> BTreeSet<String> {
    let summary = &item["processedOffersSummary"];
    ["rejectSummaryLastOffers", "rejectSummaryLaunchAttempt"]
        .iter()
        .flat_map(|key| summary[*key].as_array().cloned().unwrap_or_default())
        .filter(|step| step["declined"].as_u64().unwrap_or(0) > 0)
        .filter_map(|step| step["reason"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_place_instances_across_nodes_and_explain_what_waits() {
    let Some(env) = Env::start(5).await else { return };
    env.create(sleeper("unique", 6, json!([["hostname", "UNIQUE"]]))).await;
    // With the number of racks given: without it, GROUP_BY only balances over the values it has
    // seen so far (upstream's documented behaviour), and one offer may take all six.
    env.create(sleeper("grouped", 6, json!([["rack", "GROUP_BY", "2"]]))).await;
    // Three zones: one instance in each, the fourth cannot go anywhere.
    env.create(sleeper("maxper", 4, json!([["zone", "MAX_PER", "1"]]))).await;
    env.create(sleeper("like", 4, json!([["hostname", "LIKE", "node[12]"]]))).await;

    // UNIQUE hostname: one instance on each of the 5 nodes; the sixth waits for the constraint.
    let (tasks, item) = eventually(LONG, "5 unique tasks and the sixth queued", || async {
        let tasks = env.tasks("unique").await;
        let (_, queue) = env.marathon.get("/v2/queue").await;
        let item = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == "/unique")?.clone();
        let waiting = item["count"] == 1 && reject_reasons(&item).contains("UnfulfilledConstraint");
        (all_running(&tasks, 5) && waiting).then_some((tasks, item))
    })
    .await;
    let hosts = per_host(&tasks);
    assert_eq!(hosts.len(), 5, "{hosts:?}");
    assert!(hosts.values().all(|&n| n == 1), "{hosts:?}");
    eprintln!("unique: {hosts:?}; queue: {}", item["processedOffersSummary"]);

    // GROUP_BY rack: node0, node2, node4 are rack-0; node1, node3 are rack-1.
    let tasks = eventually(LONG, "6 grouped tasks", || async {
        let tasks = env.tasks("grouped").await;
        all_running(&tasks, 6).then_some(tasks)
    })
    .await;
    let mut racks = BTreeMap::new();
    for t in &tasks {
        *racks.entry(format!("rack-{}", node_index(&host_of(t)) % 2)).or_insert(0) += 1;
    }
    assert_eq!(racks, BTreeMap::from([("rack-0".to_string(), 3), ("rack-1".to_string(), 3)]), "{tasks:?}");

    // MAX_PER 1 zone: zone-0 (node0, node3), zone-1 (node1, node4), zone-2 (node2).
    let (tasks, item) = eventually(LONG, "3 maxper tasks and the fourth queued", || async {
        let tasks = env.tasks("maxper").await;
        let (_, queue) = env.marathon.get("/v2/queue").await;
        let item = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == "/maxper")?.clone();
        let waiting = item["count"] == 1 && reject_reasons(&item).contains("UnfulfilledConstraint");
        (all_running(&tasks, 3) && waiting).then_some((tasks, item))
    })
    .await;
    let zones: BTreeSet<usize> = tasks.iter().map(|t| node_index(&host_of(t)) % 3).collect();
    assert_eq!(zones, BTreeSet::from([0, 1, 2]), "{tasks:?}");
    assert_eq!(item["count"], 1);

    // LIKE node[12]: only node1 and node2.
    let tasks = eventually(LONG, "4 like tasks", || async {
        let tasks = env.tasks("like").await;
        all_running(&tasks, 4).then_some(tasks)
    })
    .await;
    let hosts = per_host(&tasks);
    assert!(hosts.keys().all(|h| h == "node1" || h == "node2"), "{hosts:?}");

    // Still exactly as placed: the waiting instances were not squeezed in later.
    assert_eq!(env.tasks("unique").await.len(), 5);
    assert_eq!(env.tasks("maxper").await.len(), 3);
    env.down().await;
}

/// Puts `n` instances of a health-checked web app on node `target` only: the other nodes are
/// filled up first (a filler app takes all their CPUs), then the filler is removed.
async fn web_app_on_one_node(env: &Env, app: &str, n: usize, target: usize) -> Vec<Value> {
    let nodes = env.cluster().nodes.len();
    let filler = json!({
        "id": "filler", "cmd": "sleep 600", "cpus": 2, "mem": 16, "instances": nodes - 1,
        "portDefinitions": [], "constraints": [["hostname", "UNLIKE", format!("node{target}")]]
    });
    env.create(filler).await;
    env.marathon.wait_running("filler", nodes - 1, LONG).await;
    env.create(web(app, n, 0.1)).await;
    let tasks = eventually(LONG, "a healthy web app on the target node", || async {
        let tasks = env.tasks(app).await;
        (tasks.len() == n && tasks.iter().all(healthy)).then_some(tasks)
    })
    .await;
    assert_eq!(per_host(&tasks), BTreeMap::from([(format!("node{target}"), n)]));
    let (status, answer) = env.marathon.send(Method::DELETE, "/v2/apps/filler", None).await;
    assert_eq!(status, 200, "{answer}");
    // Its resources are free again on the master before the fault.
    eventually(LONG, "the filler's tasks to end", || async {
        env.master_running("filler").await.is_empty().then_some(())
    })
    .await;
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_instances_run_healthy_elsewhere_within_3_seconds() {
    let Some(mut env) = Env::start(5).await else { return };
    let target = 1;
    let before = web_app_on_one_node(&env, "web", 3, target).await;

    let killed_at = Instant::now();
    env.cluster_mut().kill_node(target).expect("kill node");
    // When the API first showed the old tasks gone, the replacements staged, and running.
    let timeline: [std::cell::Cell<Option<Duration>>; 3] = Default::default();
    let tasks = eventually(Duration::from_secs(30), "3 healthy replacements on other nodes", || async {
        let tasks = env.tasks("web").await;
        let new: Vec<&Value> = tasks.iter().filter(|t| !before.iter().any(|b| b["id"] == t["id"])).collect();
        let seen = [
            new.len() == tasks.len(),
            new.len() == 3,
            new.len() == 3 && new.iter().all(|t| t["state"] == "TASK_RUNNING"),
        ];
        for (cell, seen) in timeline.iter().zip(seen) {
            if seen && cell.get().is_none() {
                cell.set(Some(killed_at.elapsed()));
            }
        }
        let replaced = tasks.len() == 3
            && tasks.iter().all(|t| healthy(t) && host_of(t) != format!("node{target}"))
            && ids(&tasks).is_disjoint(&ids(&before));
        replaced.then_some(tasks)
    })
    .await;
    let elapsed = killed_at.elapsed();
    let [gone, staged, running] = timeline.map(|c| c.get());
    eprintln!(
        "kill: replacements healthy after {elapsed:?} on {:?} (old tasks gone after {gone:?}, replacements \
         staged after {staged:?}, running after {running:?})",
        per_host(&tasks)
    );
    assert!(elapsed < Duration::from_secs(3), "replacements healthy only after {elapsed:?}\n{}", env.log_tail());
    let (_, app) = env.marathon.get("/v2/apps/web").await;
    assert_eq!(app["app"]["tasksHealthy"], 3, "{app}");
    env.down().await;
}

/// Running tasks of `app` per host, and whether Marathon and the master agree on exactly `n`
/// running tasks on `n` different nodes.
async fn converged(env: &Env, app: &str, n: usize) -> Option<Vec<Value>> {
    let tasks = env.tasks(app).await;
    let master = env.master_running(app).await;
    (all_running(&tasks, n) && per_host(&tasks).len() == n && master == ids(&tasks)).then_some(tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_partition_heals_every_app_converges_to_its_instance_count() {
    let Some(env) = Env::start(5).await else { return };
    // 4 instances on 5 nodes: each app has one node free for a replacement.
    // `dflt`: the default unreachable strategy {0, 0}: replaced and expunged at once, so the
    // task that comes back is unknown and killed.
    env.create(sleeper("dflt", 4, json!([["hostname", "UNIQUE"]]))).await;
    // `kept`: inactive at once (replaced) but kept for 10 minutes, so the task that comes back
    // counts again and the surplus is chosen by killSelection (YOUNGEST_FIRST: the replacement).
    let mut kept = sleeper("kept", 4, json!([["hostname", "UNIQUE"]]));
    kept["unreachableStrategy"] = json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 600});
    kept["killSelection"] = json!("YOUNGEST_FIRST");
    env.create(kept).await;
    let before: BTreeMap<&str, Vec<Value>> = [
        ("dflt", env.marathon.wait_running("dflt", 4, LONG).await),
        ("kept", env.marathon.wait_running("kept", 4, LONG).await),
    ]
    .into();
    // A node running an instance of both.
    let victim = (0..5)
        .map(|i| format!("node{i}"))
        .find(|h| before.values().all(|tasks| per_host(tasks).contains_key(h)))
        .expect("a node with both apps");
    let i = node_index(&victim);
    let cut_at = Instant::now();
    env.cluster().partition(i).expect("partition");

    // Each app runs a replacement on the node that had none.
    let mut replacements = BTreeMap::new();
    for (app, tasks) in &before {
        let during = eventually(LONG, &format!("a replacement of {app} on its fifth node"), || async {
            let tasks = env.tasks(app).await;
            let running: Vec<Value> = tasks.iter().filter(|t| t["state"] == "TASK_RUNNING").cloned().collect();
            let hosts = per_host(&running);
            (running.len() == 4 && hosts.len() == 4 && !hosts.contains_key(&victim)).then_some(running)
        })
        .await;
        eprintln!("partition of {victim}: {app} replacement running after {:?}", cut_at.elapsed());
        let new: BTreeSet<String> = ids(&during).difference(&ids(tasks)).cloned().collect();
        assert_eq!(new.len(), 1, "{during:?}");
        replacements.insert(*app, new);
    }
    // Marathon keeps the cut-off instance of `kept` (unreachable), and forgot the one of `dflt`.
    let tasks = env.tasks("kept").await;
    let unreachable: Vec<&Value> = tasks.iter().filter(|t| t["state"] == "TASK_UNREACHABLE").collect();
    assert!(tasks.len() == 5 && unreachable.len() == 1 && host_of(unreachable[0]) == victim, "{tasks:?}");
    assert_eq!(env.tasks("dflt").await.len(), 4);

    env.cluster().heal(i).expect("heal");
    eventually(LONG, &format!("{victim} to be active again"), || async {
        let slaves = env.master("/master/slaves").await;
        let back = slaves["slaves"].as_array()?.iter().any(|s| s["hostname"] == victim.as_str() && s["active"] == true);
        back.then_some(())
    })
    .await;
    // Exactly 4 instances again, on 4 different nodes, in Marathon and on the master...
    let mut after = BTreeMap::new();
    for app in before.keys() {
        after.insert(
            *app,
            eventually(LONG, &format!("{app}: 4 tasks, Marathon and master agreeing"), || converged(&env, app, 4))
                .await,
        );
    }
    // ...and it stays so.
    let hold = Instant::now() + Duration::from_secs(3);
    while Instant::now() < hold {
        for app in before.keys() {
            assert!(
                converged(&env, app, 4).await.is_some(),
                "{app} not converged any more: {:?}",
                env.tasks(app).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Which task went: the returning one for `dflt`, the replacement for `kept`.
    assert!(ids(&after["dflt"]).is_superset(&replacements["dflt"]), "{:?}", after["dflt"]);
    assert!(!per_host(&after["dflt"]).contains_key(&victim), "{:?}", after["dflt"]);
    assert_eq!(ids(&after["kept"]), ids(&before["kept"]), "the returning task should stay");
    env.down().await;
}

/// Busy-loop processes on every core, killed when dropped (also on panic).
struct CpuBurner(Vec<Child>);

impl CpuBurner {
    fn start(n: usize) -> CpuBurner {
        let burners = (0..n)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn a CPU burner")
            })
            .collect();
        CpuBurner(burners)
    }
}

impl Drop for CpuBurner {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Cumulative jiffies (busy, total) of all CPUs.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_is_falsely_lost_for_a_minute_on_a_saturated_machine() {
    let Some(env) = Env::start(5).await else { return };
    env.create(sleeper("steady", 5, json!([["hostname", "UNIQUE"]]))).await;
    let before = ids(&env.marathon.wait_running("steady", 5, LONG).await);
    let removals = |metrics: &Value| metrics["master/slave_removals"].as_f64();
    assert_eq!(removals(&env.master("/metrics/snapshot").await), Some(0.0));

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let burner = CpuBurner::start(2 * cores);
    let (busy0, total0) = cpu_jiffies();
    let started = Instant::now();
    let mut polls = 0;
    // Work for the agents besides the load: another app scaled between 0 and 10 every 5 s.
    let mut churn_at = started;
    let mut churn_up = true;
    let mut churn_peak = 0;
    env.create(sleeper("churn", 0, json!([]))).await;
    while started.elapsed() < Duration::from_secs(60) {
        if Instant::now() >= churn_at {
            let instances = if churn_up { 10 } else { 0 };
            let body = json!({"instances": instances});
            let (status, answer) = env.marathon.send(Method::PUT, "/v2/apps/churn?force=true", Some(body)).await;
            assert_eq!(status, 200, "{answer}");
            churn_up = !churn_up;
            churn_at = Instant::now() + Duration::from_secs(5);
        }
        let slaves = env.master("/master/slaves").await;
        if let Some(slaves) = slaves["slaves"].as_array() {
            let inactive: Vec<&Value> = slaves.iter().filter(|s| s["active"] != true).collect();
            assert!(
                slaves.len() == 5 && inactive.is_empty(),
                "an agent was lost after {:?} under load: {inactive:?}",
                started.elapsed()
            );
        }
        let tasks = env.tasks("steady").await;
        if !tasks.is_empty() {
            assert!(
                all_running(&tasks, 5) && ids(&tasks) == before,
                "an instance changed after {:?} under load: {tasks:?}",
                started.elapsed()
            );
        }
        let churning = env.tasks("churn").await.iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        churn_peak = churn_peak.max(churning);
        polls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (busy1, total1) = cpu_jiffies();
    drop(burner);
    let load = (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
    eprintln!("60 s at {:.0}% CPU: {polls} polls, up to {churn_peak} churn tasks, no agent lost", load * 100.0);
    assert_eq!(churn_peak, 10, "the churn app never ran");
    assert!(load > 0.9, "the machine was not saturated: {:.0}% busy", load * 100.0);
    assert!(polls > 20, "too few polls ({polls}) to have watched the minute");
    // The master agrees: no agent was ever removed, every task still runs.
    assert_eq!(removals(&env.master("/metrics/snapshot").await), Some(0.0));
    assert_eq!(env.master_running("steady").await, before);
    env.down().await;
}
