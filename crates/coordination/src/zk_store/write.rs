//! Claims and batches.
//!
//! A batch is applied in five steps, holding the store's writer lock throughout:
//! 1. the generation: the one this store claimed (cached with its node's version) or read;
//! 2. every node the batch touches is read at once (records: data and version; versioned keys:
//!    their versions);
//! 3. the `store` crate's batch semantics run over an overlay of those nodes ([`Overlay`]),
//!    which turns each operation into ZooKeeper operations: `create`, `setData` and `delete` with
//!    the expected versions it saw, pruning included;
//! 4. the operations become one `multi` below the request limit: values written and then
//!    superseded within the batch carry no data, the largest values move into chunks until the
//!    request fits, and chunks of replaced values are deleted in the same `multi`;
//! 5. chunks (if any) are written under a `pending` batch directory, then the `multi` runs:
//!    `check(generation, version)` first, the operations, and the batch directory marked
//!    `committed` last.

use super::codec::{self, Manifest, TAG_RAW};
use super::layout::{COMMITTED, Layout, PENDING};
use super::{Inner, Writer, backend};
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use store::backend::Txn;
use store::{Batch, Generation, Op, Result, Revision, StoreError};
use zookeeper_client::{Client, Error as ZkError, MultiWriteError};

/// Attempts of one claim against concurrent claimants before giving up.
const CLAIM_ATTEMPTS: usize = 1000;

/// Bytes a request spends per operation besides its path and data (headers, lengths, ACLs),
/// rounded up.
const OP_OVERHEAD: usize = 96;

/// Inline values at most this large are never moved into chunks to make room (a manifest is
/// about as large).
const MIN_CHUNKED: usize = 1024;

impl Inner {
    /// Registers `wanted`, or the generation after the current one, with a compare-and-set of
    /// the generation node; then deletes the chunks of batches that never committed.
    pub(super) async fn claim(&self, wanted: Option<Generation>) -> Result<Generation> {
        let mut writer = self.writer.lock().await;
        let client = self.client().await?;
        let path = self.layout.generation();
        for _ in 0..CLAIM_ATTEMPTS {
            let (current, version) = self.read_generation().await?;
            writer.known = Some((current, version));
            let next = match wanted {
                Some(generation) if generation <= current => {
                    return Err(StoreError::Fenced { current, attempted: generation });
                }
                Some(generation) => generation,
                None => current.next().ok_or_else(|| StoreError::Corrupt("generation overflow".to_owned()))?,
            };
            match self.timed(client.set_data(&path, next.0.to_string().as_bytes(), Some(version))).await {
                Ok(stat) => {
                    writer.known = Some((next, stat.version));
                    tracing::info!(generation = %next, store = %self.url, "claimed the store");
                    // Still holding the writer lock: no batch of this store is pending meanwhile.
                    if let Err(err) = self.sweep_pending_chunks(&writer).await {
                        tracing::warn!(%err, "could not delete the chunks of uncommitted batches; the next claim will");
                    }
                    return Ok(next);
                }
                // Another claimant was faster: look again.
                Err(ZkError::BadVersion) => continue,
                Err(err) => {
                    writer.known = None;
                    return Err(backend(&format!("claim generation {next} (outcome unknown)"), &err));
                }
            }
        }
        Err(StoreError::Backend(format!("zookeeper: no claim succeeded in {CLAIM_ATTEMPTS} attempts")))
    }

    /// Applies a validated batch (see the module docs).
    pub(super) async fn apply(&self, generation: Generation, batch: &Batch) -> Result<()> {
        let mut writer = self.writer.lock().await;
        let client = self.client().await?;
        let (current, generation_version) = match writer.known {
            Some(known) if known.0 == generation => known,
            _ => {
                let known = self.read_generation().await?;
                writer.known = Some(known);
                known
            }
        };
        if current != generation {
            tracing::warn!(%current, attempted = %generation, "store write fenced");
            return Err(StoreError::Fenced { current, attempted: generation });
        }
        self.ensure_namespaces(&client, &mut writer, batch).await?;
        let mut overlay = self.prefetch(&client, generation, batch).await?;
        store::backend::apply(&mut overlay, generation, batch, self.options.store.max_versions)?;
        let Overlay { ops, mut obsolete, replaced_versions, .. } = overlay;
        obsolete.extend(self.manifests_of(&client, &replaced_versions).await?);
        let multi = self.plan(ops, &obsolete, &client).await?;
        self.commit(&client, &mut writer, generation, generation_version, multi).await
    }

