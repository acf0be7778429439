//! IVF without SQLite: lists in memory, recall against brute force for every quantizer and
//! metric, filters, churn, and determinism.

use super::kmeans::{Centroids, train};
use super::list::{Entry, Layout, PostingList};
use super::params::{IvfParams, Quantizer};
use super::*;
use crate::index::chunk::{ColData, Maps};
use crate::index::scan::{Bounds, Scorer};
use crate::index::{ChunkView, Masks, Want};
use crate::vector::Vector;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

const CAP: usize = 64;

/// A column's rows and IVF data in plain memory.
struct Mem {
    dims: usize,
    layout: Layout,
    /// Node → (rowid, vector).
    rows: BTreeMap<u32, (i64, Vec<f32>)>,
    cents: Option<Arc<Centroids>>,
    lists: Vec<PostingList>,
    slots: HashMap<u32, (u32, u32)>,
}

impl Mem {
    fn new(dims: usize, q: Quantizer) -> Mem {
        Mem {
            dims,
            layout: Layout::new(q, dims),
            rows: BTreeMap::new(),
            cents: None,
            lists: Vec::new(),
            slots: HashMap::new(),
        }
    }
}

impl IvfSource for Mem {
    fn lists(&self) -> Result<usize> {
        Ok(self.lists.len())
    }
    fn centroids(&self) -> Result<Arc<Centroids>> {
        self.cents.clone().ok_or_else(|| Error::invalid("untrained"))
    }
    fn list(&self, l: usize) -> Result<Arc<PostingList>> {
        Ok(Arc::new(self.lists[l].clone()))
    }
}

impl IvfSink for Mem {
    fn lists(&self) -> Result<usize> {
        Ok(self.lists.len())
    }
    fn centroids(&self) -> Result<Arc<Centroids>> {
        IvfSource::centroids(self)
    }
    fn slot_entry(&self, n: u32) -> Result<Option<(u32, u32)>> {
        Ok(self.slots.get(&n).copied())
    }
    fn set_slot_entry(&mut self, n: u32, e: Option<(u32, u32)>) -> Result<()> {
        match e {
            Some(e) => self.slots.insert(n, e),
            None => self.slots.remove(&n),
        };
        Ok(())
    }
    fn list_len(&self, l: u32) -> Result<usize> {
        Ok(self.lists[l as usize].len())
    }
    fn read_entry(&self, l: u32, pos: usize) -> Result<Entry> {
        Ok(self.lists[l as usize].entry(&self.layout, pos))
    }
    fn put_entry(&mut self, l: u32, pos: usize, e: &Entry) -> Result<()> {
        let (lay, p) = (self.layout, &mut self.lists[l as usize]);
        p.forget_packed();
        if pos == p.len() {
            p.push(e);
        } else {
            p.nodes[pos] = e.node;
            p.codes[pos * lay.code..(pos + 1) * lay.code].copy_from_slice(&e.code);
            p.factors[pos * lay.factors..(pos + 1) * lay.factors].copy_from_slice(&e.factors);
        }
        Ok(())
    }
    fn pop_entry(&mut self, l: u32) -> Result<()> {
        let (lay, p) = (self.layout, &mut self.lists[l as usize]);
        p.forget_packed();
        p.nodes.pop();
        p.codes.truncate(p.nodes.len() * lay.code);
        p.factors.truncate(p.nodes.len() * lay.factors);
        Ok(())
    }
}

