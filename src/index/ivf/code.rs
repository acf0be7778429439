//! List entry codes (docs/FORMAT.md, "Codes"): coding a vector for its list, and bounding a
//! query's distance to a coded entry.
//!
//! `binary` and `rabitq` store the signs of the (rotated) residual from the list's centroid
//! and four factors; a query builds 16-entry tables of byte-sized sums over its (rotated) vector,
//! one per 4 dimensions, so an entry's estimate is a few table reads that SIMD does 32 entries
//! at a time over a list's codes stored transposed ([`Coder::scan_packed`]); the tables'
//! rounding is part of the error bound. `sq8` stores the vector's int8 code and
//! reuses the exact prescan's rigorous interval ([`crate::index::quant::sq8`]), with the
//! code's `Σ|c_i|` where the prescan stores ‖x‖₁ (so an entry keeps two factors, not three).

use super::params::Quantizer;
use super::rotate::Rotation;
use crate::index::chunk::SlotCode;
use crate::index::quant::sq8::{self, QueryCode};
use crate::vector::distance::{Kernels, Metric};

/// RaBitQ's confidence constant ε₀: the error bound is ε₀ standard deviations of the
/// estimator (applied at search time; the stored factor leaves it out).
pub const EPSILON0: f64 = 1.9;

/// How a column's entries are coded.
#[derive(Debug, Clone)]
pub struct Coder {
    pub quantizer: Quantizer,
    pub metric: Metric,
    pub dims: usize,
    /// Coded dimensions (`D'`): `dims` rounded up to 64 for rabitq, `dims` for binary.
    pub coded_dims: usize,
    /// `dims` rounded up to a multiple of 64 (the bits a code holds).
    pub padded: usize,
    rotation: Option<Rotation>,
}

/// An interval for a distance, and the estimate inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub lower: f64,
    pub value: f64,
    pub upper: f64,
}

const EVERYWHERE: Estimate = Estimate { lower: f64::NEG_INFINITY, value: 0.0, upper: f64::INFINITY };

impl Coder {
    pub fn new(quantizer: Quantizer, metric: Metric, dims: usize, seed: i64, col: usize) -> Coder {
        let padded = 64 * dims.div_ceil(64);
        let rotation = (quantizer == Quantizer::Rabitq).then(|| Rotation::new(padded, seed, col));
        let coded_dims = if quantizer == Quantizer::Rabitq { padded } else { dims };
        Coder { quantizer, metric, dims, coded_dims, padded, rotation }
    }

    pub fn code_bytes(&self) -> usize {
        self.quantizer.code_bytes(self.dims)
    }
    pub fn factors(&self) -> usize {
        self.quantizer.factors()
    }

    /// The vector IVF works on: `x / ‖x‖` under cosine (None for a zero vector), else `x`.
    pub fn transform(&self, x: &[f32]) -> Option<Vec<f32>> {
        transform(self.metric, x)
    }

    /// Centroid `c` as [`Coder::encode`] needs it: padded to the coded dimensions and rotated
    /// (rabitq), padded (binary), or nothing (the other quantizers).
    pub fn prepare_centroid(&self, c: &[f32]) -> Vec<f32> {
        match self.quantizer {
            Quantizer::Binary | Quantizer::Rabitq => {
                let mut pc = vec![0f32; self.padded];
                pc[..self.dims].copy_from_slice(&c[..self.dims]);
                if let Some(rot) = &self.rotation {
                    rot.apply(&mut pc);
                }
                pc
            }
            _ => Vec::new(),
        }
    }

    /// Code `x` (`tx` = its transform) for the list with centroid `c` (`pc` = that centroid
    /// prepared by [`Coder::prepare_centroid`]), into `code` and `factors` (of
    /// [`Coder::code_bytes`] and [`Coder::factors`] length).
    pub fn encode(&self, x: &[f32], tx: &[f32], c: &[f32], pc: &[f32], code: &mut [u8], factors: &mut [f32]) {
        code.fill(0);
        factors.fill(0.0);
        match self.quantizer {
            Quantizer::None => {}
            Quantizer::Sq8 => {
                let s = SlotCode::encode(x);
                code.copy_from_slice(bytemuck::cast_slice(&s.code));
                factors.copy_from_slice(&[s.scale, s.norm]);
            }
            Quantizer::Binary | Quantizer::Rabitq => self.encode_signs(tx, c, pc, code, factors),
        }
    }

