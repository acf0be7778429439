#!/usr/bin/env python3
"""KNN inside one partition (k=10, cosine): vindex `partition key` vs sqlite-vec 0.1.9's own
`partition key`, in one run on the same data.

Default data: the first 100,000 rows of ../shared/data/minilm (real 384-d MiniLM embeddings),
each row given to one of --users (1,000) users drawn at random (seeded), so a user has ~100 rows
spread over the whole insert order, as rows of many users arrive in a real app. Queries: the
held-out queries.f32, each paired with a random user (seeded); the SQL is

    SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = 10 AND user_id = ?

Per engine:
  * insert: all rows through `executemany` inside one BEGIN/COMMIT into a file database in a temp
    dir (default pragmas), rows/s and bytes on disk;
  * query: a fresh connection (another connection of the process stays open all along, as in an
    app with a connection pool: SQLite unloads an extension, and vindex's process-wide cache with
    it, when its last connection closes). Every query runs once, each timed alone ("first pass":
    a user's first query reads that user's chunks from the pages), then again ("warm", at least
    --min-queries and until --budget seconds); QPS = queries / sum of latencies, p50/p95, and
    recall@10 against numpy's exact top-10 among the user's rows (both engines are exact:
    anything below tie-aware 1.0, or fewer rows than the user has up to k, is an ERROR).
Engines: vindex with `user_id integer partition key`, sqlite-vec with the same declaration, and
for context vindex with `user_id integer` as an ordinary metadata column (the path a partition
query took before partition keys: the metadata index finds the user's rows, each in its own
chunk). vindex is measured twice (before and after sqlite-vec) as a consistency check.
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

TARGETS = {"qps_vs_sqlite_vec": 1.0}

ENGINES = {
    "vindex (partition key)": {
        "connect": lambda path, args: common.connect_vindex(path, args.ext),
        "create": "CREATE VIRTUAL TABLE t USING vindex(embedding float[{dim}] distance=cosine, "
                  "user_id integer partition key)",
    },
    "sqlite-vec (partition key)": {
        "connect": lambda path, args: common.connect_sqlite_vec(path),
        "create": "CREATE VIRTUAL TABLE t USING vec0(embedding float[{dim}] distance_metric=cosine, "
                  "user_id integer partition key)",
    },
    "vindex (user_id as metadata)": {
        "connect": lambda path, args: common.connect_vindex(path, args.ext),
        "create": "CREATE VIRTUAL TABLE t USING vindex(embedding float[{dim}] distance=cosine, user_id integer)",
    },
}
INSERT = "INSERT INTO t(rowid, embedding, user_id) VALUES (?, ?, ?)"
KNN = "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = {k} AND user_id = ?"


def unit(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)


def ground_truth(base_u, queries_u, users, qusers, k):
    """Per query: exact top-k row indexes (0-based) among its user's rows, and the k-th similarity."""
    by_user: dict[int, np.ndarray] = {}
    for u in np.unique(qusers):
        by_user[int(u)] = np.flatnonzero(users == u)
    ids, kth = [], []
    for qi, u in enumerate(qusers.tolist()):
        rows = by_user[u]
        sims = base_u[rows] @ queries_u[qi]
        order = np.argsort(-sims, kind="stable")[:k]
        ids.append(rows[order])
        kth.append(sims[order[-1]] if len(order) else -np.inf)
    return ids, np.array(kth)


def score(results, qidx, gt_ids, kth, base_u, queries_u, users, qusers, k) -> dict:
    strict = tie = short = wrong_user = 0
    total = 0
    for qi, res in zip(qidx, results):
        want = gt_ids[qi]
        total += len(want)
        ids = np.array([r[0] - 1 for r in res], dtype=np.int64)
        if len(ids) < len(want):
            short += 1
        if len(ids):
            wrong_user += int(np.sum(users[ids] != qusers[qi]))
            strict += len(set(ids.tolist()) & set(want.tolist()))
            sims = base_u[ids] @ queries_u[qi]
            tie += int(np.sum(sims >= kth[qi] - 1e-6))
    return {"recall": strict / max(total, 1), "recall_tie_aware": min(tie, total) / max(total, 1),
            "short_results": short, "rows_of_other_users": wrong_user}


def do_insert(name, path, ds, params, args) -> dict:
    eng = ENGINES[name]
    conn = eng["connect"](path, args)
    conn.execute(eng["create"].format(dim=ds.dim))
    with common.CpuMonitor() as mon:
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(INSERT, params)
        conn.execute("COMMIT")
        wall = time.perf_counter() - t0
    out = {"seconds": wall, "rows_per_s": ds.n / wall, "contention": mon.info()}
    if name.startswith("vindex"):
        cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
        out["status_after_insert"] = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    else:
        out["chunks"] = conn.execute("SELECT count(*) FROM t_chunks").fetchone()[0]
    conn.close()
    size = sum(Path(path + s).stat().st_size for s in ("", "-journal", "-wal") if Path(path + s).exists())
    out["file_bytes"] = size
    out["file_over_raw"] = size / ds.base.nbytes
    return out


