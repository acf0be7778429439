"""Finding the vindex extension and loading it into a connection of any SQLite binding."""

from __future__ import annotations

import os
from pathlib import Path

_SUFFIXES = (".so", ".dylib", ".dll")
_HERE = Path(__file__).resolve().parent


class LoadError(RuntimeError):
    """The extension cannot be loaded into this connection (the message says what to do)."""


def _strip_suffix(path: str) -> str:
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _exists(base: Path) -> bool:
    return any(base.with_name(base.name + s).is_file() for s in _SUFFIXES)


def loadable_path() -> str:
    """Path of the vindex extension without its file suffix (SQLite appends .so/.dylib/.dll).

    In order:

    1. `VINDEX_PATH` from the environment, e.g. `VINDEX_PATH=/opt/vindex/vindex.so` (with or
       without the suffix): use another build than the one in the package.
    2. The extension inside this package (`sqlite_vindex/vindex.so`), as `pip install` put it.
    3. In a source checkout (this package imported from `python/` of the repository):
       `dist/vindex`, which `make loadable` builds.

    SQLite derives the entry point `sqlite3_vindex_init` from the file name, so the file must be
    called `vindex.*`. Raises FileNotFoundError (saying what to do) when none of these exists.
    """
    env = os.environ.get("VINDEX_PATH")
    if env:
        return _strip_suffix(env)
    bundled = _HERE / "vindex"
    if _exists(bundled):
        return str(bundled)
    repo = _HERE.parent.parent
    if (repo / "Cargo.toml").is_file() and (repo / "python" / "sqlite_vindex").resolve() == _HERE:
        # A source checkout: report dist/vindex even before it is built, so the error of
        # load_extension names the file `make loadable` makes.
        return str(repo / "dist" / "vindex")
    raise FileNotFoundError(
        f"the vindex extension is not in {_HERE} (expected vindex.so there): this copy of "
        "sqlite_vindex was installed without it. Install the package with pip (pip install "
        "./python from the repository, or the wheel `make wheel` builds), or set VINDEX_PATH "
        "to a built vindex.so"
    )


_NO_LOADING = (
    "{cls} cannot load SQLite extensions: this Python's sqlite3 module was compiled without "
    "them (usual for pyenv and python.org builds). Use one of: the sqlean.py package "
    "(pip install sqlean.py; `import sqlean as sqlite3`; its connections can), apsw "
    "(pip install apsw), a Python built with extension loading (pyenv: "
    "PYTHON_CONFIGURE_OPTS=--enable-loadable-sqlite-extensions pyenv install 3.x), or your "
    "distribution's python3 (Debian/Ubuntu's /usr/bin/python3 can)"
)


def _describe(conn) -> str:
    cls = type(conn)
    return f"{cls.__module__}.{cls.__qualname__}"


# One process may hold several SQLite libraries: the one of Python's sqlite3 module, and the
# ones linked into sqlean and apsw. A loadable extension keeps the API table of the SQLite that
# loaded it in a global (every SQLite extension does, SQLITE_EXTENSION_INIT1), so the same file
# loaded by a second library would route the first library's calls into the second: a crash.
# Each binding after the first therefore gets its own copy of the file (dlopen maps a copy as a
# separate library with its own globals), in a temporary directory removed at exit.
_copies: dict = {}  # (binding module, source path) -> path loaded for that binding
_first_binding: dict = {}  # source path -> the binding module that loads it in place
_copy_dir: list = []


def _binding(conn) -> str:
    return type(conn).__module__.split(".")[0]


def _path_for(conn, path: str) -> str:
    binding = _binding(conn)
    owner = _first_binding.setdefault(path, binding)
    if owner == binding:
        return path
    key = (binding, path)
    if key not in _copies:
        import atexit
        import shutil
        import tempfile

        if not _copy_dir:
            _copy_dir.append(tempfile.mkdtemp(prefix="sqlite_vindex-"))
            atexit.register(shutil.rmtree, _copy_dir[0], True)
        src = next((path + s for s in _SUFFIXES if os.path.isfile(path + s)), path)
        suffix = next((s for s in _SUFFIXES if src.endswith(s)), "")
        folder = os.path.join(_copy_dir[0], f"{len(_copies)}-{binding}")
        os.makedirs(folder)
        shutil.copyfile(src, os.path.join(folder, "vindex" + suffix))
        _copies[key] = os.path.join(folder, "vindex")
    return _copies[key]


def load(conn, path: str | None = None) -> None:
    """Load vindex into `conn`: a connection of Python's sqlite3, of sqlean (sqlean.py) or of apsw.

    Extension loading is switched on only for this call and off again afterwards, so SQL run on
    the connection later cannot load extensions (`load_extension()` in SQL stays disabled).
    `path` defaults to `loadable_path()`.

    Raises LoadError when the connection's module cannot load extensions at all (a Python
    built without them), naming what to use instead.

    Connections of different bindings may be used side by side in one process (each links its
    own SQLite): the second binding loads a private copy of the extension file, because one
    loaded copy can serve only one SQLite library.
    """
    enable = getattr(conn, "enable_load_extension", None)
    load_extension = getattr(conn, "load_extension", None)
    if enable is None or load_extension is None:
        raise LoadError(_NO_LOADING.format(cls=_describe(conn)))
    if path is None:
        path = loadable_path()
    else:
        path = _strip_suffix(os.fspath(path))
    try:
        enable(True)
    except Exception as e:  # e.g. NotSupportedError from a binding that refuses at run time
        raise LoadError(f"{_NO_LOADING.format(cls=_describe(conn))} ({e})") from e
    try:
        load_extension(_path_for(conn, path) if _exists(Path(path)) else path)
    except Exception as e:
        if not _exists(Path(path)) and not Path(path).is_file():
            hint = (
                "run `make loadable` in the repository first"
                if "dist" in Path(path).parts
                else "reinstall sqlite-vindex or fix VINDEX_PATH"
            )
            message = f"{e}: vindex extension not found at {path}.so ({hint})"
            try:
                better = type(e)(message)
            except Exception:
                better = LoadError(message)
            raise better from e
        raise
    finally:
        enable(False)


def _sqlite3_can_load() -> bool:
    try:
        import sqlite3
    except ImportError:
        return False
    return hasattr(sqlite3.Connection, "enable_load_extension")


def can_load_extensions() -> bool:
    """Whether this Python's stdlib sqlite3 can load extensions (pyenv builds often cannot)."""
    return _sqlite3_can_load()


__all__ = ["LoadError", "can_load_extensions", "load", "loadable_path"]
