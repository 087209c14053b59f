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

.PHONY: test parity golden golden-kernels frameworks bench figures matrix clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,parity]" "tensorflow==$(TF)"
	touch $(STAMP)

## make test: unit tests (no TensorFlow) and the parity suite (real TensorFlow).
test: $(STAMP)
	$(PY) -m pytest tests parity -q -p no:cacheprovider

## make parity: the conformance report against real TensorFlow, in reports/.
## make parity MODE=function (TF inside tf.function), MODE=deterministic (TF with op
## determinism, tfloss under the "cpu-deterministic" target) or MODE=xla (TF under
## tf.function(jit_compile=True), gradient tapes included, against the "xla-cpu" target; the four
## cross-entropy ops only) writes reports/parity-MODE.{md,json}.
## SAMPLE=N runs every N-th catalogue case (the function and xla modes trace, and xla compiles,
## one program per case: slow). TF keeps every program XLA compiles, about 14 memory maps each, so
## one process would pass Linux's vm.max_map_count (65530): MODE=xla runs its cases in fresh child
## processes, 2000 runs each (parity/processes.py).
MODE   ?= eager
SAMPLE ?= 1
parity: $(STAMP)
	$(PY) -m parity --examples $(EXAMPLES) --mode $(MODE) --sample $(SAMPLE)

## make golden: record TF's outcome of every catalogue run into tfloss/conformance/golden/
## (what `python -m tfloss.conformance` replays without TensorFlow).
golden: $(STAMP)
	$(PY) -m parity.record

## make golden-kernels: on a CPU where TF runs other softmax kernels than the recording CPU
## (oneDNN's on an AVX-512 server, when `make golden` ran Eigen's), record the runs that depend
## on them as a supplement the replay picks on such CPUs.
golden-kernels: $(STAMP)
	$(PY) -m parity.record --kernel-dependent

# The frameworks compared with TF get their own environment, without TensorFlow (the checker
# replays TF's recorded results); Keras runs on its numpy, jax and torch backends there. torch
# 2.13.0 is the CPU build, as for the bench; Keras is pinned like the parity environment's.
FRAMEWORKS_VENV  := .venv-frameworks
FRAMEWORKS_STAMP := $(FRAMEWORKS_VENV)/.installed
FRAMEWORKS_PY    := $(FRAMEWORKS_VENV)/bin/python

$(FRAMEWORKS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(FRAMEWORKS_VENV)
	$(FRAMEWORKS_PY) -m pip install --quiet --upgrade pip
	$(FRAMEWORKS_PY) -m pip install --quiet -e . "torch==2.13.0" jax jaxlib optax "keras==3.15.1" \
		onnx onnxruntime
	touch $(FRAMEWORKS_STAMP)

## make frameworks: the checker on PyTorch, JAX/Optax, Keras 3 (numpy, jax, torch backends) and
## ONNX Runtime; writes reports/frameworks.{md,json}.
frameworks: $(FRAMEWORKS_STAMP)
	$(FRAMEWORKS_PY) -m parity.frameworks

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

## make matrix: the parity suite against every TF release 2.12-2.21 that installs here, each in its
## own cached environment .venv-matrix/tf2.NN (tensorflow-cpu where smaller; NumPy<2 before 2.18;
## Keras 3.15.1 from 2.16); writes reports/matrix.{md,json}. Not part of `make test`.
## SAMPLE=N keeps the error, layout and regression cases and every N-th of the others;
## MATRIX_RELEASES=2.12,2.16 picks releases. Results are cached per release and sample.
MATRIX_RELEASES ?= 2.12,2.13,2.14,2.15,2.16,2.17,2.18,2.19,2.20,2.21
matrix:
	$(PYTHON) -m parity.matrix --releases $(MATRIX_RELEASES) --sample $(SAMPLE)

figures: $(STAMP)
	$(PY) -m pip install --quiet -e ".[figures]"
	$(PY) docs/figures.py

clean:
	rm -rf .venv-tf* .venv-matrix $(BENCH_VENV) $(FRAMEWORKS_VENV) reports/*.tmp
	find tfloss -name '*.nbi' -delete -o -name '*.nbc' -delete  # numba's compile cache
