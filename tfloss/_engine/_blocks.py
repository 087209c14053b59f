"""The building blocks compiled: :mod:`tfloss._machine.math_ops`' Sigmoid, Softplus, Softmax
(Eigen's and oneDNN's) and Sum.

Each function repeats the NumPy kernel's steps in the same order, one TF op per line, with the
primitives of :mod:`._float` (``op`` ends an op: flush, round to the storage dtype) and TF's
``exp``/``log1p`` of :mod:`._eigen`, told whether Eigen evaluates the element in a packet.
The elementwise ops are split like :mod:`._loops`' (a packet loop and a scalar tail, each
element's path decided by its place in the flattened tensor); the sums reuse the row sum of
:mod:`._kernels` (``row_reduce``, Eigen's leaves and tree) and add Eigen's other two orders.

Arguments are flat or C-contiguous arrays in their storage dtype (16-bit types as bits); only
``out`` is written.  Each loop computes a range, so that :mod:`tfloss._engine` can run ranges
on threads with the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from ._eigen import exp, log1p, reciprocal
from ._float import (F32, F64, add, constant, div, ftz32, jit, mul, op, packet_size, quiet, read, scratch, store, sub,
                     wide_vectors, x86_nan)
from ._kernels import MAX, SUM, row_reduce
from ._loops import _packet_end

# --------------------------------------------------------------------------------------------
# Elementwise: math_ops.sigmoid, softplus, and log_sigmoid = -softplus(-x)

SIGMOID, SOFTPLUS, LOG_SIGMOID = 0, 1, 2


@jit(inline="always")
def _madd(a, b, c):
    """Eigen's ``pmadd`` without FMA (``math_ops._madd``): the product rounded and flushed,
    then the sum."""
    return ftz32(ftz32(a * b) + c)


@jit(inline="always")
def _logistic_packet32(x):
    """``math_ops._eigen_logistic_float`` for one element: ``e / (1 + e)``,
    ``e = exp(min(x, 16.6355324) / 2)**2`` by Eigen's own degree-5 polynomial; 0 below -104."""
    if x != x:
        return quiet(x)
    if x < F32(-104.0):
        return F32(0.0)
    half_x = (x if x < F32(16.6355324) else F32(16.6355324)) * F32(0.5)
    m = np.floor(_madd(half_x, F32(1.44269504088896341), F32(0.5)))
    r = _madd(m, F32(2.12194440e-4), _madd(m, F32(-0.693359375), half_x))
    r2 = ftz32(r * r)
    even = _madd(r2, F32(4.1898667812347412109375e-2), F32(0.49999141693115234375))
    odd = _madd(r2, F32(8.33471305668354034423828125e-3), F32(0.16666877269744873046875))
    y = _madd(r2, _madd(r, odd, even), r + F32(1.0))
    e = ftz32(F32(F64(y) * math.pow(F64(2.0), F64(m))))  # y * 2**m, rounded once
    e = ftz32(e * e)
    return ftz32(e / (F32(1.0) + e))


@jit(inline="always")
def _logistic_scalar32(x):
    """The float32 tail: ``e / (1 + e)`` with the C library's ``e = exp(min(x, 16.6355324))``."""
    e = ftz32(math.exp(x if (x < F32(16.6355324) or x != x) else F32(16.6355324)))
    one_plus = F32(1.0) + e
    return ftz32(x86_nan(e, one_plus, e / one_plus))


def sigmoid(v, kind, packet):
    """``math_ops.sigmoid`` of a read value: float32 by Eigen's logistic (its polynomial on
    packets); other types ``e / (1 + e)`` with TF's Exp, each step rounded, and 1 where ``e``
    is inf."""


@overload(sigmoid, inline="always")
def _sigmoid(v, kind, packet):
    if kind.dtype == types.float32:
        return lambda v, kind, packet: _logistic_packet32(v) if packet else _logistic_scalar32(v)

    def generic(v, kind, packet):
        e = op(exp(v, packet), kind)
        probability = div(e, add(constant(e, 1.0), e, kind), kind)
        return constant(e, 1.0) if e == constant(e, np.inf) else probability

    return generic


