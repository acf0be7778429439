//! `index=ivf(...)` tables through SQL: recall against brute force at the default nprobe for
//! every quantizer, filters of every selectivity, churn then 'optimize', transactions
//! (ROLLBACK and SAVEPOINT leave byte-identical shadow tables), determinism, two connections
//! in WAL mode, cold reads with the cache off, and damaged list or centroid rows.

mod common;

use common::*;
use rusqlite::{Connection, params};

const K: usize = 10;

/// Tests that change the process-wide cache limit run one at a time.
static CACHE_LIMIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
const QUANTIZERS: [&str; 4] = ["rabitq", "sq8", "binary", "none"];

fn count(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Insert `vs` with rowids from `first` and category `rowid % 100` in column `c`.
fn fill(c: &Connection, table: &str, vs: &[Vec<f32>], first: i64) {
    let own = c.is_autocommit();
    if own {
        c.execute_batch("BEGIN").unwrap();
    }
    {
        let mut st = c.prepare(&format!("INSERT INTO {table}(rowid, v, c) VALUES (?1, ?2, ?3)")).unwrap();
        for (i, v) in vs.iter().enumerate() {
            let id = first + i as i64;
            st.execute(params![id, f32_blob(v), id % 100]).unwrap();
        }
    }
    if own {
        c.execute_batch("COMMIT").unwrap();
    }
}

fn ids(c: &Connection, sql: &str, q: &[f32]) -> Vec<i64> {
    knn(c, sql, params![f32_blob(q)]).into_iter().map(|r| r.0).collect()
}

fn command(c: &Connection, table: &str, cmd: &str) {
    c.execute(&format!("INSERT INTO {table}({table}) VALUES (?1)"), [cmd]).unwrap();
}

fn integrity(c: &Connection, table: &str) {
    command(c, table, "integrity-check");
}

fn integrity_err(c: &Connection, table: &str) -> String {
    err_of(c.execute(&format!("INSERT INTO {table}({table}) VALUES ('integrity-check')"), []))
}

fn rows_of(vs: &[Vec<f32>], first: i64) -> Vec<(i64, Vec<f32>)> {
    vs.iter().enumerate().map(|(i, v)| (first + i as i64, v.clone())).collect()
}

/// Mean recall@K of `sql` (one parameter: the query) against brute force over `live`; every
/// query must return min(K, rows) rows.
fn recall(
    c: &Connection,
    sql: &str,
    live: &[(i64, Vec<f32>)],
    qs: &[Vec<f32>],
    dist: fn(&[f32], &[f32]) -> f64,
) -> f64 {
    let mut total = 0.0;
    for q in qs {
        let got = ids(c, sql, q);
        assert_eq!(got.len(), K.min(live.len()), "{sql} returned {} rows", got.len());
        total += overlap(&got, &brute_force(live, q, K, dist));
    }
    total / qs.len() as f64
}

/// Every shadow row but the epoch and generation, for comparing tables byte for byte.
fn ivf_dump(c: &Connection, table: &str) -> Vec<Vec<String>> {
    let mut d = Vec::new();
    for t in ["ivf_centroids", "ivf_lists", "ivf_slots", "vectors", "codes"] {
        d.extend(dump(c, &format!("SELECT id, data FROM {table}_{t} ORDER BY id")));
    }
    d.extend(dump(c, &format!("SELECT id, used, validity, rowids FROM {table}_chunks ORDER BY id")));
    d.extend(dump(
        c,
        &format!("SELECT key, value FROM {table}_info WHERE key NOT IN ('epoch', 'generation') ORDER BY key"),
    ));
    d
}

fn status(c: &Connection, cols: &str) -> Vec<String> {
    dump(c, &format!("SELECT {cols} FROM vindex_status WHERE table_name = 't'")).remove(0)
}

#[test]
fn recall_at_the_default_nprobe_for_every_quantizer() {
    let vs = clustered(5000, 48, 40, 1);
    let live = rows_of(&vs, 1);
    let qs = clustered(40, 48, 40, 99);
    for q in QUANTIZERS {
        let c = conn();
        c.execute_batch(&format!(
            "CREATE VIRTUAL TABLE t USING vindex(v float[48] distance=cosine, c integer, index=ivf(quantizer={q}))"
        ))
        .unwrap();
        fill(&c, "t", &vs, 1);
        // Untrained until 'optimize': exact meanwhile.
        assert_eq!(status(&c, "ivf_lists"), vec!["0"]);
        for q in &qs[..3] {
            assert_eq!(
                ids(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10", q),
                brute_force(&live, q, K, cosine)
            );
        }
        command(&c, "t", "optimize");
        assert_eq!(status(&c, "ivf_lists, ivf_trained_rows, ivf_state"), vec!["71", "5000", "'trained'"]);
        assert_eq!(count(&c, "SELECT count(*) FROM t_codes"), 0, "IVF tables keep no prescan codes");
        let r = recall(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10", &live, &qs, cosine);
        assert!(r >= 0.95, "{q}: recall@10 {r}");
        // Distances are exact, and ORDER BY ... LIMIT gives the same rows.
        for qv in &qs[..5] {
            let a = knn(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10", params![f32_blob(qv)]);
            let b = knn(
                &c,
                "SELECT rowid, distance FROM t WHERE v MATCH ?1 ORDER BY distance LIMIT 10",
                params![f32_blob(qv)],
            );
            assert_eq!(a, b);
            for (id, d) in a {
                assert!((d - cosine(&vs[id as usize - 1], qv)).abs() < 1e-5);
            }
        }
        // Every list probed: the exact answer (sq8 and none are exact within what they scan).
        let r = recall(
            &c,
            "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 1000",
            &live,
            &qs,
            cosine,
        );
        assert!(r >= 0.99, "{q}: recall over every list {r}");
        // One list, and more rows than it holds: still k rows (more lists are scanned).
        let got = ids(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 300 AND nprobe = 1", &qs[0]);
        assert_eq!(got.len(), 300);
        let plan = dump(&c, "EXPLAIN QUERY PLAN SELECT rowid FROM t WHERE v MATCH x'00' AND k = 3 AND nprobe = 7");
        assert!(format!("{plan:?}").contains("knn ivf v k=3 nprobe=7"), "{plan:?}");
        integrity(&c, "t");
    }
}

#[test]
fn every_element_type_and_metric_it_serves() {
    for (decl, dist) in [
        ("float[24] distance=l2", l2 as fn(&[f32], &[f32]) -> f64),
        ("float[24] distance=ip", |a: &[f32], b: &[f32]| {
            -a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>()
        }),
        ("float16[24] distance=cosine", cosine),
    ] {
        let c = conn();
        c.execute_batch(&format!("CREATE VIRTUAL TABLE t USING vindex(v {decl}, c integer)")).unwrap();
        let vs = clustered(3000, 24, 20, 5);
        // float16 stores rounded values: compare against what it stores.
        let vs: Vec<Vec<f32>> = if decl.starts_with("float16") {
            vs.iter().map(|v| v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect()).collect()
        } else {
            vs
        };
        fill(&c, "t", &vs, 1);
        command(&c, "t", "index=ivf(lists=40, quantizer=rabitq)");
        let qs = clustered(30, 24, 20, 77);
        let qs: Vec<Vec<f32>> = if decl.starts_with("float16") {
            qs.iter().map(|v| v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect()).collect()
        } else {
            qs
        };
        let r = recall(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10", &rows_of(&vs, 1), &qs, dist);
        assert!(r >= 0.95, "{decl}: recall {r}");
        integrity(&c, "t");
    }
    // int8 columns, and what it refuses.
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v int8[16] distance=l2, index=ivf(lists=8))").unwrap();
    for i in 0..500 {
        let v: Vec<i8> = (0..16).map(|j| ((i * 7 + j * 13) % 200) as i8).collect();
        c.execute(
            "INSERT INTO t(rowid, v) VALUES (?1, vec_int8(?2))",
            params![i + 1, bytemuck::cast_slice::<i8, u8>(&v)],
        )
        .unwrap();
    }
    command(&c, "t", "optimize");
    assert_eq!(status(&c, "ivf_lists"), vec!["8"]);
    integrity(&c, "t");
    let e = err_of(c.execute_batch("CREATE VIRTUAL TABLE u USING vindex(v bit[64], index=ivf)"));
    assert!(e.contains("index=ivf serves float32, float16 and int8 columns"), "{e}");
    let e = err_of(c.execute_batch("CREATE VIRTUAL TABLE u USING vindex(v float[4] distance=l1, index=ivf)"));
    assert!(e.contains("under l2, cosine or ip"), "{e}");
    let e = err_of(c.execute_batch("CREATE VIRTUAL TABLE u USING vindex(v float[4], index=ivf(quantizer=pq))"));
    assert!(e.contains("unknown quantizer 'pq'"), "{e}");
    let e = err_of(c.query_row(
        "SELECT rowid FROM t WHERE v MATCH vec_int8(zeroblob(16)) AND k = 1 AND nprobe = 0",
        [],
        |r| r.get::<_, i64>(0),
    ));
    assert!(e.contains("nprobe must be from 1"), "{e}");
    let e = err_of(c.query_row("SELECT rowid FROM t WHERE nprobe = 5", [], |r| r.get::<_, i64>(0)));
    assert!(e.contains("nprobe = ... tunes a KNN query"), "{e}");
}

#[test]
fn filters_of_every_selectivity_return_k_passing_rows() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[32] distance=cosine, c integer, index=ivf)").unwrap();
    let vs = clustered(8000, 32, 40, 7);
    fill(&c, "t", &vs, 1);
    command(&c, "t", "optimize");
    let all = rows_of(&vs, 1);
    let qs = clustered(25, 32, 40, 97);
    for (cond, pass) in [
        ("c = 7", Box::new(|id: i64| id % 100 == 7) as Box<dyn Fn(i64) -> bool>),
        ("c < 5", Box::new(|id: i64| id % 100 < 5)),
        ("c < 10", Box::new(|id: i64| id % 100 < 10)),
        ("c < 50", Box::new(|id: i64| id % 100 < 50)),
        ("c >= 3", Box::new(|id: i64| id % 100 >= 3)),
    ] {
        let live: Vec<(i64, Vec<f32>)> = all.iter().filter(|(id, _)| pass(*id)).cloned().collect();
        for sql in [
            format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND {cond}"),
            format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND {cond} ORDER BY distance LIMIT 10"),
        ] {
            let mut total = 0.0;
            for q in &qs {
                let got = ids(&c, &sql, q);
                assert_eq!(got.len(), K, "{sql}: {} rows", got.len());
                assert!(got.iter().all(|id| pass(*id)), "{sql}: a row that fails the filter");
                total += overlap(&got, &brute_force(&live, q, K, cosine));
            }
            let r = total / qs.len() as f64;
            assert!(r >= 0.95, "{sql}: recall@10 {r}");
        }
    }
    assert!(ids(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND c = 1000", &qs[0]).is_empty());
    let mut got =
        ids(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND rowid IN (5, 17, 4000)", &qs[0]);
    got.sort_unstable();
    assert_eq!(got, vec![5, 17, 4000]);
}

#[test]
fn churn_then_optimize_keeps_recall_near_a_fresh_build() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[32], c integer, index=ivf(quantizer=rabitq))")
        .unwrap();
    let vs = clustered(6000, 32, 30, 3);
    fill(&c, "t", &vs, 1);
    command(&c, "t", "optimize");
    // Delete half, insert as many new rows (from other clusters' seeds), update some.
    c.execute("DELETE FROM t WHERE rowid % 2 = 0", []).unwrap();
    let more = clustered(3000, 32, 30, 4);
    fill(&c, "t", &more, 100_001);
    let moved = clustered(200, 32, 30, 5);
    {
        let mut st = c.prepare("UPDATE t SET v = ?2 WHERE rowid = ?1").unwrap();
        for (i, v) in moved.iter().enumerate() {
            st.execute(params![(2 * i + 1) as i64, f32_blob(v)]).unwrap();
        }
    }
    integrity(&c, "t");
    let mut live: Vec<(i64, Vec<f32>)> = Vec::new();
    for (i, v) in vs.iter().enumerate() {
        let id = i as i64 + 1;
        if id % 2 == 1 {
            let m = (id as usize - 1) / 2;
            live.push((id, if m < 200 { moved[m].clone() } else { v.clone() }));
        }
    }
    live.extend(rows_of(&more, 100_001));
    let qs = clustered(40, 32, 30, 98);
    let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10";
    command(&c, "t", "optimize");
    integrity(&c, "t");
    let after = recall(&c, sql, &live, &qs, l2);
    command(&c, "t", "rebuild");
    integrity(&c, "t");
    let fresh = recall(&c, sql, &live, &qs, l2);
    assert!(after >= 0.95 && after >= fresh - 0.02, "after churn and optimize {after}, fresh build {fresh}");
    // Deleting every row empties the lists; the table fills and answers again.
    c.execute("DELETE FROM t", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t_ivf_lists"), 0);
    integrity(&c, "t");
    fill(&c, "t", &vs[..300], 1);
    let r = recall(&c, sql, &rows_of(&vs[..300], 1), &qs, l2);
    assert!(r >= 0.95, "recall after emptying {r}");
}

#[test]
fn optimize_splits_grown_lists_and_merges_tiny_ones() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[16], c integer, index=ivf(lists=10, quantizer=sq8))")
        .unwrap();
    let vs = clustered(1000, 16, 10, 8);
    fill(&c, "t", &vs, 1);
    command(&c, "t", "optimize");
    assert_eq!(status(&c, "ivf_lists"), vec!["10"]);
    // Many rows near one cluster: its list grows past three times the average.
    let one: Vec<Vec<f32>> = (0..3000).map(|i| vs[0].iter().map(|x| x + (i % 17) as f32 * 1e-3).collect()).collect();
    fill(&c, "t", &one, 10_001);
    let imbalance: f64 = c.query_row("SELECT ivf_imbalance FROM vindex_status", [], |r| r.get(0)).unwrap();
    assert!(imbalance > 3.0, "{imbalance}");
    command(&c, "t", "optimize");
    integrity(&c, "t");
    let lists: i64 = c.query_row("SELECT ivf_lists FROM vindex_status", [], |r| r.get(0)).unwrap();
    assert!(lists > 10, "{lists}");
    let mut live = rows_of(&vs, 1);
    live.extend(rows_of(&one, 10_001));
    let qs = clustered(20, 16, 10, 91);
    let r = recall(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 1000", &live, &qs, l2);
    assert!(r >= 0.999, "{r}");
    // Delete the grown cluster again, and the rows nearest to it: its lists become tiny and
    // are merged away.
    c.execute("DELETE FROM t WHERE rowid > 10000", []).unwrap();
    let near = brute_force(&rows_of(&vs, 1), &vs[0], 250, l2);
    for id in &near {
        c.execute("DELETE FROM t WHERE rowid = ?1", [id]).unwrap();
    }
    command(&c, "t", "optimize");
    integrity(&c, "t");
    let after: i64 = c.query_row("SELECT ivf_lists FROM vindex_status", [], |r| r.get(0)).unwrap();
    assert!(after < lists, "{after} lists after deleting, {lists} before");
    let live: Vec<(i64, Vec<f32>)> = rows_of(&vs, 1).into_iter().filter(|(id, _)| !near.contains(id)).collect();
    let r = recall(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 1000", &live, &qs, l2);
    assert!(r >= 0.999, "{r}");
}

#[test]
fn rollback_and_savepoint_leave_byte_identical_tables() {
    let vs = clustered(1600, 16, 12, 11);
    for q in QUANTIZERS {
        let a = conn();
        let b = conn();
        for c in [&a, &b] {
            c.execute_batch(&format!(
                "CREATE VIRTUAL TABLE t USING vindex(v float[16], c integer, index=ivf(quantizer={q}), seed=42)"
            ))
            .unwrap();
            fill(c, "t", &vs[..800], 1);
            command(c, "t", "optimize");
        }
        assert_eq!(ivf_dump(&a, "t"), ivf_dump(&b, "t"), "{q}: same statements, same bytes");
        let before = ivf_dump(&a, "t");
        let qv = &vs[3];
        let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10";
        let results = ids(&a, sql, qv);
        a.execute_batch("BEGIN").unwrap();
        fill(&a, "t", &vs[800..1000], 801);
        a.execute("DELETE FROM t WHERE rowid % 3 = 0", []).unwrap();
        a.execute("UPDATE t SET v = (SELECT v FROM t WHERE rowid = 1) WHERE rowid BETWEEN 100 AND 120", []).unwrap();
        command(&a, "t", "index=ivf(lists=5, quantizer=sq8)");
        assert_ne!(ids(&a, sql, qv), results);
        a.execute_batch("ROLLBACK").unwrap();
        assert_eq!(ivf_dump(&a, "t"), before, "{q}");
        assert_eq!(ids(&a, sql, qv), results);
        integrity(&a, "t");
        // SAVEPOINT: what was rolled back to never happened (b runs only the kept statements).
        a.execute_batch("BEGIN").unwrap();
        fill(&a, "t", &vs[800..900], 801);
        a.execute_batch("SAVEPOINT s").unwrap();
        a.execute("DELETE FROM t WHERE rowid % 4 = 0", []).unwrap();
        fill(&a, "t", &vs[900..1100], 901);
        command(&a, "t", "rebuild");
        a.execute_batch("ROLLBACK TO s").unwrap();
        a.execute("DELETE FROM t WHERE rowid % 5 = 0", []).unwrap();
        fill(&a, "t", &vs[1100..1200], 1101);
        a.execute_batch("RELEASE s; COMMIT").unwrap();
        fill(&b, "t", &vs[800..900], 801);
        b.execute("DELETE FROM t WHERE rowid % 5 = 0", []).unwrap();
        fill(&b, "t", &vs[1100..1200], 1101);
        assert_eq!(ivf_dump(&a, "t"), ivf_dump(&b, "t"), "{q}");
        for qv in &vs[..20] {
            assert_eq!(knn(&a, sql, params![f32_blob(qv)]), knn(&b, sql, params![f32_blob(qv)]));
        }
        integrity(&a, "t");
        // A failing write in the middle of a transaction leaves nothing of itself.
        a.execute_batch("BEGIN").unwrap();
        let mid = ivf_dump(&a, "t");
        for n in 1..=30 {
            command(&a, "t", &format!("debug-fail-after={n}"));
            let _ = a.execute("INSERT INTO t(rowid, v, c) VALUES (5000, ?1, 1)", params![f32_blob(&vs[5])]);
            let _ = a.execute("DELETE FROM t WHERE rowid = 7", []);
            command(&a, "t", "debug-fail-after=0");
            if count(&a, "SELECT count(*) FROM t WHERE rowid = 5000") == 0
                && count(&a, "SELECT count(*) FROM t WHERE rowid = 7") == 1
            {
                assert_eq!(ivf_dump(&a, "t"), mid, "{q}: a failed write at step {n}");
            }
            integrity(&a, "t");
        }
        a.execute_batch("COMMIT").unwrap();
        integrity(&a, "t");
    }
}

#[test]
fn training_is_the_same_on_one_or_two_threads() {
    let vs = clustered(4000, 24, 20, 31);
    let mut dumps = Vec::new();
    for threads in [1, 2] {
        let c = conn();
        c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[24] distance=cosine, c integer, seed=7)").unwrap();
        fill(&c, "t", &vs, 1);
        c.query_row("SELECT vindex_build_threads(?1)", [threads], |_| Ok(())).unwrap();
        command(&c, "t", "index=ivf(lists=auto, quantizer=rabitq)");
        c.query_row("SELECT vindex_build_threads(0)", [], |_| Ok(())).unwrap();
        integrity(&c, "t");
        dumps.push(ivf_dump(&c, "t"));
        // Back to flat: exact again, with codes on disk and no IVF rows.
        command(&c, "t", "index=flat");
        assert_eq!(count(&c, "SELECT count(*) FROM t_ivf_lists") + count(&c, "SELECT count(*) FROM t_ivf_slots"), 0);
        assert!(count(&c, "SELECT count(*) FROM t_codes") > 0);
        let qs = clustered(5, 24, 20, 95);
        for q in &qs {
            assert_eq!(
                ids(&c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10", q),
                brute_force(&rows_of(&vs, 1), q, K, cosine)
            );
        }
        // To hnsw and back to ivf.
        command(&c, "t", "index=hnsw(m=8)");
        command(&c, "t", "index=ivf(quantizer=binary)");
        assert_eq!(count(&c, "SELECT count(*) FROM t_hnsw"), 0);
        integrity(&c, "t");
    }
    assert_eq!(dumps[0], dumps[1]);
}

#[test]
fn two_connections_in_wal_mode_and_the_cache_off() {
    let _limit = CACHE_LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("vindex-ivf-wal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.db");
    let _ = std::fs::remove_file(&path);
    let a = conn_file(&path);
    a.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE VIRTUAL TABLE t USING vindex(v float[24], c integer, index=ivf)",
    )
    .unwrap();
    let vs = clustered(3000, 24, 20, 21);
    fill(&a, "t", &vs[..2000], 1);
    command(&a, "t", "optimize");
    let b = conn_file(&path);
    let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10";
    let qs = clustered(20, 24, 20, 96);
    for q in &qs {
        assert_eq!(knn(&a, sql, params![f32_blob(q)]), knn(&b, sql, params![f32_blob(q)]));
    }
    // a commits more; b sees them in its next read transaction.
    fill(&a, "t", &vs[2000..], 2001);
    a.execute("DELETE FROM t WHERE rowid <= 300", []).unwrap();
    let live: Vec<(i64, Vec<f32>)> = rows_of(&vs, 1).into_iter().filter(|(id, _)| *id > 300).collect();
    let r = recall(&b, sql, &live, &qs, l2);
    assert!(r >= 0.95, "b's recall after a's commits {r}");
    // b writes; a sees it at once.
    b.execute("INSERT INTO t(rowid, v, c) VALUES (9999, ?1, 1)", params![f32_blob(&qs[0])]).unwrap();
    assert_eq!(ids(&a, sql, &qs[0])[0], 9999);
    // A reader's snapshot stays put while the other connection retrains.
    b.execute_batch("BEGIN").unwrap();
    let snap = knn(&b, sql, params![f32_blob(&qs[1])]);
    a.execute("DELETE FROM t WHERE rowid > 2500", []).unwrap();
    command(&a, "t", "rebuild");
    assert_eq!(knn(&b, sql, params![f32_blob(&qs[1])]), snap);
    b.execute_batch("COMMIT").unwrap();
    assert!(ids(&b, sql, &qs[1]).iter().all(|id| *id <= 2500));
    // With the cache off, every query reads centroids and lists from the pages: same answers.
    let live: Vec<(i64, Vec<f32>)> = live.into_iter().filter(|(id, _)| *id <= 2500).collect();
    let warm: Vec<Vec<i64>> = qs.iter().map(|q| ids(&b, sql, q)).collect();
    b.query_row("SELECT vindex_cache_limit(0)", [], |_| Ok(())).unwrap();
    let cold: Vec<Vec<i64>> = qs.iter().map(|q| ids(&b, sql, q)).collect();
    assert_eq!(warm, cold);
    // With the cache off a connection keeps only its version's centroids: a retraining by the
    // other connection (other lists, another quantizer) is followed at b's next query, and
    // searches reading every list stay exact, while a reader's snapshot keeps its old ones.
    let all = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 64";
    b.execute_batch("BEGIN").unwrap();
    let snap: Vec<Vec<i64>> = qs.iter().map(|q| ids(&b, sql, q)).collect();
    command(&a, "t", "index=ivf(lists=40, quantizer=sq8)");
    assert_eq!(qs.iter().map(|q| ids(&b, sql, q)).collect::<Vec<_>>(), snap);
    b.execute_batch("COMMIT").unwrap();
    for q in &qs {
        assert_eq!(ids(&b, all, q), brute_force(&live, q, K, l2));
    }
    command(&a, "t", "index=ivf(lists=20, quantizer=rabitq)");
    for q in &qs {
        // (RaBitQ's bound holds with high probability: compare with the other connection.)
        assert_eq!(ids(&b, all, q), ids(&a, all, q));
    }
    let r = recall(&b, all, &live, &qs, l2);
    assert!(r >= 0.98, "{r}");
    b.query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(())).unwrap();
    let r = recall(&b, sql, &live, &qs, l2);
    assert!(r >= 0.95, "{r}");
    integrity(&b, "t");
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_list_and_centroid_rows_give_errors_and_rebuild_repairs_them() {
    let _limit = CACHE_LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[8], c integer, index=ivf(lists=6))").unwrap();
    let vs = clustered(700, 8, 6, 41);
    fill(&c, "t", &vs, 1);
    command(&c, "t", "optimize");
    let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 6";
    let good = ids(&c, sql, &vs[0]);
    let fresh = |c: &Connection| {
        // A fresh process's view: nothing cached.
        c.query_row("SELECT vindex_cache_limit(0)", [], |_| Ok(())).unwrap();
        c.query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(())).unwrap();
    };
    for (damage, words) in [
        ("UPDATE t_ivf_lists SET data = x'ff'", "bytes"),
        ("UPDATE t_ivf_lists SET data = zeroblob(length(data))", "entries"),
        ("DELETE FROM t_ivf_lists WHERE id = (SELECT min(id) FROM t_ivf_lists)", "block"),
        ("UPDATE t_ivf_centroids SET data = x'00'", "t_ivf_centroids"),
        ("DELETE FROM t_ivf_centroids", "t_ivf_centroids"),
        ("UPDATE t_ivf_slots SET data = zeroblob(8)", "t_ivf_slots"),
        ("UPDATE t_info SET value = 'x' WHERE key = 'ivf.00.lists'", "lists"),
    ] {
        c.execute_batch(damage).unwrap();
        fresh(&c);
        let e = integrity_err(&c, "t");
        assert!(e.contains(words) || e.contains("t_ivf"), "{damage}: {e}");
        // Searches fail with a message (or still answer), never crash.
        let _ = c.query_row(sql, [f32_blob(&vs[0])], |r| r.get::<_, i64>(0));
        let _ = c.execute("INSERT INTO t(rowid, v, c) VALUES (5000, ?1, 1)", [f32_blob(&vs[1])]);
        let _ = c.execute("DELETE FROM t WHERE rowid = 5000", []);
        c.execute_batch("UPDATE t_info SET value = 6 WHERE key = 'ivf.00.lists'").unwrap();
        command(&c, "t", "rebuild");
        integrity(&c, "t");
        assert_eq!(ids(&c, sql, &vs[0]), good, "{damage}");
    }
    c.execute_batch("DROP TABLE t").unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM sqlite_schema"), 0);
}

#[test]
fn an_immutable_copy_answers_from_its_pages_with_the_cache_off() {
    let _limit = CACHE_LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("vindex-ivf-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.db");
    let _ = std::fs::remove_file(&path);
    let a = conn_file(&path);
    a.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[32] distance=cosine, c integer, index=ivf)").unwrap();
    let vs = clustered(3000, 32, 20, 61);
    fill(&a, "t", &vs, 1);
    command(&a, "t", "optimize");
    let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10";
    let fsql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND c < 20";
    let qs = clustered(15, 32, 20, 62);
    let want: Vec<_> =
        qs.iter().map(|q| (knn(&a, sql, params![f32_blob(q)]), knn(&a, fsql, params![f32_blob(q)]))).collect();
    drop(a);
    let _ = conn();
    for uri in [format!("file:{}?immutable=1", path.display()), format!("file:{}?mode=ro", path.display())] {
        let ro = Connection::open_with_flags(
            &uri,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        ro.query_row("SELECT vindex_cache_limit(0)", [], |_| Ok(())).unwrap();
        for (q, (w, wf)) in qs.iter().zip(&want) {
            assert_eq!(&knn(&ro, sql, params![f32_blob(q)]), w, "{uri}");
            assert_eq!(&knn(&ro, fsql, params![f32_blob(q)]), wf, "{uri}");
        }
        let state: String = ro.query_row("SELECT cache_state FROM vindex_status", [], |r| r.get(0)).unwrap();
        assert_eq!(state, "off");
        ro.query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(())).unwrap();
        assert!(ro.execute("INSERT INTO t(rowid, v, c) VALUES (9000, ?1, 1)", [f32_blob(&qs[0])]).is_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_training_leaves_the_table_as_it_was() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[16], c integer)").unwrap();
    let vs = clustered(20_000, 16, 20, 83);
    fill(&c, "t", &vs, 1);
    let before = ivf_dump(&c, "t");
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = calls.clone();
    c.progress_handler(1, Some(move || n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 300)).unwrap();
    let e = err_of(c.execute("INSERT INTO t(t) VALUES ('index=ivf(lists=100)')", []));
    c.progress_handler(0, None::<fn() -> bool>).unwrap();
    assert!(e.contains("interrupt"), "{e}");
    assert_eq!(ivf_dump(&c, "t"), before);
    assert_eq!(status(&c, "index_type"), vec!["'flat'"]);
    integrity(&c, "t");
    command(&c, "t", "index=ivf(lists=100)");
    assert_eq!(status(&c, "ivf_lists, build_progress"), vec!["100", "NULL"]);
    let last: String = c.query_row("SELECT last_build FROM vindex_status", [], |r| r.get(0)).unwrap();
    assert!(last.starts_with("20000 rows in 100 lists"), "{last}");
    integrity(&c, "t");
}

/// Pages of `table`'s IVF lists and slot rows (dbstat), as a share of its raw float32 bytes.
fn index_bytes_ratio(c: &Connection, table: &str, rows: usize, dims: usize) -> f64 {
    let pages =
        count(c, &format!("SELECT count(*) FROM dbstat WHERE name IN ('{table}_ivf_lists', '{table}_ivf_slots')"));
    let page_size = count(c, "PRAGMA page_size");
    (pages * page_size) as f64 / (rows * dims * 4) as f64
}

#[test]
fn sq8_lists_and_slots_stay_under_0_30x_the_raw_bytes_at_128_dims() {
    // 1,000 entries a list, as 1M rows in 1,000 lists have: full blocks and a last one.
    let (n, dims) = (20_000, 128);
    let vs = clustered(n, dims, 200, 5);
    let c = conn();
    c.execute_batch(&format!(
        "CREATE VIRTUAL TABLE t USING vindex(v float[{dims}], c integer, index=ivf(lists=20, quantizer=sq8))"
    ))
    .unwrap();
    fill(&c, "t", &vs, 1);
    command(&c, "t", "optimize");
    let sq8 = index_bytes_ratio(&c, "t", n, dims);
    // Entries of 4 + 128 + 8 bytes in blocks that pack into pages, 6-byte slot entries.
    assert!(sq8 <= 0.30, "sq8 lists and slots take {sq8:.4}x the raw bytes");
    // Inserts grow the last blocks in place (by doubling): still near.
    let more = clustered(2000, dims, 200, 6);
    fill(&c, "t", &more, n as i64 + 1);
    let grown = index_bytes_ratio(&c, "t", n + 2000, dims);
    assert!(grown <= 0.32, "sq8 after inserts: {grown:.4}x the raw bytes");
    integrity(&c, "t");
    for q in ["rabitq", "binary"] {
        command(&c, "t", &format!("index=ivf(lists=20, quantizer={q})"));
        let r = index_bytes_ratio(&c, "t", n + 2000, dims);
        assert!(r <= 0.35, "{q} lists and slots take {r:.4}x the raw bytes");
    }
}

#[test]
fn rollback_and_savepoint_of_grown_and_new_blocks_leave_byte_identical_tables() {
    // A few lists of several blocks each (E = 120 at 128 dims), so inserts grow last blocks
    // and start new ones, and deletes move entries across blocks and drop emptied ones.
    let dims = 128;
    let vs = clustered(3000, dims, 8, 21);
    let (a, b) = (conn(), conn());
    for c in [&a, &b] {
        c.execute_batch(&format!(
            "CREATE VIRTUAL TABLE t USING vindex(v float[{dims}], c integer, index=ivf(lists=3, quantizer=sq8), seed=7)"
        ))
        .unwrap();
        fill(c, "t", &vs[..1500], 1);
        command(c, "t", "optimize");
    }
    let before = ivf_dump(&a, "t");
    a.execute_batch("BEGIN").unwrap();
    fill(&a, "t", &vs[1500..2600], 1501);
    a.execute("DELETE FROM t WHERE rowid % 3 = 0", []).unwrap();
    a.execute_batch("ROLLBACK").unwrap();
    assert_eq!(ivf_dump(&a, "t"), before);
    integrity(&a, "t");
    a.execute_batch("BEGIN").unwrap();
    fill(&a, "t", &vs[1500..1700], 1501);
    a.execute_batch("SAVEPOINT s").unwrap();
    fill(&a, "t", &vs[1700..2600], 1701);
    a.execute("DELETE FROM t WHERE rowid % 2 = 0", []).unwrap();
    a.execute_batch("ROLLBACK TO s").unwrap();
    a.execute("DELETE FROM t WHERE rowid % 7 = 0", []).unwrap();
    fill(&a, "t", &vs[2600..3000], 2601);
    a.execute_batch("RELEASE s; COMMIT").unwrap();
    fill(&b, "t", &vs[1500..1700], 1501);
    b.execute("DELETE FROM t WHERE rowid % 7 = 0", []).unwrap();
    fill(&b, "t", &vs[2600..3000], 2601);
    assert_eq!(ivf_dump(&a, "t"), ivf_dump(&b, "t"));
    integrity(&a, "t");
    let live: Vec<(i64, Vec<f32>)> =
        rows_of(&vs, 1).into_iter().filter(|(id, _)| (*id <= 1700 && id % 7 != 0) || *id > 2600).collect();
    let qs = clustered(10, dims, 8, 22);
    let r = recall(&a, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 3", &live, &qs, l2);
    assert!(r >= 0.999, "{r}");
    // Deleting every row empties the lists (no rows left), and they refill.
    a.execute("DELETE FROM t", []).unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM t_ivf_lists"), 0);
    fill(&a, "t", &vs[..600], 1);
    integrity(&a, "t");
}

#[test]
fn ties_at_the_kth_distance_go_to_the_smaller_rowids_with_the_cache_on_or_off() {
    // With the cache off a rescoring search reads a row's rowid only when its distance can
    // enter the results: copies of one vector straddling the k-th place must still come back
    // as the k smallest rowids, as with the cache on and as the flat index answers.
    let _limit = CACHE_LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("vindex-ivf-ties-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vs = clustered(2000, 16, 12, 71);
    let dup = vs[5].clone();
    for quant in QUANTIZERS {
        let path = dir.join(format!("{quant}.db"));
        let _ = std::fs::remove_file(&path);
        let c = conn_file(&path);
        c.execute_batch(&format!(
            "CREATE VIRTUAL TABLE t USING vindex(v float[16], c integer, index=ivf(quantizer={quant}))"
        ))
        .unwrap();
        fill(&c, "t", &vs, 1);
        // 25 copies, in the slots of 25 deleted rows (so they sit in every chunk).
        c.execute("DELETE FROM t WHERE rowid % 80 = 7", []).unwrap();
        for i in 0..25i64 {
            c.execute("INSERT INTO t(rowid, v, c) VALUES (?1, ?2, 0)", params![5000 - 97 * i, f32_blob(&dup)]).unwrap();
        }
        command(&c, "t", "optimize");
        let mut copies: Vec<i64> = (0..25).map(|i| 5000 - 97 * i).chain([6]).collect();
        copies.sort();
        for k in [1usize, 10, 26, 30] {
            let sql = format!("SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = {k} AND nprobe = 1000");
            let warm = knn(&c, &sql, params![f32_blob(&dup)]);
            c.query_row("SELECT vindex_cache_limit(0)", [], |_| Ok(())).unwrap();
            let cold = knn(&c, &sql, params![f32_blob(&dup)]);
            c.query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(())).unwrap();
            assert_eq!(warm, cold, "{quant} k={k}");
            let got: Vec<i64> = warm.iter().map(|r| r.0).collect();
            assert_eq!(&got[..k.min(26)], &copies[..k.min(26)], "{quant} k={k}");
            assert!(warm[..k.min(26)].iter().all(|r| r.1 == 0.0), "{quant} k={k}");
        }
        integrity(&c, "t");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_nobody_has_open_gives_its_cache_to_one_in_use() {
    // Rescored vectors are cached only when memory is free (never at the expense of a table
    // in use), but a table every connection has closed gives way: otherwise its leftovers
    // would keep a table in use reading vectors from the pages for good.
    let _limit = CACHE_LIMIT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("vindex-ivf-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vs = clustered(3000, 32, 20, 81);
    let qs = clustered(200, 32, 20, 82);
    let sql = "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND nprobe = 64";
    let state = |c: &Connection| -> (i64, i64) {
        c.query_row("SELECT cache_bytes, queries_from_pages FROM vindex_status", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    };
    let mut full = 0;
    for name in ["a", "b"] {
        let path = dir.join(format!("{name}.db"));
        let _ = std::fs::remove_file(&path);
        let c = conn_file(&path);
        c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[32], c integer, index=ivf)").unwrap();
        fill(&c, "t", &vs, 1);
        command(&c, "t", "optimize");
        if name == "a" {
            c.query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(())).unwrap();
            for q in &qs {
                knn(&c, sql, params![f32_blob(q)]);
            }
            full = state(&c).0;
            // Room for all of a, and b's lists, but not for b's vectors too.
            c.query_row("SELECT vindex_cache_limit(?1)", [full * 3 / 2], |_| Ok(())).unwrap();
            continue; // a's connection closes: its cache stays, held by nobody.
        }
        let want: Vec<_> = qs.iter().map(|q| knn(&c, sql, params![f32_blob(q)])).collect();
        let (bytes, from_pages) = state(&c);
        assert!(bytes >= full * 9 / 10, "b caches {bytes} bytes of the {full} a table of its size takes");
        // Now every query is answered from memory, with the same answers.
        for (q, w) in qs.iter().zip(&want) {
            assert_eq!(&knn(&c, sql, params![f32_blob(q)]), w);
        }
        assert_eq!(state(&c).1, from_pages, "queries read from the pages once b is cached");
    }
    let _ = conn().query_row("SELECT vindex_cache_limit(1073741824)", [], |_| Ok(()));
    let _ = std::fs::remove_dir_all(&dir);
}
