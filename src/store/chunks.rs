//! A chunk as the shared cache keeps it: its slot map and, per vector column, the data a scan
//! reads (int8 codes for columns the exact prescan serves, the raw vectors of other columns),
//! each charged to the memory budget.

use super::mem::MemToken;
pub use crate::index::chunk::{ChunkCodes, ColData, Maps, SlotCode};
use std::sync::{Arc, OnceLock};

/// A column's data with the memory it is charged for.
pub struct CachedCol {
    pub data: ColData,
    _mem: MemToken,
}

impl CachedCol {
    pub fn new(data: ColData, mem: MemToken) -> Self {
        CachedCol { data, _mem: mem }
    }
}

/// A column of raw vectors as bytes (empty for codes): what a graph's `Level0` rescores from.
impl AsRef<[u8]> for CachedCol {
    fn as_ref(&self) -> &[u8] {
        match &self.data {
            ColData::Raw(b) => b.bytes(),
            _ => &[],
        }
    }
}

/// A committed chunk in the shared cache: immutable maps, and per column data filled in by the
/// first scan that reads it (if the budget allows).
pub struct Chunk {
    pub maps: Maps,
    pub cols: Box<[OnceLock<Option<Arc<CachedCol>>>]>,
    /// For columns that scan codes: the chunk's float32 vectors, kept once a search rescored
    /// a row of it, when memory is free (never at another table's expense).
    pub raw: Box<[OnceLock<Arc<CachedCol>>]>,
    _mem: MemToken,
}

impl Chunk {
    pub fn new(maps: Maps, n_cols: usize, mem: MemToken) -> Chunk {
        Chunk {
            maps,
            cols: (0..n_cols).map(|_| OnceLock::new()).collect(),
            raw: (0..n_cols).map(|_| OnceLock::new()).collect(),
            _mem: mem,
        }
    }
    /// A chunk with some columns (and vectors of coded columns) already known (from a
    /// writer's copy).
    pub fn with_cols(
        maps: Maps,
        cols: Vec<Option<Arc<CachedCol>>>,
        raw: Vec<Option<Arc<CachedCol>>>,
        mem: MemToken,
    ) -> Chunk {
        let n = cols.len();
        let cols = cols.into_iter().map(|c| c.map_or_else(OnceLock::new, |c| OnceLock::from(Some(c)))).collect();
        let mut raw: Vec<_> = raw.into_iter().map(|r| r.map_or_else(OnceLock::new, OnceLock::from)).collect();
        raw.resize_with(n, OnceLock::new);
        Chunk { maps, cols, raw: raw.into_boxed_slice(), _mem: mem }
    }
}
