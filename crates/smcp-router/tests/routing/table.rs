//! Table-driven lookup cases: which prefix matches, and what the backend sees with and
//! without stripping.

use smcp_router::RouteTable;

/// Prefixes shared by most cases; values are their indices.
const COMMON: &[&str] = &[
    "/v1",
    "/v1/memory",
    "/v1/opus/",
    "/a/b/c",
    "/caf%C3%A9",
    "/%2A",
    "/x.y/..z",
];

/// With a root prefix next to deeper ones.
const WITH_ROOT: &[&str] = &["/v1/opus", "/"];

/// Only the root.
const ROOT_ONLY: &[&str] = &["/"];

struct Case {
    prefixes: &'static [&'static str],
    path: &'static str,
    /// `Some((matched prefix, stripped forward path))`, or `None` for no route.
    expected: Option<(&'static str, &'static str)>,
}

const fn case(
    prefixes: &'static [&'static str],
    path: &'static str,
    expected: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        prefixes,
        path,
        expected,
    }
}

const CASES: &[Case] = &[
    // Whole-segment matches of a configured prefix (given with a trailing slash).
    case(COMMON, "/v1/opus", Some(("/v1/opus", "/"))),
    case(COMMON, "/v1/opus/", Some(("/v1/opus", "/"))),
    case(COMMON, "/v1/opus/x", Some(("/v1/opus", "/x"))),
    case(COMMON, "/v1/opus/a/b?q=1", Some(("/v1/opus", "/a/b?q=1"))),
    case(COMMON, "/v1/opus?q=1", Some(("/v1/opus", "/?q=1"))),
    case(COMMON, "/v1/opus/?q=1", Some(("/v1/opus", "/?q=1"))),
    case(COMMON, "/v1/opus?", Some(("/v1/opus", "/?"))),
    case(
        COMMON,
        "/v1/opus?a=/v1/memory",
        Some(("/v1/opus", "/?a=/v1/memory")),
    ),
    case(COMMON, "/v1/opus?x?y", Some(("/v1/opus", "/?x?y"))),
    // Never a partial segment: falls back to the shorter prefix.
    case(COMMON, "/v1/opusx", Some(("/v1", "/opusx"))),
    case(COMMON, "/v1/opusx/y", Some(("/v1", "/opusx/y"))),
    case(COMMON, "/v1x", None),
    case(COMMON, "/v", None),
    // Longest prefix wins.
    case(COMMON, "/v1/memory/x", Some(("/v1/memory", "/x"))),
    case(COMMON, "/v1/memory", Some(("/v1/memory", "/"))),
    case(COMMON, "/v1/memo", Some(("/v1", "/memo"))),
    case(COMMON, "/v1", Some(("/v1", "/"))),
    case(COMMON, "/v1/", Some(("/v1", "/"))),
    case(COMMON, "/v1?x=1", Some(("/v1", "/?x=1"))),
    // Deeper prefixes need every segment.
    case(COMMON, "/a/b/c/d/e", Some(("/a/b/c", "/d/e"))),
    case(COMMON, "/a/b", None),
    case(COMMON, "/a/b/cd", None),
    case(COMMON, "/a", None),
    // Raw matching: no percent-decoding, no dot-segment or empty-segment normalisation.
    case(COMMON, "/v1/%6Demory/x", Some(("/v1", "/%6Demory/x"))),
    case(COMMON, "/%2A/b", Some(("/%2A", "/b"))),
    case(COMMON, "/*/b", None),
    case(COMMON, "/%2a/b", None),
    case(
        COMMON,
        "/v1/opus/../memory",
        Some(("/v1/opus", "/../memory")),
    ),
    case(COMMON, "/v1//opus", Some(("/v1", "//opus"))),
    case(COMMON, "/v1/./opus", Some(("/v1", "/./opus"))),
    case(COMMON, "/x.y/..z/w", Some(("/x.y/..z", "/w"))),
    case(COMMON, "/caf%C3%A9/menu", Some(("/caf%C3%A9", "/menu"))),
    case(COMMON, "/caf%c3%a9/menu", None),
    case(COMMON, "/caf\u{e9}/menu", None),
    // Not an origin-form path: never matches.
    case(COMMON, "", None),
    case(COMMON, "v1/opus", None),
    case(COMMON, "*", None),
    case(COMMON, "?/v1", None),
    case(COMMON, "http://h/v1/opus", None),
    case(COMMON, "/", None),
    case(COMMON, "//v1", None),
    // The root catches the rest but loses to any longer match.
    case(WITH_ROOT, "/v1/opus/x", Some(("/v1/opus", "/x"))),
    case(WITH_ROOT, "/v1/opusx", Some(("/", "/v1/opusx"))),
    case(WITH_ROOT, "/", Some(("/", "/"))),
    case(WITH_ROOT, "/?q=1", Some(("/", "/?q=1"))),
    case(WITH_ROOT, "//v1/opus", Some(("/", "//v1/opus"))),
    case(WITH_ROOT, "v1/opus", None),
    case(
        ROOT_ONLY,
        "/anything/at/all?x",
        Some(("/", "/anything/at/all?x")),
    ),
    case(ROOT_ONLY, "*", None),
];

