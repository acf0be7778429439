//! Helpers shared by the fuzz targets: a reader that turns the fuzzer's bytes into choices, and
//! connections with vindex registered.

use rusqlite::Connection;
use std::sync::Once;

/// Reads decisions from the fuzzer's input; past the end every read returns zeros, so any
/// input is a valid program.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        i64::from_le_bytes(b)
    }
    pub fn f64(&mut self) -> f64 {
        f64::from_bits(self.i64() as u64)
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 { self.u8() as usize % n } else { self.u32() as usize % n }
    }
    pub fn choose<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }
    /// Up to `max` bytes: a length byte (or two) then that many bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = if max > 255 { self.u16() as usize } else { self.u8() as usize };
        let n = n.min(max).min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

static INIT: Once = Once::new();

/// A fresh in-memory connection with vindex loaded.
pub fn open() -> Connection {
    INIT.call_once(|| vindex::register_auto_extension().expect("register vindex"));
    Connection::open_in_memory().expect("open an in-memory database")
}

/// Run a statement to completion, reading every row; errors are returned, not raised.
pub fn run(
    c: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Vec<rusqlite::types::Value>>> {
    let mut st = c.prepare(sql)?;
    let n = st.column_count();
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut row = Vec::with_capacity(n);
        for i in 0..n {
            row.push(r.get::<_, rusqlite::types::Value>(i)?);
        }
        out.push(row);
    }
    Ok(out)
}

/// Little-endian float32 blob.
pub fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
