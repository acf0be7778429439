//! Nested SQL from inside callbacks: a non-owning connection handle, prepared statements and
//! incremental blob I/O. Statements are always reset after use so that a cached statement never
//! holds the transaction open (no "SQL statements in progress" at COMMIT or VACUUM).

use super::value::ValueRef;
use crate::error::{Error, Result};
use crate::value::{OwnedValue, SqlValue};
use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString};
use std::os::raw::c_int;

/// A connection handle we do not own (SQLite passed it to a callback).
#[derive(Clone, Copy, Debug)]
pub struct Db {
    ptr: *mut ffi::sqlite3,
}

fn errmsg(db: *mut ffi::sqlite3) -> String {
    // SAFETY: errmsg returns a valid NUL-terminated string owned by the connection.
    unsafe {
        let p = ffi::sqlite3_errmsg(db);
        if p.is_null() { String::from("unknown error") } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    }
}

/// `sql` as error messages show it: at most about 100 characters, then an ellipsis (generated
/// SQL can be megabytes long, e.g. a 30,000-value IN list).
pub fn sql_excerpt(sql: &str) -> String {
    const MAX: usize = 100;
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX) {
        None => one_line,
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
    }
}

impl Db {
    /// # Safety
    /// `ptr` must be a valid open connection for as long as this handle is used.
    pub(crate) unsafe fn from_raw(ptr: *mut ffi::sqlite3) -> Self {
        Db { ptr }
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::sqlite3 {
        self.ptr
    }

    pub(crate) fn error(&self, rc: c_int) -> Error {
        if rc == ffi::SQLITE_NOMEM {
            return Error::NoMem;
        }
        Error::Sqlite { code: rc, msg: errmsg(self.ptr) }
    }

    /// Run one or more statements that return no rows.
    pub fn exec(&self, sql: &str) -> Result<()> {
        let c = CString::new(sql).map_err(|_| Error::invalid("SQL text contains a NUL byte"))?;
        let mut err: *mut std::os::raw::c_char = std::ptr::null_mut();
        // SAFETY: valid db and NUL-terminated SQL; the error string is freed with sqlite3_free.
        let rc = unsafe { ffi::sqlite3_exec(self.ptr, c.as_ptr(), None, std::ptr::null_mut(), &mut err) };
        if rc != ffi::SQLITE_OK {
            let msg = if err.is_null() {
                errmsg(self.ptr)
            } else {
                let m = unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned();
                unsafe { ffi::sqlite3_free(err.cast()) };
                m
            };
            return Err(Error::Sqlite { code: rc, msg });
        }
        Ok(())
    }

    /// Prepare a statement; `persistent` hints that it will be cached and reused.
    pub fn prepare(&self, sql: &str, persistent: bool) -> Result<Stmt> {
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        let flags = if persistent { ffi::SQLITE_PREPARE_PERSISTENT } else { 0 };
        // SAFETY: sql pointer/length are valid; stmt receives an owned statement or NULL.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.ptr,
                sql.as_ptr().cast(),
                sql.len() as c_int,
                flags,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            let e = self.error(rc);
            unsafe { ffi::sqlite3_finalize(stmt) };
            return Err(e.context(&format!("preparing `{}`", sql_excerpt(sql))));
        }
        if stmt.is_null() {
            return Err(Error::invalid(format!("empty SQL statement: `{}`", sql_excerpt(sql))));
        }
        Ok(Stmt { ptr: stmt, db: *self })
    }

    /// Number of rows changed by the last INSERT/UPDATE/DELETE on this connection.
    pub fn changes(&self) -> i64 {
        unsafe { ffi::sqlite3_changes(self.ptr) as i64 }
    }

    pub fn last_insert_rowid(&self) -> i64 {
        unsafe { ffi::sqlite3_last_insert_rowid(self.ptr) }
    }

    /// The ON CONFLICT mode of the statement that called xUpdate.
    pub fn vtab_on_conflict(&self) -> c_int {
        unsafe { ffi::sqlite3_vtab_on_conflict(self.ptr) }
    }

    /// True when no transaction is open (autocommit mode).
    pub fn autocommit(&self) -> bool {
        unsafe { ffi::sqlite3_get_autocommit(self.ptr) != 0 }
    }

