//! HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs") kept in SQLite rows: one row per node, links as
//! node numbers (docs/FORMAT.md, `t_hnsw`). A node is a slot of the table's chunks, so a link
//! leads straight to a vector; levels come from a hash of the rowid and the table's seed.
//!
//! - `params`: parameters, bounds and levels.
//! - `graph`: nodes, their row encoding, and the traits the algorithms read and write through.
//! - `space`: distances on int8 codes (exact integer arithmetic: every CPU makes the same graph).
//! - `search`: layer search, greedy descent, k-nearest search with a filter inside.
//! - `insert`: linking a node, relinking around a deleted one, repairing stale links.
//! - `build`: a whole graph at once, on several threads, the same for any number of them.
//!
//! Searches navigate by code distances and rescore the candidates they keep with exact float32
//! distances, so results carry exact distances.

pub mod build;
pub mod graph;
pub mod insert;
pub mod params;
pub mod search;
pub mod space;

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
            remove(&mut g, &sp, kern, &params, n).unwrap();
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
            remove(&mut g, &sp, kern, &params, e).unwrap();
            let e2 = g.entry().unwrap().unwrap();
            assert!(g.node(e2).unwrap().unwrap().level <= top);
            assert!(g.iter().all(|(_, n)| n.level <= g.node(e2).unwrap().unwrap().level));
        }
    }
}
