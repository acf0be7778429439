"""Behaviour of what vindex has beyond sqlite-vec: float16 vectors, vec_distance_ip,
vec_distance_jaccard, vec_distance(a, b[, metric]), vec_each on every element type, result
subtypes, and the shape of vec_version()/vec_debug(). Expected values come from numpy on
seeded data or are worked out by hand."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import sqlite_vindex
from conftest import ROOT, child_env, describe_exit


def one(db, sql, params=()):
    row = db.execute(sql, params).fetchone()
    return row[0] if len(row) == 1 else row


def f16(values) -> bytes:
    return np.asarray(values, dtype="<f2").tobytes()


def f32(values) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


# ---------------------------------------------------------------------------------------------
# The helper package


def test_helper_package(db, vindex_path):
    assert not vindex_path.endswith(".so")
    assert sqlite_vindex.serialize_float32([1, 2.5]) == f32([1, 2.5])
    assert sqlite_vindex.serialize_float32(np.array([1, 2.5], dtype=np.float64)) == f32([1, 2.5])
    assert sqlite_vindex.serialize_int8([1, -2, 127]) == bytes([1, 254, 127])
    assert sqlite_vindex.serialize_int8(np.array([1, -2, 127])) == bytes([1, 254, 127])
    with pytest.raises(Exception):
        sqlite_vindex.serialize_int8([128])
    with pytest.raises(ValueError):
        sqlite_vindex.serialize_int8(np.array([200]))
    # load() switches extension loading off again.
    with pytest.raises(sqlite3.Error):
        db.execute("SELECT load_extension('does-not-exist')")
    blob = sqlite_vindex.serialize_float32([3, 4])
    assert one(db, "SELECT vec_distance_l2(?, vec_f32('[0, 0]'))", (blob,)) == 5.0


# ---------------------------------------------------------------------------------------------
# float16


def test_vec_f16_from_json_and_blob(db):
    assert one(db, "SELECT vec_f16('[1, 2.5, -2]')") == f16([1, 2.5, -2])
    assert one(db, "SELECT hex(vec_f16('[1, 2.5, -2]'))") == "003C004100C0"
    assert one(db, "SELECT vec_type(vec_f16('[1]'))") == "float16"
    assert one(db, "SELECT vec_length(vec_f16('[1, 2, 3]'))") == 3
    # An untagged blob given to vec_f16 is raw float16 elements (2 bytes each).
    assert one(db, "SELECT vec_f16(?)", (f16([1, 2]),)) == f16([1, 2])
    assert one(db, "SELECT vec_length(vec_f16(X'003c00400000'))") == 3
    # float16 rounding: 0.1 is stored as the nearest half (0.0999755859375).
    assert one(db, "SELECT vec_f16('[0.1]')") == f16([0.1])
    assert one(db, "SELECT vec_to_json(vec_f16('[1, 2.5, 0.1, 65504, -0.5]'))") == (
        "[1.000000,2.500000,0.099976,65504.000000,-0.500000]"
    )


def test_vec_f16_random_round_trip(db):
    rng = np.random.default_rng(16)
    for d in (1, 3, 8, 17, 64, 384, 1536):
        v = (rng.standard_normal(d) * 100).astype(np.float16)
        text = "[" + ",".join(repr(float(x)) for x in v) + "]"
        assert one(db, "SELECT vec_f16(?)", (text,)) == v.tobytes()
        assert one(db, "SELECT vec_f16(?)", (v.tobytes(),)) == v.tobytes()
        # float32 -> float16 conversion rounds to nearest, like numpy.
        w = rng.standard_normal(d).astype(np.float32)
        assert one(db, "SELECT vec_f16(vec_f32(?))", (w.tobytes(),)) == w.astype(np.float16).tobytes()
        # float16 -> float32 is exact.
        assert one(db, "SELECT vec_f32(vec_f16(?))", (v.tobytes(),)) == v.astype(np.float32).tobytes()
        got = db.execute("SELECT value FROM vec_each(vec_f16(?))", (v.tobytes(),)).fetchall()
        assert [g for (g,) in got] == [float(x) for x in v]


def test_vec_f16_rejects(db):
    cases = [
        ("SELECT vec_f16('[70000]')", "out of range for float16"),
        ("SELECT vec_f16('[65520]')", "out of range for float16"),  # rounds to +Inf
        ("SELECT vec_f16(vec_f32('[70000]'))", "out of range for float16"),
        ("SELECT vec_f16(X'003c00')", "divisible by 2"),
        ("SELECT vec_f16(X'007e')", "NaN"),
        ("SELECT vec_f16(X'007c')", "infinite"),
        ("SELECT vec_f16(vec_int8('[1, 2]'))", "int8"),
        ("SELECT vec_f16(vec_bit(X'ff'))", "bit"),
        ("SELECT vec_f16('[]')", "zero-length"),
        ("SELECT vec_f16(NULL)", "NULL"),
        ("SELECT vec_f16('[1, 2')", "JSON"),
        ("SELECT vec_distance_l2(vec_f16('[1, 2]'), '[1, 2]')", "type mismatch"),
        ("SELECT vec_distance_l2(vec_f16('[1, 2]'), vec_f16('[1, 2, 3]'))", "dimension mismatch"),
        ("SELECT vec_add(vec_f16('[60000]'), vec_f16('[60000]'))", "overflows float16"),
        ("SELECT vec_distance_hamming(vec_f16('[1]'), vec_f16('[1]'))", "hamming"),
        ("SELECT vec_normalize(vec_f16('[0, 0]'))", "zero vector"),
    ]
    for sql, msg in cases:
        with pytest.raises(sqlite3.Error, match=re.escape(msg)):
            db.execute(sql).fetchall()


def test_vec_f16_arithmetic(db):
    rng = np.random.default_rng(17)
    for d in (1, 7, 16, 100, 768):
        a = rng.standard_normal(d).astype(np.float16)
        b = rng.standard_normal(d).astype(np.float16)
        pa, pb = a.tobytes(), b.tobytes()
        af, bf = a.astype(np.float64), b.astype(np.float64)
        # Element-wise: computed in float32, rounded once to float16 (exactly numpy's result).
        assert one(db, "SELECT vec_add(vec_f16(?), vec_f16(?))", (pa, pb)) == (
            (a.astype(np.float32) + b.astype(np.float32)).astype(np.float16).tobytes())
        assert one(db, "SELECT vec_sub(vec_f16(?), vec_f16(?))", (pa, pb)) == (
            (a.astype(np.float32) - b.astype(np.float32)).astype(np.float16).tobytes())
        assert one(db, "SELECT vec_slice(vec_f16(?), 0, 1)", (pa,)) == a[:1].tobytes()
        norm = np.frombuffer(one(db, "SELECT vec_normalize(vec_f16(?))", (pa,)), "<f2").astype(np.float64)
        np.testing.assert_allclose(norm, af / np.linalg.norm(af), rtol=2e-3, atol=1e-4)
        assert one(db, "SELECT vec_type(vec_normalize(vec_f16(?)))", (pa,)) == "float16"
        # Distances over the float16 values (widened), like numpy in float64.
        assert one(db, "SELECT vec_distance_l2(vec_f16(?), vec_f16(?))", (pa, pb)) == pytest.approx(
            np.linalg.norm(af - bf), rel=1e-5)
        assert one(db, "SELECT vec_distance_l1(vec_f16(?), vec_f16(?))", (pa, pb)) == pytest.approx(
            np.abs(af - bf).sum(), rel=1e-5)
        assert one(db, "SELECT vec_distance_ip(vec_f16(?), vec_f16(?))", (pa, pb)) == pytest.approx(
            -(af @ bf), rel=1e-5, abs=1e-5)
        cos = 1 - (af @ bf) / (np.linalg.norm(af) * np.linalg.norm(bf))
        assert one(db, "SELECT vec_distance_cosine(vec_f16(?), vec_f16(?))", (pa, pb)) == pytest.approx(
            cos, abs=1e-5)
        # Quantizers accept float16 input.
        if d % 8 == 0:
            bits = np.packbits(a > 0, bitorder="little").tobytes()
            assert one(db, "SELECT vec_quantize_binary(vec_f16(?))", (pa,)) == bits
    assert one(db, "SELECT hex(vec_quantize_int8(vec_f16('[0.1, -0.5, 1, -1, 0]'), 'unit'))") == "0CC07E8000"
    assert one(db, "SELECT typeof(vec_distance_l1(vec_f16('[1, 2]'), vec_f16('[4, 6]')))") == "real"


# ---------------------------------------------------------------------------------------------
# vec_distance_ip, vec_distance_jaccard, vec_distance


def test_vec_distance_ip_is_negative_dot_product(db):
    assert one(db, "SELECT vec_distance_ip('[1, 2]', '[3, 4]')") == -11.0
    assert one(db, "SELECT vec_distance_ip('[1, 2]', '[-3, 1]')") == 1.0
    assert one(db, "SELECT vec_distance_ip(vec_int8('[1, 2]'), vec_int8('[3, 4]'))") == -11.0
    assert one(db, "SELECT typeof(vec_distance_ip(vec_int8('[1, 2]'), vec_int8('[3, 4]')))") == "real"
    rng = np.random.default_rng(3)
    for d in (1, 3, 8, 15, 16, 17, 100, 1536):
        a, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
        want = -float(a.astype(np.float64) @ b.astype(np.float64))
        got = one(db, "SELECT vec_distance_ip(?, ?)", (a.tobytes(), b.tobytes()))
        assert abs(got - want) <= 1e-5 * max(1.0, abs(want)) * np.sqrt(d)
        ia = rng.integers(-128, 128, d, dtype=np.int8)
        ib = rng.integers(-128, 128, d, dtype=np.int8)
        want = -float(ia.astype(np.int64) @ ib.astype(np.int64))
        assert one(db, "SELECT vec_distance_ip(vec_int8(?), vec_int8(?))", (ia.tobytes(), ib.tobytes())) == want
    # Ascending order means most similar first.
    q = "[1, 0]"
    rows = db.execute(
        "SELECT v FROM (SELECT '[0.1, 0]' AS v UNION ALL SELECT '[5, 0]' UNION ALL SELECT '[-2, 0]') "
        "ORDER BY vec_distance_ip(v, ?)", (q,)).fetchall()
    assert [r for (r,) in rows] == ["[5, 0]", "[0.1, 0]", "[-2, 0]"]
    with pytest.raises(sqlite3.Error, match="not defined for bit"):
        db.execute("SELECT vec_distance_ip(vec_bit(X'ff'), vec_bit(X'ff'))").fetchall()


def jaccard(a: bytes, b: bytes) -> float:
    x = np.unpackbits(np.frombuffer(a, np.uint8)).astype(bool)
    y = np.unpackbits(np.frombuffer(b, np.uint8)).astype(bool)
    union = (x | y).sum()
    return 0.0 if union == 0 else 1.0 - (x & y).sum() / union


def test_vec_distance_jaccard(db):
    assert one(db, "SELECT vec_distance_jaccard(vec_bit(X'0f'), vec_bit(X'03'))") == 0.5
    assert one(db, "SELECT vec_distance_jaccard(vec_bit(X'ff'), vec_bit(X'00'))") == 1.0
    assert one(db, "SELECT vec_distance_jaccard(vec_bit(X'f0'), vec_bit(X'f0'))") == 0.0
    # Two all-zero vectors: defined as 0 (identical), not NULL.
    assert one(db, "SELECT vec_distance_jaccard(vec_bit(X'0000'), vec_bit(X'0000'))") == 0.0
    rng = np.random.default_rng(4)
    for nbytes in (1, 2, 3, 7, 8, 9, 16, 31, 64, 128, 192):
        a = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        b = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        assert one(db, "SELECT vec_distance_jaccard(vec_bit(?), vec_bit(?))", (a, b)) == pytest.approx(
            jaccard(a, b), rel=1e-12)
    for sql, msg in [
        ("SELECT vec_distance_jaccard('[1]', '[1]')", "not defined for float32"),
        ("SELECT vec_distance_jaccard(vec_int8('[1]'), vec_int8('[1]'))", "not defined for int8"),
        ("SELECT vec_distance_jaccard(vec_bit(X'ff'), vec_bit(X'ffff'))", "dimension mismatch"),
    ]:
        with pytest.raises(sqlite3.Error, match=msg):
            db.execute(sql).fetchall()


def test_vec_distance_with_metric(db):
    a, b = "[1, 2]", "[4, 6]"
    assert one(db, "SELECT vec_distance(?, ?)", (a, b)) == 5.0  # default l2
    expected = {"l2": 5.0, "L2": 5.0, "euclidean": 5.0, "l1": 7.0, "manhattan": 7.0, "ip": -16.0,
                "dot": -16.0, "inner_product": -16.0, "Cosine": 1 - 16 / (5 ** 0.5 * 52 ** 0.5),
                "cos": 1 - 16 / (5 ** 0.5 * 52 ** 0.5)}
    for metric, want in expected.items():
        assert one(db, "SELECT vec_distance(?, ?, ?)", (a, b, metric)) == pytest.approx(want, rel=1e-6), metric
    # Same values as the dedicated functions, including result types.
    for metric, fn in [("l2", "l2"), ("l1", "l1"), ("cosine", "cosine"), ("ip", "ip")]:
        for x, y in [("'[1, 2, 3]'", "'[3, -1, 0.5]'"), ("vec_int8('[1, 2, 3]')", "vec_int8('[3, -1, 5]')"),
                     ("vec_f16('[1, 2, 3]')", "vec_f16('[3, -1, 0.5]')")]:
            got = db.execute(f"SELECT vec_distance({x}, {y}, '{metric}'), typeof(vec_distance({x}, {y}, '{metric}')),"
                             f" vec_distance_{fn}({x}, {y}), typeof(vec_distance_{fn}({x}, {y}))").fetchone()
            assert got[:2] == got[2:], (metric, x)
    assert one(db, "SELECT vec_distance(vec_int8('[1, 2]'), vec_int8('[4, 6]'), 'l1')") == 7
    assert one(db, "SELECT typeof(vec_distance(vec_int8('[1, 2]'), vec_int8('[4, 6]'), 'l1'))") == "integer"
    assert one(db, "SELECT vec_distance(vec_bit(X'0f'), vec_bit(X'03'), 'hamming')") == 2.0
    assert one(db, "SELECT vec_distance(vec_bit(X'0f'), vec_bit(X'03'), 'jaccard')") == 0.5
    assert one(db, "SELECT vec_distance('[0, 0]', '[1, 1]', 'cosine')") is None
    for sql, msg in [
        ("SELECT vec_distance('[1]', '[2]', 'bogus')", "unknown metric 'bogus'"),
        ("SELECT vec_distance('[1]', '[2]', '')", "unknown metric"),
        ("SELECT vec_distance('[1]', '[2]', 1)", "metric must be TEXT"),
        ("SELECT vec_distance('[1]', '[2]', NULL)", "metric must be TEXT"),
        ("SELECT vec_distance('[1]', '[2]', X'6c32')", "metric must be TEXT"),
        ("SELECT vec_distance(vec_bit(X'0f'), vec_bit(X'03'))", "l2 distance is not defined for bit"),
        ("SELECT vec_distance('[1, 2]', '[1, 2]', 'hamming')", "hamming distance is not defined for float32"),
        ("SELECT vec_distance('[1, 2]', '[1, 2, 3]')", "dimension mismatch"),
        ("SELECT vec_distance('[1]')", "wrong number of arguments"),
        ("SELECT vec_distance('[1]', '[1]', 'l2', 'x')", "wrong number of arguments"),
    ]:
        with pytest.raises(sqlite3.Error, match=re.escape(msg)):
            db.execute(sql).fetchall()


# ---------------------------------------------------------------------------------------------
# vec_each


def test_vec_each_every_type(db):
    def each(expr, params=()):
        return db.execute(f"SELECT rowid, value, typeof(value) FROM vec_each({expr})", params).fetchall()

    assert each("'[1, 2.5, -3]'") == [(0, 1.0, "real"), (1, 2.5, "real"), (2, -3.0, "real")]
    assert each("?", (f32([0.1]),)) == [(0, float(np.float32(0.1)), "real")]
    assert each("vec_f16('[1, 0.5, -2]')") == [(0, 1.0, "real"), (1, 0.5, "real"), (2, -2.0, "real")]
    assert each("vec_int8('[1, -2, 127, -128]')") == [
        (0, 1, "integer"), (1, -2, "integer"), (2, 127, "integer"), (3, -128, "integer")]
    bits = each("vec_bit(X'05')")
    assert [r for r, _, _ in bits] == list(range(8))
    assert all(t == "integer" and v in (0, 1) for _, v, t in bits)
    # Which bit is element i is pinned against sqlite-vec in test_functions_diff.py
    # (test_vec_each_bit); here: one row per bit, each 0 or 1, as many ones as the blob has.
    for blob in (b"\x05", b"\x01\x80", bytes(range(0, 256, 17))):
        vals = [v for (v,) in db.execute("SELECT value FROM vec_each(vec_bit(?))", (blob,))]
        assert len(vals) == 8 * len(blob)
        assert sum(vals) == sum(bin(b).count("1") for b in blob)
    # The hidden `vector` column carries the vector back, with its subtype.
    assert db.execute("SELECT DISTINCT vec_type(vector), vec_length(vector) FROM vec_each(vec_int8('[1, 2, 3]'))").fetchall() == [("int8", 3)]
    assert one(db, "SELECT count(*) FROM vec_each WHERE vector = vec_f16('[1, 2]')") == 2
    # Correlated use: one row set per outer row.
    rows = db.execute("SELECT t.id, e.rowid, e.value FROM (SELECT 1 AS id, '[1, 2]' AS v UNION ALL "
                      "SELECT 2, '[3]') t, vec_each(t.v) e ORDER BY 1, 2").fetchall()
    assert rows == [(1, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0)]
    rng = np.random.default_rng(5)
    v = rng.standard_normal(1000).astype(np.float32)
    assert one(db, "SELECT count(*) FROM vec_each(?)", (v.tobytes(),)) == 1000
    assert one(db, "SELECT sum(value) FROM vec_each(?)", (v.tobytes(),)) == pytest.approx(float(v.astype(np.float64).sum()))


def test_vec_each_errors(db):
    for sql, msg in [
        ("SELECT * FROM vec_each(NULL)", "NULL"),
        ("SELECT * FROM vec_each('[]')", "zero-length"),
        ("SELECT * FROM vec_each('[1, 2')", "JSON"),
        ("SELECT * FROM vec_each(X'000000')", "divisible by 4"),
        ("SELECT * FROM vec_each(42)", "INTEGER"),
        ("SELECT * FROM vec_each", "vec_each() needs"),
    ]:
        with pytest.raises(sqlite3.Error, match=re.escape(msg)):
            db.execute(sql).fetchall()


# ---------------------------------------------------------------------------------------------
# Subtypes


def test_results_carry_their_element_type(db):
    cases = {
        "vec_f32('[1]')": "float32",
        "vec_f16('[1]')": "float16",
        "vec_int8('[1]')": "int8",
        "vec_bit(X'ff')": "bit",
        "vec_bit('[1,0,0,0,0,0,0,1]')": "bit",
        "vec_add(vec_int8('[1]'), vec_int8('[2]'))": "int8",
        "vec_sub(vec_f16('[1]'), vec_f16('[2]'))": "float16",
        "vec_normalize(vec_f16('[3, 4]'))": "float16",
        "vec_normalize('[3, 4]')": "float32",
        "vec_slice(vec_bit(X'ffff'), 8, 16)": "bit",
        "vec_slice(vec_int8('[1, 2, 3]'), 1, 2)": "int8",
        "vec_slice(vec_f16('[1, 2, 3]'), 1, 2)": "float16",
        "vec_quantize_binary('[1, 2, 3, 4, 5, 6, 7, 8]')": "bit",
        "vec_quantize_int8('[0.5]', 'unit')": "int8",
        "vec_f32(vec_f16('[1]'))": "float32",
        "vec_f16(vec_f32('[1]'))": "float16",
        # Subtypes pass through these expressions in SQLite.
        "coalesce(vec_int8('[1]'), 1)": "int8",
        "CASE WHEN 1 THEN vec_bit(X'00') END": "bit",
    }
    for expr, ty in cases.items():
        assert one(db, f"SELECT vec_type({expr})") == ty, expr


def test_subtype_is_lost_in_storage(db):
    # A blob stored in a table has no subtype: an untagged blob is float32, so a stored int8
    # vector must be re-tagged with vec_int8() (as in sqlite-vec).
    db.execute("CREATE TABLE t(v)")
    db.execute("INSERT INTO t VALUES (vec_int8('[1, 2, 3, 4]')), (vec_f16('[1, 2]')), (vec_bit(X'ff00ff00'))")
    assert [r for (r,) in db.execute("SELECT vec_type(v) FROM t")] == ["float32"] * 3
    assert [r for (r,) in db.execute("SELECT vec_length(v) FROM t")] == [1, 1, 1]
    assert one(db, "SELECT vec_to_json(vec_int8(v)) FROM t WHERE rowid = 1") == "[1,2,3,4]"
    assert one(db, "SELECT vec_to_json(vec_f16(v)) FROM t WHERE rowid = 2") == "[1.000000,2.000000]"
    assert one(db, "SELECT vec_length(vec_bit(v)) FROM t WHERE rowid = 3") == 32


def test_json_subtype(db):
    # vec_to_json's result is tagged as JSON (subtype 74): JSON functions embed it unquoted.
    assert one(db, "SELECT json_array(vec_to_json(vec_f16('[1]')))") == "[[1.000000]]"
    assert one(db, "SELECT json_object('v', vec_to_json(vec_int8('[1, -2]')))") == '{"v":[1,-2]}'
    assert one(db, "SELECT vec_to_json('[1, 2]') -> '$[1]'") == "2.000000"
    # Text carrying the JSON subtype is read as a float32 JSON vector.
    assert one(db, "SELECT vec_type(json('[1, 2]'))") == "float32"
    assert one(db, "SELECT vec_f32(json_array(1, 2.5))") == f32([1, 2.5])


# ---------------------------------------------------------------------------------------------
# Misc


def test_vec_version_and_debug_shape(db):
    version = one(db, "SELECT vec_version()")
    assert re.fullmatch(r"v\d+\.\d+\.\d+([-.+][0-9A-Za-z.-]+)?", version), version
    lines = one(db, "SELECT vec_debug()").split("\n")
    # Same four-line shape as sqlite-vec: Version / Date / Commit / Build flags.
    assert len(lines) == 4, lines
    assert lines[0] == f"Version: {version}"
    assert lines[1].startswith("Date: ")
    assert lines[2].startswith("Commit: ")
    assert lines[3].startswith("Build flags: ")
    assert re.search(r"kernels=(scalar|avx2|avx512|neon)\b", lines[3]), lines[3]


def test_json_input_beyond_sqlite_vec(db):
    # vindex-only conveniences (sqlite-vec 0.1.9 errors on these).
    assert one(db, "SELECT hex(vec_bit('[1,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,1]'))") == "0180"
    assert one(db, "SELECT vec_int8('[1.0, -2e1, 1E2]')") == bytes([1, 256 - 20, 100])
    for sql, msg in [
        ("SELECT vec_bit('[1, 0, 1]')", "multiple of 8"),
        ("SELECT vec_bit('[2, 0, 0, 0, 0, 0, 0, 0]')", "must be 0 or 1"),
        ("SELECT vec_f32(vec_int8('[1, 2, 3, 4]'))", "cannot use a int8 vector where a float32"),
        ("SELECT vec_int8(vec_f32('[1]'))", "cannot use a float32 vector where a int8"),
        ("SELECT vec_bit(vec_int8('[1]'))", "cannot use a int8 vector where a bit"),
    ]:
        with pytest.raises(sqlite3.Error, match=re.escape(msg)):
            db.execute(sql).fetchall()


def test_intended_strictness(db):
    # The known differences from sqlite-vec 0.1.9, pinned down on the vindex side.
    for sql, params, msg in [
        ("SELECT vec_f32(?)", (f32([float("nan")]),), "NaN"),
        ("SELECT vec_f32(?)", (f32([float("inf")]),), "infinite"),
        ("SELECT vec_f32('[1e39]')", (), "out of range for float32"),
        ("SELECT vec_add('[3e38]', '[3e38]')", (), "overflows float32"),
        ("SELECT vec_normalize('[0, 0]')", (), "zero vector"),
        ("SELECT vec_f32('[1, 2')", (), "JSON"),
        ("SELECT vec_f32('[1, 2] junk')", (), "JSON"),
        ("SELECT vec_slice('[1, 2, 3]', 1.5, 2)", (), "integer"),
        ("SELECT vec_slice('[1, 2, 3]', NULL, 2)", (), "integer"),
        ("SELECT vec_slice('[1, 2, 3]', 'a', 2)", (), "integer"),
    ]:
        with pytest.raises(sqlite3.Error, match=re.escape(msg)):
            db.execute(sql, params).fetchall()


# ---------------------------------------------------------------------------------------------
# Kernel choice: VINDEX_KERNELS caps the SIMD level (read once per process), so each level runs
# in its own child process over the same seeded vectors; all must agree.

KERNEL_CHILD = r"""
import json, sqlite3
import numpy as np
import sqlite_vindex
conn = sqlite3.connect(":memory:")
sqlite_vindex.load(conn)
flags = conn.execute("SELECT vec_debug()").fetchone()[0].split("\n")[3]
rng = np.random.default_rng(99)
out = []
for d in (1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 384, 1536):
    a, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    ia = rng.integers(-128, 128, d, dtype=np.int8); ib = rng.integers(-128, 128, d, dtype=np.int8)
    ba = rng.integers(0, 256, d, dtype=np.uint8).tobytes(); bb = rng.integers(0, 256, d, dtype=np.uint8).tobytes()
    row = []
    for m in ("l2", "l1", "cosine", "ip"):
        row.append(conn.execute(f"SELECT vec_distance(?, ?, '{m}')", (a.tobytes(), b.tobytes())).fetchone()[0])
        row.append(conn.execute(f"SELECT vec_distance(vec_f16(vec_f32(?)), vec_f16(vec_f32(?)), '{m}')",
                                (a.tobytes(), b.tobytes())).fetchone()[0])
        row.append(conn.execute(f"SELECT vec_distance(vec_int8(?), vec_int8(?), '{m}')",
                                (ia.tobytes(), ib.tobytes())).fetchone()[0])
    for m in ("hamming", "jaccard"):
        row.append(conn.execute(f"SELECT vec_distance(vec_bit(?), vec_bit(?), '{m}')", (ba, bb)).fetchone()[0])
    out.append(row)
