//! The table as one query sees it — a committed version from the shared cache, or this
//! connection's overlay on top of one — as a [`ChunkSource`] for the index algorithms, and,
//! for graph indexes, as the graph ([`GraphSource`]) and the codes it navigates by ([`Space`]).
//! Chunks, column data and graph leaves missing from memory are read from the pages (under the
//! query's own snapshot, which is the version's) and kept in the version when the budget allows.

use super::overlay::{OChunk, OGraph, OIvf, Overlay};
use crate::error::{Error, Result};
use crate::index::buf::AlignedBuf;
use crate::index::chunk::{ChunkCodes, ColData, Maps, NodeCodes, SlotCode};
use crate::index::hnsw::graph::{GraphSource, LEAF, Node};
use crate::index::hnsw::level0::Level0;
use crate::index::hnsw::space::{CodeRef, NodeCode, Probe, Space, SpaceKind};
use crate::index::hnsw::{node_of, slot_of, space_kind};
use crate::index::ivf::IvfSource;
use crate::index::ivf::kmeans::Centroids;
use crate::index::ivf::list::PostingList;
use crate::index::{ChunkSource, ChunkView, Want};
use crate::store::cache::{CacheKey, CachedLeaf, Charged, GraphCache, MemToken, Version};
use crate::store::changes::ChangeSet;
use crate::store::chunks::{CachedCol, Chunk};
use crate::store::idmap::IdMap;
use crate::store::{ChunkReader, SlotReader, Store};
use crate::vector::distance::Metric;
use crate::vector::{ElementType, from_blob};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// What of the writer's overlay a view reads.
#[derive(Clone, Copy)]
pub struct OvParts<'a> {
    pub chunks: &'a IdMap<i64, OChunk>,
    pub ids: &'a [i64],
    pub graphs: Option<&'a [OGraph]>,
    /// What the transaction changed, and the IVF centroids it wrote.
    pub changes: Option<&'a ChangeSet>,
    pub ivf: Option<&'a [OIvf]>,
}

impl<'a> OvParts<'a> {
    pub fn of(o: &'a Overlay) -> OvParts<'a> {
        OvParts {
            chunks: &o.chunks,
            ids: &o.ids,
            graphs: Some(&o.graphs),
            changes: Some(&o.changes),
            ivf: Some(&o.ivf),
        }
    }
}

pub struct View<'a> {
    store: &'a Store,
    version: Arc<Version>,
    overlay: Option<OvParts<'a>>,
    key: Option<&'a CacheKey>,
    /// Column data is kept in memory (the cache is on).
    keep: bool,
    vectors: RefCell<Vec<Option<ChunkReader<'a>>>>,
    codes: RefCell<Vec<Option<ChunkReader<'a>>>>,
    /// Rowids of single slots (cache off).
    slots: RefCell<Option<SlotReader<'a>>>,
    paged: Cell<bool>,
    /// The column [`GraphSource`] and [`Space`] answer for.
    col: Cell<usize>,
    /// Links allowed per node, for decoding graph rows: (layer 0, above).
    links: (usize, usize),
    /// What the graph of column `col` navigates by (set with `col`).
    want: Cell<Want>,
    /// With an overlay: the chunk ids of the chunks the overlay holds, and of the chunks
    /// that exist in it, so a graph search finds where a node is without hashing.
    ov_held: IdSet,
    ov_live: IdSet,
}

/// A set of chunk ids: a bitset when the ids are dense enough (they usually run 1, 2, 3, ...),
/// else the sorted ids — a damaged `t_chunks` can hold an id near 2⁶³, whose bitset would not
/// fit in memory.
#[derive(Default)]
enum IdSet {
    #[default]
    Empty,
    Bits(Vec<u64>),
    Sorted(Vec<i64>),
}

impl IdSet {
    fn new(ids: impl Iterator<Item = i64>) -> IdSet {
        let mut ids: Vec<i64> = ids.filter(|&i| i >= 0).collect();
        let Some(&max) = ids.iter().max() else { return IdSet::Empty };
        if (max as u64) / 64 > 4 * ids.len() as u64 + 1024 {
            ids.sort_unstable();
            return IdSet::Sorted(ids);
        }
        let mut bits = vec![0u64; max as usize / 64 + 1];
        for id in ids.into_iter().map(|i| i as usize) {
            bits[id / 64] |= 1 << (id % 64);
        }
        IdSet::Bits(bits)
    }

    #[inline]
    fn contains(&self, id: i64) -> bool {
        match self {
            IdSet::Empty => false,
            IdSet::Bits(bits) => {
                id >= 0 && bits.get(id as usize / 64).is_some_and(|w| w & (1 << (id as usize % 64)) != 0)
            }
            IdSet::Sorted(ids) => ids.binary_search(&id).is_ok(),
        }
    }
}

/// The codes of a chunk's vectors computed in memory (graph indexes keep none on disk).
pub fn compute_codes(raw: &[u8], ty: ElementType, capacity: usize, dims: usize) -> ColData {
    let n = raw.len() / capacity;
    let mut c = ChunkCodes::zeroed(capacity, dims);
    for slot in 0..capacity {
        let bytes = &raw[slot * n..(slot + 1) * n];
        if bytes.iter().all(|b| *b == 0) {
            continue;
        }
        let x = match from_blob(bytes, ty) {
            Ok(v) => v.to_f32_vec(),
            Err(_) => continue,
        };
        c.set(slot, &SlotCode::encode(&x));
    }
    ColData::Codes(c)
}

