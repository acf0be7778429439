//! Kernel tests: the scalar reference against hand-computed values, and every kernel table this
//! CPU supports ([`available`]) against the scalar reference — exactly for int8 and bit kernels,
//! within a rounding tolerance for float kernels (see [`close`]) — over awkward lengths,
//! misaligned slices, extreme values, and random inputs (proptest). The float32-bytes kernels
//! (`*_f32u`) must equal their table's float32 kernels bit for bit, at any byte offset.

use super::*;
use crate::vector::distance::*;
use half::f16;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Lengths around every vector width (4, 8, 16, 32, 64 elements) and a few long ones.
const LENGTHS: [usize; 13] = [1, 3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 4097];

/// The SIMD tables (everything but the scalar reference), plus the fallback variants other CPUs
/// get (e.g. AVX-512 without VNNI). May be empty on a plain CPU.
fn simd_tables() -> Vec<Kernels> {
    let mut v: Vec<Kernels> = available().into_iter().filter(|k| k.name != "scalar").collect();
    v.extend(fallback_variants());
    v
}

/// A copy of `data` starting exactly `misalign` bytes past a 64-byte boundary, so a slice is
/// misaligned for 16/32/64-byte vectors on purpose (and aligned, with `misalign == 0`).
struct Placed<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> Placed<T> {
    fn new(data: &[T], misalign: usize) -> Self {
        let size = size_of::<T>();
        assert_eq!(misalign % size, 0, "misalignment must be a multiple of the element size");
        let mut buf = vec![T::default(); data.len() + 64 / size + 1];
        let addr = buf.as_ptr().addr();
        let start = (0..64 / size).find(|i| (addr + i * size) % 64 == misalign % 64).expect("element-aligned buffer");
        buf[start..start + data.len()].copy_from_slice(data);
        Placed { buf, start, len: data.len() }
    }
    fn get(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Float tolerance. Every kernel sums the same rounded terms (products of f16 values are exact
/// in f32; an FMA may skip one rounding of an f32 product, an error of at most u·|term|) in a
/// different order, so the results differ only by summation rounding: at most n·u·Σ|terms| in
/// the worst case (u = 2^-24 ≈ 6e-8), and about u·sqrt(n/3)·Σ|terms| in practice for the
/// reference's sequential loop (rounding errors are a random walk: ≈ 1.4e-6·Σ|terms| at n = 5000,
/// the longest here). 1e-5·Σ|terms| is ~7 standard deviations above that, so random inputs do not
/// flake, yet it is tight enough that a lost or doubled element shows (that is also checked
/// exactly, with integer-valued floats, in `float_kernels_exact_on_integer_values`). Structured
/// inputs whose roundings could all go one way are kept to n ≤ 128, where even the worst-case
/// bounds of both sides add up to less (≈ (127 + 13)·u ≈ 8.3e-6 of Σ|terms|).
/// The absolute term only matters when every term is zero.
const REL_TOL: f64 = 1e-5;

fn close(got: f32, want: f32, sum_abs: f64) -> bool {
    (got as f64 - want as f64).abs() <= REL_TOL * sum_abs + f64::from(f32::MIN_POSITIVE)
}

/// Σ|x·y|, Σx², Σy², Σ(x-y)², Σ|x-y| in f64.
struct Magnitudes {
    dot: f64,
    norm_a: f64,
    norm_b: f64,
    l2sq: f64,
    l1: f64,
}

fn magnitudes(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> Magnitudes {
    let mut m = Magnitudes { dot: 0.0, norm_a: 0.0, norm_b: 0.0, l2sq: 0.0, l1: 0.0 };
    for (x, y) in a.zip(b) {
        let (x, y) = (x as f64, y as f64);
        m.dot += (x * y).abs();
        m.norm_a += x * x;
        m.norm_b += y * y;
        m.l2sq += (x - y) * (x - y);
        m.l1 += (x - y).abs();
    }
    m
}

fn check_f32(k: &Kernels, a: &[f32], b: &[f32], what: &str) {
    let r = &scalar::KERNELS;
    let m = magnitudes(a.iter().copied(), b.iter().copied());
    let ctx = || format!("{} {what} n={} a={:p} b={:p}", k.name, a.len(), a.as_ptr(), b.as_ptr());
    let (got, want) = ((k.dot_f32)(a, b), (r.dot_f32)(a, b));
    assert!(close(got, want, m.dot), "dot_f32 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.l2sq_f32)(a, b), (r.l2sq_f32)(a, b));
    assert!(close(got, want, m.l2sq), "l2sq_f32 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.l1_f32)(a, b), (r.l1_f32)(a, b));
    assert!(close(got, want, m.l1), "l1_f32 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.cos_f32)(a, b), (r.cos_f32)(a, b));
    assert!(close(got.dot, want.dot, m.dot), "cos_f32.dot {}: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_a, want.norm_a, m.norm_a), "cos_f32.norm_a {}: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_b, want.norm_b, m.norm_b), "cos_f32.norm_b {}: {got:?} vs {want:?}", ctx());
}

fn check_f16(k: &Kernels, a: &[f16], b: &[f16], what: &str) {
    let r = &scalar::KERNELS;
    let m = magnitudes(a.iter().map(|x| x.to_f32()), b.iter().map(|x| x.to_f32()));
    let ctx = || format!("{} {what} n={} a={:p} b={:p}", k.name, a.len(), a.as_ptr(), b.as_ptr());
    let (got, want) = ((k.dot_f16)(a, b), (r.dot_f16)(a, b));
    assert!(close(got, want, m.dot), "dot_f16 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.l2sq_f16)(a, b), (r.l2sq_f16)(a, b));
    assert!(close(got, want, m.l2sq), "l2sq_f16 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.l1_f16)(a, b), (r.l1_f16)(a, b));
    assert!(close(got, want, m.l1), "l1_f16 {}: {got} vs {want}", ctx());
    let (got, want) = ((k.cos_f16)(a, b), (r.cos_f16)(a, b));
    assert!(close(got.dot, want.dot, m.dot), "cos_f16.dot {}: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_a, want.norm_a, m.norm_a), "cos_f16.norm_a {}: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_b, want.norm_b, m.norm_b), "cos_f16.norm_b {}: {got:?} vs {want:?}", ctx());
}

/// Float kernels that must be bit-exact (all sums exactly representable).
fn check_f32_exact(k: &Kernels, a: &[f32], b: &[f32]) {
    let r = &scalar::KERNELS;
    let n = a.len();
    assert_eq!((k.dot_f32)(a, b), (r.dot_f32)(a, b), "dot_f32 {} n={n}", k.name);
    assert_eq!((k.l2sq_f32)(a, b), (r.l2sq_f32)(a, b), "l2sq_f32 {} n={n}", k.name);
    assert_eq!((k.l1_f32)(a, b), (r.l1_f32)(a, b), "l1_f32 {} n={n}", k.name);
    assert_eq!((k.cos_f32)(a, b), (r.cos_f32)(a, b), "cos_f32 {} n={n}", k.name);
}
fn check_f16_exact(k: &Kernels, a: &[f16], b: &[f16]) {
    let r = &scalar::KERNELS;
    let n = a.len();
    assert_eq!((k.dot_f16)(a, b), (r.dot_f16)(a, b), "dot_f16 {} n={n}", k.name);
    assert_eq!((k.l2sq_f16)(a, b), (r.l2sq_f16)(a, b), "l2sq_f16 {} n={n}", k.name);
    assert_eq!((k.l1_f16)(a, b), (r.l1_f16)(a, b), "l1_f16 {} n={n}", k.name);
    assert_eq!((k.cos_f16)(a, b), (r.cos_f16)(a, b), "cos_f16 {} n={n}", k.name);
}

/// Little-endian bytes of `v`.
fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The float32-bytes kernels of `k` on the bytes of `a` and `b`, placed `oa` and `ob` bytes past
/// a 64-byte boundary (any offset: 1, 2, 3 are not even 4-byte aligned): bit-identical to the
/// float32 kernels of the same table on `a` and `b`, and within tolerance of the reference.
fn check_f32u(k: &Kernels, a: &[f32], b: &[f32], oa: usize, ob: usize, what: &str) {
    let (pa, pb) = (Placed::new(&le_bytes(a), oa), Placed::new(&le_bytes(b), ob));
    let (ua, ub) = (f32_le(pa.get()).unwrap(), f32_le(pb.get()).unwrap());
    assert_eq!((ua.len(), ub.len()), (a.len(), b.len()));
    let ctx =
        || format!("{} {what} n={} byte offsets {oa},{ob} a={:p} b={:p}", k.name, a.len(), ua.as_ptr(), ub.as_ptr());
    let bits = |p: CosParts<f32>| (p.dot.to_bits(), p.norm_a.to_bits(), p.norm_b.to_bits());
    let (got, want) = ((k.dot_f32u)(ua, ub), (k.dot_f32)(a, b));
    assert_eq!(got.to_bits(), want.to_bits(), "dot_f32u {}: {got} vs dot_f32 {want}", ctx());
    let (got, want) = ((k.l2sq_f32u)(ua, ub), (k.l2sq_f32)(a, b));
    assert_eq!(got.to_bits(), want.to_bits(), "l2sq_f32u {}: {got} vs l2sq_f32 {want}", ctx());
    let (got, want) = ((k.l1_f32u)(ua, ub), (k.l1_f32)(a, b));
    assert_eq!(got.to_bits(), want.to_bits(), "l1_f32u {}: {got} vs l1_f32 {want}", ctx());
    let (got, want) = ((k.cos_f32u)(ua, ub), (k.cos_f32)(a, b));
    assert_eq!(bits(got), bits(want), "cos_f32u {}: {got:?} vs cos_f32 {want:?}", ctx());

    let r = &scalar::KERNELS;
    let m = magnitudes(a.iter().copied(), b.iter().copied());
    let (got, want) = ((k.dot_f32u)(ua, ub), (r.dot_f32)(a, b));
    assert!(close(got, want, m.dot), "dot_f32u {} vs reference: {got} vs {want}", ctx());
    let (got, want) = ((k.l2sq_f32u)(ua, ub), (r.l2sq_f32)(a, b));
    assert!(close(got, want, m.l2sq), "l2sq_f32u {} vs reference: {got} vs {want}", ctx());
    let (got, want) = ((k.l1_f32u)(ua, ub), (r.l1_f32)(a, b));
    assert!(close(got, want, m.l1), "l1_f32u {} vs reference: {got} vs {want}", ctx());
    let (got, want) = ((k.cos_f32u)(ua, ub), (r.cos_f32)(a, b));
    assert!(close(got.dot, want.dot, m.dot), "cos_f32u.dot {} vs reference: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_a, want.norm_a, m.norm_a), "cos_f32u.norm_a {}: {got:?} vs {want:?}", ctx());
    assert!(close(got.norm_b, want.norm_b, m.norm_b), "cos_f32u.norm_b {}: {got:?} vs {want:?}", ctx());
}

/// Every table, the reference included, and the fallback variants.
fn all_tables() -> Vec<Kernels> {
    available().into_iter().chain(fallback_variants()).collect()
}

fn check_i8(k: &Kernels, a: &[i8], b: &[i8], what: &str) {
    let r = &scalar::KERNELS;
    let ctx = || format!("{} {what} n={} a={:p} b={:p}", k.name, a.len(), a.as_ptr(), b.as_ptr());
    assert_eq!((k.dot_i8)(a, b), (r.dot_i8)(a, b), "dot_i8 {}", ctx());
    assert_eq!((k.l2sq_i8)(a, b), (r.l2sq_i8)(a, b), "l2sq_i8 {}", ctx());
    assert_eq!((k.l1_i8)(a, b), (r.l1_i8)(a, b), "l1_i8 {}", ctx());
    assert_eq!((k.cos_i8)(a, b), (r.cos_i8)(a, b), "cos_i8 {}", ctx());
}

fn check_bits(k: &Kernels, a: &[u8], b: &[u8], what: &str) {
    let r = &scalar::KERNELS;
    let ctx = || format!("{} {what} n={} a={:p} b={:p}", k.name, a.len(), a.as_ptr(), b.as_ptr());
    assert_eq!((k.hamming)(a, b), (r.hamming)(a, b), "hamming {}", ctx());
    assert_eq!((k.jaccard)(a, b), (r.jaccard)(a, b), "jaccard {}", ctx());
}

fn random_f32s(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let scale = [1e-3f32, 1.0, 1e3][rng.random_range(0..3)];
    (0..n).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale).collect()
}
fn random_f16s(rng: &mut StdRng, n: usize) -> Vec<f16> {
    let scale = [1e-3f32, 1.0, 100.0][rng.random_range(0..3)];
    (0..n).map(|_| f16::from_f32((rng.random::<f32>() * 2.0 - 1.0) * scale)).collect()
}
fn random_i8s(rng: &mut StdRng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.random::<i8>()).collect()
}
fn random_u8s(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random::<u8>()).collect()
}

// ---------------------------------------------------------------------------------------------
// The reference itself.

#[test]
fn scalar_kernels_give_hand_computed_values() {
    let k = &scalar::KERNELS;
    let (a, b) = ([1.0f32, 2.0, 3.0], [4.0f32, -5.0, 6.0]);
    assert_eq!((k.dot_f32)(&a, &b), 4.0 - 10.0 + 18.0);
    assert_eq!((k.l2sq_f32)(&a, &b), 9.0 + 49.0 + 9.0);
    assert_eq!((k.l1_f32)(&a, &b), 3.0 + 7.0 + 3.0);
    assert_eq!((k.cos_f32)(&a, &b), CosParts { dot: 12.0, norm_a: 14.0, norm_b: 77.0 });
    assert_eq!((k.dot_f32)(&[], &[]), 0.0);

    let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
    let (a, b) = (h(&[0.5, -1.5, 2.0]), h(&[2.0, 2.0, -0.25]));
    assert_eq!((k.dot_f16)(&a, &b), 1.0 - 3.0 - 0.5);
    assert_eq!((k.l2sq_f16)(&a, &b), 2.25 + 12.25 + 5.0625);
    assert_eq!((k.l1_f16)(&a, &b), 1.5 + 3.5 + 2.25);
    assert_eq!((k.cos_f16)(&a, &b), CosParts { dot: -2.5, norm_a: 6.5, norm_b: 8.0625 });
    // The largest f16 squared is exact in f32: 65504^2 = 4,290,774,016.
    assert_eq!((k.dot_f16)(&[f16::MAX], &[f16::MAX]), 4_290_774_016.0);
    assert_eq!((k.dot_f16)(&[f16::from_bits(1)], &[f16::ONE]), 2f32.powi(-24));

    let (a, b) = ([1i8, -128, 127], [-1i8, -128, -128]);
    assert_eq!((k.dot_i8)(&a, &b), -1 + 16384 - 16256);
    assert_eq!((k.l2sq_i8)(&a, &b), 4 + 255 * 255); // (-128) - (-128) adds 0
    assert_eq!((k.l1_i8)(&a, &b), 2 + 255);
    assert_eq!((k.cos_i8)(&a, &b), CosParts { dot: 127, norm_a: 1 + 16384 + 16129, norm_b: 1 + 16384 + 16384 });

    let (a, b) = ([0b1011_0001u8, 0xff], [0b0011_1000u8, 0x0f]);
    assert_eq!((k.hamming)(&a, &b), 3 + 4);
    assert_eq!((k.jaccard)(&a, &b), (2 + 4, 5 + 8));
    assert_eq!((k.jaccard)(&[0, 0], &[0, 0]), (0, 0));
}

#[test]
fn tables_are_ordered_and_selectable() {
    let all = available();
    assert_eq!(all[0].name, "scalar");
    let order = ["scalar", "avx2", "avx512", "neon"];
    let ranks: Vec<usize> = all.iter().map(|k| order.iter().position(|&o| o == k.name).unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "tables out of order: {ranks:?}");
    use super::select;
    assert_eq!(select(None).name, all.last().unwrap().name);
    assert_eq!(select(Some("scalar")).name, "scalar");
    assert_eq!(select(Some("no-such-level")).name, "scalar");
    for k in &all {
        assert_eq!(select(Some(k.name)).name, k.name);
    }
    // A cap above what the CPU has gives the best it has at or below the cap.
    let at_most_avx512 = all.iter().rev().find(|k| k.name != "neon").unwrap().name;
    assert_eq!(select(Some("avx512")).name, at_most_avx512);
}

// ---------------------------------------------------------------------------------------------
// Every table against the reference, fixed lengths and misalignments.

#[test]
fn float_kernels_match_scalar_at_awkward_lengths_and_offsets() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0f32);
    for k in simd_tables() {
        for n in LENGTHS {
            let (a, b) = (random_f32s(&mut rng, n), random_f32s(&mut rng, n));
            // Element offsets 0..=3 from a 64-byte boundary: aligned, then 4, 8, 12 bytes off.
            for (oa, ob) in [(0, 0), (1, 0), (0, 2), (3, 1), (2, 3)] {
                let (pa, pb) = (Placed::new(&a, 4 * oa), Placed::new(&b, 4 * ob));
                check_f32(&k, pa.get(), pb.get(), &format!("offsets {oa},{ob}"));
            }
            let (a, b) = (random_f16s(&mut rng, n), random_f16s(&mut rng, n));
            for (oa, ob) in [(0, 0), (1, 0), (0, 2), (3, 1), (2, 3)] {
                let (pa, pb) = (Placed::new(&a, 2 * oa), Placed::new(&b, 2 * ob));
                check_f16(&k, pa.get(), pb.get(), &format!("offsets {oa},{ob}"));
            }
        }
    }
}

/// Small integers as floats: every product and partial sum is exactly representable (|sum| ≤
/// 32^2·4097 < 2^24), so all kernels must agree bit for bit; a dropped or doubled element,
/// or a tail lane read twice, cannot hide inside the rounding tolerance.
#[test]
fn float_kernels_exact_on_integer_values() {
    let mut rng = StdRng::seed_from_u64(7);
    for k in simd_tables() {
        for n in LENGTHS.into_iter().chain([2, 5, 7, 8, 9, 24, 40, 48, 80, 96, 129, 200]) {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-16i32..=16) as f32).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-16i32..=16) as f32).collect();
            for off in 0..4 {
                check_f32_exact(&k, Placed::new(&a, 4 * off).get(), Placed::new(&b, 4 * ((off + 1) % 4)).get());
            }
            let (ha, hb): (Vec<f16>, Vec<f16>) =
                (a.iter().map(|&x| f16::from_f32(x)).collect(), b.iter().map(|&x| f16::from_f32(x)).collect());
            for off in 0..4 {
                check_f16_exact(&k, Placed::new(&ha, 2 * off).get(), Placed::new(&hb, 2 * ((off + 3) % 4)).get());
            }
        }
    }
}

