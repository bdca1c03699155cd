//! Issue 17, item 3: metrics and logs. Prometheus scrapes of the master, an agent and Marathon
//! (all real processes) parsed by the reference parser (Python's `prometheus_client`), whose
//! counters and histograms move when an app is launched; Marathon's `/metrics` JSON with its
//! Dropwizard timers; and `--log_format json` (or the env variables) on every component.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A scrape as the reference parser read it.
struct Scrape {
    families: serde_json::Map<String, Value>,
    samples: Vec<(String, serde_json::Map<String, Value>, f64)>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include `labels` (summed over the others).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, _, v)| *v).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a (String, serde_json::Map<String, Value>, f64)> + 'a {
        // The parser names a counter's sample `<name>_total` also when the text does not
        // (upstream Marathon's counters end in `_counter`; we keep its names).
        self.samples.iter().filter(move |(n, l, _)| {
            (n == name || n.strip_suffix("_total") == Some(name))
                && labels.iter().all(|(k, v)| l.get(*k).and_then(Value::as_str) == Some(v))
        })
    }

    fn has(&self, name: &str) -> bool {
        self.matching(name, &[]).next().is_some()
    }

    /// The histogram `name` (with `labels`) has buckets, the `+Inf` one holding every
    /// observation, and at least one observation.
    fn assert_histogram(&self, name: &str, labels: &[(&str, &str)]) {
        assert_eq!(self.families.get(name).and_then(Value::as_str), Some("histogram"), "{name} is a histogram");
        let bucket = format!("{name}_bucket");
        let buckets: Vec<_> = self.matching(&bucket, labels).collect();
        assert!(buckets.len() > 5, "{name}{labels:?} has buckets: {buckets:?}");
        let count = self.value(&format!("{name}_count"), labels);
        assert!(count > 0.0, "{name}{labels:?} has observations");
        let inf: f64 = buckets.iter().filter(|(_, l, _)| l.get("le") == Some(&json!("+Inf"))).map(|(_, _, v)| v).sum();
        assert_eq!(inf, count, "{name}{labels:?}: the +Inf bucket holds every observation");
    }

    /// Every component shows its process' metrics.
    fn assert_process_metrics(&self) {
        assert!(self.value("process_resident_memory_bytes", &[]) > 0.0, "RSS");
        assert!(self.value("process_open_fds", &[]) > 0.0, "open fds");
        assert!(self.has("process_cpu_seconds_total"), "CPU seconds");
    }
}

