//! Reading a sqlite-vec `vec0` table from its shadow tables, with or without sqlite-vec loaded,
//! for `'import=...'` and `vindex_import_vec0()`.
//!
//! What is read (sqlite-vec 0.1.x, the layout of its flat tables; documented in docs/MIGRATING.md):
//! - the definition: the `CREATE VIRTUAL TABLE ... USING vec0(...)` text in `sqlite_schema`,
//!   parsed with vec0's grammar (columns are tried as vector, partition key, primary key,
//!   auxiliary, metadata, then table option, as vec0 does);
//! - `<t>_chunks(chunk_id, size, [sequence_id, partition00.., ] validity, rowids)`: per chunk
//!   of `size` slots a validity bitmap (slot i is bit i%8 of byte i/8) and `size` little-endian
//!   i64 rowids; only slots whose bit is set hold a row;
//! - `<t>_vector_chunksNN`: per chunk (SQLite rowid = chunk_id) `size` vectors back to back;
//! - `<t>_metadatachunksNN`: per chunk, booleans as a bitmap, integers as i64, floats as f64,
//!   texts as 16-byte views (i32 length, then the first 12 bytes); longer texts whole in
//!   `<t>_metadatatextNN(rowid PRIMARY KEY, data)`, keyed by its column `rowid` (the row's
//!   rowid; that table's own rowid is unrelated);
//! - `<t>_auxiliary(rowid, value00, ..)` by row rowid; `<t>_rowids(rowid, id, ..)` for a text
//!   primary key.
//!
//! Integers and floats inside blobs are little-endian (sqlite-vec writes its machine's order;
//! every platform it ships for is little-endian).

use super::def::{MetaType, quote_ident};
use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::value::OwnedValue;
use crate::vector::ElementType;
use crate::vector::distance::Metric;

/// A vec0 metadata column's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    Boolean,
    Integer,
    Float,
    Text,
}

/// One column of a vec0 table, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub enum Vec0Kind {
    /// `_vector_chunksNN`, NN = `idx`.
    Vector { ty: ElementType, dims: usize, metric: Metric, idx: usize },
    /// `_chunks.partitionNN` (type integer or text).
    Partition { ty: MetaType, idx: usize },
    /// The primary key: integer (the rowid) or text (`_rowids.id`).
    PrimaryKey { text: bool },
    /// `_auxiliary.valueNN` (declared type).
    Aux { ty: MetaType, idx: usize },
    /// `_metadatachunksNN`.
    Metadata { kind: MetaKind, idx: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vec0Column {
    pub name: String,
    pub kind: Vec0Kind,
}

/// A vec0 table's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Vec0Def {
    pub columns: Vec<Vec0Column>,
    /// `chunk_size=N` when declared.
    pub chunk_size: Option<usize>,
}

impl Vec0Def {
    pub fn n_vectors(&self) -> usize {
        self.columns.iter().filter(|c| matches!(c.kind, Vec0Kind::Vector { .. })).count()
    }
    fn count(&self, f: impl Fn(&Vec0Kind) -> bool) -> usize {
        self.columns.iter().filter(|c| f(&c.kind)).count()
    }
    pub fn text_pk(&self) -> bool {
        self.columns.iter().any(|c| c.kind == Vec0Kind::PrimaryKey { text: true })
    }

