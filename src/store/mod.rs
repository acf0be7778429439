//! Shadow tables: schema, cached statements and blob I/O. Byte layouts are in docs/FORMAT.md.
//!
//! For table `t` in schema `s`:
//! - `s.t_info(key TEXT PRIMARY KEY, value) WITHOUT ROWID`: format version, generation, chunk capacity.
//! - `s.t_rows(rowid INTEGER PRIMARY KEY, chunk, slot[, pk TEXT UNIQUE], m00, m01, ...)`: one row
//!   per table row: where its vectors are, and its metadata (each metadata column indexed).
//! - `s.t_chunks(id INTEGER PRIMARY KEY, validity BLOB, rowids BLOB)`: one row per chunk of
//!   `capacity` slots: a bitmap of used slots and the rowid in each slot.
//! - `s.t_vectorsNN(id INTEGER PRIMARY KEY, data BLOB)`: per vector column NN, the chunk's vectors
//!   back to back (`capacity * bytes_per_vector`).
//! - `s.t_aux(rowid INTEGER PRIMARY KEY, a00, ...)`: auxiliary columns, when the table has any.

pub mod cache;
pub mod def;
pub mod stmts;

use crate::error::{Error, Result};
use crate::ffi::stmt::{Blob, Db};
use crate::value::OwnedValue;
use def::{ColumnKind, TableDef, quote_ident};
pub use stmts::StmtCache;

/// Version of the on-disk format described in docs/FORMAT.md.
pub const FORMAT_VERSION: i64 = 1;

/// Suffixes of shadow tables (`<table>_<suffix>`), for xShadowName.
pub fn is_shadow_suffix(s: &str) -> bool {
    matches!(s, "info" | "rows" | "chunks" | "aux")
        || s.strip_prefix("vectors").is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Slots per chunk for vectors of `max_bytes` bytes (the largest vector column): chunks of about
/// 128 KiB, a power of two from 8 to 1024.
pub fn chunk_capacity_for(max_bytes: usize) -> usize {
    const TARGET: usize = 128 * 1024;
    let raw = (TARGET / max_bytes.max(1)).clamp(8, 1024);
    1 << (usize::BITS - 1 - raw.leading_zeros())
}

/// Names of one table's shadow tables, quoted and schema-qualified.
#[derive(Debug, Clone)]
pub struct Names {
    pub schema: String,
    pub table: String,
}

impl Names {
    pub fn shadow(&self, suffix: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&format!("{}_{suffix}", self.table)))
    }
    pub fn raw(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.table)
    }
    pub fn info(&self) -> String {
        self.shadow("info")
    }
    pub fn rows(&self) -> String {
        self.shadow("rows")
    }
    pub fn chunks(&self) -> String {
        self.shadow("chunks")
    }
    pub fn aux(&self) -> String {
        self.shadow("aux")
    }
    pub fn vectors(&self, slot: usize) -> String {
        self.shadow(&vectors_suffix(slot))
    }
}

pub fn vectors_suffix(slot: usize) -> String {
    format!("vectors{slot:02}")
}
pub fn meta_col(slot: usize) -> String {
    format!("m{slot:02}")
}
pub fn aux_col(slot: usize) -> String {
    format!("a{slot:02}")
}

/// All suffixes of a table's shadow tables.
pub fn shadow_suffixes(def: &TableDef) -> Vec<String> {
    let mut v = vec!["info".to_string(), "rows".into(), "chunks".into()];
    for (_, c) in def.vectors() {
        if let ColumnKind::Vector { slot, .. } = c.kind {
            v.push(vectors_suffix(slot));
        }
    }
    if def.n_aux() > 0 {
        v.push("aux".into());
    }
    v
}

