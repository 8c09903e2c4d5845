//! Every smcp-client option in one table: flag, environment names, default, help.
//!
//! The binary builds its command line from [`OPTIONS`] and hands the flags it saw to
//! [`Sources`]; the configuration reads each option through [`Sources::get`], which applies
//! the precedence flag > environment > default. The environment names are the Go client's:
//! `SMCP_SERVER_URL`, `SMCP_AUTH_MODE` and `SMCP_OIDC_*` as its README documents them, and
//! `SMCP_CLIENT_<FLAG>` for every flag (so `SMCP_CLIENT_SERVER_URL` works too; when both forms
//! are set, the documented short one wins).

use std::collections::BTreeMap;

use crate::shared::Env;

/// Whether an option takes a value or is a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `--name VALUE`.
    Value,
    /// `--name` (true), or `--name=false` / `--name=true`.
    Switch,
}

/// One option of smcp-client.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The long flag, without `--`.
    pub name: &'static str,
    /// The short flag, if any.
    pub short: Option<char>,
    /// Environment variables, first found wins.
    pub env: &'static [&'static str],
    /// The default value, as a string in the option's own syntax.
    pub default: Option<&'static str>,
    /// Value or switch.
    pub kind: OptionKind,
    /// The value's placeholder in `--help`.
    pub value_name: &'static str,
    /// One line of help.
    pub help: &'static str,
}

const fn opt(
    name: &'static str,
    env: &'static [&'static str],
    default: Option<&'static str>,
    value_name: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: None,
        env,
        default,
        kind: OptionKind::Value,
        value_name,
        help,
    }
}

const fn switch(
    name: &'static str,
    env: &'static [&'static str],
    default: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: None,
        env,
        default: Some(default),
        kind: OptionKind::Switch,
        value_name: "BOOL",
        help,
    }
}

