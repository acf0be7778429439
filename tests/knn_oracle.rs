//! KNN results equal a brute-force oracle, for every metric and element type, with and without
//! filters, through the newest SQLite (rusqlite's bundled build).

mod common;
use common::*;
use rand::RngExt;
use rusqlite::params;

#[derive(Clone, Copy, Debug)]
enum Ty {
    F32,
    F16,
    I8,
    Bit,
}

/// Exact distance in f64 (inputs are small integers, so f32 sums are exact too).
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
        "hamming" => a.iter().zip(&b).filter(|(x, y)| x != y).count() as f64,
        "jaccard" => {
            let inter = a.iter().zip(&b).filter(|(x, y)| **x == 1.0 && **y == 1.0).count() as f64;
            let uni = a.iter().zip(&b).filter(|(x, y)| **x == 1.0 || **y == 1.0).count() as f64;
            if uni == 0.0 { 0.0 } else { 1.0 - inter / uni }
        }
        _ => unreachable!(),
    })
}

fn encode(ty: Ty, v: &[f32]) -> (String, Vec<u8>) {
    match ty {
        Ty::F32 => ("float".into(), f32_blob(v)),
        Ty::F16 => ("float16".into(), v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()),
        Ty::I8 => ("int8".into(), v.iter().map(|x| *x as i8 as u8).collect()),
        Ty::Bit => {
            let mut b = vec![0u8; v.len() / 8];
            for (i, x) in v.iter().enumerate() {
                if *x == 1.0 {
                    b[i / 8] |= 1 << (i % 8);
                }
            }
            ("bit".into(), b)
        }
    }
}

/// Wrap a blob parameter so vindex reads it as the column's type.
fn wrap(ty: Ty) -> &'static str {
    match ty {
        Ty::F32 => "?",
        Ty::F16 => "vec_f16(?)",
        Ty::I8 => "vec_int8(?)",
        Ty::Bit => "vec_bit(?)",
    }
}

/// (rowid, vector, cat, tag) of a generated row.
type Row = (i64, Vec<f32>, i64, Option<String>);
/// A filter in SQL and the same predicate in Rust.
type Filter = Box<dyn Fn(&Row) -> bool>;

#[derive(Debug)]
struct Case {
    ty: Ty,
    metric: &'static str,
    dims: usize,
}

