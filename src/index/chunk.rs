//! A chunk's data as searches see it: its slot map and the int8 codes of a column, in the byte
//! layouts of their shadow rows (docs/FORMAT.md), so loading them is one read.

use super::buf::AlignedBuf;

/// The slot map of one chunk (its `t_chunks` row).
#[derive(Clone, Debug, PartialEq)]
pub struct Maps {
    pub id: i64,
    pub used: usize,
    pub validity: Vec<u8>,
    pub rowids: Vec<i64>,
}

impl Maps {
    pub fn empty(id: i64, capacity: usize) -> Maps {
        Maps { id, used: 0, validity: vec![0; capacity / 8], rowids: vec![0; capacity] }
    }
    pub fn capacity(&self) -> usize {
        self.rowids.len()
    }
    #[inline]
    pub fn is_used(&self, slot: usize) -> bool {
        self.validity.get(slot / 8).is_some_and(|b| b & (1 << (slot % 8)) != 0)
    }
    /// The lowest free slot.
    pub fn first_free(&self) -> Option<usize> {
        self.validity.iter().enumerate().find(|(_, b)| **b != 0xff).map(|(i, b)| i * 8 + (!b).trailing_zeros() as usize)
    }
    /// Mark `slot` used by `rowid`, or free.
    pub fn set(&mut self, slot: usize, rowid: Option<i64>) {
        let was = self.is_used(slot);
        match rowid {
            Some(r) => {
                self.validity[slot / 8] |= 1 << (slot % 8);
                self.rowids[slot] = r;
                if !was {
                    self.used += 1;
                }
            }
            None => {
                self.validity[slot / 8] &= !(1 << (slot % 8));
                self.rowids[slot] = 0;
                if was {
                    self.used -= 1;
                }
            }
        }
    }
    pub fn rowid_bytes(&self) -> Vec<u8> {
        self.rowids.iter().flat_map(|r| r.to_le_bytes()).collect()
    }
    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.validity.len() + 8 * self.rowids.len() + 64
    }
}

/// int8 codes of one chunk and column, in the byte layout of their `t_codes` row:
/// `C·N` codes, then `C` scales, `C` L1 norms (rounded up) and `C` L2 norms (float32).
#[derive(Clone)]
pub struct ChunkCodes {
    pub buf: AlignedBuf,
    pub dims: usize,
    pub capacity: usize,
}

