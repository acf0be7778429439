//! Exact search over a table's chunks — the flat index, and the fallback of every other index
//! when a filter leaves few rows.
//!
//! Float32 columns under l2, cosine or ip keep an int8 code per vector (see [`super::quant::sq8`]): a
//! scan reads the codes (a quarter of the bytes), bounds every row's distance, and scores in
//! float32 only the rows that can still be among the k best, so the result is exactly that of
//! scoring every vector in float32. Other columns are scored from their stored vectors.

use super::chunk::{ColData, SlotCode};
use super::quant::sq8::{QueryCode, UpperBounds};
use super::scan::{self, Hit, TopK};
use super::{ChunkSource, FilterStrategy, IndexSpec, IndexWriter, SearchRequest, SearchStats, VectorIndex, Want};
use crate::error::{Error, Result};
use crate::value::OwnedValue;
use crate::vector::ElementType;
use crate::vector::distance::Metric;

/// What an index needs to know of its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnInfo {
    pub ty: ElementType,
    pub dims: usize,
    pub metric: Metric,
    /// Bytes per stored vector.
    pub bytes: usize,
    /// The column keeps int8 codes (float32 under l2, cosine or ip).
    pub coded: bool,
}

impl ColumnInfo {
    pub fn new(ty: ElementType, dims: usize, metric: Metric) -> ColumnInfo {
        ColumnInfo {
            ty,
            dims,
            metric,
            bytes: ty.bytes_for(dims),
            coded: ty == ElementType::Float32 && super::quant::sq8::supports(metric),
        }
    }
}

/// A row that may be in the top k: its lower bound and where it is.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    lower: f64,
    chunk: i64,
    slot: u32,
    rowid: i64,
}

/// The interval a row's code gives for its distance; (−∞, +∞) for a vector stored without a
/// usable code (scale +∞) or when the arithmetic cannot bound it. None: the distance is
/// undefined (cosine of a zero vector), so the row is never a result.
#[inline]
fn code_interval(qc: &QueryCode, dot: i64, (sx, l1x, nx): (f32, f32, f32)) -> Option<(f64, f64)> {
    if !sx.is_finite() || !l1x.is_finite() || !nx.is_finite() {
        return Some((f64::NEG_INFINITY, f64::INFINITY));
    }
    match qc.interval(dot, sx, l1x, nx) {
        // NaN on either end (a bound computed from extreme magnitudes) bounds nothing.
        Some((lo, hi)) if lo <= hi => Some((lo, hi)),
        Some(_) => Some((f64::NEG_INFINITY, f64::INFINITY)),
        None => None,
    }
}

/// The best `out.k()` rows of column `req.col` for the request, exactly.
pub fn exact_search(
    src: &dyn ChunkSource,
    info: &ColumnInfo,
    req: &SearchRequest<'_>,
    out: &mut TopK,
) -> Result<SearchStats> {
    let col = req.col;
    let only: Option<Vec<i64>> = req.masks.map(|m| m.keys().copied().collect());
    let mut stats = SearchStats::default();
    let q = req.scorer.query_f32().filter(|_| info.coded);
    let Some(q) = q else {
        // Score every (candidate) vector.
        let scorer = req.scorer;
        let bounds = req.bounds;
        let masks = req.masks;
        src.scan(col, Want::Raw, only.as_deref(), &mut |v| {
            let Some(ColData::Raw(buf)) = v.data else {
                return Err(Error::invalid("vindex: the scan returned no vectors"));
            };
            let mask = masks.and_then(|m| m.get(&v.maps.id)).map(|m| m.as_slice());
            let view = scan::ChunkView {
                id: v.maps.id,
                validity: &v.maps.validity,
                rowids: &v.maps.rowids,
                vectors: buf.bytes(),
            };
            scan::scan_chunk(&view, mask, scorer, bounds, out);
            Ok(())
        })?;
        stats.from_memory = src.served_from_memory();
        return Ok(stats);
    };
    let qc = QueryCode::new(q, info.metric);
    let kernels = req.scorer.kernels();
    let mut upper = UpperBounds::new(out.k());
    let mut cands: Vec<Candidate> = Vec::new();
    let bounds = req.bounds;
    let masks = req.masks;
    src.scan(col, Want::Codes, only.as_deref(), &mut |v| {
        let Some(ColData::Codes(codes)) = v.data else {
            return Err(Error::invalid("vindex: the scan returned no codes"));
        };
        let mask = masks.and_then(|m| m.get(&v.maps.id));
        // A filter leaves scattered slots: their codes are random reads, so ask for all of
        // this chunk's before using any (a full chunk streams, and needs no help).
        let sparse = mask.is_some_and(|m| m.iter().map(|b| b.count_ones()).sum::<u32>() * 4 < v.maps.capacity() as u32);
        if sparse {
            for (byte_i, &bits) in v.maps.validity.iter().enumerate() {
                let mut bits = bits & mask.and_then(|m| m.get(byte_i)).copied().unwrap_or(0);
                while bits != 0 {
                    let slot = byte_i * 8 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    codes.prefetch(slot);
                }
            }
        }
        for (byte_i, &bits) in v.maps.validity.iter().enumerate() {
            let mut bits = match mask {
                Some(m) => bits & m.get(byte_i).copied().unwrap_or(0),
                None => bits,
            };
            while bits != 0 {
                let slot = byte_i * 8 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let dot = (kernels.dot_i8)(&qc.codes, codes.code(slot));
                let Some((lo, hi)) = code_interval(&qc, dot, codes.params(slot)) else { continue };
                if lo > upper.threshold() {
                    continue;
                }
                let (may, surely) = bounds.admits_interval(lo, hi);
                if !may {
                    continue;
                }
                if surely {
                    upper.push(hi);
                }
                cands.push(Candidate { lower: lo, chunk: v.maps.id, slot: slot as u32, rowid: v.maps.rowids[slot] });
            }
        }
        Ok(())
    })?;
    stats.from_memory = src.served_from_memory();
    let t = upper.threshold();
    cands.retain(|c| c.lower <= t);
    cands.sort_unstable_by_key(|c| (c.chunk, c.slot));
    let mut buf = vec![0u8; info.bytes];
    for c in cands {
        src.read_vector(col, c.chunk, c.slot as usize, &mut buf)?;
        stats.scored += 1;
        let Some(d) = req.scorer.score(&buf) else { continue };
        if d > out.bound() || !req.bounds.admits(d) {
            continue;
        }
        out.push(Hit { distance: d, rowid: c.rowid, chunk: c.chunk, slot: c.slot });
    }
    Ok(stats)
}

