//! Marathon's event bus from the outside: HTTP callback subscribers (`/v2/eventSubscriptions`)
//! and a marathon-lb-style consumer of `GET /v2/events` that keeps a list of healthy backends.

mod common;

use common::*;
use futures::{FutureExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// A callback receiver: a tiny HTTP/1.1 server that answers 200 to every request

/// One request a [`Sink`] received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

struct Sink {
    url: String,
    path: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: JoinHandle<()>,
}

impl Sink {
    async fn start(path: &str) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://127.0.0.1:{}{path}", listener.local_addr().expect("addr").port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let server = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.push(tokio::spawn(serve_connection(socket, store.clone())));
            }
        });
        Sink { url, path: path.to_string(), received, server }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn bodies(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.body).collect()
    }

    /// Waits until an event matching `pred` has been received.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(TIMEOUT, what, || async { self.bodies().into_iter().find(|b| pred(b)) }).await
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves keep-alive requests on one connection until the client closes it.
async fn serve_connection(socket: tokio::net::TcpStream, store: Arc<Mutex<Vec<Received>>>) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        store.lock().expect("lock").push(Received { method, path, content_type, body });
        if reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

/// An endpoint that accepts connections and never answers (a hung consumer).
async fn hanging_endpoint() -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}/hang", listener.local_addr().expect("addr").port());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

async fn subscriptions(marathon: &Marathon) -> Vec<String> {
    let (status, body) = marathon.get("/v2/eventSubscriptions").await;
    assert_eq!(status, 200, "{body}");
    body["callbackUrls"]
        .as_array()
        .expect("callbackUrls")
        .iter()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect()
}

