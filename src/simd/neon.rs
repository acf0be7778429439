//! aarch64 NEON (Advanced SIMD) kernels. NEON is part of the aarch64 baseline, but the kernels
//! are still `#[target_feature(enable = "neon")]` fns reached only through the table that
//! `super::neon_table` builds after detection, like the x86 ones.
//!
//! Loads take fixed-size array references, so they read only memory the borrow covers; tails
//! shorter than a vector are summed in scalar code after the vector part, so the summation
//! order depends on the length alone (deterministic, independent of alignment).
//!
//! float16 is widened to f32 exactly with integer ops (see `ld_f16`), on stable Rust >= 1.89.
//! int8 sums go through i16 products into i32 lanes, reduced to i64 every [`I8_CHUNK`] elements.

use crate::vector::distance::{CosParts, F32Le};
use core::arch::aarch64::*;
use half::f16;

/// Elements of int8 data summed in i32 lanes before reducing to i64. Worst case per i32 lane
/// per 16 elements: l2sq gets 4 products of at most 255^2 (4 * 65,025 = 260,100) spread over
/// two accumulators; 65,536 elements are 4,096 steps, so a lane of either accumulator stays
/// below 2,048 * 260,100 = 532,684,800 < 2^31 - 1 (dot: 4,096 * 4 * 16,384 = 2^28).
const I8_CHUNK: usize = 1 << 16;

/// Bytes of bit data counted in u16 lanes before widening: each 16-byte step adds at most
/// 2 * 8 = 16 to a u16 lane, and 4,096 bytes are 256 steps: at most 4,096 < 65,535.
const BIT_CHUNK: usize = 4096;

#[inline]
#[target_feature(enable = "neon")]
fn ld_f32(x: &[f32; 4]) -> float32x4_t {
    // SAFETY: reads exactly the 4 floats `x` borrows; `vld1q` needs only element alignment,
    // which a `&[f32; 4]` has.
    unsafe { vld1q_f32(x.as_ptr()) }
}
/// Four little-endian float32 values at any address, loaded as bytes (`vld1q_u8` needs no
/// alignment) and reinterpreted: on little-endian aarch64 (every supported Linux, macOS and
/// Windows target) byte lane `4i..4i+4` is float lane `i`.
#[inline]
#[target_feature(enable = "neon")]
fn ld_f32u(x: &[F32Le; 4]) -> float32x4_t {
    // SAFETY: reads exactly the 16 bytes `x` borrows, as bytes (alignment 1).
    vreinterpretq_f32_u8(unsafe { vld1q_u8(x.as_ptr().cast()) })
}
/// Four f16 values widened to f32, exactly (what `fcvtl` does; done with integer ops because
/// the float16 NEON intrinsics are only stable since Rust 1.94). Per lane, with `em` the
/// exponent and mantissa bits moved to f32 positions: add the exponent-bias difference
/// (127 - 15); for Inf/NaN (f16 exponent all ones) add it again, giving the f32 all-ones
/// exponent; for zeros and subnormals add one more exponent step and subtract 2^-14 in f32,
/// which yields `mantissa · 2^-24` exactly (Sterbenz) and never takes a subnormal input, so the
/// result does not depend on the flush-to-zero mode. Then put the sign back.
#[inline]
#[target_feature(enable = "neon")]
fn ld_f16(x: &[f16; 4]) -> float32x4_t {
    // SAFETY: reads exactly the 8 bytes `x` borrows (`f16` is a plain 2-byte value with the
    // alignment of u16); `vld1` needs only element alignment.
    let h = vmovl_u16(unsafe { vld1_u16(x.as_ptr().cast()) });
    let em = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
    let exp = vandq_u32(em, vdupq_n_u32(0x7c00 << 13));
    let bias = vdupq_n_u32((127 - 15) << 23);
    let o = vaddq_u32(em, bias);
    let inf_nan = vceqq_u32(exp, vdupq_n_u32(0x7c00 << 13));
    let o = vaddq_u32(o, vandq_u32(inf_nan, bias));
    let tiny = vceqq_u32(exp, vdupq_n_u32(0));
    let renorm = vsubq_f32(
        vreinterpretq_f32_u32(vaddq_u32(o, vdupq_n_u32(1 << 23))),
        vdupq_n_f32(f32::from_bits(113 << 23)), // 2^-14, the smallest normal f16
    );
    let o = vbslq_u32(tiny, vreinterpretq_u32_f32(renorm), o);
    let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
    vreinterpretq_f32_u32(vorrq_u32(o, sign))
}
#[inline]
#[target_feature(enable = "neon")]
fn ld_i8(x: &[i8; 16]) -> int8x16_t {
    // SAFETY: reads exactly the 16 bytes `x` borrows.
    unsafe { vld1q_s8(x.as_ptr()) }
}
#[inline]
#[target_feature(enable = "neon")]
fn ld_u8(x: &[u8; 16]) -> uint8x16_t {
    // SAFETY: reads exactly the 16 bytes `x` borrows.
    unsafe { vld1q_u8(x.as_ptr()) }
}

