//! [`InMemoryStore`]: the same semantics as the durable stores, kept in memory, for tests.

use crate::api::Store;
use crate::apply::{self, Txn};
use crate::error::{Result, StoreError};
use crate::types::{Batch, Entry, Generation, Namespace, Options, Revision, validate_key, validate_version};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

type Records = BTreeMap<String, BTreeMap<String, (Revision, Vec<u8>)>>;
type Versions = BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<u8>>>>;

#[derive(Default)]
struct State {
    generation: Generation,
    records: Records,
    versions: Versions,
    /// Writes (claims and batches) that fail with an injected backend error before applying.
    failures_to_inject: usize,
    commits: u64,
}

/// A store in memory. Clones share the same state, so two clones can play two leaders.
///
/// Passes the same conformance suite as [`crate::RedbStore`]; nothing survives the process.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
    options: Options,
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore").field("options", &self.options).finish_non_exhaustive()
    }
}

impl InMemoryStore {
    /// An empty store with default options.
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }

    /// An empty store with the given options.
    pub fn with_options(options: Options) -> Result<InMemoryStore> {
        options.validate()?;
        Ok(InMemoryStore { state: Arc::default(), options })
    }

    /// Makes the next `n` writes (claims or batches) fail with [`StoreError::Backend`] without
    /// changing anything, to test how callers handle a failing store.
    pub fn inject_failures(&self, n: usize) {
        self.lock().failures_to_inject = n;
    }

    /// Number of successful writes (claims and non-failing batches) so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied batch (the undo log rolls
        // back before returning an error), so a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write<T>(&self, f: impl FnOnce(&mut MemTxn<'_>) -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        if state.failures_to_inject > 0 {
            state.failures_to_inject -= 1;
            return Err(StoreError::Backend("injected failure".to_owned()));
        }
        let mut txn = MemTxn { state: &mut state, undo: Vec::new() };
        match f(&mut txn) {
            Ok(value) => {
                txn.state.commits += 1;
                Ok(value)
            }
            Err(err) => {
                txn.rollback();
                Err(err)
            }
        }
    }
}

enum Undo {
    Generation(Generation),
    Record { namespace: String, key: String, previous: Option<(Revision, Vec<u8>)> },
    Version { namespace: String, key: String, version: String, previous: Option<Vec<u8>> },
}

struct MemTxn<'a> {
    state: &'a mut State,
    undo: Vec<Undo>,
}

impl MemTxn<'_> {
    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Generation(generation) => self.state.generation = generation,
                Undo::Record { namespace, key, previous } => match previous {
                    Some(record) => {
                        self.state.records.entry(namespace).or_default().insert(key, record);
                    }
                    None => {
                        remove_record(&mut self.state.records, &namespace, &key);
                    }
                },
                Undo::Version { namespace, key, version, previous } => match previous {
                    Some(value) => {
                        self.state
                            .versions
                            .entry(namespace)
                            .or_default()
                            .entry(key)
                            .or_default()
                            .insert(version, value);
                    }
                    None => {
                        remove_version(&mut self.state.versions, &namespace, &key, &version);
                    }
                },
            }
        }
    }
}

fn remove_record(records: &mut Records, namespace: &str, key: &str) -> Option<(Revision, Vec<u8>)> {
    let keys = records.get_mut(namespace)?;
    let previous = keys.remove(key);
    if keys.is_empty() {
        records.remove(namespace);
    }
    previous
}

fn remove_version(versions: &mut Versions, namespace: &str, key: &str, version: &str) -> Option<Vec<u8>> {
    let keys = versions.get_mut(namespace)?;
    let of_key = keys.get_mut(key)?;
    let previous = of_key.remove(version);
    if of_key.is_empty() {
        keys.remove(key);
        if keys.is_empty() {
            versions.remove(namespace);
        }
    }
    previous
}

