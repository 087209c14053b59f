"""Measure where tf_keras (Keras 2, ``TF_USE_LEGACY_KERAS=1``) and Keras 3 part on the cross-entropies.

Run by hand, never by the tests or CI (neither environment has tf_keras):

    pip install --no-deps --target /tmp/tfk-site tf_keras==2.21.0
    .venv-tf2.21.0/bin/python docs/keras2_vs_keras3.py --tf-keras-path /tmp/tfk-site

It starts two interpreters on the same inputs: one with Keras 3 as ``tf.keras`` (TF 2.21's
default; tfloss's answers are taken there too), one with ``TF_USE_LEGACY_KERAS=1`` and tf_keras
on the path, so ``tf.keras`` is Keras 2.  Both call the same code through ``tf.keras``.  It
prints one Markdown table; ``docs/comparison.md`` ("Keras 2 (tf_keras) against Keras 3") is its
output of 2026-12-02.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Probabilities against a true label of 1, one per row: a loss of -log(p).
PROBABILITIES = [0.0, 1e-9, 1e-7, 1e-3, 0.5, 1.0]


def _text(value) -> str:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "USO":
        return repr(array.item())
    if array.ndim == 0:
        return f"{array!s} ({array.dtype.name})"
    return f"{np.array2string(array, separator=', ')} ({array.dtype.name})"


def _attempt(function) -> str:
    try:
        return _text(function())
    except Exception as error:  # the message is the measurement
        return f"{type(error).__name__}: {error}"


def measure(with_tfloss: bool) -> dict:
    """Every measurement, through ``tf.keras`` (whichever Keras that is in this interpreter)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    keras = tf.keras
    modules = {"keras": keras}
    if with_tfloss:
        import tfloss

        modules["tfloss"] = tfloss.keras
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        import tf_keras

        out = {"version": tf_keras.__version__}
    else:
        out = {"version": keras.__version__}
    p = np.array(PROBABILITIES, np.float32).reshape(-1, 1)
    ones = np.ones_like(p)
    p2 = np.concatenate([p, 1 - p], axis=1)  # categorical: class 0 has probability p
    onehot = np.tile(np.array([[1.0, 0.0]], np.float32), (len(PROBABILITIES), 1))
    labels = np.array([0, 1])
    rows = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], np.float32)
    for side, k in modules.items():
        losses = k.losses
        out[side] = {
            "binary -log(p)": _attempt(lambda: losses.binary_crossentropy(ones, p)),
            "binary -log(1-p), label 0": _attempt(lambda: losses.binary_crossentropy(np.zeros_like(p), 1 - p)),
            "categorical -log(p)": _attempt(lambda: losses.categorical_crossentropy(onehot, p2)),
            "sparse -log(p)": _attempt(lambda: losses.sparse_categorical_crossentropy(np.zeros(len(p), np.int64), p2)),
            "default reduction": _attempt(lambda: losses.BinaryCrossentropy().reduction),
            "reduction='auto'": _attempt(lambda: losses.BinaryCrossentropy(reduction="auto")(ones, p)),
            "reduction='sum_over_batch_size'": _attempt(
                lambda: losses.BinaryCrossentropy(reduction="sum_over_batch_size")(ones, p)),
            "reduction='mean_with_sample_weight'": _attempt(
                lambda: losses.BinaryCrossentropy(reduction="mean_with_sample_weight")(ones, p)),
            "sparse signature": str(inspect.signature(losses.sparse_categorical_crossentropy)),
            "sparse positional 4th = 1": _attempt(lambda: losses.sparse_categorical_crossentropy(labels, rows, False, 1)),
            "sparse ignore_class=1": _attempt(lambda: losses.sparse_categorical_crossentropy(labels, rows, ignore_class=1)),
            "sparse ignore_class=1, every label 1": _attempt(
                lambda: losses.sparse_categorical_crossentropy(np.array([1, 1]), rows, ignore_class=1)),
            "SparseCategoricalCrossentropy(ignore_class=1), every label 1": _attempt(
                lambda: losses.SparseCategoricalCrossentropy(ignore_class=1)(np.array([1, 1]), rows)),
            "the same, reduction='sum'": _attempt(
                lambda: losses.SparseCategoricalCrossentropy(ignore_class=1, reduction="sum")(np.array([1, 1]), rows)),
            "the same, sample_weight=[0.5, 2]": _attempt(
                lambda: losses.SparseCategoricalCrossentropy(ignore_class=1)(np.array([1, 1]), rows,
                                                                            sample_weight=np.array([0.5, 2.0]))),
            "the same, from_logits=True": _attempt(
                lambda: losses.SparseCategoricalCrossentropy(ignore_class=1, from_logits=True)(np.array([1, 1]), rows)),
            "float64 inputs, loss object": _attempt(
                lambda: losses.BinaryCrossentropy()(ones.astype(np.float64), p.astype(np.float64))),
        }
        if side == "keras":
            # Keras' own softmax remembers its logits in both versions (the stable path).
            logits = np.array([[20.0, -20.0, 0.0]], np.float32)
            y = np.array([[0.0, 1.0, 0.0]], np.float32)
            out[side]["categorical, keras softmax of [20, -20, 0]"] = _attempt(
                lambda: losses.categorical_crossentropy(y, keras.activations.softmax(tf.constant(logits))))
            out[side]["categorical, tf.nn.softmax of [20, -20, 0]"] = _attempt(
                lambda: losses.categorical_crossentropy(y, tf.nn.softmax(logits)))
    return out


def _run(side: str, tf_keras_path: str | None) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    path = [str(ROOT)]
    if side == "keras2":
        env["TF_USE_LEGACY_KERAS"] = "1"
        if tf_keras_path:
            path.insert(0, tf_keras_path)
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    env["PYTHONPATH"] = os.pathsep.join(path + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run([sys.executable, __file__, "--side", side], env=env, capture_output=True, text=True,
                            check=True, cwd=str(ROOT))
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf-keras-path", help="a folder holding tf_keras (if it is not installed)")
    parser.add_argument("--side", choices=["keras2", "keras3"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(with_tfloss=args.side == "keras3")))
        return
    keras2, keras3 = _run("keras2", args.tf_keras_path), _run("keras3", args.tf_keras_path)
    print(f"p = {PROBABILITIES} (float32), one per row\n")
    print(f"| measurement | tf_keras {keras2['version']} | Keras {keras3['version']} | tfloss |")
    print("|---|---|---|---|")
    for key in keras3["keras"]:
        cells = [keras2["keras"].get(key, ""), keras3["keras"][key], keras3.get("tfloss", {}).get(key, "")]
        print(f"| {key} | " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")


if __name__ == "__main__":
    main()
