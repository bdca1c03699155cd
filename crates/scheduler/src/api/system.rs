//! `/v2/info`, `/v2/leader`, `/ping`, `/metrics`, `/openapi.json`, `/` and unknown routes.

use super::render::counts;
use super::{Api, error, json, unavailable};
use crate::metrics::StateGauges;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

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
                "marathon_config": marathon_config(info),
                "zookeeper_config": {
                    // Credentials are not shown.
                    "zk": flags.zk.as_deref().and_then(|zk| coordination::ZkUrl::from_flag(zk).ok()).map(|zk| zk.to_string()),
                    "zk_compression": UPSTREAM.zk_compression,
                    "zk_compression_threshold": UPSTREAM.zk_compression_threshold,
                    "zk_connection_timeout": UPSTREAM.zk_connection_timeout_ms,
                    "zk_max_node_size": UPSTREAM.zk_max_node_size,
                    "zk_max_versions": flags.zk_max_versions,
                    "zk_session_timeout": flags.zk_session_timeout_ms,
                    "zk_timeout": flags.zk_timeout_ms,
                },
                "http_config": { "http_port": flags.http_port, "https_port": flags.listen.https_port.unwrap_or(8443) },
            })
        })
        .await;
    match body {
        Some(body) => json(StatusCode::OK, &body),
        None => unavailable(),
    }
}

/// `GET /v2/plugins`: no plugins are loaded here (upstream's plugin mechanism loads JVM
/// classes), so the list is empty.
pub(super) async fn plugins() -> Response {
    json(StatusCode::OK, &json!({ "plugins": [] }))
}

/// `/v2/plugins/{pluginId}/{path}`: no plugin has that id.
pub(super) async fn plugin_path(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    let id = path.split('/').next().unwrap_or_default();
    error(StatusCode::NOT_FOUND, &format!("No plugin with this pluginId: {id}"))
}

/// Upstream's defaults of the settings `/v2/info` shows that have no flag here (their behaviour
/// is fixed): what an upstream Marathon started without those flags shows.
struct UpstreamDefaults {
    launch_token: u32,
    launch_token_refresh_interval_ms: u64,
    leader_proxy_connection_timeout_ms: u64,
    leader_proxy_read_timeout_ms: u64,
    mesos_bridge_name: &'static str,
    mesos_heartbeat_failure_threshold: u32,
    mesos_heartbeat_interval_ms: u64,
    offer_matching_timeout_ms: u64,
    on_elected_prepare_timeout_ms: u64,
    reconciliation_initial_delay_ms: u64,
    scale_apps_initial_delay_ms: u64,
    scale_apps_interval_ms: u64,
    task_lost_expunge_initial_delay_ms: u64,
    task_lost_expunge_interval_ms: u64,
    task_reservation_timeout_ms: u64,
    zk_compression: bool,
    zk_compression_threshold: u64,
    zk_connection_timeout_ms: u64,
    zk_max_node_size: u64,
}

const UPSTREAM: UpstreamDefaults = UpstreamDefaults {
    launch_token: 100,
    launch_token_refresh_interval_ms: 30_000,
    leader_proxy_connection_timeout_ms: 5_000,
    leader_proxy_read_timeout_ms: 10_000,
    mesos_bridge_name: "mesos-bridge",
    mesos_heartbeat_failure_threshold: 5,
    mesos_heartbeat_interval_ms: 15_000,
    offer_matching_timeout_ms: 3_000,
    on_elected_prepare_timeout_ms: 180_000,
    reconciliation_initial_delay_ms: 15_000,
    scale_apps_initial_delay_ms: 15_000,
    scale_apps_interval_ms: 300_000,
    task_lost_expunge_initial_delay_ms: 300_000,
    task_lost_expunge_interval_ms: 30_000,
    task_reservation_timeout_ms: 20_000,
    zk_compression: true,
    zk_compression_threshold: 65_536,
    zk_connection_timeout_ms: 10_000,
    zk_max_node_size: 1_024_000,
};

