//! vindex: vector search for SQLite whose indexes live in the database file's own pages.
//!
//! Load `dist/vindex.so` into SQLite (`.load ./dist/vindex`), or link this crate into a Rust
//! app and call [`register`] on a connection (or [`register_auto_extension`] once).

#![deny(unsafe_code)]

pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod functions;
pub mod index;
#[allow(unsafe_code)]
pub mod simd;
pub mod store;
pub mod value;
pub mod vector;
mod version;
pub mod vtab;

pub use error::{Error, Result};

define_entry_points!(register_all);

pub use version::VERSION;

/// Register every function and module on a connection.
fn register_all(db: ffi::stmt::Db) -> Result<()> {
    functions::register(db)?;
    vtab::register(db)?;
    Ok(())
}
