//! `smcp-load`: drives MCP sessions with concurrent `tools/call` requests for a fixed time and
//! prints one JSON line with calls/s, latency percentiles, errors and the target process's
//! memory and CPU time (see `smcp_benches::load`).
//!
//! ```text
//! smcp-load http --url http://127.0.0.1:8080/v1/echo/mcp -s 8 -c 16 -d 10s [--pid PID] [--token T]
//! smcp-load raw-stdio -s 8 -c 16 -d 10s -- target/release/echo-mcp-stdio
//! ```

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use smcp_benches::load::http::HttpTarget;
use smcp_benches::load::raw_stdio::StdioTarget;
use smcp_benches::load::{self, LoadConfig, Report};

#[derive(Parser)]
#[command(about = "Loopback MCP load generator: sessions x in-flight tools/call for a fixed time")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Against a Streamable HTTP MCP endpoint.
    Http {
        /// The endpoint URL (plain http, loopback).
        #[arg(long)]
        url: http::Uri,
        /// Bearer token sent on every request.
        #[arg(long, env = "SMCP_LOAD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Send the token as a DPoP-bound one: `Authorization: DPoP` and a proof per request,
        /// signed with this key (PKCS#8 PEM, P-256).
        #[arg(long, env = "SMCP_LOAD_DPOP_KEY")]
        dpop_key: Option<std::path::PathBuf>,
        /// Proofs made before the run (the measured window then spends no client CPU on
        /// them; once used up, each request signs its own).
        #[arg(long, default_value_t = 0)]
        dpop_proofs: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Straight to stdio server processes (one per session), newline-delimited JSON-RPC.
    RawStdio {
        #[command(flatten)]
        load: LoadArgs,
        /// The server command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Args)]
struct LoadArgs {
    /// Name of the run in the report.
    #[arg(long, default_value = "run")]
    label: String,
    /// MCP sessions.
    #[arg(short, long, default_value_t = 8)]
    sessions: usize,
    /// Calls in flight per session.
    #[arg(short, long, default_value_t = 16)]
    concurrency: usize,
    /// Offered load in calls/s, spread over every session and slot (default: as fast as the
    /// target answers).
    #[arg(long)]
    rate: Option<f64>,
    /// Measured window.
    #[arg(short, long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unrecorded warm-up before the window.
    #[arg(short, long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Per-call timeout (a late call counts as an error).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Sessions opened at once during setup.
    #[arg(long, default_value_t = 16)]
    open_parallelism: usize,
    /// Tool to call.
    #[arg(long, default_value = "echo")]
    tool: String,
    /// Its `message` argument.
    #[arg(long, default_value = "hello")]
    message: String,
    /// Process whose memory and CPU are read (repeat to sum several, e.g. nginx's master and
    /// workers; their other descendants are reported apart).
    #[arg(long)]
    pid: Vec<u32>,
    /// Runtime threads of the load generator (1 leaves the other cores to the target).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl LoadArgs {
    fn config(&self) -> LoadConfig {
        LoadConfig {
            label: self.label.clone(),
            sessions: self.sessions.max(1),
            concurrency: self.concurrency.max(1),
            rate: self.rate,
            warmup: self.warmup,
            duration: self.duration,
            request_timeout: self.timeout,
            open_parallelism: self.open_parallelism,
            tool: self.tool.clone(),
            message: self.message.clone(),
            pids: self.pid.clone(),
        }
    }
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (threads, run): (
        usize,
        std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Report>>>>,
    ) = match cli.mode {
        Mode::Http {
            url,
            token,
            dpop_key,
            dpop_proofs,
            load,
        } => (
            load.threads,
            Box::pin(load::http::run(
                load.config(),
                HttpTarget {
                    url,
                    token,
                    dpop: match dpop_key {
                        Some(path) => Some(load::http::DpopSigner::new(
                            &std::fs::read(&path)
                                .with_context(|| format!("cannot read {}", path.display()))?,
                            dpop_proofs,
                        )?),
                        None => None,
                    },
                },
            )),
        ),
        Mode::RawStdio { load, command } => (
            load.threads,
            Box::pin(load::raw_stdio::run(load.config(), StdioTarget { command })),
        ),
    };
    let report = runtime(threads)
        .context("building the runtime")?
        .block_on(run)?;
    eprintln!(
        "{}: {:.0} calls/s, p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us, {} errors{}",
        report.label,
        report.calls_per_s,
        report.p50_us,
        report.p90_us,
        report.p99_us,
        report.max_us,
        report.errors,
        report
            .error_sample
            .as_deref()
            .map(|s| format!(" (e.g. {s})"))
            .unwrap_or_default()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
