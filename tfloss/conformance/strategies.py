"""Hypothesis strategies that draw whole cases, labelled by what they drew.

Draws mix ordinary floats with each dtype's edges (exp overflow, subnormal
results, max, tiny, subnormal, inf, NaN) so shrinking lands on small,
readable counterexamples.  A shrunk counterexample is printed as a
:data:`tfloss.conformance.catalogue.REGRESSIONS` entry to paste into the catalogue.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .catalogue import DTYPES, Case, cast, edges

_counter = itertools.count()

_WIDTH = {"float16": 16, "float32": 32, "float64": 64, "bfloat16": 32}


def edge_values(dtype: str) -> list:
    """Interesting values of a dtype: the overflow and subnormal edges and their neighbours."""
    e = edges(dtype)
    base = [0.0, -0.0, 1.0, -1.0, 0.5, e.max, -e.max, e.tiny, e.subnormal, np.inf, -np.inf, np.nan]
    for edge in (e.log_max, e.log_tiny, e.log_subnormal):
        base += [edge, -edge, edge * (1 + 2**-8), -edge * (1 - 2**-8)]
    return base


def float_elements(dtype: str, allow_special: bool = True):
    """Floats for ``dtype``: full-range draws, moderate draws and edge values."""
    width = _WIDTH[dtype]
    full = st.floats(width=width, allow_nan=allow_special, allow_infinity=allow_special)
    moderate = st.floats(-30, 30, width=width)
    # Rounded to the dtype first: hypothesis rejects elements the array dtype cannot hold exactly.
    edge_list = [float(cast(v, dtype)) for v in edge_values(dtype) if allow_special or np.isfinite(v)]
    return st.one_of(moderate, full, st.sampled_from(edge_list))


def float_arrays(dtype: str, shape, elements):
    """Arrays of ``dtype`` (bfloat16 drawn as float32 and rounded)."""
    draw_dtype = np.float32 if dtype == "bfloat16" else np.dtype(dtype)
    return hnp.arrays(draw_dtype, shape, elements=elements).map(lambda a: cast(a.astype(np.float64), dtype))


@st.composite
def shapes(draw, min_rank=0):
    """Rank 0-4 shapes, dimensions 1-4 (at most 64 elements); one in eight has a zero-size dimension."""
    rank = draw(st.integers(min_rank, 4))
    dims = draw(st.lists(st.integers(1, 4 if rank < 3 else 3), min_size=rank, max_size=rank))
    if rank and draw(st.integers(0, 7)) == 7:
        dims[draw(st.integers(0, rank - 1))] = 0
    return tuple(dims)


@st.composite
def cases(draw, families=("sigmoid", "weighted", "softmax", "sparse", "clipped")):
    """A whole :class:`~tfloss.conformance.catalogue.Case`, labelled with what was drawn."""
    family = draw(st.sampled_from(families))
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(min_rank=1 if family in ("softmax", "sparse") else 0))
    logits = draw(float_arrays(dtype, shape, float_elements(dtype)))
    inputs = {}
    regime = "drawn"
    if family == "sparse":
        classes = shape[-1]
        label_dtype = draw(st.sampled_from([np.int32, np.int64]))
        high = max(classes - 1, 0)
        out_of_range = draw(st.booleans()) and draw(st.booleans())
        lo, hi = (-2, classes + 2) if out_of_range else (0, high)
        labels = draw(hnp.arrays(label_dtype, shape[:-1], elements=st.integers(lo, hi)))
        inputs = {"labels": labels, "logits": logits}
        regime = "drawn_labels_any" if out_of_range else "drawn"
    elif family == "clipped":
        probs = draw(float_arrays(dtype, shape, st.one_of(st.floats(0, 1, width=_WIDTH[dtype]),
                                                          float_elements(dtype))))
        labels = draw(float_arrays(dtype, shape, st.floats(0, 1, width=_WIDTH[dtype])))
        inputs = {"labels": labels, "probs": probs}
    else:
        any_labels = draw(st.booleans()) and draw(st.booleans())
        label_elements = float_elements(dtype) if any_labels else st.floats(0, 1, width=_WIDTH[dtype])
        label_shape = shape
        if family == "softmax" and len(shape) == 2 and draw(st.integers(0, 4)) == 0:
            label_shape = draw(st.sampled_from([(1, shape[1]), (shape[1],), (shape[0], 1)]))
        labels = draw(float_arrays(dtype, label_shape, label_elements))
        inputs = {"labels": labels, "logits": logits}
        regime = "drawn_labels_any" if any_labels else "drawn"
        if family == "weighted":
            inputs["pos_weight"] = draw(st.one_of(
                st.floats(-5, 5), st.sampled_from([0.0, 1.0, 3, np.float64(2.5), 1e30]),
                float_arrays(dtype, shape[-1:] if shape else (), st.floats(0, 5, width=_WIDTH[dtype])),
            ))
        if family == "softmax" and len(shape) > 1 and draw(st.booleans()):
            inputs["axis"] = draw(st.integers(0, len(shape) - 1))
    return Case(f"hypothesis/{family}/{dtype}/{next(_counter)}", family, inputs, dtype=dtype,
                regime=regime, group="hypothesis")


def label(case) -> str:
    """The statistics label of a drawn case: family, dtype, rank, regime (for ``hypothesis.event``)."""
    logits = case.inputs.get("logits", case.inputs.get("probs"))
    rank = getattr(logits, "ndim", 0)
    empty = " empty" if getattr(logits, "size", 1) == 0 else ""
    axis = f" axis={case.inputs['axis']}" if "axis" in case.inputs else ""
    return f"{case.family} {case.dtype} rank{rank}{empty}{axis} {case.regime}"
