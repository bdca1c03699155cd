//! The connection to the master: the registration stream and the calls posted next to it.
//!
//! A link task POSTs REGISTER, reads the RecordIO stream of [`AgentEvent`]s and forwards them to
//! the runtime as core events. It answers every PING with a PONG itself, at once, so that
//! heartbeats never wait behind launches or disk writes in the runtime. A stream that stays
//! silent for four ping intervals (or 15 s before REGISTERED) counts as lost.

use crate::core::Event;
use futures::StreamExt;
use mesos_api::agent::{AGENT_API_PATH, AgentCall, AgentEvent, Register, STREAM_ID_HEADER};
use mesos_api::credentials::Credential;
use mesos_api::recordio::Decoder;
use mesos_client::poster::Poster;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// How long to wait for the first event (REGISTERED) and for an answer to REGISTER.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-call timeout of posted calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Missed ping intervals after which the master counts as lost.
const SILENT_PINGS: u32 = 4;

/// The agent's side of the master's agent API: the registration stream (through `client`) and
/// calls, posted one at a time over kept connections: PONGs on a connection of their own, so
/// that a heartbeat never waits behind a batch of status updates.
#[derive(Debug, Clone)]
pub struct MasterClient {
    client: reqwest::Client,
    /// `host:port` of the master of the current stream (it changes when another one leads).
    master: Arc<RwLock<String>>,
    calls: Arc<Poster>,
    pongs: Arc<Poster>,
    /// `https` with TLS (`LIBPROCESS_SSL_ENABLED`), else `http`.
    scheme: &'static str,
    /// `--credential`: sent with every request (REGISTER and calls).
    credential: Option<Arc<Credential>>,
}

impl MasterClient {
    /// `master` is `host:port` (empty until one is known); `tls`: calls over TLS (`client`
    /// must be configured alike); `credential`: sent with every request.
    pub fn new(
        client: reqwest::Client,
        master: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        credential: Option<Credential>,
    ) -> Self {
        Self {
            client,
            master: Arc::new(RwLock::new(master.to_string())),
            calls: Arc::new(
                Poster::with_tls(AGENT_API_PATH, CALL_TIMEOUT, tls.clone()).with_credential(credential.as_ref()),
            ),
            pongs: Arc::new(
                Poster::with_tls(AGENT_API_PATH, CALL_TIMEOUT, tls.clone()).with_credential(credential.as_ref()),
            ),
            scheme: if tls.is_some() { "https" } else { "http" },
            credential: credential.map(Arc::new),
        }
    }

    /// The master calls go to from now on.
    pub fn set_master(&self, master: &str) {
        match self.master.write() {
            Ok(mut current) => master.clone_into(&mut current),
            Err(poisoned) => master.clone_into(&mut poisoned.into_inner()),
        }
    }

