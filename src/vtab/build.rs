//! Whole-index work inside one statement: building a column's graph at once (`'rebuild'`, and
//! `'index=hnsw(...)'` on a filled table), and moving a table from one index to another
//! (`INSERT INTO t(t) VALUES ('index=...')`).
//!
//! A build reads the vectors once, codes them in memory, links the graph on several threads
//! ([`crate::index::hnsw::build`]: the same graph for any number of them) and writes its rows.
//! Like every command it is one undoable unit: an error or an interrupt leaves the table as it
//! was, and the caller's transaction decides whether the new index stays.

use super::TableInner;
use super::overlay::{OGraph, OLeaf};
use crate::error::{Error, Result};
use crate::index::IndexSpec;
use crate::index::IndexWriter;
use crate::index::chunk::SlotCode;
use crate::index::hnsw::graph::{GraphSource, LEAF, Leaf, MemGraph};
use crate::index::hnsw::params::{HnswParams, level_of};
use crate::index::hnsw::space::{MemSpace, SpaceKind};
use crate::index::hnsw::{build, insert, node_of, space_kind};
use crate::store::Loc;
use crate::store::idmap::IdMap;
use crate::value::OwnedValue;
use crate::vector::from_blob;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// The `t_info` key counting rows deleted since the last repair pass.
const STALE_KEY: &str = "hnsw.deleted_unrepaired";

impl TableInner {
    /// Column `col`'s vectors as graph codes, and its nodes (ascending) with their levels.
    fn graph_input(&self, col: usize, params: &HnswParams, seed: i64) -> Result<(MemSpace, Vec<(u32, u8)>)> {
        let s = &self.store;
        let l = s.cols[col];
        let cap = s.capacity;
        let kind = space_kind(l.ty, l.metric);
        let mut space = MemSpace::new(l.metric, if kind == SpaceKind::Sq8 { l.dims } else { l.bytes });
        space.kind = kind;
        let mut nodes = Vec::new();
        let mut vectors = vec![0u8; l.bytes * cap];
        let mut reader = s.vector_reader(col);
        for id in s.chunk_ids()? {
            let maps = s.load_maps(id)?.ok_or_else(|| Error::corrupt(format!("chunk {id} vanished")))?;
            reader.read(id, &mut vectors)?;
            for slot in (0..cap).filter(|x| maps.is_used(*x)) {
                let n = node_of(id, slot, cap);
                let rowid = maps.rowids[slot];
                let bytes = &vectors[slot * l.bytes..(slot + 1) * l.bytes];
                if kind == SpaceKind::Sq8 {
                    let v = from_blob(bytes, l.ty).map_err(|e| e.context(&format!("chunk {id} slot {slot}")))?;
                    let c = SlotCode::encode(&v.to_f32_vec());
                    space.set(n, rowid, &c.code, c.scale, c.norm);
                } else {
                    space.set(n, rowid, bytemuck::cast_slice(bytes), 0.0, 0.0);
                }
                nodes.push((n, level_of(rowid, seed, params.m)));
            }
        }
        Ok((space, nodes))
    }

    /// Replace column `col`'s graph with one built from its vectors, inside the current unit.
    fn build_graph(&self, col: usize, params: &HnswParams, seed: i64) -> Result<()> {
        let (space, nodes) = self.graph_input(col, params, seed)?;
        let counters = &self.cache.counters;
        counters.build_total.store(nodes.len() as u64, Ordering::Relaxed);
        counters.build_done.store(0, Ordering::Relaxed);
        let mut graph = MemGraph::with_links(params.max_links(0));
        let db = self.db;
        let started = std::time::Instant::now();
        let threads = build::threads();
        // Part of the running command's progress ('rebuild', 'index=...'), or its own.
        let progress = counters.start_task("build", nodes.len() as u64);
        let mut reported = 0;
        let r =
            build::build(&mut graph, &space, crate::simd::kernels(), params, &nodes, build::threads(), &mut |done| {
                counters.build_done.store(done as u64, Ordering::Relaxed);
                progress.step(done.saturating_sub(reported) as u64);
                reported = reported.max(done);
                // A statement run now fails when the connection was interrupted.
                db.prepare("SELECT 1", false)?.step().map(|_| ())
            });
        counters.build_total.store(0, Ordering::Relaxed);
        counters.build_done.store(0, Ordering::Relaxed);
        r?;
        if let Ok(mut last) = counters.last_build.lock() {
            *last =
                Some(format!("{} nodes in {:.1} s on {threads} threads", nodes.len(), started.elapsed().as_secs_f64()));
        }
        let s = &self.store;
        s.clear_graph(col)?;
        let mut leaves: IdMap<u32, Leaf> = IdMap::default();
        for (n, node) in graph.iter() {
            s.insert_node(col, n, node)?;
            leaves.entry(n / LEAF).or_insert_with(Leaf::empty).nodes[(n % LEAF) as usize] = Some(node.clone());
        }
        let entry = graph.entry()?;
        s.set_graph_entry(col, entry)?;
        s.info_set(STALE_KEY, OwnedValue::Integer(0))?;
        let mut ov = self.overlay()?;
        ov.changes.everything();
        if let Some(g) = ov.graphs.get_mut(col) {
            let max0 = params.max_links(0);
            let leaves = leaves.into_iter().map(|(id, l)| (id, OLeaf::new(l, max0))).collect();
            *g = OGraph { leaves, entry: Some(entry) };
        }
        Ok(())
    }

