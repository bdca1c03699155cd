//! Test harness: a real cluster of `marathon` processes on loopback, a minimal v1 framework
//! client, and cleanup that leaves no process or cgroup behind.

#![allow(dead_code, unreachable_pub)]

pub mod ha;

use futures::StreamExt;
use mesos_api::recordio::Decoder;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_marathon");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call, for cgroup roots and the like.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Polls `f` until it returns `Some`, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn marathon");
    Proc { child, log: log.to_path_buf() }
}

pub fn cgroups_available() -> bool {
    nix_is_root() && Path::new("/sys/fs/cgroup/memory").is_dir() && Path::new("/sys/fs/cgroup/cpu").is_dir()
}

pub fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

pub struct Agent {
    pub proc: Proc,
    pub port: u16,
    pub work_dir: PathBuf,
    pub args: Vec<String>,
}

/// A master and agents, each its own process, all in one temp dir and one cgroup root.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub master: Proc,
    pub master_port: u16,
    /// The master's command line (empty for a cluster built by hand, which cannot restart it).
    pub master_args: Vec<String>,
    pub master_starts: u32,
    pub agents: Vec<Agent>,
    pub cgroups_root: String,
    pub http: reqwest::Client,
    /// `Authorization` for the master's read-only endpoints (`--authenticate_http_readonly`).
    pub state_auth: Option<String>,
}

pub const CGROUP_SUBSYSTEMS: [&str; 5] = ["cpu", "memory", "pids", "freezer", "cpuacct"];

impl Cluster {
    pub async fn start(agents: usize) -> Cluster {
        Self::start_with(agents, &[]).await
    }

    pub async fn start_with(agents: usize, agent_extra: &[&str]) -> Cluster {
        Self::start_custom(agents, &[], agent_extra).await
    }

    /// A cluster whose master gets `master_extra` flags and whose agents get `agent_extra`.
    pub async fn start_custom(agents: usize, master_extra: &[&str], agent_extra: &[&str]) -> Cluster {
        Self::start_inner(agents, master_extra, agent_extra, None).await
    }

    /// [`Self::start_custom`] for a master that authenticates its read-only endpoints: the
    /// cluster reads them as `principal` with `secret`.
    pub async fn start_custom_authorized(
        agents: usize,
        master_extra: &[&str],
        agent_extra: &[&str],
        (principal, secret): (&str, &str),
    ) -> Cluster {
        let authorization = mesos_api::credentials::basic_header(principal, secret);
        Self::start_inner(agents, master_extra, agent_extra, Some(authorization)).await
    }

