//! The semantics of a batch, written once over a minimal transaction interface that each
//! backend implements (redb: a write transaction; memory: the state plus an undo log; ZooKeeper:
//! an overlay on the nodes read before the batch, which collects the operations of one `multi`).

use crate::error::{Result, StoreError};
use crate::types::{Batch, Generation, Op, Revision};

/// What a backend offers inside one atomic write. Every method sees the effects of earlier
/// calls in the same transaction. Names are already validated.
pub trait Txn {
    /// The registered generation.
    fn generation(&mut self) -> Result<Generation>;
    /// Registers a generation (only the claims of the built-in backends call it; [`apply`] never
    /// does).
    fn set_generation(&mut self, generation: Generation) -> Result<()>;
    /// The revision of a record, `None` if absent.
    fn revision(&mut self, namespace: &str, key: &str) -> Result<Option<Revision>>;
    /// Stores a record with the given revision.
    fn put_record(&mut self, namespace: &str, key: &str, revision: Revision, value: &[u8]) -> Result<()>;
    /// Removes a record (it exists).
    fn delete_record(&mut self, namespace: &str, key: &str) -> Result<()>;
    /// The versions of a key, oldest (smallest) first.
    fn versions(&mut self, namespace: &str, key: &str) -> Result<Vec<String>>;
    /// Stores (or replaces) one version.
    fn put_version(&mut self, namespace: &str, key: &str, version: &str, value: &[u8]) -> Result<()>;
    /// Removes one version (no-op if absent).
    fn delete_version(&mut self, namespace: &str, key: &str, version: &str) -> Result<()>;
}

/// The fencing rule for writes: only the registered generation may write.
pub fn check_generation(txn: &mut impl Txn, attempted: Generation) -> Result<()> {
    let current = txn.generation()?;
    if current != attempted {
        tracing::warn!(%current, %attempted, "store write fenced");
        return Err(StoreError::Fenced { current, attempted });
    }
    Ok(())
}

/// Registers `attempted` if it is newer than the registered generation.
pub(crate) fn claim(txn: &mut impl Txn, attempted: Generation) -> Result<()> {
    let current = txn.generation()?;
    if attempted <= current {
        return Err(StoreError::Fenced { current, attempted });
    }
    txn.set_generation(attempted)
}

/// Registers the generation after the registered one, atomically, and returns it.
pub(crate) fn claim_next(txn: &mut impl Txn) -> Result<Generation> {
    let next = txn.generation()?.next().ok_or_else(|| StoreError::Corrupt("generation overflow".to_owned()))?;
    txn.set_generation(next)?;
    Ok(next)
}

/// Applies a validated batch ([`crate::Batch::validate`]). On error the caller must discard
/// the transaction.
pub fn apply(txn: &mut impl Txn, generation: Generation, batch: &Batch, max_versions: usize) -> Result<()> {
    check_generation(txn, generation)?;
    for op in batch.ops() {
        match op {
            Op::Put { namespace, key, value, expect } => {
                let found = txn.revision(namespace.as_str(), key)?;
                if !expect.holds(found) {
                    return Err(conflict(namespace.as_str(), key, *expect, found));
                }
                let revision = match found {
                    None => Revision::FIRST,
                    Some(rev) => Revision(
                        rev.0
                            .checked_add(1)
                            .ok_or_else(|| StoreError::Corrupt(format!("revision overflow at {key:?}")))?,
                    ),
                };
                txn.put_record(namespace.as_str(), key, revision, value)?;
            }
            Op::Delete { namespace, key, expect } => {
                let found = txn.revision(namespace.as_str(), key)?;
                if !expect.holds(found) {
                    return Err(conflict(namespace.as_str(), key, *expect, found));
                }
                if found.is_some() {
                    txn.delete_record(namespace.as_str(), key)?;
                }
            }
            Op::PutVersion { namespace, key, version, value } => {
                txn.put_version(namespace.as_str(), key, version, value)?;
                let versions = txn.versions(namespace.as_str(), key)?;
                let excess = versions.len().saturating_sub(max_versions);
                for old in &versions[..excess] {
                    txn.delete_version(namespace.as_str(), key, old)?;
                }
            }
            Op::DeleteVersion { namespace, key, version } => txn.delete_version(namespace.as_str(), key, version)?,
            Op::DeleteAllVersions { namespace, key } => {
                for old in txn.versions(namespace.as_str(), key)? {
                    txn.delete_version(namespace.as_str(), key, &old)?;
                }
            }
        }
    }
    Ok(())
}

fn conflict(namespace: &str, key: &str, expected: crate::Expect, found: Option<Revision>) -> StoreError {
    StoreError::Conflict { namespace: namespace.to_owned(), key: key.to_owned(), expected, found }
}
