"""What is timed: op x dtype x logits shape, with the inputs drawn once per case."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .impls import FAMILIES

DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}

#: float32 logits shapes for every op: tiny, cache-sized, a large batch, and many classes.
FLOAT32_SHAPES = ((32, 10), (256, 1000), (4096, 1000), (64, 32000))
#: Where float64, float16 and bfloat16 are timed (against TF only).
OTHER_DTYPE_SHAPES = ((256, 1000), (4096, 1000))
#: Rows of the softmax-float32 scaling series (1000 classes).
SCALING_ROWS = (256, 1024, 4096, 16384)
#: Ops timed for gradients (all four) and where.
GRADIENT_SHAPES = ((256, 1000), (4096, 1000))

QUICK_FLOAT32_SHAPES = ((32, 10), (256, 1000))
QUICK_OTHER_DTYPE_SHAPES = ((256, 1000),)
QUICK_SCALING_ROWS = (64, 256, 1024)
QUICK_GRADIENT_SHAPES = ((256, 1000),)

POS_WEIGHT = 2.0


@dataclass(frozen=True)
class Case:
    family: str
    dtype: str
    shape: tuple

    @property
    def name(self) -> str:
        return "x".join(map(str, self.shape))


def beyond_cache_shape(l3: int, classes: int = 1000, factor: float = 1.5) -> tuple:
    """Rows x ``classes`` float32 logits whose logits plus labels exceed ``factor`` x the L3 cache."""
    rows = math.ceil(factor * l3 / (2 * 4 * classes))
    return (int(math.ceil(rows / 1024) * 1024), classes)


def make_inputs(case: Case) -> dict:
    """Logits ~ N(0, 3^2); labels uniform (sigmoid, weighted), probability rows (softmax), indices (sparse)."""
    rng = np.random.default_rng(zlib.crc32(repr((case.family, case.dtype, case.shape)).encode()))
    dtype = DTYPES[case.dtype]
    rows, classes = case.shape
    logits = (3 * rng.standard_normal(case.shape, dtype=np.float32)).astype(dtype)
    if case.family == "sparse":
        return {"labels": rng.integers(0, classes, rows, dtype=np.int32), "logits": logits}
    labels = rng.random(case.shape, dtype=np.float32)
    if case.family == "softmax":
        labels /= labels.sum(axis=-1, keepdims=True)
    inputs = {"labels": labels.astype(dtype), "logits": logits}
    if case.family == "weighted":
        inputs["pos_weight"] = POS_WEIGHT
    return inputs


def value_cases(quick: bool, l3: int, large: bool = True) -> list:
    """float32 at every shape (plus one beyond the caches), the other dtypes at one or two shapes."""
    shapes = list(QUICK_FLOAT32_SHAPES if quick else FLOAT32_SHAPES)
    if large and not quick:
        shapes.append(beyond_cache_shape(l3))
    cases = [Case(f, "float32", s) for s in shapes for f in FAMILIES]
    other = QUICK_OTHER_DTYPE_SHAPES if quick else OTHER_DTYPE_SHAPES
    cases += [Case(f, d, s) for d in ("float64", "float16", "bfloat16") for s in other for f in FAMILIES]
    return cases
