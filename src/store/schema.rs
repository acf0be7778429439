//! Shadow tables: their names, CREATE, DROP, RENAME, and the upgrade from older formats.
//! The layouts are in docs/FORMAT.md.

use super::def::{ColumnKind, TableDef, quote_ident};
use crate::error::Result;
use crate::ffi::stmt::Db;

/// Version of the on-disk format described in docs/FORMAT.md.
pub const FORMAT_VERSION: i64 = 4;

/// Suffixes of every vindex table's shadow tables (`<table>_<suffix>`), for xShadowName.
pub const SUFFIXES: &[&str] = &[
    "info",
    "rows",
    "chunks",
    "vectors",
    "codes",
    "aux",
    "changes",
    "hnsw",
    "ivf_centroids",
    "ivf_lists",
    "ivf_slots",
];

/// Format 1 kept each vector column in its own table `<table>_vectorsNN`.
pub fn legacy_vectors_suffix(col: usize) -> String {
    format!("vectors{col:02}")
}

pub fn is_shadow_suffix(s: &str) -> bool {
    SUFFIXES.contains(&s)
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
    /// The unquoted name of a shadow table, as messages show it.
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
    pub fn vectors(&self) -> String {
        self.shadow("vectors")
    }
    pub fn codes(&self) -> String {
        self.shadow("codes")
    }
    pub fn aux(&self) -> String {
        self.shadow("aux")
    }
    pub fn changes(&self) -> String {
        self.shadow("changes")
    }
    pub fn hnsw(&self) -> String {
        self.shadow("hnsw")
    }
    pub fn ivf_centroids(&self) -> String {
        self.shadow("ivf_centroids")
    }
    pub fn ivf_lists(&self) -> String {
        self.shadow("ivf_lists")
    }
    pub fn ivf_slots(&self) -> String {
        self.shadow("ivf_slots")
    }
}

pub fn meta_col(slot: usize) -> String {
    format!("m{slot:02}")
}
pub fn aux_col(slot: usize) -> String {
    format!("a{slot:02}")
}
/// Column `pNN` of `t_chunks`: the NN-th partition key of the chunk's rows.
pub fn part_col(part: usize) -> String {
    format!("p{part:02}")
}

/// Slots per chunk for vectors of `max_bytes` bytes (the largest vector column): chunks of about
/// 128 KiB, a power of two from 8 to 1024 — or about 8 KiB for a table created with an IVF
/// index, whose searches read single vectors and never scan chunks: SQLite reaches a vector
/// deep in a long blob by reading every overflow page before it, so a cold rescore of a
/// 128-dimension vector reads 2.5 pages on average from an 8 KiB chunk and 3.5 from a 16 KiB
/// one (4 KiB chunks would read 2, but a 4 KiB blob is just over what fits in one page, so
/// each would leave most of an overflow page empty).
pub fn chunk_capacity_for(max_bytes: usize, ivf: bool) -> usize {
    let target: usize = if ivf { 8 * 1024 } else { 128 * 1024 };
    let raw = (target / max_bytes.max(1)).clamp(8, 1024);
    1 << (usize::BITS - 1 - raw.leading_zeros())
}

/// The valid range of `chunk_capacity` (FORMAT.md: a power of two from 8 to 1024).
pub fn valid_capacity(c: i64) -> bool {
    (8..=1024).contains(&c) && (c as u64).is_power_of_two()
}

