"""The checker's output: summary table, first failures, JSON, Markdown, and a baseline diff."""

from __future__ import annotations

import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import declared
from .check import BIT_EXACT, ERROR_MISMATCH, EXPECTED_FAIL, FAIL, FAILING, NOT_SUPPORTED, UNEXPECTED_PASS, WITHIN
from .check import summarise_outcomes
from .compare import BASE_ULPS, RTOL

COLUMNS = ("function", "dtype", "cases", "bit-exact", "within", "failed", "expected", "n/s", "max ULP")


def rows(results) -> list:
    """One row per function x dtype."""
    groups = defaultdict(list)
    for r in results:
        groups[(r.function, r.dtype)].append(r)
    out = []
    for (function, dtype), group in groups.items():
        outcomes = [r.outcome for r in group]
        out.append({
            "function": function, "dtype": dtype, "cases": len(group),
            "bit_exact": outcomes.count(BIT_EXACT), "within_bound": outcomes.count(WITHIN),
            "failed": sum(o in FAILING for o in outcomes),
            "expected_fail": outcomes.count(EXPECTED_FAIL) + outcomes.count(UNEXPECTED_PASS),
            "not_supported": outcomes.count(NOT_SUPPORTED),
            "max_ulps": max((r.max_ulps for r in group), default=0.0),
        })
    return out


def _ulps(x):
    return f"{x:.2f}" if x < 100 else f"{x:.3g}"


