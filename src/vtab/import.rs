//! Moving over from sqlite-vec in one statement (docs/MIGRATING.md):
//!
//! - `INSERT INTO docs(docs) VALUES ('import=old')` copies every row of the sqlite-vec `vec0`
//!   table `old` (rowid, vectors, metadata, partition keys, auxiliary columns, primary key)
//!   into the vindex table `docs`, whose columns match `old`'s by name;
//! - `SELECT vindex_import_vec0('old', 'docs' [, 'options'])` does the same, creating `docs` to
//!   match `old` first when it does not exist.
//!
//! Both read `old`'s shadow tables directly ([`crate::store::vec0`]), so sqlite-vec need not be
//! loaded, and run inside the caller's transaction: an error anywhere leaves `docs` as it was.

use super::TableInner;
use super::update::RowValues;
use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::store::def::{ColumnKind, quote_ident};
use crate::store::vec0::{Vec0Def, Vec0Kind, Vec0Reader, read_def};
use crate::value::{Arg, Output, OwnedValue, SqlValue};
use crate::vector::ElementType;

/// Where a vec0 column's values go in the target table.
#[derive(Debug, Clone, Copy)]
enum Dest {
    /// A column of the target (index into its definition).
    Column(usize),
    /// The rowid (vec0's integer primary key, when the target has no column of that name).
    Rowid,
}

/// `[vec0:][schema.]table`, unquoted; the schema defaults to `default_schema`.
pub fn parse_source(spec: &str, default_schema: &str) -> Result<(String, String)> {
    let s = spec.trim();
    let s = s.strip_prefix("vec0:").or_else(|| s.strip_prefix("VEC0:")).unwrap_or(s).trim();
    if s.is_empty() {
        return Err(Error::invalid("import= needs the name of a sqlite-vec vec0 table, e.g. 'import=old_docs'"));
    }
    let unq = |p: &str| {
        let p = p.trim();
        if p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
            p[1..p.len() - 1].replace("\"\"", "\"")
        } else {
            p.to_string()
        }
    };
    // The first '.' outside double quotes separates the schema.
    let mut quoted = false;
    let dot = s.char_indices().find_map(|(i, ch)| {
        if ch == '"' {
            quoted = !quoted;
        }
        (ch == '.' && !quoted).then_some(i)
    });
    match dot {
        Some(i) => Ok((unq(&s[..i]), unq(&s[i + 1..]))),
        None => Ok((default_schema.to_string(), unq(s))),
    }
}

impl TableInner {
    /// `'import=...'`: copy every row of a vec0 table into this one. Returns the rows copied.
    pub fn import_vec0(&self, spec: &str) -> Result<u64> {
        let (schema, source) = parse_source(spec, &self.store.names.schema)?;
        if source.eq_ignore_ascii_case(self.tname()) && schema.eq_ignore_ascii_case(&self.store.names.schema) {
            return Err(Error::invalid(format!("{} cannot import itself", self.tname())));
        }
        let def = read_def(self.db, &schema, &source)?;
        let plan = self.import_plan(&source, &def)?;
        let reader = Vec0Reader::new(self.db, &schema, &source, &def);
        let total = reader.count()?;
        let progress = self.cache.counters.start_task("import", total);
        let mut done = 0u64;
        let t = self.tname().to_string();
        self.unit(|| {
            reader.for_each(&mut |row| {
                let rowid = row.rowid;
                self.import_row(&def, &plan, row)
                    .map_err(|e| e.context(&format!("importing row {rowid} of {source} into {t}")))?;
                done += 1;
                progress.step(1);
                Ok(())
            })
        })?;
        Ok(done)
    }

