"""What ``tf.compat.v1.losses`` does, step by step (TF 2.21's ``losses_impl.py``).

Each loss converts and checks its inputs, optionally smooths the labels, calls the
cross-entropy op of :mod:`tfloss._frontend.wrappers`, and hands the per-element losses to
:func:`compute_weighted_loss`, which casts them to float32, weights them and reduces them with
TF's Sum and DivNoNan, then casts the result back to the losses' dtype.  So a float64 loss is
reduced in float32, and a NONE reduction of float64 losses loses float64 precision too.  The
public signatures are in :mod:`tfloss.compat.v1.losses`.
"""

from __future__ import annotations

import numpy as np

from .. import _targets, errors
from . import wrappers as _ops
from .._machine import math_ops as _tf_math_ops
from .convert import (broadcast_shape, cast, check_compatible_shapes, check_weights_broadcastable,
                       convert_to_tensor, op_error, to_python_scalar_tensor)
from .._machine.cpu import CpuTensor, silent_floating_point as _quiet


class Reduction:
    """``tf.compat.v1.losses.Reduction``: how :func:`compute_weighted_loss` reduces.

    ``NONE`` keeps the weighted losses; ``SUM`` adds them; ``MEAN`` divides the sum by the sum of
    the (broadcast) weights; ``SUM_OVER_BATCH_SIZE`` by the number of losses;
    ``SUM_BY_NONZERO_WEIGHTS`` (the default, also ``SUM_OVER_NONZERO_WEIGHTS``) by the number of
    losses whose weight is not zero.  Every division is ``div_no_nan``: 0 where the divisor is 0.
    """

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        """Every key, as TF lists them (the nonzero-weights key twice)."""
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        """Raise TF's ValueError for a key that is not one of :meth:`all`."""
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}. Key should be one of {cls.all()}.")


def _float32(value) -> np.ndarray:
    return cast(convert_to_tensor(value), np.dtype(np.float32))


def _num_present(losses: np.ndarray, weights: np.ndarray) -> CpuTensor:
    """``_num_present``: the count of losses whose broadcast weight is not 0, in float32.

    An eager scalar weight that is not 0 counts every loss.  Otherwise the 0/1 mask of the
    weights is summed, broadcast to the losses' shape first unless it already has that shape.
    """
    if weights.ndim == 0 and weights != 0:
        return CpuTensor(np.asarray(losses.size, np.float32))
    present = np.where(weights == 0, np.float32(0), np.float32(1))
    if present.shape != losses.shape:
        check_weights_broadcastable(present, losses)
        present = (CpuTensor(present) * CpuTensor(np.ones_like(losses))).value
    return _tf_math_ops.sum_op(CpuTensor(present))


@_quiet
def compute_weighted_loss(losses, weights, reduction) -> np.ndarray:
    """``compute_weighted_loss``: weight, reduce in float32, cast back to the losses' dtype."""
    _targets.check_implemented("compat.v1.losses")  # the reductions are reproduced for CPU targets only
    Reduction.validate(reduction)
    check_weights_broadcastable(convert_to_tensor(weights), convert_to_tensor(losses))
    losses = convert_to_tensor(losses)
    input_dtype = losses.dtype
    losses32, weights32 = cast(losses, np.dtype(np.float32)), _float32(weights)
    broadcast_shape("Mul", losses32.shape, weights32.shape)
    weighted = CpuTensor.from_input(losses32) * CpuTensor.from_input(weights32)
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        loss = _tf_math_ops.sum_op(weighted)
        if reduction == Reduction.MEAN:
            divisor = _tf_math_ops.sum_op(CpuTensor(np.ones_like(losses32)) * CpuTensor.from_input(weights32))
            loss = _tf_math_ops.div_no_nan(loss, divisor)
        elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
            loss = _tf_math_ops.div_no_nan(loss, _num_present(losses32, weights32))
        elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
            loss = _tf_math_ops.div_no_nan(loss, CpuTensor(np.asarray(losses32.size, np.float32)))
    return cast(loss.value, input_dtype)


# The ops TF's losses create with ``name="xentropy"``: an error they raise ends in that name.
_XENTROPY_OPS = ("[Op:AddV2] name: ", "[Op:SoftmaxCrossEntropyWithLogits] name: ",
                 "[Op:SparseSoftmaxCrossEntropyWithLogits] name: ")


