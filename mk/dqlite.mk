# vindex in a dqlite cluster (docs/SCALE_OUT.md).
#
#   make dqlite-node   dist/vindex-dqlite-node: a dqlite node with vindex on every connection
#   make test-dqlite   3 nodes on loopback: KNN == brute force on every node, kill -9 of the
#                      leader during writes, restart and catch-up, second failover
#   make bench-dqlite  KNN QPS and insert rate through the cluster vs the same table local
#
# Debian's libdqlite-dev (the C library the node links) and go-dqlite (the `dqlite` shell and
# dqlite-demo, used by the tests as clients and as an existing host) are installed with
# apt-get when missing.

DQLITE_NODE := dist/vindex-dqlite-node
DQLITE_PRELOAD := dist/vindex-dqlite-preload.so
DQLITE_DEBS := libdqlite-dev go-dqlite
DQLITE_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -D_FORTIFY_SOURCE=2
# The Python client (dqlite-dbapi) needs Python >= 3.13, which Debian 12 does not ship: use
# DQLITE_PY if given, else the first python3.13+ found on PATH or in pyenv; without one, the
# test says so and runs without that client (the rest of the test does not need it).
DQLITE_PY ?= $(firstword $(foreach v,3.14 3.13,$(shell command -v python$(v) >/dev/null 2>&1 && python$(v) -c 'import sys' 2>/dev/null && command -v python$(v))) $(wildcard $(HOME)/.pyenv/versions/3.1[3-9]*/bin/python3))
DQLITE_VENV := tests/dqlite/.venv

.PHONY: dqlite-node dqlite-deps test-dqlite bench-dqlite

dqlite-deps:
	@missing=; for p in $(DQLITE_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	  { $$sudo apt-get update -qq >/dev/null && $$sudo apt-get install -y -qq $$missing >/dev/null; } || \
	  { echo "could not install$$missing" >&2; exit 1; }; \
	fi

$(DQLITE_NODE): tools/dqlite-node/node.c tools/dqlite-node/wire.c tools/dqlite-node/wire.h | dqlite-deps
	@mkdir -p dist
	$(CC) $(DQLITE_CFLAGS) $$(pkg-config --cflags dqlite sqlite3) -o $@.tmp \
	  tools/dqlite-node/node.c tools/dqlite-node/wire.c $$(pkg-config --libs dqlite sqlite3) -ldl -lpthread
	@mv -f $@.tmp $@

$(DQLITE_PRELOAD): tools/dqlite-node/preload.c | dqlite-deps
	@mkdir -p dist
	$(CC) $(DQLITE_CFLAGS) -fPIC -shared -o $@.tmp tools/dqlite-node/preload.c -ldl
	@mv -f $@.tmp $@

dqlite-node: loadable $(DQLITE_NODE) $(DQLITE_PRELOAD)

$(DQLITE_VENV)/.ok: tests/dqlite/requirements.txt
	@if [ -n "$(DQLITE_PY)" ]; then \
	  rm -rf $(DQLITE_VENV) && $(DQLITE_PY) -m venv $(DQLITE_VENV) && \
	  $(DQLITE_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/dqlite/requirements.txt && \
	  touch $@; \
	else \
	  echo "no Python >= 3.13 found (set DQLITE_PY=...): dqlite-dbapi will not be tested"; \
	fi

# timeout signals the whole process group (the nodes included) if the test overruns; the test
# also kills its nodes itself on every exit path.
test-dqlite: dqlite-node $(DQLITE_VENV)/.ok
	@dbapi=; [ -x $(DQLITE_VENV)/bin/python ] && dbapi="--dbapi-python $(DQLITE_VENV)/bin/python"; \
	  echo "timeout -k 10 300 $(PYTHON_SYS) tests/dqlite/test_cluster.py $$dbapi"; \
	  timeout -k 10 300 $(PYTHON_SYS) tests/dqlite/test_cluster.py $$dbapi

# In the benchmarks' venv (numpy; made by the Makefile's bench/.venv/.ok rule).
bench-dqlite: dqlite-node bench/.venv/.ok
	timeout -k 10 900 bench/.venv/bin/python bench/dqlite.py

TEST_EXTRA += test-dqlite
