#!/usr/bin/env python3
"""Regenerate data/demo/ (the dataset `make demo` searches) from ../shared/data.

Run once by developers, not by `make demo`:

    python3 scripts/make_demo_data.py [--src ../shared/data] [--out data/demo]

Standard library only. Reads
  SRC/minilm-10k/{base.f32, texts_base.txt, ids_base.txt, meta.json}
  SRC/minilm-demo-queries/{queries.f32, texts.txt}
checks the sha256 of the inputs against minilm-10k/meta.json, and writes
  OUT/vectors.f16.gz   10,000 x 384 float16 little-endian, row-major, gzip -9 (no name, mtime 0)
  OUT/defs.json.gz     JSON array, one row per line:
                       [rowid, synset, pos, word, synonyms, definition]
  OUT/queries.f32      20 x 384 float32 little-endian (copied as is)
  OUT/queries.txt      the 20 query texts, one per line (copied as is)
Output is byte-for-byte reproducible. Prints the sha256 of every output file
(paste them into data/demo/README.md).
"""

import argparse
import array
import gzip
import hashlib
import io
import json
import math
import os
import struct
import sys

DIMS = 384
N_BASE = 10_000
N_QUERIES = 20
POS = {"n", "v", "a", "s", "r"}


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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(repo, "data", "demo"))
    args = ap.parse_args()
    base_dir = os.path.join(args.src, "minilm-10k")
    q_dir = os.path.join(args.src, "minilm-demo-queries")

    # 1. Inputs are what meta.json says they are.
    with open(os.path.join(base_dir, "meta.json")) as f:
        meta = json.load(f)
    for name in ("base.f32", "texts_base.txt", "ids_base.txt"):
        want = meta["files"][name]["sha256"]
        got = sha256(os.path.join(base_dir, name))
        if got != want:
            sys.exit(f"{name}: sha256 {got} does not match meta.json ({want})")

    # 2. Base vectors: float32 -> float16, and check they survive the conversion.
    base = read_f32(os.path.join(base_dir, "base.f32"), N_BASE)
    f16 = to_f16(base)
    back = struct.unpack(f"<{len(base)}e", f16)
    worst_norm = 0.0
    for r in range(N_BASE):
        row = back[r * DIMS : (r + 1) * DIMS]
        worst_norm = max(worst_norm, abs(math.sqrt(sum(x * x for x in row)) - 1.0))
    max_err = max(abs(x - y) for x, y in zip(base, back))
    print(f"float16: max |error| {max_err:.2e}, max | |v| - 1 | {worst_norm:.2e}")

    # 3. Texts: split "lemmas: definition"; pos from the synset id's first letter.
    with open(os.path.join(base_dir, "texts_base.txt"), encoding="utf-8") as f:
        texts = f.read().split("\n")
    with open(os.path.join(base_dir, "ids_base.txt"), encoding="utf-8") as f:
        ids = f.read().split("\n")
    texts = texts[:-1] if texts and texts[-1] == "" else texts
    ids = ids[:-1] if ids and ids[-1] == "" else ids
    if len(texts) != N_BASE or len(ids) != N_BASE:
        sys.exit(f"expected {N_BASE} texts and ids, found {len(texts)} and {len(ids)}")
    rows = []
    for i, (text, synset) in enumerate(zip(texts, ids)):
        pos = synset[0]
        if pos not in POS or len(synset) != 9 or not synset[1:].isdigit():
            sys.exit(f"row {i}: unexpected synset id {synset!r}")
        word, lemmas, definition = split_text(text)
        # rowid = 1-based line number in texts_base.txt (= base row index + 1).
        rows.append([i + 1, synset, pos, word, lemmas, definition])
    defs = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"

    # 4. Queries, copied as they are.
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