    /// Open an incremental blob handle on `"db"."table".column` at `rowid`.
    pub fn blob_open(&self, db: &str, table: &str, column: &str, rowid: i64, write: bool) -> Result<Blob> {
        let cdb = CString::new(db).map_err(|_| Error::invalid("NUL in database name"))?;
        let ct = CString::new(table).map_err(|_| Error::invalid("NUL in table name"))?;
        let cc = CString::new(column).map_err(|_| Error::invalid("NUL in column name"))?;
        self.blob_open_c(&cdb, &ct, &cc, rowid, write)
    }

    /// [`Db::blob_open`] with names already NUL-terminated (no allocation per call).
    pub fn blob_open_c(&self, cdb: &CStr, ct: &CStr, cc: &CStr, rowid: i64, write: bool) -> Result<Blob> {
        let mut b: *mut ffi::sqlite3_blob = std::ptr::null_mut();
        // SAFETY: all strings NUL-terminated; b receives a handle or NULL.
        let rc = unsafe {
            ffi::sqlite3_blob_open(self.ptr, cdb.as_ptr(), ct.as_ptr(), cc.as_ptr(), rowid, write as c_int, &mut b)
        };
        if rc != ffi::SQLITE_OK {
            let e = self.error(rc);
            if !b.is_null() {
                unsafe { ffi::sqlite3_blob_close(b) };
            }
            return Err(e);
        }
        Ok(Blob { ptr: b, db: *self, rowid })
    }
}

/// A private in-memory connection that vindex opens for itself (to let SQLite convert values
/// exactly as it does for the user's tables), closed on drop.
pub struct OwnedDb {
    db: Db,
}

// SAFETY: an SQLite connection may be used from any thread, one thread at a time, in the
// multi-thread and serialized modes; `Send` moves it (with no statement left open: `Stmt`s
// borrow nothing and are not `Send`, so none can travel with it) and `&mut`/a mutex keeps use
// to one thread at a time.
unsafe impl Send for OwnedDb {}

impl OwnedDb {
    /// Open a new `:memory:` database.
    pub fn open_memory() -> Result<OwnedDb> {
        let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE | ffi::SQLITE_OPEN_MEMORY;
        // SAFETY: constant NUL-terminated name; db receives a handle (possibly in error state) or NULL.
        let rc = unsafe { ffi::sqlite3_open_v2(c":memory:".as_ptr(), &mut db, flags, std::ptr::null()) };
        if rc != ffi::SQLITE_OK {
            let e = if db.is_null() {
                Error::Sqlite { code: rc, msg: "cannot open an in-memory database".into() }
            } else {
                Error::Sqlite { code: rc, msg: errmsg(db) }
            };
            // SAFETY: close accepts NULL and a failed handle.
            unsafe { ffi::sqlite3_close(db) };
            return Err(e);
        }
        Ok(OwnedDb { db: Db { ptr: db } })
    }
    /// The handle, for statements that end before `self` is dropped or moved.
    pub fn db(&self) -> Db {
        self.db
    }
}

impl Drop for OwnedDb {
    fn drop(&mut self) {
        // SAFETY: we own the connection, and every statement on it was finalized (none outlives its use).
        unsafe { ffi::sqlite3_close(self.db.ptr) };
    }
}

/// An owned prepared statement, finalized on drop.
pub struct Stmt {
    ptr: *mut ffi::sqlite3_stmt,
    db: Db,
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: we own the statement.
        unsafe { ffi::sqlite3_finalize(self.ptr) };
    }
}

impl Stmt {
    fn check(&self, rc: c_int) -> Result<()> {
        if rc == ffi::SQLITE_OK { Ok(()) } else { Err(self.db.error(rc)) }
    }

