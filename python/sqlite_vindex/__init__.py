"""vindex for Python: load the SQLite extension, move vectors in and out, bulk-load tables.

    import sqlite3, sqlite_vindex
    conn = sqlite3.connect("my.db")
    sqlite_vindex.load(conn)              # also sqlean (sqlean.py) and apsw connections
    conn.execute("CREATE VIRTUAL TABLE docs USING vindex(embedding float[384])")
    sqlite_vindex.bulk_insert(conn, "docs", {"embedding": matrix})   # 2-D numpy array
    rows = conn.execute("SELECT rowid, distance FROM docs WHERE embedding MATCH ? AND k = 10",
                        [sqlite_vindex.to_blob(query)]).fetchall()

The extension ships inside the package (`sqlite_vindex/vindex.so`); `VINDEX_PATH` in the
environment points `load()` at another build. numpy is optional: only to_blob/from_blob/
from_blobs/bulk_insert on arrays import it.
"""

from ._bulk import bulk_insert
from ._load import LoadError, can_load_extensions, load, loadable_path
from ._vectors import from_blob, from_blobs, serialize_float32, serialize_int8, to_blob, to_blobs

__all__ = [
    "LoadError",
    "bulk_insert",
    "can_load_extensions",
    "from_blob",
    "from_blobs",
    "load",
    "loadable_path",
    "serialize_float32",
    "serialize_int8",
    "to_blob",
    "to_blobs",
]


def __getattr__(name):
    if name == "__version__":
        try:
            from importlib.metadata import PackageNotFoundError, version
        except ImportError:  # pragma: no cover
            return "unknown"
        try:
            return version("sqlite-vindex")
        except PackageNotFoundError:
            return "unknown (not installed: imported from a source checkout)"
    raise AttributeError(f"module 'sqlite_vindex' has no attribute {name!r}")
