"""Gradients of the building blocks and of the losses built on them, as ``GradientTape`` runs them.

Each rule replays the gradient ops TF registers for the forward ops, in TF's order, each op
rounded like TF's CPU kernel:

* ``Sigmoid``: ``SigmoidGrad(y, g)``; ``Softplus``: ``g * sigmoid(x)`` (a Python gradient, two
  ops); ``log_sigmoid = -softplus(-x)`` chains Neg, that, Neg.
* ``Softmax``: ``(g - sum(g * s, -1)) * s``; ``LogSoftmax``: ``g - sum(g, -1) * exp(y)``, both on
  the class axis swapped last, as the forward op ran.
* ``Sum``: the upstream gradient broadcast back; ``Mean``: that, divided by the count (a constant
  of the tensor's dtype).
* ``tf.compat.v1.losses``: Cast, Mul, Sum, DivNoNan backwards through ``compute_weighted_loss``,
  then the cross-entropy op's own rule (:mod:`tfloss._gradients`).

They are registered in :mod:`tfloss._gradients`' registry, so ``tfloss.value_and_gradient``
takes these functions too.  Gradients exist for floating-point inputs only (TF's tape returns
None for integer ones).
"""

from __future__ import annotations

import numpy as np

from . import _engine, _gradients, _ops, _tf_math_ops, _v1_losses, math
from ._convert import FLOAT_DTYPES, cast, convert_to_tensor, reduction_indices, check_reduction_indices, softmax_axis
from ._cpu import CpuTensor, exp
from ._gradients import _Inputs, _unbroadcast, register_composite
from .compat.v1 import losses as v1_losses

_PACKET = {np.dtype(np.float64): 4}


def _t(array) -> CpuTensor:
    return CpuTensor.from_input(np.asarray(array))


def sigmoid_grad(y: CpuTensor, g: CpuTensor) -> CpuTensor:
    """TF's SigmoidGrad kernel: ``g * (y * (1 - y))`` on whole packets, ``(g * y) * (1 - y)`` on the
    tail that Eigen evaluates one element at a time."""
    one_minus = 1 - y
    packet_form = g * (y * one_minus)
    scalar_form = (g * y) * one_minus
    flat_packet, flat_scalar = packet_form.value.reshape(-1), scalar_form.value.reshape(-1)
    packet = _PACKET.get(y.dtype, 8)
    vectorized = flat_packet.size // packet * packet
    result = np.concatenate([flat_packet[:vectorized], flat_scalar[vectorized:]])
    return CpuTensor(result.reshape(y.shape))


@register_composite(math.sigmoid)
def _sigmoid_backward(arguments: dict, upstream: np.ndarray) -> dict:
    x = convert_to_tensor(arguments["x"])
    y = _t(_ops.sigmoid(x))
    return {"x": sigmoid_grad(y, _t(upstream)).value}


def _softplus_grad(features: np.ndarray, g: CpuTensor) -> CpuTensor:
    return g * _t(_ops.sigmoid(features))


@register_composite(math.softplus)
def _softplus_backward(arguments: dict, upstream: np.ndarray) -> dict:
    return {"features": _softplus_grad(convert_to_tensor(arguments["features"]), _t(upstream)).value}


@register_composite(math.log_sigmoid)
def _log_sigmoid_backward(arguments: dict, upstream: np.ndarray) -> dict:
    x = convert_to_tensor(arguments["x"])
    negated = (-_t(x)).value
    return {"x": (-_softplus_grad(negated, -_t(upstream))).value}


def _class_axis_last(arguments: dict, upstream: np.ndarray):
    logits = convert_to_tensor(arguments["logits"])
    axis = arguments.get("axis")
    axis = softmax_axis(-1 if axis is None else axis, logits.ndim)
    swap = (lambda a: a) if axis == -1 else (lambda a: np.ascontiguousarray(np.swapaxes(a, axis, -1)))
    return logits, swap, swap(cast(upstream, logits.dtype))


def _row_sum(x: CpuTensor) -> CpuTensor:
    return CpuTensor(_ops.reduce(x.value, -1, True, "Sum"))


@register_composite(math.softmax)
def _softmax_backward(arguments: dict, upstream: np.ndarray) -> dict:
    logits, swap, g = _class_axis_last(arguments, upstream)
    s = _t(swap(_ops.softmax(logits, arguments.get("axis"))))
    sum_channels = _row_sum(_t(g) * s)
    return {"logits": swap(((_t(g) - sum_channels) * s).value)}


