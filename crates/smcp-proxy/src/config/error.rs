//! The one error type of configuration loading, and the collector that fills it.
//!
//! Loading never stops at the first problem: every stage (parse, `${VAR}` expansion,
//! environment overrides, validation) records what it finds in a [`Report`], and the caller
//! gets all of it at once as a [`ConfigError`] whose `Display` is one problem per line.
//! Warnings travel the same way but never fail the load.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One problem or warning: the key it concerns and what is wrong.
///
/// `key` is a dotted path into the file (`mcp.backends[1].path`), the name of an environment
/// variable (`SMCP_PROXY_SERVER_PORT`), a flag (`--port`) or the config file's path for
/// problems that concern the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub key: String,
    /// What the problem is, in plain words.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// The configuration could not be loaded. `Display` lists every problem, one per line.
///
/// The binary prints it and exits with status 64 (`EX_USAGE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    problems: Vec<Diagnostic>,
}

impl ConfigError {
    /// Every problem found, in the order they were found (never empty).
    pub fn problems(&self) -> &[Diagnostic] {
        &self.problems
    }

    pub(crate) fn single(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Diagnostic {
                key: key.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Collects errors and warnings across all loading stages.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// `${VAR}` expansion failures, kept apart: a later override of the same key (by an
    /// environment variable or a flag) makes them moot, and validation errors on a key that
    /// could not be expanded would only repeat the problem in a more confusing way.
    expansion: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Keys whose value came from an environment variable or a flag, so an error about the
    /// value can say where it came from.
    origins: BTreeMap<String, String>,
}

impl Report {
    pub(crate) fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            key: key.into(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records that the value at `key` could not be expanded.
    pub(crate) fn expansion_error(&mut self, key: &str, message: String) {
        self.expansion.push(Diagnostic {
            key: key.to_owned(),
            message,
        });
    }

    /// Notes that the value at `key` was replaced by `origin` (an environment variable or a
    /// flag): errors about it will name the origin, and a failed expansion of the replaced
    /// file value (or of any item under it) no longer matters.
    pub(crate) fn set_origin(&mut self, key: &str, origin: &str) {
        self.origins.insert(key.to_owned(), origin.to_owned());
        self.expansion.retain(|d| {
            d.key != key
                && !d.key.starts_with(&format!("{key}."))
                && !d.key.starts_with(&format!("{key}["))
        });
    }

    /// Ends loading: the warnings if there was no error, else every error.
    pub(crate) fn finish(self) -> Result<Vec<Diagnostic>, ConfigError> {
        if self.errors.is_empty() && self.expansion.is_empty() {
            return Ok(self.warnings);
        }
        let unexpanded: BTreeSet<String> = self.expansion.iter().map(|d| d.key.clone()).collect();
        let follow_ups = self
            .errors
            .into_iter()
            .filter(|d| !unexpanded.contains(&d.key));
        let problems = self
            .expansion
            .into_iter()
            .chain(follow_ups)
            .map(|mut problem| {
                if let Some(origin) = self.origins.get(&problem.key) {
                    problem.message = format!("{} (set by {origin})", problem.message);
                }
                problem
            })
            .collect();
        Err(ConfigError { problems })
    }
}

/// Formats an I/O error without the trailing "(os error N)" that means nothing to users.
pub(crate) fn io_message(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigError, Diagnostic, Report, io_message};

    #[test]
    fn display_is_one_problem_per_line() {
        let mut report = Report::default();
        report.error("a.b", "first");
        report.error("", "no key");
        report.error("c", "third");
        let err = report.finish().unwrap_err();
        assert_eq!(err.to_string(), "a.b: first\nno key\nc: third");
        assert_eq!(err.problems().len(), 3);
    }

    #[test]
    fn warnings_only_is_ok() {
        let mut report = Report::default();
        report.warn("server.host", "careful");
        let warnings = report.finish().unwrap();
        assert_eq!(
            warnings,
            vec![Diagnostic {
                key: "server.host".into(),
                message: "careful".into()
            }]
        );
    }

    #[test]
    fn follow_up_errors_on_unexpanded_keys_are_dropped() {
        let mut report = Report::default();
        report.error("server.port", "not a port");
        report.expansion_error("server.port", "variable ${PORT} is not set".into());
        report.error("server.host", "bad host");
        let err = report.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "server.port: variable ${PORT} is not set\nserver.host: bad host"
        );
    }

    #[test]
    fn an_override_makes_expansion_errors_moot() {
        let mut report = Report::default();
        report.expansion_error("server.port", "variable ${PORT} is not set".into());
        report.expansion_error("server.allowed_origins[1]", "unset".into());
        report.expansion_error("server.host", "unset".into());
        report.set_origin("server.port", "SMCP_PROXY_SERVER_PORT");
        report.set_origin(
            "server.allowed_origins",
            "SMCP_PROXY_SERVER_ALLOWED_ORIGINS",
        );
        let err = report.finish().unwrap_err();
        assert_eq!(err.to_string(), "server.host: unset");
    }

    #[test]
    fn origin_is_appended() {
        let mut report = Report::default();
        report.set_origin("server.host", "--host");
        report.error("server.host", "bad host");
        let err = report.finish().unwrap_err();
        assert_eq!(err.to_string(), "server.host: bad host (set by --host)");
    }

    #[test]
    fn single_and_io_message() {
        let err = ConfigError::single("x.yml", "cannot read");
        assert_eq!(err.to_string(), "x.yml: cannot read");
        let io = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_message(&io), "No such file or directory");
    }
}
