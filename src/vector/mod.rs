//! Vector values: element types, decoding from SQL values (JSON text and little-endian blobs),
//! encoding, and distance kernels.

pub mod distance;
pub mod json;
pub mod sq8;

use crate::error::{Error, Result};
use crate::value::{Arg, SqlValue};
use half::f16;
use std::borrow::Cow;

#[cfg(target_endian = "big")]
compile_error!("vindex stores little-endian blobs and currently builds only on little-endian targets");

/// Subtypes carried by vector values, the same numbers sqlite-vec uses (float16 is ours).
pub const SUBTYPE_F32: u32 = 223;
pub const SUBTYPE_BIT: u32 = 224;
pub const SUBTYPE_INT8: u32 = 225;
pub const SUBTYPE_F16: u32 = 226;
/// The subtype SQLite's JSON functions put on their text results ('J').
pub const SUBTYPE_JSON: u32 = 74;

/// Largest number of dimensions a vector may have (bit vectors: bits).
pub const MAX_DIMS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    Float32,
    Float16,
    Int8,
    Bit,
}

impl ElementType {
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Float32 => "float32",
            ElementType::Float16 => "float16",
            ElementType::Int8 => "int8",
            ElementType::Bit => "bit",
        }
    }
    pub fn subtype(self) -> u32 {
        match self {
            ElementType::Float32 => SUBTYPE_F32,
            ElementType::Float16 => SUBTYPE_F16,
            ElementType::Int8 => SUBTYPE_INT8,
            ElementType::Bit => SUBTYPE_BIT,
        }
    }
    /// Bytes needed by `dims` elements (bit: dims must be a multiple of 8).
    pub fn bytes_for(self, dims: usize) -> usize {
        match self {
            ElementType::Float32 => dims * 4,
            ElementType::Float16 => dims * 2,
            ElementType::Int8 => dims,
            ElementType::Bit => dims.div_ceil(8),
        }
    }
    /// Dimensions held by a blob of `bytes` bytes, if the length fits the type.
    pub fn dims_for(self, bytes: usize) -> Option<usize> {
        match self {
            ElementType::Float32 => bytes.is_multiple_of(4).then_some(bytes / 4),
            ElementType::Float16 => bytes.is_multiple_of(2).then_some(bytes / 2),
            ElementType::Int8 => Some(bytes),
            ElementType::Bit => Some(bytes * 8),
        }
    }
    pub fn from_subtype(st: u32) -> Option<ElementType> {
        match st {
            SUBTYPE_F32 => Some(ElementType::Float32),
            SUBTYPE_F16 => Some(ElementType::Float16),
            SUBTYPE_INT8 => Some(ElementType::Int8),
            SUBTYPE_BIT => Some(ElementType::Bit),
            _ => None,
        }
    }
}

/// A decoded vector, borrowing the SQL value's bytes when their alignment allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector<'a> {
    F32(Cow<'a, [f32]>),
    F16(Cow<'a, [f16]>),
    I8(Cow<'a, [i8]>),
    /// Packed bits, element i is bit (i % 8) of byte i / 8.
    Bit(Cow<'a, [u8]>),
}

impl<'a> Vector<'a> {
    pub fn element_type(&self) -> ElementType {
        match self {
            Vector::F32(_) => ElementType::Float32,
            Vector::F16(_) => ElementType::Float16,
            Vector::I8(_) => ElementType::Int8,
            Vector::Bit(_) => ElementType::Bit,
        }
    }
    pub fn dims(&self) -> usize {
        match self {
            Vector::F32(v) => v.len(),
            Vector::F16(v) => v.len(),
            Vector::I8(v) => v.len(),
            Vector::Bit(v) => v.len() * 8,
        }
    }
    /// Little-endian bytes of the elements (borrowed, no copy).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Vector::F32(v) => bytemuck::cast_slice(v),
            Vector::F16(v) => bytemuck::cast_slice(v),
            Vector::I8(v) => bytemuck::cast_slice(v),
            Vector::Bit(v) => v,
        }
    }
    pub fn to_blob(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    pub fn into_owned(self) -> Vector<'static> {
        match self {
            Vector::F32(v) => Vector::F32(Cow::Owned(v.into_owned())),
            Vector::F16(v) => Vector::F16(Cow::Owned(v.into_owned())),
            Vector::I8(v) => Vector::I8(Cow::Owned(v.into_owned())),
            Vector::Bit(v) => Vector::Bit(Cow::Owned(v.into_owned())),
        }
    }
    /// Elements as f32 (bit: 0.0/1.0).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self {
            Vector::F32(v) => v.to_vec(),
            Vector::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            Vector::I8(v) => v.iter().map(|&x| x as f32).collect(),
            Vector::Bit(v) => (0..v.len() * 8).map(|i| ((v[i / 8] >> (i % 8)) & 1) as f32).collect(),
        }
    }
}

