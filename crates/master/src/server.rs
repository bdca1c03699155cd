//! The master's IO shell: one task owns the [`MasterCore`] and the clock; axum handlers turn HTTP
//! requests into [`Request`]s for it and stream its outputs back to frameworks and agents.

use crate::core::{MasterConfig, MasterCore, Now, Output, Registry, Rejection, StreamId};
use crate::registry::{FileRegistry, InMemoryRegistry, RegistryError, RegistryKind, RegistryStore};
use crate::state;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use mesos_api::agent::{AGENT_API_PATH, AgentCall, STREAM_ID_HEADER};
use mesos_api::scheduler::{Call, CallType};
use mesos_api::{Address, FrameworkInfo, MESOS_VERSION, MasterInfo, duration, ipv4_as_mesos_u32};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
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
    #[arg(long = "agent_ping_timeout", alias = "agent-ping-timeout", default_value = "500ms", value_parser = parse_duration, env = "MESOS_AGENT_PING_TIMEOUT")]
    pub agent_ping_timeout: Duration,
    /// Missed pongs in a row after which an agent is unreachable.
    #[arg(
        long = "max_agent_ping_timeouts",
        alias = "max-agent-ping-timeouts",
        default_value_t = 4,
        env = "MESOS_MAX_AGENT_PING_TIMEOUTS"
    )]
    pub max_agent_ping_timeouts: u32,
    /// After a master restart, agents from the registry that have not reregistered by then are
    /// marked unreachable (upstream default 10mins; our agents retry registration at least
    /// every 5 s and give up on an unanswered REGISTER after 15 s, so a minute is many tries).
    #[arg(long = "agent_reregister_timeout", alias = "agent-reregister-timeout", default_value = DEFAULT_AGENT_REREGISTER_TIMEOUT, value_parser = parse_duration, env = "MESOS_AGENT_REREGISTER_TIMEOUT")]
    pub agent_reregister_timeout: Duration,
    /// Where the registry (admitted, unreachable and gone agents) is kept: `work_dir` (a file
    /// in --work_dir, survives restarts) or `in_memory` (nothing survives a restart).
    #[arg(long, value_enum, default_value = "work_dir", env = "MESOS_REGISTRY")]
    pub registry: RegistryKind,
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
}

/// A master running in this process.
#[derive(Debug)]
pub struct RunningMaster {
    addr: SocketAddr,
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

    pub fn shutdown(self) {
        self.server.abort();
        self.driver.abort();
    }
}

pub fn hostname_of_this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Binds the port and starts the master.
pub async fn start(flags: MasterFlags) -> Result<RunningMaster, MasterError> {
    std::fs::create_dir_all(&flags.work_dir)
        .map_err(|source| MasterError::WorkDir { path: flags.work_dir.clone(), source })?;
    let mut store: Box<dyn RegistryStore> = match flags.registry {
        RegistryKind::WorkDir => Box::new(FileRegistry::new(&flags.work_dir)),
        RegistryKind::InMemory => Box::new(InMemoryRegistry::default()),
    };
    let recovered = store.load()?;
    let addr = SocketAddr::new(flags.ip, flags.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| MasterError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| MasterError::Bind { addr, source })?;
    let hostname = flags.hostname.clone().unwrap_or_else(hostname_of_this_machine);
    let ip_text = addr.ip().to_string();
    let ip_u32 = match addr.ip() {
        IpAddr::V4(v4) => ipv4_as_mesos_u32(v4),
        IpAddr::V6(_) => 0,
    };
    let master_id = uuid::Uuid::new_v4().to_string();
    let master_info = MasterInfo {
        id: master_id,
        ip: ip_u32,
        port: addr.port(),
        pid: format!("master@{ip_text}:{}", addr.port()),
        hostname: hostname.clone(),
        version: MESOS_VERSION.to_string(),
        address: Address { hostname: Some(hostname), ip: Some(ip_text), port: addr.port() },
        capabilities: vec![],
    };
    let config = MasterConfig {
        master_info,
        allocation_interval: flags.allocation_interval,
        heartbeat_interval: flags.heartbeat_interval,
        agent_ping_timeout: flags.agent_ping_timeout,
        max_agent_ping_timeouts: flags.max_agent_ping_timeouts.max(1),
        agent_reregister_timeout: flags.agent_reregister_timeout,
        offer_timeout: flags.offer_timeout,
        max_completed_frameworks: flags.max_completed_frameworks,
        max_completed_tasks_per_framework: flags.max_completed_tasks_per_framework,
        seed: rand::random(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let clock = Clock { start: Instant::now() };
    let mut core = MasterCore::new(config, clock.now());
    if let Some(registry) = recovered {
        core.recover(clock.now(), registry);
    }
    let stored = tx.clone();
    let registry_writer =
        crate::registry::spawn_writer(store, move |version| stored.send(Request::RegistryStored { version }).is_ok());
    let driver = Driver {
        core,
        clock,
        flags: flags.clone(),
        framework_streams: HashMap::new(),
        agent_streams: HashMap::new(),
        registry_writer,
        registry_sent: 0,
        registry_in_flight: false,
    };
    let driver = tokio::spawn(driver.run(rx));
    let app = router(tx);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "master HTTP server stopped");
        }
    });
    tracing::info!(%addr, "master listening");
    Ok(RunningMaster { addr, server, driver })
}

