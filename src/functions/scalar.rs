//! The vector scalar functions. Each is a pure function of its arguments: decoding, checks and
//! arithmetic live here, SQLite only in the FFI trampoline that calls them.

use crate::error::{Error, Result};
use crate::ffi::api::sqlite_format_f;
use crate::ffi::func::ScalarFn;
use crate::value::{Arg, Output, SqlValue};
use crate::vector::distance::{self, Metric};
use crate::vector::{self, ElementType, SUBTYPE_JSON, Vector};
use half::f16;
use std::borrow::Cow;
use std::fmt::Write;

/// (name, number of arguments (-1: variable), implementation).
pub const FUNCTIONS: &[(&str, i32, ScalarFn)] = &[
    ("vec_f32", 1, vec_f32),
    ("vec_f16", 1, vec_f16),
    ("vec_int8", 1, vec_int8),
    ("vec_bit", 1, vec_bit),
    ("vec_length", 1, vec_length),
    ("vec_type", 1, vec_type),
    ("vec_to_json", 1, vec_to_json),
    ("vec_add", 2, vec_add),
    ("vec_sub", 2, vec_sub),
    ("vec_normalize", 1, vec_normalize),
    ("vec_slice", 3, vec_slice),
    ("vec_distance", 2, vec_distance),
    ("vec_distance", 3, vec_distance),
    ("vec_distance_l2", 2, vec_distance_l2),
    ("vec_distance_cosine", 2, vec_distance_cosine),
    ("vec_distance_ip", 2, vec_distance_ip),
    ("vec_distance_l1", 2, vec_distance_l1),
    ("vec_distance_hamming", 2, vec_distance_hamming),
    ("vec_distance_jaccard", 2, vec_distance_jaccard),
    ("vec_quantize_binary", 1, vec_quantize_binary),
    ("vec_quantize_int8", 2, vec_quantize_int8),
    ("vec_version", 0, vec_version),
    ("vec_debug", 0, vec_debug),
];

fn out_vector(v: &Vector<'_>) -> Output {
    Output::blob(v.to_blob(), Some(v.element_type().subtype()))
}

fn arg_vector<'a>(fname: &str, args: &[Arg<'a>], i: usize) -> Result<Vector<'a>> {
    vector::from_arg(&args[i]).map_err(|e| {
        let which = match (args.len(), i) {
            (1, _) => String::new(),
            (_, 0) => " (first vector)".into(),
            (_, 1) => " (second vector)".into(),
            _ => format!(" (argument {})", i + 1),
        };
        e.context(&format!("{fname}(){which}"))
    })
}

