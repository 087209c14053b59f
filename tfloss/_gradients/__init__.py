"""Gradients of the cross-entropy ops, computed the way TF's ``GradientTape`` computes them.

One rule per op family, registered for every public function of that family (TF's
``@ops.RegisterGradient``, keyed here by the public function instead of the op name):

* **sigmoid** and **weighted**: TF registers no gradient for these losses, so its tape
  differentiates the elementwise ops of the forward formula one by one (``where``, ``neg``,
  ``mul``, ``sub``, ``exp``, ``log1p``, ``abs``, ``relu``).  The rules below replay that chain of
  gradient ops in TF's order, each op rounding like TF's CPU kernel (:mod:`tfloss._machine.cpu`).
* **softmax** and **sparse**: TF's registered gradients (``nn_grad.py``) reuse the kernel's
  second output ``backprop = softmax - labels``; the rules call the same kernels and then flow
  back through the wrapper's cast, reshape and transpose steps.

Second order (:func:`hessian_vector_product`) replays TF's nested tapes: the backward ops of the
first-order chain are themselves differentiated.

API, for the parity suite::

    loss, grads = tfloss.value_and_gradient(op, grad_loss=None, labels=..., logits=..., ...)
    hvp = tfloss.hessian_vector_product(op, vector, grad_loss=None, labels=..., logits=...)

``op`` is any public op of :mod:`tfloss.nn` or :mod:`tfloss.compat.v1.nn`; the remaining keyword
arguments are the op's own.  ``grads`` maps each array argument the caller passed (``labels`` or
``targets``, ``logits``, and ``pos_weight`` when it is a float array) to the gradient TF's
``tape.gradient(loss, [...], output_gradients=grad_loss)`` returns for it -- ``None`` where TF
returns None.  ``hvp`` maps ``labels`` (or ``targets``) and ``logits`` to
``outer.gradient(inner.gradient(loss, logits, output_gradients=grad_loss), [labels, logits],
output_gradients=vector)``.  Errors are TF's: first the forward op's, then the ones TF's
backward pass raises (softmax labels broadcast against the logits).

The building blocks (softmax, sigmoid, the reductions) and the Keras and ``compat.v1`` losses
built on them register their rules in :mod:`.composite`, imported by :mod:`tfloss` itself.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import _engine, _targets, nn
from .._frontend import wrappers as _ops
from .._targets import deterministic as _deterministic
from .._targets import xla_cpu as _xla
from .._frontend.convert import FLOAT_DTYPES, cast, convert_to_tensor, deprecated_argument_lookup
from .._machine.cpu import (HALF_TYPES, CpuTensor, bfloat16, compute_dtype, exp, flush_denormals, log1p, reciprocal,
                   reduce_sum, relu, where)
from .._machine.math_ops import sum_op
from .._machine.cpu import silent_floating_point as _quiet
from ..compat.v1 import nn as nn_v1

# --------------------------------------------------------------------------------------------
# The gradient ops TF's backward pass runs, one function each
# --------------------------------------------------------------------------------------------


def _zero(like: CpuTensor) -> CpuTensor:
    """TF's ``zeros([], dtype)``: the scalar that SelectV2's gradient selects against."""
    return CpuTensor(np.zeros((), like.dtype))


def _reciprocal_grad(y: CpuTensor, dy: CpuTensor) -> CpuTensor:
    """TF's ReciprocalGrad ``-y*y*dy``, but 0 where ``dy == 0`` (Eigen's ``mul_no_nan``)."""
    product = (-y) * y * dy
    return CpuTensor(np.where(dy.value == 0, np.zeros((), y.dtype), product.value))


def _sign(x: CpuTensor) -> CpuTensor:
    """Eigen's sign: -1, +0 or 1, and NaN for NaN."""
    wide = x.value.astype(compute_dtype(x.dtype))
    sign = np.where(wide > 0, 1.0, np.where(wide < 0, -1.0, np.where(np.isnan(wide), np.nan, 0.0)))
    return CpuTensor(sign.astype(x.dtype))


def _relu_grad(gradients: CpuTensor, features: CpuTensor) -> CpuTensor:
    """TF's ReluGrad ``gradients * (features > 0)``: a multiplication, so NaN * 0 stays NaN."""
    return gradients * CpuTensor((features.value > np.zeros((), features.dtype)).astype(features.dtype))


def _add_n(*terms: CpuTensor) -> CpuTensor:
    """TF's AddN (how the tape aggregates several gradients of one tensor): left to right."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _reduce_axes(shape: tuple, output_shape: tuple) -> tuple:
    """BroadcastGradientArgs: the axes of ``output_shape`` along which ``shape`` was broadcast."""
    padded = (1,) * (len(output_shape) - len(shape)) + tuple(shape)
    return tuple(i for i, (d, o) in enumerate(zip(padded, output_shape)) if d == 1 and o != 1)


def _sum_leading_axis(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Eigen's sum over the first axis of ``[R, K]`` keeping the inner axis (column sums).

    Whole packets of columns are added row by row; with 16 rows or more, four accumulators take
    rows ``j, j+1, j+2, j+3`` in turn and are folded into the first before the remaining rows.
    Columns past the last whole packet are added row by row into one scalar.
    """
    rows, columns = values.shape
    packet = 4 if dtype == np.float64 else 8
    vectorized = columns // packet * packet

    def add(a, b):
        with np.errstate(all="ignore"):
            return flush_denormals(a + b).astype(dtype).astype(a.dtype)

    wide = values.astype(compute_dtype(dtype))
    total = np.zeros(columns, wide.dtype)
    if rows >= 16:
        unrolled = rows // 4 * 4
        accumulators = [np.zeros(vectorized, wide.dtype) for _ in range(4)]
        for j in range(0, unrolled, 4):
            for k in range(4):
                accumulators[k] = add(accumulators[k], wide[j + k, :vectorized])
        head = accumulators[0]
        for other in accumulators[1:]:
            head = add(head, other)
        for j in range(unrolled, rows):
            head = add(head, wide[j, :vectorized])
        total[:vectorized] = head
    else:
        for j in range(rows):
            total[:vectorized] = add(total[:vectorized], wide[j, :vectorized])
    for j in range(rows):
        total[vectorized:] = add(total[vectorized:], wide[j, vectorized:])
    return total.astype(dtype)


