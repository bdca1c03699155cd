//! Timestamps as Marathon writes them: ISO-8601 UTC with exactly three fraction digits and `Z`
//! (`2015-09-30T09:09:17.614Z`). marathon-python parses only `%Y-%m-%dT%H:%M:%S.%fZ` and
//! `%Y-%m-%dT%H:%M:%SZ`, so no other shape may be written.

use chrono::{DateTime, NaiveDateTime, Utc};

/// A point in time on the wire. Marathon versions are timestamps too.
pub type Timestamp = DateTime<Utc>;

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.sssZ` (millisecond precision, truncated).
pub fn format_timestamp(t: Timestamp) -> String {
    match timestamp_text(t) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => chrono_text(t),
    }
}

fn chrono_text(t: Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// [`format_timestamp`]'s text without chrono's formatting machinery (listings write three
/// timestamps per task): `None` outside years 0 to 9999 and in leap seconds, which chrono
/// writes.
pub(crate) fn timestamp_text(t: Timestamp) -> Option<[u8; 24]> {
    use chrono::{Datelike, Timelike};
    fn put(out: &mut [u8; 24], at: usize, width: usize, mut value: u32) {
        for i in (at..at + width).rev() {
            // `value % 10` is a digit.
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    // The naive UTC parts: `DateTime<Utc>`'s own accessors add the (zero) offset each time.
    let (date, time) = (t.naive_utc().date(), t.naive_utc().time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let millis = time.nanosecond() / 1_000_000;
    if millis > 999 {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00.000Z";
    put(&mut out, 0, 4, year);
    put(&mut out, 5, 2, date.month());
    put(&mut out, 8, 2, date.day());
    put(&mut out, 11, 2, time.hour());
    put(&mut out, 14, 2, time.minute());
    put(&mut out, 17, 2, time.second());
    put(&mut out, 20, 3, millis);
    Some(out)
}

/// Appends `t` as a JSON string: the same bytes as serializing it with [`serde_ts`].
pub(crate) fn write_timestamp(out: &mut Vec<u8>, t: Timestamp) {
    match timestamp_text(t) {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(&text);
            out.push(b'"');
        }
        None => {
            let _ = serde_json::to_writer(&mut *out, &chrono_text(t));
        }
    }
}

fn serialize_timestamp<S: serde::Serializer>(t: Timestamp, s: S) -> Result<S::Ok, S::Error> {
    match timestamp_text(t) {
        Some(text) => s.serialize_str(&String::from_utf8_lossy(&text)),
        None => s.serialize_str(&chrono_text(t)),
    }
}

/// Parses an ISO-8601 / RFC 3339 timestamp: with or without fraction digits, with `Z` or a
/// numeric offset (converted to UTC). Returns `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Java's Instant/OffsetDateTime parsers also take a lower-case `z` and no seconds fraction;
    // RFC 3339 covers those. Accept a missing zone as UTC, which older Marathon versions wrote.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc())
}

/// Serde adapters for timestamps in JSON types (`#[serde(with = "serde_ts")]`), also for the
/// scheduler's stored records.
pub mod serde_ts {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        serialize_timestamp(*t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        parse_timestamp(&raw).ok_or_else(|| D::Error::custom(format!("invalid timestamp {raw:?}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => serialize_timestamp(*t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(raw) => parse_timestamp(&raw)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("invalid timestamp {raw:?}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> Timestamp {
        Utc.timestamp_millis_opt(ms).single().expect("valid millis")
    }

    #[test]
    fn format_is_millis_and_z() {
        let ts =
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid") + chrono::Duration::milliseconds(678);
        assert_eq!(format_timestamp(ts), "2026-01-02T03:04:05.678Z");
        assert_eq!(format_timestamp(t(0)), "1970-01-01T00:00:00.000Z");
        // Sub-millisecond precision is truncated, never rounded up into the next second.
        let fine = t(1_999) + chrono::Duration::microseconds(999);
        assert_eq!(format_timestamp(fine), "1970-01-01T00:00:01.999Z");
    }

    #[test]
    fn the_fast_text_is_chronos() {
        let fine = t(1_443_604_157_614) + chrono::Duration::microseconds(999);
        let year_9999 = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().expect("valid");
        for ts in [t(0), t(1), t(999), t(59_999), t(1_443_604_157_614), t(4_102_444_800_000), t(-1), fine, year_9999] {
            assert_eq!(timestamp_text(ts).map(|b| String::from_utf8_lossy(&b).into_owned()), Some(chrono_text(ts)));
        }
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single().expect("valid");
        assert_eq!(timestamp_text(far), None);
        assert_eq!(format_timestamp(far), chrono_text(far));
        let json = serde_json::to_string(&TsHolder { t: t(1_443_604_157_614) }).expect("serialize");
        assert_eq!(json, r#"{"t":"2015-09-30T09:09:17.614Z"}"#);
    }

    #[test]
    fn written_timestamps_are_serialized_ones() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .expect("valid leap second")
            .and_utc();
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single().expect("valid");
        for ts in [t(0), t(-1), t(1_443_604_157_614), leap, far] {
            let mut written = Vec::new();
            write_timestamp(&mut written, ts);
            let serialized = serde_json::to_vec(&TsHolder { t: ts }).expect("serialize");
            assert_eq!(serialized, [br#"{"t":"#.as_slice(), &written, b"}"].concat(), "{ts:?}");
        }
        assert_eq!(timestamp_text(leap), None);
    }

    #[derive(serde::Serialize)]
    struct TsHolder {
        #[serde(with = "serde_ts")]
        t: Timestamp,
    }

    #[test]
    fn parse_accepts_marathon_and_second_precision() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.500Z"), Some(t(1_500)));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(t(1_000)));
        assert_eq!(parse_timestamp("1970-01-01T01:00:01+01:00"), Some(t(1_000)));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5"), Some(t(1_500)));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn round_trip() {
        for ms in [0, 1, 999, 1_443_604_157_614, 4_102_444_800_000] {
            assert_eq!(parse_timestamp(&format_timestamp(t(ms))), Some(t(ms)));
        }
    }
}
