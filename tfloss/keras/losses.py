"""``tf.keras.losses`` (Keras 3.15.1 on the TF backend): the cross-entropy losses.

All five losses are bit-exact with TF, the focal losses' ``(1 - p)**gamma`` included (TF's
Pow, Eigen's packet algorithm: :func:`tfloss._machine.math_ops.pow_op`).

Classes and functions with Keras' signatures, defaults and ``get_config``/``from_config``; the
op sequences are in :mod:`tfloss._frontend.keras_losses`.  Also reachable as ``tfloss.losses``, as
``tf.losses`` is Keras in TF 2.21.

A loss object converts ``y_true`` and ``y_pred`` to its ``dtype`` (float32 unless given,
whatever the inputs' dtype), computes the per-sample losses and reduces them:
``"sum_over_batch_size"`` (the default, the same as ``"mean"``) divides the weighted sum by the
number of loss elements, ``"mean_with_sample_weight"`` by the sum of the weights, ``"sum"`` does
not divide, and ``None``/``"none"`` keeps the weighted losses.  As in Keras, Python lists are
nested structures to a loss object: ``y_true`` and ``y_pred`` must both be arrays, or both lists
nested alike.

Not reproduced, on purpose: Keras masks.  A Keras loss object also reads a mask that Keras'
layers (``Masking``, ``Embedding(mask_zero=True)``) attach to ``y_pred`` as ``_keras_mask``,
and folds it into the sample weights.  tfloss has no layers, a NumPy array cannot carry such an
attribute, and Keras 3.15.1 has no public function that attaches one, so tfloss reads no mask
(not even from an array that has the attribute).  Pass the weight Keras makes of the mask
instead: for ``"sum_over_batch_size"`` and ``"mean"``,
``np.where(mask, np.float32(mask.size) / np.float32(mask.sum()), np.float32(0))`` (the mean
is then over the unmasked entries), for the other reductions ``mask.astype(np.float32)``,
multiplied by the sample weights if there are any.  That gives Keras' masked result bit for
bit (``parity/test_losses.py`` checks it for every reduction).

With ``ignore_class`` Keras ANDs the two masks, the one on ``y_pred`` and the one of the valid
labels, and weights the losses once by the result.  tfloss's ``ignore_class`` would weight its
own mask on top of the weight passed for the other, so for ``"sum_over_batch_size"`` and
``"mean"`` the mean would be over the wrong count.  Do what ``ignore_class`` does by hand
instead: ``valid = y_true != ignore_class``, pass ``np.where(valid, y_true, 0)`` and
``np.where(valid[..., None], y_pred, 0)`` without ``ignore_class``, and build the weight above
from ``mask & valid``.  That is Keras' result bit for bit too (parity checks it for every
reduction, with and without sample weights and logits).

Examples
--------
>>> import numpy as np
>>> import tfloss as tf
>>> loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> loss(np.array([0, 1]), np.array([[2.0, 0.0], [2.0, 0.0]]))
array(1.1269281, dtype=float32)

A mask of ``[True, True, False]`` on ``y_pred``, as Keras would apply it (Keras gives 0.16425204):

>>> mask = np.array([True, True, False])
>>> weight = np.where(mask, np.float32(mask.size) / np.float32(mask.sum()), np.float32(0))
>>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], np.float32)
>>> tf.keras.losses.SparseCategoricalCrossentropy()(np.array([0, 1, 1]), p, sample_weight=weight)
array(0.16425204, dtype=float32)

The same mask with ``ignore_class=0`` on four labels (Keras gives 0.22314355, ``-log(0.8)``,
the only label both valid and unmasked):

>>> y = np.array([0, 1, 1, 0])
>>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.3, 0.7]], np.float32)
>>> mask, valid = np.array([True, True, False, True]), y != 0
>>> both = mask & valid
>>> weight = np.where(both, np.float32(both.size) / np.float32(both.sum()), np.float32(0))
>>> tf.keras.losses.SparseCategoricalCrossentropy()(np.where(valid, y, 0), np.where(valid[:, None], p, 0),
...                                                 sample_weight=weight)
array(0.22314355, dtype=float32)
"""