@register_composite(math.log_softmax)
def _log_softmax_backward(arguments: dict, upstream: np.ndarray) -> dict:
    logits, swap, g = _class_axis_last(arguments, upstream)
    probabilities = exp(_t(swap(_ops.softmax(logits, arguments.get("axis"), log=True))))
    return {"logits": swap((_t(g) - _row_sum(_t(g)) * probabilities).value)}


def _reduced_axes(arguments: dict, x: np.ndarray, op: str) -> tuple:
    axis = arguments.get("axis")
    indices = np.arange(x.ndim, dtype=np.int32) if axis is None else reduction_indices(axis, op)
    return check_reduction_indices(indices, x.ndim, op)


def _sum_grad(x: np.ndarray, axes: tuple, upstream: np.ndarray) -> np.ndarray:
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return np.broadcast_to(cast(upstream, x.dtype).reshape(kept), x.shape).copy()


@register_composite(math.reduce_sum)
def _reduce_sum_backward(arguments: dict, upstream: np.ndarray) -> dict:
    x = convert_to_tensor(arguments["input_tensor"])
    if x.dtype not in FLOAT_DTYPES:
        return {"input_tensor": None}
    return {"input_tensor": _sum_grad(x, _reduced_axes(arguments, x, "Sum"), upstream)}


@register_composite(math.reduce_mean)
def _reduce_mean_backward(arguments: dict, upstream: np.ndarray) -> dict:
    x = convert_to_tensor(arguments["input_tensor"])
    if x.dtype not in FLOAT_DTYPES:
        return {"input_tensor": None}
    axes = _reduced_axes(arguments, x, "Mean")
    sum_grad = _sum_grad(x, axes, upstream)
    output_size = int(np.prod([d for i, d in enumerate(x.shape) if i not in axes], dtype=np.int64))
    factor = x.size // max(output_size, 1)
    return {"input_tensor": (_t(sum_grad) / CpuTensor(np.asarray(factor, x.dtype))).value}


# --------------------------------------------------------------------------------------------
# tf.compat.v1.losses


def _weighted_loss_backward(losses: np.ndarray, weights, reduction, upstream: np.ndarray):
    """``compute_weighted_loss`` backwards: the gradients w.r.t. the losses and the weights."""
    losses32 = _t(cast(losses, np.dtype(np.float32)))
    weights_array = convert_to_tensor(weights)
    weights32 = _t(cast(weights_array, np.dtype(np.float32)))
    g = _t(cast(upstream, np.dtype(np.float32)))  # Cast's gradient: back to float32
    weighted_shape = np.broadcast_shapes(losses32.shape, weights32.shape)
    if reduction == _v1_losses.Reduction.NONE:
        grad_weighted = g
    else:
        grad_sum = g
        if reduction != _v1_losses.Reduction.SUM:
            if reduction == _v1_losses.Reduction.MEAN:
                divisor = _tf_math_ops.sum_op(CpuTensor(np.ones_like(losses32.value)) * weights32)
            elif reduction == _v1_losses.Reduction.SUM_OVER_BATCH_SIZE:
                divisor = CpuTensor(np.asarray(losses32.value.size, np.float32))
            else:
                divisor = _v1_losses._num_present(losses32.value, weights32.value)
            grad_sum = _tf_math_ops.div_no_nan(g, divisor)  # DivNoNan's gradient w.r.t. x
        grad_weighted = CpuTensor(np.broadcast_to(grad_sum.value, weighted_shape).copy())
    grad_losses = _unbroadcast(grad_weighted * weights32, losses32.shape)
    grad_weights = _unbroadcast(losses32 * grad_weighted, weights32.shape)
    if reduction == _v1_losses.Reduction.MEAN:
        # The divisor sum(ones_like(losses) * weights) depends on the weights too: DivNoNan's
        # gradient w.r.t. y, g * div_no_nan(div_no_nan(-x, y), y), back through Sum and Mul.
        total = _tf_math_ops.sum_op(CpuTensor(np.ones_like(losses32.value)) * weights32)
        numerator = _tf_math_ops.sum_op(losses32 * weights32)
        grad_divisor = g * _tf_math_ops.div_no_nan(_tf_math_ops.div_no_nan(-numerator, total), total)
        ones = CpuTensor(np.ones(weighted_shape, np.float32))
        through_divisor = _unbroadcast(ones * CpuTensor(np.broadcast_to(grad_divisor.value, weighted_shape).copy()),
                                       weights32.shape)
        grad_weights = grad_weights + through_divisor
    grad_losses = cast(grad_losses.value, losses.dtype)
    grad_weights = cast(grad_weights.value, weights_array.dtype) if weights_array.dtype in FLOAT_DTYPES else None
    return grad_losses, grad_weights


