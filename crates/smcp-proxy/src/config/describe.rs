//! The routing table as text, for `smcp-server check`.
//!
//! One row per backend, sorted by path: path, id, transport, target, strip_path, timeout,
//! auth. The target is the URL without user name or password, or the command line of a
//! stdio backend (arguments shown expanded; the child's `env` is never shown, since that is
//! where secrets usually go).

use super::backend::{BackendAuthMode, BackendConfig, Transport};
use super::duration::format_duration;
use super::model::{AuthMode, Config};

impl Config {
    /// A human-readable routing table: one line per backend, sorted by path, under a header
    /// line; or a single line saying there are no backends.
    pub fn describe_routes(&self) -> String {
        if self.mcp.backends.is_empty() {
            return "no backends configured\n".to_owned();
        }
        let mut backends: Vec<&BackendConfig> = self.mcp.backends.iter().collect();
        backends.sort_by(|a, b| a.path.cmp(&b.path));
        let header = [
            "PATH",
            "ID",
            "TRANSPORT",
            "TARGET",
            "STRIP_PATH",
            "TIMEOUT",
            "AUTH",
        ]
        .map(str::to_owned);
        let mut rows = vec![header];
        for backend in backends {
            rows.push([
                backend.path.clone(),
                backend.id.clone(),
                backend.transport_name().to_owned(),
                target(&backend.transport),
                backend.strip_path.to_string(),
                format_duration(backend.timeout),
                auth(self.auth.mode, backend.auth.mode).to_owned(),
            ]);
        }
        let mut widths = [0usize; 7];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn auth(global: AuthMode, backend: BackendAuthMode) -> &'static str {
    match (global, backend) {
        (_, BackendAuthMode::None) | (AuthMode::None, _) => "none",
        (AuthMode::Oidc, BackendAuthMode::Inherit) => "oidc",
    }
}

fn target(transport: &Transport) -> String {
    match transport {
        Transport::Http(http) => {
            let mut url = http.url.clone();
            // Neither can fail on an http(s) URL with a host, which validation guarantees.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Transport::Stdio(stdio) => std::iter::once(&stdio.command)
            .chain(&stdio.args)
            .map(|word| quote(word))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Quotes a word for display the way a POSIX shell would read it back.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting() {
        assert_eq!(quote("npx"), "npx");
        assert_eq!(
            quote("@modelcontextprotocol/server-memory@1.0"),
            "@modelcontextprotocol/server-memory@1.0"
        );
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
