//! Writes: INSERT (JSON/blob, auto rowid), UPDATE of every kind of column and of rowid, DELETE,
//! OR REPLACE / OR IGNORE, primary keys, errors that write nothing, DDL and VACUUM.

mod common;
use common::*;
use rusqlite::params;

fn setup() -> rusqlite::Connection {
    let c = conn();
    c.execute_batch(
        "CREATE VIRTUAL TABLE docs USING vindex(embedding float[3] distance=cosine, category text, year integer, score float, +body text)",
    )
    .unwrap();
    c
}

fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn check(c: &rusqlite::Connection, t: &str) {
    c.execute(&format!("INSERT INTO {t}({t}) VALUES ('integrity-check')"), []).unwrap();
}

#[test]
fn insert_forms_and_point_lookups() {
    let c = setup();
    c.execute("INSERT INTO docs(rowid, embedding, category, year, body) VALUES (10, '[1,0,0]', 'a', 2020, 'ten')", [])
        .unwrap();
    c.execute("INSERT INTO docs(embedding, category) VALUES (?, 'b')", [f32_blob(&[0.0, 1.0, 0.0])]).unwrap();
    assert_eq!(c.last_insert_rowid(), 11);
    c.execute("INSERT INTO docs(embedding) VALUES (vec_f32('[0,0,1]'))", []).unwrap();
    assert_eq!(c.last_insert_rowid(), 12);
    let row: (String, Option<String>, Option<i64>, Option<String>) = c
        .query_row("SELECT vec_to_json(embedding), category, year, body FROM docs WHERE rowid = 10", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(row, ("[1.000000,0.000000,0.000000]".into(), Some("a".into()), Some(2020), Some("ten".into())));
    assert_eq!(count(&c, "SELECT count(*) FROM docs"), 3);
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE rowid = 99"), 0);
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE category = 'b'"), 1);
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE category IS NULL"), 1);
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE rowid IN (10, 12, 99)"), 2);
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE year > 2000 OR body = 'x'"), 1);
    check(&c, "docs");
}

#[test]
fn update_every_kind_of_column_and_rowid() {
    let c = setup();
    c.execute(
        "INSERT INTO docs(rowid, embedding, category, year, score, body) VALUES (1, '[1,0,0]', 'a', 1, 0.5, 'x')",
        [],
    )
    .unwrap();
    c.execute("INSERT INTO docs(rowid, embedding, category) VALUES (2, '[0,1,0]', 'b')", []).unwrap();
    c.execute("UPDATE docs SET category = 'z', year = 7 WHERE rowid = 1", []).unwrap();
    c.execute("UPDATE docs SET body = 'new body' WHERE rowid = 1", []).unwrap();
    c.execute("UPDATE docs SET embedding = '[0,0,1]' WHERE rowid = 1", []).unwrap();
    let d = dump(&c, "SELECT rowid, vec_to_json(embedding), category, year, score, body FROM docs ORDER BY rowid");
    assert_eq!(d[0], vec!["1", "'[0.000000,0.000000,1.000000]'", "'z'", "7", "0.5", "'new body'"]);
    // KNN sees the new vector.
    let got = knn(&c, "SELECT rowid, distance FROM docs WHERE embedding MATCH '[0,0,1]' AND k = 1", []);
    assert_eq!(got[0].0, 1);
    // rowid change keeps everything else.
    c.execute("UPDATE docs SET rowid = 100 WHERE rowid = 1", []).unwrap();
    let d = dump(&c, "SELECT rowid, vec_to_json(embedding), category, year, score, body FROM docs ORDER BY rowid");
    assert_eq!(d[1], vec!["100", "'[0.000000,0.000000,1.000000]'", "'z'", "7", "0.5", "'new body'"]);
    let got = knn(&c, "SELECT rowid, distance FROM docs WHERE embedding MATCH '[0,0,1]' AND k = 1", []);
    assert_eq!(got[0].0, 100);
    // rowid change onto an existing row is a conflict; OR REPLACE replaces it.
    let e = err_of(c.execute("UPDATE docs SET rowid = 2 WHERE rowid = 100", []));
    assert!(e.contains("UNIQUE constraint failed: docs.rowid"), "{e}");
    c.execute("UPDATE OR REPLACE docs SET rowid = 2 WHERE rowid = 100", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM docs"), 1);
    assert_eq!(count(&c, "SELECT year FROM docs WHERE rowid = 2"), 7);
    // Setting metadata to NULL.
    c.execute("UPDATE docs SET category = NULL WHERE rowid = 2", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM docs WHERE category IS NULL"), 1);
    check(&c, "docs");
}

#[test]
fn delete_reclaims_and_reuses_space() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[4])").unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=3000 {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, f32_blob(&[i as f32, 0.0, 0.0, 1.0])]).unwrap();
    }
    tx.commit().unwrap();
    let chunks0: i64 = count(&c, "SELECT count(*) FROM t_chunks");
    c.execute("DELETE FROM t WHERE rowid % 2 = 0", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t"), 1500);
    assert!(count(&c, "SELECT free_slots FROM vindex_status") > 0);
    // New rows reuse the holes: no new chunks.
    for i in 5000..5500 {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, f32_blob(&[1.0, 2.0, 3.0, 4.0])]).unwrap();
    }
    assert_eq!(count(&c, "SELECT count(*) FROM t_chunks"), chunks0);
    // Deleting everything drops every chunk.
    c.execute("DELETE FROM t", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t_chunks"), 0);
    assert_eq!(count(&c, "SELECT count(*) FROM t_vectors"), 0);
    check(&c, "t");
}

