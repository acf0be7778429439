//! SIMD kernels and their run-time choice: one of the two homes of `unsafe` (the other is
//! `crate::ffi`). SIMD kernels are `#[target_feature]` functions; calling them is only sound on a
//! CPU that has the features, so the rest of the crate reaches them only through [`Kernels`]
//! tables ([`kernels`]), and a table is built only after its features were detected. The table
//! type and the scalar reference kernels live in `crate::vector::distance`.
//!
//! Levels, plainest to fastest: "scalar" (everywhere), "avx2" (AVX2 + FMA + F16C + POPCNT),
//! "avx512" (the AVX2 level plus AVX-512 F + BW; VNNI and VPOPCNTDQ used when also present),
//! "neon" (aarch64).

use crate::vector::distance::{Kernels, scalar};
use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The fastest kernels this CPU supports (chosen on first use). Setting the environment
/// variable `VINDEX_KERNELS=scalar` (or `avx2`) before first use caps the choice, for testing.
pub fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(|| {
        let cap = std::env::var("VINDEX_KERNELS").ok();
        select(cap.as_deref())
    })
}

/// Every kernel table this CPU can run, scalar first (for tests and benchmarks).
pub fn available() -> Vec<Kernels> {
    all_supported()
}

/// Every level name, plainest first: a cap admits its own level and those before it.
const LEVELS: [&str; 4] = ["scalar", "avx2", "avx512", "neon"];

fn rank(name: &str) -> Option<usize> {
    LEVELS.iter().position(|&l| l == name)
}

/// Pick the best kernel table for this CPU, optionally capped by name ("scalar", "avx2", ...):
/// the fastest supported table no faster than the cap. An unknown name gives "scalar".
pub fn select(cap: Option<&str>) -> Kernels {
    let all = all_supported();
    let best = match cap.map(|c| rank(c.trim())) {
        None => all.last(),
        Some(None) => None,
        Some(Some(max)) => all.iter().rev().find(|k| rank(k.name).is_some_and(|r| r <= max)),
    };
    best.copied().unwrap_or(scalar::KERNELS)
}

