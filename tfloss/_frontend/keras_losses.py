"""What Keras 3.15.1's cross-entropy losses do on the TensorFlow backend, op by op.

Read from ``keras/src/losses/losses.py``, ``keras/src/losses/loss.py`` and
``keras/src/backend/tensorflow/nn.py`` (TF 2.21's ``tf.keras`` is Keras 3).  Each function here
is one Keras function, and each step in it one TF op, rounded as TF rounds it (the TF ops are
tfloss's own: :mod:`tfloss._frontend.wrappers`, :mod:`tfloss._machine.math_ops`, :class:`tfloss._machine.cpu.CpuTensor`).
The public classes and signatures are in :mod:`tfloss.keras.losses`.

Two kinds of array stand in for Keras' tensors.  A plain NumPy array or list is what Keras
calls a non-tensor: ``convert_to_tensor(x, dtype)`` converts it.  A :class:`KerasActivation`
(what :func:`tfloss.keras.ops.softmax` and ``sigmoid`` return) plays a ``tf.Tensor`` that
carries ``_keras_logits``: converted to its own dtype it stays itself, so the loss finds the
logits and takes the stable path, as Keras does; a cast or a ``where`` makes a new array
without them, as in Keras.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import wrappers as _ops
from .. import _targets
from .._machine import math_ops as _tf_math_ops
from .convert import (FLOAT_DTYPES, broadcast_shape, cast, check_op_dtype, convert_to_tensor, static_shape,
                       to_python_scalar_tensor)
from .._machine.cpu import CpuTensor, bfloat16, log, silent_floating_point as _quiet

#: ``keras.config.epsilon()``, the clip of the probability paths.
EPSILON = 1e-7

REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


class KerasActivation(np.ndarray):
    """Probabilities that remember the logits they came from (Keras' ``_keras_logits``).

    Made only by :func:`tfloss.keras.ops.softmax`/``sigmoid``.  Any array computed from one
    (arithmetic, slicing, casting) is a plain array: the history is lost, as in Keras.
    """

    _keras_logits: np.ndarray

    def __array_finalize__(self, obj):
        pass  # a derived array does not inherit the logits

    def __array_wrap__(self, array, context=None, return_scalar=False):
        plain = np.asarray(array).view(np.ndarray)
        return plain[()] if return_scalar else plain


def with_logits(probabilities: np.ndarray, logits: np.ndarray) -> KerasActivation:
    output = np.asarray(probabilities).view(KerasActivation)
    output._keras_logits = logits
    return output


def _is_tensor(x) -> bool:
    return isinstance(x, KerasActivation)


def _dtype_name(dtype: np.dtype) -> str:
    return np.dtype(dtype).name


def keras_convert(x, dtype=None) -> np.ndarray:
    """Keras' TF-backend ``convert_to_tensor(x, dtype)``.

    A tensor of that dtype is returned as it is (logits and all); another tensor is cast.  A
    non-tensor is converted by TF, with ``dtype`` (NumPy values are cast, Python floats rounded
    once); for an integer or bool dtype it is converted first and cast after.
    """
    _targets.check_implemented("keras.losses")  # reproduced for the CPU targets only
    if dtype is not None:
        dtype = np.dtype(dtype)
    if _is_tensor(x):
        return x if dtype is None or x.dtype == dtype else cast(np.asarray(x).view(np.ndarray), dtype)
    array = convert_to_tensor(x)
    if dtype is None or array.dtype == dtype:
        return array
    if array.dtype.kind in "USO":
        raise ValueError(f"could not convert string to float: {np.asarray(array).reshape(-1)[0]!r}")
    if not isinstance(x, (np.ndarray, np.generic)) and array.dtype.kind == "f" and dtype in FLOAT_DTYPES:
        # Python floats are rounded once, from double, to the requested dtype.
        return np.asarray(x, np.float64).astype(dtype)
    return cast(array, dtype)


def keras_cast(x, dtype) -> np.ndarray:
    """``ops.cast``: TF's Cast (a new tensor, without logits)."""
    array = convert_to_tensor(x)
    return cast(np.asarray(array).view(np.ndarray), np.dtype(dtype))


def _plain(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).view(np.ndarray)


def _t(x) -> CpuTensor:
    return CpuTensor.from_input(_plain(x))


def _const(value, like: CpuTensor) -> CpuTensor:
    """A Python scalar as a constant of the tensor's dtype (TF's ``tensor * 0.5``)."""
    return CpuTensor(to_python_scalar_tensor(value, like.dtype))


def _shape(x) -> str:
    return static_shape(np.shape(x))


def _clip(output: CpuTensor) -> CpuTensor:
    """``tf.clip_by_value(output, epsilon, 1 - epsilon)`` (Minimum converts its bound first)."""
    to_python_scalar_tensor(1.0 - EPSILON, output.dtype)
    to_python_scalar_tensor(EPSILON, output.dtype)
    return _tf_math_ops.clip_by_value(output, EPSILON, 1.0 - EPSILON)


def _log(x: CpuTensor) -> CpuTensor:
    check_op_dtype("Log", x.dtype)
    return log(x)


def _get_logits(output, from_logits: bool, op_type: str, fn_name: str):
    """``_get_logits``: an output that carries ``_keras_logits`` is replaced by its logits.

    (Keras also looks at the producing op in graph mode; NumPy arrays have no graph.)
    """
    if hasattr(output, "_keras_logits"):
        if from_logits:
            warnings.warn(
                f'"`{fn_name}` received `from_logits=True`, but the `output` argument was produced by a '
                f"{op_type} activation and thus does not represent logits. Was this intended?",
                stacklevel=4,
            )
        return output._keras_logits, True
    return output, from_logits


def _check_same_rank_and_shape(target: np.ndarray, output: np.ndarray) -> None:
    received = f"Received: target.shape={_shape(target)}, output.shape={_shape(output)}"
    if target.ndim != output.ndim:
        raise ValueError(f"Arguments `target` and `output` must have the same rank (ndim). {received}")
    if target.shape != output.shape:
        raise ValueError(f"Arguments `target` and `output` must have the same shape. {received}")


# --------------------------------------------------------------------------------------------
# keras/src/backend/tensorflow/nn.py


def backend_binary_crossentropy(target, output, from_logits: bool) -> np.ndarray:
    target = convert_to_tensor(target)
    output = convert_to_tensor(output)
    _check_same_rank_and_shape(target, output)
    output, from_logits = _get_logits(output, from_logits, "Sigmoid", "binary_crossentropy")
    if from_logits:
        return _ops.sigmoid_cross_entropy_with_logits(_plain(target), _plain(output))
    z, p = _t(target), _clip(_t(output))
    bce = z * _log(p)
    bce = bce + (_const(1, z) - z) * _log(_const(1, p) - p)
    return (-bce).value


def backend_categorical_crossentropy(target, output, from_logits: bool, axis: int) -> np.ndarray:
    target = convert_to_tensor(target)
    output = convert_to_tensor(output)
    if target.ndim < 1:
        raise ValueError("Arguments `target` and `output` must be at least rank 1. "
                         f"Received: target.shape={_shape(target)}, output.shape={_shape(output)}")
    _check_same_rank_and_shape(target, output)
    output, from_logits = _get_logits(output, from_logits, "Softmax", "categorical_crossentropy")
    if from_logits:
        return _ops.softmax_cross_entropy_with_logits(_plain(target), _plain(output), axis)
    total = _ops.reduce(_plain(output), axis, True, "Sum")
    # Renormalise so that each row sums to 1, then clip.
    probabilities = _clip(_t(output) / CpuTensor(total))
    terms = _t(target) * _log(probabilities)
    return (-CpuTensor(_ops.reduce(terms.value, axis, False, "Sum"))).value


def backend_sparse_categorical_crossentropy(target, output, from_logits: bool, axis: int) -> np.ndarray:
    if axis != -1 and axis != len(np.shape(output)) - 1:
        raise ValueError(f"Only axis=-1 is currently supported. Received: axis={axis}")
    output, from_logits = _get_logits(output, from_logits, "Softmax", "sparse_categorical_crossentropy")
    target = cast(convert_to_tensor(target), np.dtype(np.int64))
    output = _plain(convert_to_tensor(output))
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = target.reshape(target.shape[:-1])
    if output.ndim < 1:
        raise ValueError(f"Argument `output` must be at least rank 1. Received: output.shape={_shape(output)}")
    if target.ndim != output.ndim - 1:
        raise ValueError("Argument `output` must have rank (ndim) `target.ndim - 1`. "
                         f"Received: target.shape={_shape(target)}, output.shape={_shape(output)}")
    if target.shape != output.shape[:-1]:
        raise ValueError("Arguments `target` and `output` must have the same shape up until the last dimension: "
                         f"target.shape={_shape(target)}, output.shape={_shape(output)}")
    if not from_logits:
        # No renormalisation here, unlike the categorical loss: log of the clipped probabilities.
        output = _log(_clip(_t(output))).value
    return _ops.sparse_softmax_cross_entropy_with_logits(target, output)


# --------------------------------------------------------------------------------------------
# keras/src/losses/losses.py: the functions


def keras_mean(x: np.ndarray, axis) -> np.ndarray:
    """``ops.mean``: 16-bit floats (and integers) are averaged in float32, then cast back."""
    compute = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    result_dtype = compute if x.dtype.kind in "iub" else x.dtype
    mean = _ops.reduce(cast(_plain(x), compute), axis, False, "Mean")
    return cast(mean, result_dtype)


def _smooth(y_true: np.ndarray, label_smoothing, negatives: CpuTensor | float) -> np.ndarray:
    """``y_true * (1.0 - ls) + negatives``: the first factor folded in Python's double."""
    z = _t(y_true)
    smoothed = z * _const(1.0 - label_smoothing, z)
    if isinstance(negatives, CpuTensor):
        return (smoothed + negatives).value
    return (smoothed + _const(negatives, z)).value


@_quiet
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1) -> np.ndarray:
    y_pred = keras_convert(y_pred)
    y_true = keras_cast(y_true, y_pred.dtype)
    if label_smoothing:  # truthiness: a negative value is applied
        y_true = _smooth(y_true, label_smoothing, 0.5 * label_smoothing)
    return keras_mean(backend_binary_crossentropy(y_true, y_pred, from_logits), axis)


