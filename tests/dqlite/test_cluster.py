#!/usr/bin/python3
"""vindex in a 3-node dqlite cluster on loopback: nothing acknowledged is lost, no answer is
stale.

dqlite replicates WAL frames: a follower applies the leader's pages straight into its VFS, never
through vindex's write path, so anything vindex keeps in memory must notice those changes through
the generation counter stored in the pages. Every check below compares KNN results (with and
without filters, `k =` and `ORDER BY distance LIMIT`) with a brute-force oracle computed here,
exactly: vectors have small integer components, so squared distances are exact in float32 and
the expected order (distance, then rowid) is unambiguous.

  1. an existing host: dqlite-demo with vindex-dqlite-preload.so, through the `dqlite` shell
  2. 3 nodes; a vindex table (metadata, auxiliary column, 3,000 vectors) written through the
     leader; KNN on the leader and on each node's own copy of the database (dqlite's DUMP,
     checked locally: same results, 'integrity-check', PRAGMA integrity_check)
  3. stale caches: a connection queries, another writes, the first queries again; leadership
     moves away and back while the first connection stays open (its node applied the changes
     as a follower); an OS file with the same name and the same table open in the same process
  4. clients: the `dqlite` shell; dqlite-dbapi (if a Python >= 3.13 venv is given)
  5. kill -9 of the leader while a writer runs: every acknowledged write is present, each
     unacknowledged one is all-or-nothing, the new leader answers exactly, integrity-check passes
  6. the killed node restarts and catches up (past the leader's snapshot threshold); a second
     kill -9 during writes; the restarted node becomes leader and answers exactly

Run by `make test-dqlite`. Uses only loopback addresses and temporary directories; every node
is killed on exit, whatever the outcome.
"""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dqwire  # noqa: E402
from cluster import REPO, Cluster, free_port  # noqa: E402

EXT = os.path.join(REPO, "dist", "vindex")
PRELOAD = os.path.join(REPO, "dist", "vindex-dqlite-preload.so")
DB = "app"
DIM = 24
BASE_ROWS = 3000
CATEGORIES = ["c0", "c1", "c2", "c3", "c4"]
SEED = 20261204
# Node options for the test: short Raft timeouts (heartbeat 150 ms, election 1.5 s) so that
# failovers take seconds; a snapshot every 128 entries, keeping 128, so that a node that was
# down while a few hundred writes committed catches up from a snapshot, not only the log.
NODE_ARGS = ["--latency-ms", "100", "--snapshot-threshold", "128", "--snapshot-trailing", "128"]

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


# ---- data and the oracle ------------------------------------------------------------------


class Model:
    """What the table must hold: rowid -> (vector, category, year, body)."""

    def __init__(self):
        self.rows = {}

    @staticmethod
    def make_row(rng, rowid):
        vec = tuple(rng.randint(-6, 6) for _ in range(DIM))
        year = None if rng.random() < 0.1 else rng.randint(2000, 2023)
        return (vec, rng.choice(CATEGORIES), year, f"row {rowid} {rng.getrandbits(32):08x}")

    def knn(self, q, k, pred=None):
        scored = sorted(
            (sum((a - b) * (a - b) for a, b in zip(r[0], q)), rowid)
            for rowid, r in self.rows.items()
            if pred is None or pred(r)
        )
        return [(rowid, d2 ** 0.5) for d2, rowid in scored[:k]]


def vjson(vec):
    return "[" + ",".join(str(x) for x in vec) + "]"


def vblob(vec):
    return struct.pack(f"<{len(vec)}f", *vec)


def unblob(b):
    vals = struct.unpack(f"<{len(b) // 4}f", b)
    check(all(v == int(v) for v in vals), f"vector components changed: {vals}")
    return tuple(int(v) for v in vals)


# (label, SQL, extra parameters after the query vector, k, predicate)
QUERIES = [
    ("k=10", "SELECT rowid, distance FROM {t} WHERE embedding MATCH ? AND k = 10", [], 10, None),
    (
        "k=20 category='c1'",
        "SELECT rowid, distance FROM {t} WHERE embedding MATCH ? AND k = 20 AND category = ?",
        ["c1"],
        20,
        lambda r: r[1] == "c1",
    ),
    (
        "k=10 year>=2012 category IN",
        "SELECT rowid, distance FROM {t} WHERE embedding MATCH ? AND k = 10 AND year >= 2012 "
        "AND category IN ('c0', 'c3')",
        [],
        10,
        lambda r: r[2] is not None and r[2] >= 2012 and r[1] in ("c0", "c3"),
    ),
    (
        "year IS NULL k=15",
        "SELECT rowid, distance FROM {t} WHERE embedding MATCH ? AND k = 15 AND year IS NULL",
        [],
        15,
        lambda r: r[2] is None,
    ),
    (
        "ORDER BY distance LIMIT 7",
        "SELECT rowid, distance FROM {t} WHERE embedding MATCH ? ORDER BY distance LIMIT 7",
        [],
        7,
        None,
    ),
]


