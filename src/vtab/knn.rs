//! Running a plan: the pushed-down filters (as SQL over the indexed shadow tables), the KNN
//! search through the column's index, scans, and reading a result row's columns.

use super::TableInner;
use super::plan::{Arg, Op, Plan, Target};
use crate::error::{Error, Result};
use crate::ffi::value::ValueRef;
use crate::index::scan::{Bounds, Hit, Scorer, TopK};
use crate::index::{ChunkSource, FilterStrategy, Masks, SearchRequest};
use crate::store::def::{ColumnKind, quote_ident};
use crate::store::{Loc, aux_col, meta_col};
use crate::value::{Arg as SqlArg, OwnedValue, SqlValue};
use crate::vector;
use crate::vector::distance::Metric;
use std::collections::HashSet;
use std::sync::Arc;

/// An `IN (...)` list longer than this is not written into the filter's SQL (SQLite limits
/// the number of parameters): its rows are found in batches of this many values.
const IN_BATCH: usize = 500;

/// The largest `ef_search` a query may ask for.
const MAX_EF_SEARCH: i64 = 100_000;

/// Rows passing the pushed-down filters: (rowid, chunk, slot).
pub type Candidates = Vec<(i64, i64, u32)>;

/// Tables with fewer rows always search filter-first (the filter costs next to nothing).
const SMALL_TABLE: usize = 4096;
/// Rowids sampled to estimate how many rows pass a filter.
const SAMPLE: usize = 256;
/// How a KNN query with pushed-down filters runs (the column's index chooses, from the
/// estimated share of rows that pass).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterPlan {
    /// Find the passing rows (through the metadata indexes), then search only them exactly.
    Exact,
    /// Find the passing rows, then search the index admitting only them.
    Inside,
    /// Search all rows and keep those that pass, widening the search until k do. The estimated
    /// fraction of passing rows sizes the first search.
    After(f64),
}

impl FilterPlan {
    /// Whether the passing rows are found first (as bitmaps over the chunks).
    pub fn needs_masks(self) -> bool {
        !matches!(self, FilterPlan::After(_))
    }
}

/// How one search runs, besides what it looks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchOpts {
    /// Search exactly even with an approximate index.
    pub exact: bool,
    /// `AND ef_search = N`.
    pub ef_search: Option<usize>,
    /// `AND nprobe = N`.
    pub nprobe: Option<usize>,
}

/// The pushed-down filters of one query, ready to run (and to re-check single rows).
pub struct Filter {
    from: String,
    conds: Vec<String>,
    binds: Vec<OwnedValue>,
    /// Rowids allowed by each long IN list.
    sets: Vec<HashSet<i64>>,
    /// When every filter is on a partition key: the same filters over the partition key
    /// columns of `t_chunks` (and their values), which find the passing rows' chunks — every
    /// row of those chunks passes — without reading a row.
    chunk_cond: Option<(String, Vec<OwnedValue>)>,
}

impl Filter {
    /// The filter and its values as text, to remember its estimated share of rows by.
    fn key(&self) -> String {
        format!(
            "{} WHERE {} {:?} {:?}",
            self.from,
            self.where_clause(),
            self.binds,
            self.sets.iter().map(|s| s.len()).collect::<Vec<_>>()
        )
    }

    fn where_clause(&self) -> String {
        if self.conds.is_empty() { "1".to_string() } else { self.conds.join(" AND ") }
    }
}

/// Arguments of a KNN query, decoded.
pub struct KnnArgs {
    pub query: vector::Vector<'static>,
    pub k: Option<i64>,
    pub ef_search: Option<usize>,
    pub nprobe: Option<usize>,
    pub limit: Option<i64>,
    pub offset: i64,
    pub bounds: Bounds,
}

fn arg_of<'a>(v: &ValueRef<'a>) -> SqlArg<'a> {
    SqlArg::with_subtype(v.get(), v.subtype())
}

