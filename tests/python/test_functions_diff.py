"""Differential tests: vindex's vec_* functions against sqlite-vec 0.1.9 (the PyPI wheel).

The same SQL runs on two connections, one with vindex and one with sqlite-vec, over seeded
random data in many dimensions, and the results must agree:

* blobs byte for byte, text exactly, integers exactly, and the result type (typeof) always;
* floats that come out of arithmetic (distances) within 1e-5 relative; cosine distance is
  compared as |a - b| <= 1e-5 * max(1, |b|) because it lives in [0, 2] and is computed as
  1 - dot/(|a||b|): near 0 (similar vectors) the subtraction cancels and two correct
  implementations that sum in different orders (sqlite-vec: float32, one lane; vindex: SIMD
  lanes, float64 for int8) differ by ~1e-7 absolute, which is a huge *relative* error;
* vec_normalize's blob elementwise within 1e-5 relative: sqlite-vec sums the squares in
  float32 and divides in float32, vindex sums in float64, so elements may differ by 1 ulp.

Known, intended differences (excluded here, covered in test_functions.py / test_bad_input.py):

* vec_version() / vec_debug() text.
* NaN / Inf: vindex rejects them everywhere (blobs, '[1e39]' overflowing float32, vec_add
  overflowing); sqlite-vec 0.1.9 accepts them.
* vec_normalize of a zero vector: vindex errors, sqlite-vec returns NaN elements. Also vectors
  whose squared norm under- or overflows float32 (e.g. '[1e-30, 1e-30]', '[3e38, 3e38]'):
  sqlite-vec sums in float32 and returns Inf/NaN/0 elements, vindex sums in float64 and returns
  the unit vector.
* Malformed JSON ('[1,2', '[1,2] junk', '[1,]', '[.5]', '[+1]', '[0x10]'): vindex is strict
  JSON, sqlite-vec's strtod-based parser accepts them.
* vindex is a superset: vec_bit('[0,1,...]') (JSON for bits), vec_int8('[1.0]') and
  vec_int8('[1e2]') (integral numbers in any JSON spelling) work in vindex and fail in
  sqlite-vec; vindex also has float16, vec_distance_ip/_jaccard and vec_distance().
* Re-tagging: sqlite-vec's vec_f32(vec_int8(x)) / vec_int8(vec_f32(x)) / vec_bit(vec_int8(x))
  silently reinterpret the bytes; vindex errors ('cannot use a int8 vector where a float32
  vector is expected').
* vec_slice bounds that are not integers (1.5, 'a', NULL, X'01'): sqlite-vec coerces them
  with sqlite3_value_int (1.5 -> 1, 'a' -> 0, NULL -> 0); vindex errors. Integral values
  (2.0, '1') work in both. Bounds beyond 32 bits: sqlite-vec truncates them to int
  (vec_slice(v, 4294967297, 2) slices from 1); vindex reports them out of range.
* vec_each on bit vectors: sqlite-vec 0.1.9 lists each byte's bits from the most significant
  down, unlike its own vec_to_json; vindex lists bit i as bit (i % 8) of byte i / 8 everywhere
  (test_vec_each_bit checks both orders).
* Error messages: wording differs (and sqlite-vec's contains typos like "mistmatch"); only
  the existence of an error is compared.
"""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from conftest import connect_sqlite_vec, connect_vindex

DIMS = [1, 2, 3, 7, 8, 15, 16, 17, 31, 64, 100, 384, 768, 1024, 1536]


# ---------------------------------------------------------------------------------------------
# Comparison machinery


def run(conn: sqlite3.Connection, sql: str, params=()):
    try:
        return ("ok", conn.execute(sql, params).fetchall())
    except sqlite3.Error as e:
        return ("error", str(e))


def _show(x, limit=160):
    r = repr(x)
    return r if len(r) <= limit else r[:limit] + f"... ({len(r)} chars)"


def rel_close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=0.0)


def cos_close(a: float, b: float) -> bool:
    # Cosine distance is 1 - cos(theta) in [0, 2]; near 0 it suffers cancellation, so the
    # tolerance is absolute there (see the module docstring).
    return abs(a - b) <= 1e-5 * max(1.0, abs(b))