    async fn start_inner(
        agents: usize,
        master_extra: &[&str],
        agent_extra: &[&str],
        authorization: Option<String>,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let master_port = free_port();
        let mut args: Vec<String> = [
            "master",
            "--port",
            &master_port.to_string(),
            "--work_dir",
            &dir.path().join("master").display().to_string(),
            "--hostname",
            "localhost",
            "--allocation_interval",
            "200ms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(master_extra.iter().map(|s| s.to_string()));
        let master = spawn(&args, &dir.path().join("master.log"));
        let mut cluster = Cluster {
            dir,
            master,
            master_port,
            master_args: args,
            master_starts: 1,
            agents: Vec::new(),
            cgroups_root: unique("marathon-test"),
            http: reqwest::Client::new(),
            state_auth: authorization,
        };
        cluster.wait_http(master_port).await;
        for i in 0..agents {
            cluster.add_agent(i, agent_extra).await;
        }
        cluster
            .wait_state("all agents registered", |s| {
                s["slaves"].as_array().is_some_and(|a| a.iter().filter(|x| x["active"] == true).count() == agents)
            })
            .await;
        cluster
    }

    pub fn master_addr(&self) -> String {
        format!("127.0.0.1:{}", self.master_port)
    }

    async fn wait_http(&self, port: u16) {
        let url = format!("http://127.0.0.1:{port}/health");
        let http = self.http.clone();
        eventually(Duration::from_secs(20), &format!("HTTP on port {port}"), || {
            let http = http.clone();
            let url = url.clone();
            async move { http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
    }

    /// A GET of a read-only endpoint of the master.
    fn read_request(&self, url: String) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.state_auth {
            Some(authorization) => request.header("Authorization", authorization),
            None => request,
        }
    }

    /// SIGKILLs the master (agents and frameworks see their streams break).
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Starts the master again on the same port and work dir, and waits for its HTTP server.
    pub async fn start_master(&mut self) {
        self.master_starts += 1;
        let log = self.dir.path().join(format!("master-{}.log", self.master_starts));
        self.master = spawn(&self.master_args, &log);
        self.wait_http(self.master_port).await;
    }

    /// The master's `/metrics/snapshot`.
    pub async fn master_metrics(&self) -> Value {
        let url = format!("http://{}/metrics/snapshot", self.master_addr());
        match self.read_request(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Starts agent `i` (hostname `agent<i>`, work dir `agent<i>`) on this cluster's master.
    pub async fn add_agent(&mut self, i: usize, extra: &[&str]) {
        let port = free_port();
        let work_dir = self.dir.path().join(format!("agent{i}"));
        let mut args: Vec<String> = [
            "agent",
            "--master",
            &self.master_addr(),
            "--port",
            &port.to_string(),
            "--work_dir",
            &work_dir.display().to_string(),
            "--hostname",
            &format!("agent{i}"),
            "--cgroups_root",
            &self.cgroups_root,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !extra.iter().any(|a| a.starts_with("--resources")) {
            args.push("--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]".to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc = spawn(&args, &self.dir.path().join(format!("agent{i}.log")));
        self.wait_http(port).await;
        self.agents.push(Agent { proc, port, work_dir, args });
    }

    /// Starts agent `i` again with the same flags and work dir (after a kill).
    pub async fn restart_agent(&mut self, i: usize) {
        let args = self.agents[i].args.clone();
        let log = self.dir.path().join(format!("agent{i}-restart.log"));
        self.agents[i].proc = spawn(&args, &log);
        self.wait_http(self.agents[i].port).await;
    }

    pub async fn master_state(&self) -> Value {
        let url = format!("http://{}/master/state", self.master_addr());
        match self.read_request(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    pub async fn wait_state(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(Duration::from_secs(20), what, || async {
            let s = self.master_state().await;
            pred(&s).then_some(s)
        })
        .await
    }

    pub async fn agent_get(&self, i: usize, path_and_query: &str) -> reqwest::Response {
        let url = format!("http://127.0.0.1:{}{path_and_query}", self.agents[i].port);
        self.http.get(url).send().await.expect("agent GET")
    }

    /// Pids of every process in this cluster's cgroups (any subsystem).
    pub fn cgroup_pids(&self) -> Vec<i32> {
        cgroup_root_pids(&self.cgroups_root)
    }

    /// Container cgroups that still exist under this cluster's root (each agent keeps its
    /// containers in a cgroup of its own there: `<root>/agent-<hash>/<container>`).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for sub in CGROUP_SUBSYSTEMS {
            let root = Path::new("/sys/fs/cgroup").join(sub).join(&self.cgroups_root);
            for owner in subdirs(&root) {
                dirs.extend(subdirs(&owner));
            }
        }
        dirs
    }

    /// Processes whose working directory is inside this cluster's temp dir (task processes,
    /// with or without cgroups).
    pub fn sandbox_pids(&self) -> Vec<i32> {
        let root = self.dir.path();
        let mut pids = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if let Ok(cwd) = std::fs::read_link(e.path().join("cwd"))
                && cwd.starts_with(root)
            {
                pids.push(pid);
            }
        }
        pids
    }

    /// Kills everything this cluster started; removes its cgroups. Returns what was left over
    /// by the components themselves (for leak assertions).
    pub fn teardown(&mut self) -> Vec<i32> {
        for a in &mut self.agents {
            a.proc.kill();
        }
        self.master.kill();
        let mut leaked = self.cgroup_pids();
        leaked.extend(self.sandbox_pids());
        leaked.sort_unstable();
        leaked.dedup();
        for _ in 0..50 {
            let pids = self.sandbox_pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                kill9(pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        clear_cgroup_root(&self.cgroups_root);
        leaked
    }
}

/// Pids of every process in the container cgroups under `root` (any subsystem).
pub fn cgroup_root_pids(root: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for sub in CGROUP_SUBSYSTEMS {
        for dir in cgroups_below(&Path::new("/sys/fs/cgroup").join(sub).join(root)) {
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The directories right below `dir`.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// Every cgroup below `dir` (not `dir` itself), deepest first.
fn cgroups_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in subdirs(dir) {
        out.extend(cgroups_below(&sub));
        out.push(sub);
    }
    out
}

/// Kills every process in the cgroups under `root` and removes them and `root`.
pub fn clear_cgroup_root(root: &str) {
    for _ in 0..50 {
        let pids = cgroup_root_pids(root);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            kill9(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for sub in CGROUP_SUBSYSTEMS {
        let dir = Path::new("/sys/fs/cgroup").join(sub).join(root);
        for below in cgroups_below(&dir) {
            let _ = std::fs::remove_dir(below);
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// `marathon local` on free ports, with its own work dir (`<dir>/state`, log `<dir>/local.log`)
/// and cgroup root, plus `extra` flags. Dropping it kills the process, then clears the cgroups,
/// then removes the directory (fields drop in this order).
pub struct Local {
    pub proc: Proc,
    pub http_port: u16,
    pub master_port: u16,
    pub agent_port: u16,
    pub cgroups: CgroupRoot,
    pub dir: tempfile::TempDir,
}

impl Local {
    pub fn start(cgroup_prefix: &str, extra: &[&str]) -> Local {
        let cgroups = CgroupRoot::new(cgroup_prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let (http_port, master_port, agent_port) = (free_port(), free_port(), free_port());
        let log = dir.path().join("local.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(BIN)
            .args(["local", "--work_dir"])
            .arg(dir.path().join("state"))
            .args(["--http_port", &http_port.to_string(), "--master_port", &master_port.to_string()])
            .args(["--agent_port", &agent_port.to_string(), "--cgroups_root", &cgroups.0])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("spawn marathon local");
        Local { proc: Proc { child, log }, http_port, master_port, agent_port, cgroups, dir }
    }

    /// [`Self::start`], then waits for its API. A start that loses one of its ports to another
    /// test between choosing and binding it (the process exits) is retried on other ports; a
    /// start that times out panics with the tail of its log.
    pub async fn serving(cgroup_prefix: &str, extra: &[&str]) -> Local {
        let http = reqwest::Client::new();
        for attempt in 1..=3 {
            let mut local = Local::start(cgroup_prefix, extra);
            let ping = format!("{}/ping", local.api());
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if http.get(&ping).send().await.is_ok_and(|r| r.status().is_success()) {
                    return local;
                }
                if let Ok(Some(status)) = local.proc.child.try_wait() {
                    eprintln!("marathon local exited ({status}) on attempt {attempt}:\n{}", local.log_tail());
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out after 30s waiting for Marathon's REST API; marathon local's log:\n{}",
                    local.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        panic!("marathon local did not start in 3 attempts (see above)");
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = self.proc.log_text();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The REST API's base URL.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

/// The cgroup root of one test's agent (a unique name): dropping it kills whatever still runs
/// in its cgroups (tasks outlive their agent by design) and removes them. Declare it before
/// the process that uses it, so that the process is killed first.
pub struct CgroupRoot(pub String);

impl CgroupRoot {
    pub fn new(prefix: &str) -> CgroupRoot {
        CgroupRoot(unique(prefix))
    }
}

impl Drop for CgroupRoot {
    fn drop(&mut self) {
        clear_cgroup_root(&self.0);
    }
}

fn kill9(pid: i32) {
    signal(pid, "KILL");
}

/// Sends signal `name` (`STOP`, `CONT`, `KILL`...) to `pid`.
pub fn signal(pid: i32, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal v1 framework

pub struct Framework {
    pub id: String,
    pub stream_id: String,
    pub url: String,
    http: reqwest::Client,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event seen, in order (HEARTBEATs excluded).
    pub seen: Vec<Value>,
    reader: tokio::task::JoinHandle<()>,
    /// Acknowledge updates that carry a uuid.
    pub auto_ack: bool,
    /// Send acknowledgements without waiting for their answers (as a busy framework would).
    pub pipelined_acks: bool,
}

impl Framework {
    pub async fn subscribe(master: &str, framework_info: Value) -> Framework {
        Self::subscribe_as(master, framework_info, None).await
    }

    /// [`Self::subscribe`] with this `Authorization` header on every request.
    pub async fn subscribe_as(master: &str, framework_info: Value, authorization: Option<&str>) -> Framework {
        let url = format!("http://{master}/api/v1/scheduler");
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(authorization) = authorization {
            headers.insert(reqwest::header::AUTHORIZATION, authorization.parse().expect("header value"));
        }
        let http = reqwest::Client::builder().default_headers(headers).build().expect("client");
        let mut body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
        if let Some(id) = framework_info.get("id") {
            body["framework_id"] = id.clone();
        }
        let resp = http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("subscribe");
        assert_eq!(resp.status(), 200, "subscribe refused");
        let stream_id = resp.headers()["Mesos-Stream-Id"].to_str().expect("ascii").to_string();
        let (tx, mut events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut decoder = Decoder::new();
            while let Some(Ok(chunk)) = body.next().await {
                let Ok(records) = decoder.feed(&chunk) else { return };
                for r in records {
                    if let Ok(v) = serde_json::from_slice::<Value>(&r)
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let first = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("SUBSCRIBED in time")
            .expect("stream open");
        assert_eq!(first["type"], "SUBSCRIBED", "{first}");
        let id = first["subscribed"]["framework_id"]["value"].as_str().expect("id").to_string();
        Framework { id, stream_id, url, http, events, seen: vec![first], reader, auto_ack: true, pipelined_acks: false }
    }

    pub async fn call(&self, mut call: Value) -> u16 {
        call["framework_id"] = json!({"value": self.id});
        self.http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &self.stream_id)
            .body(call.to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// The next non-heartbeat event, acknowledging updates on the way if `auto_ack`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let e = tokio::time::timeout_at(deadline, self.events.recv()).await.ok()??;
            if e["type"] == "HEARTBEAT" {
                continue;
            }
            if self.auto_ack && e["type"] == "UPDATE" {
                let status = &e["update"]["status"];
                if status.get("uuid").is_some() {
                    let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": self.id}, "acknowledge": {
                        "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}});
                    if self.pipelined_acks {
                        let request = self
                            .http
                            .post(&self.url)
                            .header("Content-Type", "application/json")
                            .header("Mesos-Stream-Id", &self.stream_id)
                            .body(ack.to_string());
                        // Answers are not checked: acks may still be in flight at teardown.
                        tokio::spawn(async move {
                            let _ = request.send().await;
                        });
                    } else {
                        assert_eq!(self.call(ack).await, 202, "ack refused");
                    }
                }
            }
            self.seen.push(e.clone());
            return Some(e);
        }
    }

    /// Waits for an event matching `pred`.
    pub async fn wait_for(&mut self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("timed out after {timeout:?} waiting for {what}; seen: {:#?}", self.seen),
            }
        }
    }

    pub async fn next_offers(&mut self, timeout: Duration) -> Vec<Value> {
        let e = self.wait_for(timeout, "offers", |e| e["type"] == "OFFERS").await;
        e["offers"]["offers"].as_array().cloned().unwrap_or_default()
    }

    pub async fn wait_state(&mut self, task_id: &str, state: &str, timeout: Duration) -> Value {
        let e = self
            .wait_for(timeout, &format!("{task_id} {state}"), |e| {
                e["type"] == "UPDATE"
                    && e["update"]["status"]["task_id"]["value"] == task_id
                    && e["update"]["status"]["state"] == state
            })
            .await;
        e["update"]["status"].clone()
    }

    /// Like [`Framework::wait_state`], but satisfied by an update seen earlier too (events of
    /// different tasks may arrive in any order).
    pub async fn wait_state_seen(&mut self, task_id: &str, state: &str, timeout: Duration) -> Value {
        let earlier = self.seen.iter().find(|e| {
            e["type"] == "UPDATE"
                && e["update"]["status"]["task_id"]["value"] == task_id
                && e["update"]["status"]["state"] == state
        });
        match earlier {
            Some(e) => e["update"]["status"].clone(),
            None => self.wait_state(task_id, state, timeout).await,
        }
    }

    /// States seen so far for `task_id`, in order.
    pub fn states_of(&self, task_id: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|e| e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == task_id)
            .map(|e| e["update"]["status"]["state"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn launch(&self, offer: &Value, tasks: Vec<Value>) -> u16 {
        self.call(json!({"type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
            "filters": {"refuse_seconds": 1.0}}}))
            .await
    }

    pub async fn decline_all(&self, offers: &[Value]) {
        let ids: Vec<Value> = offers.iter().map(|o| o["id"].clone()).collect();
        self.call(json!({"type": "DECLINE", "decline": {"offer_ids": ids, "filters": {"refuse_seconds": 1.0}}})).await;
    }

    pub async fn teardown(&self) -> u16 {
        self.call(json!({"type": "TEARDOWN"})).await
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A command task for `offer`.
pub fn command_task(offer: &Value, id: &str, cmd: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": cmd},
    })
}

pub fn framework_info(name: &str, checkpoint: bool, caps: &[&str]) -> Value {
    json!({
        "user": "root",
        "name": name,
        "failover_timeout": 600.0,
        "checkpoint": checkpoint,
        "capabilities": caps.iter().map(|c| json!({"type": c})).collect::<Vec<_>>(),
    })
}

/// The Python interpreter of the venv made by `scripts/install-test-deps`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MARATHON_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/install-test-deps (or scripts/test)", p.display());
    p
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

// ---------------------------------------------------------------------------------------------
// Marathon (`marathon scheduler`) as its own process

/// A `marathon scheduler` process with its REST API on a free port.
pub struct Marathon {
    pub proc: Proc,
    pub port: u16,
    pub work_dir: PathBuf,
    pub args: Vec<String>,
    pub http: reqwest::Client,
    restarts: u32,
}

impl Marathon {
    /// Starts Marathon on `master` (which need not be up: the REST API works without it),
    /// keeping its state in `work_dir`. Revives are not rate-limited, so tests see launches
    /// at once.
    pub async fn start(master: &str, work_dir: &Path, extra: &[&str]) -> Marathon {
        let port = free_port();
        let mut args: Vec<String> = [
            "scheduler",
            "--master",
            master,
            "--http_port",
            &port.to_string(),
            "--http_address",
            "127.0.0.1",
            "--work_dir",
            &work_dir.display().to_string(),
            "--hostname",
            "localhost",
            "--min_revive_offers_interval",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = work_dir.with_extension("log");
        let mut marathon = Marathon {
            proc: spawn(&args, &log),
            port,
            work_dir: work_dir.to_path_buf(),
            args,
            http: reqwest::Client::new(),
            restarts: 0,
        };
        marathon.wait_ready().await;
        marathon
    }

    async fn wait_ready(&mut self) {
        let url = self.url("/ping");
        let http = self.http.clone();
        eventually(Duration::from_secs(20), "Marathon's REST API", || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// From now on `get` and `send` (and everything built on them) send this `Authorization`
    /// header.
    pub fn authorize_with(&mut self, authorization: &str) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, authorization.parse().expect("header value"));
        self.http = reqwest::Client::builder().default_headers(headers).build().expect("client");
    }

    /// SIGKILL, then start again with the same flags and work dir.
    pub async fn kill9_and_restart(&mut self) {
        self.proc.kill();
        self.restarts += 1;
        let log = self.work_dir.with_extension(format!("restart{}.log", self.restarts));
        self.proc = spawn(&self.args, &log);
        self.wait_ready().await;
    }

    /// GET `path`, returning the status and the JSON body (`Null` if not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `method` `path` with a JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The app's tasks once every one of them runs and its count equals `instances`.
    pub async fn wait_running(&self, app: &str, instances: usize, timeout: Duration) -> Vec<Value> {
        let path = format!("/v2/apps/{}", app.trim_start_matches('/'));
        eventually(timeout, &format!("{instances} running tasks of {app}"), || async {
            let (status, body) = self.get(&path).await;
            let tasks = body["app"]["tasks"].as_array()?.clone();
            let all_running = tasks.iter().all(|t| t["state"] == "TASK_RUNNING");
            (status == 200 && all_running && tasks.len() == instances).then_some(tasks)
        })
        .await
    }
}

/// One event of Marathon's `/v2/events` stream, with when it arrived.
#[derive(Debug, Clone)]
pub struct SeenEvent {
    pub at: Instant,
    pub kind: String,
    pub data: Value,
}

/// Follows `<url>/v2/events<query>` in the background; the events seen so far, in order.
pub fn follow_events(url: &str, query: &str) -> std::sync::Arc<std::sync::Mutex<Vec<SeenEvent>>> {
    follow_events_as(url, query, None)
}

/// [`follow_events`] with this `Authorization` header.
pub fn follow_events_as(
    url: &str,
    query: &str,
    authorization: Option<&str>,
) -> std::sync::Arc<std::sync::Mutex<Vec<SeenEvent>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let url = format!("{url}/v2/events{query}");
    let authorization = authorization.map(str::to_string);
    tokio::spawn(async move {
        let mut request = reqwest::Client::new().get(url).header("Accept", "text/event-stream");
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.expect("GET /v2/events");
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut kind = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                let line = line.trim_end();
                if let Some(event) = line.strip_prefix("event:") {
                    kind = event.trim().to_string();
                } else if let Some(data) = line.strip_prefix("data:") {
                    let data = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                    let event = SeenEvent { at: Instant::now(), kind: std::mem::take(&mut kind), data };
                    sink.lock().expect("lock").push(event);
                }
            }
        }
    });
    seen
}
