"""A small client of dqlite's wire protocol (version 1), standard library only.

The tests drive the cluster with it rather than with dqlite-dbapi for two reasons: dqlite-dbapi
needs Python >= 3.13 and Debian 12's python3 is 3.11; and a failover test must know exactly
which node and which server-side connection answered, and which writes were acknowledged, with
no retry or reconnection done behind its back. dqlite-dbapi is tested separately as a client.

Protocol (dqlite's src/request.h, response.h, tuple.h): the client sends its protocol version
as a little-endian uint64, then messages: an 8-byte header (uint32 body length in 8-byte words,
uint8 type, uint8 flags, uint16 extra) and the body. Integers are little-endian; text is
NUL-terminated and zero-padded to a multiple of 8 bytes; a blob is a uint64 length and the
padded bytes.
"""

import socket
import struct

PROTOCOL_VERSION = 1

# Requests.
LEADER, CLIENT, HEARTBEAT, OPEN, PREPARE, EXEC, QUERY, FINALIZE = range(8)
EXEC_SQL, QUERY_SQL, INTERRUPT, CONNECT, ADD, ASSIGN, REMOVE, DUMP = range(8, 16)
CLUSTER, TRANSFER, DESCRIBE, WEIGHT = range(16, 20)
# Responses.
R_FAILURE, R_SERVER, R_WELCOME, R_SERVERS, R_DB, R_STMT, R_RESULT, R_ROWS = range(8)
R_EMPTY, R_FILES, R_METADATA = range(8, 11)

ROWS_PART = 0xEEEEEEEEEEEEEEEE
ROWS_DONE = 0xFFFFFFFFFFFFFFFF

# Value types (SQLite's, plus dqlite's own).
T_INTEGER, T_FLOAT, T_TEXT, T_BLOB, T_NULL = 1, 2, 3, 4, 5
T_UNIXTIME, T_ISO8601, T_BOOLEAN = 9, 10, 11

ROLES = {0: "voter", 1: "standby", 2: "spare"}

# Extended result codes a client sees when it talks to a node that is not (or no longer) the
# leader. NOT_LEADER: nothing was done. LEADERSHIP_LOST: a write may or may not have committed.
SQLITE_BUSY = 5
SQLITE_IOERR_NOT_LEADER = 10 | (40 << 8)
SQLITE_IOERR_LEADERSHIP_LOST = 10 | (41 << 8)


class DqliteError(Exception):
    """A FAILURE response: the server's code and message."""

    def __init__(self, code, message):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message

    @property
    def not_leader(self):
        return self.code in (SQLITE_IOERR_NOT_LEADER, SQLITE_IOERR_LEADERSHIP_LOST)


class ProtocolError(Exception):
    pass


def _pad8(n):
    return (n + 7) // 8 * 8


def _text(s):
    b = s.encode() + b"\0"
    return b + b"\0" * (_pad8(len(b)) - len(b))


def _u64(v):
    return struct.pack("<Q", v)


