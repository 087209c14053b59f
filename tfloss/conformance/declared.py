"""Declared differences: every place tfloss differs from TF 2.21 on purpose.

Each :class:`Difference` names the functions it concerns, says why, and states
*exactly* what the difference looks like as a predicate over the two outcomes.
A mismatch is accepted only if one of these predicates holds (the parity suite
reports it as *declared*, the checker as *expected fail*); nothing else may
differ.  ``parity/test_declared.py`` shows each difference happens exactly as
declared.

Signature differences are declared in :data:`SIGNATURE_EXTRAS`.

Apart from these, :func:`platform_gap` names the CPUs on which tfloss is known not to reproduce
TF (not on purpose: TF's arithmetic there cannot be derived from the CPU's specification).  A
failure inside such a gap is reported as skipped, with the reason; it never counts as a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .compare import FLOAT_DTYPES

#: compat.v1 functions that keep TF 2.10/2.11's ``_sentinel`` first parameter.
SENTINEL_FUNCTIONS = (
    "compat.v1.nn.sigmoid_cross_entropy_with_logits",
    "compat.v1.nn.softmax_cross_entropy_with_logits",
    "compat.v1.nn.sparse_softmax_cross_entropy_with_logits",
)

#: Extra leading parameters tfloss declares on top of TF's signature: name -> (param, default).
SIGNATURE_EXTRAS = {name: ("_sentinel", None) for name in SENTINEL_FUNCTIONS}


def sentinel_message(function_name: str, sentinel) -> str:
    """TF 2.10/2.11's ``_ensure_xent_args`` text for a positional call."""
    short = function_name.rsplit(".", 1)[-1]
    return (
        f"Only call {short} with named arguments (labels=..., logits=..., ...). "
        f"Received unnamed argument: {sentinel}"
    )


@dataclass(frozen=True)
class Difference:
    """One declared difference.

    Attributes
    ----------
    id : str
        Short stable name (appears in the report).
    functions : tuple of str
        Target names it applies to.
    reason : str
        Why tfloss differs on purpose.
    matches : callable
        ``(case, function, tf_outcome, tfloss_outcome, call) -> bool``: True only
        when the two outcomes differ exactly as declared.  ``call`` is
        ``(args, kwargs)``.
    """

    id: str
    functions: tuple
    reason: str
    matches: Callable


def _sentinel_value(call):
    args, kwargs = call
    if args:
        return True, args[0]
    if "_sentinel" in kwargs:
        return True, kwargs["_sentinel"]
    return False, None


def _sentinel_matches(case, target, tf_out, tfloss_out, call) -> bool:
    """tfloss raises TF 2.10's ValueError; TF 2.21 binds positionally or rejects ``_sentinel=``."""
    given, sentinel = _sentinel_value(call)
    if not given or sentinel is None:
        return False
    if not (tfloss_out.error_kind == "builtins" and tfloss_out.error_name == "ValueError"):
        return False
    if tfloss_out.message != sentinel_message(target.name, sentinel):
        return False
    args, kwargs = call
    if "_sentinel" in kwargs:
        # TF 2.12+ removed the parameter; its dispatch wrapper rejects the keyword.
        return (tf_out.error_kind, tf_out.error_name) == ("builtins", "TypeError") and (
            tf_out.message == "Got an unexpected keyword argument '_sentinel'"
        )
    return True  # positional: TF 2.12+ binds (labels, logits, ...) and does whatever that gives


