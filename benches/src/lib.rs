//! Benchmarks of smcp's hot paths and the tools of its side-by-side comparison.
//!
//! The criterion benches live beside this crate's `Cargo.toml`; this library holds what the
//! binaries share: the fast echo MCP logic ([`echo`]) behind `echo-mcp-stdio` and
//! `echo-mcp-http`, the load harness ([`load`]) behind `smcp-load`, readings of a target
//! process from `/proc` ([`procfs`]), and the report writer ([`report`]) behind `bench-report`.

pub mod echo;
pub mod load;
pub mod procfs;
pub mod report;
