"""TensorFlow's CPU arithmetic, emulated in NumPy.

The kernels in :mod:`tfloss._kernels` are written with :class:`CpuTensor` values and the functions
below, so that they read like TensorFlow's own Python (``relu_logits - logits * labels``) while every
step rounds the way TF's CPU kernels round.  This module has one job: make one NumPy operation
behave like one TF CPU operation.  Three platform facts are emulated:

* **Flush-to-zero and denormals-are-zero.**  TF runs its CPU kernels with the FTZ and DAZ bits
  set, so a float32/float64 operation whose exact result is subnormal returns a zero of the same
  sign, and a subnormal input is read as zero.  (float32 ``exp(-100)`` is ``0.0`` in TF, 3.7e-44
  in NumPy.)  Data movement (``where``, reshape, transpose) does not flush: only arithmetic.
* **16-bit types compute in float32.**  Eigen evaluates each float16/bfloat16 operation by
  widening to float32, computing, and rounding the result back to 16 bits (round to nearest
  even).  FTZ applies to the float32 intermediate, which is why a bfloat16 ``exp(-100)`` is 0.
* **Python scalars are constants of the tensor's dtype**, as ``1 - labels`` is in TF.

Not emulated: the bits of Eigen's vectorised ``exp``/``log``/``log1p`` polynomials and Eigen's
order of summation.  NumPy's versions differ from them by an ulp or two in a few percent of
elements; the parity suite measures exactly how much.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import ml_dtypes

from . import _eigen_math

bfloat16 = np.dtype(ml_dtypes.bfloat16)
HALF_TYPES = (np.dtype(np.float16), bfloat16)


def silent_floating_point(op):
    """TF returns inf and NaN without warnings; run ``op`` with NumPy's warnings off too."""

    @functools.wraps(op)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return op(*args, **kwargs)

    return run


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype Eigen computes in for values stored as ``dtype``."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def flush_denormals(values: np.ndarray) -> np.ndarray:
    """Replace subnormal float32/float64 values by a zero of the same sign (FTZ/DAZ), in place."""
    if values.dtype in (np.float32, np.float64) and values.size:
        subnormal = np.abs(values) < np.finfo(values.dtype).tiny
        np.copysign(0, values, out=values, where=subnormal)
    return values


class CpuTensor:
    """A value held in its storage dtype, whose arithmetic rounds like one TF CPU op each.

    Only what the cross-entropy kernels need is defined: ``+ - * /``, unary minus, comparisons
    (which return plain boolean arrays, as they involve no rounding) and indexing.
    """

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray):
        self.value = np.asarray(value)

    @classmethod
    def from_input(cls, array: np.ndarray) -> "CpuTensor":
        """Wrap a caller's array, reading subnormal float32/float64 inputs as zero (DAZ)."""
        value = np.array(array, copy=True)
        if value.dtype == bfloat16:
            # bfloat16 subnormals are float32 subnormals once widened, so DAZ reads them as 0.
            widened = flush_denormals(value.astype(np.float32))
            value = widened.astype(bfloat16)
        return cls(flush_denormals(value))

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def shape(self) -> tuple:
        return self.value.shape

    def astype(self, dtype) -> "CpuTensor":
        """TF's Cast: rounds to nearest even; no flush (a cast is not arithmetic in Eigen)."""
        return CpuTensor(self.value.astype(dtype))

    def __getitem__(self, index) -> "CpuTensor":
        return CpuTensor(self.value[index])

    def __neg__(self) -> "CpuTensor":
        return CpuTensor(-self.value)

    def __add__(self, other):
        return _apply(np.add, self, other)

    def __radd__(self, other):
        return _apply(np.add, other, self)

    def __sub__(self, other):
        return _apply(np.subtract, self, other)

    def __rsub__(self, other):
        return _apply(np.subtract, other, self)

    def __mul__(self, other):
        return _apply(np.multiply, self, other)

    def __rmul__(self, other):
        return _apply(np.multiply, other, self)

    def __truediv__(self, other):
        return _apply(np.divide, self, other)

    def __rtruediv__(self, other):
        return _apply(np.divide, other, self)

    def __ge__(self, other) -> np.ndarray:
        return _values(self) >= _values(other)

    def __gt__(self, other) -> np.ndarray:
        return _values(self) > _values(other)

    def __le__(self, other) -> np.ndarray:
        return _values(self) <= _values(other)

    def __lt__(self, other) -> np.ndarray:
        return _values(self) < _values(other)

    def __repr__(self) -> str:
        return f"CpuTensor({self.value!r})"