#: The Keras loss classes whose errors print a Python set (the invalid-``reduction`` message).
KERAS_SET_MESSAGE_FUNCTIONS = tuple(f"keras.losses.{name}" for name in (
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy"))

_SET_LITERAL = re.compile(r"\{([^{}]*)\}")


def sort_printed_sets(message: str) -> str:
    """``message`` with the elements of every printed set (``{...}``) in sorted order."""
    return _SET_LITERAL.sub(lambda m: "{" + ", ".join(sorted(x.strip() for x in m.group(1).split(","))) + "}", message)


def _set_order_matches(case, target, tf_out, tfloss_out, call) -> bool:
    """Both raise the same error, whose messages differ only in the order of a printed set."""
    if not (tf_out.raised and tfloss_out.raised and tf_out.message and tfloss_out.message):
        return False
    if (tf_out.error_kind, tf_out.error_name) != (tfloss_out.error_kind, tfloss_out.error_name):
        return False
    if tf_out.message == tfloss_out.message or not _SET_LITERAL.search(tf_out.message):
        return False
    return sort_printed_sets(tf_out.message) == sort_printed_sets(tfloss_out.message)


DIFFERENCES = (
    Difference(
        id="compat-v1-sentinel",
        functions=SENTINEL_FUNCTIONS,
        reason=(
            "TF 2.10/2.11's compat.v1 functions took `_sentinel=None` first so that positional "
            "calls fail: TF's argument order changed (labels/logits were swapped in TF's history), "
            "and a positional call silently computes the wrong loss. TF 2.12 removed the guard; "
            "tfloss keeps it and raises TF 2.10/2.11's ValueError ('Only call ... with named "
            "arguments ...'). Consequences against TF 2.12+: positional calls raise instead of "
            "binding, `_sentinel=` is accepted as a parameter (ValueError) instead of TF's "
            "TypeError, and the signature has `_sentinel=None` first."
        ),
        matches=_sentinel_matches,
    ),
    Difference(
        id="keras-set-order",
        functions=KERAS_SET_MESSAGE_FUNCTIONS,
        reason=(
            "Keras' invalid-reduction ValueError prints the allowed values as a Python set "
            "('Expected one of {...}'), whose order follows string hashing (PYTHONHASHSEED) and "
            "the order the elements were inserted in; it changes from process to process, and "
            "Keras' set and tfloss's, built in one interpreter, were measured to print in "
            "different orders. tfloss raises the same class with the same elements; the order "
            "of the set's elements is not compared."
        ),
        matches=_set_order_matches,
    ),
)


def explain(case, target, tf_out, tfloss_out, call) -> str:
    """Return the id of the declared difference that explains a mismatch, or ``""``."""
    for difference in DIFFERENCES:
        if target.name in difference.functions and difference.matches(case, target, tf_out, tfloss_out, call):
            return difference.id
    return ""


def by_id(difference_id: str) -> Difference:
    """Look a declared difference up by id."""
    for difference in DIFFERENCES:
        if difference.id == difference_id:
            return difference
    raise KeyError(difference_id)


#: The prefix of a skipped record's detail when the case falls in a platform gap.
PLATFORM_GAP = "outside tfloss's platform"

_SOFTMAX_OP_HVP = tuple(f"hvp:{prefix}nn.{op}" for prefix in ("", "compat.v1.")
                        for op in ("softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
                                   "sparse_softmax_cross_entropy_with_logits"))


def platform_gap(case, target) -> str:
    """Why tfloss cannot reproduce TF for this case on this machine, or ``""``.

    With oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``, or by default on CPUs without AVX512-VNNI,
    AVX512-BF16, AVX-VNNI or AMX), ``tf.nn.softmax`` in float32 is Eigen's kernel, which
    multiplies by ``1 / sum`` computed with the CPU's approximate ``rcpps`` instruction and one
    Newton step (:func:`softmax_gap`: a gap only where tfloss cannot run ``rcpps``).  The
    second-order gradients of the softmax and sparse ops also take their ``<u, p>`` from TF's
    batched matmul, which is then Eigen's, with a summation order tfloss does not reproduce.
    tfloss reproduces TF with oneDNN on, its default on current x86 servers.
    """
    from tfloss.config import softmax_kernel

    if softmax_kernel("float32") == "oneDNN":  # float32 is oneDNN's whenever oneDNN is on
        return ""
    dtype = _case_dtype(case)
    if target.name == "textbook.naive_softmax_cross_entropy" and dtype == "float32":
        return softmax_gap("float32")
    if target.name in _SOFTMAX_OP_HVP and dtype != "float64":
        return (f"{PLATFORM_GAP}: with oneDNN off TF's second-order softmax term takes <u, p> from "
                "Eigen's batched matmul, whose summation order tfloss does not reproduce")
    return ""


def softmax_gap(dtype) -> str:
    """Why tfloss cannot reproduce TF's ``tf.nn.softmax`` of ``dtype`` on this machine, or ``""``.

    Only float32 under Eigen's kernel (oneDNN off): its reciprocal is the CPU's ``rcpps`` (see
    :func:`platform_gap`).  The parity suite's own softmax tests skip these, as the report does.
    """
    from tfloss.config import reproduces_rcpps, softmax_kernel

    if np.dtype(dtype) != np.float32 or softmax_kernel("float32") == "oneDNN" or reproduces_rcpps():
        return ""
    return (f"{PLATFORM_GAP}: with oneDNN off TF's float32 softmax uses the CPU's approximate "
            "rcpps reciprocal, which tfloss does not reproduce")


def _case_dtype(case) -> str:
    """The dtype TF computes the case's softmax in: the case's dtype, except that TF converts
    Python lists of floats (the ``list`` layout, a case given as lists) to float32; for another
    dtype-less case (an error case), its float logits' dtype."""
    logits = case.inputs.get("logits") if isinstance(case.inputs, dict) else None
    if case.layout == "list" or isinstance(logits, list):
        return "float32"
    if case.dtype != "-":
        return case.dtype
    name = logits.dtype.name if isinstance(logits, (np.ndarray, np.generic)) else "-"
    return name if name in FLOAT_DTYPES else "-"


def softmax_kernels() -> dict:
    """The ``tf.nn.softmax`` kernel TF runs per float dtype on this CPU (``"oneDNN"`` or
    ``"Eigen"``), as a recording's manifest states it."""
    from tfloss.config import softmax_kernel

    return {name: softmax_kernel(name) for name in ("float16", "bfloat16", "float32", "float64")}


#: The functions whose TF result depends on the CPU's ``tf.nn.softmax`` kernel (oneDNN or Eigen).
KERNEL_DEPENDENT = ("textbook.naive_softmax_cross_entropy",) + _SOFTMAX_OP_HVP


def kernel_gap(case, function, recorded_kernels: dict, recorded_lanes=None) -> str:
    """Why tfloss on this CPU cannot match results TF recorded on another, or ``""``.

    ``recorded_kernels`` maps dtype names to the softmax kernel TF ran when the results were
    recorded, and ``recorded_lanes`` is the float32 lanes oneDNN's kernel ran there (the recorded
    results' manifest says both).  Where this CPU makes TF, and so tfloss, run the other kernel,
    or oneDNN's on vectors of another width, a kernel-dependent function's last bits
    legitimately differ.
    """
    from tfloss.config import onednn_lanes, softmax_kernel

    dtype = _case_dtype(case)  # an error case too: oneDNN and Eigen refuse a scalar differently
    if function.name not in KERNEL_DEPENDENT or dtype not in recorded_kernels:
        return ""
    # A second-order gradient's softmax and <u, p> run in float32 for float16 logits (and for
    # bfloat16 ones in the dense op), and its batched matmul is oneDNN's wherever float32's
    # softmax is: so beside the dtype's own kernel, float32's decides it (float64 aside).
    kernels = (dtype, "float32") if function.name in _SOFTMAX_OP_HVP and dtype != "float64" else (dtype,)
    for kernel_dtype in kernels:
        here = softmax_kernel(kernel_dtype)
        if kernel_dtype in recorded_kernels and here != recorded_kernels[kernel_dtype]:
            return (f"{PLATFORM_GAP}: TF's results were recorded with its {recorded_kernels[kernel_dtype]} "
                    f"{kernel_dtype} softmax; on this CPU TF runs {here}'s")
        if here == "oneDNN" and recorded_lanes and recorded_lanes != onednn_lanes():
            return (f"{PLATFORM_GAP}: TF's results were recorded with oneDNN's {kernel_dtype} softmax on "
                    f"{recorded_lanes} float32 lanes; this CPU runs it on {onednn_lanes()}")
    return ""
