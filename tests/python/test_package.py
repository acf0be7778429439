"""The sqlite-vindex wheel, installed the way a user installs it (run by `make test-package`).

Each test installs the wheel (VINDEX_WHEEL, built by `make wheel`) into a FRESH venv made by
/usr/bin/python3 -m venv, and runs scripts with that venv's python from a directory outside the
repository, with no PYTHONPATH and no VINDEX_PATH: what they import is what pip installed.
One more venv is made from the pyenv python3 (whose sqlite3 cannot load extensions) to show
the sqlean route, and one from `pip install ./python` (the build from source).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
import base64
import hashlib
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL = os.environ.get("VINDEX_WHEEL")
if not WHEEL:
    pytest.skip("run by `make test-package`, which builds the wheel first", allow_module_level=True)
WHEEL = str(Path(WHEEL).resolve())
SYSTEM_PYTHON = "/usr/bin/python3"
EXTRAS = ROOT / "python" / "requirements-package-test.txt"
VERSION = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VINDEX_PATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(cmd, *, cwd, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed with exit code {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def make_venv(base_python: str, where: Path) -> Path:
    run([base_python, "-m", "venv", where], cwd=where.parent)
    return where / "bin" / "python"


def pip_install(python: Path, *args, cwd: Path) -> None:
    run([python, "-m", "pip", "install", "--quiet", *args], cwd=cwd)


# A KNN query through one binding; prints JSON with what a test checks. The expected answer is
# computed by brute force in the same script (plain Python, no numpy).
KNN_SCRIPT = textwrap.dedent(
    """
    import json, math, random, struct, sys
    import sqlite_vindex

    def connect(binding):
        if binding == "sqlite3":
            import sqlite3
            return sqlite3.connect(":memory:"), sqlite3.sqlite_version
        if binding == "sqlean":
            import sqlean
            return sqlean.connect(":memory:"), sqlean.sqlite_version
        import apsw
        return apsw.Connection(":memory:"), apsw.sqlite_lib_version()

    rng = random.Random(7)
    data = {i: [rng.uniform(-1, 1) for _ in range(16)] for i in range(1, 301)}
    query = [rng.uniform(-1, 1) for _ in range(16)]
    f32 = lambda v: struct.pack("<16f", *v)
    r32 = lambda v: list(struct.unpack("<16f", f32(v)))
    q32 = r32(query)
    brute = sorted((math.dist(q32, r32(v)), i) for i, v in data.items())[:5]

    out = {}
    for binding in sys.argv[1:]:
        conn, version = connect(binding)
        sqlite_vindex.load(conn)
        conn.execute("CREATE VIRTUAL TABLE docs USING vindex(embedding float[16], tag text)")
        conn.execute("BEGIN")
        for i, v in data.items():
            conn.execute("INSERT INTO docs(rowid, embedding, tag) VALUES (?, ?, ?)", (i, f32(v), "t%d" % (i % 3)))
        conn.execute("COMMIT")
        rows = list(conn.execute(
            "SELECT rowid, distance FROM docs WHERE embedding MATCH ? AND k = 5", (f32(query),)))
        out[binding] = {"rows": [list(r) for r in rows], "sqlite": version,
                        "vindex": list(conn.execute("SELECT vec_version()"))[0][0]}
        out.setdefault("_conns", []).append(conn)
    conns = out.pop("_conns")
    for c in conns:
        c.close()
    out["brute"] = [[i, d] for d, i in brute]
    out["path"] = sqlite_vindex.loadable_path()
    out["module"] = sqlite_vindex.__file__
    out["version"] = sqlite_vindex.__version__
    print(json.dumps(out))
    """
)


def knn(python: Path, cwd: Path, *bindings: str) -> dict:
    script = cwd / "knn.py"
    script.write_text(KNN_SCRIPT)
    proc = run([python, script, *bindings], cwd=cwd, timeout=120)
    return json.loads(proc.stdout)


def check_knn(result: dict, venv: Path, bindings) -> None:
    site = str(venv.resolve())
    assert result["module"].startswith(site), result["module"]
    assert result["path"].startswith(site) and result["path"].endswith("sqlite_vindex/vindex"), result["path"]
    assert result["version"] == VERSION
    for binding in bindings:
        got = result[binding]
        assert [r[0] for r in got["rows"]] == [b[0] for b in result["brute"]], (binding, got, result["brute"])
        for (_, d), (_, e) in zip(got["rows"], result["brute"]):
            assert d == pytest.approx(e, rel=1e-5, abs=1e-6)
        assert got["vindex"] == f"v{VERSION}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv from /usr/bin/python3 with the wheel and the pinned extras installed."""
    where = tmp_path_factory.mktemp("pkg") / "venv"
    python = make_venv(SYSTEM_PYTHON, where)
    pip_install(python, "--no-deps", "--no-index", WHEEL, cwd=where.parent)
    pip_install(python, "-r", EXTRAS, cwd=where.parent)
    return where