/// The navigation codes of a chunk's vectors (graph tables under l2, cosine, ip).
pub fn compute_nodes(raw: &[u8], ty: ElementType, capacity: usize, dims: usize) -> ColData {
    let n = raw.len() / capacity;
    let mut c = NodeCodes::zeroed(capacity, dims);
    for slot in 0..capacity {
        let bytes = &raw[slot * n..(slot + 1) * n];
        if bytes.iter().all(|b| *b == 0) {
            continue;
        }
        match from_blob(bytes, ty) {
            Ok(crate::vector::Vector::F32(x)) => c.encode(slot, &x),
            Ok(v) => c.encode(slot, &v.to_f32_vec()),
            Err(_) => {}
        }
    }
    ColData::Nodes(c)
}

impl<'a> View<'a> {
    pub fn new(
        store: &'a Store,
        version: Arc<Version>,
        overlay: Option<OvParts<'a>>,
        key: Option<&'a CacheKey>,
        keep: bool,
        links: (usize, usize),
    ) -> View<'a> {
        let n = store.cols.len();
        let view = View {
            store,
            version,
            overlay,
            key,
            keep,
            vectors: RefCell::new((0..n).map(|_| None).collect()),
            codes: RefCell::new((0..n).map(|_| None).collect()),
            slots: RefCell::new(None),
            paged: Cell::new(false),
            col: Cell::new(0),
            links,
            want: Cell::new(Want::Raw),
            ov_held: overlay.map(|o| IdSet::new(o.chunks.keys().copied())).unwrap_or_default(),
            ov_live: overlay.map(|o| IdSet::new(o.ids.iter().copied())).unwrap_or_default(),
        };
        if !view.store.cols.is_empty() {
            view.want.set(view.graph_want(0));
        }
        view
    }

    /// Up to `n` rowids spread over the table (a Weyl sequence of positions, not a fixed
    /// stride, which periodic data would alias with); empty for tables under `min` rows.
    /// Kept in the committed version; recomputed for a writer's own view.
    pub fn sample(&self, n: usize, min: usize) -> Result<Vec<i64>> {
        if self.overlay.is_none()
            && let Some(s) = self.version.sample.get()
        {
            return Ok(s.clone());
        }
        let mut total = 0usize;
        self.scan(0, Want::Maps, None, &mut |c| {
            total += c.maps.used;
            Ok(())
        })?;
        let mut sample: Vec<i64> = Vec::with_capacity(n);
        if total >= min {
            let mut want: Vec<usize> =
                (1..=n).map(|i| ((i as f64 * 0.618_033_988_749_895).fract() * total as f64) as usize).collect();
            want.sort_unstable();
            want.dedup();
            let (mut next, mut seen) = (0usize, 0usize);
            self.scan(0, Want::Maps, None, &mut |c| {
                if next >= want.len() || want[next] >= seen + c.maps.used {
                    seen += c.maps.used;
                    return Ok(());
                }
                for s in (0..c.maps.capacity()).filter(|s| c.maps.is_used(*s)) {
                    while next < want.len() && want[next] == seen {
                        sample.push(c.maps.rowids[s]);
                        next += 1;
                    }
                    seen += 1;
                }
                Ok(())
            })?;
        }
        if self.overlay.is_none() {
            let _ = self.version.sample.set(sample.clone());
        }
        Ok(sample)
    }

    /// A filter's share of rows, if estimated before on this version.
    pub fn known_share(&self, key: &str) -> Option<f64> {
        if self.overlay.is_some() {
            return None;
        }
        self.version.shares.lock().ok()?.get(key).copied()
    }

    /// A filter is planned on this version: how many times it was before, and the rows it
    /// passes when they were kept. Nothing for a writer's own view.
    pub fn filter_use(&self, key: &str) -> (u32, Option<Arc<crate::index::Masks>>) {
        if self.overlay.is_some() || !self.keep {
            return (0, None);
        }
        let Ok(mut m) = self.version.filter_masks.lock() else { return (0, None) };
        if m.len() >= 256 && !m.contains_key(key) {
            return (0, None);
        }
        let e = m.entry(key.to_string()).or_insert((0, None));
        e.0 = e.0.saturating_add(1);
        (e.0 - 1, e.1.clone())
    }

    /// Keep the rows filter `key` passes on this version (at most 16 MiB of them a version).
    pub fn remember_masks(&self, key: &str, masks: Arc<crate::index::Masks>) {
        if self.overlay.is_some() || !self.keep {
            return;
        }
        let size = |m: &crate::index::Masks| m.len() * (self.store.capacity / 8 + 48);
        if let Ok(mut m) = self.version.filter_masks.lock() {
            let held: usize = m.values().filter_map(|e| e.1.as_deref()).map(size).sum();
            if held + size(&masks) <= 16 << 20
                && let Some(e) = m.get_mut(key)
            {
                e.1 = Some(masks);
            }
        }
    }

    /// Remember a filter's estimated share (at most 256 per version).
    pub fn remember_share(&self, key: String, share: f64) {
        if self.overlay.is_none()
            && let Ok(mut m) = self.version.shares.lock()
            && m.len() < 256
        {
            m.insert(key, share);
        }
    }

    pub fn ids(&self) -> &[i64] {
        match self.overlay {
            Some(o) => o.ids,
            None => &self.version.ids,
        }
    }

    /// The committed chunk at `pos` of the version, loading its maps if needed.
    fn committed(&self, pos: usize) -> Result<&Arc<Chunk>> {
        let slot = &self.version.slots[pos];
        if slot.get().is_none() {
            let id = self.version.ids[pos];
            let maps = self
                .store
                .load_maps(id)?
                .ok_or_else(|| Error::corrupt(format!("{}: chunk {id} is missing", self.store.names.raw("chunks"))))?;
            self.paged.set(true);
            let mem = MemToken::charge(maps.bytes());
            let _ = slot.set(Arc::new(Chunk::new(maps, self.store.cols.len(), mem)));
        }
        slot.get().ok_or_else(|| Error::invalid("vindex: chunk slot"))
    }

    /// Whether column `col`'s searches read codes, and where they come from.
    fn wants_codes(&self, col: usize) -> bool {
        self.store.cols[col].coded || self.store.computes_codes(col)
    }

    /// Column `col`'s data of chunk `id` read from the pages (codes computed from the vectors
    /// for columns that keep none on disk).
    fn read_col(&self, col: usize, id: i64, want: Want) -> Result<ColData> {
        self.paged.set(true);
        let cap = self.store.capacity;
        let l = self.store.cols[col];
        if want == Want::Codes && self.store.persisted(col) {
            let mut readers = self.codes.borrow_mut();
            let r = readers[col].get_or_insert_with(|| self.store.code_reader(col));
            let mut c = ChunkCodes::zeroed(cap, l.dims);
            r.read(id, c.buf.bytes_mut())?;
            return Ok(ColData::Codes(c));
        }
        let mut readers = self.vectors.borrow_mut();
        let r = readers[col].get_or_insert_with(|| self.store.vector_reader(col));
        let mut b = AlignedBuf::zeroed(cap * l.bytes);
        r.read(id, b.bytes_mut())?;
        match want {
            Want::Codes => Ok(compute_codes(b.bytes(), l.ty, cap, l.dims)),
            Want::Nodes => Ok(compute_nodes(b.bytes(), l.ty, cap, l.dims)),
            _ => Ok(ColData::Raw(b)),
        }
    }

    fn check_want(&self, col: usize, want: Want) -> Result<()> {
        if (want == Want::Codes && !self.wants_codes(col)) || (want == Want::Nodes && !self.store.computes_codes(col)) {
            return Err(Error::invalid(format!("vindex: column {col} has no codes")));
        }
        Ok(())
    }

    /// A committed chunk's column data, loaded (and kept, budget permitting) if needed.
    fn committed_col<'s>(&'s self, chunk: &'s Chunk, col: usize, want: Want) -> Result<Col<'s>> {
        if want == Want::Raw && self.wants_codes(col) {
            // The column's slot holds its codes: the vectors are kept beside them.
            if chunk.raw[col].get().is_none() {
                let data = self.read_col(col, chunk.maps.id, want)?;
                let token =
                    if self.keep { crate::store::cache::charge_evicting(data.mem_bytes(), self.key) } else { None };
                match token {
                    Some(m) => {
                        let _ = chunk.raw[col].set(Arc::new(CachedCol::new(data, m)));
                    }
                    None => return Ok(Col::Owned(data)),
                }
            }
            return match chunk.raw[col].get() {
                Some(c) => Ok(Col::Shared(&c.data)),
                None => Err(Error::invalid("vindex: vector cache")),
            };
        }
        if let Some(c) = chunk.cols[col].get() {
            return Ok(match c {
                Some(c) if c.data.is(want) => Col::Shared(&c.data),
                _ => Col::Owned(self.read_col(col, chunk.maps.id, want)?),
            });
        }
        let data = self.read_col(col, chunk.maps.id, want)?;
        let token = if self.keep { crate::store::cache::charge_evicting(data.mem_bytes(), self.key) } else { None };
        Ok(match token {
            Some(m) => {
                let _ = chunk.cols[col].set(Some(Arc::new(CachedCol::new(data, m))));
                match chunk.cols[col].get() {
                    Some(Some(c)) => Col::Shared(&c.data),
                    _ => return Err(Error::invalid("vindex: column cache")),
                }
            }
            None => Col::Owned(data),
        })
    }

    /// The kind of data a graph over column `col` navigates by.
    fn graph_want(&self, col: usize) -> Want {
        let l = self.store.cols[col];
        if space_kind(l.ty, l.metric) == SpaceKind::Sq8 { Want::Nodes } else { Want::Raw }
    }

    /// Column `col`'s graph cache in this version (made on first use).
    fn graph_cache(&self, col: usize) -> &GraphCache {
        self.version.graphs[col].get_or_init(|| Arc::new(GraphCache::new(self.store.capacity, &self.version.ids)))
    }

    /// A committed graph leaf, loaded from the pages if needed.
    fn committed_leaf(&self, col: usize, leaf: u32) -> Result<Option<&CachedLeaf>> {
        let gc = self.graph_cache(col);
        let Some(slot) = gc.leaves.get(leaf as usize) else { return Ok(None) };
        if slot.get().is_none() {
            self.paged.set(true);
            let l = self.store.load_leaf(col, leaf, self.links.0, self.links.1)?;
            let _ = slot.set(Arc::new(CachedLeaf::from_parts(l)));
        }
        Ok(slot.get().map(|l| &**l))
    }
}