/// Byte offsets of the float32-bytes kernels' inputs from a 64-byte boundary: aligned, the odd
/// offsets 1, 2, 3, and a few that misalign one side for 16/32/64-byte vectors only.
const BYTE_OFFSETS: [(usize, usize); 9] = [(0, 0), (1, 0), (0, 2), (3, 1), (2, 3), (1, 1), (3, 3), (5, 0), (4, 63)];

#[test]
fn f32u_kernels_are_bit_identical_to_f32_kernels_at_odd_byte_offsets() {
    let mut rng = StdRng::seed_from_u64(0xf32_0b17e5);
    for k in all_tables() {
        for n in LENGTHS.into_iter().chain([2, 5, 7, 8, 9, 24, 40, 48, 80, 96, 129, 200]) {
            let (a, b) = (random_f32s(&mut rng, n), random_f32s(&mut rng, n));
            for (oa, ob) in BYTE_OFFSETS {
                check_f32u(&k, &a, &b, oa, ob, "random");
            }
            // Small integers: exact, so equal to the reference bit for bit as well.
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-16i32..=16) as f32).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-16i32..=16) as f32).collect();
            for (oa, ob) in BYTE_OFFSETS {
                check_f32u(&k, &a, &b, oa, ob, "integers");
                let (pa, pb) = (Placed::new(&le_bytes(&a), oa), Placed::new(&le_bytes(&b), ob));
                let (ua, ub) = (f32_le(pa.get()).unwrap(), f32_le(pb.get()).unwrap());
                let r = &scalar::KERNELS;
                assert_eq!((k.dot_f32u)(ua, ub), (r.dot_f32)(&a, &b), "dot_f32u {} n={n}", k.name);
                assert_eq!((k.l2sq_f32u)(ua, ub), (r.l2sq_f32)(&a, &b), "l2sq_f32u {} n={n}", k.name);
                assert_eq!((k.l1_f32u)(ua, ub), (r.l1_f32)(&a, &b), "l1_f32u {} n={n}", k.name);
                assert_eq!((k.cos_f32u)(ua, ub), (r.cos_f32)(&a, &b), "cos_f32u {} n={n}", k.name);
            }
        }
    }
}

