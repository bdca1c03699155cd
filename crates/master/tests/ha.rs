//! Masters with `--zk` on a real ZooKeeper, over real HTTP: the registry in ZooKeeper (where it
//! lives, and how a new leader fences the old one's writes), standbys that redirect and name the
//! leader, and a new leader that expects the agents the old one admitted.

#![allow(clippy::unwrap_used)]

use futures::StreamExt;
use master::core::{AdmittedAgent, Registry};
use master::registry::{RegistryError, RegistryStore, ZkRegistry};
use mesos_api::AgentInfo;
use mesos_api::agent::{AGENT_API_PATH, AgentCall, Register};
use mesos_api::recordio::Decoder;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xtask::zookeeper::ZooKeeper;

const SESSION: Duration = Duration::from_secs(2);

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,zookeeper_client=warn")),
        )
        .with_test_writer()
        .try_init();
}

async fn zookeeper(test: &str) -> Option<Arc<ZooKeeper>> {
    init_logging();
    let test = test.to_owned();
    tokio::task::spawn_blocking(move || ZooKeeper::shared_or_skip(&test)).await.unwrap()
}

fn registry_with(ids: &[&str]) -> Registry {
    let mut registry = Registry::default();
    for id in ids {
        let info: AgentInfo = serde_json::from_value(serde_json::json!({
            "hostname": format!("host-{id}"), "port": 5051, "id": {"value": id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}}],
        }))
        .unwrap();
        registry.admit(AdmittedAgent { info, endpoint: "127.0.0.1:5051".into() });
    }
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_in_zookeeper_is_out_of_the_detectors_way_and_a_new_loader_fences_the_old() {
    let Some(zk) = zookeeper("the_registry_in_zookeeper").await else { return };
    let path = zk.unique_path("mesos");
    let url = coordination::ZkUrl::parse(&zk.url(&path)).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut a = ZkRegistry::new(&url, SESSION);
        assert!(matches!(a.store(&registry_with(&["x"])), Err(RegistryError::NotLoaded { .. })));
        assert_eq!(a.load().unwrap(), None, "nothing stored yet");
        a.store(&registry_with(&["a1", "a2"])).unwrap();
        assert_eq!(a.load().unwrap(), Some(registry_with(&["a1", "a2"])), "a reload claims again and reads it");
        a.store(&registry_with(&["a1"])).unwrap();

        // Another master loads it: from then on the first one's writes are refused.
        let mut b = ZkRegistry::new(&url, SESSION);
        assert_eq!(b.load().unwrap(), Some(registry_with(&["a1"])));
        assert!(matches!(a.store(&registry_with(&["late"])), Err(RegistryError::Fenced { .. })));
        b.store(&registry_with(&["b1"])).unwrap();
        let mut c = ZkRegistry::new(&url, SESSION);
        assert_eq!(c.load().unwrap(), Some(registry_with(&["b1"])), "the fenced write left nothing");
        assert_eq!(b.path(), format!("{}/log_replicas/registry", url.path));
    })
    .await
    .unwrap();

    // Only `log_replicas` is added to the masters' directory: detectors skip it.
    let client = zookeeper_client::Client::connect(&zk.connect_string()).await.unwrap();
    assert_eq!(client.list_children(&path).await.unwrap(), vec!["log_replicas".to_string()]);
}

