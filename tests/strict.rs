//! Typed columns store values exactly as a STRICT table does (docs/FORMAT.md promises it), with
//! a real STRICT table as the oracle: for every declared type × many values, the vindex table
//! and `CREATE TABLE s(...) STRICT` both reject, or both store the same type and value, and
//! filters on the stored value find the same rows.

mod common;
use common::*;
use rusqlite::Connection;
use rusqlite::types::Value;

/// SQL expressions for the values to store.
const VALUES: &[&str] = &[
    "NULL",
    "5",
    "-7",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "123456789012345678",
    "140737488355328",
    "5.0",
    "-0.0",
    "0.1",
    "1.5",
    "-2.75",
    "1e20",
    "-1.0e+20",
    "9.3e18",
    "9.223372036854775807e18",
    "-9.223372036854775808e18",
    "1e15",
    "1e16",
    "123456789.123456789",
    "0.30000000000000004",
    "2.5e-300",
    "1.7976931348623157e308",
    "1e308 * 10",
    "-1e308 * 10",
    "'5'",
    "'-7'",
    "'+5'",
    "'-0'",
    "'007'",
    "'5.0'",
    "'5.'",
    "'.5'",
    "'1e3'",
    "'1E3'",
    "'1e-3'",
    "' 7 '",
    "'  -3.25e2  '",
    "'7 '",
    "' 7'",
    "'nan'",
    "'NaN'",
    "'inf'",
    "'-inf'",
    "'Infinity'",
    "'1e999'",
    "'-1e999'",
    "'0x10'",
    "'0X1F'",
    "'abc'",
    "''",
    "' '",
    "'5abc'",
    "'1_000'",
    "'1,5'",
    "'9223372036854775807'",
    "'9223372036854775808'",
    "'-9223372036854775809'",
    "'12345678901234567890'",
    "'123456789012345678'",
    "'1234567890123456789'",
    "'0.1000000000000000055511151231257827'",
    "'4.9e-324'",
    "'1e-400'",
    "'1.0e+20'",
    "x'00ff'",
    "x''",
    "x'35'",
    "zeroblob(3)",
    "CAST('5' AS BLOB)",
];

/// (vindex column, STRICT column type) pairs; vindex columns are metadata (`m*`), typed
/// auxiliary (`a*`) and one untyped auxiliary column (`au`, ANY in STRICT terms).
const COLUMNS: &[(&str, &str)] = &[
    ("mi", "INTEGER"),
    ("mr", "REAL"),
    ("mt", "TEXT"),
    ("mb", "BLOB"),
    ("ai", "INTEGER"),
    ("ar", "REAL"),
    ("at", "TEXT"),
    ("ab", "BLOB"),
    ("au", "ANY"),
];

fn setup() -> Connection {
    let c = conn();
    c.execute_batch(
        "CREATE VIRTUAL TABLE v USING vindex(e float[2], mi integer, mr real, mt text, mb blob,
                                             +ai integer, +ar real, +at text, +ab blob, +au);
         CREATE TABLE s(id INTEGER PRIMARY KEY, mi INTEGER, mr REAL, mt TEXT, mb BLOB,
                        ai INTEGER, ar REAL, at TEXT, ab BLOB, au ANY) STRICT;
         CREATE VIRTUAL TABLE p USING vindex(id text primary key, e float[2]);
         CREATE TABLE sp(id TEXT PRIMARY KEY, e BLOB) STRICT;",
    )
    .unwrap();
    c
}

