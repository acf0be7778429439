//! A graph's nodes in memory, in blocks of [`LEAF`] nodes, and their row encoding (docs/FORMAT.md,
//! `t_hnsw`). The algorithms read nodes through [`GraphSource`] and change them through
//! [`GraphSink`]: the virtual table implements both over the shared cache and the pages, the
//! tests over plain memory.

use crate::error::{Error, Result};

/// Nodes per block: the unit a graph is loaded, cached and logged in.
pub const LEAF: u32 = 256;

/// One node: its top layer and its neighbours on each layer 0..=level.
///
/// Vectors with the same code are one node of the graph: the first one (the head) is linked
/// and lists the others (`dups`); each other one (a member) points at its head and has no links.
/// A search that reaches the head returns them all, so any number of copies are found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub level: u8,
    pub links: Vec<Vec<u32>>,
    /// Members of this head's group of equal codes, ascending.
    pub dups: Vec<u32>,
    /// For a member: its head.
    pub head: Option<u32>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Ascending numbers as varints: the first itself, each next its difference from the previous.
fn put_ascending(out: &mut Vec<u8>, ids: &[u32]) {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut prev = 0u32;
    for (i, id) in sorted.iter().enumerate() {
        put_varint(out, if i == 0 { *id } else { id - prev });
        prev = *id;
    }
}

struct Reader<'a> {
    id: u32,
    bytes: &'a [u8],
    p: usize,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> Error {
        Error::corrupt(format!("hnsw node {}: {what}", self.id))
    }
    fn byte(&mut self) -> Result<u8> {
        let b = *self.bytes.get(self.p).ok_or_else(|| self.bad("links end early"))?;
        self.p += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 35 {
                return Err(self.bad("a node number is too long"));
            }
        }
    }
    /// `n` ascending node numbers, none of them the node itself.
    fn ascending(&mut self, n: usize) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(n);
        self.ascending_into(n, &mut out)?;
        Ok(out)
    }
    /// [`Self::ascending`], appended to `out`.
    fn ascending_into(&mut self, n: usize, out: &mut Vec<u32>) -> Result<()> {
        let mut prev = 0u64;
        for i in 0..n {
            let v = self.varint()?;
            let idv = if i == 0 { v } else { prev + v };
            if idv > u32::MAX as u64 || (i > 0 && v == 0) {
                return Err(self.bad("node numbers are not ascending 32-bit numbers"));
            }
            if idv == self.id as u64 {
                return Err(self.bad("it links to itself"));
            }
            prev = idv;
            out.push(idv as u32);
        }
        Ok(())
    }
}

/// Marks the list of a head's members after its layers.
const DUPS: u8 = 0xff;

impl Node {
    pub fn new(level: u8) -> Node {
        Node { level, links: vec![Vec::new(); level as usize + 1], dups: Vec::new(), head: None }
    }

    /// A member of `head`'s group.
    pub fn member(head: u32) -> Node {
        Node { level: 0, links: Vec::new(), dups: Vec::new(), head: Some(head) }
    }

    #[inline]
    pub fn layer(&self, level: usize) -> &[u32] {
        self.links.get(level).map_or(&[], |v| v.as_slice())
    }

    /// The `level` column of the node's row: its top layer, or −1 for a member.
    pub fn row_level(&self) -> i64 {
        if self.head.is_some() { -1 } else { self.level as i64 }
    }

