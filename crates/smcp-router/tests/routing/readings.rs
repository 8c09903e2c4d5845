//! How upstreams read a request path, for the path-rule tests: the raw reading (split on
//! `/`, each segment percent-decoded), a WHATWG URL parser's, and a decoding server's (decode
//! once or twice, `\` as `/`, `;params` dropped, dot segments resolved). Shared by the proptest
//! in `normal.rs` and the `path_normalise` fuzz target (`fuzz/`, which includes this file by
//! path), so both check the rule against the same readings.

/// Percent-decodes leniently, as most servers do: a `%` without two hex digits stays.
fn decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The raw reading: split on `/`, each segment decoded, a trailing empty segment dropped.
pub(crate) fn raw_segments(path: &str) -> Vec<Vec<u8>> {
    let mut segments: Vec<Vec<u8>> = path
        .split('/')
        .skip(1)
        .map(|s| decode(s.as_bytes()))
        .collect();
    if segments.last().is_some_and(Vec::is_empty) {
        segments.pop();
    }
    segments
}

/// A WHATWG parser's reading, decoded per segment; a target it refuses reads as one
/// segment no raw path has (so the property fails on it).
pub(crate) fn whatwg_segments(target: &str) -> Vec<Vec<u8>> {
    url::Url::parse(&format!("http://upstream.test{target}")).map_or_else(
        |error| vec![format!("<unparsable: {error}>").into_bytes()],
        |url| raw_segments(url.path()),
    )
}

/// A decoding server's reading: decode `times` times, `\` as `/`, `;params` dropped, empty
/// and `.` segments skipped, `..` popping.
pub(crate) fn decoding_segments(path: &str, times: usize) -> Vec<Vec<u8>> {
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..times {
        bytes = decode(&bytes);
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for segment in bytes.split(|&b| b == b'/' || b == b'\\') {
        let name = segment.split(|&b| b == b';').next().unwrap_or_default();
        match name {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            other => out.push(other.to_vec()),
        }
    }
    out
}