def values_equal(a, b, mode: str) -> bool:
    """Compare one vindex value `a` with the sqlite-vec value `b` (Python type = storage class)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if mode == "rel":
            return rel_close(a, b)
        if mode == "cos":
            return cos_close(a, b)
        return a == b
    if isinstance(a, bytes) and mode == "f32blob":
        if len(a) != len(b) or len(a) % 4:
            return False
        x, y = np.frombuffer(a, "<f4"), np.frombuffer(b, "<f4")
        return bool(np.all(np.isclose(x, y, rtol=1e-5, atol=0.0)))
    return a == b


class Diff:
    """Runs SQL on both connections and collects every disagreement."""

    def __init__(self, vi: sqlite3.Connection, sv: sqlite3.Connection):
        self.vi, self.sv = vi, sv
        self.mismatches: list[str] = []
        self.checked = 0

    def rows(self, sql: str, params=(), mode: str = "exact", label: str = ""):
        a, b = run(self.vi, sql, params), run(self.sv, sql, params)
        self.checked += 1
        ok = a[0] == b[0] == "ok" and len(a[1]) == len(b[1])
        if ok:
            for ra, rb in zip(a[1], b[1]):
                if len(ra) != len(rb) or not all(values_equal(x, y, mode) for x, y in zip(ra, rb)):
                    ok = False
                    break
        if not ok:
            self.mismatches.append(
                f"{label} SQL: {sql}\n    params: {_show(params)}\n"
                f"    vindex:     {_show(a)}\n    sqlite-vec: {_show(b)}"
            )

    def scalar(self, expr: str, params=(), mode: str = "exact", label: str = ""):
        """Compare `expr` and typeof(expr)."""
        self.rows(f"SELECT {expr}, typeof({expr})", tuple(params) * 2, mode, label)

    def both_error(self, sql: str, params=()):
        a, b = run(self.vi, sql, params), run(self.sv, sql, params)
        self.checked += 1
        if a[0] != "error" or b[0] != "error":
            self.mismatches.append(
                f"expected an error on both sides: {sql}\n    params: {_show(params)}\n"
                f"    vindex:     {_show(a)}\n    sqlite-vec: {_show(b)}"
            )

    def assert_clean(self):
        assert self.checked > 0
        if self.mismatches:
            shown = "\n".join(self.mismatches[:8])
            pytest.fail(
                f"{len(self.mismatches)} of {self.checked} checks disagree with sqlite-vec 0.1.9:\n{shown}",
                pytrace=False,
            )


@pytest.fixture(scope="module")
def conns():
    vi, sv = connect_vindex(), connect_sqlite_vec()
    assert run(sv, "SELECT vec_version()") == ("ok", [("v0.1.9",)]), "the reference must be sqlite-vec 0.1.9"
    yield vi, sv
    vi.close()
    sv.close()


@pytest.fixture
def diff(conns):
    return Diff(*conns)


# ---------------------------------------------------------------------------------------------
# Seeded data


def f32_json(v: np.ndarray) -> str:
    """Shortest round-trip form of each float32 value (parses back to exactly that value)."""
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def f32_json_spaced(v: np.ndarray) -> str:
    """9 significant digits (not exactly representable in float64: tests the f64 -> f32 step),
    exponents and whitespace."""
    return "\n [ " + " ,\t".join(f"{float(x):.9g}" for x in v) + " ]  "


def i8_json(v: np.ndarray) -> str:
    return json.dumps([int(x) for x in v])


class Data:
    def __init__(self, d: int):
        rng = np.random.default_rng(10_000 + d)
        self.d = d
        self.fa = rng.standard_normal(d).astype(np.float32)
        self.fb = (rng.standard_normal(d) * rng.uniform(0.01, 100)).astype(np.float32)
        # Close to fa: cosine distance near 0, where cancellation matters.
        self.fnear = (self.fa + rng.standard_normal(d).astype(np.float32) * np.float32(1e-3)).astype(np.float32)
        # Some values beyond [-1, 1] to exercise vec_quantize_int8's clamping.
        self.funit = rng.uniform(-1.3, 1.3, d).astype(np.float32)
        self.ia = rng.integers(-128, 128, d, dtype=np.int8)
        self.ib = rng.integers(-128, 128, d, dtype=np.int8)
        # Bit vectors of d bytes = 8*d bits.
        self.ba = rng.integers(0, 256, d, dtype=np.uint8).tobytes()
        self.bb = rng.integers(0, 256, d, dtype=np.uint8).tobytes()
        # A few (start, end) slices, always valid.
        cuts = {(0, d), (0, 1), (d - 1, d)}
        for _ in range(3):
            s = int(rng.integers(0, d))
            e = int(rng.integers(s + 1, d + 1))
            cuts.add((s, e))
        self.slices = sorted(cuts)


DATA = {d: Data(d) for d in DIMS}


def f32_inputs(v: np.ndarray):
    """The ways a float32 vector can be given: blob, two JSON spellings, vec_f32(blob)."""
    return [
        ("?", (v.tobytes(),)),
        ("?", (f32_json(v),)),
        ("?", (f32_json_spaced(v),)),
        ("vec_f32(?)", (v.tobytes(),)),
    ]


def i8_inputs(v: np.ndarray):
    return [("vec_int8(?)", (v.tobytes(),)), ("vec_int8(?)", (i8_json(v),))]


# ---------------------------------------------------------------------------------------------
# Constructors, vec_length, vec_type, vec_to_json


def test_vec_f32(diff):
    for d, x in DATA.items():
        for v in (x.fa, x.fb):
            for expr, p in f32_inputs(v):
                diff.scalar(f"vec_f32({expr})", p, label=f"d={d}")
    diff.assert_clean()


def test_vec_int8(diff):
    for d, x in DATA.items():
        for v in (x.ia, x.ib):
            diff.scalar("vec_int8(?)", (v.tobytes(),), label=f"d={d}")
            diff.scalar("vec_int8(?)", (i8_json(v),), label=f"d={d}")
            diff.scalar("vec_int8(vec_int8(?))", (v.tobytes(),), label=f"d={d}")
    diff.assert_clean()


def test_vec_bit(diff):
    for d, x in DATA.items():
        diff.scalar("vec_bit(?)", (x.ba,), label=f"d={d}")
        diff.scalar("vec_bit(vec_bit(?))", (x.bb,), label=f"d={d}")
    diff.assert_clean()


def all_inputs(x: Data):
    yield from f32_inputs(x.fa)
    yield from i8_inputs(x.ia)
    yield ("vec_bit(?)", (x.ba,))


def test_vec_length_and_type(diff):
    for d, x in DATA.items():
        for expr, p in all_inputs(x):
            diff.scalar(f"vec_length({expr})", p, label=f"d={d}")
            diff.scalar(f"vec_type({expr})", p, label=f"d={d}")
    diff.assert_clean()


def test_vec_to_json(diff):
    for d, x in DATA.items():
        for expr, p in all_inputs(x):
            diff.scalar(f"vec_to_json({expr})", p, label=f"d={d}")
        diff.scalar("vec_to_json(?)", (x.fb.tobytes(),), label=f"d={d}")
    diff.assert_clean()


# Values where C printf / Rust "{:.6}" and SQLite's own printf (which sqlite-vec calls through
# sqlite3_str_appendf) format differently. sqlite-vec's vec_to_json text is SQLite's printf('%f').
PRINTF_EDGE_VALUES = [
    -0.0,  # SQLite prints "0.000000" (no sign); C printf "-0.000000"
    0.0078125,  # exact tie at the 7th decimal: SQLite rounds half away from zero -> 0.007813
    288.1953125,  # same: 288.195313 (C printf rounds the exact tie to even: 288.195312)
    -40362.3828125,
    123456.789,  # float32 123456.7890625, a tie
    311461096194048.0,  # 15 integer digits: SQLite 3.40 prints 311461096194047.900000
    1e10 + 1024,  # 17 significant digits: SQLite keeps 16
    1e30,  # SQLite: 1000000015047466000000000000000.000000
    3.4e38,
    -1.0e20,
    1e-7,  # rounds to 0.000000 in both
    -1e-7,
    0.5,
    1.0,
]


def test_vec_to_json_printf_edge_cases(diff):
    """vec_to_json must format floats exactly as sqlite-vec does, i.e. as SQLite's printf('%f')."""
    for x in PRINTF_EDGE_VALUES:
        blob = np.array([x], dtype=np.float32).tobytes()
        diff.scalar("vec_to_json(?)", (blob,), label=f"x={x!r}")
        # Cross-check the oracle itself: sqlite-vec's text is SQLite's printf('%f').
        ref = diff.sv.execute("SELECT vec_to_json(?), '[' || printf('%f', ?) || ']'",
                              (blob, float(np.float32(x)))).fetchone()
        assert ref[0] == ref[1], ref
    diff.assert_clean()


