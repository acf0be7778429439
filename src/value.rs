//! Safe views of SQLite values, used by everything above the FFI layer.

/// A borrowed SQL value as SQLite hands it to us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SqlValue<'a> {
    Null,
    Integer(i64),
    Real(f64),
    /// Raw text bytes (SQLite does not guarantee valid UTF-8).
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl<'a> SqlValue<'a> {
    /// SQLite's name of the storage class, as `typeof()` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Integer(_) => "INTEGER",
            SqlValue::Real(_) => "FLOAT",
            SqlValue::Text(_) => "TEXT",
            SqlValue::Blob(_) => "BLOB",
        }
    }

    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            SqlValue::Null => OwnedValue::Null,
            SqlValue::Integer(i) => OwnedValue::Integer(i),
            SqlValue::Real(f) => OwnedValue::Real(f),
            SqlValue::Text(t) => OwnedValue::Text(String::from_utf8_lossy(t).into_owned()),
            SqlValue::Blob(b) => OwnedValue::Blob(b.to_vec()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }
}

/// A function argument: its value and its subtype (0 when none).
#[derive(Debug, Clone, Copy)]
pub struct Arg<'a> {
    pub value: SqlValue<'a>,
    pub subtype: u32,
}

impl<'a> Arg<'a> {
    pub fn new(value: SqlValue<'a>) -> Self {
        Arg { value, subtype: 0 }
    }
    pub fn with_subtype(value: SqlValue<'a>, subtype: u32) -> Self {
        Arg { value, subtype }
    }
}

/// An owned SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl OwnedValue {
    pub fn as_ref(&self) -> SqlValue<'_> {
        match self {
            OwnedValue::Null => SqlValue::Null,
            OwnedValue::Integer(i) => SqlValue::Integer(*i),
            OwnedValue::Real(f) => SqlValue::Real(*f),
            OwnedValue::Text(t) => SqlValue::Text(t.as_bytes()),
            OwnedValue::Blob(b) => SqlValue::Blob(b),
        }
    }
}

/// What a scalar function returns: a value and, optionally, a subtype for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub value: OwnedValue,
    pub subtype: Option<u32>,
}

impl Output {
    pub fn null() -> Self {
        Output { value: OwnedValue::Null, subtype: None }
    }
    pub fn int(i: i64) -> Self {
        Output { value: OwnedValue::Integer(i), subtype: None }
    }
    pub fn real(f: f64) -> Self {
        Output { value: OwnedValue::Real(f), subtype: None }
    }
    pub fn text(s: impl Into<String>) -> Self {
        Output { value: OwnedValue::Text(s.into()), subtype: None }
    }
    pub fn blob(b: Vec<u8>, subtype: Option<u32>) -> Self {
        Output { value: OwnedValue::Blob(b), subtype }
    }
}
