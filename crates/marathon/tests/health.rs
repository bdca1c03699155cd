//! Health checks end to end: `marathon scheduler` on a real master and agent. Rolling upgrades
//! through every kind of health check (Marathon's and the agent's), with the upgrade strategy's
//! capacity bounds held; health check fields validated on every way in; and tasks killed for
//! failing their health checks relaunched with a growing delay.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Every protocol of an app health check.
const PROTOCOLS: [&str; 7] = ["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"];

/// Writes a self-signed certificate and its key into `dir` (as HTTPS tasks usually have).
fn self_signed_certificate(dir: &Path) {
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1"])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req failed: {status}");
}

/// An app of `instances` web servers checked by one `protocol` check, every second. `version`
/// goes into the command, so that a new one is an upgrade. HTTPS apps serve TLS with the
/// certificate in `tls_dir`; COMMAND apps run no server (their check is `true`, as in the
/// issue that found the stuck upgrades).
fn checked_app(protocol: &str, instances: u32, version: u32, tls_dir: &Path) -> Value {
    let id = format!("hc-{}", protocol.to_lowercase().replace('_', "-"));
    let cmd = match protocol {
        "COMMAND" => format!("exec sleep {}", 600 + version),
        "HTTPS" | "MESOS_HTTPS" => format!(
            "echo {version} > health && exec python3 {} $PORT0 {} {}",
            workspace_root().join("tests/compat/https_server.py").display(),
            tls_dir.join("cert.pem").display(),
            tls_dir.join("key.pem").display()
        ),
        _ => format!("echo {version} > health && exec python3 -m http.server $PORT0"),
    };
    let mut check = json!({"protocol": protocol, "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0,
                           "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3});
    match protocol {
        "COMMAND" => check["command"] = json!({"value": "true"}),
        "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS" => {
            check["path"] = json!("/health");
            check["portIndex"] = json!(0);
        }
        _ => check["portIndex"] = json!(0),
    }
    json!({
        "id": id, "instances": instances, "cpus": 0.02, "mem": 32, "cmd": cmd,
        "healthChecks": [check],
        "upgradeStrategy": {"minimumHealthCapacity": 0.8, "maximumOverCapacity": 0.2}
    })
}

/// Tasks of each app the master knows that are not terminal, by app id (without the slash).
async fn master_live_tasks(cluster: &Cluster) -> BTreeMap<String, usize> {
    let state = cluster.master_state().await;
    let mut live = BTreeMap::new();
    for framework in state["frameworks"].as_array().into_iter().flatten() {
        for task in framework["tasks"].as_array().into_iter().flatten() {
            let terminal = matches!(
                task["state"].as_str().unwrap_or_default(),
                "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED" | "TASK_ERROR" | "TASK_LOST" | "TASK_DROPPED"
            );
            if let Some(app) = task["id"].as_str().and_then(|id| id.split(".instance-").next())
                && !terminal
            {
                *live.entry(app.to_string()).or_insert(0) += 1;
            }
        }
    }
    live
}

/// The tasks of an app as `old/new state healthy` (for failure messages).
fn task_summary(app: &Value) -> String {
    let tasks: Vec<String> = app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let age = if t["version"] == app["version"] { "new" } else { "old" };
            let alive: Vec<String> =
                t["healthCheckResults"].as_array().into_iter().flatten().map(|r| r["alive"].to_string()).collect();
            format!("{age} {} alive={}", t["state"].as_str().unwrap_or_default(), alive.join(","))
        })
        .collect();
    tasks.join("; ")
}

