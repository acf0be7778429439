//! `INSERT INTO t(t) VALUES ('integrity-check')` and `PRAGMA integrity_check` (SQLite 3.44+):
//! verify that the shadow tables agree with each other and with docs/FORMAT.md, reporting each
//! disagreement ("expected ..., found ...").

use super::TableInner;
use super::view::{View, all_maps};
use crate::error::Result;
use crate::index::hnsw::graph::{LEAF, Node};
use crate::index::hnsw::params::{HnswParams, level_of};
use crate::index::hnsw::{node_of, slot_of};
use crate::store::def::{ColumnKind, MetaType};
use crate::store::schema::{FORMAT_VERSION, valid_capacity};
use crate::store::{meta_col, part_col};
use crate::value::{OwnedValue, SqlValue};
use crate::vector::distance::Metric;
use crate::vector::{ElementType, from_blob};
use std::collections::{HashMap, HashSet};

const MAX_PROBLEMS: usize = 50;

/// Problems found (empty when the table is consistent). Stops listing after 50.
pub fn run(t: &TableInner) -> Result<Vec<String>> {
    let mut p: Vec<String> = Vec::new();
    if let Some(e) = &*t.broken.borrow() {
        p.push(e.message());
        return Ok(p);
    }
    let s = &t.store;
    let names = &s.names;
    let cap = s.capacity;
    let info = names.raw("info");

    match s.info_get("format_version")? {
        Some(OwnedValue::Integer(v)) if v == FORMAT_VERSION => {}
        other => p.push(format!("{info}: format_version is {other:?}, expected {FORMAT_VERSION}")),
    }
    for key in ["generation", "epoch", "seed"] {
        if !matches!(s.info_get(key)?, Some(OwnedValue::Integer(_))) {
            p.push(format!("{info}: {key} is missing or not an integer"));
        }
    }
    match s.info_get("chunk_capacity")? {
        Some(OwnedValue::Integer(c)) if valid_capacity(c) => {}
        other => p.push(format!("{info}: chunk_capacity is {other:?}, expected a power of two from 8 to 1024")),
    }

    // Chunk rows: lengths and counts, read directly (the cache could hide damage).
    let mut slots: HashMap<(i64, usize), i64> = HashMap::new();
    let mut chunk_ids = Vec::new();
    {
        let sql = format!("SELECT id, used, validity, rowids FROM {} ORDER BY id", names.chunks());
        let mut st = s.stmts.get(&sql)?;
        let table = names.raw("chunks");
        while st.step()? {
            let id = st.column_i64(0);
            chunk_ids.push(id);
            let (SqlValue::Blob(v), SqlValue::Blob(r)) = (st.column_value(2), st.column_value(3)) else {
                p.push(format!("{table}: chunk {id}: validity and rowids must be blobs"));
                continue;
            };
            if v.len() != cap / 8 || r.len() != cap * 8 {
                p.push(format!(
                    "{table}: chunk {id}: expected {} validity bytes and {} rowid bytes, found {} and {}",
                    cap / 8,
                    cap * 8,
                    v.len(),
                    r.len()
                ));
                continue;
            }
            let mut used = 0i64;
            for slot in 0..cap {
                if v[slot / 8] & (1 << (slot % 8)) != 0 {
                    used += 1;
                    let b = &r[slot * 8..slot * 8 + 8];
                    slots.insert((id, slot), i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
                }
            }
            if used == 0 {
                p.push(format!("{table}: chunk {id} holds no rows (run 'optimize')"));
            }
            if st.column_i64(1) != used {
                p.push(format!("{table}: chunk {id}: used is {}, expected {used}", st.column_i64(1)));
            }
        }
    }
    let chunk_set: HashSet<i64> = chunk_ids.iter().copied().collect();

    // Vector and code rows: one per chunk and column, of the right length, valid values.
    let mut coded_ok = true;
    for (vi, (_, col)) in t.def.vectors().enumerate() {
        let ColumnKind::Vector { ty, metric, .. } = col.kind else { continue };
        let l = s.cols[vi];
        for (suffix, want_len, present) in [
            ("vectors", l.bytes * cap, true),
            ("codes", crate::index::chunk::ChunkCodes::bytes_for(cap, l.dims), s.persisted(vi)),
        ] {
            if !present {
                continue;
            }
            let table = names.raw(suffix);
            let sql = format!("SELECT id, data FROM {} WHERE id % 16 = ?1 ORDER BY id", names.shadow(suffix));
            let mut st = s.stmts.get(&sql)?;
            st.bind_i64(1, vi as i64)?;
            let mut seen = HashSet::new();
            while st.step()? {
                let rid = st.column_i64(0);
                let id = rid.div_euclid(16);
                seen.insert(id);
                if !chunk_set.contains(&id) {
                    p.push(format!("{table}: row {rid} (chunk {id}, column {vi}) has no chunk"));
                    continue;
                }
                let data = st.column_blob(1);
                if data.len() != want_len {
                    p.push(format!("{table}: row {rid} (chunk {id}) holds {} bytes, expected {want_len}", data.len()));
                    if suffix == "codes" {
                        coded_ok = false;
                    }
                    continue;
                }
                if suffix != "vectors" {
                    continue;
                }
                let n = l.bytes;
                for slot in 0..cap {
                    if !slots.contains_key(&(id, slot)) {
                        continue;
                    }
                    let raw = &data[slot * n..(slot + 1) * n];
                    if matches!(ty, ElementType::Float32 | ElementType::Float16) {
                        match from_blob(raw, ty) {
                            Err(e) => p.push(format!("{table}: chunk {id} slot {slot}: {e}")),
                            Ok(v) if metric == Metric::Cosine && v.to_f32_vec().iter().all(|x| *x == 0.0) => {
                                p.push(format!(
                                    "{table}: chunk {id} slot {slot}: a zero vector under cosine can never be returned"
                                ))
                            }
                            Ok(_) => {}
                        }
                    } else if metric == Metric::Cosine && raw.iter().all(|b| *b == 0) {
                        p.push(format!(
                            "{table}: chunk {id} slot {slot}: a zero vector under cosine can never be returned"
                        ));
                    }
                }
            }
            let missing: Vec<i64> = chunk_ids.iter().filter(|c| !seen.contains(c)).copied().collect();
            if !missing.is_empty() {
                p.push(format!("{table}: column {vi} has no row for chunks {missing:?}"));
                if suffix == "codes" {
                    coded_ok = false;
                }
            }
        }
        if p.len() > MAX_PROBLEMS {
            break;
        }
    }

    // t_rows <-> slots, and metadata storage classes.
    {
        let sql = format!("SELECT rowid, chunk, slot FROM {}", names.rows());
        let mut st = s.stmts.get(&sql)?;
        let table = names.raw("rows");
        let mut rows = 0usize;
        let mut claimed: HashMap<(i64, usize), i64> = HashMap::new();
        while st.step()? {
            rows += 1;
            let (rowid, chunk, slot) = (st.column_i64(0), st.column_i64(1), st.column_i64(2));
            if slot < 0 || slot as usize >= cap {
                p.push(format!("{table}: row {rowid} has slot {slot}, outside 0..{cap}"));
                continue;
            }
            let key = (chunk, slot as usize);
            match slots.get(&key) {
                None => {
                    p.push(format!("{table}: row {rowid} points at chunk {chunk} slot {slot}, which is not in use"))
                }
                Some(&r) if r != rowid => {
                    p.push(format!("{table}: row {rowid} points at chunk {chunk} slot {slot}, which holds rowid {r}"))
                }
                _ => {}
            }
            if let Some(other) = claimed.insert(key, rowid) {
                p.push(format!("{table}: rows {other} and {rowid} share chunk {chunk} slot {slot}"));
            }
            if p.len() > MAX_PROBLEMS {
                break;
            }
        }
        if rows != slots.len() {
            p.push(format!("{table} has {rows} rows but {} has {} slots in use", names.raw("chunks"), slots.len()));
        }
        for c in &t.def.columns {
            let ColumnKind::Metadata { ty, slot, .. } = c.kind else { continue };
            let class = match ty {
                MetaType::Integer => "integer",
                MetaType::Real => "real",
                MetaType::Text => "text",
                MetaType::Blob => "blob",
            };
            let col = meta_col(slot);
            let sql = format!("SELECT count(*) FROM {} WHERE typeof({col}) NOT IN ('{class}', 'null')", names.rows());
            let mut st = s.stmts.get(&sql)?;
            st.step()?;
            let bad = st.column_i64(0);
            if bad > 0 {
                p.push(format!("{table}: {bad} values of metadata column {} are not {}", c.name, ty.sql()));
            }
        }
    }

    check_partitions(t, &mut p)?;

    if t.def.n_aux() > 0 {
        let table = names.raw("aux");
        let count = |sql: String| -> Result<i64> {
            let mut st = s.stmts.get(&sql)?;
            st.step()?;
            Ok(st.column_i64(0))
        };
        let orphans = count(format!(
            "SELECT count(*) FROM {} WHERE rowid NOT IN (SELECT rowid FROM {})",
            names.aux(),
            names.rows()
        ))?;
        if orphans > 0 {
            p.push(format!("{table}: {orphans} rows have no row in {}", names.raw("rows")));
        }
        let missing = count(format!(
            "SELECT count(*) FROM {} WHERE rowid NOT IN (SELECT rowid FROM {})",
            names.rows(),
            names.aux()
        ))?;
        if missing > 0 {
            p.push(format!("{table}: {missing} rows of {} have no auxiliary values", names.raw("rows")));
        }
    }

    if let crate::index::IndexSpec::Hnsw(params) = &*t.spec.borrow() {
        for vi in 0..s.cols.len() {
            check_graph(t, vi, params, &slots, &chunk_ids, &mut p)?;
        }
    }
    if s.is_ivf() && p.is_empty() {
        for vi in 0..s.cols.len() {
            t.check_ivf(vi, &mut p)?;
        }
    }

    // The indexes' own data, through a view that reads the pages (not the cache).
    if p.is_empty() && coded_ok {
        let mut view = View::new(
            s,
            std::sync::Arc::new(crate::store::cache::Version::new(0, 0, chunk_ids.clone())),
            None,
            None,
            false,
            t.graph_links(),
        );
        let _ = all_maps(&mut view)?;
        for (vi, index) in t.indexes.borrow().iter().enumerate() {
            index.check(&view, vi, &mut p)?;
        }
    }
    p.truncate(MAX_PROBLEMS);
    Ok(p)
}

/// Invariant 8 of docs/FORMAT.md: partition key values of chunks have their key's type, and
/// every row's partition keys are its chunk's.
fn check_partitions(t: &TableInner, p: &mut Vec<String>) -> Result<()> {
    let keys = t.def.partition_keys();
    if keys.is_empty() {
        return Ok(());
    }
    let s = &t.store;
    let names = &s.names;
    let chunks = names.raw("chunks");
    for k in &keys {
        let class = if k.ty == MetaType::Integer { "integer" } else { "text" };
        let col = part_col(k.part);
        let sql =
            format!("SELECT id FROM {} WHERE typeof({col}) NOT IN ('{class}', 'null') ORDER BY id", names.chunks());
        let mut st = s.stmts.get(&sql)?;
        let mut bad = Vec::new();
        while st.step()? {
            bad.push(st.column_i64(0));
        }
        if !bad.is_empty() {
            bad.truncate(10);
            p.push(format!(
                "{chunks}: partition key {} ({col}) of chunks {bad:?} is not {} or NULL",
                k.name,
                k.ty.sql()
            ));
        }
    }
    let same: Vec<String> = keys.iter().map(|k| format!("r.{} IS c.{}", meta_col(k.slot), part_col(k.part))).collect();
    let sql = format!(
        "SELECT r.rowid, r.chunk FROM {} AS r JOIN {} AS c ON c.id = r.chunk WHERE NOT ({}) ORDER BY r.rowid LIMIT 10",
        names.rows(),
        names.chunks(),
        same.join(" AND ")
    );
    let mut st = s.stmts.get(&sql)?;
    while st.step()? {
        p.push(format!(
            "{}: row {} has partition key values other than its chunk {}'s (a chunk holds one partition)",
            names.raw("rows"),
            st.column_i64(0),
            st.column_i64(1)
        ));
    }
    Ok(())
}

/// Invariant 7 of docs/FORMAT.md for column `col`'s graph.
fn check_graph(
    t: &TableInner,
    col: usize,
    params: &HnswParams,
    slots: &HashMap<(i64, usize), i64>,
    chunk_ids: &[i64],
    p: &mut Vec<String>,
) -> Result<()> {
    let s = &t.store;
    let cap = s.capacity;
    let table = s.names.raw("hnsw");
    let seed = t.seed();
    let (max0, max_up) = t.graph_links();
    let limit = chunk_ids.last().map_or(0, |&c| c.max(0) as u64 * cap as u64);
    let leaves = limit.div_ceil(LEAF as u64) as u32;
    let mut nodes: HashMap<u32, Node> = HashMap::new();
    // Rows beyond the last chunk are found by counting.
    let rows = s.graph_rows(col)?;
    for leaf in 0..leaves {
        match s.load_leaf(col, leaf, max0, max_up) {
            Ok(l) => {
                for (i, n) in l.to_leaf().nodes.into_iter().enumerate() {
                    if let Some(n) = n {
                        nodes.insert(leaf * LEAF + i as u32, n);
                    }
                }
            }
            Err(e) => p.push(e.message()),
        }
        if p.len() > MAX_PROBLEMS {
            return Ok(());
        }
    }
    if rows as usize > nodes.len() && p.is_empty() {
        p.push(format!("{table}: column {col} has {rows} rows, {} of them for slots the table has", nodes.len()));
    }
    let mut ids: Vec<u32> = nodes.keys().copied().collect();
    ids.sort_unstable();
    for &n in &ids {
        let node = &nodes[&n];
        let (chunk, slot) = slot_of(n, cap);
        let Some(&rowid) = slots.get(&(chunk, slot)) else {
            p.push(format!("{table}: node {n} (column {col}) is chunk {chunk} slot {slot}, which holds no row"));
            continue;
        };
        match node.head {
            Some(h) => {
                if !nodes.get(&h).is_some_and(|x| x.head.is_none() && x.dups.contains(&n)) {
                    p.push(format!(
                        "{table}: node {n} (column {col}) names {h} as its group's head, which does not list it"
                    ));
                }
            }
            None => {
                let want = level_of(rowid, seed, params.m);
                if node.level != want {
                    p.push(format!("{table}: node {n} (column {col}) has level {}, expected {want}", node.level));
                }
                for &m in &node.dups {
                    if nodes.get(&m).and_then(|x| x.head) != Some(n) {
                        p.push(format!(
                            "{table}: node {n} (column {col}) lists {m} in its group, which is not its member"
                        ));
                    }
                }
                // A link beyond the table's slots is not checked: it leads to a node whose chunk
                // was removed (every row of it deleted) and that no relinking reached, which
                // searches skip and the next write or repair of this node drops, as a link to a
                // free slot (docs/FORMAT.md, invariant 7).
            }
        }
        if p.len() > MAX_PROBLEMS {
            return Ok(());
        }
    }
    let missing: Vec<String> = slots
        .keys()
        .map(|&(c, sl)| node_of(c, sl, cap))
        .filter(|n| !nodes.contains_key(n))
        .take(10)
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        p.push(format!("{table}: column {col} has no node for used slots (nodes {})", missing.join(", ")));
    }
    match s.graph_entry(col) {
        Err(e) => p.push(e.message()),
        Ok(None) if !nodes.is_empty() => p.push(format!("{table}: column {col} has nodes but no entry node")),
        Ok(Some(e)) => match nodes.get(&e) {
            None => p.push(format!("{table}: column {col}'s entry node {e} is not in the graph")),
            Some(en) => {
                let top = nodes.values().filter(|x| x.head.is_none()).map(|x| x.level).max().unwrap_or(0);
                if en.head.is_some() || en.level < top {
                    p.push(format!(
                        "{table}: column {col}'s entry node {e} has level {}, but the highest is {top}",
                        en.level
                    ));
                }
            }
        },
        Ok(None) => {}
    }
    Ok(())
}
