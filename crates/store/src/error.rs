//! The one error type of every store operation.

use crate::types::{Expect, Generation, Revision};
use std::path::PathBuf;

/// Why a store operation failed.
///
/// `Fenced`, `Conflict`, `TooLarge` and `Invalid` reject the request and leave the store unchanged;
/// the caller may go on using the store (a fenced leader should step down). `AlreadyOpen`,
/// `Corrupt` and `Backend` are about the store itself; after `Backend` the outcome of a write
/// is unknown only if the backend says so (redb: a failed commit did not happen; ZooKeeper: a lost
/// connection during a `multi` leaves it unknown, so re-read before retrying).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write carried generation `attempted`, but `current` is registered: another leader
    /// claimed the store (or, for a claim, `attempted` is not newer than `current`).
    #[error("fenced: the store belongs to generation {current}, not {attempted}")]
    Fenced {
        /// The generation registered in the store.
        current: Generation,
        /// The generation the rejected write or claim carried.
        attempted: Generation,
    },
    /// A precondition ([`Expect`]) of a batch operation did not hold; the whole batch was rejected.
    #[error("conflict on {namespace}/{key:?}: expected {expected}, found {}", found_text(*found))]
    Conflict {
        /// Namespace of the record whose precondition failed.
        namespace: String,
        /// Key of the record whose precondition failed.
        key: String,
        /// What the batch expected.
        expected: Expect,
        /// The record's revision, `None` if it did not exist.
        found: Option<Revision>,
    },
    /// A key, value or batch exceeds a documented limit ([`crate::limits`]).
    #[error("{what} is too large: {size} > {limit}")]
    TooLarge {
        /// What was measured ("value", "key", "batch operations", "batch bytes", ...).
        what: &'static str,
        /// Its size (bytes, or operations for "batch operations").
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A namespace, key or version string is not acceptable (empty, control characters, ...).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// "namespace", "key", "version" or "option".
        what: &'static str,
        /// The offending input (possibly shortened).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The store file is open elsewhere (another process, or another handle in this process).
    #[error("store {} is already open (locked by another process or handle)", path.display())]
    AlreadyOpen {
        /// The file that is locked.
        path: PathBuf,
    },
    /// Stored bytes could not be decoded: the file is damaged or was written by something else.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed (I/O error, redb error, ZooKeeper error, injected test failure).
    #[error("store backend error: {0}")]
    Backend(String),
}

fn found_text(found: Option<Revision>) -> String {
    match found {
        Some(rev) => format!("revision {rev}"),
        None => "no record".to_owned(),
    }
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