/// Create every shadow table and index, and the info rows.
pub fn create_tables(db: Db, names: &Names, def: &TableDef, capacity: usize) -> Result<()> {
    let mut sql = String::new();
    sql += &format!("CREATE TABLE {}(key TEXT PRIMARY KEY, value) WITHOUT ROWID;\n", names.info());
    let mut rows_cols =
        vec!["rowid INTEGER PRIMARY KEY".to_string(), "chunk INTEGER NOT NULL".into(), "slot INTEGER NOT NULL".into()];
    if def.has_text_pk() {
        rows_cols.push("pk TEXT NOT NULL UNIQUE".into());
    }
    let mut aux_cols = vec!["rowid INTEGER PRIMARY KEY".to_string()];
    for c in &def.columns {
        match &c.kind {
            ColumnKind::Metadata { ty, slot } => rows_cols.push(format!("{} {}", meta_col(*slot), ty.sql())),
            ColumnKind::Aux { ty, slot } => aux_cols
                .push(format!("{} {}", aux_col(*slot), ty.map(|t| t.sql()).unwrap_or("")).trim_end().to_string()),
            _ => {}
        }
    }
    sql += &format!("CREATE TABLE {}({});\n", names.rows(), rows_cols.join(", "));
    for c in &def.columns {
        if let ColumnKind::Metadata { slot, .. } = c.kind {
            sql += &format!(
                "CREATE INDEX {}.{} ON {}({});\n",
                quote_ident(&names.schema),
                quote_ident(&free_index_name(db, &names.schema, &names.table, slot)?),
                quote_ident(&names.raw("rows")),
                meta_col(slot)
            );
        }
    }
    sql += &format!(
        "CREATE TABLE {}(id INTEGER PRIMARY KEY, validity BLOB NOT NULL, rowids BLOB NOT NULL);\n",
        names.chunks()
    );
    for (_, c) in def.vectors() {
        if let ColumnKind::Vector { slot, .. } = c.kind {
            sql += &format!("CREATE TABLE {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n", names.vectors(slot));
        }
    }
    if def.n_aux() > 0 {
        sql += &format!("CREATE TABLE {}({});\n", names.aux(), aux_cols.join(", "));
    }
    sql += &format!(
        "INSERT INTO {}(key, value) VALUES ('format_version', {FORMAT_VERSION}), ('generation', 0), \
         ('chunk_capacity', {capacity}), ('created_by', '{}');\n",
        names.info(),
        crate::version::VERSION
    );
    db.exec(&sql)
}

/// Drop every shadow table (DROP TABLE of the virtual table).
pub fn drop_tables(db: Db, names: &Names, def: &TableDef) -> Result<()> {
    let sql: String =
        shadow_suffixes(def).iter().map(|s| format!("DROP TABLE IF EXISTS {};\n", names.shadow(s))).collect();
    db.exec(&sql)
}

/// Rename shadow tables for ALTER TABLE RENAME. Metadata indexes keep the names they were
/// created with (SQLite cannot rename or drop an index while ALTER TABLE runs); a later table
/// reusing the old name picks fresh index names (see [`free_index_name`]).
pub fn rename_tables(db: Db, names: &Names, def: &TableDef, new_name: &str) -> Result<()> {
    let sql: String = shadow_suffixes(def)
        .iter()
        .map(|s| format!("ALTER TABLE {} RENAME TO {};\n", names.shadow(s), quote_ident(&format!("{new_name}_{s}"))))
        .collect();
    db.exec(&sql)
}

/// `<table>_rows_mNN`, or with a numeric suffix when an index of that name already exists
/// (left behind by a renamed table). Deterministic for a given schema.
fn free_index_name(db: Db, schema: &str, table: &str, slot: usize) -> Result<String> {
    let base = format!("{table}_rows_{}", meta_col(slot));
    let mut st = db.prepare(&format!("SELECT 1 FROM {}.sqlite_schema WHERE name = ?1", quote_ident(schema)), false)?;
    let mut name = base.clone();
    for i in 1.. {
        st.bind_text(1, name.as_bytes())?;
        let taken = st.step()?;
        st.reset();
        if !taken {
            break;
        }
        name = format!("{base}_{i}");
    }
    Ok(name)
}

/// Per-table access to the shadow tables with a statement cache.
pub struct Store {
    pub db: Db,
    pub names: Names,
    pub stmts: StmtCache,
    /// Slots per chunk (from the info table).
    pub capacity: usize,
    /// Bytes per vector, by vector slot.
    pub vector_bytes: Vec<usize>,
}

/// Where a row's vectors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub chunk: i64,
    pub slot: usize,
}

impl Store {
    pub fn open(db: Db, names: Names, vector_bytes: Vec<usize>) -> Result<Store> {
        let stmts = StmtCache::new(db);
        let mut s = Store { db, names, stmts, capacity: 0, vector_bytes };
        let version = s.info_i64("format_version")?;
        if version != FORMAT_VERSION {
            return Err(Error::invalid(format!(
                "table {} uses vindex storage format {version}, this build of vindex reads format {FORMAT_VERSION}",
                s.names.table
            )));
        }
        let cap = s.info_i64("chunk_capacity")?;
        if !(8..=65536).contains(&cap) || cap % 8 != 0 {
            return Err(Error::corrupt(format!("{}: chunk_capacity {cap} is invalid", s.names.raw("info"))));
        }
        s.capacity = cap as usize;
        Ok(s)
    }

    pub fn info_i64(&self, key: &str) -> Result<i64> {
        let sql = format!("SELECT value FROM {} WHERE key = ?1", self.names.info());
        let mut st = self.stmts.get(&sql)?;
        st.bind_text(1, key.as_bytes())?;
        if !st.step()? {
            return Err(Error::corrupt(format!("{} has no '{key}' row", self.names.raw("info"))));
        }
        let v = match st.column_value(0) {
            crate::value::SqlValue::Integer(i) => Ok(i),
            other => Err(Error::corrupt(format!(
                "{}: '{key}' should be an integer, found {}",
                self.names.raw("info"),
                other.type_name()
            ))),
        };
        st.reset();
        v
    }

