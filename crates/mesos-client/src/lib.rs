//! A framework's side of the Mesos v1 scheduler API.
//!
//! [`start`] spawns one task that owns the subscription: it POSTs SUBSCRIBE, decodes the RecordIO
//! event stream, and when the stream ends, errors or stays silent for more than two heartbeat
//! intervals, it resubscribes with the same framework id (failover) after a short backoff. It
//! follows `307` redirects to the leading master. Events come out of a channel as
//! [`ClientEvent`]s; calls go through [`SchedulerClient::call`], which adds the framework id and
//! the current `Mesos-Stream-Id`.
//!
//! The connection task is the only writer of the session (stream id, framework id, master); callers
//! read it through a `watch` channel. Calls go out one at a time over a kept connection
//! ([`poster::Poster`]).
//!
//! Given `zk://host1:port1,host2:port2/path` as the master, the client follows the leading master
//! of the masters contending there (`coordination::mesos::MasterDetector`): it subscribes to the
//! leader once one is known, and when another master is elected it drops the subscription at once
//! ([`ClientEvent::Disconnected`]) and subscribes to the new leader with the same framework id.

pub mod poster;

use futures::StreamExt;
use mesos_api::recordio::Decoder;
use mesos_api::scheduler::{Call, CallType, Event, Subscribe};
use mesos_api::{FrameworkId, FrameworkInfo, MasterInfo};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// SUBSCRIBED: the framework is registered (again) under `framework_id`.
    Subscribed { framework_id: FrameworkId, master_info: Box<MasterInfo>, heartbeat_interval: Duration },
    /// Any other event but HEARTBEAT.
    Event(Box<Event>),
    /// The subscription ended; the client is resubscribing.
    Disconnected { reason: String },
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of a master (an `http://` prefix is tolerated), or `zk://...` (or
    /// `file:///path` of a file holding one) to follow the leading master in ZooKeeper.
    pub master: String,
    /// Sent with SUBSCRIBE; set `id` to fail over an existing framework.
    pub framework_info: FrameworkInfo,
    /// Cap of the reconnection backoff.
    pub max_backoff: Duration,
    /// Session timeout of the ZooKeeper master detector (with a `zk://` master).
    pub zk_session_timeout: Duration,
    /// TLS to the master (`https`), e.g. from `LIBPROCESS_SSL_*` (`httpd::tls::LibprocessSsl`);
    /// `None`: plain HTTP.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// HTTP basic credentials sent with every request (for a master with
    /// `--authenticate_frameworks`); the principal should be `framework_info.principal`.
    pub credential: Option<mesos_api::credentials::Credential>,
}

impl ClientConfig {
    pub fn new(master: impl Into<String>, framework_info: FrameworkInfo) -> Self {
        Self {
            master: master.into(),
            framework_info,
            max_backoff: Duration::from_secs(5),
            zk_session_timeout: coordination::session::DEFAULT_SESSION_TIMEOUT,
            tls: None,
            credential: None,
        }
    }
}

/// Where the master is.
enum MasterSource {
    /// `host:port`.
    Fixed(String),
    /// The leading master in ZooKeeper.
    ZooKeeper(coordination::ZkUrl),
    /// A `zk://` master that does not parse: nothing to connect to.
    Invalid(String),
}

impl MasterSource {
    fn parse(text: &str) -> MasterSource {
        let text = text.trim();
        if text.starts_with("zk://") || text.starts_with("file://") {
            return match coordination::ZkUrl::from_flag(text) {
                Ok(url) => MasterSource::ZooKeeper(url),
                Err(e) => MasterSource::Invalid(e.to_string()),
            };
        }
        MasterSource::Fixed(
            text.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/').to_string(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not subscribed")]
    NotSubscribed,
    #[error("call refused with {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("http: {0}")]
    Http(String),
}

#[derive(Debug, Clone, Default)]
struct Session {
    master: String,
    framework_id: Option<FrameworkId>,
    stream_id: Option<String>,
}

/// Per-call timeout (connecting and answering).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle for making calls; cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    calls: std::sync::Arc<poster::Poster>,
    session: watch::Receiver<Session>,
    task: std::sync::Arc<tokio::task::AbortHandle>,
}

/// Starts the subscription task.
pub fn start(config: ClientConfig) -> (SchedulerClient, mpsc::UnboundedReceiver<ClientEvent>) {
    // Redirects are followed by hand (a 307 names the leader, which calls then go to): the HTTP
    // client would follow them itself and drop the credentials on the way to another host.
    let http = reqwest::Client::builder().tcp_nodelay(true).redirect(reqwest::redirect::Policy::none());
    let http = match &config.tls {
        Some(tls) => http.tls_backend_preconfigured(rustls::ClientConfig::clone(tls)),
        None => http,
    };
    let http = http.build().unwrap_or_default();
    let (master, detector) = match MasterSource::parse(&config.master) {
        MasterSource::Fixed(master) => (master, None),
        MasterSource::ZooKeeper(url) => {
            tracing::info!(zk = %url, "following the leading master in ZooKeeper");
            (String::new(), Some(coordination::mesos::MasterDetector::start(&url, config.zk_session_timeout)))
        }
        MasterSource::Invalid(error) => {
            tracing::error!(%error, "invalid master URL: this framework cannot connect");
            (String::new(), None)
        }
    };
    let framework_id = config.framework_info.id.clone().filter(|id| !id.value.is_empty());
    let (session_tx, session) = watch::channel(Session { master, framework_id, stream_id: None });
    let (events_tx, events) = mpsc::unbounded_channel();
    let poster = poster::Poster::with_tls("/api/v1/scheduler", CALL_TIMEOUT, config.tls.clone())
        .with_credential(config.credential.as_ref());
    let calls = std::sync::Arc::new(poster);
    let connection = Connection { http: http.clone(), config, session: session_tx, events: events_tx, detector };
    let task = tokio::spawn(connection.run()).abort_handle();
    (SchedulerClient { calls, session, task: std::sync::Arc::new(task) }, events)
}

impl SchedulerClient {
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.session.borrow().framework_id.clone()
    }

