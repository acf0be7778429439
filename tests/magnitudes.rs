//! Right at every magnitude: distances of float32 vectors from the subnormals to 3e38, and of
//! float16 vectors from their subnormals to 65504, equal an f64 oracle, through `vec_distance_*`
//! and through KNN queries, which give the same value for the same pair. NULL only for an
//! all-zero vector under cosine; nothing is NaN, so nothing ranks where it should not. KNN
//! queries through the int8 prescan (warm) equal those that read every vector from the pages
//! (cold) and a brute-force oracle computed in f64.

mod common;
use common::*;
use rand::RngExt;
use rand::rngs::StdRng;
use rusqlite::{Connection, params};
use std::sync::Mutex;

/// `vindex_cache_limit` is process-wide: tests here that depend on what is cached run one at a
/// time.
static CACHE: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

const METRICS: [&str; 4] = ["l2", "cosine", "ip", "l1"];

/// Exact distance in f64 (products of float32 values neither overflow nor underflow there).
fn oracle(metric: &str, a: &[f32], b: &[f32]) -> Option<f64> {
    let a: Vec<f64> = a.iter().map(|x| *x as f64).collect();
    let b: Vec<f64> = b.iter().map(|x| *x as f64).collect();
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    Some(match metric {
        "l2" => a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
        "l1" => a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum(),
        "ip" => -dot,
        "cosine" => {
            let na: f64 = a.iter().map(|x| x * x).sum();
            let nb: f64 = b.iter().map(|x| x * x).sum();
            if na == 0.0 || nb == 0.0 {
                return None;
            }
            1.0 - dot / (na * nb).sqrt()
        }
        _ => unreachable!(),
    })
}

/// How far a float32 computation may be from the exact distance: a few float32 roundings of
/// the quantity the metric sums (cancellation in a dot product is float32's own limit).
fn tolerance(metric: &str, a: &[f32], b: &[f32], exact: f64) -> f64 {
    let n = a.len() as f64;
    let eps = 4.0 * n * f64::powi(2.0, -24);
    let abs_dot: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum();
    match metric {
        "l2" | "l1" => eps * exact.abs(),
        "cosine" => eps,
        "ip" => eps * abs_dot,
        _ => unreachable!(),
    }
}

fn close(metric: &str, a: &[f32], b: &[f32], got: f64, exact: f64) -> bool {
    got.is_finite() && (got - exact).abs() <= tolerance(metric, a, b, exact)
}

/// A random float32 of magnitude about 10^e (down into the subnormals: 10^-45 is 1 ulp there).
fn at(r: &mut StdRng, e: f64) -> f32 {
    let m: f64 = r.random_range(-1.0..1.0);
    (m * 10f64.powf(e)) as f32
}

/// Magnitudes from the smallest subnormal to near f32::MAX.
const EXPS: [f64; 19] = [
    -45.0, -44.0, -41.0, -38.0, -37.0, -36.0, -33.0, -30.0, -25.0, -20.0, -10.0, 0.0, 10.0, 19.0, 19.5, 20.0, 30.0,
    35.0, 38.3,
];

/// JSON text that parses to exactly these float32 values (through f64, as vindex parses).
fn json64(v: &[f32]) -> String {
    format!("[{}]", v.iter().map(|x| format!("{:e}", *x as f64)).collect::<Vec<_>>().join(","))
}

fn dist_fn(c: &Connection, metric: &str, a: &str, b: &str, pa: &[u8], pb: &[u8]) -> Option<f64> {
    c.query_row(&format!("SELECT vec_distance_{metric}({a}, {b})"), params![pa, pb], |r| r.get::<_, Option<f64>>(0))
        .unwrap()
}

