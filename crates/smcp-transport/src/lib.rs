//! MCP backends for smcp.
//!
//! Two kinds of backend sit behind one call ([`backend::Backend::call`]): remote MCP servers
//! reached over HTTP (through a pooled client, responses streamed) and local stdio MCP servers
//! that smcp spawns and supervises, one child per MCP session. Sessions are bound to their
//! (route, principal) for both kinds, and [`reply`] builds every answer smcp gives itself.
//! This crate also holds the protocol pieces both need: JSON-RPC envelope parsing that keeps
//! the original bytes, and SSE framing. It knows nothing about authentication or routing;
//! callers pass an opaque session owner.
//!
//! # Module tree
//!
//! - [`stdio`]: the child-process layer. One [`stdio::StdioConnection`] per child (spawn,
//!   newline-delimited JSON-RPC on stdio, routing by `id`, stopping and reaping); it knows
//!   nothing about HTTP or the session store.
//! - [`stdio_backend`]: the stdio backend, MCP over HTTP served from those children
//!   ([`stdio_backend::StdioBackend`]):
//!   - [`stdio_backend::session`]: the session store (one session, one owner, one child),
//!   - `streamable`: Streamable HTTP over those sessions,
//!   - `legacy_sse`: legacy HTTP+SSE (2024-11-05) over those sessions,
//!   - `connect`: a session's child as its connection.
//! - [`http`]: the HTTP backend (forwarder, connection pools, the HTTP session bindings).
//! - Shared: [`backend`] (one backend of either kind behind one call), [`body`] (the one body
//!   type, and reading one whole within a limit), [`request_body`] (a request body read once,
//!   with its JSON-RPC envelope), `budget` (channels bounded by bytes), [`jsonrpc`] (envelopes that keep their
//!   bytes), [`mcp_headers`] (the 2026-07-28 `Mcp-Method` / `Mcp-Name` headers and the rule
//!   that they match the body), [`owner`] (the [`owner::SessionOwner`] both kinds bind sessions to), [`reply`]
//!   (smcp's own answers), [`sse`] (SSE framing).
//!
//! Dependencies point one way: `backend` uses `http` and `stdio_backend`, `stdio_backend` uses
//! `stdio`; `stdio` uses none of them.

pub mod backend;
pub mod body;
mod budget;
pub mod http;
pub mod jsonrpc;
pub mod mcp_headers;
pub mod owner;
pub mod reply;
pub mod request_body;
pub mod sse;
pub mod stdio;
pub mod stdio_backend;
#[cfg(test)]
mod test_metrics;

/// Moved: the session store is now [`stdio_backend::session`]; this keeps the old path.
pub mod session {
    pub use crate::stdio_backend::session::{PENDING_MAX_BYTES, REPLAY_MAX_BYTES, SessionOwner};
}
