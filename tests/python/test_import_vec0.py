"""Moving over from sqlite-vec: `vindex_import_vec0()` and `INSERT INTO t(t) VALUES ('import=...')`
copy a real sqlite-vec 0.1.9 vec0 table (made here with the pinned PyPI wheel) into a vindex
table, and the copy answers KNN queries as vec0 does.

The vec0 tables cover float32, int8 and bit vectors, every metadata type (boolean, integer,
float, short and long text; vec0 0.1.9 allows no NULL metadata), integer and text partition keys
with NULLs, auxiliary columns of each type with NULLs, integer and text primary keys, several
vector columns, a chunk_size, and deleted rows. The import runs on a connection without
sqlite-vec (it reads vec0's shadow tables) and on one with it loaded.

KNN results are compared as two exact searches must agree: same number of rows, distances
within float32 precision in the same order, and the same rows wherever the distance is not tied
with the k-th one (ties at the boundary may pick different rows; vec0 and vindex break ties
differently).
"""

from __future__ import annotations

import random
import sqlite3
import struct

import pytest

import sqlite_vindex

N = 420
DOCS = ("CREATE VIRTUAL TABLE docs USING vec0(emb float[16] distance_metric=cosine, user_id integer partition key, "
        "org text partition key, cat text, year integer, score float, flag boolean, +body text, +n integer, "
        "+raw blob, +x float, chunk_size=32)")
CODES = ("CREATE VIRTUAL TABLE codes USING vec0(id text primary key, q int8[24], b bit[64], tag integer, "
         "+note text)")
PLAIN = "CREATE VIRTUAL TABLE plain USING vec0(id integer primary key, v float[8] distance_metric=l1, grp text)"


def f32(v):
    return struct.pack(f"{len(v)}f", *v)


def build(path):
    """The vec0 tables, written by sqlite-vec 0.1.9; returns nothing (the file holds them)."""
    import sqlite_vec

    r = random.Random(2024)
    c = sqlite3.connect(path)
    c.enable_load_extension(True)
    sqlite_vec.load(c)
    c.execute(DOCS)
    c.execute(CODES)
    c.execute(PLAIN)
    for i in range(1, N + 1):
        v = [r.uniform(-1, 1) for _ in range(16)]
        user = None if i % 11 == 0 else r.randrange(4)
        org = None if i % 13 == 0 else r.choice(["acme", "globex"])
        cat = r.choice(["news", "blog", "a much longer category name"])
        c.execute(
            "INSERT INTO docs(rowid, emb, user_id, org, cat, year, score, flag, body, n, raw, x) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (i, f32(v), user, org, cat, 2000 + r.randrange(25), r.uniform(0, 10), r.randrange(2),
             None if i % 7 == 0 else f"body {i} " + "x" * r.randrange(40), None if i % 5 == 0 else r.randrange(-9, 9),
             bytes(r.randrange(256) for _ in range(r.randrange(6))) if i % 3 else None, r.uniform(-1, 1)),
        )
        q = [r.randrange(-128, 128) for _ in range(24)]
        b = bytes(r.randrange(256) for _ in range(8))
        c.execute("INSERT INTO codes(id, q, b, tag, note) VALUES (?, vec_int8(?), vec_bit(?), ?, ?)",
                  (f"key-{i:04d}", str(q), b, r.randrange(5), None if i % 4 else f"note {i}"))
        c.execute("INSERT INTO plain(id, v, grp) VALUES (?, ?, ?)",
                  (i * 3, f32([r.randrange(-5, 6) for _ in range(8)]), r.choice(["g1", "g2", "g3"])))
    # vec0 0.1.9 stores no NULL metadata (partition keys and auxiliary columns may be NULL).
    with pytest.raises(sqlite3.OperationalError):
        c.execute("INSERT INTO docs(rowid, emb, cat, year, score, flag) VALUES (9999, ?, NULL, 1, 1.0, 1)", (f32([0.5] * 16),))
    c.execute("DELETE FROM docs WHERE rowid % 5 = 2")
    c.execute("DELETE FROM codes WHERE id LIKE '%3'")
    c.execute("DELETE FROM plain WHERE id % 4 = 0")
    c.commit()
    c.close()


QUERIES = [
    # (vec0 table, vindex table suffix, select, match column, query expression, filters)
    ("docs", "rowid", "emb", "?", ["", "AND user_id = 1", "AND user_id = 0 AND org = 'acme'", "AND org = 'globex'",
                                   "AND cat = 'a much longer category name'", "AND year > 2012", "AND score < 3.5",
                                   "AND flag = 1", "AND user_id = 2 AND cat = 'news' AND flag = 0",
                                   "AND org = 'acme' AND year <= 2010"]),
    ("codes", "id", "q", "vec_int8(?)", ["", "AND tag = 3", "AND tag != 1"]),
    ("codes", "id", "b", "vec_bit(?)", ["", "AND tag = 0"]),
    ("plain", "id", "v", "?", ["", "AND grp = 'g2'"]),
]


