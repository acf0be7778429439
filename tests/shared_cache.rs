//! The cache shared by the connections of a process: every query returns what a brute-force
//! oracle returns at that connection's own snapshot, whatever the other connections do
//! (writes, commits, rollbacks, savepoints, 'rebuild'); a file replaced under an open
//! connection is detected by its epoch; two paths to one file share; in-memory databases and
//! other VFSes stay private; a write that fails half way leaves nothing behind.

mod common;
use common::*;
use rand::RngExt;
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};

const DIMS: usize = 8;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vindex-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn open(path: &Path) -> Connection {
    let c = conn_file(path);
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;").unwrap();
    c
}

fn create(c: &Connection, n: i64, seed: u64) {
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[8] distance=l2, cat integer, +note text)").unwrap();
    let mut r = rng(seed);
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=n {
        c.execute(
            "INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, 'n')",
            params![i, f32_blob(&small_int_vec(&mut r, DIMS, -5, 5)), i % 4],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// KNN through the index, and the same answer computed by brute force over the table's rows
/// (read by a full scan, which goes to the pages), both on connection `c` right now.
/// (rowid, distance) rows.
type Rows = Vec<(i64, f64)>;

fn knn_and_oracle(c: &Connection, q: &[f32], k: usize, cat: Option<i64>) -> (Rows, Rows) {
    let qb = f32_blob(q);
    let (got, want) = match cat {
        Some(cat) => (
            knn(
                c,
                "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = ?2 AND cat = ?3",
                params![qb, k as i64, cat],
            ),
            knn(
                c,
                "SELECT rowid, vec_distance_l2(v, ?1) AS d FROM t WHERE cat = ?3 ORDER BY d, rowid LIMIT ?2",
                params![qb, k as i64, cat],
            ),
        ),
        None => (
            knn(c, "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = ?2", params![qb, k as i64]),
            knn(
                c,
                "SELECT rowid, vec_distance_l2(v, ?1) AS d FROM t ORDER BY d, rowid LIMIT ?2",
                params![qb, k as i64],
            ),
        ),
    };
    (got, want)
}

fn status(c: &Connection) -> (String, i64, i64, i64) {
    c.query_row("SELECT cache_state, cache_hits, cache_refreshes, cache_reloads FROM vindex_status", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
}

#[test]
fn connections_share_one_version_and_see_each_others_commits() {
    let dir = temp_dir("share");
    let path = dir.join("a.db");
    let a = open(&path);
    create(&a, 500, 1);
    let mut r = rng(2);
    let q = small_int_vec(&mut r, DIMS, -5, 5);
    let (got, want) = knn_and_oracle(&a, &q, 10, None);
    assert_eq!(got, want);
    let (state, _, _, reloads_a) = status(&a);
    assert_eq!(state, "shared");
    // A second connection finds the version A left: no reload.
    let b = open(&path);
    let (got, want) = knn_and_oracle(&b, &q, 10, Some(1));
    assert_eq!(got, want);
    let (_, hits, _, reloads) = status(&b);
    assert!(hits > 0, "b's first query should hit the shared cache");
    assert_eq!(reloads, reloads_a, "b's first query must not reload the table");
    // A commits one row nearer than everything: B's next query sees it.
    a.execute("INSERT INTO t(rowid, v, cat) VALUES (9000, ?, 1)", [f32_blob(&q)]).unwrap();
    let (got, want) = knn_and_oracle(&b, &q, 3, None);
    assert_eq!(got, want);
    assert_eq!(got[0], (9000, 0.0));
    // Two paths to the same file (a symbolic link) share too.
    let alias = dir.join("alias.db");
    std::os::unix::fs::symlink(&path, &alias).unwrap();
    let c = open(&alias);
    let before = status(&c).3;
    let (got, want) = knn_and_oracle(&c, &q, 5, Some(2));
    assert_eq!(got, want);
    assert_eq!(status(&c).3, before, "a second path to the file reloaded it");
    a.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
}

#[test]
fn a_reader_keeps_its_snapshot_while_others_commit() {
    let dir = temp_dir("snap");
    let path = dir.join("s.db");
    let w = open(&path);
    create(&w, 300, 3);
    let rd = open(&path);
    let mut r = rng(4);
    let q = small_int_vec(&mut r, DIMS, -5, 5);
    rd.execute_batch("BEGIN").unwrap();
    let (before, want) = knn_and_oracle(&rd, &q, 20, None);
    assert_eq!(before, want);
    for i in 0..30 {
        w.execute("INSERT INTO t(rowid, v, cat) VALUES (?, ?, 0)", params![10_000 + i, f32_blob(&q)]).unwrap();
        w.execute("DELETE FROM t WHERE rowid = ?", [1 + i * 3]).unwrap();
    }
    // Still the old snapshot, from the cache or the pages, never the writer's newer version.
    let (during, want) = knn_and_oracle(&rd, &q, 20, None);
    assert_eq!(during, want);
    assert_eq!(during, before);
    rd.execute_batch("COMMIT").unwrap();
    let (after, want) = knn_and_oracle(&rd, &q, 20, None);
    assert_eq!(after, want);
    assert_ne!(after, before);
}

/// Random interleavings of writes, commits, rollbacks, savepoints and 'rebuild' on three
/// connections: every query equals the oracle at its connection's snapshot.
#[test]
fn random_interleavings_match_the_oracle() {
    interleave("WAL", 6);
}

/// The same with the rollback journal, where a reader and a writer exclude each other and a
/// commit shows through the file's change counter (a connection trusts what it read while the
/// database's data version stays the same).
#[test]
fn random_interleavings_match_the_oracle_with_the_rollback_journal() {
    interleave("DELETE", 7);
}

fn interleave(journal: &str, seed: u64) {
    let dir = temp_dir(&format!("mix-{journal}"));
    let path = dir.join("m.db");
    // The journal mode is the file's: set once, before the other connections open it.
    conn_file(&path).execute_batch(&format!("PRAGMA journal_mode={journal}")).unwrap();
    let conns: Vec<Connection> = (0..3).map(|_| conn_file(&path)).collect();
    for c in &conns {
        c.execute_batch("PRAGMA busy_timeout=0").unwrap();
    }
    create(&conns[0], 400, 5);
    let mut r = rng(seed);
    let mut in_tx = [false; 3];
    let mut next_id = 401i64;
    for step in 0..900 {
        let i = r.random_range(0..3);
        let c = &conns[i];
        let op = r.random_range(0..16);
        let res: rusqlite::Result<()> = match op {
            0 if !in_tx[i] => {
                // A deferred BEGIN reads first (a read transaction that may turn into a write).
                let sql = if r.random_range(0..2) == 0 { "BEGIN IMMEDIATE" } else { "BEGIN" };
                c.execute_batch(sql).map(|_| in_tx[i] = true)
            }
            1 if in_tx[i] => c.execute_batch("COMMIT").map(|_| in_tx[i] = false),
            2 if in_tx[i] => c.execute_batch("ROLLBACK").map(|_| in_tx[i] = false),
            3 if in_tx[i] => c.execute_batch("SAVEPOINT s"),
            4 if in_tx[i] => c.execute_batch("ROLLBACK TO s").or(Ok(())),
            5 => {
                next_id += 1;
                c.execute(
                    "INSERT INTO t(rowid, v, cat) VALUES (?, ?, ?)",
                    params![next_id, f32_blob(&small_int_vec(&mut r, DIMS, -5, 5)), r.random_range(0..4)],
                )
                .map(|_| ())
            }
            6 => c
                .execute(
                    "UPDATE t SET v = ? WHERE rowid = ?",
                    params![f32_blob(&small_int_vec(&mut r, DIMS, -5, 5)), r.random_range(1..next_id)],
                )
                .map(|_| ()),
            7 => c.execute("DELETE FROM t WHERE rowid = ?", [r.random_range(1..next_id)]).map(|_| ()),
            8 => c
                .execute(
                    "UPDATE t SET cat = ? WHERE rowid = ?",
                    params![r.random_range(0..4), r.random_range(1..next_id)],
                )
                .map(|_| ()),
            9 if r.random_range(0..10) == 0 => c.execute("INSERT INTO t(t) VALUES ('rebuild')", []).map(|_| ()),
            10 if r.random_range(0..5) == 0 => c.execute("INSERT INTO t(t) VALUES ('optimize')", []).map(|_| ()),
            _ => {
                let q = small_int_vec(&mut r, DIMS, -5, 5);
                let cat = if r.random_range(0..3) == 0 { Some(r.random_range(0..4)) } else { None };
                let (got, want) = knn_and_oracle(c, &q, r.random_range(1..30), cat);
                assert_eq!(got, want, "step {step}, connection {i}");
                Ok(())
            }
        };
        if let Err(e) = res {
            // Another connection holds the write lock: try again later.
            assert!(e.to_string().contains("locked") || e.to_string().contains("busy"), "step {step}: {e}");
        }
    }
    for (i, c) in conns.iter().enumerate() {
        if in_tx[i] {
            c.execute_batch("COMMIT").unwrap();
        }
    }
    conns[0].execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
}

#[test]
fn a_file_replaced_under_an_open_connection_is_detected_by_its_epoch() {
    let dir = temp_dir("epoch");
    let (x, y) = (dir.join("x.db"), dir.join("y.db"));
    // Two files made by the same statements but different data: equal generations.
    let cx = open(&x);
    create(&cx, 200, 10);
    let cy = open(&y);
    create(&cy, 200, 11);
    let gx: i64 = cx.query_row("SELECT generation FROM vindex_status", [], |r| r.get(0)).unwrap();
    let gy: i64 = cy.query_row("SELECT generation FROM vindex_status", [], |r| r.get(0)).unwrap();
    assert_eq!(gx, gy);
    let q = small_int_vec(&mut rng(12), DIMS, -5, 5);
    let (in_x, _) = knn_and_oracle(&cx, &q, 10, None);
    let (in_y, _) = knn_and_oracle(&cy, &q, 10, None);
    assert_ne!(in_x, in_y);
    drop(cy);
    // Restore y over x through the backup API, while cx stays open.
    {
        let src = Connection::open_with_flags(&y, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut dst = Connection::open(&x).unwrap();
        let b = rusqlite::backup::Backup::new(&src, &mut dst).unwrap();
        b.run_to_completion(100, std::time::Duration::from_millis(0), None).unwrap();
    }
    let (got, want) = knn_and_oracle(&cx, &q, 10, None);
    assert_eq!(got, want);
    assert_eq!(got, in_y, "the open connection answered from the replaced file's cache");
}

#[test]
fn in_memory_databases_and_other_vfses_stay_private_and_correct() {
    // Two connections to one in-memory database of the memdb VFS: no file identity, so each
    // keeps a private cache, and each sees the other's commits.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_URI;
    let _ = conn();
    let a = Connection::open_with_flags("file:/vindex-memdb-test?vfs=memdb", flags).unwrap();
    let b = Connection::open_with_flags("file:/vindex-memdb-test?vfs=memdb", flags).unwrap();
    create(&a, 100, 20);
    let mut r = rng(21);
    for round in 0..20 {
        let q = small_int_vec(&mut r, DIMS, -5, 5);
        let (got, want) = knn_and_oracle(&b, &q, 5, None);
        assert_eq!(got, want, "round {round}");
        a.execute("INSERT INTO t(rowid, v, cat) VALUES (?, ?, 0)", params![1000 + round, f32_blob(&q)]).unwrap();
        let (got, _) = knn_and_oracle(&b, &q, 1, None);
        assert_eq!(got[0], (1000 + round, 0.0), "round {round}");
    }
    assert_eq!(status(&b).0, "private");
}

/// Everything stored for table t, for comparing states.
fn shadows(c: &Connection) -> Vec<Vec<Vec<String>>> {
    ["t_rows", "t_chunks", "t_vectors", "t_codes", "t_aux"]
        .iter()
        .map(|s| dump(c, &format!("SELECT * FROM {s} ORDER BY 1")))
        .chain(std::iter::once(dump(c, "SELECT key, value FROM t_info WHERE key NOT IN ('epoch') ORDER BY key")))
        .collect()
}

#[test]
fn a_write_that_fails_half_way_inside_begin_leaves_nothing_behind() {
    let c = conn();
    create(&c, 130, 30);
    let writes: &[&str] = &[
        "INSERT INTO t(rowid, v, cat, note) VALUES (500, '[1,2,3,4,5,6,7,8]', 2, 'x')",
        "INSERT INTO t(v, cat) VALUES ('[1,1,1,1,1,1,1,1]', 1)",
        "INSERT OR REPLACE INTO t(rowid, v, cat) VALUES (5, '[0,0,0,0,0,0,0,1]', 3)",
        "UPDATE t SET v = '[2,2,2,2,2,2,2,2]', cat = 0, note = 'u' WHERE rowid = 7",
        "UPDATE t SET rowid = 800 WHERE rowid = 8",
        "DELETE FROM t WHERE rowid = 9",
        "DELETE FROM t WHERE rowid = 130",
    ];
    for sql in writes {
        for n in 1..=40u64 {
            c.execute_batch("BEGIN").unwrap();
            // A first write of the transaction, so the failing one is not the first.
            c.execute("UPDATE t SET note = 'first' WHERE rowid = 1", []).unwrap();
            let before = shadows(&c);
            c.execute(&format!("INSERT INTO t(t) VALUES ('debug-fail-after={n}')"), []).unwrap();
            let failed = c.execute(sql, []).is_err();
            c.execute("INSERT INTO t(t) VALUES ('debug-fail-after=0')", []).unwrap();
            if failed {
                assert_eq!(shadows(&c), before, "{sql} failing at write {n} left a trace");
                let q = [1f32, 2., 3., 4., 5., 6., 7., 8.];
                let (got, want) = knn_and_oracle(&c, &q, 10, None);
                assert_eq!(got, want, "{sql} at {n}");
            }
            c.execute_batch("COMMIT").unwrap();
            c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
            if !failed {
                // The write went through at this n: every step of it has been made to fail.
                assert!(n > 2, "{sql}: no write failed at all");
                break;
            }
        }
    }
}

/// A table in an attached database: each connection notices the other's commits (the data
/// version it trusts is that database's, not main's), and its own writes, savepoints and
/// rollbacks show at once.
#[test]
fn a_table_in_an_attached_database_sees_commits_and_its_own_writes() {
    let dir = temp_dir("attach");
    let (main, aux) = (dir.join("main.db"), dir.join("aux.db"));
    let open2 = || {
        let c = conn_file(&main);
        c.execute("ATTACH ?1 AS aux", [aux.to_str().unwrap()]).unwrap();
        c
    };
    let (a, b) = (open2(), open2());
    a.execute_batch(
        "CREATE VIRTUAL TABLE aux.t USING vindex(v float[2], index=hnsw);
         CREATE TABLE main.one(x); INSERT INTO main.one VALUES (1);",
    )
    .unwrap();
    let ins = |c: &Connection, id: i64, x: f32, y: f32| {
        c.execute("INSERT INTO aux.t(rowid, v) VALUES (?1, ?2)", params![id, f32_blob(&[x, y])]).unwrap();
    };
    let ids = |c: &Connection| -> Vec<i64> {
        // Joined with a one-row table of main, so the statement reads both databases.
        knn(
            c,
            "SELECT t.rowid, t.distance FROM aux.t AS t, main.one WHERE t.v MATCH ?1 AND t.k = 5",
            [f32_blob(&[0.0, 1.0])],
        )
        .into_iter()
        .map(|r| r.0)
        .collect()
    };
    ins(&a, 1, 1.0, 0.0);
    assert_eq!(ids(&b), vec![1]);
    ins(&a, 2, 0.0, 1.0);
    assert_eq!(ids(&b), vec![2, 1], "b sees a's commit");
    b.execute_batch("BEGIN").unwrap();
    assert_eq!(ids(&b), vec![2, 1]);
    ins(&b, 3, 0.1, 1.0);
    assert_eq!(ids(&b), vec![2, 3, 1]);
    b.execute_batch("SAVEPOINT s; DELETE FROM aux.t WHERE rowid = 3").unwrap();
    assert_eq!(ids(&b), vec![2, 1]);
    b.execute_batch("ROLLBACK TO s").unwrap();
    assert_eq!(ids(&b), vec![2, 3, 1]);
    b.execute_batch("ROLLBACK").unwrap();
    assert_eq!(ids(&b), vec![2, 1]);
    assert_eq!(ids(&a), vec![2, 1]);
    ins(&b, 4, 0.0, 0.9);
    assert_eq!(ids(&a), vec![2, 4, 1], "a sees b's commit");
}
