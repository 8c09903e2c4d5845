//! Splits a child's output pipe into lines without ever buffering more than a limit.
//!
//! A line longer than the limit is reported once (with its first `max` bytes, for logging) and
//! the rest of it is read and thrown away up to its newline, so one runaway line neither grows
//! memory nor stalls the pipe. Lines are [`Bytes`] split off the read buffer: no copy and no
//! allocation per line beyond the buffer itself.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much room to make in the buffer before each read.
const READ_CHUNK: usize = 64 * 1024;

/// One line of output.
#[derive(Debug)]
pub(crate) enum Line {
    /// A complete line, without its LF (or CRLF).
    Complete(Bytes),
    /// A line longer than the limit: its first `max` bytes. The rest is discarded.
    Oversize(Bytes),
}

/// Reads lines from `R`.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
    /// Inside an oversize line: drop bytes until the next newline.
    discarding: bool,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader yielding lines of at most `max` bytes.
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: BytesMut::new(),
            scanned: 0,
            max,
            discarding: false,
            eof: false,
        }
    }

    /// The next line; `None` at end of input. Cancel-safe: nothing read is lost if the
    /// returned future is dropped.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let end = self.scanned + pos;
                let mut line = self.buf.split_to(end + 1);
                self.scanned = 0;
                if self.discarding {
                    // The tail of an oversize line, already reported.
                    self.discarding = false;
                    continue;
                }
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                let line = line.freeze();
                if line.len() > self.max {
                    return Ok(Some(Line::Oversize(line.slice(..self.max))));
                }
                return Ok(Some(Line::Complete(line)));
            }
            self.scanned = self.buf.len();
            if self.discarding {
                self.buf.clear();
                self.scanned = 0;
            } else if self.buf.len() > self.max {
                let prefix = self.buf.split_to(self.max).freeze();
                self.buf.clear();
                self.scanned = 0;
                self.discarding = true;
                return Ok(Some(Line::Oversize(prefix)));
            }
            if self.eof {
                // A last line without a newline still counts.
                if self.buf.is_empty() || self.discarding {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(Line::Complete(self.buf.split().freeze())));
            }
            self.buf.reserve(READ_CHUNK);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                self.eof = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().await.unwrap() {
            out.push(match line {
                Line::Complete(b) => format!("ok:{}", String::from_utf8_lossy(&b)),
                Line::Oversize(b) => format!("big:{}", String::from_utf8_lossy(&b)),
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_strips_crlf() {
        assert_eq!(
            all(b"a\nbb\r\n\nccc", 10).await,
            ["ok:a", "ok:bb", "ok:", "ok:ccc"]
        );
    }

    #[tokio::test]
    async fn oversize_lines_are_reported_once_and_skipped() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend(b"\nafter\n0123456789A\n");
        assert_eq!(
            all(&input, 10).await,
            ["ok:short", "big:xxxxxxxxxx", "ok:after", "big:0123456789"]
        );
    }

    #[tokio::test]
    async fn oversize_line_at_eof_ends_cleanly() {
        let input = vec![b'y'; 200_000];
        assert_eq!(all(&input, 4).await, ["big:yyyy"]);
    }

    #[tokio::test]
    async fn works_over_a_slow_pipe() {
        let (mut w, r) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in [&b"{\"a\""[..], b":1}\n{\"b\":2", b"}\r", b"\n"] {
                w.write_all(chunk).await.unwrap();
            }
        });
        let mut lines = LineReader::new(r, 100);
        let mut got = Vec::new();
        while let Some(Line::Complete(b)) = lines.next_line().await.unwrap() {
            got.push(b);
        }
        writer.await.unwrap();
        assert_eq!(got, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
    }
}
