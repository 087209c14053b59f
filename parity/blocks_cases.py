"""Catalogue cases for the building blocks: ``tf.math``'s activations and reductions.

Each case is ``(id, function, args, kwargs)``: ``function`` names the same attribute path in
``tensorflow`` and in ``tfloss`` (``"math.softplus"``, ``"reduce_sum"``).  Whether TF accepts a
case is not stored: the test asks TF and demands the same value (bit for bit) or the same
error from tfloss.
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
ACTIVATIONS = ("math.sigmoid", "math.softplus", "math.log_sigmoid")


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _values(name: str, shape: tuple, dtype: np.dtype, scale: float) -> np.ndarray:
    rng = _rng(name)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _edges(dtype: np.dtype) -> np.ndarray:
    """Special values and the neighbourhoods of the kernels' cut-offs (softplus thresholds,
    Eigen's logistic cap at 16.6355324 and floor at -104, exp overflow and underflow)."""
    points = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 13.942385, -13.942385, 34.04365,
              -34.04365, 4.9297, -4.9297, 2.85, -2.85, 16.6355324, -104.0, 88.7, -87.3, -103.9, 709.7,
              -708.4, -745.2, 1e-30, -1e-30, 1e30, -1e30]
    with np.errstate(over="ignore"):  # 709.7 and 1e30 overflow the 16-bit types to inf, as meant
        values = np.array(points, np.float64).astype(dtype)
        up = np.nextafter(values.astype(np.float64), np.inf).astype(dtype)
        down = np.nextafter(values.astype(np.float64), -np.inf).astype(dtype)
    return np.concatenate([values, up, down])


def activation_cases() -> list:
    cases = []
    for function in ACTIVATIONS:
        for dtype_name, dtype in FLOATS.items():
            for shape in [(), (7,), (3, 5), (4, 9, 3), (2, 3, 4, 5)]:
                for scale in (1.0, 30.0):
                    name = f"{function}-{dtype_name}-{shape}-{scale}"
                    cases.append((name, function, (_values(name, shape, dtype, scale),), {}))
            cases.append((f"{function}-{dtype_name}-edges", function, (_edges(dtype),), {}))
        cases.append((f"{function}-python-list", function, ([0.5, -3.0, 20.0],), {}))
        for bad_name, bad in [("int", [1, 2]), ("bool", [True]), ("complex", np.array([1 + 2j], np.complex64)),
                              ("none", None), ("string", "a")]:
            cases.append((f"{function}-error-{bad_name}", function, (bad,), {}))
    return cases


def softmax_cases() -> list:
    cases = []
    for function in ("nn.softmax", "nn.log_softmax"):
        for dtype_name, dtype in FLOATS.items():
            for shape, axes in [((5,), (None, 0, -1)), ((3, 7), (None, 0, 1, -2)), ((4, 3, 9), (None, 0, 1, -3)),
                                ((2, 3, 4, 5), (0, 2, -1)), ((3, 1000), (None,)), ((2, 9000), (None,)),
                                ((33, 17), (0, 1))]:
                for axis in axes:
                    for scale in (1.0, 40.0):
                        name = f"{function}-{dtype_name}-{shape}-axis{axis}-{scale}"
                        kwargs = {} if axis is None else {"axis": axis}
                        cases.append((name, function, (_values(name, shape, dtype, scale),), kwargs))
            edges = _edges(dtype)
            cases.append((f"{function}-{dtype_name}-edges", function, (edges.reshape(3, -1),), {}))
            cases.append((f"{function}-{dtype_name}-edges-cols", function, (edges.reshape(-1, 3),), {"axis": 0}))
            cases.append((f"{function}-{dtype_name}-empty-rows", function, (np.zeros((0, 3), dtype),), {}))
            cases.append((f"{function}-{dtype_name}-empty-classes", function, (np.zeros((2, 0), dtype),), {}))
            cases.append((f"{function}-{dtype_name}-rank6", function, (np.zeros((1, 1, 1, 1, 2, 3), dtype),), {}))
            cases.append((f"{function}-{dtype_name}-scalar", function, (np.asarray(1.0, dtype),), {}))
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        for label, axis in [("2", 2), ("-3", -3), ("1.5", 1.5), ("true", True), ("np-int", np.int64(0)),
                            ("np-float", np.float32(0.0))]:
            cases.append((f"{function}-axis-{label}", function, (x,), {"axis": axis}))
        cases.append((f"{function}-int", function, ([[1, 2]],), {}))
        cases.append((f"{function}-int-axis0", function, ([[1, 2]],), {"axis": 0}))
        cases.append((f"{function}-dim-keyword", function, (x,), {"dim": 0}))
    return cases


REDUCTION_LAYOUTS = [
    ((7,), [None, 0, -1, [0], []]),
    ((3, 5), [None, 0, 1, [0, 1], [1, 0], -2]),
    ((16, 9), [0]),
    ((17, 8), [0, 1]),
    ((40, 33), [0, 1]),
    ((5000, 16), [0]),
    ((4, 5, 6), [None, 0, 1, 2, [0, 2], [0, 1], [1, 2]]),
    ((40, 5, 33), [[0, 2], 1]),
    ((3, 1, 4), [1, [0, 1], [1, 2]]),
    ((1, 6, 1), [0, 2, [0, 2], None]),
    ((3, 4, 5, 6), [[1, 3], [0, 2], [0, 1, 2], 3, None]),
    ((2, 3, 4, 5, 6), [[0, 2, 4], [1, 3]]),
    ((2, 9000), [1, None]),
    ((20000,), [None]),
]