def _v1_common(arguments: dict, labels_name: str):
    weights = arguments.get("weights", 1.0)
    reduction = arguments.get("reduction", _v1_losses.Reduction.SUM_BY_NONZERO_WEIGHTS)
    return weights, reduction


@register_composite(v1_losses.sigmoid_cross_entropy)
def _v1_sigmoid_backward(arguments: dict, upstream: np.ndarray) -> dict:
    weights, reduction = _v1_common(arguments, "multi_class_labels")
    logits = convert_to_tensor(arguments["logits"])
    labels = cast(convert_to_tensor(arguments["multi_class_labels"]), logits.dtype)
    ls = arguments.get("label_smoothing", 0)
    if ls > 0:
        labels = (_t(labels) * CpuTensor(np.asarray(1 - ls, labels.dtype)) + CpuTensor(np.asarray(0.5 * ls, labels.dtype))).value
    losses = _ops.sigmoid_cross_entropy_with_logits(labels, logits)
    grad_losses, grad_weights = _weighted_loss_backward(losses, weights, reduction, upstream)
    grad_labels, grad_logits = _engine.sigmoid_cross_entropy_grad(labels, logits, grad_losses)
    if ls > 0:  # Mul's gradient through labels * (1 - ls); the added constant has none
        grad_labels = (_t(grad_labels) * CpuTensor(np.asarray(1 - ls, labels.dtype))).value
    original = convert_to_tensor(arguments["multi_class_labels"])
    grad_labels = cast(grad_labels, original.dtype) if original.dtype in FLOAT_DTYPES else None  # Cast's gradient
    return {"logits": grad_logits, "weights": grad_weights, "multi_class_labels": grad_labels}


@register_composite(v1_losses.softmax_cross_entropy)
def _v1_softmax_backward(arguments: dict, upstream: np.ndarray) -> dict:
    weights, reduction = _v1_common(arguments, "onehot_labels")
    logits = convert_to_tensor(arguments["logits"])
    labels = cast(convert_to_tensor(arguments["onehot_labels"]), logits.dtype)
    ls = arguments.get("label_smoothing", 0)
    if ls > 0:
        num_classes = CpuTensor(np.asarray(labels.shape[-1], labels.dtype))
        negatives = CpuTensor(np.asarray(ls, labels.dtype)) / num_classes
        labels = (_t(labels) * CpuTensor(np.asarray(1.0 - ls, labels.dtype)) + negatives).value
    losses = _ops.softmax_cross_entropy_with_logits(labels, logits, -1)
    grad_losses, grad_weights = _weighted_loss_backward(losses, weights, reduction, upstream)
    grads = _gradients.SoftmaxGradient.backward(_Inputs(labels, logits, labels_differentiable=False), grad_losses)
    return {"logits": grads["logits"], "weights": grad_weights, "onehot_labels": None}  # stop_gradient


@register_composite(v1_losses.sparse_softmax_cross_entropy)
def _v1_sparse_backward(arguments: dict, upstream: np.ndarray) -> dict:
    weights, reduction = _v1_common(arguments, "labels")
    logits = convert_to_tensor(arguments["logits"])
    labels = convert_to_tensor(arguments["labels"])
    rank_diff = logits.ndim - labels.ndim
    squeezed_logits = logits.reshape(logits.shape[:-1]) if rank_diff == 2 and logits.shape[-1] == 1 else logits
    if rank_diff == 0 and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    weights_array = convert_to_tensor(weights)
    squeezed_weights = weights_array
    if weights_array.ndim - labels.ndim == 1:
        squeezed_weights = weights_array.reshape(weights_array.shape[:-1])
    losses = _ops.sparse_softmax_cross_entropy_with_logits(labels, squeezed_logits)
    grad_losses, grad_weights = _weighted_loss_backward(losses, squeezed_weights, reduction, upstream)
    grads = _gradients.SparseGradient.backward(_Inputs(labels, squeezed_logits), grad_losses)
    grad_logits = grads["logits"].reshape(logits.shape)
    if grad_weights is not None:
        grad_weights = grad_weights.reshape(weights_array.shape)
    return {"logits": grad_logits, "weights": grad_weights, "labels": None}  # integer labels


@register_composite(v1_losses.compute_weighted_loss)
def _compute_weighted_loss_backward(arguments: dict, upstream: np.ndarray) -> dict:
    weights, reduction = _v1_common(arguments, "losses")
    losses = convert_to_tensor(arguments["losses"])
    grad_losses, grad_weights = _weighted_loss_backward(losses, weights, reduction, upstream)
    return {"losses": grad_losses if losses.dtype in FLOAT_DTYPES else None, "weights": grad_weights}
