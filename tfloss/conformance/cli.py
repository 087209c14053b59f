"""``python -m tfloss.conformance`` / ``tfloss-conformance``: check an implementation against TF.

Exit status: 0 when no run failed, 1 when one did (fail or error mismatch), 2 for a mistake in
the command (unknown implementation, missing function, malformed expect file, bad shard ...),
reported in one line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

from . import check, golden, report
from .catalogue import runs as catalogue_runs
from .check import FAILING, OUTCOMES
from .functions import ALL_FUNCTIONS
from .impls import UsageError, load

DESCRIPTION = "Check an implementation of TF's cross-entropy ops against TensorFlow's behaviour."

EPILOG = """\
run ids are function:dtype:regime:n, e.g. nn.softmax_cross_entropy_with_logits:float16:special:3;
--cases takes globs over them ('nn.sparse*:*:errors.*:*').  outcomes: bit-exact, within bound,
fail, error mismatch, expected fail, unexpected pass, not supported; only fail and error mismatch
fail the run (exit 1).  A mistake in the command exits 2.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tfloss-conformance", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", default="tfloss",
                   help="implementation under test: tfloss (default), tensorflow, torch, jax, keras, onnxruntime, "
                        "MODULE or MODULE:OBJECT")
    p.add_argument("--against", default="golden", choices=("golden", "tfloss", "tensorflow"),
                   help="reference: TF's recorded results (default), or tfloss / TensorFlow live")
    p.add_argument("--ops", default="", help="comma-separated function names, families or globs")
    p.add_argument("--dtypes", default="", help="comma-separated dtypes (float16,bfloat16,float32,float64,-)")
    p.add_argument("--cases", action="append", default=[], help="glob over run ids (repeatable)")
    p.add_argument("--list", action="store_true", help="print the selected run ids and exit")
    p.add_argument("--shard", default=None, help="i/n: run every n-th selected run starting at the i-th")
    p.add_argument("--expect", default=None, help="file of known differences: 'ID-GLOB  reason' per line")
    p.add_argument("--json", default=None, help="write the report for programs here")
    p.add_argument("--md", default=None, help="write the report for people here")
    p.add_argument("--baseline", default=None, help="an earlier --json report: print what changed")
    p.add_argument("--show", action="store_true", help="print each selected run's inputs and both outcomes")
    p.add_argument("--failures", type=int, default=10, help="how many failures to print (default 10)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes (default: one per usable core; always 1 with TensorFlow, and for fewer "
                        "than 200 runs)")
    p.add_argument("--golden-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _split(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def _reference(against, runs, golden_dir):
    if against == "golden":
        return check.GoldenReference(golden.load(runs, directory=golden_dir))
    return check.LiveReference(load(against))


# Worker state for --jobs > 1 (set before the fork, read in the children).
_STATE = {}


def _work(indices):
    checker, runs = _STATE["checker"], _STATE["runs"]
    return [checker.check(runs[i]) for i in indices]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork_is_safe() -> bool:
    """Whether worker processes can be forked from this one: not once a framework is loaded, nor
    once numba has started its threads (a child forked from a process that used GNU OpenMP aborts)."""
    if any(name in sys.modules for name in ("tensorflow", "torch", "jax")):
        return False
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    return parallel is None or not getattr(parallel, "_is_initialized", True)


#: The waves in which the workers compile each dtype's kernels, one dtype per worker at a time:
#: the 16-bit types after float32, since some of their ops run on float32's kernels.
_COMPILE_WAVES = (("float32", "float64", "-"), ("bfloat16", "float16"))


#: How many value-catalogue runs of each function and dtype the compile waves take: a function's
#: first runs differ in rank, label form and pos_weight kind, each its own specialisation (with
#: only the first, about three quarters of tfloss's compile time fell in the rest of the runs).
_FIRST_RUNS = 4


def _compile_waves(runs) -> list:
    """The first value-catalogue runs of each function and dtype (small inputs): the runs that
    compile an implementation's kernels, as waves of tasks, one task per dtype.

    Kernels are compiled per dtype, and the functions of one dtype share them (the v1 and v2
    spellings, a gradient and its forward op, the softmax family's row sums); two workers
    compiling one kernel at once both pay for it, while a worker that meets a kernel another has
    finished finds it in the cache.  So each dtype's first runs go to one worker, and the rest of
    the runs only once every wave is done.  (Handing the first runs out one per task, as before,
    compiled the same kernels in both of two workers: about 45% of their compile time, cold.)
    """
    seen, by_dtype = Counter(), {}
    for i, run in enumerate(runs):
        key = (run.function.name, run.case.dtype)
        if run.case.group == "values" and seen[key] < _FIRST_RUNS:
            seen[key] += 1
            by_dtype.setdefault(run.case.dtype, []).append(i)
    waves = [[by_dtype.pop(dtype) for dtype in wave if dtype in by_dtype] for wave in _COMPILE_WAVES]
    return [wave for wave in waves + [list(by_dtype.values())] if wave]


def _run_all(checker, runs, jobs, progress):
    if jobs > 1 and not _fork_is_safe():  # e.g. run() called in a process that already ran kernels
        jobs = 1
    results = [None] * len(runs)
    done = []

    def finish(indices, outcomes):
        for i, r in zip(indices, outcomes):
            results[i] = r
        done.extend(outcomes)
        progress(len(done), len(runs), done)

    if jobs == 1 or len(runs) < 200:
        for i in range(len(runs)):
            finish([i], [checker.check(runs[i])])
        return results
    _STATE.update(checker=checker, runs=runs)
    # First the waves that compile the kernels, each finished before the next starts, into the
    # implementation's disk cache (numba's, for tfloss), where every worker then finds them; then
    # the rest in batches.
    waves = _compile_waves(runs)
    chosen = {i for wave in waves for task in wave for i in task}
    rest = [i for i in range(len(runs)) if i not in chosen]
    chunk = max(50, min(400, len(rest) // (jobs * 8) or 1))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for wave in waves:
            for task, outcomes in zip(wave, pool.imap(_work, wave)):
                finish(task, outcomes)
        tasks = [rest[start:start + chunk] for start in range(0, len(rest), chunk)]
        for task, outcomes in zip(tasks, pool.imap(_work, tasks)):
            finish(task, outcomes)
    return results


class _Progress:
    def __init__(self, quiet):
        self.quiet = quiet
        self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, done, total, results):
        now = time.monotonic()
        if self.quiet or (done != total and now - self.last < (0.5 if self.tty else 10.0)):
            return
        self.last = now
        failed = sum(r.outcome in FAILING for r in results)
        line = f"[check] {done}/{total} runs, {failed} failed"
        sys.stderr.write(("\r" + line + ("\n" if done == total else "")) if self.tty else line + "\n")
        sys.stderr.flush()


def _show(checker, run):
    import numpy as np

    from .functions import call_inputs

    print(f"== {run.id}  ({run.case.id}, layout {run.case.layout})")
    args, kwargs = call_inputs(run.case, run.function)
    with np.printoptions(precision=17, threshold=50, edgeitems=5):
        for i, a in enumerate(args):
            print(f"  arg {i}: {a!r}")
        for k, v in kwargs.items():
            print(f"  {k} = {v!r}")
        try:
            expected, actual, _ = checker.outcomes(run)
        except Exception as exc:  # noqa: BLE001 - NotSupported and friends: say so and go on
            print(f"  not run: {exc}")
            return
        recording = checker.recording(run)
        tf_label = f"TF ({recording.name})" if recording is not None and recording is not checker.reference.golden else "TF"
        for label, outcome in ((tf_label, expected), (checker.impl.name, actual)):
            if outcome.raised:
                print(f"  {label}: raised {outcome.error_kind}.{outcome.error_name}: {outcome.message}")
            else:
                for i, value in enumerate(outcome.values):
                    print(f"  {label} output {i}: {value!r}")
    result = checker.check(run)
    print(f"  verdict: {result.outcome}" + (f": {result.detail}" if result.detail else ""))


def run(argv=None) -> int:
    """Parse, run, report; returns the exit status (UsageError propagates)."""
    opts = parser().parse_args(argv)
    started = time.monotonic()
    shard = check.parse_shard(opts.shard) if opts.shard else None
    expectations = check.read_expectations(opts.expect) if opts.expect else []
    if opts.failures < 0:
        raise UsageError("--failures must be >= 0")
    # What can be checked without the catalogue comes first, so that a mistake is reported at once.
    by_function = {f.name: f for f in ALL_FUNCTIONS}
    for name in _split(opts.ops):
        if "*" not in name and "." in name and name not in by_function:
            raise UsageError(f"--ops: no function {name!r} (--list shows the run ids)")
    impl = None if opts.list else load(opts.impl)
    for name in _split(opts.ops):  # a function asked for by name must exist in the implementation
        if impl is not None and name in by_function:
            reason = impl.supports(by_function[name], None)
            if reason:
                raise UsageError(f"--impl {opts.impl}: {reason}")
    all_runs = catalogue_runs()
    selected = check.select(all_runs, _split(opts.ops), _split(opts.dtypes), opts.cases, shard)
    if (opts.ops or opts.dtypes or opts.cases) and not selected:
        raise UsageError("the selection (--ops/--dtypes/--cases) matches no run; --list shows the ids")
    if opts.list:
        for r in selected:
            print(r.id)
        return 0
    try:
        reference = _reference(opts.against, all_runs, opts.golden_dir)
    except golden.GoldenError as exc:
        raise UsageError(str(exc)) from None
    checker = check.Checker(impl, reference, check.op_run_index(all_runs))
    if opts.show:
        for r in selected:
            _show(checker, r)
        return 0
    if opts.jobs is not None and opts.jobs < 1:
        raise UsageError("--jobs must be >= 1")
    jobs = 1 if "tensorflow" in (opts.impl, opts.against) else opts.jobs or _usable_cores()
    if not opts.quiet:
        print(f"tfloss-conformance: {impl.name} {impl.version} against {reference.name} {reference.version}: "
              f"{len(selected)} runs, {jobs} process{'es' if jobs > 1 else ''}", file=sys.stderr)
    results = _run_all(checker, selected, jobs, _Progress(opts.quiet))
    for entry in check.apply_expectations(results, expectations):
        print(f"warning: --expect line {entry.line} '{entry.pattern}' matches no run", file=sys.stderr)
    seconds = time.monotonic() - started
    print(report.table(results))
    failures = report.first_failures(results, opts.impl, opts.against, limit=opts.failures)
    if failures:
        print("\nfirst failures:")
        print("\n".join(failures))
    totals = check.summarise_outcomes(results)
    counts = ", ".join(f"{totals['outcomes'][o]} {o}" for o in OUTCOMES)
    print(f"\n{totals['cases']} runs: {counts}; {seconds:.1f}s")
    data = None
    if opts.json or opts.md:
        selection = {"ops": opts.ops, "dtypes": opts.dtypes, "cases": opts.cases, "shard": opts.shard,
                     "expect": opts.expect}
        data = report.to_json(results, impl, reference, seconds, selection)
    if opts.json:
        Path(opts.json).write_text(json.dumps(data, indent=1, default=str) + "\n")
    if opts.md:
        Path(opts.md).write_text(report.markdown(data, opts.impl, opts.against))
    if opts.baseline:
        print("\n".join(report.baseline_changes(results, opts.baseline)))
    return 1 if totals["failed"] else 0


def main(argv=None) -> int:
    """Console entry point: a user's mistake is one line on stderr and exit status 2."""
    try:
        return run(argv)
    except UsageError as exc:
        print(f"tfloss-conformance: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfloss-conformance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
