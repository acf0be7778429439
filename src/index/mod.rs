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
pub mod ivf;
pub mod quant;
pub mod scan;

use crate::error::{Error, Result};
use crate::value::OwnedValue;
use chunk::{ColData, Maps, SlotCode};
use hnsw::graph::{GraphSink, GraphSource};
use hnsw::space::Space;
use ivf::{IvfSink, IvfSource};
use scan::{Bounds, Scorer, TopK};
use std::collections::BTreeMap;

/// The `index=` option of a table, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSpec {
    /// Exact search (the default).
    Flat,
    /// A graph of each vector column's rows (approximate search).
    Hnsw(hnsw::params::HnswParams),
    /// Lists of each vector column's rows around trained centroids (approximate search).
    Ivf(ivf::params::IvfParams),
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
            "hnsw" => Ok(IndexSpec::Hnsw(hnsw::params::HnswParams::parse(params)?)),
            "ivf" => Ok(IndexSpec::Ivf(ivf::params::IvfParams::parse(params)?)),
            other => Err(Error::invalid(format!("unknown index type '{other}' (expected flat, hnsw or ivf)"))),
        }
    }

    /// The normalised text stored in `t_info` and shown by `vindex_status`.
    pub fn describe(&self) -> String {
        match self {
            IndexSpec::Flat => "flat".to_string(),
            IndexSpec::Hnsw(p) => p.describe(),
            IndexSpec::Ivf(p) => p.describe(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            IndexSpec::Flat => "flat",
            IndexSpec::Hnsw(_) => "hnsw",
            IndexSpec::Ivf(_) => "ivf",
        }
    }

    /// Parameters as JSON text, for `vindex_status.index_params`.
    pub fn params_json(&self) -> String {
        match self {
            IndexSpec::Flat => "{}".to_string(),
            IndexSpec::Hnsw(p) => p.json(),
            IndexSpec::Ivf(p) => p.json(),
        }
    }

    /// Whether float32 columns keep their int8 codes on disk (`t_codes`): the flat index's
    /// prescan reads them cold. Graphs code vectors in memory instead; IVF lists carry their
    /// own codes.
    pub fn persists_codes(&self) -> bool {
        matches!(self, IndexSpec::Flat)
    }

    /// The quantizer of an IVF index (None for other indexes).
    pub fn ivf_quantizer(&self) -> Option<ivf::params::Quantizer> {
        match self {
            IndexSpec::Ivf(p) => Some(p.quantizer),
            _ => None,
        }
    }

    /// Whether this index can serve a column of type `ty` under `metric`: an error that says
    /// why not.
    pub fn check_column(&self, ty: crate::vector::ElementType, metric: crate::vector::distance::Metric) -> Result<()> {
        match self {
            IndexSpec::Ivf(_) => ivf::supports(ty, metric),
            _ => Ok(()),
        }
    }
}

/// Slots that passed the filters, per chunk: a bitmap over the chunk's slots.
pub type Masks = BTreeMap<i64, Vec<u8>>;

/// Which graph or list nodes (`(chunk − 1)·capacity + slot`, [`hnsw::node_of`]) a search may
/// return: all, or those the filter masks admit, as one bitset over node numbers when that
/// is small (a bit test per node instead of a map lookup), else through the masks.
pub enum NodeFilter<'a> {
    All,
    /// The bitset and how many bits it has set.
    Bits(Vec<u8>, usize),
    Masks(&'a Masks, usize),
}

impl<'a> NodeFilter<'a> {
    /// The largest bitset made (bytes).
    pub const BITSET_MAX: usize = 16 << 20;

