//! Dev-only helpers for smcp's tests. Never a dependency of shipped code.

pub mod cargo_bin;
pub mod fake_mcp;
pub mod issuer;