def test_vec_to_json_is_json_subtyped(diff):
    # vec_to_json's result carries the JSON subtype (74), so json functions embed it as an
    # array rather than quoting it as a string.
    for expr, p in [("'[1, 2.5]'", ()), ("vec_int8('[1,-2]')", ()), ("vec_bit(X'0f')", ())]:
        diff.scalar(f"json_array(vec_to_json({expr}))", p)
        diff.scalar(f"json_object('v', vec_to_json({expr}))", p)
    diff.assert_clean()


def test_json_text_with_json_subtype_is_float32(diff):
    # Text from json() carries subtype 74; both treat it as a float32 JSON vector.
    diff.scalar("vec_length(json('[1, 2, 3]'))")
    diff.scalar("vec_f32(json('[1, 2, 3]'))")
    diff.scalar("vec_f32(json_array(1, 2.5, -3))")
    diff.assert_clean()


def test_json_number_spellings(diff):
    """Strict-JSON numbers in many spellings parse to the same float32 (both round correctly
    to float64, then to float32)."""
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.standard_normal(200),
        rng.standard_normal(200) * 10.0 ** rng.uniform(-40, 38, 200),
        [0.0, -0.0, 1.0, -1.0, 1e-45, 1.4e-45, 7e-46, 1e-46, 1.17549435e-38, 3.4028234663852886e38,
         3.4028235e38, 3.40282356e38, 16777217.0, 0.1, 0.2, 0.3, 1 / 3],
    ])
    formats = ["{:.17g}", "{:.9g}", "{:.3g}", "{:e}", "{:.20e}", "{:.12f}", "{!r}"]
    with np.errstate(over="ignore"):
        for fmt in formats:
            parts = [fmt.format(float(v)) for v in values]
            # Spellings that round to float32 infinity (e.g. '3.402824e+38') are excluded:
            # vindex rejects them, sqlite-vec 0.1.9 stores +Inf (a known, intended difference).
            parts = [t for t in parts if np.isfinite(np.float32(float(t)))]
            text = "[" + ",".join(parts) + "]"
            diff.scalar("vec_f32(?)", (text,), label=fmt)
    for text in ["[0]", "[-0]", "[1E+2]", "[1e-2]", "[1E2]", "[0.5e1]", "[-0.0e0]", "[100000000000000000000000]",
                 "[123456789012345678901234567890e-20]", "[ 1 ]", "\t[1,\r\n2]\n", "[1 ,2 , 3]"]:
        diff.scalar("vec_f32(?)", (text,), label="literal")
    for text in ["[0]", "[-0]", "[127]", "[-128]", "[ 1 , -2 ]", "[1,2,3,4,5,6,7,8]"]:
        diff.scalar("vec_int8(?)", (text,), label="literal int8")
    diff.assert_clean()


