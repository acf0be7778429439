//! Distance kernels. Each element type has a plain scalar reference ([`scalar`]) and SIMD
//! versions (AVX2+FMA, AVX-512 on x86_64; NEON on aarch64) chosen once at run time by
//! `crate::simd`, which builds [`Kernels`] tables. Kernels return raw sums; [`Metric`] turns them
//! into distances. Nothing here depends on which table is used: callers pass one.

pub mod scalar;

use crate::error::{Error, Result};
use crate::vector::{ElementType, Vector};
use half::f16;

/// Sums needed for cosine distance: dot product and both squared norms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CosParts<T> {
    pub dot: T,
    pub norm_a: T,
    pub norm_b: T,
}

/// A float32 held as its 4 little-endian bytes. Its alignment is 1, so `&[F32Le]` views any byte
/// buffer in place, whatever its address (see [`f32_le`]): a blob needs no aligned copy.
pub type F32Le = [u8; 4];

/// `bytes` as little-endian float32 values, without copying and whatever its alignment; `None`
/// when the length is not a multiple of 4.
#[inline]
pub fn f32_le(bytes: &[u8]) -> Option<&[F32Le]> {
    match bytes.as_chunks::<4>() {
        (v, []) => Some(v),
        _ => None,
    }
}

/// int8 coding: codes written to `out`, and (scale, ‖x‖₁ rounded up, ‖x‖₂); None when the vector
/// cannot be coded safely.
pub type EncodeSq8 = fn(&[f32], &mut [i8]) -> Option<(f32, f32, f32)>;

/// The kernel table. All slices of one call have equal length (callers check); none needs to
/// be aligned beyond its element type.
///
/// The `*_f32u` kernels are the float32 ones over [`F32Le`] (memory of any alignment). For the
/// same values they give bit-identical results to their `*_f32` counterparts of the same table:
/// they are the same code with another load.
/// Four float32 vectors against four: `[i][j]` = a_i · b_j.
pub type Dots4x4 = fn(&[&[f32]; 4], &[&[f32]; 4]) -> [[f32; 4]; 4];

/// `nibble_sums(packed, lut, out)`: for blocks of 32 entries whose codes are stored transposed
/// (`packed[(b·R + j)·32 + e]` = byte `j` of entry `e` of block `b`, `R = lut.len() / 32` code
/// bytes an entry), `out[32·b + e] = Σ_j lut[32j + (byte & 15)] + lut[32j + 16 + (byte >> 4)]`
/// (wrapping in u16; callers keep the sum below 2¹⁶). `out.len() / 32` blocks are summed;
/// `packed` must hold them.
pub type NibbleSums = fn(&[u8], &[u8], &mut [u16]);

/// `transpose32(src, dst)`: one block of 32 entries of `R = src.len() / 32` bytes each, stored
/// entry after entry, into the layout [`NibbleSums`] reads: `dst[32·j + e] = src[R·e + j]`.
/// `dst` holds at least `32·R` bytes.
pub type Transpose32 = fn(&[u8], &mut [u8]);

