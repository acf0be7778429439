//! ROLLBACK and ROLLBACK TO restore exactly what queries returned before; WAL readers keep
//! their snapshot while another connection writes; caches follow other connections' commits.

mod common;
use common::*;
use rand::RngExt;
use rusqlite::{Connection, params};

const DIMS: usize = 8;

/// Every observable result of the table: full contents, KNN with and without filters,
/// status, and the shadow tables themselves.
fn snapshot(c: &Connection) -> Vec<Vec<Vec<String>>> {
    let q = "'[1,0,1,0,1,0,1,0]'";
    vec![
        dump(c, "SELECT rowid, vec_to_json(v), cat, note FROM t ORDER BY rowid"),
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {q} AND k = 25")),
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {q} AND k = 10 AND cat = 2")),
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {q} ORDER BY distance LIMIT 5")),
        dump(c, "SELECT rows, free_slots, chunks, generation FROM vindex_status"),
        dump(c, "SELECT * FROM t_rows ORDER BY rowid"),
        dump(c, "SELECT * FROM t_chunks ORDER BY id"),
        dump(c, "SELECT * FROM t_vectors ORDER BY id"),
        dump(c, "SELECT * FROM t_aux ORDER BY rowid"),
    ]
}

fn setup(c: &Connection, n: i64, seed: u64) {
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[8] distance=l2, cat integer, +note text)").unwrap();
    let mut r = rng(seed);
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=n {
        let v = small_int_vec(&mut r, DIMS, -4, 4);
        c.execute(
            "INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, ?)",
            params![i, f32_blob(&v), i % 5, format!("row {i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// A random write: insert, update (vector/metadata/aux/rowid), delete, replace or optimize.
fn random_write(c: &Connection, r: &mut rand::rngs::StdRng, next: &mut i64) {
    let v = f32_blob(&small_int_vec(r, DIMS, -4, 4));
    let target = r.random_range(1..=*next);
    let res = match r.random_range(0..8) {
        0 | 1 => {
            *next += 1;
            c.execute(
                "INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, 'new')",
                params![*next, v, r.random_range(0..5)],
            )
        }
        2 => c.execute("UPDATE t SET v = ? WHERE rowid = ?", params![v, target]),
        3 => c.execute("UPDATE t SET cat = ?, note = 'upd' WHERE rowid = ?", params![r.random_range(0..5), target]),
        4 => c.execute("DELETE FROM t WHERE rowid = ?", [target]),
        5 => {
            *next += 1;
            c.execute("UPDATE OR IGNORE t SET rowid = ? WHERE rowid = ?", params![*next, target])
        }
        6 => c.execute("INSERT OR REPLACE INTO t(rowid, v, cat) VALUES (?, ?, 1)", params![target, v]),
        _ => c.execute("INSERT INTO t(t) VALUES ('optimize')", []),
    };
    res.unwrap();
}

#[test]
fn rollback_restores_every_query() {
    let c = conn();
    setup(&c, 300, 1);
    let mut r = rng(2);
    let mut next = 300;
    for round in 0..20 {
        let before = snapshot(&c);
        c.execute_batch("BEGIN").unwrap();
        for _ in 0..r.random_range(1..40) {
            random_write(&c, &mut r, &mut next);
        }
        // Read inside the transaction (fills caches with uncommitted state).
        let _ = snapshot(&c);
        c.execute_batch("ROLLBACK").unwrap();
        assert_eq!(snapshot(&c), before, "round {round}");
        c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
        // Then commit some writes so the next round starts elsewhere.
        c.execute_batch("BEGIN").unwrap();
        for _ in 0..5 {
            random_write(&c, &mut r, &mut next);
        }
        c.execute_batch("COMMIT").unwrap();
    }
}

#[test]
fn rollback_to_savepoint_restores_every_query() {
    let c = conn();
    setup(&c, 200, 3);
    let mut r = rng(4);
    let mut next = 200;
    c.execute_batch("BEGIN").unwrap();
    for round in 0..15 {
        random_write(&c, &mut r, &mut next);
        let outer = snapshot(&c);
        c.execute_batch("SAVEPOINT a").unwrap();
        for _ in 0..r.random_range(1..20) {
            random_write(&c, &mut r, &mut next);
        }
        let mid = snapshot(&c);
        c.execute_batch("SAVEPOINT b").unwrap();
        for _ in 0..r.random_range(1..20) {
            random_write(&c, &mut r, &mut next);
        }
        c.execute_batch("ROLLBACK TO b").unwrap();
        assert_eq!(snapshot(&c), mid, "round {round}: rollback to b");
        c.execute_batch("RELEASE b").unwrap();
        c.execute_batch("ROLLBACK TO a").unwrap();
        assert_eq!(snapshot(&c), outer, "round {round}: rollback to a");
        c.execute_batch("RELEASE a").unwrap();
    }
    c.execute_batch("COMMIT").unwrap();
    c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
}

#[test]
fn failed_statement_inside_a_transaction_rolls_back_only_itself() {
    let c = conn();
    setup(&c, 50, 5);
    c.execute_batch("BEGIN").unwrap();
    c.execute("INSERT INTO t(rowid, v) VALUES (1000, '[1,1,1,1,1,1,1,1]')", []).unwrap();
    let before = snapshot(&c);
    // The second row of this statement is a duplicate: the whole statement is undone.
    let e = err_of(
        c.execute("INSERT INTO t(rowid, v) VALUES (1001, '[2,2,2,2,2,2,2,2]'), (1000, '[3,3,3,3,3,3,3,3]')", []),
    );
    assert!(e.contains("UNIQUE"), "{e}");
    assert_eq!(snapshot(&c), before);
    c.execute_batch("COMMIT").unwrap();
    assert_eq!(snapshot(&c), before);
}

#[test]
fn another_connections_commit_is_seen() {
    let dir = std::env::temp_dir().join(format!("vindex-tx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.db");
    let _ = std::fs::remove_file(&path);
    let a = conn_file(&path);
    setup(&a, 100, 6);
    let b = conn_file(&path);
    // b reads (and caches), a writes, b must see a's write.
    let q = "SELECT rowid, distance FROM t WHERE v MATCH '[9,9,9,9,9,9,9,9]' AND k = 3";
    let _ = knn(&b, q, []);
    a.execute("INSERT INTO t(rowid, v) VALUES (5000, '[9,9,9,9,9,9,9,9]')", []).unwrap();
    assert_eq!(knn(&b, q, [])[0], (5000, 0.0));
    a.execute("DELETE FROM t WHERE rowid = 5000", []).unwrap();
    assert_ne!(knn(&b, q, [])[0].0, 5000);
    // b writes on top of a's state without losing a's rows.
    a.execute("INSERT INTO t(rowid, v) VALUES (6000, '[9,9,9,9,9,9,9,8]')", []).unwrap();
    b.execute("INSERT INTO t(rowid, v) VALUES (6001, '[9,9,9,9,9,9,9,9]')", []).unwrap();
    assert_eq!(knn(&a, q, [])[..2].iter().map(|x| x.0).collect::<Vec<_>>(), vec![6001, 6000]);
    a.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wal_reader_keeps_its_snapshot_while_another_connection_writes() {
    let dir = std::env::temp_dir().join(format!("vindex-wal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.db");
    let _ = std::fs::remove_file(&path);
    let w = conn_file(&path);
    w.execute_batch("PRAGMA journal_mode=WAL").unwrap();
    setup(&w, 200, 7);
    let r = conn_file(&path);
    r.execute_batch("BEGIN").unwrap();
    let before = snapshot(&r);
    let mut rr = rng(8);
    let mut next = 200;
    for _ in 0..10 {
        w.execute_batch("BEGIN").unwrap();
        for _ in 0..10 {
            random_write(&w, &mut rr, &mut next);
        }
        w.execute_batch("COMMIT").unwrap();
        // Reader still sees its snapshot, query after query.
        assert_eq!(snapshot(&r), before);
    }
    r.execute_batch("COMMIT").unwrap();
    // A new read transaction sees the writer's state.
    assert_eq!(snapshot(&r), snapshot(&w));
    drop((w, r));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_statements_give_identical_shadow_tables() {
    // Determinism: two databases fed the same statements hold byte-identical shadow tables.
    let run = || {
        let c = conn();
        setup(&c, 150, 9);
        let mut r = rng(10);
        let mut next = 150;
        for _ in 0..200 {
            random_write(&c, &mut r, &mut next);
        }
        snapshot(&c)[5..].to_vec()
    };
    assert_eq!(run(), run());
}
