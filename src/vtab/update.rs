//! INSERT, UPDATE, DELETE and the maintenance commands (`INSERT INTO t(t) VALUES ('...')`).
//!
//! Every value is validated before the first byte is written. Each row operation then runs as
//! one undoable unit ([`crate::store::Store::begin_op`]): SQLite keeps no statement journal for
//! a single-row write inside BEGIN, so when a step fails, the steps before it are put back and
//! nothing half-written stays. The connection's overlay follows the pages step by step; after
//! an undo it reloads what it touched.

use super::TableInner;
use super::overlay::Overlay;
use super::overlay::{OGraph, OLeaf};
use super::view::{OvParts, View};
use crate::error::{Error, Result};
use crate::ffi::value::ValueRef;
use crate::ffi::vtab::Update;
use crate::index::chunk::{ColData, Maps, SlotCode};
use crate::index::hnsw::graph::{GraphSink, GraphSource, LEAF, Leaf, Node};
use crate::index::hnsw::space::Space;
use crate::index::{ChunkSource, IndexSpec, IndexWriter};
use crate::store::cache::{CachedLeaf, GraphCache, Version};
use crate::store::changes::ChangeSet;
use crate::store::def::{ColumnKind, MetaType};
use crate::store::{Loc, MapsWrite, Store, meta_col};
use crate::value::{Arg, OwnedValue, SqlValue};
use crate::vector::distance::Metric;
use crate::vector::{self};
use std::sync::Arc;

const SQLITE_REPLACE: i32 = 5;

/// A row's new values, checked and converted. `None` entries mean "unchanged" (UPDATE).
pub(super) struct RowValues {
    pub vectors: Vec<Option<Vec<u8>>>,
    pub meta: Vec<Option<OwnedValue>>,
    pub aux: Vec<Option<OwnedValue>>,
    pub pk: Option<Option<String>>,
    /// Value given for an `integer primary key` column.
    pub int_pk: Option<Option<i64>>,
}

impl RowValues {
    pub fn empty(def: &crate::store::def::TableDef) -> RowValues {
        RowValues {
            vectors: vec![None; def.n_vectors()],
            meta: vec![None; def.n_metadata()],
            aux: vec![None; def.n_aux()],
            pk: None,
            int_pk: None,
        }
    }
}

pub use super::strict::coerce;

fn rowid_value(v: SqlValue<'_>, what: &str) -> Result<Option<i64>> {
    match v {
        SqlValue::Null => Ok(None),
        SqlValue::Integer(i) => Ok(Some(i)),
        SqlValue::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
        SqlValue::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{what} must be an integer"))),
        other => Err(Error::invalid(format!("{what} must be an integer, not {}", other.type_name()))),
    }
}

/// The code of a stored vector (zero for a free slot's zeros).
fn code_of(bytes: &[u8], ty: crate::vector::ElementType, dims: usize) -> SlotCode {
    if bytes.iter().all(|b| *b == 0) {
        return SlotCode::zero(dims);
    }
    match crate::vector::from_blob(bytes, ty) {
        Ok(v) => SlotCode::encode(&v.to_f32_vec()),
        Err(_) => SlotCode::zero(dims),
    }
}

/// The index writer of one write: codes go to the pages and to the overlay's copy; graph
/// changes through a `GraphWriter`.
pub struct Writer<'a> {
    store: &'a Store,
    ov: &'a mut Overlay,
    links: (usize, usize),
}

impl<'a> Writer<'a> {
    pub fn new(store: &'a Store, ov: &'a mut Overlay, links: (usize, usize)) -> Writer<'a> {
        Writer { store, ov, links }
    }
}

impl IndexWriter for Writer<'_> {
    fn write_code(&mut self, col: usize, chunk: i64, slot: usize, code: &SlotCode) -> Result<()> {
        self.store.write_code(col, Loc { chunk, slot }, code)?;
        if let Some(oc) = self.ov.chunks.get_mut(&chunk)
            && let Some(ColData::Codes(c)) = oc.cols.get_mut(col).and_then(|c| c.get_mut())
        {
            c.set(slot, code);
        }
        Ok(())
    }

    fn with_graph(
        &mut self,
        col: usize,
        f: &mut dyn FnMut(&mut dyn GraphSink, &dyn Space) -> Result<()>,
    ) -> Result<()> {
        let Overlay { base, ids, chunks, graphs, changes, .. } = &mut *self.ov;
        let space = View::new(
            self.store,
            base.clone(),
            Some(OvParts { chunks: &*chunks, ids: &*ids, graphs: None, changes: None, ivf: None }),
            None,
            true,
            self.links,
        );
        let _ = space.graph(col)?;
        let og = graphs.get_mut(col).ok_or_else(|| Error::invalid("vindex: no such vector column"))?;
        let mut held = Vec::new();
        for &l in og.leaves.keys() {
            set_bit(&mut held, l);
        }
        let mut gw = GraphWriter { store: self.store, col, og, held, base, changes, links: self.links };
        f(&mut gw, &space)
    }

    fn with_ivf(
        &mut self,
        col: usize,
        f: &mut dyn FnMut(&mut dyn crate::index::ivf::IvfSink) -> Result<()>,
    ) -> Result<()> {
        let layout = self.store.ivf_layout(col)?;
        let Overlay { base, changes, ivf, .. } = &mut *self.ov;
        let oivf = ivf.get(col).ok_or_else(|| Error::invalid("vindex: no such vector column"))?;
        let mut w = super::ivf::IvfWriter { store: self.store, col, layout, base, changes, oivf };
        f(&mut w)
    }

    fn capacity(&self) -> usize {
        self.store.capacity
    }
}

