"""tfloss.nn.weighted_cross_entropy_with_logits: values, pos_weight handling, shapes, specials.

Expected values: tests/reference.py (mpmath, closed form
L = q*z*log(1+exp(-x)) + (1-z)*log(1+exp(x))) or the closed forms written below.
"""

import math

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tests.reference import DTYPE_IDS, FLOAT_DTYPES, assert_close, finfo, weighted_reference

weighted = tfloss.nn.weighted_cross_entropy_with_logits

MODERATE_LOGITS = [-8.0, -2.5, -1.0, -0.3, 0.0, 0.3, 1.0, 2.5, 8.0]
LABELS = [0.0, 0.25, 0.5, 1.0]


@pytest.mark.parametrize("pos_weight", [0.5, 1.0, 1.5, 4.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_moderate_logits_match_high_precision(dtype, pos_weight):
    x, z = np.meshgrid(MODERATE_LOGITS, LABELS)
    logits, labels = x.astype(dtype), z.astype(dtype)

    result = weighted(labels=labels, logits=logits, pos_weight=pos_weight)

    exact, scale = weighted_reference(labels, logits, pos_weight, dtype)
    assert_close(result, exact, dtype, scale)


def test_docstring_example():
    # TF's docstring example: labels [1, .5, 0], logits [1.5, -.1, -10], pos_weight 1.5.
    # The third loss is tiny (exact 4.54e-5) but TF's form adds -10 and 10.0000454 in float32,
    # so it is only accurate relative to those terms (TF prints 4.5776367e-05).
    labels = np.array([1.0, 0.5, 0.0], np.float32)
    logits = np.array([1.5, -0.1, -10.0], np.float32)
    result = weighted(labels=labels, logits=logits, pos_weight=1.5)
    exact, scale = weighted_reference(labels, logits, 1.5, np.float32)
    assert_close(result, exact, np.float32, scale)
    assert abs(float(result[2]) - math.log1p(math.exp(-10.0))) < 1e-6 * 20


def _extreme_logits(dtype):
    largest = float(finfo(dtype).max)
    magnitudes = [10.0, 20.0, 40.0, 100.0, 1000.0, 3e4, 1e30, largest / 4]
    magnitudes = [m for m in magnitudes if m <= largest]
    return sorted([-m for m in magnitudes] + magnitudes)


@pytest.mark.parametrize("label", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_extreme_logits_match_high_precision(dtype, label):
    logits = np.array(_extreme_logits(dtype), dtype=dtype)
    labels = np.full_like(logits, label)

    result = weighted(labels=labels, logits=logits, pos_weight=2.0)

    exact, scale = weighted_reference(labels, logits, 2.0, dtype)
    assert_close(result, exact, dtype, scale)


def test_float32_denormal_result_is_flushed_to_zero():
    # labels=1, logits=100, q=1: loss = log1p(exp(-100)) ~ 3.78e-44, a float32 denormal.
    result = weighted(labels=np.float32(1.0), logits=np.float32(100.0), pos_weight=1.0)
    assert result.dtype == np.float32
    assert result == 0.0


def test_float64_denormal_result_is_flushed_to_zero():
    result = weighted(labels=np.float64(1.0), logits=np.float64(720.0), pos_weight=1.0)
    assert result.dtype == np.float64
    assert result == 0.0


# --------------------------------------------------------------------------- pos_weight

@pytest.mark.parametrize("as_type", [float, np.float64, lambda q: np.array([q])],
                         ids=["python-float", "numpy-float64", "numpy-f64-array"])
@pytest.mark.parametrize("dtype, pos_weight, label", [
    # (pos_weight - 1) is exact in double and in the logits dtype, but pos_weight itself
    # rounds to 1.0 in that dtype: only folding "pos_weight - 1" first gives log_weight != 1.
    (np.float16, 1.0 + 2.0**-12, 1024.0),
    (ml_dtypes.bfloat16, 1.0 + 2.0**-10, 256.0),
    (np.float32, 1.0 + 2.0**-30, 2.0**24),
], ids=["float16", "bfloat16", "float32"])
def test_python_pos_weight_is_folded_in_double(dtype, pos_weight, label, as_type):
    # tf-behaviour.md 3.2: `pos_weight - 1` is evaluated in double before meeting the labels.
    # log_weight = 1 + (q-1)*z = 1.25 (f16, bf16) or 1 + 2**-6 (f32); with logits 0 the loss
    # is log_weight * log(2).
    dtype = np.dtype(dtype)
    labels = np.array([label], dtype=dtype)
    logits = np.zeros(1, dtype=dtype)
    assert float(np.array(pos_weight).astype(dtype)) == 1.0  # the trap being tested

    result = weighted(labels=labels, logits=logits, pos_weight=as_type(pos_weight))

    log_weight = 1.0 + (pos_weight - 1.0) * label
    expected = (1.0 - label) * 0.0 + log_weight * math.log(2.0)
    assert result.dtype == dtype
    np.testing.assert_allclose(result.astype(np.float64), [expected], rtol=1e-2)
    exact, scale = weighted_reference(labels, logits, pos_weight, dtype)
    assert_close(result, exact, dtype, scale)


def test_pos_weight_broadcasts_over_classes():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=(4, 3))
    labels = rng.uniform(size=(4, 3))
    pos_weight = np.array([0.5, 1.0, 3.0])

    result = weighted(labels=labels, logits=logits, pos_weight=pos_weight)

    exact, scale = weighted_reference(labels, logits, pos_weight, np.float64)
    assert_close(result, exact, np.float64, scale)


def test_output_shape_is_broadcast_of_all_three():
    # tf-behaviour.md 3.2: output shape = broadcast(logits, labels, pos_weight).
    logits = np.array([-1.0, 0.0, 2.0])
    labels = np.array([1.0, 0.0, 0.5])
    pos_weight = np.array([[1.0], [2.0]])

    result = weighted(labels=labels, logits=logits, pos_weight=pos_weight)

    assert result.shape == (2, 3)
    exact, scale = weighted_reference(labels, logits, pos_weight, np.float64)
    assert_close(result, exact, np.float64, scale)


def test_pos_weight_one_is_the_sigmoid_loss():
    # With q = 1 the closed forms agree: (1-z)*x + softplus(-x) = max(x,0) - x*z + log1p(...).
    logits = np.array([-3.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    labels = np.array([0.0, 0.3, 0.5, 0.7, 1.0], np.float32)
    w = weighted(labels=labels, logits=logits, pos_weight=1.0)
    s = tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    np.testing.assert_allclose(w, s, rtol=1e-6, atol=1e-7)


def test_integer_pos_weight():
    logits = np.array([0.0, 1.0], np.float32)
    labels = np.array([1.0, 1.0], np.float32)
    result = weighted(labels=labels, logits=logits, pos_weight=3)
    expected = [3 * math.log(2.0), 3 * math.log1p(math.exp(-1.0))]
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.astype(np.float64), expected, rtol=1e-6)


# --------------------------------------------------------------------------- special values

inf, nan = math.inf, math.nan

# tf-behaviour.md 3.4, from IEEE arithmetic on (1-z)*x + l*(log1p(exp(-|x|)) + max(-x,0)).
SPECIAL_CASES = [
    (inf, 0.0, inf),    # 1*inf + 1*(0 + 0)
    (inf, 1.0, nan),    # 0*inf
    (-inf, 0.0, nan),   # -inf + (0 + inf)
    (-inf, 1.0, nan),   # 0*(-inf)
    (nan, 0.0, nan),
    (nan, 1.0, nan),
    (1.0, nan, nan),
]


@pytest.mark.parametrize("pos_weight", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_special_values(dtype, pos_weight):
    logits = np.array([c[0] for c in SPECIAL_CASES], dtype=dtype)
    labels = np.array([c[1] for c in SPECIAL_CASES], dtype=dtype)

    result = weighted(labels=labels, logits=logits, pos_weight=pos_weight)

    assert result.dtype == dtype
    for (x, z, want), value in zip(SPECIAL_CASES, result.astype(np.float64)):
        if math.isnan(want):
            assert math.isnan(value), f"x={x}, z={z}: expected nan, got {value}"
        else:
            assert value == want, f"x={x}, z={z}: expected {want}, got {value}"


# --------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 2), (1, 2, 1, 3)])
def test_output_shape_is_logits_shape(shape):
    rng = np.random.default_rng(2)
    logits = np.asarray(rng.normal(size=shape), np.float32)
    labels = np.asarray(rng.uniform(size=shape), np.float32)
    result = weighted(labels=labels, logits=logits, pos_weight=2.0)
    exact, scale = weighted_reference(labels, logits, 2.0, np.float32)
    assert_close(result, exact, np.float32, scale)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4)])
def test_empty_inputs_give_empty_output(shape):
    result = weighted(labels=np.zeros(shape, np.float32), logits=np.zeros(shape, np.float32),
                      pos_weight=2.0)
    assert isinstance(result, np.ndarray)
    assert result.shape == shape and result.dtype == np.float32


def test_v2_arguments_are_positional_or_keyword():
    # v2 signature (labels, logits, pos_weight, name=None): all three required, positional ok.
    result = weighted([1.0], [0.0], 2.0)
    np.testing.assert_allclose(result, [2 * math.log(2.0)], rtol=1e-6)
    with pytest.raises(TypeError):
        weighted(labels=[1.0], logits=[0.0])  # pos_weight is required in v2
