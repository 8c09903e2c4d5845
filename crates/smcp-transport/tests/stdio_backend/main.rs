//! The stdio backend end to end over real child processes: hand-built HTTP requests into
//! `StdioBackend::handle`, the fake MCP server from smcp-test-support behind it. No sockets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod legacy;
mod lifecycle;
mod streamable;
mod support;
