//! JSON output as Mesos clients need it: compact, and ASCII only.
//!
//! mesoshttp cuts RecordIO records with a byte count applied to decoded text, so a raw UTF-8
//! character in any event breaks it. Escaping every non-ASCII character as `\uXXXX` keeps byte and
//! character counts equal and is valid JSON for every other client.

use serde::Serialize;
use std::io;

/// A compact formatter that escapes every non-ASCII character.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Serializes `value` as compact, ASCII-only JSON.
pub fn to_ascii_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    // Serializing our own types into a Vec cannot fail: no maps with non-string keys are used.
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out
}

/// Same as [`to_ascii_vec`], as a `String`.
pub fn to_ascii_string<T: Serialize + ?Sized>(value: &T) -> String {
    // The formatter only emits ASCII.
    String::from_utf8(to_ascii_vec(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_and_round_trips() {
        let s = to_ascii_string(&serde_json::json!({"zone": "é😀", "n": "a\nb"}));
        assert!(s.is_ascii());
        assert!(!s.contains('\n'));
        let back: serde_json::Value = serde_json::from_str(&s).expect("valid json");
        assert_eq!(back["zone"], "é😀");
        assert_eq!(back["n"], "a\nb");
    }
}
