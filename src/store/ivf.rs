//! IVF rows (docs/FORMAT.md, "IVF"): centroids, list blocks and slot entries of each vector
//! column, read and written with the undo journal like every other shadow row.

use super::{Store, UndoOp, col_row_id};
use crate::error::{Error, Result};
use crate::ffi::stmt::Blob;
use crate::index::ivf::kmeans::Centroids;
use crate::index::ivf::list::{Entry, Layout, ListBuilder, PostingList};
use crate::value::OwnedValue;

/// Centroids per `t_ivf_centroids` row.
pub const CENTROID_BLOCK: usize = 64;

/// Bytes of a slot's entry in a `t_ivf_slots` row.
pub const SLOT_BYTES: usize = 6;

/// A slot's entry (list, position) as stored: u32 `position + 1` (0: in no list), u16 list.
pub fn encode_slot(e: Option<(u32, u32)>) -> [u8; SLOT_BYTES] {
    let mut b = [0u8; SLOT_BYTES];
    if let Some((list, pos)) = e {
        b[..4].copy_from_slice(&(pos + 1).to_le_bytes());
        b[4..].copy_from_slice(&(list as u16).to_le_bytes());
    }
    b
}

/// A slot's entry from its stored bytes ([`encode_slot`]); None: in no list. A stored list
/// without a position (or a position without a list above 0) comes back as `Err(bytes)`.
pub fn decode_slot(b: &[u8]) -> std::result::Result<Option<(u32, u32)>, [u8; SLOT_BYTES]> {
    let pos1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let list = u16::from_le_bytes([b[4], b[5]]) as u32;
    match pos1 {
        0 if list == 0 => Ok(None),
        0 => Err([b[0], b[1], b[2], b[3], b[4], b[5]]),
        p => Ok(Some((list, p - 1))),
    }
}

/// The capacity of a list's new last block, when it is below E (docs/FORMAT.md, "Lists").
const NEW_BLOCK: usize = 16;

/// The `t_ivf_lists` key of block `block` of list `list` of column `col`.
pub fn block_key(col: usize, list: u32, block: usize) -> i64 {
    ((col as i64) << 48) | ((list as i64) << 16) | block as i64
}

impl Store {
    fn ivf_key(col: usize, what: &str) -> String {
        format!("ivf.{col:02}.{what}")
    }

    /// Lists of column `col` (0: untrained).
    pub fn ivf_lists(&self, col: usize) -> Result<usize> {
        match self.info_get(&Self::ivf_key(col, "lists"))? {
            None | Some(OwnedValue::Null) => Ok(0),
            Some(OwnedValue::Integer(i)) if (0..=crate::index::ivf::params::MAX_LISTS as i64).contains(&i) => {
                Ok(i as usize)
            }
            Some(other) => Err(Error::corrupt(format!(
                "{}: {} should be a number of lists, found {other:?}",
                self.t("info"),
                Self::ivf_key(col, "lists")
            ))),
        }
    }

    /// Info facts of the last training: (rows, mean squared residual).
    pub fn ivf_training(&self, col: usize) -> Result<(i64, f64)> {
        let rows = match self.info_get(&Self::ivf_key(col, "trained_rows"))? {
            Some(OwnedValue::Integer(i)) => i,
            _ => 0,
        };
        let mse = match self.info_get(&Self::ivf_key(col, "train_mse"))? {
            Some(OwnedValue::Real(f)) => f,
            Some(OwnedValue::Integer(i)) => i as f64,
            _ => 0.0,
        };
        Ok((rows, mse))
    }

    pub fn set_ivf_training(&self, col: usize, lists: usize, rows: i64, mse: f64) -> Result<()> {
        self.info_set(&Self::ivf_key(col, "lists"), OwnedValue::Integer(lists as i64))?;
        self.info_set(&Self::ivf_key(col, "trained_rows"), OwnedValue::Integer(rows))?;
        self.info_set(&Self::ivf_key(col, "train_mse"), OwnedValue::Real(mse))
    }

    pub fn set_ivf_lists(&self, col: usize, lists: usize) -> Result<()> {
        self.info_set(&Self::ivf_key(col, "lists"), OwnedValue::Integer(lists as i64))
    }

