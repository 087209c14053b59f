"""Which TensorFlow tfloss reproduces: the *target*.

One TF program gives different bits, and sometimes different errors, depending on how it runs.
tfloss names each way a *target* and reproduces one at a time:

* ``"cpu"`` (the default): eager TF 2.21 on CPU.  ``tf.function`` without XLA gives the same bits.
* ``"cpu-deterministic"``: eager CPU after ``tf.config.experimental.enable_op_determinism()``.
  TF's Python wrappers of the softmax and sparse softmax losses then skip the fused kernels and
  compose ``log_softmax`` with a multiply-and-sum or a gather (:mod:`tfloss._targets.deterministic`).
* ``"xla-cpu"``: ``tf.function(jit_compile=True)`` on CPU: the four cross-entropy ops and their
  first-order gradients as XLA compiles them (:mod:`tfloss._targets.xla_cpu`); the other public
  functions raise NotImplementedError under it.
* ``"gpu"``: TF's CUDA kernels (:mod:`tfloss._targets.gpu`): the CPU kernels' values, and what the
  CUDA kernels do differently that does not depend on rounding (NaN rows for bad sparse labels).
  Unverified: never run against a GPU; its descriptions (in errors' notes, in reports) say so.

A target is chosen with the :func:`target` context manager, with :func:`set_target` for the
whole program, or with the environment variable ``TFLOSS_TARGET`` (read at import).  The context
manager is a :mod:`contextvars` variable, so threads and asyncio tasks each see their own.  An op
called under a target tfloss does not reproduce raises :class:`NotImplementedError` rather than
return the eager CPU result under another name.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os

TARGETS = ("cpu", "cpu-deterministic", "xla-cpu", "gpu")
DEFAULT = "cpu"
# The targets whose ops tfloss computes; the others raise NotImplementedError when an op runs.
IMPLEMENTED = ("cpu", "cpu-deterministic", "xla-cpu", "gpu")
# The implemented targets that no run of TF has checked, and why.
UNVERIFIED = {"gpu": "unverified: tfloss has never been run against TF on a GPU"}
# Targets that reproduce only some ops: the names of those ops (the public wrappers' __name__).
PARTIAL = {
    "xla-cpu": frozenset({"sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
                          "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits"}),
}

_WHAT = {
    "cpu": "eager TF 2.21 on CPU",
    "cpu-deterministic": "TF 2.21 on CPU with tf.config.experimental.enable_op_determinism()",
    "xla-cpu": "tf.function(jit_compile=True) on CPU",
    "gpu": "TF 2.21's CUDA kernels",
}


def _checked(name) -> str:
    if not isinstance(name, str) or name not in TARGETS:
        raise ValueError(f"unknown tfloss target {name!r}; valid targets: {', '.join(map(repr, TARGETS))}")
    return name


def _from_environment() -> str:
    value = os.environ.get("TFLOSS_TARGET", "").strip()
    if not value:
        return DEFAULT
    try:
        return _checked(value)
    except ValueError as error:
        raise ValueError(f"TFLOSS_TARGET: {error}") from None


_global_target = _from_environment()
# None: no target() block is active, the global target applies.
_context_target: contextvars.ContextVar = contextvars.ContextVar("tfloss_target", default=None)


def get_target() -> str:
    """The active target: the innermost :func:`target` block's, else the global one."""
    name = _context_target.get()
    return _global_target if name is None else name


def set_target(name: str) -> None:
    """Reproduce ``name`` from now on, in every thread, outside :func:`target` blocks.

    Raises
    ------
    ValueError
        For a name not in :data:`TARGETS`.
    """
    global _global_target
    _global_target = _checked(name)


@contextlib.contextmanager
def target(name: str):
    """Reproduce ``name`` inside the ``with`` block (this thread or task only).

    Examples
    --------
    >>> import tfloss as tf
    >>> with tf.target("cpu-deterministic"):
    ...     tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[0.0, float("-inf")]])
    array([-0.], dtype=float32)
    >>> tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[0.0, float("-inf")]])
    array([0.], dtype=float32)
    """
    token = _context_target.set(_checked(name))
    try:
        yield name
    finally:
        _context_target.reset(token)


def describe(name: str | None = None) -> str:
    """How errors and reports name a target (the active one by default), and whether it is verified.

    Examples
    --------
    >>> import tfloss as tf
    >>> tf.describe_target("cpu")
    "target 'cpu' (eager TF 2.21 on CPU)"
    >>> tf.describe_target("gpu")
    "target 'gpu' (TF 2.21's CUDA kernels; unverified: tfloss has never been run against TF on a GPU)"
    """
    name = get_target() if name is None else name
    what = f"{_WHAT[name]}; {UNVERIFIED[name]}" if name in UNVERIFIED else _WHAT[name]
    return f"target {name!r} ({what})"


def check_implemented(what: str) -> None:
    """Raise NotImplementedError if tfloss does not reproduce the active target."""
    name = get_target()
    if name not in IMPLEMENTED or what not in PARTIAL.get(name, (what,)):
        raise NotImplementedError(
            f"{what} under {describe(name)} is not reproduced by tfloss yet; "
            f"implemented targets: {', '.join(map(repr, IMPLEMENTED))}"
        )


def reproduced(op):
    """Decorate a public op: it runs only under a target tfloss implements."""

    @functools.wraps(op)
    def run(*args, **kwargs):
        check_implemented(op.__name__)
        return op(*args, **kwargs)

    return run


def is_xla() -> bool:
    """Whether the active target is ``"xla-cpu"``."""
    return get_target() == "xla-cpu"


def is_deterministic() -> bool:
    """Whether the active target is ``"cpu-deterministic"``."""
    return get_target() == "cpu-deterministic"


# The number of times a composed determinism path ran in this context: the gradient functions read
# it to refuse gradients tfloss does not reproduce for that path.
_deterministic_paths: contextvars.ContextVar = contextvars.ContextVar("tfloss_deterministic_paths", default=0)


def note_deterministic_path() -> None:
    _deterministic_paths.set(_deterministic_paths.get() + 1)


def deterministic_paths() -> int:
    return _deterministic_paths.get()




def differs_by_target(error: BaseException, elsewhere: str) -> BaseException:
    """Mark ``error`` as one that depends on the target: ``error.target`` names the active one and
    a note (shown under the traceback, not in ``str(error)``, which stays TF's text) says what
    the other targets do instead."""
    error.target = get_target()
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(f"tfloss: raised under {describe()}; {elsewhere}")
    return error


__all__ = ["TARGETS", "IMPLEMENTED", "UNVERIFIED", "get_target", "set_target", "target", "describe", "check_implemented",
           "reproduced", "differs_by_target"]
