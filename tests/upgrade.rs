//! Tables written by older builds (tests/fixtures, made by tests/fixtures/make_fixtures.py) open
//! with an error that asks for 'upgrade', and `INSERT INTO t(t) VALUES ('upgrade')` converts
//! them in place, in the caller's transaction: format 1 (vindex 0.1.0) and format 3 (before
//! partition keys, where the upgrade changes nothing but the version).

mod common;
use common::*;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> (PathBuf, Connection) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let dir = std::env::temp_dir().join(format!("vindex-upgrade-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::copy(&src, &path).unwrap();
    let c = conn_file(&path);
    (dir, c)
}

fn version(c: &Connection, t: &str) -> i64 {
    c.query_row(&format!("SELECT value FROM \"{t}_info\" WHERE key = 'format_version'"), [], |r| r.get(0)).unwrap()
}

fn upgrade(c: &Connection, t: &str) {
    c.execute(&format!("INSERT INTO \"{t}\"(\"{t}\") VALUES ('upgrade')"), []).unwrap();
}

fn json(v: &serde_like::Value) -> String {
    v.to_string()
}

/// A minimal JSON reader for the fixture (arrays, strings, numbers): no dependency for one file.
mod serde_like {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Num(f64),
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }
    impl std::fmt::Display for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
                Value::Num(n) => write!(f, "{n:?}"),
                Value::Str(s) => write!(f, "'{s}'"),
                other => write!(f, "{other:?}"),
            }
        }
    }
    pub fn parse(s: &str) -> Value {
        let b = s.as_bytes();
        let mut i = 0;
        value(b, &mut i)
    }
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn value(b: &[u8], i: &mut usize) -> Value {
        ws(b, i);
        match b[*i] {
            b'[' => {
                *i += 1;
                let mut out = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        return Value::Arr(out);
                    }
                    out.push(value(b, i));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'{' => {
                *i += 1;
                let mut out = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        return Value::Obj(out);
                    }
                    let Value::Str(k) = value(b, i) else { panic!("key") };
                    ws(b, i);
                    *i += 1; // ':'
                    out.push((k, value(b, i)));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'"' => {
                *i += 1;
                let start = *i;
                while b[*i] != b'"' {
                    *i += 1;
                }
                *i += 1;
                Value::Str(String::from_utf8(b[start..*i - 1].to_vec()).unwrap())
            }
            _ => {
                let start = *i;
                while *i < b.len()
                    && (b[*i] == b'-' || b[*i] == b'.' || b[*i] == b'e' || b[*i] == b'+' || b[*i].is_ascii_digit())
                {
                    *i += 1;
                }
                Value::Num(std::str::from_utf8(&b[start..*i]).unwrap().parse().unwrap())
            }
        }
    }
    impl Value {
        pub fn get(&self, key: &str) -> &Value {
            match self {
                Value::Obj(o) => &o.iter().find(|(k, _)| k == key).unwrap().1,
                _ => panic!("not an object"),
            }
        }
        pub fn arr(&self) -> &[Value] {
            match self {
                Value::Arr(a) => a,
                _ => panic!("not an array"),
            }
        }
        pub fn num(&self) -> f64 {
            match self {
                Value::Num(n) => *n,
                _ => panic!("not a number"),
            }
        }
        pub fn str(&self) -> &str {
            match self {
                Value::Str(s) => s,
                _ => panic!("not a string"),
            }
        }
    }
}