/// Values that overflow, infinities, NaN, signed zeros and subnormals go through the float32-bytes
/// kernels exactly as through the float32 ones, and [`f32u_distance`] equals [`f32_distance`]
/// for every metric (including the L1 overflow fallback and cosine with a zero vector).
#[test]
fn f32u_distance_equals_f32_distance_on_special_values() {
    let specials = [
        0.0f32,
        -0.0,
        f32::from_bits(1),
        -f32::MIN_POSITIVE,
        1.0,
        -3.5,
        3e38,
        -3e38,
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    let same = |x: Option<f64>, y: Option<f64>| x.map(f64::to_bits) == y.map(f64::to_bits);
    let mut rng = StdRng::seed_from_u64(0x5bec);
    for k in all_tables() {
        for n in [1, 7, 16, 17, 33, 65, 100] {
            for round in 0..12 {
                let pick = |rng: &mut StdRng| -> Vec<f32> {
                    (0..n).map(|_| specials[rng.random_range(0..specials.len())]).collect()
                };
                let (a, b): (Vec<f32>, Vec<f32>) = match round {
                    0 => (vec![3e38; n], vec![-3e38; n]), // L1 overflows in f32, not in f64
                    1 => (vec![0.0; n], pick(&mut rng)),  // cosine undefined
                    _ => (pick(&mut rng), pick(&mut rng)),
                };
                let (pa, pb) = (Placed::new(&le_bytes(&a), 1), Placed::new(&le_bytes(&b), 3));
                let (ua, ub) = (f32_le(pa.get()).unwrap(), f32_le(pb.get()).unwrap());
                for metric in [Metric::L2, Metric::Cosine, Metric::Ip, Metric::L1] {
                    let (got, want) = (f32u_distance(&k, metric, ua, ub), f32_distance(&k, metric, &a, &b));
                    assert!(same(got, want), "{} {} n={n}: {got:?} vs {want:?} for {a:?} {b:?}", k.name, metric.name());
                }
            }
        }
    }
}

#[test]
fn f32_le_views_bytes_in_place() {
    let bytes = le_bytes(&[1.5, -2.0, 7.25]);
    let p = Placed::new(&bytes, 3);
    let v = f32_le(p.get()).unwrap();
    assert_eq!(v.as_ptr().cast::<u8>(), p.get().as_ptr());
    assert_eq!(v.iter().map(|x| f32::from_le_bytes(*x)).collect::<Vec<_>>(), [1.5, -2.0, 7.25]);
    assert_eq!(f32_le(&[]).map(<[F32Le]>::len), Some(0));
    assert!(f32_le(&bytes[1..]).is_none());
    assert!(f32_le(&bytes[..5]).is_none());
}

#[test]
fn int8_and_bit_kernels_match_scalar_at_awkward_lengths_and_odd_offsets() {
    let mut rng = StdRng::seed_from_u64(0x1_8b17);
    for k in simd_tables() {
        for n in LENGTHS {
            let (a, b) = (random_i8s(&mut rng, n), random_i8s(&mut rng, n));
            for (oa, ob) in [(0, 0), (1, 0), (0, 3), (3, 1), (5, 7), (33, 63)] {
                let (pa, pb) = (Placed::new(&a, oa), Placed::new(&b, ob));
                check_i8(&k, pa.get(), pb.get(), &format!("offsets {oa},{ob}"));
            }
            let (a, b) = (random_u8s(&mut rng, n), random_u8s(&mut rng, n));
            for (oa, ob) in [(0, 0), (1, 0), (0, 3), (3, 1), (5, 7), (33, 63)] {
                let (pa, pb) = (Placed::new(&a, oa), Placed::new(&b, ob));
                check_bits(&k, pa.get(), pb.get(), &format!("offsets {oa},{ob}"));
            }
        }
    }
}

/// 65,536 dims (the maximum) of the most extreme int8 values: the i32 lanes must not overflow.
/// Also lengths past one 65,536-element reduction chunk.
#[test]
fn int8_extremes_do_not_overflow() {
    const N: usize = 65_536;
    let lo = vec![-128i8; N];
    let hi = vec![127i8; N];
    let mixed: Vec<i8> = (0..N).map(|i| if i % 2 == 0 { -128 } else { 127 }).collect();
    let flipped: Vec<i8> = (0..N).map(|i| if i % 2 == 0 { 127 } else { -128 }).collect();
    for k in available().into_iter().chain(fallback_variants()) {
        let n = N as i64;
        assert_eq!((k.dot_i8)(&lo, &lo), 16_384 * n, "{}", k.name);
        assert_eq!((k.dot_i8)(&hi, &hi), 16_129 * n, "{}", k.name);
        assert_eq!((k.dot_i8)(&lo, &hi), -16_256 * n, "{}", k.name);
        assert_eq!((k.l2sq_i8)(&lo, &hi), 65_025 * N as u64, "{}", k.name);
        assert_eq!((k.l2sq_i8)(&mixed, &flipped), 65_025 * N as u64, "{}", k.name);
        assert_eq!((k.l1_i8)(&hi, &lo), 255 * N as u64, "{}", k.name);
        assert_eq!((k.cos_i8)(&lo, &lo), CosParts { dot: 16_384 * n, norm_a: 16_384 * n, norm_b: 16_384 * n });
        assert_eq!((k.cos_i8)(&lo, &hi), CosParts { dot: -16_256 * n, norm_a: 16_384 * n, norm_b: 16_129 * n });
        for (a, b) in [(&lo, &lo), (&hi, &lo), (&mixed, &flipped), (&mixed, &lo), (&hi, &mixed)] {
            check_i8(&k, a, b, "extremes");
            check_i8(&k, &a[1..], &b[3..N - 2], "extremes, odd offsets");
        }
    }
    // Longer than the kernels' 65,536-element reduction chunks, misaligned: 9 chunks of
    // l2sq(127, -128) would overflow the i32 lanes (~2.4e9 per lane) if they were not reduced.
    let big_lo = vec![-128i8; 9 * N + 77];
    let big_hi = vec![127i8; 9 * N + 77];
    for k in simd_tables() {
        check_i8(&k, &big_lo[1..], &big_hi[1..], "9 chunks");
        check_i8(&k, &big_lo[..9 * N], &big_lo[..9 * N], "9 chunks");
    }
}

/// f16 specials: subnormals (smallest, largest, negative), the largest finite ±65504, zeros of
/// both signs, the smallest normal, and ordinary values, in random mixes. Lengths stay ≤ 128 so
/// that even one-sided rounding (n·u·Σ|terms|) stays inside the tolerance.
#[test]
fn f16_specials_match_scalar() {
    let specials = [
        f16::from_bits(0x0001),
        f16::from_bits(0x8001),
        f16::from_bits(0x03ff),
        f16::from_bits(0x83ff),
        f16::from_bits(0x0400),
        f16::MAX,
        f16::MIN,
        f16::ZERO,
        f16::NEG_ZERO,
        f16::ONE,
        f16::from_f32(-0.333),
        f16::from_f32(1234.5),
    ];
    let mut rng = StdRng::seed_from_u64(0xf16);
    for k in simd_tables() {
        for n in [1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128] {
            for _ in 0..8 {
                let pick = |rng: &mut StdRng| (0..n).map(|_| specials[rng.random_range(0..specials.len())]).collect();
                let (a, b): (Vec<f16>, Vec<f16>) = (pick(&mut rng), pick(&mut rng));
                check_f16(&k, Placed::new(&a, 2).get(), Placed::new(&b, 6).get(), "specials");
            }
            for &s in &specials {
                check_f16(&k, &vec![s; n], &vec![f16::MAX; n], "constant");
                check_f16(&k, &vec![s; n], &vec![f16::from_bits(0x0001); n], "constant");
            }
        }
    }
    // Subnormals only: the tiny sums must be computed, not flushed to zero.
    let sub: Vec<f16> = (1..=1000u16).map(|i| f16::from_bits(i % 0x400)).collect();
    for k in available() {
        assert!((k.l2sq_f16)(&sub, &vec![f16::ZERO; sub.len()]) > 0.0, "{}", k.name);
        check_f16(&k, &sub, &sub, "subnormals");
    }
}

/// Every finite f16 bit pattern widens to exactly `half`'s f32 value in every SIMD lane: a dot
/// product against a one-hot vector of 1.0 picks out one lane, and adding zeros is exact.
#[test]
fn f16_widening_is_exact_for_every_finite_value() {
    let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).map(|x| if x.is_finite() { x } else { f16::ZERO }).collect();
    for k in simd_tables() {
        for block in all.chunks_exact(64) {
            let mut one_hot = [f16::ZERO; 64];
            for (i, &x) in block.iter().enumerate() {
                one_hot[i] = f16::ONE;
                let got = (k.dot_f16)(block, &one_hot);
                assert_eq!(got, x.to_f32(), "{} f16 bits {:#06x} in lane {i}", k.name, x.to_bits());
                one_hot[i] = f16::ZERO;
            }
        }
    }
}

