"""``keras.ops.softmax`` and ``keras.ops.sigmoid``: probabilities that remember their logits.

Keras' TF backend attaches the logits to the output of its own ``softmax``/``sigmoid``
(``output._keras_logits``).  A loss called with ``from_logits=False`` on such an output uses
the logits instead, the stable path: a true loss of 40 stays 40 instead of the clipped 16.12.
NumPy arrays carry no op history, so tfloss gives this an explicit form: these two functions
return a :class:`~tfloss._frontend.keras_losses.KerasActivation`, an ``ndarray`` with the logits
attached.  Anything computed from it (a cast, ``where``, arithmetic, slicing) is a plain array
again, exactly where Keras loses the logits too.

Examples
--------
>>> import numpy as np
>>> import tfloss as tf
>>> y_true, logits = [[0.0, 1.0, 0.0]], np.array([[20.0, -20.0, 0.0]], np.float32)
>>> tf.keras.losses.categorical_crossentropy(y_true, tf.keras.ops.softmax(logits))
array([40.], dtype=float32)
>>> tf.keras.losses.categorical_crossentropy(y_true, tf.nn.softmax(logits))
array([16.118095], dtype=float32)
"""

from __future__ import annotations

from .._frontend import keras_losses as _keras_losses


def softmax(x, axis=-1):
    """``tf.nn.softmax(x, axis)`` (over all elements for ``axis=None``), remembering ``x``.

    Parameters
    ----------
    x : array_like
        Logits, float16, bfloat16, float32 or float64.
    axis : int or None, default -1

    Returns
    -------
    KerasActivation
        The probabilities, an ``ndarray`` whose ``_keras_logits`` is ``x``.
    """
    logits = _keras_losses.keras_convert(x)
    _keras_losses.warn_softmax_over_one(logits, axis)
    return _keras_losses.softmax_activation(logits, axis)


def sigmoid(x):
    """``tf.nn.sigmoid(x)``, remembering ``x`` (see the module docstring)."""
    return _keras_losses.sigmoid_activation(_keras_losses.keras_convert(x))


__all__ = ["softmax", "sigmoid"]
