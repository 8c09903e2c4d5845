//! smcp-server: the reverse proxy in front of many MCP backends.
//!
//! [`Server::from_config`] turns a validated [`Config`](crate::config::Config) into a ready
//! request path (route table, backends, policies) without binding anything; [`Server::run`]
//! serves it on a listener the caller bound, until the caller's shutdown future resolves.
//! Taking the listener and the shutdown signal as arguments keeps tests honest: they bind
//! `127.0.0.1:0` and stop the server with a oneshot, exactly as the binary does with a port and
//! SIGTERM.

mod admission;
mod app;
mod auth;
mod backend;
mod build;
mod cors;
mod dispatch;
mod host;
mod listener;
mod observe;
mod ops;
mod origin;
mod readiness;
mod reply;
mod wellknown;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use backend::TransportKind;
pub use build::BuildError;

/// A configured smcp-server, ready to serve.
pub struct Server {
    app: Arc<app::App>,
    tls: Option<TlsAcceptor>,
    /// Accept loops to run (`server.workers`, resolved: never 0).
    workers: usize,
}

impl Server {
    /// Builds the server from a validated configuration: backends, route table, TLS, metrics.
    ///
    /// Binds nothing and spawns no child; it does start background readiness checks, so it
    /// must be called within a Tokio runtime.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, BuildError> {
        let (app, tls) = build::build(config)?;
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        Ok(Self {
            app: Arc::new(app),
            tls,
            workers,
        })
    }

    /// Whether the listener terminates TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight requests for up
    /// to `server.shutdown_timeout` and stops every backend (no child process survives).
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        listener::serve(self.app, listener, self.tls, self.workers, shutdown).await;
    }
}