def _reduce_sum(x: CpuTensor, axes: tuple) -> CpuTensor:
    """TF's Sum op over ``axes`` (keepdims), in the order its CPU kernel adds.

    TF first merges adjacent dimensions that are all reduced or all kept (size-1 dimensions
    join their neighbour), then runs one of Eigen's reducers: a full sum, column sums or row
    sums.  bfloat16 sums are accumulated in float32 and rounded once (TF's casting reducer).
    """
    if not axes:
        return x  # TF's Sum with no axes copies its input
    dtype = x.dtype
    keep_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    values = x.value
    if dtype == bfloat16:
        summed = _reduce_sum(CpuTensor(values.astype(np.float32)), axes)
        return CpuTensor(summed.value.astype(bfloat16))
    # Merge dimensions as TF's ReductionHelper does.
    groups: list = []
    for i, size in enumerate(x.shape):
        reduced = i in axes
        if size == 1 and groups:
            reduced = groups[-1][0]
        if groups and groups[-1][0] == reduced:
            groups[-1][1] *= size
        else:
            groups.append([reduced, size])
    pattern = tuple(g[0] for g in groups)
    sizes = [g[1] for g in groups]
    if values.size == 0:
        return CpuTensor(np.zeros(keep_shape, dtype))
    if pattern == (True,):
        total = reduce_sum(CpuTensor(values.reshape(1, -1)), axis=1).value
    elif pattern == (True, False):
        total = _sum_leading_axis(values.reshape(sizes), dtype)
    elif pattern == (False, True):
        total = reduce_sum(CpuTensor(values.reshape(sizes)), axis=1).value
    else:
        # Other patterns ([reduced, kept, reduced] and longer): TF's Sum op as _tf_math_ops has it
        # (a transpose of the reduced runs to the end would add [R, K, R] in the wrong order).
        total = sum_op(x, tuple(axes)).value
    return CpuTensor(np.asarray(total, dtype).reshape(keep_shape))


def _unbroadcast(grad: CpuTensor, shape: tuple) -> CpuTensor:
    """``_ReduceGradientArg``: sum a gradient over the axes its input was broadcast along."""
    axes = _reduce_axes(shape, grad.shape)
    if not axes and grad.shape == tuple(shape):
        return grad
    return CpuTensor(_reduce_sum(grad, axes).value.reshape(shape))


def _broadcast_to(grad: CpuTensor, shape: tuple) -> CpuTensor:
    """The gradient of a sum: the summed gradient copied back over the reduced axes."""
    return CpuTensor(np.broadcast_to(grad.value, shape).copy())


# TF's float32 matmul (oneDNN's sgemm on x86) splits the depth axis into blocks of 512.
_FLOAT32_MATMUL_DEPTH_BLOCK = 512


def _row_dot(a: CpuTensor, b: CpuTensor) -> CpuTensor:
    """BatchMatMul of ``[B, 1, C]`` by ``[B, C, 1]``: one dot product per row, shape ``[B, 1]``.

    TF's CPU matmul accumulates the products in class order: with fused multiply-adds in
    float32, plain multiply-adds in float64, and in float32 for bfloat16 (rounded once).
    float32 does so per block of 512 classes, each block from zero, and adds the blocks'
    partial sums in order (verified bitwise against ``tf.matmul`` up to 2000 classes).  That is
    oneDNN's order; with oneDNN off TF's matmul is Eigen's, whose order is not reproduced.
    """
    dtype = a.dtype
    if dtype == np.float32 and a.shape[1] > _FLOAT32_MATMUL_DEPTH_BLOCK:
        block = _FLOAT32_MATMUL_DEPTH_BLOCK
        partial_sums = [_row_dot(a[:, start:start + block], b[:, start:start + block])
                        for start in range(0, a.shape[1], block)]
        return _add_n(*partial_sums)
    wide = np.float64 if dtype == np.float64 else np.float32
    x, y = a.value.astype(wide), b.value.astype(wide)
    total = np.zeros(x.shape[0], wide)
    with np.errstate(all="ignore"):
        for j in range(x.shape[1]):
            if dtype == np.float32:  # fma: the exact product (float64 holds it) plus the sum, rounded once
                total = (x[:, j].astype(np.float64) * y[:, j] + total).astype(np.float32)
            else:
                total = total + x[:, j] * y[:, j]
            total = flush_denormals(total)
    return CpuTensor(total.astype(dtype)[:, None])


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


@dataclass
class _Inputs:
    """An op's array arguments after TF's conversion, and the names the caller gave them."""

    labels: np.ndarray
    logits: np.ndarray
    labels_name: str = "labels"
    pos_weight: object = None
    axis: int = -1
    labels_differentiable: bool = True  # False under v1 softmax's stop_gradient


def _is_float(array) -> bool:
    return isinstance(array, np.ndarray) and array.dtype in FLOAT_DTYPES


