"""Typed columns store values exactly as a STRICT table does, on SQLite 3.40 (which renders a
REAL as TEXT with %!.15g: 5.0 -> '5.0', 1e20 -> '1.0e+20'). The oracle is a real STRICT table
on the same connection: both reject, or both store the same type and value."""

from __future__ import annotations

import math
import sqlite3

VALUES = [
    "NULL", "5", "-7", "9223372036854775807", "-9223372036854775808", "140737488355328",
    "5.0", "-0.0", "0.1", "1.5", "1e20", "-1.0e+20", "9.3e18", "9.223372036854775807e18",
    "1e15", "1e16", "123456789.123456789", "0.30000000000000004", "2.5e-300",
    "1.7976931348623157e308", "1e308 * 10", "'5'", "'+5'", "'-0'", "'5.0'", "'5.'", "'.5'",
    "'1e3'", "' 7 '", "'  -3.25e2  '", "'nan'", "'inf'", "'-inf'", "'1e999'", "'0x10'",
    "'abc'", "''", "'5abc'", "'9223372036854775808'", "'12345678901234567890'",
    "'0.1000000000000000055511151231257827'", "'4.9e-324'", "x'00ff'", "x''", "zeroblob(2)",
]
COLUMNS = [("mi", "INTEGER"), ("mr", "REAL"), ("mt", "TEXT"), ("mb", "BLOB"),
           ("ai", "INTEGER"), ("ar", "REAL"), ("at", "TEXT"), ("ab", "BLOB"), ("au", "ANY")]


def stored(db, insert, select):
    try:
        cur = db.execute(insert)
    except sqlite3.Error as e:
        return ("error", str(e))
    return db.execute(select, (cur.lastrowid,)).fetchone()


def same(a, b):
    if a[0] == "real" and b[0] == "real":
        return math.copysign(1, a[1]) == math.copysign(1, b[1]) and (a[1] == b[1] or a[1] != a[1] and b[1] != b[1])
    return a == b


def test_every_type_and_value_as_strict(db):
    assert sqlite3.sqlite_version_info >= (3, 38)
    db.executescript("""
        CREATE VIRTUAL TABLE v USING vindex(e float[2], mi integer, mr real, mt text, mb blob,
                                            +ai integer, +ar real, +at text, +ab blob, +au);
        CREATE TABLE s(id INTEGER PRIMARY KEY, mi INTEGER, mr REAL, mt TEXT, mb BLOB,
                       ai INTEGER, ar REAL, at TEXT, ab BLOB, au ANY) STRICT;
    """)
    for col, ty in COLUMNS:
        for lit in VALUES:
            want = stored(db, f"INSERT INTO s({col}) VALUES ({lit})", f"SELECT typeof({col}), {col} FROM s WHERE id = ?")
            got = stored(db, f"INSERT INTO v(e, {col}) VALUES ('[1,2]', {lit})",
                         f"SELECT typeof({col}), {col} FROM v WHERE rowid = ?")
            if want[0] == "error":
                assert got[0] == "error", (col, lit, got, want)
                assert f"in {ty} column v.{col}" in got[1], (col, lit, got)
                continue
            assert same(got, want), (col, lit, got, want)
            if lit != "NULL":
                n = lambda t: db.execute(f"SELECT count(*) FROM {t} WHERE {col} = ({lit})").fetchone()[0]
                assert n("v") == n("s"), (col, lit)


def test_reported_cases_on_340(db):
    db.execute("CREATE VIRTUAL TABLE v USING vindex(e float[2], cat text, r real, i integer)")
    db.execute("INSERT INTO v(rowid, e, cat, r, i) VALUES (1, '[1,2]', 5.0, '5', '1e3')")
    db.execute("INSERT INTO v(rowid, e, cat) VALUES (2, '[1,2]', 1e20)")
    want_5 = db.execute("SELECT CAST(5.0 AS TEXT)").fetchone()[0]
    want_20 = db.execute("SELECT CAST(1e20 AS TEXT)").fetchone()[0]
    assert db.execute("SELECT cat FROM v ORDER BY rowid").fetchall() == [(want_5,), (want_20,)]
    if sqlite3.sqlite_version_info[:2] == (3, 40):
        assert (want_5, want_20) == ("5.0", "1.0e+20")
    assert db.execute("SELECT rowid FROM v WHERE cat = 5.0").fetchall() == [(1,)]
    assert db.execute("SELECT r, i FROM v WHERE rowid = 1").fetchone() == (5.0, 1000)
    for bad in ("'nan'", "'inf'"):
        try:
            db.execute(f"INSERT INTO v(e, r) VALUES ('[1,2]', {bad})")
            raise AssertionError(f"{bad} was accepted")
        except sqlite3.Error as e:
            assert "cannot store TEXT value in REAL column v.r" in str(e)
