//! Parsing `CREATE VIRTUAL TABLE t USING vindex(...)` arguments into a table definition.
//!
//! Every argument is one of:
//! - a vector column: `name float[N] | float32[N] | f32[N] | float16[N] | f16[N] | int8[N] | i8[N] | bit[N]`,
//!   optionally followed by `distance=<metric>` (`distance_metric=` is accepted for sqlite-vec users);
//! - a metadata column: `name integer|int|float|real|double|text|blob|boolean` (filterable in KNN);
//! - a partition key: `name integer|text partition key` (metadata whose rows are stored by
//!   partition, so a query for one partition reads only its chunks; at most 4, as in sqlite-vec);
//! - an auxiliary column: `+name [type]` (stored and returned, not filterable);
//! - a primary key: `name integer primary key` (an alias of rowid) or `name text primary key`;
//! - a table option: `index=flat` (the default), `seed=N`, `chunk_size=N` (sqlite-vec's).

use crate::error::{Error, Result};
use crate::store::def::{
    Column, ColumnKind, IndexKind, MAX_AUX_COLUMNS, MAX_METADATA_COLUMNS, MAX_PARTITION_COLUMNS, MAX_VECTOR_COLUMNS,
    MetaType, RESERVED_NAMES, TableDef,
};
use crate::vector::distance::Metric;
use crate::vector::{ElementType, MAX_DIMS};

