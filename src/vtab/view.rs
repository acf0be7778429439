//! The table as one query sees it — a committed version from the shared cache, or this
//! connection's overlay on top of one — as a [`ChunkSource`] for the index algorithms. Chunks
//! and column data missing from memory are read from the pages (under the query's own
//! snapshot, which is the version's) and kept in the version when the budget allows.

use super::overlay::Overlay;
use crate::error::{Error, Result};
use crate::index::buf::AlignedBuf;
use crate::index::chunk::{ChunkCodes, ColData, Maps};
use crate::index::{ChunkSource, ChunkView, Want};
use crate::store::cache::{CacheKey, MemToken, Version};
use crate::store::chunks::{CachedCol, Chunk};
use crate::store::{ChunkReader, Store};
use std::sync::Arc;

pub struct View<'a> {
    store: &'a Store,
    version: Arc<Version>,
    overlay: Option<&'a Overlay>,
    key: Option<&'a CacheKey>,
    /// Column data is kept in memory (the cache is on).
    keep: bool,
    vectors: Vec<Option<ChunkReader<'a>>>,
    codes: Vec<Option<ChunkReader<'a>>>,
    paged: bool,
}

impl<'a> View<'a> {
    pub fn new(
        store: &'a Store,
        version: Arc<Version>,
        overlay: Option<&'a Overlay>,
        key: Option<&'a CacheKey>,
        keep: bool,
    ) -> View<'a> {
        let n = store.cols.len();
        View {
            store,
            version,
            overlay,
            key,
            keep,
            vectors: (0..n).map(|_| None).collect(),
            codes: (0..n).map(|_| None).collect(),
            paged: false,
        }
    }

    /// Up to `n` rowids spread over the table (a Weyl sequence of positions, not a fixed
    /// stride, which periodic data would alias with); empty for tables under `min` rows.
    /// Kept in the committed version; recomputed for a writer's own view.
    pub fn sample(&mut self, n: usize, min: usize) -> Result<Vec<i64>> {
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
            Some(o) => &o.ids,
            None => &self.version.ids,
        }
    }

    /// The committed chunk at `pos` of the version, loading its maps if needed.
    fn committed(&mut self, pos: usize) -> Result<Arc<Chunk>> {
        let slot = &self.version.slots[pos];
        if let Some(c) = slot.get() {
            return Ok(c.clone());
        }
        let id = self.version.ids[pos];
        let maps = self
            .store
            .load_maps(id)?
            .ok_or_else(|| Error::corrupt(format!("{}: chunk {id} is missing", self.store.names.raw("chunks"))))?;
        self.paged = true;
        let mem = MemToken::charge(maps.bytes());
        let c = Arc::new(Chunk::new(maps, self.store.cols.len(), mem));
        let _ = slot.set(c.clone());
        Ok(slot.get().cloned().unwrap_or(c))
    }

    /// Column `col`'s data of chunk `id` read from the pages.
    fn read_col(&mut self, col: usize, id: i64, want: Want) -> Result<ColData> {
        self.paged = true;
        let cap = self.store.capacity;
        let l = self.store.cols[col];
        match want {
            Want::Codes => {
                let r = self.codes[col].get_or_insert_with(|| self.store.code_reader(col));
                let mut c = ChunkCodes::zeroed(cap, l.dims);
                r.read(id, c.buf.bytes_mut())?;
                Ok(ColData::Codes(c))
            }
            _ => {
                let r = self.vectors[col].get_or_insert_with(|| self.store.vector_reader(col));
                let mut b = AlignedBuf::zeroed(cap * l.bytes);
                r.read(id, b.bytes_mut())?;
                Ok(ColData::Raw(b))
            }
        }
    }

    fn check_want(&self, col: usize, want: Want) -> Result<()> {
        if want == Want::Codes && !self.store.cols[col].coded {
            return Err(Error::invalid(format!("vindex: column {col} has no codes")));
        }
        Ok(())
    }
}

impl ChunkSource for View<'_> {
    fn capacity(&self) -> usize {
        self.store.capacity
    }

    fn scan(
        &mut self,
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
                let data = match (want, &oc.cols[col]) {
                    (Want::Maps, _) => None,
                    (_, Some(d)) => Some(Scratch::Borrowed(d)),
                    (_, None) => Some(Scratch::Owned(self.read_col(col, id, want)?)),
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
            if let Some(c) = chunk.cols[col].get() {
                match c {
                    Some(c) => f(&ChunkView { maps: &chunk.maps, data: Some(&c.data) })?,
                    None => {
                        let data = self.read_col(col, id, want)?;
                        f(&ChunkView { maps: &chunk.maps, data: Some(&data) })?;
                    }
                }
                continue;
            }
            let data = self.read_col(col, id, want)?;
            let token = if self.keep { crate::store::cache::charge_evicting(data.mem_bytes(), self.key) } else { None };
            match token {
                Some(m) => {
                    let k = Arc::new(CachedCol::new(data, m));
                    let _ = chunk.cols[col].set(Some(k.clone()));
                    f(&ChunkView { maps: &chunk.maps, data: Some(&k.data) })?;
                }
                None => f(&ChunkView { maps: &chunk.maps, data: Some(&data) })?,
            }
        }
        Ok(())
    }

    fn read_vector(&mut self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()> {
        let n = self.store.cols[col].bytes;
        let committed = match self.overlay {
            Some(o) if o.chunks.contains_key(&chunk) => None,
            _ => self.version.position(chunk).and_then(|p| self.version.slots[p].get().cloned()),
        };
        if let Some(c) = committed {
            if self.store.cols[col].coded {
                // Scans read codes; rescoring wants the vectors: keep the whole chunk's when
                // memory is free, so the next queries rescore from memory.
                if c.raw[col].get().is_none()
                    && self.keep
                    && let Some(m) = MemToken::try_charge_free(self.store.capacity * n)
                {
                    let r = self.vectors[col].get_or_insert_with(|| self.store.vector_reader(col));
                    let mut b = AlignedBuf::zeroed(self.store.capacity * n);
                    r.read(chunk, b.bytes_mut())?;
                    let _ = c.raw[col].set(Arc::new(CachedCol::new(ColData::Raw(b), m)));
                }
                if let Some(ColData::Raw(b)) = c.raw[col].get().map(|x| &x.data) {
                    out[..n].copy_from_slice(&b.bytes()[slot * n..(slot + 1) * n]);
                    return Ok(());
                }
            } else if let Some(Some(cc)) = c.cols[col].get()
                && let ColData::Raw(b) = &cc.data
            {
                out[..n].copy_from_slice(&b.bytes()[slot * n..(slot + 1) * n]);
                return Ok(());
            }
        }
        let r = self.vectors[col].get_or_insert_with(|| self.store.vector_reader(col));
        r.read_at(chunk, slot * n, &mut out[..n])
    }

    fn served_from_memory(&self) -> bool {
        !self.paged
    }
}

/// Column data a scan hands out: from memory, or read for this chunk only.
enum Scratch<'a> {
    Borrowed(&'a ColData),
    Owned(ColData),
}

impl Scratch<'_> {
    fn get(&self) -> &ColData {
        match self {
            Scratch::Borrowed(d) => d,
            Scratch::Owned(d) => d,
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
