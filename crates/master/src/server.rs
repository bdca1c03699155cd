//! The master's IO shell: one driver task owns the clock, the role ([`RoleMachine`]) and, while
//! this master leads, the term's [`MasterCore`] and streams; HTTP handlers (`crate::http`) turn
//! requests into [`Request`]s for it and stream its outputs back to frameworks and agents.
//!
//! With `--zk` the master contends in ZooKeeper (`coordination::mesos::contend`) and the driver
//! follows the election: elected, it has the registry thread load the registry (claiming it in
//! ZooKeeper) and then leads a **term** with a fresh core; the moment the election says
//! otherwise the term is dropped whole (its streams close, nothing more is offered or
//! forwarded) and the master serves as a standby, redirecting calls to the leader. See
//! [`crate::core::role`].

use crate::core::role::{Contention, Disposition, Role, RoleCommand, RoleMachine};
use crate::core::{IdCounters, MasterConfig, MasterCore, Now, Output, Registry, Rejection, StreamId};
use crate::http::{Shared, Tx};
use crate::registry::{
    FileRegistry, InMemoryRegistry, RegistryError, RegistryKind, RegistryStore, RegistryThread, Report, ZkRegistry,
};
use crate::state;
use bytes::Bytes;
use coordination::{Election, Leadership, ZkUrl};
use mesos_api::agent::AgentCall;
use mesos_api::operator::MasterEvent;
use mesos_api::scheduler::Call;
use mesos_api::{Address, FrameworkInfo, MESOS_VERSION, MasterInfo, duration, ipv4_as_mesos_u32};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// `--agent_reregister_timeout` unless given (upstream: 10mins).
pub const DEFAULT_AGENT_REREGISTER_TIMEOUT: &str = "1mins";

