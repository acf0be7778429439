#!/usr/bin/env python3
"""The shared cache of issue #6, measured in one run as ratios (k=10, cosine, exact KNN).

Data: MiniLM 116,648 x 384 (../shared/data/minilm, all rows by default) with a metadata column
`category integer` = rowid % 100, and a seeded 1,000,000 x 384 clustered set made here
(common.synthetic_clustered), built once into a file database in a temp dir. Parts (--parts):

  insert  100k MiniLM rows in one transaction into a file db: vindex vs sqlite-vec vec0 rows/s
          (alternating, fresh files, median of --insert-reps)
  1       first query of a NEW connection while another connection of this process has the
          table cached, vs a warm query of that other connection (target <= 2x)
  2       first query in a FRESH PROCESS (child python: connect + load + one query, timed
          inside the child, file in the OS page cache), vindex vs sqlite-vec vec0 (target:
          vindex faster); vindex's 2nd..10th query there
  3       after another connection commits one row -- in this process (published version) and
          in another process (change-log refresh) -- the next query vs a warm one (target <= 2x);
          vindex_status counters show which path ran
  4       RSS of a child process with 8 connections querying the table vs 1 (target <= 1.2x);
          what a per-connection copy would cost (8 x cache_bytes) for context
  5       filtered KNN vs unfiltered (category filters passing 1 % .. 90 %, an equality and an
          IN filter), alternating, each filtered answer checked exact (target <= 1.0x)
  6       1M x 384, default memory budget: every query after the first vs FAISS IndexFlatIP one
          query per call, alternating (target >= 1.0x FAISS QPS); answers identical to FAISS's
          float32 scan (same rowids, distances within 1e-6; ties by float64 re-evaluation)

  make bench     # runs this with the other scripts; or: bench/.venv/bin/python bench/cache.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

K = 10
DEFAULT_BUDGET = 1 << 30  # vindex's default vindex_cache_limit (bytes)
TARGETS = {
    "new_connection_vs_warm": ("<=", 2.0),
    "fresh_process_vs_sqlite_vec": ("<", 1.0),
    "after_commit_same_process_vs_warm": ("<=", 2.0),
    "after_commit_other_process_vs_warm": ("<=", 2.0),
    "rss_8_vs_1": ("<=", 1.2),
    "filtered_vs_unfiltered": ("<=", 1.0),
    "qps_1m_vs_faiss": (">=", 1.0),
}
CREATE = {
    "vindex": "CREATE VIRTUAL TABLE t USING vindex(embedding float[{dim}] distance=cosine{meta})",
    "sqlite-vec": "CREATE VIRTUAL TABLE t USING vec0(embedding float[{dim}] distance_metric=cosine{meta})",
}
META = ", category integer"
KNN = f"SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = {K}"
INSERT_META = "INSERT INTO t(rowid, embedding, category) VALUES (?, ?, ?)"
INSERT = "INSERT INTO t(rowid, embedding) VALUES (?, ?)"
# (label, SQL condition, the same on numpy's category array, share it passes with rowid % 100)
IN_VALUES = (3, 14, 25, 36, 47, 58, 69, 70, 81, 92)
FILTERS = [
    ("category < 1", "category < 1", lambda c: c < 1, 0.01),
    ("category = 3", "category = 3", lambda c: c == 3, 0.01),
    ("category IN (10 values)", f"category IN {IN_VALUES}", lambda c: np.isin(c, IN_VALUES), 0.10),
    ("category < 10", "category < 10", lambda c: c < 10, 0.10),
    ("category < 25", "category < 25", lambda c: c < 25, 0.25),
    ("category < 50", "category < 50", lambda c: c < 50, 0.50),
    ("category < 90", "category < 90", lambda c: c < 90, 0.90),
]
COUNTERS = ("cache_hits", "cache_refreshes", "cache_reloads", "queries_from_memory", "queries_from_pages",
            "generation")

# The child processes (parts 2, 3 and 4): standard library only, so that their RSS and start-up
# are not inflated by numpy. argv[1] is a JSON object; the answer is one JSON line on stdout.
CHILD = r'''
import json, sqlite3, sys, time
a = json.loads(sys.argv[1])

def mem():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out

def queries(idx):
    n = a["dim"] * 4
    out = []
    with open(a["queries"], "rb") as f:
        for i in idx:
            f.seek(i * n)
            out.append(f.read(n))
    return out

def connect(ext):
    conn = sqlite3.connect(a["db"], isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(ext)
    conn.enable_load_extension(False)
    return conn

def status(conn):
    cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))

mode, sql, ext = a["mode"], a.get("sql"), a.get("ext")
if mode == "first":
    if a["engine"] == "sqlite-vec":
        import sqlite_vec
        ext = sqlite_vec.loadable_path()
    qs = queries(a["qidx"])
    t0 = time.perf_counter_ns()
    conn = connect(ext)
    t1 = time.perf_counter_ns()
    first = conn.execute(sql, (qs[0],)).fetchall()
    t2 = time.perf_counter_ns()
    later, rows = [], [first]
    for q in qs[1:]:
        s = time.perf_counter_ns()
        rows.append(conn.execute(sql, (q,)).fetchall())
        later.append(time.perf_counter_ns() - s)
    out = {"connect_ns": t1 - t0, "first_query_ns": t2 - t1, "total_ns": t2 - t0, "later_ns": later,
           "rows": rows}
    if a["engine"] == "vindex":
        out["status"] = status(conn)
elif mode == "rss":
    qs = queries(a["qidx"])
    base = mem()
    conns = [connect(ext) for _ in range(a["connections"])]
    opened = mem()
    for c in conns:
        for q in qs:
            c.execute(sql, (q,)).fetchall()
    after = mem()
    out = {"base": base, "opened": opened, "after": after, "status": status(conns[0]),
           "per_connection": [status(c)["queries_from_memory"] for c in conns]}
elif mode == "writer":
    conn = connect(ext)
    for line in sys.stdin:
        rowid, qi = map(int, line.split())
        q = queries([qi])[0]
        t0 = time.perf_counter_ns()
        conn.execute("INSERT INTO t(rowid, embedding, category) VALUES (?, ?, ?)", (rowid, q, rowid % 100))
        print(json.dumps({"insert_ns": time.perf_counter_ns() - t0}), flush=True)
    sys.exit(0)
print(json.dumps(out))
'''


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def now() -> int:
    return time.perf_counter_ns()


def med_ms(ns: list[int]) -> float:
    return statistics.median(ns) / 1e6


def status(conn) -> dict:
    cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else {}


def counters_delta(a: dict, b: dict) -> dict:
    return {k: b[k] - a[k] for k in COUNTERS if k in a and k in b}


def vm_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def page_in(path: str) -> None:
    """Read the file once so that it is in the OS page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def child_args(**kw) -> str:
    return json.dumps(kw)


