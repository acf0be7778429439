//! The in-memory picture of a table's chunks (which slots are used, by which rowids) and,
//! memory permitting, a decoded copy of their vectors and of their int8 codes (see
//! `index::sq8`). It is valid for exactly one value of the generation counter: readers rebuild
//! it when the counter moved; the connection's own writes update it in step with the pages;
//! ROLLBACK drops it.

use crate::error::{Error, Result};
pub use crate::index::buf::AlignedBuf;
use crate::index::sq8::Codes;
use crate::store::{Loc, Store};
use std::collections::{BTreeSet, HashMap};

use crate::store::cache::{release, try_reserve};

pub struct ChunkMeta {
    pub id: i64,
    pub validity: Vec<u8>,
    pub rowids: Vec<i64>,
    pub used: usize,
    /// Decoded vectors per vector column (None: not cached).
    pub vectors: Vec<Option<AlignedBuf>>,
    /// int8 codes per vector column (float32 columns whose metric the prescan serves).
    pub codes: Vec<Option<Codes>>,
}

impl ChunkMeta {
    pub fn is_used(&self, slot: usize) -> bool {
        self.validity.get(slot / 8).is_some_and(|b| b & (1 << (slot % 8)) != 0)
    }
    fn first_free(&self) -> Option<usize> {
        self.validity.iter().enumerate().find(|(_, b)| **b != 0xff).map(|(i, b)| i * 8 + (!b).trailing_zeros() as usize)
    }
    fn held_bytes(&self) -> usize {
        self.vectors.iter().flatten().map(|b| b.len()).sum::<usize>()
            + self.codes.iter().flatten().map(|c| c.bytes()).sum::<usize>()
    }
}

/// What a vector column keeps in memory besides its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnCache {
    /// Dimensions when the column keeps int8 codes (float32 columns, prescan metrics).
    pub code_dims: Option<usize>,
}

pub struct Layout {
    pub generation: i64,
    pub capacity: usize,
    /// Sorted by id.
    pub chunks: Vec<ChunkMeta>,
    pos: HashMap<i64, usize>,
    /// Ids of chunks with at least one free slot (where inserts go).
    with_room: BTreeSet<i64>,
    columns: Vec<ColumnCache>,
    cached_bytes: usize,
    /// False once something could not be cached for lack of budget (until the next query).
    pub cache_enabled: bool,
}

impl Drop for Layout {
    fn drop(&mut self) {
        release(self.cached_bytes);
    }
}

impl Layout {
    /// Read every chunk's validity and rowids (no vectors).
    pub fn load(store: &Store, generation: i64, columns: Vec<ColumnCache>) -> Result<Layout> {
        let cap = store.capacity;
        let sql = format!("SELECT id, validity, rowids FROM {} ORDER BY id", store.names.chunks());
        let mut st = store.stmts.get(&sql)?;
        let mut chunks = Vec::new();
        let nv = columns.len();
        while st.step()? {
            let id = st.column_i64(0);
            let validity = st.column_blob(1).to_vec();
            let rowid_bytes = st.column_blob(2);
            if validity.len() != cap / 8 || rowid_bytes.len() != cap * 8 {
                return Err(Error::corrupt(format!(
                    "{}: chunk {id} has {} validity bytes and {} rowid bytes, expected {} and {}",
                    store.names.raw("chunks"),
                    validity.len(),
                    rowid_bytes.len(),
                    cap / 8,
                    cap * 8
                )));
            }
            let rowids: Vec<i64> =
                rowid_bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
            let used = validity.iter().map(|b| b.count_ones() as usize).sum();
            chunks.push(ChunkMeta {
                id,
                validity,
                rowids,
                used,
                vectors: (0..nv).map(|_| None).collect(),
                codes: (0..nv).map(|_| None).collect(),
            });
        }
        drop(st);
        let pos = chunks.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let with_room = chunks.iter().filter(|c| c.used < cap).map(|c| c.id).collect();
        Ok(Layout { generation, capacity: cap, chunks, pos, with_room, columns, cached_bytes: 0, cache_enabled: true })
    }

