//! Cursors: running a plan (KNN or scan) and producing column values.

use super::TableInner;
use super::layout::AlignedBuf;
use super::layout::Layout;
use super::plan::{Arg, Kind, Op, Plan, Target};
use crate::error::{Error, Result};
use crate::ffi::value::{Context, ValueRef};
use crate::ffi::vtab::VTabCursor;
use crate::index::flat::{Bounds, ChunkView, Hit, Scorer, TopK, scan_chunk};
use crate::index::sq8::{self, Candidate, QueryCode, UpperBounds, prescan_chunk};
use crate::store::def::ColumnKind;
use crate::store::{Loc, aux_col, meta_col};
use crate::value::{Arg as SqlArg, OwnedValue, SqlValue};
use crate::vector;
use crate::vector::distance::Metric;
use std::collections::BTreeMap;
use std::rc::Rc;

enum Rows {
    Empty,
    Sorted(Vec<Hit>),
    /// KNN without k or LIMIT: the best `k` so far, found again with a larger k when SQLite
    /// asks for more rows (a smaller k's result is always a prefix of a larger k's).
    Growing(Box<Growing>),
    /// (rowid, chunk, slot)
    Scan(Vec<(i64, i64, u32)>),
}

pub struct VindexCursor {
    t: Rc<TableInner>,
    rows: Rows,
    pos: usize,
    k: Option<i64>,
    meta_row: Option<(i64, Vec<OwnedValue>)>,
    aux_row: Option<(i64, Vec<OwnedValue>)>,
    /// The table's write count when the query ran: when it moved, rows are re-checked as the
    /// cursor reaches them (a row deleted meanwhile is skipped, a moved one read where it is).
    writes_seen: u64,
}

struct Growing {
    vslot: usize,
    scorer: Scorer,
    candidates: Option<Candidates>,
    bounds: Bounds,
    k: usize,
    hits: Vec<Hit>,
    /// Fewer than k rows came back: there are no more.
    exhausted: bool,
}

impl Growing {
    /// After finding the best `k` again, continue right after `last` (by distance, then
    /// rowid), so rows deleted meanwhile shift nothing.
    fn position_after(&self, last: &Hit) -> usize {
        self.hits.partition_point(|h| h.cmp_key(last) != std::cmp::Ordering::Greater)
    }
}

/// First batch of a KNN query without k or LIMIT (SQLite 3.40's `ORDER BY distance LIMIT n`),
/// and the factor it grows by.
const FIRST_BATCH: usize = 64;
const GROWTH: usize = 8;

/// Rows passing the pushed-down filters: (rowid, chunk, slot), in rowid order.
type Candidates = Vec<(i64, i64, u32)>;

fn arg_of<'a>(v: &ValueRef<'a>) -> SqlArg<'a> {
    SqlArg::with_subtype(v.get(), v.subtype())
}

fn integer_arg(what: &str, v: SqlValue<'_>) -> Result<i64> {
    match v {
        SqlValue::Integer(i) => Ok(i),
        SqlValue::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(f as i64),
        SqlValue::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| Error::invalid(format!("{what} must be an integer, got '{}'", String::from_utf8_lossy(t)))),
        other => Err(Error::invalid(format!("{what} must be an integer, not {}", other.type_name()))),
    }
}

fn number_arg(what: &str, v: SqlValue<'_>) -> Result<f64> {
    match v {
        SqlValue::Integer(i) => Ok(i as f64),
        SqlValue::Real(f) => Ok(f),
        SqlValue::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| Error::invalid(format!("{what} must be a number"))),
        other => Err(Error::invalid(format!("{what} must be a number, not {}", other.type_name()))),
    }
}