    /// Creates the directories of namespaces this store has not written yet.
    async fn ensure_namespaces(&self, client: &Client, writer: &mut Writer, batch: &Batch) -> Result<()> {
        let namespaces: BTreeSet<&str> = batch.ops().iter().map(|op| op.namespace().as_str()).collect();
        let options = self.persistent();
        for ns in namespaces {
            if writer.ensured.contains(ns) {
                continue;
            }
            let kinds = [super::layout::Kind::Records, super::layout::Kind::Versions];
            let levels = [
                vec![self.layout.namespace(ns)],
                kinds.iter().map(|kind| self.layout.kind_dir(ns, *kind)).collect(),
                kinds.iter().flat_map(|kind| self.layout.bucket_dirs(ns, *kind)).collect(),
            ];
            for level in levels {
                let creates = join_all(level.iter().map(|path| self.timed(client.create(path, b"", &options)))).await;
                for (path, created) in level.iter().zip(creates) {
                    match created {
                        Ok(_) | Err(ZkError::NodeExists) => {}
                        Err(err) => return Err(backend(&format!("create {path}"), &err)),
                    }
                }
            }
            writer.ensured.insert(ns.to_owned());
        }
        Ok(())
    }

    /// Reads every node the batch touches, at once, into an overlay.
    async fn prefetch<'a>(&'a self, client: &Client, generation: Generation, batch: &Batch) -> Result<Overlay<'a>> {
        let mut records = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for op in batch.ops() {
            let ns = op.namespace().as_str();
            match op {
                Op::Put { key, .. } | Op::Delete { key, .. } => {
                    records.insert(self.layout.record(ns, key));
                }
                Op::PutVersion { key, .. } | Op::DeleteVersion { key, .. } | Op::DeleteAllVersions { key, .. } => {
                    keys.insert(self.layout.version_key(ns, key));
                }
            }
        }
        let record_reads = join_all(records.iter().map(|path| self.timed(client.get_data(path))));
        let key_reads = join_all(keys.iter().map(|path| self.timed(client.list_children(path))));
        let (record_reads, key_reads) = futures::join!(record_reads, key_reads);
        let mut overlay = Overlay::new(&self.layout, generation);
        for (path, read) in records.into_iter().zip(record_reads) {
            let state = match read {
                Ok((data, stat)) => RecordState { version: Some(stat.version), prior: codec::manifest_of(&data) },
                Err(ZkError::NoNode) => RecordState { version: None, prior: None },
                Err(err) => return Err(backend(&format!("read {path}"), &err)),
            };
            overlay.records.insert(path, state);
        }
        for (path, read) in keys.into_iter().zip(key_reads) {
            let state = match read {
                Ok(children) => {
                    let versions: BTreeSet<String> =
                        children.iter().filter_map(|child| super::layout::decode_name(child)).collect();
                    KeyState { node: true, prior: versions.clone(), versions }
                }
                Err(ZkError::NoNode) => KeyState::default(),
                Err(err) => return Err(backend(&format!("list {path}"), &err)),
            };
            overlay.keys.insert(path, state);
        }
        Ok(overlay)
    }

    /// The manifests among the nodes at `paths` (versions that existed before the batch and are
    /// replaced or deleted by it).
    async fn manifests_of(&self, client: &Client, paths: &[String]) -> Result<Vec<Manifest>> {
        let reads = join_all(paths.iter().map(|path| self.timed(client.get_data(path)))).await;
        let mut manifests = Vec::new();
        for (path, read) in paths.iter().zip(reads) {
            match read {
                Ok((data, _)) => manifests.extend(codec::manifest_of(&data)),
                Err(ZkError::NoNode) => {}
                Err(err) => return Err(backend(&format!("read {path}"), &err)),
            }
        }
        Ok(manifests)
    }

    /// Turns the overlay's operations into one `multi` below the request limit (see the module
    /// docs), with the deletions of `obsolete` values' chunks.
    async fn plan(&self, ops: Vec<Planned>, obsolete: &[Manifest], client: &Client) -> Result<Multi> {
        // Values written and then overwritten or deleted within the batch are never visible.
        let mut later = HashSet::new();
        let mut dead = vec![false; ops.len()];
        for (i, op) in ops.iter().enumerate().rev() {
            dead[i] = op.value().is_some() && later.contains(op.path());
            later.insert(op.path().to_owned());
        }
        let threshold = self.options.compression_threshold;
        let mut data: Vec<Vec<u8>> = ops
            .iter()
            .zip(&dead)
            .map(|(op, dead)| match op.value() {
                Some(_) if *dead => vec![TAG_RAW],
                Some(value) => codec::encode(value, threshold),
                None => Vec::new(),
            })
            .collect();

        let mut deletes = Vec::new();
        let mut by_dir: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for manifest in obsolete {
            for i in 0..manifest.count {
                let name = manifest.chunk_name(i);
                let child = name.split_once('/').map_or(name.as_str(), |(_, child)| child).to_owned();
                by_dir.entry(manifest.batch_dir()).or_default().insert(child);
                deletes.push(self.layout.chunk(&name));
            }
        }
        // A batch directory whose chunks all go, goes too.
        for (dir, going) in by_dir {
            let path = self.layout.chunk(dir);
            match self.timed(client.list_children(&path)).await {
                Ok(children) if children.iter().all(|child| going.contains(child)) => deletes.push(path),
                Ok(_) | Err(ZkError::NoNode) => {}
                Err(err) => return Err(backend(&format!("list {path}"), &err)),
            }
        }

        let chunk_bytes = self.options.chunk_bytes();
        let budget = self.options.max_request_bytes;
        let fixed = OP_OVERHEAD * 2
            + self.layout.generation().len()
            + self.layout.chunks().len()
            + 64
            + deletes.iter().map(|path| OP_OVERHEAD + path.len()).sum::<usize>();
        let mut size =
            fixed + ops.iter().zip(&data).map(|(op, data)| OP_OVERHEAD + op.path().len() + data.len()).sum::<usize>();
        let mut chunked = vec![false; ops.len()];
        let manifest_estimate = 160;
        loop {
            // Values too large for any request, then the largest ones while the request is too large.
            let candidate = data
                .iter()
                .enumerate()
                .filter(|(i, d)| ops[*i].value().is_some() && !chunked[*i] && !dead[*i] && d.len() > MIN_CHUNKED)
                .max_by_key(|(_, d)| d.len())
                .map(|(i, d)| (i, d.len()));
            match candidate {
                Some((i, len)) if len > chunk_bytes || size > budget => {
                    chunked[i] = true;
                    size = size - len + manifest_estimate;
                }
                _ => break,
            }
        }
        if size > budget {
            return Err(StoreError::TooLarge { what: "zookeeper request of the batch", size, limit: budget });
        }

        let mut chunks = Vec::new();
        let batch_dir = if chunked.iter().any(|c| *c) {
            let batch = format!("c-{}", uuid::Uuid::new_v4().simple());
            for (i, is_chunked) in chunked.iter().enumerate() {
                if !*is_chunked {
                    continue;
                }
                let encoded = std::mem::take(&mut data[i]);
                let (manifest, parts) = Manifest::split(format!("{batch}/{i}"), &encoded, chunk_bytes);
                for (n, part) in parts.into_iter().enumerate() {
                    chunks.push((self.layout.chunk(&manifest.chunk_name(n)), part.to_vec()));
                }
                data[i] = manifest.to_node();
            }
            Some(self.layout.chunk(&batch))
        } else {
            None
        };
        let ops = ops.into_iter().zip(data).map(|(op, data)| op.with_data(data)).collect();
        Ok(Multi { ops, deletes, chunks, batch_dir })
    }

    /// Writes the chunks, then the `multi`.
    async fn commit(
        &self,
        client: &Client,
        writer: &mut Writer,
        generation: Generation,
        generation_version: i32,
        multi: Multi,
    ) -> Result<()> {
        let options = self.persistent();
        if let Some(dir) = &multi.batch_dir {
            let mut pending = PENDING.to_vec();
            pending.extend_from_slice(format!(" {generation}").as_bytes());
            self.timed(client.create(dir, &pending, &options))
                .await
                .map_err(|e| backend(&format!("create {dir} (outcome unknown)"), &e))?;
            let creates =
                join_all(multi.chunks.iter().map(|(path, data)| self.timed(client.create(path, data, &options)))).await;
            if let Some((path, err)) =
                multi.chunks.iter().zip(creates).find_map(|((path, _), created)| created.err().map(|e| (path, e)))
            {
                self.delete_batch_dir(client, dir).await;
                return Err(backend(&format!("write chunk {path}"), &err));
            }
        }
        let mut request = client.new_multi_writer();
        let generation_path = self.layout.generation();
        let added = (|| {
            request.add_check_version(&generation_path, generation_version)?;
            for op in &multi.ops {
                match op {
                    Final::Create { path, data } => request.add_create(path, data, &options)?,
                    Final::Set { path, data, version } => request.add_set_data(path, data, *version)?,
                    Final::Delete { path, version } => request.add_delete(path, *version)?,
                }
            }
            for path in &multi.deletes {
                request.add_delete(path, None)?;
            }
            if let Some(dir) = &multi.batch_dir {
                request.add_set_data(dir, COMMITTED, None)?;
            }
            Ok::<(), ZkError>(())
        })();
        if let Err(err) = added {
            if let Some(dir) = &multi.batch_dir {
                self.delete_batch_dir(client, dir).await;
            }
            return Err(backend("build the batch request", &err));
        }
        let committed = tokio::time::timeout(self.options.operation_timeout, request.commit())
            .await
            .unwrap_or(Err(MultiWriteError::RequestFailed { source: ZkError::Timeout }));
        match committed {
            Ok(_) => Ok(()),
            Err(MultiWriteError::OperationFailed { index: 0, source }) => {
                if let Some(dir) = &multi.batch_dir {
                    self.delete_batch_dir(client, dir).await;
                }
                writer.known = None;
                let (current, version) = self.read_generation().await?;
                writer.known = Some((current, version));
                if current != generation {
                    tracing::warn!(%current, attempted = %generation, "store write fenced");
                    return Err(StoreError::Fenced { current, attempted: generation });
                }
                Err(backend("check the generation", &source))
            }
            Err(MultiWriteError::OperationFailed { index, source }) => {
                if let Some(dir) = &multi.batch_dir {
                    self.delete_batch_dir(client, dir).await;
                }
                let path = multi.ops.get(index - 1).map_or("a chunk", Final::path);
                Err(StoreError::Backend(format!(
                    "zookeeper: the batch was refused at {path} (changed by another writer?): {source}"
                )))
            }
            Err(MultiWriteError::RequestFailed { source }) => {
                // The `multi` may or may not have been applied; its chunks stay pending for the
                // next claim to sweep if it was not.
                writer.known = None;
                Err(backend("write the batch (outcome unknown: re-read before retrying)", &source))
            }
        }
    }

    /// Deletes a batch directory and its chunks; best effort (a leftover `pending` directory is
    /// swept at the next claim).
    async fn delete_batch_dir(&self, client: &Client, dir: &str) {
        for _ in 0..3 {
            let children = match self.timed(client.list_children(dir)).await {
                Ok(children) => children,
                Err(ZkError::NoNode) => return,
                Err(err) => {
                    tracing::warn!(%dir, %err, "could not list a batch's chunks");
                    return;
                }
            };
            let paths: Vec<String> = children.iter().map(|child| format!("{dir}/{child}")).collect();
            join_all(paths.iter().map(|path| self.timed(client.delete(path, None)))).await;
            match self.timed(client.delete(dir, None)).await {
                Ok(()) | Err(ZkError::NoNode) => return,
                Err(ZkError::NotEmpty) => continue,
                Err(err) => {
                    tracing::warn!(%dir, %err, "could not delete a batch's chunks");
                    return;
                }
            }
        }
    }

    /// Deletes every `pending` batch directory with its chunks; returns how many. The caller
    /// holds the writer lock (`_writer`), so none of them belongs to a batch of this store in
    /// flight; those of other writers can no longer commit once a newer generation is claimed.
    pub(super) async fn sweep_pending_chunks(&self, _writer: &Writer) -> Result<usize> {
        let client = self.client().await?;
        let chunks = self.layout.chunks();
        let dirs =
            self.timed(client.list_children(&chunks)).await.map_err(|e| backend(&format!("list {chunks}"), &e))?;
        let dirs: Vec<String> =
            dirs.into_iter().filter(|d| d.starts_with("c-")).map(|d| format!("{chunks}/{d}")).collect();
        let reads = join_all(dirs.iter().map(|dir| self.timed(client.get_data(dir)))).await;
        let mut swept = 0;
        for (dir, read) in dirs.iter().zip(reads) {
            match read {
                Ok((data, _)) if data.starts_with(PENDING) => {
                    self.delete_batch_dir(&client, dir).await;
                    swept += 1;
                }
                Ok(_) | Err(ZkError::NoNode) => {}
                Err(err) => return Err(backend(&format!("read {dir}"), &err)),
            }
        }
        if swept > 0 {
            tracing::info!(batches = swept, "deleted the chunks of batches that never committed");
        }
        Ok(swept)
    }
}

