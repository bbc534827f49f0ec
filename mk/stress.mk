# Crash-and-corruption stress test: lsmedic-stress (bench/src/stress/) runs child processes
# that write with synced writes, change options, flush, compact, checkpoint and rebuild under
# the rules healer; it kills each with SIGKILL (often mid-rebuild), damages SST files between
# children, and after every kill checks every key against its expected-state model.
#
#   make stress                          STRESS_DURATION (30m) with a fresh seed, printed so a
#                                        failure can be replayed: make stress STRESS_SEED=N
#   make stress STRESS_DURATION=5m STRESS_CHECKPOINTS=on
#   make test-stress-short               ~75 s, fixed seed (part of `make test`)
#
# A violation stops the run with the seed, the iteration and the database kept (the path is
# printed; run log in stress.log there); the exit status is then non-zero. STRESS_DIR keeps
# the database of a passing run too. The run takes both cores: nothing timing-sensitive
# (make eval, make traces) beside it.

STRESS_DURATION ?= 30m
# Empty: a fresh seed per run, printed first.
STRESS_SEED ?=
STRESS_CHECKPOINTS ?= mixed
STRESS_DIR ?=
STRESS_ARGS ?=
STRESS_SHORT_DURATION ?= 75s
STRESS_SHORT_SEED ?= 20261207
STRESS_BIN = $(TARGET_DIR)/release/lsmedic-stress

.PHONY: stress stress-build test-stress-short

stress-build: setup
	$(CARGO) build --release -p lsmedic-bench --bins

stress: stress-build
	@seed="$(STRESS_SEED)"; \
	if [ -z "$$seed" ]; then seed=$$(( $$(od -An -N4 -tu4 /dev/urandom) % 1000000000 )); fi; \
	echo "make stress: seed $$seed, $(STRESS_DURATION), checkpoints $(STRESS_CHECKPOINTS) (replay: make stress STRESS_SEED=$$seed)"; \
	"$(STRESS_BIN)" --seed "$$seed" --duration "$(STRESS_DURATION)" \
		--checkpoints "$(STRESS_CHECKPOINTS)" --quiet --json \
		$(if $(STRESS_DIR),--dir "$(STRESS_DIR)") $(STRESS_ARGS)

test-stress-short: stress-build
	"$(STRESS_BIN)" --seed $(STRESS_SHORT_SEED) --duration $(STRESS_SHORT_DURATION) \
		--checkpoints mixed --quiet

TEST_EXTRA += test-stress-short
