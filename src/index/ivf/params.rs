//! IVF parameters: the `index=ivf(lists=..., quantizer=..., nprobe=...)` text, defaults and
//! bounds, and the sizes derived from them (docs/FORMAT.md, "IVF").

use crate::error::{Error, Result};

/// The most lists a column may have.
pub const MAX_LISTS: usize = 65_536;
/// The largest `nprobe` a table or a query may ask for.
pub const MAX_NPROBE: usize = MAX_LISTS;

/// How list entries are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantizer {
    /// No code: every scanned entry is scored exactly.
    None,
    /// The int8 code of the vector (as `t_codes`), with a rigorous distance interval.
    Sq8,
    /// One bit per dimension: the signs of the vector's residual from its centroid.
    Binary,
    /// RaBitQ: the signs of the rotated residual, with an error bound.
    Rabitq,
}

impl Quantizer {
    pub fn name(self) -> &'static str {
        match self {
            Quantizer::None => "none",
            Quantizer::Sq8 => "sq8",
            Quantizer::Binary => "binary",
            Quantizer::Rabitq => "rabitq",
        }
    }
    fn parse(s: &str) -> Option<Quantizer> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" | "flat" => Quantizer::None,
            "sq8" | "int8" => Quantizer::Sq8,
            "binary" | "bit" => Quantizer::Binary,
            "rabitq" => Quantizer::Rabitq,
            _ => return None,
        })
    }
    /// Bytes of one entry's code for `dims` dimensions (`B_c`).
    pub fn code_bytes(self, dims: usize) -> usize {
        match self {
            Quantizer::None => 0,
            Quantizer::Sq8 => dims,
            Quantizer::Binary | Quantizer::Rabitq => 8 * dims.div_ceil(64),
        }
    }
    /// float32 factors per entry (`F`).
    pub fn factors(self) -> usize {
        match self {
            Quantizer::None => 0,
            Quantizer::Sq8 => 2,
            Quantizer::Binary | Quantizer::Rabitq => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// Lists to train; None: `⌈√n⌉` for n rows at training.
    pub lists: Option<usize>,
    pub quantizer: Quantizer,
    /// Lists a search scans; None: chosen from the number of lists ([`IvfParams::default_nprobe`]).
    pub nprobe: Option<usize>,
}

impl Default for IvfParams {
    fn default() -> Self {
        IvfParams { lists: None, quantizer: Quantizer::Rabitq, nprobe: None }
    }
}

impl IvfParams {
    /// Parse the parenthesised part of `ivf(lists=auto, quantizer=rabitq, nprobe=16)` (or
    /// nothing: the defaults).
    pub fn parse(params: Option<&str>) -> Result<IvfParams> {
        let mut p = IvfParams::default();
        let Some(text) = params else { return Ok(p) };
        let inner = text
            .trim()
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .ok_or_else(|| Error::invalid(format!("index=ivf: expected (name=value, ...), got {text}")))?;
        let mut seen = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("index=ivf: '{part}' should be name=value")))?;
            let key = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if seen.contains(&key) {
                return Err(Error::invalid(format!("index=ivf: {key} is given twice")));
            }
            match key.as_str() {
                "lists" | "nlist" => {
                    p.lists =
                        if v.eq_ignore_ascii_case("auto") { None } else { Some(number("lists", v, 1, MAX_LISTS)?) }
                }
                "nprobe" | "probes" => {
                    p.nprobe =
                        if v.eq_ignore_ascii_case("auto") { None } else { Some(number("nprobe", v, 1, MAX_NPROBE)?) }
                }
                "quantizer" => {
                    p.quantizer = Quantizer::parse(v).ok_or_else(|| {
                        Error::invalid(format!(
                            "index=ivf: unknown quantizer '{v}' (the quantizers are none, sq8, binary and rabitq)"
                        ))
                    })?
                }
                other => {
                    return Err(Error::invalid(format!(
                        "index=ivf: unknown parameter '{other}' (the parameters are lists, quantizer and nprobe)"
                    )));
                }
            }
            seen.push(key);
        }
        Ok(p)
    }

    /// The normalised text stored in `t_info.index`.
    pub fn describe(&self) -> String {
        format!(
            "ivf(lists={},quantizer={},nprobe={})",
            self.lists.map_or("auto".to_string(), |l| l.to_string()),
            self.quantizer.name(),
            self.nprobe.map_or("auto".to_string(), |l| l.to_string())
        )
    }

    pub fn json(&self) -> String {
        let num = |x: Option<usize>| x.map_or("\"auto\"".to_string(), |v| v.to_string());
        format!(
            "{{\"lists\":{},\"quantizer\":\"{}\",\"nprobe\":{}}}",
            num(self.lists),
            self.quantizer.name(),
            num(self.nprobe)
        )
    }

    /// Lists to train for `n` rows.
    pub fn lists_for(&self, n: usize) -> usize {
        let want = self.lists.unwrap_or_else(|| (n as f64).sqrt().ceil() as usize);
        want.clamp(1, MAX_LISTS).min(n.max(1))
    }

    /// Lists a search scans when neither the table nor the query says: 1.5 √lists (28 of
    /// 342 lists, 48 of 1,000), at least 8 (all of them when there are fewer).
    pub fn default_nprobe(lists: usize) -> usize {
        ((1.5 * (lists as f64).sqrt()).ceil() as usize).max(8).min(lists.max(1))
    }

    /// Lists a search of a column with `lists` lists scans, given the query's `nprobe`.
    pub fn nprobe_for(&self, lists: usize, query: Option<usize>) -> usize {
        query.or(self.nprobe).unwrap_or_else(|| Self::default_nprobe(lists)).clamp(1, lists.max(1))
    }
}

