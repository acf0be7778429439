//! Reading `sqlite3_value`s and setting `sqlite3_context` results.

use crate::error::Error;
use crate::value::{Output, OwnedValue, SqlValue};
use libsqlite3_sys as ffi;
use std::marker::PhantomData;
use std::os::raw::c_int;

/// A borrowed `sqlite3_value*`, valid for the callback that received it.
#[derive(Clone, Copy)]
pub struct ValueRef<'a> {
    ptr: *mut ffi::sqlite3_value,
    _life: PhantomData<&'a ()>,
}

impl<'a> ValueRef<'a> {
    /// # Safety
    /// `ptr` must be a valid value for the lifetime `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut ffi::sqlite3_value) -> Self {
        ValueRef { ptr, _life: PhantomData }
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::sqlite3_value {
        self.ptr
    }

    /// The value, decoded by its storage class. Text and blob slices borrow SQLite's buffer.
    pub fn get(&self) -> SqlValue<'a> {
        // SAFETY: ptr is valid for 'a; pointers from value_text/blob are read before
        // value_bytes as SQLite's documentation requires and stay valid while the value does.
        unsafe {
            match ffi::sqlite3_value_type(self.ptr) {
                ffi::SQLITE_INTEGER => SqlValue::Integer(ffi::sqlite3_value_int64(self.ptr)),
                ffi::SQLITE_FLOAT => SqlValue::Real(ffi::sqlite3_value_double(self.ptr)),
                ffi::SQLITE_TEXT => {
                    let p = ffi::sqlite3_value_text(self.ptr);
                    let n = ffi::sqlite3_value_bytes(self.ptr);
                    if p.is_null() || n <= 0 {
                        SqlValue::Text(&[])
                    } else {
                        SqlValue::Text(std::slice::from_raw_parts(p, n as usize))
                    }
                }
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_value_blob(self.ptr) as *const u8;
                    let n = ffi::sqlite3_value_bytes(self.ptr);
                    if p.is_null() || n <= 0 {
                        SqlValue::Blob(&[])
                    } else {
                        SqlValue::Blob(std::slice::from_raw_parts(p, n as usize))
                    }
                }
                _ => SqlValue::Null,
            }
        }
    }

    pub fn subtype(&self) -> u32 {
        // SAFETY: valid value pointer.
        unsafe { ffi::sqlite3_value_subtype(self.ptr) }
    }

    /// True when, in an UPDATE, this column was not changed (needs `sqlite3_vtab_nochange`).
    pub fn nochange(&self) -> bool {
        // SAFETY: valid value pointer.
        unsafe { ffi::sqlite3_value_nochange(self.ptr) != 0 }
    }

    /// Every value of an `IN (...)` right-hand side handed over with `sqlite3_vtab_in`.
    pub fn in_values(&self) -> Result<Vec<OwnedValue>, Error> {
        let mut out = Vec::new();
        let mut v: *mut ffi::sqlite3_value = std::ptr::null_mut();
        // SAFETY: SQLite's documented iteration protocol over an IN operand.
        let mut rc = unsafe { super::api::vtab_in_first(self.ptr, &mut v) };
        while rc == ffi::SQLITE_OK && !v.is_null() {
            // SAFETY: v is valid until the next call to vtab_in_next.
            out.push(unsafe { ValueRef::from_raw(v) }.get().to_owned_value());
            rc = unsafe { super::api::vtab_in_next(self.ptr, &mut v) };
        }
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_DONE {
            return Err(Error::Sqlite { code: rc, msg: "cannot read the values of an IN (...) list".into() });
        }
        Ok(out)
    }
}

/// Builds a `Vec<ValueRef>` from an `argv` array.
///
/// # Safety
/// `argv` must point to `argc` valid values that outlive `'a`.
pub(crate) unsafe fn args_from_raw<'a>(argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> Vec<ValueRef<'a>> {
    if argc <= 0 || argv.is_null() {
        return Vec::new();
    }
    // SAFETY: caller guarantees argc valid pointers.
    let raw = unsafe { std::slice::from_raw_parts(argv, argc as usize) };
    raw.iter().map(|&p| unsafe { ValueRef::from_raw(p) }).collect()
}