/// Issue 13, item 4: a rolling upgrade of five instances (at least four healthy, at most six at
/// once) finishes whatever kind of health check the app has, Mesos' included (whose health
/// arrives in status updates). All seven apps upgrade at the same time in one cluster; every
/// sample of the scheduler's and the master's views holds the bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrades_finish_through_every_kind_of_health_check_within_the_capacity_bounds() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let tls_dir = cluster.dir.path().join("tls");
    std::fs::create_dir_all(&tls_dir).expect("mkdir");
    self_signed_certificate(&tls_dir);
    let (n, min_healthy, max_tasks) = (5usize, 4usize, 6usize);
    let apps: Vec<Value> = PROTOCOLS.iter().map(|p| checked_app(p, n as u32, 1, &tls_dir)).collect();
    let ids: Vec<String> = apps.iter().map(|a| a["id"].as_str().expect("id").to_string()).collect();
    for app in &apps {
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app.clone())).await;
        assert_eq!(status, 201, "{answer}");
    }
    eventually(TIMEOUT, "every app deployed with all instances healthy", || async {
        let (_, apps) = marathon.get("/v2/apps").await;
        let apps = apps["apps"].as_array()?.clone();
        let done = apps.len() == ids.len()
            && apps.iter().all(|a| a["tasksHealthy"] == n && a["tasksRunning"] == n && a["deployments"] == json!([]));
        done.then_some(())
    })
    .await;

    // Upgrade all of them at once.
    let mut versions = BTreeMap::new();
    for protocol in PROTOCOLS {
        let app = checked_app(protocol, n as u32, 2, &tls_dir);
        let id = app["id"].as_str().expect("id").to_string();
        let (status, answer) =
            marathon.send(Method::PUT, &format!("/v2/apps/{id}"), Some(json!({"cmd": app["cmd"]}))).await;
        assert_eq!(status, 200, "{answer}");
        let (_, current) = marathon.get(&format!("/v2/apps/{id}")).await;
        versions.insert(id, current["app"]["version"].as_str().expect("version").to_string());
    }
    let started = Instant::now();
    let deadline = started + TIMEOUT;
    let mut finished: BTreeMap<String, Duration> = BTreeMap::new();
    let (mut samples, mut fewest_healthy, mut most_tasks) = (0usize, BTreeMap::new(), BTreeMap::new());
    loop {
        let (_, body) = marathon.get("/v2/apps?embed=apps.tasks").await;
        let live = master_live_tasks(&cluster).await;
        let listed = body["apps"].as_array().cloned().unwrap_or_default();
        assert_eq!(listed.len(), ids.len(), "{body}");
        for app in &listed {
            let id = app["id"].as_str().unwrap_or_default().trim_start_matches('/').to_string();
            let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
            let healthy = app["tasksHealthy"].as_u64().unwrap_or(0) as usize;
            let on_master = live.get(&id).copied().unwrap_or(0);
            let fewest = fewest_healthy.entry(id.clone()).or_insert(usize::MAX);
            *fewest = (*fewest).min(healthy);
            let most = most_tasks.entry(id.clone()).or_insert(0);
            *most = (*most).max(tasks.len()).max(on_master);
            assert!(healthy >= min_healthy, "{id}: {healthy} healthy, fewer than {min_healthy}: {app}");
            assert!(tasks.len() <= max_tasks, "{id}: {} tasks, more than {max_tasks}: {app}", tasks.len());
            assert!(on_master <= max_tasks, "{id}: {on_master} live tasks on the master, more than {max_tasks}");
            let version = versions.get(&id).map(String::as_str).unwrap_or_default();
            let done = app["deployments"] == json!([])
                && tasks.len() == n
                && healthy == n
                && tasks.iter().all(|t| t["version"] == version && t["state"] == "TASK_RUNNING");
            if done {
                finished.entry(id).or_insert_with(|| started.elapsed());
            }
        }
        samples += 1;
        if finished.len() == ids.len() {
            break;
        }
        if Instant::now() > deadline {
            let unfinished: Vec<String> = listed
                .iter()
                .filter(|a| !finished.contains_key(a["id"].as_str().unwrap_or_default().trim_start_matches('/')))
                .map(|a| format!("{}: {}", a["id"], task_summary(a)))
                .collect();
            let (_, deployments) = marathon.get("/v2/deployments").await;
            panic!("upgrades did not finish in {TIMEOUT:?}:\n{}\ndeployments: {deployments}", unfinished.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "upgrades finished after {finished:?}; {samples} samples; fewest healthy {fewest_healthy:?}; most tasks {most_tasks:?}"
    );
    assert!(samples > 20, "too few samples ({samples}) to mean anything");
    cluster.teardown();
}

/// An app of `sleep` tasks with one health check `check` (merged over a default).
fn app_with_check(id: &str, check: Value) -> Value {
    json!({"id": id, "cmd": "exec sleep 600", "cpus": 0.01, "mem": 16, "instances": 1, "healthChecks": [check]})
}

/// Issue 13, item 7: health check fields are validated as upstream does (zeros allowed,
/// negatives and out-of-range ports refused), with 422 and the field's path, whichever way the
/// app comes in: `POST /v2/apps`, `PUT /v2/apps/{id}` (new or partial update), `PUT /v2/apps`,
/// `POST /v2/groups` and `PUT /v2/groups/{id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_health_and_readiness_check_fields_get_422_on_every_way_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No master: the REST API validates without one.
    let master = format!("127.0.0.1:{}", free_port());
    let marathon = Marathon::start(&master, &dir.path().join("marathon"), &[]).await;
    let http = |check: Value| app_with_check("/v", check);
    let ready = |check: Value| {
        json!({"id": "/v", "cmd": "exec sleep 600", "cpus": 0.01, "mem": 16, "instances": 0,
               "portDefinitions": [{"port": 0, "name": "http-api"}], "readinessChecks": [check]})
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            http(json!({"protocol": "HTTP", "intervalSeconds": -1})),
            "/healthChecks(0)/intervalSeconds",
            "got -1, expected 0 or more",
        ),
        (
            http(json!({"protocol": "TCP", "timeoutSeconds": -1})),
            "/healthChecks(0)/timeoutSeconds",
            "got -1, expected 0 or more",
        ),
        (
            http(json!({"protocol": "MESOS_HTTP", "gracePeriodSeconds": -3})),
            "/healthChecks(0)/gracePeriodSeconds",
            "got -3, expected 0 or more",
        ),
        (
            http(json!({"protocol": "HTTPS", "maxConsecutiveFailures": -1})),
            "/healthChecks(0)/maxConsecutiveFailures",
            "got -1, expected 0 or more",
        ),
        (
            http(json!({"protocol": "COMMAND", "command": {"value": "true"}, "delaySeconds": -1})),
            "/healthChecks(0)/delaySeconds",
            "got -1, expected 0 or more",
        ),
        (
            http(json!({"protocol": "TCP", "port": 65536})),
            "/healthChecks(0)/port",
            "got 65536, expected between 0 and 65535",
        ),
        (
            http(json!({"protocol": "MESOS_TCP", "portIndex": -1})),
            "/healthChecks(0)/portIndex",
            "got -1, expected between 0 and 65535",
        ),
        (
            ready(json!({"intervalSeconds": -1, "timeoutSeconds": 1})),
            "/readinessChecks(0)/intervalSeconds",
            "got -1, expected 0 or more",
        ),
        (
            ready(json!({"intervalSeconds": 5, "timeoutSeconds": 0})),
            "/readinessChecks(0)/timeoutSeconds",
            "got 0, expected more than 0",
        ),
        (
            ready(json!({"intervalSeconds": 5, "timeoutSeconds": 5})),
            "/readinessChecks(0)/timeoutSeconds",
            "got 5, expected less than 5",
        ),
    ];
    // A valid app to update, and a group to put apps into; zeros everywhere are valid.
    let zeros = json!({"protocol": "HTTP", "intervalSeconds": 0, "timeoutSeconds": 0, "gracePeriodSeconds": 0,
                       "maxConsecutiveFailures": 0, "delaySeconds": 0, "portIndex": 0});
    let mut existing = app_with_check("/existing", zeros);
    existing["instances"] = json!(0);
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(existing)).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = marathon.send(Method::POST, "/v2/groups", Some(json!({"id": "/g"}))).await;
    assert_eq!(status, 201, "{answer}");

    let has = |answer: &Value, path: &str, message: &str| {
        answer["message"] == "Object is not valid"
            && answer["details"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|v| v["path"] == path && v["errors"].as_array().is_some_and(|e| e.contains(&json!(message))))
            })
    };
    for (app, path, message) in cases {
        let mut ways: Vec<(Method, &str, Value, String)> = Vec::new();
        ways.push((Method::POST, "/v2/apps", app.clone(), path.to_string()));
        ways.push((Method::PUT, "/v2/apps/v", app.clone(), path.to_string()));
        let mut partial = app.clone();
        if let Some(o) = partial.as_object_mut() {
            o.retain(|k, _| k == "healthChecks" || k == "readinessChecks" || k == "portDefinitions");
        }
        ways.push((Method::PUT, "/v2/apps/existing", partial.clone(), path.to_string()));
        let mut batch = partial;
        batch["id"] = json!("/existing");
        ways.push((Method::PUT, "/v2/apps", json!([batch]), path.to_string()));
        let mut nested = app.clone();
        nested["id"] = json!("/g/v");
        ways.push((
            Method::POST,
            "/v2/groups",
            json!({"id": "/h", "apps": [nested.clone()]}),
            format!("/apps(0){path}"),
        ));
        ways.push((Method::PUT, "/v2/groups/g", json!({"id": "/g", "apps": [nested]}), format!("/apps(0){path}")));
        for (method, url, body, expected_path) in ways {
            let (status, answer) = marathon.send(method.clone(), url, Some(body.clone())).await;
            assert_eq!(status, 422, "{method} {url} {body}: {answer}");
            assert!(
                has(&answer, &expected_path, message),
                "{method} {url} {body}: want {expected_path}: {message}, got {answer}"
            );
        }
    }
    // Nothing invalid was stored.
    let (_, apps) = marathon.get("/v2/apps").await;
    let ids: BTreeSet<&str> = apps["apps"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["/existing"]), "{apps}");
    let (_, app) = marathon.get("/v2/apps/existing").await;
    assert_eq!(app["app"]["healthChecks"][0]["intervalSeconds"], 0, "{app}");
}

