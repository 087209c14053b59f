"""The functions under comparison, bound to both sides: real TF and tfloss.

The functions themselves (names, families, argument mapping, term magnitudes) are
:mod:`tfloss.conformance.functions`; a :class:`Target` adds how the parity suite calls each
side.  A ``grad_upstream`` target's upstream gradient is shaped like TF's own loss, taken from TF
at run time.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

import tfloss
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.functions import (FAMILIES, GRADIENT_FUNCTIONS, NN_FUNCTIONS, NN_NAMES,  # noqa: F401
                                          TEXTBOOK, TEXTBOOK_FUNCTIONS, Function, gradient_wrt,
                                          magnitude_sigmoid, resolve, upstream_gradient)


def _upstream(op_name, kwargs):
    return upstream_gradient(op_name, tfref.forward_loss(op_name, kwargs))


@dataclass(frozen=True)
class Target(Function):
    """A :class:`~tfloss.conformance.functions.Function` with its TF and its tfloss callable."""

    def tf_callable(self, wrap=None):
        """The TF reference (the op, a TF composition, or tapes).

        ``wrap`` (see :func:`parity.modes.in_mode`) is applied to the TF op or composition (the
        tapes stay outside); a ``grad_upstream`` target's upstream gradient comes from eager TF.
        """
        if self.mode == "grad_upstream":
            return lambda **kwargs: tfref.bind(self, _upstream(self.op_name, kwargs), wrap=wrap)(**kwargs)
        return tfref.bind(self, wrap=wrap)

    def tfloss_callable(self):
        """The tfloss function (raises AttributeError if absent)."""
        if self.mode == "grad_upstream":
            return lambda **kwargs: self.bind(tfloss, _upstream(self.op_name, kwargs))(**kwargs)
        return self.bind(tfloss)

    def available(self) -> bool:
        """Whether tfloss provides this function."""
        try:
            self.tfloss_callable()
        except AttributeError:
            return False
        return True


def _target(function: Function) -> Target:
    return Target(**{f.name: getattr(function, f.name) for f in dataclasses.fields(Function)})


NN_TARGETS = tuple(_target(f) for f in NN_FUNCTIONS)


def unmapped_textbook() -> list:
    """Public ``tfloss.textbook`` functions the suite has no TF composition for."""
    textbook = importlib.import_module("tfloss.textbook")
    names = getattr(textbook, "__all__", [n for n in dir(textbook) if not n.startswith("_")])
    return [name for name in names if name not in TEXTBOOK]


def textbook_targets() -> tuple:
    """Targets for the public functions of ``tfloss.textbook``."""
    return tuple(_target(f) for f in TEXTBOOK_FUNCTIONS)


def all_targets(include_textbook: bool = True) -> tuple:
    """Every value target: tf.nn, compat.v1 and the textbook formulas."""
    return NN_TARGETS + (textbook_targets() if include_textbook else ())


def targets_for(family: str, targets=None) -> tuple:
    """Targets of one family."""
    return tuple(t for t in (targets or all_targets()) if t.family == family)


def gradient_targets() -> tuple:
    """``value_and_gradient`` (unit and random upstream) and ``hessian_vector_product`` targets."""
    return tuple(_target(f) for f in GRADIENT_FUNCTIONS)
