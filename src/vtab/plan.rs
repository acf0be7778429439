//! xBestIndex: turn the WHERE terms SQLite offers into a plan — KNN, point lookup or scan —
//! with filters pushed down, and describe it for EXPLAIN QUERY PLAN.

use crate::error::{Error, Result};
use crate::ffi::api::{INDEX_CONSTRAINT_LIMIT, INDEX_CONSTRAINT_OFFSET};
use crate::ffi::vtab::IndexInfo;
use crate::store::def::{ColumnKind, TableDef};
use crate::value::OwnedValue;
use libsqlite3_sys as ffi;
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `IN (...)`, all values at once (sqlite3_vtab_in).
    In,
    IsNull,
    IsNotNull,
    Is,
    IsNot,
    Like,
    Glob,
}

impl Op {
    fn from_sqlite(op: u8) -> Option<Op> {
        Some(match op as i32 {
            ffi::SQLITE_INDEX_CONSTRAINT_EQ => Op::Eq,
            ffi::SQLITE_INDEX_CONSTRAINT_NE => Op::Ne,
            ffi::SQLITE_INDEX_CONSTRAINT_LT => Op::Lt,
            ffi::SQLITE_INDEX_CONSTRAINT_LE => Op::Le,
            ffi::SQLITE_INDEX_CONSTRAINT_GT => Op::Gt,
            ffi::SQLITE_INDEX_CONSTRAINT_GE => Op::Ge,
            ffi::SQLITE_INDEX_CONSTRAINT_ISNULL => Op::IsNull,
            ffi::SQLITE_INDEX_CONSTRAINT_ISNOTNULL => Op::IsNotNull,
            ffi::SQLITE_INDEX_CONSTRAINT_IS => Op::Is,
            ffi::SQLITE_INDEX_CONSTRAINT_ISNOT => Op::IsNot,
            ffi::SQLITE_INDEX_CONSTRAINT_LIKE => Op::Like,
            ffi::SQLITE_INDEX_CONSTRAINT_GLOB => Op::Glob,
            _ => return None,
        })
    }
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
            Op::Is => "IS",
            Op::IsNot => "IS NOT",
            Op::Like => "LIKE",
            Op::Glob => "GLOB",
        }
    }
}

/// What a column of a filter refers to in the shadow tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Rowid,
    /// Metadata column by its slot (`t_rows.mNN`).
    Meta(usize),
    /// Text primary key (`t_rows.pk`).
    Pk,
    /// Auxiliary column by its slot (`t_aux.aNN`, not indexed).
    Aux(usize),
}

