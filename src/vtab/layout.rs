//! The in-memory picture of a table's chunks (which slots are used, by which rowids) and,
//! memory permitting, a decoded copy of their vectors. It is valid for exactly one value of the
//! generation counter: readers rebuild it when the counter moved; the connection's own writes
//! update it in step with the pages; ROLLBACK drops it.

use crate::error::{Error, Result};
use crate::store::{Loc, Store};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of decoded vectors held by all vindex tables of this process, and the limit.
static CACHE_USED: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_CACHE_LIMIT);
pub const DEFAULT_CACHE_LIMIT: usize = 1 << 30;

pub fn cache_limit() -> usize {
    CACHE_LIMIT.load(Ordering::Relaxed)
}
pub fn set_cache_limit(bytes: usize) {
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
}
pub fn cache_used() -> usize {
    CACHE_USED.load(Ordering::Relaxed)
}

fn try_reserve(n: usize) -> bool {
    let limit = cache_limit();
    CACHE_USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| (u + n <= limit).then_some(u + n)).is_ok()
}
fn release(n: usize) {
    CACHE_USED.fetch_sub(n, Ordering::Relaxed);
}

/// A byte buffer aligned for any element type (backed by u64 words).
#[derive(Clone)]
pub struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        AlignedBuf { words: vec![0u64; len.div_ceil(8)], len }
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

pub struct ChunkMeta {
    pub id: i64,
    pub validity: Vec<u8>,
    pub rowids: Vec<i64>,
    pub used: usize,
    /// Decoded vectors per vector column (None: not cached).
    pub vectors: Vec<Option<AlignedBuf>>,
}

impl ChunkMeta {
    pub fn is_used(&self, slot: usize) -> bool {
        self.validity.get(slot / 8).is_some_and(|b| b & (1 << (slot % 8)) != 0)
    }
    fn first_free(&self) -> Option<usize> {
        self.validity.iter().enumerate().find(|(_, b)| **b != 0xff).map(|(i, b)| i * 8 + (!b).trailing_zeros() as usize)
    }
}

pub struct Layout {
    pub generation: i64,
    pub capacity: usize,
    /// Sorted by id.
    pub chunks: Vec<ChunkMeta>,
    pos: HashMap<i64, usize>,
    /// Ids of chunks with at least one free slot (where inserts go).
    with_room: BTreeSet<i64>,
    cached_bytes: usize,
    /// False once a chunk could not be cached for lack of budget (stop trying until rebuilt).
    pub cache_enabled: bool,
}

impl Drop for Layout {
    fn drop(&mut self) {
        release(self.cached_bytes);
    }
}

impl Layout {
    /// Read every chunk's validity and rowids (no vectors).
    pub fn load(store: &Store, generation: i64) -> Result<Layout> {
        let cap = store.capacity;
        let sql = format!("SELECT id, validity, rowids FROM {} ORDER BY id", store.names.chunks());
        let mut st = store.stmts.get(&sql)?;
        let mut chunks = Vec::new();
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
            chunks.push(ChunkMeta { id, validity, rowids, used, vectors: vec![None; store.vector_bytes.len()] });
        }
        drop(st);
        let pos = chunks.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let with_room = chunks.iter().filter(|c| c.used < cap).map(|c| c.id).collect();
        Ok(Layout { generation, capacity: cap, chunks, pos, with_room, cached_bytes: 0, cache_enabled: true })
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

    /// Drop every cached vector (when the process is over its cache limit).
    pub fn drop_cache(&mut self) {
        for c in &mut self.chunks {
            for v in &mut c.vectors {
                *v = None;
            }
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

    pub fn add_chunk(&mut self, id: i64, n_vectors: usize) {
        let cap = self.capacity;
        let mut vectors = Vec::with_capacity(n_vectors);
        // A new chunk is cached (all zeros) when the rest of the table is, so the cache stays whole.
        for _ in 0..n_vectors {
            vectors.push(None);
        }
        let meta = ChunkMeta { id, validity: vec![0; cap / 8], rowids: vec![0; cap], used: 0, vectors };
        let i = self.chunks.partition_point(|c| c.id < id);
        self.chunks.insert(i, meta);
        self.with_room.insert(id);
        self.reindex();
    }

    /// Make a new chunk's cached vectors exist when the other chunks of that column are cached.
    pub fn cache_new_chunk(&mut self, id: i64, vslot: usize, bytes: usize) {
        let others_cached =
            self.chunks.iter().filter(|c| c.id != id).all(|c| c.vectors[vslot].is_some()) && self.chunks.len() > 1;
        if others_cached {
            let _ = self.offer_cache(id, vslot, AlignedBuf::zeroed(bytes));
        }
    }

    pub fn remove_chunk(&mut self, id: i64) {
        if let Some(i) = self.position(id) {
            let c = self.chunks.remove(i);
            self.with_room.remove(&id);
            let freed: usize = c.vectors.iter().flatten().map(|b| b.len()).sum();
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
            let full = c.used >= cap;
            if full {
                self.with_room.remove(&loc.chunk);
            } else {
                self.with_room.insert(loc.chunk);
            }
        }
    }

    pub fn write_vector(&mut self, vslot: usize, loc: Loc, bytes: &[u8]) {
        if let Some(c) = self.chunk_mut(loc.chunk)
            && let Some(buf) = c.vectors[vslot].as_mut()
        {
            let n = bytes.len();
            if let Some(dst) = buf.bytes_mut().get_mut(loc.slot * n..(loc.slot + 1) * n) {
                dst.copy_from_slice(bytes);
            }
        }
    }

    pub fn cached_vector(&self, vslot: usize, loc: Loc, n: usize) -> Option<&[u8]> {
        let c = self.chunk(loc.chunk)?;
        c.vectors.get(vslot)?.as_ref()?.bytes().get(loc.slot * n..(loc.slot + 1) * n)
    }
}