class SigmoidGradient:
    """Gradient of ``sigmoid_cross_entropy_with_logits`` (no registered gradient in TF: autodiff).

    Closed form, with ``x`` = logits, ``z`` = labels and upstream gradient ``g``::

        d/dx = g * (sigmoid(x) - z)          (also at x = 0: 0.5 - z)
        d/dz = -g * x

    TF's tape computes ``sigmoid(x)`` as ``where(x >= 0, 1 - e/(1+e), e/(1+e))`` with
    ``e = exp(-|x|)``, assembled from the gradients of ``where``, ``x*z``, ``log1p`` and ``exp``.
    Second order: ``d2/dx2 = g * sigmoid'(x)``, ``d2/dxdz = -g``.
    """

    @staticmethod
    def backward(labels: CpuTensor, logits: CpuTensor, grad_loss: CpuTensor) -> dict:
        cond = logits >= CpuTensor(np.zeros_like(logits.value))
        exp_neg_abs = exp(where(cond, -logits, logits))
        # loss = (relu_logits - logits * labels) + log1p(exp(neg_abs_logits)): AddV2 hands
        # grad_loss to both terms; Sub negates it for the product.
        grad_product = -grad_loss
        from_product = grad_product * labels
        from_relu = where(cond, grad_loss, _zero(grad_loss))  # SelectV2's gradient
        grad_neg_abs = grad_loss * reciprocal(1 + exp_neg_abs) * exp_neg_abs  # Log1p's, then Exp's
        from_negated = -where(cond, grad_neg_abs, _zero(grad_neg_abs))
        from_unnegated = where(cond, _zero(grad_neg_abs), grad_neg_abs)
        # The tape aggregates the left branch's gradients first (order verified bitwise in bfloat16).
        grad_logits = _add_n(from_relu, from_product, from_negated, from_unnegated)
        return {"labels": grad_product * logits, "logits": grad_logits}

    @staticmethod
    def hvp(labels: CpuTensor, logits: CpuTensor, grad_loss: CpuTensor, vector: CpuTensor) -> dict:
        cond = logits >= CpuTensor(np.zeros_like(logits.value))
        exp_neg_abs = exp(where(cond, -logits, logits))
        one_plus = 1 + exp_neg_abs
        inverse = reciprocal(one_plus)
        grad_exp = grad_loss * inverse
        # Outer pass: the vector reaches every AddN input; only the product term holds labels.
        zero = _zero(vector)
        d_grad_neg_abs = _add_n(where(cond, -vector, zero), where(cond, zero, vector))
        d_grad_exp = d_grad_neg_abs * exp_neg_abs
        d_exp_direct = grad_exp * d_grad_neg_abs
        d_reciprocal = grad_loss * d_grad_exp
        d_exp = _add_n(d_exp_direct, _reciprocal_grad(inverse, d_reciprocal))
        d_neg_abs = d_exp * exp_neg_abs
        d_logits = _add_n(-where(cond, d_neg_abs, _zero(d_neg_abs)), where(cond, _zero(d_neg_abs), d_neg_abs))
        return {"labels": -grad_loss * vector, "logits": d_logits}


class WeightedGradient:
    """Gradient of ``weighted_cross_entropy_with_logits`` (autodiff in TF, like sigmoid).

    With ``l = 1 + (q - 1)*z``, ``s = log1p(exp(-|x|)) + relu(-x)`` (softplus(-x))::

        d/dx = g * ((1 - z) - l * (1 - sigmoid(x)))
        d/dz = g * (-x + (q - 1) * s)
        d/dq = sum over broadcast axes of g * z * s

    Quirk: TF differentiates ``abs`` (sign, 0 at 0) and ``relu`` (0 at 0) one-sidedly, so at
    exactly ``x = 0`` it returns ``d/dx = g * (1 - z)`` instead of ``g * ((1 - z) - l/2)``.
    """

    @staticmethod
    def _forward(labels, logits, pos_weight_minus_one):
        scaled = pos_weight_minus_one * labels
        log_weight = 1 + scaled
        complement = 1 - labels
        magnitude = CpuTensor(np.abs(logits.value))
        exp_neg_abs = exp(-magnitude)
        relu_neg = relu(-logits)
        softplus = log1p(exp_neg_abs) + relu_neg
        return log_weight, complement, magnitude, exp_neg_abs, relu_neg, softplus

    @classmethod
    def backward(cls, labels, logits, pos_weight_minus_one, grad_loss) -> dict:
        log_weight, complement, _, exp_neg_abs, relu_neg, softplus = cls._forward(labels, logits, pos_weight_minus_one)
        weighted_shape = np.broadcast_shapes(log_weight.shape, softplus.shape)
        # loss = linear + weighted: AddV2 hands grad_loss to both, summed to each one's shape.
        grad_linear = _unbroadcast(grad_loss, logits.shape)
        grad_weighted = _unbroadcast(grad_loss, weighted_shape)
        from_linear = grad_linear * complement
        grad_complement = grad_linear * logits
        grad_softplus = _unbroadcast(log_weight * grad_weighted, softplus.shape)
        grad_log_weight = _unbroadcast(grad_weighted * softplus, log_weight.shape)
        from_relu = -_relu_grad(grad_softplus, relu_neg)
        grad_neg_abs = grad_softplus * reciprocal(1 + exp_neg_abs) * exp_neg_abs
        from_abs = -grad_neg_abs * _sign(logits)
        # Aggregated as for sigmoid: the linear term's gradient first (verified bitwise in bfloat16).
        grad_logits = _add_n(from_linear, from_relu, from_abs)
        grad_scaled = _unbroadcast(grad_log_weight, np.broadcast_shapes(pos_weight_minus_one.shape, labels.shape))
        grad_labels = _add_n(-grad_complement, _unbroadcast(pos_weight_minus_one * grad_scaled, labels.shape))
        grad_pos_weight = _unbroadcast(grad_scaled * labels, pos_weight_minus_one.shape)
        return {"labels": grad_labels, "logits": grad_logits, "pos_weight": grad_pos_weight}

    @classmethod
    def hvp(cls, labels, logits, pos_weight_minus_one, grad_loss, vector) -> dict:
        log_weight, complement, _, exp_neg_abs, relu_neg, softplus = cls._forward(labels, logits, pos_weight_minus_one)
        weighted_shape = np.broadcast_shapes(log_weight.shape, softplus.shape)
        grad_linear = _unbroadcast(grad_loss, logits.shape)
        grad_weighted = _unbroadcast(grad_loss, weighted_shape)
        grad_softplus = _unbroadcast(log_weight * grad_weighted, softplus.shape)
        one_plus = 1 + exp_neg_abs
        inverse = reciprocal(one_plus)
        grad_exp = grad_softplus * inverse
        sign = _sign(logits)
        # Outer pass, from the three AddN inputs (from_linear, from_abs, from_relu) back.
        d_complement = grad_linear * vector
        d_grad_neg_abs = -(vector * sign)  # through from_abs = Neg(grad_neg_abs) * sign
        d_softplus_from_relu = _relu_grad(-vector, relu_neg)  # ReluGrad's gradient
        d_grad_exp = d_grad_neg_abs * exp_neg_abs
        d_exp_direct = grad_exp * d_grad_neg_abs
        d_softplus_from_log1p = d_grad_exp * inverse
        d_reciprocal = grad_softplus * d_grad_exp
        d_exp = _add_n(d_exp_direct, _reciprocal_grad(inverse, d_reciprocal))
        d_magnitude = -(d_exp * exp_neg_abs)
        from_abs_path = d_magnitude * sign
        # ReluGrad's gradient w.r.t. its features is zeros_like, which Relu and Neg pass back;
        # Sign's gradient is zeros_like too.  Both reach the logits as zeros.
        zeros = CpuTensor(np.zeros_like(logits.value))
        from_relu_path = -_relu_grad(zeros, relu_neg)
        d_logits = _add_n(from_relu_path, from_abs_path, zeros)
        d_grad_softplus = _add_n(d_softplus_from_relu, d_softplus_from_log1p)
        d_log_weight = _unbroadcast(grad_weighted * _broadcast_to(d_grad_softplus, weighted_shape), log_weight.shape)
        scaled_shape = np.broadcast_shapes(pos_weight_minus_one.shape, labels.shape)
        d_labels = _add_n(
            -d_complement,
            _unbroadcast(pos_weight_minus_one * _unbroadcast(d_log_weight, scaled_shape), labels.shape),
        )
        return {"labels": d_labels, "logits": d_logits}


