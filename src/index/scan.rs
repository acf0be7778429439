//! What every search shares: the query ready to score stored vectors ([`Scorer`]), the best k
//! hits in a bounded heap ([`TopK`]), distance bounds ([`Bounds`]), and scoring a chunk of
//! stored vectors ([`scan_chunk`]).

use crate::vector::distance::{self, Kernels, Metric};
use crate::vector::{ElementType, Vector};
use half::f16;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One result: its distance and where its vectors are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub distance: f64,
    pub rowid: i64,
    pub chunk: i64,
    pub slot: u32,
}

impl Hit {
    /// Total order: by distance, then by rowid (ties broken by rowid).
    #[inline]
    pub fn cmp_key(&self, other: &Hit) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.rowid.cmp(&other.rowid))
    }
}

struct HeapItem(Hit);
impl PartialEq for HeapItem {
    fn eq(&self, o: &Self) -> bool {
        self.0.cmp_key(&o.0) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapItem {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.cmp_key(&o.0)
    }
}

/// The k best hits seen so far (a max-heap of size k).
pub struct TopK {
    k: usize,
    heap: BinaryHeap<HeapItem>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1) }
    }
    /// Distance a new hit must beat (or tie with a smaller rowid) to enter; +inf until full.
    #[inline]
    pub fn bound(&self) -> f64 {
        if self.heap.len() < self.k { f64::INFINITY } else { self.heap.peek().map_or(f64::INFINITY, |h| h.0.distance) }
    }
    #[inline]
    pub fn push(&mut self, h: Hit) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(HeapItem(h));
        } else if let Some(mut top) = self.heap.peek_mut()
            && h.cmp_key(&top.0) == Ordering::Less
        {
            *top = HeapItem(h);
        }
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn into_sorted(self) -> Vec<Hit> {
        self.heap.into_sorted_vec().into_iter().map(|h| h.0).collect()
    }
}

/// Distance bounds pushed down from `distance < x` and friends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// (value, inclusive)
    pub lower: Option<(f64, bool)>,
    pub upper: Option<(f64, bool)>,
}

impl Bounds {
    /// For a distance known to lie in [lo, hi]: (may it pass, does it surely pass).
    #[inline]
    pub fn admits_interval(&self, lo: f64, hi: f64) -> (bool, bool) {
        let may = self.lower.is_none_or(|(v, inc)| hi > v || (inc && hi == v))
            && self.upper.is_none_or(|(v, inc)| lo < v || (inc && lo == v));
        (may, self.admits(lo) && self.admits(hi))
    }
    #[inline]
    pub fn admits(&self, d: f64) -> bool {
        if let Some((v, inc)) = self.lower
            && (d < v || (!inc && d == v))
        {
            return false;
        }
        if let Some((v, inc)) = self.upper
            && (d > v || (!inc && d == v))
        {
            return false;
        }
        true
    }
    pub fn is_empty(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }
    /// Tighten with `distance <op> v`.
    pub fn add_upper(&mut self, v: f64, inclusive: bool) {
        self.upper = Some(match self.upper {
            Some((u, ui)) if u < v || (u == v && !ui) => (u, ui),
            _ => (v, inclusive),
        });
    }
    pub fn add_lower(&mut self, v: f64, inclusive: bool) {
        self.lower = Some(match self.lower {
            Some((l, li)) if l > v || (l == v && !li) => (l, li),
            _ => (v, inclusive),
        });
    }
}

/// The query vector, ready to score stored vectors of the same type given as raw bytes.
pub struct Scorer {
    query: Vector<'static>,
    metric: Metric,
    kernels: &'static Kernels,
    bytes: usize,
}

impl Scorer {
    pub fn new(query: Vector<'static>, metric: Metric) -> Self {
        let bytes = query.as_bytes().len();
        Scorer { query, metric, kernels: crate::simd::kernels(), bytes }
    }
    /// The query vector.
    pub fn query(&self) -> &Vector<'static> {
        &self.query
    }
    pub fn element_type(&self) -> ElementType {
        self.query.element_type()
    }
    pub fn metric(&self) -> Metric {
        self.metric
    }
    /// The query's elements when it is a float32 vector.
    pub fn query_f32(&self) -> Option<&[f32]> {
        match &self.query {
            Vector::F32(q) => Some(q),
            _ => None,
        }
    }
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }
    /// Bytes of one stored vector.
    pub fn vector_bytes(&self) -> usize {
        self.bytes
    }
    /// Distance from the stored vector `v` (raw little-endian bytes) to the query, or None when
    /// undefined. Mirrors `vec_distance_*(v, query)` exactly.
    #[inline]
    pub fn score(&self, v: &[u8]) -> Option<f64> {
        let k = self.kernels;
        match &self.query {
            Vector::F32(q) => f32_view(v, |x| distance::f32_distance(k, self.metric, x, q)),
            Vector::F16(q) => f16_view(v, |x| distance::f16_distance(k, self.metric, x, q)),
            Vector::I8(q) => distance::i8_distance(k, self.metric, bytemuck::cast_slice(v), q),
            Vector::Bit(q) => distance::bit_distance(k, self.metric, v, q),
        }
    }
}

