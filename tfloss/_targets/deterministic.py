"""The ``"cpu-deterministic"`` target: TF's softmax losses after ``enable_op_determinism()``.

With op determinism enabled, TF 2.21's Python wrappers (``nn_ops.py``) do not call the fused
``SoftmaxCrossEntropyWithLogits``/``SparseSoftmaxCrossEntropyWithLogits`` kernels; they compose
public ops instead, on every device:

* softmax:  ``loss = -reduce_sum(labels * log_softmax(logits), axis=1)``
* sparse:   ``loss = -gather(log_softmax(logits), labels, batch_dims=1)``, then NaN where a label
  is outside ``[0, classes)`` (unreachable on CPU: the gather has already raised).

The conversions, casts, transposes and reshapes around them are the eager wrapper's, unchanged.
Each step here is that TF op as tfloss already reproduces it: ``LogSoftmax`` is the op behind
``tfloss.nn.log_softmax`` (:func:`tfloss._machine.math_ops.log_softmax`), ``Sum`` is TF's Sum kernel
(:func:`tfloss._machine.math_ops.sum_op`), and the products, negations and gathers round like one CPU
op each.  The results differ from the fused kernels' in the last bits of some rows (another
``log(sum(exp))``), in signs of zero (``-(0.0)`` is ``-0.0``), and in errors: a bad sparse label
fails in ``GatherV2`` and mismatched softmax shapes in ``Mul``.
"""

from __future__ import annotations

import numpy as np

from .. import errors
from .._machine import math_ops as _tf_math_ops
from .._frontend.convert import broadcast_shape, check_op_dtype, op_error
from .._machine.cpu import CpuTensor, exp
from . import differs_by_target, note_deterministic_path


def _log_softmax(logits: np.ndarray) -> CpuTensor:
    """``tf.nn.log_softmax`` of 2-D logits: the LogSoftmax op on the last axis."""
    check_op_dtype("LogSoftmax", logits.dtype)
    if logits.size == 0:
        return CpuTensor(np.zeros(logits.shape, logits.dtype))
    return _tf_math_ops.log_softmax(CpuTensor.from_input(logits))


def softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``-reduce_sum(labels * log_softmax(logits), axis=1)`` for 2-D ``labels`` and ``logits``.

    ``labels`` broadcast against the log-probabilities as ``Mul`` broadcasts (so ``[1, C]``
    labels work, and mismatched shapes raise Mul's "Incompatible shapes").  A row with no
    classes sums to 0, and its loss is ``-0.0``.
    """
    note_deterministic_path()
    log_probs = _log_softmax(logits)
    try:
        broadcast_shape("Mul", labels.shape, log_probs.shape)
    except errors.InvalidArgumentError as error:
        raise differs_by_target(error, "without op determinism ('cpu') the fused kernel raises "
                                       "'logits and labels must be broadcastable' instead") from None
    product = CpuTensor.from_input(labels) * log_probs
    if product.value.size == 0:
        total = CpuTensor(np.zeros(product.shape[:1], product.dtype))
    else:
        total = _tf_math_ops.sum_op(product, axis=(1,))
    return (-total).value


def _check_gather_indices(labels: np.ndarray, logits_shape: tuple) -> None:
    """GatherV2's checks with ``batch_dims=1``: the indices' dtype, the batch size (the
    flattening's ``[1, 0]`` for all-empty logits against zero labels fails here), then the
    first index outside ``[0, classes)``, named by its flat position."""
    check_op_dtype("GatherV2", labels.dtype, attr="Tindices")
    batch, classes = logits_shape
    if batch != labels.shape[0]:
        raise op_error(errors.InvalidArgumentError, "GatherV2",
                       f"params.shape[0]: {batch} should be equal to indices.shape[0]: {labels.shape[0]}")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        first = int(bad[0])
        error = op_error(
            errors.InvalidArgumentError,
            "GatherV2",
            f"indices[{first}] = {labels.reshape(-1)[first]} is not in [0, {classes})",
        )
        raise differs_by_target(error, "without op determinism ('cpu') TF's kernel raises 'Received a label value "
                                       "of ...'; under XLA and on GPU the row's loss is NaN, without an error")


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``-gather(log_softmax(logits), labels, batch_dims=1)`` for 2-D logits and 1-D labels.

    ``-(log_softmax)`` is exact, so a loss is the LogSoftmax op's bits negated; a row whose
    log-probability at the label is ``0.0`` has loss ``-0.0`` (the fused kernel gives ``0.0``).
    """
    note_deterministic_path()
    log_probs = _log_softmax(logits)
    _check_gather_indices(labels, logits.shape)
    rows = np.arange(logits.shape[0])
    return (-CpuTensor(log_probs.value[rows, labels])).value


# --------------------------------------------------------------------------------------------
# First-order gradients: what TF's tape runs backwards through the composed ops
# --------------------------------------------------------------------------------------------


def _log_softmax_grad(log_probs: CpuTensor, grad: CpuTensor) -> CpuTensor:
    """nn_grad's LogSoftmax gradient: ``grad - reduce_sum(grad, -1, keepdims=True) * exp(log_probs)``."""
    softmax = exp(log_probs)
    if grad.value.size == 0:
        return CpuTensor(np.zeros(grad.shape, grad.dtype))
    row_sums = CpuTensor(_tf_math_ops.sum_op(grad, axis=(1,)).value[:, None])
    return grad - row_sums * softmax


def sparse_softmax_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """The gradient of :func:`sparse_softmax_cross_entropy` for 2-D logits, upstream ``g`` per row.

    Backwards: SelectV2 passes ``g`` (no label is bad), Neg gives ``-g``, GatherV2's gradient
    scatters it with ``unsorted_segment_sum`` (``0 + -g``, so ``-0.0`` becomes ``0.0``) into a
    ``[batch, classes]`` zero tensor, and LogSoftmax's gradient finishes.  So the gradient is
    ``g * exp(log_softmax)`` off the label and ``-g - (-g) * exp(log_softmax)`` at it, where
    the fused kernel computes ``g * (exp(shifted) / sum)`` and ``g * (p - 1)``.
    """
    if labels.dtype == np.int16:
        # Quirk: GatherV2's gradient builds batch offsets with tf.range in the indices' dtype,
        # and tf.range asserts its dtype is one it knows (int16 is not): a bare AssertionError.
        raise AssertionError()
    log_probs = _log_softmax(logits)
    rows = np.arange(logits.shape[0])
    scattered = np.zeros(logits.shape, logits.dtype)
    minus_g = -CpuTensor(np.asarray(upstream, logits.dtype))
    scattered[rows, labels] = (CpuTensor(np.zeros(rows.shape, logits.dtype)) + minus_g).value
    return _log_softmax_grad(log_probs, CpuTensor(scattered)).value


def softmax_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray) -> tuple:
    """The gradients (labels, logits) of :func:`softmax_cross_entropy` for 2-D inputs.

    Backwards: Neg gives ``-g``, Sum's gradient broadcasts it along the row, Mul's gradient
    multiplies it by the other input (``grad * y`` when the shapes are equal and the dtype is
    float32, ``x * grad`` otherwise: the order decides which NaN survives), summing over the
    labels' broadcast rows, and LogSoftmax's gradient finishes the logits' part.
    """
    log_probs = _log_softmax(logits)
    batch, classes = log_probs.shape
    minus_g = -CpuTensor(np.asarray(upstream, logits.dtype).reshape(batch, 1))
    grad = CpuTensor(np.broadcast_to(minus_g.value, (batch, classes)))
    z = CpuTensor.from_input(labels)
    if labels.shape == log_probs.shape and logits.dtype == np.float32:
        grad_labels, grad_log_probs = grad * log_probs, grad * z
    else:
        grad_labels, grad_log_probs = grad * log_probs, z * grad
        grad_log_probs = CpuTensor(np.broadcast_to(grad_log_probs.value, (batch, classes)))
        # Labels broadcast ([1, C], [B, 1]): Sum over the axes they were broadcast along.
        broadcast_axes = tuple(i for i in (0, 1) if labels.shape[i] == 1 and (batch, classes)[i] != 1)
        if broadcast_axes and grad_labels.value.size:
            grad_labels = _tf_math_ops.sum_op(grad_labels, axis=broadcast_axes)
    grad_labels = np.asarray(grad_labels.value).reshape(labels.shape)
    return grad_labels, _log_softmax_grad(log_probs, grad_log_probs).value
