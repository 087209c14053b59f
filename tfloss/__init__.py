"""tfloss: TensorFlow's cross-entropy ops in plain NumPy, with TensorFlow's exact behaviour.

``import tfloss as tf`` and TF code that calls these ops runs unchanged:

* :mod:`tfloss.nn` -- ``tf.nn`` (TF2): sigmoid, weighted, softmax and sparse softmax
  cross-entropy with logits.
* :mod:`tfloss.math` -- ``tf.math``: sigmoid, log_sigmoid, softplus, softmax, log_softmax,
  reduce_sum and reduce_mean (the last two also as ``tfloss.reduce_sum``/``reduce_mean``).
* :mod:`tfloss.keras.losses` (also ``tfloss.losses``) -- Keras 3.15.1's cross-entropy losses, as
  ``tf.keras.losses``; :mod:`tfloss.keras.ops` -- softmax/sigmoid that remember their logits.
* :mod:`tfloss.compat.v1.nn` -- ``tf.compat.v1.nn`` (TF1 signatures).
* :mod:`tfloss.compat.v1.losses` -- ``tf.compat.v1.losses``: weighted, smoothed, reduced losses.
* :mod:`tfloss.errors` -- the ``tf.errors`` classes these ops raise.
* :mod:`tfloss.config` -- ``tf.config.threading``, and the choice of engine (compiled or NumPy).
* :mod:`tfloss.textbook` -- the naive formulas, for teaching where they break.
* :func:`tfloss.target`, :func:`tfloss.set_target` (and ``TFLOSS_TARGET``) -- which TF to
  reproduce: ``"cpu"`` (eager CPU, the default), ``"cpu-deterministic"``, ``"xla-cpu"`` (the four
  cross-entropy ops and their first-order gradients only), ``"gpu"`` (unverified: never run
  against a GPU; :func:`tfloss.describe_target` says so).
* :func:`tfloss.value_and_gradient`, :func:`tfloss.hessian_vector_product` -- gradients as
  TF's ``GradientTape`` computes them.

Examples
--------
>>> import tfloss as tf
>>> tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=[[2.0, 0.0], [2.0, 0.0]])
array([0.12692805, 2.126928  ], dtype=float32)
"""

from . import math, nn  # noqa: I001 - math first: nn re-exports its activations
from . import compat, config, errors, keras, textbook
from .keras import losses  # tf.losses is Keras' losses in TF 2.21
from ._gradients import hessian_vector_product, value_and_gradient
from .math import reduce_mean, reduce_sum
from ._targets import TARGETS, get_target, set_target, target
from ._targets import describe as describe_target

__version__ = "0.1.0"

__all__ = ["nn", "math", "reduce_sum", "reduce_mean", "keras", "losses", "compat", "config", "errors", "textbook", "value_and_gradient", "hessian_vector_product",
           "target", "set_target", "get_target", "describe_target", "TARGETS", "__version__"]