@jit(inline="always")
def _softplus(v, threshold, kind, packet, unrolled):
    """``math_ops.softplus`` of a read value: ``v`` above ``-threshold``, ``exp(v)`` below
    ``threshold``, ``log1p(exp(v))`` between (both computed for every element, as TF does)."""
    features_exp = op(exp(v, packet), kind)
    log_one_plus = op(log1p(features_exp, packet, unrolled), kind)
    if v > -threshold:
        return v
    return features_exp if v < threshold else log_one_plus


@jit(inline="always")
def _element(mode, x, threshold, kind, packet, unrolled):
    if mode == SIGMOID:
        return store(sigmoid(read(x), kind, packet), kind)
    if mode == SOFTPLUS:
        return store(_softplus(read(x), threshold, kind, packet, unrolled), kind)
    return store(-_softplus(-read(x), threshold, kind, packet, unrolled), kind)  # Neg, Softplus, Neg


@jit
def elementwise(mode, values, threshold, out, start, stop):
    """Elements [start, stop) of the op ``mode`` (SIGMOID, SOFTPLUS, LOG_SIGMOID); ``threshold``
    is Softplus' ``log(epsilon) + 2`` in the compute dtype (unused by the sigmoid)."""
    wide_vectors()
    n, kind = out.size, out.dtype
    p = packet_size(threshold)
    split, unrolled = n - n % p, n - n % (4 * p)
    middle = _packet_end(start, stop, split)
    x, o = values[start:middle], out[start:middle]
    for k in range(middle - start):
        o[k] = _element(mode, x[k], threshold, kind, True, start + k < unrolled)
    x, o = values[middle:stop], out[middle:stop]
    for k in range(stop - middle):
        o[k] = _element(mode, x[k], threshold, kind, False, False)



# --------------------------------------------------------------------------------------------
# Softmax: math_ops.softmax on Eigen's kernel (softmax_op_functor.h), one row at a time


@jit
def softmax(logits, out, start, stop):
    """Rows [start, stop) of ``exp(x - max) * (1 / sum(exp(x - max)))``: the maximum and the
    sum are Eigen's row reductions, the exp is TF's Exp over the whole ``[B, C]`` tensor (its
    packets by position in the tensor), every step rounded to the storage type."""
    wide_vectors()
    kind = out.dtype
    batch, classes = logits.shape
    work, running, accumulators = scratch(kind, classes), scratch(kind, classes), scratch(kind, (4, 8))
    zero = constant(work, 0.0)
    p = packet_size(zero)
    size = batch * classes
    for r in range(start, stop):
        row, out_row = logits[r], out[r]
        m = row_reduce(row, 0, classes, r * classes, zero, running, accumulators, kind, MAX)
        packets = min(max(size - size % p - r * classes, 0), classes)
        for j in range(packets):
            work[j] = op(exp(sub(read(row[j]), m, kind), True), kind)
        for j in range(packets, classes):
            work[j] = op(exp(sub(read(row[j]), m, kind), False), kind)
        total = row_reduce(work, 0, classes, r * classes, zero, running, accumulators, kind, SUM)
        inverse = reciprocal(total, r < batch - batch % p, kind)  # Eigen's .inverse() of the [B] sums
        for j in range(classes):
            out_row[j] = store(mul(work[j], inverse, kind), kind)



# --------------------------------------------------------------------------------------------
# Softmax: math_ops._onednn_softmax_rows, oneDNN's kernel where TF runs it (float32 rows)


def _float32_of(bits):
    return np.array([bits], np.uint32).view(np.float32)[0]


_LN_MAX, _LN_MIN, _LOG2E, _LN2 = (_float32_of(b) for b in (0x42B17218, 0xC2AEAC50, 0x3FB8AA3B, 0x3F317218))
_EXP_C0, _EXP_C1, _EXP_C2, _EXP_C3, _EXP_C4 = (_float32_of(b) for b in (0x3C07CFCE, 0x3D2B9D0D, 0x3E2AAD40,
                                                                       0x3EFFFEE3, 0x3F7FFFFB))
