//! [`RedbStore`]: the embedded store, one redb file under `--work_dir`.
//!
//! Tables (all `&[u8] -> &[u8]`, so that redb never decodes our bytes, and we decode them
//! without panicking):
//!
//! | table      | key                                  | value                                        |
//! |------------|--------------------------------------|----------------------------------------------|
//! | `meta`     | `format`, `generation`               | u32 LE format (1), u64 LE generation         |
//! | `records`  | `namespace 0x00 key`                 | tag `0x01`, u64 LE revision, value bytes     |
//! | `versions` | `namespace 0x00 key 0x00 version`    | value bytes                                  |
//!
//! Namespaces, keys and versions contain no NUL (validated), so the encodings are unambiguous
//! and the records of a namespace (or the versions of a key) are one contiguous key range,
//! sorted as their strings sort.

use crate::api::Store;
use crate::apply::{self, Txn};
use crate::error::{Result, StoreError};
use crate::types::{Batch, Entry, Generation, Namespace, Options, Revision, validate_key, validate_version};
use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("meta");
const RECORDS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("records");
const VERSIONS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("versions");

const FORMAT_KEY: &[u8] = b"format";
const GENERATION_KEY: &[u8] = b"generation";
const FORMAT: u32 = 1;
const RECORD_TAG: u8 = 1;
const RECORD_HEADER: usize = 1 + 8;
/// Page cache; Marathon's state is tens of MB at most.
const CACHE_BYTES: usize = 64 << 20;

/// The embedded store: a redb database file, held exclusively by this handle (redb locks the
/// file). Every write is one redb write transaction committed with [`Durability::Immediate`]
/// (fsync before `apply` returns); reads are MVCC snapshots and never block writes.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    options: Options,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).field("options", &self.options).finish_non_exhaustive()
    }
}

impl RedbStore {
    /// File name used by [`RedbStore::open_in_work_dir`].
    pub const FILE_NAME: &'static str = "marathon-state.redb";

    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore> {
        RedbStore::open_with(path, Options::default())
    }

    /// Opens (creating if needed) `<work_dir>/marathon-state.redb`.
    pub fn open_in_work_dir(work_dir: impl AsRef<Path>) -> Result<RedbStore> {
        RedbStore::open(work_dir.as_ref().join(RedbStore::FILE_NAME))
    }