/// Column data a scan hands out: from memory, or read for this chunk only.
enum Col<'s> {
    Shared(&'s ColData),
    Owned(ColData),
}

impl Col<'_> {
    fn get(&self) -> &ColData {
        match self {
            Col::Shared(d) => d,
            Col::Owned(d) => d,
        }
    }
}

impl ChunkSource for View<'_> {
    fn capacity(&self) -> usize {
        self.store.capacity
    }

    fn scan(
        &self,
        col: usize,
        want: Want,
        only: Option<&[i64]>,
        f: &mut dyn FnMut(&ChunkView<'_>) -> Result<()>,
    ) -> Result<()> {
        self.check_want(col, want)?;
        let ids: Vec<i64> = match only {
            Some(o) => o.iter().copied().filter(|id| self.ids().binary_search(id).is_ok()).collect(),
            None => self.ids().to_vec(),
        };
        for id in ids {
            if let Some(oc) = self.overlay.and_then(|o| o.chunks.get(&id)) {
                let data = match want {
                    Want::Maps => None,
                    _ => Some(match oc.cols[col].get() {
                        Some(d) if d.is(want) => Col::Shared(d),
                        _ => Col::Owned(self.read_col(col, id, want)?),
                    }),
                };
                f(&ChunkView { maps: &oc.maps, data: data.as_ref().map(|d| d.get()) })?;
                continue;
            }
            let Some(pos) = self.version.position(id) else {
                return Err(Error::corrupt(format!("vindex: chunk {id} is not in the cached version")));
            };
            let chunk = self.committed(pos)?;
            if want == Want::Maps {
                f(&ChunkView { maps: &chunk.maps, data: None })?;
                continue;
            }
            let data = self.committed_col(chunk, col, want)?;
            f(&ChunkView { maps: &chunk.maps, data: Some(data.get()) })?;
        }
        Ok(())
    }

    fn read_vector(&self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()> {
        let n = self.store.cols[col].bytes;
        let committed = match self.overlay {
            Some(o) if o.chunks.contains_key(&chunk) => None,
            _ => match self.version.position(chunk) {
                Some(p) => Some(self.committed(p)?),
                None => None,
            },
        };
        if let Some(c) = committed {
            if self.wants_codes(col) || self.store.is_ivf() {
                // Searches read codes; rescoring wants the vectors: keep the whole chunk's when
                // memory is free, so the next queries rescore from memory.
                self.keep_vectors(c, col)?;
                if let Some(v) = self.loaded_vector(c, col, slot) {
                    out[..n].copy_from_slice(v);
                    return Ok(());
                }
            } else if let Some(Some(cc)) = c.cols[col].get()
                && let ColData::Raw(b) = &cc.data
            {
                out[..n].copy_from_slice(&b.bytes()[slot * n..(slot + 1) * n]);
                return Ok(());
            }
        }
        self.paged.set(true);
        let mut readers = self.vectors.borrow_mut();
        let r = readers[col].get_or_insert_with(|| self.store.vector_reader(col));
        r.read_at(chunk, slot * n, &mut out[..n])
    }

    fn served_from_memory(&self) -> bool {
        !self.paged.get()
    }

    fn rows(&self, col: usize) -> Result<usize> {
        if self.overlay.is_none()
            && let Some(r) = self.version.rows.get()
        {
            return Ok(*r);
        }
        let rows = crate::index::count_rows(self, col)?;
        if self.overlay.is_none() {
            let _ = self.version.rows.set(rows);
        }
        Ok(rows)
    }

    fn graph(&self, col: usize) -> Result<(&dyn GraphSource, &dyn Space)> {
        self.col.set(col);
        self.want.set(self.graph_want(col));
        Ok((self, self))
    }

    fn ivf(&self, col: usize) -> Result<&dyn IvfSource> {
        self.col.set(col);
        Ok(self)
    }

    fn chunk_vectors(&self, col: usize, chunk: i64) -> Option<crate::index::hnsw::level0::ChunkVectors> {
        if self.overlay.is_some() {
            return None;
        }
        let v: crate::index::hnsw::level0::ChunkVectors = self.loaded_chunk(chunk)?.raw.get(col)?.get()?.clone();
        Some(v)
    }

    fn level0(&self, col: usize) -> Result<Option<&Level0>> {
        if self.overlay.is_some() || !self.keep || self.graph_want(col) != Want::Nodes {
            return Ok(None);
        }
        let gc = self.graph_cache(col);
        if let Some(l) = gc.level0.get() {
            return Ok(Some(&l.value));
        }
        let n = gc.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed).saturating_add(1);
        // A version made from one that had an array, whose base went for too many changed
        // nodes, makes its own at once: it is in a stream of writes, where no version serves
        // hundreds of searches, and without an array its searches would all be slow.
        let after = if gc.warm && gc.base.is_none() { 1 } else { LEVEL0_AFTER };
        if n < after || !n.is_power_of_two() {
            return Ok(None);
        }
        self.make_level0(col, gc)?;
        Ok(gc.level0.get().map(|l| &*l.value))
    }

    fn level0_base(&self, col: usize) -> Result<Option<(&Level0, &[u64])>> {
        if self.overlay.is_some() || !self.keep || self.graph_want(col) != Want::Nodes {
            return Ok(None);
        }
        Ok(self.graph_cache(col).base.as_ref().map(|b| (&*b.l0.value, b.changed_bits())))
    }

    #[inline]
    fn prefetch_row(&self, col: usize, chunk: i64, slot: usize, depth: usize) {
        use crate::simd::prefetch_ref;
        if self.overlay.is_some() || !self.keep {
            return;
        }
        // The links: the version's id and slot entry → the slot's cell → the chunk → its
        // vector column's cell and the slot's rowid → the cached column → the vector.
        let v = &self.version;
        if depth == 0 {
            // Where the chunk's position usually is (ids 1, 2, 3, ...).
            let at = usize::try_from(chunk - 1).unwrap_or(usize::MAX);
            if let (Some(id), Some(cell)) = (v.ids.get(at), v.slots.get(at)) {
                prefetch_ref(id);
                prefetch_ref(cell);
            }
            return;
        }
        let Some(cell) = v.position(chunk).and_then(|p| v.slots.get(p)) else { return };
        if depth == 1 {
            prefetch_ref(&**cell);
            return;
        }
        let Some(c) = cell.get() else { return };
        if depth == 2 {
            prefetch_ref(&**c);
            return;
        }
        if depth == 3 {
            if let Some(r) = c.maps.rowids.get(slot) {
                prefetch_ref(r);
            }
            if let Some(b) = c.maps.validity.get(slot / 8) {
                prefetch_ref(b);
            }
            if let Some(x) = c.raw.get(col) {
                prefetch_ref(x);
            }
            return;
        }
        let Some(cc) = c.raw.get(col).and_then(|x| x.get()) else { return };
        if depth == 4 {
            prefetch_ref(&**cc);
            return;
        }
        if let Some(v) = self.loaded_vector(c, col, slot) {
            crate::simd::prefetch(v);
        }
    }

    fn row_if(
        &self,
        col: usize,
        chunk: i64,
        slot: usize,
        out: &mut [u8],
        wanted: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<i64>> {
        if !self.keep && self.overlay.is_none() {
            return self.paged_row(col, chunk, slot, out, wanted);
        }
        Ok(self.row(col, chunk, slot, out)?.filter(|_| wanted(&out[..self.store.cols[col].bytes])))
    }

    fn row(&self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<Option<i64>> {
        let rowid = match self.overlay.and_then(|o| o.chunks.get(&chunk)) {
            Some(oc) => oc.maps.is_used(slot).then(|| oc.maps.rowids[slot]),
            None => {
                if self.overlay.is_some_and(|o| o.ids.binary_search(&chunk).is_err()) {
                    return Ok(None);
                }
                if !self.keep {
                    return self.paged_row(col, chunk, slot, out, &mut |_| true);
                }
                let Some(pos) = self.version.position(chunk) else { return Ok(None) };
                let c = self.committed(pos)?;
                c.maps.is_used(slot).then(|| c.maps.rowids[slot])
            }
        };
        if rowid.is_some() {
            self.read_vector(col, chunk, slot, out)?;
        }
        Ok(rowid)
    }
}

impl View<'_> {
    /// A committed row read from the pages with the cache off (nothing kept): the vector
    /// first, then the rowid only if `wanted(vector)` (a rescoring search reads most vectors
    /// of rows that do not make its results; their rowids would cost a `t_chunks` page each).
    fn paged_row(
        &self,
        col: usize,
        chunk: i64,
        slot: usize,
        out: &mut [u8],
        wanted: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<i64>> {
        self.paged.set(true);
        let n = self.store.cols[col].bytes;
        {
            let mut readers = self.vectors.borrow_mut();
            let r = readers[col].get_or_insert_with(|| self.store.vector_reader(col));
            r.read_at(chunk, slot * n, &mut out[..n])?;
        }
        if !wanted(&out[..n]) {
            return Ok(None);
        }
        let mut slots = self.slots.borrow_mut();
        slots.get_or_insert_with(|| self.store.slot_reader()).rowid(chunk, slot)
    }

    /// Keep a committed chunk's vectors of column `col` beside its codes, if they are not
    /// yet and memory is free.
    fn keep_vectors(&self, c: &Chunk, col: usize) -> Result<()> {
        let n = self.store.cols[col].bytes;
        if c.raw[col].get().is_none()
            && self.keep
            && let Some(m) = crate::store::cache::charge_shedding(self.store.capacity * n)
        {
            let mut readers = self.vectors.borrow_mut();
            let r = readers[col].get_or_insert_with(|| self.store.vector_reader(col));
            let mut b = AlignedBuf::zeroed(self.store.capacity * n);
            r.read(c.maps.id, b.bytes_mut())?;
            let _ = c.raw[col].set(Arc::new(CachedCol::new(ColData::Raw(b), m)));
        }
        Ok(())
    }

    /// Committed chunk `chunk` when it is in memory (nothing is loaded).
    #[inline]
    fn loaded_chunk(&self, chunk: i64) -> Option<&Arc<Chunk>> {
        self.version.slots[self.version.position(chunk)?].get()
    }

    /// Column `col`'s vector in `slot` of a chunk, when the chunk keeps its vectors in memory.
    #[inline]
    fn loaded_vector<'c>(&self, c: &'c Chunk, col: usize, slot: usize) -> Option<&'c [u8]> {
        let nb = self.store.cols[col].bytes;
        match c.raw[col].get().map(|x| &x.data) {
            Some(ColData::Raw(b)) => b.bytes().get(slot * nb..(slot + 1) * nb),
            _ => None,
        }
    }

    /// Whether this transaction changed column `col`'s IVF centroids (then lists and
    /// centroids are read from the pages).
    fn ivf_retrained(&self, col: usize) -> bool {
        self.overlay
            .and_then(|o| o.changes)
            .is_some_and(|c| c.all() || c.contains(crate::store::changes::SPACE_IVF_CENTROIDS + col as u8, 0))
    }
}