    /// The row encoding (docs/FORMAT.md): per layer a count byte and the ascending neighbour
    /// numbers as varints of their differences; for a head with members, 0xff, their count and
    /// their numbers the same way; for a member, its head's number.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.links.iter().map(|l| 1 + 3 * l.len()).sum::<usize>() + 3 * self.dups.len());
        if let Some(h) = self.head {
            put_varint(&mut out, h);
            return out;
        }
        for layer in &self.links {
            out.push(layer.len() as u8);
            put_ascending(&mut out, layer);
        }
        if !self.dups.is_empty() {
            out.push(DUPS);
            put_varint(&mut out, self.dups.len() as u32);
            put_ascending(&mut out, &self.dups);
        }
        out
    }

    /// Decode a row of node `id` (errors name the node and what is wrong).
    pub fn decode(id: u32, level: i64, bytes: &[u8], max0: usize, max_up: usize) -> Result<Node> {
        let mut r = Reader { id, bytes, p: 0 };
        if level == -1 {
            let h = r.varint()?;
            if h > u32::MAX as u64 || h == id as u64 || r.p != bytes.len() {
                return Err(r.bad("a member's head is not another node's number"));
            }
            return Ok(Node::member(h as u32));
        }
        if !(0..=super::params::MAX_LEVEL as i64).contains(&level) {
            return Err(r.bad(&format!("level {level} is out of range")));
        }
        let mut node = Node::new(level as u8);
        for l in 0..=level as usize {
            let n = r.byte()? as usize;
            if n > if l == 0 { max0 } else { max_up } {
                return Err(r.bad(&format!("{n} neighbours on layer {l}, more than allowed")));
            }
            node.links[l] = r.ascending(n)?;
        }
        if r.p < bytes.len() {
            if r.byte()? != DUPS {
                return Err(r.bad(&format!("{} bytes after the last layer", bytes.len() - r.p + 1)));
            }
            let n = r.varint()? as usize;
            if n == 0 || n > bytes.len() {
                return Err(r.bad("a bad count of members"));
            }
            node.dups = r.ascending(n)?;
            if r.p != bytes.len() {
                return Err(r.bad(&format!("{} bytes after the members", bytes.len() - r.p)));
            }
        }
        Ok(node)
    }
}

/// A block of [`LEAF`] consecutive nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaf {
    pub nodes: Vec<Option<Node>>,
}

impl Leaf {
    pub fn empty() -> Leaf {
        Leaf { nodes: vec![None; LEAF as usize] }
    }
    #[inline]
    pub fn get(&self, n: u32) -> Option<&Node> {
        self.nodes.get((n % LEAF) as usize).and_then(|x| x.as_ref())
    }
    pub fn mem_bytes(&self) -> usize {
        64 + self.nodes.len() * 32
            + self
                .nodes
                .iter()
                .flatten()
                .map(|n| n.links.iter().map(|l| 24 + 4 * l.capacity()).sum::<usize>())
                .sum::<usize>()
    }
}

/// Layer 0 of a leaf's nodes in one array (offsets, then the links back to back), so that a
/// search reads a node's neighbours from one place: the cached form of a committed leaf.
#[derive(Debug, Clone, Default)]
pub struct FlatLayer {
    /// Node i of the leaf (i < LEAF) has links `links[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    links: Vec<u32>,
    /// Which of the leaf's nodes exist.
    present: [u64; (LEAF as usize).div_ceil(64)],
    /// Which of them head a group of equal codes.
    heads: [u64; (LEAF as usize).div_ceil(64)],
}

