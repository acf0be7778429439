#!/usr/bin/env python3
"""Regenerate data/demo/ (the dataset `make demo` searches) from ../shared/data.

Run once by developers, not by `make demo`:

    python3 scripts/make_demo_data.py [--src ../shared/data] [--out data/demo]

Needs only Python 3 and its standard library (no numpy); the exact searches over the full set
take about a minute. Reads
  SRC/minilm/{base.f32, texts_base.txt, ids_base.txt, meta.json}   116,648 WordNet 3.0 synsets
  SRC/minilm-demo-queries/{queries.f32, texts.txt}                  20 demo questions
checks the sha256 of the minilm inputs against minilm/meta.json, chooses 10,000 rows (below),
and writes
  OUT/vectors.f16.gz   10,000 x 384 float16 little-endian, row-major, gzip -9 (no name, mtime 0);
                       vector i belongs to element i of defs.json
  OUT/defs.json.gz     JSON array, one row per line, in ascending rowid order:
                       [rowid, synset, pos, word, synonyms, definition]
                       rowid = 1-based row number in SRC/minilm/base.f32 (= line in texts_base.txt)
  OUT/queries.f32      20 x 384 float32 little-endian (copied as is)
  OUT/queries.txt      the 20 query texts, one per line (copied as is)

How the 10,000 rows are chosen, so that the demo's searches give the answers the full set gives:
  1. for each of the 20 demo questions, its TOP_PER_QUERY = 30 nearest rows of the full set;
  2. every synset whose word (first lemma) is exactly "river", its RIVER_TOP = 60 nearest rows,
     and its RIVER_TOP_PER_POS = 10 nearest rows of each part of speech (so a search for the
     definition of river filtered on pos, with k <= 10, also gives the full set's answer);
  3. then rows of the full set in order from its start (row 1, 2, ...; the set is already in a
     random order) that are not chosen yet, until there are 10,000.
"Nearest" is exact cosine similarity (dot product of the unit-length float32 vectors, summed in
Python floats = float64); ties go to the lower row. Output is byte-for-byte reproducible. Prints
the sha256 of every output file (paste them into data/demo/README.md).
"""

import argparse
import array
import gzip
import hashlib
import io
import json
import math
import operator
import os
import struct
import sys
import time

DIMS = 384
N_FULL = 116_648
N_BASE = 10_000
N_QUERIES = 20
POS = ("n", "v", "a", "s", "r")
TOP_PER_QUERY = 30
RIVER_WORD = "river"
RIVER_TOP = 60
RIVER_TOP_PER_POS = 10


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_f32(path, rows):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    if len(a) != rows * DIMS:
        sys.exit(f"{path}: expected {rows} x {DIMS} float32, found {len(a)} values")
    return a


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def to_f16(a):
    """float32 values -> float16 little-endian bytes (round to nearest even, as numpy does)."""
    return struct.pack(f"<{len(a)}e", *a)


def gzip_bytes(data):
    buf = io.BytesIO()
    # filename='' and mtime=0 keep the output reproducible.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def split_text(line):
    """'lemma, lemma2: definition: more' -> ('lemma', 'lemma, lemma2', 'definition: more')."""
    lemmas, sep, definition = line.partition(": ")
    if not sep:
        raise ValueError(f"no ': ' in {line!r}")
    word = lemmas.split(", ")[0]
    return word, lemmas, definition


def exact_scores(base, n, queries):
    """Cosine similarity of every query with every base row: one list of n floats per query."""
    mul = operator.mul
    scores = [[0.0] * n for _ in queries]
    pairs = list(zip(queries, scores))
    t0 = time.monotonic()
    for r in range(n):
        row = base[r * DIMS : (r + 1) * DIMS]
        for q, s in pairs:
            s[r] = sum(map(mul, q, row))
        if r % 20_000 == 19_999:
            print(f"  exact search: {r + 1:,} / {n:,} rows, {time.monotonic() - t0:.0f} s", flush=True)
    return scores