class SoftmaxGradient:
    """TF's ``_SoftmaxCrossEntropyWithLogitsGrad``, and the wrapper's steps undone.

    With ``p = softmax(x)`` along the class axis and upstream gradient ``g`` (one per row)::

        d/dx = g * (p - z)          the kernel's backprop, used as is
        d/dz = g * -log_softmax(x)

    Quirk: ``p - z`` is the derivative of the loss only when each row of ``z`` sums to 1; the
    true derivative is ``g * (sum(z) * p - z)``.  Second order: ``d/dx <d/dx, v> = (u - <u, p>) * p``
    with ``u = g * v``, and TF's labels part is ``0 * -log_softmax(x)`` (0, or NaN where the
    log-softmax is infinite) where the true value is ``-u``.
    """

    @staticmethod
    def _prepare(inputs: _Inputs):
        """The wrapper's steps: cast to the precise dtype, move the axis last, flatten."""
        logits, labels, axis = inputs.logits, inputs.labels, inputs.axis
        precise_dtype = np.dtype(np.float32) if logits.dtype in HALF_TYPES else logits.dtype
        precise_logits = cast(logits, precise_dtype)
        precise_labels = cast(labels, precise_dtype)
        rank = precise_logits.ndim
        perm = list(range(rank))
        if axis != -1:
            perm = list(range(axis)) + list(range(axis + 1, rank)) + [axis]
        moved_logits = np.transpose(precise_logits, perm)
        moved_labels = np.transpose(precise_labels, perm) if precise_labels.ndim == rank else precise_labels
        logits_2d = moved_logits.reshape(_ops._inferred_rows(moved_logits.shape), moved_logits.shape[-1])
        labels_2d = moved_labels.reshape(_ops._inferred_rows(moved_labels.shape), moved_labels.shape[-1])
        return precise_dtype, perm, moved_logits.shape, moved_labels.shape, logits_2d, labels_2d

    @staticmethod
    def _back(grad_2d: np.ndarray, moved_shape: tuple, perm: list, dtype: np.dtype) -> np.ndarray:
        """Reshape's, Transpose's and Cast's gradients: back to the input's layout and dtype."""
        grad = _ops._reshape(grad_2d, moved_shape)
        grad = np.transpose(grad, np.argsort(perm)) if len(perm) == grad.ndim else grad
        return cast(grad, dtype)

    @classmethod
    def backward(cls, inputs: _Inputs, grad_loss: np.ndarray, second: np.ndarray | None = None,
                 backprop: np.ndarray | None = None) -> dict:
        """``backprop``: the forward kernel's, when the upstream gradient is all ones (then
        ``1 * backprop`` is ``backprop``, to the bit)."""
        precise_dtype, perm, logits_shape, labels_shape, logits_2d, labels_2d = cls._prepare(inputs)
        batch, classes = np.broadcast_shapes(logits_2d.shape, labels_2d.shape)
        grad_loss_flat = CpuTensor(cast(grad_loss, precise_dtype).reshape(batch, 1))
        logits_full = np.broadcast_to(logits_2d, (batch, classes))
        if _targets.is_deterministic():  # the tape through log_softmax, Mul and Sum
            return cls._deterministic_backward(inputs, grad_loss_flat.value[:, 0], labels_2d, logits_2d,
                                               logits_shape, labels_shape, perm)
        if backprop is not None:
            grad_logits = CpuTensor(backprop)
        elif batch > 0:  # grad_loss * backprop, the product computed by the kernel's loop
            grad_logits = CpuTensor(_engine.softmax_cross_entropy(labels_2d, logits_2d, upstream=grad_loss_flat.value)[1])
        else:
            grad_logits = backprop = CpuTensor(np.zeros((batch, classes), precise_dtype))
        if second is not None:  # grad_grad: the outer tape's vector, brought to the kernel's layout
            x = CpuTensor.from_input(logits_full) if batch > 0 else grad_logits
            grad_logits = grad_logits + _second_order_term(x, second)
        grads = {"logits": cls._back(grad_logits.value, logits_shape, perm, inputs.logits.dtype)}
        if inputs.labels_differentiable and _is_float(inputs.labels):
            if batch > 0:  # grad_loss * -log_softmax, the Neg and the Mul in the LogSoftmax loop
                grad_labels = _engine.log_softmax(logits_full, upstream=grad_loss_flat.value)
            else:
                grad_labels = np.zeros((batch, classes), precise_dtype)
            grads["labels"] = cls._back(grad_labels, labels_shape, perm, inputs.labels.dtype)
        else:
            grads["labels"] = None
        return grads

    @classmethod
    def _deterministic_backward(cls, inputs, upstream, labels_2d, logits_2d, logits_shape, labels_shape, perm):
        """Target ``"cpu-deterministic"``: the forward was ``-reduce_sum(labels * log_softmax)``."""
        grad_labels, grad_logits = _deterministic.softmax_cross_entropy_grad(labels_2d, logits_2d, upstream)
        grads = {"logits": cls._back(grad_logits, logits_shape, perm, inputs.logits.dtype), "labels": None}
        if inputs.labels_differentiable and _is_float(inputs.labels):
            grads["labels"] = cls._back(grad_labels, labels_shape, perm, inputs.labels.dtype)
        return grads

    @classmethod
    def hvp(cls, inputs: _Inputs, grad_loss: np.ndarray, vector: np.ndarray) -> dict:
        precise_dtype, perm, logits_shape, _, logits_2d, labels_2d = cls._prepare(inputs)
        batch, classes = np.broadcast_shapes(logits_2d.shape, labels_2d.shape)
        # The inner gradient was g[:, None] * backprop, cast/reshaped/transposed back; the outer
        # tape brings the vector through the same steps in reverse, then Mul's gradient.
        v = np.transpose(cast(vector, precise_dtype), perm).reshape(batch, classes)
        grad_grad = CpuTensor(cast(grad_loss, precise_dtype).reshape(batch, 1)) * CpuTensor(v)
        # The loss output is not on the outer path: its gradient is zeros (not None).
        return cls.backward(inputs, np.zeros(batch, precise_dtype), second=grad_grad)


