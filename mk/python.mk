# The Python package (python/): `make wheel` builds dist/sqlite_vindex-<version>-py3-none-<platform>.whl
# with the compiled extension inside; `make test-package` (part of `make test`) installs it into
# fresh venvs (Debian's python3 and the pyenv python3 that cannot load extensions) and runs KNN
# queries through sqlite3, sqlean and apsw connections.
.PHONY: wheel sdist test-package bench-bulk

PACKAGE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

# pip drives the build backend in python/build_backend (it needs nothing from PyPI); the backend
# runs `cargo build --release --features loadable --lib`, a no-op after `make loadable`.
wheel: loadable
	rm -f dist/sqlite_vindex-$(PACKAGE_VERSION)-*.whl
	$(PYTHON_SYS) -m pip wheel --quiet --disable-pip-version-check --no-deps -w dist ./python
	@ls dist/sqlite_vindex-$(PACKAGE_VERSION)-*.whl

sdist:
	$(PYTHON_SYS) -c 'import sys; sys.path.insert(0, "python/build_backend"); import vindex_build as b; print("dist/" + b.build_sdist("dist"))'

test-package: wheel venv
	VINDEX_WHEEL="$$(ls dist/sqlite_vindex-$(PACKAGE_VERSION)-*.whl)" $(PY) -m pytest -q tests/python/test_package.py

# Bulk loading vs a hand-written executemany (not part of make test).
bench-bulk: loadable venv
	$(PY) python/benchmarks/bulk_insert.py

TEST_EXTRA += test-package
