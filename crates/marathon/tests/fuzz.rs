//! A fuzz pass of the REST API: thousands of mutated app and group definitions (and a few
//! malformed bodies) against a real `marathon local`, seeded and bounded in time. Whatever a
//! client sends, the answer is never a 5xx and the process never exits.
//!
//! `FUZZ_SEED=<n>` replays a run (the seed is printed), `FUZZ_CASES=<n>` changes its length.

mod common;

use common::*;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Valid definitions the mutations start from (commands are harmless: mutations never write
/// a command of their own).
fn templates() -> Vec<Value> {
    vec![
        json!({"id": "/f/plain", "cmd": "sleep 600", "cpus": 0.01, "mem": 8}),
        json!({"id": "/f/ports", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2,
            "portDefinitions": [{"port": 0, "name": "http", "protocol": "tcp"}], "requirePorts": false}),
        json!({"id": "/f/health", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 5,
                "intervalSeconds": 2, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}],
            "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/", "portName": "http",
                "intervalSeconds": 5, "timeoutSeconds": 2, "httpStatusCodesForReady": [200]}],
            "portDefinitions": [{"port": 0, "name": "http"}]}),
        json!({"id": "/f/strategy", "args": ["sleep", "600"], "cpus": 0.01, "mem": 8, "instances": 3,
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
            "unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20},
            "killSelection": "OLDEST_FIRST", "backoffSeconds": 1, "backoffFactor": 1.5, "maxLaunchDelaySeconds": 30}),
        json!({"id": "/f/placed", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
            "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["hostname", "MAX_PER", "1"]],
            "acceptedResourceRoles": ["*"], "labels": {"a": "b"}, "env": {"K": "V"},
            "fetch": [{"uri": "http://127.0.0.1:1/missing.tgz", "extract": true}], "dependencies": ["/f/plain"]}),
        json!({"id": "/f/container", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
            "container": {"type": "MESOS", "volumes": []}, "networks": [{"mode": "host"}],
            "taskKillGracePeriodSeconds": 2, "user": "root"}),
        json!({"id": "/f/commandcheck", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}},
                {"protocol": "MESOS_TCP", "portIndex": 0}, {"protocol": "TCP", "portIndex": 0}],
            "portDefinitions": [{"port": 0}]}),
    ]
}

/// Field names a mutation may add (Marathon's, and some that do not exist).
const FIELDS: &[&str] = &[
    "id",
    "cmd",
    "args",
    "instances",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "executor",
    "env",
    "labels",
    "constraints",
    "ports",
    "portDefinitions",
    "requirePorts",
    "networks",
    "container",
    "healthChecks",
    "readinessChecks",
    "dependencies",
    "upgradeStrategy",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "taskKillGracePeriodSeconds",
    "unreachableStrategy",
    "killSelection",
    "residency",
    "secrets",
    "fetch",
    "uris",
    "user",
    "role",
    "acceptedResourceRoles",
    "ipAddress",
    "check",
    "version",
    "versionInfo",
    "tasks",
    "deployments",
    "storeUrls",
    "resourceLimits",
    "executorResources",
    "tty",
    "no-such-field",
    "",
];

/// Values that often break parsers and arithmetic.
fn edge_value(rng: &mut ChaCha8Rng) -> Value {
    let long = "x".repeat(rng.random_range(200..5000));
    let choices = vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1),
        json!(i32::MAX),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e308),
        json!(1e-12),
        json!(0.5),
        json!(""),
        json!(" "),
        json!("/"),
        json!(".."),
        json!("../.."),
        json!("/a/../../b"),
        json!("ünïcødé ✓"),
        json!("\u{0000}"),
        json!(long),
        json!("a".repeat(600)),
        json!([]),
        json!([null]),
        json!([1, "two", {"three": 3}]),
        json!({}),
        json!({"nested": {"deeper": [1, 2, {"deepest": null}]}}),
        json!(["hostname", "UNIQUE"]),
        json!([["hostname", "CLUSTER", ""]]),
        json!({"protocol": "HTTP"}),
        json!({"type": "DOCKER"}),
        json!({"mode": "container"}),
        json!([{"mode": "container/bridge"}]),
        json!(1_000_000_000),
    ];
    choices.choose(rng).cloned().unwrap_or(Value::Null)
}

