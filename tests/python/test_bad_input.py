"""Crash-proofing: bad input must give an SQLite error that names the problem, never a crash.

Every case runs in a child process (conftest.run_child), so a segfault or abort in the
extension fails the test with the case that caused it instead of killing pytest. The child
prints one JSON line per case; the parent checks the child exited normally, that each case
that must fail failed with a message containing the expected words, that each case that must
work returned the right value, and that the connection still works afterwards.
"""

from __future__ import annotations

import inspect
import json
import random
import sqlite3
import struct

import numpy as np
import pytest

from conftest import describe_exit, parse_json_lines, run_child

# ---------------------------------------------------------------------------------------------
# Parameter encoding shared with the child (JSON cannot carry bytes).


def null():
    return ["null"]


def integer(n):
    return ["int", n]


def real(x):
    return ["real", x]


def text(s):
    return ["text", s]


def blob(b: bytes):
    return ["blob", b.hex()]


def unaligned(b: bytes):
    """A memoryview of `b` starting at an odd offset of a larger bytes object.

    Python hands SQLite that odd address, but SQLite copies bound blobs into its own memory,
    so the extension may still see an aligned pointer; test_unaligned_blobs_from_table_rows
    gets truly unaligned pointers (straight into a table page) to the functions."""
    return ["unaligned", b.hex()]