    pub fn bind_i64(&mut self, i: usize, v: i64) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_bind_int64(self.ptr, i as c_int, v) };
        self.check(rc)
    }
    pub fn bind_f64(&mut self, i: usize, v: f64) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_bind_double(self.ptr, i as c_int, v) };
        self.check(rc)
    }
    pub fn bind_null(&mut self, i: usize) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_bind_null(self.ptr, i as c_int) };
        self.check(rc)
    }
    pub fn bind_text(&mut self, i: usize, v: &[u8]) -> Result<()> {
        // SAFETY: TRANSIENT copies the bytes.
        let rc = unsafe {
            ffi::sqlite3_bind_text64(
                self.ptr,
                i as c_int,
                v.as_ptr().cast(),
                v.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }
    pub fn bind_blob(&mut self, i: usize, v: &[u8]) -> Result<()> {
        // SAFETY: TRANSIENT copies; a non-null pointer keeps an empty blob a blob.
        let p: *const u8 = if v.is_empty() { c"".as_ptr().cast() } else { v.as_ptr() };
        let rc = unsafe {
            ffi::sqlite3_bind_blob64(self.ptr, i as c_int, p.cast(), v.len() as u64, ffi::SQLITE_TRANSIENT())
        };
        self.check(rc)
    }
    pub fn bind_zeroblob(&mut self, i: usize, n: usize) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_bind_zeroblob64(self.ptr, i as c_int, n as u64) };
        self.check(rc)
    }
    pub fn bind_value(&mut self, i: usize, v: SqlValue<'_>) -> Result<()> {
        match v {
            SqlValue::Null => self.bind_null(i),
            SqlValue::Integer(x) => self.bind_i64(i, x),
            SqlValue::Real(x) => self.bind_f64(i, x),
            SqlValue::Text(t) => self.bind_text(i, t),
            SqlValue::Blob(b) => self.bind_blob(i, b),
        }
    }
    pub fn bind_owned(&mut self, i: usize, v: &OwnedValue) -> Result<()> {
        self.bind_value(i, v.as_ref())
    }
    /// Bind an `sqlite3_value` as is.
    pub fn bind_raw_value(&mut self, i: usize, v: ValueRef<'_>) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_bind_value(self.ptr, i as c_int, v.as_ptr()) };
        self.check(rc)
    }

    /// Step once: Ok(true) when a row is available, Ok(false) when done. On error or done the
    /// statement is reset.
    pub fn step(&mut self) -> Result<bool> {
        let rc = unsafe { ffi::sqlite3_step(self.ptr) };
        match rc {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => {
                unsafe { ffi::sqlite3_reset(self.ptr) };
                Ok(false)
            }
            _ => {
                // reset returns the same error code and leaves the message in place.
                let e = self.db.error(unsafe { ffi::sqlite3_reset(self.ptr) });
                Err(if let Error::Sqlite { code: 0, .. } = e { self.db.error(rc) } else { e })
            }
        }
    }

    /// Run a statement that returns no rows (or ignore its rows), then reset it.
    pub fn execute(&mut self) -> Result<()> {
        while self.step()? {}
        Ok(())
    }

    pub fn reset(&mut self) {
        unsafe { ffi::sqlite3_reset(self.ptr) };
    }
    pub fn clear_bindings(&mut self) {
        unsafe { ffi::sqlite3_clear_bindings(self.ptr) };
    }

    pub fn column_count(&self) -> usize {
        unsafe { ffi::sqlite3_column_count(self.ptr) as usize }
    }
    pub fn column_i64(&self, i: usize) -> i64 {
        unsafe { ffi::sqlite3_column_int64(self.ptr, i as c_int) }
    }
    pub fn column_f64(&self, i: usize) -> f64 {
        unsafe { ffi::sqlite3_column_double(self.ptr, i as c_int) }
    }
    pub fn column_is_null(&self, i: usize) -> bool {
        unsafe { ffi::sqlite3_column_type(self.ptr, i as c_int) == ffi::SQLITE_NULL }
    }
    /// The column's value, borrowed until the next step/reset of this statement.
    ///
    /// Read with `sqlite3_column_type` and the accessor of that type (`sqlite3_column_value`
    /// returns an unprotected value, which the value accessors may not be given). Asking for
    /// the column's own type converts nothing, so the pointer stays valid until the next
    /// step/reset/finalize, which need `&mut self` (or drop): the borrow cannot outlive it.
    pub fn column_value(&self, i: usize) -> SqlValue<'_> {
        let (p, c) = (self.ptr, i as c_int);
        // SAFETY: a valid statement with a row available (callers step first); text and blob
        // pointers are read before their byte counts, as SQLite documents, and cover `n` bytes.
        unsafe {
            match ffi::sqlite3_column_type(p, c) {
                ffi::SQLITE_INTEGER => SqlValue::Integer(ffi::sqlite3_column_int64(p, c)),
                ffi::SQLITE_FLOAT => SqlValue::Real(ffi::sqlite3_column_double(p, c)),
                ffi::SQLITE_TEXT => {
                    let t = ffi::sqlite3_column_text(p, c);
                    let n = ffi::sqlite3_column_bytes(p, c).max(0) as usize;
                    SqlValue::Text(if t.is_null() { &[] } else { std::slice::from_raw_parts(t, n) })
                }
                ffi::SQLITE_BLOB => {
                    let b = ffi::sqlite3_column_blob(p, c);
                    let n = ffi::sqlite3_column_bytes(p, c).max(0) as usize;
                    SqlValue::Blob(if b.is_null() { &[] } else { std::slice::from_raw_parts(b.cast::<u8>(), n) })
                }
                _ => SqlValue::Null,
            }
        }
    }
    pub fn column_blob(&self, i: usize) -> &[u8] {
        match self.column_value(i) {
            SqlValue::Blob(b) | SqlValue::Text(b) => b,
            _ => &[],
        }
    }
    pub fn column_text(&self, i: usize) -> String {
        match self.column_value(i) {
            SqlValue::Text(t) | SqlValue::Blob(t) => String::from_utf8_lossy(t).into_owned(),
            SqlValue::Integer(x) => x.to_string(),
            SqlValue::Real(x) => x.to_string(),
            SqlValue::Null => String::new(),
        }
    }
    pub fn column_owned(&self, i: usize) -> OwnedValue {
        self.column_value(i).to_owned_value()
    }
}

