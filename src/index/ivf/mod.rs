//! IVF (inverted file) kept in SQLite rows (docs/FORMAT.md, "IVF"): each vector column's rows
//! are partitioned into lists around centroids trained by k-means; a search scores the query
//! against the centroids, scans the nearest lists on short codes, and computes exact distances
//! only for the entries that can still be among the best. A list is one range of rows, so a
//! search cold from the pages reads only the lists it probes.
//!
//! - `params`: `index=ivf(lists=..., quantizer=..., nprobe=...)`.
//! - `kmeans`: seeded training and nearest-centroid assignment.
//! - `rotate`: RaBitQ's random rotation.
//! - `code`: entry codes (none, sq8, binary, rabitq) and distance intervals from them.
//! - `list`: the block layout of a list's rows, and a list decoded for scanning.
//!
//! The algorithms see the table through [`IvfSource`] (read) and [`IvfSink`] (write), never
//! SQLite.

pub mod code;
pub mod kmeans;
pub mod list;
pub mod params;
pub mod rotate;

use super::flat::{ColumnInfo, exact_search};
use super::hnsw::{node_of, slot_of};
use super::quant::sq8::UpperBounds;
use super::scan::{Hit, TopK};
use super::{
    ChunkSource, FilterStrategy, IndexSpec, IndexWriter, NodeFilter, SearchRequest, SearchStats, VectorIndex,
    prefetch_rows,
};
use crate::error::{Error, Result};
use crate::value::OwnedValue;
use crate::vector::ElementType;
use crate::vector::distance::{Kernels, Metric};
use code::{Coder, ListQuery};
use kmeans::Centroids;
use list::{Entry, Layout, PostingList};
use params::{IvfParams, Quantizer};
use std::sync::Arc;

/// Read access to one column's IVF data, as of the searching transaction's snapshot.
pub trait IvfSource {
    /// The number of lists (0: the column is untrained).
    fn lists(&self) -> Result<usize>;
    fn centroids(&self) -> Result<Arc<Centroids>>;
    /// List `l`'s entries.
    fn list(&self, l: usize) -> Result<Arc<PostingList>>;
}

/// Write access to one column's IVF data, inside the writing transaction.
pub trait IvfSink {
    fn lists(&self) -> Result<usize>;
    fn centroids(&self) -> Result<Arc<Centroids>>;
    /// Where node `n`'s entry is: (list, position).
    fn slot_entry(&self, n: u32) -> Result<Option<(u32, u32)>>;
    fn set_slot_entry(&mut self, n: u32, e: Option<(u32, u32)>) -> Result<()>;
    /// Entries in list `l`.
    fn list_len(&self, l: u32) -> Result<usize>;
    fn read_entry(&self, l: u32, pos: usize) -> Result<Entry>;
    /// Put `e` at `pos` of list `l` (`pos` = the list's length appends).
    fn put_entry(&mut self, l: u32, pos: usize, e: &Entry) -> Result<()>;
    /// Drop list `l`'s last entry.
    fn pop_entry(&mut self, l: u32) -> Result<()>;
}

/// Whether an IVF index can serve a column of this type and metric (and why not).
pub fn supports(ty: ElementType, metric: Metric) -> Result<()> {
    if ty == ElementType::Bit || !matches!(metric, Metric::L2 | Metric::Cosine | Metric::Ip) {
        return Err(Error::invalid(format!(
            "index=ivf serves float32, float16 and int8 columns under l2, cosine or ip, not a {} column under {} \
             (use index=flat or index=hnsw for it)",
            ty.name(),
            metric.name()
        )));
    }
    Ok(())
}

/// Code vector `x` (float32) of node `n` and put it in its nearest list.
pub fn add(sink: &mut dyn IvfSink, coder: &Coder, n: u32, x: &[f32], kernels: &Kernels) -> Result<()> {
    if sink.lists()? == 0 {
        return Ok(());
    }
    let cents = sink.centroids()?;
    let Some(tx) = coder.transform(x) else { return Ok(()) };
    let l = cents.nearest(&tx, kernels);
    let mut e = Entry { node: n, code: vec![0; coder.code_bytes()], factors: vec![0.0; coder.factors()] };
    let c = cents.get(l);
    coder.encode(x, &tx, c, &coder.prepare_centroid(c), &mut e.code, &mut e.factors);
    let pos = sink.list_len(l as u32)?;
    sink.put_entry(l as u32, pos, &e)?;
    sink.set_slot_entry(n, Some((l as u32, pos as u32)))
}

