"""TF against itself: every catalogue case eagerly and under ``tf.function(jit_compile=True)``.

::

    python -m parity.xla_vs_eager [--only SUBSTRING] [--no-gradients] [--out reports]

writes ``reports/xla-vs-eager.{md,json}``: per function x dtype, the share of returned elements
whose bits differ, the largest difference in ULPs (of the result's dtype, between finite
values), and every change of special value (NaN, +-inf, +-0, finite) or of error, each kind
with a count and an example.  No tfloss is involved; it is the map of what the ``"xla-cpu"``
target reproduces (``make parity MODE=xla`` compares that target with TF).

The functions are the four ``tf.nn`` ops (v2; the ``compat.v1`` wrappers call the same ops) and
their first-order gradients (the tape inside the compiled function, as in a Keras train step).
Array inputs are the compiled function's arguments, not constants, so that XLA compiles the
computation rather than folding it ahead of time; other arguments (``axis``, scalars) are
traced as constants, as they are for a user.  Not part of CI: it compiles one XLA program per
case (minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import ml_dtypes
import numpy as np

from tfloss.conformance import catalogue
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.compare import strip_function_node
from tfloss.conformance.functions import call_inputs, gradient_wrt

from . import modes, report, targets
from .runner import applicable_targets

FUNCTIONS = ("nn.sigmoid_cross_entropy_with_logits", "nn.weighted_cross_entropy_with_logits",
             "nn.softmax_cross_entropy_with_logits", "nn.sparse_softmax_cross_entropy_with_logits")
_ORDERED_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def _chosen(gradients: bool, only: str):
    names = set(FUNCTIONS) | ({f"grad:{name}" for name in FUNCTIONS} if gradients else set())
    every = list(targets.all_targets()) + list(targets.gradient_targets())
    return [t for t in every if t.name in names and only in t.name]


def _tf_function(target, wrt, jit: bool):
    """A callable of the case's keywords: the op (or loss and gradients), eager or compiled."""
    tf = tfref.tf()
    op = tfref.resolve(tf, target.op_name or target.name)

    def body(**kwargs):
        if not wrt:
            return op(**kwargs)
        with tf.GradientTape() as tape:
            watched = [kwargs[name] for name in wrt]
            tape.watch(watched)
            loss = op(**kwargs)
        return (loss, *tape.gradient(loss, watched))

    def call(**kwargs):
        arrays = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
        static = {k: v for k, v in kwargs.items() if k not in arrays}
        if wrt and not all(name in arrays for name in wrt):
            raise TypeError("the differentiated inputs are not arrays in this case")
        names = sorted(arrays)

        def run(*tensors):
            return body(**dict(zip(names, tensors)), **static)

        tensors = [tf.convert_to_tensor(arrays[name]) for name in names]
        if jit:
            return tf.function(run, jit_compile=True, autograph=False)(*tensors)
        return run(*tensors)

    return call


def _outcome(fn, kwargs):
    out = tfref.run_tf(fn, (), kwargs)
    if out.raised:
        # XLA appends the Python stack of the op's definition to a compile-time error.
        message = strip_function_node(out.message or "").split("\n\nStack trace for op definition")[0]
        return {"error": out.error_name, "message": modes.core_message(message)}
    return {"values": [None if v is None else np.asarray(v) for v in out.values]}


def _special(values: np.ndarray) -> np.ndarray:
    """Per element: 'nan', '+inf', '-inf', '+0', '-0' or 'finite'."""
    wide = values.astype(np.float64)
    kind = np.full(values.shape, "finite", dtype=object)
    kind[wide == 0] = np.where(np.signbit(wide[wide == 0]), "-0", "+0")
    kind[np.isposinf(wide)] = "+inf"
    kind[np.isneginf(wide)] = "-inf"
    kind[np.isnan(wide)] = "nan"
    return kind


