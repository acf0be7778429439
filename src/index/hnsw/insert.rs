//! Linking a node into the graph (Algorithm 1 of Malkov & Yashunin, with the neighbour
//! selection heuristic of Algorithm 4), and relinking the neighbours of a deleted node.
//!
//! Nodes whose slot holds no row any more (their row was deleted, and a link to them was left
//! behind) are dropped from a list whenever that list is rewritten, and never selected: a
//! deleted node never blocks a new link.

use super::graph::{GraphSink, Node};
use super::params::HnswParams;
use super::search::{Cand, Searcher};
use super::space::{Probe, Space, distance};
use crate::error::{Error, Result};
use crate::vector::distance::Kernels;

/// Algorithm 4 without extension: from candidates ascending by distance to the base node, keep
/// each one that is nearer to the base than to every one kept so far, up to `m`.
pub fn select(space: &dyn Space, kernels: &Kernels, cands: &[Cand], m: usize) -> Result<Vec<u32>> {
    let mut kept: Vec<u32> = Vec::with_capacity(m);
    for c in cands {
        if kept.len() >= m {
            break;
        }
        let Some(p) = space.probe(c.n)? else { continue };
        let mut good = true;
        for &r in &kept {
            if distance(space, kernels, &p, r)?.is_some_and(|d| d < c.d) {
                good = false;
                break;
            }
        }
        if good {
            kept.push(c.n);
        }
    }
    Ok(kept)
}

/// Whether nodes `a` and `b` have the same code (bytes and parameters): one group in the graph.
pub fn same_code(space: &dyn Space, a: u32, b: u32) -> Result<bool> {
    Ok(match (space.code(a)?, space.code(b)?) {
        (Some(x), Some(y)) => {
            x.code == y.code && x.scale.to_bits() == y.scale.to_bits() && x.norm.to_bits() == y.norm.to_bits()
        }
        _ => false,
    })
}

/// The head of a group whose code `n` has, among the nearest candidates (those a search ranks
/// first: equal codes are at equal distance, near-equal vectors may come before them).
pub fn group_for(
    graph: &dyn super::graph::GraphSource,
    space: &dyn Space,
    n: u32,
    nearest: &[Cand],
) -> Result<Option<u32>> {
    for c in nearest.iter().take(8) {
        if c.n != n && same_code(space, n, c.n)? {
            let head = graph.node(c.n)?.and_then(|x| x.head).unwrap_or(c.n);
            return Ok(Some(head));
        }
    }
    Ok(None)
}

/// Make `n` a member of `head`'s group.
pub fn join_group(graph: &mut dyn GraphSink, head: u32, n: u32) -> Result<()> {
    let mut h =
        graph.node(head)?.cloned().ok_or_else(|| Error::corrupt(format!("hnsw: group head {head} is missing")))?;
    if !h.dups.contains(&n) {
        h.dups.push(n);
        h.dups.sort_unstable();
    }
    graph.set_node(head, h)?;
    graph.set_node(n, Node::member(head))
}