def f32(values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


CHILD_BATTERY = r"""
import json, sqlite3, sys
import sqlite_vindex

def decode(p):
    kind = p[0]
    if kind == "null": return None
    if kind in ("int", "real", "text"): return p[1]
    if kind == "blob": return bytes.fromhex(p[1])
    if kind == "unaligned":
        raw = b"\x00" + bytes.fromhex(p[1])
        return memoryview(raw)[1:]
    raise ValueError(kind)

def encode(v):
    if isinstance(v, bytes): return {"hex": v.hex()}
    return v

conn = sqlite3.connect(":memory:")
sqlite_vindex.load(conn)
cases = json.load(sys.stdin)
for sql, params in cases:
    try:
        rows = conn.execute(sql, [decode(p) for p in params]).fetchall()
        out = {"ok": True, "rows": [[encode(v) for v in r] for r in rows]}
    except sqlite3.Error as e:
        out = {"ok": False, "error": str(e), "type": type(e).__name__}
    except Exception as e:  # a non-sqlite3 exception is a failure too, but not a crash
        out = {"ok": False, "error": repr(e), "type": type(e).__name__}
    print(json.dumps(out), flush=True)
ok = conn.execute("SELECT 1, vec_length('[1, 2, 3]')").fetchall()
print(json.dumps({"final": ok}), flush=True)
"""

# ---------------------------------------------------------------------------------------------
# The cases: (sql, params, expectation). An expectation is ("error", [substrings]) or
# ("ok", rows-or-None).


def err(*words):
    return ("error", list(words))


def ok(rows=None):
    return ("ok", rows)


ONE_ARG = [
    "vec_f32({})", "vec_f16({})", "vec_int8({})", "vec_bit({})", "vec_length({})", "vec_type({})",
    "vec_to_json({})", "vec_normalize({})", "vec_quantize_binary({})", "vec_quantize_int8({}, 'unit')",
    "vec_slice({}, 0, 1)",
]
TWO_ARG = ["vec_add", "vec_sub", "vec_distance_l2", "vec_distance_cosine", "vec_distance_ip", "vec_distance_l1",
           "vec_distance_hamming", "vec_distance_jaccard", "vec_distance"]
# Float32-reading functions (an untagged blob is float32 to them).
F32_READERS = [f for f in ONE_ARG if not f.startswith(("vec_f16", "vec_int8", "vec_bit"))]

MALFORMED_JSON = {
    # (elements are 0/1 so that every type, bit included, gets as far as the syntax error)
    "[1,0": ["JSON", "end of the text"],
    "[1,,0]": ["JSON", "empty element"],
    "[1,0] x": ["JSON", "after the closing"],
    "[[1]]": ["JSON", "nested arrays"],
    '["a"]': ["JSON", "strings are not numbers"],
    "[NaN]": ["JSON", "'N'"],
    "[Infinity]": ["JSON"],
    "[1e999]": ["out of range"],
    "[-1e999]": ["out of range"],
    "": ["JSON", "'['"],
    "[": ["JSON"],
    "]": ["JSON", "'['"],
    "[1,]": ["JSON"],
    "[,1]": ["JSON"],
    "[.5]": ["JSON"],
    "[+1]": ["JSON"],
    "[01]": ["JSON"],
    "[1.]": ["JSON"],
    "[1e]": ["JSON"],
    "[0x10]": ["JSON"],
    "[1 2]": ["JSON"],
    "[1,0]]": ["JSON"],
    "{}": ["JSON"],
    "1,2": ["JSON"],
    "[true]": ["JSON"],
    "[null]": ["JSON"],
    "[1,\x002]": ["JSON", "0x00"],
    "[" * 100_000: ["JSON", "nested arrays"],
    "[" + "9" * 400 + "]": ["out of range"],
    "hello": ["JSON"],
}


def build_cases():
    cases = []

    def add(sql, params, expect):
        cases.append((sql, params, expect))

    # -- every function with a non-vector argument
    for fn in ONE_ARG:
        add(f"SELECT {fn.format('?')}", [null()], err("NULL"))
        add(f"SELECT {fn.format('?')}", [integer(42)], err("INTEGER"))
        add(f"SELECT {fn.format('?')}", [real(1.5)], err("FLOAT"))
        add(f"SELECT {fn.format('?')}", [text("not json")], err("JSON"))
    add("SELECT * FROM vec_each(?)", [null()], err("NULL"))
    add("SELECT * FROM vec_each(?)", [integer(1)], err("INTEGER"))
    add("SELECT * FROM vec_each(?)", [real(2.5)], err("FLOAT"))
    add("SELECT * FROM vec_each(?)", [text("not json")], err("JSON"))
    add("SELECT * FROM vec_each(?)", [blob(b"\x00\x00\x00")], err("divisible by 4"))
    add("SELECT * FROM vec_each(?)", [text("[]")], err("zero-length"))
    add("SELECT * FROM vec_each", [], err("vec_each"))
    for fn in TWO_ARG:
        for bad, word in [(null(), "NULL"), (integer(1), "INTEGER"), (real(0.5), "FLOAT"), (text("x"), "JSON")]:
            add(f"SELECT {fn}(?, '[1, 2]')", [bad], err(word, "first"))
            add(f"SELECT {fn}('[1, 2]', ?)", [bad], err(word, "second"))

    # -- float32 blobs of a bad length
    for n in (1, 2, 3, 5, 6, 7, 4097):
        b = bytes((i * 37 + 11) % 256 for i in range(n))
        for fn in F32_READERS + ["vec_f32({})"]:
            add(f"SELECT {fn.format('?')}", [blob(b)], err("divisible by 4", f"{n} bytes"))
        add("SELECT vec_distance_l2(?, ?)", [blob(b), blob(b)], err("divisible by 4"))
        if n % 2:
            add("SELECT vec_f16(?)", [blob(b)], err("divisible by 2"))

    # -- zero-length vectors
    for fn in ONE_ARG:
        add(f"SELECT {fn.format('?')}", [text("[]")], err("zero-length"))
        add(f"SELECT {fn.format('?')}", [blob(b"")], err("zero-length"))
    add("SELECT vec_f32(?)", [text(" [ ] ")], err("zero-length"))

    # -- malformed JSON, for every type that reads JSON
    for s, words in MALFORMED_JSON.items():
        for fn in ("vec_f32", "vec_f16", "vec_int8", "vec_bit", "vec_length", "vec_to_json"):
            add(f"SELECT {fn}(?)", [text(s)], err(*words))
    add("SELECT vec_f32(CAST(X'5bff5d' AS TEXT))", [], err("JSON", "0xff"))

    # -- non-finite values
    add("SELECT vec_f32(?)", [blob(f32([1.0, float("nan")]))], err("NaN", "element 1"))
    add("SELECT vec_f32(?)", [blob(f32([float("inf")]))], err("infinite"))
    add("SELECT vec_f32(?)", [blob(f32([float("-inf")]))], err("infinite"))
    add("SELECT vec_length(?)", [blob(f32([float("nan")]))], err("NaN"))
    add("SELECT vec_distance_l2(?, '[1]')", [blob(f32([float("nan")]))], err("NaN", "first"))
    add("SELECT vec_f32('[1e39]')", [], err("out of range for float32"))
    add("SELECT vec_f16('[1e5]')", [], err("out of range for float16"))
    add("SELECT vec_f16(X'00fc')", [], err("infinite"))
    add("SELECT vec_f16(X'01fe')", [], err("NaN"))
    add("SELECT vec_add('[3e38]', '[3e38]')", [], err("overflow"))
    add("SELECT vec_sub('[-3e38]', '[3e38]')", [], err("overflow"))

    # -- int8 / bit JSON range
    for s in ("[128]", "[-129]", "[1.5]", "[1e3]"):
        add("SELECT vec_int8(?)", [text(s)], err("-128 to 127"))
    add("SELECT vec_bit(?)", [text("[2,0,0,0,0,0,0,0]")], err("0 or 1"))
    add("SELECT vec_bit(?)", [text("[1,0,1]")], err("multiple of 8"))

    # -- mismatched element types and dimensions
    a_f32, a_i8, a_bit, a_f16 = "'[1, 2, 3, 4, 5, 6, 7, 8]'", "vec_int8('[1, 2, 3, 4, 5, 6, 7, 8]')", "vec_bit(X'ff')", "vec_f16('[1, 2, 3, 4, 5, 6, 7, 8]')"
    for fn in ("vec_add", "vec_sub", "vec_distance_l2", "vec_distance_cosine", "vec_distance_l1", "vec_distance_ip",
               "vec_distance_hamming", "vec_distance_jaccard", "vec_distance"):
        for x, y in [(a_f32, a_i8), (a_i8, a_f32), (a_f32, a_bit), (a_f16, a_f32), (a_i8, a_bit), (a_bit, a_f16)]:
            add(f"SELECT {fn}({x}, {y})", [], err("type mismatch"))
        add(f"SELECT {fn}('[1, 2]', '[1, 2, 3]')", [], err("dimension mismatch", "2", "3"))
        add(f"SELECT {fn}(vec_int8('[1]'), vec_int8('[1, 2]'))", [], err("dimension mismatch"))
        add(f"SELECT {fn}(vec_bit(X'ff'), vec_bit(X'ffff'))", [], err("dimension mismatch"))
    for fn, ty in [("vec_distance_l2", "bit"), ("vec_distance_l1", "bit"), ("vec_distance_cosine", "bit"),
                   ("vec_distance_ip", "bit")]:
        add(f"SELECT {fn}(vec_bit(X'ff'), vec_bit(X'ff'))", [], err("not defined for bit"))
    for fn in ("vec_distance_hamming", "vec_distance_jaccard"):
        add(f"SELECT {fn}('[1]', '[1]')", [], err("not defined for float32"))
        add(f"SELECT {fn}(vec_int8('[1]'), vec_int8('[1]'))", [], err("not defined for int8"))
    add("SELECT vec_add(vec_bit(X'ff'), vec_bit(X'ff'))", [], err("bit"))
    add("SELECT vec_normalize(vec_int8('[1]'))", [], err("int8"))
    add("SELECT vec_normalize(vec_bit(X'ff'))", [], err("bit"))
    add("SELECT vec_normalize('[0, 0, 0]')", [], err("zero vector"))
    add("SELECT vec_normalize('[0, -0.0]')", [], err("zero vector"))
    add("SELECT vec_quantize_binary(vec_bit(X'ff'))", [], err("already a bit vector"))
    add("SELECT vec_quantize_binary('[1, 2, 3]')", [], err("multiple of 8"))
    add("SELECT vec_quantize_int8(vec_int8('[1]'), 'unit')", [], err("int8"))
    add("SELECT vec_quantize_int8(vec_bit(X'ff'), 'unit')", [], err("bit"))
    for t in ("vec_int8", "vec_bit", "vec_f32", "vec_f16"):
        others = {"vec_int8": "vec_f32('[1]')", "vec_bit": "vec_int8('[1]')", "vec_f32": "vec_int8('[1, 2, 3, 4]')",
                  "vec_f16": "vec_bit(X'ffff')"}
        add(f"SELECT {t}({others[t]})", [], err("cannot use a"))

    # -- absurdly many dimensions
    big_json = "[" + ",".join(["0.5"] * 70_000) + "]"
    for fn in ("vec_f32", "vec_f16", "vec_int8", "vec_length", "vec_to_json"):
        s = big_json if fn != "vec_int8" else "[" + ",".join(["1"] * 70_000) + "]"
        add(f"SELECT {fn}(?)", [text(s)], err("70000 dimensions", "maximum is 65536"))
    add("SELECT vec_bit(?)", [text("[" + ",".join(["1"] * 70_000) + "]")], err("maximum"))
    big_blob = bytes(300_000)
    for fn, dims in [("vec_f32", 75_000), ("vec_length", 75_000), ("vec_f16", 150_000), ("vec_int8", 300_000),
                     ("vec_bit", 2_400_000)]:
        add(f"SELECT {fn}(?)", [blob(big_blob)], err(f"{dims} dimensions", "maximum"))
    add("SELECT vec_distance_l2(?, ?)", [blob(big_blob), blob(big_blob)], err("maximum"))
    add("SELECT count(*) FROM vec_each(?)", [blob(big_blob)], err("maximum"))
    # The limits themselves are fine.
    add("SELECT vec_length(?)", [text("[" + ",".join(["1"] * 65_536) + "]")], ok([[65_536]]))
    add("SELECT vec_length(?)", [blob(bytes(4 * 65_536))], ok([[65_536]]))
    add("SELECT vec_length(vec_bit(?))", [blob(bytes(8192))], ok([[65_536]]))
    add("SELECT vec_length(vec_bit(?))", [blob(bytes(8193))], err("65544 dimensions", "maximum"))
    add("SELECT vec_length(vec_int8(?))", [blob(bytes(65_537))], err("maximum"))

    # -- wrong argument counts (SQLite refuses before calling us)
    for sql in ("SELECT vec_f32()", "SELECT vec_f32('[1]', '[1]')", "SELECT vec_length()", "SELECT vec_to_json('[1]', 1)",
                "SELECT vec_add('[1]')", "SELECT vec_distance_l2('[1]')", "SELECT vec_distance_l2('[1]', '[1]', '[1]')",
                "SELECT vec_distance('[1]')", "SELECT vec_distance('[1]', '[1]', 'l2', 'l2')", "SELECT vec_slice('[1]', 0)",
                "SELECT vec_slice('[1]')", "SELECT vec_quantize_int8('[1]')", "SELECT vec_quantize_binary()",
                "SELECT vec_version(1)", "SELECT vec_debug('x')", "SELECT vec_f16()"):
        add(sql, [], err("wrong number of arguments"))
    add("SELECT * FROM vec_each('[1]', '[2]')", [], err("vec_each"))

    # -- vec_slice bounds
    v3 = "'[1, 2, 3]'"
    for s, e, words in [(-1, 2, ["start (-1)", "negative"]), (0, 4, ["end (4)", "greater than the number of dimensions"]),
                        (2, 1, ["less than end"]), (1, 1, ["less than end"]), (3, 3, ["less than end"]),
                        (5, 6, ["greater than"]), (-(2 ** 63), 1, ["negative"]), (0, 2 ** 63 - 1, ["greater than"]),
                        (0, -1, ["less than end"])]:
        add(f"SELECT vec_slice({v3}, ?, ?)", [integer(s), integer(e)], err(*words))
    for s, e, word in [(real(0.5), integer(2), "start must be an integer"), (integer(0), real(2.5), "end must be an integer"),
                       (null(), integer(2), "start must be an integer"), (integer(0), null(), "end must be an integer"),
                       (text("a"), integer(2), "start must be an integer"), (integer(0), text("2x"), "end must be an integer"),
                       (blob(b"\x01"), integer(2), "start must be an integer"), (real(1e300), integer(2), "start must be an integer"),
                       (text("99999999999999999999"), integer(2), "start must be an integer")]:
        add(f"SELECT vec_slice({v3}, ?, ?)", [s, e], err(word))
    add("SELECT vec_slice(vec_bit(X'ffff'), 4, 16)", [], err("multiples of 8"))
    add("SELECT vec_slice(vec_bit(X'ffff'), 0, 12)", [], err("multiples of 8"))
    add(f"SELECT vec_slice({v3}, '1', 2.0)", [], ok([[{"hex": f32([2.0]).hex()}]]))

    # -- vec_quantize_int8 range, vec_distance metric
    for rng_arg, word in [(text("bogus"), "unknown range 'bogus'"), (text(""), "unknown range"), (text("unit "), "unknown range"),
                          (integer(1), "must be 'unit'"), (null(), "must be 'unit'"), (real(1.0), "must be 'unit'"),
                          (blob(b"unit"), "must be 'unit'")]:
        add("SELECT vec_quantize_int8('[0.5]', ?)", [rng_arg], err(word))
    for metric, word in [(text("bogus"), "unknown metric 'bogus'"), (text(""), "unknown metric"),
                         (text("l2 "), "unknown metric"), (text("hamming"), "hamming distance is not defined"),
                         (integer(2), "metric must be TEXT"), (null(), "metric must be TEXT"), (real(2.0), "metric must be TEXT"),
                         (blob(b"l2"), "metric must be TEXT")]:
        add("SELECT vec_distance('[1, 2]', '[3, 4]', ?)", [metric], err(word))

    # -- unaligned blobs must work (and give the same answer as aligned ones)
    vals = [1.5, -2.0, 3.25, 0.0, 7.0]
    b = f32(vals)
    for fn, expect in [("vec_length({})", [[5]]), ("vec_to_json({})", [["[1.500000,-2.000000,3.250000,0.000000,7.000000]"]]),
                       ("vec_f32({})", [[{"hex": b.hex()}]]), ("vec_f16(vec_f32({}))", [[{"hex": np.array(vals, '<f2').tobytes().hex()}]]),
                       ("vec_distance_l2({}, '[1.5, -2, 3.25, 0, 8]')", [[1.0]]),
                       ("vec_distance_l1({}, '[0, 0, 0, 0, 0]')", [[13.75]]),
                       ("vec_distance_ip({}, '[1, 0, 0, 0, 0]')", [[-1.5]]),
                       ("vec_slice({}, 1, 3)", [[{"hex": f32([-2.0, 3.25]).hex()}]])]:
        add(f"SELECT {fn.format('?')}", [unaligned(b)], ok(expect))
    add("SELECT vec_distance_l2(?, ?)", [unaligned(b), unaligned(b)], ok([[0.0]]))
    add("SELECT vec_f16(?)", [unaligned(np.array(vals, '<f2').tobytes())],
        ok([[{"hex": np.array(vals, '<f2').tobytes().hex()}]]))
    add("SELECT vec_distance_hamming(vec_bit(?), vec_bit(X'ff00'))", [unaligned(b"\x0f\x01")], ok([[5.0]]))
    add("SELECT sum(value) FROM vec_each(?)", [unaligned(b)], ok([[9.75]]))
    return cases


def run_battery(cases):
    payload = json.dumps([[sql, params] for sql, params, _ in cases])
    proc = run_child(CHILD_BATTERY, stdin=payload, timeout=120)
    return proc, parse_json_lines(proc.stdout)


def test_bad_input_battery():
    cases = build_cases()
    assert len(cases) > 500
    proc, lines = run_battery(cases)
    if proc.returncode != 0:
        last = len(lines)
        where = f"while running case {last}: {cases[last][0]!r}" if last < len(cases) else "after the cases"
        pytest.fail(f"{describe_exit(proc)}\n{where}", pytrace=False)
    assert len(lines) == len(cases) + 1, proc.stderr[-2000:]
    problems = []
    for (sql, params, (kind, want)), got in zip(cases, lines):
        shown = f"{sql[:120]!r} {json.dumps(params)[:120]}"
        if kind == "error":
            if got["ok"]:
                problems.append(f"{shown}: expected an error mentioning {want}, got rows {str(got['rows'])[:200]}")
            elif got["type"] not in ("OperationalError", "DatabaseError", "IntegrityError", "ProgrammingError"):
                problems.append(f"{shown}: not an sqlite3 error: {got['type']}: {got['error']}")
            else:
                missing = [w for w in want if w.lower() not in got["error"].lower()]
                if missing:
                    problems.append(f"{shown}: message {got['error']!r} lacks {missing}")
        else:
            if not got["ok"]:
                problems.append(f"{shown}: expected success, got {got['type']}: {got['error']}")
            elif want is not None and got["rows"] != want:
                problems.append(f"{shown}: expected {want}, got {got['rows']}")
    assert lines[-1] == {"final": [[1, 3]]}
    assert not problems, f"{len(problems)} of {len(cases)} cases wrong:\n" + "\n".join(problems[:40])


def test_error_messages_survive_nul_bytes(db):
    """User text echoed in an error message must not cut the message short: SQLite error
    messages are C strings, so an embedded NUL would end them."""
    for sql, params, words in [
        ("SELECT vec_quantize_int8('[0.5]', ?)", ("unit\x00x",), ["unknown range", "only supported range is 'unit'"]),
        ("SELECT vec_distance('[1]', '[1]', ?)", ("l2\x00zz",), ["unknown metric", "use one of"]),
    ]:
        with pytest.raises(sqlite3.Error) as e:
            db.execute(sql, params).fetchall()
        missing = [w for w in words if w not in str(e.value)]
        assert not missing, f"{sql} with {params!r}: message {str(e.value)!r} lacks {missing}"


# ---------------------------------------------------------------------------------------------
# Unaligned blob pointers for real: SQLite copies bound parameters into its own (aligned)
# memory, but a blob read from a table row can point straight into the page buffer at any
# offset. A text column of 0..7 bytes in front of the vector shifts its alignment.

CHILD_UNALIGNED = r"""
import json, sqlite3, struct
import sqlite_vindex
conn = sqlite3.connect(":memory:")
sqlite_vindex.load(conn)
conn.execute("CREATE TABLE u(id INTEGER PRIMARY KEY, pad TEXT, v BLOB, h BLOB)")
f32 = struct.pack("<7f", 1.5, -2.0, 3.25, 0.0, 7.0, 1e-3, -4.5)
f16 = struct.pack("<7e", 1.5, -2.0, 3.25, 0.0, 7.0, 1e-3, -4.5)
for pad in range(8):
    conn.execute("INSERT INTO u(pad, v, h) VALUES (?, ?, ?)", ("x" * pad, f32, f16))
rows = conn.execute(
    "SELECT vec_distance_l2(v, '[0,0,0,0,0,0,0]'), vec_distance_cosine(v, v), vec_distance_l1(vec_f16(h), vec_f16(h)),"
    " vec_to_json(v), vec_to_json(vec_f16(h)), vec_length(v), hex(vec_f16(vec_f32(v))),"
    " (SELECT sum(value) FROM vec_each(u.v)) FROM u ORDER BY id").fetchall()
print(json.dumps(rows))
"""


def test_unaligned_blobs_from_table_rows():
    proc = run_child(CHILD_UNALIGNED)
    assert proc.returncode == 0, describe_exit(proc)
    rows = json.loads(proc.stdout)
    assert len(rows) == 8
    assert all(r == rows[0] for r in rows), rows
    vals = np.array([1.5, -2.0, 3.25, 0.0, 7.0, 1e-3, -4.5], dtype=np.float32)
    l2, cos, l1, j32, _j16, n, hex16, total = rows[0]
    assert l2 == pytest.approx(float(np.linalg.norm(vals.astype(np.float64))), rel=1e-6)
    assert cos == pytest.approx(0.0, abs=1e-6)
    assert l1 == 0.0
    assert n == 7
    assert hex16 == vals.astype("<f2").tobytes().hex().upper()
    assert total == pytest.approx(float(vals.astype(np.float64).sum()))
    assert j32.startswith("[1.500000,-2.000000,3.250000,0.000000,7.000000,0.001000,-4.500000]")


# ---------------------------------------------------------------------------------------------
# Fuzz: random bytes and JSON-ish strings. The only acceptable outcomes are a result or an
# sqlite3.Error. The generator is shared with the child (inspect.getsource), so a crash can be
# reported with the exact input.

FUZZ_SEED = 20240611
FUZZ_CASES = 20000
FUZZ_FUNCS = ["vec_f32", "vec_int8", "vec_bit", "vec_f16", "vec_length", "vec_to_json", "vec_type",
              "vec_normalize", "vec_quantize_binary"]


FUZZ_PAIRS = ["vec_distance_l2(?, ?)", "vec_distance_cosine(vec_f16(?), vec_f16(?))", "vec_add(vec_int8(?), vec_int8(?))",
              "vec_distance_hamming(vec_bit(?), vec_bit(?))", "vec_distance_jaccard(vec_bit(?), vec_bit(?))",
              "vec_distance_l1(vec_int8(?), vec_int8(?))", "vec_distance(?, ?, 'ip')", "vec_sub(?, ?)",
              "vec_slice(?, 0, vec_length(?))", "vec_quantize_int8(?, ?)", "vec_distance(?, '[1]', ?)"]


def fuzz_inputs(seed: int, n: int):
    """Yield (function, value, pair_sql, previous value); values are bytes or str."""
    rnd = random.Random(seed)
    funcs = FUZZ_FUNCS
    pairs = FUZZ_PAIRS
    prev = "[1]"
    alphabet = "[]0123456789.,-+eE \t\nNaIfinty\"{}:x\\"
    seeds = ["[1,2,3]", "[0.5, -1e-3, 2E+5]", "[1,0,1,0,1,0,1,0]", "[127,-128]", "[]", "[1e38,-1e38]",
             "[65504, 0.00006]", " [ 1 ] "]
    for _ in range(n):
        fn = rnd.choice(funcs)
        kind = rnd.random()
        if kind < 0.4:
            length = rnd.choice([0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 255, 256, 1024])
            value = bytes(rnd.getrandbits(8) for _ in range(length))
        elif kind < 0.6:
            length = rnd.randint(0, 40)
            value = "".join(rnd.choice(alphabet) for _ in range(length))
        else:
            s = list(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 4)):
                op = rnd.random()
                pos = rnd.randint(0, len(s))
                if op < 0.4:
                    s.insert(pos, rnd.choice(alphabet))
                elif op < 0.7 and s:
                    del s[min(pos, len(s) - 1)]
                elif s:
                    s[min(pos, len(s) - 1)] = rnd.choice(alphabet)
            value = "".join(s)
        yield fn, value, rnd.choice(pairs), prev
        prev = value


