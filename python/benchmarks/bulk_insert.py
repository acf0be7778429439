"""sqlite_vindex.bulk_insert against hand-written executemany loops, same data, same process.

    make bench-bulk                 # or: .venv/bin/python python/benchmarks/bulk_insert.py [n] [dims]

Each method loads n seeded random float32 vectors (+ one metadata column) into a fresh vindex
table in a new database file, inside one transaction; the best of REPEAT runs is reported
(runs alternate between methods so that machine noise hits them alike).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
import sqlite_vindex  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
DIMS = int(sys.argv[2]) if len(sys.argv) > 2 else 384
REPEAT = 3


def fresh(path: str) -> sqlite3.Connection:
    for suffix in ("", "-journal", "-wal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    conn = sqlite3.connect(path)
    sqlite_vindex.load(conn)
    conn.execute(f"CREATE VIRTUAL TABLE docs USING vindex(embedding float[{DIMS}], category integer)")
    conn.commit()
    return conn


def executemany_tobytes(conn, m, cats):
    """What a careful user writes: one transaction, one executemany, ndarray.tobytes() per row."""
    with conn:
        conn.executemany(
            "INSERT INTO docs(rowid, embedding, category) VALUES (?, ?, ?)",
            ((i + 1, m[i].tobytes(), int(cats[i])) for i in range(len(m))),
        )


def executemany_struct(conn, m, cats):
    """sqlite-vec's documented helper: serialize_float32(list) = struct.pack per row."""
    rows = m.tolist()
    cl = cats.tolist()
    with conn:
        conn.executemany(
            "INSERT INTO docs(rowid, embedding, category) VALUES (?, ?, ?)",
            ((i + 1, struct.pack(f"{DIMS}f", *rows[i]), cl[i]) for i in range(len(rows))),
        )


def bulk(conn, m, cats):
    sqlite_vindex.bulk_insert(
        conn, "docs", {"rowid": np.arange(1, len(m) + 1), "embedding": m, "category": cats}, progress=False
    )


def main():
    rng = np.random.default_rng(42)
    m = rng.standard_normal((N, DIMS)).astype(np.float32)
    cats = rng.integers(0, 10, N)
    methods = {
        "executemany + ndarray.tobytes()": executemany_tobytes,
        "executemany + struct.pack (sqlite-vec helper)": executemany_struct,
        "sqlite_vindex.bulk_insert": bulk,
    }
    times = {name: [] for name in methods}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        reference = None
        for _ in range(REPEAT):
            for name, fn in methods.items():
                conn = fresh(path)
                t0 = time.perf_counter()
                fn(conn, m, cats)
                times[name].append(time.perf_counter() - t0)
                got = conn.execute("SELECT count(*), sum(category) FROM docs").fetchone()
                if reference is None:
                    reference = got
                assert got == reference == (N, int(cats.sum())), (name, got)
                conn.close()
    print(f"{N:,} rows x {DIMS}-d float32 + 1 integer column, one transaction, SQLite {sqlite3.sqlite_version}")
    base = min(times["executemany + ndarray.tobytes()"])
    for name, ts in times.items():
        best = min(ts)
        print(
            f"  {name:46s} best {best:6.3f} s  median {statistics.median(ts):6.3f} s  "
            f"{N / best:9,.0f} rows/s  {base / best:5.2f}x vs executemany+tobytes"
        )


if __name__ == "__main__":
    main()