impl Txn for MemTxn<'_> {
    fn generation(&mut self) -> Result<Generation> {
        Ok(self.state.generation)
    }

    fn set_generation(&mut self, generation: Generation) -> Result<()> {
        self.undo.push(Undo::Generation(self.state.generation));
        self.state.generation = generation;
        Ok(())
    }

    fn revision(&mut self, namespace: &str, key: &str) -> Result<Option<Revision>> {
        Ok(self.state.records.get(namespace).and_then(|keys| keys.get(key)).map(|(rev, _)| *rev))
    }

    fn put_record(&mut self, namespace: &str, key: &str, revision: Revision, value: &[u8]) -> Result<()> {
        let previous = self
            .state
            .records
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), (revision, value.to_vec()));
        self.undo.push(Undo::Record { namespace: namespace.to_owned(), key: key.to_owned(), previous });
        Ok(())
    }

    fn delete_record(&mut self, namespace: &str, key: &str) -> Result<()> {
        let previous = remove_record(&mut self.state.records, namespace, key);
        self.undo.push(Undo::Record { namespace: namespace.to_owned(), key: key.to_owned(), previous });
        Ok(())
    }

    fn versions(&mut self, namespace: &str, key: &str) -> Result<Vec<String>> {
        Ok(self
            .state
            .versions
            .get(namespace)
            .and_then(|keys| keys.get(key))
            .map(|of_key| of_key.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn put_version(&mut self, namespace: &str, key: &str, version: &str, value: &[u8]) -> Result<()> {
        let previous = self
            .state
            .versions
            .entry(namespace.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default()
            .insert(version.to_owned(), value.to_vec());
        self.undo.push(Undo::Version {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            version: version.to_owned(),
            previous,
        });
        Ok(())
    }

    fn delete_version(&mut self, namespace: &str, key: &str, version: &str) -> Result<()> {
        if let Some(previous) = remove_version(&mut self.state.versions, namespace, key, version) {
            self.undo.push(Undo::Version {
                namespace: namespace.to_owned(),
                key: key.to_owned(),
                version: version.to_owned(),
                previous: Some(previous),
            });
        }
        Ok(())
    }
}

impl Store for InMemoryStore {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn max_versions(&self) -> usize {
        self.options.max_versions
    }

    fn generation(&self) -> Result<Generation> {
        Ok(self.lock().generation)
    }

    fn claim_generation(&self, generation: Generation) -> Result<()> {
        self.write(|txn| apply::claim(txn, generation))
    }

    fn claim_next_generation(&self) -> Result<Generation> {
        self.write(|txn| apply::claim_next(txn))
    }

    fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        let state = self.lock();
        let record = state.records.get(namespace.as_str()).and_then(|keys| keys.get(key));
        Ok(record.map(|(revision, value)| Entry { value: value.clone(), revision: *revision }))
    }

    fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let state = self.lock();
        Ok(state.records.get(namespace.as_str()).map(|keys| keys.keys().cloned().collect()).unwrap_or_default())
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
        let state = self.lock();
        let Some(keys) = state.records.get(namespace.as_str()) else { return Ok(Vec::new()) };
        Ok(keys
            .iter()
            .map(|(key, (revision, value))| (key.clone(), Entry { value: value.clone(), revision: *revision }))
            .collect())
    }

    fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        validate_version(version)?;
        let state = self.lock();
        Ok(state.versions.get(namespace.as_str()).and_then(|keys| keys.get(key)).and_then(|v| v.get(version)).cloned())
    }

    fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>> {
        validate_key(key)?;
        let state = self.lock();
        Ok(state
            .versions
            .get(namespace.as_str())
            .and_then(|keys| keys.get(key))
            .map(|of_key| of_key.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let state = self.lock();
        Ok(state.versions.get(namespace.as_str()).map(|keys| keys.keys().cloned().collect()).unwrap_or_default())
    }

    fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
        batch.validate()?;
        let max_versions = self.options.max_versions;
        self.write(|txn| apply::apply(txn, generation, batch, max_versions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_failures_change_nothing() -> Result<()> {
        let store = InMemoryStore::new();
        let g = store.claim_next_generation()?;
        store.put(g, &Namespace::APPS, "/a", b"1".to_vec())?;
        let commits = store.commits();
        store.inject_failures(2);
        let batch = Batch::new().put(Namespace::APPS, "/a", b"2".to_vec()).put(Namespace::APPS, "/b", b"2".to_vec());
        assert!(matches!(store.apply(g, &batch), Err(StoreError::Backend(_))));
        assert!(matches!(store.claim_generation(Generation(9)), Err(StoreError::Backend(_))));
        assert_eq!(store.generation()?, g);
        assert_eq!(store.get(&Namespace::APPS, "/a")?.map(|e| e.value), Some(b"1".to_vec()));
        assert_eq!(store.commits(), commits);
        store.apply(g, &batch)?;
        assert_eq!(store.list_keys(&Namespace::APPS)?, ["/a", "/b"]);
        Ok(())
    }

    #[test]
    fn a_failed_batch_rolls_back_in_reverse_order() -> Result<()> {
        let store = InMemoryStore::with_options(Options { max_versions: 2 })?;
        let g = Generation::ZERO;
        store.apply(g, &Batch::new().put_version(Namespace::APP_VERSIONS, "/a", "v1", b"1".to_vec()))?;
        store.apply(g, &Batch::new().put_version(Namespace::APP_VERSIONS, "/a", "v2", b"2".to_vec()))?;
        store.put(g, &Namespace::APPS, "/a", b"old".to_vec())?;
        // Prunes v1, replaces v2, deletes and re-creates a record, then fails.
        let batch = Batch::new()
            .put_version(Namespace::APP_VERSIONS, "/a", "v3", b"3".to_vec())
            .put_version(Namespace::APP_VERSIONS, "/a", "v2", b"2'".to_vec())
            .delete(Namespace::APPS, "/a")
            .put(Namespace::APPS, "/a", b"new".to_vec())
            .delete_all_versions(Namespace::APP_VERSIONS, "/a")
            .put_if(Namespace::APPS, "/a", b"x".to_vec(), crate::Expect::Absent);
        assert!(matches!(store.apply(g, &batch), Err(StoreError::Conflict { .. })));
        assert_eq!(store.list_versions(&Namespace::APP_VERSIONS, "/a")?, ["v1", "v2"]);
        assert_eq!(store.get_version(&Namespace::APP_VERSIONS, "/a", "v2")?, Some(b"2".to_vec()));
        assert_eq!(store.get(&Namespace::APPS, "/a")?, Some(Entry { value: b"old".to_vec(), revision: Revision(1) }));
        Ok(())
    }
}
