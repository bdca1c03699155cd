//! [`ZkRegistry`]: the registry in ZooKeeper, for masters that contend there (`--zk`).
//!
//! It is one record of the `store` crate's ZooKeeper backend ([`coordination::ZkStore`]): the
//! registry's JSON (the format of `registry.json`) as the record `registry` of namespace
//! `registry`, compressed and chunked by the store when it grows large, and every write fenced
//! by the store's generation. Loading it claims the next generation first, so once a new
//! leader has loaded the registry, no write of an earlier leader can land, however late it
//! arrives ([`RegistryError::Fenced`]).
//!
//! Where: below `<path>/log_replicas/registry` of the `--zk` URL (`/mesos/log_replicas/registry/
//! state/...`), never directly under `<path>`. Tools find the leading master by listing the
//! children of `<path>`: pymesos takes the smallest child name except `log_replicas` (where
//! upstream's replicated log keeps its replicas) and reads it as MasterInfo, mesoshttp the first
//! child starting with `json`, our detector only `json.info_*` members. Another child of
//! `<path>` would be taken for the leading master by pymesos whenever it sorts first, and
//! always while no master is up; under `log_replicas` every detector skips it.

use super::{Registry, RegistryError, RegistryStore, decode, encode};
use coordination::{ZkStore, ZkStoreOptions, ZkUrl};
use std::path::Path;
use std::time::Duration;
use store::{Generation, Namespace, Store, StoreError};

/// The registry in ZooKeeper; see the module docs.
pub struct ZkRegistry {
    url: ZkUrl,
    options: ZkStoreOptions,
    /// The store and the generation claimed by the last load.
    open: Option<(ZkStore, Generation)>,
}

impl std::fmt::Debug for ZkRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkRegistry").field("url", &self.url.to_string()).finish()
    }
}

const KEY: &str = "registry";

fn namespace() -> Namespace {
    // A valid name: lowercase letters only.
    Namespace::new("registry").unwrap_or(Namespace::APPS)
}

impl ZkRegistry {
    /// The directory below the `--zk` path.
    pub const DIR: &'static str = "log_replicas/registry";

    /// The registry of the masters contending under `zk` (`zk://hosts/mesos`).
    pub fn new(zk: &ZkUrl, session_timeout: Duration) -> ZkRegistry {
        let mut url = zk.clone();
        url.path = format!("{}/{}", zk.path, Self::DIR);
        let options = ZkStoreOptions { session_timeout, ..ZkStoreOptions::default() };
        ZkRegistry { url, options, open: None }
    }

    /// The ZooKeeper node the store keeps its state under.
    pub fn path(&self) -> &str {
        &self.url.path
    }

    fn error(&self, err: StoreError) -> RegistryError {
        match err {
            StoreError::Fenced { .. } => RegistryError::Fenced { path: self.url.path.clone() },
            other => RegistryError::ZooKeeper { path: self.url.path.clone(), reason: other.to_string() },
        }
    }
}

impl RegistryStore for ZkRegistry {
    fn load(&mut self) -> Result<Option<Registry>, RegistryError> {
        // A new session and a new claim for every term.
        self.open = None;
        let store = ZkStore::open_with(&self.url, self.options.clone()).map_err(|e| self.error(e))?;
        let generation = store.claim_next_generation().map_err(|e| self.error(e))?;
        let entry = store.get(&namespace(), KEY).map_err(|e| self.error(e))?;
        tracing::info!(path = %self.url.path, generation = generation.0, found = entry.is_some(), "claimed the registry in ZooKeeper");
        self.open = Some((store, generation));
        entry.map(|entry| decode(&entry.value, Path::new(&self.url.path))).transpose()
    }

    fn store(&mut self, registry: &Registry) -> Result<(), RegistryError> {
        let Some((store, generation)) = &self.open else {
            return Err(RegistryError::NotLoaded { path: self.url.path.clone() });
        };
        store.put(*generation, &namespace(), KEY, encode(registry)).map_err(|e| self.error(e))
    }
}