fn run_case(case: &Case, n: usize, seed: u64) {
    let c = conn();
    let mut r = rng(seed);
    let (tyname, _) = encode(case.ty, &[0.0; 8]);
    c.execute_batch(&format!(
        "CREATE VIRTUAL TABLE t USING vindex(v {tyname}[{}] distance={}, cat integer, tag text, +note text)",
        case.dims, case.metric
    ))
    .unwrap();
    let make_vec = |r: &mut rand::rngs::StdRng| -> Vec<f32> {
        match case.ty {
            Ty::Bit => small_int_vec(r, case.dims, 0, 1),
            _ => loop {
                let v = small_int_vec(r, case.dims, -3, 3);
                if v.iter().any(|x| *x != 0.0) {
                    break v;
                }
            },
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..n {
        let v = make_vec(&mut r);
        let rowid = (i as i64) * 3 + 1; // sparse rowids
        let cat = r.random_range(0..10i64);
        let tag = if r.random_range(0..5) == 0 { None } else { Some(format!("t{}", r.random_range(0..3))) };
        let (_, blob) = encode(case.ty, &v);
        c.execute(
            &format!(
                "INSERT INTO t(rowid, v, cat, tag, note) VALUES (?1, {}, ?3, ?4, 'n' || ?1)",
                wrap(case.ty).replace('?', "?2")
            ),
            params![rowid, blob, cat, tag],
        )
        .unwrap();
        rows.push((rowid, v, cat, tag));
    }
    tx.commit().unwrap();
    // Delete some rows to leave holes.
    for (rowid, ..) in rows.iter().filter(|r| r.0 % 7 == 0) {
        c.execute("DELETE FROM t WHERE rowid = ?", [rowid]).unwrap();
    }
    rows.retain(|r| r.0 % 7 != 0);

    for qi in 0..6 {
        let q = make_vec(&mut r);
        let (_, qblob) = encode(case.ty, &q);
        let filters: Vec<(&str, Filter)> = vec![
            ("", Box::new(|_| true)),
            (" AND cat = 3", Box::new(|r| r.2 == 3)),
            (" AND cat IN (1, 4, 9) AND tag IS NOT NULL", Box::new(|r| [1, 4, 9].contains(&r.2) && r.3.is_some())),
            (" AND cat >= 7 AND tag = 't1'", Box::new(|r| r.2 >= 7 && r.3.as_deref() == Some("t1"))),
            (" AND tag IS NULL", Box::new(|r| r.3.is_none())),
            (
                " AND rowid IN (4, 10, 13, 22, 100, 301, 1000)",
                Box::new(|r| [4, 10, 13, 22, 100, 301, 1000].contains(&r.0)),
            ),
            (" AND cat != 2 AND cat < 8", Box::new(|r| r.2 != 2 && r.2 < 8)),
        ];
        for (fsql, fpred) in &filters {
            for k in [1usize, 5, 17] {
                let sql = format!(
                    "SELECT rowid, distance FROM t WHERE v MATCH {} AND k = ?2{fsql}",
                    wrap(case.ty).replace('?', "?1")
                );
                let got = knn(&c, &sql, params![qblob, k as i64]);
                let mut want: Vec<(i64, f64)> = rows
                    .iter()
                    .filter(|r| fpred(r))
                    .filter_map(|r| oracle(case.metric, &r.1, &q).map(|d| (r.0, d)))
                    .collect();
                want.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                want.truncate(k);
                assert_eq!(got.len(), want.len(), "{case:?} q{qi} k={k}{fsql}: row count");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.0, w.0, "{case:?} q{qi} k={k}{fsql}: got {got:?}\nwant {want:?}");
                    assert!((g.1 - w.1).abs() <= 1e-9 * w.1.abs().max(1.0), "{case:?}: distance {} vs {}", g.1, w.1);
                }
            }
        }
        // ORDER BY distance LIMIT (LIMIT pushed down on this SQLite) and the lazy path (no k).
        let sql = format!(
            "SELECT rowid, distance FROM t WHERE v MATCH {} ORDER BY distance LIMIT 7",
            wrap(case.ty).replace('?', "?1")
        );
        let got = knn(&c, &sql, params![qblob]);
        let mut all: Vec<(i64, f64)> =
            rows.iter().filter_map(|r| oracle(case.metric, &r.1, &q).map(|d| (r.0, d))).collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), all.iter().take(7).map(|x| x.0).collect::<Vec<_>>());
        let sql = format!(
            "SELECT rowid, distance FROM t WHERE v MATCH {} ORDER BY distance",
            wrap(case.ty).replace('?', "?1")
        );
        let got = knn(&c, &sql, params![qblob]);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), all.iter().map(|x| x.0).collect::<Vec<_>>());
    }
}

#[test]
fn every_metric_and_type_matches_the_oracle() {
    let cases = [
        Case { ty: Ty::F32, metric: "l2", dims: 17 },
        Case { ty: Ty::F32, metric: "cosine", dims: 8 },
        Case { ty: Ty::F32, metric: "ip", dims: 33 },
        Case { ty: Ty::F32, metric: "l1", dims: 5 },
        Case { ty: Ty::F16, metric: "l2", dims: 16 },
        Case { ty: Ty::F16, metric: "cosine", dims: 9 },
        Case { ty: Ty::F16, metric: "ip", dims: 3 },
        Case { ty: Ty::F16, metric: "l1", dims: 24 },
        Case { ty: Ty::I8, metric: "l2", dims: 40 },
        Case { ty: Ty::I8, metric: "cosine", dims: 7 },
        Case { ty: Ty::I8, metric: "ip", dims: 64 },
        Case { ty: Ty::I8, metric: "l1", dims: 12 },
        Case { ty: Ty::Bit, metric: "hamming", dims: 64 },
        Case { ty: Ty::Bit, metric: "jaccard", dims: 24 },
    ];
    for (i, case) in cases.iter().enumerate() {
        run_case(case, 600, 100 + i as u64);
    }
}

#[test]
fn continuous_data_matches_vec_distance() {
    // Random floats: vindex's distance column equals vec_distance_* on the same pair, and the
    // order is by (distance, rowid).
    let c = conn();
    let mut r = rng(7);
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[96] distance=cosine)").unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=3000i64 {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, f32_blob(&gaussian_vec(&mut r, 96))]).unwrap();
    }
    tx.commit().unwrap();
    let q = f32_blob(&gaussian_vec(&mut r, 96));
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 50", params![q]);
    let want = knn(&c, "SELECT rowid, vec_distance_cosine(v, ?1) AS d FROM t ORDER BY d, rowid LIMIT 50", params![q]);
    assert_eq!(got, want);
}