    /// The repair pass of `'optimize'` on a graph table: every node's lists lose their links
    /// to deleted rows (relinked from the remaining neighbours' neighbours). Bounded by one
    /// pass over the nodes. Returns the nodes rewritten.
    pub fn repair_graphs(&self) -> Result<usize> {
        let IndexSpec::Hnsw(params) = self.spec.borrow().clone() else { return Ok(0) };
        let kernels = crate::simd::kernels();
        let mut fixed = 0;
        let progress = self.cache.counters.start_task("optimize", self.graph_node_count()?);
        self.unit(|| {
            for col in 0..self.store.cols.len() {
                let nodes = self.store.graph_nodes(col)?;
                let mut ov = self.overlay()?;
                let mut w = super::update::Writer::new(&self.store, &mut ov, self.graph_links());
                w.with_graph(col, &mut |g, sp| {
                    for &n in &nodes {
                        progress.step(1);
                        if insert::repair(g, sp, kernels, &params, n)? {
                            fixed += 1;
                        }
                    }
                    Ok(())
                })?;
            }
            self.store.info_set(STALE_KEY, OwnedValue::Integer(0))
        })?;
        Ok(fixed)
    }

    /// After 'optimize' moved rows (`moves`: from, to), give their graph nodes the numbers of
    /// their new slots, in every node, link and group: the graph keeps its shape.
    pub fn relabel_graphs(&self, moves: &[(Loc, Loc)]) -> Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let cap = self.store.capacity;
        let map: HashMap<u32, u32> =
            moves.iter().map(|(f, t)| (node_of(f.chunk, f.slot, cap), node_of(t.chunk, t.slot, cap))).collect();
        let to = |x: u32| map.get(&x).copied().unwrap_or(x);
        for col in 0..self.store.cols.len() {
            let nodes = self.store.graph_nodes(col)?;
            let mut ov = self.overlay()?;
            let mut w = super::update::Writer::new(&self.store, &mut ov, self.graph_links());
            w.with_graph(col, &mut |g, _| {
                for &n in &nodes {
                    let Some(old) = g.node(n)?.cloned() else { continue };
                    let mut node = old.clone();
                    for list in node.links.iter_mut() {
                        for x in list.iter_mut() {
                            *x = to(*x);
                        }
                        list.sort_unstable();
                    }
                    for x in node.dups.iter_mut() {
                        *x = to(*x);
                    }
                    node.dups.sort_unstable();
                    node.head = node.head.map(to);
                    let m = to(n);
                    if m != n {
                        g.remove_node(n)?;
                        g.set_node(m, node)?;
                    } else if node != old {
                        g.set_node(n, node)?;
                    }
                }
                if let Some(e) = g.entry()?
                    && to(e) != e
                {
                    g.set_entry(Some(to(e)))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Nodes of every column's graph (the work of a repair pass).
    pub fn graph_node_count(&self) -> Result<u64> {
        let mut n = 0;
        for col in 0..self.store.cols.len() {
            n += self.store.graph_rows(col)?.max(0) as u64;
        }
        Ok(n)
    }

    /// Rows deleted since the graph's last repair pass (`vindex_status.deleted_unrepaired`).
    pub fn deleted_unrepaired(&self) -> Result<i64> {
        Ok(match self.store.info_get(STALE_KEY)? {
            Some(OwnedValue::Integer(i)) => i,
            _ => 0,
        })
    }

    /// Count a deleted row of a graph table (inside the deleting unit).
    pub fn count_unrepaired(&self) -> Result<()> {
        let n = self.deleted_unrepaired()?;
        self.store.info_set(STALE_KEY, OwnedValue::Integer(n + 1))
    }

    /// `'rebuild'` of a graph table: every column's graph built again from its vectors.
    pub fn rebuild_graphs(&self) -> Result<()> {
        let IndexSpec::Hnsw(p) = self.spec.borrow().clone() else { return Ok(()) };
        let seed = self.seed();
        self.unit(|| (0..self.store.cols.len()).try_for_each(|c| self.build_graph(c, &p, seed)))
    }

    /// The table's seed (levels of graph nodes are drawn from it).
    pub fn seed(&self) -> i64 {
        self.store.info_i64("seed").unwrap_or(self.def.seed)
    }

    /// `'index=...'`: move the table to another index (or other parameters), building what
    /// the new one needs from the vectors and dropping what the old one kept.
    pub fn change_index(&self, text: &str) -> Result<()> {
        let new = IndexSpec::parse(text).map_err(|e| e.context(self.tname()))?;
        for l in &self.store.cols {
            new.check_column(l.ty, l.metric).map_err(|e| e.context(self.tname()))?;
        }
        let seed = self.seed();
        // What the pages say (this connection's copy may predate a rollback).
        let old = super::stored_spec(&self.store).unwrap_or_else(|| self.spec.borrow().clone());
        if old != *self.spec.borrow() {
            self.use_spec(old.clone(), seed);
        }
        if new == old {
            return Ok(());
        }
        let work = if matches!(new, IndexSpec::Hnsw(_) | IndexSpec::Ivf(_)) {
            self.store.chunk_counts_all()? * self.store.cols.len() as u64
        } else {
            0
        };
        let _progress = self.cache.counters.start_task("index", work);
        let r = self.unit(|| {
            self.overlay()?.changes.everything();
            let s = &self.store;
            let ids = s.chunk_ids()?;
            let (was_graph, was_ivf) = (matches!(old, IndexSpec::Hnsw(_)), old.ivf_quantizer().is_some());
            let (graph, ivf) = (matches!(new, IndexSpec::Hnsw(_)), new.ivf_quantizer().is_some());
            for c in 0..s.cols.len() {
                if s.cols[c].coded {
                    match (old.persists_codes(), new.persists_codes()) {
                        (true, false) => s.remove_code_rows(c)?,
                        (false, true) => s.add_code_rows(c, &ids)?,
                        _ => {}
                    }
                }
                if was_graph && !graph {
                    s.clear_graph(c)?;
                    s.set_graph_entry(c, None)?;
                }
                if was_ivf {
                    s.clear_ivf(c)?;
                    if !ivf {
                        s.remove_slot_rows(c)?;
                    }
                } else if ivf {
                    for &id in &ids {
                        s.write_slot_row(
                            crate::store::col_row_id(id, c),
                            vec![0u8; crate::store::ivf::SLOT_BYTES * s.capacity],
                            None,
                        )?;
                    }
                }
            }
            s.info_set("index", OwnedValue::Text(new.describe()))?;
            self.use_spec(new.clone(), seed);
            match &new {
                IndexSpec::Hnsw(p) => (0..s.cols.len()).try_for_each(|c| self.build_graph(c, p, seed)),
                IndexSpec::Ivf(p) => self.build_ivf_all(p),
                IndexSpec::Flat => Ok(()),
            }
        });
        if r.is_err() {
            self.use_spec(old, seed);
        }
        r
    }

    /// Use `spec` from now on (this connection changed the index, or saw another one do it).
    pub fn use_spec(&self, spec: IndexSpec, seed: i64) {
        self.store.set_graph(matches!(spec, IndexSpec::Hnsw(_)));
        self.store.set_ivf(spec.ivf_quantizer());
        *self.indexes.borrow_mut() = super::indexes_for(&self.def, &spec, seed);
        *self.spec.borrow_mut() = spec;
    }
}
