# bench/cache.py alone (`make bench` runs it too, after the other scripts): the process-wide
# shared cache of issue #6 measured as ratios in one run (~10 min on 2 cores: it builds a
# 1M x 384 table). Extra options: make bench-cache BENCH_CACHE_ARGS='--parts 1,2 --trials 10'
BENCH_CACHE_ARGS ?=

.PHONY: bench-cache

bench-cache: loadable bench/.venv/.ok
	bench/.venv/bin/python bench/cache.py $(BENCH_CACHE_ARGS)