/// Flags of `marathon master`, named as Mesos names them.
#[derive(Debug, Clone, clap::Args)]
pub struct MasterFlags {
    /// Port to listen on.
    #[arg(long, default_value_t = 5050, env = "MESOS_PORT")]
    pub port: u16,
    /// IP address to listen on and to advertise.
    #[arg(long, default_value = "127.0.0.1", env = "MESOS_IP")]
    pub ip: IpAddr,
    /// Hostname to advertise (default: this machine's hostname).
    #[arg(long, env = "MESOS_HOSTNAME")]
    pub hostname: Option<String>,
    /// Directory for the master's files.
    #[arg(long = "work_dir", alias = "work-dir", env = "MESOS_WORK_DIR")]
    pub work_dir: PathBuf,
    /// How often offers are made.
    #[arg(long = "allocation_interval", alias = "allocation-interval", default_value = "1secs", value_parser = parse_duration, env = "MESOS_ALLOCATION_INTERVAL")]
    pub allocation_interval: Duration,
    /// Agent ping period and pong deadline (upstream default 15secs; ours detects loss in ~2 s).
    #[arg(long = "agent_ping_timeout", alias = "agent-ping-timeout", alias = "slave_ping_timeout", default_value = "500ms", value_parser = parse_duration, env = "MESOS_AGENT_PING_TIMEOUT")]
    pub agent_ping_timeout: Duration,
    /// Missed pongs in a row after which an agent is unreachable.
    #[arg(
        long = "max_agent_ping_timeouts",
        alias = "max-agent-ping-timeouts",
        alias = "max_slave_ping_timeouts",
        default_value_t = 4,
        env = "MESOS_MAX_AGENT_PING_TIMEOUTS"
    )]
    pub max_agent_ping_timeouts: u32,
    /// After a master restart or failover, agents from the registry that have not reregistered
    /// by then are marked unreachable (upstream default 10mins; our agents retry registration
    /// at least every 5 s and give up on an unanswered REGISTER after 15 s, so a minute is many
    /// tries).
    #[arg(long = "agent_reregister_timeout", alias = "agent-reregister-timeout", alias = "slave_reregister_timeout", default_value = DEFAULT_AGENT_REREGISTER_TIMEOUT, value_parser = parse_duration, env = "MESOS_AGENT_REREGISTER_TIMEOUT")]
    pub agent_reregister_timeout: Duration,
    /// Where the registry (admitted, unreachable and gone agents) is kept: `work_dir` (a file
    /// in --work_dir, survives restarts; the default without --zk), `zookeeper` (under the
    /// --zk path, shared by the masters; the default with --zk) or `in_memory` (nothing
    /// survives a restart or a failover).
    #[arg(long, value_enum, env = "MESOS_REGISTRY")]
    pub registry: Option<RegistryKind>,
    /// ZooKeeper URL for leader election among masters, `zk://host1:port1,host2:port2/path`
    /// (`zk://user:pass@...` for digest authentication, or `file:///path` of a file holding
    /// one). The elected master acts; the others redirect to it. Without it this master leads
    /// alone.
    #[arg(long, env = "MESOS_ZK")]
    pub zk: Option<String>,
    /// Accepted for upstream compatibility: the quorum of upstream's replicated log. This
    /// master has no replicated log (with --zk its registry lives in ZooKeeper, which keeps it
    /// on a quorum of its own servers), so the value is only checked (at least 1) and unused.
    #[arg(long, env = "MESOS_QUORUM", value_parser = clap::value_parser!(u32).range(1..))]
    pub quorum: Option<u32>,
    /// ZooKeeper session timeout: a leader cut off from ZooKeeper loses its leadership at once,
    /// and another master is elected once this has passed.
    #[arg(long = "zk_session_timeout", alias = "zk-session-timeout", default_value = "10secs", value_parser = parse_duration, env = "MESOS_ZK_SESSION_TIMEOUT")]
    pub zk_session_timeout: Duration,
    /// Period of HEARTBEAT events to frameworks.
    #[arg(long = "heartbeat_interval", alias = "heartbeat-interval", default_value = "15secs", value_parser = parse_duration, env = "MESOS_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: Duration,
    /// Outstanding offers are rescinded after this long (default: never).
    #[arg(long = "offer_timeout", alias = "offer-timeout", value_parser = parse_duration, env = "MESOS_OFFER_TIMEOUT")]
    pub offer_timeout: Option<Duration>,
    #[arg(long = "max_completed_frameworks", default_value_t = 50, env = "MESOS_MAX_COMPLETED_FRAMEWORKS")]
    pub max_completed_frameworks: usize,
    #[arg(
        long = "max_completed_tasks_per_framework",
        default_value_t = 1000,
        env = "MESOS_MAX_COMPLETED_TASKS_PER_FRAMEWORK"
    )]
    pub max_completed_tasks_per_framework: usize,
    /// Most operator API `SUBSCRIBE` streams open at once; more are refused with 503.
    #[arg(
        long = "max_operator_event_stream_subscribers",
        default_value_t = 1000,
        env = "MESOS_MAX_OPERATOR_EVENT_STREAM_SUBSCRIBERS"
    )]
    pub max_operator_event_stream_subscribers: usize,
    #[command(flatten)]
    pub http: httpd::HttpLimitFlags,
    /// Frameworks must authenticate (HTTP basic, with a principal and secret of
    /// `--credentials`) on the scheduler API; a framework id is bound to the principal that
    /// registered it.
    #[arg(long = "authenticate_frameworks", alias = "authenticate", env = "MESOS_AUTHENTICATE_FRAMEWORKS", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_frameworks: bool,
    /// The same as `--authenticate_frameworks` (upstream's name for HTTP frameworks).
    #[arg(long = "authenticate_http_frameworks", env = "MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_http_frameworks: bool,
    /// Agents must authenticate (their `--credential`); an agent id is bound to the principal
    /// that registered it.
    #[arg(long = "authenticate_agents", alias = "authenticate_slaves", env = "MESOS_AUTHENTICATE_AGENTS", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_agents: bool,
    /// The read-only endpoints (`/master/state`, `/state`, `/metrics/snapshot`, `/flags`, ...)
    /// need credentials.
    #[arg(long = "authenticate_http_readonly", env = "MESOS_AUTHENTICATE_HTTP_READONLY", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_http_readonly: bool,
    /// The operator API (`/api/v1`) needs credentials.
    #[arg(long = "authenticate_http_readwrite", env = "MESOS_AUTHENTICATE_HTTP_READWRITE", num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub authenticate_http_readwrite: bool,
    /// The principals and secrets accepted: JSON `{"credentials": [{"principal": "p", "secret":
    /// "s"}]}`, or one `principal secret` per line.
    #[arg(long, env = "MESOS_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// Upstream's flags not implemented yet (`crate::flags_compat`): accepted, warned about.
    #[command(flatten)]
    pub compat: httpd::compat::Compat<crate::flags_compat::MasterCompat>,
}