    pub fn chunk(&self, id: i64) -> Option<&ChunkMeta> {
        self.pos.get(&id).map(|&i| &self.chunks[i])
    }
    fn chunk_mut(&mut self, id: i64) -> Option<&mut ChunkMeta> {
        self.pos.get(&id).map(|&i| &mut self.chunks[i])
    }
    pub fn position(&self, id: i64) -> Option<usize> {
        self.pos.get(&id).copied()
    }
    pub fn column(&self, vslot: usize) -> ColumnCache {
        self.columns[vslot]
    }

    pub fn rows(&self) -> usize {
        self.chunks.iter().map(|c| c.used).sum()
    }
    /// Free slots inside chunks that hold rows (space left by deletes, reusable by inserts).
    pub fn free_slots(&self) -> usize {
        self.chunks.iter().map(|c| self.capacity - c.used).sum()
    }
    pub fn cached_bytes(&self) -> usize {
        self.cached_bytes
    }
    /// True when every chunk's vectors of column `vslot` are in memory.
    pub fn fully_cached(&self, vslot: usize) -> bool {
        self.chunks.iter().all(|c| c.vectors[vslot].is_some())
    }
    /// True when every chunk of column `vslot` has int8 codes.
    pub fn fully_coded(&self, vslot: usize) -> bool {
        self.columns[vslot].code_dims.is_some() && self.chunks.iter().all(|c| c.codes[vslot].is_some())
    }

    /// Drop every cached vector and code (when the process is over its cache limit).
    pub fn drop_cache(&mut self) {
        for c in &mut self.chunks {
            c.vectors.iter_mut().for_each(|v| *v = None);
            c.codes.iter_mut().for_each(|v| *v = None);
        }
        release(self.cached_bytes);
        self.cached_bytes = 0;
    }

    /// Keep `buf` as chunk `id`'s vectors of column `vslot` if the memory budget allows.
    /// Returns the buffer back when it was not kept.
    pub fn offer_cache(&mut self, id: i64, vslot: usize, buf: AlignedBuf) -> Option<AlignedBuf> {
        if !self.cache_enabled {
            return Some(buf);
        }
        if !try_reserve(buf.len()) {
            self.cache_enabled = false;
            return Some(buf);
        }
        let n = buf.len();
        match self.chunk_mut(id) {
            Some(c) if c.vectors[vslot].is_none() => {
                c.vectors[vslot] = Some(buf);
                self.cached_bytes += n;
                None
            }
            _ => {
                release(n);
                Some(buf)
            }
        }
    }

    /// Compute and keep int8 codes for chunk at position `i` from its float32 `vectors`, if the
    /// column keeps codes and the budget allows.
    pub fn build_codes(&mut self, i: usize, vslot: usize, vectors: &[u8]) {
        let Some(dims) = self.columns[vslot].code_dims else { return };
        if !self.cache_enabled || self.chunks[i].codes[vslot].is_some() {
            return;
        }
        let cap = self.capacity;
        let mut codes = Codes::new(cap, dims);
        if !try_reserve(codes.bytes()) {
            self.cache_enabled = false;
            return;
        }
        let f: &[f32] = match bytemuck::try_cast_slice(vectors) {
            Ok(f) => f,
            Err(_) => {
                release(codes.bytes());
                return;
            }
        };
        let c = &mut self.chunks[i];
        for slot in 0..cap {
            if c.is_used(slot) && !codes.set(slot, &f[slot * dims..(slot + 1) * dims]) {
                release(codes.bytes());
                self.columns[vslot].code_dims = None;
                return;
            }
        }
        self.cached_bytes += codes.bytes();
        c.codes[vslot] = Some(codes);
    }

    /// Where the next inserted row goes: the first free slot of the lowest chunk with room, or
    /// slot 0 of a new chunk (`new_chunk` = true). Deterministic for a given table state.
    pub fn allocate(&self) -> (Loc, bool) {
        for &id in &self.with_room {
            if let Some(slot) = self.chunk(id).and_then(|c| c.first_free()) {
                return (Loc { chunk: id, slot }, false);
            }
        }
        let id = self.chunks.last().map_or(1, |c| c.id + 1);
        (Loc { chunk: id, slot: 0 }, true)
    }

