//! A fake master (axum) that speaks the agent protocol, and helpers to start agents in
//! isolated work dirs and cgroup roots.
#![allow(dead_code, unreachable_pub)]

use agent::{AgentFlags, RunningAgent};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mesos_api::agent::{AgentCall, AgentEvent, Register, Registered, STREAM_ID_HEADER, StatusUpdate};
use mesos_api::messages::{
    Capability, CommandInfo, DurationInfo, FrameworkInfo, KillPolicy, MasterInfo, TaskInfo, TaskState,
};
use mesos_api::resources::ResourceSet;
use mesos_api::{AgentId, FrameworkId, TaskId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Default)]
pub struct MasterState {
    pub registers: Vec<Register>,
    pub updates: Vec<StatusUpdate>,
    pub pongs: u32,
    pub rejected_calls: u32,
    pub stream: Option<(String, mpsc::UnboundedSender<AgentEvent>)>,
    pub next_agent: u32,
    pub streams_opened: u32,
    /// Answer REGISTER with this status instead (then clear it).
    pub refuse_next: Option<StatusCode>,
    /// Stop sending pings (the promised interval stays).
    pub silent: bool,
    /// Per task, how many of its updates `ack_until` went through.
    pub handled: std::collections::HashMap<String, usize>,
}

#[derive(Clone)]
pub struct FakeMaster {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<MasterState>>,
    pub ping_interval: f64,
}

fn lock(state: &Mutex<MasterState>) -> std::sync::MutexGuard<'_, MasterState> {
    match state.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl FakeMaster {
    pub async fn start() -> FakeMaster {
        Self::start_with_ping(0.5).await
    }

    pub async fn start_with_ping(ping_interval: f64) -> FakeMaster {
        let state = Arc::new(Mutex::new(MasterState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind master");
        let addr = listener.local_addr().expect("addr");
        let master = FakeMaster { addr, state: state.clone(), ping_interval };
        let app = Router::new().route("/api/v1/agent", post(agent_api)).with_state(master.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        if ping_interval > 0.0 {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs_f64(ping_interval)).await;
                    let st = lock(&state);
                    if let Some((_, tx)) = &st.stream
                        && !st.silent
                    {
                        let _ = tx.send(AgentEvent::Ping);
                    }
                }
            });
        }
        master
    }

    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    pub fn send(&self, event: AgentEvent) {
        let st = lock(&self.state);
        let (_, tx) = st.stream.as_ref().expect("an open stream");
        tx.send(event).expect("stream open");
    }

    /// Ends the current stream (as a master restart or network break would).
    pub fn drop_stream(&self) {
        lock(&self.state).stream = None;
    }

    pub fn registers(&self) -> Vec<Register> {
        lock(&self.state).registers.clone()
    }

    pub fn updates(&self) -> Vec<StatusUpdate> {
        lock(&self.state).updates.clone()
    }

    pub fn updates_of(&self, task: &str) -> Vec<StatusUpdate> {
        self.updates().into_iter().filter(|u| u.status.task_id.value == task).collect()
    }

    pub fn set(&self, f: impl FnOnce(&mut MasterState)) {
        f(&mut lock(&self.state));
    }

    pub fn pongs(&self) -> u32 {
        lock(&self.state).pongs
    }

    pub fn run_task(&self, framework: &FrameworkInfo, task: TaskInfo) {
        self.send(AgentEvent::RunTask { framework: Box::new(framework.clone()), task: Box::new(task) });
    }

    pub fn ack(&self, update: &StatusUpdate) {
        self.send(AgentEvent::Acknowledge {
            framework_id: update.framework_id.clone(),
            task_id: update.status.task_id.clone(),
            uuid: update.status.uuid.clone().expect("uuid"),
        });
    }

    pub fn kill(&self, framework: &str, task: &str, grace_secs: Option<f64>) {
        self.send(AgentEvent::KillTask {
            framework_id: FrameworkId::new(framework),
            task_id: TaskId::new(task),
            kill_policy: grace_secs.map(|g| KillPolicy { grace_period: Some(DurationInfo::from_secs_f64(g)) }),
        });
    }

    /// Waits for the `n`th (1-based) update of `task` and returns it.
    pub async fn wait_update(&self, task: &str, n: usize) -> StatusUpdate {
        let me = self.clone();
        let t = task.to_string();
        wait_for(&format!("update #{n} of {task}"), move || me.updates_of(&t).get(n - 1).cloned()).await
    }

    /// Waits for the next update of `task` in state `state` after the first `skip` updates.
    pub async fn wait_state(&self, task: &str, state: TaskState) -> StatusUpdate {
        let me = self.clone();
        let t = task.to_string();
        wait_for(&format!("{} of {task}", state.name()), move || {
            me.updates_of(&t).into_iter().find(|u| u.status.state == state)
        })
        .await
    }

    /// Acknowledges, in order, every update of `task` that no earlier call handled (re-sent
    /// copies included), until one in `state`; returns the updates handled by this call.
    pub async fn ack_until(&self, task: &str, state: TaskState) -> Vec<StatusUpdate> {
        let mut out = Vec::new();
        loop {
            let me = self.clone();
            let t = task.to_string();
            let u = wait_for(&format!("a new update of {task}"), move || {
                let next = lock(&me.state).handled.get(&t).copied().unwrap_or(0);
                me.updates_of(&t).get(next).cloned()
            })
            .await;
            *lock(&self.state).handled.entry(task.to_string()).or_default() += 1;
            self.ack(&u);
            let done = u.status.state == state;
            out.push(u);
            if done {
                return out;
            }
        }
    }

    pub async fn wait_registers(&self, n: usize) -> Register {
        let me = self.clone();
        wait_for(&format!("{n} registrations"), move || {
            let st = lock(&me.state);
            (st.registers.len() >= n && st.stream.is_some() && st.streams_opened as usize >= n)
                .then(|| st.registers[n - 1].clone())
        })
        .await
    }
}

