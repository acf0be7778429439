//! Facts about a connection's databases that the shared cache keys on: the file behind a schema
//! and the VFS that reads it; and SQLite's own randomness.

use super::stmt::Db;
use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString};
use std::os::raw::c_void;

impl Db {
    /// The file name of database `schema` ("" for `:memory:` and temporary databases, `None`
    /// when there is no such schema).
    pub fn filename(&self, schema: &str) -> Option<String> {
        let c = CString::new(schema).ok()?;
        // SAFETY: valid connection and NUL-terminated name; the result is owned by SQLite and
        // valid while the database stays attached, so it is copied at once.
        let p = unsafe { ffi::sqlite3_db_filename(self.as_ptr(), c.as_ptr()) };
        if p.is_null() {
            return None;
        }
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Put back the value `sqlite3_last_insert_rowid` reports (our own nested INSERTs into
    /// shadow tables change it, and the application must not see that).
    pub fn set_last_insert_rowid(&self, rowid: i64) {
        // SAFETY: valid connection.
        unsafe { ffi::sqlite3_set_last_insert_rowid(self.as_ptr(), rowid) }
    }

    /// The data version of database `schema` (it changes whenever the database's content may
    /// have: a commit by this or any other connection or process) when this connection holds
    /// a read transaction on it and has written nothing in it; `None` otherwise (no
    /// transaction, a write transaction, or an SQLite that cannot tell). While it stays the
    /// same, what was read from the database under it still holds.
    pub fn read_snapshot_version(&self, schema: &CStr) -> Option<u32> {
        // SAFETY: valid connection and NUL-terminated name.
        let state = unsafe { ffi::sqlite3_txn_state(self.as_ptr(), schema.as_ptr()) };
        if state != ffi::SQLITE_TXN_READ {
            return None;
        }
        let mut v: std::os::raw::c_uint = 0;
        // SAFETY: SQLITE_FCNTL_DATA_VERSION writes one unsigned int into the pointer we pass.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                self.as_ptr(),
                schema.as_ptr(),
                ffi::SQLITE_FCNTL_DATA_VERSION,
                (&mut v as *mut std::os::raw::c_uint).cast::<c_void>(),
            )
        };
        (rc == ffi::SQLITE_OK).then_some(v)
    }

    /// The name of the VFS that database `schema` was opened with (e.g. "unix"), if SQLite
    /// reports one.
    pub fn vfs_name(&self, schema: &str) -> Option<String> {
        let c = CString::new(schema).ok()?;
        let mut vfs: *mut ffi::sqlite3_vfs = std::ptr::null_mut();
        // SAFETY: SQLITE_FCNTL_VFS_POINTER writes a sqlite3_vfs pointer (owned by SQLite,
        // registered for the life of the process) into the pointer we pass.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                self.as_ptr(),
                c.as_ptr(),
                ffi::SQLITE_FCNTL_VFS_POINTER,
                (&mut vfs as *mut *mut ffi::sqlite3_vfs).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || vfs.is_null() {
            return None;
        }
        // SAFETY: a registered VFS has a NUL-terminated name that outlives it.
        let name = unsafe { (*vfs).zName };
        if name.is_null() {
            return None;
        }
        Some(unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
    }
}

/// A random 64-bit value from SQLite's PRNG (seeded from the operating system).
pub fn random_i64() -> i64 {
    let mut b = [0u8; 8];
    // SAFETY: writes exactly 8 bytes into `b`.
    unsafe { ffi::sqlite3_randomness(8, b.as_mut_ptr().cast::<c_void>()) };
    i64::from_le_bytes(b)
}
