"""Run cases on TF and on tfloss and judge each pair of outcomes.

The work is the packaged checker's (:class:`tfloss.conformance.check.Checker`, against live
TF): it presents the inputs in the case's layout (each side its own copy, tfloss's checked
afterwards for writes), calls both sides, judges the pair (same error class and message, or same
dtype, shape, special-value pattern and values within the bound of
:mod:`tfloss.conformance.compare`) and looks a difference up in
:mod:`tfloss.conformance.declared`.  What is the parity suite's own:

* tfloss is handed TF's tensors in the ``tensor`` layout (as a user passes them), and a
  target's own tfloss callable (the tests swap in wrong ones);
* TF's crash screen (:mod:`parity.isolate`) runs first where TF might kill the interpreter;
* ``reference_only`` compares TF with itself (tests the machinery before tfloss exists);
* against a TF release other than the one tfloss targets, a difference is a *release*
  difference, not a failure;
* the result is a :class:`Record`, what the parity report tabulates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import tfloss
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.catalogue import Case, Run, present
from tfloss.conformance.check import Checker, LiveReference
from tfloss.conformance.compare import judge
from tfloss.conformance.functions import applicable as applicable_targets  # noqa: F401
from tfloss.conformance.functions import call_inputs  # noqa: F401
from tfloss.conformance.functions import gradient_wrt, upstream_gradient
from tfloss.conformance.impls import TensorFlow, Tfloss

from . import isolate, modes

PASS, FAIL, DECLARED, RELEASE, SKIP = "pass", "fail", "declared", "release", "skip"
# TF in the run's mode differs from eager TF, and tfloss matches eager TF (see parity.modes).
MODE_DIFFERENCE = "mode"

#: The mode TF runs in; ``python -m parity --mode`` sets it (see :mod:`parity.modes`).
MODE = modes.MODES["eager"]


@dataclass
class Record:
    """The judged outcome of one case on one target.

    Attributes
    ----------
    status : str
        ``pass``, ``fail``, ``declared`` (a declared difference, exactly as
        declared), ``release`` (differs, but TF is not tfloss's target release)
        ``skip`` (tfloss lacks the function) or ``mode`` (TF in the run's mode differs
        from eager TF, which tfloss matches; see :mod:`parity.modes`).
    kind : str
        ``value`` when TF returned, ``error`` when TF raised.
    err_ulps : numpy.ndarray
        Error in ULPs of the term magnitude for every finite element.
    """

    case_id: str
    group: str
    family: str
    target: str
    dtype: str
    regime: str
    status: str
    kind: str = "value"
    n_elements: int = 0
    n_bit_exact: int = 0
    bit_exact: bool = False
    max_value_ulps: float = 0.0
    err_ulps: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    detail: str = ""
    declared_id: str = ""
    #: What each side gave (:class:`~tfloss.conformance.compare.Outcome`), for the release matrix
    #: (:mod:`parity.matrix_worker`); None where a side did not run.
    tf_outcome: object = field(default=None, repr=False, compare=False)
    tfloss_outcome: object = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """Plain-data form (without the per-element errors)."""
        return {
            "case": self.case_id,
            "group": self.group,
            "target": self.target,
            "dtype": self.dtype,
            "regime": self.regime,
            "status": self.status,
            "kind": self.kind,
            "elements": self.n_elements,
            "bit_exact_elements": self.n_bit_exact,
            "max_err_ulps": float(self.err_ulps.max()) if self.err_ulps.size else 0.0,
            "detail": self.detail,
            "declared": self.declared_id,
        }


def tf_present(value, layout):
    """TF's copy of an input (a ``tf.constant`` for the ``tensor`` layout)."""
    return present(value, layout, to_tensor=tfref.to_tensor)


class _TflossSide(Tfloss):
    """tfloss as the parity suite calls it: TF's tensors in the ``tensor`` layout, and each
    target's own tfloss callable."""

    def to_tensor(self, value):
        return tfref.to_tensor(value)

    def call(self, function, upstream=None):
        if function.mode == "grad_upstream":
            return function.bind(tfloss, upstream)
        return function.tfloss_callable()


class _TensorFlowInMode(TensorFlow):
    """Live TF as the parity suite runs it: in the suite's mode (:func:`parity.modes.in_mode`)."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def call(self, function, upstream=None):
        if self.mode.name == "xla":  # the whole call compiled, a gradient's tape included
            def compiled(**kwargs):
                # The tape watches what it watches in eager mode (an array pos_weight included),
                # decided from the inputs before they become the compiled function's arguments.
                wrt = gradient_wrt(function.family, kwargs) if function.mode in ("grad", "grad_upstream") else None
                return modes.in_mode(self._tfref.bind(function, upstream, wrt=wrt), self.mode)(**kwargs)

            return compiled
        return self._tfref.bind(function, upstream, wrap=lambda fn: modes.in_mode(fn, self.mode))


_CHECKERS = {}


def _checker(reference_only: bool) -> Checker:
    """The packaged checker against live TF in the suite's mode: tfloss under test, or eager TF
    itself (reference_only)."""
    key = (reference_only, MODE.name)
    if key not in _CHECKERS:
        impl = TensorFlow() if reference_only else _TflossSide()
        _CHECKERS[key] = Checker(impl, LiveReference(_TensorFlowInMode(MODE)), check_independence=not reference_only,
                                 normalise=lambda expected, actual: modes.normalise(expected, actual, MODE))
    return _CHECKERS[key]


_SCREEN = None


def _tf_crashes(case, target) -> bool:
    """Ask the crash screen first where TF might kill the interpreter (see parity.isolate)."""
    global _SCREEN
    if not (isolate.is_risky(case) or not tfref.is_target_release()):
        return False
    if _SCREEN is None:
        import atexit

        _SCREEN = isolate.CrashScreen()
        atexit.register(_SCREEN.close)
    return _SCREEN.crashes(case, target)


def run_case(case: Case, target, reference_only: bool = False) -> Record:
    """Run one case on one target and judge it.

    Parameters
    ----------
    case : Case
    target : parity.targets.Target
    reference_only : bool
        Compare TF with itself (tests the machinery before tfloss exists).
    """
    base = dict(case_id=case.id, group=case.group, family=case.family, target=target.name,
                dtype=case.dtype, regime=case.regime)
    if not reference_only and not target.available():
        return Record(**base, status=SKIP, detail="tfloss lacks this function")
    if _tf_crashes(case, target):
        crash = f"TF {tfref.tf_version()} crashes the interpreter on this input (found in a child process)"
        return Record(**base, status=SKIP if tfref.is_target_release() else RELEASE, kind="error", detail=crash)
    args, kwargs = call_inputs(case, target)
    verdict = _checker(reference_only).assess(Run(case.id, case, target))
    actual = verdict.actual
    if actual.error_name == "NotImplementedError" and "not reproduced by tfloss yet" in (actual.message or ""):
        return Record(**base, status=SKIP, kind="error" if verdict.expected.raised else "value",
                      detail=f"tfloss does not reproduce this under target {MODE.target!r}: {actual.message}")
    fallback = MODE.eager_fallback and (verdict.expected.raised or not MODE.fallback_errors_only)
    if not verdict.ok and fallback and not reference_only and _eager_tf_agrees(case, target, args, kwargs, actual):
        return Record(**base, status=MODE_DIFFERENCE, kind=verdict.kind,
                      detail=f"TF ({MODE.name}) differs from eager TF, which tfloss matches: " + "; ".join(verdict.problems))
    record = Record(**base, status=PASS if verdict.ok else FAIL, kind=verdict.kind,
                    n_elements=verdict.elements, n_bit_exact=verdict.bit_exact_elements,
                    err_ulps=verdict.err_ulps, max_value_ulps=verdict.max_value_ulps,
                    tf_outcome=verdict.expected, tfloss_outcome=actual)
    record.bit_exact = verdict.ok and record.n_bit_exact == record.n_elements
    if not verdict.ok:
        record.detail = "; ".join(verdict.problems)
        if verdict.declared:
            record.status, record.declared_id = DECLARED, verdict.declared
        elif verdict.gap:
            record.status, record.detail = SKIP, f"{verdict.gap}; {record.detail}"
        elif not tfref.is_target_release():
            record.status = RELEASE
    elif verdict.kind == "error":
        record.detail = verdict.expected.message or ""
    return record


def _eager_tf_agrees(case, target, args, kwargs, tfloss_out) -> bool:
    """Whether eager TF's outcome on fresh copies of the inputs passes against tfloss's."""
    eager_args = tuple(tf_present(a, case.layout) for a in args)
    eager_kwargs = {k: tf_present(v, case.layout) for k, v in kwargs.items()}
    eager_out = tfref.run_tf(target.tf_callable(), eager_args, eager_kwargs)
    if target.mode == "grad_upstream":
        # The checker took the upstream gradient from TF in this mode, whose forward op may have
        # raised (a default upstream then); eager TF's is shaped like eager TF's loss, so tfloss
        # is asked again with that one.
        loss = tfref.forward_loss(target.op_name, eager_kwargs)
        tfloss_out = _checker(False).impl.run(target, tuple(tf_present(a, case.layout) for a in args),
                                              {k: tf_present(v, case.layout) for k, v in kwargs.items()},
                                              upstream_gradient(target.op_name, loss))
    eager_out, tfloss_out = modes.normalise(eager_out, tfloss_out, MODE)  # tfloss's message may be reduced already
    return judge(target, case.inputs, eager_out, tfloss_out)[0]


def run_cases(cases, targets, reference_only=False, progress=None):
    """Run every case on every applicable target; yields :class:`Record`.

    Parameters
    ----------
    progress : callable, optional
        Called as ``progress(done, total, record)`` after each record.
    """
    work = [(case, target) for case in cases for target in applicable_targets(case, targets)]
    for done, (case, target) in enumerate(work, 1):
        record = run_case(case, target, reference_only=reference_only)
        if progress is not None:
            progress(done, len(work), record)
        yield record
