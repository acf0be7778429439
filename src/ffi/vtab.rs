//! A safe layer over `sqlite3_module`: traits for tables and cursors, and `extern "C"`
//! trampolines for every hook (incl. savepoints, xShadowName and xIntegrity) that catch
//! panics and turn errors into SQLite result codes with messages.

use super::func::panic_error;
use super::stmt::Db;
use super::value::{Context, ValueRef, args_from_raw};
use crate::error::{Error, Result};
use crate::value::OwnedValue;
use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Copy a message into memory from `sqlite3_malloc`, as SQLite frees error strings.
fn sqlite_string(msg: &str) -> *mut c_char {
    // A NUL would cut the message short: show it escaped.
    let msg = msg.replace('\0', "\\0");
    let bytes = msg.as_bytes();
    // SAFETY: allocate len+1 bytes, copy, terminate.
    unsafe {
        let p = ffi::sqlite3_malloc64(bytes.len() as u64 + 1) as *mut u8;
        if p.is_null() {
            return std::ptr::null_mut();
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        p.cast()
    }
}

fn cstr_arg<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        return "";
    }
    // SAFETY: SQLite passes NUL-terminated UTF-8 strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
}

/// Arguments of xCreate/xConnect: module name, database name, table name, then the
/// comma-separated arguments of `USING module(...)`, each as written.
pub struct VTabArgs {
    pub module: String,
    pub schema: String,
    pub table: String,
    pub args: Vec<String>,
}

/// One WHERE term offered to xBestIndex.
#[derive(Debug, Clone, Copy)]
pub struct Constraint {
    /// Column index (-1 = rowid).
    pub column: i32,
    pub op: u8,
    pub usable: bool,
    /// Position in aConstraint, for the setters.
    pub index: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct OrderBy {
    pub column: i32,
    pub desc: bool,
}

/// The `sqlite3_index_info` of one xBestIndex call.
pub struct IndexInfo<'a> {
    ptr: *mut ffi::sqlite3_index_info,
    _life: PhantomData<&'a mut ()>,
}

