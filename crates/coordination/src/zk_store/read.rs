//! Reads: single nodes, directory listings (all buckets at once) and chunked values.

use super::codec::{self, Manifest, NodeValue};
use super::layout::{self, Kind};
use super::{Inner, backend};
use futures::future::join_all;
use store::{Entry, Generation, Namespace, Result, Revision, StoreError};
use zookeeper_client::Error as ZkError;

/// How often a read starts over when a value's chunks vanish under it (the value was replaced).
const CHUNK_RETRIES: usize = 5;

impl Inner {
    /// The registered generation and the version of its node.
    pub(super) async fn read_generation(&self) -> Result<(Generation, i32)> {
        let client = self.client().await?;
        let path = self.layout.generation();
        let (data, stat) =
            self.timed(client.get_data(&path)).await.map_err(|e| backend(&format!("read {path}"), &e))?;
        let text = std::str::from_utf8(&data).map_err(|_| StoreError::Corrupt(format!("{path} is not text")))?;
        let generation = text
            .trim()
            .parse::<u64>()
            .map_err(|_| StoreError::Corrupt(format!("{path} holds {text:?}, not a number")))?;
        Ok((Generation(generation), stat.version))
    }

    /// A node's data and version; `None` if it does not exist.
    pub(super) async fn read_node(&self, path: &str) -> Result<Option<(Vec<u8>, i32)>> {
        let client = self.client().await?;
        match self.timed(client.get_data(path)).await {
            Ok((data, stat)) => Ok(Some((data, stat.version))),
            Err(ZkError::NoNode) => Ok(None),
            Err(err) => Err(backend(&format!("read {path}"), &err)),
        }
    }

    /// A value node's value and version (chunks joined); `None` if it does not exist.
    pub(super) async fn get_value(&self, path: &str) -> Result<Option<(Vec<u8>, i32)>> {
        for _ in 0..CHUNK_RETRIES {
            let Some((data, version)) = self.read_node(path).await? else { return Ok(None) };
            match self.decode(path, &data).await? {
                Some(value) => return Ok(Some((value, version))),
                None => continue,
            }
        }
        Err(StoreError::Backend(format!("zookeeper: {path} kept changing while it was read")))
    }

    /// Decodes node data, reading chunks if it is a manifest; `None` if a chunk is gone (the node
    /// was replaced meanwhile: read it again).
    async fn decode(&self, path: &str, data: &[u8]) -> Result<Option<Vec<u8>>> {
        match codec::decode_node(data).map_err(|e| StoreError::Corrupt(format!("{path}: {e}")))? {
            NodeValue::Value(value) => Ok(Some(value)),
            NodeValue::Chunked(manifest) => self.read_chunks(path, &manifest).await,
        }
    }

