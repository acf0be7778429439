//! The `vindex` virtual table: CREATE/CONNECT, transactions and the caches they govern; plans
//! (`plan`), query execution (`knn`), cursors (`cursor`), writes and commands (`update`),
//! checks (`check`) and the `vindex_status` table (`status`).
//!
//! Each connection has its own [`TableInner`] per table; the decoded data it searches is shared
//! by the process ([`crate::store::cache`]). A query reads the (generation, epoch) of the table
//! inside its own transaction and uses the cached version for exactly that pair. A writing
//! transaction keeps its changes in a private [`overlay::Overlay`], records them in the change
//! log at xSync, and publishes them as the next shared version at xCommit.

pub mod build;
pub mod check;
pub mod config;
pub mod cursor;
pub mod import;
pub mod ivf;
pub mod knn;
pub mod overlay;
pub mod plan;
pub mod status;
pub mod strict;
pub mod update;
pub mod view;

use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::ffi::vtab::{
    IndexInfo, ModuleKind, Update, VTab, VTabArgs, create_module, vtab_config_constraint_support, vtab_config_innocuous,
};
use crate::index::flat::ColumnInfo;
use crate::index::{IndexSpec, VectorIndex};
use crate::store::cache::{CacheKey, FileId, TableCache, Version};
use crate::store::changes::chain;
use crate::store::def::{ColumnKind, TableDef};
use crate::store::schema::{self, FORMAT_VERSION, Names};
use crate::store::{ColLayout, Store};
use cursor::VindexCursor;
use overlay::Overlay;
use plan::PlanRegistry;
use std::cell::{Cell, RefCell, RefMut};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use view::{OvParts, View};

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
    // It writes: not deterministic, and only from top-level SQL (not from triggers or views).
    let writes = libsqlite3_sys::SQLITE_UTF8 | libsqlite3_sys::SQLITE_DIRECTONLY;
    for n in [2, 3] {
        crate::ffi::func::create_db_scalar(db, "vindex_import_vec0", n, writes, import::vindex_import_vec0)?;
    }
    Ok(())
}

/// VFSes that read ordinary files, whose device and inode identify the database: only these
/// share a cache between connections. Others (in-memory, dqlite, custom) get a private one.
const FILE_VFSES: &[&str] = &[
    "unix",
    "unix-excl",
    "unix-none",
    "unix-dotfile",
    "unix-flock",
    "unix-posix",
    "win32",
    "win32-longpath",
    "win32-none",
];

/// The shared cache key of `schema`.`table` on `db`, when the database is an ordinary file.
fn cache_key(db: Db, schema: &str, table: &str) -> Option<CacheKey> {
    let vfs = db.vfs_name(schema)?;
    if !FILE_VFSES.contains(&vfs.as_str()) {
        return None;
    }
    let path = db.filename(schema).filter(|p| !p.is_empty())?;
    let file = file_id(&path)?;
    Some(CacheKey { file, table: table.to_ascii_lowercase() })
}

#[cfg(unix)]
fn file_id(path: &str) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileId { dev: m.dev(), ino: m.ino() })
}

#[cfg(not(unix))]
fn file_id(_path: &str) -> Option<FileId> {
    None
}

/// What this connection's transaction holds for the table.
#[derive(Default)]
pub struct Tx {
    /// Uncommitted writes (None until the first write of the transaction).
    pub overlay: Option<Overlay>,
}

/// Per-connection query counters, for `vindex_status`.
#[derive(Default)]
pub struct QueryCounters {
    pub from_memory: Cell<u64>,
    pub from_pages: Cell<u64>,
}

pub struct TableInner {
    pub db: Db,
    pub def: TableDef,
    pub store: Store,
    pub plans: PlanRegistry,
    /// The table's index, as its `t_info` row says (another connection may change it).
    pub spec: RefCell<IndexSpec>,
    /// One index per vector column.
    pub indexes: RefCell<Vec<Box<dyn VectorIndex>>>,
    pub cache: Arc<TableCache>,
    pub tx: RefCell<Tx>,
    pub counters: QueryCounters,
    /// Writes through this connection (INSERT/UPDATE/DELETE/commands), for open cursors.
    pub writes: Cell<u64>,
    /// ROLLBACK TO and ROLLBACK through this connection, for open cursors.
    pub rollbacks: Cell<u64>,
    /// The (generation, epoch) at which `spec` was last read from `t_info`.
    spec_seen: Cell<(i64, i64)>,
    /// A ROLLBACK (2) or ROLLBACK TO (1) that came while `tx` was in use — SQLite rolls back
    /// from inside a nested statement that fails without a statement journal (out of memory):
    /// applied when `tx` is next taken.
    pending: Cell<u8>,
    /// Why the table cannot be used (another format version, a damaged info row): every use
    /// but DROP TABLE, RENAME and 'upgrade' reports it.
    pub broken: RefCell<Option<Error>>,
    /// With the cache off (`vindex_cache_limit(0)`): the version this connection read last, so
    /// that a query does not list every chunk again while the table stays the same. It keeps
    /// the chunk ids and the slot maps queries read (rowids: 9 bytes a row), no vectors.
    uncached: RefCell<Option<Arc<Version>>>,
}

