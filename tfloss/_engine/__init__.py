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

Both give the same bits; ``tests/test_engine.py`` replays the parity catalogue through both,
``tests/test_engine_blocks.py`` the building blocks' cases.
The engine takes the shapes the kernels are written for; the rare rest (a ``pos_weight`` that
broadcasts the loss beyond the logits' shape, zero classes) runs on NumPy under either engine.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import functools
import os

import numpy as np

from .. import _kernels as _numpy_kernels
from .._machine.cpu import CpuTensor, bfloat16

ENGINES = ("numba", "numpy")
_selected: str | None = None  # None: not chosen yet (read TFLOSS_ENGINE on first use)
_threads = 0  # 0: one per usable core
_compiled = None  # the modules of compiled kernels, imported on first use
_compiled_blocks = None  # the building blocks' kernels (._blocks), imported with them

#: Below this many elements an op runs on the calling thread: starting threads costs more.
PARALLEL_MIN_ELEMENTS = 1 << 16


def _numba_importable() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency; this is the fallback
        return False
    return True


def has_rcpps() -> bool:
    """Whether :func:`rcpps` can run the CPU's instruction: numba imports and the CPU is an x86."""
    if not _numba_importable():
        return False
    from . import _float

    return _float.HAS_RCPPS


def rcpps(values: np.ndarray) -> np.ndarray | None:
    """The CPU's ``rcpps`` of every float32 in ``values`` (:func:`tfloss._machine.cpu.rcpps`), or None
    where it cannot be run (:func:`has_rcpps`)."""
    if not has_rcpps():
        return None
    from . import _float

    flat = np.ascontiguousarray(values, np.float32).reshape(-1)
    estimates = np.empty_like(flat)
    _float.rcpps_array(flat, estimates)
    return estimates.reshape(np.shape(values))


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
    """Threads for large inputs; 0 means one per usable core."""
    global _threads
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"the number of threads must be a non-negative int; got {count!r}")
    _threads = count


def get_num_threads() -> int:
    """The number set by :func:`set_num_threads` (0: one per usable core)."""
    return _threads


def thread_count() -> int:
    """The threads a large input runs on: the number set, else one per usable core (TF's
    intra-op pool size, which :mod:`tfloss._machine.math_ops` also reads)."""
    if _threads:
        return _threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# The threads are Python's: every kernel is compiled without the GIL (._float.jit), so ranges of
# one call run at once on a pool of worker threads and the calling thread.
# (numba's own prange would compile a second, parallel twin of every kernel: as long again.)
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_size = 0


def _workers(count: int) -> concurrent.futures.ThreadPoolExecutor:
    """The pool, with ``count`` worker threads (made again when the thread count changes)."""
    global _pool, _pool_size
    if _pool is None or _pool_size != count:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="tfloss"), count
    return _pool


