//! smcp-client: parse the command line, resolve the configuration, run one mode.
//!
//! Modes: `smcp-client [http]` (the default: a local HTTP proxy), `smcp-client stdio` (a
//! stdio MCP server for desktop hosts) and `smcp-client check`. Every option is built from
//! the table in `smcp_proxy::client::options`, so flags, environment names, defaults and help
//! never drift apart. Everything else lives in `smcp-proxy`.
//!
//! Exit codes: 0 after a clean shutdown (or a passing check), 64 for a configuration error
//! (EX_USAGE), 1 for a runtime failure (port in use, check found problems).

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use smcp_proxy::client::options::{OPTIONS, OptionKind, Sources};
use smcp_proxy::client::{ClientConfig, HttpProxy, StdioBridge, check};
use smcp_proxy::config::ProcessEnv;

/// Exit code for configuration errors (EX_USAGE from sysexits.h).
const EXIT_CONFIG: u8 = 64;

fn command() -> Command {
    let mut command = Command::new("smcp-client")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Client-credentials tokens for software that knows nothing about OAuth: a local \
             HTTP proxy (default) or a stdio MCP server in front of an OIDC-protected smcp-server.",
        )
        .subcommand(Command::new("http").about(
            "Local HTTP proxy (the default): forwards every request to --server-url with the \
             path appended, adding the bearer token",
        ))
        .subcommand(Command::new("stdio").about(
            "stdio MCP server for desktop hosts: JSON-RPC on stdin/stdout, Streamable HTTP \
             (or legacy SSE) to --server-url; logs on stderr",
        ))
        .subcommand(Command::new("check").about(
            "Fetch a token, show what the server will see, call initialize, and say what is wrong",
        ));
    for spec in OPTIONS {
        let mut help = spec.help.to_owned();
        if let Some(default) = spec.default {
            help.push_str(&format!(" [default: {default}]"));
        }
        help.push_str(&format!(" [env: {}]", spec.env.join(", ")));
        let mut arg = Arg::new(spec.name)
            .long(spec.name)
            .global(true)
            .value_name(spec.value_name)
            .action(ArgAction::Set)
            .help(help);
        if let Some(short) = spec.short {
            arg = arg.short(short);
        }
        if spec.kind == OptionKind::Switch {
            // `--tls` alone means true; a value needs `=` so that `--tls stdio` stays a
            // subcommand.
            arg = arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true");
        }
        command = command.arg(arg);
    }
    command
}

/// The option values given as flags (global options are read from the subcommand's matches,
/// where clap gathers them wherever they were written).
fn flags(matches: &ArgMatches) -> BTreeMap<String, String> {
    OPTIONS
        .iter()
        .filter_map(|spec| {
            matches
                .get_one::<String>(spec.name)
                .map(|value| (spec.name.to_owned(), value.clone()))
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http,
    Stdio,
    Check,
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let (mode, sub) = match matches.subcommand() {
        Some(("stdio", sub)) => (Mode::Stdio, sub),
        Some(("check", sub)) => (Mode::Check, sub),
        Some((_, sub)) => (Mode::Http, sub),
        None => (Mode::Http, &matches),
    };
    let sources = Sources::new(flags(sub), &ProcessEnv);
    let (config, warnings) = match ClientConfig::resolve(&sources) {
        Ok(resolved) => resolved,
        Err(error) => {
            eprintln!("smcp-client: invalid configuration\n{error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Held until `main` returns: dropping it flushes the queued log lines.
    let _log = smcp_proxy::logging::init(&config.log_level, config.log_format);
    // One crypto provider for every rustls user in the process.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match mode {
            Mode::Http => serve_http(&config).await,
            Mode::Stdio => serve_stdio(&config).await,
            Mode::Check => run_check(&config).await,
        }
    })
}

async fn serve_http(config: &ClientConfig) -> ExitCode {
    let proxy = match HttpProxy::new(config) {
        Ok(proxy) => proxy,
        Err(error) => {
            tracing::error!("invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let host = config.listen.host.as_str();
    let listener = match tokio::net::TcpListener::bind((host, config.listen.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(host, port = config.listen.port, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if !config.listen.is_loopback() && config.oidc.is_some() {
        tracing::warn!(
            address = %local,
            "!!! smcp-client is listening on a non-loopback address: anyone who can reach this \
             port acts with this client's token. Bind 127.0.0.1 unless that is intended. !!!"
        );
    }
    tracing::info!(
        address = %local,
        tls = proxy.is_tls(),
        server = %config.server.url,
        auth = if config.oidc.is_some() { "oidc" } else { "none" },
        "smcp-client listening"
    );
    proxy
        .run(listener, smcp_proxy::signals::shutdown_signal())
        .await;
    ExitCode::SUCCESS
}

async fn serve_stdio(config: &ClientConfig) -> ExitCode {
    let bridge = match StdioBridge::new(config) {
        Ok(bridge) => bridge,
        Err(error) => {
            tracing::error!("invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::info!(server = %config.server.url, "smcp-client stdio bridge ready");
    tokio::select! {
        () = bridge.run(tokio::io::stdin(), tokio::io::stdout()) => {}
        () = smcp_proxy::signals::shutdown_signal() => tracing::info!("stopping before stdin closed"),
    }
    ExitCode::SUCCESS
}

async fn run_check(config: &ClientConfig) -> ExitCode {
    match check::check(config).await {
        Ok(report) => {
            print!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("smcp-client: invalid configuration\n{error}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{command, flags};

    #[test]
    fn options_parse_before_and_after_the_subcommand() {
        let matches = command()
            .try_get_matches_from([
                "smcp-client",
                "--server-url",
                "http://a",
                "stdio",
                "--tls",
                "-l",
                "debug",
                "--metrics=false",
            ])
            .unwrap();
        let (name, sub) = matches.subcommand().unwrap();
        assert_eq!(name, "stdio");
        let flags = flags(sub);
        assert_eq!(flags["server-url"], "http://a");
        assert_eq!(flags["tls"], "true");
        assert_eq!(flags["log-level"], "debug");
        assert_eq!(flags["metrics"], "false");
        command().debug_assert();
    }
}
