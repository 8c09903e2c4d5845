//! Header rules for forwarding: what is dropped, what the proxy overwrites, what passes.
//!
//! Hop-by-hop headers describe one connection, not the message, so they never cross the proxy
//! in either direction (RFC 9110 §7.6.1). On the way up the proxy also removes every credential
//! and identity header the client sent (no token passthrough; the identity headers are the
//! proxy's to set after authentication), and replaces the forwarding headers with values it
//! knows to be true. Everything else, the MCP headers above all, passes unchanged.
//!
//! Names the proxy owns are matched the way the laxest upstream reads them: nginx, CGI, WSGI
//! and others fold `_` into `-` (or both into `_`), so a client's `X_Subject` could arrive as
//! the `X-Subject` the proxy set, or beside it. Any client header whose name equals an owned
//! one with `_` and `-` taken as the same character is removed. `X-Real-IP` (and its aliases)
//! is removed too: it is the other common "client address" header, and the proxy sets only
//! `X-Forwarded-For`.

use http::header::{
    AUTHORIZATION, CONNECTION, FORWARDED, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::ForwardContext;

/// `Keep-Alive` (not in `http::header`'s constants).
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
/// `Proxy-Connection`, a non-standard `Connection` some old clients still send.
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// `X-Forwarded-For`: the client's IP address as the proxy saw it.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`: the scheme the client used.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the host the client asked for.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// Forwarding headers the proxy owns besides the identity ones: set by it (`X-Forwarded-*`)
/// or never passed on (`X-Real-IP`, which it does not set, and which would contradict
/// `X-Forwarded-For`). Client headers with these names or their aliases are removed.
/// The DPoP proof header (RFC 9449), a credential like `Authorization`.
const DPOP: HeaderName = HeaderName::from_static("dpop");

const OWNED_FORWARDING: [&str; 4] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
];

/// Removes hop-by-hop headers: `Connection` and every header it names, `Keep-Alive`,
/// `Proxy-Connection`, `TE` (kept as `TE: trailers` when it asked for trailers, the only value
/// HTTP/2 allows), `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authorization` and
/// `Proxy-Authenticate`. Used on requests and responses alike.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one look at each name is cheaper than a lookup per
    // hop-by-hop name.
    if headers.keys().any(is_hop_by_hop) {
        remove_hop_by_hop_present(headers);
    }
}

/// Whether `name` is one of the hop-by-hop headers [`remove_hop_by_hop`] removes.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
    )
}

fn remove_hop_by_hop_present(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let wants_trailers = headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| {
            // A TE member may carry parameters ("trailers;q=1" is not valid, but be lenient).
            let name = token.split(';').next().unwrap_or_default().trim();
            name.eq_ignore_ascii_case("trailers")
        });
    for name in [
        CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
        PROXY_AUTHORIZATION,
        PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    if wants_trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Rewrites a client's request headers for the backend whose authority is `backend_host`.
///
/// Order matters: hop-by-hop and untrusted headers go first, so that nothing the client sent
/// (not even a `Connection` naming them) can remove what the proxy sets afterwards.
pub(super) fn prepare_request(
    headers: &mut HeaderMap,
    ctx: &ForwardContext,
    backend_host: &HeaderValue,
) {
    // Most requests carry nothing to remove: one look at each name is cheaper than a lookup
    // per name that might need removing.
    let owned = |name: &HeaderName| {
        OWNED_FORWARDING
            .iter()
            .any(|owned| same_folded(name.as_str(), owned))
            || ctx
                .strip_headers
                .iter()
                .any(|owned| same_folded(name.as_str(), owned.as_str()))
    };
    let untrusted = |name: &HeaderName| {
        is_hop_by_hop(name)
            || name == AUTHORIZATION
            || name == DPOP
            || name == FORWARDED
            || owned(name)
    };
    if headers.keys().any(untrusted) {
        remove_hop_by_hop_present(headers);
        // No token passthrough: the client's credentials are for the proxy, never the backend
        // (a DPoP proof included: it names the token and is only good at the proxy's URL).
        headers.remove(AUTHORIZATION);
        headers.remove(DPOP);
        // The RFC 7239 form of the X-Forwarded-* headers set below: a client-sent one would
        // contradict them, so it is not trusted either.
        headers.remove(FORWARDED);
        // Identity and forwarding headers, under any spelling an upstream may fold together.
        let aliases: Vec<HeaderName> = headers.keys().filter(|n| owned(n)).cloned().collect();
        for name in aliases {
            headers.remove(name);
        }
    }

    // Servers guarding against DNS rebinding (the MCP Python SDK among them) accept only
    // their own name in Host.
    headers.insert(HOST, backend_host.clone());
    headers.insert(X_FORWARDED_FOR, ctx.client_addr.header_value().clone());
    match HeaderValue::from_str(ctx.client_scheme) {
        Ok(proto) => {
            headers.insert(X_FORWARDED_PROTO, proto);
        }
        Err(_) => {
            headers.remove(X_FORWARDED_PROTO);
        }
    }
    match &ctx.client_host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }

    // Identity hand-off: replace, never merge with, anything of the same name.
    for name in ctx.set_headers.keys() {
        headers.remove(name);
    }
    for (name, value) in &ctx.set_headers {
        headers.append(name.clone(), value.clone());
    }
}

/// Whether header names `a` and `b` are the same once ASCII case is ignored and `_` is taken
/// for `-` (how CGI-style upstreams read them).
fn same_folded(a: &str, b: &str) -> bool {
    let fold = |byte: u8| match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

#[cfg(test)]
mod tests {
    use super::same_folded;

    #[test]
    fn names_fold_underscores_and_case() {
        assert!(same_folded("x_subject", "x-subject"));
        assert!(same_folded("X_Real_Ip", "x-real-ip"));
        assert!(same_folded("x-email", "x_email"));
        assert!(!same_folded("x-subjects", "x-subject"));
        assert!(!same_folded("x.subject", "x-subject"));
    }
}