/// GETs `url` and parses it with the reference parser.
async fn scrape(http: &reqwest::Client, url: &str) -> Scrape {
    let response = http.get(url).send().await.expect("scrape");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("body");
    let mut child = Command::new(python())
        .arg(workspace_root().join("tests/compat/prometheus_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("parser");
    assert!(output.status.success(), "the parser refused {url}: {}\n{text}", String::from_utf8_lossy(&output.stderr));
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("parser output");
    let families = parsed["families"].as_object().cloned().unwrap_or_default();
    let samples = parsed["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let name = s[0].as_str().expect("name").to_string();
            (name, s[1].as_object().cloned().unwrap_or_default(), s[2].as_f64().unwrap_or(f64::NAN))
        })
        .collect();
    Scrape { families, samples }
}

/// An app with a Marathon HTTP health check.
fn checked_app(id: &str, instances: u32) -> Value {
    json!({
        "id": id, "instances": instances, "cpus": 0.02, "mem": 32,
        "cmd": "exec python3 -m http.server $PORT0",
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 1,
                          "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3}],
    })
}

/// After an app is launched, the scrapes of all three components parse and show it: offers,
/// launches, status updates by state, deployments, health checks, store/registry/checkpoint
/// writes, the event bus, request latency by route template, process metrics; and
/// Marathon's `/metrics` JSON shows the same counts under upstream's names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_of_master_agent_and_marathon_parse_and_count_a_launch() {
    let cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let http = reqwest::Client::new();
    let master_url = format!("http://{}/metrics/prometheus", cluster.master_addr());
    let agent_url = format!("http://127.0.0.1:{}/metrics/prometheus", cluster.agents[0].port);
    let marathon_url = marathon.url("/metrics/prometheus");

    let before = scrape(&http, &marathon_url).await;
    // A scrape is measured once it is answered: the agent's next one shows this one.
    scrape(&http, &agent_url).await;
    assert_eq!(before.value("marathon_tasks_launched_counter", &[]), 0.0);
    assert_eq!(before.value("marathon_apps_active_gauge", &[]), 0.0);

    // An open event stream counts as a subscriber.
    let events =
        http.get(marathon.url("/v2/events")).header("Accept", "text/event-stream").send().await.expect("event stream");
    assert_eq!(events.status(), 200);

    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(checked_app("metered", 2))).await;
    assert_eq!(status, 201, "{answer}");
    eventually(TIMEOUT, "both instances healthy and the deployment done", || async {
        let (_, app) = marathon.get("/v2/apps/metered").await;
        (app["app"]["tasksHealthy"] == 2 && app["app"]["deployments"] == json!([])).then_some(())
    })
    .await;
    // A request to a path with an id, and one that fails.
    assert_eq!(marathon.get("/v2/apps/metered/tasks").await.0, 200);
    assert_eq!(marathon.get("/v2/apps/nonexistent").await.0, 404);

    let m = scrape(&http, &marathon_url).await;
    assert!(m.value("marathon_mesos_offers_incoming_counter", &[]) >= 1.0, "offers received");
    assert!(m.value("marathon_mesos_offers_used_counter", &[]) >= 1.0, "offers used");
    assert!(m.has("marathon_mesos_offers_declined_counter"), "offers declined");
    assert_eq!(m.value("marathon_tasks_launched_counter", &[]), 2.0, "launches");
    assert!(
        m.value("marathon_mesos_task_updates_counter", &[("state", "TASK_RUNNING")]) >= 2.0,
        "TASK_RUNNING updates"
    );
    assert_eq!(m.value("marathon_deployments_counter", &[]), 1.0, "deployments started");
    assert_eq!(m.value("marathon_deployments_succeeded_counter", &[]), 1.0, "deployments succeeded");
    assert_eq!(m.value("marathon_deployments_active_gauge", &[]), 0.0, "deployments running");
    assert!(m.value("marathon_health_checks_counter", &[("result", "healthy")]) >= 2.0, "healthy results");
    assert_eq!(m.value("marathon_apps_active_gauge", &[]), 1.0);
    assert_eq!(m.value("marathon_instances_running_gauge", &[]), 2.0);
    assert_eq!(m.value("marathon_mesos_connected_gauge", &[]), 1.0);
    assert!(m.value("marathon_event_bus_subscribers_gauge", &[]) >= 1.0, "the open stream");
    m.assert_histogram("marathon_event_bus_lag_seconds", &[]);
    m.assert_histogram("marathon_store_write_duration_seconds", &[]);
    m.assert_histogram(
        "marathon_http_request_duration_seconds",
        &[("route", "/v2/apps"), ("method", "POST"), ("status", "2xx")],
    );
    // Paths with ids are counted under their route's template, never under the raw path.
    m.assert_histogram(
        "marathon_http_request_duration_seconds",
        &[("route", "/v2/apps/{*path}"), ("method", "GET"), ("status", "4xx")],
    );
    let routes: Vec<&str> = m
        .matching("marathon_http_request_duration_seconds_count", &[])
        .filter_map(|(_, l, _)| l.get("route").and_then(Value::as_str))
        .collect();
    assert!(!routes.iter().any(|r| r.contains("metered") || r.contains("nonexistent")), "{routes:?}");
    m.assert_process_metrics();

    let master = scrape(&http, &master_url).await;
    assert!(master.value("mesos_master_offers_sent_total", &[]) >= 1.0, "offers sent");
    assert!(master.value("mesos_master_offers_accepted_total", &[]) >= 1.0, "offers accepted");
    assert_eq!(master.value("mesos_master_tasks_launched_total", &[]), 2.0, "launches");
    assert!(master.value("mesos_master_status_updates_total", &[("state", "TASK_RUNNING")]) >= 2.0, "from the agent");
    assert!(master.value("mesos_master_status_updates_forwarded_total", &[("state", "TASK_RUNNING")]) >= 2.0);
    assert_eq!(master.value("mesos_master_tasks_running", &[]), 2.0, "/metrics/snapshot as gauges");
    assert_eq!(master.value("mesos_master_slaves_active", &[]), 1.0);
    master.assert_histogram("mesos_master_registry_write_duration_seconds", &[]);
    master.assert_histogram("mesos_master_http_request_duration_seconds", &[("route", "/api/v1/scheduler")]);
    master.assert_process_metrics();

    let agent = scrape(&http, &agent_url).await;
    assert_eq!(agent.value("mesos_agent_launches_total", &[("containerizer", "mesos"), ("result", "launched")]), 2.0);
    assert!(agent.value("mesos_agent_status_updates_sent_total", &[("state", "TASK_RUNNING")]) >= 2.0);
    assert_eq!(agent.value("mesos_slave_tasks_running", &[]), 2.0, "/metrics/snapshot as gauges");
    agent.assert_histogram("mesos_agent_checkpoint_write_duration_seconds", &[]);
    agent.assert_histogram("mesos_agent_http_request_duration_seconds", &[("route", "/metrics/prometheus")]);
    agent.assert_process_metrics();

    // The same measurements in `/metrics`, under upstream's names.
    let (status, json) = marathon.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(json["counters"]["marathon.tasks.launched.counter"]["count"], 2, "{json}");
    assert_eq!(json["counters"]["marathon.deployments.counter"]["count"], 1, "{json}");
    assert_eq!(
        json["counters"]["marathon.mesos.offers.used.counter"]["count"].as_f64(),
        Some(m.value("marathon_mesos_offers_used_counter", &[]))
    );
    assert!(
        json["counters"]["marathon.mesos.task-updates.task-running.counter"]["count"].as_u64() >= Some(2),
        "{json}"
    );
    assert_eq!(json["gauges"]["marathon.apps.active.gauge"]["value"], 1, "{json}");
    assert_eq!(json["gauges"]["marathon.instances.running.gauge"]["value"], 2, "{json}");
    drop(events);
}