/// The largest chunk (`capacity × bytes` of the largest vector column) `chunk_size=` may ask for.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// The chunk capacity of a new table whose largest vector column has `max_bytes` bytes per
/// vector: from `chunk_size=N` when given (the largest power of two ≤ min(N, 1024)), else
/// [`chunk_capacity_for`]. docs/FORMAT.md, "Chunk capacity".
pub fn chunk_capacity(chunk_size: Option<usize>, max_bytes: usize, ivf: bool) -> Result<usize> {
    let Some(n) = chunk_size else { return Ok(chunk_capacity_for(max_bytes, ivf)) };
    let raw = n.clamp(8, 1024);
    let cap = 1 << (usize::BITS - 1 - raw.leading_zeros());
    if cap * max_bytes.max(1) > MAX_CHUNK_BYTES {
        let largest = (MAX_CHUNK_BYTES / max_bytes.max(1)).max(8);
        let largest = 1usize << (usize::BITS - 1 - largest.leading_zeros());
        return Err(crate::error::Error::invalid(format!(
            "chunk_size={n} makes chunks of {} MiB for this table's largest vector column; at most 64 MiB \
             per chunk, so chunk_size={largest} at the most",
            (cap * max_bytes) >> 20
        )));
    }
    Ok(cap)
}

fn rows_columns(def: &TableDef) -> Vec<String> {
    let mut cols =
        vec!["rowid INTEGER PRIMARY KEY".to_string(), "chunk INTEGER NOT NULL".into(), "slot INTEGER NOT NULL".into()];
    if def.has_text_pk() {
        cols.push("pk TEXT NOT NULL UNIQUE".into());
    }
    for c in &def.columns {
        if let ColumnKind::Metadata { ty, slot, .. } = &c.kind {
            cols.push(format!("{} {}", meta_col(*slot), ty.sql()));
        }
    }
    cols
}

fn aux_columns(def: &TableDef) -> Vec<String> {
    let mut cols = vec!["rowid INTEGER PRIMARY KEY".to_string()];
    for c in &def.columns {
        if let ColumnKind::Aux { ty, slot } = &c.kind {
            cols.push(format!("{} {}", aux_col(*slot), ty.map(|t| t.sql()).unwrap_or("")).trim_end().to_string());
        }
    }
    cols
}

/// `p00, p01, ..., ` for the partition keys (empty without them).
fn part_prefix(def: &TableDef) -> String {
    def.partition_keys().iter().map(|k| format!("{}, ", part_col(k.part))).collect()
}

fn chunks_room_index(db: Db, names: &Names, capacity: usize) -> Result<String> {
    Ok(format!(
        "CREATE INDEX {}.{} ON {}(id) WHERE used < {capacity};\n",
        quote_ident(&names.schema),
        quote_ident(&free_index_name(db, &names.schema, &format!("{}_chunks_room", names.table))?),
        quote_ident(&names.raw("chunks")),
    ))
}

/// The `t_chunks` table (with its partition key columns, if any) and its indexes.
fn chunks_table(db: Db, names: &Names, def: &TableDef, capacity: usize) -> Result<String> {
    let keys = def.partition_keys();
    let parts: String = keys.iter().map(|k| format!(", {} {}", part_col(k.part), k.ty.sql())).collect();
    let mut sql = format!(
        "CREATE TABLE {}(id INTEGER PRIMARY KEY, used INTEGER NOT NULL, validity BLOB NOT NULL, rowids BLOB NOT NULL{parts});\n",
        names.chunks()
    );
    if keys.is_empty() {
        sql += &chunks_room_index(db, names, capacity)?;
    } else {
        // One index for both lookups: chunks with room of a partition, all chunks of one.
        sql += &format!(
            "CREATE INDEX {}.{} ON {}({}used, id);\n",
            quote_ident(&names.schema),
            quote_ident(&free_index_name(db, &names.schema, &format!("{}_chunks_part", names.table))?),
            quote_ident(&names.raw("chunks")),
            part_prefix(def),
        );
    }
    Ok(sql)
}

/// The tables format 2 adds to format 1, and those of every new table.
fn common_tables(names: &Names) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS {}(generation INTEGER PRIMARY KEY, prev_epoch INTEGER NOT NULL, \
         epoch INTEGER NOT NULL, keys BLOB NOT NULL);\n",
        names.vectors(),
        names.codes(),
        names.changes()
    )
}