def run_child(a: dict) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(a)], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"child {a['mode']} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def verdict(value: float | None, target: tuple[str, float] | None) -> str:
    if value is None:
        return "n/a"
    if target is None:
        return "(context)"
    op, t = target
    ok = {"<=": value <= t, "<": value < t, ">=": value >= t}[op]
    return "met" if ok else "MISSED"


def target_text(target: tuple[str, float] | None) -> str:
    if target is None:
        return "-"
    op, t = target
    return {"<=": "≤", "<": "<", ">=": "≥"}[op] + f" {t:g}×"


def unit64(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)


class Exactness:
    """Checks KNN answers against float64 similarities: k rows (or all passing rows), every row
    passes the filter, every row's true similarity is >= the k-th best's - 1e-6 (ties), and
    the returned distance is 1 - cosine within float32 precision."""

    def __init__(self):
        self.queries = 0
        self.bad: list[str] = []
        self.max_derr = 0.0

    def check(self, what: str, rows, sims: np.ndarray, mask: np.ndarray | None = None) -> None:
        self.queries += 1
        s = sims if mask is None else np.where(mask, sims, -np.inf)
        passing = int(s.size if mask is None else mask.sum())
        want = min(K, passing)
        kth = np.partition(-s, want - 1)[want - 1] * -1 if want else None
        ids = np.array([r[0] - 1 for r in rows], dtype=np.int64)
        if len(ids) != want:
            self.bad.append(f"{what}: {len(ids)} rows, expected {want}")
            return
        if not want:
            return
        if np.any(ids < 0) or np.any(ids >= s.size) or (mask is not None and not np.all(mask[ids])):
            self.bad.append(f"{what}: a returned row does not pass the filter")
            return
        if np.any(sims[ids] < kth - 1e-6):
            self.bad.append(f"{what}: rowids {sorted((ids + 1).tolist())} are not the exact top {K}")
        d = np.array([r[1] for r in rows], dtype=np.float64)
        self.max_derr = max(self.max_derr, float(np.max(np.abs(d - (1.0 - sims[ids])))))

    def info(self) -> dict:
        return {"queries_checked": self.queries, "errors": self.bad[:20], "n_errors": len(self.bad),
                "max_abs_distance_error": self.max_derr}


def warm_up(conn, sqls: list[str], qblobs, n: int, args) -> None:
    """Make a connection warm for the queries about to be timed: --warmup queries, then each
    statement once with each of the first n query vectors (so the float32 vectors their
    rescoring reads are in the cache, as they are for a table that has been queried a while)."""
    for i in range(args.warmup):
        conn.execute(KNN, (qblobs[(n + i) % len(qblobs)],)).fetchall()
    for sql in sqls:
        for i in range(n):
            conn.execute(sql, (qblobs[i % len(qblobs)],)).fetchall()


def wait(args, res) -> None:
    if args.wait_idle > 0:
        res.setdefault("wait_idle", []).append(common.wait_idle(args.wait_idle, quiet=True))


# ----------------------------------------------------------------------------------------------
# Building the tables
# ----------------------------------------------------------------------------------------------


def build(engine: str, path: str, ds: common.Dataset, args, with_meta: bool, batch: int | None = None,
          progress: str | None = None) -> dict:
    """Insert every row of ds (rowid = index + 1) into a new file database; one transaction per
    `batch` rows (None: one for all). Returns seconds and rows/s."""
    conn = (common.connect_vindex(path, args.ext) if engine == "vindex" else common.connect_sqlite_vec(path))
    conn.execute(CREATE[engine].format(dim=ds.dim, meta=META if with_meta else ""))
    n = ds.n
    batch = batch or n
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        e = min(n, s + batch)
        if with_meta:
            rows = ((i + 1, ds.base[i].tobytes(), (i + 1) % 100) for i in range(s, e))
            sql = INSERT_META
        else:
            rows = ((i + 1, ds.base[i].tobytes()) for i in range(s, e))
            sql = INSERT
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        if progress:
            el = time.perf_counter() - t0
            print(f"  {progress}: {e:,}/{n:,} rows, {el:.0f} s, {e / el:,.0f} rows/s", flush=True)
    secs = time.perf_counter() - t0
    conn.close()
    return {"seconds": secs, "rows_per_s": n / secs, "file_bytes": os.path.getsize(path)}


