//! The change log (`<table>_changes`, docs/FORMAT.md): what each committed write transaction
//! changed, so that a connection holding an older version of the table reloads only that.

use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// Kinds of key in a change record.
pub const SPACE_CHUNK: u8 = 0;
pub const SPACE_DIRECTORY: u8 = 1;
/// A block of 256 nodes of column `space − 16`'s graph.
pub const SPACE_GRAPH: u8 = 16;
/// Column `space − 48`'s graph entry node.
pub const SPACE_ENTRY: u8 = 48;
/// A list of column `space − 64`'s IVF index.
pub const SPACE_IVF_LIST: u8 = 64;
/// Column `space − 80`'s IVF centroids (and so every list).
pub const SPACE_IVF_CENTROIDS: u8 = 80;
pub const SPACE_ALL: u8 = 255;

/// Rows kept in the log.
pub const KEEP: i64 = 256;

/// What one write transaction changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub keys: BTreeSet<(u8, i64)>,
    /// The graph nodes written, as (column, node): what a writer of this process knows beyond
    /// the blocks the log records, not stored. A block in `keys` none of whose nodes are here
    /// (a set read back from the log) changed as a whole.
    pub nodes: BTreeSet<(u8, u32)>,
}

impl ChangeSet {
    pub fn chunk(&mut self, id: i64) {
        self.keys.insert((SPACE_CHUNK, id));
    }
    pub fn directory(&mut self) {
        self.keys.insert((SPACE_DIRECTORY, 0));
    }
    pub fn everything(&mut self) {
        self.keys.insert((SPACE_ALL, 0));
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn all(&self) -> bool {
        self.keys.contains(&(SPACE_ALL, 0))
    }
    pub fn directory_changed(&self) -> bool {
        self.keys.contains(&(SPACE_DIRECTORY, 0))
    }
    /// Changed chunk ids, ascending.
    pub fn chunks(&self) -> Vec<i64> {
        self.keys_in(SPACE_CHUNK)
    }
    /// Changed keys of one space, ascending.
    pub fn keys_in(&self, space: u8) -> Vec<i64> {
        self.keys.range((space, i64::MIN)..=(space, i64::MAX)).map(|(_, k)| *k).collect()
    }
    pub fn contains(&self, space: u8, key: i64) -> bool {
        self.keys.contains(&(space, key))
    }
    /// A block of column `col`'s graph changed.
    pub fn graph_leaf(&mut self, col: usize, leaf: u32) {
        self.keys.insert((SPACE_GRAPH + col as u8, leaf as i64));
    }
    /// Node `n` of column `col`'s graph changed (its block is recorded apart).
    pub fn graph_node(&mut self, col: usize, n: u32) {
        self.nodes.insert((col as u8, n));
    }
    /// The nodes of column `col`'s graph that may differ from the version before, by graph
    /// block: those written, or every node of a block when only the block is known.
    pub fn graph_nodes(&self, col: usize, leaf_size: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for leaf in self.keys_in(SPACE_GRAPH + col as u8) {
            let Ok(leaf) = u32::try_from(leaf) else { continue };
            let (lo, hi) = (leaf.saturating_mul(leaf_size), (leaf + 1).saturating_mul(leaf_size));
            let at = out.len();
            out.extend(self.nodes.range((col as u8, lo)..(col as u8, hi)).map(|(_, n)| *n));
            if out.len() == at {
                out.extend(lo..hi);
            }
        }
        out
    }
    pub fn graph_entry(&mut self, col: usize) {
        self.keys.insert((SPACE_ENTRY + col as u8, 0));
    }
    /// List `list` of column `col`'s IVF index changed.
    pub fn ivf_list(&mut self, col: usize, list: u32) {
        self.keys.insert((SPACE_IVF_LIST + col as u8, list as i64));
    }
    /// Column `col`'s IVF centroids changed (a training, a split or a merge).
    pub fn ivf_centroids(&mut self, col: usize) {
        self.keys.insert((SPACE_IVF_CENTROIDS + col as u8, 0));
    }
    /// Whether list `list` of column `col` may differ from the version before.
    pub fn ivf_list_changed(&self, col: usize, list: u32) -> bool {
        self.all()
            || self.contains(SPACE_IVF_CENTROIDS + col as u8, 0)
            || self.contains(SPACE_IVF_LIST + col as u8, list as i64)
    }
    pub fn extend(&mut self, other: &ChangeSet) {
        self.keys.extend(other.keys.iter().copied());
        self.nodes.extend(other.nodes.iter().copied());
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.keys.len() * 9);
        for (s, k) in &self.keys {
            out.push(*s);
            out.extend_from_slice(&k.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8], table: &str, generation: i64) -> Result<ChangeSet> {
        if !bytes.len().is_multiple_of(9) {
            return Err(Error::corrupt(format!(
                "{table}: the keys of generation {generation} are {} bytes, not a multiple of 9",
                bytes.len()
            )));
        }
        let keys = bytes
            .chunks_exact(9)
            .map(|r| (r[0], i64::from_le_bytes([r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]])))
            .collect();
        Ok(ChangeSet { keys, nodes: BTreeSet::new() })
    }
}

/// One row of the log.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub generation: i64,
    pub prev_epoch: i64,
    pub epoch: i64,
    pub changes: ChangeSet,
}

/// The changes between version (from_generation, from_epoch) and (to_generation, to_epoch),
/// when `rows` (ascending, as read from the log) link them without a gap; None otherwise.
pub fn chain(rows: &[ChangeRow], from: (i64, i64), to: (i64, i64)) -> Option<ChangeSet> {
    let mut at = from;
    let mut out = ChangeSet::default();
    for r in rows {
        if r.generation != at.0 + 1 || r.prev_epoch != at.1 {
            return None;
        }
        out.extend(&r.changes);
        at = (r.generation, r.epoch);
    }
    (at == to).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(g: i64, pe: i64, e: i64, chunks: &[i64]) -> ChangeRow {
        let mut c = ChangeSet::default();
        chunks.iter().for_each(|&k| c.chunk(k));
        ChangeRow { generation: g, prev_epoch: pe, epoch: e, changes: c }
    }

    #[test]
    fn round_trip() {
        let mut c = ChangeSet::default();
        c.chunk(5);
        c.chunk(-1);
        c.directory();
        let b = c.encode();
        assert_eq!(ChangeSet::decode(&b, "t", 1).unwrap(), c);
        assert!(ChangeSet::decode(&b[..8], "t", 1).is_err());
    }

    #[test]
    fn chains_link_or_fail() {
        let rows = vec![row(3, 10, 11, &[1]), row(4, 11, 12, &[2, 1])];
        assert_eq!(chain(&rows, (2, 10), (4, 12)).unwrap().chunks(), vec![1, 2]);
        // Wrong start epoch (a fork), a gap, a wrong end.
        assert!(chain(&rows, (2, 99), (4, 12)).is_none());
        assert!(chain(&rows[1..], (2, 10), (4, 12)).is_none());
        assert!(chain(&rows, (2, 10), (4, 13)).is_none());
        assert!(chain(&[], (2, 10), (2, 10)).is_some_and(|c| c.is_empty()));
    }
}
