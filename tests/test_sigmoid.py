"""tfloss.nn.sigmoid_cross_entropy_with_logits: values, dtypes, shapes, special values.

Expected values: tests/reference.py (mpmath, closed form
L = z*log(1+exp(-x)) + (1-z)*log(1+exp(x))) or the closed forms written below.
"""

import math

import numpy as np
import pytest

import tfloss
from tests.reference import (DTYPE_IDS, FLOAT_DTYPES, assert_close, finfo, sigmoid_reference)

sigmoid = tfloss.nn.sigmoid_cross_entropy_with_logits

MODERATE_LOGITS = [-8.0, -2.5, -1.0, -0.3, 0.0, 0.3, 1.0, 2.5, 8.0]
# Labels outside [0, 1] are not validated by TF; the loss is affine in z.
LABELS = [-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_moderate_logits_match_high_precision(dtype):
    x, z = np.meshgrid(MODERATE_LOGITS, LABELS)
    logits, labels = x.astype(dtype), z.astype(dtype)

    result = sigmoid(labels=labels, logits=logits)

    exact, scale = sigmoid_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


def _extreme_logits(dtype):
    largest = float(finfo(dtype).max)
    magnitudes = [10.0, 20.0, 40.0, 87.0, 100.0, 1000.0, 3e4, 1e30, largest / 2, largest]
    magnitudes = [m for m in magnitudes if m <= largest]
    return sorted([-m for m in magnitudes] + magnitudes)


@pytest.mark.parametrize("label", [0.0, 1.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_extreme_logits_match_high_precision(dtype, label):
    # With labels 0/1 TF's form is accurate relative to the loss itself, down to the tiny
    # log1p(exp(-|x|)) tail (the check is relative, not absolute, for these).
    logits = np.array(_extreme_logits(dtype), dtype=dtype)
    labels = np.full_like(logits, label)

    result = sigmoid(labels=labels, logits=logits)

    exact, scale = sigmoid_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_extreme_logits_with_soft_labels(dtype):
    logits = np.array(_extreme_logits(dtype), dtype=dtype)
    labels = np.full_like(logits, 0.25)

    result = sigmoid(labels=labels, logits=logits)

    exact, scale = sigmoid_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


def test_tail_is_not_lost_for_confident_correct_predictions():
    # The naive log(1 + exp(-x)) is 0 in float32 for x > 17; TF's log1p form keeps it.
    logits = np.array([20.0, 30.0, 50.0], dtype=np.float32)
    result = sigmoid(labels=np.ones(3, np.float32), logits=logits)
    expected = np.array([math.log1p(math.exp(-v)) for v in (20.0, 30.0, 50.0)])
    np.testing.assert_allclose(result.astype(np.float64), expected, rtol=1e-6, atol=0)


# --------------------------------------------------------------------------- flush to zero

def test_float32_denormal_result_is_flushed_to_zero():
    # tf-behaviour.md: float32 labels=1, logits=100 -> 0.0 in TF; exact value ~3.78e-44 is a
    # float32 denormal.
    assert 0 < math.log1p(math.exp(-100.0)) < np.finfo(np.float32).tiny
    result = sigmoid(labels=np.float32(1.0), logits=np.float32(100.0))
    assert result.dtype == np.float32
    assert result == 0.0


def test_float64_denormal_result_is_flushed_to_zero():
    # tf-behaviour.md: float64 logits=720, labels=1 -> 0.0 in TF, 2.03e-313 exactly.
    assert 0 < math.exp(-720.0) < np.finfo(np.float64).tiny
    result = sigmoid(labels=np.float64(1.0), logits=np.float64(720.0))
    assert result.dtype == np.float64
    assert result == 0.0


@pytest.mark.parametrize("dtype, logits", [
    (np.float32, [86.0, 87.0, 88.0, 89.0, 100.0, 104.0, -88.0, -89.0]),
    (np.float64, [700.0, 708.0, 709.0, 710.0, 720.0, 746.0, -709.0, -720.0]),
], ids=["float32", "float64"])
def test_results_near_the_normal_range_edge(dtype, logits):
    # Normal results must be accurate; results below the normal range must be exactly 0.
    logits = np.array(logits, dtype=dtype)
    labels = (logits > 0).astype(dtype)
    result = sigmoid(labels=labels, logits=logits)
    exact, scale = sigmoid_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@pytest.mark.parametrize("dtype, tiny_logit, huge_label", [
    (np.float32, 1e-40, 1e38),
    (np.float32, -1e-40, 1e38),
    (np.float64, 1e-310, 1e307),
    (np.float64, -1e-310, 1e307),
], ids=["f32+", "f32-", "f64+", "f64-"])
def test_denormal_logits_act_as_zero(dtype, tiny_logit, huge_label):
    # TF's CPU treats denormal inputs as 0 (DAZ). With logit 0 the loss is log(2) whatever the
    # label; taken at face value, x*z would shift it by about 1e-2 (f32) / 1e-3 (f64).
    logits = np.array(tiny_logit, dtype=dtype)
    labels = np.array(huge_label, dtype=dtype)
    assert logits != 0 and abs(float(logits) * float(labels)) > 1e-4
    result = sigmoid(labels=labels, logits=logits)
    np.testing.assert_allclose(float(result), math.log(2.0), rtol=1e-6)


# --------------------------------------------------------------------------- special values

inf, nan = math.inf, math.nan

# tf-behaviour.md section 2.6, each entry follows from IEEE arithmetic on TF's form
# (max(x,0) - x*z) + log1p(exp(-|x|)).
SPECIAL_CASES = [
    (inf, 0.0, nan),    # inf - inf*0 = inf - nan
    (inf, 1.0, nan),    # inf - inf
    (-inf, 0.0, nan),   # 0 - (-inf*0)
    (-inf, 1.0, inf),   # 0 - (-inf) + log1p(0)
    (nan, 0.0, nan),
    (nan, 1.0, nan),
    (1.0, nan, nan),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_special_values(dtype):
    logits = np.array([c[0] for c in SPECIAL_CASES], dtype=dtype)
    labels = np.array([c[1] for c in SPECIAL_CASES], dtype=dtype)
    expected = np.array([c[2] for c in SPECIAL_CASES])

    result = sigmoid(labels=labels, logits=logits)

    assert result.dtype == dtype
    got = result.astype(np.float64)
    for (x, z, want), value in zip(SPECIAL_CASES, got):
        if math.isnan(want):
            assert math.isnan(value), f"x={x}, z={z}: expected nan, got {value}"
        else:
            assert value == want, f"x={x}, z={z}: expected {want}, got {value}"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_confident_correct_predictions_give_zero(dtype):
    # tf-behaviour.md 2.6 (float32): +-1e30, 100, -100 with the "right" label -> exactly 0.
    # exp(-100) ~ 3.7e-44 is below the normal range of float32 (flushed) and rounds to 0 in
    # float16/bfloat16; float64 represents it, so there only the 1e30 cases are 0.
    big = min(1e30, float(finfo(dtype).max))
    cases = [(big, 1.0), (-big, 0.0)]
    if dtype != np.float64:
        cases += [(100.0, 1.0), (-100.0, 0.0)]
    logits = np.array([c[0] for c in cases], dtype=dtype)
    labels = np.array([c[1] for c in cases], dtype=dtype)
    result = sigmoid(labels=labels, logits=logits)
    assert np.array_equal(result.astype(np.float64), np.zeros(len(cases)))


# --------------------------------------------------------------------------- shapes and dtypes

@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3), (2, 3, 4), (2, 1, 3, 2)])
def test_output_shape_is_logits_shape(shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=shape).astype(np.float64)
    labels = rng.uniform(size=shape).astype(np.float64)
    result = sigmoid(labels=labels, logits=logits)
    exact, scale = sigmoid_reference(labels, logits, np.float64)
    assert_close(result, exact, np.float64, scale)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_empty_inputs_give_empty_output(dtype, shape):
    result = sigmoid(labels=np.zeros(shape, dtype), logits=np.zeros(shape, dtype))
    assert isinstance(result, np.ndarray)
    assert result.shape == shape
    assert result.dtype == dtype


def test_scalar_python_floats_give_float32_scalar():
    result = sigmoid(labels=1.0, logits=0.0)
    assert isinstance(result, np.ndarray)
    assert result.shape == ()
    assert result.dtype == np.float32
    np.testing.assert_allclose(float(result), math.log(2.0), rtol=1e-6)


def test_v2_allows_positional_labels_then_logits():
    # tf.nn (v2) has no _sentinel: positional arguments bind (labels, logits).
    labels = np.array([1.0, 0.0], np.float64)
    logits = np.array([3.0, 3.0], np.float64)
    result = sigmoid(labels, logits)
    expected = [math.log1p(math.exp(-3.0)), 3.0 + math.log1p(math.exp(-3.0))]
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_name_argument_is_accepted():
    result = sigmoid(labels=[0.0], logits=[0.0], name="my_loss")
    np.testing.assert_allclose(result, [math.log(2.0)], rtol=1e-6)