impl FlatLayer {
    pub fn of(leaf: &Leaf) -> FlatLayer {
        let mut f = FlatLayer::start();
        for (i, n) in leaf.nodes.iter().enumerate() {
            if let Some(n) = n {
                f.links.extend_from_slice(n.layer(0));
                f.close(i, !n.dups.is_empty());
            }
        }
        f.finish();
        f
    }
    /// An empty layer to fill node by node in ascending order: append a node's links to
    /// `links`, then [`Self::close`] it.
    fn start() -> FlatLayer {
        let mut f = FlatLayer { offsets: Vec::with_capacity(LEAF as usize + 1), ..FlatLayer::default() };
        f.offsets.push(0);
        f
    }
    /// Mark the leaf's `i`-th node present (all before it that were not pushed are absent);
    /// its links are what was appended to `links` since.
    fn close(&mut self, i: usize, head: bool) {
        let end = self.links.len() as u32;
        while self.offsets.len() < i + 1 {
            self.offsets.push(*self.offsets.last().unwrap_or(&0));
        }
        self.offsets.push(end);
        self.present[i / 64] |= 1 << (i % 64);
        if head {
            self.heads[i / 64] |= 1 << (i % 64);
        }
    }
    /// Close the layer: the nodes after the last pushed are absent.
    fn finish(&mut self) {
        let end = self.links.len() as u32;
        self.offsets.resize(LEAF as usize + 1, end);
    }
    /// The layer-0 links of the leaf's `i`-th node (None: no such node).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&[u32]> {
        if self.present.get(i / 64).is_none_or(|w| w & (1 << (i % 64)) == 0) {
            return None;
        }
        let (a, b) = (*self.offsets.get(i)? as usize, *self.offsets.get(i + 1)? as usize);
        self.links.get(a..b)
    }
    /// Whether the leaf's `i`-th node heads a group of equal codes.
    #[inline]
    pub fn has_dups(&self, i: usize) -> bool {
        self.heads.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let (Some(&a), Some(&b)) = (self.offsets.get(i), self.offsets.get(i + 1))
            && let Some(l) = self.links.get(a as usize..b as usize)
        {
            crate::simd::prefetch(bytemuck::cast_slice(l));
        }
    }
    pub fn mem_bytes(&self) -> usize {
        4 * (self.offsets.len() + self.links.len()) + 32
    }
}

/// A leaf as a search keeps it: layer 0 flat, and whole only the nodes that have more (upper
/// layers, or a group of equal codes: its head or a member), about 1 in 16. Decoded from the
/// rows straight into this form, a leaf is read without a `Node` (two allocations) per node.
#[derive(Debug, Clone)]
pub struct LeafParts {
    pub l0: FlatLayer,
    /// (index in the leaf, node), ascending.
    special: Vec<(u16, Node)>,
    last: Option<usize>,
}

impl Default for LeafParts {
    fn default() -> Self {
        LeafParts { l0: FlatLayer::start(), special: Vec::new(), last: None }
    }
}

impl LeafParts {
    /// The parts of a leaf held whole.
    pub fn of(leaf: &Leaf) -> LeafParts {
        let special = (leaf.nodes.iter().enumerate())
            .filter_map(|(i, n)| n.as_ref().filter(|n| Self::is_special(n)).map(|n| (i as u16, n.clone())))
            .collect();
        LeafParts { l0: FlatLayer::of(leaf), special, last: None }
    }

    fn is_special(n: &Node) -> bool {
        n.level > 0 || n.head.is_some() || !n.dups.is_empty()
    }

    /// Add node `n`'s row (`level`, `bytes` as in [`Node::decode`], which checks them alike).
    /// Rows come in ascending node order.
    pub fn push_row(&mut self, n: u32, level: i64, bytes: &[u8], max0: usize, max_up: usize) -> Result<()> {
        let i = (n % LEAF) as usize;
        if self.last.is_some_and(|l| l >= i) {
            return Err(Error::corrupt(format!("hnsw node {n}: rows out of order")));
        }
        self.last = Some(i);
        if level == 0 {
            // Most rows: one layer, no group. Its links go straight into the flat layer.
            let mut r = Reader { id: n, bytes, p: 0 };
            let count = r.byte()? as usize;
            if count > max0 {
                return Err(r.bad(&format!("{count} neighbours on layer 0, more than allowed")));
            }
            let at = self.l0.links.len();
            r.ascending_into(count, &mut self.l0.links)?;
            if r.p == bytes.len() {
                self.l0.close(i, false);
                return Ok(());
            }
            self.l0.links.truncate(at);
        }
        let node = Node::decode(n, level, bytes, max0, max_up)?;
        self.l0.links.extend_from_slice(node.layer(0));
        self.l0.close(i, !node.dups.is_empty());
        self.special.push((i as u16, node));
        Ok(())
    }