    /// The same table as vindex column definitions (for `CREATE VIRTUAL TABLE ... USING
    /// vindex(...)`): types and options translated, names quoted.
    pub fn vindex_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let n = quote_ident(&c.name);
                match &c.kind {
                    Vec0Kind::Vector { ty, dims, metric, .. } => {
                        let t = match ty {
                            ElementType::Float32 => "float",
                            ElementType::Float16 => "float16",
                            ElementType::Int8 => "int8",
                            ElementType::Bit => "bit",
                        };
                        format!("{n} {t}[{dims}] distance={}", metric.name())
                    }
                    Vec0Kind::Partition { ty, .. } => format!("{n} {} partition key", ty.sql().to_ascii_lowercase()),
                    Vec0Kind::PrimaryKey { text } => {
                        format!("{n} {} primary key", if *text { "text" } else { "integer" })
                    }
                    Vec0Kind::Aux { ty, .. } => format!("+{n} {}", ty.sql().to_ascii_lowercase()),
                    Vec0Kind::Metadata { kind, .. } => format!(
                        "{n} {}",
                        match kind {
                            MetaKind::Boolean => "boolean",
                            MetaKind::Integer => "integer",
                            MetaKind::Float => "float",
                            MetaKind::Text => "text",
                        }
                    ),
                }
            })
            .collect();
        if let Some(n) = self.chunk_size {
            out.push(format!("chunk_size={n}"));
        }
        out
    }
}

/// The `(...)` arguments of a `CREATE VIRTUAL TABLE` statement, split at top-level commas as
/// SQLite splits module arguments (quotes and parentheses respected), and its module name.
pub fn module_args(sql: &str) -> Option<(String, Vec<String>)> {
    let upper = sql.to_ascii_uppercase();
    let using = upper.find(" USING ")?;
    let rest = &sql[using + 7..];
    let open = rest.find('(')?;
    let module = rest[..open].trim().to_string();
    let body = &rest[open + 1..];
    let close = body.rfind(')')?;
    let body = &body[..close];
    let mut args = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    for (i, ch) in body.char_indices() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                }
            }
            None => match ch {
                '\'' | '"' | '`' => quote = Some(ch),
                '[' => quote = Some(']'),
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    args.push(body[start..i].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    let last = body[start..].trim();
    if !last.is_empty() || !args.is_empty() {
        args.push(last.to_string());
    }
    Some((module, args))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Digits(String),
    Plus,
    LBracket,
    RBracket,
    Eq,
    LParen,
    RParen,
}

/// vec0's tokenizer: identifiers (a letter, then letters, digits, `_`), digit runs, `+ [ ] = ( )`.
fn tokens(s: &str) -> Option<Vec<Tok>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            b'+' => Some(Tok::Plus),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'=' => Some(Tok::Eq),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Digits(s[st..i].to_string()));
        } else {
            return None;
        }
    }
    Some(out)
}

/// vec0 compares a type word with `sqlite3_strnicmp(word, keyword, len(word))`: any
/// non-empty prefix of the keyword matches.
fn is_prefix_of(word: &str, keyword: &str) -> bool {
    !word.is_empty() && word.len() <= keyword.len() && keyword[..word.len()].eq_ignore_ascii_case(word)
}

