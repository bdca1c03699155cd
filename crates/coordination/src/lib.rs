//! ZooKeeper for high availability (issue 14; DESIGN.md §3, §7):
//!
//! - [`url`]: `zk://[user:pass@]host1:port1,host2:port2/path` as Mesos and Marathon accept it.
//! - [`ZkStore`]: the ZooKeeper backend of [`store::Store`] (Marathon's state, fenced by
//!   generations, batches atomic through `multi`, large values compressed and chunked).
//! - [`election`]: leader election as a pure state machine ([`election::Elector`]) and its
//!   ZooKeeper shell ([`election::Election`]), with the node naming of Mesos masters
//!   ([`mesos`]: `json.info_<seq>` nodes holding MasterInfo JSON, and the master detector agents
//!   and frameworks use) and of Marathon ([`marathon`]: Curator's `LeaderLatch` under
//!   `<zk>/leader-curator`).
//!
//! ZooKeeper itself is [`zookeeper_client`] (async, tokio); sessions are opened by
//! [`session::connect`].

pub mod election;
pub mod marathon;
pub mod mesos;
pub mod session;
pub mod url;

mod zk_store;

pub use election::{Election, ElectionConfig, LeaderInfo, Leadership};
pub use url::{UrlError, ZkUrl};
pub use zk_store::{ZkStore, ZkStoreOptions};