    fn encode_signs(&self, tx: &[f32], c: &[f32], pc: &[f32], code: &mut [u8], factors: &mut [f32]) {
        let d = self.dims;
        let mut r = vec![0f32; self.padded];
        for i in 0..d {
            r[i] = tx[i] - c[i];
        }
        let rho2: f64 = r[..d].iter().map(|v| (*v as f64) * (*v as f64)).sum();
        let gamma: f64 = r[..d].iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rho = rho2.sqrt();
        if !(rho > 0.0 && rho.is_finite()) {
            // At the centroid (estimate exact: the distance is that of the centroid, A = 0,
            // B = 0), or a vector the arithmetic cannot describe (E infinite: always scored
            // exactly).
            let e = if rho == 0.0 { 0.0 } else { f32::INFINITY };
            factors.copy_from_slice(&[0.0, 0.0, e, 0.0]);
            return;
        }
        if let Some(rot) = &self.rotation {
            rot.apply(&mut r);
        }
        let n = self.coded_dims;
        let sq = (n as f64).sqrt();
        let (mut abs_sum, mut beta) = (0f64, 0f64);
        for i in 0..n {
            let pos = r[i] > 0.0;
            if pos {
                code[i / 8] |= 1 << (i % 8);
            }
            abs_sum += (r[i] as f64).abs();
            beta += if pos { pc[i] as f64 } else { -(pc[i] as f64) };
        }
        let alpha = abs_sum / rho / sq;
        let beta = beta / sq;
        let err = if n > 1 && alpha > 0.0 {
            rho * (1.0 - alpha * alpha).max(0.0).sqrt() / (alpha * ((n - 1) as f64).sqrt())
        } else {
            f64::INFINITY
        };
        factors.copy_from_slice(&scan_factors(self.metric, rho, rho / alpha, err, beta, gamma));
    }

    /// The query, ready to estimate distances to coded entries. `q` is the query as float32
    /// (converted from the column's type like the stored vectors are).
    pub fn query(&self, q: &[f32]) -> QueryPrep {
        let tq = transform(self.metric, q).unwrap_or_else(|| q.to_vec());
        let mut nib = NibbleTable::default();
        let mut sum_w = 0f64;
        let mut sq8 = None;
        match self.quantizer {
            Quantizer::None => {}
            Quantizer::Sq8 => sq8 = Some(QueryCode::new(q, self.metric)),
            Quantizer::Binary | Quantizer::Rabitq => {
                let mut w = vec![0f32; self.padded];
                w[..self.dims].copy_from_slice(&tq);
                if let Some(rot) = &self.rotation {
                    rot.apply(&mut w);
                }
                sum_w = w[..self.coded_dims].iter().map(|v| *v as f64).sum();
                nib = NibbleTable::new(&w[..8 * self.code_bytes()]);
            }
        }
        let finite = tq.iter().all(|v| v.is_finite()) && sum_w.is_finite() && nib.finite();
        let root = (self.coded_dims as f64).sqrt();
        let tq_norm2 = tq.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        QueryPrep {
            tq,
            nib,
            two_over_root: 2.0 / root,
            sum_over_root: sum_w / root,
            sq8,
            finite,
            q_norm2: q.iter().map(|v| (*v as f64) * (*v as f64)).sum(),
            tq_norm2,
        }
    }

    /// What a search needs of a list for this query, from `⟨c, T(q)⟩` and `‖c‖²`.
    pub fn list_query(&self, q: &QueryPrep, cq: f32, c_norm2: f32) -> ListQuery {
        let (cq, cn) = (cq as f64, c_norm2 as f64);
        let dist2 = (q.tq_norm2 + cn - 2.0 * cq).max(0.0);
        // The float32 dot product and norm: their rounding, relative to the magnitudes.
        let slack = 1e-5 * (q.tq_norm2 + cn) + 1e-30;
        ListQuery { dist2, dist: dist2.sqrt(), cq, slack, ip: self.metric == Metric::Ip }
    }

    /// The search key of a distance: a number in the same order, cheaper to bound (the
    /// squared distance for l2, the distance itself otherwise).
    #[inline]
    pub fn key(&self, d: f64) -> f64 {
        if self.metric == Metric::L2 { if d > 0.0 { d * d } else { d } } else { d }
    }
    /// The distance of a search key.
    #[inline]
    pub fn unkey(&self, k: f64) -> f64 {
        if self.metric == Metric::L2 { k.max(0.0).sqrt() } else { k }
    }

