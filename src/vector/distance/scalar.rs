//! Plain scalar reference kernels: the definition every SIMD kernel is tested against.
//! Straightforward loops, one accumulator, no tricks.

use super::{CosParts, Kernels};
use half::f16;

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}
pub fn cos_f32(a: &[f32], b: &[f32]) -> CosParts<f32> {
    let mut p = CosParts::default();
    for (x, y) in a.iter().zip(b) {
        p.dot += x * y;
        p.norm_a += x * x;
        p.norm_b += y * y;
    }
    p
}

pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
}
pub fn l2sq_f16(a: &[f16], b: &[f16]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x.to_f32() - y.to_f32();
            d * d
        })
        .sum()
}
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x.to_f32() - y.to_f32()).abs()).sum()
}
pub fn cos_f16(a: &[f16], b: &[f16]) -> CosParts<f32> {
    let mut p = CosParts::default();
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_f32(), y.to_f32());
        p.dot += x * y;
        p.norm_a += x * x;
        p.norm_b += y * y;
    }
    p
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

pub const KERNELS: Kernels = Kernels {
    name: "scalar",
    dot_f32,
    l2sq_f32,
    l1_f32,
    cos_f32,
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
};
