//! Highly available clusters for tests: masters contending in a real ZooKeeper (one shared
//! server per test binary, each cluster on its own path), agents following the leader, each its
//! own `marathon` process; a master's ZooKeeper link can go through a proxy that cuts it.

use super::*;
use std::sync::Arc;
pub use xtask::zookeeper::{ZkLink, ZooKeeper};

/// The ZooKeeper session timeout of the cluster's masters and agents (tickTime 500 ms allows it).
pub const SESSION: Duration = Duration::from_secs(2);

pub struct HaMaster {
    pub proc: Proc,
    pub port: u16,
    /// The proxy in front of ZooKeeper for this master, if it has one.
    pub link: Option<ZkLink>,
}

impl HaMaster {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Masters, agents, and the ZooKeeper they share. Dropping it kills every process and clears
/// the cgroups.
pub struct HaCluster {
    pub zk: Arc<ZooKeeper>,
    /// The masters' `--zk` (and the agents' `--master`): `zk://<server>/<unique path>`.
    pub zk_url: String,
    pub path: String,
    pub masters: Vec<HaMaster>,
    pub agents: Vec<Agent>,
    pub cgroups_root: String,
    pub dir: tempfile::TempDir,
    /// Follows no redirects.
    pub http: reqwest::Client,
}

impl HaCluster {
    /// `None` (after saying why) when ZooKeeper is not installed, outside CI.
    pub async fn zookeeper(test: &str) -> Option<Arc<ZooKeeper>> {
        let test = test.to_string();
        tokio::task::spawn_blocking(move || ZooKeeper::shared_or_skip(&test)).await.expect("join")
    }

    /// A cluster with no process yet.
    pub fn new(zk: Arc<ZooKeeper>) -> HaCluster {
        let path = zk.unique_path("mesos");
        HaCluster {
            zk_url: zk.url(&path),
            zk,
            path,
            masters: Vec::new(),
            agents: Vec::new(),
            cgroups_root: unique("marathon-ha"),
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        }
    }

    /// Starts master `i` (through a proxy that can cut its ZooKeeper link if `proxied`) and
    /// waits for its HTTP server.
    pub async fn add_master(&mut self, proxied: bool) -> usize {
        let i = self.masters.len();
        let port = free_port();
        let link = proxied.then(|| ZkLink::new(&self.zk).expect("proxy"));
        let zk = match &link {
            Some(link) => link.url(&self.path),
            None => self.zk_url.clone(),
        };
        let args: Vec<String> = [
            "master",
            "--port",
            &port.to_string(),
            "--work_dir",
            &self.dir.path().join(format!("master{i}")).display().to_string(),
            "--hostname",
            "localhost",
            "--allocation_interval",
            "200ms",
            "--zk",
            &zk,
            "--quorum",
            "1",
            "--zk_session_timeout",
            "2secs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = spawn(&args, &self.dir.path().join(format!("master{i}.log")));
        wait_for_http(&self.http, port).await;
        self.masters.push(HaMaster { proc, port, link });
        i
    }

    /// Starts agent `i` following the leading master in ZooKeeper.
    pub async fn add_agent(&mut self) {
        let i = self.agents.len();
        let port = free_port();
        let work_dir = self.dir.path().join(format!("agent{i}"));
        let args: Vec<String> = [
            "agent",
            "--master",
            &self.zk_url,
            "--zk_session_timeout",
            "2secs",
            "--port",
            &port.to_string(),
            "--work_dir",
            &work_dir.display().to_string(),
            "--hostname",
            &format!("agent{i}"),
            "--cgroups_root",
            &self.cgroups_root,
            "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = spawn(&args, &self.dir.path().join(format!("agent{i}.log")));
        wait_for_http(&self.http, port).await;
        self.agents.push(Agent { proc, port, work_dir, args });
    }

    async fn json(&self, url: String) -> Option<Value> {
        self.http.get(url).send().await.ok()?.json().await.ok()
    }

    /// Master `i`'s `/master/state` (`Null` if it does not answer).
    pub async fn state(&self, i: usize) -> Value {
        self.json(format!("http://{}/master/state", self.masters[i].addr())).await.unwrap_or(Value::Null)
    }

    /// Whether master `i` says it is elected (`master/elected` 1).
    pub async fn elected(&self, i: usize) -> bool {
        let metrics = self.json(format!("http://{}/metrics/snapshot", self.masters[i].addr())).await;
        metrics.is_some_and(|m| m["master/elected"] == 1.0)
    }

    /// The index of the elected master, once exactly one of the running ones says it is.
    pub async fn leader(&self, timeout: Duration) -> usize {
        eventually(timeout, "one elected master", || async {
            let mut elected = Vec::new();
            for i in 0..self.masters.len() {
                if self.elected(i).await {
                    elected.push(i);
                }
            }
            (elected.len() == 1).then(|| elected[0])
        })
        .await
    }

    /// Waits until master `i`'s state satisfies `pred`.
    pub async fn wait_state(&self, i: usize, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(timeout, what, || async {
            let s = self.state(i).await;
            pred(&s).then_some(s)
        })
        .await
    }

    /// Active agents in a state.
    pub fn active_agents(state: &Value) -> usize {
        state["slaves"].as_array().map_or(0, |a| a.iter().filter(|x| x["active"] == true).count())
    }

    pub fn cgroup_pids(&self) -> Vec<i32> {
        cgroup_root_pids(&self.cgroups_root)
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        for a in &mut self.agents {
            a.proc.kill();
        }
        for m in &mut self.masters {
            m.proc.kill();
        }
        clear_cgroup_root(&self.cgroups_root);
    }
}

async fn wait_for_http(http: &reqwest::Client, port: u16) {
    let url = format!("http://127.0.0.1:{port}/health");
    eventually(Duration::from_secs(20), &format!("HTTP on port {port}"), || async {
        http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}
