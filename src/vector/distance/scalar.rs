//! Plain scalar reference kernels: the definition every SIMD kernel is tested against.
//! Straightforward loops, one accumulator, no tricks.

use super::{CosParts, F32Le, Kernels};
use half::f16;

// The float kernels, generic over how an element becomes an f32 (`w`): the f32, float32-bytes
// and f16 versions below are the same loops.
#[inline(always)]
fn dot_by<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| w(x) * w(y)).sum()
}
#[inline(always)]
fn l2sq_by<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = w(x) - w(y);
            d * d
        })
        .sum()
}
#[inline(always)]
fn l1_by<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| (w(x) - w(y)).abs()).sum()
}
#[inline(always)]
fn cos_by<T: Copy>(a: &[T], b: &[T], w: impl Fn(T) -> f32) -> CosParts<f32> {
    let mut p = CosParts::default();
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (w(x), w(y));
        p.dot += x * y;
        p.norm_a += x * x;
        p.norm_b += y * y;
    }
    p
}

/// One product of [`dots_4x4`] and [`dots_1x4`].
#[inline]
fn dot_pair(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}
pub fn dots_4x4(a: &[&[f32]; 4], b: &[&[f32]; 4]) -> [[f32; 4]; 4] {
    a.map(|x| dots_1x4(x, b))
}
pub fn dots_1x4(a: &[f32], b: &[&[f32]; 4]) -> [f32; 4] {
    b.map(|y| dot_pair(a, y))
}

fn same(x: f32) -> f32 {
    x
}
fn f16_to_f32(x: f16) -> f32 {
    x.to_f32()
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    dot_by(a, b, same)
}
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    l2sq_by(a, b, same)
}
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    l1_by(a, b, same)
}
pub fn cos_f32(a: &[f32], b: &[f32]) -> CosParts<f32> {
    cos_by(a, b, same)
}

pub fn dot_f32u(a: &[F32Le], b: &[F32Le]) -> f32 {
    dot_by(a, b, f32::from_le_bytes)
}
pub fn l2sq_f32u(a: &[F32Le], b: &[F32Le]) -> f32 {
    l2sq_by(a, b, f32::from_le_bytes)
}
pub fn l1_f32u(a: &[F32Le], b: &[F32Le]) -> f32 {
    l1_by(a, b, f32::from_le_bytes)
}
pub fn cos_f32u(a: &[F32Le], b: &[F32Le]) -> CosParts<f32> {
    cos_by(a, b, f32::from_le_bytes)
}

pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    dot_by(a, b, f16_to_f32)
}
pub fn l2sq_f16(a: &[f16], b: &[f16]) -> f32 {
    l2sq_by(a, b, f16_to_f32)
}
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    l1_by(a, b, f16_to_f32)
}
pub fn cos_f16(a: &[f16], b: &[f16]) -> CosParts<f32> {
    cos_by(a, b, f16_to_f32)
}

pub fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i64 - y as i64;
            (d * d) as u64
        })
        .sum()
}
pub fn l1_i8(a: &[i8], b: &[i8]) -> u64 {
    a.iter().zip(b).map(|(&x, &y)| (x as i64 - y as i64).unsigned_abs()).sum()
}
pub fn cos_i8(a: &[i8], b: &[i8]) -> CosParts<i64> {
    let mut p = CosParts::default();
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as i64, y as i64);
        p.dot += x * y;
        p.norm_a += x * x;
        p.norm_b += y * y;
    }
    p
}

pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones() as u64).sum()
}
pub fn jaccard(a: &[u8], b: &[u8]) -> (u64, u64) {
    a.iter().zip(b).fold((0, 0), |(i, u), (x, y)| (i + (x & y).count_ones() as u64, u + (x | y).count_ones() as u64))
}

/// The reference [`super::NibbleSums`].
pub fn nibble_sums(packed: &[u8], lut: &[u8], out: &mut [u16]) {
    let rows = lut.len() / 32;
    for (b, o) in out.chunks_exact_mut(32).enumerate() {
        o.fill(0);
        for j in 0..rows {
            let t = &lut[32 * j..32 * j + 32];
            let codes = &packed[(b * rows + j) * 32..(b * rows + j + 1) * 32];
            for (x, &c) in o.iter_mut().zip(codes) {
                *x = x.wrapping_add(t[(c & 15) as usize] as u16 + t[16 + (c >> 4) as usize] as u16);
            }
        }
    }
}

/// The reference [`super::Transpose32`].
pub fn transpose32(src: &[u8], dst: &mut [u8]) {
    let rows = src.len() / 32;
    for (e, code) in src.chunks_exact(rows.max(1)).take(32).enumerate() {
        for (j, &c) in code.iter().enumerate().take(rows) {
            dst[32 * j + e] = c;
        }
    }
}

pub const KERNELS: Kernels = Kernels {
    name: "scalar",
    dot_f32,
    l2sq_f32,
    l1_f32,
    cos_f32,
    dot_f32u,
    l2sq_f32u,
    l1_f32u,
    cos_f32u,
    dot_f16,
    l2sq_f16,
    l1_f16,
    cos_f16,
    dot_i8,
    l2sq_i8,
    l1_i8,
    cos_i8,
    hamming,
    jaccard,
    encode_sq8: crate::vector::sq8::encode_portable,
    dots_4x4,
    dots_1x4,
    nibble_sums,
    transpose32,
};