/// Strip one level of SQL identifier quoting ("x", [x], `x`, 'x').
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 {
        let (f, l) = (b[0], b[b.len() - 1]);
        if (f == b'"' && l == b'"') || (f == b'`' && l == b'`') || (f == b'\'' && l == b'\'') {
            let q = f as char;
            return s[1..s.len() - 1].replace(&format!("{q}{q}"), &q.to_string());
        }
        if f == b'[' && l == b']' {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// Split an argument into its name (possibly quoted) and the rest.
fn split_name(arg: &str) -> Result<(String, &str)> {
    let arg = arg.trim();
    let b = arg.as_bytes();
    if b.is_empty() {
        return Err(Error::invalid("empty column definition"));
    }
    let end = match b[0] {
        q @ (b'"' | b'`' | b'\'') => {
            let mut i = 1;
            loop {
                match b.get(i) {
                    None => return Err(Error::invalid(format!("unterminated quoted name in '{arg}'"))),
                    Some(&c) if c == q => {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                        } else {
                            break i + 1;
                        }
                    }
                    _ => i += 1,
                }
            }
        }
        b'[' => {
            arg.find(']').map(|i| i + 1).ok_or_else(|| Error::invalid(format!("unterminated [name] in '{arg}'")))?
        }
        _ => arg.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(arg.len()),
    };
    Ok((unquote(&arg[..end]), arg[end..].trim()))
}

fn parse_vector_type(s: &str) -> Option<(ElementType, &str)> {
    let lower = s.to_ascii_lowercase();
    let open = lower.find('[')?;
    let ty = match lower[..open].trim() {
        "float" | "float32" | "f32" => ElementType::Float32,
        "float16" | "f16" | "half" => ElementType::Float16,
        "int8" | "i8" => ElementType::Int8,
        "bit" => ElementType::Bit,
        _ => return None,
    };
    Some((ty, &s[open..]))
}

fn parse_meta_type(s: &str) -> Option<MetaType> {
    Some(match s.to_ascii_lowercase().as_str() {
        "integer" | "int" | "int64" | "integer64" | "bigint" | "boolean" | "bool" => MetaType::Integer,
        "float" | "real" | "double" | "float64" | "f64" => MetaType::Real,
        "text" | "varchar" | "string" => MetaType::Text,
        "blob" => MetaType::Blob,
        _ => return None,
    })
}

fn parse_vector_column(name: String, ty: ElementType, rest: &str, slot: usize) -> Result<Column> {
    // rest starts with "[N]" then options
    let close =
        rest.find(']').ok_or_else(|| Error::invalid(format!("column {name}: missing ']' after the dimension")))?;
    let dims_s = rest[1..close].trim();
    let dims: usize = dims_s.parse().map_err(|_| {
        Error::invalid(format!("column {name}: the dimension must be a positive integer, not '{dims_s}'"))
    })?;
    if dims == 0 || dims > MAX_DIMS {
        return Err(Error::invalid(format!("column {name}: {dims} dimensions is out of range (1 to {MAX_DIMS})")));
    }
    if ty == ElementType::Bit && !dims.is_multiple_of(8) {
        return Err(Error::invalid(format!("column {name}: bit vectors need a multiple of 8 dimensions, not {dims}")));
    }
    let mut metric = if ty == ElementType::Bit { Metric::Hamming } else { Metric::L2 };
    let mut metric_given = false;
    let mut words = rest[close + 1..].split_whitespace().peekable();
    while let Some(opt) = words.next() {
        // sqlite-vec's `indexed by flat()`: exact search, which every vindex table offers.
        if opt.eq_ignore_ascii_case("indexed") {
            let by = words.next().unwrap_or("");
            let what = words.next().unwrap_or("");
            if !by.eq_ignore_ascii_case("by")
                || !(what.eq_ignore_ascii_case("flat()") || what.eq_ignore_ascii_case("flat"))
            {
                return Err(Error::invalid(format!(
                    "column {name}: 'indexed by {what}' is sqlite-vec's syntax; vindex accepts only 'indexed by flat()' \
                     there, and chooses the index for the whole table with the option index=flat|hnsw(...)"
                )));
            }
            continue;
        }
        let (k, v) = opt.split_once('=').ok_or_else(|| {
            Error::invalid(format!(
                "column {name}: unknown option '{opt}' (expected distance=l2|cosine|ip|l1|hamming|jaccard)"
            ))
        })?;
        match k.to_ascii_lowercase().as_str() {
            "distance" | "distance_metric" | "metric" => {
                if metric_given {
                    return Err(Error::invalid(format!("column {name}: the distance is given more than once")));
                }
                metric_given = true;
                metric = Metric::parse(v).ok_or_else(|| {
                    Error::invalid(format!(
                        "column {name}: unknown distance '{v}' (expected l2, cosine, ip, l1, hamming or jaccard)"
                    ))
                })?;
            }
            other => {
                return Err(Error::invalid(format!(
                    "column {name}: unknown option '{other}' (the vector column options are distance=... and indexed by flat())"
                )));
            }
        }
    }
    if !metric.supports(ty) {
        let fits = if ty == ElementType::Bit { "hamming or jaccard" } else { "l2, cosine, ip or l1" };
        return Err(Error::invalid(format!(
            "column {name}: distance={} does not apply to {} vectors (use {fits})",
            metric.name(),
            ty.name()
        )));
    }
    Ok(Column { name, kind: ColumnKind::Vector { ty, dims, metric, slot } })
}

fn parse_index_option(v: &str) -> Result<IndexKind> {
    IndexKind::parse(v)
}

/// Names a vindex table cannot have: its hidden command column is named after the table (as
/// FTS5's is), so `rowid` would hide the rowid, and `distance` and `k` would clash with the
/// hidden columns every vindex table has (as would `ef_search`).
const RESERVED_TABLE_NAMES: &[&str] = &["rowid", "distance", "k", "ef_search", "nprobe"];

/// Whether `arg` is a table option (`index=...`): an unquoted name followed by `=`. A quoted
/// name (`"a=b" text`, `[a=b] text`, `` `a=b` text ``, `'a=b' text`) starts a column, whatever
/// it contains.
fn as_option(arg: &str) -> Option<(String, &str)> {
    if arg.starts_with(['"', '`', '\'', '[', '+']) {
        return None;
    }
    let (name, rest) = split_name(arg).ok()?;
    Some((name.to_ascii_lowercase(), rest.strip_prefix('=')?))
}

/// Refuse a name CREATE cannot give a vindex table (tables made before this check still open,
/// so that they can be dropped).
pub fn check_table_name(table: &str) -> Result<()> {
    if let Some(r) = RESERVED_TABLE_NAMES.iter().find(|r| r.eq_ignore_ascii_case(table)) {
        return Err(Error::invalid(format!(
            "a vindex table cannot be named '{table}': its hidden command column takes the table's name, \
             and {r} is a column every vindex table has (reserved table names: rowid, distance, k, ef_search, nprobe)"
        )));
    }
    Ok(())
}

/// Parse the module arguments of table `table`.
pub fn parse(table: &str, args: &[String]) -> Result<TableDef> {
    let mut columns: Vec<Column> = Vec::new();
    let mut index = None;
    let mut seed = None;
    let mut chunk_size = None;
    let (mut nv, mut nm, mut na, mut np) = (0, 0, 0, 0);
    for raw in args {
        let arg = raw.trim();
        if arg.is_empty() {
            return Err(Error::invalid("empty argument in the column list"));
        }
        if let Some((key, v)) = as_option(arg) {
            match key.as_str() {
                "index" => {
                    if index.is_some() {
                        return Err(Error::invalid("the index option is given twice"));
                    }
                    index = Some(parse_index_option(v)?);
                    continue;
                }
                "seed" => {
                    if seed.is_some() {
                        return Err(Error::invalid("the seed option is given twice"));
                    }
                    seed = Some(
                        v.trim()
                            .parse::<i64>()
                            .map_err(|_| Error::invalid(format!("seed must be an integer, not '{}'", v.trim())))?,
                    );
                    continue;
                }
                "chunk_size" => {
                    if chunk_size.is_some() {
                        return Err(Error::invalid("the chunk_size option is given twice"));
                    }
                    chunk_size = Some(parse_chunk_size(v)?);
                    continue;
                }
                other => {
                    return Err(Error::invalid(format!(
                        "unknown table option '{other}' (the table options are index=..., seed=... and chunk_size=...)"
                    )));
                }
            }
        }
        let (is_aux, body) = match arg.strip_prefix('+') {
            Some(b) => (true, b.trim()),
            None => (false, arg),
        };
        let (name, rest) = split_name(body)?;
        if name.is_empty() {
            return Err(Error::invalid(format!("missing column name in '{arg}'")));
        }
        let lname = name.to_ascii_lowercase();
        if RESERVED_NAMES.contains(&lname.as_str()) || lname == table.to_ascii_lowercase() {
            return Err(Error::invalid(format!(
                "column name '{name}' is reserved (distance, k, ef_search, nprobe, rowid and the table's own name are)"
            )));
        }
        if columns.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
            return Err(Error::invalid(format!("duplicate column name '{name}'")));
        }
        let col = if is_aux {
            let ty = if rest.is_empty() {
                None
            } else {
                Some(parse_meta_type(rest).ok_or_else(|| {
                    Error::invalid(format!(
                        "auxiliary column {name}: unknown type '{rest}' (expected integer, float, text or blob)"
                    ))
                })?)
            };
            na += 1;
            Column { name, kind: ColumnKind::Aux { ty, slot: na - 1 } }
        } else if let Some((ty, dimpart)) = parse_vector_type(rest) {
            nv += 1;
            parse_vector_column(name, ty, dimpart, nv - 1)?
        } else {
            let words: Vec<String> = rest.split_whitespace().map(|w| w.to_ascii_lowercase()).collect();
            let is_pk = words.len() == 3 && words[1] == "primary" && words[2] == "key";
            let is_partition = words.len() == 3 && words[1] == "partition" && words[2] == "key";
            if is_partition {
                let ty = match words[0].as_str() {
                    "integer" | "int" | "int64" | "integer64" | "bigint" => MetaType::Integer,
                    "text" => MetaType::Text,
                    other => {
                        return Err(Error::invalid(format!(
                            "partition key {name}: type must be integer or text (as in sqlite-vec), not {other}"
                        )));
                    }
                };
                np += 1;
                if np > MAX_PARTITION_COLUMNS {
                    return Err(Error::invalid(format!(
                        "more than {MAX_PARTITION_COLUMNS} partition key columns were given (at most {MAX_PARTITION_COLUMNS}, as in sqlite-vec)"
                    )));
                }
                nm += 1;
                Column { name, kind: ColumnKind::Metadata { ty, slot: nm - 1, partition: Some(np - 1) } }
            } else if is_pk {
                if columns.iter().any(|c| matches!(c.kind, ColumnKind::IntegerPk | ColumnKind::TextPk)) {
                    return Err(Error::invalid("only one primary key column is allowed"));
                }
                let kind = match words[0].as_str() {
                    "integer" | "int" => ColumnKind::IntegerPk,
                    "text" => ColumnKind::TextPk,
                    other => {
                        return Err(Error::invalid(format!(
                            "primary key {name}: type must be integer or text, not {other}"
                        )));
                    }
                };
                Column { name, kind }
            } else if words.len() == 1 {
                let ty = parse_meta_type(&words[0]).ok_or_else(|| {
                    Error::invalid(format!(
                        "column {name}: unknown type '{rest}' (expected float[N], float16[N], int8[N], bit[N], integer, float, text or blob)"
                    ))
                })?;
                nm += 1;
                Column { name, kind: ColumnKind::Metadata { ty, slot: nm - 1, partition: None } }
            } else if words.is_empty() {
                return Err(Error::invalid(format!(
                    "column {name} needs a type (float[N], float16[N], int8[N], bit[N], integer, float, text or blob)"
                )));
            } else {
                return Err(Error::invalid(format!("column {name}: cannot understand '{rest}'")));
            }
        };
        columns.push(col);
    }
    if nv == 0 {
        return Err(Error::invalid("a vindex table needs at least one vector column, e.g. embedding float[384]"));
    }
    if nv > MAX_VECTOR_COLUMNS {
        return Err(Error::invalid(format!("too many vector columns: {nv} (the maximum is {MAX_VECTOR_COLUMNS})")));
    }
    if nm - np > MAX_METADATA_COLUMNS {
        return Err(Error::invalid(format!(
            "too many metadata columns: {} (the maximum is {MAX_METADATA_COLUMNS})",
            nm - np
        )));
    }
    if na > MAX_AUX_COLUMNS {
        return Err(Error::invalid(format!("too many auxiliary columns: {na} (the maximum is {MAX_AUX_COLUMNS})")));
    }
    let index = index.unwrap_or(IndexKind::Flat);
    for c in &columns {
        if let ColumnKind::Vector { ty, metric, .. } = c.kind {
            index.check_column(ty, metric).map_err(|e| e.context(&format!("column {}", c.name)))?;
        }
    }
    Ok(TableDef { columns, index, seed: seed.unwrap_or(0), chunk_size })
}

