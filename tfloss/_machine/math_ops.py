"""TF's Sigmoid, Softmax, Sum, Mean and Pow ops, each as the kernel TF's CPU build runs for it.

The textbook compositions (:mod:`tfloss.textbook`) and the second-order gradients
(:mod:`tfloss._gradients`) call TF ops that are not one NumPy ufunc each.  This module reproduces
them to the bit on TF's official x86-64 wheel:

* ``Sigmoid``: Eigen's logistic.  Eigen evaluates a float32/float64 elementwise op in 256-bit
  packets (8 floats, 4 doubles) with its own polynomials, and the last ``size % packet``
  elements one by one with the C library.  The wheel is built for AVX without FMA, so every
  ``pmadd`` is a rounded multiply followed by a rounded add.
* ``Softmax``: oneDNN's kernel where TF picks it on this CPU (float32 and bfloat16 on AVX-512
  machines with neural-network features, float16 only with AVX512-FP16; see
  :func:`_onednn_runs`; ``TF_ENABLE_ONEDNN_OPTS=0`` gives Eigen's everywhere), else Eigen's.
* ``Sum``/``Mean``: TF's reduction order, including reductions over a non-innermost axis.

It is kept apart from :mod:`tfloss._machine.cpu` (one TF op = one rounded NumPy operation) because these
are whole kernels with their own internal order of operations.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from . import eigen_math as _eigen_math
from .cpu import (
    CpuTensor,
    _PACKET_SIZE,
    _add,
    _eigen_sum,
    bfloat16,
    compute_dtype,
    exp,
    exp_in_row_sum,
    flush_denormals,
    log,
    log1p,
    reciprocal,
    reduce_max,
    reduce_sum,
    where,
)


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

    Where TF runs oneDNN's softmax for the dtype on this CPU (:func:`_onednn_runs`: float32 and
    bfloat16 on AVX-512 machines with oneDNN on, float16 only on CPUs with AVX512-FP16), it is
    computed in float32 and rounded once to the storage type (:func:`_onednn_softmax_rows`).
    Otherwise, and always for float64, TF's Eigen
    kernel (softmax_op_functor.h) runs: each step is one expression that rounds to the storage
    type, and the row sum is Eigen's inner-dimension sum in the storage type.
    """
    rows = CpuTensor(np.ascontiguousarray(np.swapaxes(x.value, axis, -1)))  # TF's _wrap_2d_function swaps
    if _onednn_runs(x.dtype):
        # An explicit row count: with zero classes, -1 cannot be inferred.
        flat = rows.value.reshape(_count(rows.shape[:-1]), rows.shape[-1]).astype(np.float32)
        result = _onednn_softmax_rows(flat).astype(x.dtype).reshape(rows.shape)
    else:
        unnormalized = exp(rows - reduce_max(rows, axis=-1, keepdims=True))
        result = (unnormalized * reciprocal(reduce_sum(unnormalized, axis=-1, keepdims=True))).value
    return CpuTensor(np.swapaxes(result, axis, -1))


def log_softmax(x: CpuTensor) -> CpuTensor:
    """TF's LogSoftmax op over the last axis (Eigen's kernel, softmax_op_functor.h, always).

    ``shifted = x - max(x)``, then ``shifted - log(sum(exp(shifted)))``: the row sum evaluates
    ``exp`` itself (:func:`tfloss._machine.cpu.exp_in_row_sum`) and the ``log`` runs once per row, over
    the vector of row sums.  Every step rounds to the storage type (16-bit types too).
    """
    classes = x.shape[-1]
    rows = CpuTensor(x.value.reshape(_count(x.shape[:-1]), classes))
    shifted_logits = rows - reduce_max(rows, axis=1, keepdims=True)
    log_sum_exp = log(reduce_sum(exp_in_row_sum(shifted_logits), axis=1, keepdims=True))
    return CpuTensor((shifted_logits - log_sum_exp).value.reshape(x.shape))


