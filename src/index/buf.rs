//! Memory for vectors.

/// A byte buffer whose start is 64-byte aligned (a cache line), so vectors whose size is a
/// multiple of 64 bytes never straddle cache lines. Backed by u64 words with room to shift
/// the start to the next 64-byte boundary; the buffer never grows, so the offset holds.
pub struct AlignedBuf {
    words: Vec<u64>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        let words = vec![0u64; len.div_ceil(8) + 8];
        let addr = words.as_ptr() as usize;
        let offset = (64 - addr % 64) % 64;
        AlignedBuf { words, offset, len }
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[self.offset..self.offset + self.len]
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let (o, n) = (self.offset, self.len);
        &mut bytemuck::cast_slice_mut(&mut self.words)[o..o + n]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Clone for AlignedBuf {
    /// A new allocation has its own offset, so copy the bytes, not the words.
    fn clone(&self) -> Self {
        let mut b = AlignedBuf::zeroed(self.len);
        b.bytes_mut().copy_from_slice(self.bytes());
        b
    }
}
