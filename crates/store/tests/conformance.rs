//! The conformance suite (`store::conformance`) against the in-memory and the redb backend.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use store::conformance::Backend;
use store::{InMemoryStore, Options, RedbStore, Store, StoreError};
use tempfile::TempDir;

struct Memory;

impl Backend for Memory {
    fn open(&self, options: Options) -> Arc<dyn Store> {
        Arc::new(InMemoryStore::with_options(options).unwrap())
    }
}

struct Redb {
    dir: TempDir,
    files: AtomicUsize,
}

impl Redb {
    fn new() -> Redb {
        Redb { dir: tempfile::tempdir().unwrap(), files: AtomicUsize::new(0) }
    }
}

impl Backend for Redb {
    fn open(&self, options: Options) -> Arc<dyn Store> {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        Arc::new(RedbStore::open_with(self.dir.path().join(format!("store-{n}.redb")), options).unwrap())
    }
}

mod memory {
    store::conformance_tests!(super::Memory);
}

mod redb {
    store::conformance_tests!(super::Redb::new());
}

#[test]
fn invalid_options_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(InMemoryStore::with_options(Options { max_versions: 0 }), Err(StoreError::Invalid { .. })));
    let redb = RedbStore::open_with(dir.path().join("x.redb"), Options { max_versions: 0 });
    assert!(matches!(redb, Err(StoreError::Invalid { .. })));
}
