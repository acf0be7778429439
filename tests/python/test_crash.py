"""Crash safety: a writer killed with SIGKILL at a random moment leaves a database that opens,
passes PRAGMA integrity_check and vindex's own 'integrity-check', answers KNN queries exactly
as brute force does, and holds exactly the rows of every transaction whose COMMIT returned
(plus, possibly, the one transaction in flight when the kill came, whole or not at all).

The writer runs with a tiny page cache (PRAGMA cache_size=10) so that transactions spill pages
to the file before COMMIT. Before each COMMIT it prints the transaction's changes, after it the
word "committed"; the parent keeps a model of the table from those lines.

Rounds per journal mode (WAL, DELETE): VINDEX_CRASH_ROUNDS (default 6; `make stress` runs 100
per mode). Seeded: VINDEX_CRASH_SEED (default 0) makes every kill time and every write
reproducible.
"""

import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXT = str(ROOT / "dist" / "vindex")
DIMS = 64
ROUNDS = int(os.environ.get("VINDEX_CRASH_ROUNDS", "6"))
SEED = int(os.environ.get("VINDEX_CRASH_SEED", "0"))

CREATE = f"CREATE VIRTUAL TABLE t USING vindex(v float[{DIMS}], cat integer, +note text{{}})"
# The index options the loop runs under: exact; IVF (sq8 codes: with every list probed the
# answer is exact, so brute force stays the oracle; 'optimize' in the writer trains it); and
# HNSW (an ef_search as large as the table makes its answer the exact one; 'optimize' in the
# writer repairs links, and the check after each kill walks the whole graph).
INDEXES = {
    "flat": "",
    "ivf": ", index=ivf(lists=8, quantizer=sq8)",
    "hnsw": ", index=hnsw(m=8, ef_construction=40)",
}
PROBES = {"flat": "", "ivf": " AND nprobe = 65536", "hnsw": " AND ef_search = 100000"}

WRITER = r"""
import json, random, sqlite3, struct, sys
path, ext, journal, seed, dims = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
db = sqlite3.connect(path, isolation_level=None, timeout=30)
db.enable_load_extension(True)
db.load_extension(ext)
db.execute("PRAGMA journal_mode=" + journal)
db.execute("PRAGMA cache_size=10")
rng = random.Random(seed)
rows = set(r[0] for r in db.execute("SELECT rowid FROM t"))
nxt = max(rows, default=0) + 1
def vec():
    return [struct.unpack("f", struct.pack("f", rng.uniform(-1, 1)))[0] for _ in range(dims)]
while True:
    ops = []
    db.execute("BEGIN")
    for _ in range(rng.choice([1, 3, 10, 60])):
        p = rng.random()
        if p < 0.55 or not rows:
            r, v, c, n = nxt, vec(), rng.randrange(7), "x" * rng.randrange(0, 400)
            nxt += 1
            db.execute("INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, ?)", (r, struct.pack(f"{dims}f", *v), c, n))
            rows.add(r)
            ops.append(["put", r, v, c, n])
        elif p < 0.75:
            r = rng.choice(sorted(rows))
            db.execute("DELETE FROM t WHERE rowid = ?", (r,))
            rows.discard(r)
            ops.append(["del", r])
        elif p < 0.9:
            r, v, c = rng.choice(sorted(rows)), vec(), rng.randrange(7)
            db.execute("UPDATE t SET v = ?, cat = ? WHERE rowid = ?", (struct.pack(f"{dims}f", *v), c, r))
            ops.append(["upd", r, v, c])
        elif p < 0.95:
            r = rng.choice(sorted(rows))
            db.execute("UPDATE t SET rowid = ? WHERE rowid = ?", (nxt, r))
            rows.discard(r)
            rows.add(nxt)
            ops.append(["mv", r, nxt])
            nxt += 1
        else:
            db.execute("INSERT INTO t(t) VALUES ('optimize')")
    sys.stdout.write(json.dumps(ops) + "\n")
    sys.stdout.flush()
    db.execute("COMMIT")
    sys.stdout.write("committed\n")
    sys.stdout.flush()
"""


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


def apply(model, ops):
    m = dict(model)
    for op in ops:
        if op[0] == "put":
            m[op[1]] = (tuple(op[2]), op[3], op[4])
        elif op[0] == "del":
            m.pop(op[1], None)
        elif op[0] == "upd":
            if op[1] in m:
                m[op[1]] = (tuple(op[2]), op[3], m[op[1]][2])
        elif op[0] == "mv":
            if op[1] in m:
                m[op[2]] = m.pop(op[1])
    return m


