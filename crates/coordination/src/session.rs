//! Connecting to ZooKeeper from a [`ZkUrl`]: servers, session timeout, `digest` credentials and
//! the ACLs of the nodes we create.

use crate::url::ZkUrl;
use std::time::Duration;
use zookeeper_client::{Acl, Acls, Client, Permission};

/// Sessions time out after 10 s unless configured (Marathon's `--zk_session_timeout` 10000 ms,
/// Mesos' `--zk_session_timeout` 10secs).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a session with the servers of `url` (its credentials, if any, as `digest` auth). Waits
/// up to about `session_timeout` for a server to answer.
pub async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<Client, zookeeper_client::Error> {
    let mut connector = Client::connector().with_session_timeout(session_timeout);
    if let Some(credentials) = &url.credentials {
        connector = connector.with_auth("digest", &credentials.digest());
    }
    connector.connect(&url.connect_string()).await
}

/// Creator-all plus world-read, as Marathon's leader latch with credentials.
static CREATOR_ALL_ANYONE_READ: [Acl; 2] =
    [Acl::new_const(Permission::ALL, "auth", ""), Acl::new_const(Permission::READ, "world", "anyone")];

/// ACLs of state nodes: open without credentials; with credentials only their creator's
/// (Marathon: `CREATOR_ALL_ACL` on `state`).
pub fn state_acls(url: &ZkUrl) -> Acls<'static> {
    if url.credentials.is_some() { Acls::creator_all() } else { Acls::anyone_all() }
}

/// ACLs of election nodes: open without credentials; with credentials the creator's, and anyone
/// may read (so that tools find the leader).
pub fn election_acls(url: &ZkUrl) -> Acls<'static> {
    if url.credentials.is_some() { Acls::new(&CREATOR_ALL_ANYONE_READ) } else { Acls::anyone_all() }
}