/// A random value of a random type, nested at most `depth` deep.
fn random_value(rng: &mut ChaCha8Rng, depth: u32) -> Value {
    match rng.random_range(0..8) {
        0..=3 => edge_value(rng),
        4 => json!(rng.random_range(-1_000_000i64..1_000_000)),
        5 => json!(rng.random::<f64>() * 10.0 - 1.0),
        6 if depth > 0 => Value::Array((0..rng.random_range(0..4)).map(|_| random_value(rng, depth - 1)).collect()),
        _ if depth > 0 => {
            let mut map = Map::new();
            for _ in 0..rng.random_range(0..4) {
                let key = FIELDS.choose(rng).copied().unwrap_or("k").to_string();
                map.insert(key, random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
        _ => json!("leaf"),
    }
}

/// Every object or array inside `value` (paths as JSON pointers), the root included.
fn containers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.push(at.clone());
            for (k, v) in map {
                containers(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            out.push(at.clone());
            for (i, v) in items.iter().enumerate() {
                containers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// One random change somewhere in `value`. Commands are never replaced by strings of ours.
fn mutate(rng: &mut ChaCha8Rng, value: &mut Value) {
    let mut paths = Vec::new();
    containers(value, String::new(), &mut paths);
    let Some(path) = paths.choose(rng).cloned() else { return };
    let Some(target) = value.pointer_mut(&path) else { return };
    let safe = |key: &str| !matches!(key, "cmd" | "args" | "value" | "command" | "uri" | "uris");
    match target {
        Value::Object(map) => match rng.random_range(0..3) {
            0 if !map.is_empty() => {
                let keys: Vec<String> = map.keys().cloned().collect();
                if let Some(key) = keys.choose(rng) {
                    map.remove(key);
                }
            }
            1 if !map.is_empty() => {
                let keys: Vec<String> = map.keys().filter(|k| safe(k)).cloned().collect();
                if let Some(key) = keys.choose(rng) {
                    map.insert(key.clone(), random_value(rng, 2));
                }
            }
            _ => {
                let key = FIELDS.choose(rng).copied().unwrap_or("x");
                if safe(key) {
                    map.insert(key.to_string(), random_value(rng, 2));
                }
            }
        },
        Value::Array(items) => match rng.random_range(0..3) {
            0 if !items.is_empty() => {
                let i = rng.random_range(0..items.len());
                items.remove(i);
            }
            1 if !items.is_empty() && !path.ends_with("/args") => {
                let i = rng.random_range(0..items.len());
                items[i] = random_value(rng, 2);
            }
            _ if !path.ends_with("/args") => items.push(random_value(rng, 2)),
            _ => {}
        },
        _ => {}
    }
}

fn mutated_app(rng: &mut ChaCha8Rng, templates: &[Value]) -> Value {
    let mut app = templates.choose(rng).cloned().unwrap_or_else(|| json!({}));
    if rng.random_bool(0.7) {
        // Distinct ids, so that creations do not all collide.
        let id = format!("/f/{}-{}", rng.random_range(0..40), rng.random_range(0..1000));
        app["id"] = json!(id);
    }
    for _ in 0..rng.random_range(1..5) {
        mutate(rng, &mut app);
    }
    app
}

fn mutated_group(rng: &mut ChaCha8Rng, templates: &[Value]) -> Value {
    let id = format!("/g{}", rng.random_range(0..30));
    let apps: Vec<Value> = (0..rng.random_range(0..4))
        .map(|i| {
            let mut app = mutated_app(rng, templates);
            app["id"] = json!(format!("{id}/a{i}"));
            if rng.random_bool(0.2) {
                mutate(rng, &mut app);
            }
            app
        })
        .collect();
    let mut group = json!({"id": id, "apps": apps});
    if rng.random_bool(0.3) {
        group["groups"] = json!([{"id": format!("{id}/sub"), "apps": [], "dependencies": [format!("{id}/a0")]}]);
    }
    if rng.random_bool(0.3) {
        group["dependencies"] = json!([format!("/g{}", rng.random_range(0..30))]);
    }
    for _ in 0..rng.random_range(0..3) {
        mutate(rng, &mut group);
    }
    group
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or("/f/x").trim_start_matches('/').to_string()
}

/// One request: method, path and body (raw bytes, sent as JSON).
fn request(rng: &mut ChaCha8Rng, templates: &[Value]) -> (Method, String, Option<Vec<u8>>) {
    let force = if rng.random_bool(0.5) { "?force=true" } else { "" };
    let json_body = |v: Value| Some(v.to_string().into_bytes());
    match rng.random_range(0..20) {
        0..=5 => (Method::POST, "/v2/apps".into(), json_body(mutated_app(rng, templates))),
        6..=7 => {
            let app = mutated_app(rng, templates);
            (Method::PUT, format!("/v2/apps/{}{force}", id_of(&app)), json_body(app))
        }
        8 => {
            let apps: Vec<Value> = (0..rng.random_range(1..4)).map(|_| mutated_app(rng, templates)).collect();
            let method = if rng.random_bool(0.5) { Method::PUT } else { Method::PATCH };
            (method, format!("/v2/apps{force}"), json_body(json!(apps)))
        }
        9..=11 => (Method::POST, format!("/v2/groups{force}"), json_body(mutated_group(rng, templates))),
        12 => {
            let group = mutated_group(rng, templates);
            (Method::PUT, format!("/v2/groups/{}{force}", id_of(&group)), json_body(group))
        }
        13 => {
            let app = mutated_app(rng, templates);
            (Method::DELETE, format!("/v2/apps/{}{force}", id_of(&app)), None)
        }
        14 => {
            let app = mutated_app(rng, templates);
            (Method::POST, format!("/v2/apps/{}/restart{force}", id_of(&app)), None)
        }
        15 => {
            // Malformed JSON: a valid body cut short, or bytes that are not JSON.
            let body = mutated_app(rng, templates).to_string().into_bytes();
            let cut = rng.random_range(0..body.len().max(1));
            let body =
                if rng.random_bool(0.5) { body[..cut].to_vec() } else { (0..cut).map(|_| rng.random()).collect() };
            (Method::POST, "/v2/apps".into(), Some(body))
        }
        16 => (Method::DELETE, format!("/v2/groups/g{}{force}", rng.random_range(0..30)), None),
        17 => {
            let body = json!({"scaleBy": random_value(rng, 0)});
            (Method::PUT, format!("/v2/groups/g{}{force}", rng.random_range(0..30)), json_body(body))
        }
        _ => {
            let paths = [
                "/v2/apps?embed=apps.tasks&embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure",
                "/v2/groups?embed=group.groups&embed=group.apps.tasks",
                "/v2/queue?embed=lastUnusedOffers",
                "/v2/deployments",
                "/v2/tasks",
                "/v2/info",
                "/v2/apps?label=a==b",
                "/v2/apps?cmd=sleep",
            ];
            (Method::GET, paths.choose(rng).copied().unwrap_or("/v2/apps").into(), None)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_mutated_definitions_never_get_a_5xx_or_end_the_process() {
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(13);
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let budget = Duration::from_secs(120);
    eprintln!("fuzz: FUZZ_SEED={seed} FUZZ_CASES={cases}");

    // Little room, so that few of the valid definitions run tasks.
    let mut local = Local::start("fuzz-test", &["--resources", "cpus:0.2;mem:128;disk:1024;ports:[31000-31010]"]);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let api = local.api();
    eventually(Duration::from_secs(20), "the Marathon API", || async {
        http.get(format!("{api}/ping")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;

    let templates = templates();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut done = 0;
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    while done < cases && started.elapsed() < budget {
        let (method, path, body) = request(&mut rng, &templates);
        let mut call = http.request(method.clone(), format!("{api}{path}"));
        if let Some(body) = &body {
            call = call.header("Content-Type", "application/json").body(body.clone());
        }
        let response = match call.send().await {
            Ok(r) => r,
            Err(e) => {
                let log = local.proc.log_text();
                panic!(
                    "case {done}: {method} {path} failed: {e}\nlog tail:\n{}",
                    &log[log.len().saturating_sub(4000)..]
                );
            }
        };
        let status = response.status().as_u16();
        *by_status.entry(status).or_default() += 1;
        if status >= 500 {
            let answer = response.text().await.unwrap_or_default();
            let sent = body.map(|b| String::from_utf8_lossy(&b[..b.len().min(600)]).into_owned()).unwrap_or_default();
            failures.push(format!("case {done}: {method} {path} -> {status} {answer}\n  body: {sent}"));
        }
        done += 1;
    }
    eprintln!("fuzz: {done} cases in {:?}, statuses {by_status:?}", started.elapsed());
    assert!(done >= cases.min(1000), "only {done} cases within {budget:?}");
    assert!(local.proc.child.try_wait().expect("wait").is_none(), "marathon local exited:\n{}", local.proc.log_text());
    assert!(failures.is_empty(), "{} answers were 5xx (seed {seed}):\n{}", failures.len(), failures.join("\n"));
    // Some definitions were valid and some not: the mutations reached past the parser.
    assert!(by_status.get(&201).is_some_and(|n| *n > 10), "{by_status:?}");
    assert!(by_status.get(&422).is_some_and(|n| *n > 10), "{by_status:?}");

    // Everything can still be removed, and the API still answers.
    let response = http.delete(format!("{api}/v2/groups?force=true")).send().await.expect("DELETE /v2/groups");
    assert!(response.status().is_success(), "{}", response.status());
    eventually(Duration::from_secs(60), "every task to be gone", || async {
        let tasks: Value = http.get(format!("{api}/v2/tasks")).send().await.ok()?.json().await.ok()?;
        tasks["tasks"].as_array()?.is_empty().then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "every task process to be gone", || async {
        cgroup_root_pids(&local.cgroups.0).is_empty().then_some(())
    })
    .await;
    local.proc.kill();
}