#[derive(Clone, Copy)]
pub struct Kernels {
    /// Which implementation this is: "scalar", "avx2", "avx512", "neon".
    pub name: &'static str,
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    pub l2sq_f32: fn(&[f32], &[f32]) -> f32,
    pub l1_f32: fn(&[f32], &[f32]) -> f32,
    pub cos_f32: fn(&[f32], &[f32]) -> CosParts<f32>,
    pub dot_f32u: fn(&[F32Le], &[F32Le]) -> f32,
    pub l2sq_f32u: fn(&[F32Le], &[F32Le]) -> f32,
    pub l1_f32u: fn(&[F32Le], &[F32Le]) -> f32,
    pub cos_f32u: fn(&[F32Le], &[F32Le]) -> CosParts<f32>,
    pub dot_f16: fn(&[f16], &[f16]) -> f32,
    pub l2sq_f16: fn(&[f16], &[f16]) -> f32,
    pub l1_f16: fn(&[f16], &[f16]) -> f32,
    pub cos_f16: fn(&[f16], &[f16]) -> CosParts<f32>,
    pub dot_i8: fn(&[i8], &[i8]) -> i64,
    pub l2sq_i8: fn(&[i8], &[i8]) -> u64,
    pub l1_i8: fn(&[i8], &[i8]) -> u64,
    pub cos_i8: fn(&[i8], &[i8]) -> CosParts<i64>,
    /// Number of differing bits.
    pub hamming: fn(&[u8], &[u8]) -> u64,
    /// (bits set in both, bits set in either).
    pub jaccard: fn(&[u8], &[u8]) -> (u64, u64),
    /// int8 coding of a float32 vector ([`crate::vector::sq8::encode_portable`] compiled for this
    /// table's CPU level: the same bytes everywhere).
    pub encode_sq8: EncodeSq8,
    /// Dot products of 4 float32 vectors with 4 others (`[i][j]` = a_i · b_j), and of one with
    /// 4: each product computed the same way in both (IVF training and assignment). Slices
    /// are read up to the shortest one's length.
    pub dots_4x4: Dots4x4,
    pub dots_1x4: fn(&[f32], &[&[f32]; 4]) -> [f32; 4],
    /// 4-bit table sums over transposed codes (IVF's sign-code scan): see [`NibbleSums`].
    pub nibble_sums: NibbleSums,
    /// Codes of 32 entries transposed for that scan: see [`Transpose32`].
    pub transpose32: Transpose32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    L2,
    Cosine,
    /// Negative inner product, so that ascending order is most similar first.
    Ip,
    L1,
    Hamming,
    Jaccard,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Ip => "ip",
            Metric::L1 => "l1",
            Metric::Hamming => "hamming",
            Metric::Jaccard => "jaccard",
        }
    }
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Metric::L2,
            "cosine" | "cos" => Metric::Cosine,
            "ip" | "dot" | "inner_product" => Metric::Ip,
            "l1" | "manhattan" => Metric::L1,
            "hamming" => Metric::Hamming,
            "jaccard" => Metric::Jaccard,
            _ => return None,
        })
    }
    pub const ALL: [Metric; 6] = [Metric::L2, Metric::Cosine, Metric::Ip, Metric::L1, Metric::Hamming, Metric::Jaccard];

    /// Whether this metric is defined for vectors of element type `ty`.
    pub fn supports(self, ty: ElementType) -> bool {
        match self {
            Metric::Hamming | Metric::Jaccard => ty == ElementType::Bit,
            _ => ty != ElementType::Bit,
        }
    }
}

/// Cosine distance from its parts; `None` when a vector has zero length (undefined).
#[inline]
pub fn cosine_from_parts(p: CosParts<f64>) -> Option<f64> {
    if p.norm_a == 0.0 || p.norm_b == 0.0 {
        return None;
    }
    Some(1.0 - p.dot / (p.norm_a * p.norm_b).sqrt())
}

/// Jaccard distance from (intersection, union) counts: 0 when both vectors are all zeros.
#[inline]
pub fn jaccard_from_counts(inter: u64, union: u64) -> f64 {
    if union == 0 { 0.0 } else { 1.0 - inter as f64 / union as f64 }
}

fn widen_f32(p: CosParts<f32>) -> CosParts<f64> {
    CosParts { dot: p.dot as f64, norm_a: p.norm_a as f64, norm_b: p.norm_b as f64 }
}
fn widen_i64(p: CosParts<i64>) -> CosParts<f64> {
    CosParts { dot: p.dot as f64, norm_a: p.norm_a as f64, norm_b: p.norm_b as f64 }
}

/// Distance between two vectors of the same type and length under `metric`, with kernels `k`.
/// `Ok(None)` means undefined (cosine with a zero vector).
pub fn distance_with(k: &Kernels, metric: Metric, a: &Vector<'_>, b: &Vector<'_>) -> Result<Option<f64>> {
    let ta = a.element_type();
    if ta != b.element_type() {
        return Err(Error::invalid(format!(
            "vector type mismatch: the first vector is {}, the second is {}",
            ta.name(),
            b.element_type().name()
        )));
    }
    if a.dims() != b.dims() {
        return Err(Error::invalid(format!(
            "vector dimension mismatch: the first vector has {} dimensions, the second has {}",
            a.dims(),
            b.dims()
        )));
    }
    if !metric.supports(ta) {
        return Err(Error::invalid(format!("{} distance is not defined for {} vectors", metric.name(), ta.name())));
    }
    Ok(match (a, b) {
        (Vector::F32(x), Vector::F32(y)) => f32_distance(k, metric, x, y),
        (Vector::F16(x), Vector::F16(y)) => f16_distance(k, metric, x, y),
        (Vector::I8(x), Vector::I8(y)) => i8_distance(k, metric, x, y),
        (Vector::Bit(x), Vector::Bit(y)) => bit_distance(k, metric, x, y),
        _ => unreachable!("types checked above"),
    })
}

