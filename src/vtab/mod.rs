//! The `vindex` virtual table: CREATE/CONNECT, plans, cursors, writes, transactions, and the
//! `vindex_status` table-valued function.

pub mod check;
pub mod config;
pub mod cursor;
pub mod layout;
pub mod plan;
pub mod status;
pub mod strict;
pub mod update;

use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::ffi::vtab::{
    IndexInfo, ModuleKind, Update, VTab, VTabArgs, create_module, vtab_config_constraint_support, vtab_config_innocuous,
};
use crate::store::def::{ColumnKind, TableDef};
use crate::store::{self, Names, Store};
use cursor::VindexCursor;
use layout::Layout;
use plan::PlanRegistry;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// Tables connected on one database connection, for `vindex_status`.
#[derive(Default)]
pub struct Registry {
    tables: RefCell<Vec<Weak<TableInner>>>,
}

impl Registry {
    fn add(&self, t: &Rc<TableInner>) {
        let mut v = self.tables.borrow_mut();
        v.retain(|w| w.strong_count() > 0);
        v.push(Rc::downgrade(t));
    }
    pub fn find(&self, schema: &str, table: &str) -> Option<Rc<TableInner>> {
        self.tables.borrow().iter().filter_map(|w| w.upgrade()).find(|t| {
            t.store.names.schema.eq_ignore_ascii_case(schema) && t.store.names.table.eq_ignore_ascii_case(table)
        })
    }
}

pub fn register(db: Db) -> Result<()> {
    let reg = Rc::new(Registry::default());
    create_module::<VindexTable>(
        db,
        "vindex",
        &ModuleKind { eponymous_only: false, writable: true, shadow_tables: true },
        reg.clone(),
    )?;
    create_module::<status::StatusTable>(
        db,
        "vindex_status",
        &ModuleKind { eponymous_only: true, writable: false, shadow_tables: false },
        reg,
    )?;
    Ok(())
}

pub struct State {
    /// Chunk layout and cached vectors, valid for `layout.generation`.
    pub layout: Option<Layout>,
    /// The generation counter was bumped in the current write transaction.
    pub bumped: bool,
}

pub struct TableInner {
    pub db: Db,
    pub def: TableDef,
    pub store: Store,
    pub plans: PlanRegistry,
    pub state: RefCell<State>,
    /// Number of KNN queries answered from cached vectors / from pages (for vindex_status).
    pub queries_cached: Cell<u64>,
    pub queries_paged: Cell<u64>,
    /// Writes through this connection (INSERT/UPDATE/DELETE/commands), for open cursors.
    pub writes: Cell<u64>,
}

pub struct VindexTable {
    inner: Rc<TableInner>,
}

fn vector_bytes(def: &TableDef) -> Vec<usize> {
    def.vectors()
        .map(|(_, c)| match c.kind {
            ColumnKind::Vector { ty, dims, .. } => ty.bytes_for(dims),
            _ => 0,
        })
        .collect()
}

impl VindexTable {
    fn open(db: Db, reg: &Rc<Registry>, args: &VTabArgs, create: bool) -> Result<(String, Self)> {
        let def = config::parse(&args.table, &args.args).map_err(|e| e.context("vindex"))?;
        let names = Names { schema: args.schema.clone(), table: args.table.clone() };
        let vb = vector_bytes(&def);
        if create {
            let cap = store::chunk_capacity_for(vb.iter().copied().max().unwrap_or(1));
            store::create_tables(db, &names, &def, cap)?;
        }
        let store = Store::open(db, names, vb)?;
        vtab_config_constraint_support(db);
        vtab_config_innocuous(db);
        let decl = def.declaration(&args.table);
        let inner = Rc::new(TableInner {
            db,
            def,
            store,
            plans: PlanRegistry::default(),
            state: RefCell::new(State { layout: None, bumped: false }),
            queries_cached: Cell::new(0),
            queries_paged: Cell::new(0),
            writes: Cell::new(0),
        });
        reg.add(&inner);
        Ok((decl, VindexTable { inner }))
    }
}