fn encoded(url: &str) -> String {
    url.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_subscribers_get_every_event_as_json_until_they_unsubscribe() {
    let mut cluster = Cluster::start(1).await;
    // Two endpoints from the command line that never work: one refuses connections, one never
    // answers. Neither may hold up the others.
    let dead = format!("http://127.0.0.1:{}/dead", free_port());
    let (hanging, hanging_task) = hanging_endpoint().await;
    let endpoints = format!("{dead},{hanging}");
    let marathon = Marathon::start(
        &cluster.master_addr(),
        &cluster.dir.path().join("marathon"),
        &["--event_subscriber", "http_callback", "--http_endpoints", &endpoints, "--http_event_request_timeout", "3"],
    )
    .await;
    assert_eq!(subscriptions(&marathon).await, [dead.clone(), hanging.clone()]);

    let (a, b) = (Sink::start("/a").await, Sink::start("/b").await);
    let (status, answer) =
        marathon.send(Method::POST, &format!("/v2/eventSubscriptions?callbackUrl={}", encoded(&a.url)), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["eventType"], "subscribe_event", "{answer}");
    assert_eq!(answer["callbackUrl"], a.url.as_str(), "{answer}");
    assert_eq!(answer["clientIp"], "127.0.0.1", "{answer}");
    assert!(answer["timestamp"].is_string(), "{answer}");
    for _ in 0..2 {
        let (status, _) =
            marathon.send(Method::POST, &format!("/v2/eventSubscriptions?callbackUrl={}", b.url), None).await;
        assert_eq!(status, 200);
    }
    assert_eq!(subscriptions(&marathon).await, [dead.clone(), hanging.clone(), a.url.clone(), b.url.clone()]);
    // Bad requests.
    for query in ["", "?callbackUrl=", "?callbackUrl=ftp%3A%2F%2Fhost%2Fx", "?callbackUrl=not%20a%20url"] {
        let (status, answer) = marathon.send(Method::POST, &format!("/v2/eventSubscriptions{query}"), None).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    a.wait_for("a's own subscribe_event", |e| {
        e["eventType"] == "subscribe_event" && e["callbackUrl"] == a.url.as_str()
    })
    .await;

    let app = json!({"id": "cb", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 1, "portDefinitions": []});
    let (status, created) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{created}");
    let (status, app) = marathon.get("/v2/apps/cb").await;
    assert_eq!(status, 200);
    let deployment = app["app"]["deployments"][0]["id"].clone();
    for sink in [&a, &b] {
        sink.wait_for("api_post_event", |e| e["eventType"] == "api_post_event" && e["appDefinition"]["id"] == "/cb")
            .await;
        sink.wait_for("status_update_event TASK_RUNNING", |e| {
            e["eventType"] == "status_update_event" && e["appId"] == "/cb" && e["taskStatus"] == "TASK_RUNNING"
        })
        .await;
        sink.wait_for("deployment_success", |e| e["eventType"] == "deployment_success" && e["id"] == deployment).await;
        for request in sink.received() {
            assert_eq!(request.method, "POST");
            assert_eq!(request.path, sink.path);
            assert!(request.content_type.starts_with("application/json"), "{request:?}");
            assert!(request.body["eventType"].is_string() && request.body["timestamp"].is_string(), "{request:?}");
        }
        // Full plans (as upstream's callbacks).
        let success = sink.bodies().into_iter().find(|e| e["eventType"] == "deployment_success").expect("success");
        assert!(success["plan"]["target"].is_object(), "{success}");
    }
    // Both got the same events in the same order (a subscribed first, so it may have more at
    // the start).
    let (of_a, of_b) = (a.bodies(), b.bodies());
    let first_of_b = of_a.iter().position(|e| *e == of_b[0]).expect("b's first event reached a");
    let common_len = of_b.len().min(of_a.len() - first_of_b);
    assert_eq!(of_a[first_of_b..first_of_b + common_len], of_b[..common_len]);

    // a unsubscribes: it gets nothing more, b goes on.
    let (status, answer) =
        marathon.send(Method::DELETE, &format!("/v2/eventSubscriptions?callbackUrl={}", encoded(&a.url)), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["eventType"], "unsubscribe_event", "{answer}");
    assert_eq!(answer["callbackUrl"], a.url.as_str());
    assert_eq!(subscriptions(&marathon).await, [dead.clone(), hanging.clone(), b.url.clone()]);
    let (status, _) =
        marathon.send(Method::DELETE, "/v2/eventSubscriptions?callbackUrl=http%3A%2F%2Fnobody%2Fx", None).await;
    assert_eq!(status, 200, "removing an unknown URL is not an error");

    let (status, scaled) = marathon.send(Method::PUT, "/v2/apps/cb", Some(json!({"instances": 2}))).await;
    assert_eq!(status, 200, "{scaled}");
    let scale_deployment = scaled["deploymentId"].clone();
    b.wait_for("a's unsubscribe_event", |e| {
        e["eventType"] == "unsubscribe_event" && e["callbackUrl"] == a.url.as_str()
    })
    .await;
    b.wait_for("the scale's deployment_success", |e| {
        e["eventType"] == "deployment_success" && e["id"] == scale_deployment
    })
    .await;
    let tasks = marathon.wait_running("cb", 2, TIMEOUT).await;
    for task in &tasks {
        b.wait_for("every task's TASK_RUNNING", |e| {
            e["eventType"] == "status_update_event" && e["taskId"] == task["id"] && e["taskStatus"] == "TASK_RUNNING"
        })
        .await;
    }
    let after_unsubscribe = |e: &Value| {
        e["eventType"] == "unsubscribe_event"
            || e.to_string().contains(scale_deployment.as_str().unwrap_or("-"))
            || (e["eventType"] == "api_post_event" && e["appDefinition"]["instances"] == 2)
            || tasks.iter().any(|t| e["taskId"] == t["id"] && !of_a.iter().any(|seen| seen["taskId"] == t["id"]))
    };
    let late: Vec<Value> = a.bodies().into_iter().filter(after_unsubscribe).collect();
    assert!(late.is_empty(), "a got events after unsubscribing: {late:#?}");

    // The broken endpoints stay registered, and the API answers at once despite them.
    assert_eq!(subscriptions(&marathon).await, [dead, hanging, b.url.clone()]);
    hanging_task.abort();
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_subscriptions_are_refused_without_the_http_callback_subscriber() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable_master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&unreachable_master, &dir.path().join("marathon"), &[]).await;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let (status, answer) =
            marathon.send(method.clone(), "/v2/eventSubscriptions?callbackUrl=http%3A%2F%2Fh%2Fx", None).await;
        assert_eq!(status, 400, "{method} {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains("--event_subscriber http_callback"), "{answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// A marathon-lb-style consumer

/// An open `GET /v2/events` stream: every (`event:` name, `data:` JSON) received, in order.
struct Sse {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    reader: JoinHandle<()>,
}

impl Sse {
    async fn open(marathon: &Marathon, query: &str) -> Sse {
        Self::open_with(marathon, query, |_, _| async {}.boxed()).await
    }

    /// Opens the stream; `on_event` runs after each event, before the next one is read.
    async fn open_with<F>(marathon: &Marathon, query: &str, on_event: F) -> Sse
    where
        F: Fn(String, Value) -> futures::future::BoxFuture<'static, ()> + Send + 'static,
    {
        let response = marathon
            .http
            .get(marathon.url(&format!("/v2/events{query}")))
            .header("Accept", "text/event-stream")
            .header("Cache-Control", "no-cache")
            .send()
            .await
            .expect("GET /v2/events");
        assert_eq!(response.status(), 200);
        let events = Arc::new(Mutex::new(Vec::new()));
        let store = events.clone();
        let reader = tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut buffer = Vec::new();
            let (mut name, mut data) = (String::new(), String::new());
            while let Some(Ok(chunk)) = body.next().await {
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.strip_prefix(' ').unwrap_or(value));
                    } else if line.is_empty() && !data.is_empty() {
                        let json: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                        store.lock().expect("lock").push((name.clone(), json.clone()));
                        on_event(std::mem::take(&mut name), json).await;
                        data.clear();
                    }
                }
            }
        });
        Sse { events, reader }
    }

    fn events(&self) -> Vec<(String, Value)> {
        self.events.lock().expect("lock").clone()
    }
}

