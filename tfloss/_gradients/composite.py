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
* Keras 3's losses: the reduction and weights backwards, then the function's ops (clip, Log,
  Mul, Sum or Mean) or the cross-entropy op's rule from logits; ``y_true`` through Mul's
  gradient, label smoothing's constant and Cast's gradient to its own dtype.

They are registered in :mod:`tfloss._gradients`' registry, so ``tfloss.value_and_gradient``
takes these functions too.  Gradients exist for floating-point inputs only (TF's tape returns
None for integer ones).
"""

from __future__ import annotations

import numpy as np

from .. import _engine, _gradients, math
from .._frontend import wrappers as _ops
from .._machine import math_ops as _tf_math_ops
from .._frontend import v1_losses as _v1_losses
from .._frontend.convert import FLOAT_DTYPES, cast, convert_to_tensor, reduction_indices, check_reduction_indices, softmax_axis
from .._machine.cpu import CpuTensor, exp, reciprocal
from . import _Inputs, _unbroadcast, register_composite
from ..compat.v1 import losses as v1_losses

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


# --------------------------------------------------------------------------------------------
# Keras 3 losses: the functions w.r.t. y_pred and y_true, the loss objects also w.r.t. sample_weight

from .._frontend import keras_losses as _kl  # noqa: E402
from ..keras import losses as keras_losses  # noqa: E402


def _log_grad(grad: CpuTensor, x: CpuTensor) -> CpuTensor:
    """``grad * reciprocal(x)``: TF's Reciprocal op, whose float32 packets refine the CPU's
    approximate ``rcpps`` by one Newton step (:func:`tfloss._machine.cpu.reciprocal`)."""
    return grad * reciprocal(x)


def _clip_grad(grad: CpuTensor, output: np.ndarray) -> CpuTensor:
    """``maximum(minimum(o, 1 - eps), eps)`` backwards: Minimum's then Maximum's mask."""
    o = _t(output)
    low, high = (np.asarray(v, o.dtype) for v in (_kl.EPSILON, 1.0 - _kl.EPSILON))
    clipped_high = np.minimum(o.value, high)
    zero = np.zeros((), o.dtype)
    grad = np.where(clipped_high >= low, grad.value, zero)  # Maximum(t, eps): t >= eps
    return CpuTensor(np.where(o.value <= high, grad, zero))  # Minimum(o, 1 - eps): o <= 1 - eps


def _mean_grad(grad: np.ndarray, x: np.ndarray, axis) -> np.ndarray:
    """``keras.ops.mean``'s gradient: Cast, Mean's (broadcast over the axis, divided by the count
    as a constant of the compute dtype), Cast back."""
    compute = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    axes = check_reduction_indices(reduction_indices(axis, "Mean"), x.ndim, "Mean")
    sum_grad = _sum_grad(cast(x, compute), axes, cast(grad, compute))
    factor = x.size // max(int(np.prod([d for i, d in enumerate(x.shape) if i not in axes], dtype=np.int64)), 1)
    return cast((_t(sum_grad) / CpuTensor(np.asarray(factor, compute))).value, x.dtype)


def _keras_inputs(arguments: dict, smoothing_negatives=None):
    y_pred = _kl.keras_convert(arguments["y_pred"])
    y_true = _kl.keras_cast(arguments["y_true"], y_pred.dtype)
    return y_true, y_pred


def _smoothing_grad(grad_labels: np.ndarray, label_smoothing) -> np.ndarray:
    """Through ``y_true * (1 - ls) + negatives`` backwards: Mul's gradient by the constant."""
    if not label_smoothing:
        return grad_labels
    g = _t(grad_labels)
    return (g * _kl._const(1.0 - label_smoothing, g)).value


def _to_input(grad: np.ndarray | None, original) -> np.ndarray | None:
    """A gradient brought back to an input as the tape sees it: its shape, Cast's gradient to its
    dtype, None for a non-float input."""
    original = convert_to_tensor(original)
    if grad is None or original.dtype not in FLOAT_DTYPES:
        return None
    return cast(np.asarray(grad).reshape(np.shape(original)), original.dtype)