def _check_axis_type(axis) -> None:
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")


def _warn_one_class(y_pred: np.ndarray, name: str) -> None:
    if y_pred.ndim == 0:
        raise IndexError("tuple index out of range")  # Keras reads y_pred.shape[-1] first
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
            f"Received: y_pred.shape={_shape(y_pred)}. Consider using 'binary_crossentropy' if you only have "
            "2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )


def _smooth_categorical(y_true: np.ndarray, label_smoothing, dtype: np.dtype) -> np.ndarray:
    """``y_true * (1 - ls) + ls / num_classes`` with ``num_classes = shape(y_true)[-1]``, even when
    the class axis is another one."""
    num_classes = CpuTensor(np.asarray(y_true.shape[-1], dtype))
    negatives = CpuTensor(to_python_scalar_tensor(label_smoothing, dtype)) / num_classes
    return _smooth(y_true, label_smoothing, negatives)


@_quiet
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1) -> np.ndarray:
    _check_axis_type(axis)
    y_pred = keras_convert(y_pred)
    y_true = keras_cast(y_true, y_pred.dtype)
    _warn_one_class(y_pred, "categorical_crossentropy")
    if label_smoothing:
        y_true = _smooth_categorical(y_true, label_smoothing, y_pred.dtype)
    return backend_categorical_crossentropy(y_true, y_pred, from_logits, axis)