impl TableInner {
    /// Run the shadow-table filters of `plan`; None when the plan has none.
    fn candidates(&self, plan: &Plan, args: &[ValueRef<'_>]) -> Result<Option<Candidates>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<OwnedValue> = Vec::new();
        let mut cacheable = true;
        let mut join_aux = false;
        for (i, a) in plan.filters() {
            let Arg::Filter { target, op, collation, .. } = a else { continue };
            let col = match target {
                Target::Rowid => "r.rowid".to_string(),
                Target::Meta(slot) => format!("r.{}", meta_col(*slot)),
                Target::Pk => "r.pk".to_string(),
                Target::Aux(slot) => {
                    join_aux = true;
                    format!("a.{}", aux_col(*slot))
                }
            };
            let coll = collation
                .as_ref()
                .map(|c| format!(" COLLATE {}", crate::store::def::quote_ident(c)))
                .unwrap_or_default();
            let v = args.get(i).ok_or_else(|| Error::invalid("missing filter argument"))?;
            match op {
                Op::IsNull | Op::IsNotNull => conds.push(format!("{col} {}", op.sql())),
                Op::In => {
                    cacheable = false;
                    let vals = v.in_values()?;
                    if vals.is_empty() {
                        conds.push("0".into());
                    } else {
                        let ph: Vec<String> = vals
                            .into_iter()
                            .map(|x| {
                                binds.push(x);
                                format!("?{}", binds.len())
                            })
                            .collect();
                        conds.push(format!("{col}{coll} IN ({})", ph.join(",")));
                    }
                }
                _ => {
                    binds.push(v.get().to_owned_value());
                    conds.push(format!("{col}{coll} {} ?{}", op.sql(), binds.len()));
                }
            }
        }
        if conds.is_empty() {
            return Ok(None);
        }
        let from = if join_aux {
            format!("{} AS r JOIN {} AS a ON a.rowid = r.rowid", self.store.names.rows(), self.store.names.aux())
        } else {
            format!("{} AS r", self.store.names.rows())
        };
        let sql = format!("SELECT r.rowid, r.chunk, r.slot FROM {from} WHERE {} ORDER BY r.rowid", conds.join(" AND "));
        let mut out = Vec::new();
        let mut run = |st: &mut crate::ffi::stmt::Stmt| -> Result<()> {
            for (i, b) in binds.iter().enumerate() {
                st.bind_owned(i + 1, b)?;
            }
            while st.step()? {
                let loc = self.store.decode_loc(st.column_i64(1), st.column_i64(2))?;
                out.push((st.column_i64(0), loc.chunk, loc.slot as u32));
            }
            Ok(())
        };
        if cacheable {
            run(&mut *self.store.stmts.get(&sql)?)?;
        } else {
            run(&mut self.db.prepare(&sql, false)?)?;
        }
        Ok(Some(out))
    }

    fn knn(&self, plan: &Plan, col: usize, args: &[ValueRef<'_>]) -> Result<(Rows, Option<i64>)> {
        let column = &self.def.columns[col];
        let ColumnKind::Vector { ty, dims, metric, slot: vslot } = column.kind else {
            return Err(Error::invalid("MATCH on a column that is not a vector"));
        };
        let mut query = None;
        let mut k: Option<i64> = None;
        let mut limit: Option<i64> = None;
        let mut offset: i64 = 0;
        let mut bounds = Bounds::default();
        for (i, a) in plan.args.iter().enumerate() {
            let v = args.get(i).ok_or_else(|| Error::invalid("missing xFilter argument"))?;
            match a {
                Arg::Query => {
                    let q = vector::for_column(&arg_of(v), ty, dims)
                        .map_err(|e| e.context(&format!("query vector for column {}", column.name)))?;
                    if metric == Metric::Cosine && q.to_f32_vec().iter().all(|x| *x == 0.0) {
                        return Err(Error::invalid(format!(
                            "query vector for column {}: cosine distance is undefined for a zero vector",
                            column.name
                        )));
                    }
                    query = Some(q.into_owned());
                }
                Arg::K => {
                    let n = integer_arg("k", v.get())?;
                    if n < 0 {
                        return Err(Error::invalid(format!("k must be 0 or more, not {n}")));
                    }
                    k = Some(n);
                }
                Arg::Limit => limit = Some(integer_arg("LIMIT", v.get())?.max(0)),
                Arg::Offset => offset = integer_arg("OFFSET", v.get())?.max(0),
                Arg::Distance(op) => {
                    let x = number_arg("the distance bound", v.get())?;
                    match op {
                        Op::Lt => bounds.add_upper(x, false),
                        Op::Le => bounds.add_upper(x, true),
                        Op::Gt => bounds.add_lower(x, false),
                        Op::Ge => bounds.add_lower(x, true),
                        _ => {}
                    }
                }
                Arg::Filter { .. } => {}
            }
        }
        let query = query.ok_or_else(|| Error::invalid("KNN query without a query vector"))?;
        let want = k.or(limit.map(|l| l.saturating_add(offset)));
        if want == Some(0) {
            return Ok((Rows::Empty, k));
        }
        let candidates = self.candidates(plan, args)?;
        if candidates.as_ref().is_some_and(|c| c.is_empty()) {
            return Ok((Rows::Empty, k));
        }
        let scorer = Scorer::new(query, metric);
        let rows = match want {
            Some(n) => {
                let mut out = TopK::new(usize::try_from(n).unwrap_or(usize::MAX));
                self.scan_vectors(vslot, &scorer, candidates.as_deref(), &bounds, &mut out)?;
                Rows::Sorted(out.into_sorted())
            }
            None => {
                let mut g =
                    Growing { vslot, scorer, candidates, bounds, k: FIRST_BATCH, hits: Vec::new(), exhausted: false };
                self.grow(&mut g)?;
                Rows::Growing(Box::new(g))
            }
        };
        Ok((rows, k))
    }

    /// Find the best `g.k` rows.
    fn grow(&self, g: &mut Growing) -> Result<()> {
        let mut out = TopK::new(g.k);
        self.scan_vectors(g.vslot, &g.scorer, g.candidates.as_deref(), &g.bounds, &mut out)?;
        g.hits = out.into_sorted();
        g.exhausted = g.hits.len() < g.k;
        Ok(())
    }

    /// Score every used slot (or every candidate) of vector column `vslot`.
    fn scan_vectors(
        &self,
        vslot: usize,
        scorer: &Scorer,
        candidates: Option<&[(i64, i64, u32)]>,
        bounds: &Bounds,
        out: &mut TopK,
    ) -> Result<()> {
        let cap = self.store.capacity;
        // Per-chunk bitmaps of candidate slots.
        let masks: Option<BTreeMap<i64, Vec<u8>>> = candidates.map(|c| {
            let mut m: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
            for &(_, chunk, slot) in c {
                let e = m.entry(chunk).or_insert_with(|| vec![0u8; cap / 8]);
                e[slot as usize / 8] |= 1 << (slot % 8);
            }
            m
        });
        self.with_layout(|layout| {
            let prescan = match (out.k(), scorer.query_f32()) {
                (k, Some(q)) if layout.fully_coded(vslot) && sq8::supports(scorer.metric()) => Some((k, q)),
                _ => None,
            };
            match prescan {
                Some((k, q)) => self.prescan(layout, vslot, scorer, q, k, masks.as_ref(), bounds, out)?,
                None => self.full_scan(layout, vslot, scorer, masks.as_ref(), bounds, out)?,
            }
            Ok(())
        })
    }

    /// Score from float32 vectors (cached, or read from the pages and cached when the budget
    /// allows, coding them for the prescan on the way).
    fn full_scan(
        &self,
        layout: &mut Layout,
        vslot: usize,
        scorer: &Scorer,
        masks: Option<&BTreeMap<i64, Vec<u8>>>,
        bounds: &Bounds,
        out: &mut TopK,
    ) -> Result<()> {
        let vb = self.store.vector_bytes[vslot];
        let cap = self.store.capacity;
        let mut reader = None;
        let mut buf = AlignedBuf::zeroed(vb * cap);
        let mut paged = false;
        for i in 0..layout.chunks.len() {
            let id = layout.chunks[i].id;
            let mask = match masks {
                Some(m) => match m.get(&id) {
                    Some(mask) => Some(mask.as_slice()),
                    None => continue,
                },
                None => None,
            };
            if layout.chunks[i].used == 0 {
                continue;
            }
            let sparse = mask.is_some_and(|m| m.iter().map(|b| b.count_ones() as usize).sum::<usize>() * 16 < cap);
            if layout.chunks[i].vectors[vslot].is_none() {
                paged = true;
                if sparse {
                    // Few candidates here: read just their vectors.
                    let c = &layout.chunks[i];
                    let mask = mask.unwrap_or(&[]);
                    for slot in 0..cap {
                        if mask[slot / 8] & (1 << (slot % 8)) != 0 && c.is_used(slot) {
                            let dst = &mut buf.bytes_mut()[slot * vb..(slot + 1) * vb];
                            self.store.read_vector(vslot, Loc { chunk: id, slot }, dst)?;
                        }
                    }
                } else {
                    let r = match reader.as_mut() {
                        None => reader.insert(self.store.vector_reader(vslot, id)?),
                        Some(r) => {
                            r.reopen(id)?;
                            r
                        }
                    };
                    if r.len() != vb * cap {
                        return Err(self.store.bad_chunk_len(vslot, id, r.len()));
                    }
                    r.read(buf.bytes_mut(), 0)?;
                    // Code it for the prescan and keep it for the next query if memory allows.
                    layout.build_codes(i, vslot, buf.bytes());
                    let full = std::mem::replace(&mut buf, AlignedBuf::zeroed(0));
                    buf = match layout.offer_cache(id, vslot, full) {
                        Some(back) => back,
                        None => AlignedBuf::zeroed(vb * cap),
                    };
                }
            } else if layout.chunks[i].codes[vslot].is_none()
                && let Some(v) = layout.chunks[i].vectors[vslot].as_ref().map(|b| b.bytes().to_vec())
            {
                layout.build_codes(i, vslot, &v);
            }
            let c = &layout.chunks[i];
            let vectors = match &c.vectors[vslot] {
                Some(cached) => cached.bytes(),
                None => buf.bytes(),
            };
            let view = ChunkView { id, validity: &c.validity, rowids: &c.rowids, vectors };
            scan_chunk(&view, mask, scorer, bounds, out);
        }
        let counter = if paged { &self.queries_paged } else { &self.queries_cached };
        counter.set(counter.get() + 1);
        Ok(())
    }

    /// Exact top-k through the int8 prescan (see `index::sq8`): bound every row from its code,
    /// then score in float32 only the rows that can still be among the k best.
    #[allow(clippy::too_many_arguments)]
    fn prescan(
        &self,
        layout: &mut Layout,
        vslot: usize,
        scorer: &Scorer,
        q: &[f32],
        k: usize,
        masks: Option<&BTreeMap<i64, Vec<u8>>>,
        bounds: &Bounds,
        out: &mut TopK,
    ) -> Result<()> {
        let qc = QueryCode::new(q, scorer.metric());
        let mut upper = UpperBounds::new(k);
        let mut cands: Vec<Candidate> = Vec::new();
        let kernels = scorer.kernels();
        let admit = |lo: f64, hi: f64| bounds.admits_interval(lo, hi);
        for (i, c) in layout.chunks.iter().enumerate() {
            let mask = match masks {
                Some(m) => match m.get(&c.id) {
                    Some(mask) => Some(mask.as_slice()),
                    None => continue,
                },
                None => None,
            };
            let Some(codes) = c.codes[vslot].as_ref() else { continue };
            prescan_chunk(codes, &c.validity, mask, i as u32, &qc, kernels, &admit, &mut upper, &mut cands);
        }
        let t = upper.threshold();
        cands.retain(|c| c.lower <= t);
        cands.sort_unstable_by_key(|c| (c.chunk_pos, c.slot));
        let vb = self.store.vector_bytes[vslot];
        let mut reader: Option<crate::ffi::stmt::Blob> = None;
        let mut one = AlignedBuf::zeroed(vb);
        for cand in cands {
            let c = &layout.chunks[cand.chunk_pos as usize];
            let slot = cand.slot as usize;
            let v: &[u8] = match &c.vectors[vslot] {
                Some(buf) => &buf.bytes()[slot * vb..(slot + 1) * vb],
                None => {
                    let r = match reader.as_mut() {
                        Some(r) if r.rowid() == c.id => r,
                        Some(r) => {
                            r.reopen(c.id)?;
                            r
                        }
                        None => reader.insert(self.store.vector_reader(vslot, c.id)?),
                    };
                    if r.len() != vb * self.store.capacity {
                        return Err(self.store.bad_chunk_len(vslot, c.id, r.len()));
                    }
                    r.read(one.bytes_mut(), slot * vb)?;
                    one.bytes()
                }
            };
            let Some(d) = scorer.score(v) else { continue };
            if d > out.bound() || !bounds.admits(d) {
                continue;
            }
            out.push(Hit { distance: d, rowid: c.rowids[slot], chunk: c.id, slot: cand.slot });
        }
        self.queries_cached.set(self.queries_cached.get() + 1);
        Ok(())
    }

    fn scan(&self, plan: &Plan, args: &[ValueRef<'_>]) -> Result<Rows> {
        let rows = match self.candidates(plan, args)? {
            Some(c) => c,
            None => {
                let sql = format!("SELECT rowid, chunk, slot FROM {} ORDER BY rowid", self.store.names.rows());
                let mut st = self.store.stmts.get(&sql)?;
                let mut out = Vec::new();
                while st.step()? {
                    let loc = self.store.decode_loc(st.column_i64(1), st.column_i64(2))?;
                    out.push((st.column_i64(0), loc.chunk, loc.slot as u32));
                }
                out
            }
        };
        Ok(Rows::Scan(rows))
    }

    /// Metadata (and text primary key) values of `rowid`, in column order of `t_rows`.
    fn load_meta(&self, rowid: i64) -> Result<Vec<OwnedValue>> {
        let mut cols: Vec<String> = Vec::new();
        if self.def.has_text_pk() {
            cols.push("pk".into());
        }
        for c in &self.def.columns {
            if let ColumnKind::Metadata { slot, .. } = c.kind {
                cols.push(meta_col(slot));
            }
        }
        if cols.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.store.names.rows());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        if !st.step()? {
            // Deleted after the query started (SQLite allows that): no values.
            return Ok(vec![OwnedValue::Null; cols.len()]);
        }
        Ok((0..cols.len()).map(|i| st.column_owned(i)).collect())
    }

    fn load_aux(&self, rowid: i64) -> Result<Vec<OwnedValue>> {
        let n = self.def.n_aux();
        let cols: Vec<String> = (0..n).map(aux_col).collect();
        let sql = format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.store.names.aux());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        if !st.step()? {
            return Ok(vec![OwnedValue::Null; n]);
        }
        Ok((0..n).map(|i| st.column_owned(i)).collect())
    }

    /// Bytes of vector column `vslot` at `loc`.
    /// The vector of `rowid`, found at `loc` when the query ran; None when the row was deleted
    /// since (or moved: then it is read where it is now).
    fn vector_of(&self, vslot: usize, rowid: i64, loc: Loc) -> Result<Option<Vec<u8>>> {
        let generation = self.store.generation()?;
        let n = self.store.vector_bytes[vslot];
        let loc = {
            let st = self.state.borrow();
            let current = st.layout.as_ref().filter(|l| l.generation == generation);
            match current.and_then(|l| l.chunk(loc.chunk).map(|c| (l, c))) {
                Some((l, c)) if c.is_used(loc.slot) && c.rowids.get(loc.slot) == Some(&rowid) => {
                    if let Some(b) = l.cached_vector(vslot, loc, n) {
                        return Ok(Some(b.to_vec()));
                    }
                    Some(loc)
                }
                _ => None,
            }
        };
        let loc = match loc {
            Some(loc) => loc,
            None => match self.store.location(rowid)? {
                Some(now) => now,
                None => return Ok(None),
            },
        };
        self.vector_at(vslot, loc).map(Some)
    }

    pub fn vector_at(&self, vslot: usize, loc: Loc) -> Result<Vec<u8>> {
        let n = self.store.vector_bytes[vslot];
        {
            let st = self.state.borrow();
            if let Some(l) = st.layout.as_ref()
                && let Some(b) = l.cached_vector(vslot, loc, n)
                && l.generation == self.store.generation()?
            {
                return Ok(b.to_vec());
            }
        }
        let mut out = vec![0u8; n];
        self.store.read_vector(vslot, loc, &mut out)?;
        Ok(out)
    }
}

impl VindexCursor {
    pub fn new(t: Rc<TableInner>) -> Self {
        VindexCursor { t, rows: Rows::Empty, pos: 0, k: None, meta_row: None, aux_row: None, writes_seen: 0 }
    }

