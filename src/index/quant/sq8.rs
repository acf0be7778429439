//! Exact search through an int8 prescan.
//!
//! Each float32 vector also gets an int8 code: `x ≈ s·c` with `s = max|x| / 127` and
//! `c_i = round(x_i / s)`, so `|x_i − s·c_i| ≤ s/2`. The query is coded the same way. The exact
//! integer dot product of the codes, with the scales and the vectors' L1 norms, gives the true
//! dot product within a bound that holds for every vector (no probabilities), so each row gets
//! an interval that surely contains the distance the float32 kernel would compute. A scan over
//! the codes (a quarter of the bytes) keeps the k smallest upper ends; only rows whose lower
//! end is below the k-th upper end can be in the top k, and just those are scored exactly. The
//! result is the same rows and distances as scoring every vector in float32.
//!
//! Bound: with q = s_q·c + e, x = s_x·d + f (|e_i| ≤ s_q/2, |f_i| ≤ s_x/2),
//! q·x − s_q·s_x·(c·d) = s_q·Σc_i f_i + s_x·Σd_i e_i + Σe_i f_i, so
//! |error| ≤ (s_x/2)(‖q‖₁ + n·s_q/2) + (s_q/2)(‖x‖₁ + n·s_x/2) + n·s_q·s_x/4.
//! On top of it, margins for the float32 kernels' own rounding (γ_n = n·2⁻²⁴ relative to the
//! sum of |terms|), for norms stored in float32, and for the underflow the distance accepts
//! from a float32 kernel (at most 2⁻²⁵ of the sum; see `vector::distance::f32_distance`, which
//! otherwise recomputes in f64, closer to the exact value the bound is built around).
//!
//! Vectors that cannot be coded (see [`crate::vector::sq8::encode_portable`]: non-finite, or a
//! largest element below 2⁻¹¹² or from 1e30 up) are kept with the *unbounded* marker: scale
//! +∞ (bits `0x7f80_0000`), ‖x‖₁ and ‖x‖₂ +∞, codes all 0. Their interval is (−∞, +∞): they
//! are always scored exactly, and the rest of the column keeps its prescan. A query that cannot
//! be coded makes every interval (−∞, +∞). No interval is ever NaN.

use crate::vector::distance::Metric;

/// The scale that marks a vector stored without a bound (+∞; its ‖x‖₁ and ‖x‖₂ are +∞ too,
/// and its codes 0). Legitimate scales are 0 or between 2⁻¹¹⁹ and 1e30/127.
pub const UNBOUNDED_SCALE: f32 = f32::INFINITY;

/// The interval of a row or query without a bound.
const EVERYWHERE: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);

/// [`crate::vector::sq8::encode_portable`], compiled for the best SIMD level this CPU has. None:
/// the vector holds values the bound cannot handle (non-finite, or a largest element outside
/// [2⁻¹¹², 1e30) in a vector that is not all zeros).
pub fn encode(x: &[f32], out: &mut [i8]) -> Option<(f32, f32, f32)> {
    (crate::simd::kernels().encode_sq8)(x, out)
}

/// `Σ|c_i|` of a code, for [`QueryCode::interval_codes`].
#[inline]
pub fn abs_sum(code: &[i8]) -> u32 {
    code.iter().map(|c| c.unsigned_abs() as u32).sum()
}

/// The query, coded, with what the bounds need.
pub struct QueryCode {
    pub codes: Vec<i8>,
    scale: f64,
    l1: f64,
    norm: f64,
    n: f64,
    /// Relative rounding allowance for float32 sums of n terms (generous).
    gamma: f64,
    metric: Metric,
    /// The query could not be coded: every interval is (−∞, +∞).
    unbounded: bool,
}

/// Metrics the prescan serves (float32 columns).
pub fn supports(metric: Metric) -> bool {
    matches!(metric, Metric::L2 | Metric::Cosine | Metric::Ip)
}

impl QueryCode {
    pub fn new(q: &[f32], metric: Metric) -> Self {
        let mut codes = vec![0i8; q.len()];
        // A query that cannot be coded (elements of 1e30 or more, or all below 2⁻¹¹²) bounds
        // nothing: every row is then scored exactly.
        let coded = encode(q, &mut codes);
        let unbounded = coded.is_none();
        let (scale, l1, norm) = coded.unwrap_or((0.0, 0.0, 0.0));
        let n = q.len() as f64;
        let u = f64::powi(2.0, -24);
        QueryCode {
            codes,
            scale: scale as f64,
            l1: l1 as f64,
            norm: norm as f64,
            n,
            gamma: 2.0 * n * u / (1.0 - n * u),
            metric,
            unbounded,
        }
    }