/// One ZooKeeper operation of a batch, before its value is encoded.
#[derive(Debug)]
enum Planned {
    Create { path: String, value: Option<Vec<u8>> },
    Set { path: String, value: Vec<u8>, version: Option<i32> },
    Delete { path: String, version: Option<i32> },
}

impl Planned {
    fn path(&self) -> &str {
        match self {
            Planned::Create { path, .. } | Planned::Set { path, .. } | Planned::Delete { path, .. } => path,
        }
    }

    fn value(&self) -> Option<&[u8]> {
        match self {
            Planned::Create { value, .. } => value.as_deref(),
            Planned::Set { value, .. } => Some(value),
            Planned::Delete { .. } => None,
        }
    }

    fn with_data(self, data: Vec<u8>) -> Final {
        match self {
            Planned::Create { path, .. } => Final::Create { path, data },
            Planned::Set { path, version, .. } => Final::Set { path, data, version },
            Planned::Delete { path, version } => Final::Delete { path, version },
        }
    }
}

/// One ZooKeeper operation of the `multi`, with its node data.
#[derive(Debug)]
enum Final {
    Create { path: String, data: Vec<u8> },
    Set { path: String, data: Vec<u8>, version: Option<i32> },
    Delete { path: String, version: Option<i32> },
}

impl Final {
    fn path(&self) -> &str {
        match self {
            Final::Create { path, .. } | Final::Set { path, .. } | Final::Delete { path, .. } => path,
        }
    }
}

