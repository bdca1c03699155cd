//! The event bus behind `/v2/events`: the core's [`BusEvent`]s and the shell's own events
//! (API posts, deployments) rendered once as Marathon's JSON and broadcast to every subscriber.
//!
//! A subscriber that falls more than [`EventBus::CAPACITY`] messages behind is disconnected (like
//! upstream's `--event_stream_max_outstanding_messages`); it reconnects and rereads the state.
//!
//! HTTP callback subscribers (`--event_subscriber http_callback`, `/v2/eventSubscriptions`):
//! the bus also holds the list of callback URLs, and [`start_callbacks`] spawns the task that
//! POSTs every event's JSON to each of them. Each URL has its own worker and a bounded queue of
//! [`CALLBACK_QUEUE`] events, so a slow or dead endpoint only loses its own events: the
//! dispatcher never waits for one, and publishing never waits for the dispatcher. A failed POST
//! is retried with backoff ([`CALLBACK_RETRY_BACKOFF`]) and then dropped; while an endpoint
//! keeps failing, each further event is tried once, until one succeeds. The list is kept in
//! memory only (upstream stored it in ZooKeeper): after a restart only `--http_endpoints` remain.

use crate::convert::api_time;
use crate::core::{BusEvent, Timestamp};
use crate::flags::SchedulerFlags;
use bytes::{Bytes, BytesMut};
use marathon_api::AppDefinition;
use marathon_api::events::Event;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

/// An event as sent to subscribers, rendered once: its SSE frames (`event: <type>`, `data:
/// <json>`, blank line) are shared by every stream and its JSON by every callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub event_type: &'static str,
    /// When the event happened (its `timestamp`).
    pub at: Timestamp,
    frame: Bytes,
    /// The frame in the `plan-format=light` rendering, when it differs (deployment events).
    light_frame: Option<Bytes>,
    /// The apps and groups it is about (`None`: none), for readers that may not read all.
    pub paths: Option<Vec<marathon_api::PathId>>,
}

impl Published {
    pub fn new(event: &Event, at: Timestamp) -> Self {
        let json = event.to_json(api_time(at));
        let event_type = event.event_type();
        // Only deployment events have a plan to lighten (the others are not copied and compared).
        let light_frame = json
            .get("plan")
            .map(|_| marathon_api::events::lighten(&json))
            .filter(|light| *light != json)
            .map(|light| sse_frame(event_type, &light.to_string()));
        let paths = event.subject_paths().map(|ids| ids.iter().map(|id| marathon_api::PathId::parse(id)).collect());
        Self { event_type, at, frame: sse_frame(event_type, &json.to_string()), light_frame, paths }
    }

    /// The SSE frame for a subscriber that asked for light plans or not.
    pub fn frame(&self, light: bool) -> &Bytes {
        match (&self.light_frame, light) {
            (Some(light), true) => light,
            _ => &self.frame,
        }
    }

    /// The JSON (one line) for a subscriber that asked for light plans or not, sharing the
    /// frame's memory.
    pub fn data(&self, light: bool) -> Bytes {
        let frame = self.frame(light);
        let start = "event: ".len() + self.event_type.len() + "\ndata: ".len();
        let end = frame.len().saturating_sub(2);
        frame.slice(start.min(end)..end)
    }

    /// Microseconds from the event's timestamp until now, for `trace` logs that show where
    /// delivery time goes (`RUST_LOG=scheduler::events=trace,scheduler::api::events=trace`).
    pub fn lag_us(&self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(now.as_micros()).unwrap_or(i64::MAX).saturating_sub(self.at.millis().saturating_mul(1000))
    }
}

