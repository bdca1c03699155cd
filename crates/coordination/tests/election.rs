//! Leader election on a real ZooKeeper (one server and an ensemble of three): Mesos masters'
//! `json.info_` nodes and Marathon's Curator latch; hand-over when the leader's session closes or
//! expires (its link cut through a proxy), with the old leader reporting its loss before the new
//! one leads and its late writes fenced by store generations; the master detector; and what
//! pymesos and mesoshttp read from the nodes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ZkLink, ZooKeeper, init_logging, quick_options, url};
use coordination::election::{Election, Leadership};
use coordination::{ZkStore, mesos};
use mesos_api::{Address, MasterInfo};
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{AsyncStore, Namespace, StoreError};
use tokio::sync::watch;

const SESSION: Duration = Duration::from_secs(2);

fn master_info(port: u16) -> MasterInfo {
    MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip: mesos_api::ipv4_as_mesos_u32(std::net::Ipv4Addr::LOCALHOST),
        port,
        pid: format!("master@127.0.0.1:{port}"),
        hostname: "localhost".to_owned(),
        version: mesos_api::MESOS_VERSION.to_owned(),
        address: Address { hostname: Some("localhost".to_owned()), ip: Some("127.0.0.1".to_owned()), port },
        capabilities: Vec::new(),
    }
}

/// Every leadership a participant reports, with when.
#[derive(Clone, Default)]
struct History(Arc<Mutex<Vec<(Instant, Leadership)>>>);