    async fn read_chunks(&self, path: &str, manifest: &Manifest) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let names: Vec<String> = (0..manifest.count).map(|i| self.layout.chunk(&manifest.chunk_name(i))).collect();
        let reads = names.iter().map(|name| self.timed(client.get_data(name)));
        let mut joined = Vec::with_capacity(manifest.size);
        for (name, result) in names.iter().zip(join_all(reads).await) {
            match result {
                Ok((data, _)) => joined.extend_from_slice(&data),
                Err(ZkError::NoNode) => return Ok(None),
                Err(err) => return Err(backend(&format!("read {name}"), &err)),
            }
        }
        manifest.verify(&joined).map_err(|e| StoreError::Corrupt(format!("{path}: {e}")))?;
        codec::decode_value(&joined).map(Some).map_err(|e| StoreError::Corrupt(format!("{path}: {e}")))
    }

    /// A node's children decoded as keys or versions; `None` if the node does not exist.
    /// Children that are not our names are skipped (with a warning).
    pub(super) async fn decoded_children(&self, path: &str) -> Result<Option<Vec<String>>> {
        let client = self.client().await?;
        match self.timed(client.list_children(path)).await {
            Ok(children) => Ok(Some(decode_all(path, children))),
            Err(ZkError::NoNode) => Ok(None),
            Err(err) => Err(backend(&format!("list {path}"), &err)),
        }
    }

    /// Every key of a namespace and kind, with its node path, sorted by key.
    async fn keys_of(&self, namespace: &Namespace, kind: Kind) -> Result<Vec<(String, String)>> {
        let client = self.client().await?;
        let dirs = self.layout.bucket_dirs(namespace.as_str(), kind);
        let listings = join_all(dirs.iter().map(|dir| self.timed(client.list_children(dir)))).await;
        let mut keys = Vec::new();
        for (dir, listing) in dirs.iter().zip(listings) {
            let children = match listing {
                Ok(children) => children,
                Err(ZkError::NoNode) => continue,
                Err(err) => return Err(backend(&format!("list {dir}"), &err)),
            };
            for child in children {
                match layout::decode_name(&child) {
                    Some(key) => keys.push((key, format!("{dir}/{child}"))),
                    None => tracing::warn!(%dir, %child, "not a key of the ZooKeeper store; ignored"),
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    pub(super) async fn list_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        Ok(self.keys_of(namespace, Kind::Records).await?.into_iter().map(|(key, _)| key).collect())
    }

    pub(super) async fn list_versioned_keys(&self, namespace: &Namespace) -> Result<Vec<String>> {
        Ok(self.keys_of(namespace, Kind::Versions).await?.into_iter().map(|(key, _)| key).collect())
    }

    /// One record.
    pub(super) async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Entry>> {
        let path = self.layout.record(namespace.as_str(), key);
        Ok(self.get_value(&path).await?.map(|(value, version)| entry(value, version)))
    }

    /// Every record of a namespace: all buckets listed at once, then every node read at once.
    pub(super) async fn list(&self, namespace: &Namespace) -> Result<Vec<(String, Entry)>> {
        let keys = self.keys_of(namespace, Kind::Records).await?;
        let client = self.client().await?;
        let reads = join_all(keys.iter().map(|(_, path)| self.timed(client.get_data(path)))).await;
        let mut records = Vec::with_capacity(keys.len());
        for ((key, path), read) in keys.into_iter().zip(reads) {
            let (data, stat) = match read {
                Ok(found) => found,
                // Deleted since the listing.
                Err(ZkError::NoNode) => continue,
                Err(err) => return Err(backend(&format!("read {path}"), &err)),
            };
            let found = match self.decode(&path, &data).await? {
                Some(value) => Some((value, stat.version)),
                None => self.get_value(&path).await?,
            };
            if let Some((value, version)) = found {
                records.push((key, entry(value, version)));
            }
        }
        Ok(records)
    }

    /// Chunk nodes under `<zk>/state/chunks` (below the batch directories).
    pub(super) async fn chunk_count(&self) -> Result<usize> {
        let client = self.client().await?;
        let chunks = self.layout.chunks();
        let dirs =
            self.timed(client.list_children(&chunks)).await.map_err(|e| backend(&format!("list {chunks}"), &e))?;
        let mut count = 0;
        for dir in dirs.iter().filter(|d| d.starts_with("c-")) {
            let path = format!("{chunks}/{dir}");
            match self.timed(client.list_children(&path)).await {
                Ok(children) => count += children.len(),
                Err(ZkError::NoNode) => {}
                Err(err) => return Err(backend(&format!("list {path}"), &err)),
            }
        }
        Ok(count)
    }
}

fn entry(value: Vec<u8>, version: i32) -> Entry {
    Entry { value, revision: Revision(u64::try_from(version).unwrap_or(0) + 1) }
}

fn decode_all(dir: &str, children: Vec<String>) -> Vec<String> {
    children
        .into_iter()
        .filter_map(|child| {
            let decoded = layout::decode_name(&child);
            if decoded.is_none() {
                tracing::warn!(%dir, %child, "not a name of the ZooKeeper store; ignored");
            }
            decoded
        })
        .collect()
}