# ``Eigen::NumTraits<T>::epsilon()`` where it is not the format's machine epsilon: Eigen's half
# returns the bits 0x0800 (2**-13).  bfloat16's is 2**-7, as ml_dtypes says.
_EIGEN_EPSILON = {np.dtype(np.float16): 2.0 ** -13}


def softplus_threshold(dtype: np.dtype) -> CpuTensor:
    """Softplus' ``log(epsilon) + 2``, computed in ``dtype`` as TF computes it (see :func:`softplus`)."""
    epsilon = CpuTensor(np.asarray(_EIGEN_EPSILON.get(np.dtype(dtype)) or np.finfo(dtype).eps, dtype))
    return log(epsilon) + 2


def softplus(x: CpuTensor) -> CpuTensor:
    """TF's Softplus op (softplus_op.h): ``log(1 + exp(x))`` with two shortcuts.

    With ``threshold = log(epsilon) + 2`` computed in the tensor's type (-13.942385 in float32,
    -34.04365 in float64, -2.852 in bfloat16): ``x`` itself above ``-threshold``, ``exp(x)``
    below ``threshold``, and ``log1p(exp(x))`` between.  The shortcuts are within an epsilon of
    the formula, not equal to it.  Quirk: Eigen's float16 epsilon is ``2**-13``, not the
    format's ``2**-10``, so the float16 threshold is -7.01, not -4.93.
    """
    threshold = softplus_threshold(x.dtype)
    too_large = x > -threshold
    too_small = x < threshold
    features_exp = exp(x)
    return where(too_large, x, where(too_small, features_exp, log1p(features_exp)))


def _cpuinfo_field(name: str) -> str:
    """The first processor's ``name`` line of Linux's ``/proc/cpuinfo`` ("" elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(name):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset:
    """The CPU's feature flags as Linux names them in ``/proc/cpuinfo`` (empty elsewhere)."""
    return frozenset(_cpuinfo_field("flags").split())


def _read_bool_env(name: str, default: bool) -> bool:
    """TF's ``ReadBoolFromEnvVar``: 0/false/1/true in any case; anything else keeps the default."""
    value = os.environ.get(name)
    if value is None:
        return default
    return {"0": False, "false": False, "1": True, "true": True}.get(value.lower(), default)


