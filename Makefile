# lsmedic — set-up, tests and benchmarks from a fresh Debian machine that has only Rust.
#
#   make test    install what is missing, build once, run every test (what CI runs)
#   make bench   install what is missing, run the benchmarks
#
# One compiled RocksDB serves tests and benchmarks: tests run with `--release` and benches use
# the `bench` profile, which inherits `release` with identical settings, so cargo reuses the
# ~12-minute C++ build. Point CARGO_TARGET_DIR at a cache outside the clone to keep it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PYTHON ?= python3

ORT_VERSION := 1.31.1
ORT_DIR := $(CURDIR)/.ort
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.$(ORT_VERSION)
# A user's own ORT_DYLIB_PATH wins over the project-local copy.
ORT_DYLIB_PATH ?= $(ORT_LIB)
export ORT_DYLIB_PATH

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
LOOM_TARGET_DIR := $(TARGET_DIR)/loom

.PHONY: all setup libclang onnxruntime build test test-rust test-loom bench lint fmt clean-ort

all: test

## Feature fragments --------------------------------------------------------------------
# One fragment per area (C ABI, fuzzing, traces, models), each adding its own targets and
# appending prerequisites to TEST_EXTRA (run by `make test` after the Rust suites).
TEST_EXTRA :=
-include $(sort $(wildcard mk/*.mk))

## Set-up -------------------------------------------------------------------------------

setup: libclang onnxruntime

# bindgen (librocksdb-sys) needs libclang at build time.
libclang:
	@if ! ldconfig -p | grep -q 'libclang[-.0-9]*\.so'; then \
		echo "installing libclang-dev (needed by librocksdb-sys' bindgen)"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libclang-dev >/dev/null; \
	fi

onnxruntime:
	@if [ -f "$(ORT_DYLIB_PATH)" ]; then :; \
	elif [ "$(ORT_DYLIB_PATH)" != "$(ORT_LIB)" ]; then \
		echo "ORT_DYLIB_PATH=$(ORT_DYLIB_PATH) does not exist" >&2; exit 1; \
	else \
		$(PYTHON) scripts/fetch_onnxruntime.py "$(ORT_DIR)"; \
	fi

## Build and test -----------------------------------------------------------------------

build: setup
	$(CARGO) build --release --workspace --all-targets

test: setup test-rust test-loom $(TEST_EXTRA)
	@echo "make test: all suites passed"

test-rust:
	$(CARGO) test --release --workspace

# Loom model-checks the lock-free rings. It needs `--cfg loom` for every crate it builds, so it
# uses its own target dir and only the RocksDB-free telemetry crate (builds in seconds).
test-loom:
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$(LOOM_TARGET_DIR)" \
		$(CARGO) test --release -p lsmedic-telemetry --lib -- loom

## Benchmarks ---------------------------------------------------------------------------

# `make bench`: a quick look, not an evaluation: lsmedic-bench compare on six of the shipped
# scenarios (two config, four latent), every available healer mode, one run each (same seed,
# fresh database each), JSON + HTML under target/lsmedic-report/ in the repo. One run per mode
# proves nothing about healing: `make eval` (mk/eval.mk) repeats every scenario and gives
# confidence intervals.
BENCH_SCENARIOS ?= $(addprefix scenarios/,write-burst.toml tiny-memtables.toml tiny-cache.toml \
	io-neighbour.toml growing-values.toml noisy-cf-neighbour.toml)
BENCH_TIME_SCALE ?= 0.4
BENCH_REPEAT ?= 1
BENCH_REPORT_DIR := $(CURDIR)/target/lsmedic-report
bench: setup
	$(CARGO) build --release -p lsmedic-bench
	$(TARGET_DIR)/release/lsmedic-bench compare $(BENCH_SCENARIOS) --repeat $(BENCH_REPEAT) \
		--time-scale $(BENCH_TIME_SCALE) --out $(BENCH_REPORT_DIR)

# The criterion micro-benchmarks (engine overhead, ring push, throttle).
.PHONY: bench-micro
bench-micro: setup
	$(CARGO) bench --workspace

## Hygiene ------------------------------------------------------------------------------

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace

fmt:
	$(CARGO) fmt --all

clean-ort:
	rm -rf "$(ORT_DIR)"