    /// The interval of the search key ([`Coder::key`]) of the distance between the query and
    /// an entry with `code` and `factors` in the list described by `lq`.
    #[inline]
    pub fn estimate(&self, q: &QueryPrep, lq: &ListQuery, code: &[u8], factors: &[f32], kernels: &Kernels) -> Estimate {
        match self.quantizer {
            Quantizer::None => EVERYWHERE,
            Quantizer::Sq8 => self.estimate_sq8(q, code, factors, None, kernels),
            Quantizer::Binary | Quantizer::Rabitq => {
                if !q.finite {
                    return EVERYWHERE;
                }
                self.estimate_signs(q, lq, q.nib.sum(code), factors)
            }
        }
    }

    /// [`Coder::estimate`] of an sq8 entry, given its code's `Σ|c_i|` if known
    /// ([`super::list::PostingList::abs_sums`]; else summed here).
    #[inline]
    pub fn estimate_sq8(
        &self,
        q: &QueryPrep,
        code: &[u8],
        factors: &[f32],
        abs_sum: Option<u32>,
        kernels: &Kernels,
    ) -> Estimate {
        let Some(qc) = &q.sq8 else { return EVERYWHERE };
        let code: &[i8] = bytemuck::cast_slice(code);
        let dot = (kernels.dot_i8)(&qc.codes, code);
        let abs = abs_sum.unwrap_or_else(|| sq8::abs_sum(code));
        match qc.interval_codes(dot, factors[0], abs, factors[1]) {
            Some((lo, hi)) => Estimate { lower: self.key(lo), value: self.key((lo + hi) / 2.0), upper: self.key(hi) },
            // Undefined (cosine of a zero vector): never a result.
            None => Estimate { lower: f64::INFINITY, value: f64::INFINITY, upper: f64::INFINITY },
        }
    }

    /// [`Coder::estimate`] of a sign code whose table sum is `l`.
    #[inline(always)]
    fn estimate_signs(&self, q: &QueryPrep, lq: &ListQuery, l: f32, factors: &[f32]) -> Estimate {
        let d = [factors[0], factors[1], factors[2], factors[3]];
        self.estimate_derived(q, lq, l, &d)
    }