// ---------------------------------------------------------------------------------------------
// The driver: the single owner of the core

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
enum StreamKind {
    Framework,
    Agent,
}

/// What the HTTP side asks of the driver.
#[derive(Debug)]
enum Request {
    Subscribe {
        info: Box<FrameworkInfo>,
        reply: oneshot::Sender<(StreamId, mpsc::UnboundedReceiver<Bytes>)>,
    },
    Call {
        stream: Option<String>,
        call: Box<Call>,
        reply: oneshot::Sender<Result<(), Rejection>>,
    },
    AgentRegister {
        register: Box<mesos_api::agent::Register>,
        reply: oneshot::Sender<(StreamId, mpsc::UnboundedReceiver<Bytes>)>,
    },
    AgentCall {
        stream: Option<String>,
        call: Box<AgentCall>,
        reply: oneshot::Sender<Result<(), Rejection>>,
    },
    StreamClosed {
        stream: StreamId,
        kind: StreamKind,
    },
    Read {
        query: state::Query,
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The registry writer stored this version.
    RegistryStored {
        version: u64,
    },
}

struct Driver {
    core: MasterCore,
    clock: Clock,
    flags: MasterFlags,
    framework_streams: HashMap<StreamId, mpsc::UnboundedSender<Bytes>>,
    agent_streams: HashMap<StreamId, mpsc::UnboundedSender<Bytes>>,
    /// Versions of the registry go to the writer thread one at a time: while one is being
    /// written, later changes pile up and go together as the next one.
    registry_writer: std::sync::mpsc::Sender<(u64, Registry)>,
    registry_sent: u64,
    registry_in_flight: bool,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        loop {
            let wakeup = self.clock.start + self.core.next_wakeup();
            tokio::select! {
                request = rx.recv() => {
                    let Some(request) = request else { return };
                    self.handle(request);
                }
                () = tokio::time::sleep_until(wakeup) => {
                    let now = self.clock.now();
                    self.core.tick(now);
                }
            }
            self.flush();
            self.persist_registry();
        }
    }

    /// Sends the core's registry to the writer if it changed and no write is under way.
    fn persist_registry(&mut self) {
        let version = self.core.registry_version();
        if self.registry_in_flight || version <= self.registry_sent {
            return;
        }
        if self.registry_writer.send((version, self.core.registry().clone())).is_ok() {
            self.registry_sent = version;
            self.registry_in_flight = true;
        } else {
            tracing::error!(version, "the registry writer is gone; the registry is not stored");
        }
    }

