//! Where things live under `<zk>/state` (the layout the `store` crate documents):
//!
//! ```text
//! <zk>/state/generation                                  data: the generation, decimal
//! <zk>/state/<ns>/records/<bucket>/<key>                 data: a value (see `codec`)
//! <zk>/state/<ns>/versions/<bucket>/<key>/<version>      data: a value; <key> has no data
//! <zk>/state/chunks/c-<batch>                           data: `pending` or `committed`
//! <zk>/state/chunks/c-<batch>/<value>-<n>                chunk n of a batch's value
//! ```
//!
//! `<bucket>` is one hex digit, Marathon's `abs(key.hashCode % 16)` (Java's `String.hashCode`), so
//! no node gets too many children. Keys and versions are percent-encoded into node names: `/`,
//! `%` and the characters ZooKeeper refuses in paths (C0/C1 controls, U+D800..U+F8FF,
//! U+FFF0..U+FFFF, and every character outside the BMP, which Java sees as surrogates) become
//! `%XX` per UTF-8 byte, and the names `.` and `..` become `%2E`, `%2E%2E`.
//!
//! Namespace names (`[a-z0-9_-]`) may equal `generation` or `chunks`: a ZooKeeper node can hold
//! data and children, so a namespace `generation` lives in `generation/records/...` beside the
//! generation's data, and chunk batch names (`c-<hex>`) never equal `records` or `versions`.

/// Buckets per namespace and kind.
pub(crate) const BUCKETS: u8 = 16;

/// The data of a chunk batch directory whose batch has not committed.
pub(crate) const PENDING: &[u8] = b"pending";
/// The data of a chunk batch directory whose batch committed.
pub(crate) const COMMITTED: &[u8] = b"committed";

/// Paths of one store, rooted at `<zk>/state`.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    state: String,
}

/// Records or versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Records,
    Versions,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Records => "records",
            Kind::Versions => "versions",
        }
    }
}

impl Layout {
    /// The layout of the store whose URL path is `root` (e.g. `/marathon`).
    pub(crate) fn new(root: &str) -> Layout {
        Layout { state: format!("{}/state", root.trim_end_matches('/')) }
    }

    pub(crate) fn state(&self) -> &str {
        &self.state
    }

    pub(crate) fn generation(&self) -> String {
        format!("{}/generation", self.state)
    }

    pub(crate) fn chunks(&self) -> String {
        format!("{}/chunks", self.state)
    }

    pub(crate) fn chunk(&self, name: &str) -> String {
        format!("{}/chunks/{name}", self.state)
    }

    pub(crate) fn namespace(&self, ns: &str) -> String {
        format!("{}/{ns}", self.state)
    }

    pub(crate) fn kind_dir(&self, ns: &str, kind: Kind) -> String {
        format!("{}/{ns}/{}", self.state, kind.dir())
    }

    /// The bucket directories of a namespace and kind, in bucket order.
    pub(crate) fn bucket_dirs(&self, ns: &str, kind: Kind) -> Vec<String> {
        (0..BUCKETS).map(|b| format!("{}/{b:x}", self.kind_dir(ns, kind))).collect()
    }

    pub(crate) fn record(&self, ns: &str, key: &str) -> String {
        self.keyed(ns, Kind::Records, key)
    }

    /// The node whose children are a key's versions.
    pub(crate) fn version_key(&self, ns: &str, key: &str) -> String {
        self.keyed(ns, Kind::Versions, key)
    }

    pub(crate) fn version(&self, ns: &str, key: &str, version: &str) -> String {
        format!("{}/{}", self.version_key(ns, key), encode_name(version))
    }

    fn keyed(&self, ns: &str, kind: Kind, key: &str) -> String {
        format!("{}/{:x}/{}", self.kind_dir(ns, kind), bucket(key), encode_name(key))
    }
}

/// Marathon's bucket: `abs(key.hashCode % 16)`, with Java's `String.hashCode` over UTF-16 units.
pub(crate) fn bucket(key: &str) -> u8 {
    let hash = key.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
    (hash % i32::from(BUCKETS)).unsigned_abs() as u8
}

/// Whether ZooKeeper (or the client) refuses `c` in a path, or it is our separator or escape.
fn must_escape(c: char) -> bool {
    let u = u32::from(c);
    c == '/'
        || c == '%'
        || u <= 0x1f
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        || u > 0xffff
}

/// A key or version as a node name.
pub(crate) fn encode_name(text: &str) -> String {
    if text == "." {
        return "%2E".to_owned();
    }
    if text == ".." {
        return "%2E%2E".to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if must_escape(c) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The key or version a node name stands for; `None` if it is not one of ours.
pub(crate) fn decode_name(name: &str) -> Option<String> {
    if !name.contains('%') {
        return Some(name.to_owned());
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_javas_hash_code_mod_16() {
        // Java (jshell): "/prod/web".hashCode() == -56841781, Math.abs(-56841781 % 16) == 5.
        assert_eq!(bucket("/prod/web"), 5);
        // A negative hash code: "polygenelubricants".hashCode() == Integer.MIN_VALUE -> 0.
        assert_eq!(bucket("polygenelubricants"), 0);
        // "zz".hashCode() == 3904 -> 0; "a".hashCode() == 97 -> 1.
        assert_eq!(bucket("zz"), 0);
        assert_eq!(bucket("a"), 1);
        // Non-BMP characters count as two UTF-16 units.
        assert!(bucket("/😀") < 16);
        assert_eq!(Layout::new("/marathon").record("apps", "a"), "/marathon/state/apps/records/1/a");
    }

    #[test]
    fn names_round_trip_and_are_valid_zookeeper_names() {
        for text in [
            "/prod/web",
            "plain",
            "100%",
            ".",
            "..",
            "...",
            ".hidden",
            "a b",
            "ü/ß",
            "😀 emoji",
            "\u{e000}private",
            "\u{fff5}special",
            "\u{7f}del",
            "x".repeat(512).as_str(),
            "2024-05-01T12:00:00.000Z",
        ] {
            let name = encode_name(text);
            assert!(!name.contains('/'), "{name}");
            assert!(name != "." && name != "..", "{name}");
            assert!(name.chars().all(|c| !must_escape(c) || c == '%'), "{name:?}");
            assert_eq!(decode_name(&name).as_deref(), Some(text), "{name}");
        }
        assert_eq!(encode_name("/a/b"), "%2Fa%2Fb");
        assert_eq!(encode_name("%"), "%25");
        assert_eq!(decode_name("%zz"), None);
        assert_eq!(decode_name("%C3"), None);
    }
}
