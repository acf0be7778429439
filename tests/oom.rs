//! Out-of-memory: SQLite's allocator is made to fail at the N-th allocation (N = 1, 2, ...) of
//! an insert, update, delete, query, command ('integrity-check', 'optimize', 'rebuild'),
//! CREATE, DROP or RENAME. Each attempt must end in an error (SQLITE_NOMEM or another) or in
//! success, never in a crash; and once the fault is lifted the database must pass
//! `PRAGMA integrity_check` and vindex's 'integrity-check', the table must hold either the
//! state before or the state after the failed statement, KNN must equal brute force, and the
//! same connection must go on working.
//!
//! Two kinds of fault: one-shot (only the N-th allocation fails: tests recovery) and persistent
//! (the N-th and all later ones fail until the statement ends: tests clean-up paths).
//! Each statement runs in autocommit mode and inside BEGIN ... COMMIT after another write.
//!
//! This is its own test binary (process) because the failing allocator must be installed
//! before SQLite initialises. The schedule is per thread, so the tests below run in parallel.
//!
//! `make test` (target test-oom, a release build; debug builds skip the sweeps) tries every N
//! up to 30 and then steps of about 12 % (60 to 70 points per series); `VINDEX_OOM_FULL=1` (used by `make stress`) tries every N until the statement needs
//! no more allocations.

mod common;
use common::{f32_blob, gaussian_vec, rng};
use rand::RngExt;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, params};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Once;
use vindex::ffi::fault;

const DIMS: usize = 256;
const ROWS: i64 = 170;

static INIT: Once = Once::new();

thread_local! {
    static PANICS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_panics() -> Vec<String> {
    PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

fn init() {
    INIT.call_once(|| {
        fault::install().expect("install the failing allocator");
        // vindex's trampolines catch panics (so they never crash the host), but a panic is
        // still a bug: record it for the test that ran into it.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only panics inside the library (src/...); the test's own go to the default hook.
            let in_lib = info.location().is_some_and(|l| l.file().starts_with("src/"));
            let msg = format!("{info}");
            if !in_lib || PANICS.try_with(|p| p.borrow_mut().push(msg)).is_err() {
                default_hook(info);
            }
        }));
        vindex::register_auto_extension().expect("register vindex");
    });
}

fn open(path: &Path) -> Connection {
    init();
    let c = Connection::open(path).expect("open");
    // A small page cache, so writes spill and reads allocate pages under the fault too.
    c.execute_batch("PRAGMA cache_size = 20; PRAGMA synchronous = OFF;").unwrap();
    c
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vindex-oom-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn vec_of(r: &mut rand::rngs::StdRng) -> Vec<u8> {
    f32_blob(&gaussian_vec(r, DIMS))
}

fn bits_of(r: &mut rand::rngs::StdRng) -> Vec<u8> {
    (0..8).map(|_| r.random::<u8>()).collect()
}

/// The template database: two chunks (256 float32 dimensions -> 128 slots per chunk), a
/// second vector column, metadata and auxiliary columns, and holes left by deletes so that
/// 'optimize' has rows to move.
/// `index`: what follows the columns in CREATE (empty: the flat index).
fn make_template(path: &Path, journal: &str, index: &str) {
    let c = open(path);
    c.execute_batch(&format!("PRAGMA journal_mode = {journal};")).unwrap();
    c.execute_batch(&format!(
        "CREATE VIRTUAL TABLE t USING vindex(v float[256], b bit[64], cat integer, tag text, +note text{index});
         CREATE TABLE other(x);"
    ))
    .unwrap();
    let mut r = rng(0x00e1_0001);
    let tx = c.unchecked_transaction().unwrap();
    for i in 1..=ROWS {
        c.execute(
            "INSERT INTO t(rowid, v, b, cat, tag, note) VALUES (?, ?, vec_bit(?), ?, ?, ?)",
            params![i, vec_of(&mut r), bits_of(&mut r), i % 7, format!("tag{}", i % 3), format!("note {i}")],
        )
        .unwrap();
    }
    c.execute("DELETE FROM t WHERE rowid % 5 = 0 AND rowid < 100", []).unwrap();
    tx.commit().unwrap();
}

/// A digest of everything the table returns: every row's rowid and columns.
fn contents(c: &Connection, table: &str) -> rusqlite::Result<u64> {
    let mut st = c.prepare(&format!("SELECT rowid, * FROM {table} ORDER BY rowid"))?;
    let ncol = st.column_count();
    let mut rows = st.query([])?;
    let mut h = DefaultHasher::new();
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        n += 1;
        for i in 0..ncol {
            match row.get_ref(i)? {
                ValueRef::Null => 0u8.hash(&mut h),
                ValueRef::Integer(x) => (1u8, x).hash(&mut h),
                ValueRef::Real(x) => (2u8, x.to_bits()).hash(&mut h),
                ValueRef::Text(x) => (3u8, x).hash(&mut h),
                ValueRef::Blob(x) => (4u8, x).hash(&mut h),
            }
        }
    }
    n.hash(&mut h);
    Ok(h.finish())
}

