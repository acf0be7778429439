//! A strict, locale-free parser for vectors written as JSON arrays of numbers.
//!
//! Grammar: optional whitespace, `[`, zero or more numbers separated by `,`, `]`, optional
//! whitespace, end. Numbers follow JSON exactly (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`);
//! anything else (`'[1,2'`, `'[1,,2]'`, `'[1,2] x'`, `[[1]]`, `["1"]`, `NaN`, `.5`, `+1`) is an
//! error that says where and what. Numbers are converted with Rust's correctly rounded parser
//! to f64 (the same value C's `strtod` gives, independent of the C locale).

use crate::error::{Error, Result};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn describe(text: &[u8], pos: usize) -> String {
    match text.get(pos) {
        None => "the end of the text".to_string(),
        Some(&b) if b.is_ascii_graphic() => format!("'{}'", b as char),
        Some(&b) => format!("byte 0x{b:02x}"),
    }
}

fn err(text: &[u8], pos: usize, expected: &str) -> Error {
    Error::invalid(format!("invalid JSON vector: expected {expected} at offset {pos}, found {}", describe(text, pos)))
}

/// Scan one JSON number starting at `pos`; returns its end.
fn scan_number(t: &[u8], mut p: usize) -> Option<usize> {
    if t.get(p) == Some(&b'-') {
        p += 1;
    }
    match t.get(p) {
        Some(b'0') => p += 1,
        Some(b'1'..=b'9') => {
            while matches!(t.get(p), Some(b'0'..=b'9')) {
                p += 1;
            }
        }
        _ => return None,
    }
    if t.get(p) == Some(&b'.') {
        p += 1;
        if !matches!(t.get(p), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(t.get(p), Some(b'0'..=b'9')) {
            p += 1;
        }
    }
    if matches!(t.get(p), Some(b'e' | b'E')) {
        p += 1;
        if matches!(t.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        if !matches!(t.get(p), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(t.get(p), Some(b'0'..=b'9')) {
            p += 1;
        }
    }
    Some(p)
}

/// Parse `text`, calling `each(index, value, token)` for every element. Returns the count.
pub fn parse_array(text: &[u8], mut each: impl FnMut(usize, f64, &str) -> Result<()>) -> Result<usize> {
    let mut p = 0;
    while p < text.len() && is_ws(text[p]) {
        p += 1;
    }
    if text.get(p) != Some(&b'[') {
        return Err(err(text, p, "'[' to start the array"));
    }
    p += 1;
    let skip_ws = |p: &mut usize| {
        while *p < text.len() && is_ws(text[*p]) {
            *p += 1;
        }
    };
    skip_ws(&mut p);
    let mut n = 0;
    if text.get(p) == Some(&b']') {
        p += 1;
    } else {
        loop {
            skip_ws(&mut p);
            let end = match scan_number(text, p) {
                Some(e) => e,
                None => {
                    let what = match text.get(p) {
                        Some(b'[') => "a number (nested arrays are not vectors)",
                        Some(b'"') => "a number (strings are not numbers)",
                        Some(b',') | Some(b']') => "a number (empty element)",
                        _ => "a number",
                    };
                    return Err(err(text, p, what));
                }
            };
            // The token is ASCII by construction.
            let tok = std::str::from_utf8(&text[p..end]).unwrap_or("?");
            let x: f64 = tok.parse().map_err(|_| err(text, p, "a number"))?;
            if !x.is_finite() {
                return Err(Error::invalid(format!("element {n} ({tok}) is out of range")));
            }
            each(n, x, tok)?;
            n += 1;
            p = end;
            skip_ws(&mut p);
            match text.get(p) {
                Some(b',') => p += 1,
                Some(b']') => {
                    p += 1;
                    break;
                }
                _ => return Err(err(text, p, "',' or ']'")),
            }
        }
    }
    skip_ws(&mut p);
    if p != text.len() {
        return Err(err(text, p, "nothing after the closing ']'"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<f64>> {
        let mut v = Vec::new();
        parse_array(s.as_bytes(), |_, x, _| {
            v.push(x);
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn accepts_valid_arrays() {
        assert_eq!(parse("[1,2.5,-3e-2]").unwrap(), vec![1.0, 2.5, -0.03]);
        assert_eq!(parse(" \n[ 1 , 2 ]\t").unwrap(), vec![1.0, 2.0]);
        assert_eq!(parse("[]").unwrap(), Vec::<f64>::new());
        assert_eq!(parse("[-0, 0.0, 1E+2]").unwrap(), vec![0.0, 0.0, 100.0]);
    }

    #[test]
    fn rejects_malformed_arrays() {
        for bad in [
            "[1,2",
            "[1,,2]",
            "[1,2] x",
            "[[1]]",
            "[\"1\"]",
            "[NaN]",
            "[Infinity]",
            "[.5]",
            "[+1]",
            "[1.]",
            "[01]",
            "[1e]",
            "1,2",
            "",
            "[",
            "[1 2]",
            "[1,]",
            "[,1]",
            "[1e999]",
            "[-]",
            "[0x10]",
            "[1,2]]",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn error_names_position() {
        let e = parse("[1,,2]").unwrap_err().to_string();
        assert!(e.contains("offset 3"), "{e}");
        assert!(e.contains("empty element"), "{e}");
        let e = parse("[1,2] junk").unwrap_err().to_string();
        assert!(e.contains("after the closing"), "{e}");
    }
}
