"""The loops around the kernels: ranges, the packet/scalar split, and threads.

Only speed lives here.  An elementwise range is run as two loops, the packet part and the
scalar tail, so that the packet loop holds no call and the compiler can vectorise it; the
threads (numba's ``prange``, on the outer loop only) each take whole ranges, computed exactly as
the serial loop computes them, so the bits do not depend on the number of threads.
"""

from __future__ import annotations

from numba import prange

from . import _kernels
from ._float import jit, read, packet_size


@jit
def sigmoid_cross_entropy(labels, logits, out, start, stop):
    n = out.size
    kind = out.dtype
    p = packet_size(read(logits[0]))
    split, unrolled = n - n % p, n - n % (4 * p)
    for i in range(start, min(stop, split)):
        out[i] = _kernels.sigmoid_cross_entropy(labels[i], logits[i], kind, True, i < unrolled)
    for i in range(max(start, split), stop):
        out[i] = _kernels.sigmoid_cross_entropy(labels[i], logits[i], kind, False, False)


@jit
def weighted_cross_entropy(labels, logits, pos_weight_minus_one, pos_weight_step, out, start, stop):
    n = out.size
    kind = out.dtype
    p = packet_size(read(logits[0]))
    split, unrolled = n - n % p, n - n % (4 * p)
    for i in range(start, min(stop, split)):
        q1 = pos_weight_minus_one[i * pos_weight_step]
        out[i] = _kernels.weighted_cross_entropy(labels[i], logits[i], q1, kind, True, i < unrolled)
    for i in range(max(start, split), stop):
        q1 = pos_weight_minus_one[i * pos_weight_step]
        out[i] = _kernels.weighted_cross_entropy(labels[i], logits[i], q1, kind, False, False)


@jit
def sigmoid_cross_entropy_grad(labels, logits, grad_loss, grad_labels, grad_logits, start, stop):
    n = grad_logits.size
    kind = grad_logits.dtype
    p = packet_size(read(logits[0]))
    split = n - n % p
    for i in range(start, min(stop, split)):
        grad_labels[i], grad_logits[i] = _kernels.sigmoid_cross_entropy_grad(labels[i], logits[i], grad_loss[i], kind, True)
    for i in range(max(start, split), stop):
        grad_labels[i], grad_logits[i] = _kernels.sigmoid_cross_entropy_grad(labels[i], logits[i], grad_loss[i], kind, False)


softmax_cross_entropy = _kernels.softmax_cross_entropy
sparse_softmax_cross_entropy = _kernels.sparse_softmax_cross_entropy


@jit(parallel=True)
def sigmoid_cross_entropy_parallel(labels, logits, out, chunk):
    n = out.size
    for c in prange((n + chunk - 1) // chunk):
        sigmoid_cross_entropy(labels, logits, out, c * chunk, min(n, (c + 1) * chunk))


@jit(parallel=True)
def weighted_cross_entropy_parallel(labels, logits, pos_weight_minus_one, pos_weight_step, out, chunk):
    n = out.size
    for c in prange((n + chunk - 1) // chunk):
        weighted_cross_entropy(labels, logits, pos_weight_minus_one, pos_weight_step, out, c * chunk, min(n, (c + 1) * chunk))


@jit(parallel=True)
def sigmoid_cross_entropy_grad_parallel(labels, logits, grad_loss, grad_labels, grad_logits, chunk):
    n = grad_logits.size
    for c in prange((n + chunk - 1) // chunk):
        sigmoid_cross_entropy_grad(labels, logits, grad_loss, grad_labels, grad_logits, c * chunk, min(n, (c + 1) * chunk))


@jit(parallel=True)
def softmax_cross_entropy_parallel(labels, logits, out, backprop, with_backprop, chunk):
    n = out.size
    for c in prange((n + chunk - 1) // chunk):
        _kernels.softmax_cross_entropy(labels, logits, out, backprop, with_backprop, c * chunk, min(n, (c + 1) * chunk))


@jit(parallel=True)
def sparse_softmax_cross_entropy_parallel(labels, logits, out, backprop, with_backprop, chunk):
    n = out.size
    for c in prange((n + chunk - 1) // chunk):
        _kernels.sparse_softmax_cross_entropy(labels, logits, out, backprop, with_backprop,
                                              c * chunk, min(n, (c + 1) * chunk))


@jit
def labels_in_range(labels, classes):
    """Whether every sparse label lies in ``[0, classes)`` (one pass, no temporaries)."""
    for i in range(labels.size):
        if labels[i] < 0 or labels[i] >= classes:
            return False
    return True
