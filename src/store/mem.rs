//! The process-wide memory budget for decoded table data: bytes are charged by [`MemToken`]s,
//! while they are held, against one limit.

use std::sync::atomic::{AtomicUsize, Ordering};

static CACHE_USED: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_CACHE_LIMIT);
pub const DEFAULT_CACHE_LIMIT: usize = 1 << 30;

pub fn cache_limit() -> usize {
    CACHE_LIMIT.load(Ordering::Relaxed)
}
pub fn cache_used() -> usize {
    CACHE_USED.load(Ordering::Relaxed)
}
pub(super) fn set_limit(bytes: usize) {
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
}

fn try_reserve(n: usize) -> bool {
    let limit = cache_limit();
    CACHE_USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| (u + n <= limit).then_some(u + n)).is_ok()
}

/// Bytes charged to the budget while this token lives.
#[derive(Debug)]
pub struct MemToken(usize);

impl MemToken {
    /// Charge `n` bytes unconditionally (small bookkeeping that every cached chunk needs).
    pub fn charge(n: usize) -> MemToken {
        CACHE_USED.fetch_add(n, Ordering::Relaxed);
        MemToken(n)
    }
    /// Charge `n` bytes only if they fit as things are.
    pub fn try_charge_free(n: usize) -> Option<MemToken> {
        // `then`, not `then_some`: a token made and dropped would give back bytes never taken.
        try_reserve(n).then(|| MemToken(n))
    }
    pub fn bytes(&self) -> usize {
        self.0
    }
}

impl Drop for MemToken {
    fn drop(&mut self) {
        CACHE_USED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_that_does_not_fit_takes_and_gives_back_nothing() {
        let huge = usize::MAX / 4;
        assert!(MemToken::try_charge_free(huge).is_none());
        // Had the refused token been dropped, the counter would have wrapped below zero.
        assert!(cache_used() < usize::MAX / 8, "cache_used {}", cache_used());
        let t = MemToken::try_charge_free(0).expect("nothing always fits");
        assert_eq!(t.bytes(), 0);
    }
}
