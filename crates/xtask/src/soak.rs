//! `cargo xtask soak`: a real cluster under app churn and faults for a while, checked for leaks.
//!
//! The cluster is a highly available [`NetCluster`] with one of each (ZooKeeper, master,
//! scheduler, each a process on a machine of its own) and `agents` agents, so that every
//! component can be killed with SIGKILL and restarted alone. The churn runs cycles through
//! Marathon's REST API next to a few long-lived base apps: create an app, scale it up, restart
//! it, kill some of its tasks, scale it down, delete it. Between steps of some cycles a fault
//! happens: SIGKILL of an agent (its tasks live on) and its restart, of the master and its
//! restart; the scheduler is killed and restarted once, before the warm-up ends.
//!
//! After every cycle, once everything converged (no deployment, every base app at its count),
//! the checks run, each given time to settle: no task process of the agents' namespaces that
//! Marathon does not know (tasks of deleted apps or killed tasks left behind), no container
//! cgroup under an agent's cgroups root beyond its live tasks, no sandbox of a finished task
//! kept longer than the GC delay (plus a minute), and the open descriptors of every component.
//! The scheduler's RSS at the first converged point after the warm-up (a third of the run)
//! is compared with the one at the end, with the same apps running (the base apps only).

use crate::netcluster::{ClusterSpec, NetCluster, Role, http_get, namespace_pids};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long completed sandboxes may stay (the agents' `--gc_delay`).
pub const GC_DELAY: Duration = Duration::from_secs(120);
/// What a sandbox may stay beyond [`GC_DELAY`] (GC runs on a timer).
const GC_SLACK: Duration = Duration::from_secs(60);
/// How long a check waits for a leak to go away before it counts it.
const SETTLE: Duration = Duration::from_secs(45);
/// How long one step of the churn may take to converge.
const CONVERGE: Duration = Duration::from_secs(180);
const BASE_APPS: usize = 3;
const BASE_INSTANCES: u64 = 2;
/// Allowed RSS drift of the scheduler.
pub const RSS_LIMIT_PERCENT: f64 = 5.0;

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub minutes: f64,
    pub agents: usize,
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub keep_dir: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("cluster: {0}")]
    Cluster(#[from] crate::netcluster::ClusterError),
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Interrupted,
}

type Result<T> = std::result::Result<T, SoakError>;

/// What one check found at one converged point.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub at_secs: u64,
    pub leaked_processes: Vec<String>,
    pub leaked_cgroups: Vec<String>,
    pub sandboxes_beyond_gc: Vec<String>,
    pub fds: BTreeMap<String, usize>,
    pub scheduler_rss_kb: u64,
}

#[derive(Debug, Default)]
pub struct Report {
    pub minutes: f64,
    pub agents: usize,
    pub cycles: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub api_errors: Vec<String>,
    pub samples: Vec<Sample>,
    pub rss_baseline_kb: Option<u64>,
    pub rss_end_kb: Option<u64>,
    pub fds_baseline: BTreeMap<String, (u32, usize)>,
    pub fds_end: BTreeMap<String, (u32, usize)>,
    pub docker: String,
}

impl Report {
    pub fn rss_drift_percent(&self) -> Option<f64> {
        let (a, b) = (self.rss_baseline_kb? as f64, self.rss_end_kb? as f64);
        (a > 0.0).then(|| (b - a) / a * 100.0)
    }

    fn leaks(&self, f: impl Fn(&Sample) -> &Vec<String>) -> BTreeSet<String> {
        self.samples.iter().flat_map(|s| f(s).iter().cloned()).collect()
    }

    /// Descriptor growth of processes that ran from the baseline to the end (same pid).
    pub fn fd_growth(&self) -> BTreeMap<String, i64> {
        self.fds_end
            .iter()
            .filter_map(|(name, (pid, n))| {
                let (base_pid, base) = self.fds_baseline.get(name)?;
                (base_pid == pid).then(|| (name.clone(), *n as i64 - *base as i64))
            })
            .collect()
    }