def sigmoid_activation(y_pred: np.ndarray):
    """``ops.sigmoid``: the probabilities, remembering their logits."""
    return with_logits(_ops.sigmoid(_plain(y_pred)), y_pred)


def warn_softmax_over_one(x, axis) -> None:
    """``keras.ops.softmax``'s warning for a softmax over an axis of length 1 (always 1).

    Given by the public callers, not by :func:`softmax_activation`, which the backward passes
    call again: TF's tape runs the forward once and warns once."""
    shape = np.shape(x)
    if isinstance(axis, int) and -len(shape) <= axis < len(shape) and shape[axis] == 1:
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {_shape(x)}. This axis has size 1. "
            "The softmax operation will always return the value 1, which is likely not what you intended. "
            "Did you mean to use a sigmoid instead?",
            stacklevel=3,
        )


def softmax_activation(y_pred: np.ndarray, axis):
    """``ops.softmax(y_pred, axis)`` (all elements for ``axis=None``), remembering the logits."""
    if axis is None:
        output = _ops.softmax(_plain(y_pred).reshape(-1), -1).reshape(np.shape(y_pred))
    else:
        output = _ops.softmax(_plain(y_pred), axis)
    return with_logits(output, y_pred)


@_quiet
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1) -> np.ndarray:
    y_pred = keras_convert(y_pred)
    y_true = keras_cast(y_true, y_pred.dtype)
    if label_smoothing:
        y_true = _smooth(y_true, label_smoothing, 0.5 * label_smoothing)
    if from_logits:
        y_pred = sigmoid_activation(y_pred)  # the bce below then finds the logits: stable
    bce = _t(backend_binary_crossentropy(y_true, y_pred, False))
    z, p = _t(y_true), _t(y_pred)
    p_t = z * p + (_const(1, z) - z) * (_const(1, p) - p)
    focal_factor = _tf_math_ops.pow_op(_const(1.0, p_t) - p_t, gamma)
    focal_bce = focal_factor * bce
    if apply_class_balancing:
        weight = z * _const(alpha, z) + (_const(1, z) - z) * _const(1 - alpha, z)
        focal_bce = weight * focal_bce
    return keras_mean(focal_bce.value, axis)


