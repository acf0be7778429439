"""What one statement costs apart from its search: a KNN on a 10-row vindex table against a
rowid lookup on a 10-row ordinary table, in the default rollback-journal mode and in WAL mode.

    bench/.venv/bin/python bench/statement.py [--n 50000] [--ext dist/vindex]

Thread CPU time per statement through Python's sqlite3 (the median of 5 blocks). The file
is a temporary one: journal modes are properties of a file, not of :memory:.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import common


def measure(conn, sql: str, args: tuple, n: int) -> float:
    for _ in range(min(n, 2000)):
        conn.execute(sql, args).fetchall()
    blocks = []
    for _ in range(5):
        t = time.thread_time()
        for _ in range(n // 5):
            conn.execute(sql, args).fetchall()
        blocks.append((time.thread_time() - t) / (n // 5) * 1e6)
    return statistics.median(blocks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000, help="statements per measurement")
    ap.add_argument("--ext", default=None, help="the extension (default dist/vindex)")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    vs = rng.standard_normal((10, 128)).astype(np.float32)
    print("| journal | vindex KNN, k = 10 (µs) | rowid lookup (µs) |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("delete", "wal"):
            path = str(Path(tmp) / f"{mode}.db")
            conn = common.connect_vindex(path, args.ext)
            conn.execute(f"PRAGMA journal_mode={mode}")
            conn.execute("CREATE VIRTUAL TABLE t USING vindex(embedding float[128] distance=cosine, index=hnsw)")
            conn.execute("CREATE TABLE p(id INTEGER PRIMARY KEY, v BLOB)")
            for i, v in enumerate(vs):
                conn.execute("INSERT INTO t(rowid, embedding) VALUES (?, ?)", (i + 1, v.tobytes()))
                conn.execute("INSERT INTO p VALUES (?, ?)", (i + 1, v.tobytes()))
            knn = measure(conn, "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10", (vs[3].tobytes(),), args.n)
            plain = measure(conn, "SELECT id FROM p WHERE id = ?", (3,), args.n)
            print(f"| {mode} | {knn:.1f} | {plain:.1f} |", flush=True)
            conn.close()


if __name__ == "__main__":
    main()
