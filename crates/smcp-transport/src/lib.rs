//! MCP backends for smcp.
//!
//! Two kinds of backend sit behind one request interface: remote MCP servers reached over
//! HTTP (streamed both ways through a pooled client) and local stdio MCP servers that smcp
//! spawns and supervises, one child per MCP session. This crate also holds the protocol pieces
//! both need: JSON-RPC envelope parsing that keeps the original bytes, and SSE framing.
//! It knows nothing about authentication or routing; callers pass an opaque session owner.

pub mod body;
mod budget;
pub mod http;
pub mod jsonrpc;
mod legacy_sse;
pub mod session;
pub mod sse;
pub mod stdio;
mod streamable;
