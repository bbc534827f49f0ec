# Learned healer models (healer/train, helper-train's fragment).
#
#   make models        record the training traces (`make traces`), train the detector, the cascade
#                      GNN and the policy, export them to healer/models/ (ONNX + golden vectors +
#                      manifest.json) and regenerate healer/train/REPORT.md's model sections
#   make models-train  the same without recording (uses the traces already in TRACES_DIR)
#   make report        regenerate healer/train/REPORT.md from healer/train/results/, running the
#                      real-engine `compare` of learned vs rules vs off (~15-20 min, cached per
#                      models+scenarios) and the tick-cost measurement
#   make test-train    the pipeline's unit tests (synthetic traces; part of `make test`)
#
# Python lives in a git-ignored venv at the repository root, created with the pinned
# healer/train/requirements.txt when missing or when the requirements change.

TRAIN_DIR := $(CURDIR)/healer/train
VENV := $(CURDIR)/.venv
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.lsmedic-train-requirements
TRACES_DIR ?= $(CURDIR)/target/traces
MODELS_DIR := $(CURDIR)/healer/models

.PHONY: models models-train report test-train train-venv

train-venv: $(VENV_STAMP)

$(VENV_STAMP): $(TRAIN_DIR)/requirements.txt
	@if [ ! -x "$(VENV_PY)" ]; then $(PYTHON) -m venv "$(VENV)"; fi
	"$(VENV_PY)" -m pip install --quiet --disable-pip-version-check -r "$(TRAIN_DIR)/requirements.txt"
	cp "$(TRAIN_DIR)/requirements.txt" "$(VENV_STAMP)"

# In order (recording is timing-sensitive: nothing else runs beside it).
models:
	$(MAKE) --no-print-directory traces
	$(MAKE) --no-print-directory models-train

models-train: train-venv onnxruntime
	"$(VENV_PY)" "$(TRAIN_DIR)/train_models.py" --traces "$(TRACES_DIR)" --out "$(MODELS_DIR)" --digest-file "$(TRACES_DIR)/DIGEST"
	$(MAKE) --no-print-directory report REPORT_ARGS=--no-compare
	@echo "models trained; run 'make eval-clean eval report' for the real-engine evaluation in REPORT.md"

# `make report` quotes the real-engine evaluation of `make eval` (run that first; its report is
# read from target/lsmedic-report/eval/, else from the committed slim copy) and measures the
# tick cost. REPORT_ARGS=--no-compare leaves both out (what `make models` does: an evaluation
# made with the previous models does not speak for the new ones).
REPORT_ARGS ?=
report: train-venv onnxruntime
	CARGO_TARGET_DIR="$(TARGET_DIR)" "$(VENV_PY)" "$(TRAIN_DIR)/make_report.py" $(REPORT_ARGS)

test-train: train-venv
	cd "$(TRAIN_DIR)" && "$(VENV_PY)" -m unittest discover -s tests -t .

TEST_EXTRA += test-train
