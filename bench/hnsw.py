#!/usr/bin/env python3
"""HNSW (issue #7): vindex `index=hnsw` vs hnswlib, FAISS IndexHNSWFlat, vectorlite and
sqlite-vec 0.1.10a4's DiskANN, in one run, k = 10, one query per call.

Datasets (`--sizes`, default `minilm,100k`): MiniLM 116,648 x 384 real sentence embeddings
(`--dataset`, default ../shared/data/minilm), `100k` = 100,000 x 128 synthetic clustered, `1m` =
1,000,000 x 128 synthetic clustered (long: ~10 min of builds per engine on 2 cores). Every set is
unit length and searched by cosine. Per dataset:
  * build (M=16, ef_construction=200): vindex `'index=hnsw(...)'` on a filled table with
    vindex_build_threads(1) and (2) (two copies of one file), hnswlib with 1 and 2 threads, FAISS,
    vectorlite (its INSERTs), DiskANN (its INSERTs, rows capped by --diskann-rows);
  * bytes on disk against the raw float32 bytes;
  * every SQLite file searched (vindex, vectorlite, DiskANN) in `--journal` mode (default WAL,
    which the README recommends for many small queries: a statement then takes no file locks
    and checks no journal); vindex is swept again on a copy in `--also-journal` mode (default
    the rollback journal, SQLite's default) for efs up to 48;
  * a recall@10 / QPS sweep over ef_search (vindex `AND ef_search = N`, hnswlib set_ef, FAISS
    efSearch, vectorlite knn_param(v, 10, ef), DiskANN `search_list_size_search`), each query
    timed alone, the engines taking turns every 50 queries (`--block`); QPS at recall >= 0.95
    and >= 0.99 = the first sweep point at or above (no interpolation);
  * a fresh process's first 100 queries at the ef that reaches 0.95 (vindex and DiskANN);
  * incremental INSERT rate into the built table (single-row INSERTs in one transaction) vs
    hnswlib add_items one row per call;
  * churn: delete 50 % of the rows and insert as many, recall at the default ef_search vs a
    fresh build of the final rows;
  * a recall-QPS plot of all engines (PNG, matplotlib).
Targets and verdicts are printed as ratios of numbers measured in this run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

TARGETS = {
    "qps95_vs_hnswlib": 1.0,        # MiniLM and 100k x 128
    "qps99_vs_hnswlib": 1.0,        # 100k x 128
    "first100_vs_diskann": 10.0,
    "build1_vs_hnswlib1": 1.0,      # 100k x 128, lower is better
    "build2_vs_hnswlib1": 0.6,      # 100k x 128, lower is better
    "insert_vs_hnswlib": 0.5,
    "churn_recall": 0.95,
    "churn_vs_fresh": 0.01,         # fresh - churned recall, at most
    "bytes_128": 1.3,
    "bytes_384": 1.15,
}
K = 10
DISKANN_VERSION = "0.1.10a4"
DEFAULT_EFS = "10,12,14,16,18,20,22,24,28,32,40,48,56,64,80,96,128,160,192,256,384,512"


# ----------------------------------------------------------------------------------------------
# Data and ground truth
# ----------------------------------------------------------------------------------------------


def unit32(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    return np.ascontiguousarray(a, dtype=np.float32)


def ground_truth(base: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Exact top-k ids (0-based) by inner product of unit vectors, float32 matmul in blocks
    then the candidates re-ranked in float64."""
    nq = queries.shape[0]
    out = np.empty((nq, k), dtype=np.int64)
    kk = min(base.shape[0], 4 * k)
    for s in range(0, nq, 100):
        q = queries[s:s + 100]
        sims = q @ base.T
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        exact = np.einsum("qd,qkd->qk", q.astype(np.float64), base[part].astype(np.float64))
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        out[s:s + 100] = np.take_along_axis(part, order, axis=1)
    return out


def recall_of(ids: list[list[int]], gt: np.ndarray, qidx: list[int]) -> float:
    """Mean recall@10 (set overlap); `ids` 0-based."""
    hit = 0
    for i, r in zip(qidx, ids):
        hit += len(set(r[:K]) & set(gt[i, :K].tolist()))
    return hit / (K * len(qidx))


class Set:
    """One benchmark dataset: the table's rows, queries, extra rows for inserts and churn."""

    def __init__(self, key: str, ds: common.Dataset, extra: np.ndarray, extra_note: str):
        self.key = key
        self.name = ds.name
        self.source = ds.source
        self.base = unit32(ds.base)
        self.queries = unit32(ds.queries)
        self.extra = unit32(extra)
        self.extra_note = extra_note

    @property
    def n(self):
        return self.base.shape[0]

    @property
    def dim(self):
        return self.base.shape[1]