def _second_order_term(logits: CpuTensor, grad_grad: CpuTensor) -> CpuTensor:
    """``(grad_grad - <grad_grad, p>) * p``, the grad_grad term of TF's xent gradients.

    ``p`` is TF's Softmax op (``gen_nn_ops.softmax``), not the xent kernel's softmax: float64
    runs Eigen's kernel, float32 and bfloat16 run oneDNN on TF's x86 wheel.  Quirk: oneDNN's
    ``exp`` scales by ``2 * 2**(n-1)`` with denormals flushed, so ``p`` is exactly 0 where
    ``x - max(x)`` is below about -87 (``n < -125``), and so is this term, where Eigen's
    float32 softmax keeps a tiny normal probability.
    """
    if logits.value.size == 0:  # no rows or no classes: TF's term is as empty as its input
        return CpuTensor(np.zeros(logits.shape, logits.dtype))
    probabilities = CpuTensor(_engine.softmax(logits.value))  # math_ops.softmax, compiled where it can be
    return (grad_grad - _row_dot(grad_grad, probabilities)) * probabilities


class SparseGradient:
    """TF's ``_SparseSoftmaxCrossEntropyWithLogitsGrad``: ``d/dx = g * (softmax(x) - onehot(y))``.

    No gradient for the integer labels (``None``).  float16 logits are computed in float32 and
    the gradient cast back; bfloat16 stays bfloat16 throughout, like the forward kernel.
    Second order: ``(u - <u, p>) * p`` with ``u = g * v``, as for the dense softmax.
    """

    @staticmethod
    def backward(inputs: _Inputs, grad_loss: np.ndarray, second: np.ndarray | None = None,
                 backprop: np.ndarray | None = None) -> dict:
        """``backprop`` as for :meth:`SoftmaxGradient.backward`."""
        logits = inputs.logits
        precise_dtype = np.dtype(np.float32) if logits.dtype == np.float16 else logits.dtype
        precise_logits = cast(logits, precise_dtype)
        logits_2d = precise_logits if precise_logits.ndim == 2 else _ops._flatten_outer_dims(precise_logits)
        labels_flat = inputs.labels.reshape(-1)
        batch, classes = logits_2d.shape
        grad_loss_flat = CpuTensor(cast(grad_loss, precise_dtype).reshape(batch, 1))
        if _targets.is_deterministic() and second is None:  # the tape through log_softmax and a gather
            grad_2d = _deterministic.sparse_softmax_cross_entropy_grad(labels_flat, logits_2d, grad_loss_flat.value[:, 0])
            return {"labels": None, "logits": cast(grad_2d.reshape(logits.shape), logits.dtype)}
        if backprop is not None:
            grad_logits = CpuTensor(backprop)
        elif batch > 0:
            # grad_loss * backprop, the product computed by the kernel's loop
            grad_logits = CpuTensor(_ops.sparse_kernel(labels_flat, logits_2d, upstream=grad_loss_flat.value)[1])
        else:
            grad_logits = CpuTensor(np.zeros((batch, classes), precise_dtype))
        if second is not None:
            grad_logits = grad_logits + _second_order_term(CpuTensor.from_input(logits_2d), second)
        grad = cast(grad_logits.value.reshape(logits.shape), logits.dtype)
        return {"labels": None, "logits": grad}

    @classmethod
    def hvp(cls, inputs: _Inputs, grad_loss: np.ndarray, vector: np.ndarray) -> dict:
        logits = inputs.logits
        precise_dtype = np.dtype(np.float32) if logits.dtype == np.float16 else logits.dtype
        classes = logits.shape[-1]
        v = cast(vector, precise_dtype).reshape(-1, classes)
        batch = v.shape[0]
        grad_grad = CpuTensor(cast(grad_loss, precise_dtype).reshape(batch, 1)) * CpuTensor(v)
        return cls.backward(inputs, np.zeros(batch, precise_dtype), second=grad_grad)


# --------------------------------------------------------------------------------------------
# Registry: public op -> (family rule, how to read its arguments)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Registration:
    family: str
    read_arguments: Callable[[dict], _Inputs]


