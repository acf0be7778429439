//! A writing connection's private picture of its own uncommitted changes: the chunks and graph
//! leaves it touched as they are now in its pages, on top of the committed version its
//! transaction started from. Other connections never see it. ROLLBACK drops it; ROLLBACK TO
//! (or a write that failed and was undone) marks it stale, and it then reloads what it touched
//! from the pages; COMMIT turns it into the next shared version.

use crate::error::Result;
use crate::index::buf::AlignedBuf;
use crate::index::chunk::{ColData, Maps};
use crate::index::hnsw::graph::{LEAF, Leaf, Node};
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
    /// For columns that keep codes: the chunk's vectors, when the committed version had them
    /// in memory (kept in step with the writes, and handed to the next version, so that its
    /// searches do not read the chunk again to rescore).
    pub raw: Vec<Option<AlignedBuf>>,
}

impl OChunk {
    fn new(maps: Maps, n: usize) -> OChunk {
        OChunk { maps, cols: (0..n).map(|_| OnceLock::new()).collect(), raw: (0..n).map(|_| None).collect() }
    }
}

/// A column's IVF centroids as this transaction left them (when it changed them), decoded on
/// first use.
#[derive(Default)]
pub struct OIvf {
    pub centroids: OnceLock<Arc<crate::index::ivf::kmeans::Centroids>>,
}

/// A transaction's copy of a graph leaf: its nodes, and their layer-0 lists side by side in
/// one array (`1 + max0` u32 a node: the count, then the links), kept in step with the nodes,
/// so that the searches of an INSERT read a list from one place, not through node → lists →
/// list. A list longer than `max0` (a damaged row) is read from its node.
pub struct OLeaf {
    leaf: Leaf,
    l0: Vec<u32>,
    max0: usize,
}

impl OLeaf {
    pub fn new(leaf: Leaf, max0: usize) -> OLeaf {
        let mut o = OLeaf { leaf, l0: vec![0; LEAF as usize * (1 + max0)], max0 };
        for i in 0..LEAF as usize {
            o.mirror(i);
        }
        o
    }

    fn mirror(&mut self, i: usize) {
        let at = i * (1 + self.max0);
        let list = self.leaf.nodes.get(i).and_then(|x| x.as_ref()).map_or(&[][..], |n| n.layer(0));
        if list.len() <= self.max0 {
            self.l0[at] = list.len() as u32;
            self.l0[at + 1..at + 1 + list.len()].copy_from_slice(list);
        } else {
            self.l0[at] = u32::MAX;
        }
    }

    #[inline]
    pub fn get(&self, n: u32) -> Option<&Node> {
        self.leaf.get(n)
    }

    /// Node `n`'s layer-0 list (None when the leaf has no such node).
    #[inline]
    pub fn links0(&self, n: u32) -> Option<&[u32]> {
        let i = (n % LEAF) as usize;
        let node = self.leaf.nodes.get(i)?.as_ref()?;
        let at = i * (1 + self.max0);
        match self.l0.get(at).copied() {
            Some(c) if c as usize <= self.max0 => self.l0.get(at + 1..at + 1 + c as usize),
            _ => Some(node.layer(0)),
        }
    }

    /// A hint that node `n`'s layer-0 list is read soon.
    #[inline]
    pub fn prefetch0(&self, n: u32) {
        let at = (n % LEAF) as usize * (1 + self.max0);
        if let Some(r) = self.l0.get(at..at + 1 + self.max0) {
            crate::simd::prefetch(bytemuck::cast_slice(r));
        }
    }

    /// Put (or, with None, remove) node `n`.
    pub fn set(&mut self, n: u32, node: Option<Node>) {
        let i = (n % LEAF) as usize;
        if let Some(x) = self.leaf.nodes.get_mut(i) {
            *x = node;
            self.mirror(i);
        }
    }

    pub fn into_leaf(self) -> Leaf {
        self.leaf
    }
}

/// A column's touched graph leaves and entry node.
#[derive(Default)]
pub struct OGraph {
    pub leaves: IdMap<u32, OLeaf>,
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
            let mut oc = OChunk::new(maps, store.cols.len());
            if let Some(c) = self.base.position(id).and_then(|p| self.base.slots[p].get())
                && c.maps == oc.maps
            {
                for (i, l) in c.cols.iter().enumerate() {
                    if let Some(Some(cc)) = l.get() {
                        let _ = oc.cols[i].set(copy_col(&cc.data));
                    }
                }
                for (i, r) in c.raw.iter().enumerate() {
                    if let Some(ColData::Raw(b)) = r.get().map(|x| &x.data) {
                        oc.raw[i] = Some(b.clone());
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
                g.leaves.insert(leaf, OLeaf::new(store.load_leaf(col, leaf, max0, max_up)?.to_leaf(), max0));
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
            let raw = oc
                .raw
                .into_iter()
                .map(|r| {
                    r.and_then(|b| {
                        crate::store::cache::charge_evicting(b.len(), keep)
                            .map(|m| Arc::new(CachedCol::new(ColData::Raw(b), m)))
                    })
                })
                .collect();
            let mem = MemToken::charge(oc.maps.bytes());
            let _ = v.slots[pos].set(Arc::new(Chunk::with_cols(oc.maps, cols, raw, mem)));
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
                    let _ = slot.set(Arc::new(CachedLeaf::new(l.into_leaf())));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(l0: &[u32]) -> Node {
        let mut n = Node::new(1);
        n.links[0] = l0.to_vec();
        n.links[1] = vec![99];
        n
    }

    #[test]
    fn a_leaf_copy_reads_layer_0_as_its_nodes_hold_it() {
        let mut leaf = Leaf::empty();
        leaf.nodes[3] = Some(node(&[1, 2, 3]));
        leaf.nodes[9] = Some(node(&[4, 5, 6, 7, 8])); // longer than max0 = 4 (a damaged row)
        let base = 5 * LEAF; // the leaf's first node
        let mut o = OLeaf::new(leaf, 4);
        assert_eq!(o.links0(base + 3), Some(&[1u32, 2, 3][..]));
        assert_eq!(o.links0(base + 9), Some(&[4u32, 5, 6, 7, 8][..]), "read from the node");
        assert_eq!(o.links0(base + 4), None, "no such node");
        o.set(base + 4, Some(node(&[])));
        assert_eq!(o.links0(base + 4), Some(&[][..]));
        o.set(base + 3, Some(node(&[7, 8, 9, 10])));
        assert_eq!(o.links0(base + 3), Some(&[7u32, 8, 9, 10][..]));
        assert_eq!(o.get(base + 3).map(|n| n.layer(1)), Some(&[99u32][..]));
        o.set(base + 3, None);
        assert_eq!(o.links0(base + 3), None);
        let leaf = o.into_leaf();
        assert!(leaf.nodes[3].is_none() && leaf.nodes[4].is_some() && leaf.nodes[9].is_some());
    }
}