    fn new_stream(&mut self, kind: StreamKind) -> (StreamId, mpsc::UnboundedReceiver<Bytes>) {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        match kind {
            StreamKind::Framework => self.framework_streams.insert(id.clone(), tx),
            StreamKind::Agent => self.agent_streams.insert(id.clone(), tx),
        };
        (id, rx)
    }

    fn handle(&mut self, request: Request) {
        let now = self.clock.now();
        match request {
            Request::Subscribe { info, reply } => {
                let (id, rx) = self.new_stream(StreamKind::Framework);
                self.core.subscribe(now, id.clone(), *info);
                let _ = reply.send((id, rx));
            }
            Request::Call { stream, call, reply } => {
                let _ = reply.send(self.core.call(now, stream.as_deref(), *call));
            }
            Request::AgentRegister { register, reply } => {
                let (id, rx) = self.new_stream(StreamKind::Agent);
                self.core.agent_register(now, id.clone(), *register);
                let _ = reply.send((id, rx));
            }
            Request::AgentCall { stream, call, reply } => {
                let _ = reply.send(self.core.agent_call(now, stream.as_deref(), *call));
            }
            Request::StreamClosed { stream, kind } => match kind {
                StreamKind::Framework => {
                    self.framework_streams.remove(&stream);
                    self.core.framework_disconnected(now, &stream);
                }
                StreamKind::Agent => {
                    self.agent_streams.remove(&stream);
                    self.core.agent_disconnected(now, &stream);
                }
            },
            Request::Read { query, reply } => {
                let _ = reply.send(state::render(&self.core, &self.flags, now, &query));
            }
            Request::RegistryStored { version } => {
                self.registry_in_flight = false;
                self.core.registry_stored(now, version);
            }
        }
    }

