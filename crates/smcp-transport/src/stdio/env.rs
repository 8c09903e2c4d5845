//! The environment a child process starts with.
//!
//! By default a child gets almost nothing from smcp: only the variables a program needs to find
//! its tools and speak the user's locale (`PATH`, `HOME`, `USER`, `LANG`, `LC_*`, `TZ`,
//! `TMPDIR`), then the backend's configured variables. With `inherit_env` it gets smcp's whole
//! environment plus the configured variables. Either way every `SMCP_*` variable is removed, so
//! smcp's own settings and secrets (`SMCP_PROXY_*`, client credentials) never reach a child,
//! configured or inherited. This is a pure function of its inputs so it can be table-tested.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// The variables passed from smcp's environment when `inherit_env` is off.
const PASSED: [&str; 6] = ["PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR"];

/// The prefix of smcp's own variables, never given to a child.
pub const RESERVED_PREFIX: &str = "SMCP_";

fn passed(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    PASSED.iter().any(|p| p.as_bytes() == bytes) || bytes.starts_with(b"LC_")
}

fn reserved(name: &OsStr) -> bool {
    name.as_encoded_bytes()
        .starts_with(RESERVED_PREFIX.as_bytes())
}

/// Builds a child's environment from smcp's own (`parent`, e.g. `std::env::vars_os()`), the
/// backend's configured variables (already expanded) and the `inherit_env` switch.
///
/// Configured variables override inherited ones. The result is sorted by name.
pub fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    configured: &BTreeMap<String, String>,
    inherit_env: bool,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = parent
        .into_iter()
        .filter(|(name, _)| inherit_env || passed(name))
        .collect();
    for (name, value) in configured {
        env.insert(OsString::from(name), OsString::from(value));
    }
    env.retain(|name, _| !reserved(name));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/u"),
            ("USER", "u"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("LC_TIME", "en_GB"),
            ("TZ", "UTC"),
            ("TMPDIR", "/tmp/x"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("SMCP_PROXY_AUTH_MODE", "oidc"),
            ("SMCP_CLIENT_SECRET", "hunter2"),
            ("smcp_lower", "kept: names are case-sensitive"),
            ("LCX", "not a locale variable"),
            ("PATHS", "not PATH"),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
    }

    fn names(env: &BTreeMap<OsString, OsString>) -> Vec<&str> {
        env.keys().map(|k| k.to_str().unwrap()).collect()
    }

    fn configured(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            configured: &'static [(&'static str, &'static str)],
            inherit: bool,
            expect: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "minimal",
                configured: &[],
                inherit: false,
                expect: &[
                    "HOME", "LANG", "LC_ALL", "LC_TIME", "PATH", "TMPDIR", "TZ", "USER",
                ],
            },
            Case {
                name: "minimal plus configured",
                configured: &[("API_KEY", "k"), ("Mixed_Case", "v")],
                inherit: false,
                expect: &[
                    "API_KEY",
                    "HOME",
                    "LANG",
                    "LC_ALL",
                    "LC_TIME",
                    "Mixed_Case",
                    "PATH",
                    "TMPDIR",
                    "TZ",
                    "USER",
                ],
            },
            Case {
                name: "configured SMCP_ names are removed too",
                configured: &[("SMCP_TOKEN", "t"), ("OK", "1")],
                inherit: false,
                expect: &[
                    "HOME", "LANG", "LC_ALL", "LC_TIME", "OK", "PATH", "TMPDIR", "TZ", "USER",
                ],
            },
            Case {
                name: "inherit everything but SMCP_",
                configured: &[],
                inherit: true,
                expect: &[
                    "AWS_SECRET_ACCESS_KEY",
                    "HOME",
                    "LANG",
                    "LCX",
                    "LC_ALL",
                    "LC_TIME",
                    "PATH",
                    "PATHS",
                    "TMPDIR",
                    "TZ",
                    "USER",
                    "smcp_lower",
                ],
            },
        ];
        for case in cases {
            let env = child_env(parent(), &configured(case.configured), case.inherit);
            assert_eq!(names(&env), case.expect, "{}", case.name);
        }
    }

    #[test]
    fn configured_values_override_inherited() {
        let env = child_env(
            parent(),
            &configured(&[("PATH", "/opt/bin"), ("HOME", "/srv")]),
            false,
        );
        assert_eq!(env[OsStr::new("PATH")], OsStr::new("/opt/bin"));
        assert_eq!(env[OsStr::new("HOME")], OsStr::new("/srv"));
        assert_eq!(env[OsStr::new("USER")], OsStr::new("u"));
    }

    #[test]
    fn missing_parent_variables_stay_missing() {
        let env = child_env(Vec::new(), &configured(&[("A", "1")]), false);
        assert_eq!(names(&env), ["A"]);
    }

    #[test]
    fn non_utf8_values_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let value = OsString::from_vec(vec![0xff, 0xfe]);
        let env = child_env(
            [(OsString::from("HOME"), value.clone())],
            &BTreeMap::new(),
            false,
        );
        assert_eq!(env[OsStr::new("HOME")], value);
    }
}