/// The state a test compares: the table's contents, or None when the table does not exist.
fn state(c: &Connection, table: &str) -> Option<u64> {
    let exists: i64 =
        c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = ?", [table], |r| r.get(0)).expect("schema");
    if exists == 0 {
        return None;
    }
    Some(contents(c, table).expect("read the table back after the fault"))
}

/// SQLite's and vindex's integrity checks, and no shadow tables without their table.
fn check_integrity(c: &Connection) -> Result<(), String> {
    let ic: Vec<String> = c
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| format!("PRAGMA integrity_check failed to run: {e}"))?;
    if ic != ["ok"] {
        return Err(format!("PRAGMA integrity_check: {ic:?}"));
    }
    // Shadow tables left behind by a failed CREATE/DROP/RENAME would be found here.
    let shadows: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB '*_*' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| e.to_string())?;
    for tab in ["t", "t2", "t3"] {
        let has_vtab: i64 = c
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = ?", [tab], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        let own: Vec<&String> =
            shadows.iter().filter(|s| s.strip_prefix(tab).is_some_and(|r| r.starts_with('_'))).collect();
        if has_vtab == 0 && !own.is_empty() {
            return Err(format!("table {tab} is gone but its shadow tables remain: {own:?}"));
        }
        if has_vtab == 1 {
            c.execute(&format!("INSERT INTO {tab}({tab}) VALUES ('integrity-check')"), [])
                .map_err(|e| format!("'integrity-check' of {tab}: {e}"))?;
        }
    }
    Ok(())
}

