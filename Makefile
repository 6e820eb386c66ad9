# `make test`, `make bench` and `make curves` each create .venv when it is missing, install the project,
# then run (`make curves` adds the transformer extra and needs `make bench`'s standard run first).
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
TRANSFORMER_STAMP := $(VENV)/.installed-transformer

.PHONY: test bench curves install clean

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

$(TRANSFORMER_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[test,transformer]"
	touch $@

curves: $(TRANSFORMER_STAMP)
	$(BIN)/elmo-bench curves all

clean:
	rm -rf $(VENV) build *.egg-info
