"""``tf.config`` for tfloss: the thread count (:mod:`tfloss.config.threading`) and the engine.

tfloss computes every op with one of two engines that give the same bits (see
:mod:`tfloss._engine`): ``"numba"``, compiled, fused and threaded (the default wherever numba
imports), and ``"numpy"``, the readable kernels of :mod:`tfloss._kernels`.  The environment
variable ``TFLOSS_ENGINE`` chooses the engine too.  TF has no such setting; it is tfloss's own.

Examples
--------
>>> import tfloss as tf
>>> tf.config.get_engine()
'numba'
>>> tf.config.set_engine("numpy")
>>> tf.nn.sigmoid_cross_entropy_with_logits(labels=[1.0], logits=[0.0])
array([0.6931472], dtype=float32)
>>> tf.config.set_engine("numba")
"""

from .. import _engine
from . import threading


def set_engine(name: str) -> None:
    """Compute every later call with ``"numba"`` or ``"numpy"`` (same bits either way).

    Raises
    ------
    ValueError
        For another name.
    ImportError
        For ``"numba"`` where numba cannot be imported.
    """
    _engine.set_engine(name)


def get_engine() -> str:
    """The engine in use: ``"numba"`` or ``"numpy"``."""
    return _engine.get_engine()


__all__ = ["threading", "set_engine", "get_engine"]
