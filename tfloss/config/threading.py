"""``tf.config.threading``: how many threads an op may use.

Only the intra-op setting exists in tfloss (ops run one at a time, on the calling thread, with
helper threads for large inputs).  As in TF, 0 means "let the system pick": one thread per core.
The number of threads never changes the bits of the cross-entropy ops.  It does change those of a
large full :func:`tfloss.reduce_sum`/``reduce_mean``, as it does in TF: Eigen cuts a reduction of
more than about 10**5 elements into one shard per thread (see ``docs/quirks.md``).

Examples
--------
>>> import tfloss as tf
>>> tf.config.threading.set_intra_op_parallelism_threads(1)
>>> tf.config.threading.get_intra_op_parallelism_threads()
1
>>> tf.config.threading.set_intra_op_parallelism_threads(0)
"""

from .. import _engine


def set_intra_op_parallelism_threads(num_threads: int) -> None:
    """Threads one op may use on a large input; 0 (the default) means one per core."""
    _engine.set_num_threads(num_threads)


def get_intra_op_parallelism_threads() -> int:
    """The number set by :func:`set_intra_op_parallelism_threads` (0: one per core)."""
    return _engine.get_num_threads()


__all__ = ["set_intra_op_parallelism_threads", "get_intra_op_parallelism_threads"]