async fn agent_api(State(m): State<FakeMaster>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let call: AgentCall = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut st = lock(&m.state);
    match call {
        AgentCall::Register { register } => {
            if let Some(code) = st.refuse_next.take() {
                return (code, "refused").into_response();
            }
            let agent_id = match &register.agent_id {
                Some(id) => id.clone(),
                None => {
                    st.next_agent += 1;
                    AgentId::new(format!("M-S{}", st.next_agent))
                }
            };
            st.registers.push(register);
            st.streams_opened += 1;
            let stream_id = format!("stream-{}", st.streams_opened);
            let (tx, rx) = mpsc::unbounded_channel::<AgentEvent>();
            let registered = AgentEvent::Registered {
                registered: Box::new(Registered {
                    agent_id,
                    master_info: MasterInfo {
                        id: "M".into(),
                        ip: 16777343,
                        port: m.addr.port(),
                        pid: format!("master@{}", m.addr),
                        hostname: "fake-master".into(),
                        version: "1.11.0".into(),
                        address: Default::default(),
                        capabilities: vec![],
                    },
                    ping_interval_seconds: if m.ping_interval > 0.0 { m.ping_interval } else { 3600.0 },
                    kill_tasks: vec![],
                }),
            };
            let _ = tx.send(registered);
            st.stream = Some((stream_id.clone(), tx));
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                let e = rx.recv().await?;
                Some((Ok::<_, std::io::Error>(e.to_record()), rx))
            });
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut().insert(STREAM_ID_HEADER, stream_id.parse().expect("header"));
            resp.headers_mut().insert("content-type", "application/json".parse().expect("header"));
            resp
        }
        other => {
            let given = headers.get(STREAM_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let current = st.stream.as_ref().map(|(id, _)| id.as_str()).unwrap_or_default();
            if given != current {
                st.rejected_calls += 1;
                return (StatusCode::FORBIDDEN, "stale stream").into_response();
            }
            match other {
                AgentCall::StatusUpdate { status_update } => st.updates.push(status_update),
                AgentCall::StatusUpdates { status_updates } => st.updates.extend(status_updates),
                AgentCall::Pong { .. } => st.pongs += 1,
                _ => {}
            }
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after [`DEADLINE`].
pub async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn framework(id: &str, checkpoint: bool, caps: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: format!("test-{id}"),
        id: Some(FrameworkId::new(id)),
        failover_timeout: 0.0,
        checkpoint,
        role: "*".into(),
        roles: vec![],
        hostname: None,
        principal: None,
        webui_url: None,
        capabilities: caps.iter().map(|c| Capability { kind: c.to_string() }).collect(),
        labels: None,
        offer_filters: None,
    }
}

pub fn task(id: &str, agent: &AgentId, command: &str, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id),
        agent_id: agent.clone(),
        resources: ResourceSet::parse_text(resources).expect("resources").to_wire(),
        executor: None,
        command: Some(CommandInfo {
            uris: vec![],
            environment: None,
            shell: true,
            value: Some(command.into()),
            arguments: vec![],
            user: None,
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
        limits: None,
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A work dir and cgroup root of one test; kills and removes everything on drop.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub cgroups_root: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
            cgroups_root: format!("agent-test-{}-{n}", std::process::id()),
        }
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn flags(&self, master: &FakeMaster) -> AgentFlags {
        let mut f = AgentFlags::new(master.addr_string(), self.work_dir());
        f.port = 0;
        f.hostname = Some("test-agent".into());
        f.resources = Some("cpus:4;mem:4096;disk:10000;ports:[31000-31100]".into());
        f.attributes = Some("rack:r1;level:[1-3]".into());
        f.cgroups_root = self.cgroups_root.clone();
        f.registration_backoff_factor = Duration::from_millis(50);
        f
    }

    pub fn cgroups_available(&self) -> bool {
        containerizer::Cgroups::detect(Path::new("/sys/fs/cgroup"), &self.cgroups_root).is_some()
    }

    /// The cgroup holding the containers of the agent on this sandbox's work dir.
    pub fn agent_cgroups_root(&self) -> String {
        let work_dir = self.work_dir();
        agent::isolation::cgroups_root(&self.cgroups_root, &work_dir.canonicalize().unwrap_or(work_dir))
    }

    /// The cgroup dir of a container in `subsystem`.
    pub fn cgroup_dir(&self, subsystem: &str, container: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup").join(subsystem).join(self.agent_cgroups_root()).join(container)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Kill every task this test started: by process group from the container records,
        // then everything in the test's cgroups.
        for (_, pgid) in launch_records(self) {
            // Only a group whose leader still runs in this test's work dir: pids are reused.
            let ours =
                std::fs::read_link(format!("/proc/{pgid}/cwd")).is_ok_and(|cwd| cwd.starts_with(self.work_dir()));
            if ours {
                let _ = containerizer::signal_group(pgid, containerizer::Signal::SIGKILL);
            }
        }
        // Every agent's cgroup under the test's root (`<root>/agent-<hash>/<container>`).
        let owners = containerizer::Cgroups::detect(Path::new("/sys/fs/cgroup"), &self.cgroups_root)
            .and_then(|cg| cg.list_containers().ok())
            .unwrap_or_default();
        for owner in owners {
            let root = format!("{}/{owner}", self.cgroups_root);
            let every = containerizer::Isolation { pids: true, ..Default::default() };
            if let Some(cg) = containerizer::Cgroups::detect_with(Path::new("/sys/fs/cgroup"), &root, every) {
                for id in cg.list_containers().unwrap_or_default() {
                    if let Some(t) = cg.open(&id) {
                        let _ = t.destroy();
                    }
                }
            }
            for sub in ["cpu", "memory", "pids", "freezer", "cpuacct", "cpu,cpuacct"] {
                let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(sub).join(&root));
            }
        }
        for sub in ["cpu", "memory", "pids", "freezer", "cpuacct", "cpu,cpuacct"] {
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(sub).join(&self.cgroups_root));
        }
    }
}