def query_vectors(model, extra=()):
    """Fixed seeded queries, plus the vectors of rows written recently (their own row must come
    first: a stale answer misses it)."""
    rng = random.Random(SEED + 1)
    qs = [tuple(rng.randint(-6, 6) for _ in range(DIM)) for _ in range(3)]
    for rowid in extra:
        if rowid in model.rows:
            qs.append(model.rows[rowid][0])
    return qs


def check_knn(run, model, label, probes=(), table="t"):
    """run(sql, params) -> rows. Every query variant, every query vector, equals the oracle."""
    n = 0
    for q in query_vectors(model, probes):
        for name, sql, extra, k, pred in QUERIES:
            got = [(int(r[0]), float(r[1])) for r in run(sql.format(t=table), [vjson(q)] + extra)]
            want = model.knn(q, k, pred)
            got_ids = [r for r, _ in got]
            want_ids = [r for r, _ in want]
            if got_ids != want_ids:
                raise Failed(
                    f"{label}: {name} for q={vjson(q)}:\n  got  {got[:12]}\n  want {want[:12]}"
                )
            for (_, dg), (_, dw) in zip(got, want):
                check(abs(dg - dw) <= 1e-5 * max(1.0, dw), f"{label}: {name}: distance {dg} != {dw}")
            n += 1
    return n


def check_rows(run, model, label):
    """The whole table equals the model: every rowid, vector, metadata and auxiliary value."""
    got = {
        int(r[0]): (unblob(r[1]), r[2], r[3], r[4])
        for r in run("SELECT rowid, embedding, category, year, body FROM t", [])
    }
    missing = sorted(set(model.rows) - set(got))
    extra = sorted(set(got) - set(model.rows))
    check(not missing, f"{label}: {len(missing)} rows missing, e.g. {missing[:10]}")
    check(not extra, f"{label}: {len(extra)} unexpected rows, e.g. {extra[:10]}")
    wrong = [r for r in model.rows if got[r] != model.rows[r]]
    check(not wrong, f"{label}: {len(wrong)} rows differ, e.g. {wrong[:5]}: {[got[r] for r in wrong[:2]]}")


def integrity(run, label):
    run("INSERT INTO t(t) VALUES ('integrity-check')", [])


def remote(client):
    return lambda sql, params: client.query(sql, params)


def remote_exec(client):
    def run(sql, params):
        client.exec(sql, params)
        return []

    return run


# ---- steps --------------------------------------------------------------------------------


def check_replica(cl, node, model, label, workdir, probes=()):
    """Node's own copy of the database, dumped and opened here with vindex: same answers."""
    path = cl.dump(node, DB, os.path.join(workdir, f"dump{node.index}"))
    conn = sqlite3.connect(path)
    try:
        conn.enable_load_extension(True)
        conn.load_extension(EXT)
        run = lambda sql, params: conn.execute(sql, params).fetchall()  # noqa: E731
        check(run("PRAGMA integrity_check", []) == [("ok",)], f"{label}: PRAGMA integrity_check")
        run("INSERT INTO t(t) VALUES ('integrity-check')", [])
        check_rows(run, model, label)
        n = check_knn(run, model, label, probes)
        return n, int(run("SELECT value FROM t_info WHERE key = 'generation'", [])[0][0])
    finally:
        conn.close()


def check_all_replicas(cl, model, label, workdir, probes=()):
    n = 0
    for node in cl.live():
        n += wait_caught_up(cl, node, model, workdir, probes, f"{label}, node {node.index}'s copy")[0]
    return n