/// Reinterpret little-endian bytes as a slice of `T`, borrowing when aligned, copying otherwise
/// (SQLite does not promise aligned blob pointers).
pub fn cast_or_copy<T: bytemuck::Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
    match bytemuck::try_cast_slice::<u8, T>(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec::<u8, T>(bytes)),
    }
}

fn check_dims(dims: usize) -> Result<()> {
    if dims == 0 {
        return Err(Error::invalid("zero-length vectors are not supported"));
    }
    if dims > MAX_DIMS {
        return Err(Error::invalid(format!("vector has {dims} dimensions; the maximum is {MAX_DIMS}")));
    }
    Ok(())
}

/// The error for the first non-finite element (`is_nan` / `is_finite` of the element type).
fn non_finite_error(nan: bool, i: usize) -> Error {
    let what = if nan { "NaN" } else { "infinite" };
    Error::invalid(format!("element {i} of the vector is {what}; vectors must hold finite numbers"))
}

fn check_finite_f32(v: &[f32]) -> Result<()> {
    // Branch-free over the exponent bits so it vectorizes; find the culprit only on failure.
    let bits: &[u32] = bytemuck::cast_slice(v);
    if bits.iter().fold(0u32, |acc, b| acc | u32::from(b & 0x7f80_0000 == 0x7f80_0000)) == 0 {
        return Ok(());
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(non_finite_error(v[i].is_nan(), i)),
        None => Ok(()),
    }
}

fn check_finite_f16(v: &[f16]) -> Result<()> {
    let bits: &[u16] = bytemuck::cast_slice(v);
    if bits.iter().fold(0u16, |acc, b| acc | u16::from(b & 0x7c00 == 0x7c00)) == 0 {
        return Ok(());
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(non_finite_error(v[i].is_nan(), i)),
        None => Ok(()),
    }
}

/// Decode a blob holding elements of type `ty`.
pub fn from_blob(bytes: &[u8], ty: ElementType) -> Result<Vector<'_>> {
    if bytes.is_empty() {
        return Err(Error::invalid("zero-length vectors are not supported"));
    }
    let v = match ty {
        ElementType::Float32 => {
            if !bytes.len().is_multiple_of(4) {
                return Err(Error::invalid(format!(
                    "a float32 vector blob must have a length divisible by 4, this one has {} bytes",
                    bytes.len()
                )));
            }
            let v = cast_or_copy::<f32>(bytes);
            check_finite_f32(&v)?;
            Vector::F32(v)
        }
        ElementType::Float16 => {
            if !bytes.len().is_multiple_of(2) {
                return Err(Error::invalid(format!(
                    "a float16 vector blob must have a length divisible by 2, this one has {} bytes",
                    bytes.len()
                )));
            }
            let v = cast_or_copy::<f16>(bytes);
            check_finite_f16(&v)?;
            Vector::F16(v)
        }
        ElementType::Int8 => Vector::I8(Cow::Borrowed(bytemuck::cast_slice(bytes))),
        ElementType::Bit => Vector::Bit(Cow::Borrowed(bytes)),
    };
    check_dims(v.dims())?;
    Ok(v)
}

/// Parse JSON text into a vector of type `ty`.
pub fn from_json(text: &[u8], ty: ElementType) -> Result<Vector<'static>> {
    let v = match ty {
        ElementType::Float32 => {
            let mut out = Vec::new();
            json::parse_array(text, |i, x, tok| {
                let f = x as f32;
                if !f.is_finite() {
                    return Err(Error::invalid(format!("element {i} ({tok}) is out of range for float32")));
                }
                out.push(f);
                Ok(())
            })?;
            Vector::F32(Cow::Owned(out))
        }
        ElementType::Float16 => {
            let mut out = Vec::new();
            json::parse_array(text, |i, x, tok| {
                let h = f16::from_f64(x);
                if !h.is_finite() {
                    return Err(Error::invalid(format!("element {i} ({tok}) is out of range for float16")));
                }
                out.push(h);
                Ok(())
            })?;
            Vector::F16(Cow::Owned(out))
        }
        ElementType::Int8 => {
            let mut out = Vec::new();
            json::parse_array(text, |i, x, tok| {
                if x.fract() != 0.0 || !(-128.0..=127.0).contains(&x) {
                    return Err(Error::invalid(format!(
                        "element {i} ({tok}) is not an integer from -128 to 127, as int8 vectors need"
                    )));
                }
                out.push(x as i8);
                Ok(())
            })?;
            Vector::I8(Cow::Owned(out))
        }
        ElementType::Bit => {
            let mut bits = Vec::new();
            json::parse_array(text, |i, x, tok| {
                if x != 0.0 && x != 1.0 {
                    return Err(Error::invalid(format!("element {i} ({tok}) of a bit vector must be 0 or 1")));
                }
                bits.push(x == 1.0);
                Ok(())
            })?;
            if bits.len() % 8 != 0 {
                return Err(Error::invalid(format!(
                    "a bit vector needs a multiple of 8 elements, this one has {}",
                    bits.len()
                )));
            }
            let mut bytes = vec![0u8; bits.len() / 8];
            for (i, b) in bits.iter().enumerate() {
                if *b {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            Vector::Bit(Cow::Owned(bytes))
        }
    };
    check_dims(v.dims())?;
    Ok(v)
}

/// Decode a vector argument the way sqlite-vec does: the subtype picks the element type;
/// untagged blobs and JSON text are float32.
pub fn from_arg<'a>(arg: &Arg<'a>) -> Result<Vector<'a>> {
    let ty = match arg.subtype {
        0 | SUBTYPE_JSON => ElementType::Float32,
        st => ElementType::from_subtype(st).ok_or_else(|| Error::invalid(format!("unknown vector subtype {st}")))?,
    };
    match arg.value {
        SqlValue::Blob(b) => from_blob(b, ty),
        SqlValue::Text(t) if ty == ElementType::Float32 => from_json(t, ty),
        other => Err(type_error(&other)),
    }
}