    /// The estimate of an entry from its four stored factors ([`scan_factors`]) and table sum `l`.
    #[inline(always)]
    fn estimate_derived(&self, q: &QueryPrep, lq: &ListQuery, l: f32, d: &[f32; 4]) -> Estimate {
        let (lo, hi) = scan_interval(q, lq, l, d);
        if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
            return EVERYWHERE;
        }
        let v = (lo as f64 + hi as f64) / 2.0;
        match self.metric {
            Metric::Ip => Estimate { lower: lo as f64, value: v, upper: hi as f64 },
            Metric::Cosine => {
                Estimate { lower: lo.max(0.0) as f64 / 2.0, value: v.max(0.0) / 2.0, upper: hi.max(0.0) as f64 / 2.0 }
            }
            _ => Estimate { lower: lo.max(0.0) as f64, value: v.max(0.0), upper: hi.max(0.0) as f64 },
        }
    }

    /// The per-list constants [`scan_interval`] needs.
    pub fn scan_list(&self, q: &QueryPrep, lq: &ListQuery) -> ScanList {
        // l2 and cosine: ‖T(x) − T(q)‖² = A + ‖T(q) − c‖² + B·t; ip: −⟨x, q⟩ = A − ⟨c, q⟩ + B·t.
        let base = if self.metric == Metric::Ip { -lq.cq } else { lq.dist2 };
        let slack = 1.5e-5 * lq.dist2 + lq.slack + if self.metric == Metric::Ip { 1e-6 * lq.cq.abs() } else { 0.0 };
        ScanList {
            base: base as f32,
            dist: (EPSILON0 * lq.dist) as f32,
            slack: (slack * (1.0 + 1e-3)) as f32,
            k0: q.sum_over_root as f32,
            k1: q.two_over_root as f32,
        }
    }

    /// Visit the entries of a list of sign codes (binary, rabitq) that `admit` lets through
    /// (all of them if `admit` is None), each with its interval in the scan's units (the squared
    /// distance for l2 and cosine — not halved — and `−⟨x, q⟩` for ip; possibly below zero; an
    /// entry without a bound gets (−∞, +∞)). Entries whose lower end is above `thr` are only
    /// counted (the return value) unless `all`; the others go to `f(i, lower, upper)`, which
    /// returns the threshold from then on. `list` is the list transposed ([`Packed`]); `sums`
    /// is scratch space.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn scan_packed(
        &self,
        q: &QueryPrep,
        sl: &ScanList,
        list: &Packed,
        sums: &mut Vec<u16>,
        kernels: &Kernels,
        admit: Option<&dyn Fn(usize) -> bool>,
        (mut thr, all): (f32, bool),
        mut f: impl FnMut(usize, f32, f32) -> f32,
    ) -> usize {
        let n = list.len;
        let admitted = |i: usize| admit.is_none_or(|a| a(i));
        if !q.finite {
            (0..n).filter(|i| admitted(*i)).for_each(|i| {
                f(i, f32::NEG_INFINITY, f32::INFINITY);
            });
            return 0;
        }
        sums.clear();
        sums.resize(32 * n.div_ceil(32), 0);
        (kernels.nibble_sums)(&list.codes, &q.nib.lut, sums);
        let (scale, base, extra) = (q.nib.scale, q.nib.base, sl.k1 * q.nib.err);
        let mut pruned = 0;
        let (blocks, _) = list.factors.as_chunks::<128>();
        for (b, (s, d)) in sums.chunks_exact(32).zip(blocks).enumerate() {
            // Both ends for the 32 entries (straight-line float code over columns).
            let (mut lo, mut hi) = ([0f32; 32], [0f32; 32]);
            let (a, bb, e, sl_) = (&d[..32], &d[32..64], &d[64..96], &d[96..]);
            for t in 0..32 {
                let l = scale * s[t] as f32 + base;
                let bt = bb[t] * (sl.k0 - sl.k1 * l);
                let est = a[t] + sl.base + bt;
                let m = e[t] * sl.dist + sl_[t] + sl.slack + 1e-5 * bt.abs() + bb[t].abs() * extra;
                lo[t] = est - m;
                hi[t] = est + m;
            }
            for t in 0..32.min(n - 32 * b) {
                let i = 32 * b + t;
                if !admitted(i) {
                    continue;
                }
                if lo[t] > thr && !all {
                    pruned += 1;
                    continue;
                }
                thr = f(i, lo[t], hi[t]);
            }
        }
        pruned
    }

    /// Turn an interval of [`Coder::scan_packed`] into one of search keys.
    #[inline]
    pub fn signs_key(&self, lo: f32, hi: f32) -> (f64, f64) {
        if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
            return (f64::NEG_INFINITY, f64::INFINITY);
        }
        match self.metric {
            Metric::Ip => (lo as f64, hi as f64),
            Metric::Cosine => (lo.max(0.0) as f64 / 2.0, hi.max(0.0) as f64 / 2.0),
            _ => (lo.max(0.0) as f64, hi.max(0.0) as f64),
        }
    }
}

/// A list's constants for [`Coder::scan_packed`].
#[derive(Debug, Clone, Copy)]
pub struct ScanList {
    base: f32,
    dist: f32,
    slack: f32,
    k0: f32,
    k1: f32,
}

/// [`Coder::scan_packed`]'s interval for one entry (outside a scan: tests and single entries).
#[inline]
fn scan_interval(q: &QueryPrep, lq: &ListQuery, l: f32, d: &[f32; 4]) -> (f32, f32) {
    let base = if lq.ip { -lq.cq } else { lq.dist2 };
    let slack = 1.5e-5 * lq.dist2 + lq.slack + if lq.ip { 1e-6 * lq.cq.abs() } else { 0.0 };
    let bt = d[1] * (q.sum_over_root as f32 - q.two_over_root as f32 * l);
    let est = d[0] + base as f32 + bt;
    let m = d[2] * (EPSILON0 * lq.dist) as f32
        + d[3]
        + (slack * (1.0 + 1e-3)) as f32
        + 1e-5 * bt.abs()
        + d[1].abs() * q.two_over_root as f32 * q.nib.err;
    (est - m, est + m)
}

