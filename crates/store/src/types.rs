//! Names, generations, revisions, batches and limits shared by every backend.

use crate::error::{Result, StoreError};
use std::borrow::Cow;
use std::fmt;

/// Documented bounds every backend enforces identically, so that code tested against the
/// in-memory or redb store does not first fail on ZooKeeper.
pub mod limits {
    /// Longest namespace name, in bytes.
    pub const MAX_NAMESPACE_BYTES: usize = 64;
    /// Longest key, in bytes (Marathon ids are far shorter; instance ids are ~100 bytes).
    pub const MAX_KEY_BYTES: usize = 512;
    /// Longest version string, in bytes (an ISO-8601 timestamp is 24).
    pub const MAX_VERSION_BYTES: usize = 64;
    /// Largest value, in bytes. ZooKeeper nodes hold ≈1 MiB, so its backend compresses values
    /// above 64 KiB and splits what is still larger into chunk nodes (see the crate docs).
    pub const MAX_VALUE_BYTES: usize = 8 << 20;
    /// Most operations in one [`Batch`](crate::Batch).
    pub const MAX_BATCH_OPS: usize = 1024;
    /// Most bytes (keys + versions + values) in one [`Batch`](crate::Batch).
    pub const MAX_BATCH_BYTES: usize = 16 << 20;
    /// Default number of versions kept per versioned key (Marathon's `--zk_max_versions`).
    pub const DEFAULT_MAX_VERSIONS: usize = 50;
}

/// A leader epoch. Writes carry the writer's generation and are accepted only while it is the
/// one registered in the store (see the crate docs on fencing). A fresh store is at
/// [`Generation::ZERO`]; leaders claim generations from 1 up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

impl Generation {
    /// The generation of a store nobody has claimed yet.
    pub const ZERO: Generation = Generation(0);