/// The same inputs give bit-identical results whatever their alignment, and call after call.
#[test]
fn results_do_not_depend_on_alignment() {
    let mut rng = StdRng::seed_from_u64(99);
    for k in available().into_iter().chain(fallback_variants()) {
        for n in [17, 100, 1000, 4097] {
            let (a, b) = (random_f32s(&mut rng, n), random_f32s(&mut rng, n));
            let (ha, hb) = (random_f16s(&mut rng, n), random_f16s(&mut rng, n));
            let first = ((k.dot_f32)(&a, &b), (k.l2sq_f32)(&a, &b), (k.cos_f32)(&a, &b), (k.l1_f16)(&ha, &hb));
            let first_h = ((k.dot_f16)(&ha, &hb), (k.l2sq_f16)(&ha, &hb), (k.cos_f16)(&ha, &hb), (k.l1_f32)(&a, &b));
            for off in 0..16 {
                let (pa, pb) = (Placed::new(&a, 4 * off), Placed::new(&b, 4 * ((off * 7) % 16)));
                let (qa, qb) = (Placed::new(&ha, 2 * off), Placed::new(&hb, 2 * ((off * 5) % 32)));
                let (a, b, ha, hb) = (pa.get(), pb.get(), qa.get(), qb.get());
                let again = ((k.dot_f32)(a, b), (k.l2sq_f32)(a, b), (k.cos_f32)(a, b), (k.l1_f16)(ha, hb));
                let again_h = ((k.dot_f16)(ha, hb), (k.l2sq_f16)(ha, hb), (k.cos_f16)(ha, hb), (k.l1_f32)(a, b));
                assert_eq!(format!("{first:?}"), format!("{again:?}"), "{} n={n} off={off}", k.name);
                assert_eq!(format!("{first_h:?}"), format!("{again_h:?}"), "{} n={n} off={off}", k.name);
            }
        }
    }
}

