//! `smcp_router::RouteTable`: construction from fuzz-chosen prefixes and lookup of a
//! fuzz-chosen request target.
//!
//! Routing decides which backend (and which auth rules) a request gets, so a lookup that
//! matched a prefix inside a segment (`/v1/opus` for `/v1/opusx`), a shorter prefix than the
//! longest match, or the query, would send a request where it was not authorised to go. For
//! any input this checks that nothing panics; that `RouteTable::new` fails exactly when some
//! prefix fails `normalize_prefix` or two normalise to the same string, and otherwise lists the
//! normalised prefixes in order; and that `lookup` agrees with a brute-force scan (the longest
//! prefix equal to the path or followed in it by `/`, else the root), with the `Route`
//! invariants of `route.rs`: the forwarded path starts with `/`, the query is kept verbatim,
//! and prefix + stripped path give back the request path.
//!
//! Input: the first byte is the number of routes (mod 8); each route and then the target are
//! built from the rest, either from a table of segment tokens or as raw text.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use smcp_router::{RouteTable, normalize_prefix};

/// Segment material: route names, near misses, and the characters routing must not trip on.
const TOKENS: &[&str] = &[
    "v1", "opus", "opusx", "memory", "a", "b", "x.y", "%20", "%c3%a9", "..", ".", "", "?", "#",
    "q=1", "/", "%2F", ";", "\\", " ",
];

#[derive(Debug)]
struct Input {
    prefixes: Vec<String>,
    target: String,
}

fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.arbitrary::<bool>()? {
        let count = u.int_in_range(0..=5)?;
        let mut out = String::new();
        for _ in 0..count {
            out.push('/');
            for _ in 0..u.int_in_range(1..=2)? {
                out.push_str(u.choose(TOKENS)?);
            }
        }
        if u.ratio(1, 4)? {
            out.push('/');
        }
        if u.ratio(1, 4)? {
            out.push('?');
            out.push_str(u.choose(TOKENS)?);
        }
        Ok(out)
    } else {
        String::arbitrary(u)
    }
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = u.int_in_range(0..=7)?;
        let prefixes = (0..count).map(|_| text(u)).collect::<Result<_, _>>()?;
        let target = text(u)?;
        Ok(Input { prefixes, target })
    }
}

fuzz_target!(|input: Input| {
    check(&input.prefixes, &input.target);
    // With only the valid prefixes too, so that lookups run even when one prefix is bad.
    let mut seen = Vec::new();
    let valid: Vec<String> = input
        .prefixes
        .iter()
        .filter(|p| match normalize_prefix(p) {
            Ok(n) if !seen.contains(&n.to_owned()) => {
                seen.push(n.to_owned());
                true
            }
            _ => false,
        })
        .cloned()
        .collect();
    check(&valid, &input.target);
});

fn check(prefixes: &[String], target: &str) {
    let built = RouteTable::new(prefixes.iter().enumerate().map(|(i, p)| (p.as_str(), i)));
    let normalised: Result<Vec<&str>, _> = prefixes.iter().map(|p| normalize_prefix(p)).collect();
    let distinct = normalised
        .as_ref()
        .is_ok_and(|n| n.iter().enumerate().all(|(i, p)| !n[..i].contains(p)));
    let table = match built {
        Err(error) => {
            assert!(!distinct, "RouteTable::new({prefixes:?}) refused: {error}");
            return;
        }
        Ok(table) => table,
    };
    assert!(distinct, "RouteTable::new({prefixes:?}) accepted");
    let Ok(normalised) = normalised else {
        return;
    };
    assert_eq!(table.len(), prefixes.len());
    let listed: Vec<(&str, usize)> = table.iter().map(|(p, v)| (p, *v)).collect();
    let expected: Vec<(&str, usize)> = normalised.iter().copied().zip(0..).collect();
    assert_eq!(listed, expected);

    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let want = reference(&normalised, path);
    let got = table.lookup(target);
    assert_eq!(
        got.map(|r| *r.value()),
        want,
        "lookup({target:?}) in {normalised:?}"
    );
    let Some(route) = got else {
        return;
    };
    let prefix = route.prefix();
    assert_eq!(prefix, normalised[*route.value()]);
    // The match is a whole-segment prefix of the path, never reaching into the query.
    if prefix != "/" {
        assert!(
            path.starts_with(prefix),
            "{prefix:?} not a prefix of {path:?}"
        );
        assert!(matches!(
            path.as_bytes().get(prefix.len()),
            None | Some(b'/')
        ));
    }
    assert_eq!(route.path_and_query(), target);
    assert_eq!(route.path(), path);
    assert_eq!(route.query(), query);
    assert_eq!(route.forward_path(false), target);
    assert_eq!(route.sub_path(), route.forward_path(true));
    let forwarded = route.forward_path(true);
    assert!(forwarded.starts_with('/'), "{forwarded:?}");
    assert_eq!(forwarded.split_once('?').map(|(_, q)| q), query);
    let stripped = route.stripped_path();
    assert!(stripped.starts_with('/'));
    assert_eq!(path_of(&forwarded), stripped);
    if prefix == "/" {
        assert_eq!(stripped, path);
    } else if path == prefix {
        assert_eq!(stripped, "/");
    } else {
        assert_eq!(format!("{prefix}{stripped}"), path);
    }
}

fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// Brute force: the longest non-root prefix equal to `path` or followed in it by `/`, else the
/// root; nothing for a path that does not start with `/`.
fn reference(normalised: &[&str], path: &str) -> Option<usize> {
    if !path.starts_with('/') {
        return None;
    }
    let mut best: Option<usize> = None;
    for (i, prefix) in normalised.iter().enumerate() {
        let matches = *prefix != "/"
            && path.starts_with(prefix)
            && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'));
        if matches && best.is_none_or(|b| prefix.len() > normalised[b].len()) {
            best = Some(i);
        }
    }
    best.or_else(|| normalised.iter().position(|p| *p == "/"))
}