impl IndexInfo<'_> {
    fn raw(&self) -> &ffi::sqlite3_index_info {
        // SAFETY: valid for the duration of xBestIndex.
        unsafe { &*self.ptr }
    }
    fn raw_mut(&mut self) -> &mut ffi::sqlite3_index_info {
        unsafe { &mut *self.ptr }
    }
    pub fn constraints(&self) -> Vec<Constraint> {
        let r = self.raw();
        if r.nConstraint <= 0 {
            return Vec::new();
        }
        // SAFETY: aConstraint has nConstraint entries.
        let cs = unsafe { std::slice::from_raw_parts(r.aConstraint, r.nConstraint as usize) };
        cs.iter()
            .enumerate()
            .map(|(i, c)| Constraint { column: c.iColumn, op: c.op, usable: c.usable != 0, index: i })
            .collect()
    }
    pub fn order_by(&self) -> Vec<OrderBy> {
        let r = self.raw();
        if r.nOrderBy <= 0 {
            return Vec::new();
        }
        // SAFETY: aOrderBy has nOrderBy entries.
        let os = unsafe { std::slice::from_raw_parts(r.aOrderBy, r.nOrderBy as usize) };
        os.iter().map(|o| OrderBy { column: o.iColumn, desc: o.desc != 0 }).collect()
    }
    fn usage(&mut self, i: usize) -> &mut ffi::sqlite3_index_constraint_usage {
        let n = self.raw().nConstraint as usize;
        assert!(i < n, "constraint index out of range");
        // SAFETY: bounds checked above.
        unsafe { &mut *self.raw_mut().aConstraintUsage.add(i) }
    }
    pub fn set_argv_index(&mut self, i: usize, argv_index: i32) {
        self.usage(i).argvIndex = argv_index;
    }
    pub fn set_omit(&mut self, i: usize, omit: bool) {
        self.usage(i).omit = omit as u8;
    }
    pub fn set_order_by_consumed(&mut self, v: bool) {
        self.raw_mut().orderByConsumed = v as c_int;
    }
    pub fn set_estimated_cost(&mut self, c: f64) {
        self.raw_mut().estimatedCost = c;
    }
    pub fn set_estimated_rows(&mut self, n: i64) {
        self.raw_mut().estimatedRows = n;
    }
    pub fn set_idx_num(&mut self, n: i32) {
        self.raw_mut().idxNum = n;
    }
    pub fn set_idx_flags(&mut self, f: i32) {
        self.raw_mut().idxFlags = f;
    }
    pub fn col_used(&self) -> u64 {
        self.raw().colUsed
    }
    pub fn set_idx_str(&mut self, s: &str) {
        let r = self.raw_mut();
        if r.needToFreeIdxStr != 0 && !r.idxStr.is_null() {
            unsafe { ffi::sqlite3_free(r.idxStr.cast()) };
        }
        r.idxStr = sqlite_string(s);
        r.needToFreeIdxStr = 1;
    }
    /// Ask SQLite to hand the whole right-hand side of `IN (...)` constraint `i` to xFilter at
    /// once. Returns false when SQLite cannot (then it will call xFilter once per value).
    pub fn handle_in_all_at_once(&mut self, i: usize) -> bool {
        // SAFETY: valid index info and constraint index; 3.38+ API.
        unsafe { super::api::vtab_in(self.ptr, i as c_int, 1) != 0 }
    }
    /// True when constraint `i` is an `IN (...)` that can be handled all at once.
    pub fn is_in(&mut self, i: usize) -> bool {
        unsafe { super::api::vtab_in(self.ptr, i as c_int, -1) != 0 }
    }
    /// The collating sequence of constraint `i` (e.g. "BINARY", "NOCASE").
    pub fn collation(&mut self, i: usize) -> Option<String> {
        // SAFETY: valid during xBestIndex; returns a static or schema-owned string.
        let p = unsafe { ffi::sqlite3_vtab_collation(self.ptr, i as c_int) };
        if p.is_null() { None } else { Some(cstr_arg(p).to_string()) }
    }
    /// The right-hand side of constraint `i` when it is known at plan time.
    pub fn rhs_value(&mut self, i: usize) -> Option<OwnedValue> {
        let mut v: *mut ffi::sqlite3_value = std::ptr::null_mut();
        let rc = unsafe { super::api::vtab_rhs_value(self.ptr, i as c_int, &mut v) };
        if rc != ffi::SQLITE_OK || v.is_null() {
            return None;
        }
        Some(unsafe { ValueRef::from_raw(v) }.get().to_owned_value())
    }
}

/// What xUpdate was asked to do.
pub enum Update<'a> {
    Delete {
        rowid: ValueRef<'a>,
    },
    /// `rowid` is NULL when the INSERT gave none; `values` are the declared columns in order.
    Insert {
        rowid: ValueRef<'a>,
        values: &'a [ValueRef<'a>],
    },
    Update {
        old_rowid: ValueRef<'a>,
        new_rowid: ValueRef<'a>,
        values: &'a [ValueRef<'a>],
    },
}

