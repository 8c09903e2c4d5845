//! `SMCP_PROXY_*` overrides and flags: what they set, precedence, parse errors, warnings.

use std::time::Duration;

use super::{Files, env, problems, yaml};
use crate::config::{
    AuthMode, CliOverrides, Config, Format, LogFormat, env_overrides, load, load_str,
};

const FILE: &str = "
server:
  host: 127.0.0.2
  port: 1000
auth:
  mode: none
";

fn with_env(pairs: &[(&str, &str)]) -> Config {
    match yaml(FILE, pairs) {
        Ok(loaded) => loaded.config,
        Err(err) => panic!("{pairs:?}:\n{err}"),
    }
}

/// Every scalar key of server/auth/mcp/oidc/tls/metrics has a variable, and each variable
/// reaches its key.
#[test]
fn config_env_sets_every_scalar_key() {
    let files = Files::new();
    let cert = files.cert.display().to_string();
    let key = files.key.display().to_string();
    let audit_sink = files
        .cert
        .with_file_name("audit.jsonl")
        .display()
        .to_string();
    let pairs = [
        ("SMCP_PROXY_SERVER_HOST", "0.0.0.0"),
        ("SMCP_PROXY_SERVER_PORT", "9090"),
        ("SMCP_PROXY_SERVER_READ_TIMEOUT", "5s"),
        ("SMCP_PROXY_SERVER_WRITE_TIMEOUT", "6s"),
        ("SMCP_PROXY_SERVER_SHUTDOWN_TIMEOUT", "7s"),
        ("SMCP_PROXY_SERVER_PUBLIC_URL", "https://mcp.example.com"),
        (
            "SMCP_PROXY_SERVER_ALLOWED_ORIGINS",
            "https://a.example, https://b.example:8443",
        ),
        ("SMCP_PROXY_SERVER_MAX_REQUEST_BODY", "1MiB"),
        ("SMCP_PROXY_SERVER_MAX_CONNECTIONS", "500"),
        (
            "SMCP_PROXY_SERVER_ALLOWED_HOSTS",
            "mcp.example.com, *.internal.example:8443",
        ),
        ("SMCP_PROXY_SERVER_SESSION_IDLE_TIMEOUT", "5m"),
        ("SMCP_PROXY_SERVER_SSE_KEEPALIVE", "20s"),
        ("SMCP_PROXY_SERVER_WORKERS", "3"),
        ("SMCP_PROXY_AUTH_MODE", "oidc"),
        ("SMCP_PROXY_MCP_TIMEOUT", "2m"),
        (
            "SMCP_PROXY_OIDC_ISSUERS",
            "https://a.example,https://b.example/realms/x",
        ),
        ("SMCP_PROXY_OIDC_AUDIENCE", "api,other"),
        ("SMCP_PROXY_OIDC_LEEWAY", "10s"),
        ("SMCP_PROXY_OIDC_JWKS_REFRESH_MIN_INTERVAL", "1m"),
        ("SMCP_PROXY_OIDC_SCOPES_SUPPORTED", "mcp:read,mcp:write"),
        ("SMCP_PROXY_OIDC_DPOP", "required"),
        ("SMCP_PROXY_OIDC_DPOP_REPLAY_CACHE_SIZE", "5000"),
        ("SMCP_PROXY_OIDC_DPOP_NONCE", "true"),
        ("SMCP_PROXY_TLS_ENABLED", "true"),
        ("SMCP_PROXY_TLS_CERT_FILE", cert.as_str()),
        ("SMCP_PROXY_TLS_KEY_FILE", key.as_str()),
        ("SMCP_PROXY_METRICS_ENABLED", "false"),
        ("SMCP_PROXY_METRICS_PATH", "/ops/metrics"),
        ("SMCP_PROXY_AUDIT_ENABLED", "true"),
        ("SMCP_PROXY_AUDIT_SINK", audit_sink.as_str()),
        ("SMCP_PROXY_AUDIT_ARGUMENTS_DIGEST", "true"),
        ("SMCP_PROXY_AUDIT_QUEUE", "500"),
        ("SMCP_PROXY_LOG_LEVEL", "debug"),
        ("SMCP_PROXY_LOG_FORMAT", "json"),
    ];
    // The table above covers every documented override.
    let documented: Vec<String> = env_overrides().map(|(_, var)| var).collect();
    for var in &documented {
        assert!(
            pairs.iter().any(|(name, _)| name == var),
            "{var} not covered"
        );
    }
    let config = with_env(&pairs);
    let s = &config.server;
    assert_eq!(s.host, "0.0.0.0");
    assert_eq!(s.port, 9090);
    assert_eq!(s.read_timeout, Duration::from_secs(5));
    assert_eq!(s.workers, 3);
    assert_eq!(s.write_timeout, Duration::from_secs(6));
    assert_eq!(s.shutdown_timeout, Duration::from_secs(7));
    assert_eq!(
        s.public_url.as_ref().unwrap().as_str(),
        "https://mcp.example.com/"
    );
    let origins: Vec<String> = s
        .allowed_origins
        .iter()
        .map(|o| o.ascii_serialization())
        .collect();
    assert_eq!(origins, ["https://a.example", "https://b.example:8443"]);
    assert_eq!(s.max_request_body, 1 << 20);
    assert_eq!(s.max_connections, 500);
    assert_eq!(
        s.allowed_hosts,
        [
            crate::config::AllowedHost::Host {
                name: "mcp.example.com".into(),
                subdomains: false,
                port: None
            },
            crate::config::AllowedHost::Host {
                name: "internal.example".into(),
                subdomains: true,
                port: Some(8443)
            },
        ]
    );
    assert_eq!(s.session_idle_timeout, Duration::from_secs(300));
    assert_eq!(s.sse_keepalive, Duration::from_secs(20));
    assert_eq!(config.auth.mode, AuthMode::Oidc);
    assert_eq!(config.mcp.timeout, Duration::from_secs(120));
    let issuers: Vec<&str> = config
        .oidc
        .issuers
        .iter()
        .map(|i| i.issuer.as_str())
        .collect();
    assert_eq!(issuers, ["https://a.example", "https://b.example/realms/x"]);
    assert_eq!(config.oidc.audiences, ["api", "other"]);
    assert_eq!(config.oidc.leeway, Duration::from_secs(10));
    assert_eq!(
        config.oidc.jwks_refresh_min_interval,
        Duration::from_secs(60)
    );
    assert_eq!(config.oidc.scopes_supported, ["mcp:read", "mcp:write"]);
    assert_eq!(config.oidc.dpop, smcp_auth::dpop::DpopMode::Required);
    assert_eq!(config.oidc.dpop_replay_cache_size, 5000);
    assert!(config.oidc.dpop_nonce);
    let tls = config.tls.as_ref().unwrap();
    assert_eq!(tls.cert_file, files.cert);
    assert_eq!(tls.key_file, files.key);
    assert!(!config.metrics.enabled);
    assert_eq!(config.metrics.path, "/ops/metrics");
    let audit = config.audit.as_ref().expect("audit on");
    assert_eq!(
        audit.sink,
        crate::config::AuditSinkConfig::File(audit_sink.clone().into())
    );
    assert!(audit.arguments_digest);
    assert_eq!(audit.queue, 500);
    assert_eq!(config.log.level, "debug");
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn config_precedence_is_flags_then_env_then_file_then_defaults() {
    let none = CliOverrides::default();
    let flags = CliOverrides {
        host: Some("127.0.0.3".into()),
        port: Some(3000),
        auth_mode: Some(AuthMode::None),
        log_level: Some("warn".into()),
        log_format: Some(LogFormat::Text),
        config: None,
    };
    let pairs = env(&[
        ("SMCP_PROXY_SERVER_PORT", "2000"),
        ("SMCP_PROXY_SERVER_HOST", "127.0.0.4"),
        ("SMCP_PROXY_AUTH_MODE", "oidc"),
        ("SMCP_PROXY_LOG_LEVEL", "debug"),
        ("SMCP_PROXY_LOG_FORMAT", "json"),
    ]);
    let empty = env(&[]);

    let defaults = load_str("", Format::Yaml, &none, &empty).unwrap().config;
    assert_eq!(
        (defaults.server.host.as_str(), defaults.server.port),
        ("127.0.0.1", 8080)
    );
    assert_eq!(defaults.log.level, "info");

    let file = load_str(FILE, Format::Yaml, &none, &empty).unwrap().config;
    assert_eq!(
        (file.server.host.as_str(), file.server.port),
        ("127.0.0.2", 1000)
    );

    // auth.mode oidc from the environment would need issuers, so keep the flag in both runs.
    let oidc_off = CliOverrides {
        auth_mode: Some(AuthMode::None),
        ..CliOverrides::default()
    };
    let from_env = load_str(FILE, Format::Yaml, &oidc_off, &pairs)
        .unwrap()
        .config;
    assert_eq!(
        (from_env.server.host.as_str(), from_env.server.port),
        ("127.0.0.4", 2000)
    );
    assert_eq!(from_env.log.level, "debug");
    assert_eq!(from_env.log.format, LogFormat::Json);

    let from_flags = load_str(FILE, Format::Yaml, &flags, &pairs).unwrap().config;
    assert_eq!(
        (from_flags.server.host.as_str(), from_flags.server.port),
        ("127.0.0.3", 3000)
    );
    assert_eq!(from_flags.auth.mode, AuthMode::None);
    assert_eq!(from_flags.log.level, "warn");
    assert_eq!(from_flags.log.format, LogFormat::Text);

    // Without the flag, the environment's auth.mode wins over the file's and is validated.
    let err = load_str(FILE, Format::Yaml, &none, &pairs).unwrap_err();
    assert!(
        err.to_string()
            .contains("oidc.issuers: at least one issuer is required"),
        "{err}"
    );
}

#[test]
fn config_env_values_that_do_not_parse_name_the_variable() {
    let cases = [
        (
            "SMCP_PROXY_SERVER_PORT",
            "http",
            "SMCP_PROXY_SERVER_PORT: invalid value for server.port: expected a port number from 0 to 65535 (got http)",
        ),
        (
            "SMCP_PROXY_SERVER_PORT",
            "65536",
            "SMCP_PROXY_SERVER_PORT: invalid value for server.port: expected a port number from 0 to 65535 (got 65536)",
        ),
        (
            "SMCP_PROXY_SERVER_READ_TIMEOUT",
            "30",
            "SMCP_PROXY_SERVER_READ_TIMEOUT: invalid value for server.read_timeout: \"30\" has no unit: write a duration like \"30s\" or \"30ms\"",
        ),
        (
            "SMCP_PROXY_MCP_TIMEOUT",
            "forever",
            "SMCP_PROXY_MCP_TIMEOUT: invalid value for mcp.timeout: invalid duration \"forever\" (expected number at 0): write a duration like \"30s\" or \"10m\"",
        ),
        (
            "SMCP_PROXY_TLS_ENABLED",
            "maybe",
            "SMCP_PROXY_TLS_ENABLED: invalid value for tls.enabled: expected true or false (got \"maybe\")",
        ),
        (
            "SMCP_PROXY_METRICS_ENABLED",
            "2",
            "SMCP_PROXY_METRICS_ENABLED: invalid value for metrics.enabled: expected true or false (got \"2\")",
        ),
        (
            "SMCP_PROXY_AUTH_MODE",
            "basic",
            "SMCP_PROXY_AUTH_MODE: invalid value for auth.mode: must be \"none\" or \"oidc\" (got \"basic\")",
        ),
        (
            "SMCP_PROXY_SERVER_MAX_REQUEST_BODY",
            "big",
            "SMCP_PROXY_SERVER_MAX_REQUEST_BODY: invalid value for server.max_request_body: invalid size \"big\": write a number of bytes or a size like \"4MiB\" or \"512KiB\"",
        ),
        (
            "SMCP_PROXY_SERVER_PUBLIC_URL",
            "mcp.example.com",
            "SMCP_PROXY_SERVER_PUBLIC_URL: invalid value for server.public_url: invalid URL \"mcp.example.com\": relative URL without a base",
        ),
        (
            "SMCP_PROXY_LOG_FORMAT",
            "xml",
            "SMCP_PROXY_LOG_FORMAT: must be \"text\" or \"json\" (got \"xml\")",
        ),
    ];
    for (var, value, expected) in cases {
        let found = problems(FILE, &[(var, value)]);
        assert_eq!(found, [expected], "{var}={value}");
    }
}

/// Values that parse but break a rule are reported against the key, saying where they came
/// from.
#[test]
fn config_rule_errors_say_which_variable_or_flag_set_the_value() {
    let found = problems(
        FILE,
        &[("SMCP_PROXY_SERVER_PUBLIC_URL", "https://x.example/?q=1")],
    );
    assert_eq!(
        found,
        [
            "server.public_url: must not have a query (got \"https://x.example/?q=1\") (set by SMCP_PROXY_SERVER_PUBLIC_URL)"
        ]
    );
    let flags = CliOverrides {
        host: Some("not a host".into()),
        log_level: Some("chatty".into()),
        ..CliOverrides::default()
    };
    let err = load_str(FILE, Format::Yaml, &flags, &env(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "server.host: must be an IP address or a host name, without scheme or port (got \"not a host\") (set by --host)\n\
         log.level: must be one of trace, debug, info, warn, error, off or a filter like \"smcp_proxy=debug,info\" (got \"chatty\") (set by --log-level)"
    );
}

#[test]
fn config_unknown_and_empty_variables() {
    let loaded = yaml(
        FILE,
        &[
            ("SMCP_PROXY_SERVER_PROT", "9"),
            ("SMCP_PROXY_MCP_BACKENDS", "x"),
            ("SMCP_PROXY_SERVER_PORT", ""),
            ("SMCP_PROXY_CONFIG", ""),
            ("SMCP_PROXYISH", "not ours"),
        ],
    )
    .unwrap();
    assert_eq!(loaded.config.server.port, 1000, "empty values are ignored");
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .filter(|w| w.key.starts_with("SMCP_PROXY"))
        .map(ToString::to_string)
        .collect();
    let unknown = "unknown variable ignored (not a known SMCP_PROXY_ setting; backends cannot be set from the environment)";
    assert_eq!(
        warnings,
        [
            format!("SMCP_PROXY_MCP_BACKENDS: {unknown}"),
            format!("SMCP_PROXY_SERVER_PROT: {unknown}"),
        ]
    );
}

#[test]
fn config_log_levels() {
    for (value, expected) in [
        ("DEBUG", "debug"),
        ("warning", "warn"),
        ("off", "off"),
        ("smcp_proxy=debug,info", "smcp_proxy=debug,info"),
    ] {
        assert_eq!(
            with_env(&[("SMCP_PROXY_LOG_LEVEL", value)]).log.level,
            expected
        );
    }
    let found = problems(FILE, &[("SMCP_PROXY_LOG_LEVEL", "verbose")]);
    assert_eq!(
        found,
        [
            "log.level: must be one of trace, debug, info, warn, error, off or a filter like \"smcp_proxy=debug,info\" (got \"verbose\") (set by SMCP_PROXY_LOG_LEVEL)"
        ]
    );
}

/// `load` reads the file named by `--config`, else by `SMCP_PROXY_CONFIG`; none means
/// defaults.
#[test]
fn config_file_path_from_flag_or_env() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "server:\n  port: 1111\n").unwrap();
    std::fs::write(&b, "[server]\nport = 2222\n").unwrap();
    let from_env = env(&[("SMCP_PROXY_CONFIG", b.to_str().unwrap())]);

    let loaded = load(&CliOverrides::default(), &from_env).unwrap();
    assert_eq!(loaded.config.server.port, 2222);
    assert_eq!(loaded.source.as_deref(), Some(b.as_path()));

    let flag = CliOverrides {
        config: Some(a.clone()),
        ..CliOverrides::default()
    };
    let loaded = load(&flag, &from_env).unwrap();
    assert_eq!(loaded.config.server.port, 1111);
    assert_eq!(loaded.source.as_deref(), Some(a.as_path()));

    let loaded = load(&CliOverrides::default(), &env(&[])).unwrap();
    assert_eq!(loaded.config.server.port, 8080);
    assert_eq!(loaded.source, None);

    let missing = CliOverrides {
        config: Some(dir.path().join("nope.yml")),
        ..CliOverrides::default()
    };
    let err = load(&missing, &env(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read config file: No such file or directory",
            dir.path().join("nope.yml").display()
        )
    );
}
