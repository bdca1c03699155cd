//! The [`Store`] trait.

use crate::error::{Result, StoreError};
use crate::types::{Batch, Entry, Generation, Namespace};

/// Marathon's durable state: opaque values under string keys in namespaces, versioned records,
/// and the generation used for fencing. See the crate docs for the rules.
///
/// Synchronous and dyn-compatible (`Arc<dyn Store>`); async code uses [`crate::AsyncStore`].
/// Reads see committed state only. Each single-key read is atomic; `list` is a snapshot on redb
/// and in memory, and on ZooKeeper only while no write is in flight (see the crate docs).
pub trait Store: Send + Sync {
    /// Short description for logs ("redb:/var/lib/marathon/state.redb", "memory").
    fn describe(&self) -> String;

    /// Versions kept per versioned key.
    fn max_versions(&self) -> usize;

    /// The registered generation ([`Generation::ZERO`] if never claimed).
    fn generation(&self) -> Result<Generation>;

    /// Registers `generation`, which must be strictly newer than the registered one
    /// (else [`StoreError::Fenced`]). From then on, writes carrying any other generation fail.
    fn claim_generation(&self, generation: Generation) -> Result<()>;

    /// Registers the generation after the current one and returns it. Atomic on redb and in
    /// memory; the provided implementation (for backends without a read-modify-write) retries a
    /// few times if another claimant wins a race in between.
    fn claim_next_generation(&self) -> Result<Generation> {
        const ATTEMPTS: usize = 16;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let current = self.generation()?;
            let next = current.next().ok_or_else(|| StoreError::Corrupt("generation overflow".to_owned()))?;
            match self.claim_generation(next) {
                Ok(()) => return Ok(next),
                Err(err @ StoreError::Fenced { .. }) => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Backend("could not claim a generation".to_owned())))
    }

    /// One record.
    fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>>;

    /// The keys of a namespace, sorted (by bytes).
    fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>>;

    /// Every record of a namespace, sorted by key, from one snapshot.
    fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>>;

    /// One version of a versioned key.
    fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>>;

    /// The versions of a key, oldest (smallest) first.
    fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>>;

    /// The keys of a namespace that have at least one version, sorted.
    fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>>;

    /// Applies `batch` atomically if `generation` is the registered one (else
    /// [`StoreError::Fenced`]) and every precondition holds (else [`StoreError::Conflict`]).
    /// `Ok` means durable: the batch survives a crash of the process (redb) or of a ZooKeeper
    /// quorum minority.
    fn apply(&self, generation: Generation, batch: &Batch) -> Result<()>;

    /// Creates or replaces one record.
    fn put(&self, generation: Generation, namespace: &Namespace, key: &str, value: Vec<u8>) -> Result<()> {
        self.apply(generation, &Batch::new().put(namespace.clone(), key, value))
    }

    /// Deletes one record (no-op if missing).
    fn delete(&self, generation: Generation, namespace: &Namespace, key: &str) -> Result<()> {
        self.apply(generation, &Batch::new().delete(namespace.clone(), key))
    }

    /// Stores one version of a key and prunes the oldest beyond [`Store::max_versions`].
    fn put_version(
        &self,
        generation: Generation,
        namespace: &Namespace,
        key: &str,
        version: &str,
        value: Vec<u8>,
    ) -> Result<()> {
        self.apply(generation, &Batch::new().put_version(namespace.clone(), key, version, value))
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn max_versions(&self) -> usize {
        (**self).max_versions()
    }
    fn generation(&self) -> Result<Generation> {
        (**self).generation()
    }
    fn claim_generation(&self, generation: Generation) -> Result<()> {
        (**self).claim_generation(generation)
    }
    fn claim_next_generation(&self) -> Result<Generation> {
        (**self).claim_next_generation()
    }
    fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
        (**self).get(namespace, key)
    }
    fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        (**self).list_keys(namespace)
    }
    fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
        (**self).list(namespace)
    }
    fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>> {
        (**self).get_version(namespace, key, version)
    }
    fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>> {
        (**self).list_versions(namespace, key)
    }
    fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        (**self).list_versioned_keys(namespace)
    }
    fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
        (**self).apply(generation, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryStore;

    /// A store that only has the required methods, as a ZooKeeper backend might.
    struct Plain(InMemoryStore);

    impl Store for Plain {
        fn describe(&self) -> String {
            "plain".to_owned()
        }
        fn max_versions(&self) -> usize {
            self.0.max_versions()
        }
        fn generation(&self) -> Result<Generation> {
            self.0.generation()
        }
        fn claim_generation(&self, generation: Generation) -> Result<()> {
            self.0.claim_generation(generation)
        }
        fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
            self.0.get(namespace, key)
        }
        fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
            self.0.list_keys(namespace)
        }
        fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
            self.0.list(namespace)
        }
        fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>> {
            self.0.get_version(namespace, key, version)
        }
        fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>> {
            self.0.list_versions(namespace, key)
        }
        fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
            self.0.list_versioned_keys(namespace)
        }
        fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
            self.0.apply(generation, batch)
        }
    }

    #[test]
    fn provided_methods() -> Result<()> {
        let store = Plain(InMemoryStore::new());
        assert_eq!(store.claim_next_generation()?, Generation(1));
        store.claim_generation(Generation(7))?;
        let g = store.claim_next_generation()?;
        assert_eq!(g, Generation(8));
        store.put(g, &Namespace::APPS, "/a", b"1".to_vec())?;
        store.put_version(g, &Namespace::APP_VERSIONS, "/a", "v1", b"1".to_vec())?;
        assert_eq!(store.get(&Namespace::APPS, "/a")?.map(|e| e.value), Some(b"1".to_vec()));
        assert_eq!(store.list_versions(&Namespace::APP_VERSIONS, "/a")?, ["v1"]);
        store.delete(g, &Namespace::APPS, "/a")?;
        assert_eq!(store.get(&Namespace::APPS, "/a")?, None);
        assert!(matches!(store.delete(Generation(7), &Namespace::APPS, "/a"), Err(StoreError::Fenced { .. })));
        Ok(())
    }

    #[test]
    fn provided_claim_next_never_hands_out_a_generation_twice() -> Result<()> {
        let store = std::sync::Arc::new(Plain(InMemoryStore::new()));
        let results: Vec<Result<Generation>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let store = std::sync::Arc::clone(&store);
                    scope.spawn(move || (0..25).map(|_| store.claim_next_generation()).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        // Losing every retry is allowed (as Fenced); winning the same generation twice is not.
        let mut won: Vec<Generation> = Vec::new();
        for result in results {
            match result {
                Ok(generation) => won.push(generation),
                Err(err) => assert!(matches!(err, StoreError::Fenced { .. }), "{err}"),
            }
        }
        won.sort();
        let count = won.len();
        won.dedup();
        assert_eq!(won.len(), count, "a generation was claimed twice");
        assert_eq!(won.last().copied(), Some(store.generation()?));
        Ok(())
    }
}