/// A virtual table. Methods take `&self`: SQLite may interleave calls on several cursors of
/// one table, so mutable state lives behind `Cell`/`RefCell` and is never borrowed across calls.
pub trait VTab: Sized + 'static {
    type Aux: 'static;
    type Cursor: VTabCursor<Table = Self>;

    /// `CREATE VIRTUAL TABLE`: returns the `CREATE TABLE` declaration and the table.
    fn create(db: Db, aux: &Self::Aux, args: &VTabArgs) -> Result<(String, Self)>;
    /// Every later open of an existing table (and of eponymous tables).
    fn connect(db: Db, aux: &Self::Aux, args: &VTabArgs) -> Result<(String, Self)>;
    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<()>;
    fn open(&self) -> Result<Self::Cursor>;
    /// `DROP TABLE`: remove shadow tables.
    fn destroy(&self) -> Result<()> {
        Ok(())
    }
    fn update(&self, _op: Update<'_>) -> Result<i64> {
        Err(Error::invalid("this virtual table is read-only"))
    }
    fn begin(&self) -> Result<()> {
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    fn commit(&self) -> Result<()> {
        Ok(())
    }
    fn rollback(&self) -> Result<()> {
        Ok(())
    }
    fn savepoint(&self, _n: i32) -> Result<()> {
        Ok(())
    }
    fn release(&self, _n: i32) -> Result<()> {
        Ok(())
    }
    fn rollback_to(&self, _n: i32) -> Result<()> {
        Ok(())
    }
    fn rename(&self, _new_name: &str) -> Result<()> {
        Err(Error::invalid("this virtual table cannot be renamed"))
    }
    /// True when `<table>_<suffix>` is one of this module's shadow tables (xShadowName).
    fn is_shadow_name(_suffix: &str) -> bool {
        false
    }
    /// `PRAGMA integrity_check` (SQLite 3.44+): Ok(None) when all is well.
    fn integrity(&self, _schema: &str, _table: &str, _flags: i32) -> Result<Option<String>> {
        Ok(None)
    }
}

pub trait VTabCursor: Sized {
    type Table: VTab;
    fn filter(&mut self, tab: &Self::Table, idx_num: i32, idx_str: Option<&str>, args: &[ValueRef<'_>]) -> Result<()>;
    fn next(&mut self, tab: &Self::Table) -> Result<()>;
    fn eof(&self) -> bool;
    fn column(&mut self, tab: &Self::Table, ctx: &mut Context, i: i32) -> Result<()>;
    fn rowid(&mut self) -> Result<i64>;
}

#[repr(C)]
struct TabBox<T> {
    base: ffi::sqlite3_vtab,
    tab: T,
}

#[repr(C)]
struct CurBox<C> {
    base: ffi::sqlite3_vtab_cursor,
    cur: C,
}

/// `sqlite3_module` laid out as of SQLite 3.44 (iVersion 4, with xIntegrity). Older SQLite reads
/// only the fields its version knows; declaring the struct here keeps it independent of the
/// bindings' version.
#[repr(C)]
pub struct RawModule {
    i_version: c_int,
    x_create: Option<
        unsafe extern "C" fn(
            *mut ffi::sqlite3,
            *mut c_void,
            c_int,
            *const *const c_char,
            *mut *mut ffi::sqlite3_vtab,
            *mut *mut c_char,
        ) -> c_int,
    >,
    x_connect: Option<
        unsafe extern "C" fn(
            *mut ffi::sqlite3,
            *mut c_void,
            c_int,
            *const *const c_char,
            *mut *mut ffi::sqlite3_vtab,
            *mut *mut c_char,
        ) -> c_int,
    >,
    x_best_index: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, *mut ffi::sqlite3_index_info) -> c_int>,
    x_disconnect: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_destroy: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_open: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, *mut *mut ffi::sqlite3_vtab_cursor) -> c_int>,
    x_close: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab_cursor) -> c_int>,
    x_filter: Option<
        unsafe extern "C" fn(
            *mut ffi::sqlite3_vtab_cursor,
            c_int,
            *const c_char,
            c_int,
            *mut *mut ffi::sqlite3_value,
        ) -> c_int,
    >,
    x_next: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab_cursor) -> c_int>,
    x_eof: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab_cursor) -> c_int>,
    x_column: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab_cursor, *mut ffi::sqlite3_context, c_int) -> c_int>,
    x_rowid: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab_cursor, *mut i64) -> c_int>,
    x_update:
        Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, c_int, *mut *mut ffi::sqlite3_value, *mut i64) -> c_int>,
    x_begin: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_sync: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_commit: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_rollback: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab) -> c_int>,
    x_find_function: Option<
        unsafe extern "C" fn(
            *mut ffi::sqlite3_vtab,
            c_int,
            *const c_char,
            *mut Option<unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value)>,
            *mut *mut c_void,
        ) -> c_int,
    >,
    x_rename: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, *const c_char) -> c_int>,
    x_savepoint: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, c_int) -> c_int>,
    x_release: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, c_int) -> c_int>,
    x_rollback_to: Option<unsafe extern "C" fn(*mut ffi::sqlite3_vtab, c_int) -> c_int>,
    x_shadow_name: Option<unsafe extern "C" fn(*const c_char) -> c_int>,
    x_integrity: Option<
        unsafe extern "C" fn(*mut ffi::sqlite3_vtab, *const c_char, *const c_char, c_int, *mut *mut c_char) -> c_int,
    >,
}

