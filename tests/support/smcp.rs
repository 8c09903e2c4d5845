//! smcp-server in-process, on `127.0.0.1:0`, for end-to-end tests.
//!
//! [`SmcpServer::start`] writes the YAML a test gives into a temporary file and loads it with
//! the real configuration pipeline (so tests exercise exactly what the binary does), builds
//! the server, binds a free loopback port and serves until [`SmcpServer::stop`] (or drop).
//! [`SmcpServer::begin_drain`] is the binary's first SIGTERM (drain with the listener open),
//! [`SmcpServer::begin_stop`] its second (close now, finish what is in flight).

use std::net::SocketAddr;
use std::path::PathBuf;

use smcp_proxy::config::{self, CliOverrides, ProcessEnv};
use smcp_proxy::server::Server;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process smcp-server.
pub struct SmcpServer {
    addr: SocketAddr,
    https: bool,
    drain: Option<oneshot::Sender<()>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _config_dir: tempfile::TempDir,
}

impl SmcpServer {
    /// Loads `yaml` through the real config pipeline (process environment for `${VAR}`),
    /// builds the server and serves it on a free loopback port.
    pub async fn start(yaml: &str) -> Self {
        Self::start_on(yaml, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`SmcpServer::start`], listening on `addr`: e.g. the address of a server stopped a
    /// moment ago, to simulate a restart.
    pub async fn start_on(yaml: &str, addr: SocketAddr) -> Self {
        let config_dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = config_dir.path().join("smcp-server.yml");
        std::fs::write(&path, yaml).expect("write config");
        let cli = CliOverrides {
            config: Some(path),
            ..CliOverrides::default()
        };
        let loaded = config::load(&cli, &ProcessEnv)
            .unwrap_or_else(|error| panic!("test config does not load:\n{error}\n---\n{yaml}"));
        let server = Server::from_config(&loaded.config)
            .unwrap_or_else(|error| panic!("test config does not build: {error}"));
        let https = server.is_tls();
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (drain, drain_signal) = oneshot::channel::<()>();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(
            listener,
            async move {
                // A dropped sender (the test stopped without draining first) is no signal.
                if drain_signal.await.is_err() {
                    std::future::pending::<()>().await;
                }
            },
            async move {
                let _ = signal.await;
            },
        ));
        Self {
            addr,
            https,
            drain: Some(drain),
            shutdown: Some(shutdown),
            task: Some(task),
            _config_dir: config_dir,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Its `/metrics` page (Prometheus text). The recorder is the test process's: samples
    /// include what other servers of the same test binary counted.
    ///
    /// # Panics
    /// When the page cannot be fetched.
    pub async fn metrics(&self) -> String {
        crate::net::get_text(&self.url("/metrics")).await
    }

    /// Begins draining without closing the listener (the binary's first SIGTERM): `/ready`
    /// answers 503 and new sessions are refused until `server.shutdown_timeout` has passed or
    /// [`SmcpServer::begin_stop`] is called.
    pub fn begin_drain(&mut self) {
        if let Some(drain) = self.drain.take() {
            let _ = drain.send(());
        }
    }

    /// Signals shutdown without waiting: the listener closes at once and the server finishes
    /// what is in flight in the background.
    pub fn begin_stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Signals shutdown and waits until the server has drained and stopped every backend.
    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    /// Waits for a server whose stop was begun to finish.
    pub async fn join(mut self) {
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl Drop for SmcpServer {
    fn drop(&mut self) {
        self.begin_stop();
    }
}
