## Fuzzing -----------------------------------------------------------------------------
# cargo-fuzz targets in two crates, both excluded from the workspace:
#   fuzz/         RocksDB-free: ring protocol (single thread + threads), healer configuration
#   fuzz/engine/  link the engine: scenario parsing (text + structured), engine/facade
#                 configuration, C ABI call sequences
#
#   make fuzz-build                      build every target (installs cargo-fuzz when missing)
#   make fuzz-smoke                      build, run every target FUZZ_SECONDS (30) s, replay
#                                        fuzz/regressions/; fails on any crash
#   make fuzz-run FUZZ_TARGET=ring FUZZ_SECONDS=600   one target, longer
#   make fuzz-lint                       clippy (-D warnings) over both crates, stable
#                                        toolchain, RocksDB linked from `make test`'s build
#
# Not part of `make test` (several minutes). Corpora grow in fuzz/corpus/<target>/ and crashes
# land in fuzz/artifacts/<target>/ (both git-ignored); committed seeds are in fuzz/seeds/<target>/
# and dictionaries in fuzz/dicts/<target>.dict.

FUZZ_SECONDS ?= 30
FUZZ_TOOLCHAIN ?= nightly
# Outside the clone so the (instrumented) build survives clones and `git clean`.
FUZZ_TARGET_DIR ?= $(HOME)/.cache/lsmedic/fuzz-target
FUZZ_BIN_DIR := $(FUZZ_TARGET_DIR)/x86_64-unknown-linux-gnu/release
FUZZ_LIGHT_DIR := $(CURDIR)/fuzz
FUZZ_ENGINE_DIR := $(CURDIR)/fuzz/engine
FUZZ_LIGHT_TARGETS := ring ring_threads healer_config
FUZZ_ENGINE_TARGETS := scenario_text scenario_structured engine_config ffi_calls
FUZZ_TARGETS := $(FUZZ_LIGHT_TARGETS) $(FUZZ_ENGINE_TARGETS)
# Extra read-only seed directories, as target:dir words.
FUZZ_EXTRA_SEEDS := scenario_text:$(CURDIR)/scenarios
# Extra libFuzzer flags, as target:flag words. ffi_calls needs long inputs from the start
# (a call sequence reaches deep states only with dozens of calls).
FUZZ_EXTRA_FLAGS := ffi_calls:-max_len=2048 ffi_calls:-len_control=0
# libFuzzer options of every run: a hang of 60 s or 4 GiB of RSS is a finding too.
FUZZ_FLAGS ?= -timeout=60 -rss_limit_mb=4096 -print_final_stats=1
# What `cargo fuzz run` sets too: ASan's ODR check reports globals that Rust's std and the
# statically linked C/C++ libraries both define, which is not a bug of ours.
FUZZ_ASAN_OPTIONS ?= detect_odr_violation=0

# The engine targets link RocksDB. By default cargo-fuzz compiles it with AddressSanitizer
# into FUZZ_TARGET_DIR (once: ~20 min on 2 cores, kept there), so a C-ABI misuse that makes
# RocksDB's C++ touch freed or out-of-bounds memory is caught too. FUZZ_ROCKSDB_PREBUILT=1
# instead links the uninstrumented static library `make test` already built (librocksdb-sys
# honours ROCKSDB_LIB_DIR; same pinned version and features): a build in minutes, with
# sanitizer checks on Rust code only. Switching between the two rebuilds librocksdb-sys.
FUZZ_ROCKSDB_PREBUILT ?=
FUZZ_ROCKSDB_LIB_DIR ?= $(if $(FUZZ_ROCKSDB_PREBUILT),$(shell ls -t \
	$(TARGET_DIR)/release/build/librocksdb-sys-*/out/librocksdb.a \
	$(HOME)/.cache/lsmedic/target/release/build/librocksdb-sys-*/out/librocksdb.a \
	2>/dev/null | head -n 1 | xargs -r dirname))

FUZZ_CARGO := $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz

.PHONY: fuzz-tools fuzz-build fuzz-build-light fuzz-build-engine fuzz-unit fuzz-smoke fuzz-run fuzz-lint \
	fuzz-regressions

fuzz-tools:
	@if ! $(CARGO) +$(FUZZ_TOOLCHAIN) --version >/dev/null 2>&1; then \
		echo "fuzzing needs the $(FUZZ_TOOLCHAIN) toolchain (rustup toolchain install $(FUZZ_TOOLCHAIN))" >&2; \
		exit 1; \
	fi
	@if ! $(CARGO) fuzz --version >/dev/null 2>&1; then \
		echo "installing cargo-fuzz"; \
		$(CARGO) install cargo-fuzz --locked; \
	fi

fuzz-build: fuzz-build-light fuzz-build-engine

fuzz-build-light: fuzz-tools
	$(FUZZ_CARGO) build --fuzz-dir $(FUZZ_LIGHT_DIR) --target-dir $(FUZZ_TARGET_DIR)

fuzz-build-engine: fuzz-tools libclang
	@if [ -n "$(FUZZ_ROCKSDB_PREBUILT)" ] && [ -z "$(FUZZ_ROCKSDB_LIB_DIR)" ]; then \
		echo "FUZZ_ROCKSDB_PREBUILT: no librocksdb.a under $(TARGET_DIR) (run make build first)" >&2; \
		exit 1; \
	fi
	$(if $(FUZZ_ROCKSDB_LIB_DIR),ROCKSDB_LIB_DIR=$(FUZZ_ROCKSDB_LIB_DIR) ROCKSDB_STATIC=1,env -u ROCKSDB_LIB_DIR -u ROCKSDB_STATIC) \
		$(FUZZ_CARGO) build --fuzz-dir $(FUZZ_ENGINE_DIR) --target-dir $(FUZZ_TARGET_DIR)

