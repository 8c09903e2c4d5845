//! MCP backends for smcp.
//!
//! Two kinds of backend sit behind one call ([`backend::Backend::call`]): remote MCP servers
//! reached over HTTP (streamed both ways through a pooled client) and local stdio MCP servers
//! that smcp spawns and supervises, one child per MCP session. Sessions are bound to their
//! (route, principal) for both kinds, and [`reply`] builds every answer smcp gives itself.
//! This crate also holds the protocol pieces both need: JSON-RPC envelope parsing that keeps
//! the original bytes, and SSE framing. It knows nothing about authentication or routing;
//! callers pass an opaque session owner.

pub mod backend;
pub mod body;
mod budget;
pub mod http;
pub mod jsonrpc;
mod legacy_sse;
pub mod reply;
pub mod session;
pub mod sse;
pub mod stdio;
mod streamable;
