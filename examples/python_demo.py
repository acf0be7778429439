#!/usr/bin/python3
"""vindex from Python, standard library only (Debian's /usr/bin/python3, its sqlite3 module).

    make loadable && /usr/bin/python3 examples/python_demo.py

Loads dist/vindex.so into a connection, creates a vindex table, inserts float32 vectors
packed with struct, and runs KNN queries with and without a metadata filter.
"""

import math
import os
import random
import sqlite3
import struct
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = os.path.join(REPO, "dist", "vindex")  # SQLite adds .so / .dylib / .dll itself
DIMS = 8


def f32(values):
    """A float32 vector as vindex (and sqlite-vec) store it: little-endian, 4 bytes per element."""
    return struct.pack(f"<{len(values)}f", *values)


def unpack_f32(blob):
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def connect():
    conn = sqlite3.connect(":memory:")
    if not hasattr(conn, "enable_load_extension"):
        sys.exit("this Python's sqlite3 module cannot load extensions (built without them); use Debian's /usr/bin/python3")
    conn.enable_load_extension(True)
    try:
        conn.load_extension(EXTENSION)
    except sqlite3.OperationalError as e:
        sys.exit(f"cannot load {EXTENSION}.so ({e}); run 'make loadable' first")
    conn.enable_load_extension(False)  # only our extension, nothing from SQL
    return conn


def main():
    conn = connect()
    (sqlite_version,) = conn.execute("SELECT sqlite_version()").fetchone()
    (vindex_version,) = conn.execute("SELECT vec_version()").fetchone()
    print(f"SQLite {sqlite_version}, vindex {vindex_version}")

    conn.execute(
        f"""CREATE VIRTUAL TABLE docs USING vindex(
                embedding float[{DIMS}] distance=l2,
                category text,          -- metadata: filterable inside KNN
                year integer,           -- metadata
                +title text             -- auxiliary: stored and returned
            )"""
    )

    # 1,000 random documents around 4 category centres, so neighbours are predictable.
    rng = random.Random(42)
    categories = ["science", "sports", "music", "travel"]
    centres = {c: [rng.uniform(-1, 1) for _ in range(DIMS)] for c in categories}
    rows = []
    for i in range(1, 1001):
        cat = categories[i % 4]
        vec = [x + rng.gauss(0, 0.3) for x in centres[cat]]
        rows.append((i, f32(vec), cat, 1990 + i % 35, f"{cat} document #{i}"))
    with conn:
        conn.executemany("INSERT INTO docs(rowid, embedding, category, year, title) VALUES (?, ?, ?, ?, ?)", rows)
    (count,) = conn.execute("SELECT count(*) FROM docs").fetchone()
    print(f"inserted {count} rows of {DIMS}-d float32 vectors")

    # A query near the "music" centre.
    query = f32([x + 0.05 for x in centres["music"]])

    print("\n5 nearest neighbours:")
    for rowid, title, category, distance in conn.execute(
        "SELECT rowid, title, category, distance FROM docs WHERE embedding MATCH ? AND k = 5",
        (query,),
    ):
        print(f"  {rowid:5}  {distance:7.4f}  {category:8}  {title}")

    print("\n5 nearest neighbours with category = 'travel' AND year >= 2015 (filter inside the search):")
    results = conn.execute(
        """SELECT rowid, title, year, distance FROM docs
           WHERE embedding MATCH ? AND k = 5 AND category = ? AND year >= ?""",
        (query, "travel", 2015),
    ).fetchall()
    for rowid, title, year, distance in results:
        print(f"  {rowid:5}  {distance:7.4f}  {year}  {title}")
    assert len(results) == 5, "the filter should still return k rows"

    # Check the first answer against a brute-force scan in Python.
    def l2(a, b):
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))

    q = unpack_f32(query)
    brute = min(
        (l2(q, unpack_f32(blob)), rowid)
        for rowid, blob in conn.execute("SELECT rowid, embedding FROM docs WHERE category = 'travel' AND year >= 2015")
    )
    assert brute[1] == results[0][0] and abs(brute[0] - results[0][3]) < 1e-4, (brute, results[0])
    print(f"\nbrute force agrees: nearest travel document since 2015 is #{brute[1]} at {brute[0]:.4f}")

    # Vector functions work on the same blobs.
    (as_json,) = conn.execute("SELECT vec_to_json(vec_slice(embedding, 0, 3)) FROM docs WHERE rowid = 1").fetchone()
    print(f"first 3 elements of document #1: {as_json}")


if __name__ == "__main__":
    main()