# Runs one target: `$(call fuzz_one,TARGET,SECONDS)` (TARGET may be a shell variable);
# prints one summary line and leaves the fuzzer's exit status in $$status. Seed dirs are
# read; new inputs go to fuzz/corpus/TARGET. Written for the top Makefile's `-eu -o pipefail`.
define fuzz_one
	t=$(1); mkdir -p fuzz/corpus/$$t fuzz/artifacts/$$t; \
	dirs="fuzz/corpus/$$t"; \
	if [ -d fuzz/seeds/$$t ]; then dirs="$$dirs fuzz/seeds/$$t"; fi; \
	for pair in $(FUZZ_EXTRA_SEEDS); do \
		if [ "$${pair%%:*}" = "$$t" ] && [ -d "$${pair#*:}" ]; then dirs="$$dirs $${pair#*:}"; fi; \
	done; \
	for pair in $(FUZZ_EXTRA_FLAGS); do \
		if [ "$${pair%%:*}" = "$$t" ]; then dirs="$${pair#*:} $$dirs"; fi; \
	done; \
	dict=; if [ -f fuzz/dicts/$$t.dict ]; then dict=-dict=fuzz/dicts/$$t.dict; fi; \
	log=fuzz/artifacts/$$t/last-run.log; start=$$(date +%s); status=0; \
	ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) $(FUZZ_BIN_DIR)/$$t -max_total_time=$(2) $(FUZZ_FLAGS) \
		$$dict -artifact_prefix=fuzz/artifacts/$$t/ $$dirs >$$log 2>&1 || status=$$?; \
	secs=$$(( $$(date +%s) - start )); \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1 || true); \
	rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log | tail -n 1 || true); \
	cov=$$(grep -o 'cov: [0-9]*' $$log | tail -n 1 || true); \
	if [ $$status -eq 0 ]; then verdict=ok; else verdict="CRASH (exit $$status; see $$log)"; fi; \
	printf '%-20s %4ss %10s execs %7s/s  %-10s %s\n' $$t $$secs "$${execs:-?}" "$${rate:-?}" "$$cov" "$$verdict"
endef

# Unit tests of the shared helpers (structured edits, round-trip tolerance).
fuzz-unit: fuzz-tools
	$(CARGO) +$(FUZZ_TOOLCHAIN) test --manifest-path $(FUZZ_LIGHT_DIR)/Cargo.toml --lib \
		--target-dir $(FUZZ_TARGET_DIR)/unit

fuzz-smoke: fuzz-build fuzz-unit
	@echo "fuzz-smoke: each target $(FUZZ_SECONDS) s"
	@failed=; \
	for t in $(FUZZ_TARGETS); do \
		if [ ! -x $(FUZZ_BIN_DIR)/$$t ]; then echo "$$t: not built" >&2; failed="$$failed $$t"; continue; fi; \
		$(call fuzz_one,$$t,$(FUZZ_SECONDS)); \
		if [ $$status -ne 0 ]; then failed="$$failed $$t"; fi; \
	done; \
	$(MAKE) --no-print-directory fuzz-regressions || failed="$$failed regressions"; \
	if [ -n "$$failed" ]; then echo "fuzz-smoke: FAILED:$$failed" >&2; exit 1; fi; \
	echo "fuzz-smoke: no crash"

fuzz-run: fuzz-build
	@test -n "$(FUZZ_TARGET)" || { echo "usage: make fuzz-run FUZZ_TARGET=<$(FUZZ_TARGETS)>" >&2; exit 1; }
	@$(call fuzz_one,$(FUZZ_TARGET),$(FUZZ_SECONDS)); exit $$status

# Replays every saved reproducer (fuzz/regressions/<target>/*): each must run clean. A
# reproducer of a bug that is not fixed yet fails here, by design.
fuzz-regressions:
	@failed=; \
	for dir in fuzz/regressions/*/; do \
		[ -d "$$dir" ] || continue; t=$$(basename $$dir); \
		for f in $$dir*; do \
			case $$f in *.md) continue;; esac; [ -f "$$f" ] || continue; \
			if ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) $(FUZZ_BIN_DIR)/$$t $$f >/dev/null 2>&1; then \
				echo "regression $$f: ok"; \
			else echo "regression $$f: CRASH"; failed="$$failed $$f"; fi; \
		done; \
	done; \
	[ -z "$$failed" ]

# Clippy over the fuzz crates (excluded from the workspace, so `make lint` does not see them).
# The engine crate's lib and targets are checked (it has no tests of its own: the bench code it
# links is tested in its own package). RocksDB comes prebuilt from `make test`'s target dir (no
# C++ build here).
FUZZ_LINT_TARGET_DIR ?= $(HOME)/.cache/lsmedic/fuzz-lint
fuzz-lint:
	cd $(FUZZ_LIGHT_DIR) && CARGO_TARGET_DIR=$(FUZZ_LINT_TARGET_DIR) $(CARGO) clippy --release --all-targets -- -D warnings
	@lib=$$( (ls -t $(TARGET_DIR)/release/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null || true) | head -n 1 | xargs -r dirname); \
	if [ -z "$$lib" ]; then echo "fuzz-lint: no librocksdb.a under $(TARGET_DIR) (run make test first)" >&2; exit 1; fi; \
	cd $(FUZZ_ENGINE_DIR) && ROCKSDB_LIB_DIR=$$lib ROCKSDB_STATIC=1 CARGO_TARGET_DIR=$(FUZZ_LINT_TARGET_DIR)-engine \
		$(CARGO) clippy --release --lib --bins -- -D warnings
