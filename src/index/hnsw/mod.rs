//! HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs") kept in SQLite rows: one row per node, links as
//! node numbers (docs/FORMAT.md, `t_hnsw`). A node is a slot of the table's chunks, so a link
//! leads straight to a vector; levels come from a hash of the rowid and the table's seed.
//!
//! - `params`: parameters, bounds and levels.
//! - `graph`: nodes, their row encoding, and the traits the algorithms read and write through.
//! - `space`: distances on int8 codes (exact integer arithmetic: every CPU makes the same graph).
//! - `level0`: a cached version's layer 0 and codes in one array, for fast searches.
//! - `search`: layer search, greedy descent, k-nearest search with a filter inside.
//! - `insert`: linking a node, relinking around a deleted one, repairing stale links.
//! - `build`: a whole graph at once, on several threads, the same for any number of them.
//!
//! Searches navigate by code distances and rescore the candidates they keep with exact float32
//! distances, so results carry exact distances.

pub mod build;
pub mod graph;
pub mod insert;
pub mod level0;
pub mod params;
pub mod patched;
pub mod search;
pub mod space;

use super::flat::{ColumnInfo, exact_search};
use super::scan::{Hit, TopK};
use super::{ChunkSource, FilterStrategy, IndexSpec, IndexWriter, SearchRequest, SearchStats, VectorIndex};
use crate::error::Result;
use crate::index::quant::sq8::QueryCode;
use crate::value::OwnedValue;
use crate::vector::distance::Metric;
use crate::vector::{ElementType, Vector};
use graph::GraphSource;
use params::{HnswParams, level_of};
use search::Searcher;
use space::{Probe, Space, SpaceKind};

/// The node of `slot` in `chunk` (chunk ids start at 1).
#[inline]
pub fn node_of(chunk: i64, slot: usize, capacity: usize) -> u32 {
    ((chunk - 1) as u64 * capacity as u64 + slot as u64) as u32
}

/// (chunk, slot) of node `n`.
#[inline]
pub fn slot_of(n: u32, capacity: usize) -> (i64, usize) {
    ((n as usize / capacity) as i64 + 1, n as usize % capacity)
}

/// How a column of this element type and metric navigates its graph.
pub fn space_kind(ty: ElementType, metric: Metric) -> SpaceKind {
    match (ty, metric) {
        (ElementType::Bit, _) => SpaceKind::Bits,
        (ElementType::Float32, Metric::L1) => SpaceKind::RawF32,
        (ElementType::Float16, Metric::L1) => SpaceKind::RawF16,
        (ElementType::Int8, Metric::L1) => SpaceKind::RawI8,
        _ => SpaceKind::Sq8,
    }
}

/// The query as a graph probe: its int8 code (None when it cannot be coded), or its bytes.
pub fn query_probe(kind: SpaceKind, metric: Metric, q: &Vector<'_>) -> (Option<QueryCode>, Vec<i8>) {
    match kind {
        SpaceKind::Sq8 => {
            let qc = QueryCode::new(&q.to_f32_vec(), metric);
            if qc.params().is_some() { (Some(qc), Vec::new()) } else { (None, Vec::new()) }
        }
        _ => (None, bytemuck::cast_slice(q.as_bytes()).to_vec()),
    }
}

/// An HNSW index of one vector column.
pub struct HnswIndex {
    spec: IndexSpec,
    info: ColumnInfo,
    params: HnswParams,
    seed: i64,
    kind: SpaceKind,
}

impl HnswIndex {
    pub fn new(info: ColumnInfo, params: HnswParams, seed: i64) -> HnswIndex {
        HnswIndex { spec: IndexSpec::Hnsw(params), info, params, seed, kind: space_kind(info.ty, info.metric) }
    }
    pub fn params(&self) -> &HnswParams {
        &self.params
    }
    pub fn seed(&self) -> i64 {
        self.seed
    }
    pub fn kind(&self) -> SpaceKind {
        self.kind
    }

