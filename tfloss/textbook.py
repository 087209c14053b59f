"""The textbook formulas, written naively, as the original article and most lecture notes do.

These are here to be compared with the stable ops in :mod:`tfloss.nn`, not to be used for
training.  Each function is the same composition of TensorFlow ops that its docstring names,
with TF's CPU rounding, so a lesson can show with real numbers where the naive form breaks:

* :func:`clipped_cross_entropy` -- the article's
  ``-tf.reduce_mean(y_ * tf.log(tf.clip_by_value(y, 1e-10, 1.0)))``.  It averages over every
  element of the matrix, not per example; :func:`per_example_clipped_cross_entropy` is the
  per-example mean the formula intends.  Clipping hides ``log(0)`` but also caps the loss of a
  confidently wrong prediction at ``-log(1e-10) = 23.03``.
* :func:`naive_sigmoid_cross_entropy` -- ``-z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))``:
  TF's ``sigmoid(x)`` is exactly 1 from ``x`` = 16.6355 in float32 (Eigen's logistic caps its
  input there), 36.74 in float64, 7.625 in float16 and 5.5625 in bfloat16; then
  ``log(1 - 1) = -inf``.
* :func:`naive_softmax_cross_entropy` -- ``-sum(z * log(softmax(x)), axis)``: a probability
  that underflows to 0 gives ``log(0) = -inf``, and ``0 * -inf`` is NaN.

Examples
--------
>>> import tfloss as tf
>>> tf.textbook.naive_sigmoid_cross_entropy(labels=[0.0], logits=[20.0])
array([inf], dtype=float32)
>>> tf.nn.sigmoid_cross_entropy_with_logits(labels=[0.0], logits=[20.0])
array([20.], dtype=float32)
"""

from __future__ import annotations


import numpy as np

from . import errors
from ._frontend.convert import broadcast_shape, check_ops, check_softmax_rank, convert_to_tensor, op_error, softmax_axis
from ._machine.cpu import CpuTensor, log, silent_floating_point
from ._machine.math_ops import clip_by_value as _clip, mean_op, sigmoid, softmax, sum_op

# The dtype checks of each composition's ops, in TF's order (see _frontend.convert.check_ops).
# tf.clip_by_value is Minimum(t, 1.0) then Maximum(t, 1e-10).
_PROBABILITY_OPS = (("Minimum", "probs", 1.0, "->probs"), ("Maximum", "probs", 1e-10),
                    ("Log", "probs"), ("Mul", "labels", "probs", "->terms"))
_CLIPPED_OPS = _PROBABILITY_OPS + (("Mean", "terms"), ("Neg", "terms"))
_PER_EXAMPLE_OPS = _PROBABILITY_OPS + (("Sum", "terms"), ("Neg", "terms"), ("Mean", "terms"))
_SIGMOID_OPS = (("Sigmoid", "logits"), ("Neg", "labels"), ("Log", "logits"), ("Mul", "labels", "logits"))
_SOFTMAX_OPS = (("Softmax", "logits"), ("Log", "logits"), ("Mul", "labels", "logits", "->terms"), ("Sum", "terms"))


def _inputs(sequence, **arrays) -> dict:
    """Convert, replay the ops' dtype checks, then the first Mul's broadcast (labels first)."""
    arrays = {name: convert_to_tensor(value) for name, value in arrays.items()}
    check_ops(sequence, {name: array.dtype for name, array in arrays.items()})
    broadcast_shape("Mul", *(array.shape for array in arrays.values()))
    return {name: CpuTensor.from_input(array) for name, array in arrays.items()}


def _reduction_axis(axis, rank: int) -> int:
    """The Sum op's axis: a Python float cannot become an int32 tensor; out of range is TF's error."""
    if type(axis) is float:
        raise TypeError(f"Cannot convert {axis!r} to EagerTensor of dtype int32")
    if not -rank <= axis < rank:
        raise op_error(errors.InvalidArgumentError, "Sum",
                       f"Invalid reduction dimension ({axis} for input with {rank} dimension(s)")
    return int(axis)


