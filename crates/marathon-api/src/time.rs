//! Timestamps as Marathon writes them: ISO-8601 UTC with exactly three fraction digits and `Z`
//! (`2015-09-30T09:09:17.614Z`). marathon-python parses only `%Y-%m-%dT%H:%M:%S.%fZ` and
//! `%Y-%m-%dT%H:%M:%SZ`, so no other shape may be written.

use chrono::{DateTime, NaiveDateTime, Utc};

/// A point in time on the wire. Marathon versions are timestamps too.
pub type Timestamp = DateTime<Utc>;

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.sssZ` (millisecond precision, truncated).
pub fn format_timestamp(t: Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
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
        s.serialize_str(&format_timestamp(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        parse_timestamp(&raw).ok_or_else(|| D::Error::custom(format!("invalid timestamp {raw:?}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format_timestamp(*t)),
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
