//! The random rotation of RaBitQ codes (docs/FORMAT.md, "Rotation"): rounds of random sign
//! flips and normalised Walsh–Hadamard transforms over two overlapping power-of-two blocks.
//! O(D log D) per vector, no matrix to store, and the same float32 operations in the same
//! order on every CPU.

use crate::index::hnsw::params::splitmix64;

const ROUNDS: usize = 4;

/// An orthogonal map on `dims` (a multiple of 64) coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    dims: usize,
    /// The largest power of two ≤ dims.
    h: usize,
    /// Per round, two sign masks as ±1 multipliers.
    signs: Vec<Vec<f32>>,
}

impl Rotation {
    /// The rotation of column `col` of a table with seed `seed`, on `dims` coordinates.
    pub fn new(dims: usize, seed: i64, col: usize) -> Rotation {
        debug_assert!(dims.is_multiple_of(64) && dims > 0);
        let h = 1usize << (usize::BITS - 1 - dims.leading_zeros());
        let mut state = (seed as u64) ^ 0x5241_4249_5451_0000 ^ col as u64;
        let words = dims / 64;
        let signs = (0..2 * ROUNDS)
            .map(|_| {
                let words: Vec<u64> = (0..words)
                    .map(|_| {
                        state = splitmix64(state);
                        state
                    })
                    .collect();
                (0..dims).map(|i| if words[i / 64] >> (i % 64) & 1 == 1 { -1.0 } else { 1.0 }).collect()
            })
            .collect();
        Rotation { dims, h, signs }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Rotate `x` in place (`x.len() == dims`).
    pub fn apply(&self, x: &mut [f32]) {
        let scale = 1.0 / (self.h as f32).sqrt();
        for r in 0..ROUNDS {
            flip(x, &self.signs[2 * r]);
            fht(&mut x[..self.h], scale);
            flip(x, &self.signs[2 * r + 1]);
            let d = self.dims;
            fht(&mut x[d - self.h..], scale);
        }
    }
}

fn flip(x: &mut [f32], signs: &[f32]) {
    // A multiplication by ±1 is exact: the same as negating where the mask bit is 1.
    for (v, s) in x.iter_mut().zip(signs) {
        *v *= s;
    }
}

/// The normalised fast Walsh–Hadamard transform of `x` (a power of two long), in place.
fn fht(x: &mut [f32], scale: f32) {
    let n = x.len();
    let mut s = 1;
    while s < n {
        for block in x.chunks_exact_mut(2 * s) {
            let (lo, hi) = block.split_at_mut(s);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (u, v) = (*a, *b);
                *a = u + v;
                *b = u - v;
            }
        }
        s *= 2;
    }
    for v in x.iter_mut() {
        *v *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_and_deterministic() {
        for dims in [64, 128, 384, 768, 832] {
            let r = Rotation::new(dims, 7, 1);
            assert_eq!(r, Rotation::new(dims, 7, 1));
            assert_ne!(r, Rotation::new(dims, 7, 2));
            let x: Vec<f32> = (0..dims).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let y: Vec<f32> = (0..dims).map(|i| ((i * 13 % 7) as f32) * 0.5 - 1.0).collect();
            let (mut rx, mut ry) = (x.clone(), y.clone());
            r.apply(&mut rx);
            r.apply(&mut ry);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>();
            assert!((dot(&x, &x) - dot(&rx, &rx)).abs() < 1e-3 * dot(&x, &x), "norm kept at {dims}");
            assert!((dot(&x, &y) - dot(&rx, &ry)).abs() < 1e-3 * dot(&x, &x).sqrt() * dot(&y, &y).sqrt());
            // Mixed: a unit basis vector spreads over many coordinates.
            let mut e = vec![0f32; dims];
            e[dims - 1] = 1.0;
            r.apply(&mut e);
            assert!(e.iter().filter(|v| v.abs() > 1e-3).count() > dims / 2);
        }
    }
}