_REGISTRY: dict = {}


def register_gradient(family: str, *ops):
    """Register a reader of ``ops``' arguments for the gradient rule of ``family``."""

    def register(read_arguments):
        for op in ops:
            _REGISTRY[op] = _Registration(family, read_arguments)
        return read_arguments

    return register


def _bind(op, inputs: dict) -> dict:
    bound = inspect.signature(op).bind_partial(**inputs)
    bound.apply_defaults()
    return dict(bound.arguments)


@register_gradient("sigmoid", nn.sigmoid_cross_entropy_with_logits, nn_v1.sigmoid_cross_entropy_with_logits)
def _sigmoid_arguments(arguments: dict) -> _Inputs:
    return _Inputs(convert_to_tensor(arguments["labels"]), convert_to_tensor(arguments["logits"]))


@register_gradient("weighted", nn.weighted_cross_entropy_with_logits)
@register_gradient("weighted", nn_v1.weighted_cross_entropy_with_logits)
def _weighted_arguments(arguments: dict) -> _Inputs:
    targets = arguments.get("targets")
    labels = deprecated_argument_lookup("labels", arguments["labels"], "targets", targets)
    return _Inputs(
        convert_to_tensor(labels),
        convert_to_tensor(arguments["logits"]),
        labels_name="targets" if targets is not None else "labels",
        pos_weight=arguments["pos_weight"],
    )


@register_gradient("softmax", nn.softmax_cross_entropy_with_logits)
def _softmax_arguments(arguments: dict) -> _Inputs:
    axis = arguments.get("axis")
    return _Inputs(convert_to_tensor(arguments["labels"]), convert_to_tensor(arguments["logits"]),
                   axis=-1 if axis is None else axis)


@register_gradient("softmax", nn_v1.softmax_cross_entropy_with_logits_v2)
def _softmax_v1_v2_arguments(arguments: dict) -> _Inputs:
    axis = deprecated_argument_lookup("axis", arguments["axis"], "dim", arguments["dim"])
    return _softmax_arguments({**arguments, "axis": axis})


@register_gradient("softmax", nn_v1.softmax_cross_entropy_with_logits)
def _softmax_v1_arguments(arguments: dict) -> _Inputs:
    # TF wraps the labels in stop_gradient: the tape returns None for them.
    dim = deprecated_argument_lookup("axis", arguments["axis"], "dim", arguments["dim"])
    inputs = _softmax_arguments({**arguments, "axis": dim})
    inputs.labels_differentiable = False
    return inputs


@register_gradient("sparse", nn.sparse_softmax_cross_entropy_with_logits, nn_v1.sparse_softmax_cross_entropy_with_logits)
def _sparse_arguments(arguments: dict) -> _Inputs:
    return _Inputs(convert_to_tensor(arguments["labels"]), convert_to_tensor(arguments["logits"]))


# Functions whose gradient is a chain of several TF ops (tfloss._gradients.composite): op ->
# backward(arguments, upstream) -> {argument name: gradient or None}.
_COMPOSITE: dict = {}
# Loss classes (Keras): type -> backward(op, arguments, upstream), for calls of their instances.
_COMPOSITE_TYPES: dict = {}


def register_composite(*ops):
    """Register ``backward(arguments, upstream)`` as the gradient of ``ops``."""

    def register(backward):
        for op in ops:
            _COMPOSITE[op] = backward
        return backward

    return register


def _registration(op) -> _Registration:
    try:
        return _REGISTRY[op]
    except (KeyError, TypeError):
        raise TypeError(f"no gradient is registered for {op!r}; expected a tfloss.nn or tfloss.compat.v1.nn op") from None


def _upstream(grad_loss, loss: np.ndarray) -> np.ndarray:
    """``output_gradients``: ones like the loss by default, else converted to the loss's dtype."""
    if grad_loss is None:
        return np.ones(loss.shape, loss.dtype)
    upstream = convert_to_tensor(grad_loss)
    if upstream.shape != loss.shape:
        upstream = np.broadcast_to(upstream, loss.shape)
    return cast(upstream, loss.dtype)


def _pos_weight_tensor(inputs: _Inputs):
    """``pos_weight - 1`` as the forward op gets it, and whether pos_weight has a gradient."""
    minus_one = _ops._pos_weight_minus_one(inputs.pos_weight, inputs.labels)
    differentiable = _is_float(inputs.pos_weight) or (
        hasattr(inputs.pos_weight, "numpy") and not isinstance(inputs.pos_weight, (np.ndarray, np.generic))
    )
    return CpuTensor.from_input(minus_one), differentiable


def _elementwise_backward(family, inputs, upstream):
    if family == "sigmoid":  # SigmoidGradient.backward, run by the engine
        grad_labels, grad_logits = _engine.sigmoid_cross_entropy_grad(inputs.labels, inputs.logits, upstream)
        return {"labels": grad_labels, "logits": grad_logits}
    minus_one, differentiable = _pos_weight_tensor(inputs)
    if not differentiable:  # WeightedGradient.backward, run by the engine where it applies
        fused = _engine.weighted_cross_entropy_grad(inputs.labels, inputs.logits, minus_one.value, upstream)
        if fused is not None:
            return {"labels": fused[0], "logits": fused[1], "pos_weight": None}
    labels, logits = CpuTensor.from_input(inputs.labels), CpuTensor.from_input(inputs.logits)
    g = CpuTensor(upstream)
    grads = WeightedGradient.backward(labels, logits, minus_one, g)
    if differentiable:
        pos_weight = np.asarray(convert_to_tensor(inputs.pos_weight))
        grads["pos_weight"] = cast(grads["pos_weight"].value, pos_weight.dtype)
    else:
        grads["pos_weight"] = None
    return grads


def _fresh(value, inputs: _Inputs) -> np.ndarray:
    """``value`` as an array the caller owns: copied only if it is read-only or may share memory
    with an input (a gradient computed by the engine is already a fresh array)."""
    value = np.asarray(value)
    sources = (inputs.labels, inputs.logits, inputs.pos_weight)
    if not value.flags.writeable or any(isinstance(a, np.ndarray) and np.may_share_memory(value, a) for a in sources):
        return np.array(value)
    return value