// SAFETY: the module is immutable function pointers only.
unsafe impl Sync for RawModule {}

fn tab_of<'a, T: VTab>(p: *mut ffi::sqlite3_vtab) -> &'a T {
    // SAFETY: every sqlite3_vtab we hand out is the first field of a TabBox<T>.
    unsafe { &(*(p as *mut TabBox<T>)).tab }
}

fn set_vtab_error(p: *mut ffi::sqlite3_vtab, e: &Error) -> c_int {
    // SAFETY: p is a valid vtab; zErrMsg is owned by SQLite's allocator.
    unsafe {
        if !(*p).zErrMsg.is_null() {
            ffi::sqlite3_free((*p).zErrMsg.cast());
        }
        (*p).zErrMsg =
            if matches!(e, Error::PlanUnusable) { std::ptr::null_mut() } else { sqlite_string(&e.message()) };
    }
    e.code()
}

/// Run `f`, catching panics; on error store the message on the vtab and return its code.
fn guard_tab(p: *mut ffi::sqlite3_vtab, f: impl FnOnce() -> Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ffi::SQLITE_OK,
        Ok(Err(e)) => set_vtab_error(p, &e),
        Err(panic) => set_vtab_error(p, &panic_error(panic)),
    }
}

fn cursor_parts<'a, T: VTab>(c: *mut ffi::sqlite3_vtab_cursor) -> (&'a mut T::Cursor, &'a T, *mut ffi::sqlite3_vtab) {
    // SAFETY: cursors we hand out are CurBox<T::Cursor>; pVtab is set by SQLite to our table.
    unsafe {
        let cb = c as *mut CurBox<T::Cursor>;
        let vt = (*c).pVtab;
        (&mut (*cb).cur, tab_of::<T>(vt), vt)
    }
}

unsafe fn parse_args(argc: c_int, argv: *const *const c_char) -> VTabArgs {
    let raw: &[*const c_char] = if argc > 0 { unsafe { std::slice::from_raw_parts(argv, argc as usize) } } else { &[] };
    let s = |i: usize| raw.get(i).map(|&p| cstr_arg(p).to_string()).unwrap_or_default();
    VTabArgs { module: s(0), schema: s(1), table: s(2), args: (3..raw.len()).map(s).collect() }
}

unsafe fn construct<T: VTab>(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    pz_err: *mut *mut c_char,
    create: bool,
) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| -> Result<(String, T)> {
        // SAFETY: aux is the Box<T::Aux> registered with the module (or null when T::Aux is ()).
        let aux_ref: &T::Aux = unsafe { &*(aux as *const T::Aux) };
        let args = unsafe { parse_args(argc, argv) };
        let dbh = unsafe { Db::from_raw(db) };
        if create { T::create(dbh, aux_ref, &args) } else { T::connect(dbh, aux_ref, &args) }
    }));
    let err = match r {
        Ok(Ok((schema, tab))) => {
            let c = match CString::new(schema) {
                Ok(c) => c,
                Err(_) => return report(pz_err, &Error::invalid("schema contains NUL")),
            };
            let rc = unsafe { ffi::sqlite3_declare_vtab(db, c.as_ptr()) };
            if rc != ffi::SQLITE_OK {
                let e = unsafe { Db::from_raw(db) }.error(rc).context("declaring the virtual table");
                // Undo what create() did is the table's job on destroy; here we only drop it.
                drop(tab);
                return report(pz_err, &e);
            }
            let bx = Box::new(TabBox::<T> { base: unsafe { std::mem::zeroed() }, tab });
            unsafe { *pp_vtab = Box::into_raw(bx).cast() };
            return ffi::SQLITE_OK;
        }
        Ok(Err(e)) => e,
        Err(p) => panic_error(p),
    };
    report(pz_err, &err)
}

