//! Hash maps keyed by ids (chunk ids, leaf numbers): a transaction's overlay looks its chunks
//! and graph leaves up thousands of times a search, and SipHash (std's default, made to resist
//! chosen keys) was a tenth of an INSERT's time. Ids are not chosen against us, and
//! multiplying by an odd constant keeps consecutive ids in distinct buckets.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from ids, hashed by multiplication.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: integers are multiplied by an odd constant (bytes, which ids never
/// are, are folded in the same way a word at a time).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(K);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_find_their_values() {
        let mut m: IdMap<i64, i64> = IdMap::default();
        for i in -500..5000i64 {
            m.insert(i * 3, i);
        }
        assert!((-500..5000i64).all(|i| m.get(&(i * 3)) == Some(&i)));
        assert!(!m.contains_key(&1));
        let mut s: IdMap<(i64, usize), u8> = IdMap::default();
        s.insert((7, 3), 1);
        assert_eq!(s.get(&(7, 3)), Some(&1));
        assert_eq!(s.get(&(3, 7)), None);
    }
}
