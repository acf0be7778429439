//! INSERT, UPDATE, DELETE and the maintenance commands (`INSERT INTO t(t) VALUES ('...')`).
//! Every value is validated before the first byte is written; a failure after that point is
//! undone by SQLite's statement rollback, and the in-memory layout is dropped.

use super::TableInner;
use super::layout::Layout;
use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::ffi::value::ValueRef;
use crate::ffi::vtab::Update;
use crate::store::def::{ColumnKind, MetaType};
use crate::store::{Loc, aux_col, meta_col};
use crate::value::{Arg, OwnedValue, SqlValue};
use crate::vector::distance::Metric;
use crate::vector::{self};

const SQLITE_REPLACE: i32 = 5;

/// A row's new values, checked and converted. `None` entries mean "unchanged" (UPDATE).
struct RowValues {
    vectors: Vec<Option<Vec<u8>>>,
    meta: Vec<Option<OwnedValue>>,
    aux: Vec<Option<OwnedValue>>,
    pk: Option<Option<String>>,
    /// Value given for an `integer primary key` column.
    int_pk: Option<Option<i64>>,
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

impl TableInner {
    fn tname(&self) -> &str {
        &self.store.names.table
    }

    /// Validate the declared columns' values. `update` = values that did not change may come
    /// as "nochange" and are reported as None.
    fn validate(&self, values: &[ValueRef<'_>], update: bool) -> Result<RowValues> {
        let def = &self.def;
        if values.len() < def.k_col() + 1 {
            return Err(Error::invalid("wrong number of values for the table"));
        }
        for (i, what) in [(def.distance_col(), "distance"), (def.k_col(), "k")] {
            let unchanged = update && values[i].nochange();
            if !unchanged && !values[i].get().is_null() {
                return Err(Error::invalid(format!(
                    "{what} is a query-only column of {}; it cannot be written",
                    self.tname()
                )));
            }
        }
        let mut rv = RowValues {
            vectors: vec![None; def.n_vectors()],
            meta: vec![None; def.n_metadata()],
            aux: vec![None; def.n_aux()],
            pk: None,
            int_pk: None,
        };
        for (i, col) in def.columns.iter().enumerate() {
            let v = &values[i];
            if update && v.nochange() {
                continue;
            }
            let val = v.get();
            match &col.kind {
                ColumnKind::Vector { ty, dims, metric, slot } => {
                    if val.is_null() {
                        return Err(Error::invalid(format!(
                            "{}.{}: a vector is required, got NULL",
                            self.tname(),
                            col.name
                        )));
                    }
                    let vec = vector::for_column(&Arg::with_subtype(val, v.subtype()), *ty, *dims)
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
                ColumnKind::Metadata { ty, slot } => rv.meta[*slot] = Some(coerce(val, *ty, self.tname(), &col.name)?),
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
        Ok(rv)
    }

    /// Make sure the layout reflects the pages (reload it if another connection wrote).
    fn prepare_write(&self) -> Result<()> {
        let mut st = self.state.borrow_mut();
        if st.bumped && st.layout.is_some() {
            return Ok(());
        }
        let generation = self.store.generation()?;
        if st.layout.as_ref().is_none_or(|l| l.generation != generation) {
            st.layout = None;
            st.layout = Some(Layout::load(&self.store, generation, self.column_caches())?);
        }
        Ok(())
    }

    /// Bump the generation once per write transaction (call before or right after the first
    /// page write of a statement, never before a check that may still fail: SQLite keeps
    /// no statement journal for single-row writes to a virtual table).
    fn mark_written(&self) -> Result<()> {
        let mut st = self.state.borrow_mut();
        if st.bumped {
            return Ok(());
        }
        let new_gen = self.store.bump_generation()?;
        if let Some(l) = st.layout.as_mut() {
            l.generation = new_gen;
        }
        st.bumped = true;
        Ok(())
    }

    /// Both: the layout is current and the generation counts this transaction as a writer.
    fn begin_write(&self) -> Result<()> {
        self.prepare_write()?;
        self.mark_written()
    }

    fn layout_mut<R>(&self, f: impl FnOnce(&mut Layout) -> R) -> Result<R> {
        let mut st = self.state.borrow_mut();
        let l = st.layout.as_mut().ok_or_else(|| Error::invalid("vindex: layout missing during a write"))?;
        Ok(f(l))
    }

    fn conflict(&self, what: &str) -> Error {
        Error::constraint(format!("UNIQUE constraint failed: {}.{what}", self.tname()))
    }

    fn db(&self) -> Db {
        self.db
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
        // With OR REPLACE the conflicting rows go first; otherwise the t_rows INSERT below is
        // the first write and its UNIQUE constraints detect conflicts before anything else.
        if self.db().vtab_on_conflict() == SQLITE_REPLACE {
            let mut victims = Vec::new();
            if let Some(r) = rowid
                && self.store.location(r)?.is_some()
            {
                victims.push(r);
            }
            if let Some(p) = &pk
                && let Some(r) = self.store.rowid_for_pk(p.as_bytes())?
            {
                victims.push(r);
            }
            self.begin_write()?;
            for v in victims {
                self.delete(v)?;
            }
        }
        self.prepare_write()?;
        let (loc, new_chunk) = self.layout_mut(|l| l.allocate())?;
        // The first write, and where a uniqueness conflict shows: nothing changed before it.
        let rowid = self.write_row_record(rowid, loc, pk.as_deref(), &rv)?;
        self.mark_written()?;
        if new_chunk {
            self.store.create_chunk(loc.chunk)?;
            self.layout_mut(|l| l.add_chunk(loc.chunk, &self.store.vector_bytes))?;
        }
        self.store.set_slot(loc.chunk, loc.slot, Some(rowid))?;
        self.layout_mut(|l| l.set_slot(loc, Some(rowid)))?;
        for (s, v) in rv.vectors.iter().enumerate() {
            if let Some(bytes) = v {
                self.store.write_vector(s, loc, bytes)?;
                self.layout_mut(|l| l.write_vector(s, loc, bytes))?;
            }
        }
        if self.def.n_aux() > 0 {
            self.write_aux(rowid, &rv.aux, None)?;
        }
        Ok(rowid)
    }

    /// INSERT the `t_rows` record; returns its rowid (chosen by SQLite when `rowid` is None:
    /// one more than the largest, as for ordinary tables).
    fn write_row_record(&self, rowid: Option<i64>, loc: Loc, pk: Option<&str>, rv: &RowValues) -> Result<i64> {
        let mut cols = vec!["rowid", "chunk", "slot"].into_iter().map(String::from).collect::<Vec<_>>();
        if self.def.has_text_pk() {
            cols.push("pk".into());
        }
        for i in 0..rv.meta.len() {
            cols.push(meta_col(i));
        }
        let ph: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {}({}) VALUES ({})", self.store.names.rows(), cols.join(", "), ph.join(", "));
        let mut st = self.store.stmts.get(&sql)?;
        match rowid {
            Some(r) => st.bind_i64(1, r)?,
            None => st.bind_null(1)?,
        }
        st.bind_i64(2, loc.chunk)?;
        st.bind_i64(3, loc.slot as i64)?;
        let mut i = 4;
        if self.def.has_text_pk() {
            st.bind_text(i, pk.unwrap_or("").as_bytes())?;
            i += 1;
        }
        for m in &rv.meta {
            st.bind_owned(i, m.as_ref().unwrap_or(&OwnedValue::Null))?;
            i += 1;
        }
        match st.execute() {
            Ok(()) => Ok(rowid.unwrap_or_else(|| self.db.last_insert_rowid())),
            Err(Error::Sqlite { code, msg }) if code & 0xff == 19 => {
                if msg.contains(".pk") {
                    let name = self
                        .def
                        .columns
                        .iter()
                        .find(|c| c.kind == ColumnKind::TextPk)
                        .map_or("pk", |c| c.name.as_str());
                    Err(self.conflict(name))
                } else if msg.contains(".rowid") {
                    Err(self.conflict("rowid"))
                } else {
                    Err(Error::Sqlite { code, msg })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Write auxiliary values; `old` supplies the ones an UPDATE left unchanged.
    fn write_aux(&self, rowid: i64, aux: &[Option<OwnedValue>], old_rowid: Option<i64>) -> Result<()> {
        let n = aux.len();
        let current = match old_rowid {
            Some(r) if aux.iter().any(|a| a.is_none()) => {
                let cols: Vec<String> = (0..n).map(aux_col).collect();
                let sql = format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.store.names.aux());
                let mut st = self.store.stmts.get(&sql)?;
                st.bind_i64(1, r)?;
                if st.step()? { (0..n).map(|i| st.column_owned(i)).collect() } else { vec![OwnedValue::Null; n] }
            }
            _ => vec![OwnedValue::Null; n],
        };
        if let Some(r) = old_rowid
            && r != rowid
        {
            self.delete_aux(r)?;
        }
        let cols: Vec<String> = (0..n).map(aux_col).collect();
        let ph: Vec<String> = (2..=n + 1).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT OR REPLACE INTO {}(rowid, {}) VALUES (?1, {})",
            self.store.names.aux(),
            cols.join(", "),
            ph.join(", ")
        );
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        for (i, a) in aux.iter().enumerate() {
            st.bind_owned(i + 2, a.as_ref().unwrap_or(&current[i]))?;
        }
        st.execute()
    }

    fn delete_aux(&self, rowid: i64) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE rowid = ?1", self.store.names.aux());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        st.execute()
    }

    pub fn delete(&self, rowid: i64) -> Result<()> {
        let Some(loc) = self.store.location(rowid)? else { return Ok(()) };
        self.begin_write()?;
        let sql = format!("DELETE FROM {} WHERE rowid = ?1", self.store.names.rows());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        st.execute()?;
        drop(st);
        if self.def.n_aux() > 0 {
            self.delete_aux(rowid)?;
        }
        self.release_slot(loc)
    }

    /// Free a slot: clear its bit and rowid, zero its vectors, drop the chunk when it empties.
    fn release_slot(&self, loc: Loc) -> Result<()> {
        self.store.set_slot(loc.chunk, loc.slot, None)?;
        let zeros: Vec<Vec<u8>> = self.store.vector_bytes.iter().map(|n| vec![0u8; *n]).collect();
        for (s, z) in zeros.iter().enumerate() {
            self.store.write_vector(s, loc, z)?;
        }
        let empty = self.layout_mut(|l| {
            l.set_slot(loc, None);
            for (s, z) in zeros.iter().enumerate() {
                l.write_vector(s, loc, z);
            }
            l.chunk(loc.chunk).is_some_and(|c| c.used == 0)
        })?;
        if empty {
            self.store.delete_chunk(loc.chunk)?;
            self.layout_mut(|l| l.remove_chunk(loc.chunk))?;
        }
        Ok(())
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
        let replace = self.db().vtab_on_conflict() == SQLITE_REPLACE;
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
                let name =
                    self.def.columns.iter().find(|c| c.kind == ColumnKind::TextPk).map_or("pk", |c| c.name.as_str());
                return Err(self.conflict(name));
            }
            victims.push(r);
        }
        self.begin_write()?;
        for v in victims {
            self.delete(v)?;
        }
        // The row may have moved if a victim's deletion emptied... no: deletes never move rows.
        for (s, v) in rv.vectors.iter().enumerate() {
            if let Some(bytes) = v {
                self.store.write_vector(s, loc, bytes)?;
                self.layout_mut(|l| l.write_vector(s, loc, bytes))?;
            }
        }
        // t_rows: rowid, pk, metadata.
        let mut sets = Vec::new();
        let mut binds: Vec<OwnedValue> = Vec::new();
        if new_rowid != old_rowid {
            binds.push(OwnedValue::Integer(new_rowid));
            sets.push(format!("rowid = ?{}", binds.len()));
        }
        if let Some(Some(p)) = &rv.pk {
            binds.push(OwnedValue::Text(p.clone()));
            sets.push(format!("pk = ?{}", binds.len()));
        }
        for (i, m) in rv.meta.iter().enumerate() {
            if let Some(v) = m {
                binds.push(v.clone());
                sets.push(format!("{} = ?{}", meta_col(i), binds.len()));
            }
        }
        if !sets.is_empty() {
            binds.push(OwnedValue::Integer(old_rowid));
            let sql =
                format!("UPDATE {} SET {} WHERE rowid = ?{}", self.store.names.rows(), sets.join(", "), binds.len());
            let mut st = self.store.stmts.get(&sql)?;
            for (i, b) in binds.iter().enumerate() {
                st.bind_owned(i + 1, b)?;
            }
            st.execute()?;
        }
        if new_rowid != old_rowid {
            self.store.set_slot(loc.chunk, loc.slot, Some(new_rowid))?;
            self.layout_mut(|l| l.set_slot(loc, Some(new_rowid)))?;
        }
        if self.def.n_aux() > 0 && (new_rowid != old_rowid || rv.aux.iter().any(|a| a.is_some())) {
            self.write_aux(new_rowid, &rv.aux, Some(old_rowid))?;
        }
        Ok(())
    }

    /// Move the row in `from` to the free slot `to` (used by optimize).
    fn move_row(&self, rowid: i64, from: Loc, to: Loc) -> Result<()> {
        for s in 0..self.store.vector_bytes.len() {
            let bytes = self.vector_at(s, from)?;
            self.store.write_vector(s, to, &bytes)?;
            self.layout_mut(|l| l.write_vector(s, to, &bytes))?;
        }
        self.store.set_slot(to.chunk, to.slot, Some(rowid))?;
        self.layout_mut(|l| l.set_slot(to, Some(rowid)))?;
        let sql = format!("UPDATE {} SET chunk = ?1, slot = ?2 WHERE rowid = ?3", self.store.names.rows());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, to.chunk)?;
        st.bind_i64(2, to.slot as i64)?;
        st.bind_i64(3, rowid)?;
        st.execute()?;
        drop(st);
        self.release_slot(from)
    }

    /// Fill holes left by deletes with rows from the last chunks, dropping chunks that empty.
    /// Returns the number of rows moved.
    pub fn optimize(&self) -> Result<usize> {
        self.begin_write()?;
        let mut moved = 0;
        loop {
            let step = self.layout_mut(|l| {
                let cap = l.capacity;
                let hole = l
                    .chunks
                    .iter()
                    .find(|c| c.used < cap)
                    .and_then(|c| (0..cap).find(|s| !c.is_used(*s)).map(|s| Loc { chunk: c.id, slot: s }))?;
                let last = l.chunks.last()?;
                if last.id <= hole.chunk {
                    return None;
                }
                let slot = (0..cap).rev().find(|s| last.is_used(*s))?;
                Some((last.rowids[slot], Loc { chunk: last.id, slot }, hole))
            })?;
            let Some((rowid, from, to)) = step else { break };
            self.move_row(rowid, from, to)?;
            moved += 1;
        }
        Ok(moved)
    }

    fn command(&self, cmd: &str) -> Result<()> {
        match cmd.trim().to_ascii_lowercase().as_str() {
            "integrity-check" => {
                let problems = super::check::run(self)?;
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Error::corrupt(format!("integrity-check of {} failed: {}", self.tname(), problems.join("; "))))
                }
            }
            "optimize" => self.optimize().map(|_| ()),
            "rebuild" => {
                self.forget();
                self.optimize().map(|_| ())
            }
            other => Err(Error::invalid(format!(
                "unknown command '{other}' for {}; the commands are 'integrity-check', 'optimize' and 'rebuild'",
                self.tname()
            ))),
        }
    }
}

pub fn apply(t: &TableInner, op: Update<'_>) -> Result<i64> {
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
                Some(SqlValue::Text(cmd)) => {
                    t.command(&String::from_utf8_lossy(cmd))?;
                    Ok(0)
                }
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