impl Drop for Sse {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// marathon-lb's view of the backends: `host:port` of every running task whose health check
/// results are all alive (tasks of apps with health checks and no result yet are left out).
fn healthy_backends(apps: &Value) -> BTreeSet<String> {
    let mut backends = BTreeSet::new();
    for app in apps["apps"].as_array().into_iter().flatten() {
        let checked = app["healthChecks"].as_array().is_some_and(|c| !c.is_empty());
        for task in app["tasks"].as_array().into_iter().flatten() {
            let host = task["host"].as_str().unwrap_or_default();
            let Some(port) = task["ports"][0].as_u64() else { continue };
            if host.is_empty() || task["state"] != "TASK_RUNNING" {
                continue;
            }
            let results = task["healthCheckResults"].as_array().cloned().unwrap_or_default();
            if checked && (results.is_empty() || results.iter().any(|r| r["alive"] != true)) {
                continue;
            }
            backends.insert(format!("{host}:{port}"));
        }
    }
    backends
}

/// The consumer: a filtered light SSE stream; every event triggers a full resync from
/// `GET /v2/apps?embed=apps.tasks`, as marathon-lb does.
struct Consumer {
    sse: Sse,
    backends: Arc<Mutex<BTreeSet<String>>>,
    resyncs: Arc<Mutex<usize>>,
}

const CONSUMED: [&str; 3] = ["api_post_event", "status_update_event", "health_status_changed_event"];

impl Consumer {
    async fn start(marathon: &Marathon) -> Consumer {
        let backends = Arc::new(Mutex::new(BTreeSet::new()));
        let resyncs = Arc::new(Mutex::new(0));
        let http = marathon.http.clone();
        let apps_url = marathon.url("/v2/apps?embed=apps.tasks");
        let resync = {
            let (backends, resyncs) = (backends.clone(), resyncs.clone());
            move || {
                let (http, url, backends, resyncs) =
                    (http.clone(), apps_url.clone(), backends.clone(), resyncs.clone());
                async move {
                    let response = http.get(&url).header("Accept", "application/json").send().await;
                    let Ok(response) = response else { return };
                    let Ok(apps) = response.json::<Value>().await else { return };
                    *backends.lock().expect("lock") = healthy_backends(&apps);
                    *resyncs.lock().expect("lock") += 1;
                }
            }
        };
        let query =
            format!("?plan-format=light{}", CONSUMED.iter().map(|t| format!("&event_type={t}")).collect::<String>());
        let on_event = resync.clone();
        let sse = Sse::open_with(marathon, &query, move |_, event| {
            let resync = on_event.clone();
            async move {
                if CONSUMED.contains(&event["eventType"].as_str().unwrap_or_default()) {
                    resync().await;
                }
            }
            .boxed()
        })
        .await;
        // The initial full sync.
        resync().await;
        Consumer { sse, backends, resyncs }
    }