def query_values(r, table, col):
    if col == "emb":
        return f32([r.uniform(-1, 1) for _ in range(16)])
    if col == "q":
        return str([r.randrange(-128, 128) for _ in range(24)])
    if col == "b":
        return bytes(r.randrange(256) for _ in range(8))
    return f32([r.randrange(-5, 6) for _ in range(8)])


def results(conn, table, key, col, expr, filt, qv, k):
    return conn.execute(
        f"SELECT {key}, distance FROM {table} WHERE {col} MATCH {expr} AND k = {k} {filt}", (qv,)).fetchall()


def same_knn(a, b, what):
    assert len(a) == len(b), f"{what}: {len(a)} rows vs {len(b)}"
    if not a:
        return
    for (ka, da), (kb, db) in zip(a, b):
        assert abs(da - db) <= 1e-5 * max(1.0, abs(db)), f"{what}: distances {a} vs {b}"
    last = max(d for _, d in b)
    eps = 1e-5 * max(1.0, abs(last))
    sa = {k for k, d in a if d < last - eps}
    sb = {k for k, d in b if d < last - eps}
    assert sa == sb, f"{what}: {a} vs {b}"


CONTENTS = {
    "docs": "SELECT rowid, user_id, org, cat, year, score, flag, body, n, raw, x, vec_to_json(emb) FROM {t} ORDER BY rowid",
    "codes": "SELECT id, tag, note, vec_to_json(q), vec_to_json(b) FROM {t} ORDER BY id",
    "plain": "SELECT id, grp, vec_to_json(v) FROM {t} ORDER BY id",
}


@pytest.fixture(scope="module")
def vec0_db(tmp_path_factory, vindex_path):
    path = str(tmp_path_factory.mktemp("vec0") / "vec0.db")
    build(path)
    refs, contents = reference(path)
    return path, refs, contents


def reference(path):
    """vec0's answers to every query, and the tables' contents (sqlite-vec loaded, vindex not)."""
    import sqlite_vec

    refs = []
    c = sqlite3.connect(path)
    c.enable_load_extension(True)
    sqlite_vec.load(c)
    r = random.Random(7)
    for table, key, col, expr, filters in QUERIES:
        for filt in filters:
            for k in (1, 7, 40):
                qv = query_values(r, table, col)
                refs.append((table, key, col, expr, filt, qv, k, results(c, table, key, col, expr, filt, qv, k)))
    contents = {t: c.execute(sel.format(t=t)).fetchall() for t, sel in CONTENTS.items()}
    c.close()
    return refs, contents


def vindex_only(path):
    c = sqlite3.connect(path)
    sqlite_vindex.load(c)
    return c


def check_against(conn, refs, contents, names):
    """names: vec0 table -> vindex table."""
    for table, key, col, expr, filt, qv, k, want in refs:
        got = results(conn, names[table], key, col, expr, filt, qv, k)
        same_knn(got, want, f"{table}.{col} k={k} {filt}")
    for t, sel in CONTENTS.items():
        got = conn.execute(sel.format(t=names[t])).fetchall()
        want = contents[t]
        assert len(got) == len(want), t
        for g, w in zip(got, want):
            # vec_to_json of both prints floats with %f: identical vectors, identical text.
            assert g == w, f"{t}: {g} vs {w}"


def test_import_without_sqlite_vec_loaded(vec0_db):
    path, refs, contents = vec0_db
    c = vindex_only(path)
    with pytest.raises(sqlite3.OperationalError, match="no such module: vec0"):
        c.execute("SELECT count(*) FROM docs").fetchone()
    n = {}
    for t in ("docs", "codes", "plain"):
        n[t] = c.execute("SELECT vindex_import_vec0(?, ?)", (t, t + "_v")).fetchone()[0]
    c.commit()
    assert n == {t: len(contents[t]) for t in contents}
    ddl = c.execute("SELECT sql FROM sqlite_schema WHERE name = 'docs_v'").fetchone()[0]
    assert '"user_id" integer partition key' in ddl and "chunk_size=32" in ddl and "+\"raw\" blob" in ddl, ddl
    for t in ("docs_v", "codes_v", "plain_v"):
        c.execute(f"INSERT INTO {t}({t}) VALUES ('integrity-check')")
    check_against(c, refs, contents, {t: t + "_v" for t in contents})
    # Rows keep their rowids (and text keys), so what pointed at them still does.
    assert c.execute("SELECT count(*) FROM docs_v WHERE rowid % 5 = 2").fetchone()[0] == 0
    # Partition keys are partitions: every chunk holds one.
    assert c.execute("SELECT count(*) FROM docs_v_rows r JOIN docs_v_chunks k ON k.id = r.chunk "
                     "WHERE NOT (r.m00 IS k.p00 AND r.m01 IS k.p01)").fetchone()[0] == 0
    c.close()


