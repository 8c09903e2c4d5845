//! Reading a live SSE response in tests: the next event of a name whose data passes a check.

use std::time::Duration;

/// Reads `stream` (appending to `buffer`, which keeps what follows) until an event named
/// `event` whose data satisfies `wanted`, for at most `timeout`; returns that data (its `data:`
/// lines joined). Panics, naming what was read, when the stream ends or time runs out first.
pub async fn next_event(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    event: &str,
    timeout: Duration,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Complete events end with a blank line.
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if name == event && wanted(&data) {
                return data;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {event} event within {timeout:?}: {buffer}"))
            .expect("stream")
            .unwrap_or_else(|| panic!("stream ended before a {event} event: {buffer}"));
        buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
    }
}