/// Take node `n` out of its list (the list's last entry moves into its place).
pub fn remove(sink: &mut dyn IvfSink, n: u32) -> Result<()> {
    let Some((l, pos)) = sink.slot_entry(n)? else { return Ok(()) };
    let len = sink.list_len(l)?;
    let pos = pos as usize;
    if pos >= len {
        return Err(Error::corrupt(format!("IVF list {l}: node {n} is recorded at {pos}, past its {len} entries")));
    }
    let here = sink.read_entry(l, pos)?;
    if here.node != n {
        return Err(Error::corrupt(format!("IVF list {l}: entry {pos} holds node {}, not node {n}", here.node)));
    }
    if pos + 1 < len {
        let last = sink.read_entry(l, len - 1)?;
        sink.put_entry(l, pos, &last)?;
        sink.set_slot_entry(last.node, Some((l, pos as u32)))?;
    }
    sink.pop_entry(l)?;
    sink.set_slot_entry(n, None)
}

/// An IVF index of one vector column.
pub struct IvfIndex {
    spec: IndexSpec,
    info: ColumnInfo,
    params: IvfParams,
    coder: Coder,
    layout: Layout,
}

impl IvfIndex {
    pub fn new(info: ColumnInfo, params: IvfParams, seed: i64, col: usize) -> IvfIndex {
        let coder = Coder::new(params.quantizer, info.metric, info.dims, seed, col);
        IvfIndex { spec: IndexSpec::Ivf(params), info, params, coder, layout: Layout::new(params.quantizer, info.dims) }
    }
    pub fn params(&self) -> &IvfParams {
        &self.params
    }
    pub fn coder(&self) -> &Coder {
        &self.coder
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The stored vector `bytes` as float32.
    fn as_f32(&self, bytes: &[u8]) -> Result<Vec<f32>> {
        Ok(crate::vector::from_blob(bytes, self.info.ty)?.to_f32_vec())
    }
}

/// A coded entry that may be among the best: its lower bound and node.
#[derive(Clone, Copy)]
struct Cand {
    lower: f64,
    value: f64,
    node: u32,
}

impl VectorIndex for IvfIndex {
    fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    fn on_write(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize, vector: &[u8]) -> Result<()> {
        let n = node_of(chunk, slot, w.capacity());
        let x = self.as_f32(vector)?;
        let kernels = crate::simd::kernels();
        w.with_ivf(col, &mut |s| {
            remove(s, n)?;
            add(s, &self.coder, n, &x, kernels)
        })
    }

    fn on_delete(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize) -> Result<()> {
        let n = node_of(chunk, slot, w.capacity());
        w.with_ivf(col, &mut |s| remove(s, n))
    }

