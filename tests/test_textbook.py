"""tfloss.textbook: the article's naive formulas, and where they break while tfloss.nn does not.

Expected values: closed forms with Python's math module, in the formulas' own terms:
- clipped_cross_entropy            -mean over all B*C elements of z * log(clip(p, 1e-10, 1))
- per_example_clipped_cross_entropy mean over B of -sum_j z_j * log(clip(p_j, 1e-10, 1))
- naive_sigmoid_cross_entropy       -z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))
- naive_softmax_cross_entropy       -sum_j z_j * log(softmax(x)_j)
"""

import math

import numpy as np
import pytest

import tfloss
from tfloss import textbook

LABELS = [[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]]
PROBS = [[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]]


def _clipped_terms(labels, probs):
    return [[-z * math.log(min(max(p, 1e-10), 1.0)) for z, p in zip(zr, pr)]
            for zr, pr in zip(labels, probs)]


def test_clipped_cross_entropy_averages_over_every_element():
    # The article's point: reduce_mean runs over batch AND classes, so the value is the
    # per-example loss divided by the number of classes.
    terms = _clipped_terms(LABELS, PROBS)
    expected = sum(map(sum, terms)) / 6
    result = textbook.clipped_cross_entropy(labels=LABELS, probs=PROBS)
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float32
    np.testing.assert_allclose(float(result), expected, rtol=1e-6)


def test_per_example_clipped_cross_entropy_sums_over_classes():
    terms = _clipped_terms(LABELS, PROBS)
    expected = sum(map(sum, terms)) / 2
    result = textbook.per_example_clipped_cross_entropy(labels=LABELS, probs=PROBS)
    assert result.shape == () and result.dtype == np.float32
    np.testing.assert_allclose(float(result), expected, rtol=1e-6)


def test_the_two_clipped_forms_differ_by_the_class_count():
    labels = np.array(LABELS, np.float64)
    probs = np.array(PROBS, np.float64)
    whole = textbook.clipped_cross_entropy(labels=labels, probs=probs)
    per_example = textbook.per_example_clipped_cross_entropy(labels=labels, probs=probs)
    assert whole.dtype == np.float64
    np.testing.assert_allclose(float(whole) * 3, float(per_example), rtol=1e-12)


def test_clipping_keeps_zero_probabilities_finite():
    # log(0) would be -inf; the clip at 1e-10 caps the term at -log(1e-10) = 23.03.
    labels = np.array([[0.0, 1.0]], np.float64)
    probs = np.array([[1.0, 0.0]], np.float64)
    result = textbook.clipped_cross_entropy(labels=labels, probs=probs)
    np.testing.assert_allclose(float(result), -math.log(1e-10) / 2, rtol=1e-12)


def test_clipping_caps_probabilities_above_one():
    labels = np.array([[1.0, 1.0]], np.float64)
    probs = np.array([[1.5, 0.5]], np.float64)      # 1.5 -> 1.0 -> log 0
    result = textbook.per_example_clipped_cross_entropy(labels=labels, probs=probs)
    np.testing.assert_allclose(float(result), -math.log(0.5), rtol=1e-12)


# --------------------------------------------------------------------------- naive sigmoid

def _sigmoid_closed_form(x, z):
    return z * math.log1p(math.exp(-x)) + (1 - z) * math.log1p(math.exp(x))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_naive_sigmoid_is_right_for_moderate_logits(dtype, rtol):
    logits = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype)
    labels = np.array([0.0, 0.3, 0.5, 0.8, 1.0], dtype)
    result = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=logits)
    assert result.dtype == dtype
    expected = [_sigmoid_closed_form(float(x), float(z)) for x, z in zip(logits, labels)]
    np.testing.assert_allclose(result.astype(np.float64), expected, rtol=rtol)


@pytest.mark.parametrize("dtype, x", [(np.float32, 200.0), (np.float64, 800.0)])
def test_naive_sigmoid_breaks_where_the_stable_form_does_not(dtype, x):
    # sigmoid(x) rounds to 1 and sigmoid(-x) underflows to 0, so a log(0) appears: the naive
    # loss is inf, while the exact (and tfloss.nn) loss is x.
    logits = np.array([x, -x], dtype)
    labels = np.array([0.0, 1.0], dtype)
    naive = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=logits)
    stable = tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    assert np.array_equal(naive.astype(np.float64), [math.inf, math.inf])
    np.testing.assert_allclose(stable.astype(np.float64), [x, x], rtol=1e-6)


# --------------------------------------------------------------------------- naive softmax

def test_naive_softmax_is_right_for_moderate_logits():
    logits = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]], np.float64)
    labels = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]], np.float64)
    result = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits)
    expected = []
    for x_row, z_row in zip(logits.tolist(), labels.tolist()):
        lse = math.log(sum(math.exp(v) for v in x_row))
        expected.append(sum(z * (lse - v) for z, v in zip(z_row, x_row)))
    assert result.shape == (2,) and result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_naive_softmax_axis():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]], np.float64)
    labels = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float64)
    result = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits, axis=0)
    lse0 = math.log(math.exp(2.0) + math.exp(0.0) + math.exp(1.0))
    lse1 = math.log(math.exp(1.0) + math.exp(3.0) + math.exp(1.0))
    np.testing.assert_allclose(result, [lse0 - 2.0, lse1 - 3.0], rtol=1e-12)