def _as_arrays(grads: dict, inputs: _Inputs, family: str) -> dict:
    out = {}
    for name, grad in grads.items():
        value = grad.value if isinstance(grad, CpuTensor) else grad
        out[inputs.labels_name if name == "labels" else name] = None if value is None else _fresh(value, inputs)
    if family == "weighted" and inputs.pos_weight is None:
        out.pop("pos_weight", None)
    return out


def _refuse_deterministic(op, what: str):
    raise NotImplementedError(
        f"{what} for {getattr(op, '__name__', type(op).__name__)} under {_targets.describe()} is not reproduced "
        "by tfloss yet (TF's tape runs through log_softmax there, not the fused kernel's gradient); "
        "first-order gradients of the tfloss.nn and compat.v1.nn softmax ops are"
    )


def _refuse_xla(op, what: str):
    raise NotImplementedError(
        f"{what} for {getattr(op, '__name__', type(op).__name__)} under {_targets.describe()} is not reproduced "
        "by tfloss yet; first-order gradients of the tfloss.nn and compat.v1.nn cross-entropy ops are"
    )


def _xla_pos_weight_backward(op, inputs: _Inputs, upstream: np.ndarray) -> dict:
    """The weighted op under ``"xla-cpu"`` with a tensor ``pos_weight`` that the tape watches:
    ``pos_weight - 1`` is computed inside the compiled function and pos_weight gets its
    gradient (:func:`tfloss._targets.xla_cpu.weighted_cross_entropy_grad_pos_weight`)."""
    pos_weight = np.asarray(convert_to_tensor(inputs.pos_weight))
    shape, labels_shape = inputs.logits.shape, inputs.labels.shape
    if np.broadcast_shapes(pos_weight.shape, labels_shape) != labels_shape:
        _refuse_xla(op, "value_and_gradient with a pos_weight that broadcasts the labels")
    if not _xla.reproduces_broadcast_sum(pos_weight.shape, shape, pos_weight.dtype):
        _refuse_xla(op, f"value_and_gradient with a {pos_weight.dtype} pos_weight of shape {pos_weight.shape} summed "
                        f"from {shape} (XLA's vectorized reduce order)")
    grad_labels, grad_logits, grad_pos_weight = _xla.weighted_cross_entropy_grad_pos_weight(
        *_xla.stored(inputs.labels, inputs.logits, pos_weight.astype(inputs.logits.dtype), upstream))
    # in pos_weight's own dtype, as on CPU (a NumPy pos_weight of another dtype is cast for the op)
    return {"labels": grad_labels, "logits": grad_logits, "pos_weight": cast(grad_pos_weight, pos_weight.dtype)}


def _xla_backward(family: str, op, inputs: _Inputs, upstream: np.ndarray, unit: bool) -> dict:
    """Target ``"xla-cpu"``: the tape's gradient ops compiled with the forward pass
    (:mod:`tfloss._targets.xla_cpu`), around the same wrapper steps as on CPU.  ``unit``: the
    upstream gradient is the tape's default ones, a constant XLA folds away."""
    if family == "sigmoid":
        grad_labels, grad_logits = _xla.sigmoid_cross_entropy_grad(*_xla.stored(inputs.labels, inputs.logits, upstream))
        if unit and not (inputs.logits.size == 1 and inputs.logits.dtype in (np.float32, np.float64)):
            # -1 * x is folded into a negation, which keeps a subnormal x; on a one-element
            # float32/float64 tensor XLA multiplies, and the subnormal is flushed (measured, TF
            # 2.21; bfloat16, computed in float32 without the flush, keeps it either way).
            grad_labels = -np.asarray(inputs.logits)
        return {"labels": grad_labels, "logits": grad_logits}
    if family == "weighted":
        minus_one, differentiable = _pos_weight_tensor(inputs)
        if differentiable:
            return _xla_pos_weight_backward(op, inputs, upstream)
        grad_labels, grad_logits = _xla.weighted_cross_entropy_grad(
            *_xla.stored(inputs.labels, inputs.logits, minus_one.value, upstream))
        return {"labels": grad_labels, "logits": grad_logits, "pos_weight": None}
    if family == "softmax":
        precise_dtype, perm, logits_shape, labels_shape, logits_2d, labels_2d = SoftmaxGradient._prepare(inputs)
        batch, classes = np.broadcast_shapes(logits_2d.shape, labels_2d.shape)
        with_labels = inputs.labels_differentiable and _is_float(inputs.labels)
        if batch > 0:
            g = cast(upstream, precise_dtype).reshape(batch)
            grad_labels, grad_logits = _xla.softmax_cross_entropy_grad(*_xla.stored(labels_2d, logits_2d, g), with_labels)
        else:
            grad_labels = grad_logits = np.zeros((batch, classes), precise_dtype)
        grads = {"logits": SoftmaxGradient._back(grad_logits, logits_shape, perm, inputs.logits.dtype), "labels": None}
        if with_labels:
            grads["labels"] = SoftmaxGradient._back(grad_labels, labels_shape, perm, inputs.labels.dtype)
        return grads
    logits = inputs.logits
    precise_dtype = np.dtype(np.float32) if logits.dtype == np.float16 else logits.dtype
    logits_2d = cast(logits, precise_dtype)
    logits_2d = logits_2d if logits_2d.ndim == 2 else _ops._flatten_outer_dims(logits_2d)
    if logits_2d.shape[0] == 0:
        grad = np.zeros(logits_2d.shape, precise_dtype)
    else:
        g = cast(upstream, precise_dtype).reshape(logits_2d.shape[0])
        grad = _xla.sparse_softmax_cross_entropy_grad(inputs.labels.reshape(-1), *_xla.stored(logits_2d, g))
    return {"labels": None, "logits": cast(grad.reshape(logits.shape), logits.dtype)}