    fn search(&self, src: &dyn ChunkSource, req: &SearchRequest<'_>, out: &mut TopK) -> Result<SearchStats> {
        let plain = ColumnInfo { coded: false, ..self.info };
        if req.exact {
            return exact_search(src, &plain, req, out);
        }
        let ivf = src.ivf(req.col)?;
        let lists = ivf.lists()?;
        if lists == 0 {
            // Untrained: every row is searched exactly.
            return exact_search(src, &plain, req, out);
        }
        let kernels = req.scorer.kernels();
        let cents = ivf.centroids()?;
        let q = req.scorer.query().to_f32_vec();
        let qp = self.coder.query(&q);
        // Lists by the query's distance to their centroids.
        let mut order: Vec<(f64, ListQuery, u32)> = Vec::with_capacity(cents.count());
        for j in (0..cents.count()).step_by(4) {
            let last = cents.count() - 1;
            let four = [0, 1, 2, 3].map(|t| cents.get((j + t).min(last)));
            let dots = (kernels.dots_1x4)(&qp.tq, &four);
            for (t, dot) in dots.iter().enumerate() {
                let l = j + t;
                if l > last {
                    break;
                }
                let lq = self.coder.list_query(&qp, *dot, cents.norms2[l]);
                let key = if self.info.metric == Metric::Ip { -lq.cq } else { lq.dist2 };
                order.push((if key.is_nan() { f64::INFINITY } else { key }, lq, l as u32));
            }
        }
        let mut nprobe = self.params.nprobe_for(lists, req.nprobe);
        let cap = src.capacity();
        let filter = NodeFilter::new(req.masks, cap);
        let share = match (req.share, req.masks) {
            (Some(s), _) => Some(s),
            (None, Some(_)) => {
                let passing = filter.passing();
                let rows = src.rows(req.col)?;
                (passing > 0 && passing < rows).then(|| passing as f64 / rows as f64)
            }
            _ => None,
        };
        if let Some(s) = share.filter(|s| *s > 0.0 && *s < 1.0) {
            // A filter pushes the nearest passing rows out to where the unfiltered search
            // would rank ~k / share rows: scan more lists, by 1/√share.
            nprobe = ((nprobe as f64 / s.sqrt()).ceil() as usize).min(lists);
        }
        let by_key = |a: &(f64, ListQuery, u32), b: &(f64, ListQuery, u32)| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2));
        if nprobe < order.len() {
            order.select_nth_unstable_by(nprobe - 1, by_key);
            order[..nprobe].sort_by(by_key);
        } else {
            order.sort_by(by_key);
        }
        let masks = req.masks;
        let admit = |n: u32| filter.admits(n);
        let k = out.k();
        let coder = &self.coder;
        let mut stats = SearchStats { from_memory: true, scored: 0 };
        let mut buf = vec![0u8; self.info.bytes];
        // Score node `n` exactly; its rowid is read only if it can enter the results (ties at
        // the k-th distance included: rowids break them).
        let mut score = |n: u32, out: &mut TopK, stats: &mut SearchStats| -> Result<()> {
            let (chunk, slot) = slot_of(n, cap);
            let (bound, mut hit) = (out.bound(), None);
            let rowid = src.row_if(req.col, chunk, slot, &mut buf, &mut |v| {
                hit = req.scorer.score(v).filter(|d| req.bounds.admits(*d) && *d <= bound);
                hit.is_some()
            })?;
            stats.scored += 1;
            if let (Some(rowid), Some(d)) = (rowid, hit) {
                out.push(Hit { distance: d, rowid, chunk, slot: slot as u32 });
            }
            Ok(())
        };
        let mut upper = UpperBounds::new(k);
        let mut cands: Vec<Cand> = Vec::new();
        let mut sums: Vec<u16> = Vec::new();
        let (mut passing, mut probed) = (0usize, 0usize);
        let bounded = matches!(self.params.quantizer, Quantizer::Sq8 | Quantizer::Rabitq);
        let ranged = !req.bounds.is_empty();
        let l = &self.layout;
        // Keep an entry (key-space estimate `e`) as a candidate if it can still be among the best.
        // (True: kept.)
        let consider =
            |n: u32, e: code::Estimate, cands: &mut Vec<Cand>, passing: &mut usize, upper: &mut UpperBounds| {
                if ranged && !req.bounds.admits_interval(coder.unkey(e.lower), coder.unkey(e.upper)).0 {
                    return false;
                }
                *passing += 1;
                if bounded {
                    if e.lower > upper.threshold() {
                        return false;
                    }
                    upper.push(e.upper);
                }
                cands.push(Cand { lower: e.lower, value: e.value, node: n });
                true
            };
        // binary (no bound): the best `OVERSAMPLE·k` estimates so far. An entry whose lower end
        // is above the worst of them has a worse estimate than all of them: the scan drops it,
        // and the candidates scored are the same as without pruning.
        let oversample = (OVERSAMPLE * k).max(k);
        let mut best_values = UpperBounds::new(if bounded { 0 } else { oversample });
        while probed < order.len() && (probed < nprobe || passing < k) {
            if probed == nprobe {
                // Widen: the remaining lists in order.
                order[nprobe..].sort_by(by_key);
            }
            let (_, lq, list) = order[probed];
            probed += 1;
            let pl = ivf.list(list as usize)?;
            match self.params.quantizer {
                Quantizer::None => {
                    for (i, &n) in pl.nodes.iter().enumerate() {
                        // (Rows sit in random chunks: their cache misses overlap.)
                        prefetch_rows(src, req.col, i, PREFETCH_STEP, |j| pl.nodes.get(j).copied());
                        if admit(n) {
                            passing += 1;
                            score(n, out, &mut stats)?;
                        }
                    }
                }
                Quantizer::Binary | Quantizer::Rabitq => {
                    let sl = coder.scan_list(&qp, &lq);
                    let admit_entry = |i: usize| admit(pl.nodes[i]);
                    passing += coder.scan_packed(
                        &qp,
                        &sl,
                        pl.packed(l.code),
                        &mut sums,
                        kernels,
                        masks.map(|_| &admit_entry as &dyn Fn(usize) -> bool),
                        (scan_threshold(coder, if bounded { &upper } else { &best_values }), ranged),
                        |i, lo, hi| {
                            // Candidates are kept as search keys.
                            let (lower, upper_key) = coder.signs_key(lo, hi);
                            let e = code::Estimate { lower, value: (lower + upper_key) / 2.0, upper: upper_key };
                            let kept = consider(pl.nodes[i], e, &mut cands, &mut passing, &mut upper);
                            if bounded {
                                scan_threshold(coder, &upper)
                            } else {
                                if kept {
                                    best_values.push(e.value);
                                }
                                scan_threshold(coder, &best_values)
                            }
                        },
                    );
                }
                Quantizer::Sq8 => {
                    for i in 0..pl.len() {
                        let n = pl.nodes[i];
                        if !admit(n) {
                            continue;
                        }
                        let code = &pl.codes[i * l.code..(i + 1) * l.code];
                        let abs = pl.abs_sums.get(i).copied();
                        let e = coder.estimate_sq8(
                            &qp,
                            code,
                            &pl.factors[i * l.factors..(i + 1) * l.factors],
                            abs,
                            kernels,
                        );
                        consider(n, e, &mut cands, &mut passing, &mut upper);
                    }
                }
            }
        }
        if bounded {
            // In order of lower bound, until no candidate can beat the k-th exact distance.
            let thr = upper.threshold();
            cands.retain(|c| c.lower <= thr);
            cands.sort_by(|a, b| a.lower.total_cmp(&b.lower).then(a.node.cmp(&b.node)));
            for (i, c) in cands.iter().enumerate() {
                if c.lower > coder.key(out.bound()) {
                    break;
                }
                prefetch_rows(src, req.col, i, PREFETCH_STEP, |j| cands.get(j).map(|c| c.node));
                score(c.node, out, &mut stats)?;
            }
        } else if self.params.quantizer == Quantizer::Binary {
            // No bound: the best `oversample × k` estimates are scored exactly.
            let want = oversample.min(cands.len());
            if want < cands.len() && want > 0 {
                cands.select_nth_unstable_by(want - 1, |a, b| a.value.total_cmp(&b.value).then(a.node.cmp(&b.node)));
                cands.truncate(want);
            }
            for c in &cands {
                score(c.node, out, &mut stats)?;
            }
        }
        stats.from_memory = src.served_from_memory();
        Ok(stats)
    }

    fn filter_strategy(&self, share: f64, rows: usize) -> FilterStrategy {
        // Scoring the passing rows exactly reads a vector each, scattered over the table: only
        // for a few thousand. Finding the passing rows costs about a row each: worth it only
        // when few pass. Above 5 %, a wider unfiltered search checked afterwards is cheaper.
        if share * (rows as f64) < 2000.0 {
            FilterStrategy::Exact
        } else if share < 0.05 {
            FilterStrategy::Inside
        } else {
            FilterStrategy::After
        }
    }

    fn check(&self, _src: &dyn ChunkSource, _col: usize, _problems: &mut Vec<String>) -> Result<()> {
        // The lists are checked against the slots by the table's check (vtab::check).
        Ok(())
    }

    fn status(&self) -> Vec<(&'static str, OwnedValue)> {
        vec![("prescan", OwnedValue::Text("n/a".into()))]
    }
}

/// The k-th smallest upper bound so far in [`code::Coder::scan_packed`]'s units, rounded up
/// to float32 (an entry whose lower end is above it cannot be among the best).
fn scan_threshold(coder: &Coder, upper: &UpperBounds) -> f32 {
    let t = upper.threshold();
    let t = if coder.metric == Metric::Cosine { 2.0 * t } else { t };
    let f = t as f32;
    if (f as f64) < t { f.next_up() } else { f }
}

/// Candidates between the stages of prefetching a row ([`super::prefetch_rows`]): the row of
/// the candidate this far ahead of the one being scored exactly is on its way in full.
const PREFETCH_STEP: usize = 2;

/// Candidates the binary quantizer scores exactly, per result wanted.
pub const OVERSAMPLE: usize = 10;

#[cfg(test)]
mod tests;