def wait_caught_up(cl, node, model, workdir, probes=(), label=None, timeout=60.0):
    """Until node's copy holds exactly the model: a follower learns that an entry committed
    after the leader acknowledged it, and a restarted node replays the log or installs a
    snapshot. These are pages, read here by a fresh connection: waiting hides no cache."""
    label = label or f"node {node.index} catching up"
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            return check_replica(cl, node, model, label, workdir, probes)
        except (Failed, sqlite3.Error, OSError, dqwire.DqliteError) as e:
            last = e
        time.sleep(0.2)
    raise Failed(f"{label}: not equal to the model within {timeout} s: {last}")


def step_existing_host(workdir):
    """dqlite-demo (go-dqlite's sample host), unchanged, with the preload shim; the shell."""
    port, api = free_port(), free_port()
    addr = f"127.0.0.1:{port}"
    ddir = os.path.join(workdir, "demo")
    os.makedirs(ddir)
    env = dict(os.environ, LD_PRELOAD=PRELOAD, VINDEX_EXTENSION=EXT + ".so")
    with open(os.path.join(workdir, "demo.log"), "wb") as out:
        proc = subprocess.Popen(
            ["dqlite-demo", "--db", addr, "--api", f"127.0.0.1:{api}", "--dir", ddir],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        model = Model()
        rng = random.Random(SEED + 7)
        for rowid in range(1, 201):
            model.rows[rowid] = Model.make_row(rng, rowid)
        values = ", ".join(
            f"({r}, '{vjson(v)}', '{c}', {'NULL' if y is None else y}, '{b}')"
            for r, (v, c, y, b) in model.rows.items()
        )
        deadline = time.monotonic() + 30
        while True:
            res = shell(addr, "CREATE VIRTUAL TABLE t USING vindex(embedding float[24], "
                        "category text, year integer, +body text)", check_rc=False)
            if res.returncode == 0:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise Failed(f"dqlite-demo + preload: CREATE failed: {res.stderr}{res.stdout}")
            time.sleep(0.2)
        shell(addr, f"INSERT INTO t(rowid, embedding, category, year, body) VALUES {values}")
        q = model.rows[17][0]
        got = [(int(r[0]), float(r[1])) for r in shell_rows(
            addr, f"SELECT rowid, distance FROM t WHERE embedding MATCH '{vjson(q)}' "
            "AND k = 8 AND category = 'c2'")]
        want = model.knn(q, 8, lambda r: r[1] == "c2")
        check([r for r, _ in got] == [r for r, _ in want], f"dqlite-demo: got {got}, want {want}")
        shell(addr, "INSERT INTO t(t) VALUES ('integrity-check')")
        log("existing host: dqlite-demo with the preload shim, KNN through the dqlite shell ok")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def shell(addrs, sql, check_rc=True):
    res = subprocess.run(
        ["dqlite", "-s", addrs, DB, sql],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    if check_rc and res.returncode != 0:
        raise Failed(f"dqlite shell: {sql[:80]}: {res.stderr.strip()} {res.stdout.strip()}")
    return res


def shell_rows(addrs, sql):
    """The shell prints one line per row, values separated by '|' (NULL as <nil>)."""
    return [line.split("|") for line in shell(addrs, sql).stdout.splitlines() if line]


def bulk_insert(client, model, rows):
    items = list(rows)
    for i in range(0, len(items), 250):
        values = ", ".join(
            f"({r}, '{vjson(v)}', '{c}', {'NULL' if y is None else y}, '{b}')"
            for r, (v, c, y, b) in items[i : i + 250]
        )
        client.exec(f"INSERT INTO t(rowid, embedding, category, year, body) VALUES {values}")
    for r, row in items:
        model.rows[r] = row


def write_batch(client, model, rng, pool, next_rowid, label, table="t"):
    """Changes that move KNN answers, one transaction each: inserts near the fixed queries, a
    delete of a current nearest neighbour, a metadata update that takes a row out of a filter,
    a vector update of a row taken from `pool`. Returns the rowids to probe and the next free
    rowid."""
    probes = []
    qs = query_vectors(model)
    for q in qs:
        vec = tuple(x + rng.choice((-1, 0, 0, 1)) for x in q)
        row = (vec, "c1", 2020, f"near {next_rowid}")
        client.exec(
            f"INSERT INTO {table}(rowid, embedding, category, year, body) VALUES (?, ?, ?, ?, ?)",
            [next_rowid, vjson(vec), *row[1:]],
        )
        model.rows[next_rowid] = row
        probes.append(next_rowid)
        next_rowid += 1
    top = model.knn(qs[0], 1)[0][0]
    client.exec(f"DELETE FROM {table} WHERE rowid = ?", [top])
    del model.rows[top]
    victim = model.knn(qs[1], 1, lambda r: r[1] == "c1")[0][0]
    client.exec(f"UPDATE {table} SET category = 'c4' WHERE rowid = ?", [victim])
    v = model.rows[victim]
    model.rows[victim] = (v[0], "c4", v[2], v[3])
    moved = take(pool, model)
    newvec = tuple(rng.randint(-6, 6) for _ in range(DIM))
    client.exec(f"UPDATE {table} SET embedding = ? WHERE rowid = ?", [vblob(newvec), moved])
    v = model.rows[moved]
    model.rows[moved] = (newvec, v[1], v[2], v[3])
    probes.append(moved)
    log(f"{label}: wrote {len(qs)} inserts, 1 delete, 2 updates")
    return probes, next_rowid


def take(pool, model):
    """The next rowid of `pool` that is still in the table (None when none is left)."""
    while pool:
        rowid = pool.pop()
        if rowid in model.rows:
            return rowid
    return None


class Writer(threading.Thread):
    """Writes one statement at a time through whichever node is leader, recording for each
    whether the cluster acknowledged it. Never retries a statement: after an error it finds
    the leader again and goes on with the next one."""

    def __init__(self, cl, model, rng, base_pool, first_rowid):
        super().__init__(daemon=True)
        self.cl = cl
        self.ops = []  # (kind, rowid, old row or None, new row or None, acknowledged)
        self.stop_flag = threading.Event()
        self.error = None
        self.model = model
        self.rng = rng
        self.base_pool = base_pool
        self.next_rowid = first_rowid
        self.lock = threading.Lock()

    def acked(self):
        with self.lock:
            return sum(1 for op in self.ops if op[4])

    def plan(self):
        roll = self.rng.random()
        rowid = take(self.base_pool, self.model) if roll < 0.3 else None
        if rowid is not None and roll < 0.2:
            old = self.model.rows[rowid]
            new = (tuple(self.rng.randint(-6, 6) for _ in range(DIM)), self.rng.choice(CATEGORIES), old[2], old[3])
            sql = "UPDATE t SET embedding = ?, category = ? WHERE rowid = ?"
            return "update", rowid, old, new, sql, [vjson(new[0]), new[1], rowid]
        if rowid is not None:
            return "delete", rowid, self.model.rows[rowid], None, "DELETE FROM t WHERE rowid = ?", [rowid]
        rowid = self.next_rowid
        self.next_rowid += 1
        new = Model.make_row(self.rng, rowid)
        sql = "INSERT INTO t(rowid, embedding, category, year, body) VALUES (?, ?, ?, ?, ?)"
        return "insert", rowid, None, new, sql, [rowid, vjson(new[0]), *new[1:]]

    def run(self):
        client = None
        try:
            while not self.stop_flag.is_set():
                if client is None:
                    try:
                        leader = self.cl.leader(timeout=1.0)
                        client = self.cl.connect(leader, DB, timeout=5.0)
                    except (OSError, RuntimeError, dqwire.DqliteError):
                        client = None
                        continue
                kind, rowid, old, new, sql, params = self.plan()
                try:
                    client.exec(sql, params)
                    ok = True
                except (OSError, dqwire.DqliteError, dqwire.ProtocolError):
                    ok = False
                    client.close()
                    client = None
                with self.lock:
                    self.ops.append((kind, rowid, old, new, ok))
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            if client is not None:
                client.close()


def resolve_writes(writer, leader_client, model, label):
    """Acknowledged writes go into the model; an unacknowledged one must have happened entirely
    or not at all (read back from the cluster)."""
    acked = sum(1 for op in writer.ops if op[4])
    unknown = [op for op in writer.ops if not op[4]]
    for kind, rowid, old, new, ok in writer.ops:
        if ok:
            if new is None:
                del model.rows[rowid]
            else:
                model.rows[rowid] = new
    happened = 0
    if unknown:
        ids = ", ".join(str(op[1]) for op in unknown)
        rows = leader_client.query(f"SELECT rowid, embedding, category, year, body FROM t WHERE rowid IN ({ids})")
        actual = {int(r[0]): (unblob(r[1]), r[2], r[3], r[4]) for r in rows}
        for kind, rowid, old, new, _ in unknown:
            now = actual.get(rowid)
            check(now in (old, new), f"{label}: unacknowledged {kind} of row {rowid} is half done: {now}")
            if now != old:
                happened += 1
            if now is None:
                model.rows.pop(rowid, None)
            else:
                model.rows[rowid] = now
    log(f"{label}: {acked} writes acknowledged, {len(unknown)} not ({happened} of those happened)")


def failover(cl, model, rng, base_pool, next_rowid, workdir, label, before=150, after=150):
    """kill -9 the leader while a writer runs; return the new leader and the next rowid."""
    old_leader = cl.leader()
    writer = Writer(cl, model, rng, base_pool, next_rowid)
    writer.start()
    deadline = time.monotonic() + 60
    while writer.acked() < before and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.02)
    check(writer.acked() >= before, f"{label}: the writer got only {writer.acked()} acknowledgements")
    acked_at_kill = writer.acked()
    t_kill = time.monotonic()
    old_leader.kill(signal.SIGKILL)
    log(f"{label}: kill -9 of the leader, node {old_leader.index}, after {acked_at_kill} acknowledged writes")
    while writer.acked() < acked_at_kill + after and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.02)
    writer.stop_flag.set()
    writer.join(timeout=30)
    check(not writer.is_alive(), f"{label}: the writer did not stop")
    if writer.error is not None:
        raise writer.error
    check(writer.acked() >= acked_at_kill + after, f"{label}: no new leader accepted writes within 60 s")
    new_leader = cl.leader()
    log(f"{label}: node {new_leader.index} leads; writes resumed "
        f"({writer.acked() - acked_at_kill} acknowledged after the kill, {time.monotonic() - t_kill:.1f} s)")
    with cl.connect(new_leader, DB) as c:
        resolve_writes(writer, c, model, label)
        probes = [op[1] for op in writer.ops[-20:] if op[4] and op[3] is not None]
        check_rows(remote(c), model, f"{label}: new leader")
        n = check_knn(remote(c), model, f"{label}: new leader", probes)
        integrity(remote_exec(c), label)
    log(f"{label}: new leader: every acknowledged write present, {n} KNN queries == brute force, integrity-check ok")
    return old_leader, new_leader, writer.next_rowid, probes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dbapi-python", help="a Python >= 3.13 with dqlite-dbapi installed")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="vindex-dqlite-")
    cl = Cluster(workdir, 3, NODE_ARGS)
    ok = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        step_existing_host(workdir)
        run_cluster(cl, workdir, args)
        ok = True
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
    finally:
        cl.close()
        if not ok:
            for node in cl.nodes:
                print(f"--- node {node.index} log (last lines):\n{node.tail()}", file=sys.stderr)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}", file=sys.stderr)
    if not ok:
        sys.exit(1)
    log("test-dqlite: all checks passed")