/// (typeof, value) of one stored value, or the error.
fn stored(c: &Connection, insert: &str, select: &str) -> Result<(String, Value), String> {
    c.execute(insert, []).map_err(|e| e.to_string())?;
    let rowid = c.last_insert_rowid();
    c.query_row(select, [rowid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?))).map_err(|e| e.to_string())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn every_type_and_value_is_stored_as_strict_stores_it() {
    let c = setup();
    let mut checked = 0;
    for (col, ty) in COLUMNS {
        for lit in VALUES {
            let want = stored(
                &c,
                &format!("INSERT INTO s({col}) VALUES ({lit})"),
                &format!("SELECT typeof({col}), {col} FROM s WHERE id = ?1"),
            );
            let got = stored(
                &c,
                &format!("INSERT INTO v(e, {col}) VALUES ('[1,2]', {lit})"),
                &format!("SELECT typeof({col}), {col} FROM v WHERE rowid = ?1"),
            );
            match (&got, &want) {
                (Ok((gt, gv)), Ok((wt, wv))) => {
                    assert!(gt == wt && same(gv, wv), "{ty} column {col} ← {lit}: vindex {got:?}, STRICT {want:?}")
                }
                (Err(g), Err(_)) => {
                    assert!(g.contains(&format!("in {ty} column v.{col}")) || *ty == "ANY", "{col} ← {lit}: {g}")
                }
                _ => panic!("{ty} column {col} ← {lit}: vindex {got:?}, STRICT {want:?}"),
            }
            // A filter on the value finds the same rows in both (e.g. `mt = 5.0` finds '5.0').
            if want.is_ok() && *lit != "NULL" {
                let n = |t: &str| -> i64 {
                    c.query_row(&format!("SELECT count(*) FROM {t} WHERE {col} = ({lit})"), [], |r| r.get(0)).unwrap()
                };
                assert_eq!(n("v"), n("s"), "{col} = {lit}: rows found");
                if col.starts_with('m') {
                    let knn: i64 = c
                        .query_row(
                            &format!("SELECT count(*) FROM v WHERE e MATCH '[1,2]' AND k = 1000 AND {col} = ({lit})"),
                            [],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(knn, n("s"), "KNN filter {col} = {lit}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, COLUMNS.len() * VALUES.len());
}

#[test]
fn text_primary_keys_are_stored_as_strict_stores_them() {
    let c = setup();
    for lit in VALUES.iter().filter(|l| **l != "NULL") {
        let want = stored(
            &c,
            &format!("INSERT INTO sp(id, e) VALUES ({lit}, x'00')"),
            "SELECT typeof(id), id FROM sp WHERE rowid = ?1",
        );
        let got = stored(
            &c,
            &format!("INSERT INTO p(id, e) VALUES ({lit}, '[1,2]')"),
            "SELECT typeof(id), id FROM p WHERE rowid = ?1",
        );
        match (&got, &want) {
            (Ok((gt, gv)), Ok((wt, wv))) => {
                assert!(gt == wt && same(gv, wv), "pk ← {lit}: vindex {got:?}, STRICT {want:?}")
            }
            (Err(_), Err(_)) => {}
            _ => panic!("pk ← {lit}: vindex {got:?}, STRICT {want:?}"),
        }
        c.execute_batch("DELETE FROM sp; DELETE FROM p;").unwrap();
    }
}

/// The reported cases, spelled out.
#[test]
fn reported_cases() {
    let c = setup();
    let get = |sql: &str| c.query_row(sql, [], |r| r.get::<_, Value>(0)).unwrap();
    c.execute("INSERT INTO v(rowid, e, mt, mr, mi) VALUES (1, '[1,2]', 5.0, '5', '5.0')", []).unwrap();
    assert_eq!(get("SELECT mt FROM v WHERE rowid = 1"), Value::Text("5.0".into()));
    assert_eq!(get("SELECT count(*) FROM v WHERE mt = 5.0"), Value::Integer(1));
    assert_eq!(get("SELECT mr FROM v WHERE rowid = 1"), Value::Real(5.0));
    assert_eq!(get("SELECT mi FROM v WHERE rowid = 1"), Value::Integer(5));
    c.execute("INSERT INTO v(rowid, e, mt, mi) VALUES (2, '[1,2]', 1e20, '1e3')", []).unwrap();
    assert_eq!(get("SELECT mt FROM v WHERE rowid = 2"), get("SELECT CAST(1e20 AS TEXT)"));
    assert_eq!(get("SELECT mi FROM v WHERE rowid = 2"), Value::Integer(1000));
    for bad in ["'nan'", "'inf'"] {
        let e = err_of(c.execute(&format!("INSERT INTO v(e, mr) VALUES ('[1,2]', {bad})"), []));
        assert!(e.contains("cannot store TEXT value in REAL column v.mr"), "{e}");
    }
}
