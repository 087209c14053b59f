"""The conformance report: aggregate records, print a table, write JSON and Markdown.

One row per function x dtype: cases, passes, failures, declared and
release differences, how many cases were TF errors, the bit-exact share, and
the maximum and 99th-percentile error in ULPs of the term magnitude.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from tfloss.conformance import declared
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.compare import BASE_ULPS, RTOL


def _cpu_model() -> str:
    try:
        from tfloss._machine.math_ops import _cpuinfo_field
    except ImportError:
        return platform.processor() or "unknown"
    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def environment() -> dict:
    """Versions, platform and CPU the run used (TF's softmax kernel depends on the CPU)."""
    import ml_dtypes

    try:
        import tfloss

        tfloss_version = getattr(tfloss, "__version__", "?")
    except ImportError:
        tfloss_version = "not importable"
    try:  # the Keras 3 release behind tf.keras (pinned in pyproject's parity extra)
        import keras

        keras_version = keras.__version__
    except ImportError:
        keras_version = "not installed"
    return {
        "tensorflow": tfref.tf_version(),
        "tensorflow_target": tfref.TARGET_TF_VERSION,
        "keras": keras_version,
        "numpy": np.__version__,
        "ml_dtypes": ml_dtypes.__version__,
        "tfloss": tfloss_version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "softmax_kernels": declared.softmax_kernels(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def summarise(records) -> list:
    """Rows per (target, dtype), sorted by target then dtype."""
    groups = defaultdict(list)
    for r in records:
        groups[(r.target, r.dtype)].append(r)
    rows = []
    for (target, dtype), recs in sorted(groups.items()):
        errs = [r.err_ulps for r in recs if r.err_ulps.size]
        all_err = np.concatenate(errs) if errs else np.zeros(0)
        values = [r for r in recs if r.kind == "value" and r.status != "skip"]
        elements = sum(r.n_elements for r in values)
        rows.append({
            "function": target,
            "dtype": dtype,
            "cases": len(recs),
            "passed": sum(r.status == "pass" for r in recs),
            "failed": sum(r.status == "fail" for r in recs),
            "declared": sum(r.status == "declared" for r in recs),
            "release": sum(r.status == "release" for r in recs),
            "skipped": sum(r.status == "skip" for r in recs),
            "mode": sum(r.status == "mode" for r in recs),
            "tf_errors": sum(r.kind == "error" for r in recs),
            "elements": elements,
            "bit_exact_count": sum(r.n_bit_exact for r in values),
            "bit_exact_cases": (sum(r.bit_exact for r in values) / len(values)) if values else None,
            "bit_exact_elements": (sum(r.n_bit_exact for r in values) / elements) if elements else None,
            "max_ulps": float(all_err.max()) if all_err.size else 0.0,
            "p99_ulps": float(np.percentile(all_err, 99)) if all_err.size else 0.0,
        })
    return rows


def totals(records, signature_checks=()) -> dict:
    """Overall counts."""
    statuses = defaultdict(int)
    for r in records:
        statuses[r.status] += 1
    return {
        "cases": len(records),
        "passed": statuses["pass"],
        "failed": statuses["fail"],
        "declared": statuses["declared"],
        "release": statuses["release"],
        "skipped": statuses["skip"],
        "mode": statuses["mode"],
        "signatures_failed": sum(s.status == "fail" for s in signature_checks),
    }


_NUMBERS = re.compile(r"np\.\w+\(|\)|-?\d[\d.e+-]*")


def clusters(records, limit=40) -> list:
    """Group non-passing records by kind: (count, functions, example record), largest first.

    Records are alike when their detail texts agree after numbers are blanked out, so one
    cause seen in many cases (a message that changed between TF releases, say) is one line.
    """
    groups = defaultdict(list)
    for r in records:
        groups[_NUMBERS.sub("#", r.detail)[:120]].append(r)
    out = []
    for recs in sorted(groups.values(), key=len, reverse=True)[:limit]:
        example = min(recs, key=lambda r: (r.n_elements, len(r.case_id)))
        out.append((len(recs), sorted({r.target for r in recs}), example))
    return out


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def _ulps(x):
    return f"{x:.2f}" if x < 100 else f"{x:.3g}"


def headline(rows) -> list:
    """Rows aggregated over dtypes: one per function (for the README)."""
    by_function = defaultdict(list)
    for row in rows:
        by_function[row["function"]].append(row)
    out = []
    for function, group in by_function.items():
        elements = sum(r["elements"] for r in group)
        out.append({
            "function": function,
            "cases": sum(r["cases"] for r in group),
            "passed": sum(r["passed"] for r in group),
            "failed": sum(r["failed"] for r in group),
            "declared": sum(r["declared"] for r in group),
            "tf_errors": sum(r["tf_errors"] for r in group),
            "bit_exact": (sum(r["bit_exact_count"] for r in group) / elements) if elements else None,
            "max_ulps": max((r["max_ulps"] for r in group), default=0.0),
        })
    return out


def headline_markdown(rows) -> str:
    """The headline table in Markdown."""
    lines = ["| function | cases | pass | fail | declared | TF errors | bit-exact elements | max ULP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in headline(rows):
        lines.append(f"| `{r['function']}` | {r['cases']} | {r['passed']} | {r['failed']} | {r['declared']} | "
                     f"{r['tf_errors']} | {_pct(r['bit_exact'])} | {_ulps(r['max_ulps'])} |")
    return "\n".join(lines)


def table(rows) -> str:
    """The summary as a fixed-width text table."""
    header = ("function", "dtype", "cases", "pass", "fail", "decl", "rel", "err", "exact%", "max ULP", "p99 ULP")
    lines = []
    for row in rows:
        lines.append((
            row["function"], row["dtype"], str(row["cases"]), str(row["passed"]), str(row["failed"]),
            str(row["declared"]), str(row["release"]), str(row["tf_errors"]),
            _pct(row["bit_exact_elements"]), _ulps(row["max_ulps"]), _ulps(row["p99_ulps"]),
        ))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    fmt = lambda cols: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))  # noqa: E731
    out = [fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    return "\n".join(out)


def markdown(env, rows, total, failures, signature_checks, extra_sections=(), skipped=()) -> str:
    """The Markdown report."""
    mode = env.get("mode", {"name": "eager", "description": "eager TF (the default)", "target": "cpu"})
    lines = [
        "# tfloss parity report" + ("" if mode["name"] == "eager" else f" (mode: {mode['name']})"),
        "",
        f"Mode **{mode['name']}**: TF runs as {mode['description']}; tfloss runs under target "
        f"`{mode['target']}`."
        + (f" Catalogue sampled: every {env['catalogue_sample']}th case." if env.get("catalogue_sample", 1) > 1 else ""),
        "",
        f"TensorFlow {env['tensorflow']} (tfloss targets {env['tensorflow_target']}), "
        f"Keras {env.get('keras', 'unknown')}, NumPy {env['numpy']}, "
        f"ml_dtypes {env['ml_dtypes']}, Python {env['python']}, {env['platform']}; {env['date']}.",
        "",
        f"CPU: {env.get('cpu', 'unknown')}; `tf.nn.softmax` kernel by dtype on it: "
        + (", ".join(f"{k} {v}" for k, v in env.get("softmax_kernels", {}).items()) or "unknown") + ".",
        "",
        f"**{total['cases']} cases: {total['passed']} passed, {total['failed']} failed, "
        f"{total['declared']} declared differences, {total['release']} TF-release differences, "
        f"{total['skipped']} skipped"
        + (f", {total.get('mode', 0)} mode differences (TF in this mode differs from eager TF, which tfloss "
           "matches)" if mode["name"] != "eager" else "")
        + ".** Signatures: "
        f"{sum(s.status in ('pass', 'declared') for s in signature_checks)}/{len(signature_checks)} match "
        f"({total['signatures_failed']} failed).",
        "",
        "How to read it: each row is one public function on one dtype. *cases* counts inputs run "
        "(values and errors alike); *err* how many of them TF rejected (tfloss must raise the same "
        "class with the same message); *decl* differences declared in `tfloss/conformance/declared.py`; *rel* "
        "differences seen against a TF release other than the target (not tfloss failures). "
        "*exact* is the share of returned elements that are bit-for-bit TF's; *max/p99 ULP* is the "
        "error of finite elements in units in the last place of the computation's term magnitude. "
        f"Bound: min({BASE_ULPS} + ceil(log2 n) ULP, max(rtol * M, 1 ULP)) with rtol "
        + ", ".join(f"{k} {v:g}" for k, v in RTOL.items())
        + "; the NaN/inf/zero pattern must match exactly.",
        "",
        headline_markdown(rows),
        "",
        "Per dtype:",
        "",
        "| function | dtype | cases | pass | fail | decl | rel | err | exact | max ULP | p99 ULP |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['function']}` | {r['dtype']} | {r['cases']} | {r['passed']} | {r['failed']} | "
            f"{r['declared']} | {r['release']} | {r['tf_errors']} | {_pct(r['bit_exact_elements'])} | "
            f"{_ulps(r['max_ulps'])} | {_ulps(r['p99_ulps'])} |"
        )
    lines += ["", "## Signatures", "", "| function | status | TF | tfloss |", "|---|---|---|---|"]
    for s in signature_checks:
        lines.append(f"| `{s.name}` | {s.status} | `{s.tf_signature}` | `{s.tfloss_signature}` |")
    lines += ["", "## Declared differences", ""]
    for d in declared.DIFFERENCES:
        lines.append(f"- **{d.id}** ({', '.join(f'`{f}`' for f in d.functions)}): {d.reason}")
    for title, body in extra_sections:
        lines += ["", f"## {title}", "", body]
    lines += ["", "## Skipped", ""]
    reasons = defaultdict(list)
    for r in skipped:
        reasons[r.detail.split(";")[0]].append(r)
    if not reasons:
        lines.append("None.")
    for reason, group in sorted(reasons.items(), key=lambda item: -len(item[1])):
        functions = sorted({r.target for r in group})
        lines.append(f"- **{len(group)}x** ({', '.join(f'`{f}`' for f in functions[:4])}"
                     f"{' ...' if len(functions) > 4 else ''}) e.g. `{group[0].case_id}`: {reason}")
    lines += ["", "## Failures and TF-release differences, grouped", ""]
    if not failures:
        lines.append("None.")
    for count, functions, example in clusters(failures):
        lines.append(f"- **{count}x** ({', '.join(f'`{f}`' for f in functions[:4])}"
                     f"{' ...' if len(functions) > 4 else ''}) e.g. `{example.case_id}`: {example.detail[:400]}")
    lines += ["", "## Failures and TF-release differences, every case", ""]
    if not failures:
        lines.append("None.")
    for r in failures[:200]:
        lines.append(f"- `{r.target}` `{r.case_id}`: {r.detail}")
    if len(failures) > 200:
        lines.append(f"- ... and {len(failures) - 200} more (see parity.json)")
    return "\n".join(lines) + "\n"


def write(out_dir, env, records, signature_checks, extra=None, extra_sections=(), stem="parity"):
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; returns (rows, totals)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarise(records)
    total = totals(records, signature_checks)
    not_passing = [r for r in records if r.status in ("fail", "release")]
    skipped = [r for r in records if r.status == "skip"]
    mode_differences = [r for r in records if r.status == "mode"]
    if mode_differences:
        body = "\n".join(
            f"- **{count}x** ({', '.join(f'`{f}`' for f in functions[:4])}{' ...' if len(functions) > 4 else ''}) "
            f"e.g. `{example.case_id}`: {example.detail[:400]}"
            for count, functions, example in clusters(mode_differences))
        extra_sections = [("Mode differences, grouped (TF in this mode vs eager TF)", body), *extra_sections]
    data = {
        "environment": env,
        "totals": total,
        "bound": {"base_ulps": BASE_ULPS, "rtol": RTOL},
        "summary": rows,
        "signatures": [s.to_json() for s in signature_checks],
        "declared_differences": [
            {"id": d.id, "functions": list(d.functions), "reason": d.reason} for d in declared.DIFFERENCES
        ],
        "declared_cases": [r.to_json() for r in records if r.status == "declared"],
        "failures": [r.to_json() for r in not_passing],
        "skipped_cases": [r.to_json() for r in skipped],
        "mode_differences": [r.to_json() for r in mode_differences],
        **(extra or {}),
    }
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    tmp = out / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(json_path)
    tmp = out / f"{stem}.md.tmp"
    tmp.write_text(markdown(env, rows, total, not_passing, signature_checks, extra_sections, skipped))
    tmp.replace(md_path)
    return rows, total
