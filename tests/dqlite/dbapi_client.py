"""dqlite-dbapi (PyPI) as a vindex client; run by test_cluster.py in a Python >= 3.13 venv.

Reads a JSON request on stdin: {"addrs": [...], "db": name, "insert": [rowid, vector, category,
year, body], "queries": [vector, ...]}. Inserts the row with the vector as a float32 blob
parameter, then runs a filtered KNN query (k = 10, category = 'c1') per query vector, and prints
{"version": ..., "knn": [[[rowid, distance], ...], ...]} on stdout.
"""

import json
import struct
import sys
from importlib.metadata import version

import dqlitedbapi


def main():
    req = json.load(sys.stdin)
    # Any member: the client asks it for the leader and talks to the leader.
    conn = dqlitedbapi.connect(req["addrs"][0], database=req["db"])
    try:
        cur = conn.cursor()
        rowid, vec, category, year, body = req["insert"]
        cur.execute(
            "INSERT INTO t(rowid, embedding, category, year, body) VALUES (?, ?, ?, ?, ?)",
            (rowid, struct.pack(f"<{len(vec)}f", *vec), category, year, body),
        )
        conn.commit()
        out = []
        for q in req["queries"]:
            cur.execute(
                "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = 10 AND category = ?",
                (json.dumps(q), "c1"),
            )
            out.append([[int(r), float(d)] for r, d in cur.fetchall()])
    finally:
        conn.close()
    json.dump({"version": version("dqlite-dbapi"), "knn": out}, sys.stdout)


if __name__ == "__main__":
    main()