def _onednn_enabled() -> bool:
    """Whether TF's oneDNN kernels are on (``IsMklEnabled`` in TF's util/port.cc).

    On Linux TF turns them on by default only for CPUs with neural-network features (AVX512-VNNI,
    AVX512-BF16, AVX-VNNI or AMX); ``TF_ENABLE_ONEDNN_OPTS`` overrides that either way.
    """
    flags = _cpu_flags()
    default = bool(flags & {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"})
    return _read_bool_env("TF_ENABLE_ONEDNN_OPTS", default)


def _onednn_runs(dtype: np.dtype) -> bool:
    """Whether TF's Softmax for ``dtype`` is oneDNN's kernel on this machine.

    ``IsDataTypeSupportedByOneDNNOnThisCPU`` (TF's util/util.cc): float32 always; bfloat16 with
    AVX-512 or AVX-NE-CONVERT; float16 only with AVX512-FP16 or AMX-FP16 (on AVX512-BW) or
    AVX-NE-CONVERT.  Every other case, and float64 always, falls back to Eigen's kernel, so a
    float16 softmax rounds differently on a Sapphire Rapids than on an EPYC.
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64 or not _onednn_enabled():
        return False
    flags = _cpu_flags()
    if dtype == bfloat16:
        return bool(flags & {"avx512f", "avx_ne_convert"})
    if dtype == np.float16:
        return ("avx512bw" in flags and bool(flags & {"avx512fp16", "avx512_fp16", "amx_fp16"})) \
            or "avx_ne_convert" in flags
    return True


def _onednn_lanes() -> int:
    """oneDNN's JIT kernels use the widest vectors the CPU has: 16 float32 lanes with AVX-512
    (oneDNN's ``avx512_core``: F, BW, VL and DQ), else 8 with AVX2.  Only 16 was checked against
    TF; the 8-lane order is the same algorithm on narrower vectors, not verified."""
    return 16 if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= _cpu_flags() else 8


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
    """oneDNN's horizontal reduction of a ``[rows, L]`` vector: lanes ``i`` and ``i^(L/2)``, then ``i^(L/4)``, ...

    Every lane holds the result, and oneDNN goes on using the whole vector.  The lanes agree,
    except that a NaN in a ``maxps`` fold ends up in one lane only (lane ``L - 1 - k`` for a NaN
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
    lanes = _onednn_lanes()
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


def sum_op(x: CpuTensor, axis=None) -> CpuTensor:
    """TF's Sum op over ``axis`` (None: every axis; an int or a tuple of non-negative ints).

    TF's ``ReductionHelper`` first simplifies the shape: leading dimensions of size 1 are
    dropped, a dimension of size 1 joins the run before it, and neighbouring dimensions that are
    all reduced (or all kept) merge.  What is left picks one of Eigen's reductions, each with its
    own order of addition:

    * nothing reduced (every reduced dimension has size 1): the input is copied, so ``-0``
      stays ``-0``;
    * one run, reduced: a full reduction (:func:`_full_sum`), split in shards by thread count;
    * ``[kept, reduced]``: row sums (:func:`tfloss._machine.cpu.reduce_sum`);
    * ``[reduced, kept]`` and ``[kept, reduced, kept]``: the kept inner run is preserved
      (:func:`_eigen_preserving_sum`);
    * ``[reduced, kept, reduced]``: one output at a time, the inner reduced run in the outer
      loop (:func:`_outer_and_inner_sum`);
    * anything longer: TF transposes the reduced runs last, then takes row sums.

    bfloat16 is summed in float32 and rounded once
    (``CASTING_SPECIALIZATION(SumReducer, bfloat16, float)`` in TF's reduction_ops.h).  Integer
    sums wrap around, and their order does not matter.
    """
    axes = _axes_tuple(axis, x.value.ndim)
    out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if x.dtype == bfloat16:
        return sum_op(x.astype(np.float32), axes).astype(bfloat16)
    runs, reduce_first = _reduction_runs(x.shape, axes)
    if not runs or (len(runs) == 1 and not reduce_first):
        return CpuTensor(x.value.reshape(out_shape))  # TF copies: nothing is reduced
    if _count(out_shape) == 0 or x.value.size == 0:
        return CpuTensor(np.zeros(out_shape, x.dtype))
    if x.dtype.kind in "iu":
        with np.errstate(all="ignore"):
            return CpuTensor(np.add.reduce(x.value, axis=axes, dtype=x.dtype).reshape(out_shape))
    values = x.value.reshape(runs)
    if len(runs) == 1:
        total = _full_sum(values, x.dtype)
    elif len(runs) == 2 and reduce_first:
        total = _eigen_preserving_sum(values.reshape(1, *runs), x.dtype)
    elif len(runs) == 2:
        total = reduce_sum(CpuTensor(values), axis=1).value
    elif len(runs) == 3 and reduce_first:
        total = _outer_and_inner_sum(values, x.dtype)
    elif len(runs) == 3:
        total = _eigen_preserving_sum(values, x.dtype)
    else:
        first_kept = 1 if reduce_first else 0
        kept = list(range(first_kept, len(runs), 2))
        reduced = [i for i in range(len(runs)) if i not in kept]
        shuffled = np.transpose(values, kept + reduced)
        rows = _count([runs[i] for i in kept])
        total = reduce_sum(CpuTensor(shuffled.reshape(rows, -1)), axis=1).value
    return CpuTensor(np.asarray(total, x.dtype).reshape(out_shape))


def _axes_tuple(axis, rank: int) -> tuple:
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, (int, np.integer)):
        return (int(axis) % rank,) if rank else (int(axis),)
    return tuple(int(a) for a in axis)


def _reduction_runs(shape: tuple, axes: tuple) -> tuple[list, bool]:
    """TF's ``ReductionHelper::Simplify``: the sizes of the alternating reduced/kept runs, and
    whether the first run is reduced.  An input of only size-1 dimensions has no runs."""
    reduced = [i in axes for i in range(len(shape))]
    start = next((i for i, d in enumerate(shape) if d != 1), None)
    if start is None:
        return [], True
    runs, previous = [shape[start]], reduced[start]
    for i in range(start + 1, len(shape)):
        current = previous if shape[i] == 1 else reduced[i]
        if current == previous:
            runs[-1] *= shape[i]
        else:
            runs.append(shape[i])
        previous = current
    return runs, reduced[start]


# Eigen's cost model (TensorCostModel): a full reduction runs on several threads once its cost,
# ``count * cost_per_element``, reaches 210,000 cycles per extra thread (kStartupCycles and
# kPerThreadCycles are 100,000; the thread count is ``int((cost - 1e5) / 1e5 + 0.9)``).  The cost
# per element (bytes loaded * 11/64 + compute cycles) is as measured on TF 2.21: sharding starts
# at 108,388 float32, 54,196 float64 and 131,764 float16 elements.
_CYCLES_PER_ELEMENT = {np.dtype(np.float32): 1.9375, np.dtype(np.float64): 3.875, np.dtype(np.float16): 1.59375}


def _reduction_threads(count: int, dtype: np.dtype) -> int:
    """How many shards Eigen's full reduction uses: at most TF's intra-op thread count."""
    cost = count * _CYCLES_PER_ELEMENT.get(np.dtype(dtype), 1.9375)
    threads = int((cost - 100000) / 100000 + 0.9)
    return max(1, min(_intra_op_threads(), threads))


def _intra_op_threads() -> int:
    """TF's intra-op pool size: ``tf.config.threading``'s setting, else one thread per core."""
    from .. import _engine

    return _engine.thread_count()


def _full_sum(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Eigen's ``FullReducer`` on the thread pool: a sum of all of a 1-D tensor.

    One thread sums the whole tensor as one row (:func:`tfloss._machine.cpu._eigen_sum`).  With
    ``k > 1`` threads the tensor is cut into ``k`` shards of ``floor(float(n) / k)`` elements,
    each summed as a row starting at its own index; the leftover elements are summed first, and
    the shards are added to them in order.  So a large ``tf.reduce_sum`` depends on how many
    threads TF has (``tf.config.threading.set_intra_op_parallelism_threads``).
    """
    count = values.size
    threads = _reduction_threads(count, dtype)
    if threads == 1:
        return reduce_sum(CpuTensor(values), axis=None).value
    shard = int(np.floor(np.float32(count) / np.float32(threads)))
    shards = count // shard
    wide = compute_dtype(dtype)

    def rows_sum(start: int, size: int) -> np.ndarray:
        return _eigen_sum(values[start:start + size].reshape(1, size), dtype, np.array([start])).astype(wide)

    total = rows_sum(shards * shard, count - shards * shard) if shards * shard < count else np.zeros(1, wide)
    for i in range(shards):
        total = _add(total, rows_sum(i * shard, shard), dtype)
    return total.astype(dtype).reshape(())


def _outer_and_inner_sum(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Sums over axes 0 and 2 of ``[A, B, C]``, as Eigen's generic reducer adds them.

    Each output is one running sum, ``((0 + x[0, j, 0]) + x[1, j, 0]) + ...``: the inner reduced
    axis is the outer loop, the first reduced axis the inner one (measured on TF 2.21).
    """
    wide = compute_dtype(dtype)
    terms = np.transpose(values, (2, 0, 1)).reshape(-1, values.shape[1]).astype(wide)
    total = np.zeros(values.shape[1], wide)
    for term in terms:
        total = _add(total, term, dtype)
    return total.astype(dtype)


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


def mean_op(x: CpuTensor, axis=None) -> CpuTensor:
    """TF's Mean op: :func:`sum_op`, divided by the count cast to the tensor's type.

    * Where :func:`sum_op` reduces nothing, the input is copied (no division: ``-0`` stays).
    * float16/float32/float64: the sum, rounded, over ``dtype(count)``; float16 ``count`` rounds
      (2049 becomes 2048) and is ``inf`` from 65520 on, so such a mean is 0 (or NaN).
    * bfloat16: summed and divided in float32, rounded once (reduction_ops.h).
    * integers: summed in 64 bits and divided with C's truncation toward zero, then cast back.
    * an empty input with a non-empty output: NaN for floats, 0 for integers (TF's identity).
    """
    axes = _axes_tuple(axis, x.value.ndim)
    out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    runs, reduce_first = _reduction_runs(x.shape, axes)
    if not runs or (len(runs) == 1 and not reduce_first):
        return CpuTensor(x.value.reshape(out_shape))
    if _count(out_shape) == 0:
        return CpuTensor(np.zeros(out_shape, x.dtype))
    if x.value.size == 0:
        fill = np.nan if x.dtype.kind in "fc" or x.dtype == bfloat16 else 0
        return CpuTensor(np.full(out_shape, fill, x.dtype))
    count = x.value.size // _count(out_shape)
    if x.dtype == bfloat16:
        return (sum_op(x.astype(np.float32), axes) / count).astype(bfloat16)
    if x.dtype.kind in "iu":
        wide = np.uint64 if x.dtype.kind == "u" else np.int64
        total = np.add.reduce(x.value.astype(wide), axis=axes)
        quotient = np.where(total < 0, -(-total // count), total // count) if x.dtype.kind == "i" else total // count
        return CpuTensor(quotient.astype(x.dtype).reshape(out_shape))
    return sum_op(x, axes) / np.asarray(count, x.dtype)


def div_no_nan(x: CpuTensor, y: CpuTensor) -> CpuTensor:
    """TF's DivNoNan: ``x / y``, and 0 wherever ``y`` is 0 (even for a NaN or infinite ``x``)."""
    quotient = x / y
    zero = np.zeros((), quotient.dtype)
    return CpuTensor(np.where(np.broadcast_to(y.value == 0, quotient.shape), zero, quotient.value))


def clip_by_value(t: CpuTensor, low: float, high: float) -> CpuTensor:
    """``tf.clip_by_value``: ``maximum(minimum(t, high), low)``, the bounds constants of ``t``'s
    dtype; NaN passes through both."""
    bounds = [np.asarray(b, dtype=t.dtype) for b in (low, high)]
    return CpuTensor(np.maximum(np.minimum(t.value, bounds[1]), bounds[0]))


def pow_op(x: CpuTensor, exponent: float) -> CpuTensor:
    """TF's Pow of a tensor by a scalar exponent (a constant of the tensor's dtype), bit for bit.

    * float32/float64: Eigen's packet ``generic_pow`` on whole packets of the flattened tensor,
      the C library's ``powf``/``pow`` on the last ``size % packet`` elements
      (:func:`tfloss._machine.eigen_math.pow`).  The packet pow is accurate to a few ulps, not
      correctly rounded: for an exponent of 2 it is not always ``x * x``.
    * float16/bfloat16: Eigen has no packet pow for them, so every element is
      ``powf(float(x), float(y))`` rounded to 16 bits.
    """
    y = np.asarray(exponent, x.dtype)
    if x.dtype in (np.float32, np.float64):
        return CpuTensor(_eigen_math.pow(x.value, y))
    with np.errstate(all="ignore"):
        wide = _eigen_math.scalar_pow(x.value.astype(np.float32).reshape(-1), np.full(x.value.size, y, np.float32))
    return CpuTensor(wide.reshape(x.shape).astype(x.dtype))