def test_import_with_sqlite_vec_loaded_into_an_existing_table(vec0_db):
    import sqlite_vec

    path, refs, contents = vec0_db
    c = sqlite3.connect(path)
    c.enable_load_extension(True)
    sqlite_vec.load(c)
    sqlite_vindex.load(c)
    # The target's columns match by name, in any order and with vindex's own choices: user_id as
    # plain metadata, the same partition on org, an extra column (NULL), float16 instead of float32.
    c.execute("CREATE VIRTUAL TABLE docs_w USING vindex(x float, body text, raw blob, org text partition key, "
              "user_id integer, emb float[16] distance=cosine, cat text, year integer, score real, flag integer, "
              "n integer, extra text, index=hnsw(m=8))")
    c.execute("INSERT INTO docs_w(docs_w) VALUES ('import=vec0:main.docs')")
    c.execute("CREATE VIRTUAL TABLE codes_w USING vindex(note text, tag integer, b bit[64], q int8[24], "
              "id text primary key)")
    c.execute("INSERT INTO codes_w(codes_w) VALUES ('import=codes')")
    c.execute("CREATE VIRTUAL TABLE plain_w USING vindex(v float[8] distance=l1, grp text, id integer primary key)")
    c.execute("INSERT INTO plain_w(plain_w) VALUES ('import=plain')")
    # Without a column of that name, vec0's integer primary key is the rowid.
    c.execute("CREATE VIRTUAL TABLE plain_x USING vindex(v float[8] distance=l1, grp text)")
    c.execute("INSERT INTO plain_x(plain_x) VALUES ('import=plain')")
    c.commit()
    assert c.execute("SELECT rowid, grp FROM plain_x ORDER BY rowid").fetchall() == [r[:2] for r in contents["plain"]]
    assert c.execute("SELECT count(*) FROM docs_w WHERE extra IS NULL").fetchone()[0] == len(contents["docs"])
    for t in ("docs_w", "codes_w", "plain_w"):
        c.execute(f"INSERT INTO {t}({t}) VALUES ('integrity-check')")
    # The vec0 tables answer as before in this connection (sqlite-vec is loaded).
    assert c.execute("SELECT count(*) FROM docs").fetchone()[0] == len(contents["docs"])
    # HNSW: compare at an ef_search that makes the search exact.
    exact_refs = [x for x in refs if x[0] != "docs"]
    check_against(c, exact_refs, contents, {"docs": "docs_w", "codes": "codes_w", "plain": "plain_w"})
    for table, key, col, expr, filt, qv, k, want in refs:
        if table == "docs":
            got = c.execute(f"SELECT rowid, distance FROM docs_w WHERE emb MATCH ? AND k = {k} AND ef_search = 2000 {filt}",
                            (qv,)).fetchall()
            same_knn(got, want, f"hnsw {filt} k={k}")
    c.close()


def test_import_rolls_back(vec0_db, tmp_path):
    path, refs, contents = vec0_db
    c = vindex_only(path)
    c.isolation_level = None
    c.execute("CREATE VIRTUAL TABLE t USING vindex(emb float[16] distance=cosine, user_id integer partition key, "
              "org text partition key, cat text, year integer, score float, flag integer, +body text, +n integer, "
              "+raw blob, +x float)")
    c.execute("INSERT INTO t(rowid, emb, cat) VALUES (100000, '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]', 'mine')")
    before = c.execute("SELECT * FROM t_chunks").fetchall()
    c.execute("BEGIN")
    c.execute("INSERT INTO t(t) VALUES ('import=docs')")
    assert c.execute("SELECT count(*) FROM t").fetchone()[0] == len(contents["docs"]) + 1
    c.execute("ROLLBACK")
    assert c.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    assert c.execute("SELECT * FROM t_chunks").fetchall() == before
    c.execute("BEGIN")
    c.execute("SAVEPOINT s")
    c.execute("INSERT INTO t(t) VALUES ('import=docs')")
    c.execute("ROLLBACK TO s")
    c.execute("RELEASE s")
    assert c.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    c.execute("INSERT INTO t(t) VALUES ('import=docs')")
    c.execute("COMMIT")
    assert c.execute("SELECT count(*) FROM t").fetchone()[0] == len(contents["docs"]) + 1
    c.execute("INSERT INTO t(t) VALUES ('integrity-check')")
    # A table the function creates disappears with the transaction.
    c.execute("BEGIN")
    assert c.execute("SELECT vindex_import_vec0('plain', 'fresh')").fetchone()[0] == len(contents["plain"])
    c.execute("ROLLBACK")
    assert c.execute("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'fresh%'").fetchone()[0] == 0
    c.close()


