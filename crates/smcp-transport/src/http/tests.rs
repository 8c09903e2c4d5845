//! Tests of the HTTP backend against small hyper servers started in each test on
//! 127.0.0.1:0. Streaming tests gate every server event on the test having read the previous
//! one, and tests about timeouts advance paused time only once the request provably reached
//! the server, so nothing depends on how fast this machine is.

mod errors;
mod forward;
mod pool;
mod streaming;
mod support;
mod tls;