fn report(pz_err: *mut *mut c_char, e: &Error) -> c_int {
    if !pz_err.is_null() {
        unsafe { *pz_err = sqlite_string(&e.message()) };
    }
    e.code()
}

unsafe extern "C" fn x_create<T: VTab>(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    unsafe { construct::<T>(db, aux, argc, argv, pp, err, true) }
}
unsafe extern "C" fn x_connect<T: VTab>(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    unsafe { construct::<T>(db, aux, argc, argv, pp, err, false) }
}
unsafe extern "C" fn x_best_index<T: VTab>(p: *mut ffi::sqlite3_vtab, info: *mut ffi::sqlite3_index_info) -> c_int {
    guard_tab(p, || {
        let mut ii = IndexInfo { ptr: info, _life: PhantomData };
        tab_of::<T>(p).best_index(&mut ii)
    })
}
unsafe extern "C" fn x_disconnect<T: VTab>(p: *mut ffi::sqlite3_vtab) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: p came from Box::into_raw in construct.
        drop(unsafe { Box::from_raw(p as *mut TabBox<T>) });
    }));
    ffi::SQLITE_OK
}
unsafe extern "C" fn x_destroy<T: VTab>(p: *mut ffi::sqlite3_vtab) -> c_int {
    let rc = guard_tab(p, || tab_of::<T>(p).destroy());
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    unsafe { x_disconnect::<T>(p) }
}
unsafe extern "C" fn x_open<T: VTab>(p: *mut ffi::sqlite3_vtab, pp: *mut *mut ffi::sqlite3_vtab_cursor) -> c_int {
    guard_tab(p, || {
        let cur = tab_of::<T>(p).open()?;
        let bx = Box::new(CurBox { base: unsafe { std::mem::zeroed::<ffi::sqlite3_vtab_cursor>() }, cur });
        unsafe { *pp = Box::into_raw(bx).cast() };
        Ok(())
    })
}
unsafe extern "C" fn x_close<T: VTab>(c: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: c came from Box::into_raw in x_open.
        drop(unsafe { Box::from_raw(c as *mut CurBox<T::Cursor>) });
    }));
    ffi::SQLITE_OK
}
unsafe extern "C" fn x_filter<T: VTab>(
    c: *mut ffi::sqlite3_vtab_cursor,
    idx_num: c_int,
    idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    let (cur, tab, vt) = cursor_parts::<T>(c);
    guard_tab(vt, || {
        let s = if idx_str.is_null() { None } else { Some(cstr_arg(idx_str)) };
        let args = unsafe { args_from_raw(argc, argv) };
        cur.filter(tab, idx_num, s, &args)
    })
}
unsafe extern "C" fn x_next<T: VTab>(c: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    let (cur, tab, vt) = cursor_parts::<T>(c);
    guard_tab(vt, || cur.next(tab))
}
unsafe extern "C" fn x_eof<T: VTab>(c: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    let (cur, _, _) = cursor_parts::<T>(c);
    catch_unwind(AssertUnwindSafe(|| cur.eof())).unwrap_or(true) as c_int
}
unsafe extern "C" fn x_column<T: VTab>(
    c: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    i: c_int,
) -> c_int {
    let (cur, tab, _) = cursor_parts::<T>(c);
    let mut context = unsafe { Context::from_raw(ctx) };
    let r = catch_unwind(AssertUnwindSafe(|| cur.column(tab, &mut context, i)));
    let e = match r {
        Ok(Ok(())) => return ffi::SQLITE_OK,
        Ok(Err(e)) => e,
        Err(p) => panic_error(p),
    };
    context.set_error(&e);
    e.code()
}
unsafe extern "C" fn x_rowid<T: VTab>(c: *mut ffi::sqlite3_vtab_cursor, out: *mut i64) -> c_int {
    let (cur, _, vt) = cursor_parts::<T>(c);
    guard_tab(vt, || {
        let r = cur.rowid()?;
        unsafe { *out = r };
        Ok(())
    })
}
unsafe extern "C" fn x_update<T: VTab>(
    p: *mut ffi::sqlite3_vtab,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
    out_rowid: *mut i64,
) -> c_int {
    guard_tab(p, || {
        let args = unsafe { args_from_raw(argc, argv) };
        let op = if args.len() == 1 {
            Update::Delete { rowid: args[0] }
        } else if args.len() < 2 {
            return Err(Error::invalid("xUpdate called with no arguments"));
        } else if args[0].get().is_null() {
            Update::Insert { rowid: args[1], values: &args[2..] }
        } else {
            Update::Update { old_rowid: args[0], new_rowid: args[1], values: &args[2..] }
        };
        let is_insert = matches!(op, Update::Insert { .. });
        let r = tab_of::<T>(p).update(op)?;
        if is_insert && !out_rowid.is_null() {
            unsafe { *out_rowid = r };
        }
        Ok(())
    })
}
macro_rules! tx_hook {
    ($name:ident, $method:ident) => {
        unsafe extern "C" fn $name<T: VTab>(p: *mut ffi::sqlite3_vtab) -> c_int {
            guard_tab(p, || tab_of::<T>(p).$method())
        }
    };
    ($name:ident, $method:ident, int) => {
        unsafe extern "C" fn $name<T: VTab>(p: *mut ffi::sqlite3_vtab, n: c_int) -> c_int {
            guard_tab(p, || tab_of::<T>(p).$method(n))
        }
    };
}
tx_hook!(x_begin, begin);
tx_hook!(x_sync, sync);
tx_hook!(x_commit, commit);
tx_hook!(x_rollback, rollback);
tx_hook!(x_savepoint, savepoint, int);
tx_hook!(x_release, release, int);
tx_hook!(x_rollback_to, rollback_to, int);