impl History {
    fn record(election: &Election) -> History {
        let history = History::default();
        let mut rx = election.leadership();
        let log = history.clone();
        tokio::spawn(async move {
            loop {
                let now = rx.borrow_and_update().clone();
                log.0.lock().unwrap().push((Instant::now(), now));
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        history
    }

    /// When it first reported `pred` at or after `since` (waiting a moment for the recorder,
    /// which may see a report after the test did).
    async fn first(&self, since: Instant, pred: impl Fn(&Leadership) -> bool) -> Option<Instant> {
        for _ in 0..20 {
            let found = self.0.lock().unwrap().iter().find(|(at, l)| *at >= since && pred(l)).map(|(at, _)| *at);
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    fn dump(&self, since: Instant) -> Vec<(Duration, Leadership)> {
        self.0.lock().unwrap().iter().filter(|(at, _)| *at >= since).map(|(at, l)| (*at - since, l.clone())).collect()
    }
}

async fn wait_for(
    election: &Election,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&Leadership) -> bool,
) -> Leadership {
    let mut rx: watch::Receiver<Leadership> = election.leadership();
    match tokio::time::timeout(timeout, rx.wait_for(|l| pred(l))).await {
        Ok(Ok(l)) => l.clone(),
        _ => panic!("{what}: not within {timeout:?}; now {:?}", election.current()),
    }
}

fn is_leader(l: &Leadership) -> bool {
    l.is_leader()
}

fn follows(node: &str) -> impl Fn(&Leadership) -> bool + '_ {
    move |l| matches!(l, Leadership::Follower { leader: Some(info) } if info.node == node)
}

fn node_of(l: &Leadership) -> String {
    match l {
        Leadership::Leader { node, .. } => node.clone(),
        other => panic!("not a leader: {other:?}"),
    }
}

async fn open_store(url: coordination::ZkUrl) -> AsyncStore {
    tokio::task::spawn_blocking(move || AsyncStore::from_store(ZkStore::open_with(&url, quick_options()).unwrap()))
        .await
        .unwrap()
}

async fn start_zk(servers: usize, test: &str) -> Option<ZooKeeper> {
    init_logging();
    let test = test.to_owned();
    tokio::task::spawn_blocking(move || ZooKeeper::start_or_skip(servers, &test)).await.unwrap()
}

async fn close_hands_over(servers: usize) {
    let Some(zk) = start_zk(servers, &format!("close_hands_over({servers})")).await else { return };
    let zk_url = url(&zk.url("/mesos"));
    let (info_a, info_b) = (master_info(5050), master_info(5051));
    let a = mesos::contend(&zk_url, &info_a, SESSION);
    let led = wait_for(&a, "A leads", Duration::from_secs(10), is_leader).await;
    let node_a = node_of(&led);
    assert!(node_a.starts_with("json.info_") && node_a.len() == "json.info_".len() + 10, "{node_a}");
    let b = mesos::contend(&zk_url, &info_b, SESSION);
    let followed = wait_for(&b, "B follows A", Duration::from_secs(10), follows(&node_a)).await;
    let Leadership::Follower { leader: Some(leader) } = followed else { unreachable!() };
    assert_eq!(mesos::parse_master_info(&leader.node, &leader.data), Some(info_a.clone()));

    let stopped = Instant::now();
    a.stop().await;
    wait_for(&b, "B leads after A closed its session", SESSION + Duration::from_secs(1), is_leader).await;
    eprintln!("{servers} server(s): B leads {:?} after A closed its session", stopped.elapsed());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_leaders_session_hands_over_on_one_server() {
    close_hands_over(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_leaders_session_hands_over_on_an_ensemble() {
    close_hands_over(3).await;
}

/// How the leader loses ZooKeeper.
#[derive(Debug, Clone, Copy)]
enum Partition {
    /// Its connections are reset and new ones refused.
    Cut,
    /// Its traffic is dropped silently: it only notices by its own timeouts.
    Silent,
}

/// The leader's link (only its own) is cut until its session expires.
async fn expiry_hands_over_and_fences(servers: usize, partition: Partition) {
    let Some(zk) = start_zk(servers, &format!("expiry_hands_over({servers}, {partition:?})")).await else { return };
    let link = ZkLink::new(&zk).unwrap();
    let state_url = url(&zk.url("/marathon"));
    let a = mesos::contend(&url(&link.url("/mesos")), &master_info(5050), SESSION);
    let node_a = node_of(&wait_for(&a, "A leads", Duration::from_secs(10), is_leader).await);
    let b = mesos::contend(&url(&zk.url("/mesos")), &master_info(5051), SESSION);
    wait_for(&b, "B follows A", Duration::from_secs(10), follows(&node_a)).await;
    let (history_a, history_b) = (History::record(&a), History::record(&b));

    // A, elected, claims the store and writes.
    let store_a = open_store(state_url.clone()).await;
    let generation_a = store_a.claim_next_generation().await.unwrap();
    store_a.put(generation_a, Namespace::APPS, "/app", b"a".to_vec()).await.unwrap();

    let cut = Instant::now();
    match partition {
        Partition::Cut => link.cut(),
        Partition::Silent => link.stall(),
    }
    let led = wait_for(&b, "B leads after A's session expired", SESSION + Duration::from_secs(3), is_leader).await;
    let b_leads = history_b.first(cut, is_leader).await.unwrap();
    let a_lost = history_a.first(cut, |l| !l.is_leader()).await.unwrap();
    eprintln!(
        "{servers} server(s), {partition:?}: A reported its loss {:?} after the cut, B led {:?} after it; A: {:?}",
        a_lost - cut,
        b_leads - cut,
        history_a.dump(cut)
    );
    assert!(a_lost < b_leads, "A reported its loss after B led");
    assert!(b_leads - cut <= SESSION + Duration::from_secs(1), "B led {:?} after the cut", b_leads - cut);
    assert!(!a.current().is_leader());

    // B, elected, claims the store: A's late write is refused.
    let store_b = open_store(state_url.clone()).await;
    let generation_b = store_b.claim_next_generation().await.unwrap();
    assert_eq!(
        store_a.put(generation_a, Namespace::APPS, "/app", b"late".to_vec()).await,
        Err(StoreError::Fenced { current: generation_b, attempted: generation_a })
    );
    store_b.put(generation_b, Namespace::APPS, "/app", b"b".to_vec()).await.unwrap();

    // Healed: A learns its session expired, contends again on a new one, and follows B.
    link.heal();
    let node_b = node_of(&led);
    wait_for(&a, "A follows B after healing", Duration::from_secs(15), follows(&node_b)).await;
    assert!(b.current().is_leader());
    assert!(history_a.first(cut, is_leader).await.is_none(), "A led again: {:?}", history_a.dump(cut));
    assert_eq!(history_b.dump(cut).iter().filter(|(_, l)| !l.is_leader()).count(), 0, "{:?}", history_b.dump(cut));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_leader_yields_before_the_other_leads_on_one_server() {
    expiry_hands_over_and_fences(1, Partition::Cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_partitioned_leader_yields_before_the_other_leads() {
    expiry_hands_over_and_fences(1, Partition::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_leader_yields_before_the_other_leads_on_an_ensemble() {
    expiry_hands_over_and_fences(3, Partition::Cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_zookeeper_server_of_an_ensemble_does_not_change_the_leader() {
    let Some(mut zk) = start_zk(3, "a_stopped_zookeeper_server").await else { return };
    let zk_url = url(&zk.url("/mesos"));
    let a = mesos::contend(&zk_url, &master_info(5050), SESSION);
    let node_a = node_of(&wait_for(&a, "A leads", Duration::from_secs(10), is_leader).await);
    let b = mesos::contend(&zk_url, &master_info(5051), SESSION);
    wait_for(&b, "B follows A", Duration::from_secs(10), follows(&node_a)).await;
    let history_a = History::record(&a);
    let since = Instant::now();
    // Kill each server in turn (one at a time: a quorum of two stays).
    for i in 0..3 {
        let mut zk_moved = zk;
        zk = tokio::task::spawn_blocking(move || {
            zk_moved.kill(i);
            std::thread::sleep(Duration::from_millis(500));
            zk_moved.restart(i).unwrap();
            zk_moved
        })
        .await
        .unwrap();
    }
    // A may have lost its connection for a moment (reported unknown), but leads again with the
    // same node: its session survived.
    let again = wait_for(&a, "A leads again", Duration::from_secs(10), is_leader).await;
    assert_eq!(node_of(&again), node_a, "{:?}", history_a.dump(since));
    wait_for(&b, "B follows A", Duration::from_secs(10), follows(&node_a)).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_latch_is_curator_compatible() {
    let Some(zk) = start_zk(1, "marathon_latch_is_curator_compatible").await else { return };
    let zk_url = url(&zk.url("/marathon"));
    let a = coordination::marathon::contend(&zk_url, "host-a:8080", SESSION);
    let node_a = node_of(&wait_for(&a, "A leads", Duration::from_secs(10), is_leader).await);
    let b = coordination::marathon::contend(&zk_url, "host-b:8080", SESSION);
    let followed = wait_for(&b, "B follows A", Duration::from_secs(10), follows(&node_a)).await;
    assert_eq!(coordination::marathon::leader_id(&followed, "host-b:8080").as_deref(), Some("host-a:8080"));
    assert_eq!(coordination::marathon::leader_id(&a.current(), "host-a:8080").as_deref(), Some("host-a:8080"));
    assert_eq!(coordination::marathon::read_leader(&zk_url, SESSION).await.unwrap().as_deref(), Some("host-a:8080"));

    // The nodes are Curator's: `_c_<uuid>-latch-<10 digits>` under `<zk>/leader-curator`.
    let client = zookeeper_client::Client::connect(&zk.connect_string()).await.unwrap();
    let children = client.list_children("/marathon/leader-curator").await.unwrap();
    assert_eq!(children.len(), 2, "{children:?}");
    for child in &children {
        let (protection, sequence) = child.rsplit_once("-latch-").unwrap();
        let uuid = protection.strip_prefix("_c_").unwrap();
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{child}");
        assert!(sequence.len() == 10 && sequence.bytes().all(|b| b.is_ascii_digit()), "{child}");
    }
    let (data, stat) = client.get_data(&format!("/marathon/leader-curator/{node_a}")).await.unwrap();
    assert_eq!(data, b"host-a:8080");
    assert_ne!(stat.ephemeral_owner, 0);

    // Abdication: B leads, A queues behind it.
    a.abdicate();
    let led = wait_for(&b, "B leads after A abdicated", Duration::from_secs(5), is_leader).await;
    let node_b = node_of(&led);
    wait_for(&a, "A follows B", Duration::from_secs(5), follows(&node_b)).await;
    assert_eq!(coordination::marathon::read_leader(&zk_url, SESSION).await.unwrap().as_deref(), Some("host-b:8080"));
    b.stop().await;
    wait_for(&a, "A leads after B stopped", Duration::from_secs(5), is_leader).await;
    a.stop().await;
    assert_eq!(client.list_children("/marathon/leader-curator").await.unwrap(), Vec::<String>::new());
    assert_eq!(coordination::marathon::read_leader(&zk_url, SESSION).await.unwrap(), None);
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("MARATHON_TEST_PYTHON") {
        return p.into();
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/install-test-deps (or scripts/test)", p.display());
    p
}

fn zk_detect() -> std::process::Command {
    let mut command = std::process::Command::new(python());
    command.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/zk_detect.py"));
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detectors_follow_the_leading_master_ours_pymesos_and_mesoshttp() {
    let Some(zk) = start_zk(1, "detectors_follow_the_leading_master").await else { return };
    let zk_url = url(&zk.url("/mesos"));
    // mesoshttp sends a GET to the master it finds: ports nothing listens on (freed at once).
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port_a, port_b) = (free_port(), free_port());
    let (info_a, info_b) = (master_info(port_a), master_info(port_b));
    let detector = mesos::MasterDetector::start(&zk_url, SESSION);
    let a = mesos::contend(&zk_url, &info_a, SESSION);
    wait_for(&a, "A leads", Duration::from_secs(10), is_leader).await;
    assert_eq!(detector.wait_for_leader(Duration::from_secs(10)).await, Some(info_a.clone()));

    // pymesos' detector, as a framework given zk://.../mesos uses it.
    let mut pymesos = Child(
        zk_detect()
            .args(["pymesos", &format!("{}/mesos", zk.connect_string())])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = pymesos.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = |what: &str| {
        lines.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("pymesos printed no {what}: {e}"))
    };
    assert_eq!(next_line("master"), format!("master 127.0.0.1:{port_a}"));

    // mesoshttp's one-shot detection (it reads `pid`, under the hard-coded /mesos).
    let hosts = zk.connect_string();
    let mesoshttp = tokio::task::spawn_blocking(move || zk_detect().args(["mesoshttp", &hosts, "mesos"]).output())
        .await
        .unwrap()
        .unwrap();
    let printed = String::from_utf8_lossy(&mesoshttp.stdout);
    assert!(
        printed.trim() == format!("master http://127.0.0.1:{port_a}")
            || printed.trim() == format!("master https://127.0.0.1:{port_a}"),
        "{printed}\n{}",
        String::from_utf8_lossy(&mesoshttp.stderr)
    );

    // A new leader: everyone follows.
    let b = mesos::contend(&zk_url, &info_b, SESSION);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.stop().await;
    wait_for(&b, "B leads", Duration::from_secs(5), is_leader).await;
    let mut leader = detector.leader();
    tokio::time::timeout(Duration::from_secs(5), leader.wait_for(|l| l.as_ref() == Some(&info_b)))
        .await
        .unwrap()
        .unwrap();
    let mut seen = next_line("new master");
    if seen == "no master" {
        seen = next_line("new master");
    }
    assert_eq!(seen, format!("master 127.0.0.1:{port_b}"));
    b.stop().await;
    detector.stop().await;
}
