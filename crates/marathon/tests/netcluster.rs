//! Machines in network namespaces (`xtask::netcluster`, also `cargo xtask cluster up`): agents
//! with their own IPs and hostnames, a node cut off the network by taking its link down; a highly
//! available cluster (ZooKeeper, masters and schedulers on machines of their own) that keeps an
//! app through the loss of its leading master and scheduler at once; and a cluster whose owner
//! was killed removed by `cargo xtask cluster down`'s code.

mod common;

use common::{Framework, command_task, eventually, framework_info};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use xtask::netcluster::{ClusterSpec, NetCluster, Role, namespace_pids, registry};

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

/// Whether ZooKeeper is installed; without it, outside CI, says why the test skips.
fn zookeeper_or_skip(test: &str) -> bool {
    if xtask::zookeeper::ZooKeeper::available() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{test}: ZooKeeper is not installed (CI must run this test)");
    eprintln!("SKIPPED {test}: ZooKeeper is not installed (scripts/install-test-deps)");
    false
}

/// What a cluster made that must be gone once it is removed: namespaces, links, the bridge,
/// hosts files, cgroups, its manifest, and the processes that ran in its namespaces.
struct Traces {
    tag: String,
    namespaces: Vec<String>,
    pids: Vec<i32>,
    cgroups: Vec<String>,
}

impl Traces {
    fn of(cluster: &NetCluster) -> Traces {
        let namespaces: Vec<String> = cluster.all_nodes().map(|n| n.netns.clone()).collect();
        Traces {
            tag: cluster.tag().to_string(),
            pids: namespaces.iter().flat_map(|n| namespace_pids(n)).collect(),
            cgroups: cluster.nodes.iter().map(|n| n.cgroups_root.clone()).collect(),
            namespaces,
        }
    }

