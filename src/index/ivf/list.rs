//! List blocks (docs/FORMAT.md, "Lists"): the byte layout of a `t_ivf_lists` row, and a list's
//! entries decoded from its blocks into one array per field, as searches scan them.

use super::code::Packed;
use super::params::{Quantizer, block_entries};
use crate::error::{Error, Result};
use crate::index::quant::sq8;
use std::sync::OnceLock;

/// The layout of one column's list blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Code bytes per entry (`B_c`).
    pub code: usize,
    /// float32 factors per entry (`F`).
    pub factors: usize,
    /// Entries per full block (`E`); in a layout from [`Layout::block`], the block's capacity.
    pub entries: usize,
    /// The codes are sq8 codes (a decoded list then also holds their `Σ|c_i|`).
    pub sq8: bool,
}

/// Bytes before a block's entries.
pub const HEADER: usize = 8;

impl Layout {
    pub fn new(q: Quantizer, dims: usize) -> Layout {
        let (code, factors) = (q.code_bytes(dims), q.factors());
        Layout { code, factors, entries: block_entries(4 + code + 4 * factors), sq8: q == Quantizer::Sq8 }
    }
    /// Bytes of one entry (`e`).
    pub fn entry_bytes(&self) -> usize {
        4 + self.code + 4 * self.factors
    }
    /// Bytes of a full block.
    pub fn block_bytes(&self) -> usize {
        self.bytes_for(self.entries)
    }
    /// Bytes of a block with room for `cap` entries.
    pub fn bytes_for(&self, cap: usize) -> usize {
        HEADER + cap * self.entry_bytes()
    }
    /// The capacity of a block of `len` bytes, if it is a valid one (1 … E entries).
    pub fn capacity_of(&self, len: usize) -> Option<usize> {
        let body = len.checked_sub(HEADER)?;
        let cap = body / self.entry_bytes();
        (body % self.entry_bytes() == 0 && (1..=self.entries).contains(&cap)).then_some(cap)
    }
    /// The offsets inside a block with room for `cap` entries (not for [`Layout::split`]).
    pub fn block(&self, cap: usize) -> Layout {
        Layout { entries: cap, ..*self }
    }
    pub fn node_at(&self, i: usize) -> usize {
        HEADER + 4 * i
    }
    pub fn code_at(&self, i: usize) -> usize {
        HEADER + 4 * self.entries + self.code * i
    }
    pub fn factors_at(&self, i: usize) -> usize {
        HEADER + self.entries * (4 + self.code) + 4 * self.factors * i
    }
    /// (block, index in block) of a position in a list.
    pub fn split(&self, pos: usize) -> (usize, usize) {
        (pos / self.entries, pos % self.entries)
    }
    /// The entry count in a block's header.
    pub fn count(block: &[u8]) -> usize {
        block.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// One entry: its node, code and factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub node: u32,
    pub code: Vec<u8>,
    pub factors: Vec<f32>,
}

impl Entry {
    /// Read entry `i` of `block` (`l`: the offsets of its capacity, [`Layout::block`]).
    pub fn read(l: &Layout, block: &[u8], i: usize) -> Entry {
        let n = l.node_at(i);
        let node = u32::from_le_bytes([block[n], block[n + 1], block[n + 2], block[n + 3]]);
        let code = block[l.code_at(i)..l.code_at(i) + l.code].to_vec();
        let f0 = l.factors_at(i);
        let factors = (0..l.factors)
            .map(|j| {
                let o = f0 + 4 * j;
                f32::from_le_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]])
            })
            .collect();
        Entry { node, code, factors }
    }

    /// The (offset, bytes) writes that put this entry at index `i` of a block (`l`: the
    /// offsets of its capacity).
    pub fn parts(&self, l: &Layout, i: usize) -> Vec<(usize, Vec<u8>)> {
        let mut out = vec![(l.node_at(i), self.node.to_le_bytes().to_vec())];
        if l.code > 0 {
            out.push((l.code_at(i), self.code.clone()));
        }
        if l.factors > 0 {
            out.push((l.factors_at(i), self.factors.iter().flat_map(|f| f.to_le_bytes()).collect()));
        }
        out
    }
}