/// A writing transaction's view of one column's graph: reads its own changes first, then the
/// committed version; every change goes to the pages and to the overlay at once.
struct GraphWriter<'a> {
    store: &'a Store,
    col: usize,
    og: &'a mut OGraph,
    /// The leaves `og` holds, as a bitset (a search asks for a node thousands of times).
    held: Vec<u64>,
    base: &'a Arc<Version>,
    changes: &'a mut ChangeSet,
    links: (usize, usize),
}

fn set_bit(bits: &mut Vec<u64>, i: u32) {
    let i = i as usize;
    if i / 64 >= bits.len() {
        bits.resize(i / 64 + 1, 0);
    }
    bits[i / 64] |= 1 << (i % 64);
}

impl GraphWriter<'_> {
    #[inline]
    fn holds(&self, leaf: u32) -> bool {
        self.held.get(leaf as usize / 64).is_some_and(|w| w & (1 << (leaf % 64)) != 0)
    }

    /// The committed leaf with its layer 0 flat.
    fn committed_cached(&self, leaf: u32) -> Result<Option<&CachedLeaf>> {
        let gc = self.cache();
        match gc.leaves.get(leaf as usize) {
            Some(slot) => {
                if slot.get().is_none() {
                    let l = self.store.load_leaf(self.col, leaf, self.links.0, self.links.1)?;
                    let _ = slot.set(Arc::new(CachedLeaf::from_parts(l)));
                }
                Ok(slot.get().map(|c| &**c))
            }
            None => Ok(None),
        }
    }

    fn cache(&self) -> &GraphCache {
        self.base.graphs[self.col].get_or_init(|| Arc::new(GraphCache::new(self.store.capacity, &self.base.ids)))
    }

    /// The committed leaf (untouched by this transaction, so the pages hold it too).
    fn committed_leaf(&self, leaf: u32) -> Result<Option<&Leaf>> {
        Ok(self.committed_cached(leaf)?.map(|c| c.leaf()))
    }

    /// This transaction's copy of a leaf, made from the committed one (or the pages) first.
    fn leaf_mut(&mut self, leaf: u32) -> Result<&mut OLeaf> {
        if !self.og.leaves.contains_key(&leaf) {
            let l = match self.committed_leaf(leaf)? {
                Some(l) => l.clone(),
                None => self.store.load_leaf(self.col, leaf, self.links.0, self.links.1)?.to_leaf(),
            };
            self.og.leaves.insert(leaf, OLeaf::new(l, self.links.0));
            set_bit(&mut self.held, leaf);
        }
        self.changes.graph_leaf(self.col, leaf);
        self.og.leaves.get_mut(&leaf).ok_or_else(|| Error::invalid("vindex: graph leaf"))
    }
}

impl GraphSource for GraphWriter<'_> {
    fn entry(&self) -> Result<Option<u32>> {
        if let Some(e) = self.og.entry {
            return Ok(e);
        }
        let gc = self.cache();
        if let Some(e) = gc.entry.get() {
            return Ok(*e);
        }
        let e = self.store.graph_entry(self.col)?;
        let _ = gc.entry.set(e);
        Ok(e)
    }

    fn node(&self, n: u32) -> Result<Option<&Node>> {
        let leaf = n / LEAF;
        if self.holds(leaf)
            && let Some(l) = self.og.leaves.get(&leaf)
        {
            return Ok(l.get(n));
        }
        Ok(self.committed_leaf(leaf)?.and_then(|l| l.get(n)))
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        let leaf = n / LEAF;
        if !self.holds(leaf) {
            if let Some(l0) = self.cache().array_for(n) {
                GraphSource::prefetch(l0, n);
            }
        } else if let Some(l) = self.og.leaves.get(&leaf) {
            l.prefetch0(n);
        }
    }

    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        let leaf = n / LEAF;
        if level == 0 && !self.holds(leaf) {
            // Untouched by this transaction: the committed links, from the version's array
            // when it has one (or an earlier version's, where the node has not changed since).
            if let Some(l0) = self.cache().array_for(n) {
                return l0.links(n, 0);
            }
            return Ok(self.committed_cached(leaf)?.and_then(|l| l.l0().get((n % LEAF) as usize)));
        }
        if level == 0
            && let Some(l) = self.og.leaves.get(&leaf)
        {
            return Ok(l.links0(n));
        }
        Ok(self.node(n)?.map(|x| x.layer(level)))
    }
}

impl GraphSink for GraphWriter<'_> {
    fn set_node(&mut self, n: u32, node: Node) -> Result<()> {
        // The node as the pages hold it: this transaction's copy of its leaf, or the committed one.
        let old = self.node(n)?;
        self.store.write_node(self.col, n, &node, old)?;
        self.leaf_mut(n / LEAF)?.set(n, Some(node));
        self.changes.graph_node(self.col, n);
        Ok(())
    }
    fn remove_node(&mut self, n: u32) -> Result<()> {
        self.store.delete_node(self.col, n)?;
        self.leaf_mut(n / LEAF)?.set(n, None);
        self.changes.graph_node(self.col, n);
        Ok(())
    }
    fn set_entry(&mut self, entry: Option<u32>) -> Result<()> {
        self.store.set_graph_entry(self.col, entry)?;
        self.og.entry = Some(entry);
        self.changes.graph_entry(self.col);
        Ok(())
    }
    fn highest_node(&self, except: u32) -> Result<Option<u32>> {
        self.store.highest_node(self.col, except)
    }
}