/// Every option, in `--help` order.
pub const OPTIONS: &[OptionSpec] = &[
    // Local HTTP listener (HTTP mode).
    opt(
        "host",
        &["SMCP_CLIENT_HOST"],
        Some("127.0.0.1"),
        "HOST",
        "Host to bind the client to",
    ),
    opt(
        "port",
        &["SMCP_CLIENT_PORT"],
        Some("8081"),
        "PORT",
        "Port to bind the client to",
    ),
    opt(
        "read-timeout",
        &["SMCP_CLIENT_READ_TIMEOUT"],
        Some("30s"),
        "DURATION",
        "HTTP read timeout (request headers)",
    ),
    opt(
        "write-timeout",
        &["SMCP_CLIENT_WRITE_TIMEOUT"],
        Some("30s"),
        "DURATION",
        "HTTP write timeout (accepted for compatibility; never cuts a stream)",
    ),
    opt(
        "max-connections",
        &["SMCP_CLIENT_MAX_CONNECTIONS"],
        Some("1024"),
        "N",
        "Most connections the local listener keeps open (more are closed at accept; new in smcp)",
    ),
    opt(
        "shutdown-timeout",
        &["SMCP_CLIENT_SHUTDOWN_TIMEOUT"],
        Some("10s"),
        "DURATION",
        "Graceful shutdown timeout",
    ),
    switch(
        "tls",
        &["SMCP_CLIENT_TLS"],
        "false",
        "Serve the local listener over TLS",
    ),
    opt(
        "tls-cert",
        &["SMCP_CLIENT_TLS_CERT"],
        None,
        "FILE",
        "Path to TLS certificate file (PEM)",
    ),
    opt(
        "tls-key",
        &["SMCP_CLIENT_TLS_KEY"],
        None,
        "FILE",
        "Path to TLS key file (PEM)",
    ),
    switch(
        "metrics",
        &["SMCP_CLIENT_METRICS"],
        "true",
        "Enable the metrics endpoint",
    ),
    opt(
        "metrics-path",
        &["SMCP_CLIENT_METRICS_PATH"],
        Some("/metrics"),
        "PATH",
        "Metrics endpoint path",
    ),
    // The server.
    opt(
        "server-url",
        &["SMCP_SERVER_URL", "SMCP_CLIENT_SERVER_URL"],
        None,
        "URL",
        "URL of the smcp server (required); HTTP mode appends the request path, stdio mode \
         talks to it as the MCP endpoint",
    ),
    opt(
        "server-timeout",
        &["SMCP_CLIENT_SERVER_TIMEOUT"],
        Some("60s"),
        "DURATION",
        "Timeout for requests to the server (connecting and response headers, never a stream)",
    ),
    opt(
        "server-ca-file",
        &["SMCP_CLIENT_SERVER_CA_FILE"],
        None,
        "FILE",
        "Extra CA certificates (PEM) to trust for the server and the IdP, besides the system roots",
    ),
    opt(
        "replay-body-limit",
        &["SMCP_CLIENT_REPLAY_BODY_LIMIT"],
        Some("1MiB"),
        "SIZE",
        "Request bodies up to this size are kept to be replayed after a 401 and a token refresh",
    ),
    opt(
        "transport",
        &["SMCP_CLIENT_TRANSPORT"],
        Some("auto"),
        "MODE",
        "stdio mode: auto (Streamable HTTP, legacy SSE fallback), streamable, or sse",
    ),
    // Authentication.
    opt(
        "auth-mode",
        &["SMCP_AUTH_MODE", "SMCP_CLIENT_AUTH_MODE"],
        Some("none"),
        "MODE",
        "Authentication mode (none, oidc)",
    ),
    opt(
        "oidc-issuer",
        &["SMCP_OIDC_ISSUER", "SMCP_CLIENT_OIDC_ISSUER"],
        None,
        "URL",
        "OIDC issuer URL (token endpoint by discovery); without it and --oidc-token-url the \
         server's protected-resource metadata names the authorization server",
    ),
    opt(
        "oidc-token-url",
        &["SMCP_OIDC_TOKEN_URL", "SMCP_CLIENT_OIDC_TOKEN_URL"],
        None,
        "URL",
        "Token endpoint URL (skips discovery)",
    ),
    opt(
        "oidc-client-id",
        &["SMCP_OIDC_CLIENT_ID", "SMCP_CLIENT_OIDC_CLIENT_ID"],
        None,
        "ID",
        "OIDC client ID",
    ),
    opt(
        "oidc-client-secret",
        &["SMCP_OIDC_CLIENT_SECRET", "SMCP_CLIENT_OIDC_CLIENT_SECRET"],
        None,
        "SECRET",
        "OIDC client secret (prefer the environment or a file: flags show in ps)",
    ),
    opt(
        "oidc-client-secret-file",
        &[
            "SMCP_OIDC_CLIENT_SECRET_FILE",
            "SMCP_CLIENT_OIDC_CLIENT_SECRET_FILE",
        ],
        None,
        "FILE",
        "File holding the OIDC client secret",
    ),
    opt(
        "oidc-client-auth",
        &["SMCP_OIDC_CLIENT_AUTH", "SMCP_CLIENT_OIDC_CLIENT_AUTH"],
        Some("client_secret_basic"),
        "METHOD",
        "Token endpoint authentication: client_secret_basic, client_secret_post, private_key_jwt",
    ),
    opt(
        "oidc-private-key-file",
        &[
            "SMCP_OIDC_PRIVATE_KEY_FILE",
            "SMCP_CLIENT_OIDC_PRIVATE_KEY_FILE",
        ],
        None,
        "FILE",
        "private_key_jwt: the client's private key (PEM, PKCS#8 or PKCS#1 RSA)",
    ),
    opt(
        "oidc-private-key-id",
        &[
            "SMCP_OIDC_PRIVATE_KEY_ID",
            "SMCP_CLIENT_OIDC_PRIVATE_KEY_ID",
        ],
        None,
        "KID",
        "private_key_jwt: the key id (`kid`) to put in the assertion header",
    ),
    opt(
        "oidc-private-key-alg",
        &[
            "SMCP_OIDC_PRIVATE_KEY_ALG",
            "SMCP_CLIENT_OIDC_PRIVATE_KEY_ALG",
        ],
        None,
        "ALG",
        "private_key_jwt: signing algorithm (default: from the key, e.g. RS256, ES256, EdDSA)",
    ),
    opt(
        "oidc-audience",
        &["SMCP_OIDC_AUDIENCE", "SMCP_CLIENT_OIDC_AUDIENCE"],
        None,
        "AUDIENCE",
        "OIDC audience (sent as `audience`; no RFC 8707 resource is sent with it unless --oidc-resource is given)",
    ),
    opt(
        "oidc-scopes",
        &["SMCP_OIDC_SCOPES", "SMCP_CLIENT_OIDC_SCOPES"],
        None,
        "SCOPES",
        "OIDC scopes (comma-separated); unset: the server's, else openid (dropped when the IdP refuses it)",
    ),
    opt(
        "oidc-resource",
        &["SMCP_OIDC_RESOURCE", "SMCP_CLIENT_OIDC_RESOURCE"],
        None,
        "URI",
        "RFC 8707 resource to request tokens for (default: the one the server's metadata names for each URL called, one token each; none with --oidc-audience)",
    ),
    switch(
        "oidc-no-resource",
        &["SMCP_OIDC_NO_RESOURCE", "SMCP_CLIENT_OIDC_NO_RESOURCE"],
        "false",
        "Send no RFC 8707 resource parameter (for IdPs that reject it)",
    ),
    switch(
        "oidc-dpop",
        &["SMCP_OIDC_DPOP", "SMCP_CLIENT_OIDC_DPOP"],
        "false",
        "Ask for DPoP-bound tokens (RFC 9449) and send a DPoP proof with every request",
    ),
    opt(
        "oidc-dpop-key-file",
        &["SMCP_OIDC_DPOP_KEY_FILE", "SMCP_CLIENT_OIDC_DPOP_KEY_FILE"],
        None,
        "PATH",
        "The DPoP key (PKCS#8 PEM, EC P-256 or Ed25519); created there (mode 0600) when missing (default: a new key per start)",
    ),
    opt(
        "oidc-dpop-alg",
        &["SMCP_OIDC_DPOP_ALG", "SMCP_CLIENT_OIDC_DPOP_ALG"],
        Some("ES256"),
        "ALG",
        "The algorithm of a new DPoP key: ES256 or EdDSA (cheaper for the server to check; the IdP must accept it)",
    ),
    opt(
        "oidc-cache-ttl",
        &["SMCP_OIDC_CACHE_TTL", "SMCP_CLIENT_OIDC_CACHE_TTL"],
        Some("5m"),
        "DURATION",
        "OIDC token cache TTL (longest reuse of one token)",
    ),
    opt(
        "oidc-token-ttl-delta",
        &[
            "SMCP_OIDC_TOKEN_TTL_DELTA",
            "SMCP_CLIENT_OIDC_TOKEN_TTL_DELTA",
        ],
        Some("30s"),
        "DURATION",
        "OIDC token TTL delta (refresh this long before expiry)",
    ),
    // Logging.
    OptionSpec {
        short: Some('l'),
        ..opt(
            "log-level",
            &["SMCP_CLIENT_LOG_LEVEL"],
            Some("info"),
            "LEVEL",
            "Log level (debug, info, warn, error) or a tracing filter; logs go to stderr",
        )
    },
    OptionSpec {
        short: Some('f'),
        ..opt(
            "log-format",
            &["SMCP_CLIENT_LOG_FORMAT"],
            Some("text"),
            "FORMAT",
            "Log format (text, json)",
        )
    },
];

