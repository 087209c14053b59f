"""``tf.compat.v1``: the ``nn`` cross-entropy ops and the ``losses`` built on them."""

from . import losses, nn

__all__ = ["nn", "losses"]