    fn backends(&self) -> BTreeSet<String> {
        self.backends.lock().expect("lock").clone()
    }
}

/// The app once stable: no deployment, `instances` running tasks all healthy, and `also` true.
/// Returns its tasks.
async fn stable(marathon: &Marathon, instances: usize, also: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually(TIMEOUT, &format!("{instances} healthy tasks and no deployment"), || async {
        let (_, app) = marathon.get("/v2/apps/web").await;
        let app = &app["app"];
        let tasks = app["tasks"].as_array()?.clone();
        let healthy = tasks.iter().all(|t| {
            t["state"] == "TASK_RUNNING"
                && t["healthCheckResults"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["alive"] == true))
        });
        let done = app["deployments"] == json!([])
            && tasks.len() == instances
            && healthy
            && app["tasksHealthy"] == instances
            && also(&tasks);
        done.then_some(tasks)
    })
    .await
}

/// After a change: once the app is stable, the consumer's backends are exactly its healthy
/// running tasks, and every one of them serves.
async fn check_backends(marathon: &Marathon, consumer: &Consumer, tasks: &[Value], phase: &str) -> BTreeSet<String> {
    let expected: BTreeSet<String> = tasks
        .iter()
        .map(|t| format!("{}:{}", t["host"].as_str().unwrap_or_default(), t["ports"][0].as_u64().unwrap_or(0)))
        .collect();
    let (_, apps) = marathon.get("/v2/apps?embed=apps.tasks").await;
    assert_eq!(healthy_backends(&apps), expected, "{phase}: the API disagrees with itself");
    // The listing is written directly, not through a `Value`: its bytes must still be what
    // serde_json writes for the same document (compact, keys sorted, the same escapes).
    for (path, first_task) in [
        ("/v2/apps?embed=apps.tasks", "/apps/0/tasks/0"),
        ("/v2/apps/web", "/app/tasks/0"),
        ("/v2/tasks", "/tasks/0"),
        ("/v2/apps/web/tasks", "/tasks/0"),
    ] {
        let raw = marathon.http.get(marathon.url(path)).send().await.expect("GET");
        let raw = raw.bytes().await.expect("body");
        let document: Value = serde_json::from_slice(&raw).expect("the listing is JSON");
        let task = document.pointer(first_task).cloned().unwrap_or_default();
        assert!(task["healthCheckResults"].is_array(), "{phase}: {path}: {document}");
        assert_eq!(
            String::from_utf8_lossy(&raw),
            serde_json::to_string(&document).expect("serialize"),
            "{phase}: {path}: bytes"
        );
    }
    eventually(Duration::from_secs(10), &format!("{phase}: the consumer's backends"), || async {
        let backends = consumer.backends();
        (backends == expected).then_some(())
    })
    .await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    for backend in &expected {
        // Every agent of the test cluster is this machine, under a made-up host name.
        let port = backend.rsplit(':').next().unwrap_or_default();
        let response = http.get(format!("http://127.0.0.1:{port}/health")).send().await;
        let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
        assert_eq!(status, 200, "{phase}: backend {backend} does not serve");
    }
    expected
}

fn health_checked_web_app(id: &str, instances: u32) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.02, "mem": 24,
        "cmd": "echo ok > health && exec python3 -m http.server $PORT0",
        "healthChecks": [{
            "protocol": "HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": 1,
            "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 2
        }]
    })
}