impl TableInner {
    /// Validate the declared columns' values. `update` = values that did not change may come
    /// as "nochange" and are reported as None.
    fn validate(&self, values: &[ValueRef<'_>], update: bool) -> Result<RowValues> {
        let def = &self.def;
        if values.len() < def.last_col() + 1 {
            return Err(Error::invalid("wrong number of values for the table"));
        }
        for (i, what) in [
            (def.distance_col(), "distance"),
            (def.k_col(), "k"),
            (def.ef_search_col(), "ef_search"),
            (def.nprobe_col(), "nprobe"),
        ] {
            let unchanged = update && values[i].nochange();
            if !unchanged && !values[i].get().is_null() {
                return Err(Error::invalid(format!(
                    "{what} is a query-only column of {}; it cannot be written",
                    self.tname()
                )));
            }
        }
        let mut rv = RowValues::empty(def);
        for (i, col) in def.columns.iter().enumerate() {
            let v = &values[i];
            if update && v.nochange() {
                continue;
            }
            self.convert(col, v.get(), v.subtype(), &mut rv)?;
        }
        Ok(rv)
    }

    /// Check and convert the value of column `col` (with its subtype) into `rv`.
    pub(super) fn convert(
        &self,
        col: &crate::store::def::Column,
        val: SqlValue<'_>,
        subtype: u32,
        rv: &mut RowValues,
    ) -> Result<()> {
        {
            match &col.kind {
                ColumnKind::Vector { ty, dims, metric, slot } => {
                    if val.is_null() {
                        return Err(Error::invalid(format!(
                            "{}.{}: a vector is required, got NULL",
                            self.tname(),
                            col.name
                        )));
                    }
                    let vec = vector::for_column(&Arg::with_subtype(val, subtype), *ty, *dims)
                        .map_err(|e| e.context(&format!("{}.{}", self.tname(), col.name)))?;
                    if *metric == Metric::Cosine && vec.to_f32_vec().iter().all(|x| *x == 0.0) {
                        return Err(Error::invalid(format!(
                            "{}.{}: a zero vector has no direction, so its cosine distance is undefined",
                            self.tname(),
                            col.name
                        )));
                    }
                    rv.vectors[*slot] = Some(vec.to_blob());
                }
                ColumnKind::Metadata { ty, slot, .. } => {
                    rv.meta[*slot] = Some(coerce(val, *ty, self.tname(), &col.name)?)
                }
                ColumnKind::Aux { ty, slot } => {
                    rv.aux[*slot] = Some(match ty {
                        Some(t) => coerce(val, *t, self.tname(), &col.name)?,
                        None => val.to_owned_value(),
                    })
                }
                ColumnKind::TextPk => {
                    rv.pk = Some(match coerce(val, MetaType::Text, self.tname(), &col.name)? {
                        OwnedValue::Text(s) => Some(s),
                        _ => None,
                    })
                }
                ColumnKind::IntegerPk => rv.int_pk = Some(rowid_value(val, &format!("{}.{}", self.tname(), col.name))?),
            }
        }
        Ok(())
    }

    fn conflict(&self, what: &str) -> Error {
        Error::constraint(format!("UNIQUE constraint failed: {}.{what}", self.tname()))
    }

    fn text_pk_name(&self) -> &str {
        self.def.columns.iter().find(|c| c.kind == ColumnKind::TextPk).map_or("pk", |c| c.name.as_str())
    }

    /// Run one row operation as an undoable unit: on error, undo its page writes and make the
    /// overlay reload what it touched.
    pub(super) fn unit<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        self.store.begin_op();
        match f() {
            Ok(r) => {
                self.store.commit_op();
                Ok(r)
            }
            Err(e) => {
                let undone = self.store.rollback_op();
                self.overlay_stale();
                match undone {
                    Ok(_) => Err(e),
                    Err(u) => Err(Error::Sqlite {
                        code: e.code(),
                        msg: format!("{} (and undoing the partial write failed: {})", e.message(), u.message()),
                    }),
                }
            }
        }
    }