/// Float32 sums the kernels return are trusted when finite and, for sums of squares and dot
/// products, at least `n · 2⁻¹²⁴` in magnitude (`n` = dimensions); otherwise the distance is
/// recomputed in f64, where every float32 input fits: a product of two float32 values lies
/// between 2⁻²⁹⁸ and 2²⁵⁶ (no underflow, no overflow), and 65,536 of them sum to at most
/// 65536·(2·3.4e38)² ≈ 3e82.
///
/// Why that threshold: a float32 kernel rounds at most 2n times (a multiply and an add per
/// element, or one FMA, plus the lane reduction). A rounding whose result is normal has a
/// relative error of at most 2⁻²⁴, which the usual float32 error analysis covers; one whose
/// result is subnormal (or underflows to zero) has an absolute error of up to half the smallest
/// subnormal, 2⁻¹⁵⁰, whatever the size of the result. So underflow adds at most
/// 2n·2⁻¹⁵⁰ = n·2⁻¹⁴⁹ to a sum. For a computed sum `|s| ≥ n·2⁻¹²⁴` that is at most 2⁻²⁵·|s|:
/// below one float32 rounding, so the sum is as good as one with no underflow at all. Below the
/// threshold the f64 sum is used (its own subnormal range starts at 2⁻¹⁰²², far below any
/// product of float32 values). Overflow shows as a non-finite sum: once a partial sum is
/// infinite it stays infinite or becomes NaN. Additions alone (L1) are exact when their result
/// is subnormal, so L1 needs only the overflow check.
///
/// Cosine checks the two squared norms, not the dot product: with both norms ≥ n·2⁻¹²⁴, the
/// dot's underflow error moves `dot / √(‖a‖²‖b‖²)` by at most n·2⁻¹⁴⁹ / (n·2⁻¹²⁴) = 2⁻²⁵,
/// less than the float32 rounding of the cosine itself.
///
/// The inner product checks `|dot|`, so a dot product that cancels to nearly zero is also
/// recomputed (exactly zero, e.g. orthogonal sparse vectors, included): the f64 value is then
/// more accurate, never less.
#[inline(always)]
fn trusted_sum(s: f32, n: usize) -> bool {
    // n ≤ 65,536 = 2¹⁶, so the threshold is a normal float32 (≤ 2⁻¹⁰⁸), computed exactly.
    s.is_finite() && s.abs() >= n as f32 * f32::from_bits(0x0180_0000) // 2⁻¹²⁴
}

/// The last step of every float distance: a NaN (only from non-finite stored data, which
/// inserts reject) is no distance at all, so it never ranks; −0 becomes +0, so that equal
/// distances compare equal under the total order that ranks them (ties then go by rowid).
#[inline(always)]
fn finish(d: f64) -> Option<f64> {
    if d.is_nan() { None } else { Some(d + 0.0) }
}

/// Sums in f64 over float-like elements (`w` converts one to f32 exactly).
mod wide {
    use super::CosParts;
    #[inline]
    pub fn l2sq<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = w(x) as f64 - w(y) as f64;
                d * d
            })
            .sum()
    }
    #[inline]
    pub fn dot<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| w(x) as f64 * w(y) as f64).sum()
    }
    #[inline]
    pub fn l1<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| (w(x) as f64 - w(y) as f64).abs()).sum()
    }
    #[inline]
    pub fn cos<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> CosParts<f64> {
        let mut p = CosParts::default();
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (w(x) as f64, w(y) as f64);
            p.dot += x * y;
            p.norm_a += x * x;
            p.norm_b += y * y;
        }
        p
    }
}