/// The four factors stored with a sign code (docs/FORMAT.md, "Codes"), from the vector's
/// `ρ = ‖r‖`, `s = ρ/α`, `err = ρ √(1 − α²) / (α √(D' − 1))`, `β = ⟨ō, P c⟩` and `γ = ⟨r, c⟩`:
/// with `t = Σw/√D' − (2/√D')·L` (L the entry's table sum), l2 and cosine estimate
/// `‖T(x) − T(q)‖² = A + ‖T(q) − c‖² + B·t` with `A = ρ² + 2sβ`, `B = 2s`, within
/// `ε₀·E·‖T(q) − c‖` where `E = 2·err`; ip estimates `−⟨x, q⟩ = A − ⟨c, q⟩ + B·t` with
/// `A = sβ − γ`, `B = s`, `E = err`. `S` allows for float32 rounding in the entry's own terms
/// (10⁻⁵ of `1.5ρ² + |A| + |γ|`, rounded up). A vector without a bound gets `E = +∞`.
pub fn scan_factors(metric: Metric, rho: f64, s: f64, err: f64, beta: f64, gamma: f64) -> [f32; 4] {
    let (a, b, e) = match metric {
        Metric::Ip => (s * beta - gamma, s, err),
        _ => (rho * rho + 2.0 * s * beta, 2.0 * s, 2.0 * err),
    };
    let slack = 1e-5 * (1.5 * rho * rho + a.abs() + gamma.abs()) * (1.0 + 1e-3);
    let d = [a as f32, b as f32, e as f32, slack as f32];
    if d.iter().all(|x| x.is_finite()) { d } else { [0.0, 0.0, f32::INFINITY, 0.0] }
}

/// The query as a search needs it.
pub struct QueryPrep {
    /// `T(q)`.
    pub tq: Vec<f32>,
    /// The tables a code's sum `L` (of the query's coordinates its set bits select) is read from.
    nib: NibbleTable,
    /// `2 / √D'` and `Σw / √D'`.
    two_over_root: f64,
    sum_over_root: f64,
    sq8: Option<QueryCode>,
    /// The query's numbers are finite (else every estimate is unbounded).
    finite: bool,
    pub q_norm2: f64,
    /// `‖T(q)‖²`.
    pub tq_norm2: f64,
}

/// The query against one list.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    /// `‖T(q) − c‖²` and its root.
    pub dist2: f64,
    pub dist: f64,
    /// `⟨c, T(q)⟩`.
    pub cq: f64,
    /// An allowance for the rounding of `dist2`.
    pub slack: f64,
    /// The metric is ip.
    pub ip: bool,
}

/// `T(x)`: the unit vector under cosine (None for a zero vector), else `x`.
pub fn transform(metric: Metric, x: &[f32]) -> Option<Vec<f32>> {
    if metric != Metric::Cosine {
        return Some(x.to_vec());
    }
    let n: f64 = x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt();
    if !(n > 0.0 && n.is_finite()) {
        return None;
    }
    Some(x.iter().map(|v| (*v as f64 / n) as f32).collect())
}

/// The (rotated) query as tables of byte-sized sums: for each 4 coordinates (a nibble of a
/// code), the 16 sums of the coordinates each nibble value selects, less the smallest, in units
/// of `scale` and rounded to whole numbers. A code's sum `L` is then `scale · Σ entries + base`,
/// off by at most half a unit per table, and by more than `err` (three standard deviations of
/// that sum of roundings) rarely. No table entry exceeds
/// `65,535 / tables` (at most 255), so the u16 total of [`crate::vector::distance::NibbleSums`]
/// cannot wrap.
#[derive(Debug, Clone, Default)]
pub struct NibbleTable {
    /// 16 entries per nibble; a code byte's low nibble's table, then its high nibble's.
    lut: Vec<u8>,
    scale: f32,
    base: f32,
    err: f32,
}

