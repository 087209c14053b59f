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
  ``sigmoid(x)`` rounds to exactly 1 for ``x`` above about 17 in float32 (about 37 in float64),
  then ``log(1 - 1) = -inf``.
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

from ._convert import check_ops, convert_to_tensor
from ._cpu import CpuTensor, log, mean_op, sigmoid, silent_floating_point, softmax, sum_op

# The dtype checks of each composition's ops, in TF's order (see _convert.check_ops).
# tf.clip_by_value is Minimum(t, 1.0) then Maximum(t, 1e-10).
_PROBABILITY_OPS = (("Minimum", "probs", 1.0, "->probs"), ("Maximum", "probs", 1e-10),
                    ("Log", "probs"), ("Mul", "labels", "probs", "->terms"))
_CLIPPED_OPS = _PROBABILITY_OPS + (("Mean", "terms"), ("Neg", "terms"))
_PER_EXAMPLE_OPS = _PROBABILITY_OPS + (("Sum", "terms"), ("Neg", "terms"), ("Mean", "terms"))
_SIGMOID_OPS = (("Sigmoid", "logits"), ("Neg", "labels"), ("Log", "logits"), ("Mul", "labels", "logits"))
_SOFTMAX_OPS = (("Softmax", "logits"), ("Log", "logits"), ("Mul", "labels", "logits", "->terms"), ("Sum", "terms"))


def _inputs(sequence, **arrays) -> dict:
    arrays = {name: convert_to_tensor(value) for name, value in arrays.items()}
    check_ops(sequence, {name: array.dtype for name, array in arrays.items()})
    return {name: CpuTensor.from_input(array) for name, array in arrays.items()}


def _clip(probs: CpuTensor, low: float, high: float) -> CpuTensor:
    """``tf.clip_by_value``: ``maximum(minimum(t, high), low)``; NaN passes through both."""
    bounds = [np.asarray(b, dtype=probs.dtype) for b in (low, high)]
    return CpuTensor(np.maximum(np.minimum(probs.value, bounds[1]), bounds[0]))


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
    per_example = -sum_op(t["labels"] * log(_clip(t["probs"], 1e-10, 1.0)), axis=-1)
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
    t = _inputs(_SOFTMAX_OPS, labels=labels, logits=logits)
    return (-sum_op(t["labels"] * log(softmax(t["logits"], axis)), axis=axis)).value


__all__ = [
    "clipped_cross_entropy",
    "per_example_clipped_cross_entropy",
    "naive_sigmoid_cross_entropy",
    "naive_softmax_cross_entropy",
]