/// The most bytes a full list block may take: its record (these bytes and a 5-byte header)
/// then fills 4 overflow pages of a 4 KiB-page database nearly to the byte, keeping only
/// SQLite's minimum local part (489 bytes) on the leaf page. (More pages per block pack no
/// better, and an insert walks the block's overflow chain to its entry.)
pub const BLOCK_BYTES: usize = 16_852;

/// Entries per full list block for entries of `entry_bytes` bytes (`E`): the most that fit in
/// [`BLOCK_BYTES`] with the block's 8-byte header, clamped to 16 … 1024.
pub fn block_entries(entry_bytes: usize) -> usize {
    ((BLOCK_BYTES - 8) / entry_bytes.max(1)).clamp(16, 1024)
}

fn number(name: &str, v: &str, lo: usize, hi: usize) -> Result<usize> {
    let n: usize = v
        .parse()
        .map_err(|_| Error::invalid(format!("index=ivf: {name} must be a whole number or auto, not '{v}'")))?;
    if n < lo || n > hi {
        return Err(Error::invalid(format!("index=ivf: {name} must be from {lo} to {hi}, not {n}")));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_describe() {
        let p = IvfParams::parse(Some("(lists=auto, quantizer=sq8, nprobe=16)")).unwrap();
        assert_eq!(p, IvfParams { lists: None, quantizer: Quantizer::Sq8, nprobe: Some(16) });
        assert_eq!(p.describe(), "ivf(lists=auto,quantizer=sq8,nprobe=16)");
        assert_eq!(IvfParams::parse(Some(&p.describe()[3..])).unwrap(), p);
        assert_eq!(IvfParams::parse(None).unwrap(), IvfParams::default());
        for bad in
            ["(lists=0)", "(lists=x)", "(quantizer=pq)", "(nprobe=0)", "(foo=1)", "(lists=2, lists=3)", "lists=2"]
        {
            assert!(IvfParams::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(IvfParams::default().lists_for(116_648), 342);
        assert_eq!(IvfParams::default().lists_for(3), 2);
        assert_eq!(IvfParams { lists: Some(100), ..Default::default() }.lists_for(10), 10);
        assert_eq!(block_entries(4 + 48 + 16), 247);
        assert_eq!(block_entries(4 + 384 + 8), 42);
        assert_eq!(block_entries(4 + 128 + 8), 120);
        assert_eq!(block_entries(4 + 16 + 16), 467);
        assert_eq!(block_entries(4), 1024);
        assert_eq!(block_entries(40_000), 16);
        assert_eq!(IvfParams::default_nprobe(342), 28);
        assert_eq!(IvfParams::default_nprobe(1000), 48);
        assert_eq!(IvfParams::default_nprobe(4), 4);
    }
}