def part_insert(ds: common.Dataset, tmp: Path, args, res) -> None:
    """100k rows (embedding only, as bench/knn.py) in one BEGIN/COMMIT, blobs built beforehand."""
    n = min(args.insert_n, ds.n)
    params = [(i + 1, ds.base[i].tobytes()) for i in range(n)]
    wait(args, res)
    runs = {"vindex": [], "sqlite-vec": []}
    mons = []
    for rep in range(args.insert_reps):
        order = ("vindex", "sqlite-vec") if rep % 2 == 0 else ("sqlite-vec", "vindex")
        for eng in order:
            path = str(tmp / f"insert-{eng}.db")
            conn = (common.connect_vindex(path, args.ext) if eng == "vindex" else common.connect_sqlite_vec(path))
            conn.execute(CREATE[eng].format(dim=ds.dim, meta=""))
            with common.CpuMonitor() as mon:
                t0 = time.perf_counter()
                conn.execute("BEGIN")
                conn.executemany(INSERT, params)
                conn.execute("COMMIT")
                secs = time.perf_counter() - t0
            conn.close()
            mons.append(mon.other_cores)
            runs[eng].append({"seconds": secs, "rows_per_s": n / secs, "file_bytes": os.path.getsize(path),
                              "other_procs_cores": mon.other_cores})
            os.remove(path)
    out = {"rows": n, "runs": runs}
    for eng, rs in runs.items():
        out[eng] = {"median_rows_per_s": statistics.median(r["rows_per_s"] for r in rs),
                    "min_rows_per_s": min(r["rows_per_s"] for r in rs),
                    "max_rows_per_s": max(r["rows_per_s"] for r in rs)}
    out["ratio"] = out["vindex"]["median_rows_per_s"] / out["sqlite-vec"]["median_rows_per_s"]
    out["other_procs_cores_max"] = max(m or 0 for m in mons)
    res["insert"] = out


# ----------------------------------------------------------------------------------------------
# Part 1: a new connection while another one has the table cached
# ----------------------------------------------------------------------------------------------


def part1(path: str, qblobs, sims, ex: Exactness, args, res) -> None:
    wait(args, res)
    a = common.connect_vindex(path, args.ext)
    t0 = now()
    r = a.execute(KNN, (qblobs[0],)).fetchall()
    cold_first = now() - t0
    ex.check("part 1 cold", r, sims[0])
    warm_up(a, [KNN], qblobs, args.trials, args)
    st_a = status(a)
    connect_ns, first_ns, warm_ns, b_status = [], [], [], []
    with common.CpuMonitor() as mon:
        for i in range(args.trials):
            qi = i % len(qblobs)
            q = qblobs[qi]

            def new_conn():
                t0 = now()
                b = common.connect_vindex(path, args.ext)
                t1 = now()
                rb = b.execute(KNN, (q,)).fetchall()
                t2 = now()
                connect_ns.append(t1 - t0)
                first_ns.append(t2 - t1)
                b_status.append(status(b))
                b.close()
                return rb

            def warm():
                t0 = now()
                ra = a.execute(KNN, (q,)).fetchall()
                warm_ns.append(now() - t0)
                return ra

            if i % 2 == 0:
                rb, ra = new_conn(), warm()
            else:
                ra, rb = warm(), new_conn()
            if rb != ra:
                ex.bad.append(f"part 1: a new connection's answer differs from the warm one (query {qi})")
            ex.check("part 1", rb, sims[qi])
    a.close()
    from_memory = sum(1 for s in b_status if s.get("queries_from_memory") == 1 and s.get("queries_from_pages") == 0)
    res["part1"] = {
        "first_query_of_first_connection_ms": cold_first / 1e6,
        "warm_connection_status": st_a,
        "connect_ms": [x / 1e6 for x in connect_ns],
        "new_connection_first_query_ms": [x / 1e6 for x in first_ns],
        "warm_query_ms": [x / 1e6 for x in warm_ns],
        "median_connect_ms": med_ms(connect_ns),
        "median_first_ms": med_ms(first_ns),
        "median_warm_ms": med_ms(warm_ns),
        "ratio": statistics.median(first_ns) / statistics.median(warm_ns),
        "new_connections_served_from_memory": from_memory,
        "new_connection_cache_state": b_status[0].get("cache_state") if b_status else None,
        "contention": mon.info(),
    }


# ----------------------------------------------------------------------------------------------
# Part 2: a fresh process
# ----------------------------------------------------------------------------------------------


def part2(paths: dict, qfile: str, dim: int, sims, ex: Exactness, args, res) -> None:
    wait(args, res)
    runs = {"vindex": [], "sqlite-vec": []}
    with common.CpuMonitor() as mon:
        for rep in range(args.fresh_reps):
            qidx = [(rep * 10 + j) % sims.shape[0] for j in range(10)]
            order = ("vindex", "sqlite-vec") if rep % 2 == 0 else ("sqlite-vec", "vindex")
            for eng in order:
                page_in(paths[eng])
                out = run_child({"mode": "first", "engine": eng, "db": paths[eng], "ext": common.ext_path(args.ext),
                                 "sql": KNN, "queries": qfile, "dim": dim, "qidx": qidx})
                for qi, rows in zip(qidx, out.pop("rows")):
                    ex.check(f"part 2 {eng}", rows, sims[qi])
                runs[eng].append(out)
    out = {"runs": runs, "contention": mon.info()}
    for eng, rs in runs.items():
        later = [x for r in rs for x in r["later_ns"]]
        out[eng] = {
            "median_connect_ms": med_ms([r["connect_ns"] for r in rs]),
            "median_first_query_ms": med_ms([r["first_query_ns"] for r in rs]),
            "median_total_ms": med_ms([r["total_ns"] for r in rs]),
            "median_later_ms": med_ms(later),
            "later_ms_by_position": [med_ms([r["later_ns"][j] for r in rs]) for j in range(len(rs[0]["later_ns"]))],
        }
    st = runs["vindex"][-1].get("status") or {}
    out["vindex_status_in_child"] = {k: st.get(k) for k in ("cache_state", "cache_bytes", "cache_used",
                                                            "cache_reloads", "queries_from_memory",
                                                            "queries_from_pages")}
    out["ratio"] = out["vindex"]["median_total_ms"] / out["sqlite-vec"]["median_total_ms"]
    out["ratio_first_query_only"] = out["vindex"]["median_first_query_ms"] / out["sqlite-vec"]["median_first_query_ms"]
    res["part2"] = out


# ----------------------------------------------------------------------------------------------
# Part 3: another connection commits one row
# ----------------------------------------------------------------------------------------------


