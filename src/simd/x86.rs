//! x86_64 kernels: [`avx2`] (AVX2 + FMA + F16C) and [`avx512`] (AVX-512 F + BW, with VNNI and
//! VPOPCNTDQ sub-paths), plus 64-bit `popcnt` bit kernels ([`popcnt`]: the "avx2" table's, and
//! the "avx512" table's when VPOPCNTDQ is missing).
//!
//! Every kernel is a safe `#[target_feature]` fn: calling it from code that was not compiled
//! with those features needs `unsafe` and is sound only once the features have been detected
//! on the running CPU, which `super::x86_tables` does before building a table.
//!
//! Loads go through small helpers that take fixed-size array references (`&[f32; 8]`, ...), so
//! a load can only read memory the borrow covers; tails shorter than a vector are either summed
//! in scalar code (AVX2) or read with masked loads (AVX-512), whose masked-off lanes touch no
//! memory. Nothing depends on the address of the data: loads are unaligned (`loadu`) and the
//! summation order is a function of the length alone, so results are deterministic. The
//! `*_f32u` kernels take float32 values as little-endian bytes (`F32Le`, alignment 1: a blob at
//! any address); they are the float32 kernels with another loader, so they give bit-identical
//! results for the same values.
//!
//! The int8 kernels accumulate in i32 lanes and reduce to i64 every [`I8_CHUNK`] elements,
//! which keeps every lane far from overflow for slices of any length (see [`I8_CHUNK`]).

use crate::vector::distance::{CosParts, F32Le};
use core::arch::x86_64::*;
use half::f16;

/// Elements of int8 data summed in i32 lanes before the lanes are reduced into an i64 total.
///
/// Worst case per i16 pair multiply-add: l2sq with `a - b` in -255..=255 gives
/// `2 * 255^2 = 130,050` per i32 lane per `madd`/`dpwssd` (dot: at most `2 * 128^2 = 32,768`).
/// AVX2 lanes take one madd result per 16 elements and AVX-512 lanes one per 32, so a chunk of
/// 65,536 elements adds at most `65,536 / 16 * 130,050 = 532,684,800 < 2^31 - 1` to any lane
/// (summed over all accumulators of the same lane). Chunking makes longer slices safe too.
pub const I8_CHUNK: usize = 1 << 16;

/// The one-byte element types (`u8`, `i8`) that the byte-vector loads accept: `&[T; 32]` then
/// covers exactly 32 bytes. Private to this file, so nothing else (no zero-sized type) can
/// implement it.
trait OneByte {}
impl OneByte for u8 {}
impl OneByte for i8 {}

// ---------------------------------------------------------------------------------------------
// Scalar pieces shared by the SIMD kernels' tails (plain safe code).

#[inline(always)]
fn f16_to_f32(x: f16) -> f32 {
    x.to_f32()
}
#[inline(always)]
fn same(x: f32) -> f32 {
    x
}
#[inline(always)]
fn f32_le(x: F32Le) -> f32 {
    f32::from_le_bytes(x)
}

/// Exact scalar int8 sums for tails: the scalar reference kernels themselves.
use crate::vector::distance::scalar::{cos_i8 as i8_cos_tail, dot_i8 as i8_dot_tail, l1_i8 as i8_l1_tail};
#[inline(always)]
fn i8_l2sq_tail(a: &[i8], b: &[i8]) -> i64 {
    crate::vector::distance::scalar::l2sq_i8(a, b) as i64
}
#[inline(always)]
fn add_parts(p: &mut CosParts<i64>, q: CosParts<i64>) {
    p.dot += q.dot;
    p.norm_a += q.norm_a;
    p.norm_b += q.norm_b;
}

/// Bit kernels with 64-bit `popcnt` (every AVX2 CPU has it), 4 independent counters. Safe code:
/// the words are read with `u64::from_le_bytes`. Measured faster than the AVX2 `vpshufb` LUT.
pub mod popcnt {
    #[inline(always)]
    fn word(x: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*x)
    }

    #[target_feature(enable = "popcnt")]
    pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
        let n = a.len().min(b.len());
        let (aw, at) = a[..n].as_chunks::<8>();
        let (bw, bt) = b[..n].as_chunks::<8>();
        let mut c = [0u64; 4];
        let (mut ai, mut bi) = (aw.chunks_exact(4), bw.chunks_exact(4));
        for (x4, y4) in (&mut ai).zip(&mut bi) {
            for k in 0..4 {
                c[k] += (word(&x4[k]) ^ word(&y4[k])).count_ones() as u64;
            }
        }
        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
            c[0] += (word(x) ^ word(y)).count_ones() as u64;
        }
        let tail: u64 = at.iter().zip(bt).map(|(x, y)| (x ^ y).count_ones() as u64).sum();
        c[0] + c[1] + c[2] + c[3] + tail
    }

    #[target_feature(enable = "popcnt")]
    pub fn jaccard(a: &[u8], b: &[u8]) -> (u64, u64) {
        let n = a.len().min(b.len());
        let (aw, at) = a[..n].as_chunks::<8>();
        let (bw, bt) = b[..n].as_chunks::<8>();
        let (mut i, mut u) = ([0u64; 2], [0u64; 2]);
        let (mut ai, mut bi) = (aw.chunks_exact(2), bw.chunks_exact(2));
        for (x2, y2) in (&mut ai).zip(&mut bi) {
            for k in 0..2 {
                let (x, y) = (word(&x2[k]), word(&y2[k]));
                i[k] += (x & y).count_ones() as u64;
                u[k] += (x | y).count_ones() as u64;
            }
        }
        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
            let (x, y) = (word(x), word(y));
            i[0] += (x & y).count_ones() as u64;
            u[0] += (x | y).count_ones() as u64;
        }
        for (x, y) in at.iter().zip(bt) {
            i[0] += (x & y).count_ones() as u64;
            u[0] += (x | y).count_ones() as u64;
        }
        (i[0] + i[1], u[0] + u[1])
    }
}