/// `chunk_size=N`: what sqlite-vec accepts (a positive multiple of 8, at most 4096), so its
/// CREATE statements work unchanged. The table's chunk capacity is derived from it
/// ([`crate::store::schema::chunk_capacity`]).
fn parse_chunk_size(v: &str) -> Result<usize> {
    let v = v.trim();
    match v.parse::<i64>() {
        Ok(n) if n > 0 && n % 8 == 0 && n <= 4096 => Ok(n as usize),
        _ => Err(Error::invalid(format!(
            "chunk_size must be a positive multiple of 8 up to 4096 (as in sqlite-vec), not '{v}'; \
             vindex uses the largest power of two up to min(chunk_size, 1024) slots per chunk"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<TableDef> {
        parse("docs", &args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_the_design_example() {
        let d =
            p(&["embedding float[384] distance=cosine", "category text", "year integer", "+body text", "index=flat"])
                .unwrap();
        assert_eq!(d.columns.len(), 4);
        assert_eq!(
            d.columns[0].kind,
            ColumnKind::Vector { ty: ElementType::Float32, dims: 384, metric: Metric::Cosine, slot: 0 }
        );
        assert_eq!(d.columns[1].kind, ColumnKind::Metadata { ty: MetaType::Text, slot: 0, partition: None });
        assert_eq!(d.columns[3].kind, ColumnKind::Aux { ty: Some(MetaType::Text), slot: 0 });
        assert_eq!(
            d.declaration("docs"),
            "CREATE TABLE x(\"embedding\" BLOB, \"category\" TEXT, \"year\" INTEGER, \"body\" TEXT, \"docs\" HIDDEN, distance HIDDEN REAL, k HIDDEN INTEGER, ef_search HIDDEN INTEGER, nprobe HIDDEN INTEGER)"
        );
    }

    #[test]
    fn element_types_and_pks() {
        let d = p(&[
            "id integer primary key",
            "a float16[8]",
            "b int8[4] distance=l1",
            "c bit[16] distance=jaccard",
            "\"my col\" text",
        ])
        .unwrap();
        assert_eq!(d.columns[0].kind, ColumnKind::IntegerPk);
        assert!(matches!(d.columns[1].kind, ColumnKind::Vector { ty: ElementType::Float16, dims: 8, .. }));
        assert!(matches!(d.columns[3].kind, ColumnKind::Vector { ty: ElementType::Bit, metric: Metric::Jaccard, .. }));
        assert_eq!(d.columns[4].name, "my col");
        assert!(p(&["id text primary key", "v float[2]"]).unwrap().has_text_pk());
    }

    #[test]
    fn quoted_names_may_hold_equals_signs() {
        let d = p(&[
            "v float[2]",
            "\"a=b\" text",
            "[c=d] integer",
            "`e=f` real",
            "'g=h' blob",
            "+\"i=j\" text",
            "index = flat",
        ])
        .unwrap();
        let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["v", "a=b", "c=d", "e=f", "g=h", "i=j"]);
        assert_eq!(d.columns[1].kind, ColumnKind::Metadata { ty: MetaType::Text, slot: 0, partition: None });
        assert_eq!(d.columns[5].kind, ColumnKind::Aux { ty: Some(MetaType::Text), slot: 0 });
        assert_eq!(d.index, IndexKind::Flat);
        // A column named like an option is still a column.
        let d = p(&["v float[2]", "index text"]).unwrap();
        assert_eq!(d.columns[1].name, "index");
        // Unquoted name=value is an option, and an unknown one is an error.
        assert!(p(&["v float[2]", "a=b text"]).unwrap_err().to_string().contains("unknown table option 'a'"));
    }

    #[test]
    fn partition_keys_chunk_size_and_sqlite_vec_spellings() {
        let d = p(&[
            "emb float[4] distance_metric=cosine indexed by flat()",
            "user_id integer partition key",
            "cat text",
            "\"org\" TEXT PARTITION KEY",
            "n integer64",
            "chunk_size=96",
        ])
        .unwrap();
        assert_eq!(d.columns[1].kind, ColumnKind::Metadata { ty: MetaType::Integer, slot: 0, partition: Some(0) });
        assert_eq!(d.columns[2].kind, ColumnKind::Metadata { ty: MetaType::Text, slot: 1, partition: None });
        assert_eq!(d.columns[3].kind, ColumnKind::Metadata { ty: MetaType::Text, slot: 2, partition: Some(1) });
        assert_eq!(d.columns[4].kind, ColumnKind::Metadata { ty: MetaType::Integer, slot: 3, partition: None });
        assert_eq!(d.chunk_size, Some(96));
        assert_eq!(d.n_partitions(), 2);
        let keys = d.partition_keys();
        assert_eq!((keys[1].part, keys[1].slot, keys[1].name.as_str()), (1, 2, "org"));
        assert_eq!(d.partition_of_slot(2), Some(1));
        assert_eq!(d.partition_of_slot(1), None);
        // The declared schema shows partition keys as ordinary typed columns.
        assert!(d.declaration("t").contains("\"user_id\" INTEGER, \"cat\" TEXT, \"org\" TEXT"));
        for (args, needle) in [
            (vec!["v float[4]", "a real partition key"], "type must be integer or text"),
            (vec!["v float[4]", "a blob partition key"], "type must be integer or text"),
            (
                vec![
                    "v float[4]",
                    "a int partition key",
                    "b int partition key",
                    "c int partition key",
                    "d text partition key",
                    "e text partition key",
                ],
                "more than 4 partition key columns",
            ),
            (vec!["v float[4]", "chunk_size=0"], "positive multiple of 8"),
            (vec!["v float[4]", "chunk_size=12"], "positive multiple of 8"),
            (vec!["v float[4]", "chunk_size=8192"], "up to 4096"),
            (vec!["v float[4]", "chunk_size=abc"], "positive multiple of 8"),
            (vec!["v float[4]", "chunk_size=8", "chunk_size=16"], "given twice"),
            (vec!["v float[4] indexed by rescore(quantizer=bit)"], "only 'indexed by flat()'"),
        ] {
            let e = p(&args).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn reserved_table_names() {
        for t in ["rowid", "distance", "k", "ROWID", "Distance", "K"] {
            let e = check_table_name(t).unwrap_err().to_string();
            assert!(e.contains(&format!("a vindex table cannot be named '{t}'")), "{e}");
        }
        for t in ["oid", "_rowid_", "rowids", "kk", "docs"] {
            assert!(check_table_name(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn rejects_bad_definitions() {
        for (args, needle) in [
            (vec!["v float[0]"], "out of range"),
            (vec!["v float[abc]"], "positive integer"),
            (vec!["v bit[7]"], "multiple of 8"),
            (vec!["v float[4] distance=hamming"], "does not apply"),
            (vec!["v bit[8] distance=cosine"], "does not apply"),
            (vec!["v float[4] distance=foo"], "unknown distance"),
            (vec!["v float[4]", "bogus=1"], "unknown table option"),
            (vec!["v bit[8]", "index=ivf"], "index=ivf serves"),
            (vec!["v float[4]", "index=ivf(quantizer=pq)"], "unknown quantizer"),
            (vec!["v float[4]", "index=hnsw(m=1)"], "m must be"),
            (vec!["v float[4]", "index=hnsw(q=1)"], "unknown parameter"),
            (vec!["v float[4]", "ef_search integer"], "reserved"),
            (vec!["v float[4]", "index=foo"], "unknown index type"),
            (vec!["c text"], "at least one vector column"),
            (vec!["v float[4]", "distance text"], "reserved"),
            (vec!["v float[4]", "docs text"], "reserved"),
            (vec!["v float[4]", "V text"], "duplicate"),
            (vec!["v float[4]", "x wibble"], "unknown type"),
            (vec!["v float[4]", "x"], "needs a type"),
            (vec!["v float[4]", "+x wibble"], "unknown type"),
            (vec!["v float[4]", "a integer primary key", "b text primary key"], "only one primary key"),
            (vec!["v float[4]", "v2 float[99999999]"], "out of range"),
        ] {
            let e = p(&args).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("v{i} float[2]")).collect();
        let e = parse("t", &many).unwrap_err().to_string();
        assert!(e.contains("too many vector columns"), "{e}");
    }
}