impl MasterFlags {
    /// The defaults of `marathon master --work_dir <work_dir>` (for embedding and tests).
    pub fn new(work_dir: impl Into<PathBuf>) -> MasterFlags {
        MasterFlags {
            port: 5050,
            ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            hostname: None,
            work_dir: work_dir.into(),
            allocation_interval: Duration::from_secs(1),
            agent_ping_timeout: Duration::from_millis(500),
            max_agent_ping_timeouts: 4,
            agent_reregister_timeout: Duration::from_secs(60),
            registry: None,
            zk: None,
            quorum: None,
            zk_session_timeout: coordination::session::DEFAULT_SESSION_TIMEOUT,
            heartbeat_interval: Duration::from_secs(15),
            offer_timeout: None,
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            max_operator_event_stream_subscribers: 1000,
            http: httpd::HttpLimitFlags::default(),
            authenticate_frameworks: false,
            authenticate_http_frameworks: false,
            authenticate_agents: false,
            authenticate_http_readonly: false,
            authenticate_http_readwrite: false,
            credentials: None,
            compat: Default::default(),
        }
    }

    /// Where the registry is kept: `--registry`, or its default (ZooKeeper with `--zk`, the
    /// work dir without).
    pub fn registry_kind(&self) -> Result<RegistryKind, MasterError> {
        match (self.registry, self.zk.is_some()) {
            (None, true) => Ok(RegistryKind::ZooKeeper),
            (None, false) => Ok(RegistryKind::WorkDir),
            (Some(RegistryKind::WorkDir), true) => Err(MasterError::Flags(
                "--registry=work_dir cannot be used with --zk: a file is not shared by the masters, so a new leader \
                 would not know the agents the old one admitted (use --registry=zookeeper, the default with --zk)"
                    .to_string(),
            )),
            (Some(RegistryKind::ZooKeeper), false) => {
                Err(MasterError::Flags("--registry=zookeeper needs --zk (the ZooKeeper to keep it in)".to_string()))
            }
            (Some(kind), _) => Ok(kind),
        }
    }
}

/// A duration flag in Mesos' syntax (`500ms`, `1mins`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("create work dir {path}: {source}")]
    WorkDir { path: PathBuf, source: std::io::Error },
    #[error("bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("recover the registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("--zk: {0}")]
    Zk(#[from] coordination::UrlError),
    #[error("{0}")]
    Flags(String),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

/// A master running in this process.
#[derive(Debug)]
pub struct RunningMaster {
    addr: SocketAddr,
    tx: Tx,
    server: tokio::task::JoinHandle<()>,
    driver: tokio::task::JoinHandle<()>,
}

impl RunningMaster {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until the server stops (it does not stop on its own).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }

    /// Stops at once (the ZooKeeper session, if any, ends with the process or times out).
    pub fn shutdown(self) {
        self.server.abort();
        self.driver.abort();
    }

    /// Stops in order: leaves the election (so that another master takes over at once), stops
    /// acting, then stops serving.
    pub async fn stop(self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Request::Stop { reply }).is_ok() {
            let _ = done.await;
        }
        self.shutdown();
    }
}

