"""The building blocks on the compiled engine give the NumPy path's bits.

Every building-block case of the parity suite (``parity/blocks_cases.py``: activations, softmax
and log_softmax, reductions, errors included) runs under both engines, which must give the same
bits (NaN payloads and signed zeros included) or the same error.  The parity suite holds the
NumPy path to TF's bits; this holds the engine (:mod:`tfloss._engine._blocks`) to the NumPy path.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfloss
from parity.blocks_cases import all_cases
from tests.test_engine import _outcome, _same, engine  # noqa: F401 - engine is a fixture

pytest.importorskip("numba")

CASES = all_cases()


def _resolve(path: str):
    target = tfloss
    for part in path.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_blocks_engine_matches_numpy_path(engine, case):
    _, function, args, kwargs = case
    op = _resolve(function)
    expected = _outcome(engine, "numpy", op, args, kwargs)
    actual = _outcome(engine, "numba", op, args, kwargs)
    assert expected[0] == actual[0], (expected, actual)
    if expected[0] == "value":
        assert _same(expected[1], actual[1]), (expected[1], actual[1])
    else:
        assert expected[1] == actual[1]


def test_blocks_run_on_the_engine(monkeypatch):
    # Each block reaches its compiled kernel under the numba engine (not the NumPy fallback).
    from tfloss import _engine

    blocks = _engine._block_kernels()
    called = []
    for name in ("elementwise", "softmax", "row_sums", "preserving_sums", "outer_and_inner_sums"):
        monkeypatch.setattr(blocks, name, lambda *a, _name=name, _f=getattr(blocks, name): (called.append(_name), _f(*a))[1])
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    before = _engine.get_engine()
    _engine.set_engine("numba")
    try:
        tfloss.math.sigmoid(x), tfloss.math.softplus(x), tfloss.math.log_sigmoid(x), tfloss.nn.softmax(x)
        tfloss.reduce_sum(x), tfloss.reduce_sum(x, axis=2), tfloss.reduce_mean(x, axis=0), tfloss.reduce_sum(x, axis=[0, 2])
    finally:
        _engine.set_engine(before)
    assert called == ["elementwise"] * 3 + ["softmax", "row_sums", "row_sums", "preserving_sums", "outer_and_inner_sums"]