/// Marathon's `/metrics` has upstream's timers, meters and counters, and the timers count the
/// requests (all, and per method) with their durations.
#[tokio::test]
async fn marathon_metrics_json_timers_count_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No master needed: the REST API serves without one.
    let marathon = Marathon::start("127.0.0.1:1", &dir.path().join("marathon"), &[]).await;
    for _ in 0..5 {
        assert_eq!(marathon.get("/v2/apps").await.0, 200);
    }
    let (status, _) = marathon.send(Method::DELETE, "/v2/apps/nothing", None).await;
    assert_eq!(status, 404);
    let (status, json) = marathon.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(json["version"], "4.0.0");
    let timers = &json["timers"];
    for name in [
        "marathon.http.requests.duration.timer.seconds",
        "marathon.http.requests.get.duration.timer.seconds",
        "marathon.http.requests.post.duration.timer.seconds",
        "marathon.http.requests.put.duration.timer.seconds",
        "marathon.http.requests.delete.duration.timer.seconds",
    ] {
        let timer = &timers[name];
        for key in [
            "count",
            "min",
            "max",
            "mean",
            "p50",
            "p75",
            "p95",
            "p98",
            "p99",
            "p999",
            "stddev",
            "m1_rate",
            "m5_rate",
            "m15_rate",
            "mean_rate",
        ] {
            assert!(timer[key].is_number(), "{name}.{key}: {json}");
        }
        assert_eq!(timer["duration_units"], "seconds");
    }
    // The five GETs, the DELETE and the /ping of the start at least.
    let all = &timers["marathon.http.requests.duration.timer.seconds"];
    assert!(all["count"].as_u64() >= Some(7), "{all}");
    assert!(all["max"].as_f64() > Some(0.0) && all["p50"].as_f64() > Some(0.0), "{all}");
    assert!(all["mean_rate"].as_f64() > Some(0.0), "{all}");
    assert!(timers["marathon.http.requests.get.duration.timer.seconds"]["count"].as_u64() >= Some(6));
    assert_eq!(timers["marathon.http.requests.delete.duration.timer.seconds"]["count"], 1);
    assert_eq!(timers["marathon.http.requests.post.duration.timer.seconds"]["count"], 0);
    assert_eq!(json["meters"]["marathon.http.responses.4xx.rate.meter"]["count"], 1, "{json}");
    assert!(json["meters"]["marathon.http.responses.2xx.rate.meter"]["count"].as_u64() >= Some(6), "{json}");
    for name in [
        "marathon.deployments.counter",
        "marathon.tasks.launched.counter",
        "marathon.mesos.offers.incoming.counter",
        "marathon.mesos.offers.used.counter",
        "marathon.mesos.offers.declined.counter",
        "marathon.mesos.calls.revive.counter",
    ] {
        assert_eq!(json["counters"][name]["count"], 0, "{name}: {json}");
    }
    for name in [
        "marathon.apps.active.gauge",
        "marathon.deployments.active.gauge",
        "marathon.groups.active.gauge",
        "marathon.instances.running.gauge",
        "marathon.instances.staged.gauge",
        "marathon.uptime.gauge.seconds",
        "marathon.leadership.duration.gauge.seconds",
        "marathon.http.requests.active.gauge",
    ] {
        assert!(json["gauges"][name]["value"].is_number(), "{name}: {json}");
    }
    assert!(json["gauges"]["process.memory.resident.gauge.bytes"]["value"].as_f64() > Some(0.0), "{json}");
}