def load_sets(args) -> list[Set]:
    out = []
    for key in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        if key == "minilm":
            path = args.dataset or find_minilm()
            if path is None:
                print("MiniLM not found (--dataset DIR): skipped", file=sys.stderr)
                continue
            ds = common.load_dataset(path, args.limit or None, nq=args.nq)
            # MiniLM has no spare real rows: inserts use the held-out queries, churn reinserts
            # the deleted vectors under new rowids.
            out.append(Set(key, ds, ds.queries.copy(), "the 1,000 held-out queries (real rows)"))
        elif key in ("100k", "1m"):
            n = 100_000 if key == "100k" else 1_000_000
            if args.limit:
                n = min(n, args.limit - args.limit % 20_000 or 20_000)
            extra_n = max(args.insert_rows, n // 2)
            ds = common.synthetic_clustered(n, 128, nq=args.nq, seed=args.seed)
            more = extra_rows(n, extra_n, args.seed)
            out.append(Set(key, ds, more, "new rows drawn from the same distribution"))
        else:
            raise SystemExit(f"--sizes: unknown set '{key}' (minilm, 100k, 1m)")
    return out


def extra_rows(n: int, extra: int, seed: int) -> np.ndarray:
    """`extra` further rows of synthetic_clustered(n, 128, seed=seed): the same clusters (the
    generator draws rows in blocks of 20,000 from one stream, so the first n of a longer draw
    are the same rows)."""
    total = n + extra
    total += (-total) % 20_000
    ds = common.synthetic_clustered(total, 128, nq=1, seed=seed)
    return ds.base[n:n + extra]


def find_minilm() -> Path | None:
    p = common.DEFAULT_DATASET
    if p.is_dir():
        return p
    for up in Path(__file__).resolve().parents:
        c = up / "shared" / "data" / "minilm"
        if c.is_dir():
            return c
    return None


# ----------------------------------------------------------------------------------------------
# Engines
# ----------------------------------------------------------------------------------------------


def disk_bytes(path: str) -> int:
    return sum(Path(path + s).stat().st_size for s in ("", "-journal", "-wal") if Path(path + s).exists())


def status(conn) -> dict:
    try:
        cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else {}
    except sqlite3.Error as e:
        return {"error": str(e)}


def timed(fn):
    with common.CpuMonitor() as mon:
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
    return dt, r, mon.info()


def at_recall(pts: list[dict], target: float) -> dict | None:
    """The first sweep point (ascending ef) with recall >= target."""
    for p in pts:
        if p["recall"] >= target:
            return p
    return None


# --- vindex ---


def vindex_connect(path, args):
    c = common.connect_vindex(path, args.ext)
    return c


def vindex_load(path: str, s: Set, args) -> dict:
    """A flat table with every row, in one transaction (the bulk build's input)."""
    conn = vindex_connect(path, args)
    conn.execute(f"PRAGMA journal_mode={args.journal}")
    conn.execute(f"CREATE VIRTUAL TABLE t USING vindex(embedding float[{s.dim}] distance=cosine)")
    params = [(i + 1, s.base[i].tobytes()) for i in range(s.n)]

    def go():
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)", params)
        conn.execute("COMMIT")

    dt, _, mon = timed(go)
    conn.close()
    return {"seconds": dt, "contention": mon}


def vindex_build(path: str, threads: int, args) -> dict:
    conn = vindex_connect(path, args)
    conn.execute(f"SELECT vindex_build_threads({threads})").fetchall()
    spec = f"index=hnsw(m={args.m}, ef_construction={args.efc})"
    dt, _, mon = timed(lambda: conn.execute("INSERT INTO t(t) VALUES (?)", (spec,)))
    st = status(conn)
    conn.execute("SELECT vindex_build_threads(0)").fetchall()
    conn.close()
    return {"seconds": dt, "threads": threads, "contention": mon, "status": st, "file_bytes": disk_bytes(path)}


def graph_digest(path: str, args) -> str:
    import hashlib

    conn = vindex_connect(path, args)
    h = hashlib.sha256()
    for row in conn.execute("SELECT * FROM t_hnsw ORDER BY 1, 2"):
        h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()[:16]


def vindex_search_fn(conn):
    sql = "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND ef_search = {}"
    cache: dict[int, str] = {}

    def search(ef, qb):
        q = cache.get(ef)
        if q is None:
            q = cache[ef] = sql.format(ef)
        return [r[0] for r in conn.execute(q, (qb,)).fetchall()]

    return search


# --- fresh process: first 100 queries ---

CHILD = r"""
import json, sqlite3, sys, time
a = json.loads(sys.argv[1])
qs = open(a["queries"], "rb").read()
n = a["dim"] * 4
t0 = time.perf_counter_ns()
c = sqlite3.connect(a["db"], isolation_level=None)
c.enable_load_extension(True)
c.load_extension(a["ext"])
for s in a.get("setup", []):
    c.execute(s).fetchall()
t1 = time.perf_counter_ns()
lat, ids = [], []
for i in range(a["count"]):
    b = qs[i * n:(i + 1) * n]
    s = time.perf_counter_ns()
    r = c.execute(a["sql"], (b,)).fetchall()
    lat.append(time.perf_counter_ns() - s)
    ids.append([x[0] for x in r])
print(json.dumps({"connect_ns": t1 - t0, "lat": lat, "ids": ids}))
"""


