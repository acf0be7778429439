//! Values for typed columns (metadata, typed auxiliary columns, the text primary key), converted
//! exactly as a STRICT table converts them: SQLite applies the column's affinity, then rejects a
//! value whose storage class is not the declared type (`cannot store TEXT value in INTEGER
//! column t.c`).
//!
//! The common cases are decided here, by the rules of SQLite's `applyAffinity` and
//! `OP_TypeCheck` (which have not changed since STRICT tables appeared in 3.37):
//! - INTEGER: an integer as is; a real that is integral and strictly inside the i64 range
//!   becomes that integer (`5.0` → 5), any other real is rejected.
//! - REAL: a real as is (−0.0 becomes 0.0: SQLite first turns it into the integer 0); an
//!   integer becomes the nearest real.
//! - TEXT: text as is; an integer in decimal.
//! - BLOB: only blobs. No column accepts a blob except BLOB; NULL goes everywhere.
//!
//! Two conversions depend on the SQLite that runs, so SQLite itself does them: text into an
//! INTEGER or REAL column (SQLite's own decimal parser decides what is a number — `' 7 '`, `'1e3'`
//! and `'5.0'` are, `'0x10'`, `'nan'` and `'inf'` are not — and to which double a long decimal
//! rounds), and a real into a TEXT column (SQLite 3.40 renders with `%!.15g`, e.g. `'5.0'` and
//! `'1.0e+20'`; newer versions keep up to 17 digits). They go through a private in-memory
//! connection holding a STRICT table: the value is stored there and read back, or rejected
//! there. Text that is a plain decimal integer of up to 18 digits is decided here (every
//! version reads it as that integer).
//!
//! One difference remains possible: a connection whose `SQLITE_DBCONFIG_FP_DIGITS` was changed
//! (SQLite 3.48+) renders reals with other digits than the private connection's default.

use crate::error::{Error, Result};
use crate::ffi::stmt::OwnedDb;
use crate::store::def::MetaType;
use crate::value::{OwnedValue, SqlValue};
use std::sync::Mutex;

/// Convert `v` for a column of type `ty` the way a STRICT table does; the error names
/// `table.col`.
pub fn coerce(v: SqlValue<'_>, ty: MetaType, table: &str, col: &str) -> Result<OwnedValue> {
    let bad = || Error::invalid(format!("cannot store {} value in {} column {table}.{col}", v.type_name(), ty.sql()));
    Ok(match (ty, v) {
        (_, SqlValue::Null) => OwnedValue::Null,
        (MetaType::Integer, SqlValue::Integer(i)) => OwnedValue::Integer(i),
        (MetaType::Integer, SqlValue::Real(f)) => OwnedValue::Integer(integral(f).ok_or_else(bad)?),
        (MetaType::Real, SqlValue::Integer(i)) => OwnedValue::Real(i as f64),
        (MetaType::Real, SqlValue::Real(f)) => OwnedValue::Real(f + 0.0),
        (MetaType::Text, SqlValue::Text(t)) => OwnedValue::Text(String::from_utf8_lossy(t).into_owned()),
        (MetaType::Text, SqlValue::Integer(i)) => OwnedValue::Text(i.to_string()),
        (MetaType::Blob, SqlValue::Blob(b)) => OwnedValue::Blob(b.to_vec()),
        (MetaType::Integer | MetaType::Real, SqlValue::Text(t)) => match plain_integer(t) {
            Some(i) if ty == MetaType::Integer => OwnedValue::Integer(i),
            Some(i) => OwnedValue::Real(i as f64),
            None => by_sqlite(v, ty)?.ok_or_else(bad)?,
        },
        (MetaType::Text, SqlValue::Real(_)) => by_sqlite(v, ty)?.ok_or_else(bad)?,
        _ => return Err(bad()),
    })
}

/// SQLite's `sqlite3VdbeIntegerAffinity`: the integer equal to `f`, if there is one strictly
/// between i64::MIN and i64::MAX.
fn integral(f: f64) -> Option<i64> {
    let i = f as i64; // saturating, as SQLite's doubleToInt64
    (f == i as f64 && i > i64::MIN && i < i64::MAX).then_some(i)
}

/// `[+-]?[0-9]{1,18}`: text every SQLite version reads as exactly this integer.
fn plain_integer(t: &[u8]) -> Option<i64> {
    let digits = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// The private connection: a STRICT table with one column per type that needs SQLite's help.
static PRIVATE: Mutex<Option<OwnedDb>> = Mutex::new(None);

/// Store `v` into a STRICT column of type `ty` on the private connection and read it back.
/// None: the STRICT table rejects it.
fn by_sqlite(v: SqlValue<'_>, ty: MetaType) -> Result<Option<OwnedValue>> {
    let col = match ty {
        MetaType::Integer => "i",
        MetaType::Real => "r",
        MetaType::Text => "t",
        MetaType::Blob => "b",
    };
    let mut guard = PRIVATE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let db = OwnedDb::open_memory().map_err(|e| e.context("opening vindex's private in-memory connection"))?;
        db.db().exec("CREATE TABLE s(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB) STRICT")?;
        *guard = Some(db);
    }
    let db = guard.as_ref().map(OwnedDb::db).ok_or_else(|| Error::invalid("no private connection"))?;
    let mut ins = db.prepare(&format!("INSERT OR REPLACE INTO s(id, {col}) VALUES (1, ?1)"), false)?;
    ins.bind_value(1, v)?;
    match ins.execute() {
        Ok(()) => {}
        Err(Error::Sqlite { code, .. }) if code & 0xff == libsqlite3_sys::SQLITE_CONSTRAINT => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut sel = db.prepare(&format!("SELECT {col} FROM s WHERE id = 1"), false)?;
    if !sel.step()? {
        return Err(Error::invalid("the private STRICT table lost its row"));
    }
    Ok(Some(sel.column_owned(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_reals() {
        assert_eq!(integral(5.0), Some(5));
        assert_eq!(integral(-0.0), Some(0));
        assert_eq!(integral(5.5), None);
        assert_eq!(integral(2f64.powi(63)), None); // 2^63
        assert_eq!(integral(-(2f64.powi(63))), None); // i64::MIN itself is excluded
        assert_eq!(integral(f64::INFINITY), None);
        assert_eq!(integral(1e18), Some(1_000_000_000_000_000_000));
    }

    #[test]
    fn plain_integers() {
        assert_eq!(plain_integer(b"5"), Some(5));
        assert_eq!(plain_integer(b"-007"), Some(-7));
        assert_eq!(plain_integer(b"+12"), Some(12));
        for t in [&b""[..], b"-", b" 7", b"7 ", b"5.0", b"1e3", b"0x10", b"1234567890123456789"] {
            assert_eq!(plain_integer(t), None, "{:?}", String::from_utf8_lossy(t));
        }
    }
}