    /// The candidates a graph search keeps for `k` results.
    fn ef(&self, req: &SearchRequest<'_>, k: usize) -> usize {
        req.ef_search.unwrap_or(self.params.ef_search).max(k).max(1)
    }
}

impl VectorIndex for HnswIndex {
    fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    fn on_write(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize, _vector: &[u8]) -> Result<()> {
        let n = node_of(chunk, slot, w.capacity());
        let (params, seed) = (self.params, self.seed);
        let kernels = crate::simd::kernels();
        w.with_graph(col, &mut |g, sp| {
            if g.node(n)?.is_some() {
                insert::remove(g, sp, kernels, &params, n, seed)?;
            }
            let rowid = sp.code(n)?.map(|c| c.rowid).unwrap_or(n as i64);
            insert::insert(g, sp, kernels, &params, n, level_of(rowid, seed, params.m))
        })
    }

    fn on_delete(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize) -> Result<()> {
        let n = node_of(chunk, slot, w.capacity());
        let (params, seed) = (self.params, self.seed);
        let kernels = crate::simd::kernels();
        w.with_graph(col, &mut |g, sp| insert::remove(g, sp, kernels, &params, n, seed))
    }

    fn search(&self, src: &dyn ChunkSource, req: &SearchRequest<'_>, out: &mut TopK) -> Result<SearchStats> {
        let (qc, raw) = query_probe(self.kind, self.info.metric, req.scorer.query());
        let probe = match (&qc, self.kind) {
            (Some(q), SpaceKind::Sq8) => {
                let (scale, norm) = q.params().unwrap_or((0.0, 0.0));
                Some(Probe { code: &q.codes, scale, norm })
            }
            (_, SpaceKind::Sq8) => None,
            _ => Some(Probe { code: &raw, scale: 0.0, norm: 0.0 }),
        };
        // Few rows pass the filters, or a query no code can describe: search exactly.
        let Some(probe) = probe.filter(|_| !req.exact) else {
            // Graph tables hold navigation codes, not the prescan's: score the vectors.
            return exact_search(src, &ColumnInfo { coded: false, ..self.info }, req, out);
        };
        let cap = src.capacity();
        let (graph, space) = src.graph(req.col)?;
        let filter = crate::index::NodeFilter::new(req.masks, cap);
        let admit = |n: u32| filter.admits(n);
        let kernels = crate::simd::kernels();
        let s = Searcher::new(graph, space, kernels);
        let ef = self.ef(req, out.k());
        let l0 = src.level0(req.col)?;
        // No array of this version yet: an earlier version's, for the nodes unchanged since.
        let patched = match l0 {
            Some(_) => None,
            None => src.level0_base(req.col)?.map(|(b, changed)| patched::Patched::new(b, changed, graph, space)),
        };
        let cands = match (l0, &patched) {
            // The same search, read from one array.
            (Some(l0), _) => Searcher::new(l0, l0, kernels).knn(&probe, ef, &admit)?,
            (None, Some(p)) => Searcher::new(p, p, kernels).knn(&probe, ef, &admit)?,
            (None, None) => s.knn(&probe, ef, &admit)?,
        };
        // Rowids, group heads and vectors to prefetch: from the array when there is one.
        let (heads, codes): (&dyn GraphSource, &dyn Space) = match (l0, &patched) {
            (Some(l0), _) => (l0, l0),
            (None, Some(p)) => (p, p),
            (None, None) => (graph, space),
        };
        // Rescore what the search kept (and the other members of equal-code groups) exactly.
        let mut stats = SearchStats { from_memory: src.served_from_memory(), scored: 0 };
        let mut buf = vec![0u8; self.info.bytes];
        let mut rescore = |n: u32, out: &mut TopK| -> Result<()> {
            let Some(code) = codes.code(n)? else { return Ok(()) };
            let (chunk, slot) = slot_of(n, cap);
            let v = match l0.and_then(|l| l.vector(n)).or_else(|| patched.as_ref().and_then(|p| p.vector(n))) {
                Some(v) => v,
                None => {
                    src.read_vector(req.col, chunk, slot, &mut buf)?;
                    // The chunk's vectors may be in memory now: the array keeps them.
                    if let Some(l0) = l0.or_else(|| patched.as_ref().and_then(|p| p.array_for(n)))
                        && let Some(v) = src.chunk_vectors(req.col, chunk)
                    {
                        l0.set_vectors(chunk, v);
                    }
                    &buf
                }
            };
            stats.scored += 1;
            if let Some(d) = req.scorer.score(v)
                && d <= out.bound()
                && req.bounds.admits(d)
            {
                out.push(Hit { distance: d, rowid: code.rowid, chunk, slot: slot as u32 });
            }
            Ok(())
        };
        // The vectors of the next few candidates are requested while one is rescored.
        const AHEAD: usize = 4;
        for c in cands.iter().take(AHEAD) {
            codes.prefetch_vector(c.n);
        }
        for (i, c) in cands.iter().enumerate() {
            if let Some(next) = cands.get(i + AHEAD) {
                codes.prefetch_vector(next.n);
            }
            rescore(c.n, out)?;
            // The group's members are listed by the graph's node (the array keeps only heads).
            if heads.has_dups(c.n)?
                && let Some(node) = graph.node(c.n)?
            {
                for &m in &node.dups {
                    if admit(m) {
                        rescore(m, out)?;
                    }
                }
            }
        }
        Ok(stats)
    }

