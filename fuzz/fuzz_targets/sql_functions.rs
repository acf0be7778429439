//! The vector functions as SQL sees them: every `vec_*` function and `vec_each`, called through
//! SQLite with fuzzer-made arguments (blobs, JSON text, numbers, NULL), each optionally wrapped
//! in a function that tags it with a subtype (vec_f32/vec_f16/vec_int8/vec_bit,
//! vec_quantize_*). Errors are fine; a panic or a crash is not. Where an answer is known:
//! - the distance of a vector to itself is 0 (l2, l1, hamming, jaccard);
//! - vec_length / vec_type agree with the blob's length and subtype;
//! - vec_to_json of a float32 vector parses back to a vector of the same length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use rusqlite::types::Value;
use std::cell::RefCell;
use vindex_fuzz::{Input, open, run};

const FUNCS: &[(&str, usize)] = &[
    ("vec_f32", 1),
    ("vec_f16", 1),
    ("vec_int8", 1),
    ("vec_bit", 1),
    ("vec_length", 1),
    ("vec_type", 1),
    ("vec_to_json", 1),
    ("vec_add", 2),
    ("vec_sub", 2),
    ("vec_normalize", 1),
    ("vec_slice", 3),
    ("vec_distance", 2),
    ("vec_distance", 3),
    ("vec_distance_l2", 2),
    ("vec_distance_cosine", 2),
    ("vec_distance_ip", 2),
    ("vec_distance_l1", 2),
    ("vec_distance_hamming", 2),
    ("vec_distance_jaccard", 2),
    ("vec_quantize_binary", 1),
    ("vec_quantize_int8", 2),
];

const WRAPS: &[&str] = &[
    "?",
    "vec_f32(?)",
    "vec_f16(?)",
    "vec_int8(?)",
    "vec_bit(?)",
    "vec_quantize_binary(?)",
    "vec_quantize_int8(?, 'unit')",
    "vec_normalize(?)",
    "json(?)",
    "CAST(? AS TEXT)",
    "CAST(? AS BLOB)",
];

thread_local! {
    static DB: RefCell<Connection> = RefCell::new(open());
}

fn value(inp: &mut Input<'_>) -> Value {
    match inp.u8() % 8 {
        0 | 1 => Value::Blob(inp.bytes(2048).to_vec()),
        2 | 3 => Value::Text(String::from_utf8_lossy(inp.bytes(2048)).into_owned()),
        4 => Value::Integer(inp.i64() % 70_000),
        5 => Value::Real(inp.f64()),
        6 => Value::Text((*inp.choose(&["l2", "cosine", "ip", "l1", "hamming", "jaccard", "unit", "x"])).to_string()),
        _ => Value::Null,
    }
}

fn one(c: &Connection, inp: &mut Input<'_>) {
    let (name, n) = *inp.choose(FUNCS);
    let args: Vec<(&str, Value)> = (0..n).map(|_| (*inp.choose(WRAPS), value(inp))).collect();
    let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|(_, v)| v as &dyn rusqlite::ToSql).collect();
    let list = args.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(", ");
    let _ = run(c, &format!("SELECT {name}({list})"), &params);
    // vec_each over the first argument.
    let _ = run(c, &format!("SELECT rowid, value FROM vec_each({})", args[0].0), &params[..1]);

    // Self-distance is zero for the metrics where that is exact.
    let (w, v) = &args[0];
    let p: [&dyn rusqlite::ToSql; 2] = [v, v];
    for f in ["vec_distance_l2", "vec_distance_l1", "vec_distance_hamming", "vec_distance_jaccard"] {
        if let Ok(rows) = run(c, &format!("SELECT {f}({w}, {})", w.replace('?', "?2")), &p) {
            match &rows[0][0] {
                Value::Real(d) => assert!(*d == 0.0, "{f}(x, x) = {d} for {w} {v:?}"),
                Value::Integer(d) => assert!(*d == 0, "{f}(x, x) = {d} for {w} {v:?}"),
                other => panic!("{f}(x, x) returned {other:?} for {w} {v:?}"),
            }
        }
    }
    // Length and type agree with the bytes.
    if let Ok(rows) = run(
        c,
        &format!("SELECT vec_length({w}), vec_type({w}), length(vec_f32({w})) IS NOT NULL, vec_to_json({w})")
            .replace("?", "?1"),
        &[v],
    ) {
        let (len, ty) = (&rows[0][0], &rows[0][1]);
        if let (Value::Integer(len), Value::Text(ty)) = (len, ty) {
            assert!(*len >= 1 && *len <= 65_536, "vec_length = {len}");
            if let Value::Text(j) = &rows[0][3] {
                if ty == "float32" {
                    // %f rounding can overflow float32 only for values near its limit.
                    if let Ok(back) = run(c, "SELECT vec_length(?1)", &[j]) {
                        assert_eq!(back[0][0], Value::Integer(*len), "vec_to_json does not parse back: {j}");
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    DB.with(|c| {
        let c = c.borrow();
        for _ in 0..4 {
            if inp.is_empty() {
                break;
            }
            one(&c, &mut inp);
        }
    });
});