    /// Column `col`'s `lists` centroids.
    pub fn load_centroids(&self, col: usize, lists: usize) -> Result<Centroids> {
        let dims = self.cols[col].dims;
        let blocks = lists.div_ceil(CENTROID_BLOCK);
        let mut data = Vec::with_capacity(lists * dims);
        let mut st = self
            .stmts
            .named("ivf_centroids", || format!("SELECT data FROM {} WHERE id = ?1", self.names.ivf_centroids()))?;
        for b in 0..blocks {
            let id = (16 * b + col) as i64;
            st.bind_i64(1, id)?;
            let m = (lists - b * CENTROID_BLOCK).min(CENTROID_BLOCK);
            if !st.step()? {
                st.reset();
                return Err(Error::corrupt(format!("{}: row {id} is missing", self.t("ivf_centroids"))));
            }
            let bytes = st.column_blob(0);
            if bytes.len() != m * dims * 4 {
                let n = bytes.len();
                st.reset();
                return Err(Error::corrupt(format!(
                    "{}: row {id} holds {n} bytes, expected {}",
                    self.t("ivf_centroids"),
                    m * dims * 4
                )));
            }
            data.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            st.reset();
        }
        if !data.iter().all(|v| v.is_finite()) {
            return Err(Error::corrupt(format!(
                "{}: column {col} has a centroid that is not finite",
                self.t("ivf_centroids")
            )));
        }
        Ok(Centroids::new(dims, data))
    }