    /// Whether the run found nothing: no leak of any kind and the RSS within its limit.
    pub fn passed(&self) -> bool {
        self.leaks(|s| &s.leaked_processes).is_empty()
            && self.leaks(|s| &s.leaked_cgroups).is_empty()
            && self.leaks(|s| &s.sandboxes_beyond_gc).is_empty()
            && self.rss_drift_percent().is_some_and(|d| d < RSS_LIMIT_PERCENT)
            && self.fd_growth().values().all(|g| *g <= 16)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "minutes": self.minutes,
            "agents": self.agents,
            "cycles": self.cycles,
            "faults": self.faults,
            "checks": self.samples.len(),
            "leaked_processes": self.leaks(|s| &s.leaked_processes),
            "leaked_cgroups": self.leaks(|s| &s.leaked_cgroups),
            "sandboxes_beyond_gc": self.leaks(|s| &s.sandboxes_beyond_gc),
            "fds_baseline": self.fds_baseline.iter().map(|(k, (_, n))| (k.clone(), *n)).collect::<BTreeMap<_, _>>(),
            "fds_end": self.fds_end.iter().map(|(k, (_, n))| (k.clone(), *n)).collect::<BTreeMap<_, _>>(),
            "fd_growth_same_process": self.fd_growth(),
            "scheduler_rss_kb": {"baseline": self.rss_baseline_kb, "end": self.rss_end_kb,
                                 "drift_percent": self.rss_drift_percent()},
            "docker": self.docker,
            "api_errors": self.api_errors.len(),
            "passed": self.passed(),
        })
    }

    pub fn to_markdown(&self) -> String {
        let list = |s: BTreeSet<String>| if s.is_empty() { "0".to_string() } else { format!("{} ({s:?})", s.len()) };
        let faults: Vec<String> = self.faults.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let fds: Vec<String> = self
            .fds_end
            .iter()
            .map(|(k, (_, n))| {
                let base = self.fds_baseline.get(k).map_or("-".to_string(), |(_, b)| b.to_string());
                format!("{k} {base}→{n}")
            })
            .collect();
        let rss = match (self.rss_baseline_kb, self.rss_end_kb, self.rss_drift_percent()) {
            (Some(a), Some(b), Some(d)) => format!("{a} kB → {b} kB ({d:+.2} %)"),
            _ => "not measured".to_string(),
        };
        let mut out = String::new();
        out.push_str(&format!(
            "| soak | {:.0} min, {} agents | {} cycles, faults: {} | {} |\n",
            self.minutes,
            self.agents,
            self.cycles,
            faults.join(", "),
            if self.passed() { "passed" } else { "FAILED" }
        ));
        out.push_str("|---|---|---|---|\n");
        out.push_str(&format!("| leaked task processes | {} | | |\n", list(self.leaks(|s| &s.leaked_processes))));
        out.push_str(&format!("| leaked cgroups | {} | | |\n", list(self.leaks(|s| &s.leaked_cgroups))));
        out.push_str(&format!(
            "| sandboxes beyond GC ({}s + {}s) | {} | | |\n",
            GC_DELAY.as_secs(),
            GC_SLACK.as_secs(),
            list(self.leaks(|s| &s.sandboxes_beyond_gc))
        ));
        out.push_str(&format!("| open fds (baseline→end) | {} | | |\n", fds.join(", ")));
        out.push_str(&format!("| scheduler RSS (after warm-up → end) | {rss} | | |\n"));
        out.push_str(&format!("| Docker | {} | | |\n", self.docker));
        out.push_str(&format!("| API errors (retried) | {} | | |\n", self.api_errors.len()));
        out
    }
}

