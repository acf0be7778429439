"""Load the vindex SQLite extension and serialize vectors for it.

    import sqlite3, sqlite_vindex
    conn = sqlite3.connect(":memory:")
    sqlite_vindex.load(conn)
    conn.execute("SELECT vec_distance_l2(?, ?)",
                 [sqlite_vindex.serialize_float32([1, 2]), "[3, 4]"])

No dependencies; numpy arrays are accepted where lists are, without importing numpy.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path
from typing import Iterable

__all__ = ["loadable_path", "load", "serialize_float32", "serialize_int8"]

_SUFFIXES = (".so", ".dylib", ".dll")


def loadable_path() -> str:
    """Path of the loadable extension, without its file suffix (SQLite appends it).

    `VINDEX_PATH` in the environment wins; otherwise `dist/vindex` in the repository this
    package sits in (`make loadable` builds `dist/vindex.so`). SQLite derives the entry point
    `sqlite3_vindex_init` from the file name.
    """
    env = os.environ.get("VINDEX_PATH")
    if env:
        for suffix in _SUFFIXES:
            if env.endswith(suffix):
                return env[: -len(suffix)]
        return env
    return str(Path(__file__).resolve().parents[2] / "dist" / "vindex")


def load(conn: sqlite3.Connection) -> None:
    """Load vindex into `conn`; extension loading is switched off again afterwards."""
    conn.enable_load_extension(True)
    try:
        conn.load_extension(loadable_path())
    finally:
        conn.enable_load_extension(False)


# A list/tuple/iterable of numbers, or a 1-D numpy array (numpy is never imported here).
VectorLike = Iterable[float]


def _ndarray_bytes(vector, dtype: str):
    """Bytes of a numpy-like array converted to `dtype`, or None if `vector` is not one."""
    if hasattr(vector, "astype") and hasattr(vector, "tobytes") and hasattr(vector, "ndim"):
        if vector.ndim != 1:
            raise ValueError(f"expected a 1-dimensional array, got {vector.ndim} dimensions")
        return vector.astype(dtype, copy=False).tobytes()
    return None


def serialize_float32(vector: VectorLike) -> bytes:
    """Little-endian float32 bytes: the compact blob form of a float32 vector."""
    b = _ndarray_bytes(vector, "<f4")
    if b is not None:
        return b
    values = list(vector)
    return struct.pack(f"<{len(values)}f", *values)


def serialize_int8(vector: VectorLike) -> bytes:
    """Signed bytes: the blob form of an int8 vector (wrap it in vec_int8() in SQL).

    Values outside -128..127 raise (struct.error for lists; numpy arrays are checked too).
    """
    if hasattr(vector, "astype") and hasattr(vector, "ndim"):
        if len(vector) and (vector.min() < -128 or vector.max() > 127):
            raise ValueError("int8 values must be from -128 to 127")
        b = _ndarray_bytes(vector, "i1")
        if b is not None:
            return b
    values = list(vector)
    return struct.pack(f"<{len(values)}b", *values)