/// KNN equals brute force on `table` (nothing to check when it is "").
fn check_knn(c: &Connection, table: &str) -> Result<(), String> {
    if table.is_empty() {
        return Ok(());
    }
    // KNN equals brute force (vec_distance_l2 over a full scan), with and without a filter; a
    // graph is searched with ef_search above the row count, so its search is exhaustive.
    let graph: bool = c
        .query_row("SELECT index_type = 'hnsw' FROM vindex_status WHERE table_name = ?1", [table], |r| r.get(0))
        .map_err(|e| format!("status: {e}"))?;
    let ef = if graph { " AND ef_search = 1000" } else { "" };
    let mut r = rng(0x00e1_0002);
    for filter in ["", " AND cat = 3"] {
        let q = vec_of(&mut r);
        let knn: Vec<(i64, f64)> = c
            .prepare(&format!("SELECT rowid, distance FROM {table} WHERE v MATCH ? AND k = 7{filter}{ef}"))
            .and_then(|mut s| s.query_map([&q], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| format!("KNN: {e}"))?;
        let scan_filter = filter.replace(" AND", " WHERE");
        let brute: Vec<(i64, f64)> = c
            .prepare(&format!(
                "SELECT rowid, vec_distance_l2(v, ?1) AS d FROM {table}{scan_filter} ORDER BY d, rowid LIMIT 7"
            ))
            .and_then(|mut s| s.query_map([&q], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| format!("brute force: {e}"))?;
        let ids = |v: &[(i64, f64)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
        if ids(&knn) != ids(&brute) || knn.iter().zip(&brute).any(|(a, b)| (a.1 - b.1).abs() > 1e-4 * (1.0 + b.1)) {
            return Err(format!("KNN{filter} {knn:?} != brute force {brute:?}"));
        }
    }
    Ok(())
}

/// What the fault hit: counted by [`run_case`].
#[derive(Default, Debug)]
struct Tally {
    points: u64,
    nomem: u64,
    other_errors: u64,
    ok_despite_fault: u64,
    tx_rolled_back: u64,
    failed: u64,
    known_defects: u64,
    messages: std::collections::BTreeMap<String, u64>,
}

/// Panics of known defects, tolerated (counted and printed) unless VINDEX_OOM_STRICT=1. Add an
/// entry only with an open issue; none is known now (the xRollback re-entry found by this suite
/// is fixed: a rollback that arrives while the table's state is in use is applied when it is
/// next taken).
const KNOWN_PANICS: &[&str] = &[];

fn strict() -> bool {
    std::env::var_os("VINDEX_OOM_STRICT").is_some()
}

struct Case {
    name: &'static str,
    /// The statement under test.
    sql: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "insert",
        sql: "INSERT INTO t(rowid, v, b, cat, tag, note) VALUES (1000, ?1, vec_bit(?2), 4, 'new', 'inserted')",
    },
    Case {
        name: "insert-select",
        sql: "INSERT INTO t(v, b, cat, note) SELECT v, b, cat + 1, 'copy' FROM t WHERE rowid > 120",
    },
    Case { name: "update-vector", sql: "UPDATE t SET v = ?1 WHERE rowid = 7" },
    Case {
        name: "update-meta",
        sql: "UPDATE t SET cat = 99, tag = 'changed', note = 'upd' WHERE rowid IN (3, 140, 169)",
    },
    Case { name: "update-rowid", sql: "UPDATE t SET rowid = 5000 WHERE rowid = 11" },
    Case { name: "replace", sql: "INSERT OR REPLACE INTO t(rowid, v, b, cat) VALUES (12, ?1, vec_bit(?2), 1)" },
    Case { name: "delete", sql: "DELETE FROM t WHERE rowid BETWEEN 100 AND 170" },
    Case { name: "knn", sql: "SELECT rowid, distance FROM t WHERE v MATCH ?1 AND k = 10 AND cat IN (1, 2)" },
    Case { name: "knn-limit", sql: "SELECT rowid, distance, note FROM t WHERE v MATCH ?1 ORDER BY distance LIMIT 70" },
    Case { name: "scan", sql: "SELECT rowid, v, b, cat, tag, note FROM t WHERE tag = 'tag1'" },
    Case { name: "integrity-check", sql: "INSERT INTO t(t) VALUES ('integrity-check')" },
    Case { name: "optimize", sql: "INSERT INTO t(t) VALUES ('optimize')" },
    Case { name: "rebuild", sql: "INSERT INTO t(t) VALUES ('rebuild')" },
    Case { name: "create", sql: "CREATE VIRTUAL TABLE t2 USING vindex(v float[4] distance=cosine, c text, +a)" },
    Case { name: "drop", sql: "DROP TABLE t" },
    Case { name: "rename", sql: "ALTER TABLE t RENAME TO t3" },
];

#[allow(clippy::too_many_arguments)] // one fault point: all of it is the point's identity
/// Run `case` once on a fresh copy of the template, with the fault armed at `n`.
/// Returns Ok(true) when the fault fired, Ok(false) when the statement finished first.
fn run_point(
    template: &Path,
    dir: &Path,
    case: &Case,
    in_tx: bool,
    n: u64,
    persistent: bool,
    expect: &Expect,
    tally: &mut Tally,
) -> Result<bool, String> {
    let db = dir.join("work.db");
    for ext in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        let src = format!("{}{ext}", template.display());
        if Path::new(&src).exists() {
            std::fs::copy(&src, format!("{}{ext}", db.display())).unwrap();
        }
    }
    // Another connection with a warm cache: it must see every later commit.
    let observer = open(&db);
    let _ = contents(&observer, "t").unwrap();
    let c = open(&db);
    // Warm: the table is connected and its caches filled before the fault is armed (a cold
    // connection is tested by the knn-cold case, see below).
    if !expect.cold {
        let _ = contents(&c, "t").unwrap();
    }
    if in_tx {
        c.execute_batch(
            "BEGIN; INSERT INTO t(rowid, v, b, cat, note) SELECT 2000, v, b, 5, 'tx' FROM t WHERE rowid = 1;",
        )
        .unwrap();
    }
    let mut r = rng(0x00e1_0003);
    let (v, bits) = (vec_of(&mut r), bits_of(&mut r));
    fault::fail_at(n, persistent);
    let res = (|| -> rusqlite::Result<usize> {
        let mut st = c.prepare(case.sql)?;
        let nparams = st.parameter_count();
        let p: Vec<&dyn rusqlite::ToSql> = [&v as &dyn rusqlite::ToSql, &bits].into_iter().take(nparams).collect();
        let mut rows = st.query(p.as_slice())?;
        let mut k = 0;
        while rows.next()?.is_some() {
            k += 1;
        }
        Ok(k)
    })();
    let rep = fault::disarm();
    let mut panics = take_panics();
    let known = panics.len();
    panics.retain(|p| !KNOWN_PANICS.iter().any(|k| p.contains(k)) || strict());
    tally.known_defects += (known - panics.len()) as u64;
    if !panics.is_empty() {
        return Err(format!(
            "{} (n={n}, {}, {}): vindex panicked (the trampoline caught it, the callback failed): {panics:?}",
            case.name,
            if persistent { "persistent" } else { "one-shot" },
            if in_tx { "in BEGIN" } else { "autocommit" }
        ));
    }
    if rep.failures == 0 {
        // The statement needed fewer than n allocations: nothing was tested at this n.
        if let Err(e) = res {
            // Not a fault's doing: report it and stop this series.
            return Err(format!("{}: failed without a fault: {e}", case.name));
        }
        return Ok(false);
    }
    tally.points += 1;
    match &res {
        Ok(_) => tally.ok_despite_fault += 1,
        Err(e) => {
            if e.sqlite_error_code() == Some(ErrorCode::OutOfMemory) {
                tally.nomem += 1;
            } else {
                tally.other_errors += 1;
                let msg = e.to_string();
                let short: String = msg.chars().take(90).collect();
                *tally.messages.entry(short).or_default() += 1;
            }
        }
    }
    let what = |m: String| {
        format!(
            "{} (n={n}, {}, {}): {m}",
            case.name,
            if persistent { "persistent" } else { "one-shot" },
            if in_tx { "in BEGIN" } else { "autocommit" }
        )
    };
    // The outcome, with the fault lifted.
    let mut rolled_back = false;
    if in_tx {
        if c.is_autocommit() {
            // SQLite rolled the whole transaction back (what it does on SQLITE_NOMEM when the
            // statement has no statement journal).
            rolled_back = true;
            tally.tx_rolled_back += 1;
        } else {
            c.execute_batch("COMMIT").map_err(|e| what(format!("COMMIT after the fault: {e}")))?;
        }
    }
    let got = (state(&c, "t"), state(&c, "t2"), state(&c, "t3"));
    let allowed: Vec<&(Option<u64>, Option<u64>, Option<u64>)> = if rolled_back {
        vec![&expect.before_tx]
    } else if res.is_ok() {
        vec![&expect.after]
    } else {
        vec![&expect.before, &expect.after]
    };
    if !allowed.contains(&&got) {
        return Err(what(format!(
            "after the fault the tables hold {got:?}, expected one of {allowed:?} (result: {res:?})"
        )));
    }
    let table = if got.0.is_some() {
        "t"
    } else if got.2.is_some() {
        "t3"
    } else {
        ""
    };
    // The connection goes on working: a write after the failure, then every check.
    if !table.is_empty() {
        c.execute(&format!("INSERT INTO {table}(rowid, v, b, cat) VALUES (3000, ?1, vec_bit(?2), 3)"), [&v, &bits])
            .map_err(|e| what(format!("insert after the fault: {e}")))?;
    }
    check_integrity(&c).map_err(|m| {
        what(format!(
            "after the fault and a further insert (the statement: {res:?}, state {got:?} before {:?} after {:?}): {m}",
            expect.before, expect.after
        ))
    })?;
    // Caches: the failing connection and the observer (warm before the fault) answer KNN
    // queries exactly and agree with a connection that has no cache at all.
    let fresh = open(&db);
    let now = (state(&fresh, "t"), state(&fresh, "t2"), state(&fresh, "t3"));
    for (who, conn) in [("the connection that failed", &c), ("a connection opened before the fault", &observer)] {
        let seen = (state(conn, "t"), state(conn, "t2"), state(conn, "t3"));
        if seen != now {
            return Err(what(format!("{who} sees {seen:?}, a fresh connection {now:?} (stale cache)")));
        }
        check_knn(conn, table).map_err(|m| what(format!("{who}: {m}")))?;
    }
    Ok(true)
}

/// The expected states of (t, t2, t3) for a case.
struct Expect {
    before_tx: (Option<u64>, Option<u64>, Option<u64>),
    before: (Option<u64>, Option<u64>, Option<u64>),
    after: (Option<u64>, Option<u64>, Option<u64>),
    cold: bool,
}

fn expectations(template: &Path, dir: &Path, case: &Case, in_tx: bool, cold: bool) -> Expect {
    let db = dir.join("ref.db");
    for ext in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        let src = format!("{}{ext}", template.display());
        if Path::new(&src).exists() {
            std::fs::copy(&src, format!("{}{ext}", db.display())).unwrap();
        }
    }
    let c = open(&db);
    let all = |c: &Connection| (state(c, "t"), state(c, "t2"), state(c, "t3"));
    let before_tx = all(&c);
    if in_tx {
        c.execute_batch(
            "BEGIN; INSERT INTO t(rowid, v, b, cat, note) SELECT 2000, v, b, 5, 'tx' FROM t WHERE rowid = 1;",
        )
        .unwrap();
    }
    let before = all(&c);
    let mut r = rng(0x00e1_0003);
    let (v, bits) = (vec_of(&mut r), bits_of(&mut r));
    {
        let mut st = c.prepare(case.sql).unwrap();
        let nparams = st.parameter_count();
        let p: Vec<&dyn rusqlite::ToSql> = [&v as &dyn rusqlite::ToSql, &bits].into_iter().take(nparams).collect();
        let mut rows = st.query(p.as_slice()).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    let after = all(&c);
    if in_tx {
        c.execute_batch("COMMIT").unwrap();
    }
    Expect { before_tx, before, after, cold }
}

/// The fault points tried for a case: every n up to 30, then steps of about 12 % up to the
/// statement's allocation count (every n with VINDEX_OOM_FULL=1).
fn next_n(n: u64) -> u64 {
    if n < 30 || std::env::var_os("VINDEX_OOM_FULL").is_some() { n + 1 } else { n + 1 + n / 8 }
}

fn run_cases(journal: &str, cases: &[&str], cold: bool) {
    run_cases_on(journal, "", cases, cold)
}

/// [`run_cases`] on a table whose CREATE ends with `index` (e.g. `, index=hnsw`).
fn run_cases_on(journal: &str, index: &str, cases: &[&str], cold: bool) {
    let kind = if index.contains("hnsw") { "-hnsw" } else { "" };
    let tag = format!("{journal}{kind}-{}{}", cases.join("-"), if cold { "-cold" } else { "" });
    let dir = tmpdir(&tag);
    let template = dir.join("template.db");
    make_template(&template, journal, index);
    let mut failures = Vec::new();
    for case in CASES.iter().filter(|c| cases.contains(&c.name)) {
        for in_tx in [false, true] {
            if in_tx && matches!(case.name, "create" | "drop" | "rename") && journal == "WAL" {
                continue;
            }
            let expect = expectations(&template, &dir, case, in_tx, cold);
            for persistent in [false, true] {
                let mut tally = Tally::default();
                let mut n = 1;
                loop {
                    match run_point(&template, &dir, case, in_tx, n, persistent, &expect, &mut tally) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            tally.failed += 1;
                            let stop = e.contains("failed without a fault");
                            if tally.failed <= 3 {
                                failures.push(e);
                            }
                            if stop {
                                break;
                            }
                        }
                    }
                    n = next_n(n);
                }
                eprintln!(
                    "oom {journal:<6} {:<16} {:<10} {:<10}{}: {} fault points up to n={n}: {} SQLITE_NOMEM, {} other errors, {} succeeded, {} rolled back the transaction; {} known-defect panics; {} FAILED; other errors: {:?}",
                    case.name,
                    if in_tx { "in BEGIN" } else { "autocommit" },
                    if persistent { "persistent" } else { "one-shot" },
                    if cold { " cold" } else { "" },
                    tally.points,
                    tally.nomem,
                    tally.other_errors,
                    tally.ok_despite_fault,
                    tally.tx_rolled_back,
                    tally.known_defects,
                    tally.failed,
                    tally.messages
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_writes() {
    run_cases(
        "DELETE",
        &["insert", "insert-select", "update-vector", "update-meta", "update-rowid", "replace", "delete"],
        false,
    );
}

/// Writes to a graph table: every node a write relinks is written and put back by the
/// operation's undo from the graph as the transaction holds it in memory.
#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_hnsw_writes() {
    run_cases_on(
        "DELETE",
        ", index=hnsw(m=4, ef_construction=16)",
        &["insert", "update-vector", "update-rowid", "replace", "delete"],
        false,
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_queries() {
    run_cases("DELETE", &["knn", "knn-limit", "scan"], false);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_queries_cold_connection() {
    run_cases("DELETE", &["knn", "insert"], true);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_commands() {
    run_cases("DELETE", &["integrity-check", "optimize", "rebuild"], false);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_schema() {
    run_cases("DELETE", &["create", "drop", "rename"], false);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "minutes in a debug build: `make test-oom` runs it in release")]
fn oom_wal() {
    run_cases("WAL", &["insert", "delete", "knn", "optimize"], false);
}

#[test]
fn fault_allocator_fails_where_asked() {
    init();
    let c = Connection::open_in_memory().unwrap();
    fault::fail_at(1, false);
    let r = c.execute_batch("CREATE TABLE x(a); INSERT INTO x VALUES (randomblob(100000));");
    let rep = fault::disarm();
    assert_eq!(rep.failures, 1);
    assert!(r.is_err(), "the first allocation failed, so the statement must fail");
    c.execute_batch("CREATE TABLE x(a); INSERT INTO x VALUES (randomblob(100000));").unwrap();
}