/// Role of each xFilter argument, in argv order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arg {
    Query,
    K,
    /// `ef_search = N`: candidates a graph search keeps.
    EfSearch,
    /// `nprobe = N`: lists an IVF search scans.
    Nprobe,
    Limit,
    Offset,
    /// `distance <op> value`
    Distance(Op),
    /// A filter evaluated in the shadow tables: target, operator, collation (None = BINARY).
    Filter {
        target: Target,
        name: String,
        op: Op,
        collation: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Nearest neighbours on vector column `col` (index into TableDef::columns).
    Knn { col: usize },
    /// Every row (passing the filters), in rowid order.
    Scan,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plan {
    pub kind: Kind,
    pub args: Vec<Arg>,
}

impl Plan {
    pub fn filters(&self) -> impl Iterator<Item = (usize, &Arg)> {
        self.args.iter().enumerate().filter(|(_, a)| matches!(a, Arg::Filter { .. }))
    }
}

/// Plans handed out by xBestIndex, looked up by idxNum in xFilter.
#[derive(Default)]
pub struct PlanRegistry {
    plans: RefCell<Vec<Plan>>,
    index: RefCell<HashMap<Plan, usize>>,
}

impl PlanRegistry {
    pub fn register(&self, plan: Plan) -> usize {
        if let Some(&i) = self.index.borrow().get(&plan) {
            return i;
        }
        let mut plans = self.plans.borrow_mut();
        plans.push(plan.clone());
        let i = plans.len() - 1;
        self.index.borrow_mut().insert(plan, i);
        i
    }
    pub fn get(&self, i: usize) -> Option<Plan> {
        self.plans.borrow().get(i).cloned()
    }
}

fn display_value(v: &Option<OwnedValue>) -> String {
    match v {
        Some(OwnedValue::Integer(i)) => i.to_string(),
        Some(OwnedValue::Real(f)) => f.to_string(),
        _ => "?".to_string(),
    }
}

/// Choose a plan for one xBestIndex call.
pub fn best_index(
    def: &TableDef,
    spec: &crate::index::IndexSpec,
    table: &str,
    row_estimate: i64,
    reg: &PlanRegistry,
    info: &mut IndexInfo<'_>,
) -> Result<()> {
    let cs = info.constraints();
    let ncols = def.columns.len() as i32;
    let distance_col = def.distance_col() as i32;
    let k_col = def.k_col() as i32;
    let ef_col = def.ef_search_col() as i32;
    let nprobe_col = def.nprobe_col() as i32;

    // 1. MATCH on a vector column makes this a KNN query.
    let matches: Vec<_> = cs
        .iter()
        .filter(|c| c.op as i32 == ffi::SQLITE_INDEX_CONSTRAINT_MATCH && c.column >= 0 && c.column < ncols)
        .collect();
    for m in &matches {
        if !matches!(def.columns[m.column as usize].kind, ColumnKind::Vector { .. }) {
            return Err(Error::invalid(format!(
                "MATCH is only for vector columns; {} is not one",
                def.columns[m.column as usize].name
            )));
        }
    }
    let usable_matches: Vec<_> = matches.iter().filter(|c| c.usable).collect();
    if !matches.is_empty() && usable_matches.is_empty() {
        return Err(Error::PlanUnusable);
    }
    let distinct_cols: std::collections::HashSet<i32> = usable_matches.iter().map(|c| c.column).collect();
    if distinct_cols.len() > 1 || usable_matches.len() > 1 {
        return Err(Error::invalid(format!(
            "only one MATCH per query on {table}: a KNN search is on one vector column at a time"
        )));
    }
    let knn = usable_matches.first().copied();

    let mut args: Vec<Arg> = Vec::new();
    let mut desc: Vec<String> = Vec::new();
    let use_c = |info: &mut IndexInfo<'_>, args: &mut Vec<Arg>, idx: usize, arg: Arg, omit: bool| {
        args.push(arg);
        info.set_argv_index(idx, args.len() as i32);
        info.set_omit(idx, omit);
    };

    let kind = if let Some(m) = knn {
        let col = m.column as usize;
        use_c(info, &mut args, m.index, Arg::Query, true);
        desc.push(format!("knn {} {}", spec.name(), def.columns[col].name));
        Kind::Knn { col }
    } else {
        desc.push("scan".to_string());
        Kind::Scan
    };
    let is_knn = knn.is_some();

    // 2. k = ?
    let k_terms: Vec<_> =
        cs.iter().filter(|c| c.column == k_col && c.op as i32 == ffi::SQLITE_INDEX_CONSTRAINT_EQ).collect();
    if !k_terms.is_empty() {
        if !is_knn {
            return Err(Error::invalid(format!(
                "k = ... needs a KNN query: add '<vector column> MATCH <query vector>' to the WHERE clause of {table}"
            )));
        }
        if k_terms.len() > 1 {
            return Err(Error::invalid("k is given more than once"));
        }
        let t = k_terms[0];
        if !t.usable {
            return Err(Error::PlanUnusable);
        }
        let shown = display_value(&info.rhs_value(t.index));
        use_c(info, &mut args, t.index, Arg::K, true);
        desc.push(format!("k={shown}"));
    }
    let has_k = !k_terms.is_empty();

    // 2b. ef_search = ?, nprobe = ?
    for (col, name, arg) in [(ef_col, "ef_search", Arg::EfSearch), (nprobe_col, "nprobe", Arg::Nprobe)] {
        let terms: Vec<_> =
            cs.iter().filter(|c| c.column == col && c.op as i32 == ffi::SQLITE_INDEX_CONSTRAINT_EQ).collect();
        let Some(t) = terms.first() else { continue };
        if !is_knn {
            return Err(Error::invalid(format!(
                "{name} = ... tunes a KNN query: add '<vector column> MATCH <query vector>' to the WHERE clause of {table}"
            )));
        }
        if terms.len() > 1 {
            return Err(Error::invalid(format!("{name} is given more than once")));
        }
        if !t.usable {
            return Err(Error::PlanUnusable);
        }
        let shown = display_value(&info.rhs_value(t.index));
        use_c(info, &mut args, t.index, arg, true);
        desc.push(format!("{name}={shown}"));
    }

    // 3. filters on rowid, metadata and primary key; distance bounds.
    let mut filter_names: Vec<String> = Vec::new();
    let mut part_names: Vec<String> = Vec::new();
    let mut has_point = false;
    for c in &cs {
        if !c.usable {
            continue;
        }
        let Some(mut op) = Op::from_sqlite(c.op) else { continue };
        if c.column == distance_col {
            if is_knn && matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                use_c(info, &mut args, c.index, Arg::Distance(op), true);
                desc.push(format!("distance{}", op.sql()));
            }
            continue;
        }
        let (target, name) = if c.column < 0 {
            (Target::Rowid, "rowid".to_string())
        } else if c.column < ncols {
            let col = &def.columns[c.column as usize];
            match col.kind {
                ColumnKind::Metadata { slot, .. } => (Target::Meta(slot), col.name.clone()),
                ColumnKind::IntegerPk => (Target::Rowid, col.name.clone()),
                ColumnKind::TextPk => (Target::Pk, col.name.clone()),
                ColumnKind::Aux { slot, .. } => (Target::Aux(slot), col.name.clone()),
                _ => continue,
            }
        } else {
            continue;
        };
        if target == Target::Rowid && matches!(op, Op::Like | Op::Glob) {
            continue;
        }
        if op == Op::Eq && info.is_in(c.index) {
            if !info.handle_in_all_at_once(c.index) {
                continue;
            }
            op = Op::In;
        }
        let collation = if matches!(target, Target::Meta(_) | Target::Pk | Target::Aux(_)) {
            info.collation(c.index).filter(|s| !s.eq_ignore_ascii_case("BINARY"))
        } else {
            None
        };
        if !is_knn && op == Op::Eq && matches!(target, Target::Rowid | Target::Pk) {
            has_point = true;
        }
        let shown = if collation.is_some() { format!("{name}(collate)") } else { name.clone() };
        match target {
            Target::Meta(slot) if def.partition_of_slot(slot).is_some() => part_names.push(shown),
            _ => filter_names.push(shown),
        }
        use_c(info, &mut args, c.index, Arg::Filter { target, name, op, collation }, true);
    }
    if !part_names.is_empty() {
        part_names.dedup();
        desc.push(format!("partition={}", part_names.join(",")));
    }
    if !filter_names.is_empty() {
        filter_names.dedup();
        desc.push(format!("filter={}", filter_names.join(",")));
    }
    let any_filter = !filter_names.is_empty() || !part_names.is_empty();

    // 4. LIMIT/OFFSET (SQLite 3.41+ offers them when every other term is consumed): for KNN
    //    without k they bound the search; SQLite still applies them itself.
    if is_knn && !has_k {
        let lim = cs.iter().find(|c| c.op == INDEX_CONSTRAINT_LIMIT && c.usable);
        if let Some(l) = lim {
            let shown = display_value(&info.rhs_value(l.index));
            use_c(info, &mut args, l.index, Arg::Limit, false);
            let off = cs.iter().find(|c| c.op == INDEX_CONSTRAINT_OFFSET && c.usable);
            if let Some(o) = off {
                use_c(info, &mut args, o.index, Arg::Offset, false);
                desc.push(format!("limit={shown}+offset"));
            } else {
                desc.push(format!("limit={shown}"));
            }
        } else {
            desc.push("k=all (lazy)".to_string());
        }
    }

    // 5. ORDER BY
    let order = info.order_by();
    let consumed = if is_knn {
        !order.is_empty()
            && !order[0].desc
            && order[0].column == distance_col
            && order[1..].iter().all(|o| o.column == -1 && !o.desc)
    } else {
        !order.is_empty() && order.iter().all(|o| o.column == -1 && !o.desc)
            || (order.len() == 1
                && !order[0].desc
                && order[0].column >= 0
                && order[0].column < ncols
                && def.columns[order[0].column as usize].kind == ColumnKind::IntegerPk)
    };
    info.set_order_by_consumed(consumed);

    // 6. cost
    let n = row_estimate.max(1) as f64;
    if is_knn {
        info.set_estimated_cost(10.0 + n / 1000.0);
        info.set_estimated_rows(if has_k { 10 } else { row_estimate.max(1) });
    } else if has_point {
        info.set_estimated_cost(1.0);
        info.set_estimated_rows(1);
        info.set_idx_flags(ffi::SQLITE_INDEX_SCAN_UNIQUE);
    } else if any_filter {
        info.set_estimated_cost(n / 4.0 + 20.0);
        info.set_estimated_rows((row_estimate / 4).max(1));
    } else {
        info.set_estimated_cost(n + 100.0);
        info.set_estimated_rows(row_estimate.max(1));
    }

    let plan = Plan { kind, args };
    let id = reg.register(plan);
    info.set_idx_num(id as i32);
    info.set_idx_str(&desc.join(" "));
    Ok(())
}
