//! `SELECT * FROM vindex_status`: one row per vindex table and vector column in every attached
//! database, with its index, size and cache state.

use super::Registry;
use crate::error::Result;
use crate::ffi::stmt::Db;
use crate::ffi::value::{Context, ValueRef};
use crate::ffi::vtab::{IndexInfo, VTab, VTabArgs, VTabCursor};
use crate::store::FORMAT_VERSION;
use crate::store::def::{ColumnKind, quote_ident};
use crate::value::OwnedValue;
use std::rc::Rc;

const COLUMNS: &[&str] = &[
    "schema",
    "table_name",
    "column_name",
    "element_type",
    "dimensions",
    "metric",
    "index_type",
    "index_params",
    "rows",
    "free_slots",
    "chunks",
    "chunk_capacity",
    "vector_bytes",
    "bytes_on_disk",
    "format_version",
    "generation",
    "cache_state",
    "cache_bytes",
    "cache_limit",
    "prescan",
    "queries_from_memory",
    "queries_from_pages",
];

pub struct StatusTable {
    db: Db,
    reg: Rc<Registry>,
}

pub struct StatusCursor {
    rows: Vec<Vec<OwnedValue>>,
    pos: usize,
}

impl VTab for StatusTable {
    type Aux = Rc<Registry>;
    type Cursor = StatusCursor;

    fn create(db: Db, aux: &Rc<Registry>, args: &VTabArgs) -> Result<(String, Self)> {
        Self::connect(db, aux, args)
    }
    fn connect(db: Db, aux: &Rc<Registry>, _args: &VTabArgs) -> Result<(String, Self)> {
        Ok((format!("CREATE TABLE x({})", COLUMNS.join(", ")), StatusTable { db, reg: aux.clone() }))
    }
    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<()> {
        info.set_estimated_cost(1000.0);
        Ok(())
    }
    fn open(&self) -> Result<StatusCursor> {
        Ok(StatusCursor { rows: Vec::new(), pos: 0 })
    }
}

