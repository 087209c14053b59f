"""The reference side: real TensorFlow, called the way a user calls it.

Every expected value and every expected error in the parity suite comes from
the functions here at run time.  Nothing is hard-coded.

This module also runs a call on either side and records its *outcome* (a
value or an exception) in one form, so :mod:`parity.runner` can compare the
two without caring which library produced them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

#: The TF release tfloss reproduces.  Runs against any other release report
#: differences as release differences, not as tfloss failures.
TARGET_TF_VERSION = "2.21.0"

_TF = None

# TF's eager errors start with "{{function_node __wrapped__Op_device_/job:...}} ".
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s?")


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


def strip_function_node(message: str) -> str:
    """Remove TF's eager ``{{function_node ...}}`` prefix from an error message."""
    return _FUNCTION_NODE.sub("", message)


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


def to_numpy(result) -> np.ndarray:
    """Turn a TF result into a NumPy array (bfloat16 as ``ml_dtypes.bfloat16``)."""
    t = tf()
    if isinstance(result, (t.Tensor, t.Variable)):
        if result.dtype == t.bfloat16 and not _bfloat16_is_native():
            return np.asarray(t.cast(result, t.float32).numpy()).astype(ml_dtypes.bfloat16)
        return np.asarray(result.numpy())
    return result


@dataclass
class Outcome:
    """What one call produced.

    Attributes
    ----------
    values : tuple of object or None
        Output arrays (one per output) when the call returned.
    error_kind : str or None
        ``"tf.errors"`` for TF's op errors (and tfloss's mirrors of them),
        ``"builtins"`` for ValueError/TypeError/..., ``"other"`` otherwise.
    error_name : str or None
        Class name of the exception.
    message : str or None
        ``str(exception)`` with TF's function-node prefix stripped.
    """

    values: tuple | None = None
    error_kind: str | None = None
    error_name: str | None = None
    message: str | None = None

    @property
    def raised(self) -> bool:
        """True when the call raised."""
        return self.error_name is not None

    def describe(self) -> str:
        """One line for reports."""
        if self.raised:
            return f"{self.error_kind}.{self.error_name}: {self.message}"
        return "returned " + ", ".join(
            f"{getattr(v, 'dtype', type(v).__name__)}{getattr(v, 'shape', '')}" for v in self.values
        )


def _classify(exc: BaseException, op_error_base, namespace=None) -> tuple[str, str]:
    name = type(exc).__name__
    if op_error_base is not None and isinstance(exc, op_error_base):
        if namespace is not None and type(exc) is not getattr(namespace, name, None):
            return "other", f"{type(exc).__module__}.{name} (not tfloss.errors.{name})"
        return "tf.errors", name
    if type(exc).__module__ == "builtins":
        return "builtins", name
    return "other", f"{type(exc).__module__}.{name}"


def run_tf(fn, args=(), kwargs=None) -> Outcome:
    """Call a TF function and record the outcome.

    Parameters
    ----------
    fn : callable
        Returns a tensor or a tuple of tensors.
    args, kwargs
        Inputs; NumPy arrays are passed through :func:`to_tf_input`.
    """
    kwargs = kwargs or {}
    try:
        out = fn(*[to_tf_input(a) for a in args], **{k: to_tf_input(v) for k, v in kwargs.items()})
    except Exception as exc:  # noqa: BLE001 - every exception is an outcome
        kind, name = _classify(exc, tf().errors.OpError)
        return Outcome(error_kind=kind, error_name=name, message=strip_function_node(str(exc)))
    outs = out if isinstance(out, tuple) else (out,)
    return Outcome(values=tuple(to_numpy(o) for o in outs))


def run_tfloss(fn, args=(), kwargs=None) -> Outcome:
    """Call a tfloss function and record the outcome (see :func:`run_tf`)."""
    kwargs = kwargs or {}
    try:
        import tfloss.errors as tfloss_errors

        op_error_base = getattr(tfloss_errors, "OpError", None)
    except ImportError:
        tfloss_errors, op_error_base = None, None
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        kind, name = _classify(exc, op_error_base, tfloss_errors)
        return Outcome(error_kind=kind, error_name=name, message=strip_function_node(str(exc)))
    outs = out if isinstance(out, tuple) else (out,)
    return Outcome(values=outs)


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
