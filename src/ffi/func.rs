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
        let raw: &[*mut ffi::sqlite3_value] = if argc > 0 && !argv.is_null() {
            // SAFETY: argv holds argc valid values for the duration of this call.
            unsafe { std::slice::from_raw_parts(argv, argc as usize) }
        } else {
            &[]
        };
        // SAFETY: each pointer is a valid value for this call.
        let arg = |p: &*mut ffi::sqlite3_value| {
            let v = unsafe { ValueRef::from_raw(*p) };
            Arg::with_subtype(v.get(), v.subtype())
        };
        // No allocation for the usual one to three arguments.
        let mut small = [Arg::new(SqlValue::Null); 4];
        let big: Vec<Arg<'_>>;
        let args: &[Arg<'_>] = if raw.len() <= small.len() {
            for (slot, p) in small.iter_mut().zip(raw) {
                *slot = arg(p);
            }
            &small[..raw.len()]
        } else {
            big = raw.iter().map(arg).collect();
            &big
        };
        f(args)
    }));
    match result {
        Ok(Ok(out)) => context.set_output(&out),
        Ok(Err(e)) => context.set_error(&e),
        Err(p) => context.set_error(&panic_error(p)),
    }
}

/// Register `name` with `nargs` arguments (-1 = any number).
pub fn create_scalar(db: Db, name: &str, nargs: c_int, flags: c_int, f: ScalarFn) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::invalid("function name contains NUL"))?;
    // SAFETY: the function pointer is 'static; SQLite copies the name.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            cname.as_ptr(),
            nargs,
            flags,
            f as *mut std::ffi::c_void,
            Some(scalar_trampoline),
            None,
            None,
            None,
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(db.error(rc).context(&format!("registering {name}()")));
    }
    Ok(())
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
        let raw: &[*mut ffi::sqlite3_value] = if argc > 0 && !argv.is_null() {
            // SAFETY: argv holds argc valid values for the duration of this call.
            unsafe { std::slice::from_raw_parts(argv, argc as usize) }
        } else {
            &[]
        };
        let args: Vec<Arg<'_>> = raw
            .iter()
            .map(|p| {
                // SAFETY: each pointer is a valid value for this call.
                let v = unsafe { ValueRef::from_raw(*p) };
                Arg::with_subtype(v.get(), v.subtype())
            })
            .collect();
        // SAFETY: a function's context belongs to an open connection for the whole call.
        let db = unsafe { Db::from_raw(context.db_handle()) };
        f(db, &args)
    }));
    match result {
        Ok(Ok(out)) => context.set_output(&out),
        Ok(Err(e)) => context.set_error(&e),
        Err(p) => context.set_error(&panic_error(p)),
    }
}

/// Register `name` with `nargs` arguments (-1 = any number), a function given its connection.
pub fn create_db_scalar(db: Db, name: &str, nargs: c_int, flags: c_int, f: DbScalarFn) -> Result<()> {
    let cname = CString::new(name).map_err(|_| Error::invalid("function name contains NUL"))?;
    // SAFETY: the function pointer is 'static; SQLite copies the name.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            cname.as_ptr(),
            nargs,
            flags,
            f as *mut std::ffi::c_void,
            Some(db_scalar_trampoline),
            None,
            None,
            None,
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(db.error(rc).context(&format!("registering {name}()")));
    }
    Ok(())
}
