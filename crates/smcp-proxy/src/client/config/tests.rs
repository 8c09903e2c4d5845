//! smcp-client configuration: Go defaults and environment names, precedence, every rule.

use std::collections::BTreeMap;
use std::time::Duration;

use smcp_auth::token_source::ClientAuth;
use smcp_test_support::issuer::SigningKey;

use super::{ClientConfig, ClientConfigError, ResourceChoice, StdioTransport, TokenEndpointConfig};
use crate::client::options::Sources;
use crate::shared::LogFormat;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn resolve(
    flags: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<(ClientConfig, Vec<String>), ClientConfigError> {
    let env = map(env);
    ClientConfig::resolve(&Sources::new(map(flags), &env))
}

fn problems(flags: &[(&str, &str)], env: &[(&str, &str)]) -> Vec<String> {
    match resolve(flags, env) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems,
    }
}

#[test]
fn go_defaults() {
    let (config, warnings) = resolve(&[("server-url", "http://localhost:8080")], &[]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.listen.host, "127.0.0.1");
    assert_eq!(config.listen.port, 8081);
    assert_eq!(config.listen.read_timeout, Duration::from_secs(30));
    assert_eq!(config.listen.write_timeout, Duration::from_secs(30));
    assert_eq!(config.listen.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(config.listen.tls, None);
    assert_eq!(config.listen.metrics_path.as_deref(), Some("/metrics"));
    assert_eq!(config.server.url.as_str(), "http://localhost:8080/");
    assert_eq!(config.server.timeout, Duration::from_secs(60));
    assert_eq!(config.server.replay_body_limit, 1 << 20);
    assert!(config.oidc.is_none());
    assert_eq!(config.transport, StdioTransport::Auto);
    assert_eq!(config.log_level, "info");
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn the_go_readme_environment_works() {
    let env = [
        ("SMCP_SERVER_URL", "http://localhost:8080"),
        ("SMCP_AUTH_MODE", "oidc"),
        ("SMCP_OIDC_ISSUER", "https://your-identity-provider.com"),
        ("SMCP_OIDC_CLIENT_ID", "your-client-id"),
        ("SMCP_OIDC_CLIENT_SECRET", "your-client-secret"),
        ("SMCP_CLIENT_HOST", "127.0.0.2"),
        ("SMCP_CLIENT_PORT", "8082"),
        ("SMCP_OIDC_AUDIENCE", "your-api-audience"),
        ("SMCP_OIDC_SCOPES", "openid,profile,email"),
        ("SMCP_CLIENT_OIDC_CACHE_TTL", "5m0s"),
        ("SMCP_CLIENT_LOG_FORMAT", "json"),
        ("SMCP_CLIENT_METRICS", "false"),
    ];
    let (config, warnings) = resolve(&[], &env).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.listen.host, "127.0.0.2");
    assert_eq!(config.listen.port, 8082);
    assert_eq!(config.listen.metrics_path, None);
    assert_eq!(config.log_format, LogFormat::Json);
    let oidc = config.oidc.unwrap();
    assert_eq!(
        oidc.endpoint,
        TokenEndpointConfig::Issuer("https://your-identity-provider.com".into())
    );
    assert_eq!(oidc.client_id, "your-client-id");
    assert!(matches!(&oidc.auth, ClientAuth::SecretBasic(s) if s.expose() == "your-client-secret"));
    assert_eq!(oidc.audience.as_deref(), Some("your-api-audience"));
    assert_eq!(
        oidc.scopes.as_deref(),
        Some(
            &[
                "openid".to_owned(),
                "profile".to_owned(),
                "email".to_owned()
            ][..]
        )
    );
    // An explicit audience is not replaced: no RFC 8707 resource goes with it.
    assert_eq!(oidc.resource, ResourceChoice::Omitted);
    assert_eq!(oidc.cache_ttl, Duration::from_secs(300));
    assert_eq!(oidc.ttl_delta, Duration::from_secs(30));
}

#[test]
fn flags_win_over_the_environment() {
    let (config, _) = resolve(
        &[
            ("port", "9001"),
            ("server-url", "https://flag.example/v1/memory"),
        ],
        &[
            ("SMCP_CLIENT_PORT", "9000"),
            ("SMCP_SERVER_URL", "https://env.example"),
        ],
    )
    .unwrap();
    assert_eq!(config.listen.port, 9001);
    assert_eq!(config.server.url.as_str(), "https://flag.example/v1/memory");
}

#[test]
fn every_problem_is_reported_with_its_source() {
    let found = problems(
        &[
            ("port", "http"),
            ("tls", "true"),
            ("metrics-path", "metrics"),
        ],
        &[
            ("SMCP_CLIENT_READ_TIMEOUT", "30"),
            ("SMCP_AUTH_MODE", "oidc"),
            ("SMCP_CLIENT_TRANSPORT", "websocket"),
            ("SMCP_CLIENT_REPLAY_BODY_LIMIT", "lots"),
        ],
    );
    let expected = [
        "--port: must be a port number",
        "SMCP_CLIENT_READ_TIMEOUT: must be a duration",
        "--tls-cert: is required with --tls",
        "--tls-key: is required with --tls",
        "--metrics-path: must start with /",
        "--server-url: is required",
        "SMCP_CLIENT_REPLAY_BODY_LIMIT: must be a size",
        "SMCP_CLIENT_TRANSPORT: must be auto, streamable or sse",
        "--oidc-client-id: is required with --auth-mode oidc",
        "--oidc-client-secret: is required with --auth-mode oidc",
    ];
    for want in expected {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");

    let found = problems(
        &[
            ("server-url", "ftp://x"),
            ("auth-mode", "oauth"),
            ("log-format", "xml"),
        ],
        &[],
    );
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[test]
fn secrets_come_from_one_place_and_a_flag_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "from-file\n").unwrap();
    let file = file.to_str().unwrap();
    let base = [
        ("server-url", "https://mcp.example.com"),
        ("auth-mode", "oidc"),
        ("oidc-client-id", "c"),
    ];

    let mut flags = base.to_vec();
    flags.push(("oidc-client-secret-file", file));
    flags.push(("oidc-client-auth", "client_secret_post"));
    let (config, warnings) = resolve(&flags, &[]).unwrap();
    assert!(warnings.is_empty());
    let oidc = config.oidc.unwrap();
    assert!(matches!(&oidc.auth, ClientAuth::SecretPost(s) if s.expose() == "from-file"));
    // Neither issuer nor token URL: MCP discovery, and the server's scopes.
    assert_eq!(oidc.endpoint, TokenEndpointConfig::Discover);
    assert_eq!(oidc.scopes, None);

    let found = problems(&flags, &[("SMCP_OIDC_CLIENT_SECRET", "env")]);
    assert!(found[0].contains("cannot be combined"), "{found:?}");

    let mut flags = base.to_vec();
    flags.push(("oidc-client-secret", "on-the-command-line"));
    let (config, warnings) = resolve(&flags, &[]).unwrap();
    assert!(warnings[0].contains("command line"), "{warnings:?}");
    assert!(!format!("{config:?}").contains("on-the-command-line"));
}

#[test]
fn private_key_jwt_reads_the_key_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::ec_p256("k");
    let path = dir.path().join("key.pem");
    std::fs::write(&path, key.private_key_pem()).unwrap();
    let flags = [
        ("server-url", "https://mcp.example.com"),
        ("auth-mode", "oidc"),
        ("oidc-client-id", "c"),
        ("oidc-client-auth", "private_key_jwt"),
        ("oidc-private-key-file", path.to_str().unwrap()),
        ("oidc-token-url", "https://idp.example.com/token"),
        ("oidc-issuer", "https://idp.example.com"),
        ("oidc-scopes", ""),
    ];
    let (config, _) = resolve(&flags, &[]).unwrap();
    let oidc = config.oidc.unwrap();
    assert!(matches!(&oidc.auth, ClientAuth::PrivateKeyJwt(k) if k.algorithm_name() == "ES256"));
    assert!(matches!(
        &oidc.endpoint,
        TokenEndpointConfig::TokenUrl { issuer: Some(i), .. } if i == "https://idp.example.com"
    ));
    assert_eq!(oidc.scopes, Some(Vec::new()));

    std::fs::write(&path, "garbage").unwrap();
    let found = problems(&flags, &[]);
    assert!(
        found[0].starts_with("--oidc-private-key-file:"),
        "{found:?}"
    );
}