/// `event: <type>\ndata: <json>\n\n` (compact JSON has no line breaks).
fn sse_frame(event_type: &str, json: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(event_type.len() + json.len() + 16);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(event_type.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    frame.extend_from_slice(json.as_bytes());
    frame.extend_from_slice(b"\n\n");
    frame.freeze()
}

/// Events published together (the events of one driver step, or a single event), delivered to
/// subscribers as one message: a stream writes a step's events in one chunk instead of waking up
/// for each of them, and never sends half a step.
pub type Batch = Arc<Rendered>;

/// A batch's events, and all their frames in one buffer: what a stream without `event_type`
/// filters sends, shared by every such stream (no copy per stream and event).
#[derive(Debug)]
pub struct Rendered {
    events: Box<[Published]>,
    frames: Bytes,
    /// The frames in the light plan format, when any of them differs.
    light_frames: Option<Bytes>,
}

impl Rendered {
    fn new(mut events: Vec<Published>) -> Self {
        fn join(events: &[Published], light: bool) -> Bytes {
            let mut frames = BytesMut::with_capacity(events.iter().map(|p| p.frame(light).len()).sum());
            for published in events {
                frames.extend_from_slice(published.frame(light));
            }
            frames.freeze()
        }
        let frames = join(&events, false);
        let light_frames = events.iter().any(|p| p.light_frame.is_some()).then(|| join(&events, true));
        // Each event's frames become views of the joined buffers, so that a batch holds its
        // bytes once (twice with light frames), not once per event and again joined.
        let (mut at, mut light_at) = (0, 0);
        for published in &mut events {
            let (len, light_len) = (published.frame.len(), published.frame(true).len());
            if let (Some(joined), Some(own)) = (&light_frames, &mut published.light_frame) {
                *own = joined.slice(light_at..light_at + light_len);
            }
            published.frame = frames.slice(at..at + len);
            at += len;
            light_at += light_len;
        }
        Rendered { events: events.into_boxed_slice(), frames, light_frames }
    }

    /// Every event's frame, in order, for a subscriber that asked for light plans or not.
    pub fn frames(&self, light: bool) -> &Bytes {
        match (&self.light_frames, light) {
            (Some(light), true) => light,
            _ => &self.frames,
        }
    }
}

impl std::ops::Deref for Rendered {
    type Target = [Published];

    fn deref(&self) -> &[Published] {
        &self.events
    }
}

/// The broadcast channel of published events, and the HTTP callback URLs.
///
/// Publishing hands the events to a relay thread, which renders them (so the driver does not
/// spend its step on JSON) and broadcasts them, coalescing a steady flow into one message per
/// [`EventBus::COALESCE`]. Going through a thread has a second reason: a
/// tokio task woken by a worker thread waits in that worker's LIFO slot, which no other worker
/// may take, until the waking task yields, and the driver (the main publisher) runs long bursts
/// without yielding. Woken from outside the runtime, subscribers go to the shared queue and an
/// idle worker runs them at once.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Batch>,
    /// To the relay thread (`None` if it could not be started: events are broadcast directly).
    relay: Option<std::sync::mpsc::Sender<Vec<(Event, Timestamp)>>>,
    /// Callback URLs in registration order; the callback delivery task watches it.
    callbacks: Arc<watch::Sender<Vec<String>>>,
    /// Measures each event's time from its timestamp to its broadcast (`metrics`).
    lag: Option<prometheus::Histogram>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::with_lag_histogram(None)
    }
}

impl EventBus {
    /// A bus whose broadcasts observe each event's lag (from its timestamp) in `lag`.
    pub fn with_lag_histogram(lag: Option<prometheus::Histogram>) -> Self {
        let sender = broadcast::channel(Self::CAPACITY).0;
        let (relay, relayed) = std::sync::mpsc::channel::<Vec<(Event, Timestamp)>>();
        let broadcast = sender.clone();
        let relay_lag = lag.clone();
        // Ends when every clone of the bus is gone.
        let started = std::thread::Builder::new().name("event-bus".into()).spawn(move || {
            let mut last_broadcast: Option<Instant> = None;
            while let Ok(first) = relayed.recv() {
                let until = last_broadcast.map(|at| at + EventBus::COALESCE);
                let events = gather(first, &relayed, until);
                // A large step goes out in parts: its first events while the rest are
                // rendered, and no message pins more than a part's memory.
                for part in events.chunks(EventBus::MAX_BATCH) {
                    // No subscriber is fine.
                    let _ = broadcast.send(render(part, relay_lag.as_ref()));
                }
                last_broadcast = Some(Instant::now());
            }
        });
        if let Err(e) = &started {
            warn!(error = %e, "cannot start the event relay thread; publishing directly");
        }
        Self { sender, relay: started.ok().map(|_| relay), callbacks: Arc::new(watch::channel(Vec::new()).0), lag }
    }

