//! `smcp_router::normalise_or_refuse`, the gate every request path passes before routing.
//!
//! The router matches raw bytes and forwards them unchanged, which is only safe if no
//! upstream can read an accepted path as a different one (`/public/..\private`, `..%2F`,
//! `%2e%2e/`, `..;/`, `%5C`, overlong UTF-8, ...). For any input this checks that the function
//! never panics, that it agrees exactly (accept or refuse) with an independent, slow
//! reimplementation of the five-part rule in `normal.rs`, and that an accepted path is returned
//! unchanged, is accepted again (idempotent), has no dot segment, backslash, `;` or encoded
//! `/` `\` `.` `%`, and is read as the same segments by a WHATWG URL parser and by servers that
//! percent-decode once or twice (the readings the rule exists to pin down; the same readings as
//! the proptest in `crates/smcp-router/tests/routing/normal.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smcp_router::normalise_or_refuse;

// The upstream readings, shared with the router's proptest.
#[path = "../../crates/smcp-router/tests/routing/readings.rs"]
mod readings;
use readings::{decoding_segments, raw_segments, whatwg_segments};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    check(&input);
    // The same bytes as a request target, so that every seed is also tried as a path.
    if !input.starts_with('/') {
        check(&format!("/{input}"));
    }
});

fn check(input: &str) {
    let got = normalise_or_refuse(input);
    let want = reference_accepts(input);
    assert_eq!(
        got.is_ok(),
        want,
        "normalise_or_refuse({input:?}) = {got:?}"
    );
    let Ok(accepted) = got else {
        return;
    };
    assert_eq!(accepted, input, "accepted paths are forwarded unchanged");
    assert_eq!(normalise_or_refuse(accepted), Ok(accepted), "idempotent");
    let path = path_of(accepted);
    if !path.starts_with('/') {
        // `*` and other non-origin forms are not judged here; no route matches them.
        return;
    }
    assert!(!path.contains('\\') && !path.contains(';') && !path.contains('#'));
    let lower = path.to_ascii_lowercase();
    for encoded in ["%2f", "%5c", "%2e", "%25", "%3b", "%00"] {
        assert!(!lower.contains(encoded), "{encoded} in accepted {path:?}");
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        assert!(
            *segment != "." && *segment != "..",
            "dot segment in {path:?}"
        );
        assert!(
            !segment.is_empty() || i + 1 == segments.len(),
            "empty segment in {path:?}"
        );
    }
    let raw = raw_segments(path);
    assert_eq!(
        whatwg_segments(accepted),
        raw,
        "WHATWG reading of {accepted:?}"
    );
    assert_eq!(
        decoding_segments(path, 1),
        raw,
        "decode-once reading of {path:?}"
    );
    assert_eq!(
        decoding_segments(path, 2),
        raw,
        "decode-twice reading of {path:?}"
    );
}

/// The path part of a request target (before the first `?`).
fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// The rule of `normal.rs`, written for clarity rather than speed.
fn reference_accepts(target: &str) -> bool {
    let path = path_of(target);
    let Some(rest) = path.strip_prefix('/') else {
        return true;
    };
    let bytes = path.as_bytes();
    // 1 and 2: printable ASCII, no `#`, `\` or `;`.
    if bytes
        .iter()
        .any(|&b| !(0x21..=0x7E).contains(&b) || matches!(b, b'#' | b'\\' | b';'))
    {
        return false;
    }
    // 3: every `%` starts a two-hex-digit escape; each run of escapes decodes to valid UTF-8
    // with no delimiter, control or unreserved character in it.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        let mut run = Vec::new();
        while i < bytes.len() && bytes[i] == b'%' {
            let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            else {
                return false;
            };
            run.push(byte);
            i += 3;
        }
        let Ok(decoded) = std::str::from_utf8(&run) else {
            return false;
        };
        if decoded.chars().any(|c| {
            c.is_ascii_control()
                || matches!(c, '/' | '\\' | '%' | ';' | '-' | '.' | '_' | '~')
                || c.is_ascii_alphanumeric()
        }) {
            return false;
        }
    }
    // 4 and 5: no `.` or `..` segment, no empty segment but the last.
    let segments: Vec<&str> = rest.split('/').collect();
    segments
        .iter()
        .enumerate()
        .all(|(i, s)| *s != "." && *s != ".." && (!s.is_empty() || i + 1 == segments.len()))
}
