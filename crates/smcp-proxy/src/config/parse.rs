//! Turns the file's text into [`FileConfig`]: YAML through `serde-saphyr` (the only place
//! that calls it), TOML through `toml`.
//!
//! A parse error (bad syntax, an unknown key, a wrong type) becomes one [`Diagnostic`] whose
//! key is the path of the offending value (`mcp.backends[0].stdio`) when known, and whose
//! message carries the parser's words plus the line and column.

use std::path::Path;

use serde::Deserialize;

use super::error::Diagnostic;
use super::file::FileConfig;

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (the default, and the Go project's only format).
    Yaml,
    /// TOML: the same structure, chosen for files whose name ends in `.toml`.
    Toml,
}

impl Format {
    /// TOML for a path ending in `.toml` (any case), YAML otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Yaml,
        }
    }
}

/// Parses `text` in `format`; `source` names the file in messages.
pub(crate) fn parse(text: &str, format: Format, source: &str) -> Result<FileConfig, Diagnostic> {
    match format {
        Format::Yaml => parse_yaml(text, source),
        Format::Toml => parse_toml(text, source),
    }
}

/// Builds the diagnostic for a parse error at `path` (empty when unknown).
fn diagnostic(path: String, message: &str, at: Option<(u64, u64)>, source: &str) -> Diagnostic {
    let message = message.trim();
    let message = match at {
        Some((line, column)) => format!("{message} (line {line}, column {column} of {source})"),
        None => format!("{message} (in {source})"),
    };
    let key = if path.is_empty() || path == "." {
        source.to_owned()
    } else {
        path
    };
    Diagnostic { key, message }
}

fn parse_yaml(text: &str, source: &str) -> Result<FileConfig, Diagnostic> {
    if is_blank_yaml(text) {
        return Ok(FileConfig::default());
    }
    let options = serde_saphyr::options! { with_snippet: false };
    let mut failed_at = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        let mut track = serde_path_to_error::Track::new();
        let result =
            FileConfig::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if result.is_err() {
            failed_at = track.path().to_string();
        }
        result
    });
    result.map_err(|err| {
        let at = err
            .location()
            .map(|location| (location.line(), location.column()));
        let message = strip_yaml_location(&err.without_snippet().to_string());
        diagnostic(failed_at, &message, at, source)
    })
}

/// A file with nothing but comments and blank lines is an empty configuration, not an error.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    })
}

/// serde-saphyr's message may end with its own " at line L, column C"; ours says it once.
fn strip_yaml_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn parse_toml(text: &str, source: &str) -> Result<FileConfig, Diagnostic> {
    let at = |span: Option<std::ops::Range<usize>>| span.map(|span| line_column(text, span.start));
    let de = toml::Deserializer::parse(text)
        .map_err(|err| diagnostic(String::new(), err.message(), at(err.span()), source))?;
    let mut track = serde_path_to_error::Track::new();
    FileConfig::deserialize(serde_path_to_error::Deserializer::new(de, &mut track)).map_err(|err| {
        diagnostic(
            track.path().to_string(),
            err.message(),
            at(err.span()),
            source,
        )
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u64, column as u64)
}

#[cfg(test)]
mod tests {
    use super::{Format, line_column, parse};
    use std::path::Path;

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path(Path::new("a/b.toml")), Format::Toml);
        assert_eq!(Format::from_path(Path::new("a/b.TOML")), Format::Toml);
        assert_eq!(Format::from_path(Path::new("a/b.yml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("a/b.yaml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("config")), Format::Yaml);
    }

    #[test]
    fn line_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 8), (3, 1));
        assert_eq!(line_column(text, 9), (3, 2));
        assert_eq!(line_column(text, 7), (2, 4));
    }

    #[test]
    fn blank_files_are_empty_configs() {
        for text in ["", "\n\n", "# only a comment\n", "---\n# x\n"] {
            let file = parse(text, Format::Yaml, "f.yml").unwrap();
            assert_eq!(file, Default::default(), "{text:?}");
        }
        assert_eq!(
            parse("", Format::Toml, "f.toml").unwrap(),
            Default::default()
        );
    }

    /// Unknown keys and wrong types at several depths, in both syntaxes: the message names
    /// the key path, the parser's complaint and the line.
    #[test]
    fn errors_name_the_path_and_the_line() {
        let cases = [
            (
                Format::Yaml,
                "server:\n  port: 8080\n  bogus: 1\n",
                "server.bogus",
                "unknown field `bogus`",
                "line 3, column 3",
            ),
            (
                Format::Yaml,
                "colour: blue\n",
                "colour",
                "unknown field `colour`",
                "line 1",
            ),
            (
                Format::Yaml,
                "mcp:\n  backends:\n    - id: a\n      stdio:\n        comand: x\n",
                "mcp.backends[0].stdio.comand",
                "unknown field `comand`",
                "line 5, column 9",
            ),
            (
                Format::Yaml,
                "mcp:\n  backends:\n    - id: a\n    - id: b\n      auth:\n        mode: none\n        claims: {}\n",
                "mcp.backends[1].auth.claims",
                "unknown field `claims`",
                "line 7",
            ),
            (
                Format::Yaml,
                "oidc:\n  issuers:\n    - issuer: x\n      jwks: y\n",
                "oidc.issuers[0].jwks",
                "unknown field `jwks`",
                "line 4, column 7",
            ),
            (
                Format::Yaml,
                "mcp:\n  backends:\n    - id: a\n      identity_headers:\n        user_header: X\n",
                "mcp.backends[0].identity_headers.user_header",
                "unknown field `user_header`",
                "line 5",
            ),
            (
                Format::Yaml,
                "server:\n  host: [1]\n",
                "server.host",
                "expected string",
                "line 2",
            ),
            (
                Format::Yaml,
                "server: [1\n",
                "server",
                "expected mapping",
                "line 1",
            ),
            (
                Format::Toml,
                "[server]\nport = 8080\nbogus = 1\n",
                "server.bogus",
                "unknown field `bogus`",
                "line 3, column 1",
            ),
            (
                Format::Toml,
                "[[mcp.backends]]\nid = \"a\"\n[mcp.backends.stdio]\ncomand = \"x\"\n",
                "mcp.backends[0].stdio.comand",
                "unknown field `comand`",
                "line 4, column 1",
            ),
            (
                Format::Toml,
                "[server\n",
                "f.toml",
                "unclosed table",
                "line 1",
            ),
        ];
        for (format, text, key, message, line) in cases {
            let err = parse(text, format, "f.toml").unwrap_err();
            assert_eq!(err.key, key, "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
            assert!(err.message.contains(line), "{text:?}: {err}");
        }
    }

    #[test]
    fn null_sections_and_claims_are_absent() {
        let yaml = "oidc:\n  required_claims:\n  optional_claims:\ntls:\n";
        assert_eq!(
            parse(yaml, Format::Yaml, "f.yml").unwrap(),
            Default::default()
        );
    }
}