fn task_ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marathon_lb_style_consumer_keeps_an_exact_list_of_healthy_backends() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let consumer = Consumer::start(&marathon).await;
    let light = Sse::open(&marathon, "?plan-format=light").await;
    let full = Sse::open(&marathon, "").await;
    assert!(consumer.backends().is_empty());

    // Create.
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(health_checked_web_app("web", 2))).await;
    assert_eq!(status, 201, "{answer}");
    let tasks = stable(&marathon, 2, |_| true).await;
    let created = check_backends(&marathon, &consumer, &tasks, "create").await;
    assert_eq!(created.len(), 2);

    // Scale up.
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/web", Some(json!({"instances": 4}))).await;
    assert_eq!(status, 200, "{answer}");
    let tasks = stable(&marathon, 4, |_| true).await;
    let scaled = check_backends(&marathon, &consumer, &tasks, "scale").await;
    assert!(created.is_subset(&scaled), "scaling up replaced tasks: {created:?} -> {scaled:?}");

    // Restart: every task replaced.
    let before = task_ids(&tasks);
    let (status, restarted) = marathon.send(Method::POST, "/v2/apps/web/restart", None).await;
    assert_eq!(status, 200, "{restarted}");
    let tasks = stable(&marathon, 4, |tasks| task_ids(tasks).is_disjoint(&before)).await;
    let restarted_backends = check_backends(&marathon, &consumer, &tasks, "restart").await;
    assert!(restarted_backends.is_disjoint(&scaled), "{scaled:?} -> {restarted_backends:?}");

    // Kill one task: it leaves the list, its replacement joins once healthy.
    let victim = tasks[0].clone();
    let victim_id = victim["id"].as_str().expect("id").to_string();
    let victim_backend = format!("{}:{}", victim["host"].as_str().unwrap_or_default(), victim["ports"][0]);
    let (status, answer) = marathon.send(Method::DELETE, &format!("/v2/apps/web/tasks/{victim_id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    let tasks = stable(&marathon, 4, |tasks| !task_ids(tasks).contains(&victim_id)).await;
    let after_kill = check_backends(&marathon, &consumer, &tasks, "kill").await;
    assert!(!after_kill.contains(&victim_backend), "{victim_backend} still listed: {after_kill:?}");
    assert_eq!(after_kill.intersection(&restarted_backends).count(), 3);

    // The consumer saw only what it asked for, each frame's name matching its JSON.
    let seen = consumer.sse.events();
    let types: BTreeSet<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(types, CONSUMED.into_iter().collect(), "filtered-out events reached the consumer");
    for (name, data) in &seen {
        assert_eq!(data["eventType"], name.as_str(), "{data}");
    }
    assert!(seen.iter().any(|(_, e)| e["eventType"] == "health_status_changed_event" && e["alive"] == true));
    assert!(*consumer.resyncs.lock().expect("lock") >= seen.len(), "one resync per event plus the first");

    // Light plans: deployment events without original/target (the full stream has them).
    let deployment_events = |sse: &Sse| -> Vec<Value> {
        sse.events().into_iter().filter(|(name, _)| name.starts_with("deployment_")).map(|(_, data)| data).collect()
    };
    let light_deployments = deployment_events(&light);
    assert!(
        light_deployments.iter().any(|e| e["eventType"] == "deployment_success"),
        "no deployment event on the light stream"
    );
    for event in &light_deployments {
        let plan = &event["plan"];
        assert!(plan["id"].is_string() && plan["steps"].is_array() && plan["version"].is_string(), "{event}");
        assert!(plan.get("original").is_none() && plan.get("target").is_none(), "light plan with groups: {event}");
    }
    let full_deployments = eventually(Duration::from_secs(10), "the full stream's deployment events", || async {
        let events = deployment_events(&full);
        (events.len() == light_deployments.len()).then_some(events)
    })
    .await;
    for event in &full_deployments {
        assert!(event["plan"]["original"].is_object() && event["plan"]["target"].is_object(), "{event}");
    }
    cluster.teardown();
}
