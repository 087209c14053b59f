"""How the parity suite runs TF: eagerly (the default), in a ``tf.function``, or with op determinism.

``python -m parity --mode MODE`` (``make parity MODE=...``) runs the whole catalogue with TF in
that mode and tfloss under the matching target (:mod:`tfloss._targets`):

========================  ==========================================  ==========================
mode                      TF                                          tfloss target
========================  ==========================================  ==========================
``eager``                 eager ops                                   ``"cpu"``
``function``              each call inside ``tf.function`` (no XLA)   ``"cpu"``
``deterministic``         eager, after ``enable_op_determinism()``    ``"cpu-deterministic"``
========================  ==========================================  ==========================

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


MODES = {
    "eager": Mode("eager", "cpu", "eager TF (the default)"),
    "function": Mode("function", "cpu", "every TF call inside tf.function (graph mode, no XLA)", eager_fallback=True),
    "deterministic": Mode("deterministic", "cpu-deterministic",
                          "eager TF after tf.config.experimental.enable_op_determinism()"),
}


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
    if mode.name != "function":
        return fn
    if fn not in _TRACED:  # one tf.function per op: a case reuses the graph of an earlier same-signature case
        _TRACED[fn] = tfref.tf().function(fn, autograph=False)
    return _TRACED[fn]


_TRACED: dict = {}


# "...\n\t [[{{node scope/Name}}]] [Op:__inference_<lambda>_12]" (graph) and
# "... [Op:Name] name: " (eager, and tfloss).
_GRAPH_SUFFIX = re.compile(r"\n\t \[\[\{\{node [^}]*\}\}\]\](?: \[Op:__(?:inference|forward)_[^\]]*\])?\s*$")
_EAGER_SUFFIX = re.compile(r" \[Op:[^\]]*\](?: name: .*)?$", re.S)


def core_message(message: str | None) -> str | None:
    """An error message without graph or eager op decorations."""
    if message is None:
        return None
    if message.startswith("Graph execution error:"):
        # A graph's runtime error seen by an eager caller: a preamble with the Python traceback
        # of where the node was defined (blank lines between frames), then the kernel's message.
        message = message.rsplit("\n\n", 1)[-1]
    message = _GRAPH_SUFFIX.sub("", message)
    return _EAGER_SUFFIX.sub("", message)


def normalise(tf_out, tfloss_out, mode: Mode):
    """Both outcomes with their error messages reduced to :func:`core_message` in ``function`` mode."""
    if mode.name != "function" or not (tf_out.raised and tfloss_out.raised):
        return tf_out, tfloss_out
    return replace(tf_out, message=core_message(tf_out.message)), replace(tfloss_out, message=core_message(tfloss_out.message))
