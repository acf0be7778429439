"""Transactions on SQLite 3.40: ROLLBACK and ROLLBACK TO restore exactly what every query
returned before, a failed statement undoes only itself, a WAL reader keeps its snapshot while
another connection commits, and every connection notices other connections' commits (the
per-connection in-memory cache is tagged with the generation counter).

"Every query" is `snapshot()`: full contents, KNN with and without filters, the lazy
`ORDER BY distance LIMIT` path (no LIMIT push-down on 3.40), point lookups, vindex_status and
the shadow tables themselves.
"""

from __future__ import annotations

import random
import sqlite3
import sys

import numpy as np
import pytest

from conftest import PYTHON_DIR, connect_vindex

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))
import sqlite_vindex  # noqa: E402

DIMS = 96  # 256 slots per chunk: the tables span several chunks
CREATE = f"CREATE VIRTUAL TABLE t USING vindex(v float[{DIMS}] distance=l2, cat integer, tag text, +note text)"
Q1 = "[" + ",".join(["1", "0", "1", "0", "1", "0", "1", "0"] * (DIMS // 8)) + "]"
Q2 = "[" + ",".join(["-2", "1", "0", "3", "0", "-1", "2", "0"] * (DIMS // 8)) + "]"


def J(x, last=None) -> str:
    """JSON vector of DIMS elements equal to x (the last one `last` if given)."""
    v = [x] * DIMS
    if last is not None:
        v[-1] = last
    return "[" + ",".join(map(str, v)) + "]"


Q9 = J(9)
SHADOWS = ["t_rows", "t_chunks", "t_vectors", "t_codes", "t_info", "t_aux"]


def connect_memory() -> sqlite3.Connection:
    conn = connect_vindex()
    conn.isolation_level = None
    return conn


def connect_file(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=5)
    sqlite_vindex.load(conn)
    return conn


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


def snapshot(conn) -> dict:
    """Everything a user can observe of table t."""
    s = {
        "contents": rows(conn, "SELECT rowid, v, cat, tag, note FROM t ORDER BY rowid"),
        "count": rows(conn, "SELECT count(*) FROM t"),
        "point": rows(conn, "SELECT rowid, cat, note, vec_to_json(v) FROM t WHERE rowid IN (1, 7, 50, 333, 1000)"),
        "knn": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q1}' AND k = 25"),
        "knn_cat": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q2}' AND k = 10 AND cat = 2"),
        "knn_filters": rows(conn, f"SELECT rowid, distance, note FROM t WHERE v MATCH '{Q1}' AND k = 10 "
                                  "AND tag IN ('a', 'c') AND cat >= 1 AND rowid > 20"),
        "knn_distance": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q2}' AND k = 50 AND distance < 6"),
        "lazy": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q1}' ORDER BY distance LIMIT 7"),
        "lazy_offset": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q2}' ORDER BY distance "
                                  "LIMIT 5 OFFSET 10"),
        "lazy_aux": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q2}' AND note LIKE 'row 1%' "
                               "ORDER BY distance LIMIT 5"),
        "all_in_order": rows(conn, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q1}'"),
        "status": rows(conn, "SELECT rows, free_slots, chunks, chunk_capacity, generation FROM vindex_status "
                             "WHERE table_name = 't'"),
    }
    for sh in SHADOWS:
        s[sh] = rows(conn, f"SELECT * FROM {sh} ORDER BY 1")
    return s


def assert_same(got: dict, want: dict, what: str):
    diff = [k for k in want if got.get(k) != want[k]]
    if diff:
        k = diff[0]
        g, w = got[k], want[k]
        pytest.fail(f"{what}: differs in {diff}; first, {k}: got {len(g)} rows {g[:6]}..., want {len(w)} rows {w[:6]}...",
                    pytrace=False)


def vec(rnd: random.Random) -> bytes:
    return np.array([rnd.randint(-3, 3) for _ in range(DIMS)], "<f4").tobytes()


def setup(conn, n: int, seed: int):
    conn.execute(CREATE)
    rnd = random.Random(seed)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t(rowid, v, cat, tag, note) VALUES (?, ?, ?, ?, ?)",
                     [(i, vec(rnd), None if i % 11 == 0 else i % 5, "abcd"[i % 4] if i % 7 else None, f"row {i}")
                      for i in range(1, n + 1)])
    conn.execute("COMMIT")
    conn.execute("DELETE FROM t WHERE rowid % 13 = 0")  # holes, so 'optimize' has work to do


