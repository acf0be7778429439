//! A graph version read from an earlier version's [`Level0`] array for the nodes no commit
//! since has changed, and from the version itself for the others.
//!
//! A version makes its own array only after it has served hundreds of searches (see the
//! virtual table's `View`), so where every few searches a write commits, searches would
//! otherwise walk the cache's leaves and chunks (several times slower). A commit changes a few
//! dozen nodes (the new row's neighbours, the chunk it lands in): the rest of the array still
//! describes them exactly, so a search reads those from it. The array's entry node is not
//! used: the version's is.

use super::graph::{GraphSource, Node};
use super::level0::Level0;
use super::space::{CodeRef, NodeCode, Probe, Space, SpaceKind};
use crate::error::Result;
use crate::vector::distance::Metric;

/// Whether node `n` reads from `l0` as from the version whose changed nodes are the bits set
/// in `changed` (nodes at or beyond the array's end never do).
#[inline]
pub fn unchanged(l0: &Level0, changed: &[u64], n: u32) -> bool {
    (n as usize) < l0.nodes() && changed.get(n as usize / 64).is_none_or(|w| w & (1 << (n % 64)) == 0)
}

/// The nodes set in `changed` (and those at or beyond the array's end) come from `graph` and
/// `space`, the rest from `l0`.
pub struct Patched<'a> {
    l0: &'a Level0,
    changed: &'a [u64],
    graph: &'a dyn GraphSource,
    space: &'a dyn Space,
}

impl<'a> Patched<'a> {
    pub fn new(l0: &'a Level0, changed: &'a [u64], graph: &'a dyn GraphSource, space: &'a dyn Space) -> Self {
        Patched { l0, changed, graph, space }
    }

    /// Whether node `n` reads the same from the array as from the version.
    #[inline]
    pub fn unchanged(&self, n: u32) -> bool {
        unchanged(self.l0, self.changed, n)
    }

    /// Node `n`'s stored vector from the array, when its chunk is unchanged and in memory.
    #[inline]
    pub fn vector(&self, n: u32) -> Option<&'a [u8]> {
        if self.unchanged(n) { self.l0.vector(n) } else { None }
    }

    /// The array itself, for a chunk's vectors read later (only unchanged chunks may be added:
    /// the array is shared with the versions before).
    pub fn array_for(&self, n: u32) -> Option<&'a Level0> {
        self.unchanged(n).then_some(self.l0)
    }
}

impl GraphSource for Patched<'_> {
    fn entry(&self) -> Result<Option<u32>> {
        self.graph.entry()
    }
    #[inline]
    fn node(&self, n: u32) -> Result<Option<&Node>> {
        // The array keeps whole only the nodes above layer 0.
        if self.unchanged(n)
            && let Some(x) = self.l0.node(n)?
        {
            return Ok(Some(x));
        }
        self.graph.node(n)
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        if self.unchanged(n) {
            GraphSource::prefetch(self.l0, n);
        } else {
            GraphSource::prefetch(self.graph, n);
        }
    }
    #[inline]
    fn has_dups(&self, n: u32) -> Result<bool> {
        if self.unchanged(n) { self.l0.has_dups(n) } else { self.graph.has_dups(n) }
    }
    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        if self.unchanged(n) { self.l0.links(n, level) } else { self.graph.links(n, level) }
    }
}

impl Space for Patched<'_> {
    fn metric(&self) -> Metric {
        self.space.metric()
    }
    fn kind(&self) -> SpaceKind {
        self.space.kind()
    }
    fn node_limit(&self) -> u32 {
        self.space.node_limit()
    }
    #[inline]
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>> {
        if self.unchanged(n) { self.l0.code(n) } else { self.space.code(n) }
    }
    #[inline]
    fn probe(&self, n: u32) -> Result<Option<Probe<'_>>> {
        if self.unchanged(n) { self.l0.probe(n) } else { self.space.probe(n) }
    }
    #[inline]
    fn code_ref(&self, n: u32) -> Result<Option<CodeRef<'_>>> {
        if self.unchanged(n) { self.l0.code_ref(n) } else { self.space.code_ref(n) }
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        if self.unchanged(n) {
            Space::prefetch(self.l0, n);
        } else {
            Space::prefetch(self.space, n);
        }
    }
    #[inline]
    fn prefetch_vector(&self, n: u32) {
        if self.unchanged(n) {
            self.l0.prefetch_vector(n);
        } else {
            self.space.prefetch_vector(n);
        }
    }
}
