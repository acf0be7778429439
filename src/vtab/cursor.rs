//! The cursor's state machine: which rows a query yields, in which order, and their columns.
//! Running the plan is `knn`'s; reading the shadow tables is the store's.
//!
//! A cursor may outlive writes of its own connection (UPDATE ... WHERE ... MATCH, or other
//! statements between steps) and ROLLBACK TO. Like a cursor over an ordinary table, it then
//! yields the rows as they are now: a row deleted or rolled back is skipped, a moved row is read
//! where it is, a row that no longer passes the pushed-down filters is skipped, and no rowid is
//! yielded twice.

use super::TableInner;
use super::knn::{Filter, FilterPlan, Growing, SearchOpts};
use super::plan::Kind;
use crate::error::{Error, Result};
use crate::ffi::value::{Context, ValueRef};
use crate::ffi::vtab::VTabCursor;
use crate::index::SearchRequest;
use crate::index::scan::{Hit, Scorer};
use crate::store::Loc;
use crate::store::def::ColumnKind;
use crate::value::OwnedValue;
use std::collections::HashSet;
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

/// First batch of a KNN query without k or LIMIT (SQLite 3.40's `ORDER BY distance LIMIT n`),
/// and the factor it grows by.
const FIRST_BATCH: usize = 64;
const GROWTH: usize = 8;

pub struct VindexCursor {
    t: Rc<TableInner>,
    rows: Rows,
    pos: usize,
    k: Option<i64>,
    /// The query's `ef_search`, shown in its hidden column.
    ef_search: Option<usize>,
    /// The query's `nprobe`, shown in its hidden column.
    nprobe: Option<usize>,
    meta_row: Option<(i64, Option<Vec<OwnedValue>>)>,
    aux_row: Option<(i64, Option<Vec<OwnedValue>>)>,
    /// The connection's (writes, rollbacks) when the query ran: when they moved, rows are
    /// re-checked as the cursor reaches them.
    seen: (u64, u64),
    filter: Option<Filter>,
    /// The filter is checked on search results (with the estimated share of passing rows).
    post_filter: Option<f64>,
    /// Rowids yielded so far (lazy KNN only, where a changed row could come round again).
    yielded: HashSet<i64>,
}

impl VindexCursor {
    pub fn new(t: Rc<TableInner>) -> Self {
        VindexCursor {
            t,
            rows: Rows::Empty,
            pos: 0,
            k: None,
            ef_search: None,
            nprobe: None,
            meta_row: None,
            aux_row: None,
            seen: (0, 0),
            filter: None,
            post_filter: None,
            yielded: HashSet::new(),
        }
    }

    fn changed(&self) -> bool {
        self.seen != (self.t.writes.get(), self.t.rollbacks.get())
    }

    fn set_current_loc(&mut self, loc: Loc) {
        let pos = self.pos;
        match &mut self.rows {
            Rows::Sorted(h) => {
                if let Some(h) = h.get_mut(pos) {
                    (h.chunk, h.slot) = (loc.chunk, loc.slot as u32);
                }
            }
            Rows::Growing(g) => {
                if let Some(h) = g.hits.get_mut(pos) {
                    (h.chunk, h.slot) = (loc.chunk, loc.slot as u32);
                }
            }
            Rows::Scan(r) => {
                if let Some(x) = r.get_mut(pos) {
                    (x.1, x.2) = (loc.chunk, loc.slot as u32);
                }
            }
            Rows::Empty => {}
        }
    }

    /// (rowid, loc, distance) of the current row.
    fn current(&self) -> Option<(i64, Loc, Option<f64>)> {
        let hit = |h: &Hit| (h.rowid, Loc { chunk: h.chunk, slot: h.slot as usize }, Some(h.distance));
        match &self.rows {
            Rows::Empty => None,
            Rows::Sorted(h) => h.get(self.pos).map(hit),
            Rows::Growing(g) => g.hits.get(self.pos).map(hit),
            Rows::Scan(r) => {
                r.get(self.pos).map(|&(rowid, chunk, slot)| (rowid, Loc { chunk, slot: slot as usize }, None))
            }
        }
    }

    fn meta_value(&mut self, rowid: i64, index: usize) -> Result<OwnedValue> {
        if self.meta_row.as_ref().is_none_or(|(r, _)| *r != rowid) {
            self.meta_row = Some((rowid, self.t.load_meta(rowid)?));
        }
        Ok(self.meta_row.as_ref().and_then(|(_, v)| v.as_ref()?.get(index).cloned()).unwrap_or(OwnedValue::Null))
    }

    fn aux_value(&mut self, rowid: i64, slot: usize) -> Result<OwnedValue> {
        if self.aux_row.as_ref().is_none_or(|(r, _)| *r != rowid) {
            self.aux_row = Some((rowid, self.t.load_aux(rowid)?));
        }
        Ok(self.aux_row.as_ref().and_then(|(_, v)| v.as_ref()?.get(slot).cloned()).unwrap_or(OwnedValue::Null))
    }