/// What [`Inner::commit`] writes.
struct Multi {
    ops: Vec<Final>,
    /// Chunks (and batch directories) of replaced or deleted values.
    deletes: Vec<String>,
    /// Chunks to write before the `multi`.
    chunks: Vec<(String, Vec<u8>)>,
    /// The batch directory of `chunks`, if any.
    batch_dir: Option<String>,
}

/// A record as the batch sees it.
#[derive(Debug)]
struct RecordState {
    /// Its node's version; `None` if absent.
    version: Option<i32>,
    /// The manifest of the value it had before the batch, while the batch has not replaced it.
    prior: Option<Manifest>,
}

/// A versioned key as the batch sees it.
#[derive(Debug, Default)]
struct KeyState {
    /// Whether the key's node exists (it exists exactly while it has versions).
    node: bool,
    versions: BTreeSet<String>,
    /// Versions that existed before the batch and that it has not replaced or deleted.
    prior: BTreeSet<String>,
}

/// The nodes a batch touches, as read before it and changed by its operations so far; collects
/// the ZooKeeper operations that make those changes.
struct Overlay<'a> {
    layout: &'a Layout,
    generation: Generation,
    /// By record path.
    records: HashMap<String, RecordState>,
    /// By versioned key path.
    keys: HashMap<String, KeyState>,
    ops: Vec<Planned>,
    /// Chunked values the batch replaces or deletes.
    obsolete: Vec<Manifest>,
    /// Version nodes that existed before the batch and that it replaces or deletes (their data,
    /// not read yet, may be a manifest).
    replaced_versions: Vec<String>,
}

