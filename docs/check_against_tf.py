"""Re-check the pages' examples against real TensorFlow (run in the ``make parity`` venv).

``tests/test_docs.py`` checks that every example prints what the page says, with tfloss. This
script checks that what the pages say is also what TensorFlow does: it replays each page's
doctest examples with tfloss and, for every example that is a single call of a ``tf.nn`` or
``tf.compat.v1.nn`` op (optionally followed by ``.round(n)``) or a ``try:`` block around one,
runs the same code with ``tf`` bound to TensorFlow and compares:

* expressions: dtype, shape, NaN/inf pattern and values (TF's test tolerance per dtype);
* ``try:`` blocks: the printed text (an error message), with TF's ``{{function_node ...}}``
  prefix removed.

Usage: ``.venv-tf2.21.0/bin/python docs/check_against_tf.py`` (exit status 1 on a mismatch).
Other examples (textbook formulas, gradients, NumPy arithmetic) are not replayed here; their TF
counterparts are covered by ``parity/``.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import tensorflow  # noqa: E402

import tfloss  # noqa: E402

FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
OP_CALL = re.compile(r"^tf\.(nn|compat\.v1\.nn)\.\w+\(.*\)(\.round\(\d+\))?\s*$", re.DOTALL)
ROUND = re.compile(r"\.round\(\d+\)\s*$")
FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\} ")
RTOL = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-6, "float64": 1e-6}


def _single_op_call(source):
    """Whether ``source`` is one op call, optionally followed by ``.round(n)``, and nothing else."""
    if not OP_CALL.match(source):
        return False
    depth = 0
    for index, char in enumerate(source):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                rest = source[index + 1:].strip()
                return rest == "" or re.fullmatch(r"\.round\(\d+\)", rest) is not None
    return False


def _declared(source, ours):
    """tfloss's one declared difference (tfloss/conformance/declared.py): compat.v1 keeps TF 2.11's _sentinel."""
    return "tf.compat.v1.nn." in source and ours.startswith("Only call ")


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _same_values(ours, theirs):
    ours, theirs = np.asarray(ours), _numpy(theirs)
    if ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        return f"dtype/shape {ours.dtype}{ours.shape} vs TF {theirs.dtype}{theirs.shape}"
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(a[np.isinf(a)], b[np.isinf(b)]):
        return f"special values {ours.tolist()} vs TF {theirs.tolist()}"
    rtol = RTOL.get(ours.dtype.name, 1e-6)
    if not np.allclose(a, b, rtol=rtol, atol=rtol * 1e-3, equal_nan=True):
        return f"values {ours.tolist()} vs TF {theirs.tolist()}"
    return None


def _printed(source, namespace):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<example>", "exec"), namespace)
    return FUNCTION_NODE.sub("", out.getvalue())


def check_page(path):
    """(checked, mismatches) for one page."""
    namespace = {"__name__": path.stem}
    checked, mismatches = 0, []
    parser = doctest.DocTestParser()
    for match in FENCE.finditer(path.read_text(encoding="utf-8")):
        body = match.group("body")
        if ">>>" not in body or "requires=" in match.group("info"):  # other libraries' blocks
            continue
        for example in parser.get_examples(body):
            source = example.source.strip()
            if _single_op_call(source):
                ours = eval(source, namespace)
                try:
                    theirs = eval(ROUND.sub("", source), dict(namespace, tf=tensorflow))
                except Exception as exc:  # noqa: BLE001 - report whatever TF raised
                    mismatches.append(f"{path.name}: {source}\n    TF raised {type(exc).__name__}: {exc}")
                    continue
                if ROUND.search(source):
                    theirs = np.asarray(_numpy(theirs)).round(int(re.search(r"\d+", ROUND.search(source).group()).group()))
                problem = _same_values(ours, theirs)
                checked += 1
                if problem:
                    mismatches.append(f"{path.name}: {source}\n    {problem}")
            elif source.startswith("try:") and re.search(r"\btf\.(nn|compat\.v1\.nn)\.", source) \
                    and not re.search(r"\btf\.(?!nn\.|compat\.v1\.nn\.|errors\.)", source):
                ours = _printed(source, namespace)
                theirs = _printed(source, dict(namespace, tf=tensorflow))
                checked += 1
                if ours != theirs and _declared(source, ours):
                    print(f"{path.name}: declared difference (_sentinel), TF {tensorflow.__version__} printed {theirs!r}")
                elif ours != theirs:
                    mismatches.append(f"{path.name}: {source}\n    tfloss printed {ours!r}\n    TF printed     {theirs!r}")
            else:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, "<example>", "single"), namespace)
    return checked, mismatches


def main():
    pages = [p for p in sorted((ROOT / "docs").rglob("*.md")) if p.name != "FINDINGS.md"] + [ROOT / "README.md"]
    total, failures = 0, []
    with np.errstate(all="ignore"):
        for page in pages:
            checked, mismatches = check_page(page)
            total += checked
            failures += mismatches
            print(f"{page.relative_to(ROOT)}: {checked} examples replayed on TensorFlow {tensorflow.__version__}, "
                  f"{len(mismatches)} differ")
    for failure in failures:
        print(failure)
    print(f"{total} examples compared with TensorFlow, {len(failures)} differ (tfloss {tfloss.__version__})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