/// A `sqlite3_context*` of a scalar function or of xColumn.
pub struct Context {
    ptr: *mut ffi::sqlite3_context,
}

impl Context {
    /// # Safety
    /// `ptr` must be a valid context for the duration of the callback.
    pub(crate) unsafe fn from_raw(ptr: *mut ffi::sqlite3_context) -> Self {
        Context { ptr }
    }

    /// In xColumn during an UPDATE: true when SQLite does not need this column's value.
    pub fn nochange(&self) -> bool {
        // SAFETY: valid context.
        unsafe { ffi::sqlite3_vtab_nochange(self.ptr) != 0 }
    }

    pub fn set_null(&mut self) {
        unsafe { ffi::sqlite3_result_null(self.ptr) }
    }
    pub fn set_i64(&mut self, v: i64) {
        unsafe { ffi::sqlite3_result_int64(self.ptr, v) }
    }
    pub fn set_f64(&mut self, v: f64) {
        unsafe { ffi::sqlite3_result_double(self.ptr, v) }
    }
    pub fn set_text(&mut self, s: &str) {
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy the bytes before we return.
        unsafe {
            ffi::sqlite3_result_text64(
                self.ptr,
                s.as_ptr().cast(),
                s.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            )
        }
    }
    pub fn set_blob(&mut self, b: &[u8]) {
        // SAFETY: as above; a zero-length blob needs a non-null pointer to stay a blob.
        unsafe {
            let p: *const u8 = if b.is_empty() { c"".as_ptr().cast() } else { b.as_ptr() };
            ffi::sqlite3_result_blob64(self.ptr, p.cast(), b.len() as u64, ffi::SQLITE_TRANSIENT())
        }
    }
    pub fn set_subtype(&mut self, st: u32) {
        unsafe { ffi::sqlite3_result_subtype(self.ptr, st) }
    }
    pub fn set_value(&mut self, v: SqlValue<'_>) {
        match v {
            SqlValue::Null => self.set_null(),
            SqlValue::Integer(i) => self.set_i64(i),
            SqlValue::Real(f) => self.set_f64(f),
            SqlValue::Text(t) => {
                // SAFETY: copies the bytes (TRANSIENT); they need not be valid UTF-8 for SQLite.
                unsafe {
                    ffi::sqlite3_result_text64(
                        self.ptr,
                        t.as_ptr().cast(),
                        t.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    )
                }
            }
            SqlValue::Blob(b) => self.set_blob(b),
        }
    }
    pub fn set_output(&mut self, out: &Output) {
        self.set_value(out.value.as_ref());
        if let Some(st) = out.subtype {
            self.set_subtype(st);
        }
    }
    pub fn set_error(&mut self, e: &Error) {
        if matches!(e, Error::NoMem) {
            unsafe { ffi::sqlite3_result_error_nomem(self.ptr) };
            return;
        }
        let msg = e.message().replace('\0', "\\0");
        // SAFETY: result_error copies the message (length given explicitly).
        unsafe {
            ffi::sqlite3_result_error(self.ptr, msg.as_ptr().cast(), msg.len() as c_int);
            ffi::sqlite3_result_error_code(self.ptr, e.code());
        }
    }
    pub(crate) fn user_data(&self) -> *mut std::ffi::c_void {
        unsafe { ffi::sqlite3_user_data(self.ptr) }
    }
    /// The raw handle of the connection the function runs on.
    pub(crate) fn db_handle(&self) -> *mut ffi::sqlite3 {
        // SAFETY: `self.ptr` is the live context of the current call.
        unsafe { ffi::sqlite3_context_db_handle(self.ptr) }
    }
}
