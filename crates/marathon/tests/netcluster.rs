//! Agents on separate (network-namespaced) machines: their own IPs and hostnames, and a node cut
//! off the network by taking its link down.

mod common;

use common::{Framework, command_task, framework_info};
use std::time::{Duration, Instant};
use xtask::netcluster::{ClusterSpec, NetCluster};

const LONG: Duration = Duration::from_secs(20);

fn can_make_namespaces() -> bool {
    std::process::Command::new("ip").args(["netns", "list"]).output().is_ok_and(|o| o.status.success())
        && std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_node_is_unreachable_fast_and_rejoins_when_healed() {
    if !can_make_namespaces() {
        eprintln!("NOTICE: not root or no `ip netns`; the multi-node test needs both");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ClusterSpec::new(3, common::BIN, dir.path());
    let cluster = tokio::task::spawn_blocking(move || NetCluster::up(spec)).await.expect("join").expect("cluster up");

    let mut fw = Framework::subscribe(&cluster.master_addr(), framework_info("net", true, &["PARTITION_AWARE"])).await;
    // Every node offers itself with its own hostname, IP and attributes.
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 3 {
        for offer in fw.next_offers(LONG).await {
            let host = offer["hostname"].as_str().unwrap_or_default().to_string();
            seen.insert(host, offer);
        }
    }
    let node1 = &seen["node1"];
    let ip = node1["url"]["address"]["ip"].as_str().unwrap_or_default();
    assert_eq!(ip, cluster.nodes[1].ip);
    assert!(node1["attributes"].as_array().is_some_and(|a| a.iter().any(|x| x["name"] == "rack")), "{node1}");
    let others: Vec<_> = seen.values().filter(|o| o["hostname"] != "node1").cloned().collect();
    fw.decline_all(&others).await;
    assert_eq!(fw.launch(node1, vec![command_task(node1, "web", "sleep 600", 0.1, 32.0)]).await, 202);
    fw.wait_state_seen("web", "TASK_RUNNING", LONG).await;

    let cut_at = Instant::now();
    cluster.partition(1).expect("partition");
    let status = fw.wait_state("web", "TASK_UNREACHABLE", Duration::from_secs(10)).await;
    let elapsed = cut_at.elapsed();
    assert!(elapsed < Duration::from_secs(3), "unreachable after {elapsed:?}");
    assert_eq!(status["reason"], "REASON_AGENT_REMOVED");

    cluster.heal(1).expect("heal");
    let back = fw.wait_state("web", "TASK_RUNNING", LONG).await;
    assert_eq!(back["reason"], "REASON_AGENT_REREGISTERED", "{back}");
    assert_eq!(fw.teardown().await, 202);
    tokio::task::spawn_blocking(move || drop(cluster)).await.expect("teardown");
}
