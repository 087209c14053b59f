"""Catalogue cases for ``tf.compat.v1.losses`` (and, below, Keras' losses).

Each case is ``(id, function, args, kwargs)``; ``function`` names the same attribute path in
``tensorflow`` and in ``tfloss``.  Expected values and errors come from running TF.
"""

from __future__ import annotations

import zlib

import ml_dtypes
import numpy as np

FLOATS = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
V1_REDUCTIONS = ("none", "weighted_sum", "weighted_mean", "weighted_sum_over_batch_size",
                 "weighted_sum_by_nonzero_weights")


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _logits(name, shape, dtype, scale=3.0):
    return (_rng(name + "x").standard_normal(shape) * scale).astype(dtype)


def _probabilities(name, shape, dtype):
    return _rng(name + "z").uniform(size=shape).astype(dtype)


def _onehot(name, shape, dtype):
    classes = shape[-1]
    index = _rng(name + "y").integers(0, classes, size=shape[:-1])
    return np.eye(classes, dtype=np.float64)[index].astype(dtype)


def _sparse(name, shape, dtype=np.int32):
    return _rng(name + "y").integers(0, shape[-1], size=shape[:-1]).astype(dtype)


def _weights(name, kind, loss_shape):
    rng = _rng(name + "w")
    if kind == "default":
        return None
    if kind == "scalar":
        return 0.5
    if kind == "zero":
        return 0.0
    if kind == "all-zero":
        return np.zeros(loss_shape, np.float32)
    if kind == "per-element":
        w = rng.uniform(size=loss_shape).astype(np.float32)
        w.reshape(-1)[:: 3] = 0.0
        return w
    if kind == "per-sample":  # [B, 1, ...]: one weight per leading index
        return rng.uniform(size=loss_shape[:1] + (1,) * (len(loss_shape) - 1)).astype(np.float32)
    if kind == "per-class":  # [1, ..., C]
        return rng.uniform(size=(1,) * (len(loss_shape) - 1) + loss_shape[-1:]).astype(np.float32)
    if kind == "float64":
        return rng.uniform(size=loss_shape).astype(np.float64)
    raise ValueError(kind)


