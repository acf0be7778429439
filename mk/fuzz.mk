# Coverage-guided fuzzing (cargo-fuzz + libFuzzer, nightly toolchain, AddressSanitizer);
# targets in fuzz/fuzz_targets, seed corpora in fuzz/corpus (small, committed). See
# docs/RELIABILITY.md.
.PHONY: fuzz-tools fuzz-build test-fuzz stress-fuzz

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TOOLCHAIN ?= nightly
FUZZ_TARGETS := vector_parse sql_functions create_args shadow_corrupt
# Seconds per target in `make test`; runs per target in `make stress` (10^7 in all).
FUZZ_SECONDS ?= 20
FUZZ_STRESS_RUNS_vector_parse ?= 7000000
FUZZ_STRESS_RUNS_create_args ?= 3000000
FUZZ_STRESS_RUNS_sql_functions ?= 900000
FUZZ_STRESS_RUNS_shadow_corrupt ?= 30000
# No allocation stacks: several times faster, and a crash is re-run with full reports anyway.
FUZZ_ASAN_OPTIONS ?= malloc_context_size=0:detect_leaks=1
# Builds go to a cache outside the work tree, so a fresh clone (CI) on the same machine
# recompiles only what changed; 16 codegen units build faster than cargo-fuzz's default of 1.
FUZZ_TARGET_DIR ?= $(HOME)/.cache/vindex/fuzz-target
FUZZ_FLAGS := --codegen-units 16 --target-dir $(FUZZ_TARGET_DIR)
# cargo-fuzz from crates.io (pinned) when the machine has none; the nightly toolchain via rustup.
CARGO_FUZZ = $(shell command -v cargo-fuzz 2>/dev/null || echo $(HOME)/.cargo/bin/cargo-fuzz)

fuzz-tools:
	@rustup toolchain list | grep -q '^$(FUZZ_TOOLCHAIN)' || rustup toolchain install --profile minimal $(FUZZ_TOOLCHAIN)
	@$(CARGO_FUZZ) fuzz --version 2>/dev/null | grep -q '$(CARGO_FUZZ_VERSION)' || \
	  $(CARGO) install --locked --version $(CARGO_FUZZ_VERSION) cargo-fuzz

fuzz-build: fuzz-tools
	RUSTUP_TOOLCHAIN=$(FUZZ_TOOLCHAIN) $(CARGO_FUZZ) fuzz build $(FUZZ_FLAGS)

# Each target on a scratch copy of its corpus (fuzz/corpus-work, ignored by git) for
# FUZZ_SECONDS; a crash fails the build and leaves its input in fuzz/artifacts/<target>/.
test-fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus-work/$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) RUSTUP_TOOLCHAIN=$(FUZZ_TOOLCHAIN) $(CARGO_FUZZ) fuzz run $(FUZZ_FLAGS) $$t \
	    fuzz/corpus-work/$$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    2>fuzz/corpus-work/$$t.log || { tail -60 fuzz/corpus-work/$$t.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' fuzz/corpus-work/$$t.log; \
	done

stress-fuzz: fuzz-build
	@set -e; $(foreach t,$(FUZZ_TARGETS), \
	  mkdir -p fuzz/corpus-work/$(t); echo "fuzz $(t): $(FUZZ_STRESS_RUNS_$(t)) runs"; \
	  ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) RUSTUP_TOOLCHAIN=$(FUZZ_TOOLCHAIN) $(CARGO_FUZZ) fuzz run $(FUZZ_FLAGS) $(t) \
	    fuzz/corpus-work/$(t) fuzz/corpus/$(t) -- -runs=$(FUZZ_STRESS_RUNS_$(t)) -print_final_stats=1 \
	    2>fuzz/corpus-work/$(t).log || { tail -60 fuzz/corpus-work/$(t).log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' fuzz/corpus-work/$(t).log;)

TEST_EXTRA += test-fuzz
STRESS_EXTRA += stress-fuzz
