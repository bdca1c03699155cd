//! Parts of Marathon's REST API beside apps and groups, over real HTTP against `marathon
//! scheduler`: `/v2/info`'s keys, `/v2/plugins`, CORS, gzip, `GET /`, the root group's version,
//! and the `text/plain` task listing against a real master and agent.

mod common;

use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The keys upstream 1.11's `/v2/info` shows in each section.
const MARATHON_CONFIG: &[&str] = &[
    "access_control_allow_origin",
    "checkpoint",
    "decline_offer_duration",
    "default_network_name",
    "env_vars_prefix",
    "executor",
    "failover_timeout",
    "features",
    "framework_name",
    "ha",
    "hostname",
    "launch_token",
    "launch_token_refresh_interval",
    "leader_proxy_connection_timeout_ms",
    "leader_proxy_read_timeout_ms",
    "local_port_max",
    "local_port_min",
    "master",
    "max_instances_per_offer",
    "mesos_bridge_name",
    "mesos_heartbeat_failure_threshold",
    "mesos_heartbeat_interval",
    "mesos_leader_ui_url",
    "mesos_role",
    "mesos_user",
    "new_group_enforce_role",
    "min_revive_offers_interval",
    "offer_matching_timeout",
    "on_elected_prepare_timeout",
    "reconciliation_initial_delay",
    "reconciliation_interval",
    "scale_apps_initial_delay",
    "scale_apps_interval",
    "store_cache",
    "task_launch_confirm_timeout",
    "task_launch_timeout",
    "task_lost_expunge_initial_delay",
    "task_lost_expunge_interval",
    "task_reservation_timeout",
    "webui_url",
    "maintenance_mode",
];
const ZOOKEEPER_CONFIG: &[&str] = &[
    "zk",
    "zk_compression",
    "zk_compression_threshold",
    "zk_connection_timeout",
    "zk_max_node_size",
    "zk_max_versions",
    "zk_session_timeout",
    "zk_timeout",
];

