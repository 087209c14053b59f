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