def run_cluster(cl, workdir, args):
    rng = random.Random(SEED)
    cl.start()
    log(f"3 nodes: {[n.address for n in cl.nodes]}")
    model = Model()
    leader = cl.leader()

    # -- 2. the table, written through the leader; every node's copy
    with cl.connect(leader, DB) as c:
        c.exec("CREATE VIRTUAL TABLE t USING vindex(embedding float[24], category text, "
               "year integer, +body text)")
        bulk_insert(c, model, ((r, Model.make_row(rng, r)) for r in range(1, BASE_ROWS + 1)))
        n = check_knn(remote(c), model, "leader after load")
        check_rows(remote(c), model, "leader after load")
        integrity(remote_exec(c), "leader after load")
    log(f"loaded {BASE_ROWS} rows through the leader (node {leader.index}); {n} KNN queries == brute force")
    # vindex_status.bytes_on_disk on dqlite's VFS (which answers SQLITE_OK to file controls it
    # does not know, so dbstat's pgsize is garbage there) equals the pages counted in a copy.
    with cl.connect(leader, DB) as c:
        remote_bytes = c.query("SELECT bytes_on_disk FROM vindex_status")[0][0]
        path = cl.dump(leader, DB, os.path.join(workdir, "status"))
    local = sqlite3.connect(path)
    want = local.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema "
                         "WHERE tbl_name LIKE 't\\_%' ESCAPE '\\')").fetchone()[0]
    local.close()
    check(remote_bytes == want, f"vindex_status.bytes_on_disk on dqlite: {remote_bytes}, pages say {want}")
    for node in cl.nodes:
        wait_caught_up(cl, node, model, workdir)
    n = check_all_replicas(cl, model, "after load", workdir)
    log(f"every node's copy: integrity ok, {n} KNN queries == brute force")

    base_pool = list(range(1, BASE_ROWS + 1))
    rng.shuffle(base_pool)
    next_rowid = 100_001

    # -- 3a. another connection's commit is seen by a connection that has already queried
    with cl.connect(leader, DB) as q, cl.connect(leader, DB) as w:
        check_knn(remote(q), model, "reader, before")
        probes, next_rowid = write_batch(w, model, rng, base_pool, next_rowid, "writer connection")
        n = check_knn(remote(q), model, "reader after another connection's commit", probes)
    log(f"same node, two connections: {n} KNN queries == brute force after the other's commit")

    # -- 3b. leadership leaves and comes back while a connection stays open: meanwhile its node
    # applied the new leader's pages as a follower
    a = cl.leader()
    b = next(n for n in cl.nodes if n is not a)
    with cl.connect(a, DB) as q:
        check_knn(remote(q), model, "node A, before")
        cl.make_leader(b)
        log(f"leadership moved from node {a.index} to node {b.index}")
        try:
            q.query("SELECT count(*) FROM t")
            raise Failed("a former leader answered a query")
        except dqwire.DqliteError as e:
            check(e.not_leader, f"unexpected error from a former leader: {e}")
        with cl.connect(b, DB) as w:
            probes, next_rowid = write_batch(w, model, rng, base_pool, next_rowid, f"node {b.index} as leader")
        cl.make_leader(a)
        log(f"leadership back at node {a.index}")
        # dqlite closed node A's SQLite connections when it lost leadership (the client's
        # socket stays open): what survives in the process is only process-wide state, such as
        # a cache shared by connections, which must now notice the pages applied meanwhile.
        try:
            q.query("SELECT count(*) FROM t")
            raise Failed("a connection survived a leadership change")
        except dqwire.DqliteError as e:
            check(e.code == 12, f"unexpected error on a connection after a leadership change: {e}")
        q.open(DB)
        n = check_knn(remote(q), model, "node A, reopened on the old socket", probes)
        with cl.connect(a, DB) as fresh:
            n += check_knn(remote(fresh), model, "node A, a new connection", probes)
    n += check_all_replicas(cl, model, "after the round trip", workdir, probes)
    log(f"leadership round trip: the old connection and every copy: {n} KNN queries == brute force")

    # -- 3c. a file of the same name on the OS's VFS, open in the same process. The dqlite
    # database has no identity on disk, and its name ("app") is a relative path, which the OS's
    # VFS resolves in the node's working directory: put a copy of the database there, attach
    # it, and write both until they have the same generation and different rows.
    a = cl.leader()
    twin = Model()
    twin.rows = dict(model.rows)
    cl.dump(a, DB, os.path.join(workdir, "copy"))
    for f in os.listdir(os.path.join(workdir, "copy")):
        shutil.copy(os.path.join(workdir, "copy", f), os.path.join(a.dir, f))
    with cl.connect(a, DB) as c:
        c.exec(f"ATTACH 'file:{DB}?vfs=unix' AS os")
        check_knn(remote(c), model, "dqlite file, beside its OS twin")
        check_knn(remote(c), twin, "the OS twin", table="os.t")
        probes, next_rowid = write_batch(c, model, rng, base_pool, next_rowid, "dqlite file")
        check_knn(remote(c), twin, "the OS twin after a write to the dqlite file", table="os.t")
        twin_pool = sorted(twin.rows)
        random.Random(SEED + 3).shuffle(twin_pool)
        twin_probes, _ = write_batch(c, twin, random.Random(SEED + 4), twin_pool, 500_001, "OS twin", "os.t")
        gens = [c.query(f"SELECT value FROM {s}t_info WHERE key = 'generation'")[0][0] for s in ("", "os.")]
        check(gens[0] == gens[1], f"the twins' generations differ ({gens}): the check is weaker than meant")
        check(twin.rows != model.rows, "the twins hold the same rows: the check is weaker than meant")
        n = check_knn(remote(c), model, "dqlite file after both were written", probes)
        n += check_knn(remote(c), twin, "OS twin after both were written", twin_probes, table="os.t")
        c.exec("DETACH os")
    # New connections, whose first query of each table may find what earlier connections of
    # the process left in memory: one asks the twin first, the other the dqlite file first.
    for twin_first in (True, False):
        with cl.connect(a, DB) as c:
            c.exec(f"ATTACH 'file:{DB}?vfs=unix' AS os")
            order = [(twin, twin_probes, "os.t"), (model, probes, "t")]
            for m, p, table in order if twin_first else order[::-1]:
                n += check_knn(remote(c), m, f"new connection, {table} ({'twin' if twin_first else 'dqlite'} first)", p, table=table)
            c.exec("DETACH os")
    log(f"same name on two VFSes in one process, same generation, different rows: {n} KNN queries == brute force")

    # -- 4. clients
    addrs = ",".join(n.address for n in cl.nodes)
    q = model.rows[next(p for p in probes if p in model.rows)][0]
    got = [(int(r[0]), float(r[1])) for r in shell_rows(
        addrs, f"SELECT rowid, distance FROM t WHERE embedding MATCH '{vjson(q)}' AND k = 10")]
    want = model.knn(q, 10)
    check([r for r, _ in got] == [r for r, _ in want], f"dqlite shell: got {got}, want {want}")
    log("dqlite shell: KNN == brute force")
    if args.dbapi_python:
        next_rowid = check_dbapi(args.dbapi_python, addrs, model, rng, next_rowid)
    else:
        log("dqlite-dbapi: skipped (needs Python >= 3.13; make test-dqlite finds one if present)")

    # -- 5. kill -9 of the leader while a writer runs
    killed, leader, next_rowid, probes = failover(cl, model, rng, base_pool, next_rowid, workdir, "failover 1")
    n = check_all_replicas(cl, model, "after failover 1", workdir, probes)
    log(f"the two live copies: {n} KNN queries == brute force")

    # -- 6. the killed node restarts and catches up (from a snapshot: more than 256 entries
    # were committed while it was down); then a second failover, and it leads
    killed.start()
    n, gen = wait_caught_up(cl, killed, model, workdir)
    log(f"node {killed.index} restarted and caught up (generation {gen}; {n} KNN queries == brute force on its copy)")
    if cl.leader() is killed:
        cl.make_leader(next(n for n in cl.live() if n is not killed))
    killed2, leader, next_rowid, probes = failover(cl, model, rng, base_pool, next_rowid, workdir, "failover 2")
    if leader is not killed:
        cl.make_leader(killed)
        log(f"leadership transferred to the restarted node {killed.index}")
    with cl.connect(killed, DB) as c:
        check_rows(remote(c), model, "restarted node as leader")
        n = check_knn(remote(c), model, "restarted node as leader", probes)
        integrity(remote_exec(c), "restarted node as leader")
        probes, next_rowid = write_batch(c, model, rng, base_pool, next_rowid, "restarted node as leader")
        n += check_knn(remote(c), model, "restarted node as leader, after its own write", probes)
    log(f"the restarted node leads: {n} KNN queries == brute force, integrity-check ok")
    killed2.start()
    wait_caught_up(cl, killed2, model, workdir)
    n = check_all_replicas(cl, model, "at the end", workdir, probes)
    log(f"node {killed2.index} restarted and caught up; all 3 copies: {n} KNN queries == brute force")


def check_dbapi(python, addrs, model, rng, next_rowid):
    """dqlite-dbapi from PyPI as a client: a write with a blob parameter and KNN queries."""
    rowid = next_rowid
    row = Model.make_row(rng, rowid)
    queries = query_vectors(model)[:2] + [row[0]]
    req = {
        "addrs": addrs.split(","),
        "db": DB,
        "insert": [rowid, list(row[0]), row[1], row[2], row[3]],
        "queries": [list(q) for q in queries],
    }
    res = subprocess.run(
        [python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbapi_client.py")],
        input=json.dumps(req), capture_output=True, text=True, timeout=60,
    )
    if res.returncode != 0:
        raise Failed(f"dqlite-dbapi client failed: {res.stderr.strip()[-2000:]}")
    out = json.loads(res.stdout)
    model.rows[rowid] = row
    for q, got in zip(queries, out["knn"]):
        want = model.knn(q, 10, lambda r: r[1] == "c1")
        check([r for r, _ in got] == [r for r, _ in want], f"dqlite-dbapi: got {got}, want {want}")
    log(f"dqlite-dbapi {out['version']}: blob-parameter insert and {len(queries)} filtered KNN queries == brute force")
    return next_rowid + 1


if __name__ == "__main__":
    main()