/// Decode an argument as a vector of type `ty`, as `vec_f16()`/`vec_int8()` do: blobs are taken
/// as raw elements of `ty`, JSON text is parsed into `ty`, and a value tagged with another
/// float type is converted (float32 -> float16 and back).
pub fn from_arg_as<'a>(arg: &Arg<'a>, ty: ElementType) -> Result<Vector<'a>> {
    match (arg.value, ElementType::from_subtype(arg.subtype)) {
        (SqlValue::Blob(b), Some(src)) if src != ty => convert(from_blob(b, src)?, ty),
        (SqlValue::Blob(b), _) => from_blob(b, ty),
        (SqlValue::Text(t), _) => from_json(t, ty),
        (other, _) => Err(type_error(&other)),
    }
}

pub fn type_error(v: &SqlValue<'_>) -> Error {
    Error::invalid(format!("a vector must be a BLOB or JSON TEXT such as '[1, 2, 3]', not {}", v.type_name()))
}

/// Convert between float element types (the only lossless-enough conversions we do implicitly).
pub fn convert(v: Vector<'_>, to: ElementType) -> Result<Vector<'_>> {
    let from = v.element_type();
    if from == to {
        return Ok(v);
    }
    match (v, to) {
        (Vector::F32(x), ElementType::Float16) => {
            let mut out = Vec::with_capacity(x.len());
            for (i, &f) in x.iter().enumerate() {
                let h = f16::from_f32(f);
                if !h.is_finite() {
                    return Err(Error::invalid(format!("element {i} ({f}) is out of range for float16")));
                }
                out.push(h);
            }
            Ok(Vector::F16(Cow::Owned(out)))
        }
        (Vector::F16(x), ElementType::Float32) => Ok(Vector::F32(Cow::Owned(x.iter().map(|h| h.to_f32()).collect()))),
        _ => {
            Err(Error::invalid(format!("cannot use a {} vector where a {} vector is expected", from.name(), to.name())))
        }
    }
}

/// Decode a value meant for a column (or query) of type `ty` with `dims` dimensions.
/// Accepted: JSON text; a blob tagged with `ty`; an untagged blob whose length is that of
/// `dims` elements of `ty`; and float32 input (untagged blob of 4·dims bytes, or tagged)
/// for a float16 column, converted. Everything else is an error that says what was expected.
pub fn for_column<'a>(arg: &Arg<'a>, ty: ElementType, dims: usize) -> Result<Vector<'a>> {
    let v = match arg.value {
        SqlValue::Text(t) => match arg.subtype {
            0 | SUBTYPE_JSON => from_json(t, ty)?,
            st => return Err(Error::invalid(format!("unknown vector subtype {st} on a TEXT value"))),
        },
        SqlValue::Blob(b) => match ElementType::from_subtype(arg.subtype) {
            Some(src) => convert(from_blob(b, src)?, ty)?,
            None if arg.subtype != 0 => return Err(Error::invalid(format!("unknown vector subtype {}", arg.subtype))),
            None => {
                if b.len() == ty.bytes_for(dims) {
                    from_blob(b, ty)?
                } else if ty == ElementType::Float16 && b.len() == 4 * dims {
                    convert(from_blob(b, ElementType::Float32)?, ty)?
                } else {
                    return Err(Error::invalid(format!(
                        "expected a {} vector of {dims} dimensions ({} bytes as a blob), got a blob of {} bytes",
                        ty.name(),
                        ty.bytes_for(dims),
                        b.len()
                    )));
                }
            }
        },
        other => return Err(type_error(&other)),
    };
    if v.element_type() != ty {
        return Err(Error::invalid(format!(
            "expected a {} vector, got a {} vector",
            ty.name(),
            v.element_type().name()
        )));
    }
    if v.dims() != dims {
        return Err(Error::invalid(format!("expected {dims} dimensions, got {}", v.dims())));
    }
    Ok(v)
}