// ---------------------------------------------------------------------------------------------

/// AVX2 + FMA + F16C kernels (Haswell and later; Zen and later).
pub mod avx2 {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx")]
    fn ld_f32(x: &[f32; 8]) -> __m256 {
        // SAFETY: reads exactly the 8 floats `x` borrows; `loadu` needs no alignment.
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }
    /// 8 little-endian float32 values at any address.
    #[inline]
    #[target_feature(enable = "avx")]
    fn ld_f32u(x: &[F32Le; 8]) -> __m256 {
        // SAFETY: reads exactly the 32 bytes `x` borrows; `loadu` needs no alignment (`x` has
        // none beyond 1). x86 is little-endian, so the lanes are the values the bytes encode.
        unsafe { _mm256_loadu_ps(x.as_ptr().cast()) }
    }
    #[inline]
    #[target_feature(enable = "avx,f16c")]
    fn ld_f16(x: &[f16; 8]) -> __m256 {
        // SAFETY: reads exactly the 16 bytes `x` borrows (`f16` is a plain 2-byte value);
        // `loadu` needs no alignment.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
    }
    /// 16 int8 values sign-extended to 16 i16 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn ld_i8x16(x: &[i8; 16]) -> __m256i {
        // SAFETY: reads exactly the 16 bytes `x` borrows; `loadu` needs no alignment.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
    }
    #[inline]
    #[target_feature(enable = "avx")]
    fn ld_32<T>(x: &[T; 32]) -> __m256i
    where
        T: Copy + OneByte,
    {
        // SAFETY: `T` is a one-byte type (`OneByte`), so this reads exactly the 32 bytes `x`
        // borrows; `loadu` needs no alignment.
        unsafe { _mm256_loadu_si256(x.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx")]
    fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum_epi64(v: __m256i) -> i64 {
        let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        _mm_cvtsi128_si64(s).wrapping_add(_mm_extract_epi64::<1>(s))
    }
    /// Sum of the eight i32 lanes, widened first so the sum cannot overflow.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum_epi32(v: __m256i) -> i64 {
        let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
        let hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v));
        hsum_epi64(_mm256_add_epi64(lo, hi))
    }

    /// One float kernel: 4 independent accumulators over 32 elements per step, then single
    /// 8-element steps, then a scalar tail added after the horizontal sum.
    macro_rules! float_kernel {
        ($name:ident, $T:ty, $ld:ident, $cvt:path,
         |$acc:ident, $x:ident, $y:ident| $step:expr, |$sx:ident, $sy:ident| $tail:expr) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn $name(a: &[$T], b: &[$T]) -> f32 {
                let n = a.len().min(b.len());
                let (av, at) = a[..n].as_chunks::<8>();
                let (bv, bt) = b[..n].as_chunks::<8>();
                let mut acc = [_mm256_setzero_ps(); 4];
                let (mut ai, mut bi) = (av.chunks_exact(4), bv.chunks_exact(4));
                for (x4, y4) in (&mut ai).zip(&mut bi) {
                    for k in 0..4 {
                        let ($acc, $x, $y) = (acc[k], $ld(&x4[k]), $ld(&y4[k]));
                        acc[k] = $step;
                    }
                }
                for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                    let ($acc, $x, $y) = (acc[0], $ld(x), $ld(y));
                    acc[0] = $step;
                }
                let mut s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
                for (x, y) in at.iter().zip(bt) {
                    let ($sx, $sy) = ($cvt(*x), $cvt(*y));
                    s += $tail;
                }
                s
            }
        };
    }

    /// Cosine parts: dot and both norms, 2 accumulators each over 16 elements per step.
    macro_rules! cos_kernel {
        ($name:ident, $T:ty, $ld:ident, $cvt:path) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn $name(a: &[$T], b: &[$T]) -> CosParts<f32> {
                let n = a.len().min(b.len());
                let (av, at) = a[..n].as_chunks::<8>();
                let (bv, bt) = b[..n].as_chunks::<8>();
                let z = _mm256_setzero_ps();
                let (mut d, mut na, mut nb) = ([z; 2], [z; 2], [z; 2]);
                let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
                for (x2, y2) in (&mut ai).zip(&mut bi) {
                    for k in 0..2 {
                        let (x, y) = ($ld(&x2[k]), $ld(&y2[k]));
                        d[k] = _mm256_fmadd_ps(x, y, d[k]);
                        na[k] = _mm256_fmadd_ps(x, x, na[k]);
                        nb[k] = _mm256_fmadd_ps(y, y, nb[k]);
                    }
                }
                for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                    let (x, y) = ($ld(x), $ld(y));
                    d[0] = _mm256_fmadd_ps(x, y, d[0]);
                    na[0] = _mm256_fmadd_ps(x, x, na[0]);
                    nb[0] = _mm256_fmadd_ps(y, y, nb[0]);
                }
                let mut p = CosParts {
                    dot: hsum_ps(_mm256_add_ps(d[0], d[1])),
                    norm_a: hsum_ps(_mm256_add_ps(na[0], na[1])),
                    norm_b: hsum_ps(_mm256_add_ps(nb[0], nb[1])),
                };
                for (x, y) in at.iter().zip(bt) {
                    let (x, y) = ($cvt(*x), $cvt(*y));
                    p.dot += x * y;
                    p.norm_a += x * x;
                    p.norm_b += y * y;
                }
                p
            }
        };
    }

    /// The four float kernels (dot, l2sq, l1, cos) for one element type: the float32, the
    /// float32-bytes and the float16 kernels are the same code with another load.
    macro_rules! float_kernels {
        ($T:ty, $ld:ident, $cvt:path, $dot:ident, $l2sq:ident, $l1:ident, $cos:ident) => {
            float_kernel!($dot, $T, $ld, $cvt, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x, y| x * y);
            float_kernel!(
                $l2sq,
                $T,
                $ld,
                $cvt,
                |acc, x, y| {
                    let d = _mm256_sub_ps(x, y);
                    _mm256_fmadd_ps(d, d, acc)
                },
                |x, y| (x - y) * (x - y)
            );
            float_kernel!(
                $l1,
                $T,
                $ld,
                $cvt,
                |acc, x, y| _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y))),
                |x, y| (x - y).abs()
            );
            cos_kernel!($cos, $T, $ld, $cvt);
        };
    }

    float_kernels!(f32, ld_f32, same, dot_f32, l2sq_f32, l1_f32, cos_f32);
    float_kernels!(F32Le, ld_f32u, f32_le, dot_f32u, l2sq_f32u, l1_f32u, cos_f32u);
    float_kernels!(f16, ld_f16, f16_to_f32, dot_f16, l2sq_f16, l1_f16, cos_f16);

    /// int8 kernels: sign-extend 16 values to i16, `vpmaddwd` pairs into i32 lanes (2
    /// accumulators), reduce to i64 once per `I8_CHUNK` elements.
    macro_rules! i8_kernel {
        ($name:ident, $out:ty, |$x:ident, $y:ident| $madd:expr, $tail:path) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn $name(a: &[i8], b: &[i8]) -> $out {
                let n = a.len().min(b.len());
                let mut total: i64 = 0;
                for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
                    let (av, at) = a.as_chunks::<16>();
                    let (bv, bt) = b.as_chunks::<16>();
                    let mut acc = [_mm256_setzero_si256(); 2];
                    let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
                    for (x2, y2) in (&mut ai).zip(&mut bi) {
                        for k in 0..2 {
                            let ($x, $y) = (ld_i8x16(&x2[k]), ld_i8x16(&y2[k]));
                            acc[k] = _mm256_add_epi32(acc[k], $madd);
                        }
                    }
                    for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                        let ($x, $y) = (ld_i8x16(x), ld_i8x16(y));
                        acc[0] = _mm256_add_epi32(acc[0], $madd);
                    }
                    total += hsum_epi32(acc[0]) + hsum_epi32(acc[1]) + $tail(at, bt);
                }
                total as $out
            }
        };
    }

    i8_kernel!(dot_i8, i64, |x, y| _mm256_madd_epi16(x, y), i8_dot_tail);
    i8_kernel!(
        l2sq_i8,
        u64,
        |x, y| {
            let d = _mm256_sub_epi16(x, y);
            _mm256_madd_epi16(d, d)
        },
        i8_l2sq_tail
    );

    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn cos_i8(a: &[i8], b: &[i8]) -> CosParts<i64> {
        let n = a.len().min(b.len());
        let mut p = CosParts::default();
        for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
            let (av, at) = a.as_chunks::<16>();
            let (bv, bt) = b.as_chunks::<16>();
            let z = _mm256_setzero_si256();
            let (mut d, mut na, mut nb) = (z, z, z);
            for (x, y) in av.iter().zip(bv) {
                let (x, y) = (ld_i8x16(x), ld_i8x16(y));
                d = _mm256_add_epi32(d, _mm256_madd_epi16(x, y));
                na = _mm256_add_epi32(na, _mm256_madd_epi16(x, x));
                nb = _mm256_add_epi32(nb, _mm256_madd_epi16(y, y));
            }
            add_parts(&mut p, CosParts { dot: hsum_epi32(d), norm_a: hsum_epi32(na), norm_b: hsum_epi32(nb) });
            add_parts(&mut p, i8_cos_tail(at, bt));
        }
        p
    }

    /// L1 over int8: flipping the sign bit maps i8 to u8 preserving differences, and
    /// `vpsadbw` sums |x - y| of 8 bytes into a u64 lane (no overflow to manage).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn l1_i8(a: &[i8], b: &[i8]) -> u64 {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<32>();
        let (bv, bt) = b[..n].as_chunks::<32>();
        let bias = _mm256_set1_epi8(i8::MIN);
        let mut acc = _mm256_setzero_si256();
        for (x, y) in av.iter().zip(bv) {
            let (x, y) = (_mm256_xor_si256(ld_32(x), bias), _mm256_xor_si256(ld_32(y), bias));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(x, y));
        }
        hsum_epi64(acc) as u64 + i8_l1_tail(at, bt)
    }

    /// Per-byte popcount by the nibble lookup table (`vpshufb`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn popcnt_bytes(v: __m256i) -> __m256i {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(v, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
    }

    /// Hamming by the nibble LUT, the alternative to 64-bit `popcnt` (which measured faster and is
    /// what the "avx2" table uses; this stays for tests and `kernel_bench`): two 32-byte blocks
    /// per step (byte counts <= 16, no byte overflow), `vpsadbw` against zero folds them into
    /// u64 lanes.
    #[target_feature(enable = "avx2,fma,f16c,popcnt")]
    pub fn hamming_lut(a: &[u8], b: &[u8]) -> u64 {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<32>();
        let (bv, bt) = b[..n].as_chunks::<32>();
        let z = _mm256_setzero_si256();
        let mut acc = z;
        let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
        for (x2, y2) in (&mut ai).zip(&mut bi) {
            let c0 = popcnt_bytes(_mm256_xor_si256(ld_32(&x2[0]), ld_32(&y2[0])));
            let c1 = popcnt_bytes(_mm256_xor_si256(ld_32(&x2[1]), ld_32(&y2[1])));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_add_epi8(c0, c1), z));
        }
        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
            let c = popcnt_bytes(_mm256_xor_si256(ld_32(x), ld_32(y)));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(c, z));
        }
        hsum_epi64(acc) as u64 + popcnt::hamming(at, bt)
    }

    #[target_feature(enable = "avx2,fma,f16c,popcnt")]
    pub fn jaccard_lut(a: &[u8], b: &[u8]) -> (u64, u64) {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<32>();
        let (bv, bt) = b[..n].as_chunks::<32>();
        let z = _mm256_setzero_si256();
        let (mut i, mut u) = (z, z);
        for (x, y) in av.iter().zip(bv) {
            let (x, y) = (ld_32(x), ld_32(y));
            i = _mm256_add_epi64(i, _mm256_sad_epu8(popcnt_bytes(_mm256_and_si256(x, y)), z));
            u = _mm256_add_epi64(u, _mm256_sad_epu8(popcnt_bytes(_mm256_or_si256(x, y)), z));
        }
        let (ti, tu) = popcnt::jaccard(at, bt);
        (hsum_epi64(i) as u64 + ti, hsum_epi64(u) as u64 + tu)
    }

    /// A 16-byte table in both 128-bit lanes (for `vpshufb`, which looks up within a lane).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn ld_table(x: &[u8; 16]) -> __m256i {
        // SAFETY: reads exactly the 16 bytes `x` borrows; `loadu` needs no alignment.
        _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
    }

    /// [`crate::vector::distance::NibbleSums`]: per code byte, the low and high nibbles of 32
    /// entries index that byte's two 16-byte tables (`vpshufb`); even and odd entries add up in
    /// separate u16 lanes, interleaved back into entry order at the end. The same sums as the
    /// scalar reference (u16 addition wraps alike), in any order.
    #[target_feature(enable = "avx2,fma,f16c,popcnt")]
    pub fn nibble_sums(packed: &[u8], lut: &[u8], out: &mut [u16]) {
        let rows = lut.len() / 32;
        let (tables, _) = lut[..32 * rows].as_chunks::<16>();
        let (outs, _) = out.as_chunks_mut::<32>();
        let (codes, _) = packed[..outs.len() * rows * 32].as_chunks::<32>();
        let nib = _mm256_set1_epi8(0x0f);
        let low = _mm256_set1_epi16(0x00ff);
        for (o, block) in outs.iter_mut().zip(codes.chunks_exact(rows.max(1))) {
            let (mut even, mut odd) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for (c, t) in block.iter().zip(tables.chunks_exact(2)) {
                let c = ld_32(c);
                let rl = _mm256_shuffle_epi8(ld_table(&t[0]), _mm256_and_si256(c, nib));
                let rh = _mm256_shuffle_epi8(ld_table(&t[1]), _mm256_and_si256(_mm256_srli_epi16::<4>(c), nib));
                even = _mm256_add_epi16(even, _mm256_add_epi16(_mm256_and_si256(rl, low), _mm256_and_si256(rh, low)));
                odd = _mm256_add_epi16(odd, _mm256_add_epi16(_mm256_srli_epi16::<8>(rl), _mm256_srli_epi16::<8>(rh)));
            }
            // Lane-wise interleave: a = entries 0-7 | 16-23, b = 8-15 | 24-31.
            let a = _mm256_unpacklo_epi16(even, odd);
            let b = _mm256_unpackhi_epi16(even, odd);
            let (first, second) = (_mm256_permute2x128_si256::<0x20>(a, b), _mm256_permute2x128_si256::<0x31>(a, b));
            let (lo, hi) = o.split_at_mut(16);
            // SAFETY: each store writes exactly the 16 u16 (32 bytes) of the half of `o` it is
            // given; `storeu` needs no alignment.
            unsafe {
                _mm256_storeu_si256(lo.as_mut_ptr().cast(), first);
                _mm256_storeu_si256(hi.as_mut_ptr().cast(), second);
            }
        }
        if rows == 0 {
            out.fill(0);
        }
    }

    /// [`crate::vector::distance::Transpose32`]: 16 code bytes at a time, entry `i` in the low
    /// lane of register `i` and entry `16 + i` in its high lane; four rounds of interleaving
    /// register `i` with register `i + 8` (a perfect shuffle) transpose both 16 × 16 byte
    /// matrices, leaving byte `j` of entries 0-15 | 16-31 in register `j`: one row of `dst`.
    /// The bytes past the last multiple of 16 go one by one.
    #[target_feature(enable = "avx2,fma,f16c,popcnt")]
    pub fn transpose32(src: &[u8], dst: &mut [u8]) {
        let rows = src.len() / 32;
        let ld_16 = |at: usize| -> __m128i {
            let x: &[u8; 16] = src[at..at + 16].try_into().unwrap_or(&[0; 16]);
            // SAFETY: reads exactly the 16 bytes `x` borrows; `loadu` needs no alignment.
            unsafe { _mm_loadu_si128(x.as_ptr().cast()) }
        };
        for g in 0..rows / 16 {
            let mut r = [_mm256_setzero_si256(); 16];
            for (i, r) in r.iter_mut().enumerate() {
                let (lo, hi) = (ld_16(i * rows + 16 * g), ld_16((i + 16) * rows + 16 * g));
                *r = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
            }
            for _ in 0..4 {
                let mut n = [_mm256_setzero_si256(); 16];
                for i in 0..8 {
                    n[2 * i] = _mm256_unpacklo_epi8(r[i], r[i + 8]);
                    n[2 * i + 1] = _mm256_unpackhi_epi8(r[i], r[i + 8]);
                }
                r = n;
            }
            for (j, r) in r.iter().enumerate() {
                let at = 32 * (16 * g + j);
                let d: &mut [u8; 32] = (&mut dst[at..at + 32]).try_into().unwrap_or_else(|_| unreachable!());
                // SAFETY: writes exactly the 32 bytes `d` borrows; `storeu` needs no alignment.
                unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), *r) };
            }
        }
        for e in 0..32 {
            for j in rows / 16 * 16..rows {
                dst[32 * j + e] = src[rows * e + j];
            }
        }
    }

    /// int8 coding ([`crate::vector::sq8::encode_portable`]) compiled with AVX2: the same code,
    /// so the same bytes, several times faster.
    #[target_feature(enable = "avx2,fma")]
    pub fn encode_sq8(x: &[f32], out: &mut [i8]) -> Option<(f32, f32, f32)> {
        crate::vector::sq8::encode_portable(x, out)
    }
}