/// Issue 13, item 7: tasks that fail their health checks at once (interval, timeout and grace
/// period all zero, as the tester's) are killed and relaunched with a growing delay, whether
/// Marathon (HTTP to a port nothing serves) or the agent (COMMAND `false`) checks them: a
/// bounded number of launches in a window, each wait longer than the one before. They used to
/// be relaunched hundreds of times in half a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_killed_for_failing_health_checks_are_relaunched_with_a_growing_delay() {
    let mut cluster = Cluster::start(1).await;
    let marathon = Marathon::start(&cluster.master_addr(), &cluster.dir.path().join("marathon"), &[]).await;
    let updates = follow_events(&marathon.url(""), "?event_type=status_update_event");
    let zeros = json!({"intervalSeconds": 0, "timeoutSeconds": 0, "gracePeriodSeconds": 0, "delaySeconds": 0});
    let mut http = zeros.clone();
    http["protocol"] = json!("HTTP");
    let mut command = zeros;
    command["protocol"] = json!("COMMAND");
    command["command"] = json!({"value": "false"});
    for (id, check) in [("/failing-http", http), ("/failing-command", command)] {
        let mut app = app_with_check(id, check);
        app["backoffSeconds"] = json!(1);
        app["backoffFactor"] = json!(2);
        app["maxLaunchDelaySeconds"] = json!(3600);
        let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
        assert_eq!(status, 201, "{answer}");
    }
    eventually(TIMEOUT, "the event stream", || async {
        updates.lock().expect("lock").iter().any(|e| e.kind == "status_update_event").then_some(())
    })
    .await;
    // Twelve seconds after each app's first task ran: launches at about 0, 1, 3 and 7 s (plus
    // the time each task takes to fail), the next one at about 15 s.
    let window = Duration::from_secs(12);
    let launches = |app: &str| -> Vec<(Instant, String)> {
        let seen = updates.lock().expect("lock").clone();
        let mut runs: Vec<(Instant, String)> = Vec::new();
        for SeenEvent { at, data: event, .. } in seen {
            let task = event["taskId"].as_str().unwrap_or_default().to_string();
            if event["eventType"] == "status_update_event"
                && event["appId"] == app
                && event["taskStatus"] == "TASK_RUNNING"
                && !runs.iter().any(|(_, t)| *t == task)
            {
                runs.push((at, task));
            }
        }
        runs
    };
    let first = eventually(TIMEOUT, "both apps' first tasks to run", || async {
        let firsts: Vec<Instant> = ["/failing-http", "/failing-command"]
            .iter()
            .filter_map(|app| launches(app).first().map(|(at, _)| *at))
            .collect();
        (firsts.len() == 2).then(|| firsts.into_iter().max().expect("two"))
    })
    .await;
    tokio::time::sleep((first + window).saturating_duration_since(Instant::now()) + Duration::from_secs(1)).await;
    for app in ["/failing-http", "/failing-command"] {
        let runs = launches(app);
        let start = runs[0].0;
        let within: Vec<Duration> =
            runs.iter().map(|(at, _)| at.duration_since(start)).filter(|d| *d <= window).collect();
        let gaps: Vec<Duration> = within.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            (3..=5).contains(&within.len()),
            "{app}: {} launches in {window:?} (at {within:?}), expected 3 to 5",
            within.len()
        );
        assert!(gaps.windows(2).all(|g| g[1] > g[0]), "{app}: the waits do not grow: {gaps:?}");
        assert!(gaps.last().is_some_and(|g| *g >= Duration::from_secs(3)), "{app}: {gaps:?}");
        eprintln!("{app}: launches at {within:?}");
        // Between launches the app waits in the queue, its delay showing.
        eventually(TIMEOUT, &format!("{app} delayed in the queue"), || async {
            let (_, queue) = marathon.get("/v2/queue").await;
            let entry = queue["queue"].as_array()?.iter().find(|q| q["app"]["id"] == app)?.clone();
            (entry["delay"]["timeLeftSeconds"].as_f64()? > 0.0).then_some(())
        })
        .await;
    }
    cluster.teardown();
}
