# Training traces for the learned healer: `lsmedic-bench record` over a dataset of runs.
#
#   make traces                 build lsmedic-bench (release) and record the full training set
#                               (workload tasks x faults x healer modes, about 35 min)
#   make traces DATASET=small   the quick development set (~5 min)
#   make traces-plan            print the runs of DATASET without recording
#
# Traces go to TRACES_DIR (git-ignored; `make models-train` reads the same folder), with
# dataset.json (plan, wall times, sizes) and DIGEST (sha256 over the trace files). See
# healer/train/README.md "Traces" and healer/train/dataset.py.

DATASET ?= full
TRACES_DIR ?= $(CURDIR)/target/traces
TRACES_BENCH = $(TARGET_DIR)/release/lsmedic-bench

.PHONY: traces traces-plan

traces: setup
	$(CARGO) build --release -p lsmedic-bench
	$(PYTHON) healer/train/dataset.py --dataset $(DATASET) --bench "$(TRACES_BENCH)" --out "$(TRACES_DIR)"

traces-plan:
	$(PYTHON) healer/train/dataset.py --dataset $(DATASET) --plan