    pub fn is_subscribed(&self) -> bool {
        self.session.borrow().stream_id.is_some()
    }

    /// Posts `call` on the current subscription, filling in the framework id.
    pub async fn call(&self, mut call: Call) -> Result<(), CallError> {
        let session = self.session.borrow().clone();
        let (Some(stream_id), Some(framework_id)) = (session.stream_id, session.framework_id) else {
            return Err(CallError::NotSubscribed);
        };
        call.framework_id = Some(framework_id);
        let body = serde_json::to_vec(&call).map_err(|e| CallError::Http(e.to_string()))?;
        let answer = self.calls.post(&session.master, &stream_id, body).await.map_err(CallError::Http)?;
        if answer.status.is_success() {
            return Ok(());
        }
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        Err(CallError::Refused { status: answer.status.as_u16(), body })
    }

    /// Ends the subscription task (the framework stays registered until its failover timeout).
    pub fn stop(&self) {
        self.task.abort();
    }
}

struct Connection {
    http: reqwest::Client,
    config: ClientConfig,
    session: watch::Sender<Session>,
    events: mpsc::UnboundedSender<ClientEvent>,
    /// With a `zk://` master; dropped (leaving ZooKeeper) with the connection task.
    detector: Option<coordination::mesos::MasterDetector>,
}

/// The leading master as the detector last said (`host:port`), if there is a detector.
struct Detected {
    leader: Option<watch::Receiver<Option<MasterInfo>>>,
    /// The detected leader this connection acts on.
    current: Option<String>,
}

impl Detected {
    /// Takes what the detector says now; `true` if it changed.
    fn update(&mut self) -> bool {
        let Some(leader) = self.leader.as_mut() else { return false };
        let now = leader.borrow_and_update().as_ref().map(coordination::mesos::http_address);
        let changed = now != self.current;
        self.current = now;
        changed
    }

    /// Resolves when the detected leader differs from the one acted on (never without a
    /// detector).
    async fn changed(&mut self) {
        loop {
            let Some(leader) = self.leader.as_mut() else { return std::future::pending().await };
            if leader.changed().await.is_err() {
                self.leader = None;
                continue;
            }
            let now = leader.borrow().as_ref().map(coordination::mesos::http_address);
            if now != self.current {
                return;
            }
        }
    }
}

enum Ended {
    /// The stream ran and then ended; resubscribe soon.
    AfterSubscribed(String),
    /// Could not subscribe at all.
    Failed(String),
    /// Redirected to another master.
    Redirected,
    /// Another master was elected (or none leads): the subscription was dropped.
    NewLeader,
    /// The consumer is gone.
    Stop,
}

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

