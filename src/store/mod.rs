//! Shadow tables (docs/FORMAT.md): reading and writing them through cached statements and
//! incremental blob I/O, an undo journal for a write that fails half way, and the caches built
//! from them (`cache`: shared by the process's connections; `chunks`: what a chunk is in memory).
//!
//! Every write method records how to undo itself while an operation is open
//! ([`Store::begin_op`]): SQLite keeps no statement journal for a single-row write to a virtual
//! table inside BEGIN, so when a later step fails, [`Store::rollback_op`] puts back what the
//! earlier steps wrote and nothing half-written stays.

pub mod cache;
pub mod changes;
pub mod chunks;
pub mod def;
pub mod idmap;
pub mod ivf;
pub mod mem;
pub mod schema;
pub mod stmts;
pub mod vec0;

use crate::error::{Error, Result};
use crate::ffi::stmt::{Blob, Db};
use crate::index::hnsw::graph::{LEAF, LeafParts, Node};
use crate::value::{OwnedValue, SqlValue};
use crate::vector::ElementType;
use crate::vector::distance::Metric;
use changes::{ChangeRow, ChangeSet};
use chunks::{ChunkCodes, Maps, SlotCode};
use def::{ColumnKind, TableDef};
pub use schema::{FORMAT_VERSION, Names, aux_col, meta_col, part_col};
use std::cell::{Cell, RefCell};
pub use stmts::StmtCache;

/// Where a row's vectors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub chunk: i64,
    pub slot: usize,
}

/// How [`Store::write_maps`] writes a chunk's row.
pub enum MapsWrite<'a> {
    /// The chunk exists; this is what its row held.
    Update(&'a Maps),
    /// A new chunk of the partition with these key values.
    Insert(&'a [OwnedValue]),
}

/// Largest chunk id (so that `16 * id + column` fits an i64 with room to spare).
pub const MAX_CHUNK_ID: i64 = 1 << 58;

/// How one vector column is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColLayout {
    pub ty: ElementType,
    pub dims: usize,
    pub metric: Metric,
    /// Bytes per vector.
    pub bytes: usize,
    /// The column keeps int8 codes in `t_codes` (float32, l2/cosine/ip).
    pub coded: bool,
}