# ---------------------------------------------------------------------------------------------
# Arithmetic


def test_vec_add_sub_f32(diff):
    for d, x in DATA.items():
        for fn in ("vec_add", "vec_sub"):
            diff.scalar(f"{fn}(?, ?)", (x.fa.tobytes(), x.fb.tobytes()), label=f"d={d}")
            diff.scalar(f"{fn}(?, ?)", (f32_json(x.fa), x.fb.tobytes()), label=f"d={d}")
            diff.scalar(f"{fn}(vec_f32(?), ?)", (x.fb.tobytes(), f32_json_spaced(x.fa)), label=f"d={d}")
    diff.assert_clean()


def test_vec_add_sub_int8_wraps(diff):
    for d, x in DATA.items():
        for fn in ("vec_add", "vec_sub"):
            diff.scalar(f"{fn}(vec_int8(?), vec_int8(?))", (x.ia.tobytes(), x.ib.tobytes()), label=f"d={d}")
            diff.scalar(f"{fn}(vec_int8(?), vec_int8(?))", (i8_json(x.ia), x.ib.tobytes()), label=f"d={d}")
    diff.scalar("vec_add(vec_int8('[100, 127, -128]'), vec_int8('[100, 1, -1]'))")
    diff.scalar("vec_sub(vec_int8('[-100, -128, 127]'), vec_int8('[100, 1, -1]'))")
    diff.assert_clean()


def test_vec_normalize(diff):
    for d, x in DATA.items():
        for v in (x.fa, x.fb):
            for expr, p in f32_inputs(v):
                diff.scalar(f"vec_normalize({expr})", p, mode="f32blob", label=f"d={d}")
    diff.scalar("vec_normalize('[3, 4]')")  # exact in both: [0.6, 0.8]
    diff.assert_clean()


def test_vec_slice(diff):
    for d, x in DATA.items():
        for s, e in x.slices:
            for expr, p in [("?", (x.fa.tobytes(),)), ("?", (f32_json(x.fa),)), ("vec_int8(?)", (x.ia.tobytes(),))]:
                diff.scalar(f"vec_slice({expr}, {s}, {e})", p, label=f"d={d}")
            diff.scalar(f"vec_slice(vec_bit(?), {8 * s}, {8 * e})", (x.ba,), label=f"d={d}")
        # Integral values given as REAL or TEXT are accepted by both.
        diff.scalar(f"vec_slice(?, '0', {float(d)})", (x.fa.tobytes(),), label=f"d={d}")
        diff.scalar(f"vec_length(vec_slice(vec_bit(?), 0, {8 * d}))", (x.ba,), label=f"d={d}")
    diff.assert_clean()


# ---------------------------------------------------------------------------------------------
# Distances