@_quiet
def value_and_gradient(op, *, grad_loss=None, **inputs):
    """Loss and gradients of a tfloss op, as TF's ``GradientTape`` returns them.

    Parameters
    ----------
    op : callable
        A public op of :mod:`tfloss.nn` or :mod:`tfloss.compat.v1.nn`, a building block of
        :mod:`tfloss.math` (``sigmoid``, ``softplus``, ``log_sigmoid``, ``softmax``,
        ``log_softmax``, ``reduce_sum``, ``reduce_mean``), a :mod:`tfloss.compat.v1.losses`
        loss (gradients for ``logits``/``losses`` and ``weights``), or a :mod:`tfloss.keras.losses`
        function or loss object, focal losses included (gradients for ``y_pred``, float
        ``y_true`` and, for an object, ``sample_weight``; sparse labels have None).
    grad_loss : array_like, optional
        Upstream gradient (TF's ``output_gradients``), shaped like the loss; default ones.
    **inputs
        The op's keyword arguments.

    Returns
    -------
    loss : numpy.ndarray
        ``op(**inputs)``.
    grads : dict
        Array argument name (``labels``/``targets``, ``logits``, ``pos_weight``) to its
        gradient, with the argument's converted shape and dtype, or ``None`` where TF returns
        None: v1 softmax labels (``stop_gradient``), integer labels, sparse labels, and a
        scalar ``pos_weight`` (folded into ``pos_weight - 1`` outside TF).

    Examples
    --------
    >>> import tfloss as tf
    >>> loss, grads = tf.value_and_gradient(tf.nn.sigmoid_cross_entropy_with_logits,
    ...                                     labels=[1.0, 0.0], logits=[0.0, 0.0])
    >>> grads["logits"]
    array([-0.5,  0.5], dtype=float32)
    """
    composite = _COMPOSITE.get(op) if not isinstance(op, type) else None
    by_type = _COMPOSITE_TYPES.get(type(op))
    if _targets.is_xla() and (composite is not None or by_type is not None or op not in _REGISTRY):
        _refuse_xla(op, "value_and_gradient")
    if composite is not None or by_type is not None:
        paths = _targets.deterministic_paths()
        loss = np.asarray(op(**inputs))
        if _targets.deterministic_paths() != paths:
            _refuse_deterministic(op, "value_and_gradient of a composite loss")
        arguments = _bind(op, inputs)
        upstream = _upstream(grad_loss, loss)
        grads = composite(arguments, upstream) if composite is not None else by_type(op, arguments, upstream)
        return loss, {name: None if g is None else np.array(g) for name, g in grads.items() if name in inputs}
    registration = _registration(op)
    family = registration.family
    with _engine.keeping_backprop() as kept:  # the xent kernels' second output, as TF's tape keeps it
        loss = np.asarray(op(**inputs))
    arguments = registration.read_arguments(_bind(op, inputs))
    upstream = _upstream(grad_loss, loss)
    backprop = kept[0] if grad_loss is None and len(kept) == 1 else None
    if _targets.is_xla():
        grads = _xla_backward(family, op, arguments, upstream, unit=grad_loss is None)
    elif family in ("sigmoid", "weighted"):
        grads = _elementwise_backward(family, arguments, upstream)
    elif family == "softmax":
        grads = SoftmaxGradient.backward(arguments, upstream, backprop=backprop)
    else:
        grads = SparseGradient.backward(arguments, upstream, backprop=backprop)
    return loss, _as_arrays(grads, arguments, family)


@_quiet
def hessian_vector_product(op, vector, *, grad_loss=None, **inputs) -> dict:
    """TF's nested tapes: ``d/d[labels, logits] <d loss/d logits, vector>``.

    Equals ``outer.gradient(inner.gradient(loss, logits, output_gradients=grad_loss),
    [labels, logits], output_gradients=vector)``, TF's quirks included (for softmax, the
    labels part is ``0 * -log_softmax``: zero, or NaN, where the true value is ``-g * vector``).

    Parameters
    ----------
    op : callable
        A public op of :mod:`tfloss.nn` or :mod:`tfloss.compat.v1.nn`.
    vector : array_like
        Tangent, shaped like ``logits``.
    grad_loss : array_like, optional
        Upstream gradient of the inner tape, shaped like the loss; default ones.

    Returns
    -------
    dict
        ``labels`` (or ``targets``) and ``logits`` to arrays, or ``None`` where TF returns None.
    """
    registration = _registration(op)
    if _targets.is_xla():
        _refuse_xla(op, "hessian_vector_product")
    paths = _targets.deterministic_paths()
    loss = np.asarray(op(**inputs))
    if _targets.deterministic_paths() != paths:
        _refuse_deterministic(op, "hessian_vector_product")
    arguments = registration.read_arguments(_bind(op, inputs))
    upstream = _upstream(grad_loss, loss)
    family = registration.family
    logits_dtype = arguments.logits.dtype
    vector = cast(np.broadcast_to(convert_to_tensor(vector), arguments.logits.shape), logits_dtype)
    if family in ("sigmoid", "weighted"):
        labels, logits = CpuTensor.from_input(arguments.labels), CpuTensor.from_input(arguments.logits)
        g, v = CpuTensor(upstream), CpuTensor.from_input(vector)
        if family == "sigmoid":
            result = SigmoidGradient.hvp(labels, logits, g, v)
        else:
            minus_one, _ = _pos_weight_tensor(arguments)
            result = WeightedGradient.hvp(labels, logits, minus_one, g, v)
    elif family == "softmax":
        result = SoftmaxGradient.hvp(arguments, upstream, vector)
    else:
        result = SparseGradient.hvp(arguments, upstream, vector)
    result.pop("pos_weight", None)
    return _as_arrays(result, arguments, family)


__all__ = ["value_and_gradient", "hessian_vector_product", "register_gradient", "register_composite"]

from . import composite  # noqa: E402, F401 - registers the building blocks' and losses' rules