#[test]
fn reported_cases() {
    let c = conn();
    let d = |sql: &str| c.query_row(sql, [], |r| r.get::<_, Option<f64>>(0)).unwrap();
    // A float32 sum of squares overflows: cosine was NULL.
    assert_eq!(d("SELECT vec_distance_cosine('[3e19,3e19]', '[3e19,3e19]')"), Some(0.0));
    assert_eq!(d("SELECT vec_distance_cosine('[3e19,3e19]', '[-3e19,-3e19]')"), Some(2.0));
    // Squares underflow to zero: cosine was NULL for a vector that is not zero.
    assert_eq!(d("SELECT vec_distance_cosine('[1e-30,1e-30]', '[1e-30,1e-30]')"), Some(0.0));
    assert_eq!(d("SELECT vec_distance_cosine('[1e-30,0]', '[0,1e-30]')"), Some(1.0));
    // 1e40 - 1e40 overflowed to inf - inf = NaN (NULL).
    assert_eq!(d("SELECT vec_distance_ip('[1e20,1e20]', '[1e20,-1e20]')"), Some(0.0));
    let ip = d("SELECT vec_distance_ip('[1e20,1e20]', '[1e20,1e20]')").unwrap();
    assert!((ip + 2e40).abs() <= 2e40 * 1e-6, "{ip}");
    // Products underflow: the inner product of tiny vectors was 0.
    let ip = d("SELECT vec_distance_ip('[1e-30,1e-30]', '[1e-30,1e-30]')").unwrap();
    assert!((ip + 2e-60).abs() <= 2e-60 * 1e-6, "{ip}");
    let l2 = d("SELECT vec_distance_l2('[1e-30,0]', '[0,1e-30]')").unwrap();
    assert!((l2 - 2f64.sqrt() * 1e-30).abs() <= 1e-36, "{l2}");
    let l2 = d("SELECT vec_distance_l2('[3e38,-3e38]', '[-3e38,3e38]')").unwrap();
    assert!((l2 - 6e38 * 2f64.sqrt()).abs() <= 1e33, "{l2}");
    // Only an all-zero vector has no cosine distance.
    assert_eq!(d("SELECT vec_distance_cosine('[0,0]', '[1e-45,0]')"), None);
    let cos = d("SELECT vec_distance_cosine('[1e-45,0]', '[1e-45,1e-45]')").unwrap();
    assert!((cos - (1.0 - 0.5f64.sqrt())).abs() < 1e-9, "{cos}");
    // ip of orthogonal vectors is +0, not -0.
    let ip = d("SELECT vec_distance_ip('[1,0]', '[0,1]')").unwrap();
    assert!(ip == 0.0 && ip.is_sign_positive());
}

