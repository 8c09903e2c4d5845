//! The two choices both halves of smcp share: how to authenticate and how to log.

use std::str::FromStr;

/// The global authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No authentication: every request is let through (the default; warned about when
    /// the listener is not loopback-only).
    #[default]
    None,
    /// Bearer tokens validated against the `oidc:` section.
    Oidc,
}

impl AuthMode {
    /// The spelling used in files, flags and the environment.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Oidc => "oidc",
        }
    }
}

impl FromStr for AuthMode {
    type Err = String;

    /// Parses `none` or `oidc` (case-insensitive), so clap can use it as a value parser.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AuthMode::None),
            "oidc" => Ok(AuthMode::Oidc),
            _ => Err(format!("must be \"none\" or \"oidc\" (got {text:?})")),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    /// Parses `text` or `json` (case-insensitive).
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("must be \"text\" or \"json\" (got {text:?})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthMode, LogFormat};

    #[test]
    fn enums_parse() {
        assert_eq!("OIDC".parse(), Ok(AuthMode::Oidc));
        assert_eq!("none".parse(), Ok(AuthMode::None));
        assert!("basic".parse::<AuthMode>().is_err());
        assert_eq!(AuthMode::Oidc.as_str(), "oidc");
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(" Text".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