CHILD_FUZZ = r"""
import json, random, sqlite3, sys
import sqlite_vindex
FUZZ_FUNCS = {funcs!r}
FUZZ_PAIRS = {pairs!r}
{gen}
conn = sqlite3.connect(":memory:")
sqlite_vindex.load(conn)
counts = {{"ok": 0, "error": 0, "pair_ok": 0, "pair_error": 0}}
bad = []
for i, (fn, value, pair, prev) in enumerate(fuzz_inputs({seed}, {n})):
    if i % {every} == 0:
        print(i, flush=True)
    try:
        conn.execute(f"SELECT {{fn}}(?)", (value,)).fetchall()
        counts["ok"] += 1
    except sqlite3.Error:
        counts["error"] += 1
    except Exception as e:
        bad.append([i, fn, repr(value)[:200], repr(e)])
    try:
        conn.execute(f"SELECT {{pair}}", (value, prev)).fetchall()
        counts["pair_ok"] += 1
    except sqlite3.Error:
        counts["pair_error"] += 1
    except Exception as e:
        bad.append([i, pair, repr(value)[:200], repr(prev)[:200], repr(e)])
print(json.dumps({{"counts": counts, "bad": bad, "final": conn.execute("SELECT 1").fetchall()}}), flush=True)
"""


