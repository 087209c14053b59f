"""Run the catalogue on an implementation, judge each run against TF, and classify it.

The reference is TF's recorded outcome (:mod:`tfloss.conformance.golden`, the default) or a
live implementation (``--against tfloss`` or ``--against tensorflow``).  Each run gets one
outcome:

================ ==============================================================================
bit-exact        every returned element is TF's bit for bit (or the same error, same message)
within bound     returned, and within the bound of :mod:`tfloss.conformance.compare`, not exact
fail             returned, but dtype, shape, NaN/inf/zero pattern or the bound differ from TF's
error mismatch   TF raised and the implementation did not, or the other way round, or both
                 raised with another class or message
expected fail    a fail or error mismatch the implementation declares (``--expect``; for tfloss,
                 its declared differences)
unexpected pass  a declared difference that did not happen (the declaration is stale)
not supported    the implementation lacks the function or cannot express the case
================ ==============================================================================

Only *fail* and *error mismatch* fail the run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import declared
from .catalogue import independence_problems, present
from .compare import judge
from .functions import call_inputs, upstream_gradient
from .impls import NotSupported, UsageError

BIT_EXACT, WITHIN, FAIL, ERROR_MISMATCH = "bit-exact", "within bound", "fail", "error mismatch"
EXPECTED_FAIL, UNEXPECTED_PASS, NOT_SUPPORTED = "expected fail", "unexpected pass", "not supported"
OUTCOMES = (BIT_EXACT, WITHIN, FAIL, ERROR_MISMATCH, EXPECTED_FAIL, UNEXPECTED_PASS, NOT_SUPPORTED)
FAILING = (FAIL, ERROR_MISMATCH)


@dataclass
class Result:
    """The classified outcome of one run."""

    id: str
    case: str
    function: str
    dtype: str
    regime: str
    outcome: str
    detail: str = ""
    elements: int = 0
    bit_exact_elements: int = 0
    max_ulps: float = 0.0
    reason: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


# --- expectations -----------------------------------------------------------------------------------


@dataclass
class Expectation:
    """One line of an expect file: a glob over run ids and the reason."""

    pattern: str
    reason: str
    line: int
    matched: int = 0


def read_expectations(path) -> list:
    """Parse an expect file: ``GLOB  reason`` per line, ``#`` comments, blank lines ignored.

    Raises
    ------
    UsageError
        Unreadable file, or a line without a reason or with a glob that cannot be a run id.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--expect {path}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            raise UsageError(f"--expect {path}:{number}: '{line}' has no reason (write 'ID-GLOB  why it differs')")
        pattern, reason = parts
        if pattern.count(":") > 3 and "*" not in pattern:
            raise UsageError(f"--expect {path}:{number}: '{pattern}' is not a run id glob (function:dtype:regime:n)")
        entries.append(Expectation(pattern, reason.strip(), number))
    return entries


def apply_expectations(results, expectations) -> list:
    """Mark results an expect entry names: a failing one *expected fail*, a passing one
    *unexpected pass* (not supported stays).  Returns the entries that matched no run."""
    for result in results:
        for entry in expectations:
            if fnmatch.fnmatchcase(result.id, entry.pattern):
                entry.matched += 1
                if result.outcome != NOT_SUPPORTED:
                    result.reason = entry.reason
                    result.outcome = EXPECTED_FAIL if result.outcome in FAILING else UNEXPECTED_PASS
                break
    return [entry for entry in expectations if not entry.matched]


# --- references -----------------------------------------------------------------------------------


class GoldenReference:
    """TF's recorded outcomes (the main recording and its supplements)."""

    name = "golden"

    def __init__(self, golden):
        self.golden = golden
        self.manifest = golden.manifest
        self.version = golden.manifest.get("tensorflow", "")

    def recording_for(self, run):
        """``(recording, "")`` for the recording of ``run`` made with the softmax kernels TF runs
        on this CPU, or ``(None, why)`` where none was (:func:`declared.kernel_gap`)."""
        gaps = []
        for recording in self.golden.recordings():
            if run.id not in recording:
                continue
            kernels = recording.manifest.get("softmax_kernels")
            gap = declared.kernel_gap(run.case, run.function, kernels, recording.manifest.get("onednn_lanes")) \
                if kernels else ""
            if not gap:
                return recording, ""
            gaps.append((recording.name, gap))
        if not gaps:
            return None, ""
        prefix = f"{declared.PLATFORM_GAP}: "
        return None, gaps[0][1] + "".join(f" (and in {name}: {gap.removeprefix(prefix)})" for name, gap in gaps[1:])

    def outcome(self, run, recording=None):
        """TF's recorded outcome of ``run`` (from ``recording``, one of the recordings, if given)."""
        return (recording or self.golden).outcome(run.id)

    def forward_loss(self, run, op_run_id):
        out = self.golden.outcome(op_run_id)
        if out.raised:
            return None
        loss = out.values[0]
        return np.zeros(loss.shape, loss.dtype) if not isinstance(loss, np.ndarray) else loss


