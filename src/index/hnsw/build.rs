//! Building a whole graph at once (`index=hnsw(...)` on a filled table, `'rebuild'`), on all the
//! threads asked for, with the same result for any number of threads.
//!
//! Nodes are linked in a fixed order, in batches whose size depends only on how many nodes are
//! linked already. Within a batch, the searches for every node's neighbours run in parallel
//! against the graph as it was when the batch began (read-only); then, one node at a time in
//! order, each node's neighbours are chosen from what its search found plus the batch's earlier
//! nodes, and linked. Nothing a thread does depends on what another did, so the graph is the
//! same bytes whichever thread ran which search.

use super::graph::{GraphSink, GraphSource, MemGraph, Node};
use super::insert;
use super::params::HnswParams;
use super::search::{Cand, Searcher};
use super::space::{MemSpace, Probe, Space, distance};
use crate::error::{Error, Result};
use crate::vector::distance::Kernels;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads a bulk build uses, set by `vindex_build_threads(n)` (0: `VINDEX_BUILD_THREADS`, or
/// every core). Any number gives the same graph.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Set the build's threads (0: the default); the value is capped at 64.
pub fn set_threads(n: usize) {
    THREADS.store(n.min(64), Ordering::Relaxed);
}

/// Threads the next build uses.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::env::var("VINDEX_BUILD_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, 64),
        n => n,
    }
}

/// Largest batch of nodes searched against one state of the graph.
const MAX_BATCH: usize = 64;

fn batch_size(linked: usize) -> usize {
    (linked / 16).clamp(1, MAX_BATCH)
}

/// What a node's searches found on each layer it shares with the graph (top layer first).
type Found = Vec<(usize, Vec<Cand>)>;

fn search_one(
    graph: &MemGraph,
    space: &MemSpace,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
    level: u8,
) -> Result<Found> {
    let code = space.code(n)?.ok_or_else(|| Error::invalid(format!("hnsw build: node {n} has no vector")))?;
    let p = Probe::from(code);
    let s = Searcher::new(graph, space, kernels);
    let Some((start, top)) = s.descend(&p, level as usize)? else { return Ok(Vec::new()) };
    let mut eps = vec![start];
    let mut found = Vec::new();
    for l in (0..=(level as usize).min(top)).rev() {
        let w = s.layer(&p, &eps, params.ef_construction, l, &|x| x != n)?;
        if !w.is_empty() {
            eps = w.clone();
        }
        found.push((l, w));
    }
    Ok(found)
}

/// Link `nodes` (node number, level), in order, into `graph`. `threads` ≥ 1. `progress(done)`
/// is called after each batch and may stop the build by returning an error.
pub fn build(
    graph: &mut MemGraph,
    space: &MemSpace,
    kernels: &Kernels,
    params: &HnswParams,
    nodes: &[(u32, u8)],
    threads: usize,
    progress: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<()> {
    let mut done = 0;
    while done < nodes.len() {
        let linked = graph.len();
        let batch = &nodes[done..(done + batch_size(linked)).min(nodes.len())];
        // 1. Searches against the frozen graph, split over the threads in contiguous parts.
        let found: Vec<Found> = if threads > 1 && batch.len() > 1 {
            let per = batch.len().div_ceil(threads);
            let g: &MemGraph = graph;
            let parts: Vec<Result<Vec<Found>>> = std::thread::scope(|sc| {
                let handles: Vec<_> = batch
                    .chunks(per)
                    .map(|part| {
                        sc.spawn(move || {
                            part.iter()
                                .map(|&(n, l)| search_one(g, space, kernels, params, n, l))
                                .collect::<Result<Vec<_>>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::invalid("hnsw build: a thread failed"))))
                    .collect()
            });
            let mut all = Vec::with_capacity(batch.len());
            for p in parts {
                all.extend(p?);
            }
            all
        } else {
            batch.iter().map(|&(n, l)| search_one(graph, space, kernels, params, n, l)).collect::<Result<Vec<_>>>()?
        };
        // 2. Linking, in order: each node also considers the batch's earlier nodes.
        for (i, (&(n, level), f)) in batch.iter().zip(found).enumerate() {
            link_found(graph, space, kernels, params, n, level, f, &batch[..i])?;
        }
        done += batch.len();
        progress(done)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn link_found(
    graph: &mut MemGraph,
    space: &MemSpace,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
    level: u8,
    found: Found,
    earlier: &[(u32, u8)],
) -> Result<()> {
    let code = space.code(n)?.ok_or_else(|| Error::invalid(format!("hnsw build: node {n} has no vector")))?;
    let p = Probe::from(code);
    let top = match graph.entry()? {
        Some(e) => graph.node(e)?.map_or(0, |x| x.level as usize),
        None => {
            graph.set_node(n, Node::new(level))?;
            return graph.set_entry(Some(n));
        }
    };
    let mut node = Node::new(level);
    let mut chosen: Vec<(usize, Vec<u32>)> = Vec::new();
    // The batch's earlier nodes (heads only: members are found through their heads), with
    // their distances, computed once for every layer.
    let mut near_earlier: Vec<(Cand, u8)> = Vec::with_capacity(earlier.len());
    for &(e, el) in earlier {
        if let Some(d) = distance(space, kernels, &p, e)? {
            near_earlier.push((Cand { d, n: e }, el));
        }
    }
    let mut nearest: Vec<Cand> = found.iter().find(|(fl, _)| *fl == 0).map(|(_, w)| w.clone()).unwrap_or_default();
    nearest.extend(near_earlier.iter().map(|(c, _)| *c));
    nearest.sort_unstable();
    if let Some(head) = insert::group_for(&*graph, space, n, &nearest)? {
        return insert::join_group(graph, head, n);
    }
    for l in 0..=(level as usize).min(top) {
        let mut cands: Vec<Cand> = found.iter().find(|(fl, _)| *fl == l).map(|(_, w)| w.clone()).unwrap_or_default();
        for &(c, el) in &near_earlier {
            if el as usize >= l && graph.node(c.n)?.is_some_and(|x| x.head.is_none()) {
                cands.push(c);
            }
        }
        cands.sort_unstable();
        cands.dedup_by_key(|c| c.n);
        let mut kept = insert::select(space, kernels, &cands, params.max_links(l))?;
        kept.sort_unstable();
        node.links[l] = kept.clone();
        chosen.push((l, kept));
    }
    graph.set_node(n, node)?;
    for (l, nbrs) in chosen {
        for e in nbrs {
            insert::link_back(graph, space, kernels, params, e, l, n)?;
        }
    }
    if level as usize > top {
        graph.set_entry(Some(n))?;
    }
    Ok(())
}
