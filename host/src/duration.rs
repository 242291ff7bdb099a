//! Durations as the command line and the environment give them: one syntax
//! for every flag, humantime's (`30s`, `500ms`, `2m`, `1h 30m`), with the
//! bare numbers that flags took before they shared it still read in their
//! old unit (seconds for most, milliseconds for the deprecated `*-ms`
//! flags), so that no configuration that worked stops working.

use std::time::Duration;

/// A positive duration: `30s`, `500ms`, `2m`; a bare number (`30`, `0.5`)
/// is seconds.
///
/// # Errors
///
/// The text is neither a humantime duration nor a number, or it is zero,
/// negative or not finite; the message says how to write one.
pub fn seconds(text: &str) -> Result<Duration, String> {
    parse(text, Duration::from_secs_f64, "seconds")
}

/// A positive duration: `10s`, `500ms`; a bare number (`10000`) is
/// milliseconds (the deprecated `*-ms` flags' unit).
///
/// # Errors
///
/// As [`seconds`].
pub fn milliseconds(text: &str) -> Result<Duration, String> {
    parse(
        text,
        |ms| Duration::from_secs_f64(ms / 1000.0),
        "milliseconds",
    )
}

/// `text` as a humantime duration, or a bare number in `unit`.
fn parse(text: &str, bare: fn(f64) -> Duration, unit: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(number) if number.is_finite() && number > 0.0 => Ok(bare(number)),
        Ok(_) => Err(()),
        Err(_) => humantime::parse_duration(text).map_err(drop),
    };
    parsed.ok().filter(|d| !d.is_zero()).ok_or_else(|| {
        format!(
            "`{text}` is not a positive duration: write it as `30s`, `500ms`, `2m` or `1h 30m` \
             (a bare number is {unit})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_with_units_and_bare_numbers_in_the_old_unit() {
        assert_eq!(seconds("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(seconds("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(milliseconds("10000"), Ok(Duration::from_secs(10)));
        assert_eq!(milliseconds("2s"), Ok(Duration::from_secs(2)));
        for bad in ["0", "0s", "-1", "NaN", "inf", "soon", "", "30 parsecs"] {
            let refused = seconds(bad).unwrap_err();
            assert!(refused.contains("`30s`"), "{bad}: {refused}");
        }
        assert!(milliseconds("x").unwrap_err().contains("milliseconds"));
    }
}
