//! Every file under `configs/` loads and validates, with the environment it documents.

use std::path::{Path, PathBuf};

use super::{Files, env};
use crate::config::{AuthMode, CliOverrides, Config, Loaded, Transport, load};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn load_file(name: &str, pairs: &[(&str, &str)]) -> Loaded {
    let cli = CliOverrides {
        config: Some(configs_dir().join(name)),
        ..CliOverrides::default()
    };
    match load(&cli, &env(pairs)) {
        Ok(loaded) => loaded,
        Err(err) => panic!("configs/{name}:\n{err}"),
    }
}

fn stdio_env<'a>(config: &'a Config, id: &str) -> &'a std::collections::BTreeMap<String, String> {
    let backend = config.mcp.backends.iter().find(|b| b.id == id).unwrap();
    match &backend.transport {
        Transport::Stdio(stdio) => &stdio.env,
        Transport::Http(_) => panic!("{id} is not stdio"),
    }
}

/// Every file in the folder loads with an empty environment (their variables all have
/// defaults), so none is forgotten by the tests below.
#[test]
fn config_every_file_in_configs_loads() {
    let mut names: Vec<String> = std::fs::read_dir(configs_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "proxy-server.yml",
            "quickstart.yml",
            "smcp-server.toml",
            "smcp-server.yml"
        ]
    );
    for name in &names {
        load_file(name, &[]);
    }
}

/// The Go project's sample loads unchanged; its public, unauthenticated listener is
/// reported as a warning.
#[test]
fn config_go_sample_loads() {
    let loaded = load_file("proxy-server.yml", &[]);
    let config = &loaded.config;
    assert_eq!(config.server.host, "0.0.0.0");
    assert_eq!(config.auth.mode, AuthMode::None);
    let ids: Vec<&str> = config.mcp.backends.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["sequentialthinking", "memory"]);
    assert!(config.mcp.backends.iter().all(|b| b.strip_path));
    assert_eq!(
        config.oidc.issuers[0].issuer,
        "https://your-identity-provider.com"
    );
    assert!(config.oidc.required_claims.is_empty());
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "server.host: listening on \"0.0.0.0\" with auth.mode \"none\": anyone who can reach this port can use every backend"
        ]
    );
    // The same file with oidc turned on by flag, as the Go README runs it.
    let cli = CliOverrides {
        config: Some(configs_dir().join("proxy-server.yml")),
        auth_mode: Some(AuthMode::Oidc),
        ..CliOverrides::default()
    };
    let loaded = load(&cli, &env(&[])).unwrap();
    assert_eq!(loaded.config.oidc.audiences, ["your-api-audience"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn config_quickstart_loads() {
    let loaded = load_file("quickstart.yml", &[("TMPDIR", "/var/tmp/x")]);
    let config = &loaded.config;
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        (config.server.host.as_str(), config.server.port),
        ("127.0.0.1", 8080)
    );
    assert_eq!(config.auth.mode, AuthMode::None);
    let paths: Vec<&str> = config
        .mcp
        .backends
        .iter()
        .map(|b| b.path.as_str())
        .collect();
    assert_eq!(paths, ["/v1/memory", "/v1/sequentialthinking"]);
    assert_eq!(
        stdio_env(config, "memory")["MEMORY_FILE_PATH"],
        "/var/tmp/x/smcp-memory.jsonl"
    );
    assert_eq!(
        stdio_env(config, "sequentialthinking")["DISABLE_THOUGHT_LOGGING"],
        "true"
    );
    let defaulted = load_file("quickstart.yml", &[]);
    assert_eq!(
        stdio_env(&defaulted.config, "memory")["MEMORY_FILE_PATH"],
        "/tmp/smcp-memory.jsonl"
    );
}

/// The production example: YAML and TOML say the same thing, and with TLS switched on by
/// the environment (as a deployment would) its files are checked.
#[test]
fn config_production_example_in_both_formats() {
    let pairs = [
        ("SMCP_DATA_DIR", "/srv/smcp"),
        ("SMCP_OIDC_AUDIENCE", "api://smcp"),
    ];
    let yaml = load_file("smcp-server.yml", &pairs);
    let toml = load_file("smcp-server.toml", &pairs);
    assert_eq!(yaml.config, toml.config);
    let config = &yaml.config;
    assert_eq!(config.auth.mode, AuthMode::Oidc);
    assert_eq!(config.oidc.audiences, ["api://smcp"]);
    assert_eq!(config.mcp.backends.len(), 3);
    assert_eq!(
        stdio_env(config, "memory")["MEMORY_FILE_PATH"],
        "/srv/smcp/memory.jsonl"
    );
    // Listening on 0.0.0.0 is fine with oidc: no warning.
    assert!(yaml.warnings.is_empty(), "{:?}", yaml.warnings);
    print!("{}", config.describe_routes());

    let files = Files::new();
    let cert = files.cert.display().to_string();
    let key = files.key.display().to_string();
    let tls_on = [
        ("SMCP_PROXY_TLS_ENABLED", "true"),
        ("SMCP_PROXY_TLS_CERT_FILE", cert.as_str()),
        ("SMCP_PROXY_TLS_KEY_FILE", key.as_str()),
    ];
    let loaded = load_file("smcp-server.yml", &tls_on);
    let tls = loaded.config.tls.unwrap();
    assert_eq!(
        (tls.cert_file, tls.key_file),
        (files.cert.clone(), files.key.clone())
    );

    // Switched on without overriding the example's paths, which do not exist here.
    let cli = CliOverrides {
        config: Some(configs_dir().join("smcp-server.yml")),
        ..CliOverrides::default()
    };
    let err = load(&cli, &env(&[("SMCP_PROXY_TLS_ENABLED", "1")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls.cert_file: cannot read \"/etc/smcp/tls/server.crt\": No such file or directory\n\
         tls.key_file: cannot read \"/etc/smcp/tls/server.key\": No such file or directory"
    );
}