    /// An interval surely holding the distance the float32 kernels give for the vector with
    /// code dot product `dot_codes`, scale `sx`, ‖x‖₁ `l1x` and ‖x‖₂ `nx`. None: undefined
    /// (cosine of a zero vector). (−∞, +∞) for an unbounded row or query; never NaN.
    #[inline]
    pub fn interval(&self, dot_codes: i64, sx: f32, l1x: f32, nx: f32) -> Option<(f64, f64)> {
        if self.unbounded || !(sx.is_finite() && l1x.is_finite() && nx.is_finite()) {
            return Some(EVERYWHERE);
        }
        // s_x·Σ|d_i| ≤ ‖x‖₁ + n·s_x/2.
        let r = self.bounded_interval(dot_codes, sx, l1x as f64 + self.n * sx as f64 / 2.0, nx)?;
        // Not reachable for coded vectors (every quantity above is finite and far inside f64),
        // but a NaN must never drop a row.
        Some(if r.0 <= r.1 { r } else { EVERYWHERE })
    }

    /// [`QueryCode::interval`] for a vector whose code's absolute values sum to `abs_codes`
    /// (`Σ|d_i|`), instead of its ‖x‖₁: the bound then takes `s_x·Σ|d_i|` itself, exactly,
    /// where [`QueryCode::interval`] takes its upper bound `‖x‖₁ + n·s_x/2` (so this interval
    /// is never wider).
    #[inline]
    pub fn interval_codes(&self, dot_codes: i64, sx: f32, abs_codes: u32, nx: f32) -> Option<(f64, f64)> {
        if self.unbounded || !(sx.is_finite() && nx.is_finite()) {
            return Some(EVERYWHERE);
        }
        let r = self.bounded_interval(dot_codes, sx, sx as f64 * abs_codes as f64, nx)?;
        Some(if r.0 <= r.1 { r } else { EVERYWHERE })
    }

    /// The interval, given `xs` ≥ `s_x·Σ|d_i|` (the vector's side of the code error).
    #[inline(always)]
    fn bounded_interval(&self, dot_codes: i64, sx: f32, xs: f64, nx: f32) -> Option<(f64, f64)> {
        let (sq, sx, nx) = (self.scale, sx as f64, nx as f64);
        let n = self.n;
        let approx = sq * sx * dot_codes as f64;
        // q·x − s_q·s_x·(c·d) = s_q·Σc_i f_i + s_x·Σd_i e_i + Σe_i f_i, with |e_i| ≤ s_q/2,
        // |f_i| ≤ s_x/2 and s_q·Σ|c_i| ≤ ‖q‖₁ + n·s_q/2.
        let err = ((sx / 2.0) * (self.l1 + n * sq / 2.0) + (sq / 2.0) * xs + n * sq * sx / 4.0) * (1.0 + 1e-4) + 1e-300;
        // Norms are float32 sums stored in float32: allow their rounding.
        let norm_slack = 8.0 * f64::powi(2.0, -24) + self.gamma;
        let g = self.gamma;
        // What underflow may add to a float32 sum the distance still trusts: at most 2⁻²⁵ of it
        // (of the norms' product, for cosine), allowed for as 2⁻²⁴.
        let uf = f64::powi(2.0, -24);
        match self.metric {
            Metric::Cosine => {
                let denom = self.norm * nx;
                if denom == 0.0 {
                    return None;
                }
                let center = 1.0 - approx / denom;
                let margin = err / denom + 4.0 * g + norm_slack + uf + 1e-12;
                Some((center - margin, center + margin))
            }
            Metric::L2 => {
                let qq = self.norm * self.norm;
                let xx = nx * nx;
                let d2 = qq + xx - 2.0 * approx;
                let slack = 2.0 * err + (qq + xx) * norm_slack;
                let f = 2.0 * g + norm_slack + uf;
                let lo = ((d2 - slack).max(0.0) * (1.0 - f)).max(0.0).sqrt();
                let hi = ((d2 + slack).max(0.0) * (1.0 + f)).sqrt();
                Some((lo, hi))
            }
            Metric::Ip => {
                let margin = err + 2.0 * g * self.norm * nx * (1.0 + norm_slack) + uf * (approx.abs() + err) + 1e-300;
                Some((-approx - margin, -approx + margin))
            }
            _ => None,
        }
    }
}