    /// Opens (creating if needed) the store at `path`.
    ///
    /// Fails with [`StoreError::AlreadyOpen`] if another process or another handle in this
    /// process has the file open. The whole file is checksummed on open (after a crash redb
    /// repairs it; a file damaged outside redb fails with [`StoreError::Corrupt`] instead of
    /// being trusted).
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<RedbStore> {
        options.validate()?;
        let path = path.as_ref().to_path_buf();
        let started = Instant::now();
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // Directories this open creates; their entries are made durable below, like the file's.
        let new_dirs: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.exists()).map(Path::to_path_buf).collect();
        std::fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, &e))?;
        let existed = path.exists();
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| open_error(&path, e))?;
        if !existed {
            // The new directory entries must be durable too, or a power loss could lose the file.
            let parents = new_dirs.iter().filter_map(|d| d.parent()).filter(|p| !p.as_os_str().is_empty());
            for d in std::iter::once(dir).chain(parents) {
                File::open(d).and_then(|f| f.sync_all()).map_err(|e| io_error("fsync directory", d, &e))?;
            }
        }
        let store = RedbStore { db, path, options };
        let generation = store.init()?;
        tracing::info!(
            path = %store.path.display(),
            %generation,
            created = !existed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened redb store"
        );
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables and the format marker on a new file; checks them on an old one.
    fn init(&self) -> Result<Generation> {
        let txn = self.begin_write()?;
        let generation = {
            let mut meta = txn.open_table(META).map_err(backend)?;
            let format = meta.get(FORMAT_KEY).map_err(backend)?.map(|v| v.value().to_vec());
            match format {
                None => {
                    meta.insert(FORMAT_KEY, FORMAT.to_le_bytes().as_slice()).map_err(backend)?;
                    meta.insert(GENERATION_KEY, Generation::ZERO.0.to_le_bytes().as_slice()).map_err(backend)?;
                }
                Some(bytes) => {
                    let found = <[u8; 4]>::try_from(bytes.as_slice())
                        .map(u32::from_le_bytes)
                        .map_err(|_| StoreError::Corrupt(format!("format marker of {} bytes", bytes.len())))?;
                    if found != FORMAT {
                        return Err(StoreError::Corrupt(format!(
                            "unsupported store format {found} (expected {FORMAT})"
                        )));
                    }
                }
            }
            txn.open_table(RECORDS).map_err(backend)?;
            txn.open_table(VERSIONS).map_err(backend)?;
            read_generation(&meta)?
        };
        txn.commit().map_err(backend)?;
        Ok(generation)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction> {
        let mut txn = self.db.begin_write().map_err(backend)?;
        // The default, made explicit: commit() returns only after fsync.
        txn.set_durability(Durability::Immediate).map_err(backend)?;
        Ok(txn)
    }

    fn write<T>(&self, f: impl FnOnce(&mut RedbTxn<'_>) -> Result<T>) -> Result<T> {
        let txn = self.begin_write()?;
        let result = {
            let mut tables = RedbTxn {
                meta: txn.open_table(META).map_err(backend)?,
                records: txn.open_table(RECORDS).map_err(backend)?,
                versions: txn.open_table(VERSIONS).map_err(backend)?,
            };
            f(&mut tables)
        };
        match result {
            Ok(value) => {
                txn.commit().map_err(backend)?;
                Ok(value)
            }
            Err(err) => {
                txn.abort().map_err(backend)?;
                Err(err)
            }
        }
    }

    fn read_table(
        &self,
        table: TableDefinition<'static, &[u8], &[u8]>,
    ) -> Result<redb::ReadOnlyTable<&'static [u8], &'static [u8]>> {
        let txn = self.db.begin_read().map_err(backend)?;
        txn.open_table(table).map_err(backend)
    }
}

struct RedbTxn<'t> {
    meta: Table<'t, &'static [u8], &'static [u8]>,
    records: Table<'t, &'static [u8], &'static [u8]>,
    versions: Table<'t, &'static [u8], &'static [u8]>,
}

impl Txn for RedbTxn<'_> {
    fn generation(&mut self) -> Result<Generation> {
        read_generation(&self.meta)
    }

    fn set_generation(&mut self, generation: Generation) -> Result<()> {
        self.meta.insert(GENERATION_KEY, generation.0.to_le_bytes().as_slice()).map_err(backend)?;
        Ok(())
    }

    fn revision(&mut self, namespace: &str, key: &str) -> Result<Option<Revision>> {
        let guard = self.records.get(record_key(namespace, key).as_slice()).map_err(backend)?;
        guard.map(|v| decode_header(v.value()).map(|(revision, _)| revision)).transpose()
    }

    fn put_record(&mut self, namespace: &str, key: &str, revision: Revision, value: &[u8]) -> Result<()> {
        let mut encoded = Vec::with_capacity(RECORD_HEADER + value.len());
        encoded.push(RECORD_TAG);
        encoded.extend_from_slice(&revision.0.to_le_bytes());
        encoded.extend_from_slice(value);
        self.records.insert(record_key(namespace, key).as_slice(), encoded.as_slice()).map_err(backend)?;
        Ok(())
    }

    fn delete_record(&mut self, namespace: &str, key: &str) -> Result<()> {
        self.records.remove(record_key(namespace, key).as_slice()).map_err(backend)?;
        Ok(())
    }

    fn versions(&mut self, namespace: &str, key: &str) -> Result<Vec<String>> {
        versions_of(&self.versions, namespace, key)
    }

    fn put_version(&mut self, namespace: &str, key: &str, version: &str, value: &[u8]) -> Result<()> {
        self.versions.insert(version_key(namespace, key, version).as_slice(), value).map_err(backend)?;
        Ok(())
    }

    fn delete_version(&mut self, namespace: &str, key: &str, version: &str) -> Result<()> {
        self.versions.remove(version_key(namespace, key, version).as_slice()).map_err(backend)?;
        Ok(())
    }
}

impl Store for RedbStore {
    fn describe(&self) -> String {
        format!("redb:{}", self.path.display())
    }

