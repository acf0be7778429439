//! IVF in the table: what a search reads (from the shared version, or the pages), the writer
//! the index algorithms change lists through, whole-column training, list balancing for
//! `'optimize'`, and what `vindex_status` and `'integrity-check'` say about it.

use super::TableInner;
use super::overlay::OIvf;
use crate::error::{Error, Result};
use crate::index::IndexSpec;
use crate::index::hnsw::{node_of, slot_of};
use crate::index::ivf::kmeans::{self, Centroids};
use crate::index::ivf::list::{Entry, Layout, PostingList};
use crate::index::ivf::params::IvfParams;
use crate::index::ivf::{IvfIndex, IvfSink};
use crate::store::Store;
use crate::store::cache::{CacheKey, Charged, IvfCache, MemToken, Version};
use crate::store::changes::ChangeSet;
use crate::store::ivf::{SLOT_BYTES, decode_slot, encode_slot};
use crate::value::OwnedValue;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Rows a training samples at most.
const MAX_SAMPLE: usize = 131_072;
/// List entries `'optimize'` moves at most per call while balancing lists.
const BALANCE_BUDGET: usize = 65_536;

/// Column `col`'s IVF cache in `version` (made on first use: the lists' count is read from the
/// pages under the reading transaction's snapshot, which is the version's).
pub fn cache<'v>(store: &Store, version: &'v Version, col: usize) -> Result<&'v IvfCache> {
    if version.ivf[col].get().is_none() {
        let n = store.ivf_lists(col)?;
        let _ = version.ivf[col].set(Arc::new(IvfCache::new(n)));
    }
    version.ivf[col].get().map(|c| &**c).ok_or_else(|| Error::invalid("vindex: IVF cache"))
}

/// The most centroid bytes a connection keeps with the cache off (see [`committed_centroids`]):
/// 1,024 lists of 1,024 float32 dimensions.
pub const UNCACHED_CENTROIDS_MAX: usize = 4 << 20;

/// Column `col`'s committed centroids, loaded into `version` if needed (charged even over the
/// budget: every search needs them).
pub fn committed_centroids(
    store: &Store,
    version: &Version,
    col: usize,
    key: Option<&CacheKey>,
    keep: bool,
) -> Result<Arc<Centroids>> {
    let c = cache(store, version, col)?;
    if let Some(x) = c.centroids.get() {
        return Ok(x.value.clone());
    }
    let cents = Arc::new(store.load_centroids(col, c.lists)?);
    let bytes = cents.mem_bytes();
    if !keep {
        // The cache is off: lists and vectors are read for each search. Every search needs all
        // the centroids, though, so a connection keeps those of the version it reads (its own,
        // not shared: with the cache off versions are per connection), like SQLite's page cache
        // would keep their pages, unless they are large.
        if bytes <= UNCACHED_CENTROIDS_MAX {
            let _ = c.centroids.set(Arc::new(Charged::new(cents.clone(), MemToken::charge(bytes))));
        }
        return Ok(cents);
    }
    let m = crate::store::cache::charge_evicting(bytes, key).unwrap_or_else(|| MemToken::charge(bytes));
    let _ = c.centroids.set(Arc::new(Charged::new(cents.clone(), m)));
    Ok(cents)
}

/// List `list` of column `col` as committed, kept in `version` when `keep` and the budget
/// allow.
pub fn committed_list(
    store: &Store,
    version: &Version,
    col: usize,
    list: usize,
    key: Option<&CacheKey>,
    keep: bool,
) -> Result<Arc<PostingList>> {
    let c = cache(store, version, col)?;
    let slot = c
        .entries
        .get(list)
        .ok_or_else(|| Error::corrupt(format!("{}: column {col} has no list {list}", store.names.raw("ivf_lists"))))?;
    if let Some(x) = slot.get() {
        return Ok(x.value.clone());
    }
    let p = Arc::new(store.load_list(col, list as u32, &store.ivf_layout(col)?)?);
    if keep && let Some(m) = crate::store::cache::charge_evicting(p.mem_bytes(), key) {
        let _ = slot.set(Charged::new(p.clone(), m));
    }
    Ok(p)
}

