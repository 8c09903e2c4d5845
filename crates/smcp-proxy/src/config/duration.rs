//! Humantime durations ("30s", "10m", "1h 30m") as written in the file and in the environment.
//!
//! A bare number is refused on purpose: the Go project read `timeout: 30` as 30 nanoseconds.

use std::time::Duration;

/// Parses a humantime duration string, or explains what is wrong in a message fit for users.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} has no unit: write a duration like \"{trimmed}s\" or \"{trimmed}ms\""
        ));
    }
    humantime::parse_duration(trimmed).map_err(|err| {
        format!("invalid duration {text:?} ({err}): write a duration like \"30s\" or \"10m\"")
    })
}

/// Formats a duration the way the file writes it ("1m 30s").
pub(crate) fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::{format_duration, parse_duration};
    use std::time::Duration;

    #[test]
    fn accepts_humantime_strings() {
        let cases = [
            ("30s", Duration::from_secs(30)),
            ("10m", Duration::from_secs(600)),
            ("1h 30m", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            (" 2s ", Duration::from_secs(2)),
            ("0s", Duration::ZERO),
            ("1day", Duration::from_secs(86_400)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn refuses_bad_strings_with_a_hint() {
        let cases = [
            ("30", "has no unit"),
            ("", "invalid duration"),
            ("soon", "invalid duration"),
            ("-5s", "invalid duration"),
            ("30 parsecs", "invalid duration"),
        ];
        for (text, needle) in cases {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
    }
}