    fn max_versions(&self) -> usize {
        self.options.max_versions
    }

    fn generation(&self) -> Result<Generation> {
        read_generation(&self.read_table(META)?)
    }

    fn claim_generation(&self, generation: Generation) -> Result<()> {
        self.write(|txn| apply::claim(txn, generation))?;
        tracing::info!(%generation, path = %self.path.display(), "claimed store generation");
        Ok(())
    }

    fn claim_next_generation(&self) -> Result<Generation> {
        let generation = self.write(|txn| apply::claim_next(txn))?;
        tracing::info!(%generation, path = %self.path.display(), "claimed store generation");
        Ok(generation)
    }

    fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        let records = self.read_table(RECORDS)?;
        let guard = records.get(record_key(namespace.as_str(), key).as_slice()).map_err(backend)?;
        guard.map(|v| decode_record(v.value())).transpose()
    }

    fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let records = self.read_table(RECORDS)?;
        let (lo, hi) = namespace_range(namespace.as_str());
        let mut keys = Vec::new();
        for item in records.range(lo.as_slice()..hi.as_slice()).map_err(backend)? {
            let (k, _) = item.map_err(backend)?;
            keys.push(decode_record_key(k.value(), lo.len())?);
        }
        Ok(keys)
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
        let records = self.read_table(RECORDS)?;
        let (lo, hi) = namespace_range(namespace.as_str());
        let mut entries = Vec::new();
        for item in records.range(lo.as_slice()..hi.as_slice()).map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            entries.push((decode_record_key(k.value(), lo.len())?, decode_record(v.value())?));
        }
        Ok(entries)
    }

    fn get_version(&self, namespace: &Namespace, key: &str, version: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        validate_version(version)?;
        let versions = self.read_table(VERSIONS)?;
        let guard = versions.get(version_key(namespace.as_str(), key, version).as_slice()).map_err(backend)?;
        Ok(guard.map(|v| v.value().to_vec()))
    }

    fn list_versions(&self, namespace: &Namespace, key: &str) -> Result<Vec<String>> {
        validate_key(key)?;
        versions_of(&self.read_table(VERSIONS)?, namespace.as_str(), key)
    }

    fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        let versions = self.read_table(VERSIONS)?;
        let (lo, hi) = namespace_range(namespace.as_str());
        let mut keys: Vec<String> = Vec::new();
        for item in versions.range(lo.as_slice()..hi.as_slice()).map_err(backend)? {
            let (k, _) = item.map_err(backend)?;
            let rest = &k.value()[lo.len()..];
            let end = rest.iter().position(|&b| b == 0).ok_or_else(|| corrupt_key(k.value()))?;
            let key = std::str::from_utf8(&rest[..end]).map_err(|_| corrupt_key(k.value()))?;
            if keys.last().map(String::as_str) != Some(key) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
        batch.validate()?;
        if batch.is_empty() {
            // Only the fencing check: no commit (and no fsync) needed.
            let current = self.generation()?;
            return if current == generation {
                Ok(())
            } else {
                Err(StoreError::Fenced { current, attempted: generation })
            };
        }
        let max_versions = self.options.max_versions;
        self.write(|txn| apply::apply(txn, generation, batch, max_versions))
    }
}

fn read_generation(meta: &impl ReadableTable<&'static [u8], &'static [u8]>) -> Result<Generation> {
    let guard = meta.get(GENERATION_KEY).map_err(backend)?;
    let guard = guard.ok_or_else(|| StoreError::Corrupt("the generation is missing".to_owned()))?;
    let bytes = guard.value();
    <[u8; 8]>::try_from(bytes)
        .map(|b| Generation(u64::from_le_bytes(b)))
        .map_err(|_| StoreError::Corrupt(format!("generation of {} bytes", bytes.len())))
}

fn versions_of(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    namespace: &str,
    key: &str,
) -> Result<Vec<String>> {
    let (lo, hi) = versions_range(namespace, key);
    let mut versions = Vec::new();
    for item in table.range(lo.as_slice()..hi.as_slice()).map_err(backend)? {
        let (k, _) = item.map_err(backend)?;
        let version = std::str::from_utf8(&k.value()[lo.len()..]).map_err(|_| corrupt_key(k.value()))?;
        versions.push(version.to_owned());
    }
    Ok(versions)
}

