//! Training: seeded k-means on a sample (k-means++ seeding, then Lloyd iterations), and the
//! nearest-centroid assignment every insert and build uses. Deterministic: the seed fixes
//! every choice, sums run in a fixed order, and work split over threads is per point, so any
//! number of threads gives the same centroids (docs/FORMAT.md, "Training").

use crate::error::Result;
use crate::index::hnsw::params::splitmix64;
use crate::vector::distance::Kernels;

/// Lloyd iterations after seeding.
pub const ITERATIONS: usize = 10;

/// Centroids of one column: `count` vectors of `dims` float32, with their squared norms.
#[derive(Debug, Clone, PartialEq)]
pub struct Centroids {
    pub dims: usize,
    pub data: Vec<f32>,
    pub norms2: Vec<f32>,
}

impl Centroids {
    pub fn new(dims: usize, data: Vec<f32>) -> Centroids {
        let k = crate::simd::kernels();
        let norms2 = data.chunks_exact(dims.max(1)).map(|c| (k.dot_f32)(c, c)).collect();
        Centroids { dims, data, norms2 }
    }
    pub fn count(&self) -> usize {
        self.norms2.len()
    }
    pub fn get(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }
    pub fn mem_bytes(&self) -> usize {
        4 * (self.data.len() + self.norms2.len()) + 64
    }

    /// The nearest centroid to `x` (squared Euclidean distance, ties to the lower list).
    #[inline]
    pub fn nearest(&self, x: &[f32], kernels: &Kernels) -> usize {
        self.nearest_except(x, kernels, usize::MAX)
    }

    /// Four centroids from `j` (the last one repeated past the end).
    #[inline]
    fn four(&self, j: usize) -> [&[f32]; 4] {
        let last = self.count().saturating_sub(1);
        [0, 1, 2, 3].map(|t| self.get((j + t).min(last)))
    }

    /// The nearest centroid other than `skip`.
    pub fn nearest_except(&self, x: &[f32], kernels: &Kernels, skip: usize) -> usize {
        let mut best = (f32::INFINITY, usize::MAX);
        for j in (0..self.count()).step_by(4) {
            // ‖x − c‖² − ‖x‖² = ‖c‖² − 2⟨x, c⟩: the same order, one dot product.
            let d = (kernels.dots_1x4)(x, &self.four(j));
            for (t, dot) in d.iter().enumerate() {
                let c = j + t;
                if c >= self.count() || c == skip {
                    continue;
                }
                let s = self.norms2[c] - 2.0 * dot;
                if s < best.0 || best.1 == usize::MAX {
                    best = (s, c);
                }
            }
        }
        if best.1 == usize::MAX { 0 } else { best.1 }
    }

    /// The nearest centroid to each of `points` (`n × dims`), four points and four centroids
    /// at a time, on `threads` threads. Each point gets exactly what [`Centroids::nearest`]
    /// gives it.
    pub fn assign(&self, points: &[f32], kernels: &Kernels, threads: usize) -> Vec<u32> {
        let d = self.dims.max(1);
        let n = points.len() / d;
        let mut out = vec![0u32; n];
        let threads = threads.clamp(1, 64).min(n.div_ceil(4).max(1));
        let run = |pts: &[f32], out: &mut [u32]| {
            let m = out.len();
            for i in (0..m).step_by(4) {
                let at = |t: usize| {
                    let p = (i + t).min(m - 1);
                    &pts[p * d..(p + 1) * d]
                };
                let xs = [at(0), at(1), at(2), at(3)];
                let mut best = [(f32::INFINITY, usize::MAX); 4];
                for j in (0..self.count()).step_by(4) {
                    let dots = (kernels.dots_4x4)(&xs, &self.four(j));
                    for (p, row) in dots.iter().enumerate() {
                        for (t, dot) in row.iter().enumerate() {
                            let c = j + t;
                            if c >= self.count() {
                                continue;
                            }
                            let s = self.norms2[c] - 2.0 * dot;
                            if s < best[p].0 || best[p].1 == usize::MAX {
                                best[p] = (s, c);
                            }
                        }
                    }
                }
                for (p, b) in best.iter().enumerate() {
                    if i + p < m {
                        out[i + p] = if b.1 == usize::MAX { 0 } else { b.1 as u32 };
                    }
                }
            }
        };
        if threads == 1 {
            run(points, &mut out);
            return out;
        }
        let per = n.div_ceil(threads).div_ceil(4) * 4;
        std::thread::scope(|s| {
            for (t, part) in out.chunks_mut(per).enumerate() {
                let pts = &points[t * per * d..(t * per + part.len()) * d];
                s.spawn(move || run(pts, part));
            }
        });
        out
    }
}

