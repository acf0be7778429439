//! A writing connection's private picture of its own uncommitted changes: the chunks and graph
//! leaves it touched as they are now in its pages, on top of the committed version its
//! transaction started from. Other connections never see it. ROLLBACK drops it; ROLLBACK TO
//! (or a write that failed and was undone) marks it stale, and it then reloads what it touched
//! from the pages; COMMIT turns it into the next shared version.

use crate::error::Result;
use crate::index::chunk::{ColData, Maps};
use crate::index::hnsw::graph::Leaf;
use crate::store::Store;
use crate::store::cache::{CachedLeaf, GraphCache, MemToken, Version};
use crate::store::changes::{ChangeRow, ChangeSet};
use crate::store::chunks::{CachedCol, Chunk};
use crate::store::idmap::IdMap;
use std::sync::{Arc, OnceLock};

/// A touched chunk: its maps, and per column the data searches read (copied from the committed
/// version when it was in memory, or loaded on first use; kept in step with the writes).
pub struct OChunk {
    pub maps: Maps,
    pub cols: Vec<OnceLock<ColData>>,
}

impl OChunk {
    fn new(maps: Maps, n: usize) -> OChunk {
        OChunk { maps, cols: (0..n).map(|_| OnceLock::new()).collect() }
    }
}

/// A column's IVF centroids as this transaction left them (when it changed them), decoded on
/// first use.
#[derive(Default)]
pub struct OIvf {
    pub centroids: OnceLock<Arc<crate::index::ivf::kmeans::Centroids>>,
}

/// A column's touched graph leaves and entry node.
#[derive(Default)]
pub struct OGraph {
    pub leaves: IdMap<u32, Leaf>,
    /// Set when the transaction changed the entry node.
    pub entry: Option<Option<u32>>,
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
    pub chunks: IdMap<i64, OChunk>,
    /// Touched graphs, by vector column.
    pub graphs: Vec<OGraph>,
    /// IVF centroids this transaction wrote, by vector column.
    pub ivf: Vec<OIvf>,
    /// Everything touched (for the change log and for publishing).
    pub changes: ChangeSet,
    /// Pages were rolled back under it: reload what was touched before the next use.
    pub stale: bool,
}

impl Overlay {
    pub fn new(base: Arc<Version>, generation: i64, epoch: i64, n_cols: usize) -> Overlay {
        let ids = base.ids.clone();
        Overlay {
            base,
            generation,
            epoch,
            ids,
            chunks: IdMap::default(),
            graphs: (0..n_cols).map(|_| OGraph::default()).collect(),
            ivf: (0..n_cols).map(|_| OIvf::default()).collect(),
            changes: ChangeSet::default(),
            stale: false,
        }
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
            let oc = OChunk::new(maps, store.cols.len());
            if let Some(c) = self.base.position(id).and_then(|p| self.base.slots[p].get())
                && c.maps == oc.maps
            {
                for (i, l) in c.cols.iter().enumerate() {
                    if let Some(Some(cc)) = l.get() {
                        let _ = oc.cols[i].set(copy_col(&cc.data));
                    }
                }
            }
            self.chunks.insert(id, oc);
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
        self.chunks.insert(id, OChunk::new(Maps::empty(id, capacity), n_cols));
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
    pub fn reload(&mut self, store: &Store, max0: usize, max_up: usize) -> Result<()> {
        self.ids = store.chunk_ids()?;
        self.chunks.clear();
        for id in self.changes.chunks() {
            if let Some(maps) = store.load_maps(id)? {
                self.chunks.insert(id, OChunk::new(maps, store.cols.len()));
            }
        }
        for (col, g) in self.graphs.iter_mut().enumerate() {
            let touched: Vec<u32> = g.leaves.keys().copied().collect();
            g.leaves.clear();
            for leaf in touched {
                g.leaves.insert(leaf, store.load_leaf(col, leaf, max0, max_up)?);
            }
            if g.entry.is_some() {
                g.entry = Some(store.graph_entry(col)?);
            }
        }
        // Centroids are read again from the pages when next needed.
        for i in self.ivf.iter_mut() {
            *i = OIvf::default();
        }
        self.stale = false;
        Ok(())
    }

    /// The version that the committed transaction leaves: the base with the touched chunks
    /// and graph leaves replaced (their data kept when it fits the memory budget).
    pub fn publish(self, keep: Option<&crate::store::cache::CacheKey>, capacity: usize) -> Version {
        let v = self.base.derive(self.generation, self.epoch, self.ids, &self.changes);
        if self.stale {
            return v;
        }
        for (id, oc) in self.chunks {
            let Some(pos) = v.position(id) else { continue };
            let cols = oc
                .cols
                .into_iter()
                .map(|c| {
                    c.into_inner().and_then(|data| {
                        crate::store::cache::charge_evicting(data.mem_bytes(), keep)
                            .map(|m| Arc::new(CachedCol::new(data, m)))
                    })
                })
                .collect();
            let mem = MemToken::charge(oc.maps.bytes());
            let _ = v.slots[pos].set(Arc::new(Chunk::with_cols(oc.maps, cols, mem)));
        }
        for (col, g) in self.graphs.into_iter().enumerate() {
            if g.leaves.is_empty() && g.entry.is_none() {
                continue;
            }
            let gc = v.graphs[col].get_or_init(|| Arc::new(GraphCache::new(capacity, &v.ids)));
            if let Some(e) = g.entry {
                let _ = gc.entry.set(e);
            }
            for (leaf, l) in g.leaves {
                if let Some(slot) = gc.leaves.get(leaf as usize) {
                    let _ = slot.set(Arc::new(CachedLeaf::new(l)));
                }
            }
        }
        v
    }
}

pub fn copy_col(d: &ColData) -> ColData {
    match d {
        ColData::Codes(c) => ColData::Codes(c.clone()),
        ColData::Raw(b) => ColData::Raw(b.clone()),
        ColData::Nodes(n) => ColData::Nodes(n.clone()),
    }
}
