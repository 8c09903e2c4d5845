//! Path-prefix routing for smcp.
//!
//! Pure code with no I/O: a [`RouteTable`] is built once from configuration and answers
//! "which backend serves this path, and what path does that backend see?". It is generic over
//! the value stored per route, so it knows nothing about backends, transports or auth.
