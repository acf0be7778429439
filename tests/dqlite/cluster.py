"""Runs vindex-dqlite-node processes on loopback for tests and benchmarks.

Every node runs in the caller's process group, so `timeout` (which signals the whole group)
stops them too if the caller overruns; Cluster.close() kills whatever is still running.
"""

import os
import signal
import socket
import subprocess
import time

import dqwire

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE = os.path.join(REPO, "dist", "vindex-dqlite-node")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, index, workdir, extra_args):
        self.index = index
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dir = os.path.join(workdir, f"node{index}")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(workdir, f"node{index}.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.id = None

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, join=(), timeout=30.0):
        args = [NODE, "--db", self.address, "--dir", self.dir, *self.extra_args]
        for j in join:
            args += ["--join", j]
        with open(self.log, "ab") as log:
            log.write(f"--- start: {' '.join(args)}\n".encode())
            log.flush()
            # cwd = the data directory: a relative file name opened with the OS's VFS (ATTACH
            # 'file:app?vfs=unix') lands there.
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._ready_line()
            if ready is not None:
                self.id = int(ready.split()[1])
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"node {self.index} not ready within {timeout} s:\n{self.tail()}")

    def _ready_line(self):
        with open(self.log, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        # Only a "ready" line after the last start counts.
        for line in reversed(lines):
            if line.startswith("--- start:"):
                return None
            if line.startswith("ready "):
                return line
        return None

    def tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def kill(self, sig=signal.SIGKILL):
        if self.alive:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM (the node stops cleanly), SIGKILL after 5 s."""
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Cluster:
    def __init__(self, workdir, n=3, node_args=()):
        self.workdir = workdir
        self.nodes = [Node(i, workdir, node_args) for i in range(n)]

    def start(self):
        first = self.nodes[0]
        first.start()
        for node in self.nodes[1:]:
            node.start(join=[first.address])
        self.wait_voters(len(self.nodes))

    def close(self):
        for node in self.nodes:
            try:
                node.stop()
            except Exception:
                if node.proc is not None:
                    node.proc.kill()

    def live(self):
        return [n for n in self.nodes if n.alive]

    def by_address(self, address):
        for n in self.nodes:
            if n.address == address:
                return n
        return None

    def wait_voters(self, count, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                leader = self.leader(timeout=5.0)
                with dqwire.Client(leader.address, timeout=2.0) as c:
                    last = c.cluster()
                if sum(1 for _, _, role in last if role == "voter") == count:
                    return last
            except (OSError, dqwire.DqliteError, RuntimeError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the cluster did not reach {count} voters: {last}")

    def leader(self, timeout=30.0):
        """The live node that is leader, as both a live node and the leader itself say."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.live():
                try:
                    with dqwire.Client(node.address, timeout=1.0) as c:
                        _, address = c.leader()
                    leader = self.by_address(address)
                    if leader is None or not leader.alive:
                        continue
                    with dqwire.Client(leader.address, timeout=1.0) as c:
                        if c.leader()[1] == leader.address:
                            return leader
                except (OSError, dqwire.DqliteError):
                    continue
            time.sleep(0.05)
        raise RuntimeError("no leader elected within the time limit")

    def make_leader(self, node, timeout=30.0):
        """Leadership transfer to `node` (dqlite's TRANSFER request), until it holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader(timeout=max(0.1, deadline - time.monotonic()))
            if leader is node:
                return node
            try:
                with dqwire.Client(leader.address, timeout=5.0) as c:
                    c.transfer(node.id)
            except (OSError, dqwire.DqliteError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"could not make node {node.index} leader")

    def connect(self, node, db, timeout=10.0):
        return dqwire.Client(node.address, timeout=timeout).open(db)

    def dump(self, node, db, into):
        """Writes node's copy of database `db` (file and WAL) under directory `into`; returns
        the database's path there."""
        os.makedirs(into, exist_ok=True)
        for f in os.listdir(into):
            os.remove(os.path.join(into, f))
        with dqwire.Client(node.address, timeout=10.0) as c:
            files = c.dump(db)
        for name, data in files.items():
            with open(os.path.join(into, name), "wb") as f:
                f.write(data)
        return os.path.join(into, db)