/// Every metric, float32, random pairs at every magnitude (and mixed within a vector): through
/// the blob fast path and the checked path (JSON text), the value is the oracle's, never NULL.
#[test]
fn float32_functions_at_every_magnitude() {
    let c = conn();
    let mut r = rng(0x3a9);
    for dims in [1usize, 2, 3, 8, 17, 64, 300] {
        for round in 0..60 {
            let ea = EXPS[round % EXPS.len()];
            let eb = EXPS[r.random_range(0..EXPS.len())];
            let mixed = round % 5 == 4;
            let a: Vec<f32> = (0..dims).map(|i| at(&mut r, if mixed && i % 2 == 0 { eb } else { ea })).collect();
            let b: Vec<f32> = (0..dims).map(|_| at(&mut r, eb)).collect();
            for metric in METRICS {
                let want = oracle(metric, &a, &b);
                let got = dist_fn(&c, metric, "?1", "?2", &f32_blob(&a), &f32_blob(&b));
                let via_json: Option<f64> = c
                    .query_row(
                        &format!("SELECT vec_distance_{metric}(vec_f32(?1), ?2)"),
                        params![json64(&a), json64(&b)],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(got.map(f64::to_bits), via_json.map(f64::to_bits), "{metric}: blob and JSON paths");
                match want {
                    None => assert_eq!(got, None, "{metric} {a:?} {b:?}"),
                    Some(w) => {
                        let g = got.unwrap_or_else(|| panic!("{metric}: NULL for {a:?} {b:?}"));
                        assert!(close(metric, &a, &b, g, w), "{metric} dims={dims}: {g} vs {w} for {a:?} {b:?}");
                    }
                }
            }
        }
    }
}

/// float16 needs no fallback; check it anyway from its subnormals (6e-8) to its maximum.
#[test]
fn float16_functions_at_every_magnitude() {
    let c = conn();
    let mut r = rng(0xf16);
    let exps = [-7.3, -6.0, -5.0, -3.0, 0.0, 2.0, 4.0, 4.8];
    for dims in [1usize, 2, 9, 64, 1000] {
        for round in 0..24 {
            let (ea, eb) = (exps[round % exps.len()], exps[r.random_range(0..exps.len())]);
            let h = |v: f32| half::f16::from_f32(v).to_f32();
            let a: Vec<f32> = (0..dims).map(|_| h(at(&mut r, ea))).collect();
            let b: Vec<f32> = (0..dims).map(|_| h(at(&mut r, eb))).collect();
            for metric in METRICS {
                let got: Option<f64> = c
                    .query_row(
                        &format!("SELECT vec_distance_{metric}(vec_f16(?1), vec_f16(?2))"),
                        params![json64(&a), json64(&b)],
                        |r| r.get(0),
                    )
                    .unwrap();
                match oracle(metric, &a, &b) {
                    None => assert_eq!(got, None),
                    Some(w) => {
                        let g = got.unwrap_or_else(|| panic!("f16 {metric}: NULL for {a:?} {b:?}"));
                        assert!(close(metric, &a, &b, g, w), "f16 {metric}: {g} vs {w}");
                    }
                }
            }
        }
    }
}

/// Rows of one table at every magnitude; a KNN query returns each row's `vec_distance_*` value
/// exactly, in the oracle's order; nothing is missing (the tiny cosine rows were never
/// returned) and nothing ranks first for being NaN.
fn knn_equals_functions(ty: &str, metric: &str, rows: &[Vec<f32>], queries: &[Vec<f32>]) {
    let c = conn();
    let dims = rows[0].len();
    let wrap = if ty == "float16" { "vec_f16(?1)" } else { "vec_f32(?1)" };
    c.execute_batch(&format!("CREATE VIRTUAL TABLE t USING vindex(v {ty}[{dims}] distance={metric})")).unwrap();
    for (i, v) in rows.iter().enumerate() {
        c.execute(&format!("INSERT INTO t(rowid, v) VALUES (?2, {wrap})"), params![json64(v), i as i64 + 1]).unwrap();
    }
    for q in queries {
        for pass in 0..2 {
            // Both passes: the first builds the in-memory copy, the second uses it.
            let got = knn(
                &c,
                &format!("SELECT rowid, distance FROM t WHERE v MATCH {wrap} ORDER BY distance"),
                params![json64(q)],
            );
            let k10 =
                knn(&c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {wrap} AND k = 10"), params![json64(q)]);
            assert_eq!(k10, got[..10.min(got.len())].to_vec(), "{ty} {metric} pass {pass}: k=10 vs all");
            assert_eq!(got.len(), rows.len(), "{ty} {metric}: every row has a distance");
            let fwrap = wrap.replace("?1", "?2");
            for (rowid, d) in &got {
                let f: Option<f64> = c
                    .query_row(
                        &format!("SELECT vec_distance_{metric}(v, {fwrap}) FROM t WHERE rowid = ?1"),
                        params![rowid, json64(q)],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(f.map(f64::to_bits), Some(d.to_bits()), "{ty} {metric} row {rowid}: KNN vs function");
                let v = &rows[*rowid as usize - 1];
                let w = oracle(metric, v, q).unwrap();
                assert!(close(metric, v, q, *d, w), "{ty} {metric} row {rowid}: {d} vs {w}");
            }
            // In oracle order, up to float32's own rounding.
            for pair in got.windows(2) {
                let (va, vb) = (&rows[pair[0].0 as usize - 1], &rows[pair[1].0 as usize - 1]);
                let (wa, wb) = (oracle(metric, va, q).unwrap(), oracle(metric, vb, q).unwrap());
                let slack = tolerance(metric, va, q, wa) + tolerance(metric, vb, q, wb);
                assert!(
                    wa <= wb + slack,
                    "{ty} {metric}: row {} ranked before row {}: {wa} > {wb}",
                    pair[0].0,
                    pair[1].0
                );
            }
        }
    }
}

#[test]
fn float32_knn_at_every_magnitude() {
    let _g = lock();
    let mut r = rng(0x4b);
    for metric in METRICS {
        let mut rows: Vec<Vec<f32>> = vec![
            vec![3e19, 3e19, 0.0],
            vec![1e-30, 1e-30, 0.0],
            vec![1e20, -1e20, 1.0],
            vec![f32::from_bits(1), 0.0, 0.0],
            vec![3e38, -3e38, 1e-38],
            vec![1.0, 2.0, 3.0],
        ];
        for i in 0..60 {
            let e = EXPS[i % EXPS.len()];
            let v: Vec<f32> = (0..3).map(|_| at(&mut r, e)).collect();
            if v.iter().any(|x| *x != 0.0) {
                rows.push(v);
            }
        }
        let mut queries =
            vec![vec![1.0, 1.0, 0.0], vec![1e20, 1e20, 0.0], vec![1e-30, 2e-30, 0.0], vec![-3e38, 3e38, 0.0]];
        queries.push((0..3).map(|_| at(&mut r, -40.0)).collect());
        knn_equals_functions("float", metric, &rows, &queries);
    }
}

#[test]
fn float16_knn_at_every_magnitude() {
    let _g = lock();
    let mut r = rng(0x4c);
    let h = |v: f32| half::f16::from_f32(v).to_f32();
    for metric in METRICS {
        let mut rows: Vec<Vec<f32>> = vec![vec![65504.0, 65504.0], vec![6e-8, 0.0], vec![-65504.0, 1e-7]];
        for i in 0..40 {
            let e = [-7.3, -5.0, 0.0, 4.0, 4.8][i % 5];
            let v: Vec<f32> = (0..2).map(|_| h(at(&mut r, e))).collect();
            if v.iter().any(|x| *x != 0.0) {
                rows.push(v);
            }
        }
        let queries = [vec![1.0, -1.0], vec![6e-8, 6e-8], vec![65504.0, -65504.0]];
        let f16 = |v: &Vec<f32>| v.iter().map(|x| h(*x)).collect::<Vec<f32>>();
        let rows: Vec<Vec<f32>> = rows.iter().map(f16).collect();
        knn_equals_functions("float16", metric, &rows, &queries.iter().map(f16).collect::<Vec<_>>());
    }
}

/// One KNN query's (rowid, distance) rows.
fn query(c: &Connection, q: &[f32], k: usize) -> Vec<(i64, f64)> {
    knn(c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = ?2", params![f32_blob(q), k as i64])
}

/// The int8 prescan (warm) returns what a scan of every float32 vector from the pages (cold)
/// returns, bit for bit, and both are the brute-force oracle's top k (f64, ties by rowid, up to
/// float32 rounding), for rows and queries from the subnormals to 1e38 — including queries the
/// codes cannot bound (|q_i| ≥ 1e30 used to return no rows at all once warm) and rows below
/// 1e-34 (their scales overflowed `1/scale`).
#[test]
fn prescan_equals_cold_scan_and_brute_force_at_every_magnitude() {
    let _g = lock();
    let limit: i64 = conn().query_row("SELECT vindex_cache_limit()", [], |r| r.get(0)).unwrap();
    for (case, metric) in ["l2", "cosine", "ip"].iter().cycle().take(12).enumerate() {
        let mut r = rng(0x9e37 + case as u64);
        let dims = [1usize, 2, 3, 5, 8, 16][case % 6];
        let c = conn();
        c.execute_batch(&format!("CREATE VIRTUAL TABLE t USING vindex(v float[{dims}] distance={metric})")).unwrap();
        // Each table spans a window of magnitudes, or all of them: a prescan over a column
        // whose rows are all tiny (or all huge) must be as right as one over a mixed column.
        let window: Vec<f64> = match case % 4 {
            0 => EXPS.to_vec(),
            1 => EXPS[..9].to_vec(),
            2 => EXPS[10..].to_vec(),
            _ => vec![-23.0, -22.0, -21.5],
        };
        let mut rows: Vec<(i64, Vec<f32>)> = Vec::new();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..200 {
            let v: Vec<f32> = if i > 0 && i % 9 == 0 {
                rows[r.random_range(0..rows.len())].1.clone() // exact ties
            } else {
                let e = window[r.random_range(0..window.len())];
                let e2 = window[r.random_range(0..window.len())];
                (0..dims).map(|j| at(&mut r, if j % 3 == 2 { e2 } else { e })).collect()
            };
            if *metric == "cosine" && v.iter().all(|x| *x == 0.0) {
                continue;
            }
            let rowid = 3 * i as i64 + 1;
            c.execute("INSERT INTO t(rowid, v) VALUES (?1, ?2)", params![rowid, f32_blob(&v)]).unwrap();
            rows.push((rowid, v));
        }
        tx.commit().unwrap();
        for qi in 0..8 {
            let q: Vec<f32> = match qi {
                0 => (0..dims).map(|j| if j == 0 { 1e30 } else { 1.0 }).collect(),
                1 => (0..dims).map(|_| at(&mut r, 38.0)).collect(),
                2 => (0..dims).map(|_| at(&mut r, -44.0)).collect(),
                _ => {
                    let e = window[r.random_range(0..window.len())];
                    (0..dims).map(|_| at(&mut r, e)).collect()
                }
            };
            if *metric == "cosine" && q.iter().all(|x| *x == 0.0) {
                continue;
            }
            for k in [1usize, 7, 40] {
                c.query_row("SELECT vindex_cache_limit(0)", [], |_| Ok(())).unwrap();
                let cold = query(&c, &q, k);
                c.query_row("SELECT vindex_cache_limit(?1)", [limit], |_| Ok(())).unwrap();
                let _build = query(&c, &q, k);
                let prescan: String =
                    c.query_row("SELECT prescan FROM vindex_status WHERE table_name = 't'", [], |r| r.get(0)).unwrap();
                assert_eq!(prescan, "int8", "the column is served by the int8 prescan");
                let warm = query(&c, &q, k);
                let bits = |v: &[(i64, f64)]| v.iter().map(|(i, d)| (*i, d.to_bits())).collect::<Vec<_>>();
                assert_eq!(bits(&warm), bits(&cold), "{metric} case {case} q{qi} k={k}: warm vs cold\nq={q:?}");

                let mut want: Vec<(i64, f64)> =
                    rows.iter().filter_map(|(id, v)| oracle(metric, v, &q).map(|d| (*id, d))).collect();
                want.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                want.truncate(k);
                assert_eq!(cold.len(), want.len(), "{metric} case {case} q{qi} k={k}: row count");
                let row = |id: i64| &rows.iter().find(|r| r.0 == id).unwrap().1;
                for (i, ((gid, gd), (wid, wd))) in cold.iter().zip(&want).enumerate() {
                    let gv = row(*gid);
                    let exact = oracle(metric, gv, &q).unwrap();
                    assert!(close(metric, gv, &q, *gd, exact), "{metric} row {gid}: {gd} vs exact {exact}");
                    // The same row as the oracle's, or one the oracle puts within rounding of it.
                    let slack = tolerance(metric, gv, &q, exact) + tolerance(metric, row(*wid), &q, *wd);
                    assert!(
                        gid == wid || (exact - wd).abs() <= slack,
                        "{metric} case {case} q{qi} k={k} rank {i}: got row {gid} ({exact}), oracle row {wid} ({wd})"
                    );
                }
            }
        }
    }
}
