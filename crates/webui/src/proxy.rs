//! Passing the browser's reads on to other components (the master, agents) that it may not
//! reach: other networks, and no CORS headers. Callers decide what may be read; this only
//! finds agents and forwards a GET.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

/// What the UI may read of an agent: `/files/read` and `/files/browse`.
pub fn is_agent_files_op(op: &str) -> bool {
    op == "read" || op == "browse"
}

/// `host:port` of agent `id` in a master's `/master/slaves` or `/master/state` (its `pid`,
/// `slave(1)@ip:port`).
pub fn agent_address(slaves: &Json, id: &str) -> Option<String> {
    let slave = slaves["slaves"].as_array()?.iter().find(|s| s["id"] == id)?;
    let pid = slave["pid"].as_str()?;
    let address = pid.split_once('@').map_or(pid, |(_, a)| a);
    Some(address.to_string())
}

/// A client for forwarding (bounded in time), from `builder` (which holds the cluster's TLS
/// configuration when its servers speak TLS).
pub fn client(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.timeout(std::time::Duration::from_secs(10)).build().unwrap_or_else(|_| reqwest::Client::new())
}

/// GETs `url` and answers with its status, media type and body; `Err` says why there is no
/// answer (the caller answers 502 in its own error format).
pub async fn forward(http: &reqwest::Client, url: &str) -> Result<Response, String> {
    let response = http.get(url).send().await.map_err(|e| format!("{url} is not reachable: {e}"))?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let media = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = response.bytes().await.map_err(|e| format!("{url} answered incompletely: {e}"))?;
    Ok((status, [(header::CONTENT_TYPE, media)], Body::from(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agents_are_found_by_id() {
        let state = json!({"slaves": [
            {"id": "a1", "pid": "slave(1)@10.0.0.1:5051"},
            {"id": "a2", "pid": "slave(1)@10.0.0.2:5052"},
        ]});
        assert_eq!(agent_address(&state, "a2").as_deref(), Some("10.0.0.2:5052"));
        assert_eq!(agent_address(&state, "a3"), None);
        assert_eq!(agent_address(&json!({}), "a1"), None);
    }

    #[test]
    fn only_reads_and_listings_of_agents_are_passed_on() {
        assert!(is_agent_files_op("read") && is_agent_files_op("browse"));
        assert!(!is_agent_files_op("download") && !is_agent_files_op("../state"));
    }
}