/// Runs the soak; `stop` (Ctrl-C) ends it early with [`SoakError::Interrupted`]. The cluster
/// and everything it started are removed when this returns, however it returns.
pub fn run(options: &SoakOptions, stop: Arc<AtomicBool>) -> Result<Report> {
    let mut spec = ClusterSpec::new(options.agents, &options.binary, &options.dir);
    spec.masters = 1;
    spec.schedulers = 1;
    spec.zookeepers = 1;
    spec.zk_session_timeout = Duration::from_secs(3);
    spec.remove_dir = !options.keep_dir;
    spec.command = true;
    spec.agent_flags = vec![format!("--gc_delay={}secs", GC_DELAY.as_secs())];
    let cluster = NetCluster::up(spec)?;
    let mut soak = Soak {
        cluster,
        stop,
        started: Instant::now(),
        duration: Duration::from_secs_f64(options.minutes * 60.0),
        report: Report { minutes: options.minutes, agents: options.agents, ..Report::default() },
        dead_sandboxes: BTreeMap::new(),
    };
    soak.report.docker = "not part of the churn (agents run the Mesos containerizer only)".to_string();
    soak.churn()?;
    Ok(soak.report)
}

struct Soak {
    cluster: NetCluster,
    stop: Arc<AtomicBool>,
    started: Instant,
    duration: Duration,
    report: Report,
    /// Sandboxes of finished tasks and when they were first seen finished.
    dead_sandboxes: BTreeMap<PathBuf, Instant>,
}

impl Soak {
    fn marathon(&self) -> String {
        self.cluster.schedulers[0].endpoint()
    }

    fn check_stop(&self) -> Result<()> {
        if self.stop.load(Ordering::SeqCst) { Err(SoakError::Interrupted) } else { Ok(()) }
    }

