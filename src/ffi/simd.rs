//! Run-time choice of distance kernels. SIMD kernels are `#[target_feature]` functions; calling
//! them is only sound on a CPU that has the features, which `select` checks once.

use crate::vector::distance::{Kernels, scalar};

/// Pick the best kernel table for this CPU, optionally capped by name ("scalar", "avx2", ...).
pub fn select(cap: Option<&str>) -> Kernels {
    let all = all_supported();
    match cap {
        Some(name) => all.iter().rev().find(|k| k.name == name).copied().unwrap_or(scalar::KERNELS),
        None => *all.last().unwrap_or(&scalar::KERNELS),
    }
}

/// Every kernel table this CPU supports, from the plainest to the fastest.
pub fn all_supported() -> Vec<Kernels> {
    vec![scalar::KERNELS]
}
