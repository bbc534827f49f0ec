# Evaluation of the healer on the real engine: every shipped scenario, repeated over the same
# seeds in every healer mode (off, auto, rules, learned), with medians, 95 % intervals and
# paired score differences per scenario, per family (config / latent) and overall.
#
#   make eval                            report in target/lsmedic-report/eval/ (252 runs of
#                                        21 scenarios, ~63 min from scratch on 2 cores;
#                                        228 runs of 19 took 57 min). `disk-full` mounts a
#                                        tmpfs: run as root, or leave it out with
#                                        EVAL_SCENARIOS
#   make eval EVAL_REPEAT=5              narrower intervals, ~95 min
#
# The figures are latencies: run it on an otherwise idle machine (a compile beside it, even
# niced, moves p99s by milliseconds). With 3 seeds a per-scenario interval is wide (Student-t
# with 2 degrees of freedom); 4 seeds (~76 min) narrow it by about a third.
#
# Each finished run is kept in EVAL_CACHE by the content of its scenario file, seed, mode,
# time scale and models, so an interrupted evaluation resumes where it stopped and a report can
# be assembled from runs made in several sittings. The cache does not know about code changes:
# `make eval-clean` after changing the engine, the healer or the bench.

EVAL_REPEAT ?= 3
EVAL_TIME_SCALE ?= 0.2
EVAL_SCENARIOS ?= $(sort $(wildcard scenarios/*.toml))
EVAL_DIR := $(CURDIR)/target/lsmedic-report/eval
EVAL_CACHE ?= $(EVAL_DIR)/runs

.PHONY: eval eval-clean

eval: setup
	$(CARGO) build --release -p lsmedic-bench
	$(TARGET_DIR)/release/lsmedic-bench compare $(EVAL_SCENARIOS) \
		--repeat $(EVAL_REPEAT) --time-scale $(EVAL_TIME_SCALE) \
		--cache $(EVAL_CACHE) --out $(EVAL_DIR) --quiet

eval-clean:
	rm -rf "$(EVAL_CACHE)"