def _values(x) -> np.ndarray:
    return x.value if isinstance(x, CpuTensor) else np.asarray(x)


def _storage_dtype(operands) -> np.dtype:
    for x in operands:
        if isinstance(x, CpuTensor):
            return x.dtype
    raise TypeError("at least one operand must be a CpuTensor")


def _apply(ufunc, *operands, **kwargs) -> CpuTensor:
    """Run ``ufunc`` as one TF CPU op: widen, compute, flush subnormals, round to storage dtype."""
    dtype = _storage_dtype(operands)
    wide = compute_dtype(dtype)
    with np.errstate(all="ignore"):
        result = ufunc(*(_values(x).astype(wide, copy=False) for x in operands), **kwargs)
    result = flush_denormals(np.asarray(result, dtype=wide))
    return CpuTensor(result.astype(dtype, copy=False))


def exp(x: CpuTensor) -> CpuTensor:
    """TF's Exp op: Eigen's packet polynomial, the C library for the tail (see ``_eigen_math``)."""
    return _apply(_eigen_math.exp, x)


def exp_along_rows(x: CpuTensor) -> CpuTensor:
    """``exp`` of a 2-D tensor evaluated inside a row reduction, as in ``reduce_sum(exp(x))``.

    Same values as :func:`exp` up to the last bit; Eigen's reducer splits each row, not the whole
    tensor, between its packet and scalar paths.
    """
    return _apply(_eigen_math.exp_along_rows, x)


def log(x: CpuTensor) -> CpuTensor:
    """TF's Log op, with Eigen's and the C library's rounding (see ``_eigen_math``)."""
    return _apply(_eigen_math.log, x)


def scalar_log(x: CpuTensor) -> CpuTensor:
    """``log`` called one element at a time, as inside the sparse kernel's loss generator."""
    return _apply(_eigen_math.scalar_log, x)


def log1p(x: CpuTensor) -> CpuTensor:
    """TF's Log1p op, with Eigen's and the C library's rounding (see ``_eigen_math``)."""
    return _apply(_eigen_math.log1p, x)


def abs(x: CpuTensor) -> CpuTensor:  # noqa: A001 - mirrors tf.math.abs
    return CpuTensor(np.abs(x.value))


def relu(x: CpuTensor) -> CpuTensor:
    """``max(x, 0)``; NaN stays NaN (TF's Relu propagates it)."""
    zero = np.zeros((), x.dtype)  # a typed zero: older NumPy cannot compare bfloat16 with int
    keep = (x.value > zero) | np.isnan(x.value)
    return CpuTensor(np.where(keep, x.value, zero))


def where(condition: np.ndarray, x: CpuTensor, y: CpuTensor) -> CpuTensor:
    """Select elements; data movement only, nothing is rounded or flushed."""
    return CpuTensor(np.where(condition, x.value, y.value))


def zeros_like(x: CpuTensor) -> CpuTensor:
    return CpuTensor(np.zeros_like(x.value))


def reduce_max(x: CpuTensor, axis: int, keepdims: bool = False) -> CpuTensor:
    """Maximum along ``axis``; an empty axis gives ``-inf`` (Eigen's initial value), NaN propagates."""
    return CpuTensor(np.max(x.value, axis=axis, keepdims=keepdims, initial=-np.inf))


