"""``tf.compat.v1.nn``: the TF1 signatures, with the argument guards TF1 had.

Declared difference from TF 2.21: the ``_sentinel`` first parameter.  TF 1.x-2.11 had it so that
positional calls (whose argument order had changed in TF's history) fail loudly; TF 2.12 removed
it, and since then ``tf.compat.v1.nn.sigmoid_cross_entropy_with_logits(y, x)`` silently binds
``labels=y, logits=x``.  tfloss keeps the guard: a positional call raises ``ValueError`` with TF
2.10/2.11's text.  Everything else (``dim``/``axis``, ``targets``) behaves as TF 2.21.
"""

from __future__ import annotations

from ..._frontend import wrappers as _ops
from ..._frontend.arguments import tf_api
from ..._frontend.convert import deprecated_argument_lookup, ensure_named_arguments, ensure_xent_args


@tf_api
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """TF1 form of :func:`tfloss.nn.sigmoid_cross_entropy_with_logits`; keyword arguments only.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.nn.sigmoid_cross_entropy_with_logits(labels=[1.0], logits=[0.0])
    array([0.6931472], dtype=float32)
    """
    ensure_named_arguments("sigmoid_cross_entropy_with_logits", _sentinel)
    return _ops.sigmoid_cross_entropy_with_logits(labels, logits)


@tf_api
def weighted_cross_entropy_with_logits(labels=None, logits=None, pos_weight=None, name=None, targets=None):
    """TF1 form of :func:`tfloss.nn.weighted_cross_entropy_with_logits`.

    ``targets`` is the TF 1.x name of ``labels``; giving both raises ``ValueError``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.nn.weighted_cross_entropy_with_logits(targets=[1.0], logits=[0.0], pos_weight=2.0)
    array([1.3862944], dtype=float32)
    """
    labels = deprecated_argument_lookup("labels", labels, "targets", targets)
    return _ops.weighted_cross_entropy_with_logits(labels, logits, pos_weight)


@tf_api
def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """TF1 form of :func:`tfloss.nn.softmax_cross_entropy_with_logits` (labels get no gradient).

    ``dim`` is the TF1 name of ``axis`` and defaults to -1, not None, so passing ``axis``
    without ``dim=None`` raises "Cannot specify both 'dim' and 'axis'." -- TF's trap, kept.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.nn.softmax_cross_entropy_with_logits(labels=[[0.0, 1.0]], logits=[[0.0, 0.0]])
    array([0.6931472], dtype=float32)
    """
    dim = deprecated_argument_lookup("axis", axis, "dim", dim)
    ensure_named_arguments("softmax_cross_entropy_with_logits", _sentinel)
    ensure_xent_args("softmax_cross_entropy_with_logits", labels, logits)
    return _ops.softmax_cross_entropy_with_logits(labels, logits, dim)


@tf_api
def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """``tf.compat.v1.nn.softmax_cross_entropy_with_logits_v2``: ``axis`` or its old name ``dim``.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.nn.softmax_cross_entropy_with_logits_v2([[0.0, 1.0]], [[0.0, 0.0]], dim=1)
    array([0.6931472], dtype=float32)
    """
    axis = deprecated_argument_lookup("axis", axis, "dim", dim)
    return _ops.softmax_cross_entropy_with_logits(labels, logits, axis)


@tf_api
def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """TF1 form of :func:`tfloss.nn.sparse_softmax_cross_entropy_with_logits`; keyword arguments only.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[0.0, 0.0]])
    array([0.6931472], dtype=float32)
    """
    ensure_named_arguments("sparse_softmax_cross_entropy_with_logits", _sentinel)
    return _ops.sparse_softmax_cross_entropy_with_logits(labels, logits)


__all__ = [
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "sparse_softmax_cross_entropy_with_logits",
]
