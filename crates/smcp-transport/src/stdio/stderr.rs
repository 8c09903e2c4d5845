//! Making a child's output safe to log: control characters escaped, and a per-child budget
//! of stderr lines.
//!
//! A child's stderr (and the preview of a bad stdout line) goes into smcp's own log. In the
//! text format a raw ESC would drive the operator's terminal and a raw CR would overwrite the
//! start of the line with text that looks like another log line, so every control character
//! (C0, DEL, C1) is written as an escape such as `\x1b`, `\r` or `\u{9b}`; invalid UTF-8 is
//! replaced. A child writing stderr as fast as it can would also flood the log (and the disk
//! under it), so each child gets a token bucket of [`STDERR_BURST`] lines refilled at
//! [`STDERR_LINES_PER_SEC`]; lines beyond it are not logged but counted in
//! `smcp_stdio_stderr_dropped_lines_total{backend}`, and the next line logged says how many
//! were dropped.

use std::fmt::Write as _;

use tokio::time::Instant;

/// Stderr lines per second a child may have logged, on average.
pub const STDERR_LINES_PER_SEC: u32 = 50;
/// Stderr lines a child may have logged in one burst.
pub const STDERR_BURST: u32 = 200;

/// `bytes` as text fit for one log line: lossy UTF-8, control characters escaped, at most
/// `max` input bytes (then `…`).
pub(crate) fn escape_for_log(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len().min(max);
    let text = String::from_utf8_lossy(&bytes[..cut]);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    if cut < bytes.len() {
        out.push('…');
    }
    out
}

/// A token bucket of log lines.
pub(crate) struct LineBudget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    /// Lines refused since the last one allowed.
    dropped: u64,
}

/// What [`LineBudget::take`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log the line; this many lines before it were dropped.
    Log { dropped_before: u64 },
    /// Drop it.
    Drop,
}

impl LineBudget {
    /// A full bucket of `burst` lines refilled at `per_sec` lines a second.
    pub(crate) fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        LineBudget {
            tokens: f64::from(burst),
            rate: f64::from(per_sec),
            burst: f64::from(burst),
            last: now,
            dropped: 0,
        }
    }

    /// Takes one line's token at `now`, if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Log {
                dropped_before: std::mem::take(&mut self.dropped),
            }
        } else {
            self.dropped += 1;
            Verdict::Drop
        }
    }

    /// Lines refused and not yet reported.
    pub(crate) fn unreported(&self) -> u64 {
        self.dropped
    }
}

/// How long a full refill takes (for docs and tests).
#[cfg(test)]
fn refill_time() -> std::time::Duration {
    std::time::Duration::from_secs_f64(f64::from(STDERR_BURST) / f64::from(STDERR_LINES_PER_SEC))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_for_log(
                b"red \x1b[31mX\x1b[0m\rFAKE: admin logged in\t\x07\x7f",
                200
            ),
            "red \\x1b[31mX\\x1b[0m\\rFAKE: admin logged in\\t\\x07\\x7f"
        );
        assert_eq!(
            escape_for_log("c1 \u{9b}2J".as_bytes(), 200),
            "c1 \\u{9b}2J"
        );
        assert_eq!(
            escape_for_log(b"a\\x1b", 200),
            "a\\\\x1b",
            "a literal backslash is doubled"
        );
        assert_eq!(escape_for_log(b"bad \xff utf8", 200), "bad \u{fffd} utf8");
        assert_eq!(escape_for_log(b"0123456789", 4), "0123…");
        assert_eq!(escape_for_log("héllo ✓".as_bytes(), 200), "héllo ✓");
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut budget = LineBudget::new(STDERR_LINES_PER_SEC, STDERR_BURST, start);
        for _ in 0..STDERR_BURST {
            assert!(matches!(budget.take(start), Verdict::Log { .. }));
        }
        for _ in 0..1000 {
            assert_eq!(budget.take(start), Verdict::Drop);
        }
        assert_eq!(budget.unreported(), 1000);
        // One line's worth of time later, one more line, reporting the drops.
        let later = start + Duration::from_millis(1000 / u64::from(STDERR_LINES_PER_SEC));
        assert_eq!(
            budget.take(later),
            Verdict::Log {
                dropped_before: 1000
            }
        );
        assert_eq!(budget.take(later), Verdict::Drop);
        // A long pause refills the bucket to the burst, no more.
        let much_later = later + refill_time() * 10;
        let allowed = (0..STDERR_BURST * 2)
            .filter(|_| matches!(budget.take(much_later), Verdict::Log { .. }))
            .count();
        assert_eq!(allowed, STDERR_BURST as usize);
    }
}
