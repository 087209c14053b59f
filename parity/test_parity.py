"""The parity suite under pytest: the catalogue and a derandomized hypothesis pass.

Every case runs on real TF and on tfloss; a test fails on any difference that
is neither within the documented bound nor declared in ``tfloss/conformance/declared.py``.
``PARITY_EXAMPLES`` (default 100) sets hypothesis examples per family.
"""

import os
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings

from tfloss.conformance import catalogue, declared, strategies
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.catalogue import case_to_literal, decode, encode

from parity import targets
from parity.property import format_counterexample
from parity.runner import FAIL, SKIP, applicable_targets, call_inputs, run_case, run_cases

EXAMPLES = int(os.environ.get("PARITY_EXAMPLES", "100"))

CASES = catalogue.all_cases()
TARGETS = targets.all_targets() + targets.gradient_targets()


def _kind(target):
    """``nn`` (tf.nn and compat.v1.nn), ``textbook``, or the gradient mode."""
    if ":" in target.name:
        return target.name.split(":")[0]
    return "textbook" if target.name.startswith("textbook.") else "nn"


def _chunks():
    """Tests by (group, family, dtype, kind of function), so a failure names its area."""
    cases = defaultdict(list)
    for case in CASES:
        cases[(case.group, case.family, case.dtype)].append(case)
    kinds = sorted({_kind(t) for t in TARGETS})
    chunks = {}
    for (group, family, dtype), chunk_cases in sorted(cases.items()):
        for kind in kinds:
            chunk_targets = [t for t in TARGETS if _kind(t) == kind]
            if any(applicable_targets(c, chunk_targets) for c in chunk_cases):
                chunks[f"{kind}-{group}-{family}-{dtype}"] = (chunk_cases, chunk_targets)
    return chunks


CHUNKS = _chunks()


def _unexplained(records):
    """Failures, plus functions tfloss does not provide (every public one must exist).

    A case on which TF itself crashes is skipped (there is nothing to compare with) and
    listed in the report, not failed here; so is a failure in a known platform gap
    (:func:`tfloss.conformance.declared.platform_gap`: this machine runs a TF kernel tfloss cannot reproduce).
    """
    explained = ("crashes", declared.PLATFORM_GAP)
    return [r for r in records
            if r.status == FAIL or (r.status == SKIP and not any(word in r.detail for word in explained))]


def _format(records, limit=15):
    lines = [f"{len(records)} unexplained difference(s):"]
    lines += [f"  {r.target} {r.case_id}: {r.detail[:500]}" for r in records[:limit]]
    if len(records) > limit:
        lines.append(f"  ... and {len(records) - limit} more")
    return "\n".join(lines)


def test_catalogue_is_large_and_covers_every_function():
    assert len(CASES) >= 2000
    runs = sum(len(applicable_targets(c, TARGETS)) for c in CASES)
    assert runs >= 5000
    for target in TARGETS:
        assert any(target in applicable_targets(c, TARGETS) for c in CASES), target.name


def test_every_textbook_function_has_a_tf_composition():
    assert targets.unmapped_textbook() == []


@pytest.mark.parametrize("chunk", list(CHUNKS))
def test_catalogue(chunk):
    chunk_cases, chunk_targets = CHUNKS[chunk]
    failures = _unexplained(list(run_cases(chunk_cases, chunk_targets)))
    assert not failures, _format(failures)


HYPOTHESIS_RUNS = [(family, kind) for family in targets.FAMILIES for kind in sorted({_kind(t) for t in TARGETS})
                   if any(_kind(t) == kind for t in targets.targets_for(family, TARGETS))]


@pytest.mark.parametrize("family,kind", HYPOTHESIS_RUNS, ids=[f"{k}-{f}" for f, k in HYPOTHESIS_RUNS])
def test_hypothesis(family, kind):
    family_targets = [t for t in targets.targets_for(family, TARGETS) if _kind(t) == kind]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategies.cases(families=(family,)))
    def check(case):
        event(strategies.label(case))
        records = [run_case(case, t) for t in applicable_targets(case, family_targets)]
        failures = _unexplained(records)
        assert not failures, (_format(failures) + "\nadd to catalogue.REGRESSIONS:\n"
                              + format_counterexample(case_to_literal(case)))

    check()


def test_machinery_tf_against_itself_is_bit_exact():
    """TF compared with TF must pass bit-exactly: checks presentation, outcomes and judging."""
    sample = CASES[::25]
    records = list(run_cases(sample, targets.all_targets(), reference_only=True))
    assert records and all(r.status == "pass" for r in records), _format([r for r in records if r.status != "pass"])
    assert all(r.bit_exact for r in records if r.kind == "value")


def test_regression_literals_round_trip_exactly():
    case = catalogue.value_case("softmax", "bfloat16", "matrix", "special")
    literal = case_to_literal(case)
    for name, value in case.inputs.items():
        back = decode(encode(value))
        assert back.dtype == value.dtype and back.shape == value.shape
        assert back.tobytes() == np.ascontiguousarray(value).tobytes()
    assert literal["family"] == "softmax"


def test_report_files_are_written_and_parse(tmp_path):
    import json

    from parity import report, signatures

    records = list(run_cases(CASES[::200], TARGETS))
    checks = signatures.check_all()
    rows, total = report.write(tmp_path, report.environment(), records, checks, stem="parity")
    data = json.loads((tmp_path / "parity.json").read_text())
    assert data["totals"]["cases"] == len(records) == total["cases"]
    assert data["environment"]["tensorflow"] == tfref.tf_version()
    assert {"function", "dtype", "cases", "passed", "bit_exact_elements", "max_ulps", "p99_ulps"} <= set(rows[0])
    text = (tmp_path / "parity.md").read_text()
    assert text.startswith("# tfloss parity report") and "## Declared differences" in text


def test_release_differences_only_against_other_tf_releases():
    # Against the target release a difference is a failure, never a "release difference".
    if tfref.is_target_release():
        case = CASES[0]
        record = run_case(case, applicable_targets(case, TARGETS)[0])
        assert record.status != "release"


def test_tfloss_errors_mirror_every_tf_error_the_catalogue_raises(tf):
    import tfloss.errors

    raised = set()
    for case in CASES[::3]:
        for target in applicable_targets(case, targets.all_targets())[:1]:
            args, kwargs = call_inputs(case, target)
            out = tfref.run_tf(target.tf_callable(), args, kwargs)
            if out.error_kind == "tf.errors":
                raised.add(out.error_name)
    assert raised  # the catalogue does provoke TF's op errors
    for name in raised | {"OpError"}:
        ours, theirs = getattr(tfloss.errors, name), getattr(tf.errors, name)
        assert issubclass(ours, tfloss.errors.OpError) and issubclass(theirs, tf.errors.OpError), name