impl Connection {
    fn scheme(&self) -> &'static str {
        if self.config.tls.is_some() { "https" } else { "http" }
    }

    async fn run(self) {
        let mut detected =
            Detected { leader: self.detector.as_ref().map(coordination::mesos::MasterDetector::leader), current: None };
        let mut backoff = INITIAL_BACKOFF;
        loop {
            if detected.leader.is_some() {
                detected.update();
                let Some(leader) = detected.current.clone() else {
                    // No leading master: wait for one.
                    detected.changed().await;
                    continue;
                };
                if self.session.borrow().master != leader {
                    tracing::info!(%leader, "subscribing to the leading master");
                    self.session.send_modify(|s| s.master = leader);
                }
            }
            let ended = tokio::select! {
                ended = self.subscribe_once() => ended,
                () = detected.changed() => Ended::NewLeader,
            };
            match ended {
                Ended::Stop => return,
                Ended::Redirected => continue,
                Ended::NewLeader => {
                    let subscribed = self.session.borrow().stream_id.is_some();
                    self.session.send_modify(|s| s.stream_id = None);
                    if subscribed {
                        let reason = "a new leading master was elected".to_string();
                        tracing::warn!(%reason, "subscription dropped; resubscribing");
                        if self.events.send(ClientEvent::Disconnected { reason }).is_err() {
                            return;
                        }
                    }
                    backoff = INITIAL_BACKOFF;
                    continue;
                }
                Ended::AfterSubscribed(reason) => {
                    self.session.send_modify(|s| s.stream_id = None);
                    tracing::warn!(%reason, "subscription ended; resubscribing");
                    if self.events.send(ClientEvent::Disconnected { reason }).is_err() {
                        return;
                    }
                    backoff = INITIAL_BACKOFF;
                }
                Ended::Failed(reason) => {
                    tracing::debug!(%reason, ?backoff, "cannot subscribe yet");
                }
            }
            // A new leader ends the wait: it is subscribed to at once.
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = detected.changed() => {}
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    async fn subscribe_once(&self) -> Ended {
        let session = self.session.borrow().clone();
        if session.master.is_empty() {
            return Ended::Failed(format!("no master to subscribe to (--master {})", self.config.master));
        }
        let mut info = self.config.framework_info.clone();
        info.id = session.framework_id.clone();
        let mut call = Call::new(CallType::Subscribe, session.framework_id.clone());
        call.subscribe = Some(Subscribe { framework_info: info, suppressed_roles: Vec::new() });
        let Ok(body) = serde_json::to_vec(&call) else { return Ended::Failed("cannot encode SUBSCRIBE".into()) };
        let mut request = self
            .http
            .post(format!("{}://{}/api/v1/scheduler", self.scheme(), session.master))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(credential) = &self.config.credential {
            request = request.basic_auth(&credential.principal, Some(&credential.secret));
        }
        let response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => return Ended::Failed(e.to_string()),
        };
        if response.status() == reqwest::StatusCode::TEMPORARY_REDIRECT {
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let leader = location.trim_start_matches("http:").trim_start_matches("//");
            let leader = leader.split('/').next().unwrap_or_default().to_string();
            if leader.is_empty() || leader == session.master {
                return Ended::Failed(format!("bad redirect to '{location}'"));
            }
            tracing::info!(%leader, "redirected to the leading master");
            self.session.send_modify(|s| s.master = leader);
            return Ended::Redirected;
        }
        if !response.status().is_success() {
            let status = response.status();
            return Ended::Failed(format!(
                "SUBSCRIBE answered {status}: {}",
                response.text().await.unwrap_or_default()
            ));
        }
        let Some(stream_id) = response.headers().get("Mesos-Stream-Id").and_then(|v| v.to_str().ok()) else {
            return Ended::Failed("SUBSCRIBE answer has no Mesos-Stream-Id".into());
        };
        let stream_id = stream_id.to_string();
        let mut body = response.bytes_stream();
        let mut decoder = Decoder::new();
        // Until SUBSCRIBED says otherwise, expect a heartbeat at Mesos' default interval.
        let mut silence_limit = Duration::from_secs(31);
        let mut subscribed = false;
        loop {
            let chunk = match tokio::time::timeout(silence_limit, body.next()).await {
                Err(_) => return self.ended(subscribed, format!("no event for {silence_limit:?}")),
                Ok(None) => return self.ended(subscribed, "stream closed by the master".into()),
                Ok(Some(Err(e))) => return self.ended(subscribed, format!("stream error: {e}")),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let records = match decoder.feed(&chunk) {
                Ok(r) => r,
                Err(e) => return self.ended(subscribed, format!("bad RecordIO: {e}")),
            };
            for record in records {
                let event: Event = match serde_json::from_slice(&record) {
                    Ok(e) => e,
                    Err(e) => {
                        // An event type this client does not know (inverse offers...): skip it.
                        tracing::debug!(error = %e, "ignoring an event");
                        continue;
                    }
                };
                let out = match event {
                    Event::Heartbeat => continue,
                    Event::Subscribed { subscribed: s } => {
                        let interval = Duration::from_secs_f64(s.heartbeat_interval_seconds.clamp(0.1, 3600.0));
                        silence_limit = interval * 2 + Duration::from_secs(1);
                        subscribed = true;
                        let id = s.framework_id.clone();
                        self.session.send_modify(|sess| {
                            sess.framework_id = Some(id.clone());
                            sess.stream_id = Some(stream_id.clone());
                        });
                        ClientEvent::Subscribed {
                            framework_id: s.framework_id,
                            master_info: Box::new(s.master_info),
                            heartbeat_interval: interval,
                        }
                    }
                    other => ClientEvent::Event(Box::new(other)),
                };
                if self.events.send(out).is_err() {
                    return Ended::Stop;
                }
            }
        }
    }

    fn ended(&self, subscribed: bool, reason: String) -> Ended {
        if subscribed { Ended::AfterSubscribed(reason) } else { Ended::Failed(reason) }
    }
}