@_quiet
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1) -> np.ndarray:
    _check_axis_type(axis)
    y_pred = keras_convert(y_pred)
    y_true = keras_cast(y_true, y_pred.dtype)
    _warn_one_class(y_pred, "categorical_focal_crossentropy")
    if label_smoothing:
        y_true = _smooth_categorical(y_true, label_smoothing, y_pred.dtype)
    if from_logits:
        warn_softmax_over_one(y_pred, axis)
        y_pred = softmax_activation(y_pred, axis)
    # Renormalised, so always the clipped path (even for a softmax that remembers its logits).
    total = _ops.reduce(_plain(y_pred), axis, True, "Sum")
    output = _clip(_t(y_pred) / CpuTensor(total))
    cce = -_t(y_true) * _log(output)
    modulating_factor = _tf_math_ops.pow_op(_const(1.0, output) - output, gamma)
    weighting_factor = modulating_factor * _const(alpha, modulating_factor)
    return _ops.reduce((weighting_factor * cce).value, axis, False, "Sum")


def canonicalize_axis(axis, num_dims: int) -> int:
    axis = int(np.asarray(axis).__index__()) if not isinstance(axis, int) else axis
    if not -num_dims <= axis < num_dims:
        raise ValueError(f"axis {axis} is out of bounds for an array with dimension {num_dims}.")
    return axis + num_dims if axis < 0 else axis


def _where(condition: np.ndarray, x: np.ndarray, other) -> np.ndarray:
    """``ops.where(condition, x, other)`` with a Python scalar ``other`` (of ``x``'s dtype)."""
    x = _plain(x)
    broadcast_shape("SelectV2", condition.shape, x.shape)
    return np.where(condition, x, np.asarray(other, x.dtype))


@_quiet
def sparse_categorical_crossentropy_with_mask(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """The function, and the Keras mask it attaches to its result (None without ``ignore_class``)."""
    _targets.check_implemented("keras.losses")
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        if not hasattr(value, "shape"):
            raise AttributeError(f"'{type(value).__name__}' object has no attribute 'shape'")
    if np.ndim(y_true) == np.ndim(y_pred) and np.shape(y_true)[axis] == 1:
        y_true = np.squeeze(_plain(convert_to_tensor(y_true)), axis=axis)
    valid_mask = None
    if ignore_class is not None:
        class_axis = canonicalize_axis(axis, np.ndim(y_pred))
        res_shape = tuple(d for i, d in enumerate(np.shape(y_pred)) if i != class_axis)
        y_true = convert_to_tensor(y_true)
        y_pred_array = convert_to_tensor(y_pred)
        ignored = keras_cast(ignore_class, y_pred_array.dtype)
        compare = np.result_type(y_true.dtype, ignored.dtype) if y_true.dtype.kind == "f" else ignored.dtype
        valid_mask = cast(_plain(y_true), compare) != cast(ignored, compare)
        y_true = _where(valid_mask, y_true, 0)
        # A new tensor: the probabilities lose their logits here.
        y_pred = _where(np.expand_dims(valid_mask, axis), y_pred_array, 0)
    res = backend_sparse_categorical_crossentropy(y_true, y_pred, from_logits, axis)
    if ignore_class is not None:
        valid_mask = valid_mask.reshape(res_shape)
        res = np.where(valid_mask, res, np.zeros((), res.dtype))
    return res, valid_mask


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1) -> np.ndarray:
    return sparse_categorical_crossentropy_with_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


# --------------------------------------------------------------------------------------------
# keras/src/losses/loss.py: the call path of a loss object and its reductions


def standardize_reduction(reduction):
    allowed = {"sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight"}
    if reduction not in allowed:
        # The set prints in hash order (PYTHONHASHSEED), as Keras' message does.
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {allowed}. Received: "
                         f"reduction={reduction}")
    return reduction


def compute_dtype(dtype) -> np.dtype:
    """``dtype_policies.get(dtype or floatx()).compute_dtype``."""
    if dtype is None:
        return np.dtype(np.float32)
    if hasattr(dtype, "compute_dtype"):
        return np.dtype(dtype.compute_dtype)
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        return np.dtype(bfloat16 if dtype == "mixed_bfloat16" else np.float16)
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16
    return np.dtype(dtype)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Keras' rank fix: with ranks one apart and a trailing 1, expand a rank-1 array, else squeeze."""
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(_plain(x2), -1)
        else:
            x1 = np.squeeze(_plain(x1), -1)
    if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(_plain(x1), -1)
        else:
            x2 = np.squeeze(_plain(x2), -1)
    return x1, x2