_FLT_MAX = np.float32(np.finfo(np.float32).max)


@jit(inline="always")
def _maxps(a, b):
    """x86 ``maxps``: ``a > b ? a : b`` (a NaN in either gives ``b``)."""
    return a if a > b else b


@jit(inline="always")
def _minps(a, b):
    return a if a < b else b


@jit(inline="always")
def _fma32(a, b, c):
    """``math_ops._fma``: the product exact in float64, the sum rounded there, then to float32."""
    return ftz32(F32(F64(a) * F64(b) + F64(c)))


@jit(inline="always")
def _onednn_exp(x):
    """``math_ops._onednn_exp``: ``2 * 2**(n-1) * p(r)`` on ``x`` clamped by ``minps``/``maxps``."""
    clamped = _maxps(_minps(x, _LN_MAX), _LN_MIN)
    n = np.floor(ftz32(clamped * _LOG2E) + F32(0.5))
    r = _fma32(-n, _LN2, clamped)
    scale = F32(0.0) if x < _LN_MIN else F32(math.pow(F64(2.0), F64(n - F32(1.0))))
    p = _fma32(_fma32(_fma32(_fma32(_fma32(_EXP_C0, r, _EXP_C1), r, _EXP_C2), r, _EXP_C3), r, _EXP_C4), r, F32(1.0))
    return ftz32(ftz32(p * scale) * F32(2.0))


@jit(inline="always")
def _accumulate(row, exps, use_exps, vmax, accumulators, vector, folded, lanes, maximum, kind):
    """``math_ops._onednn_accumulate`` then ``_onednn_lanes_fold`` of one row into ``vector``:
    block ``b`` into accumulator ``b % 4`` (the masked tail block into the first), the ones in
    use combined ``(a0 op a1) op (a2 op a3)``, then lanes ``l`` and ``l ^ step`` folded."""
    classes = row.size
    full_blocks = classes // lanes
    in_use = 4 if full_blocks >= 4 else max(full_blocks, 1)
    start = -_FLT_MAX if maximum else F32(0.0)
    for k in range(in_use):
        for lane in range(lanes):
            accumulators[k, lane] = start
    for j in range(classes):
        b, lane = j // lanes, j % lanes
        k = b % 4 if b < full_blocks else 0
        value = exps[j] if use_exps else read(row[j])
        a = accumulators[k, lane]
        accumulators[k, lane] = _maxps(a, value) if maximum else add(a, value, kind)
    for lane in range(lanes):
        a = accumulators[0, lane]
        if in_use >= 2:
            other = accumulators[1, lane]
            a = _maxps(a, other) if maximum else add(a, other, kind)
        if in_use == 3:
            other = accumulators[2, lane]
            a = _maxps(a, other) if maximum else add(a, other, kind)
        if in_use == 4:
            c, d = accumulators[2, lane], accumulators[3, lane]
            other = _maxps(c, d) if maximum else add(c, d, kind)
            a = _maxps(a, other) if maximum else add(a, other, kind)
        vector[lane] = a
    step = lanes // 2
    while step:
        for lane in range(lanes):
            a, b = vector[lane], vector[lane ^ step]
            folded[lane] = _maxps(a, b) if maximum else add(a, b, kind)
        for lane in range(lanes):
            vector[lane] = folded[lane]
        step //= 2


