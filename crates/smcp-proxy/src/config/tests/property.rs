//! Adversarial property tests of the loader: arbitrary file text never panics, size and
//! duration strings round-trip or are refused, and `${VAR}` expansion is single-pass.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::{ProptestConfig, Strategy, prop, prop_assert, prop_assert_eq};
use proptest::proptest;

use super::super::duration::{format_duration, parse_duration};
use super::super::expand::expand_str;
use super::super::size::parse_size;
use super::super::{CliOverrides, Format, load_str};
use super::env;

/// Text built from YAML's structural pieces, so the parser gets past the first byte often.
fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "server:",
            "mcp:",
            "backends:",
            "\n",
            "  ",
            "- ",
            "{",
            "}",
            "[",
            "]",
            ": ",
            ",",
            "\"",
            "'",
            "&a",
            "*a",
            "!!str",
            "path",
            "/v1",
            "id",
            "transport",
            "stdio",
            "http",
            "url",
            "${X}",
            "${X:-",
            "$$",
            "4MiB",
            "30s",
            "-1",
            "99999999999999999999",
            "~",
            "null",
            "true",
            "#",
            "\t",
            "%",
            "\u{0}",
            "é",
            "<<: *a",
            "---",
            "...",
            "?",
            "|",
            ">",
        ]),
        0..40,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(bytes in prop::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        for format in [Format::Yaml, Format::Toml] {
            // Either outcome is fine; a refusal must explain itself.
            if let Err(err) = load_str(&text, format, &CliOverrides::default(), &BTreeMap::new()) {
                prop_assert!(!err.problems().is_empty());
            }
        }
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        let vars = env(&[("X", "${X}")]);
        if let Err(err) = load_str(&text, Format::Yaml, &CliOverrides::default(), &vars) {
            prop_assert!(!err.problems().is_empty());
        }
    }

    #[test]
    fn sizes_round_trip_or_are_refused(number in 0u64..=u64::MAX, unit in prop::sample::select(vec![
        ("", 1u64), ("B", 1), ("kb", 1_000), ("KiB", 1 << 10), ("MB", 1_000_000),
        ("mib", 1 << 20), ("GB", 1_000_000_000), ("GiB", 1 << 30),
    ]), space in proptest::bool::ANY) {
        let text = format!("{number}{}{}", if space { " " } else { "" }, unit.0);
        match number.checked_mul(unit.1) {
            Some(bytes) => prop_assert_eq!(parse_size(&text), Ok(bytes)),
            None => prop_assert!(parse_size(&text).is_err()),
        }
    }

    #[test]
    fn arbitrary_size_strings_never_panic(text in "\\PC{0,24}") {
        let _ = parse_size(&text);
    }

    #[test]
    fn durations_round_trip(secs in 0u64..10_000_000_000, nanos in 0u32..1_000_000_000) {
        let duration = Duration::new(secs, nanos);
        prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
    }

    #[test]
    fn arbitrary_duration_strings_never_panic(text in "\\PC{0,24}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn expansion_never_panics_and_is_single_pass(text in "[a-z$\\{\\}:\\-_X]{0,32}") {
        // X's value is itself a reference to an unset Y (a letter the text never has): a
        // second pass would fail on Y or expand it, so a single pass never mentions Y.
        let vars = env(&[("X", "${Y}")]);
        if let Err(message) = expand_str(&text, &vars) {
            prop_assert!(!message.contains("variable Y"), "{text:?}: {message}");
        }
        prop_assert_eq!(expand_str("a${X}b", &vars), Ok("a${Y}b".to_owned()));
        let _ = expand_str(&text, &BTreeMap::<String, String>::new());
    }
}