class Writer:
    """Random writes of every kind; the rowids it uses grow from `next_id`."""

    KINDS = ["insert", "insert_auto", "update_vec", "update_meta", "update_aux", "update_rowid", "update_all",
             "delete", "delete_filter", "delete_range", "replace", "ignore", "optimize", "rebuild",
             "replace_pk"]

    def __init__(self, conn, seed: int, next_id: int):
        self.conn = conn
        self.rnd = random.Random(seed)
        self.next_id = next_id

    def existing(self) -> int:
        """Mostly a rowid the table has, sometimes any rowid."""
        guess = self.rnd.randint(1, self.next_id)
        if self.rnd.random() < 0.1:
            return guess
        row = self.conn.execute("SELECT rowid FROM t WHERE rowid >= ? ORDER BY rowid LIMIT 1", (guess,)).fetchone()
        return row[0] if row else guess

    def write(self, kind: str | None = None):
        r, c = self.rnd, self.conn
        kind = kind or r.choice([k for k in self.KINDS if k != "delete_range"])
        if kind == "insert":
            self.next_id += 1
            c.execute("INSERT INTO t(rowid, v, cat, tag, note) VALUES (?, ?, ?, ?, 'new')",
                      (self.next_id, vec(r), r.randint(0, 4), r.choice("abcd")))
        elif kind == "insert_auto":
            cur = c.execute("INSERT INTO t(v, cat) VALUES (?, ?)", (vec(r), r.randint(0, 4)))
            self.next_id = max(self.next_id, cur.lastrowid)
        elif kind == "update_vec":
            c.execute("UPDATE t SET v = ? WHERE rowid = ?", (vec(r), self.existing()))
        elif kind == "update_meta":
            c.execute("UPDATE t SET cat = ?, tag = ? WHERE rowid = ?",
                      (r.choice([None, 0, 1, 2, 3]), r.choice([None, "a", "c"]), self.existing()))
        elif kind == "update_aux":
            c.execute("UPDATE t SET note = ? WHERE rowid = ?", (f"row {r.randint(1, 200)}", self.existing()))
        elif kind == "update_rowid":
            self.next_id += 1
            c.execute("UPDATE OR IGNORE t SET rowid = ? WHERE rowid = ?", (self.next_id, self.existing()))
        elif kind == "update_all":
            self.next_id += 1
            c.execute("UPDATE OR IGNORE t SET rowid = ?, v = ?, cat = 2, note = 'moved' WHERE rowid = ?",
                      (self.next_id, vec(r), self.existing()))
        elif kind == "delete":
            c.execute("DELETE FROM t WHERE rowid = ?", (self.existing(),))
        elif kind == "delete_filter":
            c.execute("DELETE FROM t WHERE cat = ? AND rowid % 5 = ?", (r.randint(0, 4), r.randint(0, 4)))
        elif kind == "delete_range":  # empties whole chunks
            lo = r.randint(1, self.next_id)
            c.execute("DELETE FROM t WHERE rowid BETWEEN ? AND ?", (lo, lo + 300))
        elif kind == "replace":
            c.execute("INSERT OR REPLACE INTO t(rowid, v, cat, note) VALUES (?, ?, 1, 'replaced')",
                      (self.existing(), vec(r)))
        elif kind == "ignore":
            c.execute("INSERT OR IGNORE INTO t(rowid, v, cat) VALUES (?, ?, 3)", (self.existing(), vec(r)))
        elif kind == "optimize":
            c.execute("INSERT INTO t(t) VALUES ('optimize')")
        elif kind == "rebuild":
            c.execute("INSERT INTO t(t) VALUES ('rebuild')")
        elif kind == "replace_pk":
            # OR REPLACE through an UPDATE of the rowid onto an existing row
            c.execute("UPDATE OR REPLACE t SET rowid = ? WHERE rowid = ?", (self.existing(), self.existing()))
        return kind


def integrity(conn):
    conn.execute("INSERT INTO t(t) VALUES ('integrity-check')")


# ---------------------------------------------------------------------------------------------


