"""The loops around the kernels: ranges, the packet/scalar split, and threads.

Only speed lives here.  An elementwise range is run as two loops, the packet part and the
scalar tail, so that the packet loop holds no call and the compiler can vectorise it.  Each
range is computed exactly as the whole loop computes it, so :mod:`tfloss._engine` can hand
ranges to threads without changing a bit.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._eigen import reciprocal, reciprocals
from ._float import jit, narrow, packet_size, read, scratch, wide_vectors, widen


@jit
def _packet_end(start, stop, split):
    """Where the packet part of [start, stop) ends: elements below ``split`` are in packets."""
    return min(max(split, start), stop)


# Each range is run as two loops over views that start at 0 (so the compiler knows the index
# is never negative and reads the arrays as contiguous vectors, not element by element).


@jit
def sigmoid_cross_entropy(labels, logits, out, start, stop):
    wide_vectors()
    n, kind = out.size, out.dtype
    p = packet_size(read(logits[0]))
    split, unrolled = n - n % p, n - n % (4 * p)
    middle = _packet_end(start, stop, split)
    z, x, o = labels[start:middle], logits[start:middle], out[start:middle]
    for k in range(middle - start):
        o[k] = _kernels.sigmoid_cross_entropy(z[k], x[k], kind, True, start + k < unrolled)
    z, x, o = labels[middle:stop], logits[middle:stop], out[middle:stop]
    for k in range(stop - middle):
        o[k] = _kernels.sigmoid_cross_entropy(z[k], x[k], kind, False, False)


@jit
def weighted_cross_entropy(labels, logits, pos_weight_minus_one, pos_weight_step, out, start, stop):
    """``pos_weight_minus_one`` has one value per element (step 1) or one for all (step 0)."""
    wide_vectors()
    n, kind = out.size, out.dtype
    p = packet_size(read(logits[0]))
    split, unrolled = n - n % p, n - n % (4 * p)
    middle = _packet_end(start, stop, split)
    z, x, o = labels[start:middle], logits[start:middle], out[start:middle]
    # A loop for each kind of pos_weight rather than one choosing per element: a load that may
    # not happen needs a masked vector load, which AVX2 has for 32-bit elements but not for
    # 16-bit ones, so the float16/bfloat16 loop ran scalar (10x slower than float32).
    if pos_weight_step:
        q = pos_weight_minus_one[start:]
        for k in range(middle - start):
            o[k] = _kernels.weighted_cross_entropy(z[k], x[k], q[k], kind, True, start + k < unrolled)
    else:
        q_all = pos_weight_minus_one[0]
        for k in range(middle - start):
            o[k] = _kernels.weighted_cross_entropy(z[k], x[k], q_all, kind, True, start + k < unrolled)
    z, x, o = labels[middle:stop], logits[middle:stop], out[middle:stop]
    for k in range(stop - middle):  # fewer than a packet: the scalar path
        o[k] = _kernels.weighted_cross_entropy(z[k], x[k], pos_weight_minus_one[(middle + k) * pos_weight_step], kind,
                                               False, False)


#: Elements per block of the gradient loops: their denominators and reciprocals stay in cache.
_BLOCK = 1024


@jit(inline="always")
def _inverses(x, count, block, estimates, kind, denominator):
    """``block[k]`` = TF's Reciprocal of ``denominator(x[k])`` on the packet path, for the first
    ``count`` elements: the denominators, then their reciprocals (``_eigen.reciprocals``: float32's
    rcpps in packets, which a loop around the per-element reciprocal could not vectorise)."""
    for k in range(count):
        block[k] = denominator(x[k], kind, True)
    reciprocals(block, estimates, count, kind)


@jit
def sigmoid_cross_entropy_grad(labels, logits, grad_loss, grad_labels, grad_logits, start, stop):
    wide_vectors()
    n, kind = grad_logits.size, grad_logits.dtype
    p = packet_size(read(logits[0]))
    middle = _packet_end(start, stop, n - n % p)
    block, estimates = scratch(kind, _BLOCK), scratch(kind, _BLOCK)
    for first in range(start, middle, _BLOCK):
        last = min(first + _BLOCK, middle)
        z, x, g, dz, dx = labels[first:last], logits[first:last], grad_loss[first:last], grad_labels[first:last], grad_logits[first:last]
        _inverses(x, last - first, block, estimates, kind, _kernels.sigmoid_grad_denominator)
        for k in range(last - first):
            dz[k], dx[k] = _kernels.sigmoid_cross_entropy_grad(z[k], x[k], g[k], kind, True, block[k])
    z, x, g, dz, dx = labels[middle:stop], logits[middle:stop], grad_loss[middle:stop], grad_labels[middle:stop], grad_logits[middle:stop]
    for k in range(stop - middle):
        inverse = reciprocal(_kernels.sigmoid_grad_denominator(x[k], kind, False), False, kind)
        dz[k], dx[k] = _kernels.sigmoid_cross_entropy_grad(z[k], x[k], g[k], kind, False, inverse)


@jit
def weighted_cross_entropy_grad(labels, logits, pos_weight_minus_one, grad_loss, grad_labels, grad_logits, start, stop):
    wide_vectors()
    n, kind = grad_logits.size, grad_logits.dtype
    p = packet_size(read(logits[0]))
    split, unrolled = n - n % p, n - n % (4 * p)
    middle = _packet_end(start, stop, split)
    q1 = pos_weight_minus_one[0]
    block, estimates = scratch(kind, _BLOCK), scratch(kind, _BLOCK)
    for first in range(start, middle, _BLOCK):
        last = min(first + _BLOCK, middle)
        z, x, g, dz, dx = labels[first:last], logits[first:last], grad_loss[first:last], grad_labels[first:last], grad_logits[first:last]
        _inverses(x, last - first, block, estimates, kind, _kernels.weighted_grad_denominator)
        for k in range(last - first):
            dz[k], dx[k] = _kernels.weighted_cross_entropy_grad(z[k], x[k], q1, g[k], kind, True, first + k < unrolled, block[k])
    z, x, g, dz, dx = labels[middle:stop], logits[middle:stop], grad_loss[middle:stop], grad_labels[middle:stop], grad_logits[middle:stop]
    for k in range(stop - middle):
        inverse = reciprocal(_kernels.weighted_grad_denominator(x[k], kind, False), False, kind)
        dz[k], dx[k] = _kernels.weighted_cross_entropy_grad(z[k], x[k], q1, g[k], kind, False, False, inverse)


softmax_cross_entropy = _kernels.softmax_cross_entropy
log_softmax = _kernels.log_softmax
sparse_softmax_cross_entropy = _kernels.sparse_softmax_cross_entropy


@jit
def checked_sparse_softmax_cross_entropy(labels, logits, out, backprop, upstream):
    """Every row's loss, serially, once every label is known to lie in ``[0, classes)``; False,
    with nothing computed, if one does not.  (The label scan and the loss in one call: a call
    into compiled code costs more than a small batch's label scan.)"""
    classes = logits.shape[1]
    for label in labels:
        if label < 0 or label >= classes:
            return False
    # backprop.size != 0 (False here) and np.int64(0) rather than a literal False and 0: a literal
    # argument would compile a second specialisation of the whole kernel.
    _kernels.sparse_softmax_cross_entropy(labels, logits, out, backprop, backprop.size != 0, upstream, np.int64(0),
                                          logits.shape[0])
    return True


@jit
def cast(values, out, start, stop):
    """``out = values.astype(out.dtype)`` between float32 and a 16-bit type (as bits), exactly as
    NumPy and ml_dtypes convert (see ._float)."""
    wide_vectors()
    values, out = values[start:stop], out[start:stop]
    for i in range(stop - start):
        out[i] = narrow(widen(values[i]), out)


@jit
def labels_in_range(labels, classes):
    """Whether every sparse label lies in ``[0, classes)`` (one pass, no temporaries)."""
    for i in range(labels.size):
        if labels[i] < 0 or labels[i] >= classes:
            return False
    return True
