"""Run cases on TF and on tfloss and judge each pair of outcomes.

For every (case, target) the runner

1. presents the inputs in the case's layout (each side gets its own copy, so
   a function that writes into its inputs cannot spoil another comparison, and
   tfloss's copy is checked afterwards for writes);
2. calls real TF and tfloss and records both outcomes;
3. judges them: same error class and message, or same dtype, shape, special
   value pattern and values within the bound of :mod:`tfloss.conformance.compare`;
4. if they differ, asks :mod:`tfloss.conformance.declared` whether the difference is a
   declared one, and otherwise marks it a failure (or, against a TF release
   other than the one tfloss targets, a release difference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfloss.conformance import declared
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.catalogue import Case, independence_problems, present
from tfloss.conformance.compare import judge as judge_outcomes
from tfloss.conformance.functions import applicable as applicable_targets  # noqa: F401
from tfloss.conformance.functions import call_inputs
from tfloss.conformance.impls import run_tfloss

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
    return present(value, layout, to_tensor=_tf_tensor)


def _tf_tensor(value):
    converted = tfref.to_tf_input(value)  # a tensor already for old TF's bfloat16
    return converted if not isinstance(converted, np.ndarray) else tfref.tf().constant(value)


def judge(case, target, tf_out, tfloss_out):
    """Judge a pair of outcomes; returns (ok, kind, comparisons, problems)."""
    return judge_outcomes(target, case.inputs, tf_out, tfloss_out)


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
    tf_args = tuple(tf_present(a, case.layout) for a in args)
    tf_kwargs = {k: tf_present(v, case.layout) for k, v in kwargs.items()}
    # tfloss gets TF's tensors in the tensor layout too: tfloss accepts them as a user passes them.
    our_args = tuple(tf_present(a, case.layout) for a in args)
    our_kwargs = {k: tf_present(v, case.layout) for k, v in kwargs.items()}

    tf_out = tfref.run_tf(modes.tf_callable(target, MODE), tf_args, tf_kwargs)
    if reference_only:
        tfloss_out = tfref.run_tf(target.tf_callable(), our_args, our_kwargs)
    else:
        tfloss_out = run_tfloss(target.tfloss_callable(), our_args, our_kwargs)

    if tfloss_out.error_name == "NotImplementedError" and "not reproduced by tfloss yet" in (tfloss_out.message or ""):
        return Record(**base, status=SKIP, kind="error" if tf_out.raised else "value",
                      detail=f"tfloss does not reproduce this under target {MODE.target!r}: {tfloss_out.message}")
    ok, kind, comparisons, problems = judge(case, target, *modes.normalise(tf_out, tfloss_out, MODE))
    if not ok and MODE.eager_fallback and not reference_only and _eager_tf_agrees(case, target, args, kwargs, tfloss_out):
        return Record(**base, status=MODE_DIFFERENCE, kind=kind,
                      detail=f"TF ({MODE.name}) differs from eager TF, which tfloss matches: " + "; ".join(problems))

    if not reference_only:
        problems += independence_problems(list(args) + list(kwargs.values()), list(our_args) + list(our_kwargs.values()),
                                          None if tfloss_out.raised else tfloss_out.values)
        ok = ok and not problems

    record = Record(**base, status=PASS if ok else FAIL, kind=kind)
    if comparisons:
        record.n_elements = sum(c.n_elements for c in comparisons)
        record.n_bit_exact = sum(c.n_bit_exact for c in comparisons)
        record.err_ulps = np.concatenate([c.err_ulps for c in comparisons])
        record.max_value_ulps = max(c.max_value_ulps for c in comparisons)
    record.bit_exact = ok and record.n_bit_exact == record.n_elements
    if not ok:
        record.detail = "; ".join(problems)
        explanation = declared.explain(case, target, tf_out, tfloss_out, call_inputs(case, target))
        gap = declared.platform_gap(case, target)
        if explanation:
            record.status = DECLARED
            record.declared_id = explanation
        elif gap:
            record.status = SKIP
            record.detail = f"{gap}; {record.detail}"
        elif not tfref.is_target_release():
            record.status = RELEASE
    elif kind == "error":
        record.detail = tf_out.message or ""
    return record


def _eager_tf_agrees(case, target, args, kwargs, tfloss_out) -> bool:
    """Whether eager TF's outcome on fresh copies of the inputs passes against tfloss's."""
    eager_args = tuple(tf_present(a, case.layout) for a in args)
    eager_kwargs = {k: tf_present(v, case.layout) for k, v in kwargs.items()}
    eager_out = tfref.run_tf(target.tf_callable(), eager_args, eager_kwargs)
    return judge(case, target, eager_out, tfloss_out)[0]


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
