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
    /// Statements named by a fixed key, their SQL made once: the hot paths use these.
    named: RefCell<HashMap<&'static str, (String, Option<Stmt>)>>,
}

/// A statement of [`StmtCache::named`], put back when dropped.
pub struct NamedStmt<'a> {
    cache: &'a StmtCache,
    key: &'static str,
    stmt: Option<Stmt>,
}

impl Drop for NamedStmt<'_> {
    fn drop(&mut self) {
        if let Some(mut stmt) = self.stmt.take() {
            stmt.reset();
            stmt.clear_bindings();
            if let Some(e) = self.cache.named.borrow_mut().get_mut(self.key) {
                e.1 = Some(stmt);
            }
        }
    }
}

impl Deref for NamedStmt<'_> {
    type Target = Stmt;
    fn deref(&self) -> &Stmt {
        self.stmt.as_ref().expect("statement present until drop")
    }
}

impl DerefMut for NamedStmt<'_> {
    fn deref_mut(&mut self) -> &mut Stmt {
        self.stmt.as_mut().expect("statement present until drop")
    }
}

pub struct CachedStmt<'a> {
    cache: &'a StmtCache,
    sql: Option<String>,
    stmt: Option<Stmt>,
}

impl StmtCache {
    pub fn new(db: Db) -> Self {
        StmtCache { db, map: RefCell::new(HashMap::new()), named: RefCell::new(HashMap::new()) }
    }

    /// The statement named `key`, whose SQL `sql()` makes (called once per cache lifetime).
    /// While one is in use, a nested request for the same key prepares a second copy.
    pub fn named(&self, key: &'static str, sql: impl FnOnce() -> String) -> Result<NamedStmt<'_>> {
        let mut m = self.named.borrow_mut();
        let e = m.entry(key).or_insert_with(|| (sql(), None));
        let stmt = match e.1.take() {
            Some(s) => s,
            None => self.db.prepare(&e.0, true)?,
        };
        Ok(NamedStmt { cache: self, key, stmt: Some(stmt) })
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
        self.named.borrow_mut().clear();
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