def test_import_errors_write_nothing(vec0_db):
    path, refs, contents = vec0_db
    c = vindex_only(path)
    c.isolation_level = None
    c.execute("CREATE VIRTUAL TABLE a USING vindex(emb float[16], cat text)")
    with pytest.raises(sqlite3.OperationalError, match="a has no column user_id; a has no column org"):
        c.execute("INSERT INTO a(a) VALUES ('import=docs')")
    c.execute("CREATE VIRTUAL TABLE b USING vindex(emb int8[16], user_id integer, org text, cat text, year integer, "
              "score float, flag integer, body text, n integer, raw blob, x float)")
    with pytest.raises(sqlite3.OperationalError, match=r"column emb: docs has float32\[16\] vectors, b has int8\[16\]"):
        c.execute("INSERT INTO b(b) VALUES ('import=docs')")
    c.execute("CREATE VIRTUAL TABLE d USING vindex(v float[8] distance=l1, grp integer)")
    with pytest.raises(sqlite3.OperationalError, match="grp"):
        c.execute("INSERT INTO d(d) VALUES ('import=plain')")
    assert c.execute("SELECT count(*) FROM d_rows").fetchone()[0] == 0
    # A rowid that is taken: the whole import fails, nothing of it stays.
    c.execute("CREATE VIRTUAL TABLE e USING vindex(v float[8] distance=l1, grp text)")
    taken = contents["plain"][10][0]
    c.execute("INSERT INTO e(rowid, v, grp) VALUES (?, '[1,1,1,1,1,1,1,1]', 'mine')", (taken,))
    with pytest.raises(sqlite3.IntegrityError, match=f"importing row {taken} of plain into e.*UNIQUE"):
        c.execute("INSERT INTO e(e) VALUES ('import=plain')")
    assert c.execute("SELECT count(*) FROM e").fetchone()[0] == 1
    c.execute("INSERT INTO e(e) VALUES ('integrity-check')")
    for sql, msg in [
        ("INSERT INTO e(e) VALUES ('import=nosuch')", "no table main.nosuch to import"),
        ("INSERT INTO e(e) VALUES ('import=e')", "cannot import itself"),
        ("INSERT INTO e(e) VALUES ('import=a')", "is not a sqlite-vec vec0 table"),
        ("SELECT vindex_import_vec0('plain', 'e', 'seed=3')", "options apply only to a table the function creates"),
        ("SELECT vindex_import_vec0('plain', 'docs')", "main.docs exists and is not a vindex table"),
        ("SELECT vindex_import_vec0('plain')", "wrong number of arguments"),
    ]:
        with pytest.raises(sqlite3.OperationalError, match=msg):
            c.execute(sql).fetchall()
    c.close()


def test_vectors_vec0_accepts_and_vindex_refuses(tmp_path):
    """sqlite-vec 0.1.9 stores NaN and, under cosine, zero vectors; vindex refuses both: the
    import stops at the first such row, names it, and writes nothing."""
    import sqlite_vec

    path = str(tmp_path / "bad.db")
    c = sqlite3.connect(path)
    c.enable_load_extension(True)
    sqlite_vec.load(c)
    c.execute("CREATE VIRTUAL TABLE nan USING vec0(v float[2])")
    c.execute("INSERT INTO nan(rowid, v) VALUES (1, ?), (2, ?)", (f32([1, 2]), f32([float("nan"), 1])))
    c.execute("CREATE VIRTUAL TABLE zero USING vec0(v float[2] distance_metric=cosine)")
    c.execute("INSERT INTO zero(rowid, v) VALUES (1, ?), (5, ?)", (f32([1, 2]), f32([0, 0])))
    c.commit()
    c.close()
    c = vindex_only(path)
    c.isolation_level = None
    with pytest.raises(sqlite3.OperationalError, match="importing row 2 of nan into nan_v.*NaN"):
        c.execute("SELECT vindex_import_vec0('nan', 'nan_v')").fetchall()
    with pytest.raises(sqlite3.OperationalError, match="importing row 5 of zero into zero_v.*zero vector"):
        c.execute("SELECT vindex_import_vec0('zero', 'zero_v')").fetchall()
    # The function's CREATE ran in the same statement: it is undone with it.
    assert c.execute("SELECT count(*) FROM sqlite_schema WHERE name IN ('nan_v', 'zero_v', 'nan_v_info', "
                     "'zero_v_info')").fetchone()[0] == 0
    c.close()