pub fn hostname_of_this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Binds the port and starts the master: leading at once without `--zk`, contending with it.
pub async fn start(mut flags: MasterFlags) -> Result<RunningMaster, MasterError> {
    flags.compat.warn_ignored();
    let kind = flags.registry_kind()?;
    flags.registry = Some(kind);
    let zk = flags.zk.as_deref().map(ZkUrl::from_flag).transpose()?;
    let auth = std::sync::Arc::new(crate::auth::HttpAuth::from_flags(&flags)?);
    if let Some(quorum) = flags.quorum {
        tracing::warn!(
            quorum,
            "--quorum is accepted for compatibility but not used: this master has no replicated log (with --zk the \
             registry is kept in ZooKeeper, which keeps it on a quorum of its own servers)"
        );
    }
    std::fs::create_dir_all(&flags.work_dir)
        .map_err(|source| MasterError::WorkDir { path: flags.work_dir.clone(), source })?;
    let mut store: Box<dyn RegistryStore> = match (kind, &zk) {
        (RegistryKind::WorkDir, _) => Box::new(FileRegistry::new(&flags.work_dir)),
        (RegistryKind::InMemory, _) => Box::new(InMemoryRegistry::default()),
        (RegistryKind::ZooKeeper, Some(zk)) => Box::new(ZkRegistry::new(zk, flags.zk_session_timeout)),
        (RegistryKind::ZooKeeper, None) => {
            return Err(MasterError::Flags("--registry=zookeeper needs --zk".to_string()));
        }
    };
    if kind == RegistryKind::InMemory && zk.is_some() {
        tracing::warn!(
            "--registry=in_memory with --zk: every master keeps its own registry in memory, so a new leader does not \
             know the agents the old one admitted"
        );
    }
    // A sole master loads its registry now: one it cannot read stops it from starting.
    let recovered = if zk.is_none() { Some(store.load()?) } else { None };
    let ssl = httpd::tls::LibprocessSsl::from_env().map_err(|e| MasterError::Flags(e.to_string()))?;
    let tls = ssl.server_config().map_err(|e| MasterError::Flags(e.to_string()))?;
    let limits = httpd::Limits::from_flags(&flags.http);
    let addr = SocketAddr::new(flags.ip, flags.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| MasterError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| MasterError::Bind { addr, source })?;
    let master_info = master_info(&flags, addr);

    let (tx, rx) = mpsc::unbounded_channel();
    let reports = tx.clone();
    let metrics = crate::metrics::Metrics::new();
    let store = metrics.timed(store);
    let registry = RegistryThread::spawn(store, move |report| reports.send(Request::Registry(report)).is_ok());
    let clock = Clock { start: Instant::now() };
    let (roles, election) = match &zk {
        Some(url) => {
            tracing::info!(zk = %url, session_timeout = ?flags.zk_session_timeout, "contending for leadership");
            (RoleMachine::contending(), Some(coordination::mesos::contend(url, &master_info, flags.zk_session_timeout)))
        }
        None => (RoleMachine::sole(), None),
    };
    let (gate_tx, gate) = watch::channel(Gate::of(&roles));
    let mut driver = Driver {
        clock,
        start_time: clock.now().wall,
        flags,
        master_info,
        roles,
        term: None,
        loaded: None,
        waiting: Vec::new(),
        registry,
        ids: IdCounters::default(),
        gate: gate_tx,
        election,
        metrics: metrics.clone(),
    };
    if let Some(recovered) = recovered {
        driver.registry.set_term(1);
        driver.loaded = Some(recovered);
        driver.lead(1);
    }
    let driver = tokio::spawn(driver.run(rx));
    let app = crate::http::router(Shared {
        tx: tx.clone(),
        gate,
        http: webui::proxy::client(
            ssl.reqwest(reqwest::Client::builder()).map_err(|e| MasterError::Flags(e.to_string()))?,
        ),
        scheme: ssl.scheme(),
        auth,
        metrics: metrics.clone(),
    });
    let server =
        tokio::spawn(httpd::serve(listener, app, limits, tls, httpd::plain_request_timeout, std::future::pending()));
    tracing::info!(%addr, scheme = ssl.scheme(), "master listening");
    Ok(RunningMaster { addr, tx, server, driver })
}

fn master_info(flags: &MasterFlags, addr: SocketAddr) -> MasterInfo {
    let hostname = flags.hostname.clone().unwrap_or_else(hostname_of_this_machine);
    let ip_text = addr.ip().to_string();
    let ip_u32 = match addr.ip() {
        IpAddr::V4(v4) => ipv4_as_mesos_u32(v4),
        IpAddr::V6(_) => 0,
    };
    MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip: ip_u32,
        port: addr.port(),
        pid: format!("master@{ip_text}:{}", addr.port()),
        hostname: hostname.clone(),
        version: MESOS_VERSION.to_string(),
        address: Address { hostname: Some(hostname), ip: Some(ip_text), port: addr.port() },
        capabilities: vec![],
    }
}

// ---------------------------------------------------------------------------------------------
// The driver

#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        Now { mono: self.start.elapsed(), wall }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Framework,
    Agent,
    /// An operator API `SUBSCRIBE` stream.
    Operator,
}

/// Why a master that does not lead refuses a call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// Another master leads: 307 there.
    Redirect(Box<MasterInfo>),
    /// No leader is known: 503.
    NoLeader,
    /// The leader refuses the stream (its principal may not open it).
    Rejected(Rejection),
}

/// The role as the HTTP handlers see it (published by the driver on every change), so that a
/// standby refuses a call before it reads it, as upstream does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Gate {
    Serve,
    Wait,
    Redirect(Box<MasterInfo>),
    NoLeader,
}

impl Gate {
    fn of(roles: &RoleMachine) -> Gate {
        match roles.disposition() {
            Disposition::Serve => Gate::Serve,
            Disposition::Wait => Gate::Wait,
            Disposition::Redirect(leader) => Gate::Redirect(Box::new(leader.clone())),
            Disposition::NoLeader => Gate::NoLeader,
        }
    }
}

type StreamReply = oneshot::Sender<Result<(StreamId, mpsc::UnboundedReceiver<Bytes>), Refusal>>;
type CallReply = oneshot::Sender<Result<Result<(), Rejection>, Refusal>>;

