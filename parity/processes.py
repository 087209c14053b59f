"""The catalogue and hypothesis passes in child processes, for a mode whose TF outgrows one.

Under ``tf.function(jit_compile=True)`` TF keeps every program XLA compiles until the process
ends, about 14 memory maps each.  A whole ``--mode xla`` run compiles a program for nearly every
one of its 21,621 catalogue runs; one process passed Linux's default limit of 65,530 maps
(``vm.max_map_count``) at run 6976, where LLVM stopped with "Cannot allocate memory".  So in a
mode with :attr:`parity.modes.Mode.runs_per_process` set, the work goes to fresh processes: the
catalogue in slices of that many runs, and hypothesis one family per process.  Each child puts TF
in the mode, runs its share with :func:`parity.runner.run_case` and sends the records back; the
parent keeps the order, so the report is the one a single process would write.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

from tfloss.conformance import catalogue
from tfloss.conformance.functions import applicable

from . import modes, runner, targets


def _enter(mode_name: str) -> None:
    """A child's start: TF in the mode, tfloss under its target."""
    mode = modes.MODES[mode_name]
    modes.activate(mode)
    runner.MODE = mode


def _by_name(names) -> tuple:
    known = {t.name: t for t in targets.all_targets() + targets.gradient_targets()}
    return tuple(known[name] for name in names)


def _slim(record):
    """A record without the two outcomes (only the release matrix reads them), to keep the
    answer small."""
    record.tf_outcome = record.tfloss_outcome = None
    return record


def _catalogue_slice(large, picks, names, reference_only):
    cases = catalogue.all_cases(large=large)
    chosen = {t.name: t for t in _by_name(names)}
    return [_slim(runner.run_case(cases[i], chosen[name], reference_only=reference_only)) for i, name in picks]


def _family(family, names, examples, derandomize, random_seed, reference_only):
    from . import property as prop

    records, literal, labels = prop.run_family(family, _by_name(names), examples, derandomize, random_seed,
                                               reference_only)
    return [_slim(r) for r in records], literal, labels


def _pool(mode, jobs):
    if sys.version_info < (3, 11):  # max_tasks_per_child came in 3.11 (3.10 is past its end of life)
        raise SystemExit(f"parity: --mode {mode.name} runs its cases in fresh processes, which needs Python 3.11+")
    # spawn: a forked child would inherit TF's threads mid-flight.
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_enter, initargs=(mode.name,), max_tasks_per_child=1)


def default_jobs() -> int:
    """Child processes at once: one per core, at most two (each TF uses the cores it finds)."""
    return max(1, min(2, os.cpu_count() or 1))


def run_cases(cases, chosen, mode, large, reference_only=False, progress=None, jobs=None):
    """:func:`parity.runner.run_cases` in child processes, ``mode.runs_per_process`` runs each.

    ``cases`` must be a slice of ``catalogue.all_cases(large=large)`` (the children rebuild the
    catalogue and take cases by index).
    """
    index = {case.id: i for i, case in enumerate(catalogue.all_cases(large=large))}
    work = [(index[case.id], target.name) for case in cases for target in applicable(case, chosen)]
    names = tuple(t.name for t in chosen)
    step = mode.runs_per_process
    slices = [work[i:i + step] for i in range(0, len(work), step)]
    done = 0
    with _pool(mode, jobs or default_jobs()) as pool:
        for records in pool.map(_catalogue_slice, repeat(large), slices, repeat(names), repeat(reference_only)):
            for record in records:
                done += 1
                if progress is not None:
                    progress(done, len(work), record)
                yield record
            if done < len(work):  # a slice arrives at once: show where it ends (the last shows itself)
                getattr(progress, "show", lambda: None)()


def run_all(chosen, mode, examples, derandomize=True, random_seed=0, reference_only=False, progress=None,
            jobs=None):
    """:func:`parity.property.run_all` with each family in a child process."""
    from . import property as prop

    names = tuple(t.name for t in chosen)
    families = prop.families(chosen)
    records, counterexamples, labels = [], [], Counter()
    with _pool(mode, jobs or default_jobs()) as pool:
        answers = pool.map(_family, families, repeat(names), repeat(examples), repeat(derandomize),
                           repeat(random_seed), repeat(reference_only))
        for recs, literal, drawn in answers:
            for record in recs:
                records.append(record)
                if progress is not None:
                    progress(len(records), None, record)
            labels += drawn
            if literal is not None:
                counterexamples.append(literal)
    return records, counterexamples, labels
