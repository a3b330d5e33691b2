# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv (torch 2.13.0, then this package with its test extras) on first use.
# torch comes from your package index: a CPU-only build where the index serves one, else (PyPI on Linux) the CUDA
# build of several GB. For CPU only: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.seedprints-installed

.PHONY: install demo test test-fast test-portability fuzz bench docs-bad-inputs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/seedprints demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# While working: the suite without the tests marked slow (they train or extract models); CI runs `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The tests whose numbers go through BLAS, under other OpenBLAS/MKL kernels and thread counts (as on other machines).
test-portability: $(STAMP)
	.ci/portability $(BIN)/python

# A longer hunt than the tests run: 20 times the examples, freshly drawn each time.
fuzz: $(STAMP)
	SEEDPRINTS_FUZZ_SCALE=20 $(BIN)/python -m pytest -q tests/test_fuzz.py

bench: $(STAMP)
	$(BIN)/python bench/bench_paper_test.py

docs-bad-inputs: $(STAMP)
	$(BIN)/python -m tests.bad_inputs --out docs/bad-inputs.md
