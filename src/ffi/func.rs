//! Scalar SQL functions: registration and the panic-catching trampoline.

use super::stmt::Db;
use super::value::{Context, ValueRef};
use crate::error::{Error, Result, code};
use crate::value::{Arg, Output, SqlValue};
use libsqlite3_sys as ffi;
use std::ffi::CString;
use std::os::raw::c_int;

/// A pure scalar function: arguments in, one value (with an optional subtype) out.
pub type ScalarFn = fn(&[Arg<'_>]) -> Result<Output>;

/// Flags for a function that is deterministic, safe in triggers/views, and reads and writes
/// subtypes.
pub fn default_flags() -> c_int {
    ffi::SQLITE_UTF8
        | ffi::SQLITE_DETERMINISTIC
        | ffi::SQLITE_INNOCUOUS
        | ffi::SQLITE_SUBTYPE
        | super::api::SQLITE_RESULT_SUBTYPE
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

pub(crate) fn panic_error(p: Box<dyn std::any::Any + Send>) -> Error {
    Error::Sqlite {
        code: code::INTERNAL,
        msg: format!("vindex internal error (please report): {}", panic_message(&*p)),
    }
}

type Trampoline = unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);

/// The argument pointers of one call.
///
/// # Safety
/// `argv` must hold `argc` valid values for the duration of the call (SQLite's contract).
unsafe fn raw_args<'a>(argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> &'a [*mut ffi::sqlite3_value] {
    if argc > 0 && !argv.is_null() {
        // SAFETY: the caller guarantees argv holds argc valid values.
        unsafe { std::slice::from_raw_parts(argv, argc as usize) }
    } else {
        &[]
    }
}

fn arg_of<'a>(p: &*mut ffi::sqlite3_value) -> Arg<'a> {
    // SAFETY: each pointer in a call's argv is a valid value for that call.
    let v = unsafe { ValueRef::from_raw(*p) };
    Arg::with_subtype(v.get(), v.subtype())
}

/// Report a call's outcome (value, error or caught panic) to SQLite.
fn finish(context: &mut Context, result: std::thread::Result<Result<Output>>) {
    match result {
        Ok(Ok(out)) => context.set_output(&out),
        Ok(Err(e)) => context.set_error(&e),
        Err(p) => context.set_error(&panic_error(p)),
    }
}

unsafe extern "C" fn scalar_trampoline(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes a valid context and argc valid values for this call.
    let mut context = unsafe { Context::from_raw(ctx) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ud = context.user_data();
        // SAFETY: user data was set to a `ScalarFn` pointer by `create_scalar`.
        let f: ScalarFn = unsafe { std::mem::transmute::<*mut std::ffi::c_void, ScalarFn>(ud) };
        // SAFETY: SQLite's contract for argc/argv.
        let raw = unsafe { raw_args(argc, argv) };
        // No allocation for the usual one to three arguments.
        let mut small = [Arg::new(SqlValue::Null); 4];
        let big: Vec<Arg<'_>>;
        let args: &[Arg<'_>] = if raw.len() <= small.len() {
            for (slot, p) in small.iter_mut().zip(raw) {
                *slot = arg_of(p);
            }
            &small[..raw.len()]
        } else {
            big = raw.iter().map(arg_of).collect();
            &big
        };
        f(args)
    }));
    finish(&mut context, result);
}

fn register(db: Db, name: &str, nargs: c_int, flags: c_int, user: *mut std::ffi::c_void, t: Trampoline) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::invalid("function name contains NUL"))?;
    // SAFETY: `user` is a 'static function pointer; SQLite copies the name.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(db.as_ptr(), cname.as_ptr(), nargs, flags, user, Some(t), None, None, None)
    };
    if rc != ffi::SQLITE_OK {
        return Err(db.error(rc).context(&format!("registering {name}()")));
    }
    Ok(())
}

/// Register `name` with `nargs` arguments (-1 = any number).
pub fn create_scalar(db: Db, name: &str, nargs: c_int, flags: c_int, f: ScalarFn) -> Result<()> {
    register(db, name, nargs, flags, f as *mut std::ffi::c_void, scalar_trampoline)
}

/// A scalar function that runs SQL on its own connection (`vindex_import_vec0`).
pub type DbScalarFn = fn(Db, &[Arg<'_>]) -> Result<Output>;

unsafe extern "C" fn db_scalar_trampoline(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes a valid context and argc valid values for this call.
    let mut context = unsafe { Context::from_raw(ctx) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: user data was set to a `DbScalarFn` pointer by `create_db_scalar`.
        let f: DbScalarFn = unsafe { std::mem::transmute::<*mut std::ffi::c_void, DbScalarFn>(context.user_data()) };
        // SAFETY: SQLite's contract for argc/argv.
        let args: Vec<Arg<'_>> = unsafe { raw_args(argc, argv) }.iter().map(arg_of).collect();
        // SAFETY: a function's context belongs to an open connection for the whole call.
        let db = unsafe { Db::from_raw(context.db_handle()) };
        f(db, &args)
    }));
    finish(&mut context, result);
}

/// Register `name` with `nargs` arguments (-1 = any number), a function given its connection.
pub fn create_db_scalar(db: Db, name: &str, nargs: c_int, flags: c_int, f: DbScalarFn) -> Result<()> {
    register(db, name, nargs, flags, f as *mut std::ffi::c_void, db_scalar_trampoline)
}
