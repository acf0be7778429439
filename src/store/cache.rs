//! The process-wide memory budget for decoded index data.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of decoded vectors and codes held by all vindex tables of this process, and the limit.
static CACHE_USED: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_CACHE_LIMIT);
pub const DEFAULT_CACHE_LIMIT: usize = 1 << 30;

pub fn cache_limit() -> usize {
    CACHE_LIMIT.load(Ordering::Relaxed)
}
pub fn set_cache_limit(bytes: usize) {
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
}
pub fn cache_used() -> usize {
    CACHE_USED.load(Ordering::Relaxed)
}

pub fn try_reserve(n: usize) -> bool {
    let limit = cache_limit();
    CACHE_USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| (u + n <= limit).then_some(u + n)).is_ok()
}
pub fn release(n: usize) {
    CACHE_USED.fetch_sub(n, Ordering::Relaxed);
}
