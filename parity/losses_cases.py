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


# --------------------------------------------------------------------------------------------
# Keras 3 (tf.keras in TF 2.21)


class Activation:
    """An argument built on each side before the call: ``keras.ops.softmax(x)`` / ``sigmoid`` (which
    remember their logits) or ``tf.nn.softmax(x)`` / ``tf.math.sigmoid`` (which do not)."""

    def __init__(self, kind: str, logits: np.ndarray, axis: int = -1):
        self.kind, self.logits, self.axis = kind, logits, axis

    def __repr__(self) -> str:
        return f"Activation({self.kind}, {self.logits.dtype}{self.logits.shape})"


KERAS_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def _keras_labels(kind: str, name: str, shape: tuple, dtype=np.float32):
    if kind == "binary":
        return (_rng(name + "z").uniform(size=shape) > 0.5).astype(dtype)
    if kind == "categorical":
        return _onehot(name, shape, dtype)
    return _sparse(name, shape, np.int32)


def _keras_predictions(kind: str, name: str, shape: tuple, dtype, from_logits: bool):
    if from_logits:
        return _logits(name, shape, dtype)
    rng = _rng(name + "p")
    if kind == "binary":
        return rng.uniform(size=shape).astype(dtype)
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]) if shape else rng.uniform(size=shape)
    return p.astype(dtype)


KERAS_FUNCTIONS = {"binary": "binary_crossentropy", "categorical": "categorical_crossentropy",
                   "sparse": "sparse_categorical_crossentropy"}
KERAS_CLASSES = {"binary": "BinaryCrossentropy", "categorical": "CategoricalCrossentropy",
                 "sparse": "SparseCategoricalCrossentropy"}