impl IvfSource for View<'_> {
    fn lists(&self) -> Result<usize> {
        let col = self.col.get();
        if self.ivf_retrained(col) {
            return self.store.ivf_lists(col);
        }
        Ok(super::ivf::cache(self.store, &self.version, col)?.lists)
    }

    fn centroids(&self) -> Result<Arc<Centroids>> {
        let col = self.col.get();
        if self.ivf_retrained(col) {
            let oivf = self.overlay.and_then(|o| o.ivf).and_then(|i| i.get(col));
            if let Some(c) = oivf.and_then(|o| o.centroids.get()) {
                return Ok(c.clone());
            }
            self.paged.set(true);
            let c = Arc::new(self.store.load_centroids(col, self.store.ivf_lists(col)?)?);
            if let Some(o) = oivf {
                let _ = o.centroids.set(c.clone());
            }
            return Ok(c);
        }
        super::ivf::committed_centroids(self.store, &self.version, col, self.key, self.keep)
    }

    fn list(&self, l: usize) -> Result<Arc<PostingList>> {
        let col = self.col.get();
        let touched = self.overlay.and_then(|o| o.changes).is_some_and(|c| c.ivf_list_changed(col, l as u32));
        if touched {
            self.paged.set(true);
            return Ok(Arc::new(self.store.load_list(col, l as u32, &self.store.ivf_layout(col)?)?));
        }
        let c = super::ivf::cache(self.store, &self.version, col)?;
        if c.entries.get(l).is_none_or(|e| e.get().is_none()) {
            self.paged.set(true);
        }
        super::ivf::committed_list(self.store, &self.version, col, l, self.key, self.keep)
    }
}