/// `ids` with their distances to `base`, ascending; ids without a row are dropped.
fn ranked(space: &dyn Space, kernels: &Kernels, base: &Probe<'_>, ids: impl Iterator<Item = u32>) -> Result<Vec<Cand>> {
    let mut out = Vec::new();
    for n in ids {
        if let Some(d) = distance(space, kernels, base, n)? {
            out.push(Cand { d, n });
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|c| c.n);
    Ok(out)
}

/// Make `n`'s layer-`level` list hold `add` too (dropping dead links), pruning it to the
/// layer's maximum with the heuristic when it overflows.
pub(super) fn link_back(
    graph: &mut dyn GraphSink,
    space: &dyn Space,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
    level: usize,
    add: u32,
) -> Result<()> {
    let Some(mut node) = graph.node(n)?.cloned() else { return Ok(()) };
    let Some(base) = space.probe(n)? else { return Ok(()) };
    if node.links.len() <= level {
        return Ok(());
    }
    let max = params.max_links(level);
    let mut list = node.links[level].clone();
    if list.contains(&add) {
        return Ok(());
    }
    list.push(add);
    let mut live: Vec<u32> = Vec::with_capacity(list.len());
    for x in list {
        if x != n && space.code_ref(x)?.is_some() {
            live.push(x);
        }
    }
    live.sort_unstable();
    live.dedup();
    if live.len() > max {
        // Full: keep the best spread of them (distances are needed only now).
        let cands = ranked(space, kernels, &base, live.into_iter())?;
        let mut kept = select(space, kernels, &cands, max)?;
        // Lists are ascending in memory as on disk, so every copy of a graph searches alike.
        kept.sort_unstable();
        node.links[level] = kept;
    } else {
        node.links[level] = live;
    }
    graph.set_node(n, node)
}

/// Link node `n` (whose code `space` has, at `level`) into the graph.
pub fn insert(
    graph: &mut dyn GraphSink,
    space: &dyn Space,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
    level: u8,
) -> Result<()> {
    let code = space.code(n)?.ok_or_else(|| Error::invalid(format!("hnsw: node {n} has no vector")))?;
    let p = Probe::from(code);
    // The neighbours of the new node on each layer it shares with the graph, found before any
    // change (the graph is read through a shared borrow).
    let (found, top) = {
        let s = Searcher::new(&*graph, space, kernels);
        let Some((start, top)) = s.descend(&p, level as usize)? else {
            graph.set_node(n, Node::new(level))?;
            return graph.set_entry(Some(n));
        };
        let mut eps = vec![start];
        let mut found: Vec<(usize, Vec<u32>)> = Vec::new();
        let mut nearest = Vec::new();
        for l in (0..=(level as usize).min(top)).rev() {
            let w = s.layer(&p, &eps, params.ef_construction, l, &|x| x != n)?;
            let w: Vec<Cand> = w.into_iter().filter(|c| c.n != n).collect();
            if l == 0 {
                nearest = w.iter().take(8).copied().collect();
            }
            found.push((l, select(space, kernels, &w, params.max_links(l))?));
            if !w.is_empty() {
                eps = w;
            }
        }
        if let Some(head) = group_for(&*graph, space, n, &nearest)? {
            return join_group(graph, head, n);
        }
        (found, top)
    };
    let mut node = Node::new(level);
    for (l, nbrs) in &found {
        let mut sorted = nbrs.clone();
        sorted.sort_unstable();
        node.links[*l] = sorted;
    }
    graph.set_node(n, node)?;
    for (l, nbrs) in &found {
        for &e in nbrs {
            link_back(graph, space, kernels, params, e, *l, n)?;
        }
    }
    if level as usize > top {
        graph.set_entry(Some(n))?;
    }
    Ok(())
}

/// Remove node `n`: each neighbour that links back to it is relinked among its other
/// neighbours and `n`'s (FreshDiskANN-style repair), and a new entry is chosen if `n` was it.
pub fn remove(
    graph: &mut dyn GraphSink,
    space: &dyn Space,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
    seed: i64,
) -> Result<()> {
    let Some(node) = graph.node(n)?.cloned() else { return Ok(()) };
    if let Some(h) = node.head {
        // A member: leave its head's group.
        if let Some(mut hn) = graph.node(h)?.cloned() {
            hn.dups.retain(|&x| x != n);
            graph.set_node(h, hn)?;
        }
        return graph.remove_node(n);
    }
    if let Some(&m) = node.dups.first() {
        let rowid = space.code(m)?.map_or(m as i64, |c| c.rowid);
        let level = super::params::level_of(rowid, seed, params.m);
        if level as usize + 1 != node.links.len() {
            // The first member's own level is another: unlink the head as a lone node, link
            // the member at its level, and the other members follow it (a head's level is
            // always its own rowid's, FORMAT.md).
            let rest: Vec<u32> = node.dups[1..].to_vec();
            let mut lone = node.clone();
            lone.dups.clear();
            graph.set_node(n, lone)?;
            graph.remove_node(m)?;
            remove(graph, space, kernels, params, n, seed)?;
            insert(graph, space, kernels, params, m, level)?;
            let head = graph.node(m)?.and_then(|x| x.head).unwrap_or(m);
            for d in rest {
                join_group(graph, head, d)?;
            }
            return Ok(());
        }
        // A head with members: the first member takes its place, links and all (their codes
        // are the same, and so is their level), and the nodes that link to the head link to it.
        let mut heir = node.clone();
        heir.dups.remove(0);
        for &d in &heir.dups {
            graph.set_node(d, Node::member(m))?;
        }
        for (l, layer) in node.links.iter().enumerate() {
            for &y in layer {
                let Some(mut yn) = graph.node(y)?.cloned() else { continue };
                if let Some(slot) = yn.links.get_mut(l).and_then(|list| list.iter_mut().find(|x| **x == n)) {
                    *slot = m;
                    yn.links[l].sort_unstable();
                    graph.set_node(y, yn)?;
                }
            }
        }
        graph.set_node(m, heir)?;
        graph.remove_node(n)?;
        if graph.entry()? == Some(n) {
            graph.set_entry(Some(m))?;
        }
        return Ok(());
    }
    for (l, layer) in node.links.iter().enumerate() {
        for &y in layer {
            let Some(mut yn) = graph.node(y)?.cloned() else { continue };
            if yn.links.len() <= l || !yn.links[l].contains(&n) {
                continue;
            }
            let Some(code) = space.code(y)? else { continue };
            let base = Probe::from(code);
            let pool = yn.links[l].iter().chain(layer.iter()).copied().filter(|&x| x != n && x != y);
            let cands = ranked(space, kernels, &base, pool)?;
            let mut kept = select(space, kernels, &cands, params.max_links(l))?;
            kept.sort_unstable();
            yn.links[l] = kept;
            graph.set_node(y, yn)?;
        }
    }
    graph.remove_node(n)?;
    if graph.entry()? == Some(n) {
        let e = graph.highest_node(n)?;
        graph.set_entry(e)?;
    }
    Ok(())
}

/// Rewrite node `n`'s lists without links to slots that hold no row, relinking a layer that
/// lost links from its remaining neighbours' neighbours. Returns whether anything changed.
pub fn repair(
    graph: &mut dyn GraphSink,
    space: &dyn Space,
    kernels: &Kernels,
    params: &HnswParams,
    n: u32,
) -> Result<bool> {
    let Some(mut node) = graph.node(n)?.cloned() else { return Ok(false) };
    if node.head.is_some() {
        return Ok(false);
    }
    let Some(code) = space.code(n)? else { return Ok(false) };
    let base = Probe::from(code);
    let mut changed = false;
    for l in 0..node.links.len() {
        let live: Vec<u32> =
            node.links[l].iter().copied().filter(|&x| space.code_ref(x).is_ok_and(|c| c.is_some())).collect();
        if live.len() == node.links[l].len() {
            continue;
        }
        changed = true;
        let mut pool = live.clone();
        for &x in &live {
            if let Some(xn) = graph.node(x)? {
                pool.extend(xn.layer(l).iter().copied().filter(|&y| y != n));
            }
        }
        let cands = ranked(space, kernels, &base, pool.into_iter())?;
        let mut kept = select(space, kernels, &cands, params.max_links(l))?;
        kept.sort_unstable();
        node.links[l] = kept;
    }
    if changed {
        graph.set_node(n, node)?;
    }
    Ok(changed)
}
