//! Corrupted shadow tables, through SQL only. A small vindex table (one of six templates:
//! float32 + metadata + aux over several chunks, int8/cosine, bit with a text primary key,
//! partition keys, IVF with sq8 codes, float16/ip) is copied into a fresh in-memory database; the fuzzer then interleaves
//! corruptions of its shadow tables (bytes flipped, blobs cut or grown, values changed to
//! another type, rows deleted or duplicated, keys changed, tables or indexes dropped) with
//! queries, writes, savepoints, 'integrity-check', 'optimize', 'rebuild', RENAME and DROP TABLE.
//!
//! Errors are fine; a panic, an abort or memory error is not. And one oracle: while both
//! `PRAGMA integrity_check` and vindex's 'integrity-check' pass, a KNN query returns exactly
//! what brute force over a scan of the same table returns.
//!
//! The shadow tables are found by name (`t_*` in sqlite_schema) and their columns by
//! `PRAGMA table_info`, so the target follows changes of the on-disk format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value;
use rusqlite::{Connection, MAIN_DB};
use std::sync::OnceLock;
use vindex_fuzz::{Input, f32_blob, open, run};

struct Template {
    db: Vec<u8>,
    /// Vector columns: (name, distance function, a valid query: JSON or an SQL expression).
    vectors: Vec<(&'static str, &'static str, String)>,
    /// A valid INSERT; ?1 is the rowid, ?2 a seed for its values.
    insert: &'static str,
    /// Metadata filters that fit the table.
    filters: &'static [&'static str],
}

fn ramp(n: usize, scale: f32, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed.wrapping_mul(40503)) % 17) as f32 * scale
                - 4.0 * scale
        })
        .collect()
}

fn json(v: &[f32]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
}

fn build(create: &str, rows: i64, fill: impl Fn(&Connection, i64), deletes: &str) -> Vec<u8> {
    let c = open();
    c.execute_batch(create).unwrap();
    c.execute_batch("BEGIN").unwrap();
    for i in 1..=rows {
        fill(&c, i);
    }
    c.execute_batch(deletes).unwrap();
    c.execute_batch("COMMIT").unwrap();
    c.serialize(MAIN_DB).unwrap().to_vec()
}

