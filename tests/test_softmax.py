"""tfloss.nn.softmax_cross_entropy_with_logits: values, label casting, axis, broadcasting,
empty/zero-class shapes, special values.

Expected values: tests/reference.py (mpmath, closed form L = sum_j z_j*(logsumexp(x) - x_j)) or
the closed forms written below.
"""

import math

import numpy as np
import pytest

import tfloss
from tests.reference import (DTYPE_IDS, FLOAT_DTYPES, assert_close, finfo, softmax_reference)

softmax = tfloss.nn.softmax_cross_entropy_with_logits


def _moderate_case(rng, batch=6, classes=5):
    logits = rng.normal(scale=3.0, size=(batch, classes))
    labels = rng.dirichlet(np.ones(classes), size=batch)
    labels[0] = np.eye(classes)[2]          # one-hot row
    labels[1] = 0.0                          # all-zero labels -> loss 0
    labels[2] *= 2.0                         # unnormalised labels: loss is linear in labels
    labels[3] -= 0.3                         # negative labels are not validated by TF
    return logits, labels


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_moderate_logits_match_high_precision(dtype):
    logits, labels = _moderate_case(np.random.default_rng(10))
    logits = logits.astype(dtype)
    labels = labels.astype(dtype)

    result = softmax(labels=labels, logits=logits)

    exact, scale = softmax_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_all_zero_labels_give_exactly_zero(dtype):
    logits = np.array([[3.0, -1.0, 0.5], [100.0, -100.0, 0.0]], dtype=dtype)
    result = softmax(labels=np.zeros((2, 3), dtype), logits=logits)
    assert result.dtype == dtype
    assert np.array_equal(result.astype(np.float64), [0.0, 0.0])


def _extreme_rows(dtype):
    largest = float(finfo(dtype).max)
    big = min(1e30, largest / 4)
    return [
        [big, 0.0, -big],
        [-big, 0.0, big],
        [1000.0, 999.0, 998.0] if largest > 1000 else [100.0, 99.0, 98.0],
        [0.0, -200.0, -40.0],
        [largest / 4, largest / 4, -largest / 4],
    ]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_extreme_logits_match_high_precision(dtype):
    logits = np.array(_extreme_rows(dtype), dtype=dtype)
    labels = np.array([[0, 0, 1], [0, 1, 0], [0.5, 0.25, 0.25], [1, 0, 0], [0, 1, 0]],
                      dtype=dtype)

    result = softmax(labels=labels, logits=logits)

    exact, scale = softmax_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_many_classes_match_high_precision(dtype):
    # 1000 classes: the class sum is long enough for its order and precision to matter.
    rng = np.random.default_rng(14)
    logits = rng.normal(scale=4.0, size=(3, 1000)).astype(dtype)
    labels = rng.dirichlet(np.ones(1000), size=3).astype(dtype)
    result = softmax(labels=labels, logits=logits)
    exact, scale = softmax_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


def test_huge_float32_logits_stay_finite():
    # tf-behaviour.md 4.6: [1e38, -1e38, 0] with the label on class 1 -> 2e38 (finite in f32).
    result = softmax(labels=np.array([0.0, 1.0, 0.0], np.float32),
                     logits=np.array([1e38, -1e38, 0.0], np.float32))
    assert result.dtype == np.float32
    np.testing.assert_allclose(float(result), 2e38, rtol=1e-6)


@pytest.mark.parametrize("dtype, magnitude", [
    (np.float32, 3.4e38),
    (np.float64, 1.7e308),
    (np.float16, 60000.0),   # computed in float32 (120000), then cast: float16 overflows to inf
], ids=["float32", "float64", "float16"])
def test_loss_beyond_the_dtype_range_is_inf(dtype, magnitude):
    # Exact loss 2*magnitude exceeds the largest finite value of the result dtype.
    assert 2 * magnitude > float(finfo(dtype).max)
    result = softmax(labels=np.array([0.0, 1.0], dtype),
                     logits=np.array([magnitude, -magnitude], dtype))
    assert result.dtype == dtype
    assert float(result) == math.inf