#[test]
fn resource_and_endpoint_rules() {
    let base = [
        ("server-url", "https://mcp.example.com/v1/memory"),
        ("auth-mode", "oidc"),
        ("oidc-client-id", "c"),
        ("oidc-client-secret", "s"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut flags = base.to_vec();
        flags.extend_from_slice(extra);
        flags
    };
    // The defaults: no scopes of the operator's, one token per resource the server names.
    let (config, _) = resolve(&with(&[]), &[]).unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(oidc.scopes, None);
    assert_eq!(oidc.resource, ResourceChoice::PerResource);
    let (config, _) = resolve(&with(&[("oidc-no-resource", "true")]), &[]).unwrap();
    assert_eq!(config.oidc.unwrap().resource, ResourceChoice::Omitted);
    let (config, _) = resolve(&with(&[("oidc-resource", "urn:smcp:memory")]), &[]).unwrap();
    assert_eq!(
        config.oidc.unwrap().resource,
        ResourceChoice::Fixed("urn:smcp:memory".into())
    );
    // An explicit resource goes with an explicit audience; an empty scope list is a choice.
    let (config, _) = resolve(
        &with(&[
            ("oidc-audience", "api"),
            ("oidc-resource", "https://mcp.example.com/v1/memory"),
            ("oidc-scopes", ""),
        ]),
        &[],
    )
    .unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(
        oidc.resource,
        ResourceChoice::Fixed("https://mcp.example.com/v1/memory".into())
    );
    assert_eq!(oidc.scopes, Some(Vec::new()));
    let found = problems(
        &with(&[("oidc-no-resource", "true"), ("oidc-resource", "urn:x")]),
        &[],
    );
    assert!(found[0].contains("cannot be combined"), "{found:?}");
    let found = problems(&with(&[("oidc-issuer", "http://idp.example.com")]), &[]);
    assert!(found[0].contains("must be https"), "{found:?}");
    let found = problems(&with(&[("oidc-client-auth", "tls_client_auth")]), &[]);
    assert!(found[0].starts_with("--oidc-client-auth:"), "{found:?}");
}

#[test]
fn oidc_options_with_auth_none_are_warned_about() {
    let (config, warnings) = resolve(
        &[("server-url", "http://127.0.0.1:8080")],
        &[("SMCP_OIDC_CLIENT_ID", "c")],
    )
    .unwrap();
    assert!(config.oidc.is_none());
    assert!(warnings[0].contains("--oidc-client-id"), "{warnings:?}");
}

#[test]
fn the_server_ca_file_is_loaded_and_checked_with_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ca.pem");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&good, cert.cert.pem()).unwrap();
    let good = good.to_str().unwrap();
    let (config, _) = resolve(
        &[
            ("server-url", "https://localhost:8443"),
            ("server-ca-file", good),
        ],
        &[],
    )
    .unwrap();
    let cas = config.server.trusted_cas.expect("loaded");
    assert_eq!(cas.len(), 1);
    assert_eq!(cas.path(), std::path::Path::new(good));

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (path, cause) in [(&empty, "empty.pem"), (&missing, "missing.pem")] {
        let problems = problems(
            &[
                ("server-url", "https://localhost:8443"),
                ("server-ca-file", path.to_str().unwrap()),
            ],
            &[],
        );
        assert!(
            problems.len() == 1
                && problems[0].contains("server-ca-file")
                && problems[0].contains(cause),
            "{problems:?}"
        );
    }
}
