//! Property tests of `normalise_or_refuse`: no path it accepts can be read by an upstream as
//! a path outside the route it was matched to.
//!
//! Paths are built from tokens of the whole trick class (`..`, `\`, `%2e`, `%2F`, `;`, `%25`,
//! overlong UTF-8, encoded letters, ...) so that most generated paths are hostile. Each
//! accepted path is then read the ways real upstreams read paths:
//!
//! - a WHATWG URL parser (the `url` crate: `\` is `/`, `%2e` is `.`, dot segments resolved),
//!   then percent-decoded;
//! - percent-decode once, or twice, then `\` as `/`, `;params` dropped (Tomcat), empty
//!   segments collapsed (nginx `merge_slashes`), dot segments resolved.
//!
//! Every reading must give the same segments as the raw path (split on `/`, each decoded),
//! and the longest configured prefix matching those segments must be the route the table
//! chose on the raw path. A second property checks the rule is not vacuous: paths built only
//! from normal tokens are always accepted, unchanged.

use proptest::prelude::{Just, ProptestConfig, Strategy, prop, prop_assert_eq};
use proptest::{prop_oneof, proptest};
use smcp_router::{RouteTable, normalise_or_refuse};

use super::readings::{decoding_segments, raw_segments, whatwg_segments};

const PREFIXES: [&str; 5] = ["/", "/public", "/private", "/public/inner", "/a/b"];

/// Tokens a segment is made of: route names, near misses and every trick of the class.
fn token() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => prop_oneof![
            Just("a"), Just("b"), Just("public"), Just("private"), Just("inner"),
            Just("x.y"), Just("..x"), Just("~"), Just("-"), Just("_"), Just("%20"),
            Just("%c3%a9"), Just("%3F"), Just("%23"), Just("%40"), Just("'"), Just("\""),
            Just("{"), Just("|"), Just("^"), Just("`"), Just("<"),
        ],
        4 => prop_oneof![
            Just("."), Just(".."), Just("%2e"), Just("%2E"), Just("%2f"), Just("%2F"),
            Just("\\"), Just("%5c"), Just("%5C"), Just(";"), Just(";x"), Just("%3b"),
            Just("%00"), Just("%25"), Just("%252e"), Just("%252F"), Just("%"), Just("%2"),
            Just("%zz"), Just("%c0%ae"), Just("%e0%80%ae"), Just("%c3"), Just("%70"),
            Just("%50"), Just("%61"), Just("%2e%2e"), Just(".%2e"), Just("#"), Just("%09"),
        ],
        // Encoded letters spelling a route's segment: `%70rivate` is `private` decoded.
        2 => prop_oneof![
            Just("%70rivate"), Just("%70ublic"), Just("%61"), Just("%62"), Just("priv%61te"),
            Just("%69nner"), Just("%2Fprivate"), Just("..%2Fprivate"), Just("..\\private"),
        ],
    ]
}

/// A request target: segments of 0 to 3 tokens, an optional trailing slash and query.
fn hostile_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::collection::vec(token(), 0..3), 0..6),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.2, "[a-z./%\\\\?=&]{0,8}"),
    )
        .prop_map(|(segments, trailing, query)| {
            let segments: Vec<String> = segments.iter().map(|tokens| tokens.concat()).collect();
            let mut target = format!("/{}", segments.join("/"));
            if trailing && !segments.is_empty() {
                target.push('/');
            }
            if let Some(query) = query {
                target.push('?');
                target.push_str(&query);
            }
            target
        })
}

/// The path part of a request target.
fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// The longest prefix of [`PREFIXES`] whose segments start `segments`.
fn reference_route(segments: &[Vec<u8>]) -> &'static str {
    PREFIXES
        .iter()
        .filter(|prefix| {
            let wanted: Vec<&[u8]> = prefix
                .split('/')
                .skip(1)
                .filter(|s| !s.is_empty())
                .map(str::as_bytes)
                .collect();
            wanted.len() <= segments.len()
                && wanted
                    .iter()
                    .zip(segments)
                    .all(|(want, have)| *want == have.as_slice())
        })
        .max_by_key(|prefix| prefix.len())
        .copied()
        .unwrap_or("/")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn accepted_paths_cannot_be_read_as_another_route(target in hostile_path()) {
        let table = RouteTable::new(PREFIXES.iter().map(|p| (*p, *p))).expect("table");
        let Ok(accepted) = normalise_or_refuse(&target) else {
            return Ok(());
        };
        prop_assert_eq!(accepted, target.as_str(), "accepted paths are forwarded unchanged");
        let path = path_of(&target);
        let route = *table.lookup(&target).expect("the root matches").value();
        let raw = raw_segments(path);
        prop_assert_eq!(reference_route(&raw), route, "raw segments, {}", target);
        for (model, segments) in [
            ("whatwg", whatwg_segments(&target)),
            ("decode once", decoding_segments(path, 1)),
            ("decode twice", decoding_segments(path, 2)),
        ] {
            prop_assert_eq!(&segments, &raw, "{} reading of {}", model, target);
            prop_assert_eq!(reference_route(&segments), route, "{} route of {}", model, target);
        }
    }

    #[test]
    fn normal_paths_are_accepted(
        segments in prop::collection::vec("([a-zA-Z0-9._~!$&'()*+,=:@-]|%20|%c3%a9|%3F)+", 0..6),
        trailing in prop::bool::ANY,
    ) {
        let mut target = format!("/{}", segments.join("/"));
        if trailing && !segments.is_empty() {
            target.push('/');
        }
        let dots = segments.iter().any(|s| s == "." || s == "..");
        prop_assert_eq!(normalise_or_refuse(&target).is_ok(), !dots, "{}", target);
    }
}

/// The generator does reach accepted paths often enough for the first property to mean
/// something, and refuses the tricks it is made of.
#[test]
fn the_generator_mixes_accepted_and_refused_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..2_000 {
        let target = hostile_path()
            .new_tree(&mut runner)
            .expect("a value")
            .current();
        if normalise_or_refuse(&target).is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(accepted > 100, "accepted {accepted}, refused {refused}");
    assert!(refused > 1_000, "accepted {accepted}, refused {refused}");
}
