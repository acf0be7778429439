//! A writing connection's private picture of its own uncommitted changes: the chunks it touched
//! as they are now in its pages, on top of the committed version its transaction started from.
//! Other connections never see it. ROLLBACK drops it; ROLLBACK TO (or a write that failed and
//! was undone) marks it stale, and it then reloads what it touched from the pages; COMMIT turns
//! it into the next shared version.

use crate::error::Result;
use crate::index::chunk::{ColData, Maps};
use crate::store::Store;
use crate::store::cache::{MemToken, Version};
use crate::store::changes::{ChangeRow, ChangeSet};
use crate::store::chunks::{CachedCol, Chunk};
use std::collections::HashMap;
use std::sync::Arc;

/// A touched chunk: its maps, and the column data copied from the committed version when it
/// was in memory (kept in step with the writes; None = read from the pages).
pub struct OChunk {
    pub maps: Maps,
    pub cols: Vec<Option<ColData>>,
}

pub struct Overlay {
    /// The committed version the transaction started from.
    pub base: Arc<Version>,
    /// The (generation, epoch) this transaction wrote.
    pub generation: i64,
    pub epoch: i64,
    /// Chunk ids now, ascending.
    pub ids: Vec<i64>,
    /// Touched chunks that still exist.
    pub chunks: HashMap<i64, OChunk>,
    /// Everything touched (for the change log and for publishing).
    pub changes: ChangeSet,
    /// Pages were rolled back under it: reload what was touched before the next use.
    pub stale: bool,
}

impl Overlay {
    pub fn new(base: Arc<Version>, generation: i64, epoch: i64) -> Overlay {
        let ids = base.ids.clone();
        Overlay { base, generation, epoch, ids, chunks: HashMap::new(), changes: ChangeSet::default(), stale: false }
    }

    /// The change-log row of this transaction.
    pub fn change_row(&self) -> ChangeRow {
        ChangeRow {
            generation: self.generation,
            prev_epoch: self.base.epoch,
            epoch: self.epoch,
            changes: self.changes.clone(),
        }
    }

    /// Chunk `id` for writing: from this overlay, or loaded from the pages (and the committed
    /// version's column data when it is in memory). None when there is no such chunk.
    pub fn chunk_mut(&mut self, store: &Store, id: i64) -> Result<Option<&mut OChunk>> {
        if !self.chunks.contains_key(&id) {
            let Some(maps) = store.load_maps(id)? else { return Ok(None) };
            let cols = match self.base.position(id).and_then(|p| self.base.slots[p].get()) {
                Some(c) if c.maps == maps => {
                    c.cols.iter().map(|l| l.get().and_then(|o| o.as_ref()).map(|cc| copy_col(&cc.data))).collect()
                }
                _ => (0..store.cols.len()).map(|_| None).collect(),
            };
            self.chunks.insert(id, OChunk { maps, cols });
        }
        self.changes.chunk(id);
        Ok(self.chunks.get_mut(&id))
    }

    /// Add a new, empty chunk.
    pub fn add_chunk(&mut self, id: i64, capacity: usize, n_cols: usize) {
        let pos = self.ids.partition_point(|&x| x < id);
        if self.ids.get(pos) != Some(&id) {
            self.ids.insert(pos, id);
        }
        self.chunks.insert(id, OChunk { maps: Maps::empty(id, capacity), cols: (0..n_cols).map(|_| None).collect() });
        self.changes.chunk(id);
        self.changes.directory();
    }

    pub fn remove_chunk(&mut self, id: i64) {
        if let Ok(pos) = self.ids.binary_search(&id) {
            self.ids.remove(pos);
        }
        self.chunks.remove(&id);
        self.changes.chunk(id);
        self.changes.directory();
    }

    /// Reload everything touched from the pages (after ROLLBACK TO or an undone write).
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        self.ids = store.chunk_ids()?;
        self.chunks.clear();
        for id in self.changes.chunks() {
            if let Some(maps) = store.load_maps(id)? {
                let n = store.cols.len();
                self.chunks.insert(id, OChunk { maps, cols: (0..n).map(|_| None).collect() });
            }
        }
        self.stale = false;
        Ok(())
    }

    /// The version that the committed transaction leaves: the base with the touched chunks
    /// replaced (their column data kept when it fits the memory budget).
    pub fn publish(self, keep: Option<&crate::store::cache::CacheKey>) -> Version {
        let changed = self.changes.chunks();
        let v = self.base.derive(self.generation, self.epoch, self.ids, &changed);
        if self.stale {
            return v;
        }
        for (id, oc) in self.chunks {
            let Some(pos) = v.position(id) else { continue };
            let cols = oc
                .cols
                .into_iter()
                .map(|c| {
                    c.and_then(|data| {
                        crate::store::cache::charge_evicting(data.mem_bytes(), keep)
                            .map(|m| Arc::new(CachedCol::new(data, m)))
                    })
                })
                .collect();
            let mem = MemToken::charge(oc.maps.bytes());
            let _ = v.slots[pos].set(Arc::new(Chunk::with_cols(oc.maps, cols, mem)));
        }
        v
    }
}

fn copy_col(d: &ColData) -> ColData {
    match d {
        ColData::Codes(c) => ColData::Codes(c.clone()),
        ColData::Raw(b) => ColData::Raw(b.clone()),
    }
}
