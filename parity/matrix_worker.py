"""One TF release's row of the release matrix: run inside that release's environment.

``python -m parity.matrix_worker --out FILE [--sample N]`` is what :mod:`parity.matrix` runs in
each ``.venv-matrix/tf2.NN``.  It runs the parity suite's catalogue through the suite's own
runner (:func:`parity.runner.run_case`: the crash screen, the checker, the declared
differences) on every function of ``parity.targets`` (``tf.nn``'s four ops, ``compat.v1.nn``'s,
the textbook compositions and the gradients), and, where that release's ``tf.keras`` is Keras
3, the Keras loss cases of ``parity/test_losses.py``.  It writes one JSON file: the installed
versions and an *observation* per (function, case) (the format is
:mod:`parity.matrix_changes`'s): what that TF gave, what tfloss gave, the verdict.

It degrades per function instead of failing: a function the release lacks is
``unavailable`` on every case; a case the harness cannot run there (an API the suite uses that
the release lacks) is an ``error`` with the exception's text; a TF crash is a ``crash``.

``--sample N`` keeps every case of the ``errors``, ``layout`` and ``regression`` groups (where
behaviour changes between releases are found) and every N-th case of the ``values`` and
``large`` groups, and every N-th Keras case.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback

import numpy as np

#: The catalogue groups kept whole under --sample.
WHOLE_GROUPS = ("errors", "layout", "regression")


def sample_cases(cases, n: int) -> list:
    """Every case of :data:`WHOLE_GROUPS`, every n-th of the others (in catalogue order)."""
    if n <= 1:
        return list(cases)
    out, seen = [], {}
    for case in cases:
        if case.group in WHOLE_GROUPS:
            out.append(case)
            continue
        i = seen.get(case.group, 0)
        seen[case.group] = i + 1
        if i % n == 0:
            out.append(case)
    return out


def _preview(array, limit: int = 6) -> str:
    flat = np.asarray(array).reshape(-1)
    shown = ", ".join(repr(x.item()) if hasattr(x, "item") else repr(x) for x in flat[:limit])
    return "[" + shown + (", ..." if flat.size > limit else "") + "]"


def _digest(array) -> str:
    """Hash of an output's bits, NaNs made canonical (the suite does not compare NaN payloads)."""
    a = np.ascontiguousarray(array)
    if a.dtype.kind == "f" or a.dtype.name == "bfloat16":
        wide = a.astype(np.float64)
        if np.isnan(wide).any():
            a = a.copy()
            a[np.isnan(wide)] = np.nan
    return hashlib.sha1(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()[:16]


def outcome_dict(outcome):
    """An :class:`~tfloss.conformance.compare.Outcome` as plain data (see parity.matrix_changes)."""
    if outcome is None:
        return None
    if outcome.raised:
        return {"raised": True, "error": f"{outcome.error_kind}.{outcome.error_name}", "message": outcome.message}
    outputs = []
    for value in outcome.values or ():
        if value is None:
            outputs.append(None)
            continue
        array = np.asarray(value)
        outputs.append({"dtype": str(array.dtype), "shape": list(array.shape), "preview": _preview(array),
                        "digest": _digest(array)})
    return {"raised": False, "outputs": outputs}


def _describe_value(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{list(value.shape)} {_preview(value, 8)}"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def describe_inputs(args, kwargs, layout: str = "C") -> str:
    """A call's inputs in words: arrays as dtype[shape] and their first values."""
    parts = [_describe_value(a) for a in args] + [f"{k}={_describe_value(v)}" for k, v in kwargs.items()]
    return ", ".join(parts) + ("" if layout == "C" else f" (layout {layout})")


def versions() -> dict:
    """The installed versions (TF, NumPy, Keras and what tf.keras is)."""
    import ml_dtypes

    from tfloss.conformance import tensorflow as tfref

    tf = tfref.tf()
    out = {"tensorflow": tf.__version__, "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
           "python": sys.version.split()[0]}
    try:
        import keras

        out["keras"] = keras.__version__
    except Exception as exc:  # noqa: BLE001 - the report says why
        out["keras"] = f"not importable ({type(exc).__name__}: {exc})"[:200]
    try:  # Keras 2's tf.keras (keras.api._v2.keras) has no __version__ of its own in some releases
        module = tf.keras
        out["tf_keras"] = str(getattr(module, "__version__", None) or
                              f"{out['keras']} ({getattr(module, '__name__', '?')})")
    except Exception as exc:  # noqa: BLE001
        out["tf_keras"] = f"not importable ({type(exc).__name__}: {exc})"[:200]
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        out["numba"] = "not installed"
    return out


def tf_has(target) -> str:
    """Empty when the release provides ``target``'s TF function; otherwise why not."""
    from tfloss.conformance import tensorflow as tfref
    from tfloss.conformance.functions import resolve

    if target.name in tfref.TEXTBOOK_COMPOSITIONS:
        return ""
    name = target.op_name or target.name
    try:
        resolve(tfref.tf(), name)
    except AttributeError:
        return f"tf.{name} not available in this release"
    return ""


def _observation(function, case_id, status, detail="", tf=None, tfloss=None, inputs=""):
    return {"function": function, "case": case_id, "status": status, "detail": detail[:600],
            "tf": tf, "tfloss": tfloss, "inputs": inputs}


def run_catalogue(sample: int, only: str = "", progress=None) -> list:
    """Observations of every sampled catalogue case on every function."""
    from tfloss.conformance import catalogue
    from tfloss.conformance.functions import applicable, call_inputs

    from . import runner, targets

    chosen = [t for t in targets.all_targets() + targets.gradient_targets() if only in t.name]
    missing = {t.name: tf_has(t) for t in chosen}
    cases = sample_cases(catalogue.all_cases(), sample)
    out = []
    work = [(case, target) for case in cases for target in applicable(case, chosen)]
    for done, (case, target) in enumerate(work, 1):
        try:
            args, kwargs = call_inputs(case, target)
            inputs = describe_inputs(args, kwargs, case.layout)
        except Exception as exc:  # noqa: BLE001
            inputs = f"(inputs not describable: {exc})"
        if missing[target.name]:
            out.append(_observation(target.name, case.id, "unavailable", missing[target.name], inputs=inputs))
            continue
        began = time.monotonic()
        try:
            record = runner.run_case(case, target)
        except Exception as exc:  # noqa: BLE001 - an API the suite needs that this release lacks
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            detail = f"{type(exc).__name__}: {exc} (at {tb.filename.rsplit('/', 1)[-1]}:{tb.lineno})"
            out.append(_observation(target.name, case.id, "error", detail, inputs=inputs))
            continue
        status = record.status
        if "crashes the interpreter" in record.detail:
            status = "crash"
        out.append(_observation(target.name, case.id, status, record.detail, outcome_dict(record.tf_outcome),
                                outcome_dict(record.tfloss_outcome), inputs))
        out[-1]["seconds"] = round(time.monotonic() - began, 3)
        if progress:
            progress(done, len(work))
    return out


def keras_is_3(v: dict) -> bool:
    """Whether ``tf.keras`` is Keras 3 in this release."""
    return v.get("tf_keras", "").startswith("3.")


def run_keras(sample: int, only: str = "") -> list:
    """Observations of the Keras loss cases (Keras 3 behind tf.keras only)."""
    from . import test_losses

    cases = [c for c in test_losses.KERAS_CASES if only in c[1]]
    if sample > 1:
        cases = cases[::sample]
    out = []
    for case_id, target, args, kwargs, init in cases:
        inputs = describe_inputs(args, kwargs) + (f"; constructed with {init}" if init else "")
        try:
            problem, expected, actual = test_losses.keras_judged(target, args, kwargs, init)
        except Exception as exc:  # noqa: BLE001
            out.append(_observation(target, case_id, "error", f"{type(exc).__name__}: {exc}", inputs=inputs))
            continue
        if problem is not None and case_id in test_losses.KERAS_GAPS:
            status = "skip"
        else:
            status = "pass" if problem is None else "release"
        out.append(_observation(target, case_id, status, problem or "", outcome_dict(expected),
                                outcome_dict(actual), inputs))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.matrix_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--sample", type=int, default=1, help="see the module docstring")
    parser.add_argument("--only", default="", help="only functions whose name contains this")
    opts = parser.parse_args(argv)
    started = time.monotonic()

    from . import modes, runner

    modes.activate(modes.MODES["eager"])
    runner.MODE = modes.MODES["eager"]
    v = versions()
    print(f"matrix worker: TF {v['tensorflow']}, NumPy {v['numpy']}, Keras {v['keras']} (tf.keras {v['tf_keras']})",
          flush=True)
    last = [time.monotonic()]

    def progress(done, total):
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"  catalogue {done}/{total} ({time.monotonic() - started:.0f}s)", flush=True)

    observations = run_catalogue(opts.sample, opts.only, progress)
    keras_note = ""
    if keras_is_3(v):
        observations += run_keras(opts.sample, opts.only)
    else:
        keras_note = f"tf.keras is Keras {v['tf_keras']} (not Keras 3): the Keras losses are not compared"
    result = {"versions": v, "sample": opts.sample, "keras_compared": keras_is_3(v), "keras_note": keras_note,
              "seconds": round(time.monotonic() - started, 1), "observations": observations}
    with open(opts.out + ".tmp", "w") as f:
        json.dump(result, f, default=str)
    import os

    os.replace(opts.out + ".tmp", opts.out)
    print(f"matrix worker: {len(observations)} observations in {result['seconds']}s -> {opts.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