/// Train `lists` centroids on `points` (`n × dims`, n ≥ 1). `progress(done, total)` is called
/// between iterations; an error from it stops the training.
pub fn train(
    points: &[f32],
    dims: usize,
    lists: usize,
    seed: i64,
    kernels: &Kernels,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize) -> Result<()>,
) -> Result<Centroids> {
    let n = points.len() / dims;
    let lists = lists.clamp(1, n.max(1));
    let point = |i: usize| &points[i * dims..(i + 1) * dims];
    let mut rng = (seed as u64) ^ 0x4b4d_4541_4e53_0000;
    let mut next = || {
        rng = splitmix64(rng);
        rng
    };
    // k-means++ seeding, on a prefix of the sample large enough for the lists.
    let m = n.min((16 * lists).max(4096));
    let mut chosen: Vec<usize> = Vec::with_capacity(lists);
    chosen.push((next() % m as u64) as usize);
    let mut best: Vec<f32> = (0..m).map(|i| (kernels.l2sq_f32)(point(i), point(chosen[0]))).collect();
    // Greedy k-means++: of two points drawn by squared distance, keep the one that lowers the
    // total squared distance more.
    let mut cand = vec![0f32; m];
    let mut trial = vec![0f32; m];
    while chosen.len() < lists {
        let total: f64 = best.iter().map(|d| *d as f64).sum();
        let mut pick = None;
        let mut pick_total = f64::INFINITY;
        for _ in 0..2 {
            let p = if total > 0.0 && total.is_finite() {
                let target = (next() >> 11) as f64 / (1u64 << 53) as f64 * total;
                let mut acc = 0.0;
                let mut p = m - 1;
                for (i, d) in best.iter().enumerate() {
                    acc += *d as f64;
                    if acc > target {
                        p = i;
                        break;
                    }
                }
                p
            } else {
                // Every point is on a chosen one (copies): take the next unchosen point.
                (0..m).find(|i| !chosen.contains(i)).unwrap_or(0)
            };
            let c = point(p);
            let mut t = 0f64;
            for (i, (tr, b)) in trial.iter_mut().zip(&best).enumerate() {
                *tr = (kernels.l2sq_f32)(point(i), c).min(*b);
                t += *tr as f64;
            }
            if pick.is_none() || t < pick_total {
                pick = Some(p);
                pick_total = t;
                std::mem::swap(&mut cand, &mut trial);
            }
        }
        chosen.push(pick.unwrap_or(0));
        std::mem::swap(&mut best, &mut cand);
        if chosen.len().is_multiple_of(64) {
            progress(0, ITERATIONS)?;
        }
    }
    let mut cents = Centroids::new(dims, chosen.iter().flat_map(|&i| point(i).iter().copied()).collect());
    for it in 0..ITERATIONS {
        progress(it, ITERATIONS)?;
        let assign = cents.assign(points, kernels, threads);
        let mut sums = vec![0f64; lists * dims];
        let mut counts = vec![0usize; lists];
        for (i, &a) in assign.iter().enumerate() {
            let a = a as usize;
            counts[a] += 1;
            for (s, v) in sums[a * dims..(a + 1) * dims].iter_mut().zip(point(i)) {
                *s += *v as f64;
            }
        }
        let mut data: Vec<f32> =
            sums.chunks_exact(dims)
                .zip(&counts)
                .zip(cents.data.chunks_exact(dims))
                .flat_map(|((s, &c), old)| {
                    if c == 0 { old.to_vec() } else { s.iter().map(|v| (*v / c as f64) as f32).collect::<Vec<_>>() }
                })
                .collect();
        // An empty list takes the point farthest from its centroid (one point per empty list).
        let empty: Vec<usize> = (0..lists).filter(|&j| counts[j] == 0).collect();
        if !empty.is_empty() {
            let mut far: Vec<(f32, usize)> = (0..n)
                .filter(|&i| counts[assign[i] as usize] > 1)
                .map(|i| ((kernels.l2sq_f32)(point(i), cents.get(assign[i] as usize)), i))
                .collect();
            far.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (j, (_, i)) in empty.iter().zip(far) {
                data[j * dims..(j + 1) * dims].copy_from_slice(point(i));
            }
        }
        cents = Centroids::new(dims, data);
    }
    progress(ITERATIONS, ITERATIONS)?;
    Ok(cents)
}

