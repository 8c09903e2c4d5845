//! The few types smcp-server's and smcp-client's halves of this crate both use, in one place
//! that belongs to neither: where environment variables come from ([`Env`]), the
//! authentication mode ([`AuthMode`]) and the log format ([`LogFormat`]). `config` re-exports
//! them, so `smcp_proxy::config::AuthMode` keeps working; splitting the crate into a server
//! and a client crate later moves this module into a small common crate unchanged.

mod env;
mod modes;

pub use env::{Env, ProcessEnv};
pub use modes::{AuthMode, LogFormat};