@pytest.fixture
def work(tmp_path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def test_wheel_is_well_formed():
    name = Path(WHEEL).name
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert name == f"sqlite_vindex-{VERSION}-py3-none-{plat}.whl"
    di = f"sqlite_vindex-{VERSION}.dist-info"
    with zipfile.ZipFile(WHEEL) as zf:
        names = zf.namelist()
        assert f"sqlite_vindex/vindex{'.so' if sys.platform.startswith('linux') else '.dylib'}" in names
        assert "sqlite_vindex/__init__.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        wheel_meta = zf.read(f"{di}/WHEEL").decode()
        assert f"Tag: py3-none-{plat}" in wheel_meta.splitlines()
        assert "Root-Is-Purelib: false" in wheel_meta.splitlines()
        meta = zf.read(f"{di}/METADATA").decode()
        headers = meta.split("\n\n", 1)[0].splitlines()
        assert "Name: sqlite-vindex" in headers and f"Version: {VERSION}" in headers
        assert "Metadata-Version: 2.1" in headers
        # RECORD lists every other file with its sha256 and size, and itself without.
        record = {}
        for line in zf.read(f"{di}/RECORD").decode().splitlines():
            path, digest, size = line.rsplit(",", 2)
            record[path] = (digest, size)
        assert set(record) == set(names)
        assert record[f"{di}/RECORD"] == ("", "")
        for n in names:
            if n == f"{di}/RECORD":
                continue
            data = zf.read(n)
            want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert record[n] == (want, str(len(data))), n
        so = zf.getinfo("sqlite_vindex/vindex.so")
        assert (so.external_attr >> 16) & 0o111, "the extension should be executable"


def test_stdlib_sqlite3_in_fresh_venv(venv, work):
    check_knn(knn(venv / "bin" / "python", work, "sqlite3"), venv, ["sqlite3"])


def test_sqlean_and_apsw_in_fresh_venv(venv, work):
    result = knn(venv / "bin" / "python", work, "sqlean", "apsw")
    check_knn(result, venv, ["sqlean", "apsw"])
    # Their own SQLite builds, not the system's 3.40.1.
    assert result["sqlean"]["sqlite"] != result.get("sqlite3", {}).get("sqlite")


def test_three_bindings_in_one_process(venv, work):
    """sqlite3, sqlean and apsw each link their own SQLite; loading one extension file into all
    three would crash at the first call routed to the wrong library. load() gives each binding
    after the first its own copy; the process must end cleanly."""
    result = knn(venv / "bin" / "python", work, "sqlite3", "sqlean", "apsw", "sqlite3")
    check_knn(result, venv, ["sqlite3", "sqlean", "apsw"])
    assert len({result[b]["sqlite"] for b in ("sqlite3", "sqlean", "apsw")}) == 3


def test_numpy_helpers_and_bulk_insert_in_fresh_venv(venv, work):
    script = work / "bulk.py"
    script.write_text(textwrap.dedent(
        """
        import json, sqlite3
        import numpy as np
        import sqlite_vindex as sv
        rng = np.random.default_rng(3)
        m = rng.standard_normal((2000, 32)).astype(np.float32)
        conn = sqlite3.connect(":memory:")
        sv.load(conn)
        conn.execute("CREATE VIRTUAL TABLE t USING vindex(v float[32] distance=cosine, cat integer)")
        calls = []
        n = sv.bulk_insert(conn, "t", {"rowid": np.arange(1, 2001), "v": m, "cat": np.arange(2000) % 4},
                           progress=lambda done, total: calls.append([done, total]), batch_size=500)
        back = sv.from_blobs(conn.execute("SELECT v FROM t ORDER BY rowid"))
        q = m[10] / np.linalg.norm(m[10])
        rows = conn.execute("SELECT rowid FROM t WHERE v MATCH ? AND k = 3 AND cat = 2", [sv.to_blob(q)]).fetchall()
        norms = m / np.linalg.norm(m, axis=1, keepdims=True)
        want = (np.argsort(-(norms @ q)[np.arange(2000) % 4 == 2], kind="stable")[:3] * 4 + 2 + 1).tolist()
        print(json.dumps({"n": n, "calls": calls, "equal": bool(np.array_equal(back, m)),
                          "shape": list(back.shape), "rows": [r[0] for r in rows], "want": want,
                          "one": sv.from_blob(conn.execute("SELECT v FROM t WHERE rowid = 5").fetchone()[0]).tolist() == m[4].tolist()}))
        """
    ))
    out = json.loads(run([venv / "bin" / "python", script], cwd=work).stdout)
    assert out["n"] == 2000 and out["equal"] and out["one"] and out["shape"] == [2000, 32]
    assert out["calls"] == [[0, 2000], [500, 2000], [1000, 2000], [1500, 2000], [2000, 2000]]
    assert out["rows"] == out["want"]


def test_vindex_path_overrides_the_bundled_extension(venv, work):
    other = work / "elsewhere"
    other.mkdir()
    shutil.copyfile(ROOT / "dist" / "vindex.so", other / "vindex.so")
    script = work / "path.py"
    script.write_text(
        "import sqlite3, sqlite_vindex\n"
        "c = sqlite3.connect(':memory:')\n"
        "print(sqlite_vindex.loadable_path())\n"
        "sqlite_vindex.load(c)\n"
        "print(c.execute('SELECT vec_length(?)', ['[1,2,3]']).fetchone()[0])\n"
    )
    env = clean_env()
    env["VINDEX_PATH"] = str(other / "vindex.so")
    out = run([venv / "bin" / "python", script], cwd=work, env=env).stdout.split()
    assert out == [str(other / "vindex"), "3"]
    env["VINDEX_PATH"] = str(work / "missing" / "vindex.so")
    proc = run([venv / "bin" / "python", script], cwd=work, env=env, check=False)
    assert proc.returncode != 0
    assert "vindex extension not found at" in proc.stderr and "VINDEX_PATH" in proc.stderr


def test_pip_install_from_source_directory(tmp_path, work):
    """`pip install ./python` builds with cargo (a no-op after `make loadable`) and installs."""
    where = tmp_path / "srcvenv"
    python = make_venv(SYSTEM_PYTHON, where)
    pip_install(python, str(ROOT / "python"), cwd=ROOT)  # from the repo root, as the README says
    check_knn(knn(python, work, "sqlite3"), where, ["sqlite3"])


def pyenv_python() -> str | None:
    """The pyenv python3 on PATH, resolved through its shim, if there is one."""
    found = shutil.which("python3")
    if not found:
        return None
    if "/.pyenv/shims/" in found and shutil.which("pyenv"):
        proc = subprocess.run(["pyenv", "which", "python3"], capture_output=True, text=True)
        if proc.returncode == 0:
            found = proc.stdout.strip()
    found = os.path.realpath(found)
    if found.startswith("/usr/bin/"):
        return None
    return found


def test_pyenv_python_through_sqlean(tmp_path, work):
    base = pyenv_python()
    if base is None:
        pytest.skip("no pyenv python3 on PATH")
    probe = run([base, "-c", "import sqlite3; print(hasattr(sqlite3.Connection, 'enable_load_extension'))"], cwd=work)
    if probe.stdout.strip() != "False":
        pytest.skip(f"{base} can load extensions with sqlite3: nothing to show")
    where = tmp_path / "pyenvvenv"
    python = make_venv(base, where)
    pip_install(python, "--no-deps", "--no-index", WHEEL, cwd=work)
    sqlean_pin = next(l for l in EXTRAS.read_text().splitlines() if l.startswith("sqlean.py=="))
    pip_install(python, sqlean_pin, cwd=work)
    # stdlib sqlite3: a clear error that says what to use instead.
    script = work / "stdlib.py"
    script.write_text(
        "import sqlite3, sqlite_vindex\n"
        "try:\n"
        "    sqlite_vindex.load(sqlite3.connect(':memory:'))\n"
        "except sqlite_vindex.LoadError as e:\n"
        "    print(e)\n"
    )
    message = run([python, script], cwd=work).stdout
    assert "cannot load SQLite extensions" in message and "sqlean" in message and "apsw" in message
    assert "sqlite3.Connection" in message
    # sqlean: works.
    check_knn(knn(python, work, "sqlean"), where, ["sqlean"])