/// The flat index: exact search, with int8 codes kept in `t_codes` for the prescan.
pub struct FlatIndex {
    spec: IndexSpec,
    info: ColumnInfo,
}

impl FlatIndex {
    pub fn new(info: ColumnInfo) -> FlatIndex {
        FlatIndex { spec: IndexSpec::Flat, info }
    }
}

/// The code of a stored float32 vector given as bytes.
pub fn code_of(bytes: &[u8]) -> SlotCode {
    let x: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
    SlotCode::encode(&x)
}

impl VectorIndex for FlatIndex {
    fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    fn on_write(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize, vector: &[u8]) -> Result<()> {
        if self.info.coded {
            w.write_code(col, chunk, slot, &code_of(vector))?;
        }
        Ok(())
    }

    fn on_delete(&self, w: &mut dyn IndexWriter, col: usize, chunk: i64, slot: usize) -> Result<()> {
        if self.info.coded {
            w.write_code(col, chunk, slot, &SlotCode::zero(self.info.dims))?;
        }
        Ok(())
    }

    fn search(&self, src: &dyn ChunkSource, req: &SearchRequest<'_>, out: &mut TopK) -> Result<SearchStats> {
        exact_search(src, &self.info, req, out)
    }

    fn filter_strategy(&self, share: f64, _rows: usize) -> FilterStrategy {
        // Measured on 100k MiniLM rows: finding the passing rows costs about as much as
        // scanning the codes once their share passes ~15 %.
        if share > 0.15 { FilterStrategy::After } else { FilterStrategy::Exact }
    }

    fn exact_within_partitions(&self) -> bool {
        // Scanning whole chunks costs less than scanning everything, whatever their share.
        true
    }
    fn searches_known_rows(&self) -> bool {
        true
    }