def part3(path: str, ds: common.Dataset, qfile: str, qblobs, sims, ex: Exactness, args, res) -> None:
    wait(args, res)
    a = common.connect_vindex(path, args.ext)
    warm_up(a, [KNN], qblobs, args.trials, args)
    w = common.connect_vindex(path, args.ext)  # the writer of this process
    w.execute(INSERT_META, (ds.n + 1, qblobs[0], (ds.n + 1) % 100))  # connects its table; a first commit
    a.execute(KNN, (qblobs[0],)).fetchall()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps({"mode": "writer", "db": path, "ext": common.ext_path(args.ext),
                                                  "queries": qfile, "dim": ds.dim})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    modes = ("same process", "other process")
    out = {m: {"after_ms": [], "warm_ms": [], "insert_ms": [], "deltas": []} for m in modes}
    next_rowid = ds.n + 2
    try:
        # one untimed commit from the child first (its connection and its table's first use)
        child.stdin.write(f"{next_rowid} 1\n")
        child.stdin.flush()
        json.loads(child.stdout.readline())
        next_rowid += 1
        a.execute(KNN, (qblobs[0],)).fetchall()
        with common.CpuMonitor() as mon:
            for i in range(args.trials):
                qi = i % len(qblobs)
                q = qblobs[qi]
                for m in (modes if i % 2 == 0 else modes[::-1]):
                    s0 = status(a)
                    if m == "same process":
                        t0 = now()
                        w.execute(INSERT_META, (next_rowid, qblobs[(qi + 7) % len(qblobs)], next_rowid % 100))
                        ins = now() - t0
                    else:
                        child.stdin.write(f"{next_rowid} {(qi + 7) % len(qblobs)}\n")
                        child.stdin.flush()
                        ins = json.loads(child.stdout.readline())["insert_ns"]
                    next_rowid += 1
                    t0 = now()
                    r1 = a.execute(KNN, (q,)).fetchall()
                    t1 = now()
                    r2 = a.execute(KNN, (q,)).fetchall()
                    t2 = now()
                    s1 = status(a)
                    if r1 != r2:
                        ex.bad.append(f"part 3 {m}: the query after the commit and the next one differ")
                    o = out[m]
                    o["after_ms"].append((t1 - t0) / 1e6)
                    o["warm_ms"].append((t2 - t1) / 1e6)
                    o["insert_ms"].append(ins / 1e6)
                    o["deltas"].append(counters_delta(s0, s1))
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    # The rows added are the query vectors themselves (rowid > n): check the answers of one query
    # against the table's contents now, in float64.
    added = a.execute(f"SELECT rowid, embedding FROM t WHERE rowid > {ds.n}").fetchall()
    a.close()
    w.close()
    for m in modes:
        o = out[m]
        o["median_after_ms"] = statistics.median(o["after_ms"])
        o["median_warm_ms"] = statistics.median(o["warm_ms"])
        o["median_insert_ms"] = statistics.median(o["insert_ms"])
        o["ratio"] = o["median_after_ms"] / o["median_warm_ms"]
        tot = {}
        for d in o["deltas"]:
            for k2, v in d.items():
                tot[k2] = tot.get(k2, 0) + v
        o["counter_totals"] = tot
        o["trials"] = len(o["after_ms"])
    out["rows_added"] = len(added)
    out["contention"] = mon.info()
    res["part3"] = out


# ----------------------------------------------------------------------------------------------
# Part 4: RSS with 8 connections vs 1
# ----------------------------------------------------------------------------------------------


def part4(path: str, qfile: str, dim: int, args, res) -> None:
    wait(args, res)
    qidx = list(range(args.rss_queries))
    runs = {1: [], 8: []}
    with common.CpuMonitor() as mon:
        for rep in range(args.rss_reps):
            for n in ((1, 8) if rep % 2 == 0 else (8, 1)):
                page_in(path)
                runs[n].append(run_child({"mode": "rss", "db": path, "ext": common.ext_path(args.ext), "sql": KNN,
                                          "queries": qfile, "dim": dim, "qidx": qidx, "connections": n}))
    out = {"runs": runs, "queries_per_connection": len(qidx), "contention": mon.info()}
    for n, rs in runs.items():
        out[n] = {
            "median_rss": statistics.median(r["after"]["VmRSS"] for r in rs),
            "median_hwm": statistics.median(r["after"]["VmHWM"] for r in rs),
            "median_base_rss": statistics.median(r["base"]["VmRSS"] for r in rs),
            "median_opened_rss": statistics.median(r["opened"]["VmRSS"] for r in rs),
            "cache_bytes": statistics.median(r["status"]["cache_bytes"] for r in rs),
            "cache_used": statistics.median(r["status"]["cache_used"] for r in rs),
            "cache_state": rs[0]["status"]["cache_state"],
            "from_memory_per_connection": rs[0]["per_connection"],
        }
    one, eight = out[1], out[8]
    out["ratio"] = eight["median_rss"] / one["median_rss"]
    out["ratio_over_base"] = (eight["median_rss"] - one["median_base_rss"]) / (one["median_rss"] - one["median_base_rss"])
    out["per_connection_copy_rss_estimate"] = one["median_rss"] + 7 * one["cache_bytes"]
    out["per_connection_copy_ratio"] = out["per_connection_copy_rss_estimate"] / one["median_rss"]
    out["eight_times_cache_bytes"] = 8 * one["cache_bytes"]
    res["part4"] = out


# ----------------------------------------------------------------------------------------------
# Part 5: filtered KNN vs unfiltered
# ----------------------------------------------------------------------------------------------


