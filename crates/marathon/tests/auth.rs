//! Authentication and authorization with real processes: Marathon's `--http_credentials`
//! (basic auth on every endpoint but `/ping`, the `marathon` Python client with a username and
//! password), and hostile clients: no password, a wrong one.

mod common;

use common::*;
use mesos_api::credentials::basic_header;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Every kind of endpoint, with the method a client would use.
const ENDPOINTS: [(&str, &str); 12] = [
    ("GET", "/v2/apps"),
    ("POST", "/v2/apps"),
    ("GET", "/v2/apps/prod/web"),
    ("GET", "/v2/groups"),
    ("GET", "/v2/tasks"),
    ("GET", "/v2/queue"),
    ("GET", "/v2/deployments"),
    ("GET", "/v2/events"),
    ("GET", "/v2/info"),
    ("GET", "/v2/leader"),
    ("DELETE", "/v2/leader"),
    ("GET", "/metrics"),
];

async fn status_of(http: &reqwest::Client, method: &str, url: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = http.request(method.parse().expect("method"), url);
    if method == "POST" {
        request = request.json(&json!({"id": "/x", "cmd": "sleep 1"}));
    }
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_credentials_refuse_missing_and_wrong_passwords_on_every_endpoint_but_ping() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No master: the REST API answers without one.
    let master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(
        &master,
        &dir.path().join("marathon"),
        &["--http_credentials", "ops:s3cret:with-colon", "--http_realm", "Test Realm"],
    )
    .await;
    let http = reqwest::Client::new();
    let right = basic_header("ops", "s3cret:with-colon");
    let wrong = [
        None,
        Some(basic_header("ops", "guess")),
        Some(basic_header("root", "s3cret:with-colon")),
        Some("Basic !!!".to_string()),
        Some("Bearer s3cret:with-colon".to_string()),
    ];
    for (method, path) in ENDPOINTS {
        for authorization in &wrong {
            let answer = status_of(&http, method, &marathon.url(path), authorization.as_deref()).await;
            assert_eq!(answer.status(), 401, "{method} {path} with {authorization:?}");
            assert_eq!(answer.headers()["www-authenticate"], "Basic realm=\"Test Realm\"");
            let body: Value = answer.json().await.expect("json body");
            assert_eq!(body, json!({"message": "Invalid username or password."}));
        }
    }
    // The right credentials pass (what the endpoint answers then is its own business).
    for (method, path) in ENDPOINTS {
        if path == "/v2/events" {
            continue;
        }
        let answer = status_of(&http, method, &marathon.url(path), Some(&right)).await;
        assert_ne!(answer.status(), 401, "{method} {path}");
    }
    let events =
        http.get(marathon.url("/v2/events")).header("Accept", "text/event-stream").header("Authorization", &right);
    let events = events.send().await.expect("events");
    assert_eq!(events.status(), 200);
    drop(events);
    let ping = http.get(marathon.url("/ping")).send().await.expect("ping");
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.text().await.expect("text"), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flags_come_from_the_environment_too_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let master = format!("127.0.0.1:{}", free_port());
    let work_dir = dir.path().join("marathon").display().to_string();
    let port_flag = port.to_string();
    let args = ["scheduler", "--master", &master, "--http_port", &port_flag, "--http_address", "127.0.0.1"];
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--work_dir", &work_dir])
        .env("MARATHON_HTTP_CREDENTIALS", "envuser:envpass")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v2/info");
    let refused = eventually(TIMEOUT, "Marathon up", || async {
        let answer = http.get(&url).send().await.ok()?;
        Some(answer.status().as_u16())
    })
    .await;
    let accepted = http.get(&url).header("Authorization", basic_header("envuser", "envpass")).send().await;
    let accepted = accepted.expect("GET").status().as_u16();
    let realm = http.get(&url).send().await.expect("GET").headers()["www-authenticate"].clone();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((refused, accepted), (401, 200));
    assert_eq!(realm, "Basic realm=\"Mesosphere\"", "upstream's default realm");

    let bad = Command::new(BIN)
        .args(args)
        .args(["--work_dir", &work_dir, "--http_credentials", "no-colon"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--http_credentials"), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marathon_python_client_works_with_a_username_and_password() {
    let mut cluster = Cluster::start(1).await;
    let mut marathon = Marathon::start(
        &cluster.master_addr(),
        &cluster.dir.path().join("marathon"),
        &["--http_credentials", "deployer:pw"],
    )
    .await;
    let url = marathon.url("");
    let script = r#"import sys
from marathon import MarathonClient, MarathonApp
from marathon.exceptions import MarathonHttpError
c = MarathonClient(sys.argv[1], username='deployer', password='pw')
c.create_app('/authed', MarathonApp(cmd='sleep 600', cpus=0.1, mem=16, instances=1))
print(len(c.list_apps()))
for client in [MarathonClient(sys.argv[1], username='deployer', password='nope'), MarathonClient(sys.argv[1])]:
    try:
        client.list_apps()
        print('accepted')
    except MarathonHttpError as e:
        print(e.status_code)
"#;
    let out = tokio::task::spawn_blocking(move || Command::new(python()).args(["-c", script, &url]).output())
        .await
        .expect("join")
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>(), ["1", "401", "401"]);
    marathon.authorize_with(&basic_header("deployer", "pw"));
    marathon.wait_running("authed", 1, TIMEOUT).await;
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/authed", None).await;
    assert_eq!(status, 200);
    cluster.teardown();
}
