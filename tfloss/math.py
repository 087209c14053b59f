"""``tf.math`` for tfloss: the activations and reductions the losses are built from.

Signatures and argument handling only (``name`` is accepted and ignored); conversion and checks
are in ``tfloss._frontend.convert``, TF's wrapper steps in ``tfloss._frontend.wrappers`` and the kernels in
``tfloss._machine.math_ops``.  Each function returns TF 2.21's CPU result bit for bit, including
Eigen's order of summation (which, for a full ``reduce_sum`` of more than about 10**5
elements, depends on the number of threads, as it does in TF).
"""

from __future__ import annotations

from ._frontend import wrappers as _ops
from ._frontend.arguments import shared_sections, tf_api

_AXES = """
    axis : int or sequence of int, optional
        Axes to reduce, each in ``[-rank, rank)``, no duplicates.
    keepdims : bool, default False
        Keep the reduced axes with size 1."""

_CLASS_AXIS = """
    axis : int, optional
        The class axis; negative values count from the end."""


def _sections(param: str, kinds: str, more: str = "", returns: str = ""):
    """The Parameters and Returns sections of these functions, for their ``{sections}``."""
    return shared_sections(f"""Parameters
    ----------
    {param} : array_like
        {kinds}{more}
    name : str, optional
        Ignored.

    Returns
    -------
    numpy.ndarray
        {returns or f"Same shape and dtype as ``{param}``."}""")


@tf_api
@_sections("x", "float16, bfloat16, float32, float64 (complex64/complex128 are accepted by TF too).")
def sigmoid(x, name=None):
    """``1 / (1 + exp(-x))``, elementwise, as TF's Sigmoid kernel computes it.

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.math.sigmoid([0.0, 2.0, -20.0])
    array([5.0000000e-01, 8.8079709e-01, 2.0611537e-09], dtype=float32)
    """
    return _ops.sigmoid(x)


@tf_api
@_sections("features", "float16, bfloat16, float32 or float64.")
def softplus(features, name=None):
    """``log(1 + exp(x))``, elementwise, with the shortcuts of TF's Softplus kernel.

    ``x`` itself above ``-log(epsilon) - 2`` (13.94 in float32), ``exp(x)`` below
    ``log(epsilon) + 2``, and ``log1p(exp(x))`` between.

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.math.softplus([0.0, 1.0, 20.0])
    array([ 0.6931472,  1.3132616, 20.       ], dtype=float32)
    """
    return _ops.softplus(features)


@tf_api
@_sections("x", "float16, bfloat16, float32 or float64.")
def log_sigmoid(x, name=None):
    """``log(sigmoid(x))`` computed as ``-softplus(-x)``, so it never takes the log of 0.

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.math.log_sigmoid([0.0, -100.0])
    array([  -0.6931472, -100.       ], dtype=float32)
    """
    return _ops.log_sigmoid(x)


@tf_api
@_sections("logits", "float16, bfloat16, float32 or float64, rank >= 1 (and <= 5 where TF runs oneDNN's kernel).",
           _CLASS_AXIS)
def softmax(logits, axis=None, name=None):
    """``exp(x - max(x)) * (1 / sum(exp(x - max(x))))`` along ``axis`` (default: the last).

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.math.softmax([[0.0, 1.0, 2.0]])
    array([[0.09003057, 0.24472848, 0.6652409 ]], dtype=float32)
    """
    return _ops.softmax(logits, axis)


@tf_api
@_sections("logits", "float16, bfloat16, float32 or float64, rank >= 1.", _CLASS_AXIS)
def log_softmax(logits, axis=None, name=None):
    """``x - max(x) - log(sum(exp(x - max(x))))`` along ``axis`` (default: the last).

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.math.log_softmax([[0.0, 1.0, 2.0]])
    array([[-2.407606  , -1.4076059 , -0.40760595]], dtype=float32)
    """
    return _ops.softmax(logits, axis, log=True)


@tf_api
@_sections("input_tensor", "Any number type (not bool).  Integers wrap around; bfloat16 is summed in float32.", _AXES,
           returns="Same dtype as ``input_tensor``.")
def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """Sum over ``axis`` (default: all axes), added in the order TF's CPU kernel adds.

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.reduce_sum([[1.0, 2.0], [3.0, 4.0]], axis=0)
    array([4., 6.], dtype=float32)
    >>> tf.reduce_sum([[1, 2], [3, 4]], keepdims=True)
    array([[10]], dtype=int32)
    """
    return _ops.reduce(input_tensor, axis, keepdims, "Sum")


@tf_api
@_sections("input_tensor", "Any number type (not bool).", _AXES,
           returns="Same dtype as ``input_tensor``; NaN for the mean of nothing (0 for integers).")
def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean over ``axis``: TF's sum divided by the count in the tensor's own type.

    So an integer mean truncates toward zero, and a float16 count rounds (from 65520 elements
    on it is ``inf`` and the mean is 0).

    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.reduce_mean([[1.0, 2.0], [3.0, 4.0]], axis=1)
    array([1.5, 3.5], dtype=float32)
    >>> tf.reduce_mean([1, 2, 4])
    array(2, dtype=int32)
    """
    return _ops.reduce(input_tensor, axis, keepdims, "Mean")


__all__ = ["sigmoid", "softplus", "log_sigmoid", "softmax", "log_softmax", "reduce_sum", "reduce_mean"]
