//! Shared helpers for the SQL-level tests (rusqlite with its bundled, newest SQLite).
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rusqlite::Connection;
use std::sync::Once;

static INIT: Once = Once::new();

/// A fresh in-memory connection with vindex loaded (through the auto-extension hook).
pub fn conn() -> Connection {
    INIT.call_once(|| vindex::register_auto_extension().expect("register vindex"));
    Connection::open_in_memory().expect("open")
}

/// A connection to a file database.
pub fn conn_file(path: &std::path::Path) -> Connection {
    INIT.call_once(|| vindex::register_auto_extension().expect("register vindex"));
    Connection::open(path).expect("open file")
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn json(v: &[f32]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
}

/// Random vector with small integer values (exact in f32/f16/i8 arithmetic, so ties are real).
pub fn small_int_vec(r: &mut StdRng, dims: usize, lo: i32, hi: i32) -> Vec<f32> {
    (0..dims).map(|_| r.random_range(lo..=hi) as f32).collect()
}

pub fn gaussian_vec(r: &mut StdRng, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|_| {
            // Box-Muller
            let u1: f64 = r.random::<f64>().max(1e-12);
            let u2: f64 = r.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}

/// Query helper: rows of (rowid, distance).
pub fn knn(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<(i64, f64)> {
    let mut st = c.prepare(sql).expect("prepare");
    st.query_map(params, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

/// All rows of a query as strings, for comparing whole results.
pub fn dump(c: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut st = c.prepare(sql).expect("prepare");
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => format!("{f:?}"),
                    rusqlite::types::ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t)),
                    rusqlite::types::ValueRef::Blob(b) => {
                        format!("x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                    }
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<Vec<_>, _>>()
    .expect("rows")
}

pub fn err_of<T: std::fmt::Debug>(r: rusqlite::Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// `n` unit vectors around `clusters` centres in a latent space of `dims / 4` dimensions,
/// projected to `dims` with a little noise: clustered, with a low intrinsic dimension, as real
/// embeddings are. The projection and centres depend only on `dims` and `clusters`, so two
/// calls with different seeds draw from the same distribution (for queries).
pub fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let latent = (dims / 4).max(2);
    let mut shared = rng(12345);
    let proj: Vec<Vec<f32>> =
        (0..dims).map(|_| (0..latent).map(|_| shared.random_range(-1.0f32..1.0)).collect()).collect();
    let centres: Vec<Vec<f32>> =
        (0..clusters).map(|_| (0..latent).map(|_| shared.random_range(-1.0f32..1.0)).collect()).collect();
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            let c = &centres[r.random_range(0..clusters)];
            let z: Vec<f32> = c.iter().map(|x| x + 0.3 * r.random_range(-1.0f32..1.0)).collect();
            let v: Vec<f32> = proj
                .iter()
                .map(|row| row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * r.random_range(-1.0f32..1.0))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Exact distances for the oracle (f64 arithmetic).
pub fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>().sqrt()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (na * nb)
}

/// The `k` best rowids of `rows` (rowid, vector) for `q` under `dist`, ties by rowid.
pub fn brute_force(rows: &[(i64, Vec<f32>)], q: &[f32], k: usize, dist: fn(&[f32], &[f32]) -> f64) -> Vec<i64> {
    let mut d: Vec<(f64, i64)> = rows.iter().map(|(id, v)| (dist(v, q), *id)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|x| x.1).collect()
}

/// Share of `want` found in `got`.
pub fn overlap(got: &[i64], want: &[i64]) -> f64 {
    if want.is_empty() {
        return 1.0;
    }
    got.iter().filter(|g| want.contains(g)).count() as f64 / want.len() as f64
}