/// A process started with `args` and `env`, its stderr in `log`, killed when dropped.
struct Logged {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Logged {
    fn start(args: &[String], env: &[(&str, &str)], log: std::path::PathBuf) -> Logged {
        let file = std::fs::File::create(&log).expect("log");
        let mut command = Command::new(BIN);
        command.args(args).env("RUST_LOG", "info").stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        for (k, v) in env {
            command.env(k, v);
        }
        Logged { child: command.spawn().expect("spawn"), log }
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line is one JSON object with a level, a message among its fields, and a target.
fn assert_json_lines(component: &str, lines: &[String]) {
    assert!(!lines.is_empty(), "{component} logged nothing");
    for line in lines {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{component}: not JSON ({e}): {line}"));
        assert!(value.is_object(), "{component}: {line}");
        assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&value["level"].as_str().unwrap_or("")), "{line}");
        assert!(value["fields"]["message"].is_string(), "{component}: {line}");
        assert!(value["target"].is_string(), "{component}: {line}");
        assert!(value["timestamp"].is_string(), "{component}: {line}");
    }
}

/// `--log_format json` (and `MESOS_LOG_FORMAT` / `MARATHON_LOG_FORMAT`) makes every component
/// log one JSON object per line; without it the logs stay text.
#[tokio::test]
async fn log_format_json_writes_one_object_per_line_in_every_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cgroups = CgroupRoot::new("metrics-logs");
    let (master_port, agent_port, marathon_port) = (free_port(), free_port(), free_port());
    let master_addr = format!("127.0.0.1:{master_port}");
    let path = |p: &str| dir.path().join(p).display().to_string();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let master = Logged::start(
        &args(&["master", "--port", &master_port.to_string(), "--work_dir", &path("master")]),
        &[("MESOS_LOG_FORMAT", "json")],
        dir.path().join("master.log"),
    );
    let agent = Logged::start(
        &args(&[
            "agent",
            "--master",
            &master_addr,
            "--port",
            &agent_port.to_string(),
            "--work_dir",
            &path("agent"),
            "--cgroups_root",
            &cgroups.0,
            "--resources=cpus:1;mem:256;disk:256;ports:[31000-31010]",
            "--log_format",
            "json",
        ]),
        &[],
        dir.path().join("agent.log"),
    );
    let scheduler = Logged::start(
        &args(&[
            "scheduler",
            "--master",
            &master_addr,
            "--http_port",
            &marathon_port.to_string(),
            "--http_address",
            "127.0.0.1",
            "--work_dir",
            &path("marathon"),
        ]),
        &[("MARATHON_LOG_FORMAT", "json")],
        dir.path().join("marathon.log"),
    );
    let text_master = Logged::start(
        &args(&["master", "--port", &free_port().to_string(), "--work_dir", &path("master2")]),
        &[],
        dir.path().join("master2.log"),
    );
    // The agent registered and Marathon subscribed: each logged a few lines by then.
    let http = reqwest::Client::new();
    eventually(TIMEOUT, "the agent registered and Marathon subscribed", || async {
        let state: Value =
            http.get(format!("http://{master_addr}/master/state")).send().await.ok()?.json().await.ok()?;
        let agents = state["slaves"].as_array()?.len();
        let frameworks = state["frameworks"].as_array()?.len();
        (agents == 1 && frameworks == 1).then_some(())
    })
    .await;
    eventually(TIMEOUT, "the text master's first lines", || async { (!text_master.lines().is_empty()).then_some(()) })
        .await;
    // Logs are written as they happen: give the last lines a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_json_lines("master", &master.lines());
    assert_json_lines("agent", &agent.lines());
    assert_json_lines("scheduler", &scheduler.lines());
    let text = text_master.lines();
    assert!(text.iter().all(|l| serde_json::from_str::<Value>(l).is_err()), "text by default: {text:?}");
    drop((scheduler, agent, master, text_master));
}
