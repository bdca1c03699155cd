//! The scheduler API over real HTTP: framing, headers and error codes that clients rely on.

use futures::StreamExt;
use mesos_api::recordio::Decoder;
use std::time::Duration;

async fn master() -> (master::RunningMaster, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = master::MasterFlags {
        port: 0,
        hostname: Some("localhost".into()),
        allocation_interval: Duration::from_millis(100),
        ..master::MasterFlags::new(dir.path())
    };
    (master::start(flags).await.expect("start master"), dir)
}

const SUBSCRIBE: &str =
    r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","failover_timeout":100}}}"#;

fn post(client: &reqwest::Client, url: &str, body: &str) -> reqwest::RequestBuilder {
    client.post(url).header("Content-Type", "application/json").body(body.to_string())
}

#[tokio::test]
async fn subscribe_streams_recordio_with_stream_id_and_errors_follow_mesos() {
    let (m, _dir) = master().await;
    let url = format!("http://{}/api/v1/scheduler", m.local_addr());
    let client = reqwest::Client::new();

    let resp = post(&client, &url, SUBSCRIBE).send().await.expect("subscribe");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("transfer-encoding").and_then(|v| v.to_str().ok()), Some("chunked"));
    let stream_id = resp.headers().get("Mesos-Stream-Id").expect("stream id").to_str().expect("ascii").to_string();
    let mut body = resp.bytes_stream();
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    while events.len() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("event").expect("chunk");
        for record in decoder.feed(&chunk.expect("bytes")).expect("recordio") {
            events.push(serde_json::from_slice::<serde_json::Value>(&record).expect("json"));
        }
    }
    assert_eq!(events[0]["type"], "SUBSCRIBED");
    assert_eq!(events[0]["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert_eq!(events[1]["type"], "HEARTBEAT");
    let fw = events[0]["subscribed"]["framework_id"]["value"].as_str().expect("id").to_string();

    let revive = format!(r#"{{"type":"REVIVE","framework_id":{{"value":"{fw}"}}}}"#);
    let ok = post(&client, &url, &revive).header("Mesos-Stream-Id", &stream_id).send().await.expect("revive");
    assert_eq!(ok.status(), 202);
    let status = |r: reqwest::Response| r.status().as_u16();
    // C12: missing content type, wrong content type, missing/wrong stream id, GET, SUBSCRIBE with a stream id.
    assert_eq!(status(client.post(&url).body(revive.clone()).send().await.expect("r")), 400);
    assert_eq!(
        status(client.post(&url).header("Content-Type", "text/plain").body(revive.clone()).send().await.expect("r")),
        415
    );
    assert_eq!(status(post(&client, &url, &revive).send().await.expect("r")), 400);
    assert_eq!(status(post(&client, &url, &revive).header("Mesos-Stream-Id", "nope").send().await.expect("r")), 400);
    assert_eq!(status(client.get(&url).send().await.expect("r")), 405);
    assert_eq!(
        status(post(&client, &url, SUBSCRIBE).header("Mesos-Stream-Id", &stream_id).send().await.expect("r")),
        400
    );
    let bad = post(&client, &url, "{not json").send().await.expect("r");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("body").contains("Failed to convert JSON"));
    let unknown = r#"{"type":"REVIVE","framework_id":{"value":"nope"}}"#;
    assert_eq!(
        status(post(&client, &url, unknown).header("Mesos-Stream-Id", &stream_id).send().await.expect("r")),
        400
    );

    // Closing the stream disconnects the framework: its calls now get 403.
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let code = status(post(&client, &url, &revive).header("Mesos-Stream-Id", &stream_id).send().await.expect("r"));
        if code == 403 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {code} after the stream closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m.shutdown();
}

#[tokio::test]
async fn version_is_numeric_and_state_lists_the_framework() {
    let (m, _dir) = master().await;
    let base = format!("http://{}", m.local_addr());
    let client = reqwest::Client::new();
    let v: serde_json::Value =
        client.get(format!("{base}/version")).send().await.expect("get").json().await.expect("json");
    let version = v["version"].as_str().expect("version");
    assert!(version.split('.').all(|p| p.parse::<u32>().is_ok()), "{version}");
    let resp = post(&client, &format!("{base}/api/v1/scheduler"), SUBSCRIBE).send().await.expect("subscribe");
    assert_eq!(resp.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let state: serde_json::Value =
            client.get(format!("{base}/master/state")).send().await.expect("get").json().await.expect("json");
        if state["frameworks"].as_array().is_some_and(|f| f.len() == 1) {
            assert_eq!(state["frameworks"][0]["name"], "t");
            assert_eq!(state["frameworks"][0]["active"], true);
            // v0 endpoints use plain string ids, not {"value": ...}.
            assert!(state["frameworks"][0]["id"].is_string());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics: serde_json::Value =
        client.get(format!("{base}/metrics/snapshot")).send().await.expect("get").json().await.expect("json");
    assert_eq!(metrics["master/elected"], 1.0);
    assert_eq!(metrics["master/frameworks_active"], 1.0);
    let health = client.get(format!("{base}/master/health")).send().await.expect("get");
    assert_eq!(health.status(), 200);
    drop(resp);
    m.shutdown();
}