def reduction_cases() -> list:
    cases = []
    for function in ("reduce_sum", "reduce_mean"):
        for dtype_name, dtype in FLOATS.items():
            for shape, axes in REDUCTION_LAYOUTS:
                for axis in axes:
                    name = f"{function}-{dtype_name}-{shape}-axis{axis}"
                    x = _values(name, shape, dtype, 1.0) * np.asarray(
                        _rng(name + "s").choice([1.0, 1e3, 1e-3], shape), dtype)
                    kwargs = {} if axis is None else {"axis": axis}
                    cases.append((name, function, (x,), kwargs))
                    if axis == 0:
                        cases.append((name + "-keepdims", function, (x,), {**kwargs, "keepdims": True}))
            # Eigen shards a full reduction over the threads from about 1e5 elements on.
            for size in (130001, 300001):
                name = f"{function}-{dtype_name}-full-{size}"
                cases.append((name, function, (_values(name, (size,), dtype, 1.0),), {}))
            cases.append((f"{function}-{dtype_name}-edges", function, (_edges(dtype),), {}))
            cases.append((f"{function}-{dtype_name}-empty", function, (np.zeros((0, 3), dtype),), {"axis": 0}))
            cases.append((f"{function}-{dtype_name}-empty-all", function, (np.zeros((0, 3), dtype),), {}))
            cases.append((f"{function}-{dtype_name}-empty-out", function, (np.zeros((0, 3), dtype),), {"axis": 1}))
            cases.append((f"{function}-{dtype_name}-negative-zero", function, (np.array([[-0.0]], dtype),), {"axis": 1}))
            cases.append((f"{function}-{dtype_name}-scalar", function, (np.asarray(-0.0, dtype),), {}))
        cases.append((f"{function}-float16-2049", function, (np.ones(2049, np.float16),), {}))
        cases.append((f"{function}-float16-70000", function, (np.ones(70000, np.float16),), {}))
        for int_name, values in [("int32", np.array([[2**31 - 1, 1], [-7, 3]], np.int32)),
                                 ("int8", np.array([100, 100, -7], np.int8)), ("uint8", np.array([200, 100], np.uint8)),
                                 ("int64", np.array([[-7, 0, 5], [1, 2, 3]], np.int64)),
                                 ("python-ints", [[1, 2, 4], [-3, -3, 1]])]:
            for axis in (None, 0, 1):
                if axis == 1 and np.ndim(values) == 1:
                    continue
                kwargs = {} if axis is None else {"axis": axis}
                cases.append((f"{function}-{int_name}-axis{axis}", function, (values,), kwargs))
        cases.append((f"{function}-int32-empty", function, (np.zeros((0, 3), np.int32),), {"axis": 0}))
        cases.append((f"{function}-complex64", function, (np.array([1 + 2j, 3j, -1.5 + 0.25j], np.complex64),), {}))
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        for label, axis in [("2", 2), ("-3", -3), ("dup", [0, 0]), ("dup-negative", [0, -2]), ("1.5", 1.5),
                            ("1.0", 1.0), ("true", True), ("list-true", [True]), ("list-float", [0, 1.0]),
                            ("string", "0"), ("np-int64", np.int64(1)), ("np-array", np.array([0, 1])),
                            ("np-float-1.5", np.float32(1.5)), ("np-float-array", np.array([0.0, 1.0])),
                            ("uint8", np.array([1], np.uint8)), ("empty-list", []), ("empty-tuple", ()),
                            ("nested", [[0], [1]]), ("large-in-list", [0, 2**40])]:
            cases.append((f"{function}-axis-{label}", function, (x,), {"axis": axis}))
        cases.append((f"{function}-keepdims-none", function, (x,), {"axis": 0, "keepdims": None}))
        cases.append((f"{function}-keepdims-string", function, (x,), {"axis": 0, "keepdims": "yes"}))
        cases.append((f"{function}-keepdims-all", function, (x,), {"keepdims": True}))
        cases.append((f"{function}-positional", function, (x, 0, True), {}))
        cases.append((f"{function}-scalar-axis0", function, (np.float32(3),), {"axis": 0}))
        cases.append((f"{function}-scalar-axis-empty", function, (np.float32(3),), {"axis": []}))
        cases.append((f"{function}-bool", function, ([True, False],), {}))
        cases.append((f"{function}-bool-bad-axis", function, (np.array([True]),), {"axis": 5}))
        cases.append((f"{function}-string", function, (["a"],), {}))
        cases.append((f"{function}-none", function, (None,), {}))
        cases.append((f"{function}-reduction-indices", function, (x,), {"reduction_indices": 0}))
        cases.append((f"{function}-input-tensor-keyword", function, (), {"input_tensor": x}))
    return cases


def all_cases() -> list:
    return activation_cases() + softmax_cases() + reduction_cases()
