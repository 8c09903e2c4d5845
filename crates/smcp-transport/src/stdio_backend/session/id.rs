//! Session ids: the `Mcp-Session-Id` value (and the legacy `sessionId` query value).
//!
//! An id is a bearer of nothing (the session is also bound to its owner), but it still must not
//! be guessable: 128 bits from the thread-local CSPRNG, written as 32 lowercase hex characters,
//! which are visible ASCII as the spec requires. Logs only ever show [`SessionId::short`].

use std::fmt;
use std::sync::Arc;

use rand::Rng as _;

/// How many leading characters of an id the logs show.
const SHORT_LEN: usize = 8;

/// A session id, cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(Arc<str>);

impl SessionId {
    /// A fresh random id (128 bits of `rand::rng()`, a cryptographically secure generator).
    pub(crate) fn generate() -> Self {
        let bits: u128 = rand::rng().random();
        SessionId(Arc::from(format!("{bits:032x}")))
    }

    /// The full id, for the `Mcp-Session-Id` header and the legacy endpoint URI only.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// A short prefix for logs, never enough to hijack the session.
    pub(crate) fn short(&self) -> &str {
        short(&self.0)
    }
}

/// The first few characters of `value` (on a char boundary), for logging a client-supplied id.
pub(crate) fn short(value: &str) -> &str {
    match value.char_indices().nth(SHORT_LEN) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Lets maps keyed by id be searched with a client's `&str` without allocating. `Arc<str>`
/// hashes and compares exactly like `str`, as `Borrow` requires.
impl std::borrow::Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Shows the short prefix only, so an id never lands whole in a log by accident.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}..)", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_visible_ascii_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && (0x21..=0x7e).contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn short_is_a_prefix_and_debug_hides_the_rest() {
        let id = SessionId(Arc::from("0123456789abcdef"));
        assert_eq!(id.short(), "01234567");
        assert_eq!(format!("{id:?}"), "SessionId(01234567..)");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("ééééééééééé"), "éééééééé");
    }
}