def fresh_process(ext: str, db: str, sql: str, qfile: str, dim: int, count: int, setup=()) -> dict:
    # Read the file once so it is in the OS page cache (as for a process started on a server).
    with open(db, "rb") as f:
        while f.read(1 << 24):
            pass
    arg = json.dumps({"ext": ext, "db": db, "sql": sql, "queries": qfile, "dim": dim, "count": count,
                      "setup": list(setup)})
    out = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def first100(name: str, ext: str, db: str, sql: str, qfile: str, s: Set, gt, args, setup=(), id_base=1) -> dict:
    reps = []
    for _ in range(args.fresh_reps):
        reps.append(fresh_process(ext, db, sql, qfile, s.dim, args.first, setup))
    # Median run by total time.
    reps.sort(key=lambda r: sum(r["lat"]))
    r = reps[len(reps) // 2]
    total = sum(r["lat"])
    rec = recall_of([[x - id_base for x in ids] for ids in r["ids"]], gt, list(range(args.first)))
    return {"qps": args.first / (total / 1e9), "first_ms": r["lat"][0] / 1e6, "total_ms": total / 1e6,
            "rest_qps": (args.first - 1) / ((total - r["lat"][0]) / 1e9), "connect_ms": r["connect_ns"] / 1e6,
            "recall": rec, "reps_total_ms": [sum(x["lat"]) / 1e6 for x in reps], "sql": sql}


# --- hnswlib ---


def hnswlib_build(s: Set, threads: int, args, room: int = 0):
    import hnswlib

    idx = hnswlib.Index(space="cosine", dim=s.dim)
    idx.init_index(max_elements=s.n + room, ef_construction=args.efc, M=args.m, random_seed=100)
    idx.set_num_threads(threads)
    ids = np.arange(1, s.n + 1)
    dt, _, mon = timed(lambda: idx.add_items(s.base, ids, num_threads=threads))
    idx.set_num_threads(1)
    return idx, {"seconds": dt, "threads": threads, "contention": mon}


# --- DiskANN (sqlite-vec 0.1.10a4) ---


def diskann_so(args) -> str | None:
    """vec0.so of sqlite-vec 0.1.10a4, installed with `pip install --target` (it conflicts with
    the 0.1.9 pinned in requirements.txt)."""
    target = Path(args.diskann_dir)
    so = target / "sqlite_vec" / "vec0.so"
    if not so.exists():
        print(f"installing sqlite-vec=={DISKANN_VERSION} into {target} (pip --target)", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--target", str(target), f"sqlite-vec=={DISKANN_VERSION}"],
                           capture_output=True, text=True)
        if r.returncode != 0 or not so.exists():
            print(f"could not install sqlite-vec {DISKANN_VERSION}: {r.stderr[-500:]}", file=sys.stderr)
            return None
    return str(so)[:-3]


def diskann_connect(path, so):
    c = sqlite3.connect(path, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(so)
    c.enable_load_extension(False)
    return c


# ----------------------------------------------------------------------------------------------
# One dataset
# ----------------------------------------------------------------------------------------------


def run_set(s: Set, args, tmp: Path, engines: set[str], efs: list[int]) -> dict:
    print(f"\n## {s.key}: {s.source}: {s.n:,} x {s.dim}, {s.queries.shape[0]} queries, k={K}, cosine", flush=True)
    res: dict = {"dataset": {"key": s.key, "name": s.name, "source": s.source, "n": s.n, "dim": s.dim,
                             "raw_bytes": int(s.base.nbytes), "extra_rows": s.extra_note},
                 "build": {}, "bytes": {}, "sweep": {}, "first100": {}, "insert": {}, "churn": {},
           "journal": args.journal}
    t0 = time.perf_counter()
    gt = ground_truth(s.base, s.queries)
    res["ground_truth_s"] = time.perf_counter() - t0
    qfile = str(tmp / f"{s.key}-queries.f32")
    s.queries.tofile(qfile)
    qblobs = [q.tobytes() for q in s.queries]
    raw = s.base.nbytes
    ext = common.ext_path(args.ext)
    m_ins = min(args.insert_rows, s.extra.shape[0])
    searchers: dict = {}   # engine -> (search(ef, qi) -> rowids, gt, efs)
    keep: dict = {}        # objects the searches use

    # ================= builds =================
    if "vindex" in engines:
        a, b = str(tmp / f"{s.key}-vindex-1.db"), str(tmp / f"{s.key}-vindex-2.db")
        print("  vindex: loading rows", flush=True)
        res["build"]["vindex load (flat, 1 txn)"] = vindex_load(a, s, args)
        shutil.copyfile(a, b)
        for path, th in ((a, 1), (b, 2)):
            if args.wait_idle > 0:
                common.wait_idle(args.wait_idle, quiet=True)
            r = vindex_build(path, th, args)
            res["build"][f"vindex {th} thread{'s' if th > 1 else ''}"] = r
            print(f"  vindex build, {th} thread(s): {r['seconds']:.1f} s (other procs "
                  f"{r['contention']['other_procs_cores']})", flush=True)
        res["vindex_same_graph_1_2_threads"] = graph_digest(a, args) == graph_digest(b, args)
        st = res["build"]["vindex 1 thread"]["status"]
        conn = vindex_connect(a, args)
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
        size_built = disk_bytes(a)
        dt, _, _ = timed(lambda: vacuum(a, args))
        res["bytes"]["vindex"] = {"file_after_build": size_built, "freelist_after_build": free,
                                  "file_after_vacuum": disk_bytes(a), "vacuum_s": dt,
                                  "bytes_on_disk": st.get("bytes_on_disk"), "raw": raw}
        print(f"  vindex bytes: file {disk_bytes(a) / raw:.3f}x raw after VACUUM, bytes_on_disk "
              f"{(st.get('bytes_on_disk') or 0) / raw:.3f}x", flush=True)
        conn = vindex_connect(a, args)
        keep["vindex"] = conn
        vsearch = vindex_search_fn(conn)
        # Warm: every query once (codes, graph leaves and the rescored vectors in the cache).
        for qb in qblobs:
            vsearch(64, qb)
        searchers["vindex"] = (lambda ef, qi: vsearch(ef, qblobs[qi]), gt, efs)
        if args.also_journal and args.also_journal.lower() != args.journal.lower():
            c_ = str(tmp / f"{s.key}-vindex-{args.also_journal}.db")
            shutil.copyfile(a, c_)
            conn2 = vindex_connect(c_, args)
            conn2.execute(f"PRAGMA journal_mode={args.also_journal}")
            keep["vindex_alt"] = conn2
            vsearch2 = vindex_search_fn(conn2)
            for qb in qblobs:
                vsearch2(64, qb)
            searchers[f"vindex ({args.also_journal} journal)"] = (lambda ef, qi: vsearch2(ef, qblobs[qi]), gt,
                                                                   [e for e in efs if e <= 48])

    if "hnswlib" in engines:
        if args.wait_idle > 0:
            common.wait_idle(args.wait_idle, quiet=True)
        idx2, r2 = hnswlib_build(s, 2, args)
        res["build"]["hnswlib 2 threads"] = r2
        del idx2
        if args.wait_idle > 0:
            common.wait_idle(args.wait_idle, quiet=True)
        idx, r1 = hnswlib_build(s, 1, args, room=m_ins)
        res["build"]["hnswlib 1 thread"] = r1
        print(f"  hnswlib build: 1 thread {r1['seconds']:.1f} s, 2 threads {r2['seconds']:.1f} s", flush=True)
        p = tmp / f"{s.key}-hnswlib.bin"
        idx.save_index(str(p))
        res["bytes"]["hnswlib"] = {"index_file": p.stat().st_size, "raw": raw}
        p.unlink()
        keep["hnswlib"] = idx

        def hs(ef, qi):
            if idx.ef != ef:
                idx.set_ef(ef)
            labels, _ = idx.knn_query(s.queries[qi:qi + 1], k=K, num_threads=1)
            return labels[0].tolist()

        searchers["hnswlib"] = (hs, gt, efs)

    if "faiss" in engines:
        import faiss

        if args.wait_idle > 0:
            common.wait_idle(args.wait_idle, quiet=True)
        faiss.omp_set_num_threads(args.faiss_build_threads)
        index = faiss.IndexHNSWFlat(s.dim, args.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.efc
        dt, _, mon = timed(lambda: index.add(s.base))
        res["build"][f"faiss IndexHNSWFlat {args.faiss_build_threads} thread(s)"] = {
            "seconds": dt, "threads": args.faiss_build_threads, "contention": mon}
        print(f"  faiss build ({args.faiss_build_threads} threads): {dt:.1f} s", flush=True)
        faiss.omp_set_num_threads(1)
        keep["faiss"] = index

        def fs(ef, qi):
            index.hnsw.efSearch = ef
            _, labels = index.search(s.queries[qi:qi + 1], K)
            return [int(x) + 1 for x in labels[0]]

        searchers["faiss"] = (fs, gt, efs)

    if "vectorlite" in engines:
        import vectorlite_py

        if args.wait_idle > 0:
            common.wait_idle(args.wait_idle, quiet=True)
        vp = str(tmp / f"{s.key}-vectorlite.db")
        vconn = sqlite3.connect(vp, isolation_level=None)
        vconn.enable_load_extension(True)
        vconn.load_extension(vectorlite_py.vectorlite_path())
        vconn.execute(f"PRAGMA journal_mode={args.journal}")
        res["vectorlite_info"] = vconn.execute("SELECT vectorlite_info()").fetchone()[0]
        vconn.execute(f"CREATE VIRTUAL TABLE t USING vectorlite(embedding float32[{s.dim}] cosine, "
                      f"hnsw(max_elements={s.n}, ef_construction={args.efc}, M={args.m}))")
        params = [(i + 1, s.base[i].tobytes()) for i in range(s.n)]

        def go():
            vconn.execute("BEGIN")
            vconn.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)", params)
            vconn.execute("COMMIT")

        dt, _, mon = timed(go)
        del params
        res["build"]["vectorlite (INSERTs, 1 thread)"] = {"seconds": dt, "threads": 1, "contention": mon}
        print(f"  vectorlite build: {dt:.1f} s", flush=True)
        res["bytes"]["vectorlite"] = {"file": disk_bytes(vp), "raw": raw,
                                      "note": "index kept in memory only (no index_file_path)"}
        keep["vectorlite"] = vconn
        vl_sql = "SELECT rowid FROM t WHERE knn_search(embedding, knn_param(?, 10, {}))"

        def vls(ef, qi):
            return [r[0] for r in vconn.execute(vl_sql.format(ef), (qblobs[qi],)).fetchall()]

        searchers["vectorlite"] = (vls, gt, efs)

    dk = None
    if "diskann" in engines:
        so = diskann_so(args)
        if so:
            dk = diskann_build(s, so, args, tmp, res)
            searchers["sqlite-vec DiskANN"] = (dk["search"], dk["gt"], [e for e in efs if e >= K])

    # ================= repeated builds (min of --build-reps, vindex and hnswlib alternating) =================
    if args.build_reps > 1 and "vindex" in engines:
        scratch = str(tmp / f"{s.key}-vindex-scratch.db")
        for rep in range(1, args.build_reps):
            for th in (1, 2):
                if args.wait_idle > 0:
                    common.wait_idle(args.wait_idle, quiet=True)
                vindex_load(scratch, s, args)
                r = vindex_build(scratch, th, args)
                os.remove(scratch)
                key_ = f"vindex {th} thread{'s' if th > 1 else ''}"
                res["build"][key_].setdefault("all_seconds", [res["build"][key_]["seconds"]]).append(r["seconds"])
                print(f"  vindex build, {th} thread(s), rep {rep + 1}: {r['seconds']:.1f} s", flush=True)
                if "hnswlib" in engines:
                    if args.wait_idle > 0:
                        common.wait_idle(args.wait_idle, quiet=True)
                    _, rh = hnswlib_build(s, th, args)
                    key_ = f"hnswlib {th} thread{'s' if th > 1 else ''}"
                    res["build"][key_].setdefault("all_seconds", [res["build"][key_]["seconds"]]).append(rh["seconds"])
                    print(f"  hnswlib build, {th} thread(s), rep {rep + 1}: {rh['seconds']:.1f} s", flush=True)
        for b_ in res["build"].values():
            if "all_seconds" in b_:
                b_["seconds"] = min(b_["all_seconds"])

    # ================= sweeps, engines interleaved at each ef =================
    if args.wait_idle > 0:
        common.wait_idle(args.wait_idle, quiet=True)
    print("  sweep (engines interleaved at each ef)", flush=True)
    active = list(searchers)
    for name in active:
        res["sweep"][name] = []
    for ef in efs:
        here = {name: searchers[name] for name in active if ef in searchers[name][2]}
        for name, pt in sweep_round(here, ef, s, args).items():
            res["sweep"][name].append(pt)
            if pt["recall"] >= args.stop_recall:
                active.remove(name)
        if not active:
            break
    for name in ("faiss", "vectorlite", "hnswlib_keep"):
        keep.pop(name, None)
    if "vindex_alt" in keep:
        keep.pop("vindex_alt").close()

    # ================= first queries of a fresh process =================
    if "vindex" in engines:
        res["vindex_status_after_sweep"] = status(keep["vindex"])
        default_ef = int(json.loads(res["vindex_status_after_sweep"].get("index_params") or "{}").get("ef_search", 40))
        res["vindex_default_ef"] = default_ef
        keep.pop("vindex").close()
        p95 = at_recall(res["sweep"]["vindex"], 0.95)
        ef95 = p95["ef"] if p95 else max(efs)
        sql = f"SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND ef_search = {ef95}"
        r = first100("vindex", ext, a, sql, qfile, s, gt, args)
        r["ef"] = ef95
        res["first100"]["vindex (fresh process)"] = r
        conn = vindex_connect(a, args)
        lat, out, _ = common.time_each(lambda qi: [x[0] for x in conn.execute(sql, (qblobs[qi],)).fetchall()],
                                       range(args.first))
        conn.close()
        res["first100"]["vindex (new connection, same process)"] = {
            "qps": args.first / (sum(lat) / 1e9), "first_ms": lat[0] / 1e6, "ef": ef95,
            "recall": recall_of([[x - 1 for x in r] for r in out], gt, list(range(args.first)))}
    if dk:
        p95 = at_recall(res["sweep"]["sqlite-vec DiskANN"], 0.95)
        L = p95["ef"] if p95 else max(efs)
        sql = "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10"
        r = first100("diskann", dk["so"], dk["path"], sql, qfile, s, dk["gt"], args,
                     setup=[f"INSERT INTO t(t) VALUES ('search_list_size_search={L}')"])
        r["ef"], r["rows"] = L, dk["rows"]
        res["first100"]["sqlite-vec DiskANN (fresh process)"] = r
        dk["conn"].close()
        os.remove(dk["path"])
    for k_, v in res["first100"].items():
        print(f"  {k_}: first {args.first} queries {v['qps']:,.0f} QPS (first query {v['first_ms']:.1f} ms, "
              f"recall {v['recall']:.3f})", flush=True)

    # ================= incremental inserts =================
    if "vindex" in engines:
        rows = [(s.n + 1 + i, s.extra[i].tobytes()) for i in range(m_ins)]
        conn = vindex_connect(b, args)
        # Steady state, as hnswlib's index in memory: the graph and codes loaded by queries.
        for qb in qblobs:
            conn.execute("SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10", (qb,)).fetchall()

        def ins():
            conn.execute("BEGIN")
            for r in rows:
                conn.execute("INSERT INTO t(rowid, embedding) VALUES (?, ?)", r)
            conn.execute("COMMIT")

        if args.wait_idle > 0:
            common.wait_idle(args.wait_idle, quiet=True)
        dt, _, mon = timed(ins)
        conn.close()
        res["insert"]["vindex"] = {"rows": m_ins, "seconds": dt, "rows_per_s": m_ins / dt, "contention": mon}
        print(f"  vindex insert: {m_ins / dt:,.0f} rows/s", flush=True)
        os.remove(b)
    if "hnswlib" in engines:
        idx = keep.pop("hnswlib")
        ids = np.arange(s.n + 1, s.n + 1 + m_ins)

        def add():
            for i in range(m_ins):
                idx.add_items(s.extra[i:i + 1], ids[i:i + 1], num_threads=1)

        dt, _, mon = timed(add)
        res["insert"]["hnswlib"] = {"rows": m_ins, "seconds": dt, "rows_per_s": m_ins / dt, "contention": mon}
        print(f"  hnswlib add_items one at a time: {m_ins / dt:,.0f} rows/s", flush=True)
        del idx

    # ================= churn =================
    if "vindex" in engines and not args.no_churn:
        res["churn"]["vindex"] = vindex_churn(a, s, gt, args, tmp, res["vindex_default_ef"])
    return res


def sweep_round(engines: dict, ef: int, s: Set, args) -> dict:
    """One sweep point of every engine in `engines` (name -> (search(ef, qi), gt, efs)), the
    engines taking turns every `--block` queries (the first engine of each block rotating), each
    call timed alone: the machine's speed drifts over seconds, and engines that each ran their
    whole point in one go were measured at different speeds. Python's garbage collector is off
    while the point runs. A point stops after `--budget` seconds of its engine's calls once
    `--min-queries` ran."""
    names = list(engines)
    nq = s.queries.shape[0]
    for name in names:
        fn = engines[name][0]
        for i in range(args.warmup):
            fn(ef, i % nq)
    lat = {n: [] for n in names}
    res = {n: [] for n in names}
    cpu = {n: 0 for n in names}
    spent = {n: 0 for n in names}
    live = list(names)
    # Python's cyclic garbage collector would stop whichever engine is running for tens of
    # milliseconds (a full collection of the sweep's result lists): it runs between points.
    gc.collect()
    gc.disable()
    with common.CpuMonitor() as mon:
        for b, start in enumerate(range(0, nq, args.block)):
            block = range(start, min(start + args.block, nq))
            turn = live[b % len(live):] + live[:b % len(live)] if live else []
            for name in turn:
                fn = engines[name][0]
                c0 = time.thread_time_ns()
                for qi in block:
                    t0 = time.perf_counter_ns()
                    r = fn(ef, qi)
                    t1 = time.perf_counter_ns()
                    lat[name].append(t1 - t0)
                    res[name].append(r)
                    spent[name] += t1 - t0
                cpu[name] += time.thread_time_ns() - c0
            live = [n for n in live if not (spent[n] > args.budget * 1e9 and len(lat[n]) >= args.min_queries)]
            if not live:
                break
    gc.enable()
    other = mon.info()["other_procs_cores"]
    out = {}
    for name in names:
        st = common.summarize_ns(lat[name], cpu[name])
        r = recall_of([[x - 1 for x in ids] for ids in res[name]], engines[name][1], list(range(len(res[name]))))
        out[name] = {"ef": ef, "recall": r, "qps": st["qps"], "qps_cpu": st.get("qps_cpu"), "p50_ms": st["p50_ms"],
                     "p95_ms": st["p95_ms"], "queries": len(res[name]),
                     "short": sum(1 for ids in res[name] if len(ids) < K), "other_procs": other}
        print(f"    {name:>18} ef={ef:<4} recall={r:.4f} qps={st['qps']:>9,.0f} p50={st['p50_ms']:.3f} ms"
              f" other={other}", flush=True)
    return out


def vacuum(path, args):
    c = vindex_connect(path, args)
    c.execute("VACUUM")
    c.close()


def vindex_churn(path: str, s: Set, gt, args, tmp: Path, default_ef: int) -> dict:
    """Delete every other row, insert as many rows; recall at the default ef_search (and 2x it)
    against exact search over the final rows, then the same after a fresh build of those rows."""
    c_path = str(tmp / f"{s.key}-vindex-churn.db")
    shutil.copyfile(path, c_path)
    conn = vindex_connect(c_path, args)
    n = s.n
    gone = np.arange(2, n + 1, 2)  # rowids deleted
    m = len(gone)
    if s.key == "minilm":
        # No spare real rows: the deleted vectors come back under new rowids.
        new_vecs = s.base[gone - 1]
    else:
        new_vecs = s.extra[:m]
    new_ids = np.arange(n + 1, n + 1 + m)

    def churn():
        conn.execute("BEGIN")
        conn.executemany("DELETE FROM t WHERE rowid = ?", [(int(r),) for r in gone])
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)",
                         [(int(i), v.tobytes()) for i, v in zip(new_ids, new_vecs)])
        conn.execute("COMMIT")

    print(f"  vindex churn: deleting {m:,} rows and inserting {m:,}", flush=True)
    dt, _, mon = timed(churn)
    keep = np.arange(1, n + 1, 2)
    rowids = np.concatenate([keep, new_ids])
    vecs = np.concatenate([s.base[keep - 1], new_vecs])
    gt2 = ground_truth(vecs, s.queries)
    gt2_rowids = rowids[gt2]
    qblobs = [q.tobytes() for q in s.queries]

    def rec(ef):
        sql = f"SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND ef_search = {ef}"
        hit = 0
        for i, qb in enumerate(qblobs):
            got = {r[0] for r in conn.execute(sql, (qb,)).fetchall()}
            hit += len(got & set(gt2_rowids[i].tolist()))
        return hit / (K * len(qblobs))

    out = {"deleted": m, "inserted": m, "seconds": dt, "contention": mon, "default_ef": default_ef}
    out["status_after"] = status(conn)
    out["recall_churned"] = rec(default_ef)
    out["recall_churned_2x_ef"] = rec(2 * default_ef)
    conn.execute("INSERT INTO t(t) VALUES ('optimize')")
    out["recall_after_optimize"] = rec(default_ef)
    conn.execute(f"SELECT vindex_build_threads({args.threads_max})").fetchall()
    t0 = time.perf_counter()
    conn.execute("INSERT INTO t(t) VALUES ('rebuild')")
    out["rebuild_s"] = time.perf_counter() - t0
    out["recall_fresh"] = rec(default_ef)
    out["recall_fresh_2x_ef"] = rec(2 * default_ef)
    conn.close()
    os.remove(c_path)
    print(f"  vindex churn: recall@10 at ef_search {default_ef}: churned {out['recall_churned']:.4f}, after "
          f"optimize {out['recall_after_optimize']:.4f}, fresh build {out['recall_fresh']:.4f}", flush=True)
    return out