    /// Close the leaf after its last row.
    pub fn finish(mut self) -> LeafParts {
        self.l0.finish();
        self
    }

    /// Node `n` if the leaf holds it whole (it has upper layers or a group); None for the
    /// others, which [`Self::to_leaf`] makes from their layer 0.
    #[inline]
    pub fn special(&self, n: u32) -> Option<&Node> {
        let i = (n % LEAF) as u16;
        self.special.binary_search_by_key(&i, |(j, _)| *j).ok().map(|k| &self.special[k].1)
    }

    /// Whether the leaf has node `n`.
    #[inline]
    pub fn has(&self, n: u32) -> bool {
        self.l0.get((n % LEAF) as usize).is_some()
    }

    /// The leaf with every node whole.
    pub fn to_leaf(&self) -> Leaf {
        let mut leaf = Leaf::empty();
        let mut special = self.special.iter().peekable();
        for (i, slot) in leaf.nodes.iter_mut().enumerate() {
            if let Some((_, node)) = special.next_if(|(j, _)| *j as usize == i) {
                *slot = Some(node.clone());
            } else if let Some(links) = self.l0.get(i) {
                let mut node = Node::new(0);
                node.links[0] = links.to_vec();
                *slot = Some(node);
            }
        }
        leaf
    }

    pub fn mem_bytes(&self) -> usize {
        self.l0.mem_bytes()
            + self
                .special
                .iter()
                .map(|(_, n)| 40 + n.links.iter().map(|l| 24 + 4 * l.capacity()).sum::<usize>())
                .sum::<usize>()
    }
}

/// Read access to a graph.
pub trait GraphSource {
    /// The entry node (None: the graph is empty).
    fn entry(&self) -> Result<Option<u32>>;
    /// Node `n`, if it is in the graph.
    fn node(&self, n: u32) -> Result<Option<&Node>>;
    /// A hint that node `n`'s links are read soon.
    #[inline]
    fn prefetch(&self, _n: u32) {}
    /// Whether node `n` heads a group of equal codes (has members).
    #[inline]
    fn has_dups(&self, n: u32) -> Result<bool> {
        Ok(self.node(n)?.is_some_and(|x| !x.dups.is_empty()))
    }
    /// Node `n`'s neighbours on `level` (None: no such node).
    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        Ok(self.node(n)?.map(|x| x.layer(level)))
    }
}

/// Write access: each change is made in the caller's pages and memory at once.
pub trait GraphSink: GraphSource {
    fn set_node(&mut self, n: u32, node: Node) -> Result<()>;
    fn remove_node(&mut self, n: u32) -> Result<()>;
    fn set_entry(&mut self, entry: Option<u32>) -> Result<()>;
    /// The node with the highest level other than `except` (ties: the lowest number), for a new
    /// entry node when the entry is deleted.
    fn highest_node(&self, except: u32) -> Result<Option<u32>>;
}

/// A graph in plain memory (tests, and the bulk build before it is written out), indexed by
/// node number.
#[derive(Debug, Clone, Default)]
pub struct MemGraph {
    pub entry: Option<u32>,
    pub nodes: Vec<Option<Node>>,
    count: usize,
    /// Layer 0 again, as fixed-size records (a count, then up to `stride − 1` links), so a
    /// search reads a node's neighbours from one place; off when `stride` is 0.
    flat: Vec<u32>,
    stride: usize,
}

impl MemGraph {
    /// A graph whose layer-0 lists hold at most `max0` links, kept flat for fast searches.
    pub fn with_links(max0: usize) -> MemGraph {
        MemGraph { stride: max0 + 1, ..MemGraph::default() }
    }

    /// The record count of a node that is not in the graph.
    const ABSENT: u32 = u32::MAX;

