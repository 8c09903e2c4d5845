//! Property tests: for random prefix sets and random paths, lookup agrees with a naive
//! reference (a linear scan comparing segment lists), and the forwarded path is well formed.

use proptest::prelude::{Just, ProptestConfig, Strategy, prop, prop_assert, prop_assert_eq};
use proptest::{prop_oneof, proptest};
use smcp_router::{RouteTable, RouteTableError};

/// Segments valid in a prefix. Few and overlapping, so prefixes collide and nest often.
fn prefix_segment() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just("ab"),
        Just("a%20"),
        Just("c.d"),
        Just("..x")
    ]
}

/// Segments of a request path: the prefix ones plus near misses and awkward ones.
fn path_segment() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prefix_segment(),
        1 => Just(""),
        1 => Just("."),
        1 => Just(".."),
        1 => Just("A"),
        1 => Just("abc"),
        1 => Just("%61"),
    ]
}

/// A valid prefix, with a trailing slash sometimes (normalised away by the table).
fn prefix() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prefix_segment(), 0..4),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(segments, trailing)| {
            let mut prefix = format!("/{}", segments.join("/"));
            if trailing && !segments.is_empty() {
                prefix.push('/');
            }
            prefix
        })
}

/// A request target: usually origin form, sometimes without the leading '/', with an
/// optional trailing slash and an optional query that may itself contain '/' and '?'.
fn path_and_query() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.9),
        prop::collection::vec(path_segment(), 0..6),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, "[a-z/?=&%]{0,6}"),
    )
        .prop_map(|(absolute, segments, trailing, query)| {
            let mut target = String::new();
            if absolute {
                target.push('/');
            }
            target.push_str(&segments.join("/"));
            if trailing {
                target.push('/');
            }
            if let Some(query) = query {
                target.push('?');
                target.push_str(&query);
            }
            target
        })
}

/// The naive normalisation: drop one trailing slash, except for the root.
fn normalise(prefix: &str) -> &str {
    if prefix == "/" {
        prefix
    } else {
        prefix.strip_suffix('/').unwrap_or(prefix)
    }
}

/// Reference lookup: scan every prefix, keep the one with the most segments that equal the
/// path's leading segments, and rebuild the stripped path from the remaining segments.
/// Returns `(index of the route, stripped forward path)`.
fn reference(prefixes: &[&str], target: &str) -> Option<(usize, String)> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let rest_of_path = path.strip_prefix('/')?;
    let path_segments: Vec<&str> = rest_of_path.split('/').collect();
    let mut best: Option<(usize, usize)> = None;
    for (index, prefix) in prefixes.iter().enumerate() {
        let prefix_segments: Vec<&str> = if *prefix == "/" {
            Vec::new()
        } else {
            prefix[1..].split('/').collect()
        };
        let count = prefix_segments.len();
        let matches = path_segments.len() >= count && path_segments[..count] == prefix_segments;
        if matches && best.is_none_or(|(_, best_count)| count > best_count) {
            best = Some((index, count));
        }
    }
    let (index, count) = best?;
    let mut stripped = format!("/{}", path_segments[count..].join("/"));
    if let Some(query) = query {
        stripped.push('?');
        stripped.push_str(query);
    }
    Some((index, stripped))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn lookup_agrees_with_reference(
        prefixes in prop::collection::vec(prefix(), 0..8),
        targets in prop::collection::vec(path_and_query(), 1..8),
    ) {
        let normalised: Vec<&str> = prefixes.iter().map(|p| normalise(p)).collect();
        let first_duplicate = (0..normalised.len())
            .find_map(|i| (0..i).find(|&j| normalised[j] == normalised[i]).map(|j| (i, j)));
        let built = RouteTable::new(prefixes.iter().enumerate().map(|(i, p)| (p, i)));
        let table = match (built, first_duplicate) {
            (Ok(table), None) => table,
            (Err(RouteTableError::Duplicate { index, first_index, prefix, normalized }), Some((i, j))) => {
                prop_assert_eq!((index, first_index), (i, j));
                prop_assert_eq!(&prefix, &prefixes[i]);
                prop_assert_eq!(normalized.as_str(), normalised[i]);
                return Ok(());
            }
            (built, expected) => {
                return Err(proptest::test_runner::TestCaseError::fail(format!(
                    "build gave {:?}, expected duplicate {expected:?}",
                    built.map(|t| t.len())
                )));
            }
        };
        prop_assert_eq!(table.len(), prefixes.len());
        let listed: Vec<&str> = table.iter().map(|(p, _)| p).collect();
        prop_assert_eq!(&listed, &normalised);

        for target in &targets {
            let got = table.lookup(target);
            let expected = reference(&normalised, target);
            let got_pair = got.map(|r| (*r.value(), r.forward_path(true).into_owned()));
            prop_assert_eq!(&got_pair, &expected, "target {:?}", target);
            let Some(route) = got else { continue };

            let query = target.split_once('?').map(|(_, q)| q);
            let path = target.split_once('?').map_or(target.as_str(), |(p, _)| p);
            for strip in [true, false] {
                let forwarded = route.forward_path(strip);
                prop_assert!(forwarded.starts_with('/'), "{:?}", forwarded);
                // The query is kept verbatim: what follows the first '?' is unchanged.
                prop_assert_eq!(forwarded.split_once('?').map(|(_, q)| q), query);
            }
            prop_assert_eq!(route.forward_path(false), target.as_str());
            prop_assert_eq!(route.sub_path(), route.forward_path(true));
            prop_assert!(route.stripped_path().starts_with('/'));
            prop_assert_eq!(route.path(), path);
            prop_assert_eq!(route.query(), query);

            // The matched prefix is a segment-prefix of the path.
            let prefix = route.prefix();
            prop_assert_eq!(prefix, normalised[*route.value()]);
            prop_assert!(
                prefix == "/"
                    || path == prefix
                    || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')),
                "prefix {:?} path {:?}", prefix, path
            );
            // Stripping removes exactly the prefix (or nothing, for the root).
            if prefix != "/" {
                let stripped = route.stripped_path();
                let rejoined = if stripped == "/" && path.len() == prefix.len() {
                    prefix.to_owned()
                } else {
                    format!("{prefix}{stripped}")
                };
                prop_assert_eq!(rejoined.as_str(), path);
            } else {
                prop_assert_eq!(route.stripped_path(), path);
            }
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        prefixes in prop::collection::vec("[/a.?#% ]{0,6}", 0..6),
        targets in prop::collection::vec("[/a.?#%\u{e9}]{0,10}", 1..6),
    ) {
        if let Ok(table) = RouteTable::new(prefixes.iter().map(|p| (p, ()))) {
            for (prefix, ()) in &table {
                prop_assert!(prefix.starts_with('/'));
                prop_assert!(prefix == "/" || !prefix.ends_with('/'));
            }
            for target in &targets {
                if let Some(route) = table.lookup(target) {
                    prop_assert!(route.forward_path(true).starts_with('/'));
                    prop_assert!(route.stripped_path().starts_with('/'));
                }
            }
        }
    }
}