/// A list's entries, decoded: nodes, codes and factors each in one array; and, made on first
/// use by a scan, the codes transposed for it ([`PostingList::packed`]).
#[derive(Debug, Clone, Default)]
pub struct PostingList {
    pub nodes: Vec<u32>,
    pub codes: Vec<u8>,
    pub factors: Vec<f32>,
    /// sq8 lists decoded from blocks: each entry's `Σ|c_i|`, derived from its code (not
    /// stored), for [`crate::index::quant::sq8::QueryCode::interval_codes`]. Empty otherwise
    /// (a search then sums the code itself), as after any edit ([`PostingList::forget_packed`]).
    pub abs_sums: Vec<u32>,
    packed: OnceLock<Packed>,
}

impl PartialEq for PostingList {
    fn eq(&self, o: &Self) -> bool {
        (&self.nodes, &self.codes, &self.factors) == (&o.nodes, &o.codes, &o.factors)
    }
}

impl PostingList {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// Counts the transposed codes too (a cached list of sign codes gets them on its first
    /// scan, ~as large as the codes and factors).
    pub fn mem_bytes(&self) -> usize {
        4 * self.nodes.len() + 2 * (self.codes.len() + 4 * self.factors.len()) + 4 * self.abs_sums.len() + 96
    }
    /// The codes (`code_bytes` each) and factors (four each: sign codes) transposed for the
    /// scan ([`Packed`]), made once.
    pub fn packed(&self, code_bytes: usize) -> &Packed {
        self.packed.get_or_init(|| Packed::new(&self.codes, &self.factors, code_bytes))
    }
    /// Drop the transposed codes (and the sq8 code sums): for code that edits `codes` in place.
    pub fn forget_packed(&mut self) {
        self.packed = OnceLock::new();
        self.abs_sums.clear();
    }
    pub fn push(&mut self, e: &Entry) {
        self.forget_packed();
        self.nodes.push(e.node);
        self.codes.extend_from_slice(&e.code);
        self.factors.extend_from_slice(&e.factors);
    }
    pub fn entry(&self, l: &Layout, i: usize) -> Entry {
        Entry {
            node: self.nodes[i],
            code: self.codes[i * l.code..(i + 1) * l.code].to_vec(),
            factors: self.factors[i * l.factors..(i + 1) * l.factors].to_vec(),
        }
    }

    /// A list from its blocks, in order, as stored (what the store reads: see
    /// [`ListBuilder`] to decode blocks as they are read).
    pub fn from_blocks(full: &Layout, blocks: &[Vec<u8>], what: &dyn Fn() -> String) -> Result<PostingList> {
        let mut b = ListBuilder::new(full);
        for data in blocks {
            b.push(data, what)?;
        }
        Ok(b.finish())
    }

    /// The blocks that hold this list (the last one with room for just its entries).
    pub fn to_blocks(&self, full: &Layout) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for start in (0..self.len()).step_by(full.entries) {
            let n = (self.len() - start).min(full.entries);
            let l = &full.block(n);
            let mut b = vec![0u8; l.block_bytes()];
            b[..4].copy_from_slice(&(n as u32).to_le_bytes());
            for i in 0..n {
                for (off, bytes) in self.entry(l, start + i).parts(l, i) {
                    b[off..off + bytes.len()].copy_from_slice(&bytes);
                }
            }
            out.push(b);
        }
        out
    }
}

/// Decodes a list's blocks one at a time, in order, checking each as it comes: every block but
/// the last is full, in a block of the full size.
pub struct ListBuilder<'l> {
    full: &'l Layout,
    list: PostingList,
    blocks: usize,
    /// A block that can only be the last one came (a later block is an error).
    ended: bool,
}

impl<'l> ListBuilder<'l> {
    pub fn new(full: &'l Layout) -> Self {
        ListBuilder { full, list: PostingList::default(), blocks: 0, ended: false }
    }