def test_distances_f32(diff):
    for d, x in DATA.items():
        a, b, n = x.fa.tobytes(), x.fb.tobytes(), x.fnear.tobytes()
        for p in [(a, b), (a, n), (a, a), (b, a), (f32_json(x.fa), b), (a, f32_json_spaced(x.fb))]:
            diff.scalar("vec_distance_l2(?, ?)", p, mode="rel", label=f"d={d}")
            diff.scalar("vec_distance_l1(?, ?)", p, mode="rel", label=f"d={d}")
            diff.scalar("vec_distance_cosine(?, ?)", p, mode="cos", label=f"d={d}")
        neg = (-x.fa).astype(np.float32).tobytes()
        diff.scalar("vec_distance_cosine(?, ?)", (a, neg), mode="cos", label=f"d={d}")
    diff.assert_clean()


def test_distances_int8(diff):
    for d, x in DATA.items():
        pairs = [(x.ia, x.ib), (x.ia, x.ia), (x.ib, x.ia)]
        for u, v in pairs:
            p = (u.tobytes(), v.tobytes())
            diff.scalar("vec_distance_l2(vec_int8(?), vec_int8(?))", p, mode="rel", label=f"d={d}")
            # int8 L1 is an INTEGER in sqlite-vec: compared exactly, type included.
            diff.scalar("vec_distance_l1(vec_int8(?), vec_int8(?))", p, label=f"d={d}")
            diff.scalar("vec_distance_cosine(vec_int8(?), vec_int8(?))", p, mode="cos", label=f"d={d}")
        diff.scalar("vec_distance_l1(vec_int8(?), vec_int8(?))", (i8_json(x.ia), i8_json(x.ib)), label=f"d={d}")
    extreme = ("[" + ",".join(["-128"] * 1536) + "]", "[" + ",".join(["127"] * 1536) + "]")
    diff.scalar("vec_distance_l1(vec_int8(?), vec_int8(?))", extreme)
    diff.scalar("vec_distance_l2(vec_int8(?), vec_int8(?))", extreme, mode="rel")
    diff.scalar("vec_distance_cosine(vec_int8(?), vec_int8(?))", extreme, mode="cos")
    diff.assert_clean()


def test_distance_l1_f32_does_not_overflow(diff):
    """sqlite-vec sums float32 L1 in float64, so a sum beyond float32's range stays finite."""
    diff.scalar("vec_distance_l1('[3e38, 3e38]', '[-3e38, -3e38]')", mode="rel")
    diff.scalar("vec_distance_l1(?, ?)", (np.full(64, 3e37, np.float32).tobytes(),
                                          np.full(64, -3e37, np.float32).tobytes()), mode="rel")
    diff.assert_clean()


def test_distance_cosine_zero_vector_is_null(diff):
    # sqlite-vec computes NaN, which SQLite stores as NULL; vindex returns NULL.
    diff.scalar("vec_distance_cosine('[0, 0]', '[1, 2]')")
    diff.scalar("vec_distance_cosine(vec_int8('[0, 0]'), vec_int8('[1, 2]'))")
    diff.assert_clean()


def test_distance_hamming(diff):
    for d, x in DATA.items():
        for p in [(x.ba, x.bb), (x.ba, x.ba), (x.bb, x.ba)]:
            diff.scalar("vec_distance_hamming(vec_bit(?), vec_bit(?))", p, label=f"d={d}")
    diff.scalar("vec_distance_hamming(vec_bit(?), vec_bit(?))", (b"\x00" * 1536, b"\xff" * 1536))
    diff.assert_clean()


# ---------------------------------------------------------------------------------------------
# Quantization


def test_vec_quantize_binary(diff):
    for d, x in DATA.items():
        if d % 8:
            continue
        for expr, p in f32_inputs(x.fa) + i8_inputs(x.ia):
            diff.scalar(f"vec_quantize_binary({expr})", p, label=f"d={d}")
    # Zeros (and -0.0) quantize to 0 bits; only x > 0 sets a bit.
    diff.scalar("vec_quantize_binary('[0, -0.0, 1e-30, -1e-30, 5, -5, 0, 1]')")
    diff.scalar("vec_quantize_binary(vec_int8('[0, 1, -1, 127, -128, 0, 0, 2]'))")
    diff.assert_clean()


def test_vec_quantize_int8_random(diff):
    for d, x in DATA.items():
        for v in (x.funit, x.fa):
            diff.scalar("vec_quantize_int8(?, 'unit')", (v.tobytes(),), label=f"d={d}")
            diff.scalar("vec_quantize_int8(?, 'unit')", (f32_json(v),), label=f"d={d}")
    diff.scalar("vec_quantize_int8('[0.1, -0.5, 1, -1, 0]', 'unit')")
    diff.scalar("vec_quantize_int8('[0.1, -0.5, 1, -1, 0]', 'UNIT')")
    diff.assert_clean()


