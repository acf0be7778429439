//! The crate's error type. Every failure that can reach SQL is one of these; the FFI layer
//! turns it into an SQLite result code plus a message that names the problem.

use std::fmt;

/// SQLite result codes we produce (the numeric values are SQLite's and never change).
pub mod code {
    pub const ERROR: i32 = 1;
    pub const INTERNAL: i32 = 2;
    pub const NOMEM: i32 = 7;
    pub const CONSTRAINT: i32 = 19;
    pub const MISUSE: i32 = 21;
    pub const RANGE: i32 = 25;
    /// SQLITE_CORRUPT_VTAB = SQLITE_CORRUPT | (1 << 8)
    pub const CORRUPT_VTAB: i32 = 11 | (1 << 8);
    /// SQLITE_CONSTRAINT_VTAB = SQLITE_CONSTRAINT | (9 << 8)
    pub const CONSTRAINT_VTAB: i32 = 19 | (9 << 8);
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Bad input from the user: wrong vector, bad option, bad argument.
    Invalid(String),
    /// A constraint (uniqueness, type) would be violated.
    Constraint(String),
    /// Shadow tables disagree with each other or hold bytes we cannot decode.
    Corrupt(String),
    /// An error reported by SQLite itself while we ran nested SQL.
    Sqlite {
        code: i32,
        msg: String,
    },
    /// The query plan cannot be used (xBestIndex only): SQLITE_CONSTRAINT without message.
    PlanUnusable,
    NoMem,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn corrupt(msg: impl Into<String>) -> Self {
        Error::Corrupt(msg.into())
    }
    pub fn constraint(msg: impl Into<String>) -> Self {
        Error::Constraint(msg.into())
    }

    /// The SQLite result code for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::Invalid(_) => code::ERROR,
            Error::Constraint(_) => code::CONSTRAINT_VTAB,
            Error::Corrupt(_) => code::CORRUPT_VTAB,
            Error::Sqlite { code, .. } => *code,
            Error::PlanUnusable => code::CONSTRAINT,
            Error::NoMem => code::NOMEM,
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Prefix the message with context (e.g. which argument or column it concerns).
    pub fn context(self, what: &str) -> Self {
        match self {
            Error::Invalid(m) => Error::Invalid(format!("{what}: {m}")),
            Error::Constraint(m) => Error::Constraint(format!("{what}: {m}")),
            Error::Corrupt(m) => Error::Corrupt(format!("{what}: {m}")),
            Error::Sqlite { code, msg } => Error::Sqlite { code, msg: format!("{what}: {msg}") },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) | Error::Constraint(m) => f.write_str(m),
            Error::Corrupt(m) => write!(f, "vindex: corrupt index data: {m}"),
            Error::Sqlite { msg, .. } => f.write_str(msg),
            Error::PlanUnusable => f.write_str("query plan not usable"),
            Error::NoMem => f.write_str("out of memory"),
        }
    }
}

impl std::error::Error for Error {}