pub fn integer_arg(what: &str, v: SqlValue<'_>) -> Result<i64> {
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

/// A KNN search whose k grows when SQLite keeps asking for rows (no k, no LIMIT).
pub struct Growing {
    pub col: usize,
    pub scorer: Scorer,
    pub masks: Option<Arc<Masks>>,
    pub bounds: Bounds,
    pub opts: SearchOpts,
    pub k: usize,
    pub hits: Vec<Hit>,
    /// Fewer than k rows came back: there are no more.
    pub exhausted: bool,
}

impl Growing {
    pub fn request(&self) -> SearchRequest<'_> {
        SearchRequest {
            col: self.col,
            scorer: &self.scorer,
            masks: self.masks.as_deref(),
            bounds: &self.bounds,
            exact: self.opts.exact,
            ef_search: self.opts.ef_search,
            nprobe: self.opts.nprobe,
            share: None,
        }
    }

    /// After finding the best `k` again, continue right after `last` (by distance, then
    /// rowid), so rows deleted meanwhile shift nothing.
    pub fn position_after(&self, last: &Hit) -> usize {
        self.hits.partition_point(|h| h.cmp_key(last) != std::cmp::Ordering::Greater)
    }
}

impl TableInner {
    /// The shadow-table filters of `plan`; None when the plan has none.
    pub fn filter(&self, plan: &Plan, args: &[ValueRef<'_>]) -> Result<Option<Filter>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<OwnedValue> = Vec::new();
        let mut sets = Vec::new();
        let mut join_aux = false;
        let mut any = false;
        let mut long_ins: Vec<(String, Vec<OwnedValue>)> = Vec::new();
        // The same conditions over t_chunks, while every filter is on a partition key.
        let mut part: Option<(Vec<String>, Vec<OwnedValue>)> = Some((Vec::new(), Vec::new()));
        for (i, a) in plan.filters() {
            let Arg::Filter { target, op, collation, .. } = a else { continue };
            any = true;
            let pcol = match target {
                Target::Meta(slot) => self.def.partition_of_slot(*slot).map(crate::store::part_col),
                _ => None,
            };
            if pcol.is_none() {
                part = None;
            }
            let col = match target {
                Target::Rowid => "r.rowid".to_string(),
                Target::Meta(slot) => format!("r.{}", meta_col(*slot)),
                Target::Pk => "r.pk".to_string(),
                Target::Aux(slot) => {
                    join_aux = true;
                    format!("a.{}", aux_col(*slot))
                }
            };
            let coll = collation.as_ref().map(|c| format!(" COLLATE {}", quote_ident(c))).unwrap_or_default();
            let v = args.get(i).ok_or_else(|| Error::invalid("missing filter argument"))?;
            match op {
                Op::IsNull | Op::IsNotNull => {
                    conds.push(format!("{col} {}", op.sql()));
                    if let (Some((pc, _)), Some(c)) = (part.as_mut(), &pcol) {
                        pc.push(format!("{c} {}", op.sql()));
                    }
                }
                Op::In => {
                    let vals = v.in_values()?;
                    if vals.is_empty() {
                        conds.push("0".into());
                        if let Some((pc, _)) = part.as_mut() {
                            pc.push("0".into());
                        }
                    } else if vals.len() > IN_BATCH {
                        long_ins.push((format!("{col}{coll}"), vals));
                        part = None;
                    } else {
                        if let (Some((pc, pb)), Some(c)) = (part.as_mut(), &pcol) {
                            let ph: Vec<String> = vals
                                .iter()
                                .map(|x| {
                                    pb.push(x.clone());
                                    format!("?{}", pb.len())
                                })
                                .collect();
                            pc.push(format!("{c}{coll} IN ({})", ph.join(",")));
                        }
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
                    let x = v.get().to_owned_value();
                    if let (Some((pc, pb)), Some(c)) = (part.as_mut(), &pcol) {
                        pb.push(x.clone());
                        pc.push(format!("{c}{coll} {} ?{}", op.sql(), pb.len()));
                    }
                    binds.push(x);
                    conds.push(format!("{col}{coll} {} ?{}", op.sql(), binds.len()));
                }
            }
        }
        if !any {
            return Ok(None);
        }
        let from = if join_aux {
            format!("{} AS r JOIN {} AS a ON a.rowid = r.rowid", self.store.names.rows(), self.store.names.aux())
        } else {
            format!("{} AS r", self.store.names.rows())
        };
        for (expr, vals) in long_ins {
            let mut set = HashSet::new();
            for batch in vals.chunks(IN_BATCH) {
                let ph: Vec<String> = (1..=batch.len()).map(|i| format!("?{i}")).collect();
                let sql = format!("SELECT r.rowid FROM {from} WHERE {expr} IN ({})", ph.join(","));
                let mut st = self.store.stmts.get(&sql)?;
                for (i, b) in batch.iter().enumerate() {
                    st.bind_owned(i + 1, b)?;
                }
                while st.step()? {
                    set.insert(st.column_i64(0));
                }
            }
            sets.push(set);
        }
        let chunk_cond = part.map(|(pc, pb)| (pc.join(" AND "), pb));
        Ok(Some(Filter { from, conds, binds, sets, chunk_cond }))
    }

    /// How a KNN query with filter `f` runs on vector column `col`, and the slots it may
    /// search (None: all, the filter is checked on the results). A filter on partition keys
    /// alone finds whole chunks from `t_chunks` (no row is read); others run as SQL over the
    /// indexed `t_rows`.
    pub fn filter_plan_and_masks(&self, col: usize, f: &Filter) -> Result<(FilterPlan, Option<Arc<Masks>>)> {
        if let Some((cond, binds)) = &f.chunk_cond {
            let ids = self.store.chunks_where(cond, binds)?;
            let full = vec![0xffu8; self.store.capacity / 8];
            let masks: Masks = ids.iter().map(|&id| (id, full.clone())).collect();
            let exact = self.indexes.borrow()[col].exact_within_partitions();
            if exact {
                return Ok((FilterPlan::Exact, Some(Arc::new(masks))));
            }
            let only: HashSet<i64> = ids.iter().copied().collect();
            let (inside, all) = self.with_view(|v| {
                let (mut inside, mut all) = (0usize, 0usize);
                v.scan(0, crate::index::Want::Maps, None, &mut |c| {
                    all += c.maps.used;
                    if only.contains(&c.maps.id) {
                        inside += c.maps.used;
                    }
                    Ok(())
                })?;
                Ok((inside, all))
            })?;
            let share = if all == 0 { 0.0 } else { inside as f64 / all as f64 };
            return Ok(match self.indexes.borrow()[col].filter_strategy(share, all) {
                FilterStrategy::Exact => (FilterPlan::Exact, Some(Arc::new(masks))),
                FilterStrategy::Inside => (FilterPlan::Inside, Some(Arc::new(masks))),
                FilterStrategy::After => (FilterPlan::After(share), None),
            });
        }
        // A filter planned before on this version: its rows, once found, are kept, so a broad
        // filter used again searches only them instead of checking results afterwards.
        let key = f.key();
        let cacheable = f.sets.is_empty();
        let (uses, kept) = if cacheable { self.with_view(|v| Ok(v.filter_use(&key)))? } else { (0, None) };
        let plan = self.filter_plan(col, f)?;
        // Filters that pass most rows, and broad filters on indexes that pay a lookup per
        // candidate for masks (graphs, lists), are cheapest checked on a slightly wider search
        // (against the kept rows, when there are: no SQL per query).
        let mostly = matches!(plan, FilterPlan::After(s) if s >= 0.75)
            || (matches!(plan, FilterPlan::After(_)) && !self.indexes.borrow()[col].searches_known_rows());
        if let Some(m) = kept {
            let plan = if let FilterPlan::After(_) = plan
                && !mostly
            {
                FilterPlan::Inside
            } else {
                plan
            };
            return Ok((plan, Some(m)));
        }
        let (plan, keep) = match plan {
            FilterPlan::After(_) if cacheable && uses >= 1 => (if mostly { plan } else { FilterPlan::Inside }, true),
            p => (p, cacheable && p.needs_masks()),
        };
        if !plan.needs_masks() && !keep {
            return Ok((plan, None));
        }
        let masks = Arc::new(self.masks(f)?);
        if keep {
            self.with_view(|v| {
                v.remember_masks(&key, masks.clone());
                Ok(())
            })?;
        }
        Ok((plan, Some(masks)))
    }

    /// The rows passing `f`, in rowid order when `ordered` (scans), in index order otherwise
    /// (searches, which need no order: the metadata indexes then answer alone).
    pub fn candidates(&self, f: &Filter, ordered: bool) -> Result<Candidates> {
        let order = if ordered { " ORDER BY r.rowid" } else { "" };
        let sql = format!("SELECT r.rowid, r.chunk, r.slot FROM {} WHERE {}{order}", f.from, f.where_clause());
        let mut out = Vec::new();
        let mut run = |st: &mut crate::ffi::stmt::Stmt| -> Result<()> {
            for (i, b) in f.binds.iter().enumerate() {
                st.bind_owned(i + 1, b)?;
            }
            while st.step()? {
                let rowid = st.column_i64(0);
                if f.sets.iter().all(|s| s.contains(&rowid)) {
                    let loc = self.store.decode_loc(st.column_i64(1), st.column_i64(2))?;
                    out.push((rowid, loc.chunk, loc.slot as u32));
                }
            }
            Ok(())
        };
        run(&mut *self.store.stmts.get(&sql)?)?;
        Ok(out)
    }

    /// Which of `rowids` pass `f`.
    pub fn passing(&self, f: &Filter, rowids: &[i64]) -> Result<HashSet<i64>> {
        let mut out = HashSet::new();
        let n = f.binds.len();
        for batch in rowids.chunks(IN_BATCH) {
            let ph: Vec<String> = (1..=batch.len()).map(|i| format!("?{}", n + i)).collect();
            // NOT INDEXED: look the rowids up, never scan a metadata index for the filter
            // (SQLite would, for an IN list on an indexed column).
            let from = f.from.replacen(" AS r", " AS r NOT INDEXED", 1);
            let sql =
                format!("SELECT r.rowid FROM {from} WHERE r.rowid IN ({}) AND ({})", ph.join(","), f.where_clause());
            let mut run = |st: &mut crate::ffi::stmt::Stmt| -> Result<()> {
                for (i, b) in f.binds.iter().enumerate() {
                    st.bind_owned(i + 1, b)?;
                }
                for (i, r) in batch.iter().enumerate() {
                    st.bind_i64(n + i + 1, *r)?;
                }
                while st.step()? {
                    let r = st.column_i64(0);
                    if f.sets.iter().all(|s| s.contains(&r)) {
                        out.insert(r);
                    }
                }
                Ok(())
            };
            run(&mut *self.store.stmts.get(&sql)?)?;
        }
        Ok(out)
    }

    /// Choose between searching the passing rows and checking the filter on the results, from
    /// the share of a sample of rows (spread over the chunks) that passes.
    pub fn filter_plan(&self, col: usize, f: &Filter) -> Result<FilterPlan> {
        let key = f.key();
        let (sample, known) = self.with_view(|v| Ok((v.sample(SAMPLE, SMALL_TABLE)?, v.known_share(&key))))?;
        if sample.is_empty() {
            return Ok(FilterPlan::Exact);
        }
        let share = match known {
            Some(s) => s,
            None => {
                let s = self.passing(f, &sample)?.len() as f64 / sample.len() as f64;
                self.with_view(|v| {
                    v.remember_share(key, s);
                    Ok(())
                })?;
                s
            }
        };
        let rows = self.with_view(|v| Ok(v.ids().len() * self.store.capacity))?;
        Ok(match self.indexes.borrow()[col].filter_strategy(share, rows) {
            FilterStrategy::Exact => FilterPlan::Exact,
            FilterStrategy::Inside => FilterPlan::Inside,
            FilterStrategy::After => FilterPlan::After(share),
        })
    }

    /// The best `k` rows that pass `f`, by searching without it and checking it on the results:
    /// the search widens until `k` pass or every row has been seen.
    /// When `req.masks` holds the rows `f` passes (kept from an earlier use on this version),
    /// the results are checked against them instead of by SQL.
    pub fn search_then_filter(&self, req: &SearchRequest<'_>, f: &Filter, k: usize, share: f64) -> Result<Vec<Hit>> {
        let kept_rows = req.masks;
        let req = SearchRequest { masks: None, share: Some(share), ..*req };
        // Rows to search so that k of them pass with near certainty (three standard deviations
        // of a binomial draw); wider when too few did.
        let s = share.clamp(0.01, 1.0);
        let n = k as f64 / s;
        let mut width = (n + 3.0 * (n * (1.0 - s) / s).sqrt()).ceil() as usize + 4;
        loop {
            let hits = self.search(&req, width)?;
            let pass = match kept_rows {
                Some(m) => hits
                    .iter()
                    .filter(|h| {
                        let s = h.slot as usize;
                        m.get(&h.chunk).is_some_and(|b| b.get(s / 8).is_some_and(|x| x & (1 << (s % 8)) != 0))
                    })
                    .map(|h| h.rowid)
                    .collect(),
                None => {
                    let rowids: Vec<i64> = hits.iter().map(|h| h.rowid).collect();
                    self.passing(f, &rowids)?
                }
            };
            let kept: Vec<Hit> = hits.iter().filter(|h| pass.contains(&h.rowid)).take(k).copied().collect();
            if kept.len() >= k || hits.len() < width {
                return Ok(kept);
            }
            width = width.saturating_mul(4);
        }
    }

    /// Whether row `rowid` still passes `f` (for cursors that outlive a write or a rollback).
    pub fn passes(&self, f: &Filter, rowid: i64) -> Result<bool> {
        if !f.sets.iter().all(|s| s.contains(&rowid)) {
            return Ok(false);
        }
        let n = f.binds.len() + 1;
        let sql = format!("SELECT 1 FROM {} WHERE r.rowid = ?{n} AND ({})", f.from, f.where_clause());
        let mut st = self.db.prepare(&sql, false)?;
        for (i, b) in f.binds.iter().enumerate() {
            st.bind_owned(i + 1, b)?;
        }
        st.bind_i64(n, rowid)?;
        st.step()
    }

    /// Decode the arguments of a KNN plan on vector column `col`.
    pub fn knn_args(&self, plan: &Plan, col: usize, args: &[ValueRef<'_>]) -> Result<KnnArgs> {
        let column = &self.def.columns[col];
        let ColumnKind::Vector { ty, dims, metric, .. } = column.kind else {
            return Err(Error::invalid("MATCH on a column that is not a vector"));
        };
        let mut query = None;
        let mut out = KnnArgs {
            query: vector::Vector::Bit(std::borrow::Cow::Owned(Vec::new())),
            k: None,
            ef_search: None,
            nprobe: None,
            limit: None,
            offset: 0,
            bounds: Bounds::default(),
        };
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
                    out.k = Some(n);
                }
                Arg::EfSearch => {
                    let n = integer_arg("ef_search", v.get())?;
                    if !(1..=MAX_EF_SEARCH).contains(&n) {
                        return Err(Error::invalid(format!("ef_search must be from 1 to {MAX_EF_SEARCH}, not {n}")));
                    }
                    out.ef_search = Some(n as usize);
                }
                Arg::Nprobe => {
                    let max = crate::index::ivf::params::MAX_NPROBE as i64;
                    let n = integer_arg("nprobe", v.get())?;
                    if !(1..=max).contains(&n) {
                        return Err(Error::invalid(format!("nprobe must be from 1 to {max}, not {n}")));
                    }
                    out.nprobe = Some(n as usize);
                }
                Arg::Limit => out.limit = Some(integer_arg("LIMIT", v.get())?.max(0)),
                Arg::Offset => out.offset = integer_arg("OFFSET", v.get())?.max(0),
                Arg::Distance(op) => {
                    let x = number_arg("the distance bound", v.get())?;
                    match op {
                        Op::Lt => out.bounds.add_upper(x, false),
                        Op::Le => out.bounds.add_upper(x, true),
                        Op::Gt => out.bounds.add_lower(x, false),
                        Op::Ge => out.bounds.add_lower(x, true),
                        _ => {}
                    }
                }
                Arg::Filter { .. } => {}
            }
        }
        out.query = query.ok_or_else(|| Error::invalid("KNN query without a query vector"))?;
        Ok(out)
    }