    /// Decode the next block.
    pub fn push(&mut self, data: &[u8], what: &dyn Fn() -> String) -> Result<()> {
        let (full, b) = (self.full, self.blocks);
        let Some(cap) = full.capacity_of(data.len()).filter(|_| !self.ended) else {
            return Err(Error::corrupt(format!(
                "{}: block {b} is {} bytes, not {}{}",
                what(),
                data.len(),
                full.block_bytes(),
                if self.ended { " (it follows a block that is not full)" } else { " or a shorter last block" }
            )));
        };
        let l = &full.block(cap);
        let n = Layout::count(data);
        if n == 0 || n > cap {
            return Err(Error::corrupt(format!(
                "{}: block {b} holds {n} entries (blocks hold 1 to {} and all but the last are full)",
                what(),
                cap
            )));
        }
        self.ended = n != full.entries;
        self.blocks += 1;
        let p = &mut self.list;
        let nodes = &data[l.node_at(0)..l.node_at(n)];
        p.nodes.extend(nodes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        let codes = &data[l.code_at(0)..l.code_at(0) + n * l.code];
        if l.sq8 {
            p.abs_sums.extend(codes.chunks_exact(l.code).map(|c| sq8::abs_sum(bytemuck::cast_slice(c))));
        }
        p.codes.extend_from_slice(codes);
        let f = &data[l.factors_at(0)..l.factors_at(0) + 4 * n * l.factors];
        p.factors.extend(f.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        Ok(())
    }

    pub fn finish(self) -> PostingList {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip() {
        let l = Layout::new(Quantizer::Rabitq, 100);
        assert_eq!((l.code, l.factors), (16, 4));
        let mut p = PostingList::default();
        for i in 0..(l.entries * 2 + 3) as u32 {
            p.push(&Entry { node: i * 3, code: vec![i as u8; 16], factors: vec![i as f32; 4] });
        }
        let blocks = p.to_blocks(&l);
        assert_eq!(blocks.len(), 3);
        assert_eq!(Layout::count(&blocks[2]), 3);
        assert_eq!(blocks[2].len(), l.bytes_for(3));
        assert_eq!(l.capacity_of(blocks[1].len()), Some(l.entries));
        let back = PostingList::from_blocks(&l, &blocks, &|| "t".into()).unwrap();
        assert_eq!(back, p);
        assert_eq!(Entry::read(&l, &blocks[1], 2), p.entry(&l, l.entries + 2));
        let mut bad = blocks.clone();
        bad[0][0] = 1;
        assert!(PostingList::from_blocks(&l, &bad, &|| "t".into()).is_err());
        bad = blocks.clone();
        bad[1].pop();
        assert!(PostingList::from_blocks(&l, &bad, &|| "t".into()).is_err());
        // A last block with spare room (as inserts leave it) reads the same; a short block
        // that is not the last does not.
        let mut roomy = blocks.clone();
        let mut last = vec![0u8; l.bytes_for(8)];
        for (off, bytes) in (0..3).flat_map(|i| p.entry(&l, 2 * l.entries + i).parts(&l.block(8), i)) {
            last[off..off + bytes.len()].copy_from_slice(&bytes);
        }
        last[..4].copy_from_slice(&3u32.to_le_bytes());
        roomy[2] = last;
        assert_eq!(PostingList::from_blocks(&l, &roomy, &|| "t".into()).unwrap(), p);
        assert_eq!(Entry::read(&l.block(8), &roomy[2], 1), p.entry(&l, 2 * l.entries + 1));
        bad = roomy.clone();
        bad.swap(1, 2);
        assert!(PostingList::from_blocks(&l, &bad, &|| "t".into()).is_err());
        bad = roomy;
        bad[2][..4].copy_from_slice(&9u32.to_le_bytes());
        assert!(PostingList::from_blocks(&l, &bad, &|| "t".into()).is_err());
    }

    #[test]
    fn sq8_lists_decode_their_code_sums() {
        let l = Layout::new(Quantizer::Sq8, 4);
        assert_eq!((l.code, l.factors, l.sq8), (4, 2, true));
        let mut p = PostingList::default();
        for i in 0..(l.entries + 5) as u32 {
            let c = [i as i8, -(i as i8 % 100), 127, -127];
            p.push(&Entry { node: i, code: bytemuck::cast_slice(&c).to_vec(), factors: vec![1.0, 2.0] });
        }
        let back = PostingList::from_blocks(&l, &p.to_blocks(&l), &|| "t".into()).unwrap();
        let want: Vec<u32> =
            p.codes.chunks(4).map(|c| c.iter().map(|b| (*b as i8).unsigned_abs() as u32).sum()).collect();
        assert_eq!(want[3], 3 + 3 + 127 + 127);
        assert_eq!(back.abs_sums, want);
        assert_eq!(PostingList { abs_sums: Vec::new(), ..back }, p);
    }
}
