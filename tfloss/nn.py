"""``tf.nn`` (TF2): the four cross-entropy ops with TensorFlow 2.21's signatures.

Also ``softmax``, ``log_softmax``, ``sigmoid`` and ``softplus``, which are the very functions of
:mod:`tfloss.math` (as in TF, where ``tf.nn.softmax is tf.math.softmax``).

Signatures and argument handling only; conversion and checks are in ``tfloss._frontend.convert``, the
TF wrapper steps in ``tfloss._frontend.wrappers`` and the formulas in ``tfloss._kernels``.  ``name`` is
accepted for compatibility and ignored (there is no graph to name).
"""

from __future__ import annotations

from ._frontend import wrappers as _ops
from ._frontend.arguments import tf_api
from .math import log_softmax, sigmoid, softmax, softplus  # tf.nn.softmax is tf.math.softmax, etc.


@tf_api
def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Elementwise logistic loss of ``logits`` against probabilities ``labels``.

    With ``x = logits`` and ``z = labels``, computes
    ``max(x, 0) - x * z + log(1 + exp(-abs(x)))``, the stable form of
    ``-z * log(sigmoid(x)) - (1 - z) * log(1 - sigmoid(x))``.

    Parameters
    ----------
    labels : array_like
        Same shape and dtype as ``logits``; usually in [0, 1], not checked.
    logits : array_like
        float16, bfloat16, float32 or float64, any shape.
    name : str, optional
        Ignored.

    Returns
    -------
    numpy.ndarray
        The losses, with the shape and dtype of ``logits``.

    Raises
    ------
    ValueError
        If either argument is missing or the shapes differ.
    tfloss.errors.InvalidArgumentError
        If the dtypes differ or are not floating point.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.nn.sigmoid_cross_entropy_with_logits(labels=[1.0, 0.0], logits=[0.0, 0.0])
    array([0.6931472, 0.6931472], dtype=float32)
    """
    return _ops.sigmoid_cross_entropy_with_logits(labels, logits)


@tf_api
def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    """Logistic loss with the positive term weighted by ``pos_weight``.

    With ``x = logits``, ``z = labels`` and ``q = pos_weight``, computes
    ``(1 - z) * x + (1 + (q - 1) * z) * (log(1 + exp(-abs(x))) + max(-x, 0))``, the stable form
    of ``-q * z * log(sigmoid(x)) - (1 - z) * log(1 - sigmoid(x))``.

    Parameters
    ----------
    labels : array_like
        Same shape and dtype as ``logits``.
    logits : array_like
        float16, bfloat16, float32 or float64.
    pos_weight : scalar or array_like
        Weight of the positive term, broadcast against ``labels``.  ``pos_weight - 1`` is
        evaluated before conversion, so a Python scalar is subtracted in double precision.
    name : str, optional
        Ignored.

    Returns
    -------
    numpy.ndarray
        The losses, shape ``broadcast(labels, logits, pos_weight)``, dtype of ``logits``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.nn.weighted_cross_entropy_with_logits(labels=[1.0, 0.0], logits=[0.0, 0.0], pos_weight=2.0)
    array([1.3862944, 0.6931472], dtype=float32)
    """
    return _ops.weighted_cross_entropy_with_logits(labels, logits, pos_weight)


@tf_api
def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """Cross-entropy between ``labels`` and ``softmax(logits)`` along ``axis``.

    Computes ``-sum(labels * log_softmax(logits), axis)`` as
    ``sum(labels * (log(sum(exp(x - m))) - (x - m)))`` with ``m`` the maximum along ``axis``.

    Parameters
    ----------
    labels : array_like
        Probabilities, cast to the logits' dtype; broadcastable to ``logits`` after both are
        flattened to ``[batch, classes]`` (``[1, C]``, ``[C]``, ``[B, 1]`` work).  Rows need
        not sum to 1 (the loss is linear in ``labels``).
    logits : array_like
        float16, bfloat16 (both computed in float32), float32 or float64, rank >= 1.
    axis : int, default -1
        The class axis.  As in TF, a negative axis other than -1 is not normalised and fails.
    name : str, optional
        Ignored.

    Returns
    -------
    numpy.ndarray
        Shape of ``logits`` without ``axis``, dtype of ``logits``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.nn.softmax_cross_entropy_with_logits(labels=[[0.0, 1.0]], logits=[[0.0, 0.0]])
    array([0.6931472], dtype=float32)
    """
    return _ops.softmax_cross_entropy_with_logits(labels, logits, axis)


@tf_api
def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Cross-entropy between class indices ``labels`` and ``softmax(logits)`` on the last axis.

    Computes ``log(sum(exp(x - m))) - (x[label] - m)`` per row, ``m`` the row maximum.

    Parameters
    ----------
    labels : array_like of int32 or int64
        Class indices in ``[0, classes)``, shape ``logits.shape[:-1]``.  Out-of-range labels
        raise ``InvalidArgumentError``, as on TF's CPU.
    logits : array_like
        float16 (computed in float32), bfloat16 (computed natively), float32 or float64,
        rank >= 1.
    name : str, optional
        Ignored.

    Returns
    -------
    numpy.ndarray
        Shape of ``labels``, dtype of ``logits``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1], logits=[[0.0, 0.0]])
    array([0.6931472], dtype=float32)
    """
    return _ops.sparse_softmax_cross_entropy_with_logits(labels, logits)


__all__ = [
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "softmax",
    "log_softmax",
    "sigmoid",
    "softplus",
]