def contents(db):
    out = {}
    for r, v, c, n in db.execute("SELECT rowid, v, cat, note FROM t"):
        out[r] = (tuple(struct.unpack(f"{DIMS}f", v)), c, n)
    return out


def assert_knn(got, dist, ids, k):
    """`got` [(rowid, distance)] is a correct k-NN answer for true distances `dist` of `ids`:
    the right count, each row's own distance, ascending, and nothing nearer left out (up to
    float32 rounding at ties)."""
    true = dict(zip(ids.tolist(), dist.tolist()))
    ref = sorted(dist.tolist())[:k]
    assert len(got) == len(ref), (got, ref)
    for (r, d), want in zip(got, ref):
        assert r in true, f"KNN returned rowid {r}, which is not in the table"
        assert abs(d - true[r]) <= 1e-4 * (1 + true[r]), f"rowid {r}: distance {d}, true {true[r]}"
        assert abs(d - want) <= 1e-4 * (1 + want), f"KNN {got} != brute force distances {ref}"
    assert [d for _, d in got] == sorted(d for _, d in got)
    assert len({r for r, _ in got}) == len(got), "a rowid appears twice"


def check_knn(db, model, rng, probe=""):
    """KNN (plain, filtered, ORDER BY ... LIMIT) equals numpy brute force over the model."""
    if not model:
        return
    ids = np.array(sorted(model))
    mat = np.array([model[i][0] for i in ids], dtype=np.float64)
    cats = np.array([model[i][1] for i in ids])
    for _ in range(3):
        q = np.array([struct.unpack("f", struct.pack("f", rng.uniform(-1, 1)))[0] for _ in range(DIMS)])
        qb = q.astype(np.float32).tobytes()
        d = np.sqrt(((mat - q) ** 2).sum(axis=1))
        for cat in (None, rng.randrange(7)):
            sel = np.ones(len(ids), bool) if cat is None else cats == cat
            flt = "" if cat is None else f" AND cat = {cat}"
            got = db.execute(f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10{flt}{probe}", (qb,)).fetchall()
            assert_knn(got, d[sel], ids[sel], 10)
        got = db.execute(f"SELECT rowid, distance FROM t WHERE v MATCH ?{probe} ORDER BY distance LIMIT 5",
                         (qb,)).fetchall()
        assert_knn(got, d, ids, 5)


@pytest.mark.parametrize("index", sorted(INDEXES))
@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_kill_9_mid_write(tmp_path, journal, index):
    path = str(tmp_path / "crash.db")
    db = open_db(path)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute(CREATE.format(INDEXES[index]))
    db.close()
    probe = PROBES[index]
    rng = random.Random(SEED * 1000 + (1 if journal == "WAL" else 2) + {"flat": 0, "ivf": 10, "hnsw": 20}[index])
    model = {}
    commits = in_flight_seen = 0
    for round_ in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, path, EXT, journal, str(rng.randrange(1 << 30)), str(DIMS)],
            stdout=subprocess.PIPE,
        )
        # Let it start (load the extension, open the file), then kill it at a random moment.
        time.sleep(0.15 + rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, f"the writer ended by itself: {proc.returncode}"
        # Only whole lines count: the kill may have cut the last one.
        lines = out.decode().split("\n")[:-1]
        pending = None
        for line in lines:
            if line == "committed":
                model = apply(model, pending)
                commits += 1
                pending = None
            else:
                pending = json.loads(line)

        db = open_db(path)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.execute("INSERT INTO t(t) VALUES ('integrity-check')")
        got = contents(db)
        if got != model:
            # The transaction in flight may have committed before the kill.
            assert pending is not None and got == apply(model, pending), (
                f"round {round_}: the table holds {len(got)} rows, the acknowledged commits "
                f"{len(model)}; missing {sorted(set(model) - set(got))[:10]}, "
                f"unexpected {sorted(set(got) - set(model))[:10]}"
            )
            model = got
            in_flight_seen += 1
        check_knn(db, model, rng, probe)
        db.close()
    assert commits > 0, "the writer never committed; the test did not exercise anything"
    print(f"{journal} {index}: {ROUNDS} kills, {commits} acknowledged commits, {len(model)} rows at the end, "
          f"{in_flight_seen} in-flight transactions found committed")