#[test]
fn optimize_compacts_chunks() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[256])").unwrap();
    let cap: i64 = count(&c, "SELECT chunk_capacity FROM vindex_status");
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=(cap * 4) {
        c.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", params![i, f32_blob(&vec![i as f32; 256])]).unwrap();
    }
    tx.commit().unwrap();
    c.execute("DELETE FROM t WHERE rowid % 3 != 0", []).unwrap();
    let before = dump(&c, "SELECT rowid, distance FROM t WHERE v MATCH vec_f32(zeroblob(1024)) AND k = 1000");
    c.execute("INSERT INTO t(t) VALUES ('optimize')", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t_chunks"), (cap * 4 / 3 + cap - 1) / cap);
    assert_eq!(dump(&c, "SELECT rowid, distance FROM t WHERE v MATCH vec_f32(zeroblob(1024)) AND k = 1000"), before);
    check(&c, "t");
}

#[test]
fn insert_or_replace_and_or_ignore() {
    let c = setup();
    c.execute("INSERT INTO docs(rowid, embedding, category) VALUES (1, '[1,0,0]', 'a')", []).unwrap();
    let e = err_of(c.execute("INSERT INTO docs(rowid, embedding, category) VALUES (1, '[0,1,0]', 'b')", []));
    assert!(e.contains("UNIQUE constraint failed: docs.rowid"), "{e}");
    c.execute("INSERT OR IGNORE INTO docs(rowid, embedding, category) VALUES (1, '[0,1,0]', 'b')", []).unwrap();
    assert_eq!(dump(&c, "SELECT category FROM docs"), vec![vec!["'a'"]]);
    c.execute("INSERT OR REPLACE INTO docs(rowid, embedding, category) VALUES (1, '[0,1,0]', 'b')", []).unwrap();
    assert_eq!(
        dump(&c, "SELECT category, vec_to_json(embedding) FROM docs"),
        vec![vec!["'b'", "'[0.000000,1.000000,0.000000]'"]]
    );
    // OR IGNORE does not ignore a bad vector.
    let e = err_of(c.execute("INSERT OR IGNORE INTO docs(rowid, embedding) VALUES (2, '[1,2]')", []));
    assert!(e.contains("dimensions"), "{e}");
    check(&c, "docs");
}