from __future__ import annotations

from .._frontend import keras_losses as _keras_losses
from .._frontend.keras_losses import compute_dtype, standardize_reduction


class Loss:
    """``keras.losses.Loss``: name, reduction and compute dtype of a loss object."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or type(self).__name__.lower()
        self.reduction = standardize_reduction(reduction)
        self._dtype = compute_dtype(dtype)

    @property
    def dtype(self) -> str:
        return self._dtype.name

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class _Wrapper(Loss):
    """``LossFunctionWrapper``: a loss object around one of the functions below."""

    _fn = None
    #: The function's options, passed on from the attributes ``_<option>``.
    _options: tuple = ()
    #: The options ``get_config`` adds after name and reduction, in Keras' order.
    _config: tuple = ()

    def _keep(self, **options) -> None:
        """Store each option as the public attribute and as the ``_<option>`` that is passed on."""
        for name, value in options.items():
            setattr(self, name, value)
            setattr(self, "_" + name, value)

    def _fn_kwargs(self) -> dict:
        return {name: getattr(self, "_" + name) for name in self._options}

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _keras_losses.call_loss(type(self)._fn, self._fn_kwargs(), y_true, y_pred, sample_weight,
                                       self.reduction, self._dtype)

    def call(self, y_true, y_pred):
        """The unreduced losses, as ``LossFunctionWrapper.call`` returns them."""
        y_true, y_pred = _keras_losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        return type(self)._fn(y_true, y_pred, **self._fn_kwargs())

    def get_config(self) -> dict:
        return {**super().get_config(), **{name: getattr(self, name) for name in self._config}}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over ``axis`` of ``-(z * log(p) + (1 - z) * log(1 - p))``.

    With ``from_logits=False`` the probabilities are clipped to ``[1e-7, 1 - 1e-7]`` first
    (unless they carry their logits, see :mod:`tfloss.keras.ops`); with ``from_logits=True`` it
    is ``tf.nn.sigmoid_cross_entropy_with_logits``.  ``label_smoothing`` moves the labels to
    ``z * (1 - ls) + ls / 2`` (a negative value is applied too).  Computes in ``y_pred``'s dtype.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.keras.losses.binary_crossentropy([[0.0, 1.0]], [[0.0, 1.0]])
    array([1.1920929e-07], dtype=float32)
    """
    return _keras_losses.binary_crossentropy(y_true, y_pred, from_logits, label_smoothing, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(z * log(p), axis)`` with ``p`` renormalised along ``axis`` and clipped to ``[1e-7, 1 - 1e-7]``.

    With ``from_logits=True`` it is ``tf.nn.softmax_cross_entropy_with_logits``.
    ``label_smoothing`` moves the labels to ``z * (1 - ls) + ls / C``, ``C`` the size of the
    *last* axis whatever ``axis`` is.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.keras.losses.categorical_crossentropy([[0.0, 1.0, 0.0]], [[0.05, 0.95, 0.0]])
    array([0.05129331], dtype=float32)
    """
    return _keras_losses.categorical_crossentropy(y_true, y_pred, from_logits, label_smoothing, axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """``-log(p[y])`` for integer labels ``y``: ``p`` clipped to ``[1e-7, 1 - 1e-7]``, not renormalised.

    Labels are cast to int64 (float labels truncate).  Positions whose label is
    ``ignore_class`` get a loss of 0.  Only the last axis is supported as the class axis.
    ``y_true`` and ``y_pred`` must be arrays (Keras reads their ``.shape`` first).

    Examples
    --------
    >>> import numpy as np
    >>> import tfloss as tf
    >>> tf.keras.losses.sparse_categorical_crossentropy(np.array([1]), np.array([[0.05, 0.95, 0.0]]))
    array([0.05129339])
    """
    return _keras_losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits, ignore_class, axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Focal binary cross-entropy: ``mean((1 - p_t)**gamma * bce, axis)``, ``p_t = z p + (1 - z)(1 - p)``.

    With ``apply_class_balancing`` each term is also weighted by ``alpha`` (positives) or
    ``1 - alpha`` (negatives).  With ``from_logits=True`` the probabilities are Keras' sigmoid,
    which remembers its logits, so the ``bce`` term takes the stable path.  The power is TF's
    Pow, bit for bit (see ``tfloss._machine.math_ops.pow_op``).
    """
    return _keras_losses.binary_focal_crossentropy(y_true, y_pred, apply_class_balancing, alpha, gamma, from_logits,
                                                   label_smoothing, axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Focal categorical cross-entropy: ``sum(alpha * (1 - p)**gamma * -z * log(p), axis)``.

    ``p`` is renormalised along ``axis`` and clipped to ``[1e-7, 1 - 1e-7]`` even with
    ``from_logits=True`` (Keras' softmax, then the clipped path).
    """
    return _keras_losses.categorical_focal_crossentropy(y_true, y_pred, alpha, gamma, from_logits, label_smoothing, axis)


class BinaryCrossentropy(_Wrapper):
    """Object form of :func:`binary_crossentropy`, reduced (see the module docstring)."""

    _fn = staticmethod(_keras_losses.binary_crossentropy)
    _options = _config = ("from_logits", "label_smoothing", "axis")

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._keep(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(_Wrapper):
    """Object form of :func:`categorical_crossentropy`, reduced."""

    _fn = staticmethod(_keras_losses.categorical_crossentropy)
    _options = _config = ("from_logits", "label_smoothing", "axis")

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._keep(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class BinaryFocalCrossentropy(_Wrapper):
    """Object form of :func:`binary_focal_crossentropy`, reduced."""

    _fn = staticmethod(_keras_losses.binary_focal_crossentropy)
    _options = ("apply_class_balancing", "alpha", "gamma", "from_logits", "label_smoothing", "axis")

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.apply_class_balancing = self._apply_class_balancing = apply_class_balancing
        self.alpha, self.gamma = self._alpha, self._gamma = alpha, gamma
        self.from_logits = self._from_logits = from_logits
        self.label_smoothing = self._label_smoothing = label_smoothing
        self.axis = self._axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalFocalCrossentropy(_Wrapper):
    """Object form of :func:`categorical_focal_crossentropy`, reduced."""

    _fn = staticmethod(_keras_losses.categorical_focal_crossentropy)
    _options = ("alpha", "gamma", "from_logits", "label_smoothing", "axis")

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.gamma = self._alpha, self._gamma = alpha, gamma
        self.from_logits = self._from_logits = from_logits
        self.label_smoothing = self._label_smoothing = label_smoothing
        self.axis = self._axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}


class SparseCategoricalCrossentropy(_Wrapper):
    """Object form of :func:`sparse_categorical_crossentropy`, reduced.

    Keras 3.15.1 has no ``label_smoothing`` here, and ``get_config`` omits ``axis``.  With
    ``ignore_class`` the ignored positions are masked: ``"sum_over_batch_size"`` then averages
    over the valid positions only (0 when none is valid).
    """

    _fn = staticmethod(_keras_losses.sparse_categorical_crossentropy)
    _options = ("from_logits", "ignore_class", "axis")
    _config = ("from_logits", "ignore_class")

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._keep(from_logits=from_logits, ignore_class=ignore_class)
        self._axis = axis  # passed on, but not an attribute or config entry in Keras 3.15.1


__all__ = ["Loss", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
           "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy", "binary_crossentropy",
           "binary_focal_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy",
           "sparse_categorical_crossentropy"]
