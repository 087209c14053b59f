# tfloss: every target builds its own virtual environment, so a fresh clone needs only
# Python 3.10+ and make.
PYTHON   ?= python3
TF       ?= 2.21.0
EXAMPLES ?= 60
VENV     := .venv-tf$(TF)
STAMP    := $(VENV)/.installed
PY       := $(VENV)/bin/python
# The bench has its own environment: the peers it times (PyTorch, JAX/optax) never enter the
# library's or the tests' environment. torch 2.13.0 is the CPU build.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PY    := $(BENCH_VENV)/bin/python
BENCH_ARGS  ?=

.PHONY: test parity golden bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,parity]" "tensorflow==$(TF)"
	touch $(STAMP)

## make test: unit tests (no TensorFlow) and the parity suite (real TensorFlow).
test: $(STAMP)
	$(PY) -m pytest tests parity -q -p no:cacheprovider

## make parity: the conformance report against real TensorFlow, in reports/.
parity: $(STAMP)
	$(PY) -m parity --examples $(EXAMPLES)

## make golden: record TF's outcome of every catalogue run into tfloss/conformance/golden/
## (what `python -m tfloss.conformance` replays without TensorFlow).
golden: $(STAMP)
	$(PY) -m parity.record

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -e ".[test,figures]" "tensorflow==$(TF)" "torch==2.13.0" \
		jax jaxlib optax numba
	touch $(BENCH_STAMP)

## make bench: tfloss against TF, PyTorch, JAX/optax and NumPy, taken in one run; writes
## reports/bench.{md,json} and docs/figures/bench.png. `make bench BENCH_ARGS=--quick` for a short run.
bench: $(BENCH_STAMP)
	$(BENCH_PY) -m parity.bench $(BENCH_ARGS)

figures: $(STAMP)
	$(PY) -m pip install --quiet -e ".[figures]"
	$(PY) docs/figures.py

clean:
	rm -rf .venv-tf* $(BENCH_VENV) reports/*.tmp
	find tfloss -name '*.nbi' -delete -o -name '*.nbc' -delete  # numba's compile cache