/// What the HTTP side (and the registry thread) asks of the driver.
#[derive(Debug)]
pub(crate) enum Request {
    /// `principal`: what the request authenticated as (`None` without authentication).
    Subscribe {
        info: Box<FrameworkInfo>,
        principal: Option<String>,
        reply: StreamReply,
    },
    Call {
        stream: Option<String>,
        call: Box<Call>,
        principal: Option<String>,
        reply: CallReply,
    },
    AgentRegister {
        register: Box<mesos_api::agent::Register>,
        principal: Option<String>,
        reply: StreamReply,
    },
    AgentCall {
        stream: Option<String>,
        call: Box<AgentCall>,
        principal: Option<String>,
        reply: CallReply,
    },
    /// An operator API `SUBSCRIBE`: a stream of `mesos_api::operator::MasterEvent`s.
    OperatorSubscribe {
        reply: StreamReply,
    },
    StreamClosed {
        stream: StreamId,
        kind: StreamKind,
    },
    Read {
        query: state::Query,
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The leading master, if known (this one if it leads).
    Leader {
        reply: oneshot::Sender<Option<MasterInfo>>,
    },
    /// What the registry thread did.
    Registry(Report),
    /// Leave the election and stop acting.
    Stop {
        reply: oneshot::Sender<()>,
    },
}

impl Request {
    /// Whether nobody waits for the answer any more (the client went away).
    fn abandoned(&self) -> bool {
        match self {
            Request::Subscribe { reply, .. }
            | Request::AgentRegister { reply, .. }
            | Request::OperatorSubscribe { reply } => reply.is_closed(),
            Request::Call { reply, .. } | Request::AgentCall { reply, .. } => reply.is_closed(),
            _ => false,
        }
    }

    /// Answers a call this master does not serve.
    fn refuse(self, refusal: Refusal) {
        match self {
            Request::Subscribe { reply, .. }
            | Request::AgentRegister { reply, .. }
            | Request::OperatorSubscribe { reply } => {
                let _ = reply.send(Err(refusal));
            }
            Request::Call { reply, .. } | Request::AgentCall { reply, .. } => {
                let _ = reply.send(Err(refusal));
            }
            _ => {}
        }
    }
}

/// One term of leadership: the core and its streams. Dropping it closes every stream.
struct Term {
    number: u64,
    core: MasterCore,
    framework_streams: HashMap<StreamId, mpsc::UnboundedSender<Bytes>>,
    agent_streams: HashMap<StreamId, mpsc::UnboundedSender<Bytes>>,
    /// Operator API subscribers, and what they last heard of (while there are any).
    operator_streams: HashMap<StreamId, mpsc::UnboundedSender<Bytes>>,
    watcher: Option<crate::operator::Watcher>,
    max_operator_streams: usize,
    heartbeat_interval: std::time::Duration,
    /// Versions of the registry go to the registry thread one at a time: while one is being
    /// written, later changes pile up and go together as the next one.
    registry_sent: u64,
    registry_in_flight: bool,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

struct Driver {
    clock: Clock,
    /// When this process started.
    start_time: f64,
    flags: MasterFlags,
    master_info: MasterInfo,
    roles: RoleMachine,
    /// While leading.
    term: Option<Term>,
    /// The registry loaded for the term about to start (`Some(None)`: nothing stored yet).
    loaded: Option<Option<Registry>>,
    /// Calls that arrived while the registry was loading.
    waiting: Vec<Request>,
    registry: RegistryThread,
    /// The ids of the last term, continued by the next.
    ids: IdCounters,
    gate: watch::Sender<Gate>,
    election: Option<Election>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// What the election says, as the role machine takes it.
fn contention(leadership: &Leadership) -> Contention {
    match leadership {
        Leadership::Leader { sequence, .. } => Contention::Elected { node: *sequence },
        Leadership::Follower { leader: Some(leader) } => {
            Contention::NotElected { leader: coordination::mesos::parse_master_info(&leader.node, &leader.data) }
        }
        Leadership::Follower { leader: None } | Leadership::Unknown => Contention::NotElected { leader: None },
    }
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        let mut leadership = self.election.as_ref().map(Election::leadership);
        // Operator subscribers hear a HEARTBEAT every --heartbeat_interval.
        let mut operator_heartbeat =
            tokio::time::interval(self.flags.heartbeat_interval.max(Duration::from_millis(10)));
        operator_heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wakeup = self.term.as_ref().map(|t| self.clock.start + t.core.next_wakeup());
            let changed = async {
                match leadership.as_mut() {
                    Some(l) => l.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                alive = changed => {
                    match leadership.as_ref() {
                        Some(l) if alive => {
                            let now = l.borrow().clone();
                            let commands = self.roles.contention(contention(&now));
                            self.apply(commands);
                        }
                        _ => {
                            // The election ended: nothing will make this master lead again.
                            leadership = None;
                            let commands = self.roles.contention(Contention::NotElected { leader: None });
                            self.apply(commands);
                        }
                    }
                }
                request = rx.recv() => {
                    let Some(request) = request else { return };
                    if let Request::Stop { reply } = request {
                        self.stop().await;
                        let _ = reply.send(());
                        return;
                    }
                    self.handle(request);
                }
                _ = operator_heartbeat.tick() => {
                    if let Some(term) = &mut self.term {
                        term.operator_heartbeat();
                    }
                }
                () = tokio::time::sleep_until(wakeup.unwrap_or_else(Instant::now)), if wakeup.is_some() => {
                    let now = self.clock.now();
                    if let Some(term) = &mut self.term {
                        term.core.tick(now);
                    }
                }
            }
            if let Some(term) = &mut self.term {
                term.flush(self.clock.now());
                term.persist_registry(&self.registry);
            }
        }
    }