    fn set_flat(&mut self, n: u32, list: Option<&[u32]>) {
        if self.stride == 0 {
            return;
        }
        let list = match list {
            Some(l) => l,
            None => {
                if let Some(c) = self.flat.get_mut(n as usize * self.stride) {
                    *c = Self::ABSENT;
                }
                return;
            }
        };
        if list.len() >= self.stride {
            // Longer than promised: search through the nodes instead.
            self.stride = 0;
            self.flat = Vec::new();
            return;
        }
        let i = n as usize * self.stride;
        if i + self.stride > self.flat.len() {
            self.flat.resize(i + self.stride, Self::ABSENT);
        }
        self.flat[i] = list.len() as u32;
        self.flat[i + 1..i + 1 + list.len()].copy_from_slice(list);
    }

    /// Nodes in the graph.
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// (node number, node), ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Node)> {
        self.nodes.iter().enumerate().filter_map(|(i, n)| n.as_ref().map(|n| (i as u32, n)))
    }
}

impl GraphSource for MemGraph {
    fn entry(&self) -> Result<Option<u32>> {
        Ok(self.entry)
    }
    #[inline]
    fn node(&self, n: u32) -> Result<Option<&Node>> {
        Ok(self.nodes.get(n as usize).and_then(|x| x.as_ref()))
    }
    #[inline]
    fn prefetch(&self, n: u32) {
        let i = n as usize * self.stride;
        if let Some(r) = self.flat.get(i..i + self.stride) {
            crate::simd::prefetch(bytemuck::cast_slice(r));
        }
    }
    #[inline]
    fn links(&self, n: u32, level: usize) -> Result<Option<&[u32]>> {
        if level == 0 && self.stride > 0 {
            let i = n as usize * self.stride;
            return Ok(match self.flat.get(i) {
                Some(&c) if c != Self::ABSENT => self.flat.get(i + 1..i + 1 + c as usize),
                _ => None,
            });
        }
        Ok(self.node(n)?.map(|x| x.layer(level)))
    }
}

