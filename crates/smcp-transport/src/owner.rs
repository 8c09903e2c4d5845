//! The principal a session belongs to.

use std::fmt;
use std::sync::Arc;

/// The authenticated principal that owns a session, as an opaque key.
///
/// The proxy builds it from the token's issuer and subject ([`SessionOwner::from_principal`]),
/// or uses [`SessionOwner::anonymous`] when authentication is off. A session presented by any
/// other owner is treated exactly like an unknown session: sessions are never authentication.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionOwner(Arc<str>);

impl SessionOwner {
    /// The owner of every session when authentication is off.
    pub fn anonymous() -> Self {
        SessionOwner(Arc::from("anonymous"))
    }

    /// True for [`SessionOwner::anonymous`]: the backend authenticates nobody, so the session
    /// limits count by client address instead.
    pub fn is_anonymous(&self) -> bool {
        &*self.0 == "anonymous"
    }

    /// The owner identified by a token's issuer and subject.
    ///
    /// The issuer is length-prefixed so that no two (issuer, subject) pairs give the same key,
    /// and the key never equals [`SessionOwner::anonymous`].
    pub fn from_principal(issuer: &str, subject: &str) -> Self {
        SessionOwner(Arc::from(format!("p:{}:{issuer}{subject}", issuer.len())))
    }

    /// An owner from a key the caller has already made unique (it is compared byte for byte).
    pub fn from_key(key: impl Into<Arc<str>>) -> Self {
        SessionOwner(key.into())
    }
}

/// Owner keys hold subjects, which are personal data: logs get a length only.
impl fmt::Debug for SessionOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionOwner(<{} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_do_not_collide() {
        assert_ne!(
            SessionOwner::from_principal("https://a", "bc"),
            SessionOwner::from_principal("https://ab", "c")
        );
        assert_eq!(
            SessionOwner::from_principal("https://a", "bc"),
            SessionOwner::from_principal("https://a", "bc")
        );
        assert_ne!(
            SessionOwner::from_principal("", ""),
            SessionOwner::anonymous()
        );
    }
}