    fn insert(&self, rowid_arg: ValueRef<'_>, values: &[ValueRef<'_>]) -> Result<i64> {
        let rv = self.validate(values, false)?;
        let mut rowid = rowid_value(rowid_arg.get(), "rowid")?;
        if let Some(Some(p)) = rv.int_pk {
            if rowid.is_some_and(|r| r != p) {
                return Err(Error::invalid("rowid and the integer primary key were given different values"));
            }
            rowid = Some(p);
        }
        let pk = match &rv.pk {
            Some(Some(p)) => Some(p.clone()),
            _ if self.def.has_text_pk() => {
                return Err(Error::invalid(format!("{}: the text primary key must not be NULL", self.tname())));
            }
            _ => None,
        };
        let replace = self.db.vtab_on_conflict() == SQLITE_REPLACE;
        self.unit(|| {
            if replace {
                if let Some(r) = rowid
                    && self.store.location(r)?.is_some()
                {
                    self.delete_row(r)?;
                }
                if let Some(p) = &pk
                    && let Some(r) = self.store.rowid_for_pk(p.as_bytes())?
                {
                    self.delete_row(r)?;
                }
            }
            self.insert_row(rowid, pk.as_deref(), &rv)
        })
    }

    /// The partition key values among a row's metadata values (empty without partition keys).
    fn partition_of(&self, meta: &[Option<OwnedValue>]) -> Vec<OwnedValue> {
        self.def
            .partition_keys()
            .iter()
            .map(|k| meta.get(k.slot).cloned().flatten().unwrap_or(OwnedValue::Null))
            .collect()
    }

    /// Where the next row of partition `part` goes: the lowest free slot of the partition's
    /// lowest chunk with room, or slot 0 of a new chunk. Deterministic for a given table state.
    fn allocate(&self, part: &[OwnedValue]) -> Result<(Loc, bool)> {
        let (room, next) = self.store.room(part)?;
        if let Some(id) = room {
            let mut ov = self.overlay()?;
            let m = ov
                .chunk_mut(&self.store, id)?
                .ok_or_else(|| Error::corrupt(format!("{}: chunk {id} vanished", self.store.names.raw("chunks"))))?;
            let slot = m.maps.first_free().ok_or_else(|| {
                Error::corrupt(format!(
                    "{}: chunk {id} is listed as having room but is full",
                    self.store.names.raw("chunks")
                ))
            })?;
            return Ok((Loc { chunk: id, slot }, false));
        }
        Ok((Loc { chunk: next, slot: 0 }, true))
    }

    fn row_record(&self, loc: Loc, pk: Option<&str>, meta: &[Option<OwnedValue>]) -> Vec<OwnedValue> {
        let mut v = vec![OwnedValue::Integer(loc.chunk), OwnedValue::Integer(loc.slot as i64)];
        if self.def.has_text_pk() {
            v.push(OwnedValue::Text(pk.unwrap_or("").to_string()));
        }
        v.extend(meta.iter().map(|m| m.clone().unwrap_or(OwnedValue::Null)));
        v
    }

    pub(super) fn insert_row(&self, rowid: Option<i64>, pk: Option<&str>, rv: &RowValues) -> Result<i64> {
        let part = self.partition_of(&rv.meta);
        let (loc, new_chunk) = self.allocate(&part)?;
        // The t_rows record comes first: a uniqueness conflict shows here.
        let rowid = match self.store.insert_row(rowid, &self.row_record(loc, pk, &rv.meta)) {
            Ok(r) => r,
            Err(Error::Sqlite { code, msg }) if code & 0xff == 19 => {
                return Err(if msg.contains(".pk") {
                    self.conflict(self.text_pk_name())
                } else if msg.contains(".rowid") {
                    self.conflict("rowid")
                } else {
                    Error::Sqlite { code, msg }
                });
            }
            Err(e) => return Err(e),
        };
        let mut ov = self.overlay()?;
        if new_chunk {
            self.store.create_col_rows(loc.chunk)?;
            ov.add_chunk(loc.chunk, self.store.capacity, self.store.cols.len());
        }
        self.set_slot(&mut ov, loc, Some(rowid), new_chunk.then_some(part.as_slice()))?;
        for (c, v) in rv.vectors.iter().enumerate() {
            if let Some(bytes) = v {
                self.write_vector(&mut ov, c, loc, bytes)?;
            }
        }
        drop(ov);
        if self.store.n_aux() > 0 {
            let aux: Vec<OwnedValue> = rv.aux.iter().map(|a| a.clone().unwrap_or(OwnedValue::Null)).collect();
            self.store.put_aux(rowid, &aux)?;
        }
        Ok(rowid)
    }

    /// Mark `loc` used by `rowid` (or free) in the pages and the overlay. `new_chunk`: the
    /// chunk is new, of the partition with these key values.
    fn set_slot(
        &self,
        ov: &mut Overlay,
        loc: Loc,
        rowid: Option<i64>,
        new_chunk: Option<&[OwnedValue]>,
    ) -> Result<Maps> {
        let oc = ov.chunk_mut(&self.store, loc.chunk)?.ok_or_else(|| {
            Error::corrupt(format!("{}: chunk {} is missing", self.store.names.raw("chunks"), loc.chunk))
        })?;
        let old = oc.maps.clone();
        oc.maps.set(loc.slot, rowid);
        let new = oc.maps.clone();
        if new.used == 0 {
            self.store.delete_chunk(&old)?;
            ov.remove_chunk(loc.chunk);
        } else {
            let how = match new_chunk {
                Some(part) => MapsWrite::Insert(part),
                None => MapsWrite::Update(&old),
            };
            self.store.write_maps(&new, how)?;
        }
        Ok(new)
    }

    /// Write a vector into the pages, the overlay, and the column's index.
    fn write_vector(&self, ov: &mut Overlay, col: usize, loc: Loc, bytes: &[u8]) -> Result<()> {
        self.store.write_vector(col, loc, bytes)?;
        self.mirror_vector(ov, col, loc, bytes);
        let mut w = Writer { store: &self.store, ov, links: self.graph_links() };
        self.indexes.borrow()[col].on_write(&mut w, col, loc.chunk, loc.slot, bytes)
    }

    /// Keep the overlay's copy of a chunk's column data in step with a vector written (or
    /// zeroed) in the pages.
    fn mirror_vector(&self, ov: &mut Overlay, col: usize, loc: Loc, bytes: &[u8]) {
        let computes = self.store.computes_codes(col);
        let ty = self.store.cols[col].ty;
        let Some(oc) = ov.chunks.get_mut(&loc.chunk) else { return };
        if let Some(Some(raw)) = oc.raw.get_mut(col) {
            let n = bytes.len();
            if let Some(dst) = raw.bytes_mut().get_mut(loc.slot * n..(loc.slot + 1) * n) {
                dst.copy_from_slice(bytes);
            }
        }
        match oc.cols.get_mut(col).and_then(|c| c.get_mut()) {
            Some(ColData::Raw(buf)) => {
                let n = bytes.len();
                if let Some(dst) = buf.bytes_mut().get_mut(loc.slot * n..(loc.slot + 1) * n) {
                    dst.copy_from_slice(bytes);
                }
            }
            Some(ColData::Codes(c)) if computes => c.set(loc.slot, &code_of(bytes, ty, c.dims)),
            Some(ColData::Nodes(c)) => c.set(loc.slot, &code_of(bytes, ty, c.dims)),
            _ => {}
        }
    }

    /// Links allowed per graph node: (layer 0, above); what the graph rows are checked against.
    pub fn graph_links(&self) -> (usize, usize) {
        match &*self.spec.borrow() {
            IndexSpec::Hnsw(p) => (p.max_links(0), p.max_links(1)),
            IndexSpec::Flat | IndexSpec::Ivf(_) => (0, 0),
        }
    }

    /// Delete row `rowid` (no-op when it does not exist), inside the current unit.
    pub fn delete_row(&self, rowid: i64) -> Result<()> {
        let Some(loc) = self.store.location(rowid)? else { return Ok(()) };
        self.store.delete_row(rowid)?;
        if self.store.n_aux() > 0 {
            self.store.delete_aux(rowid)?;
        }
        if self.store.is_graph() {
            self.count_unrepaired()?;
        }
        self.release_slot(loc)
    }

    /// Free a slot: zero its vectors and codes, clear its bit and rowid, drop the chunk when it
    /// empties.
    fn release_slot(&self, loc: Loc) -> Result<()> {
        self.release_slot_with(loc, true)
    }

    /// [`Self::release_slot`]; `hooks` = false leaves the indexes alone (a move by 'optimize'
    /// relabels graph nodes instead).
    fn release_slot_with(&self, loc: Loc, hooks: bool) -> Result<()> {
        let mut ov = self.overlay()?;
        let used = ov.chunk_mut(&self.store, loc.chunk)?.map_or(0, |c| c.maps.used);
        let links = self.graph_links();
        for c in 0..self.store.cols.len() {
            // The index first (a graph relinks around the node while its vector is there).
            if hooks {
                let mut w = Writer { store: &self.store, ov: &mut ov, links };
                self.indexes.borrow()[c].on_delete(&mut w, c, loc.chunk, loc.slot)?;
            }
            if used > 1 {
                let zeros = vec![0u8; self.store.cols[c].bytes];
                self.store.write_vector(c, loc, &zeros)?;
                self.mirror_vector(&mut ov, c, loc, &zeros);
            }
        }
        self.set_slot(&mut ov, loc, None, None)?;
        Ok(())
    }

    fn delete(&self, rowid: i64) -> Result<()> {
        self.unit(|| self.delete_row(rowid))
    }

    fn update_row(&self, old_rowid: i64, new_rowid_arg: ValueRef<'_>, values: &[ValueRef<'_>]) -> Result<()> {
        let rv = self.validate(values, true)?;
        let loc = self
            .store
            .location(old_rowid)?
            .ok_or_else(|| Error::invalid(format!("{}: row {old_rowid} does not exist", self.tname())))?;
        let mut new_rowid = rowid_value(new_rowid_arg.get(), "rowid")?
            .ok_or_else(|| Error::invalid(format!("{}: the rowid cannot be set to NULL", self.tname())))?;
        if let Some(p) = rv.int_pk {
            match p {
                Some(p) if new_rowid == old_rowid => new_rowid = p,
                Some(p) if p != new_rowid => {
                    return Err(Error::invalid("rowid and the integer primary key were given different values"));
                }
                None => {
                    return Err(Error::invalid(format!("{}: the integer primary key must not be NULL", self.tname())));
                }
                _ => {}
            }
        }
        if let Some(None) = rv.pk {
            return Err(Error::invalid(format!("{}: the text primary key must not be NULL", self.tname())));
        }
        let replace = self.db.vtab_on_conflict() == SQLITE_REPLACE;
        let mut victims = Vec::new();
        if new_rowid != old_rowid && self.store.location(new_rowid)?.is_some() {
            if !replace {
                return Err(self.conflict("rowid"));
            }
            victims.push(new_rowid);
        }
        if let Some(Some(p)) = &rv.pk
            && let Some(r) = self.store.rowid_for_pk(p.as_bytes())?
            && r != old_rowid
        {
            if !replace {
                return Err(self.conflict(self.text_pk_name()));
            }
            victims.push(r);
        }
        // A graph node's level comes from its rowid (docs/FORMAT.md): a new rowid is a new
        // node, linked where an INSERT would link it.
        let moves = self.changes_partition(loc, &rv)?
            || (new_rowid != old_rowid && matches!(*self.spec.borrow(), IndexSpec::Hnsw(_)));
        self.unit(|| {
            for v in victims {
                self.delete_row(v)?;
            }
            if moves {
                return self.move_to_partition(old_rowid, new_rowid, rv);
            }
            // Deleting other rows never moves this one (deletes only free slots).
            {
                let mut ov = self.overlay()?;
                for (c, v) in rv.vectors.iter().enumerate() {
                    if let Some(bytes) = v {
                        ov.chunk_mut(&self.store, loc.chunk)?;
                        self.write_vector(&mut ov, c, loc, bytes)?;
                    }
                }
            }
            let mut sets: Vec<(String, OwnedValue)> = Vec::new();
            if new_rowid != old_rowid {
                sets.push(("rowid".into(), OwnedValue::Integer(new_rowid)));
            }
            if let Some(Some(p)) = &rv.pk {
                sets.push(("pk".into(), OwnedValue::Text(p.clone())));
            }
            for (i, m) in rv.meta.iter().enumerate() {
                if let Some(v) = m {
                    sets.push((meta_col(i), v.clone()));
                }
            }
            self.store.update_row(old_rowid, &sets)?;
            if new_rowid != old_rowid {
                let mut ov = self.overlay()?;
                self.set_slot(&mut ov, loc, Some(new_rowid), None)?;
            }
            if self.store.n_aux() > 0 && (new_rowid != old_rowid || rv.aux.iter().any(|a| a.is_some())) {
                let current = self.store.aux_values(old_rowid)?.unwrap_or_else(|| vec![OwnedValue::Null; rv.aux.len()]);
                let merged: Vec<OwnedValue> =
                    rv.aux.iter().zip(current).map(|(new, old)| new.clone().unwrap_or(old)).collect();
                if new_rowid != old_rowid {
                    self.store.delete_aux(old_rowid)?;
                }
                self.store.put_aux(new_rowid, &merged)?;
            }
            Ok(())
        })
    }

    /// Whether an UPDATE's new values change the partition of the row at `loc`.
    fn changes_partition(&self, loc: Loc, rv: &RowValues) -> Result<bool> {
        let keys = self.def.partition_keys();
        if keys.is_empty() || keys.iter().all(|k| rv.meta[k.slot].is_none()) {
            return Ok(false);
        }
        let now = self.store.chunk_partition(loc.chunk)?.ok_or_else(|| {
            Error::corrupt(format!("{}: chunk {} is missing", self.store.names.raw("chunks"), loc.chunk))
        })?;
        Ok(keys.iter().any(|k| rv.meta[k.slot].as_ref().is_some_and(|v| Some(v) != now.get(k.part))))
    }

    /// An UPDATE that changes the row's partition: the row (with its new values) is deleted
    /// from its slot and inserted again under `new_rowid`, as an INSERT would place it.
    fn move_to_partition(&self, old_rowid: i64, new_rowid: i64, rv: RowValues) -> Result<()> {
        let loc = self
            .store
            .location(old_rowid)?
            .ok_or_else(|| Error::invalid(format!("{}: row {old_rowid} does not exist", self.tname())))?;
        let mut vectors = Vec::with_capacity(rv.vectors.len());
        for (c, v) in rv.vectors.into_iter().enumerate() {
            vectors.push(Some(match v {
                Some(b) => b,
                None => self.vector_at(c, loc)?,
            }));
        }
        let mut stored = self.load_meta(old_rowid)?.unwrap_or_default().into_iter();
        let old_pk = if self.def.has_text_pk() {
            match stored.next() {
                Some(OwnedValue::Text(t)) => Some(t),
                _ => None,
            }
        } else {
            None
        };
        let meta: Vec<Option<OwnedValue>> = rv
            .meta
            .into_iter()
            .zip(stored.chain(std::iter::repeat(OwnedValue::Null)))
            .map(|(n, o)| Some(n.unwrap_or(o)))
            .collect();
        let aux: Vec<Option<OwnedValue>> = match self.store.aux_values(old_rowid)? {
            Some(cur) => rv.aux.into_iter().zip(cur).map(|(n, o)| Some(n.unwrap_or(o))).collect(),
            None => rv.aux.into_iter().map(|n| Some(n.unwrap_or(OwnedValue::Null))).collect(),
        };
        let pk = match rv.pk {
            Some(p) => p,
            None => old_pk,
        };
        self.delete_row(old_rowid)?;
        let row = RowValues { vectors, meta, aux, pk: None, int_pk: None };
        self.insert_row(Some(new_rowid), pk.as_deref(), &row)?;
        Ok(())
    }

    /// Move the row in `from` to the free slot `to` (used by optimize).
    /// On a graph table the indexes are not told (`hooks` false): the caller relabels the
    /// row's graph nodes afterwards.
    fn move_row(&self, rowid: i64, from: Loc, to: Loc, hooks: bool) -> Result<()> {
        let mut bytes: Vec<Vec<u8>> = Vec::new();
        for c in 0..self.store.cols.len() {
            let mut b = vec![0u8; self.store.cols[c].bytes];
            self.store.read_vector(c, from, &mut b)?;
            bytes.push(b);
        }
        {
            let mut ov = self.overlay()?;
            self.set_slot(&mut ov, to, Some(rowid), None)?;
            for (c, b) in bytes.iter().enumerate() {
                if hooks {
                    self.write_vector(&mut ov, c, to, b)?;
                } else {
                    self.store.write_vector(c, to, b)?;
                    self.mirror_vector(&mut ov, c, to, b);
                }
            }
        }
        self.store.update_row(
            rowid,
            &[("chunk".into(), OwnedValue::Integer(to.chunk)), ("slot".into(), OwnedValue::Integer(to.slot as i64))],
        )?;
        self.release_slot_with(from, hooks)
    }

    /// Fill holes left by deletes with rows from the last chunks, dropping chunks that empty.
    /// Returns the number of rows moved.
    pub fn optimize(&self) -> Result<usize> {
        let graph = self.store.is_graph();
        if graph {
            // Moves and the relabelling of their graph nodes are one unit.
            return self.unit(|| {
                let mut moves = Vec::new();
                let n = self.compact(false, &mut moves)?;
                self.relabel_graphs(&moves)?;
                Ok(n)
            });
        }
        self.compact(true, &mut Vec::new())
    }

    /// The moves 'optimize' will make: per partition, rows go from the last chunk into the
    /// lowest hole until no chunk but the last has one (simulated on the chunks' counts).
    pub fn planned_moves(&self) -> Result<u64> {
        let cap = self.store.capacity;
        let mut total = 0u64;
        for part in self.store.partitions_with_room()? {
            let mut used: Vec<usize> = self.store.chunk_counts(&part)?;
            while let Some(hole) = used.iter().position(|u| *u < cap) {
                let last = used.len() - 1;
                if last <= hole {
                    break;
                }
                let n = (cap - used[hole]).min(used[last]);
                used[hole] += n;
                used[last] -= n;
                total += n as u64;
                if used[last] == 0 {
                    used.pop();
                }
            }
        }
        Ok(total)
    }

    /// The moves of [`Self::optimize`], partition by partition; each (from, to) is recorded
    /// in `moves`.
    fn compact(&self, hooks: bool, moves: &mut Vec<(Loc, Loc)>) -> Result<usize> {
        let mut moved = 0;
        let progress = self.cache.counters.start_task("optimize", self.planned_moves()?);
        for part in self.store.partitions_with_room()? {
            moved += self.compact_partition(&part, hooks, moves, &progress)?;
        }
        Ok(moved)
    }

    fn compact_partition(
        &self,
        part: &[OwnedValue],
        hooks: bool,
        moves: &mut Vec<(Loc, Loc)>,
        progress: &crate::store::cache::TaskGuard<'_>,
    ) -> Result<usize> {
        let mut moved = 0;
        // The partition's chunks, ascending; the last one empties first.
        let mut ids = self.store.partition_chunks(part)?;
        loop {
            let (room, _) = self.store.room(part)?;
            let Some(hole_chunk) = room else { break };
            while let Some(&l) = ids.last() {
                if self.store.chunk_exists(l)? {
                    break;
                }
                ids.pop();
            }
            let Some(&last) = ids.last() else { break };
            if last <= hole_chunk {
                break;
            }
            let hole_maps = self.store.load_maps(hole_chunk)?.ok_or_else(|| Error::corrupt("chunk vanished"))?;
            let last_maps = self.store.load_maps(last)?.ok_or_else(|| Error::corrupt("chunk vanished"))?;
            let (Some(to), Some(from)) =
                (hole_maps.first_free(), (0..last_maps.capacity()).rev().find(|s| last_maps.is_used(*s)))
            else {
                break;
            };
            let rowid = last_maps.rowids[from];
            let (from, to) = (Loc { chunk: last, slot: from }, Loc { chunk: hole_chunk, slot: to });
            self.unit(|| self.move_row(rowid, from, to, hooks))?;
            moves.push((from, to));
            moved += 1;
            progress.step(1);
        }
        Ok(moved)
    }

    /// Rewrite every derived byte (codes) from the vectors, and start a new epoch.
    fn rebuild(&self) -> Result<()> {
        let ids = self.store.chunk_ids()?;
        let progress = self.cache.counters.start_task("rebuild", ids.len() as u64 + self.planned_moves()?);
        self.unit(|| {
            let mut ov = self.overlay()?;
            ov.changes.everything();
            for &id in &ids {
                progress.step(1);
                let maps = ov.chunk_mut(&self.store, id)?.map(|c| c.maps.clone());
                let Some(maps) = maps else { continue };
                for c in 0..self.store.cols.len() {
                    for slot in 0..maps.capacity() {
                        let loc = Loc { chunk: id, slot };
                        let mut w = Writer { store: &self.store, ov: &mut ov, links: (0, 0) };
                        if maps.is_used(slot) {
                            let mut b = vec![0u8; self.store.cols[c].bytes];
                            self.store.read_vector(c, loc, &mut b)?;
                            self.indexes.borrow()[c].on_write(&mut w, c, id, slot, &b)?;
                        } else {
                            self.indexes.borrow()[c].on_delete(&mut w, c, id, slot)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.optimize().map(|_| ())
    }

    /// Convert a table of an older format version.
    fn upgrade(&self) -> Result<()> {
        if self.store.format == crate::store::FORMAT_VERSION {
            return Ok(());
        }
        if self.store.format == 3 {
            crate::store::schema::upgrade_from_3(self.db, &self.store.names)?;
            *self.broken.borrow_mut() = None;
            return Ok(());
        }
        if self.store.format == 2 {
            crate::store::schema::upgrade_from_2(self.db, &self.store.names)?;
            *self.broken.borrow_mut() = None;
            return Ok(());
        }
        if self.store.format != 1 {
            return Err(Error::invalid(format!(
                "table {} uses vindex storage format {}, which this build cannot convert",
                self.tname(),
                self.store.format
            )));
        }
        let epoch = crate::ffi::conn::random_i64();
        crate::store::schema::upgrade_from_1(self.db, &self.store.names, &self.def, self.store.capacity, epoch)?;
        // Codes, from the moved vectors.
        let ids = self.store.chunk_ids()?;
        for (c, l) in self.store.cols.clone().iter().enumerate() {
            if !l.coded {
                continue;
            }
            for &id in &ids {
                let rid = crate::store::col_row_id(id, c);
                self.db.exec(&format!(
                    "INSERT INTO {}(id, data) VALUES ({rid}, zeroblob({}))",
                    self.store.names.codes(),
                    crate::index::chunk::ChunkCodes::bytes_for(self.store.capacity, l.dims)
                ))?;
                let maps = self.store.load_maps(id)?.ok_or_else(|| Error::corrupt("chunk vanished"))?;
                for slot in (0..maps.capacity()).filter(|s| maps.is_used(*s)) {
                    let mut b = vec![0u8; l.bytes];
                    self.store.read_vector(c, Loc { chunk: id, slot }, &mut b)?;
                    self.store.write_code(c, Loc { chunk: id, slot }, &crate::index::flat::code_of(&b))?;
                }
            }
        }
        *self.broken.borrow_mut() = None;
        Ok(())
    }

    fn command(&self, cmd: &str) -> Result<()> {
        let c = cmd.trim().to_ascii_lowercase();
        if c == "upgrade" {
            return self.upgrade();
        }
        self.usable()?;
        if let Some(n) = c.strip_prefix("debug-fail-after=") {
            // A testing aid: the n-th shadow-table write from now on this connection fails.
            let n: u64 = n.trim().parse().map_err(|_| Error::invalid("debug-fail-after= takes a count of writes"))?;
            self.store.fail_after(n);
            return Ok(());
        }
        if c.starts_with("import=") || c.starts_with("import =") {
            let spec = cmd.trim().split_once('=').map_or("", |(_, v)| v);
            return self.import_vec0(spec).map(|_| ());
        }
        match c.as_str() {
            "integrity-check" => {
                let problems = super::check::run(self)?;
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Error::corrupt(format!("integrity-check of {} failed: {}", self.tname(), problems.join("; "))))
                }
            }
            "optimize" => {
                let graph_nodes = if self.store.is_graph() { self.graph_node_count()? } else { 0 };
                let _progress = self.cache.counters.start_task("optimize", self.planned_moves()? + graph_nodes);
                self.optimize()?;
                self.repair_graphs()?;
                self.balance_ivf().map(|_| ())
            }
            "rebuild" if self.store.is_graph() => {
                let rows: u64 = self.store.chunk_counts_all()?;
                let total = self.planned_moves()? + rows * self.store.cols.len() as u64;
                let _progress = self.cache.counters.start_task("rebuild", total);
                self.optimize()?;
                self.rebuild_graphs()
            }
            "rebuild" if self.store.is_ivf() => {
                self.optimize()?;
                let IndexSpec::Ivf(p) = *self.spec.borrow() else { return Ok(()) };
                self.unit(|| self.build_ivf_all(&p))
            }
            "rebuild" => self.rebuild(),
            _ if c.starts_with("index=") || c.starts_with("index =") => {
                let text = cmd.trim().split_once('=').map_or("", |(_, v)| v);
                self.change_index(text)
            }
            other => Err(Error::invalid(format!(
                "unknown command '{other}' for {}; the commands are 'integrity-check', 'optimize', 'rebuild', 'index=...', 'import=...' and 'upgrade'",
                self.tname()
            ))),
        }
    }
}

pub fn apply(t: &TableInner, op: Update<'_>) -> Result<i64> {
    if let Update::Insert { values, .. } = &op
        && let Some(SqlValue::Text(cmd)) = values.get(t.def.command_col()).map(|v| v.get())
    {
        t.command(&String::from_utf8_lossy(cmd))?;
        return Ok(0);
    }
    t.usable()?;
    match op {
        Update::Delete { rowid } => {
            let r = rowid_value(rowid.get(), "rowid")?.ok_or_else(|| Error::invalid("DELETE without a rowid"))?;
            t.delete(r)?;
            Ok(r)
        }
        Update::Insert { rowid, values } => {
            let cmd_col = t.def.command_col();
            match values.get(cmd_col).map(|v| v.get()) {
                Some(SqlValue::Null) | None => t.insert(rowid, values),
                Some(other) => Err(Error::invalid(format!(
                    "a command for {} must be TEXT such as 'integrity-check', not {}",
                    t.tname(),
                    other.type_name()
                ))),
            }
        }
        Update::Update { old_rowid, new_rowid, values } => {
            let old = rowid_value(old_rowid.get(), "rowid")?.ok_or_else(|| Error::invalid("UPDATE without a rowid"))?;
            t.update_row(old, new_rowid, values)?;
            Ok(old)
        }
    }
}