    fn set_current_loc(&mut self, loc: Loc) {
        let pos = self.pos;
        let hit = match &mut self.rows {
            Rows::Sorted(h) => h.get_mut(pos),
            Rows::Growing(g) => g.hits.get_mut(pos),
            Rows::Scan(r) => {
                if let Some(x) = r.get_mut(pos) {
                    (x.1, x.2) = (loc.chunk, loc.slot as u32);
                }
                None
            }
            Rows::Empty => None,
        };
        if let Some(h) = hit {
            (h.chunk, h.slot) = (loc.chunk, loc.slot as u32);
        }
    }

    /// (rowid, loc, distance) of the current row.
    fn current(&mut self) -> Option<(i64, Loc, Option<f64>)> {
        match &mut self.rows {
            Rows::Empty => None,
            Rows::Sorted(h) => {
                h.get(self.pos).map(|h| (h.rowid, Loc { chunk: h.chunk, slot: h.slot as usize }, Some(h.distance)))
            }
            Rows::Growing(g) => {
                g.hits.get(self.pos).map(|h| (h.rowid, Loc { chunk: h.chunk, slot: h.slot as usize }, Some(h.distance)))
            }
            Rows::Scan(r) => {
                r.get(self.pos).map(|&(rowid, chunk, slot)| (rowid, Loc { chunk, slot: slot as usize }, None))
            }
        }
    }

