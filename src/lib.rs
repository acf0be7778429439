//! vindex: vector search for SQLite whose indexes live in the database file's own pages.
//!
//! Load `dist/vindex.so` into SQLite (`.load ./dist/vindex`), or link this crate into a Rust
//! app and call [`register`] on a connection (or [`register_auto_extension`] once). The crate is
//! `sqlite-vindex`, its library `vindex`; use it with rusqlite and its `bundled` SQLite (both
//! crates must resolve to the same `libsqlite3-sys`, so that they link one SQLite: rusqlite 0.40
//! to 0.43 do). In your `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! rusqlite = { version = "0.40", features = ["bundled"] }
//! sqlite-vindex = { git = "<this repository>" }
//!
//! # Unoptimised, vindex's searches are ~100x slower: optimise it even in debug builds.
//! [profile.dev.package.sqlite-vindex]
//! opt-level = 3
//! ```
//!
//! Then every connection the app opens has the `vec_*` functions and the `vindex` table:
//!
//! ```
//! use rusqlite::{Connection, params};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! vindex::register_auto_extension()?;
//! let conn = Connection::open_in_memory()?;
//! conn.execute_batch(
//!     "CREATE VIRTUAL TABLE docs USING vindex(
//!          embedding float[3] distance=cosine,
//!          user_id integer partition key,   -- a query for one user reads only its rows
//!          category text,                   -- metadata: filterable inside the search
//!          +body text                       -- auxiliary: stored and returned
//!      )",
//! )?;
//! let f32_blob = |v: [f32; 3]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
//! let mut insert = conn.prepare("INSERT INTO docs(rowid, embedding, user_id, category, body) VALUES (?, ?, ?, ?, ?)")?;
//! insert.execute(params![1, f32_blob([1.0, 0.0, 0.0]), 7, "news", "first"])?;
//! insert.execute(params![2, f32_blob([0.9, 0.1, 0.0]), 7, "blog", "second"])?;
//! insert.execute(params![3, f32_blob([1.0, 0.0, 0.1]), 8, "news", "other user"])?;
//!
//! // The 2 nearest rows of user 7: JSON text works as a query vector too.
//! let mut knn = conn.prepare(
//!     "SELECT rowid, distance, body FROM docs WHERE embedding MATCH ?1 AND k = 2 AND user_id = 7",
//! )?;
//! let hits: Vec<(i64, f64, String)> = knn
//!     .query_map(["[1, 0, 0]"], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
//! assert!(hits[0].1 < 1e-6 && hits[1].2 == "second");
//!
//! // Vector functions, as in sqlite-vec.
//! let d: f64 = conn.query_row("SELECT vec_distance_l2('[0, 0]', '[3, 4]')", [], |r| r.get(0))?;
//! assert_eq!(d, 5.0);
//! # Ok(())
//! # }
//! ```
//!
//! The SQL the extension adds (functions, the `vindex` table's options, queries and commands,
//! `vindex_status`) is documented in the repository's README and `docs/`; this page documents
//! the Rust API, which is mostly internal: apps need only [`register`] or
//! [`register_auto_extension`].

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