    /// Whether the current row may be yielded; after changes, re-check it (and follow a move).
    fn admit_current(&mut self) -> Result<bool> {
        let Some((rowid, _, _)) = self.current() else { return Ok(true) };
        if matches!(self.rows, Rows::Growing(_)) && self.yielded.contains(&rowid) {
            return Ok(false);
        }
        if !self.changed() {
            return Ok(true);
        }
        self.meta_row = None;
        self.aux_row = None;
        let Some(now) = self.t.store.location(rowid)? else { return Ok(false) };
        if let Some(f) = &self.filter
            && !self.t.passes(f, rowid)?
        {
            return Ok(false);
        }
        self.set_current_loc(now);
        Ok(true)
    }

    /// Move to the next admissible row at or after `pos`, growing a lazy search as needed.
    fn settle(&mut self) -> Result<()> {
        loop {
            if let Rows::Growing(g) = &mut self.rows
                && self.pos >= g.hits.len()
                && !g.exhausted
                && let Some(last) = g.hits.last().copied()
            {
                g.k = g.k.saturating_mul(GROWTH);
                let post = self.post_filter.and_then(|share| self.filter.as_ref().map(|f| (f, share)));
                self.t.grow(g, post)?;
                self.pos = g.position_after(&last);
                continue;
            }
            if self.eof() || self.admit_current()? {
                if let (Rows::Growing(_), Some((rowid, _, _))) = (&self.rows, self.current()) {
                    self.yielded.insert(rowid);
                }
                return Ok(());
            }
            self.pos += 1;
        }
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
        t.usable()?;
        self.pos = 0;
        self.seen = (t.writes.get(), t.rollbacks.get());
        self.meta_row = None;
        self.aux_row = None;
        self.k = None;
        self.ef_search = None;
        self.nprobe = None;
        self.yielded.clear();
        self.post_filter = None;
        self.rows = Rows::Empty;
        let plan = t.plans.get(idx_num as usize).ok_or_else(|| Error::Sqlite {
            code: libsqlite3_sys::SQLITE_SCHEMA,
            msg: "vindex: stale query plan, prepare the statement again".into(),
        })?;
        self.filter = t.filter(&plan, args)?;
        self.rows = match plan.kind {
            Kind::Knn { col } => {
                let a = t.knn_args(&plan, col, args)?;
                self.k = a.k;
                let want = a.k.or(a.limit.map(|l| l.saturating_add(a.offset)));
                self.ef_search = a.ef_search;
                self.nprobe = a.nprobe;
                let vcol = match t.def.columns[col].kind {
                    ColumnKind::Vector { slot, .. } => slot,
                    _ => return Err(Error::invalid("MATCH on a column that is not a vector")),
                };
                let (plan, masks) = match &self.filter {
                    Some(f) if want != Some(0) => t.filter_plan_and_masks(vcol, f)?,
                    _ => (FilterPlan::Inside, None),
                };
                if let FilterPlan::After(share) = plan {
                    self.post_filter = Some(share);
                }
                let opts = SearchOpts { exact: plan == FilterPlan::Exact, ef_search: a.ef_search, nprobe: a.nprobe };
                if want == Some(0) || masks.as_ref().is_some_and(|m| m.is_empty()) {
                    Rows::Empty
                } else {
                    let metric = match t.def.columns[col].kind {
                        ColumnKind::Vector { metric, .. } => metric,
                        _ => unreachable!("checked above"),
                    };
                    let scorer = Scorer::new(a.query, metric);
                    let post = self.post_filter.and_then(|share| self.filter.as_ref().map(|f| (f, share)));
                    match want {
                        Some(n) => {
                            let n = usize::try_from(n).unwrap_or(usize::MAX);
                            let req = SearchRequest {
                                col: vcol,
                                scorer: &scorer,
                                masks: masks.as_deref(),
                                bounds: &a.bounds,
                                exact: opts.exact,
                                ef_search: opts.ef_search,
                                nprobe: opts.nprobe,
                                share: None,
                            };
                            Rows::Sorted(match post {
                                Some((f, share)) => t.search_then_filter(&req, f, n, share)?,
                                None => t.search(&req, n)?,
                            })
                        }
                        None => {
                            let mut g = Growing {
                                col: vcol,
                                scorer,
                                masks,
                                bounds: a.bounds,
                                opts,
                                k: FIRST_BATCH,
                                hits: Vec::new(),
                                exhausted: false,
                            };
                            t.grow(&mut g, post)?;
                            Rows::Growing(Box::new(g))
                        }
                    }
                }
            }
            Kind::Scan => Rows::Scan(t.scan_rows(self.filter.as_ref())?),
        };
        self.settle()
    }

    fn next(&mut self, _tab: &super::VindexTable) -> Result<()> {
        self.pos += 1;
        self.settle()
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
        if i == def.ef_search_col() || i == def.nprobe_col() {
            match if i == def.ef_search_col() { self.ef_search } else { self.nprobe } {
                Some(e) => ctx.set_i64(e as i64),
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
            ColumnKind::Vector { ty, slot, .. } => {
                // The row may have moved or gone since the cursor reached it.
                let at = if self.changed() { t.store.location(rowid)? } else { Some(loc) };
                match at {
                    Some(l) => {
                        ctx.set_blob(&t.vector_at(slot, l)?);
                        ctx.set_subtype(ty.subtype());
                    }
                    None => ctx.set_null(),
                }
            }
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