/// An incremental blob handle, closed on drop. While open it counts as an active statement,
/// so owners close it at transaction boundaries.
pub struct Blob {
    ptr: *mut ffi::sqlite3_blob,
    db: Db,
    rowid: i64,
}

impl Drop for Blob {
    fn drop(&mut self) {
        unsafe { ffi::sqlite3_blob_close(self.ptr) };
    }
}

impl Blob {
    pub fn rowid(&self) -> i64 {
        self.rowid
    }
    pub fn len(&self) -> usize {
        unsafe { ffi::sqlite3_blob_bytes(self.ptr) as usize }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Point the handle at another row of the same table and column.
    pub fn reopen(&mut self, rowid: i64) -> Result<()> {
        let rc = unsafe { ffi::sqlite3_blob_reopen(self.ptr, rowid) };
        if rc != ffi::SQLITE_OK {
            return Err(self.db.error(rc));
        }
        self.rowid = rowid;
        Ok(())
    }
    pub fn read(&self, buf: &mut [u8], offset: usize) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let rc =
            unsafe { ffi::sqlite3_blob_read(self.ptr, buf.as_mut_ptr().cast(), buf.len() as c_int, offset as c_int) };
        if rc != ffi::SQLITE_OK {
            return Err(self.db.error(rc));
        }
        Ok(())
    }
    pub fn write(&mut self, buf: &[u8], offset: usize) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let rc = unsafe { ffi::sqlite3_blob_write(self.ptr, buf.as_ptr().cast(), buf.len() as c_int, offset as c_int) };
        if rc != ffi::SQLITE_OK {
            return Err(self.db.error(rc));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_show_at_most_a_line_of_sql() {
        assert_eq!(sql_excerpt("SELECT 1"), "SELECT 1");
        assert_eq!(sql_excerpt("SELECT\n   1,\n  2"), "SELECT 1, 2");
        let long = format!(
            "SELECT x FROM t WHERE x IN ({})",
            (0..30_000).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        let e = sql_excerpt(&long);
        assert_eq!(e.chars().count(), 101);
        assert!(e.ends_with('…') && long.starts_with(e.trim_end_matches('…')));
        assert_eq!(sql_excerpt(&"é".repeat(300)).chars().count(), 101);

        let db = OwnedDb::open_memory().unwrap();
        let msg = db.db().prepare(&long, false).err().unwrap().to_string();
        assert!(msg.contains("no such table") && msg.len() < 400, "{} bytes: {msg}", msg.len());
    }

    #[test]
    fn columns_are_read_by_their_type() {
        let db = OwnedDb::open_memory().unwrap();
        let mut st = db.db().prepare("SELECT 7, 2.5, 'héllo', x'00ff', NULL, x'', ''", false).unwrap();
        assert!(st.step().unwrap());
        assert_eq!(st.column_value(0), SqlValue::Integer(7));
        assert_eq!(st.column_value(1), SqlValue::Real(2.5));
        assert_eq!(st.column_value(2), SqlValue::Text("héllo".as_bytes()));
        assert_eq!(st.column_value(3), SqlValue::Blob(&[0, 255]));
        assert_eq!(st.column_value(4), SqlValue::Null);
        assert_eq!(st.column_value(5), SqlValue::Blob(&[]));
        assert_eq!(st.column_value(6), SqlValue::Text(&[]));
        assert_eq!(st.column_text(2), "héllo");
        assert_eq!(st.column_blob(3), &[0, 255]);
        assert!(!st.step().unwrap());
    }
}