    pub fn info_get(&self, key: &str) -> Result<Option<OwnedValue>> {
        let sql = format!("SELECT value FROM {} WHERE key = ?1", self.names.info());
        let mut st = self.stmts.get(&sql)?;
        st.bind_text(1, key.as_bytes())?;
        let v = if st.step()? { Some(st.column_owned(0)) } else { None };
        st.reset();
        Ok(v)
    }

    pub fn generation(&self) -> Result<i64> {
        self.info_i64("generation")
    }

    /// Increment the generation counter; returns the new value.
    pub fn bump_generation(&self) -> Result<i64> {
        let sql = format!("UPDATE {} SET value = value + 1 WHERE key = 'generation'", self.names.info());
        self.stmts.get(&sql)?.execute()?;
        self.generation()
    }

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
                self.names.raw("rows"),
                self.capacity
            )));
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

    // ---- chunks -------------------------------------------------------------------------

    fn blob(&self, suffix: &str, column: &str, id: i64, write: bool) -> Result<Blob> {
        self.db.blob_open(&self.names.schema, &self.names.raw(suffix), column, id, write).map_err(|e| match e {
            Error::Sqlite { code, msg } if code == 1 && msg.contains("no such rowid") => {
                Error::corrupt(format!("{}: chunk {id} is missing", self.names.raw(suffix)))
            }
            other => other,
        })
    }

    /// Create chunk `id` with every slot free.
    pub fn create_chunk(&self, id: i64) -> Result<()> {
        let cap = self.capacity;
        let sql = format!("INSERT INTO {}(id, validity, rowids) VALUES (?1, ?2, ?3)", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        st.bind_zeroblob(2, cap / 8)?;
        st.bind_zeroblob(3, cap * 8)?;
        st.execute()?;
        drop(st);
        for (slot, bytes) in self.vector_bytes.iter().enumerate() {
            let sql = format!("INSERT INTO {}(id, data) VALUES (?1, ?2)", self.names.vectors(slot));
            let mut st = self.stmts.get(&sql)?;
            st.bind_i64(1, id)?;
            st.bind_zeroblob(2, cap * bytes)?;
            st.execute()?;
        }
        Ok(())
    }

    pub fn delete_chunk(&self, id: i64) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE id = ?1", self.names.chunks());
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        st.execute()?;
        drop(st);
        for slot in 0..self.vector_bytes.len() {
            let sql = format!("DELETE FROM {} WHERE id = ?1", self.names.vectors(slot));
            let mut st = self.stmts.get(&sql)?;
            st.bind_i64(1, id)?;
            st.execute()?;
        }
        Ok(())
    }

    /// Mark `slot` of `chunk` used by `rowid` (Some) or free (None).
    pub fn set_slot(&self, chunk: i64, slot: usize, rowid: Option<i64>) -> Result<()> {
        let mut vb = self.blob("chunks", "validity", chunk, true)?;
        let mut byte = [0u8; 1];
        vb.read(&mut byte, slot / 8)?;
        match rowid {
            Some(_) => byte[0] |= 1 << (slot % 8),
            None => byte[0] &= !(1 << (slot % 8)),
        }
        vb.write(&byte, slot / 8)?;
        drop(vb);
        let mut rb = self.blob("chunks", "rowids", chunk, true)?;
        rb.write(&rowid.unwrap_or(0).to_le_bytes(), slot * 8)?;
        Ok(())
    }

    pub fn write_vector(&self, vslot: usize, loc: Loc, bytes: &[u8]) -> Result<()> {
        let n = self.vector_bytes[vslot];
        debug_assert_eq!(bytes.len(), n);
        let mut b = self.blob(&vectors_suffix(vslot), "data", loc.chunk, true)?;
        b.write(bytes, loc.slot * n)
    }

    pub fn read_vector(&self, vslot: usize, loc: Loc, out: &mut [u8]) -> Result<()> {
        let n = self.vector_bytes[vslot];
        let b = self.blob(&vectors_suffix(vslot), "data", loc.chunk, false)?;
        if b.len() != n * self.capacity {
            return Err(self.bad_chunk_len(vslot, loc.chunk, b.len()));
        }
        b.read(&mut out[..n], loc.slot * n)
    }

    pub fn bad_chunk_len(&self, vslot: usize, chunk: i64, len: usize) -> Error {
        Error::corrupt(format!(
            "{}: chunk {chunk} holds {len} bytes, expected {}",
            self.names.raw(&vectors_suffix(vslot)),
            self.vector_bytes[vslot] * self.capacity
        ))
    }

    /// A read handle on a vector column's chunks, to be repositioned with `reopen`.
    pub fn vector_reader(&self, vslot: usize, first_chunk: i64) -> Result<Blob> {
        self.blob(&vectors_suffix(vslot), "data", first_chunk, false)
    }
}
