"""What TF's Python wrappers do around each kernel: convert, check, cast, reshape, call the math.

One function per op, mirroring ``nn_impl.py``/``nn_ops.py`` step for step, so that an error is
raised at the same step as in TF and a value goes through the same casts and reshapes.  The
formulas themselves are in :mod:`tfloss._kernels`; the public signatures in :mod:`tfloss.nn` and
:mod:`tfloss.compat.v1.nn`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _engine, _targets, errors
from .._machine import math_ops as _tf_math_ops
from .._targets import deterministic as _deterministic
from .._targets import gpu as _gpu
from .._targets import xla_cpu as _xla
from .convert import (
    FLOAT_DTYPES,
    broadcast_shape,
    cast,
    check_op_dtype,
    check_ops,
    check_reduction_indices,
    check_same_shape,
    check_softmax_rank,
    convert_to_tensor,
    ensure_xent_args,
    kernel_shape,
    op_error,
    reduction_indices,
    softmax_axis,
    static_shape,
    to_python_scalar_tensor,
)
from .._machine.cpu import HALF_TYPES, CpuTensor, silent_floating_point as _quiet
from .._targets import reproduced as _reproduced



# The TF ops each sigmoid loss executes, in order, with the tensors they read ("->name" names a
# result).  A dtype that one of them rejects fails there, with that op's message.
_SIGMOID_OPS = (
    ("GreaterEqual", "logits"),  # logits >= zeros_like(logits)
    ("Neg", "logits"),  # where(cond, -logits, logits)
    ("Mul", "logits", "labels", "->product"),  # logits * labels
    ("Sub", "logits", "product", "->difference"),  # relu_logits - logits * labels
    ("Exp", "logits"),
    ("Log1p", "logits"),
    ("AddV2", "difference", "logits"),
)
_WEIGHTED_OPS = (
    ("Mul", "pos_weight", "labels", "->scaled"),  # (pos_weight - 1) * labels
    ("AddV2", 1, "scaled", "->log_weight"),  # 1 + ...
    ("Sub", 1, "labels", "->complement"),  # 1 - labels
    ("Mul", "complement", "logits", "->linear"),  # (1 - labels) * logits
    ("Abs", "logits", "->magnitude"),
    ("Neg", "magnitude"),
    ("Exp", "magnitude"),
    ("Log1p", "magnitude"),
    ("Neg", "logits"),
    ("Relu", "logits"),
    ("AddV2", "magnitude", "logits", "->softplus"),  # log1p(exp(-|x|)) + relu(-x)
    ("Mul", "log_weight", "softplus", "->weighted"),
    ("AddV2", "linear", "weighted"),
)

@_reproduced
@_quiet
def sigmoid_cross_entropy_with_logits(labels, logits) -> np.ndarray:
    ensure_xent_args("sigmoid_cross_entropy_with_logits", labels, logits)
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    check_same_shape(labels, logits)
    check_ops(_SIGMOID_OPS, {"logits": logits.dtype, "labels": labels.dtype})
    if _targets.is_xla():
        return _xla.sigmoid_cross_entropy(*_xla.stored(labels, logits))
    return _engine.sigmoid_cross_entropy(labels, logits)


def _pos_weight_minus_one(pos_weight, labels: np.ndarray) -> np.ndarray:
    """``pos_weight - 1`` as TF evaluates it, then brought to a tensor for ``* labels``.

    TF subtracts before converting, with the operand's own arithmetic: a Python scalar in
    double precision, a NumPy value in NumPy.  The difference is then converted to labels' dtype
    (a NumPy value is cast; a Python float cannot become an integer tensor), except a tensor,
    whose dtype must already match.
    """
    minus_one = pos_weight - 1  # TypeError for None, lists and strings, as in TF
    if isinstance(minus_one, (bool, numbers.Number)) and not isinstance(minus_one, np.generic):
        return to_python_scalar_tensor(minus_one, labels.dtype)
    if isinstance(minus_one, (np.ndarray, np.generic)):
        return cast(np.asarray(minus_one), labels.dtype)
    return convert_to_tensor(minus_one)


@_reproduced
@_quiet
def weighted_cross_entropy_with_logits(labels, logits, pos_weight) -> np.ndarray:
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    check_same_shape(labels, logits)
    pos_weight_minus_one = _pos_weight_minus_one(pos_weight, labels)
    check_ops(
        _WEIGHTED_OPS,
        {"pos_weight": pos_weight_minus_one.dtype, "labels": labels.dtype, "logits": logits.dtype},
    )
    log_weight_shape = broadcast_shape("Mul", pos_weight_minus_one.shape, labels.shape)
    broadcast_shape("Mul", log_weight_shape, logits.shape)
    if _targets.is_xla():
        return _xla.weighted_cross_entropy(*_xla.stored(labels, logits, pos_weight_minus_one))
    return _engine.weighted_cross_entropy(labels, logits, pos_weight_minus_one)


def _move_axis_to_end(array: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """TF's ``_move_dim_to_end``: ``range(axis)`` and ``range(axis + 1, rank)`` are TF Range ops.

    The axis is not normalised, so a negative axis other than -1 makes ``range(axis)`` fail:
    TF's broken negative axes, reproduced.
    """
    for start, limit in ((0, axis), (axis + 1, rank)):
        if start > limit:
            raise op_error(
                errors.InvalidArgumentError,
                "Range",
                f"Requires start <= limit when delta > 0: {start:g}/{limit:g}",
            )
    if isinstance(axis, float):  # the ranges are float, so the permutation is too
        check_op_dtype("Transpose", np.dtype(np.float32))
    perm = list(range(axis)) + list(range(axis + 1, rank)) + [axis]
    if array.ndim != len(perm):
        raise op_error(
            errors.InvalidArgumentError,
            "Transpose",
            f"transpose expects a vector of size {array.ndim}. But input(1) is a vector of size {len(perm)}",
        )
    return np.transpose(array, perm)


def _flatten_outer_dims(array: np.ndarray) -> np.ndarray:
    """Reshape to ``[-1, last_dim]``; a scalar has no last dimension and TF's Slice fails."""
    if array.ndim == 0:
        raise op_error(
            errors.InvalidArgumentError,
            "Slice",
            "Expected begin[0] == 0 (got -1) and size[0] == 0 (got 1) when input.dim_size(0) == 0",
            named=False,
        )
    return array.reshape(_inferred_rows(array.shape), array.shape[-1])


