//! What a value node holds. The first byte is a tag:
//!
//! - `0` raw: the value follows as it is;
//! - `1` gzip: the value, gzip-compressed (values above the compression threshold, 64 KiB by
//!   default like Marathon's `--zk_compression_threshold`, when that makes them smaller);
//! - `2` manifest: the value did not fit into the `multi` that wrote it, so its encoded form (a
//!   raw or gzip node as above) is split into chunk nodes written before the `multi`; the
//!   manifest (JSON) names them: `{"chunks":"c-<batch>/<value>","count":3,"size":1572864,"crc32":...}`,
//!   chunk `i` being `<chunks>-<i>` under `<zk>/state/chunks`, `size` and `crc32` those of the
//!   joined chunks.

use flate2::Crc;
use std::io::Read;
use store::limits;

pub(crate) const TAG_RAW: u8 = 0;
pub(crate) const TAG_GZIP: u8 = 1;
pub(crate) const TAG_MANIFEST: u8 = 2;

/// Encodes a value as node data: gzip if it is larger than `compress_above` (when given) and that
/// makes it smaller, raw otherwise.
pub(crate) fn encode(value: &[u8], compress_above: Option<usize>) -> Vec<u8> {
    if let Some(threshold) = compress_above
        && value.len() > threshold
    {
        let mut gz = flate2::write::GzEncoder::new(vec![TAG_GZIP], flate2::Compression::fast());
        if std::io::Write::write_all(&mut gz, value).is_ok()
            && let Ok(compressed) = gz.finish()
            && compressed.len() < value.len() + 1
        {
            return compressed;
        }
    }
    let mut raw = Vec::with_capacity(value.len() + 1);
    raw.push(TAG_RAW);
    raw.extend_from_slice(value);
    raw
}

/// Where a chunked value's parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Chunk `i` is the node `<prefix>-<i>` under `<zk>/state/chunks`.
    pub(crate) prefix: String,
    pub(crate) count: usize,
    /// Bytes of the joined chunks (an encoded raw or gzip value).
    pub(crate) size: usize,
    pub(crate) crc32: u32,
}

impl Manifest {
    /// The manifest of `encoded` cut into chunks of at most `chunk_size` bytes, and the chunks.
    pub(crate) fn split(prefix: String, encoded: &[u8], chunk_size: usize) -> (Manifest, Vec<&[u8]>) {
        let chunks: Vec<&[u8]> = encoded.chunks(chunk_size.max(1)).collect();
        let mut crc = Crc::new();
        crc.update(encoded);
        (Manifest { prefix, count: chunks.len(), size: encoded.len(), crc32: crc.sum() }, chunks)
    }

    /// The batch directory (`c-<batch>`) under `<zk>/state/chunks`.
    pub(crate) fn batch_dir(&self) -> &str {
        self.prefix.split_once('/').map_or(self.prefix.as_str(), |(dir, _)| dir)
    }

    /// Name of chunk `i`.
    pub(crate) fn chunk_name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// Node data: tag and JSON.
    pub(crate) fn to_node(&self) -> Vec<u8> {
        let json = serde_json::json!({
            "chunks": self.prefix,
            "count": self.count,
            "size": self.size,
            "crc32": self.crc32,
        });
        let mut data = vec![TAG_MANIFEST];
        data.extend_from_slice(json.to_string().as_bytes());
        data
    }

    fn parse(json: &[u8]) -> Result<Manifest, String> {
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("manifest: {e}"))?;
        let field = |name: &str| value.get(name).ok_or_else(|| format!("manifest without {name:?}"));
        let number = |name: &str| {
            field(name)?.as_u64().ok_or_else(|| format!("manifest {name:?} is not a non-negative integer"))
        };
        let prefix = field("chunks")?.as_str().ok_or("manifest \"chunks\" is not a string")?.to_owned();
        if !valid_prefix(&prefix) {
            return Err(format!("manifest names chunks {prefix:?}"));
        }
        let count = usize::try_from(number("count")?).map_err(|e| e.to_string())?;
        let size = usize::try_from(number("size")?).map_err(|e| e.to_string())?;
        let crc32 = u32::try_from(number("crc32")?).map_err(|e| e.to_string())?;
        // An encoded value is at most the value limit plus gzip's overhead.
        if size > limits::MAX_VALUE_BYTES + (limits::MAX_VALUE_BYTES >> 6) + 1024 || count > size.max(1) {
            return Err(format!("manifest of {count} chunks, {size} bytes is out of bounds"));
        }
        Ok(Manifest { prefix, count, size, crc32 })
    }

    /// Checks the joined chunks against the manifest.
    pub(crate) fn verify(&self, joined: &[u8]) -> Result<(), String> {
        if joined.len() != self.size {
            return Err(format!("chunks {}: {} bytes, the manifest says {}", self.prefix, joined.len(), self.size));
        }
        let mut crc = Crc::new();
        crc.update(joined);
        if crc.sum() != self.crc32 {
            return Err(format!("chunks {}: checksum mismatch", self.prefix));
        }
        Ok(())
    }
}