/// The graph table format 3 adds (docs/FORMAT.md, `t_hnsw`).
fn hnsw_table(db: Db, names: &Names) -> Result<String> {
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, level INTEGER NOT NULL, links BLOB NOT NULL);\n\
         CREATE INDEX IF NOT EXISTS {}.{} ON {}(level) WHERE level > 0;\n",
        names.hnsw(),
        quote_ident(&names.schema),
        quote_ident(&free_index_name(db, &names.schema, &format!("{}_hnsw_top", names.table))?),
        quote_ident(&names.raw("hnsw"))
    ))
}

/// The IVF tables format 4 adds (docs/FORMAT.md, "IVF").
fn ivf_tables(names: &Names) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS {}(id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n",
        names.ivf_centroids(),
        names.ivf_lists(),
        names.ivf_slots()
    )
}

/// The format-3 → format-4 upgrade: the (empty) IVF tables and the version. Format-3 tables
/// have no partition keys, so their chunks need nothing.
pub fn upgrade_from_3(db: Db, names: &Names) -> Result<()> {
    db.exec(&format!(
        "{}INSERT OR REPLACE INTO {}(key, value) VALUES ('format_version', {FORMAT_VERSION});",
        ivf_tables(names),
        names.info()
    ))
}

/// The format-2 → format-4 upgrade: the graph table and the IVF tables.
pub fn upgrade_from_2(db: Db, names: &Names) -> Result<()> {
    db.exec(&format!(
        "{}{}INSERT OR REPLACE INTO {}(key, value) VALUES ('format_version', {FORMAT_VERSION});",
        hnsw_table(db, names)?,
        ivf_tables(names),
        names.info()
    ))
}

/// Create every shadow table and index, and the info rows.
pub fn create_tables(db: Db, names: &Names, def: &TableDef, capacity: usize, epoch: i64) -> Result<()> {
    let mut sql = String::new();
    sql += &format!("CREATE TABLE {}(key TEXT PRIMARY KEY, value) WITHOUT ROWID;\n", names.info());
    sql += &format!("CREATE TABLE {}({});\n", names.rows(), rows_columns(def).join(", "));
    for c in &def.columns {
        if let ColumnKind::Metadata { slot, .. } = c.kind {
            sql += &format!(
                "CREATE INDEX {}.{} ON {}({}, chunk, slot);\n",
                quote_ident(&names.schema),
                quote_ident(&free_index_name(db, &names.schema, &format!("{}_rows_{}", names.table, meta_col(slot)))?),
                quote_ident(&names.raw("rows")),
                meta_col(slot)
            );
        }
    }
    sql += &chunks_table(db, names, def, capacity)?;
    sql += &common_tables(names);
    sql += &hnsw_table(db, names)?;
    sql += &ivf_tables(names);
    sql += &format!("CREATE TABLE {}({});\n", names.aux(), aux_columns(def).join(", "));
    sql += &format!(
        "INSERT INTO {}(key, value) VALUES ('format_version', {FORMAT_VERSION}), ('generation', 0), \
         ('epoch', {epoch}), ('chunk_capacity', {capacity}), ('created_by', '{}'), ('seed', {}), ('index', '{}');\n",
        names.info(),
        crate::version::VERSION,
        def.seed,
        def.index.describe().replace('\'', "''")
    );
    db.exec(&sql)
}

/// Every shadow table this table has in its schema, including format-1 leftovers.
pub fn existing_suffixes(db: Db, names: &Names) -> Result<Vec<String>> {
    let mut st = db.prepare(
        &format!(
            "SELECT name FROM {}.sqlite_schema WHERE type = 'table' AND name LIKE ?1 ESCAPE '\\'",
            quote_ident(&names.schema)
        ),
        false,
    )?;
    let prefix = format!("{}_", names.table).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    st.bind_text(1, format!("{prefix}%").as_bytes())?;
    let mut out = Vec::new();
    while st.step()? {
        let name = st.column_text(0);
        if let Some(suffix) = name.get(names.table.len() + 1..) {
            let legacy =
                suffix.strip_prefix("vectors").is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()));
            if is_shadow_suffix(suffix) || legacy {
                out.push(suffix.to_string());
            }
        }
    }
    Ok(out)
}

