"""Vectors in and out of SQLite: blobs from lists and numpy arrays, arrays from blobs.

The blob layouts are vindex's (and sqlite-vec's): little-endian float32 (4 bytes an element),
float16 (2), int8 (1), bit (1 bit an element, element i in bit i % 8 of byte i / 8).
numpy is imported only by the functions that take or return arrays.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

# A list/tuple/iterable of numbers, or a 1-D numpy array.
VectorLike = Iterable[float]

DTYPES = ("float32", "float16", "int8", "bit")
_NUMPY_DTYPES = {"float32": "<f4", "float16": "<f2", "int8": "i1"}
_STRUCT_CODES = {"float32": "f", "float16": "e", "int8": "b"}


def _numpy():
    try:
        import numpy
    except ImportError:
        raise ImportError("this function needs numpy: pip install numpy (or sqlite-vindex[numpy])") from None
    return numpy


def _is_array(x: Any) -> bool:
    return hasattr(x, "__array_interface__") and hasattr(x, "dtype") and hasattr(x, "ndim")


def _check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"unknown vector type {dtype!r}; use one of {', '.join(DTYPES)}")
    return dtype


def infer_dtype(array) -> str:
    """The vindex element type for a numpy array: float32 for float32 and float64 (converted),
    float16, int8, bit for bool arrays. Other types need an explicit dtype."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "f" and size in (4, 8):
        return "float32"
    if kind == "f" and size == 2:
        return "float16"
    if kind == "i" and size == 1:
        return "int8"
    if kind == "b":
        return "bit"
    raise ValueError(
        f"cannot tell the vector type of a {array.dtype} array: pass dtype='float32', "
        "'float16', 'int8' or 'bit'"
    )


def _array_rows_bytes(array, dtype: str):
    """A C-contiguous array whose rows (last axis) are the blobs of vectors of `dtype`."""
    np = _numpy()
    if dtype == "bit":
        a = np.asarray(array)
        if a.shape[-1] % 8:
            raise ValueError(f"a bit vector needs a multiple of 8 elements, got {a.shape[-1]}")
        return np.packbits(a.astype(bool, copy=False), axis=-1, bitorder="little")
    if dtype == "int8":
        a = np.asarray(array)
        if a.dtype.kind != "i" or a.dtype.itemsize != 1:
            if a.size and (a.min() < -128 or a.max() > 127):
                raise ValueError("int8 values must be from -128 to 127")
    return np.ascontiguousarray(array, dtype=_NUMPY_DTYPES[dtype])


def to_blob(vector, dtype: str | None = None) -> bytes:
    """The blob of one vector: a 1-D numpy array (converted in one step, never element by
    element) or a list of numbers.

    `dtype` is 'float32' (default for lists and float64 arrays), 'float16', 'int8' or 'bit'
    (for bit, give 0/1 or booleans, a multiple of 8 of them). A blob's type is told by the
    column it goes into; as a KNN query or a function argument, wrap int8 and bit blobs in
    vec_int8(?) / vec_bit(?) and float16 blobs in vec_f16(?).
    """
    if _is_array(vector):
        if vector.ndim != 1:
            raise ValueError(f"expected a 1-dimensional array, got {vector.ndim} dimensions")
        dtype = _check_dtype(dtype) if dtype else infer_dtype(vector)
        return _array_rows_bytes(vector, dtype).tobytes()
    dtype = _check_dtype(dtype or "float32")
    values = list(vector)
    if dtype == "bit":
        if len(values) % 8:
            raise ValueError(f"a bit vector needs a multiple of 8 elements, got {len(values)}")
        out = bytearray(len(values) // 8)
        for i, v in enumerate(values):
            if v:
                out[i // 8] |= 1 << (i % 8)
        return bytes(out)
    return struct.pack(f"<{len(values)}{_STRUCT_CODES[dtype]}", *values)


def to_blobs(matrix, dtype: str | None = None):
    """Blobs of the rows of a 2-D array, as a 2-D uint8-compatible array whose rows are the
    blobs (each row supports the buffer protocol and binds as a BLOB without a copy)."""
    np = _numpy()
    a = matrix if _is_array(matrix) else np.asarray(matrix)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-dimensional array (one vector a row), got {a.ndim} dimensions")
    dtype = _check_dtype(dtype) if dtype else infer_dtype(a)
    return _array_rows_bytes(a, dtype)


def from_blob(blob, dtype: str = "float32"):
    """A 1-D numpy array over the blob's bytes (no copy; read-only). For 'bit', a bool array of
    8 × len(blob) elements (element i = bit i % 8 of byte i / 8)."""
    np = _numpy()
    _check_dtype(dtype)
    if blob is None:
        raise ValueError("expected a vector blob, got None (NULL)")
    if isinstance(blob, str):
        raise TypeError("expected a blob, got text: select vec_f32(column) (or the column's own type) to get a blob")
    if dtype == "bit":
        return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), bitorder="little").astype(bool)
    itemsize = np.dtype(_NUMPY_DTYPES[dtype]).itemsize
    if len(blob) % itemsize:
        raise ValueError(f"a {dtype} blob has a multiple of {itemsize} bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype=_NUMPY_DTYPES[dtype])


def from_blobs(blobs, dtype: str = "float32", column: int = 0):
    """One 2-D numpy array (a row per vector) from many blobs: a list of blobs, or the rows of a
    cursor (`column` picks the blob from each row), e.g.

        matrix = from_blobs(conn.execute("SELECT embedding FROM docs ORDER BY rowid"))

    The blobs are joined in one copy and viewed as a (writable) array: no per-element work. Every
    blob must have the same length. An empty input gives an array of shape (0, 0).
    """
    np = _numpy()
    _check_dtype(dtype)
    items = [b if b is None or isinstance(b, (bytes, bytearray, memoryview)) else b[column] for b in blobs]
    if not items:
        return np.empty((0, 0), dtype=bool if dtype == "bit" else _NUMPY_DTYPES[dtype])
    if any(b is None for b in items):
        raise ValueError("a blob is None (NULL)")
    lengths = set(map(len, items))
    if len(lengths) != 1:
        raise ValueError(f"blobs of different lengths ({sorted(lengths)[:5]} bytes): not one vector column")
    # bytearray.join: one copy, and the array it backs is writable.
    raw = np.frombuffer(bytearray().join(items), dtype=np.uint8).reshape(len(items), -1)
    if dtype == "bit":
        return np.unpackbits(raw, axis=1, bitorder="little").astype(bool)
    return raw.view(_NUMPY_DTYPES[dtype])


def serialize_float32(vector: VectorLike) -> bytes:
    """Little-endian float32 bytes: the compact blob form of a float32 vector."""
    return to_blob(vector, "float32")


def serialize_int8(vector: VectorLike) -> bytes:
    """Signed bytes: the blob form of an int8 vector (wrap it in vec_int8() in SQL).

    Values outside -128..127 raise (struct.error for lists; numpy arrays are checked too).
    """
    return to_blob(vector, "int8")


__all__ = ["DTYPES", "from_blob", "from_blobs", "infer_dtype", "serialize_float32", "serialize_int8", "to_blob", "to_blobs"]
