# Reliability suite (docs/RELIABILITY.md): out-of-memory sweeps, kill -9 loops, WAL readers
# during writes. `make test` runs a bounded pass; `make stress` the long one.
.PHONY: test-oom stress-oom stress-crash stress-concurrency

# SQLite's allocator fails at the N-th call of each statement (tests/oom.rs, release build:
# the sweeps take minutes in a debug build).
test-oom:
	$(CARGO) test --release --test oom

stress-oom:
	VINDEX_OOM_FULL=1 $(CARGO) test --release --test oom -- --nocapture

# 200 kill -9 rounds (100 per journal mode: WAL, DELETE), and 1 writer + 4 readers for 5 minutes.
stress-crash: loadable venv
	VINDEX_CRASH_ROUNDS=100 $(PY) -m pytest -q tests/python/test_crash.py

stress-concurrency: loadable venv
	VINDEX_CONCURRENCY_SECONDS=300 $(PY) -m pytest -q tests/python/test_concurrency.py

TEST_EXTRA += test-oom
STRESS_EXTRA += stress-oom stress-crash stress-concurrency
