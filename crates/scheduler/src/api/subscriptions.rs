//! `/v2/eventSubscriptions` (Marathon ≤ 1.4): HTTP callback subscribers, with
//! `--event_subscriber http_callback` only (otherwise 400 with upstream's message). `GET` lists
//! the callback URLs, `POST ?callbackUrl=` registers one and `DELETE ?callbackUrl=` removes it;
//! both answer with the `subscribe_event`/`unsubscribe_event` they publish. The list lives in
//! memory only (see [`crate::events`]).

use super::{Api, error, json, query_pairs};
use crate::events::check_callback_url;
use crate::service::wall_clock;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use marathon_api::events::Event;
use std::net::SocketAddr;

/// Upstream's answer when callbacks are off.
const NOT_RUNNING: &str = "http event callback system is not running on this Marathon instance. \
     Please re-start this instance with \"--event_subscriber http_callback\".";

/// `GET /v2/eventSubscriptions`.
pub(super) async fn list(State(api): State<Api>) -> Response {
    if !api.service.info().flags.http_callbacks() {
        return error(StatusCode::BAD_REQUEST, NOT_RUNNING);
    }
    json(StatusCode::OK, &serde_json::json!({ "callbackUrls": api.service.events().callback_urls() }))
}

/// `POST /v2/eventSubscriptions?callbackUrl=<url>`.
pub(super) async fn subscribe(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    change(&api, remote, query, true)
}

/// `DELETE /v2/eventSubscriptions?callbackUrl=<url>`.
pub(super) async fn unsubscribe(
    State(api): State<Api>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    change(&api, remote, query, false)
}

fn change(api: &Api, remote: SocketAddr, query: Option<String>, subscribe: bool) -> Response {
    if !api.service.info().flags.http_callbacks() {
        return error(StatusCode::BAD_REQUEST, NOT_RUNNING);
    }
    let pairs = query_pairs(query);
    let Some(url) = pairs.iter().rev().find(|(k, _)| k == "callbackUrl").map(|(_, v)| v.trim().to_string()) else {
        return error(StatusCode::BAD_REQUEST, "The query parameter callbackUrl is required");
    };
    let client_ip = remote.ip().to_string();
    let bus = api.service.events();
    let event = if subscribe {
        if let Err(message) = check_callback_url(&url) {
            return error(StatusCode::BAD_REQUEST, &message);
        }
        // Registered first, so the subscriber receives its own subscribe_event.
        bus.add_callback(&url);
        Event::Subscribe { client_ip, callback_url: url }
    } else {
        // Removing an unknown URL is not an error (as upstream).
        bus.remove_callback(&url);
        Event::Unsubscribe { client_ip, callback_url: url }
    };
    let now = wall_clock();
    bus.publish(&event, now);
    json(StatusCode::OK, &event.to_json(crate::convert::api_time(now)))
}