/// [`prefetch`] of the cache line where `x` starts (for following a chain of pointers one
/// link per call, each link's target requested before it is read).
#[inline]
pub fn prefetch_ref<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and reads nothing architecturally; SSE (which
        // provides it) is part of the x86_64 baseline; the pointer is `x`'s.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Ask the CPU to start loading `data` into its caches (every 64-byte line), so that a read a
/// little later does not stall. A hint: it has no other effect, and none on CPUs without one.
#[inline]
pub fn prefetch(data: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Every line the slice touches: its start need not be a line's (stepping 64 bytes from
        // it would miss the last line of a slice that starts late in one).
        let start = data.as_ptr() as usize;
        let first = start & !63;
        for line in (first..start + data.len()).step_by(64) {
            // SAFETY: a prefetch never faults and reads nothing architecturally; SSE (which
            // provides it) is part of the x86_64 baseline; the line holds bytes of `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Every kernel table this CPU supports, from the plainest to the fastest.
pub fn all_supported() -> Vec<Kernels> {
    let mut v = vec![scalar::KERNELS];
    #[cfg(target_arch = "x86_64")]
    if let Some(avx2) = x86_tables::avx2(false) {
        v.push(avx2);
        v.extend(x86_tables::avx512(true));
    }
    #[cfg(target_arch = "aarch64")]
    v.extend(neon_table());
    v
}

/// Tables that differ from [`all_supported`]'s only in a sub-path: AVX-512 without VNNI and
/// VPOPCNTDQ (what CPUs lacking those get), and AVX2 with the `vpshufb` nibble-LUT bit kernels,
/// the alternative to 64-bit `popcnt` that measured slower (1,024 bits: 7.3 vs 6.4 ns on an
/// AVX-512 Xeon; see `examples/kernel_bench.rs`). They let tests check, and benchmarks time,
/// the paths other CPUs take. [`select`] never returns them.
#[doc(hidden)]
pub fn fallback_variants() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if let Some(avx2) = x86_tables::avx2(true) {
        v.push(Kernels { name: "avx2 (LUT bits)", ..avx2 });
        if let Some(plain) = x86_tables::avx512(false) {
            v.push(Kernels { name: "avx512 (no vnni, no vpopcntdq)", ..plain });
        }
    }
    v
}

/// A safe `fn` pointer (a non-capturing closure) that calls the `#[target_feature]` kernel
/// `$kernel`. Expand it only after detecting, on the running CPU, every feature `$kernel`
/// enables: the pointer may then be called from anywhere, any number of times.
macro_rules! after_detection {
    ($kernel:path) => {
        // SAFETY: the macro's contract: the caller detected every CPU feature `$kernel`
        // enables before creating this pointer, and a running CPU's features do not go away.
        |a, b| unsafe { $kernel(a, b) }
    };
}

/// [`after_detection!`] for a three-argument kernel (`nibble_sums`), under the same contract.
#[cfg(target_arch = "x86_64")]
macro_rules! nibble_after_detection {
    ($kernel:path) => {
        // SAFETY: as for `after_detection!`: the caller detected every feature `$kernel` enables.
        |a, b, c| unsafe { $kernel(a, b, c) }
    };
}

/// A whole [`Kernels`] table of [`after_detection!`] pointers, under the same contract.
macro_rules! table_after_detection {
    ($name:literal, { $($field:ident: $kernel:path),* $(,)? }) => {
        Kernels {
            name: $name,
            $($field: after_detection!($kernel),)*
            // Training's blocked products: the portable ones unless the table sets its own.
            dots_4x4: crate::vector::distance::scalar::dots_4x4,
            dots_1x4: crate::vector::distance::scalar::dots_1x4,
            nibble_sums: crate::vector::distance::scalar::nibble_sums,
            transpose32: crate::vector::distance::scalar::transpose32,
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86_tables {
    use super::x86::dots::{avx2 as dots2, avx512 as dots512};
    use super::x86::{avx2 as v2, avx512 as v512, popcnt};
    use crate::vector::distance::Kernels;

    /// AVX2 + FMA + F16C (+ POPCNT, which every such CPU has). The bit kernels count with
    /// 64-bit `popcnt`, or with the `vpshufb` nibble LUT if `lut_bits` (measured slower).
    pub fn avx2(lut_bits: bool) -> Option<Kernels> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
            && is_x86_feature_detected!("popcnt");
        if !ok {
            return None;
        }
        let mut k = table_after_detection!("avx2", {
            dot_f32: v2::dot_f32,
            l2sq_f32: v2::l2sq_f32,
            l1_f32: v2::l1_f32,
            cos_f32: v2::cos_f32,
            dot_f32u: v2::dot_f32u,
            l2sq_f32u: v2::l2sq_f32u,
            l1_f32u: v2::l1_f32u,
            cos_f32u: v2::cos_f32u,
            dot_f16: v2::dot_f16,
            l2sq_f16: v2::l2sq_f16,
            l1_f16: v2::l1_f16,
            cos_f16: v2::cos_f16,
            dot_i8: v2::dot_i8,
            l2sq_i8: v2::l2sq_i8,
            l1_i8: v2::l1_i8,
            cos_i8: v2::cos_i8,
            hamming: popcnt::hamming,
            jaccard: popcnt::jaccard,
            encode_sq8: v2::encode_sq8,
        });
        k.dots_4x4 = after_detection!(dots2::dots_4x4);
        k.dots_1x4 = after_detection!(dots2::dots_1x4);
        k.nibble_sums = nibble_after_detection!(v2::nibble_sums);
        k.transpose32 = after_detection!(v2::transpose32);
        if lut_bits {
            k.hamming = after_detection!(v2::hamming_lut);
            k.jaccard = after_detection!(v2::jaccard_lut);
        }
        Some(k)
    }

    /// AVX-512 F + BW on top of the AVX2 level (the caller checked [`avx2`] first; no CPU has
    /// one without the other). With `sub_paths`, the int8 kernels use VNNI and the bit kernels
    /// VPOPCNTDQ when those are present; otherwise `vpmaddwd` + add, and 64-bit `popcnt`.
    pub fn avx512(sub_paths: bool) -> Option<Kernels> {
        let ok = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
        if !ok {
            return None;
        }
        let mut k = table_after_detection!("avx512", {
            dot_f32: v512::dot_f32,
            l2sq_f32: v512::l2sq_f32,
            l1_f32: v512::l1_f32,
            cos_f32: v512::cos_f32,
            dot_f32u: v512::dot_f32u,
            l2sq_f32u: v512::l2sq_f32u,
            l1_f32u: v512::l1_f32u,
            cos_f32u: v512::cos_f32u,
            dot_f16: v512::dot_f16,
            l2sq_f16: v512::l2sq_f16,
            l1_f16: v512::l1_f16,
            cos_f16: v512::cos_f16,
            dot_i8: v512::madd::dot_i8,
            l2sq_i8: v512::madd::l2sq_i8,
            l1_i8: v512::l1_i8,
            cos_i8: v512::madd::cos_i8,
            hamming: popcnt::hamming,
            jaccard: popcnt::jaccard,
            encode_sq8: v2::encode_sq8,
        });
        k.dots_4x4 = after_detection!(dots512::dots_4x4);
        k.dots_1x4 = after_detection!(dots512::dots_1x4);
        // The AVX2 kernel: a 512-bit one (two blocks a register) measured slower on Zen 4
        // (0.62 vs 0.52 ns a 128-d code; `examples/kernel_bench.rs`).
        k.nibble_sums = nibble_after_detection!(v2::nibble_sums);
        k.transpose32 = after_detection!(v2::transpose32);
        if sub_paths && is_x86_feature_detected!("avx512vnni") {
            k.dot_i8 = after_detection!(v512::vnni::dot_i8);
            k.l2sq_i8 = after_detection!(v512::vnni::l2sq_i8);
            k.cos_i8 = after_detection!(v512::vnni::cos_i8);
        }
        if sub_paths && is_x86_feature_detected!("avx512vpopcntdq") {
            k.hamming = after_detection!(v512::hamming_vpopcnt);
            k.jaccard = after_detection!(v512::jaccard_vpopcnt);
        }
        Some(k)
    }
}

#[cfg(target_arch = "aarch64")]
fn neon_table() -> Option<Kernels> {
    use neon as n;
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return None;
    }
    Some(table_after_detection!("neon", {
        dot_f32: n::dot_f32,
        l2sq_f32: n::l2sq_f32,
        l1_f32: n::l1_f32,
        cos_f32: n::cos_f32,
        dot_f32u: n::dot_f32u,
        l2sq_f32u: n::l2sq_f32u,
        l1_f32u: n::l1_f32u,
        cos_f32u: n::cos_f32u,
        dot_f16: n::dot_f16,
        l2sq_f16: n::l2sq_f16,
        l1_f16: n::l1_f16,
        cos_f16: n::cos_f16,
        dot_i8: n::dot_i8,
        l2sq_i8: n::l2sq_i8,
        l1_i8: n::l1_i8,
        cos_i8: n::cos_i8,
        hamming: n::hamming,
        jaccard: n::jaccard,
        encode_sq8: n::encode_sq8,
    }))
}