def _ordered(values: np.ndarray) -> np.ndarray:
    """Float bits as integers ordered like the floats (so the difference counts ULPs)."""
    bits = values.view(_ORDERED_INT[values.dtype.itemsize]).astype(np.int64)
    top = np.int64(1) << (values.dtype.itemsize * 8 - 1)
    return np.where(bits < 0, -(bits + top), bits)


def _is_float(array) -> bool:
    return isinstance(array, np.ndarray) and (array.dtype.kind == "f" or array.dtype == ml_dtypes.bfloat16)


class Tally:
    """Per (function, dtype): elements compared and differing, max ULP, and the examples."""

    def __init__(self):
        self.rows = defaultdict(lambda: {"cases": 0, "value_cases": 0, "elements": 0, "differ": 0,
                                         "cases_differ": 0, "max_ulps": 0, "special_changes": 0,
                                         "error_changes": 0, "both_errors": 0})
        self.special = defaultdict(lambda: {"count": 0, "example": None})
        self.errors = defaultdict(lambda: {"count": 0, "example": None})

    def add(self, function, case, eager, xla):
        row = self.rows[(function, case.dtype)]
        row["cases"] += 1
        if "error" in eager or "error" in xla:
            same = eager.get("error") == xla.get("error") and eager.get("message") == xla.get("message")
            if same:
                row["both_errors"] += 1
                return
            row["error_changes"] += 1
            key = (function, _describe(eager), _describe(xla, eager))
            entry = self.errors[key]
            entry["count"] += 1
            if entry["example"] is None:
                entry["example"] = {"case": case.id, "eager": _short(eager), "xla": _short(xla)}
            return
        row["value_cases"] += 1
        differs = False
        for index, (a, b) in enumerate(zip(eager["values"], xla["values"])):
            if a is None or b is None or not _is_float(a) or a.shape != b.shape or a.dtype != b.dtype:
                continue
            row["elements"] += a.size
            bits_differ = a.view(_ORDERED_INT[a.dtype.itemsize]) != b.view(_ORDERED_INT[b.dtype.itemsize])
            both_nan = np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64))
            changed = bits_differ & ~both_nan
            row["differ"] += int(changed.sum())
            differs = differs or bool(changed.any())
            kind_a, kind_b = _special(a), _special(b)
            finite = (kind_a == "finite") & (kind_b == "finite")
            if finite.any():
                ulps = np.abs(_ordered(a[finite]) - _ordered(b[finite]))
                row["max_ulps"] = max(row["max_ulps"], int(ulps.max()))
            moved = kind_a != kind_b
            row["special_changes"] += int(moved.sum())
            for where in zip(*np.nonzero(moved)) if a.ndim else ([()] if moved else []):
                key = (function, f"output {index}", kind_a[where], kind_b[where])
                entry = self.special[key]
                entry["count"] += 1
                if entry["example"] is None:
                    entry["example"] = {"case": case.id, "output": index, "index": [int(i) for i in where],
                                        "eager": repr(a[where]), "xla": repr(b[where])}
        row["cases_differ"] += differs


def _describe(outcome, other=None) -> str:
    if "error" not in outcome:
        return "returns"
    if other is not None and other.get("error") == outcome["error"]:
        return f"raises {outcome['error']} (another message)"
    return f"raises {outcome['error']}"


def _short(outcome):
    if "error" in outcome:
        return f"{outcome['error']}: {outcome['message'][:300]}"
    return ", ".join("None" if v is None else f"{v.dtype}{list(v.shape)} {np.array2string(v.ravel()[:4], precision=8)}"
                     for v in outcome["values"])


