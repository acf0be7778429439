"""Crash safety: a writer killed with SIGKILL in the middle of writing leaves a database that
opens, passes PRAGMA integrity_check and vindex's own 'integrity-check', and holds every row
whose COMMIT returned."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXT = str(ROOT / "dist" / "vindex")

WRITER = r"""
import os, random, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.enable_load_extension(True)
db.load_extension(sys.argv[2])
db.execute("PRAGMA journal_mode=" + sys.argv[3])
rng = random.Random(int(sys.argv[4]))
i = db.execute("SELECT coalesce(max(rowid), 0) FROM t").fetchone()[0]
while True:
    db.execute("BEGIN")
    for _ in range(rng.randrange(1, 40)):
        op = rng.random()
        if op < 0.7:
            i += 1
            v = struct.pack("16f", *[rng.uniform(-1, 1) for _ in range(16)])
            db.execute("INSERT INTO t(rowid, v, cat, note) VALUES (?, ?, ?, ?)", (i, v, i % 7, "x" * rng.randrange(0, 300)))
        elif op < 0.85:
            db.execute("DELETE FROM t WHERE rowid = ?", (rng.randrange(1, i + 2),))
        else:
            v = struct.pack("16f", *[rng.uniform(-1, 1) for _ in range(16)])
            db.execute("UPDATE t SET v = ?, cat = cat + 1 WHERE rowid = ?", (v, rng.randrange(1, i + 2)))
    db.execute("COMMIT")
    # Tell the parent which rows are durable now.
    print(db.execute("SELECT count(*), coalesce(max(rowid), 0) FROM t").fetchone(), flush=True)
"""


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_kill_9_mid_write(tmp_path, journal):
    path = str(tmp_path / "crash.db")
    db = open_db(path)
    db.execute("CREATE VIRTUAL TABLE t USING vindex(v float[16], cat integer, +note text)")
    db.close()
    any_committed = False
    for round_ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, path, EXT, journal, str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.15 + 0.1 * round_)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        committed = [eval(line) for line in out.splitlines() if line.startswith("(")]
        db = open_db(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO t(t) VALUES ('integrity-check')")
        count, max_rowid = db.execute("SELECT count(*), coalesce(max(rowid), 0) FROM t").fetchone()
        any_committed |= bool(committed)
        if committed:
            # The last acknowledged commit is durable: its newest row is there, and no more
            # rows than one further (unacknowledged) transaction could have added.
            last_count, last_max = committed[-1]
            assert max_rowid >= last_max
            assert count >= last_count - 40
        # KNN still works and agrees with a scan.
        q = db.execute("SELECT v FROM t LIMIT 1").fetchone()
        if q:
            knn = db.execute("SELECT rowid FROM t WHERE v MATCH ? AND k = 5", q).fetchall()
            scan = db.execute(
                "SELECT rowid FROM t ORDER BY vec_distance_l2(v, ?), rowid LIMIT 5", q
            ).fetchall()
            assert knn == scan
        db.close()
    assert any_committed, "the writer never committed; the test did not exercise anything"
