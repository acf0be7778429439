//! vindex linked statically into a Rust app that uses rusqlite: `cargo run --example rust_app`.
//!
//! Nothing is loaded at run time: the app, SQLite (rusqlite's `bundled` feature) and vindex are
//! one binary. `vindex::register_auto_extension()` makes every connection opened afterwards
//! get the `vec_*` functions and the `vindex` module. To register on one connection only:
//!
//! ```ignore
//! let conn = rusqlite::Connection::open_in_memory()?;
//! // SAFETY: conn.handle() is a valid, open connection, used on this thread.
//! unsafe { vindex::register(conn.handle())? };
//! ```
//!
//! In your own Cargo.toml: `rusqlite = { version = "0.40", features = ["bundled"] }` and
//! `sqlite-vindex = { path = "..." }` (the library is named `vindex`). Both must use the same
//! `libsqlite3-sys`, so that they link one SQLite.

use rusqlite::{Connection, params};

/// A float32 vector as vindex stores it: little-endian, 4 bytes per element.
fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    vindex::register_auto_extension()?;
    let conn = Connection::open_in_memory()?;

    let (sqlite, version): (String, String) =
        conn.query_row("SELECT sqlite_version(), vec_version()", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    println!("SQLite {sqlite} (bundled), vindex {version} (linked statically)");

    conn.execute_batch(
        "CREATE VIRTUAL TABLE colors USING vindex(
             rgb float[3] distance=l2,   -- the vector
             warm integer,               -- metadata: filterable inside KNN
             +name text                  -- auxiliary: stored and returned
         );",
    )?;

    let colors: &[(&str, [f32; 3], bool)] = &[
        ("red", [1.0, 0.0, 0.0], true),
        ("crimson", [0.86, 0.08, 0.24], true),
        ("orange", [1.0, 0.65, 0.0], true),
        ("gold", [1.0, 0.84, 0.0], true),
        ("green", [0.0, 0.5, 0.0], false),
        ("teal", [0.0, 0.5, 0.5], false),
        ("navy", [0.0, 0.0, 0.5], false),
        ("blue", [0.0, 0.0, 1.0], false),
        ("violet", [0.93, 0.51, 0.93], false),
        ("maroon", [0.5, 0.0, 0.0], true),
    ];
    {
        let tx = conn.unchecked_transaction()?;
        let mut insert = tx.prepare("INSERT INTO colors(rowid, rgb, warm, name) VALUES (?1, ?2, ?3, ?4)")?;
        for (i, (name, rgb, warm)) in colors.iter().enumerate() {
            insert.execute(params![i as i64 + 1, f32_blob(rgb), warm, name])?;
        }
        drop(insert);
        tx.commit()?;
    }
    println!("inserted {} colors", colors.len());

    // The query vector can be a float32 BLOB or JSON text.
    let pinkish = f32_blob(&[0.95, 0.3, 0.45]);
    let knn = "SELECT rowid, name, distance FROM colors WHERE rgb MATCH ?1 AND k = ?2";
    let mut stmt = conn.prepare(knn)?;
    let nearest: Vec<(i64, String, f64)> =
        stmt.query_map(params![pinkish, 3], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
    println!("\n3 colors nearest to rgb(0.95, 0.30, 0.45):");
    for (rowid, name, distance) in &nearest {
        println!("  {rowid:2}  {name:8}  {distance:.4}");
    }

    let mut stmt = conn.prepare(
        "SELECT name, distance, vec_to_json(rgb) FROM colors
         WHERE rgb MATCH '[0.95, 0.3, 0.45]' AND k = 3 AND warm = 0",
    )?;
    let cool: Vec<(String, f64, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
    println!("\n3 nearest cool colors (AND warm = 0, filtered inside the search):");
    for (name, distance, rgb) in &cool {
        println!("  {name:8}  {distance:.4}  {rgb}");
    }

    // Sanity checks, so a broken build does not print plausible nonsense.
    assert_eq!(nearest.len(), 3);
    assert_eq!(nearest[0].1, "crimson");
    assert_eq!(cool.len(), 3);
    assert_eq!(cool[0].0, "violet");

    let rows: i64 = conn.query_row("SELECT rows FROM vindex_status WHERE table_name = 'colors'", [], |r| r.get(0))?;
    println!("\nvindex_status: {rows} rows in colors.rgb");
    Ok(())
}