#[test]
fn ties_are_broken_by_rowid() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[2])").unwrap();
    for rowid in [9, 3, 7, 1, 5] {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, '[1, 1]')", [rowid]).unwrap();
    }
    c.execute("INSERT INTO t(rowid, v) VALUES (2, '[0, 0]')", []).unwrap();
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[1,1]' AND k = 4", []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3, 5, 7]);
}

#[test]
fn distance_bounds_and_pagination() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[1])").unwrap();
    for i in 1..=100 {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, format!("[{i}]")]).unwrap();
    }
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND k = 1000 AND distance < 10.5", []);
    assert_eq!(got.len(), 10);
    let page2 = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND k = 5 AND distance > 5", []);
    assert_eq!(page2.iter().map(|x| x.0).collect::<Vec<_>>(), vec![6, 7, 8, 9, 10]);
    let between = knn(
        &c,
        "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND k = 50 AND distance >= 20 AND distance <= 22",
        [],
    );
    assert_eq!(between.iter().map(|x| x.0).collect::<Vec<_>>(), vec![20, 21, 22]);
}

#[test]
fn k_edge_cases() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[2])").unwrap();
    for i in 1..=10 {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, format!("[{i}, 0]")]).unwrap();
    }
    assert_eq!(knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0,0]' AND k = 0", []).len(), 0);
    assert_eq!(knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0,0]' AND k = 1000000", []).len(), 10);
    let e = err_of(c.query_row("SELECT count(*) FROM t WHERE v MATCH '[0,0]' AND k = -1", [], |r| r.get::<_, i64>(0)));
    assert!(e.contains("k must be 0 or more"), "{e}");
    let e = err_of(c.query_row("SELECT count(*) FROM t WHERE v MATCH '[0,0]' AND k = 'x'", [], |r| r.get::<_, i64>(0)));
    assert!(e.contains("k must be an integer"), "{e}");
    let e = err_of(c.query_row("SELECT count(*) FROM t WHERE k = 3", [], |r| r.get::<_, i64>(0)));
    assert!(e.contains("MATCH"), "{e}");
    let e = err_of(c.query_row("SELECT count(*) FROM t WHERE v MATCH '[0,0,0]' AND k = 3", [], |r| r.get::<_, i64>(0)));
    assert!(e.contains("expected 2 dimensions"), "{e}");
    // LIMIT with OFFSET
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0,0]' ORDER BY distance LIMIT 3 OFFSET 2", []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 4, 5]);
}

#[test]
fn joins_and_filters_sqlite_applies_do_not_starve_results() {
    // A filter on an auxiliary column is applied by SQLite after the KNN; without k the cursor
    // keeps yielding in distance order, so LIMIT still gets its rows.
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[1], +kind text)").unwrap();
    for i in 1..=200 {
        c.execute(
            "INSERT INTO t(rowid, v, kind) VALUES (?, ?, ?)",
            params![i, format!("[{i}]"), if i % 10 == 0 { "rare" } else { "common" }],
        )
        .unwrap();
    }
    let got =
        knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND kind = 'rare' ORDER BY distance LIMIT 5", []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![10, 20, 30, 40, 50]);
    // Correlated MATCH from another table: one KNN per outer row.
    c.execute_batch("CREATE TABLE qs(id INTEGER PRIMARY KEY, q TEXT); INSERT INTO qs VALUES (1, '[0]'), (2, '[100]');")
        .unwrap();
    let got: Vec<(i64, i64)> = c
        .prepare("SELECT qs.id, t.rowid FROM qs JOIN t ON t.v MATCH qs.q AND t.k = 2 ORDER BY qs.id, t.distance")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, vec![(1, 1), (1, 2), (2, 100), (2, 99)]);
}

#[test]
fn filters_on_auxiliary_columns_run_inside_the_search() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[1], +kind text, +n)").unwrap();
    for i in 1..=300 {
        c.execute(
            "INSERT INTO t(rowid, v, kind, n) VALUES (?, ?, ?, ?)",
            params![i, format!("[{i}]"), if i % 10 == 0 { "rare" } else { "common" }, i % 3],
        )
        .unwrap();
    }
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND k = 4 AND kind = 'rare' AND n = 0", []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![30, 60, 90, 120]);
    let got = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH '[0]' AND k = 3 AND kind LIKE 'RA%'", []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![10, 20, 30]);
}

