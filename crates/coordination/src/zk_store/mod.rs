//! [`ZkStore`]: the ZooKeeper backend of [`store::Store`], as the `store` crate documents it.
//!
//! - **Layout** (`layout`): `<zk>/state/generation`, `<zk>/state/<ns>/records/<bucket>/<key>`,
//!   `<zk>/state/<ns>/versions/<bucket>/<key>/<version>`, `<zk>/state/chunks/...`; 16 buckets,
//!   percent-encoded keys. A record's revision is its node's `Stat.version + 1`.
//! - **Values** (`codec`): a tag byte, gzip above the compression threshold (64 KiB), and values
//!   that do not fit into the batch's `multi` (ZooKeeper's ≈1 MB request limit) in chunk nodes.
//! - **Batches** (`write`): one `multi` whose first op checks the version of the generation node
//!   seen when the generation was claimed; then the batch's creates, `setData`s (with the
//!   expected version, so revisions and preconditions hold) and deletes, version pruning
//!   included. The batch semantics are the `store` crate's own (`store::backend::apply`), run
//!   over an overlay of the nodes read before the `multi`.
//! - **Chunks**: a batch with chunked values first creates `chunks/c-<batch>` (data `pending`)
//!   and the chunks below it; its `multi` marks it `committed`. A failed batch deletes its chunks;
//!   a batch whose outcome is unknown (connection lost) leaves them `pending`, and the next
//!   [`Store::claim_generation`] (a new leader, before it loads state) deletes every pending
//!   batch: their `multi`s can no longer succeed, since they check the old generation.
//!   Chunks of values that are replaced or deleted go in the same `multi`.
//! - **Sessions**: the store has a session of its own. Calls wait at most the operation timeout
//!   (`--zk_timeout`, 10 s) for ZooKeeper; a call that fails because the session expired or the
//!   connection broke returns [`StoreError::Backend`] (for a write whose `multi` may have been
//!   sent: "outcome unknown", re-read before retrying), and the next call opens a new session.
//!   Fencing, not the session, keeps a deposed leader from writing.
//!
//! The trait is synchronous; the store runs its ZooKeeper client on a small runtime of its own
//! (one worker thread), so it can be called from any thread. From async code use
//! [`store::AsyncStore`], which calls it on the blocking pool.

mod codec;
mod layout;
mod read;
mod write;

use crate::session;
use crate::url::ZkUrl;
use layout::Layout;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::{Batch, Entry, Generation, Namespace, Result, Store, StoreError};
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

/// Settings of a [`ZkStore`] (Marathon's `--zk_*` flags).
#[derive(Debug, Clone)]
pub struct ZkStoreOptions {
    /// Versions kept per key (`--zk_max_versions`, 50).
    pub store: store::Options,
    /// ZooKeeper session timeout (`--zk_session_timeout`, 10 s).
    pub session_timeout: Duration,
    /// How long one call waits for ZooKeeper (`--zk_timeout`, 10 s).
    pub operation_timeout: Duration,
    /// Values larger than this are gzip-compressed (`--zk_compression_threshold`, 64 KiB);
    /// `None` disables compression (`--disable_zk_compression`).
    pub compression_threshold: Option<usize>,
    /// Largest request the store sends (`--zk_max_node_size`, 1,024,000 bytes, below ZooKeeper's
    /// default `jute.maxbuffer` of 1 MiB): a batch's `multi` stays below it, moving its largest
    /// values into chunks as needed, and chunks are a quarter of it at most (so a chunk write
    /// never comes near the limit).
    pub max_request_bytes: usize,
}

impl Default for ZkStoreOptions {
    fn default() -> ZkStoreOptions {
        ZkStoreOptions {
            store: store::Options::default(),
            session_timeout: session::DEFAULT_SESSION_TIMEOUT,
            operation_timeout: Duration::from_secs(10),
            compression_threshold: Some(64 << 10),
            max_request_bytes: 1_024_000,
        }
    }
}