    /// Open streams (`/v2/events` subscribers).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Messages the slowest subscriber has not read yet.
    pub fn backlog(&self) -> usize {
        self.sender.len()
    }
}

/// `first` and whatever else the relay receives until `until` (nothing more without it).
fn gather(
    mut events: Vec<(Event, Timestamp)>,
    relayed: &std::sync::mpsc::Receiver<Vec<(Event, Timestamp)>>,
    until: Option<Instant>,
) -> Vec<(Event, Timestamp)> {
    let Some(until) = until else { return events };
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match relayed.recv_timeout(left) {
            Ok(more) => events.extend(more),
            Err(_) => break,
        }
    }
    events
}

/// The published form of events, in order.
fn render(events: &[(Event, Timestamp)], lag: Option<&prometheus::Histogram>) -> Batch {
    let published = events
        .iter()
        .map(|(event, at)| {
            let published = Published::new(event, *at);
            if let Some(lag) = lag {
                lag.observe(published.lag_us().max(0) as f64 / 1e6);
            }
            if tracing::enabled!(tracing::Level::TRACE) {
                tracing::trace!(event_type = published.event_type, lag_us = published.lag_us(), "event published");
            }
            published
        })
        .collect();
    Arc::new(Rendered::new(published))
}

impl EventBus {
    /// Messages a subscriber may lag behind before it is dropped: with at most
    /// [`Self::MAX_BATCH`] events each, a stuck subscriber pins at most 64k events (some 32 MB).
    pub const CAPACITY: usize = 1024;
    /// Events in one message at most.
    pub const MAX_BATCH: usize = 64;
    /// Events that reach the relay within this time after its last broadcast wait for the end
    /// of it and go out together: under a steady flow of changes a stream writes (and each
    /// subscriber wakes) at most once per `COALESCE`, not once per driver step. The first event
    /// after a quiet spell goes out at once.
    pub const COALESCE: Duration = Duration::from_millis(2);

    pub fn publish(&self, event: &Event, at: Timestamp) {
        self.publish_all(vec![(event.clone(), at)]);
    }

    /// Publishes `events` in order, as one message.
    pub fn publish_all(&self, events: Vec<(Event, Timestamp)>) {
        if events.is_empty() {
            return;
        }
        let direct = match &self.relay {
            Some(relay) => relay.send(events).err().map(|e| e.0),
            None => Some(events),
        };
        if let Some(events) = direct {
            for part in events.chunks(Self::MAX_BATCH) {
                // No subscriber is fine.
                let _ = self.sender.send(render(part, self.lag.as_ref()));
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.sender.subscribe()
    }

    /// The registered HTTP callback URLs, oldest first.
    pub fn callback_urls(&self) -> Vec<String> {
        self.callbacks.borrow().clone()
    }

    /// Registers an HTTP callback URL; `false` if it was registered already. Events published
    /// from now on are delivered to it.
    pub fn add_callback(&self, url: &str) -> bool {
        self.callbacks.send_if_modified(|urls| {
            let new = !urls.iter().any(|u| u == url);
            if new {
                urls.push(url.to_string());
            }
            new
        })
    }

    /// Removes an HTTP callback URL (its undelivered events are dropped); `false` if it was not
    /// registered.
    pub fn remove_callback(&self, url: &str) -> bool {
        self.callbacks.send_if_modified(|urls| {
            let before = urls.len();
            urls.retain(|u| u != url);
            urls.len() != before
        })
    }
}

/// Events queued for one callback URL at most; further events are dropped for that URL until
/// its worker catches up.
pub const CALLBACK_QUEUE: usize = 1024;

/// Waits before the retries of a failed callback POST (after the first attempt).
pub const CALLBACK_RETRY_BACKOFF: [Duration; 3] =
    [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];

/// Whether `url` can be a callback: an absolute `http` or `https` URL.
pub fn check_callback_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(_) => Err(format!("callbackUrl must be an http or https URL: {url}")),
        Err(e) => Err(format!("callbackUrl is not a valid URL ({e}): {url}")),
    }
}