def quantize_boundary_values() -> np.ndarray:
    """Every step boundary k*(2/255) - 1 of the 'unit' range, and 3 float32 neighbours each side."""
    step = np.float32(2.0 / 255)
    out = []
    for k in range(256):
        c = np.float32(np.float32(-1.0) + np.float32(k) * step)
        out.append(c)
        up = down = c
        for _ in range(3):
            up = np.nextafter(up, np.float32(np.inf), dtype=np.float32)
            down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
            out.extend([up, down])
    return np.array(out, dtype=np.float32)


def test_vec_quantize_int8_step_boundaries(diff):
    """Values next to the 255 step boundaries: rounding must match sqlite-vec exactly.

    sqlite-vec 0.1.9 computes `((double)x - (-1.0)) / (double)step - 128` in float64 (C's
    double literals promote the float32 element; `step` is the float32 2/255), truncates and
    clamps to [-128, 127].
    """
    vals = quantize_boundary_values()
    for i in range(0, len(vals), 7):  # one element per query, so a mismatch names its value
        chunk = vals[i:i + 7]
        diff.scalar("vec_quantize_int8(?, 'unit')", (chunk.tobytes(),), label=f"x={[float(v) for v in chunk]}")
    diff.assert_clean()


# ---------------------------------------------------------------------------------------------
# vec_each


def test_vec_each_f32_and_int8(diff):
    sql = "SELECT rowid, value, typeof(value) FROM vec_each({})"
    for d, x in DATA.items():
        for expr, p in list(f32_inputs(x.fa)) + list(i8_inputs(x.ia)):
            diff.rows(sql.format(expr), p, label=f"d={d}")
        # The hidden `vector` column used as a constraint, and a join.
        diff.rows("SELECT count(*), sum(value) FROM vec_each WHERE vector = vec_int8(?)", (x.ia.tobytes(),))
    diff.rows("SELECT t.k, e.rowid, e.value FROM (SELECT 1 AS k, '[1,2]' AS v UNION ALL SELECT 2, '[3]') t, "
              "vec_each(t.v) e ORDER BY t.k, e.rowid")
    diff.assert_clean()


def test_vec_each_bit(db, vec_db):
    """Bit vectors: vindex's vec_each lists bit i as bit (i % 8) of byte i / 8, the order
    vec_to_json, vec_quantize_binary and the distance functions use in BOTH extensions.
    sqlite-vec 0.1.9's vec_each alone takes bit 7 of each byte first (an intended
    difference, see the module docstring); its vec_to_json agrees with vindex."""
    for blob in (b"\x05", b"\x01\x80", b"\x0f", *[x.ba for x in DATA.values()]):
        ours = [r[0] for r in db.execute("SELECT value FROM vec_each(vec_bit(?)) ORDER BY rowid", (blob,))]
        ours_json = json.loads(db.execute("SELECT vec_to_json(vec_bit(?))", (blob,)).fetchone()[0])
        theirs_json = json.loads(vec_db.execute("SELECT vec_to_json(vec_bit(?))", (blob,)).fetchone()[0])
        theirs_each = [r[0] for r in vec_db.execute("SELECT value FROM vec_each(vec_bit(?)) ORDER BY rowid", (blob,))]
        assert ours == ours_json == theirs_json, blob.hex()
        # sqlite-vec's vec_each: the same bits, most significant first within each byte.
        assert theirs_each == [b for i in range(0, len(ours), 8) for b in reversed(ours[i:i + 8])], blob.hex()


# ---------------------------------------------------------------------------------------------
# Both must reject clearly invalid input (the wording may differ)

F = "X'0000803f00000040'"  # float32 [1, 2]
F3 = "'[1, 2, 3]'"

