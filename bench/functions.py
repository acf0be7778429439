#!/usr/bin/env python3
"""Scalar distance functions over a plain table: vindex vs sqlite-vec 0.1.9, same run.

    SELECT sum(vec_distance_l2(v, :q)) FROM t          -- and vec_distance_cosine
    t(v BLOB): 100,000 rows of 768-d float32 (then 384-d) BLOBs

Each extension gets its own in-memory connection holding an identical table built from the same
numpy array; queries alternate between the two connections (so background load hits both), each
is repeated --reps times after one warm-up, and the median is reported. The line
`sum(vec_length(v))` is the floor of the same scan without a distance kernel (row walk, blob
load, argument decoding, one extension function call per row) and `sum(length(v))` is SQLite's
own row walk (length() does not even load the blob), both measured in each connection. Column
"ns/row over floor" = (distance time - that engine's vec_length time) / rows: the kernel plus any
per-call work the distance function does beyond decoding one vector.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time

import numpy as np

import common

QUERIES = {
    "l2": "SELECT sum(vec_distance_l2(v, ?)) FROM t",
    "cosine": "SELECT sum(vec_distance_cosine(v, ?)) FROM t",
    "vec_length": "SELECT sum(vec_length(v)) FROM t",
    "length": "SELECT sum(length(v)) FROM t",
}
LABELS = {
    "l2": "vec_distance_l2",
    "cosine": "vec_distance_cosine",
    "vec_length": "vec_length (floor: decode, no kernel)",
    "length": "length (SQLite row walk)",
}
TARGET = 2.0  # vindex / sqlite-vec throughput for float32 at 768-d


def build(conn: sqlite3.Connection, rows: list[tuple[bytes]]) -> float:
    t0 = time.perf_counter()
    conn.execute("DROP TABLE IF EXISTS t")
    conn.execute("CREATE TABLE t(v BLOB)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(v) VALUES (?)", rows)
    conn.execute("COMMIT")
    return time.perf_counter() - t0


def data_for(dim: int, n: int, args) -> tuple[np.ndarray, np.ndarray, str]:
    """384-d: the MiniLM base when present (real data); otherwise seeded synthetic clustered data."""
    if dim == 384 and args.dataset != "synthetic":
        try:
            ds = common.load_dataset(args.dataset, n, dim=dim, nq=1)
            if ds.dim == dim:
                return ds.base, ds.queries[0], ds.name
        except (OSError, ValueError, SystemExit):
            pass
    ds = common.synthetic_clustered(n, dim, nq=1, seed=args.seed)
    return ds.base, ds.queries[0], ds.name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="rows (default 100000)")
    ap.add_argument("--dims", default="768,384", help="comma-separated dimensions (default 768,384)")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per query (median reported; default 7)")
    ap.add_argument("--dataset", default=None,
                    help="directory with base.f32 for the 384-d line (default ../shared/data/minilm if present; "
                         "'synthetic' to force generated data)")
    ap.add_argument("--seed", type=int, default=42)
    common.add_common_args(ap)
    args = ap.parse_args()
    if args.reps < 5:
        ap.error("--reps must be at least 5")

    vconn = common.connect_vindex(":memory:", args.ext)
    sconn = common.connect_sqlite_vec(":memory:")
    info = common.machine_info(vconn, sconn)
    common.print_machine(info)
    idle = common.wait_idle(args.wait_idle) if args.wait_idle > 0 else None
    print()

    results = []
    table = []
    for dim in [int(x) for x in args.dims.split(",") if x.strip()]:
        base, q, dname = data_for(dim, args.n, args)
        rows = [(b,) for b in common.blobs(base)]
        qb = q.astype("<f4").tobytes()
        build_s = {"vindex": build(vconn, rows), "sqlite-vec": build(sconn, rows)}
        del rows
        vec_bytes = base.nbytes
        # Reference sums in float64 (for a correctness check, not timing).
        b64 = base.astype(np.float64)
        q64 = q.astype(np.float64)
        ref = {
            "l2": float(np.sqrt(((b64 - q64) ** 2).sum(axis=1)).sum()),
            "cosine": float((1.0 - (b64 @ q64) / (np.linalg.norm(b64, axis=1) * np.linalg.norm(q64))).sum()),
            "vec_length": float(dim * base.shape[0]),
            "length": float(dim * 4 * base.shape[0]),
        }
        del b64
        medians = {}
        pending = []
        for metric in ("l2", "cosine", "vec_length", "length"):
            sql = QUERIES[metric]
            params = (qb,) if "?" in sql else ()
            conns = {"vindex": vconn, "sqlite-vec": sconn}
            times = {k: [] for k in conns}
            vals = {}
            with common.CpuMonitor() as mon:
                for c in conns.values():  # one warm-up each
                    c.execute(sql, params).fetchone()
                for _ in range(args.reps):  # alternate so background noise hits both
                    for name, c in conns.items():
                        t0 = time.perf_counter_ns()
                        vals[name] = c.execute(sql, params).fetchone()[0]
                        times[name].append(time.perf_counter_ns() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            medians[metric] = med
            for name in conns:
                rel_err = abs(vals[name] - ref[metric]) / max(1e-12, abs(ref[metric]))
                rec = {
                    "dim": dim, "n": base.shape[0], "data": dname, "metric": metric, "engine": name,
                    "sql": sql, "median_ms": med[name] / 1e6,
                    "all_ms": [t / 1e6 for t in times[name]],
                    "rows_per_s": base.shape[0] / (med[name] / 1e9),
                    "gb_per_s": vec_bytes / (med[name] / 1e9) / 1e9,
                    "value": vals[name], "reference": ref[metric], "rel_err": rel_err,
                    "table_build_s": build_s[name], "contention": mon.info(),
                }
                results.append(rec)
                if rel_err > 1e-3:
                    print(f"WARNING: {name} {metric} {dim}-d sum {vals[name]!r} differs from numpy {ref[metric]!r} "
                          f"(rel err {rel_err:.2e})", file=sys.stderr)
            ratio = med["sqlite-vec"] / med["vindex"]  # throughput ratio = inverse time ratio
            results.append({"dim": dim, "metric": metric, "ratio_vindex_over_sqlite_vec": ratio})
            pending.append((metric, ratio, mon.other_cores))
        for metric, ratio, other in pending:  # print after vec_length ran, for the over-floor column
            for name in ("vindex", "sqlite-vec"):
                r = next(x for x in results if x.get("engine") == name and x["dim"] == dim and x["metric"] == metric)
                over = None
                if metric in ("l2", "cosine"):
                    over = (medians[metric][name] - medians["vec_length"][name]) / base.shape[0]
                    r["ns_per_row_over_vec_length"] = over
                table.append([f"{dim}", LABELS[metric], name, r["median_ms"], f"{r['rows_per_s'] / 1e6:.2f} M",
                              r["gb_per_s"], over, f"{ratio:.2f}×" if name == "vindex" else "",
                              f"{other:.2f}" if other is not None else "-"])
        print(f"{dim}-d: {base.shape[0]:,} rows of {dname}, {vec_bytes / 1e6:.1f} MB of vectors; "
              f"table build {build_s['vindex']:.2f} s / {build_s['sqlite-vec']:.2f} s")

    print()
    print(f"median of {args.reps} runs, one query = full scan of t; GB/s = vector bytes / time; "
          "ratio = vindex throughput / sqlite-vec throughput")
    print(common.markdown_table(["dim", "function", "engine", "ms/query", "rows/s", "GB/s", "ns/row over floor",
                                 "vindex/sqlite-vec", "other procs (cores)"], table))

    print()
    rat = []
    for r in results:
        if "ratio_vindex_over_sqlite_vec" in r and r["metric"] in ("l2", "cosine"):
            tgt = TARGET if r["dim"] == 768 else None
            rat.append(common.ratio_row(f"vec_distance_{r['metric']} {r['dim']}-d, vindex/sqlite-vec throughput",
                                        r["ratio_vindex_over_sqlite_vec"], tgt))
    print(common.markdown_table(["ratio", "value", "target", "verdict"], rat))
    if not args.no_json:
        payload = {"benchmark": "functions", "args": vars(args), "machine": info, "wait_idle": idle,
                   "loadavg_end": list(os.getloadavg()), "results": results}
        print(f"\nwrote {common.write_results('functions', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
