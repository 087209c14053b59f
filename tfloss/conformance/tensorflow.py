"""Real TensorFlow, called the way a user calls it: the live reference and the ``tensorflow`` impl.

This module imports TensorFlow only when one of its functions first runs (:func:`tf`), never at
import, so the rest of :mod:`tfloss.conformance` works where TensorFlow is absent.  It is what
``make golden`` records from, what ``--against tensorflow`` and ``--impl tensorflow`` call, and
what the parity suite (``parity/``) compares tfloss with.

* :func:`run_tf` calls a TF function and records its :class:`~tfloss.conformance.compare.Outcome`;
* :func:`bind` gives the TF side of a :class:`~tfloss.conformance.functions.Function`: the
  ``tf.nn`` op, the TF composition of a textbook formula, or nested ``tf.GradientTape`` s.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from .compare import Outcome, call_outcome  # noqa: E402
from .functions import case_vector, gradient_wrt, resolve  # noqa: E402

#: The TF release tfloss reproduces.  Runs against any other release report
#: differences as release differences, not as tfloss failures.
TARGET_TF_VERSION = "2.21.0"

_TF = None

def tf():
    """Import TensorFlow once, quietly, and return the module."""
    global _TF
    if _TF is None:
        import tensorflow

        tensorflow.get_logger().setLevel("ERROR")
        try:  # absl may print the deprecation notices of compat.v1 otherwise
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TF
            pass
        _TF = tensorflow
    return _TF


def tf_version() -> str:
    """Version string of the installed TensorFlow."""
    return tf().__version__


def is_target_release() -> bool:
    """True when the installed TF is the release tfloss reproduces."""
    return tf_version() == TARGET_TF_VERSION


def _bfloat16_is_native() -> bool:
    return tf().bfloat16.as_numpy_dtype == ml_dtypes.bfloat16


def to_tf_input(value):
    """Hand a catalogue input to TF as a user would.

    NumPy arrays go in as they are.  Old TF releases (before ml_dtypes became
    TF's bfloat16 type) cannot take an ``ml_dtypes.bfloat16`` array, so there
    the array is converted through float32 (exact) and cast.
    """
    if isinstance(value, np.ndarray) and value.dtype == ml_dtypes.bfloat16 and not _bfloat16_is_native():
        t = tf()
        return t.cast(t.constant(value.astype(np.float32)), t.bfloat16)
    return value


def to_tensor(value):
    """A ``tf.Tensor`` holding ``value`` (what the ``tensor`` layout hands TF)."""
    converted = to_tf_input(value)  # a tensor already for old TF's bfloat16
    return converted if not isinstance(converted, np.ndarray) else tf().constant(value)


def to_numpy(result) -> np.ndarray:
    """Turn a TF result into a NumPy array (bfloat16 as ``ml_dtypes.bfloat16``)."""
    t = tf()
    if isinstance(result, (t.Tensor, t.Variable)):
        if result.dtype == t.bfloat16 and not _bfloat16_is_native():
            return np.asarray(t.cast(result, t.float32).numpy()).astype(ml_dtypes.bfloat16)
        return np.asarray(result.numpy())
    return result


def run_tf(fn, args=(), kwargs=None) -> Outcome:
    """Call a TF function and record the outcome.

    Parameters
    ----------
    fn : callable
        Returns a tensor or a tuple of tensors.
    args, kwargs
        Inputs; NumPy arrays are passed through :func:`to_tf_input`.
    """
    args = [to_tf_input(a) for a in args]
    kwargs = {k: to_tf_input(v) for k, v in (kwargs or {}).items()}
    return call_outcome(fn, args, kwargs, op_error_base=tf().errors.OpError, convert=to_numpy)


# --- TF compositions the textbook formulas must match ------------------------------------------


def tf_clipped_cross_entropy(labels, probs):
    """``-tf.reduce_mean(y_ * tf.math.log(tf.clip_by_value(y, 1e-10, 1.0)))``."""
    t = tf()
    return -t.reduce_mean(labels * t.math.log(t.clip_by_value(probs, 1e-10, 1.0)))


def tf_per_example_clipped_cross_entropy(labels, probs):
    """``tf.reduce_mean(-tf.reduce_sum(y_ * tf.math.log(tf.clip_by_value(y, 1e-10, 1.0)), axis=-1))``."""
    t = tf()
    return t.reduce_mean(-t.reduce_sum(labels * t.math.log(t.clip_by_value(probs, 1e-10, 1.0)), axis=-1))


def tf_naive_sigmoid_cross_entropy(labels, logits):
    """``-z * log(sigmoid(x)) - (1 - z) * log(1 - sigmoid(x))`` in TF ops."""
    t = tf()
    z = t.convert_to_tensor(labels)
    p = t.sigmoid(t.convert_to_tensor(logits))
    return -z * t.math.log(p) - (1 - z) * t.math.log(1 - p)


def tf_naive_softmax_cross_entropy(labels, logits, axis=-1):
    """``-reduce_sum(z * log(softmax(x, axis)), axis)`` in TF ops."""
    t = tf()
    labels = t.convert_to_tensor(labels)
    return -t.reduce_sum(labels * t.math.log(t.nn.softmax(logits, axis=axis)), axis=axis)


def tf_value_and_gradient(fn, kwargs, wrt, grad_loss=None):
    """Loss and gradients by ``tf.GradientTape``.

    Parameters
    ----------
    fn : callable
        A TF function taking ``kwargs``.
    kwargs : dict
        Inputs; the ones named in ``wrt`` are converted to tensors and watched.
    wrt : sequence of str
        Input names to differentiate with respect to.
    grad_loss : array_like, optional
        Upstream gradient (``output_gradients``); defaults to ones.

    Returns
    -------
    tuple
        ``(loss, grad_wrt[0], grad_wrt[1], ...)``; a ``None`` gradient is
        returned as ``None``.
    """
    t = tf()
    inputs = dict(kwargs)
    watched = []
    try:
        converted = {name: t.convert_to_tensor(to_tf_input(inputs[name])) for name in wrt}
    except Exception:  # noqa: BLE001 - inputs a tape cannot watch: the op's own error is the outcome
        fn(**{k: to_tf_input(v) for k, v in kwargs.items()})
        raise
    with t.GradientTape() as tape:
        for name in wrt:
            inputs[name] = converted[name]
            tape.watch(inputs[name])
            watched.append(inputs[name])
        loss = fn(**inputs)
    grads = tape.gradient(loss, watched, output_gradients=None if grad_loss is None else to_tf_input(grad_loss))
    return (loss, *grads)


def tf_hessian_vector_product(fn, kwargs, vector, grad_loss=None):
    """TF's nested tapes: ``outer.gradient(inner.gradient(loss, logits), [labels, logits], vector)``.

    Returns
    -------
    tuple
        ``(d/d labels, d/d logits)``; ``None`` where TF returns None.
    """
    t = tf()
    inputs = dict(kwargs)
    try:
        labels = inputs["labels"] = t.convert_to_tensor(to_tf_input(inputs["labels"]))
        logits = inputs["logits"] = t.convert_to_tensor(to_tf_input(inputs["logits"]))
    except Exception:  # noqa: BLE001 - the op's own error is the outcome
        fn(**{k: to_tf_input(v) for k, v in kwargs.items()})
        raise
    with t.GradientTape(persistent=True) as outer:
        outer.watch([labels, logits])
        with t.GradientTape() as inner:
            inner.watch(logits)
            loss = fn(**inputs)
        grad = inner.gradient(loss, logits, output_gradients=None if grad_loss is None else to_tf_input(grad_loss))
    hvp = outer.gradient(grad, [labels, logits], output_gradients=to_tf_input(vector))
    return tuple(hvp)


#: TF compositions of the textbook formulas, by function name.
TEXTBOOK_COMPOSITIONS = {
    "textbook.clipped_cross_entropy": tf_clipped_cross_entropy,
    "textbook.per_example_clipped_cross_entropy": tf_per_example_clipped_cross_entropy,
    "textbook.naive_sigmoid_cross_entropy": tf_naive_sigmoid_cross_entropy,
    "textbook.naive_softmax_cross_entropy": tf_naive_softmax_cross_entropy,
}


def bind(function, upstream=None, wrap=None, wrt=None):
    """The TF side of ``function``: a callable taking its adapted keywords, returning tensors.

    ``upstream`` is the ``output_gradients`` of a ``grad_upstream`` function (see
    :func:`tfloss.conformance.functions.upstream_gradient`).  ``wrap``, if given, is applied to
    the TF op or composition itself (the tapes of a gradient function stay outside it): the
    parity suite's ``function`` mode wraps it in ``tf.function``.  ``wrt``, if given, names the
    inputs the tape watches instead of :func:`~tfloss.conformance.functions.gradient_wrt` of the
    keywords (the parity suite's ``xla`` mode decides from the NumPy inputs, which reach the tape
    as the compiled function's symbolic tensors).
    """
    wrap = wrap or (lambda fn: fn)
    if function.name in TEXTBOOK_COMPOSITIONS:
        return wrap(TEXTBOOK_COMPOSITIONS[function.name])
    if not function.mode:
        return wrap(resolve(tf(), function.name))
    tf_op = wrap(resolve(tf(), function.op_name))
    family, mode = function.family, function.mode

    def call(**kwargs):
        watched = gradient_wrt(family, kwargs) if wrt is None else wrt
        if mode == "grad":
            return tf_value_and_gradient(tf_op, kwargs, watched)
        if mode == "grad_upstream":
            return tf_value_and_gradient(tf_op, kwargs, watched, grad_loss=upstream)
        return tf_hessian_vector_product(tf_op, kwargs, case_vector(kwargs))

    return call


def forward_loss(op_name: str, kwargs) -> np.ndarray | None:
    """TF's loss for ``kwargs`` (as NumPy), or ``None`` where TF raises (for ``grad_upstream``)."""
    outcome = run_tf(resolve(tf(), op_name), (), kwargs)
    return None if outcome.raised else outcome.values[0]