fn collect(t: &StatusTable) -> Result<Vec<Vec<OwnedValue>>> {
    let db = t.db;
    let mut schemas = Vec::new();
    {
        let mut st = db.prepare("SELECT name FROM pragma_database_list ORDER BY seq", false)?;
        while st.step()? {
            schemas.push(st.column_text(0));
        }
    }
    let mut out = Vec::new();
    for schema in schemas {
        let mut tables = Vec::new();
        {
            let sql = format!(
                "SELECT name FROM {}.sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING%vindex%(%' ORDER BY name",
                quote_ident(&schema)
            );
            let mut st = db.prepare(&sql, false)?;
            while st.step()? {
                tables.push(st.column_text(0));
            }
        }
        for name in tables {
            // Preparing a statement on the table connects it (and registers it) if needed.
            if db
                .prepare(&format!("SELECT rowid FROM {}.{} LIMIT 0", quote_ident(&schema), quote_ident(&name)), false)
                .is_err()
            {
                continue;
            }
            let Some(inner) = t.reg.find(&schema, &name) else { continue };
            let s = &inner.store;
            let generation = s.generation()?;
            let (rows, free, chunks, cache) = inner.with_layout(|l| {
                let per_col: Vec<(bool, bool, &'static str)> = (0..s.vector_bytes.len())
                    .map(|v| {
                        let prescan = if l.column(v).code_dims.is_none() {
                            "n/a"
                        } else if l.fully_coded(v) {
                            "ready"
                        } else if l.chunks.iter().any(|c| c.codes[v].is_some()) {
                            "partial"
                        } else {
                            "none"
                        };
                        (l.fully_cached(v), l.chunks.iter().any(|c| c.vectors[v].is_some()), prescan)
                    })
                    .collect();
                Ok((l.rows() as i64, l.free_slots() as i64, l.chunks.len() as i64, (per_col, l.cached_bytes() as i64)))
            })?;
            let bytes = disk_bytes(db, &schema, &name, &crate::store::shadow_suffixes(&inner.def));
            for (_, col) in inner.def.vectors() {
                let ColumnKind::Vector { ty, dims, metric, slot } = col.kind else { continue };
                let (full, some, prescan) = cache.0[slot];
                let state = if chunks == 0 || (full && some) {
                    if chunks == 0 { "empty" } else { "full" }
                } else if some {
                    "partial"
                } else {
                    "none"
                };
                out.push(vec![
                    OwnedValue::Text(schema.clone()),
                    OwnedValue::Text(name.clone()),
                    OwnedValue::Text(col.name.clone()),
                    OwnedValue::Text(ty.name().into()),
                    OwnedValue::Integer(dims as i64),
                    OwnedValue::Text(metric.name().into()),
                    OwnedValue::Text(inner.def.index.describe()),
                    OwnedValue::Text("{}".into()),
                    OwnedValue::Integer(rows),
                    OwnedValue::Integer(free),
                    OwnedValue::Integer(chunks),
                    OwnedValue::Integer(s.capacity as i64),
                    OwnedValue::Integer(rows * s.vector_bytes[slot] as i64),
                    bytes.clone(),
                    OwnedValue::Integer(FORMAT_VERSION),
                    OwnedValue::Integer(generation),
                    OwnedValue::Text(state.into()),
                    OwnedValue::Integer(cache.1),
                    OwnedValue::Integer(crate::store::cache::cache_limit() as i64),
                    OwnedValue::Text(prescan.into()),
                    OwnedValue::Integer(inner.queries_cached.get() as i64),
                    OwnedValue::Integer(inner.queries_paged.get() as i64),
                ]);
            }
        }
    }
    Ok(out)
}

/// Pages used by the table's shadow tables and their indexes (needs the dbstat table; NULL
/// when this SQLite was built without it). Pages × page size, not sum(pgsize): dbstat's pgsize
/// is garbage on VFSes that answer SQLITE_OK to file controls they do not know (dqlite's).
fn disk_bytes(db: Db, schema: &str, table: &str, suffixes: &[String]) -> OwnedValue {
    let names: Vec<String> =
        suffixes.iter().map(|s| format!("'{}'", format!("{table}_{s}").replace('\'', "''"))).collect();
    let sql = format!(
        "SELECT count(*) * (SELECT page_size FROM pragma_page_size WHERE schema = '{lit}') \
         FROM dbstat('{lit}') WHERE name IN \
         (SELECT name FROM {sch}.sqlite_schema WHERE tbl_name IN ({list}))",
        lit = schema.replace('\'', "''"),
        sch = quote_ident(schema),
        list = names.join(", ")
    );
    match db.prepare(&sql, false) {
        Ok(mut st) => match st.step() {
            Ok(true) => OwnedValue::Integer(st.column_i64(0)),
            _ => OwnedValue::Null,
        },
        Err(_) => OwnedValue::Null,
    }
}

impl VTabCursor for StatusCursor {
    type Table = StatusTable;
    fn filter(&mut self, t: &StatusTable, _n: i32, _s: Option<&str>, _a: &[ValueRef<'_>]) -> Result<()> {
        self.rows = collect(t)?;
        self.pos = 0;
        Ok(())
    }
    fn next(&mut self, _t: &StatusTable) -> Result<()> {
        self.pos += 1;
        Ok(())
    }
    fn eof(&self) -> bool {
        self.pos >= self.rows.len()
    }
    fn column(&mut self, _t: &StatusTable, ctx: &mut Context, i: i32) -> Result<()> {
        match self.rows.get(self.pos).and_then(|r| r.get(i as usize)) {
            Some(v) => ctx.set_value(v.as_ref()),
            None => ctx.set_null(),
        }
        Ok(())
    }
    fn rowid(&mut self) -> Result<i64> {
        Ok(self.pos as i64)
    }
}
