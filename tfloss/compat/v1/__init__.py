"""``tf.compat.v1``: only the ``nn`` namespace's cross-entropy ops."""

from . import nn

__all__ = ["nn"]