def part5(path: str, n: int, qblobs, sims, ex: Exactness, args, res) -> None:
    wait(args, res)
    conn = common.connect_vindex(path, args.ext)
    cat = np.arange(1, n + 1) % 100
    nq = min(args.filter_queries, sims.shape[0])
    warm_up(conn, [KNN] + [KNN + " AND " + f[1] for f in FILTERS], qblobs, nq, args)
    out = {}
    for label, cond, mask_of, share in FILTERS:
        sql_f = KNN + " AND " + cond
        mask = mask_of(cat)
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql_f, (qblobs[0],)).fetchall())
        s0 = status(conn)
        f_ns, u_ns = [], []
        with common.CpuMonitor() as mon:
            for i in range(nq):
                q = qblobs[i]

                def filtered():
                    t0 = now()
                    r = conn.execute(sql_f, (q,)).fetchall()
                    f_ns.append(now() - t0)
                    return r

                def unfiltered():
                    t0 = now()
                    conn.execute(KNN, (q,)).fetchall()
                    u_ns.append(now() - t0)

                if i % 2 == 0:
                    r = filtered()
                    unfiltered()
                else:
                    unfiltered()
                    r = filtered()
                ex.check(f"part 5 {label}", r, sims[i], mask)
        s1 = status(conn)
        out[label] = {
            "condition": cond, "share": float(mask.mean()), "target_share": share, "plan": plan,
            "median_filtered_ms": med_ms(f_ns), "median_unfiltered_ms": med_ms(u_ns),
            "ratio": statistics.median(f_ns) / statistics.median(u_ns),
            "ratio_of_sums": sum(f_ns) / sum(u_ns),
            "filtered_ms": [x / 1e6 for x in f_ns], "unfiltered_ms": [x / 1e6 for x in u_ns],
            "counters": counters_delta(s0, s1), "contention": mon.info(),
        }
    conn.close()
    res["part5"] = out


# ----------------------------------------------------------------------------------------------
# Part 6: 1M x 384 vs FAISS
# ----------------------------------------------------------------------------------------------