def test_rollback_restores_every_query():
    conn = connect_memory()
    setup(conn, 1000, 1)
    w = Writer(conn, 2, 1000)
    # each kind of write on its own, then random mixtures
    plans = [[k] * 5 for k in Writer.KINDS] + [[None] * random.Random(r).randint(1, 60) for r in range(25)]
    for round_, plan in enumerate(plans):
        before = snapshot(conn)
        conn.execute("BEGIN")
        for kind in plan:
            w.write(kind)
        inside = snapshot(conn)  # fills the caches with uncommitted state
        if plan[0] not in ("ignore", "optimize"):  # optimize of a compact table writes nothing
            assert inside != before, f"round {round_} {plan[:1]}: the writes changed nothing"
        conn.execute("ROLLBACK")
        assert_same(snapshot(conn), before, f"round {round_} ({plan[0] or 'mixed'}): after ROLLBACK")
        integrity(conn)
        # commit a few writes so the next round starts from another state
        conn.execute("BEGIN")
        for kind in ["insert", None, None, None]:  # (some kinds may write nothing)
            w.write(kind)
        conn.execute("COMMIT")
        assert snapshot(conn) != before
    integrity(conn)


def test_rollback_to_nested_savepoints_restores_every_query():
    conn = connect_memory()
    setup(conn, 400, 3)
    w = Writer(conn, 4, 400)
    conn.execute("BEGIN")
    for round_ in range(15):
        w.write()
        outer = snapshot(conn)
        conn.execute("SAVEPOINT a")
        for _ in range(w.rnd.randint(1, 15)):
            w.write()
        mid_a = snapshot(conn)
        conn.execute("SAVEPOINT b")
        for _ in range(w.rnd.randint(1, 15)):
            w.write()
        mid_b = snapshot(conn)
        conn.execute("SAVEPOINT c")
        for _ in range(w.rnd.randint(1, 15)):
            w.write()
        w.write("optimize")
        conn.execute("ROLLBACK TO c")
        assert_same(snapshot(conn), mid_b, f"round {round_}: ROLLBACK TO c")
        # write again after the rollback, then roll back further
        w.write()
        w.write("replace")
        conn.execute("ROLLBACK TO b")
        assert_same(snapshot(conn), mid_a, f"round {round_}: ROLLBACK TO b (over c)")
        conn.execute("RELEASE b")
        w.write("delete")
        conn.execute("ROLLBACK TO a")
        assert_same(snapshot(conn), outer, f"round {round_}: ROLLBACK TO a")
        # the savepoint survives ROLLBACK TO: more writes, a second rollback to it
        for _ in range(3):
            w.write()
        conn.execute("ROLLBACK TO a")
        assert_same(snapshot(conn), outer, f"round {round_}: second ROLLBACK TO a")
        conn.execute("RELEASE a")
    final = snapshot(conn)
    conn.execute("COMMIT")
    assert_same(snapshot(conn), final, "after COMMIT")
    integrity(conn)

    # a SAVEPOINT outside BEGIN opens the transaction itself
    before = snapshot(conn)
    conn.execute("SAVEPOINT outer_sp")
    for _ in range(20):
        w.write()
    conn.execute("SAVEPOINT inner_sp")
    w.write("optimize")
    conn.execute("ROLLBACK TO outer_sp")
    conn.execute("RELEASE outer_sp")
    assert_same(snapshot(conn), before, "SAVEPOINT as the outer transaction")
    integrity(conn)


def test_a_failed_statement_rolls_back_only_itself():
    conn = connect_memory()
    setup(conn, 300, 5)
    w = Writer(conn, 6, 300)
    conn.execute("BEGIN")
    for _ in range(10):
        w.write()
    conn.execute(f"INSERT INTO t(rowid, v, cat) VALUES (5000, '{J(1)}', 1)")
    before = snapshot(conn)
    failing = [
        # several rows: the good ones before the bad one are undone with it
        (f"INSERT INTO t(rowid, v) VALUES (5001, '{J(2)}'), (5000, '{J(3)}')", "UNIQUE"),
        (f"INSERT INTO t(rowid, v) VALUES (5002, '{J(2)}'), (5003, '[3,3,3]')", "dimensions"),
        ("INSERT INTO t(rowid, v, cat) SELECT rowid + 10000, v, CASE WHEN rowid > 200 THEN 'x' ELSE cat END FROM t",
         "INTEGER"),
        (f"UPDATE t SET v = CASE WHEN rowid = (SELECT max(rowid) FROM t) THEN '[1]' ELSE '{J(0, 9)}' END",
         "dimensions"),
        ("UPDATE t SET rowid = rowid + 1", "UNIQUE"),
        ("UPDATE t SET cat = 7, note = 'x', tag = CASE WHEN rowid > 100 THEN X'00' ELSE 'ok' END", "TEXT"),
        (f"DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE vec_length(v) = {DIMS} AND rowid < 100) "
         "AND vec_distance_l2(v, '[1]') > 0", "dimension"),
        # single rows
        ("INSERT INTO t(rowid, v) VALUES (5004, '[0,0,0]')", "dimensions"),
        ("UPDATE t SET v = '[1,2]' WHERE rowid = 5000", "dimensions"),
        ("UPDATE t SET rowid = 5000 WHERE rowid = 1", "UNIQUE"),
        (f"INSERT INTO t(rowid, v) VALUES (5000, '{J(3)}')", "UNIQUE"),
    ]
    problems = []
    for sql, word in failing:
        with pytest.raises(sqlite3.Error) as e:
            conn.execute(sql)
            pytest.fail(f"did not fail: {sql}")
        assert word in str(e.value), (sql, str(e.value))
        assert conn.in_transaction
        got = snapshot(conn)
        diff = [k for k in before if got[k] != before[k]]
        if diff:
            detail = "; ".join(f"{k}: {[x for x in before[k] if x not in got[k]][:3]} -> "
                               f"{[x for x in got[k] if x not in before[k]][:3]}" for k in diff)
            problems.append(f"{sql[:80]}: ({e.value}) changed {diff}: {detail}")
            before = got
    conn.execute("COMMIT")
    after = snapshot(conn)
    assert after["contents"] == before["contents"]
    assert not problems, "failed statements changed the table:\n" + "\n".join(problems)
    integrity(conn)