def fuzz_script(every: int) -> str:
    gen = inspect.getsource(fuzz_inputs)
    return CHILD_FUZZ.format(funcs=FUZZ_FUNCS, pairs=FUZZ_PAIRS, gen=gen, seed=FUZZ_SEED, n=FUZZ_CASES, every=every)


def test_fuzz_vector_parsing():
    proc = run_child(fuzz_script(every=500), timeout=120)
    if proc.returncode != 0:
        # Replay, printing every case index, to name the input that crashed (deterministic).
        replay = run_child(fuzz_script(every=1), timeout=300)
        done = [int(x) for x in replay.stdout.split() if x.isdigit()]
        i = done[-1] if done else 0
        case = list(fuzz_inputs(FUZZ_SEED, FUZZ_CASES))[i]
        pytest.fail(f"{describe_exit(proc)}\ncrashed at fuzz case {i} (seed {FUZZ_SEED}): "
                    f"SELECT {case[0]}(?) with {case[1]!r}, then {case[2]} with ({case[1]!r}, {case[3]!r})",
                    pytrace=False)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["final"] == [[1]]
    assert result["bad"] == [], result["bad"][:10]
    # Both outcomes occur, so the fuzzer reaches past the parsers' first checks.
    assert all(c > 100 for c in result["counts"].values()), result["counts"]