/// With `--event_subscriber http_callback`: registers `--http_endpoints` and spawns the task that
/// delivers every event published on `bus` from now on to the callback URLs. Without it, the
/// callback API answers 400 and nothing is spawned.
pub fn start_callbacks(bus: &EventBus, flags: &SchedulerFlags) {
    if !flags.http_callbacks() {
        if !flags.http_endpoints.is_empty() {
            warn!("--http_endpoints is ignored without --event_subscriber http_callback");
        }
        return;
    }
    for url in flags.http_endpoints.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        match check_callback_url(url) {
            Ok(()) => {
                bus.add_callback(url);
            }
            Err(e) => warn!(error = %e, "--http_endpoints: URL ignored"),
        }
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(flags.http_event_request_timeout_secs.max(1)))
        .build()
        .unwrap_or_default();
    // Subscribed here, before anything else can publish, so no event is missed.
    let events = bus.subscribe();
    let urls = bus.callbacks.subscribe();
    info!(callbacks = ?bus.callback_urls(), "HTTP callback subscribers enabled");
    tokio::spawn(dispatch_callbacks(events, urls, http));
}

/// The dispatcher: hands each event to the worker of every callback URL, never waiting.
async fn dispatch_callbacks(
    mut events: broadcast::Receiver<Batch>,
    mut urls: watch::Receiver<Vec<String>>,
    http: reqwest::Client,
) {
    let mut workers: HashMap<String, CallbackWorker> = HashMap::new();
    let current = urls.borrow_and_update().clone();
    sync_workers(&mut workers, &current, &http);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(batch) => {
                    // A URL registered before the events were published receives them.
                    if urls.has_changed().unwrap_or(false) {
                        let current = urls.borrow_and_update().clone();
                        sync_workers(&mut workers, &current, &http);
                    }
                    for worker in workers.values_mut() {
                        for published in batch.iter() {
                            worker.offer(published);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    warn!(skipped, "HTTP callback delivery fell behind the event bus; events dropped for every callback");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = urls.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = urls.borrow_and_update().clone();
                sync_workers(&mut workers, &current, &http);
            }
        }
    }
}

/// Starts a worker for every new URL and stops those of removed ones.
fn sync_workers(workers: &mut HashMap<String, CallbackWorker>, urls: &[String], http: &reqwest::Client) {
    workers.retain(|url, _| {
        let keep = urls.contains(url);
        if !keep {
            info!(%url, "callback unsubscribed");
        }
        keep
    });
    for url in urls {
        if !workers.contains_key(url) {
            info!(%url, "callback subscribed");
            workers.insert(url.clone(), CallbackWorker::start(url.clone(), http.clone()));
        }
    }
}

/// The queue and task delivering events to one callback URL, in order, one POST at a time.
struct CallbackWorker {
    url: String,
    queue: mpsc::Sender<Published>,
    task: tokio::task::JoinHandle<()>,
    /// Events dropped since the queue was last not full.
    dropped: u64,
}

impl CallbackWorker {
    fn start(url: String, http: reqwest::Client) -> Self {
        let (queue, receiver) = mpsc::channel(CALLBACK_QUEUE);
        let task = tokio::spawn(post_events(url.clone(), http, receiver));
        Self { url, queue, task, dropped: 0 }
    }