def ranked(scores, rows=None):
    """Row indices by decreasing similarity (ties: lower row first)."""
    return sorted(range(len(scores)) if rows is None else rows, key=lambda i: (-scores[i], i))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(repo, "data", "demo"))
    args = ap.parse_args()
    full_dir = os.path.join(args.src, "minilm")
    q_dir = os.path.join(args.src, "minilm-demo-queries")

    # 1. Inputs are what meta.json says they are.
    with open(os.path.join(full_dir, "meta.json")) as f:
        meta = json.load(f)
    for name in ("base.f32", "texts_base.txt", "ids_base.txt"):
        want = meta["files"][name]["sha256"]
        got = sha256(os.path.join(full_dir, name))
        if got != want:
            sys.exit(f"{name}: sha256 {got} does not match meta.json ({want})")

    # 2. The full set: vectors, texts ("lemmas: definition") and synset ids (pos = first letter).
    full = read_f32(os.path.join(full_dir, "base.f32"), N_FULL)
    texts = read_lines(os.path.join(full_dir, "texts_base.txt"))
    ids = read_lines(os.path.join(full_dir, "ids_base.txt"))
    if len(texts) != N_FULL or len(ids) != N_FULL:
        sys.exit(f"expected {N_FULL} texts and ids, found {len(texts)} and {len(ids)}")
    parsed = []
    for i, (text, synset) in enumerate(zip(texts, ids)):
        pos = synset[0]
        if pos not in POS or len(synset) != 9 or not synset[1:].isdigit():
            sys.exit(f"row {i + 1}: unexpected synset id {synset!r}")
        word, lemmas, definition = split_text(text)
        parsed.append((synset, pos, word, lemmas, definition))

    # 3. Demo questions, copied as they are.
    with open(os.path.join(q_dir, "queries.f32"), "rb") as f:
        qvec = f.read()
    if len(qvec) != N_QUERIES * DIMS * 4:
        sys.exit(f"queries.f32: expected {N_QUERIES * DIMS * 4} bytes, found {len(qvec)}")
    with open(os.path.join(q_dir, "texts.txt"), encoding="utf-8") as f:
        qtext = f.read()
    if not qtext.endswith("\n"):
        qtext += "\n"
    if qtext.count("\n") != N_QUERIES:
        sys.exit(f"texts.txt: expected {N_QUERIES} lines")
    qarr = read_f32(os.path.join(q_dir, "queries.f32"), N_QUERIES)

    # 4. Choose the rows (0-based indices into the full set).
    river = [i for i, p in enumerate(parsed) if p[2] == RIVER_WORD]
    if not river:
        sys.exit(f"no synset whose word is {RIVER_WORD!r}")
    searches = [tuple(qarr[j * DIMS : (j + 1) * DIMS]) for j in range(N_QUERIES)]
    searches += [tuple(full[i * DIMS : (i + 1) * DIMS]) for i in river]
    print(f"exact cosine search of {len(searches)} vectors ({N_QUERIES} questions + "
          f"{len(river)} {RIVER_WORD!r}) over {N_FULL:,} rows")
    scores = exact_scores(full, N_FULL, searches)

    chosen = set()
    for s in scores[:N_QUERIES]:
        chosen.update(ranked(s)[:TOP_PER_QUERY])
    n_queries = len(chosen)
    for s in scores[N_QUERIES:]:
        order = ranked(s)
        chosen.update(order[:RIVER_TOP])
        for pos in POS:
            chosen.update([i for i in order if parsed[i][1] == pos][:RIVER_TOP_PER_POS])
    n_river = len(chosen) - n_queries
    n_fill = 0
    last_fill = -1
    for i in range(N_FULL):
        if len(chosen) == N_BASE:
            break
        if i not in chosen:
            chosen.add(i)
            n_fill += 1
            last_fill = i
    rows = sorted(chosen)
    assert len(rows) == N_BASE
    print(f"rows: {n_queries} nearest to the questions, {n_river} more for {RIVER_WORD!r} "
          f"(rowid {', '.join(str(i + 1) for i in river)}), {n_fill} more from the start of the full set: "
          f"rowids 1..{last_fill + 1} are all in, and {sum(1 for i in rows if i > last_fill)} rowids above")
    print("pos: " + ", ".join(f"{p} {sum(1 for i in rows if parsed[i][1] == p):,}" for p in POS))

    # 5. Vectors: float32 -> float16, and check they survive the conversion.
    base = array.array("f")
    for i in rows:
        base.extend(full[i * DIMS : (i + 1) * DIMS])
    f16 = to_f16(base)
    back = struct.unpack(f"<{len(base)}e", f16)
    worst_norm = 0.0
    for r in range(N_BASE):
        row = back[r * DIMS : (r + 1) * DIMS]
        worst_norm = max(worst_norm, abs(math.sqrt(sum(x * x for x in row)) - 1.0))
    max_err = max(abs(x - y) for x, y in zip(base, back))
    print(f"float16: max |error| {max_err:.2e}, max | |v| - 1 | {worst_norm:.2e}")

    # 6. Texts, in the same order as the vectors; rowid = 1-based row in the full set.
    defs_rows = [[i + 1, *parsed[i]] for i in rows]
    defs = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in defs_rows) + "\n]\n"

    os.makedirs(args.out, exist_ok=True)
    outputs = {
        "vectors.f16.gz": gzip_bytes(f16),
        "defs.json.gz": gzip_bytes(defs.encode("utf-8")),
        "queries.f32": qvec,
        "queries.txt": qtext.encode("utf-8"),
    }
    for name, data in outputs.items():
        path = os.path.join(args.out, name)
        with open(path, "wb") as f:
            f.write(data)
        print(f"{name:16} {len(data):>9} bytes  sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"raw vectors.f16  {len(f16):>9} bytes  sha256 {hashlib.sha256(f16).hexdigest()}")
    print(f"raw defs.json    {len(defs.encode('utf-8')):>9} bytes  sha256 {hashlib.sha256(defs.encode('utf-8')).hexdigest()}")


if __name__ == "__main__":
    main()
