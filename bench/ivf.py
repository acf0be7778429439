#!/usr/bin/env python3
"""IVF (issue #8): vindex `index=ivf(...)` vs FAISS IVF indexes and the quantized scans inside
SQLite, in one run, k = 10, one query per call.

Data: MiniLM (116,648 x 384, cosine; ../shared/data/minilm) and a seeded clustered 1M x 128 set
(l2, 20,000 clusters) made here (`--sizes minilm,1m`). Per data set:

  * vindex: a file database created with `index=ivf(lists=L, quantizer=rabitq)` (L = ceil(sqrt(n)),
    the default), the rows inserted in transactions of 100,000, then 'optimize' trains it (timed
    on one thread: `vindex_build_threads(1)`); the other quantizers (sq8, binary, none) are
    trained in turn with 'index=ivf(lists=L, quantizer=...)'. A metadata column `category` =
    rowid % 100 serves the filtered queries.
  * FAISS (faiss-cpu, one OpenMP thread, one query per search() call) at the same L:
    IndexIVFFlat, IndexIVFScalarQuantizer (8 bit) and IndexIVFPQ (D/4 sub-quantizers of 8 bits);
    train + add timed.
  * sqlite-vec 0.1.10a4 `indexed by rescore(quantizer=bit|int8)` (pip --target next to the bench
    venv; its IVF is compiled out of the wheel), swept over `oversample`; no metadata filters
    (refused with rescore).
  * sqliteai-vector 1.1.2 (Elastic License 2.0: a peer, never a dependency) quantized scans
    (int8, 1bit) after `vector_quantize_preload`; filtered by JOIN on its stream variant.

Measures: recall@10 and QPS over an nprobe sweep (warm: every list loaded before timing);
QPS at recall >= 0.95 (the first sweep point reaching it); the same queries in a fresh process
with `vindex_cache_limit(0)` (file in the OS cache; default page cache, and with mmap for
context), with the bytes it read per query (`rchar` of /proc/self/io); filtered queries (10 %
and 1 %); build times; bytes of the index beyond the vectors (dbstat). QPS uses the querying
thread's CPU time (`time.thread_time`), which other processes on this shared 2-core machine
disturb less than wall time; wall-clock QPS is in the JSON too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

TARGETS = {"warm_vs_ivfflat": 1.5, "cold_vs_ivfflat_warm": 0.5, "build_vs_faiss": 1.5,
           "bytes_sign": 0.35, "bytes_sq8": 0.30}
NPROBES = [2, 4, 6, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256]
QUANTIZERS = ["rabitq", "sq8", "binary", "none"]
VEC_ALPHA = "0.1.10a4"
SAI_VERSION = "1.1.2"
K = 10


# --- data and ground truth ---


def load(size: str, args) -> tuple[str, str, np.ndarray, np.ndarray, np.ndarray]:
    """(name, metric, base, queries, ground-truth ids (0-based) of the first K)."""
    if size == "minilm":
        ds = common.load_dataset(args.dataset, None, nq=args.nq)
        if ds.base.shape[0] < 2:
            raise SystemExit("MiniLM not found: pass --dataset DIR")
        base = ds.base
        metric = "cosine"
    else:
        n = {"1m": 1_000_000, "100k": 100_000}.get(size)
        if n is None:
            raise SystemExit(f"unknown size {size}")
        # 20,000 clusters (not the default 1,000, which would line up with the ~1,000 lists and
        # make IVF look trivially good): nprobe then matters as on SIFT-like real data.
        ds = common.synthetic_clustered(n, 128, nq=args.nq, seed=args.seed, n_clusters=20_000)
        base = ds.base
        metric = "l2"
    if args.limit:
        base = base[:args.limit]
    queries = ds.queries[:args.nq]
    gt = ground_truth(base, queries, metric)
    return ds.name if not args.limit else f"{ds.name}[:{args.limit}]", metric, base, queries, gt


def ground_truth(base, queries, metric) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    d = base.shape[1]
    if metric == "cosine":
        b = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        ix = faiss.IndexFlatIP(d)
        ix.add(np.ascontiguousarray(b, dtype="f4"))
        _, ids = ix.search(np.ascontiguousarray(q, dtype="f4"), K)
    else:
        ix = faiss.IndexFlatL2(d)
        ix.add(base)
        _, ids = ix.search(queries, K)
    faiss.omp_set_num_threads(1)
    return ids


def recall(got: list[list[int]], gt: np.ndarray) -> float:
    hits = sum(len(set(g) & set(t.tolist())) for g, t in zip(got, gt))
    return hits / (K * len(gt))


def run_queries(fn, queries) -> tuple[list[list[int]], float, float]:
    """(results, QPS by thread CPU time, QPS by wall time)."""
    out = []
    c0, w0 = time.thread_time(), time.perf_counter()
    for q in queries:
        out.append(fn(q))
    c, w = time.thread_time() - c0, time.perf_counter() - w0
    return out, len(queries) / max(c, 1e-9), len(queries) / max(w, 1e-9)


def first_at(points: list[dict], target: float) -> dict | None:
    for p in points:
        if p["recall"] >= target:
            return p
    return None


def qps_at(points: list[dict], r: float) -> float | None:
    p = first_at(points, r)
    return p["qps"] if p else None


# --- vindex ---


def vindex_table(path: str, base: np.ndarray, metric: str, lists: int, args) -> dict:
    c = common.connect_vindex(path, args.ext)
    d = base.shape[1]
    c.execute(f"CREATE VIRTUAL TABLE t USING vindex(embedding float[{d}] distance={metric}, category integer, "
              f"index=ivf(lists={lists}, quantizer=rabitq))")
    t = time.perf_counter()
    for s in range(0, len(base), 100_000):
        c.execute("BEGIN")
        c.executemany("INSERT INTO t(rowid, embedding, category) VALUES (?, ?, ?)",
                      ((i + 1, base[i].tobytes(), (i + 1) % 100) for i in range(s, min(len(base), s + 100_000))))
        c.execute("COMMIT")
    ins = time.perf_counter() - t
    c.execute("SELECT vindex_build_threads(1)")
    t = time.perf_counter()
    c.execute("INSERT INTO t(t) VALUES ('optimize')")
    build = time.perf_counter() - t
    c.execute("SELECT vindex_build_threads(0)")
    c.close()
    return {"insert_s": ins, "insert_rows_per_s": len(base) / ins, "build_1thread_s": build}


def vindex_retrain(path: str, lists: int, q: str, args) -> float:
    c = common.connect_vindex(path, args.ext)
    c.execute("SELECT vindex_build_threads(1)")
    t = time.perf_counter()
    c.execute(f"INSERT INTO t(t) VALUES ('index=ivf(lists={lists}, quantizer={q})')")
    s = time.perf_counter() - t
    c.close()
    return s


def table_bytes(path: str, args) -> dict:
    """Pages of each shadow table (and its indexes) × page size, from dbstat."""
    c = sqlite3.connect(path)
    ps = c.execute("PRAGMA page_size").fetchone()[0]
    rows = c.execute("SELECT s.tbl_name, count(*) FROM dbstat d JOIN sqlite_schema s ON s.name = d.name "
                     "WHERE s.tbl_name LIKE 't\\_%' ESCAPE '\\' GROUP BY s.tbl_name").fetchall()
    c.close()
    return {name[2:]: n * ps for name, n in rows}


def sweep_vindex(path: str, queries, gt, args, filt: str = "", stop: float = 0.995) -> list[dict]:
    c = common.connect_vindex(path, args.ext)
    sql = "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND nprobe = ?" + (f" AND {filt}" if filt else "")
    # Warm: every list in memory first.
    for q in queries[:200]:
        c.execute(sql, (q.tobytes(), 65_536)).fetchall()
    pts = []
    for npb in NPROBES:
        res, qps, wall = run_queries(lambda q: [r[0] - 1 for r in c.execute(sql, (q.tobytes(), npb))], queries)
        rec = recall(res, gt)
        pts.append({"nprobe": npb, "recall": rec, "qps": qps, "qps_wall": wall,
                    "short": sum(1 for r in res if len(r) < K)})
        if rec >= stop:
            break
    c.close()
    return pts


COLD_CHILD = r"""
import sqlite3, sys, time, json, numpy as np
ext, path, qfile, d, nprobe, mmap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
qs = np.fromfile(qfile, dtype='<f4').reshape(-1, d)
def rchar():
    for line in open('/proc/self/io'):
        if line.startswith('rchar'):
            return int(line.split()[1])
