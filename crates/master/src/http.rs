//! The master's HTTP surface: axum handlers that turn requests into driver [`Request`]s and
//! stream the driver's outputs back to frameworks and agents. A master that does not lead
//! answers calls with a redirect to the leader it knows (307, `Location:
//! //<leader host>:<port><path>`) or, knowing none, 503 `No leader elected`, as upstream does;
//! it checks that first ([`Gate`]), and the driver checks again when the request arrives.
//! Its root is the web page of `webui::master_router` (agents, frameworks, tasks, sandboxes).

use crate::auth::{Endpoint, HttpAuth};
use crate::core::{Rejection, StreamId};
use crate::server::{Gate, Refusal, Request, StreamKind};
use crate::state;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use mesos_api::MasterInfo;
use mesos_api::agent::{AGENT_API_PATH, AgentCall, STREAM_ID_HEADER};
use mesos_api::operator::{GetHealth, GetVersion, MasterCall, MasterCallType, MasterResponse};
use mesos_api::scheduler::{Call, CallType};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) type Tx = mpsc::UnboundedSender<Request>;

/// What every handler shares: the driver's inbox and the role it publishes.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) tx: Tx,
    pub(crate) gate: watch::Receiver<Gate>,
    /// The web page's reads of agents' sandboxes, passed on ([`agent_files`]).
    pub(crate) http: reqwest::Client,
    /// `https` when the cluster's servers speak TLS (`LIBPROCESS_SSL_ENABLED`), else `http`.
    pub(crate) scheme: &'static str,
    pub(crate) auth: std::sync::Arc<HttpAuth>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// The principal a request authenticated as (`None`: its endpoint needs no authentication).
#[derive(Debug, Clone)]
pub(crate) struct Principal(pub(crate) Option<String>);

/// Which credentials a path needs (`None`: anyone may reach it).
fn endpoint_of(path: &str) -> Option<Endpoint> {
    match path {
        "/api/v1/scheduler" | "/master/api/v1/scheduler" => Some(Endpoint::Scheduler),
        AGENT_API_PATH => Some(Endpoint::Agent),
        "/api/v1" | "/api/v1/operator" | "/master/api/v1" => Some(Endpoint::ReadWrite),
        "/version" | "/health" | "/master/health" | "/redirect" | "/master/redirect" => None,
        _ => Some(Endpoint::ReadOnly),
    }
}

/// Authenticates every request whose endpoint needs it (401 otherwise) and passes the
/// principal on.
async fn authenticate(
    State(shared): State<Shared>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let principal = match endpoint_of(request.uri().path()) {
        Some(endpoint) => match shared.auth.authenticate(endpoint, request.headers()) {
            Ok(principal) => principal,
            Err(refused) => return refused.into_response(),
        },
        None => None,
    };
    request.extensions_mut().insert(Principal(principal));
    next.run(request).await
}

pub(crate) fn router(shared: Shared) -> Router {
    let http_metrics = shared.metrics.http.clone();
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
        .route(httpd::metrics::PROMETHEUS_PATH, get(read_prometheus))
        .route("/master/flags", get(read_flags))
        .route("/flags", get(read_flags))
        .route("/ui/api/agents/{agent}/files/{op}", get(agent_files))
        .merge(webui::master_router())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(http_metrics, httpd::metrics::track))
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

/// Where a leader serves: its hostname (its IP without one) and port, protocol-relative.
fn leader_base(leader: &MasterInfo) -> String {
    let host = match (leader.hostname.as_str(), &leader.address.ip) {
        ("", Some(ip)) => ip.clone(),
        (hostname, _) => hostname.to_string(),
    };
    format!("//{host}:{}", leader.port)
}

/// 307 to `location`.
fn redirect_to(location: &str) -> Response {
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn no_leader() -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected")
}

/// The answer of a master that does not lead to a call on `uri`.
fn refused(refusal: Refusal, uri: &Uri) -> Response {
    match refusal {
        Refusal::Redirect(leader) => {
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
            redirect_to(&format!("{}{path}", leader_base(&leader)))
        }
        Refusal::NoLeader => no_leader(),
        Refusal::Rejected(r) => rejection(r),
    }
}