impl ZkStoreOptions {
    fn validate(&self) -> Result<()> {
        self.store.validate()?;
        if self.max_request_bytes < 64 << 10 {
            return Err(StoreError::Invalid {
                what: "option",
                value: format!("max_request_bytes = {}", self.max_request_bytes),
                reason: "at least 64 KiB",
            });
        }
        Ok(())
    }

    /// Size of one chunk node's data.
    fn chunk_bytes(&self) -> usize {
        self.max_request_bytes / 4
    }
}

/// The ZooKeeper [`Store`]: state under `<zk>/state`. See the module docs.
pub struct ZkStore {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Inner {
    url: ZkUrl,
    layout: Layout,
    options: ZkStoreOptions,
    acls: Acls<'static>,
    /// The current session; replaced by a new one once it has expired or closed.
    session: tokio::sync::Mutex<Option<Client>>,
    /// Serializes claims and writes of this store, and remembers what they learnt.
    writer: tokio::sync::Mutex<Writer>,
}

/// What writes remember between calls.
#[derive(Default)]
struct Writer {
    /// The generation registered in the store and its node's version, as last seen.
    known: Option<(Generation, i32)>,
    /// Namespaces whose directories exist.
    ensured: HashSet<String>,
}

impl ZkStore {
    /// Opens the store under `url`'s path (`zk://hosts/marathon` keeps its state under
    /// `/marathon/state`) with default options: connects and creates the base nodes.
    pub fn open(url: &ZkUrl) -> Result<ZkStore> {
        ZkStore::open_with(url, ZkStoreOptions::default())
    }

    /// [`ZkStore::open`] with options.
    pub fn open_with(url: &ZkUrl, options: ZkStoreOptions) -> Result<ZkStore> {
        options.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zk-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the ZooKeeper store's runtime: {e}")))?;
        let store = ZkStore {
            inner: Arc::new(Inner {
                url: url.clone(),
                layout: Layout::new(&url.path),
                acls: session::state_acls(url),
                options,
                session: tokio::sync::Mutex::new(None),
                writer: tokio::sync::Mutex::new(Writer::default()),
            }),
            runtime: Some(runtime),
        };
        store.run(|inner| async move { inner.init().await })?;
        Ok(store)
    }

    /// Runs `f` on the store's runtime and waits for it.
    fn run<T, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Backend("the ZooKeeper store is closed".to_owned()));
        };
        let future = f(Arc::clone(&self.inner));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().unwrap_or_else(|_| Err(StoreError::Backend("the ZooKeeper store's runtime stopped".to_owned())))
    }

    /// Deletes the chunks of batches that never committed (see the module docs). Runs after
    /// every successful claim; exposed for tests and tools. A batch of another store that is
    /// writing its chunks right now fails (safely) if this runs meanwhile, so only the writer
    /// of the current generation should call it.
    pub fn sweep_pending_chunks(&self) -> Result<usize> {
        self.run(|inner| async move {
            let writer = inner.writer.lock().await;
            inner.sweep_pending_chunks(&writer).await
        })
    }

    /// The number of chunk nodes under `<zk>/state/chunks` (for tests: garbage shows up here).
    pub fn chunk_count(&self) -> Result<usize> {
        self.run(|inner| async move { inner.chunk_count().await })
    }
}

impl Drop for ZkStore {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside an async context nothing may block: the session ends when the server
            // notices the closed connection (it holds no ephemeral nodes).
            runtime.shutdown_background();
            return;
        }
        // Dropping the last client closes the session; give that a moment to go out.
        if let Ok(mut session) = self.inner.session.try_lock() {
            session.take();
        }
        runtime.shutdown_timeout(Duration::from_millis(200));
    }
}

impl Store for ZkStore {
    fn describe(&self) -> String {
        format!("zookeeper:{}", self.inner.url)
    }

    fn max_versions(&self) -> usize {
        self.inner.options.store.max_versions
    }