    fn current_master(&self) -> String {
        match self.master.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// POSTs a call on stream `stream_id` to the current master; logs failures (the core
    /// retries what matters).
    pub async fn post(&self, stream_id: &str, call: &AgentCall) {
        let master = self.current_master();
        self.post_to(&master, stream_id, call).await;
    }

    /// POSTs a call on stream `stream_id` to `master`.
    async fn post_to(&self, master: &str, stream_id: &str, call: &AgentCall) {
        let body = mesos_api::json::to_ascii_vec(call);
        let poster = if matches!(call, AgentCall::Pong { .. }) { &self.pongs } else { &self.calls };
        let result = poster.post(master, stream_id, body).await;
        let kind = call_kind(call);
        match result {
            Ok(answer) if answer.status.is_success() => debug!(call = kind, status = %answer.status, "call accepted"),
            Ok(answer) => {
                let text = String::from_utf8_lossy(&answer.body);
                warn!(call = kind, status = %answer.status, body = %text, "the master refused a call");
            }
            Err(e) => warn!(call = kind, error = %e, "call to the master failed"),
        }
    }

    /// Runs one registration stream until it ends, reporting to `events`. Always ends with
    /// [`Event::LinkClosed`] (unless aborted).
    pub async fn run_stream(self, conn: u64, register: Register, master: String, events: UnboundedSender<Event>) {
        let reason = self.stream(conn, &register, &master, &events).await;
        info!(conn, %master, reason = %reason, "master stream ended");
        let _ = events.send(Event::LinkClosed { conn, reason });
    }

    /// A master that does not lead answers REGISTER with a redirect to the leader (307),
    /// which the HTTP client follows.
    async fn stream(&self, conn: u64, register: &Register, master: &str, events: &UnboundedSender<Event>) -> String {
        let call = AgentCall::Register { register: register.clone() };
        let mut request = self
            .client
            .post(format!("{}://{master}{AGENT_API_PATH}", self.scheme))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(credential) = &self.credential {
            request = request.basic_auth(&credential.principal, Some(&credential.secret));
        }
        let request = request.body(mesos_api::json::to_ascii_vec(&call)).send();
        let resp = match tokio::time::timeout(REGISTER_TIMEOUT, request).await {
            Err(_) => return "no answer to REGISTER".to_string(),
            Ok(Err(e)) => return format!("cannot reach the master: {e}"),
            Ok(Ok(r)) => r,
        };
        // Redirected to the leading master: calls go there (and so does the next REGISTER, with
        // the credentials the client does not send on to another host).
        let url = resp.url().clone();
        if master_of(&url).is_some_and(|m| m != master) {
            info!(conn, from = %master, to = %url, "redirected to the leading master");
            if let Some(leader) = master_of(&url) {
                self.set_master(&leader);
            }
        }
        if resp.status() != reqwest::StatusCode::OK {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return format!("REGISTER answered {status}: {}", text.trim());
        }
        let Some(stream_id) = resp.headers().get(STREAM_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string)
        else {
            return format!("REGISTER answer has no {STREAM_ID_HEADER} header");
        };
        if events.send(Event::LinkOpened { conn, stream_id: stream_id.clone() }).is_err() {
            return "agent stopped".to_string();
        }
        let mut body = resp.bytes_stream();
        let mut decoder = Decoder::new();
        let mut idle = REGISTER_TIMEOUT;
        let mut agent_id = None;
        let mut pongs: JoinSet<()> = JoinSet::new();
        loop {
            while pongs.try_join_next().is_some() {}
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => return format!("no event from the master for {idle:?}"),
                Ok(None) => return "the master closed the stream".to_string(),
                Ok(Some(Err(e))) => return format!("stream error: {e}"),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let records = match decoder.feed(&chunk) {
                Ok(r) => r,
                Err(e) => return format!("bad RecordIO framing: {e}"),
            };
            for record in records {
                let event: AgentEvent = match serde_json::from_slice(&record) {
                    Ok(e) => e,
                    Err(e) => {
                        warn!(error = %e, record = %String::from_utf8_lossy(&record), "unparseable event from the master skipped");
                        continue;
                    }
                };
                match &event {
                    AgentEvent::Registered { registered } => {
                        agent_id = Some(registered.agent_id.clone());
                        let ping = registered.ping_interval_seconds;
                        if ping.is_finite() && ping > 0.0 {
                            idle = Duration::from_secs_f64(ping * f64::from(SILENT_PINGS)).max(Duration::from_secs(1));
                        }
                    }
                    AgentEvent::Ping => {
                        if let Some(id) = agent_id.clone() {
                            let me = self.clone();
                            let stream_id = stream_id.clone();
                            // To the master that pinged: the stream may have been redirected.
                            let to = master_of(&url).unwrap_or_else(|| master.to_string());
                            pongs.spawn(
                                async move { me.post_to(&to, &stream_id, &AgentCall::Pong { agent_id: id }).await },
                            );
                        }
                    }
                    _ => {}
                }
                if events.send(Event::Master { conn, event: Box::new(event) }).is_err() {
                    return "agent stopped".to_string();
                }
            }
        }
    }
}

/// `host:port` of a URL.
fn master_of(url: &reqwest::Url) -> Option<String> {
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

fn call_kind(call: &AgentCall) -> &'static str {
    match call {
        AgentCall::Register { .. } => "REGISTER",
        AgentCall::StatusUpdate { .. } => "STATUS_UPDATE",
        AgentCall::StatusUpdates { .. } => "STATUS_UPDATES",
        AgentCall::Pong { .. } => "PONG",
        AgentCall::ExecutorMessage { .. } => "EXECUTOR_MESSAGE",
    }
}