/// Callers pass equal lengths, but the kernels are safe functions: unequal lengths must not read
/// out of bounds and behave like the reference (the common prefix).
#[test]
fn unequal_lengths_use_the_common_prefix() {
    let mut rng = StdRng::seed_from_u64(3);
    for k in simd_tables() {
        for (n, m) in [(0, 5), (5, 0), (17, 100), (100, 17), (64, 65), (1000, 999)] {
            let (a, b) = (random_f32s(&mut rng, n), random_f32s(&mut rng, m));
            check_f32(&k, &a, &b, "unequal");
            check_f32u(&k, &a, &b, 1, 2, "unequal");
            let (a, b) = (random_f16s(&mut rng, n), random_f16s(&mut rng, m));
            check_f16(&k, &a, &b, "unequal");
            let (a, b) = (random_i8s(&mut rng, n), random_i8s(&mut rng, m));
            check_i8(&k, &a, &b, "unequal");
            let (a, b) = (random_u8s(&mut rng, n), random_u8s(&mut rng, m));
            check_bits(&k, &a, &b, "unequal");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests: random lengths, values and misalignments.

fn f32_pair(max: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1..max).prop_flat_map(|n| {
        let v = prop::collection::vec(-1000f32..1000f32, n);
        (v.clone(), v)
    })
}
fn f16_pair(max: usize) -> impl Strategy<Value = (Vec<f16>, Vec<f16>)> {
    // Any finite f16 bit pattern: subnormals, ±65504 and everything between.
    let finite = any::<u16>().prop_map(f16::from_bits).prop_filter("finite", |x| x.is_finite());
    (1..max).prop_flat_map(move |n| {
        let v = prop::collection::vec(finite.clone(), n);
        (v.clone(), v)
    })
}
fn i8_pair(max: usize) -> impl Strategy<Value = (Vec<i8>, Vec<i8>)> {
    (1..max).prop_flat_map(|n| (prop::collection::vec(any::<i8>(), n), prop::collection::vec(any::<i8>(), n)))
}
fn u8_pair(max: usize) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (1..max).prop_flat_map(|n| (prop::collection::vec(any::<u8>(), n), prop::collection::vec(any::<u8>(), n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_f32_kernels_match_scalar((a, b) in f32_pair(5000), oa in 0usize..16, ob in 0usize..16) {
        let (pa, pb) = (Placed::new(&a, 4 * oa), Placed::new(&b, 4 * ob));
        for k in simd_tables() {
            check_f32(&k, pa.get(), pb.get(), "proptest");
        }
    }

    #[test]
    fn prop_f32u_kernels_match_f32_kernels((a, b) in f32_pair(5000), oa in 0usize..64, ob in 0usize..64) {
        for k in all_tables() {
            check_f32u(&k, &a, &b, oa, ob, "proptest");
        }
    }

    #[test]
    fn prop_f16_kernels_match_scalar((a, b) in f16_pair(5000), oa in 0usize..32, ob in 0usize..32) {
        let (pa, pb) = (Placed::new(&a, 2 * oa), Placed::new(&b, 2 * ob));
        for k in simd_tables() {
            check_f16(&k, pa.get(), pb.get(), "proptest");
        }
    }

    #[test]
    fn prop_i8_kernels_match_scalar((a, b) in i8_pair(5000), oa in 0usize..64, ob in 0usize..64) {
        let (pa, pb) = (Placed::new(&a, oa), Placed::new(&b, ob));
        for k in simd_tables() {
            check_i8(&k, pa.get(), pb.get(), "proptest");
        }
    }

    #[test]
    fn prop_bit_kernels_match_scalar((a, b) in u8_pair(2000), oa in 0usize..64, ob in 0usize..64) {
        let (pa, pb) = (Placed::new(&a, oa), Placed::new(&b, ob));
        for k in simd_tables() {
            check_bits(&k, pa.get(), pb.get(), "proptest");
        }
    }
}

#[test]
fn blocked_dot_products_match_the_reference_and_each_other() {
    let mut rng = StdRng::seed_from_u64(77);
    for k in all_tables() {
        for &n in &LENGTHS {
            let a: Vec<Vec<f32>> = (0..4).map(|_| random_f32s(&mut rng, n)).collect();
            let b: Vec<Vec<f32>> = (0..4).map(|_| random_f32s(&mut rng, n)).collect();
            let ar: [&[f32]; 4] = [&a[0], &a[1], &a[2], &a[3]];
            let br: [&[f32]; 4] = [&b[0], &b[1], &b[2], &b[3]];
            let block = (k.dots_4x4)(&ar, &br);
            for i in 0..4 {
                // One point against four: the very same products (training relies on it).
                let one = (k.dots_1x4)(&a[i], &br);
                assert_eq!(one.map(f32::to_bits), block[i].map(f32::to_bits), "{} n={n}", k.name);
                for j in 0..4 {
                    let want = scalar::dot_f32(&a[i], &b[j]);
                    let m = magnitudes(a[i].iter().copied(), b[j].iter().copied());
                    assert!(close(block[i][j], want, m.dot), "{} n={n}: {} vs {want}", k.name, block[i][j]);
                }
            }
        }
    }
}

/// The nibble-table sums over transposed codes: every table equals the scalar reference, for
/// code widths from 1 byte to 48 (384 dims) and several blocks, at odd offsets, including sums
/// that wrap in u16; and the reference itself against a hand-computed entry.
#[test]
fn nibble_sums_match_scalar() {
    let mut rng = StdRng::seed_from_u64(0x4b17);
    let mut lut = vec![0u8; 64];
    lut[3] = 5; // row 0, low nibble 3
    lut[16 + 2] = 7; // row 0, high nibble 2
    lut[32 + 15] = 200; // row 1, low nibble 15
    let mut packed = vec![0u8; 64];
    packed[4] = 0x23; // entry 4, byte 0
    packed[32 + 4] = 0x0f; // entry 4, byte 1
    let mut out = vec![0u16; 32];
    scalar::nibble_sums(&packed, &lut, &mut out);
    assert_eq!(out[4], 5 + 7 + 200);
    assert_eq!(out[5], 0);
    for k in simd_tables() {
        for rows in [1usize, 2, 3, 16, 48, 300] {
            for blocks in [1usize, 2, 5] {
                let lut = random_u8s(&mut rng, 32 * rows);
                let packed = random_u8s(&mut rng, 32 * rows * blocks);
                let (pl, pp) = (Placed::new(&lut, 3), Placed::new(&packed, 5));
                let (mut want, mut got) = (vec![0u16; 32 * blocks], vec![7u16; 32 * blocks]);
                scalar::nibble_sums(pp.get(), pl.get(), &mut want);
                (k.nibble_sums)(pp.get(), pl.get(), &mut got);
                assert_eq!(got, want, "{}: rows {rows}, blocks {blocks}", k.name);
            }
        }
    }
}

/// The code transposition of every table equals the scalar reference, for code widths from 1
/// byte to 48 and beyond (with and without a tail past the last 16 bytes), at odd offsets; and
/// the reference puts byte `j` of entry `e` at `32·j + e`.
#[test]
fn transpose32_matches_scalar() {
    let mut rng = StdRng::seed_from_u64(0x7a5e);
    let src: Vec<u8> = (0..64u8).collect();
    let mut dst = vec![0u8; 64];
    scalar::transpose32(&src, &mut dst);
    assert_eq!(dst[32 + 5], src[2 * 5 + 1]);
    assert_eq!(dst[7], src[14]);
    for k in simd_tables() {
        for rows in [1usize, 2, 8, 15, 16, 17, 32, 48, 50, 96] {
            let src = random_u8s(&mut rng, 32 * rows);
            let ps = Placed::new(&src, 3);
            let (mut want, mut got) = (vec![0u8; 32 * rows], vec![9u8; 32 * rows]);
            scalar::transpose32(ps.get(), &mut want);
            (k.transpose32)(ps.get(), &mut got);
            assert_eq!(got, want, "{}: rows {rows}", k.name);
        }
    }
}

/// The int8 coding of float32 vectors is stored (flat tables' codes), so every table must code
/// exactly as the reference does, and the reference must keep coding as it did when the
/// format was fixed: the digest below is of the codes the first coder gave for these inputs
/// (random vectors at magnitudes from 1e-35 to 1e25, values on exact half steps, zeros, and
/// lengths around every vector width).
#[test]
fn sq8_coding_is_the_same_at_every_level_and_as_stored_before() {
    let mut rng = StdRng::seed_from_u64(0x5138);
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            digest = (digest ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    };
    for i in 0..3000 {
        let n = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 128, 384, 1000][i % 15];
        let mag = 10f32.powf(rng.random::<f32>() * 60.0 - 35.0);
        let mut x: Vec<f32> = (0..n).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * mag).collect();
        if i % 5 == 0 {
            // Values half way between two codes: rounding away from zero decides.
            let m = x.iter().fold(0f32, |a, v| a.max(v.abs()));
            let s = m / 127.0;
            for v in x.iter_mut().skip(1) {
                *v = ((*v / s).round() + 0.5) * s;
            }
        }
        if i % 13 == 0 {
            x.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut want = vec![0i8; n];
        let r = (scalar::KERNELS.encode_sq8)(&x, &mut want);
        for k in all_tables() {
            let mut got = vec![0i8; n];
            let g = (k.encode_sq8)(&x, &mut got);
            let bits = |p: Option<(f32, f32, f32)>| p.map(|(a, b, c)| (a.to_bits(), b.to_bits(), c.to_bits()));
            assert_eq!(bits(g), bits(r), "{} vector {i} (n = {n})", k.name);
            if r.is_some() {
                assert_eq!(got, want, "{} vector {i} (n = {n})", k.name);
            }
        }
        match r {
            Some((scale, l1, norm)) => {
                eat(bytemuck::cast_slice(&want));
                eat(&scale.to_le_bytes());
                eat(&l1.to_le_bytes());
                eat(&norm.to_le_bytes());
            }
            None => eat(b"none"),
        }
    }
    assert_eq!(digest, DIGEST, "the int8 coder's output changed: stored codes would no longer match");
}
const DIGEST: u64 = 12_328_003_242_250_154_236;
