//! Time as the core sees it: the shell passes [`Now`] into every call; the core never reads a
//! clock. Timers use the monotonic part, timestamps shown to users the wall-clock part.

use std::fmt;
use std::time::Duration;

/// A wall-clock instant in milliseconds since the Unix epoch (UTC).
///
/// Marathon's versions and task timestamps have millisecond precision, so this is exact for
/// them; [`fmt::Display`] renders the ISO-8601 form Marathon uses (`2015-09-30T09:09:17.614Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// From Mesos' `timestamp` (double seconds since the epoch).
    pub fn from_secs_f64(secs: f64) -> Self {
        Self((secs * 1000.0).round() as i64)
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Time from `earlier` to `self`; zero when `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the form [`fmt::Display`] writes).
    pub fn parse_iso8601(text: &str) -> Option<Timestamp> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut date_parts = date.splitn(3, '-');
        let year: i64 = date_parts.next()?.parse().ok()?;
        let month: u32 = date_parts.next()?.parse().ok()?;
        let day: u32 = date_parts.next()?.parse().ok()?;
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, fraction)) => (hms, fraction),
            None => (time, "0"),
        };
        let mut time_parts = hms.splitn(3, ':');
        let hour: i64 = time_parts.next()?.parse().ok()?;
        let minute: i64 = time_parts.next()?.parse().ok()?;
        let second: i64 = time_parts.next()?.parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Milliseconds: the first three digits, right-padded.
        let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
        let days = days_from_civil(year, month, day);
        Some(Timestamp((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (secs_of_day / 3600, secs_of_day % 3600 / 60, secs_of_day % 60);
        write!(f, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The current time, as passed by the shell into every call of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time since an arbitrary origin (the shell's start); every timer uses it.
    pub mono: Duration,
    /// Wall-clock time, for versions and the timestamps users see.
    pub wall: Timestamp,
}

impl Now {
    /// The monotonic time at which the wall clock read `at` (clamped at the monotonic origin).
    pub(crate) fn mono_of(&self, at: Timestamp) -> Duration {
        let ago = self.wall.duration_since(at);
        self.mono.saturating_sub(ago)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_marathon() {
        assert_eq!(Timestamp::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(1_443_604_157_614).to_string(), "2015-09-30T09:09:17.614Z");
        assert_eq!(Timestamp::from_millis(951_782_400_000).to_string(), "2000-02-29T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for millis in [0, 1, 1_443_604_157_614, 951_782_400_000, 4_102_444_799_999, -86_400_001] {
            let ts = Timestamp::from_millis(millis);
            assert_eq!(Timestamp::parse_iso8601(&ts.to_string()), Some(ts));
        }
        assert_eq!(Timestamp::parse_iso8601("2015-09-30T09:09:17Z"), Some(Timestamp::from_millis(1_443_604_157_000)));
        assert_eq!(Timestamp::parse_iso8601("2015-09-30T09:09:17.6Z"), Some(Timestamp::from_millis(1_443_604_157_600)));
        assert_eq!(Timestamp::parse_iso8601("2015-09-30 09:09:17Z"), None);
        assert_eq!(Timestamp::parse_iso8601("2015-13-30T09:09:17Z"), None);
    }

    #[test]
    fn mono_of_converts_wall_instants() {
        let now = Now { mono: Duration::from_secs(100), wall: Timestamp::from_millis(1_000_000) };
        assert_eq!(now.mono_of(Timestamp::from_millis(990_000)), Duration::from_secs(90));
        assert_eq!(now.mono_of(Timestamp::from_millis(0)), Duration::ZERO);
        assert_eq!(now.mono_of(Timestamp::from_millis(2_000_000)), Duration::from_secs(100));
    }
}