    fn check(&self, src: &dyn ChunkSource, col: usize, problems: &mut Vec<String>) -> Result<()> {
        if !self.info.coded {
            return Ok(());
        }
        let mut ids = Vec::new();
        src.scan(col, Want::Maps, None, &mut |v| {
            ids.push(v.maps.id);
            Ok(())
        })?;
        let mut buf = vec![0u8; self.info.bytes];
        for id in ids {
            let mut stored: Option<(Vec<usize>, super::chunk::ChunkCodes)> = None;
            src.scan(col, Want::Codes, Some(&[id]), &mut |v| {
                if let Some(ColData::Codes(c)) = v.data {
                    let used = (0..v.maps.capacity()).filter(|s| v.maps.is_used(*s)).collect();
                    stored = Some((used, c.clone()));
                }
                Ok(())
            })?;
            let Some((used, codes)) = stored else { continue };
            for slot in used {
                src.read_vector(col, id, slot, &mut buf)?;
                let want = code_of(&buf);
                let (s, l1, n) = codes.params(slot);
                let same = codes.code(slot) == want.code.as_slice()
                    && s.to_bits() == want.scale.to_bits()
                    && l1.to_bits() == want.l1.to_bits()
                    && n.to_bits() == want.norm.to_bits();
                if !same {
                    problems.push(format!("codes of chunk {id} slot {slot} (column {col}) do not match its vector"));
                    if problems.len() > 50 {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn status(&self) -> Vec<(&'static str, OwnedValue)> {
        vec![("prescan", OwnedValue::Text(if self.info.coded { "int8" } else { "n/a" }.into()))]
    }
}

#[cfg(test)]
mod tests {
    use super::super::chunk::{ChunkCodes, Maps};
    use super::super::scan::{Bounds, Scorer};
    use super::super::{ChunkView, Masks};
    use super::*;
    use crate::index::buf::AlignedBuf;
    use crate::vector::Vector;
    use std::borrow::Cow;

    /// Chunks in plain memory, with codes computed here.
    struct MemSource {
        cap: usize,
        dims: usize,
        chunks: Vec<(Maps, Vec<f32>)>,
        codes: bool,
    }

    impl ChunkSource for MemSource {
        fn capacity(&self) -> usize {
            self.cap
        }
        fn scan(
            &self,
            _col: usize,
            want: Want,
            only: Option<&[i64]>,
            f: &mut dyn FnMut(&ChunkView<'_>) -> Result<()>,
        ) -> Result<()> {
            for (m, v) in &self.chunks {
                if only.is_some_and(|o| !o.contains(&m.id)) {
                    continue;
                }
                let data = match want {
                    Want::Maps => None,
                    Want::Raw => {
                        let mut b = AlignedBuf::zeroed(v.len() * 4);
                        b.bytes_mut().copy_from_slice(bytemuck::cast_slice(v));
                        Some(ColData::Raw(b))
                    }
                    Want::Codes => {
                        assert!(self.codes);
                        let mut c = ChunkCodes::zeroed(self.cap, self.dims);
                        for s in 0..self.cap {
                            if m.is_used(s) {
                                c.set(s, &SlotCode::encode(&v[s * self.dims..(s + 1) * self.dims]));
                            }
                        }
                        Some(ColData::Codes(c))
                    }
                    Want::Nodes => panic!("the flat index never asks for navigation codes"),
                };
                f(&ChunkView { maps: m, data: data.as_ref() })?;
            }
            Ok(())
        }
        fn read_vector(&self, _col: usize, chunk: i64, slot: usize, out: &mut [u8]) -> Result<()> {
            let (_, v) = self.chunks.iter().find(|(m, _)| m.id == chunk).expect("chunk");
            out.copy_from_slice(bytemuck::cast_slice(&v[slot * self.dims..(slot + 1) * self.dims]));
            Ok(())
        }
        fn served_from_memory(&self) -> bool {
            true
        }
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn prescan_equals_full_scan_with_masks_and_bounds() {
        let (cap, dims) = (16, 12);
        let mut seed = 7;
        let mut chunks = Vec::new();
        for id in 1..=5 {
            let mut m = Maps::empty(id, cap);
            for s in 0..cap {
                if !(s + id as usize).is_multiple_of(4) {
                    m.set(s, Some(id * 100 + s as i64));
                }
            }
            let v: Vec<f32> = (0..cap * dims).map(|_| lcg(&mut seed)).collect();
            chunks.push((m, v));
        }
        for metric in [Metric::L2, Metric::Cosine, Metric::Ip] {
            let info = ColumnInfo::new(ElementType::Float32, dims, metric);
            let q: Vec<f32> = (0..dims).map(|_| lcg(&mut seed)).collect();
            let scorer = Scorer::new(Vector::F32(Cow::Owned(q)), metric);
            let mut masks = Masks::new();
            for id in [2i64, 4] {
                masks.insert(id, vec![0b1011_0110, 0xff]);
            }
            let mut bounds = Bounds::default();
            bounds.add_upper(10.0, true);
            for (mask, bounds) in [(None, Bounds::default()), (Some(&masks), bounds)] {
                let req = SearchRequest {
                    col: 0,
                    scorer: &scorer,
                    masks: mask,
                    bounds: &bounds,
                    exact: false,
                    ef_search: None,
                    nprobe: None,
                    share: None,
                };
                let coded = MemSource { cap, dims, chunks: chunks.clone(), codes: true };
                let mut a = TopK::new(7);
                exact_search(&coded, &info, &req, &mut a).unwrap();
                let plain = ColumnInfo { coded: false, ..info };
                let mut b = TopK::new(7);
                exact_search(&coded, &plain, &req, &mut b).unwrap();
                let (a, b) = (a.into_sorted(), b.into_sorted());
                assert!(!a.is_empty());
                assert_eq!(
                    a.iter().map(|h| (h.rowid, h.distance)).collect::<Vec<_>>(),
                    b.iter().map(|h| (h.rowid, h.distance)).collect::<Vec<_>>(),
                    "{metric:?}"
                );
            }
        }
    }
}
