"""Record real TF's results under ``enable_op_determinism()`` for the ``"cpu-deterministic"`` tests.

Determinism is a process-wide switch in TF, so this runs in its own process::

    python -m parity.record_targets          # writes tests/data/cpu_deterministic_tf<version>.{npz,json}

Each case's inputs come from a fixed seed and are stored with TF's outputs (values, gradients,
or the error's class and message), so ``tests/test_targets.py`` replays them without TF.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s?")
INF = np.inf


def _cases():
    rng = np.random.default_rng(20261202)
    bf16 = ml_dtypes.bfloat16

    def logits(shape, dtype, scale=3.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    def sparse_labels(shape, classes, dtype=np.int32):
        return rng.integers(0, classes, shape).astype(dtype)

    def soft_labels(shape, dtype):
        z = rng.random(shape)
        return (z / z.sum(-1, keepdims=True)).astype(dtype)

    sparse, dense = "sparse_softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits"
    cases = []
    for dtype, rows, classes in ((np.float32, 300, 10), (np.float64, 200, 10), (np.float16, 200, 10),
                                 (bf16, 200, 10), (np.float32, 20, 1000), (np.float32, 300, 3)):
        name = np.dtype(dtype).name
        cases.append((f"sparse_{name}_{rows}x{classes}", sparse,
                      {"labels": sparse_labels(rows, classes), "logits": logits((rows, classes), dtype)}))
        cases.append((f"dense_{name}_{rows}x{classes}", dense,
                      {"labels": soft_labels((rows, classes), dtype), "logits": logits((rows, classes), dtype)}))
    cases += [
        ("sparse_rank3", sparse, {"labels": sparse_labels((4, 5), 7, np.int64), "logits": logits((4, 5, 7), np.float32)}),
        ("dense_rank3_axis0", dense, {"labels": soft_labels((6, 4, 5), np.float32), "logits": logits((6, 4, 5), np.float32), "axis": 0}),
        ("dense_broadcast_labels", dense, {"labels": soft_labels((1, 6), np.float32), "logits": logits((50, 6), np.float32)}),
        ("sparse_negative_zero_loss", sparse, {"labels": np.array([0, 1], np.int32), "logits": np.array([[0.0, -INF], [-INF, 3.0]], np.float32)}),
        ("sparse_inf_at_label", sparse, {"labels": np.array([1], np.int32), "logits": np.array([[0.0, -INF, 1.0]], np.float32)}),
        ("sparse_all_minus_inf", sparse, {"labels": np.array([0], np.int32), "logits": np.array([[-INF, -INF]], np.float32)}),
        ("sparse_label_too_large", sparse, {"labels": np.array([1, 2, 0], np.int32), "logits": np.zeros((3, 2), np.float32)}),
        ("sparse_label_negative", sparse, {"labels": np.array([0, -1, 0], np.int64), "logits": np.zeros((3, 2), np.float32)}),
        ("sparse_two_bad_labels", sparse, {"labels": np.array([0, 5, -1, 7], np.int32), "logits": np.zeros((4, 3), np.float32)}),
        ("sparse_zero_classes", sparse, {"labels": np.array([0, 0], np.int32), "logits": np.zeros((2, 0), np.float32)}),
        ("sparse_empty_batch", sparse, {"labels": np.zeros((0,), np.int32), "logits": np.zeros((0, 3), np.float32)}),
        ("dense_zero_times_minus_inf", dense, {"labels": np.array([[1.0, 0.0, 0.0]], np.float32), "logits": np.array([[0.0, -INF, 1.0]], np.float32)}),
        ("dense_negative_zero_loss", dense, {"labels": np.array([[1.0, 0.0]], np.float32), "logits": np.array([[5.0, -200.0]], np.float32)}),
        ("dense_incompatible_shapes", dense, {"labels": np.array([[1.0, 0.0]], np.float32), "logits": np.zeros((1, 3), np.float32)}),
        ("dense_zero_classes", dense, {"labels": np.zeros((2, 0), np.float32), "logits": np.zeros((2, 0), np.float32)}),
        ("dense_empty_batch", dense, {"labels": np.zeros((0, 3), np.float32), "logits": np.zeros((0, 3), np.float32)}),
    ]
    gradients = []
    for op in (sparse, dense):
        family = "sparse" if op == sparse else "dense"
        for dtype in (np.float32, np.float64):
            name = np.dtype(dtype).name
            labels = sparse_labels(200, 10) if op == sparse else soft_labels((200, 10), dtype)
            gradients.append((f"grad_{family}_{name}", op, {"labels": labels, "logits": logits((200, 10), dtype)}, None))
            upstream = rng.standard_normal(200).astype(dtype)
            gradients.append((f"grad_{family}_{name}_upstream", op, {"labels": labels, "logits": logits((200, 10), dtype)}, upstream))
    for shape in ((1, 10), (200, 1)):
        labels = soft_labels(shape, np.float32)
        gradients.append((f"grad_dense_float32_labels_{shape[0]}x{shape[1]}", dense,
                          {"labels": labels, "logits": logits((200, 10), np.float32)}, None))
    return cases, gradients


def _record():
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    cases, gradients = _cases()
    arrays, index = {}, []

    def store(key, value):
        arrays[key] = np.asarray(value)
        return key

    def outcome(entry, run):
        try:
            result = run()
        except Exception as error:  # noqa: BLE001 - every TF error is recorded as data
            entry["error"] = [type(error).__name__, _FUNCTION_NODE.sub("", str(error))]
            return
        return result

    for name, op, kwargs in cases:
        entry = {"name": name, "op": op, "inputs": {}, "options": {}}
        for key, value in kwargs.items():
            if isinstance(value, np.ndarray):
                entry["inputs"][key] = store(f"{name}/{key}", value)
            else:
                entry["options"][key] = value
        loss = outcome(entry, lambda: getattr(tf.nn, op)(**kwargs).numpy())
        if loss is not None:
            entry["loss"] = store(f"{name}/loss", loss)
        index.append(entry)
    for name, op, kwargs, upstream in gradients:
        entry = {"name": name, "op": op, "inputs": {k: store(f"{name}/{k}", v) for k, v in kwargs.items()},
                 "options": {}, "gradient": True}
        if upstream is not None:
            entry["grad_loss"] = store(f"{name}/grad_loss", upstream)
        logits = tf.constant(kwargs["logits"])
        labels = tf.constant(kwargs["labels"])
        watched = [logits, labels] if op == "softmax_cross_entropy_with_logits" else [logits]
        with tf.GradientTape() as tape:
            tape.watch(watched)
            loss = getattr(tf.nn, op)(labels=labels, logits=logits)
        grads = tape.gradient(loss, watched, output_gradients=None if upstream is None else tf.constant(upstream))
        entry["loss"] = store(f"{name}/loss", loss.numpy())
        entry["grad_logits"] = store(f"{name}/grad_logits", grads[0].numpy())
        if len(grads) > 1:
            entry["grad_labels"] = store(f"{name}/grad_labels", grads[1].numpy())
        index.append(entry)
    stem = DATA / f"cpu_deterministic_tf{tf.__version__}"
    # bfloat16 is stored as its bits (npz cannot hold ml_dtypes); the index says which keys.
    bits = sorted(k for k, v in arrays.items() if v.dtype == ml_dtypes.bfloat16)
    np.savez_compressed(f"{stem}.npz", **{k: v.view(np.uint16) if k in bits else v for k, v in arrays.items()})
    meta = {"tensorflow": tf.__version__, "determinism": True, "bfloat16_keys": bits, "cases": index}
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {stem}.npz/.json: {len(index)} cases")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(_record())