/// The refusal of a call by what the driver last published (it checks again later).
fn gate_refusal(shared: &Shared, uri: &Uri) -> Option<Response> {
    match &*shared.gate.borrow() {
        Gate::Serve | Gate::Wait => None,
        Gate::Redirect(leader) => Some(refused(Refusal::Redirect(leader.clone()), uri)),
        Gate::NoLeader => Some(no_leader()),
    }
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

async fn scheduler_api(
    State(shared): State<Shared>,
    Extension(Principal(principal)): Extension<Principal>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate_refusal(&shared, &uri) {
        return r;
    }
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    let call = match Call::parse(&body) {
        Ok(call) => call,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let tx = &shared.tx;
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
        return open_stream(tx, &uri, StreamKind::Framework, |reply| Request::Subscribe { info, principal, reply })
            .await;
    }
    let stream = stream_id(&headers);
    accepted(ask(tx, |reply| Request::Call { stream, call: Box::new(call), principal, reply }).await, &uri)
}

async fn agent_api(
    State(shared): State<Shared>,
    Extension(Principal(principal)): Extension<Principal>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate_refusal(&shared, &uri) {
        return r;
    }
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    let call: AgentCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("Failed to parse agent call: {e}")),
    };
    let tx = &shared.tx;
    if let AgentCall::Register { register } = call {
        let register = Box::new(register);
        let request = |reply| Request::AgentRegister { register, principal, reply };
        return open_stream(tx, &uri, StreamKind::Agent, request).await;
    }
    let stream = stream_id(&headers);
    accepted(ask(tx, |reply| Request::AgentCall { stream, call: Box::new(call), principal, reply }).await, &uri)
}

/// Sends a request to the driver and waits for its answer (`None` if the driver is gone).
async fn ask<T>(tx: &Tx, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
    let (reply, answer) = oneshot::channel();
    tx.send(request(reply)).ok()?;
    answer.await.ok()
}

/// 202 for an accepted call, the rejection otherwise.
fn accepted(answer: Option<Result<Result<(), Rejection>, Refusal>>, uri: &Uri) -> Response {
    match answer {
        Some(Ok(Ok(()))) => StatusCode::ACCEPTED.into_response(),
        Some(Ok(Err(r))) => rejection(r),
        Some(Err(refusal)) => refused(refusal, uri),
        None => unavailable(),
    }
}

/// Opens a driver stream (SUBSCRIBE or REGISTER) and answers with it.
async fn open_stream(
    tx: &Tx,
    uri: &Uri,
    kind: StreamKind,
    request: impl FnOnce(oneshot::Sender<Result<(StreamId, mpsc::UnboundedReceiver<Bytes>), Refusal>>) -> Request,
) -> Response {
    match ask(tx, request).await {
        Some(Ok((id, rx))) => stream_response(tx, id, rx, kind),
        Some(Err(refusal)) => refused(refusal, uri),
        None => unavailable(),
    }
}

