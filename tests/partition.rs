//! Partition keys (`user_id integer partition key`) and `chunk_size=`: KNN within partitions
//! equals brute force for every operator, chunks hold one partition, a query pinning the
//! partition reads only its chunks, UPDATE of a key moves the row, 'optimize' compacts within
//! partitions, ROLLBACK and ROLLBACK TO restore everything, the integrity check catches rows in
//! the wrong chunk, progress of long commands is visible from another connection.

mod common;
use common::*;
use rand::RngExt;
use rusqlite::{Connection, params};

const DIMS: usize = 8;
const Q: &str = "'[1,0,1,0,1,0,1,0]'";

fn table(c: &Connection, extra: &str) {
    c.execute_batch(&format!(
        "CREATE VIRTUAL TABLE t USING vindex(v float[8], user_id integer partition key, \
         org text partition key, cat integer, +note text{extra})"
    ))
    .unwrap();
}

/// Rows with keys drawn from small sets (NULL included) so partitions have several chunks.
fn fill(c: &Connection, n: i64, seed: u64) {
    let mut r = rng(seed);
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=n {
        let v = small_int_vec(&mut r, DIMS, -4, 4);
        let user: Option<i64> = if r.random_range(0..10) == 0 { None } else { Some(r.random_range(0..6)) };
        let org: Option<&str> = [Some("a"), Some("b"), Some("A"), None][r.random_range(0..4)];
        c.execute(
            "INSERT INTO t(rowid, v, user_id, org, cat, note) VALUES (?, ?, ?, ?, ?, ?)",
            params![i, f32_blob(&v), user, org, i % 3, format!("row {i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn check(c: &Connection) {
    c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).unwrap();
}

/// Every chunk holds rows of one partition, and its key columns say which.
fn assert_one_partition_per_chunk(c: &Connection) {
    let bad: i64 = c
        .query_row(
            "SELECT count(*) FROM t_rows r JOIN t_chunks k ON k.id = r.chunk \
             WHERE NOT (r.m00 IS k.p00 AND r.m01 IS k.p01)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0);
}

fn knn_vs_brute(c: &Connection, filter: &str, k: usize) {
    let knn = dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = {k} AND {filter}"));
    // In a scan, `distance` is NULL: the oracle spells the distance out.
    let scan_filter = filter.replace("distance", &format!("vec_distance_l2(v, {Q})"));
    let brute = dump(
        c,
        &format!("SELECT rowid, vec_distance_l2(v, {Q}) AS d FROM t WHERE {scan_filter} ORDER BY d, rowid LIMIT {k}"),
    );
    assert_eq!(knn, brute, "filter {filter}");
    // The same through ORDER BY ... LIMIT (the lazy cursor).
    let lazy =
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND {filter} ORDER BY distance LIMIT {k}"));
    assert_eq!(lazy, brute, "lazy, filter {filter}");
}

const FILTERS: &[&str] = &[
    "user_id = 3",
    "user_id = 3 AND org = 'a'",
    "user_id IS NULL",
    "org IS NULL AND user_id = 1",
    "user_id IN (1, 4)",
    "user_id IN (1, 4) AND org IN ('b', 'A')",
    "user_id != 2",
    "user_id > 3",
    "user_id <= 1 AND org >= 'a'",
    "org = 'a' COLLATE NOCASE",
    "org LIKE 'a'",
    "org GLOB 'A'",
    "user_id IS NOT NULL",
    "user_id = 99",
    "user_id = '3'",
    "user_id = 3 AND cat = 1",
    "user_id = 3 AND rowid IN (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)",
    "user_id = 2 AND distance < 6",
];

#[test]
fn knn_within_partitions_equals_brute_force() {
    let c = conn();
    table(&c, ", chunk_size=8");
    fill(&c, 600, 1);
    check(&c);
    assert_one_partition_per_chunk(&c);
    for f in FILTERS {
        for k in [1, 5, 40, 1000] {
            knn_vs_brute(&c, f, k);
        }
    }
    // Partition keys read back like metadata, NULLs included.
    let n: i64 = c.query_row("SELECT count(*) FROM t WHERE user_id IS NULL", [], |r| r.get(0)).unwrap();
    assert!(n > 0);
    assert_eq!(
        dump(&c, "SELECT rowid, user_id, org, cat, note FROM t WHERE rowid IN (1, 2, 3) ORDER BY rowid"),
        dump(
            &c,
            "SELECT rowid, m00, m01, m02, (SELECT a00 FROM t_aux a WHERE a.rowid = r.rowid) FROM t_rows r WHERE rowid IN (1, 2, 3) ORDER BY rowid"
        )
    );
    // vindex_status counts partitions.
    let parts: i64 = c.query_row("SELECT partitions FROM vindex_status", [], |r| r.get(0)).unwrap();
    let want: i64 =
        c.query_row("SELECT count(*) FROM (SELECT DISTINCT user_id, org FROM t)", [], |r| r.get(0)).unwrap();
    assert_eq!(parts, want);
}

#[test]
fn explain_shows_the_partition_keys() {
    let c = conn();
    table(&c, "");
    let plan: String = c
        .query_row(
            &format!("EXPLAIN QUERY PLAN SELECT rowid FROM t WHERE v MATCH {Q} AND k = 3 AND user_id = 1 AND cat = 2"),
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("partition=user_id filter=cat"), "{plan}");
}

#[test]
fn a_partition_query_reads_only_its_partitions_chunks() {
    let c = conn();
    c.execute_batch("CREATE VIRTUAL TABLE t USING vindex(v float[8], user_id integer partition key, chunk_size=8)")
        .unwrap();
    let mut r = rng(7);
    for i in 1..=200i64 {
        let v = f32_blob(&small_int_vec(&mut r, DIMS, -4, 4));
        c.execute("INSERT INTO t(rowid, v, user_id) VALUES (?, ?, ?)", params![i, v, i % 4]).unwrap();
    }
    // Ruin the vectors of every chunk of user 3 (deleting their rows): a query that read them fails.
    let victims: Vec<i64> = c
        .prepare("SELECT id FROM t_chunks WHERE p00 = 3")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(victims.len(), 50 / 8 + 1);
    for id in &victims {
        c.execute("DELETE FROM t_vectors WHERE id = ?", [id * 16]).unwrap();
        c.execute("DELETE FROM t_codes WHERE id = ?", [id * 16]).unwrap();
    }
    // Nothing cached: every chunk a search touches comes from the pages.
    c.execute_batch("SELECT vindex_cache_limit(0)").unwrap();
    for u in 0..3 {
        let got = knn(&c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = 5 AND user_id = ?"), [u]);
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|(id, _)| id % 4 == u), "{got:?}");
    }
    let e =
        err_of(c.query_row(&format!("SELECT count(*) FROM t WHERE v MATCH {Q} AND k = 5 AND user_id = 3"), [], |r| {
            r.get::<_, i64>(0)
        }));
    assert!(e.contains("missing"), "{e}");
    // ... and so does a query over all rows.
    assert!(
        c.query_row(&format!("SELECT count(*) FROM t WHERE v MATCH {Q} AND k = 5"), [], |r| r.get::<_, i64>(0))
            .is_err()
    );
    c.execute_batch("SELECT vindex_cache_limit(1073741824)").unwrap();
}

#[test]
fn update_of_a_partition_key_moves_the_row() {
    let c = conn();
    table(&c, ", chunk_size=8");
    fill(&c, 300, 2);
    let before = dump(&c, "SELECT rowid, vec_to_json(v), cat, note FROM t WHERE rowid = 17");
    let loc_before: (i64, i64) =
        c.query_row("SELECT chunk, slot FROM t_rows WHERE rowid = 17", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    c.execute("UPDATE t SET user_id = 42, org = 'z' WHERE rowid = 17", []).unwrap();
    check(&c);
    assert_one_partition_per_chunk(&c);
    assert_eq!(dump(&c, "SELECT rowid, vec_to_json(v), cat, note FROM t WHERE rowid = 17"), before);
    let (chunk, _): (i64, i64) =
        c.query_row("SELECT chunk, slot FROM t_rows WHERE rowid = 17", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_ne!(chunk, loc_before.0);
    assert_eq!(
        c.query_row("SELECT p00, p01 FROM t_chunks WHERE id = ?", [chunk], |r| Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?
        )))
        .unwrap(),
        (42, "z".to_string())
    );
    let got = knn(&c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = 5 AND user_id = 42"), []);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![17]);
    // Changing the vector, the rowid and the key at once; a key set to its own value moves nothing.
    c.execute("UPDATE t SET user_id = 1, org = 'a', v = '[9,9,9,9,9,9,9,9]', rowid = 1017 WHERE rowid = 17", [])
        .unwrap();
    assert_eq!(
        dump(&c, "SELECT rowid, vec_to_json(v), user_id, org, cat, note FROM t WHERE rowid = 1017"),
        vec![vec![
            "1017".to_string(),
            "'[9.000000,9.000000,9.000000,9.000000,9.000000,9.000000,9.000000,9.000000]'".into(),
            "1".into(),
            "'a'".into(),
            "2".into(),
            "'row 17'".into()
        ]]
    );
    let at: (i64, i64) =
        c.query_row("SELECT chunk, slot FROM t_rows WHERE rowid = 1017", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    c.execute("UPDATE t SET user_id = 1, cat = 0 WHERE rowid = 1017", []).unwrap();
    let again: (i64, i64) =
        c.query_row("SELECT chunk, slot FROM t_rows WHERE rowid = 1017", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(at, again);
    // Moving every row of a partition elsewhere empties (and drops) its chunks.
    c.execute("UPDATE t SET user_id = 5 WHERE user_id = 0", []).unwrap();
    check(&c);
    assert_one_partition_per_chunk(&c);
    let left: i64 = c.query_row("SELECT count(*) FROM t_chunks WHERE p00 = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    for f in FILTERS {
        knn_vs_brute(&c, f, 7);
    }
}

#[test]
fn bad_partition_values_write_nothing() {
    let c = conn();
    table(&c, "");
    fill(&c, 50, 3);
    let before = dump(&c, "SELECT * FROM t_chunks ORDER BY id");
    let e = err_of(c.execute("INSERT INTO t(v, user_id) VALUES ('[1,2,3,4,5,6,7,8]', 'abc')", []));
    assert!(e.contains("user_id"), "{e}");
    let e = err_of(c.execute("INSERT INTO t(v, org) VALUES ('[1,2,3,4,5,6,7,8]', x'00')", []));
    assert!(e.contains("org"), "{e}");
    let e = err_of(c.execute("UPDATE t SET user_id = 1.5 WHERE rowid = 3", []));
    assert!(e.contains("user_id"), "{e}");
    assert_eq!(dump(&c, "SELECT * FROM t_chunks ORDER BY id"), before);
    // Values are stored as a STRICT table would: '7' is the integer 7, the same partition.
    c.execute("INSERT INTO t(rowid, v, user_id) VALUES (1000, '[1,2,3,4,5,6,7,8]', '7')", []).unwrap();
    c.execute("INSERT INTO t(rowid, v, user_id) VALUES (1001, '[1,2,3,4,5,6,7,8]', 7)", []).unwrap();
    let chunks: i64 =
        c.query_row("SELECT count(DISTINCT chunk) FROM t_rows WHERE rowid IN (1000, 1001)", [], |r| r.get(0)).unwrap();
    assert_eq!(chunks, 1);
    check(&c);
}

#[test]
fn optimize_compacts_within_partitions_and_is_deterministic() {
    let run = || {
        let c = conn();
        table(&c, ", chunk_size=8");
        fill(&c, 500, 4);
        c.execute("DELETE FROM t WHERE rowid % 3 = 0 OR rowid % 7 = 0", []).unwrap();
        c.execute("INSERT INTO t(t) VALUES ('optimize')", []).unwrap();
        check(&c);
        assert_one_partition_per_chunk(&c);
        // Per partition, every chunk but the last is full.
        let not_full: i64 = c
            .query_row(
                "SELECT count(*) FROM t_chunks k WHERE used < 8 AND id != \
                 (SELECT max(id) FROM t_chunks j WHERE j.p00 IS k.p00 AND j.p01 IS k.p01)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(not_full, 0);
        for f in FILTERS {
            knn_vs_brute(&c, f, 9);
        }
        (
            dump(&c, "SELECT * FROM t_rows ORDER BY rowid"),
            dump(&c, "SELECT * FROM t_chunks ORDER BY id"),
            dump(&c, "SELECT * FROM t_vectors ORDER BY id"),
            dump(&c, "SELECT * FROM t_codes ORDER BY id"),
        )
    };
    assert_eq!(run(), run());
}

fn snapshot(c: &Connection) -> Vec<Vec<Vec<String>>> {
    vec![
        dump(c, "SELECT rowid, vec_to_json(v), user_id, org, cat, note FROM t ORDER BY rowid"),
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = 20 AND user_id = 2")),
        dump(
            c,
            &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = 20 AND user_id IN (1, 3) AND org = 'a'"),
        ),
        dump(c, &format!("SELECT rowid, distance FROM t WHERE v MATCH {Q} AND k = 20")),
        dump(c, "SELECT rows, free_slots, chunks, partitions FROM vindex_status"),
        dump(c, "SELECT * FROM t_rows ORDER BY rowid"),
        dump(c, "SELECT * FROM t_chunks ORDER BY id"),
        dump(c, "SELECT * FROM t_vectors ORDER BY id"),
        dump(c, "SELECT * FROM t_codes ORDER BY id"),
        dump(c, "SELECT * FROM t_aux ORDER BY rowid"),
    ]
}

fn random_write(c: &Connection, r: &mut rand::rngs::StdRng, next: &mut i64) {
    let v = f32_blob(&small_int_vec(r, DIMS, -4, 4));
    let target = r.random_range(1..=*next);
    let user: Option<i64> = if r.random_range(0..8) == 0 { None } else { Some(r.random_range(0..5)) };
    let org = ["a", "b"][r.random_range(0..2)];
    let res = match r.random_range(0..9) {
        0 | 1 => {
            *next += 1;
            c.execute(
                "INSERT INTO t(rowid, v, user_id, org, cat, note) VALUES (?, ?, ?, ?, 1, 'new')",
                params![*next, v, user, org],
            )
        }
        2 => c.execute("UPDATE t SET v = ? WHERE rowid = ?", params![v, target]),
        3 => c.execute("UPDATE t SET user_id = ?, note = 'moved' WHERE rowid = ?", params![user, target]),
        4 => c.execute("UPDATE t SET org = ?, user_id = ?, cat = 2 WHERE rowid = ?", params![org, user, target]),
        5 => c.execute("DELETE FROM t WHERE rowid = ?", [target]),
        6 => c.execute(
            "INSERT OR REPLACE INTO t(rowid, v, user_id, org) VALUES (?, ?, ?, ?)",
            params![target, v, user, org],
        ),
        7 => {
            *next += 1;
            c.execute("UPDATE OR IGNORE t SET rowid = ?, user_id = ? WHERE rowid = ?", params![*next, user, target])
        }
        _ => c.execute("INSERT INTO t(t) VALUES ('optimize')", []),
    };
    res.unwrap();
}

#[test]
fn rollback_and_savepoints_restore_partitioned_tables() {
    let c = conn();
    table(&c, ", chunk_size=8");
    fill(&c, 200, 5);
    let mut r = rng(6);
    let mut next = 200;
    for round in 0..12 {
        let before = snapshot(&c);
        c.execute_batch("BEGIN").unwrap();
        for _ in 0..r.random_range(1..30) {
            random_write(&c, &mut r, &mut next);
        }
        let _ = snapshot(&c);
        c.execute_batch("ROLLBACK").unwrap();
        assert_eq!(snapshot(&c), before, "round {round}");
        check(&c);

        c.execute_batch("BEGIN").unwrap();
        random_write(&c, &mut r, &mut next);
        let outer = snapshot(&c);
        c.execute_batch("SAVEPOINT a").unwrap();
        for _ in 0..r.random_range(1..20) {
            random_write(&c, &mut r, &mut next);
        }
        c.execute_batch("ROLLBACK TO a; RELEASE a").unwrap();
        assert_eq!(snapshot(&c), outer, "round {round}: rollback to a");
        for _ in 0..5 {
            random_write(&c, &mut r, &mut next);
        }
        c.execute_batch("COMMIT").unwrap();
        check(&c);
        assert_one_partition_per_chunk(&c);
    }
}

#[test]
fn a_failing_write_inside_begin_leaves_nothing_behind() {
    // Every step of an INSERT into a new chunk, of a partition move and of a DELETE that drops
    // a chunk fails in turn ('debug-fail-after=N'): the table stays as it was.
    let c = conn();
    table(&c, ", chunk_size=8");
    fill(&c, 60, 8);
    for stmt in [
        "INSERT INTO t(rowid, v, user_id, org) VALUES (5000, '[1,1,1,1,1,1,1,1]', 77, 'new')",
        "UPDATE t SET user_id = 78, org = 'x' WHERE rowid = 10",
        "DELETE FROM t WHERE rowid = 11",
    ] {
        for n in 1..40 {
            c.execute_batch("BEGIN").unwrap();
            let before = snapshot(&c);
            c.execute("INSERT INTO t(t) VALUES (?)", [format!("debug-fail-after={n}")]).unwrap();
            let failed = c.execute(stmt, []).is_err();
            c.execute("INSERT INTO t(t) VALUES ('debug-fail-after=0')", []).unwrap();
            if failed {
                assert_eq!(snapshot(&c), before, "{stmt}: failing write {n}");
                check(&c);
            }
            c.execute_batch("ROLLBACK").unwrap();
            if !failed {
                break;
            }
        }
    }
}

#[test]
fn integrity_check_finds_rows_in_another_partitions_chunk() {
    let c = conn();
    table(&c, ", chunk_size=8");
    fill(&c, 100, 9);
    c.execute("UPDATE t_rows SET m00 = 12345 WHERE rowid = 4", []).unwrap();
    let e = err_of(c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []));
    assert!(e.contains("row 4 has partition key values other than its chunk"), "{e}");
    c.execute("UPDATE t_rows SET m00 = (SELECT p00 FROM t_chunks WHERE id = chunk) WHERE rowid = 4", []).unwrap();
    check(&c);
    c.execute("UPDATE t_chunks SET p01 = x'01' WHERE id = 1", []).unwrap();
    let e = err_of(c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []));
    assert!(e.contains("partition key org (p01) of chunks [1] is not TEXT"), "{e}");
}

#[test]
fn chunk_size_sets_the_capacity() {
    let c = conn();
    for (n, cap) in [(8, 8), (96, 64), (1024, 1024), (4096, 1024), (24, 16)] {
        c.execute_batch(&format!("CREATE VIRTUAL TABLE c{n} USING vindex(v float[4], chunk_size={n})")).unwrap();
        c.execute(&format!("INSERT INTO c{n}(v) VALUES ('[1,2,3,4]')"), []).unwrap();
        let got: i64 = c
            .query_row("SELECT chunk_capacity FROM vindex_status WHERE table_name = ?", [format!("c{n}")], |r| r.get(0))
            .unwrap();
        assert_eq!(got, cap, "chunk_size={n}");
        let len: i64 = c.query_row(&format!("SELECT length(validity) FROM c{n}_chunks"), [], |r| r.get(0)).unwrap();
        assert_eq!(len, cap / 8);
    }
    for (args, needle) in [
        ("v float[4], chunk_size=7", "positive multiple of 8"),
        ("v float[4], chunk_size=0", "positive multiple of 8"),
        ("v float[4], chunk_size=8192", "up to 4096"),
        ("v float[65536], chunk_size=1024", "at most 64 MiB"),
    ] {
        let e = err_of(c.execute_batch(&format!("CREATE VIRTUAL TABLE bad USING vindex({args})")));
        assert!(e.contains(needle), "{args}: {e}");
    }
    let n: i64 = c.query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'bad%'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn hnsw_tables_with_partition_keys() {
    let c = conn();
    c.execute_batch(
        "CREATE VIRTUAL TABLE t USING vindex(v float[16] distance=cosine, user_id integer partition key, index=hnsw)",
    )
    .unwrap();
    let data = clustered(3000, 16, 20, 11);
    let tx = c.unchecked_transaction().unwrap();
    for (i, v) in data.iter().enumerate() {
        c.execute(
            "INSERT INTO t(rowid, v, user_id) VALUES (?, ?, ?)",
            params![i as i64 + 1, f32_blob(v), (i % 50) as i64],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    check(&c);
    let queries = clustered(20, 16, 20, 12);
    for (qi, q) in queries.iter().enumerate() {
        for (filter, users) in [
            ("user_id = 7", vec![7]),
            (
                "user_id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)",
                (1..=30).collect::<Vec<i64>>(),
            ),
        ] {
            let rows: Vec<(i64, Vec<f32>)> = data
                .iter()
                .enumerate()
                .filter(|(i, _)| users.contains(&((*i % 50) as i64)))
                .map(|(i, v)| (i as i64 + 1, v.clone()))
                .collect();
            let want = brute_force(&rows, q, 10, cosine);
            let got = knn(
                &c,
                &format!("SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10 AND {filter}"),
                [f32_blob(q)],
            );
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|(id, _)| users.contains(&((id - 1) % 50))), "query {qi} {filter}");
            let ids: Vec<i64> = got.iter().map(|x| x.0).collect();
            assert!(overlap(&ids, &want) >= 0.8, "query {qi} {filter}: {ids:?} vs {want:?}");
        }
    }
    c.execute("UPDATE t SET user_id = 49 WHERE rowid % 10 = 0", []).unwrap();
    c.execute("DELETE FROM t WHERE rowid % 7 = 0", []).unwrap();
    c.execute("INSERT INTO t(t) VALUES ('optimize')", []).unwrap();
    check(&c);
    c.execute("INSERT INTO t(t) VALUES ('rebuild')", []).unwrap();
    check(&c);
}

#[test]
fn progress_of_optimize_and_rebuild_is_visible_from_another_connection() {
    let dir = std::env::temp_dir().join(format!("vindex-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.db");
    let _ = std::fs::remove_file(&path);
    let a = conn_file(&path);
    a.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    table(&a, ", chunk_size=8");
    fill(&a, 3000, 10);
    a.execute("DELETE FROM t WHERE rowid % 2 = 0", []).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, f64)>::new()));
    let b = conn_file(&path);
    b.query_row("SELECT count(*) FROM vindex_status", [], |r| r.get::<_, i64>(0)).unwrap();
    let s2 = seen.clone();
    let watcher = std::sync::Mutex::new(b);
    a.progress_handler(
        200,
        Some(move || {
            let b = watcher.lock().unwrap();
            if let Ok((task, p)) = b.query_row("SELECT task, task_progress FROM vindex_status", [], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<f64>>(1)?))
            }) && let (Some(t), Some(p)) = (task, p)
            {
                s2.lock().unwrap().push((t, p));
            }
            false
        }),
    )
    .unwrap();
    a.execute("INSERT INTO t(t) VALUES ('optimize')", []).unwrap();
    let opt: Vec<(String, f64)> = std::mem::take(&mut *seen.lock().unwrap());
    a.execute("INSERT INTO t(t) VALUES ('rebuild')", []).unwrap();
    let reb: Vec<(String, f64)> = std::mem::take(&mut *seen.lock().unwrap());
    a.progress_handler(0, None::<fn() -> bool>).unwrap();
    for (what, v) in [("optimize", &opt), ("rebuild", &reb)] {
        assert!(v.len() > 5, "{what}: {v:?}");
        assert!(v.iter().all(|(t, _)| t == what), "{what}: {v:?}");
        assert!(v.windows(2).all(|w| w[0].1 <= w[1].1), "{what}: not monotone {v:?}");
        assert!(v.iter().all(|(_, p)| (0.0..=1.0).contains(p)), "{what}: {v:?}");
        assert!(v.last().unwrap().1 > 0.5, "{what}: {v:?}");
    }
    let after: (Option<String>, Option<f64>) =
        a.query_row("SELECT task, task_progress FROM vindex_status", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(after, (None, None));
    check(&a);
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}