/// `marathon_config` of `/v2/info`: every key upstream 1.11 shows, from our flags where we have
/// the flag, else upstream's default.
fn marathon_config(info: &crate::service::ServiceInfo) -> serde_json::Value {
    let flags = &info.flags;
    // Upstream shows the leading master's UI; without a detector at hand, the flag's master
    // when it names one directly.
    let leader_ui = (!flags.master.starts_with("zk://")).then(|| {
        let address = flags.master.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
        format!("{}://{address}", info.mesos_scheme())
    });
    json!({
        "access_control_allow_origin": flags.listen.access_control_allow_origin,
        "checkpoint": true,
        "decline_offer_duration": flags.decline_offer_duration_ms,
        "default_network_name": null,
        "env_vars_prefix": flags.env_vars_prefix,
        "executor": "//cmd",
        "failover_timeout": flags.failover_timeout_secs,
        "features": [],
        "framework_name": flags.framework_name,
        "ha": flags.high_availability(),
        "hostname": info.hostname,
        "launch_token": UPSTREAM.launch_token,
        "launch_token_refresh_interval": UPSTREAM.launch_token_refresh_interval_ms,
        "leader_proxy_connection_timeout_ms": UPSTREAM.leader_proxy_connection_timeout_ms,
        "leader_proxy_read_timeout_ms": UPSTREAM.leader_proxy_read_timeout_ms,
        "local_port_max": flags.local_port_max,
        "local_port_min": flags.local_port_min,
        // Credentials of a `zk://` master are not shown.
        "master": if flags.master.starts_with("zk://") {
            coordination::ZkUrl::from_flag(&flags.master).map(|zk| zk.to_string()).unwrap_or_default()
        } else {
            flags.master.clone()
        },
        "max_instances_per_offer": flags.max_instances_per_offer,
        "mesos_bridge_name": UPSTREAM.mesos_bridge_name,
        "mesos_heartbeat_failure_threshold": UPSTREAM.mesos_heartbeat_failure_threshold,
        "mesos_heartbeat_interval": UPSTREAM.mesos_heartbeat_interval_ms,
        "mesos_leader_ui_url": leader_ui,
        "mesos_role": flags.mesos_role,
        "mesos_user": flags.mesos_user,
        "new_group_enforce_role": "off",
        "min_revive_offers_interval": flags.min_revive_offers_interval_ms,
        "offer_matching_timeout": UPSTREAM.offer_matching_timeout_ms,
        "on_elected_prepare_timeout": UPSTREAM.on_elected_prepare_timeout_ms,
        "reconciliation_initial_delay": UPSTREAM.reconciliation_initial_delay_ms,
        "reconciliation_interval": flags.reconciliation_interval_ms,
        "scale_apps_initial_delay": UPSTREAM.scale_apps_initial_delay_ms,
        "scale_apps_interval": UPSTREAM.scale_apps_interval_ms,
        "store_cache": true,
        "task_launch_confirm_timeout": flags.task_launch_confirm_timeout_ms,
        "task_launch_timeout": flags.task_launch_timeout_ms,
        "task_lost_expunge_initial_delay": UPSTREAM.task_lost_expunge_initial_delay_ms,
        "task_lost_expunge_interval": UPSTREAM.task_lost_expunge_interval_ms,
        "task_reservation_timeout": UPSTREAM.task_reservation_timeout_ms,
        "webui_url": null,
        // Maintenance mode (declining offers of agents under maintenance) is not implemented.
        "maintenance_mode": false,
    })
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

/// `GET /metrics` in Marathon's (Dropwizard) JSON shape, with upstream's names: counters of
/// offers, launches, status updates and deployments, gauges of the state, meters of responses
/// by status class and timers of requests (all, and per method).
pub(super) async fn metrics(State(api): State<Api>) -> Response {
    refresh(&api).await;
    json(StatusCode::OK, &api.metrics.dropwizard())
}

/// `GET /metrics/prometheus`: the same measurements in the Prometheus text format, with
/// histograms (request latency by route template, method and status class; store commits; the
/// event bus' lag) and the process' metrics. Every node answers for itself (not proxied); a
/// standby's state gauges keep the values they had when it last led.
pub(super) async fn prometheus(State(api): State<Api>) -> Response {
    refresh(&api).await;
    api.metrics.prometheus()
}

/// How long a scrape waits for the driver's numbers (it answers with the last ones otherwise).
const DRIVER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Updates the gauges: the state's from the driver (only while leading), the process' here.
async fn refresh(api: &Api) {
    let info = api.service.info();
    api.metrics.set_process(info.started.elapsed(), api.service.events());
    if *api.proxy.leadership.borrow() != super::proxy::Leadership::Leading {
        return;
    }
    let read = api.service.read(|service| {
        let core = service.core();
        let counts = counts(core, core.instances());
        StateGauges {
            apps: core.apps().count(),
            groups: service.group_count(),
            instances: core.instances().count(),
            running: counts.running as usize,
            staged: counts.staged as usize,
            launch_queue: core.queue(service.now()).iter().map(|q| q.count).sum::<usize>(),
            deployments: service.deployments().len(),
            connected: core.is_connected(),
            leading_for: service.leading_since().elapsed(),
        }
    });
    if let Ok(Some(state)) = tokio::time::timeout(DRIVER_READ_TIMEOUT, read).await {
        api.metrics.set_state(&state);
    }
}

/// `GET /openapi.json`: the OpenAPI 3 document of the REST API v2 (`api/openapi.json`).
pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

/// `GET /`: the UI lives under `/ui/`.
pub(super) async fn root() -> Response {
    Redirect::to("/ui/").into_response()
}

pub(super) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "URI not found")
}