t0 = time.perf_counter()
c = sqlite3.connect(path, isolation_level=None)
c.enable_load_extension(True); c.load_extension(ext)
c.execute("SELECT vindex_cache_limit(0)")
if mmap:
    c.execute("PRAGMA mmap_size = 4000000000")
sql = "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND nprobe = ?"
out = []
r0, c0, w0 = rchar(), time.thread_time(), time.perf_counter()
for q in qs:
    out.append([r[0] - 1 for r in c.execute(sql, (q.tobytes(), nprobe))])
cpu, wall, rb = time.thread_time() - c0, time.perf_counter() - w0, rchar() - r0
state = c.execute("SELECT cache_state FROM vindex_status").fetchone()[0]
print(json.dumps({"ids": out, "qps": len(qs) / cpu, "qps_wall": len(qs) / wall, "bytes_per_query": rb / len(qs),
                  "cache_state": state}))
"""


def cold_vindex(path: str, queries, gt, nprobe: int, mmap: bool, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".f32", delete=False) as f:
        f.write(np.ascontiguousarray(queries, dtype="<f4").tobytes())
        qfile = f.name
    try:
        # Bring the file into the OS page cache first (as a machine that just copied it would).
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
        p = subprocess.run([sys.executable, "-c", COLD_CHILD, common.ext_path(args.ext), path, qfile,
                            str(queries.shape[1]), str(nprobe), "1" if mmap else "0"],
                           capture_output=True, text=True, check=True)
        r = json.loads(p.stdout)
    finally:
        os.unlink(qfile)
    r["recall"] = recall(r.pop("ids"), gt)
    r["nprobe"] = nprobe
    return r


# --- FAISS ---


def faiss_indexes(base, metric, lists, queries, gt, args) -> dict:
    import faiss

    faiss.omp_set_num_threads(1)
    d = base.shape[1]
    mt = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    b = base / np.linalg.norm(base, axis=1, keepdims=True) if metric == "cosine" else base
    b = np.ascontiguousarray(b, dtype="f4")
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True) if metric == "cosine" else queries
    q = np.ascontiguousarray(q, dtype="f4")
    out = {}
    kinds = {
        "IVFFlat": lambda qz: faiss.IndexIVFFlat(qz, d, lists, mt),
        "IVFSQ8": lambda qz: faiss.IndexIVFScalarQuantizer(qz, d, lists, faiss.ScalarQuantizer.QT_8bit, mt),
        "IVFPQ": lambda qz: faiss.IndexIVFPQ(qz, d, lists, max(1, d // 4), 8, mt),
    }
    for name, make in kinds.items():
        qz = faiss.IndexFlatIP(d) if mt == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
        ix = make(qz)
        t = time.perf_counter()
        ix.train(b)
        t1 = time.perf_counter()
        ix.add(b)
        t2 = time.perf_counter()
        pts = []
        for npb in NPROBES:
            ix.nprobe = npb
            for x in q[:50]:
                ix.search(x[None], K)
            res, qps, wall = run_queries(lambda x: ix.search(x[None], K)[1][0].tolist(), q)
            rec = recall(res, gt)
            pts.append({"nprobe": npb, "recall": rec, "qps": qps, "qps_wall": wall})
            if rec >= 0.995 or npb >= lists:
                break
        out[name] = {"train_s": t1 - t, "add_s": t2 - t1, "points": pts}
        print(f"  faiss {name}: train {t1 - t:.1f} s, add {t2 - t1:.1f} s; "
              + ", ".join(f"np{p['nprobe']} {p['recall']:.3f}@{p['qps']:.0f}" for p in pts), flush=True)
        del ix
    return out


# --- sqlite-vec 0.1.10a4 rescore, sqliteai-vector ---


def pip_target(pkg: str, version: str, where: Path, marker: str) -> Path | None:
    if not (where / marker).exists():
        print(f"installing {pkg}=={version} into {where} (pip --target)", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--target", str(where), f"{pkg}=={version}"], capture_output=True, text=True)
        if r.returncode != 0 or not (where / marker).exists():
            print(f"could not install {pkg} {version}: {r.stderr[-400:]}", file=sys.stderr)
            return None
    return where / marker


def ext_conn(path: str, so: Path):
    c = sqlite3.connect(path, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(str(so)[:-3])
    c.enable_load_extension(False)
    return c


def sqlite_vec_rescore(tmp: Path, base, metric, queries, gt, args) -> dict:
    so = pip_target("sqlite-vec", VEC_ALPHA, Path(args.peer_dir) / f"sqlite-vec-{VEC_ALPHA}", "sqlite_vec/vec0.so")
    if so is None:
        return {"error": "not installed"}
    out = {}
    d = base.shape[1]
    dm = "cosine" if metric == "cosine" else "L2"
    for quant in ["bit", "int8"]:
        path = str(tmp / f"vec-rescore-{quant}.db")
        c = ext_conn(path, so)
        c.execute(f"CREATE VIRTUAL TABLE t USING vec0(embedding float[{d}] distance_metric={dm} "
                  f"indexed by rescore(quantizer={quant}))")
        t = time.perf_counter()
        for s in range(0, len(base), 100_000):
            c.execute("BEGIN")
            c.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)",
                          ((i + 1, base[i].tobytes()) for i in range(s, min(len(base), s + 100_000))))
            c.execute("COMMIT")
        ins = time.perf_counter() - t
        pts = []
        for os_ in [1, 2, 4, 8, 16, 32, 64]:
            try:
                c.execute(f"INSERT INTO t(t) VALUES ('oversample={os_}')")
            except sqlite3.Error:
                break
            sql = "SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10"
            for x in queries[:10]:
                c.execute(sql, (x.tobytes(),)).fetchall()
            res, qps, wall = run_queries(lambda x: [r[0] - 1 for r in c.execute(sql, (x.tobytes(),))],
                                         queries[:args.peer_queries])
            rec = recall(res, gt[:args.peer_queries])
            pts.append({"oversample": os_, "recall": rec, "qps": qps, "qps_wall": wall})
            if rec >= 0.995:
                break
        c.close()
        out[quant] = {"insert_s": ins, "points": pts, "bytes": os.path.getsize(path)}
        print(f"  sqlite-vec rescore {quant}: " + ", ".join(f"os{p['oversample']} {p['recall']:.3f}@{p['qps']:.0f}"
                                                          for p in pts), flush=True)
    return out


def sqliteai(tmp: Path, base, metric, queries, gt, args) -> dict:
    so = pip_target("sqliteai-vector", SAI_VERSION, Path(args.peer_dir) / f"sqliteai-vector-{SAI_VERSION}",
                    "sqlite_vector/binaries/vector.so")
    if so is None:
        return {"error": "not installed"}
    d = base.shape[1]
    path = str(tmp / "sqliteai.db")
    c = ext_conn(path, so)
    c.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, embedding BLOB, category INTEGER)")
    c.execute("BEGIN")
    c.executemany("INSERT INTO items VALUES (?, ?, ?)", ((i + 1, base[i].tobytes(), (i + 1) % 100)
                                                          for i in range(len(base))))
    c.execute("COMMIT")
    dist = "COSINE" if metric == "cosine" else "L2"
    c.execute(f"SELECT vector_init('items', 'embedding', 'dimension={d},type=FLOAT32,distance={dist}')")
    out = {}
    nq = args.peer_queries
    for qt in ["INT8", "1BIT"]:
        t = time.perf_counter()
        c.execute(f"SELECT vector_quantize('items', 'embedding', 'qtype={qt}')").fetchall()
        c.execute("SELECT vector_quantize_preload('items', 'embedding')").fetchall()
        build = time.perf_counter() - t
        sql = "SELECT id FROM vector_quantize_scan('items', 'embedding', ?, 10)"
        for x in queries[:5]:
            c.execute(sql, (x.tobytes(),)).fetchall()
        res, qps, wall = run_queries(lambda x: [r[0] - 1 for r in c.execute(sql, (x.tobytes(),))], queries[:nq])
        fsql = ("SELECT v.id FROM vector_quantize_scan_stream('items', 'embedding', ?) AS v JOIN items ON items.id = v.id "
                "WHERE items.category < 10 ORDER BY v.distance LIMIT 10")
        fres, fqps, _ = run_queries(lambda x: [r[0] - 1 for r in c.execute(fsql, (x.tobytes(),))], queries[:nq])
        out[qt] = {"quantize_s": build, "recall": recall(res, gt[:nq]), "qps": qps, "qps_wall": wall,
                   "filtered10_qps": fqps, "filtered10_rows": sum(len(r) for r in fres) / max(1, len(fres))}
        print(f"  sqliteai {qt}: recall {out[qt]['recall']:.3f} @ {qps:.0f} QPS; filtered 10 %: {fqps:.0f} QPS",
              flush=True)
    c.close()
    return out


# --- one data set ---


def run_size(size: str, args) -> dict:
    name, metric, base, queries, gt = load(size, args)
    n, d = base.shape
    lists = math.ceil(math.sqrt(n))
    print(f"\n## {name} ({metric}, {n:,} x {d}, {len(queries)} queries, {lists} lists)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="vindex-ivf-", dir=args.tmpdir))
    res: dict = {"name": name, "metric": metric, "n": n, "dims": d, "lists": lists}
    path = str(tmp / "vindex.db")
    res["vindex_table"] = vindex_table(path, base, metric, lists, args)
    print(f"  vindex: insert {res['vindex_table']['insert_rows_per_s']:,.0f} rows/s, "
          f"train+build (rabitq, 1 thread) {res['vindex_table']['build_1thread_s']:.1f} s", flush=True)
    raw = n * d * 4
    res["vindex"] = {}
    for q in QUANTIZERS:
        entry = {}
        if q != "rabitq":
            entry["build_1thread_s"] = vindex_retrain(path, lists, q, args)
        else:
            entry["build_1thread_s"] = res["vindex_table"]["build_1thread_s"]
        by = table_bytes(path, args)
        # The index's own rows: lists, slot entries, centroids (the table's rows, chunk maps
        # and vectors are there with any index).
        index_bytes = sum(v for k, v in by.items() if k.startswith("ivf_"))
        entry["bytes"] = by
        entry["file_bytes_vs_raw"] = sum(by.values()) / raw
        entry["index_bytes_vs_raw"] = index_bytes / raw
        entry["centroid_bytes_vs_raw"] = by.get("ivf_centroids", 0) / raw
        entry["points"] = sweep_vindex(path, queries, gt, args)
        print(f"  vindex {q}: build {entry['build_1thread_s']:.1f} s, index bytes {entry['index_bytes_vs_raw']:.3f}x raw "
              f"(table {entry['file_bytes_vs_raw']:.3f}x); "
              + ", ".join(f"np{p['nprobe']} {p['recall']:.3f}@{p['qps']:.0f}" for p in entry["points"]), flush=True)
        if q == "rabitq":
            at = first_at(entry["points"], 0.95)
            npb = at["nprobe"] if at else NPROBES[-1]
            entry["cold"] = cold_vindex(path, queries, gt, npb, False, args)
            entry["cold_mmap"] = cold_vindex(path, queries, gt, npb, True, args)
            print(f"  vindex rabitq cold (fresh process, cache off) at nprobe {npb}: "
                  f"{entry['cold']['qps']:.0f} QPS, {entry['cold']['bytes_per_query'] / 1024:.0f} KiB read/query; "
                  f"with mmap {entry['cold_mmap']['qps']:.0f} QPS", flush=True)
            for label, filt in [("10%", "category < 10"), ("1%", "category = 7")]:
                fgt = filtered_gt(base, queries, metric, filt)
                pts = sweep_vindex(path, queries, fgt, args, filt=filt)
                entry[f"filtered_{label}"] = pts
                print(f"  vindex rabitq filter {label}: "
                      + ", ".join(f"np{p['nprobe']} {p['recall']:.3f}@{p['qps']:.0f} short {p['short']}" for p in pts),
                      flush=True)
        res["vindex"][q] = entry
    # Back to the default quantizer for anything after.
    vindex_retrain(path, lists, "rabitq", args)
    res["faiss"] = faiss_indexes(base, metric, lists, queries, gt, args) if "faiss" in args.engines else {}
    if "rescore" in args.engines:
        res["sqlite_vec_rescore"] = sqlite_vec_rescore(tmp, base, metric, queries, gt, args)
    if "sqliteai" in args.engines:
        res["sqliteai"] = sqliteai(tmp, base, metric, queries, gt, args)
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    report(res)
    return res


def filtered_gt(base, queries, metric, filt: str) -> np.ndarray:
    ids = np.arange(1, len(base) + 1)
    if filt == "category < 10":
        keep = np.nonzero(ids % 100 < 10)[0]
    else:
        keep = np.nonzero(ids % 100 == 7)[0]
    sub = base[keep]
    g = ground_truth(sub, queries, metric)
    return keep[g]


def report(res: dict) -> None:
    v = res["vindex"]
    fa = res.get("faiss", {})
    flat = fa.get("IVFFlat", {}).get("points", [])
    rows = []
    for q in QUANTIZERS:
        for r in (0.95, 0.99):
            p = first_at(v[q]["points"], r)
            rows.append([f"vindex {q}", r, p["nprobe"] if p else "-", p["recall"] if p else "-",
                         p["qps"] if p else "-"])
    for name, e in fa.items():
        for r in (0.95, 0.99):
            p = first_at(e["points"], r)
            rows.append([f"FAISS {name}", r, p["nprobe"] if p else "-", p["recall"] if p else "-",
                         p["qps"] if p else "-"])
    print()
    print(common.markdown_table(["engine", "recall ≥", "nprobe", "recall", "QPS (CPU)"], rows))
    ratios = []
    f95 = qps_at(flat, 0.95)
    v95 = qps_at(v["rabitq"]["points"], 0.95)
    if f95 and v95:
        ratios.append(common.ratio_row("warm QPS @0.95, vindex rabitq / FAISS IVFFlat", v95 / f95,
                                       TARGETS["warm_vs_ivfflat"]))
        cold = v["rabitq"].get("cold")
        if cold:
            ratios.append(common.ratio_row("cold (fresh process, cache off) / FAISS IVFFlat warm", cold["qps"] / f95,
                                           TARGETS["cold_vs_ivfflat_warm"]))
            ratios.append(common.ratio_row("cold with mmap / FAISS IVFFlat warm", v["rabitq"]["cold_mmap"]["qps"] / f95,
                                           None))
    if "IVFFlat" in fa:
        ff = fa["IVFFlat"]
        ratios.append(common.ratio_row("train+build 1 thread, vindex rabitq / FAISS IVFFlat train+add",
                                       v["rabitq"]["build_1thread_s"] / (ff["train_s"] + ff["add_s"]),
                                       TARGETS["build_vs_faiss"], higher_is_better=False))
    for q in QUANTIZERS:
        t = TARGETS["bytes_sq8"] if q == "sq8" else TARGETS["bytes_sign"] if q in ("rabitq", "binary") else None
        extra = v[q]["index_bytes_vs_raw"] - (v[q]["centroid_bytes_vs_raw"] if q == "sq8" else 0)
        ratios.append(common.ratio_row(f"index bytes beyond the vectors / raw, {q}"
                                       + (" (less centroids)" if q == "sq8" else ""), extra, t, higher_is_better=False))
    for quant, e in res.get("sqlite_vec_rescore", {}).items():
        if not isinstance(e, dict) or "points" not in e:
            continue
        for p in e["points"]:
            mine = qps_at(v["rabitq"]["points"], p["recall"])
            if mine:
                ratios.append(common.ratio_row(f"vindex vs sqlite-vec rescore {quant} os={p['oversample']} "
                                               f"(recall {p['recall']:.3f})", mine / p["qps"], 1.0))
    for qt, e in res.get("sqliteai", {}).items():
        if not isinstance(e, dict) or "qps" not in e:
            continue
        mine = qps_at(v["rabitq"]["points"], e["recall"])
        if mine:
            ratios.append(common.ratio_row(f"vindex vs sqliteai-vector {qt} (recall {e['recall']:.3f})",
                                           mine / e["qps"], 1.0))
        f10 = qps_at(v["rabitq"].get("filtered_10%", []), 0.95)
        if f10:
            ratios.append(common.ratio_row(f"filtered 10 %: vindex @0.95 vs sqliteai-vector {qt} JOIN",
                                           f10 / e["filtered10_qps"], 1.0))
    print()
    print(common.markdown_table(["ratio", "value", "target", ""], ratios))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(ap)
    ap.add_argument("--dataset", default=None, help="MiniLM directory (default ../shared/data/minilm)")
    ap.add_argument("--sizes", default="minilm,1m", help="comma list of minilm, 100k, 1m (default minilm,1m)")
    ap.add_argument("--engines", default="faiss,rescore,sqliteai")
    ap.add_argument("--nq", type=int, default=500)
    ap.add_argument("--peer-queries", type=int, default=100, help="queries for the slow SQLite peers")
    ap.add_argument("--peer-dir", default=str(common.BENCH_DIR / ".venv"))
    ap.add_argument("--limit", type=int, default=0, help="at most this many rows (smoke tests)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    conn = common.connect_vindex(":memory:", args.ext)
    info = common.machine_info(conn)
    conn.close()
    common.print_machine(info)
    if args.wait_idle:
        common.wait_idle(args.wait_idle)
    out = {"machine": info, "sets": [run_size(s.strip(), args) for s in args.sizes.split(",") if s.strip()]}
    if not args.no_json:
        print(f"\nwrote {common.write_results('ivf', out)}")


if __name__ == "__main__":
    main()
