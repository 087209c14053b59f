"""Record real TF's results under ``tf.function(jit_compile=True)`` for the ``"xla-cpu"`` tests.

::

    python -m parity.record_xla            # writes tests/data/xla_cpu_tf<version>.{npz,json}
    python -m parity.record_xla --float16  # the float16 cases only, on this CPU: writes
                                           # tests/data/xla_cpu_float16_<cpu>_tf<version>.{npz,json}
    python -m parity.record_xla --ynn      # float32 softmax losses just below and from 32768 elements
                                           # (XLA's YNNPACK row sums): tests/data/xla_cpu_ynn_tf<version>.*
    python -m parity.record_xla --bfloat16 # the sparse op's bfloat16 gradients:
                                           # tests/data/xla_cpu_bfloat16_grad_tf<version>.*
    python -m parity.record_xla --pos-weight  # the weighted op's gradients with a tensor pos_weight:
                                              # tests/data/xla_cpu_pos_weight_grad_tf<version>.*

XLA's float16 arithmetic depends on the CPU (its multiply-adds are fused only with AVX512-FP16),
so the float16 cases are also recorded on a CPU of the other kind; ``<cpu>`` is ``fp16`` or
``no_fp16``, and the manifest lists the CPU's features.

Each case's inputs come from a fixed seed and are stored with what XLA returned (the loss, and
for a gradient case the tape's gradients, computed inside the compiled function) or the error's
class and message, so ``tests/test_xla_cpu.py`` replays them without TF.  Array inputs are the
compiled function's arguments; other inputs are traced as constants.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

from .record import _cpu_features
from .record_targets import _FUNCTION_NODE

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
INF, NAN = np.inf, np.nan
SIGMOID, WEIGHTED = "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits"
DENSE, SPARSE = "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits"


def _cases():
    """``(name, op, inputs, wrt, upstream)``: ``wrt`` names the inputs differentiated (empty for
    the forward op alone), ``upstream`` the tape's output gradient (None: ones)."""
    rng = np.random.default_rng(20261203)
    bf16 = ml_dtypes.bfloat16
    dtypes = (np.float32, np.float64, np.float16, bf16)

    def logits(shape, dtype, scale=3.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    def soft_labels(shape, dtype):
        z = rng.random(shape)
        return (z / z.sum(-1, keepdims=True)).astype(dtype)

    cases = []
    for dtype in dtypes:
        name = np.dtype(dtype).name
        x, z = logits(400, dtype), rng.random(400).astype(dtype)
        cases.append((f"sigmoid_{name}", SIGMOID, {"labels": z, "logits": x}, (), None))
        cases.append((f"weighted_{name}", WEIGHTED, {"labels": z, "logits": x, "pos_weight": 2.5}, (), None))
        cases.append((f"grad_sigmoid_{name}", SIGMOID, {"labels": z, "logits": x}, ("labels", "logits"),
                      rng.uniform(0.5, 2, 400).astype(dtype)))
        cases.append((f"grad_weighted_{name}", WEIGHTED, {"labels": z, "logits": x, "pos_weight": 2.5},
                      ("labels", "logits"), rng.uniform(0.5, 2, 400).astype(dtype)))
        for classes in (1, 5, 30, 32, 37, 100):
            rows = max(4, 600 // classes)
            cases.append((f"dense_{name}_{rows}x{classes}", DENSE,
                          {"labels": soft_labels((rows, classes), dtype), "logits": logits((rows, classes), dtype)}, (), None))
            cases.append((f"sparse_{name}_{rows}x{classes}", SPARSE,
                          {"labels": rng.integers(0, classes, rows).astype(np.int32),
                           "logits": logits((rows, classes), dtype)}, (), None))
        if dtype != bf16:  # bfloat16 sparse gradients: _bfloat16_grad_cases (recorded on another CPU)
            cases.append((f"grad_sparse_{name}", SPARSE, {"labels": rng.integers(0, 10, 60).astype(np.int64),
                                                         "logits": logits((60, 10), dtype)}, ("logits",), None))
        cases.append((f"grad_dense_{name}", DENSE, {"labels": soft_labels((60, 31), dtype), "logits": logits((60, 31), dtype)},
                      ("labels", "logits"), rng.uniform(0.5, 2, 60).astype(dtype)))
    cases += [
        # The lowering's select: a zero label's term is 0 even where its log-probability is -inf.
        ("dense_zero_label_at_minus_inf", DENSE, {"labels": np.array([[1.0, 0.0, 0.0]], np.float32),
                                                  "logits": np.array([[0.0, -INF, 1.0]], np.float32)}, (), None),
        ("grad_dense_zero_label_at_minus_inf", DENSE, {"labels": np.array([[1.0, 0.0, 0.0]], np.float32),
                                                       "logits": np.array([[0.0, -INF, 1.0]], np.float32)},
         ("labels", "logits"), None),
        # Out-of-range sparse labels: one-hot plus a NaN row, no error.
        ("sparse_label_too_large", SPARSE, {"labels": np.array([1, 2, 0], np.int32), "logits": np.zeros((3, 2), np.float32)}, (), None),
        ("sparse_label_negative", SPARSE, {"labels": np.array([0, -1, 0], np.int64), "logits": np.zeros((3, 2), np.float32)}, (), None),
        ("grad_sparse_bad_label", SPARSE, {"labels": np.array([0, 3, 1], np.int32),
                                           "logits": np.array([[0.0, 1.0, 2.0]] * 3, np.float32)}, ("logits",), None),
        # One class: XLA's reduction over one element is the element itself, a -0.0 included.
        ("dense_one_class", DENSE, {"labels": np.array([[1.0], [0.0], [0.5]], np.float32),
                                    "logits": np.array([[3.0], [-1.0], [0.0]], np.float32)}, (), None),
        ("sparse_one_class", SPARSE, {"labels": np.array([0, 0], np.int32), "logits": np.array([[2.0], [-7.0]], np.float32)}, (), None),
        # Flush-to-zero: float32 subnormal inputs read as zero; float16 keeps its subnormals.
        ("sigmoid_subnormal_float32", SIGMOID, {"labels": np.array([1e-40, 0.5, 1.0], np.float32),
                                                "logits": np.array([1e-39, -1e-40, -87.5], np.float32)}, (), None),
        ("sigmoid_subnormal_float16", SIGMOID, {"labels": np.array([1e-7, 0.5, 3e-5], np.float16),
                                                "logits": np.array([2e-7, -1e-6, 6e-5], np.float16)}, (), None),
        ("sigmoid_special_values", SIGMOID, {"labels": np.array([0.5, 0.5, 0.5, 1.0], np.float32),
                                             "logits": np.array([INF, -INF, NAN, 0.0], np.float32)}, (), None),
        ("dense_empty_batch", DENSE, {"labels": np.zeros((0, 3), np.float32), "logits": np.zeros((0, 3), np.float32)}, (), None),
        # pos_weight 0: (1 - z)*x + (1 - z)*(-x) cancels to 0 only where nothing is fused.
        ("weighted_float16_cancelling", WEIGHTED, {"labels": np.array([0.3, 0.7], np.float16),
                                                   "logits": np.array([-20.0, -13.0], np.float16), "pos_weight": 0.0},
         (), None),
        # Errors XLA raises while compiling.
        ("sparse_zero_classes", SPARSE, {"labels": np.array([0, 0], np.int32), "logits": np.zeros((2, 0), np.float32)}, (), None),
    ]
    return cases


def _ynn_cases():
    """Sparse and dense float32 losses on either side of 32768 logits, where XLA starts handing the
    sum of the exponentials to YNNPACK: 2520 x 13 (32760) sums in XLA's loop, 2521 x 13 (32773) and
    2048 x 16 (32768) in YNNPACK."""
    rng = np.random.default_rng(20261204)
    cases = []
    for rows, classes, wrt in ((2520, 13, ()), (2521, 13, ("logits",))):
        x = (rng.standard_normal((rows, classes)) * 30).astype(np.float32)
        labels = rng.integers(0, classes, rows).astype(np.int32)
        cases.append((f"ynn_sparse_float32_{rows}x{classes}", SPARSE, {"labels": labels, "logits": x}, wrt, None))
    x = (rng.standard_normal((2048, 16)) * 30).astype(np.float32)
    z = rng.random((2048, 16))
    cases.append(("ynn_dense_float32_2048x16", DENSE, {"labels": (z / z.sum(-1, keepdims=True)).astype(np.float32),
                                                       "logits": x}, (), None))
    return cases


def _bfloat16_grad_cases():
    """The sparse op's gradient on bfloat16 logits: unit and random upstream gradients, rows of 7
    to 8193 classes (the last past YNNPACK's threshold), 3-D logits, and a bad label's NaN row."""
    rng = np.random.default_rng(20261205)
    bf16 = ml_dtypes.bfloat16
    cases = []
    for rows, classes in ((60, 10), (33, 7), (8, 300), (5, 8193)):
        x = (rng.standard_normal((rows, classes)) * 3).astype(bf16)
        labels = rng.integers(0, classes, rows).astype(np.int32)
        cases.append((f"grad_sparse_bfloat16_{rows}x{classes}", SPARSE, {"labels": labels, "logits": x}, ("logits",), None))
        cases.append((f"grad_sparse_bfloat16_{rows}x{classes}_upstream", SPARSE, {"labels": labels, "logits": x},
                      ("logits",), rng.uniform(-2, 2, rows).astype(bf16)))
    cases.append(("grad_sparse_bfloat16_3d", SPARSE, {"labels": rng.integers(0, 6, (4, 5)).astype(np.int64),
                                                      "logits": (rng.standard_normal((4, 5, 6)) * 3).astype(bf16)},
                  ("logits",), None))
    cases.append(("grad_sparse_bfloat16_bad_label", SPARSE, {"labels": np.array([0, 3, 1], np.int32),
                                                             "logits": np.array([[0.0, 1.0, 2.0]] * 3, bf16)}, ("logits",), None))
    return cases


def _pos_weight_grad_cases():
    """The weighted op's gradients with a tensor pos_weight (watched by the tape, so it gets a
    gradient: ``reduce_sum(g * softplus * z)`` over its broadcast axes), in every dtype: shaped
    ``(C,)`` (a column sum), like the logits (no sum), ``(B.., 1)`` (a row sum), ``(C,)`` against
    rank 3 (a sum over two axes) and against 40 rows (XLA's windows of 32); unit and random upstream
    gradients.  The last case, 27 float32 rows, is one XLA's vectorized loop sums out of order:
    tfloss refuses it."""
    rng = np.random.default_rng(20261206)
    bf16 = ml_dtypes.bfloat16
    cases = []
    for d, dtype in enumerate((np.float16, bf16, np.float32, np.float64)):
        name = np.dtype(dtype).name
        for k, (kind, shape, pw_shape) in enumerate((("C", (6, 7), (7,)), ("full", (5, 4), (5, 4)), ("B1", (4, 9), (4, 1)),
                                                     ("rank3_C", (2, 3, 5), (5,)), ("windows_C", (40, 2), (2,)))):
            x = (rng.standard_normal(shape) * 3).astype(dtype)
            inputs = {"labels": rng.random(shape).astype(dtype), "logits": x,
                      "pos_weight": rng.uniform(0.1, 4.0, pw_shape).astype(dtype)}
            # each kind runs with the unit upstream gradient in two dtypes, a random one in the others
            upstream = rng.uniform(-2, 2, shape).astype(dtype) if (d + k) % 2 else None
            cases.append((f"grad_weighted_pw_{kind}_{name}{'_upstream' if upstream is not None else ''}", WEIGHTED,
                          inputs, ("labels", "logits", "pos_weight"), upstream))
    x = (rng.standard_normal((27, 9)) * 3).astype(np.float32)
    cases.append(("grad_weighted_pw_vectorized_float32", WEIGHTED,
                  {"labels": rng.random((27, 9)).astype(np.float32), "logits": x,
                   "pos_weight": rng.uniform(0.1, 4.0, 9).astype(np.float32)},
                  ("labels", "logits", "pos_weight"), rng.uniform(-2, 2, (27, 9)).astype(np.float32)))
    return cases


def _record(float16_only=False, ynn=False, bfloat16=False, pos_weight=False):
    import tensorflow as tf

    arrays, index = {}, []
    cases = (_ynn_cases() if ynn else _bfloat16_grad_cases() if bfloat16 else _pos_weight_grad_cases() if pos_weight
             else _cases())
    if float16_only:
        cases = [case for case in cases if any(isinstance(v, np.ndarray) and v.dtype == np.float16 for v in case[2].values())]

    def store(key, value):
        arrays[key] = np.asarray(value)
        return key

    for name, op, kwargs, wrt, upstream in cases:
        entry = {"name": name, "op": op, "inputs": {}, "options": {}, "wrt": list(wrt)}
        tensors = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
        for key, value in kwargs.items():
            if key in tensors:
                entry["inputs"][key] = store(f"{name}/{key}", value)
            else:
                entry["options"][key] = value
        if upstream is not None:
            entry["grad_loss"] = store(f"{name}/grad_loss", upstream)
        names = sorted(tensors)

        def body(*args):
            inputs = dict(zip(names, args), **entry["options"])
            if not wrt:
                return (getattr(tf.nn, op)(**inputs),)
            with tf.GradientTape() as tape:
                watched = [inputs[k] for k in wrt]
                tape.watch(watched)
                loss = getattr(tf.nn, op)(**inputs)
            return (loss, *tape.gradient(loss, watched, output_gradients=None if upstream is None else tf.constant(upstream)))

        try:
            outputs = tf.function(body, jit_compile=True, autograph=False)(*(tf.constant(tensors[k]) for k in names))
        except Exception as error:  # noqa: BLE001 - every TF error is recorded as data
            message = _FUNCTION_NODE.sub("", str(error)).split("\n\nStack trace for op definition")[0]
            entry["error"] = [type(error).__name__, message]
        else:
            entry["loss"] = store(f"{name}/loss", outputs[0].numpy())
            for key, value in zip(wrt, outputs[1:]):
                entry[f"grad_{key}"] = store(f"{name}/grad_{key}", value.numpy())
        index.append(entry)
    meta = {"tensorflow": tf.__version__, "jit_compile": True}
    if float16_only:
        from tfloss._targets.xla_cpu import native_float16

        stem = DATA / f"xla_cpu_float16_{'fp16' if native_float16() else 'no_fp16'}_tf{tf.__version__}"
        meta["cpu_features"] = _cpu_features()
    elif ynn:
        stem = DATA / f"xla_cpu_ynn_tf{tf.__version__}"
        meta["cpu_features"] = _cpu_features()
    elif bfloat16:
        stem = DATA / f"xla_cpu_bfloat16_grad_tf{tf.__version__}"
        meta["cpu_features"] = _cpu_features()
    elif pos_weight:
        stem = DATA / f"xla_cpu_pos_weight_grad_tf{tf.__version__}"
        meta["cpu_features"] = _cpu_features()
    else:
        stem = DATA / f"xla_cpu_tf{tf.__version__}"
    bits = sorted(k for k, v in arrays.items() if v.dtype == ml_dtypes.bfloat16)
    np.savez_compressed(f"{stem}.npz", **{k: v.view(np.uint16) if k in bits else v for k, v in arrays.items()})
    meta.update(bfloat16_keys=bits, cases=index)
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {stem}.npz/.json: {len(index)} cases")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(_record(float16_only="--float16" in sys.argv[1:], ynn="--ynn" in sys.argv[1:],
                     bfloat16="--bfloat16" in sys.argv[1:], pos_weight="--pos-weight" in sys.argv[1:]))