impl View<'_> {
    /// The writing transaction's copy of node `n`'s graph leaf, when it has one.
    #[inline]
    fn own_leaf(&self, n: u32) -> Option<&super::overlay::OLeaf> {
        self.overlay.and_then(|o| o.graphs).and_then(|g| g.get(self.col.get())).and_then(|g| g.leaves.get(&(n / LEAF)))
    }
}

impl GraphSource for View<'_> {
    fn entry(&self) -> Result<Option<u32>> {
        let col = self.col.get();
        if let Some(g) = self.overlay.and_then(|o| o.graphs).and_then(|g| g.get(col))
            && let Some(e) = g.entry
        {
            return Ok(e);
        }
        let gc = self.graph_cache(col);
        if let Some(e) = gc.entry.get() {
            return Ok(*e);
        }
        let e = self.store.graph_entry(col)?;
        let _ = gc.entry.set(e);
        Ok(e)
    }

    #[inline]
    fn node(&self, n: u32) -> Result<Option<&Node>> {
        if let Some(l) = self.own_leaf(n) {
            return Ok(l.get(n));
        }
        Ok(self.committed_leaf(self.col.get(), n / LEAF)?.and_then(|l| l.node(n)))
    }

    #[inline]
    fn has_dups(&self, n: u32) -> Result<bool> {
        if self.overlay.is_none_or(|o| o.graphs.is_none()) {
            return Ok(self
                .committed_leaf(self.col.get(), n / LEAF)?
                .is_some_and(|l| l.l0().has_dups((n % LEAF) as usize)));
        }
        Ok(self.node(n)?.is_some_and(|x| !x.dups.is_empty()))
    }

    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        if level == 0 && self.overlay.is_none_or(|o| o.graphs.is_none()) {
            let leaf = n / LEAF;
            return Ok(self.committed_leaf(self.col.get(), leaf)?.and_then(|l| l.l0().get((n % LEAF) as usize)));
        }
        if level == 0
            && let Some(l) = self.own_leaf(n)
        {
            return Ok(l.links0(n));
        }
        Ok(self.node(n)?.map(|x| x.layer(level)))
    }
}