    /// Replace column `col`'s centroid rows with `c` (`old` lists had rows before).
    pub fn write_centroids(&self, col: usize, c: &Centroids, old: usize) -> Result<()> {
        let dims = c.dims;
        for b in 0..old.div_ceil(CENTROID_BLOCK).max(c.count().div_ceil(CENTROID_BLOCK)) {
            let id = (16 * b + col) as i64;
            let prev = self.row_blob("ivf_centroids", id)?;
            let undo = match prev {
                Some(bytes) => UndoOp::Restore {
                    suffix: "ivf_centroids",
                    cols: vec!["id".into(), "data".into()],
                    values: vec![OwnedValue::Integer(id), OwnedValue::Blob(bytes)],
                },
                None => UndoOp::Delete { suffix: "ivf_centroids", key: "id", id },
            };
            let lo = b * CENTROID_BLOCK;
            if lo >= c.count() {
                self.write_sql(
                    &format!("DELETE FROM {} WHERE id = ?1", self.names.ivf_centroids()),
                    &[OwnedValue::Integer(id)],
                    Some(undo),
                )?;
                continue;
            }
            let hi = (lo + CENTROID_BLOCK).min(c.count());
            let bytes: Vec<u8> = c.data[lo * dims..hi * dims].iter().flat_map(|v| v.to_le_bytes()).collect();
            self.write_sql(
                &format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, ?2)", self.names.ivf_centroids()),
                &[OwnedValue::Integer(id), OwnedValue::Blob(bytes)],
                Some(undo),
            )?;
        }
        Ok(())
    }

    fn row_blob(&self, suffix: &'static str, id: i64) -> Result<Option<Vec<u8>>> {
        let sql = format!("SELECT data FROM {} WHERE id = ?1", self.names.shadow(suffix));
        let mut st = self.stmts.get(&sql)?;
        st.bind_i64(1, id)?;
        let v = if st.step()? { Some(st.column_blob(0).to_vec()) } else { None };
        st.reset();
        Ok(v)
    }

    /// Visit the blocks of list `list` of column `col`, in order, as stored (each borrowed
    /// from the statement reading it).
    fn visit_list_blocks(&self, col: usize, list: u32, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut st = self.stmts.named("ivf_list", || {
            format!("SELECT id, data FROM {} WHERE id >= ?1 AND id < ?2 ORDER BY id", self.names.ivf_lists())
        })?;
        let lo = block_key(col, list, 0);
        st.bind_i64(1, lo)?;
        st.bind_i64(2, lo + (1 << 16))?;
        let mut blocks = 0i64;
        while st.step()? {
            let id = st.column_i64(0);
            if id != lo + blocks {
                st.reset();
                return Err(Error::corrupt(format!(
                    "{}: list {list} of column {col} lacks block {blocks} (found row {id})",
                    self.t("ivf_lists"),
                )));
            }
            if let Err(e) = f(st.column_blob(1)) {
                st.reset();
                return Err(e);
            }
            blocks += 1;
        }
        Ok(())
    }

    /// List `list` of column `col`, decoded block by block as the rows are read.
    pub fn load_list(&self, col: usize, list: u32, layout: &Layout) -> Result<PostingList> {
        let what = || format!("{}: list {list} of column {col}", self.t("ivf_lists"));
        let mut b = ListBuilder::new(layout);
        self.visit_list_blocks(col, list, &mut |data| b.push(data, &what))?;
        Ok(b.finish())
    }

    /// Block `id`, opened (for writing when `write`), and its capacity (from its length:
    /// docs/FORMAT.md, "Lists").
    fn open_block(&self, id: i64, layout: &Layout, write: bool) -> Result<(Blob, usize)> {
        let b = self.blob("ivf_lists", "data", id, write)?;
        let len = b.len();
        let cap = layout.capacity_of(len).ok_or_else(|| {
            Error::corrupt(format!(
                "{}: row {id} holds {len} bytes, not a block of {} to {} entries of {} bytes",
                self.t("ivf_lists"),
                1,
                layout.entries,
                layout.entry_bytes()
            ))
        })?;
        Ok((b, cap))
    }

    /// Entries of list `list` (from its last block's header).
    pub fn list_len(&self, col: usize, list: u32, layout: &Layout) -> Result<usize> {
        let mut st = self.stmts.named("ivf_last_block", || {
            format!("SELECT max(id) FROM {} WHERE id >= ?1 AND id < ?2", self.names.ivf_lists())
        })?;
        let lo = block_key(col, list, 0);
        st.bind_i64(1, lo)?;
        st.bind_i64(2, lo + (1 << 16))?;
        st.step()?;
        if st.column_is_null(0) {
            st.reset();
            return Ok(0);
        }
        let last = st.column_i64(0);
        st.reset();
        let (b, cap) = self.open_block(last, layout, false)?;
        let mut head = [0u8; 4];
        b.read(&mut head, 0)?;
        let n = u32::from_le_bytes(head) as usize;
        if n == 0 || n > cap {
            return Err(Error::corrupt(format!("{}: row {last} says it holds {n} entries", self.t("ivf_lists"))));
        }
        Ok((last - lo) as usize * layout.entries + n)
    }

    /// Entry `pos` of list `list`.
    pub fn read_entry(&self, col: usize, list: u32, pos: usize, layout: &Layout) -> Result<Entry> {
        let (block, i) = layout.split(pos);
        let id = block_key(col, list, block);
        let (b, cap) = self.open_block(id, layout, false)?;
        if i >= cap {
            return Err(Error::corrupt(format!("{}: row {id} has no entry {i}", self.t("ivf_lists"))));
        }
        let mut buf = vec![0u8; layout.bytes_for(cap)];
        b.read(&mut buf, 0)?;
        Ok(Entry::read(&layout.block(cap), &buf, i))
    }

    /// Put entry `e` at `pos` of list `list`, which has `len` entries (`pos == len` appends).
    pub fn put_entry(&self, col: usize, list: u32, pos: usize, len: usize, e: &Entry, layout: &Layout) -> Result<()> {
        let (block, i) = layout.split(pos);
        let id = block_key(col, list, block);
        let append = pos == len;
        if append && i == 0 {
            // A new block, with room for a few entries.
            self.write_sql(
                &format!("INSERT INTO {}(id, data) VALUES (?1, zeroblob(?2))", self.names.ivf_lists()),
                &[OwnedValue::Integer(id), OwnedValue::Integer(layout.bytes_for(layout.entries.min(NEW_BLOCK)) as i64)],
                Some(UndoOp::Delete { suffix: "ivf_lists", key: "id", id }),
            )?;
        }
        let (mut b, cap) = self.open_block(id, layout, true)?;
        if append && i == cap {
            // The last block is full but shorter than E: rewrite it with twice the room.
            drop(b);
            return self.grow_block(id, cap, e, layout);
        }
        let mut parts = e.parts(&layout.block(cap), i);
        if append {
            parts.push((0, ((i + 1) as u32).to_le_bytes().to_vec()));
        }
        let p: Vec<(usize, &[u8])> = parts.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        self.blob_write_open(&mut b, "ivf_lists", id, &p)
    }

    /// Rewrite block `id`, full at `cap < E` entries, with room for `min(E, 2 cap)` and `e`
    /// appended.
    fn grow_block(&self, id: i64, cap: usize, e: &Entry, layout: &Layout) -> Result<()> {
        let old = self
            .row_blob("ivf_lists", id)?
            .ok_or_else(|| Error::corrupt(format!("{}: row {id} is missing", self.t("ivf_lists"))))?;
        let (from, to) = (layout.block(cap), layout.block(layout.entries.min(2 * cap)));
        let mut data = vec![0u8; to.block_bytes()];
        data[..4].copy_from_slice(&((cap + 1) as u32).to_le_bytes());
        for i in 0..=cap {
            let entry = if i < cap { Entry::read(&from, &old, i) } else { e.clone() };
            for (off, bytes) in entry.parts(&to, i) {
                data[off..off + bytes.len()].copy_from_slice(&bytes);
            }
        }
        self.write_sql(
            &format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, ?2)", self.names.ivf_lists()),
            &[OwnedValue::Integer(id), OwnedValue::Blob(data)],
            Some(UndoOp::Restore {
                suffix: "ivf_lists",
                cols: vec!["id".into(), "data".into()],
                values: vec![OwnedValue::Integer(id), OwnedValue::Blob(old)],
            }),
        )
    }

    /// Drop the last entry of list `list`, which has `len` entries.
    pub fn pop_entry(&self, col: usize, list: u32, len: usize, layout: &Layout) -> Result<()> {
        if len == 0 {
            return Err(Error::corrupt(format!("{}: list {list} of column {col} is empty", self.t("ivf_lists"))));
        }
        let (block, i) = layout.split(len - 1);
        let id = block_key(col, list, block);
        if i == 0 {
            let old = self.row_blob("ivf_lists", id)?.unwrap_or_default();
            return self.write_sql(
                &format!("DELETE FROM {} WHERE id = ?1", self.names.ivf_lists()),
                &[OwnedValue::Integer(id)],
                Some(UndoOp::Restore {
                    suffix: "ivf_lists",
                    cols: vec!["id".into(), "data".into()],
                    values: vec![OwnedValue::Integer(id), OwnedValue::Blob(old)],
                }),
            );
        }
        let (mut b, cap) = self.open_block(id, layout, true)?;
        let zero = Entry { node: 0, code: vec![0; layout.code], factors: vec![0.0; layout.factors] };
        let mut parts = zero.parts(&layout.block(cap), i);
        parts.push((0, (i as u32).to_le_bytes().to_vec()));
        let p: Vec<(usize, &[u8])> = parts.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        self.blob_write_open(&mut b, "ivf_lists", id, &p)
    }

    /// Write list `list` whole, as `blocks` (it had `old_blocks` blocks).
    pub fn write_list(&self, col: usize, list: u32, blocks: &[Vec<u8>], old_blocks: usize) -> Result<()> {
        for b in 0..blocks.len().max(old_blocks) {
            let id = block_key(col, list, b);
            let undo = match self.row_blob("ivf_lists", id)? {
                Some(bytes) => UndoOp::Restore {
                    suffix: "ivf_lists",
                    cols: vec!["id".into(), "data".into()],
                    values: vec![OwnedValue::Integer(id), OwnedValue::Blob(bytes)],
                },
                None => UndoOp::Delete { suffix: "ivf_lists", key: "id", id },
            };
            match blocks.get(b) {
                Some(data) => self.write_sql(
                    &format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, ?2)", self.names.ivf_lists()),
                    &[OwnedValue::Integer(id), OwnedValue::Blob(data.clone())],
                    Some(undo),
                )?,
                None => self.write_sql(
                    &format!("DELETE FROM {} WHERE id = ?1", self.names.ivf_lists()),
                    &[OwnedValue::Integer(id)],
                    Some(undo),
                )?,
            }
        }
        Ok(())
    }

    /// Delete every list row and centroid row of column `col`, and clear its slot entries
    /// (the column becomes untrained, or is about to be trained again).
    pub fn clear_ivf(&self, col: usize) -> Result<()> {
        for (suffix, sql) in [
            ("ivf_lists", format!("SELECT id, data FROM {} WHERE id >= ?1 AND id < ?2", self.names.ivf_lists())),
            ("ivf_centroids", format!("SELECT id, data FROM {} WHERE id % 16 = ?3", self.names.ivf_centroids())),
        ] {
            let rows: Vec<(i64, Vec<u8>)> = {
                let mut st = self.db.prepare(&sql, false)?;
                if suffix == "ivf_lists" {
                    st.bind_i64(1, block_key(col, 0, 0))?;
                    st.bind_i64(2, block_key(col + 1, 0, 0))?;
                } else {
                    st.bind_i64(3, col as i64)?;
                }
                let mut v = Vec::new();
                while st.step()? {
                    v.push((st.column_i64(0), st.column_blob(1).to_vec()));
                }
                v
            };
            for (id, data) in rows {
                self.write_sql(
                    &format!("DELETE FROM {} WHERE id = ?1", self.names.shadow(suffix)),
                    &[OwnedValue::Integer(id)],
                    Some(UndoOp::Restore {
                        suffix: if suffix == "ivf_lists" { "ivf_lists" } else { "ivf_centroids" },
                        cols: vec!["id".into(), "data".into()],
                        values: vec![OwnedValue::Integer(id), OwnedValue::Blob(data)],
                    }),
                )?;
            }
        }
        for id in self.chunk_ids()? {
            let rid = col_row_id(id, col);
            if let Some(old) = self.row_blob("ivf_slots", rid)?
                && old.iter().any(|b| *b != 0)
            {
                self.write_slot_row(rid, vec![0u8; SLOT_BYTES * self.capacity], Some(old))?;
            }
        }
        self.set_ivf_lists(col, 0)
    }

    /// Write a whole `t_ivf_slots` row.
    pub fn write_slot_row(&self, rid: i64, data: Vec<u8>, old: Option<Vec<u8>>) -> Result<()> {
        let undo = match old {
            Some(bytes) => UndoOp::Restore {
                suffix: "ivf_slots",
                cols: vec!["id".into(), "data".into()],
                values: vec![OwnedValue::Integer(rid), OwnedValue::Blob(bytes)],
            },
            None => UndoOp::Delete { suffix: "ivf_slots", key: "id", id: rid },
        };
        self.write_sql(
            &format!("INSERT OR REPLACE INTO {}(id, data) VALUES (?1, ?2)", self.names.ivf_slots()),
            &[OwnedValue::Integer(rid), OwnedValue::Blob(data)],
            Some(undo),
        )
    }

    /// The slot rows of column `col`: (chunk, bytes).
    pub fn slot_rows(&self, col: usize) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut st = self.db.prepare(
            &format!("SELECT id, data FROM {} WHERE id % 16 = ?1 ORDER BY id", self.names.ivf_slots()),
            false,
        )?;
        st.bind_i64(1, col as i64)?;
        let mut v = Vec::new();
        while st.step()? {
            v.push((st.column_i64(0).div_euclid(16), st.column_blob(1).to_vec()));
        }
        Ok(v)
    }

    /// Delete every slot row of column `col` (the table leaves IVF).
    pub fn remove_slot_rows(&self, col: usize) -> Result<()> {
        for (chunk, data) in self.slot_rows(col)? {
            let rid = col_row_id(chunk, col);
            self.write_sql(
                &format!("DELETE FROM {} WHERE id = ?1", self.names.ivf_slots()),
                &[OwnedValue::Integer(rid)],
                Some(UndoOp::Restore {
                    suffix: "ivf_slots",
                    cols: vec!["id".into(), "data".into()],
                    values: vec![OwnedValue::Integer(rid), OwnedValue::Blob(data)],
                }),
            )?;
        }
        Ok(())
    }

    /// The entry of `slot` of `chunk` in column `col`'s lists: (list, position).
    pub fn slot_entry(&self, col: usize, chunk: i64, slot: usize) -> Result<Option<(u32, u32)>> {
        let rid = col_row_id(chunk, col);
        let b = self.blob("ivf_slots", "data", rid, false)?;
        self.check_len("ivf_slots", rid, b.len(), SLOT_BYTES * self.capacity)?;
        let mut e = [0u8; SLOT_BYTES];
        b.read(&mut e, SLOT_BYTES * slot)?;
        decode_slot(&e).map_err(|_| {
            Error::corrupt(format!("{}: row {rid} slot {slot} names a list but no position", self.t("ivf_slots")))
        })
    }

    pub fn set_slot_entry(&self, col: usize, chunk: i64, slot: usize, e: Option<(u32, u32)>) -> Result<()> {
        let rid = col_row_id(chunk, col);
        self.blob_write("ivf_slots", rid, SLOT_BYTES * self.capacity, &[(SLOT_BYTES * slot, &encode_slot(e))])
    }
}