    fn offer(&mut self, published: &Published) {
        match self.queue.try_send(published.clone()) {
            Ok(()) => {
                if self.dropped > 0 {
                    warn!(url = %self.url, dropped = self.dropped, "callback caught up; events were dropped for it");
                    self.dropped = 0;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.dropped == 0 {
                    warn!(url = %self.url, queue = CALLBACK_QUEUE, "callback queue full; dropping its events");
                }
                self.dropped += 1;
            }
            // The worker only ends when it is aborted below.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Drop for CallbackWorker {
    fn drop(&mut self) {
        // Unsubscribed: nothing more is delivered, not even what is queued or in flight.
        self.task.abort();
    }
}

/// Delivers the queued events to `url`.
async fn post_events(url: String, http: reqwest::Client, mut queue: mpsc::Receiver<Published>) {
    let mut failing = false;
    while let Some(event) = queue.recv().await {
        let mut result = post_event(&http, &url, &event).await;
        let retries = if failing { 0 } else { CALLBACK_RETRY_BACKOFF.len() };
        for backoff in CALLBACK_RETRY_BACKOFF.iter().take(retries) {
            let Err(e) = &result else { break };
            debug!(%url, error = %e, event_type = event.event_type, ?backoff, "callback POST failed; retrying");
            tokio::time::sleep(*backoff).await;
            result = post_event(&http, &url, &event).await;
        }
        match result {
            Ok(()) => {
                if failing {
                    info!(%url, "callback answers again");
                }
                failing = false;
            }
            Err(e) if failing => {
                debug!(%url, error = %e, event_type = event.event_type, "callback still failing; event dropped")
            }
            Err(e) => {
                warn!(
                    %url, error = %e, event_type = event.event_type,
                    "callback failed after retries; event dropped (further events are tried once until it answers)"
                );
                failing = true;
            }
        }
    }
}

/// One POST of an event's JSON; any 2xx answer is success.
async fn post_event(http: &reqwest::Client, url: &str, event: &Published) -> Result<(), String> {
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(event.data(false))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read the answer so the connection can be reused.
    let _ = response.bytes().await;
    if status.is_success() { Ok(()) } else { Err(format!("answered {status}")) }
}

/// The wire event of a core event; `definition` is the app's stored definition (for the health
/// check of `failed_health_check_event`), `master` the master the scheduler talks to.
pub fn from_core(event: &BusEvent, definition: Option<&AppDefinition>, master: &str) -> Vec<(Event, Timestamp)> {
    match event {
        BusEvent::StatusUpdate {
            app_id,
            task_id,
            agent_id,
            host,
            state,
            message,
            host_ports,
            ip_addresses,
            version,
            timestamp,
            ..
        } => vec![(
            Event::StatusUpdate {
                slave_id: agent_id.as_str().to_string(),
                task_id: task_id.as_str().to_string(),
                task_status: state.name().to_string(),
                message: message.clone().unwrap_or_default(),
                app_id: app_id.to_string(),
                host: host.clone(),
                ip_addresses: ip_addresses.iter().map(marathon_api::output::TaskIpAddress::of).collect(),
                ports: host_ports.clone(),
                version: api_time(*version),
            },
            *timestamp,
        )],
        BusEvent::InstanceChanged { instance_id, app_id, condition, agent_id, host, version, timestamp } => vec![(
            Event::InstanceChanged {
                instance_id: instance_id.to_string(),
                condition: condition.name().to_string(),
                run_spec_id: app_id.to_string(),
                agent_id: agent_id.as_ref().map(|a| a.as_str().to_string()),
                host: host.clone(),
                run_spec_version: api_time(*version),
            },
            *timestamp,
        )],
        BusEvent::UnknownInstanceTerminated { instance_id, task_id, condition, timestamp } => {
            let instance = instance_id.as_ref().map_or_else(|| task_id.as_str().to_string(), |i| i.to_string());
            let run_spec_id =
                marathon_api::PathId::from_safe_id(instance_id.as_ref().map_or("", |i| i.safe_app_id())).to_string();
            vec![(
                Event::UnknownInstanceTerminated {
                    instance_id: instance,
                    run_spec_id,
                    condition: condition.name().to_string(),
                },
                *timestamp,
            )]
        }
        BusEvent::AppTerminated { app_id, timestamp } => {
            vec![(Event::AppTerminated { app_id: app_id.to_string() }, *timestamp)]
        }
        BusEvent::SchedulerRegistered { framework_id, timestamp } => vec![(
            Event::SchedulerRegistered { framework_id: framework_id.as_str().to_string(), master: master.to_string() },
            *timestamp,
        )],
        BusEvent::SchedulerDisconnected { timestamp } => vec![(Event::SchedulerDisconnected {}, *timestamp)],
        BusEvent::HealthStatusChanged { app_id, instance_id, version, alive, timestamp, .. } => vec![
            (
                Event::HealthStatusChanged {
                    app_id: app_id.to_string(),
                    instance_id: instance_id.to_string(),
                    version: api_time(*version),
                    alive: *alive,
                },
                *timestamp,
            ),
            (
                Event::InstanceHealthChanged {
                    instance_id: instance_id.to_string(),
                    run_spec_id: app_id.to_string(),
                    run_spec_version: api_time(*version),
                    healthy: Some(*alive),
                },
                *timestamp,
            ),
        ],
        BusEvent::FailedHealthCheck { app_id, instance_id, check, timestamp, .. } => {
            let health_check = definition
                .and_then(|d| d.health_checks.get(*check))
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or(serde_json::Value::Null);
            vec![(
                Event::FailedHealthCheck { app_id: app_id.to_string(), task_id: instance_id.to_string(), health_check },
                *timestamp,
            )]
        }
        BusEvent::UnhealthyInstanceKill {
            app_id,
            instance_id,
            task_id,
            version,
            reason,
            host,
            agent_id,
            timestamp,
        } => vec![(
            Event::UnhealthyInstanceKill {
                app_id: app_id.to_string(),
                task_id: task_id.as_str().to_string(),
                instance_id: instance_id.to_string(),
                version: api_time(*version),
                reason: reason.clone(),
                host: host.clone().unwrap_or_default(),
                slave_id: agent_id.as_ref().map(|a| a.as_str().to_string()).unwrap_or_default(),
            },
            *timestamp,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminated(app: &str, millis: i64) -> (Event, Timestamp) {
        (Event::AppTerminated { app_id: app.into() }, Timestamp::from_millis(1_600_000_000_000 + millis))
    }

    #[test]
    fn the_relay_gathers_what_arrives_before_the_end_of_the_coalescing_time() {
        let (sender, relayed) = std::sync::mpsc::channel();
        sender.send(vec![terminated("/b", 1)]).expect("send");
        sender.send(vec![terminated("/c", 2), terminated("/d", 3)]).expect("send");
        let until = Instant::now() + Duration::from_millis(5);
        let gathered = gather(vec![terminated("/a", 0)], &relayed, Some(until));
        let order: Vec<_> = gathered.iter().map(|(_, at)| at.millis() - 1_600_000_000_000).collect();
        assert_eq!(order, [0, 1, 2, 3], "in the order they were published");
        assert!(Instant::now() >= until, "it waits for more until the end of the coalescing time");
    }

    #[test]
    fn after_a_quiet_spell_the_relay_does_not_wait() {
        let (sender, relayed) = std::sync::mpsc::channel();
        sender.send(vec![terminated("/b", 1)]).expect("send");
        let gathered = gather(vec![terminated("/a", 0)], &relayed, None);
        assert_eq!(gathered.len(), 1, "the first event goes out alone, at once");
        let past = Instant::now().checked_sub(Duration::from_millis(1));
        assert_eq!(gather(vec![terminated("/a", 0)], &relayed, past).len(), 1, "the coalescing time is over");
    }

    #[test]
    fn frames_and_data_share_one_rendering() {
        let at = Timestamp::from_millis(1_600_000_000_000);
        let event = Event::AppTerminated { app_id: "/a".into() };
        let published = Published::new(&event, at);
        let data = published.data(false);
        let json: serde_json::Value = serde_json::from_slice(&data).expect("json");
        assert_eq!(json["eventType"], "app_terminated_event");
        assert_eq!(json["appId"], "/a");
        let frame = published.frame(true).clone();
        assert_eq!(frame, format!("event: app_terminated_event\ndata: {}\n\n", String::from_utf8_lossy(&data)));
        assert_eq!(published.data(true), data, "no light form without a plan");
    }

    #[test]
    fn light_frames_drop_the_plan_groups() {
        let at = Timestamp::from_millis(1_600_000_000_000);
        let plan = serde_json::json!({"id": "d", "steps": [], "version": "v", "original": {}, "target": {}});
        let published = Published::new(&Event::DeploymentSuccess { id: "d".into(), plan }, at);
        let full: serde_json::Value = serde_json::from_slice(&published.data(false)).expect("json");
        let light: serde_json::Value = serde_json::from_slice(&published.data(true)).expect("json");
        assert!(full["plan"]["original"].is_object());
        assert!(light["plan"].get("original").is_none() && light["plan"]["id"] == "d");
        // In a batch, the light buffer has the light frame of the deployment event and the
        // frame of the others.
        let other = Published::new(&Event::AppTerminated { app_id: "/a".into() }, at);
        let batch = Rendered::new(vec![published.clone(), other.clone()]);
        let light: Vec<u8> = [published.frame(true), other.frame(true)].iter().flat_map(|f| f.to_vec()).collect();
        let full: Vec<u8> = [published.frame(false), other.frame(false)].iter().flat_map(|f| f.to_vec()).collect();
        assert_eq!(batch.frames(true).as_ref(), light.as_slice());
        assert_eq!(batch.frames(false).as_ref(), full.as_slice());
        assert_ne!(light, full);
        // The events' frames are views of the joined buffers (a batch holds its bytes once).
        assert_eq!(batch[0].frame(false).as_ptr(), batch.frames(false).as_ptr());
        assert_eq!(batch[0].frame(true).as_ptr(), batch.frames(true).as_ptr());
        assert_eq!(batch[1].frame(false).as_ptr(), batch.frames(false)[published.frame(false).len()..].as_ptr());
        assert_eq!((batch[0].frame(true), batch[1].frame(false)), (published.frame(true), other.frame(false)));
    }

    #[tokio::test]
    async fn events_published_together_arrive_as_one_message_in_order() {
        let bus = EventBus::default();
        let mut receiver = bus.subscribe();
        let at = Timestamp::from_millis(1_600_000_000_000);
        let terminated = |app: &str| (Event::AppTerminated { app_id: app.into() }, at);
        bus.publish_all(vec![terminated("/a"), terminated("/b")]);
        bus.publish_all(Vec::new());
        bus.publish(&terminated("/c").0, at);
        let apps = |batch: &Batch| -> Vec<String> {
            batch
                .iter()
                .map(|p| {
                    let json: serde_json::Value = serde_json::from_slice(&p.data(false)).expect("json");
                    json["appId"].as_str().unwrap_or_default().to_string()
                })
                .collect()
        };
        let first =
            tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await.expect("in time").expect("batch");
        assert_eq!(apps(&first), ["/a", "/b"]);
        // The shared buffer of a batch is its events' frames in order.
        let joined: Vec<u8> = first.iter().flat_map(|p| p.frame(false).to_vec()).collect();
        assert_eq!(first.frames(false).as_ref(), joined.as_slice());
        assert_eq!(first.frames(true), first.frames(false), "no plan: the light frames are the same");
        let second =
            tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await.expect("in time").expect("batch");
        assert_eq!(apps(&second), ["/c"], "an empty batch is not sent");
        // A large batch arrives in parts of at most MAX_BATCH events, in order.
        let many: Vec<(Event, Timestamp)> =
            (0..EventBus::MAX_BATCH + 1).map(|i| terminated(&format!("/m{i}"))).collect();
        bus.publish_all(many);
        let mut received = Vec::new();
        while received.len() < EventBus::MAX_BATCH + 1 {
            let part =
                tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await.expect("in time").expect("batch");
            assert!(part.len() <= EventBus::MAX_BATCH);
            received.extend(apps(&part));
        }
        let expected: Vec<String> = (0..EventBus::MAX_BATCH + 1).map(|i| format!("/m{i}")).collect();
        assert_eq!(received, expected);
    }

    #[test]
    fn callback_urls_are_a_set_in_registration_order() {
        let bus = EventBus::default();
        assert!(bus.add_callback("http://b/x"));
        assert!(bus.add_callback("http://a/x"));
        assert!(!bus.add_callback("http://b/x"));
        assert_eq!(bus.callback_urls(), ["http://b/x", "http://a/x"]);
        assert!(bus.remove_callback("http://b/x"));
        assert!(!bus.remove_callback("http://b/x"));
        assert_eq!(bus.callback_urls(), ["http://a/x"]);
        assert!(check_callback_url("https://h:1/p?q").is_ok());
        assert!(check_callback_url("ftp://h/p").is_err());
        assert!(check_callback_url("nope").is_err());
    }
}
