"""Searches between writes (issue #7): an HNSW table that takes one autocommit INSERT before
every few searches, against hnswlib adding one item before as many searches.

    bench/.venv/bin/python bench/interleave.py [--n 100000] [--dim 128] [--steps 1000]
        [--per 5] [--ef 40] [--ext dist/vindex] [--keep DIR]

Each commit makes a new version of the table; a version makes its own in-memory array of
layer 0 and codes only after hundreds of searches, so between writes searches read an earlier
version's array around the nodes changed since (README, HNSW **Speed**). Measured: thread CPU
time per search (median and mean) and per INSERT, in three phases on the same file:
  * steady: 1,000 searches with no writes (the version has its own array);
  * interleaved: `--steps` times one autocommit INSERT, then `--per` searches;
  * the same for hnswlib (`add_items` of one row, then `knn_query` one at a time), same data,
    M = 16, ef_construction = 200, the same ef.
Data: `common.synthetic_clustered` (the 100k × 128 set of bench/hnsw.py); the new rows come
from the same distribution (an independent stream), the searches are its queries. WAL mode,
`synchronous=NORMAL` (the WAL default users get), the file in a temporary directory.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import common


def summary(lat: list[float]) -> dict:
    lat = sorted(lat)
    return {
        "median_us": lat[len(lat) // 2] * 1e6,
        "mean_us": sum(lat) / len(lat) * 1e6,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
    }


def run_vindex(path: str, ds, extra, args) -> dict:
    conn = common.connect_vindex(path, args.ext)
    conn.isolation_level = None
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE VIRTUAL TABLE t USING vindex(embedding float[{args.dim}] distance=cosine)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(rowid, embedding) VALUES (?, ?)",
                     [(i + 1, v.tobytes()) for i, v in enumerate(ds.base)])
    conn.execute("COMMIT")
    t = time.perf_counter()
    conn.execute("INSERT INTO t(t) VALUES ('index=hnsw(m=16, ef_construction=200)')")
    print(f"  vindex build: {time.perf_counter() - t:.1f} s", flush=True)
    sql = f"SELECT rowid FROM t WHERE embedding MATCH ? AND k = 10 AND ef_search = {args.ef}"
    qs = [q.tobytes() for q in ds.queries]
    status = "SELECT * FROM vindex_status WHERE table_name = 't'"
    for q in qs:
        conn.execute(sql, (q,)).fetchall()
    steady = []
    for q in qs:
        t = time.thread_time()
        conn.execute(sql, (q,)).fetchall()
        steady.append(time.thread_time() - t)
    inserts, searches, changed = [], [], []
    for i in range(args.steps):
        t = time.thread_time()
        conn.execute("INSERT INTO t(rowid, embedding) VALUES (?, ?)", (ds.n + 1 + i, extra[i].tobytes()))
        inserts.append(time.thread_time() - t)
        for j in range(args.per):
            q = qs[(i * args.per + j) % len(qs)]
            t = time.thread_time()
            conn.execute(sql, (q,)).fetchall()
            searches.append(time.thread_time() - t)
        cur = conn.execute(status)
        row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        changed.append(row.get("graph_array_changed", 0 if row["graph_array_bytes"] else None))
    conn.close()
    own = sum(1 for c in changed if c == 0)
    earlier = sum(1 for c in changed if c is not None and c > 0)
    return {
        "steady": summary(steady),
        "interleaved": summary(searches),
        "insert_us": statistics.mean(inserts) * 1e6,
        "steps_on_own_array": own,
        "steps_on_earlier_array": earlier,
        "steps_without_array": len(changed) - own - earlier,
    }


def run_hnswlib(ds, extra, args) -> dict:
    import hnswlib

    idx = hnswlib.Index(space="cosine", dim=args.dim)
    idx.init_index(max_elements=ds.n + args.steps, M=16, ef_construction=200, random_seed=42)
    idx.set_num_threads(1)
    idx.add_items(ds.base, np.arange(1, ds.n + 1))
    idx.set_ef(args.ef)
    for q in ds.queries:
        idx.knn_query(q, k=10)
    steady = []
    for q in ds.queries:
        t = time.thread_time()
        idx.knn_query(q, k=10)
        steady.append(time.thread_time() - t)
    inserts, searches = [], []
    for i in range(args.steps):
        t = time.thread_time()
        idx.add_items(extra[i:i + 1], np.array([ds.n + 1 + i]))
        inserts.append(time.thread_time() - t)
        for j in range(args.per):
            q = ds.queries[(i * args.per + j) % len(ds.queries)]
            t = time.thread_time()
            idx.knn_query(q, k=10)
            searches.append(time.thread_time() - t)
    return {"steady": summary(steady), "interleaved": summary(searches), "insert_us": statistics.mean(inserts) * 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1000, help="autocommit INSERTs")
    ap.add_argument("--per", type=int, default=5, help="searches after each INSERT")
    ap.add_argument("--ef", type=int, default=40, help="ef_search of both engines")
    ap.add_argument("--ext", default=None, help="the extension (default dist/vindex)")
    ap.add_argument("--keep", default=None, help="directory for the database file (kept)")
    args = ap.parse_args()
    ds = common.synthetic_clustered(args.n, args.dim, nq=1000, seed=42)
    extra = common.synthetic_clustered(args.steps, args.dim, nq=1, seed=4242).base
    info = common.machine_info(common.connect_vindex(":memory:", args.ext))
    common.print_machine(info)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(args.keep or tmp) / "interleave.db")
        v = run_vindex(path, ds, extra, args)
    h = run_hnswlib(ds, extra, args)
    print(f"\n{args.n:,} x {args.dim}, ef {args.ef}; {args.steps} autocommit INSERTs, {args.per} searches after each")
    print("| engine | search, no writes: median / mean µs | search between writes: median / mean / p99 µs | write µs |")
    print("|---|---|---|---|")
    for name, r in (("vindex", v), ("hnswlib", h)):
        s, i = r["steady"], r["interleaved"]
        print(f"| {name} | {s['median_us']:.0f} / {s['mean_us']:.0f} | "
              f"{i['median_us']:.0f} / {i['mean_us']:.0f} / {i['p99_us']:.0f} | {r['insert_us']:.0f} |")
    ratio = h["interleaved"]["mean_us"] / v["interleaved"]["mean_us"]
    print(f"\nsearches between writes, vindex / hnswlib speed (mean): {ratio:.2f}x; vindex steps on its own array "
          f"{v['steps_on_own_array']}, on an earlier version's {v['steps_on_earlier_array']}, "
          f"on none {v['steps_without_array']}")
    common.write_results("interleave", {"args": vars(args), "machine": info, "vindex": v, "hnswlib": h,
                                        "ratio_mean": ratio})


if __name__ == "__main__":
    main()