#[test]
fn format1_tables_upgrade_and_answer_as_before() {
    let (dir, c) = fixture("format1.db");
    let expected = serde_like::parse(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1.expected.json"))
            .unwrap(),
    );
    for t in ["docs", "codes"] {
        let e = err_of(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0)));
        assert!(e.contains("format 1") && e.contains("'upgrade'"), "{e}");
    }
    // ROLLBACK undoes an upgrade.
    c.execute_batch("BEGIN").unwrap();
    upgrade(&c, "docs");
    assert_eq!(version(&c, "docs"), 4);
    c.execute_batch("ROLLBACK").unwrap();
    assert_eq!(version(&c, "docs"), 1);
    drop(c);
    let c = conn_file(&dir.join("format1.db"));
    upgrade(&c, "docs");
    upgrade(&c, "codes");
    for t in ["docs", "codes"] {
        assert_eq!(version(&c, t), 4);
        c.execute(&format!("INSERT INTO {t}({t}) VALUES ('integrity-check')"), []).unwrap();
    }
    let docs = dump(&c, "SELECT rowid, vec_to_json(emb), cat, year, body FROM docs ORDER BY rowid");
    let want: Vec<Vec<String>> =
        expected.get("docs").arr().iter().map(|r| r.arr().iter().map(json).collect()).collect();
    assert_eq!(docs, want);
    let codes = dump(&c, "SELECT id, vec_to_json(q), hex(b), vec_to_json(h) FROM codes ORDER BY id");
    let want: Vec<Vec<String>> =
        expected.get("codes").arr().iter().map(|r| r.arr().iter().map(json).collect()).collect();
    assert_eq!(codes, want);
    for (sql, q, key) in [
        (
            "SELECT rowid, distance FROM docs WHERE emb MATCH ?1 AND k = 10",
            expected.get("docs_query").str(),
            "knn_docs",
        ),
        (
            "SELECT id, distance FROM codes WHERE q MATCH vec_int8(?1) AND k = 5",
            expected.get("codes_query").str(),
            "knn_codes",
        ),
    ] {
        let got = knn(&c, sql, [q]);
        let want: Vec<(i64, f64)> =
            expected.get(key).arr().iter().map(|r| (r.arr()[0].num() as i64, r.arr()[1].num())).collect();
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), want.iter().map(|x| x.0).collect::<Vec<_>>(), "{key}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g.1 - w.1).abs() <= 1e-5 * w.1.abs().max(1.0), "{key}: {g:?} vs {w:?}");
        }
    }
    // Writes work, and the old per-column tables are empty.
    c.execute("INSERT INTO docs(rowid, emb, cat) VALUES (1000, ?1, 'new')", [expected.get("docs_query").str()])
        .unwrap();
    c.execute("DELETE FROM docs WHERE rowid < 50", []).unwrap();
    c.execute("INSERT INTO docs(docs) VALUES ('optimize')", []).unwrap();
    c.execute("INSERT INTO docs(docs) VALUES ('integrity-check')", []).unwrap();
    let left: i64 = c.query_row("SELECT count(*) FROM docs_vectors00", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every shadow table but `_info`, as text.
fn shadow_dump(c: &Connection, t: &str) -> Vec<Vec<Vec<String>>> {
    ["rows", "chunks", "vectors", "codes", "hnsw", "aux", "changes"]
        .iter()
        .map(|s| dump(c, &format!("SELECT * FROM \"{t}_{s}\" ORDER BY 1")))
        .collect()
}

fn contents(c: &Connection) -> Vec<Vec<Vec<String>>> {
    let qd = "'[0.5,-0.25,0.125,0,-0.5,0.75,-0.125,0.25,0,0.5,-0.75,0.25,0.125,-0.25,0.5,-0.5]'";
    vec![
        dump(c, "SELECT rowid, vec_to_json(emb), cat, year, body FROM docs ORDER BY rowid"),
        dump(c, "SELECT id, vec_to_json(q), hex(b), vec_to_json(h) FROM codes ORDER BY id"),
        dump(c, "SELECT rowid, vec_to_json(v), tag, name FROM g ORDER BY rowid"),
        dump(c, &format!("SELECT rowid, distance FROM docs WHERE emb MATCH {qd} AND k = 12 AND cat = 'b'")),
        dump(c, "SELECT id, distance FROM codes WHERE q MATCH vec_int8('[1,2,3,4,5,6,7,8]') AND k = 9"),
        dump(c, "SELECT id, distance FROM codes WHERE b MATCH vec_bit(x'0ff0') AND k = 9"),
        dump(c, "SELECT id, distance FROM codes WHERE h MATCH '[1,-1,0.5,2]' AND k = 9"),
        dump(c, "SELECT rowid, distance FROM g WHERE v MATCH '[1,0,-1,0,1,0,-1,0]' AND k = 10 AND ef_search = 1000"),
        dump(c, "SELECT rowid, distance FROM g WHERE v MATCH '[1,0,-1,0,1,0,-1,0]' AND k = 10 AND tag = 2"),
    ]
}

#[test]
fn format3_tables_upgrade_by_changing_only_the_version() {
    let (dir, c) = fixture("format3.db");
    let tables = ["docs", "codes", "g"];
    let before: Vec<_> = tables.iter().map(|t| shadow_dump(&c, t)).collect();
    let info_before: Vec<_> =
        tables.iter().map(|t| dump(&c, &format!("SELECT * FROM {t}_info WHERE key != 'format_version'"))).collect();
    for t in tables {
        assert_eq!(version(&c, t), 3);
        let e = err_of(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0)));
        assert!(e.contains("format 3") && e.contains("'upgrade'"), "{e}");
    }
    // ROLLBACK TO undoes an upgrade.
    c.execute_batch("BEGIN; SAVEPOINT s").unwrap();
    upgrade(&c, "g");
    assert_eq!(version(&c, "g"), 4);
    c.execute_batch("ROLLBACK TO s; RELEASE s; COMMIT").unwrap();
    assert_eq!(version(&c, "g"), 3);
    drop(c);
    let c = conn_file(&dir.join("format3.db"));
    for t in tables {
        upgrade(&c, t);
        assert_eq!(version(&c, t), 4);
        c.execute(&format!("INSERT INTO {t}({t}) VALUES ('integrity-check')"), []).unwrap();
        let fv: i64 =
            c.query_row("SELECT format_version FROM vindex_status WHERE table_name = ?", [t], |r| r.get(0)).unwrap();
        assert_eq!(fv, 4);
    }
    let after: Vec<_> = tables.iter().map(|t| shadow_dump(&c, t)).collect();
    assert_eq!(after, before, "the upgrade from format 3 changes no row");
    let info_after: Vec<_> =
        tables.iter().map(|t| dump(&c, &format!("SELECT * FROM {t}_info WHERE key != 'format_version'"))).collect();
    assert_eq!(info_after, info_before);

    // What the upgraded tables answer is what tables made now by the same statements answer.
    let fresh = conn();
    fresh
        .execute_batch(
            &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format3.sql")).unwrap(),
        )
        .unwrap();
    assert_eq!(contents(&c), contents(&fresh));
    // And they take writes like any other.
    c.execute("INSERT INTO g(v, tag, name) VALUES ('[1,1,1,1,1,1,1,1]', 9, 'new')", []).unwrap();
    c.execute("DELETE FROM docs WHERE year < 2005", []).unwrap();
    for t in tables {
        c.execute(&format!("INSERT INTO {t}({t}) VALUES ('optimize')"), []).unwrap();
        c.execute(&format!("INSERT INTO {t}({t}) VALUES ('integrity-check')"), []).unwrap();
    }
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}
