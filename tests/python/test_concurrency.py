"""Concurrency: one writer process and four reader processes on one WAL database. Each reader
repeatedly opens a read transaction, reads every row's vector and metadata from the vindex
table itself, computes brute force with numpy, and compares it with KNN queries (plain,
filtered, ORDER BY distance LIMIT, range) run in the same transaction, i.e. at the same
snapshot. Any difference is a reader seeing another snapshot than its own, or a stale cache.

Duration: VINDEX_CONCURRENCY_SECONDS (default 15; `make stress` runs 300). Seeded:
VINDEX_CONCURRENCY_SEED.
"""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXT = str(ROOT / "dist" / "vindex")
DIMS = 32
SECONDS = float(os.environ.get("VINDEX_CONCURRENCY_SECONDS", "15"))
SEED = int(os.environ.get("VINDEX_CONCURRENCY_SEED", "0"))
READERS = 4

COMMON = r"""
import json, random, sqlite3, struct, sys, time
import numpy as np
path, ext, seed, seconds, dims = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
db = sqlite3.connect(path, isolation_level=None, timeout=60)
db.enable_load_extension(True)
db.load_extension(ext)
rng = random.Random(seed)
deadline = time.monotonic() + seconds
def vec():
    return struct.pack(f"{dims}f", *[rng.uniform(-1, 1) for _ in range(dims)])
"""

WRITER = COMMON + r"""
db.execute("PRAGMA cache_size=20")
rows = set(r[0] for r in db.execute("SELECT rowid FROM t"))
nxt = max(rows, default=0) + 1
commits = rolled_back = 0
while time.monotonic() < deadline:
    db.execute("BEGIN IMMEDIATE")
    for _ in range(rng.choice([1, 5, 30])):
        p = rng.random()
        if (p < 0.5 and len(rows) < 3000) or len(rows) < 50:
            db.execute("INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, 'w')", (nxt, vec(), rng.randrange(5)))
            rows.add(nxt); nxt += 1
        elif p < 0.75:
            r = rng.choice(sorted(rows))
            db.execute("DELETE FROM t WHERE rowid = ?", (r,)); rows.discard(r)
        elif p < 0.95:
            db.execute("UPDATE t SET v = ?, cat = ? WHERE rowid = ?", (vec(), rng.randrange(5), rng.choice(sorted(rows))))
        else:
            db.execute("INSERT INTO t(t) VALUES ('optimize')")
    if rng.random() < 0.1:
        db.execute("ROLLBACK"); rolled_back += 1
        rows = set(r[0] for r in db.execute("SELECT rowid FROM t"))
        nxt = max(rows, default=0) + 1
    else:
        db.execute("COMMIT"); commits += 1
print(json.dumps({"commits": commits, "rolled_back": rolled_back, "rows": len(rows)}))
"""

READER = COMMON + r"""
checks = snapshots = 0
states = set()
errors = []
def knn_ok(got, dist, ids, k, what):
    ref = np.sort(dist)[:k]
    true = dict(zip(ids.tolist(), dist.tolist()))
    if len(got) != len(ref):
        return f"{what}: {len(got)} rows, brute force {len(ref)}"
    for (r, d), want in zip(got, ref):
        if r not in true:
            return f"{what}: rowid {r} is not in this snapshot"
        if abs(d - true[r]) > 1e-4 * (1 + true[r]) or abs(d - want) > 1e-4 * (1 + want):
            return f"{what}: {got[:5]}... vs brute force {ref[:5].tolist()}..."
    return None
def range_ok(got, dist, ids, r):
    # Every row nearer than r (beyond float32 rounding) is there, none farther, each with its distance.
    true = dict(zip(ids.tolist(), dist.tolist()))
    seen = {g[0] for g in got}
    for g, d in got:
        if g not in true or abs(d - true[g]) > 1e-4 * (1 + true[g]) or true[g] > r + 1e-4:
            return f"range: row {g} at {d} (true {true.get(g)}) for distance < {r}"
    missing = [i for i, d in true.items() if d < r - 1e-4 and i not in seen]
    return f"range: rows {missing[:5]} nearer than {r} are missing" if missing else None
while time.monotonic() < deadline and len(errors) < 5:
    db.execute("BEGIN")
    snap = db.execute("SELECT rowid, v, cat FROM t ORDER BY rowid").fetchall()
    snapshots += 1
    states.add(hash(tuple((r, v, c) for r, v, c in snap)))
    if snap:
        ids = np.array([r for r, _, _ in snap])
        mat = np.frombuffer(b"".join(v for _, v, _ in snap), dtype=np.float32).reshape(len(snap), dims).astype(np.float64)
        cats = np.array([c for _, _, c in snap])
        for _ in range(3):
            qb = vec()
            q = np.frombuffer(qb, dtype=np.float32).astype(np.float64)
            d = np.sqrt(((mat - q) ** 2).sum(axis=1))
            k = rng.choice([1, 10, 50])
            cat = rng.randrange(5)
            tests = [
                ("k", f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = {k}", np.ones(len(ids), bool), k),
                ("filter", f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = {k} AND cat = {cat}", cats == cat, k),
                ("limit", f"SELECT rowid, distance FROM t WHERE v MATCH ? ORDER BY distance LIMIT {k}", np.ones(len(ids), bool), k),
            ]
            r = float(np.sort(d)[min(len(d) - 1, 20)])
            tests.append(("range", f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 1000000 AND distance < {r!r}", None, 0))
            for what, sql, sel, kk in tests:
                got = db.execute(sql, (qb,)).fetchall()
                e = range_ok(got, d, ids, r) if what == "range" else knn_ok(got, d[sel], ids[sel], kk, what)
                checks += 1
                if e:
                    errors.append(f"snapshot {snapshots} ({len(snap)} rows): {e}")
        # The count, and a point lookup, agree with the snapshot too.
        n = db.execute("SELECT count(*) FROM t").fetchone()[0]
        if n != len(snap):
            errors.append(f"count(*) {n} != {len(snap)} rows read in the same transaction")
    db.execute("COMMIT")
print(json.dumps({"snapshots": snapshots, "checks": checks, "states": len(states), "errors": errors}))
"""


def test_one_writer_four_readers(tmp_path):
    path = str(tmp_path / "conc.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.execute(f"CREATE VIRTUAL TABLE t USING vindex(v float[{DIMS}], cat integer, +note text)")
    db.close()

    def spawn(script, seed):
        return subprocess.Popen(
            [sys.executable, "-c", script, path, EXT, str(seed), str(SECONDS), str(DIMS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    writer = spawn(WRITER, SEED * 100)
    readers = [spawn(READER, SEED * 100 + i + 1) for i in range(READERS)]
    results = []
    for p in [writer] + readers:
        out, err = p.communicate(timeout=SECONDS + 120)
        assert p.returncode == 0, f"process ended with {p.returncode}: {err[-3000:]}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    w, rs = results[0], results[1:]
    print(f"writer: {w}")
    for i, r in enumerate(rs):
        print(f"reader {i}: {r['snapshots']} snapshots, {r['checks']} KNN checks, {r['states']} distinct states")
    assert w["commits"] > 0
    for r in rs:
        assert not r["errors"], r["errors"]
        assert r["checks"] > 0
    # The readers did read while the writer changed the table.
    assert sum(r["states"] for r in rs) > READERS, "the readers never saw the table change"

    # Afterwards the file is sound.
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.execute("INSERT INTO t(t) VALUES ('integrity-check')")
    db.close()