unsafe extern "C" fn x_rename<T: VTab>(p: *mut ffi::sqlite3_vtab, new_name: *const c_char) -> c_int {
    guard_tab(p, || tab_of::<T>(p).rename(cstr_arg(new_name)))
}
unsafe extern "C" fn x_shadow_name<T: VTab>(name: *const c_char) -> c_int {
    catch_unwind(|| T::is_shadow_name(cstr_arg(name))).unwrap_or(false) as c_int
}
unsafe extern "C" fn x_integrity<T: VTab>(
    p: *mut ffi::sqlite3_vtab,
    schema: *const c_char,
    table: *const c_char,
    flags: c_int,
    pz_err: *mut *mut c_char,
) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| tab_of::<T>(p).integrity(cstr_arg(schema), cstr_arg(table), flags)));
    match r {
        Ok(Ok(None)) => ffi::SQLITE_OK,
        Ok(Ok(Some(problems))) => {
            if !pz_err.is_null() {
                unsafe { *pz_err = sqlite_string(&problems) };
            }
            ffi::SQLITE_OK
        }
        Ok(Err(e)) => {
            if !pz_err.is_null() {
                unsafe { *pz_err = sqlite_string(&e.message()) };
            }
            e.code()
        }
        Err(panic) => {
            let e = panic_error(panic);
            if !pz_err.is_null() {
                unsafe { *pz_err = sqlite_string(&e.message()) };
            }
            e.code()
        }
    }
}

/// Which optional hooks a module has.
pub struct ModuleKind {
    /// No xCreate: the table exists in every schema under the module's name (table-valued functions).
    pub eponymous_only: bool,
    pub writable: bool,
    /// The module has shadow tables named `<table>_<suffix>` ([`VTab::is_shadow_name`]).
    pub shadow_tables: bool,
}

