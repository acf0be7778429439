//! SQLite's C API, wrapped in safe types and panic-catching trampolines: one of the two homes of
//! `unsafe` (the other is `crate::simd`).

pub mod api;
pub mod conn;
pub mod entry;
pub mod func;
pub mod stmt;
pub mod value;
pub mod vtab;
