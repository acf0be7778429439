//! A vindex table's definition: its columns and index, as parsed from `CREATE VIRTUAL TABLE`
//! (by the virtual table's CREATE parser) and declared to SQLite. The shadow tables are made from it.

use crate::vector::ElementType;
use crate::vector::distance::Metric;

pub const MAX_VECTOR_COLUMNS: usize = 16;
pub const MAX_METADATA_COLUMNS: usize = 64;
pub const MAX_AUX_COLUMNS: usize = 64;
/// Partition key columns per table (sqlite-vec's limit too).
pub const MAX_PARTITION_COLUMNS: usize = 4;

/// Hidden columns every table has, after the user's columns (in this order): the command
/// column (named after the table), `distance`, `k`.
pub const RESERVED_NAMES: &[&str] = &["distance", "k", "ef_search", "nprobe", "rowid", "_rowid_", "oid"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaType {
    Integer,
    Real,
    Text,
    Blob,
}

impl MetaType {
    pub fn sql(self) -> &'static str {
        match self {
            MetaType::Integer => "INTEGER",
            MetaType::Real => "REAL",
            MetaType::Text => "TEXT",
            MetaType::Blob => "BLOB",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// `slot` numbers vector columns 0.. (shadow table `<t>_vectorsNN`).
    Vector { ty: ElementType, dims: usize, metric: Metric, slot: usize },
    /// Stored in `<t>_rows` as column `mNN`, indexed. A partition key (`name integer partition
    /// key`) is a metadata column with `partition: Some(p)`: its value is also column `pNN` of its
    /// chunk's `<t>_chunks` row, and every chunk holds rows of one partition (docs/FORMAT.md).
    Metadata { ty: MetaType, slot: usize, partition: Option<usize> },
    /// Stored in `<t>_aux` as column `aNN`; `ty` None = any value.
    Aux { ty: Option<MetaType>, slot: usize },
    /// `id integer primary key`: the rowid under another name.
    IntegerPk,
    /// `id text primary key`: unique, stored in `<t>_rows.pk`.
    TextPk,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

pub use crate::index::IndexSpec as IndexKind;

#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub columns: Vec<Column>,
    pub index: IndexKind,
    /// The seed of every pseudo-random choice an index makes (`seed=` at CREATE).
    pub seed: i64,
    /// `chunk_size=N` as given at CREATE (validated; the capacity is derived from it).
    pub chunk_size: Option<usize>,
}

/// A partition key column: its position among partition keys (`pNN`), its metadata slot
/// (`mNN`), its type and name.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionKey {
    pub part: usize,
    pub slot: usize,
    pub ty: MetaType,
    pub name: String,
}

impl TableDef {
    pub fn vectors(&self) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(|(_, c)| matches!(c.kind, ColumnKind::Vector { .. }))
    }
    pub fn n_vectors(&self) -> usize {
        self.vectors().count()
    }
    /// The partition key columns, in declaration order (`p00`, `p01`, ...).
    pub fn partition_keys(&self) -> Vec<PartitionKey> {
        let mut out: Vec<PartitionKey> = self
            .columns
            .iter()
            .filter_map(|c| match c.kind {
                ColumnKind::Metadata { ty, slot, partition: Some(part) } => {
                    Some(PartitionKey { part, slot, ty, name: c.name.clone() })
                }
                _ => None,
            })
            .collect();
        out.sort_by_key(|p| p.part);
        out
    }
    pub fn n_partitions(&self) -> usize {
        self.columns.iter().filter(|c| matches!(c.kind, ColumnKind::Metadata { partition: Some(_), .. })).count()
    }
    /// The partition key (`pNN` position) stored in metadata slot `slot`, if it is one.
    pub fn partition_of_slot(&self, slot: usize) -> Option<usize> {
        self.columns.iter().find_map(|c| match c.kind {
            ColumnKind::Metadata { slot: s, partition, .. } if s == slot => partition,
            _ => None,
        })
    }
    /// Metadata columns, partition keys included (each is an `mNN` column of `t_rows`).
    pub fn n_metadata(&self) -> usize {
        self.columns.iter().filter(|c| matches!(c.kind, ColumnKind::Metadata { .. })).count()
    }
    pub fn n_aux(&self) -> usize {
        self.columns.iter().filter(|c| matches!(c.kind, ColumnKind::Aux { .. })).count()
    }
    pub fn has_text_pk(&self) -> bool {
        self.columns.iter().any(|c| c.kind == ColumnKind::TextPk)
    }
    /// Index of the command column (first hidden column).
    pub fn command_col(&self) -> usize {
        self.columns.len()
    }
    pub fn distance_col(&self) -> usize {
        self.columns.len() + 1
    }
    pub fn k_col(&self) -> usize {
        self.columns.len() + 2
    }
    /// `ef_search = N` of a KNN query (graph indexes; exact searches ignore it).
    pub fn ef_search_col(&self) -> usize {
        self.columns.len() + 3
    }
    /// `nprobe = N` of a KNN query (IVF indexes; other searches ignore it).
    pub fn nprobe_col(&self) -> usize {
        self.columns.len() + 4
    }
    /// The last hidden column.
    pub fn last_col(&self) -> usize {
        self.nprobe_col()
    }

    /// The `CREATE TABLE` statement declared to SQLite for table `table`.
    pub fn declaration(&self, table: &str) -> String {
        let mut cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let ty = match &c.kind {
                    ColumnKind::Vector { .. } => "BLOB".to_string(),
                    ColumnKind::Metadata { ty, .. } => ty.sql().to_string(),
                    ColumnKind::Aux { ty: Some(t), .. } => t.sql().to_string(),
                    ColumnKind::Aux { ty: None, .. } => String::new(),
                    ColumnKind::IntegerPk => "INTEGER".to_string(),
                    ColumnKind::TextPk => "TEXT".to_string(),
                };
                format!("{} {ty}", quote_ident(&c.name)).trim_end().to_string()
            })
            .collect();
        cols.push(format!("{} HIDDEN", quote_ident(table)));
        cols.push("distance HIDDEN REAL".into());
        cols.push("k HIDDEN INTEGER".into());
        cols.push("ef_search HIDDEN INTEGER".into());
        cols.push("nprobe HIDDEN INTEGER".into());
        format!("CREATE TABLE x({})", cols.join(", "))
    }
}

/// Quote an SQL identifier with double quotes.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