#[test]
fn lookup_cases() {
    assert!(CASES.len() >= 30);
    let mut failures = Vec::new();
    for (number, case) in CASES.iter().enumerate() {
        let table = RouteTable::new(case.prefixes.iter().enumerate().map(|(i, p)| (p, i)))
            .expect("valid prefixes");
        let got = table.lookup(case.path);
        let got_pair = got.map(|route| (route.prefix(), route.forward_path(true)));
        let got_pair = got_pair.as_ref().map(|(p, f)| (*p, f.as_ref()));
        if got_pair != case.expected {
            failures.push(format!(
                "case {number} path {:?}: expected {:?}, got {got_pair:?}",
                case.path, case.expected
            ));
            continue;
        }
        let Some(route) = got else { continue };
        // The value is the one configured with the matched prefix.
        let (prefix, _) = table.iter().nth(*route.value()).expect("value is an index");
        assert_eq!(prefix, route.prefix(), "case {number}");
        // Without strip the backend sees exactly what the client sent.
        assert_eq!(route.forward_path(false), case.path, "case {number}");
        assert_eq!(route.path_and_query(), case.path, "case {number}");
        // sub_path is the stripped forward path; stripped_path is its path part.
        assert_eq!(route.sub_path(), route.forward_path(true), "case {number}");
        let sub = route.sub_path();
        let sub_path_part = sub.split_once('?').map_or(sub.as_ref(), |(p, _)| p);
        assert_eq!(route.stripped_path(), sub_path_part, "case {number}");
        // path() and query() split the original at the first '?'.
        let (path, query) = match case.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (case.path, None),
        };
        assert_eq!(route.path(), path, "case {number}");
        assert_eq!(route.query(), query, "case {number}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn empty_table_matches_nothing() {
    let table = RouteTable::<()>::new(Vec::<(&str, ())>::new()).expect("empty is valid");
    assert!(table.is_empty());
    assert_eq!(table.len(), 0);
    assert!(table.lookup("/").is_none());
    assert!(table.lookup("/v1/opus").is_none());
}

#[test]
fn iter_keeps_configuration_order_and_normalised_prefixes() {
    let table = RouteTable::new([("/z/", 'z'), ("/", 'r'), ("/a/b", 'a'), ("/m", 'm')])
        .expect("valid prefixes");
    assert_eq!(table.len(), 4);
    assert!(!table.is_empty());
    let listed: Vec<(&str, char)> = table.iter().map(|(p, v)| (p, *v)).collect();
    assert_eq!(
        listed,
        [("/z", 'z'), ("/", 'r'), ("/a/b", 'a'), ("/m", 'm')]
    );
    assert_eq!(table.iter().len(), 4);
    let reversed: Vec<char> = table.iter().rev().map(|(_, v)| *v).collect();
    assert_eq!(reversed, ['m', 'a', 'r', 'z']);
    let via_into_iter: Vec<&str> = (&table).into_iter().map(|(p, _)| p).collect();
    assert_eq!(via_into_iter, ["/z", "/", "/a/b", "/m"]);
}

#[test]
fn long_paths_beyond_the_longest_prefix_still_match() {
    let table = RouteTable::new([("/v1/opus", 1)]).expect("valid prefixes");
    let long = format!("/v1/opus{}", "/seg".repeat(2_000));
    let route = table.lookup(&long).expect("a route");
    assert_eq!(route.stripped_path().len(), long.len() - "/v1/opus".len());
    let miss = format!("/v1/opusx{}", "/seg".repeat(2_000));
    assert!(table.lookup(&miss).is_none());
}

#[test]
fn only_the_empty_query_case_allocates() {
    use std::borrow::Cow;
    let table = RouteTable::new([("/v1/opus", ())]).expect("valid prefixes");
    let borrowed = ["/v1/opus", "/v1/opus/", "/v1/opus/a?q=1", "/v1/opus/?q=1"];
    for path in borrowed {
        let route = table.lookup(path).expect("a route");
        assert!(
            matches!(route.forward_path(true), Cow::Borrowed(_)),
            "{path}"
        );
        assert!(
            matches!(route.forward_path(false), Cow::Borrowed(_)),
            "{path}"
        );
    }
    let route = table.lookup("/v1/opus?q=1").expect("a route");
    assert!(matches!(route.forward_path(true), Cow::Owned(_)));
}

#[test]
fn debug_output_names_prefixes_and_values() {
    let table = RouteTable::new([("/v1/opus", "opus")]).expect("valid prefixes");
    assert_eq!(format!("{table:?}"), r#"{"/v1/opus": "opus"}"#);
    let route = table.lookup("/v1/opus/mcp?x").expect("a route");
    let debug = format!("{route:?}");
    assert!(debug.contains(r#"prefix: "/v1/opus""#), "{debug}");
    assert!(debug.contains(r#"stripped_path: "/mcp""#), "{debug}");
}