#[inline]
fn f32_view<R>(v: &[u8], f: impl FnOnce(&[f32]) -> R) -> R {
    match bytemuck::try_cast_slice::<u8, f32>(v) {
        Ok(s) => f(s),
        Err(_) => f(&bytemuck::pod_collect_to_vec::<u8, f32>(v)),
    }
}

#[inline]
fn f16_view<R>(v: &[u8], f: impl FnOnce(&[f16]) -> R) -> R {
    match bytemuck::try_cast_slice::<u8, f16>(v) {
        Ok(s) => f(s),
        Err(_) => f(&bytemuck::pod_collect_to_vec::<u8, f16>(v)),
    }
}

/// One chunk as the scan sees it.
pub struct ChunkView<'a> {
    pub id: i64,
    pub validity: &'a [u8],
    pub rowids: &'a [i64],
    /// `capacity * vector_bytes` bytes.
    pub vectors: &'a [u8],
}

/// Score the used slots of `chunk` (those in `only`, when given: a bitmap over slots) into `out`.
#[inline]
pub fn scan_chunk(chunk: &ChunkView<'_>, only: Option<&[u8]>, scorer: &Scorer, bounds: &Bounds, out: &mut TopK) {
    let n = scorer.vector_bytes();
    for (byte_i, &bits) in chunk.validity.iter().enumerate() {
        let mut bits = match only {
            Some(m) => bits & m.get(byte_i).copied().unwrap_or(0),
            None => bits,
        };
        while bits != 0 {
            let bit = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let slot = byte_i * 8 + bit;
            let Some(v) = chunk.vectors.get(slot * n..(slot + 1) * n) else { continue };
            let Some(d) = scorer.score(v) else { continue };
            if d > out.bound() || !bounds.admits(d) {
                continue;
            }
            let rowid = chunk.rowids.get(slot).copied().unwrap_or(0);
            out.push(Hit { distance: d, rowid, chunk: chunk.id, slot: slot as u32 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn hit(d: f64, r: i64) -> Hit {
        Hit { distance: d, rowid: r, chunk: 0, slot: 0 }
    }

    #[test]
    fn topk_keeps_best_and_breaks_ties_by_rowid() {
        let mut t = TopK::new(3);
        for (d, r) in [(5.0, 1), (1.0, 9), (1.0, 2), (3.0, 4), (0.5, 7), (1.0, 1)] {
            t.push(hit(d, r));
        }
        let got: Vec<(f64, i64)> = t.into_sorted().iter().map(|h| (h.distance, h.rowid)).collect();
        assert_eq!(got, vec![(0.5, 7), (1.0, 1), (1.0, 2)]);
    }

    #[test]
    fn bounds() {
        let mut b = Bounds::default();
        b.add_upper(2.0, false);
        b.add_upper(3.0, true);
        b.add_lower(1.0, true);
        assert!(b.admits(1.0) && b.admits(1.5) && !b.admits(2.0) && !b.admits(0.9));
    }

    #[test]
    fn scan_matches_brute_force() {
        let dims = 5;
        let cap = 16;
        let q = vec![0.5f32, -1.0, 2.0, 0.0, 1.0];
        let data: Vec<f32> = (0..cap * dims).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let mut validity = vec![0u8; cap / 8];
        for s in (0..cap).filter(|s| s % 3 != 0) {
            validity[s / 8] |= 1 << (s % 8);
        }
        let rowids: Vec<i64> = (0..cap as i64).map(|s| 100 + s).collect();
        let chunk = ChunkView { id: 1, validity: &validity, rowids: &rowids, vectors: bytemuck::cast_slice(&data) };
        let scorer = Scorer::new(Vector::F32(Cow::Owned(q.clone())), Metric::L2);
        let mut out = TopK::new(4);
        scan_chunk(&chunk, None, &scorer, &Bounds::default(), &mut out);
        let got: Vec<i64> = out.into_sorted().iter().map(|h| h.rowid).collect();
        let mut brute: Vec<(f64, i64)> = (0..cap)
            .filter(|s| s % 3 != 0)
            .map(|s| {
                let v = &data[s * dims..(s + 1) * dims];
                let d: f32 = v.iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum();
                ((d as f64).sqrt(), 100 + s as i64)
            })
            .collect();
        brute.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        assert_eq!(got, brute.iter().take(4).map(|x| x.1).collect::<Vec<_>>());
    }
}