#[test]
fn prescan_matches_float32_scoring_under_writes() {
    // Random floats in several scales: the int8 prescan (used once codes exist) must return the
    // same rows and distances as scoring every row in float32 (vec_distance_* in SQL), also
    // after the connection's own updates and deletes and with filters and distance bounds.
    for (metric, f) in [("l2", "vec_distance_l2"), ("cosine", "vec_distance_cosine"), ("ip", "vec_distance_ip")] {
        let c = conn();
        let mut r = rng(99);
        c.execute_batch(&format!("CREATE VIRTUAL TABLE t USING vindex(v float[48] distance={metric}, cat integer)"))
            .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 1..=4000i64 {
            let scale = [0.01f32, 1.0, 250.0][(i % 3) as usize];
            let v: Vec<f32> = gaussian_vec(&mut r, 48).iter().map(|x| x * scale).collect();
            c.execute("INSERT INTO t(rowid, v, cat) VALUES (?, ?, ?)", params![i, f32_blob(&v), i % 4]).unwrap();
        }
        tx.commit().unwrap();
        let q0 = f32_blob(&gaussian_vec(&mut r, 48));
        let _ = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 3", params![q0]); // builds codes
        for round in 0..4 {
            for _ in 0..50 {
                let id = r.random_range(1..=4000i64);
                c.execute("UPDATE t SET v = ? WHERE rowid = ?", params![f32_blob(&gaussian_vec(&mut r, 48)), id])
                    .unwrap();
                c.execute("DELETE FROM t WHERE rowid = ?", [r.random_range(1..=4000i64)]).unwrap();
            }
            let q = f32_blob(&gaussian_vec(&mut r, 48));
            for (k, extra, extra_sql) in [
                (1, "", ""),
                (10, "", ""),
                (100, "", ""),
                (10, " AND cat = 2", " WHERE cat = 2"),
                (20, " AND distance > ?2", " WHERE d > ?2"),
            ] {
                let bound = knn(
                    &c,
                    &format!("SELECT rowid, {f}(v, ?1) AS d FROM t ORDER BY d, rowid LIMIT 1 OFFSET 30"),
                    params![q],
                )[0]
                .1;
                let got_sql = format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = {k}{extra}");
                let want_sql = format!("SELECT rowid, {f}(v, ?1) AS d FROM t{extra_sql} ORDER BY d, rowid LIMIT {k}");
                let (got, want) = if extra.contains("?2") {
                    (knn(&c, &got_sql, params![q, bound]), knn(&c, &want_sql, params![q, bound]))
                } else {
                    (knn(&c, &got_sql, params![q]), knn(&c, &want_sql, params![q]))
                };
                assert_eq!(got, want, "{metric} round {round} k={k}{extra}");
            }
        }
        let prescan: String = c.query_row("SELECT prescan FROM vindex_status", [], |r| r.get(0)).unwrap();
        assert_eq!(prescan, "int8", "the column does not use the prescan");
        c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
    }
}

