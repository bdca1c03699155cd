//! ZooKeeper for high availability (issue 14; DESIGN.md §3, §7):
//!
//! - [`url`]: `zk://[user:pass@]host1:port1,host2:port2/path` as Mesos and Marathon accept it.
//! - [`ZkStore`]: the ZooKeeper backend of [`store::Store`] (Marathon's state, fenced by
//!   generations, batches atomic through `multi`, large values compressed and chunked).
//!
//! ZooKeeper itself is [`zookeeper_client`] (async, tokio); sessions are opened by
//! [`session::connect`].

pub mod session;
pub mod url;

mod zk_store;

pub use url::{UrlError, ZkUrl};
pub use zk_store::{ZkStore, ZkStoreOptions};
