//! Marathon schedulers in ZooKeeper, as Marathon 1.4+ does it: a Curator `LeaderLatch` under
//! `<zk-path>/leader-curator` (nodes `_c_<uuid>-latch-<seq>`, the lowest sequence leads), each
//! node holding its participant's id, `<hostname>:<http_port>`. `GET /v2/leader` answers that id
//! on every node: the leader its own, the others the data of the leader's node.

use crate::election::{Election, ElectionConfig, Leadership, Naming};
use crate::session;
use crate::url::ZkUrl;
use std::time::Duration;

/// The latch directory under Marathon's `--zk` path.
pub const LEADER_DIR: &str = "leader-curator";

/// `<zk-path>/leader-curator`.
pub fn latch_dir(zk: &ZkUrl) -> String {
    format!("{}/{LEADER_DIR}", zk.path)
}

/// A scheduler's candidacy; `zk` is Marathon's `--zk` URL, `participant` its
/// `<hostname>:<http_port>`.
pub fn contend(zk: &ZkUrl, participant: &str, session_timeout: Duration) -> Election {
    Election::start(ElectionConfig {
        url: zk.clone(),
        dir: latch_dir(zk),
        naming: Naming::curator(),
        data: participant.as_bytes().to_vec(),
        contend: true,
        session_timeout,
    })
}

/// The leader's id given this participant's leadership: its own id when it leads, the data of
/// the leader's node when it follows, `None` when unknown or nobody leads.
pub fn leader_id(leadership: &Leadership, own: &str) -> Option<String> {
    match leadership {
        Leadership::Leader { .. } => Some(own.to_owned()),
        Leadership::Follower { leader: Some(info) } => String::from_utf8(info.data.clone()).ok(),
        Leadership::Follower { leader: None } | Leadership::Unknown => None,
    }
}

/// Reads the current leader's id once (for tools and tests): `None` if nobody leads.
pub async fn read_leader(zk: &ZkUrl, session_timeout: Duration) -> Result<Option<String>, zookeeper_client::Error> {
    let client = session::connect(zk, session_timeout).await?;
    let dir = latch_dir(zk);
    let children = match client.list_children(&dir).await {
        Ok(children) => children,
        Err(zookeeper_client::Error::NoNode) => return Ok(None),
        Err(err) => return Err(err),
    };
    // Any protection prefix: order by the sequence after the last `latch-`.
    let naming = Naming::Curator { protection: String::new() };
    for (_, node) in naming.members(&children) {
        match client.get_data(&format!("{dir}/{node}")).await {
            Ok((data, _)) => return Ok(String::from_utf8(data).ok()),
            // Gone meanwhile: the next one leads.
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}
