"""tfloss.compat.v1.losses: reductions, weights, label smoothing, dtypes and errors.

Expected values: closed forms (the per-row losses from mpmath, then the reduction by hand), or
values recorded from TF 2.21.0 CPU where a test reproduces one of TF's quirks (each says so).
``parity/test_losses.py`` checks every function bit for bit against real TF.
"""

import inspect

import mpmath
import numpy as np
import pytest

import tfloss
from tfloss import errors

losses = tfloss.compat.v1.losses
Reduction = losses.Reduction
X3 = np.array([[2, -1, 0.5], [0.3, 1, -0.7], [1.5, 0.2, 0.1]], np.float32)
Y3 = np.array([1, 0, 2])
W3 = np.array([1.0, 0.0, 2.0], np.float32)


def _sparse_rows() -> list:
    rows = []
    for row, label in zip(X3.astype(np.float64), Y3):
        log_sum = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))
        rows.append(float(log_sum - mpmath.mpf(float(row[label]))))
    return rows


def test_signatures_are_tfs():
    # As inspect.signature prints TF 2.21's functions (GraphKeys.LOSSES is "losses").
    nonzero = "'weighted_sum_by_nonzero_weights'"
    assert str(inspect.signature(losses.sigmoid_cross_entropy)) == (
        f"(multi_class_labels, logits, weights=1.0, label_smoothing=0, scope=None, loss_collection='losses', reduction={nonzero})")
    assert str(inspect.signature(losses.softmax_cross_entropy)) == (
        f"(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None, loss_collection='losses', reduction={nonzero})")
    assert str(inspect.signature(losses.sparse_softmax_cross_entropy)) == (
        f"(labels, logits, weights=1.0, scope=None, loss_collection='losses', reduction={nonzero})")
    assert str(inspect.signature(losses.compute_weighted_loss)) == (
        f"(losses, weights=1.0, scope=None, loss_collection='losses', reduction={nonzero})")


def test_reduction_keys():
    assert (Reduction.NONE, Reduction.SUM, Reduction.MEAN, Reduction.SUM_OVER_BATCH_SIZE) == (
        "none", "weighted_sum", "weighted_mean", "weighted_sum_over_batch_size")
    assert Reduction.SUM_BY_NONZERO_WEIGHTS == Reduction.SUM_OVER_NONZERO_WEIGHTS == "weighted_sum_by_nonzero_weights"
    assert len(Reduction.all()) == 6  # TF lists the nonzero-weights key twice


def test_every_reduction_of_weighted_sparse_losses():
    rows = _sparse_rows()
    weighted = [r * w for r, w in zip(rows, [1.0, 0.0, 2.0])]
    expected = {
        Reduction.SUM: sum(weighted),
        Reduction.MEAN: sum(weighted) / 3.0,  # sum of weights
        Reduction.SUM_OVER_BATCH_SIZE: sum(weighted) / 3.0,  # number of losses
        Reduction.SUM_BY_NONZERO_WEIGHTS: sum(weighted) / 2.0,  # two non-zero weights
    }
    for reduction, value in expected.items():
        result = losses.sparse_softmax_cross_entropy(Y3, X3, weights=W3, reduction=reduction)
        assert result.dtype == np.float32 and result.shape == ()
        assert abs(float(result) - value) <= 4e-7 * abs(value)
    unreduced = losses.sparse_softmax_cross_entropy(Y3, X3, weights=W3, reduction=Reduction.NONE)
    np.testing.assert_allclose(unreduced, weighted, rtol=3e-7)


def test_recorded_tf_values():
    # Recorded from TF 2.21 (X3, Y3, weights [1, 0, 2]).
    assert losses.sparse_softmax_cross_entropy(Y3, X3, weights=W3).tolist() == np.float32(3.4387927)
    assert losses.sparse_softmax_cross_entropy(Y3, X3, weights=W3, reduction="weighted_sum").tolist() == np.float32(6.8775854)


def test_all_zero_weights_give_zero_not_nan():
    # div_no_nan: 0 / 0 is 0 for every dividing reduction.
    for reduction in (Reduction.MEAN, Reduction.SUM_BY_NONZERO_WEIGHTS):
        assert losses.sparse_softmax_cross_entropy(Y3, X3, weights=0.0, reduction=reduction) == 0.0
    assert losses.compute_weighted_loss(np.zeros((0,), np.float32), reduction=Reduction.SUM_OVER_BATCH_SIZE) == 0.0


def test_float64_losses_are_reduced_in_float32_quirk():
    # Recorded from TF 2.21: the losses are cast to float32 and the result back to float64, so
    # 1e-10 disappears next to 3 (and even NONE rounds 1 + 2**-40 to 1).
    result = losses.compute_weighted_loss(np.array([1.0, 2.0, 1e-10]))
    assert result.dtype == np.float64 and result == 1.0
    assert losses.compute_weighted_loss(np.array([1.0 + 2**-40, 3.0]), reduction="none").tolist() == [1.0, 3.0]


