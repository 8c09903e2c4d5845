//! Values the file may spell in more than one way, and their conversion to typed values.
//!
//! Numbers, booleans, durations and sizes are read as a [`Scalar`] rather than directly as
//! `u16` or `bool`, so that `port: "${PORT:-8080}"` works (the string is expanded first and
//! parsed afterwards) and so that a wrong value is reported by validation with its key path
//! and a plain message rather than by the parser.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::duration::parse_duration;
use super::size::parse_size;

/// A scalar as written in the file: a string, an integer, a float or a boolean.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v)
            .map(Scalar::Int)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl Scalar {
    /// A boolean: `true`/`false`, or a string such as `"true"`, `"0"`, `"yes"`.
    pub(crate) fn to_bool(&self) -> Result<bool, String> {
        match self {
            Scalar::Bool(b) => Ok(*b),
            Scalar::Str(s) => parse_bool(s),
            other => Err(format!("expected true or false (got {other})")),
        }
    }

    /// A non-negative integer, from a number or a string of digits.
    pub(crate) fn to_u64(&self) -> Result<u64, String> {
        match self {
            Scalar::Int(n) => {
                u64::try_from(*n).map_err(|_| format!("must not be negative (got {n})"))
            }
            Scalar::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("expected a whole number (got {s:?})")),
            other => Err(format!("expected a whole number (got {other})")),
        }
    }

    /// A TCP port (0 to 65535).
    pub(crate) fn to_port(&self) -> Result<u16, String> {
        let n = self
            .to_u64()
            .map_err(|_| format!("expected a port number from 0 to 65535 (got {self})"))?;
        u16::try_from(n).map_err(|_| format!("expected a port number from 0 to 65535 (got {n})"))
    }

    /// A humantime duration; a bare number is refused because it has no unit.
    pub(crate) fn to_duration(&self) -> Result<Duration, String> {
        match self {
            Scalar::Str(s) => parse_duration(s),
            Scalar::Int(n) => Err(format!(
                "{n} has no unit: write a duration like \"{n}s\" or \"{n}ms\""
            )),
            other => Err(format!(
                "expected a duration like \"30s\" or \"10m\" (got {other})"
            )),
        }
    }

    /// A byte size: an integer or a string like "4MiB".
    pub(crate) fn to_size(&self) -> Result<u64, String> {
        match self {
            Scalar::Int(n) => {
                u64::try_from(*n).map_err(|_| format!("must not be negative (got {n})"))
            }
            Scalar::Str(s) => parse_size(s),
            other => Err(format!(
                "expected a number of bytes or a size like \"4MiB\" (got {other})"
            )),
        }
    }
}

/// Parses a boolean the way Go's `strconv.ParseBool` does, plus `yes`/`no`/`on`/`off`,
/// case-insensitively.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false (got {text:?})")),
    }
}

/// A list of strings that may also be written as one string (`audience: "api"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StringList(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<StringList, A::Error> {
                Vec::<String>::deserialize(SeqAccessDeserializer::new(seq)).map(StringList)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// One claim rule as written: a scalar, or a list of scalars meaning "any of".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileClaim(pub(crate) Vec<Scalar>);

impl<'de> Deserialize<'de> for FileClaim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileClaim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean, or a list of them")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FileClaim, E> {
                ScalarVisitor.visit_bool(v).map(|s| FileClaim(vec![s]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileClaim, E> {
                ScalarVisitor.visit_i64(v).map(|s| FileClaim(vec![s]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileClaim, E> {
                ScalarVisitor.visit_u64(v).map(|s| FileClaim(vec![s]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FileClaim, E> {
                ScalarVisitor.visit_f64(v).map(|s| FileClaim(vec![s]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileClaim, E> {
                ScalarVisitor.visit_str(v).map(|s| FileClaim(vec![s]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FileClaim, A::Error> {
                Vec::<Scalar>::deserialize(SeqAccessDeserializer::new(seq)).map(FileClaim)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// An `oidc.issuers` item: a bare issuer URL, or an object with the issuer's own settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileIssuer {
    Url(String),
    Full(FileIssuerObject),
}

/// The object form of an `oidc.issuers` item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileIssuerObject {
    pub(crate) issuer: Option<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) audiences: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for FileIssuer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileIssuer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an issuer URL or an object with `issuer`, `jwks_uri`, `audiences`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileIssuer, E> {
                Ok(FileIssuer::Url(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileIssuer, A::Error> {
                FileIssuerObject::deserialize(MapAccessDeserializer::new(map)).map(FileIssuer::Full)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::{Scalar, parse_bool};
    use std::time::Duration;

    #[test]
    fn booleans() {
        for text in ["true", "TRUE", "t", "1", "yes", "on", " True "] {
            assert_eq!(parse_bool(text), Ok(true), "{text:?}");
        }
        for text in ["false", "F", "0", "no", "off"] {
            assert_eq!(parse_bool(text), Ok(false), "{text:?}");
        }
        for text in ["", "maybe", "2"] {
            assert!(parse_bool(text).is_err(), "{text:?}");
        }
        assert_eq!(Scalar::Bool(true).to_bool(), Ok(true));
        assert!(Scalar::Int(1).to_bool().is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(Scalar::Int(8080).to_port(), Ok(8080));
        assert_eq!(Scalar::Str("9090".into()).to_port(), Ok(9090));
        assert_eq!(Scalar::Int(0).to_port(), Ok(0));
        for bad in [
            Scalar::Int(65536),
            Scalar::Int(-1),
            Scalar::Str("http".into()),
            Scalar::Float(80.5),
            Scalar::Bool(true),
        ] {
            let err = bad.to_port().unwrap_err();
            assert!(
                err.contains("port number from 0 to 65535"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(
            Scalar::Str("30s".into()).to_duration(),
            Ok(Duration::from_secs(30))
        );
        let err = Scalar::Int(30).to_duration().unwrap_err();
        assert!(err.contains("has no unit"), "{err}");
        assert!(Scalar::Bool(true).to_duration().is_err());
        assert_eq!(Scalar::Int(1024).to_size(), Ok(1024));
        assert_eq!(Scalar::Str("4MiB".into()).to_size(), Ok(4 << 20));
        assert!(Scalar::Int(-1).to_size().is_err());
        assert!(Scalar::Float(1.5).to_size().is_err());
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(Scalar::Int(5).to_u64(), Ok(5));
        assert_eq!(Scalar::Str(" 7 ".into()).to_u64(), Ok(7));
        assert!(Scalar::Int(-5).to_u64().is_err());
        assert!(Scalar::Str("7x".into()).to_u64().is_err());
    }
}
