//! The replay cache: every accepted proof's (key, `jti`) for as long as the proof could still
//! be accepted, bounded.
//!
//! A hash map for the lookup and a queue in insertion order for expiry, so each proof costs
//! O(1) amortised: expired entries are dropped from the front of the queue as new ones
//! arrive. Entries expire in insertion order because every entry lives at most the same
//! window. A full cache refuses new proofs: forgetting an unexpired one would let it be
//! replayed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::DpopError;

/// What identifies one proof: 128 bits of SHA-256 over the key's thumbprint and the `jti`
/// (so one client's `jti` values cannot collide with another's).
pub(crate) type ProofKey = u128;

/// The cache key of a proof.
pub(crate) fn key(thumbprint: &str, jti: &str) -> ProofKey {
    let mut hasher = Sha256::new();
    hasher.update(thumbprint.as_bytes());
    hasher.update([0]);
    hasher.update(jti.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

pub(crate) struct ReplayCache {
    capacity: usize,
    expiries: HashMap<ProofKey, Instant>,
    order: VecDeque<(ProofKey, Instant)>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayCache {
            capacity,
            expiries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers `key` until `now + ttl`; refuses it when it is remembered already, or when
    /// the cache is full of unexpired entries.
    pub(crate) fn insert(
        &mut self,
        key: ProofKey,
        now: Instant,
        ttl: Duration,
    ) -> Result<(), DpopError> {
        while let Some(&(front, expires)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self.expiries.get(&front) == Some(&expires) {
                self.expiries.remove(&front);
            }
        }
        if self
            .expiries
            .get(&key)
            .is_some_and(|expires| *expires > now)
        {
            return Err(DpopError::Replayed);
        }
        if self.expiries.len() >= self.capacity {
            return Err(DpopError::ReplayCacheFull);
        }
        let expires = now + ttl;
        self.expiries.insert(key, expires);
        self.order.push_back((key, expires));
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.expiries.len()
    }
}