    fn filter_strategy(&self, share: f64, _rows: usize) -> FilterStrategy {
        if share < 0.02 {
            FilterStrategy::Exact
        } else if share < 0.1 {
            FilterStrategy::Inside
        } else {
            FilterStrategy::After
        }
    }

    fn check(&self, _src: &dyn ChunkSource, _col: usize, _problems: &mut Vec<String>) -> Result<()> {
        // The graph's rows are checked against the slots by the table's check (vtab::check).
        Ok(())
    }

    fn status(&self) -> Vec<(&'static str, OwnedValue)> {
        vec![("prescan", OwnedValue::Text("n/a".into()))]
    }
}

#[cfg(test)]
mod tests {
    use super::build::build;
    use super::graph::{GraphSource, MemGraph};
    use super::insert::{insert, remove, repair};
    use super::params::{HnswParams, level_of};
    use super::search::Searcher;
    use super::space::{MemSpace, Probe};
    use crate::index::chunk::SlotCode;
    use crate::index::quant::sq8::QueryCode;
    use crate::vector::distance::{Metric, f32_distance, scalar};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `n` vectors around `clusters` centres in a latent space of `dims / 4` dimensions,
    /// projected to `dims` with a little isotropic noise, unit length: clustered, with a low
    /// intrinsic dimension, as sentence embeddings are.
    fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let latent = (dims / 4).max(2);
        let mut s = 12345u64; // the projection and centres are the same for every seed
        let proj: Vec<Vec<f32>> = (0..dims).map(|_| (0..latent).map(|_| lcg(&mut s)).collect()).collect();
        let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..latent).map(|_| lcg(&mut s)).collect()).collect();
        let mut s = seed;
        (0..n)
            .map(|i| {
                let c = &centres[(i * 7919 + seed as usize) % clusters];
                let z: Vec<f32> = c.iter().map(|x| x + 0.3 * lcg(&mut s)).collect();
                let v: Vec<f32> = proj
                    .iter()
                    .map(|row| row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * lcg(&mut s))
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / norm).collect()
            })
            .collect()
    }

    fn space_of(vs: &[Vec<f32>], metric: Metric) -> MemSpace {
        let mut sp = MemSpace::new(metric, vs[0].len());
        for (i, v) in vs.iter().enumerate() {
            let c = SlotCode::encode(v);
            sp.set(i as u32, i as i64 + 1, &c.code, c.scale, c.norm);
        }
        sp
    }

    /// recall@10 of `graph` against brute force, rescoring `ef` candidates exactly.
    fn recall(
        graph: &MemGraph,
        sp: &MemSpace,
        vs: &[Vec<f32>],
        queries: &[Vec<f32>],
        ef: usize,
        live: &dyn Fn(u32) -> bool,
    ) -> f64 {
        let k = scalar::KERNELS;
        let kern = crate::simd::kernels();
        let mut hits = 0;
        for q in queries {
            let qc = QueryCode::new(q, sp.metric);
            let (scale, norm) = qc.params().unwrap();
            let p = Probe { code: &qc.codes, scale, norm };
            let s = Searcher::new(graph, sp, kern);
            let cands = s.knn(&p, ef, live).unwrap();
            let mut got: Vec<(f64, u32)> =
                cands.iter().map(|c| (f32_distance(&k, sp.metric, &vs[c.n as usize], q).unwrap(), c.n)).collect();
            got.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut want: Vec<(f64, u32)> = (0..vs.len() as u32)
                .filter(|n| live(*n))
                .map(|n| (f32_distance(&k, sp.metric, &vs[n as usize], q).unwrap(), n))
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0));
            let want: Vec<u32> = want.iter().take(10).map(|x| x.1).collect();
            hits += got.iter().take(10).filter(|x| want.contains(&x.1)).count();
        }
        hits as f64 / (10 * queries.len()) as f64
    }

    fn incremental(sp: &MemSpace, n: usize, params: &HnswParams) -> MemGraph {
        let mut g = MemGraph::default();
        let kern = crate::simd::kernels();
        for i in 0..n as u32 {
            insert(&mut g, sp, kern, params, i, level_of(i as i64 + 1, 0, params.m)).unwrap();
        }
        g
    }

    #[test]
    fn recall_of_incremental_and_bulk_builds() {
        let vs = clustered(3000, 48, 40, 1);
        let qs = clustered(60, 48, 40, 99);
        let sp = space_of(&vs, Metric::Cosine);
        let params = HnswParams { m: 12, ef_construction: 100, ef_search: 40 };
        let g = incremental(&sp, vs.len(), &params);
        let r = recall(&g, &sp, &vs, &qs, 40, &|_| true);
        assert!(r >= 0.95, "incremental recall {r}");
        let nodes: Vec<(u32, u8)> = (0..vs.len() as u32).map(|i| (i, level_of(i as i64 + 1, 0, params.m))).collect();
        let mut b1 = MemGraph::default();
        build(&mut b1, &sp, crate::simd::kernels(), &params, &nodes, 1, &mut |_| Ok(())).unwrap();
        let mut b2 = MemGraph::default();
        build(&mut b2, &sp, crate::simd::kernels(), &params, &nodes, 2, &mut |_| Ok(())).unwrap();
        assert_eq!(b1.nodes, b2.nodes, "one and two threads build the same graph");
        assert_eq!(b1.entry, b2.entry);
        let r = recall(&b1, &sp, &vs, &qs, 40, &|_| true);
        assert!(r >= 0.95, "bulk recall {r}");
        // With ef as large as the table, the search is exhaustive.
        assert_eq!(recall(&b1, &sp, &vs, &qs, 3000, &|_| true), 1.0);
    }

    #[test]
    fn recall_holds_after_deleting_half_and_reinserting() {
        let vs = clustered(2400, 32, 30, 3);
        let qs = clustered(50, 32, 30, 77);
        let mut sp = space_of(&vs, Metric::L2);
        let params = HnswParams { m: 12, ef_construction: 100, ef_search: 40 };
        let kern = crate::simd::kernels();
        let mut g = incremental(&sp, 1200, &params);
        // Delete every other node, then insert the second half.
        for n in (0..1200u32).step_by(2) {
            remove(&mut g, &sp, kern, &params, n, 0).unwrap();
            sp.clear(n);
        }
        for n in 1200..2400u32 {
            insert(&mut g, &sp, kern, &params, n, level_of(n as i64 + 1, 0, params.m)).unwrap();
        }
        let live = |n: u32| n >= 1200 || n % 2 == 1;
        assert!(g.iter().all(|(id, _)| live(id)));
        let r = recall(&g, &sp, &vs, &qs, 40, &live);
        assert!(r >= 0.95, "recall after churn {r}");
        // Links to deleted nodes that the relinking could not see (one-way links) go with a
        // repair pass; a second pass finds nothing.
        let ids: Vec<u32> = g.iter().map(|(id, _)| id).collect();
        for &n in &ids {
            repair(&mut g, &sp, kern, &params, n).unwrap();
        }
        for (_, node) in g.iter() {
            for layer in &node.links {
                assert!(layer.iter().all(|x| live(*x)), "a deleted node is still linked");
            }
        }
        for &n in &ids {
            assert!(!repair(&mut g, &sp, kern, &params, n).unwrap());
        }
        assert!(recall(&g, &sp, &vs, &qs, 40, &live) >= r - 0.01);
    }

    #[test]
    fn duplicates_are_all_found_and_filters_are_applied_inside() {
        let mut vs = clustered(800, 16, 10, 5);
        for i in 0..20 {
            vs[100 + i * 13] = vs[7].clone();
        }
        let sp = space_of(&vs, Metric::Cosine);
        let params = HnswParams { m: 8, ef_construction: 64, ef_search: 40 };
        let g = incremental(&sp, vs.len(), &params);
        let qc = QueryCode::new(&vs[7], Metric::Cosine);
        let (scale, norm) = qc.params().unwrap();
        let p = Probe { code: &qc.codes, scale, norm };
        let s = Searcher::new(&g, &sp, crate::simd::kernels());
        // Navigation by codes, then the exact rescore every search does.
        let exact = |n: u32| f32_distance(&scalar::KERNELS, Metric::Cosine, &vs[n as usize], &vs[7]).unwrap();
        let mut found: Vec<(f64, u32)> = Vec::new();
        for c in s.knn(&p, 40, &|_| true).unwrap() {
            let node = g.node(c.n).unwrap().unwrap();
            for n in std::iter::once(c.n).chain(node.dups.iter().copied()) {
                found.push((exact(n), n));
            }
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let got: Vec<u32> = found.iter().take(21).map(|c| c.1).collect();
        let mut dups: Vec<u32> = (0..20).map(|i| 100 + i * 13).chain([7]).collect();
        dups.sort_unstable();
        let mut g21 = got.clone();
        g21.sort_unstable();
        assert_eq!(g21, dups, "every copy is found");
        // The group is one node: the head links, members point at it.
        let heads = dups.iter().filter(|n| g.node(**n).unwrap().unwrap().head.is_none()).count();
        assert_eq!(heads, 1);
        // Only even nodes admitted: results are even, and there are as many as asked.
        let even = s.knn(&p, 40, &|n| n % 2 == 0).unwrap();
        assert_eq!(even.len(), 40);
        assert!(even.iter().all(|c| c.n % 2 == 0));
    }

    #[test]
    fn removing_the_entry_picks_the_highest_node() {
        let vs = clustered(300, 8, 5, 9);
        let sp = space_of(&vs, Metric::L2);
        let params = HnswParams { m: 4, ef_construction: 16, ef_search: 16 };
        let mut g = incremental(&sp, vs.len(), &params);
        let kern = crate::simd::kernels();
        for _ in 0..5 {
            let e = g.entry().unwrap().unwrap();
            let top = g.node(e).unwrap().unwrap().level;
            remove(&mut g, &sp, kern, &params, e, 0).unwrap();
            let e2 = g.entry().unwrap().unwrap();
            assert!(g.node(e2).unwrap().unwrap().level <= top);
            assert!(g.iter().all(|(_, n)| n.level <= g.node(e2).unwrap().unwrap().level));
        }
    }
}
