"""The helpers of the sqlite_vindex package, from the source tree: blobs to and from numpy,
bulk_insert (rows, transactions, savepoints, errors, progress), load() errors and bindings."""

from __future__ import annotations

import io
import sqlite3
import struct

import numpy as np
import pytest

import sqlite_vindex as sv
from conftest import run_child


# --- blobs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, dtype, sql_type",
    [
        (np.array([1.5, -2.0, 3.25], dtype=np.float32), None, "float32"),
        (np.array([1.5, -2.0, 3.25]), None, "float32"),  # float64 is converted
        (np.array([1.5, -2.0, 3.25], dtype=np.float16), None, "float16"),
        (np.array([-128, 0, 127], dtype=np.int8), None, "int8"),
        (np.array([1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool), None, "bit"),
        (np.array([3, -4, 5]), "int8", "int8"),
    ],
)
def test_to_blob_matches_the_sql_functions(db, array, dtype, sql_type):
    blob = sv.to_blob(array, dtype)
    wrap = {"float32": "vec_f32", "float16": "vec_f16", "int8": "vec_int8", "bit": "vec_bit"}[sql_type]
    if sql_type == "float16":
        # vec_f16 of an untagged blob reads float32: give it the JSON and compare bytes.
        (want,) = db.execute("SELECT vec_f16(?)", [str(array.astype(float).tolist())]).fetchone()
        assert blob == want
    else:
        got_type, length = db.execute(f"SELECT vec_type({wrap}(?)), vec_length({wrap}(?))", [blob, blob]).fetchone()
        assert (got_type, length) == (sql_type, len(array))
    back = sv.from_blob(blob, sql_type)
    assert back.tolist() == np.asarray(array).astype(back.dtype).tolist()


def test_to_blob_of_lists_equals_the_array_path():
    v = [0.25, -1.0, 7.5, 0.0]
    assert sv.to_blob(v) == np.asarray(v, np.float32).tobytes() == sv.serialize_float32(v)
    assert sv.to_blob(v, "float16") == np.asarray(v, np.float16).tobytes()
    assert sv.to_blob([1, -2, 3], "int8") == sv.serialize_int8([1, -2, 3]) == b"\x01\xfe\x03"
    assert sv.to_blob([1, 0, 0, 0, 0, 0, 0, 1], "bit") == b"\x81"
    assert sv.to_blob(np.array([1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)) == b"\x81"


def test_blob_errors_are_clear():
    with pytest.raises(ValueError, match="1-dimensional"):
        sv.to_blob(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cannot tell the vector type"):
        sv.to_blob(np.array([1, 2, 3]))  # int64: say which type
    with pytest.raises(ValueError, match="-128 to 127"):
        sv.to_blob(np.array([1, 200]), "int8")
    with pytest.raises(ValueError, match="multiple of 8"):
        sv.to_blob([1, 0, 1], "bit")
    with pytest.raises(ValueError, match="unknown vector type"):
        sv.to_blob([1.0], "float64")
    with pytest.raises(ValueError, match="multiple of 4 bytes"):
        sv.from_blob(b"\x00\x00\x00", "float32")
    with pytest.raises(TypeError, match="got text"):
        sv.from_blob("[1, 2]")
    with pytest.raises(ValueError, match="different lengths"):
        sv.from_blobs([b"\x00" * 8, b"\x00" * 4])
    with pytest.raises(ValueError, match="None"):
        sv.from_blobs([b"\x00" * 8, None])


def test_from_blob_is_a_view_and_from_blobs_a_writable_matrix(db):
    m = np.random.default_rng(1).standard_normal((50, 6)).astype(np.float32)
    db.execute("CREATE TABLE plain(id INTEGER PRIMARY KEY, v BLOB)")
    db.executemany("INSERT INTO plain VALUES (?, ?)", ((i, row) for i, row in enumerate(sv.to_blobs(m))))
    blob = db.execute("SELECT v FROM plain WHERE id = 3").fetchone()[0]
    one = sv.from_blob(blob)
    assert one.base is not None and not one.flags.writeable  # over the blob's bytes
    assert np.array_equal(one, m[3])
    mat = sv.from_blobs(db.execute("SELECT v FROM plain ORDER BY id"))
    assert mat.shape == (50, 6) and mat.dtype == np.float32 and mat.flags.writeable
    assert np.array_equal(mat, m)
    # rows of several columns: pick one
    mat2 = sv.from_blobs(db.execute("SELECT id, v FROM plain ORDER BY id"), column=1)
    assert np.array_equal(mat2, m)
    assert sv.from_blobs([]).shape == (0, 0)
    bits = sv.from_blobs([b"\x01\x80", b"\xff\x00"], "bit")
    assert bits.shape == (2, 16) and bits[0, 0] and bits[0, 15] and not bits[0, 1] and bits[1, :8].all()


# --- bulk_insert -----------------------------------------------------------------------------


def make_table(db, name="docs"):
    db.execute(
        f"CREATE VIRTUAL TABLE {name} USING vindex(emb float[8], half float16[8], code bit[8], "
        "cat text, year integer, +body text)"
    )


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, 8))
    return {
        "rowid": np.arange(1, n + 1),
        "emb": m,
        "half": m.astype(np.float16),
        "code": m > 0,
        "cat": [f"c{i % 5}" for i in range(n)],
        "year": np.arange(n) % 30 + 1990,
        "body": [f"row {i}" for i in range(n)],
    }