def query_pass(name, path, qparams, order, args) -> tuple[dict, dict, list, list[int]]:
    """(first pass stats, warm stats, warm results, their query indexes) on a new connection."""
    conn = ENGINES[name]["connect"](path, args)
    sql = KNN.format(k=args.k)

    def one(i):
        return conn.execute(sql, qparams[i]).fetchall()

    with common.CpuMonitor() as mon:
        lat, _, cpu = common.time_each(one, order)
    first = common.summarize_ns(lat, cpu)
    first["contention"] = mon.info()
    with common.CpuMonitor() as mon:
        lat, res, cpu = common.time_each(one, order * max(1, -(-args.min_queries // len(order))),
                                         budget_s=args.budget, min_items=args.min_queries)
    stats = common.summarize_ns(lat, cpu)
    stats["contention"] = mon.info()
    stats["plan"] = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, qparams[order[0]]))
    if name.startswith("vindex"):
        cur = conn.execute("SELECT * FROM vindex_status WHERE table_name = 't'")
        stats["status"] = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    conn.close()
    idx = (order * (len(res) // len(order) + 1))[:len(res)]
    return first, stats, res, idx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None,
                    help="directory with base.f32 [+ queries.f32, meta.json] (default ../shared/data/minilm if "
                         "present, else synthetic clustered data; 'synthetic' forces it)")
    ap.add_argument("--n", type=int, default=100_000, help="rows (first N of the dataset; default 100000)")
    ap.add_argument("--dim", type=int, default=384, help="dimensions for synthetic data (default 384)")
    ap.add_argument("--users", type=int, default=1000, help="partitions (default 1000)")
    ap.add_argument("--nq", type=int, default=1000, help="queries (default 1000)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--budget", type=float, default=10.0,
                    help="stop an engine's timed queries after this many seconds once --min-queries ran")
    ap.add_argument("--min-queries", type=int, default=1000)
    ap.add_argument("--no-metadata", action="store_true", help="skip the 'user_id as metadata' context engine")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the database files")
    ap.add_argument("--seed", type=int, default=42)
    common.add_common_args(ap)
    args = ap.parse_args()

    ds = common.load_dataset(args.dataset, args.n, dim=args.dim, nq=args.nq, seed=args.seed)
    rng = np.random.default_rng([args.seed, 7])
    users = rng.integers(0, args.users, size=ds.n)
    qusers = rng.integers(0, args.users, size=ds.queries.shape[0])
    probe_v = common.connect_vindex(":memory:", args.ext)
    probe_s = common.connect_sqlite_vec(":memory:")
    info = common.machine_info(probe_v, probe_s)
    probe_v.close()
    probe_s.close()
    common.print_machine(info)
    sizes = np.bincount(users, minlength=args.users)
    print(f"data: {ds.source}: {ds.n:,} x {ds.dim}, {args.users} users (rows per user: min {sizes.min()}, "
          f"median {int(np.median(sizes))}, max {sizes.max()}), {ds.queries.shape[0]} queries, k={args.k}, cosine")

    base_u, queries_u = unit(ds.base), unit(ds.queries)
    gt_ids, kth = ground_truth(base_u, queries_u, users, qusers, args.k)
    params = [(i + 1, b, int(u)) for i, (b, u) in enumerate(zip(common.blobs(ds.base), users.tolist()))]
    qparams = [(b, int(u)) for b, u in zip(common.blobs(ds.queries), qusers.tolist())]
    order = list(range(len(qparams)))
    names = [n for n in ENGINES if not (args.no_metadata and "metadata" in n)]
    tmp = Path(args.tmpdir or tempfile.gettempdir()) / f"vindex-partition-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {n: str(tmp / f"{n.split()[0]}-{'meta' if 'metadata' in n else 'part'}.db") for n in names}
    res: dict = {"insert": {}, "query": {}}
    errors: list[str] = []
    # Keep one connection of each extension open, as an app would: SQLite unloads an extension
    # (and vindex's process-wide cache) when the last connection that loaded it closes.
    keepers = [common.connect_vindex(":memory:", args.ext), common.connect_sqlite_vec(":memory:")]
    try:
        if args.wait_idle > 0:
            res["wait_idle"] = [common.wait_idle(args.wait_idle)]
        for n in names:
            res["insert"][n] = do_insert(n, paths[n], ds, params, args)
        del params
        passes = [("vindex (partition key)", "vindex (partition key)"),
                  ("sqlite-vec (partition key)", "sqlite-vec (partition key)"),
                  ("vindex (partition key)", "vindex (partition key), pass 2")]
        if not args.no_metadata:
            passes.append(("vindex (user_id as metadata)", "vindex (user_id as metadata)"))
        for eng, label in passes:
            if args.wait_idle > 0:
                res["wait_idle"].append(common.wait_idle(args.wait_idle, quiet=True))
            first, stats, out, qidx = query_pass(eng, paths[eng], qparams, order, args)
            stats.update(score(out, qidx, gt_ids, kth, base_u, queries_u, users, qusers, args.k))
            stats["first_pass"] = first
            res["query"][label] = stats
            if stats["recall_tie_aware"] < 1.0 or stats["short_results"] or stats["rows_of_other_users"]:
                errors.append(f"{label} is not exact: recall {stats['recall']:.4f} (tie-aware "
                              f"{stats['recall_tie_aware']:.4f}), {stats['short_results']} short results, "
                              f"{stats['rows_of_other_users']} rows of other users")
    finally:
        for c in keepers:
            c.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    q = res["query"]
    print()
    print(f"### One-user KNN, k={args.k}: `WHERE embedding MATCH ? AND k = {args.k} AND user_id = ?`, "
          "each query timed alone")
    rows = [[n, s["qps"], s["p50_ms"], s["p95_ms"], s["first_pass"]["qps"], s["first_pass"]["p50_ms"],
             f"{s['recall']:.4f}", s["count"], s["contention"]["other_procs_cores"]] for n, s in q.items()]
    print(common.markdown_table(["engine", "QPS (warm)", "p50 ms", "p95 ms", "QPS (first pass)", "p50 ms (first pass)",
                                 "recall@k", "queries (warm)", "other procs (cores)"], rows))
    for n, s in q.items():
        print(f"plan, {n}: {s['plan']}")
    print()
    print(f"### Insert {ds.n:,} rows in one transaction into a file database")
    rows = []
    for n, s in res["insert"].items():
        st = s.get("status_after_insert") or {}
        chunks = st.get("chunks", s.get("chunks"))
        rows.append([n, s["seconds"], f"{s['rows_per_s']:,.0f}", s["file_bytes"] / 1e6, f"{s['file_over_raw']:.2f}×",
                     chunks, s["contention"]["other_procs_cores"]])
    print(common.markdown_table(["engine", "seconds", "rows/s", "file MB", "file/raw", "chunks",
                                 "other procs (cores)"], rows))

    vp = [q[n] for n in ("vindex (partition key)", "vindex (partition key), pass 2") if n in q]
    vw = sum(p["count"] for p in vp) / sum(p["count"] / p["qps"] for p in vp)
    ratios = {"qps_vs_sqlite_vec": vw / q["sqlite-vec (partition key)"]["qps"],
              "first_pass_qps_vs_sqlite_vec": q["vindex (partition key)"]["first_pass"]["qps"]
              / q["sqlite-vec (partition key)"]["first_pass"]["qps"],
              "p50_sqlite_vec_over_vindex": q["sqlite-vec (partition key)"]["p50_ms"]
              / min(p["p50_ms"] for p in vp)}
    if len(vp) == 2:
        ratios["vindex_pass2_over_pass1"] = vp[1]["qps"] / vp[0]["qps"]
    if "vindex (user_id as metadata)" in q:
        ratios["partition_over_metadata"] = vw / q["vindex (user_id as metadata)"]["qps"]
    ratios["insert_vs_sqlite_vec"] = (res["insert"]["vindex (partition key)"]["rows_per_s"]
                                      / res["insert"]["sqlite-vec (partition key)"]["rows_per_s"])
    print()
    print("### Ratios")
    rr = [common.ratio_row("vindex QPS (both passes) / sqlite-vec QPS, partition keys", ratios["qps_vs_sqlite_vec"],
                           TARGETS["qps_vs_sqlite_vec"]),
          common.ratio_row("sqlite-vec p50 / vindex p50 (warm)", ratios["p50_sqlite_vec_over_vindex"], None),
          common.ratio_row("vindex QPS / sqlite-vec QPS, first pass (each user's chunks read from the pages once)",
                           ratios["first_pass_qps_vs_sqlite_vec"], TARGETS["qps_vs_sqlite_vec"])]
    if "vindex_pass2_over_pass1" in ratios:
        rr.append(common.ratio_row("vindex pass 2 QPS / pass 1 QPS (consistency; ~1 expected)",
                                   ratios["vindex_pass2_over_pass1"], None))
    if "partition_over_metadata" in ratios:
        rr.append(common.ratio_row("vindex partition key QPS / user_id as metadata QPS",
                                   ratios["partition_over_metadata"], None))
    rr.append(common.ratio_row("vindex insert rows/s / sqlite-vec insert rows/s", ratios["insert_vs_sqlite_vec"], None))
    print(common.markdown_table(["ratio", "value", "target", "verdict"], rr))
    for e in errors:
        print(f"ERROR: {e}")
    if not args.no_json:
        payload = {"benchmark": "partition", "args": vars(args), "machine": info, "dataset": ds.describe(),
                   "results": res, "ratios": ratios, "targets": TARGETS, "errors": errors,
                   "loadavg_end": list(os.getloadavg())}
        print(f"\nwrote {common.write_results('partition', payload)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