#[test]
fn primary_keys() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE p USING vindex(id integer primary key, v float[2])").unwrap();
    c.execute("INSERT INTO p(id, v) VALUES (42, '[1,2]')", []).unwrap();
    assert_eq!(count(&c, "SELECT rowid FROM p WHERE id = 42"), 42);
    assert_eq!(count(&c, "SELECT id FROM p"), 42);
    c.execute("UPDATE p SET id = 43 WHERE id = 42", []).unwrap();
    assert_eq!(count(&c, "SELECT rowid FROM p"), 43);

    c.execute_batch("CREATE VIRTUAL TABLE s USING vindex(name text primary key, v float[2])").unwrap();
    c.execute("INSERT INTO s(name, v) VALUES ('alpha', '[1,0]'), ('beta', '[0,1]')", []).unwrap();
    let e = err_of(c.execute("INSERT INTO s(name, v) VALUES ('alpha', '[1,1]')", []));
    assert!(e.contains("UNIQUE constraint failed: s.name"), "{e}");
    c.execute("INSERT OR REPLACE INTO s(name, v) VALUES ('alpha', '[1,1]')", []).unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM s"), 2);
    assert_eq!(dump(&c, "SELECT vec_to_json(v) FROM s WHERE name = 'alpha'"), vec![vec!["'[1.000000,1.000000]'"]]);
    let e = err_of(c.execute("INSERT INTO s(v) VALUES ('[1,1]')", []));
    assert!(e.contains("must not be NULL"), "{e}");
    let got: Vec<String> = c
        .prepare("SELECT name FROM s WHERE v MATCH '[0,1]' AND k = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, vec!["beta"]);
    check(&c, "s");
}

#[test]
fn bad_writes_leave_nothing_behind() {
    let c = setup();
    c.execute("INSERT INTO docs(rowid, embedding, category, year) VALUES (1, '[1,0,0]', 'a', 1)", []).unwrap();
    let before = dump(&c, "SELECT rowid, vec_to_json(embedding), category, year, score, body FROM docs");
    let shadow_before = dump(&c, "SELECT * FROM docs_rows");
    for (sql, needle) in [
        ("INSERT INTO docs(embedding) VALUES ('[1,2]')", "expected 3 dimensions"),
        ("INSERT INTO docs(embedding) VALUES (NULL)", "NULL"),
        ("INSERT INTO docs(embedding) VALUES ('[0,0,0]')", "zero vector"),
        ("INSERT INTO docs(embedding) VALUES ('[1,2,')", "invalid JSON"),
        ("INSERT INTO docs(embedding) VALUES (x'0000')", "blob of 2 bytes"),
        ("INSERT INTO docs(embedding) VALUES (vec_int8('[1,2,3]'))", "int8"),
        ("INSERT INTO docs(embedding, year) VALUES ('[1,2,3]', 'abc')", "INTEGER column docs.year"),
        ("INSERT INTO docs(embedding, score) VALUES ('[1,2,3]', x'00')", "REAL column docs.score"),
        ("INSERT INTO docs(embedding, distance) VALUES ('[1,2,3]', 1.0)", "query-only"),
        ("INSERT INTO docs(rowid, embedding) VALUES ('x', '[1,2,3]')", "datatype mismatch"),
        ("UPDATE docs SET embedding = '[1,2]' WHERE rowid = 1", "expected 3 dimensions"),
        ("UPDATE docs SET embedding = NULL WHERE rowid = 1", "NULL"),
        ("UPDATE docs SET year = 'abc' WHERE rowid = 1", "INTEGER"),
        ("INSERT INTO docs(docs) VALUES ('frobnicate')", "unknown command"),
    ] {
        let e = err_of(c.execute(sql, []));
        assert!(e.contains(needle), "{sql}: {e}");
        // Inside a transaction too: the statement fails, the transaction goes on, nothing written.
        c.execute_batch("BEGIN").unwrap();
        let e = err_of(c.execute(sql, []));
        assert!(e.contains(needle), "{sql}: {e}");
        c.execute_batch("COMMIT").unwrap();
    }
    // A multi-row insert whose last row is bad writes none of its rows.
    let e = err_of(c.execute("INSERT INTO docs(rowid, embedding) VALUES (5, '[1,1,1]'), (6, '[1,1]')", []));
    assert!(e.contains("dimensions"), "{e}");
    assert_eq!(dump(&c, "SELECT rowid, vec_to_json(embedding), category, year, score, body FROM docs"), before);
    assert_eq!(dump(&c, "SELECT * FROM docs_rows"), shadow_before);
    check(&c, "docs");
}

