//! SQL functions: the vector scalars (`vec_*`) and the table-valued `vec_each`.

pub mod each;
pub mod scalar;

use crate::error::Result;
use crate::ffi::func::{create_scalar, default_flags};
use crate::ffi::stmt::Db;
use crate::ffi::vtab::{ModuleKind, create_module};

pub fn register(db: Db) -> Result<()> {
    for (name, nargs, f) in scalar::FUNCTIONS {
        create_scalar(db, name, *nargs, default_flags(), *f)?;
    }
    // Settings: not deterministic, and only from top-level SQL (not from triggers or views).
    let setting = libsqlite3_sys::SQLITE_UTF8 | libsqlite3_sys::SQLITE_DIRECTONLY;
    create_scalar(db, "vindex_cache_limit", 0, setting, scalar::vindex_cache_limit)?;
    create_scalar(db, "vindex_cache_limit", 1, setting, scalar::vindex_cache_limit)?;
    create_scalar(db, "vindex_build_threads", 0, setting, scalar::vindex_build_threads)?;
    create_scalar(db, "vindex_build_threads", 1, setting, scalar::vindex_build_threads)?;
    create_module::<each::VecEach>(
        db,
        "vec_each",
        &ModuleKind { eponymous_only: true, writable: false, shadow_tables: false },
        (),
    )?;
    Ok(())
}