def test_integer_losses_come_back_truncated_quirk():
    # Recorded from TF 2.21: mean of [1, 2, 4] is 2.33 in float32, cast back to int32: 2.
    result = losses.compute_weighted_loss([1, 2, 4], reduction="weighted_mean")
    assert result.dtype == np.int32 and result == 2


def test_negative_label_smoothing_is_ignored_quirk():
    # TF's `if label_smoothing > 0`: -0.5 is no smoothing (Keras would apply it).
    labels, logits = [[1.0, 0.0]], [[2.0, -1.0]]
    plain = losses.sigmoid_cross_entropy(labels, logits, reduction="none")
    np.testing.assert_array_equal(losses.sigmoid_cross_entropy(labels, logits, label_smoothing=-0.5, reduction="none"), plain)
    np.testing.assert_array_equal(losses.softmax_cross_entropy(labels, logits, label_smoothing=-0.5, reduction="none"),
                                  losses.softmax_cross_entropy(labels, logits, reduction="none"))


def test_label_smoothing_formulas():
    # sigmoid: z * (1 - ls) + ls / 2; softmax: z * (1 - ls) + ls / C.
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    labels = np.array([[1.0, 0.0, 0.0]], np.float32)
    smoothed_sigmoid = labels * 0.8 + 0.1
    np.testing.assert_allclose(losses.sigmoid_cross_entropy(labels, logits, label_smoothing=0.2, reduction="none"),
                               tfloss.nn.sigmoid_cross_entropy_with_logits(labels=smoothed_sigmoid, logits=logits), rtol=1e-6)
    smoothed_softmax = labels * 0.8 + np.float32(0.2) / 3
    np.testing.assert_allclose(losses.softmax_cross_entropy(labels, logits, label_smoothing=0.2, reduction="none"),
                               tfloss.nn.softmax_cross_entropy_with_logits(labels=smoothed_softmax, logits=logits), rtol=1e-6)


def test_weights_rules_and_messages():
    # TF 2.21's texts: weights must be scalar or of the losses' rank, dims 1 or equal.
    with pytest.raises(ValueError, match=r"^weights can not be broadcast to values. values.rank=2. weights.rank=1. "
                                         r"values.shape=\(3, 3\). weights.shape=\(3,\). Received weights=\[1. 1. 1.\], values="):
        losses.sigmoid_cross_entropy(np.ones((3, 3), np.float32), X3, weights=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"Mismatch at dim 0. values.shape=\[3\], weights.shape=\[2\]"):
        losses.compute_weighted_loss(np.ones(3, np.float32), weights=np.ones(2, np.float32))
    per_sample = losses.sigmoid_cross_entropy(np.ones((3, 3), np.float32), X3, weights=np.ones((3, 1), np.float32))
    assert per_sample.shape == ()


def test_errors_are_tfs():
    with pytest.raises(ValueError, match=r"^Invalid Reduction Key sum. Key should be one of \('none', 'weighted_sum'"):
        losses.compute_weighted_loss([1.0], reduction="sum")
    with pytest.raises(ValueError, match="^Argument `onehot_labels` must not be None.$"):
        losses.softmax_cross_entropy(None, X3)
    with pytest.raises(ValueError, match=r"^Shapes \(3, 3\) and \(3, 2\) are incompatible$"):
        losses.sigmoid_cross_entropy(np.ones((3, 2)), X3)
    with pytest.raises(errors.InvalidArgumentError, match="Value for attr 'Tlabels' of float"):
        losses.sparse_softmax_cross_entropy(Y3.astype(np.float32), X3)
    with pytest.raises(errors.InvalidArgumentError, match=r"outside the valid range of \[0, 3\).*name: xentropy$"):
        losses.sparse_softmax_cross_entropy([0, 3, 1], X3)


def test_sparse_squeezes_trailing_dimensions():
    unreduced = losses.sparse_softmax_cross_entropy(Y3, X3, reduction="none")
    np.testing.assert_array_equal(losses.sparse_softmax_cross_entropy(Y3[:, None], X3, reduction="none"), unreduced)
    np.testing.assert_array_equal(
        losses.sparse_softmax_cross_entropy(Y3, X3, weights=np.ones((3, 1), np.float32), reduction="none"), unreduced)


def test_16_bit_logits_give_16_bit_losses():
    for dtype in (np.float16, tfloss._machine.cpu.bfloat16):
        result = losses.sparse_softmax_cross_entropy(Y3, X3.astype(dtype), weights=W3)
        assert result.dtype == dtype
        assert abs(float(result) - 3.4387927) < 0.02


def test_caller_arrays_are_not_modified():
    labels, logits, weights = Y3.copy(), X3.copy(), W3.copy()
    losses.sparse_softmax_cross_entropy(labels, logits, weights=weights)
    losses.softmax_cross_entropy(np.eye(3, dtype=np.float32), logits, weights=weights, label_smoothing=0.1)
    assert np.array_equal(labels, Y3) and np.array_equal(logits, X3) and np.array_equal(weights, W3)