def v1_cases() -> list:
    cases = []
    shapes = [(4, 3), (2, 3, 5), (3,), (2, 2, 2, 3)]
    for loss in ("sigmoid", "softmax", "sparse"):
        function = f"compat.v1.losses.{'sparse_softmax' if loss == 'sparse' else loss}_cross_entropy"
        for dtype_name, dtype in FLOATS.items():
            for shape in shapes:
                loss_shape = shape if loss == "sigmoid" else shape[:-1]
                kinds = ["default", "scalar", "zero", "all-zero", "per-element", "float64"]
                if len(loss_shape) >= 2:
                    kinds += ["per-sample", "per-class"]
                for kind in kinds:
                    for reduction in V1_REDUCTIONS if kind in ("default", "per-element", "zero") else (None,):
                        name = f"{function}-{dtype_name}-{shape}-w{kind}-{reduction}"
                        logits = _logits(name, shape, dtype)
                        if loss == "sigmoid":
                            labels = _probabilities(name, shape, np.float32)
                        elif loss == "softmax":
                            labels = _onehot(name, shape, np.float32)
                        else:
                            labels = _sparse(name, shape)
                        kwargs = {}
                        weights = _weights(name, kind, loss_shape)
                        if weights is not None:
                            kwargs["weights"] = weights
                        if reduction is not None:
                            kwargs["reduction"] = reduction
                        cases.append((name, function, (labels, logits), kwargs))
            if loss != "sparse":
                for smoothing in (0.1, 0.5, -0.2, 1.0, 0.0):
                    name = f"{function}-{dtype_name}-smoothing{smoothing}"
                    shape = (5, 4)
                    labels = (_probabilities if loss == "sigmoid" else _onehot)(name, shape, np.float32)
                    cases.append((name, function, (labels, _logits(name, shape, dtype)),
                                  {"label_smoothing": smoothing, "reduction": "none"}))
                    cases.append((name + "-mean", function, (labels, _logits(name, shape, dtype)),
                                  {"label_smoothing": smoothing}))
            # Empty batches.
            name = f"{function}-{dtype_name}-empty"
            empty_labels = np.zeros((0,), np.int32) if loss == "sparse" else np.zeros((0, 3), np.float32)
            for reduction in V1_REDUCTIONS:
                cases.append((f"{name}-{reduction}", function, (empty_labels, np.zeros((0, 3), dtype)),
                              {"reduction": reduction}))
        # Probabilities / logits at extremes.
        extreme = np.array([[0.0, -100.0, 100.0], [np.inf, 0.0, -np.inf]], np.float32)
        labels = {"sigmoid": np.array([[1.0, 0.0, 1.0], [1.0, 0.5, 0.0]], np.float32),
                  "softmax": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32),
                  "sparse": np.array([1, 0], np.int32)}[loss]
        cases.append((f"{function}-extremes", function, (labels, extreme), {"reduction": "none"}))
        cases.append((f"{function}-extremes-sum", function, (labels, extreme), {"reduction": "weighted_sum"}))
        # Errors.
        x = _logits("err", (3, 3), np.float32)
        good = {"sigmoid": _probabilities("err", (3, 3), np.float32), "softmax": _onehot("err", (3, 3), np.float32),
                "sparse": _sparse("err", (3, 3))}[loss]
        cases.append((f"{function}-bad-reduction", function, (good, x), {"reduction": "mean"}))
        cases.append((f"{function}-labels-none", function, (None, x), {}))
        cases.append((f"{function}-logits-none", function, (good, None), {}))
        cases.append((f"{function}-weights-none", function, (good, x), {"weights": None}))
        cases.append((f"{function}-weights-bad-rank", function, (good, x), {"weights": np.ones((3, 1, 1), np.float32)}))
        cases.append((f"{function}-weights-bad-dim", function, (good, x), {"weights": np.ones((2,) + (1,) * (good.ndim - 1 if loss == "sparse" else (1 if loss == "softmax" else 1)), np.float32)}))
        cases.append((f"{function}-weights-string", function, (good, x), {"weights": "a"}))
        cases.append((f"{function}-positional-reduction", function, (good, x, 1.0) + ((0, None, None, "weighted_sum") if loss != "sparse" else (None, None, "weighted_sum")), {}))
        if loss == "sparse":
            cases.append((f"{function}-float-labels", function, (good.astype(np.float32), x), {}))
            cases.append((f"{function}-labels-trailing-1", function, (good[:, None], x), {"reduction": "none"}))
            cases.append((f"{function}-weights-trailing-1", function, (good, x), {"weights": np.ones((3, 1), np.float32), "reduction": "none"}))
            cases.append((f"{function}-weights-trailing-3", function, (good, x), {"weights": np.ones((3, 3), np.float32)}))
            cases.append((f"{function}-label-out-of-range", function, (np.array([0, 3, 1], np.int32), x), {}))
            cases.append((f"{function}-int64-labels", function, (good.astype(np.int64), x), {}))
        else:
            cases.append((f"{function}-shape-mismatch", function, (good[:, :2], x), {}))
            cases.append((f"{function}-int-labels", function, (good.astype(np.int32), x), {"reduction": "none"}))
            cases.append((f"{function}-python-lists", function, (good.tolist(), x.tolist()), {}))
            cases.append((f"{function}-int-logits", function, (good, np.ones((3, 3), np.int32)), {}))
            cases.append((f"{function}-smoothing-int-labels", function, (good.astype(np.int32), x), {"label_smoothing": 0.1}))
        if loss == "sigmoid":
            cases.append((f"{function}-weights-per-sample-1d", function, (good, x), {"weights": np.ones(3, np.float32)}))
        if loss == "softmax":
            cases.append((f"{function}-weights-per-element-2d", function, (good, x), {"weights": np.ones((3, 3), np.float32)}))
            cases.append((f"{function}-rank1", function, (good[0], x[0]), {"reduction": "none"}))
    # compute_weighted_loss itself.
    function = "compat.v1.losses.compute_weighted_loss"
    for dtype_name, dtype in list(FLOATS.items()) + [("int32", np.dtype(np.int32)), ("int64", np.dtype(np.int64))]:
        for reduction in V1_REDUCTIONS:
            name = f"{function}-{dtype_name}-{reduction}"
            losses = (_rng(name).uniform(size=(4, 3)) * 10).astype(dtype)
            cases.append((name, function, (losses,), {"reduction": reduction}))
            cases.append((name + "-w", function, (losses,), {"weights": _weights(name, "per-element", (4, 3)), "reduction": reduction}))
    cases.append((f"{function}-float64-tiny", function, (np.array([1.0, 2.0, 1e-10]),), {}))
    cases.append((f"{function}-float64-precision", function, (np.array([1.0 + 2**-40, 3.0]),), {"reduction": "none"}))
    cases.append((f"{function}-ints-mean", function, ([1, 2, 4],), {"reduction": "weighted_mean"}))
    cases.append((f"{function}-python-scalar", function, (3.0,), {}))
    cases.append((f"{function}-scalar-weight-zero", function, ([1.0, 2.0],), {"weights": 0.0}))
    cases.append((f"{function}-int-weights", function, ([1.0, 2.0],), {"weights": [1, 0]}))
    cases.append((f"{function}-bool-weights", function, ([1.0, 2.0],), {"weights": [True, False]}))
    cases.append((f"{function}-nan-loss-zero-weight", function, ([np.nan, 2.0],), {"weights": [0.0, 1.0]}))
    cases.append((f"{function}-large", function, (_rng("large").uniform(size=(300001,)).astype(np.float32),), {}))
    cases.append((f"{function}-mean-weights-sum-zero", function, ([1.0, 2.0],), {"weights": [1.0, -1.0], "reduction": "weighted_mean"}))
    cases.append((f"{function}-weights-scalar-array", function, ([1.0, 2.0],), {"weights": np.float64(2.0)}))
    cases.append((f"{function}-weights-bad-rank", function, (np.ones((3, 3), np.float32),), {"weights": np.ones(3, np.float32)}))
    cases.append((f"{function}-weights-mismatch", function, (np.ones(3, np.float32),), {"weights": np.ones(2, np.float32)}))
    cases.append((f"{function}-weights-mismatch-2d", function, (np.ones((3, 3), np.float32),), {"weights": np.ones((2, 3), np.float32)}))
    cases.append((f"{function}-bad-reduction", function, ([1.0],), {"reduction": "sum"}))
    cases.append((f"{function}-none-losses", function, (None,), {}))
    return cases
