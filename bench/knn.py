#!/usr/bin/env python3
"""Exact KNN (k=10, cosine): vindex vs sqlite-vec 0.1.9 vec0 vs FAISS IndexFlatIP, in one run.

Default data: the first 100,000 rows of ../shared/data/minilm (real 384-d MiniLM embeddings) and
its queries.f32. Per engine:
  * insert: all rows through `executemany` inside one BEGIN/COMMIT into a file database in a temp
    dir (default pragmas), rows/s; bytes on disk after commit vs raw float32 bytes;
  * query: a fresh connection to that file; the first query is timed alone ("cold start": layout
    + vector cache built from pages; the OS page cache is warm), then --warmup untimed queries,
    then each query timed alone (perf_counter_ns around execute().fetchall()); QPS = queries /
    sum of latencies, p50/p95, and recall@10 against numpy's exact top-10 (both SQL engines are
    exact: recall must be 1.0; a result whose true similarity ties the 10th best within 1e-6
    counts as correct);
  * FAISS IndexFlatIP with 1 OpenMP thread and one query per search() call (the single-query
    ceiling of a SIMD scan), plus all queries in one call for context (BLAS, not comparable);
  * per-query fixed overhead on a 16-row in-memory table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

TARGETS = {
    "qps_vs_sqlite_vec": 5.0,
    "qps_vs_faiss": 0.7,
    "insert_vs_sqlite_vec": 1.0,
    "bytes_vs_raw": 1.15,
}


# ----------------------------------------------------------------------------------------------
# Ground truth and recall
# ----------------------------------------------------------------------------------------------


def unit(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)


def ground_truth(base_u: np.ndarray, queries_u: np.ndarray, k: int):
    """Exact top-k by cosine in float64: ids (0-based, best first) and the k-th best similarity."""
    nq = queries_u.shape[0]
    ids = np.empty((nq, k), dtype=np.int64)
    kth = np.empty(nq)
    for s in range(0, nq, 100):
        sims = queries_u[s:s + 100] @ base_u.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        psims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-psims, axis=1)
        ids[s:s + 100] = np.take_along_axis(part, order, axis=1)
        kth[s:s + 100] = np.take_along_axis(psims, order, axis=1)[:, -1]
    return ids, kth


def score(results: list[list[tuple[int, float]]], qidx: list[int], gt_ids, kth, base_u, queries_u, k: int,
          id_offset: int) -> dict:
    """recall@k (strict set overlap and tie-aware), short results, max distance error vs float64."""
    strict = tie = 0
    short = 0
    max_derr = 0.0
    for qi, res in zip(qidx, results):
        ids = np.array([r[0] - id_offset for r in res], dtype=np.int64)
        if len(ids) < k:
            short += 1
        strict += len(set(ids.tolist()) & set(gt_ids[qi].tolist()))
        if len(ids):
            sims = base_u[ids] @ queries_u[qi]
            tie += int(np.sum(sims >= kth[qi] - 1e-6))
            d = np.array([r[1] for r in res], dtype=np.float64)
            if np.all(np.isfinite(d)):
                max_derr = max(max_derr, float(np.max(np.abs(d - (1.0 - sims)))))
    n = len(results) * k
    return {"recall": strict / n, "recall_tie_aware": min(tie, n) / n, "short_results": short,
            "max_abs_distance_error": max_derr}


# ----------------------------------------------------------------------------------------------
# SQL engines
# ----------------------------------------------------------------------------------------------

ENGINES = {
    "vindex": {
        "connect": lambda path, args: common.connect_vindex(path, args.ext),
        "create": "CREATE VIRTUAL TABLE t USING vindex(embedding float[{dim}] distance=cosine)",
        "insert": "INSERT INTO t(rowid, embedding) VALUES (?, ?)",
        "knn": "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = {k}",
    },
    "sqlite-vec": {
        "connect": lambda path, args: common.connect_sqlite_vec(path),
        "create": "CREATE VIRTUAL TABLE t USING vec0(embedding float[{dim}] distance_metric=cosine)",
        "insert": "INSERT INTO t(rowid, embedding) VALUES (?, ?)",
        "knn": "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = {k}",
    },
    "plain table": {  # context: the cost of writing the same BLOBs into an ordinary rowid table
        "connect": lambda path, args: _plain_connect(path),
        "create": "CREATE TABLE t(id INTEGER PRIMARY KEY, embedding BLOB)",
        "insert": "INSERT INTO t(id, embedding) VALUES (?, ?)",
        "knn": None,
    },
}


def _plain_connect(path):
    return sqlite3.connect(path, isolation_level=None)


def disk_bytes(path: str) -> int:
    total = 0
    for suffix in ("", "-journal", "-wal", "-shm"):
        p = Path(path + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def vindex_status(conn) -> dict | None:
    try:
        cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None
    except sqlite3.Error as e:
        return {"error": str(e)}


def do_insert(name: str, path: str, ds: common.Dataset, params: list, args) -> dict:
    eng = ENGINES[name]
    conn = eng["connect"](path, args)
    conn.execute(eng["create"].format(dim=ds.dim))
    with common.CpuMonitor() as mon:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(eng["insert"], params)
        conn.execute("COMMIT")
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    out = {"seconds": wall, "cpu_seconds": cpu, "rows_per_s": ds.n / wall, "contention": mon.info()}
    if name == "vindex":
        out["status_after_insert"] = vindex_status(conn)
    conn.close()
    out["file_bytes"] = disk_bytes(path)
    out["raw_bytes"] = ds.base.nbytes
    out["file_over_raw"] = out["file_bytes"] / ds.base.nbytes
    return out


def run_queries(conn, sql: str, qblobs: list[bytes], order: list[int], args) -> tuple[dict, list, list[int]]:
    def one(i):
        return conn.execute(sql, (qblobs[i],)).fetchall()

    with common.CpuMonitor() as mon:
        lat, res, cpu = common.time_each(one, order, warmup=args.warmup, budget_s=args.budget,
                                         min_items=args.min_queries)
    stats = common.summarize_ns(lat, cpu)
    stats["contention"] = mon.info()
    return stats, res, order[:len(res)]


def first_query_ms(name: str, path: str, sql: str, qblob: bytes, args) -> float:
    conn = ENGINES[name]["connect"](path, args)
    t0 = time.perf_counter_ns()
    conn.execute(sql, (qblob,)).fetchall()
    dt = (time.perf_counter_ns() - t0) / 1e6
    conn.close()
    return dt


def overhead(name: str, ds: common.Dataset, args) -> dict:
    """Per-query cost on a 16-row in-memory table (fixed overhead of one KNN statement)."""
    eng = ENGINES[name]
    conn = eng["connect"](":memory:", args)
    conn.execute(eng["create"].format(dim=ds.dim))
    conn.execute("BEGIN")
    conn.executemany(eng["insert"], [(i + 1, ds.base[i].tobytes()) for i in range(16)])
    conn.execute("COMMIT")
    sql = eng["knn"].format(k=args.k)
    qb = ds.queries[0].tobytes()
    lat, _, _ = common.time_each(lambda _: conn.execute(sql, (qb,)).fetchall(), range(args.overhead_queries),
                                 warmup=200)
    s = common.summarize_ns(lat)
    conn.close()
    return {"p50_us": s["p50_ms"] * 1e3, "mean_us": s["mean_ms"] * 1e3, "p95_us": s["p95_ms"] * 1e3}


def select1_overhead(args) -> dict:
    conn = sqlite3.connect(":memory:")
    lat, _, _ = common.time_each(lambda _: conn.execute("SELECT 1").fetchall(), range(args.overhead_queries),
                                 warmup=200)
    s = common.summarize_ns(lat)
    return {"p50_us": s["p50_ms"] * 1e3, "mean_us": s["mean_ms"] * 1e3, "p95_us": s["p95_ms"] * 1e3}


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None,
                    help="directory with base.f32 [+ queries.f32, meta.json] (default ../shared/data/minilm if "
                         "present, else synthetic clustered data; 'synthetic' forces it)")
    ap.add_argument("--queries", default=None, help="query file (raw float32; default <dataset>/queries.f32)")
    ap.add_argument("--n", type=int, default=100_000, help="rows to load (first N of the dataset; default 100000)")
    ap.add_argument("--dim", type=int, default=384, help="dimensions for synthetic data (default 384)")
    ap.add_argument("--nq", type=int, default=1000, help="queries (default 1000)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=20, help="untimed queries before timing (default 20)")
    ap.add_argument("--budget", type=float, default=20.0,
                    help="stop an engine's timed queries after this many seconds once --min-queries ran (default 20)")
    ap.add_argument("--min-queries", type=int, default=200)
    ap.add_argument("--reopen", type=int, default=3,
                    help="times to reopen a connection and time its first query (cold start; default 3)")
    ap.add_argument("--overhead-queries", type=int, default=2000)
    ap.add_argument("--tmpdir", default=None, help="where the database files go (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the database files")
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--seed", type=int, default=42)
    common.add_common_args(ap)
    args = ap.parse_args()

    ds = common.load_dataset(args.dataset, args.n, dim=args.dim, nq=args.nq, seed=args.seed,
                             queries_path=args.queries)
    k = args.k
    probe_v = common.connect_vindex(":memory:", args.ext)
    probe_s = common.connect_sqlite_vec(":memory:")
    info = common.machine_info(probe_v, probe_s)
    probe_v.close()
    probe_s.close()
    common.print_machine(info)
    print(f"data: {ds.source}: {ds.n:,} x {ds.dim}, {ds.queries.shape[0]} queries, k={k}, cosine, "
          f"raw vectors {ds.base.nbytes / 1e6:.1f} MB")

    # Ground truth (float64, unit-normalised).
    t0 = time.perf_counter()
    base_u = unit(ds.base)
    queries_u = unit(ds.queries)
    gt_ids, kth = ground_truth(base_u, queries_u, k)
    gt_info = {"seconds": round(time.perf_counter() - t0, 2)}
    dpath = Path(args.dataset) if args.dataset not in (None, "synthetic") else common.DEFAULT_DATASET
    if args.dataset != "synthetic" and args.queries is None and (dpath / "gt_ids.i32").exists():
        n_total = (dpath / "base.f32").stat().st_size // (4 * ds.dim)
        full = np.fromfile(dpath / "gt_ids.i32", dtype="<i4")
        n_q_total = (dpath / "queries.f32").stat().st_size // (4 * ds.dim)
        if ds.n == n_total and full.size % n_q_total == 0:  # shipped ground truth is for the full base only
            shipped = full.reshape(n_q_total, -1)[: ds.queries.shape[0], :k]
            agree = np.mean([len(set(a) & set(b)) / k for a, b in zip(shipped.tolist(), gt_ids.tolist())])
            gt_info["agreement_with_shipped_gt_ids"] = float(agree)
    print(f"ground truth: numpy float64 exact top-{k} in {gt_info['seconds']} s"
          + (f", agrees with shipped gt_ids.i32: {gt_info['agreement_with_shipped_gt_ids']:.4f}"
             if "agreement_with_shipped_gt_ids" in gt_info else ""))

    params = [(i + 1, b) for i, b in enumerate(common.blobs(ds.base))]
    qblobs = common.blobs(ds.queries)
    order = list(range(len(qblobs)))
    tmp = Path(args.tmpdir or tempfile.gettempdir()) / f"vindex-knn-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {name: str(tmp / f"{name.replace(' ', '_')}.db") for name in ENGINES}
    res: dict = {"insert": {}, "query": {}, "overhead_us": {}}
    errors: list[str] = []
    if args.wait_idle > 0:
        res["wait_idle"] = [common.wait_idle(args.wait_idle)]

    try:
        # ---- inserts ----
        for name in ("plain table", "sqlite-vec", "vindex"):
            res["insert"][name] = do_insert(name, paths[name], ds, params, args)
        del params

        # ---- queries: vindex ----
        sql_v = ENGINES["vindex"]["knn"].format(k=k)
        sql_s = ENGINES["sqlite-vec"]["knn"].format(k=k)
        cold = [first_query_ms("vindex", paths["vindex"], sql_v, qblobs[i % len(qblobs)], args)
                for i in range(args.reopen)]
        if args.wait_idle > 0:
            res["wait_idle"].append(common.wait_idle(args.wait_idle, quiet=True))
        conn = common.connect_vindex(paths["vindex"], args.ext)
        t0 = time.perf_counter_ns()
        conn.execute(sql_v, (qblobs[0],)).fetchall()
        first = (time.perf_counter_ns() - t0) / 1e6
        cold.append(first)
        stats, out, qidx = run_queries(conn, sql_v, qblobs, order, args)
        stats.update(score(out, qidx, gt_ids, kth, base_u, queries_u, k, 1))
        stats["status"] = vindex_status(conn)
        res["query"]["vindex (warm)"] = stats
        res["vindex_cold_start_ms"] = cold

        # ---- vindex from pages, if the cache can be switched off ----
        try:
            prev = conn.execute("SELECT cache_limit FROM vindex_status WHERE table_name = 't'").fetchone()[0]
            conn.execute("SELECT vindex_cache_limit(0)").fetchall()
            has_limit = True
        except sqlite3.Error as e:
            has_limit = False
            res["vindex_cache_limit"] = f"unavailable: {e}"
        if has_limit:
            conn.close()
            conn = common.connect_vindex(paths["vindex"], args.ext)
            conn.execute("SELECT vindex_cache_limit(0)").fetchall()
            stats, out, qidx = run_queries(conn, sql_v, qblobs, order, args)
            stats.update(score(out, qidx, gt_ids, kth, base_u, queries_u, k, 1))
            stats["status"] = vindex_status(conn)
            res["query"]["vindex (cache_limit 0, from pages)"] = stats
            conn.execute(f"SELECT vindex_cache_limit({int(prev)})").fetchall()
            res["vindex_cache_limit"] = f"available; restored to {prev}"
        conn.close()

        # ---- sqlite-vec ----
        if args.wait_idle > 0:
            res["wait_idle"].append(common.wait_idle(args.wait_idle, quiet=True))
        conn = common.connect_sqlite_vec(paths["sqlite-vec"])
        t0 = time.perf_counter_ns()
        conn.execute(sql_s, (qblobs[0],)).fetchall()
        res["sqlite_vec_first_query_ms"] = (time.perf_counter_ns() - t0) / 1e6
        stats, out, qidx = run_queries(conn, sql_s, qblobs, order, args)
        stats.update(score(out, qidx, gt_ids, kth, base_u, queries_u, k, 1))
        res["query"]["sqlite-vec vec0"] = stats
        conn.close()

        # ---- vindex warm again, on a new connection, after the peer: a run-to-run consistency check ----
        if args.wait_idle > 0:
            res["wait_idle"].append(common.wait_idle(args.wait_idle, quiet=True))
        conn = common.connect_vindex(paths["vindex"], args.ext)
        conn.execute(sql_v, (qblobs[0],)).fetchall()
        stats, out, qidx = run_queries(conn, sql_v, qblobs, order, args)
        stats.update(score(out, qidx, gt_ids, kth, base_u, queries_u, k, 1))
        stats["status"] = vindex_status(conn)
        res["query"]["vindex (warm, pass 2)"] = stats
        conn.close()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---- FAISS ----
    if not args.no_faiss:
        import faiss

        faiss.omp_set_num_threads(1)
        if args.wait_idle > 0:
            res["wait_idle"].append(common.wait_idle(args.wait_idle, quiet=True))
        bu = np.ascontiguousarray(base_u, dtype=np.float32)
        qu = np.ascontiguousarray(queries_u, dtype=np.float32)
        index = faiss.IndexFlatIP(ds.dim)
        index.add(bu)

        def one(i):
            D, I = index.search(qu[i:i + 1], k)
            return [(int(j) + 1, 1.0 - float(s)) for j, s in zip(I[0], D[0])]

        with common.CpuMonitor() as mon:
            lat, out, cpu = common.time_each(one, order, warmup=args.warmup, budget_s=args.budget,
                                             min_items=args.min_queries)
        stats = common.summarize_ns(lat, cpu)
        stats["contention"] = mon.info()
        stats.update(score(out, order[:len(out)], gt_ids, kth, base_u, queries_u, k, 1))
        res["query"]["faiss IndexFlatIP (1 query/call)"] = stats
        best = None
        with common.CpuMonitor() as mon:
            for _ in range(3):
                t0 = time.perf_counter_ns()
                index.search(qu, k)
                dt = time.perf_counter_ns() - t0
                best = dt if best is None else min(best, dt)
        res["faiss_batched"] = {"queries": int(qu.shape[0]), "best_of_3_s": best / 1e9,
                                "qps": qu.shape[0] / (best / 1e9), "threads": 1, "contention": mon.info()}
        del index, bu, qu

    # ---- fixed overhead ----
    res["overhead_us"]["SELECT 1 (python sqlite3)"] = select1_overhead(args)
    res["overhead_us"]["vindex"] = overhead("vindex", ds, args)
    res["overhead_us"]["sqlite-vec vec0"] = overhead("sqlite-vec", ds, args)

    # ---- exactness ----
    for name in ("vindex (warm)", "vindex (warm, pass 2)", "vindex (cache_limit 0, from pages)", "sqlite-vec vec0"):
        s = res["query"].get(name)
        if s and (s["recall_tie_aware"] < 1.0 or s["short_results"]):
            errors.append(f"{name} is not exact: recall@{k} {s['recall']:.4f} "
                          f"(tie-aware {s['recall_tie_aware']:.4f}), {s['short_results']} short results")

    # ---- print ----
    q = res["query"]
    print()
    print(f"### Queries: k={k}, single-threaded, each query timed alone (QPS = queries / sum of latencies)")
    rows = []
    for name, s in q.items():
        rows.append([name, s["qps"], s["p50_ms"], s["p95_ms"], f"{s['recall']:.4f}", s["count"],
                     s.get("qps_cpu"), s["contention"]["other_procs_cores"]])
    if "faiss_batched" in res:
        fb = res["faiss_batched"]
        rows.append([f"faiss IndexFlatIP, all {fb['queries']} queries in one call (context)", fb["qps"],
                     "-", "-", "-", fb["queries"], "-", fb["contention"]["other_procs_cores"]])
    print(common.markdown_table(["engine", "QPS", "p50 ms", "p95 ms", f"recall@{k}", "queries", "QPS (CPU time)",
                                 "other procs (cores)"], rows))
    cs = res["vindex_cold_start_ms"]
    print(f"\nvindex first query on a fresh connection (cold start: builds its vector cache from pages): "
          f"{', '.join(f'{x:.1f}' for x in cs)} ms; sqlite-vec first query: {res['sqlite_vec_first_query_ms']:.1f} ms")
    print(f"vindex from pages (vindex_cache_limit(0)): {res.get('vindex_cache_limit')}")
    for name in ("vindex (warm)", "vindex (cache_limit 0, from pages)"):
        st = (q.get(name) or {}).get("status") or {}
        keys = ("cache_state", "cache_bytes", "prescan", "queries_from_memory", "queries_from_pages",
                "chunk_capacity")
        if st:
            print(f"vindex_status after {name}: " + ", ".join(f"{k}={st[k]}" for k in keys if k in st))

    print()
    print(f"### Insert {ds.n:,} rows in one transaction (executemany in BEGIN/COMMIT) into a file database, "
          "default pragmas")
    rows = []
    for name, s in res["insert"].items():
        bod = None
        if name == "vindex":
            st = s.get("status_after_insert") or {}
            bod = st.get("bytes_on_disk")
        rows.append([name, s["seconds"], f"{s['rows_per_s']:,.0f}", s["file_bytes"] / 1e6,
                     None if bod is None else bod / 1e6, s["raw_bytes"] / 1e6, f"{s['file_over_raw']:.3f}×",
                     s["contention"]["other_procs_cores"]])
    print(common.markdown_table(["engine", "seconds", "rows/s", "file MB", "bytes_on_disk MB", "raw MB",
                                 "file/raw", "other procs (cores)"], rows))

    print()
    print(f"### Fixed per-query overhead: k={k} KNN on a 16-row in-memory table, {args.overhead_queries} calls")
    o = res["overhead_us"]
    print(common.markdown_table(["statement", "p50 µs", "mean µs", "p95 µs"],
                                [[n, s["p50_us"], s["mean_us"], s["p95_us"]] for n, s in o.items()]))

    ratios = {}
    # vindex warm QPS over both warm passes (all their latencies together).
    passes = [q[n] for n in ("vindex (warm)", "vindex (warm, pass 2)") if n in q]
    vw = sum(p["count"] for p in passes) / sum(p["count"] / p["qps"] for p in passes)
    ratios["vindex_warm_qps_both_passes"] = vw
    if len(passes) == 2:
        ratios["vindex_warm_pass2_over_pass1"] = passes[1]["qps"] / passes[0]["qps"]
    ratios["qps_vs_sqlite_vec"] = vw / q["sqlite-vec vec0"]["qps"]
    if "faiss IndexFlatIP (1 query/call)" in q:
        ratios["qps_vs_faiss"] = vw / q["faiss IndexFlatIP (1 query/call)"]["qps"]
    if "vindex (cache_limit 0, from pages)" in q:
        ratios["from_pages_qps_vs_sqlite_vec"] = q["vindex (cache_limit 0, from pages)"]["qps"] / q["sqlite-vec vec0"]["qps"]
    ratios["insert_vs_sqlite_vec"] = res["insert"]["vindex"]["rows_per_s"] / res["insert"]["sqlite-vec"]["rows_per_s"]
    ratios["bytes_vs_raw"] = res["insert"]["vindex"]["file_over_raw"]
    st = res["insert"]["vindex"].get("status_after_insert") or {}
    if st.get("bytes_on_disk"):
        ratios["status_bytes_on_disk_vs_raw"] = st["bytes_on_disk"] / ds.base.nbytes
    ratios["overhead_vs_sqlite_vec"] = o["vindex"]["p50_us"] / o["sqlite-vec vec0"]["p50_us"]
    print()
    print("### Ratios the issue targets")
    rr = [
        common.ratio_row("vindex QPS (warm, both passes) / sqlite-vec QPS", ratios["qps_vs_sqlite_vec"], TARGETS["qps_vs_sqlite_vec"]),
        common.ratio_row("vindex QPS / FAISS flat QPS (1 query/call, 1 thread)", ratios.get("qps_vs_faiss"),
                         TARGETS["qps_vs_faiss"]),
    ]
    if "vindex_warm_pass2_over_pass1" in ratios:
        rr.append(common.ratio_row("vindex warm pass 2 QPS / pass 1 QPS (consistency; ~1 expected)",
                                   ratios["vindex_warm_pass2_over_pass1"], None))
    if "from_pages_qps_vs_sqlite_vec" in ratios:
        rr.append(common.ratio_row("vindex from pages QPS / sqlite-vec QPS", ratios["from_pages_qps_vs_sqlite_vec"],
                                   None))
    rr += [
        common.ratio_row("vindex insert rows/s / sqlite-vec insert rows/s", ratios["insert_vs_sqlite_vec"],
                         TARGETS["insert_vs_sqlite_vec"]),
        common.ratio_row("vindex file bytes / raw vector bytes", ratios["bytes_vs_raw"], TARGETS["bytes_vs_raw"],
                         higher_is_better=False),
    ]
    if "status_bytes_on_disk_vs_raw" in ratios:
        rr.append(common.ratio_row("vindex_status.bytes_on_disk / raw vector bytes",
                                   ratios["status_bytes_on_disk_vs_raw"], TARGETS["bytes_vs_raw"],
                                   higher_is_better=False))
    rr.append(common.ratio_row("vindex / sqlite-vec fixed overhead (p50, 16 rows)", ratios["overhead_vs_sqlite_vec"],
                               None))
    print(common.markdown_table(["ratio", "value", "target", "verdict"], rr))
    for e in errors:
        print(f"ERROR: {e}")

    if not args.no_json:
        payload = {"benchmark": "knn", "args": vars(args), "machine": info, "dataset": ds.describe(),
                   "ground_truth": gt_info, "results": res, "ratios": ratios, "targets": TARGETS,
                   "errors": errors, "loadavg_end": list(os.getloadavg())}
        print(f"\nwrote {common.write_results('knn', payload)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
