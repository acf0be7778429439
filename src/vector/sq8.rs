//! int8 coding of float32 vectors, the reference version (plain code that vectorizes):
//! `crate::simd` compiles it for each CPU level, and the codes come out byte for byte the same
//! (IEEE operations in a fixed order; Rust never fuses a multiply and an add on its own).
//! What the codes are for, and the error bound they carry, is in the index's int8 prescan.

/// Code `x` into `out`; returns (scale, ‖x‖₁ rounded up, ‖x‖₂).
///
/// Codes are `trunc(x·(1/s) ± 0.5)` in float32: each is within 0.5 + 2⁻¹⁶ steps of `x/s`
/// (the rounding of `1/s` and of the product, at most 127·2⁻²³ steps), which the bound allows
/// for. Written with independent lanes so that it vectorizes: coding is what the first query
/// on a connection spends its time on.
#[inline(always)]
pub fn encode_portable(x: &[f32], out: &mut [i8]) -> Option<(f32, f32, f32)> {
    let mut maxes = [0.0f32; 8];
    let mut l1s = [0.0f32; 8];
    let mut sqs = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            let v = c[j].abs();
            maxes[j] = if v > maxes[j] { v } else { maxes[j] };
            l1s[j] += v;
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
    if !(l1.is_finite() && max < 1e30) {
        return None;
    }
    let scale = max / 127.0;
    if scale > 0.0 {
        let inv = 1.0 / scale;
        let q = |v: f32| {
            let t = v * inv;
            ((t + 0.5f32.copysign(t)) as i32).clamp(-127, 127) as i8
        };
        let mut oc = out.chunks_exact_mut(8);
        let mut xc = x.chunks_exact(8);
        for (o, v) in (&mut oc).zip(&mut xc) {
            let mut t = [0i32; 8];
            for j in 0..8 {
                let y = v[j] * inv;
                t[j] = (y + 0.5f32.copysign(y)) as i32;
            }
            for j in 0..8 {
                o[j] = t[j].clamp(-127, 127) as i8;
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
