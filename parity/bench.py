"""``python -m parity.bench``: speed of tfloss relative to TF, taken in one run.

For each public op and dtype, the large catalogue inputs (hundreds of
thousands of elements, shapes that match no block size) are timed on TF
(eager, including ``.numpy()``) and on tfloss, interleaved, after a warm-up.
The median of ``--repeats`` runs is reported, with the ratio tfloss / TF.
Writes ``reports/bench.json`` and ``reports/bench.md``.

Both libraries share the machine, so only ratios from one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from . import report, tfref
from .catalogue import DTYPES, large_cases
from .runner import call_inputs
from .targets import NN_TARGETS


def _time(fn, kwargs, repeats):
    fn(**kwargs)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(**kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(repeats=5, dtypes=DTYPES):
    """Time every nn op on the large cases; returns a list of rows."""
    rows = []
    targets = [t for t in NN_TARGETS if t.name.startswith("nn.")]
    for case in large_cases(dtypes):
        for target in targets:
            if target.family != case.family:
                continue
            _, kwargs = call_inputs(case, target)
            tf_fn = target.tf_callable()

            def tf_call(**kw):
                return tfref.to_numpy(tf_fn(**{k: tfref.to_tf_input(v) for k, v in kw.items()}))

            tf_seconds = _time(tf_call, kwargs, repeats)
            ours_seconds = _time(target.tfloss_callable(), kwargs, repeats)
            elements = sum(getattr(v, "size", 1) for v in kwargs.values())
            rows.append({
                "function": target.name, "dtype": case.dtype, "case": case.id, "input_elements": int(elements),
                "tf_ms": tf_seconds * 1e3, "tfloss_ms": ours_seconds * 1e3, "ratio": ours_seconds / tf_seconds,
            })
            shape = "x".join(map(str, kwargs["logits"].shape))
            rows[-1]["logits_shape"] = shape
            print(f"{target.name:45s} {case.dtype:9s} {shape:10s}"
                  f" TF {tf_seconds * 1e3:8.2f} ms  tfloss {ours_seconds * 1e3:8.2f} ms  x{ours_seconds / tf_seconds:6.2f}")
            sys.stdout.flush()
    return rows


def main(argv=None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m parity.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="reports")
    opts = parser.parse_args(argv)
    env = report.environment()
    print(f"bench: TensorFlow {env['tensorflow']}, NumPy {env['numpy']}, {env['platform']}")
    rows = run(opts.repeats)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"environment": env, "repeats": opts.repeats, "rows": rows}, indent=1))
    lines = ["# tfloss speed relative to TensorFlow", "",
             f"TensorFlow {env['tensorflow']}, NumPy {env['numpy']}, {env['platform']}; {env['date']}; "
             f"median of {opts.repeats}. Ratio = tfloss time / TF time (lower is faster).", "",
             "| function | dtype | logits shape | elements | TF ms | tfloss ms | ratio |", "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['function']}` | {r['dtype']} | {r['logits_shape']} | {r['input_elements']} | "
                     f"{r['tf_ms']:.2f} | {r['tfloss_ms']:.2f} | {r['ratio']:.2f} |")
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print(f"bench: wrote {out}/bench.md and {out}/bench.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
