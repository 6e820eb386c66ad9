# `make test` and `make bench` each create .venv when it is missing, install the project, then run.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch, installed first only when the venv has no torch (override for a GPU:
# `make test TORCH_SPEC="torch==2.5.1"` or install your own torch into .venv first).
TORCH_SPEC ?= torch==2.13.0
ELMO_BENCH_DATA ?= ../shared/data
export ELMO_BENCH_DATA

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[test]"
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python run_benchmarks.py

clean:
	rm -rf $(VENV) build *.egg-info