#[test]
fn create_errors_create_nothing() {
    let c = conn();
    for (sql, needle) in [
        ("CREATE VIRTUAL TABLE x USING vindex(c text)", "at least one vector column"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[0])", "out of range"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[3] distance=hamming)", "does not apply"),
        ("CREATE VIRTUAL TABLE x USING vindex(v bit[8] distance=l2)", "does not apply"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[3], nonsense=1)", "unknown table option"),
        ("CREATE VIRTUAL TABLE x USING vindex(v bit[8], index=ivf)", "index=ivf serves"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[3], index=hnsw(m=0))", "m must be"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[3], k integer)", "reserved"),
        ("CREATE VIRTUAL TABLE x USING vindex(v float[3], c wobble)", "unknown type"),
    ] {
        let e = err_of(c.execute_batch(sql));
        assert!(e.contains(needle), "{sql}: {e}");
        assert_eq!(count(&c, "SELECT count(*) FROM sqlite_schema"), 0, "{sql} left tables behind");
    }
}

#[test]
fn drop_rename_attach_vacuum() {
    let dir = std::env::temp_dir().join(format!("vindex-ddl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let main = dir.join("main.db");
    let other = dir.join("other.db");
    let _ = std::fs::remove_file(&main);
    let _ = std::fs::remove_file(&other);
    let c = conn_file(&main);
    c.execute_batch(&format!("ATTACH '{}' AS aux1", other.display())).unwrap();
    c.execute_batch("CREATE VIRTUAL TABLE aux1.t USING vindex(v float[2], c text, +b text)").unwrap();
    c.execute("INSERT INTO aux1.t(rowid, v, c, b) VALUES (1, '[1,0]', 'x', 'bee'), (2, '[0,1]', 'y', NULL)", [])
        .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM aux1.sqlite_schema WHERE name LIKE 't\\_%' ESCAPE '\\'"), 14);
    assert_eq!(count(&c, "SELECT count(*) FROM main.sqlite_schema"), 0);
    assert_eq!(knn(&c, "SELECT rowid, distance FROM aux1.t WHERE v MATCH '[0,1]' AND k = 1", [])[0].0, 2);
    c.execute_batch("ALTER TABLE aux1.t RENAME TO u").unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM aux1.sqlite_schema WHERE type = 'table' AND name LIKE 't\\_%' ESCAPE '\\'"),
        0
    );
    assert_eq!(knn(&c, "SELECT rowid, distance FROM aux1.u WHERE v MATCH '[1,0]' AND k = 1", [])[0].0, 1);
    c.execute("INSERT INTO aux1.u(rowid, v) VALUES (3, '[1,1]')", []).unwrap();
    c.execute("INSERT INTO aux1.u(u) VALUES ('integrity-check')", []).unwrap();
    c.execute_batch("VACUUM aux1").unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM aux1.u"), 3);
    c.execute_batch("DROP TABLE aux1.u").unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM aux1.sqlite_schema"), 0);
    // main database: create, fill, VACUUM, reopen.
    c.execute_batch("CREATE VIRTUAL TABLE m USING vindex(v float[2])").unwrap();
    c.execute("INSERT INTO m(rowid, v) VALUES (1, '[1,0]'), (2, '[0,1]')", []).unwrap();
    c.execute("DELETE FROM m WHERE rowid = 1", []).unwrap();
    c.execute_batch("VACUUM").unwrap();
    drop(c);
    let c = conn_file(&main);
    assert_eq!(knn(&c, "SELECT rowid, distance FROM m WHERE v MATCH '[0,1]' AND k = 5", []), vec![(2, 0.0)]);
    check(&c, "m");
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shadow_tables_are_protected_in_defensive_mode() {
    let c = setup();
    c.execute("INSERT INTO docs(rowid, embedding) VALUES (1, '[1,0,0]')", []).unwrap();
    c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true).unwrap();
    let e = err_of(c.execute("DELETE FROM docs_rows", []));
    assert!(e.contains("may not be modified"), "{e}");
    let e = err_of(c.execute("UPDATE docs_info SET value = 9", []));
    assert!(e.contains("may not be modified"), "{e}");
    // The table's own writes still work.
    c.execute("INSERT INTO docs(rowid, embedding) VALUES (2, '[0,1,0]')", []).unwrap();
    check(&c, "docs");
}

#[test]
fn integrity_check_reports_corruption_and_never_crashes() {
    let c = setup();
    for i in 1..=20 {
        c.execute("INSERT INTO docs(rowid, embedding) VALUES (?, ?)", params![i, format!("[{i}, 1, 0]")]).unwrap();
    }
    c.execute_batch("UPDATE docs_rows SET slot = 5000 WHERE rowid = 3").unwrap();
    let e = err_of(c.execute("INSERT INTO docs(docs) VALUES ('integrity-check')", []));
    assert!(e.contains("row 3") && e.contains("slot 5000"), "{e}");
    // PRAGMA integrity_check runs it too on SQLite 3.44+.
    let report: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert!(report.contains("vindex table docs"), "{report}");
    // Queries that touch the broken row fail with an error, not a crash.
    let e = err_of(c.query_row("SELECT count(*) FROM docs WHERE rowid = 3 AND vec_length(embedding) > 0", [], |r| {
        r.get::<_, i64>(0)
    }));
    assert!(e.contains("slot 5000"), "{e}");
    // Truncated chunk blobs and a missing info row.
    c.execute_batch("UPDATE docs_rows SET slot = 2 WHERE rowid = 3; UPDATE docs_vectors SET data = x'00'").unwrap();
    let e =
        err_of(c.query_row("SELECT count(*) FROM docs WHERE embedding MATCH '[1,1,1]' AND k = 3", [], |r| {
            r.get::<_, i64>(0)
        }));
    assert!(e.contains("corrupt"), "{e}");
    c.execute_batch("UPDATE docs_chunks SET validity = x'00'").unwrap();
    let e =
        err_of(c.query_row("SELECT count(*) FROM docs WHERE embedding MATCH '[1,1,1]' AND k = 3", [], |r| {
            r.get::<_, i64>(0)
        }));
    assert!(e.contains("corrupt"), "{e}");
    c.execute_batch("DELETE FROM docs_info WHERE key = 'generation'").unwrap();
    let e =
        err_of(c.query_row("SELECT count(*) FROM docs WHERE embedding MATCH '[1,1,1]' AND k = 3", [], |r| {
            r.get::<_, i64>(0)
        }));
    assert!(e.contains("generation"), "{e}");
}

#[test]
fn explain_query_plan_describes_the_plan() {
    let c = setup();
    let plan: Vec<String> = c
        .prepare("EXPLAIN QUERY PLAN SELECT rowid FROM docs WHERE embedding MATCH ?1 AND k = 10 AND category = 'news' AND year >= 2020")
        .unwrap()
        .query_map([f32_blob(&[1.0, 0.0, 0.0])], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(plan[0].contains("knn flat embedding k=10 filter=category,year"), "{plan:?}");
    let plan: String =
        c.query_row("EXPLAIN QUERY PLAN SELECT * FROM docs WHERE category = 'x'", [], |r| r.get(3)).unwrap();
    assert!(plan.contains("scan filter=category"), "{plan}");
}

#[test]
fn a_new_table_can_take_a_renamed_tables_old_name() {
    let c = conn();
    c.execute_batch(
        "CREATE VIRTUAL TABLE t USING vindex(v float[2], c text);
         INSERT INTO t(rowid, v, c) VALUES (1, '[1,0]', 'a');
         ALTER TABLE t RENAME TO u;
         CREATE VIRTUAL TABLE t USING vindex(v float[2], c text);
         INSERT INTO t(rowid, v, c) VALUES (1, '[0,1]', 'b');",
    )
    .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t WHERE c = 'b'"), 1);
    assert_eq!(count(&c, "SELECT count(*) FROM u WHERE c = 'a'"), 1);
    c.execute_batch("DROP TABLE u; DROP TABLE t;").unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM sqlite_schema"), 0);
}
