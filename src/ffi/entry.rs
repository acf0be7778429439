//! Entry points: the loadable extension's `sqlite3_vindex_init`, static registration for Rust
//! apps, and the auto-extension hook.

use super::stmt::Db;
use crate::error::Error;
pub use ffi::{sqlite3, sqlite3_api_routines};
use libsqlite3_sys as ffi;
use std::os::raw::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn write_err(pz_err: *mut *mut c_char, msg: &str) {
    if pz_err.is_null() {
        return;
    }
    let bytes = msg.as_bytes();
    // SAFETY: SQLite frees *pz_err with sqlite3_free, so allocate with sqlite3_malloc64.
    unsafe {
        let p = ffi::sqlite3_malloc64(bytes.len() as u64 + 1) as *mut u8;
        if !p.is_null() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            *p.add(bytes.len()) = 0;
        }
        *pz_err = p.cast();
    }
}

/// What the extension registers on each connection (the crate root passes its own).
pub type Registrar = fn(Db) -> Result<(), Error>;

fn init(db: *mut ffi::sqlite3, pz_err: *mut *mut c_char, register: Registrar) -> c_int {
    let version = super::api::libversion_number();
    if version < super::api::MIN_SQLITE_VERSION {
        write_err(
            pz_err,
            &format!("vindex needs SQLite 3.38.0 or newer; this process runs SQLite {}", fmt_version(version)),
        );
        return ffi::SQLITE_ERROR;
    }
    // SAFETY: SQLite hands us a valid connection for the duration of the call.
    let handle = unsafe { Db::from_raw(db) };
    match catch_unwind(AssertUnwindSafe(|| register(handle))) {
        Ok(Ok(())) => ffi::SQLITE_OK,
        Ok(Err(e)) => {
            write_err(pz_err, &e.message());
            e.code()
        }
        Err(p) => {
            let e = super::func::panic_error(p);
            write_err(pz_err, &e.message());
            e.code()
        }
    }
}

fn fmt_version(v: c_int) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// The body of the loadable extension's entry point: remember SQLite's api-routines table,
/// then register.
///
/// # Safety
/// The arguments SQLite passes to a loadable extension's entry point.
#[cfg(feature = "loadable")]
pub unsafe fn init_loadable(
    db: *mut ffi::sqlite3,
    pz_err: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
    register: Registrar,
) -> c_int {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // One copy of the file serves one SQLite library: every call goes through the table the
        // first load remembered. A second, different library (two Python bindings in one
        // process, say) must load its own copy of the file.
        let first = super::api::current_api();
        if !first.is_null() && first != p_api {
            return Err("vindex is already loaded into another SQLite library in this process; \
                        load a separate copy of the extension file into each library"
                .to_string());
        }
        // SAFETY: p_api is SQLite's own table.
        if let Err(e) = unsafe { ffi::rusqlite_extension_init2(p_api) } {
            return Err(format!("vindex cannot start: {e}"));
        }
        super::api::set_api(p_api);
        Ok(())
    }));
    match r {
        Ok(Ok(())) => init(db, pz_err, register),
        Ok(Err(msg)) => {
            // The bindings' functions are not initialised: allocate through SQLite's table.
            unsafe { super::api::write_err_uninitialised(p_api, pz_err, &msg) };
            ffi::SQLITE_ERROR
        }
        Err(_) => ffi::SQLITE_ERROR,
    }
}

/// The body of an auto-extension hook (static builds).
///
/// # Safety
/// The arguments SQLite passes to an auto-extension.
pub unsafe fn init_auto(db: *mut ffi::sqlite3, pz_err: *mut *mut c_char, register: Registrar) -> c_int {
    init(db, pz_err, register)
}

/// Register on an open connection of a Rust app that links this crate statically.
///
/// # Safety
/// `db` must be a valid, open connection handle, used only from this thread during the call.
pub unsafe fn register_on(db: *mut ffi::sqlite3, register: Registrar) -> Result<(), Error> {
    if db.is_null() {
        return Err(Error::invalid("vindex::register: null connection handle"));
    }
    let mut err: *mut c_char = std::ptr::null_mut();
    let rc = init(db, &mut err, register);
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    let msg = if err.is_null() {
        "vindex: registration failed".to_string()
    } else {
        // SAFETY: write_err produced a NUL-terminated sqlite3_malloc string.
        let m = unsafe { std::ffi::CStr::from_ptr(err) }.to_string_lossy().into_owned();
        unsafe { ffi::sqlite3_free(err.cast()) };
        m
    };
    Err(Error::Sqlite { code: rc, msg })
}