def encode_params(params):
    """A parameter tuple: count and one type byte per value (padded to 8), then the values."""
    params = list(params)
    if len(params) > 255:
        raise ValueError("dqlite binds at most 255 parameters per statement")
    types = []
    body = b""
    for v in params:
        if v is None:
            types.append(T_NULL)
            body += _u64(0)
        elif isinstance(v, bool):
            types.append(T_INTEGER)
            body += struct.pack("<q", int(v))
        elif isinstance(v, int):
            types.append(T_INTEGER)
            body += struct.pack("<q", v)
        elif isinstance(v, float):
            types.append(T_FLOAT)
            body += struct.pack("<d", v)
        elif isinstance(v, str):
            types.append(T_TEXT)
            body += _text(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            types.append(T_BLOB)
            body += _u64(len(b)) + b + b"\0" * (_pad8(len(b)) - len(b))
        else:
            raise TypeError(f"cannot bind {type(v).__name__}")
    header = bytes([len(params)] + types)
    header += b"\0" * (_pad8(len(header)) - len(header))
    return header + body


class _Reader:
    def __init__(self, body):
        self.b = body
        self.o = 0

    def u64(self):
        (v,) = struct.unpack_from("<Q", self.b, self.o)
        self.o += 8
        return v

    def i64(self):
        (v,) = struct.unpack_from("<q", self.b, self.o)
        self.o += 8
        return v

    def u32(self):
        (v,) = struct.unpack_from("<I", self.b, self.o)
        self.o += 4
        return v

    def f64(self):
        (v,) = struct.unpack_from("<d", self.b, self.o)
        self.o += 8
        return v

    def text(self):
        end = self.b.index(b"\0", self.o)
        s = self.b[self.o : end].decode()
        self.o += _pad8(end - self.o + 1)
        return s

    def blob(self):
        n = self.u64()
        v = bytes(self.b[self.o : self.o + n])
        self.o += _pad8(n)
        return v

    def peek_u64(self):
        return struct.unpack_from("<Q", self.b, self.o)[0]

    def done(self):
        return self.o >= len(self.b)


class Client:
    """One connection to one node. Not thread-safe; every call is blocking with a timeout."""

    def __init__(self, address, timeout=10.0):
        host, port = address.rsplit(":", 1)
        self.address = address
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(_u64(PROTOCOL_VERSION))
        self.db = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    # -- transport --

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"{self.address} closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, mtype, body):
        assert len(body) % 8 == 0
        self.sock.sendall(struct.pack("<IBBH", len(body) // 8, mtype, 0, 0) + body)

    def _recv(self):
        words, mtype, _flags, _extra = struct.unpack("<IBBH", self._recv_exact(8))
        return mtype, _Reader(self._recv_exact(words * 8))

    def _call(self, mtype, body, expect):
        self._send(mtype, body)
        rtype, r = self._recv()
        if rtype == R_FAILURE:
            raise DqliteError(r.u64(), r.text())
        if rtype != expect:
            raise ProtocolError(f"response type {rtype} to request {mtype}, expected {expect}")
        return r

    # -- cluster --

    def leader(self):
        """(id, address) of the leader as this node knows it; (0, '') when it knows none."""
        r = self._call(LEADER, _u64(0), R_SERVER)
        return r.u64(), r.text()

    def cluster(self):
        """[(id, address, role name)] of the current configuration."""
        r = self._call(CLUSTER, _u64(1), R_SERVERS)
        return [(r.u64(), r.text(), ROLES.get(r.u64(), "?")) for _ in range(r.u64())]

    def transfer(self, node_id):
        """Ask this node (the leader) to hand leadership to node_id."""
        self._call(TRANSFER, _u64(node_id), R_EMPTY)

    def dump(self, name):
        """{file name: bytes}: the database and its WAL as this node holds them (any node
        answers, not only the leader)."""
        r = self._call(DUMP, _text(name), R_FILES)
        files = {}
        for _ in range(r.u64()):
            fname = r.text()
            n = r.u64()
            files[fname] = bytes(r.b[r.o : r.o + n])
            r.o += n
        return files

    # -- SQL --

    def open(self, name):
        r = self._call(OPEN, _text(name) + _u64(0) + _text(""), R_DB)
        self.db = r.u32()
        return self

    def exec(self, sql, params=()):
        """Runs one or more statements; returns (last_insert_id, rows_affected)."""
        body = _u64(self.db) + _text(sql) + (encode_params(params) if params else b"")
        r = self._call(EXEC_SQL, body, R_RESULT)
        return r.u64(), r.u64()

    def query(self, sql, params=()):
        """Runs a query; returns its rows as a list of tuples (self.columns: their names)."""
        body = _u64(self.db) + _text(sql) + (encode_params(params) if params else b"")
        r = self._call(QUERY_SQL, body, R_ROWS)
        rows = []
        while True:
            n = r.u64()
            self.columns = [r.text() for _ in range(n)]
            while True:
                marker = r.peek_u64()
                if marker in (ROWS_DONE, ROWS_PART):
                    r.u64()
                    break
                rows.append(self._row(r, n))
            if marker == ROWS_DONE:
                return rows
            rtype, r = self._recv()  # the server sends the next batch by itself
            if rtype == R_FAILURE:
                raise DqliteError(r.u64(), r.text())
            if rtype != R_ROWS:
                raise ProtocolError(f"response type {rtype} in the middle of a result set")

    @staticmethod
    def _row(r, n):
        header = r.b[r.o : r.o + (n + 1) // 2]
        r.o += _pad8((n + 1) // 2)
        row = []
        for i in range(n):
            t = header[i // 2] & 0x0F if i % 2 == 0 else header[i // 2] >> 4
            if t in (T_INTEGER, T_UNIXTIME):
                row.append(r.i64())
            elif t == T_FLOAT:
                row.append(r.f64())
            elif t in (T_TEXT, T_ISO8601):
                row.append(r.text())
            elif t == T_BLOB:
                row.append(r.blob())
            elif t == T_NULL:
                r.u64()
                row.append(None)
            elif t == T_BOOLEAN:
                row.append(bool(r.u64()))
            else:
                raise ProtocolError(f"unknown value type {t}")
        return tuple(row)