impl ChunkCodes {
    pub fn bytes_for(capacity: usize, dims: usize) -> usize {
        capacity * (dims + 12)
    }
    pub fn zeroed(capacity: usize, dims: usize) -> ChunkCodes {
        ChunkCodes { buf: AlignedBuf::zeroed(Self::bytes_for(capacity, dims)), dims, capacity }
    }
    /// From the bytes of a `t_codes` row (None when the length is wrong).
    pub fn from_bytes(bytes: &[u8], capacity: usize, dims: usize) -> Option<ChunkCodes> {
        if bytes.len() != Self::bytes_for(capacity, dims) {
            return None;
        }
        let mut c = Self::zeroed(capacity, dims);
        c.buf.bytes_mut().copy_from_slice(bytes);
        Some(c)
    }
    #[inline]
    pub fn code(&self, slot: usize) -> &[i8] {
        let d = self.dims;
        bytemuck::cast_slice(&self.buf.bytes()[slot * d..(slot + 1) * d])
    }
    #[inline]
    fn f32_at(&self, table: usize, slot: usize) -> f32 {
        let o = self.capacity * self.dims + 4 * (table * self.capacity + slot);
        let b = &self.buf.bytes()[o..o + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Start loading slot `slot`'s code and parameters into the CPU's caches (see
    /// [`crate::simd::prefetch`]).
    #[inline]
    pub fn prefetch(&self, slot: usize) {
        let b = self.buf.bytes();
        let d = self.dims;
        crate::simd::prefetch(&b[slot * d..(slot + 1) * d]);
        for table in 0..3 {
            let o = self.capacity * d + 4 * (table * self.capacity + slot);
            crate::simd::prefetch(&b[o..o + 4]);
        }
    }

    /// (scale, ‖x‖₁ rounded up, ‖x‖₂) of the vector in `slot`.
    #[inline]
    pub fn params(&self, slot: usize) -> (f32, f32, f32) {
        (self.f32_at(0, slot), self.f32_at(1, slot), self.f32_at(2, slot))
    }
    /// Where slot `slot`'s code and parameters are in the row: (offset, bytes) of the code and
    /// offsets of the three parameters.
    pub fn slot_ranges(capacity: usize, dims: usize, slot: usize) -> [(usize, usize); 4] {
        let base = capacity * dims;
        [
            (slot * dims, dims),
            (base + 4 * slot, 4),
            (base + 4 * (capacity + slot), 4),
            (base + 4 * (2 * capacity + slot), 4),
        ]
    }
    /// Set slot `slot` from a coded vector (see [`encode_slot`]).
    pub fn set(&mut self, slot: usize, code: &SlotCode) {
        let ranges = Self::slot_ranges(self.capacity, self.dims, slot);
        let b = self.buf.bytes_mut();
        b[ranges[0].0..ranges[0].0 + ranges[0].1].copy_from_slice(bytemuck::cast_slice(&code.code));
        for (i, v) in [code.scale, code.l1, code.norm].into_iter().enumerate() {
            let (o, n) = ranges[i + 1];
            b[o..o + n].copy_from_slice(&v.to_le_bytes());
        }
    }
    pub fn mem_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// One vector's code and parameters, ready to write.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotCode {
    pub code: Vec<i8>,
    pub scale: f32,
    pub l1: f32,
    pub norm: f32,
}

impl SlotCode {
    /// All zeros: what a free slot holds.
    pub fn zero(dims: usize) -> SlotCode {
        SlotCode { code: vec![0; dims], scale: 0.0, l1: 0.0, norm: 0.0 }
    }
    /// Code a float32 vector. A vector the bound cannot serve gets scale `+inf`, which the
    /// search reads as "no bound: score it exactly".
    pub fn encode(x: &[f32]) -> SlotCode {
        let mut code = vec![0i8; x.len()];
        match crate::index::quant::sq8::encode(x, &mut code) {
            Some((scale, l1, norm)) => SlotCode { code, scale, l1, norm },
            None => SlotCode {
                code: vec![0; x.len()],
                scale: crate::index::quant::sq8::UNBOUNDED_SCALE,
                l1: f32::INFINITY,
                norm: f32::INFINITY,
            },
        }
    }
    /// The bytes at each of [`ChunkCodes::slot_ranges`].
    pub fn parts(&self) -> [Vec<u8>; 4] {
        [
            bytemuck::cast_slice(&self.code).to_vec(),
            self.scale.to_le_bytes().to_vec(),
            self.l1.to_le_bytes().to_vec(),
            self.norm.to_le_bytes().to_vec(),
        ]
    }
}

/// int8 codes of one chunk laid out for graph navigation: per slot one record — the code, then
/// its scale and L2 norm (float32) — so a distance reads one place in memory. Computed from
/// the vectors in memory (graph tables keep no codes on disk).
#[derive(Clone)]
pub struct NodeCodes {
    pub dims: usize,
    stride: usize,
    data: AlignedBuf,
}

impl NodeCodes {
    pub fn zeroed(capacity: usize, dims: usize) -> NodeCodes {
        let stride = dims + 8;
        NodeCodes { dims, stride, data: AlignedBuf::zeroed(capacity * stride) }
    }
    pub fn set(&mut self, slot: usize, code: &SlotCode) {
        let (d, st) = (self.dims, self.stride);
        if let Some(r) = self.data.bytes_mut().get_mut(slot * st..(slot + 1) * st) {
            r[..d].copy_from_slice(bytemuck::cast_slice(&code.code));
            r[d..d + 4].copy_from_slice(&code.scale.to_le_bytes());
            r[d + 4..d + 8].copy_from_slice(&code.norm.to_le_bytes());
        }
    }
    /// Code `x` into `slot`'s record in place: [`SlotCode::encode`]'s code, scale and norm,
    /// without allocating (a cold search codes every vector of each chunk it reaches).
    pub fn encode(&mut self, slot: usize, x: &[f32]) {
        let (d, st) = (self.dims, self.stride);
        let Some(r) = self.data.bytes_mut().get_mut(slot * st..(slot + 1) * st) else { return };
        let (code, params) = r.split_at_mut(d);
        let (scale, norm) = match crate::index::quant::sq8::encode(x, bytemuck::cast_slice_mut(code)) {
            Some((scale, _, norm)) => (scale, norm),
            None => {
                code.fill(0);
                (crate::index::quant::sq8::UNBOUNDED_SCALE, f32::INFINITY)
            }
        };
        params[..4].copy_from_slice(&scale.to_le_bytes());
        params[4..8].copy_from_slice(&norm.to_le_bytes());
    }
    /// (code, scale, norm) of `slot`.
    #[inline]
    pub fn get(&self, slot: usize) -> Option<(&[i8], f32, f32)> {
        let (d, st) = (self.dims, self.stride);
        let r = self.data.bytes().get(slot * st..(slot + 1) * st)?;
        let f = |a: usize| f32::from_le_bytes([r[a], r[a + 1], r[a + 2], r[a + 3]]);
        Some((bytemuck::cast_slice(&r[..d]), f(d), f(d + 4)))
    }
    /// `slot`'s record, unread: the code, then scale and norm (f32, little-endian).
    #[inline]
    pub fn record(&self, slot: usize) -> Option<&[u8]> {
        let st = self.stride;
        self.data.bytes().get(slot * st..(slot + 1) * st)
    }
    /// A hint that `slot` is read soon.
    #[inline]
    pub fn prefetch(&self, slot: usize) {
        let st = self.stride;
        if let Some(r) = self.data.bytes().get(slot * st..(slot + 1) * st) {
            crate::simd::prefetch(r);
        }
    }
    pub fn mem_bytes(&self) -> usize {
        self.data.len()
    }
}

/// What a scan of one column of one chunk reads, kept in memory when the budget allows.
pub enum ColData {
    Codes(ChunkCodes),
    /// The chunk's vectors as stored (`C * B` bytes), for columns without codes.
    Raw(AlignedBuf),
    /// Codes for graph navigation ([`NodeCodes`]).
    Nodes(NodeCodes),
}

impl ColData {
    pub fn mem_bytes(&self) -> usize {
        match self {
            ColData::Codes(c) => c.mem_bytes(),
            ColData::Raw(b) => b.len(),
            ColData::Nodes(n) => n.mem_bytes(),
        }
    }
    /// Whether this is the data a scan asking for `want` reads.
    pub fn is(&self, want: super::Want) -> bool {
        matches!(
            (self, want),
            (ColData::Codes(_), super::Want::Codes)
                | (ColData::Raw(_), super::Want::Raw)
                | (ColData::Nodes(_), super::Want::Nodes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{NodeCodes, SlotCode};

    /// A record holds what [`SlotCode::encode`] computes, for vectors that code and for one
    /// that cannot (a NaN), whatever the slot held before.
    #[test]
    fn node_records_hold_the_slot_codes() {
        let dims = 37;
        let mut rows: Vec<Vec<f32>> =
            (0..5).map(|i| (0..dims).map(|j| ((i * 31 + j * 7) % 23) as f32 - 11.5).collect()).collect();
        rows[2][5] = f32::NAN;
        rows[3] = vec![0.0; dims];
        let mut nc = NodeCodes::zeroed(8, dims);
        for (slot, x) in rows.iter().enumerate() {
            nc.encode(slot, &rows[(slot + 1) % rows.len()]);
            nc.encode(slot, x);
        }
        for (slot, x) in rows.iter().enumerate() {
            let want = SlotCode::encode(x);
            let (code, scale, norm) = nc.get(slot).unwrap();
            assert_eq!(code, &want.code[..], "slot {slot}");
            assert_eq!((scale.to_bits(), norm.to_bits()), (want.scale.to_bits(), want.norm.to_bits()), "slot {slot}");
        }
        assert!(nc.get(2).unwrap().1.is_infinite() && nc.get(2).unwrap().0.iter().all(|c| *c == 0));
        assert_eq!(nc.get(6).unwrap(), (&[0i8; 37][..], 0.0, 0.0));
    }
}