/// Mean squared distance of `points` to their nearest centroids (`assign`).
pub fn mse(points: &[f32], cents: &Centroids, assign: &[u32], kernels: &Kernels) -> f64 {
    let d = cents.dims;
    if assign.is_empty() {
        return 0.0;
    }
    let s: f64 = assign
        .iter()
        .enumerate()
        .map(|(i, &a)| (kernels.l2sq_f32)(&points[i * d..(i + 1) * d], cents.get(a as usize)) as f64)
        .sum();
    s / assign.len() as f64
}

/// Split one list's `points` in two by 2-means (seeded from the point farthest from their
/// mean, then the point farthest from that one): the two centroids and each point's side.
pub fn split(points: &[f32], dims: usize, kernels: &Kernels) -> (Centroids, Vec<u32>) {
    let n = points.len() / dims;
    let point = |i: usize| &points[i * dims..(i + 1) * dims];
    let mut mean = vec![0f64; dims];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(point(i)) {
            *m += *v as f64;
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (*m / n.max(1) as f64) as f32).collect();
    let farthest = |from: &[f32]| {
        (0..n)
            .map(|i| ((kernels.l2sq_f32)(point(i), from), i))
            .fold((f32::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a })
            .1
    };
    let a = farthest(&mean);
    let b = farthest(point(a));
    let mut cents = Centroids::new(dims, [point(a), point(b)].concat());
    let mut assign = vec![0u32; n];
    for _ in 0..ITERATIONS {
        assign = cents.assign(points, kernels, 1);
        let mut sums = vec![0f64; 2 * dims];
        let mut counts = [0usize; 2];
        for (i, &s) in assign.iter().enumerate() {
            counts[s as usize] += 1;
            for (acc, v) in sums[s as usize * dims..(s as usize + 1) * dims].iter_mut().zip(point(i)) {
                *acc += *v as f64;
            }
        }
        if counts.contains(&0) {
            break;
        }
        let data = sums.chunks_exact(dims).zip(counts).flat_map(|(s, c)| s.iter().map(move |v| (*v / c as f64) as f32));
        cents = Centroids::new(dims, data.collect());
    }
    (cents, assign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters_and_is_deterministic() {
        let k = crate::simd::kernels();
        let dims = 8;
        let mut pts = Vec::new();
        let mut s = 1u64;
        for i in 0..2000 {
            let c = (i % 5) as f32 * 10.0;
            for _ in 0..dims {
                s = splitmix64(s);
                pts.push(c + (s >> 40) as f32 / (1u64 << 24) as f32);
            }
        }
        let run = |threads| train(&pts, dims, 5, 3, k, threads, &mut |_, _| Ok(())).unwrap();
        let c = run(1);
        assert_eq!(c, run(2));
        let mut firsts: Vec<i32> = (0..5).map(|j| (c.get(j)[0] / 10.0).round() as i32).collect();
        firsts.sort();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
        let a = c.assign(&pts, k, 2);
        assert_eq!(a, c.assign(&pts, k, 1));
        assert!(mse(&pts, &c, &a, k) < 1.0);
        let (halves, side) = split(&pts[..dims * 10], dims, k);
        assert_eq!(halves.count(), 2);
        assert_eq!(side.len(), 10);
    }

    #[test]
    fn copies_and_tiny_inputs() {
        let k = crate::simd::kernels();
        let pts = vec![1.0f32; 4 * 10];
        let c = train(&pts, 4, 3, 0, k, 1, &mut |_, _| Ok(())).unwrap();
        assert_eq!(c.count(), 3);
        let one = train(&[1.0, 2.0], 2, 5, 0, k, 1, &mut |_, _| Ok(())).unwrap();
        assert_eq!(one.count(), 1);
    }
}
