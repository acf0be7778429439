//! `SELECT * FROM vindex_status`: one row per vindex table and vector column in every attached
//! database, with its index, size and cache state.

use super::view::all_maps;
use super::{Registry, TableInner};
use crate::error::Result;
use crate::ffi::stmt::Db;
use crate::ffi::value::{Context, ValueRef};
use crate::ffi::vtab::{IndexInfo, VTab, VTabArgs, VTabCursor};
use crate::store::FORMAT_VERSION;
use crate::store::cache::{cache_limit, cache_used};
use crate::store::def::{ColumnKind, quote_ident};
use crate::store::schema::SUFFIXES;
use crate::value::OwnedValue;
use std::rc::Rc;
use std::sync::atomic::Ordering;

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
    "cache_used",
    "cache_versions",
    "cache_hits",
    "cache_refreshes",
    "cache_reloads",
    "prescan",
    "queries_from_memory",
    "queries_from_pages",
    "graph_nodes",
    "graph_top_level",
    "graph_array_bytes",
    "graph_array_changed",
    "build_progress",
    "deleted_unrepaired",
    "last_build",
    "ivf_lists",
    "ivf_state",
    "ivf_trained_rows",
    "ivf_list_min",
    "ivf_list_max",
    "ivf_imbalance",
    "ivf_drift",
    "partitions",
    "task",
    "task_progress",
    "error",
];

/// The IVF columns, in order.
const IVF_COLUMNS: &[&str] =
    &["ivf_lists", "ivf_state", "ivf_trained_rows", "ivf_list_min", "ivf_list_max", "ivf_imbalance", "ivf_drift"];

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
            let prepared = db
                .prepare(&format!("SELECT rowid FROM {}.{} LIMIT 0", quote_ident(&schema), quote_ident(&name)), false);
            let inner = t.reg.find(&schema, &name);
            match (prepared, inner) {
                (Ok(_), Some(inner)) => match table_rows(db, &schema, &name, &inner) {
                    Ok(rows) => out.extend(rows),
                    Err(e) => out.push(error_row(&schema, &name, &e)),
                },
                (Err(e), _) => out.push(error_row(&schema, &name, &e)),
                (Ok(_), None) => {}
            }
        }
    }
    Ok(out)
}

/// The row of a table that cannot be described: its names and the error.
fn error_row(schema: &str, name: &str, e: &crate::error::Error) -> Vec<OwnedValue> {
    let mut row = vec![OwnedValue::Null; COLUMNS.len()];
    row[0] = OwnedValue::Text(schema.to_string());
    row[1] = OwnedValue::Text(name.to_string());
    row[COLUMNS.len() - 1] = OwnedValue::Text(e.message());
    row
}