/// A writing transaction's access to one column's lists: every change goes to the pages at
/// once (with the undo journal) and is recorded in the change set.
pub struct IvfWriter<'a> {
    pub store: &'a Store,
    pub col: usize,
    pub layout: Layout,
    pub base: &'a Arc<Version>,
    pub changes: &'a mut ChangeSet,
    pub oivf: &'a OIvf,
}

impl IvfWriter<'_> {
    fn centroids_changed(&self) -> bool {
        self.changes.all() || self.changes.contains(crate::store::changes::SPACE_IVF_CENTROIDS + self.col as u8, 0)
    }
}

impl IvfSink for IvfWriter<'_> {
    fn lists(&self) -> Result<usize> {
        if self.centroids_changed() {
            self.store.ivf_lists(self.col)
        } else {
            Ok(cache(self.store, self.base, self.col)?.lists)
        }
    }
    fn centroids(&self) -> Result<Arc<Centroids>> {
        if self.centroids_changed() {
            if let Some(c) = self.oivf.centroids.get() {
                return Ok(c.clone());
            }
            let c = Arc::new(self.store.load_centroids(self.col, self.store.ivf_lists(self.col)?)?);
            let _ = self.oivf.centroids.set(c.clone());
            return Ok(c);
        }
        committed_centroids(self.store, self.base, self.col, None, crate::store::cache::cache_limit() > 0)
    }
    fn slot_entry(&self, n: u32) -> Result<Option<(u32, u32)>> {
        let (chunk, slot) = slot_of(n, self.store.capacity);
        self.store.slot_entry(self.col, chunk, slot)
    }
    fn set_slot_entry(&mut self, n: u32, e: Option<(u32, u32)>) -> Result<()> {
        let (chunk, slot) = slot_of(n, self.store.capacity);
        self.store.set_slot_entry(self.col, chunk, slot, e)
    }
    fn list_len(&self, l: u32) -> Result<usize> {
        self.store.list_len(self.col, l, &self.layout)
    }
    fn read_entry(&self, l: u32, pos: usize) -> Result<Entry> {
        self.store.read_entry(self.col, l, pos, &self.layout)
    }
    fn put_entry(&mut self, l: u32, pos: usize, e: &Entry) -> Result<()> {
        let len = self.list_len(l)?;
        self.changes.ivf_list(self.col, l);
        self.store.put_entry(self.col, l, pos, len, e, &self.layout)
    }
    fn pop_entry(&mut self, l: u32) -> Result<()> {
        let len = self.list_len(l)?;
        self.changes.ivf_list(self.col, l);
        self.store.pop_entry(self.col, l, len, &self.layout)
    }
}

/// Column `col`'s rows: their nodes (ascending) and vectors as float32 (`n × dims`).
fn column_rows(t: &TableInner, col: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let s = &t.store;
    let l = s.cols[col];
    let cap = s.capacity;
    let mut nodes = Vec::new();
    let mut xs: Vec<f32> = Vec::new();
    let mut vectors = vec![0u8; l.bytes * cap];
    let mut reader = s.vector_reader(col);
    for id in s.chunk_ids()? {
        let maps = s.load_maps(id)?.ok_or_else(|| Error::corrupt(format!("chunk {id} vanished")))?;
        reader.read(id, &mut vectors)?;
        for slot in (0..cap).filter(|x| maps.is_used(*x)) {
            let v = crate::vector::from_blob(&vectors[slot * l.bytes..(slot + 1) * l.bytes], l.ty)
                .map_err(|e| e.context(&format!("chunk {id} slot {slot}")))?;
            xs.extend(v.to_f32_vec());
            nodes.push(node_of(id, slot, cap));
        }
    }
    Ok((nodes, xs))
}