    pub fn new(masks: Option<&'a Masks>, capacity: usize) -> NodeFilter<'a> {
        let Some(m) = masks else { return NodeFilter::All };
        Self::bitset(m, capacity).map_or(NodeFilter::Masks(m, capacity), |(b, n)| NodeFilter::Bits(b, n))
    }

    /// How many nodes pass (`usize::MAX` for all).
    pub fn passing(&self) -> usize {
        match self {
            NodeFilter::All => usize::MAX,
            NodeFilter::Bits(_, n) => *n,
            NodeFilter::Masks(m, _) => m.values().flat_map(|b| b.iter()).map(|b| b.count_ones() as usize).sum(),
        }
    }

    fn bitset(masks: &Masks, capacity: usize) -> Option<(Vec<u8>, usize)> {
        let last = *masks.keys().next_back()?;
        let bytes = usize::try_from(last).ok()?.checked_mul(capacity)? / 8;
        if bytes > Self::BITSET_MAX || !capacity.is_multiple_of(8) || masks.keys().any(|c| *c < 1) {
            return None;
        }
        let (mut bits, mut set) = (vec![0u8; bytes], 0);
        for (&chunk, m) in masks {
            let at = (chunk as usize - 1) * capacity / 8;
            let n = m.len().min(capacity / 8);
            bits[at..at + n].copy_from_slice(&m[..n]);
            set += m[..n].iter().map(|b| b.count_ones() as usize).sum::<usize>();
        }
        Some((bits, set))
    }

    /// Whether node `n` passes.
    #[inline]
    pub fn admits(&self, n: u32) -> bool {
        match self {
            NodeFilter::All => true,
            NodeFilter::Bits(bits, _) => bits.get(n as usize / 8).is_some_and(|x| x & (1 << (n % 8)) != 0),
            NodeFilter::Masks(m, cap) => {
                let (chunk, slot) = hnsw::slot_of(n, *cap);
                m.get(&chunk).is_some_and(|b| b.get(slot / 8).is_some_and(|x| x & (1 << (slot % 8)) != 0))
            }
        }
    }
}

/// What a scan reads of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The chunk maps only.
    Maps,
    /// The column's int8 codes.
    Codes,
    /// The column's vectors as stored.
    Raw,
    /// The column's codes laid out for graph navigation.
    Nodes,
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
        &self,
        col: usize,
        want: Want,
        only: Option<&[i64]>,
        f: &mut dyn FnMut(&ChunkView<'_>) -> Result<()>,
    ) -> Result<()>;
    /// One stored vector of column `col` into `out`.
    fn read_vector(&self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()>;
    /// Whether the data scanned came from memory (for statistics).
    fn served_from_memory(&self) -> bool;
    /// Rows in the table (a source may count them once and remember).
    fn rows(&self, col: usize) -> Result<usize> {
        count_rows(self, col)
    }
    /// Column `col`'s graph and the codes it navigates by (graph indexes only).
    fn graph(&self, _col: usize) -> Result<(&dyn GraphSource, &dyn Space)> {
        Err(Error::invalid("vindex: this table has no graph"))
    }
    /// Column `col`'s graph layer 0 and codes in one array, when the source has made one
    /// (see [`hnsw::level0`]): a faster way to the same layer-0 search as [`ChunkSource::graph`].
    fn level0(&self, _col: usize) -> Result<Option<&hnsw::level0::Level0>> {
        Ok(None)
    }
    /// When [`ChunkSource::level0`] has none: an earlier version's array, and the nodes that
    /// may read differently now (bit n of the words set; every node from the array's end on),
    /// to be read through [`ChunkSource::graph`] instead (see [`hnsw::patched`]).
    fn level0_base(&self, _col: usize) -> Result<Option<(&hnsw::level0::Level0, &[u64])>> {
        Ok(None)
    }
    /// Chunk `chunk`'s vectors of column `col` when the source keeps them in memory (for a
    /// [`hnsw::level0::Level0`] to rescore from).
    fn chunk_vectors(&self, _col: usize, _chunk: i64) -> Option<hnsw::level0::ChunkVectors> {
        None
    }
    /// Column `col`'s IVF centroids and lists (IVF indexes only).
    fn ivf(&self, _col: usize) -> Result<&dyn IvfSource> {
        Err(Error::invalid("vindex: this table has no IVF index"))
    }
    /// A hint that [`ChunkSource::row`] of this slot comes soon: start loading what it reads
    /// into the CPU's caches (no effect by default, or for rows not in memory). A row in
    /// memory sits at the end of a chain of pointers (up to [`PREFETCH_DEPTH`] links): this
    /// requests link `depth`, reading links `0..depth`, which an earlier call for the same
    /// slot with a smaller `depth` has requested ([`prefetch_rows`] staggers the calls).
    fn prefetch_row(&self, _col: usize, _chunk: i64, _slot: usize, _depth: usize) {}
    /// The row in `slot` of `chunk`: its rowid (None: the slot is free), with column `col`'s
    /// vector read into `out`.
    fn row(&self, col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<Option<i64>> {
        let mut rowid = None;
        self.scan(col, Want::Maps, Some(&[chunk]), &mut |c| {
            if c.maps.is_used(slot) {
                rowid = Some(c.maps.rowids[slot]);
            }
            Ok(())
        })?;
        if rowid.is_some() {
            self.read_vector(col, chunk, slot, out)?;
        }
        Ok(rowid)
    }
    /// [`ChunkSource::row`] for a caller that wants the rowid of some rows only (a rescoring
    /// search: of the rows that enter its results): column `col`'s vector is read into `out`,
    /// then the rowid if `wanted(out)` is true. None: the slot is free, or the rowid was not
    /// wanted. A source that reads from the pages may read the vector before it knows whether
    /// the slot is in use (a free slot's vector is zeros), so `wanted` may see a free slot's.
    fn row_if(
        &self,
        col: usize,
        chunk: i64,
        slot: usize,
        out: &mut [u8],
        wanted: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<i64>> {
        Ok(self.row(col, chunk, slot, out)?.filter(|_| wanted(out)))
    }
}

/// Rows in `src`, counted over its chunks' maps.
pub fn count_rows<S: ChunkSource + ?Sized>(src: &S, col: usize) -> Result<usize> {
    let mut rows = 0;
    src.scan(col, Want::Maps, None, &mut |c| {
        rows += c.maps.used;
        Ok(())
    })?;
    Ok(rows)
}

/// Links from a table version to a row's vector in memory, for [`ChunkSource::prefetch_row`].
pub const PREFETCH_DEPTH: usize = 6;

/// Rows of nodes scored in order (`node(i)`, None past the end), prefetched in stages while
/// node `i` is scored: the node `step·(PREFETCH_DEPTH − d)` ahead gets link `d` requested, so
/// each link's memory has arrived by the time the next is read, and the row of the node
/// `step` ahead is on its way in full.
pub fn prefetch_rows(src: &dyn ChunkSource, col: usize, i: usize, step: usize, node: impl Fn(usize) -> Option<u32>) {
    let cap = src.capacity();
    for d in 0..PREFETCH_DEPTH {
        if let Some(n) = node(i + step * (PREFETCH_DEPTH - d)) {
            let (chunk, slot) = hnsw::slot_of(n, cap);
            src.prefetch_row(col, chunk, slot, d);
        }
    }
}

/// What an index may write, inside the writing transaction.
pub trait IndexWriter {
    /// Store the int8 code of the vector in `slot` of `chunk`, column `col`.
    fn write_code(&mut self, col: usize, chunk: i64, slot: usize, code: &SlotCode) -> Result<()>;
    /// Run `f` on column `col`'s graph, to change, and the codes it navigates by.
    fn with_graph(
        &mut self,
        _col: usize,
        _f: &mut dyn FnMut(&mut dyn GraphSink, &dyn Space) -> Result<()>,
    ) -> Result<()> {
        Err(Error::invalid("vindex: this table has no graph"))
    }
    /// Run `f` on column `col`'s IVF lists, to change.
    fn with_ivf(&mut self, _col: usize, _f: &mut dyn FnMut(&mut dyn IvfSink) -> Result<()>) -> Result<()> {
        Err(Error::invalid("vindex: this table has no IVF index"))
    }
    /// Slots per chunk.
    fn capacity(&self) -> usize;
}

/// How a search with pushed-down filters runs (chosen by the index from the estimated share
/// of rows that pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterStrategy {
    /// Find the passing rows, then search only them exactly.
    Exact,
    /// Find the passing rows, then search the index, admitting only them.
    Inside,
    /// Search without the filter and check it on the results, widening until k pass.
    After,
}

/// One search.
#[derive(Clone, Copy)]
pub struct SearchRequest<'a> {
    pub col: usize,
    pub scorer: &'a Scorer,
    /// Only these slots (the rows that passed the filters), when given.
    pub masks: Option<&'a Masks>,
    pub bounds: &'a Bounds,
    /// Search exactly even with an approximate index (few rows pass the filters).
    pub exact: bool,
    /// `AND ef_search = N`: candidates a graph search keeps.
    pub ef_search: Option<usize>,
    /// `AND nprobe = N`: lists an IVF search scans.
    pub nprobe: Option<usize>,
    /// The estimated share of rows that pass filters checked on the results (the search then
    /// looks wider, as for rows that `masks` leaves).
    pub share: Option<f64>,
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
    fn search(&self, src: &dyn ChunkSource, req: &SearchRequest<'_>, out: &mut TopK) -> Result<SearchStats>;
    /// How to run a search whose filters pass `share` of the table's (about) `rows` rows.
    fn filter_strategy(&self, share: f64, rows: usize) -> FilterStrategy;
    /// Whether a search whose filters pin partition keys (so the passing rows are whole
    /// chunks) always runs exactly over those chunks. Otherwise the share of rows they hold
    /// goes to [`VectorIndex::filter_strategy`].
    fn exact_within_partitions(&self) -> bool {
        false
    }
    /// Whether a broad filter whose passing rows are already known is best searched through
    /// them (as masks) rather than checked on the results of a wider search. Masks cost an
    /// index a lookup per candidate it visits; the flat index reads them a chunk at a time.
    fn searches_known_rows(&self) -> bool {
        false
    }
    /// Problems of the index's own shadow data, given the table's vectors.
    fn check(&self, src: &dyn ChunkSource, col: usize, problems: &mut Vec<String>) -> Result<()>;
    /// Extra `vindex_status` facts: (name, value).
    fn status(&self) -> Vec<(&'static str, OwnedValue)>;
}

/// The index of vector column number `n` (`info` describes it), as its spec says; `seed` is
/// the table's.
pub fn open(spec: &IndexSpec, info: flat::ColumnInfo, n: usize, seed: i64) -> Box<dyn VectorIndex> {
    match spec {
        IndexSpec::Flat => Box::new(flat::FlatIndex::new(info)),
        IndexSpec::Hnsw(p) => Box::new(hnsw::HnswIndex::new(info, *p, seed)),
        IndexSpec::Ivf(p) => Box::new(ivf::IvfIndex::new(info, *p, seed, n)),
    }
}
