//! SQLite C API entries that the libsqlite3-sys bindings we may build against (the oldest, 0.38,
//! has the 3.34.1 API) do not all cover: the 3.38 virtual-table helpers (`sqlite3_vtab_in`,
//! `sqlite3_vtab_rhs_value`), and `sqlite3_vtab_config` with its variadic argument.
//!
//! In the loadable build every call goes through the `sqlite3_api_routines` table that SQLite
//! passes to the entry point. That table is an array of function pointers whose order SQLite
//! never changes (`sqlite3ext.h` only appends), but each libsqlite3-sys release declares a
//! different length of it (0.38: up to 3.34's `txn_state`; 0.39 and 0.40: a dozen more), so no
//! struct of ours may extend the bindings' struct: after a longer one, our fields would sit at
//! the wrong offsets. The 3.38 entries are read instead by their fixed slot number in SQLite's
//! table ([`slot`]), and a compile-time check ties the bindings to that numbering: `txn_state`
//! must be slot 252 in any bindings we build against, or the build stops. The run-time version
//! check (3.38.0 or newer) guarantees that SQLite's table has the slots read here. In a static
//! build (Rust apps, `cargo test`) the symbols are linked directly.
use libsqlite3_sys as ffi;
use std::os::raw::c_int;

/// Minimum SQLite run-time version we support (3.38.0 introduced `sqlite3_vtab_in`).
pub const MIN_SQLITE_VERSION: c_int = 3_038_000;

// Safety of every function below: the pointers must be the ones SQLite passed to the
// current callback (index info in xBestIndex, values in xFilter, the connection in
// xCreate/xConnect), as for the C functions of the same names.
#[cfg(feature = "loadable")]
#[allow(clippy::missing_safety_doc)]
mod imp {
    use super::*;
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// Slot of `txn_state`, the last entry of SQLite 3.34's table (counting from 0).
    const TXN_STATE: usize = 252;
    const _: () = assert!(
        std::mem::offset_of!(ffi::sqlite3_api_routines, txn_state) == TXN_STATE * size_of::<*const ()>(),
        "these libsqlite3-sys bindings do not lay out sqlite3_api_routines as sqlite3ext.h does: \
         vindex's loadable build cannot use them"
    );
    // The entries added by 3.36.1 (changes64, total_changes64), 3.37 (autovacuum_pages) and
    // 3.38 (error_offset, vtab_rhs_value, vtab_distinct, vtab_in, vtab_in_first, vtab_in_next).
    const VTAB_RHS_VALUE: usize = TXN_STATE + 5;
    const VTAB_IN: usize = TXN_STATE + 7;
    const VTAB_IN_FIRST: usize = TXN_STATE + 8;
    const VTAB_IN_NEXT: usize = TXN_STATE + 9;

    static API: AtomicPtr<ffi::sqlite3_api_routines> = AtomicPtr::new(std::ptr::null_mut());

    /// Remember the api table (called from the entry point, after the version check).
    pub fn set_api(p: *mut ffi::sqlite3_api_routines) {
        API.store(p, Ordering::Release);
    }

    /// The api table remembered by the first load (null before it).
    pub fn current_api() -> *mut ffi::sqlite3_api_routines {
        API.load(Ordering::Acquire)
    }

