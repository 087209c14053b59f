"""``tf.keras`` for tfloss (Keras 3.15.1, what TF 2.21's ``tf.keras`` is): the cross-entropy
losses (:mod:`tfloss.keras.losses`) and the activations that remember their logits
(:mod:`tfloss.keras.ops`)."""

from . import losses, ops

__version__ = "3.15.1"  # the Keras release whose losses these reproduce

__all__ = ["losses", "ops"]
