"""Distances right at every float32 magnitude, and KNN through the int8 prescan equal to a scan
of the pages, on SQLite 3.40 through the loadable build (the Rust tests in tests/magnitudes.rs
cover the same through the bundled SQLite, in depth)."""

from __future__ import annotations

import math
import random
import struct


def blob(v):
    return struct.pack(f"<{len(v)}f", *v)


def test_reported_cases(db):
    d = lambda sql: db.execute(sql).fetchone()[0]
    assert d("SELECT vec_distance_cosine('[3e19,3e19]', '[3e19,3e19]')") == 0.0
    assert d("SELECT vec_distance_cosine('[1e-30,1e-30]', '[1e-30,1e-30]')") == 0.0
    assert d("SELECT vec_distance_ip('[1e20,1e20]', '[1e20,-1e20]')") == 0.0
    assert math.isclose(d("SELECT vec_distance_ip('[1e-30,1e-30]', '[1e-30,1e-30]')"), -2e-60, rel_tol=1e-6)
    assert d("SELECT vec_distance_cosine('[0,0]', '[1e-45,0]')") is None


def test_knn_warm_equals_cold_at_every_magnitude(db):
    rng = random.Random(7)
    exps = [-44, -40, -37, -33, -30, -20, 0, 19, 20, 30, 38]
    for metric in ("l2", "cosine", "ip"):
        db.execute("DROP TABLE IF EXISTS t")
        db.execute(f"CREATE VIRTUAL TABLE t USING vindex(v float[3] distance={metric})")
        rows = {}
        for i in range(1, 121):
            e = rng.choice(exps)
            v = [struct.unpack("<f", struct.pack("<f", rng.uniform(-1, 1) * 10.0**e))[0] for _ in range(3)]
            if metric == "cosine" and not any(v):
                continue
            rows[i] = v
            db.execute("INSERT INTO t(rowid, v) VALUES (?, ?)", (i, blob(v)))
        limit = db.execute("SELECT vindex_cache_limit()").fetchone()[0]
        for qi in range(6):
            q = [1e30, 1.0, 1.0] if qi == 0 else [rng.uniform(-1, 1) * 10.0 ** rng.choice(exps) for _ in range(3)]
            if metric == "cosine" and not any(struct.unpack("<3f", blob(q))):
                continue
            sql = "SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10"
            db.execute("SELECT vindex_cache_limit(0)")
            cold = db.execute(sql, (blob(q),)).fetchall()
            db.execute("SELECT vindex_cache_limit(?)", (limit,))
            db.execute(sql, (blob(q),)).fetchall()
            assert db.execute("SELECT prescan FROM vindex_status WHERE table_name = 't'").fetchone()[0] == "int8"
            warm = db.execute(sql, (blob(q),)).fetchall()
            assert warm == cold, (metric, q)
            assert len(cold) == 10 and all(d is not None and not math.isnan(d) for _, d in cold)
            # Each distance is the function's value for that pair.
            for rowid, dist in cold:
                f = db.execute(f"SELECT vec_distance_{metric}(v, ?) FROM t WHERE rowid = ?", (blob(q), rowid)).fetchone()[0]
                assert f == dist