def test_float16_is_computed_in_float32():
    # tf-behaviour.md 4.4: float16 logits are computed in float32 and the loss cast back.
    # 3000 equal logits: S = sum exp(0) = 3000, loss = log(3000) = 8.006. A float16 running sum
    # stalls at 2048 (2048 + 1 rounds back to 2048), which would give log(2048) = 7.62.
    classes = 3000
    logits = np.zeros((1, classes), np.float16)
    labels = np.zeros((1, classes), np.float16)
    labels[0, 0] = 1.0
    result = softmax(labels=labels, logits=logits)
    assert result.dtype == np.float16
    np.testing.assert_allclose(result.astype(np.float64), [math.log(classes)], rtol=1e-3)


def test_float32_denormal_loss_is_flushed_to_zero():
    # Label 2e-38 on the winning class, logits [0, -10]: loss = 2e-38 * log(1 + e^-10) ~ 9e-43,
    # a float32 denormal -> 0 under TF's flush-to-zero.
    loss = 2e-38 * math.log1p(math.exp(-10.0))
    assert 0 < loss < np.finfo(np.float32).tiny
    result = softmax(labels=np.array([2e-38, 0.0], np.float32),
                     logits=np.array([0.0, -10.0], np.float32))
    assert result.dtype == np.float32 and result == 0.0


@pytest.mark.parametrize("dtype, denormal_label", [(np.float32, 1e-39), (np.float64, 1e-310)],
                         ids=["float32", "float64"])
def test_denormal_labels_act_as_zero(dtype, denormal_label):
    # logits [0, -1000], label only on the losing class: loss = z * (log(1 + e^-1000) + 1000)
    # ~ 1000*z, a normal number (1e-36 / 1e-307) if the denormal label were used; TF reads
    # the label as 0 (DAZ), so the loss is 0.
    assert 1000 * denormal_label > np.finfo(dtype).tiny
    result = softmax(labels=np.array([0.0, denormal_label], dtype),
                     logits=np.array([0.0, -1000.0], dtype))
    assert result.dtype == dtype and result == 0.0


# --------------------------------------------------------------------------- label casting

def test_integer_labels_are_cast_to_the_logits_dtype():
    logits = np.array([[1.0, 2.0, 3.0]], np.float32)
    result = softmax(labels=np.array([[0, 0, 1]], np.int64), logits=logits)
    assert result.dtype == np.float32
    exact, scale = softmax_reference([[0.0, 0.0, 1.0]], logits, np.float32)
    assert_close(result, exact, np.float32, scale)


def test_python_int_labels_are_accepted():
    result = softmax(labels=[[0, 1]], logits=[[0.0, 0.0]])
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [math.log(2.0)], rtol=1e-6)


def test_float64_labels_with_float32_logits_give_float32():
    labels = np.array([[1 / 3, 2 / 3]], np.float64)
    logits = np.array([[0.5, -0.5]], np.float32)
    result = softmax(labels=labels, logits=logits)
    assert result.dtype == np.float32
    exact, scale = softmax_reference(labels, logits, np.float32)
    assert_close(result, exact, np.float32, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES[:2], ids=DTYPE_IDS[:2])
def test_16bit_logits_with_float64_labels_give_16bit_result(dtype):
    logits = np.array([[2.0, 1.0, 0.1]], dtype)
    labels = np.array([[0.2, 0.3, 0.5]], np.float64)
    result = softmax(labels=labels, logits=logits)
    exact, scale = softmax_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


# --------------------------------------------------------------------------- shapes and axis

def test_rank1_gives_a_scalar():
    result = softmax(labels=[0.0, 1.0, 0.0], logits=[1.0, 2.0, 3.0])
    assert isinstance(result, np.ndarray) and result.shape == ()
    exact, scale = softmax_reference([0.0, 1.0, 0.0], np.array([1.0, 2.0, 3.0]), np.float32)
    assert_close(result, exact, np.float32, scale)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 1, 3, 4), (1, 2, 2, 1, 3)])
def test_output_shape_is_logits_shape_without_last_axis(shape):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=shape)
    labels = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    result = softmax(labels=labels, logits=logits)
    assert result.shape == shape[:-1]
    exact, scale = softmax_reference(labels, logits, np.float64)
    assert_close(result, exact, np.float64, scale)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_axis_selects_the_class_dimension(axis):
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(2, 3, 4))
    labels = rng.uniform(size=(2, 3, 4))
    result = softmax(labels=labels, logits=logits, axis=axis)
    expected_shape = tuple(np.delete(np.array(logits.shape), axis))
    assert result.shape == expected_shape
    exact, scale = softmax_reference(labels, logits, np.float64, axis=axis)
    assert_close(result, exact, np.float64, scale)