#[inline(always)]
fn same(x: f32) -> f32 {
    x
}
#[inline(always)]
fn f32_le(x: F32Le) -> f32 {
    f32::from_le_bytes(x)
}
#[inline(always)]
fn f16_to_f32(x: f16) -> f32 {
    x.to_f32()
}

/// 4 accumulators over 16 elements per step, single 4-element steps, scalar tail.
macro_rules! float_kernel {
    ($name:ident, $T:ty, $ld:ident, $cvt:path,
     |$acc:ident, $x:ident, $y:ident| $step:expr, |$sx:ident, $sy:ident| $tail:expr) => {
        #[target_feature(enable = "neon")]
        pub fn $name(a: &[$T], b: &[$T]) -> f32 {
            let n = a.len().min(b.len());
            let (av, at) = a[..n].as_chunks::<4>();
            let (bv, bt) = b[..n].as_chunks::<4>();
            let mut acc = [vdupq_n_f32(0.0); 4];
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
            let mut s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
            for (x, y) in at.iter().zip(bt) {
                let ($sx, $sy) = ($cvt(*x), $cvt(*y));
                s += $tail;
            }
            s
        }
    };
}

macro_rules! cos_kernel {
    ($name:ident, $T:ty, $ld:ident, $cvt:path) => {
        #[target_feature(enable = "neon")]
        pub fn $name(a: &[$T], b: &[$T]) -> CosParts<f32> {
            let n = a.len().min(b.len());
            let (av, at) = a[..n].as_chunks::<4>();
            let (bv, bt) = b[..n].as_chunks::<4>();
            let z = vdupq_n_f32(0.0);
            let (mut d, mut na, mut nb) = ([z; 2], [z; 2], [z; 2]);
            let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
            for (x2, y2) in (&mut ai).zip(&mut bi) {
                for k in 0..2 {
                    let (x, y) = ($ld(&x2[k]), $ld(&y2[k]));
                    d[k] = vfmaq_f32(d[k], x, y);
                    na[k] = vfmaq_f32(na[k], x, x);
                    nb[k] = vfmaq_f32(nb[k], y, y);
                }
            }
            for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                let (x, y) = ($ld(x), $ld(y));
                d[0] = vfmaq_f32(d[0], x, y);
                na[0] = vfmaq_f32(na[0], x, x);
                nb[0] = vfmaq_f32(nb[0], y, y);
            }
            let mut p = CosParts {
                dot: vaddvq_f32(vaddq_f32(d[0], d[1])),
                norm_a: vaddvq_f32(vaddq_f32(na[0], na[1])),
                norm_b: vaddvq_f32(vaddq_f32(nb[0], nb[1])),
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
        float_kernel!($dot, $T, $ld, $cvt, |acc, x, y| vfmaq_f32(acc, x, y), |x, y| x * y);
        float_kernel!(
            $l2sq,
            $T,
            $ld,
            $cvt,
            |acc, x, y| {
                let d = vsubq_f32(x, y);
                vfmaq_f32(acc, d, d)
            },
            |x, y| (x - y) * (x - y)
        );
        float_kernel!($l1, $T, $ld, $cvt, |acc, x, y| vaddq_f32(acc, vabdq_f32(x, y)), |x, y| (x - y).abs());
        cos_kernel!($cos, $T, $ld, $cvt);
    };
}

float_kernels!(f32, ld_f32, same, dot_f32, l2sq_f32, l1_f32, cos_f32);
float_kernels!(F32Le, ld_f32u, f32_le, dot_f32u, l2sq_f32u, l1_f32u, cos_f32u);
float_kernels!(f16, ld_f16, f16_to_f32, dot_f16, l2sq_f16, l1_f16, cos_f16);

/// `acc + x*y` over 16 int8 pairs: i16 products (|x*y| <= 16,384 fits), pairwise into i32.
#[inline]
#[target_feature(enable = "neon")]
fn dot16(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    vpadalq_s16(acc, vmull_high_s8(x, y))
}
/// `acc + (x-y)^2` over 16 int8 pairs: i16 differences (-255..=255), widening i32 products.
#[inline]
#[target_feature(enable = "neon")]
fn l2sq16(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let lo = vsubl_s8(vget_low_s8(x), vget_low_s8(y));
    let hi = vsubl_high_s8(x, y);
    let acc = vmlal_s16(acc, vget_low_s16(lo), vget_low_s16(lo));
    let acc = vmlal_high_s16(acc, lo, lo);
    let acc = vmlal_s16(acc, vget_low_s16(hi), vget_low_s16(hi));
    vmlal_high_s16(acc, hi, hi)
}
/// `acc + |x-y|` over 16 int8 pairs: widening absolute difference (0..=255) into i32.
#[inline]
#[target_feature(enable = "neon")]
fn l1_16(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let acc = vpadalq_s16(acc, vabdl_s8(vget_low_s8(x), vget_low_s8(y)));
    vpadalq_s16(acc, vabdl_high_s8(x, y))
}

macro_rules! i8_kernel {
    ($name:ident, $out:ty, $op:ident, |$x:ident, $y:ident| $tail:expr) => {
        #[target_feature(enable = "neon")]
        pub fn $name(a: &[i8], b: &[i8]) -> $out {
            let n = a.len().min(b.len());
            let mut total: i64 = 0;
            for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
                let (av, at) = a.as_chunks::<16>();
                let (bv, bt) = b.as_chunks::<16>();
                let mut acc = [vdupq_n_s32(0); 2];
                let (mut ai, mut bi) = (av.chunks_exact(2), bv.chunks_exact(2));
                for (x2, y2) in (&mut ai).zip(&mut bi) {
                    for k in 0..2 {
                        acc[k] = $op(acc[k], ld_i8(&x2[k]), ld_i8(&y2[k]));
                    }
                }
                for (x, y) in ai.remainder().iter().zip(bi.remainder()) {
                    acc[0] = $op(acc[0], ld_i8(x), ld_i8(y));
                }
                total += vaddlvq_s32(acc[0]) + vaddlvq_s32(acc[1]);
                for (&x, &y) in at.iter().zip(bt) {
                    let ($x, $y) = (x as i64, y as i64);
                    total += $tail;
                }
            }
            total as $out
        }
    };
}

