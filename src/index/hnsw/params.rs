//! HNSW parameters: defaults, bounds checked at CREATE, the `index=hnsw(...)` text, and the
//! level of a node, drawn from a hash of its rowid and the table's seed.

use crate::error::{Error, Result};

/// Neighbours per node on layers above 0 (layer 0 keeps twice as many).
pub const DEFAULT_M: usize = 16;
pub const MIN_M: usize = 4;
pub const MAX_M: usize = 64;
/// Candidates considered while linking a new node.
pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
pub const MAX_EF_CONSTRUCTION: usize = 4000;
/// Candidates a search keeps (raised to k when k is larger); per query `AND ef_search = N`.
pub const DEFAULT_EF_SEARCH: usize = 40;
pub const MAX_EF_SEARCH: usize = 100_000;
/// Layers above this are never drawn.
pub const MAX_LEVEL: u8 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: DEFAULT_M, ef_construction: DEFAULT_EF_CONSTRUCTION, ef_search: DEFAULT_EF_SEARCH }
    }
}

impl HnswParams {
    /// Neighbours kept on `level`.
    #[inline]
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 { 2 * self.m } else { self.m }
    }

    /// Parse the parenthesised part of `hnsw(m=16, ef_construction=200, ef_search=40)` (or
    /// nothing: the defaults).
    pub fn parse(params: Option<&str>) -> Result<HnswParams> {
        let mut p = HnswParams::default();
        let Some(text) = params else { return Ok(p) };
        let inner = text
            .trim()
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .ok_or_else(|| Error::invalid(format!("index=hnsw: expected (name=value, ...), got {text}")))?;
        let mut seen = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("index=hnsw: '{part}' should be name=value")))?;
            let key = k.trim().to_ascii_lowercase();
            if seen.contains(&key) {
                return Err(Error::invalid(format!("index=hnsw: {key} is given twice")));
            }
            let v: usize = v
                .trim()
                .parse()
                .map_err(|_| Error::invalid(format!("index=hnsw: {key} must be a whole number, not '{}'", v.trim())))?;
            match key.as_str() {
                "m" => p.m = bounded("m", v, MIN_M, MAX_M)?,
                "ef_construction" | "efc" => p.ef_construction = bounded("ef_construction", v, 1, MAX_EF_CONSTRUCTION)?,
                "ef_search" | "ef" => p.ef_search = bounded("ef_search", v, 1, MAX_EF_SEARCH)?,
                other => {
                    return Err(Error::invalid(format!(
                        "index=hnsw: unknown parameter '{other}' (the parameters are m, ef_construction and ef_search)"
                    )));
                }
            }
            seen.push(key);
        }
        if p.ef_construction < p.m {
            return Err(Error::invalid(format!(
                "index=hnsw: ef_construction ({}) must be at least m ({})",
                p.ef_construction, p.m
            )));
        }
        Ok(p)
    }

    /// The normalised text stored in `t_info.index`.
    pub fn describe(&self) -> String {
        format!("hnsw(m={},ef_construction={},ef_search={})", self.m, self.ef_construction, self.ef_search)
    }

    pub fn json(&self) -> String {
        format!("{{\"m\":{},\"ef_construction\":{},\"ef_search\":{}}}", self.m, self.ef_construction, self.ef_search)
    }
}

fn bounded(name: &str, v: usize, lo: usize, hi: usize) -> Result<usize> {
    if v < lo || v > hi {
        return Err(Error::invalid(format!("index=hnsw: {name} must be from {lo} to {hi}, not {v}")));
    }
    Ok(v)
}

/// SplitMix64: a fixed, well-mixed 64-bit hash.
#[inline]
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The top layer of the node holding `rowid`: `⌊−ln(u) / ln(m)⌋` for `u` in (0, 1] drawn from
/// the hash of the rowid and the seed, capped at [`MAX_LEVEL`]. Only integer and IEEE
/// arithmetic: the same on every CPU.
pub fn level_of(rowid: i64, seed: i64, m: usize) -> u8 {
    let h = splitmix64((rowid as u64) ^ splitmix64(seed as u64));
    // 53 random bits in (0, 1].
    let u = ((h >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let level = (-u.ln() / (m as f64).ln()).floor();
    if level >= MAX_LEVEL as f64 { MAX_LEVEL } else { level as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bounds_and_describes() {
        assert_eq!(HnswParams::parse(None).unwrap(), HnswParams::default());
        let p = HnswParams::parse(Some("(m=32, ef_construction=100, ef_search=80)")).unwrap();
        assert_eq!((p.m, p.ef_construction, p.ef_search), (32, 100, 80));
        assert_eq!(HnswParams::parse(Some(&p.describe()["hnsw".len()..])).unwrap(), p);
        for (bad, needle) in [
            ("(m=2)", "from 4 to 64"),
            ("(m=16, m=8)", "twice"),
            ("(m=x)", "whole number"),
            ("(foo=1)", "unknown parameter"),
            ("(m=32, ef_construction=8)", "at least m"),
            ("m=3", "expected"),
        ] {
            let e = HnswParams::parse(Some(bad)).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn levels_are_deterministic_and_geometric() {
        let levels: Vec<u8> = (0..100_000).map(|r| level_of(r, 0, 16)).collect();
        assert_eq!(levels, (0..100_000).map(|r| level_of(r, 0, 16)).collect::<Vec<_>>());
        let above0 = levels.iter().filter(|l| **l > 0).count() as f64 / 1e5;
        assert!((above0 - 1.0 / 16.0).abs() < 0.01, "{above0}");
        assert!(levels.iter().any(|l| *l >= 3));
        // Another seed draws other levels.
        assert_ne!(levels, (0..100_000).map(|r| level_of(r, 7, 16)).collect::<Vec<_>>());
    }
}
