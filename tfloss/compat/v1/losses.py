"""``tf.compat.v1.losses``: TF1's cross-entropy losses with weights, smoothing and reductions.

Signatures and argument handling only (``scope`` and ``loss_collection`` are accepted and
ignored, as eager TF ignores the collection); the steps are in :mod:`tfloss._frontend.v1_losses`.  Each
loss returns ``compute_weighted_loss`` of the per-element losses: by default
``SUM_BY_NONZERO_WEIGHTS``, the weighted sum over the number of non-zero weights.

Examples
--------
>>> import tfloss as tf
>>> tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=[0, 1], logits=[[2.0, 0.0], [2.0, 0.0]])
array(1.1269281, dtype=float32)
"""

from __future__ import annotations

from ..._frontend import v1_losses as _v1_losses
from ..._frontend.arguments import shared_sections, tf_api
from ..._frontend.v1_losses import Reduction

_LOSSES = "losses"  # tf.compat.v1.GraphKeys.LOSSES


def _sections(weights: str, result_shape: str, label_smoothing: bool = True):
    """The weights-to-Returns sections of the three losses, for their ``{sections}``."""
    smoothing = "\n    label_smoothing : float, default 0" if label_smoothing else ""
    return shared_sections(f"""weights : scalar or array_like, default 1.0
        {weights}{smoothing}
    scope, loss_collection
        Ignored.
    reduction : str, default ``Reduction.SUM_BY_NONZERO_WEIGHTS``

    Returns
    -------
    numpy.ndarray
        Scalar, or {result_shape} with ``Reduction.NONE``; dtype of ``logits``.""")


@tf_api
def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=_LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weight ``losses`` and reduce them; the result has the losses' dtype.

    The losses and weights are cast to float32 first and the result cast back, so float64
    losses are reduced in float32, and integer losses come back truncated.

    Parameters
    ----------
    losses : array_like
        Any shape.
    weights : scalar or array_like, default 1.0
        A scalar, or the rank of ``losses`` with every dimension 1 or equal to the losses' one.
    scope, loss_collection
        Ignored (no graph, no collections).
    reduction : str, default ``Reduction.SUM_BY_NONZERO_WEIGHTS``
        One of :class:`Reduction`'s keys.

    Returns
    -------
    numpy.ndarray
        The weighted losses (``Reduction.NONE``) or a scalar.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.losses.compute_weighted_loss([1.0, 2.0, 3.0], weights=[1.0, 0.0, 1.0])
    array(2., dtype=float32)
    """
    return _v1_losses.compute_weighted_loss(losses, weights, reduction)


@tf_api
@_sections("Broadcastable to the losses (same rank, dimensions 1 or equal).", "the losses' shape")
def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``sigmoid_cross_entropy_with_logits``, weighted and reduced.

    The labels are cast to the logits' dtype.  With ``label_smoothing > 0`` they become
    ``labels * (1 - label_smoothing) + 0.5 * label_smoothing``; a negative value is ignored.

    Parameters
    ----------
    multi_class_labels : array_like
        Same shape as ``logits``; values in [0, 1].
    logits : array_like
        float16, bfloat16, float32 or float64.
    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.losses.sigmoid_cross_entropy([[1.0, 0.0]], [[0.0, 0.0]])
    array(0.6931472, dtype=float32)
    """
    return _v1_losses.sigmoid_cross_entropy(multi_class_labels, logits, weights, label_smoothing, reduction)


@tf_api
@_sections("Broadcastable to the per-row losses, e.g. ``[batch]``.", "``logits.shape[:-1]``")
def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``softmax_cross_entropy_with_logits_v2`` over the last axis, weighted and reduced.

    The labels are cast to the logits' dtype.  With ``label_smoothing > 0`` they become
    ``labels * (1 - label_smoothing) + label_smoothing / num_classes`` (``num_classes`` the last
    dimension); a negative value is ignored.

    Parameters
    ----------
    onehot_labels : array_like
        Same shape as ``logits``.
    logits : array_like
        ``[batch, classes]`` (any rank >= 1), float16, bfloat16, float32 or float64.
    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.losses.softmax_cross_entropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
    ...                                           weights=[0.3, 0.7], label_smoothing=0.2)
    array(0.5761805, dtype=float32)
    """
    return _v1_losses.softmax_cross_entropy(onehot_labels, logits, weights, label_smoothing, reduction)


@tf_api
@_sections("Broadcastable to the losses.", "the labels' shape", label_smoothing=False)
def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None, loss_collection=_LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``sparse_softmax_cross_entropy_with_logits``, weighted and reduced.

    A trailing dimension of 1 is squeezed from ``labels`` (when it has the logits' rank) and from
    ``weights`` (when it has one more dimension than the labels).  Labels are not cast: float
    labels are rejected by the kernel.

    Parameters
    ----------
    labels : array_like of int32 or int64
        Class indices, shape ``logits.shape[:-1]``.
    logits : array_like
        float16, bfloat16, float32 or float64.
    {sections}

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.compat.v1.losses.sparse_softmax_cross_entropy([0, 2], [[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]],
    ...                                                  weights=[1.0, 0.0])
    array(0.40760604, dtype=float32)
    """
    return _v1_losses.sparse_softmax_cross_entropy(labels, logits, weights, reduction)


__all__ = ["Reduction", "compute_weighted_loss", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy"]