impl GraphSink for MemGraph {
    fn set_node(&mut self, n: u32, node: Node) -> Result<()> {
        let i = n as usize;
        if i >= self.nodes.len() {
            self.nodes.resize(i + 1, None);
        }
        if self.nodes[i].is_none() {
            self.count += 1;
        }
        let l0 = node.layer(0).to_vec();
        self.set_flat(n, Some(&l0));
        self.nodes[i] = Some(node);
        Ok(())
    }
    fn remove_node(&mut self, n: u32) -> Result<()> {
        if let Some(x) = self.nodes.get_mut(n as usize)
            && x.take().is_some()
        {
            self.count -= 1;
            self.set_flat(n, None);
        }
        Ok(())
    }
    fn set_entry(&mut self, entry: Option<u32>) -> Result<()> {
        self.entry = entry;
        Ok(())
    }
    fn highest_node(&self, except: u32) -> Result<Option<u32>> {
        Ok(self
            .iter()
            .filter(|(id, n)| *id != except && n.head.is_none())
            .max_by(|a, b| a.1.level.cmp(&b.1.level).then(b.0.cmp(&a.0)))
            .map(|(id, _)| id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_and_reject_damage() {
        let n = Node { level: 2, links: vec![vec![900, 3, 70_000, 4_000_000_000], vec![7], vec![]], ..Node::default() };
        let b = n.encode();
        let back = Node::decode(5, 2, &b, 32, 16).unwrap();
        let mut sorted = n.clone();
        sorted.links[0].sort_unstable();
        assert_eq!(back, sorted);
        assert!(Node::decode(5, 3, &b, 32, 16).is_err(), "level and links disagree");
        assert!(Node::decode(5, 2, &b[..b.len() - 1], 32, 16).is_err(), "truncated");
        assert!(Node::decode(5, 2, &[b.clone(), vec![0]].concat(), 32, 16).is_err(), "trailing bytes");
        assert!(Node::decode(7, 2, &b, 32, 16).is_err(), "self link");
        assert!(Node::decode(5, 2, &b, 3, 16).is_err(), "too many neighbours");
        assert!(Node::decode(5, 99, &b, 32, 16).is_err(), "level out of range");
        // Not ascending: a zero difference.
        assert!(Node::decode(5, 0, &[2, 1, 0], 32, 16).is_err());
        // Heads with members, and members.
        let h = Node { level: 0, links: vec![vec![1, 2]], dups: vec![40, 9, 300], head: None };
        let back = Node::decode(5, 0, &h.encode(), 32, 16).unwrap();
        assert_eq!(back.dups, vec![9, 40, 300]);
        let m = Node::member(5);
        assert_eq!(m.row_level(), -1);
        assert_eq!(Node::decode(9, -1, &m.encode(), 32, 16).unwrap(), m);
        assert!(Node::decode(5, -1, &m.encode(), 32, 16).is_err(), "a member of itself");
        assert!(Node::decode(5, 0, &[0, 0xff, 0], 32, 16).is_err(), "no members");
    }

    /// A leaf read from its rows straight into the search's form holds what decoding every
    /// row into a node holds: the same flat layer 0, the nodes with more whole, the others
    /// made whole on demand; and a damaged row fails the same way.
    #[test]
    fn leaf_parts_from_rows_equal_the_decoded_leaf() {
        let base = 3 * LEAF;
        let mut leaf = Leaf::empty();
        for i in (0..LEAF as usize).filter(|i| i % 7 != 3) {
            let n = base + i as u32;
            let list: Vec<u32> =
                (1..=(i % 5) as u32).map(|k| base + (i as u32 + 11 * k) % (4 * LEAF)).filter(|m| *m != n).collect();
            let mut node = match i % 23 {
                0 => Node::new(2),
                5 => Node::member(base + 4),
                _ => Node::new(0),
            };
            if node.head.is_none() {
                let mut l = list.clone();
                l.sort_unstable();
                l.dedup();
                node.links[0] = l;
                if node.level == 2 {
                    node.links[1] = vec![base + 300, base + 900];
                }
            }
            if i == 4 || i == 100 {
                node.dups = vec![base + 5, base + 28];
            }
            leaf.nodes[i] = Some(node);
        }
        let mut parts = LeafParts::default();
        for (i, node) in leaf.nodes.iter().enumerate() {
            if let Some(node) = node {
                parts.push_row(base + i as u32, node.row_level(), &node.encode(), 32, 16).unwrap();
            }
        }
        let parts = parts.finish();
        assert_eq!(parts.to_leaf(), leaf);
        let whole = FlatLayer::of(&leaf);
        for i in 0..LEAF as usize {
            let n = base + i as u32;
            assert_eq!(parts.l0.get(i), whole.get(i), "node {n}");
            assert_eq!(parts.l0.has_dups(i), whole.has_dups(i), "node {n}");
            assert_eq!(parts.has(n), leaf.get(n).is_some());
            let more = leaf.get(n).is_some_and(|x| x.level > 0 || x.head.is_some() || !x.dups.is_empty());
            assert_eq!(parts.special(n), if more { leaf.get(n) } else { None }, "node {n}");
        }
        assert_eq!(LeafParts::of(&leaf).to_leaf(), leaf);

        let row = Node { level: 0, links: vec![vec![base + 1, base + 2]], ..Node::default() }.encode();
        let mut p = LeafParts::default();
        p.push_row(base + 9, 0, &row, 32, 16).unwrap();
        let e = p.push_row(base + 8, 0, &row, 32, 16).unwrap_err().to_string();
        assert!(e.contains("out of order"), "{e}");
        for (bytes, max0) in [(&row[..2], 32), (&row[..], 1), (&[row.clone(), vec![7]].concat()[..], 32)] {
            let want = Node::decode(base + 20, 0, bytes, max0, 16).unwrap_err().to_string();
            let got = LeafParts::default().push_row(base + 20, 0, bytes, max0, 16).unwrap_err().to_string();
            assert_eq!(got, want);
        }
    }
}