def _binary_backward(y_true, y_pred, options: dict, grad: np.ndarray):
    """``(d/dy_pred, d/dy_true)`` of ``binary_crossentropy`` for upstream ``grad`` (one per sample);
    ``d/dy_true`` in ``y_pred``'s dtype, before the label cast."""
    ls = options.get("label_smoothing", 0.0)
    if ls:
        y_true = _kl._smooth(y_true, ls, 0.5 * ls)
    per_element = _kl.backend_binary_crossentropy(y_true, y_pred, options.get("from_logits", False))
    g = _mean_grad(grad, per_element, options.get("axis", -1))
    activation = hasattr(y_pred, "_keras_logits")
    if activation or options.get("from_logits", False):
        logits = y_pred._keras_logits if activation else y_pred
        grad_labels, grad_logits = _engine.sigmoid_cross_entropy_grad(
            np.asarray(y_true), np.asarray(logits).view(np.ndarray), g)
        # From an activation the loss was computed from its logits: y_pred itself has no gradient.
        return (None if activation else grad_logits), _smoothing_grad(grad_labels, ls)
    z, p = _t(y_true), _kl._clip(_t(y_pred))
    gn = -_t(g)
    q = _kl._const(1, p) - p
    from_log_p = _log_grad(z * gn, p)
    from_log_q = -_log_grad((_kl._const(1, z) - z) * gn, q)
    # d/dz: Mul's gradient in z * log(p), and Sub's (a Neg) after Mul's in (1 - z) * log(1 - p).
    grad_labels = gn * _kl._log(p) + -(gn * _kl._log(q))
    return _clip_grad(from_log_p + from_log_q, np.asarray(y_pred)).value, _smoothing_grad(grad_labels.value, ls)


def _categorical_backward(y_true, y_pred, options: dict, grad: np.ndarray):
    """``(d/dy_pred, d/dy_true)`` of ``categorical_crossentropy`` (see :func:`_binary_backward`)."""
    ls, axis = options.get("label_smoothing", 0.0), options.get("axis", -1)
    if ls:
        y_true = _kl._smooth_categorical(y_true, ls, y_pred.dtype)
    activation = hasattr(y_pred, "_keras_logits")
    o = np.asarray(y_pred._keras_logits if activation else y_pred).view(np.ndarray)
    a = axis % o.ndim
    if activation or options.get("from_logits", False):
        grads = _gradients.SoftmaxGradient.backward(_Inputs(np.asarray(y_true), o, axis=axis if axis == -1 else a),
                                                    cast(grad, o.dtype))
        return (None if activation else grads["logits"]), _smoothing_grad(grads["labels"], ls)
    total = _ops.reduce(o, axis, True, "Sum")
    p = _kl._clip(_t(o) / CpuTensor(total))
    g_terms = CpuTensor(_sum_grad(o, (a,), (-_t(grad)).value))  # Neg, then Sum's gradient
    grad_labels = _smoothing_grad((g_terms * _kl._log(p)).value, ls)  # Mul's gradient in z * log(p)
    g_p = _log_grad(_t(y_true) * g_terms, p)
    g_ratio = _clip_grad(g_p, (_t(o) / CpuTensor(total)).value)
    # RealDiv(o, total): d/do = g / total; d/dtotal = sum over the axis of g * ((-o / total) / total)
    direct = g_ratio / CpuTensor(total)
    through_total = CpuTensor(_ops.reduce((g_ratio * ((-_t(o) / CpuTensor(total)) / CpuTensor(total))).value, axis, True, "Sum"))
    return (direct + CpuTensor(np.broadcast_to(through_total.value, o.shape).copy())).value, grad_labels


def _sparse_backward(y_true, y_pred, options: dict, grad: np.ndarray, valid_mask):
    if hasattr(y_pred, "_keras_logits") and options.get("ignore_class") is None:
        return None
    o = np.asarray(y_pred).view(np.ndarray)
    labels = cast(convert_to_tensor(y_true), np.dtype(np.int64))
    if labels.ndim == o.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    g = cast(grad, o.dtype)
    if valid_mask is not None:
        g = np.where(valid_mask.reshape(g.shape), g, np.zeros((), g.dtype))
        labels = np.where(valid_mask.reshape(labels.shape), labels, 0)
        o = np.where(np.expand_dims(valid_mask.reshape(labels.shape), -1), o, np.zeros((), o.dtype))
    if options.get("from_logits", False):
        result = _gradients.SparseGradient.backward(_Inputs(labels, o), g)["logits"]
    else:
        p = _kl._clip(_t(o))
        log_p = _kl._log(p).value
        g_log = _gradients.SparseGradient.backward(_Inputs(labels, log_p), g)["logits"]
        result = _clip_grad(_log_grad(_t(g_log), p), o).value
    if valid_mask is not None:
        result = np.where(np.expand_dims(valid_mask.reshape(labels.shape), -1), result, np.zeros((), result.dtype))
    return result