fn templates() -> &'static [Template] {
    static T: OnceLock<Vec<Template>> = OnceLock::new();
    T.get_or_init(|| {
        vec![
            // float32[1024]: 32 slots per chunk, 40 rows -> 2 chunks, holes from deletes.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(v float[1024], cat integer, tag text, +note text)",
                    40,
                    |c, i| {
                        c.execute(
                            "INSERT INTO t(rowid, v, cat, tag, note) VALUES (?, ?, ?, ?, ?)",
                            rusqlite::params![i, f32_blob(&ramp(1024, 0.25, i as u32)), i % 4, format!("g{}", i % 3), "n"],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE rowid % 7 = 0;",
                ),
                vectors: vec![("v", "vec_distance_l2", json(&ramp(1024, 0.25, 999)))],
                insert: "INSERT INTO t(rowid, v, cat, tag, note) VALUES (?1, (SELECT v FROM t ORDER BY rowid LIMIT 1 OFFSET (?2 % 10)), ?2 % 4, 'new', 'x')",
                filters: &["", " AND cat = 1", " AND tag IN ('g0', 'g2')", " AND cat IS NULL", " AND rowid IN (1, 2, 3, 40)"],
            },
            // int8[16] cosine + float32[8]: one chunk, two vector tables.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(q int8[16] distance=cosine, f float[8] distance=l1, score real)",
                    40,
                    |c, i| {
                        let q: Vec<String> = (0..16).map(|d| (((i * 7 + d * 3) % 50) - 20 + 1).to_string()).collect();
                        c.execute(
                            "INSERT INTO t(rowid, q, f, score) VALUES (?, vec_int8(?), ?, ?)",
                            rusqlite::params![i, format!("[{}]", q.join(",")), json(&ramp(8, 1.0, i as u32)), i as f64 / 3.0],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE rowid IN (3, 9, 27);",
                ),
                vectors: vec![
                    ("q", "vec_distance_cosine", "vec_int8('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]')".into()),
                    ("f", "vec_distance_l1", json(&ramp(8, 1.0, 5))),
                ],
                insert: "INSERT INTO t(rowid, q, f, score) VALUES (?1, vec_int8('[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,2]'), '[1,2,3,4,5,6,7,8]', ?2 * 0.5)",
                filters: &["", " AND score > 4", " AND score IS NOT NULL"],
            },
            // bit[64] with a text primary key and an auxiliary blob.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(b bit[64] distance=hamming, id text primary key, +a blob)",
                    30,
                    |c, i| {
                        let bytes: Vec<u8> = (0..8).map(|k| ((i * 37 + k * 11) % 256) as u8).collect();
                        c.execute(
                            "INSERT INTO t(b, id, a) VALUES (vec_bit(?), ?, ?)",
                            rusqlite::params![bytes, format!("key{i}"), vec![i as u8; 5]],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE id = 'key4';",
                ),
                vectors: vec![("b", "vec_distance_hamming", "vec_bit(X'0102030405060708')".into())],
                insert: "INSERT INTO t(b, id, a) VALUES (vec_bit(randomblob(8)), 'new' || ?1 || '-' || ?2, X'00')",
                filters: &["", " AND id = 'key7'", " AND id > 'key2'"],
            },
            // float32[16] with an integer and a text partition key (NULLs too) and chunk_size=8:
            // 50 rows -> several chunks per partition.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(v float[16], u integer partition key, g text partition key, cat integer, chunk_size=8)",
                    50,
                    |c, i| {
                        let u = if i % 9 == 0 { None } else { Some(i % 3) };
                        c.execute(
                            "INSERT INTO t(rowid, v, u, g, cat) VALUES (?, ?, ?, ?, ?)",
                            rusqlite::params![i, f32_blob(&ramp(16, 0.5, i as u32)), u, ["x", "y"][(i % 2) as usize], i % 4],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE rowid % 5 = 0; UPDATE t SET u = 2 WHERE rowid = 7;",
                ),
                vectors: vec![("v", "vec_distance_l2", json(&ramp(16, 0.5, 999)))],
                insert: "INSERT INTO t(rowid, v, u, g, cat) VALUES (?1, (SELECT v FROM t ORDER BY rowid LIMIT 1 OFFSET (?2 % 10)), ?2 % 3, 'x', ?2 % 4)",
                filters: &["", " AND u = 1", " AND u = 2 AND g = 'x'", " AND u IS NULL", " AND u IN (0, 2)", " AND u = 1 AND cat = 2", " AND g > 'x'"],
            },
            // float32[24] under an IVF index (sq8 codes, 4 lists, all of them probed at this
            // size: exact, so brute force stays the oracle), trained after the deletes.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(v float[24], cat integer, index=ivf(lists=4, quantizer=sq8))",
                    60,
                    |c, i| {
                        c.execute(
                            "INSERT INTO t(rowid, v, cat) VALUES (?, ?, ?)",
                            rusqlite::params![i, f32_blob(&ramp(24, 0.5, i as u32)), i % 4],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE rowid % 6 = 0; INSERT INTO t(t) VALUES ('optimize');",
                ),
                vectors: vec![("v", "vec_distance_l2", json(&ramp(24, 0.5, 999)))],
                insert: "INSERT INTO t(rowid, v, cat) VALUES (?1, (SELECT v FROM t ORDER BY rowid LIMIT 1 OFFSET (?2 % 10)), ?2 % 4)",
                filters: &["", " AND cat = 1", " AND rowid IN (1, 2, 3, 50)", " AND cat < 3"],
            },
            // float16[2048]: 32 slots per chunk, 36 rows -> 2 chunks.
            Template {
                db: build(
                    "CREATE VIRTUAL TABLE t USING vindex(h float16[2048] distance=ip, m integer)",
                    36,
                    |c, i| {
                        c.execute(
                            "INSERT INTO t(rowid, h, m) VALUES (?, vec_f16(vec_f32(?)), ?)",
                            rusqlite::params![i, f32_blob(&ramp(2048, 0.125, i as u32)), i % 2],
                        )
                        .unwrap();
                    },
                    "DELETE FROM t WHERE rowid IN (2, 11, 35);",
                ),
                vectors: vec![("h", "vec_distance_ip", format!("vec_f16('{}')", json(&ramp(2048, 0.125, 77))))],
                insert: "INSERT INTO t(rowid, h, m) VALUES (?1, (SELECT h FROM t ORDER BY rowid LIMIT 1), ?2)",
                filters: &["", " AND m = 0"],
            },
        ]
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The shadow tables and indexes now in the database.
fn shadow_objects(c: &Connection) -> Vec<(String, String)> {
    run(
        c,
        "SELECT type, name FROM sqlite_schema WHERE name GLOB 't_*' AND type IN ('table', 'index') ORDER BY name",
        &[],
    )
    .unwrap_or_default()
    .iter()
    .map(|r| (text(&r[0]), text(&r[1])))
    .collect()
}

fn value(inp: &mut Input<'_>) -> Value {
    match inp.u8() % 12 {
        0 => Value::Null,
        1 => Value::Integer(*inp.choose(&[0, 1, -1, 2, 7, 8, 1024, i64::MAX, i64::MIN, 1 << 32])),
        2 => Value::Integer(inp.i64()),
        3 => Value::Real(inp.f64()),
        4 => Value::Real(*inp.choose(&[0.5, -1.0, 1e300, f64::MIN_POSITIVE])),
        5 => Value::Text(String::from_utf8_lossy(inp.bytes(40)).into_owned()),
        6 => Value::Text((*inp.choose(&["1", "0", "-5", "1.5", "", "abc"])).into()),
        7 => Value::Blob(inp.bytes(300).to_vec()),
        8 => Value::Blob(vec![0u8; *inp.choose(&[0usize, 1, 4, 8, 128, 4096, 8192, 65536])]),
        9 => Value::Blob(vec![0xffu8; *inp.choose(&[1usize, 4, 128, 4096, 16384])]),
        _ => Value::Integer(inp.u8() as i64),
    }
}

fn corrupt(c: &Connection, inp: &mut Input<'_>) {
    let objects = shadow_objects(c);
    if objects.is_empty() {
        return;
    }
    let (kind, name) = inp.choose(&objects).clone();
    let q = quote(&name);
    if kind == "index" {
        let _ = c.execute(&format!("DROP INDEX {q}"), []);
        return;
    }
    let info = run(c, &format!("PRAGMA table_info({q})"), &[]).unwrap_or_default();
    if info.is_empty() {
        return;
    }
    let cols: Vec<String> = info.iter().map(|r| text(&r[1])).collect();
    let pk: Vec<String> = info.iter().filter(|r| r[5] != Value::Integer(0)).map(|r| text(&r[1])).collect();
    let rowid_table = run(c, &format!("SELECT rowid FROM {q} LIMIT 1"), &[]).is_ok();
    let key: Vec<String> = if rowid_table { vec!["rowid".into()] } else { pk.clone() };
    let key_list = key.iter().map(|k| if k == "rowid" { k.clone() } else { quote(k) }).collect::<Vec<_>>().join(", ");
    let n: i64 = match run(c, &format!("SELECT count(*) FROM {q}"), &[]) {
        Ok(r) => match r[0][0] {
            Value::Integer(n) => n,
            _ => 0,
        },
        Err(_) => 0,
    };
    let op = inp.u8() % 14;
    if op == 13 {
        let _ = c.execute(&format!("DROP TABLE {q}"), []);
        return;
    }
    if n == 0 {
        if op == 12 {
            let params: Vec<Value> = cols.iter().map(|_| value(inp)).collect();
            let p: Vec<&dyn rusqlite::ToSql> = params.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
            let marks = vec!["?"; cols.len()].join(", ");
            let _ = c.execute(&format!("INSERT OR IGNORE INTO {q} VALUES ({marks})"), p.as_slice());
        }
        return;
    }
    let offset = inp.below(n as usize) as i64;
    let keys = match run(c, &format!("SELECT {key_list} FROM {q} ORDER BY {key_list} LIMIT 1 OFFSET ?1"), &[&offset]) {
        Ok(r) if !r.is_empty() => r.into_iter().next().unwrap(),
        _ => return,
    };
    let where_ = key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} IS ?{}", if k == "rowid" { k.clone() } else { quote(k) }, i + 2))
        .collect::<Vec<_>>()
        .join(" AND ");
    let col = quote(inp.choose(&cols));
    let mut params: Vec<Value> = vec![Value::Null];
    params.extend(keys.iter().cloned());
    let exec = |sql: String, first: Value| {
        let mut p = params.clone();
        p[0] = first;
        let refs: Vec<&dyn rusqlite::ToSql> = p.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
        let _ = c.execute(&sql, refs.as_slice());
    };
    let current = run(
        c,
        &format!("SELECT {col}, ?1 FROM {q} WHERE {where_}"),
        &params.iter().map(|v| v as &dyn rusqlite::ToSql).collect::<Vec<_>>(),
    )
    .ok()
    .and_then(|r| r.into_iter().next())
    .map(|r| r[0].clone())
    .unwrap_or(Value::Null);
    match op {
        0..=2 => {
            // Flip bits in a blob (the most likely corruption: a torn or stray write).
            if let Value::Blob(mut b) = current {
                if !b.is_empty() {
                    for _ in 0..=inp.u8() % 4 {
                        let i = inp.below(b.len());
                        b[i] ^= 1 << (inp.u8() % 8);
                    }
                    exec(format!("UPDATE {q} SET {col} = ?1 WHERE {where_}"), Value::Blob(b));
                }
            }
        }
        3 => {
            if let Value::Blob(mut b) = current {
                b.truncate(inp.below(b.len() + 1));
                exec(format!("UPDATE {q} SET {col} = ?1 WHERE {where_}"), Value::Blob(b));
            }
        }
        4 => {
            if let Value::Blob(mut b) = current {
                b.extend_from_slice(inp.bytes(64));
                b.push(inp.u8());
                exec(format!("UPDATE {q} SET {col} = ?1 WHERE {where_}"), Value::Blob(b));
            }
        }
        5 => {
            // Set bytes of a slot map / rowid array to chosen values (e.g. mark a slot used).
            if let Value::Blob(mut b) = current {
                if !b.is_empty() {
                    let i = inp.below(b.len());
                    b[i] = *inp.choose(&[0x00, 0xff, 0x01, 0x80]);
                    exec(format!("UPDATE {q} SET {col} = ?1 WHERE {where_}"), Value::Blob(b));
                }
            }
        }
        6..=8 => {
            let v = value(inp);
            exec(format!("UPDATE {q} SET {col} = ?1 WHERE {where_}"), v);
        }
        9 => exec(format!("DELETE FROM {q} WHERE {where_} AND ?1 IS NULL"), Value::Null),
        10 | 11 => {
            // Duplicate the row under another key (or change its key in place).
            let newkey = value(inp);
            let sel: Vec<String> = cols
                .iter()
                .map(|cname| {
                    if key.len() == 1 && (pk.contains(cname) || key[0] == "rowid" && pk.len() == 1 && &pk[0] == cname) {
                        "?1".to_string()
                    } else {
                        quote(cname)
                    }
                })
                .collect();
            if op == 10 {
                let names = cols.iter().map(|x| quote(x)).collect::<Vec<_>>().join(", ");
                exec(
                    format!("INSERT OR IGNORE INTO {q}({names}) SELECT {} FROM {q} WHERE {where_}", sel.join(", ")),
                    newkey,
                );
            } else if let Some(k) = key.first() {
                let kq = if k == "rowid" { k.clone() } else { quote(k) };
                exec(format!("UPDATE OR IGNORE {q} SET {kq} = ?1 WHERE {where_}"), newkey);
            }
        }
        _ => {
            // Swap a column's values between two rows.
            let other = inp.below(n as usize) as i64;
            let _ = c.execute(
                &format!(
                    "UPDATE {q} SET {col} = (SELECT {col} FROM {q} ORDER BY {key_list} LIMIT 1 OFFSET ?1) WHERE {key_list} IN (SELECT {key_list} FROM {q} ORDER BY {key_list} LIMIT 1 OFFSET ?2)"
                ),
                rusqlite::params![other, offset],
            );
        }
    }
}

fn healthy(c: &Connection) -> bool {
    let ok =
        matches!(run(c, "PRAGMA integrity_check", &[]), Ok(r) if r.len() == 1 && r[0][0] == Value::Text("ok".into()));
    ok && c.execute("INSERT INTO t(t) VALUES ('integrity-check')", []).is_ok()
}

/// While the table passes both checks, KNN == brute force.
fn oracle(c: &Connection, t: &Template, inp: &mut Input<'_>) {
    if !healthy(c) {
        return;
    }
    let (col, dist, query) = inp.choose(&t.vectors);
    let filter = *inp.choose(t.filters);
    let k = 1 + inp.u8() as i64 % 12;
    let q = if query.starts_with('[') { format!("'{query}'") } else { query.clone() };
    let knn = run(
        c,
        &format!("SELECT rowid, distance FROM t WHERE {col} MATCH {q} AND k = {k}{filter} ORDER BY distance, rowid"),
        &[],
    );
    let scan_filter = if filter.is_empty() { String::new() } else { format!(" WHERE {}", &filter[5..]) };
    let brute =
        run(c, &format!("SELECT rowid, {dist}({col}, {q}) AS d FROM t{scan_filter} ORDER BY d, rowid LIMIT {k}"), &[]);
    match (knn, brute) {
        (Ok(a), Ok(b)) => {
            let ids = |r: &Vec<Vec<Value>>| r.iter().map(|x| x[0].clone()).collect::<Vec<_>>();
            // Cosine of a zero vector is NULL in a scan and excluded from KNN: compare non-NULL.
            let b: Vec<Vec<Value>> = b.into_iter().filter(|r| r[1] != Value::Null).collect();
            if ids(&a) != ids(&b) && a.len() == b.len() {
                panic!("both integrity checks pass, yet KNN {col}{filter} k={k} gives {a:?} and brute force {b:?}");
            }
        }
        (Err(e), Ok(_)) => panic!("both integrity checks pass, yet KNN {col}{filter} fails: {e}"),
        _ => {}
    }
}

fn act(c: &Connection, t: &Template, inp: &mut Input<'_>) {
    let (col, _, query) = inp.choose(&t.vectors);
    let q = if query.starts_with('[') { format!("'{query}'") } else { query.clone() };
    let filter = *inp.choose(t.filters);
    let r = inp.u8() as i64 % 80;
    let seed = inp.u8() as i64;
    match inp.u8() % 20 {
        0 => drop(run(c, "SELECT rowid, * FROM t", &[])),
        1 => drop(run(c, "SELECT * FROM t WHERE rowid = ?1", &[&r])),
        2 | 3 => drop(run(
            c,
            &format!("SELECT rowid, distance FROM t WHERE {col} MATCH {q} AND k = {}{filter}", 1 + seed % 30),
            &[],
        )),
        4 => drop(run(
            c,
            &format!(
                "SELECT rowid, distance FROM t WHERE {col} MATCH {q}{filter} ORDER BY distance LIMIT {}",
                1 + seed
            ),
            &[],
        )),
        5 => drop(c.execute(t.insert, rusqlite::params![100 + r, seed])),
        6 => drop(c.execute("DELETE FROM t WHERE rowid = ?1", [r])),
        7 => drop(c.execute(
            &format!("UPDATE t SET {col} = (SELECT {col} FROM t WHERE rowid = ?1) WHERE rowid = ?2"),
            [seed % 80, r],
        )),
        8 => drop(c.execute("UPDATE t SET rowid = ?1 WHERE rowid = ?2", [200 + seed, r])),
        9 => drop(c.execute("INSERT INTO t(t) VALUES ('integrity-check')", [])),
        10 => drop(c.execute("INSERT INTO t(t) VALUES ('optimize')", [])),
        11 => drop(c.execute("INSERT INTO t(t) VALUES ('rebuild')", [])),
        12 => drop(run(c, "PRAGMA integrity_check", &[])),
        13 => drop(run(c, "SELECT * FROM vindex_status", &[])),
        14 => {
            let _ = c.execute_batch("SAVEPOINT s");
            let _ = c.execute(t.insert, rusqlite::params![300 + r, seed]);
            let _ = c.execute("DELETE FROM t WHERE rowid = ?1", [r]);
            let _ = c.execute_batch(if seed % 2 == 0 { "ROLLBACK TO s; RELEASE s" } else { "RELEASE s" });
        }
        15 => {
            let _ = c.execute_batch("BEGIN");
            let _ = c.execute(t.insert, rusqlite::params![400 + r, seed]);
            let _ = run(c, &format!("SELECT rowid FROM t WHERE {col} MATCH {q} AND k = 5"), &[]);
            let _ = c.execute_batch(if seed % 2 == 0 { "ROLLBACK" } else { "COMMIT" });
        }
        16 => {
            if c.execute_batch("ALTER TABLE t RENAME TO u").is_ok() {
                let _ = run(c, &format!("SELECT rowid FROM u WHERE {col} MATCH {q} AND k = 3"), &[]);
                let _ = c.execute_batch("ALTER TABLE u RENAME TO t");
            }
        }
        17 => drop(c.execute_batch("VACUUM")),
        _ => oracle(c, t, inp),
    }
    if !c.is_autocommit() {
        let _ = c.execute_batch("ROLLBACK");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let t = inp.choose(templates());
    let mut c = Connection::open_in_memory().unwrap();
    c.deserialize_read_exact(MAIN_DB, &t.db[..], t.db.len(), false).unwrap();
    // Up to 24 steps, each a corruption or an action; the last step drops the table.
    for _ in 0..24 {
        if inp.is_empty() {
            break;
        }
        if inp.u8() % 2 == 0 {
            corrupt(&c, &mut inp);
        } else {
            act(&c, t, &mut inp);
        }
    }
    let _ = c.execute_batch("DROP TABLE t");
    let _ = c.execute_batch("DROP TABLE u");
});