    /// Add an empty chunk. Its vectors and codes are kept in memory (as zeros) for every
    /// column whose other chunks are all in memory, so a complete cache stays complete.
    pub fn add_chunk(&mut self, id: i64, vector_bytes: &[usize]) {
        let cap = self.capacity;
        let nv = vector_bytes.len();
        let had_chunks = !self.chunks.is_empty();
        let meta = ChunkMeta {
            id,
            validity: vec![0; cap / 8],
            rowids: vec![0; cap],
            used: 0,
            vectors: (0..nv).map(|_| None).collect(),
            codes: (0..nv).map(|_| None).collect(),
        };
        let i = self.chunks.partition_point(|c| c.id < id);
        self.chunks.insert(i, meta);
        self.with_room.insert(id);
        self.reindex();
        if !had_chunks {
            return;
        }
        for (v, &b) in vector_bytes.iter().enumerate() {
            let all_vectors = self.chunks.iter().filter(|c| c.id != id).all(|c| c.vectors[v].is_some());
            let all_codes = self.chunks.iter().filter(|c| c.id != id).all(|c| c.codes[v].is_some());
            if all_vectors {
                let _ = self.offer_cache(id, v, AlignedBuf::zeroed(b * cap));
            }
            if let Some(dims) = self.columns[v].code_dims
                && all_codes
            {
                let codes = Codes::new(cap, dims);
                if self.cache_enabled && try_reserve(codes.bytes()) {
                    self.cached_bytes += codes.bytes();
                    self.chunks[i].codes[v] = Some(codes);
                }
            }
        }
    }

    pub fn remove_chunk(&mut self, id: i64) {
        if let Some(i) = self.position(id) {
            let c = self.chunks.remove(i);
            self.with_room.remove(&id);
            let freed = c.held_bytes();
            self.cached_bytes -= freed;
            release(freed);
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.pos = self.chunks.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    }

    pub fn set_slot(&mut self, loc: Loc, rowid: Option<i64>) {
        let cap = self.capacity;
        if let Some(c) = self.chunk_mut(loc.chunk) {
            let was = c.is_used(loc.slot);
            match rowid {
                Some(r) => {
                    c.validity[loc.slot / 8] |= 1 << (loc.slot % 8);
                    c.rowids[loc.slot] = r;
                    if !was {
                        c.used += 1;
                    }
                }
                None => {
                    c.validity[loc.slot / 8] &= !(1 << (loc.slot % 8));
                    c.rowids[loc.slot] = 0;
                    if was {
                        c.used -= 1;
                    }
                }
            }
            if c.used >= cap {
                self.with_room.remove(&loc.chunk);
            } else {
                self.with_room.insert(loc.chunk);
            }
        }
    }

    /// Mirror a vector write into cached vectors and codes.
    pub fn write_vector(&mut self, vslot: usize, loc: Loc, bytes: &[u8]) {
        let code_dims = self.columns[vslot].code_dims;
        let Some(i) = self.position(loc.chunk) else { return };
        let c = &mut self.chunks[i];
        if let Some(buf) = c.vectors[vslot].as_mut() {
            let n = bytes.len();
            if let Some(dst) = buf.bytes_mut().get_mut(loc.slot * n..(loc.slot + 1) * n) {
                dst.copy_from_slice(bytes);
            }
        }
        if let (Some(codes), Some(_)) = (c.codes[vslot].as_mut(), code_dims) {
            let x: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
            if !codes.set(loc.slot, &x) {
                // Drop the column's codes: the prescan no longer applies.
                for c in &mut self.chunks {
                    if let Some(old) = c.codes[vslot].take() {
                        self.cached_bytes -= old.bytes();
                        release(old.bytes());
                    }
                }
                self.columns[vslot].code_dims = None;
            }
        }
    }

    pub fn cached_vector(&self, vslot: usize, loc: Loc, n: usize) -> Option<&[u8]> {
        let c = self.chunk(loc.chunk)?;
        c.vectors.get(vslot)?.as_ref()?.bytes().get(loc.slot * n..(loc.slot + 1) * n)
    }
}
