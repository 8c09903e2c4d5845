//! Tests of the whole loading pipeline, through the public API: validation rules, formats,
//! expansion, overrides and the files under `configs/`. Unit tests of single helpers live
//! next to them.

mod configs;
mod env_overrides;
mod expansion;
mod formats;
mod loading;
mod property;
mod validation;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{CliOverrides, ConfigError, Format, Loaded, load_str};

/// A map environment from pairs.
fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Loads YAML text with `pairs` as the environment and no flags.
fn yaml(text: &str, pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    load_str(text, Format::Yaml, &CliOverrides::default(), &env(pairs))
}

/// The problem lines of a load that must fail.
fn problems(text: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    match yaml(text, pairs) {
        Ok(loaded) => panic!("expected errors, loaded {:#?}", loaded.config),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

/// The warning lines of a load that must succeed.
fn warnings(text: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    match yaml(text, pairs) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(err) => panic!("expected success, got:\n{err}"),
    }
}

/// A PEM certificate block. Its DER content is not a real certificate: validation checks
/// that the file is readable PEM with a certificate section, which is what this exercises.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n-----END CERTIFICATE-----\n";
/// A PKCS#8 private key block (content as for [`CERT_PEM`]).
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIBAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n-----END PRIVATE KEY-----\n";

/// A real self-signed CA certificate in PEM: a backend's `ca_file` is checked the way the
/// HTTP backend will use it (rustls must accept it as a trust anchor), which [`CERT_PEM`]
/// would fail.
fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// Files on disk for the rules that read files: a certificate, a real CA certificate, a key,
/// a directory, a file that is not PEM and a path that does not exist.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    ca: PathBuf,
    key: PathBuf,
    dir: PathBuf,
    not_pem: PathBuf,
    missing: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_pem()).unwrap();
        let key = dir.path().join("key.pem");
        let not_pem = dir.path().join("notes.txt");
        std::fs::write(&cert, CERT_PEM).unwrap();
        std::fs::write(&key, KEY_PEM).unwrap();
        std::fs::write(&not_pem, "just some text\n").unwrap();
        let sub = dir.path().join("work");
        std::fs::create_dir(&sub).unwrap();
        Files {
            cert,
            ca,
            key,
            not_pem,
            missing: dir.path().join("missing.pem"),
            dir: sub,
            _dir: dir,
        }
    }

    /// Replaces `{CERT}`, `{CA}`, `{KEY}`, `{DIR}`, `{NOTPEM}` and `{MISSING}` in `text`.
    fn fill(&self, text: &str) -> String {
        text.replace("{CERT}", &self.cert.display().to_string())
            .replace("{CA}", &self.ca.display().to_string())
            .replace("{KEY}", &self.key.display().to_string())
            .replace("{DIR}", &self.dir.display().to_string())
            .replace("{NOTPEM}", &self.not_pem.display().to_string())
            .replace("{MISSING}", &self.missing.display().to_string())
    }
}
