"""Shared fixtures for the Python tests of vindex.

Run with Debian's /usr/bin/python3 (via `make test-python`): its sqlite3 can load extensions.
The extension must be built first (`make loadable` -> dist/vindex.so) unless VINDEX_PATH
points at another build.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

import sqlite_vindex  # noqa: E402


def extension_file() -> Path | None:
    """The vindex shared library that `sqlite_vindex.load` will load, if it exists."""
    base = sqlite_vindex.loadable_path()
    for candidate in (base, base + ".so", base + ".dylib", base + ".dll"):
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def _missing_extension_message() -> str:
    return (
        f"vindex extension not found at {sqlite_vindex.loadable_path()}.so: "
        "run `make loadable` first (or set VINDEX_PATH to a built extension)"
    )


def pytest_sessionstart(session):
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        pytest.exit(
            f"{sys.executable}'s sqlite3 cannot load extensions: run the tests with Debian's "
            "/usr/bin/python3 (make test-python does)",
            returncode=1,
        )
    if extension_file() is None:
        # Every test needs the extension: stop with one clear message instead of N errors.
        pytest.exit(_missing_extension_message(), returncode=1)


@pytest.fixture(scope="session")
def vindex_path() -> str:
    """Path (without suffix) of the built extension; fails (not skips) when it is missing."""
    if extension_file() is None:
        pytest.fail(_missing_extension_message(), pytrace=False)
    return sqlite_vindex.loadable_path()


def connect_vindex() -> sqlite3.Connection:
    if extension_file() is None:
        pytest.fail(_missing_extension_message(), pytrace=False)
    conn = sqlite3.connect(":memory:")
    sqlite_vindex.load(conn)
    return conn


def connect_sqlite_vec() -> sqlite3.Connection:
    import sqlite_vec

    conn = sqlite3.connect(":memory:")
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


@pytest.fixture
def db(vindex_path):
    """A fresh in-memory connection with vindex loaded."""
    conn = connect_vindex()
    yield conn
    conn.close()


@pytest.fixture
def vec_db():
    """A fresh in-memory connection with sqlite-vec 0.1.9 (the reference) loaded."""
    conn = connect_sqlite_vec()
    yield conn
    conn.close()


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    env["VINDEX_PATH"] = sqlite_vindex.loadable_path()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_child(script: str, *, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a Python snippet in a child process (same interpreter, vindex importable).

    A crash in the extension (segfault, abort) kills only the child: the caller sees a
    negative returncode instead of losing the whole pytest run.
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        cwd=str(ROOT),
    )


def describe_exit(proc: subprocess.CompletedProcess) -> str:
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    tail = "\n".join(proc.stderr.splitlines()[-30:])
    return f"child process ended with {how}; stderr tail:\n{tail}"


def parse_json_lines(out: str) -> list:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def child():
    """`child(script)` runs a snippet in a subprocess; see run_child."""
    return run_child