print(json.dumps({"flags": flags, "rows": out}))
"""


def test_every_kernel_level_gives_the_same_results(db):
    flags = one(db, "SELECT vec_debug()").split("\n")[3]
    supported = re.search(r"this CPU supports: ([^)]*)\)", flags)
    assert supported, flags
    levels = supported.group(1).split()
    assert "scalar" in levels
    results = {}
    for level in levels:
        env = child_env()
        env["VINDEX_KERNELS"] = level
        proc = subprocess.run([sys.executable, "-c", KERNEL_CHILD], capture_output=True, text=True, env=env,
                              cwd=str(ROOT), timeout=120)
        assert proc.returncode == 0, describe_exit(proc)
        got = json.loads(proc.stdout)
        assert f"kernels={level}" in got["flags"], (level, got["flags"])
        results[level] = got["rows"]
    base = results["scalar"]
    for level, rows in results.items():
        for i, (r, s) in enumerate(zip(rows, base)):
            for x, y in zip(r, s):
                assert type(x) is type(y)
                if isinstance(x, int) or x == y:
                    assert x == y, (level, i)
                else:
                    # float32 sums in a different order: ~1e-6 relative; cosine near 0 absolute.
                    assert abs(x - y) <= 1e-5 * max(1.0, abs(y)), (level, i, x, y)
