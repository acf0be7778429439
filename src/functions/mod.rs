//! SQL functions.

use crate::error::Result;
use crate::ffi::stmt::Db;

pub fn register(_db: Db) -> Result<()> {
    Ok(())
}