pub struct VindexTable {
    inner: Rc<TableInner>,
}

pub(super) fn indexes_for(def: &TableDef, spec: &IndexSpec, seed: i64) -> Vec<Box<dyn VectorIndex>> {
    ColLayout::of(def)
        .into_iter()
        .enumerate()
        .map(|(n, l)| crate::index::open(spec, ColumnInfo::new(l.ty, l.dims, l.metric), n, seed))
        .collect()
}

/// Whether an error says nothing about the table itself (the same statement may work later).
fn is_transient(e: &Error) -> bool {
    use libsqlite3_sys as f;
    matches!(
        e.code() & 0xff,
        f::SQLITE_NOMEM
            | f::SQLITE_BUSY
            | f::SQLITE_LOCKED
            | f::SQLITE_IOERR
            | f::SQLITE_INTERRUPT
            | f::SQLITE_FULL
            | f::SQLITE_CANTOPEN
            | f::SQLITE_PROTOCOL
    )
}

/// The index the table's `t_info` row names.
pub(super) fn stored_spec(store: &Store) -> Option<IndexSpec> {
    match store.info_get("index") {
        Ok(Some(crate::value::OwnedValue::Text(t))) => IndexSpec::parse(&t).ok(),
        _ => None,
    }
}

fn max_vector_bytes(def: &TableDef) -> usize {
    def.vectors()
        .map(|(_, c)| match c.kind {
            ColumnKind::Vector { ty, dims, .. } => ty.bytes_for(dims),
            _ => 0,
        })
        .max()
        .unwrap_or(1)
}

impl VindexTable {
    fn open(db: Db, reg: &Rc<Registry>, args: &VTabArgs, create: bool) -> Result<(String, Self)> {
        if create {
            config::check_table_name(&args.table).map_err(|e| e.context("vindex"))?;
        }
        let def = config::parse(&args.table, &args.args).map_err(|e| e.context("vindex"))?;
        let names = Names { schema: args.schema.clone(), table: args.table.clone() };
        if create {
            let cap =
                schema::chunk_capacity(def.chunk_size, max_vector_bytes(&def), def.index.ivf_quantizer().is_some())
                    .map_err(|e| e.context("vindex"))?;
            schema::create_tables(db, &names, &def, cap, crate::ffi::conn::random_i64())?;
        }
        let (store, broken) = match Store::open(db, names.clone(), &def) {
            Ok(s) if s.format == FORMAT_VERSION => (s, None),
            Ok(s) => {
                let e = Error::invalid(format!(
                    "table {t} uses vindex storage format {v}; this build of vindex reads format {FORMAT_VERSION}. \
                     Run INSERT INTO {t}({t}) VALUES ('upgrade') once to convert it",
                    t = names.table,
                    v = s.format
                ));
                (s, Some(e))
            }
            // Out of memory, busy, I/O: the next statement may succeed, so no broken table.
            Err(e) if is_transient(&e) => return Err(e),
            Err(e) => (Store::unusable(db, names.clone(), &def), Some(e)),
        };
        let spec = stored_spec(&store).unwrap_or_else(|| def.index.clone());
        store.set_graph(matches!(spec, IndexSpec::Hnsw(_)));
        store.set_ivf(spec.ivf_quantizer());
        let seed = store.info_i64("seed").unwrap_or(def.seed);
        vtab_config_constraint_support(db);
        vtab_config_innocuous(db);
        let decl = def.declaration(&args.table);
        let cache = TableCache::open(cache_key(db, &names.schema, &names.table));
        let inner = Rc::new(TableInner {
            db,
            indexes: RefCell::new(indexes_for(&def, &spec, seed)),
            spec: RefCell::new(spec),
            def,
            store,
            plans: PlanRegistry::default(),
            cache,
            tx: RefCell::new(Tx::default()),
            counters: QueryCounters::default(),
            writes: Cell::new(0),
            rollbacks: Cell::new(0),
            spec_seen: Cell::new((i64::MIN, 0)),
            pending: Cell::new(0),
            broken: RefCell::new(broken),
            uncached: RefCell::new(None),
        });
        reg.add(&inner);
        Ok((decl, VindexTable { inner }))
    }
}