    /// The best `k` rows for `req` (its `col` is the position among vector columns).
    pub fn search(&self, req: &SearchRequest<'_>, k: usize) -> Result<Vec<Hit>> {
        let mut out = TopK::new(k);
        let stats = self.with_view(|view| self.indexes.borrow()[req.col].search(view, req, &mut out))?;
        let c = if stats.from_memory { &self.counters.from_memory } else { &self.counters.from_pages };
        c.set(c.get() + 1);
        Ok(out.into_sorted())
    }

    /// Find the best `g.k` rows (that pass `post`, when the filter is checked on results).
    pub fn grow(&self, g: &mut Growing, post: Option<(&Filter, f64)>) -> Result<()> {
        g.hits = match post {
            None => self.search(&g.request(), g.k)?,
            Some((f, share)) => self.search_then_filter(&g.request(), f, g.k, share)?,
        };
        g.exhausted = g.hits.len() < g.k;
        Ok(())
    }

    /// Where the rows passing `f` are, as bitmaps over each chunk's slots (for searching only
    /// them; the metadata indexes hold chunk and slot, so SQLite answers from them alone).
    pub fn masks(&self, f: &Filter) -> Result<Masks> {
        let sql = format!("SELECT r.rowid, r.chunk, r.slot FROM {} WHERE {}", f.from, f.where_clause());
        let cap = self.store.capacity;
        let mut m = Masks::new();
        let mut run = |st: &mut crate::ffi::stmt::Stmt| -> Result<()> {
            for (i, b) in f.binds.iter().enumerate() {
                st.bind_owned(i + 1, b)?;
            }
            while st.step()? {
                if !f.sets.is_empty() && !f.sets.iter().all(|s| s.contains(&st.column_i64(0))) {
                    continue;
                }
                let loc = self.store.decode_loc(st.column_i64(1), st.column_i64(2))?;
                let e = m.entry(loc.chunk).or_insert_with(|| vec![0u8; cap / 8]);
                e[loc.slot / 8] |= 1 << (loc.slot % 8);
            }
            Ok(())
        };
        run(&mut *self.store.stmts.get(&sql)?)?;
        Ok(m)
    }