def _pow_grad(grad: CpuTensor, x: CpuTensor, exponent) -> CpuTensor:
    """Pow's gradient w.r.t. its base for a constant scalar exponent y (TF's ``_PowGrad`` when the
    exponent is not watched): ``(grad * y) * pow(x, y - 1)``, ``y - 1`` a Sub in x's dtype."""
    y = _kl._const(exponent, x)
    return (grad * y) * _tf_math_ops.pow_op(x, (y - _kl._const(1, y)).value)


def _add_n(terms: list) -> CpuTensor:
    """TF's AddN, as the tape aggregates the gradients of a tensor used by several ops: one
    expression ``((t0 + t1) + t2) + ...``, each addition rounded to the dtype."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _binary_focal_backward(y_true, y_pred, options: dict, grad: np.ndarray):
    """``(d/dy_pred, d/dy_true)`` of ``binary_focal_crossentropy`` (see ``_frontend.keras_losses``' op sequence).

    ``y_pred`` (the probabilities p, or the sigmoid of the logits) reaches the loss three ways:
    through the bce term, through ``z * p`` and through ``1 - p`` in ``p_t``; TF's tape adds the
    three gradients as (p_t's ``1 - p``, p_t's ``z * p``, bce's).  With ``from_logits`` (or a
    ``y_pred`` that remembers its logits) bce's gradient goes to the logits instead.

    The labels z reach it through the ``z * ...`` and the ``1 - z`` (Sub: a Neg backwards) of
    the class-balancing weight, of bce and of ``p_t``.  The tape sums those gradients with one
    AddN, in the order measured against GradientTape (float32 and float16; in float64 every
    order agreed): the weight's two, bce's ``z * log(p)``, p_t's ``z * p``, bce's ``1 - z``,
    p_t's ``1 - z``.  From logits bce gives one term (the sigmoid cross-entropy's label
    gradient) in the place of its two.
    """
    ls, gamma = options.get("label_smoothing", 0.0), options.get("gamma", 2.0)
    if ls:
        y_true = _kl._smooth(y_true, ls, 0.5 * ls)
    logits = None
    if options.get("from_logits", False):
        logits = np.asarray(y_pred).view(np.ndarray)
        y_pred = _kl.sigmoid_activation(y_pred)
    elif hasattr(y_pred, "_keras_logits"):
        logits = False  # bce came from the logits, which are not y_pred: no gradient that way
    z, p = _t(y_true), _t(y_pred)
    one = _kl._const(1, z)
    bce = _t(_kl.backend_binary_crossentropy(y_true, y_pred, False))
    p_t = z * p + (one - z) * (_kl._const(1, p) - p)
    u = _kl._const(1.0, p_t) - p_t
    focal_factor = _tf_math_ops.pow_op(u, gamma)
    focal_bce = focal_factor * bce
    g = _t(_mean_grad(grad, focal_bce.value, options.get("axis", -1)))
    from_weight = []
    if options.get("apply_class_balancing", False):
        alpha = options.get("alpha", 0.25)
        g_weight = g * focal_bce  # Mul(weight, focal_bce) w.r.t. the weight
        from_weight = [g_weight * _kl._const(alpha, z), -(g_weight * _kl._const(1 - alpha, z))]
        g = g * (z * _kl._const(alpha, z) + (one - z) * _kl._const(1 - alpha, z))
    g_pt = -_pow_grad(g * bce, u, gamma)  # 1 - p_t: Sub's gradient w.r.t. p_t is Neg
    g_bce = g * focal_factor
    through_p_t = -(g_pt * (one - z)) + g_pt * z
    p_t_by_z, p_t_by_one_minus_z = g_pt * p, -(g_pt * (_kl._const(1, p) - p))
    if logits is not None:
        bce_logits = np.asarray(y_pred._keras_logits if logits is False else logits).view(np.ndarray)
        bce_labels, from_bce = _engine.sigmoid_cross_entropy_grad(np.asarray(y_true), bce_logits, g_bce.value)
        grad_labels = _add_n(from_weight + [_t(bce_labels), p_t_by_z, p_t_by_one_minus_z])
        grad_labels = _smoothing_grad(grad_labels.value, ls)
        if logits is False:
            return through_p_t.value, grad_labels
        return (sigmoid_grad(p, through_p_t) + _t(from_bce)).value, grad_labels
    pc, gn = _kl._clip(p), -g_bce
    q = _kl._const(1, pc) - pc
    grad_labels = _add_n(from_weight + [gn * _kl._log(pc), p_t_by_z, -(gn * _kl._log(q)), p_t_by_one_minus_z])
    from_log = _log_grad(z * gn, pc) + -_log_grad((one - z) * gn, q)
    return (through_p_t + _clip_grad(from_log, np.asarray(y_pred))).value, _smoothing_grad(grad_labels.value, ls)


def _categorical_focal_backward(y_true, y_pred, options: dict, grad: np.ndarray):
    """``(d/dy_pred, d/dy_true)`` of ``categorical_focal_crossentropy``: the renormalised, clipped
    output o reaches the loss through ``log(o)`` and ``(1 - o)**gamma``; then the clip, the
    division by the row sum, and with ``from_logits`` the softmax, backwards.  The labels reach
    it once, through ``-z * log(o)``: Mul's gradient, then Neg's."""
    ls, axis, gamma = options.get("label_smoothing", 0.0), options.get("axis", -1), options.get("gamma", 2.0)
    if ls:
        y_true = _kl._smooth_categorical(y_true, ls, y_pred.dtype)
    logits = np.asarray(y_pred).view(np.ndarray)
    o = np.asarray(_kl.softmax_activation(y_pred, axis)).view(np.ndarray) if options.get("from_logits", False) else logits
    a = axis % o.ndim
    total = CpuTensor(_ops.reduce(o, axis, True, "Sum"))
    ratio = _t(o) / total
    output = _kl._clip(ratio)
    neg_z = -_t(y_true)
    cce = neg_z * _kl._log(output)
    u = _kl._const(1.0, output) - output
    alpha = _kl._const(options.get("alpha", 0.25), u)
    weighting = _tf_math_ops.pow_op(u, gamma) * alpha
    g = CpuTensor(_sum_grad(o, (a,), cast(grad, o.dtype)))
    from_pow = -_pow_grad((g * cce) * alpha, u, gamma)
    from_log = _log_grad((g * weighting) * neg_z, output)
    grad_labels = _smoothing_grad((-((g * weighting) * _kl._log(output))).value, ls)
    g_ratio = _clip_grad(from_log + from_pow, ratio.value)
    # RealDiv(o, total): d/do = g / total; d/dtotal = sum over the axis of g * ((-o / total) / total)
    through_total = CpuTensor(_ops.reduce((g_ratio * ((-_t(o) / total) / total)).value, axis, True, "Sum"))
    g_o = g_ratio / total + CpuTensor(np.broadcast_to(through_total.value, o.shape).copy())
    if options.get("from_logits", False):
        arguments = {"logits": logits} if axis == -1 else {"logits": logits, "axis": axis}
        return _softmax_backward(arguments, g_o.value)["logits"], grad_labels
    return g_o.value, grad_labels


_BACKWARD = {"binary_crossentropy": _binary_backward, "categorical_crossentropy": _categorical_backward,
             "binary_focal_crossentropy": _binary_focal_backward,
             "categorical_focal_crossentropy": _categorical_focal_backward}


def _function_backward(name: str):
    def backward(arguments: dict, upstream: np.ndarray) -> dict:
        options = {k: v for k, v in arguments.items() if k not in ("y_true", "y_pred")}
        if name == "sparse_categorical_crossentropy":
            y_true, y_pred = arguments["y_true"], arguments["y_pred"]
            _, mask = _kl.sparse_categorical_crossentropy_with_mask(y_true, y_pred, **options)
            return {"y_pred": _sparse_backward(y_true, _kl.keras_convert(y_pred), options, upstream, mask), "y_true": None}
        y_true, y_pred = _keras_inputs(arguments)
        grad_pred, grad_true = _BACKWARD[name](y_true, y_pred, options, upstream)
        return {"y_pred": grad_pred, "y_true": _to_input(grad_true, arguments["y_true"])}

    return backward


for _name in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
              "binary_focal_crossentropy", "categorical_focal_crossentropy"):
    register_composite(getattr(keras_losses, _name))(_function_backward(_name))


def _loss_object_backward(op, arguments: dict, upstream: np.ndarray) -> dict:
    """A Keras loss object backwards: the reduction, the weights and mask, then the function."""
    dtype = op._dtype
    options = {name: getattr(op, "_" + name) for name in op._options}
    original_pred = arguments["y_pred"]
    y_pred = _kl.keras_convert(original_pred, dtype)
    y_true = _kl.keras_convert(arguments["y_true"], dtype)
    y_true, y_pred = _kl.squeeze_or_expand_to_same_rank(y_true, y_pred)
    mask = None
    if type(op)._fn is _kl.sparse_categorical_crossentropy:
        values, mask = _kl.sparse_categorical_crossentropy_with_mask(y_true, y_pred, **options)
    else:
        values = type(op)._fn(y_true, y_pred, **options)
    values = np.asarray(values)
    reduction = op.reduction
    sample_weight = arguments.get("sample_weight")
    sw_original = None if sample_weight is None else convert_to_tensor(sample_weight)
    sw = None if sample_weight is None else _kl.keras_convert(sample_weight, dtype)
    float_mask = None
    if mask is not None:
        float_mask = _kl.apply_mask(None, mask, values.dtype, reduction)
    effective = sw
    if mask is not None:
        effective = float_mask if sw is None else _kl.apply_mask(sw, mask, values.dtype, reduction)
    weighted_values = values
    shaped_values, shaped_weights = values, effective
    if effective is not None:
        shaped_values, shaped_weights = _kl.squeeze_or_expand_to_same_rank(values, cast(np.asarray(effective), values.dtype))
        weighted_values = _kl._multiply(shaped_values, shaped_weights)
    g = cast(np.asarray(upstream), values.dtype)
    grad_divisor_path = None
    if reduction not in (None, "none") and weighted_values.shape not in ((), (0,)):
        if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
            if reduction == "mean_with_sample_weight" and effective is not None:
                divisor = CpuTensor(cast(_kl._sum(shaped_weights).value, values.dtype))
                total = _kl._sum(weighted_values)
                grad_divisor_path = (_t(g) * _tf_math_ops.div_no_nan(_tf_math_ops.div_no_nan(-total, divisor), divisor)).value
            else:
                count = np.asarray(np.prod(weighted_values.shape, dtype=np.int64)).astype(np.int32)
                divisor = CpuTensor(cast(count, values.dtype))
            g = _tf_math_ops.div_no_nan(_t(g), divisor).value
        g = np.broadcast_to(g, weighted_values.shape).copy()
    grads = {"y_true": None}
    if effective is not None:
        grad_values = _unbroadcast(_t(g) * _t(shaped_weights), np.shape(shaped_values)).value.reshape(values.shape)
        if sw is not None:
            grad_effective = _unbroadcast(_t(shaped_values) * _t(g), np.shape(shaped_weights))
            if grad_divisor_path is not None:
                grad_effective = grad_effective + CpuTensor(np.broadcast_to(grad_divisor_path, np.shape(shaped_weights)).copy())
            grad_effective = grad_effective.value.reshape(np.shape(effective))
            if mask is not None:
                float_mask_shaped, sw_shaped = _kl.squeeze_or_expand_to_same_rank(float_mask, cast(np.asarray(sw), dtype))
                grad_sw = _unbroadcast(_t(grad_effective.reshape(np.broadcast_shapes(np.shape(sw_shaped), np.shape(float_mask_shaped)))) * _t(float_mask_shaped), np.shape(sw_shaped)).value
            else:
                grad_sw = grad_effective
            grad_sw = grad_sw.reshape(np.shape(sw))
            grads["sample_weight"] = cast(grad_sw, sw_original.dtype) if sw_original.dtype in FLOAT_DTYPES else None
    else:
        grad_values = g.reshape(values.shape) if np.size(g) == values.size else np.broadcast_to(g, values.shape).copy()
    name = {_kl.binary_crossentropy: "binary_crossentropy", _kl.categorical_crossentropy: "categorical_crossentropy",
            _kl.sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
            _kl.binary_focal_crossentropy: "binary_focal_crossentropy",
            _kl.categorical_focal_crossentropy: "categorical_focal_crossentropy"}[type(op)._fn]
    if name == "sparse_categorical_crossentropy":
        grad_pred = _sparse_backward(y_true, y_pred, options, grad_values, mask)
    else:
        grad_pred, grad_true = _BACKWARD[name](y_true, y_pred, options, grad_values)
        grads["y_true"] = _to_input(grad_true, arguments["y_true"])
    if grad_pred is not None:
        original = convert_to_tensor(original_pred)
        grad_pred = np.asarray(grad_pred).reshape(np.shape(original))
        grad_pred = cast(grad_pred, original.dtype) if original.dtype in FLOAT_DTYPES else None
    grads["y_pred"] = grad_pred
    return grads


for _cls in (keras_losses.BinaryCrossentropy, keras_losses.CategoricalCrossentropy,
             keras_losses.SparseCategoricalCrossentropy, keras_losses.BinaryFocalCrossentropy,
             keras_losses.CategoricalFocalCrossentropy):
    _gradients._COMPOSITE_TYPES[_cls] = _loss_object_backward
