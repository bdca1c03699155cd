//! `/v2/info`, `/v2/leader`, `/ping`, `/metrics`, `/` and unknown routes.

use super::render::counts;
use super::{Api, error, json, unavailable};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use std::sync::atomic::Ordering;

/// The Marathon version this server answers as (clients compare it numerically).
pub(crate) const MARATHON_VERSION: &str = "1.11.0";

/// `GET /v2/info`.
pub(super) async fn info(State(api): State<Api>) -> Response {
    let body = api
        .service
        .read(|service| {
            let info = service.info();
            let flags = &info.flags;
            json!({
                "name": "marathon",
                "version": MARATHON_VERSION,
                "buildref": env!("CARGO_PKG_VERSION"),
                "elected": true,
                "leader": info.http_address,
                "frameworkId": service.core().framework_id().map(|id| id.as_str().to_string()),
                "marathon_config": {
                    "checkpoint": true,
                    "executor": "//cmd",
                    "failover_timeout": flags.failover_timeout_secs,
                    "framework_name": flags.framework_name,
                    "ha": flags.high_availability(),
                    "hostname": info.hostname,
                    "local_port_min": flags.local_port_min,
                    "local_port_max": flags.local_port_max,
                    "master": flags.master,
                    "mesos_role": flags.mesos_role,
                    "mesos_user": flags.mesos_user,
                    "reconciliation_interval": flags.reconciliation_interval_ms,
                    "task_launch_timeout": flags.task_launch_timeout_ms,
                    "task_launch_confirm_timeout": flags.task_launch_confirm_timeout_ms,
                    "decline_offer_duration": flags.decline_offer_duration_ms,
                    "max_instances_per_offer": flags.max_instances_per_offer,
                    "min_revive_offers_interval": flags.min_revive_offers_interval_ms,
                    "webui_url": null,
                    "features": [],
                },
                "zookeeper_config": {
                    // Credentials are not shown.
                    "zk": flags.zk.as_deref().and_then(|zk| coordination::ZkUrl::from_flag(zk).ok()).map(|zk| zk.to_string()),
                    "zk_timeout": flags.zk_timeout_ms,
                    "zk_session_timeout": flags.zk_session_timeout_ms,
                    "zk_max_versions": flags.zk_max_versions,
                },
                "http_config": { "http_port": flags.http_port, "https_port": 8443 },
            })
        })
        .await;
    match body {
        Some(body) => json(StatusCode::OK, &body),
        None => unavailable(),
    }
}

/// `GET /v2/leader`: the leader's `host:port`, from every node.
pub(super) async fn leader(State(api): State<Api>) -> Response {
    match api.proxy.current_leader() {
        Some(leader) => json(StatusCode::OK, &json!({ "leader": leader })),
        None => error(StatusCode::NOT_FOUND, "There is no leader"),
    }
}

/// `DELETE /v2/leader`: the leader gives up leadership (another scheduler is elected; this one
/// queues behind the others). Tasks are not touched.
pub(super) async fn abdicate(State(api): State<Api>, RawQuery(query): RawQuery) -> Response {
    let pairs = super::query_pairs(query);
    if let Some((name, _)) = pairs.iter().find(|(k, _)| k == "backup" || k == "restore") {
        return error(StatusCode::BAD_REQUEST, &format!("The {name} parameter is not supported yet"));
    }
    match &api.proxy.election {
        Some(election) => {
            election.abdicate();
            json(StatusCode::OK, &json!({ "message": "Leadership abdicated" }))
        }
        None => error(
            StatusCode::BAD_REQUEST,
            "Leadership can only be abdicated with high availability (--zk without --disable_ha)",
        ),
    }
}

/// `GET /ping`: `pong`, as text or as a JSON string depending on `Accept`.
pub(super) async fn ping(headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("*/*");
    let wants_json = accept.contains("application/json") && !accept.contains("text/");
    if wants_json {
        json(StatusCode::OK, &json!("pong"))
    } else {
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "pong").into_response()
    }
}

/// `GET /metrics` in Marathon's (Dropwizard) JSON shape.
pub(super) async fn metrics(State(api): State<Api>) -> Response {
    let http = api.metrics.clone();
    let body = api
        .service
        .read(move |service| {
            let core = service.core();
            let counts = counts(core, core.instances());
            let instances = core.instances().count();
            json!({
                "version": "4.0.0",
                "counters": {
                    "marathon.http.requests.counter": { "count": http.requests.load(Ordering::Relaxed) },
                    "marathon.http.responses.5xx.counter": { "count": http.errors.load(Ordering::Relaxed) },
                },
                "gauges": {
                    "marathon.apps.active.gauge": { "value": core.apps().count() },
                    "marathon.instances.active.gauge": { "value": instances },
                    "marathon.instances.running.gauge": { "value": counts.running },
                    "marathon.instances.staged.gauge": { "value": counts.staged },
                    "marathon.instances.launch-queue.gauge": {
                        "value": core.queue(service.now()).iter().map(|q| q.count).sum::<usize>()
                    },
                    "marathon.deployments.active.gauge": { "value": service.deployments().len() },
                    "marathon.mesos.connected.gauge": { "value": u8::from(core.is_connected()) },
                    "marathon.uptime.gauge.seconds": { "value": service.info().started.elapsed().as_secs() },
                    "process.memory.resident.gauge.bytes": { "value": resident_bytes() },
                },
                "histograms": {},
                "meters": {},
                "timers": {},
            })
        })
        .await;
    match body {
        Some(body) => json(StatusCode::OK, &body),
        None => unavailable(),
    }
}

/// Resident set size of this process (0 if unknown).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * 4096
}

/// `GET /`: the UI lives under `/ui/`.
pub(super) async fn root() -> Response {
    Redirect::to("/ui/").into_response()
}

pub(super) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "URI not found")
}