def _inferred_rows(shape: tuple) -> int:
    """The ``-1`` of TF's Reshape to ``[-1, shape[-1]]``.

    With a zero-size class dimension TF infers the missing size from the input's non-zero
    dimensions only, so ``[2, 3, 0]`` flattens to ``[6, 0]`` and ``[0, 0]`` to ``[1, 0]``.
    """
    if shape[-1] == 0:
        return math.prod(d for d in shape if d > 0)
    return math.prod(shape[:-1])


def _check_softmax_kernel_shapes(labels: np.ndarray, logits: np.ndarray) -> tuple:
    """The SoftmaxCrossEntropyWithLogits kernel's broadcast check; returns the 2-D shape."""
    if labels.shape == logits.shape:
        return logits.shape
    try:
        return np.broadcast_shapes(logits.shape, labels.shape)
    except ValueError:
        error = op_error(
            errors.InvalidArgumentError,
            "SoftmaxCrossEntropyWithLogits",
            f"logits and labels must be broadcastable: logits_size={kernel_shape(logits.shape)} "
            f"labels_size={kernel_shape(labels.shape)}",
        )
        raise _targets.differs_by_target(
            error, "with op determinism ('cpu-deterministic') TF raises Mul's 'Incompatible shapes' instead") from None


def _reshape(array: np.ndarray, shape: tuple) -> np.ndarray:
    if array.size != math.prod(shape):
        raise op_error(
            errors.InvalidArgumentError,
            "Reshape",
            f"Input to reshape is a tensor with {array.size} values, but the requested shape has {math.prod(shape)}",
        )
    return array.reshape(shape)


