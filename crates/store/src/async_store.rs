//! [`AsyncStore`]: the [`Store`] for async code; every call runs on tokio's blocking pool.

use crate::api::Store;
use crate::error::{Result, StoreError};
use crate::types::{Batch, Entry, Generation, Namespace};
use std::fmt;
use std::sync::Arc;

/// A cloneable async handle on a [`Store`]. Each call runs the synchronous store method with
/// [`tokio::task::spawn_blocking`], so an fsync never stalls a runtime worker.
///
/// Dropping a returned future does not cancel the call: a write may still commit. After a
/// cancelled or failed write, re-read before deciding what happened.
#[derive(Clone)]
pub struct AsyncStore {
    inner: Arc<dyn Store>,
}

impl fmt::Debug for AsyncStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncStore").field(&self.inner.describe()).finish()
    }
}

impl AsyncStore {
    /// Wraps a shared store.
    pub fn new(inner: Arc<dyn Store>) -> AsyncStore {
        AsyncStore { inner }
    }

    /// Wraps a store.
    pub fn from_store(store: impl Store + 'static) -> AsyncStore {
        AsyncStore { inner: Arc::new(store) }
    }

    /// The synchronous store (for code already on a blocking thread).
    pub fn sync(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Runs `f` on the blocking pool. A panic inside `f` is resumed in the caller.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || f(inner.as_ref())).await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(StoreError::Backend(format!("store call did not complete: {err}"))),
        }
    }

    /// See [`Store::generation`].
    pub async fn generation(&self) -> Result<Generation> {
        self.run(|s| s.generation()).await
    }

    /// See [`Store::claim_generation`].
    pub async fn claim_generation(&self, generation: Generation) -> Result<()> {
        self.run(move |s| s.claim_generation(generation)).await
    }

    /// See [`Store::claim_next_generation`].
    pub async fn claim_next_generation(&self) -> Result<Generation> {
        self.run(|s| s.claim_next_generation()).await
    }

    /// See [`Store::get`].
    pub async fn get(&self, namespace: Namespace, key: impl Into<String>) -> Result<Option<Entry>> {
        let key = key.into();
        self.run(move |s| s.get(&namespace, &key)).await
    }

    /// See [`Store::list_keys`].
    pub async fn list_keys(&self, namespace: Namespace) -> Result<Vec<String>> {
        self.run(move |s| s.list_keys(&namespace)).await
    }

    /// See [`Store::list`].
    pub async fn list(&self, namespace: Namespace) -> Result<Vec<(String, Entry)>> {
        self.run(move |s| s.list(&namespace)).await
    }

    /// See [`Store::get_version`].
    pub async fn get_version(
        &self,
        namespace: Namespace,
        key: impl Into<String>,
        version: impl Into<String>,
    ) -> Result<Option<Vec<u8>>> {
        let (key, version) = (key.into(), version.into());
        self.run(move |s| s.get_version(&namespace, &key, &version)).await
    }

    /// See [`Store::list_versions`].
    pub async fn list_versions(&self, namespace: Namespace, key: impl Into<String>) -> Result<Vec<String>> {
        let key = key.into();
        self.run(move |s| s.list_versions(&namespace, &key)).await
    }

    /// See [`Store::list_versioned_keys`].
    pub async fn list_versioned_keys(&self, namespace: Namespace) -> Result<Vec<String>> {
        self.run(move |s| s.list_versioned_keys(&namespace)).await
    }

    /// See [`Store::apply`].
    pub async fn apply(&self, generation: Generation, batch: Batch) -> Result<()> {
        self.run(move |s| s.apply(generation, &batch)).await
    }

    /// See [`Store::put`].
    pub async fn put(
        &self,
        generation: Generation,
        namespace: Namespace,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Result<()> {
        self.apply(generation, Batch::new().put(namespace, key, value)).await
    }

    /// See [`Store::delete`].
    pub async fn delete(&self, generation: Generation, namespace: Namespace, key: impl Into<String>) -> Result<()> {
        self.apply(generation, Batch::new().delete(namespace, key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryStore;

    #[tokio::test]
    async fn async_calls_reach_the_store() -> Result<()> {
        let store = AsyncStore::from_store(InMemoryStore::new());
        let generation = store.claim_next_generation().await?;
        store.put(generation, Namespace::APPS, "/a", b"one".to_vec()).await?;
        let entry = store.get(Namespace::APPS, "/a").await?;
        assert_eq!(entry.map(|e| e.value), Some(b"one".to_vec()));
        assert_eq!(store.list_keys(Namespace::APPS).await?, vec!["/a".to_owned()]);
        let stale = store.put(Generation(0), Namespace::APPS, "/a", b"two".to_vec()).await;
        assert_eq!(stale, Err(StoreError::Fenced { current: generation, attempted: Generation(0) }));
        Ok(())
    }
}