impl ChunkSource for Mem {
    fn capacity(&self) -> usize {
        CAP
    }
    fn scan(
        &self,
        _col: usize,
        want: Want,
        only: Option<&[i64]>,
        f: &mut dyn FnMut(&ChunkView<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut chunks: BTreeMap<i64, (Maps, Vec<f32>)> = BTreeMap::new();
        for (&n, (rowid, v)) in &self.rows {
            let (c, s) = slot_of(n, CAP);
            let e = chunks.entry(c).or_insert_with(|| (Maps::empty(c, CAP), vec![0f32; CAP * self.dims]));
            e.0.set(s, Some(*rowid));
            e.1[s * self.dims..(s + 1) * self.dims].copy_from_slice(v);
        }
        for (id, (m, v)) in chunks {
            if only.is_some_and(|o| !o.contains(&id)) {
                continue;
            }
            let data = match want {
                Want::Raw => {
                    let mut b = crate::index::buf::AlignedBuf::zeroed(v.len() * 4);
                    b.bytes_mut().copy_from_slice(bytemuck::cast_slice(&v));
                    Some(ColData::Raw(b))
                }
                _ => None,
            };
            f(&ChunkView { maps: &m, data: data.as_ref() })?;
        }
        Ok(())
    }
    fn read_vector(&self, _col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()> {
        let (_, v) = &self.rows[&node_of(chunk, slot, CAP)];
        out.copy_from_slice(bytemuck::cast_slice(v));
        Ok(())
    }
    fn row(&self, _col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<Option<i64>> {
        Ok(self.rows.get(&node_of(chunk, slot, CAP)).map(|(r, v)| {
            out.copy_from_slice(bytemuck::cast_slice(v));
            *r
        }))
    }
    fn served_from_memory(&self) -> bool {
        true
    }
    fn ivf(&self, _col: usize) -> Result<&dyn IvfSource> {
        Ok(self)
    }
}

struct Writer<'a>(&'a mut Mem);
impl IndexWriter for Writer<'_> {
    fn write_code(&mut self, _: usize, _: i64, _: usize, _: &crate::index::chunk::SlotCode) -> Result<()> {
        Ok(())
    }
    fn with_ivf(&mut self, _col: usize, f: &mut dyn FnMut(&mut dyn IvfSink) -> Result<()>) -> Result<()> {
        f(self.0)
    }
    fn capacity(&self) -> usize {
        CAP
    }
}

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Clustered vectors (a low-dimensional latent mixture projected up, plus noise), unit length
/// for cosine and shifted off the origin otherwise.
fn clustered(n: usize, dims: usize, seed: u64, metric: Metric) -> Vec<Vec<f32>> {
    let latent = (dims / 4).max(2);
    let mut s = 99u64;
    let proj: Vec<Vec<f32>> = (0..dims).map(|_| (0..latent).map(|_| lcg(&mut s)).collect()).collect();
    let centres: Vec<Vec<f32>> = (0..50).map(|_| (0..latent).map(|_| lcg(&mut s)).collect()).collect();
    let mut s = seed;
    (0..n)
        .map(|i| {
            let c = &centres[(i * 7919 + seed as usize) % centres.len()];
            let z: Vec<f32> = c.iter().map(|x| x + 0.35 * lcg(&mut s)).collect();
            let v: Vec<f32> = proj
                .iter()
                .map(|row| row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * lcg(&mut s))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            match metric {
                Metric::Cosine => v.iter().map(|x| x / norm).collect(),
                _ => v.iter().map(|x| x / norm + 0.5).collect(),
            }
        })
        .collect()
}

/// Train `idx` on every row of `mem` and put them all in lists.
fn build(mem: &mut Mem, idx: &IvfIndex, seed: i64) {
    let k = crate::simd::kernels();
    let t: Vec<f32> = mem.rows.values().flat_map(|(_, v)| idx.coder().transform(v).unwrap()).collect();
    let lists = idx.params().lists_for(mem.rows.len());
    let c = train(&t, mem.dims, lists, seed, k, 2, &mut |_, _| Ok(())).unwrap();
    mem.cents = Some(Arc::new(c));
    mem.lists = vec![PostingList::default(); lists];
    mem.slots.clear();
    let rows: Vec<(u32, Vec<f32>)> = mem.rows.iter().map(|(n, (_, v))| (*n, v.clone())).collect();
    for (n, v) in rows {
        add(mem, idx.coder(), n, &v, k).unwrap();
    }
}

fn search(mem: &Mem, idx: &IvfIndex, q: &[f32], k: usize, masks: Option<&Masks>, nprobe: Option<usize>) -> Vec<i64> {
    let scorer = Scorer::new(Vector::F32(Cow::Owned(q.to_vec())), idx.info.metric);
    let bounds = Bounds::default();
    let req = SearchRequest {
        col: 0,
        scorer: &scorer,
        masks,
        bounds: &bounds,
        exact: false,
        ef_search: None,
        nprobe,
        share: None,
    };
    let mut out = TopK::new(k);
    idx.search(mem, &req, &mut out).unwrap();
    out.into_sorted().iter().map(|h| h.rowid).collect()
}

fn brute(mem: &Mem, metric: Metric, q: &[f32], k: usize, pass: &dyn Fn(i64) -> bool) -> Vec<i64> {
    let scorer = Scorer::new(Vector::F32(Cow::Owned(q.to_vec())), metric);
    let mut out = TopK::new(k);
    for (&n, (r, v)) in &mem.rows {
        if pass(*r)
            && let Some(d) = scorer.score(bytemuck::cast_slice(v))
        {
            let (chunk, slot) = slot_of(n, CAP);
            out.push(Hit { distance: d, rowid: *r, chunk, slot: slot as u32 });
        }
    }
    out.into_sorted().iter().map(|h| h.rowid).collect()
}

fn recall(got: &[Vec<i64>], want: &[Vec<i64>]) -> f64 {
    let hit: usize = got.iter().zip(want).map(|(g, w)| g.iter().filter(|x| w.contains(x)).count()).sum();
    hit as f64 / want.iter().map(|w| w.len()).sum::<usize>() as f64
}

fn index(q: Quantizer, metric: Metric, dims: usize) -> IvfIndex {
    IvfIndex::new(
        ColumnInfo::new(ElementType::Float32, dims, metric),
        IvfParams { quantizer: q, ..Default::default() },
        5,
        0,
    )
}

fn filled(n: usize, dims: usize, q: Quantizer, metric: Metric) -> (Mem, IvfIndex) {
    let mut mem = Mem::new(dims, q);
    for (i, v) in clustered(n, dims, 1, metric).into_iter().enumerate() {
        mem.rows.insert(i as u32, (i as i64 + 1, v));
    }
    let idx = index(q, metric, dims);
    build(&mut mem, &idx, 5);
    (mem, idx)
}

#[test]
fn recall_at_default_nprobe_for_every_quantizer_and_metric() {
    let (n, dims, k) = (4000, 64, 10);
    let queries = clustered(60, dims, 777, Metric::Cosine);
    for q in [Quantizer::Rabitq, Quantizer::Sq8, Quantizer::Binary, Quantizer::None] {
        for metric in [Metric::Cosine, Metric::L2, Metric::Ip] {
            let (mem, idx) = filled(n, dims, q, metric);
            let qs: Vec<Vec<f32>> = queries
                .iter()
                .map(|v| if metric == Metric::Cosine { v.clone() } else { v.iter().map(|x| x + 0.5).collect() })
                .collect();
            let got: Vec<Vec<i64>> = qs.iter().map(|v| search(&mem, &idx, v, k, None, None)).collect();
            let want: Vec<Vec<i64>> = qs.iter().map(|v| brute(&mem, metric, v, k, &|_| true)).collect();
            let r = recall(&got, &want);
            assert!(r >= 0.95, "{q:?} {metric:?}: recall {r}");
            assert!(got.iter().all(|g| g.len() == k));
            // Every list probed: exact for the bounded quantizers.
            let all: Vec<Vec<i64>> = qs.iter().map(|v| search(&mem, &idx, v, k, None, Some(10_000))).collect();
            let r_all = recall(&all, &want);
            if matches!(q, Quantizer::Sq8 | Quantizer::None) {
                assert_eq!(all, want, "{q:?} {metric:?}");
            } else {
                assert!(r_all >= 0.99, "{q:?} {metric:?}: recall over every list {r_all}");
            }
        }
    }
}

#[test]
fn filters_return_k_passing_rows() {
    let (n, dims, k) = (4000, 64, 10);
    let (mem, idx) = filled(n, dims, Quantizer::Rabitq, Metric::Cosine);
    let queries = clustered(30, dims, 778, Metric::Cosine);
    for modulo in [100, 10, 2] {
        let pass = |r: i64| r % modulo == 0;
        let mut masks: Masks = Masks::new();
        for (&node, (r, _)) in &mem.rows {
            if pass(*r) {
                let (c, s) = slot_of(node, CAP);
                masks.entry(c).or_insert_with(|| vec![0u8; CAP / 8])[s / 8] |= 1 << (s % 8);
            }
        }
        let got: Vec<Vec<i64>> = queries.iter().map(|v| search(&mem, &idx, v, k, Some(&masks), None)).collect();
        let want: Vec<Vec<i64>> = queries.iter().map(|v| brute(&mem, Metric::Cosine, v, k, &pass)).collect();
        assert!(got.iter().all(|g| g.len() == k && g.iter().all(|r| pass(*r))), "1/{modulo}");
        let r = recall(&got, &want);
        assert!(r >= 0.95, "1/{modulo}: recall {r}");
    }
}

#[test]
fn churn_keeps_lists_exact_and_recall() {
    let (n, dims, k) = (4000, 64, 10);
    let (mut mem, idx) = filled(n, dims, Quantizer::Rabitq, Metric::L2);
    let fresh = clustered(n / 2, dims, 3, Metric::L2);
    // Delete every other row, then insert as many new rows into the freed slots.
    let nodes: Vec<u32> = mem.rows.keys().copied().filter(|n| n % 2 == 0).collect();
    for &node in &nodes {
        let (c, s) = slot_of(node, CAP);
        idx.on_delete(&mut Writer(&mut mem), 0, c, s).unwrap();
        mem.rows.remove(&node);
    }
    for (i, (&node, v)) in nodes.iter().zip(&fresh).enumerate() {
        mem.rows.insert(node, (100_000 + i as i64, v.clone()));
        let (c, s) = slot_of(node, CAP);
        idx.on_write(&mut Writer(&mut mem), 0, c, s, bytemuck::cast_slice(v)).unwrap();
    }
    // Every row is in exactly the list its slot says.
    let total: usize = mem.lists.iter().map(|l| l.len()).sum();
    assert_eq!(total, mem.rows.len());
    for (&node, &(l, pos)) in &mem.slots {
        assert_eq!(mem.lists[l as usize].nodes[pos as usize], node);
    }
    let queries = clustered(50, dims, 779, Metric::L2);
    let want: Vec<Vec<i64>> = queries.iter().map(|v| brute(&mem, Metric::L2, v, k, &|_| true)).collect();
    let got: Vec<Vec<i64>> = queries.iter().map(|v| search(&mem, &idx, v, k, None, None)).collect();
    let after = recall(&got, &want);
    let mut rebuilt = Mem::new(dims, Quantizer::Rabitq);
    rebuilt.rows = mem.rows.clone();
    build(&mut rebuilt, &idx, 5);
    let fresh_r = recall(&queries.iter().map(|v| search(&rebuilt, &idx, v, k, None, None)).collect::<Vec<_>>(), &want);
    assert!(after >= 0.95 && after >= fresh_r - 0.02, "after churn {after}, fresh build {fresh_r}");
}

#[test]
fn training_is_deterministic_and_thread_count_free() {
    let (mem, idx) = filled(3000, 32, Quantizer::Rabitq, Metric::Cosine);
    let (again, _) = filled(3000, 32, Quantizer::Rabitq, Metric::Cosine);
    assert_eq!(mem.cents, again.cents);
    assert_eq!(mem.lists, again.lists);
    let t: Vec<f32> = mem.rows.values().flat_map(|(_, v)| idx.coder().transform(v).unwrap()).collect();
    let k = crate::simd::kernels();
    let one = train(&t, 32, 40, 9, k, 1, &mut |_, _| Ok(())).unwrap();
    let two = train(&t, 32, 40, 9, k, 2, &mut |_, _| Ok(())).unwrap();
    assert_eq!(one, two);
}

#[test]
fn untrained_columns_search_exactly() {
    let mut mem = Mem::new(16, Quantizer::Rabitq);
    for (i, v) in clustered(300, 16, 1, Metric::L2).into_iter().enumerate() {
        mem.rows.insert(i as u32, (i as i64 + 1, v));
    }
    let idx = index(Quantizer::Rabitq, Metric::L2, 16);
    let q = clustered(1, 16, 5, Metric::L2).remove(0);
    assert_eq!(search(&mem, &idx, &q, 7, None, None), brute(&mem, Metric::L2, &q, 7, &|_| true));
}

/// Filter masks by chunk become one bitset over node numbers; a mask far out (a huge chunk id)
/// leaves the map lookup in place; both admit the same nodes.
#[test]
fn masks_become_a_node_bitset_when_small() {
    let mut m = crate::index::Masks::new();
    m.insert(1, vec![0b0000_0101, 0]);
    m.insert(3, vec![0, 0b1000_0000]);
    let f = crate::index::NodeFilter::new(Some(&m), 16);
    assert!(matches!(f, crate::index::NodeFilter::Bits(..)));
    let set: Vec<u32> = (0..64u32).filter(|n| f.admits(*n)).collect();
    assert_eq!(set, vec![0, 2, 47]);
    assert_eq!(f.passing(), 3);
    let far = 1i64 << 40;
    m.insert(far, vec![1, 0]);
    let f = crate::index::NodeFilter::new(Some(&m), 16);
    assert!(matches!(f, crate::index::NodeFilter::Masks(..)));
    assert_eq!((0..64u32).filter(|n| f.admits(*n)).collect::<Vec<_>>(), set);
    assert_eq!(f.passing(), 4);
    assert!(crate::index::NodeFilter::new(None, 16).admits(12345));
}