impl<'a> Overlay<'a> {
    fn new(layout: &'a Layout, generation: Generation) -> Overlay<'a> {
        Overlay {
            layout,
            generation,
            records: HashMap::new(),
            keys: HashMap::new(),
            ops: Vec::new(),
            obsolete: Vec::new(),
            replaced_versions: Vec::new(),
        }
    }

    fn record(&mut self, namespace: &str, key: &str) -> Result<(String, &mut RecordState)> {
        let path = self.layout.record(namespace, key);
        let state = self
            .records
            .get_mut(&path)
            .ok_or_else(|| StoreError::Backend(format!("zookeeper store: {path} was not read before the batch")))?;
        Ok((path, state))
    }

    fn key(&mut self, namespace: &str, key: &str) -> Result<(String, &mut KeyState)> {
        let path = self.layout.version_key(namespace, key);
        let state = self
            .keys
            .get_mut(&path)
            .ok_or_else(|| StoreError::Backend(format!("zookeeper store: {path} was not read before the batch")))?;
        Ok((path, state))
    }
}

impl Txn for Overlay<'_> {
    fn generation(&mut self) -> Result<Generation> {
        Ok(self.generation)
    }

    fn set_generation(&mut self, _generation: Generation) -> Result<()> {
        Err(StoreError::Backend("zookeeper store: claims are not part of batches".to_owned()))
    }