impl NibbleTable {
    /// Tables for codes of `w.len() / 8` bytes (bit `i % 8` of byte `i / 8` selects `w[i]`).
    pub fn new(w: &[f32]) -> NibbleTable {
        let groups = w.len() / 4;
        if groups == 0 {
            return NibbleTable::default();
        }
        let top = (65_535 / groups).clamp(1, 255) as f64;
        let (mut base, mut widest, mut total) = (0f64, 0f64, 0f64);
        for g in w.chunks_exact(4) {
            base += g.iter().map(|v| (*v as f64).min(0.0)).sum::<f64>();
            let range: f64 = g.iter().map(|v| (*v as f64).abs()).sum();
            widest = widest.max(range);
            total += range;
        }
        let scale = widest / top;
        let mut lut = vec![0u8; 16 * groups];
        for (g, t) in w.chunks_exact(4).zip(lut.chunks_exact_mut(16)) {
            let low: f64 = g.iter().map(|v| (*v as f64).min(0.0)).sum();
            for (v, e) in t.iter_mut().enumerate() {
                let s: f64 = (0..4).filter(|b| v & (1 << b) != 0).map(|b| g[b] as f64).sum();
                *e = if scale > 0.0 { ((s - low) / scale).round().clamp(0.0, top) as u8 } else { 0 };
            }
        }
        // The tables' roundings are independent and uniform within half a unit: their sum has
        // standard deviation `scale·√(tables/12)`. Like RaBitQ's own bound (ε₀ deviations),
        // allow 3 of them (at most the worst case, half a unit per table); plus float32
        // rounding of `scale · Σ + base` and of the constants.
        let g = groups as f64;
        let err = (3.0 * scale * (g / 12.0).sqrt()).min(g * scale / 2.0) + 1e-6 * (total + base.abs()) + 1e-30;
        NibbleTable { lut, scale: scale as f32, base: base as f32, err: (err * (1.0 + 1e-6)) as f32 }
    }

    fn finite(&self) -> bool {
        self.scale.is_finite() && self.base.is_finite() && self.err.is_finite()
    }

    /// `L` of one code (the scalar form of what the scan computes 32 codes at a time).
    pub fn sum(&self, code: &[u8]) -> f32 {
        let total: u32 = code
            .iter()
            .zip(self.lut.chunks_exact(32))
            .map(|(&c, t)| t[(c & 15) as usize] as u32 + t[16 + (c >> 4) as usize] as u32)
            .sum();
        self.scale * total as f32 + self.base
    }
}

/// A list of sign codes laid out for [`Coder::scan_packed`]: blocks of 32 entries, the last
/// one padded with zeros. `codes`: byte `j` of the block's 32 codes together (`code_bytes`
/// rows of 32 bytes a block); `factors`: each of the four factors of the block's 32 entries
/// together (128 floats a block).
#[derive(Debug, Clone, Default)]
pub struct Packed {
    pub len: usize,
    codes: Vec<u8>,
    factors: Vec<f32>,
}

impl Packed {
    /// Transpose `codes` (`code_bytes` each) and `factors` (four each).
    pub fn new(codes: &[u8], factors: &[f32], code_bytes: usize) -> Packed {
        let n = factors.len() / 4;
        let blocks = n.div_ceil(32);
        let mut p = Packed { len: n, codes: vec![0u8; 32 * code_bytes * blocks], factors: vec![0f32; 128 * blocks] };
        if code_bytes > 0 {
            let transpose = crate::simd::kernels().transpose32;
            let codes = &codes[..(n * code_bytes).min(codes.len())];
            for (src, dst) in codes.chunks(32 * code_bytes).zip(p.codes.chunks_exact_mut(32 * code_bytes)) {
                if src.len() == 32 * code_bytes {
                    transpose(src, dst);
                } else {
                    // The last, partial block: its missing entries are zeros.
                    let mut full = vec![0u8; 32 * code_bytes];
                    full[..src.len()].copy_from_slice(src);
                    transpose(&full, dst);
                }
            }
        }
        for (src, dst) in factors[..4 * n].chunks(128).zip(p.factors.chunks_exact_mut(128)) {
            let (a, rest) = dst.split_at_mut(32);
            let (b, rest) = rest.split_at_mut(32);
            let (e_, s_) = rest.split_at_mut(32);
            for (e, f) in src.chunks_exact(4).enumerate() {
                let e = e & 31;
                (a[e], b[e], e_[e], s_[e]) = (f[0], f[1], f[2], f[3]);
            }
        }
        p
    }

