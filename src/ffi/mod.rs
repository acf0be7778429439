//! The only home of `unsafe`: SQLite's C API, wrapped in safe types and panic-catching
//! trampolines, and the run-time-dispatched SIMD kernels' entry points.

pub mod api;
pub mod entry;
pub mod func;
pub mod simd;
pub mod stmt;
pub mod value;
pub mod vtab;