    fn revision(&mut self, namespace: &str, key: &str) -> Result<Option<Revision>> {
        let (_, state) = self.record(namespace, key)?;
        Ok(state.version.map(|v| Revision(u64::try_from(v).unwrap_or(0) + 1)))
    }

    fn put_record(&mut self, namespace: &str, key: &str, revision: Revision, value: &[u8]) -> Result<()> {
        let (path, state) = self.record(namespace, key)?;
        let (op, version) = match state.version {
            Some(version) => (Planned::Set { path, value: value.to_vec(), version: Some(version) }, version + 1),
            None => (Planned::Create { path, value: Some(value.to_vec()) }, 0),
        };
        // The node's version after this write must give the revision the batch semantics chose.
        if u64::try_from(version).ok().map(|v| v + 1) != Some(revision.0) {
            return Err(StoreError::Corrupt(format!("{}: revision {revision} but node version {version}", op.path())));
        }
        state.version = Some(version);
        let prior = state.prior.take();
        self.obsolete.extend(prior);
        self.ops.push(op);
        Ok(())
    }

    fn delete_record(&mut self, namespace: &str, key: &str) -> Result<()> {
        let (path, state) = self.record(namespace, key)?;
        let version = state.version.take();
        let prior = state.prior.take();
        self.obsolete.extend(prior);
        self.ops.push(Planned::Delete { path, version });
        Ok(())
    }

    fn versions(&mut self, namespace: &str, key: &str) -> Result<Vec<String>> {
        let (_, state) = self.key(namespace, key)?;
        Ok(state.versions.iter().cloned().collect())
    }

    fn put_version(&mut self, namespace: &str, key: &str, version: &str, value: &[u8]) -> Result<()> {
        let node_path = self.layout.version(namespace, key, version);
        let (key_path, state) = self.key(namespace, key)?;
        let mut ops = Vec::with_capacity(2);
        if !state.node {
            state.node = true;
            ops.push(Planned::Create { path: key_path, value: None });
        }
        if state.versions.contains(version) {
            if state.prior.remove(version) {
                self.replaced_versions.push(node_path.clone());
            }
            ops.push(Planned::Set { path: node_path, value: value.to_vec(), version: None });
        } else {
            state.versions.insert(version.to_owned());
            ops.push(Planned::Create { path: node_path, value: Some(value.to_vec()) });
        }
        self.ops.extend(ops);
        Ok(())
    }

    fn delete_version(&mut self, namespace: &str, key: &str, version: &str) -> Result<()> {
        let node_path = self.layout.version(namespace, key, version);
        let (key_path, state) = self.key(namespace, key)?;
        if !state.versions.remove(version) {
            return Ok(());
        }
        let replaced = state.prior.remove(version);
        let last = state.versions.is_empty() && state.node;
        if last {
            state.node = false;
        }
        if replaced {
            self.replaced_versions.push(node_path.clone());
        }
        self.ops.push(Planned::Delete { path: node_path, version: None });
        if last {
            self.ops.push(Planned::Delete { path: key_path, version: None });
        }
        Ok(())
    }
}