    /// Delivers the core's outputs. A stream whose reader is gone is reported closed.
    fn flush(&mut self) {
        loop {
            let outputs = self.core.take_outputs();
            if outputs.is_empty() {
                return;
            }
            let mut closed = Vec::new();
            for output in outputs {
                match output {
                    Output::Framework { stream, event } => {
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
            let now = self.clock.now();
            for (stream, kind) in closed {
                match kind {
                    StreamKind::Framework => {
                        self.framework_streams.remove(&stream);
                        self.core.framework_disconnected(now, &stream);
                    }
                    StreamKind::Agent => {
                        self.agent_streams.remove(&stream);
                        self.core.agent_disconnected(now, &stream);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

type Tx = mpsc::UnboundedSender<Request>;

fn router(tx: Tx) -> Router {
    Router::new()
        .route("/api/v1/scheduler", any(scheduler_api))
        .route("/master/api/v1/scheduler", any(scheduler_api))
        .route(AGENT_API_PATH, any(agent_api))
        .route("/api/v1", any(operator_api))
        .route("/api/v1/operator", any(operator_api))
        .route("/master/api/v1", any(operator_api))
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/master/health", get(health))
        .route("/redirect", get(redirect))
        .route("/master/redirect", get(redirect))
        .route("/master/state", get(read_state))
        .route("/state", get(read_state))
        .route("/state.json", get(read_state))
        .route("/master/state.json", get(read_state))
        .route("/master/state-summary", get(read_state_summary))
        .route("/state-summary", get(read_state_summary))
        .route("/master/frameworks", get(read_frameworks))
        .route("/frameworks", get(read_frameworks))
        .route("/master/slaves", get(read_slaves))
        .route("/slaves", get(read_slaves))
        .route("/master/tasks", get(read_tasks))
        .route("/tasks", get(read_tasks))
        .route("/metrics/snapshot", get(read_metrics))
        .route("/master/flags", get(read_flags))
        .route("/flags", get(read_flags))
        .with_state(tx)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

fn rejection(r: Rejection) -> Response {
    text(StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST), r.message)
}

fn unavailable() -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down")
}

/// The content-type and method checks shared by the v1 call endpoints: the refusal, if any.
fn call_request_error(method: &Method, headers: &HeaderMap) -> Option<Response> {
    if method != Method::POST {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, format!("Expecting 'POST', received '{method}'"));
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Some(r);
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Some(text(StatusCode::BAD_REQUEST, "Expecting 'Content-Type' to be present"));
    };
    let content_type = content_type.to_str().unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media == "application/x-protobuf" {
        return Some(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type 'application/x-protobuf' is not supported by this master yet; use 'application/json'",
        ));
    }
    if media != "application/json" {
        return Some(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Expecting 'Content-Type' of application/json or application/x-protobuf, received '{content_type}'"
            ),
        ));
    }
    None
}

/// A missing Accept header accepts anything; JSON is what we produce.
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return true };
    accept
        .split(',')
        .map(|p| p.split(';').next().unwrap_or_default().trim())
        .any(|m| matches!(m, "application/json" | "application/*" | "*/*" | "application/recordio"))
}

fn stream_id(headers: &HeaderMap) -> Option<String> {
    headers.get(STREAM_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Turns a driver stream into a chunked response body that reports its own end.
struct StreamBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
    guard: Option<(Tx, StreamId, StreamKind)>,
}

impl Stream for StreamBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    /// Every record already waiting goes out in one chunk (up to [`MAX_CHUNK`] bytes): a burst
    /// of status updates costs the connection one write, and its reader one wakeup, instead
    /// of one per record.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let first = match self.rx.poll_recv(cx) {
            Poll::Ready(Some(first)) => first,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let mut chunk: Option<BytesMut> = None;
        while chunk.as_ref().map_or(first.len(), BytesMut::len) < MAX_CHUNK {
            let Ok(next) = self.rx.try_recv() else { break };
            chunk
                .get_or_insert_with(|| {
                    let mut chunk = BytesMut::with_capacity(first.len() + next.len() * 8);
                    chunk.extend_from_slice(&first);
                    chunk
                })
                .extend_from_slice(&next);
        }
        Poll::Ready(Some(Ok(chunk.map_or(first, BytesMut::freeze))))
    }
}

/// Most bytes of waiting records put in one chunk of a stream.
const MAX_CHUNK: usize = 256 * 1024;

impl Drop for StreamBody {
    fn drop(&mut self) {
        if let Some((tx, stream, kind)) = self.guard.take() {
            let _ = tx.send(Request::StreamClosed { stream, kind });
        }
    }
}

fn stream_response(tx: &Tx, id: StreamId, rx: mpsc::UnboundedReceiver<Bytes>, kind: StreamKind) -> Response {
    let body = StreamBody { rx, guard: Some((tx.clone(), id.clone(), kind)) };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(STREAM_ID_HEADER, v);
    }
    response
}

async fn scheduler_api(State(tx): State<Tx>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    let call = match Call::parse(&body) {
        Ok(call) => call,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if call.kind == Some(CallType::Subscribe) {
        if !accepts_json(&headers) {
            return text(StatusCode::NOT_ACCEPTABLE, "Expecting 'Accept' to allow application/json");
        }
        if headers.contains_key(STREAM_ID_HEADER) {
            return text(StatusCode::BAD_REQUEST, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        }
        let Some(subscribe) = call.subscribe else {
            return text(StatusCode::BAD_REQUEST, "Expecting 'subscribe' to be present");
        };
        let info = Box::new(subscribe.framework_info);
        return open_stream(&tx, StreamKind::Framework, |reply| Request::Subscribe { info, reply }).await;
    }
    let stream = stream_id(&headers);
    accepted(ask(&tx, |reply| Request::Call { stream, call: Box::new(call), reply }).await)
}

async fn agent_api(State(tx): State<Tx>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    let call: AgentCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("Failed to parse agent call: {e}")),
    };
    if let AgentCall::Register { register } = call {
        let register = Box::new(register);
        return open_stream(&tx, StreamKind::Agent, |reply| Request::AgentRegister { register, reply }).await;
    }
    let stream = stream_id(&headers);
    accepted(ask(&tx, |reply| Request::AgentCall { stream, call: Box::new(call), reply }).await)
}