/// `c-<hex>/<decimal>`.
fn valid_prefix(prefix: &str) -> bool {
    let Some((dir, value)) = prefix.split_once('/') else { return false };
    let Some(batch) = dir.strip_prefix("c-") else { return false };
    !batch.is_empty()
        && batch.bytes().all(|b| b.is_ascii_hexdigit())
        && !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
}

/// What a value node holds, decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NodeValue {
    /// The value itself.
    Value(Vec<u8>),
    /// A manifest: the value is in chunks.
    Chunked(Manifest),
}

/// Decodes a value node's data.
pub(crate) fn decode_node(data: &[u8]) -> Result<NodeValue, String> {
    match data.first() {
        Some(&TAG_MANIFEST) => Manifest::parse(&data[1..]).map(NodeValue::Chunked),
        _ => decode_value(data).map(NodeValue::Value),
    }
}

/// Decodes an encoded raw or gzip value (a node's data, or joined chunks).
pub(crate) fn decode_value(data: &[u8]) -> Result<Vec<u8>, String> {
    match data.split_first() {
        Some((&TAG_RAW, value)) => Ok(value.to_vec()),
        Some((&TAG_GZIP, compressed)) => {
            let mut value = Vec::new();
            flate2::read::GzDecoder::new(compressed)
                .take(limits::MAX_VALUE_BYTES as u64 + 1)
                .read_to_end(&mut value)
                .map_err(|e| format!("gzip: {e}"))?;
            if value.len() > limits::MAX_VALUE_BYTES {
                return Err(format!("a compressed value expands beyond {} bytes", limits::MAX_VALUE_BYTES));
            }
            Ok(value)
        }
        Some((tag, _)) => Err(format!("unknown value tag {tag}")),
        None => Err("empty value node".to_owned()),
    }
}

/// Whether node data is a manifest (its chunks must go when the node is replaced or deleted).
pub(crate) fn manifest_of(data: &[u8]) -> Option<Manifest> {
    match decode_node(data) {
        Ok(NodeValue::Chunked(manifest)) => Some(manifest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_stay_raw_and_large_ones_compress() {
        assert_eq!(encode(b"abc", Some(64 << 10)), b"\0abc");
        assert_eq!(decode_value(&encode(b"abc", Some(64 << 10))), Ok(b"abc".to_vec()));
        assert_eq!(encode(b"", None), b"\0");
        let large = vec![7u8; 1 << 20];
        let encoded = encode(&large, Some(64 << 10));
        assert_eq!(encoded[0], TAG_GZIP);
        assert!(encoded.len() < 10_000, "{}", encoded.len());
        assert_eq!(decode_node(&encoded), Ok(NodeValue::Value(large.clone())));
        // Without compression (threshold None) it stays raw.
        assert_eq!(encode(&large, None)[0], TAG_RAW);
        // Incompressible data stays raw even above the threshold.
        let noise: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let encoded = encode(&noise, Some(1));
        assert_eq!(decode_value(&encoded), Ok(noise));
    }

    #[test]
    fn manifests_round_trip_and_verify() {
        let encoded = encode(&[1u8; 1000], None);
        let (manifest, chunks) = Manifest::split("c-abc/0".to_owned(), &encoded, 300);
        assert_eq!(manifest.count, 4);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), encoded.len());
        assert_eq!(manifest.chunk_name(3), "c-abc/0-3");
        assert_eq!(manifest.batch_dir(), "c-abc");
        let node = manifest.to_node();
        assert_eq!(decode_node(&node), Ok(NodeValue::Chunked(manifest.clone())));
        assert_eq!(manifest_of(&node), Some(manifest.clone()));
        assert_eq!(manifest.verify(&chunks.concat()), Ok(()));
        let mut damaged = chunks.concat();
        damaged[10] ^= 1;
        assert!(manifest.verify(&damaged).is_err());
        assert!(manifest.verify(&damaged[1..]).is_err());
    }

    #[test]
    fn damaged_nodes_are_errors() {
        assert!(decode_node(b"").is_err());
        assert!(decode_node(b"\x07junk").is_err());
        assert!(decode_node(b"\x01not gzip").is_err());
        assert!(decode_node(b"\x02{}").is_err());
        assert!(decode_node(b"\x02{\"chunks\":\"../x\",\"count\":1,\"size\":1,\"crc32\":0}").is_err());
        assert!(decode_node(b"\x02{\"chunks\":\"c-a/0\",\"count\":1,\"size\":99999999999,\"crc32\":0}").is_err());
        // A gzip bomb is cut off at the value limit.
        let bomb = encode(&vec![0u8; limits::MAX_VALUE_BYTES + 1], Some(0));
        assert!(decode_value(&bomb).is_err());
    }
}
