//! `INSERT INTO t(t) VALUES ('integrity-check')` and `PRAGMA integrity_check` (SQLite 3.44+):
//! verify that the shadow tables agree with each other, reporting each disagreement.

use super::TableInner;
use crate::error::Result;
use crate::store::def::ColumnKind;
use crate::store::{FORMAT_VERSION, vectors_suffix};
use crate::value::SqlValue;
use crate::vector::{ElementType, from_blob};
use std::collections::HashMap;

/// Problems found (empty when the table is consistent). Stops listing after 50.
pub fn run(t: &TableInner) -> Result<Vec<String>> {
    let mut p: Vec<String> = Vec::new();
    let s = &t.store;
    let names = &s.names;
    let cap = s.capacity;

    match s.info_get("format_version")? {
        Some(crate::value::OwnedValue::Integer(v)) if v == FORMAT_VERSION => {}
        other => p.push(format!("{}: format_version is {other:?}, expected {FORMAT_VERSION}", names.raw("info"))),
    }
    if !matches!(s.info_get("generation")?, Some(crate::value::OwnedValue::Integer(_))) {
        p.push(format!("{}: generation is missing or not an integer", names.raw("info")));
    }

    // chunks: slot -> rowid for used slots
    let mut slots: HashMap<(i64, usize), i64> = HashMap::new();
    let mut chunk_ids = Vec::new();
    {
        let sql = format!("SELECT id, validity, rowids FROM {} ORDER BY id", names.chunks());
        let mut st = s.stmts.get(&sql)?;
        while st.step()? {
            let id = st.column_i64(0);
            chunk_ids.push(id);
            let (SqlValue::Blob(v), SqlValue::Blob(r)) = (st.column_value(1), st.column_value(2)) else {
                p.push(format!("{}: chunk {id}: validity and rowids must be blobs", names.raw("chunks")));
                continue;
            };
            if v.len() != cap / 8 || r.len() != cap * 8 {
                p.push(format!(
                    "{}: chunk {id}: expected {} validity bytes and {} rowid bytes, found {} and {}",
                    names.raw("chunks"),
                    cap / 8,
                    cap * 8,
                    v.len(),
                    r.len()
                ));
                continue;
            }
            let mut used = 0;
            for slot in 0..cap {
                if v[slot / 8] & (1 << (slot % 8)) != 0 {
                    used += 1;
                    let rowid = i64::from_le_bytes(r[slot * 8..slot * 8 + 8].try_into().unwrap_or([0; 8]));
                    slots.insert((id, slot), rowid);
                }
            }
            if used == 0 {
                p.push(format!("{}: chunk {id} holds no rows (run 'optimize')", names.raw("chunks")));
            }
        }
    }

    // vectors: one row per chunk, right length, valid values
    for (_, col) in t.def.vectors() {
        let ColumnKind::Vector { ty, slot: vslot, .. } = col.kind else { continue };
        let n = s.vector_bytes[vslot];
        let table = names.raw(&vectors_suffix(vslot));
        let sql = format!("SELECT id, data FROM {} ORDER BY id", names.vectors(vslot));
        let mut st = s.stmts.get(&sql)?;
        let mut seen = Vec::new();
        while st.step()? {
            let id = st.column_i64(0);
            seen.push(id);
            let data = st.column_blob(1);
            if data.len() != n * cap {
                p.push(format!("{table}: chunk {id} holds {} bytes, expected {}", data.len(), n * cap));
                continue;
            }
            if matches!(ty, ElementType::Float32 | ElementType::Float16) {
                for slot in 0..cap {
                    if slots.contains_key(&(id, slot))
                        && let Err(e) = from_blob(&data[slot * n..(slot + 1) * n], ty)
                    {
                        p.push(format!("{table}: chunk {id} slot {slot}: {e}"));
                    }
                }
            }
        }
        if seen != chunk_ids {
            let missing: Vec<_> = chunk_ids.iter().filter(|c| !seen.contains(c)).collect();
            let extra: Vec<_> = seen.iter().filter(|c| !chunk_ids.contains(c)).collect();
            p.push(format!(
                "{table}: chunks missing {missing:?}, chunks without a {} row {extra:?}",
                names.raw("chunks")
            ));
        }
    }

    // rows <-> slots
    {
        let sql = format!("SELECT rowid, chunk, slot FROM {}", names.rows());
        let mut st = s.stmts.get(&sql)?;
        let mut rows = 0usize;
        let mut claimed: HashMap<(i64, usize), i64> = HashMap::new();
        while st.step()? {
            rows += 1;
            let (rowid, chunk, slot) = (st.column_i64(0), st.column_i64(1), st.column_i64(2));
            if slot < 0 || slot as usize >= cap {
                p.push(format!("{}: row {rowid} has slot {slot}, outside 0..{cap}", names.raw("rows")));
                continue;
            }
            let key = (chunk, slot as usize);
            match slots.get(&key) {
                None => p.push(format!(
                    "{}: row {rowid} points at chunk {chunk} slot {slot}, which is not in use",
                    names.raw("rows")
                )),
                Some(&r) if r != rowid => p.push(format!(
                    "{}: row {rowid} points at chunk {chunk} slot {slot}, which holds rowid {r}",
                    names.raw("rows")
                )),
                _ => {}
            }
            if let Some(other) = claimed.insert(key, rowid) {
                p.push(format!("{}: rows {other} and {rowid} share chunk {chunk} slot {slot}", names.raw("rows")));
            }
            if p.len() > 50 {
                break;
            }
        }
        if rows != slots.len() {
            p.push(format!(
                "{} has {rows} rows but {} has {} slots in use",
                names.raw("rows"),
                names.raw("chunks"),
                slots.len()
            ));
        }
    }

    if t.def.n_aux() > 0 {
        let sql =
            format!("SELECT count(*) FROM {} WHERE rowid NOT IN (SELECT rowid FROM {})", names.aux(), names.rows());
        let mut st = s.stmts.get(&sql)?;
        st.step()?;
        let orphans = st.column_i64(0);
        if orphans > 0 {
            p.push(format!("{}: {orphans} rows have no row in {}", names.raw("aux"), names.raw("rows")));
        }
    }
    p.truncate(50);
    Ok(p)
}
