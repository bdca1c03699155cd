//! Mesos masters in ZooKeeper, as Mesos does it (`src/master/contender/zookeeper.cpp`,
//! `src/master/detector/zookeeper.cpp`): every master creates an ephemeral sequential
//! `<path>/json.info_<seq>` holding its MasterInfo as JSON; the lowest sequence leads. Agents,
//! frameworks and tools (pymesos, mesoshttp) find the leader by listing `<path>` and reading the
//! lowest `json.info_*` child (pymesos reads `address.ip` and `address.port`, mesoshttp `pid`).
//!
//! Keep other nodes out of `<path>`: pymesos takes `min()` of every child but `log_replicas`.

use crate::election::{Election, ElectionConfig, Leadership, Naming};
use crate::url::ZkUrl;
use mesos_api::MasterInfo;
use std::time::Duration;
use tokio::sync::watch;

/// A master's candidacy: `url`'s path is the Mesos ZooKeeper path (`zk://.../mesos`).
pub fn contend(url: &ZkUrl, info: &MasterInfo, session_timeout: Duration) -> Election {
    Election::start(ElectionConfig {
        url: url.clone(),
        dir: url.path.clone(),
        naming: Naming::Mesos,
        data: master_info_json(info),
        contend: true,
        session_timeout,
    })
}

/// The node data Mesos writes: MasterInfo as JSON.
pub fn master_info_json(info: &MasterInfo) -> Vec<u8> {
    // Serializing a struct of strings and numbers cannot fail.
    serde_json::to_vec(info).unwrap_or_default()
}

/// The MasterInfo in a leader node's data; `None` (with a warning) if it is not MasterInfo JSON
/// (an old Mesos' protobuf `info_` node is never chosen: it is not a `json.info_` member).
pub fn parse_master_info(node: &str, data: &[u8]) -> Option<MasterInfo> {
    match serde_json::from_slice(data) {
        Ok(info) => Some(info),
        Err(err) => {
            tracing::warn!(%node, %err, "the leading master's node does not hold MasterInfo JSON");
            None
        }
    }
}

/// Where to reach a master over HTTP, `host:port`, as pymesos takes it from the node:
/// `address.ip` and `address.port`, else its hostname and port.
pub fn http_address(info: &MasterInfo) -> String {
    let port = if info.address.port != 0 { info.address.port } else { info.port };
    match (&info.address.ip, &info.address.hostname) {
        (Some(ip), _) if ip.contains(':') => format!("[{ip}]:{port}"),
        (Some(ip), _) => format!("{ip}:{port}"),
        (None, Some(hostname)) => format!("{hostname}:{port}"),
        (None, None) => format!("{}:{port}", info.hostname),
    }
}

/// Follows the leading master of `zk://.../mesos`, as agents and frameworks do.
pub struct MasterDetector {
    leader: watch::Receiver<Option<MasterInfo>>,
    election: Election,
    task: tokio::task::JoinHandle<()>,
}

impl MasterDetector {
    /// Starts following (on the current tokio runtime). The leader is `None` until one is found
    /// and while there is none. While ZooKeeper is unreachable (the session disconnected, or a new
    /// one being opened), the last leader found stays: the masters may well be fine.
    pub fn start(url: &ZkUrl, session_timeout: Duration) -> MasterDetector {
        let election = Election::start(ElectionConfig {
            url: url.clone(),
            dir: url.path.clone(),
            naming: Naming::Mesos,
            data: Vec::new(),
            contend: false,
            session_timeout,
        });
        let (tx, leader) = watch::channel(None);
        let mut leadership = election.leadership();
        let task = tokio::spawn(async move {
            loop {
                let now = leadership.borrow_and_update().clone();
                let found = match now {
                    Leadership::Follower { leader: Some(info) } => Some(parse_master_info(&info.node, &info.data)),
                    Leadership::Follower { leader: None } => Some(None),
                    Leadership::Unknown | Leadership::Leader { .. } => None,
                };
                if let Some(found) = found {
                    tx.send_if_modified(|current| {
                        let changed = *current != found;
                        *current = found;
                        changed
                    });
                }
                if leadership.changed().await.is_err() {
                    return;
                }
            }
        });
        MasterDetector { leader, election, task }
    }

    /// The leading master as it changes.
    pub fn leader(&self) -> watch::Receiver<Option<MasterInfo>> {
        self.leader.clone()
    }

    /// The leading master now.
    pub fn current(&self) -> Option<MasterInfo> {
        self.leader.borrow().clone()
    }

    /// Waits until a leader is known (at most `timeout`).
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<MasterInfo> {
        let mut leader = self.leader.clone();
        let found = tokio::time::timeout(timeout, leader.wait_for(|l| l.is_some())).await;
        found.ok().and_then(|r| r.ok()).and_then(|l| l.clone())
    }

    /// Stops following.
    pub async fn stop(self) {
        self.task.abort();
        self.election.stop().await;
    }
}