    /// What is left (empty once everything is gone).
    fn left(&self) -> Vec<String> {
        let mut left = Vec::new();
        let listed = std::process::Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
        let listed = String::from_utf8_lossy(&listed.stdout).to_string();
        left.extend(self.namespaces.iter().filter(|n| listed.contains(n.as_str())).map(|n| format!("netns {n}")));
        let links = std::process::Command::new("ip").args(["-o", "link"]).output().expect("ip link");
        if String::from_utf8_lossy(&links.stdout).contains(&self.tag) {
            left.push(format!("links of {}", self.tag));
        }
        left.extend(
            self.namespaces
                .iter()
                .filter(|n| std::path::Path::new("/etc/netns").join(n).exists())
                .map(|n| format!("/etc/netns/{n}")),
        );
        left.extend(
            self.cgroups
                .iter()
                .filter(|c| std::path::Path::new("/sys/fs/cgroup/cpu").join(c).exists())
                .map(|c| format!("cgroup {c}")),
        );
        left.extend(self.pids.iter().filter(|p| pid_alive(**p)).map(|p| format!("process {p}")));
        if registry::Manifest::all().iter().any(|m| m.tag == self.tag) {
            left.push(format!("manifest {}", self.tag));
        }
        left
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// The pids of the `sleep` tasks on the agents' machines.
fn task_pids(cluster: &NetCluster) -> BTreeSet<i32> {
    cluster
        .nodes
        .iter()
        .flat_map(|n| namespace_pids(&n.netns))
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
        .collect()
}

async fn app_tasks(http: &reqwest::Client, api: &str, app: &str) -> Option<Vec<Value>> {
    let body: Value = http.get(format!("{api}/v2/apps/{app}")).send().await.ok()?.json().await.ok()?;
    body["app"]["tasks"].as_array().cloned()
}

fn task_ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect()
}

async fn running(http: &reqwest::Client, api: &str, app: &str, n: usize, timeout: Duration) -> Vec<Value> {
    eventually(timeout, &format!("{n} running tasks of {app} on {api}"), || async {
        let tasks = app_tasks(http, api, app).await?;
        (tasks.len() == n && tasks.iter().all(|t| t["state"] == "TASK_RUNNING")).then_some(tasks)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_highly_available_cluster_keeps_an_app_when_its_leading_master_and_scheduler_die() {
    let test = "a_highly_available_cluster_keeps_an_app";
    if !can_make_namespaces() {
        eprintln!("NOTICE: {test}: not root or no `ip netns`; the multi-node test needs both");
        return;
    }
    if !zookeeper_or_skip(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = ClusterSpec::highly_available(2, 2, 2, common::BIN, dir.path());
    spec.zk_session_timeout = Duration::from_secs(2);
    spec.scheduler_flags = ["--min_revive_offers_interval", "0"].map(str::to_string).to_vec();
    let started = Instant::now();
    let mut cluster =
        tokio::task::spawn_blocking(move || NetCluster::up(spec)).await.expect("join").expect("cluster up");
    eprintln!("{test}: up in {:?}", started.elapsed());
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(15)).build().expect("client");
    let apis = cluster.scheduler_urls();
    let (leading_scheduler, leading_master) = tokio::task::block_in_place(|| {
        (cluster.leading_scheduler().expect("a leading scheduler"), cluster.leading_master().expect("a leading master"))
    });
    let (standby_api, standby) = (apis[1 - leading_scheduler].clone(), 1 - leading_scheduler);

    // Posted to the standby, which forwards it to the leader.
    let app = json!({"id": "/ha/web", "cmd": "sleep 600", "cpus": 0.01, "mem": 16, "instances": 2});
    let posted = http.post(format!("{standby_api}/v2/apps")).json(&app).send().await.expect("POST");
    assert_eq!(posted.status(), 201, "{}", posted.text().await.unwrap_or_default());
    let before = task_ids(&running(&http, &standby_api, "ha/web", 2, LONG).await);
    let pids = eventually(LONG, "2 task processes", || async {
        let pids = tokio::task::block_in_place(|| task_pids(&cluster));
        (pids.len() == 2).then_some(pids)
    })
    .await;
    let hosts: BTreeSet<String> = app_tasks(&http, &standby_api, "ha/web")
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["host"].as_str().map(str::to_string))
        .collect();
    assert!(hosts.is_subset(&BTreeSet::from(["node0".to_string(), "node1".to_string()])), "{hosts:?}");

    // Both leaders' machines lose every process at once.
    let killed = Instant::now();
    tokio::task::block_in_place(|| {
        cluster.kill(Role::Master, leading_master).expect("kill the leading master");
        cluster.kill(Role::Scheduler, leading_scheduler).expect("kill the leading scheduler");
    });
    let leaders = eventually(LONG, "the standbys leading", || async {
        tokio::task::block_in_place(|| {
            let master = cluster.leading_master()?;
            let scheduler = cluster.leading_scheduler()?;
            Some((master, scheduler))
        })
    })
    .await;
    assert_eq!(leaders, (1 - leading_master, standby), "the other master and scheduler lead");
    let led = killed.elapsed();

    // The app kept its tasks (same ids, same processes), and it scales.
    let kept = task_ids(&running(&http, &standby_api, "ha/web", 2, LONG).await);
    assert_eq!(kept, before, "tasks were replaced");
    let scaled =
        http.put(format!("{standby_api}/v2/apps/ha/web")).json(&json!({"instances": 4})).send().await.expect("PUT");
    assert!(scaled.status().is_success(), "{}", scaled.text().await.unwrap_or_default());
    let after = task_ids(&running(&http, &standby_api, "ha/web", 4, LONG).await);
    eprintln!("{test}: both leaders killed; the standbys led after {led:?}, 4 tasks ran after {:?}", killed.elapsed());
    assert!(after.is_superset(&before), "{before:?} -> {after:?}");
    assert!(pids.iter().all(|p| pid_alive(*p)), "a task process died: {pids:?}");
    let master = cluster.masters[1 - leading_master].endpoint();
    let state: Value =
        http.get(format!("http://{master}/master/state")).send().await.expect("state").json().await.expect("json");
    let agents = state["slaves"].as_array().map_or(0, |a| a.iter().filter(|s| s["active"] == true).count());
    assert_eq!(agents, 2, "both agents re-registered: {state}");

    let traces = tokio::task::block_in_place(|| Traces::of(&cluster));
    tokio::task::spawn_blocking(move || drop(cluster)).await.expect("teardown");
    assert_eq!(traces.left(), Vec::<String>::new(), "left behind");
}

/// The child of the next test: brings a cluster up in `NETCLUSTER_CHILD_DIR`, says so, and waits
/// to be killed.
#[test]
#[ignore = "run by a_cluster_whose_owner_was_killed_is_removed_by_cluster_down"]
fn netcluster_child_owner() {
    let Ok(dir) = std::env::var("NETCLUSTER_CHILD_DIR") else { return };
    let mut spec = ClusterSpec::highly_available(1, 1, 0, common::BIN, &dir);
    spec.remove_dir = true;
    let cluster = NetCluster::up(spec).expect("cluster up");
    // On a line of its own: the harness has written the test's name on the current one.
    println!("\nNETCLUSTER_UP {}", cluster.tag());
    std::thread::sleep(Duration::from_secs(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_owner_was_killed_is_removed_by_cluster_down() {
    let test = "a_cluster_whose_owner_was_killed_is_removed_by_cluster_down";
    if !can_make_namespaces() {
        eprintln!("NOTICE: {test}: not root or no `ip netns`; the multi-node test needs both");
        return;
    }
    if !zookeeper_or_skip(test) {
        return;
    }
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("cluster");
    let mut child = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "netcluster_child_owner", "--ignored", "--nocapture", "--test-threads=1"])
        .env("NETCLUSTER_CHILD_DIR", &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("run the child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, tag)) = line.split_once("NETCLUSTER_UP ") {
                let _ = tx.send(tag.trim().to_string());
            }
        }
    });
    let tag = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(90))).await.expect("join");
    // Killed before anything could be removed: the cluster stays behind.
    let _ = child.kill();
    let _ = child.wait();
    let tag = tag.expect("the child brought its cluster up");
    let manifest = registry::Manifest::all().into_iter().find(|m| m.tag == tag).expect("the cluster is recorded");
    let pids: Vec<i32> = manifest.netns.iter().flat_map(|n| namespace_pids(n)).collect();
    assert!(!pids.is_empty(), "the master and the agent outlive their owner");
    let traces =
        Traces { tag: tag.clone(), namespaces: manifest.netns.clone(), pids, cgroups: manifest.cgroups.clone() };
    assert!(!traces.left().is_empty());

    // What `cargo xtask cluster down --dir <dir>` does.
    // (Another cluster brought up meanwhile, e.g. by a test elsewhere, may have swept it first:
    // the same removal.)
    let removed = tokio::task::spawn_blocking(move || registry::take_down(Some(&dir))).await.expect("join");
    assert!(removed.iter().all(|(t, _)| *t == tag), "only this cluster: {removed:?}");
    assert_eq!(traces.left(), Vec::<String>::new(), "left behind");
    assert!(!parent.path().join("cluster").exists(), "the cluster's directory is removed");
}