/// Drop every shadow table (DROP TABLE of the virtual table). Works whatever state the
/// tables are in: it only needs their names.
pub fn drop_tables(db: Db, names: &Names) -> Result<()> {
    let sql: String =
        existing_suffixes(db, names)?.iter().map(|s| format!("DROP TABLE IF EXISTS {};\n", names.shadow(s))).collect();
    db.exec(&sql)
}

/// Rename shadow tables for ALTER TABLE RENAME. Indexes keep the names they were created with
/// (SQLite cannot rename or drop an index while ALTER TABLE runs); a later table reusing the
/// old name picks fresh index names (see `free_index_name`).
pub fn rename_tables(db: Db, names: &Names, new_name: &str) -> Result<()> {
    let sql: String = existing_suffixes(db, names)?
        .iter()
        .map(|s| format!("ALTER TABLE {} RENAME TO {};\n", names.shadow(s), quote_ident(&format!("{new_name}_{s}"))))
        .collect();
    db.exec(&sql)
}

/// `base`, or `base_1`, `base_2`, ... when an index of that name already exists (left behind
/// by a renamed table). Deterministic for a given schema.
fn free_index_name(db: Db, schema: &str, base: &str) -> Result<String> {
    let mut st = db.prepare(&format!("SELECT 1 FROM {}.sqlite_schema WHERE name = ?1", quote_ident(schema)), false)?;
    let mut name = base.to_string();
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

/// The DDL and data moves of the format-1 → format-2 upgrade that need no decoding: new
/// tables, `used` (added as the last column of `t_chunks`), the vectors moved into `t_vectors`,
/// new info rows. Codes are written by the caller. Old per-column tables are emptied, not
/// dropped (SQLite refuses DROP TABLE inside a statement that is writing); DROP TABLE of the
/// virtual table removes them.
pub fn upgrade_from_1(db: Db, names: &Names, def: &TableDef, capacity: usize, epoch: i64) -> Result<()> {
    let mut sql = common_tables(names);
    for (_, c) in def.vectors() {
        if let ColumnKind::Vector { slot, .. } = c.kind {
            let old = names.shadow(&legacy_vectors_suffix(slot));
            sql += &format!(
                "INSERT INTO {}(id, data) SELECT id * 16 + {slot}, data FROM {old};\nDELETE FROM {old};\n",
                names.vectors()
            );
        }
    }
    sql += &format!("CREATE TABLE IF NOT EXISTS {}({});\n", names.aux(), aux_columns(def).join(", "));
    sql += &format!("ALTER TABLE {} ADD COLUMN used INTEGER NOT NULL DEFAULT 0;\n", names.chunks());
    sql += &hnsw_table(db, names)?;
    sql += &ivf_tables(names);
    sql += &format!(
        "INSERT OR REPLACE INTO {}(key, value) VALUES ('format_version', {FORMAT_VERSION}), ('epoch', {epoch}), \
         ('seed', 0), ('index', 'flat');\n",
        names.info()
    );
    db.exec(&sql)?;
    let mut counts: Vec<(i64, i64)> = Vec::new();
    {
        let mut st = db.prepare(&format!("SELECT id, validity FROM {}", names.chunks()), false)?;
        while st.step()? {
            counts.push((st.column_i64(0), st.column_blob(1).iter().map(|b| b.count_ones() as i64).sum()));
        }
    }
    let mut up = db.prepare(&format!("UPDATE {} SET used = ?2 WHERE id = ?1", names.chunks()), false)?;
    for (id, n) in counts {
        up.bind_i64(1, id)?;
        up.bind_i64(2, n)?;
        up.execute()?;
    }
    drop(up);
    db.exec(&chunks_room_index(db, names, capacity)?)
}