    /// Check, convert and insert one vec0 row.
    fn import_row(&self, def: &Vec0Def, plan: &[Dest], row: crate::store::vec0::Vec0Row) -> Result<()> {
        let rowid = row.rowid;
        let mut rv = RowValues::empty(&self.def);
        let put = |dest: Dest, val: SqlValue<'_>, subtype: u32, rv: &mut RowValues| -> Result<()> {
            match dest {
                Dest::Column(i) => self.convert(&self.def.columns[i], val, subtype, rv),
                Dest::Rowid => Ok(()),
            }
        };
        let (mut vi, mut pi, mut mi, mut ai) = (0, 0, 0, 0);
        for (c, dest) in def.columns.iter().zip(plan) {
            match &c.kind {
                Vec0Kind::Vector { ty, .. } => {
                    put(*dest, SqlValue::Blob(&row.vectors[vi]), ty.subtype(), &mut rv)?;
                    vi += 1;
                }
                Vec0Kind::Partition { .. } => {
                    put(*dest, row.partitions[pi].as_ref(), 0, &mut rv)?;
                    pi += 1;
                }
                Vec0Kind::Metadata { .. } => {
                    put(*dest, row.metadata[mi].as_ref(), 0, &mut rv)?;
                    mi += 1;
                }
                Vec0Kind::Aux { .. } => {
                    put(*dest, row.aux[ai].as_ref(), 0, &mut rv)?;
                    ai += 1;
                }
                Vec0Kind::PrimaryKey { text: true } => {
                    let pk = row.text_pk.clone().unwrap_or_default();
                    put(*dest, SqlValue::Text(pk.as_bytes()), 0, &mut rv)?;
                }
                // An integer primary key is the rowid, which the row keeps.
                Vec0Kind::PrimaryKey { text: false } => put(*dest, SqlValue::Integer(rowid), 0, &mut rv)?,
            }
        }
        let pk = match &rv.pk {
            Some(Some(p)) => Some(p.clone()),
            _ => None,
        };
        self.insert_row(Some(rowid), pk.as_deref(), &rv).map(|_| ())
    }

    /// For each vec0 column, where its values go; an error names every column that does not fit.
    fn import_plan(&self, source: &str, def: &Vec0Def) -> Result<Vec<Dest>> {
        let t = self.tname();
        let mut plan = Vec::new();
        let mut problems = Vec::new();
        let mut used = vec![false; self.def.columns.len()];
        for c in &def.columns {
            let found = self.def.columns.iter().position(|x| x.name.eq_ignore_ascii_case(&c.name));
            let Some(i) = found else {
                if c.kind == (Vec0Kind::PrimaryKey { text: false }) {
                    plan.push(Dest::Rowid);
                } else {
                    problems.push(format!("{t} has no column {}", c.name));
                    plan.push(Dest::Rowid);
                }
                continue;
            };
            used[i] = true;
            let target = &self.def.columns[i];
            let fits = match (&c.kind, &target.kind) {
                (Vec0Kind::Vector { ty, dims, .. }, ColumnKind::Vector { ty: tt, dims: td, .. }) => {
                    let ok = dims == td && (ty == tt || (*ty == ElementType::Float32 && *tt == ElementType::Float16));
                    if !ok {
                        problems.push(format!(
                            "column {}: {source} has {}[{dims}] vectors, {t} has {}[{td}]",
                            c.name,
                            ty.name(),
                            tt.name()
                        ));
                    }
                    true
                }
                (Vec0Kind::Vector { .. }, _) | (_, ColumnKind::Vector { .. }) => false,
                (Vec0Kind::PrimaryKey { text: false }, ColumnKind::IntegerPk) => true,
                (Vec0Kind::PrimaryKey { text: false }, _) => false,
                (_, ColumnKind::IntegerPk) => false,
                (_, ColumnKind::Metadata { .. } | ColumnKind::Aux { .. } | ColumnKind::TextPk) => true,
            };
            if !fits {
                problems.push(format!(
                    "column {} is {} in {source} but {} in {t}",
                    c.name,
                    describe_vec0(&c.kind),
                    describe(&target.kind)
                ));
            }
            plan.push(Dest::Column(i));
        }
        for (i, c) in self.def.columns.iter().enumerate() {
            if used[i] {
                continue;
            }
            match c.kind {
                ColumnKind::Vector { .. } => problems.push(format!("{source} has no vector column {} for {t}", c.name)),
                ColumnKind::TextPk => {
                    problems.push(format!("{source} has no column {} for {t}'s text primary key", c.name))
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(Error::invalid(format!(
                "cannot import {source} into {t}: {} (columns are matched by name; vindex_import_vec0('{source}', 'new_table') \
                 creates a table that matches)",
                problems.join("; ")
            )))
        }
    }
}

fn describe_vec0(k: &Vec0Kind) -> &'static str {
    match k {
        Vec0Kind::Vector { .. } => "a vector column",
        Vec0Kind::Partition { .. } => "a partition key",
        Vec0Kind::PrimaryKey { text: true } => "a text primary key",
        Vec0Kind::PrimaryKey { text: false } => "an integer primary key",
        Vec0Kind::Aux { .. } => "an auxiliary column",
        Vec0Kind::Metadata { .. } => "a metadata column",
    }
}