    /// Every row (passing the filters), in rowid order.
    pub fn scan_rows(&self, filter: Option<&Filter>) -> Result<Candidates> {
        match filter {
            Some(f) => self.candidates(f, true),
            None => {
                let sql = format!("SELECT rowid, chunk, slot FROM {} ORDER BY rowid", self.store.names.rows());
                let mut st = self.store.stmts.get(&sql)?;
                let mut out = Vec::new();
                while st.step()? {
                    let loc = self.store.decode_loc(st.column_i64(1), st.column_i64(2))?;
                    out.push((st.column_i64(0), loc.chunk, loc.slot as u32));
                }
                Ok(out)
            }
        }
    }

    /// Metadata (and text primary key) values of `rowid`, in column order of `t_rows`; None
    /// when the row is gone.
    pub fn load_meta(&self, rowid: i64) -> Result<Option<Vec<OwnedValue>>> {
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
            return Ok(Some(Vec::new()));
        }
        let sql = format!("SELECT {} FROM {} WHERE rowid = ?1", cols.join(", "), self.store.names.rows());
        let mut st = self.store.stmts.get(&sql)?;
        st.bind_i64(1, rowid)?;
        if !st.step()? {
            return Ok(None);
        }
        Ok(Some((0..cols.len()).map(|i| st.column_owned(i)).collect()))
    }

    pub fn load_aux(&self, rowid: i64) -> Result<Option<Vec<OwnedValue>>> {
        self.store.aux_values(rowid)
    }

    /// The stored vector of column `col` at `loc`.
    pub fn vector_at(&self, col: usize, loc: Loc) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.store.cols[col].bytes];
        self.store.read_vector(col, loc, &mut out)?;
        Ok(out)
    }
}