/// The distance two coded vectors have, estimated from their codes: `s_a·s_b·(c_a·c_b)` for
/// the dot product, with the vectors' norms. What graph searches navigate by (exact integer
/// arithmetic on the codes, so every CPU gets the same numbers); results are rescored exactly.
/// +∞ for a vector without a code, or cosine with a zero vector. Under l2 it is the squared
/// distance (graph searches only compare these with each other).
#[inline]
pub fn approx_distance(metric: Metric, dot_codes: i64, (sa, na): (f32, f32), (sb, nb): (f32, f32)) -> f64 {
    if !(sa.is_finite() && sb.is_finite() && na.is_finite() && nb.is_finite()) {
        return f64::INFINITY;
    }
    let dot = sa as f64 * sb as f64 * dot_codes as f64;
    let (na, nb) = (na as f64, nb as f64);
    match metric {
        Metric::Cosine => {
            let d = na * nb;
            if d == 0.0 { f64::INFINITY } else { 1.0 - dot / d }
        }
        // Squared: monotone in the distance, which is all a graph search compares.
        Metric::L2 => (na * na + nb * nb - 2.0 * dot).max(0.0),
        Metric::Ip => -dot,
        _ => f64::INFINITY,
    }
}

impl QueryCode {
    /// (scale, ‖q‖₂) of the query's code, for [`approx_distance`]; None when it has no code.
    pub fn params(&self) -> Option<(f32, f32)> {
        (!self.unbounded).then_some((self.scale as f32, self.norm as f32))
    }
}

/// The k smallest upper ends seen so far (a max-heap on f64).
pub struct UpperBounds {
    k: usize,
    heap: std::collections::BinaryHeap<OrdF64>,
}

struct OrdF64(f64);
impl PartialEq for OrdF64 {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

impl UpperBounds {
    pub fn new(k: usize) -> Self {
        UpperBounds { k, heap: std::collections::BinaryHeap::with_capacity(k.min(1 << 16) + 1) }
    }
    /// Rows whose lower end exceeds this cannot be in the top k.
    #[inline]
    pub fn threshold(&self) -> f64 {
        if self.heap.len() < self.k { f64::INFINITY } else { self.heap.peek().map_or(f64::INFINITY, |x| x.0) }
    }
    #[inline]
    pub fn push(&mut self, upper: f64) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(OrdF64(upper));
        } else if let Some(mut top) = self.heap.peek_mut()
            && upper < top.0
        {
            *top = OrdF64(upper);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::chunk::SlotCode;
    use crate::vector::distance::{f32_distance, scalar};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }

    #[test]
    fn intervals_contain_the_float32_distance() {
        let k = crate::simd::kernels();
        let mut seed = 42u64;
        for &dims in &[1usize, 3, 16, 100, 384, 1000] {
            for metric in [Metric::L2, Metric::Cosine, Metric::Ip] {
                for trial in 0..200 {
                    // Mix scales, skew and sparsity.
                    let scale = [1e-3f32, 1.0, 37.0][trial % 3];
                    let q: Vec<f32> = (0..dims).map(|_| lcg(&mut seed) * scale).collect();
                    let x: Vec<f32> = (0..dims)
                        .map(|i| {
                            if trial % 5 == 0 && i % 3 != 0 {
                                0.0
                            } else {
                                (lcg(&mut seed) + 0.3 * (trial % 2) as f32) * scale
                            }
                        })
                        .collect();
                    let mut cx = vec![0i8; dims];
                    let (sx, l1x, nx) = encode(&x, &mut cx).unwrap();
                    let qc = QueryCode::new(&q, metric);
                    let dot = (scalar::KERNELS.dot_i8)(&qc.codes, &cx);
                    let Some((lo, hi)) = qc.interval(dot, sx, l1x, nx) else {
                        assert!(x.iter().all(|v| *v == 0.0) || q.iter().all(|v| *v == 0.0));
                        continue;
                    };
                    // From the code's Σ|d_i| instead of ‖x‖₁: inside the other interval.
                    let (clo, chi) = qc.interval_codes(dot, sx, abs_sum(&cx), nx).unwrap();
                    assert!(
                        lo <= clo && chi <= hi,
                        "{metric:?} dims={dims} trial={trial}: [{clo}, {chi}] in [{lo}, {hi}]"
                    );
                    for kern in [k, &scalar::KERNELS] {
                        if let Some(d) = f32_distance(kern, metric, &x, &q) {
                            assert!(
                                clo <= d && d <= chi,
                                "{metric:?} dims={dims} trial={trial}: {clo} <= {d} <= {chi}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A random float32 of magnitude about `10^e` (`e` may reach into the subnormals).
    fn at_magnitude(seed: &mut u64, e: f64) -> f32 {
        let m = lcg(seed) as f64; // in [-1, 1)
        (m * 10f64.powf(e)) as f32
    }

    #[test]
    fn intervals_contain_the_distance_at_every_magnitude() {
        let k = crate::simd::kernels();
        let mut seed = 7u64;
        let exps = [
            -45.0, -42.0, -39.0, -37.5, -36.0, -33.0, -30.0, -22.0, -19.0, -10.0, 0.0, 10.0, 19.0, 20.0, 29.0, 30.5,
            38.0,
        ];
        let mut unbounded = 0;
        for &dims in &[1usize, 2, 5, 16, 33, 200] {
            for metric in [Metric::L2, Metric::Cosine, Metric::Ip] {
                for trial in 0..300 {
                    let ex = exps[trial % exps.len()];
                    let eq = exps[(trial / exps.len() + trial) % exps.len()];
                    // Some vectors mix magnitudes within themselves.
                    let mixed = trial % 7 == 0;
                    let x: Vec<f32> =
                        (0..dims).map(|i| at_magnitude(&mut seed, if mixed && i % 2 == 1 { eq } else { ex })).collect();
                    let q: Vec<f32> = (0..dims).map(|_| at_magnitude(&mut seed, eq)).collect();
                    if metric == Metric::Cosine && (x.iter().all(|v| *v == 0.0) || q.iter().all(|v| *v == 0.0)) {
                        continue;
                    }
                    let sc = SlotCode::encode(&x);
                    let qc = QueryCode::new(&q, metric);
                    let dot = (scalar::KERNELS.dot_i8)(&qc.codes, &sc.code);
                    let (lo, hi) =
                        qc.interval(dot, sc.scale, sc.l1, sc.norm).expect("nonzero vectors have an interval");
                    let (clo, chi) = qc
                        .interval_codes(dot, sc.scale, abs_sum(&sc.code), sc.norm)
                        .expect("nonzero vectors have an interval");
                    assert!(!lo.is_nan() && !hi.is_nan() && !clo.is_nan() && !chi.is_nan());
                    if lo == f64::NEG_INFINITY {
                        unbounded += 1;
                    }
                    for kern in [k, &scalar::KERNELS] {
                        let d = f32_distance(kern, metric, &x, &q).expect("finite vectors have a distance");
                        for (lo, hi) in [(lo, hi), (clo, chi)] {
                            assert!(
                                lo <= d && d <= hi,
                                "{metric:?} dims={dims} trial={trial} 1e{ex}/1e{eq}: {lo} <= {d} <= {hi}"
                            );
                        }
                    }
                }
            }
        }
        assert!(unbounded > 0, "some cases must be out of the codable range");
    }

    #[test]
    fn uncodable_vectors_get_the_unbounded_marker() {
        let c: Vec<SlotCode> =
            [[1e-40f32, 0.0], [1e31, 1.0], [1.0, -2.0], [0.0, 0.0]].iter().map(|x| SlotCode::encode(x)).collect();
        for s in &c[..2] {
            assert_eq!(s.scale.to_bits(), UNBOUNDED_SCALE.to_bits());
            assert!(s.l1.is_infinite() && s.norm.is_infinite());
            assert_eq!(s.code, vec![0, 0]);
        }
        assert!(c[2].scale.is_finite() && c[3].scale.is_finite());
        let q = QueryCode::new(&[1.0, 1.0], Metric::L2);
        assert_eq!(q.interval(0, c[0].scale, c[0].l1, c[0].norm), Some(EVERYWHERE));
        // A query that cannot be coded bounds nothing (it used to give NaN intervals).
        for metric in [Metric::L2, Metric::Cosine, Metric::Ip] {
            let q = QueryCode::new(&[1e30, 1.0], metric);
            let dot = (scalar::KERNELS.dot_i8)(&q.codes, &c[2].code);
            assert_eq!(q.interval(dot, c[2].scale, c[2].l1, c[2].norm), Some(EVERYWHERE), "{metric:?}");
        }
    }

    #[test]
    fn upper_bounds_keep_the_k_smallest() {
        let mut u = UpperBounds::new(3);
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            u.push(v);
        }
        assert_eq!(u.threshold(), 3.0);
    }
}
