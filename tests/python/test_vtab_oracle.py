"""The vindex table against a brute-force numpy oracle, on SQLite 3.40 (Debian's python3).

On 3.40 SQLite does not tell a virtual table about the LIMIT of a MATCH query, so
`ORDER BY distance LIMIT n` runs through vindex's lazy cursor; `k = n` runs the bounded search.
Both must equal the oracle exactly.

Exact cases: vectors of small integers (bits 0/1), so every distance is computed exactly in
float32 sums and float64 finishing steps. Ties are real (vectors are sparse and a third of them are
duplicates), and the order -- ascending distance, ties by ascending rowid -- must match the oracle
row for row, distances bit for bit. Each case spans several chunks, has sparse rowids (negative,
huge, inserted in random order so slot order is not rowid order), NULL metadata, and is queried
again after DELETEs, UPDATEs (vector, metadata, auxiliary, rowid), INSERT OR REPLACE and inserts
that reuse the freed slots.

Continuous cases (one per float type): Gaussian data; rows may differ from the oracle only by
swaps between neighbours whose oracle distances differ by less than 1e-6 relative, and distances
agree within 1e-6 relative.

The 10k-row float32 cosine case exercises the int8 prescan (codes are built by the first query;
later queries scan codes and re-score candidates exactly).
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import connect_vindex

# ---------------------------------------------------------------------------------------------
# Oracle


def oracle_distances(metric: str, X: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distances from every row of X to q, in float64, with the formulas vindex documents.

    For integer data every intermediate (dot, squared norms, sums) is an exact integer, and the
    finishing steps are the same correctly rounded float64 operations vindex performs, so the
    result is bit-identical to a correct implementation."""
    X = X.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "l2":
        diff = X - q
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if metric == "l1":
        return np.abs(X - q).sum(axis=1)
    if metric == "ip":
        return -(X @ q)
    if metric == "cosine":
        dot = X @ q
        na = np.einsum("ij,ij->i", X, X)
        nb = float(q @ q)
        return 1.0 - dot / np.sqrt(na * nb)
    if metric == "hamming":
        return (X != q).sum(axis=1).astype(np.float64)
    if metric == "jaccard":
        xb = X != 0
        qb = q != 0
        inter = (xb & qb).sum(axis=1).astype(np.float64)
        union = (xb | qb).sum(axis=1).astype(np.float64)
        out = np.zeros(len(X))
        nz = union > 0
        out[nz] = 1.0 - inter[nz] / union[nz]
        return out
    raise ValueError(metric)


