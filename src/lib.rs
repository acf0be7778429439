//! vindex: vector search for SQLite whose indexes live in the database file's own pages.
//!
//! Load `dist/vindex.so` into SQLite (`.load ./dist/vindex`), or link this crate into a Rust
//! app and call [`register`] on a connection (or [`register_auto_extension`] once).

pub mod error;
pub mod ffi;
pub mod functions;
pub mod index;
pub mod store;
pub mod value;
pub mod vector;
pub mod vtab;

pub use error::{Error, Result};
pub use ffi::entry::register;
#[cfg(not(feature = "loadable"))]
pub use ffi::entry::register_auto_extension;

/// The version string `vec_version()` returns.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// Register every function and module on a connection.
pub(crate) fn register_all(db: ffi::stmt::Db) -> Result<()> {
    functions::register(db)?;
    vtab::register(db)?;
    Ok(())
}
