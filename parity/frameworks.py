"""``python -m parity.frameworks`` (``make frameworks``): how other frameworks compare with TF, measured.

Runs the checker (``tfloss-conformance``) on each framework in its own process, on the four
``tf.nn`` ops and every dtype, against TF 2.21's recorded results, and writes
``reports/frameworks.md`` and ``reports/frameworks.json``: per framework, op and dtype the share
of bit-exact and of within-bound runs, and the failures grouped by cause, one example each.
A framework that is not installed is listed as such; ``--only NAME,...`` reruns some frameworks
(from another environment, say) and updates their entries in an existing report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

OPS = ("nn.sigmoid_cross_entropy_with_logits", "nn.weighted_cross_entropy_with_logits",
       "nn.softmax_cross_entropy_with_logits", "nn.sparse_softmax_cross_entropy_with_logits")

#: (label, --impl, extra environment)
FRAMEWORKS = (
    ("PyTorch", "torch", {}),
    ("JAX / Optax", "jax", {}),
    ("Keras 3, numpy backend", "keras", {"KERAS_BACKEND": "numpy"}),
    ("Keras 3, jax backend", "keras", {"KERAS_BACKEND": "jax"}),
    ("Keras 3, torch backend", "keras", {"KERAS_BACKEND": "torch"}),
    ("ONNX Runtime", "onnxruntime", {}),
)

_NUMBERS = re.compile(r"np\.\w+\(|\)|-?\d[\d.e+-]*|'[^']*'|\"[^\"]*\"")


_CLASS = r"\((finite|\+0|-0|\+inf|-inf|nan)\)"
_PATTERN = re.compile(r"special-value pattern.*?" + _CLASS + r" vs TF .*?" + _CLASS)
_RAISED = re.compile(r"^(TF raised|raised) ([\w.]+)")
_CLASSES = re.compile(r"exception class: ([\w.]+) vs TF ([\w.]+)")
_DTYPES = re.compile(r"^dtype (\w+) != TF (\w+)")
_OP = re.compile(r"\[Op:(\w+)\]")


def cause(detail: str) -> str:
    """A failure's cause, without the values (alike failures group): which special value became
    which, which error class TF raised and which the framework did, or the text with numbers and
    quoted values blanked."""
    first = detail.split("; ")[0]
    m = _PATTERN.search(detail)
    if m:
        return f"special values: {m.group(1)} where TF has {m.group(2)}"
    m = _CLASSES.search(detail)
    if m:
        return f"error class: {m.group(1)} where TF raises {m.group(2)}"
    m = _DTYPES.match(first)
    if m:
        return f"returns {m.group(1)} where TF returns {m.group(2)}"
    m = _RAISED.match(detail)
    if m:
        op = _OP.search(detail)
        where = f" (in TF's {op.group(1)})" if op else ""
        return (f"TF raises {m.group(2)}{where}, the framework returns" if m.group(1) == "TF raised"
                else f"raises {m.group(2)} where TF returns")
    if first.startswith("message:"):
        return "same error class, another message"
    if "outside the bound" in first:
        return "finite values outside the bound"
    return _NUMBERS.sub("#", first)[:110]


def run_one(label, impl, env, out_dir, timeout):
    path = out_dir / f"frameworks-{label.split(',')[0].split()[0].lower()}-{env.get('KERAS_BACKEND', impl)}.json"
    command = [sys.executable, "-m", "tfloss.conformance", "--impl", impl, "--ops", "nn.*",
               "--json", str(path), "--quiet", "--failures", "0"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    except subprocess.TimeoutExpired:
        return {"framework": label, "impl": impl, "status": f"timed out after {timeout}s"}
    seconds = time.monotonic() - started
    if done.returncode == 2 or not path.exists():
        message = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"framework": label, "impl": impl, "status": f"not run: {message}"}
    report = json.loads(path.read_text())
    path.unlink()
    return {"framework": label, "impl": impl, "status": "ran", "seconds": round(seconds, 1),
            "version": report["implementation"]["version"], "totals": report["totals"],
            "cases": report["cases"]}


def summarise(result) -> dict:
    rows = defaultdict(lambda: defaultdict(int))
    causes = defaultdict(list)
    for c in result.get("cases", []):
        key = (c["function"], c["dtype"])
        row = rows[key]
        row["cases"] += 1
        row[c["outcome"]] += 1
        if c["outcome"] in ("fail", "error mismatch"):
            causes[(c["outcome"], cause(c["detail"]))].append(c)
    table = []
    for (function, dtype), row in sorted(rows.items()):
        ran = row["cases"] - row["not supported"]
        table.append({"function": function, "dtype": dtype, "cases": row["cases"], "ran": ran,
                      "bit_exact": row["bit-exact"] / ran if ran else None,
                      "within_bound": row["within bound"] / ran if ran else None,
                      "failed": row["fail"] + row["error mismatch"], "not_supported": row["not supported"]})
    grouped = [{"outcome": outcome, "cause": text, "count": len(cs),
                "functions": sorted({c["function"] for c in cs}), "example": cs[0]["id"],
                "example_detail": cs[0]["detail"][:300]}
               for (outcome, text), cs in sorted(causes.items(), key=lambda kv: -len(kv[1]))]
    return {k: v for k, v in result.items() if k != "cases"} | {"summary": table, "causes": grouped}


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def markdown(results, env) -> str:
    lines = ["# How the frameworks compare with TensorFlow 2.21, measured", "",
             f"`make frameworks` ({env['date']}): `tfloss-conformance --impl NAME --ops 'nn.*'` "
             "against TF 2.21's recorded results (every catalogue case of the four `tf.nn` ops, every "
             "dtype, errors included). *bit-exact* and *within bound* are shares of the runs the "
             "framework could express; *n/s* counts runs it cannot (no such argument or dtype). "
             "Machine: " + env["machine"] + ".", ""]
    lines += ["| framework | version | runs | bit-exact | within bound | failed | not supported |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["status"] != "ran":
            lines.append(f"| {r['framework']} | - | - | - | - | - | {r['status']} |")
            continue
        t = r["totals"]
        ran = t["cases"] - t["not_supported"]
        lines.append(f"| {r['framework']} | {r['version']} | {t['cases']} | "
                     f"{_pct(t['outcomes']['bit-exact'] / ran if ran else None)} | "
                     f"{_pct(t['outcomes']['within bound'] / ran if ran else None)} | {t['failed']} | "
                     f"{t['not_supported']} |")
    for r in results:
        if r["status"] != "ran":
            continue
        lines += ["", f"## {r['framework']} ({r['version']})", "",
                  "| op | dtype | runs | bit-exact | within bound | failed | n/s |", "|---|---|---:|---:|---:|---:|---:|"]
        for row in r["summary"]:
            lines.append(f"| `{row['function']}` | {row['dtype']} | {row['cases']} | {_pct(row['bit_exact'])} | "
                         f"{_pct(row['within_bound'])} | {row['failed']} | {row['not_supported']} |")
        lines += ["", "Failures by cause (one example each):", ""]
        if not r["causes"]:
            lines.append("None.")
        for c in r["causes"][:12]:
            ops = ", ".join(f"`{f.split('.')[1].split('_')[0]}`" for f in c["functions"])
            lines.append(f"- **{c['count']}x** {c['outcome']}: {c['cause']} ({ops}); e.g. `{c['example']}`: "
                         f"{c['example_detail'][:240]}")
        if len(r["causes"]) > 12:
            lines.append(f"- ... {len(r['causes']) - 12} more causes in frameworks.json")
    return "\n".join(lines) + "\n"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    except OSError:
        return "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.frameworks", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="reports")
    parser.add_argument("--only", default="", help="comma-separated --impl names to run")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--markdown-only", action="store_true", help="rewrite frameworks.md from frameworks.json")
    opts = parser.parse_args(argv)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if opts.markdown_only:
        data = json.loads((out / "frameworks.json").read_text())
        (out / "frameworks.md").write_text(markdown(data["frameworks"], data["environment"]))
        return 0
    import datetime
    import platform

    from tfloss.conformance.report import environment

    env = environment()  # no TensorFlow needed: the frameworks' environment has none
    env["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env["machine"] = f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}"
    chosen = [f for f in FRAMEWORKS if not opts.only or f[1] in opts.only.split(",")]
    results = []
    for label, impl, extra in chosen:
        print(f"frameworks: {label} ...", flush=True)
        result = summarise(run_one(label, impl, extra, out, opts.timeout))
        print(f"frameworks: {label}: {result['status']}"
              + (f", {result['totals']['failed']} failed of {result['totals']['cases']}" if "totals" in result else ""),
              flush=True)
        results.append(result)
    previous = out / "frameworks.json"
    if opts.only and previous.exists():  # a partial run updates those frameworks' entries only
        data = json.loads(previous.read_text())
        fresh = {r["framework"]: r for r in results}
        results = [fresh.pop(r["framework"], r) for r in data["frameworks"]] + list(fresh.values())
        env = data["environment"] | {"updated": env["date"]}
    (out / "frameworks.json").write_text(json.dumps({"environment": env, "ops": OPS, "frameworks": results},
                                                    indent=1) + "\n")
    (out / "frameworks.md").write_text(markdown(results, env))
    print(f"frameworks: wrote {out / 'frameworks.md'} and {out / 'frameworks.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
