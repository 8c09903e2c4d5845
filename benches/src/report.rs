//! `bench-report`: turns one comparison run (the JSON lines of `smcp-load`, a metadata file
//! written by `benches/compare/run.sh`, and criterion's estimates) into `docs/benchmarks.md`
//! and its chart.
//!
//! [`model`] reads the inputs, [`targets`] computes each issue-6 target's ratio from the same
//! run, [`markdown`] writes the page and [`chart`] the PNG.

pub mod chart;
pub mod markdown;
pub mod model;
pub mod targets;
