# bench/cache.py alone (`make bench` runs it too, after the other scripts): the process-wide
# shared cache of issue #6 measured as ratios in one run (~10 min on 2 cores: it builds a
# 1M x 384 table). Extra options: make bench-cache BENCH_CACHE_ARGS='--parts 1,2 --trials 10'
BENCH_CACHE_ARGS ?=

.PHONY: bench-cache

bench-cache: loadable bench/.venv/.ok
	bench/.venv/bin/python bench/cache.py $(BENCH_CACHE_ARGS)

# bench/hnsw.py alone (`make bench` runs it too): HNSW of issue #7 against hnswlib, FAISS HNSW,
# vectorlite and sqlite-vec 0.1.10a4's DiskANN (~35 min on 2 cores for MiniLM and 100k x 128).
# Extra options: make bench-hnsw BENCH_HNSW_ARGS='--sizes minilm,100k,1m --diskann-rows 0'
BENCH_HNSW_ARGS ?=

.PHONY: bench-hnsw

bench-hnsw: loadable bench/.venv/.ok
	bench/.venv/bin/python bench/hnsw.py $(BENCH_HNSW_ARGS)