def distance_scale(metric: str, X: np.ndarray, q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The magnitude a float32 rounding error of a continuous-data distance is relative to.

    l2 and l1 sum non-negative terms: relative to the distance itself. ip = -sum(a*b) can cancel
    to near 0: relative to sum |a*b|. cosine is 1 - (a.b)/(|a||b|): relative to 1."""
    X = X.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "ip":
        return np.maximum(np.abs(d), np.abs(X * q).sum(axis=1))
    if metric == "cosine":
        return np.maximum(np.abs(d), 1.0)
    return np.abs(d)


# ---------------------------------------------------------------------------------------------
# Element types: how to store and encode vectors


@dataclass(frozen=True)
class Ty:
    name: str  # column type in CREATE
    np_store: object  # numpy dtype the column stores (for the oracle's rounding)


F32 = Ty("float", np.float32)
F16 = Ty("float16", np.float16)
I8 = Ty("int8", np.int8)
BIT = Ty("bit", None)


def to_json(v: np.ndarray) -> str:
    if v.dtype.kind in "iub":
        return "[" + ",".join(str(int(x)) for x in v) + "]"
    return json.dumps([float(x) for x in v])


def encodings(ty: Ty):
    """(SQL expression around the parameter, encoder) pairs that all give the column's type."""
    if ty is F32:
        return [
            ("?", lambda v: np.asarray(v, "<f4").tobytes()),
            ("?", to_json),
            ("vec_f32(?)", to_json),
        ]
    if ty is F16:
        return [
            ("vec_f16(?)", lambda v: np.asarray(v, "<f2").tobytes()),
            ("?", to_json),  # float32 JSON, converted by the column
            ("?", lambda v: np.asarray(v, "<f4").tobytes()),  # float32 blob, converted
            ("vec_f16(vec_f32(?))", lambda v: np.asarray(v, "<f4").tobytes()),
        ]
    if ty is I8:
        return [
            ("vec_int8(?)", lambda v: np.asarray(v, np.int8).tobytes()),
            ("?", lambda v: to_json(np.asarray(v, np.int64))),
            ("vec_int8(?)", lambda v: to_json(np.asarray(v, np.int64))),
        ]
    if ty is BIT:
        pack = lambda v: np.packbits(np.asarray(v, np.uint8), bitorder="little").tobytes()  # noqa: E731
        return [
            ("vec_bit(?)", pack),
            ("?", pack),
            ("?", lambda v: to_json(np.asarray(v, np.int64))),
        ]
    raise ValueError(ty)


def stored(ty: Ty, v: np.ndarray) -> np.ndarray:
    """The vector as the column holds it, in float64 (float16 columns round)."""
    if ty is F16:
        return np.asarray(v, np.float64).astype(np.float16).astype(np.float64)
    if ty is F32:
        return np.asarray(v, np.float64).astype(np.float32).astype(np.float64)
    return np.asarray(v, np.float64)


# ---------------------------------------------------------------------------------------------
# The model of the table's contents

TAGS = ["alpha", "Alpha", "ALPHA", "beta", "BETA", "gamma", "delta x", "", None]


@dataclass
class Row:
    vec: np.ndarray  # float64, as stored
    cat: int | None
    score: float | None
    tag: str | None
    note: str | None


class Model:
    def __init__(self):
        self.rows: dict[int, Row] = {}

    def arrays(self):
        ids = np.array(sorted(self.rows), dtype=np.int64)
        rows = [self.rows[int(i)] for i in ids]
        X = np.stack([r.vec for r in rows]) if rows else np.zeros((0, 1))
        return ids, rows, X


@functools.lru_cache(maxsize=None)
def like_to_regex(pattern: str) -> re.Pattern:
    """SQLite's LIKE: % and _ wildcards, case-insensitive for ASCII, no escape."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def sql_like(value, pattern) -> bool:
    return value is not None and like_to_regex(pattern).fullmatch(value) is not None


# ---------------------------------------------------------------------------------------------
# Filters: SQL and the same predicate over the model (row, rowid, distance) -> bool


def filters_for(model_ids: np.ndarray, rnd: np.random.Generator, absent: list[int]):
    """The filters of one query round: (SQL, predicate on (row, rowid) or None, predicate on the
    distance array and the parameters or None). Rowid lists mix present and absent rowids."""
    present = [int(x) for x in rnd.choice(model_ids, size=min(25, len(model_ids)), replace=False)]
    in_list = sorted(set(present[:15] + absent[:5]))
    lo, hi = sorted(int(x) for x in rnd.choice(model_ids, size=2, replace=False))
    nocase = lambda t: t is not None and t.lower() == "alpha"  # noqa: E731
    return [
        ("", None, None),
        (" AND cat = 3", lambda r, i, p: r.cat == 3, None),
        (" AND cat != 3", lambda r, i, p: r.cat is not None and r.cat != 3, None),
        (" AND cat < 4", lambda r, i, p: r.cat is not None and r.cat < 4, None),
        (" AND cat >= 7", lambda r, i, p: r.cat is not None and r.cat >= 7, None),
        (" AND cat IN (1, 4, 9)", lambda r, i, p: r.cat in (1, 4, 9), None),
        (" AND cat IS NULL", lambda r, i, p: r.cat is None, None),
        (" AND cat IS NOT NULL", lambda r, i, p: r.cat is not None, None),
        (" AND cat BETWEEN 2 AND 5", lambda r, i, p: r.cat is not None and 2 <= r.cat <= 5, None),
        (" AND score > 0.5", lambda r, i, p: r.score is not None and r.score > 0.5, None),
        (" AND score <= -1.25", lambda r, i, p: r.score is not None and r.score <= -1.25, None),
        (" AND tag = 'alpha'", lambda r, i, p: r.tag == "alpha", None),
        (" AND tag = 'alpha' COLLATE NOCASE", lambda r, i, p: nocase(r.tag), None),
        (" AND tag LIKE 'b%'", lambda r, i, p: sql_like(r.tag, "b%"), None),
        (" AND tag LIKE '%_x'", lambda r, i, p: sql_like(r.tag, "%_x"), None),
        (" AND tag IN ('beta', 'gamma', '')", lambda r, i, p: r.tag in ("beta", "gamma", ""), None),
        (" AND tag IS NULL", lambda r, i, p: r.tag is None, None),
        (" AND tag > 'b'", lambda r, i, p: r.tag is not None and r.tag > "b", None),
        (" AND tag != 'beta'", lambda r, i, p: r.tag is not None and r.tag != "beta", None),
        (f" AND rowid IN ({', '.join(map(str, in_list))})", lambda r, i, p: i in in_list, None),
        (" AND rowid IN (SELECT id FROM allowed)", lambda r, i, p: i in p["allowed"], None),
        (f" AND rowid >= {lo} AND rowid < {hi}", lambda r, i, p: lo <= i < hi, None),
        (f" AND rowid != {present[0]}", lambda r, i, p: i != present[0], None),
        (" AND note = 'note3'", lambda r, i, p: r.note == "note3", None),
        (" AND note LIKE 'NOTE1%'", lambda r, i, p: sql_like(r.note, "NOTE1%"), None),
        (" AND distance < :d1", None, lambda d, p: d < p["d1"]),
        (" AND distance >= :d1", None, lambda d, p: d >= p["d1"]),
        (" AND distance > :d1 AND distance <= :d2", None, lambda d, p: (d > p["d1"]) & (d <= p["d2"])),
        (" AND cat IN (1, 2, 3) AND tag IS NOT NULL AND score < 1",
         lambda r, i, p: r.cat in (1, 2, 3) and r.tag is not None and r.score is not None and r.score < 1, None),
        (" AND cat != 2 AND rowid IN (SELECT id FROM allowed)",
         lambda r, i, p: r.cat is not None and r.cat != 2 and i in p["allowed"], None),
        (" AND tag LIKE 'a%' AND distance >= :d1", lambda r, i, p: sql_like(r.tag, "a%"), lambda d, p: d >= p["d1"]),
        (" AND note = 'note2' AND cat >= 5", lambda r, i, p: r.note == "note2" and r.cat is not None and r.cat >= 5,
         None),
        (" AND cat = 0 AND tag = 'ALPHA' COLLATE NOCASE AND score IS NULL",
         lambda r, i, p: r.cat == 0 and nocase(r.tag) and r.score is None, None),
        (" AND cat = 42", lambda r, i, p: False, None),
    ]


# Filters whose full result (no k, no LIMIT) is also checked (all rows, in order).
FULL_SCAN_FILTERS = {"", " AND cat = 3", " AND note LIKE 'NOTE1%'", " AND distance > :d1 AND distance <= :d2",
                     " AND rowid IN (SELECT id FROM allowed)"}


# ---------------------------------------------------------------------------------------------
# Data


def make_vectors(rnd: np.random.Generator, ty: Ty, n: int, dims: int, metric: str) -> np.ndarray:
    """Sparse small-integer vectors (bits for bit columns), a third of them duplicates."""
    if ty is BIT:
        density = min(0.5, 6.0 / dims + 0.05)
        V = (rnd.random((n, dims)) < density).astype(np.int64)
    else:
        vals = rnd.integers(-3, 4, (n, dims))
        density = min(1.0, 5.0 / dims + 0.1)
        V = np.where(rnd.random((n, dims)) < density, vals, 0)
        zero = ~V.any(axis=1)
        V[zero, rnd.integers(0, dims, zero.sum())] = rnd.choice([-2, -1, 1, 2], zero.sum())
    dup = rnd.random(n) < 1 / 3
    src = rnd.integers(0, n, n)
    V[dup] = V[src[dup]]
    return V


def make_meta(rnd: np.random.Generator, i: int):
    cat = None if rnd.random() < 0.12 else int(rnd.integers(0, 10))
    score = None if rnd.random() < 0.12 else float(rnd.integers(-8, 9)) / 4
    tag = TAGS[int(rnd.integers(0, len(TAGS)))]
    note = None if rnd.random() < 0.1 else f"note{int(rnd.integers(0, 25))}"
    return cat, score, tag, note


def sparse_rowids(rnd: np.random.Generator, n: int) -> list[int]:
    """n distinct rowids: spread out, some negative, the extremes of int64, in random order."""
    ids = set(int(x) for x in rnd.choice(np.arange(-2000, 40 * n), size=n - 4, replace=False))
    ids |= {2**63 - 1, -(2**63), 10**15 + 7, 4 * 10**12}
    out = sorted(ids)
    rnd.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------
# Comparing


def expected_order(ids: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Indices sorted by (distance, rowid)."""
    return np.lexsort((ids, d))


def check_exact(got, want, what):
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        pytest.fail(
            f"{what}: {len(got)} rows, expected {len(want)}; first difference at position {first}:\n"
            f"  got  {got[max(0, first - 2):first + 4]}\n  want {want[max(0, first - 2):first + 4]}",
            pytrace=False,
        )


def check_near(got, want_full, tol, n_expected, what):
    """got must be the first n_expected of want_full up to swaps between oracle neighbours
    closer than tol; every distance within tol of the oracle's for the same row."""
    assert len(got) == n_expected, f"{what}: {len(got)} rows, expected {n_expected}"
    cluster = {}
    cid = 0
    for j, (rid, dist) in enumerate(want_full):
        if j and dist - want_full[j - 1][1] >= tol[j]:
            cid += 1
        cluster[rid] = (cid, dist, tol[j])
    seen = set()
    for pos, (rid, dist) in enumerate(got):
        assert rid in cluster, f"{what}: row {rid} at position {pos} does not pass the filters"
        assert rid not in seen, f"{what}: row {rid} twice"
        seen.add(rid)
        c_got, d_oracle, t = cluster[rid]
        c_want = cluster[want_full[pos][0]][0]
        assert c_got == c_want, (
            f"{what}: position {pos}: got row {rid} (oracle distance {d_oracle!r}), expected "
            f"{want_full[pos]} -- not a near-tie swap\n got {got[:pos + 3]}\nwant {want_full[:pos + 3]}")
        assert abs(dist - d_oracle) <= t, f"{what}: row {rid}: distance {dist!r}, oracle {d_oracle!r}"


# ---------------------------------------------------------------------------------------------
# The exact cases


@dataclass(frozen=True)
class Case:
    ty: Ty
    metric: str
    dims: int
    n: int

    def __str__(self):
        return f"{self.ty.name}[{self.dims}]-{self.metric}-{self.n}"


CASES = [
    Case(F32, "l2", 64, 3000),
    Case(F32, "cosine", 8, 4000),
    Case(F32, "ip", 130, 3000),
    Case(F32, "l1", 5, 4000),
    Case(F16, "l2", 16, 3000),
    Case(F16, "cosine", 300, 2500),
    Case(F16, "ip", 3, 4000),
    Case(F16, "l1", 64, 3000),
    Case(I8, "l2", 40, 3000),
    Case(I8, "cosine", 7, 4000),
    Case(I8, "ip", 600, 2500),
    Case(I8, "l1", 12, 3000),
    Case(BIT, "hamming", 64, 4000),
    Case(BIT, "jaccard", 2048, 2500),
    Case(BIT, "hamming", 4096, 1200),
]


def connect():
    conn = connect_vindex()
    conn.isolation_level = None
    return conn


def insert_rows(conn, ty, table, items):
    """items: (rowid, vec, cat, score, tag, note); spread over every encoding of the type."""
    encs = encodings(ty)
    conn.execute("BEGIN")
    for e, (expr, enc) in enumerate(encs):
        batch = [(rid, enc(v), cat, score, tag, note)
                 for j, (rid, v, cat, score, tag, note) in enumerate(items) if j % len(encs) == e]
        conn.executemany(
            f"INSERT INTO {table}(rowid, v, cat, score, tag, note) VALUES (?, {expr}, ?, ?, ?, ?)", batch)
    conn.execute("COMMIT")


def mutate(conn, case: Case, model: Model, rnd: np.random.Generator, ty: Ty):
    """Deletes, updates of every kind, OR REPLACE and inserts that reuse freed slots; the
    model follows."""
    encs = encodings(ty)
    ids = sorted(model.rows)
    n = len(ids)
    pick = lambda frac: [int(x) for x in rnd.choice(ids, size=max(1, int(n * frac)), replace=False)]  # noqa: E731
    fresh = make_vectors(rnd, ty, n, case.dims, case.metric)
    fi = iter(range(n))

    conn.execute("BEGIN")
    # DELETE by rowid
    dels = pick(0.12)
    conn.executemany("DELETE FROM t WHERE rowid = ?", [(i,) for i in dels])
    for i in dels:
        del model.rows[i]
    # DELETE by a metadata filter
    conn.execute("DELETE FROM t WHERE cat = 8 AND score > 1")
    for i in [i for i, r in model.rows.items() if r.cat == 8 and r.score is not None and r.score > 1]:
        del model.rows[i]
    ids = sorted(model.rows)
    n = len(ids)
    # UPDATE vectors
    for i in pick(0.08):
        v = fresh[next(fi)]
        expr, enc = encs[i % len(encs)]
        conn.execute(f"UPDATE t SET v = {expr} WHERE rowid = ?", (enc(v), i))
        model.rows[i].vec = stored(ty, v)
    # UPDATE metadata (to and from NULL) and the auxiliary column
    for i in pick(0.08):
        cat, score, tag, note = make_meta(rnd, i)
        conn.execute("UPDATE t SET cat = ?, score = ?, tag = ? WHERE rowid = ?", (cat, score, tag, i))
        r = model.rows[i]
        r.cat, r.score, r.tag = cat, score, tag
    for i in pick(0.04):
        note = None if rnd.random() < 0.3 else f"note{int(rnd.integers(0, 25))}"
        conn.execute("UPDATE t SET note = ? WHERE rowid = ?", (note, i))
        model.rows[i].note = note
    # UPDATE everything at once, including the rowid
    for i in pick(0.03):
        if i not in model.rows:
            continue
        new_id = int(rnd.integers(-(10**9), 10**9))
        while new_id in model.rows:
            new_id += 1
        v = fresh[next(fi)]
        cat, score, tag, note = make_meta(rnd, i)
        expr, enc = encs[0]
        conn.execute(f"UPDATE t SET rowid = ?, v = {expr}, cat = ?, note = ? WHERE rowid = ?",
                     (new_id, enc(v), cat, note, i))
        old = model.rows.pop(i)
        model.rows[new_id] = Row(stored(ty, v), cat, old.score, old.tag, note)
    # UPDATE only the rowid
    for i in pick(0.03):
        if i not in model.rows:
            continue
        new_id = int(rnd.integers(-(10**9), 10**9))
        while new_id in model.rows:
            new_id += 1
        conn.execute("UPDATE t SET rowid = ? WHERE rowid = ?", (new_id, i))
        model.rows[new_id] = model.rows.pop(i)
    # INSERT OR REPLACE over existing rows (unnamed columns become NULL)
    for i in pick(0.03):
        if i not in model.rows:
            continue
        v = fresh[next(fi)]
        expr, enc = encs[-1]
        conn.execute(f"INSERT OR REPLACE INTO t(rowid, v, tag) VALUES (?, {expr}, 'replaced')", (i, enc(v)))
        model.rows[i] = Row(stored(ty, v), None, None, "replaced", None)
    # INSERT OR IGNORE of an existing rowid changes nothing
    some = int(next(iter(model.rows)))
    expr, enc = encs[0]
    conn.execute(f"INSERT OR IGNORE INTO t(rowid, v, cat) VALUES (?, {expr}, 5)", (some, enc(fresh[0])))
    # INSERT with explicit rowids (into the freed slots)
    for _ in range(max(1, n // 20)):
        v = fresh[next(fi)]
        new_id = int(rnd.integers(-(10**9), 10**9))
        while new_id in model.rows:
            new_id += 1
        cat, score, tag, note = make_meta(rnd, new_id)
        expr, enc = encs[new_id % len(encs)]
        conn.execute(f"INSERT INTO t(rowid, v, cat, score, tag, note) VALUES (?, {expr}, ?, ?, ?, ?)",
                     (new_id, enc(v), cat, score, tag, note))
        model.rows[new_id] = Row(stored(ty, v), cat, score, tag, note)
    # INSERT without rowid: max(rowid) + 1 (once the row at the int64 limit is gone)
    conn.execute("DELETE FROM t WHERE rowid = ?", (2**63 - 1,))
    model.rows.pop(2**63 - 1, None)
    if True:
        for _ in range(3):
            v = fresh[next(fi)]
            expr, enc = encs[0]
            cur = conn.execute(f"INSERT INTO t(v, cat) VALUES ({expr}, 1)", (enc(v),))
            assert cur.lastrowid == max(model.rows) + 1
            model.rows[cur.lastrowid] = Row(stored(ty, v), 1, None, None, None)
    conn.execute("COMMIT")


def run_queries(conn, case: Case, model: Model, rnd: np.random.Generator, n_queries: int, label: str):
    ty = case.ty
    encs = encodings(ty)
    ids, rows, X = model.arrays()
    n = len(ids)
    present = set(int(i) for i in ids)
    absent = [int(x) for x in rnd.integers(-(10**6), 10**6, 10) if int(x) not in present]
    allowed = set(int(x) for x in rnd.choice(ids, size=min(300, n), replace=False)) | set(absent[:3])
    conn.execute("DELETE FROM allowed")
    conn.executemany("INSERT INTO allowed(id) VALUES (?)", [(i,) for i in allowed])
    filters = filters_for(ids, rnd, absent)
    qs = make_vectors(rnd, ty, n_queries, case.dims, case.metric)
    # also one query that is a stored vector (many exact ties at distance 0)
    qs[0] = X[int(rnd.integers(0, n))].astype(np.int64)
    p = {"allowed": allowed}
    row_masks = [None if rp is None else np.fromiter((rp(rows[j], int(ids[j]), p) for j in range(n)), bool, n)
                 for _, rp, _ in filters]
    ties = 0  # ties among the first 25 results: the tie-breaking is really exercised
    for qi in range(n_queries):
        qraw = qs[qi]
        expr, enc = encs[qi % len(encs)]
        qparam = enc(qraw)
        q = stored(ty, qraw)
        d_all = oracle_distances(case.metric, X, q)
        ds = np.sort(d_all)
        p = {"d1": float(ds[min(20, n - 1)]), "d2": float(ds[n // 3]), "allowed": allowed}
        for (fsql, _, dp), rmask in zip(filters, row_masks):
            mask = np.ones(n, bool) if rmask is None else rmask.copy()
            if dp is not None:
                mask &= dp(d_all, p)
            sel = np.nonzero(mask)[0]
            order = sel[expected_order(ids[sel], d_all[sel])]
            want = [(int(ids[j]), float(d_all[j])) for j in order]
            params = {"q": qparam, "d1": p["d1"], "d2": p["d2"]}
            base = f"SELECT rowid, distance FROM t WHERE v MATCH {expr.replace('?', ':q')}{fsql}"
            what = f"{case} {label} q{qi} [{fsql.strip() or 'no filter'}]"
            for k in (1, 5, 17, n + 10):
                got = conn.execute(base + " AND k = :k", {**params, "k": k}).fetchall()
                check_exact(got, want[:k], f"{what} k={k}")
            for lim in (3, 25):
                got = conn.execute(base + " ORDER BY distance LIMIT :lim", {**params, "lim": lim}).fetchall()
                check_exact(got, want[:lim], f"{what} ORDER BY distance LIMIT {lim}")
            got = conn.execute(base + " ORDER BY distance LIMIT 10 OFFSET 7", params).fetchall()
            check_exact(got, want[7:17], f"{what} LIMIT 10 OFFSET 7")
            got = conn.execute(base + " AND k = 12 ORDER BY distance LIMIT 5 OFFSET 4", params).fetchall()
            check_exact(got, want[:12][4:9], f"{what} k=12 LIMIT 5 OFFSET 4")
            if fsql in FULL_SCAN_FILTERS:
                got = conn.execute(base, params).fetchall()
                check_exact(got, want, f"{what} (no k, no LIMIT)")
            top = [w[1] for w in want[:25]]
            ties += sum(1 for a, b in zip(top, top[1:]) if a == b)
    return ties


@pytest.mark.parametrize("case", CASES, ids=str)
def test_exact_data_matches_the_oracle(case: Case):
    rnd = np.random.default_rng(1000 + CASES.index(case))
    ty = case.ty
    conn = connect()
    conn.execute(
        f"CREATE VIRTUAL TABLE t USING vindex(v {ty.name}[{case.dims}] distance={case.metric}, "
        "cat integer, score float, tag text, +note text)")
    conn.execute("CREATE TABLE allowed(id INTEGER PRIMARY KEY)")
    model = Model()
    V = make_vectors(rnd, ty, case.n, case.dims, case.metric)
    items = []
    for j, rid in enumerate(sparse_rowids(rnd, case.n)):
        cat, score, tag, note = make_meta(rnd, rid)
        items.append((rid, V[j], cat, score, tag, note))
        model.rows[rid] = Row(stored(ty, V[j]), cat, score, tag, note)
    insert_rows(conn, ty, "t", items)
    chunks, cap = conn.execute("SELECT chunks, chunk_capacity FROM vindex_status").fetchone()
    assert chunks == -(-case.n // cap) and chunks >= 2, (chunks, cap)

    ties = run_queries(conn, case, model, rnd, 3, "fresh")
    assert ties > 50, ties
    mutate(conn, case, model, rnd, ty)
    status = conn.execute("SELECT rows, free_slots, chunks, chunk_capacity FROM vindex_status").fetchone()
    assert status[0] == len(model.rows)
    assert status[0] + status[1] == status[2] * status[3]
    run_queries(conn, case, model, rnd, 2, "after writes")
    conn.execute("INSERT INTO t(t) VALUES ('optimize')")
    run_queries(conn, case, model, rnd, 1, "after optimize")
    # the full contents agree too
    got = conn.execute("SELECT rowid, cat, score, tag, note FROM t ORDER BY rowid").fetchall()
    assert got == [(i, r.cat, r.score, r.tag, r.note) for i, r in sorted(model.rows.items())]
    raw = encodings(ty)[0][1]  # the column's own byte layout
    vecs = conn.execute("SELECT rowid, v FROM t ORDER BY rowid").fetchall()
    assert vecs == [(i, raw(r.vec)) for i, r in sorted(model.rows.items())]
    if ty is F32 and case.metric != "l1":
        # float32 l2/cosine/ip also ran through the int8 prescan (built by the first query)
        assert conn.execute("SELECT prescan FROM vindex_status").fetchone()[0] == "int8"
    conn.execute("INSERT INTO t(t) VALUES ('integrity-check')")
    conn.close()


def test_int8_full_range_matches_the_oracle():
    """int8 arithmetic is exact over the whole -128..127 range (no overflow in the kernels)."""
    rnd = np.random.default_rng(77)
    conn = connect()
    conn.execute("CREATE TABLE allowed(id INTEGER PRIMARY KEY)")
    metrics = ["l2", "cosine", "ip", "l1"]
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(" +
                 ", ".join(f"v{m} int8[96] distance={m}" for m in metrics) + ")")
    n = 2000
    V = rnd.integers(-128, 128, (n, 96))
    V[rnd.random(n) < 0.2] = 127
    V[rnd.random(n) < 0.2] = -128
    V[V.sum(axis=1) == 0, 0] = 1
    cols = ", ".join(f"v{m}" for m in metrics)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO t(rowid, {cols}) VALUES (?, {', '.join(['vec_int8(?)'] * 4)})",
                     [(i + 1, *[V[i].astype(np.int8).tobytes()] * 4) for i in range(n)])
    conn.execute("COMMIT")
    ids = np.arange(1, n + 1)
    Q = rnd.integers(-128, 128, (6, 96))
    Q[1] = 127
    Q[2] = -128
    for m in metrics:
        for qi, q in enumerate(Q):
            d = oracle_distances(m, V, q)
            want = [(int(ids[j]), float(d[j])) for j in expected_order(ids, d)]
            for k in (1, 10, 100):
                got = conn.execute(f"SELECT rowid, distance FROM t WHERE v{m} MATCH vec_int8(?) AND k = ?",
                                   (q.astype(np.int8).tobytes(), k)).fetchall()
                check_exact(got, want[:k], f"int8 full range {m} q{qi} k={k}")
            got = conn.execute(f"SELECT rowid, distance FROM t WHERE v{m} MATCH ? ORDER BY distance LIMIT 30",
                               (to_json(q),)).fetchall()
            check_exact(got, want[:30], f"int8 full range {m} q{qi} LIMIT 30")
    conn.close()


# ---------------------------------------------------------------------------------------------
# Continuous data: one table per float type with a column per metric

CONT_METRICS = ["l2", "cosine", "ip", "l1"]


@pytest.mark.parametrize("ty", [F32, F16], ids=["float32", "float16"])
def test_continuous_data_matches_the_oracle_up_to_near_ties(ty: Ty):
    rnd = np.random.default_rng(5 if ty is F32 else 6)
    dims, n = 24, 3000
    conn = connect()
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(" +
                 ", ".join(f"v{m} {ty.name}[{dims}] distance={m}" for m in CONT_METRICS) + ", cat integer)")
    V = rnd.standard_normal((n, dims)) * rnd.choice([0.01, 1.0, 30.0], size=(n, 1))
    # near-duplicates: neighbours whose distances differ only in the last bits
    base = rnd.integers(0, n, 300)
    V[:300] = V[base] * (1 + rnd.standard_normal((300, 1)) * 1e-7)
    ids = np.array(sorted(int(x) for x in rnd.choice(np.arange(1, 10 * n), n, replace=False)))
    cats = rnd.integers(0, 4, n)
    store_dtype = "<f4" if ty is F32 else "<f2"
    expr = "?" if ty is F32 else "vec_f16(?)"
    cols = ", ".join(f"v{m}" for m in CONT_METRICS)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO t(rowid, {cols}, cat) VALUES (?, {', '.join([expr] * 4)}, ?)",
                     [(int(ids[i]), *[V[i].astype(store_dtype).tobytes()] * 4, int(cats[i])) for i in range(n)])
    conn.execute("COMMIT")
    X = V.astype(store_dtype).astype(np.float64)
    for qi in range(8):
        qraw = rnd.standard_normal(dims) * (30.0 if qi % 2 else 1.0)
        if qi == 3:
            qraw = V[5] * (1 + 1e-7)  # right among the near-duplicates
        # the query goes in as float32 (JSON or blob); float16 columns convert it first
        q32 = qraw.astype(np.float32)
        qparam = q32.tobytes() if qi % 2 else json.dumps([float(x) for x in q32])
        q = q32.astype(np.float64) if ty is F32 else q32.astype(np.float16).astype(np.float64)
        for m in CONT_METRICS:
            d = oracle_distances(m, X, q)
            scale = distance_scale(m, X, q, d)
            for fsql, mask in [("", np.ones(n, bool)), (" AND cat = 2", cats == 2)]:
                sel = np.nonzero(mask)[0]
                order = sel[expected_order(ids[sel], d[sel])]
                want_full = [(int(ids[j]), float(d[j])) for j in order]
                tol = [1e-6 * float(scale[j]) + 1e-300 for j in order]
                base = f"SELECT rowid, distance FROM t WHERE v{m} MATCH ?{fsql}"
                what = f"{ty.name} {m} q{qi}{fsql}"
                for k in (1, 10, 50):
                    got = conn.execute(base + " AND k = ?", (qparam, k)).fetchall()
                    check_near(got, want_full, tol, min(k, len(want_full)), f"{what} k={k}")
                got = conn.execute(base + " ORDER BY distance LIMIT 20", (qparam,)).fetchall()
                check_near(got, want_full, tol, min(20, len(want_full)), f"{what} LIMIT 20")
    conn.close()


# ---------------------------------------------------------------------------------------------
# The int8 prescan: 10k float32 rows, cosine, 64 dims, 50 queries


def test_prescan_10k_cosine_exact_integer_data():
    """Integer-valued float32 data: the oracle is exact, so after the prescan kicks in the
    results (ties included) must still be the oracle's, bit for bit."""
    rnd = np.random.default_rng(10_000)
    n, dims = 10_000, 64
    conn = connect()
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(v float[64] distance=cosine, cat integer)")
    V = make_vectors(rnd, F32, n, dims, "cosine")
    # plus scaled copies: the same direction, so exactly the same cosine distance
    sc = rnd.random(n) < 0.1
    V[sc] = V[rnd.integers(0, n, sc.sum())] * rnd.integers(2, 4, (sc.sum(), 1))
    ids = np.arange(1, n + 1) * 3
    cats = rnd.integers(0, 5, n)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(rowid, v, cat) VALUES (?, ?, ?)",
                     [(int(ids[i]), V[i].astype("<f4").tobytes(), int(cats[i])) for i in range(n)])
    conn.execute("COMMIT")
    Q = make_vectors(rnd, F32, 50, dims, "cosine")
    Q[::5] = V[rnd.integers(0, n, 10)]
    for qi, q in enumerate(Q):
        d = oracle_distances("cosine", V, q)
        want = [(int(ids[j]), float(d[j])) for j in expected_order(ids, d)]
        got = conn.execute("SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10",
                           (q.astype("<f4").tobytes(),)).fetchall()
        check_exact(got, want[:10], f"prescan exact q{qi} k=10")
        if qi % 10 == 0:
            sel = np.nonzero(cats == 1)[0]
            wantf = [(int(ids[j]), float(d[j])) for j in sel[expected_order(ids[sel], d[sel])]]
            got = conn.execute("SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 25 AND cat = 1",
                               (q.astype("<f4").tobytes(),)).fetchall()
            check_exact(got, wantf[:25], f"prescan exact q{qi} k=25 cat=1")
            got = conn.execute("SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10 AND distance >= ?",
                               (q.astype("<f4").tobytes(), want[40][1])).fetchall()
            check_exact(got, [w for w in want if w[1] >= want[40][1]][:10], f"prescan exact q{qi} distance >=")
            got = conn.execute("SELECT rowid, distance FROM t WHERE v MATCH ? ORDER BY distance LIMIT 15",
                               (q.astype("<f4").tobytes(),)).fetchall()
            check_exact(got, want[:15], f"prescan exact q{qi} LIMIT 15")
    assert conn.execute("SELECT prescan FROM vindex_status").fetchone()[0] == "int8"
    conn.close()


def test_prescan_10k_cosine_continuous_data():
    """Gaussian data with clusters of near-duplicates (equal int8 codes, distances that differ
    in the last float32 bits): the prescan must give exactly what scoring every row with
    vec_distance_cosine gives (same kernel: same rows, same distances), and the numpy oracle up
    to near-tie swaps."""
    rnd = np.random.default_rng(10_001)
    n, dims = 10_000, 64
    conn = connect()
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(v float[64] distance=cosine)")
    V = rnd.standard_normal((n, dims)).astype(np.float32)
    centers = rnd.standard_normal((20, dims)).astype(np.float32)
    for c in range(20):  # 20 clusters of 50 near-duplicates
        rows = slice(c * 50, c * 50 + 50)
        V[rows] = centers[c] + (rnd.standard_normal((50, dims)) * 1e-5).astype(np.float32)
    ids = np.arange(1, n + 1)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(rowid, v) VALUES (?, ?)",
                     [(int(ids[i]), V[i].tobytes()) for i in range(n)])
    conn.execute("COMMIT")
    X = V.astype(np.float64)
    for qi in range(50):
        if qi % 2:
            q = (centers[qi % 20] + rnd.standard_normal(dims) * 1e-3).astype(np.float32)
        else:
            q = rnd.standard_normal(dims).astype(np.float32)
        qb = q.tobytes()
        got = conn.execute("SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10", (qb,)).fetchall()
        d = oracle_distances("cosine", X, q.astype(np.float64))
        order = expected_order(ids, d)
        want_full = [(int(ids[j]), float(d[j])) for j in order]
        check_near(got, want_full, [1e-6] * n, 10, f"prescan continuous q{qi}")
        if qi % 5 == 0:
            brute = conn.execute("SELECT rowid, vec_distance_cosine(v, ?) AS d FROM t ORDER BY d, rowid LIMIT 10",
                                 (qb,)).fetchall()
            check_exact(got, brute, f"prescan continuous q{qi} vs vec_distance_cosine")
    assert conn.execute("SELECT prescan FROM vindex_status").fetchone()[0] == "int8"
    conn.close()


# ---------------------------------------------------------------------------------------------
# Filter semantics: exactly SQLite's own, type affinity, NULLs, collations and all

FILTER_EXPRS = """cat = '3'
cat = 3.0
cat > 2.5
cat < '2'
cat IN ('1', 2, 3.0)
cat IN ()
cat = NULL
cat != NULL
cat IS NULL
cat IS 3
cat IS NOT 3
cat IS NOT NULL
cat BETWEEN '0' AND 2
cat >= 1000000000000
cat IN (SELECT 1 UNION SELECT '2')
score = 1
score > '0.6'
score IN (1, 3)
score <= 1e300
score < cat
tag = 3
tag = '3'
tag > 3
tag < 'b'
tag = 'a' COLLATE NOCASE
tag IN ('a', 'b')
tag IN ('A' COLLATE NOCASE, 'b')
tag IN (SELECT 'a' UNION SELECT 3)
tag LIKE 'a%'
tag LIKE 'A_B'
tag LIKE 'ab\\%' ESCAPE '\\'
tag NOT LIKE 'a%'
tag GLOB 'a*'
tag GLOB '[ab]'
tag LIKE '%É'
tag LIKE 'é'
tag IS NOT 'a'
tag != 'a'
tag > ''
tag = ''
tag IS ''
raw = X'00'
raw = X''
raw > X'00'
raw IS NULL
raw < 'a'
rowid = '5'
rowid = 5.0
rowid = 5.5
rowid > 390.5
rowid IN ('5', 7.0, 9.5, NULL)
rowid IN (SELECT NULL)
rowid != '5'
rowid <= -1
rowid BETWEEN 10 AND 12
note = 'n1'
note = 'n1' COLLATE NOCASE
note LIKE 'n%'
note IS NULL
any = 1
any = '1'
any > 1
any IS NULL
any = X'01'
(cat = 1 OR cat = 2)
NOT (cat = 1)
cat + 0 = 1
coalesce(cat, 5) = 5
cat = 1 AND tag IS NOT NULL AND rowid > 100 AND note LIKE 'N%'""".split("\n")


# Not among the operators vindex evaluates inside the search (README): SQLite applies them after
# it, so `k = 3` returns the 3 nearest rows and then filters them (documented).
POST_FILTERS = {"score < cat", "tag NOT LIKE 'a%'", "cat + 0 = 1", "coalesce(cat, 5) = 5"}


def test_filters_have_sqlites_semantics():
    """Every filter gives exactly what the same WHERE clause gives on an ordinary table with
    the same column types: KNN with k, the lazy path, and a plain scan of the vindex table."""
    conn = connect()
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(v float[2], cat integer, score real, tag text, raw blob, "
                 "+note text, +any)")
    conn.execute("CREATE TABLE p(id INTEGER PRIMARY KEY, v, cat INTEGER, score REAL, tag TEXT, raw BLOB, note TEXT, any)")
    rnd = np.random.default_rng(12)
    pick = lambda xs: xs[int(rnd.integers(0, len(xs)))]  # noqa: E731
    data = []
    for i in list(range(-5, 0)) + list(range(1, 400)):
        x, y = (int(a) for a in rnd.integers(-5, 6, 2))
        data.append((i, f"[{x},{y}]", pick([None, 0, 1, 2, 3, -1, 10**12]), pick([None, 0.5, 1.0, -2.25, 3.0, 1e300]),
                     pick([None, "a", "A", "b", "3", "10", "", "é", "ab%", "a_b", "xé"]),
                     pick([None, b"\x00", b"\x01\x02", b""]), pick([None, "n1", "N1", "n2"]),
                     pick([None, 1, "1", 1.5, b"\x01", "x"])))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(rowid, v, cat, score, tag, raw, note, any) VALUES (?,?,?,?,?,?,?,?)", data)
    conn.executemany("INSERT INTO p VALUES (?,?,?,?,?,?,?,?)", data)
    conn.execute("COMMIT")
    problems = []
    for f in FILTER_EXPRS:
        for q in ["[1,0]", "[0,0.5]"]:
            want = conn.execute(f"SELECT id, vec_distance_l2(v, ?) AS d FROM p WHERE {f} ORDER BY d, id", (q,)).fetchall()
            got = conn.execute(f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 1000 AND {f}", (q,)).fetchall()
            lazy = conn.execute(f"SELECT rowid, distance FROM t WHERE v MATCH ? AND {f} ORDER BY distance LIMIT 1000",
                                (q,)).fetchall()
            few = conn.execute(f"SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 3 AND {f}", (q,)).fetchall()
            scan = conn.execute(f"SELECT rowid FROM t WHERE {f} ORDER BY rowid").fetchall()
            if f in POST_FILTERS:
                top3 = conn.execute("SELECT id, vec_distance_l2(v, ?) AS d FROM p ORDER BY d, id LIMIT 3",
                                    (q,)).fetchall()
                want_few = [x for x in top3 if x in want]
            else:
                want_few = want[:3]
            for name, g, w in [("k=1000", got, want), ("lazy", lazy, want), ("k=3", few, want_few),
                               ("scan", scan, sorted((x[0],) for x in want))]:
                if g != w:
                    problems.append(f"{f} [{name}, q={q}]: {len(g)} rows, expected {len(w)}; "
                                    f"missing {[x for x in w if x not in g][:3]}, extra {[x for x in g if x not in w][:3]}")
    assert not problems, "\n".join(problems)
    conn.close()


# ---------------------------------------------------------------------------------------------
# Writes whose WHERE is a KNN query, and writes while a query is being stepped


def small_table(n=300):
    conn = connect()
    conn.execute("CREATE VIRTUAL TABLE t USING vindex(v float[2], cat integer, +note text)")
    conn.executemany("INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, ?)",
                     [(i, f"[{i},0]", i % 3, f"n{i}") for i in range(1, n + 1)])
    return conn


def test_update_and_delete_whose_where_is_a_knn_query():
    """UPDATE/DELETE ... WHERE v MATCH ? AND k = n change exactly the n nearest rows.

    For an UPDATE, SQLite hands xUpdate the current value of every column it does not set,
    including the hidden distance and k of the KNN cursor; those must not count as writes."""
    problems = []
    for sql, check_sql, want in [
        ("UPDATE t SET cat = 100 WHERE v MATCH '[0,0]' AND k = 5", "SELECT rowid FROM t WHERE cat = 100 ORDER BY rowid",
         [(1,), (2,), (3,), (4,), (5,)]),
        ("UPDATE t SET note = 'near' WHERE v MATCH '[100,0]' AND k = 3 AND cat = 1",
         "SELECT rowid FROM t WHERE note = 'near' ORDER BY rowid", [(97,), (100,), (103,)]),
        ("UPDATE t SET v = '[5000,0]' WHERE v MATCH '[0,0]' ORDER BY distance LIMIT 2",
         "SELECT rowid FROM t WHERE v MATCH '[5000,0]' AND k = 2", [(1,), (2,)]),
        ("UPDATE t SET rowid = rowid + 1000 WHERE v MATCH '[300,0]' AND k = 2",
         "SELECT rowid FROM t WHERE rowid > 1000 ORDER BY rowid", [(1299,), (1300,)]),
        ("DELETE FROM t WHERE v MATCH '[0,0]' AND k = 10", "SELECT count(*), min(rowid) FROM t", [(290, 11)]),
        ("DELETE FROM t WHERE v MATCH '[150,0]' AND k = 4 AND cat = 0",  # 150, 147, 153, then 144 (tie with 156)
         "SELECT rowid FROM t WHERE rowid BETWEEN 140 AND 160 AND cat = 0 ORDER BY rowid", [(141,), (156,), (159,)]),
    ]:
        conn = small_table()
        try:
            conn.execute(sql)
        except sqlite3.Error as e:
            problems.append(f"{sql}: {e}")
            continue
        got = conn.execute(check_sql).fetchall()
        if got != want:
            problems.append(f"{sql}: then {check_sql} gives {got}, expected {want}")
        conn.execute("INSERT INTO t(t) VALUES ('integrity-check')")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("query", ["lazy", "k", "scan"])
def test_deleting_the_current_row_while_stepping_a_query(query):
    """SQLite allows deleting the current (or an earlier) row while a SELECT steps through the
    table; every other row must still come, once, in order."""
    sql = {"lazy": "SELECT rowid, distance FROM t WHERE v MATCH '[0,0]'",
           "k": "SELECT rowid, distance FROM t WHERE v MATCH '[0,0]' AND k = 1000",
           "scan": "SELECT rowid, note FROM t"}[query]
    conn = small_table()
    got = []
    for rowid, _ in conn.execute(sql):
        got.append(rowid)
        conn.execute("DELETE FROM t WHERE rowid = ?", (rowid,))
    assert got == list(range(1, 301)), f"yielded {len(got)} rows; first missing: " \
        f"{next((i for i in range(1, 301) if i not in got), None)}"
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.execute("INSERT INTO t(t) VALUES ('integrity-check')")


@pytest.mark.parametrize("query", ["lazy", "k", "scan"])
def test_deleting_later_rows_while_stepping_a_query(query):
    """Deleting rows a running SELECT has not reached yet is safe in SQLite ("it might happen
    that the row turns up"): no error -- certainly not SQLITE_CORRUPT -- every row that was not
    deleted comes, and every row that comes carries its own values."""
    cols = "rowid, vec_to_json(v), cat, note"
    sql = {"lazy": f"SELECT {cols} FROM t WHERE v MATCH '[0,0]'",
           "k": f"SELECT {cols} FROM t WHERE v MATCH '[0,0]' AND k = 1000",
           "scan": f"SELECT {cols} FROM t"}[query]
    conn = small_table()
    cur = conn.execute(sql)
    got = [cur.fetchone() for _ in range(3)]
    conn.execute("DELETE FROM t WHERE rowid % 2 = 0 AND rowid > 10")
    if query != "scan":
        conn.execute("INSERT INTO t(t) VALUES ('optimize')")  # moves rows between slots
    try:
        got += cur.fetchall()
    except sqlite3.Error as e:
        pytest.fail(f"after {len(got)} rows: {type(e).__name__} ({getattr(e, 'sqlite_errorname', '')}): {e}",
                    pytrace=False)
    ids = [r[0] for r in got]
    kept = [i for i in range(1, 301) if i <= 10 or i % 2]
    assert len(ids) == len(set(ids))
    assert set(kept) <= set(ids), f"missing {sorted(set(kept) - set(ids))[:10]}"
    for rowid, js, cat, note in got:
        if rowid in kept:
            assert (js, cat, note) == (f"[{rowid:.6f},0.000000]", rowid % 3, f"n{rowid}"), (rowid, js, cat, note)