def test_bulk_insert_stores_every_value(db):
    make_table(db)
    d = data(1234)
    assert sv.bulk_insert(db, "docs", d, batch_size=100) == 1234
    assert not db.in_transaction
    rows = db.execute("SELECT rowid, emb, half, code, cat, year, body FROM docs ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == list(range(1, 1235))
    assert np.array_equal(sv.from_blobs(rows, column=1), d["emb"].astype(np.float32))
    assert np.array_equal(sv.from_blobs(rows, "float16", column=2), d["half"])
    assert np.array_equal(sv.from_blobs(rows, "bit", column=3), d["code"])
    assert [r[4] for r in rows] == d["cat"] and [r[6] for r in rows] == d["body"]
    assert [r[5] for r in rows] == d["year"].tolist() and all(type(r[5]) is int for r in rows)
    db.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")
    # The same rows as one hand-written executemany would give, down to the shadow tables.
    db.execute("ATTACH ':memory:' AS other")
    db.execute(
        "CREATE VIRTUAL TABLE other.docs USING vindex(emb float[8], half float16[8], code bit[8], "
        "cat text, year integer, +body text)"
    )
    with db:
        db.executemany(
            "INSERT INTO other.docs(rowid, emb, half, code, cat, year, body) VALUES (?,?,?,?,?,?,?)",
            [(int(d["rowid"][i]), d["emb"][i].astype(np.float32).tobytes(), d["half"][i].tobytes(),
              np.packbits(d["code"][i], bitorder="little").tobytes(), d["cat"][i], int(d["year"][i]), d["body"][i])
             for i in range(1234)],
        )
    for suffix in ("rows", "chunks", "vectors", "codes", "aux"):
        a = db.execute(f"SELECT * FROM main.docs_{suffix} ORDER BY 1").fetchall()
        b = db.execute(f"SELECT * FROM other.docs_{suffix} ORDER BY 1").fetchall()
        assert a == b, suffix


def test_bulk_insert_lists_and_json(db):
    db.execute("CREATE VIRTUAL TABLE t USING vindex(v float[3])")
    assert sv.bulk_insert(db, "t", {"v": [[1, 2, 3], [4, 5, 6]]}) == 2
    assert sv.bulk_insert(db, "t", {"v": ["[7, 8, 9]", struct.pack("<3f", 1, 1, 1)]}) == 2
    got = db.execute("SELECT rowid, vec_to_json(v) FROM t ORDER BY rowid").fetchall()
    assert [g[1] for g in got] == [
        "[1.000000,2.000000,3.000000]", "[4.000000,5.000000,6.000000]",
        "[7.000000,8.000000,9.000000]", "[1.000000,1.000000,1.000000]",
    ]


def test_bulk_insert_error_leaves_the_table_as_it_was(db):
    make_table(db)
    sv.bulk_insert(db, "docs", {k: v[:10] for k, v in data(10).items()})
    before = db.execute("SELECT rowid, emb FROM docs ORDER BY rowid").fetchall()
    d = data(500, seed=1)
    d["rowid"] = d["rowid"] + 100
    d["emb"][321, 4] = np.nan  # refused by vindex: NaN
    with pytest.raises(sqlite3.Error, match="(?i)nan|finite"):
        sv.bulk_insert(db, "docs", d, batch_size=64)
    assert not db.in_transaction
    assert db.execute("SELECT rowid, emb FROM docs ORDER BY rowid").fetchall() == before
    db.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")


def test_bulk_insert_joins_an_open_transaction_and_rolls_back_with_it(db):
    make_table(db)
    db.execute("BEGIN")
    db.execute("INSERT INTO docs(rowid, emb, half, code, cat) VALUES (9999, '[1,1,1,1,1,1,1,1]', '[1,1,1,1,1,1,1,1]', X'ff', 'mine')")
    sv.bulk_insert(db, "docs", data(300))
    assert db.in_transaction  # not committed behind the caller's back
    assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 301
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 0
    q = "[0,0,0,0,0,0,0,1]"
    assert db.execute("SELECT count(*) FROM docs WHERE emb MATCH ? AND k = 5", [q]).fetchone()[0] == 0


def test_bulk_insert_failure_inside_a_transaction_keeps_earlier_work(db):
    make_table(db)
    db.execute("BEGIN")
    sv.bulk_insert(db, "docs", data(50))
    db.execute("SAVEPOINT mine")
    bad = data(20, seed=2)
    bad["rowid"] = bad["rowid"] + 1000
    bad["emb"] = bad["emb"][:, :7]  # wrong dimensions
    with pytest.raises(sqlite3.Error, match="dimension"):
        sv.bulk_insert(db, "docs", {"rowid": bad["rowid"], "emb": bad["emb"]})
    assert db.in_transaction
    assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 50
    db.execute("ROLLBACK TO mine")
    db.execute("RELEASE mine")
    db.execute("COMMIT")
    assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 50
    db.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")


def test_bulk_insert_checks_its_arguments(db):
    make_table(db)
    with pytest.raises(ValueError, match="has 3 values"):
        sv.bulk_insert(db, "docs", {"emb": np.zeros((4, 8)), "cat": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="at least one column"):
        sv.bulk_insert(db, "docs", {})
    with pytest.raises(sqlite3.Error, match="no such table|no column"):
        sv.bulk_insert(db, "nope", {"emb": np.ones((2, 8))})
    assert not db.in_transaction


def test_bulk_insert_or_replace_and_schema(db):
    db.execute("ATTACH ':memory:' AS aux")
    db.execute("CREATE VIRTUAL TABLE aux.t USING vindex(v float[2], tag text)")
    sv.bulk_insert(db, "t", {"rowid": [1, 2], "v": np.array([[1.0, 1], [2, 2]]), "tag": ["a", "b"]}, schema="aux")
    with pytest.raises(sqlite3.IntegrityError):
        sv.bulk_insert(db, "t", {"rowid": [2], "v": np.array([[3.0, 3]]), "tag": ["c"]}, schema="aux")
    sv.bulk_insert(db, "t", {"rowid": [2], "v": np.array([[3.0, 3]]), "tag": ["c"]}, schema="aux", or_replace=True)
    assert db.execute("SELECT rowid, tag FROM aux.t ORDER BY rowid").fetchall() == [(1, "a"), (2, "c")]


def test_progress_bar_and_callback(db, monkeypatch):
    make_table(db)
    calls = []
    sv.bulk_insert(db, "docs", data(250), batch_size=100, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 250), (100, 250), (200, 250), (250, 250)]
    db.execute("DELETE FROM docs")
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    sv.bulk_insert(db, "docs", data(250), progress=True)
    text = err.getvalue()
    assert text.endswith("\n") and "250/250" in text and "100%" in text and "rows/s" in text
    err.truncate(0)
    sv.bulk_insert(db, "docs", {k: v for k, v in data(10).items() if k != "rowid"})  # not a tty: no bar
    assert err.getvalue() == ""


# --- load ------------------------------------------------------------------------------------


def test_load_without_extension_loading_names_the_alternatives():
    class NoLoading:  # what a pyenv/python.org sqlite3.Connection looks like
        pass

    with pytest.raises(sv.LoadError) as e:
        sv.load(NoLoading())
    msg = str(e.value)
    assert "cannot load SQLite extensions" in msg and "sqlean.py" in msg and "apsw" in msg


def test_load_reports_a_missing_file(tmp_path):
    conn = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError, match="vindex extension not found at"):
        sv.load(conn, tmp_path / "vindex.so")
    # and leaves extension loading off
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        conn.execute("SELECT load_extension('x')")