    /// A REST call, retried (through scheduler and master restarts) until it is answered with
    /// something but 5xx or until [`CONVERGE`].
    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let deadline = Instant::now() + CONVERGE;
        loop {
            self.check_stop()?;
            match request(&self.marathon(), method, path, body.as_ref()) {
                // A POST retried after a restart may find its app created: 409 then means done.
                Some((status, answer)) if status < 500 && (status != 409 || method == "POST") => {
                    return Ok((status, answer));
                }
                other => {
                    let what = other.map_or("no answer".to_string(), |(s, a)| format!("{s} {a}"));
                    self.report.api_errors.push(format!("{method} {path}: {what}"));
                    if Instant::now() > deadline {
                        return Err(SoakError::Failed(format!("{method} {path}: {what}")));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    fn wait(&self, what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + CONVERGE;
        while !f() {
            self.check_stop()?;
            if Instant::now() > deadline {
                return Err(SoakError::Failed(format!("timed out waiting for {what}")));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    /// Waits until no deployment runs and every app has its instances running.
    fn converge(&self) -> Result<()> {
        let marathon = self.marathon();
        self.wait("the apps to converge", || {
            let Some((200, deployments)) = request(&marathon, "GET", "/v2/deployments", None) else { return false };
            let Some((200, apps)) = request(&marathon, "GET", "/v2/apps", None) else { return false };
            deployments.as_array().is_some_and(Vec::is_empty)
                && apps["apps"].as_array().is_some_and(|apps| {
                    apps.iter().all(|a| a["tasksRunning"] == a["instances"] && a["tasksStaged"] == 0)
                })
        })
    }

    fn churn(&mut self) -> Result<()> {
        for i in 0..BASE_APPS {
            let app = app_json(&format!("/soak/base-{i}"), BASE_INSTANCES);
            self.call("POST", "/v2/apps", Some(app))?;
        }
        self.converge()?;
        let warmup_end = self.duration.mul_f64(1.0 / 3.0);
        let scheduler_fault_at = self.duration.mul_f64(1.0 / 6.0);
        let mut scheduler_killed = false;
        let mut cycle = 0usize;
        while self.started.elapsed() < self.duration {
            self.check_stop()?;
            let elapsed = self.started.elapsed();
            let fault = if !scheduler_killed && elapsed >= scheduler_fault_at {
                scheduler_killed = true;
                Some(Fault::Scheduler)
            } else {
                match cycle % 4 {
                    1 => Some(Fault::Agent(cycle / 4 % self.cluster.nodes.len())),
                    3 => Some(Fault::Master),
                    _ => None,
                }
            };
            self.cycle(cycle, fault)?;
            cycle += 1;
            self.report.cycles = cycle;
            self.converge()?;
            let sample = self.check()?;
            eprintln!(
                "soak: cycle {cycle} at {}s: {} leaked processes, {} leaked cgroups, {} sandboxes beyond GC, \
                 scheduler RSS {} kB, fds {:?}",
                sample.at_secs,
                sample.leaked_processes.len(),
                sample.leaked_cgroups.len(),
                sample.sandboxes_beyond_gc.len(),
                sample.scheduler_rss_kb,
                sample.fds
            );
            if self.report.rss_baseline_kb.is_none() && scheduler_killed && self.started.elapsed() >= warmup_end {
                self.report.rss_baseline_kb = Some(sample.scheduler_rss_kb);
                self.report.fds_baseline = self.fds_with_pids();
            }
            self.report.samples.push(sample);
        }
        // The end: the same load as at the baseline (the base apps), measured the same way.
        self.converge()?;
        let last = self.check()?;
        self.report.rss_end_kb = Some(last.scheduler_rss_kb);
        self.report.fds_end = self.fds_with_pids();
        self.report.samples.push(last);
        Ok(())
    }

    fn cycle(&mut self, k: usize, fault: Option<Fault>) -> Result<()> {
        let id = format!("/soak/churn-{k}");
        let path = format!("/v2/apps{id}");
        self.call("POST", "/v2/apps", Some(app_json(&id, 3)))?;
        self.converge()?;
        self.call("PUT", &path, Some(json!({"instances": 5})))?;
        if let Some(fault) = fault {
            self.fault(fault)?;
        }
        self.converge()?;
        self.call("POST", &format!("{path}/restart"), None)?;
        self.converge()?;
        let (_, tasks) = self.call("GET", &format!("{path}/tasks"), None)?;
        let ids: Vec<String> = tasks["tasks"]
            .as_array()
            .map(|t| t.iter().take(2).filter_map(|t| t["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        for task in ids {
            self.call("DELETE", &format!("{path}/tasks/{task}"), None)?;
        }
        self.converge()?;
        self.call("PUT", &path, Some(json!({"instances": 1})))?;
        self.converge()?;
        self.call("DELETE", &path, None)?;
        Ok(())
    }

    fn fault(&mut self, fault: Fault) -> Result<()> {
        let (name, role, i) = match fault {
            Fault::Agent(i) => ("agent kill -9 + restart", Role::Agent, i),
            Fault::Master => ("master kill -9 + restart", Role::Master, 0),
            Fault::Scheduler => ("scheduler kill -9 + restart", Role::Scheduler, 0),
        };
        let node = match role {
            Role::Agent => &self.cluster.nodes[i],
            Role::Master => &self.cluster.masters[i],
            _ => &self.cluster.schedulers[i],
        };
        if let Some(pid) = node.pid() {
            // Only the component's process: an agent's tasks live on, as after a crash of it.
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        std::thread::sleep(Duration::from_secs(2));
        self.cluster.start(role, i)?;
        match role {
            Role::Master => {
                self.wait("a leading master", || self.cluster.leading_master().is_some())?;
            }
            Role::Scheduler => {
                self.cluster.wait_schedulers(CONVERGE)?;
            }
            _ => {}
        }
        *self.report.faults.entry(name).or_default() += 1;
        Ok(())
    }

    /// The checks at a converged point; a leak must persist for [`SETTLE`] to count.
    fn check(&mut self) -> Result<Sample> {
        let deadline = Instant::now() + SETTLE;
        let mut sample;
        loop {
            self.check_stop()?;
            sample = self.sample()?;
            let clean = sample.leaked_processes.is_empty() && sample.leaked_cgroups.is_empty();
            if clean || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(sample)
    }

    fn sample(&mut self) -> Result<Sample> {
        let (_, tasks) = self.call("GET", "/v2/tasks", None)?;
        let known: BTreeSet<String> = tasks["tasks"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut sample = Sample { at_secs: self.started.elapsed().as_secs(), ..Sample::default() };
        for node in &self.cluster.nodes {
            let mut running_on_node = 0;
            let mut helpers: Vec<String> = Vec::new();
            for pid in namespace_pids(&node.netns) {
                let Some(task) = task_of(pid) else {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    helpers.push(format!("{pid} {}", comm.trim()));
                    continue;
                };
                running_on_node += 1;
                if !known.contains(&task) {
                    sample.leaked_processes.push(format!("{} pid {pid} task {task}", node.hostname));
                }
            }
            // The agent, its zygote and one monitor per task: anything beyond is left behind.
            if helpers.len() > running_on_node + 2 {
                sample.leaked_processes.push(format!(
                    "{}: {} processes besides {running_on_node} tasks (agent, zygote, monitors expected): {helpers:?}",
                    node.hostname,
                    helpers.len()
                ));
            }
            let cgroups = container_cgroups(&node.cgroups_root);
            let live_cgroups: usize = cgroups.values().max().copied().unwrap_or(0);
            if live_cgroups > running_on_node {
                for (hierarchy, n) in &cgroups {
                    if *n > running_on_node {
                        sample.leaked_cgroups.push(format!(
                            "{} {hierarchy}: {n} container cgroups, {running_on_node} task processes",
                            node.hostname
                        ));
                    }
                }
            }
            let live: BTreeSet<PathBuf> = http_get(&node.endpoint(), "/state")
                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                .map(|state| live_sandboxes(&state))
                .unwrap_or_default();
            let now = Instant::now();
            for run in sandboxes(&node.work_dir) {
                if live.contains(&run) {
                    self.dead_sandboxes.remove(&run);
                    continue;
                }
                let since = *self.dead_sandboxes.entry(run.clone()).or_insert(now);
                if now.duration_since(since) > GC_DELAY + GC_SLACK {
                    sample.sandboxes_beyond_gc.push(run.display().to_string());
                }
            }
        }
        sample.fds = self.fds_with_pids().into_iter().map(|(k, (_, n))| (k, n)).collect();
        sample.scheduler_rss_kb = self.cluster.schedulers[0].pid().map_or(0, |pid| rss_kb(pid as i32));
        Ok(sample)
    }

    fn fds_with_pids(&self) -> BTreeMap<String, (u32, usize)> {
        let mut out = BTreeMap::new();
        let nodes = self.cluster.masters.iter().chain(&self.cluster.schedulers).chain(&self.cluster.nodes);
        for node in nodes {
            if let Some(pid) = node.pid() {
                out.insert(node.hostname.clone(), (pid, fd_count(pid as i32)));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Agent(usize),
    Master,
    Scheduler,
}

fn app_json(id: &str, instances: u64) -> Value {
    json!({"id": id, "cmd": "sleep 100000", "cpus": 0.01, "mem": 16, "instances": instances,
           "portDefinitions": [], "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}})
}

/// The task a process runs (its `MESOS_TASK_ID`), if it is a task.
fn task_of(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"MESOS_TASK_ID="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Container cgroups below an agent's cgroups root, per hierarchy.
pub fn container_cgroups(root: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for hierarchy in ["cpu", "memory", "freezer", "pids"] {
        let dir = Path::new("/sys/fs/cgroup").join(hierarchy).join(root);
        let mut n = 0;
        for owner in subdirs(&dir) {
            n += subdirs(&owner).len();
        }
        out.insert(hierarchy.to_string(), n);
    }
    out
}

/// Every run directory of an agent's work dir
/// (`slaves/*/frameworks/*/executors/*/runs/*`, without the `latest` links).
pub fn sandboxes(work_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for agent in subdirs(&work_dir.join("slaves")) {
        for framework in subdirs(&agent.join("frameworks")) {
            for executor in subdirs(&framework.join("executors")) {
                out.extend(subdirs(&executor.join("runs")));
            }
        }
    }
    out
}

fn live_sandboxes(state: &Value) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for framework in state["frameworks"].as_array().into_iter().flatten() {
        for executor in framework["executors"].as_array().into_iter().flatten() {
            if let Some(dir) = executor["directory"].as_str() {
                out.insert(PathBuf::from(dir));
            }
        }
    }
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
        })
        .unwrap_or_default()
}

pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

pub fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A minimal HTTP/1.0 request with a JSON body: the status and the JSON answer (`Null` if none).
fn request(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    use std::io::{Read, Write};
    let socket: std::net::SocketAddr = addr.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}
