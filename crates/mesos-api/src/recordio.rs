//! RecordIO framing: `<decimal byte length>\n<record>`, repeated, with nothing in between.

use bytes::{Buf, Bytes, BytesMut};

/// Records larger than this are refused by the decoder (protects readers from a hostile peer).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Frames one record.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(record);
    out.freeze()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record length is not a decimal number")]
    BadLength,
    #[error("record length is zero")]
    ZeroLength,
    #[error("record of {0} bytes exceeds the limit of {MAX_RECORD_BYTES}")]
    TooLarge(usize),
}

/// Incremental decoder: feed it bytes as they arrive, take complete records out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    failed: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `data` and returns every record completed by it. After an error the decoder is
    /// poisoned: the stream cannot be resynchronised.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Bytes>, DecodeError> {
        if self.failed {
            return Err(DecodeError::BadLength);
        }
        self.buf.extend_from_slice(data);
        let mut records = Vec::new();
        loop {
            let Some(newline) = self.buf.iter().position(|b| *b == b'\n') else {
                // A length never has more than 20 digits.
                if self.buf.len() > 20 {
                    self.failed = true;
                    return Err(DecodeError::BadLength);
                }
                break;
            };
            let len = match parse_len(&self.buf[..newline]) {
                Ok(len) => len,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            };
            if self.buf.len() < newline + 1 + len {
                break;
            }
            self.buf.advance(newline + 1);
            records.push(self.buf.split_to(len).freeze());
        }
        Ok(records)
    }
}

fn parse_len(digits: &[u8]) -> Result<usize, DecodeError> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecodeError::BadLength);
    }
    let text = std::str::from_utf8(digits).map_err(|_| DecodeError::BadLength)?;
    let len: u64 = text.parse().map_err(|_| DecodeError::BadLength)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::BadLength)?;
    if len == 0 {
        return Err(DecodeError::ZeroLength);
    }
    if len > MAX_RECORD_BYTES {
        return Err(DecodeError::TooLarge(len));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_and_unframes() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&encode(b"{\"type\":\"HEARTBEAT\"}"));
        stream.extend_from_slice(&encode(b"abc"));
        assert_eq!(&stream[..3], b"20\n");
        let mut dec = Decoder::new();
        let recs = dec.feed(&stream).expect("decode");
        assert_eq!(recs, vec![Bytes::from_static(b"{\"type\":\"HEARTBEAT\"}"), Bytes::from_static(b"abc")]);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Decoder::new().feed(b"x\n"), Err(DecodeError::BadLength));
        assert_eq!(Decoder::new().feed(b"0\n"), Err(DecodeError::ZeroLength));
        assert!(matches!(Decoder::new().feed(b"99999999999\n"), Err(DecodeError::TooLarge(_))));
        assert_eq!(Decoder::new().feed(&[b'1'; 30]), Err(DecodeError::BadLength));
    }

    #[test]
    fn a_ten_gigabyte_length_is_refused_before_anything_is_allocated() {
        let mut dec = Decoder::new();
        assert_eq!(dec.feed(b"10737418240\n{"), Err(DecodeError::TooLarge(10_737_418_240)));
        assert!(dec.buf.capacity() < 1024, "the decoder reserved {} bytes", dec.buf.capacity());
        // Poisoned: the stream cannot be resynchronised.
        assert!(dec.feed(b"2\n{}").is_err());
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..10),
            cut in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = records.iter().flat_map(|r| encode(r).to_vec()).collect();
            let at = if stream.is_empty() { 0 } else { cut.index(stream.len()) };
            let mut dec = Decoder::new();
            let mut got = dec.feed(&stream[..at]).expect("first half");
            got.extend(dec.feed(&stream[at..]).expect("second half"));
            let got: Vec<Vec<u8>> = got.into_iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, records);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut dec = Decoder::new();
            let _ = dec.feed(&data);
            let _ = dec.feed(&data);
        }
    }
}
