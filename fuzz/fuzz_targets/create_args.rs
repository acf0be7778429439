//! CREATE VIRTUAL TABLE arguments: the parser (`vindex::vtab::config::parse`) on fuzzer-made
//! argument lists, and the same text through SQLite as `CREATE VIRTUAL TABLE t USING vindex(...)`.
//! Never a panic; a CREATE that fails creates nothing (no shadow tables left behind); a CREATE
//! that succeeds gives a table that takes a row in every vector column, answers a KNN query,
//! passes 'integrity-check' and drops cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use rusqlite::types::Value;
use std::cell::RefCell;
use vindex_fuzz::{Input, open, run};

thread_local! {
    static DB: RefCell<Connection> = RefCell::new(open());
}

fn schema_objects(c: &Connection) -> Vec<String> {
    run(c, "SELECT name FROM sqlite_schema ORDER BY name", &[])
        .unwrap()
        .into_iter()
        .map(|r| match &r[0] {
            Value::Text(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A value for a vector column described as `type[N]` in the declared table.
fn sample_vector(ty: &str, dims: usize) -> Option<String> {
    let (elem, n) = match ty {
        "float32" | "float16" => ("0.5", dims),
        "int8" => ("3", dims),
        "bit" => ("1", dims),
        _ => return None,
    };
    Some(format!("[{}]", vec![elem; n].join(",")))
}

fn through_sql(c: &Connection, text: &str) {
    let before = schema_objects(c);
    let created = c.execute(&format!("CREATE VIRTUAL TABLE t USING vindex({text})"), []);
    let after = schema_objects(c);
    if created.is_err() {
        assert_eq!(before, after, "a failed CREATE ({created:?}) left objects behind for vindex({text})");
        return;
    }
    // The status table names every vector column with its type and dimensions.
    let cols = run(c, "SELECT column_name, element_type, dimensions FROM vindex_status WHERE table_name = 't'", &[])
        .unwrap_or_default();
    let mut names = Vec::new();
    let mut values = Vec::new();
    for r in &cols {
        if let (Value::Text(col), Value::Text(ty), Value::Integer(dims)) = (&r[0], &r[1], &r[2]) {
            if let Some(v) = sample_vector(ty, *dims as usize) {
                names.push(format!("\"{}\"", col.replace('"', "\"\"")));
                values.push(v);
            }
        }
    }
    if !names.is_empty() {
        let placeholders = (1..=values.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let p: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
        let ins =
            c.execute(&format!("INSERT INTO t(rowid, {}) VALUES (1, {placeholders})", names.join(", ")), p.as_slice());
        if ins.is_ok() {
            let q = format!("SELECT rowid, distance FROM t WHERE {} MATCH ?1 AND k = 3", names[0]);
            let rows = run(c, &q, &p[..1]);
            let rows = rows.unwrap_or_else(|e| panic!("KNN on vindex({text}) failed: {e}"));
            assert_eq!(rows.len(), 1, "KNN on vindex({text}) returned {rows:?}");
        }
    }
    let _ = run(c, "SELECT * FROM t", &[]);
    if let Err(e) = c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []) {
        // A table whose name collides with a column has no command column; anything else is a bug.
        let msg = e.to_string();
        assert!(
            msg.contains("no such column") || msg.contains("has no column"),
            "integrity-check of vindex({text}): {msg}"
        );
    }
    c.execute("DROP TABLE t", []).unwrap_or_else(|e| panic!("DROP TABLE after vindex({text}): {e}"));
    assert_eq!(before, schema_objects(c), "DROP TABLE left objects behind for vindex({text})");
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let text = String::from_utf8_lossy(inp.rest()).into_owned();
    // The parser sees the arguments as SQLite splits them: at top-level commas.
    let args: Vec<String> = text.split(',').map(str::to_string).collect();
    let _ = vindex::vtab::config::parse("t", &args);
    let _ = vindex::vtab::config::parse(&text, &args);
    if mode & 1 == 0 && !text.contains(';') && !text.contains('\0') && !text.contains("--") && !text.contains("/*") {
        DB.with(|c| through_sql(&c.borrow(), &text));
    }
});