def _sum(x: np.ndarray) -> CpuTensor:
    return CpuTensor(_ops.reduce(_plain(x), None, False, "Sum"))


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    broadcast_shape("Mul", np.shape(a), np.shape(b))
    return (_t(a) * _t(b)).value


def apply_mask(sample_weight, mask, dtype: np.dtype, reduction):
    """Merge a Keras mask into the sample weights.

    For ``"mean"``/``"sum_over_batch_size"`` a valid entry weighs ``total / valid`` (so the mean
    is over the valid entries), an invalid one 0; otherwise the mask is a 0/1 weight.
    """
    if mask is None:
        return sample_weight
    if reduction in ("mean", "sum_over_batch_size"):
        total = CpuTensor(np.asarray(mask.size, dtype))
        valid = _sum(cast(_plain(mask), dtype))
        mask_weight = _tf_math_ops.div_no_nan(total, valid)
        float_mask = np.where(_plain(mask) != 0, mask_weight.value, np.zeros((), dtype))
    else:
        float_mask = cast(_plain(mask), dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, cast(_plain(sample_weight), dtype))
    return _multiply(sample_weight, float_mask)


def reduce_values(values: np.ndarray, sample_weight, reduction) -> np.ndarray:
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = _sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = CpuTensor(cast(_sum(sample_weight).value, loss.dtype))
        else:
            count = np.asarray(np.prod(values.shape, dtype=np.int64), np.int64).astype(np.int32)
            divisor = CpuTensor(cast(count, loss.dtype))
        loss = _tf_math_ops.div_no_nan(loss, divisor)
    return loss.value


def reduce_weighted_values(values, sample_weight, mask, reduction, dtype) -> np.ndarray:
    reduction = standardize_reduction(reduction)
    values = _plain(keras_convert(values, dtype))
    if sample_weight is not None:
        sample_weight = keras_convert(sample_weight, dtype)
    if mask is not None:
        mask = cast(_plain(mask), np.dtype(dtype))
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        sample_weight = cast(_plain(sample_weight), values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = _multiply(values, sample_weight)
    return reduce_values(_plain(values), sample_weight, reduction)


def _structure(x):
    """The nesting of Python lists/tuples (``keras.tree`` sees them as structures)."""
    if isinstance(x, (list, tuple)):
        return [_structure(item) for item in x]
    return None


def _eager_repr(array: np.ndarray) -> str:
    return f"<tf.Tensor: shape={static_shape(array.shape)}, dtype={array.dtype.name}, numpy={np.asarray(array)!r}>"


def _check_structures(y_true, y_pred, dtype) -> None:
    """``tree.map_structure(squeeze_or_expand_to_same_rank, y_true, y_pred)``: Python lists are
    nested structures there, so both must be nested alike (then they are stacked back into
    tensors); a list against an array is one of two errors."""
    true_nested, pred_nested = isinstance(y_true, (list, tuple)), isinstance(y_pred, (list, tuple))
    if true_nested and not pred_nested:
        raise ValueError(f"Expected an instance of list, got {_eager_repr(keras_convert(y_pred, dtype))}.")
    if pred_nested and (not true_nested or _structure(y_true) != _structure(y_pred)):
        raise ValueError("Structures don't have the same nested structure.")


@_quiet
def call_loss(fn, kwargs: dict, y_true, y_pred, sample_weight, reduction, dtype) -> np.ndarray:
    """``Loss.__call__`` of a ``LossFunctionWrapper``: convert both to the loss dtype, fix the
    ranks, call ``fn``, then weight and reduce with the mask ``fn`` produced (if any)."""
    _check_structures(y_true, y_pred, dtype)
    y_pred = keras_convert(y_pred, dtype)
    y_true = keras_convert(y_true, dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if fn is sparse_categorical_crossentropy:
        losses, mask = sparse_categorical_crossentropy_with_mask(y_true, y_pred, **kwargs)
    else:
        losses, mask = fn(y_true, y_pred, **kwargs), None
    return reduce_weighted_values(losses, sample_weight, mask, reduction, dtype)


__all__ = ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "call_loss",
           "standardize_reduction", "compute_dtype", "with_logits", "KerasActivation", "FLOAT_DTYPES"]