// ---------------------------------------------------------------------------------------------

/// AVX-512 kernels (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4 and later). The base level
/// needs AVX-512 F + BW; `vnni` and `vpopcntdq` are optional sub-paths.
pub mod avx512 {
    use super::*;

    /// Mask with the low `min(len, bits)` bits set (`bits` <= 64).
    #[inline(always)]
    fn low_mask(len: usize, bits: u32) -> u64 {
        let k = len.min(bits as usize) as u32;
        if k == 64 { u64::MAX } else { (1u64 << k) - 1 }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f32(x: &[f32; 16]) -> __m512 {
        // SAFETY: reads exactly the 16 floats `x` borrows; `loadu` needs no alignment.
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    }
    /// The first `min(x.len(), 16)` floats of `x`, zeros in the other lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f32_tail(x: &[f32]) -> __m512 {
        let m = low_mask(x.len(), 16) as __mmask16;
        // SAFETY: only lanes whose mask bit is set are read, and those are the first
        // `min(x.len(), 16)` elements of `x`; masked-off lanes access no memory (no fault).
        unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr()) }
    }
    /// 16 little-endian float32 values at any address.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f32u(x: &[F32Le; 16]) -> __m512 {
        // SAFETY: reads exactly the 64 bytes `x` borrows; `loadu` needs no alignment (`x` has
        // none beyond 1). x86 is little-endian, so the lanes are the values the bytes encode.
        unsafe { _mm512_loadu_ps(x.as_ptr().cast()) }
    }
    /// The first `min(x.len(), 16)` values of `x` (any address), zeros in the other lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f32u_tail(x: &[F32Le]) -> __m512 {
        let m = low_mask(x.len(), 16) as __mmask16;
        // SAFETY: only lanes whose mask bit is set are read, and those are the 4-byte groups of
        // the first `min(x.len(), 16)` elements of `x`; masked-off lanes access no memory (no
        // fault); `loadu` needs no alignment.
        unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().cast()) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_f16(x: &[f16; 16]) -> __m512 {
        // SAFETY: reads exactly the 32 bytes `x` borrows (`f16` is a plain 2-byte value);
        // `loadu` needs no alignment.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(x.as_ptr().cast()) })
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn ld_f16_tail(x: &[f16]) -> __m512 {
        let m = low_mask(x.len(), 16) as __mmask32;
        // SAFETY: only the first `min(x.len(), 16)` 2-byte lanes are read (mask), all inside
        // `x`; masked-off lanes access no memory.
        let v = unsafe { _mm512_maskz_loadu_epi16(m, x.as_ptr().cast()) };
        _mm512_cvtph_ps(_mm512_castsi512_si256(v))
    }
    /// 32 int8 values sign-extended to 32 i16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn ld_i8x32(x: &[i8; 32]) -> __m512i {
        // SAFETY: reads exactly the 32 bytes `x` borrows; `loadu` needs no alignment.
        _mm512_cvtepi8_epi16(unsafe { _mm256_loadu_si256(x.as_ptr().cast()) })
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn ld_i8x32_tail(x: &[i8]) -> __m512i {
        let m = low_mask(x.len(), 32);
        // SAFETY: only the first `min(x.len(), 32)` bytes are read (mask), all inside `x`;
        // masked-off lanes access no memory.
        let v = unsafe { _mm512_maskz_loadu_epi8(m, x.as_ptr()) };
        _mm512_cvtepi8_epi16(_mm512_castsi512_si256(v))
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn ld_64<T: OneByte>(x: &[T; 64]) -> __m512i {
        // SAFETY: `T` is a one-byte type, so this reads exactly the 64 bytes `x` borrows;
        // `loadu` needs no alignment.
        unsafe { _mm512_loadu_si512(x.as_ptr().cast()) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn ld_64_tail<T: OneByte>(x: &[T]) -> __m512i {
        let m = low_mask(x.len(), 64);
        // SAFETY: `T` is one byte; only the first `min(x.len(), 64)` bytes are read (mask), all
        // inside `x`; masked-off lanes access no memory.
        unsafe { _mm512_maskz_loadu_epi8(m, x.as_ptr().cast()) }
    }

    /// Sum of the sixteen i32 lanes, widened to i64 first so it cannot overflow.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum_epi32(v: __m512i) -> i64 {
        let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
        let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(v));
        _mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sum4(v: [__m512; 4]) -> __m512 {
        _mm512_add_ps(_mm512_add_ps(v[0], v[1]), _mm512_add_ps(v[2], v[3]))
    }

    /// 4 independent accumulators over 64 elements per step, single 16-element steps, and a
    /// masked final step (zero lanes contribute nothing to any of these sums).
    macro_rules! float_kernel {
        ($name:ident, $T:ty, $feat:literal, $ld:ident, $ld_tail:ident, |$acc:ident, $x:ident, $y:ident| $step:expr) => {
            #[target_feature(enable = $feat)]
            pub fn $name(a: &[$T], b: &[$T]) -> f32 {
                let n = a.len().min(b.len());
                let (av, at) = a[..n].as_chunks::<16>();
                let (bv, bt) = b[..n].as_chunks::<16>();
                let mut acc = [_mm512_setzero_ps(); 4];
                let (mut ai, mut bi) = (av.chunks_exact(4), bv.chunks_exact(4));
                for (x4, y4) in (&mut ai).zip(&mut bi) {
                    for k in 0..4 {
                        let ($acc, $x, $y) = (acc[k], $ld(&x4[k]), $ld(&y4[k]));
                        acc[k] = $step;
                    }
                }
                for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                    let ($acc, $x, $y) = (acc[0], $ld(x), $ld(y));
                    acc[0] = $step;
                }
                if !at.is_empty() {
                    let ($acc, $x, $y) = (acc[1], $ld_tail(at), $ld_tail(bt));
                    acc[1] = $step;
                }
                _mm512_reduce_add_ps(sum4(acc))
            }
        };
    }

    macro_rules! cos_kernel {
        ($name:ident, $T:ty, $feat:literal, $ld:ident, $ld_tail:ident) => {
            #[target_feature(enable = $feat)]
            pub fn $name(a: &[$T], b: &[$T]) -> CosParts<f32> {
                let n = a.len().min(b.len());
                let (av, at) = a[..n].as_chunks::<16>();
                let (bv, bt) = b[..n].as_chunks::<16>();
                let z = _mm512_setzero_ps();
                let (mut d, mut na, mut nb) = ([z; 4], [z; 4], [z; 4]);
                let (mut ai, mut bi) = (av.chunks_exact(4), bv.chunks_exact(4));
                for (x4, y4) in (&mut ai).zip(&mut bi) {
                    for k in 0..4 {
                        let (x, y) = ($ld(&x4[k]), $ld(&y4[k]));
                        d[k] = _mm512_fmadd_ps(x, y, d[k]);
                        na[k] = _mm512_fmadd_ps(x, x, na[k]);
                        nb[k] = _mm512_fmadd_ps(y, y, nb[k]);
                    }
                }
                for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                    let (x, y) = ($ld(x), $ld(y));
                    d[0] = _mm512_fmadd_ps(x, y, d[0]);
                    na[0] = _mm512_fmadd_ps(x, x, na[0]);
                    nb[0] = _mm512_fmadd_ps(y, y, nb[0]);
                }
                if !at.is_empty() {
                    let (x, y) = ($ld_tail(at), $ld_tail(bt));
                    d[1] = _mm512_fmadd_ps(x, y, d[1]);
                    na[1] = _mm512_fmadd_ps(x, x, na[1]);
                    nb[1] = _mm512_fmadd_ps(y, y, nb[1]);
                }
                CosParts {
                    dot: _mm512_reduce_add_ps(sum4(d)),
                    norm_a: _mm512_reduce_add_ps(sum4(na)),
                    norm_b: _mm512_reduce_add_ps(sum4(nb)),
                }
            }
        };
    }

    /// The four float kernels for one element type (see the AVX2 version).
    macro_rules! float_kernels {
        ($T:ty, $feat:literal, $ld:ident, $ld_tail:ident, $dot:ident, $l2sq:ident, $l1:ident, $cos:ident) => {
            float_kernel!($dot, $T, $feat, $ld, $ld_tail, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
            float_kernel!($l2sq, $T, $feat, $ld, $ld_tail, |acc, x, y| {
                let d = _mm512_sub_ps(x, y);
                _mm512_fmadd_ps(d, d, acc)
            });
            float_kernel!($l1, $T, $feat, $ld, $ld_tail, |acc, x, y| _mm512_add_ps(
                acc,
                _mm512_abs_ps(_mm512_sub_ps(x, y))
            ));
            cos_kernel!($cos, $T, $feat, $ld, $ld_tail);
        };
    }

    float_kernels!(f32, "avx512f", ld_f32, ld_f32_tail, dot_f32, l2sq_f32, l1_f32, cos_f32);
    float_kernels!(F32Le, "avx512f", ld_f32u, ld_f32u_tail, dot_f32u, l2sq_f32u, l1_f32u, cos_f32u);
    float_kernels!(f16, "avx512f,avx512bw", ld_f16, ld_f16_tail, dot_f16, l2sq_f16, l1_f16, cos_f16);

    /// `acc + a0*b0 + a1*b1` per i32 lane, without VNNI.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn dp_madd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
    }
    /// The same in one instruction (`vpdpwssd`, non-saturating) with AVX512_VNNI.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dp_vnni(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
        _mm512_dpwssd_epi32(acc, a, b)
    }

    /// The int8 dot / l2sq / cos kernels for one multiply-add flavour. 32 values per i16
    /// vector, 2 accumulators, masked final step, reduce to i64 once per `I8_CHUNK` elements.
    macro_rules! i8_kernels {
        ($module:ident, $feat:literal, $dp:ident) => {
            pub mod $module {
                use super::*;

                #[target_feature(enable = $feat)]
                pub fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
                    let n = a.len().min(b.len());
                    let mut total = 0i64;
                    for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
                        let (av, at) = a.as_chunks::<32>();
                        let (bv, bt) = b.as_chunks::<32>();
                        let mut acc = [_mm512_setzero_si512(); 2];
                        let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
                        for (x2, y2) in (&mut ai).zip(&mut bi) {
                            for k in 0..2 {
                                acc[k] = $dp(acc[k], ld_i8x32(&x2[k]), ld_i8x32(&y2[k]));
                            }
                        }
                        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                            acc[0] = $dp(acc[0], ld_i8x32(x), ld_i8x32(y));
                        }
                        if !at.is_empty() {
                            acc[1] = $dp(acc[1], ld_i8x32_tail(at), ld_i8x32_tail(bt));
                        }
                        total += hsum_epi32(acc[0]) + hsum_epi32(acc[1]);
                    }
                    total
                }

                #[target_feature(enable = $feat)]
                pub fn l2sq_i8(a: &[i8], b: &[i8]) -> u64 {
                    let n = a.len().min(b.len());
                    let mut total = 0i64;
                    for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
                        let (av, at) = a.as_chunks::<32>();
                        let (bv, bt) = b.as_chunks::<32>();
                        let mut acc = [_mm512_setzero_si512(); 2];
                        let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
                        for (x2, y2) in (&mut ai).zip(&mut bi) {
                            for k in 0..2 {
                                let d = _mm512_sub_epi16(ld_i8x32(&x2[k]), ld_i8x32(&y2[k]));
                                acc[k] = $dp(acc[k], d, d);
                            }
                        }
                        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                            let d = _mm512_sub_epi16(ld_i8x32(x), ld_i8x32(y));
                            acc[0] = $dp(acc[0], d, d);
                        }
                        if !at.is_empty() {
                            let d = _mm512_sub_epi16(ld_i8x32_tail(at), ld_i8x32_tail(bt));
                            acc[1] = $dp(acc[1], d, d);
                        }
                        total += hsum_epi32(acc[0]) + hsum_epi32(acc[1]);
                    }
                    total as u64
                }

                #[target_feature(enable = $feat)]
                pub fn cos_i8(a: &[i8], b: &[i8]) -> CosParts<i64> {
                    let n = a.len().min(b.len());
                    let mut p = CosParts::default();
                    for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
                        let (av, at) = a.as_chunks::<32>();
                        let (bv, bt) = b.as_chunks::<32>();
                        let z = _mm512_setzero_si512();
                        let (mut d, mut na, mut nb) = (z, z, z);
                        for (x, y) in av.iter().zip(bv) {
                            let (x, y) = (ld_i8x32(x), ld_i8x32(y));
                            d = $dp(d, x, y);
                            na = $dp(na, x, x);
                            nb = $dp(nb, y, y);
                        }
                        if !at.is_empty() {
                            let (x, y) = (ld_i8x32_tail(at), ld_i8x32_tail(bt));
                            d = $dp(d, x, y);
                            na = $dp(na, x, x);
                            nb = $dp(nb, y, y);
                        }
                        add_parts(
                            &mut p,
                            CosParts { dot: hsum_epi32(d), norm_a: hsum_epi32(na), norm_b: hsum_epi32(nb) },
                        );
                    }
                    p
                }
            }
        };
    }

    i8_kernels!(madd, "avx512f,avx512bw", dp_madd);
    i8_kernels!(vnni, "avx512f,avx512bw,avx512vnni", dp_vnni);

    /// L1 over int8 with the sign-flip + `vpsadbw` trick (see the AVX2 version).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub fn l1_i8(a: &[i8], b: &[i8]) -> u64 {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<64>();
        let (bv, bt) = b[..n].as_chunks::<64>();
        let bias = _mm512_set1_epi8(i8::MIN);
        let mut acc = _mm512_setzero_si512();
        for (x, y) in av.iter().zip(bv) {
            let (x, y) = (_mm512_xor_si512(ld_64(x), bias), _mm512_xor_si512(ld_64(y), bias));
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, y));
        }
        if !at.is_empty() {
            // Masked-off lanes load as 0 in both, so they differ by 0 after the flip too.
            let (x, y) = (_mm512_xor_si512(ld_64_tail(at), bias), _mm512_xor_si512(ld_64_tail(bt), bias));
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, y));
        }
        _mm512_reduce_add_epi64(acc) as u64
    }

    /// Bit kernels with `vpopcntq` (AVX512_VPOPCNTDQ).
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
    pub fn hamming_vpopcnt(a: &[u8], b: &[u8]) -> u64 {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<64>();
        let (bv, bt) = b[..n].as_chunks::<64>();
        let mut acc = [_mm512_setzero_si512(); 2];
        let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
        for (x2, y2) in (&mut ai).zip(&mut bi) {
            for k in 0..2 {
                let c = _mm512_popcnt_epi64(_mm512_xor_si512(ld_64(&x2[k]), ld_64(&y2[k])));
                acc[k] = _mm512_add_epi64(acc[k], c);
            }
        }
        for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
            acc[0] = _mm512_add_epi64(acc[0], _mm512_popcnt_epi64(_mm512_xor_si512(ld_64(x), ld_64(y))));
        }
        if !at.is_empty() {
            let c = _mm512_popcnt_epi64(_mm512_xor_si512(ld_64_tail(at), ld_64_tail(bt)));
            acc[1] = _mm512_add_epi64(acc[1], c);
        }
        _mm512_reduce_add_epi64(_mm512_add_epi64(acc[0], acc[1])) as u64
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
    pub fn jaccard_vpopcnt(a: &[u8], b: &[u8]) -> (u64, u64) {
        let n = a.len().min(b.len());
        let (av, at) = a[..n].as_chunks::<64>();
        let (bv, bt) = b[..n].as_chunks::<64>();
        let z = _mm512_setzero_si512();
        let (mut i, mut u) = (z, z);
        for (x, y) in av.iter().zip(bv) {
            let (x, y) = (ld_64(x), ld_64(y));
            i = _mm512_add_epi64(i, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
            u = _mm512_add_epi64(u, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
        }
        if !at.is_empty() {
            let (x, y) = (ld_64_tail(at), ld_64_tail(bt));
            i = _mm512_add_epi64(i, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
            u = _mm512_add_epi64(u, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
        }
        (_mm512_reduce_add_epi64(i) as u64, _mm512_reduce_add_epi64(u) as u64)
    }
}

/// Blocks of float32 dot products for IVF training and assignment: 4 vectors against 4 (or
/// 1 against 4) in one pass over the data, so each loaded element serves several products.
/// Every product is computed the same way whatever block it is in (one accumulator per pair,
/// elements in order, the same tail and horizontal sum), so a point's products do not depend
/// on which other points share its block.
pub mod dots {
    use super::*;

    /// AVX-512: 16 lanes per accumulator.
    pub mod avx512 {
        use super::*;

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn ld(x: &[f32], at: usize) -> __m512 {
            let k = x.len().saturating_sub(at).min(16);
            let m = if k == 16 { 0xffff } else { ((1u32 << k) - 1) as __mmask16 };
            // SAFETY: lanes whose mask bit is set read `x[at..at + k]`, which is inside `x`
            // (`k` is at most `x.len() - at`); masked-off lanes access no memory.
            unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().wrapping_add(at.min(x.len()))) }
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn block<const P: usize>(a: [&[f32]; P], b: &[&[f32]; 4]) -> [[f32; 4]; P] {
            let n = a.iter().chain(b.iter()).map(|s| s.len()).min().unwrap_or(0);
            let mut acc = [[_mm512_setzero_ps(); 4]; P];
            let mut at = 0;
            while at < n {
                let y = [ld(&b[0][..n], at), ld(&b[1][..n], at), ld(&b[2][..n], at), ld(&b[3][..n], at)];
                for p in 0..P {
                    let x = ld(&a[p][..n], at);
                    for j in 0..4 {
                        acc[p][j] = _mm512_fmadd_ps(x, y[j], acc[p][j]);
                    }
                }
                at += 16;
            }
            let mut out = [[0f32; 4]; P];
            for p in 0..P {
                for j in 0..4 {
                    out[p][j] = _mm512_reduce_add_ps(acc[p][j]);
                }
            }
            out
        }

        #[target_feature(enable = "avx512f")]
        pub fn dots_4x4(a: &[&[f32]; 4], b: &[&[f32]; 4]) -> [[f32; 4]; 4] {
            block::<4>(*a, b)
        }
        #[target_feature(enable = "avx512f")]
        pub fn dots_1x4(a: &[f32], b: &[&[f32]; 4]) -> [f32; 4] {
            block::<1>([a], b)[0]
        }
    }

    /// AVX2 + FMA: 8 lanes per accumulator.
    pub mod avx2 {
        use super::*;

        #[inline]
        #[target_feature(enable = "avx2")]
        fn ld(x: &[f32], at: usize) -> __m256 {
            let k = x.len().saturating_sub(at).min(8) as i32;
            let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            // SAFETY: lanes whose mask is set read `x[at..at + k]`, inside `x` (`k` is at most
            // `x.len() - at`); masked-off lanes access no memory.
            unsafe { _mm256_maskload_ps(x.as_ptr().wrapping_add(at.min(x.len())), m) }
        }

        #[inline]
        #[target_feature(enable = "avx")]
        fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }

        /// Up to two vectors of `a` against the four of `b` (16 registers: 8 accumulators).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn block<const P: usize>(a: [&[f32]; P], b: &[&[f32]; 4]) -> [[f32; 4]; P] {
            let n = a.iter().chain(b.iter()).map(|s| s.len()).min().unwrap_or(0);
            let mut acc = [[_mm256_setzero_ps(); 4]; P];
            let mut at = 0;
            while at < n {
                for p in 0..P {
                    let x = ld(&a[p][..n], at);
                    for j in 0..4 {
                        acc[p][j] = _mm256_fmadd_ps(x, ld(&b[j][..n], at), acc[p][j]);
                    }
                }
                at += 8;
            }
            let mut out = [[0f32; 4]; P];
            for p in 0..P {
                for j in 0..4 {
                    out[p][j] = hsum(acc[p][j]);
                }
            }
            out
        }

        #[target_feature(enable = "avx2,fma")]
        pub fn dots_4x4(a: &[&[f32]; 4], b: &[&[f32]; 4]) -> [[f32; 4]; 4] {
            let lo = block::<2>([a[0], a[1]], b);
            let hi = block::<2>([a[2], a[3]], b);
            [lo[0], lo[1], hi[0], hi[1]]
        }
        #[target_feature(enable = "avx2,fma")]
        pub fn dots_1x4(a: &[f32], b: &[&[f32]; 4]) -> [f32; 4] {
            block::<1>([a], b)[0]
        }
    }
}