fn describe(k: &ColumnKind) -> &'static str {
    match k {
        ColumnKind::Vector { .. } => "a vector column",
        ColumnKind::Metadata { partition: Some(_), .. } => "a partition key",
        ColumnKind::Metadata { .. } => "a metadata column",
        ColumnKind::Aux { .. } => "an auxiliary column",
        ColumnKind::IntegerPk => "an integer primary key",
        ColumnKind::TextPk => "a text primary key",
    }
}

fn text_arg(args: &[Arg<'_>], i: usize, what: &str) -> Result<Option<String>> {
    match args.get(i).map(|a| a.value) {
        None | Some(SqlValue::Null) => Ok(None),
        Some(SqlValue::Text(t)) => Ok(Some(String::from_utf8_lossy(t).into_owned())),
        Some(other) => {
            Err(Error::invalid(format!("vindex_import_vec0(): {what} must be text, not {}", other.type_name())))
        }
    }
}

/// Split `a, b(c, d), e` at top-level commas.
fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim().to_string());
    out.retain(|x| !x.is_empty());
    out
}

/// Whether `schema.table` exists; an error when it exists but is not a vindex table.
fn table_exists(db: Db, schema: &str, table: &str) -> Result<bool> {
    let Some(sql) = crate::store::vec0::table_sql(db, schema, table)? else {
        return Ok(false);
    };
    match crate::store::vec0::module_args(&sql) {
        Some((m, _)) if m.eq_ignore_ascii_case("vindex") => Ok(true),
        _ => Err(Error::invalid(format!(
            "vindex_import_vec0(): {schema}.{table} exists and is not a vindex table; name a new table or a vindex one"
        ))),
    }
}

