"""Which NaN the softmax loss returns when several meet, against live TF, bit for bit.

The catalogue's special cases mostly hold one kind of NaN; here labels and logits carry NaNs of
random sign and payload next to ``-inf`` and ``+inf`` logits, so that a row's label and its
``log(S) - shifted`` bracket are often both NaNs, and their product's NaN is TF's compiled Mul's
choice (the bracket's).  float32, float64 and float16 (computed in float32), full, ``[1, C]`` and
``[B, 1]`` labels, rows inside and outside the 8-row packet of the log, on both engines.
bfloat16 is left out: Eigen's 8-lane bfloat16 conversion makes every NaN ``+0x7fc0`` and tfloss
does not reproduce that yet (docs/quirks.md, "Which NaN").
"""

from __future__ import annotations

import numpy as np
import pytest

import tfloss
from tfloss.conformance import tensorflow as tfref

_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _nans(rng, dtype, count: int) -> np.ndarray:
    """``count`` quiet or signalling NaNs of random sign and payload."""
    info = np.finfo(dtype)
    bits = 8 * info.dtype.itemsize
    exponent = ((1 << info.nexp) - 1) << info.nmant
    payload = rng.integers(1, 1 << info.nmant, count, dtype=np.uint64)
    sign = rng.integers(0, 2, count, dtype=np.uint64) << np.uint64(bits - 1)
    return (payload | np.uint64(exponent) | sign).astype(_BITS[info.dtype.itemsize]).view(dtype)


def _inputs(rng, dtype, shape, layout):
    logits = rng.normal(size=shape).astype(dtype)
    labels = rng.random(shape).astype(dtype)
    pick = rng.random(shape)
    logits[pick < 0.3] = _nans(rng, dtype, int((pick < 0.3).sum()))
    logits[(pick >= 0.3) & (pick < 0.45)] = -np.inf
    logits[(pick >= 0.45) & (pick < 0.5)] = np.inf
    pick = rng.random(shape)
    labels[pick < 0.4] = _nans(rng, dtype, int((pick < 0.4).sum()))
    return {"full": labels, "row": labels[:1], "column": labels[:, :1]}[layout], logits


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["full", "row", "column"])
def test_softmax_loss_nan_bits_match_tf_where_label_and_logit_nans_meet(monkeypatch, engine, dtype, layout):
    monkeypatch.setenv("TFLOSS_ENGINE", engine)
    tf = tfref.tf()
    rng = np.random.default_rng(7)
    bits = _BITS[np.dtype(dtype).itemsize]
    nan_rows = 0
    for shape in [(1, 1), (3, 1), (9, 1), (9, 3), (17, 5), (4, 11)]:
        for _ in range(6):
            labels, logits = _inputs(rng, dtype, shape, layout)
            want = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits).numpy()
            got = tfloss.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            assert got.dtype == want.dtype and np.array_equal(got.view(bits), want.view(bits)), (shape, labels, logits)
            nan_rows += int(np.isnan(want).sum())
    assert nan_rows > 100  # the NaN-against-NaN rows the test is for did occur