/// Sends a request to the driver and waits for its answer (`None` if the driver is gone).
async fn ask<T>(tx: &Tx, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
    let (reply, answer) = oneshot::channel();
    tx.send(request(reply)).ok()?;
    answer.await.ok()
}

/// 202 for an accepted call, the rejection otherwise.
fn accepted(answer: Option<Result<(), Rejection>>) -> Response {
    match answer {
        Some(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Some(Err(r)) => rejection(r),
        None => unavailable(),
    }
}

/// Opens a driver stream (SUBSCRIBE or REGISTER) and answers with it.
async fn open_stream(
    tx: &Tx,
    kind: StreamKind,
    request: impl FnOnce(oneshot::Sender<(StreamId, mpsc::UnboundedReceiver<Bytes>)>) -> Request,
) -> Response {
    match ask(tx, request).await {
        Some((id, rx)) => stream_response(tx, id, rx, kind),
        None => unavailable(),
    }
}

/// The operator API: the calls tools use to check a master.
async fn operator_api(State(tx): State<Tx>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    let call: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("Failed to parse body into JSON: {e}")),
    };
    match call.get("type").and_then(|t| t.as_str()) {
        Some("GET_HEALTH") => json_response(serde_json::json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})),
        Some("GET_VERSION") => json_response(serde_json::json!({"type": "GET_VERSION", "get_version": {
            "version_info": state::version_json()}})),
        Some("GET_STATE") => match read(&tx, state::Query::OperatorState).await {
            Some(v) => json_response(v),
            None => unavailable(),
        },
        Some(other) => text(StatusCode::NOT_IMPLEMENTED, format!("Operator call '{other}' is not supported")),
        None => text(StatusCode::BAD_REQUEST, "Expecting 'type' to be present"),
    }
}

fn json_response(value: serde_json::Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], mesos_api::json::to_ascii_vec(&value))
        .into_response()
}

async fn read(tx: &Tx, query: state::Query) -> Option<serde_json::Value> {
    ask(tx, |reply| Request::Read { query, reply }).await
}

async fn read_and_respond(tx: &Tx, query: state::Query) -> Response {
    match read(tx, query).await {
        Some(v) => json_response(v),
        None => unavailable(),
    }
}

async fn version() -> Response {
    json_response(state::version_json())
}

async fn health() -> Response {
    StatusCode::OK.into_response()
}

async fn redirect(State(tx): State<Tx>) -> Response {
    let Some(v) = read(&tx, state::Query::Leader).await else { return unavailable() };
    let location = v.as_str().unwrap_or_default().to_string();
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn read_state(State(tx): State<Tx>) -> Response {
    read_and_respond(&tx, state::Query::State).await
}

async fn read_state_summary(State(tx): State<Tx>) -> Response {
    read_and_respond(&tx, state::Query::StateSummary).await
}

async fn read_frameworks(State(tx): State<Tx>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    read_and_respond(&tx, state::Query::Frameworks { framework_id: q.get("framework_id").cloned() }).await
}

async fn read_slaves(State(tx): State<Tx>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    read_and_respond(&tx, state::Query::Slaves { slave_id: q.get("slave_id").cloned() }).await
}

async fn read_tasks(State(tx): State<Tx>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let number = |k: &str, d: usize| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let query = state::Query::Tasks {
        limit: number("limit", 100),
        offset: number("offset", 0),
        ascending: q.get("order").is_some_and(|o| o == "asc"),
        framework_id: q.get("framework_id").cloned(),
        task_id: q.get("task_id").cloned(),
    };
    read_and_respond(&tx, query).await
}

async fn read_metrics(State(tx): State<Tx>) -> Response {
    read_and_respond(&tx, state::Query::Metrics).await
}

async fn read_flags(State(tx): State<Tx>) -> Response {
    read_and_respond(&tx, state::Query::Flags).await
}
