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
mod audit;
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
mod policy;
mod readiness;
mod reply;
mod seam;
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
        let (app, tls) = build::build(config, build::Purpose::Serve)?;
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

    /// Runs every build step of [`Server::from_config`] (the TLS key pair, the route table,
    /// each HTTP backend's client and CA file, the token validator and every claim rule)
    /// without binding, spawning a child or starting background work: `smcp-server check`
    /// calls it after loading the configuration, so that `check` fails wherever startup
    /// would, with the same [`BuildError`].
    pub fn check(config: &crate::config::Config) -> Result<(), BuildError> {
        build::build(config, build::Purpose::Check).map(drop)
    }

    /// When `audit.sink` is a file, reopens it on every SIGHUP from now on, so that a rotation
    /// tool can rename the file and signal (`postrotate kill -HUP`). The binary calls it; an
    /// embedder that owns SIGHUP need not (and SIGHUP then keeps its default action).
    pub fn reopen_audit_on_hangup(&self) {
        if let Some(trail) = self.app.audit().filter(|trail| trail.is_file()) {
            let sink = trail.sink().clone();
            crate::signals::on_hangup(move || sink.reopen());
        }
    }

    /// Whether the listener terminates TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves on `listener` until `shutdown` resolves, then drains for the whole
    /// `server.shutdown_timeout` window with the listener open (see [`Server::run_until`]) and
    /// stops every backend (no child process survives).
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        self.run_until(listener, shutdown, std::future::pending())
            .await;
    }

    /// Serves on `listener`; shutdown comes in two steps.
    ///
    /// When `drain` resolves (the binary: the first SIGTERM or SIGINT) smcp-server drains:
    /// `/ready` answers 503, requests that would open a new session get 503 with
    /// `Retry-After`, requests within an existing session and calls in flight are served, and
    /// the listener stays open, so that a load balancer probing `/ready` takes the replica out
    /// of rotation before its port closes. The drain window lasts `server.shutdown_timeout`,
    /// or until `stop` resolves (the binary: a second signal), whichever is first; then the
    /// listener closes, connections get what is left of the window (at least a second) to
    /// finish what is in flight, and every backend is stopped (no child process survives).
    /// `stop` alone (without `drain` first) drains and closes at once, as one step.
    pub async fn run_until(
        self,
        listener: TcpListener,
        drain: impl Future<Output = ()>,
        stop: impl Future<Output = ()>,
    ) {
        listener::serve(self.app, listener, self.tls, self.workers, drain, stop).await;
    }
}
