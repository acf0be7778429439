"""PEP 517 / PEP 660 build backend of the `sqlite-vindex` Python package.

The wheel is the pure-Python `sqlite_vindex` package plus one file, `sqlite_vindex/vindex.so`,
the SQLite extension compiled by cargo:

    cargo build --release --locked --features loadable --lib

Why a backend of our own instead of setuptools (or setuptools-rust with NoBinding):

- Nothing to download or pin: this file is all the build needs besides cargo, so
  `pip install ./python` works offline and the same way every time ([build-system] requires
  nothing).
- The extension does not link libpython, so one wheel serves every Python 3: the tag is
  `py3-none-<platform>`. setuptools tags a wheel with a binary file `cp3XX-cp3XX-<platform>` and
  needs overrides of bdist_wheel to say otherwise; here the tag is one line.
- The wheel is reproducible: entries sorted, fixed timestamps (SOURCE_DATE_EPOCH when set).

Where the Rust sources are: `VINDEX_CARGO_DIR` if set; else `rust/` beside pyproject.toml (the
sdist layout); else the repository root above `python/`. cargo's own target directory is
used (`CARGO_TARGET_DIR` is honoured), so after `make loadable` the build is a no-op.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # the directory holding pyproject.toml
NAME = "sqlite-vindex"
DIST_NAME = "sqlite_vindex"  # the distribution name as wheel and sdist file names spell it
PACKAGE = "sqlite_vindex"
LIB_NAME = "vindex"  # cargo's [lib] name: libvindex.so -> vindex.so (entry point sqlite3_vindex_init)
SUFFIXES = {"linux": ".so", "darwin": ".dylib", "win32": ".dll"}


# ---------------------------------------------------------------------------------------------
# Project facts


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise RuntimeError(
                "building sqlite-vindex needs Python 3.11+ (tomllib) or the tomli package; "
                "the built wheel runs on any Python 3.8+"
            ) from None
    with open(path, "rb") as f:
        return tomllib.load(f)


def _cargo_dir() -> Path:
    env = os.environ.get("VINDEX_CARGO_DIR")
    candidates = [Path(env)] if env else [HERE / "rust", HERE.parent]
    for d in candidates:
        manifest = d / "Cargo.toml"
        if manifest.is_file() and _toml(manifest).get("package", {}).get("name") == NAME:
            return d.resolve()
    raise RuntimeError(
        "cannot find the Rust sources of sqlite-vindex (Cargo.toml with package name "
        f"{NAME!r}); looked in {', '.join(str(c) for c in candidates)}. Build from a checkout "
        "of the repository (pip install ./python) or set VINDEX_CARGO_DIR"
    )


def _version(cargo_dir: Path) -> str:
    return _toml(cargo_dir / "Cargo.toml")["package"]["version"]


def _project() -> dict:
    return _toml(HERE / "pyproject.toml")["project"]


def _platform_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", sysconfig.get_platform())


def _suffix() -> str:
    for prefix, suffix in SUFFIXES.items():
        if sys.platform.startswith(prefix):
            return suffix
    raise RuntimeError(f"unsupported platform {sys.platform!r} for the vindex extension")


def _date_time() -> tuple:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, zip's first day
    return time.gmtime(max(epoch, 315532800))[:6]


# ---------------------------------------------------------------------------------------------
# The extension


def _git(cargo_dir: Path, *args: str) -> str:
    if not (cargo_dir / ".git").exists():  # an unpacked sdist inside some other repository
        return "unknown"
    try:
        out = subprocess.run(
            ["git", *args], cwd=cargo_dir, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_extension(cargo_dir: Path | None = None) -> Path:
    """Compile the loadable extension with cargo and return the path of the library it made."""
    cargo_dir = cargo_dir or _cargo_dir()
    cargo = os.environ.get("CARGO", "cargo")
    env = dict(os.environ)
    # The same values as the Makefile passes, so that `make loadable` and a wheel build share
    # one compilation (cargo rebuilds when option_env! values change).
    env.setdefault("VINDEX_GIT_COMMIT", _git(cargo_dir, "rev-parse", "--short=12", "HEAD"))
    env.setdefault("VINDEX_BUILD_DATE", _git(cargo_dir, "log", "-1", "--format=%cI"))
    cmd = [cargo, "build", "--release", "--features", "loadable", "--lib",
           "--message-format=json-render-diagnostics"]
    if (cargo_dir / "Cargo.lock").is_file():
        cmd.insert(2, "--locked")
    print("sqlite-vindex: " + " ".join(cmd[:-1]) + f"   (in {cargo_dir})", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, cwd=cargo_dir, env=env, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise RuntimeError(
            "cargo not found: building sqlite-vindex needs Rust 1.89 or newer (https://rustup.rs), "
            "or set CARGO to the cargo binary"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"cargo build failed (exit code {proc.returncode}); its errors are above")
    found = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == LIB_NAME:
            for f in msg.get("filenames", []):
                if f.endswith(_suffix()):
                    found = Path(f)
    if found is None or not found.is_file():
        raise RuntimeError("cargo build succeeded but reported no vindex shared library")
    return found


# ---------------------------------------------------------------------------------------------
# Metadata


def _metadata(version: str) -> str:
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {version}",
        f"Summary: {p['description']}",
    ]
    if "license" in p:
        lines.append(f"License: {p['license'] if isinstance(p['license'], str) else p['license'].get('text', '')}")
    if "requires-python" in p:
        lines.append(f"Requires-Python: {p['requires-python']}")
    if p.get("keywords"):
        lines.append(f"Keywords: {','.join(p['keywords'])}")
    for c in p.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    for label, url in p.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    for req in p.get("dependencies", []):
        lines.append(f"Requires-Dist: {req}")
    for extra, reqs in p.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for req in reqs:
            lines.append(f'Requires-Dist: {req}; extra == "{extra}"')
    readme = p.get("readme")
    body = ""
    if readme:
        lines.append("Description-Content-Type: text/markdown")
        body = (HERE / readme).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n\n" + body


def _wheel_file(tag: str) -> str:
    return f"Wheel-Version: 1.0\nGenerator: sqlite-vindex build_backend\nRoot-Is-Purelib: false\nTag: {tag}\n"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


class _Wheel:
    """A wheel written entry by entry; RECORD is added last."""

    def __init__(self, path: Path, dist_info: str):
        self.zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.dist_info = dist_info
        self.records: list[str] = []
        self.when = _date_time()

    def add(self, arcname: str, data: bytes, executable: bool = False) -> None:
        info = zipfile.ZipInfo(arcname, date_time=self.when)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100755 if executable else 0o100644) << 16
        self.zf.writestr(info, data)
        self.records.append(_record_line(arcname, data))

    def close(self) -> None:
        record = f"{self.dist_info}/RECORD"
        body = "\n".join(self.records + [f"{record},,"]) + "\n"
        info = zipfile.ZipInfo(record, date_time=self.when)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        self.zf.writestr(info, body)
        self.zf.close()


def _package_files() -> list[tuple[str, Path]]:
    root = HERE / PACKAGE
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
            files.append((path.relative_to(HERE).as_posix(), path))
    return files


def _dist_info(version: str) -> str:
    return f"{DIST_NAME}-{version}.dist-info"


def _write_dist_info(whl: _Wheel | None, directory: Path | None, version: str, tag: str) -> None:
    di = _dist_info(version)
    entries = {
        "METADATA": _metadata(version).encode(),
        "WHEEL": _wheel_file(tag).encode(),
        "top_level.txt": f"{PACKAGE}\n".encode(),
    }
    for name, data in entries.items():
        if whl is not None:
            whl.add(f"{di}/{name}", data)
        if directory is not None:
            (directory / di).mkdir(parents=True, exist_ok=True)
            (directory / di / name).write_bytes(data)


# ---------------------------------------------------------------------------------------------
# PEP 517 hooks


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def _tag() -> str:
    return f"py3-none-{_platform_tag()}"


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version(_cargo_dir())
    _write_dist_info(None, Path(metadata_directory), version, _tag())
    return _dist_info(version)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cargo_dir = _cargo_dir()
    version = _version(cargo_dir)
    library = build_extension(cargo_dir)
    tag = _tag()
    name = f"{DIST_NAME}-{version}-{tag}.whl"
    out = Path(wheel_directory) / name
    tmp = out.with_suffix(".whl.tmp")
    whl = _Wheel(tmp, _dist_info(version))
    for arcname, path in _package_files():
        whl.add(arcname, path.read_bytes())
    whl.add(f"{PACKAGE}/{LIB_NAME}{_suffix()}", library.read_bytes(), executable=True)
    _write_dist_info(whl, None, version, tag)
    whl.close()
    os.replace(tmp, out)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """An editable install: a .pth file pointing at python/, and the extension in dist/."""
    cargo_dir = _cargo_dir()
    version = _version(cargo_dir)
    library = build_extension(cargo_dir)
    # sqlite_vindex.loadable_path() finds <repo>/dist/vindex.so from a checkout.
    dist = HERE.parent / "dist"
    if (HERE.parent / "Cargo.toml").is_file():
        dist.mkdir(exist_ok=True)
        target = dist / f"{LIB_NAME}{_suffix()}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(library, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    tag = _tag()
    name = f"{DIST_NAME}-{version}-{tag}.whl"
    whl = _Wheel(Path(wheel_directory) / name, _dist_info(version))
    whl.add(f"__editable__.{DIST_NAME}.pth", (str(HERE) + "\n").encode())
    _write_dist_info(whl, None, version, tag)
    whl.close()
    return name


def build_sdist(sdist_directory, config_settings=None):
    """A source archive that builds anywhere cargo does: the Python package and the crate."""
    cargo_dir = _cargo_dir()
    version = _version(cargo_dir)
    base = f"{DIST_NAME}-{version}"
    name = f"{base}.tar.gz"
    mtime = calendar.timegm(_date_time())
    members: list[tuple[str, bytes]] = []
    for rel in ["pyproject.toml", "README.md", "build_backend/vindex_build.py"]:
        members.append((rel, (HERE / rel).read_bytes()))
    for arcname, path in _package_files():
        members.append((arcname, path.read_bytes()))
    for rel in ["Cargo.toml", "Cargo.lock"]:
        if (cargo_dir / rel).is_file():
            members.append((f"rust/{rel}", (cargo_dir / rel).read_bytes()))
    for path in sorted((cargo_dir / "src").rglob("*")):
        if path.is_file():
            members.append((f"rust/{path.relative_to(cargo_dir).as_posix()}", path.read_bytes()))
    members.append(("PKG-INFO", _metadata(version).encode()))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir) / name
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for rel, data in sorted(members):
                info = tarfile.TarInfo(f"{base}/{rel}")
                info.size = len(data)
                info.mtime = int(mtime)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        shutil.move(str(tmp), str(Path(sdist_directory) / name))
    return name