def _named_xentropy(compute, *args):
    """Run the cross-entropy op as TF's losses do, named ``xentropy``: eager TF ends the
    message of an error the named op's kernel raises with ``name: xentropy`` (a dtype error is
    raised before the op exists and carries no name)."""
    try:
        return compute(*args)
    except errors.OpError as error:
        if error.message.endswith(_XENTROPY_OPS) and not error.message.startswith("Value for attr"):
            raise type(error)(None, None, error.message + "xentropy") from None
        raise


def _check_given(name: str, value) -> None:
    if value is None:
        raise ValueError(f"Argument `{name}` must not be None.")


def _scalar_times(value, tensor: CpuTensor) -> CpuTensor:
    """``tensor * value`` for a Python scalar ``value`` (a constant of the tensor's dtype)."""
    return tensor * CpuTensor(to_python_scalar_tensor(value, tensor.dtype))


def _labels_like_logits(labels, logits) -> tuple[np.ndarray, np.ndarray]:
    """``logits = convert_to_tensor(logits)``; ``labels = cast(labels, logits.dtype)``; same shapes."""
    logits = convert_to_tensor(logits)
    labels = cast(convert_to_tensor(labels), logits.dtype)
    check_compatible_shapes(logits.shape, labels.shape)
    return labels, logits


def _smoothing_is_on(label_smoothing) -> bool:
    """TF's ``if label_smoothing > 0``: negative (and zero) smoothing is ignored."""
    return label_smoothing > 0


@_quiet
def sigmoid_cross_entropy(multi_class_labels, logits, weights, label_smoothing, reduction) -> np.ndarray:
    _check_given("multi_class_labels", multi_class_labels)
    _check_given("logits", logits)
    labels, logits = _labels_like_logits(multi_class_labels, logits)
    if _smoothing_is_on(label_smoothing):
        # labels * (1 - ls) + 0.5 * ls: both scalars folded in Python's double, then rounded.
        smoothed = _scalar_times(1 - label_smoothing, CpuTensor.from_input(labels))
        labels = (smoothed + CpuTensor(to_python_scalar_tensor(0.5 * label_smoothing, labels.dtype))).value
    losses = _named_xentropy(_ops.sigmoid_cross_entropy_with_logits, labels, logits)
    return compute_weighted_loss(losses, weights, reduction)


@_quiet
def softmax_cross_entropy(onehot_labels, logits, weights, label_smoothing, reduction) -> np.ndarray:
    _check_given("onehot_labels", onehot_labels)
    _check_given("logits", logits)
    labels, logits = _labels_like_logits(onehot_labels, logits)
    if _smoothing_is_on(label_smoothing):
        # labels * (1 - ls) + ls / num_classes, num_classes = cast(shape(labels)[-1], dtype):
        # ls / num_classes is a tensor division, ls rounded to the logits' dtype first.
        if labels.ndim == 0:
            raise op_error(errors.InvalidArgumentError, "StridedSlice",
                           "slice index -1 of dimension 0 out of bounds.")
        num_classes = CpuTensor(np.asarray(labels.shape[-1], labels.dtype))
        negatives = CpuTensor(to_python_scalar_tensor(label_smoothing, labels.dtype)) / num_classes
        labels = (_scalar_times(1.0 - label_smoothing, CpuTensor.from_input(labels)) + negatives).value
    losses = _named_xentropy(_ops.softmax_cross_entropy_with_logits, labels, logits, -1)
    return compute_weighted_loss(losses, weights, reduction)


def _squeeze_last(array: np.ndarray) -> np.ndarray:
    """``squeeze(x, [-1])``: TF's Squeeze error when the last dimension is not 1."""
    if array.ndim == 0 or array.shape[-1] != 1:
        dim = array.ndim - 1
        size = array.shape[-1] if array.ndim else 0
        raise op_error(errors.InvalidArgumentError, "Squeeze",
                       f"Can not squeeze dim[{dim}], expected a dimension of 1, got {size}")
    return array.reshape(array.shape[:-1])


@_quiet
def sparse_softmax_cross_entropy(labels, logits, weights, reduction) -> np.ndarray:
    _check_given("labels", labels)
    _check_given("logits", logits)
    # _remove_squeezable_dimensions(labels, logits, weights, expected_rank_diff=1)
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    rank_diff = logits.ndim - labels.ndim
    if rank_diff == 2 and logits.shape[-1] == 1:
        logits = logits.reshape(logits.shape[:-1])
    elif rank_diff == 0 and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if weights is not None:
        weights = convert_to_tensor(weights)
        if weights.ndim - labels.ndim == 1:
            weights = _squeeze_last(weights)
    losses = _named_xentropy(_ops.sparse_softmax_cross_entropy_with_logits, labels, logits)
    return compute_weighted_loss(losses, weights, reduction)