def table(results) -> str:
    """The summary as fixed-width text."""
    lines = [(r["function"], r["dtype"], str(r["cases"]), str(r["bit_exact"]), str(r["within_bound"]),
              str(r["failed"]), str(r["expected_fail"]), str(r["not_supported"]), _ulps(r["max_ulps"]))
             for r in rows(results)]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(COLUMNS)]

    def fmt(cols):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))

    return "\n".join([fmt(COLUMNS), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def reproduce_command(run_id: str, impl_spec: str, against: str) -> str:
    """One line that reruns a single run and prints its inputs and both outcomes (under the
    tfloss target this run used, where it is not the default)."""
    import tfloss

    target = tfloss.get_target()
    parts = ([f"TFLOSS_TARGET={target}"] if target != "cpu" else []) + ["python -m tfloss.conformance"]
    if impl_spec != "tfloss":
        parts.append(f"--impl {impl_spec}")
    if against != "golden":
        parts.append(f"--against {against}")
    parts.append(f"--cases '{run_id}' --show")
    return " ".join(parts)


def first_failures(results, impl_spec, against, limit=10) -> list:
    """Text blocks for the first failing runs, each with its reproduction line."""
    failing = [r for r in results if r.outcome in FAILING]
    return [f"{r.outcome.upper()} {r.id} ({r.case})\n    {r.detail[:400]}\n    reproduce: "
            f"{reproduce_command(r.id, impl_spec, against)}" for r in failing[:limit]]


def environment() -> dict:
    import ml_dtypes

    import tfloss

    return {"tfloss": tfloss.__version__, "target": tfloss.describe_target(),
            # the softmax kernels TF runs on this CPU, which pick the recording a run is judged by
            "softmax_kernels": declared.softmax_kernels(),
            "onednn_lanes": tfloss.config.onednn_lanes(),
            "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}


def to_json(results, impl, reference, seconds, selection) -> dict:
    """The report for programs."""
    recorded = getattr(reference, "golden", None)  # a GoldenReference's recordings
    return {
        "environment": environment(),
        "implementation": {"name": impl.name, "version": impl.version},
        "against": {"name": reference.name, "version": reference.version},
        "recorded_results": reference.manifest,
        "recorded_supplements": [r.manifest for r in recorded.supplements] if recorded is not None else [],
        "selection": selection,
        "bound": {"base_ulps": BASE_ULPS, "rtol": RTOL},
        "seconds": round(seconds, 1),
        "totals": summarise_outcomes(results),
        "summary": rows(results),
        "cases": [r.to_json() for r in results],
    }


def _kernels(manifest: dict) -> str:
    kernels = manifest.get("softmax_kernels", {})
    return ", ".join(f"{dtype} {kernel}" for dtype, kernel in sorted(kernels.items())) + " softmax"


def markdown(report: dict, impl_spec: str, against: str) -> str:
    """The report for people."""
    t = report["totals"]
    impl, ref = report["implementation"], report["against"]
    lines = [
        f"# Conformance of {impl['name']} {impl['version']} against TF's behaviour",
        "",
        f"Against: {ref['name']} {ref['version']}"
        + (f" (recorded {report['recorded_results'].get('date', '?')} on {report['recorded_results'].get('cpu', '?')})"
           if report.get("recorded_results") else "")
        + "".join(f"; {m.get('npz', '?').rsplit('.', 1)[0]} (recorded {m.get('date', '?')} with "
                  f"{_kernels(m)}) for the kernel-dependent runs on a CPU that runs those kernels"
                  for m in report.get("recorded_supplements", ()))
        + f"; tfloss {report['environment']['tfloss']} under {report['environment'].get('target', 'the default target')}"
          f", NumPy {report['environment']['numpy']}, "
          f"{report['environment']['platform']}; {report['seconds']} s.",
        "",
        f"**{t['cases']} runs: {t['passed']} passed ({t['outcomes'][BIT_EXACT]} bit-exact, "
        f"{t['outcomes'][WITHIN]} within bound), {t['failed']} failed ({t['outcomes'][FAIL]} fail, "
        f"{t['outcomes'][ERROR_MISMATCH]} error mismatch), {t['expected_fail']} expected fail, "
        f"{t['unexpected_pass']} unexpected pass, {t['not_supported']} not supported.**",
        "",
        "| function | dtype | cases | bit-exact | within bound | failed | expected | not supported | max ULP |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["summary"]:
        lines.append(f"| `{r['function']}` | {r['dtype']} | {r['cases']} | {r['bit_exact']} | {r['within_bound']} | "
                     f"{r['failed']} | {r['expected_fail']} | {r['not_supported']} | {_ulps(r['max_ulps'])} |")
    failing = [c for c in report["cases"] if c["outcome"] in FAILING]
    lines += ["", "## Failures", ""]
    if not failing:
        lines.append("None.")
    for c in failing[:100]:
        lines.append(f"- `{c['id']}` ({c['outcome']}): {c['detail'][:300]}  \n"
                     f"  `{reproduce_command(c['id'], impl_spec, against)}`")
    if len(failing) > 100:
        lines.append(f"- ... and {len(failing) - 100} more (see the JSON report)")
    not_supported = defaultdict(int)
    for c in report["cases"]:
        if c["outcome"] == NOT_SUPPORTED:
            not_supported[c["detail"].split(";")[0]] += 1
    if not_supported:
        lines += ["", "## Not supported", ""]
        lines += [f"- {n}x {reason}" for reason, n in sorted(not_supported.items(), key=lambda kv: -kv[1])[:30]]
    return "\n".join(lines) + "\n"


def baseline_changes(results, path) -> list:
    """Lines saying which runs changed outcome since an earlier ``--json`` report."""
    from .impls import UsageError

    try:
        old = json.loads(Path(path).read_text())
        before = {c["id"]: c["outcome"] for c in old["cases"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--baseline {path}: not a report written by --json ({exc.__class__.__name__})") from None
    changes = defaultdict(list)
    now = {r.id: r.outcome for r in results}
    for run_id, outcome in now.items():
        was = before.get(run_id)
        if was is not None and was != outcome:
            changes[(was, outcome)].append(run_id)
    new = [i for i in now if i not in before]
    lines = [f"since {path}: {sum(len(v) for v in changes.values())} runs changed outcome"
             + (f", {len(new)} runs are new" if new else "")]
    for (was, outcome), ids in sorted(changes.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"  {len(ids)}x {was} -> {outcome}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}")
    return lines
