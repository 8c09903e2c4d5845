//! Benchmarks of smcp's hot paths (criterion) and, later, the loopback load harness.
