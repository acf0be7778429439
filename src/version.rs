//! The version of this build.

/// The version string `vec_version()` returns and tables record as `created_by`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