fn as_type(fname: &str, args: &[Arg<'_>], ty: ElementType) -> Result<Output> {
    let v = vector::from_arg_as(&args[0], ty).map_err(|e| e.context(&format!("{fname}()")))?;
    Ok(out_vector(&v))
}

pub fn vec_f32(args: &[Arg<'_>]) -> Result<Output> {
    as_type("vec_f32", args, ElementType::Float32)
}
pub fn vec_f16(args: &[Arg<'_>]) -> Result<Output> {
    as_type("vec_f16", args, ElementType::Float16).map_err(|e| match (&args[0].value, args[0].subtype, e) {
        // An untagged blob is read as float16; say how to convert float32 bytes instead.
        (SqlValue::Blob(b), 0, Error::Invalid(m)) if b.len() % 4 == 0 => Error::Invalid(format!(
            "{m} (an untagged blob is read as float16 values; to convert a float32 blob use vec_f16(vec_f32(x)))"
        )),
        (_, _, e) => e,
    })
}
pub fn vec_int8(args: &[Arg<'_>]) -> Result<Output> {
    as_type("vec_int8", args, ElementType::Int8)
}
pub fn vec_bit(args: &[Arg<'_>]) -> Result<Output> {
    as_type("vec_bit", args, ElementType::Bit)
}

pub fn vec_length(args: &[Arg<'_>]) -> Result<Output> {
    Ok(Output::int(arg_vector("vec_length", args, 0)?.dims() as i64))
}

pub fn vec_type(args: &[Arg<'_>]) -> Result<Output> {
    Ok(Output::text(arg_vector("vec_type", args, 0)?.element_type().name()))
}

pub fn to_json(v: &Vector<'_>) -> String {
    let mut s = String::with_capacity(v.dims() * 10 + 2);
    s.push('[');
    match v {
        // SQLite's own %f, as sqlite-vec formats floats.
        Vector::F32(x) => sqlite_format_f(x.iter().map(|f| *f as f64), ",", &mut s),
        Vector::F16(x) => sqlite_format_f(x.iter().map(|f| f.to_f64()), ",", &mut s),
        Vector::I8(x) => {
            for (i, n) in x.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{n}");
            }
        }
        Vector::Bit(bytes) => {
            for i in 0..bytes.len() * 8 {
                if i > 0 {
                    s.push(',');
                }
                s.push(if (bytes[i / 8] >> (i % 8)) & 1 == 1 { '1' } else { '0' });
            }
        }
    }
    s.push(']');
    s
}

pub fn vec_to_json(args: &[Arg<'_>]) -> Result<Output> {
    let v = arg_vector("vec_to_json", args, 0)?;
    let mut o = Output::text(to_json(&v));
    o.subtype = Some(SUBTYPE_JSON);
    Ok(o)
}

fn same_shape(fname: &str, a: &Vector<'_>, b: &Vector<'_>) -> Result<()> {
    if a.element_type() != b.element_type() {
        return Err(Error::invalid(format!(
            "{fname}(): vector type mismatch: the first vector is {}, the second is {}",
            a.element_type().name(),
            b.element_type().name()
        )));
    }
    if a.dims() != b.dims() {
        return Err(Error::invalid(format!(
            "{fname}(): vector dimension mismatch: the first vector has {} dimensions, the second has {}",
            a.dims(),
            b.dims()
        )));
    }
    Ok(())
}

fn elementwise(fname: &str, args: &[Arg<'_>], sub: bool) -> Result<Output> {
    let a = arg_vector(fname, args, 0)?;
    let b = arg_vector(fname, args, 1)?;
    same_shape(fname, &a, &b)?;
    let out = match (&a, &b) {
        (Vector::F32(x), Vector::F32(y)) => {
            let v: Vec<f32> = x.iter().zip(y.iter()).map(|(p, q)| if sub { p - q } else { p + q }).collect();
            if v.iter().any(|f| !f.is_finite()) {
                return Err(Error::invalid(format!("{fname}(): the result overflows float32")));
            }
            Vector::F32(Cow::Owned(v))
        }
        (Vector::F16(x), Vector::F16(y)) => {
            let v: Vec<f16> = x
                .iter()
                .zip(y.iter())
                .map(|(p, q)| f16::from_f32(if sub { p.to_f32() - q.to_f32() } else { p.to_f32() + q.to_f32() }))
                .collect();
            if v.iter().any(|f| !f.is_finite()) {
                return Err(Error::invalid(format!("{fname}(): the result overflows float16")));
            }
            Vector::F16(Cow::Owned(v))
        }
        // int8 arithmetic wraps around, as in sqlite-vec (100 + 100 = -56).
        (Vector::I8(x), Vector::I8(y)) => Vector::I8(Cow::Owned(
            x.iter().zip(y.iter()).map(|(p, q)| if sub { p.wrapping_sub(*q) } else { p.wrapping_add(*q) }).collect(),
        )),
        _ => return Err(Error::invalid(format!("{fname}(): bit vectors cannot be added or subtracted"))),
    };
    Ok(out_vector(&out))
}

pub fn vec_add(args: &[Arg<'_>]) -> Result<Output> {
    elementwise("vec_add", args, false)
}
pub fn vec_sub(args: &[Arg<'_>]) -> Result<Output> {
    elementwise("vec_sub", args, true)
}

pub fn vec_normalize(args: &[Arg<'_>]) -> Result<Output> {
    let v = arg_vector("vec_normalize", args, 0)?;
    let f = v.to_f32_vec();
    let norm = f.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(Error::invalid("vec_normalize(): a zero vector has no direction and cannot be normalized"));
    }
    let out = match v {
        Vector::F32(x) => Vector::F32(Cow::Owned(x.iter().map(|e| (*e as f64 / norm) as f32).collect())),
        Vector::F16(x) => Vector::F16(Cow::Owned(x.iter().map(|e| f16::from_f64(e.to_f64() / norm)).collect())),
        other => {
            return Err(Error::invalid(format!(
                "vec_normalize(): only float32 and float16 vectors can be normalized, not {}",
                other.element_type().name()
            )));
        }
    };
    Ok(out_vector(&out))
}

fn int_arg(fname: &str, what: &str, a: &Arg<'_>) -> Result<i64> {
    match a.value {
        SqlValue::Integer(i) => Ok(i),
        SqlValue::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        SqlValue::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| Error::invalid(format!("{fname}(): {what} must be an integer"))),
        ref other => Err(Error::invalid(format!("{fname}(): {what} must be an integer, not {}", other.type_name()))),
    }
}

pub fn vec_slice(args: &[Arg<'_>]) -> Result<Output> {
    let v = arg_vector("vec_slice", args, 0)?;
    let start = int_arg("vec_slice", "start", &args[1])?;
    let end = int_arg("vec_slice", "end", &args[2])?;
    let dims = v.dims() as i64;
    if start < 0 {
        return Err(Error::invalid(format!("vec_slice(): start ({start}) must not be negative")));
    }
    if end > dims {
        return Err(Error::invalid(format!(
            "vec_slice(): end ({end}) is greater than the number of dimensions ({dims})"
        )));
    }
    if start >= end {
        return Err(Error::invalid(format!(
            "vec_slice(): start ({start}) must be less than end ({end}); vectors must have at least one element"
        )));
    }
    let (s, e) = (start as usize, end as usize);
    let out = match &v {
        Vector::F32(x) => Vector::F32(Cow::Owned(x[s..e].to_vec())),
        Vector::F16(x) => Vector::F16(Cow::Owned(x[s..e].to_vec())),
        Vector::I8(x) => Vector::I8(Cow::Owned(x[s..e].to_vec())),
        Vector::Bit(x) => {
            if s % 8 != 0 || e % 8 != 0 {
                return Err(Error::invalid(format!(
                    "vec_slice(): start ({s}) and end ({e}) of a bit vector must be multiples of 8"
                )));
            }
            Vector::Bit(Cow::Owned(x[s / 8..e / 8].to_vec()))
        }
    };
    Ok(out_vector(&out))
}

/// The common case of a distance between two float32 blobs, without allocating and without
/// the per-element finiteness checks: a non-finite input makes the result non-finite, and
/// then the checked path below reports it. None: not this case.
///
/// The blobs are read in place whatever their alignment, by the kernels over little-endian
/// float32 bytes: no copy, and the same result as the float32 kernels for the same values.
/// (Table columns arrive 8-byte aligned: SQLite's OP_Column copies a blob out of its page into
/// the register's own buffer. A blob bound with SQLITE_STATIC, or returned by another function
/// or virtual table without a copy, may have any address.)
fn fast_f32_distance(args: &[Arg<'_>], metric: Metric) -> Option<f64> {
    let f32_tag = |st: u32| st == 0 || st == crate::vector::SUBTYPE_F32;
    match (args[0].value, args[1].value) {
        (SqlValue::Blob(a), SqlValue::Blob(b))
            if f32_tag(args[0].subtype)
                && f32_tag(args[1].subtype)
                && a.len() == b.len()
                && !a.is_empty()
                && a.len() / 4 <= crate::vector::MAX_DIMS
                && metric.supports(ElementType::Float32) =>
        {
            let (x, y) = (distance::f32_le(a)?, distance::f32_le(b)?);
            distance::f32u_distance(crate::simd::kernels(), metric, x, y).filter(|d| d.is_finite())
        }
        _ => None,
    }
}

/// Compute `metric` between args 0 and 1; results typed as sqlite-vec types them.
fn distance_fn(fname: &str, args: &[Arg<'_>], metric: Metric) -> Result<Output> {
    if let Some(d) = fast_f32_distance(args, metric) {
        return Ok(Output::real(d));
    }
    let a = arg_vector(fname, args, 0)?;
    let b = arg_vector(fname, args, 1)?;
    let d = distance::distance_with(crate::simd::kernels(), metric, &a, &b)
        .map_err(|e| e.context(&format!("{fname}()")))?;
    Ok(match d {
        // Cosine with a zero vector is undefined: NULL (sqlite-vec returns NaN, which SQLite stores as NULL).
        None => Output::null(),
        Some(x) if metric == Metric::L1 && a.element_type() == ElementType::Int8 => Output::int(x as i64),
        Some(x) => Output::real(x),
    })
}

pub fn vec_distance(args: &[Arg<'_>]) -> Result<Output> {
    let metric = match args.get(2) {
        None => Metric::L2,
        Some(a) => match a.value {
            SqlValue::Text(t) => {
                let name = String::from_utf8_lossy(t);
                Metric::parse(&name).ok_or_else(|| {
                    Error::invalid(format!(
                        "vec_distance(): unknown metric '{name}'; use one of l2, cosine, ip, l1, hamming, jaccard"
                    ))
                })?
            }
            ref other => {
                return Err(Error::invalid(format!(
                    "vec_distance(): the metric must be TEXT such as 'cosine', not {}",
                    other.type_name()
                )));
            }
        },
    };
    distance_fn("vec_distance", args, metric)
}
pub fn vec_distance_l2(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_l2", args, Metric::L2)
}
pub fn vec_distance_cosine(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_cosine", args, Metric::Cosine)
}
pub fn vec_distance_ip(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_ip", args, Metric::Ip)
}
pub fn vec_distance_l1(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_l1", args, Metric::L1)
}
pub fn vec_distance_hamming(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_hamming", args, Metric::Hamming)
}
pub fn vec_distance_jaccard(args: &[Arg<'_>]) -> Result<Output> {
    distance_fn("vec_distance_jaccard", args, Metric::Jaccard)
}

pub fn vec_quantize_binary(args: &[Arg<'_>]) -> Result<Output> {
    let v = arg_vector("vec_quantize_binary", args, 0)?;
    if v.element_type() == ElementType::Bit {
        return Err(Error::invalid("vec_quantize_binary(): the vector is already a bit vector"));
    }
    if v.dims() % 8 != 0 {
        return Err(Error::invalid(format!(
            "vec_quantize_binary(): the vector has {} dimensions; binary quantization needs a multiple of 8",
            v.dims()
        )));
    }
    let f = v.to_f32_vec();
    let mut bytes = vec![0u8; f.len() / 8];
    for (i, x) in f.iter().enumerate() {
        if *x > 0.0 {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(out_vector(&Vector::Bit(Cow::Owned(bytes))))
}

pub fn vec_quantize_int8(args: &[Arg<'_>]) -> Result<Output> {
    let v = arg_vector("vec_quantize_int8", args, 0)?;
    let range = match args[1].value {
        SqlValue::Text(t) => String::from_utf8_lossy(t).to_ascii_lowercase(),
        ref other => {
            return Err(Error::invalid(format!(
                "vec_quantize_int8(): the second argument must be 'unit', not {}",
                other.type_name()
            )));
        }
    };
    if range != "unit" {
        return Err(Error::invalid(format!(
            "vec_quantize_int8(): unknown range '{range}'; the only supported range is 'unit' ([-1, 1])"
        )));
    }
    let f = match &v {
        Vector::F32(_) | Vector::F16(_) => v.to_f32_vec(),
        other => {
            return Err(Error::invalid(format!(
                "vec_quantize_int8(): only float vectors can be quantized, not {}",
                other.element_type().name()
            )));
        }
    };
    // Same arithmetic as sqlite-vec: a float32 step of 2/255, the division in double,
    // truncated, clamped to [-128, 127].
    let step = ((1.0f32 - (-1.0f32)) / 255.0f32) as f64;
    let out: Vec<i8> =
        f.iter().map(|&x| (((x as f64 + 1.0) / step) - 128.0).trunc().clamp(-128.0, 127.0) as i8).collect();
    Ok(out_vector(&Vector::I8(Cow::Owned(out))))
}

pub fn vec_version(_args: &[Arg<'_>]) -> Result<Output> {
    Ok(Output::text(crate::version::VERSION))
}

pub fn vec_debug(_args: &[Arg<'_>]) -> Result<Output> {
    let k = crate::simd::kernels();
    let avail: Vec<&str> = crate::simd::available().iter().map(|k| k.name).collect();
    Ok(Output::text(format!(
        "Version: {}\nDate: {}\nCommit: {}\nBuild flags: kernels={} (this CPU supports: {})",
        crate::version::VERSION,
        option_env!("VINDEX_BUILD_DATE").unwrap_or("unknown"),
        option_env!("VINDEX_GIT_COMMIT").unwrap_or("unknown"),
        k.name,
        avail.join(" ")
    )))
}

/// `vindex_cache_limit([bytes])`: the process-wide budget for in-memory copies of vectors
/// (0 disables the cache); returns the limit in effect after the call.
pub fn vindex_cache_limit(args: &[Arg<'_>]) -> Result<Output> {
    if let Some(a) = args.first() {
        let n = int_arg("vindex_cache_limit", "the limit in bytes", a)?;
        if n < 0 {
            return Err(Error::invalid("vindex_cache_limit(): the limit must be 0 or more bytes"));
        }
        crate::store::cache::set_cache_limit(n as usize);
    }
    Ok(Output::int(crate::store::cache::cache_limit() as i64))
}

/// `vindex_build_threads([n])`: threads a graph build uses in this process (0: every core,
/// or `VINDEX_BUILD_THREADS`); returns the number the next build uses. Any number builds the
/// same graph.
pub fn vindex_build_threads(args: &[Arg<'_>]) -> Result<Output> {
    if let Some(a) = args.first() {
        let n = int_arg("vindex_build_threads", "the number of threads", a)?;
        if !(0..=64).contains(&n) {
            return Err(Error::invalid("vindex_build_threads(): the number of threads must be from 0 to 64"));
        }
        crate::index::hnsw::build::set_threads(n as usize);
    }
    Ok(Output::int(crate::index::hnsw::build::threads() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Arg<'_> {
        Arg::new(SqlValue::Text(s.as_bytes()))
    }

    fn blob_of(o: &Output) -> Vec<u8> {
        match &o.value {
            crate::value::OwnedValue::Blob(b) => b.clone(),
            v => panic!("not a blob: {v:?}"),
        }
    }

    #[test]
    fn f32_round_trip_and_json() {
        let o = vec_f32(&[text("[1, 2.5]")]).unwrap();
        assert_eq!(o.subtype, Some(223));
        let b = blob_of(&o);
        assert_eq!(b, [1.0f32.to_le_bytes(), 2.5f32.to_le_bytes()].concat());
        let j = vec_to_json(&[Arg::with_subtype(SqlValue::Blob(&b), 223)]).unwrap();
        assert_eq!(j.value, crate::value::OwnedValue::Text("[1.000000,2.500000]".into()));
    }

    #[test]
    fn quantize_int8_matches_sqlite_vec_example() {
        let o = vec_quantize_int8(&[text("[0.1,-0.5,1,-1,0]"), text("unit")]).unwrap();
        let b: Vec<i8> = blob_of(&o).iter().map(|&x| x as i8).collect();
        assert_eq!(b, vec![12, -64, 126, -128, 0]);
    }

    #[test]
    fn distances() {
        let l2 = vec_distance_l2(&[text("[1,2]"), text("[3,4]")]).unwrap();
        assert_eq!(l2.value, crate::value::OwnedValue::Real(8f64.sqrt()));
        let cos = vec_distance_cosine(&[text("[0,0]"), text("[3,4]")]).unwrap();
        assert_eq!(cos.value, crate::value::OwnedValue::Null);
        let e = vec_distance_l2(&[text("[1,2]"), text("[3,4,5]")]).unwrap_err().to_string();
        assert!(e.contains("dimension mismatch"), "{e}");
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let e = vec_f32(&[Arg::new(SqlValue::Null)]).unwrap_err().to_string();
        assert!(e.contains("not NULL"), "{e}");
        let e = vec_f32(&[text("[1,2")]).unwrap_err().to_string();
        assert!(e.contains("invalid JSON"), "{e}");
        let e = vec_f32(&[Arg::new(SqlValue::Blob(&[0, 0, 0]))]).unwrap_err().to_string();
        assert!(e.contains("divisible by 4"), "{e}");
        let nan = f32::NAN.to_le_bytes();
        let e = vec_f32(&[Arg::new(SqlValue::Blob(&nan))]).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }
}