impl ColLayout {
    pub fn of(def: &TableDef) -> Vec<ColLayout> {
        def.vectors()
            .filter_map(|(_, c)| match c.kind {
                ColumnKind::Vector { ty, dims, metric, .. } => Some(ColLayout {
                    ty,
                    dims,
                    metric,
                    bytes: ty.bytes_for(dims),
                    coded: ty == ElementType::Float32 && crate::index::quant::sq8::supports(metric),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The row key of a chunk's vector (and code) row for vector column `col`.
pub fn col_row_id(chunk: i64, col: usize) -> i64 {
    // Chunk ids are checked to be in 1..=MAX_CHUNK_ID where they are read; a damaged one that
    // slipped through names some other (or no) row rather than overflowing.
    chunk.wrapping_mul(16).wrapping_add(col as i64)
}

enum UndoOp {
    /// Bytes of a blob to put back.
    Blob { suffix: &'static str, column: &'static str, id: i64, offset: usize, old: Vec<u8> },
    /// Delete the row with this key (undoes an INSERT).
    Delete { suffix: &'static str, key: &'static str, id: i64 },
    /// Put these column values back (undoes a DELETE or UPDATE; the row may exist).
    Restore { suffix: &'static str, cols: Vec<String>, values: Vec<OwnedValue> },
    /// A statement that undoes one step.
    Sql { sql: String, binds: Vec<OwnedValue> },
}

#[derive(Default)]
struct Undo {
    depth: usize,
    ops: Vec<UndoOp>,
    /// Chunks whose rows an operation touched (the caller reloads its copies after a rollback).
    chunks: Vec<i64>,
    /// Chunks the operation created: undoing their creation deletes their rows, so later
    /// writes into them need no undo records of their own (a large 'import=' stays small).
    created: std::collections::HashSet<i64>,
}

/// Per-table access to the shadow tables.
pub struct Store {
    pub db: Db,
    pub names: Names,
    pub stmts: StmtCache,
    /// Slots per chunk (from the info table).
    pub capacity: usize,
    pub cols: Vec<ColLayout>,
    /// The format version found in `t_info`.
    pub format: i64,
    /// Names of `t_rows` and `t_aux` columns, in order (for undo and copies).
    rows_cols: Vec<String>,
    aux_cols: Vec<String>,
    /// `t_chunks` partition key columns (`p00`, ...), in order; empty without partition keys.
    pub part_cols: Vec<String>,
    undo: RefCell<Undo>,
    /// A test hook: fail the N-th write from now (0 = never).
    fail_at: Cell<u64>,
    /// The table's index is a graph (HNSW): codes are computed in memory, not kept on disk.
    graph: Cell<bool>,
    /// The table's index is IVF (with this quantizer): chunks have `t_ivf_slots` rows, and no
    /// codes on disk.
    ivf: Cell<Option<crate::index::ivf::params::Quantizer>>,
    /// The schema's name for C calls, and the (generation, epoch) last read in a read-only
    /// transaction with the data version it was read under (see [`Store::version`]).
    schema_c: std::ffi::CString,
    version_seen: Cell<Option<(u32, i64, i64)>>,
}

impl Store {
    /// Open the shadow tables of a table. A table of another format version opens with
    /// `format` telling which (the caller refuses everything but DROP, RENAME and 'upgrade').
    pub fn open(db: Db, names: Names, def: &TableDef) -> Result<Store> {
        let stmts = StmtCache::new(db);
        let schema_c = std::ffi::CString::new(names.schema.clone()).unwrap_or_default();
        let mut rows_cols = vec!["rowid".to_string(), "chunk".into(), "slot".into()];
        if def.has_text_pk() {
            rows_cols.push("pk".into());
        }
        let mut aux_cols = vec!["rowid".to_string()];
        for c in &def.columns {
            match c.kind {
                ColumnKind::Metadata { slot, .. } => rows_cols.push(meta_col(slot)),
                ColumnKind::Aux { slot, .. } => aux_cols.push(aux_col(slot)),
                _ => {}
            }
        }
        let part_cols = def.partition_keys().iter().map(|k| schema::part_col(k.part)).collect();
        let mut s = Store {
            db,
            names,
            stmts,
            capacity: 0,
            cols: ColLayout::of(def),
            format: 0,
            rows_cols,
            aux_cols,
            part_cols,
            undo: RefCell::new(Undo::default()),
            fail_at: Cell::new(0),
            graph: Cell::new(false),
            ivf: Cell::new(None),
            schema_c,
            version_seen: Cell::new(None),
        };
        s.format = s.info_i64("format_version")?;
        let cap = s.info_i64("chunk_capacity")?;
        if !schema::valid_capacity(cap) {
            return Err(Error::corrupt(format!(
                "{}: chunk_capacity {cap} is invalid (a power of two from 8 to 1024)",
                s.names.raw("info")
            )));
        }
        s.capacity = cap as usize;
        Ok(s)
    }

    /// A store for a table whose shadow tables cannot be read (for DROP and RENAME, which
    /// need only names).
    pub fn unusable(db: Db, names: Names, def: &TableDef) -> Store {
        let schema_c = std::ffi::CString::new(names.schema.clone()).unwrap_or_default();
        let mut rows_cols = vec!["rowid".to_string(), "chunk".into(), "slot".into()];
        if def.has_text_pk() {
            rows_cols.push("pk".into());
        }
        Store {
            db,
            names,
            stmts: StmtCache::new(db),
            capacity: 8,
            cols: ColLayout::of(def),
            format: 0,
            rows_cols,
            aux_cols: vec!["rowid".to_string()],
            part_cols: Vec::new(),
            undo: RefCell::new(Undo::default()),
            fail_at: Cell::new(0),
            graph: Cell::new(false),
            ivf: Cell::new(None),
            schema_c,
            version_seen: Cell::new(None),
        }
    }

    /// Tell the store whether the table's index is a graph (it decides where codes live).
    pub fn set_graph(&self, graph: bool) {
        self.graph.set(graph);
    }
    pub fn is_graph(&self) -> bool {
        self.graph.get()
    }
    /// Tell the store whether the table's index is IVF, with which quantizer (its chunks then
    /// have slot rows).
    pub fn set_ivf(&self, q: Option<crate::index::ivf::params::Quantizer>) {
        self.ivf.set(q);
    }
    pub fn is_ivf(&self) -> bool {
        self.ivf.get().is_some()
    }
    /// The block layout of column `col`'s IVF lists (IVF tables only).
    pub fn ivf_layout(&self, col: usize) -> Result<crate::index::ivf::list::Layout> {
        let q = self.ivf.get().ok_or_else(|| Error::invalid("vindex: this table has no IVF index"))?;
        Ok(crate::index::ivf::list::Layout::new(q, self.cols[col].dims))
    }
    /// Column `col` keeps int8 codes on disk (`t_codes`): float32 under l2/cosine/ip, flat index.
    pub fn persisted(&self, col: usize) -> bool {
        self.cols[col].coded && !self.graph.get() && !self.is_ivf()
    }
    /// Column `col`'s codes are computed in memory from its vectors (graph indexes, metrics
    /// that navigate by codes).
    pub fn computes_codes(&self, col: usize) -> bool {
        let l = self.cols[col];
        self.graph.get() && crate::index::hnsw::space_kind(l.ty, l.metric) == crate::index::hnsw::space::SpaceKind::Sq8
    }

    fn t(&self, suffix: &str) -> String {
        self.names.raw(suffix)
    }

    // ---- undo journal ---------------------------------------------------------------------

    /// Start an operation (nested calls join the outer one).
    pub fn begin_op(&self) {
        let mut u = self.undo.borrow_mut();
        if u.depth == 0 {
            u.ops.clear();
            u.chunks.clear();
            u.created.clear();
        }
        u.depth += 1;
    }

    /// The operation succeeded (when the outermost ends, its journal is dropped).
    pub fn commit_op(&self) {
        let mut u = self.undo.borrow_mut();
        u.depth = u.depth.saturating_sub(1);
        if u.depth == 0 {
            u.ops.clear();
            u.chunks.clear();
            u.created.clear();
        }
    }

    /// The operation failed: undo every write it made, newest first. Returns the chunks it
    /// touched. Only the outermost call undoes.
    pub fn rollback_op(&self) -> Result<Vec<i64>> {
        let (ops, chunks) = {
            let mut u = self.undo.borrow_mut();
            u.depth = u.depth.saturating_sub(1);
            if u.depth > 0 {
                return Ok(Vec::new());
            }
            u.created.clear();
            (std::mem::take(&mut u.ops), std::mem::take(&mut u.chunks))
        };
        self.fail_at.set(0);
        for op in ops.into_iter().rev() {
            match op {
                UndoOp::Blob { suffix, column, id, offset, old } => {
                    let mut b = self.blob(suffix, column, id, true)?;
                    b.write(&old, offset)?;
                }
                UndoOp::Delete { suffix, key, id } => {
                    let mut st = self
                        .db
                        .prepare(&format!("DELETE FROM {} WHERE {key} = ?1", self.names.shadow(suffix)), false)?;
                    st.bind_i64(1, id)?;
                    st.execute()?;
                }
                UndoOp::Restore { suffix, cols, values } => {
                    let ph: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                    let sql = format!(
                        "INSERT OR REPLACE INTO {}({}) VALUES ({})",
                        self.names.shadow(suffix),
                        cols.join(", "),
                        ph.join(", ")
                    );
                    let mut st = self.db.prepare(&sql, false)?;
                    for (i, v) in values.iter().enumerate() {
                        st.bind_owned(i + 1, v)?;
                    }
                    st.execute()?;
                }
                UndoOp::Sql { sql, binds } => {
                    let mut st = self.db.prepare(&sql, false)?;
                    for (i, v) in binds.iter().enumerate() {
                        st.bind_owned(i + 1, v)?;
                    }
                    st.execute()?;
                }
            }
        }
        Ok(chunks)
    }

    fn record(&self, op: UndoOp) {
        let mut u = self.undo.borrow_mut();
        if u.depth > 0 {
            u.ops.push(op);
        }
    }

    /// Chunk `id` was created by the open operation.
    fn record_created(&self, id: i64) {
        let mut u = self.undo.borrow_mut();
        if u.depth > 0 {
            u.created.insert(id);
        }
    }

    /// Whether chunk `id` was created by the open operation (its writes need no undo).
    fn created_now(&self, id: i64) -> bool {
        self.undo.borrow().created.contains(&id)
    }

    fn record_chunk(&self, id: i64) {
        let mut u = self.undo.borrow_mut();
        if u.depth > 0 {
            u.chunks.push(id);
        }
    }

    /// Test hook: make the `n`-th write from now fail (1 = the next one).
    #[doc(hidden)]
    pub fn fail_after(&self, n: u64) {
        self.fail_at.set(n);
    }

    fn before_write(&self) -> Result<()> {
        let n = self.fail_at.get();
        if n > 0 {
            self.fail_at.set(n - 1);
            if n == 1 {
                return Err(Error::Sqlite {
                    code: crate::error::code::ERROR,
                    msg: "vindex: injected write failure".into(),
                });
            }
        }
        Ok(())
    }

    /// Run a write statement, recording `undo` for it.
    fn write_sql(&self, sql: &str, binds: &[OwnedValue], undo: Option<UndoOp>) -> Result<()> {
        self.before_write()?;
        let mut st = self.stmts.get(sql)?;
        for (i, v) in binds.iter().enumerate() {
            st.bind_owned(i + 1, v)?;
        }
        st.execute()?;
        if let Some(u) = undo {
            self.record(u);
        }
        Ok(())
    }

    /// [`Store::write_sql`] for a statement named `key`, whose SQL `sql()` makes once.
    fn write_named(
        &self,
        key: &'static str,
        sql: impl FnOnce() -> String,
        binds: &[OwnedValue],
        undo: Option<UndoOp>,
    ) -> Result<()> {
        self.before_write()?;
        let mut st = self.stmts.named(key, sql)?;
        for (i, v) in binds.iter().enumerate() {
            st.bind_owned(i + 1, v)?;
        }
        st.execute()?;
        if let Some(u) = undo {
            self.record(u);
        }
        Ok(())
    }

    // ---- info -----------------------------------------------------------------------------

    pub fn info_i64(&self, key: &str) -> Result<i64> {
        match self.info_get(key)? {
            Some(OwnedValue::Integer(i)) => Ok(i),
            None => Err(Error::corrupt(format!("{} has no '{key}' row", self.t("info")))),
            Some(other) => Err(Error::corrupt(format!(
                "{}: '{key}' should be an integer, found {}",
                self.t("info"),
                other.as_ref().type_name()
            ))),
        }
    }

    pub fn info_get(&self, key: &str) -> Result<Option<OwnedValue>> {
        // (A named statement: every query reads the generation through it, and a name is
        // found without formatting the SQL.)
        let mut st =
            self.stmts.named("info_get", || format!("SELECT value FROM {} WHERE key = ?1", self.names.info()))?;
        st.bind_text(1, key.as_bytes())?;
        let v = if st.step()? { Some(st.column_owned(0)) } else { None };
        st.reset();
        Ok(v)
    }

    pub fn info_set(&self, key: &str, value: OwnedValue) -> Result<()> {
        let old = self.info_get(key)?;
        let undo = match old {
            Some(v) => UndoOp::Sql {
                sql: format!("UPDATE {} SET value = ?1 WHERE key = ?2", self.names.info()),
                binds: vec![v, OwnedValue::Text(key.into())],
            },
            None => UndoOp::Sql {
                sql: format!("DELETE FROM {} WHERE key = ?1", self.names.info()),
                binds: vec![OwnedValue::Text(key.into())],
            },
        };
        self.write_sql(
            &format!("INSERT OR REPLACE INTO {}(key, value) VALUES (?1, ?2)", self.names.info()),
            &[OwnedValue::Text(key.into()), value],
            Some(undo),
        )
    }

    /// The (generation, epoch) of the table as this transaction sees it.
    ///
    /// Every query asks, so in a read-only transaction the answer is kept with the database's
    /// data version and given again while that stays the same: the info rows cannot have
    /// changed then (another connection's commit changes the data version; this connection's
    /// writes make the transaction a write transaction, where the rows are always read).
    pub fn version(&self) -> Result<(i64, i64)> {
        let dv = self.db.read_snapshot_version(&self.schema_c);
        if let (Some(dv), Some((seen, g, e))) = (dv, self.version_seen.get())
            && dv == seen
        {
            return Ok((g, e));
        }
        let (g, e) = (self.info_i64("generation")?, self.info_i64("epoch")?);
        self.version_seen.set(dv.map(|dv| (dv, g, e)));
        Ok((g, e))
    }

    /// Count a new write transaction: generation + 1 and a fresh epoch. Returns
    /// (generation, epoch) after it.
    pub fn bump(&self) -> Result<(i64, i64)> {
        let (g, _) = self.version()?;
        let epoch = crate::ffi::conn::random_i64();
        self.info_set("generation", OwnedValue::Integer(g + 1))?;
        self.info_set("epoch", OwnedValue::Integer(epoch))?;
        Ok((g + 1, epoch))
    }

    // ---- rows -----------------------------------------------------------------------------

    pub fn location(&self, rowid: i64) -> Result<Option<Loc>> {
        let sql = format!("SELECT chunk, slot FROM {} WHERE rowid = ?1", self.names.rows());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        let v = if st.step()? { Some(self.decode_loc(st.column_i64(0), st.column_i64(1))?) } else { None };
        st.reset();
        Ok(v)
    }

    pub fn decode_loc(&self, chunk: i64, slot: i64) -> Result<Loc> {
        if slot < 0 || slot as usize >= self.capacity {
            return Err(Error::corrupt(format!(
                "{}: slot {slot} is outside the chunk capacity {}",
                self.t("rows"),
                self.capacity
            )));
        }
        if !(1..=MAX_CHUNK_ID).contains(&chunk) {
            return Err(Error::corrupt(format!("{}: chunk id {chunk} is out of range", self.t("rows"))));
        }
        Ok(Loc { chunk, slot: slot as usize })
    }

    /// The rowid whose text primary key is `pk`.
    pub fn rowid_for_pk(&self, pk: &[u8]) -> Result<Option<i64>> {
        let sql = format!("SELECT rowid FROM {} WHERE pk = ?1", self.names.rows());
        let mut st = self.stmts.get(&sql)?;
        st.bind_text(1, pk)?;
        let v = if st.step()? { Some(st.column_i64(0)) } else { None };
        st.reset();
        Ok(v)
    }

    /// Every column of the `t_rows` row of `rowid`, in [`Store::rows_cols`] order.
    fn row_values(&self, suffix: &'static str, cols: &[String], rowid: i64) -> Result<Option<Vec<OwnedValue>>> {
        let sql = format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.names.shadow(suffix));
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        let v = if st.step()? { Some((0..cols.len()).map(|i| st.column_owned(i)).collect()) } else { None };
        st.reset();
        Ok(v)
    }

    fn restore_sql(&self, suffix: &'static str, cols: &[String], values: Vec<OwnedValue>) -> UndoOp {
        UndoOp::Restore { suffix, cols: cols.to_vec(), values }
    }

    fn delete_sql(&self, suffix: &'static str, key: &'static str, id: i64) -> UndoOp {
        UndoOp::Delete { suffix, key, id }
    }

    /// INSERT a `t_rows` record. `values` are the columns after rowid: chunk, slot, (pk), mNN...
    /// Returns the rowid (chosen by SQLite when `rowid` is None: one more than the largest).
    pub fn insert_row(&self, rowid: Option<i64>, values: &[OwnedValue]) -> Result<i64> {
        self.before_write()?;
        let ph: Vec<String> = (1..=self.rows_cols.len()).map(|i| format!("?{i}")).collect();
        let sql =
            format!("INSERT INTO {}({}) VALUES ({})", self.names.rows(), self.rows_cols.join(", "), ph.join(", "));
        let mut st = self.stmts.get(&sql)?;
        match rowid {
            Some(r) => st.bind_i64(1, r)?,
            None => st.bind_null(1)?,
        }
        for (i, v) in values.iter().enumerate() {
            st.bind_owned(i + 2, v)?;
        }
        st.execute()?;
        drop(st);
        let r = rowid.unwrap_or_else(|| self.db.last_insert_rowid());
        self.record(self.delete_sql("rows", "rowid", r));
        Ok(r)
    }

    pub fn delete_row(&self, rowid: i64) -> Result<()> {
        if let Some(old) = self.row_values("rows", &self.rows_cols, rowid)? {
            let undo = self.restore_sql("rows", &self.rows_cols, old);
            self.write_sql(
                &format!("DELETE FROM {} WHERE rowid = ?1", self.names.rows()),
                &[OwnedValue::Integer(rowid)],
                Some(undo),
            )?;
        }
        Ok(())
    }

    /// `UPDATE t_rows SET <col> = <value>, ... WHERE rowid = rowid` (col names from `t_rows`).
    pub fn update_row(&self, rowid: i64, sets: &[(String, OwnedValue)]) -> Result<()> {
        if sets.is_empty() {
            return Ok(());
        }
        let Some(old) = self.row_values("rows", &self.rows_cols, rowid)? else { return Ok(()) };
        // Undo: remove whatever row now has the new rowid, then put the old one back.
        let new_rowid = sets.iter().find(|(c, _)| c == "rowid").and_then(|(_, v)| match v {
            OwnedValue::Integer(i) => Some(*i),
            _ => None,
        });
        let restore = self.restore_sql("rows", &self.rows_cols, old);
        let mut binds: Vec<OwnedValue> = sets.iter().map(|(_, v)| v.clone()).collect();
        let assigns: Vec<String> = sets.iter().enumerate().map(|(i, (c, _))| format!("{c} = ?{}", i + 1)).collect();
        binds.push(OwnedValue::Integer(rowid));
        let sql = format!("UPDATE {} SET {} WHERE rowid = ?{}", self.names.rows(), assigns.join(", "), binds.len());
        self.write_sql(&sql, &binds, None)?;
        if let Some(n) = new_rowid.filter(|n| *n != rowid) {
            self.record(self.delete_sql("rows", "rowid", n));
        }
        self.record(restore);
        Ok(())
    }

    // ---- aux --------------------------------------------------------------------------------

    /// Number of auxiliary columns.
    pub fn n_aux(&self) -> usize {
        self.aux_cols.len() - 1
    }

    pub fn aux_values(&self, rowid: i64) -> Result<Option<Vec<OwnedValue>>> {
        if self.n_aux() == 0 {
            return Ok(None);
        }
        Ok(self.row_values("aux", &self.aux_cols, rowid)?.map(|mut v| v.split_off(1)))
    }

    /// Write the auxiliary values of `rowid` (insert or replace).
    pub fn put_aux(&self, rowid: i64, values: &[OwnedValue]) -> Result<()> {
        let undo = match self.row_values("aux", &self.aux_cols, rowid)? {
            Some(old) => self.restore_sql("aux", &self.aux_cols, old),
            None => self.delete_sql("aux", "rowid", rowid),
        };
        let ph: Vec<String> = (1..=self.aux_cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT OR REPLACE INTO {}({}) VALUES ({})",
            self.names.aux(),
            self.aux_cols.join(", "),
            ph.join(", ")
        );
        let mut binds = vec![OwnedValue::Integer(rowid)];
        binds.extend(values.iter().cloned());
        self.write_sql(&sql, &binds, Some(undo))
    }

    pub fn delete_aux(&self, rowid: i64) -> Result<()> {
        if let Some(old) = self.row_values("aux", &self.aux_cols, rowid)? {
            let undo = self.restore_sql("aux", &self.aux_cols, old);
            self.write_sql(
                &format!("DELETE FROM {} WHERE rowid = ?1", self.names.aux()),
                &[OwnedValue::Integer(rowid)],
                Some(undo),
            )?;
        }
        Ok(())
    }

    // ---- chunks -----------------------------------------------------------------------------

    fn blob(&self, suffix: &str, column: &str, id: i64, write: bool) -> Result<Blob> {
        self.db.blob_open(&self.names.schema, &self.names.raw(suffix), column, id, write).map_err(|e| match e {
            Error::Sqlite { code, msg } if code == 1 && msg.contains("no such rowid") => {
                Error::corrupt(format!("{}: row {id} is missing", self.names.raw(suffix)))
            }
            other => other,
        })
    }

    /// Ids of every chunk, ascending.
    pub fn chunk_ids(&self) -> Result<Vec<i64>> {
        self.chunks_where("1", &[])
    }

    /// `p00 IS ?1 AND p01 IS ?2 ...` (numbered from `first`), or `1` without partition keys:
    /// the chunks of one partition.
    fn part_match(&self, first: usize) -> String {
        if self.part_cols.is_empty() {
            return "1".into();
        }
        let c: Vec<String> = self.part_cols.iter().enumerate().map(|(i, c)| format!("{c} IS ?{}", first + i)).collect();
        c.join(" AND ")
    }

    fn bind_part(&self, st: &mut crate::ffi::stmt::Stmt, first: usize, part: &[OwnedValue]) -> Result<()> {
        if part.len() != self.part_cols.len() {
            return Err(Error::invalid("vindex: wrong number of partition key values"));
        }
        for (i, v) in part.iter().enumerate() {
            st.bind_owned(first + i, v)?;
        }
        Ok(())
    }

    /// The lowest-id chunk of partition `part` (its key values; empty without partition keys)
    /// with a free slot, and the next new chunk id.
    pub fn room(&self, part: &[OwnedValue]) -> Result<(Option<i64>, i64)> {
        let sql = format!(
            "SELECT min(id) FROM {} WHERE {} AND used < {}",
            self.names.chunks(),
            self.part_match(1),
            self.capacity
        );
        let mut st = self.stmts.get(&sql)?;
        self.bind_part(&mut st, 1, part)?;
        st.step()?;
        let room = (!st.column_is_null(0)).then(|| st.column_i64(0));
        drop(st);
        let sql = format!("SELECT coalesce(max(id), 0) + 1 FROM {}", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.step()?;
        let next = st.column_i64(0);
        if next > MAX_CHUNK_ID {
            return Err(Error::invalid(format!("{}: no chunk id left", self.t("chunks"))));
        }
        Ok((room, next))
    }

    /// The slot map of chunk `id` (None when there is no such chunk).
    pub fn load_maps(&self, id: i64) -> Result<Option<Maps>> {
        let sql = format!("SELECT used, validity, rowids FROM {} WHERE id = ?1", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        if !st.step()? {
            return Ok(None);
        }
        let cap = self.capacity;
        let (SqlValue::Blob(v), SqlValue::Blob(r)) = (st.column_value(1), st.column_value(2)) else {
            return Err(Error::corrupt(format!("{}: chunk {id}: validity and rowids must be blobs", self.t("chunks"))));
        };
        if v.len() != cap / 8 || r.len() != cap * 8 {
            return Err(Error::corrupt(format!(
                "{}: chunk {id} has {} validity bytes and {} rowid bytes, expected {} and {}",
                self.t("chunks"),
                v.len(),
                r.len(),
                cap / 8,
                cap * 8
            )));
        }
        let validity = v.to_vec();
        let rowids: Vec<i64> =
            r.chunks_exact(8).map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect();
        let used = validity.iter().map(|b| b.count_ones() as usize).sum();
        if st.column_i64(0) != used as i64 {
            return Err(Error::corrupt(format!(
                "{}: chunk {id} says {} slots are used, its validity bitmap {used}",
                self.t("chunks"),
                st.column_i64(0)
            )));
        }
        Ok(Some(Maps { id, used, validity, rowids }))
    }

    /// Write chunk maps: `Update(old)` what the row held before, or `Insert(part)` for a new
    /// chunk of partition `part` (its key values; empty without partition keys).
    pub fn write_maps(&self, m: &Maps, how: MapsWrite<'_>) -> Result<()> {
        self.record_chunk(m.id);
        let mut binds = vec![
            OwnedValue::Integer(m.id),
            OwnedValue::Integer(m.used as i64),
            OwnedValue::Blob(m.validity.clone()),
            OwnedValue::Blob(m.rowid_bytes()),
        ];
        match how {
            MapsWrite::Update(o) => self.write_sql(
                &format!("UPDATE {} SET used = ?2, validity = ?3, rowids = ?4 WHERE id = ?1", self.names.chunks()),
                &binds,
                (!self.created_now(m.id)).then(|| self.maps_undo(o)),
            ),
            MapsWrite::Insert(part) => {
                if part.len() != self.part_cols.len() {
                    return Err(Error::invalid("vindex: wrong number of partition key values"));
                }
                binds.extend(part.iter().cloned());
                self.write_sql(&self.chunk_insert_sql(false), &binds, Some(self.delete_sql("chunks", "id", m.id)))?;
                self.record_created(m.id);
                Ok(())
            }
        }
    }

    /// `INSERT [OR REPLACE] INTO t_chunks(id, used, validity, rowids, p00, ...) VALUES (?1, ...)`.
    fn chunk_insert_sql(&self, replace: bool) -> String {
        let mut cols = vec!["id".to_string(), "used".into(), "validity".into(), "rowids".into()];
        cols.extend(self.part_cols.iter().cloned());
        let ph: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        format!(
            "INSERT {}INTO {}({}) VALUES ({})",
            if replace { "OR REPLACE " } else { "" },
            self.names.chunks(),
            cols.join(", "),
            ph.join(", ")
        )
    }

    /// Undo of a maps UPDATE: put the maps back, leaving the partition columns alone (an
    /// INSERT OR REPLACE would reset them).
    fn maps_undo(&self, o: &Maps) -> UndoOp {
        UndoOp::Sql {
            sql: format!("UPDATE {} SET used = ?2, validity = ?3, rowids = ?4 WHERE id = ?1", self.names.chunks()),
            binds: vec![
                OwnedValue::Integer(o.id),
                OwnedValue::Integer(o.used as i64),
                OwnedValue::Blob(o.validity.clone()),
                OwnedValue::Blob(o.rowid_bytes()),
            ],
        }
    }

    /// The partition key values of chunk `id` (empty without partition keys); None when the
    /// chunk does not exist.
    pub fn chunk_partition(&self, id: i64) -> Result<Option<Vec<OwnedValue>>> {
        if self.part_cols.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let sql = format!("SELECT {} FROM {} WHERE id = ?1", self.part_cols.join(", "), self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        let v = if st.step()? { Some((0..self.part_cols.len()).map(|i| st.column_owned(i)).collect()) } else { None };
        st.reset();
        Ok(v)
    }

    pub fn chunk_exists(&self, id: i64) -> Result<bool> {
        let sql = format!("SELECT 1 FROM {} WHERE id = ?1", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        let r = st.step()?;
        st.reset();
        Ok(r)
    }

    /// The chunks of partition `part`, ascending.
    pub fn partition_chunks(&self, part: &[OwnedValue]) -> Result<Vec<i64>> {
        let mut binds = part.to_vec();
        if binds.len() != self.part_cols.len() {
            return Err(Error::invalid("vindex: wrong number of partition key values"));
        }
        if self.part_cols.is_empty() {
            binds.clear();
        }
        self.chunks_where(&self.part_match(1), &binds)
    }

    /// `used` of each chunk of partition `part`, by ascending id.
    pub fn chunk_counts(&self, part: &[OwnedValue]) -> Result<Vec<usize>> {
        let sql = format!("SELECT used FROM {} WHERE {} ORDER BY id", self.names.chunks(), self.part_match(1));
        let mut st = self.stmts.get(&sql)?;
        self.bind_part(&mut st, 1, part)?;
        let mut out = Vec::new();
        while st.step()? {
            out.push(st.column_i64(0).clamp(0, self.capacity as i64) as usize);
        }
        Ok(out)
    }

    /// Rows of the table (the sum of every chunk's `used`).
    pub fn chunk_counts_all(&self) -> Result<u64> {
        let sql = format!("SELECT coalesce(sum(used), 0) FROM {}", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.step()?;
        Ok(st.column_i64(0).max(0) as u64)
    }

    /// Every partition that has a chunk with a free slot, in the order of the room index
    /// (one empty tuple for a table without partition keys that has such a chunk).
    pub fn partitions_with_room(&self) -> Result<Vec<Vec<OwnedValue>>> {
        if self.part_cols.is_empty() {
            return Ok(if self.room(&[])?.0.is_some() { vec![Vec::new()] } else { Vec::new() });
        }
        let cols = self.part_cols.join(", ");
        let sql = format!(
            "SELECT DISTINCT {cols} FROM {} WHERE used < {} ORDER BY {cols}",
            self.names.chunks(),
            self.capacity
        );
        let mut st = self.stmts.get(&sql)?;
        let mut out = Vec::new();
        while st.step()? {
            out.push((0..self.part_cols.len()).map(|i| st.column_owned(i)).collect());
        }
        Ok(out)
    }

    /// Number of partitions (distinct key tuples among the chunks); None without partition keys.
    pub fn partition_count(&self) -> Result<Option<i64>> {
        if self.part_cols.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT count(*) FROM (SELECT DISTINCT {} FROM {})",
            self.part_cols.join(", "),
            self.names.chunks()
        );
        let mut st = self.stmts.get(&sql)?;
        st.step()?;
        Ok(Some(st.column_i64(0)))
    }

    /// Ids of the chunks whose partition key columns pass `cond` (SQL over `t_chunks` columns
    /// `pNN`, with `binds` for its parameters), ascending.
    pub fn chunks_where(&self, cond: &str, binds: &[OwnedValue]) -> Result<Vec<i64>> {
        let sql = format!("SELECT id FROM {} WHERE {cond} ORDER BY id", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        for (i, b) in binds.iter().enumerate() {
            st.bind_owned(i + 1, b)?;
        }
        let mut out = Vec::new();
        while st.step()? {
            let id = st.column_i64(0);
            if !(1..=MAX_CHUNK_ID).contains(&id) {
                return Err(Error::corrupt(format!("{}: chunk id {id} is out of range", self.names.raw("chunks"))));
            }
            out.push(id);
        }
        Ok(out)
    }

    /// Create the vector (and code) rows of a new chunk, all zeros.
    pub fn create_col_rows(&self, id: i64) -> Result<()> {
        self.record_chunk(id);
        for (c, l) in self.cols.iter().enumerate() {
            let rid = col_row_id(id, c);
            self.before_write()?;
            let sql = format!("INSERT INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.vectors());
            let mut st = self.stmts.get(&sql)?;
            st.bind_i64(1, rid)?;
            st.bind_i64(2, (self.capacity * l.bytes) as i64)?;
            st.execute()?;
            drop(st);
            self.record(self.delete_sql("vectors", "id", rid));
            if self.persisted(c) {
                self.before_write()?;
                let sql = format!("INSERT INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.codes());
                let mut st = self.stmts.get(&sql)?;
                st.bind_i64(1, rid)?;
                st.bind_i64(2, ChunkCodes::bytes_for(self.capacity, l.dims) as i64)?;
                st.execute()?;
                drop(st);
                self.record(self.delete_sql("codes", "id", rid));
            }
            if self.is_ivf() {
                self.write_sql(
                    &format!("INSERT INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.ivf_slots()),
                    &[OwnedValue::Integer(rid), OwnedValue::Integer((ivf::SLOT_BYTES * self.capacity) as i64)],
                    Some(self.delete_sql("ivf_slots", "id", rid)),
                )?;
            }
        }
        Ok(())
    }

    /// Delete column `col`'s code rows (the table's index stops keeping codes on disk).
    pub fn remove_code_rows(&self, col: usize) -> Result<()> {
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut st =
                self.db.prepare(&format!("SELECT id, data FROM {} WHERE id % 16 = ?1", self.names.codes()), false)?;
            st.bind_i64(1, col as i64)?;
            let mut v = Vec::new();
            while st.step()? {
                v.push((st.column_i64(0), st.column_blob(1).to_vec()));
            }
            v
        };
        for (rid, data) in rows {
            let undo = UndoOp::Restore {
                suffix: "codes",
                cols: vec!["id".into(), "data".into()],
                values: vec![OwnedValue::Integer(rid), OwnedValue::Blob(data)],
            };
            self.write_sql(
                &format!("DELETE FROM {} WHERE id = ?1", self.names.codes()),
                &[OwnedValue::Integer(rid)],
                Some(undo),
            )?;
        }
        Ok(())
    }

    /// Create column `col`'s code rows for chunks `ids`, and fill in the code of every used
    /// slot from its vector (the table's index starts keeping codes on disk).
    pub fn add_code_rows(&self, col: usize, ids: &[i64]) -> Result<()> {
        let l = self.cols[col];
        let mut vectors = vec![0u8; l.bytes * self.capacity];
        for &id in ids {
            let rid = col_row_id(id, col);
            self.write_sql(
                &format!("INSERT INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.codes()),
                &[OwnedValue::Integer(rid), OwnedValue::Integer(ChunkCodes::bytes_for(self.capacity, l.dims) as i64)],
                Some(self.delete_sql("codes", "id", rid)),
            )?;
            let Some(maps) = self.load_maps(id)? else { continue };
            self.vector_reader(col).read(id, &mut vectors)?;
            for slot in (0..maps.capacity()).filter(|s| maps.is_used(*s)) {
                let v = &vectors[slot * l.bytes..(slot + 1) * l.bytes];
                self.write_code(col, Loc { chunk: id, slot }, &crate::index::flat::code_of(v))?;
            }
        }
        Ok(())
    }

    /// Delete chunk `id` (its maps row, and its vector and code rows, which must be all
    /// zeros: a chunk is deleted once its last row is gone).
    pub fn delete_chunk(&self, m: &Maps) -> Result<()> {
        self.record_chunk(m.id);
        let part = self.chunk_partition(m.id)?.unwrap_or_else(|| vec![OwnedValue::Null; self.part_cols.len()]);
        let mut binds = vec![
            OwnedValue::Integer(m.id),
            OwnedValue::Integer(m.used as i64),
            OwnedValue::Blob(m.validity.clone()),
            OwnedValue::Blob(m.rowid_bytes()),
        ];
        binds.extend(part);
        let undo = UndoOp::Sql { sql: self.chunk_insert_sql(true), binds };
        self.write_sql(
            &format!("DELETE FROM {} WHERE id = ?1", self.names.chunks()),
            &[OwnedValue::Integer(m.id)],
            Some(undo),
        )?;
        for (c, l) in self.cols.iter().enumerate() {
            let rid = col_row_id(m.id, c);
            let undo = UndoOp::Sql {
                sql: format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.vectors()),
                binds: vec![OwnedValue::Integer(rid), OwnedValue::Integer((self.capacity * l.bytes) as i64)],
            };
            self.write_sql(
                &format!("DELETE FROM {} WHERE id = ?1", self.names.vectors()),
                &[OwnedValue::Integer(rid)],
                Some(undo),
            )?;
            if self.persisted(c) {
                let undo = UndoOp::Sql {
                    sql: format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.codes()),
                    binds: vec![
                        OwnedValue::Integer(rid),
                        OwnedValue::Integer(ChunkCodes::bytes_for(self.capacity, l.dims) as i64),
                    ],
                };
                self.write_sql(
                    &format!("DELETE FROM {} WHERE id = ?1", self.names.codes()),
                    &[OwnedValue::Integer(rid)],
                    Some(undo),
                )?;
            }
            if self.is_ivf() {
                let undo = UndoOp::Sql {
                    sql: format!(
                        "INSERT OR REPLACE INTO {}(id, data) VALUES (?1, zeroblob(?2))",
                        self.names.ivf_slots()
                    ),
                    binds: vec![
                        OwnedValue::Integer(rid),
                        OwnedValue::Integer((ivf::SLOT_BYTES * self.capacity) as i64),
                    ],
                };
                self.write_sql(
                    &format!("DELETE FROM {} WHERE id = ?1", self.names.ivf_slots()),
                    &[OwnedValue::Integer(rid)],
                    Some(undo),
                )?;
            }
        }
        Ok(())
    }

    /// Write each (offset, bytes) part into one row's blob, recording the old bytes; the blob
    /// must be `want_len` bytes long.
    fn blob_write(&self, suffix: &'static str, id: i64, want_len: usize, parts: &[(usize, &[u8])]) -> Result<()> {
        let mut b = self.blob(suffix, "data", id, true)?;
        self.check_len(suffix, id, b.len(), want_len)?;
        self.blob_write_open(&mut b, suffix, id, parts)
    }

    /// [`Store::blob_write`] through a handle the caller opened for writing (and checked).
    fn blob_write_open(&self, b: &mut Blob, suffix: &'static str, id: i64, parts: &[(usize, &[u8])]) -> Result<()> {
        self.before_write()?;
        // Rows of t_vectors, t_codes and t_ivf_slots belong to chunk id / 16 (t_ivf_lists rows
        // belong to no chunk: their id / 16 may equal a new chunk's by chance).
        let fresh = suffix != "ivf_lists" && self.created_now(id.div_euclid(16));
        for &(offset, bytes) in parts {
            if fresh {
                b.write(bytes, offset)?;
                continue;
            }
            let mut old = vec![0u8; bytes.len()];
            b.read(&mut old, offset)?;
            b.write(bytes, offset)?;
            self.record(UndoOp::Blob { suffix, column: "data", id, offset, old });
        }
        Ok(())
    }

    fn check_len(&self, suffix: &str, id: i64, len: usize, want: usize) -> Result<()> {
        if len != want {
            return Err(Error::corrupt(format!("{}: row {id} holds {len} bytes, expected {want}", self.t(suffix))));
        }
        Ok(())
    }

    /// Write the vector of column `col` at `loc`.
    pub fn write_vector(&self, col: usize, loc: Loc, bytes: &[u8]) -> Result<()> {
        let n = self.cols[col].bytes;
        debug_assert_eq!(bytes.len(), n);
        self.record_chunk(loc.chunk);
        self.blob_write("vectors", col_row_id(loc.chunk, col), n * self.capacity, &[(loc.slot * n, bytes)])
    }

    /// Write the code of column `col` at `loc`.
    pub fn write_code(&self, col: usize, loc: Loc, code: &SlotCode) -> Result<()> {
        let dims = self.cols[col].dims;
        self.record_chunk(loc.chunk);
        let ranges = ChunkCodes::slot_ranges(self.capacity, dims, loc.slot);
        let parts = code.parts();
        let p: Vec<(usize, &[u8])> = ranges.iter().zip(parts.iter()).map(|((o, _), b)| (*o, b.as_slice())).collect();
        self.blob_write("codes", col_row_id(loc.chunk, col), ChunkCodes::bytes_for(self.capacity, dims), &p)
    }

    /// Read one vector of column `col` into `out` (its first `bytes` bytes).
    pub fn read_vector(&self, col: usize, loc: Loc, out: &mut [u8]) -> Result<()> {
        let n = self.cols[col].bytes;
        let rid = col_row_id(loc.chunk, col);
        let b = self.blob("vectors", "data", rid, false)?;
        self.check_len("vectors", rid, b.len(), n * self.capacity)?;
        b.read(&mut out[..n], loc.slot * n)
    }

    /// A reader over column `col`'s chunks of vectors (reposition with [`ChunkReader::read`]).
    pub fn vector_reader(&self, col: usize) -> ChunkReader<'_> {
        ChunkReader { store: self, suffix: "vectors", col, blob: None, row_bytes: self.capacity * self.cols[col].bytes }
    }

    /// A reader of single slots' rowids ([`SlotReader`]).
    pub fn slot_reader(&self) -> SlotReader<'_> {
        SlotReader { store: self, validity: None, rowids: None }
    }

    /// A reader over column `col`'s chunks of codes.
    pub fn code_reader(&self, col: usize) -> ChunkReader<'_> {
        ChunkReader {
            store: self,
            suffix: "codes",
            col,
            blob: None,
            row_bytes: ChunkCodes::bytes_for(self.capacity, self.cols[col].dims),
        }
    }

    // ---- graphs (t_hnsw) ----------------------------------------------------------------------

    fn node_key(col: usize, n: u32) -> i64 {
        n as i64 * 16 + col as i64
    }

    /// The nodes of column `col` in block `leaf` (nodes `leaf·LEAF` to `leaf·LEAF + LEAF − 1`).
    pub fn load_leaf(&self, col: usize, leaf: u32, max0: usize, max_up: usize) -> Result<LeafParts> {
        let mut st = self.stmts.named("load_leaf", || {
            format!("SELECT id, level, links FROM {} WHERE id >= ?1 AND id < ?2 ORDER BY id", self.names.hnsw())
        })?;
        let lo = leaf as i64 * LEAF as i64 * 16;
        st.bind_i64(1, lo)?;
        st.bind_i64(2, lo + LEAF as i64 * 16)?;
        let mut out = LeafParts::default();
        while st.step()? {
            let id = st.column_i64(0);
            if id.rem_euclid(16) as usize != col {
                continue;
            }
            let n = (id / 16) as u32;
            let SqlValue::Blob(b) = st.column_value(2) else {
                return Err(Error::corrupt(format!("{}: row {id}: links must be a blob", self.t("hnsw"))));
            };
            out.push_row(n, st.column_i64(1), b, max0, max_up).map_err(|e| e.context(&self.t("hnsw")))?;
        }
        Ok(out.finish())
    }

    fn node_row(&self, key: i64) -> Result<Option<(i64, Vec<u8>)>> {
        let mut st =
            self.stmts.named("node_row", || format!("SELECT level, links FROM {} WHERE id = ?1", self.names.hnsw()))?;
        st.bind_i64(1, key)?;
        let v = if st.step()? { Some((st.column_i64(0), st.column_blob(1).to_vec())) } else { None };
        st.reset();
        Ok(v)
    }

    fn node_restore(&self, key: i64, old: Option<(i64, Vec<u8>)>) -> UndoOp {
        match old {
            Some((level, links)) => UndoOp::Restore {
                suffix: "hnsw",
                cols: vec!["id".into(), "level".into(), "links".into()],
                values: vec![OwnedValue::Integer(key), OwnedValue::Integer(level), OwnedValue::Blob(links)],
            },
            None => self.delete_sql("hnsw", "id", key),
        }
    }

    /// Write node `n` of column `col`'s graph.
    /// `old` is the node as its row holds it now (None: it has no row), which the operation's
    /// undo puts back: the caller has it in memory, so the row is not read first (that read was
    /// 8 % of an INSERT into a graph table).
    pub fn write_node(&self, col: usize, n: u32, node: &Node, old: Option<&Node>) -> Result<()> {
        let key = Self::node_key(col, n);
        let undo = self.node_restore(key, old.map(|o| (o.row_level(), o.encode())));
        self.write_named(
            "node_write",
            || format!("INSERT OR REPLACE INTO {}(id, level, links) VALUES (?1, ?2, ?3)", self.names.hnsw()),
            &[OwnedValue::Integer(key), OwnedValue::Integer(node.row_level()), OwnedValue::Blob(node.encode())],
            Some(undo),
        )
    }

    /// Write node `n`, which has no row yet (a graph being built after [`Store::clear_graph`]).
    pub fn insert_node(&self, col: usize, n: u32, node: &Node) -> Result<()> {
        let key = Self::node_key(col, n);
        self.write_named(
            "node_insert",
            || format!("INSERT INTO {}(id, level, links) VALUES (?1, ?2, ?3)", self.names.hnsw()),
            &[OwnedValue::Integer(key), OwnedValue::Integer(node.row_level()), OwnedValue::Blob(node.encode())],
            Some(self.delete_sql("hnsw", "id", key)),
        )
    }

    /// Delete node `n` of column `col`'s graph.
    pub fn delete_node(&self, col: usize, n: u32) -> Result<()> {
        let key = Self::node_key(col, n);
        let Some(old) = self.node_row(key)? else { return Ok(()) };
        let undo = self.node_restore(key, Some(old));
        self.write_named(
            "node_delete",
            || format!("DELETE FROM {} WHERE id = ?1", self.names.hnsw()),
            &[OwnedValue::Integer(key)],
            Some(undo),
        )
    }

    /// Delete every node of column `col`'s graph (before writing a new one).
    pub fn clear_graph(&self, col: usize) -> Result<()> {
        let keys: Vec<i64> = {
            let mut st = self.db.prepare(&format!("SELECT id FROM {} WHERE id % 16 = ?1", self.names.hnsw()), false)?;
            st.bind_i64(1, col as i64)?;
            let mut v = Vec::new();
            while st.step()? {
                v.push(st.column_i64(0));
            }
            v
        };
        for key in keys {
            self.delete_node(col, (key / 16) as u32)?;
        }
        Ok(())
    }

    /// The node of column `col` with the highest level, other than `except` (ties: the lowest
    /// number); members of equal-code groups (level −1) never.
    pub fn highest_node(&self, col: usize, except: u32) -> Result<Option<u32>> {
        let ex = Self::node_key(col, except);
        for sql_key in ["highest_up", "highest_any"] {
            let mut st = self.stmts.named(sql_key, || {
                if sql_key == "highest_up" {
                    format!(
                        "SELECT id FROM {} WHERE level > 0 AND id % 16 = ?1 AND id != ?2 ORDER BY level DESC, id LIMIT 1",
                        self.names.hnsw()
                    )
                } else {
                    format!("SELECT min(id) FROM {} WHERE level = 0 AND id % 16 = ?1 AND id != ?2", self.names.hnsw())
                }
            })?;
            st.bind_i64(1, col as i64)?;
            st.bind_i64(2, ex)?;
            if st.step()? && !st.column_is_null(0) {
                return Ok(Some((st.column_i64(0) / 16) as u32));
            }
        }
        Ok(None)
    }

    fn entry_key(col: usize) -> String {
        format!("hnsw.{col:02}.entry")
    }

    /// The entry node of column `col`'s graph.
    pub fn graph_entry(&self, col: usize) -> Result<Option<u32>> {
        match self.info_get(&Self::entry_key(col))? {
            None | Some(OwnedValue::Null) => Ok(None),
            Some(OwnedValue::Integer(i)) if (0..=u32::MAX as i64).contains(&i) => Ok(Some(i as u32)),
            Some(other) => Err(Error::corrupt(format!(
                "{}: {} should be a node number, found {:?}",
                self.t("info"),
                Self::entry_key(col),
                other
            ))),
        }
    }

    pub fn set_graph_entry(&self, col: usize, e: Option<u32>) -> Result<()> {
        self.info_set(&Self::entry_key(col), e.map_or(OwnedValue::Null, |x| OwnedValue::Integer(x as i64)))
    }

    /// The nodes of column `col`'s graph, ascending.
    pub fn graph_nodes(&self, col: usize) -> Result<Vec<u32>> {
        let mut st =
            self.db.prepare(&format!("SELECT id FROM {} WHERE id % 16 = ?1 ORDER BY id", self.names.hnsw()), false)?;
        st.bind_i64(1, col as i64)?;
        let mut v = Vec::new();
        while st.step()? {
            v.push((st.column_i64(0) / 16) as u32);
        }
        Ok(v)
    }

    /// Number of nodes (rows) of column `col`'s graph.
    pub fn graph_rows(&self, col: usize) -> Result<i64> {
        let mut st =
            self.db.prepare(&format!("SELECT count(*) FROM {} WHERE id % 16 = ?1", self.names.hnsw()), false)?;
        st.bind_i64(1, col as i64)?;
        st.step()?;
        Ok(st.column_i64(0))
    }

    // ---- change log -------------------------------------------------------------------------

    /// Record what a committing transaction changed, and trim the log.
    pub fn write_changes(&self, row: &ChangeRow) -> Result<()> {
        self.write_sql(
            &format!(
                "INSERT OR REPLACE INTO {}(generation, prev_epoch, epoch, keys) VALUES (?1, ?2, ?3, ?4)",
                self.names.changes()
            ),
            &[
                OwnedValue::Integer(row.generation),
                OwnedValue::Integer(row.prev_epoch),
                OwnedValue::Integer(row.epoch),
                OwnedValue::Blob(row.changes.encode()),
            ],
            None,
        )?;
        self.write_sql(
            &format!("DELETE FROM {} WHERE generation <= ?1", self.names.changes()),
            &[OwnedValue::Integer(row.generation - changes::KEEP)],
            None,
        )
    }

    /// Log rows with from < generation <= to, ascending.
    pub fn read_changes(&self, from: i64, to: i64) -> Result<Vec<ChangeRow>> {
        let sql = format!(
            "SELECT generation, prev_epoch, epoch, keys FROM {} WHERE generation > ?1 AND generation <= ?2 ORDER BY generation",
            self.names.changes()
        );
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, from)?;
        st.bind_i64(2, to)?;
        let mut out = Vec::new();
        while st.step()? {
            let generation = st.column_i64(0);
            out.push(ChangeRow {
                generation,
                prev_epoch: st.column_i64(1),
                epoch: st.column_i64(2),
                changes: ChangeSet::decode(st.column_blob(3), &self.t("changes"), generation)?,
            });
        }
        Ok(out)
    }
}

/// Reads single slots of `t_chunks` (a validity bit and a rowid) through two blob handles moved
/// from row to row: what a search that reads one row of a chunk needs, without decoding the
/// chunk's maps.
pub struct SlotReader<'a> {
    store: &'a Store,
    validity: Option<Blob>,
    rowids: Option<Blob>,
}

impl SlotReader<'_> {
    /// `column` of chunk `chunk`'s row (None: no such chunk), of `len` bytes.
    fn at<'b>(
        store: &Store,
        blob: &'b mut Option<Blob>,
        column: &str,
        chunk: i64,
        len: usize,
    ) -> Result<Option<&'b Blob>> {
        let r = match blob.as_mut() {
            Some(b) if b.rowid() == chunk => Ok(()),
            Some(b) => b.reopen(chunk),
            None => {
                store.db.blob_open(&store.names.schema, &store.names.raw("chunks"), column, chunk, false).map(|b| {
                    *blob = Some(b);
                })
            }
        };
        match r {
            Ok(()) => {}
            Err(Error::Sqlite { code: 1, .. }) => {
                *blob = None;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let b = blob.as_ref().ok_or_else(|| Error::invalid("slot reader"))?;
        store.check_len("chunks", chunk, b.len(), len)?;
        Ok(Some(b))
    }

    /// The rowid in `slot` of chunk `chunk` (None: the slot is free, or there is no such chunk).
    pub fn rowid(&mut self, chunk: i64, slot: usize) -> Result<Option<i64>> {
        let cap = self.store.capacity;
        if slot >= cap {
            return Ok(None);
        }
        let Some(v) = Self::at(self.store, &mut self.validity, "validity", chunk, cap / 8)? else { return Ok(None) };
        let mut bit = [0u8; 1];
        v.read(&mut bit, slot / 8)?;
        if bit[0] & (1 << (slot % 8)) == 0 {
            return Ok(None);
        }
        let Some(r) = Self::at(self.store, &mut self.rowids, "rowids", chunk, cap * 8)? else { return Ok(None) };
        let mut id = [0u8; 8];
        r.read(&mut id, slot * 8)?;
        Ok(Some(i64::from_le_bytes(id)))
    }
}

/// Reads whole chunk rows of `t_vectors` or `t_codes` for one column, keeping one blob handle
/// and moving it from row to row.
pub struct ChunkReader<'a> {
    store: &'a Store,
    suffix: &'static str,
    col: usize,
    blob: Option<Blob>,
    row_bytes: usize,
}

impl ChunkReader<'_> {
    fn position(&mut self, chunk: i64) -> Result<&Blob> {
        let rid = col_row_id(chunk, self.col);
        match self.blob.as_mut() {
            Some(b) if b.rowid() == rid => {}
            Some(b) => b.reopen(rid).map_err(|e| match e {
                Error::Sqlite { code: 1, .. } => {
                    Error::corrupt(format!("{}: row {rid} is missing", self.store.names.raw(self.suffix)))
                }
                other => other,
            })?,
            None => self.blob = Some(self.store.blob(self.suffix, "data", rid, false)?),
        }
        let b = self.blob.as_ref().ok_or_else(|| Error::invalid("blob reader"))?;
        self.store.check_len(self.suffix, rid, b.len(), self.row_bytes)?;
        Ok(b)
    }

    /// The whole row of chunk `chunk` into `out` (`row_bytes` long).
    pub fn read(&mut self, chunk: i64, out: &mut [u8]) -> Result<()> {
        let n = self.row_bytes;
        self.position(chunk)?.read(&mut out[..n], 0)
    }

    /// `out.len()` bytes at `offset` of chunk `chunk`'s row.
    pub fn read_at(&mut self, chunk: i64, offset: usize, out: &mut [u8]) -> Result<()> {
        self.position(chunk)?.read(out, offset)
    }

    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
}
