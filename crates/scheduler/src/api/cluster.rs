//! What the web UI reads from the rest of the cluster, through the scheduler: the browser may
//! not reach the master and the agents (other networks, no CORS headers), the scheduler does.
//! `GET /ui/api/master/{state|state-summary|slaves|frameworks}` is the subscribed master's
//! `/master/…`; `GET /ui/api/agents/{agent}/files/{read|browse}?…` is that agent's `/files/…`
//! (a task's sandbox: stdout, stderr), the agent found by its id in the master's
//! `/master/slaves`, so only agents the master admitted are ever asked.

use super::{Api, error};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

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
    if op != "read" && op != "browse" {
        return error(StatusCode::NOT_FOUND, "URI not found");
    }
    let master = match master(&api).await {
        Ok(master) => master,
        Err(response) => return response,
    };
    let slaves = format!("{master}/master/slaves?slave_id={}", encode(&agent));
    let state: Json = match api.http.get(slaves).send().await {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        Ok(r) => return error(StatusCode::BAD_GATEWAY, &format!("The master answered {}", r.status())),
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("The master is not reachable: {e}")),
    };
    let Some(address) = agent_address(&state, &agent) else {
        return error(StatusCode::NOT_FOUND, &format!("Agent '{agent}' is not known to the master"));
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    forward(&api.http, &format!("http://{address}/files/{op}{query}")).await
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `host:port` of an agent in the master's state (its `pid`, `slave(1)@ip:port`).
fn agent_address(state: &Json, agent: &str) -> Option<String> {
    let slave = state["slaves"].as_array()?.iter().find(|s| s["id"] == agent)?;
    let pid = slave["pid"].as_str()?;
    let address = pid.split_once('@').map_or(pid, |(_, a)| a);
    Some(address.to_string())
}

/// The subscribed master's base URL, or the answer saying why there is none.
async fn master(api: &Api) -> Result<String, Response> {
    match api.service.read(|service| service.master_url().map(str::to_string)).await {
        Some(Some(master)) => Ok(master),
        Some(None) => Err(error(StatusCode::SERVICE_UNAVAILABLE, "Not subscribed to a master yet")),
        None => Err(super::unavailable()),
    }
}

/// GETs `url` and answers with its status, media type and body.
async fn forward(http: &reqwest::Client, url: &str) -> Response {
    let response = match http.get(url).send().await {
        Ok(response) => response,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("{url} is not reachable: {e}")),
    };
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let media = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    match response.bytes().await {
        Ok(body) => (status, [(header::CONTENT_TYPE, media)], Body::from(body)).into_response(),
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("{url} answered incompletely: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agents_are_found_by_id_in_the_master_state() {
        let state = json!({"slaves": [
            {"id": "a1", "pid": "slave(1)@10.0.0.1:5051"},
            {"id": "a2", "pid": "slave(1)@10.0.0.2:5052"},
        ]});
        assert_eq!(agent_address(&state, "a2").as_deref(), Some("10.0.0.2:5052"));
        assert_eq!(agent_address(&state, "a3"), None);
        assert_eq!(agent_address(&json!({}), "a1"), None);
    }
}
