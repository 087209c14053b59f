"""Property-based runs: hypothesis draws cases, the runner judges them.

Two passes.  The first generates ``examples`` cases per family and records
every outcome without stopping, so the report counts them like catalogue
cases.  Only if something failed, a second pass replays the same search with
shrinking on and returns the shrunk counterexample of each failing family as
a :data:`tfloss.conformance.catalogue.REGRESSIONS` entry.
"""

from __future__ import annotations

import pprint
from collections import Counter

from hypothesis import HealthCheck, Phase, event, given, seed, settings

from tfloss.conformance import strategies
from tfloss.conformance.catalogue import REGRESSIONS, case_to_literal

from .runner import FAIL, applicable_targets, run_case

_SETTINGS = dict(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def families(targets):
    """The families the targets belong to, sorted."""
    return tuple(sorted({t.family for t in targets}))


def run_family(family, targets, examples, derandomize=True, random_seed=0, reference_only=False,
               progress=None):
    """Generate and judge ``examples`` cases of one family.

    Returns
    -------
    records : list of parity.runner.Record
    counterexample : dict or None
        The shrunk failing case as a REGRESSIONS literal.
    labels : collections.Counter
        How many cases were drawn per label (family, dtype, rank, regime).
    """
    records = []
    labels = Counter()

    def judge_all(case):
        out = []
        for target in applicable_targets(case, targets):
            out.append(run_case(case, target, reference_only=reference_only))
        return out

    @settings(max_examples=examples, derandomize=derandomize, phases=[Phase.explicit, Phase.generate],
              **_SETTINGS)
    @given(strategies.cases(families=(family,)))
    def generate(case):
        event(strategies.label(case))
        labels[strategies.label(case)] += 1
        for record in judge_all(case):
            records.append(record)
            if progress is not None:
                progress(len(records), None, record)

    if not derandomize:
        generate = seed(random_seed)(generate)
    generate()

    if not any(r.status == FAIL for r in records):
        return records, None, labels

    shrunk = {}

    @settings(max_examples=examples, derandomize=derandomize,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], **_SETTINGS)
    @given(strategies.cases(families=(family,)))
    def search(case):
        failing = [r for r in judge_all(case) if r.status == FAIL]
        if failing:
            shrunk["case"] = case
            shrunk["detail"] = f"{failing[0].target}: {failing[0].detail}"
            raise AssertionError(shrunk["detail"])

    if not derandomize:
        search = seed(random_seed)(search)
    try:
        search()
    except AssertionError:
        pass
    except Exception as exc:  # noqa: BLE001 - a flaky replay still yields the last failure seen
        shrunk.setdefault("detail", repr(exc))
    if "case" not in shrunk:
        return records, None, labels
    literal = case_to_literal(shrunk["case"])
    if any(literal["inputs"] == known["inputs"] for known in REGRESSIONS):
        return records, None, labels  # already a catalogue case
    literal["found"] = shrunk["detail"][:300]
    return records, literal, labels


def run_all(targets, examples, derandomize=True, random_seed=0, reference_only=False, progress=None):
    """:func:`run_family` for every family the targets cover; returns (records, counterexamples, labels)."""
    records, counterexamples, labels = [], [], Counter()
    for family in families(targets):
        recs, literal, drawn = run_family(family, targets, examples, derandomize, random_seed, reference_only,
                                          progress)
        records += recs
        labels += drawn
        if literal is not None:
            counterexamples.append(literal)
    return records, counterexamples, labels


def format_counterexample(literal: dict) -> str:
    """Text to paste into ``REGRESSIONS``."""
    return pprint.pformat(literal, width=110, sort_dicts=False) + ","