impl TableInner {
    /// The layout for the current generation (rebuilt when another connection wrote).
    pub fn with_layout<R>(&self, f: impl FnOnce(&mut Layout) -> Result<R>) -> Result<R> {
        let generation = self.store.generation()?;
        let mut st = self.state.borrow_mut();
        if st.layout.as_ref().is_none_or(|l| l.generation != generation) {
            st.layout = None;
            st.layout = Some(Layout::load(&self.store, generation, self.column_caches())?);
        }
        let layout = st.layout.as_mut().ok_or_else(|| Error::invalid("layout unavailable"))?;
        if layout.cached_bytes() > 0 && crate::store::cache::cache_used() > crate::store::cache::cache_limit() {
            layout.drop_cache();
        }
        layout.cache_enabled = true;
        f(layout)
    }

    /// What each vector column keeps in memory: int8 codes for float32 columns whose metric
    /// the exact prescan serves.
    pub fn column_caches(&self) -> Vec<layout::ColumnCache> {
        self.def
            .vectors()
            .map(|(_, c)| match c.kind {
                ColumnKind::Vector { ty, dims, metric, .. } => layout::ColumnCache {
                    code_dims: (ty == crate::vector::ElementType::Float32 && crate::index::sq8::supports(metric))
                        .then_some(dims),
                },
                _ => layout::ColumnCache { code_dims: None },
            })
            .collect()
    }

    /// Forget in-memory state (after ROLLBACK, or an error in the middle of a write).
    pub fn forget(&self) {
        let mut st = self.state.borrow_mut();
        st.layout = None;
        st.bumped = false;
    }
}

impl VTab for VindexTable {
    type Aux = Rc<Registry>;
    type Cursor = VindexCursor;

    fn create(db: Db, aux: &Rc<Registry>, args: &VTabArgs) -> Result<(String, Self)> {
        Self::open(db, aux, args, true)
    }
    fn connect(db: Db, aux: &Rc<Registry>, args: &VTabArgs) -> Result<(String, Self)> {
        Self::open(db, aux, args, false)
    }
    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<()> {
        let t = &self.inner;
        let rows = t.state.borrow().layout.as_ref().map_or(100_000, |l| l.rows() as i64);
        plan::best_index(&t.def, &t.store.names.table, rows, &t.plans, info)
    }
    fn open(&self) -> Result<VindexCursor> {
        Ok(VindexCursor::new(self.inner.clone()))
    }
    fn destroy(&self) -> Result<()> {
        let t = &self.inner;
        t.store.stmts.clear();
        t.forget();
        store::drop_tables(t.db, &t.store.names, &t.def)
    }
    fn update(&self, op: Update<'_>) -> Result<i64> {
        self.inner.writes.set(self.inner.writes.get() + 1);
        let r = update::apply(&self.inner, op);
        if r.is_err() {
            // Pages are restored by the statement rollback; memory must not run ahead of them.
            self.inner.forget();
        }
        r
    }
    fn begin(&self) -> Result<()> {
        self.inner.state.borrow_mut().bumped = false;
        Ok(())
    }
    fn commit(&self) -> Result<()> {
        self.inner.state.borrow_mut().bumped = false;
        Ok(())
    }
    fn rollback(&self) -> Result<()> {
        self.inner.forget();
        Ok(())
    }
    fn rollback_to(&self, _n: i32) -> Result<()> {
        self.inner.forget();
        Ok(())
    }
    fn rename(&self, new_name: &str) -> Result<()> {
        let t = &self.inner;
        t.store.stmts.clear();
        t.forget();
        store::rename_tables(t.db, &t.store.names, &t.def, new_name)
    }
    fn is_shadow_name(suffix: &str) -> bool {
        store::is_shadow_suffix(suffix)
    }
    fn integrity(&self, _schema: &str, _table: &str, _flags: i32) -> Result<Option<String>> {
        let problems = check::run(&self.inner)?;
        if problems.is_empty() {
            Ok(None)
        } else {
            Ok(Some(format!("vindex table {}: {}", self.inner.store.names.table, problems.join("; "))))
        }
    }
}
