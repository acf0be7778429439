//! Distance-kernel microbenchmark: `cargo run --release --example kernel_bench`.
//!
//! For every kernel table this CPU supports (`vindex::simd::available()`):
//! (a) cache-resident: one query against 1,000 vectors, repeated → GFLOP/s and ns/vector;
//! (b) memory-streaming: one query against 100,000 × 768 float32 vectors (307 MB, allocated
//!     once) → GB/s and ns/vector, next to a plain read-bandwidth baseline on the same buffer.
//! Timings are the best of 5 runs. FLOP counts: 2 per element for dot and l2sq, 6 for cosine
//! (int8 dot: 2 integer ops per element); hamming reports only bytes/s and ns/vector. It also
//! times the fallback sub-paths other CPUs take (AVX-512 without VNNI/VPOPCNTDQ, AVX2 LUT bits).
//! The slices are wherever the allocator put them (typically 16-byte aligned): 64-byte loads
//! then straddle cache lines, which costs cache-resident AVX-512 runs noticeably. The `*_f32u`
//! rows time the float32 kernels over little-endian bytes (what `vec_distance_*` runs on float32
//! blobs) on copies of the same data placed 1 byte off 4-byte alignment.

use std::hint::black_box;
use std::time::Instant;
use vindex::simd::available;
use vindex::vector::distance::{F32Le, Kernels, f32_le};

const RUNS: usize = 5;
const CACHED_VECTORS: usize = 1_000;
const STREAM_VECTORS: usize = 100_000;
const STREAM_DIMS: usize = 768;

/// Best (smallest) wall time of `RUNS` runs of `f`, in seconds.
fn best_of(mut f: impl FnMut()) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A small deterministic generator (xorshift), so runs are comparable and need no crates.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Picks one float32 kernel (dot, l2sq) out of a table.
type PickF32 = fn(&Kernels) -> fn(&[f32], &[f32]) -> f32;
/// Picks one float32-bytes kernel (dot, l2sq) out of a table.
type PickF32U = fn(&Kernels) -> fn(&[F32Le], &[F32Le]) -> f32;

/// Which kernel a row measures, with its data.
enum Case<'a> {
    F32(PickF32, &'a [f32], &'a [f32]),
    CosF32(&'a [f32], &'a [f32]),
    F32U(PickF32U, &'a [F32Le], &'a [F32Le]),
    CosF32U(&'a [F32Le], &'a [F32Le]),
    F16L2(&'a [half::f16], &'a [half::f16]),
    I8Dot(&'a [i8], &'a [i8]),
    Hamming(&'a [u8], &'a [u8]),
}

/// Runs `case` over every database vector once; returns a checksum (kept alive by black_box).
fn one_pass(k: &Kernels, case: &Case<'_>, dims: usize) -> f64 {
    let mut s = 0.0f64;
    match *case {
        Case::F32(pick, q, db) => {
            let f = pick(k);
            for v in db.chunks_exact(dims) {
                s += f(black_box(q), v) as f64;
            }
        }
        Case::CosF32(q, db) => {
            for v in db.chunks_exact(dims) {
                let p = (k.cos_f32)(black_box(q), v);
                s += (p.dot + p.norm_a + p.norm_b) as f64;
            }
        }
        Case::F32U(pick, q, db) => {
            let f = pick(k);
            for v in db.chunks_exact(dims) {
                s += f(black_box(q), v) as f64;
            }
        }
        Case::CosF32U(q, db) => {
            for v in db.chunks_exact(dims) {
                let p = (k.cos_f32u)(black_box(q), v);
                s += (p.dot + p.norm_a + p.norm_b) as f64;
            }
        }
        Case::F16L2(q, db) => {
            for v in db.chunks_exact(dims) {
                s += (k.l2sq_f16)(black_box(q), v) as f64;
            }
        }
        Case::I8Dot(q, db) => {
            for v in db.chunks_exact(dims) {
                s += (k.dot_i8)(black_box(q), v) as f64;
            }
        }
        Case::Hamming(q, db) => {
            for v in db.chunks_exact(dims / 8) {
                s += (k.hamming)(black_box(q), v) as f64;
            }
        }
    }
    s
}

/// The little-endian bytes of `v` starting 1 byte into the returned buffer, so a view of them
/// (`f32_le(&buf[1..])`) is not 4-byte aligned when the allocation is.
fn bytes_off_by_one(v: &[f32]) -> Vec<u8> {
    std::iter::once(0).chain(v.iter().flat_map(|x| x.to_le_bytes())).collect()
}

