"""How the parity suite runs TF: eagerly (the default), in a ``tf.function``, with op determinism,
or compiled by XLA.

``python -m parity --mode MODE`` (``make parity MODE=...``) runs the whole catalogue with TF in
that mode and tfloss under the matching target (:mod:`tfloss._targets`):

========================  ==========================================  ==========================
mode                      TF                                          tfloss target
========================  ==========================================  ==========================
``eager``                 eager ops                                   ``"cpu"``
``function``              each call inside ``tf.function`` (no XLA)   ``"cpu"``
``deterministic``         eager, after ``enable_op_determinism()``    ``"cpu-deterministic"``
``xla``                   each call (a gradient's tape included)      ``"xla-cpu"``
                          inside ``tf.function(jit_compile=True)``
========================  ==========================================  ==========================

In ``xla`` mode only the four ``tf.nn`` losses, their ``compat.v1.nn`` wrappers and their
first-order gradients run (the functions ``"xla-cpu"`` reproduces); array inputs are the
compiled function's arguments (a constant would be folded before XLA compiles), other inputs
are traced as constants, as they are for a user.  Where XLA raises, the error comes from tracing
the graph or from compiling it; graph-tracing errors are graph mode's (see ``function`` below),
so when TF raises and tfloss does not match, the runner asks eager TF as in ``function`` mode.
A value that XLA computes is never excused that way: it must match.  TF keeps every program XLA
compiles until its process ends, so this mode's runs go to fresh child processes, 2000 runs each
(:mod:`parity.processes`).

In ``function`` mode the graph's error texts carry graph decorations (the node name after a
tab, ``[Op:__inference_...]`` instead of ``[Op:Name] name: ``); they are removed from TF's
message and tfloss's ``[Op:...]`` suffix is removed from its message before the two are
compared.  Where TF's graph still disagrees with tfloss, the runner asks eager TF: if eager TF
agrees with tfloss, the case is a *mode difference* (TF's graph mode behaves differently from
eager TF, e.g. a shape error raised while tracing; tfloss reproduces eager TF), reported apart
from failures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import tfloss
from tfloss.conformance import tensorflow as tfref


@dataclass(frozen=True)
class Mode:
    name: str
    target: str  # the tfloss target that reproduces TF in this mode
    description: str
    eager_fallback: bool = False  # ask eager TF when TF in this mode disagrees with tfloss
    fallback_errors_only: bool = False  # ... only when TF in this mode raised
    functions: tuple = ()  # the functions run in this mode (names as in parity.targets); () for all
    # Runs per child process (parity.processes), where TF holds on to something per run that
    # would outgrow one process; 0: every run in this process.
    runs_per_process: int = 0


MODES = {
    "eager": Mode("eager", "cpu", "eager TF (the default)"),
    "function": Mode("function", "cpu", "every TF call inside tf.function (graph mode, no XLA)", eager_fallback=True),
    "deterministic": Mode("deterministic", "cpu-deterministic",
                          "eager TF after tf.config.experimental.enable_op_determinism()"),
    "xla": Mode("xla", "xla-cpu", "every TF call, gradient tapes included, inside tf.function(jit_compile=True)",
                eager_fallback=True, fallback_errors_only=True, runs_per_process=2000,
                functions=tuple(f"{prefix}{space}.{op}" for prefix in ("", "grad:", "grad_upstream:")
                                for space in ("nn", "compat.v1.nn")
                                for op in ("sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
                                           "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
                                           "softmax_cross_entropy_with_logits_v2"))),
}


def runs(mode: Mode, function_name: str) -> bool:
    """Whether ``mode`` runs the function named ``function_name``."""
    return not mode.functions or function_name in mode.functions


def activate(mode: Mode) -> None:
    """Put TF in ``mode`` (process-wide) and tfloss under the matching target."""
    tfloss.set_target(mode.target)
    if mode.name == "deterministic":
        tfref.tf().config.experimental.enable_op_determinism()


def tf_callable(target, mode: Mode):
    """``target``'s TF callable as TF runs it in ``mode`` (:func:`in_mode`)."""
    return target.tf_callable(lambda fn: in_mode(fn, mode))


def in_mode(fn, mode: Mode):
    """``fn`` as TF runs it in ``mode``: for ``function``, traced in a fresh ``tf.function``.

    The inputs are the function's arguments, as a user passes them: arrays and tensors become
    the graph's inputs (not constants, which Grappler would fold ahead of time), Python values
    are traced as constants, so inputs of one shape, dtype and set of Python values share a
    graph, as a user's calls do.  Gradient functions wrap the op only: the tapes run eagerly
    around the traced call and differentiate its graph.
    """
    if mode.name == "xla":
        return xla_compiled(fn)
    if mode.name != "function":
        return fn
    if fn not in _TRACED:  # one tf.function per op: a case reuses the graph of an earlier same-signature case
        _TRACED[fn] = tfref.tf().function(fn, autograph=False)
    return _TRACED[fn]


_TRACED: dict = {}


def xla_compiled(fn):
    """``fn`` of keywords, called inside a fresh ``tf.function(jit_compile=True)``: arrays and
    tensors become the compiled function's arguments, other values are traced as constants."""
    import numpy as np

    def call(**kwargs):
        tf = tfref.tf()
        arrays = {k: v for k, v in kwargs.items() if isinstance(v, (np.ndarray, tf.Tensor))}
        static = {k: v for k, v in kwargs.items() if k not in arrays}
        names = sorted(arrays)

        def body(*tensors):
            return fn(**dict(zip(names, tensors)), **static)

        return tf.function(body, jit_compile=True, autograph=False)(*(tf.convert_to_tensor(arrays[n]) for n in names))

    return call


# "...\n\t [[{{node scope/Name}}]] [Op:__inference_<lambda>_12]" (graph) and
# "... [Op:Name] name: " (eager, and tfloss).
_GRAPH_SUFFIX = re.compile(r"\n\t \[\[\{\{node [^}]*\}\}\]\](?: \[Op:__(?:inference|forward)_[^\]]*\])?\s*$")
_EAGER_SUFFIX = re.compile(r" \[Op:[^\]]*\](?: name: .*)?$", re.S)


def core_message(message: str | None) -> str | None:
    """An error message without graph or eager op decorations."""
    if message is None:
        return None
    # XLA appends the Python stack of the failing op's definition to a compile-time error.
    message = message.split("\n\nStack trace for op definition")[0]
    if message.startswith("Graph execution error:"):
        # A graph's runtime error seen by an eager caller: a preamble with the Python traceback
        # of where the node was defined (blank lines between frames), then the kernel's message.
        message = message.rsplit("\n\n", 1)[-1]
    message = _GRAPH_SUFFIX.sub("", message)
    return _EAGER_SUFFIX.sub("", message)


def normalise(tf_out, tfloss_out, mode: Mode):
    """Both outcomes with their error messages reduced to :func:`core_message` in ``function`` mode."""
    if mode.name not in ("function", "xla") or not (tf_out.raised and tfloss_out.raised):
        return tf_out, tfloss_out
    return replace(tf_out, message=core_message(tf_out.message)), replace(tfloss_out, message=core_message(tfloss_out.message))
