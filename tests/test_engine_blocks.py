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
    for name in ("elementwise", "softmax", "onednn_softmax", "row_sums", "preserving_sums", "outer_and_inner_sums"):
        monkeypatch.setattr(blocks, name, lambda *a, _name=name, _f=getattr(blocks, name): (called.append(_name), _f(*a))[1])
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")  # float32 softmax: oneDNN's on this CPU?
    onednn = _engine._tf_math_ops()._onednn_runs(np.float32)
    before = _engine.get_engine()
    _engine.set_engine("numba")
    try:
        tfloss.math.sigmoid(x), tfloss.math.softplus(x), tfloss.math.log_sigmoid(x), tfloss.nn.softmax(x)
        tfloss.reduce_sum(x), tfloss.reduce_sum(x, axis=2), tfloss.reduce_mean(x, axis=0), tfloss.reduce_sum(x, axis=[0, 2])
        tfloss.nn.softmax(x.astype(np.float32))
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
        tfloss.nn.softmax(x.astype(np.float32))
    finally:
        _engine.set_engine(before)
    assert called == (["elementwise"] * 3 + ["softmax", "row_sums", "row_sums", "preserving_sums", "outer_and_inner_sums"]
                      + ["onednn_softmax" if onednn else "softmax", "softmax"])


SOFTMAX_FLOAT32 = [c for c in CASES if c[1] == "nn.softmax" and "-float32-" in c[0]]


@pytest.mark.parametrize("onednn", ["0", "1"])
def test_softmax_engine_matches_numpy_path_with_onednn_on_and_off(engine, monkeypatch, onednn):
    # The replay above runs the softmax this CPU's TF would (oneDNN's or Eigen's); here float32
    # runs both ways (TF_ENABLE_ONEDNN_OPTS forces it), so both kernels are held to the NumPy path.
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    assert SOFTMAX_FLOAT32
    for _, function, args, kwargs in SOFTMAX_FLOAT32:
        op = _resolve(function)
        expected = _outcome(engine, "numpy", op, args, kwargs)
        actual = _outcome(engine, "numba", op, args, kwargs)
        assert expected[0] == actual[0] and (_same(expected[1], actual[1]) if expected[0] == "value"
                                             else expected[1] == actual[1]), (function, args, kwargs)