fn record_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 1 + key.len());
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn version_key(namespace: &str, key: &str, version: &str) -> Vec<u8> {
    let mut k = record_key(namespace, key);
    k.push(0);
    k.extend_from_slice(version.as_bytes());
    k
}

/// `[namespace 0x00, namespace 0x01)`: every key of the namespace.
fn namespace_range(namespace: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = namespace.as_bytes().to_vec();
    let mut hi = lo.clone();
    lo.push(0);
    hi.push(1);
    (lo, hi)
}

/// `[namespace 0x00 key 0x00, namespace 0x00 key 0x01)`: every version of the key.
fn versions_range(namespace: &str, key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = record_key(namespace, key);
    let mut hi = lo.clone();
    lo.push(0);
    hi.push(1);
    (lo, hi)
}

fn decode_record_key(bytes: &[u8], prefix: usize) -> Result<String> {
    let rest = bytes.get(prefix..).ok_or_else(|| corrupt_key(bytes))?;
    if rest.contains(&0) {
        return Err(corrupt_key(bytes));
    }
    std::str::from_utf8(rest).map(str::to_owned).map_err(|_| corrupt_key(bytes))
}

fn decode_header(bytes: &[u8]) -> Result<(Revision, &[u8])> {
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(StoreError::Corrupt("empty record".to_owned()));
    };
    if tag != RECORD_TAG {
        return Err(StoreError::Corrupt(format!("unknown record tag {tag:#04x}")));
    }
    let (revision, value) =
        rest.split_first_chunk::<8>().ok_or_else(|| StoreError::Corrupt(format!("record of {} bytes", bytes.len())))?;
    Ok((Revision(u64::from_le_bytes(*revision)), value))
}

fn decode_record(bytes: &[u8]) -> Result<Entry> {
    let (revision, value) = decode_header(bytes)?;
    Ok(Entry { value: value.to_vec(), revision })
}

fn corrupt_key(bytes: &[u8]) -> StoreError {
    StoreError::Corrupt(format!("malformed key {:?}", String::from_utf8_lossy(bytes)))
}

fn backend(err: impl Into<redb::Error>) -> StoreError {
    match err.into() {
        redb::Error::Corrupted(msg) => StoreError::Corrupt(msg),
        other => StoreError::Backend(other.to_string()),
    }
}

fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen { path: path.to_path_buf() },
        other => match backend(other) {
            StoreError::Backend(msg) => StoreError::Backend(format!("open {}: {msg}", path.display())),
            err => err,
        },
    }
}

fn io_error(op: &str, path: &Path, err: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("{op} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_decoding_never_panics() {
        assert!(decode_header(&[]).is_err());
        assert!(decode_header(&[RECORD_TAG]).is_err());
        assert!(decode_header(&[RECORD_TAG, 1, 2, 3, 4, 5, 6, 7]).is_err());
        assert!(decode_header(&[9, 1, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let (rev, value) = decode_header(&[RECORD_TAG, 7, 0, 0, 0, 0, 0, 0, 0, b'x']).expect("valid");
        assert_eq!((rev, value), (Revision(7), b"x".as_slice()));
    }

    #[test]
    fn key_ranges_are_exact() {
        let (lo, hi) = namespace_range("apps");
        assert!(record_key("apps", "/a").as_slice() > lo.as_slice());
        assert!(record_key("apps", "/a").as_slice() < hi.as_slice());
        assert!(record_key("apps_x", "/a").as_slice() >= hi.as_slice());
        let (lo, hi) = versions_range("app_versions", "/a");
        let inside = version_key("app_versions", "/a", "2024");
        let outside = version_key("app_versions", "/a/b", "2024");
        assert!(inside.as_slice() > lo.as_slice() && inside.as_slice() < hi.as_slice());
        assert!(outside.as_slice() >= hi.as_slice());
        assert!(decode_record_key(b"apps\0/a", 5).is_ok());
        assert!(decode_record_key(b"apps\0/a\0b", 5).is_err());
        assert!(decode_record_key(b"apps\0\xff", 5).is_err());
        assert!(decode_record_key(b"ap", 5).is_err());
    }
}