def markdown(env, tally, seconds) -> str:
    lines = [
        "# TF against itself: eager vs `tf.function(jit_compile=True)`",
        "",
        f"TensorFlow {env['tensorflow']}, NumPy {env['numpy']}, {env['platform']}; CPU {env['cpu']}; "
        f"{env['date']}; {seconds:.0f} s. Written by `python -m parity.xla_vs_eager`; no tfloss involved.",
        "",
        "Every catalogue case of the four `tf.nn` ops and of their first-order gradients (`grad:`: loss and "
        "gradients from a tape inside the compiled function), run eagerly and compiled by XLA with the arrays "
        "as the function's arguments. *differ* is the share of returned float elements whose bits differ "
        "(two NaNs count as equal); *max ULP* the largest distance between finite results, in ULPs of the "
        "result's dtype; *special* how many elements changed class (NaN, ±inf, ±0, finite); *errors* the cases "
        "where one side raised and the other returned, or the two raised differently (XLA's compile errors "
        "have their own texts).",
        "",
        "| function | dtype | cases | value cases | elements | differ | cases with a difference | max ULP | special | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (function, dtype), r in sorted(tally.rows.items()):
        share = f"{100 * r['differ'] / r['elements']:.1f}%" if r["elements"] else "-"
        lines.append(f"| `{function}` | {dtype} | {r['cases']} | {r['value_cases']} | {r['elements']} | {share} | "
                     f"{r['cases_differ']} | {r['max_ulps']} | {r['special_changes']} | {r['error_changes']} |")
    lines += ["", "## Special-value changes (eager → XLA), each kind with an example", ""]
    if not tally.special:
        lines.append("None.")
    for (function, output, before, after), entry in sorted(tally.special.items(), key=lambda kv: -kv[1]["count"]):
        ex = entry["example"]
        lines.append(f"- `{function}` {output}: **{before} → {after}**, {entry['count']} elements; e.g. "
                     f"`{ex['case']}` at {tuple(ex['index'])}: eager {ex['eager']}, XLA {ex['xla']}")
    lines += ["", "## Error changes (eager → XLA), each kind with an example", ""]
    if not tally.errors:
        lines.append("None.")
    for (function, before, after), entry in sorted(tally.errors.items(), key=lambda kv: -kv[1]["count"]):
        ex = entry["example"]
        lines.append(f"- `{function}`: **{before} → {after}**, {entry['count']} cases; e.g. `{ex['case']}`: "
                     f"eager {ex['eager']!r}; XLA {ex['xla']!r}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.xla_vs_eager", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="only functions whose name contains this")
    parser.add_argument("--no-gradients", action="store_true", help="forward ops only")
    parser.add_argument("--no-large", action="store_true", help="skip the large-input cases")
    parser.add_argument("--out", default="reports")
    opts = parser.parse_args(argv)
    started = time.monotonic()
    env = report.environment()
    chosen = _chosen(not opts.no_gradients, opts.only)
    cases = catalogue.all_cases(large=not opts.no_large)
    work = [(case, target) for case in cases for target in applicable_targets(case, chosen)]
    print(f"xla-vs-eager: TF {env['tensorflow']}, {len(work)} runs of {len(chosen)} functions")
    tally = Tally()
    for done, (case, target) in enumerate(work, 1):
        args, kwargs = call_inputs(case, target)
        if args:
            continue
        wrt = gradient_wrt(target.family, kwargs) if target.mode == "grad" else ()
        eager = _outcome(_tf_function(target, wrt, jit=False), kwargs)
        xla = _outcome(_tf_function(target, wrt, jit=True), kwargs)
        tally.add(target.name, case, eager, xla)
        if done % 200 == 0 or done == len(work):
            print(f"[xla-vs-eager] {done}/{len(work)} runs, {time.monotonic() - started:.0f}s", flush=True)
    seconds = time.monotonic() - started
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "environment": env,
        "seconds": round(seconds, 1),
        "summary": [{"function": f, "dtype": d, **r} for (f, d), r in sorted(tally.rows.items())],
        "special_value_changes": [{"function": f, "output": o, "eager": b, "xla": a, **e}
                                  for (f, o, b, a), e in sorted(tally.special.items())],
        "error_changes": [{"function": f, "eager": b, "xla": a, **e} for (f, b, a), e in sorted(tally.errors.items())],
    }
    (out / "xla-vs-eager.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    (out / "xla-vs-eager.md").write_text(markdown(env, tally, seconds))
    print(f"xla-vs-eager: {seconds:.0f}s; wrote {out}/xla-vs-eager.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