fn starts_with_ci(word: &str, prefix: &str) -> bool {
    word.len() >= prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Parse vec0's module arguments (as sqlite-vec 0.1.x accepts them).
pub fn parse_def(table: &str, args: &[String]) -> Result<Vec0Def> {
    let bad = |arg: &str, why: &str| {
        Error::invalid(format!("vec0 table {table}: cannot read the column definition '{arg}' ({why})"))
    };
    let mut columns = Vec::new();
    let (mut nv, mut np, mut na, mut nm) = (0, 0, 0, 0);
    let mut chunk_size = None;
    for arg in args {
        let t = tokens(arg).ok_or_else(|| bad(arg, "unexpected character"))?;
        // 1. vector column: name type[N] options...
        if let (Some(name), Some(ty), Some(Tok::LBracket)) = (ident(t.first()), ident(t.get(1)), t.get(2)) {
            let ety = if starts_with_ci(ty, "float") || starts_with_ci(ty, "f32") {
                Some(ElementType::Float32)
            } else if starts_with_ci(ty, "int8") || starts_with_ci(ty, "i8") {
                Some(ElementType::Int8)
            } else if starts_with_ci(ty, "bit") {
                Some(ElementType::Bit)
            } else {
                None
            };
            if let Some(ety) = ety {
                let Some(Tok::Digits(d)) = t.get(3) else { return Err(bad(arg, "dimensions")) };
                let dims: usize = d.parse().map_err(|_| bad(arg, "dimensions"))?;
                if t.get(4) != Some(&Tok::RBracket) || dims == 0 {
                    return Err(bad(arg, "dimensions"));
                }
                let mut metric = if ety == ElementType::Bit { Metric::Hamming } else { Metric::L2 };
                let mut i = 5;
                while i < t.len() {
                    let key = ident(t.get(i)).ok_or_else(|| bad(arg, "option"))?;
                    if is_prefix_of(key, "distance_metric") && t.get(i + 1) == Some(&Tok::Eq) {
                        let v = ident(t.get(i + 2)).ok_or_else(|| bad(arg, "distance_metric"))?;
                        metric = if is_prefix_of(v, "l2") {
                            Metric::L2
                        } else if is_prefix_of(v, "l1") {
                            Metric::L1
                        } else if is_prefix_of(v, "cosine") {
                            Metric::Cosine
                        } else {
                            return Err(bad(arg, "distance_metric"));
                        };
                        i += 3;
                    } else if key.eq_ignore_ascii_case("indexed")
                        && ident(t.get(i + 1)).is_some_and(|b| b.eq_ignore_ascii_case("by"))
                    {
                        let how = ident(t.get(i + 2)).unwrap_or("");
                        if !how.eq_ignore_ascii_case("flat") {
                            return Err(Error::invalid(format!(
                                "vec0 table {table}: column {name} is 'indexed by {how}'; vindex imports the vectors \
                                 sqlite-vec keeps in its chunks (flat columns, all of sqlite-vec 0.1.9), not those of \
                                 its {how} index"
                            )));
                        }
                        i += 3;
                        // flat() with its parentheses
                        while i < t.len() && matches!(t[i], Tok::LParen | Tok::RParen) {
                            i += 1;
                        }
                    } else {
                        return Err(bad(arg, "unknown option"));
                    }
                }
                columns.push(Vec0Column {
                    name: name.to_string(),
                    kind: Vec0Kind::Vector { ty: ety, dims, metric, idx: nv },
                });
                nv += 1;
                continue;
            }
        }
        // 2. partition key, 3. primary key: name type partition|primary key
        if let (Some(name), Some(ty), Some(w), Some(k), None) =
            (ident(t.first()), ident(t.get(1)), ident(t.get(2)), ident(t.get(3)), t.get(4))
            && is_prefix_of(k, "key")
        {
            let mty = if is_prefix_of(ty, "text") {
                Some(MetaType::Text)
            } else if is_prefix_of(ty, "int") || is_prefix_of(ty, "integer") {
                Some(MetaType::Integer)
            } else {
                None
            };
            if let Some(mty) = mty {
                if is_prefix_of(w, "partition") {
                    columns.push(Vec0Column { name: name.to_string(), kind: Vec0Kind::Partition { ty: mty, idx: np } });
                    np += 1;
                    continue;
                }
                if is_prefix_of(w, "primary") {
                    columns.push(Vec0Column {
                        name: name.to_string(),
                        kind: Vec0Kind::PrimaryKey { text: mty == MetaType::Text },
                    });
                    continue;
                }
            }
        }
        // 4. auxiliary: +name type
        if t.first() == Some(&Tok::Plus)
            && let (Some(name), Some(ty)) = (ident(t.get(1)), ident(t.get(2)))
        {
            let mty = if is_prefix_of(ty, "text") {
                MetaType::Text
            } else if is_prefix_of(ty, "int") || is_prefix_of(ty, "integer") {
                MetaType::Integer
            } else if is_prefix_of(ty, "float") || is_prefix_of(ty, "double") {
                MetaType::Real
            } else if is_prefix_of(ty, "blob") {
                MetaType::Blob
            } else {
                return Err(bad(arg, "auxiliary column type"));
            };
            columns.push(Vec0Column { name: name.to_string(), kind: Vec0Kind::Aux { ty: mty, idx: na } });
            na += 1;
            continue;
        }
        // 5. metadata: name type
        if let (Some(name), Some(ty), None) = (ident(t.first()), ident(t.get(1)), t.get(2)) {
            let kind = if is_prefix_of(ty, "boolean") || is_prefix_of(ty, "bool") {
                Some(MetaKind::Boolean)
            } else if ["int64", "integer64", "integer", "int"].iter().any(|k| is_prefix_of(ty, k)) {
                Some(MetaKind::Integer)
            } else if ["float", "double", "float64", "f64"].iter().any(|k| is_prefix_of(ty, k)) {
                Some(MetaKind::Float)
            } else if is_prefix_of(ty, "text") {
                Some(MetaKind::Text)
            } else {
                None
            };
            if let Some(kind) = kind {
                columns.push(Vec0Column { name: name.to_string(), kind: Vec0Kind::Metadata { kind, idx: nm } });
                nm += 1;
                continue;
            }
        }
        // 6. table option: key=value
        if let (Some(key), Some(Tok::Eq), Some(v), None) = (ident(t.first()), t.get(1), t.get(2), t.get(3))
            && is_prefix_of(key, "chunk_size")
        {
            let n = match v {
                Tok::Digits(d) | Tok::Ident(d) => d.parse::<usize>().ok(),
                _ => None,
            };
            chunk_size = Some(n.filter(|n| *n > 0 && n % 8 == 0).ok_or_else(|| bad(arg, "chunk_size"))?);
            continue;
        }
        return Err(bad(arg, "not a vec0 column or option"));
    }
    if nv == 0 {
        return Err(Error::invalid(format!("vec0 table {table} has no vector column")));
    }
    Ok(Vec0Def { columns, chunk_size })
}

/// The `CREATE` statement of table `schema.table`, or `None` when there is no such table.
pub fn table_sql(db: Db, schema: &str, table: &str) -> Result<Option<String>> {
    let mut st = db.prepare(
        &format!(
            "SELECT sql FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
            quote_ident(schema)
        ),
        false,
    )?;
    st.bind_text(1, table.as_bytes())?;
    Ok(if st.step()? { Some(st.column_text(0)) } else { None })
}

/// The definition of vec0 table `schema.table`, from its `CREATE VIRTUAL TABLE` statement.
pub fn read_def(db: Db, schema: &str, table: &str) -> Result<Vec0Def> {
    let sql =
        table_sql(db, schema, table)?.ok_or_else(|| Error::invalid(format!("no table {schema}.{table} to import")))?;
    let (_, args) = module_args(&sql).filter(|(m, _)| m.eq_ignore_ascii_case("vec0")).ok_or_else(|| {
        Error::invalid(format!("{schema}.{table} is not a sqlite-vec vec0 table (its CREATE statement: {sql})"))
    })?;
    parse_def(table, &args)
}

/// One row of a vec0 table: its rowid, text primary key, and per column kind the values in
/// declaration order of that kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Vec0Row {
    pub rowid: i64,
    pub text_pk: Option<String>,
    /// Vector bytes as vec0 stores them, by vector column.
    pub vectors: Vec<Vec<u8>>,
    pub partitions: Vec<OwnedValue>,
    pub metadata: Vec<OwnedValue>,
    pub aux: Vec<OwnedValue>,
}