def part6(tmp: Path, args, res) -> None:
    import faiss

    print(f"part 6: generating {args.n_1m:,} x 384 synthetic clustered vectors (seed {args.seed})", flush=True)
    t0 = time.perf_counter()
    ds = common.synthetic_clustered(args.n_1m, 384, nq=args.nq_1m, seed=args.seed)
    gen_s = time.perf_counter() - t0
    path = args.db_1m or str(tmp / "synthetic-1m.db")
    built = None
    marker = f"{ds.name} seed={args.seed}"
    if args.db_1m and os.path.exists(path):
        try:
            c = sqlite3.connect(path)
            ok = c.execute("SELECT v FROM bench_meta WHERE k = 'dataset'").fetchone()[0] == marker
            c.close()
        except sqlite3.Error:
            ok = False
        if not ok:
            raise SystemExit(f"--db-1m {path} exists but was not built from {marker}: remove it")
        print(f"part 6: reusing {path}", flush=True)
    else:
        print(f"part 6: building {path} (transactions of 100,000 rows)", flush=True)
        built = build("vindex", path, ds, args, with_meta=False, batch=100_000, progress="1M build")
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE bench_meta(k TEXT PRIMARY KEY, v TEXT)")
        c.execute("INSERT INTO bench_meta VALUES ('dataset', ?)", (marker,))
        c.commit()
        c.close()
    page_in(path)

    conn = common.connect_vindex(path, args.ext)
    # Drop whatever the MiniLM parts left in this process's cache, then the default budget.
    conn.execute("SELECT vindex_cache_limit(0)").fetchall()
    conn.execute(f"SELECT vindex_cache_limit({DEFAULT_BUDGET})").fetchall()
    budget = conn.execute("SELECT vindex_cache_limit()").fetchone()[0]
    used_before = status(conn).get("cache_used")

    print("part 6: FAISS IndexFlatIP (1 thread) over the same float32 vectors", flush=True)
    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(ds.dim)
    index.add(ds.base)
    qblobs = common.blobs(ds.queries)
    wait(args, res)

    rss_before = vm_rss()
    t0 = now()
    first_rows = conn.execute(KNN, (qblobs[0],)).fetchall()
    first_ns = now() - t0
    st_first = status(conn)
    t0 = now()
    fD, fI = index.search(ds.queries[0:1], K)
    faiss_first_ns = now() - t0

    v_ns, f_ns, v_rows, f_res = [], [], [first_rows], [(fI[0], fD[0])]
    nq = ds.queries.shape[0]
    print(f"part 6: {nq - 1} queries each, alternating vindex and FAISS", flush=True)
    with common.CpuMonitor() as mon:
        for i in range(1, nq):
            q = qblobs[i]

            def v():
                t0 = now()
                v_rows.append(conn.execute(KNN, (q,)).fetchall())
                v_ns.append(now() - t0)

            def f():
                t0 = now()
                D, I = index.search(ds.queries[i:i + 1], K)
                f_ns.append(now() - t0)
                f_res.append((I[0], D[0]))

            if i % 2:
                v()
                f()
            else:
                f()
                v()
    st = status(conn)
    rss_after = vm_rss()
    conn.close()

    # Exactness vs FAISS's float32 scan: the same rowids in the same order; where the lists
    # differ, the sorted float64 distances of both lists must agree within 1e-6 (a tie).
    identical = tie_only = wrong = 0
    max_d_vs_faiss = 0.0
    max_d_vs_f64 = 0.0
    bad = []
    for qi, (rows, (fi, fd)) in enumerate(zip(v_rows, f_res)):
        vid = np.array([r[0] - 1 for r in rows], dtype=np.int64)
        vd = np.array([r[1] for r in rows], dtype=np.float64)
        q64 = ds.queries[qi].astype(np.float64)
        q64 /= np.linalg.norm(q64)

        def true_d(ids):
            b = ds.base[ids].astype(np.float64)
            return 1.0 - (b @ q64) / np.linalg.norm(b, axis=1)

        fdist = {int(j): 1.0 - float(s) for j, s in zip(fi, fd)}
        for j, d in zip(vid.tolist(), vd.tolist()):
            if j in fdist:
                max_d_vs_faiss = max(max_d_vs_faiss, abs(d - fdist[j]))
        if len(vid) == K:
            max_d_vs_f64 = max(max_d_vs_f64, float(np.max(np.abs(vd - true_d(vid)))))
        if len(vid) == K and np.array_equal(vid, fi.astype(np.int64)):
            identical += 1
        elif len(vid) == K and np.allclose(np.sort(true_d(vid)), np.sort(true_d(fi.astype(np.int64))), rtol=0,
                                           atol=1e-6):
            tie_only += 1
        else:
            wrong += 1
            if len(bad) < 10:
                bad.append({"query": qi, "vindex": (vid + 1).tolist(), "faiss": (fi + 1).tolist()})
    del index
    vq = len(v_ns) / (sum(v_ns) / 1e9)
    fq = len(f_ns) / (sum(f_ns) / 1e9)
    half = len(v_ns) // 2
    res["part6"] = {
        "dataset": ds.describe(), "db": path, "generate_s": gen_s, "build": built,
        "file_bytes": os.path.getsize(path), "budget": budget, "cache_used_before": used_before,
        "vindex_first_query_ms": first_ns / 1e6, "status_after_first": st_first,
        "faiss_first_query_ms": faiss_first_ns / 1e6,
        "vindex": common.summarize_ns(v_ns), "faiss": common.summarize_ns(f_ns),
        "vindex_second_half": common.summarize_ns(v_ns[half:]), "faiss_second_half": common.summarize_ns(f_ns[half:]),
        "vindex_ms": [x / 1e6 for x in v_ns], "faiss_ms": [x / 1e6 for x in f_ns],
        "ratio": vq / fq,
        "ratio_second_half": (common.summarize_ns(v_ns[half:])["qps"] / common.summarize_ns(f_ns[half:])["qps"]),
        "status_after": st,
        "process_rss_before_first_query": rss_before, "process_rss_after": rss_after,
        "cache_bytes_over_limit": st["cache_bytes"] / st["cache_limit"] if st.get("cache_limit") else None,
        "exactness": {"queries": len(v_rows), "identical": identical, "tie_only": tie_only, "wrong": wrong,
                      "max_abs_distance_vs_faiss": max_d_vs_faiss, "max_abs_distance_vs_float64": max_d_vs_f64,
                      "examples": bad},
        "contention": mon.info(),
    }
    if not args.db_1m:
        os.remove(path)


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def report(res: dict, ds: common.Dataset, args) -> list[list]:
    """Print every part's table; returns the rows of the targets table."""
    targets = []
    fm = common.fmt
    if "insert" in res:
        r = res["insert"]
        print(f"\n### Insert {r['rows']:,} MiniLM rows in one transaction into a file db "
              f"(median of {args.insert_reps}, alternating; other procs ≤ {r['other_procs_cores_max']:.2f} cores)")
        print(common.markdown_table(["engine", "rows/s (median)", "min", "max"],
                                    [[e, f"{r[e]['median_rows_per_s']:,.0f}", f"{r[e]['min_rows_per_s']:,.0f}",
                                      f"{r[e]['max_rows_per_s']:,.0f}"] for e in ("vindex", "sqlite-vec")]))
        targets.append(["insert rows/s, vindex / sqlite-vec (higher is better)", r["ratio"], None])
    if "part1" in res:
        r = res["part1"]
        print(f"\n### 1. First query of a new connection while another connection has the table cached "
              f"({len(r['warm_query_ms'])} trials, alternating; other procs {r['contention']['other_procs_cores']})")
        print(common.markdown_table(["", "median ms"], [
            ["first query of the process's first connection (codes read from pages; context)",
             r["first_query_of_first_connection_ms"]],
            ["new connection: connect + load extension (context, not in the ratio)", r["median_connect_ms"]],
            ["new connection: first KNN query", r["median_first_ms"]],
            ["warm connection: same query", r["median_warm_ms"]],
        ]))
        print(f"new connections answered from the shared cache (queries_from_memory = 1, from_pages = 0): "
              f"{r['new_connections_served_from_memory']}/{len(r['warm_query_ms'])}; cache_state "
              f"{r['new_connection_cache_state']}")
        targets.append(["1. new connection's first query / warm query", r["ratio"], TARGETS["new_connection_vs_warm"]])
    if "part2" in res:
        r = res["part2"]
        print(f"\n### 2. Fresh process: connect + load extension + first query, timed inside a child process "
              f"(median of {args.fresh_reps}, alternating; file in the OS page cache; other procs "
              f"{r['contention']['other_procs_cores']})")
        rows = []
        for e in ("vindex", "sqlite-vec"):
            x = r[e]
            rows.append([e, x["median_connect_ms"], x["median_first_query_ms"], x["median_total_ms"],
                         x["median_later_ms"]])
        print(common.markdown_table(["engine", "connect + load ms", "first query ms", "total ms",
                                     "2nd..10th query ms (median)"], rows))
        print("vindex 2nd..10th query by position (median ms): "
              + ", ".join(fm(x) for x in r["vindex"]["later_ms_by_position"]))
        print(f"vindex_status in the child after 10 queries: {r['vindex_status_in_child']}")
        targets.append(["2. fresh process first query (connect→result), vindex / sqlite-vec", r["ratio"],
                        TARGETS["fresh_process_vs_sqlite_vec"]])
        targets.append(["2. the same, query only (without connect + load)", r["ratio_first_query_only"], None])
    if "part3" in res:
        r = res["part3"]
        print(f"\n### 3. After another connection commits one row: the next query vs the warm one after it "
              f"(other procs {r['contention']['other_procs_cores']})")
        rows = []
        for m in ("same process", "other process"):
            x = r[m]
            ct = x["counter_totals"]
            rows.append([f"writer in {m}", x["trials"], x["median_insert_ms"], x["median_after_ms"],
                         x["median_warm_ms"], f"{x['ratio']:.2f}×", ct.get("generation"), ct.get("cache_refreshes"),
                         ct.get("cache_reloads"), ct.get("cache_hits"), ct.get("queries_from_pages")])
        print(common.markdown_table(["commit by", "trials", "writer INSERT ms", "next query ms", "warm query ms",
                                     "ratio", "Δ generation", "Δ cache_refreshes", "Δ cache_reloads",
                                     "Δ cache_hits", "Δ queries_from_pages"], rows))
        targets.append(["3. query after a commit in this process (published) / warm", r["same process"]["ratio"],
                        TARGETS["after_commit_same_process_vs_warm"]])
        targets.append(["3. query after a commit in another process (change log) / warm", r["other process"]["ratio"],
                        TARGETS["after_commit_other_process_vs_warm"]])
    if "part4" in res:
        r = res["part4"]
        print(f"\n### 4. RSS of a child process, each connection running the same {r['queries_per_connection']} "
              f"queries (median of {args.rss_reps})")
        rows = []
        for n in (1, 8):
            x = r[n]
            rows.append([n, x["median_base_rss"] / 2**20, x["median_opened_rss"] / 2**20, x["median_rss"] / 2**20,
                         x["median_hwm"] / 2**20, x["cache_bytes"] / 2**20, x["cache_used"] / 2**20, x["cache_state"]])
        print(common.markdown_table(["connections", "RSS before open MiB", "after open MiB", "after queries MiB",
                                     "peak (VmHWM) MiB", "cache_bytes MiB", "cache_used MiB", "cache_state"], rows))
        print(f"a per-connection copy would hold 8 × cache_bytes = {r['eight_times_cache_bytes'] / 2**20:.1f} MiB: "
              f"RSS ≈ {r['per_connection_copy_rss_estimate'] / 2**20:.1f} MiB, "
              f"{r['per_connection_copy_ratio']:.2f}× the 1-connection RSS")
        targets.append(["4. RSS 8 connections / 1 connection", r["ratio"], TARGETS["rss_8_vs_1"]])
        targets.append(["4. the same, above the RSS before opening", r["ratio_over_base"], None])
        targets.append(["4. per-connection copies (1 conn RSS + 7 × cache_bytes) / 1 conn RSS",
                        r["per_connection_copy_ratio"], None])
    if "part5" in res:
        r = res["part5"]
        print(f"\n### 5. Filtered vs unfiltered KNN, k={K}, category = rowid % 100, "
              f"{len(next(iter(r.values()))['filtered_ms'])} queries each, alternating, warm connection")
        rows = []
        for label, x in r.items():
            rows.append([label, f"{100 * x['share']:.0f} %", x["median_filtered_ms"], x["median_unfiltered_ms"],
                         f"{x['ratio']:.2f}×", f"{x['ratio_of_sums']:.2f}×", x["counters"].get("queries_from_pages"),
                         x["contention"]["other_procs_cores"], verdict(x["ratio"], TARGETS["filtered_vs_unfiltered"])])
        print(common.markdown_table(["filter", "passes", "filtered ms (median)", "unfiltered ms (median)", "ratio",
                                     "ratio of sums", "Δ queries_from_pages", "other procs (cores)", "≤ 1.0×"], rows))
        for label, x in r.items():
            targets.append([f"5. filtered / unfiltered: {label}", x["ratio"], TARGETS["filtered_vs_unfiltered"]])
    if "part6" in res:
        r = res["part6"]
        v, f = r["vindex"], r["faiss"]
        b = r.get("build")
        print(f"\n### 6. {r['dataset']['n']:,} × {r['dataset']['dim']} synthetic, default budget "
              f"({r['budget'] / 2**30:.2f} GiB), {v['count']} queries after the first, alternating with FAISS "
              f"(other procs {r['contention']['other_procs_cores']})")
        if b:
            print(f"built in {b['seconds']:.0f} s ({b['rows_per_s']:,.0f} rows/s, transactions of 100k rows), "
                  f"file {r['file_bytes'] / 1e9:.2f} GB")
        print(common.markdown_table(["engine", "first query ms", "QPS", "p50 ms", "p95 ms",
                                     "QPS second half"], [
            ["vindex", r["vindex_first_query_ms"], v["qps"], v["p50_ms"], v["p95_ms"], r["vindex_second_half"]["qps"]],
            ["FAISS IndexFlatIP (1 thread, 1 query/call)", r["faiss_first_query_ms"], f["qps"], f["p50_ms"],
             f["p95_ms"], r["faiss_second_half"]["qps"]],
        ]))
        st = r["status_after"]
        print("vindex_status after: " + ", ".join(f"{k}={st.get(k)}" for k in (
            "cache_state", "cache_bytes", "cache_used", "cache_limit", "prescan", "queries_from_memory",
            "queries_from_pages")))
        grow = (r["process_rss_after"] - r["process_rss_before_first_query"]) / 2**20
        print(f"this process's RSS grew by {grow:,.0f} MiB over the queries (numpy and FAISS copies of the "
              f"vectors excluded: they were made before); cache_bytes / cache_limit = "
              f"{r['cache_bytes_over_limit']:.2f}")
        e = r["exactness"]
        print(f"answers vs FAISS's float32 scan: {e['identical']}/{e['queries']} identical rowid lists, "
              f"{e['tie_only']} differ only by ties (float64 distances equal within 1e-6), {e['wrong']} wrong; "
              f"max |distance − FAISS's| {e['max_abs_distance_vs_faiss']:.2e}, vs float64 "
              f"{e['max_abs_distance_vs_float64']:.2e}")
        targets.append(["6. 1M QPS, vindex / FAISS flat (queries after the first)", r["ratio"],
                        TARGETS["qps_1m_vs_faiss"]])
        targets.append(["6. the same over the second half of the queries", r["ratio_second_half"], None])
        targets.append(["6. cache_bytes / cache_limit (the budget holds; a check, not an issue target)",
                        r["cache_bytes_over_limit"], ("<=", 1.0)])
    return targets


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None,
                    help="directory with base.f32 [+ queries.f32, meta.json] (default ../shared/data/minilm if "
                         "present, else synthetic clustered data; 'synthetic' forces it)")
    ap.add_argument("--n", type=int, default=None, help="MiniLM rows (default: all, 116,648)")
    ap.add_argument("--nq", type=int, default=1000, help="queries loaded (default 1000)")
    ap.add_argument("--parts", default="insert,1,2,3,4,5,6", help="which parts to run (default all)")
    ap.add_argument("--trials", type=int, default=30, help="trials of parts 1 and 3 (default 30)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up queries of a warm connection (default 20)")
    ap.add_argument("--fresh-reps", type=int, default=7, help="child processes per engine in part 2 (default 7)")
    ap.add_argument("--rss-reps", type=int, default=3, help="child processes per case in part 4 (default 3)")
    ap.add_argument("--rss-queries", type=int, default=20, help="queries per connection in part 4 (default 20)")
    ap.add_argument("--filter-queries", type=int, default=100, help="queries per filter in part 5 (default 100)")
    ap.add_argument("--insert-n", type=int, default=100_000)
    ap.add_argument("--insert-reps", type=int, default=3)
    ap.add_argument("--n-1m", type=int, default=1_000_000, help="rows of the synthetic set of part 6")
    ap.add_argument("--nq-1m", type=int, default=201, help="queries in part 6 (default 201: 1 + 200 timed)")
    ap.add_argument("--db-1m", default=None,
                    help="keep part 6's database at this path and reuse it in later runs (default: temp, removed)")
    ap.add_argument("--tmpdir", default=None, help="where the database files go (default: system temp)")
    ap.add_argument("--seed", type=int, default=42)
    common.add_common_args(ap)
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    if args.dataset is None and not common.DEFAULT_DATASET.is_dir():
        # common's default is ../shared/data/minilm next to the repo; a git worktree sits one
        # or more folders deeper, so look further up before falling back to synthetic data.
        for d in common.REPO_ROOT.parents:
            if (d / "shared" / "data" / "minilm" / "base.f32").exists():
                args.dataset = str(d / "shared" / "data" / "minilm")
                break
    ds = common.load_dataset(args.dataset, args.n, dim=384, nq=args.nq, seed=args.seed)
    if not ds.name.startswith("minilm"):
        print(f"NOTE: {ds.name} is not MiniLM (pass --dataset DIR): parts 1-5 measure synthetic data",
              file=sys.stderr)
    probe_v = common.connect_vindex(":memory:", args.ext)
    probe_s = common.connect_sqlite_vec(":memory:")
    info = common.machine_info(probe_v, probe_s)
    default_limit = probe_v.execute("SELECT vindex_cache_limit()").fetchone()[0]
    probe_v.close()
    probe_s.close()
    common.print_machine(info)
    print(f"data: {ds.source}: {ds.n:,} x {ds.dim}, {ds.queries.shape[0]} queries, k={K}, cosine; "
          f"vindex_cache_limit() = {default_limit:,}")

    tmp = Path(tempfile.mkdtemp(prefix="vindex-cache-", dir=args.tmpdir))
    res: dict = {"vindex_cache_limit_default": default_limit}
    ex = Exactness()
    t_start = time.perf_counter()
    try:
        qfile = str(tmp / "queries.f32")
        ds.queries.tofile(qfile)
        qblobs = common.blobs(ds.queries)
        need_minilm = parts & {"1", "2", "3", "4", "5"}
        sims = None
        if need_minilm or "insert" in parts:
            nqs = max(args.trials, args.fresh_reps * 10, args.filter_queries, args.rss_queries)
            sims = unit64(ds.queries[:nqs]) @ unit64(ds.base).T  # float64 truth for the checked queries
        if "insert" in parts:
            print("insert: 100k rows into vindex and sqlite-vec, alternating", flush=True)
            part_insert(ds, tmp, args, res)
        paths = {"vindex": str(tmp / "minilm-vindex.db"), "sqlite-vec": str(tmp / "minilm-vec0.db")}
        if need_minilm:
            print(f"building the MiniLM tables ({ds.n:,} rows, category = rowid % 100)", flush=True)
            res["build_minilm"] = {e: build(e, paths[e], ds, args, with_meta=True) for e in ("vindex", "sqlite-vec")}
        if "1" in parts:
            print("part 1: new connection vs warm", flush=True)
            part1(paths["vindex"], qblobs, sims, ex, args, res)
        if "2" in parts:
            print("part 2: fresh processes", flush=True)
            part2(paths, qfile, ds.dim, sims, ex, args, res)
        if "4" in parts:
            print("part 4: RSS", flush=True)
            part4(paths["vindex"], qfile, ds.dim, args, res)
        if "5" in parts:
            print("part 5: filters", flush=True)
            part5(paths["vindex"], ds.n, qblobs, sims, ex, args, res)
        if "3" in parts:  # last of the MiniLM parts: it adds rows
            print("part 3: commits by another connection", flush=True)
            part3(paths["vindex"], ds, qfile, qblobs, sims, ex, args, res)
        del sims
        if "6" in parts:
            part6(tmp, args, res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["total_s"] = time.perf_counter() - t_start

    targets = report(res, ds, args)
    errors = list(ex.bad)
    if "part6" in res and res["part6"]["exactness"]["wrong"]:
        errors.append(f"part 6: {res['part6']['exactness']['wrong']} answers differ from FAISS beyond ties")
    if "part6" in res and res["part6"]["exactness"]["max_abs_distance_vs_faiss"] > 1e-6:
        errors.append(f"part 6: distances differ from FAISS's by up to "
                      f"{res['part6']['exactness']['max_abs_distance_vs_faiss']:.2e} (> 1e-6)")
    print(f"\nexactness: {ex.queries} vindex answers of parts 1, 2, 5 checked against float64 "
          f"(tie-aware); max |distance − (1 − cos)| {ex.max_derr:.2e}; {len(ex.bad)} problems")
    print("\n### Targets")
    print(common.markdown_table(["ratio", "value", "target", "verdict"],
                                [[w, f"{v:.2f}×", target_text(t), verdict(v, t)] for w, v, t in targets]))
    la = os.getloadavg()
    print(f"\nload average at end: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; total {res['total_s']:.0f} s")
    for e in errors:
        print(f"ERROR: {e}")
    if not args.no_json:
        payload = {"benchmark": "cache", "args": vars(args), "machine": info, "dataset": ds.describe(),
                   "results": res, "targets": {k: list(v) for k, v in TARGETS.items()},
                   "verdicts": [{"ratio": w, "value": v, "target": target_text(t), "verdict": verdict(v, t)}
                                for w, v, t in targets],
                   "exactness": ex.info(), "errors": errors, "loadavg_end": list(la)}
        print(f"wrote {common.write_results('cache', payload)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
