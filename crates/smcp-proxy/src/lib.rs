//! smcp-server and smcp-client assembly.
//!
//! This crate turns configuration into running servers: it loads and validates the config,
//! builds the route table and backends, runs the request path as one straight line of stages
//! (`server/dispatch.rs`: observe, request shape, local answers, route, admission, auth, call;
//! plain functions, not a middleware stack) and serves it on plain TCP or TLS with graceful
//! shutdown. The building blocks live in `smcp-router`, `smcp-auth` and `smcp-transport`;
//! this crate only wires them together and maps their errors to HTTP at the edge. `shared`
//! holds the few types both halves use.

pub mod client;
pub mod config;
mod connection;
pub mod logging;
pub mod server;
pub mod shared;
pub mod signals;
pub mod telemetry;
pub mod tls;