class LiveReference:
    """Another implementation called live (``--against tfloss`` or ``--against tensorflow``)."""

    def __init__(self, impl):
        self.impl = impl
        self.name = impl.name
        self.version = impl.version
        self.manifest = None

    def outcome(self, run, upstream=None):
        args, kwargs = call_inputs(run.case, run.function)
        return self.impl.run(run.function, tuple(present(a, run.case.layout, self.impl.to_tensor) for a in args),
                             {k: present(v, run.case.layout, self.impl.to_tensor) for k, v in kwargs.items()},
                             upstream)


# --- running ---------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """Both outcomes of one run and how they compare, before classification.

    ``ok`` holds when the comparison rules of :func:`~tfloss.conformance.compare.judge` and the
    input-independence check pass; ``declared`` names the tfloss declared difference that
    explains a failure and ``gap`` the platform gap (both only for tfloss, and only when not ok).
    """

    ok: bool
    kind: str
    expected: object
    actual: object
    comparisons: list
    problems: list
    declared: str = ""
    gap: str = ""

    @property
    def elements(self) -> int:
        return sum(c.n_elements for c in self.comparisons)

    @property
    def bit_exact_elements(self) -> int:
        return sum(c.n_bit_exact for c in self.comparisons)

    @property
    def err_ulps(self) -> np.ndarray:
        """ULP errors of every compared finite element (against the term magnitude)."""
        return np.concatenate([c.err_ulps for c in self.comparisons]) if self.comparisons else np.zeros(0)

    @property
    def max_value_ulps(self) -> float:
        return max((c.max_value_ulps for c in self.comparisons), default=0.0)


class Checker:
    """Judges runs of ``impl`` against ``reference``.

    ``check_independence`` (default True) also fails an implementation that writes into its
    inputs or returns a view of one; only TF compared with itself turns it off.  ``normalise``,
    if given, maps ``(expected, actual)`` outcomes to the pair that is judged (the parity suite's
    graph mode strips graph decorations from error texts).
    """

    def __init__(self, impl, reference, op_run_ids=None, check_independence=True, normalise=None):
        self.impl = impl
        self.reference = reference
        self.check_independence = check_independence
        self.normalise = normalise
        # run id of each (case, op) forward run, for the upstream gradients of grad_upstream
        self.op_run_ids = op_run_ids or {}
        # An implementation that runs this CPU's TF kernels (tfloss, live TF) is judged against
        # the recording made with them, where there is one; any other against the main recording.
        self.by_kernels = isinstance(reference, GoldenReference) and impl.follows_this_cpus_kernels

    def recording(self, run):
        """The recording ``run`` is judged against (None: the main one, or a live reference)."""
        return self.reference.recording_for(run)[0] if self.by_kernels else None

    def _upstream(self, run):
        if run.function.mode != "grad_upstream":
            return None
        op_run = self.op_run_ids.get((run.case.id, run.function.op_name))
        if isinstance(self.reference, GoldenReference):
            loss = self.reference.forward_loss(run, op_run.id) if op_run is not None else None
        else:
            from .functions import by_name

            out = self.reference.outcome(op_run if op_run is not None else _op_run(run, by_name))
            loss = None if out.raised else out.values[0]
        return upstream_gradient(run.function.op_name, loss)

    def outcomes(self, run):
        """TF's outcome and the implementation's (NotSupported propagates), and the inputs given."""
        case, function = run.case, run.function
        upstream = self._upstream(run)
        if isinstance(self.reference, GoldenReference):
            expected = self.reference.outcome(run, self.recording(run))
        else:
            expected = self.reference.outcome(run, upstream)
        args, kwargs = call_inputs(case, function)
        our_args = tuple(present(a, case.layout, self.impl.to_tensor) for a in args)
        our_kwargs = {k: present(v, case.layout, self.impl.to_tensor) for k, v in kwargs.items()}
        actual = self.impl.run(function, our_args, our_kwargs, upstream)
        return expected, actual, (args, kwargs, our_args, our_kwargs)

    def unsupported(self, run) -> str:
        """Why the implementation cannot run ``run`` at all (before calling anything), or ``""``."""
        reason = self.impl.supports(run.function, run.case)
        if not reason and self.by_kernels:
            reason = self.reference.recording_for(run)[1]
        return reason

    def assess(self, run) -> Verdict:
        """Run ``run`` on both sides and compare (NotSupported propagates)."""
        case, function = run.case, run.function
        expected, actual, (args, kwargs, our_args, our_kwargs) = self.outcomes(run)
        if self.normalise is not None:
            expected, actual = self.normalise(expected, actual)
        ok, kind, comparisons, problems = judge(function, case.inputs, expected, actual)
        if self.check_independence:
            problems += independence_problems(list(args) + list(kwargs.values()),
                                              list(our_args) + list(our_kwargs.values()),
                                              None if actual.raised else actual.values)
        verdict = Verdict(ok and not problems, kind, expected, actual, comparisons, problems)
        if not verdict.ok and self.impl.declares_tfloss_differences:
            verdict.declared = declared.explain(case, function, expected, actual, call_inputs(case, function))
            verdict.gap = "" if verdict.declared else declared.platform_gap(case, function)
        return verdict

    def check(self, run) -> Result:
        case, function = run.case, run.function
        result = Result(run.id, case.id, function.name, case.dtype, run.id.split(":")[-2], NOT_SUPPORTED)
        reason = self.unsupported(run)
        if reason:
            result.detail = reason
            return result
        try:
            verdict = self.assess(run)
        except NotSupported as exc:
            result.detail = str(exc) or "not supported"
            return result
        result.elements, result.bit_exact_elements = verdict.elements, verdict.bit_exact_elements
        errs = verdict.err_ulps
        result.max_ulps = float(errs.max()) if errs.size else 0.0
        if verdict.ok:
            exact = result.bit_exact_elements == result.elements
            result.outcome = BIT_EXACT if exact else WITHIN
            sampled = "; ".join(c.sampled for c in verdict.comparisons if c.sampled)
            result.detail = sampled or ("" if exact or result.max_ulps else
                                        "every finite element exact; a NaN's sign or payload differs")
        elif verdict.declared:
            result.outcome, result.reason = EXPECTED_FAIL, f"declared difference {verdict.declared}"
            result.detail = "; ".join(verdict.problems)
        elif verdict.gap:
            result.outcome, result.detail = NOT_SUPPORTED, f"{verdict.gap}; {'; '.join(verdict.problems)}"
        else:
            result.outcome = ERROR_MISMATCH if (verdict.expected.raised or verdict.actual.raised) else FAIL
            result.detail = "; ".join(verdict.problems)
        return result


def _op_run(run, by_name):
    from .catalogue import Run

    return Run(run.id, run.case, by_name(run.function.op_name))


def op_run_index(runs) -> dict:
    """``(case id, function name) -> run`` for the forward runs (what grad_upstream's upstream needs)."""
    return {(run.case.id, run.function.name): run for run in runs if not run.function.mode}


# --- selection -------------------------------------------------------------------------------------


def select(runs, ops=None, dtypes=None, cases=None, shard=None) -> list:
    """The runs chosen by ``--ops``, ``--dtypes``, ``--cases`` and ``--shard``.

    ``ops`` items match a function name exactly, a family (``sigmoid``, ``weighted``, ``softmax``,
    ``sparse``, ``clipped``), or a glob over names; ``cases`` globs match run ids; ``shard`` is
    ``(i, n)`` with ``1 <= i <= n`` and keeps every n-th run starting at the i-th.
    """
    chosen = runs
    if ops:
        def op_matches(function):
            return any(item == function.name or item == function.family or fnmatch.fnmatchcase(function.name, item)
                       for item in ops)

        chosen = [r for r in chosen if op_matches(r.function)]
    if dtypes:
        chosen = [r for r in chosen if r.case.dtype in dtypes]
    if cases:
        chosen = [r for r in chosen if any(fnmatch.fnmatchcase(r.id, pattern) for pattern in cases)]
    if shard:
        i, n = shard
        chosen = chosen[i - 1::n]
    return chosen


def parse_shard(text: str) -> tuple:
    """``"i/n"`` -> ``(i, n)``; UsageError unless ``1 <= i <= n``."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: write i/n, e.g. 1/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text}: i must be between 1 and n ({n})")
    return i, n


def summarise_outcomes(results) -> dict:
    """Totals: ``cases``, ``passed``, ``failed``, ``not_supported``, ``expected_fail`` and each outcome."""
    by = {name: 0 for name in OUTCOMES}
    for r in results:
        by[r.outcome] += 1
    return {
        "cases": len(results),
        "passed": by[BIT_EXACT] + by[WITHIN],
        "failed": by[FAIL] + by[ERROR_MISMATCH],
        "not_supported": by[NOT_SUPPORTED],
        "expected_fail": by[EXPECTED_FAIL],
        "unexpected_pass": by[UNEXPECTED_PASS],
        "outcomes": by,
    }


__all__ = ["Checker", "GoldenReference", "LiveReference", "Result", "Verdict", "read_expectations", "apply_expectations",
           "select", "parse_shard",
           "summarise_outcomes", "op_run_index", "OUTCOMES", "FAILING"]