/// Reads a vec0 table's rows chunk by chunk (ascending chunk id, then slot).
pub struct Vec0Reader<'a> {
    db: Db,
    schema: &'a str,
    table: &'a str,
    def: &'a Vec0Def,
}

impl<'a> Vec0Reader<'a> {
    pub fn new(db: Db, schema: &'a str, table: &'a str, def: &'a Vec0Def) -> Vec0Reader<'a> {
        Vec0Reader { db, schema, table, def }
    }

    fn shadow(&self, suffix: &str) -> String {
        format!("{}.{}", quote_ident(self.schema), quote_ident(&format!("{}_{suffix}", self.table)))
    }

    fn corrupt(&self, what: String) -> Error {
        Error::invalid(format!("vec0 table {}: {what}", self.table))
    }

    /// Rows in the table (set validity bits).
    pub fn count(&self) -> Result<u64> {
        let mut st = self.db.prepare(&format!("SELECT validity FROM {}", self.shadow("chunks")), false)?;
        let mut n = 0u64;
        while st.step()? {
            n += st.column_blob(0).iter().map(|b| b.count_ones() as u64).sum::<u64>();
        }
        Ok(n)
    }

    /// One blob of a per-chunk shadow table (SQLite rowid = chunk id), of exactly `len` bytes.
    fn chunk_blob(&self, suffix: &str, column: &str, chunk: i64, len: usize) -> Result<Vec<u8>> {
        let mut st =
            self.db.prepare(&format!("SELECT {column} FROM {} WHERE _rowid_ = ?1", self.shadow(suffix)), false)?;
        st.bind_i64(1, chunk)?;
        if !st.step()? {
            return Err(self.corrupt(format!("{}_{suffix} has no row for chunk {chunk}", self.table)));
        }
        let b = st.column_blob(0);
        if b.len() != len {
            return Err(self.corrupt(format!(
                "{}_{suffix}: chunk {chunk} holds {} bytes, expected {len}",
                self.table,
                b.len()
            )));
        }
        Ok(b.to_vec())
    }

    /// Call `f` with every row, chunk by chunk.
    pub fn for_each(&self, f: &mut dyn FnMut(Vec0Row) -> Result<()>) -> Result<()> {
        let parts: Vec<String> = (0..self.def.count(|k| matches!(k, Vec0Kind::Partition { .. })))
            .map(|i| format!(", partition{i:02}"))
            .collect();
        let mut chunks = self.db.prepare(
            &format!(
                "SELECT chunk_id, size, validity, rowids{} FROM {} ORDER BY chunk_id",
                parts.concat(),
                self.shadow("chunks")
            ),
            false,
        )?;
        let n_aux = self.def.count(|k| matches!(k, Vec0Kind::Aux { .. }));
        let mut aux_st = if n_aux > 0 {
            let cols: Vec<String> = (0..n_aux).map(|i| format!("value{i:02}")).collect();
            Some(self.db.prepare(
                &format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.shadow("auxiliary")),
                false,
            )?)
        } else {
            None
        };
        let mut pk_st = if self.def.text_pk() {
            Some(self.db.prepare(&format!("SELECT id FROM {} WHERE rowid = ?1", self.shadow("rowids")), false)?)
        } else {
            None
        };
        let mut long_text: Vec<Option<crate::ffi::stmt::Stmt>> = Vec::new();
        let vectors: Vec<(usize, usize)> = self
            .def
            .columns
            .iter()
            .filter_map(|c| match c.kind {
                Vec0Kind::Vector { ty, dims, idx, .. } => Some((idx, ty.bytes_for(dims))),
                _ => None,
            })
            .collect();
        let metas: Vec<(usize, MetaKind)> = self
            .def
            .columns
            .iter()
            .filter_map(|c| match c.kind {
                Vec0Kind::Metadata { kind, idx } => Some((idx, kind)),
                _ => None,
            })
            .collect();
        for &(idx, kind) in &metas {
            long_text.push(if kind == MetaKind::Text {
                Some(self.db.prepare(
                    // Keyed by the column named rowid (not the table's own rowid).
                    &format!("SELECT data FROM {} WHERE rowid = ?1", self.shadow(&format!("metadatatext{idx:02}"))),
                    false,
                )?)
            } else {
                None
            });
        }
        let mut vhandles: Vec<Option<crate::ffi::stmt::Blob>> = vectors.iter().map(|_| None).collect();
        while chunks.step()? {
            let id = chunks.column_i64(0);
            let size = chunks.column_i64(1);
            if size <= 0 || size % 8 != 0 || size > 1 << 20 {
                return Err(self.corrupt(format!("chunk {id} has size {size}")));
            }
            let size = size as usize;
            let np = parts.len();
            let validity = chunks.column_blob(2).to_vec();
            let rowids = chunks.column_blob(3).to_vec();
            if validity.len() != size / 8 || rowids.len() != size * 8 {
                return Err(self.corrupt(format!(
                    "chunk {id} has {} validity and {} rowid bytes for {size} slots",
                    validity.len(),
                    rowids.len()
                )));
            }
            let partitions: Vec<OwnedValue> = (0..np).map(|i| chunks.column_owned(4 + i)).collect();
            if !validity.iter().any(|b| *b != 0) {
                continue;
            }
            // Vectors by incremental blob I/O: only the slots in use are read (vec0 chunks are
            // often mostly empty, e.g. 1024 slots for a partition of 100 rows).
            for (h, &(idx, bytes)) in vhandles.iter_mut().zip(&vectors) {
                let name = format!("{}_vector_chunks{idx:02}", self.table);
                match h {
                    Some(b) => b.reopen(id),
                    None => self.db.blob_open(self.schema, &name, "vectors", id, false).map(|b| *h = Some(b)),
                }
                .map_err(|_| self.corrupt(format!("{name} has no row for chunk {id}")))?;
                let len = h.as_ref().map_or(0, |b| b.len());
                if len != size * bytes {
                    return Err(
                        self.corrupt(format!("{name}: chunk {id} holds {len} bytes, expected {}", size * bytes))
                    );
                }
            }
            let mblobs: Vec<Vec<u8>> = metas
                .iter()
                .map(|&(idx, kind)| {
                    let len = match kind {
                        MetaKind::Boolean => size / 8,
                        MetaKind::Integer | MetaKind::Float => size * 8,
                        MetaKind::Text => size * 16,
                    };
                    self.chunk_blob(&format!("metadatachunks{idx:02}"), "data", id, len)
                })
                .collect::<Result<_>>()?;
            for slot in 0..size {
                if validity[slot / 8] & (1 << (slot % 8)) == 0 {
                    continue;
                }
                let rowid = i64::from_le_bytes(rowids[slot * 8..slot * 8 + 8].try_into().expect("8 bytes"));
                let mut vecs: Vec<Vec<u8>> = Vec::with_capacity(vectors.len());
                for (h, &(_, n)) in vhandles.iter().zip(&vectors) {
                    let mut v = vec![0u8; n];
                    if let Some(b) = h {
                        b.read(&mut v, slot * n)?;
                    }
                    vecs.push(v);
                }
                let mut metadata = Vec::with_capacity(metas.len());
                for (mi, (&(_, kind), b)) in metas.iter().zip(&mblobs).enumerate() {
                    metadata.push(match kind {
                        MetaKind::Boolean => OwnedValue::Integer(((b[slot / 8] >> (slot % 8)) & 1) as i64),
                        MetaKind::Integer => {
                            OwnedValue::Integer(i64::from_le_bytes(b[slot * 8..slot * 8 + 8].try_into().expect("8")))
                        }
                        MetaKind::Float => {
                            OwnedValue::Real(f64::from_le_bytes(b[slot * 8..slot * 8 + 8].try_into().expect("8")))
                        }
                        MetaKind::Text => {
                            let view = &b[slot * 16..slot * 16 + 16];
                            let len = i32::from_le_bytes(view[..4].try_into().expect("4"));
                            if (0..=12).contains(&len) {
                                OwnedValue::Text(String::from_utf8_lossy(&view[4..4 + len as usize]).into_owned())
                            } else {
                                let st = long_text[mi].as_mut().ok_or_else(|| Error::invalid("vec0 text"))?;
                                st.reset();
                                st.bind_i64(1, rowid)?;
                                if !st.step()? {
                                    return Err(self.corrupt(format!(
                                        "row {rowid}: the long text of metadata column {mi} is missing"
                                    )));
                                }
                                st.column_owned(0)
                            }
                        }
                    });
                }
                let aux = match aux_st.as_mut() {
                    Some(st) => {
                        st.reset();
                        st.bind_i64(1, rowid)?;
                        if st.step()? {
                            (0..n_aux).map(|i| st.column_owned(i)).collect()
                        } else {
                            vec![OwnedValue::Null; n_aux]
                        }
                    }
                    None => Vec::new(),
                };
                let text_pk = match pk_st.as_mut() {
                    Some(st) => {
                        st.reset();
                        st.bind_i64(1, rowid)?;
                        if !st.step()? {
                            return Err(
                                self.corrupt(format!("row {rowid} has no primary key in {}_rowids", self.table))
                            );
                        }
                        Some(st.column_text(0))
                    }
                    None => None,
                };
                f(Vec0Row { rowid, text_pk, vectors: vecs, partitions: partitions.clone(), metadata, aux })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_module_arguments_as_sqlite_does() {
        let (m, a) = module_args(
            "CREATE VIRTUAL TABLE x USING vec0(emb float[4] distance_metric=cosine, user_id integer partition key, +body text, 'a,b' text)",
        )
        .unwrap();
        assert_eq!(m, "vec0");
        assert_eq!(
            a,
            ["emb float[4] distance_metric=cosine", "user_id integer partition key", "+body text", "'a,b' text"]
        );
        assert_eq!(
            module_args("CREATE VIRTUAL TABLE x USING vindex(v float[2], index=hnsw(m=4, ef_search=9))")
                .unwrap()
                .1
                .len(),
            2
        );
    }

    #[test]
    fn parses_vec0_grammar_with_its_quirks() {
        let d = parse_def(
            "t",
            &args(&[
                "id text primary key",
                "emb float[384] distance_metric=cosine",
                "q int8[8]",
                "b bit[64]",
                "f8 float8[2]",
                "user_id integer partition key",
                "org text partition key",
                "+body text",
                "+n integer",
                "ok boolean",
                "year int",
                "score float",
                "tag text",
                "chunk_size=256",
            ]),
        )
        .unwrap();
        assert_eq!(d.chunk_size, Some(256));
        assert!(d.text_pk());
        assert_eq!(d.n_vectors(), 4);
        assert_eq!(
            d.columns[1].kind,
            Vec0Kind::Vector { ty: ElementType::Float32, dims: 384, metric: Metric::Cosine, idx: 0 }
        );
        assert_eq!(
            d.columns[3].kind,
            Vec0Kind::Vector { ty: ElementType::Bit, dims: 64, metric: Metric::Hamming, idx: 2 }
        );
        assert_eq!(
            d.columns[4].kind,
            Vec0Kind::Vector { ty: ElementType::Float32, dims: 2, metric: Metric::L2, idx: 3 }
        );
        assert_eq!(d.columns[6].kind, Vec0Kind::Partition { ty: MetaType::Text, idx: 1 });
        assert_eq!(d.columns[8].kind, Vec0Kind::Aux { ty: MetaType::Integer, idx: 1 });
        assert_eq!(d.columns[9].kind, Vec0Kind::Metadata { kind: MetaKind::Boolean, idx: 0 });
        assert_eq!(d.columns[11].kind, Vec0Kind::Metadata { kind: MetaKind::Float, idx: 2 });
        let cols = d.vindex_columns();
        assert_eq!(cols[0], "\"id\" text primary key");
        assert_eq!(cols[1], "\"emb\" float[384] distance=cosine");
        assert_eq!(cols[5], "\"user_id\" integer partition key");
        assert_eq!(cols[7], "+\"body\" text");
        assert_eq!(cols[9], "\"ok\" boolean");
        assert_eq!(cols.last().unwrap(), "chunk_size=256");
        let e = parse_def("t", &args(&["emb float[4] indexed by rescore(quantizer=bit)"])).unwrap_err().to_string();
        assert!(e.contains("indexed by rescore"), "{e}");
        assert!(parse_def("t", &args(&["+x any"])).is_err());
        assert!(parse_def("t", &args(&["x text"])).unwrap_err().to_string().contains("no vector column"));
    }
}
