//! Marathon's durable state store: one trait, [`Store`], with an embedded implementation on redb
//! ([`RedbStore`], the default: one file under `--work_dir`) and an in-memory one for tests
//! ([`InMemoryStore`]). The ZooKeeper implementation, `coordination::ZkStore`, lives in the
//! `coordination` crate behind the same trait and passes the same conformance suite
//! (`store::conformance`, feature `conformance`); this page says how it maps.
//!
//! ```
//! use store::{Batch, InMemoryStore, Namespace, Store};
//! # fn main() -> Result<(), store::StoreError> {
//! let store = InMemoryStore::new(); // or store::RedbStore::open_in_work_dir(work_dir)?
//! let generation = store.claim_next_generation()?; // on becoming leader
//! let version = "2024-05-01T12:00:00.000Z";
//! store.apply(
//!     generation,
//!     &Batch::new()
//!         .put(Namespace::APPS, "/prod/web", br#"{"id":"/prod/web"}"#.to_vec())
//!         .put_version(Namespace::APP_VERSIONS, "/prod/web", version, br#"{"id":"/prod/web"}"#.to_vec()),
//! )?;
//! assert_eq!(store.list_versions(&Namespace::APP_VERSIONS, "/prod/web")?, vec![version.to_owned()]);
//! # Ok(())
//! # }
//! ```
//!
//! # Keyspace
//!
//! The store holds opaque byte values (the scheduler chooses the encoding, JSON today). There are
//! two kinds of entries, in separate keyspaces, each grouped by [`Namespace`]:
//!
//! - **records**: `(namespace, key) -> (value, revision)`. Current state: `apps`, `pods`,
//!   `groups` (key `root`), `instances`, `deployments`, `framework_id`, `task_failures`,
//!   `runtime_config`. The [`Revision`] counts writes since creation and supports compare-and-set
//!   ([`Expect`]).
//! - **versions**: `(namespace, key, version) -> value`. History, by convention in the
//!   `*_versions` namespaces (`app_versions`, `pod_versions`, `group_versions`), keyed by id and
//!   version timestamp. Versions sort by their bytes, oldest first; Marathon's version strings
//!   (ISO-8601 UTC with milliseconds, one fixed width) therefore sort chronologically. Storing a
//!   version ([`Op::PutVersion`]) prunes the oldest versions of that key beyond
//!   [`Options::max_versions`] (default 50, like `--zk_max_versions`) in the same batch. Pruning
//!   is by count only: keeping versions that old root groups still reference is the scheduler's
//!   business.
//!
//! Plus one store-wide value, the **generation**.
//!
//! Names: namespaces are `[a-z0-9_-]{1,64}`; keys and versions are UTF-8 without control
//! characters, at most 512 and 64 bytes. Values are at most 8 MiB. See [`limits`].
//!
//! | backend | layout |
//! |---|---|
//! | redb | tables `meta`, `records` (`ns\0key`), `versions` (`ns\0key\0version`); see [`RedbStore`] |
//! | ZooKeeper (`coordination::ZkStore`) | `<zk>/state/generation`; `<zk>/state/<ns>/records/<bucket>/<key>`; `<zk>/state/<ns>/versions/<bucket>/<key>/<version>`; `<zk>/state/chunks/...` |
//!
//! For ZooKeeper, `<bucket>` is a hex digit of a hash of the key (16 buckets, as Marathon does, so
//! no node gets too many children) and `<key>` is percent-encoded (`/` and `%`, plus the reserved
//! names `.` and `..`), since a node name cannot contain `/`. A record's [`Revision`] is the node's
//! `Stat.version + 1`.
//!
//! # Fencing
//!
//! A leader calls [`Store::claim_generation`] (or [`Store::claim_next_generation`]) when elected,
//! *before* it loads state, and passes the generation with every write. The rules:
//!
//! 1. A claim succeeds only for a generation strictly greater than the registered one; two
//!    contenders cannot both win the same generation.
//! 2. A write ([`Store::apply`] and its shorthands) succeeds only if it carries **exactly** the
//!    registered generation; otherwise it fails with [`StoreError::Fenced`] `{current, attempted}`
//!    and changes nothing. (A write carrying a newer, unclaimed generation is refused as well: it
//!    is a bug in the caller.)
//! 3. The check happens inside the same atomic unit as the write (redb: the write transaction,
//!    which is serialized with claims; ZooKeeper: the first op of the `multi` is
//!    `check(<zk>/state/generation, version)`, the node version observed when claiming; a claim is
//!    a `setData` of that node with the expected version). So a deposed leader cannot overwrite
//!    its successor, however late its write arrives.
//!
//! Reads are not fenced. A fresh store is at generation 0, and writes at 0 are accepted until
//! someone claims; leaders always claim (1 and up). A fenced leader must step down (Marathon
//! exits). An empty batch is a pure fencing check ("am I still the writer?").
//!
//! # Batches and atomicity
//!
//! [`Store::apply`] applies a [`Batch`] of puts and deletes of records and versions across
//! namespaces atomically, in order; preconditions see earlier operations of the same batch. This
//! is the only multi-key atomicity promised: nothing spans two calls. A batch has at most
//! [`limits::MAX_BATCH_OPS`] (1024) operations and [`limits::MAX_BATCH_BYTES`] (16 MiB) of keys
//! and values, enforced identically by every backend so that nothing first fails on ZooKeeper.
//! Larger changes (a group update touching thousands of apps) should be written as Marathon does:
//! first the new immutable versions, in as many batches as needed (harmless if orphaned), then one
//! small batch that switches the current records (the root group) to them.
//!
//! Reads are atomic per call. `get` sees a whole record. `list` of one namespace is a snapshot on
//! redb and in memory; on ZooKeeper it is many reads, consistent only when no write is in flight,
//! which holds for a leader loading its state right after claiming its generation.
//!
//! # Durability
//!
//! `Ok` from a write means the change is durable. [`RedbStore`] commits every write transaction
//! with redb's `Durability::Immediate` (set explicitly): the commit `fsync`s (fdatasync) before
//! returning, and after a crash (kill -9 or power loss) redb opens the last committed state,
//! checked by page checksums. One commit is one `fdatasync` (checked with strace), about 0.2 ms
//! on the reference ext4 disk, while a 1,000-record batch takes about 4 ms in all (see
//! `examples/commit_cost.rs`): batch where you can. Creating the file also fsyncs its directory.
//! The tests SIGKILL a writing child process repeatedly and verify every acknowledged write.
//!
//! # Large values and ZooKeeper
//!
//! redb needs no compression or chunking. A ZooKeeper node holds at most `jute.maxbuffer`
//! (≈1 MiB), and a whole `multi` request must fit in that too. The ZooKeeper backend gzips
//! values above 64 KiB (`--zk_compression_threshold`), keeps values inline while the `multi`
//! stays below the limit (`--zk_max_node_size`, 1,024,000 bytes), and moves the largest ones into
//! chunk nodes written *before* the `multi`, which then stores only a small manifest. Chunks are
//! invisible until a committed manifest references them: they are written under a `pending`
//! batch directory that the `multi` marks `committed`, and the next leader's claim deletes every
//! batch still pending. Stored node data starts with a one-byte tag (raw, gzip, manifest). A
//! batch whose operations alone (paths, manifests) exceed the request limit fails with
//! [`StoreError::TooLarge`]; that takes hundreds of operations with keys near the 512-byte limit.
//!
//! # Sync trait, async wrapper
//!
//! [`Store`] is synchronous; [`AsyncStore`] runs each call on tokio's blocking pool. Why:
//! - redb (and the in-memory store) are synchronous; an async trait would only wrap them anyway.
//! - A sync trait is dyn-compatible (`Arc<dyn Store>`) without boxed futures or extra crates,
//!   and tests, property tests and the crash-test child use it without a runtime.
//! - The scheduler's pure core never touches the store; only its shell does, through
//!   [`AsyncStore`], so an fsync never blocks a runtime worker.
//! - The ZooKeeper client is async; its backend runs it on a one-thread runtime of its own and
//!   waits for the result on the calling thread (the blocking thread `AsyncStore` already runs
//!   on). That costs one blocking thread per call in flight; the scheduler has one serial writer
//!   and a few readers.

mod api;
mod apply;
mod async_store;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod memory;
mod redb_store;
mod types;

pub use api::Store;
pub use async_store::AsyncStore;
pub use error::{Result, StoreError};
pub use memory::InMemoryStore;
pub use redb_store::RedbStore;
pub use types::{Batch, Entry, Expect, Generation, Namespace, Op, Options, Revision, limits};

/// For [`Store`] backends outside this crate (the ZooKeeper store in `coordination`): the
/// semantics of a batch written once over a transaction interface ([`backend::Txn`]), so that
/// every backend applies batches, preconditions, revisions and version pruning identically, and
/// the checks of names that reads must run.
pub mod backend {
    pub use crate::apply::{Txn, apply, check_generation};
    pub use crate::types::{validate_key, validate_namespace, validate_version};
}