impl Space for View<'_> {
    fn metric(&self) -> Metric {
        self.store.cols[self.col.get()].metric
    }

    /// The slots of the chunks this view sees (chunk ids run from 1).
    fn node_limit(&self) -> u32 {
        let last = self.ids().last().copied().unwrap_or(0).max(0) as u64;
        u32::try_from(last.saturating_mul(self.store.capacity as u64)).unwrap_or(u32::MAX)
    }

    fn kind(&self) -> SpaceKind {
        let l = self.store.cols[self.col.get()];
        space_kind(l.ty, l.metric)
    }

    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>> {
        let Some((maps, data, slot)) = self.locate(n)? else { return Ok(None) };
        let rowid = maps.rowids[slot];
        Ok(self.node_code(data, slot).map(|p| NodeCode { rowid, code: p.code, scale: p.scale, norm: p.norm }))
    }

    #[inline]
    fn probe(&self, n: u32) -> Result<Option<Probe<'_>>> {
        if let Some(l0) = self.base_level0(n) {
            return l0.probe(n);
        }
        let Some((_, data, slot)) = self.locate(n)? else { return Ok(None) };
        Ok(self.node_code(data, slot))
    }

    #[inline]
    fn prefetch_vector(&self, n: u32) {
        if self.overlay.is_some() {
            return;
        }
        let (chunk, slot) = slot_of(n, self.store.capacity);
        if let Some(c) = self.loaded_chunk(chunk)
            && let Some(v) = self.loaded_vector(c, self.col.get(), slot)
        {
            crate::simd::prefetch(v);
        }
    }

    #[inline]
    fn code_ref(&self, n: u32) -> Result<Option<CodeRef<'_>>> {
        if let Some(l0) = self.base_level0(n) {
            return l0.code_ref(n);
        }
        let Some((_, data, slot)) = self.locate(n)? else { return Ok(None) };
        Ok(match data {
            ColData::Nodes(nc) => nc.record(slot).map(|r| CodeRef::Record(r, nc.dims)),
            _ => self.node_code(data, slot).map(CodeRef::Probe),
        })
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        if self.overlay.is_some() {
            return;
        }
        let (chunk, slot) = slot_of(n, self.store.capacity);
        if let Some(pos) = self.version.position(chunk)
            && let Some(c) = self.version.slots[pos].get()
            && let Some(Some(cc)) = c.cols[self.col.get()].get()
            && let ColData::Nodes(nc) = &cc.data
        {
            nc.prefetch(slot);
        }
    }
}

