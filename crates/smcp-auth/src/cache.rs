//! The validated-token cache: a bounded map from SHA-256(token) to the principal it proved,
//! so a client sending the same token on every request pays for one signature check.
//!
//! The raw token is never stored. An entry lives until the token's `exp`, and the validator
//! drops it as soon as the signing key leaves the issuer's key set. Eviction is first in, first
//! out: a bounded, predictable cost rather than perfect recency.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::principal::Principal;

/// A token that passed signature, time, issuer and global claim checks.
pub(crate) struct CachedToken {
    /// Whom it proves.
    pub(crate) principal: Principal,
    /// Index of its issuer in the validator's issuer list.
    pub(crate) issuer: usize,
    /// Thumbprint of the key that verified it.
    pub(crate) key_thumb: [u8; 32],
}

/// The bounded cache.
pub(crate) struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Entry and the insertion sequence number that its `order` slot carries.
    map: HashMap<[u8; 32], (Arc<CachedToken>, u64)>,
    order: VecDeque<([u8; 32], u64)>,
    next_seq: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` entries (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The entry for `hash` if its token has not expired at Unix time `now`.
    pub(crate) fn get(&self, hash: &[u8; 32], now: u64) -> Option<Arc<CachedToken>> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        let (entry, _) = inner.map.get(hash)?;
        if entry.principal.expires_unix() <= now {
            inner.map.remove(hash);
            return None;
        }
        Some(Arc::clone(entry))
    }

    /// Remembers a validated token, evicting the oldest entries when full.
    pub(crate) fn insert(&self, hash: [u8; 32], entry: CachedToken) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.map.insert(hash, (Arc::new(entry), seq)).is_none() {
            while inner.map.len() > self.capacity {
                let Some((old, old_seq)) = inner.order.pop_front() else {
                    break;
                };
                if inner.map.get(&old).is_some_and(|(_, s)| *s == old_seq) {
                    inner.map.remove(&old);
                }
            }
        }
        inner.order.push_back((hash, seq));
        // Slots of replaced or removed entries linger in `order`; drop them before they
        // outnumber the live ones, so memory stays bounded by the capacity.
        if inner.order.len() > 2 * self.capacity {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(h, s)| map.get(h).is_some_and(|(_, live)| live == s));
        }
    }

    /// Forgets `hash`.
    pub(crate) fn remove(&self, hash: &[u8; 32]) {
        self.lock().map.remove(hash);
    }

    /// Number of cached tokens.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data, consistent between statements: a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::Map;

    use super::{CachedToken, TokenCache};
    use crate::principal::Principal;

    fn entry(exp: u64) -> CachedToken {
        CachedToken {
            principal: Principal {
                issuer: "i".into(),
                subject: "s".into(),
                email: None,
                scopes: Vec::new(),
                claims: Arc::new(Map::new()),
                expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            },
            issuer: 0,
            key_thumb: [0; 32],
        }
    }

    fn hash(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn expiry() {
        let cache = TokenCache::new(4);
        cache.insert(hash(1), entry(100));
        assert!(cache.get(&hash(1), 99).is_some());
        assert!(cache.get(&hash(1), 100).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn bounded_fifo() {
        let cache = TokenCache::new(3);
        for n in 0..10 {
            cache.insert(hash(n), entry(1000));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(&hash(9), 0).is_some());
        assert!(cache.get(&hash(7), 0).is_some());
        assert!(cache.get(&hash(6), 0).is_none());
    }

    #[test]
    fn replace_and_remove_keep_order_bounded() {
        let cache = TokenCache::new(2);
        for _ in 0..100 {
            cache.insert(hash(1), entry(1000));
            cache.remove(&hash(1));
            cache.insert(hash(2), entry(1000));
        }
        assert!(cache.lock().order.len() <= 4);
        assert_eq!(cache.len(), 1);
        cache.insert(hash(3), entry(1000));
        cache.insert(hash(4), entry(1000));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&hash(4), 0).is_some());
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = TokenCache::new(0);
        cache.insert(hash(1), entry(1000));
        assert!(cache.get(&hash(1), 0).is_none());
    }
}
