//! smcp-server and smcp-client assembly.
//!
//! This crate turns configuration into running servers: it loads and validates the config,
//! builds the route table and backends, stacks the request path (access log, metrics, limits,
//! operations endpoints, auth, routing) and serves it on plain TCP or TLS with graceful
//! shutdown. The building blocks live in `smcp-router`, `smcp-auth` and `smcp-transport`;
//! this crate only wires them together and maps their errors to HTTP once, at the edge.

pub mod client;
pub mod config;
mod connection;
mod json_reply;
pub mod logging;
pub mod server;
pub mod signals;
pub mod telemetry;
pub mod tls;