def _softmax_inputs(labels, logits, axis) -> tuple:
    """The checks of ``-reduce_sum(labels * log(softmax(logits, axis)), axis)``, in TF's order.

    Returns the tensors, the softmax axis and the Sum axis.
    """
    labels, logits = convert_to_tensor(labels), convert_to_tensor(logits)
    class_axis = softmax_axis(axis, logits.ndim)
    check_ops(_SOFTMAX_OPS[:1], {"logits": logits.dtype})
    check_softmax_rank(logits, "Softmax")
    check_ops(_SOFTMAX_OPS[1:], {"labels": labels.dtype, "logits": logits.dtype})
    terms_rank = len(broadcast_shape("Mul", labels.shape, logits.shape))
    sum_axis = _reduction_axis(axis, terms_rank)
    return CpuTensor.from_input(labels), CpuTensor.from_input(logits), class_axis, sum_axis


@silent_floating_point
def clipped_cross_entropy(labels, probs) -> np.ndarray:
    """The article's cross-entropy on probabilities: a mean over all elements.

    ``-tf.reduce_mean(labels * tf.math.log(tf.clip_by_value(probs, 1e-10, 1.0)))``

    Parameters
    ----------
    labels : array_like
        Target probabilities ``y_``, same dtype as ``probs``.
    probs : array_like
        Predicted probabilities ``y`` (already through softmax), float dtype.

    Returns
    -------
    numpy.ndarray
        A scalar: the sum of all ``-labels * log(probs)`` terms divided by the number of
        elements (batch x classes), which is the per-example loss divided by the class count.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.textbook.clipped_cross_entropy(labels=[[1.0, 0.0]], probs=[[0.5, 0.5]])
    array(0.3465736, dtype=float32)
    """
    t = _inputs(_CLIPPED_OPS, labels=labels, probs=probs)
    return (-mean_op(t["labels"] * log(_clip(t["probs"], 1e-10, 1.0)))).value


@silent_floating_point
def per_example_clipped_cross_entropy(labels, probs) -> np.ndarray:
    """The clipped cross-entropy summed over classes, then averaged over examples.

    ``tf.reduce_mean(-tf.reduce_sum(labels * tf.math.log(tf.clip_by_value(probs, 1e-10, 1.0)), axis=-1))``

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.textbook.per_example_clipped_cross_entropy(labels=[[1.0, 0.0]], probs=[[0.5, 0.5]])
    array(0.6931472, dtype=float32)
    """
    t = _inputs(_PER_EXAMPLE_OPS, labels=labels, probs=probs)
    axis = _reduction_axis(-1, max(t["labels"].value.ndim, t["probs"].value.ndim))
    per_example = -sum_op(t["labels"] * log(_clip(t["probs"], 1e-10, 1.0)), axis=axis)
    return mean_op(per_example).value


@silent_floating_point
def naive_sigmoid_cross_entropy(labels, logits) -> np.ndarray:
    """``-labels * log(sigmoid(logits)) - (1 - labels) * log(1 - sigmoid(logits))``, elementwise.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.textbook.naive_sigmoid_cross_entropy(labels=[1.0], logits=[0.0])
    array([0.6931472], dtype=float32)
    """
    t = _inputs(_SIGMOID_OPS, labels=labels, logits=logits)
    z, probs = t["labels"], sigmoid(t["logits"])
    return (-z * log(probs) - (1 - z) * log(1 - probs)).value


@silent_floating_point
def naive_softmax_cross_entropy(labels, logits, axis: int = -1) -> np.ndarray:
    """``-reduce_sum(labels * log(softmax(logits, axis)), axis)``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.textbook.naive_softmax_cross_entropy(labels=[[0.0, 1.0]], logits=[[0.0, 0.0]])
    array([0.6931472], dtype=float32)
    """
    z, x, softmax_axis, sum_axis = _softmax_inputs(labels, logits, axis)
    return (-sum_op(z * log(softmax(x, softmax_axis)), axis=sum_axis)).value


__all__ = [
    "clipped_cross_entropy",
    "per_example_clipped_cross_entropy",
    "naive_sigmoid_cross_entropy",
    "naive_softmax_cross_entropy",
]