impl TableInner {
    pub fn tname(&self) -> &str {
        &self.store.names.table
    }

    /// Fail when the table cannot be used.
    pub fn usable(&self) -> Result<()> {
        match &*self.broken.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The committed version this transaction sees, from the cache, from the previous version
    /// and the change log, or from scratch.
    pub fn read_version(&self) -> Result<Arc<Version>> {
        let (g, e) = self.store.version()?;
        if self.spec_seen.get() != (g, e) {
            // Another connection may have moved the table to another index.
            if let Some(spec) = stored_spec(&self.store)
                && spec != *self.spec.borrow()
            {
                self.use_spec(spec, self.seed());
            }
            self.spec_seen.set((g, e));
        }
        let c = &self.cache.counters;
        if let Some(v) = self.cache.find(g, e) {
            c.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(v);
        }
        if let Some(n) = self.cache.newest().filter(|n| n.generation < g) {
            let rows = self.store.read_changes(n.generation, g)?;
            if let Some(cs) = chain(&rows, (n.generation, n.epoch), (g, e))
                && !cs.all()
            {
                let ids = if cs.directory_changed() { self.store.chunk_ids()? } else { n.ids.clone() };
                let v = n.derive(g, e, ids, &cs);
                c.refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(self.cache.insert(Arc::new(v)));
            }
        }
        if crate::store::cache::cache_limit() == 0 {
            let mut memo = self.uncached.borrow_mut();
            if let Some(v) = memo.as_ref().filter(|v| (v.generation, v.epoch) == (g, e)) {
                return Ok(v.clone());
            }
            let v = Arc::new(Version::new(g, e, self.store.chunk_ids()?));
            *memo = Some(v.clone());
            return Ok(v);
        }
        *self.uncached.borrow_mut() = None;
        let v = Version::new(g, e, self.store.chunk_ids()?);
        c.reloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.cache.insert(Arc::new(v)))
    }

    /// Bring a stale overlay back in line with the pages (or drop it, when the transaction's
    /// first write was rolled back).
    fn settle_overlay(&self, tx: &mut Tx) -> Result<()> {
        self.apply_pending(tx);
        let Some(ov) = tx.overlay.as_mut() else { return Ok(()) };
        if !ov.stale {
            return Ok(());
        }
        if self.store.version()? == (ov.generation, ov.epoch) {
            let (max0, max_up) = self.graph_links();
            ov.reload(&self.store, max0, max_up)
        } else {
            tx.overlay = None;
            Ok(())
        }
    }