@jit
def onednn_softmax(logits, out, lanes, start, stop):
    """Rows [start, stop) of float32 ``[rows, classes]`` as oneDNN's dense softmax computes
    them: the vector maximum, ``exp(x - max)`` by oneDNN's exp with the folded maximum of the
    class's lane, the vector sum, and each class times ``1 / sum`` of its lane."""
    kind = out
    classes = logits.shape[1]
    exps = np.empty(classes, np.float32)
    accumulators = np.empty((4, lanes), np.float32)
    vmax, vsum, folded = np.empty(lanes, np.float32), np.empty(lanes, np.float32), np.empty(lanes, np.float32)
    for r in range(start, stop):
        row, out_row = logits[r], out[r]
        _accumulate(row, exps, False, vmax, accumulators, vmax, folded, lanes, True, kind)
        for j in range(classes):
            exps[j] = _onednn_exp(ftz32(read(row[j]) - vmax[j % lanes]))
        _accumulate(row, exps, True, vmax, accumulators, vsum, folded, lanes, False, kind)
        for lane in range(lanes):
            vsum[lane] = div(F32(1.0), vsum[lane], kind)
        for j in range(classes):
            out_row[j] = mul(exps[j], vsum[j % lanes], kind)



# --------------------------------------------------------------------------------------------
# Sum: the three orders of math_ops.sum_op (the shape simplified to runs by the caller)


@jit
def row_sums(values, first_index, out, start, stop):
    """Rows [start, stop) of ``[rows, count]``: ``_machine.cpu._eigen_sum``, row ``r`` starting at
    tensor index ``first_index + r * count`` (where a long row's tree splits)."""
    kind = out.dtype
    count = values.shape[1]
    running, accumulators = scratch(kind, count), scratch(kind, (4, 8))
    zero = constant(running, 0.0)
    for r in range(start, stop):
        out[r] = store(row_reduce(values[r], 0, count, first_index + r * count, zero, running, accumulators, kind, SUM),
                       kind)



@jit
def preserving_sums(blocks, out, start, stop):
    """Outer blocks [start, stop) of ``math_ops._eigen_preserving_sum``: the sums over axis 1
    of ``[outer, count, inner]``, ``out`` being ``[outer, inner]``.

    Each output is added in order, ``((0 + x0) + x1) + ...``, unless it lies in a whole packet
    of outputs inside one inner row and there are 16 terms or more: then four accumulators take
    terms ``j % 4``, are added ``((a0 + a1) + a2) + a3``, and the last ``count % 4`` follow.
    """
    wide_vectors()
    kind = out.dtype
    outer, count, inner = blocks.shape
    in_order, accumulators = scratch(kind, inner), scratch(kind, (4, inner))
    zero = constant(in_order, 0.0)
    p = packet_size(zero)
    unrolled = count // 4 * 4
    for o in range(start, stop):
        block, out_row = blocks[o], out[o]
        for i in range(inner):
            in_order[i] = zero
        for j in range(count):
            terms = block[j]
            for i in range(inner):
                in_order[i] = add(in_order[i], read(terms[i]), kind)
        if count >= 16:
            for k in range(4):
                for i in range(inner):
                    accumulators[k, i] = zero
            for j in range(unrolled):
                terms, lane = block[j], accumulators[j % 4]
                for i in range(inner):
                    lane[i] = add(lane[i], read(terms[i]), kind)
            for i in range(inner):
                index = o * inner + i
                packet_start = index - index % p
                if packet_start + p <= outer * inner and packet_start % inner + p <= inner:
                    total = add(add(add(accumulators[0, i], accumulators[1, i], kind), accumulators[2, i], kind),
                                accumulators[3, i], kind)
                    for j in range(unrolled, count):
                        total = add(total, read(block[j, i]), kind)
                    in_order[i] = total
        for i in range(inner):
            out_row[i] = store(in_order[i], kind)



@jit
def outer_and_inner_sums(values, out):
    """``math_ops._outer_and_inner_sum``: the sums over axes 0 and 2 of ``[A, B, C]``, each
    one running sum with axis 2 in the outer loop and axis 0 in the inner one."""
    kind = out.dtype
    first, kept, last = values.shape
    totals = scratch(kind, kept)
    for b in range(kept):
        totals[b] = constant(totals, 0.0)
    for c in range(last):
        for a in range(first):
            for b in range(kept):
                totals[b] = add(totals[b], read(values[a, b, c]), kind)
    for b in range(kept):
        out[b] = store(totals[b], kind)