    pub fn mem_bytes(&self) -> usize {
        self.codes.len() + 4 * self.factors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn exact(metric: Metric, x: &[f32], q: &[f32]) -> f64 {
        let dot: f64 = x.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
        let nx: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let nq: f64 = q.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        match metric {
            Metric::L2 => x.iter().zip(q).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt(),
            Metric::Cosine => 1.0 - dot / (nx * nq),
            _ => -dot,
        }
    }

    /// Estimates bracket the exact distance (rabitq: with overwhelming probability, so nearly
    /// always over a few thousand pairs; sq8: always) and track it.
    #[test]
    fn intervals_hold() {
        let k = crate::simd::kernels();
        for q in [Quantizer::Rabitq, Quantizer::Binary, Quantizer::Sq8] {
            for metric in [Metric::L2, Metric::Cosine, Metric::Ip] {
                for dims in [48, 128, 384] {
                    let coder = Coder::new(q, metric, dims, 42, 0);
                    let mut s = 7u64;
                    let c: Vec<f32> = (0..dims).map(|_| lcg(&mut s) * 0.5).collect();
                    let (mut outside, mut err_sum, mut n) = (0, 0.0, 0);
                    for _ in 0..300 {
                        let x: Vec<f32> = c.iter().map(|v| v + 0.3 * lcg(&mut s)).collect();
                        let qv: Vec<f32> = c.iter().map(|v| v + 0.3 * lcg(&mut s)).collect();
                        let tx = coder.transform(&x).unwrap();
                        let tc = if metric == Metric::Cosine { coder.transform(&c).unwrap() } else { c.clone() };
                        let mut code = vec![0u8; coder.code_bytes()];
                        let mut f = vec![0f32; coder.factors()];
                        coder.encode(&x, &tx, &tc, &coder.prepare_centroid(&tc), &mut code, &mut f);
                        let qp = coder.query(&qv);
                        let cq = (k.dot_f32)(&tc, &qp.tq);
                        let lq = coder.list_query(&qp, cq, tc.iter().map(|v| v * v).sum());
                        let e = coder.estimate(&qp, &lq, &code, &f, k);
                        let e = Estimate {
                            lower: coder.unkey(e.lower),
                            value: coder.unkey(e.value),
                            upper: coder.unkey(e.upper),
                        };
                        let d = exact(metric, &x, &qv);
                        if !(e.lower <= d + 1e-9 && d <= e.upper + 1e-9) {
                            outside += 1;
                        }
                        err_sum += (e.value - d).abs();
                        n += 1;
                    }
                    // RaBitQ's bound holds with high probability (ε₀ standard deviations of a
                    // near-normal error: 1.9 leaves ~6 % outside); sq8's always; binary has none.
                    let limit = if q == Quantizer::Binary {
                        n
                    } else if q == Quantizer::Sq8 {
                        0
                    } else {
                        n / 8
                    };
                    assert!(outside <= limit, "{q:?} {metric:?} {dims}: {outside} of {n} outside");
                    assert!(err_sum / (n as f64) < 0.5, "{q:?} {metric:?} {dims}: mean error {}", err_sum / n as f64);
                }
            }
        }
    }

    #[test]
    fn nibble_table_sums_selected_coordinates() {
        let w: Vec<f32> = (0..64).map(|i| i as f32 - 20.0).collect();
        let t = NibbleTable::new(&w);
        let mut code = [0u8; 8];
        code[0] = 0b101; // coordinates 0 and 2
        code[7] = 0x80; // coordinate 63
        let want = (0.0 - 20.0) + (2.0 - 20.0) + (63.0 - 20.0);
        assert!((t.sum(&code) - want).abs() <= t.err, "{} vs {want} within {}", t.sum(&code), t.err);
        // Three standard deviations of 16 roundings to units of the widest table's range / 255.
        let unit = (60.0 + 61.0 + 62.0 + 63.0 - 80.0) / 255.0;
        let three_sd = 3.0 * unit * (16.0f32 / 12.0).sqrt();
        assert!(t.err <= three_sd * 1.01 && t.err >= three_sd, "{} vs {three_sd}", t.err);
        // The scan's kernel over transposed codes gives the same sums.
        let codes: Vec<u8> = (0..40u32).flat_map(|i| (0..8u32).map(move |j| (i * 37 + j * 11) as u8)).collect();
        let packed = Packed::new(&codes, &vec![0.0; 4 * 40], 8);
        let mut sums = vec![0u16; 64];
        for k in crate::simd::available() {
            (k.nibble_sums)(&packed.codes, &t.lut, &mut sums);
            for (i, c) in codes.chunks_exact(8).enumerate() {
                assert_eq!(t.scale * sums[i] as f32 + t.base, t.sum(c), "{} entry {i}", k.name);
            }
        }
    }
}
