//! Marathon schedulers highly available through a real ZooKeeper (issue 14): one leads, the
//! others forward to it; a leader killed, cut off from ZooKeeper or abdicating is replaced within
//! the session timeout without restarting a task.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::zookeeper::{ZkLink, ZooKeeper};

const TIMEOUT: Duration = Duration::from_secs(60);
/// The schedulers' ZooKeeper session timeout (ms): short, so failovers are quick.
const SESSION_MS: u64 = 2_000;

/// Two (or more) schedulers on one master, sharing `zk`.
struct Pair {
    schedulers: Vec<Marathon>,
}

impl Pair {
    async fn start(cluster: &Cluster, zk_urls: &[String]) -> Pair {
        let mut schedulers = Vec::new();
        for (i, zk) in zk_urls.iter().enumerate() {
            let work_dir = cluster.dir.path().join(format!("marathon-{i}"));
            let session = SESSION_MS.to_string();
            let extra = ["--zk", zk.as_str(), "--zk_session_timeout", session.as_str()];
            schedulers.push(Marathon::start(&cluster.master_addr(), &work_dir, &extra).await);
        }
        Pair { schedulers }
    }

    /// The index of the scheduler every live node names as leader, once they agree and it
    /// serves as leader.
    async fn leader(&self, alive: &[usize]) -> usize {
        self.leader_except(alive, None).await
    }

    /// [`Pair::leader`], once it is not `old` (leadership moves away from it).
    async fn leader_except(&self, alive: &[usize], old: Option<usize>) -> usize {
        eventually(TIMEOUT, "every scheduler to name the same serving leader", || async {
            let mut named = BTreeSet::new();
            for &i in alive {
                let (status, body) = self.schedulers[i].get("/v2/leader").await;
                if status != 200 {
                    return None;
                }
                named.insert(body["leader"].as_str()?.to_string());
            }
            if named.len() != 1 {
                return None;
            }
            let leader = named.into_iter().next()?;
            let index = alive.iter().copied().find(|&i| leader.ends_with(&format!(":{}", self.schedulers[i].port)))?;
            if Some(index) == old {
                return None;
            }
            let (status, info) = self.schedulers[index].get("/v2/info").await;
            (status == 200 && info["elected"] == true).then_some(index)
        })
        .await
    }
}

fn zk_or_skip(test: &str) -> Option<ZooKeeper> {
    ZooKeeper::start_or_skip(1, test)
}

