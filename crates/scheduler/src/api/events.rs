//! `GET /v2/events`: the event bus as server-sent events (`event: <type>` and `data: <json>`
//! frames), starting with `event_stream_attached`, filtered by repeated `event_type`
//! parameters, with keep-alive comments every 10 s. A subscriber that falls too far behind is
//! disconnected. When a stream ends, `event_stream_detached` is published.

use super::{Api, error, query_pairs};
use crate::events::{EventBus, Published};
use crate::service::wall_clock;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use marathon_api::events::Event;
use marathon_api::query::query_values;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;

pub(super) async fn events(
    State(api): State<Api>,
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
    let wants = move |event_type: &str| wanted.is_empty() || wanted.iter().any(|w| w == event_type);
    let attached =
        Arc::new(Published::new(&Event::EventStreamAttached { remote_address: remote.ip().to_string() }, wall_clock()));
    let first = wants(attached.event_type).then_some(attached);
    let live = BroadcastStream::new(api.service.events().subscribe())
        // Lagging behind the bus ends the stream (the client reconnects and rereads the state).
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(move |item| std::future::ready(item.ok().filter(|p| wants(p.event_type))));
    let detach = Detached { bus: api.service.events().clone(), remote_address: remote.ip().to_string() };
    let stream = futures::stream::iter(first).chain(live).map(move |published| {
        let _attached = &detach;
        Ok::<_, Infallible>(SseEvent::default().event(published.event_type).data(published.data(light)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response()
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