i8_kernel!(dot_i8, i64, dot16, |x, y| x * y);
i8_kernel!(l2sq_i8, u64, l2sq16, |x, y| (x - y) * (x - y));
i8_kernel!(l1_i8, u64, l1_16, |x, y| (x - y).abs());

#[target_feature(enable = "neon")]
pub fn cos_i8(a: &[i8], b: &[i8]) -> CosParts<i64> {
    let n = a.len().min(b.len());
    let mut p = CosParts::default();
    for (a, b) in a[..n].chunks(I8_CHUNK).zip(b[..n].chunks(I8_CHUNK)) {
        let (av, at) = a.as_chunks::<16>();
        let (bv, bt) = b.as_chunks::<16>();
        let z = vdupq_n_s32(0);
        let (mut d, mut na, mut nb) = (z, z, z);
        for (x, y) in av.iter().zip(bv) {
            let (x, y) = (ld_i8(x), ld_i8(y));
            d = dot16(d, x, y);
            na = dot16(na, x, x);
            nb = dot16(nb, y, y);
        }
        p.dot += vaddlvq_s32(d);
        p.norm_a += vaddlvq_s32(na);
        p.norm_b += vaddlvq_s32(nb);
        for (&x, &y) in at.iter().zip(bt) {
            let (x, y) = (x as i64, y as i64);
            p.dot += x * y;
            p.norm_a += x * x;
            p.norm_b += y * y;
        }
    }
    p
}

/// Bits set in `vop(a, b)` (scalar tail: `sop`): `cnt` per byte, pairwise-added into u16
/// lanes, widened once per `BIT_CHUNK` bytes.
macro_rules! bit_count {
    ($a:expr, $b:expr, $vop:ident, |$x:ident, $y:ident| $sop:expr) => {{
        let mut total = 0u64;
        for (a, b) in $a.chunks(BIT_CHUNK).zip($b.chunks(BIT_CHUNK)) {
            let (av, at) = a.as_chunks::<16>();
            let (bv, bt) = b.as_chunks::<16>();
            let mut acc = vdupq_n_u16(0);
            for (x, y) in av.iter().zip(bv) {
                acc = vpadalq_u8(acc, vcntq_u8($vop(ld_u8(x), ld_u8(y))));
            }
            total += vaddlvq_u16(acc) as u64;
            for (&$x, &$y) in at.iter().zip(bt) {
                total += ($sop).count_ones() as u64;
            }
        }
        total
    }};
}

#[target_feature(enable = "neon")]
pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    let n = a.len().min(b.len());
    bit_count!(&a[..n], &b[..n], veorq_u8, |x, y| x ^ y)
}

#[target_feature(enable = "neon")]
pub fn jaccard(a: &[u8], b: &[u8]) -> (u64, u64) {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    (bit_count!(a, b, vandq_u8, |x, y| x & y), bit_count!(a, b, vorrq_u8, |x, y| x | y))
}

/// int8 coding ([`crate::vector::sq8::encode_portable`]) compiled with NEON.
#[target_feature(enable = "neon")]
pub fn encode_sq8(x: &[f32], out: &mut [i8]) -> Option<(f32, f32, f32)> {
    crate::vector::sq8::encode_portable(x, out)
}
