//! Highly available masters (`--zk`; the schedulers' own is in `ha.rs`): two masters contend
//! in a real ZooKeeper, agents and frameworks (Marathon through mesos-client, pymesos through
//! its own detector) find the leader there and follow it when it dies, without losing a task; a
//! leader cut off from ZooKeeper stops acting before another one leads, and healing leaves one
//! leader.

mod common;

use common::ha::{HaCluster, SESSION};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// Two masters (the first leads), `agents` agents following the leader.
async fn cluster(test: &str, agents: usize, proxied_first: bool) -> Option<HaCluster> {
    if !cgroups_available() {
        eprintln!("{test}: skipped: needs root and cgroups v1");
        return None;
    }
    let zk = HaCluster::zookeeper(test).await?;
    let mut c = HaCluster::new(zk);
    c.add_master(proxied_first).await;
    assert_eq!(c.leader(TIMEOUT).await, 0);
    c.add_master(false).await;
    let leader_pid = format!("master@127.0.0.1:{}", c.masters[0].port);
    c.wait_state(1, "the standby names the leader", TIMEOUT, |s| s["leader"] == leader_pid.as_str()).await;
    for _ in 0..agents {
        c.add_agent().await;
    }
    c.wait_state(0, "every agent registered", TIMEOUT, |s| HaCluster::active_agents(s) == agents).await;
    Some(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leading_master_keeps_tasks_and_marathon_scales_again_within_the_session_timeout() {
    let Some(mut c) = cluster("killing_the_leading_master", 2, false).await else { return };
    let marathon = Marathon::start(&c.zk_url, &c.dir.path().join("marathon"), &[]).await;
    let app = json!({"id": "ha", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 4, "portDefinitions": []});
    let (status, answer) = marathon.send(Method::POST, "/v2/apps", Some(app)).await;
    assert_eq!(status, 201, "{answer}");
    let before = ids(&marathon.wait_running("ha", 4, TIMEOUT).await);
    let pids = eventually(TIMEOUT, "4 task processes", || async {
        let pids = c.cgroup_pids();
        (pids.len() == 4).then_some(pids)
    })
    .await;
    let state = c.state(0).await;
    let framework = state["frameworks"][0]["id"].as_str().expect("Marathon registered").to_string();

    // The leader dies; Marathon is asked to scale up at once.
    c.masters[0].proc.kill();
    let killed = Instant::now();
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/ha", Some(json!({"instances": 6}))).await;
    assert!(status == 200 || status == 201, "{answer}");

    // Measured in the background: when the new leader is elected, and when every agent is back.
    let elected = eventually(TIMEOUT, "master 1 elected", || async { c.elected(1).await.then(Instant::now) }).await;
    let back =
        c.wait_state(1, "both agents back on the new leader", TIMEOUT, |s| HaCluster::active_agents(s) == 2).await;
    let agents_back = Instant::now();
    let tasks = marathon.wait_running("ha", 6, TIMEOUT).await;
    let scaled_up = Instant::now();
    eprintln!(
        "failover: elected {:?} after the kill; agents back {:?} after the election; scaled up {:?} after the kill",
        elected - killed,
        agents_back - elected,
        scaled_up - killed
    );
    assert!(
        scaled_up - killed <= SESSION + Duration::from_secs(2),
        "launching worked again only {:?} after the kill",
        scaled_up - killed
    );
    assert!(ids(&tasks).is_superset(&before), "tasks were replaced: {before:?} -> {:?}", ids(&tasks));
    assert!(pids.iter().all(|p| pid_alive(*p)), "a task process died");
    assert_eq!(back["frameworks"][0]["id"], framework.as_str(), "Marathon resubscribed with its id: {back}");
    assert_eq!(back["recovered_slaves"], json!([]), "{back}");
    assert_eq!(back["unreachable_slaves"], 0, "{back}");

    // Killing works too: scale down.
    let asked = Instant::now();
    let (status, answer) = marathon.send(Method::PUT, "/v2/apps/ha", Some(json!({"instances": 3}))).await;
    assert!(status == 200 || status == 201, "{answer}");
    let remaining = eventually(TIMEOUT, "3 tasks left", || async {
        let (_, body) = marathon.get("/v2/apps/ha").await;
        let tasks = body["app"]["tasks"].as_array()?.clone();
        (tasks.len() == 3 && c.cgroup_pids().len() == 3).then_some(tasks)
    })
    .await;
    eprintln!("failover: scaled down {:?} after asking", asked.elapsed());
    assert!(asked.elapsed() <= Duration::from_secs(2), "killing took {:?}", asked.elapsed());
    assert!(remaining.iter().all(|t| t["state"] == "TASK_RUNNING"));
    let state = c.state(1).await;
    assert_eq!(state["frameworks"][0]["id"], framework.as_str());
}

/// Lines printed by a child process, as they come.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next event matching `pred` (others are kept in `seen`).
async fn next_event(
    events: &std::sync::mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match events.try_recv() {
            Ok(event) => {
                assert_ne!(event["event"], "error", "{event}; seen: {seen:#?}");
                seen.push(event.clone());
                if pred(&event) {
                    return event;
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "no {what}; seen: {seen:#?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("no {what} ({e}); seen: {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_given_zookeeper_finds_the_leader_and_follows_a_failover() {
    let Some(mut c) = cluster("pymesos_given_zookeeper", 1, false).await else { return };
    let script = workspace_root().join("tests/compat/pymesos_failover.py");
    let master = format!("zk://{}{}", c.zk.connect_string(), c.path);
    let log = std::fs::File::create(c.dir.path().join("pymesos.log")).expect("log");
    let child = std::process::Command::new(python())
        .arg(&script)
        .args(["--master", &master, "--timeout", "90"])
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("run pymesos");
    let mut pymesos = Proc { child, log: c.dir.path().join("pymesos.log") };
    let events = lines_of(&mut pymesos.child);
    let mut seen = Vec::new();
    let registered = next_event(&events, &mut seen, "registration", |e| e["event"] == "registered").await;
    assert_eq!(registered["master"], c.masters[0].addr(), "pymesos found the leader: {registered}");
    let first = next_event(&events, &mut seen, "the first task running", |e| {
        e["event"] == "update" && e["state"] == "TASK_RUNNING"
    })
    .await;
    let first_task = first["task_id"].as_str().expect("task id").to_string();
    let pids = eventually(TIMEOUT, "the task process", || async {
        let pids = c.cgroup_pids();
        (pids.len() == 1).then_some(pids)
    })
    .await;

    c.masters[0].proc.kill();
    let again = next_event(&events, &mut seen, "re-registration", |e| e["event"] == "reregistered").await;
    assert_eq!(again["master"], c.masters[1].addr(), "{again}");
    assert_eq!(again["framework_id"], registered["framework_id"]);
    // Reconciled on the new leader: the first task still runs; a second one is launched there.
    next_event(&events, &mut seen, "the first task reconciled as running", |e| {
        e["event"] == "update" && e["phase"] == 2 && e["task_id"] == first_task.as_str() && e["state"] == "TASK_RUNNING"
    })
    .await;
    let second = next_event(&events, &mut seen, "the second task running", |e| {
        e["event"] == "update" && e["phase"] == 2 && e["task_id"] != first_task.as_str() && e["state"] == "TASK_RUNNING"
    })
    .await;
    let state = c.state(1).await;
    let tasks: BTreeSet<&str> = state["frameworks"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(tasks, BTreeSet::from([first_task.as_str(), second["task_id"].as_str().unwrap_or_default()]));
    assert!(pids.iter().all(|p| pid_alive(*p)), "the first task's process died");
    let first_states: BTreeSet<&str> = seen
        .iter()
        .filter(|e| e["event"] == "update" && e["task_id"] == first_task.as_str())
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(first_states, BTreeSet::from(["TASK_STARTING", "TASK_RUNNING"]), "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_zookeeper_stops_acting_before_another_leads_and_healing_leaves_one_leader() {
    let Some(c) = cluster("a_leader_cut_off_from_zookeeper", 1, true).await else { return };
    let (a, b) = (c.masters[0].addr(), c.masters[1].addr());
    let framework = Framework::subscribe(&a, framework_info("cut", true, &[])).await;
    let stream_id = framework.stream_id.clone();
    // When the old leader's framework stream ends, seen from the framework.
    let closed = tokio::spawn(async move {
        let mut framework = framework;
        while framework.next_event(Duration::from_secs(30)).await.is_some() {}
        Instant::now()
    });

    // Only A's link to ZooKeeper is cut.
    c.masters[0].link.as_ref().expect("A is proxied").cut();
    let cut = Instant::now();
    let mut a_stopped = None;
    let b_elected = loop {
        if a_stopped.is_none() && !c.elected(0).await {
            a_stopped = Some(Instant::now());
        }
        if c.elected(1).await {
            break Instant::now();
        }
        assert!(cut.elapsed() < TIMEOUT, "B never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stream_closed = closed.await.expect("reader");
    let a_stopped = a_stopped.expect("A stopped acting");
    eprintln!(
        "cut: A stopped acting {:?} and its framework stream ended {:?} after the cut; B led {:?} after it",
        a_stopped - cut,
        stream_closed - cut,
        b_elected - cut
    );
    assert!(a_stopped <= b_elected, "A still acted when B led");
    assert!(stream_closed <= b_elected, "A's framework stream outlived its leadership");

    // A, cut off, knows no leader: it refuses calls; B serves them.
    let subscribe = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("x", true, &[])}});
    let post = |addr: &str| {
        c.http
            .post(format!("http://{addr}/api/v1/scheduler"))
            .header("Content-Type", "application/json")
            .body(subscribe.to_string())
            .send()
    };
    let refused = post(&a).await.expect("A answers");
    assert!(refused.status() == 503 || refused.status() == 307, "{}", refused.status());
    let call = c
        .http
        .post(format!("http://{a}/api/v1/scheduler"))
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", &stream_id)
        .body(json!({"type": "REVIVE", "framework_id": {"value": "x"}}).to_string())
        .send()
        .await
        .expect("A answers");
    assert!(call.status() == 503 || call.status() == 307, "{}", call.status());
    c.wait_state(1, "the agent registered with B", TIMEOUT, |s| HaCluster::active_agents(s) == 1).await;

    // Healed: A learns its session expired, contends again and follows B; B stays the leader.
    c.masters[0].link.as_ref().expect("A is proxied").heal();
    let b_pid = format!("master@{b}");
    c.wait_state(0, "A follows B", TIMEOUT, |s| s["leader"] == b_pid.as_str()).await;
    let redirect = c.http.get(format!("http://{a}/master/redirect")).send().await.expect("redirect");
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["location"], format!("//localhost:{}", c.masters[1].port).as_str());
    for _ in 0..10 {
        assert_eq!(c.leader(TIMEOUT).await, 1, "exactly one leader, B");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subscribed = post(&a).await.expect("A answers");
    assert_eq!(subscribed.status(), 307);
    assert_eq!(c.state(1).await["slaves"][0]["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ha_flags_come_from_the_command_line_or_the_environment_and_bad_ones_are_refused() {
    let Some(zk) = common::ha::HaCluster::zookeeper("the_ha_flags").await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = zk.unique_path("mesos");
    let url = zk.url(&path);
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("master.log")).expect("log");
    let child = std::process::Command::new(BIN)
        .args(["master", "--hostname", "localhost"])
        .env("MESOS_PORT", port.to_string())
        .env("MESOS_WORK_DIR", dir.path().join("master"))
        .env("MESOS_ZK", &url)
        .env("MESOS_QUORUM", "2")
        .env("MESOS_ZK_SESSION_TIMEOUT", "3secs")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn");
    let master = Proc { child, log: dir.path().join("master.log") };
    let http = reqwest::Client::new();
    let flags: Value = eventually(TIMEOUT, "the master elected", || async {
        let metrics: Value =
            http.get(format!("http://127.0.0.1:{port}/metrics/snapshot")).send().await.ok()?.json().await.ok()?;
        if metrics["master/elected"] != 1.0 {
            return None;
        }
        http.get(format!("http://127.0.0.1:{port}/master/flags")).send().await.ok()?.json().await.ok()
    })
    .await;
    assert_eq!(flags["flags"]["zk"], url.as_str(), "{flags}");
    assert_eq!(flags["flags"]["quorum"], "2", "{flags}");
    assert_eq!(flags["flags"]["zk_session_timeout"], "3secs", "{flags}");
    assert_eq!(flags["flags"]["registry"], "zookeeper", "{flags}");
    assert!(master.log_text().contains("--quorum is accepted for compatibility but not used"), "{}", master.log_text());

    let refused = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("master")
            .args(["--port", "0", "--work_dir"])
            .arg(dir.path().join("refused"))
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(refused(&["--zk", &url, "--quorum", "0"]).contains("--quorum"));
    assert!(
        refused(&["--zk", &url, "--registry", "work_dir"]).contains("--registry=work_dir cannot be used with --zk")
    );
    assert!(refused(&["--registry", "zookeeper"]).contains("--registry=zookeeper needs --zk"));
    assert!(refused(&["--zk", "zk://127.0.0.1:1"]).contains("a path is required"));
}
