"""The ``"xla-cpu"`` target: the four losses as ``tf.function(jit_compile=True)`` runs them on CPU.

Under XLA, TF's Python wrappers still build the same graph (the conversions, checks, casts and
reshapes of :mod:`tfloss._ops` are unchanged), but the graph is then compiled by XLA:

* Each TF op becomes its tf2xla lowering.  The elementwise ops of the sigmoid and weighted losses
  map one to one; the softmax kernels become XLA's reductions and a ``select`` that zeroes the
  terms whose label is 0 (``tensorflow/compiler/tf2xla/kernels/softmax_op.cc``); the sparse
  kernel one-hot encodes its labels first, with a NaN row for a label outside ``[0, classes)``
  (XLA cannot raise at run time).
* XLA fuses the elementwise work into loops that call its own ``exp``/``log``/``log1p``
  (:mod:`tfloss._targets.xla_math`) and LLVM contracts a multiply feeding an add into one FMA.
  Each formula below writes those FMAs out.
* Storage types: float32 and float64 compute natively (with flush-to-zero, as in eager TF);
  float16 too, on a CPU with AVX512-FP16 (the FMA rounds once to float16, no flush); bfloat16
  computes each op in float32 and rounds it back to bfloat16, so nothing is contracted.

Reductions (the softmax losses): XLA's CPU reduction loop adds a row's elements in order into
one accumulator of the storage type, except 16-bit types, whose sums accumulate in float32
(``XlaHelpers::SumAccumulationType``).  See :func:`_row_sum`.

Every function takes NumPy arrays already converted and checked by the wrappers, and returns
NumPy arrays.  The compiled engine (:mod:`tfloss._engine`) does not serve this target: these
NumPy functions run whether or not the engine is active.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import xla_math

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
BF16 = np.dtype(ml_dtypes.bfloat16)


class Arithmetic:
    """One storage dtype's arithmetic inside an XLA CPU fusion: each method is one HLO op."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.compute = F32 if self.dtype == BF16 else self.dtype  # bfloat16: every op in float32

    def _wide(self, v):
        return np.asarray(v, self.compute) if not np.isscalar(v) else self.compute.type(v)

    def _done(self, v) -> np.ndarray:
        return xla_math.flush(np.asarray(v, self.compute)).astype(self.dtype)

    def const(self, value) -> np.ndarray:
        return np.asarray(value, self.dtype)

    def add(self, a, b):
        return self._done(self._wide(a) + self._wide(b))

    def sub(self, a, b):
        return self._done(self._wide(a) - self._wide(b))

    def mul(self, a, b):
        return self._done(self._wide(a) * self._wide(b))

    def div(self, a, b):
        return self._done(self._wide(a) / self._wide(b))

    def fma(self, a, b, c):
        """``a * b + c``, fused where LLVM fuses it (not for bfloat16: each op is rounded)."""
        if self.dtype == BF16:
            return self.add(self.mul(a, b), c)
        a, b, c = (np.asarray(v, self.dtype) for v in (a, b, c))
        return xla_math.fma(*np.broadcast_arrays(a, b, c))

    def exp(self, x):
        return self._done(xla_math.exp(np.asarray(x, F32 if self.dtype != F64 else F64)))

    def log(self, x):
        return self._done(xla_math.log(np.asarray(x, F32 if self.dtype != F64 else F64)))

    def log1p(self, x):
        if self.dtype == F16:  # the rational in float16 itself
            return xla_math.log1p(np.asarray(x, F16))
        return self._done(xla_math.log1p(self._wide(x)))


def _arithmetic(dtype) -> Arithmetic:
    return Arithmetic(dtype)


# --------------------------------------------------------------------------------------------
# The elementwise losses (notation: x = logits, z = labels, q1 = pos_weight - 1)


def sigmoid_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``max(x, 0) - x*z + log1p(exp(-|x|))``; the product is fused: ``fma(-x, z, relu(x))``."""
    a = _arithmetic(logits.dtype)
    x, z = logits, labels
    cond = x >= 0
    relu_logits = np.where(cond, x, a.const(0))
    neg_abs_logits = np.where(cond, -x, x)
    return a.add(a.fma(-x, z, relu_logits), a.log1p(a.exp(neg_abs_logits)))


def weighted_cross_entropy(labels: np.ndarray, logits: np.ndarray, pos_weight_minus_one: np.ndarray) -> np.ndarray:
    """``(1 - z)*x + (1 + q1*z) * (log1p(exp(-|x|)) + max(-x, 0))``, with two FMAs:
    ``1 + q1*z`` and the final ``(1 - z)*x + ...``."""
    a = _arithmetic(logits.dtype)
    x, z, q1 = logits, labels, pos_weight_minus_one
    log_weight = a.fma(q1, z, a.const(1))
    softplus = a.add(a.log1p(a.exp(-np.abs(x))), np.maximum(-x, a.const(0)))
    return a.fma(a.sub(a.const(1), z), x, a.mul(log_weight, softplus))
