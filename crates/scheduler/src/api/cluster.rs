//! What the web UI reads from the rest of the cluster, through the scheduler: the browser may
//! not reach the master and the agents (other networks, no CORS headers), the scheduler does.
//! `GET /ui/api/master/{state|state-summary|slaves|frameworks}` is the subscribed master's
//! `/master/…`; `GET /ui/api/agents/{agent}/files/{read|browse}?…` is that agent's `/files/…`
//! (a task's sandbox: stdout, stderr), the agent found by its id in the master's
//! `/master/slaves`, so only agents the master admitted are ever asked.

use super::{Api, error};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value as Json;
use webui::proxy;

/// What the UI may read of the master.
const MASTER_ENDPOINTS: &[&str] = &["state", "state-summary", "slaves", "frameworks"];

/// `GET /ui/api/master/{endpoint}`, the query passed on.
pub(super) async fn master_endpoint(
    State(api): State<Api>,
    Path(endpoint): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if !MASTER_ENDPOINTS.contains(&endpoint.as_str()) {
        return error(StatusCode::NOT_FOUND, "URI not found");
    }
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    match master(&api).await {
        Ok(master) => forward(&api.http, &format!("{master}/master/{endpoint}{query}")).await,
        Err(response) => response,
    }
}

/// `GET /ui/api/agents/{agent}/files/{op}`: `op` is `read` or `browse`, the query is passed on.
pub(super) async fn agent_files(
    State(api): State<Api>,
    Path((agent, op)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if !proxy::is_agent_files_op(&op) {
        return error(StatusCode::NOT_FOUND, "URI not found");
    }
    let master = match master(&api).await {
        Ok(master) => master,
        Err(response) => return response,
    };
    let encoded: String = form_urlencoded::byte_serialize(agent.as_bytes()).collect();
    let slaves: Json = match api.http.get(format!("{master}/master/slaves?slave_id={encoded}")).send().await {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        Ok(r) => return error(StatusCode::BAD_GATEWAY, &format!("The master answered {}", r.status())),
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("The master is not reachable: {e}")),
    };
    let Some(address) = proxy::agent_address(&slaves, &agent) else {
        return error(StatusCode::NOT_FOUND, &format!("Agent '{agent}' is not known to the master"));
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let scheme = api.service.info().mesos_scheme();
    forward(&api.http, &format!("{scheme}://{address}/files/{op}{query}")).await
}

/// The subscribed master's base URL, or the answer saying why there is none.
async fn master(api: &Api) -> Result<String, Response> {
    match api.service.read(|service| service.master_url().map(str::to_string)).await {
        Some(Some(master)) => Ok(master),
        Some(None) => Err(error(StatusCode::SERVICE_UNAVAILABLE, "Not subscribed to a master yet")),
        None => Err(super::unavailable()),
    }
}

async fn forward(http: &reqwest::Client, url: &str) -> Response {
    proxy::forward(http, url).await.unwrap_or_else(|message| error(StatusCode::BAD_GATEWAY, &message))
}