/// A master on a free port contending under `zk`.
async fn master(zk: &str, dir: &std::path::Path, name: &str) -> master::RunningMaster {
    let flags = master::MasterFlags {
        port: 0,
        hostname: Some("localhost".into()),
        allocation_interval: Duration::from_millis(100),
        zk: Some(zk.to_string()),
        quorum: Some(1),
        zk_session_timeout: SESSION,
        agent_reregister_timeout: Duration::from_secs(30),
        ..master::MasterFlags::new(dir.join(name))
    };
    master::start(flags).await.unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn elected(http: &reqwest::Client, addr: std::net::SocketAddr) -> bool {
    let metrics = get_json(http, &format!("http://{addr}/metrics/snapshot")).await;
    metrics["master/elected"] == 1.0
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn post(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url).header("Content-Type", "application/json").header("Accept", "application/json").body(body)
}

const SUBSCRIBE: &str =
    r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","failover_timeout":100}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_redirects_to_the_leader_which_hands_over_with_the_registry() {
    let Some(zk) = zookeeper("a_standby_redirects_to_the_leader").await else { return };
    let zk_url = zk.url(&zk.unique_path("mesos"));
    let dir = tempfile::tempdir().unwrap();
    let http = no_redirects();
    let a = master(&zk_url, dir.path(), "a").await;
    let a_addr = a.local_addr();
    wait_until("A elected", Duration::from_secs(10), || elected(&http, a_addr)).await;
    let b = master(&zk_url, dir.path(), "b").await;
    let b_addr = b.local_addr();
    wait_until("B knows A leads", Duration::from_secs(10), || async {
        get_json(&http, &format!("http://{b_addr}/master/state")).await["leader"]
            == format!("master@127.0.0.1:{}", a_addr.port())
    })
    .await;

    // B names the leader, says it is not elected, and redirects calls there (as upstream:
    // `//<hostname>:<port>` plus the path for calls, the bare base for /master/redirect).
    let state = get_json(&http, &format!("http://{b_addr}/master/state")).await;
    assert_eq!(state["leader_info"]["port"], a_addr.port(), "{state}");
    assert!(state.get("elected_time").is_none(), "{state}");
    assert_eq!(state["slaves"], serde_json::json!([]));
    assert!(!elected(&http, b_addr).await);
    let flags = get_json(&http, &format!("http://{b_addr}/master/flags")).await;
    assert_eq!(flags["flags"]["registry"], "zookeeper", "{flags}");
    assert_eq!(flags["flags"]["quorum"], "1", "{flags}");
    let leader_base = format!("//localhost:{}", a_addr.port());
    let redirect = http.get(format!("http://{b_addr}/master/redirect")).send().await.unwrap();
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["location"], leader_base.as_str());
    for path in ["/api/v1/scheduler", "/master/api/v1/scheduler"] {
        let subscribe = post(&http, &format!("http://{b_addr}{path}"), SUBSCRIBE.into()).send().await.unwrap();
        assert_eq!(subscribe.status(), 307, "{path}");
        assert_eq!(subscribe.headers()["location"], format!("{leader_base}{path}").as_str());
    }
    let register = |port: u16| {
        let info: AgentInfo = serde_json::from_value(serde_json::json!({
            "hostname": "agent0", "port": port, "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}],
        }))
        .unwrap();
        let call = AgentCall::Register {
            register: Register {
                agent_info: info,
                agent_id: None,
                tasks: vec![],
                executors: vec![],
                endpoint: format!("127.0.0.1:{port}"),
            },
        };
        serde_json::to_string(&call).unwrap()
    };
    let to_b = post(&http, &format!("http://{b_addr}{AGENT_API_PATH}"), register(1)).send().await.unwrap();
    assert_eq!(to_b.status(), 307);
    assert_eq!(to_b.headers()["location"], format!("{leader_base}{AGENT_API_PATH}").as_str());

    // An agent registers with A (which stores it in the registry); a framework subscribes.
    let agent = post(&http, &format!("http://{a_addr}{AGENT_API_PATH}"), register(1)).send().await.unwrap();
    assert_eq!(agent.status(), 200);
    let mut agent_events = agent.bytes_stream();
    let mut decoder = Decoder::new();
    let registered = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), agent_events.next()).await.unwrap().unwrap();
        let records = decoder.feed(&chunk.unwrap()).unwrap();
        if let Some(record) = records.first() {
            break serde_json::from_slice::<serde_json::Value>(record).unwrap();
        }
    };
    assert_eq!(registered["type"], "REGISTERED", "{registered}");
    let agent_id = registered["registered"]["agent_id"]["value"].as_str().unwrap().to_string();
    let framework = post(&http, &format!("http://{a_addr}/api/v1/scheduler"), SUBSCRIBE.into()).send().await.unwrap();
    assert_eq!(framework.status(), 200);
    let mut framework_events = framework.bytes_stream();

    // A leaves: its streams end, B leads (at once: A's node is gone) and expects A's agent.
    let stopped = Instant::now();
    a.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = framework_events.next().await {}
        while let Some(Ok(_)) = agent_events.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the old leader's streams stayed open");
    wait_until("B elected", Duration::from_secs(5), || elected(&http, b_addr)).await;
    eprintln!("B elected {:?} after A stopped", stopped.elapsed());
    let state = get_json(&http, &format!("http://{b_addr}/master/state")).await;
    assert_eq!(state["recovered_slaves"][0]["id"], agent_id.as_str(), "{state}");
    assert_eq!(state["leader"], format!("master@127.0.0.1:{}", b_addr.port()));
    assert!(state["elected_time"].as_f64().is_some(), "{state}");
    let redirect = http.get(format!("http://{b_addr}/master/redirect")).send().await.unwrap();
    assert_eq!(redirect.headers()["location"], format!("//localhost:{}", b_addr.port()).as_str());

    // The agent comes back to B with its id: it is registered again, and no longer expected.
    let mut call: serde_json::Value = serde_json::from_str(&register(1)).unwrap();
    call["register"]["agent_id"] = serde_json::json!({"value": agent_id});
    call["register"]["agent_info"]["id"] = serde_json::json!({"value": agent_id});
    let back = post(&http, &format!("http://{b_addr}{AGENT_API_PATH}"), call.to_string()).send().await.unwrap();
    assert_eq!(back.status(), 200);
    wait_until("the agent back on B", Duration::from_secs(5), || async {
        let state = get_json(&http, &format!("http://{b_addr}/master/state")).await;
        state["recovered_slaves"] == serde_json::json!([]) && state["slaves"][0]["id"] == agent_id.as_str()
    })
    .await;
    b.stop().await;
}