/// Searches of a graph version after which its layer 0 and codes are copied into one array
/// ([`Level0`]), tried again at each doubling (512, 1024, ...) until it is made: a version
/// that one write soon replaces is not copied, and a cold connection's first answers are not
/// delayed by it.
const LEVEL0_AFTER: u32 = 256;
/// The share of a version's chunk codes that must be in memory already for the rest (and
/// the graph blocks not yet read, which are small beside them) to be read to make its
/// [`Level0`]: searches that touched as much are not an outlier.
const LEVEL0_LOADED: f64 = 0.9;

impl View<'_> {
    /// Make column `col`'s [`Level0`] for this version (an Sq8 graph), if the version's codes
    /// are nearly all in memory, its node numbers dense, and the budget holds it.
    fn make_level0(&self, col: usize, gc: &GraphCache) -> Result<()> {
        let cap = self.store.capacity;
        let ids = &self.version.ids;
        let Some(&max_id) = ids.last() else { return Ok(()) };
        // Node numbers run over chunk ids: a table whose ids are mostly gone (a few chunks
        // left of many) would need a sparse array.
        if max_id < 1 || (max_id as usize) > 2 * ids.len() {
            return Ok(());
        }
        let (nodes, max0) = (max_id as usize * cap, self.links.0);
        let chunks = self.version.slots.iter().filter(|s| s.get().is_some_and(|c| c.cols[col].get().is_some())).count();
        if (chunks as f64) < LEVEL0_LOADED * ids.len() as f64 {
            return Ok(());
        }
        let l = self.store.cols[col];
        let Some(mem) = crate::store::cache::charge_evicting(Level0::bytes_for(nodes, l.dims, max0), self.key) else {
            return Ok(());
        };
        let mut l0 = Level0::new(l.metric, nodes, l.dims, max0);
        l0.set_layout(cap, l.bytes, max_id as usize);
        let entry = match gc.entry.get() {
            Some(e) => *e,
            None => {
                let e = self.store.graph_entry(col)?;
                let _ = gc.entry.set(e);
                e
            }
        };
        l0.set_entry(entry);
        for i in 0..gc.leaves.len() {
            let Some(leaf) = self.committed_leaf(col, i as u32)? else { continue };
            for j in 0..LEAF as usize {
                let n = i as u32 * LEAF + j as u32;
                if let Some(links) = leaf.l0().get(j) {
                    if !l0.set_links(n, links) {
                        return Ok(()); // a node beyond the chunks, or too many links: not ours to judge here
                    }
                    if leaf.l0().has_dups(j) {
                        l0.set_head(n);
                    }
                    if let Some(node) = leaf.upper(n) {
                        l0.set_upper(n, node);
                    }
                }
            }
        }
        for (pos, &id) in ids.iter().enumerate() {
            let c = self.committed(pos)?;
            self.load_nodes(c, col, Want::Nodes)?;
            // The vectors in memory now; searches bring in the others as they rescore.
            if let Some(v) = c.raw[col].get() {
                l0.set_vectors(id, v.clone());
            }
            let Some(Some(cc)) = c.cols[col].get() else { return Ok(()) };
            let ColData::Nodes(nc) = &cc.data else { return Ok(()) };
            for slot in (0..cap).filter(|s| c.maps.is_used(*s)) {
                if let Some((code, scale, norm)) = nc.get(slot)
                    && !l0.set_code(node_of(id, slot, cap), c.maps.rowids[slot], code, scale, norm)
                {
                    return Ok(());
                }
            }
        }
        let _ = gc.level0.set(Arc::new(Charged::new(Arc::new(l0), mem)));
        Ok(())
    }
}

