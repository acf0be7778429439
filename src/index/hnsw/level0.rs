//! A cached graph version's layer 0 and navigation codes in one array: per node, its layer-0
//! links and its code side by side (as hnswlib's level-0 block is), so that a search reads a
//! node's neighbours and then each neighbour's code from one record, found by multiplying its
//! number, instead of following the cache's chain of leaves, chunks and columns.
//!
//! Made from a version whose leaves and codes are all in memory (see the virtual table's
//! `View`); it is a copy of them, not a new format: nothing of it is stored.

use super::graph::{GraphSource, Node};
use super::space::{CodeRef, NodeCode, Space, SpaceKind};
use crate::error::Result;
use crate::index::buf::AlignedBuf;
use crate::vector::distance::Metric;
use std::sync::{Arc, OnceLock};

/// A chunk's stored vectors (slot after slot), held in memory by whoever cached them.
pub type ChunkVectors = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The record's node is in the graph (has a layer-0 list, maybe empty).
const IN_GRAPH: u32 = 1 << 17;
const COUNT: u32 = 0xffff;

/// Layer 0 and the int8 codes of nodes `0..nodes`. Record of node n at `n * stride` (a
/// multiple of 64 bytes, so a record starts a cache line): the code (`dims` bytes), the rowid
/// (i64), padding to a multiple of 4 bytes, a u32 header (link count in the low 16 bits, flags
/// above), `max0` u32 link slots; all little-endian. The codes' scales and norms are an array
/// apart (8 bytes a node, small enough to stay in the CPU's caches), so a distance reads from
/// memory only the lines of the code itself: two at 128 dimensions, where the factors beside
/// it made three. Which nodes
/// have a code (their slot holds a row) is a bitmap apart, so that a search learns it without
/// waiting for the record: it only prefetches the record then.
pub struct Level0 {
    metric: Metric,
    dims: usize,
    max0: usize,
    stride: usize,
    /// Where a record's header is (its links follow).
    head_at: usize,
    nodes: usize,
    data: AlignedBuf,
    /// Scale and norm of node n's code.
    factors: Vec<[f32; 2]>,
    coded: Vec<u64>,
    /// Nodes that head a group of equal codes.
    heads: Vec<u64>,
    /// Slots per chunk, and each chunk's vectors by chunk id − 1 (for rescoring): those in
    /// memory when the array was made, and those searches bring in later; `vbytes` bytes a
    /// vector.
    capacity: usize,
    vectors: Vec<OnceLock<ChunkVectors>>,
    vbytes: usize,
    /// The entry node, and the nodes above layer 0: whole in `upper`, and their lists in one
    /// flat array for the descent (one lookup, not a chain of three). For `upper_at[n] = at > 0`,
    /// `flat[at − 1..]` holds node n's index in `upper`, its level L, then for each layer 1 to
    /// L the number of links and the links.
    entry: Option<u32>,
    upper_at: Vec<u32>,
    upper: Vec<Node>,
    flat: Vec<u32>,
}

impl Level0 {
    /// Room for `nodes` nodes of `dims`-byte codes with up to `max0` links each, all absent.
    pub fn new(metric: Metric, nodes: usize, dims: usize, max0: usize) -> Level0 {
        let stride = Self::stride_for(dims, max0);
        Level0 {
            metric,
            dims,
            max0,
            stride,
            head_at: Self::head_at(dims),
            nodes,
            data: AlignedBuf::zeroed(nodes * stride),
            factors: vec![[0.0; 2]; nodes],
            coded: vec![0; nodes.div_ceil(64)],
            heads: vec![0; nodes.div_ceil(64)],
            capacity: 1,
            vectors: Vec::new(),
            vbytes: 0,
            entry: None,
            upper_at: vec![0; nodes],
            upper: Vec::new(),
            flat: Vec::new(),
        }
    }

    /// Nodes it has room for (node numbers below this).
    #[inline]
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Bytes of memory it holds.
    pub fn mem_bytes(&self) -> usize {
        self.data.len()
            + 8 * self.factors.len()
            + 16 * self.coded.len()
            + 4 * self.upper_at.len()
            + 4 * self.flat.len()
            + self.upper.iter().map(|n| 48 + n.links.iter().map(|l| 24 + 4 * l.len()).sum::<usize>()).sum::<usize>()
            + 64
    }

    /// What `new` would hold, with the nodes above layer 0 (a share 1/m of them, with up to
    /// `max0 / 2` links a layer) estimated.
    pub fn bytes_for(nodes: usize, dims: usize, max0: usize) -> usize {
        let upper = nodes / (max0 / 2).max(2) * (48 + 24 + 4 * max0 + 16);
        nodes * (Self::stride_for(dims, max0) + 8) + 16 * nodes.div_ceil(64) + 4 * nodes + upper + 64
    }