INVALID = [
    # dimension mismatch
    *[f"SELECT {fn}({F}, {F3})" for fn in (
        "vec_distance_l2", "vec_distance_l1", "vec_distance_cosine", "vec_add", "vec_sub")],
    "SELECT vec_distance_l2(vec_int8('[1,2]'), vec_int8('[1,2,3]'))",
    "SELECT vec_distance_l1(vec_int8('[1,2]'), vec_int8('[1,2,3]'))",
    "SELECT vec_add(vec_int8('[1,2]'), vec_int8('[1,2,3]'))",
    "SELECT vec_distance_hamming(vec_bit(X'ff'), vec_bit(X'ffff'))",
    # element type mismatch
    *[f"SELECT {fn}({F}, vec_int8('[1,2]'))" for fn in (
        "vec_distance_l2", "vec_distance_l1", "vec_distance_cosine", "vec_add", "vec_sub")],
    "SELECT vec_distance_hamming(vec_bit(X'ff'), vec_int8('[1,2,3,4,5,6,7,8]'))",
    "SELECT vec_distance_l2(vec_bit(X'ff'), '[1,2,3,4,5,6,7,8]')",
    # metric not defined for the type
    "SELECT vec_distance_hamming('[1,2]', '[1,2]')",
    "SELECT vec_distance_hamming(vec_int8('[1,2]'), vec_int8('[1,2]'))",
    "SELECT vec_distance_l2(vec_bit(X'ff'), vec_bit(X'ff'))",
    "SELECT vec_distance_l1(vec_bit(X'ff'), vec_bit(X'ff'))",
    "SELECT vec_distance_cosine(vec_bit(X'ff'), vec_bit(X'ff'))",
    "SELECT vec_add(vec_bit(X'ff'), vec_bit(X'ff'))",
    "SELECT vec_sub(vec_bit(X'ff'), vec_bit(X'ff'))",
    "SELECT vec_normalize(vec_int8('[1,2]'))",
    "SELECT vec_normalize(vec_bit(X'ff'))",
    "SELECT vec_quantize_binary(vec_bit(X'ff'))",
    "SELECT vec_quantize_binary('[1,2,3]')",
    "SELECT vec_quantize_int8(vec_int8('[1,2]'), 'unit')",
    "SELECT vec_quantize_int8('[0.5]', 'bogus')",
    "SELECT vec_quantize_int8('[0.5]', 1)",
    "SELECT vec_quantize_int8('[0.5]', NULL)",
    # bad blob lengths (float32 needs a multiple of 4 bytes)
    *[f"SELECT vec_f32({b})" for b in ("X'00'", "X'0000'", "X'000000'", "X'0000000000'")],
    "SELECT vec_length(X'000000')",
    "SELECT vec_to_json(X'00')",
    "SELECT vec_distance_l2(X'00000000', X'000000')",
    "SELECT vec_add(X'000000', X'000000')",
    # not a vector at all
    *[f"SELECT {fn}({v})" for fn in ("vec_f32", "vec_int8", "vec_bit", "vec_length", "vec_to_json", "vec_type")
      for v in ("NULL", "1", "1.5")],
    "SELECT vec_f32('abc')",
    "SELECT vec_f32('{}')",
    "SELECT vec_f32('1')",
    "SELECT vec_f32('[\"a\"]')",
    "SELECT vec_f32('[[1]]')",
    "SELECT vec_f32('[true]')",
    "SELECT vec_int8('[1.5]')",
    "SELECT vec_int8('[128]')",
    "SELECT vec_int8('[-129]')",
    "SELECT vec_int8('abc')",
    # zero-length vectors
    "SELECT vec_f32('[]')",
    "SELECT vec_f32(X'')",
    "SELECT vec_int8(X'')",
    "SELECT vec_int8('[]')",
    "SELECT vec_bit(X'')",
    "SELECT vec_length('[]')",
    # vec_slice bounds
    "SELECT vec_slice('[1,2,3]', -1, 2)",
    "SELECT vec_slice('[1,2,3]', 0, 4)",
    "SELECT vec_slice('[1,2,3]', 2, 1)",
    "SELECT vec_slice('[1,2,3]', 1, 1)",
    "SELECT vec_slice('[1,2,3]', 5, 6)",
    "SELECT vec_slice(vec_bit(X'ffff'), 4, 16)",
    "SELECT vec_slice(vec_bit(X'ffff'), 0, 12)",
    # vec_each
    "SELECT * FROM vec_each(NULL)",
    "SELECT * FROM vec_each('[]')",
    "SELECT * FROM vec_each(1)",
    "SELECT * FROM vec_each(X'000000')",
    "SELECT * FROM vec_each()",
    # argument counts (SQLite itself refuses)
    "SELECT vec_f32()",
    "SELECT vec_f32('[1]', '[2]')",
    "SELECT vec_length()",
    "SELECT vec_distance_l2('[1]')",
    "SELECT vec_distance_l2('[1]', '[1]', '[1]')",
    "SELECT vec_slice('[1]', 0)",
    "SELECT vec_quantize_int8('[1]')",
    "SELECT vec_version(1)",
]


def test_invalid_input_errors_on_both_sides(diff):
    for sql in INVALID:
        diff.both_error(sql)
    # After all those errors, both connections still work.
    diff.scalar("vec_length('[1, 2]')")
    diff.assert_clean()


def test_function_names_are_case_insensitive(diff):
    diff.scalar("VEC_LENGTH('[1, 2]')")
    diff.scalar("Vec_Distance_L2('[1, 2]', '[3, 4]')", mode="rel")
    diff.assert_clean()