    fn generation(&self) -> Result<Generation> {
        self.run(|inner| async move { inner.read_generation().await.map(|(generation, _)| generation) })
    }

    fn claim_generation(&self, generation: Generation) -> Result<()> {
        self.run(move |inner| async move { inner.claim(Some(generation)).await.map(|_| ()) })
    }

    fn claim_next_generation(&self) -> Result<Generation> {
        self.run(|inner| async move { inner.claim(None).await })
    }

    fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
        store::backend::validate_key(key)?;
        let (namespace, key) = (namespace.clone(), key.to_owned());
        self.run(move |inner| async move { inner.get(&namespace, &key).await })
    }

    fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let namespace = namespace.clone();
        self.run(move |inner| async move { inner.list_keys(&namespace).await })
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
        let namespace = namespace.clone();
        self.run(move |inner| async move { inner.list(&namespace).await })
    }

    fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>> {
        store::backend::validate_key(key)?;
        store::backend::validate_version(version)?;
        let path = self.inner.layout.version(namespace.as_str(), key, version);
        self.run(move |inner| async move { inner.get_value(&path).await.map(|found| found.map(|(value, _)| value)) })
    }

    fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>> {
        store::backend::validate_key(key)?;
        let path = self.inner.layout.version_key(namespace.as_str(), key);
        self.run(move |inner| async move {
            let mut versions = inner.decoded_children(&path).await?.unwrap_or_default();
            versions.sort();
            Ok(versions)
        })
    }

    fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let namespace = namespace.clone();
        self.run(move |inner| async move { inner.list_versioned_keys(&namespace).await })
    }

    fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
        batch.validate()?;
        let batch = batch.clone();
        self.run(move |inner| async move { inner.apply(generation, &batch).await })
    }
}

impl Inner {
    /// A live session: the current one, or a new one if it expired or closed.
    async fn client(&self) -> Result<Client> {
        let mut session = self.session.lock().await;
        if let Some(client) = session.as_ref()
            && !client.state().is_terminated()
        {
            return Ok(client.clone());
        }
        if session.is_some() {
            tracing::warn!(url = %self.url, "the ZooKeeper store's session ended; opening a new one");
        }
        let connect = session::connect(&self.url, self.options.session_timeout);
        let client = match tokio::time::timeout(self.options.operation_timeout, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => return Err(backend(&format!("connect to {}", self.url), &err)),
            Err(_) => return Err(StoreError::Backend(format!("zookeeper: connect to {}: timed out", self.url))),
        };
        *session = Some(client.clone());
        Ok(client)
    }

    /// Waits for `future` at most the operation timeout (then [`zookeeper_client::Error::Timeout`]).
    async fn timed<T>(
        &self,
        future: impl Future<Output = std::result::Result<T, zookeeper_client::Error>>,
    ) -> std::result::Result<T, zookeeper_client::Error> {
        tokio::time::timeout(self.options.operation_timeout, future)
            .await
            .unwrap_or(Err(zookeeper_client::Error::Timeout))
    }

    fn persistent(&self) -> CreateOptions<'static> {
        CreateMode::Persistent.with_acls(self.acls)
    }

    /// Creates `<zk>/state`, the generation node (at 0) and the chunks directory if missing.
    async fn init(&self) -> Result<()> {
        let client = self.client().await?;
        let options = self.persistent();
        self.timed(client.mkdir(self.layout.state(), &options))
            .await
            .map_err(|e| backend(&format!("create {}", self.layout.state()), &e))?;
        for (path, data) in [(self.layout.generation(), &b"0"[..]), (self.layout.chunks(), &b""[..])] {
            match self.timed(client.create(&path, data, &options)).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(err) => return Err(backend(&format!("create {path}"), &err)),
            }
        }
        Ok(())
    }
}

/// A ZooKeeper error as a store error.
fn backend(what: &str, err: &zookeeper_client::Error) -> StoreError {
    StoreError::Backend(format!("zookeeper: {what}: {err}"))
}
