//! `GET /v2/events`: the event bus as server-sent events (`event: <type>` and `data: <json>`
//! frames), starting with `event_stream_attached`, filtered by repeated `event_type`
//! parameters, with a keep-alive comment after 10 s without events. A subscriber that falls too
//! far behind is disconnected. When a stream ends, `event_stream_detached` is published.
//!
//! Frames are rendered once per event (see [`Published`]) and events come in batches (a driver
//! step's events together, see [`Batch`]); a stream writes every event that is waiting for it in
//! one chunk, so a burst costs each subscriber one wakeup and one write instead of one per event.

use super::{Api, error, query_pairs};
use crate::events::{Batch, EventBus, Published};
use crate::service::wall_clock;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use marathon_api::events::Event;
use marathon_api::query::query_values;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// Quiet time after which a keep-alive comment is sent.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// A chunk holds at most this many bytes of frames (more waiting events go in the next one).
const MAX_CHUNK: usize = 256 * 1024;

pub(super) async fn events(
    State(api): State<Api>,
    viewer: Option<axum::extract::Extension<super::authz::Viewer>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !accept.contains("text/event-stream") {
        return error(StatusCode::NOT_ACCEPTABLE, "The event stream is served as text/event-stream only");
    }
    let pairs = query_pairs(query);
    let wanted: Vec<String> = query_values(&pairs, "event_type").into_iter().map(str::to_string).collect();
    let light = query_values(&pairs, "plan-format").contains(&"light");
    let bus = api.service.events();
    let attached =
        Published::new(&Event::EventStreamAttached { remote_address: remote.ip().to_string() }, wall_clock());
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stream = Stream {
        receiver: bus.subscribe(),
        wanted,
        light,
        viewer: viewer.map(|v| v.0),
        first: None,
        keep_alive,
        ended: false,
        leadership: api.proxy.leadership.clone(),
        _detached: Detached { bus: bus.clone(), remote_address: remote.ip().to_string() },
    };
    stream.first = stream.wants(attached.event_type).then(|| attached.frame(light).clone());
    let body = Body::from_stream(futures::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), stream))
    }));
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}

/// One subscriber's stream.
struct Stream {
    receiver: broadcast::Receiver<Batch>,
    /// `event_type` filters (none: everything).
    wanted: Vec<String>,
    light: bool,
    /// A reader who may not read everything (`--acl_file`): only the events of what it may
    /// read, deployment plans in the light format (the full one holds the whole group tree).
    viewer: Option<super::authz::Viewer>,
    /// `event_stream_attached`, sent first.
    first: Option<Bytes>,
    keep_alive: tokio::time::Interval,
    /// Set once the stream fell behind or the bus closed: what is buffered goes out, then the
    /// stream ends.
    ended: bool,
    /// A stream ends when this scheduler stops leading (its clients reconnect to the leader).
    leadership: tokio::sync::watch::Receiver<super::proxy::Leadership>,
    _detached: Detached,
}

impl Stream {
    fn wants(&self, event_type: &str) -> bool {
        self.wanted.is_empty() || self.wanted.iter().any(|w| w == event_type)
    }

    /// The next chunk: every wanted event waiting (at least one), or a keep-alive; `None` when
    /// the stream ends. Lagging behind the bus ends the stream (the client reconnects and
    /// rereads the state).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if self.ended {
                return None;
            }
            let batch = tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(batch) => batch,
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                },
                _ = self.keep_alive.tick() => return Some(Bytes::from_static(b":\n\n")),
                () = super::proxy::no_longer_leading(&mut self.leadership) => return None,
            };
            let mut chunk = Chunk::default();
            self.add(&batch, &mut chunk);
            // Whatever else is already waiting goes into the same chunk.
            while chunk.len() < MAX_CHUNK {
                match self.receiver.try_recv() {
                    Ok(batch) => self.add(&batch, &mut chunk),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(_) | TryRecvError::Closed) => {
                        self.ended = true;
                        break;
                    }
                }
            }
            if let Some(bytes) = chunk.into_bytes() {
                self.keep_alive.reset();
                return Some(bytes);
            }
        }
    }

    /// Adds the frames of the wanted events of `batch` to `chunk` (all of them at once, as one
    /// shared buffer, without filters).
    fn add(&self, batch: &Batch, chunk: &mut Chunk) {
        if let Some(viewer) = &self.viewer {
            for published in batch.iter().filter(|p| self.wants(p.event_type)) {
                if viewer.may_see(published.event_type, published.paths.as_deref()) {
                    self.trace(published);
                    chunk.push(published.frame(true));
                }
            }
            return;
        }
        if self.wanted.is_empty() {
            batch.iter().for_each(|published| self.trace(published));
            chunk.push(batch.frames(self.light));
            return;
        }
        for published in batch.iter().filter(|p| self.wants(p.event_type)) {
            self.trace(published);
            chunk.push(published.frame(self.light));
        }
    }

    fn trace(&self, published: &Published) {
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(event_type = published.event_type, lag_us = published.lag_us(), "event sent");
        }
    }
}

/// Frames to send together; a single frame is sent as it is, without a copy.
#[derive(Default)]
enum Chunk {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Chunk {
    fn push(&mut self, frame: &Bytes) {
        *self = match std::mem::take(self) {
            Chunk::Empty => Chunk::One(frame.clone()),
            Chunk::One(first) => {
                let mut many = BytesMut::with_capacity(first.len() + frame.len());
                many.extend_from_slice(&first);
                many.extend_from_slice(frame);
                Chunk::Many(many)
            }
            Chunk::Many(mut many) => {
                many.extend_from_slice(frame);
                Chunk::Many(many)
            }
        };
    }

    fn len(&self) -> usize {
        match self {
            Chunk::Empty => 0,
            Chunk::One(frame) => frame.len(),
            Chunk::Many(many) => many.len(),
        }
    }

    fn into_bytes(self) -> Option<Bytes> {
        match self {
            Chunk::Empty => None,
            Chunk::One(frame) => Some(frame),
            Chunk::Many(many) => Some(many.freeze()),
        }
    }
}

/// Publishes `event_stream_detached` when the stream holding it is dropped (the client went away
/// or fell behind).
struct Detached {
    bus: EventBus,
    remote_address: String,
}

impl Drop for Detached {
    fn drop(&mut self) {
        let remote_address = std::mem::take(&mut self.remote_address);
        self.bus.publish(&Event::EventStreamDetached { remote_address }, wall_clock());
    }
}