/// Up to `m` of `n` positions spread evenly (a Weyl sequence, sorted, distinct).
fn sample_positions(n: usize, m: usize) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (1..=m).map(|i| ((i as f64 * 0.618_033_988_749_895).fract() * n as f64) as usize).collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl TableInner {
    /// The IVF index of column `col`, when the table has one.
    fn ivf_index(&self, col: usize) -> Option<IvfIndex> {
        let IndexSpec::Ivf(p) = *self.spec.borrow() else { return None };
        let l = self.store.cols[col];
        Some(IvfIndex::new(crate::index::flat::ColumnInfo::new(l.ty, l.dims, l.metric), p, self.seed(), col))
    }

    /// Train column `col` from its rows and put every row in a list, inside the current unit
    /// (a table without rows is left untrained).
    pub fn build_ivf(&self, col: usize, params: &IvfParams) -> Result<()> {
        let idx = self.ivf_index(col).ok_or_else(|| Error::invalid("vindex: not an IVF table"))?;
        let coder = idx.coder();
        let layout = *idx.layout();
        let s = &self.store;
        let dims = s.cols[col].dims;
        let kernels = crate::simd::kernels();
        let (nodes, xs) = column_rows(self, col)?;
        let n = nodes.len();
        s.clear_ivf(col)?;
        {
            let mut ov = self.overlay()?;
            ov.changes.everything();
            ov.changes.ivf_centroids(col);
            ov.ivf[col] = OIvf::default();
        }
        if n == 0 {
            return s.set_ivf_training(col, 0, 0, 0.0);
        }
        let tx: Vec<f32> = if self.store.cols[col].metric == crate::vector::distance::Metric::Cosine {
            xs.chunks_exact(dims).flat_map(|x| coder.transform(x).unwrap_or_else(|| x.to_vec())).collect()
        } else {
            Vec::new()
        };
        let tx: &[f32] = if tx.is_empty() { &xs } else { &tx };
        let lists = params.lists_for(n);
        let sample_at = sample_positions(n, n.min((64 * lists).max(4096)).min(MAX_SAMPLE));
        let sample: Vec<f32> = sample_at.iter().flat_map(|&i| tx[i * dims..(i + 1) * dims].iter().copied()).collect();
        let counters = &self.cache.counters;
        let total = (n + sample_at.len() * kmeans::ITERATIONS) as u64;
        counters.build_total.store(total, Ordering::Relaxed);
        counters.build_done.store(0, Ordering::Relaxed);
        let db = self.db;
        let threads = crate::index::hnsw::build::threads();
        let started = std::time::Instant::now();
        let r = (|| -> Result<()> {
            let interrupted = || db.prepare("SELECT 1", false)?.step().map(|_| ());
            let cents = kmeans::train(&sample, dims, lists, self.seed(), kernels, threads, &mut |it, _| {
                counters.build_done.store((it * sample_at.len()) as u64, Ordering::Relaxed);
                interrupted()
            })?;
            let sample_assign = cents.assign(&sample, kernels, threads);
            let mse = kmeans::mse(&sample, &cents, &sample_assign, kernels);
            counters.build_done.store((sample_at.len() * kmeans::ITERATIONS) as u64, Ordering::Relaxed);
            let assign = cents.assign(tx, kernels, threads);
            interrupted()?;
            // Codes, per row (independent of each other, so any number of threads agrees).
            let (cb, nf) = (layout.code, layout.factors);
            let mut codes = vec![0u8; n * cb];
            let mut factors = vec![0f32; n * nf];
            let prepared: Vec<Vec<f32>> = (0..cents.count()).map(|l| coder.prepare_centroid(cents.get(l))).collect();
            let per = n.div_ceil(threads.max(1)).max(1);
            std::thread::scope(|sc| {
                for (t, (cs, fs)) in
                    codes.chunks_mut(per * cb.max(1)).zip(factors.chunks_mut(per * nf.max(1))).enumerate()
                {
                    let (assign, cents, xs, tx, prepared) = (&assign, &cents, &xs, tx, &prepared);
                    let _ = (cs.len(), fs.len());
                    sc.spawn(move || {
                        for i in t * per..((t + 1) * per).min(n) {
                            let j = i - t * per;
                            coder.encode(
                                &xs[i * dims..(i + 1) * dims],
                                &tx[i * dims..(i + 1) * dims],
                                cents.get(assign[i] as usize),
                                &prepared[assign[i] as usize],
                                cs.get_mut(j * cb..(j + 1) * cb).unwrap_or(&mut []),
                                fs.get_mut(j * nf..(j + 1) * nf).unwrap_or(&mut []),
                            );
                        }
                    });
                }
            });
            interrupted()?;
            let mut by_list: Vec<PostingList> = vec![PostingList::default(); cents.count()];
            let mut where_: Vec<(u32, u32)> = vec![(0, 0); n];
            for i in 0..n {
                let l = assign[i] as usize;
                where_[i] = (l as u32, by_list[l].len() as u32);
                by_list[l].push(&Entry {
                    node: nodes[i],
                    code: codes[i * cb..(i + 1) * cb].to_vec(),
                    factors: factors[i * nf..(i + 1) * nf].to_vec(),
                });
            }
            counters.build_done.store(total, Ordering::Relaxed);
            s.write_centroids(col, &cents, 0)?;
            for (l, p) in by_list.iter().enumerate() {
                s.write_list(col, l as u32, &p.to_blocks(&layout), 0)?;
            }
            // Slot rows, chunk by chunk.
            let cap = s.capacity;
            let mut i = 0;
            for (chunk, old) in s.slot_rows(col)? {
                let mut row = vec![0u8; SLOT_BYTES * cap];
                while i < n {
                    let (c, slot) = slot_of(nodes[i], cap);
                    if c != chunk {
                        break;
                    }
                    row[SLOT_BYTES * slot..SLOT_BYTES * (slot + 1)].copy_from_slice(&encode_slot(Some(where_[i])));
                    i += 1;
                }
                if row != old {
                    s.write_slot_row(crate::store::col_row_id(chunk, col), row, Some(old))?;
                }
            }
            if i != n {
                return Err(Error::corrupt(format!("{}: a chunk has no slot row", s.names.raw("ivf_slots"))));
            }
            s.set_ivf_training(col, cents.count(), n as i64, mse)?;
            let _ = self.overlay()?.ivf[col].centroids.set(Arc::new(cents));
            Ok(())
        })();
        counters.build_total.store(0, Ordering::Relaxed);
        counters.build_done.store(0, Ordering::Relaxed);
        r?;
        if let Ok(mut last) = counters.last_build.lock() {
            *last = Some(format!(
                "{n} rows in {lists} lists in {:.1} s on {threads} threads",
                started.elapsed().as_secs_f64()
            ));
        }
        Ok(())
    }

    /// Train every column of an IVF table (`'rebuild'`, `'index=ivf(...)'`).
    pub fn build_ivf_all(&self, params: &IvfParams) -> Result<()> {
        (0..self.store.cols.len()).try_for_each(|c| self.build_ivf(c, params))
    }

    /// `'optimize'` on an IVF table: train untrained columns that have rows; split lists that
    /// grew past three times the average and merge those under an eighth of it, moving at
    /// most [`BALANCE_BUDGET`] entries. Returns the lists split or merged.
    pub fn balance_ivf(&self) -> Result<usize> {
        let IndexSpec::Ivf(params) = *self.spec.borrow() else { return Ok(0) };
        let mut changed = 0;
        for col in 0..self.store.cols.len() {
            if self.store.ivf_lists(col)? == 0 {
                if self.store.chunk_ids()?.is_empty() {
                    continue;
                }
                self.unit(|| self.build_ivf(col, &params))?;
                continue;
            }
            changed += self.unit(|| self.balance_column(col))?;
        }
        Ok(changed)
    }

    fn balance_column(&self, col: usize) -> Result<usize> {
        let idx = self.ivf_index(col).ok_or_else(|| Error::invalid("vindex: not an IVF table"))?;
        let layout = *idx.layout();
        let s = &self.store;
        let kernels = crate::simd::kernels();
        let lists = s.ivf_lists(col)?;
        let lens: Vec<usize> = (0..lists).map(|l| s.list_len(col, l as u32, &layout)).collect::<Result<_>>()?;
        let n: usize = lens.iter().sum();
        if n == 0 || lists == 0 {
            return Ok(0);
        }
        let avg = n as f64 / lists as f64;
        let mut budget = BALANCE_BUDGET;
        let mut cents = s.load_centroids(col, lists)?;
        let mut done = 0;
        // Split the biggest lists first.
        let mut big: Vec<usize> = (0..lists).filter(|&l| lens[l] as f64 > 3.0 * avg && lens[l] >= 2).collect();
        big.sort_by(|a, b| lens[*b].cmp(&lens[*a]).then(a.cmp(b)));
        for l in big {
            if lens[l] > budget || cents.count() >= crate::index::ivf::params::MAX_LISTS {
                break;
            }
            budget -= lens[l];
            cents = self.split_list(col, l as u32, cents, &idx)?;
            done += 1;
        }
        // Merge the smallest (from the highest list down, so moved lists are not revisited).
        let count = cents.count();
        let lens: Vec<usize> = (0..count).map(|l| s.list_len(col, l as u32, &layout)).collect::<Result<_>>()?;
        let small: Vec<usize> =
            (0..count).rev().filter(|&l| (lens[l] as f64) < avg / 8.0 && count > 1).take(count - 1).collect();
        for l in small {
            let now = s.list_len(col, l as u32, &layout)?;
            if now > budget || cents.count() <= 1 {
                break;
            }
            budget -= now;
            cents = self.merge_list(col, l as u32, cents, &idx)?;
            done += 1;
        }
        let _ = kernels;
        Ok(done)
    }

    /// The float32 vector of node `n` of column `col` (from the pages).
    fn node_vector(&self, col: usize, n: u32) -> Result<Vec<f32>> {
        let l = self.store.cols[col];
        let (chunk, slot) = slot_of(n, self.store.capacity);
        let mut b = vec![0u8; l.bytes];
        self.store.read_vector(col, crate::store::Loc { chunk, slot }, &mut b)?;
        Ok(crate::vector::from_blob(&b, l.ty)?.to_f32_vec())
    }

    /// Rewrite list `l` of column `col` with `entries` (coded against centroid `c`), setting
    /// their slots.
    fn rewrite_list(
        &self,
        col: usize,
        l: u32,
        rows: &[(u32, Vec<f32>)],
        c: &[f32],
        idx: &IvfIndex,
        old_len: usize,
    ) -> Result<()> {
        let layout = *idx.layout();
        let coder = idx.coder();
        let mut p = PostingList::default();
        let pc = coder.prepare_centroid(c);
        for (i, (node, x)) in rows.iter().enumerate() {
            let tx = coder.transform(x).unwrap_or_else(|| x.clone());
            let mut e = Entry { node: *node, code: vec![0; layout.code], factors: vec![0.0; layout.factors] };
            coder.encode(x, &tx, c, &pc, &mut e.code, &mut e.factors);
            p.push(&e);
            let (chunk, slot) = slot_of(*node, self.store.capacity);
            self.store.set_slot_entry(col, chunk, slot, Some((l, i as u32)))?;
        }
        self.store.write_list(col, l, &p.to_blocks(&layout), old_len.div_ceil(layout.entries))?;
        self.overlay()?.changes.ivf_list(col, l);
        Ok(())
    }

    /// Split list `l` in two by 2-means: it keeps one half, a new last list takes the other.
    fn split_list(&self, col: usize, l: u32, cents: Centroids, idx: &IvfIndex) -> Result<Centroids> {
        let s = &self.store;
        let layout = *idx.layout();
        let kernels = crate::simd::kernels();
        let p = s.load_list(col, l, &layout)?;
        let rows: Vec<(u32, Vec<f32>)> =
            p.nodes.iter().map(|&n| Ok((n, self.node_vector(col, n)?))).collect::<Result<_>>()?;
        let dims = cents.dims;
        let tx: Vec<f32> =
            rows.iter().flat_map(|(_, x)| idx.coder().transform(x).unwrap_or_else(|| x.clone())).collect();
        let (halves, side) = kmeans::split(&tx, dims, kernels);
        if halves.count() < 2 || side.iter().all(|s| *s == side[0]) {
            return Ok(cents);
        }
        let new = cents.count() as u32;
        let mut data = cents.data.clone();
        data[l as usize * dims..(l as usize + 1) * dims].copy_from_slice(halves.get(0));
        data.extend_from_slice(halves.get(1));
        let next = Centroids::new(dims, data);
        let keep: Vec<(u32, Vec<f32>)> =
            rows.iter().zip(&side).filter(|(_, s)| **s == 0).map(|(r, _)| r.clone()).collect();
        let moved: Vec<(u32, Vec<f32>)> =
            rows.iter().zip(&side).filter(|(_, s)| **s == 1).map(|(r, _)| r.clone()).collect();
        self.rewrite_list(col, l, &keep, next.get(l as usize), idx, p.len())?;
        self.rewrite_list(col, new, &moved, next.get(new as usize), idx, 0)?;
        self.write_centroids_now(col, &next, cents.count())?;
        Ok(next)
    }

    /// Merge list `l` away: its entries go to their nearest other lists, and the last list
    /// takes its number.
    fn merge_list(&self, col: usize, l: u32, cents: Centroids, idx: &IvfIndex) -> Result<Centroids> {
        let s = &self.store;
        let layout = *idx.layout();
        let kernels = crate::simd::kernels();
        let dims = cents.dims;
        let p = s.load_list(col, l, &layout)?;
        let last = cents.count() as u32 - 1;
        // Each entry to its nearest list other than `l` (and, if `l` is not last, the last list
        // is about to become `l`, so an entry bound there goes to `l`).
        let mut targets: std::collections::BTreeMap<u32, Vec<(u32, Vec<f32>)>> = Default::default();
        for &n in &p.nodes {
            let x = self.node_vector(col, n)?;
            let tx = idx.coder().transform(&x).unwrap_or_else(|| x.clone());
            let mut t = cents.nearest_except(&tx, kernels, l as usize) as u32;
            if t == last && l != last {
                t = l;
            }
            targets.entry(t).or_default().push((n, x));
        }
        // Move the last list into `l`'s place.
        let mut data = cents.data.clone();
        if l != last {
            let lp = s.load_list(col, last, &layout)?;
            let rows: Vec<(u32, Vec<f32>)> =
                lp.nodes.iter().map(|&n| Ok((n, self.node_vector(col, n)?))).collect::<Result<_>>()?;
            data.copy_within(last as usize * dims..(last as usize + 1) * dims, l as usize * dims);
            let extra = targets.remove(&l).unwrap_or_default();
            let all: Vec<(u32, Vec<f32>)> = rows.into_iter().chain(extra).collect();
            self.rewrite_list(col, l, &all, &data[l as usize * dims..(l as usize + 1) * dims], idx, p.len())?;
            s.write_list(col, last, &[], lp.len().div_ceil(layout.entries))?;
            self.overlay()?.changes.ivf_list(col, last);
        } else {
            s.write_list(col, l, &[], p.len().div_ceil(layout.entries))?;
            self.overlay()?.changes.ivf_list(col, l);
        }
        data.truncate(last as usize * dims);
        let next = Centroids::new(dims, data);
        for (t, rows) in targets {
            let tl = s.load_list(col, t, &layout)?;
            let mut all: Vec<(u32, Vec<f32>)> =
                tl.nodes.iter().map(|&n| Ok((n, self.node_vector(col, n)?))).collect::<Result<_>>()?;
            all.extend(rows);
            self.rewrite_list(col, t, &all, next.get(t as usize), idx, tl.len())?;
        }
        self.write_centroids_now(col, &next, cents.count())?;
        Ok(next)
    }

    fn write_centroids_now(&self, col: usize, c: &Centroids, old: usize) -> Result<()> {
        self.store.write_centroids(col, c, old)?;
        self.store.set_ivf_lists(col, c.count())?;
        let mut ov = self.overlay()?;
        ov.changes.ivf_centroids(col);
        ov.ivf[col] = OIvf::default();
        let _ = ov.ivf[col].centroids.set(Arc::new(c.clone()));
        Ok(())
    }

    /// `vindex_status` facts of column `col`'s IVF index.
    pub fn ivf_status(&self, col: usize) -> Result<Vec<(&'static str, OwnedValue)>> {
        let s = &self.store;
        let lists = s.ivf_lists(col)?;
        let (trained_rows, train_mse) = s.ivf_training(col)?;
        let mut out = vec![("ivf_lists", OwnedValue::Integer(lists as i64))];
        if lists == 0 {
            out.push((
                "ivf_state",
                OwnedValue::Text("untrained: searches are exact until 'optimize' or 'rebuild' trains it".into()),
            ));
            return Ok(out);
        }
        let layout = s.ivf_layout(col)?;
        let lens: Vec<usize> = (0..lists).map(|l| s.list_len(col, l as u32, &layout)).collect::<Result<_>>()?;
        let n: usize = lens.iter().sum();
        let avg = n as f64 / lists as f64;
        let max = lens.iter().copied().max().unwrap_or(0);
        out.push(("ivf_state", OwnedValue::Text("trained".into())));
        out.push(("ivf_trained_rows", OwnedValue::Integer(trained_rows)));
        out.push(("ivf_list_min", OwnedValue::Integer(lens.iter().copied().min().unwrap_or(0) as i64)));
        out.push(("ivf_list_max", OwnedValue::Integer(max as i64)));
        out.push(("ivf_imbalance", OwnedValue::Real(if avg > 0.0 { max as f64 / avg } else { 0.0 })));
        // Drift: the mean squared distance of a sample of rows to their list's centroid, over
        // the same at training.
        if train_mse > 0.0 {
            let cents = s.load_centroids(col, lists)?;
            let idx = self.ivf_index(col).ok_or_else(|| Error::invalid("vindex: not an IVF table"))?;
            let kernels = crate::simd::kernels();
            let (mut sum, mut cnt) = (0f64, 0usize);
            'outer: for l in sample_positions(lists, 64) {
                let p = s.load_list(col, l as u32, &layout)?;
                for &nd in p.nodes.iter().take(64) {
                    let x = self.node_vector(col, nd)?;
                    let tx = idx.coder().transform(&x).unwrap_or(x);
                    sum += (kernels.l2sq_f32)(&tx, cents.get(l)) as f64;
                    cnt += 1;
                    if cnt >= 4096 {
                        break 'outer;
                    }
                }
            }
            if cnt > 0 {
                out.push(("ivf_drift", OwnedValue::Real(sum / cnt as f64 / train_mse)));
            }
        }
        Ok(out)
    }

    /// Problems of column `col`'s IVF rows (docs/FORMAT.md invariants).
    pub fn check_ivf(&self, col: usize, p: &mut Vec<String>) -> Result<()> {
        let s = &self.store;
        let Some(idx) = self.ivf_index(col) else { return Ok(()) };
        let layout = *idx.layout();
        let lists = s.ivf_lists(col)?;
        let tl = s.names.raw("ivf_lists");
        let cap = s.capacity;
        // Every chunk has a slot row of the right size.
        let mut slots: std::collections::HashMap<u32, (u32, u32)> = Default::default();
        let ids = s.chunk_ids()?;
        let rows = s.slot_rows(col)?;
        if rows.iter().map(|r| r.0).collect::<Vec<_>>() != ids {
            p.push(format!(
                "{}: column {col} has slot rows for other chunks than the table's",
                s.names.raw("ivf_slots")
            ));
        }
        for (chunk, data) in &rows {
            if data.len() != SLOT_BYTES * cap {
                p.push(format!(
                    "{}: chunk {chunk} column {col} holds {} bytes, not {}",
                    s.names.raw("ivf_slots"),
                    data.len(),
                    SLOT_BYTES * cap
                ));
                continue;
            }
            let maps = s.load_maps(*chunk)?;
            for slot in 0..cap {
                let used = maps.as_ref().is_some_and(|m| m.is_used(slot));
                match (decode_slot(&data[SLOT_BYTES * slot..SLOT_BYTES * (slot + 1)]), used) {
                    (Err(_), _) => p.push(format!(
                        "chunk {chunk} slot {slot} (column {col}) names an IVF list but no position in it"
                    )),
                    (Ok(None), true) if lists > 0 => {
                        p.push(format!("chunk {chunk} slot {slot} (column {col}) is in no IVF list"))
                    }
                    (Ok(None), _) => {}
                    (Ok(Some((l, _))), false) => {
                        p.push(format!("chunk {chunk} slot {slot} (column {col}) is free but in IVF list {l}"))
                    }
                    (Ok(Some(e)), true) => {
                        slots.insert(node_of(*chunk, slot, cap), e);
                    }
                }
            }
        }
        if lists == 0 {
            let n: i64 = {
                let mut st = s.db.prepare(
                    &format!("SELECT count(*) FROM {} WHERE id >= ?1 AND id < ?2", s.names.ivf_lists()),
                    false,
                )?;
                st.bind_i64(1, crate::store::ivf::block_key(col, 0, 0))?;
                st.bind_i64(2, crate::store::ivf::block_key(col + 1, 0, 0))?;
                st.step()?;
                st.column_i64(0)
            };
            if n > 0 {
                p.push(format!("{tl}: column {col} is untrained but has {n} list rows"));
            }
            return Ok(());
        }
        let cents = match s.load_centroids(col, lists) {
            Ok(c) => c,
            Err(e) => {
                p.push(e.message().to_string());
                return Ok(());
            }
        };
        let mut seen = 0usize;
        for l in 0..lists {
            let pc = idx.coder().prepare_centroid(cents.get(l));
            let pl = match s.load_list(col, l as u32, &layout) {
                Ok(x) => x,
                Err(e) => {
                    p.push(e.message().to_string());
                    continue;
                }
            };
            for i in 0..pl.len() {
                let nd = pl.nodes[i];
                seen += 1;
                if slots.get(&nd) != Some(&(l as u32, i as u32)) {
                    p.push(format!(
                        "{tl}: list {l} entry {i} (column {col}) holds node {nd}, whose slot does not point there"
                    ));
                    continue;
                }
                let x = self.node_vector(col, nd)?;
                let tx = idx.coder().transform(&x).unwrap_or_else(|| x.clone());
                let mut e = Entry { node: nd, code: vec![0; layout.code], factors: vec![0.0; layout.factors] };
                idx.coder().encode(&x, &tx, cents.get(l), &pc, &mut e.code, &mut e.factors);
                let stored = pl.entry(&layout, i);
                let same = e.code == stored.code
                    && e.factors.iter().zip(&stored.factors).all(|(a, b)| a.to_bits() == b.to_bits());
                if !same {
                    p.push(format!("{tl}: list {l} entry {i} (column {col}): its code does not match its vector"));
                }
            }
            if p.len() > 50 {
                return Ok(());
            }
        }
        if seen != slots.len() {
            p.push(format!("{tl}: column {col} lists hold {seen} entries but {} slots point into them", slots.len()));
        }
        // No list rows beyond the lists.
        let mut st =
            s.db.prepare(&format!("SELECT count(*) FROM {} WHERE id >= ?1 AND id < ?2", s.names.ivf_lists()), false)?;
        st.bind_i64(1, crate::store::ivf::block_key(col, lists as u32, 0))?;
        st.bind_i64(2, crate::store::ivf::block_key(col + 1, 0, 0))?;
        st.step()?;
        if st.column_i64(0) > 0 {
            p.push(format!("{tl}: column {col} has rows of lists beyond its {lists} lists"));
        }
        Ok(())
    }
}
