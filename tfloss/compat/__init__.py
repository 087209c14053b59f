"""``tf.compat``: the TF1 spellings of the cross-entropy ops live in :mod:`tfloss.compat.v1`."""

from . import v1

__all__ = ["v1"]