def _forget_workers() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _in_ranges(kernel, count: int, per_item: int, *args) -> None:
    """``kernel(*args, start, stop)`` over ``[0, count)``, items of ``per_item`` elements each.

    On the calling thread; or, from :data:`PARALLEL_MIN_ELEMENTS` elements on (and at least two
    items), in ranges of at least 2**14 elements, about four per thread, which the calling thread
    and the pool's threads take in turn until none is left.  Every kernel computes a range
    exactly as the whole loop computes it, so the bits do not depend on the number of threads.
    """
    if count < 2 or count * per_item < PARALLEL_MIN_ELEMENTS:  # before asking the OS for the cores
        kernel(*args, 0, count)
        return
    threads = thread_count()
    if threads == 1:
        kernel(*args, 0, count)
        return
    size = max(-(-count // (4 * threads)), -(-(1 << 14) // max(per_item, 1)))
    starts = iter(range(0, count, size))  # shared: next() on it is atomic under the GIL

    def take_ranges():
        for start in starts:
            kernel(*args, start, min(start + size, count))

    helpers = [_workers(threads - 1).submit(take_ranges) for _ in range(min(threads, -(-count // size)) - 1)]
    try:
        take_ranges()
    finally:
        for helper in helpers:
            helper.result()


def _modules():
    """The compiled kernels (importing numba)."""
    global _compiled, _compiled_blocks
    if _compiled is None:
        import warnings

        from numba.core.errors import NumbaIRAssumptionWarning

        # numba's own pedantic self-check, raised while it inlines the float64 log1p: not about
        # the user's code or results, so not shown to them.
        warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)
        from . import _blocks, _loops

        _compiled, _compiled_blocks = _loops, _blocks
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
    _in_ranges(loops.sigmoid_cross_entropy, flat.size, 1, z, x, flat)
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
    _in_ranges(loops.weighted_cross_entropy, flat.size, 1, z, x, q1, step, flat)
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
    _in_ranges(loops.sigmoid_cross_entropy_grad, logits.size, 1, *arrays)
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
    _in_ranges(loops.weighted_cross_entropy_grad, logits.size, 1, *arrays)
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


def _row_op(name: str, labels: np.ndarray, logits: np.ndarray, with_backprop: bool, upstream, dtype: np.dtype):
    """A row kernel computing in ``dtype``: the logits' own, or float32 for 16-bit logits it
    reads widened (:func:`widens_in_kernel`)."""
    loops = _modules()
    batch, classes = logits.shape
    result, out = _output((batch,), dtype)
    if with_backprop:
        backprop, backprop_out = _output((batch, classes), dtype)
    else:
        backprop, backprop_out = None, _nothing(dtype, (0, 0), True)
    x = _stored(logits)
    scale = _nothing(dtype, (0,), False) if upstream is None else _stored(upstream.reshape(-1))
    _in_ranges(getattr(loops, name), batch, classes, labels, x, out, backprop_out, with_backprop, scale)
    return result, backprop


def _scaled(backprop: np.ndarray, upstream) -> np.ndarray:
    """The NumPy path's ``grad_loss[:, None] * backprop`` (one rounded Mul)."""
    if upstream is None:
        return backprop
    return (CpuTensor(upstream.reshape(-1, 1)) * CpuTensor(backprop)).value


def softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray, with_backprop: bool = True, upstream=None,
                          dtype=None):
    """``_kernels.softmax_cross_entropy`` of 2-D arrays: ``(loss, backprop)``.

    ``labels`` broadcast against ``logits`` as TF's kernel allows.  ``backprop`` is None when
    not asked for (the forward op does not need it; the NumPy path computes it anyway); with an
    ``upstream`` gradient (one per row, in the logits' dtype) it is ``upstream[:, None] * backprop``.
    ``dtype`` is the kernel's dtype when it is not the inputs' (see :func:`widens_in_kernel`):
    the inputs are then read as TF's Cast to it would have made them.
    """
    dtype = logits.dtype if dtype is None else np.dtype(dtype)
    batch, classes = np.broadcast_shapes(labels.shape, logits.shape)
    if not _use_engine() or classes == 0 or logits.shape != (batch, classes):
        labels, logits = cast(labels, dtype), cast(logits, dtype)
        loss, backprop = _numpy_kernels.softmax_cross_entropy(CpuTensor.from_input(labels), CpuTensor.from_input(logits))
        return kept_backprop(loss.value, _scaled(backprop.value, upstream), with_backprop)
    loss, backprop = _row_op("softmax_cross_entropy", _stored(labels), logits, _keep(with_backprop, upstream), upstream,
                             dtype)
    return kept_backprop(loss, backprop, with_backprop)


#: From this many logits on, the softmax ops' float32 kernels read float16/bfloat16 inputs
#: widened one element at a time, instead of from float32 copies (TF's Cast), which would take
#: twice the 16-bit inputs' memory.  Below it the copies stay under 4 MiB, and the kernels
#: compiled for float32 inputs serve: the 16-bit inputs' own specialisations compile only when
#: a call this large needs them.
WIDEN_IN_KERNEL_MIN_ELEMENTS = 1 << 19


def widens_in_kernel(array: np.ndarray, dtype) -> bool:
    """Whether a softmax op's kernel in ``dtype`` reads the 16-bit ``array`` widened, so that
    the caller does not cast it.  The bits are the same either way: the widening is exact, and
    the kernel reads each widened element as it reads a stored float32 (DAZ included)."""
    return (array.dtype in _BITS and np.dtype(dtype) == np.float32 and array.size >= WIDEN_IN_KERNEL_MIN_ELEMENTS
            and _use_engine())


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
    _in_ranges(loops.cast, flat.size, 1, values, flat)
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
    _in_ranges(loops.log_softmax, batch, classes, x, out, scale)
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


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray, with_backprop: bool = True, upstream=None,
                                 dtype=None):
    """``_kernels.sparse_softmax_cross_entropy``: ``(loss, backprop)``, labels already range-checked;
    ``upstream`` and ``dtype`` as for :func:`softmax_cross_entropy`."""
    dtype = logits.dtype if dtype is None else np.dtype(dtype)
    if not _use_engine():
        loss, backprop = _numpy_kernels.sparse_softmax_cross_entropy(labels, CpuTensor.from_input(cast(logits, dtype)))
        return kept_backprop(loss.value, _scaled(backprop.value, upstream), with_backprop)
    loss, backprop = _row_op("sparse_softmax_cross_entropy", _class_indices(labels), logits,
                             _keep(with_backprop, upstream), upstream, dtype)
    return kept_backprop(loss, backprop, with_backprop)


# --------------------------------------------------------------------------------------------
# The building blocks (._blocks): _tf_math_ops' Sigmoid, Softplus, Softmax, Sum and Mean


def _block_kernels():
    _modules()
    return _compiled_blocks


_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64), bfloat16)  # the engine's dtypes
_ACTIVATIONS = ("sigmoid", "softplus", "log_sigmoid")  # the modes of _blocks.elementwise, in order


def activation(name: str, x: np.ndarray) -> np.ndarray:
    """``_tf_math_ops.sigmoid`` or ``softplus`` of an array, or ``log_sigmoid``, which is
    ``-softplus(-x)`` (Neg, Softplus, Neg); a complex sigmoid stays on NumPy."""
    math_ops = _tf_math_ops()
    if not _use_engine() or x.size == 0 or x.dtype not in _FLOATS:
        tensor = CpuTensor.from_input(x)
        if name == "log_sigmoid":
            return (-math_ops.softplus(-tensor)).value
        return getattr(math_ops, name)(tensor).value
    from .._machine.cpu import compute_dtype

    blocks = _block_kernels()
    threshold = np.asarray(math_ops.softplus_threshold(x.dtype).value).astype(compute_dtype(x.dtype))[()]
    result, out = _output(x.shape, x.dtype)
    values, flat = _stored(x).reshape(-1), out.reshape(-1)
    mode = _ACTIVATIONS.index(name)
    _in_ranges(blocks.elementwise, flat.size, 1, mode, values, threshold, flat)
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """``_tf_math_ops.softmax`` of a 2-D array over its last axis: oneDNN's kernel where TF runs
    it for the dtype on this CPU (in float32, rounded once to the dtype), else Eigen's."""
    math_ops = _tf_math_ops()
    if not _use_engine() or 0 in logits.shape:
        return math_ops.softmax(CpuTensor.from_input(logits)).value
    blocks = _block_kernels()
    batch, classes = logits.shape
    if math_ops._onednn_runs(logits.dtype):
        rows = cast(logits, np.float32) if logits.dtype != np.float32 else logits
        result = np.empty(logits.shape, np.float32)
        _in_ranges(blocks.onednn_softmax, batch, classes, _stored(rows), result, math_ops._onednn_lanes())
        return cast(result, logits.dtype) if logits.dtype != np.float32 else result
    result, out = _output(logits.shape, logits.dtype)
    _in_ranges(blocks.softmax, batch, classes, _stored(logits), out)
    return result


def reduce(x: np.ndarray, axes: tuple, op: str) -> np.ndarray:
    """``_tf_math_ops.sum_op`` (``op`` "Sum") or ``mean_op`` ("Mean") of a float array over
    ``axes`` (checked, non-negative): the same simplification of the shape into runs, and each
    run layout summed in its own order by the engine; what only copies or fills stays NumPy's."""
    math_ops = _tf_math_ops()
    kernel = math_ops.sum_op if op == "Sum" else math_ops.mean_op
    out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    runs, reduce_first = math_ops._reduction_runs(x.shape, axes)
    if (not _use_engine() or x.dtype not in _FLOATS or x.size == 0 or math_ops._count(out_shape) == 0
            or not runs or (len(runs) == 1 and not reduce_first)):
        return kernel(CpuTensor.from_input(x), axes).value
    summed = cast(x, np.float32) if x.dtype == bfloat16 else x  # bfloat16 is summed in float32
    total = _sum_runs(_stored(summed).reshape(runs), runs, reduce_first, summed.dtype).reshape(out_shape)
    if op == "Mean":
        count = x.size // math_ops._count(out_shape)
        if x.dtype == bfloat16:
            return (CpuTensor(total) / count).astype(bfloat16).value
        return (CpuTensor(total) / np.asarray(count, x.dtype)).value
    return total.astype(bfloat16) if x.dtype == bfloat16 else total


def _sum_runs(values: np.ndarray, runs: list, reduce_first: bool, dtype: np.dtype) -> np.ndarray:
    """``sum_op``'s cases on ``values`` shaped as the runs (storage bits): the sums, flat."""
    blocks = _block_kernels()
    if len(runs) == 1:
        return _full_sum(values, dtype)
    if len(runs) == 2 and reduce_first:
        return _preserving_sums(values.reshape(1, *runs), dtype)
    if len(runs) == 3 and not reduce_first:
        return _preserving_sums(values, dtype)
    if len(runs) == 3:
        result, out = _output((runs[1],), dtype)
        blocks.outer_and_inner_sums(values, out)
        return result
    if len(runs) > 3:  # TF transposes the reduced runs last, then takes row sums
        kept = list(range(1 if reduce_first else 0, len(runs), 2))
        reduced = [i for i in range(len(runs)) if i not in kept]
        rows = int(np.prod([runs[i] for i in kept]))
        values = np.ascontiguousarray(np.transpose(values, kept + reduced)).reshape(rows, -1)
        values.flags.writeable = False
    return _row_sums(values, 0, dtype)


def _row_sums(values: np.ndarray, first_index: int, dtype: np.dtype) -> np.ndarray:
    blocks = _block_kernels()
    rows, count = values.shape
    result, out = _output((rows,), dtype)
    _in_ranges(blocks.row_sums, rows, count, values, first_index, out)
    return result


def _preserving_sums(blocks_of_values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    blocks = _block_kernels()
    outer, count, inner = blocks_of_values.shape
    result, out = _output((outer, inner), dtype)
    _in_ranges(blocks.preserving_sums, outer, count * inner, blocks_of_values, out)
    return result


def _full_sum(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``_tf_math_ops._full_sum``: one row, or Eigen's shards (by thread count) added in order."""
    from .._machine.cpu import _add, compute_dtype

    math_ops = _tf_math_ops()
    count = values.size
    threads = math_ops._reduction_threads(count, dtype)
    if threads == 1:
        return _row_sums(values.reshape(1, count), 0, dtype)
    shard = int(np.floor(np.float32(count) / np.float32(threads)))
    shards = count // shard
    wide = compute_dtype(dtype)

    def shard_sum(start: int, size: int) -> np.ndarray:
        return _row_sums(values[start:start + size].reshape(1, size), start, dtype).astype(wide)

    total = shard_sum(shards * shard, count - shards * shard) if shards * shard < count else np.zeros(1, wide)
    for i in range(shards):
        total = _add(total, shard_sum(i * shard, shard), dtype)
    return total.astype(dtype)
