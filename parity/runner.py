"""Run cases on TF and on tfloss and judge each pair of outcomes.

For every (case, target) the runner

1. presents the inputs in the case's layout (each side gets its own copy, so
   a function that writes into its inputs cannot spoil another comparison, and
   tfloss's copy is checked afterwards for writes);
2. calls real TF and tfloss and records both outcomes;
3. judges them: same error class and message, or same dtype, shape, special
   value pattern and values within the bound of :mod:`parity.compare`;
4. if they differ, asks :mod:`parity.declared` whether the difference is a
   declared one, and otherwise marks it a failure (or, against a TF release
   other than the one tfloss targets, a release difference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import declared, isolate, tfref
from .catalogue import Case
from .compare import compare_arrays

PASS, FAIL, DECLARED, RELEASE, SKIP = "pass", "fail", "declared", "release", "skip"


@dataclass
class Record:
    """The judged outcome of one case on one target.

    Attributes
    ----------
    status : str
        ``pass``, ``fail``, ``declared`` (a declared difference, exactly as
        declared), ``release`` (differs, but TF is not tfloss's target release)
        or ``skip`` (tfloss lacks the function).
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


# --- input presentation ---------------------------------------------------------------------------


def _strided(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    view = big[..., ::2]
    view[...] = a
    return view


def present(value, layout: str, side: str):
    """One side's copy of an input, in the case's layout.

    Parameters
    ----------
    value : object
        Catalogue input (NumPy arrays are copied; other objects pass through).
    layout : str
        See :class:`parity.catalogue.Case`.
    side : str
        ``"tf"`` or ``"tfloss"``.
    """
    if not isinstance(value, np.ndarray):
        return value
    if layout == "tensor":
        converted = tfref.to_tf_input(value)  # a tensor already for old TF's bfloat16
        return converted if not isinstance(converted, np.ndarray) else tfref.tf().constant(value)
    if layout == "list":
        return value.tolist()
    if layout == "F":
        return np.asfortranarray(value.copy())
    if layout == "strided":
        return _strided(value)
    a = value.copy()
    if layout == "readonly":
        a.flags.writeable = False
    return a


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "OUS":
        return bool(np.all(a == b))
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


# --- judging ----------------------------------------------------------------------------------------


def call_inputs(case: Case, target) -> tuple[tuple, dict]:
    """Positional and keyword arguments of ``case`` for ``target``."""
    if case.raw:
        return tuple(case.args), dict(case.inputs)
    return tuple(case.args), target.adapt(case.inputs)


def judge_values(case, target, expected: tuple, actual: tuple):
    """Compare output tuples; returns (ok, comparisons, problems)."""
    problems = []
    comparisons = []
    if len(expected) != len(actual):
        return False, comparisons, [f"{len(actual)} outputs, TF has {len(expected)}"]
    magnitudes = None
    if hasattr(target, "magnitudes"):
        try:
            magnitudes = target.magnitudes(case.inputs, expected)
        except Exception:  # noqa: BLE001 - odd inputs: fall back to |expected|
            magnitudes = None
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e is None or a is None:
            if (e is None) != (a is None):
                problems.append(f"output {i}: tfloss {'None' if a is None else 'array'}, TF {'None' if e is None else 'array'}")
            continue
        magnitude, n_terms = None, 1
        try:
            if magnitudes is not None:
                magnitude, n_terms = magnitudes[i]
            elif len(expected) == 1:
                magnitude, n_terms = target.magnitude(case.inputs, e)
        except Exception:  # noqa: BLE001 - odd raw inputs: fall back to |expected|
            magnitude, n_terms = None, 1
        cmp = compare_arrays(a, e, magnitude, n_terms)
        comparisons.append(cmp)
        problems += [f"output {i}: {p}" if len(expected) > 1 else p for p in cmp.problems]
    return not problems, comparisons, problems


def judge(case, target, tf_out: tfref.Outcome, tfloss_out: tfref.Outcome):
    """Judge a pair of outcomes; returns (ok, kind, comparisons, problems)."""
    kind = "error" if tf_out.raised else "value"
    if tf_out.raised or tfloss_out.raised:
        if not tfloss_out.raised:
            return False, kind, [], [f"TF raised {tf_out.describe()}; tfloss {tfloss_out.describe()}"]
        if not tf_out.raised:
            return False, kind, [], [f"tfloss raised {tfloss_out.describe()}; TF {tf_out.describe()}"]
        problems = []
        if (tf_out.error_kind, tf_out.error_name) != (tfloss_out.error_kind, tfloss_out.error_name):
            problems.append(
                f"exception class: tfloss {tfloss_out.error_kind}.{tfloss_out.error_name} vs TF "
                f"{tf_out.error_kind}.{tf_out.error_name}"
            )
        if tf_out.message != tfloss_out.message:
            problems.append(f"message: tfloss {tfloss_out.message!r} vs TF {tf_out.message!r}")
        return not problems, kind, [], problems
    ok, comparisons, problems = judge_values(case, target, tf_out.values, tfloss_out.values)
    return ok, kind, comparisons, problems


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
    tf_args = tuple(present(a, case.layout, "tf") for a in args)
    tf_kwargs = {k: present(v, case.layout, "tf") for k, v in kwargs.items()}
    our_args = tuple(present(a, case.layout, "tfloss") for a in args)
    our_kwargs = {k: present(v, case.layout, "tfloss") for k, v in kwargs.items()}

    tf_out = tfref.run_tf(target.tf_callable(), tf_args, tf_kwargs)
    if reference_only:
        tfloss_out = tfref.run_tf(target.tf_callable(), our_args, our_kwargs)
    else:
        tfloss_out = tfref.run_tfloss(target.tfloss_callable(), our_args, our_kwargs)

    ok, kind, comparisons, problems = judge(case, target, tf_out, tfloss_out)

    originals = list(args) + list(kwargs.values())
    copies = list(our_args) + list(our_kwargs.values())
    for original, copy in zip(originals, copies):
        if isinstance(original, np.ndarray) and isinstance(copy, np.ndarray) and not _same_bits(original, copy):
            ok = False
            problems.append("tfloss modified an input array")

    if not tfloss_out.raised and not reference_only:
        inputs = [c for c in copies if isinstance(c, np.ndarray)]
        for out in tfloss_out.values:
            if isinstance(out, np.ndarray) and any(np.shares_memory(out, c) for c in inputs):
                ok = False
                problems.append("a tfloss result shares memory with an input (results must be independent arrays)")

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


def applicable_targets(case: Case, targets) -> list:
    """The targets that run ``case``."""
    chosen = [t for t in targets if t.family == case.family]
    if case.only:
        chosen = [t for t in targets if t.name in case.only]
    return chosen


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
