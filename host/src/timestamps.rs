//! Timestamps as clients write them: RFC 3339, with any offset (or none,
//! meaning UTC), or a date; read once at the edge and passed on in one form,
//! RFC 3339 in UTC, which adapters and stored data compare as text. Any
//! year from 0 to 9999 is a timestamp (formatting never fails or panics).

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// To the second, as adapters get `modified_after`.
const SECONDS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// To the microsecond, as the host stores times.
const MICROS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// `text` as a point in time, in UTC: an RFC 3339 timestamp with an offset
/// (`2026-01-31T10:00:00+01:00`, `...Z`), one without (taken as UTC, `T` or
/// a space between date and time), or a date (`2026-01-31`, its midnight).
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    let text = text.replacen(' ', "T", 1);
    [
        text.clone(),
        format!("{text}Z"),
        format!("{text}T00:00:00Z"),
    ]
    .iter()
    .find_map(|candidate| OffsetDateTime::parse(candidate, &Rfc3339).ok())
    .filter(|t| (0..=9999).contains(&t.year()))
    .map(|t| t.to_offset(UtcOffset::UTC))
}

/// `text` as RFC 3339 in UTC, to the second (cut, not rounded: a filter on
/// it keeps every record after the original).
pub fn normalize(text: &str) -> Option<String> {
    parse(text).and_then(|t| t.format(SECONDS).ok())
}

/// `t` as the host stores times: RFC 3339 in UTC with six decimals, so that
/// stored times compare as text.
pub fn micros(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(MICROS)
        .expect("years 0 to 9999 format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_dates_and_utc_come_out_in_one_form() {
        for (given, utc) in [
            ("2026-01-31T10:00:00Z", "2026-01-31T10:00:00Z"),
            ("2026-01-31T10:00:00.999+01:00", "2026-01-31T09:00:00Z"),
            ("0445-01-10T19:05:45.3+12:42", "0445-01-10T06:23:45Z"),
            ("2026-01-31T10:00:00", "2026-01-31T10:00:00Z"),
            ("2026-01-31 10:00:00", "2026-01-31T10:00:00Z"),
            ("2026-01-31", "2026-01-31T00:00:00Z"),
        ] {
            assert_eq!(normalize(given).as_deref(), Some(utc), "{given}");
        }
        for bad in ["", "yesterday", "2026-13-01", "2026-01-31T25:00:00Z"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        assert_eq!(
            micros(parse("0001-01-01T00:00:00.5Z").unwrap()),
            "0001-01-01T00:00:00.500000Z"
        );
    }
}
