//! Search algorithms, and the seam every index implements. Algorithms see the table through
//! the [`ChunkSource`] and [`IndexWriter`] traits, never SQLite, so they are testable without it.
//!
//! A vindex table keeps its vectors in chunks (docs/FORMAT.md). Every vector column has one
//! index ([`VectorIndex`]): it is told about each write inside the writing transaction, answers
//! searches with a filter and a growing k, and can rebuild, check and describe itself. The exact
//! search over chunks ([`flat`]) is both the flat index and every index's fallback for
//! filters that leave few rows.

pub mod buf;
pub mod chunk;
pub mod flat;
pub mod hnsw;
pub mod quant;
pub mod scan;

use crate::error::{Error, Result};
use crate::value::OwnedValue;
use chunk::{ColData, Maps, SlotCode};
use scan::{Bounds, Scorer, TopK};
use std::collections::BTreeMap;

/// The `index=` option of a table, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSpec {
    /// Exact search (the default).
    Flat,
}

impl IndexSpec {
    /// Parse `flat`, `flat()`; the error names what is accepted.
    pub fn parse(v: &str) -> Result<IndexSpec> {
        let v = v.trim();
        let (name, params) = match v.find('(') {
            Some(i) => (v[..i].trim(), Some(v[i..].trim())),
            None => (v, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "flat" => {
                if let Some(p) = params
                    && p != "()"
                {
                    return Err(Error::invalid(format!("index=flat takes no parameters, got {p}")));
                }
                Ok(IndexSpec::Flat)
            }
            "hnsw" | "ivf" => Err(Error::invalid(format!(
                "index={name} is not available in this version of vindex; use index=flat (exact search)"
            ))),
            other => Err(Error::invalid(format!("unknown index type '{other}' (expected flat)"))),
        }
    }

    /// The normalised text stored in `t_info` and shown by `vindex_status`.
    pub fn describe(&self) -> String {
        match self {
            IndexSpec::Flat => "flat".to_string(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            IndexSpec::Flat => "flat",
        }
    }

    /// Parameters as JSON text, for `vindex_status.index_params`.
    pub fn params_json(&self) -> String {
        match self {
            IndexSpec::Flat => "{}".to_string(),
        }
    }
}

/// Slots that passed the filters, per chunk: a bitmap over the chunk's slots.
pub type Masks = BTreeMap<i64, Vec<u8>>;

/// What a scan reads of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The chunk maps only.
    Maps,
    /// The column's int8 codes.
    Codes,
    /// The column's vectors as stored.
    Raw,
}

/// One chunk as a scan sees it.
pub struct ChunkView<'a> {
    pub maps: &'a Maps,
    /// The data asked for ([`Want::Codes`] or [`Want::Raw`]).
    pub data: Option<&'a ColData>,
}

/// The table's chunks as of the searching transaction's snapshot.
pub trait ChunkSource {
    fn capacity(&self) -> usize;
    /// Visit every chunk (or those in `only`, ascending) with column `col`'s data.
    fn scan(
        &mut self,
        col: usize,
        want: Want,
        only: Option<&[i64]>,
        f: &mut dyn FnMut(&ChunkView<'_>) -> Result<()>,
    ) -> Result<()>;
    /// One stored vector of column `col` into `out`.
    fn read_vector(&mut self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()>;
    /// Whether the data scanned came from memory (for statistics).
    fn served_from_memory(&self) -> bool;
}

/// What an index may write, inside the writing transaction.
pub trait IndexWriter {
    /// Store the int8 code of the vector in `slot` of `chunk`, column `col`.
    fn write_code(&mut self, col: usize, chunk: i64, slot: usize, code: &SlotCode) -> Result<()>;
}

/// One search.
pub struct SearchRequest<'a> {
    pub col: usize,
    pub scorer: &'a Scorer,
    /// Only these slots (the rows that passed the filters), when given.
    pub masks: Option<&'a Masks>,
    pub bounds: &'a Bounds,
}

/// How a search went, for `vindex_status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchStats {
    pub from_memory: bool,
    /// Vectors scored exactly.
    pub scored: usize,
}

/// The seam: what every index of a vector column does. Flat is the first implementation.
pub trait VectorIndex {
    fn spec(&self) -> &IndexSpec;
    /// A vector was written to `slot` of `chunk` (insert, update, or a move by 'optimize').
    fn on_write(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize, vector: &[u8]) -> Result<()>;
    /// The row in `slot` of `chunk` was deleted.
    fn on_delete(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize) -> Result<()>;
    /// The best `out.k()` rows for the request.
    fn search(&self, src: &mut dyn ChunkSource, req: &SearchRequest<'_>, out: &mut TopK) -> Result<SearchStats>;
    /// Problems of the index's own shadow data, given the table's vectors.
    fn check(&self, src: &mut dyn ChunkSource, col: usize, problems: &mut Vec<String>) -> Result<()>;
    /// Extra `vindex_status` facts: (name, value).
    fn status(&self) -> Vec<(&'static str, OwnedValue)>;
}

/// The index of a column, as its spec says.
pub fn open(spec: &IndexSpec, col: flat::ColumnInfo) -> Box<dyn VectorIndex> {
    match spec {
        IndexSpec::Flat => Box::new(flat::FlatIndex::new(col)),
    }
}