def diskann_build(s: Set, so: str, args, tmp: Path, res: dict) -> dict:
    rows = s.n if args.diskann_rows <= 0 else min(args.diskann_rows, s.n)
    gt = ground_truth(s.base[:rows], s.queries) if rows < s.n else ground_truth(s.base, s.queries)
    if args.wait_idle > 0:
        common.wait_idle(args.wait_idle, quiet=True)
    p = str(tmp / f"{s.key}-diskann.db")
    conn = diskann_connect(p, so)
    conn.execute(f"PRAGMA journal_mode={args.journal}")
    res["diskann_version"] = conn.execute("SELECT vec_version()").fetchone()[0]
    res["diskann_vec_debug"] = conn.execute("SELECT vec_debug()").fetchone()[0]
    conn.execute(f"CREATE VIRTUAL TABLE t USING vec0(embedding float[{s.dim}] distance_metric=cosine indexed by "
                 f"diskann(neighbor_quantizer=binary, n_neighbors=72, search_list_size=128))")
    params = [(i + 1, s.base[i].tobytes()) for i in range(rows)]
    print(f"  diskann: inserting {rows:,} rows (of {s.n:,})", flush=True)

    def go():
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)", params)
        conn.execute("COMMIT")

    dt, _, mon = timed(go)
    res["build"]["sqlite-vec DiskANN (INSERTs, 1 thread)"] = {"seconds": dt, "rows": rows, "threads": 1,
                                                             "contention": mon}
    res["bytes"]["sqlite-vec DiskANN"] = {"file": disk_bytes(p), "raw": rows * s.dim * 4, "rows": rows}
    res["diskann_rows"] = rows
    print(f"  diskann build: {dt:.1f} s for {rows:,} rows ({disk_bytes(p) / (rows * s.dim * 4):.2f}x raw on disk)",
          flush=True)
    qblobs = [q.tobytes() for q in s.queries]
    cur_l = [None]

    def search(L, qi):
        L = max(L, K)
        if cur_l[0] != L:
            conn.execute("INSERT INTO t(t) VALUES (?)", (f"search_list_size_search={L}",))
            cur_l[0] = L
        return [r[0] for r in conn.execute("SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10",
                                           (qblobs[qi],)).fetchall()]

    return {"so": so, "path": p, "conn": conn, "rows": rows, "gt": gt, "search": search}


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def report(all_res: dict, args) -> list[list]:
    verdicts = []
    for key, r in all_res.items():
        d = r["dataset"]
        print(f"\n### {key}: {d['n']:,} x {d['dim']} ({d['source']})")
        rows = []
        for eng, pts in r["sweep"].items():
            p95, p99 = at_recall(pts, 0.95), at_recall(pts, 0.99)
            best = max(p["recall"] for p in pts)
            rows.append([eng, p95 and p95["ef"], p95 and p95["qps"], p95 and f"{p95['recall']:.4f}",
                         p99 and p99["ef"], p99 and p99["qps"], p99 and f"{p99['recall']:.4f}", f"{best:.4f}",
                         max((p["other_procs"] or 0) for p in pts)])
        print(common.markdown_table(["engine", "ef @0.95", "QPS @0.95", "recall", "ef @0.99", "QPS @0.99", "recall",
                                     "best recall", "other procs (max)"], rows))
        rows = []
        for eng, b in r["build"].items():
            rows.append([eng, b["seconds"], b.get("threads"), b.get("rows", d["n"]), b["contention"]["other_procs_cores"]])
        print()
        print(common.markdown_table(["build", "seconds", "threads", "rows", "other procs"], rows))
        rows = []
        for eng, b in r["bytes"].items():
            if eng == "vindex":
                rows.append([eng + " (file after VACUUM)", b["file_after_vacuum"] / 1e6, f"{b['file_after_vacuum'] / b['raw']:.3f}×"])
                rows.append([eng + " (file after build, before VACUUM)", b["file_after_build"] / 1e6,
                             f"{b['file_after_build'] / b['raw']:.3f}×"])
                if b.get("bytes_on_disk"):
                    rows.append([eng + " (vindex_status.bytes_on_disk)", b["bytes_on_disk"] / 1e6,
                                 f"{b['bytes_on_disk'] / b['raw']:.3f}×"])
            else:
                v = b.get("file", b.get("index_file"))
                rows.append([eng + (f" ({b['rows']:,} rows)" if "rows" in b else ""), v / 1e6, f"{v / b['raw']:.3f}×"])
        print()
        print(common.markdown_table(["bytes", "MB", "/ raw float32"], rows))
        if r["first100"]:
            print()
            print(common.markdown_table(
                [f"first {args.first} queries", "ef / L", "QPS", "first query ms", "recall"],
                [[k_, v.get("ef"), v["qps"], v["first_ms"], f"{v['recall']:.3f}"] for k_, v in r["first100"].items()]))
        if r["insert"]:
            print()
            print(common.markdown_table(["incremental insert", "rows", "rows/s", "other procs"],
                                        [[k_, v["rows"], v["rows_per_s"], v["contention"]["other_procs_cores"]]
                                         for k_, v in r["insert"].items()]))
        ch = r["churn"].get("vindex")
        if ch:
            print()
            print(common.markdown_table(
                ["vindex churn (50 % deleted + as many inserted)", "recall@10"],
                [[f"after churn, ef_search {ch['default_ef']}", f"{ch['recall_churned']:.4f}"],
                 [f"after churn, ef_search {2 * ch['default_ef']}", f"{ch['recall_churned_2x_ef']:.4f}"],
                 ["after churn + 'optimize'", f"{ch['recall_after_optimize']:.4f}"],
                 [f"fresh build of the same rows, ef_search {ch['default_ef']}", f"{ch['recall_fresh']:.4f}"],
                 [f"fresh build, ef_search {2 * ch['default_ef']}", f"{ch['recall_fresh_2x_ef']:.4f}"]]))

        # Verdicts.
        sw = r["sweep"]
        def q(eng, t):
            p = at_recall(sw.get(eng, []), t)
            return p["qps"] if p else None

        def ratio(a, b):
            return a / b if a and b else None

        if key in ("minilm", "100k", "1m"):
            verdicts.append([key, "QPS @ recall ≥ 0.95 / hnswlib", ratio(q("vindex", 0.95), q("hnswlib", 0.95)),
                             TARGETS["qps95_vs_hnswlib"] if key != "1m" else None, True])
            verdicts.append([key, "QPS @ recall ≥ 0.99 / hnswlib", ratio(q("vindex", 0.99), q("hnswlib", 0.99)),
                             TARGETS["qps99_vs_hnswlib"] if key == "100k" else None, True])
            for alt in [e for e in sw if e.startswith("vindex (")]:
                verdicts.append([key, f"QPS @ recall ≥ 0.95 / hnswlib, {alt}", ratio(q(alt, 0.95), q("hnswlib", 0.95)),
                                 None, True])
                verdicts.append([key, f"QPS @ recall ≥ 0.99 / hnswlib, {alt}", ratio(q(alt, 0.99), q("hnswlib", 0.99)),
                                 None, True])
            verdicts.append([key, "QPS @ recall ≥ 0.95 / FAISS HNSW", ratio(q("vindex", 0.95), q("faiss", 0.95)), None, True])
            verdicts.append([key, "QPS @ recall ≥ 0.95 / vectorlite", ratio(q("vindex", 0.95), q("vectorlite", 0.95)),
                             None, True])
            verdicts.append([key, "QPS @ recall ≥ 0.95 / sqlite-vec DiskANN",
                             ratio(q("vindex", 0.95), q("sqlite-vec DiskANN", 0.95)), None, True])
        f = r["first100"]
        fv, fd = f.get("vindex (fresh process)"), f.get("sqlite-vec DiskANN (fresh process)")
        verdicts.append([key, f"first {args.first} queries of a fresh process, QPS / DiskANN's",
                         ratio(fv and fv["qps"], fd and fd["qps"]), TARGETS["first100_vs_diskann"], True])
        fs = f.get("vindex (new connection, same process)")
        verdicts.append([key, f"first {args.first} queries of a new connection (same process) / DiskANN's",
                         ratio(fs and fs["qps"], fd and fd["qps"]), None, True])
        b = r["build"]
        v1, v2 = b.get("vindex 1 thread"), b.get("vindex 2 threads")
        h1, h2 = b.get("hnswlib 1 thread"), b.get("hnswlib 2 threads")
        tgt = key == "100k"
        verdicts.append([key, "build time, vindex 1 thread / hnswlib 1 thread",
                         ratio(v1 and v1["seconds"], h1 and h1["seconds"]), TARGETS["build1_vs_hnswlib1"] if tgt else None,
                         False])
        verdicts.append([key, "build time, vindex 2 threads / hnswlib 1 thread",
                         ratio(v2 and v2["seconds"], h1 and h1["seconds"]), TARGETS["build2_vs_hnswlib1"] if tgt else None,
                         False])
        verdicts.append([key, "build time, vindex 2 threads / hnswlib 2 threads",
                         ratio(v2 and v2["seconds"], h2 and h2["seconds"]), None, False])
        ins = r["insert"]
        verdicts.append([key, "incremental INSERT rows/s / hnswlib add rate",
                         ratio(ins.get("vindex", {}).get("rows_per_s"), ins.get("hnswlib", {}).get("rows_per_s")),
                         TARGETS["insert_vs_hnswlib"], True])
        if ch:
            verdicts.append([key, "recall@10 after 50 % churn (absolute)", ch["recall_churned"],
                             TARGETS["churn_recall"], True])
            verdicts.append([key, "fresh-build recall − churned recall (absolute)",
                             ch["recall_fresh"] - ch["recall_churned"], TARGETS["churn_vs_fresh"], False])
        by = r["bytes"].get("vindex")
        if by:
            t = TARGETS["bytes_128"] if d["dim"] == 128 else TARGETS["bytes_384"] if d["dim"] == 384 else None
            verdicts.append([key, "file bytes (after VACUUM) / raw float32", by["file_after_vacuum"] / by["raw"], t, False])
            if by.get("bytes_on_disk"):
                verdicts.append([key, "vindex_status.bytes_on_disk / raw float32", by["bytes_on_disk"] / by["raw"], t,
                                 False])
    print("\n### Targets (ratios measured in this run)")
    rows = []
    for key, what, val, tgt, hib in verdicts:
        absolute = "absolute" in what
        if val is None:
            rows.append([key, what, "-", "-", "n/a"])
        elif tgt is None:
            rows.append([key, what, f"{val:.2f}×", "-", "(context)"])
        else:
            ok = val >= tgt if hib else val <= tgt
            vs = f"{val:.4f}" if absolute else f"{val:.2f}×"
            ts = ("≥ " if hib else "≤ ") + (f"{tgt:g}" if absolute else f"{tgt:g}×")
            rows.append([key, what, vs, ts, "PASS" if ok else "MISS"])
    print(common.markdown_table(["data", "measure", "value", "target", "verdict"], rows))
    return rows


