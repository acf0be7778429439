"""Shared helpers for the vindex benchmarks (bench/functions.py, bench/knn.py, bench/scan_layout.py).

Data, timing, machine facts, loading each extension into its own connection, markdown tables and
JSON result files. Standard library + numpy only; sqlite-vec is imported lazily.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "data" / "minilm"
DEFAULT_EXT = REPO_ROOT / "dist" / "vindex"


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


class Dataset:
    """base (n x dim float32, C-contiguous), queries (nq x dim float32), where they came from."""

    def __init__(self, name: str, base: np.ndarray, queries: np.ndarray, source: str):
        self.name = name
        self.base = np.ascontiguousarray(base, dtype="<f4")
        self.queries = np.ascontiguousarray(queries, dtype="<f4")
        self.source = source

    @property
    def n(self) -> int:
        return self.base.shape[0]

    @property
    def dim(self) -> int:
        return self.base.shape[1]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "n": self.n,
            "dim": self.dim,
            "n_queries": int(self.queries.shape[0]),
            "raw_bytes": int(self.base.nbytes),
        }


def synthetic_clustered(n: int, dim: int, nq: int = 1000, seed: int = 42, n_clusters: int = 1000,
                        normalize: bool = True) -> Dataset:
    """Deterministic clustered vectors (not i.i.d. Gaussian, which is unrealistically hard).

    A mixture of `n_clusters` Gaussian clusters with Dirichlet(1) weights and log-normal spreads,
    living in a latent space of dim/4 dimensions, projected to `dim` with a 1/sqrt(i) decaying
    spectrum, plus ~20 % isotropic noise and a common offset; unit length when `normalize`.
    Queries come from the same distribution through an independent random stream.
    """
    rng = np.random.default_rng(seed)
    latent = max(4, dim // 4)
    weights = rng.dirichlet(np.ones(n_clusters))
    centers = rng.standard_normal((n_clusters, latent))
    spread = rng.lognormal(mean=-1.0, sigma=0.5, size=n_clusters)
    spectrum = 1.0 / np.sqrt(np.arange(1, latent + 1))
    proj = rng.standard_normal((latent, dim)) * spectrum[:, None] / math.sqrt(latent)
    offset = 0.3 * rng.standard_normal(dim) / math.sqrt(dim)
    # Scale of the signal per coordinate, to size the isotropic noise at ~20 % of it.
    signal_std = float(np.sqrt((spectrum**2).sum() / latent * (1.0 + np.mean(spread**2)) / dim))

    def draw(m: int, r: np.random.Generator) -> np.ndarray:
        out = np.empty((m, dim), dtype=np.float32)
        for s in range(0, m, 20_000):
            e = min(m, s + 20_000)
            c = r.choice(n_clusters, size=e - s, p=weights)
            z = centers[c] + r.standard_normal((e - s, latent)) * spread[c, None]
            x = z @ proj + 0.2 * signal_std * r.standard_normal((e - s, dim)) + offset
            if normalize:
                x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[s:e] = x
        return out

    base = draw(n, np.random.default_rng([seed, 1]))
    queries = draw(nq, np.random.default_rng([seed, 2]))
    return Dataset(f"synthetic-clustered-{n}x{dim}", base, queries,
                   f"synthetic: {n_clusters} clusters in {latent}-d latent space, seed {seed}")


def load_dataset(path: str | os.PathLike | None, n: int | None, dim: int = 384, nq: int = 1000,
                 seed: int = 42, queries_path: str | None = None) -> Dataset:
    """Load `base.f32` (+ `queries.f32`) from `path` (default ../shared/data/minilm), first `n` rows.

    If `path` is None and the default directory is absent, or `path` is "synthetic", generate a
    seeded clustered set of `n` x `dim` instead. `queries_path` overrides the query file.
    """
    if path is None and DEFAULT_DATASET.is_dir():
        path = DEFAULT_DATASET
    if path is None or str(path) == "synthetic":
        return synthetic_clustered(n or 100_000, dim, nq=nq, seed=seed)
    p = Path(path)
    meta = {}
    if (p / "meta.json").exists():
        meta = json.loads((p / "meta.json").read_text())
    d = int(meta.get("dim", dim))
    base = np.fromfile(p / "base.f32", dtype="<f4").reshape(-1, d)
    total = base.shape[0]
    if n is not None:
        if n > total:
            raise SystemExit(f"--n {n} is larger than the {total} rows of {p}")
        base = base[:n]
    qpath = Path(queries_path) if queries_path else p / "queries.f32"
    queries = np.fromfile(qpath, dtype="<f4").reshape(-1, d)[:nq]
    return Dataset(f"{p.name}-{base.shape[0]}x{d}", base, queries,
                   f"{p} (first {base.shape[0]} of {total} rows; queries {qpath.name})")


def blobs(a: np.ndarray) -> list[bytes]:
    """Each row as a raw little-endian float32 BLOB."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return [r.tobytes() for r in a]


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def percentile(xs: list[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def summarize_ns(lat_ns: list[int], cpu_ns: int | None = None) -> dict:
    """Latency stats in ms and QPS = count / sum(latencies) (and by the thread's CPU time)."""
    total = sum(lat_ns)
    out = {
        "count": len(lat_ns),
        "mean_ms": total / len(lat_ns) / 1e6,
        "p50_ms": percentile(lat_ns, 50) / 1e6,
        "p95_ms": percentile(lat_ns, 95) / 1e6,
        "min_ms": min(lat_ns) / 1e6,
        "max_ms": max(lat_ns) / 1e6,
        "qps": len(lat_ns) / (total / 1e9) if total else float("inf"),
    }
    if cpu_ns:
        out["qps_cpu"] = len(lat_ns) / (cpu_ns / 1e9)
    return out


def time_each(fn, items, warmup: int = 0, budget_s: float | None = None, min_items: int = 0):
    """Call fn(item) for each item, timing each call alone with perf_counter_ns.

    `warmup` untimed calls first (cycling through items). Stops early once `budget_s` seconds of
    measured time have passed and at least `min_items` ran. Returns (latencies_ns, results,
    thread_cpu_ns of the timed calls).
    """
    items = list(items)
    for i in range(warmup):
        fn(items[i % len(items)])
    lat, res = [], []
    cpu0 = time.thread_time_ns()
    spent = 0
    for it in items:
        t0 = time.perf_counter_ns()
        r = fn(it)
        t1 = time.perf_counter_ns()
        lat.append(t1 - t0)
        res.append(r)
        spent += t1 - t0
        if budget_s is not None and spent > budget_s * 1e9 and len(lat) >= min_items:
            break
    return lat, res, time.thread_time_ns() - cpu0


def repeat_median(fn, reps: int = 7, warmup: int = 1):
    """Run fn() `warmup` times untimed, then `reps` times; returns (median_ns, all_ns, last_result)."""
    r = None
    for _ in range(warmup):
        r = fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        r = fn()
        ts.append(time.perf_counter_ns() - t0)
    return statistics.median(ts), ts, r


class CpuMonitor:
    """How much CPU *other* processes used while a block ran (from /proc/stat minus our own use).

    `other_cores` ~0 on an idle machine; ~1 means another core-sized job ran next to us (on a
    2-core machine that can slow memory-bound code down even if our core was free).
    """

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.busy0 = _proc_stat_busy()
        self.self0 = _self_cpu()
        self.load0 = os.getloadavg()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        busy = _proc_stat_busy()
        own = _self_cpu() - self.self0
        self.wall_s = wall
        if busy is not None and self.busy0 is not None and wall > 0:
            self.other_cores = max(0.0, (busy - self.busy0 - own) / wall)
        else:
            self.other_cores = None
        self.load1 = os.getloadavg()[0]
        return False

    def info(self) -> dict:
        return {
            "wall_s": round(self.wall_s, 3),
            "other_procs_cores": None if self.other_cores is None else round(self.other_cores, 3),
            "loadavg_1m_start": round(self.load0[0], 2),
            "loadavg_1m_end": round(self.load1, 2),
        }


def _proc_stat_busy() -> float | None:
    """Busy CPU seconds of the whole machine since boot."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    vals = [int(x) for x in parts[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(vals[:8]) - idle) / tick


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_idle(max_wait_s: float, threshold_cores: float = 0.3, quiet: bool = False) -> dict:
    """Wait (at most max_wait_s) until other processes use < threshold_cores over a 2 s window."""
    t0 = time.perf_counter()
    last = None
    while True:
        with CpuMonitor() as m:
            time.sleep(2.0)
        last = m.other_cores
        if last is None or last < threshold_cores:
            break
        if time.perf_counter() - t0 >= max_wait_s:
            if not quiet:
                print(f"warning: machine still busy after {max_wait_s:.0f} s "
                      f"(other processes ~{last:.2f} cores); measuring anyway", file=sys.stderr)
            break
    return {"waited_s": round(time.perf_counter() - t0, 1), "other_procs_cores": last}


# ----------------------------------------------------------------------------------------------
# Extensions
# ----------------------------------------------------------------------------------------------


_EXT_SNAPSHOT: dict[str, str] = {}


def ext_path(arg: str | None = None) -> str:
    """The vindex extension to load: --ext, $VINDEX_EXT, or dist/vindex (no suffix).

    The library is first copied to a private temp dir and loaded from there: `make loadable`
    in another shell overwrites dist/vindex.so in place, which kills (SIGBUS) any process that
    has the old file mapped. Set VINDEX_BENCH_NO_COPY=1 to load it where it is.
    """
    p = arg or os.environ.get("VINDEX_EXT") or str(DEFAULT_EXT)
    so = Path(p if p.endswith(".so") else p + ".so")
    if not so.exists():
        raise SystemExit(f"vindex extension not found at {so} (run `make loadable` first)")
    if os.environ.get("VINDEX_BENCH_NO_COPY"):
        return str(so)[:-3]
    key = str(so.resolve())
    if key not in _EXT_SNAPSHOT:
        import atexit
        import shutil
        import tempfile

        d = tempfile.mkdtemp(prefix="vindex-bench-ext-")
        atexit.register(shutil.rmtree, d, True)
        shutil.copy2(so, Path(d) / "vindex.so")
        _EXT_SNAPSHOT[key] = str(Path(d) / "vindex")
    return _EXT_SNAPSHOT[key]


def _check_loadable():
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        raise SystemExit(
            f"{sys.executable}: this Python's sqlite3 cannot load extensions; use Debian's "
            "/usr/bin/python3 (make the venv with `/usr/bin/python3 -m venv bench/.venv`)")


def connect_vindex(path: str = ":memory:", ext: str | None = None) -> sqlite3.Connection:
    """A connection with vindex loaded (autocommit off: we issue BEGIN/COMMIT ourselves)."""
    _check_loadable()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(ext_path(ext))
    conn.enable_load_extension(False)
    return conn


def connect_sqlite_vec(path: str = ":memory:") -> sqlite3.Connection:
    """A connection with sqlite-vec loaded; never the same connection as vindex (same names)."""
    _check_loadable()
    import sqlite_vec

    conn = sqlite3.connect(path, isolation_level=None)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def vec_debug(conn: sqlite3.Connection) -> str:
    try:
        return conn.execute("SELECT vec_debug()").fetchone()[0]
    except sqlite3.Error as e:
        return f"(vec_debug failed: {e})"


def kernel_line(conn: sqlite3.Connection) -> str:
    """The 'Build flags: ...' line of vec_debug() (vindex: 'kernels=avx512 (...)')."""
    for line in vec_debug(conn).splitlines():
        if line.lower().startswith("build flags"):
            return line.strip()
    return vec_debug(conn).replace("\n", " | ")


def vec_version(conn: sqlite3.Connection) -> str:
    try:
        return conn.execute("SELECT vec_version()").fetchone()[0]
    except sqlite3.Error as e:
        return f"? ({e})"


# ----------------------------------------------------------------------------------------------
# Machine facts
# ----------------------------------------------------------------------------------------------


def _cpuinfo() -> dict:
    info = {}
    try:
        txt = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in txt.splitlines():
        if ":" not in line:
            continue
        k, v = (s.strip() for s in line.split(":", 1))
        if k in ("model name", "cpu family", "model", "flags") and k not in info:
            info[k] = v
    flags = set(info.pop("flags", "").split())
    info["simd"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                                        "avx512_fp16", "amx_bf16") if f in flags)
    return info


def _pkg_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def machine_info(vindex_conn: sqlite3.Connection | None = None,
                 sqlite_vec_conn: sqlite3.Connection | None = None) -> dict:
    cpu = _cpuinfo()
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    info = {
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_model": cpu.get("model name"),
        "cpu_family_model": f"{cpu.get('cpu family')}/{cpu.get('model')}",
        "cpu_simd_flags": cpu.get("simd"),
        "nproc": os.cpu_count(),
        "mem_gb": mem_gb,
        "kernel": platform.release(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "sqlite_version": sqlite3.sqlite_version,
        "numpy": np.__version__,
        "sqlite_vec_pkg": _pkg_version("sqlite-vec"),
        "faiss_cpu_pkg": _pkg_version("faiss-cpu"),
        "repo_commit": _git_commit(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }
    if vindex_conn is not None:
        info["vindex_version"] = vec_version(vindex_conn)
        info["vindex_vec_debug"] = vec_debug(vindex_conn)
        info["vindex_kernels"] = kernel_line(vindex_conn)
    if sqlite_vec_conn is not None:
        info["sqlite_vec_version"] = vec_version(sqlite_vec_conn)
        info["sqlite_vec_vec_debug"] = vec_debug(sqlite_vec_conn)
    return info


def print_machine(info: dict) -> None:
    print(f"machine: {info['cpu_model']} (family/model {info['cpu_family_model']}), {info['nproc']} cores, "
          f"{info['mem_gb']} GB; simd: {info['cpu_simd_flags']}")
    print(f"software: Python {info['python']}, SQLite {info['sqlite_version']}, numpy {info['numpy']}, "
          f"sqlite-vec {info.get('sqlite_vec_version') or info.get('sqlite_vec_pkg')}, "
          f"faiss-cpu {info.get('faiss_cpu_pkg')}, repo {info['repo_commit']}")
    if "vindex_kernels" in info:
        print(f"vindex {info.get('vindex_version')} vec_debug(): {info['vindex_kernels']}")
        if "kernels=scalar" in info["vindex_kernels"]:
            print("NOTE: vindex reports kernels=scalar: these are pre-SIMD numbers")
    if "sqlite_vec_vec_debug" in info:
        flags = kernel_line_from_text(info["sqlite_vec_vec_debug"])
        print(f"sqlite-vec vec_debug(): {flags or '(empty build flags: no SIMD)'}")
    print(f"load average at start: {info['loadavg']}")


def kernel_line_from_text(txt: str) -> str:
    for line in txt.splitlines():
        if line.lower().startswith("build flags"):
            rest = line.split(":", 1)[1].strip()
            return line.strip() if rest else ""
    return ""


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def fmt(x, digits: int = 3) -> str:
    """Compact human number: thousands separators for big numbers, `digits` significant otherwise."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if math.isnan(x) or math.isinf(x):
        return str(x)
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(ax)))
    return f"{x:.{decimals}f}"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    cells = [[fmt(c) for c in r] for r in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)


def ratio_row(what: str, value: float | None, target: float | None, higher_is_better: bool = True) -> list:
    """[what, value×, target, verdict] for the ratios table."""
    if value is None:
        return [what, "-", "-", "n/a"]
    if target is None:
        return [what, f"{value:.2f}×", "-", "(context)"]
    ok = value >= target if higher_is_better else value <= target
    return [what, f"{value:.2f}×", ("≥ " if higher_is_better else "≤ ") + f"{target:g}×", "PASS" if ok else "MISS"]


def write_results(name: str, payload: dict) -> Path:
    """Write bench/results/<name>-<UTC timestamp>.json (the folder ignores its own contents)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    gi = RESULTS_DIR / ".gitignore"
    if not gi.exists():
        gi.write_text("# benchmark outputs are not committed\n*\n!.gitignore\n")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    tmp.replace(path)
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def add_common_args(ap) -> None:
    ap.add_argument("--ext", default=None, help="vindex extension path (default: $VINDEX_EXT or dist/vindex)")
    ap.add_argument("--wait-idle", type=float, default=15.0, metavar="S",
                    help="before measuring, wait up to S seconds for other processes to go idle (default 15; 0 = don't)")
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