def test_wal_reader_keeps_its_snapshot_while_a_writer_commits(tmp_path):
    path = tmp_path / "wal.db"
    wconn = connect_file(path)
    assert wconn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    setup(wconn, 500, 7)
    reader = connect_file(path)
    snapshot(reader)  # the reader has cached the table
    reader.execute("BEGIN")
    before = snapshot(reader)
    w = Writer(wconn, 8, 500)
    for round_ in range(10):
        wconn.execute("BEGIN")
        for _ in range(15):
            w.write()
        if round_ % 2:
            w.write("optimize")
        wconn.execute("COMMIT")
        assert snapshot(wconn) != before
        assert_same(snapshot(reader), before, f"reader after the writer's commit {round_}")
    # autocommit writes too
    for _ in range(5):
        w.write()
    assert_same(snapshot(reader), before, "reader after autocommit writes")
    reader.execute("COMMIT")
    # a new read transaction sees the writer's state
    assert_same(snapshot(reader), snapshot(wconn), "reader after its read transaction")
    integrity(reader)
    reader.close()
    wconn.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_second_connection_sees_the_firsts_commits(tmp_path, journal):
    path = tmp_path / f"two-{journal}.db"
    a = connect_file(path)
    a.execute(f"PRAGMA journal_mode={journal}")
    setup(a, 300, 9)
    b = connect_file(path)
    w = Writer(a, 10, 300)
    assert_same(snapshot(b), snapshot(a), "initially")
    assert rows(b, "SELECT cache_state FROM vindex_status") == [("shared",)]
    # one write of each kind from a, then b's next query must see it
    for kind in Writer.KINDS + [None] * 10:
        k = w.write(kind)
        assert_same(snapshot(b), snapshot(a), f"b after a's {k}")
    # the nearest neighbour changes under b's cached copy
    a.execute(f"INSERT INTO t(rowid, v, note) VALUES (9000, '{Q1}', 'exact')")
    assert rows(b, f"SELECT rowid, distance FROM t WHERE v MATCH '{Q1}' AND k = 1") == [(9000, 0.0)]
    a.execute(f"UPDATE t SET v = '{Q9}' WHERE rowid = 9000")
    assert rows(b, f"SELECT rowid FROM t WHERE v MATCH '{Q1}' AND k = 1") != [(9000,)]
    a.execute("UPDATE t SET rowid = 9001 WHERE rowid = 9000")
    assert rows(b, f"SELECT rowid FROM t WHERE v MATCH '{Q9}' AND k = 1") == [(9001,)]
    a.execute("DELETE FROM t WHERE rowid = 9001")
    assert rows(b, "SELECT count(*) FROM t WHERE rowid = 9001") == [(0,)]
    # and the other way round: b writes on top of a's state without losing a's rows
    a.execute(f"INSERT INTO t(rowid, v) VALUES (9100, '{J(3, 2)}')")
    b.execute(f"INSERT INTO t(rowid, v) VALUES (9101, '{J(3)}')")
    assert rows(a, f"SELECT rowid FROM t WHERE v MATCH '{J(3)}' AND k = 2") == [(9101,), (9100,)]
    assert_same(snapshot(a), snapshot(b), "after writes from both")
    # a's rolled-back transaction is never seen by b
    before = snapshot(b)
    a.execute("BEGIN")
    for _ in range(10):
        w.write()
    snapshot(a)
    a.execute("ROLLBACK")
    assert_same(snapshot(b), before, "b after a's ROLLBACK")
    assert_same(snapshot(a), before, "a after its ROLLBACK")
    integrity(a)
    integrity(b)
    a.close()
    b.close()


