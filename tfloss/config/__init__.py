"""``tf.config`` for tfloss: the thread count (:mod:`tfloss.config.threading`), the engine, and
the CPU kernel tfloss reproduces.

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

import numpy as np

from .. import _engine
from .._machine.math_ops import _onednn_lanes, _onednn_runs
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


def softmax_kernel(dtype) -> str:
    """Which ``tf.nn.softmax`` kernel TF runs for ``dtype`` on this CPU, and so tfloss reproduces.

    ``"oneDNN"`` or ``"Eigen"``: TF picks by the CPU's features (AVX512-VNNI, AVX512-BF16,
    AVX512-FP16, AMX ...) and ``TF_ENABLE_ONEDNN_OPTS``; the two round differently, so a result
    recorded on one CPU may differ in the last bit on another.  Only ``tf.nn.softmax`` (the
    textbook formula) and second-order softmax gradients depend on it.  TF has no such function.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.config.softmax_kernel("float64")
    'Eigen'
    """
    if isinstance(dtype, str) and dtype == "bfloat16":
        import ml_dtypes

        dtype = ml_dtypes.bfloat16
    return "oneDNN" if _onednn_runs(np.dtype(dtype)) else "Eigen"


def onednn_lanes() -> int:
    """How many float32 lanes oneDNN's softmax kernel runs on this CPU, where TF runs it.

    16 on CPUs with AVX-512 (F, BW, VL and DQ), else 8: the lanes fix the order of its row sums,
    so a oneDNN result recorded on an AVX-512 CPU may differ in the last bit from one computed
    with AVX2.  Only 16 lanes were checked against TF.  TF has no such function.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.config.onednn_lanes() in (8, 16)
    True
    """
    return _onednn_lanes()


def reproduces_rcpps() -> bool:
    """Whether tfloss reads this CPU's approximate reciprocal instruction (x86 ``rcpps``).

    TF's float32 Reciprocal op, and Eigen's float32 ``tf.nn.softmax`` (the kernel TF runs with
    oneDNN off), refine ``rcpps``'s estimate by one Newton step, so their last bits depend on the
    CPU: Intel's and AMD's estimates differ.  tfloss runs the instruction itself (through numba,
    under either engine), so it gives TF's bits on the machine it runs on.  False where numba
    cannot be imported or the CPU is not an x86: those results then divide exactly and may differ
    from TF's by a few ULP.  TF has no such function.

    Examples
    --------
    >>> import tfloss as tf
    >>> isinstance(tf.config.reproduces_rcpps(), bool)
    True
    """
    return _engine.has_rcpps()


__all__ = ["threading", "set_engine", "get_engine", "softmax_kernel", "onednn_lanes", "reproduces_rcpps"]