def test_axis_none_means_last_axis():
    # tf-behaviour.md 4.5: v2 axis=None is accepted and means -1.
    logits = np.array([[1.0, 2.0], [0.0, 3.0]])
    labels = np.array([[1.0, 0.0], [0.5, 0.5]])
    result = softmax(labels=labels, logits=logits, axis=None)
    exact, scale = softmax_reference(labels, logits, np.float64)
    assert_close(result, exact, np.float64, scale)


@pytest.mark.parametrize("labels_shape", [(1, 4), (4,), (3, 1)], ids=["1xC", "C", "Bx1"])
def test_labels_broadcast_against_logits(labels_shape):
    # tf-behaviour.md 4.5: labels [1,C], [C], [B,1] with logits [B,C] work, output [B].
    rng = np.random.default_rng(13)
    logits = rng.normal(size=(3, 4))
    labels = rng.uniform(size=labels_shape)
    result = softmax(labels=labels, logits=logits)
    assert result.shape == (3,)
    exact, scale = softmax_reference(np.broadcast_to(labels, (3, 4)), logits, np.float64)
    assert_close(result, exact, np.float64, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_empty_batch(dtype):
    result = softmax(labels=np.zeros((0, 3), dtype), logits=np.zeros((0, 3), dtype))
    assert isinstance(result, np.ndarray)
    assert result.shape == (0,) and result.dtype == dtype


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_zero_classes_give_zeros(dtype):
    # tf-behaviour.md 4.5: logits [B, 0] -> zeros of shape [B] (an empty sum).
    result = softmax(labels=np.zeros((2, 0), dtype), logits=np.zeros((2, 0), dtype))
    assert result.shape == (2,) and result.dtype == dtype
    assert np.array_equal(result.astype(np.float64), [0.0, 0.0])


def test_empty_middle_dimension():
    result = softmax(labels=np.zeros((2, 0, 3)), logits=np.zeros((2, 0, 3)))
    assert result.shape == (2, 0)


def test_single_class_gives_zero_loss():
    # One class: softmax is 1, so the loss is z * (log 1) = 0 for any finite logit.
    result = softmax(labels=[[1.0], [1.0]], logits=[[5.0], [-7.0]])
    assert np.array_equal(result, np.zeros(2, np.float32))


# --------------------------------------------------------------------------- special values

inf, nan = math.inf, math.nan

# tf-behaviour.md 4.6: (logits row, labels row, loss). Each follows from the kernel's IEEE
# arithmetic: shifted = x - max, loss = sum z * (log(sum exp(shifted)) - shifted).
SPECIAL_ROWS = [
    ([inf, 0.0, 1.0], [1.0, 0.0, 0.0], nan),     # inf - inf in the shift
    ([0.0, inf, 1.0], [0.0, 0.0, 1.0], nan),
    ([-inf, 0.0, 1.0], [0.0, 0.5, 0.5], nan),    # label 0 times (log S - (-inf)) = 0*inf
    ([-inf, 0.0, 1.0], [1.0, 0.0, 0.0], inf),    # the labelled class has probability 0
    ([-inf, -inf, -inf], [0.0, 1.0, 0.0], nan),  # -inf - (-inf)
    ([nan, 0.0, 1.0], [0.0, 1.0, 0.0], nan),
    ([0.0, 1.0, 2.0], [nan, 1.0, 0.0], nan),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_special_values(dtype):
    logits = np.array([row[0] for row in SPECIAL_ROWS], dtype=dtype)
    labels = np.array([row[1] for row in SPECIAL_ROWS], dtype=dtype)

    result = softmax(labels=labels, logits=logits)

    assert result.dtype == dtype
    for (x, z, want), value in zip(SPECIAL_ROWS, result.astype(np.float64)):
        if math.isnan(want):
            assert math.isnan(value), f"logits={x}, labels={z}: expected nan, got {value}"
        else:
            assert value == want, f"logits={x}, labels={z}: expected {want}, got {value}"


def test_special_values_stay_in_their_row():
    # A nan/inf row must not leak into the other rows of the batch.
    logits = np.array([[inf, 0.0], [1.0, 2.0]], np.float32)
    labels = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    result = softmax(labels=labels, logits=logits)
    assert math.isnan(result[0])
    np.testing.assert_allclose(float(result[1]), math.log1p(math.exp(-1.0)), rtol=1e-6)