/// The spec of `name`.
pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Where an option's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(String),
    /// The built-in default.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "--{name}"),
            Origin::Env(name) => f.write_str(name),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The flags given on the command line and the environment, read with precedence.
pub struct Sources<'a> {
    flags: BTreeMap<String, String>,
    env: &'a dyn Env,
}

impl<'a> Sources<'a> {
    /// `flags` maps option names (without `--`) to the values given.
    pub fn new(flags: BTreeMap<String, String>, env: &'a dyn Env) -> Self {
        Sources { flags, env }
    }

    /// The value of option `name` and its origin: the flag, else the first environment
    /// variable set (and not empty), else the default.
    pub fn get(&self, name: &str) -> Option<(String, Origin)> {
        let spec = spec(name)?;
        if let Some(value) = self.flags.get(name) {
            return Some((value.clone(), Origin::Flag(spec.name)));
        }
        for var in spec.env {
            if let Some(value) = self.env.var(var).filter(|v| !v.is_empty()) {
                return Some((value, Origin::Env((*var).to_owned())));
            }
        }
        spec.default.map(|d| (d.to_owned(), Origin::Default))
    }

    /// Whether option `name` was given (flag or environment), as opposed to defaulted.
    pub fn is_given(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|(_, origin)| origin != Origin::Default)
    }

    /// Environment variables that set the same option to different values (both the
    /// documented and the `SMCP_CLIENT_` form), worth a warning.
    pub fn env_conflicts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for spec in OPTIONS {
            let set: Vec<(&str, String)> = spec
                .env
                .iter()
                .filter_map(|var| Some((*var, self.env.var(var).filter(|v| !v.is_empty())?)))
                .collect();
            if let [(first, a), rest @ ..] = set.as_slice() {
                for (other, b) in rest {
                    if a != b {
                        out.push(format!("{first} and {other} disagree; {first} is used"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{OPTIONS, Origin, Sources};

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_option_has_an_smcp_client_variable_and_go_names_exist() {
        for spec in OPTIONS {
            let wanted = format!(
                "SMCP_CLIENT_{}",
                spec.name.to_ascii_uppercase().replace('-', "_")
            );
            assert!(
                spec.env.contains(&wanted.as_str()),
                "{}: {wanted}",
                spec.name
            );
        }
        for (name, var) in [
            ("server-url", "SMCP_SERVER_URL"),
            ("auth-mode", "SMCP_AUTH_MODE"),
            ("oidc-issuer", "SMCP_OIDC_ISSUER"),
            ("oidc-client-id", "SMCP_OIDC_CLIENT_ID"),
            ("oidc-client-secret", "SMCP_OIDC_CLIENT_SECRET"),
            ("oidc-audience", "SMCP_OIDC_AUDIENCE"),
            ("oidc-scopes", "SMCP_OIDC_SCOPES"),
            ("host", "SMCP_CLIENT_HOST"),
            ("port", "SMCP_CLIENT_PORT"),
        ] {
            assert_eq!(super::spec(name).unwrap().env[0], var, "{name}");
        }
    }

    #[test]
    fn flags_win_over_environment_over_defaults() {
        let vars = env(&[
            ("SMCP_CLIENT_PORT", "9000"),
            ("SMCP_SERVER_URL", "http://a"),
            ("SMCP_CLIENT_SERVER_URL", "http://b"),
            ("SMCP_CLIENT_OIDC_AUDIENCE", "aud"),
            ("SMCP_OIDC_ISSUER", ""),
        ]);
        let mut flags = BTreeMap::new();
        flags.insert("host".to_owned(), "0.0.0.0".to_owned());
        flags.insert("port".to_owned(), "9100".to_owned());
        let sources = Sources::new(flags, &vars);
        assert_eq!(
            sources.get("port"),
            Some(("9100".into(), Origin::Flag("port")))
        );
        assert_eq!(
            sources.get("server-url"),
            Some(("http://a".into(), Origin::Env("SMCP_SERVER_URL".into())))
        );
        assert_eq!(
            sources.get("oidc-audience"),
            Some((
                "aud".into(),
                Origin::Env("SMCP_CLIENT_OIDC_AUDIENCE".into())
            ))
        );
        assert_eq!(
            sources.get("metrics-path"),
            Some(("/metrics".into(), Origin::Default))
        );
        // Empty variables count as unset.
        assert_eq!(sources.get("oidc-issuer"), None);
        assert!(sources.is_given("host"));
        assert!(!sources.is_given("metrics-path"));
        assert_eq!(
            sources.env_conflicts(),
            ["SMCP_SERVER_URL and SMCP_CLIENT_SERVER_URL disagree; SMCP_SERVER_URL is used"]
        );
    }
}