def test_load_switches_extension_loading_off_again(db):
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        db.execute("SELECT load_extension(?)", [sv.loadable_path()])


def test_vindex_path_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("VINDEX_PATH", str(tmp_path / "build" / "vindex.so"))
    assert sv.loadable_path() == str(tmp_path / "build" / "vindex")
    monkeypatch.setenv("VINDEX_PATH", str(tmp_path / "build" / "vindex"))
    assert sv.loadable_path() == str(tmp_path / "build" / "vindex")


def test_sqlite3_and_sqlean_connections_in_one_process():
    """Each binding links its own SQLite: the second gets its own copy of the extension file.
    Run in a child: without that copy the process would crash."""
    proc = run_child(
        """
        import sqlite3, sqlean, sqlite_vindex
        conns = [sqlite3.connect(":memory:"), sqlean.connect(":memory:"), sqlite3.connect(":memory:")]
        for c in conns:
            sqlite_vindex.load(c)
            c.execute("CREATE VIRTUAL TABLE t USING vindex(v float[2])")
            c.execute("INSERT INTO t(rowid, v) VALUES (1, '[1,2]'), (2, '[5,5]')")
        for c in conns:
            print(c.execute("SELECT sqlite_version(), rowid FROM t WHERE v MATCH '[0,0]' AND k = 1").fetchone())
            c.close()
        print("done")
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "done" and len(lines) == 4
    assert lines[0] != lines[1] and lines[0] == lines[2]  # two SQLite versions