    /// The overlay of the current write transaction, created (and the generation counted) by
    /// its first write.
    pub fn overlay(&self) -> Result<RefMut<'_, Overlay>> {
        let mut tx = self.tx.borrow_mut();
        self.settle_overlay(&mut tx)?;
        if tx.overlay.is_none() {
            let base = self.read_version()?;
            let (g, e) = self.store.bump()?;
            tx.overlay = Some(Overlay::new(base, g, e, self.store.cols.len()));
        }
        Ok(RefMut::map(tx, |t| t.overlay.as_mut().expect("overlay just made")))
    }

    /// Run `f` over the table as this connection sees it now.
    pub fn with_view<R>(&self, f: impl FnOnce(&mut View<'_>) -> Result<R>) -> Result<R> {
        let keep = crate::store::cache::cache_limit() > 0;
        let key = self.cache.key.as_ref();
        {
            let mut tx = self.tx.borrow_mut();
            self.settle_overlay(&mut tx)?;
        }
        let tx = self.tx.borrow();
        if let Some(ov) = tx.overlay.as_ref() {
            let mut v = View::new(&self.store, ov.base.clone(), Some(OvParts::of(ov)), key, keep, self.graph_links());
            return f(&mut v);
        }
        drop(tx);
        let version = self.read_version()?;
        let mut v = View::new(&self.store, version, None, key, keep, self.graph_links());
        f(&mut v)
    }

    /// The writes of this transaction were rolled back under the overlay (ROLLBACK TO, or an
    /// undone write): reload before the next use.
    pub fn overlay_stale(&self) {
        match self.tx.try_borrow_mut() {
            Ok(mut tx) => {
                self.apply_pending(&mut tx);
                if let Some(ov) = tx.overlay.as_mut() {
                    ov.stale = true;
                }
            }
            Err(_) => self.pending.set(self.pending.get().max(1)),
        }
    }

    /// The transaction was rolled back (all of it, or to a savepoint).
    fn rolled_back(&self, all: bool) {
        self.rollbacks.set(self.rollbacks.get() + 1);
        self.spec_seen.set((i64::MIN, 0));
        if !all {
            return self.overlay_stale();
        }
        match self.tx.try_borrow_mut() {
            Ok(mut tx) => tx.overlay = None,
            Err(_) => self.pending.set(2),
        }
    }

    /// Apply a rollback that arrived while `tx` was in use.
    fn apply_pending(&self, tx: &mut Tx) {
        match self.pending.replace(0) {
            2 => tx.overlay = None,
            1 => {
                if let Some(ov) = tx.overlay.as_mut() {
                    ov.stale = true;
                }
            }
            _ => {}
        }
    }

    /// Rows, as far as the newest cached version knows (for plan costs).
    pub fn row_estimate(&self) -> i64 {
        self.cache.newest().map_or(100_000, |v| (v.ids.len() * self.store.capacity) as i64)
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
        plan::best_index(&t.def, &t.spec.borrow(), &t.store.names.table, t.row_estimate(), &t.plans, info)
    }
    fn open(&self) -> Result<VindexCursor> {
        Ok(VindexCursor::new(self.inner.clone()))
    }
    fn destroy(&self) -> Result<()> {
        let t = &self.inner;
        t.store.stmts.clear();
        t.tx.borrow_mut().overlay = None;
        if let Some(k) = &t.cache.key {
            crate::store::cache::forget(k);
        }
        t.cache.clear();
        schema::drop_tables(t.db, &t.store.names)
    }
    fn update(&self, op: Update<'_>) -> Result<i64> {
        let t = &self.inner;
        t.writes.set(t.writes.get() + 1);
        // Nested INSERTs into shadow tables move last_insert_rowid; for an INSERT SQLite then
        // sets it from the rowid we return, for the rest it must stay as it was.
        let last = t.db.last_insert_rowid();
        let r = update::apply(t, op);
        t.db.set_last_insert_rowid(last);
        r
    }
    fn begin(&self) -> Result<()> {
        let t = &self.inner;
        t.pending.set(0);
        if let Ok(mut tx) = t.tx.try_borrow_mut() {
            tx.overlay = None;
        }
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        let t = &self.inner;
        let mut tx = t.tx.borrow_mut();
        t.settle_overlay(&mut tx)?;
        if let Some(ov) = tx.overlay.as_ref() {
            let last = t.db.last_insert_rowid();
            let r = t.store.write_changes(&ov.change_row());
            t.db.set_last_insert_rowid(last);
            r?;
        }
        Ok(())
    }
    fn commit(&self) -> Result<()> {
        let t = &self.inner;
        let ov = {
            let mut tx = t.tx.borrow_mut();
            t.apply_pending(&mut tx);
            tx.overlay.take()
        };
        if let Some(ov) = ov
            && crate::store::cache::cache_limit() > 0
        {
            let v = ov.publish(t.cache.key.as_ref(), t.store.capacity);
            t.cache.insert(Arc::new(v));
            t.cache.counters.published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
    fn rollback(&self) -> Result<()> {
        self.inner.rolled_back(true);
        Ok(())
    }
    fn rollback_to(&self, _n: i32) -> Result<()> {
        self.inner.rolled_back(false);
        Ok(())
    }
    fn rename(&self, new_name: &str) -> Result<()> {
        let t = &self.inner;
        t.store.stmts.clear();
        t.tx.borrow_mut().overlay = None;
        if let Some(k) = &t.cache.key {
            crate::store::cache::forget(k);
        }
        t.cache.clear();
        schema::rename_tables(t.db, &t.store.names, new_name)
    }
    fn is_shadow_name(suffix: &str) -> bool {
        schema::is_shadow_suffix(suffix)
    }
    fn integrity(&self, _schema: &str, _table: &str, _flags: i32) -> Result<Option<String>> {
        let problems = check::run(&self.inner)?;
        if problems.is_empty() {
            Ok(None)
        } else {
            Ok(Some(format!("vindex table {}: {}", self.inner.tname(), problems.join("; "))))
        }
    }
}