impl View<'_> {
    /// For a writer's view: the committed version's [`Level0`] when node `n`'s chunk is one
    /// the transaction has not touched (and still has), so its code is the committed one.
    #[inline]
    fn base_level0(&self, n: u32) -> Option<&Level0> {
        self.overlay?;
        let gc = self.version.graphs.get(self.col.get())?.get()?;
        let (chunk, _) = slot_of(n, self.store.capacity);
        if self.ov_held.contains(chunk) || !self.ov_live.contains(chunk) {
            return None;
        }
        gc.array_for(n)
    }

    /// Where node `n`'s code is: its chunk's maps and navigation data, and its slot (None: the
    /// slot holds no row). Loads the chunk's codes into memory on first use.
    #[inline]
    fn locate(&self, n: u32) -> Result<Option<(&Maps, &ColData, usize)>> {
        let col = self.col.get();
        let cap = self.store.capacity;
        let (chunk, slot) = slot_of(n, cap);
        let want = self.want.get();
        if let Some(o) = self.overlay {
            if self.ov_held.contains(chunk)
                && let Some(oc) = o.chunks.get(&chunk)
            {
                if !oc.maps.is_used(slot) {
                    return Ok(None);
                }
                if oc.cols[col].get().is_none() {
                    let _ = oc.cols[col].set(self.read_col(col, chunk, want)?);
                }
                let data = oc.cols[col].get().ok_or_else(|| Error::invalid("vindex: overlay column"))?;
                return Ok(Some((&oc.maps, data, slot)));
            }
            if !self.ov_live.contains(chunk) {
                return Ok(None);
            }
        }
        let Some(pos) = self.version.position(chunk) else { return Ok(None) };
        let c = self.committed(pos)?;
        if !c.maps.is_used(slot) {
            return Ok(None);
        }
        self.load_nodes(c, col, want)?;
        match c.cols[col].get() {
            Some(Some(cc)) => Ok(Some((&c.maps, &cc.data, slot))),
            _ => Err(Error::invalid("vindex: chunk column cache")),
        }
    }

    /// Make sure a committed chunk's navigation data for `col` is in memory.
    #[inline]
    fn load_nodes(&self, c: &Chunk, col: usize, want: Want) -> Result<()> {
        if c.cols[col].get().is_none() {
            // Graph searches need their codes in memory: charge them even over budget.
            let data = self.read_nodes(c, col, want)?;
            let m = crate::store::cache::charge_evicting(data.mem_bytes(), self.key)
                .unwrap_or_else(|| MemToken::charge(data.mem_bytes()));
            let _ = c.cols[col].set(Some(Arc::new(CachedCol::new(data, m))));
        }
        Ok(())
    }

    /// A committed chunk's navigation data for `col`. Codes are computed from the vectors,
    /// which rescoring reads too: from the cached ones when they are in memory, else from the
    /// pages, keeping them (memory permitting), so a cold search reads each chunk's vectors
    /// once, not once for codes and again to rescore.
    fn read_nodes(&self, c: &Chunk, col: usize, want: Want) -> Result<ColData> {
        let l = self.store.cols[col];
        if want == Want::Nodes
            && let Some(ColData::Raw(b)) = c.raw[col].get().map(|r| &r.data)
        {
            return Ok(compute_nodes(b.bytes(), l.ty, self.store.capacity, l.dims));
        }
        if want != Want::Nodes || !self.keep {
            return self.read_col(col, c.maps.id, want);
        }
        let raw = self.read_col(col, c.maps.id, Want::Raw)?;
        let ColData::Raw(b) = &raw else { return Err(Error::invalid("vindex: vectors read as codes")) };
        let nodes = compute_nodes(b.bytes(), l.ty, self.store.capacity, l.dims);
        if let Some(m) = crate::store::cache::charge_shedding(raw.mem_bytes()) {
            let _ = c.raw[col].set(Arc::new(CachedCol::new(raw, m)));
        }
        Ok(nodes)
    }

    /// The navigation code in `data` at `slot`.
    #[inline]
    fn node_code<'d>(&self, data: &'d ColData, slot: usize) -> Option<Probe<'d>> {
        match data {
            ColData::Nodes(nc) => nc.get(slot).map(|(code, scale, norm)| Probe { code, scale, norm }),
            ColData::Codes(codes) => {
                let (scale, _, norm) = codes.params(slot);
                Some(Probe { code: codes.code(slot), scale, norm })
            }
            ColData::Raw(b) => {
                let nb = self.store.cols[self.col.get()].bytes;
                b.bytes().get(slot * nb..(slot + 1) * nb).map(|x| Probe {
                    code: bytemuck::cast_slice(x),
                    scale: 0.0,
                    norm: 0.0,
                })
            }
        }
    }
}

/// The maps of every chunk a view sees, for 'optimize' and the check.
pub fn all_maps(view: &mut View<'_>) -> Result<Vec<Maps>> {
    let mut out = Vec::new();
    view.scan(0, Want::Maps, None, &mut |v| {
        out.push(v.maps.clone());
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    /// Dense ids make a bitset, a far-out id (a damaged `t_chunks`) the sorted list; both
    /// answer alike, and neither allocates by the largest id.
    #[test]
    fn id_sets_stay_small_for_far_ids() {
        let dense = IdSet::new([3, 1, 2, 70].into_iter());
        assert!(matches!(dense, IdSet::Bits(ref b) if b.len() == 2));
        let far = IdSet::new([3, 1, i64::MAX - 5, -4].into_iter());
        assert!(matches!(far, IdSet::Sorted(ref v) if v.len() == 3));
        for (set, member) in [(&dense, 70), (&far, i64::MAX - 5)] {
            assert!(set.contains(1) && set.contains(3) && set.contains(member));
            assert!(!set.contains(0) && !set.contains(4) && !set.contains(-4) && !set.contains(i64::MAX));
        }
        assert!(!IdSet::new(std::iter::empty()).contains(1));
    }
}
