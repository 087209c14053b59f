# tfloss: every target builds its own virtual environment, so a fresh clone needs only
# Python 3.10+ and make.
PYTHON   ?= python3
TF       ?= 2.21.0
EXAMPLES ?= 60
VENV     := .venv-tf$(TF)
STAMP    := $(VENV)/.installed
PY       := $(VENV)/bin/python

.PHONY: test parity bench figures clean

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

## make bench: speed ratios against TensorFlow, taken in one run.
bench: $(STAMP)
	$(PY) -m parity.bench

figures: $(STAMP)
	$(PY) -m pip install --quiet -e ".[figures]"
	$(PY) docs/figures.py

clean:
	rm -rf .venv-tf* reports/*.tmp
	find tfloss -name '*.nbi' -delete -o -name '*.nbc' -delete  # numba's compile cache