@_reproduced
@_quiet
def softmax_cross_entropy_with_logits(labels, logits, axis) -> np.ndarray:
    """TF's ``softmax_cross_entropy_with_logits_v2_helper`` after the dim/axis lookup."""
    if axis is None:
        axis = -1
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    # float16/bfloat16 are computed in float32 and the loss is cast back at the end.
    precise_dtype = np.dtype(np.float32) if logits.dtype in HALF_TYPES else logits.dtype
    if _widened_in_kernel(logits, precise_dtype) and labels.dtype == logits.dtype:
        precise_logits = logits  # the engine's float32 kernel reads both widened: the Casts' bits, no copies
    else:
        precise_logits = cast(logits, precise_dtype)
        labels = cast(labels, precise_dtype)
    rank = precise_logits.ndim
    if axis != -1:
        precise_logits = _move_axis_to_end(precise_logits, axis, rank)
        labels = _move_axis_to_end(labels, axis, rank)
    input_shape = precise_logits.shape
    precise_logits = _flatten_outer_dims(precise_logits)
    labels = _flatten_outer_dims(labels)
    if _targets.is_deterministic():  # nn_ops.py's determinism branch: log_softmax, Mul, Sum
        cost = _deterministic.softmax_cross_entropy(labels, precise_logits)
        batch = -1
    else:
        check_op_dtype("SoftmaxCrossEntropyWithLogits", precise_dtype)
        batch, _ = _check_softmax_kernel_shapes(labels, precise_logits)
    if batch > 0 and _targets.is_xla():
        cost = _xla.softmax_cross_entropy(*_xla.stored(labels, precise_logits))
    elif batch > 0:
        cost, _ = _engine.softmax_cross_entropy(labels, precise_logits, with_backprop=False, dtype=precise_dtype)
    elif batch == 0:
        cost = np.zeros((0,), precise_dtype)
    cost = _reshape(cost, input_shape[:-1])
    return cost.astype(logits.dtype) if precise_dtype != logits.dtype else cost


def _widened_in_kernel(logits: np.ndarray, precise_dtype: np.dtype) -> bool:
    """Whether the eager CPU kernel will read 16-bit ``logits`` widened to ``precise_dtype``
    itself (large inputs, :func:`tfloss._engine.widens_in_kernel`), so that the wrapper's Cast
    is not materialised."""
    return _targets.get_target() == "cpu" and _engine.widens_in_kernel(logits, precise_dtype)


def _check_label_range(labels: np.ndarray, num_classes: int) -> None:
    """TF CPU rejects a label outside [0, classes); it reports the minimum if any is negative."""
    if _engine.labels_in_range(labels, num_classes):
        return
    low, high = labels.min(), labels.max()
    if low >= 0 and high < num_classes:
        return
    bad = low if low < 0 else high
    values = " ".join(str(v) for v in labels.tolist())
    error = op_error(
        errors.InvalidArgumentError,
        "SparseSoftmaxCrossEntropyWithLogits",
        f"Received a label value of {bad} which is outside the valid range of [0, {num_classes}).  "
        f"Label values: {values}",
    )
    raise _targets.differs_by_target(error, _BAD_LABEL_ELSEWHERE)


# How the other targets treat an out-of-range sparse label (docs/quirks.md).
_BAD_LABEL_ELSEWHERE = ("with op determinism ('cpu-deterministic') TF raises from GatherV2 instead; "
                        "under XLA, and on GPU ('gpu') for float16/bfloat16/float32 logits, the row's loss is NaN, "
                        "without an error (TF has no float64 GPU kernel for this op: float64 raises there too)")