def plot(all_res: dict, path: Path, info: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(all_res)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 4.2), squeeze=False)
    style = {"vindex": ("#d62728", "o"), "hnswlib": ("#1f77b4", "s"), "faiss": ("#2ca02c", "^"),
             "vectorlite": ("#9467bd", "v"), "sqlite-vec DiskANN": ("#8c564b", "D")}
    for ax, key in zip(axes[0], keys):
        r = all_res[key]
        d = r["dataset"]
        for eng, pts in r["sweep"].items():
            c, mk = style.get(eng, ("#ff9896", "o") if eng.startswith("vindex (") else ("k", "."))
            label = f"vindex ({r['journal']} journal)" if eng == "vindex" and r.get("journal") else eng
            if eng == "sqlite-vec DiskANN" and r.get("diskann_rows", d["n"]) < d["n"]:
                label += f" ({r['diskann_rows']:,} rows)"
            ax.plot([p["recall"] for p in pts], [p["qps"] for p in pts], marker=mk, color=c, label=label, ms=4, lw=1.3)
        ax.set_yscale("log")
        ax.axvline(0.95, color="grey", lw=0.6, ls="--")
        ax.axvline(0.99, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 query per call, 1 thread)")
        ax.set_title(f"{key}: {d['n']:,} × {d['dim']}", fontsize=10)
        lo = min(p["recall"] for pts in r["sweep"].values() for p in pts)
        ax.set_xlim(left=max(0.85, lo - 0.01), right=1.001)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"HNSW, k = 10, M = 16, ef_construction = 200; {info.get('cpu_model')}, "
                 f"{info.get('nproc')} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None, help="MiniLM directory (default ../shared/data/minilm, searched upwards)")
    ap.add_argument("--sizes", default="minilm,100k", help="comma list of minilm, 100k, 1m (default minilm,100k)")
    ap.add_argument("--engines", default="vindex,hnswlib,faiss,vectorlite,diskann")
    ap.add_argument("--nq", type=int, default=1000, help="queries per sweep point (default 1000)")
    ap.add_argument("--efs", default=DEFAULT_EFS, help=f"ef_search sweep (default {DEFAULT_EFS})")
    ap.add_argument("--stop-recall", type=float, default=0.998, help="stop a sweep after this recall (default 0.998)")
    ap.add_argument("--journal", default="wal", help="journal mode of the SQLite files searched (default wal)")
    ap.add_argument("--also-journal", default="delete",
                    help="vindex is swept again in this journal mode, efs up to 48 (default delete; '' for none)")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--budget", type=float, default=15.0, help="seconds per sweep point once --min-queries ran")
    ap.add_argument("--block", type=int, default=50, help="queries an engine runs before the next one's turn (default 50)")
    ap.add_argument("--min-queries", type=int, default=300)
    ap.add_argument("--first", type=int, default=100, help="queries of a fresh process timed (default 100)")
    ap.add_argument("--fresh-reps", type=int, default=3, help="fresh processes per engine (median; default 3)")
    ap.add_argument("--insert-rows", type=int, default=1000, help="rows for the incremental insert rate")
    ap.add_argument("--no-churn", action="store_true")
    ap.add_argument("--build-reps", type=int, default=2,
                    help="builds of vindex and hnswlib (1 and 2 threads), alternating; the fastest counts (default 2)")
    ap.add_argument("--threads-max", type=int, default=2, help="threads of the churn test's fresh build")
    ap.add_argument("--faiss-build-threads", type=int, default=2)
    ap.add_argument("--diskann-rows", type=int, default=20_000,
                    help="rows given to sqlite-vec's DiskANN (its build runs ~180 rows/s at 384-d; 0 = all)")
    ap.add_argument("--diskann-dir", default=str(common.BENCH_DIR / ".venv" / f"sqlite-vec-{DISKANN_VERSION}"),
                    help="where sqlite-vec 0.1.10a4 is installed with pip --target")
    ap.add_argument("--limit", type=int, default=0, help="at most this many rows per set (smoke tests; "
                    "synthetic sets round down to a multiple of 20,000)")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--plot", default=None, help="PNG path (default bench/results/hnsw-<stamp>.png)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--replot", default=None, metavar="JSON", help="only redraw the plot of a results file")
    common.add_common_args(ap)
    args = ap.parse_args()
    if args.replot:
        rec = json.loads(Path(args.replot).read_text())
        png = Path(args.plot) if args.plot else Path(args.replot).with_suffix(".png")
        plot(rec["results"], png, rec["machine"])
        print(f"recall-QPS plot: {png}")
        return 0

    engines = {e.strip() for e in args.engines.split(",") if e.strip()}
    efs = sorted({int(x) for x in args.efs.split(",")})
    probe = common.connect_vindex(":memory:", args.ext)
    info = common.machine_info(probe)
    probe.close()
    for pkg in ("hnswlib", "vectorlite-py", "matplotlib"):
        info[pkg.replace("-", "_") + "_pkg"] = common._pkg_version(pkg)
    common.print_machine(info)
    print(f"hnswlib {info['hnswlib_pkg']}, vectorlite-py {info['vectorlite_py_pkg']}, sqlite-vec DiskANN "
          f"{DISKANN_VERSION}, matplotlib {info['matplotlib_pkg']}; M={args.m}, ef_construction={args.efc}")
    sets = load_sets(args)
    tmp = Path(args.tmpdir or tempfile.gettempdir()) / f"vindex-hnsw-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    all_res = {}
    if args.wait_idle > 0:
        common.wait_idle(args.wait_idle)
    try:
        for s in sets:
            all_res[s.key] = run_set(s, args, tmp, engines, efs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = report(all_res, args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    png = Path(args.plot) if args.plot else common.RESULTS_DIR / f"hnsw-{stamp}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(all_res, png, info)
    print(f"\nrecall-QPS plot: {png}")
    if not args.no_json:
        payload = {"benchmark": "hnsw", "args": vars(args), "machine": info, "results": all_res, "targets": TARGETS,
                   "verdicts": rows, "plot": str(png), "loadavg_end": list(os.getloadavg())}
        print(f"wrote {common.write_results('hnsw', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