    /// The generation after this one.
    pub fn next(self) -> Option<Generation> {
        self.0.checked_add(1).map(Generation)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many times a record has been written since it was created: 1 after the creating put,
/// +1 for each later put (ZooKeeper's `Stat.version` + 1). Deleting a record forgets its revision;
/// re-creating it starts again at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub u64);

impl Revision {
    /// The revision of a freshly created record.
    pub const FIRST: Revision = Revision(1);
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A group of keys (a table in redb, a subtree in ZooKeeper). Names are 1 to 64 characters
/// from `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Namespace(Cow<'static, str>);

impl Namespace {
    /// Current app definitions, by app id.
    pub const APPS: Namespace = Namespace::known("apps");
    /// Historical app definitions: versioned records, by app id and version timestamp.
    pub const APP_VERSIONS: Namespace = Namespace::known("app_versions");
    /// Current pod definitions, by pod id.
    pub const PODS: Namespace = Namespace::known("pods");
    /// Historical pod definitions: versioned records.
    pub const POD_VERSIONS: Namespace = Namespace::known("pod_versions");
    /// The root group (key `root`).
    pub const GROUPS: Namespace = Namespace::known("groups");
    /// Historical root groups: versioned records under key `root`.
    pub const GROUP_VERSIONS: Namespace = Namespace::known("group_versions");
    /// Instances, by instance id.
    pub const INSTANCES: Namespace = Namespace::known("instances");
    /// Deployment plans, by deployment id.
    pub const DEPLOYMENTS: Namespace = Namespace::known("deployments");
    /// The Mesos framework id (one record).
    pub const FRAMEWORK_ID: Namespace = Namespace::known("framework_id");
    /// Last task failure per app.
    pub const TASK_FAILURES: Namespace = Namespace::known("task_failures");
    /// Runtime configuration (pending backup/restore requests).
    pub const RUNTIME_CONFIG: Namespace = Namespace::known("runtime_config");

    const fn known(name: &'static str) -> Namespace {
        Namespace(Cow::Borrowed(name))
    }

    /// A namespace with a validated name.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Namespace> {
        let name = name.into();
        validate_namespace(&name)?;
        Ok(Namespace(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A precondition on a record, checked inside the batch (ZooKeeper: a `check` op or the
/// expected version of `setData`/`delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    /// No precondition.
    #[default]
    Any,
    /// The record must not exist (create).
    Absent,
    /// The record must exist.
    Present,
    /// The record must exist with exactly this revision (compare-and-set).
    Revision(Revision),
}

impl Expect {
    /// Whether a record with revision `found` (`None`: absent) satisfies this precondition.
    pub fn holds(self, found: Option<Revision>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => found.is_none(),
            Expect::Present => found.is_some(),
            Expect::Revision(rev) => found == Some(rev),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("anything"),
            Expect::Absent => f.write_str("no record"),
            Expect::Present => f.write_str("a record"),
            Expect::Revision(rev) => write!(f, "revision {rev}"),
        }
    }
}

/// A stored record: its value and revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The opaque value.
    pub value: Vec<u8>,
    /// Writes since creation (see [`Revision`]).
    pub revision: Revision,
}

/// One write of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or replace a record, if `expect` holds. The new revision is the old one + 1
    /// (or [`Revision::FIRST`]).
    Put {
        /// Namespace.
        namespace: Namespace,
        /// Key.
        key: String,
        /// New value.
        value: Vec<u8>,
        /// Precondition.
        expect: Expect,
    },
    /// Delete a record, if `expect` holds. Deleting a missing record with [`Expect::Any`] is a no-op.
    Delete {
        /// Namespace.
        namespace: Namespace,
        /// Key.
        key: String,
        /// Precondition.
        expect: Expect,
    },
    /// Store one version of a versioned key (replacing the same version if present), then prune
    /// the oldest versions of that key beyond the store's `max_versions`.
    PutVersion {
        /// Namespace.
        namespace: Namespace,
        /// Key (e.g. an app id).
        key: String,
        /// Version string; versions sort by bytes, oldest first (ISO-8601 UTC timestamps of one
        /// fixed width sort chronologically).
        version: String,
        /// The value of that version.
        value: Vec<u8>,
    },
    /// Delete one version (no-op if missing).
    DeleteVersion {
        /// Namespace.
        namespace: Namespace,
        /// Key.
        key: String,
        /// Version string.
        version: String,
    },
    /// Delete every version of a key (no-op if none).
    DeleteAllVersions {
        /// Namespace.
        namespace: Namespace,
        /// Key.
        key: String,
    },
}

impl Op {
    /// Bytes of caller data this operation carries (key, version, value), as counted against
    /// [`limits::MAX_BATCH_BYTES`].
    pub fn payload_bytes(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { key, .. } | Op::DeleteAllVersions { key, .. } => key.len(),
            Op::PutVersion { key, version, value, .. } => key.len() + version.len() + value.len(),
            Op::DeleteVersion { key, version, .. } => key.len() + version.len(),
        }
    }

    /// The namespace this operation writes.
    pub fn namespace(&self) -> &Namespace {
        match self {
            Op::Put { namespace, .. }
            | Op::Delete { namespace, .. }
            | Op::PutVersion { namespace, .. }
            | Op::DeleteVersion { namespace, .. }
            | Op::DeleteAllVersions { namespace, .. } => namespace,
        }
    }
}

/// Writes applied atomically, in order, across namespaces: all of them or none. Preconditions see
/// the effects of earlier operations of the same batch. At most [`limits::MAX_BATCH_OPS`]
/// operations and [`limits::MAX_BATCH_BYTES`] bytes.
///
/// ```
/// use store::{Batch, Namespace};
/// let batch = Batch::new()
///     .put(Namespace::APPS, "/prod/web", b"{..}".to_vec())
///     .put_version(Namespace::APP_VERSIONS, "/prod/web", "2024-05-01T12:00:00.000Z", b"{..}".to_vec());
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch (applying it only checks the generation).
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends an operation.
    pub fn push(&mut self, op: Op) -> &mut Batch {
        self.ops.push(op);
        self
    }

    /// Adds an unconditional put.
    pub fn put(self, namespace: Namespace, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Batch {
        self.put_if(namespace, key, value, Expect::Any)
    }

    /// Adds a conditional put.
    pub fn put_if(
        mut self,
        namespace: Namespace,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        expect: Expect,
    ) -> Batch {
        self.ops.push(Op::Put { namespace, key: key.into(), value: value.into(), expect });
        self
    }

    /// Adds an unconditional delete.
    pub fn delete(self, namespace: Namespace, key: impl Into<String>) -> Batch {
        self.delete_if(namespace, key, Expect::Any)
    }

    /// Adds a conditional delete.
    pub fn delete_if(mut self, namespace: Namespace, key: impl Into<String>, expect: Expect) -> Batch {
        self.ops.push(Op::Delete { namespace, key: key.into(), expect });
        self
    }

    /// Adds a versioned put (with pruning).
    pub fn put_version(
        mut self,
        namespace: Namespace,
        key: impl Into<String>,
        version: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Batch {
        self.ops.push(Op::PutVersion { namespace, key: key.into(), version: version.into(), value: value.into() });
        self
    }

    /// Adds the deletion of one version.
    pub fn delete_version(mut self, namespace: Namespace, key: impl Into<String>, version: impl Into<String>) -> Batch {
        self.ops.push(Op::DeleteVersion { namespace, key: key.into(), version: version.into() });
        self
    }

    /// Adds the deletion of every version of a key.
    pub fn delete_all_versions(mut self, namespace: Namespace, key: impl Into<String>) -> Batch {
        self.ops.push(Op::DeleteAllVersions { namespace, key: key.into() });
        self
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Total caller bytes (see [`Op::payload_bytes`]).
    pub fn payload_bytes(&self) -> usize {
        self.ops.iter().map(Op::payload_bytes).sum()
    }

    /// Checks names and limits without touching any store (every backend runs this first).
    pub fn validate(&self) -> Result<()> {
        if self.ops.len() > limits::MAX_BATCH_OPS {
            return Err(StoreError::TooLarge {
                what: "batch operations",
                size: self.ops.len(),
                limit: limits::MAX_BATCH_OPS,
            });
        }
        let bytes = self.payload_bytes();
        if bytes > limits::MAX_BATCH_BYTES {
            return Err(StoreError::TooLarge { what: "batch bytes", size: bytes, limit: limits::MAX_BATCH_BYTES });
        }
        for op in &self.ops {
            validate_namespace(op.namespace().as_str())?;
            match op {
                Op::Put { key, value, .. } => {
                    validate_key(key)?;
                    validate_value(value)?;
                }
                Op::Delete { key, .. } | Op::DeleteAllVersions { key, .. } => validate_key(key)?,
                Op::PutVersion { key, version, value, .. } => {
                    validate_key(key)?;
                    validate_version(version)?;
                    validate_value(value)?;
                }
                Op::DeleteVersion { key, version, .. } => {
                    validate_key(key)?;
                    validate_version(version)?;
                }
            }
        }
        Ok(())
    }
}

impl From<Vec<Op>> for Batch {
    fn from(ops: Vec<Op>) -> Batch {
        Batch { ops }
    }
}

/// Settings shared by every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Versions kept per versioned key; older ones are pruned by [`Op::PutVersion`]. At least 1.
    pub max_versions: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_versions: limits::DEFAULT_MAX_VERSIONS }
    }
}

impl Options {
    /// Checks the options (every backend does when it opens).
    pub fn validate(&self) -> Result<()> {
        if self.max_versions == 0 {
            return Err(StoreError::Invalid {
                what: "option",
                value: "max_versions = 0".to_owned(),
                reason: "at least one version must be kept",
            });
        }
        Ok(())
    }
}

fn shorten(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_owned();
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Namespaces: 1 to [`limits::MAX_NAMESPACE_BYTES`] bytes of `[a-z0-9_-]`.
pub fn validate_namespace(name: &str) -> Result<()> {
    let invalid = |reason| Err(StoreError::Invalid { what: "namespace", value: shorten(name), reason });
    if name.is_empty() {
        return invalid("empty");
    }
    if name.len() > limits::MAX_NAMESPACE_BYTES {
        return Err(StoreError::TooLarge { what: "namespace", size: name.len(), limit: limits::MAX_NAMESPACE_BYTES });
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        return invalid("only [a-z0-9_-] are allowed");
    }
    Ok(())
}

fn validate_text(what: &'static str, s: &str, limit: usize) -> Result<()> {
    if s.is_empty() {
        return Err(StoreError::Invalid { what, value: String::new(), reason: "empty" });
    }
    if s.len() > limit {
        return Err(StoreError::TooLarge { what, size: s.len(), limit });
    }
    if s.chars().any(char::is_control) {
        return Err(StoreError::Invalid { what, value: shorten(s), reason: "control characters are not allowed" });
    }
    Ok(())
}

/// Keys: 1 to [`limits::MAX_KEY_BYTES`] bytes of UTF-8 without control characters.
pub fn validate_key(key: &str) -> Result<()> {
    validate_text("key", key, limits::MAX_KEY_BYTES)
}

/// Versions: 1 to [`limits::MAX_VERSION_BYTES`] bytes of UTF-8 without control characters.
pub fn validate_version(version: &str) -> Result<()> {
    validate_text("version", version, limits::MAX_VERSION_BYTES)
}

fn validate_value(value: &[u8]) -> Result<()> {
    if value.len() > limits::MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge { what: "value", size: value.len(), limit: limits::MAX_VALUE_BYTES });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_namespaces_are_valid() {
        for ns in [
            Namespace::APPS,
            Namespace::APP_VERSIONS,
            Namespace::PODS,
            Namespace::POD_VERSIONS,
            Namespace::GROUPS,
            Namespace::GROUP_VERSIONS,
            Namespace::INSTANCES,
            Namespace::DEPLOYMENTS,
            Namespace::FRAMEWORK_ID,
            Namespace::TASK_FAILURES,
            Namespace::RUNTIME_CONFIG,
        ] {
            assert_eq!(Namespace::new(ns.as_str().to_owned()), Ok(ns.clone()), "{ns}");
        }
    }

    #[test]
    fn names_are_validated() {
        assert!(Namespace::new("Apps").is_err());
        assert!(Namespace::new("").is_err());
        assert!(Namespace::new("a/b").is_err());
        assert!(Namespace::new("x".repeat(65)).is_err());
        assert!(validate_key("/prod/web").is_ok());
        assert!(validate_key("prod_web.marathon-2b5c1d2e-0000").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\0b").is_err());
        assert!(validate_key("a\nb").is_err());
        assert!(validate_key(&"k".repeat(513)).is_err());
        assert!(validate_version("2024-05-01T12:00:00.000Z").is_ok());
        assert!(validate_version(&"v".repeat(65)).is_err());
    }

    #[test]
    fn batch_limits() {
        let mut batch = Batch::new();
        for i in 0..=limits::MAX_BATCH_OPS {
            batch.push(Op::Delete { namespace: Namespace::APPS, key: format!("k{i}"), expect: Expect::Any });
        }
        assert!(matches!(batch.validate(), Err(StoreError::TooLarge { what: "batch operations", .. })));
        let big = Batch::new().put(Namespace::APPS, "a", vec![0; limits::MAX_VALUE_BYTES]).put(
            Namespace::APPS,
            "b",
            vec![0; limits::MAX_VALUE_BYTES],
        );
        assert!(matches!(big.validate(), Err(StoreError::TooLarge { what: "batch bytes", .. })));
        let too_big = Batch::new().put(Namespace::APPS, "a", vec![0; limits::MAX_VALUE_BYTES + 1]);
        assert!(matches!(too_big.validate(), Err(StoreError::TooLarge { what: "value", .. })));
        assert_eq!(Batch::new().put(Namespace::APPS, "a", vec![0; limits::MAX_VALUE_BYTES]).validate(), Ok(()));
    }

    #[test]
    fn expectations() {
        assert!(Expect::Any.holds(None));
        assert!(Expect::Absent.holds(None));
        assert!(!Expect::Absent.holds(Some(Revision(1))));
        assert!(Expect::Present.holds(Some(Revision(3))));
        assert!(Expect::Revision(Revision(3)).holds(Some(Revision(3))));
        assert!(!Expect::Revision(Revision(3)).holds(Some(Revision(4))));
        assert!(!Expect::Revision(Revision(3)).holds(None));
    }
}
