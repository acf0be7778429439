#!/usr/bin/env python3
"""How fast can SQLite hand back 100k x 384 float32 vectors: one row per vector vs chunked blobs.

Plain SQLite tables (no extension), file database in a temp dir, three layouts:
  row      one row per vector        t(id INTEGER PRIMARY KEY, v BLOB)   1,536-byte blobs
  chunk64  64 vectors per blob       same schema                          98,304-byte blobs
  chunk256 256 vectors per blob      same schema                          393,216-byte blobs
read three ways, timing only the reading (median of --reps after one untimed pass):
  sql       SELECT sum(length(substr(v, -4))) FROM t: SQLite loads every blob in full (substr
            needs the value; length() alone would not read overflow pages), no Python per row
  select    for (v,) in conn.execute("SELECT v FROM t"): what a Python caller pays (one bytes
            object per row)
  blobopen  conn.blobopen(t, v, rowid).read() per row: sqlite3_blob_open + read; Python has no
            sqlite3_blob_reopen, so each row pays a full open (a C caller can reopen cheaply)
in three configurations: 4 KB pages and 64 KB pages with a page cache that holds everything
(cache_size 1 GB), and 4 KB pages with SQLite's default 2 MB cache (pages come from the OS page
cache through read() on every scan). GB/s = vector bytes / time; "vs row" = speed-up over one
row per vector in the same configuration and method.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

LAYOUTS = [("row", 1), ("chunk64", 64), ("chunk256", 256)]
CONFIGS = [  # (label, page_size, cache_size pragma)
    ("4 KB pages, 1 GB cache", 4096, -1_000_000),
    ("64 KB pages, 1 GB cache", 65536, -1_000_000),
    ("4 KB pages, default 2 MB cache", 4096, None),
]


def build(path: str, page_size: int, base: np.ndarray) -> dict:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size = {page_size}")
    conn.execute("BEGIN")
    sizes = {}
    for name, per in LAYOUTS:
        conn.execute(f"CREATE TABLE {name}(id INTEGER PRIMARY KEY, v BLOB)")
        rows = ((i // per + 1, base[i:i + per].tobytes()) for i in range(0, base.shape[0], per))
        conn.executemany(f"INSERT INTO {name}(id, v) VALUES (?, ?)", rows)
    conn.execute("COMMIT")
    for name, _ in LAYOUTS:
        try:  # dbstat is compiled into Debian's SQLite; optional
            sizes[name] = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (name,)).fetchone()[0]
        except sqlite3.Error:
            sizes[name] = None
    conn.close()
    return sizes


def readers(conn: sqlite3.Connection, table: str, ids: list[int]):
    def sql():
        return conn.execute(f"SELECT sum(length(substr(v, -4))) FROM {table}").fetchone()[0]

    def select():
        n = 0
        for (v,) in conn.execute(f"SELECT v FROM {table}"):
            n += len(v)
        return n

    def blobopen():
        n = 0
        for i in ids:
            with conn.blobopen(table, "v", i, readonly=True) as b:
                n += len(b.read())
        return n

    return {"sql": sql, "select": select, "blobopen": blobopen}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=None, help="directory with base.f32 (default ../shared/data/minilm if "
                                                    "present, else synthetic; 'synthetic' forces it)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384, help="dimensions for synthetic data (default 384)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--seed", type=int, default=42)
    common.add_common_args(ap)
    args = ap.parse_args()
    if not hasattr(sqlite3.Connection, "blobopen"):
        raise SystemExit("needs Python >= 3.11 (sqlite3.Connection.blobopen)")

    ds = common.load_dataset(args.dataset, args.n, dim=args.dim, nq=1, seed=args.seed)
    info = common.machine_info()
    common.print_machine(info)
    nbytes = ds.base.nbytes
    print(f"data: {ds.source}: {ds.n:,} x {ds.dim} float32 = {nbytes / 1e6:.1f} MB")
    idle = common.wait_idle(args.wait_idle) if args.wait_idle > 0 else None

    # Memory floor for the same bytes: one copy of the numpy array into an already-touched buffer.
    dst = np.empty_like(ds.base)
    med, _, _ = common.repeat_median(lambda: np.copyto(dst, ds.base), reps=args.reps)
    del dst
    floor_ms = med / 1e6

    tmp = Path(tempfile.mkdtemp(prefix="vindex-scan-", dir=args.tmpdir))
    results = []
    try:
        dbs = {}
        for label, page, cache in CONFIGS:
            path = str(tmp / f"scan-{page}.db")
            if path not in dbs:
                t0 = time.perf_counter()
                dbs[path] = build(path, page, ds.base)
                print(f"built {Path(path).name} ({page}-byte pages) in {time.perf_counter() - t0:.1f} s; "
                      f"file {os.path.getsize(path) / 1e6:.1f} MB; table bytes "
                      + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in dbs[path].items() if v))
            conn = sqlite3.connect(path, isolation_level=None)
            if cache is not None:
                conn.execute(f"PRAGMA cache_size = {cache}")
            for name, per in LAYOUTS:
                ids = [r[0] for r in conn.execute(f"SELECT id FROM {name} ORDER BY id")]
                for method, fn in readers(conn, name, ids).items():
                    with common.CpuMonitor() as mon:
                        med, all_ns, got = common.repeat_median(fn, reps=args.reps, warmup=1)
                    expect = 4 * len(ids) if method == "sql" else nbytes
                    if got != expect:
                        print(f"WARNING: {label} {name} {method} read {got} bytes, expected {expect}", file=sys.stderr)
                    results.append({"config": label, "page_size": page, "cache_size": cache, "layout": name,
                                    "vectors_per_blob": per, "blobs": len(ids), "method": method,
                                    "median_ms": med / 1e6, "all_ms": [x / 1e6 for x in all_ns],
                                    "gb_per_s": nbytes / (med / 1e9) / 1e9,
                                    "table_bytes": dbs[path][name], "contention": mon.info()})
            conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"median of {args.reps} scans of all {ds.n:,} vectors; memory floor (numpy copyto of the same "
          f"{nbytes / 1e6:.0f} MB): {floor_ms:.1f} ms = {nbytes / floor_ms / 1e6:.1f} GB/s")
    rows = []
    for label, _, _ in CONFIGS:
        for name, per in LAYOUTS:
            line = [label, name]
            for method in ("sql", "select", "blobopen"):
                r = next(x for x in results if x["config"] == label and x["layout"] == name and x["method"] == method)
                ref = next(x for x in results if x["config"] == label and x["layout"] == "row" and x["method"] == method)
                line += [r["median_ms"], r["gb_per_s"], f"{ref['median_ms'] / r['median_ms']:.1f}×"]
            rows.append(line)
    print(common.markdown_table(
        ["config", "layout", "sql ms", "sql GB/s", "sql vs row", "select ms", "select GB/s", "select vs row",
         "blobopen ms", "blobopen GB/s", "blobopen vs row"], rows))
    others = [x["contention"]["other_procs_cores"] for x in results if x["contention"]["other_procs_cores"] is not None]
    if others:
        print(f"\nother processes used {min(others):.2f}–{max(others):.2f} cores during the scans")
    if not args.no_json:
        payload = {"benchmark": "scan_layout", "args": vars(args), "machine": info, "dataset": ds.describe(),
                   "wait_idle": idle, "memory_floor_ms": floor_ms, "results": results,
                   "loadavg_end": list(os.getloadavg())}
        print(f"\nwrote {common.write_results('scan_layout', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