/// Builds the module table for `T`. Returned boxed once per registration and leaked only when
/// SQLite never calls the destructor (it always does).
pub fn module<T: VTab>(kind: &ModuleKind) -> RawModule {
    RawModule {
        i_version: 4,
        x_create: if kind.eponymous_only { None } else { Some(x_create::<T>) },
        x_connect: Some(x_connect::<T>),
        x_best_index: Some(x_best_index::<T>),
        x_disconnect: Some(x_disconnect::<T>),
        x_destroy: if kind.eponymous_only { Some(x_disconnect::<T>) } else { Some(x_destroy::<T>) },
        x_open: Some(x_open::<T>),
        x_close: Some(x_close::<T>),
        x_filter: Some(x_filter::<T>),
        x_next: Some(x_next::<T>),
        x_eof: Some(x_eof::<T>),
        x_column: Some(x_column::<T>),
        x_rowid: Some(x_rowid::<T>),
        x_update: if kind.writable { Some(x_update::<T>) } else { None },
        x_begin: if kind.writable { Some(x_begin::<T>) } else { None },
        x_sync: if kind.writable { Some(x_sync::<T>) } else { None },
        x_commit: if kind.writable { Some(x_commit::<T>) } else { None },
        x_rollback: if kind.writable { Some(x_rollback::<T>) } else { None },
        x_find_function: None,
        x_rename: if kind.eponymous_only { None } else { Some(x_rename::<T>) },
        x_savepoint: if kind.writable { Some(x_savepoint::<T>) } else { None },
        x_release: if kind.writable { Some(x_release::<T>) } else { None },
        x_rollback_to: if kind.writable { Some(x_rollback_to::<T>) } else { None },
        x_shadow_name: if kind.shadow_tables { Some(x_shadow_name::<T>) } else { None },
        x_integrity: if kind.eponymous_only { None } else { Some(x_integrity::<T>) },
    }
}

struct ModuleData<T: VTab> {
    // Must stay first: SQLite's pAux points at the Aux value.
    aux: T::Aux,
    module: RawModule,
}

unsafe extern "C" fn drop_module_data<T: VTab>(p: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(p as *mut ModuleData<T>) })));
}

/// Register module `name` on `db`. The module table and `aux` live until SQLite drops the
/// module (connection close), when the destructor frees them.
pub fn create_module<T: VTab>(db: Db, name: &str, kind: &ModuleKind, aux: T::Aux) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::invalid("module name contains NUL"))?;
    let data = Box::into_raw(Box::new(ModuleData::<T> { aux, module: module::<T>(kind) }));
    // SAFETY: data stays valid until drop_module_data runs; pAux points at `aux`.
    let rc = unsafe {
        ffi::sqlite3_create_module_v2(
            db.as_ptr(),
            cname.as_ptr(),
            (&(*data).module as *const RawModule).cast(),
            (&mut (*data).aux as *mut T::Aux).cast(),
            Some(drop_aux_of::<T>),
        )
    };
    // On failure sqlite3_create_module_v2 has already called the destructor.
    if rc != ffi::SQLITE_OK {
        return Err(db.error(rc).context(&format!("registering module {name}")));
    }
    Ok(())
}

/// The destructor receives pAux (the `aux` field): recover the containing ModuleData.
unsafe extern "C" fn drop_aux_of<T: VTab>(p: *mut c_void) {
    let offset = std::mem::offset_of!(ModuleData<T>, aux);
    let base = unsafe { (p as *mut u8).sub(offset) } as *mut c_void;
    unsafe { drop_module_data::<T>(base) };
}

/// Configure the virtual table being created/connected (call from create/connect only).
pub fn vtab_config_constraint_support(db: Db) {
    unsafe { super::api::vtab_config_int(db.as_ptr(), ffi::SQLITE_VTAB_CONSTRAINT_SUPPORT, 1) };
}
pub fn vtab_config_innocuous(db: Db) {
    unsafe { super::api::vtab_config(db.as_ptr(), ffi::SQLITE_VTAB_INNOCUOUS) };
}