    fn meta_value(&mut self, rowid: i64, index: usize) -> Result<OwnedValue> {
        if self.meta_row.as_ref().is_none_or(|(r, _)| *r != rowid) {
            self.meta_row = Some((rowid, self.t.load_meta(rowid)?));
        }
        Ok(self.meta_row.as_ref().and_then(|(_, v)| v.get(index).cloned()).unwrap_or(OwnedValue::Null))
    }

    fn aux_value(&mut self, rowid: i64, slot: usize) -> Result<OwnedValue> {
        if self.aux_row.as_ref().is_none_or(|(r, _)| *r != rowid) {
            self.aux_row = Some((rowid, self.t.load_aux(rowid)?));
        }
        Ok(self.aux_row.as_ref().and_then(|(_, v)| v.get(slot).cloned()).unwrap_or(OwnedValue::Null))
    }
}

impl VTabCursor for VindexCursor {
    type Table = super::VindexTable;

    fn filter(
        &mut self,
        tab: &super::VindexTable,
        idx_num: i32,
        _idx_str: Option<&str>,
        args: &[ValueRef<'_>],
    ) -> Result<()> {
        let t = &tab.inner;
        self.pos = 0;
        self.writes_seen = t.writes.get();
        self.meta_row = None;
        self.aux_row = None;
        self.k = None;
        let plan = t.plans.get(idx_num as usize).ok_or_else(|| Error::Sqlite {
            code: libsqlite3_sys::SQLITE_SCHEMA,
            msg: "vindex: stale query plan, prepare the statement again".into(),
        })?;
        self.rows = match plan.kind {
            Kind::Knn { col } => {
                let (rows, k) = t.knn(&plan, col, args)?;
                self.k = k;
                rows
            }
            Kind::Scan => t.scan(&plan, args)?,
        };
        Ok(())
    }

    fn next(&mut self, tab: &super::VindexTable) -> Result<()> {
        self.pos += 1;
        loop {
            if let Rows::Growing(g) = &mut self.rows
                && self.pos >= g.hits.len()
                && !g.exhausted
                && let Some(last) = g.hits.last().copied()
            {
                g.k = g.k.saturating_mul(GROWTH);
                tab.inner.grow(g)?;
                self.pos = g.position_after(&last);
            }
            if self.writes_seen == tab.inner.writes.get() || self.eof() {
                return Ok(());
            }
            // This connection wrote to the table while the query ran.
            self.meta_row = None;
            self.aux_row = None;
            let Some((rowid, _, _)) = self.current() else { return Ok(()) };
            match tab.inner.store.location(rowid)? {
                Some(now) => {
                    self.set_current_loc(now);
                    return Ok(());
                }
                None => self.pos += 1,
            }
        }
    }

    fn eof(&self) -> bool {
        match &self.rows {
            Rows::Empty => true,
            Rows::Sorted(h) => self.pos >= h.len(),
            Rows::Growing(g) => self.pos >= g.hits.len(),
            Rows::Scan(r) => self.pos >= r.len(),
        }
    }

    fn column(&mut self, tab: &super::VindexTable, ctx: &mut Context, i: i32) -> Result<()> {
        let t = tab.inner.clone();
        let Some((rowid, loc, distance)) = self.current() else { return Ok(()) };
        // In an UPDATE, columns that are not assigned come back unchanged without being read.
        if ctx.nochange() {
            return Ok(());
        }
        let i = i as usize;
        let def = &t.def;
        if i == def.distance_col() {
            match distance {
                Some(d) => ctx.set_f64(d),
                None => ctx.set_null(),
            }
            return Ok(());
        }
        if i == def.k_col() {
            match self.k {
                Some(k) => ctx.set_i64(k),
                None => ctx.set_null(),
            }
            return Ok(());
        }
        let Some(col) = def.columns.get(i) else {
            ctx.set_null();
            return Ok(());
        };
        match col.kind {
            ColumnKind::Vector { ty, slot, .. } => match t.vector_of(slot, rowid, loc)? {
                Some(bytes) => {
                    ctx.set_blob(&bytes);
                    ctx.set_subtype(ty.subtype());
                }
                None => ctx.set_null(),
            },
            ColumnKind::IntegerPk => ctx.set_i64(rowid),
            ColumnKind::TextPk => {
                let v = self.meta_value(rowid, 0)?;
                ctx.set_value(v.as_ref());
            }
            ColumnKind::Metadata { slot, .. } => {
                let idx = slot + usize::from(def.has_text_pk());
                let v = self.meta_value(rowid, idx)?;
                ctx.set_value(v.as_ref());
            }
            ColumnKind::Aux { slot, .. } => {
                let v = self.aux_value(rowid, slot)?;
                ctx.set_value(v.as_ref());
            }
        }
        Ok(())
    }

    fn rowid(&mut self) -> Result<i64> {
        self.current().map(|(r, _, _)| r).ok_or_else(|| Error::invalid("vindex: no current row"))
    }
}
