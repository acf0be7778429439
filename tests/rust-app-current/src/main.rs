//! A KNN query through vindex from an app on the current rusqlite (bundled SQLite), registered
//! both ways: for every connection (auto-extension) and on one connection.

use rusqlite::{Connection, params};

fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn check(conn: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING vindex(embedding float[3] distance=cosine, category text, +body text)",
    )?;
    let rows: &[(i64, [f32; 3], &str)] =
        &[(1, [1.0, 0.0, 0.0], "a"), (2, [0.9, 0.1, 0.0], "b"), (3, [0.0, 1.0, 0.0], "a"), (4, [0.7, 0.7, 0.0], "a")];
    let tx = conn.unchecked_transaction()?;
    for (id, v, cat) in rows {
        conn.execute(
            "INSERT INTO docs(rowid, embedding, category, body) VALUES (?1, ?2, ?3, 'doc ' || ?1)",
            params![id, f32_blob(v), cat],
        )?;
    }
    tx.commit()?;
    let mut st =
        conn.prepare("SELECT rowid, distance, body FROM docs WHERE embedding MATCH ?1 AND k = 2 AND category = 'a'")?;
    let got: Vec<(i64, f64, String)> = st
        .query_map(params![f32_blob(&[1.0, 0.05, 0.0])], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let ids: Vec<i64> = got.iter().map(|r| r.0).collect();
    if ids != [1, 4] || got[1].2 != "doc 4" || !(got[0].1 < got[1].1) {
        return Err(format!("unexpected KNN result {got:?}").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    vindex::register_auto_extension()?;
    check(&Connection::open_in_memory()?)?;

    // On one connection only (here the auto-extension already ran: registering again is fine).
    let conn = Connection::open_in_memory()?;
    // SAFETY: conn.handle() is a valid, open connection, used on this thread.
    unsafe { vindex::register(conn.handle())? };
    conn.execute_batch("ATTACH ':memory:' AS other")?;
    check(&conn)?;

    println!("rust-app-current: rusqlite with SQLite {} runs vindex {}", rusqlite::version(), vindex::VERSION);
    Ok(())
}
