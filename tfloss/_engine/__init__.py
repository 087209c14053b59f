"""The execution layer: runs each op's kernel compiled (numba) or as NumPy, with equal bits.

:mod:`tfloss._frontend.wrappers` hands every kernel call to this module.  Two engines compute it:

* ``"numba"`` (the default where numba imports): the fused, threaded kernels of
  :mod:`tfloss._engine._kernels`, compiled on first use per op and dtype and cached on disk
  (numba's cache, next to the package or in ``NUMBA_CACHE_DIR``).  Nothing compiles at import,
  and numba itself is imported only on the first call.
* ``"numpy"``: the readable kernels of :mod:`tfloss._kernels` on :class:`tfloss._machine.cpu.CpuTensor`,
  the textbook and the reference.  ``TFLOSS_ENGINE=numpy`` or :func:`set_engine` selects it,
  and it is used wherever numba cannot be imported.

numba keys each cached function on its own file only: after editing one engine module, clear
the cache (``make clean``) or a function in another module may run its old compiled callees.
(An installed tfloss is not affected: every file gets a new time stamp on install.)

Both give the same bits; ``tests/test_engine.py`` replays the parity catalogue through both.
The engine takes the shapes the kernels are written for; the rare rest (a ``pos_weight`` that
broadcasts the loss beyond the logits' shape, zero classes) runs on NumPy under either engine.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os

import numpy as np

from .. import _kernels as _numpy_kernels
from .._machine.cpu import CpuTensor, bfloat16

ENGINES = ("numba", "numpy")
_selected: str | None = None  # None: not chosen yet (read TFLOSS_ENGINE on first use)
_threads = 0  # 0: numba's default, one per core
_compiled = None  # the modules of compiled kernels, imported on first use

#: Below this many elements an op runs on the calling thread: starting threads costs more.
PARALLEL_MIN_ELEMENTS = 1 << 16


def _numba_importable() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency; this is the fallback
        return False
    return True


def get_engine() -> str:
    """The engine in use: ``"numba"`` or ``"numpy"``."""
    global _selected
    if _selected is None:
        requested = os.environ.get("TFLOSS_ENGINE", "numba").strip().lower() or "numba"
        if requested not in ENGINES:
            raise ValueError(f"TFLOSS_ENGINE must be one of {', '.join(ENGINES)}; got {requested!r}")
        _selected = requested if requested == "numpy" or _numba_importable() else "numpy"
    return _selected


def set_engine(name: str) -> None:
    """Select ``"numba"`` or ``"numpy"`` for every later call (``TFLOSS_ENGINE`` does the same)."""
    global _selected
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}")
    if name == "numba" and not _numba_importable():
        raise ImportError("the numba engine needs numba, which cannot be imported here")
    _selected = name


def set_num_threads(count: int) -> None:
    """Threads for large inputs; 0 means one per core (numba's default)."""
    global _threads
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"the number of threads must be a non-negative int; got {count!r}")
    _threads = count
    if _compiled is not None:
        _apply_threads()


def _apply_threads() -> None:
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(min(_threads, most) if _threads else most)


def get_num_threads() -> int:
    """The number set by :func:`set_num_threads` (0: one per core)."""
    return _threads


def _modules():
    """The compiled kernels (importing numba), configured with the thread count."""
    global _compiled
    if _compiled is None:
        import warnings

        from numba.core.errors import NumbaIRAssumptionWarning

        # numba's own pedantic self-check, raised while it inlines the float64 log1p: not about
        # the user's code or results, so not shown to them.
        warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)
        from . import _loops

        _compiled = _loops
        _apply_threads()
    return _compiled


def _use_engine() -> bool:
    return get_engine() == "numba"


# --------------------------------------------------------------------------------------------
# Storage: 16-bit types as their bits (numba has no ml_dtypes), inputs read-only and contiguous


_BITS = {np.dtype(np.float16): np.dtype(np.uint16), bfloat16: np.dtype(np.int16)}


