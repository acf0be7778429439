//! int8 coding of float32 vectors, the reference version (plain code that vectorizes):
//! `crate::simd` compiles it for each CPU level, and the codes come out byte for byte the same
//! (IEEE operations in a fixed order; Rust never fuses a multiply and an add on its own).
//! What the codes are for, and the error bound they carry, is in the index's int8 prescan.

/// The smallest largest-magnitude element of a vector that can be coded (2⁻¹¹², about 1.9e-34),
/// unless the vector is all zeros. It keeps the scale `max/127` a normal float32 (≥ 2⁻¹¹⁹), so
/// `1/scale` is finite and both carry the relative rounding the bound allows for; a subnormal
/// scale would be rounded to a coarse grid and `1/scale` can overflow (codes of ±127 for every
/// element, far outside the bound).
pub const MIN_CODABLE: f32 = f32::from_bits(15 << 23);
/// Vectors whose largest element is this big or bigger cannot be coded (1e30): the float32
/// L1 sum (≤ 65,536·1e30) and the norm stay finite, and the bound's products stay far inside f64.
pub const MAX_CODABLE: f32 = 1e30;

#[inline(always)]
pub fn encode_portable(x: &[f32], out: &mut [i8]) -> Option<(f32, f32, f32)> {
    let mut maxes = [0.0f32; 8];
    let mut l1s = [0.0f32; 8];
    let mut sqs = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    // Three passes, one sum each: in one loop, LLVM packs lanes of different sums together
    // and adds element by element (2× slower). Each lane's order is the same either way.
    for c in chunks.clone() {
        for j in 0..8 {
            let v = c[j].abs();
            maxes[j] = if v > maxes[j] { v } else { maxes[j] };
        }
    }
    for c in chunks.clone() {
        for j in 0..8 {
            l1s[j] += c[j].abs();
        }
    }
    for c in chunks {
        for j in 0..8 {
            sqs[j] += c[j] * c[j];
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        maxes[j] = maxes[j].max(v.abs());
        l1s[j] += v.abs();
        sqs[j] += v * v;
    }
    let max = maxes.iter().fold(0.0f32, |m, v| m.max(*v));
    // float32 lane sums: relative error below γ = 2n·2⁻²⁴, allowed for by the bound.
    let (l1, sq): (f64, f64) = (l1s.iter().map(|v| *v as f64).sum(), sqs.iter().map(|v| *v as f64).sum());
    let gamma = 2.0 * x.len() as f64 * f64::powi(2.0, -24);
    let l1 = l1 * (1.0 + gamma);
    if !(l1.is_finite() && max < MAX_CODABLE && (max >= MIN_CODABLE || max == 0.0)) {
        return None;
    }
    // The float32 squares may have overflowed (elements beyond ~1.8e19) or lost precision to
    // underflow (the same test as the distances' `trusted_sum`: below n·2⁻¹²⁴ the subnormal
    // roundings, up to n·2⁻¹⁴⁹ in all, could exceed one float32 rounding); then the sum is taken
    // in f64, where squares of float32 values neither overflow nor underflow.
    let sq = if sq.is_finite() && sq >= x.len() as f64 * f64::powi(2.0, -124) {
        sq
    } else {
        x.iter().map(|v| *v as f64 * *v as f64).sum()
    };
    let scale = max / 127.0;
    if scale > 0.0 {
        let inv = 1.0 / scale;
        // Round half away from zero: truncate `t ± 0.5`. Every `v * inv` is finite (|v| ≤ max,
        // `inv` finite), so clamping to ±127 before truncating gives the integer clamping
        // after would. The integer is then read from the bits of `t + 1.5·2²³` (exact for
        // whole numbers this small) rather than by a cast, whose saturation on overflow and
        // NaN LLVM does one element at a time.
        let q = |v: f32| {
            let t = v * inv;
            let r = (t + 0.5f32.copysign(t)).clamp(-127.0, 127.0).trunc();
            ((r + 12_582_912.0).to_bits() as i32 - 0x4b40_0000) as i8
        };
        let mut oc = out.chunks_exact_mut(16);
        let mut xc = x.chunks_exact(16);
        for (o, v) in (&mut oc).zip(&mut xc) {
            for j in 0..16 {
                o[j] = q(v[j]);
            }
        }
        for (o, &v) in oc.into_remainder().iter_mut().zip(xc.remainder()) {
            *o = q(v);
        }
    } else {
        out.iter_mut().for_each(|c| *c = 0);
    }
    let mut l1f = l1 as f32;
    if (l1f as f64) < l1 {
        l1f = l1f.next_up();
    }
    Some((scale, l1f, sq.sqrt() as f32))
}