/// Starts an agent and waits until the master saw registration number `n`.
pub async fn start_agent(sandbox: &Sandbox, master: &FakeMaster, flags: Option<AgentFlags>) -> RunningAgent {
    let flags = flags.unwrap_or_else(|| sandbox.flags(master));
    agent::start(flags).await.expect("agent starts")
}

pub async fn wait_registered(agent: &RunningAgent) -> AgentId {
    wait_for("agent registered", || {
        let s = agent.snapshot();
        if s.registered { s.agent_id.clone() } else { None }
    })
    .await
}

pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let url = format!("http://{addr}{path_and_query}");
    let resp = reqwest::get(&url).await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit(')').next().map(|r| !r.trim_start().starts_with('Z')).unwrap_or(false))
            .unwrap_or(false)
}

/// `(container id, task process group)` of every container the agent's checkpoint log records
/// as launched and not destroyed.
pub fn launch_records(sandbox: &Sandbox) -> Vec<(String, i32)> {
    let text = std::fs::read_to_string(sandbox.work_dir().join("meta/checkpoint.log")).unwrap_or_default();
    let mut live: Vec<(String, i32)> = Vec::new();
    for v in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        if let Some(launched) = v.get("launched")
            && let (Some(cid), Some(pid)) =
                (launched["container_id"].as_str(), launched["process"]["task_pid"].as_i64())
        {
            live.retain(|(c, _)| c != cid);
            live.push((cid.to_string(), pid as i32));
        }
        if let Some(cid) = v.get("destroyed").and_then(|d| d["container_id"].as_str()) {
            live.retain(|(c, _)| c != cid);
        }
    }
    live
}

/// The task's top process from the agent's launch record.
pub fn task_pid(sandbox: &Sandbox, container_id: &str) -> Option<i32> {
    launch_records(sandbox).into_iter().rev().find(|(cid, _)| cid == container_id).map(|(_, pid)| pid)
}

pub fn container_of(update: &StatusUpdate) -> String {
    update.status.container_status.as_ref().expect("container_status")["container_id"]["value"]
        .as_str()
        .expect("container id")
        .to_string()
}
