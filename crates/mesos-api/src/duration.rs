//! Mesos' duration text (stout `Duration`): `5secs`, `250ms`, `1mins`, `2weeks`.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration '{0}': expected a number followed by ns, us, ms, secs, mins, hrs, days or weeks")]
pub struct DurationError(String);

/// Parses a Mesos duration. A bare number is taken as seconds; `s`, `m` and `h` are accepted as
/// short forms.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| DurationError(text.to_string()))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        "w" | "week" | "weeks" => 604800.0,
        _ => return Err(DurationError(text.to_string())),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 {
        return Err(DurationError(text.to_string()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats like stout: the largest unit giving a whole number (`5secs`, `1mins`, `250ms`).
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos();
    const UNITS: [(u128, &str); 8] = [
        (604_800_000_000_000, "weeks"),
        (86_400_000_000_000, "days"),
        (3_600_000_000_000, "hrs"),
        (60_000_000_000, "mins"),
        (1_000_000_000, "secs"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (size, name) in UNITS {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{name}", ns / size);
        }
    }
    if ns == 0 { "0ns".to_string() } else { format!("{}secs", d.as_secs_f64()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_like_stout() {
        assert_eq!(parse("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0.5secs"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1mins"), Ok(Duration::from_secs(60)));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("").is_err());
        assert_eq!(format(Duration::from_secs(5)), "5secs");
        assert_eq!(format(Duration::from_secs(60)), "1mins");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(14 * 86400)), "2weeks");
    }
}
