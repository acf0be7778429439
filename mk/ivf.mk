# bench/ivf.py (issue #8): vindex IVF vs FAISS IVF indexes and the quantized scans of
# sqlite-vec 0.1.10a4 and sqliteai-vector, one run (~15 min on 2 cores with the 1M x 128 set).
# `make bench` runs it too. Extra options: make bench-ivf BENCH_IVF_ARGS='--sizes minilm'
BENCH_IVF_ARGS ?=

.PHONY: bench-ivf

bench-ivf: loadable bench/.venv/.ok
	bench/.venv/bin/python bench/ivf.py $(BENCH_IVF_ARGS)