    fn api() -> &'static ffi::sqlite3_api_routines {
        let p = API.load(Ordering::Acquire);
        assert!(!p.is_null(), "vindex: SQLite API table not initialised");
        // SAFETY: set from the pointer SQLite passed to the entry point, which lives as long
        // as the process; only the prefix every supported SQLite has is read through it.
        unsafe { &*p }
    }

    /// Entry `i` of SQLite's api-routines table, as a function pointer of type `F`.
    ///
    /// # Safety
    /// `F` must be `Option<unsafe extern "C" fn(...)>` with the signature sqlite3ext.h gives
    /// slot `i`, and the running SQLite's table must have slot `i` (3.38+ for the slots above).
    unsafe fn slot<F: Copy>(i: usize) -> F {
        const { assert!(size_of::<F>() == size_of::<*const ()>()) };
        let p = API.load(Ordering::Acquire);
        assert!(!p.is_null(), "vindex: SQLite API table not initialised");
        // SAFETY: the table is an array of pointer-sized function pointers (Option<fn> has the
        // layout of a nullable pointer); the caller guarantees slot `i` exists and has type F.
        unsafe { p.cast::<F>().add(i).read() }
    }

    type VtabInFn = Option<unsafe extern "C" fn(*mut ffi::sqlite3_index_info, c_int, c_int) -> c_int>;
    type VtabInIterFn = Option<unsafe extern "C" fn(*mut ffi::sqlite3_value, *mut *mut ffi::sqlite3_value) -> c_int>;
    type VtabRhsFn =
        Option<unsafe extern "C" fn(*mut ffi::sqlite3_index_info, c_int, *mut *mut ffi::sqlite3_value) -> c_int>;

    /// Bindings newer than 0.38 (SQLite 3.34.1) would make the extension refuse, at load time,
    /// every SQLite older than themselves (0.40: 3.45.3), while vindex supports 3.38 and up.
    const _: () = assert!(
        ffi::SQLITE_VERSION_NUMBER < MIN_SQLITE_VERSION,
        "the loadable build needs libsqlite3-sys 0.38 (bindings for SQLite 3.34.1); newer bindings \
         refuse to load into SQLite older than themselves. Run `cargo update -p libsqlite3-sys \
         --precise 0.38.2` (Cargo.lock keeps it)"
    );

    /// Set `*pz_err` to `msg` when the entry point fails before the bindings were initialised
    /// (their `sqlite3_malloc64` would panic, which aborts the host in an `extern "C"` fn): the
    /// memory comes from `malloc64` in SQLite's own table, which frees it with `sqlite3_free`.
    ///
    /// # Safety
    /// `p_api` and `pz_err` as SQLite passed them to the entry point (`pz_err` may be NULL).
    pub unsafe fn write_err_uninitialised(
        p_api: *const ffi::sqlite3_api_routines,
        pz_err: *mut *mut std::os::raw::c_char,
        msg: &str,
    ) {
        if pz_err.is_null() || p_api.is_null() {
            return;
        }
        // SAFETY: SQLite's table has `malloc64` (3.8.7+); the copy stays inside the allocation.
        unsafe {
            let Some(malloc64) = (*p_api).malloc64 else { return };
            let p = malloc64(msg.len() as u64 + 1).cast::<u8>();
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), p, msg.len());
                *p.add(msg.len()) = 0;
            }
            *pz_err = p.cast();
        }
    }

    pub unsafe fn vtab_in(info: *mut ffi::sqlite3_index_info, i: c_int, handle: c_int) -> c_int {
        match unsafe { slot::<VtabInFn>(VTAB_IN) } {
            Some(f) => unsafe { f(info, i, handle) },
            None => 0,
        }
    }
    pub unsafe fn vtab_in_first(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        match unsafe { slot::<VtabInIterFn>(VTAB_IN_FIRST) } {
            Some(f) => unsafe { f(v, out) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_in_next(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        match unsafe { slot::<VtabInIterFn>(VTAB_IN_NEXT) } {
            Some(f) => unsafe { f(v, out) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_rhs_value(
        info: *mut ffi::sqlite3_index_info,
        i: c_int,
        out: *mut *mut ffi::sqlite3_value,
    ) -> c_int {
        match unsafe { slot::<VtabRhsFn>(VTAB_RHS_VALUE) } {
            Some(f) => unsafe { f(info, i, out) },
            None => ffi::SQLITE_NOTFOUND,
        }
    }
    pub unsafe fn vtab_config_int(db: *mut ffi::sqlite3, op: c_int, val: c_int) -> c_int {
        match api().vtab_config {
            Some(f) => unsafe { f(db, op, val) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_config(db: *mut ffi::sqlite3, op: c_int) -> c_int {
        match api().vtab_config {
            Some(f) => unsafe { f(db, op) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn str_append_double(s: *mut ffi::sqlite3_str, fmt: *const std::os::raw::c_char, x: f64) {
        if let Some(f) = api().str_appendf {
            unsafe { f(s, fmt, x) }
        }
    }
}

#[cfg(not(feature = "loadable"))]
#[allow(clippy::missing_safety_doc)]
mod imp {
    use super::*;

    unsafe extern "C" {
        fn sqlite3_vtab_in(info: *mut ffi::sqlite3_index_info, i: c_int, handle: c_int) -> c_int;
        fn sqlite3_vtab_in_first(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int;
        fn sqlite3_vtab_in_next(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int;
        fn sqlite3_vtab_rhs_value(
            info: *mut ffi::sqlite3_index_info,
            i: c_int,
            out: *mut *mut ffi::sqlite3_value,
        ) -> c_int;
        fn sqlite3_vtab_config(db: *mut ffi::sqlite3, op: c_int, ...) -> c_int;
        fn sqlite3_str_appendf(s: *mut ffi::sqlite3_str, fmt: *const std::os::raw::c_char, ...);
    }

    pub fn set_api(_p: *mut ffi::sqlite3_api_routines) {}

    pub unsafe fn vtab_in(info: *mut ffi::sqlite3_index_info, i: c_int, handle: c_int) -> c_int {
        unsafe { sqlite3_vtab_in(info, i, handle) }
    }
    pub unsafe fn vtab_in_first(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        unsafe { sqlite3_vtab_in_first(v, out) }
    }
    pub unsafe fn vtab_in_next(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        unsafe { sqlite3_vtab_in_next(v, out) }
    }
    pub unsafe fn vtab_rhs_value(
        info: *mut ffi::sqlite3_index_info,
        i: c_int,
        out: *mut *mut ffi::sqlite3_value,
    ) -> c_int {
        unsafe { sqlite3_vtab_rhs_value(info, i, out) }
    }
    pub unsafe fn vtab_config_int(db: *mut ffi::sqlite3, op: c_int, val: c_int) -> c_int {
        unsafe { sqlite3_vtab_config(db, op, val) }
    }
    pub unsafe fn vtab_config(db: *mut ffi::sqlite3, op: c_int) -> c_int {
        unsafe { sqlite3_vtab_config(db, op) }
    }
    pub unsafe fn str_append_double(s: *mut ffi::sqlite3_str, fmt: *const std::os::raw::c_char, x: f64) {
        unsafe { sqlite3_str_appendf(s, fmt, x) }
    }
}

pub use imp::*;

/// SQLITE_INDEX_CONSTRAINT_LIMIT / OFFSET (3.38), absent from the 3.34.1 bindings.
pub const INDEX_CONSTRAINT_LIMIT: u8 = 73;
pub const INDEX_CONSTRAINT_OFFSET: u8 = 74;
/// SQLITE_RESULT_SUBTYPE (3.45): ignored by older SQLite.
pub const SQLITE_RESULT_SUBTYPE: c_int = 0x0100_0000;

/// Format every value with SQLite's own `printf("%f")` (the formatting sqlite-vec's
/// `vec_to_json` uses, which differs from C's and Rust's in rounding and beyond 16 digits),
/// joined by `sep`.
pub fn sqlite_format_f(values: impl Iterator<Item = f64>, sep: &str, out: &mut String) {
    // SAFETY: sqlite3_str_new(NULL) returns a valid (possibly error-state) builder; we append
    // with a constant format and one double, then take ownership of the result and free it.
    unsafe {
        let s = ffi::sqlite3_str_new(std::ptr::null_mut());
        for (i, x) in values.enumerate() {
            if i > 0 {
                ffi::sqlite3_str_append(s, sep.as_ptr().cast(), sep.len() as c_int);
            }
            str_append_double(s, c"%f".as_ptr(), x);
        }
        let len = ffi::sqlite3_str_length(s);
        let p = ffi::sqlite3_str_finish(s);
        if !p.is_null() {
            let bytes = std::slice::from_raw_parts(p as *const u8, len.max(0) as usize);
            out.push_str(&String::from_utf8_lossy(bytes));
            ffi::sqlite3_free(p.cast());
        }
    }
}

/// Run-time SQLite version number (e.g. 3040001).
pub fn libversion_number() -> c_int {
    // SAFETY: no arguments, always callable once the API is initialised.
    unsafe { ffi::sqlite3_libversion_number() }
}
