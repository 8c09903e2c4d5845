//! smcp-server: parse the command line, load the configuration, run the server.
//!
//! Everything else lives in `smcp-proxy`. Exit codes: 0 after a clean (signalled) shutdown,
//! 64 for a configuration error (EX_USAGE), 1 for a runtime failure such as a port in use.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smcp_proxy::config::{self, AuthMode, CliOverrides, LogFormat, ProcessEnv};
use smcp_proxy::server::Server;

/// Exit code for configuration errors (EX_USAGE from sysexits.h).
const EXIT_CONFIG: u8 = 64;

/// A secure reverse proxy for Model Context Protocol (MCP) services.
#[derive(Debug, Parser)]
#[command(name = "smcp-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (YAML, or TOML by extension). Env: SMCP_PROXY_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Authentication mode: none or oidc (overrides auth.mode).
    #[arg(long, value_name = "MODE")]
    auth_mode: Option<AuthMode>,
    /// Address to listen on (overrides server.host).
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on (overrides server.port).
    #[arg(long)]
    port: Option<u16>,
    /// Log level: debug, info, warn, error (or a tracing filter directive).
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    /// Log format: text or json.
    #[arg(short = 'f', long)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration (every build step startup runs) and print the routing
    /// table, without binding a port or spawning a child.
    Check,
}

/// jemalloc instead of the system allocator: on the loopback benchmark it served about a tenth
/// more requests per second than glibc's malloc for the same CPU, and unlike mimalloc it did not
/// slow the stdio path, where buffers are freed on another thread than the one that allocated
/// them (`docs/benchmarks.md`). Its settings are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = CliOverrides {
        config: cli.config.clone(),
        auth_mode: cli.auth_mode,
        host: cli.host.clone(),
        port: cli.port,
        log_level: cli.log_level.clone(),
        log_format: cli.log_format,
    };
    let loaded = match config::load(&overrides, &ProcessEnv) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("smcp-server: invalid configuration\n{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // One crypto provider for every rustls user in the process (listener, backend clients).
    let provider_was_installed = rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err();
    if matches!(cli.command, Some(Command::Check)) {
        return check(&loaded);
    }

    // Held until `main` returns: dropping it flushes the queued log lines.
    let _log = smcp_proxy::logging::init(&loaded.config.log.level, loaded.config.log.format);
    if provider_was_installed {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // The server runs one event loop per core (`server.workers`): this thread's runtime is
    // the first of them and also runs the background work (key fetches, readiness checks).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(loaded))
}

/// `check`: the configuration loaded; now every build step startup runs (TLS key pair, claim
/// rules, CA files, route table), without binding a port or spawning a child; then the
/// routing table and the backends' policies.
fn check(loaded: &config::Loaded) -> ExitCode {
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    // Some build steps create Tokio resources (nothing runs: no task is polled).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("smcp-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let built = {
        let _entered = runtime.enter();
        Server::check(&loaded.config)
    };
    if let Err(error) = built {
        eprintln!("smcp-server: invalid configuration\n{error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    print!("{}", loaded.config.describe_routes());
    print!("{}", loaded.config.describe_policies());
    ExitCode::SUCCESS
}

async fn serve(loaded: config::Loaded) -> ExitCode {
    let config = loaded.config;
    let server = match Server::from_config(&config) {
        Ok(server) => server,
        Err(error) => {
            tracing::error!("invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let address = (config.server.host.as_str(), config.server.port);
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(host = %config.server.host, port = config.server.port, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if !config.server.is_loopback() && config.auth.mode == AuthMode::None {
        tracing::warn!(
            address = %local,
            "!!! smcp-server is listening on a non-loopback address with auth.mode none: \
             anyone who can reach this port can use every backend. Enable auth.mode oidc. !!!"
        );
    }
    tracing::info!(
        address = %local,
        tls = server.is_tls(),
        backends = config.mcp.backends.len(),
        source = ?loaded.source,
        "smcp-server listening"
    );
    // First SIGTERM/SIGINT: drain with the listener open for server.shutdown_timeout;
    // a second one: close now.
    let (drain, stop) = smcp_proxy::signals::drain_then_stop();
    // SIGHUP: reopen the audit file after a rotation (when audit.sink is a file).
    server.reopen_audit_on_hangup();
    server.run_until(listener, drain, stop).await;
    ExitCode::SUCCESS
}
