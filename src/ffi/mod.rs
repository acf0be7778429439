//! SQLite's C API, wrapped in safe types and panic-catching trampolines: one of the two homes of
//! `unsafe` (the other is `crate::simd`).

pub mod api;
pub mod conn;
pub mod entry;
/// Fault injection for tests (a failing SQLite allocator); not part of the API.
#[cfg(not(feature = "loadable"))]
#[doc(hidden)]
pub mod fault;
pub mod func;
pub mod stmt;
pub mod value;
pub mod vtab;
