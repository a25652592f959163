//! Instants as the model uses them: whole seconds since the Unix epoch, read from and
//! written as RFC 3339 (`2026-12-01T00:00:00Z`) wherever a person sees them.
//!
//! Seconds, because a grant's `expires_at` is compared on every decision and an `i64` is
//! free to compare; a fraction of a second in the text is dropped, so a grant ends at most
//! a second early, never late.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch.
pub type Seconds = i64;

/// Parses an RFC 3339 date-time (with `Z` or an offset) to seconds since the epoch.
///
/// ```
/// use portcullis::instant::{parse, render};
/// assert_eq!(parse("1970-01-01T00:01:00Z"), Ok(60));
/// assert_eq!(parse("2026-12-01T01:00:00+01:00"), parse("2026-12-01T00:00:00Z"));
/// assert!(parse("2026-12-01").is_err());
/// assert_eq!(render(parse("2026-12-01T00:00:00.75Z").unwrap()), "2026-12-01T00:00:00Z");
/// ```
pub fn parse(text: &str) -> Result<Seconds, BadInstant> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| BadInstant { text: text.chars().take(64).collect() })
}

/// Writes seconds since the epoch as RFC 3339 in UTC (`2026-12-01T00:00:00Z`).
pub fn render(secs: Seconds) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// `90m`, `8h`, `7d`, `30s` to seconds.
///
/// ```
/// assert_eq!(portcullis::instant::parse_duration("90m"), Ok(5_400));
/// assert!(portcullis::instant::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a duration: write a number and s, m, h or d, such as 90m, 8h or 7d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = text.get(..text.len() - 1).and_then(|n| n.parse().ok()).filter(|n| *n > 0).ok_or_else(bad)?;
    n.checked_mul(scale).ok_or_else(bad)
}

/// Now, in seconds since the epoch.
pub fn now() -> Seconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Text that is not an RFC 3339 date-time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}' is not an RFC 3339 date-time: write it like \"2026-12-01T00:00:00Z\" (date, 'T', time, and 'Z' or an offset such as +01:00)"
)]
pub struct BadInstant {
    pub text: String,
}

/// Serde: seconds since the epoch written as RFC 3339 (`#[serde(serialize_with = ...)]`).
pub fn serialize<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&render(*secs))
}

/// Serde: an optional instant written as RFC 3339, or `null`.
pub fn serialize_opt<S: serde::Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(secs) => s.serialize_str(&render(*secs)),
        None => s.serialize_none(),
    }
}
