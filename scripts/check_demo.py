#!/usr/bin/env python3
"""Check the demo database against exact search: vindex's answers = brute force.

Run after `make demo` (it needs target/demo/demo.db, dist/vindex.so and the sqlite3 shell):

    python3 scripts/check_demo.py [--src ../shared/data] [--k 10]

Standard library only. For each of the 20 demo questions, and for the definition of "river"
(unfiltered and with pos = n, v, a, s, r), runs a vindex KNN search (k = 10) in the sqlite3
shell and compares it with exact searches (float64 sums) over the same 10,000 rows:
  - over the float16 vectors vindex stores (data/demo/vectors.f16.gz): the same rows in the
    same order, distances within 1e-5;
  - over their original float32 vectors (SRC/minilm/base.f32, row = rowid - 1): the same rows
    in the same order, except where two rows' float32 distances are closer than 1e-4 (float16
    rounding can swap such near-ties); these are listed.
Exits 1 on any other difference.
"""

import argparse
import array
import gzip
import json
import math
import operator
import os
import struct
import subprocess
import sys

DIMS = 384
N_QUERIES = 20
POS = ("n", "v", "a", "s", "r")
TOL_F16 = 1e-5  # vindex vs exact search over the same float16 vectors
TIE_F32 = 1e-4  # float32 distances closer than this may come out swapped


def read_f32(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def sqlite_json(sqlite3, db, ext, sql):
    out = subprocess.run([sqlite3, "-bail", "-json", db, f".load {ext}", sql],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    demo = os.path.join(repo, "data", "demo")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--db", default=os.path.join(repo, "target", "demo", "demo.db"))
    ap.add_argument("--ext", default=os.path.join(repo, "dist", "vindex"))
    ap.add_argument("--sqlite3", default=os.environ.get("SQLITE3", "sqlite3"))
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    k = args.k

    # The 10,000 rows: rowid, pos, float16 vector (as vindex has it), float32 original.
    with gzip.open(os.path.join(demo, "defs.json.gz"), "rt", encoding="utf-8") as f:
        defs = json.load(f)
    rowids = [r[0] for r in defs]
    pos_of = {r[0]: r[2] for r in defs}
    with gzip.open(os.path.join(demo, "vectors.f16.gz"), "rb") as f:
        f16 = struct.unpack(f"<{len(rowids) * DIMS}e", f.read())
    vec16 = {rid: f16[i * DIMS : (i + 1) * DIMS] for i, rid in enumerate(rowids)}
    full = read_f32(os.path.join(args.src, "minilm", "base.f32"))
    vec32 = {rid: tuple(full[(rid - 1) * DIMS : rid * DIMS]) for rid in rowids}
    del full, f16
    qarr = read_f32(os.path.join(demo, "queries.f32"))
    queries = [tuple(qarr[j * DIMS : (j + 1) * DIMS]) for j in range(N_QUERIES)]
    with open(os.path.join(demo, "queries.txt"), encoding="utf-8") as f:
        qtext = f.read().splitlines()

    mul = operator.mul

    norm = lambda v: math.sqrt(sum(map(mul, v, v)))
    norm16 = {rid: norm(v) for rid, v in vec16.items()}
    norm32 = {rid: norm(v) for rid, v in vec32.items()}

    def distances(q, vecs, norms, pos):
        """Cosine distance 1 - <q, v> / (|q| |v|) (float16 vectors are only nearly unit length)."""
        nq = norm(q)
        return {rid: 1.0 - sum(map(mul, q, vecs[rid])) / (nq * norms[rid])
                for rid in rowids if pos is None or pos_of[rid] == pos}

    # (label, query vector as vindex gets it (float32 question or float16 row), as float32, pos)
    as16 = lambda v: struct.unpack(f"<{len(v)}e", struct.pack(f"<{len(v)}e", *v))
    cases = [(f"q{j + 1} {qtext[j]!r}", as16(q), q, None) for j, q in enumerate(queries)]
    run = lambda sql: sqlite_json(args.sqlite3, args.db, args.ext, sql)
    got = run(f"SELECT q.id AS q, d.rowid AS rowid, d.distance AS distance FROM demo_queries AS q "
              f"JOIN defs AS d ON d.embedding MATCH q.embedding AND d.k = {k}")
    answers = [[(r["rowid"], r["distance"]) for r in got if r["q"] == j + 1] for j in range(N_QUERIES)]
    river = [r["rowid"] for r in run("SELECT rowid FROM defs WHERE word = 'river' AND pos = 'n'")]
    if len(river) != 1:
        sys.exit(f"expected one noun 'river', found rowids {river}")
    match = "embedding MATCH (SELECT embedding FROM defs WHERE word = 'river' AND pos = 'n' LIMIT 1)"
    for pos in (None, *POS):
        filt = "" if pos is None else f" AND pos = '{pos}'"
        cases.append((f"river{filt}", vec16[river[0]], vec32[river[0]], pos))
        got = run(f"SELECT rowid, distance FROM defs WHERE {match} AND k = {k}{filt}")
        answers.append([(r["rowid"], r["distance"]) for r in got])

    bad = ties = 0
    worst16 = worst32 = 0.0
    for (label, q16, q32, pos), mine in zip(cases, answers):
        problems = []
        if len(mine) != k:
            problems.append(f"{len(mine)} rows, not {k}")
        # Exact over the float16 vectors: same rows, same order, same distances.
        d16 = distances(q16, vec16, norm16, pos)
        want = sorted(d16, key=lambda r: (d16[r], r))[:k]
        if [r for r, _ in mine] != want:
            problems.append(f"float16 exact order {want}")
        err = max((abs(d - d16[r]) for r, d in mine if r in d16), default=0.0)
        worst16 = max(worst16, err)
        if err > TOL_F16:
            problems.append(f"distance differs from float16 exact by {err:.1e}")
        # Exact over the float32 originals: same order, up to near-ties.
        d32 = distances(q32, vec32, norm32, pos)
        want32 = sorted(d32, key=lambda r: (d32[r], r))[:k]
        worst32 = max([worst32] + [abs(d - d32[r]) for r, d in mine if r in d32])
        if [r for r, _ in mine] != want32:
            seq = [d32.get(r, 9.0) for r, _ in mine]
            ordered = all(b >= a - TIE_F32 for a, b in zip(seq, seq[1:]))
            complete = len(seq) == k and seq[-1] <= d32[want32[-1]] + TIE_F32
            pairs = {tuple(sorted((a, b))) for a, b in zip([r for r, _ in mine], want32) if a != b and a in d32}
            swapped = [(a, b, f"{abs(d32[a] - d32[b]):.1e}") for a, b in sorted(pairs)]
            if ordered and complete:
                ties += 1
                print(f"near-tie  {label}: rows swapped vs float32 (rowid, rowid, float32 gap): {swapped}")
            else:
                problems.append(f"float32 exact order {want32}")
        if problems:
            bad += 1
            print(f"DIFFERENT {label}\n  vindex {mine}\n  " + "\n  ".join(problems))
    print(f"{len(cases)} searches (k = {k}): {len(cases) - bad} equal to exact search over the stored float16 "
          f"vectors (largest distance difference {worst16:.1e}); {len(cases) - bad - ties} also in the same order "
          f"as over the float32 originals, {ties} up to near-ties (largest distance difference {worst32:.1e}); "
          f"{bad} different")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