/// The signature of an auto-extension hook.
pub type AutoInit =
    unsafe extern "C" fn(*mut ffi::sqlite3, *mut *mut c_char, *const ffi::sqlite3_api_routines) -> c_int;

/// `sqlite3_auto_extension(hook)`: every connection opened from now on runs `hook`.
#[cfg(not(feature = "loadable"))]
pub fn auto_extension(hook: AutoInit) -> Result<(), Error> {
    // SAFETY: hook is a valid extern "C" function for the life of the process.
    let rc = unsafe { ffi::sqlite3_auto_extension(Some(hook)) };
    if rc != ffi::SQLITE_OK {
        return Err(Error::Sqlite { code: rc, msg: "sqlite3_auto_extension failed".into() });
    }
    Ok(())
}

/// Defines the crate's entry points around a registration function: the loadable extension's
/// `sqlite3_vindex_init` (feature `loadable`), `register(db)` for Rust apps and
/// `register_auto_extension()`. A macro so that the crate root, which knows what to register,
/// expands it, and this module (where the `unsafe` is written) needs nothing from above.
#[macro_export]
#[doc(hidden)]
macro_rules! define_entry_points {
    ($register:path) => {
        /// The loadable extension's entry point. SQLite derives its name from `vindex.so`.
        ///
        /// # Safety
        /// Called by SQLite with a valid connection and api-routines table.
        #[cfg(feature = "loadable")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sqlite3_vindex_init(
            db: *mut $crate::ffi::entry::sqlite3,
            pz_err: *mut *mut ::std::os::raw::c_char,
            p_api: *mut $crate::ffi::entry::sqlite3_api_routines,
        ) -> ::std::os::raw::c_int {
            // SAFETY: forwarded as SQLite passed them.
            unsafe { $crate::ffi::entry::init_loadable(db, pz_err, p_api, $register) }
        }

        /// Register vindex's functions and modules on one open connection of a Rust app that
        /// links this crate statically (with rusqlite: `conn.handle()`). Other connections are
        /// left alone; [`register_auto_extension`] registers on every connection instead.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let conn = rusqlite::Connection::open_in_memory()?;
        /// // SAFETY: conn.handle() is this open connection, used on this thread.
        /// unsafe { vindex::register(conn.handle())? };
        /// let v: String = conn.query_row("SELECT vec_to_json(vec_f32('[1, 2]'))", [], |r| r.get(0))?;
        /// assert_eq!(v, "[1.000000,2.000000]");
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        /// When the connection's SQLite is older than 3.38, or refuses a registration.
        ///
        /// # Safety
        /// `db` must be a valid, open connection handle, used only from this thread during the call.
        #[allow(unsafe_code)]
        pub unsafe fn register(db: *mut $crate::ffi::entry::sqlite3) -> $crate::Result<()> {
            // SAFETY: the caller's promise.
            unsafe { $crate::ffi::entry::register_on(db, $register) }
        }

        #[cfg(not(feature = "loadable"))]
        #[allow(unsafe_code)]
        unsafe extern "C" fn auto_init(
            db: *mut $crate::ffi::entry::sqlite3,
            pz_err: *mut *mut ::std::os::raw::c_char,
            _p_api: *const $crate::ffi::entry::sqlite3_api_routines,
        ) -> ::std::os::raw::c_int {
            // SAFETY: forwarded as SQLite passed them.
            unsafe { $crate::ffi::entry::init_auto(db, pz_err, $register) }
        }

        /// Make every connection opened from now on in this process load vindex
        /// (`sqlite3_auto_extension`). Only for apps that link SQLite and vindex statically;
        /// calling it again does nothing more. Connections opened before are not changed (use
        /// [`register`] on them).
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// vindex::register_auto_extension()?;
        /// let conn = rusqlite::Connection::open_in_memory()?;
        /// conn.execute_batch(
        ///     "CREATE VIRTUAL TABLE t USING vindex(v float[2]);
        ///      INSERT INTO t(rowid, v) VALUES (1, '[0, 0]'), (2, '[5, 5]'), (3, '[1, 1]');",
        /// )?;
        /// let nearest: i64 = conn.query_row("SELECT rowid FROM t WHERE v MATCH '[4, 4]' AND k = 1", [], |r| r.get(0))?;
        /// assert_eq!(nearest, 2);
        /// # Ok(())
        /// # }
        /// ```
        #[cfg(not(feature = "loadable"))]
        pub fn register_auto_extension() -> $crate::Result<()> {
            $crate::ffi::entry::auto_extension(auto_init)
        }
    };
}
