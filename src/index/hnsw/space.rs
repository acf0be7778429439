//! Distances a graph navigates by. Columns under l2, cosine or ip navigate by int8 codes of
//! their vectors (see `quant::sq8`), compared with exact integer dot products, so every CPU
//! builds and searches the same graph; columns under l1 and bit columns (hamming, jaccard) by
//! exact distances on the stored vectors themselves (popcounts and sums: cheap, and exact).

use crate::error::Result;
use crate::index::quant::sq8::approx_distance;
use crate::vector::distance::{self, Kernels, Metric};
use half::f16;
use std::cell::RefCell;

/// What a space's node codes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceKind {
    /// int8 codes with scale and norm (l2, cosine, ip).
    Sq8,
    /// The stored vectors' bytes, compared exactly: float32, float16, int8, bits.
    RawF32,
    RawF16,
    RawI8,
    Bits,
}

/// One node's code: for [`SpaceKind::Sq8`] an int8 code with its scale and norm; for the raw
/// kinds the vector's stored bytes (as `i8`), scale and norm 0.
#[derive(Debug, Clone, Copy)]
pub struct NodeCode<'a> {
    pub rowid: i64,
    pub code: &'a [i8],
    pub scale: f32,
    pub norm: f32,
}

/// The codes of a column's vectors, by node number.
pub trait Space {
    fn metric(&self) -> Metric;
    fn kind(&self) -> SpaceKind {
        SpaceKind::Sq8
    }
    /// Node `n`'s code; None when its slot holds no row.
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>>;
    /// Node `n`'s code without its rowid: what a distance needs.
    #[inline]
    fn probe(&self, n: u32) -> Result<Option<Probe<'_>>> {
        Ok(self.code(n)?.map(Probe::from))
    }
    /// Node numbers below this are the only ones that can have a code: a search marks nodes
    /// visited in a bitmap as large as the largest number it sees, so a link beyond (to a
    /// removed chunk, or a damaged one) is skipped before it is marked.
    #[inline]
    fn node_limit(&self) -> u32 {
        u32::MAX
    }
    /// A hint that node `n`'s code is read soon.
    #[inline]
    fn prefetch(&self, _n: u32) {}
    /// A hint that node `n`'s stored vector is read soon (to rescore it).
    #[inline]
    fn prefetch_vector(&self, _n: u32) {}
    /// Where node `n`'s code is, found without reading it (so that a search can prefetch the
    /// codes of all of a node's neighbours before it reads the first).
    #[inline]
    fn code_ref(&self, n: u32) -> Result<Option<CodeRef<'_>>> {
        Ok(self.probe(n)?.map(CodeRef::Probe))
    }
}

/// A node's code, not yet read: a record of `dims` code bytes followed by its scale and norm
/// (f32, little-endian), a code and its [scale, norm] apart, or a probe already made.
#[derive(Debug, Clone, Copy)]
pub enum CodeRef<'a> {
    Record(&'a [u8], usize),
    Parts(&'a [i8], &'a [f32; 2]),
    Probe(Probe<'a>),
}

impl<'a> CodeRef<'a> {
    #[inline]
    pub fn prefetch(&self) {
        match self {
            CodeRef::Record(r, _) => crate::simd::prefetch(r),
            CodeRef::Parts(c, f) => {
                crate::simd::prefetch(bytemuck::cast_slice(c));
                crate::simd::prefetch_ref(*f);
            }
            CodeRef::Probe(p) => crate::simd::prefetch(bytemuck::cast_slice(p.code)),
        }
    }
    #[inline]
    pub fn probe(&self) -> Probe<'a> {
        match *self {
            CodeRef::Record(r, d) => {
                let f = |a: usize| r.get(a..a + 4).map_or(f32::NAN, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                Probe { code: bytemuck::cast_slice(&r[..d.min(r.len())]), scale: f(d), norm: f(d + 4) }
            }
            CodeRef::Parts(code, &[scale, norm]) => Probe { code, scale, norm },
            CodeRef::Probe(p) => p,
        }
    }
}

/// What distances are measured from: a query's code or a node's.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub code: &'a [i8],
    pub scale: f32,
    pub norm: f32,
}

impl<'a> From<NodeCode<'a>> for Probe<'a> {
    fn from(c: NodeCode<'a>) -> Self {
        Probe { code: c.code, scale: c.scale, norm: c.norm }
    }
}