def test_executemany_20k_rows_then_a_query_from_another_connection(tmp_path):
    path = tmp_path / "bulk.db"
    a = connect_file(path)
    # WAL: with a rollback journal the 20k-row transaction spills its cache and takes the
    # EXCLUSIVE lock, so the other connection could not even check that it sees nothing yet
    a.execute("PRAGMA journal_mode=WAL")
    a.execute("CREATE VIRTUAL TABLE t USING vindex(v float[16] distance=l2, cat integer, +note text)")
    b = connect_file(path)
    assert rows(b, "SELECT count(*) FROM t WHERE v MATCH ? AND k = 10", (np.ones(16, "<f4").tobytes(),)) == [(0,)]
    rnd = np.random.default_rng(11)
    n = 20_000
    X = rnd.integers(-4, 5, (n, 16)).astype(np.float32)
    ids = np.arange(1, n + 1) * 2
    cats = rnd.integers(0, 10, n)
    a.execute("BEGIN")
    a.executemany("INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, ?)",
                  ((int(ids[i]), X[i].tobytes(), int(cats[i]), f"n{i}") for i in range(n)))
    # not visible to b before the commit
    assert rows(b, "SELECT count(*) FROM t") == [(0,)]
    a.execute("COMMIT")
    assert rows(b, "SELECT rows FROM vindex_status") == [(n,)]
    Xd = X.astype(np.float64)
    for qi in range(5):
        q = rnd.integers(-4, 5, 16).astype(np.float32)
        d = np.sqrt(((Xd - q) ** 2).sum(axis=1))
        order = np.lexsort((ids, d))
        want = [(int(ids[j]), float(d[j])) for j in order[:20]]
        assert rows(b, "SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 20", (q.tobytes(),)) == want
        lazy = rows(b, "SELECT rowid, distance FROM t WHERE v MATCH ? ORDER BY distance LIMIT 20", (q.tobytes(),))
        assert lazy == want
        sel = order[cats[order] == qi]
        want_cat = [(int(ids[j]), float(d[j])) for j in sel[:10]]
        assert rows(b, "SELECT rowid, distance FROM t WHERE v MATCH ? AND k = 10 AND cat = ?",
                    (q.tobytes(), qi)) == want_cat
    assert rows(b, "SELECT count(*), min(rowid), max(rowid) FROM t") == [(n, 2, 2 * n)]
    integrity(b)
    a.close()
    b.close()


def test_ddl_inside_a_transaction_rolls_back():
    conn = connect_memory()
    setup(conn, 300, 12)
    before = snapshot(conn)
    for ddl in ["DROP TABLE t", "ALTER TABLE t RENAME TO u"]:
        conn.execute("BEGIN")
        w = Writer(conn, 13, 300)
        for _ in range(5):
            w.write()
        conn.execute(ddl)
        conn.execute("ROLLBACK")
        assert_same(snapshot(conn), before, f"after {ddl} and ROLLBACK")
    conn.execute("BEGIN")
    conn.execute("SAVEPOINT a")
    conn.execute("DROP TABLE t")
    conn.execute("ROLLBACK TO a")
    assert_same(snapshot(conn), before, "after DROP TABLE and ROLLBACK TO")
    conn.execute("COMMIT")
    # a table created and filled in a rolled-back transaction leaves nothing
    conn.execute("BEGIN")
    conn.execute("CREATE VIRTUAL TABLE w USING vindex(v float[2], c text)")
    conn.execute("INSERT INTO w(rowid, v, c) VALUES (1, '[1,1]', 'x')")
    conn.execute("ROLLBACK")
    assert rows(conn, "SELECT name FROM sqlite_schema WHERE name LIKE 'w%'") == []
    assert rows(conn, "SELECT table_name FROM vindex_status") == [("t",)]
    conn.execute("CREATE VIRTUAL TABLE w USING vindex(v float[2], c text)")
    assert rows(conn, "SELECT rowid FROM w WHERE v MATCH '[1,1]' AND k = 5") == []
    conn.execute("VACUUM")
    assert_same(snapshot(conn), before, "after VACUUM")
    integrity(conn)