fn running_tasks(app: &Value) -> BTreeSet<String> {
    app["app"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_forwards_to_the_leader_and_the_python_client_works_with_either_down() {
    let Some(zk) = zk_or_skip("a_standby_forwards_to_the_leader_and_the_python_client_works_with_either_down") else {
        return;
    };
    let mut cluster = Cluster::start(1).await;
    let url = zk.url("/marathon");
    let mut pair = Pair::start(&cluster, &[url.clone(), url]).await;
    let leader = pair.leader(&[0, 1]).await;
    let standby = 1 - leader;

    // Through the standby: created on the leader, the answer relayed with the Via header.
    let app = json!({"id": "/web", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2});
    let response = pair.schedulers[standby].http.post(pair.schedulers[standby].url("/v2/apps")).json(&app).send();
    let response = response.await.expect("POST via the standby");
    assert_eq!(response.status(), 201);
    let via = response.headers().get("x-marathon-via").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(via.contains(&format!(":{}", pair.schedulers[standby].port)), "Via: {via}");
    let leader_header = response.headers()["x-marathon-leader"].to_str().expect("ascii").to_string();
    assert!(leader_header.ends_with(&format!(":{}", pair.schedulers[leader].port)), "{leader_header}");
    let tasks = pair.schedulers[standby].wait_running("/web", 2, TIMEOUT).await;
    // The event stream of a standby is a redirect to the leader's.
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let events = redirect.get(pair.schedulers[standby].url("/v2/events")).send().await.expect("GET /v2/events");
    assert_eq!(events.status(), 302);
    // Prometheus scrapes are answered by each node itself: the standby (which never led) shows
    // no app, the leader shows it.
    for (node, apps) in [(standby, 0), (leader, 1)] {
        let scrape = pair.schedulers[node].http.get(pair.schedulers[node].url("/metrics/prometheus")).send().await;
        let scrape = scrape.expect("scrape");
        assert!(!scrape.headers().contains_key("x-marathon-via"), "not forwarded");
        let text = scrape.text().await.expect("text");
        assert!(text.lines().any(|l| l == format!("marathon_apps_active_gauge {apps}")), "node {node}: {text}");
    }

    // The python client with both URLs, the standby first, then with the leader killed.
    let urls = format!("{},{}", pair.schedulers[standby].url(""), pair.schedulers[leader].url(""));
    let listed = python_list_apps(&urls).await;
    assert_eq!(listed, vec!["/web".to_string()]);
    pair.schedulers[leader].proc.kill();
    let new_leader = pair.leader(&[standby]).await;
    assert_eq!(new_leader, standby);
    let listed = python_list_apps(&urls).await;
    assert_eq!(listed, vec!["/web".to_string()]);
    // Same tasks: nothing was restarted by the failover.
    let (_, app) = pair.schedulers[standby].get("/v2/apps/web").await;
    assert_eq!(running_tasks(&app), tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect());
    cluster.teardown();
}

async fn python_list_apps(urls: &str) -> Vec<String> {
    let program = r#"
import json, sys
from marathon import MarathonClient
client = MarathonClient(sys.argv[1].split(","), timeout=10)
print(json.dumps(sorted(app.id for app in client.list_apps())))
"#;
    let urls = urls.to_string();
    let out = tokio::task::spawn_blocking(move || Command::new(python()).args(["-c", program, &urls]).output())
        .await
        .expect("join")
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}

/// Samples the app's tasks on whichever scheduler answers, checking the upgrade's bounds: at
/// most `max` running, and at least `min_healthy` really serving (asked directly, since a new
/// leader knows no health results until its first probes). Whether the upgrade is done.
async fn watch_bounds(pair: &Pair, alive: &[usize], app: &str, n: usize, max: usize, min_healthy: usize) -> bool {
    let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().expect("client");
    for &i in alive {
        let (status, body) = pair.schedulers[i].get(&format!("/v2/apps{app}")).await;
        if status != 200 {
            continue;
        }
        let tasks = body["app"]["tasks"].as_array().cloned().unwrap_or_default();
        let running: Vec<&Value> = tasks.iter().filter(|t| t["state"] == "TASK_RUNNING").collect();
        assert!(running.len() <= max, "{} running tasks, at most {max} allowed: {body}", running.len());
        let mut serving = 0;
        for task in &running {
            let Some(port) = task["ports"][0].as_u64() else { continue };
            let answer = http.get(format!("http://127.0.0.1:{port}/version")).send().await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                serving += 1;
            }
        }
        assert!(serving >= min_healthy, "{serving} tasks serving, at least {min_healthy} wanted: {body}");
        return body["app"]["deployments"] == json!([]) && running.len() == n && body["app"]["tasksHealthy"] == n;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_during_a_rolling_upgrade_is_replaced_and_the_upgrade_completes() {
    let Some(zk) = zk_or_skip("the_leader_killed_during_a_rolling_upgrade_is_replaced_and_the_upgrade_completes")
    else {
        return;
    };
    let mut cluster = Cluster::start(1).await;
    let url = zk.url("/marathon");
    let mut pair = Pair::start(&cluster, &[url.clone(), url]).await;
    let leader = pair.leader(&[0, 1]).await;
    let standby = 1 - leader;
    let app = |version: u32| {
        json!({
            "id": "/up", "cmd": format!("echo v{version} > version; exec python3 -m http.server $PORT0"),
            "cpus": 0.01, "mem": 32, "instances": 4,
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
            "healthChecks": [{"protocol": "HTTP", "path": "/version", "portIndex": 0, "intervalSeconds": 1,
                "timeoutSeconds": 1, "gracePeriodSeconds": 30, "maxConsecutiveFailures": 3}],
        })
    };
    let (status, answer) = pair.schedulers[leader].send(Method::POST, "/v2/apps", Some(app(1))).await;
    assert_eq!(status, 201, "{answer}");
    eventually(TIMEOUT, "4 healthy v1 tasks", || async {
        let (_, body) = pair.schedulers[leader].get("/v2/apps/up").await;
        (body["app"]["tasksHealthy"] == 4 && body["app"]["deployments"] == json!([])).then_some(())
    })
    .await;
    let pids_before = cluster.sandbox_pids();

    // The upgrade starts; the leader dies in the middle of it.
    let (status, answer) = pair.schedulers[leader].send(Method::PUT, "/v2/apps/up", Some(app(2))).await;
    assert_eq!(status, 200, "{answer}");
    eventually(TIMEOUT, "the upgrade to be under way", || async {
        let (_, body) = pair.schedulers[leader].get("/v2/apps/up").await;
        let tasks = body["app"]["tasks"].as_array()?.len();
        (tasks > 4).then_some(())
    })
    .await;
    let (_, before) = pair.schedulers[leader].get("/v2/apps/up").await;
    let old_running: BTreeSet<String> = running_tasks(&before);
    pair.schedulers[leader].proc.kill();
    let killed_at = Instant::now();

    // The standby leads and serves the whole API within the session timeout + 1 s.
    let new_leader = pair.leader(&[standby]).await;
    assert_eq!(new_leader, standby);
    let (status, listing) = pair.schedulers[standby].get("/v2/apps?embed=apps.tasks").await;
    let took = killed_at.elapsed();
    assert_eq!(status, 200, "{listing}");
    assert!(took <= Duration::from_millis(SESSION_MS + 1_000 + 500), "the standby served after {took:?}");

    // The upgrade completes within its bounds (n=4: at most 6 running, at least 2 healthy).
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if watch_bounds(&pair, &[standby], "/up", 4, 6, 2).await {
            break;
        }
        assert!(Instant::now() < deadline, "the upgrade did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No task that was running was restarted: the old ones were killed by the upgrade, not
    // relaunched, and every task id seen running before the failover either still runs or ended.
    let (_, after) = pair.schedulers[standby].get("/v2/apps/up").await;
    let now_running = running_tasks(&after);
    for id in &old_running {
        let instance = id.split("._app.").next().unwrap_or_default();
        assert!(
            !now_running.iter().any(|t| t.starts_with(instance) && t != id),
            "instance of {id} was relaunched: {now_running:?}"
        );
    }
    assert!(pids_before.iter().filter(|p| cluster.sandbox_pids().contains(p)).count() <= 4);
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_zookeeper_stops_before_the_next_leads_and_abdication_moves_leadership() {
    let test = "a_leader_cut_off_from_zookeeper_stops_before_the_next_leads_and_abdication_moves_leadership";
    let Some(zk) = zk_or_skip(test) else { return };
    let mut cluster = Cluster::start(1).await;
    let links = [ZkLink::new(&zk).expect("proxy"), ZkLink::new(&zk).expect("proxy")];
    let urls: Vec<String> = links.iter().map(|l| l.url("/marathon")).collect();
    let pair = Pair::start(&cluster, &urls).await;
    let first = pair.leader(&[0, 1]).await;
    let other = 1 - first;
    let app = json!({"id": "/keep", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 3});
    let (status, answer) = pair.schedulers[first].send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let tasks = pair.schedulers[first].wait_running("/keep", 3, TIMEOUT).await;
    let ids: BTreeSet<String> = tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect();

    // Abdication: the other one leads, tasks untouched.
    let (status, answer) = pair.schedulers[first].send(Method::DELETE, "/v2/leader", None).await;
    assert_eq!(status, 200, "{answer}");
    let second = pair.leader_except(&[0, 1], Some(first)).await;
    assert_eq!(second, other);
    let (_, app) = pair.schedulers[second].get("/v2/apps/keep").await;
    assert_eq!(running_tasks(&app), ids);

    // The leader's link to ZooKeeper goes silent: it stops leading before the other one leads.
    links[second].stall();
    let new_leader = pair.leader_except(&[first], Some(second)).await;
    assert_eq!(new_leader, first);
    let stopped = log_time(&pair.schedulers[second].proc.log_text(), "no longer the leader");
    let elected = last_log_time(&pair.schedulers[first].proc.log_text(), "elected leader");
    let (Some(stopped), Some(elected)) = (stopped, elected) else {
        panic!("no leadership lines in the logs");
    };
    assert!(stopped <= elected, "the old leader stopped at {stopped}, after the new one led at {elected}");
    // Healed: exactly one leader, the new one; the tasks are the same.
    links[second].heal();
    tokio::time::sleep(Duration::from_millis(SESSION_MS)).await;
    assert_eq!(pair.leader(&[0, 1]).await, first);
    let (_, app) = pair.schedulers[first].get("/v2/apps/keep").await;
    assert_eq!(running_tasks(&app), ids);
    cluster.teardown();
}

/// The timestamp of the first log line containing `needle` (RFC 3339 at the start of each line).
fn log_time(log: &str, needle: &str) -> Option<String> {
    log.lines().find(|l| l.contains(needle)).and_then(|l| l.split_whitespace().next()).map(str::to_string)
}

fn last_log_time(log: &str, needle: &str) -> Option<String> {
    log.lines().rev().find(|l| l.contains(needle)).and_then(|l| l.split_whitespace().next()).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_zookeeper_is_down_tasks_keep_running_and_a_leader_resumes_when_it_returns() {
    let test = "while_zookeeper_is_down_tasks_keep_running_and_a_leader_resumes_when_it_returns";
    let Some(mut zk) = zk_or_skip(test) else { return };
    let mut cluster = Cluster::start(1).await;
    let url = zk.url("/marathon");
    let pair = Pair::start(&cluster, &[url.clone(), url]).await;
    let leader = pair.leader(&[0, 1]).await;
    let app = json!({"id": "/steady", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2});
    let (status, answer) = pair.schedulers[leader].send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let tasks = pair.schedulers[leader].wait_running("/steady", 2, TIMEOUT).await;
    let ids: BTreeSet<String> = tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect();
    let pids = cluster.sandbox_pids();

    zk.kill(0);
    // Nobody leads without ZooKeeper: the API says so instead of acting.
    eventually(TIMEOUT, "no scheduler to lead", || async {
        let mut none = true;
        for scheduler in &pair.schedulers {
            let (status, info) = scheduler.get("/v2/info").await;
            none &= !(status == 200 && info["elected"] == true);
        }
        none.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(SESSION_MS)).await;
    assert_eq!(cluster.sandbox_pids(), pids, "tasks kept running without ZooKeeper");

    zk.restart(0).expect("ZooKeeper back");
    let leader = pair.leader(&[0, 1]).await;
    // The same tasks (an update that came while ZooKeeper went away is learnt again from the
    // reconciliation), none replaced.
    eventually(TIMEOUT, "the same tasks running", || async {
        let (_, app) = pair.schedulers[leader].get("/v2/apps/steady").await;
        let tasks: BTreeSet<String> =
            app["app"]["tasks"].as_array()?.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect();
        assert!(tasks.is_subset(&ids), "a task was replaced: {tasks:?} vs {ids:?}");
        (running_tasks(&app) == ids).then_some(())
    })
    .await;
    // And it acts again: a scale-up launches.
    let (status, answer) =
        pair.schedulers[leader].send(Method::PUT, "/v2/apps/steady", Some(json!({"instances": 3}))).await;
    assert_eq!(status, 200, "{answer}");
    pair.schedulers[leader].wait_running("/steady", 3, TIMEOUT).await;
    cluster.teardown();
}
