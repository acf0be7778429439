//! SQLite C API entries that the libsqlite3-sys bindings we build against (3.34.1) do not
//! cover: the 3.38 virtual-table helpers (`sqlite3_vtab_in`, `sqlite3_vtab_rhs_value`), and
//! `sqlite3_vtab_config` with its variadic argument.
//!
//! In the loadable build every call goes through the `sqlite3_api_routines` table that SQLite
//! passes to the entry point; the table only ever grows at its end, so [`ApiExt`] re-declares
//! the fields added from 3.36.1 to 3.38.0 after the 3.34.1 layout. In a static build (Rust
//! apps, `cargo test`) the symbols are linked directly.

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

    /// The api-routines table with the fields SQLite added after 3.34 (sqlite3ext.h order).
    #[repr(C)]
    pub struct ApiExt {
        pub base: ffi::sqlite3_api_routines,
        pub changes64: *const (),
        pub total_changes64: *const (),
        pub autovacuum_pages: *const (),
        pub error_offset: *const (),
        pub vtab_rhs_value:
            Option<unsafe extern "C" fn(*mut ffi::sqlite3_index_info, c_int, *mut *mut ffi::sqlite3_value) -> c_int>,
        pub vtab_distinct: Option<unsafe extern "C" fn(*mut ffi::sqlite3_index_info) -> c_int>,
        pub vtab_in: Option<unsafe extern "C" fn(*mut ffi::sqlite3_index_info, c_int, c_int) -> c_int>,
        pub vtab_in_first: Option<unsafe extern "C" fn(*mut ffi::sqlite3_value, *mut *mut ffi::sqlite3_value) -> c_int>,
        pub vtab_in_next: Option<unsafe extern "C" fn(*mut ffi::sqlite3_value, *mut *mut ffi::sqlite3_value) -> c_int>,
    }

    static API: AtomicPtr<ApiExt> = AtomicPtr::new(std::ptr::null_mut());

    /// Remember the api table (called from the entry point, after the version check).
    pub fn set_api(p: *mut ffi::sqlite3_api_routines) {
        API.store(p.cast(), Ordering::Release);
    }

    fn api() -> &'static ApiExt {
        let p = API.load(Ordering::Acquire);
        assert!(!p.is_null(), "vindex: SQLite API table not initialised");
        // SAFETY: set from the pointer SQLite passed to the entry point, which lives as long
        // as the process; the version check guarantees the table has the 3.38 fields.
        unsafe { &*p }
    }

    pub unsafe fn vtab_in(info: *mut ffi::sqlite3_index_info, i: c_int, handle: c_int) -> c_int {
        match api().vtab_in {
            Some(f) => unsafe { f(info, i, handle) },
            None => 0,
        }
    }
    pub unsafe fn vtab_in_first(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        match api().vtab_in_first {
            Some(f) => unsafe { f(v, out) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_in_next(v: *mut ffi::sqlite3_value, out: *mut *mut ffi::sqlite3_value) -> c_int {
        match api().vtab_in_next {
            Some(f) => unsafe { f(v, out) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_rhs_value(
        info: *mut ffi::sqlite3_index_info,
        i: c_int,
        out: *mut *mut ffi::sqlite3_value,
    ) -> c_int {
        match api().vtab_rhs_value {
            Some(f) => unsafe { f(info, i, out) },
            None => ffi::SQLITE_NOTFOUND,
        }
    }
    pub unsafe fn vtab_config_int(db: *mut ffi::sqlite3, op: c_int, val: c_int) -> c_int {
        match api().base.vtab_config {
            Some(f) => unsafe { f(db, op, val) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn vtab_config(db: *mut ffi::sqlite3, op: c_int) -> c_int {
        match api().base.vtab_config {
            Some(f) => unsafe { f(db, op) },
            None => ffi::SQLITE_MISUSE,
        }
    }
    pub unsafe fn str_append_double(s: *mut ffi::sqlite3_str, fmt: *const std::os::raw::c_char, x: f64) {
        if let Some(f) = api().base.str_appendf {
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
