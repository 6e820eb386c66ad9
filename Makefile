# `make test` and `make bench` each create .venv when it is missing, install the project, then run.
PYTHON ?= python3
VENV ?= .venv
# torch, installed first only when the venv has no torch. From PyPI on Linux this is the CUDA
# build; for a CPU-only venv install torch into .venv first, as the README shows
# (`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`).
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