fn exact(kind: SpaceKind, metric: Metric, k: &Kernels, a: &[i8], b: &[i8]) -> f64 {
    let (a, b): (&[u8], &[u8]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    let d = match kind {
        SpaceKind::RawF32 => match (distance::f32_le(a), distance::f32_le(b)) {
            (Some(x), Some(y)) => distance::f32u_distance(k, metric, x, y),
            _ => None,
        },
        SpaceKind::RawF16 => {
            let x: Vec<f16> = bytemuck::pod_collect_to_vec(a);
            let y: Vec<f16> = bytemuck::pod_collect_to_vec(b);
            distance::f16_distance(k, metric, &x, &y)
        }
        SpaceKind::RawI8 => distance::i8_distance(k, metric, bytemuck::cast_slice(a), bytemuck::cast_slice(b)),
        SpaceKind::Bits => distance::bit_distance(k, metric, a, b),
        SpaceKind::Sq8 => None,
    };
    d.unwrap_or(f64::INFINITY)
}

/// The distance between two codes of a space.
#[inline]
pub fn between(kind: SpaceKind, metric: Metric, k: &Kernels, a: &Probe<'_>, b: &Probe<'_>) -> f64 {
    match kind {
        SpaceKind::Sq8 => {
            let dot = (k.dot_i8)(a.code, b.code);
            approx_distance(metric, dot, (a.scale, a.norm), (b.scale, b.norm))
        }
        _ => exact(kind, metric, k, a.code, b.code),
    }
}

/// Estimated distance from `p` to node `n` (None: no such node; +∞: no code).
#[inline]
pub fn distance<S: Space + ?Sized>(space: &S, kernels: &Kernels, p: &Probe<'_>, n: u32) -> Result<Option<f64>> {
    Ok(space.probe(n)?.map(|c| between(space.kind(), space.metric(), kernels, p, &c)))
}

/// A set of visited node numbers: a bitmap reused between searches of a thread, cleared by
/// the words it touched.
pub struct Visited {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl Visited {
    fn new() -> Self {
        Visited { bits: Vec::new(), touched: Vec::new() }
    }
    /// True when `n` was not in the set (and now is).
    #[inline]
    pub fn insert(&mut self, n: u32) -> bool {
        let w = (n / 64) as usize;
        if w >= self.bits.len() {
            self.bits.resize((w + 1).next_power_of_two(), 0);
        }
        let b = 1u64 << (n % 64);
        if self.bits[w] & b != 0 {
            return false;
        }
        if self.bits[w] == 0 {
            self.touched.push(w as u32);
        }
        self.bits[w] |= b;
        true
    }
    fn clear(&mut self) {
        for w in self.touched.drain(..) {
            self.bits[w as usize] = 0;
        }
    }
}

thread_local! {
    static VISITED: RefCell<Vec<Visited>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with an empty visited set (one per nesting level per thread, reused).
pub fn with_visited<R>(f: impl FnOnce(&mut Visited) -> R) -> R {
    let mut v = VISITED.with(|p| p.borrow_mut().pop()).unwrap_or_else(Visited::new);
    let r = f(&mut v);
    v.clear();
    VISITED.with(|p| p.borrow_mut().push(v));
    r
}

/// Codes in plain memory: the bulk build's, and the tests'. One record per node — the code,
/// then scale, norm and rowid — so a distance touches one place in memory.
pub struct MemSpace {
    pub metric: Metric,
    pub kind: SpaceKind,
    pub dims: usize,
    stride: usize,
    data: Vec<u8>,
    /// Nodes that have a code, as a bitmap.
    live: Vec<u64>,
}

impl MemSpace {
    pub fn new(metric: Metric, dims: usize) -> Self {
        MemSpace { metric, kind: SpaceKind::Sq8, dims, stride: dims + 16, data: Vec::new(), live: Vec::new() }
    }
    /// Room for nodes below `n` without growing.
    pub fn reserve(&mut self, n: usize) {
        self.data.reserve((n * self.stride).saturating_sub(self.data.len()));
    }
    /// Set node `n` from a coded vector.
    pub fn set(&mut self, n: u32, rowid: i64, code: &[i8], scale: f32, norm: f32) {
        let i = n as usize;
        if (i + 1) * self.stride > self.data.len() {
            self.data.resize((i + 1) * self.stride, 0);
        }
        if i / 64 >= self.live.len() {
            self.live.resize(i / 64 + 1, 0);
        }
        let r = &mut self.data[i * self.stride..(i + 1) * self.stride];
        r[..self.dims].copy_from_slice(bytemuck::cast_slice(code));
        r[self.dims..self.dims + 4].copy_from_slice(&scale.to_le_bytes());
        r[self.dims + 4..self.dims + 8].copy_from_slice(&norm.to_le_bytes());
        r[self.dims + 8..self.dims + 16].copy_from_slice(&rowid.to_le_bytes());
        self.live[i / 64] |= 1 << (i % 64);
    }
    pub fn clear(&mut self, n: u32) {
        let i = n as usize;
        if let Some(w) = self.live.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }
}

impl Space for MemSpace {
    fn metric(&self) -> Metric {
        self.metric
    }
    fn node_limit(&self) -> u32 {
        u32::try_from(self.live.len() * 64).unwrap_or(u32::MAX)
    }
    fn kind(&self) -> SpaceKind {
        self.kind
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        let i = n as usize * self.stride;
        if let Some(r) = self.data.get(i..i + self.stride) {
            crate::simd::prefetch(r);
        }
    }
    #[inline]
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>> {
        let i = n as usize;
        if self.live.get(i / 64).is_none_or(|w| w & (1 << (i % 64)) == 0) {
            return Ok(None);
        }
        let r = &self.data[i * self.stride..(i + 1) * self.stride];
        let (code, rest) = r.split_at(self.dims);
        let f = |a: usize| f32::from_le_bytes([rest[a], rest[a + 1], rest[a + 2], rest[a + 3]]);
        Ok(Some(NodeCode {
            rowid: i64::from_le_bytes(rest[8..16].try_into().unwrap_or([0; 8])),
            code: bytemuck::cast_slice(code),
            scale: f(0),
            norm: f(4),
        }))
    }
    #[inline]
    fn code_ref(&self, n: u32) -> Result<Option<CodeRef<'_>>> {
        let i = n as usize;
        if self.live.get(i / 64).is_none_or(|w| w & (1 << (i % 64)) == 0) {
            return Ok(None);
        }
        Ok(self.data.get(i * self.stride..(i + 1) * self.stride).map(|r| CodeRef::Record(r, self.dims)))
    }
}
