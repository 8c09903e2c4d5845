//! Integration tests of the token validator against the test OIDC issuer from
//! `smcp-test-support` (real HTTP on 127.0.0.1, keys generated per test). Time-dependent
//! tests run with Tokio's clock paused and advance it explicitly.

// Helpers outside `#[test]` functions are test code too: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

mod cache;
mod claims;
mod common;
mod jwks;
mod property;
mod tokens;