def _stored(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only view (or copy, if not contiguous) of an input, 16-bit types as bits.

    Read-only always, so that one compiled specialisation serves writable and read-only inputs.
    """
    array = np.ascontiguousarray(array)
    view = array.view(_BITS.get(array.dtype, array.dtype))
    view.flags.writeable = False
    return view


def _class_indices(labels: np.ndarray) -> np.ndarray:
    """Sparse labels as the kernels take them: int64, C-contiguous, read-only (already checked
    to lie in range), so that int32 and int64 labels share one compiled specialisation."""
    labels = np.ascontiguousarray(labels, np.int64)
    if labels.flags.writeable:
        labels = labels.view()
        labels.flags.writeable = False
    return labels


def _output(shape, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A fresh result array and the view of it the kernels write."""
    result = np.empty(shape, dtype)
    return result, result.view(_BITS.get(result.dtype, result.dtype))


def _chunk(count: int, per_item: int) -> int:
    """Items per parallel range: about four ranges per thread, at least 2**14 elements each."""
    import numba

    threads = numba.get_num_threads()
    return max(-(-count // (4 * threads)), -(-(1 << 14) // max(per_item, 1)))


# --------------------------------------------------------------------------------------------
# The ops, as _ops calls them: arrays in (already converted and checked), arrays out


def sigmoid_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``_kernels.sigmoid_cross_entropy`` of same-shape arrays."""
    if not _use_engine():
        return _numpy_kernels.sigmoid_cross_entropy(CpuTensor.from_input(labels), CpuTensor.from_input(logits)).value
    loops = _modules()
    result, out = _output(logits.shape, logits.dtype)
    flat = out.reshape(-1)
    z, x = _stored(labels).reshape(-1), _stored(logits).reshape(-1)
    if flat.size >= PARALLEL_MIN_ELEMENTS:
        loops.sigmoid_cross_entropy_parallel(z, x, flat, _chunk(flat.size, 1))
    else:
        loops.sigmoid_cross_entropy(z, x, flat, 0, flat.size)
    return result


def weighted_cross_entropy(labels: np.ndarray, logits: np.ndarray, pos_weight_minus_one: np.ndarray) -> np.ndarray:
    """``_kernels.weighted_cross_entropy``; ``pos_weight_minus_one`` broadcasts against the logits."""
    shape = np.broadcast_shapes(labels.shape, logits.shape, pos_weight_minus_one.shape)
    if not _use_engine() or shape != logits.shape:
        return _numpy_kernels.weighted_cross_entropy(
            CpuTensor.from_input(labels), CpuTensor.from_input(logits), CpuTensor.from_input(pos_weight_minus_one)
        ).value
    loops = _modules()
    result, out = _output(shape, logits.dtype)
    flat = out.reshape(-1)
    if pos_weight_minus_one.size == 1:
        q1, step = _stored(pos_weight_minus_one).reshape(1), 0
    else:
        q1, step = _stored(np.broadcast_to(pos_weight_minus_one, shape)).reshape(-1), 1
    z, x = _stored(labels).reshape(-1), _stored(logits).reshape(-1)
    if flat.size >= PARALLEL_MIN_ELEMENTS:
        loops.weighted_cross_entropy_parallel(z, x, q1, step, flat, _chunk(flat.size, 1))
    else:
        loops.weighted_cross_entropy(z, x, q1, step, flat, 0, flat.size)
    return result


def sigmoid_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, grad_loss: np.ndarray):
    """``_gradients.SigmoidGradient.backward`` of same-shape arrays: ``(d/dlabels, d/dlogits)``."""
    if not _use_engine() or logits.size == 0:
        grads = _numpy_gradients().SigmoidGradient.backward(
            CpuTensor.from_input(labels), CpuTensor.from_input(logits), CpuTensor(grad_loss))
        return grads["labels"].value, grads["logits"].value
    loops = _modules()
    grad_labels, labels_out = _output(logits.shape, logits.dtype)
    grad_logits, logits_out = _output(logits.shape, logits.dtype)
    arrays = [_stored(a).reshape(-1) for a in (labels, logits, grad_loss)] + [labels_out.reshape(-1), logits_out.reshape(-1)]
    if logits.size >= PARALLEL_MIN_ELEMENTS:
        loops.sigmoid_cross_entropy_grad_parallel(*arrays, _chunk(logits.size, 1))
    else:
        loops.sigmoid_cross_entropy_grad(*arrays, 0, logits.size)
    return grad_labels, grad_logits


def weighted_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, pos_weight_minus_one: np.ndarray,
                                grad_loss: np.ndarray):
    """``_gradients.WeightedGradient.backward`` for one ``pos_weight - 1`` shared by all elements
    (no gradient for it): ``(d/dlabels, d/dlogits)``, or None where the engine does not apply."""
    if not _use_engine() or logits.size == 0 or pos_weight_minus_one.size != 1 or pos_weight_minus_one.ndim > logits.ndim:
        return None
    loops = _modules()
    grad_labels, labels_out = _output(logits.shape, logits.dtype)
    grad_logits, logits_out = _output(logits.shape, logits.dtype)
    arrays = ([_stored(labels).reshape(-1), _stored(logits).reshape(-1), _stored(pos_weight_minus_one).reshape(1),
               _stored(grad_loss).reshape(-1), labels_out.reshape(-1), logits_out.reshape(-1)])
    if logits.size >= PARALLEL_MIN_ELEMENTS:
        loops.weighted_cross_entropy_grad_parallel(*arrays, _chunk(logits.size, 1))
    else:
        loops.weighted_cross_entropy_grad(*arrays, 0, logits.size)
    return grad_labels, grad_logits


def _numpy_gradients():
    from .. import _gradients

    return _gradients


def _tf_math_ops():
    from .._machine import math_ops as _tf_math_ops

    return _tf_math_ops


# TF's tape keeps every op's outputs, and the xent kernels output the loss and the backprop in
# one pass; value_and_gradient records the backprop here instead of running the kernel again.
_kept = contextvars.ContextVar("tfloss_kept_backprop", default=None)


@contextlib.contextmanager
def keeping_backprop():
    """Within this block, the softmax and sparse ops also compute their kernel's backprop and
    append it to the list this yields (TF's tape keeping the op's second output)."""
    kept: list = []
    token = _kept.set(kept)
    try:
        yield kept
    finally:
        _kept.reset(token)


def _keep(with_backprop: bool, upstream) -> bool:
    return with_backprop or (upstream is None and _kept.get() is not None)


def kept_backprop(loss: np.ndarray, backprop, with_backprop: bool):
    """A row op's return value: ``(loss, backprop)``, or ``(loss, None)`` with the backprop handed
    to the active :func:`keeping_backprop` block when the caller did not ask for it."""
    kept = _kept.get()
    if kept is not None and not with_backprop and backprop is not None:
        kept.append(backprop)
        return loss, None
    return loss, backprop


@functools.lru_cache(maxsize=None)
def _nothing(dtype: np.dtype, shape: tuple, writeable: bool) -> np.ndarray:
    """An empty array in a kernel's storage dtype: the upstream gradient (read-only, as
    :func:`_stored` makes inputs) or the backprop (writable, as :func:`_output`) that a call
    does not have.  Made once: nothing is ever written to an empty array."""
    array = np.empty(shape, _BITS.get(dtype, dtype))
    array.flags.writeable = writeable
    return array


def _row_op(name: str, labels: np.ndarray, logits: np.ndarray, with_backprop: bool, upstream):
    loops = _modules()
    batch, classes = logits.shape
    result, out = _output((batch,), logits.dtype)
    if with_backprop:
        backprop, backprop_out = _output((batch, classes), logits.dtype)
    else:
        backprop, backprop_out = None, _nothing(logits.dtype, (0, 0), True)
    x = _stored(logits)
    scale = _nothing(logits.dtype, (0,), False) if upstream is None else _stored(upstream.reshape(-1))
    if batch >= 2 and batch * classes >= PARALLEL_MIN_ELEMENTS:
        getattr(loops, name + "_parallel")(labels, x, out, backprop_out, with_backprop, scale, _chunk(batch, classes))
    else:
        getattr(loops, name)(labels, x, out, backprop_out, with_backprop, scale, 0, batch)
    return result, backprop


def _scaled(backprop: np.ndarray, upstream) -> np.ndarray:
    """The NumPy path's ``grad_loss[:, None] * backprop`` (one rounded Mul)."""
    if upstream is None:
        return backprop
    return (CpuTensor(upstream.reshape(-1, 1)) * CpuTensor(backprop)).value


def softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray, with_backprop: bool = True, upstream=None):
    """``_kernels.softmax_cross_entropy`` of 2-D arrays: ``(loss, backprop)``.

    ``labels`` broadcast against ``logits`` as TF's kernel allows.  ``backprop`` is None when
    not asked for (the forward op does not need it; the NumPy path computes it anyway); with an
    ``upstream`` gradient (one per row, in the logits' dtype) it is ``upstream[:, None] * backprop``.
    """
    batch, classes = np.broadcast_shapes(labels.shape, logits.shape)
    if not _use_engine() or classes == 0 or logits.shape != (batch, classes):
        loss, backprop = _numpy_kernels.softmax_cross_entropy(CpuTensor.from_input(labels), CpuTensor.from_input(logits))
        return kept_backprop(loss.value, _scaled(backprop.value, upstream), with_backprop)
    loss, backprop = _row_op("softmax_cross_entropy", _stored(labels), logits, _keep(with_backprop, upstream), upstream)
    return kept_backprop(loss, backprop, with_backprop)


#: Below this many elements a cast is left to NumPy: calling the engine costs more.
CAST_MIN_ELEMENTS = 1 << 12
_CASTS = {(np.dtype(np.float16), np.dtype(np.float32)), (bfloat16, np.dtype(np.float32)),
          (np.dtype(np.float32), np.dtype(np.float16)), (np.dtype(np.float32), bfloat16)}


def cast(array: np.ndarray, dtype) -> np.ndarray:
    """``array.astype(dtype)``, on the engine between float32 and float16/bfloat16 (the casts
    around the softmax ops' float32 kernels), to NumPy's and ml_dtypes' bits."""
    dtype = np.dtype(dtype)
    if not _use_engine() or array.size < CAST_MIN_ELEMENTS or (array.dtype, dtype) not in _CASTS:
        return array.astype(dtype)
    loops = _modules()
    result, out = _output(array.shape, dtype)
    values, flat = _stored(array).reshape(-1), out.reshape(-1)
    if flat.size >= PARALLEL_MIN_ELEMENTS:
        loops.cast_parallel(values, flat, _chunk(flat.size, 1))
    else:
        loops.cast(values, flat, 0, flat.size)
    return result


def labels_in_range(labels: np.ndarray, classes: int) -> bool:
    """Whether every integer label lies in ``[0, classes)``."""
    if not _use_engine() or labels.size < 2:
        return bool(labels.size == 0 or (labels.min() >= 0 and labels.max() < classes))
    return _modules().labels_in_range(_class_indices(labels).reshape(-1), classes)


def log_softmax(logits: np.ndarray, upstream=None) -> np.ndarray:
    """``_tf_math_ops.log_softmax`` of a 2-D array (TF's LogSoftmax kernel); with an ``upstream``
    gradient (one per row) ``upstream[:, None] * -log_softmax``, the softmax labels' gradient
    (Neg, then Mul)."""
    if not _use_engine() or 0 in logits.shape:
        result = _tf_math_ops().log_softmax(CpuTensor.from_input(logits))
        return result.value if upstream is None else (CpuTensor(upstream.reshape(-1, 1)) * -result).value
    loops = _modules()
    batch, classes = logits.shape
    result, out = _output(logits.shape, logits.dtype)
    x = _stored(logits)
    scale = _nothing(logits.dtype, (0,), False) if upstream is None else _stored(upstream.reshape(-1))
    if batch >= 2 and logits.size >= PARALLEL_MIN_ELEMENTS:
        loops.log_softmax_parallel(x, out, scale, _chunk(batch, classes))
    else:
        loops.log_softmax(x, out, scale, 0, batch)
    return result


_SMALL_LOGITS = (np.dtype(np.float32), np.dtype(np.float64))
_SMALL_LABELS = (np.dtype(np.int32), np.dtype(np.int64))


def small_sparse_softmax_cross_entropy(labels, logits):
    """The loss of a small call that needs none of TF's wrapper steps, in one compiled call; None
    for any other call, which then takes every step (and raises TF's errors).

    The call qualifies when ``labels`` and ``logits`` are plain NumPy arrays as TF's kernel takes
    them: rank 1 int32/int64 labels and rank 2 float32/float64 logits, C-contiguous and in native
    byte order, with one label per row, at least one row and one class, every label in
    ``[0, classes)``, fewer than :data:`PARALLEL_MIN_ELEMENTS` logits, the engine selected and no
    backprop being kept.  Then conversion changes nothing and no check can fail, so the loss is
    the full path's to the bit.
    """
    if (type(logits) is not np.ndarray or type(labels) is not np.ndarray or logits.ndim != 2 or labels.ndim != 1
            or logits.dtype not in _SMALL_LOGITS or labels.dtype not in _SMALL_LABELS):
        return None
    batch, classes = logits.shape
    if (labels.shape[0] != batch or batch == 0 or classes == 0 or logits.size >= PARALLEL_MIN_ELEMENTS
            or not (logits.flags.c_contiguous and labels.flags.c_contiguous and logits.dtype.isnative
                    and labels.dtype.isnative) or _kept.get() is not None or not _use_engine()):
        return None
    indices = labels.astype(np.int64) if labels.dtype != np.int64 else labels.view()
    indices.flags.writeable = False
    x = logits.view()
    x.flags.writeable = False
    loss = np.empty(batch, logits.dtype)
    if not _modules().checked_sparse_softmax_cross_entropy(indices, x, loss, _nothing(logits.dtype, (0, 0), True),
                                                           _nothing(logits.dtype, (0,), False)):
        return None
    return loss


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray, with_backprop: bool = True, upstream=None):
    """``_kernels.sparse_softmax_cross_entropy``: ``(loss, backprop)``, labels already range-checked;
    ``upstream`` as for :func:`softmax_cross_entropy`."""
    if not _use_engine():
        loss, backprop = _numpy_kernels.sparse_softmax_cross_entropy(labels, CpuTensor.from_input(logits))
        return kept_backprop(loss.value, _scaled(backprop.value, upstream), with_backprop)
    loss, backprop = _row_op("sparse_softmax_cross_entropy", _class_indices(labels), logits,
                             _keep(with_backprop, upstream), upstream)
    return kept_backprop(loss, backprop, with_backprop)