/// The v1 operator API (`mesos_api::operator`): JSON calls, JSON answers, and `SUBSCRIBE`'s
/// RecordIO stream of events. `GET_HEALTH` and `GET_VERSION` are answered by any master;
/// the other calls by the leader only (a standby redirects to it, as for the scheduler API).
async fn operator_api(
    State(shared): State<Shared>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = call_request_error(&method, &headers) {
        return r;
    }
    if !accepts_json(&headers) {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "Expecting 'Accept' to allow application/json: this master answers the operator API in JSON only \
             (not application/x-protobuf)",
        );
    }
    let (call, kind) = match MasterCall::parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let answer = |response: MasterResponse| json_response(serde_json::to_value(response).unwrap_or_default());
    match kind {
        MasterCallType::GetHealth => {
            return answer(MasterResponse::GetHealth { get_health: GetHealth { healthy: true } });
        }
        MasterCallType::GetVersion => {
            return answer(MasterResponse::GetVersion {
                get_version: GetVersion { version_info: state::version_info() },
            });
        }
        _ => {}
    }
    if let Some(r) = gate_refusal(&shared, &uri) {
        return r;
    }
    match kind {
        MasterCallType::Subscribe => {
            open_stream(&shared.tx, &uri, StreamKind::Operator, |reply| Request::OperatorSubscribe { reply }).await
        }
        MasterCallType::GetMetrics => {
            // The snapshot is taken at once, so any timeout is met; a negative one is an error.
            if call.get_metrics.and_then(|m| m.timeout).is_some_and(|t| t.nanoseconds < 0) {
                return text(StatusCode::BAD_REQUEST, "Expecting 'get_metrics.timeout' to be non-negative");
            }
            read_and_respond(&shared.tx, state::Query::Operator(kind)).await
        }
        MasterCallType::GetState
        | MasterCallType::GetAgents
        | MasterCallType::GetFrameworks
        | MasterCallType::GetExecutors
        | MasterCallType::GetTasks
        | MasterCallType::GetRoles
        | MasterCallType::GetMaster
        | MasterCallType::GetFlags => read_and_respond(&shared.tx, state::Query::Operator(kind)).await,
        other => text(
            StatusCode::NOT_IMPLEMENTED,
            format!("Operator call '{}' is not implemented by this master", other.name()),
        ),
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

/// `/master/redirect`: 307 to the leading master's base URL (upstream: to its base, never to
/// a path, so that nothing loops), or 503 when no leader is known.
async fn redirect(State(shared): State<Shared>) -> Response {
    match ask(&shared.tx, |reply| Request::Leader { reply }).await {
        Some(Some(leader)) => redirect_to(&leader_base(&leader)),
        Some(None) => no_leader(),
        None => unavailable(),
    }
}

async fn read_state(State(shared): State<Shared>) -> Response {
    read_and_respond(&shared.tx, state::Query::State).await
}

async fn read_state_summary(State(shared): State<Shared>) -> Response {
    read_and_respond(&shared.tx, state::Query::StateSummary).await
}

async fn read_frameworks(State(shared): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    read_and_respond(&shared.tx, state::Query::Frameworks { framework_id: q.get("framework_id").cloned() }).await
}

async fn read_slaves(State(shared): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    read_and_respond(&shared.tx, state::Query::Slaves { slave_id: q.get("slave_id").cloned() }).await
}

/// `GET /ui/api/agents/{agent}/files/{read|browse}?…`: the web page's reads of a sandbox,
/// passed on to the agent (found by id among the admitted ones), which the browser may not reach.
async fn agent_files(
    State(shared): State<Shared>,
    axum::extract::Path((agent, op)): axum::extract::Path<(String, String)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if !webui::proxy::is_agent_files_op(&op) {
        return text(StatusCode::NOT_FOUND, "");
    }
    let Some(slaves) = read(&shared.tx, state::Query::Slaves { slave_id: Some(agent.clone()) }).await else {
        return unavailable();
    };
    let Some(address) = webui::proxy::agent_address(&slaves, &agent) else {
        return text(StatusCode::NOT_FOUND, format!("Agent '{agent}' is not known"));
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    webui::proxy::forward(&shared.http, &format!("{}://{address}/files/{op}{query}", shared.scheme))
        .await
        .unwrap_or_else(|message| text(StatusCode::BAD_GATEWAY, message))
}

async fn read_tasks(State(shared): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let number = |k: &str, d: usize| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let query = state::Query::Tasks {
        limit: number("limit", 100),
        offset: number("offset", 0),
        ascending: q.get("order").is_some_and(|o| o == "asc"),
        framework_id: q.get("framework_id").cloned(),
        task_id: q.get("task_id").cloned(),
    };
    read_and_respond(&shared.tx, query).await
}

async fn read_metrics(State(shared): State<Shared>) -> Response {
    read_and_respond(&shared.tx, state::Query::Metrics).await
}

/// `/metrics/prometheus`: the counters, histograms and process metrics, and the numbers of
/// `/metrics/snapshot` as gauges.
async fn read_prometheus(State(shared): State<Shared>) -> Response {
    let snapshot = read(&shared.tx, state::Query::Metrics).await;
    shared.metrics.render(snapshot.as_ref())
}

async fn read_flags(State(shared): State<Shared>) -> Response {
    read_and_respond(&shared.tx, state::Query::Flags).await
}