def sparse_kernel(labels: np.ndarray, logits: np.ndarray, dtype=None, **options):
    """The SparseSoftmaxCrossEntropyWithLogits kernel that runs under the active target:
    ``(loss, backprop)`` of 2-D logits, computed in ``dtype`` (default: the logits').  The CPU
    kernel scans the labels first; the CUDA kernel, which the "gpu" target takes for the dtypes
    it exists for, checks nothing (NaN rows)."""
    dtype = logits.dtype if dtype is None else np.dtype(dtype)
    if _targets.get_target() == "gpu" and _gpu.sparse_runs_on_gpu(dtype):
        return _gpu.sparse_softmax_cross_entropy(labels, cast(logits, dtype), **options)
    _check_label_range(labels, logits.shape[1])
    return _engine.sparse_softmax_cross_entropy(labels, logits, dtype=dtype, **options)


@_reproduced
def sparse_softmax_cross_entropy_with_logits(labels, logits) -> np.ndarray:
    if _targets.get_target() == "cpu":  # a small call of plain arrays: the engine's lean route, same bits
        cost = _engine.small_sparse_softmax_cross_entropy(labels, logits)
        if cost is not None:
            return cost
    return _sparse_softmax_cross_entropy_with_logits(labels, logits)


@_quiet
def _sparse_softmax_cross_entropy_with_logits(labels, logits) -> np.ndarray:
    ensure_xent_args("sparse_softmax_cross_entropy_with_logits", labels, logits)
    labels = convert_to_tensor(labels)
    logits = convert_to_tensor(logits)
    # Only float16 is widened; bfloat16 runs the kernel natively in bfloat16.
    precise_dtype = np.dtype(np.float32) if logits.dtype == np.float16 else logits.dtype
    if logits.ndim == 0:
        raise ValueError(f"`logits` cannot be a scalar. Received logits={format(logits)}`")
    if labels.ndim != logits.ndim - 1:
        raise ValueError(
            "`labels.shape.rank` must equal `logits.shape.rank - 1`. "
            f"Received: labels.shape={static_shape(labels.shape)} of rank {labels.ndim} "
            f"and logits.shape={static_shape(logits.shape)} of rank {logits.ndim}"
        )
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            "`labels.shape` must equal `logits.shape` except for the last dimension. "
            f"Received: labels.shape={static_shape(labels.shape)} and logits.shape={static_shape(logits.shape)}"
        )
    # Large float16 logits are read widened by the engine's float32 kernel: the Cast's bits, no copy.
    precise_logits = logits if _widened_in_kernel(logits, precise_dtype) else cast(logits, precise_dtype)
    if precise_logits.ndim != 2:  # TF's rank-2 path skips the reshape
        precise_logits = _flatten_outer_dims(precise_logits)
    flat_labels = labels.reshape(-1)
    if _targets.is_deterministic():  # nn_ops.py's determinism branch: log_softmax and a gather
        cost = _deterministic.sparse_softmax_cross_entropy(flat_labels, precise_logits).reshape(labels.shape)
        return cost.astype(logits.dtype) if precise_dtype != logits.dtype else cost
    # When both are wrong TF names either attribute, varying from run to run; we name T.
    check_op_dtype("SparseSoftmaxCrossEntropyWithLogits", precise_dtype)
    check_op_dtype("SparseSoftmaxCrossEntropyWithLogits", flat_labels.dtype, attr="Tlabels")
    batch, num_classes = precise_logits.shape
    if batch != flat_labels.shape[0]:
        raise op_error(
            errors.InvalidArgumentError,
            "SparseSoftmaxCrossEntropyWithLogits",
            "logits and labels must have the same first dimension, got logits shape "
            f"{kernel_shape(precise_logits.shape)} and labels shape {kernel_shape(flat_labels.shape)}",
        )
    if num_classes == 0:
        message = f"Must have at least one class, but got logits shape {kernel_shape(precise_logits.shape)}"
        if _targets.is_xla():  # raised while XLA compiles: the lowering's text, no op suffix
            raise errors.InvalidArgumentError(None, None, message)
        raise op_error(errors.InvalidArgumentError, "SparseSoftmaxCrossEntropyWithLogits", message)
    if batch > 0 and _targets.is_xla():  # no range check: a bad label's row is NaN
        cost = _xla.sparse_softmax_cross_entropy(flat_labels, *_xla.stored(precise_logits))
    elif batch > 0:
        cost, _ = sparse_kernel(flat_labels, precise_logits, precise_dtype, with_backprop=False)
    else:
        cost = np.zeros((0,), precise_dtype)
    cost = cost.reshape(labels.shape)
    return cost.astype(logits.dtype) if precise_dtype != logits.dtype else cost