def test_naive_softmax_breaks_where_the_stable_form_does_not():
    # softmax([0, -200]) underflows to [1, 0] in float32: log(0) = -inf, and a zero label
    # times -inf is nan. Exact losses: 200 and log(1 + e^-200) ~ 0.
    logits = np.array([[0.0, -200.0], [0.0, -200.0]], np.float32)
    labels = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    naive = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits)
    stable = tfloss.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert naive[0] == math.inf
    assert math.isnan(naive[1])
    np.testing.assert_allclose(stable.astype(np.float64), [200.0, 0.0], rtol=1e-6, atol=1e-30)


# --------------------------------------------------------------------------- where TF's ops round
# Thresholds below are derived from the formats, not read off tfloss: a p-bit significand makes
# 1 + e round to e once ulp(e) > 2, i.e. e >= 2**(p+1); then sigmoid = e / e = 1 exactly.

import ml_dtypes  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("dtype, bits", [(np.float16, 11), (BF16, 8)])
def test_sixteen_bit_sigmoid_rounds_each_step_so_it_saturates_early(dtype, bits):
    # TF's Sigmoid for 16-bit types is e / (1 + e) with every step rounded to 16 bits, so it is
    # exactly 1 once exp(x) >= 2**(bits+1): x >= (bits+1)*ln 2 (8.32 in float16, 6.24 in bfloat16),
    # and the naive loss of a zero label is log(1 - 1) = -inf -> inf.  Exact loss: ~x.
    x = (bits + 1) * math.log(2) + 0.2
    naive = textbook.naive_sigmoid_cross_entropy(labels=np.array([0.0], dtype), logits=np.array([x], dtype))
    assert naive.dtype == dtype and naive.astype(np.float64)[0] == math.inf


@pytest.mark.parametrize("dtype, bits", [(np.float32, 24), (np.float64, 53)])
def test_naive_sigmoid_is_inf_where_exp_minus_x_is_below_half_an_ulp_of_one(dtype, bits):
    # sigmoid(x) = 1 / (1 + e^-x) rounds to 1 once e^-x < 2**-(bits+1), i.e. x > (bits+1)*ln 2
    # (17.3 in float32, 37.4 in float64); then log(1 - sigmoid) = -inf.  Even a label of 1 does
    # not escape: its other term is (1 - 1) * -inf = 0 * -inf = nan.  Exact losses: ~x and ~e^-x.
    x = (bits + 1) * math.log(2) + 0.5
    naive = textbook.naive_sigmoid_cross_entropy(labels=np.array([0.0, 1.0], dtype), logits=np.array([x, x], dtype))
    assert naive[0] == math.inf
    assert math.isnan(naive[1])


def test_eigen_float32_sigmoid_is_exactly_one_from_its_cap():
    # Eigen's float32 logistic caps its argument at 16.6355324, "the first point where the
    # interpolant is exactly one": sigmoid(17) is 1 in TF although 1 - e^-17 = 1 - 4.1e-8 rounds
    # to 1 - 2**-24 in float32.  So the naive loss of a zero label is already inf at 17.
    labels = np.zeros(8, np.float32)  # 8 elements: one whole packet, Eigen's vectorised path
    naive = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=np.full(8, 17.0, np.float32))
    assert np.all(naive == math.inf)


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float32])
def test_softmax_below_ln_flt_min_is_zero_so_the_naive_loss_is_inf(dtype):
    # oneDNN's exp (TF's float32/16-bit softmax on x86) returns 0 below ln(FLT_MIN) = -87.34, and
    # TF's CPU flushes denormals anyway: softmax([0, -90]) = [1, 0] and -log(0) = inf.
    naive = textbook.naive_softmax_cross_entropy(labels=np.array([[0.0, 1.0]], dtype),
                                                 logits=np.array([[0.0, -90.0]], dtype))
    assert naive.dtype == dtype and naive.astype(np.float64)[0] == math.inf


def test_float64_softmax_survives_where_float32_underflows():
    # float64 reaches 0 only below ln(2**-1022) = -708.4 (flush-to-zero): -90 is fine there.
    labels = np.array([[0.0, 1.0], [0.0, 1.0]])
    naive = textbook.naive_softmax_cross_entropy(labels=labels, logits=np.array([[0.0, -90.0], [0.0, -710.0]]))
    np.testing.assert_allclose(naive[0], 90.0 + math.log1p(math.exp(-90.0)), rtol=1e-12)
    assert naive[1] == math.inf


def test_mean_of_bfloat16_is_accumulated_in_float32():
    # TF's Mean (and Sum) on bfloat16 casts to float32 first (reduction_ops.h).  256 + 16 ones:
    # in bfloat16 each 256 + 1 would round back to 256; in float32 the sum is 272, the mean 16.
    from tfloss._cpu import CpuTensor, mean_op, sum_op
    values = CpuTensor(np.array([256.0] + [1.0] * 16, BF16))
    assert float(mean_op(values).value) == 16.0
    assert float(sum_op(values).value) == 272.0


def test_clipped_cross_entropy_passes_nan_through_the_clip():
    # tf.clip_by_value is minimum then maximum, and TF's Minimum/Maximum propagate NaN.
    result = textbook.clipped_cross_entropy(labels=[[1.0, 0.0]], probs=[[math.nan, 0.5]])
    assert math.isnan(float(result))