struct Row {
    kernel: &'static str,
    dims: usize,
    flops_per_elem: f64,
    bytes_per_vec: usize,
}

fn main() {
    let tables = available();
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    println!("kernel tables on this CPU: {}", tables.iter().map(|k| k.name).collect::<Vec<_>>().join(", "));

    // ---- (a) cache-resident: 1,000 vectors, the whole pass repeated until ~10 ms.
    let max_dims = 1024;
    let q32: Vec<f32> = (0..max_dims).map(|_| g.f32()).collect();
    let db32: Vec<f32> = (0..CACHED_VECTORS * max_dims).map(|_| g.f32()).collect();
    let q16: Vec<half::f16> = q32.iter().map(|&x| half::f16::from_f32(x)).collect();
    let db16: Vec<half::f16> = db32[..CACHED_VECTORS * 768].iter().map(|&x| half::f16::from_f32(x)).collect();
    let q8: Vec<i8> = q32.iter().map(|&x| (x * 127.0) as i8).collect();
    let db8: Vec<i8> = db32[..CACHED_VECTORS * 768].iter().map(|&x| (x * 127.0) as i8).collect();
    let qb: Vec<u8> = (0..128).map(|_| g.next() as u8).collect();
    let dbb: Vec<u8> = (0..CACHED_VECTORS * 128).map(|_| g.next() as u8).collect();

    let (q32u_buf, db32u_buf) = (bytes_off_by_one(&q32), bytes_off_by_one(&db32));
    let q32u = f32_le(&q32u_buf[1..]).expect("whole floats");
    let db32u = f32_le(&db32u_buf[1..]).expect("whole floats");

    let dot: PickF32 = |k| k.dot_f32;
    let l2: PickF32 = |k| k.l2sq_f32;
    let dot_u: PickF32U = |k| k.dot_f32u;
    let l2_u: PickF32U = |k| k.l2sq_f32u;
    let cases: Vec<(Row, Case<'_>)> = [384, 768]
        .into_iter()
        .flat_map(|d| {
            let db = &db32[..CACHED_VECTORS * d];
            let dbu = &db32u[..CACHED_VECTORS * d];
            [
                (
                    Row { kernel: "dot_f32", dims: d, flops_per_elem: 2.0, bytes_per_vec: 4 * d },
                    Case::F32(dot, &q32[..d], db),
                ),
                (
                    Row { kernel: "l2sq_f32", dims: d, flops_per_elem: 2.0, bytes_per_vec: 4 * d },
                    Case::F32(l2, &q32[..d], db),
                ),
                (
                    Row { kernel: "cos_f32", dims: d, flops_per_elem: 6.0, bytes_per_vec: 4 * d },
                    Case::CosF32(&q32[..d], db),
                ),
                (
                    Row { kernel: "dot_f32u", dims: d, flops_per_elem: 2.0, bytes_per_vec: 4 * d },
                    Case::F32U(dot_u, &q32u[..d], dbu),
                ),
                (
                    Row { kernel: "l2sq_f32u", dims: d, flops_per_elem: 2.0, bytes_per_vec: 4 * d },
                    Case::F32U(l2_u, &q32u[..d], dbu),
                ),
                (
                    Row { kernel: "cos_f32u", dims: d, flops_per_elem: 6.0, bytes_per_vec: 4 * d },
                    Case::CosF32U(&q32u[..d], dbu),
                ),
            ]
        })
        .chain([
            (
                Row { kernel: "l2sq_f16", dims: 768, flops_per_elem: 2.0, bytes_per_vec: 2 * 768 },
                Case::F16L2(&q16[..768], &db16),
            ),
            (
                Row { kernel: "dot_i8", dims: 768, flops_per_elem: 2.0, bytes_per_vec: 768 },
                Case::I8Dot(&q8[..768], &db8),
            ),
            (Row { kernel: "hamming", dims: 1024, flops_per_elem: 0.0, bytes_per_vec: 128 }, Case::Hamming(&qb, &dbb)),
        ])
        .collect();

    println!();
    println!("(a) cache-resident: 1 query x {CACHED_VECTORS} vectors, best of {RUNS}");
    println!(
        "{:<9} {:>5} {:>8} {:>10} {:>11} {:>9}  working set",
        "kernel", "dims", "table", "ns/vector", "GFLOP/s", "GB/s"
    );
    for (row, case) in &cases {
        let mut scalar_ns = None;
        for k in &tables {
            // Repeat the 1,000-vector pass so one run takes ~10 ms (calibrated on one pass).
            let t1 = best_of(|| {
                black_box(one_pass(k, case, row.dims));
            });
            let reps = ((0.01 / t1.max(1e-9)) as usize).clamp(1, 100_000);
            let t = best_of(|| {
                for _ in 0..reps {
                    black_box(one_pass(k, case, row.dims));
                }
            }) / reps as f64;
            let ns = t / CACHED_VECTORS as f64 * 1e9;
            let gflops = if row.flops_per_elem > 0.0 {
                format!("{:.1}", row.flops_per_elem * (row.dims * CACHED_VECTORS) as f64 / t / 1e9)
            } else {
                "-".to_string()
            };
            let gbs = (row.bytes_per_vec * CACHED_VECTORS) as f64 / t / 1e9;
            let speedup = match scalar_ns {
                None => {
                    scalar_ns = Some(ns);
                    String::new()
                }
                Some(s) => format!("x{:.1} vs scalar", s / ns),
            };
            println!(
                "{:<9} {:>5} {:>8} {:>10.1} {:>11} {:>9.1}  {:.1} MB {}",
                row.kernel,
                row.dims,
                k.name,
                ns,
                gflops,
                gbs,
                (row.bytes_per_vec * CACHED_VECTORS) as f64 / 1e6,
                speedup
            );
        }
    }

    // Fallback sub-paths other CPUs take (int8 without VNNI, bits without VPOPCNTDQ / by LUT).
    let variants = vindex::simd::fallback_variants();
    if !variants.is_empty() {
        println!("    fallback variants (not selected on this CPU):");
        for (row, case) in cases.iter().filter(|(r, _)| matches!(r.kernel, "dot_i8" | "hamming")) {
            for k in variants.iter().filter(|k| row.kernel == "hamming" || k.name.contains("vnni")) {
                let reps = 200;
                let t = best_of(|| {
                    for _ in 0..reps {
                        black_box(one_pass(k, case, row.dims));
                    }
                }) / reps as f64;
                let gbs = (row.bytes_per_vec * CACHED_VECTORS) as f64 / t / 1e9;
                println!(
                    "    {:<9} {:>5} {:>30} {:>8.1} ns/vector {:>7.1} GB/s",
                    row.kernel,
                    row.dims,
                    k.name,
                    t / CACHED_VECTORS as f64 * 1e9,
                    gbs
                );
            }
        }
    }

    // IVF's sign-code scan: 4-bit table sums over 1,024 transposed codes (32 blocks), per table.
    println!("    nibble_sums (IVF sign-code scan), 1,024 codes, best of {RUNS}:");
    for dims in [128usize, 384] {
        let rows = dims / 8;
        let lut: Vec<u8> = (0..32 * rows).map(|_| g.next() as u8 >> 2).collect();
        let packed: Vec<u8> = (0..32 * rows * 32).map(|_| g.next() as u8).collect();
        let mut out = vec![0u16; 1024];
        for k in &tables {
            let reps = 2000;
            let t = best_of(|| {
                for _ in 0..reps {
                    (k.nibble_sums)(black_box(&packed), black_box(&lut), &mut out);
                }
                black_box(&out);
            }) / reps as f64;
            println!("    nibble_sums {dims:>5} {:>30} {:>8.2} ns/code", k.name, t / 1024.0 * 1e9);
        }
    }

    // Transposing a decoded list's sign codes and factors for that scan (what a list read
    // from the pages costs before its first scan), per entry.
    println!("    Packed::new (IVF list transposition), 1,000 entries, best of {RUNS}:");
    for dims in [128usize, 384] {
        let codes: Vec<u8> = (0..1000 * dims / 8).map(|_| g.next() as u8).collect();
        let factors: Vec<f32> = (0..4000).map(|_| g.next() as u8 as f32).collect();
        let reps = 5000;
        let t = best_of(|| {
            for _ in 0..reps {
                black_box(vindex::index::ivf::code::Packed::new(black_box(&codes), black_box(&factors), dims / 8));
            }
        }) / reps as f64;
        let f = best_of(|| {
            for _ in 0..reps {
                black_box(vindex::index::ivf::code::Packed::new(black_box(&codes), black_box(&factors), 0));
            }
        }) / reps as f64;
        println!(
            "    Packed::new {dims:>5} {:>8.2} ns/entry ({:.2} of it the factors)",
            t / 1000.0 * 1e9,
            f / 1000.0 * 1e9
        );
    }

    // ---- (b) memory-streaming: 100,000 x 768 float32 = 307 MB, one pass per run.
    // Backed by u64 words so the read baseline can sum 8-byte words of the same memory.
    let words = STREAM_VECTORS * STREAM_DIMS / 2;
    let mut backing: Vec<u64> = Vec::with_capacity(words);
    backing.extend((0..words).map(|_| {
        let (a, b) = (g.f32(), g.f32());
        (a.to_bits() as u64) | ((b.to_bits() as u64) << 32)
    }));
    let big: &[f32] = bytemuck::cast_slice(&backing);
    let bytes = std::mem::size_of_val(big) as f64;
    let q = &q32[..STREAM_DIMS];
    // A copy of the same values 1 byte off 4-byte alignment, for the float32-bytes kernels. (Not
    // the same memory read from 1 byte in: that regroups the bytes into other floats, many of
    // them subnormal, whose slow arithmetic would be timed instead of the loads.)
    let bigu_buf = bytes_off_by_one(big);
    let bigu = f32_le(&bigu_buf[1..]).expect("whole floats");
    let qu = &q32u[..STREAM_DIMS];

    // Read-bandwidth baseline: the faster of two plain loops summing the buffer's u64 words,
    // front to back (8 accumulators) and as 4 interleaved streams (more prefetch parallelism).
    let sequential = best_of(|| {
        let mut acc = [0u64; 8];
        for c in backing.chunks_exact(8) {
            for i in 0..8 {
                acc[i] = acc[i].wrapping_add(c[i]);
            }
        }
        black_box(acc);
    });
    let four_streams = best_of(|| {
        let mut acc = [0u64; 8];
        let quarter = backing.len() / 4;
        let (s0, s1, s2, s3) = (
            &backing[..quarter],
            &backing[quarter..2 * quarter],
            &backing[2 * quarter..3 * quarter],
            &backing[3 * quarter..],
        );
        for (((w, x), y), z) in
            s0.chunks_exact(2).zip(s1.chunks_exact(2)).zip(s2.chunks_exact(2)).zip(s3.chunks_exact(2))
        {
            for i in 0..2 {
                acc[i] = acc[i].wrapping_add(w[i]);
                acc[2 + i] = acc[2 + i].wrapping_add(x[i]);
                acc[4 + i] = acc[4 + i].wrapping_add(y[i]);
                acc[6 + i] = acc[6 + i].wrapping_add(z[i]);
            }
        }
        black_box(acc);
    });
    let read_gbs = bytes / sequential.min(four_streams) / 1e9;

    println!();
    println!(
        "(b) memory-streaming: 1 query x {STREAM_VECTORS} x {STREAM_DIMS} float32 ({:.0} MB), best of {RUNS}",
        bytes / 1e6
    );
    println!(
        "read-bandwidth baseline (best plain u64-sum loop, 1 thread): {read_gbs:.1} GB/s \
         (sequential {:.1}, 4 streams {:.1})",
        bytes / sequential / 1e9,
        bytes / four_streams / 1e9
    );
    println!("{:<9} {:>8} {:>10} {:>9} {:>16}", "kernel", "table", "ns/vector", "GB/s", "% of read bw");
    let stream_cases: [(&str, Case<'_>); 6] = [
        ("dot_f32", Case::F32(dot, q, big)),
        ("l2sq_f32", Case::F32(l2, q, big)),
        ("cos_f32", Case::CosF32(q, big)),
        ("dot_f32u", Case::F32U(dot_u, qu, bigu)),
        ("l2sq_f32u", Case::F32U(l2_u, qu, bigu)),
        ("cos_f32u", Case::CosF32U(qu, bigu)),
    ];
    let mut best_simd: Option<(&str, &str, f64)> = None;
    for (name, case) in &stream_cases {
        for k in &tables {
            let t = best_of(|| {
                black_box(one_pass(k, case, STREAM_DIMS));
            });
            let gbs = bytes / t / 1e9;
            println!(
                "{:<9} {:>8} {:>10.1} {:>9.1} {:>15.0}%",
                name,
                k.name,
                t / STREAM_VECTORS as f64 * 1e9,
                gbs,
                100.0 * gbs / read_gbs
            );
            if k.name != "scalar" && best_simd.is_none_or(|(_, _, b)| gbs > b) {
                best_simd = Some((name, k.name, gbs));
            }
        }
    }
    match best_simd {
        Some((kernel, table, gbs)) => println!(
            "best SIMD kernel ({kernel}, {table}) reaches {:.0}% of this machine's measured read bandwidth \
             ({gbs:.1} of {read_gbs:.1} GB/s)",
            100.0 * gbs / read_gbs
        ),
        None => println!("no SIMD kernel table on this CPU"),
    }
}