async fn marathon_without_master(dir: &std::path::Path, extra: &[&str]) -> Marathon {
    // No master: the REST API answers without one.
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    Marathon::start(&unreachable_master, &dir.join("marathon"), extra).await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_shows_every_upstream_key_and_plugins_are_an_empty_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = marathon_without_master(dir.path(), &["--access_control_allow_origin", "http://ui.example"]).await;
    let (status, info) = marathon.get("/v2/info").await;
    assert_eq!(status, 200, "{info}");
    for key in MARATHON_CONFIG {
        assert!(info["marathon_config"].get(key).is_some(), "marathon_config has no {key}: {info}");
    }
    for key in ZOOKEEPER_CONFIG {
        assert!(info["zookeeper_config"].get(key).is_some(), "zookeeper_config has no {key}: {info}");
    }
    assert_eq!(info["http_config"]["http_port"], marathon.port, "{info}");
    assert!(info["http_config"]["https_port"].is_u64(), "{info}");
    assert_eq!(info["marathon_config"]["access_control_allow_origin"], "http://ui.example", "{info}");
    assert_eq!(info["marathon_config"]["hostname"], "localhost", "{info}");
    assert_eq!(info["marathon_config"]["min_revive_offers_interval"], 0, "{info}");

    assert_eq!(marathon.get("/v2/plugins").await, (200, json!({"plugins": []})));
    let (status, body) = marathon.get("/v2/plugins/auth/some/path").await;
    assert_eq!((status, &body["message"]), (404, &json!("No plugin with this pluginId: auth")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_and_preflights_only_with_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origins = "http://a.example, http://ui.example";
    let marathon = marathon_without_master(dir.path(), &["--access_control_allow_origin", origins]).await;
    let preflight = marathon
        .http
        .request(Method::OPTIONS, marathon.url("/v2/apps"))
        .header("Origin", "http://ui.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, x-custom")
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(preflight.status(), 200);
    assert_eq!(header(&preflight, "access-control-allow-origin"), "http://ui.example");
    assert_eq!(header(&preflight, "access-control-allow-headers"), "content-type, x-custom");
    assert_eq!(header(&preflight, "access-control-allow-methods"), "GET, HEAD, OPTIONS");
    assert_eq!(header(&preflight, "access-control-max-age"), "86400");

    let get = marathon.http.get(marathon.url("/v2/apps")).header("Origin", "http://a.example").send().await;
    let get = get.expect("GET");
    assert_eq!(get.status(), 200);
    assert_eq!(header(&get, "access-control-allow-origin"), "http://a.example");

    // Without the flag, no CORS headers (as upstream).
    std::fs::create_dir(dir.path().join("plain")).expect("dir");
    let plain = marathon_without_master(&dir.path().join("plain"), &[]).await;
    let get = plain.http.get(plain.url("/v2/apps")).header("Origin", "http://a.example").send().await;
    let get = get.expect("GET");
    assert!(get.headers().get("access-control-allow-origin").is_none(), "{:?}", get.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_gzipped_when_asked_and_events_still_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = marathon_without_master(dir.path(), &[]).await;
    for i in 0..3 {
        let app = json!({"id": format!("/gz/app-{i}"), "cmd": "sleep 100", "cpus": 0.01, "mem": 8, "instances": 0});
        let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, plain) = marathon.get("/v2/apps").await;

    // reqwest is built without gzip support: the body arrives as sent.
    let zipped = marathon.http.get(marathon.url("/v2/apps")).header("Accept-Encoding", "gzip").send().await;
    let zipped = zipped.expect("GET");
    assert_eq!(header(&zipped, "content-encoding"), "gzip");
    let bytes = zipped.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).expect("a gzip body");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), plain);

    let identity = marathon.http.get(marathon.url("/v2/apps")).send().await.expect("GET");
    assert!(identity.headers().get("content-encoding").is_none());

    // The event stream is not compressed, and each event arrives as it happens.
    let events = marathon
        .http
        .get(marathon.url("/v2/events"))
        .header("Accept", "text/event-stream")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("GET /v2/events");
    assert!(events.headers().get("content-encoding").is_none(), "{:?}", events.headers());
    let mut stream = events.bytes_stream();
    let app = json!({"id": "/gz/later", "cmd": "sleep 100", "cpus": 0.01, "mem": 8, "instances": 0});
    let (status, _) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: api_post_event") || seen.contains("event:api_post_event") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "events seen: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_http_compression_answers_identity_even_when_gzip_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = marathon_without_master(dir.path(), &["--disable_http_compression"]).await;
    let app = json!({"id": "/gz/app", "cmd": "sleep 100", "cpus": 0.01, "mem": 8, "instances": 0});
    assert_eq!(marathon.send(Method::POST, "/v2/apps", Some(app)).await.0, 201);
    let answer = marathon.http.get(marathon.url("/v2/apps")).header("Accept-Encoding", "gzip").send().await;
    let answer = answer.expect("GET");
    assert!(answer.headers().get("content-encoding").is_none(), "{:?}", answer.headers());
    let body: Value = answer.json().await.expect("plain JSON");
    assert_eq!(body["apps"][0]["id"], "/gz/app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_redirects_to_the_ui_and_the_root_group_keeps_a_version_after_its_deletion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = marathon_without_master(dir.path(), &[]).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let root = no_redirects.get(marathon.url("/")).send().await.expect("GET /");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(header(&root, "location"), "/ui/");

    let app = json!({"id": "/g/app", "cmd": "sleep 100", "cpus": 0.01, "mem": 8, "instances": 0});
    assert_eq!(marathon.send(Method::POST, "/v2/apps", Some(app)).await.0, 201);
    let (status, deleted) = marathon.send(Method::DELETE, "/v2/groups?force=true", None).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, group) = marathon.get("/v2/groups").await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["apps"], json!([]), "{group}");
    assert_eq!(group["groups"], json!([]), "{group}");
    assert_eq!(group["version"], deleted["version"], "the root group's version is the deletion's: {group}");
    let (status, versions) = marathon.get("/v2/groups/versions").await;
    assert_eq!(status, 200, "{versions}");
    assert!(versions.as_array().is_some_and(|v| v.contains(&deleted["version"])), "{versions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_as_text_list_service_ports_and_host_ports_of_running_tasks() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let web = json!({
        "id": "/tools/web", "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": 2,
        "portDefinitions": [{"port": 10101}, {"port": 10102}],
    });
    let quiet =
        json!({"id": "/quiet", "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": 1, "portDefinitions": []});
    for app in [web, quiet] {
        let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        assert_eq!(status, 201, "{body}");
    }
    let tasks = marathon.wait_running("/tools/web", 2, TIMEOUT).await;
    let quiet = marathon.wait_running("/quiet", 1, TIMEOUT).await;

    let response = marathon.http.get(marathon.url("/v2/tasks")).header("Accept", "text/plain").send().await;
    let response = response.expect("GET /v2/tasks");
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], format!("quiet\t \t{}\t", quiet[0]["host"].as_str().unwrap_or("?")), "{text:?}");
    for (line, (index, service_port)) in lines[1..].iter().zip([(0, "10101"), (1, "10102")]) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(&fields[..2], ["tools_web", service_port], "{text:?}");
        assert_eq!(fields.last(), Some(&""), "every endpoint ends with a tab: {text:?}");
        let mut endpoints: Vec<String> = fields[2..fields.len() - 1].iter().map(|s| s.to_string()).collect();
        let mut expected: Vec<String> =
            tasks.iter().map(|t| format!("{}:{}", t["host"].as_str().unwrap_or(""), t["ports"][index])).collect();
        endpoints.sort();
        expected.sort();
        assert_eq!(endpoints, expected, "{text:?}");
    }

    // JSON is still the default.
    let (status, body) = marathon.get("/v2/tasks").await;
    assert_eq!(status, 200);
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(3), "{body}");
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_task_listing_shows_only_the_apps_a_principal_may_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl.json");
    let rules = r#"{"principals": [
        {"name": "ops", "token": "ops-token", "rules": [{"path": "/", "access": "admin"}]},
        {"name": "dev", "token": "dev-token", "rules": [{"path": "/dev", "access": "write"}]}
    ]}"#;
    std::fs::write(&acl, rules).expect("acl file");
    let mut marathon = marathon_without_master(dir.path(), &["--acl_file", &acl.display().to_string()]).await;
    marathon.authorize_with("Bearer ops-token");
    for id in ["/dev/a", "/prod/b"] {
        let app = json!({"id": id, "cmd": "sleep 100", "cpus": 0.01, "mem": 8, "instances": 0});
        let (status, body) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        assert_eq!(status, 201, "{body}");
    }
    let text_as = |token: &'static str| {
        let request = marathon.http.get(marathon.url("/v2/tasks")).header("Accept", "text/plain");
        async move {
            let response = request.header("Authorization", format!("Bearer {token}")).send().await.expect("GET");
            assert_eq!(response.status(), 200);
            response.text().await.expect("body")
        }
    };
    let all = text_as("ops-token").await;
    assert!(all.starts_with("dev_a\t") && all.contains("\nprod_b\t"), "{all:?}");
    let dev = text_as("dev-token").await;
    assert!(dev.starts_with("dev_a\t") && !dev.contains("prod"), "{dev:?}");
}
