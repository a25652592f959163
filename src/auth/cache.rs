//! The verified-token cache: verifying a JWT's signature costs tens of microseconds, and the same
//! token comes back on every request of a session, so each verifier keeps the principals of
//! recently verified tokens by SHA-256, lock-free for readers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use sha2::{Digest as _, Sha256};

use super::Principal;

/// Slots in a verifier's token cache.
pub(super) const TOKEN_CACHE_SLOTS: usize = 16 * 1024;

/// A bounded cache of verified tokens: a fixed array of slots, each holding at most one
/// (digest, principal). A token maps to one slot by its digest; a newer token in the same
/// slot replaces the older, which bounds the cache without any bookkeeping.
pub struct TokenCache {
    slots: Box<[ArcSwapOption<CachedToken>]>,
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
}

struct CachedToken {
    digest: [u8; 32],
    principal: Arc<Principal>,
    /// The key set generation it was verified under.
    generation: u64,
}

impl TokenCache {
    pub fn new(slots: usize) -> Self {
        TokenCache {
            slots: (0..slots.max(1)).map(|_| ArcSwapOption::empty()).collect(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn slot(&self, digest: &[u8; 32]) -> Option<&ArcSwapOption<CachedToken>> {
        let mut head = [0u8; 8];
        head.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        self.slots.get((u64::from_le_bytes(head) % self.slots.len() as u64) as usize)
    }

    /// The principal for this digest, if cached under key set `generation` and not expired
    /// at `now` (Unix seconds).
    pub fn get(&self, digest: &[u8; 32], now: u64, generation: u64) -> Option<Arc<Principal>> {
        let found = self.slot(digest).and_then(|slot| {
            let entry = slot.load();
            entry
                .as_ref()
                .filter(|e| &e.digest == digest && e.principal.expires_at > now && e.generation == generation)
                .map(|e| e.principal.clone())
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn insert(&self, digest: [u8; 32], principal: Arc<Principal>, generation: u64) {
        if let Some(slot) = self.slot(&digest) {
            slot.store(Some(Arc::new(CachedToken { digest, principal, generation })));
        }
    }
}