/// Tables big enough that broad filters are checked on the search results (widening until k
/// rows pass) and narrow ones searched filter-first: both equal the oracle, for `k =` and the
/// lazy `ORDER BY distance LIMIT`, on metadata, auxiliary and rowid filters, with ties.
#[test]
fn broad_and_narrow_filters_equal_the_oracle_on_a_big_table() {
    let c = conn();
    c.execute_batch(
        "CREATE VIRTUAL TABLE t USING vindex(v float[6] distance=cosine, cat integer, tag text, +note text)",
    )
    .unwrap();
    let mut r = rng(77);
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=9000i64 {
        let mut v = small_int_vec(&mut r, 6, -3, 3);
        if v.iter().all(|x| *x == 0.0) {
            v[0] = 1.0;
        }
        let tag: Option<&str> = [Some("a"), Some("b"), None, Some("c")][(i % 4) as usize];
        c.execute(
            "INSERT INTO t(rowid, v, cat, tag, note) VALUES (?, ?, ?, ?, ?)",
            params![i, f32_blob(&v), i % 50, tag, format!("n{}", i % 3)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let filters = [
        ("cat < 25", "cat < 25"),                                 // 50 %
        ("cat < 10", "cat < 10"),                                 // 20 %
        ("tag = 'a'", "tag = 'a'"),                               // 25 %
        ("tag IS NULL AND cat >= 5", "tag IS NULL AND cat >= 5"), // 22 %
        ("note = 'n1'", "note = 'n1'"),                           // aux, 33 %
        ("cat IN (1, 2, 3, 4, 5)", "cat IN (1, 2, 3, 4, 5)"),     // 10 %
        ("cat = 7", "cat = 7"),                                   // 2 %
        ("rowid > 8990", "rowid > 8990"),                         // 10 rows
        ("cat = 7 AND tag = 'zzz'", "cat = 7 AND tag = 'zzz'"),   // none
    ];
    for qi in 0..4 {
        let q = f32_blob(&small_int_vec(&mut r, 6, -3, 3).iter().map(|x| x + 0.5).collect::<Vec<_>>());
        for (vf, sf) in filters {
            for k in [1, 10, 60] {
                let got = knn(
                    &c,
                    &format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = {k} AND {vf}"),
                    params![q],
                );
                let want = knn(
                    &c,
                    &format!(
                        "SELECT rowid, vec_distance_cosine(v, ?1) AS d FROM t WHERE {sf} ORDER BY d, rowid LIMIT {k}"
                    ),
                    params![q],
                );
                assert_eq!(got, want, "q{qi} k={k} {vf}");
                let lazy = knn(
                    &c,
                    &format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND {vf} ORDER BY distance LIMIT {k}"),
                    params![q],
                );
                assert_eq!(lazy, want, "lazy q{qi} k={k} {vf}");
            }
        }
    }
}

/// A broad filter used again on the same version of the table searches the rows it passes,
/// kept from its earlier use; every write makes a new version, and a writer's own view never
/// uses them: the answers stay those of brute force throughout.
#[test]
fn kept_filter_rows_follow_every_write() {
    for index in ["flat", "hnsw(m=8)", "ivf(lists=8, quantizer=sq8)"] {
        let dir = std::env::temp_dir().join(format!("vindex-kept-{}-{}", std::process::id(), index.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let a = conn_file(&path);
        a.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; CREATE VIRTUAL TABLE t USING vindex(v float[8], c integer, index={index})"
        ))
        .unwrap();
        let mut r = rng(91);
        let mut rows: Vec<(i64, Vec<f32>, i64)> = Vec::new();
        a.execute_batch("BEGIN").unwrap();
        for id in 1..=6000i64 {
            let v = gaussian_vec(&mut r, 8);
            a.execute("INSERT INTO t(rowid, v, c) VALUES (?1, ?2, ?3)", params![id, f32_blob(&v), id % 100]).unwrap();
            rows.push((id, v, id % 100));
        }
        a.execute_batch("COMMIT").unwrap();
        a.execute("INSERT INTO t(t) VALUES ('optimize')", []).unwrap();
        let b = conn_file(&path);
        let q = gaussian_vec(&mut r, 8);
        let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 5 AND c < 60 AND nprobe = 1000";
        let want = |rows: &[(i64, Vec<f32>, i64)]| {
            let live: Vec<(i64, Vec<f32>)> = rows.iter().filter(|x| x.2 < 60).map(|x| (x.0, x.1.clone())).collect();
            brute_force(&live, &q, 5, l2)
        };
        let ids =
            |c: &rusqlite::Connection| knn(c, sql, params![f32_blob(&q)]).into_iter().map(|x| x.0).collect::<Vec<_>>();
        for _ in 0..3 {
            assert_eq!(ids(&a), want(&rows), "{index}");
            assert_eq!(ids(&b), want(&rows), "{index}");
        }
        // A new nearest row that passes: seen at once by both connections.
        a.execute("INSERT INTO t(rowid, v, c) VALUES (9001, ?1, 5)", params![f32_blob(&q)]).unwrap();
        rows.push((9001, q.clone(), 5));
        for _ in 0..3 {
            assert_eq!(ids(&b), want(&rows), "{index}");
            assert_eq!(ids(&a), want(&rows), "{index}");
        }
        // A writer's uncommitted change: its own view sees it, the other connection does not.
        a.execute_batch("BEGIN").unwrap();
        a.execute("UPDATE t SET c = 99 WHERE rowid = 9001", []).unwrap();
        let mut moved = rows.clone();
        moved.last_mut().unwrap().2 = 99;
        for _ in 0..2 {
            assert_eq!(ids(&a), want(&moved), "{index}");
            assert_eq!(ids(&b), want(&rows), "{index}");
        }
        a.execute_batch("ROLLBACK").unwrap();
        assert_eq!(ids(&a), want(&rows), "{index}");
        a.execute("DELETE FROM t WHERE rowid = 9001", []).unwrap();
        rows.pop();
        for _ in 0..2 {
            assert_eq!(ids(&b), want(&rows), "{index}");
        }
        drop(a);
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