/// `vindex_import_vec0(source, target [, options])`: copy the vec0 table `source` into the
/// vindex table `target`, first creating `target` to match `source` (with the table options
/// `options`, e.g. `'index=hnsw(m=16), seed=1'`) when it does not exist. Returns the number of
/// rows copied. `source` and `target` may be `schema.table`; the target's schema defaults to
/// the source's.
pub fn vindex_import_vec0(db: Db, args: &[Arg<'_>]) -> Result<Output> {
    let source = text_arg(args, 0, "the vec0 table")?
        .ok_or_else(|| Error::invalid("vindex_import_vec0(): the first argument names the vec0 table to import"))?;
    let target = text_arg(args, 1, "the vindex table")?
        .ok_or_else(|| Error::invalid("vindex_import_vec0(): the second argument names the vindex table to fill"))?;
    let options = text_arg(args, 2, "the options")?.unwrap_or_default();
    let (sschema, stable) = parse_source(&source, "main")?;
    let (tschema, ttable) = parse_source(&target, &sschema)?;
    let def = read_def(db, &sschema, &stable)?;
    let opts = split_options(&options);
    let mut index = None;
    let mut create_opts = Vec::new();
    for o in opts {
        let key = o.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
        if key == "index" {
            index = Some(o);
        } else {
            create_opts.push(o);
        }
    }
    let full_target = format!("{}.{}", quote_ident(&tschema), quote_ident(&ttable));
    // All or nothing, inside the caller's transaction if there is one (a failed import undoes
    // the table it created). SQLite opens a savepoint only while no write statement runs.
    db.exec("SAVEPOINT vindex_import_vec0").map_err(|e| {
        e.context("vindex_import_vec0() runs from a SELECT statement (SELECT vindex_import_vec0(...)), not inside another write")
    })?;
    let r = import_into(db, &def, (&sschema, &stable), (&tschema, &ttable), &full_target, create_opts, index);
    match r {
        Ok(n) => {
            db.exec("RELEASE vindex_import_vec0")?;
            Ok(Output { value: OwnedValue::Integer(n as i64), subtype: None })
        }
        Err(e) => {
            let _ = db.exec("ROLLBACK TO vindex_import_vec0; RELEASE vindex_import_vec0");
            Err(e)
        }
    }
}

fn import_into(
    db: Db,
    def: &Vec0Def,
    (sschema, stable): (&str, &str),
    (tschema, ttable): (&str, &str),
    full_target: &str,
    create_opts: Vec<String>,
    index: Option<String>,
) -> Result<u64> {
    if table_exists(db, tschema, ttable)? {
        if !create_opts.is_empty() || index.is_some() {
            return Err(Error::invalid(format!(
                "vindex_import_vec0(): {ttable} exists already; options apply only to a table the function creates"
            )));
        }
    } else {
        let mut cols = def.vindex_columns();
        if create_opts.iter().any(|o| o.to_ascii_lowercase().starts_with("chunk_size")) {
            cols.retain(|c| !c.starts_with("chunk_size="));
        }
        cols.extend(create_opts);
        db.exec(&format!("CREATE VIRTUAL TABLE {full_target} USING vindex({})", cols.join(", ")))?;
    }
    let n = Vec0Reader::new(db, sschema, stable, def).count()?;
    let cmd = format!("import={}.{}", quote_ident(sschema), quote_ident(stable));
    for c in std::iter::once(cmd).chain(index) {
        let mut st = db.prepare(&format!("INSERT INTO {full_target}({}) VALUES (?1)", quote_ident(ttable)), false)?;
        st.bind_text(1, c.as_bytes())?;
        st.execute()?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert_eq!(parse_source("old", "main").unwrap(), ("main".into(), "old".into()));
        assert_eq!(parse_source(" vec0:old ", "main").unwrap(), ("main".into(), "old".into()));
        assert_eq!(parse_source("aux.old", "main").unwrap(), ("aux".into(), "old".into()));
        assert_eq!(parse_source("\"a.b\"", "main").unwrap(), ("main".into(), "a.b".into()));
        assert_eq!(parse_source("\"s\".\"t\"", "main").unwrap(), ("s".into(), "t".into()));
        assert!(parse_source("vec0:", "main").is_err());
        assert_eq!(split_options("index=hnsw(m=8, ef_search=9), seed=3"), ["index=hnsw(m=8, ef_search=9)", "seed=3"]);
    }

    #[test]
    fn vec0_definitions_translate_to_valid_vindex_definitions() {
        let args: Vec<String> = [
            "id text primary key",
            "emb float[384] distance_metric=cosine",
            "q int8[8]",
            "b bit[64]",
            "user_id integer partition key",
            "+body text",
            "ok boolean",
            "score float",
            "chunk_size=256",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = crate::store::vec0::parse_def("t", &args).unwrap();
        let parsed = super::super::config::parse("t", &d.vindex_columns()).unwrap();
        assert_eq!(parsed.chunk_size, Some(256));
        assert!(parsed.has_text_pk());
        assert_eq!(parsed.n_partitions(), 1);
        assert_eq!(parsed.n_vectors(), 3);
    }
}