    fn stride_for(dims: usize, max0: usize) -> usize {
        (Self::head_at(dims) + 4 + 4 * max0).next_multiple_of(64)
    }

    /// Where a record's header is: after the code and rowid, 4-byte aligned (links are read
    /// as u32 in place).
    fn head_at(dims: usize) -> usize {
        (dims + 8).next_multiple_of(4)
    }

    fn header(&self, n: u32) -> u32 {
        let i = n as usize * self.stride + self.head_at;
        self.data.bytes().get(i..i + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn set_header(&mut self, n: u32, h: u32) {
        let i = n as usize * self.stride + self.head_at;
        if let Some(b) = self.data.bytes_mut().get_mut(i..i + 4) {
            b.copy_from_slice(&h.to_le_bytes());
        }
    }

    /// Node `n`'s layer-0 links; false (nothing set) when `n` is out of range or has more
    /// links than a record holds.
    pub fn set_links(&mut self, n: u32, links: &[u32]) -> bool {
        if n as usize >= self.nodes || links.len() > self.max0 {
            return false;
        }
        let i = n as usize * self.stride + self.head_at + 4;
        let out = &mut self.data.bytes_mut()[i..i + 4 * links.len()];
        for (o, l) in out.chunks_exact_mut(4).zip(links) {
            o.copy_from_slice(&l.to_le_bytes());
        }
        let h = self.header(n);
        self.set_header(n, (h & !COUNT) | IN_GRAPH | links.len() as u32);
        true
    }

    /// Node `n`'s code; false when `n` is out of range or the code is not `dims` bytes.
    pub fn set_code(&mut self, n: u32, rowid: i64, code: &[i8], scale: f32, norm: f32) -> bool {
        if n as usize >= self.nodes || code.len() != self.dims {
            return false;
        }
        let (d, i) = (self.dims, n as usize * self.stride);
        let r = &mut self.data.bytes_mut()[i..i + d + 8];
        r[..d].copy_from_slice(bytemuck::cast_slice(code));
        r[d..d + 8].copy_from_slice(&rowid.to_le_bytes());
        self.factors[n as usize] = [scale, norm];
        self.coded[n as usize / 64] |= 1 << (n % 64);
        true
    }

    /// The graph's entry node.
    pub fn set_entry(&mut self, entry: Option<u32>) {
        self.entry = entry;
    }

    /// Node `n`, whole, when it has layers above 0 (a copy: it serves the descent to layer 0).
    pub fn set_upper(&mut self, n: u32, node: &Node) {
        if node.level > 0
            && let Some(at) = self.upper_at.get_mut(n as usize)
        {
            *at = self.flat.len() as u32 + 1;
            self.flat.extend([self.upper.len() as u32, node.level as u32]);
            for l in 1..=node.level as usize {
                let list = node.layer(l);
                self.flat.push(list.len() as u32);
                self.flat.extend_from_slice(list);
            }
            self.upper.push(node.clone());
        }
    }

    /// Mark node `n` as the head of a group of equal codes.
    pub fn set_head(&mut self, n: u32) {
        if let Some(w) = self.heads.get_mut(n as usize / 64) {
            *w |= 1 << (n % 64);
        }
    }

    /// Whether node `n` heads a group of equal codes.
    #[inline]
    pub fn is_head(&self, n: u32) -> bool {
        self.heads.get(n as usize / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Where the stored vectors are: `capacity` slots a chunk, `vbytes` bytes a vector.
    pub fn set_layout(&mut self, capacity: usize, vbytes: usize, chunks: usize) {
        self.capacity = capacity.max(1);
        self.vbytes = vbytes;
        self.vectors = (0..chunks).map(|_| OnceLock::new()).collect();
    }

    /// The vectors of chunk `id` (the first ones given stay: a version's vectors never change).
    pub fn set_vectors(&self, id: i64, v: ChunkVectors) {
        if let Some(x) = usize::try_from(id - 1).ok().and_then(|i| self.vectors.get(i)) {
            let _ = x.set(v);
        }
    }

    /// Whether chunk `id`'s vectors are known.
    pub fn has_vectors(&self, id: i64) -> bool {
        usize::try_from(id - 1).ok().and_then(|i| self.vectors.get(i)).is_some_and(|x| x.get().is_some())
    }

    /// Node `n`'s stored vector, when its chunk's vectors were in memory.
    #[inline]
    pub fn vector(&self, n: u32) -> Option<&[u8]> {
        let (chunk, slot) = (n as usize / self.capacity, n as usize % self.capacity);
        let v = self.vectors.get(chunk)?.get()?;
        (**v).as_ref().get(slot * self.vbytes..(slot + 1) * self.vbytes)
    }

    /// Node `n`'s links on `level` > 0, from the flat array (empty above its level).
    #[inline]
    fn upper_links(&self, n: u32, level: usize) -> Option<&[u32]> {
        let at = *self.upper_at.get(n as usize)? as usize;
        if at == 0 {
            return None;
        }
        let f = &self.flat;
        let top = *f.get(at)? as usize;
        if level > top {
            return Some(&[]);
        }
        let mut p = at + 1;
        for _ in 1..level {
            p += 1 + *f.get(p)? as usize;
        }
        let count = *f.get(p)? as usize;
        f.get(p + 1..p + 1 + count)
    }

    /// Node `n`'s code record (code, rowid) when it has a code.
    #[inline]
    fn record(&self, n: u32) -> Option<&[u8]> {
        if self.coded.get(n as usize / 64).is_none_or(|w| w & (1 << (n % 64)) == 0) {
            return None;
        }
        let i = n as usize * self.stride;
        self.data.bytes().get(i..i + self.dims + 8)
    }
}

impl GraphSource for Level0 {
    fn entry(&self) -> Result<Option<u32>> {
        Ok(self.entry)
    }
    /// Nodes above layer 0 only: the layer-0 links of the others are read through
    /// [`GraphSource::links`], and their groups of equal codes are not kept.
    #[inline]
    fn node(&self, n: u32) -> Result<Option<&Node>> {
        Ok(match self.upper_at.get(n as usize) {
            Some(&at) if at > 0 => self.flat.get(at as usize - 1).and_then(|&i| self.upper.get(i as usize)),
            _ => None,
        })
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        let i = n as usize * self.stride + self.head_at;
        if let Some(r) = self.data.bytes().get(i..i + 4 + 4 * self.max0) {
            crate::simd::prefetch(r);
        }
    }
    /// From the heads bitmap (the members themselves are not kept).
    #[inline]
    fn has_dups(&self, n: u32) -> Result<bool> {
        Ok(self.is_head(n))
    }
    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        if level > 0 {
            return Ok(self.upper_links(n, level));
        }
        let h = self.header(n);
        if h & IN_GRAPH == 0 {
            return Ok(None);
        }
        let i = n as usize * self.stride + self.head_at + 4;
        let count = ((h & COUNT) as usize).min(self.max0);
        Ok(self.data.bytes().get(i..i + 4 * count).map(bytemuck::cast_slice))
    }
}

impl Space for Level0 {
    fn metric(&self) -> Metric {
        self.metric
    }
    fn node_limit(&self) -> u32 {
        u32::try_from(self.nodes).unwrap_or(u32::MAX)
    }
    fn kind(&self) -> SpaceKind {
        SpaceKind::Sq8
    }
    #[inline]
    fn code(&self, n: u32) -> Result<Option<NodeCode<'_>>> {
        Ok(self.record(n).map(|r| {
            let d = self.dims;
            let [scale, norm] = self.factors.get(n as usize).copied().unwrap_or([f32::NAN; 2]);
            NodeCode {
                rowid: i64::from_le_bytes(r[d..d + 8].try_into().unwrap_or([0; 8])),
                code: bytemuck::cast_slice(&r[..d]),
                scale,
                norm,
            }
        }))
    }
    #[inline]
    fn code_ref(&self, n: u32) -> Result<Option<CodeRef<'_>>> {
        Ok(self.record(n).map(|r| {
            const NONE: [f32; 2] = [f32::NAN; 2];
            CodeRef::Parts(bytemuck::cast_slice(&r[..self.dims]), self.factors.get(n as usize).unwrap_or(&NONE))
        }))
    }
    #[inline]
    fn prefetch_vector(&self, n: u32) {
        if let Some(v) = self.vector(n) {
            crate::simd::prefetch(v);
        }
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        if let Some(r) = self.record(n) {
            crate::simd::prefetch(&r[..self.dims]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_hold_links_and_codes_apart() {
        let mut l = Level0::new(Metric::L2, 10, 5, 4);
        assert!(l.set_links(3, &[1, 7, 9]));
        assert!(!l.set_links(4, &[1, 2, 3, 5, 6]), "more links than a record holds");
        assert!(!l.set_links(10, &[1]), "out of range");
        assert!(l.set_code(3, 42, &[1, -2, 3, -4, 5], 0.5, 2.0));
        assert!(l.set_code(7, -1, &[0; 5], 1.0, 0.0));
        assert!(!l.set_code(8, 1, &[0; 4], 1.0, 0.0), "wrong length");
        assert_eq!(l.links(3, 0).unwrap(), Some(&[1u32, 7, 9][..]));
        assert_eq!(l.links(3, 1).unwrap(), None, "not above layer 0");
        assert_eq!(l.links(7, 0).unwrap(), None, "a code without links is not in the graph");
        let c = l.code(3).unwrap().unwrap();
        assert_eq!((c.rowid, c.code, c.scale, c.norm), (42, &[1i8, -2, 3, -4, 5][..], 0.5, 2.0));
        let p = l.code_ref(3).unwrap().unwrap().probe();
        assert_eq!((p.code, p.scale, p.norm), (&[1i8, -2, 3, -4, 5][..], 0.5, 2.0));
        assert!(l.code(4).unwrap().is_none() && l.code(9).unwrap().is_none());
        assert_eq!(l.code(7).unwrap().unwrap().rowid, -1);
        // An empty list is still a node of the graph.
        assert!(l.set_links(5, &[]));
        assert_eq!(l.links(5, 0).unwrap(), Some(&[][..]));
        assert!(Level0::bytes_for(10, 5, 4) >= l.mem_bytes());
        let mut up = Node::new(2);
        up.links = vec![vec![1, 7, 9], vec![1], vec![]];
        l.set_upper(3, &up);
        l.set_upper(4, &Node::new(0)); // a layer-0 node is not kept whole
        l.set_entry(Some(3));
        assert_eq!(l.entry().unwrap(), Some(3));
        assert_eq!(l.node(3).unwrap().map(|n| n.level), Some(2));
        assert!(l.node(4).unwrap().is_none());
        assert_eq!(l.links(3, 1).unwrap(), Some(&[1u32][..]));
        assert_eq!(l.links(3, 2).unwrap(), Some(&[][..]));
        assert_eq!(l.links(3, 3).unwrap(), Some(&[][..]), "above its level");
        let mut up2 = Node::new(3);
        up2.links = vec![vec![3], vec![3, 9], vec![9], vec![3, 7, 9]];
        l.set_upper(7, &up2);
        assert_eq!(l.links(7, 2).unwrap(), Some(&[9u32][..]));
        assert_eq!(l.links(7, 3).unwrap(), Some(&[3u32, 7, 9][..]));
        assert_eq!(l.node(7).unwrap().map(|n| n.level), Some(3));
        assert_eq!(l.links(3, 1).unwrap(), Some(&[1u32][..]), "unchanged by another node");
        assert_eq!(l.links(3, 0).unwrap(), Some(&[1u32, 7, 9][..]), "layer 0 from the record");
        assert!(!l.is_head(3));
        l.set_head(3);
        assert!(l.is_head(3) && !l.is_head(2));
    }

    #[test]
    fn records_of_every_code_length_start_cache_lines_and_read_back() {
        for dims in [1, 2, 3, 5, 7, 127, 128, 129, 384, 1536] {
            let mut l = Level0::new(Metric::Cosine, 5, dims, 32);
            assert_eq!(l.stride % 64, 0, "dims {dims}");
            let links: Vec<u32> = (0..32).map(|i| i * 3 + 1).collect();
            let code: Vec<i8> = (0..dims).map(|i| (i % 255) as i8).collect();
            for n in 0..5u32 {
                assert!(l.set_code(n, n as i64 * 10 - 7, &code, n as f32, 1.5));
                assert!(l.set_links(n, &links[..n as usize * 8]));
            }
            for n in 0..5u32 {
                assert_eq!(l.links(n, 0).unwrap(), Some(&links[..n as usize * 8]), "dims {dims}");
                let c = l.code(n).unwrap().unwrap();
                assert_eq!((c.rowid, c.code, c.scale, c.norm), (n as i64 * 10 - 7, &code[..], n as f32, 1.5));
            }
        }
    }

    #[test]
    fn vectors_are_found_by_chunk_and_slot() {
        let mut l = Level0::new(Metric::L2, 12, 2, 2);
        l.set_layout(4, 3, 3);
        let l = l;
        let chunk2: ChunkVectors = Arc::new((0u8..12).collect::<Vec<u8>>());
        l.set_vectors(2, chunk2);
        l.set_vectors(9, Arc::new(vec![0u8; 12])); // no such chunk: ignored
        l.set_vectors(2, Arc::new(vec![9u8; 12])); // known already: kept
        assert!(l.has_vectors(2) && !l.has_vectors(1) && !l.has_vectors(9));
        assert_eq!(l.vector(5), Some(&[3u8, 4, 5][..]), "chunk 2, slot 1");
        assert_eq!(l.vector(1), None, "chunk 1 is not in memory");
        assert_eq!(l.vector(40), None);
    }
}