def keras_cases() -> list:
    """``(id, target, args, kwargs, init)``: ``target`` is ``keras.losses.<function>`` (``init``
    None) or ``keras.losses.<Class>`` (built with ``init``, called with args and kwargs)."""
    cases = []
    shapes = [(4, 3), (2, 3, 5), (3,), (2, 2, 2, 3)]
    for kind in ("binary", "categorical", "sparse"):
        fn, cls = f"keras.losses.{KERAS_FUNCTIONS[kind]}", f"keras.losses.{KERAS_CLASSES[kind]}"
        for dtype_name, dtype in FLOATS.items():
            for shape in shapes:
                for from_logits in (False, True):
                    name = f"{kind}-{dtype_name}-{shape}-logits{from_logits}"
                    y = _keras_labels(kind, name, shape)
                    p = _keras_predictions(kind, name, shape, dtype, from_logits)
                    if kind == "sparse" and len(shape) == 1:
                        continue  # rank-0 labels: covered by the error cases
                    cases.append((f"fn-{name}", fn, (y, p), {"from_logits": from_logits}, None))
                    cases.append((f"cls-{name}", cls, (y, p), {}, {"from_logits": from_logits}))
            # Probabilities at exactly 0 and 1.
            name = f"{kind}-{dtype_name}-zero-one"
            p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
            y = {"binary": np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], np.float32),
                 "categorical": np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32),
                 "sparse": np.array([1, 2], np.int32)}[kind]
            cases.append((f"fn-{name}", fn, (y, p), {}, None))
            cases.append((f"cls-{name}", cls, (y, p), {}, {"reduction": None}))
            # Empty batch, every reduction.
            empty_y = np.zeros((0,), np.int32) if kind == "sparse" else np.zeros((0, 3), np.float32)
            for reduction in KERAS_REDUCTIONS:
                cases.append((f"cls-{kind}-{dtype_name}-empty-{reduction}", cls, (empty_y, np.zeros((0, 3), dtype)), {},
                              {"reduction": reduction}))
            # dtype argument.
            name = f"{kind}-{dtype_name}-dtype-arg"
            y, p = _keras_labels(kind, name, (4, 3)), _keras_predictions(kind, name, (4, 3), np.float32, False)
            cases.append((f"cls-{name}", cls, (y, p.astype(dtype)), {}, {"dtype": dtype_name}))
        # Reductions and sample weights.
        for reduction in KERAS_REDUCTIONS:
            for weight_kind in ("none", "scalar", "per-sample", "per-sample-column", "per-element", "all-zero", "per-timestep"):
                shape = (4, 3, 5) if weight_kind == "per-timestep" else (4, 3)
                name = f"{kind}-{reduction}-{weight_kind}"
                y = _keras_labels(kind, name, shape)
                p = _keras_predictions(kind, name, shape, np.float32, False)
                loss_shape = shape[:-1]  # per-sample losses after the mean over the last axis
                rng = _rng(name + "w")
                sw = {"none": None, "scalar": 0.7, "per-sample": rng.uniform(size=shape[:1]),
                      "per-sample-column": rng.uniform(size=(shape[0], 1)),
                      "per-element": rng.uniform(size=loss_shape), "all-zero": np.zeros(shape[:1]),
                      "per-timestep": rng.uniform(size=shape[:1])}[weight_kind]
                kwargs = {} if sw is None else {"sample_weight": sw}
                cases.append((f"cls-{name}", cls, (y, p), kwargs, {"reduction": reduction}))
        # Per-timestep trap where B == T (silently weights the time steps) and B != T (error).
        name = f"{kind}-per-timestep-square"
        y, p = _keras_labels(kind, name, (3, 3, 4)), _keras_predictions(kind, name, (3, 3, 4), np.float32, False)
        cases.append((f"cls-{name}", cls, (y, p), {"sample_weight": np.array([1.0, 2.0, 3.0])}, {}))
        # Label smoothing (not for sparse: no such argument in 3.15.1).
        if kind != "sparse":
            for smoothing in (0.1, -0.2, 1.0):
                for axis in (-1, 0):
                    name = f"{kind}-smoothing{smoothing}-axis{axis}"
                    y, p = _keras_labels(kind, name, (2, 3)), _keras_predictions(kind, name, (2, 3), np.float32, False)
                    cases.append((f"fn-{name}", fn, (y, p), {"label_smoothing": smoothing, "axis": axis}, None))
                    cases.append((f"fn-{name}-logits", fn, (y, _logits(name, (2, 3), np.float32)),
                                  {"label_smoothing": smoothing, "axis": axis, "from_logits": True}, None))
            cases.append((f"cls-{kind}-smoothing-init", cls, (_keras_labels(kind, "s", (4, 3)), _keras_predictions(kind, "s", (4, 3), np.float32, False)), {}, {"label_smoothing": 0.2}))
        else:
            cases.append((f"cls-{kind}-smoothing-init", cls, (np.array([0, 1]), np.array([[0.5, 0.5], [0.2, 0.8]])), {}, {"label_smoothing": 0.2}))
        # Errors.
        y, p = _keras_labels(kind, "err", (2, 3)), _keras_predictions(kind, "err", (2, 3), np.float32, False)
        cases.append((f"cls-{kind}-bad-reduction", cls, (y, p), {}, {"reduction": "auto"}))
        cases.append((f"fn-{kind}-none", fn, (y, None), {}, None))
        cases.append((f"fn-{kind}-axis-true", fn, (y, p), {"axis": True}, None))
        cases.append((f"fn-{kind}-axis-0", fn, (y, p), {"axis": 0}, None))
        cases.append((f"fn-{kind}-axis-5", fn, (y, p), {"axis": 5}, None))
        if kind != "sparse":
            cases.append((f"fn-{kind}-shape-mismatch", fn, (np.ones((2, 4), np.float32), p), {}, None))
            cases.append((f"fn-{kind}-rank-mismatch", fn, (y[:, 0], p[:, :1]), {}, None))
            cases.append((f"cls-{kind}-rank-fix", cls, (y[:, 0], p[:, :1]), {}, {"reduction": None}))
            cases.append((f"fn-{kind}-scalar", fn, (np.float32(1.0), np.float32(0.5)), {}, None))
            cases.append((f"fn-{kind}-lists", fn, (y.tolist(), p.tolist()), {}, None))
            cases.append((f"fn-{kind}-int-labels", fn, (y.astype(np.int32), p), {}, None))
            cases.append((f"fn-{kind}-float64", fn, (y, p.astype(np.float64)), {}, None))
        else:
            cases.append((f"fn-{kind}-float-labels", fn, (np.array([0.0, 1.7]), p), {}, None))
            cases.append((f"cls-{kind}-float-labels", cls, (np.array([0.0, 1.7]), p), {}, {}))
            cases.append((f"fn-{kind}-label-out-of-range", fn, (np.array([3, 0]), p), {}, None))
            cases.append((f"fn-{kind}-shape-mismatch", fn, (np.array([0, 1, 2]), p), {}, None))
            cases.append((f"fn-{kind}-rank-mismatch", fn, (np.array([[[0]]]), p), {}, None))
            cases.append((f"fn-{kind}-trailing-1", fn, (np.array([[0], [2]]), p), {}, None))
            cases.append((f"fn-{kind}-lists", fn, ([0, 1], p.tolist()), {}, None))
            for ignore in (0, 1, -1):
                labels = np.array([0, 1, 1, 2, 0])
                probs = _keras_predictions(kind, f"ign{ignore}", (5, 3), np.float32, False)
                for reduction in KERAS_REDUCTIONS:
                    cases.append((f"cls-{kind}-ignore{ignore}-{reduction}", cls, (labels, probs), {},
                                  {"ignore_class": ignore, "reduction": reduction}))
                    cases.append((f"cls-{kind}-ignore{ignore}-{reduction}-sw", cls, (labels, probs),
                                  {"sample_weight": np.array([1.0, 2.0, 4.0, 0.5, 1.0])},
                                  {"ignore_class": ignore, "reduction": reduction}))
                cases.append((f"fn-{kind}-ignore{ignore}", fn, (labels, probs), {"ignore_class": ignore}, None))
            cases.append((f"cls-{kind}-all-ignored", cls, (np.array([1, 1]), p), {}, {"ignore_class": 1}))
            cases.append((f"cls-{kind}-ignore-logits", cls, (np.array([0, 1]), Activation("keras.softmax", _logits("il", (2, 3), np.float32))), {}, {"ignore_class": 1}))
        # The logits history (Keras' _keras_logits).
        act = "sigmoid" if kind == "binary" else "softmax"
        x = np.array([[20.0, -20.0, 0.0], [3.0, -3.0, 0.5]], np.float32)
        y = {"binary": np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], np.float32),
             "categorical": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32),
             "sparse": np.array([1, 0], np.int32)}[kind]
        for source in (f"keras.{act}", f"tf.{act}"):
            for dtype_name in ("float32", "float16", "float64"):
                arg = Activation(source, x.astype(dtype_name))
                cases.append((f"fn-{kind}-{source}-{dtype_name}", fn, (y, arg), {}, None))
                cases.append((f"cls-{kind}-{source}-{dtype_name}", cls, (y, arg), {}, {"reduction": None}))
            cases.append((f"fn-{kind}-{source}-from-logits-true", fn, (y, Activation(source, x)), {"from_logits": True}, None))
    # Python lists are nested structures for a loss object.
    for label, (a, b) in {"lists": ([[0.0, 1.0]], [[0.2, 0.8]]), "flat-lists": ([0.0, 1.0], [0.2, 0.8]),
                          "list-array": ([[0.0, 1.0]], np.array([[0.2, 0.8]], np.float32)),
                          "array-list": (np.array([[0.0, 1.0]]), [[0.2, 0.8]]),
                          "ragged": ([[0.0, 1.0]], [[0.2, 0.8], [0.1, 0.9]])}.items():
        cases.append((f"cls-binary-{label}", "keras.losses.BinaryCrossentropy", (a, b), {}, {}))
    cases.append(("cls-binary-lists-float16", "keras.losses.BinaryCrossentropy",
                  ([[0.0, 1.0, 1.0]], [[0.1000061, 0.7, 0.33333333333]]), {}, {"dtype": "float16"}))
    cases.append(("cls-binary-lists-bfloat16", "keras.losses.BinaryCrossentropy",
                  ([[0.0, 1.0, 1.0]], [[0.1000061, 0.7, 0.33333333333]]), {}, {"dtype": "bfloat16"}))
    cases.append(("cls-sparse-lists", "keras.losses.SparseCategoricalCrossentropy", ([0, 1], [[2.0, 0.0], [2.0, 0.0]]), {}, {"from_logits": True}))
    # Focal losses, bit for bit for every gamma (their power is TF's Pow: Eigen's packet pow on
    # whole packets, the C library's on the tail; a (4, 3) tensor has both), and the gammas
    # Keras users pick.
    for kind, fn, cls in [("binary", "binary_focal_crossentropy", "BinaryFocalCrossentropy"),
                          ("categorical", "categorical_focal_crossentropy", "CategoricalFocalCrossentropy")]:
        for dtype_name, dtype in FLOATS.items():
            for from_logits in (False, True):
                for gamma in (0.0, 1.0, 2.0, 0.5, 1.5, 2.5, 3.0, 5.0):
                    name = f"focal-{kind}-{dtype_name}-logits{from_logits}-gamma{gamma}"
                    shape = (5, 11) if gamma == 2.5 else (4, 3)
                    y = _keras_labels(kind, name, shape)
                    p = _keras_predictions(kind, name, shape, dtype, from_logits)
                    options = {"from_logits": from_logits, "gamma": gamma}
                    if kind == "binary":
                        options["apply_class_balancing"] = gamma != 1.0
                    cases.append((f"fn-{name}", f"keras.losses.{fn}", (y, p), options, None))
                    cases.append((f"cls-{name}", f"keras.losses.{cls}", (y, p), {"sample_weight": np.resize([1.0, 0.5, 2.0, 0.0], shape[0])},
                                  {**options, "alpha": 0.4, "label_smoothing": 0.1}))
        cases.append((f"fn-focal-{kind}-axis-true", f"keras.losses.{fn}", (np.ones((2, 3)), np.ones((2, 3)) / 3), {"axis": True}, None))
        cases.append((f"fn-focal-{kind}-extremes", f"keras.losses.{fn}",
                      (np.array([[0.0, 1.0, 0.0]], np.float32), np.array([[0.0, 1.0, 0.0]], np.float32)), {"gamma": 1.0}, None))
        cases.append((f"fn-focal-{kind}-keras-activation", f"keras.losses.{fn}",
                      (np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32),
                       Activation("keras.sigmoid" if kind == "binary" else "keras.softmax",
                                  np.array([[20.0, -20.0, 0.0], [3.0, -3.0, 0.5]], np.float32))), {"gamma": 0.0}, None))
    # One class: Keras warns (SyntaxWarning) and computes.
    cases.append(("fn-categorical-one-class", "keras.losses.categorical_crossentropy", (np.ones((2, 1), np.float32), np.ones((2, 1), np.float32)), {}, None))
    return cases
