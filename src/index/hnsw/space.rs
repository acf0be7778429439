//! Distances a graph navigates by: int8 codes of the stored vectors (see `quant::sq8`),
//! compared with exact integer dot products, so every CPU builds and searches the same graph.

use crate::error::Result;
use crate::index::quant::sq8::approx_distance;
use crate::vector::distance::{Kernels, Metric};
use std::cell::RefCell;

/// One node's code.
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
    /// Node `n`'s code; None when its slot holds no row.
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>>;
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

/// Estimated distance from `p` to node `n` (None: no such node; +∞: no code).
#[inline]
pub fn distance(space: &dyn Space, kernels: &Kernels, p: &Probe<'_>, n: u32) -> Result<Option<f64>> {
    Ok(space.code(n)?.map(|c| {
        let dot = (kernels.dot_i8)(p.code, c.code);
        approx_distance(space.metric(), dot, (p.scale, p.norm), (c.scale, c.norm))
    }))
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

/// Codes in plain memory: the bulk build's, and the tests'.
pub struct MemSpace {
    pub metric: Metric,
    pub dims: usize,
    pub codes: Vec<i8>,
    /// Per node: (rowid, scale, norm), or None for an empty slot.
    pub params: Vec<Option<(i64, f32, f32)>>,
}

impl MemSpace {
    pub fn new(metric: Metric, dims: usize) -> Self {
        MemSpace { metric, dims, codes: Vec::new(), params: Vec::new() }
    }
    /// Set node `n` from a coded vector.
    pub fn set(&mut self, n: u32, rowid: i64, code: &[i8], scale: f32, norm: f32) {
        let n = n as usize;
        if n >= self.params.len() {
            self.params.resize(n + 1, None);
            self.codes.resize((n + 1) * self.dims, 0);
        }
        self.codes[n * self.dims..(n + 1) * self.dims].copy_from_slice(code);
        self.params[n] = Some((rowid, scale, norm));
    }
    pub fn clear(&mut self, n: u32) {
        if let Some(p) = self.params.get_mut(n as usize) {
            *p = None;
        }
    }
}

impl Space for MemSpace {
    fn metric(&self) -> Metric {
        self.metric
    }
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>> {
        let i = n as usize;
        Ok(self.params.get(i).copied().flatten().map(|(rowid, scale, norm)| NodeCode {
            rowid,
            code: &self.codes[i * self.dims..(i + 1) * self.dims],
            scale,
            norm,
        }))
    }
}
