//! Shared by the coordination tests: ZooKeeper servers (`xtask::zookeeper`), quick store options
//! and logging.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use coordination::{ZkStore, ZkStoreOptions, ZkUrl};
use std::sync::Arc;
use std::time::Duration;
pub use xtask::zookeeper::{ZkLink, ZooKeeper};

/// Logs to the test's output (`RUST_LOG=debug` for more).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,zookeeper_client=warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Store options for tests: short sessions and timeouts.
pub fn quick_options() -> ZkStoreOptions {
    ZkStoreOptions {
        session_timeout: Duration::from_secs(4),
        operation_timeout: Duration::from_secs(5),
        ..ZkStoreOptions::default()
    }
}

pub fn url(text: &str) -> ZkUrl {
    ZkUrl::parse(text).unwrap()
}

/// A store on its own path of a (shared) server.
pub fn fresh_store(zk: &ZooKeeper, name: &str, options: ZkStoreOptions) -> (ZkStore, ZkUrl) {
    let url = url(&zk.url(&zk.unique_path(name)));
    (ZkStore::open_with(&url, options).unwrap(), url)
}

/// A shared standalone server, or `None` (after saying why) when ZooKeeper is not installed.
pub fn shared(test: &str) -> Option<Arc<ZooKeeper>> {
    init_logging();
    ZooKeeper::shared_or_skip(test)
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}
