#!/usr/bin/env python3
"""vindex through a 3-node dqlite cluster vs the same table in a local SQLite file, in one run.

The same rows (default: the first 20,000 MiniLM-L6 embeddings of ../shared/data/minilm, 384-d,
cosine, plus an integer metadata column with 10 values) go into a vindex table twice:

  * cluster: 3 `vindex-dqlite-node` processes on loopback (dqlite's default Raft timeouts), the
    client on the same machine talking to the leader over TCP with tests/dqlite/dqwire.py
    (a pure-Python client of dqlite's wire protocol); a write is acknowledged once a majority
    has it in its Raft log (fsync'd);
  * local: a file database opened by Python's sqlite3 (SQLite 3.40.1) in WAL mode with
    synchronous=FULL (each commit fsync'd, the closest local equivalent), and for context NORMAL.

Measured: batched inserts (one multi-row INSERT of --batch rows per transaction), single-row
inserts (one transaction each), and KNN k=10 QPS with and without a 10 %-selective metadata
filter (one query at a time, warm: after --warmup queries on the same connection). Every
cluster answer must equal the local one (same rowids), so both sides did the same work.

  make bench-dqlite            # or: bench/.venv/bin/python bench/dqlite.py [--n 20000] ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import common

sys.path.insert(0, str(common.REPO_ROOT / "tests" / "dqlite"))
from cluster import Cluster  # noqa: E402

DB = "bench"
CREATE = "CREATE VIRTUAL TABLE t USING vindex(embedding float[{dim}] distance=cosine, category integer)"
KNN = "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = 10"
KNN_FILTER = "SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = 10 AND category = ?"


class Local:
    def __init__(self, path, sync, ext):
        self.conn = common.connect_vindex(path, ext)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={sync}")

    def exec(self, sql, params=()):
        self.conn.execute(sql, params)

    def query(self, sql, params=()):
        return self.conn.execute(sql, params).fetchall()

    def close(self):
        self.conn.close()


def insert_batches(db, rows, batch):
    """rows: [(rowid, blob, category)]; one INSERT of `batch` rows per transaction."""
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        sql = "INSERT INTO t(rowid, embedding, category) VALUES " + ", ".join(["(?, ?, ?)"] * len(chunk))
        db.exec(sql, [x for r in chunk for x in r])
    return len(rows) / (time.perf_counter() - t0)


def insert_singles(db, rows):
    t0 = time.perf_counter()
    for r in rows:
        db.exec("INSERT INTO t(rowid, embedding, category) VALUES (?, ?, ?)", list(r))
    return len(rows) / (time.perf_counter() - t0)


def knn_run(db, queries, filtered, warmup):
    def one(i):
        q = queries[i]
        if filtered:
            return [r[0] for r in db.query(KNN_FILTER, [q, i % 10])]
        return [r[0] for r in db.query(KNN, [q])]

    lat, res, _ = common.time_each(one, range(len(queries)), warmup=warmup)
    return common.summarize_ns(lat), res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None, help="directory with base.f32/queries.f32, or 'synthetic'")
    ap.add_argument("--n", type=int, default=20_000, help="rows (default 20,000)")
    ap.add_argument("--nq", type=int, default=300, help="timed queries per case (default 300)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=80, help="rows per INSERT (dqlite binds <= 255 parameters)")
    ap.add_argument("--singles", type=int, default=300, help="single-row inserts timed (default 300)")
    common.add_common_args(ap)
    args = ap.parse_args()
    if args.batch * 3 > 255:
        raise SystemExit("--batch: at most 85 rows (3 parameters each, dqlite binds <= 255)")

    ds = common.load_dataset(args.dataset, args.n + args.singles, nq=args.nq)
    blobs = common.blobs(ds.base)
    rows = [(i + 1, blobs[i], i % 10) for i in range(args.n)]
    singles = [(args.n + i + 1, blobs[args.n + i], i % 10) for i in range(args.singles)]
    queries = common.blobs(ds.queries)
    ext = common.ext_path(args.ext)

    probe = common.connect_vindex(":memory:", ext)
    info = common.machine_info(probe)
    probe.close()
    common.print_machine(info)
    print(f"data: {ds.source}; {args.n} rows in batches of {args.batch}, {args.singles} single-row inserts, "
          f"{args.nq} queries per case")
    if args.wait_idle:
        common.wait_idle(args.wait_idle)

    work = tempfile.mkdtemp(prefix="vindex-bench-dqlite-")
    cl = Cluster(work, 3, ["--extension", ext + ".so"])
    results = {}
    try:
        cl.start()
        leader = cl.leader()
        client = cl.connect(leader, DB, timeout=60)
        sides = {"cluster": client}
        for sync in ("FULL", "NORMAL"):
            sides[f"local {sync}"] = Local(os.path.join(work, f"local-{sync}.db"), sync, ext)
        for name, db in sides.items():
            db.exec(CREATE.format(dim=ds.dim))
            r = {"batch_rows_per_s": insert_batches(db, rows, args.batch),
                 "single_rows_per_s": insert_singles(db, singles)}
            results[name] = r
            print(f"{name}: inserts {r['batch_rows_per_s']:,.0f} rows/s batched, "
                  f"{r['single_rows_per_s']:,.0f} rows/s one per transaction", flush=True)
        answers = {}
        for name, db in sides.items():
            for filtered in (False, True):
                stats, res = knn_run(db, queries, filtered, args.warmup)
                key = "knn_filtered" if filtered else "knn"
                results[name][key] = stats
                answers[(name, filtered)] = res
                print(f"{name}: {key} {stats['qps']:,.0f} QPS, p50 {stats['p50_ms']:.2f} ms", flush=True)
        for filtered in (False, True):
            base = answers[("local FULL", filtered)]
            for name in sides:
                if answers[(name, filtered)] != base:
                    raise SystemExit(f"{name} answered differently from the local table (filtered={filtered})")
        client.close()
        for name, db in sides.items():
            if name != "cluster":
                db.close()
    finally:
        cl.close()
        shutil.rmtree(work, ignore_errors=True)

    loc = results["local FULL"]
    c = results["cluster"]
    table = [
        ["insert, batches of %d rows (rows/s)" % args.batch, c["batch_rows_per_s"], loc["batch_rows_per_s"],
         results["local NORMAL"]["batch_rows_per_s"], c["batch_rows_per_s"] / loc["batch_rows_per_s"]],
        ["insert, 1 row per transaction (rows/s)", c["single_rows_per_s"], loc["single_rows_per_s"],
         results["local NORMAL"]["single_rows_per_s"], c["single_rows_per_s"] / loc["single_rows_per_s"]],
        ["KNN k=10 (QPS)", c["knn"]["qps"], loc["knn"]["qps"], results["local NORMAL"]["knn"]["qps"],
         c["knn"]["qps"] / loc["knn"]["qps"]],
        ["KNN k=10, filter 10 % (QPS)", c["knn_filtered"]["qps"], loc["knn_filtered"]["qps"],
         results["local NORMAL"]["knn_filtered"]["qps"], c["knn_filtered"]["qps"] / loc["knn_filtered"]["qps"]],
        ["KNN p50 ms", c["knn"]["p50_ms"], loc["knn"]["p50_ms"], results["local NORMAL"]["knn"]["p50_ms"], None],
    ]
    print()
    print(common.markdown_table(["", "3-node dqlite", "local, synchronous=FULL", "local, NORMAL",
                                 "cluster / local FULL"], table))
    print("every cluster answer equals the local table's (same rowids)")
    if not args.no_json:
        path = common.write_results("dqlite", {"machine": info, "dataset": ds.describe(), "args": vars(args),
                                               "results": results})
        print(f"results: {path}")


if __name__ == "__main__":
    main()