    /// Stops acting first, then leaves the election (whose next leader may act at once).
    async fn stop(&mut self) {
        let commands = self.roles.contention(Contention::NotElected { leader: None });
        self.apply(commands);
        if let Some(election) = self.election.take() {
            election.stop().await;
        }
    }

    /// Runs the role machine's commands.
    fn apply(&mut self, commands: Vec<RoleCommand>) {
        for command in commands {
            match command {
                RoleCommand::LoadRegistry { term, delay } => {
                    tracing::info!(term, "elected leading master: loading the registry");
                    self.registry.set_term(term);
                    let registry = self.registry.clone();
                    let job = crate::registry::Job::Load { term };
                    if delay.is_zero() {
                        registry.send(job);
                    } else {
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            registry.send(job);
                        });
                    }
                }
                RoleCommand::Lead { term } => self.lead(term),
                RoleCommand::StepDown { term } => {
                    self.registry.set_term(0);
                    self.loaded = None;
                    if let Some(old) = self.term.take() {
                        self.ids = old.core.id_counters();
                        tracing::warn!(
                            term,
                            frameworks = old.framework_streams.len(),
                            agents = old.agent_streams.len(),
                            "no longer the leading master: stopped acting, closed every stream; serving as a standby"
                        );
                    } else {
                        tracing::warn!(term, "no longer elected before the registry was loaded");
                    }
                }
                RoleCommand::Abdicate => {
                    if let Some(election) = &self.election {
                        tracing::warn!("leaving the election and contending again");
                        election.abdicate();
                    }
                }
            }
        }
        self.gate.send_if_modified(|gate| {
            let now = Gate::of(&self.roles);
            let changed = *gate != now;
            *gate = now;
            changed
        });
        if !matches!(self.roles.role(), Role::Recovering { .. }) {
            // Calls that waited for the term: served now, or refused.
            for request in std::mem::take(&mut self.waiting) {
                self.handle(request);
            }
        }
    }

    /// Starts leading in `term` with the registry loaded for it.
    fn lead(&mut self, term: u64) {
        let now = self.clock.now();
        let config = MasterConfig {
            master_info: self.master_info.clone(),
            allocation_interval: self.flags.allocation_interval,
            heartbeat_interval: self.flags.heartbeat_interval,
            agent_ping_timeout: self.flags.agent_ping_timeout,
            max_agent_ping_timeouts: self.flags.max_agent_ping_timeouts.max(1),
            agent_reregister_timeout: self.flags.agent_reregister_timeout,
            offer_timeout: self.flags.offer_timeout,
            max_completed_frameworks: self.flags.max_completed_frameworks,
            max_completed_tasks_per_framework: self.flags.max_completed_tasks_per_framework,
            seed: rand::random(),
        };
        let mut core = MasterCore::new(config, now);
        core.continue_ids(self.ids);
        if let Some(registry) = self.loaded.take().flatten() {
            core.recover(now, registry);
        }
        tracing::info!(term, "leading");
        self.term = Some(Term {
            number: term,
            core,
            framework_streams: HashMap::new(),
            agent_streams: HashMap::new(),
            operator_streams: HashMap::new(),
            watcher: None,
            max_operator_streams: self.flags.max_operator_event_stream_subscribers,
            heartbeat_interval: self.flags.heartbeat_interval,
            registry_sent: 0,
            registry_in_flight: false,
            metrics: self.metrics.clone(),
        });
    }

