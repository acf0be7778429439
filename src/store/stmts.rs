//! A cache of prepared statements keyed by their SQL text. A statement is taken out of the
//! cache while in use and put back (reset) when the guard drops, so nested use never aliases.

use crate::error::Result;
use crate::ffi::stmt::{Db, Stmt};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

/// Statements kept per table; beyond this many distinct texts the cache is cleared.
const MAX_CACHED: usize = 64;

pub struct StmtCache {
    db: Db,
    map: RefCell<HashMap<String, Stmt>>,
}

pub struct CachedStmt<'a> {
    cache: &'a StmtCache,
    sql: Option<String>,
    stmt: Option<Stmt>,
}

impl StmtCache {
    pub fn new(db: Db) -> Self {
        StmtCache { db, map: RefCell::new(HashMap::new()) }
    }

    /// A prepared statement for `sql`, from the cache or freshly prepared.
    pub fn get(&self, sql: &str) -> Result<CachedStmt<'_>> {
        let cached = self.map.borrow_mut().remove(sql);
        let stmt = match cached {
            Some(s) => s,
            None => self.db.prepare(sql, true)?,
        };
        Ok(CachedStmt { cache: self, sql: Some(sql.to_string()), stmt: Some(stmt) })
    }

    /// Finalize every cached statement (before DROP TABLE, or when the table goes away).
    pub fn clear(&self) {
        self.map.borrow_mut().clear();
    }
}

impl Drop for CachedStmt<'_> {
    fn drop(&mut self) {
        if let (Some(sql), Some(mut stmt)) = (self.sql.take(), self.stmt.take()) {
            stmt.reset();
            stmt.clear_bindings();
            let mut map = self.cache.map.borrow_mut();
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert(sql, stmt);
        }
    }
}

impl Deref for CachedStmt<'_> {
    type Target = Stmt;
    fn deref(&self) -> &Stmt {
        self.stmt.as_ref().expect("statement present until drop")
    }
}

impl DerefMut for CachedStmt<'_> {
    fn deref_mut(&mut self) -> &mut Stmt {
        self.stmt.as_mut().expect("statement present until drop")
    }
}
