"""``python -m parity``: run the parity suite against real TF and write the report.

Usage::

    python -m parity [--examples N] [--seed S] [--no-large] [--out reports]
                     [--only SUBSTRING] [--reference-only] [--mode eager|function|deterministic|xla]
                     [--sample N]

``--mode`` runs TF in a ``tf.function`` or with op determinism, against tfloss under the
matching target (see :mod:`parity.modes`); the report is then ``reports/parity-MODE.md``.

Exit status 0 when no case and no signature failed without explanation
(against a TF release other than the target, differences are reported as
release differences and do not fail the run), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from tfloss.conformance import catalogue
from tfloss.conformance import tensorflow as tfref

from . import modes, processes, report, runner, signatures, targets
from .runner import run_cases


class Progress:
    """Prints a progress line per phase: done/total, passes, failures."""

    def __init__(self, label, stream=sys.stdout):
        self.label = label
        self.stream = stream
        self.counts = Counter()
        self.tty = stream.isatty()
        self.last = 0.0
        self.done, self.total = 0, None

    def __call__(self, done, total, record):
        self.counts[record.status] += 1
        self.done, self.total = done, total
        final = total is not None and done == total
        if not final and time.monotonic() - self.last < (0.2 if self.tty else 5.0):
            return
        self.show()

    def show(self):
        """Print the line now (after a burst of records, e.g. a child process's slice)."""
        done, total = self.done, self.total
        final = total is not None and done == total
        self.last = time.monotonic()
        of = f"/{total}" if total else ""
        line = (f"[{self.label}] {done}{of} runs: {self.counts['pass']} pass, {self.counts['fail']} fail, "
                f"{self.counts['declared']} declared, {self.counts['release']} release, {self.counts['skip']} skip")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        if final and self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def close(self):
        """Finish the line."""
        if self.tty:
            self.stream.write("\n")


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=60, help="hypothesis examples per family (0: none)")
    parser.add_argument("--seed", type=int, default=None, help="random hypothesis seed (default: derandomized)")
    parser.add_argument("--no-large", action="store_true", help="skip the large-input cases")
    parser.add_argument("--out", default="reports", help="directory for the report files")
    parser.add_argument("--name", default=None,
                        help="report file stem (default: parity, or parity-tfVERSION for a non-target TF)")
    parser.add_argument("--only", default="", help="run only targets whose name contains this")
    parser.add_argument("--reference-only", action="store_true",
                        help="compare TF with itself (checks the machinery; no tfloss needed)")
    parser.add_argument("--sample", type=int, default=1,
                        help="run every N-th catalogue case only (the function mode traces a graph per case)")
    parser.add_argument("--mode", choices=sorted(modes.MODES), default="eager",
                        help="how TF runs (tfloss runs under the matching target); see parity/modes.py")
    opts = parser.parse_args(argv)

    mode = modes.MODES[opts.mode]
    modes.activate(mode)
    runner.MODE = mode
    started = time.monotonic()
    env = report.environment()
    env["mode"] = {"name": mode.name, "description": mode.description, "target": mode.target}
    print(f"parity: mode {mode.name} ({mode.description}); tfloss target {mode.target!r}")
    print(f"parity: TensorFlow {env['tensorflow']} (target {env['tensorflow_target']}), NumPy {env['numpy']}, "
          f"tfloss {env['tfloss']}, {env['platform']}")
    if not tfref.is_target_release():
        print(f"parity: TF {env['tensorflow']} is not tfloss's target release; differences are reported as "
              "TF-release differences, not tfloss failures")

    chosen = [t for t in targets.all_targets() if opts.only in t.name and modes.runs(mode, t.name)]
    chosen += [t for t in targets.gradient_targets() if opts.only in t.name and modes.runs(mode, t.name)]
    missing = [t.name for t in chosen if not opts.reference_only and not t.available()]
    print(f"parity: {len(chosen)} functions" + (f"; tfloss lacks {len(missing)}: {', '.join(missing)}" if missing else ""))

    sig_checks = [] if opts.reference_only else signatures.check_all()
    for s in sig_checks:
        if s.status not in ("pass", "declared"):
            print(f"signature {s.status}: {s.name}: tfloss {s.tfloss_signature} vs TF {s.tf_signature} {s.detail}")

    cases = catalogue.all_cases(large=not opts.no_large)
    if opts.sample > 1:
        print(f"parity: every {opts.sample}th of the catalogue's {len(cases)} cases")
        cases = cases[::opts.sample]
    env["catalogue_sample"] = opts.sample
    print(f"parity: catalogue of {len(cases)} cases")
    progress = Progress("catalogue")
    if mode.runs_per_process:  # TF in this mode outgrows one process (see parity.processes)
        records = list(processes.run_cases(cases, chosen, mode, large=not opts.no_large,
                                           reference_only=opts.reference_only, progress=progress))
    else:
        records = list(run_cases(cases, chosen, reference_only=opts.reference_only, progress=progress))
    progress.close()

    counterexamples, labels = [], {}
    try:
        from . import property as prop
    except ImportError as exc:  # hypothesis is in the "test" extra
        print(f"parity: no hypothesis pass ({exc}); install hypothesis for property-based cases")
        opts.examples = 0
    if opts.examples > 0:
        progress = Progress(f"hypothesis x{opts.examples}")
        search = dict(derandomize=opts.seed is None, random_seed=opts.seed or 0,
                      reference_only=opts.reference_only, progress=progress)
        if mode.runs_per_process:
            hyp_records, counterexamples, labels = processes.run_all(chosen, mode, opts.examples, **search)
        else:
            hyp_records, counterexamples, labels = prop.run_all(chosen, opts.examples, **search)
        progress.close()
        records += hyp_records

    extra_sections = []
    if counterexamples:
        from . import property as prop

        text = "\n\n".join("```python\n" + prop.format_counterexample(c) + "\n```" for c in counterexamples)
        extra_sections.append(("Shrunk counterexamples (add to catalogue.REGRESSIONS)", text))
    elapsed = time.monotonic() - started
    env["seconds"] = round(elapsed, 1)
    stem = opts.name or ("parity" if tfref.is_target_release() else f"parity-tf{env['tensorflow']}")
    if mode.name != "eager" and not opts.name:
        stem += f"-{mode.name}"
    rows, total = report.write(
        opts.out, env, records, sig_checks, stem=stem,
        extra={"counterexamples": counterexamples, "hypothesis_examples": opts.examples,
               "hypothesis_seed": opts.seed, "hypothesis_draws": dict(sorted(labels.items()))},
        extra_sections=extra_sections)

    print()
    print(report.table(rows))
    print()
    failures = [r for r in records if r.status in ("fail", "release")]
    for count, functions, example in report.clusters(failures, limit=20):
        print(f"{example.status.upper()} x{count} {', '.join(functions[:3])}{' ...' if len(functions) > 3 else ''}"
              f" e.g. {example.case_id}: {example.detail[:300]}")
    for c in counterexamples:
        from . import property as prop

        print("shrunk counterexample:\n" + prop.format_counterexample(c))
    print(f"{total['passed']} passed, {total['failed']} failed, {total['declared']} declared, "
          f"{total['release']} release differences, {total['skipped']} skipped, {total['mode']} mode differences; "
          f"signatures {sum(s.status in ('pass', 'declared') for s in sig_checks)}/{len(sig_checks)}; "
          f"{elapsed:.0f}s; report in {opts.out}/{stem}.md and {opts.out}/{stem}.json")
    return 1 if total["failed"] or total["signatures_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