    /// Serve, wait or refuse a call.
    fn dispose(&mut self, request: Request) -> Option<(Request, &mut Term)> {
        let refusal = match self.roles.disposition() {
            Disposition::Serve => None,
            Disposition::Wait => {
                self.waiting.retain(|r| !r.abandoned());
                self.waiting.push(request);
                return None;
            }
            Disposition::Redirect(leader) => Some(Refusal::Redirect(Box::new(leader.clone()))),
            Disposition::NoLeader => Some(Refusal::NoLeader),
        };
        match (refusal, self.term.as_mut()) {
            (None, Some(term)) => Some((request, term)),
            (refusal, _) => {
                request.refuse(refusal.unwrap_or(Refusal::NoLeader));
                None
            }
        }
    }

    fn handle(&mut self, request: Request) {
        let now = self.clock.now();
        match request {
            Request::Subscribe { .. }
            | Request::Call { .. }
            | Request::AgentRegister { .. }
            | Request::AgentCall { .. }
            | Request::OperatorSubscribe { .. } => {
                if let Some((request, term)) = self.dispose(request) {
                    term.serve(now, request);
                }
            }
            Request::StreamClosed { stream, kind } => {
                // Streams of an earlier term are gone with it.
                if let Some(term) = &mut self.term {
                    term.stream_closed(now, &stream, kind);
                }
            }
            Request::Read { query, reply } => {
                let value = match &self.term {
                    Some(term) => state::render(&term.core, &self.flags, self.start_time, now, &query),
                    None => {
                        let leader = match self.roles.role() {
                            Role::Standby { leader } => leader.as_ref(),
                            Role::Recovering { .. } | Role::Leading { .. } => Some(&self.master_info),
                        };
                        state::render_standby(&self.master_info, leader, &self.flags, self.start_time, now, &query)
                    }
                };
                let _ = reply.send(value);
            }
            Request::Leader { reply } => {
                let leader = match self.roles.role() {
                    Role::Standby { leader } => leader.clone(),
                    Role::Recovering { .. } | Role::Leading { .. } => Some(self.master_info.clone()),
                };
                let _ = reply.send(leader);
            }
            Request::Registry(report) => self.registry_report(now, report),
            Request::Stop { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn registry_report(&mut self, now: Now, report: Report) {
        match report {
            Report::Loaded { term, result } => {
                if !self.roles.is_current(term) {
                    return;
                }
                let ok = match result {
                    Ok(registry) => {
                        self.loaded = Some(registry);
                        true
                    }
                    Err(e) => {
                        tracing::error!(term, error = %e, "cannot load the registry; trying again");
                        false
                    }
                };
                let commands = self.roles.registry_loaded(term, ok);
                self.apply(commands);
            }
            Report::Stored { term, version } => {
                if let Some(t) = self.term.as_mut().filter(|t| t.number == term) {
                    t.registry_in_flight = false;
                    t.core.registry_stored(now, version);
                }
            }
            Report::Fenced { term } => {
                tracing::error!(term, "another master claimed the registry: this one must not act any more");
                let commands = self.roles.fenced(term);
                self.apply(commands);
            }
        }
    }
}

impl Term {
    fn new_stream(&mut self, kind: StreamKind) -> (StreamId, mpsc::UnboundedReceiver<Bytes>) {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        match kind {
            StreamKind::Framework => self.framework_streams.insert(id.clone(), tx),
            StreamKind::Agent => self.agent_streams.insert(id.clone(), tx),
            StreamKind::Operator => self.operator_streams.insert(id.clone(), tx),
        };
        (id, rx)
    }

    /// A call this term handles.
    fn serve(&mut self, now: Now, request: Request) {
        match request {
            Request::Subscribe { mut info, principal, reply } => {
                if let Err(rejection) = self.core.authorize_subscribe(&mut info, principal.as_deref()) {
                    let _ = reply.send(Err(Refusal::Rejected(rejection)));
                    return;
                }
                let (id, rx) = self.new_stream(StreamKind::Framework);
                self.core.subscribe_as(now, id.clone(), *info, principal);
                let _ = reply.send(Ok((id, rx)));
            }
            Request::Call { stream, call, principal, reply } => {
                self.metrics.count_call(&call);
                let answer = match self.core.authorize_call(&call, principal.as_deref()) {
                    Ok(()) => self.core.call(now, stream.as_deref(), *call),
                    Err(rejection) => Err(rejection),
                };
                let _ = reply.send(Ok(answer));
            }
            Request::AgentRegister { register, principal, reply } => {
                if let Err(rejection) = self.core.authorize_agent_register(&register, principal.as_deref()) {
                    let _ = reply.send(Err(Refusal::Rejected(rejection)));
                    return;
                }
                let (id, rx) = self.new_stream(StreamKind::Agent);
                self.core.agent_register_as(now, id.clone(), *register, principal);
                let _ = reply.send(Ok((id, rx)));
            }
            Request::AgentCall { stream, call, principal, reply } => {
                self.metrics.count_agent_call(&call);
                let answer = match self.core.authorize_agent_call(stream.as_deref(), principal.as_deref()) {
                    Ok(()) => self.core.agent_call(now, stream.as_deref(), *call),
                    Err(rejection) => Err(rejection),
                };
                let _ = reply.send(Ok(answer));
            }
            Request::OperatorSubscribe { reply } => {
                if self.operator_streams.len() >= self.max_operator_streams {
                    let message = format!(
                        "Maximum number of subscribers to the operator event stream ({}) reached \
                         (--max_operator_event_stream_subscribers)",
                        self.max_operator_streams
                    );
                    let _ = reply.send(Err(Refusal::Rejected(Rejection { status: 503, message })));
                    return;
                }
                // Those subscribed already hear of what changed before the newcomer's snapshot.
                self.broadcast_changes();
                let (id, rx) = self.new_stream(StreamKind::Operator);
                let subscribed = MasterEvent::Subscribed {
                    subscribed: mesos_api::operator::Subscribed {
                        get_state: crate::operator::state(&self.core),
                        heartbeat_interval_seconds: self.heartbeat_interval.as_secs_f64(),
                    },
                };
                if let Some(tx) = self.operator_streams.get(&id) {
                    let _ = tx.send(subscribed.to_record());
                }
                if self.watcher.is_none() {
                    self.watcher = Some(crate::operator::Watcher::new(&self.core));
                }
                let _ = reply.send(Ok((id, rx)));
            }
            _ => {}
        }
    }

    /// Sends the operator subscribers the events of what changed since they last heard.
    fn broadcast_changes(&mut self) {
        if self.operator_streams.is_empty() {
            self.watcher = None;
            return;
        }
        let Some(watcher) = self.watcher.as_mut() else { return };
        for event in watcher.observe(&self.core) {
            self.broadcast(&event);
        }
    }

    /// Sends an event to every operator subscriber; those gone are forgotten.
    fn broadcast(&mut self, event: &MasterEvent) {
        let record = event.to_record();
        self.operator_streams.retain(|_, tx| tx.send(record.clone()).is_ok());
    }

    /// A HEARTBEAT to every operator subscriber.
    fn operator_heartbeat(&mut self) {
        if !self.operator_streams.is_empty() {
            self.broadcast(&MasterEvent::Heartbeat);
        }
    }

    fn stream_closed(&mut self, now: Now, stream: &str, kind: StreamKind) {
        match kind {
            StreamKind::Framework => {
                self.framework_streams.remove(stream);
                self.core.framework_disconnected(now, stream);
            }
            StreamKind::Agent => {
                self.agent_streams.remove(stream);
                self.core.agent_disconnected(now, stream);
            }
            StreamKind::Operator => {
                self.operator_streams.remove(stream);
            }
        }
    }

    /// Sends the core's registry to the registry thread if it changed and no write is under way.
    fn persist_registry(&mut self, thread: &RegistryThread) {
        let version = self.core.registry_version();
        if self.registry_in_flight || version <= self.registry_sent {
            return;
        }
        let job = crate::registry::Job::Store { term: self.number, version, registry: self.core.registry().clone() };
        if thread.send(job) {
            self.registry_sent = version;
            self.registry_in_flight = true;
        } else {
            tracing::error!(version, "the registry thread is gone; the registry is not stored");
        }
    }

    /// Delivers the core's outputs. A stream whose reader is gone is reported closed.
    fn flush(&mut self, now: Now) {
        loop {
            let outputs = self.core.take_outputs();
            if outputs.is_empty() {
                self.broadcast_changes();
                return;
            }
            let mut closed = Vec::new();
            for output in outputs {
                match output {
                    Output::Framework { stream, event } => {
                        self.metrics.count_event(&event);
                        if let Some(tx) = self.framework_streams.get(&stream)
                            && tx.send(event.to_record()).is_err()
                        {
                            closed.push((stream, StreamKind::Framework));
                        }
                    }
                    Output::Agent { stream, event } => {
                        if let Some(tx) = self.agent_streams.get(&stream)
                            && tx.send(event.to_record()).is_err()
                        {
                            closed.push((stream, StreamKind::Agent));
                        }
                    }
                    // Dropping the sender ends the HTTP response body.
                    Output::CloseFramework { stream } => {
                        self.framework_streams.remove(&stream);
                    }
                    Output::CloseAgent { stream } => {
                        self.agent_streams.remove(&stream);
                    }
                }
            }
            for (stream, kind) in closed {
                self.stream_closed(now, &stream, kind);
            }
        }
    }
}