/// [`f32_distance`] and [`f32u_distance`] from their kernels' results: `s` computes a float32
/// kernel, `wide` the f64 fallback (see [`trusted_sum`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn float32_distance<T: Copy>(
    metric: Metric,
    x: &[T],
    y: &[T],
    w: impl Fn(T) -> f32 + Copy,
    l2sq: impl FnOnce() -> f32,
    dot: impl FnOnce() -> f32,
    l1: impl FnOnce() -> f32,
    cos: impl FnOnce() -> CosParts<f32>,
) -> Option<f64> {
    let n = x.len();
    let d = match metric {
        Metric::L2 => {
            let s = l2sq();
            if trusted_sum(s, n) { s as f64 } else { wide::l2sq(x, y, w) }.sqrt()
        }
        Metric::Ip => {
            let s = dot();
            -(if trusted_sum(s, n) { s as f64 } else { wide::dot(x, y, w) })
        }
        Metric::L1 => {
            let s = l1();
            if s.is_finite() { s as f64 } else { wide::l1(x, y, w) }
        }
        Metric::Cosine => {
            let p = cos();
            let parts = if p.dot.is_finite() && trusted_sum(p.norm_a, n) && trusted_sum(p.norm_b, n) {
                widen_f32(p)
            } else {
                wide::cos(x, y, w)
            };
            cosine_from_parts(parts)?
        }
        Metric::Hamming | Metric::Jaccard => return None,
    };
    finish(d)
}

/// `metric` between two float32 vectors of equal length (metric must suit the type). Right for
/// every finite input: the float32 kernels' sums are used when they can be trusted, and the
/// distance is recomputed in f64 when they may have overflowed or lost precision to underflow
/// (see [`trusted_sum`]). None: undefined (cosine with an all-zero vector), or NaN (non-finite
/// input).
#[inline]
pub fn f32_distance(k: &Kernels, metric: Metric, x: &[f32], y: &[f32]) -> Option<f64> {
    float32_distance(
        metric,
        x,
        y,
        |v| v,
        || (k.l2sq_f32)(x, y),
        || (k.dot_f32)(x, y),
        || (k.l1_f32)(x, y),
        || (k.cos_f32)(x, y),
    )
}

/// [`f32_distance`] over float32 values of any alignment (see [`F32Le`]); the same result for the
/// same values.
#[inline]
pub fn f32u_distance(k: &Kernels, metric: Metric, x: &[F32Le], y: &[F32Le]) -> Option<f64> {
    float32_distance(
        metric,
        x,
        y,
        f32::from_le_bytes,
        || (k.l2sq_f32u)(x, y),
        || (k.dot_f32u)(x, y),
        || (k.l1_f32u)(x, y),
        || (k.cos_f32u)(x, y),
    )
}

/// float16 needs no fallback: float16 values are multiples of 2⁻²⁴ below 2¹⁶, so a nonzero
/// product or squared difference of two of them lies between 2⁻⁴⁸ (a normal float32) and 2³⁴,
/// and 65,536 of them (2⁵⁰ at most) neither overflow nor underflow in float32.
#[inline]
pub fn f16_distance(k: &Kernels, metric: Metric, x: &[f16], y: &[f16]) -> Option<f64> {
    finish(match metric {
        Metric::L2 => ((k.l2sq_f16)(x, y) as f64).sqrt(),
        Metric::Ip => -((k.dot_f16)(x, y) as f64),
        Metric::L1 => (k.l1_f16)(x, y) as f64,
        Metric::Cosine => cosine_from_parts(widen_f32((k.cos_f16)(x, y)))?,
        Metric::Hamming | Metric::Jaccard => return None,
    })
}

#[inline]
pub fn i8_distance(k: &Kernels, metric: Metric, x: &[i8], y: &[i8]) -> Option<f64> {
    finish(match metric {
        Metric::L2 => ((k.l2sq_i8)(x, y) as f64).sqrt(),
        Metric::Ip => -((k.dot_i8)(x, y) as f64),
        Metric::L1 => (k.l1_i8)(x, y) as f64,
        Metric::Cosine => cosine_from_parts(widen_i64((k.cos_i8)(x, y)))?,
        Metric::Hamming | Metric::Jaccard => return None,
    })
}

#[inline]
pub fn bit_distance(k: &Kernels, metric: Metric, x: &[u8], y: &[u8]) -> Option<f64> {
    match metric {
        Metric::Hamming => Some((k.hamming)(x, y) as f64),
        Metric::Jaccard => {
            let (i, u) = (k.jaccard)(x, y);
            Some(jaccard_from_counts(i, u))
        }
        _ => None,
    }
}