# --------------------------------------------------------------------------------------------
# The building blocks: activations and reductions (math_ops.py, nn_ops.py, nn_impl.py)
# --------------------------------------------------------------------------------------------


@_reproduced
@_quiet
def sigmoid(x) -> np.ndarray:
    """``tf.math.sigmoid``: convert, then TF's Sigmoid kernel."""
    x = convert_to_tensor(x)
    check_op_dtype("Sigmoid", x.dtype)
    return _engine.activation("sigmoid", x)


@_reproduced
@_quiet
def softplus(features) -> np.ndarray:
    """``tf.math.softplus``: convert, then TF's Softplus kernel."""
    features = convert_to_tensor(features)
    check_op_dtype("Softplus", features.dtype)
    return _engine.activation("softplus", features)


@_reproduced
@_quiet
def log_sigmoid(x) -> np.ndarray:
    """``tf.math.log_sigmoid``: ``neg(softplus(-x))``, each a TF op (Neg checks its dtype first)."""
    x = convert_to_tensor(x)
    check_op_dtype("Neg", x.dtype)
    check_op_dtype("Softplus", x.dtype)
    return _engine.activation("log_sigmoid", x)


@_reproduced
@_quiet
def softmax(logits, axis, log: bool = False) -> np.ndarray:
    """``tf.nn.softmax``/``log_softmax``: TF's ``_wrap_2d_function`` around the kernel.

    A class axis other than the last is *swapped* with the last one (not moved to the end), the
    kernel runs on the last axis, and the axes are swapped back.  The swap decides which
    elements share a row position in memory, which decides the last bits.
    """
    op = "LogSoftmax" if log else "Softmax"
    if axis is None:
        axis = -1
    logits = convert_to_tensor(logits)
    axis = softmax_axis(axis, logits.ndim)
    check_op_dtype(op, logits.dtype)
    check_softmax_rank(logits, op)
    rows = logits if axis == -1 else np.ascontiguousarray(np.swapaxes(logits, axis, -1))
    if rows.size == 0:
        result = np.zeros(rows.shape, rows.dtype)
    elif log:  # the engine's LogSoftmax loop, or _tf_math_ops.log_softmax without it
        result = _engine.log_softmax(rows.reshape(-1, rows.shape[-1])).reshape(rows.shape)
    else:  # the engine's Softmax loop, or _tf_math_ops.softmax without it
        result = _engine.softmax(rows.reshape(-1, rows.shape[-1])).reshape(rows.shape)
    return result if axis == -1 else np.swapaxes(result, axis, -1)


@_reproduced
@_quiet
def reduce(input_tensor, axis, keepdims, op: str) -> np.ndarray:
    """``tf.reduce_sum``/``tf.reduce_mean``: convert, check the axes and dtype, then the kernel.

    ``keepdims`` is read with Python's ``bool`` (TF's ``bool(keepdims)``; None is False).
    """
    x = convert_to_tensor(input_tensor)
    keepdims = False if keepdims is None else bool(keepdims)
    check_op_dtype(op, x.dtype)
    indices = np.arange(x.ndim, dtype=np.int32) if axis is None else reduction_indices(axis, op)
    axes = check_reduction_indices(indices, x.ndim, op)
    kernel = _tf_math_ops.sum_op if op == "Sum" else _tf_math_ops.mean_op
    if x.dtype in FLOAT_DTYPES:  # the engine's sums, or the kernel without it
        result = _engine.reduce(x, axes, op)
    else:
        result = kernel(CpuTensor.from_input(x) if x.dtype.kind not in "iu" else CpuTensor(x), axes).value
    if keepdims:
        result = result.reshape(tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return np.asarray(result)


__all__ = [
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "sigmoid",
    "softplus",
    "log_sigmoid",
    "softmax",
    "reduce",
]