def reduce_sum(x: CpuTensor, axis: int | None, keepdims: bool = False) -> CpuTensor:
    """Sum along ``axis`` (all axes if None) in the order Eigen's vectorised reducer adds.

    See :func:`_eigen_sum`.
    """
    if axis is None:
        total = _eigen_sum(x.value.reshape(1, x.value.size), x.dtype)[0]
        return CpuTensor(total.reshape((1,) * x.value.ndim) if keepdims else total)
    rows = np.moveaxis(x.value, axis, -1)
    flat = rows.reshape(int(np.prod(rows.shape[:-1])), rows.shape[-1])
    total = _eigen_sum(flat, x.dtype).reshape(rows.shape[:-1])
    return CpuTensor(np.expand_dims(total, axis) if keepdims else total)


# Eigen's packet width in elements for TF's official x86 wheel (built for AVX: 256-bit packets).
_PACKET_SIZE = {np.dtype(np.float64): 4}
# Above packet_size * leaf_size elements Eigen splits a sum in two halves and adds the halves.
_LEAF_SIZE = {np.dtype(np.float16): 200, bfloat16: 128}


def _eigen_sum(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Row sums of a 2-D array, added in Eigen's order and rounded as Eigen rounds.

    Eigen's inner-most-dimension reducer keeps four packet accumulators while at least four
    packets remain, folds them into one, adds the remaining whole packets, adds the tail
    elements one by one into a scalar, and returns ``tail + horizontal_sum(packet)``, where the
    horizontal sum of ``[a0..a7]`` is ``((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))``.  Every packet
    addition on a 16-bit type rounds to 16 bits; the horizontal sum is done in float32 and
    rounded once.  This order makes a bfloat16 sum bit-identical to TF's.
    """
    wide = compute_dtype(dtype)
    packet = _PACKET_SIZE.get(dtype, 8)
    count = values.shape[-1]
    if count > packet * _LEAF_SIZE.get(dtype, 1024):
        split = packet * -(-((count + 1) // 2) // packet)
        halves = _eigen_sum(values[:, :split], dtype), _eigen_sum(values[:, split:], dtype)
        return _add(halves[0], halves[1], dtype)

    values = values.astype(wide)
    vectorized = count // packet * packet
    unrolled = count // (4 * packet) * (4 * packet)
    accumulators = np.zeros((4, values.shape[0], packet), wide)
    for start in range(0, unrolled, 4 * packet):
        block = values[:, start : start + 4 * packet].reshape(values.shape[0], 4, packet)
        accumulators = _add(accumulators, np.moveaxis(block, 1, 0), dtype)
    folded = accumulators[0]
    for other in accumulators[1:]:
        folded = _add(folded, other, dtype)
    for start in range(unrolled, vectorized, packet):
        folded = _add(folded, values[:, start : start + packet], dtype)
    tail = np.zeros(values.shape[0], wide)
    for column in range(vectorized, count):
        tail = _add(tail, values[:, column], dtype)
    while folded.shape[-1] > 1:  # the horizontal sum, in the compute dtype
        half = folded.shape[-1] // 2
        folded = flush_denormals(folded[:, :half] + folded[:, half:])
    return _add(tail, _round(folded[:, 0], dtype), dtype).astype(dtype)


def _round(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round compute-dtype values to the storage dtype and back."""
    return values.astype(dtype).astype(values.dtype)


def _add(a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _round(flush_denormals(a + b), dtype)


# ================================================================================================
# Whole TF ops with their own kernels: Sigmoid, Softmax, and the Sum/Mean ops' accumulation.
#
# The textbook compositions call TF ops that are not one NumPy ufunc each.  Eigen evaluates a
# float32/float64 elementwise op in 256-bit packets (8 floats, 4 doubles) with its own polynomial
# ``exp`` and logistic, and the last ``size % packet`` elements one by one with the C library's
# ``exp``.  TF's x86 wheel is built for AVX without FMA, so every ``pmadd`` is a rounded multiply
# followed by a rounded add.
# ================================================================================================


def _flushed(values: np.ndarray) -> np.ndarray:
    return flush_denormals(np.array(values))


def _madd(a, b, c) -> np.ndarray:
    """Eigen's ``pmadd`` without FMA: ``a * b`` rounded, then ``+ c`` rounded."""
    return _flushed(_flushed(a * b) + c)


def _ldexp(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``y * 2**m`` with one rounding (the scaling is exact unless it over- or underflows)."""
    return _flushed((y.astype(np.float64) * np.exp2(m.astype(np.float64))).astype(y.dtype))


def _eigen_logistic_float(x: np.ndarray) -> np.ndarray:
    """Eigen's ``scalar_logistic_op<float>::packetOp``: ``e / (1 + e)`` with ``e = exp(x/2)**2``.

    Its exp is a degree-5 polynomial of its own, and ``x`` is capped at 16.6355324, the first
    point where the result is exactly 1; below -104 the result is 0.
    """
    f = np.float32
    half_x = np.where(np.isnan(x), x, np.minimum(x, f(16.6355324))) * f(0.5)
    m = np.floor(_madd(half_x, f(1.44269504088896341), f(0.5)))
    r = _madd(m, f(2.12194440e-4), _madd(m, f(-0.693359375), half_x))
    r2 = _flushed(r * r)
    even = _madd(r2, f(4.1898667812347412109375e-2), f(0.49999141693115234375))
    odd = _madd(r2, f(8.33471305668354034423828125e-3), f(0.16666877269744873046875))
    y = _madd(r2, _madd(r, odd, even), r + f(1))
    e = _ldexp(y, m)
    e = _flushed(e * e)
    return np.where(x < f(-104), f(0), _flushed(e / (f(1) + e))).astype(f)


def _packets_then_scalars(values: np.ndarray, packet_op, scalar_op, packet_size: int) -> np.ndarray:
    """Eigen's elementwise executor: whole packets first, the last ``size % packet`` one by one."""
    flat = values.reshape(-1)
    vectorized = flat.size // packet_size * packet_size
    result = np.concatenate([packet_op(flat[:vectorized]), scalar_op(flat[vectorized:])])
    return result.reshape(values.shape)


def sigmoid(x: CpuTensor) -> CpuTensor:
    """TF's Sigmoid op (Eigen's ``scalar_logistic_op``), one op with its own rounding per type.

    * float32: Eigen's dedicated logistic (see :func:`_eigen_logistic_float`) on whole packets,
      ``e / (1 + e)`` with ``e = exp(min(x, 16.6355324))`` on the tail.
    * float64, float16, bfloat16: the generic ``e / (1 + e)`` with ``e = exp(x)``, and 1 where
      ``e`` overflows to inf.  For 16-bit types each of the three steps rounds to 16 bits, so
      ``sigmoid`` is exactly 1 as soon as ``1 + e`` rounds to ``e`` (x >= 8.3 in float16).
    """
    if x.dtype == np.float32:
        with np.errstate(all="ignore"):
            capped_exp = lambda v: _eigen_math.scalar_exp(np.where(np.isnan(v), v, np.minimum(v, np.float32(16.6355324))))
            scalar = lambda v: _flushed(capped_exp(v) / (np.float32(1) + capped_exp(v)))
            return CpuTensor(_packets_then_scalars(x.value, _eigen_logistic_float, scalar, 8))
    e = exp(x)
    probability = e / (1 + e)
    return where(np.isinf(e.value), CpuTensor(np.ones_like(x.value)), probability)


def softmax(x: CpuTensor, axis: int = -1) -> CpuTensor:
    """TF's Softmax op over ``axis``: ``exp(x - max)`` times the reciprocal of its sum.

    With oneDNN on (TF's default on x86; ``TF_ENABLE_ONEDNN_OPTS=0`` turns it off), float32,
    float16 and bfloat16 run oneDNN's softmax, computed in float32 and rounded once to the
    storage type (:func:`_onednn_softmax_rows`).  Otherwise, and always for float64, TF's Eigen
    kernel (softmax_op_functor.h) runs: each step is one expression that rounds to the storage
    type, and the row sum is Eigen's inner-dimension sum in the storage type.
    """
    rows = CpuTensor(np.moveaxis(x.value, axis, -1))
    if _onednn_enabled() and x.dtype != np.float64:
        # An explicit row count: with zero classes, -1 cannot be inferred.
        flat = rows.value.reshape(_count(rows.shape[:-1]), rows.shape[-1]).astype(np.float32)
        result = _onednn_softmax_rows(flat).astype(x.dtype).reshape(rows.shape)
    else:
        unnormalized = exp(rows - reduce_max(rows, axis=-1, keepdims=True))
        result = (unnormalized * (1 / reduce_sum(unnormalized, axis=-1, keepdims=True))).value
    return CpuTensor(np.moveaxis(result, -1, axis))


def _onednn_enabled() -> bool:
    """TF reads ``TF_ENABLE_ONEDNN_OPTS`` once; on x86 Linux it defaults to on."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


# oneDNN's JIT kernels use the widest vectors the CPU has: 16 float32 lanes with AVX-512.
_ONEDNN_LANES = 16


def _as_float32(bits: int) -> np.float32:
    return np.array([bits], np.uint32).view(np.float32)[0]


def _maxps(a, b):
    """x86 ``maxps``: ``a > b ? a : b``, so a NaN in either operand yields ``b``."""
    return np.where(a > b, a, b)


def _minps(a, b):
    """x86 ``minps``: ``a < b ? a : b``, so a NaN in either operand yields ``b``."""
    return np.where(a < b, a, b)


def _fma(a, b, c) -> np.ndarray:
    """A fused multiply-add on float32 (the product is exact in float64; one rounding)."""
    return _flushed((a.astype(np.float64) * b + np.asarray(c, np.float64)).astype(np.float32))


def _onednn_exp(x: np.ndarray) -> np.ndarray:
    """oneDNN's JIT ``exp``: ``2 * 2**(n-1) * p(r)``, degree-5 polynomial, FMA, no denormals.

    The input is clamped to ``[ln(FLT_MIN), ln(FLT_MAX)]`` with ``minps``/``maxps`` (which
    replace NaN by the bound), and inputs below ``ln(FLT_MIN)`` give 0.
    """
    f = np.float32
    ln_max, ln_min = _as_float32(0x42B17218), _as_float32(0xC2AEAC50)
    coefficients = [_as_float32(b) for b in (0x3C07CFCE, 0x3D2B9D0D, 0x3E2AAD40, 0x3EFFFEE3, 0x3F7FFFFB)]
    below = x < ln_min
    clamped = _maxps(_minps(x, ln_max), ln_min)
    n = np.floor(_flushed(clamped * _as_float32(0x3FB8AA3B)) + f(0.5))
    r = _fma(-n, _as_float32(0x3F317218), clamped)
    scale = np.where(below, f(0), np.exp2(n - f(1)).astype(f))  # 2**(n-1): 2**128 is not a float32
    p = np.full_like(r, coefficients[0])
    for c in coefficients[1:] + [f(1)]:
        p = _fma(p, r, c)
    return _flushed(_flushed(p * scale) * f(2))


def _onednn_accumulate(blocks: np.ndarray, classes: int, start, op) -> np.ndarray:
    """oneDNN's vertical reduction of ``[rows, blocks, 16]`` into one ``[rows, 16]`` vector.

    oneDNN unrolls its loop over the class axis by four and gives each unrolled block its own
    accumulator, so that consecutive blocks do not wait on each other (``unroll_regs_ = 4``):
    full blocks take turns (block ``b`` into accumulator ``b % 4``), the masked tail block goes
    into the first one, and the accumulators in use are combined as ``(a0 op a1) op (a2 op a3)``
    (fewer when the row has fewer than four full blocks).  The order matters twice: a float32 sum
    rounds differently from a single running sum (~1 ulp on many rows from 34 classes on), and
    ``maxps`` keeps a NaN only when it is the second operand.
    """
    count, n_blocks, lanes = blocks.shape
    full_blocks = classes // lanes
    valid = (np.arange(n_blocks * lanes) < classes).reshape(n_blocks, lanes)
    in_use = 4 if full_blocks >= 4 else max(full_blocks, 1)
    accumulators = [np.full((count, lanes), start, np.float32) for _ in range(in_use)]
    for b in range(n_blocks):
        i = b % 4 if b < full_blocks else 0
        # The tail is masked: its lanes past the last class keep the accumulator's value.
        accumulators[i] = np.where(valid[b], op(accumulators[i], blocks[:, b]), accumulators[i])
    combined = accumulators[0] if in_use == 1 else op(accumulators[0], accumulators[1])
    if in_use == 3:
        combined = op(combined, accumulators[2])
    if in_use == 4:
        combined = op(combined, op(accumulators[2], accumulators[3]))
    return combined


def _onednn_lanes_fold(vectors: np.ndarray, op) -> np.ndarray:
    """oneDNN's horizontal reduction of a ``[rows, 16]`` vector: lanes ``i`` and ``i^8``, then ``i^4``, ...

    Every lane holds the result, and oneDNN goes on using the whole vector.  The lanes agree,
    except that a NaN in a ``maxps`` fold ends up in one lane only (lane ``15 - k`` for a NaN
    found in lane ``k``), so only the classes in that lane see a NaN maximum.
    """
    lanes = np.arange(vectors.shape[-1])
    step = vectors.shape[-1] // 2
    while step:
        vectors = op(vectors, vectors[:, lanes ^ step])
        step //= 2
    return vectors


def _onednn_softmax_rows(rows: np.ndarray) -> np.ndarray:
    """oneDNN's dense softmax of float32 ``[rows, classes]``: vector max, ``exp(x - max)``
    summed in vectors, both folded across lanes, times ``1 / sum``."""
    f = np.float32
    lanes = _ONEDNN_LANES
    count, classes = rows.shape
    n_blocks = -(-classes // lanes)
    padded = np.zeros((count, n_blocks * lanes), f)
    padded[:, :classes] = rows
    blocks = padded.reshape(count, n_blocks, lanes)

    def add(a, b):
        return _flushed(a + b)

    with np.errstate(all="ignore"):
        vmax = _onednn_lanes_fold(_onednn_accumulate(blocks, classes, -np.finfo(f).max, _maxps), _maxps)
        # oneDNN subtracts the folded vector lane by lane, not one broadcast scalar: with a NaN
        # in the row, only the classes in the lane holding the NaN maximum become NaN.
        exps = _onednn_exp(_flushed(padded - np.tile(vmax, n_blocks)))
        vsum = _onednn_lanes_fold(_onednn_accumulate(exps.reshape(blocks.shape), classes, 0, add), add)
        reciprocal = _flushed(f(1) / vsum)
        return _flushed(exps * np.tile(reciprocal, n_blocks))[:, :classes]


def sum_op(x: CpuTensor, axis: int | None = None) -> CpuTensor:
    """TF's Sum op: the reduction TF's ``ReductionHelper`` picks, then Eigen's order of addition.

    TF first drops every dimension of size 1 and merges neighbours, then:

    * reducing a dimension of size 1 reduces nothing: the input is copied, so ``-0`` stays
      ``-0`` (an addition ``0 + -0`` would give ``+0``);
    * if dimensions of size > 1 follow the reduced one, Eigen keeps them innermost and adds
      along the reduced one (:func:`_eigen_preserving_sum`);
    * otherwise the reduced dimension is innermost (:func:`_eigen_sum`).

    bfloat16 is summed in float32 and rounded once
    (``CASTING_SPECIALIZATION(SumReducer, bfloat16, float)`` in TF's reduction_ops.h).
    """
    if x.dtype == bfloat16:
        return sum_op(x.astype(np.float32), axis=axis).astype(bfloat16)
    if axis is None:
        return _copy_if_one_element(x) if x.value.size == 1 else reduce_sum(x, axis=None)
    axis = axis % x.value.ndim
    shape = x.shape
    if shape[axis] == 1:
        return CpuTensor(np.squeeze(x.value, axis))
    kept_inner = _count(shape[axis + 1:])
    if kept_inner == 1:
        return reduce_sum(x, axis=axis)
    blocks = x.value.reshape(_count(shape[:axis]), shape[axis], kept_inner)
    return CpuTensor(_eigen_preserving_sum(blocks, x.dtype).reshape(shape[:axis] + shape[axis + 1:]))


def _copy_if_one_element(x: CpuTensor) -> CpuTensor:
    """A reduction of all axes of a one-element tensor is a copy in TF (the sign of zero stays)."""
    return CpuTensor(x.value.reshape(()))


def _count(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _eigen_preserving_sum(blocks: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Sums over axis 1 of ``[outer, reduced, inner]`` as Eigen adds with the inner axis kept.

    Each output is one of two orders, chosen by Eigen's executor per output element:

    * one at a time (``coeff``): ``((0 + x0) + x1) + ...`` in order;
    * a packet of outputs at once (``packet``), for the outputs in a whole packet (8 float32,
      4 float64 or 8 float16 outputs starting at a multiple of the packet size) that lies inside
      one inner row: from 16 terms on, four accumulators take terms ``j % 4`` in turn, are
      added ``((a0 + a1) + a2) + a3``, and the last ``count % 4`` terms follow in order
      (``InnerMostDimPreserver`` in TensorReduction.h).  Fewer terms are added in order.
    """
    outer, count, inner = blocks.shape
    wide = compute_dtype(dtype)
    packet = _PACKET_SIZE.get(dtype, 8)
    terms = blocks.astype(wide)
    in_order = np.zeros((outer, inner), wide)
    for j in range(count):
        in_order = _add(in_order, terms[:, j], dtype)
    if count < 16:
        return in_order.astype(dtype)
    unrolled = count // 4 * 4
    accumulators = [np.zeros((outer, inner), wide) for _ in range(4)]
    for j in range(unrolled):
        accumulators[j % 4] = _add(accumulators[j % 4], terms[:, j], dtype)
    unrolled_sum = functools.reduce(lambda a, b: _add(a, b, dtype), accumulators)
    for j in range(unrolled, count):
        unrolled_sum = _add(unrolled_sum, terms[:, j], dtype)
    index = np.arange(outer * inner).reshape(outer, inner)
    packet_start = index - index % packet
    by_packet = (packet_start + packet <= outer * inner) & (packet_start % inner + packet <= inner)
    return np.where(by_packet, unrolled_sum, in_order).astype(dtype)


def mean_op(x: CpuTensor, axis: int | None = None) -> CpuTensor:
    """TF's Mean op: the sum divided by the count, the count cast to the tensor's type.

    bfloat16 is summed and divided in float32 and rounded once (reduction_ops.h); float16 is
    summed in float16 and divided by ``half(count)``.  A one-element tensor is copied, not
    divided (TF's reduction helper reduces nothing), which keeps the sign of a zero.
    """
    if axis is None and x.value.size == 1:
        return _copy_if_one_element(x)
    count = x.value.size if axis is None else x.shape[axis]
    if x.dtype == bfloat16:
        return (reduce_sum(x.astype(np.float32), axis=axis) / count).astype(bfloat16)
    return reduce_sum(x, axis=axis) / np.asarray(count, x.dtype)
