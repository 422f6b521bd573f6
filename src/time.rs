//! Timestamps: microseconds since the Unix epoch (UTC), as libpcap gives
//! them, plus the parsing and printing the CLI needs.

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since 1970-01-01T00:00:00Z. Packet time in files, wall time live.
pub type Micros = i64;

/// One second in [`Micros`].
pub const SECOND: Micros = 1_000_000;

/// Current wall-clock time.
pub fn now() -> Micros {
    Utc::now().timestamp_micros()
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-23T09:15:02.123456Z`.
pub fn rfc3339(t: Micros) -> String {
    match DateTime::<Utc>::from_timestamp_micros(t) {
        Some(d) => d.to_rfc3339_opts(SecondsFormat::Micros, true),
        // Out of chrono's range: only reachable from a hostile capture header.
        None => format!("@{t}us"),
    }
}

/// Suricata's EVE timestamp: UTC with microseconds and a `+0000` offset,
/// e.g. `2026-11-28T13:39:08.123456+0000` (its schema refuses `Z` and
/// `+00:00`).
pub fn eve(t: Micros) -> String {
    use chrono::{Datelike, Timelike};
    match DateTime::<Utc>::from_timestamp_micros(t).filter(|d| (0..=9999).contains(&d.year())) {
        // Written field by field: chrono's format strings are parsed
        // again at every call, and EVE writes a timestamp per line.
        Some(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.timestamp_subsec_micros()
        ),
        // Out of chrono's range (a hostile capture header): the epoch
        // keeps the line valid; the flow's own fields still tell.
        None => "1970-01-01T00:00:00.000000+0000".into(),
    }
}

/// Error from [`parse_time`]: the text and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("invalid time {0:?}: expected RFC 3339 (2026-11-23T08:00:00Z) or relative (-2h, -30m, -45s, -7d)")]
pub struct TimeParseError(String);

/// Parses an RFC 3339 timestamp or a time relative to `now` (`-2h`, `-30m`,
/// `-45s`, `-7d`, `-1w`).
pub fn parse_time(text: &str, now: Micros) -> Result<Micros, TimeParseError> {
    let err = || TimeParseError(text.to_string());
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('-') {
        // A unit is required here: "-2" alone is no time.
        if rel.chars().last().is_none_or(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let delta = parse_duration(rel).ok_or_else(err)?;
        return now.checked_sub(delta).ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc).timestamp_micros())
        .map_err(|_| err())
}

/// A duration like "14d", "12h", "30m", "45s", "1w", or a number of
/// seconds, as microseconds.
pub fn parse_duration(text: &str) -> Option<Micros> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(SECOND)
}

/// The start (00:00:00 UTC) of the day `YYYY-MM-DD`, e.g. a
/// suppression's end date.
pub fn parse_date(text: &str) -> Option<Micros> {
    let d = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eve_timestamps_have_suricatas_form() {
        assert_eq!(
            eve(1_764_336_000_000_001),
            "2025-11-28T13:20:00.000001+0000"
        );
        assert_eq!(eve(0), "1970-01-01T00:00:00.000000+0000");
        // Before the epoch (a capture header can say so).
        assert_eq!(eve(-1), "1969-12-31T23:59:59.999999+0000");
        // Years of five digits would not match Suricata's pattern.
        assert_eq!(eve(i64::MAX), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            eve(300_000_000_000_000_000),
            "1970-01-01T00:00:00.000000+0000"
        );
    }

    #[test]
    fn dates_are_utc_midnight() {
        assert_eq!(
            rfc3339(parse_date("2026-12-31").unwrap()),
            "2026-12-31T00:00:00.000000Z"
        );
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("31.12.2026"), None);
    }

    #[test]
    fn relative_times_count_back_from_now() {
        let now = 10_000 * SECOND;
        assert_eq!(parse_time("-2h", now).unwrap(), now - 7200 * SECOND);
        assert_eq!(parse_time("-30m", now).unwrap(), now - 1800 * SECOND);
        assert_eq!(parse_time("-45s", now).unwrap(), now - 45 * SECOND);
        assert_eq!(parse_time("-1d", now).unwrap(), now - 86_400 * SECOND);
    }

    #[test]
    fn rfc3339_round_trips_with_microseconds() {
        let t = parse_time("2026-11-23T09:15:02.123456Z", 0).unwrap();
        assert_eq!(rfc3339(t), "2026-11-23T09:15:02.123456Z");
        let offset = parse_time("2026-11-23T10:15:02+01:00", 0).unwrap();
        assert_eq!(rfc3339(offset), "2026-11-23T09:15:02.000000Z");
    }

    #[test]
    fn garbage_and_overflow_are_errors_not_panics() {
        for bad in [
            "",
            "-",
            "-h",
            "-5x",
            "yesterday",
            "-99999999999999999999d",
            "-9223372036854775807w",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad}");
        }
    }
}