fn table_rows(db: Db, schema: &str, name: &str, inner: &TableInner) -> Result<Vec<Vec<OwnedValue>>> {
    inner.usable()?;
    let s = &inner.store;
    let (generation, _) = s.version()?;
    let maps = inner.with_view(all_maps)?;
    let rows: i64 = maps.iter().map(|m| m.used as i64).sum();
    let chunks = maps.len() as i64;
    let free = chunks * s.capacity as i64 - rows;
    let bytes = disk_bytes(db, schema, name);
    let cache = &inner.cache;
    let newest = cache.newest();
    let state = if cache_limit() == 0 {
        "off"
    } else if cache.is_shared() {
        "shared"
    } else {
        "private"
    };
    let c = &cache.counters;
    let total = c.build_total.load(Ordering::Relaxed);
    let progress = if total > 0 {
        OwnedValue::Real(c.build_done.load(Ordering::Relaxed) as f64 / total as f64)
    } else {
        OwnedValue::Null
    };
    let is_graph = s.is_graph();
    let unrepaired = if is_graph { OwnedValue::Integer(inner.deleted_unrepaired()?) } else { OwnedValue::Null };
    let last_build = match c.last_build.lock().ok().and_then(|l| l.clone()) {
        Some(t) => OwnedValue::Text(t),
        None => OwnedValue::Null,
    };
    let partitions = s.partition_count()?.map_or(OwnedValue::Null, OwnedValue::Integer);
    let (task, task_progress) = match c.task_progress() {
        Some((name, p)) => (OwnedValue::Text(name), OwnedValue::Real(p)),
        None => (OwnedValue::Null, OwnedValue::Null),
    };
    let mut out = Vec::new();
    for (vi, (_, col)) in inner.def.vectors().enumerate() {
        let ColumnKind::Vector { ty, dims, metric, .. } = col.kind else { continue };
        let extra = inner.indexes.borrow()[vi].status();
        let graph = if is_graph {
            let top = match s.graph_entry(vi)? {
                Some(e) => {
                    let (max0, max_up) = inner.graph_links();
                    let leaf = s.load_leaf(vi, e / crate::index::hnsw::graph::LEAF, max0, max_up)?;
                    leaf.to_leaf().get(e).map_or(OwnedValue::Null, |n| OwnedValue::Integer(n.level as i64))
                }
                None => OwnedValue::Null,
            };
            // The array of layer 0 and codes searches of the newest version read (see
            // vtab::view): its own (0 nodes changed), an earlier version's (the nodes changed
            // since are read around it), or none yet (0 bytes, NULL).
            let gc = newest.as_ref().and_then(|v| v.graphs.get(vi)).and_then(|g| g.get());
            let (array, changed) = match gc {
                Some(g) => match (g.level0.get(), &g.base) {
                    (Some(l), _) => (l.value.mem_bytes(), OwnedValue::Integer(0)),
                    (None, Some(b)) => (b.l0.value.mem_bytes(), OwnedValue::Integer(b.changed_count() as i64)),
                    (None, None) => (0, OwnedValue::Null),
                },
                None => (0, OwnedValue::Null),
            };
            (OwnedValue::Integer(s.graph_rows(vi)?), top, OwnedValue::Integer(array as i64), changed)
        } else {
            (OwnedValue::Null, OwnedValue::Null, OwnedValue::Null, OwnedValue::Null)
        };
        let ivf_facts = if s.is_ivf() { inner.ivf_status(vi)? } else { Vec::new() };
        let ivf: Vec<OwnedValue> = IVF_COLUMNS
            .iter()
            .map(|k| ivf_facts.iter().find(|(n, _)| n == k).map_or(OwnedValue::Null, |(_, v)| v.clone()))
            .collect();
        let prescan = extra
            .iter()
            .find(|(k, _)| *k == "prescan")
            .map(|(_, v)| v.clone())
            .unwrap_or(OwnedValue::Text("n/a".into()));
        let mut row = vec![
            OwnedValue::Text(schema.to_string()),
            OwnedValue::Text(name.to_string()),
            OwnedValue::Text(col.name.clone()),
            OwnedValue::Text(ty.name().into()),
            OwnedValue::Integer(dims as i64),
            OwnedValue::Text(metric.name().into()),
            OwnedValue::Text(inner.spec.borrow().name().into()),
            OwnedValue::Text(inner.spec.borrow().params_json()),
            OwnedValue::Integer(rows),
            OwnedValue::Integer(free),
            OwnedValue::Integer(chunks),
            OwnedValue::Integer(s.capacity as i64),
            OwnedValue::Integer(rows * s.cols[vi].bytes as i64),
            bytes.clone(),
            OwnedValue::Integer(FORMAT_VERSION),
            OwnedValue::Integer(generation),
            OwnedValue::Text(state.into()),
            OwnedValue::Integer(newest.as_ref().map_or(0, |v| v.loaded_bytes()) as i64),
            OwnedValue::Integer(cache_limit() as i64),
            OwnedValue::Integer(cache_used() as i64),
            OwnedValue::Integer(cache.version_count() as i64),
            OwnedValue::Integer(c.hits.load(Ordering::Relaxed) as i64),
            OwnedValue::Integer(c.refreshes.load(Ordering::Relaxed) as i64),
            OwnedValue::Integer(c.reloads.load(Ordering::Relaxed) as i64),
            prescan,
            OwnedValue::Integer(inner.counters.from_memory.get() as i64),
            OwnedValue::Integer(inner.counters.from_pages.get() as i64),
            graph.0,
            graph.1,
            graph.2,
            graph.3,
            progress.clone(),
            unrepaired.clone(),
            last_build.clone(),
        ];
        row.extend(ivf);
        row.extend([partitions.clone(), task.clone(), task_progress.clone(), OwnedValue::Null]);
        out.push(row);
    }
    Ok(out)
}

/// Pages used by the table's shadow tables and their indexes (needs the dbstat table; NULL
/// when this SQLite was built without it). Pages × page size, not sum(pgsize): dbstat's pgsize
/// is garbage on VFSes that answer SQLITE_OK to file controls they do not know (dqlite's).
fn disk_bytes(db: Db, schema: &str, table: &str) -> OwnedValue {
    let names: Vec<String> =
        SUFFIXES.iter().map(|s| format!("'{}'", format!("{table}_{s}").replace('\'', "''"))).collect();
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
