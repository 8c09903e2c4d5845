//! The host side of the bridge: reading newline-delimited messages from stdin, writing them
//! to stdout.
//!
//! stdout carries nothing but JSON-RPC messages, one per line (every message is re-checked and
//! flattened to one line, since a pretty-printed server reply would otherwise break the
//! framing). One writer task owns stdout; everyone else sends it messages through a bounded
//! channel, so a host that reads slowly slows the bridge down instead of growing its memory.

use bytes::{Bytes, BytesMut};
use smcp_transport::jsonrpc::{self, Message, RequestId};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest line accepted from the host.
pub(super) const MAX_LINE: usize = 64 * 1024 * 1024;

/// Sends messages to the host.
#[derive(Clone)]
pub(super) struct Output {
    tx: mpsc::Sender<Bytes>,
}

impl Output {
    /// Starts the writer task on `stdout`. It ends when every [`Output`] is dropped (after
    /// writing what was queued) or when the host stops reading.
    pub(super) fn spawn<W>(mut stdout: W) -> (Output, JoinHandle<()>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        let task = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                let mut framed = BytesMut::with_capacity(line.len() + 1);
                framed.extend_from_slice(&line);
                framed.extend_from_slice(b"\n");
                if let Err(error) = stdout.write_all(&framed).await {
                    tracing::warn!(%error, "stdout closed: the host stopped reading");
                    return;
                }
                // Messages are latency-sensitive: flush when nothing else is queued.
                if rx.is_empty()
                    && let Err(error) = stdout.flush().await
                {
                    tracing::warn!(%error, "stdout closed: the host stopped reading");
                    return;
                }
            }
            let _ = stdout.flush().await;
        });
        (Output { tx }, task)
    }

    /// Sends `message` to the host, as one line.
    pub(super) async fn send(&self, message: &Message) {
        if self.tx.send(message.single_line()).await.is_err() {
            tracing::debug!("stdout writer gone; dropping a message");
        }
    }

    /// Sends a JSON-RPC error response for `id` (or `null`).
    pub(super) async fn error(&self, id: Option<&RequestId>, code: i64, message: &str) {
        let bytes = jsonrpc::error_response(id, code, message);
        if self.tx.send(bytes).await.is_err() {
            tracing::debug!("stdout writer gone; dropping an error");
        }
    }
}

/// Reads stdin line by line, at most [`MAX_LINE`] bytes per line.
pub(super) struct LineReader<R> {
    inner: R,
    max: usize,
}

/// One line from the host.
pub(super) enum Line {
    /// A complete line without its line end.
    Complete(Bytes),
    /// A line over the limit (thrown away up to its newline).
    TooLong,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    /// The next line; `None` at end of input.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<Line>> {
        let mut line = BytesMut::new();
        let mut too_long = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // EOF: a last line without a newline still counts.
                return Ok(match (line.is_empty(), too_long) {
                    (_, true) => Some(Line::TooLong),
                    (true, false) => None,
                    (false, false) => Some(Line::Complete(trim_cr(line.freeze()))),
                });
            }
            let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
                Some(pos) => (&available[..pos], Some(pos)),
                None => (available, None),
            };
            if !too_long {
                if line.len() + chunk.len() > self.max {
                    too_long = true;
                    line = BytesMut::new();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let consumed = found.map_or(available.len(), |pos| pos + 1);
            self.inner.consume(consumed);
            if found.is_some() {
                return Ok(Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Complete(trim_cr(line.freeze()))
                }));
            }
        }
    }
}

fn trim_cr(line: Bytes) -> Bytes {
    match line.last() {
        Some(b'\r') => line.slice(..line.len() - 1),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::BufReader;

    use super::{Line, LineReader};

    #[tokio::test]
    async fn lines_with_limits() {
        let input: &[u8] = b"{\"a\":1}\r\n\nxxxxxxxxxxxx\n{\"b\":2}";
        let mut reader = LineReader::new(BufReader::with_capacity(4, input), 10);
        let mut seen = Vec::new();
        while let Some(line) = reader.next().await.unwrap() {
            seen.push(match line {
                Line::Complete(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                Line::TooLong => "<too long>".to_owned(),
            });
        }
        assert_eq!(seen, ["{\"a\":1}", "", "<too long>", "{\"b\":2}"]);
    }
}