# ---------------------------------------------------------------------------------------------
# Subtype interop: both extensions in ONE connection


def test_vec0_accepts_vindex_vectors():
    """sqlite-vec first, then vindex: vindex's vec_* replace sqlite-vec's, vec0 stays. vec0 must
    take vindex's int8/bit/float32 values, which proves the subtype numbers match (223 float32,
    224 bit, 225 int8)."""
    import sqlite_vec
    import sqlite_vindex

    conn = sqlite3.connect(":memory:")
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    sqlite_vindex.load(conn)
    assert conn.execute("SELECT vec_version()").fetchone()[0] != "v0.1.9", "vindex must have replaced vec_version"
    conn.execute("CREATE VIRTUAL TABLE v USING vec0(e int8[8], b bit[16], f float[4])")
    rows = [
        (1, "[1,2,3,4,5,6,7,8]", bytes.fromhex("0f00"), "[1,2,3,4]"),
        (2, "[-1,-2,-3,-4,-5,-6,-7,-8]", bytes.fromhex("ff01"), "[4,3,2,1]"),
        (3, "[127,-128,0,0,0,0,0,1]", bytes.fromhex("00ff"), "[0.5,0.5,0.5,0.5]"),
    ]
    for rowid, e, b, f in rows:
        conn.execute("INSERT INTO v(rowid, e, b, f) VALUES (?, vec_int8(?), vec_bit(?), vec_f32(?))", (rowid, e, b, f))
    got = conn.execute("SELECT rowid, e, b, f FROM v ORDER BY rowid").fetchall()
    want = [
        (r, np.array(json.loads(e), np.int8).tobytes(), b, np.array(json.loads(f), np.float32).tobytes())
        for r, e, b, f in rows
    ]
    assert got == want
    # vec0's column type checks see the subtypes: a vindex float32 value in the int8 column fails.
    with pytest.raises(sqlite3.Error, match="int8"):
        conn.execute("INSERT INTO v(rowid, e, b, f) VALUES (9, vec_f32('[1,2,3,4,5,6,7,8]'), vec_bit(X'0000'), '[1,2,3,4]')")
    # KNN on each column with vindex-made query vectors.
    knn = conn.execute("SELECT rowid, distance FROM v WHERE e MATCH vec_int8('[1,2,3,4,5,6,7,7]') AND k = 3").fetchall()
    assert [r for r, _ in knn] == [1, 2, 3]
    assert knn[0][1] == pytest.approx(1.0)
    knn = conn.execute("SELECT rowid, distance FROM v WHERE b MATCH vec_bit(X'ff00') AND k = 3").fetchall()
    assert knn == [(2, 1.0), (1, 4.0), (3, 16.0)]
    knn = conn.execute("SELECT rowid FROM v WHERE f MATCH vec_f32('[4,3,2,1]') AND k = 1").fetchall()
    assert knn == [(2,)]
    # vindex's functions read vec0's stored vectors back (untagged blobs from a table: float32
    # column works directly, the others need their constructor).
    assert conn.execute("SELECT vec_to_json(vec_int8(e)), vec_to_json(vec_bit(b)), vec_to_json(f) FROM v WHERE rowid = 1").fetchone() == (
        "[1,2,3,4,5,6,7,8]",
        "[1,1,1,1,0,0,0,0,0,0,0,0,0,0,0,0]",
        "[1.000000,2.000000,3.000000,4.000000]",
    )
    conn.close()


def test_vindex_reads_sqlite_vec_subtypes():
    """vindex first, then sqlite-vec: sqlite-vec's vec_int8/vec_bit/vec_f32 replace vindex's, and
    vindex-only functions must understand the values they tag."""
    import sqlite_vec
    import sqlite_vindex

    conn = sqlite3.connect(":memory:")
    sqlite_vindex.load(conn)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    assert conn.execute("SELECT vec_version()").fetchone()[0] == "v0.1.9"
    q = conn.execute
    assert q("SELECT vec_distance(vec_int8('[1,2]'), vec_int8('[4,-2]'), 'l1')").fetchone() == (7,)
    assert q("SELECT vec_distance_ip(vec_int8('[1,2]'), vec_int8('[4,-1]'))").fetchone() == (-2.0,)
    assert q("SELECT vec_distance_jaccard(vec_bit(X'0f'), vec_bit(X'03'))").fetchone() == (0.5,)
    assert q("SELECT vec_distance(vec_bit(X'0f'), vec_bit(X'03'), 'hamming')").fetchone() == (2.0,)
    assert q("SELECT hex(vec_f16(vec_f32('[1, -2]')))").fetchone() == ("003C00C0",)
    conn.close()
