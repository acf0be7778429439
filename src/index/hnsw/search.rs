//! Searching a layer (Algorithm 2 of Malkov & Yashunin), greedy descent through the upper
//! layers, and a k-nearest search whose results may be restricted to admitted nodes while the
//! whole graph stays navigable (a filter checked during traversal).

use super::graph::GraphSource;
use super::space::{CodeRef, Probe, Space, Visited, between, distance, with_visited};
use crate::error::Result;
use crate::vector::distance::Kernels;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// How many codes ahead of the one being compared a layer search requests from memory.
const AHEAD: usize = 4;

/// From this many candidates kept, a layer search requests each kept node's links as it keeps
/// it; below, only the links of the node it expands next.
const EARLY_EF: usize = 64;

/// A node and its estimated distance, ordered by (distance, node): ties are broken by node
/// number, so every search is deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cand {
    pub d: f64,
    pub n: u32,
}

impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.d.total_cmp(&o.d).then(self.n.cmp(&o.n))
    }
}

/// The searches of one graph and space: generic, so that the bulk build's in-memory graph and
/// codes are read without dynamic calls; the table's are `dyn`.
pub struct Searcher<'a, G: GraphSource + ?Sized = dyn GraphSource, S: Space + ?Sized = dyn Space> {
    pub graph: &'a G,
    pub space: &'a S,
    pub kernels: &'a Kernels,
    /// Nodes expanded (for statistics and work limits).
    pub expanded: std::cell::Cell<usize>,
}

impl<'a, G: GraphSource + ?Sized, S: Space + ?Sized> Searcher<'a, G, S> {
    pub fn new(graph: &'a G, space: &'a S, kernels: &'a Kernels) -> Self {
        Searcher { graph, space, kernels, expanded: std::cell::Cell::new(0) }
    }

    #[inline]
    fn dist(&self, p: &Probe<'_>, n: u32) -> Result<Option<f64>> {
        distance(self.space, self.kernels, p, n)
    }

    /// The unvisited nodes of `list` that have a code, with where their codes are; the first
    /// [`AHEAD`] are prefetched (the distance loop requests each next one [`AHEAD`] before it
    /// needs it: requesting all of a node's neighbours at once filled the CPU's miss buffers,
    /// and every request then waited).
    #[inline]
    fn gather(&self, list: &[u32], visited: Option<&mut Visited>, out: &mut Vec<(u32, CodeRef<'a>)>) -> Result<()> {
        out.clear();
        match visited {
            Some(v) => {
                let limit = self.space.node_limit();
                for &m in list {
                    if m < limit
                        && v.insert(m)
                        && let Some(r) = self.space.code_ref(m)?
                    {
                        if out.len() < AHEAD {
                            r.prefetch();
                        }
                        out.push((m, r));
                    }
                }
            }
            None => {
                for &m in list {
                    if let Some(r) = self.space.code_ref(m)? {
                        if out.len() < AHEAD {
                            r.prefetch();
                        }
                        out.push((m, r));
                    }
                }
            }
        }
        Ok(())
    }

    /// The `ef` nodes nearest `p` on `level` found from `entry`, ascending. Only nodes `admit`
    /// accepts are returned; all live nodes are walked through.
    pub fn layer(
        &self,
        p: &Probe<'_>,
        entry: &[Cand],
        ef: usize,
        level: usize,
        admit: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Cand>> {
        with_visited(|visited| self.layer_with(p, entry, ef, level, admit, visited))
    }

    fn layer_with(
        &self,
        p: &Probe<'_>,
        entry: &[Cand],
        ef: usize,
        level: usize,
        admit: &dyn Fn(u32) -> bool,
        visited: &mut Visited,
    ) -> Result<Vec<Cand>> {
        let ef = ef.max(1);
        let (kind, metric) = (self.space.kind(), self.space.metric());
        let mut todo: BinaryHeap<Reverse<Cand>> = BinaryHeap::new();
        let mut best: BinaryHeap<Cand> = BinaryHeap::new();
        for e in entry {
            if visited.insert(e.n) {
                todo.push(Reverse(*e));
                if admit(e.n) {
                    best.push(*e);
                }
            }
        }
        while best.len() > ef {
            best.pop();
        }
        // The unvisited neighbours of the node being expanded, with their codes: found (and
        // their codes prefetched) before any distance is computed.
        let mut next: Vec<(u32, CodeRef<'a>)> = Vec::with_capacity(64);
        // Whose links to request ahead: with a wide search (a build's) most nodes kept are
        // expanded, so each one's as it is kept; with a narrow one most are not, and requesting
        // them all crowds out the codes: only the next node's, once it is known.
        let early = ef >= EARLY_EF;
        while let Some(Reverse(c)) = todo.pop() {
            if best.len() >= ef && best.peek().is_some_and(|w| c.d > w.d) {
                break;
            }
            let Some(list) = self.graph.links(c.n, level)? else { continue };
            self.expanded.set(self.expanded.get() + 1);
            self.gather(list, Some(visited), &mut next)?;
            for (i, (m, r)) in next.iter().enumerate() {
                if let Some((_, a)) = next.get(i + AHEAD) {
                    a.prefetch();
                }
                let cand = Cand { d: between(kind, metric, self.kernels, p, &r.probe()), n: *m };
                let worst = best.peek().copied();
                if best.len() < ef || worst.is_some_and(|w| cand < w) {
                    if early {
                        self.graph.prefetch(*m);
                    }
                    todo.push(Reverse(cand));
                    if admit(*m) {
                        best.push(cand);
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
            // The node expanded next (unless the search ends): its links are requested now.
            if !early && let Some(Reverse(nx)) = todo.peek() {
                self.graph.prefetch(nx.n);
            }
        }
        Ok(best.into_sorted_vec())
    }

    /// Greedy descent from the entry node to layer `to` (exclusive of it): the nearest node
    /// found on each layer above. None for an empty graph.
    pub fn descend(&self, p: &Probe<'_>, to: usize) -> Result<Option<(Cand, usize)>> {
        let Some(e) = self.graph.entry()? else { return Ok(None) };
        let Some(top) = self.graph.node(e)?.map(|n| n.level as usize) else { return Ok(None) };
        let d = self.dist(p, e)?.unwrap_or(f64::INFINITY);
        let mut cur = Cand { d, n: e };
        let mut level = top;
        let (kind, metric) = (self.space.kind(), self.space.metric());
        let mut next: Vec<(u32, CodeRef<'a>)> = Vec::with_capacity(32);
        while level > to {
            // Greedy: move to the nearest neighbour while it is nearer.
            while let Some(list) = self.graph.links(cur.n, level)? {
                self.gather(list, None, &mut next)?;
                let mut moved = false;
                for (i, (m, r)) in next.iter().enumerate() {
                    if let Some((_, a)) = next.get(i + AHEAD) {
                        a.prefetch();
                    }
                    let c = Cand { d: between(kind, metric, self.kernels, p, &r.probe()), n: *m };
                    if c < cur {
                        cur = c;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
            level -= 1;
        }
        Ok(Some((cur, top)))
    }

    /// The `ef` nearest admitted nodes, ascending by estimated distance.
    pub fn knn(&self, p: &Probe<'_>, ef: usize, admit: &dyn Fn(u32) -> bool) -> Result<Vec<Cand>> {
        let Some((start, _)) = self.descend(p, 0)? else { return Ok(Vec::new()) };
        self.layer(p, &[start], ef, 0, admit)
    }
}
