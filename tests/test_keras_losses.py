"""tfloss.keras.losses (Keras 3.15.1 on the TF backend) and tfloss.keras.ops.

Expected values: closed forms, or values recorded from TF 2.21.0 with keras 3.15.1 where a test
reproduces a quirk (each says so).  ``parity/test_losses.py`` checks every case bit for bit
against real Keras.
"""

import inspect
import math
import warnings

import numpy as np
import pytest

import tfloss
from tfloss import errors

K = tfloss.keras
Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
X = np.array([[2.0, -1.0, 0.5], [20.0, -20.0, 0.0]], np.float32)
L = np.array([[0.1, 0.7, 0.3], [0.9, 0.2, 0.6], [0.5, 0.5, 0.8]], np.float32)
YB = (L > 0.45).astype(np.float32)


def test_tf_losses_is_keras():
    assert tfloss.losses is tfloss.keras.losses


def test_signatures_are_keras():
    # As inspect.signature prints keras 3.15.1's.
    assert str(inspect.signature(K.losses.binary_crossentropy)) == "(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1)"
    assert str(inspect.signature(K.losses.sparse_categorical_crossentropy)) == "(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1)"
    assert str(inspect.signature(K.losses.SparseCategoricalCrossentropy)) == (
        "(from_logits=False, ignore_class=None, reduction='sum_over_batch_size', axis=-1, "
        "name='sparse_categorical_crossentropy', dtype=None)")
    assert str(inspect.signature(K.losses.CategoricalCrossentropy)) == (
        "(from_logits=False, label_smoothing=0.0, axis=-1, reduction='sum_over_batch_size', "
        "name='categorical_crossentropy', dtype=None)")


def test_get_config_round_trip():
    # Recorded from keras 3.15.1: SparseCategoricalCrossentropy's config has no axis.
    assert K.losses.BinaryCrossentropy(from_logits=True).get_config() == {
        "name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True,
        "label_smoothing": 0.0, "axis": -1}
    config = K.losses.SparseCategoricalCrossentropy(ignore_class=3).get_config()
    assert config == {"name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size",
                      "from_logits": False, "ignore_class": 3}
    assert K.losses.SparseCategoricalCrossentropy.from_config(config).ignore_class == 3


def test_sparse_has_no_label_smoothing():
    with pytest.raises(TypeError, match="label_smoothing"):
        K.losses.SparseCategoricalCrossentropy(label_smoothing=0.1)


def test_categorical_from_probabilities_matches_closed_form():
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], np.float32)
    expected = [-math.log(0.5), -math.log(0.6)]
    np.testing.assert_allclose(K.losses.categorical_crossentropy(Y, p), expected, rtol=1e-6)
    # Renormalised: doubling the probabilities changes nothing.
    np.testing.assert_allclose(K.losses.categorical_crossentropy(Y, 2 * p), expected, rtol=1e-6)


def test_binary_is_the_mean_over_the_last_axis():
    p = np.array([[0.9, 0.2]], np.float32)
    expected = (-math.log(0.9) - math.log(0.8)) / 2
    np.testing.assert_allclose(K.losses.binary_crossentropy([[1.0, 0.0]], p), [expected], rtol=1e-6)


def test_clip_costs_a_loss_of_40_quirk():
    # Recorded from TF 2.21 / keras 3.15.1: from tf.nn.softmax (no history) the probability
    # 4e-18 is clipped to 1e-7, so the loss is -log(1e-7 / (1 + ...)) = 16.118, not 40; from
    # keras.ops.softmax the logits are used: 40.
    y_true = [[0.0, 1.0, 0.0]]
    logits = np.array([[20.0, -20.0, 0.0]], np.float32)
    assert K.losses.categorical_crossentropy(y_true, tfloss.nn.softmax(logits)).tolist() == [np.float32(16.118095)]
    assert K.losses.categorical_crossentropy(y_true, K.ops.softmax(logits)).tolist() == [40.0]
    assert K.losses.categorical_crossentropy(Y, tfloss.nn.softmax(X)).tolist() == [np.float32(3.2413113), np.float32(1.1920929e-07)]
    assert K.losses.categorical_crossentropy(Y, K.ops.softmax(X)).tolist() == [np.float32(3.2413113), 0.0]


def test_a_cast_loses_the_logits_quirk():
    # Recorded: a float16 softmax output is cast to the float32 loss dtype, a new tensor
    # without _keras_logits: the clipped path (1.19e-7); the function form keeps float16 and
    # the logits (0).
    # (Row 0's value depends on which float16 softmax kernel TF picks for the CPU, so only
    # the recorded row 1 is compared, and row 0 against the same loss of a plain array.)
    probabilities = K.ops.softmax(X.astype(np.float16))
    loss = K.losses.CategoricalCrossentropy(reduction=None)
    result = loss(Y, probabilities)
    assert result[1] == np.float32(1.1920929e-07)
    np.testing.assert_array_equal(result, loss(Y, np.asarray(probabilities).view(np.ndarray)))
    function_form = K.losses.categorical_crossentropy(Y, probabilities)
    assert function_form.dtype == np.float16 and function_form[1] == 0.0


def test_ignore_class_where_loses_the_logits_quirk():
    # Recorded: ignore_class rebuilds y_pred with where(...), so the logits are gone even for
    # rows that are not ignored: 16.118 instead of 40.
    loss = K.losses.SparseCategoricalCrossentropy(reduction=None)
    ignoring = K.losses.SparseCategoricalCrossentropy(ignore_class=2, reduction=None)
    probabilities = K.ops.softmax(X)
    assert loss(np.array([1, 1]), probabilities).tolist() == [np.float32(3.2413113), 40.0]
    assert ignoring(np.array([1, 1]), probabilities).tolist() == [np.float32(3.2413113), np.float32(16.118095)]


def test_from_logits_true_on_an_activation_warns():
    with pytest.warns(UserWarning, match="received `from_logits=True`, but the `output` argument was produced by a Softmax"):
        K.losses.categorical_crossentropy(Y, K.ops.softmax(X), from_logits=True)


def test_probabilities_0_and_1_in_float16_give_inf_quirk():
    # Recorded: 1 - 1e-7 rounds to 1 in float16, so log(1 - p) = log(0) = -inf.
    assert K.losses.binary_crossentropy([[0.0, 1.0]], np.array([[1.0, 0.0]], np.float16)).tolist() == [math.inf]
    assert K.losses.binary_crossentropy([[0.0, 1.0]], np.array([[1.0, 0.0]], np.float32)).tolist() == [np.float32(16.03024)]


def test_negative_label_smoothing_is_applied():
    # Keras tests `if label_smoothing:`; labels [1, 0] become [1.25, -0.25]. Closed form:
    z, p = np.array([1.25, -0.25]), np.array([0.9, 0.2])
    expected = np.mean(-(z * np.log(p) + (1 - z) * np.log(1 - p)))
    result = K.losses.binary_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.9, 0.2]]), label_smoothing=-0.5)
    np.testing.assert_allclose(result, [expected], rtol=1e-12)
    assert result[0] < 0  # a negative loss


def test_label_smoothing_counts_the_last_axis_quirk():
    # axis=0 reduces over rows, but the class count is shape[-1] (3), not shape[0] (2).
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    p = np.array([[0.6, 0.3, 0.2], [0.4, 0.7, 0.8]])
    z = y * 0.7 + 0.3 / 3
    expected = -(z * np.log(p / p.sum(axis=0))).sum(axis=0)
    np.testing.assert_allclose(K.losses.categorical_crossentropy(y, p, label_smoothing=0.3, axis=0), expected, rtol=1e-12)


def test_float32_compute_default():
    assert K.losses.BinaryCrossentropy()(YB.astype(np.float64), L.astype(np.float64)).dtype == np.float32
    assert K.losses.BinaryCrossentropy(dtype="float64")(YB, L).dtype == np.float64
    assert K.losses.binary_crossentropy(YB.astype(np.float64), L.astype(np.float64)).dtype == np.float64


def _per_sample(y, p):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_reductions_and_sample_weights():
    y, p = YB[..., None], L[..., None]
    losses = _per_sample(YB.astype(np.float64), L.astype(np.float64))  # (3, 3) after the mean over the last axis
    w = np.array([[1.0], [2.0], [3.0]])
    cases = {
        "sum": (losses * w).sum(),
        "sum_over_batch_size": (losses * w).sum() / 9,  # the element count, not the weights
        "mean": (losses * w).sum() / 9,
        "mean_with_sample_weight": (losses * w).sum() / w.sum(),  # the unbroadcast weights: 6, not 18
    }
    for reduction, expected in cases.items():
        result = K.losses.BinaryCrossentropy(reduction=reduction)(y, p, sample_weight=w)
        assert result.dtype == np.float32 and result.shape == ()
        assert abs(float(result) - expected) <= 1e-6 * expected, reduction
    none = K.losses.BinaryCrossentropy(reduction=None)(y, p, sample_weight=w)
    np.testing.assert_allclose(none, losses * w, rtol=1e-6)


def test_per_timestep_sample_weight_trap_quirk():
    # Recorded: losses (B, T) with weights (B,) are not expanded (T != 1): with B == T the
    # weights multiply the time steps, silently; with B != T it is an error.
    y, p = YB[..., None], L[..., None]
    trapped = K.losses.BinaryCrossentropy(reduction=None)(y, p, sample_weight=np.array([1.0, 2.0, 3.0]))
    losses = _per_sample(YB.astype(np.float64), L.astype(np.float64))
    np.testing.assert_allclose(trapped, losses * np.array([1.0, 2.0, 3.0]), rtol=1e-6)
    with pytest.raises(errors.InvalidArgumentError, match=r"Incompatible shapes: \[3,3\] vs. \[2\]"):
        K.losses.BinaryCrossentropy()(y, p, sample_weight=np.array([1.0, 2.0]))


def test_empty_batch_is_returned_unreduced_quirk():
    # Recorded: losses of shape (0,) are returned as they are, not reduced to 0.
    result = K.losses.BinaryCrossentropy()(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
    assert result.shape == (0,) and result.dtype == np.float32


def test_ignore_class_averages_over_valid_positions():
    labels = np.array([0, 1, 1, 2])
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]], np.float32)
    unreduced = K.losses.SparseCategoricalCrossentropy(ignore_class=1, reduction=None)(labels, p)
    np.testing.assert_allclose(unreduced, [-math.log(0.5), 0.0, 0.0, -math.log(0.6)], rtol=1e-6)
    mean = K.losses.SparseCategoricalCrossentropy(ignore_class=1)(labels, p)
    assert abs(float(mean) - (-math.log(0.5) - math.log(0.6)) / 2) < 1e-6
    assert K.losses.SparseCategoricalCrossentropy(ignore_class=1)(np.array([1, 1]), p[:2]) == 0.0  # all ignored


def test_sparse_float_labels_truncate():
    # Labels are cast to int64: 1.7 is class 1.
    np.testing.assert_allclose(K.losses.sparse_categorical_crossentropy(np.array([1.7]), np.array([[0.2, 0.8]])),
                               [-math.log(0.8)], rtol=1e-12)


def test_errors_are_keras():
    with pytest.raises(ValueError, match=r"^Invalid value for argument `reduction`. Expected one of \{.*\}. Received: reduction=auto$"):
        K.losses.BinaryCrossentropy(reduction="auto")
    with pytest.raises(ValueError, match=r"^`axis` must be of type `int`. Received: axis=True of type <class 'bool'>$"):
        K.losses.categorical_crossentropy(Y, Y, axis=True)
    with pytest.raises(ValueError, match=r"^Only axis=-1 is currently supported. Received: axis=0$"):
        K.losses.sparse_categorical_crossentropy(np.array([0, 1]), Y, axis=0)
    with pytest.raises(ValueError, match=r"must have the same shape. Received: target.shape=\(2, 4\), output.shape=\(2, 3\)"):
        K.losses.binary_crossentropy(np.ones((2, 4)), Y)
    with pytest.raises(AttributeError, match="'list' object has no attribute 'shape'"):
        K.losses.sparse_categorical_crossentropy([0, 1], Y)


def test_python_lists_are_structures_for_a_loss_object():
    # Keras' tree.map_structure: lists against an array are an error; alike lists are stacked.
    with pytest.raises(ValueError, match="^Expected an instance of list, got <tf.Tensor: shape=\\(1, 2\\)"):
        K.losses.BinaryCrossentropy()([[0.0, 1.0]], np.array([[0.2, 0.8]], np.float32))
    with pytest.raises(ValueError, match="^Structures don't have the same nested structure.$"):
        K.losses.BinaryCrossentropy()(np.array([[0.0, 1.0]]), [[0.2, 0.8]])
    assert abs(float(K.losses.BinaryCrossentropy()([[0.0, 1.0]], [[0.2, 0.8]])) + math.log(0.8)) < 1e-6


def test_one_class_warns():
    with pytest.warns(SyntaxWarning, match="Consider using 'binary_crossentropy'"):
        K.losses.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))


def test_softmax_over_an_axis_of_one_warns_quirk():
    # keras.ops.softmax (Keras 3.15.1, ops/nn.py) warns for an int axis of length 1, so the focal
    # loss with from_logits=True on one class warns twice (the one-class warning first).
    message = ("You are using a softmax over axis -1 of a tensor of shape (1, 1). This axis has size 1. The softmax "
               "operation will always return the value 1, which is likely not what you intended. Did you mean to "
               "use a sigmoid instead?")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        K.losses.categorical_focal_crossentropy(np.ones((1, 1), np.float32), np.ones((1, 1), np.float32),
                                               from_logits=True)
    assert [(w.category, str(w.message)) for w in caught][1:] == [(UserWarning, message)]
    assert caught[0].category is SyntaxWarning
    with warnings.catch_warnings(record=True) as caught:  # the tape runs the forward once: one each
        warnings.simplefilter("always")
        tfloss.value_and_gradient(K.losses.categorical_focal_crossentropy, y_true=np.ones((1, 1), np.float32),
                                  y_pred=np.ones((1, 1), np.float32), from_logits=True)
    assert [w.category for w in caught] == [SyntaxWarning, UserWarning]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        K.ops.softmax(np.ones((3, 1), np.float32), axis=1)
        K.ops.softmax(np.ones((3, 1), np.float32), axis=0)  # length 3: no warning
        K.ops.softmax(np.ones((1, 1), np.float32), axis=None)  # not an int axis: no warning
    assert [str(w.message) for w in caught] == [message.replace("axis -1", "axis 1").replace("(1, 1)", "(3, 1)")]


def test_caller_arrays_are_not_modified():
    y, p, w = YB.copy(), L.copy(), np.array([1.0, 0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        K.losses.BinaryCrossentropy(label_smoothing=0.1)(y, p, sample_weight=w)
        K.losses.SparseCategoricalCrossentropy(ignore_class=0)(np.array([0, 1, 2]), p, sample_weight=w)
    assert np.array_equal(y, YB) and np.array_equal(p, L) and w.tolist() == [1.0, 0.0, 2.0]


def test_binary_focal_closed_form():
    # mean(alpha_t * (1 - p_t)**gamma * bce): z = [1, 0], p = [0.8, 0.4], gamma = 2, alpha = 0.25
    z, p = np.array([[1.0, 0.0]]), np.array([[0.8, 0.4]])
    p_t = np.array([0.8, 0.6])
    bce = -np.log(p_t)
    alpha_t = np.array([0.25, 0.75])
    expected = np.mean(alpha_t * (1 - p_t) ** 2 * bce)
    result = K.losses.binary_focal_crossentropy(z, p, apply_class_balancing=True)
    np.testing.assert_allclose(result, [expected], rtol=1e-12)


def test_binary_focal_with_logits_uses_the_stable_path():
    # Recorded from keras 3.15.1 (gamma = 0: plain BCE): 30.0 for a logit of 30 on the wrong side,
    # not the clipped 16.03, because Keras' own sigmoid remembers its logits.
    y, x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([[3.0, -3.0], [30.0, -30.0]], np.float32)
    assert K.losses.binary_focal_crossentropy(y, x, gamma=0.0, from_logits=True).tolist() == [np.float32(0.048587352), 30.0]


def test_categorical_focal_is_always_clipped_quirk():
    # It renormalises y_pred even after its own softmax, a new tensor: the clipped path, so a
    # true loss of 40 is capped (gamma = 0, alpha = 1 make it the plain cross-entropy).
    y, x = [[0.0, 1.0, 0.0]], np.array([[20.0, -20.0, 0.0]], np.float32)
    result = K.losses.categorical_focal_crossentropy(y, x, alpha=1.0, gamma=0.0, from_logits=True)
    assert abs(float(result[0]) - 16.118095) < 1e-5


def test_a_keras_mask_attribute_is_not_read():
    # A deliberate difference (tfloss.keras.losses' docstring): even an array that carries
    # ``_keras_mask`` is weighted as if it had none.  Masked value recorded from keras 3.15.1
    # (mask [True, True, False] set on y_pred): 0.16425204; tfloss gets it from the weight.
    y, p = np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], np.float32)
    carrying = K.ops.softmax(np.log(p))
    carrying._keras_mask = np.array([True, True, False])
    loss = K.losses.SparseCategoricalCrossentropy()
    assert loss(y, carrying) == loss(y, K.ops.softmax(np.log(p)))
    assert loss(y, carrying) != np.float32(0.16425204)
    weight = np.where(carrying._keras_mask, np.float32(3) / np.float32(2), np.float32(0))
    assert loss(y, p, sample_weight=weight) == np.float32(0.16425204)


def test_focal_loss_pow_of_two_is_not_a_square_quirk():
    # Recorded from keras 3.15.1 on TF 2.21 CPU, eager: the focal factor (1 - p_t)**2 is TF's Pow,
    # not a product, so focal != p * p * bce for 0.6 and 0.65 (here 1 - p_t == p exactly).  Under
    # tf.function Grappler turns Pow(x, 2) into Square and TF gives p * p * bce instead.
    p = np.array([0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9], np.float32)[:, None]
    z = np.zeros_like(p)
    focal = K.losses.binary_focal_crossentropy(z, p, gamma=2.0)
    bce = K.losses.binary_focal_crossentropy(z, p, gamma=0.0)
    assert focal[:3].tolist() == [np.float32(0.24154858), np.float32(0.3298647), np.float32(0.4435498)]
    assert (focal == p[:, 0] * p[:, 0] * bce).tolist() == [True, False, False, True, True, True, True, True]


def test_binary_focal_alpha_needs_class_balancing_quirk():
    # Recorded from keras 3.15.1: alpha is ignored unless apply_class_balancing=True.
    y, p = np.array([[1.0], [1.0], [0.0]], np.float32), np.array([[0.9], [0.1], [0.2]], np.float32)
    default = K.losses.binary_focal_crossentropy(y, p)
    assert K.losses.binary_focal_crossentropy(y, p, alpha=0.9).tolist() == default.tolist()
    balanced = K.losses.binary_focal_crossentropy(y, p, alpha=0.9, apply_class_balancing=True)
    assert balanced.tolist() == [np.float32(9.4824529e-04), np.float32(1.6785845), np.float32(8.9257408e-04)]


def test_categorical_focal_alpha_always_applies_quirk():
    # Recorded from keras 3.15.1: with gamma = 0 the categorical focal loss is alpha * CCE (0.25 by
    # default), not CCE; alpha = 1 gives CCE back.
    y, p = np.array([[0.0, 1.0, 0.0]], np.float32), np.array([[0.2, 0.7, 0.1]], np.float32)
    assert K.losses.categorical_focal_crossentropy(y, p, gamma=0.0).tolist() == [np.float32(0.08916874)]
    assert K.losses.categorical_focal_crossentropy(y, p, alpha=1.0, gamma=0.0).tolist() == [np.float32(0.35667497)]
    assert K.losses.categorical_crossentropy(y, p).tolist() == [np.float32(0.35667497)]


def test_focal_gradient_shrinks_easy_examples():
    # GradientTape on keras 3.15.1 / TF 2.21 (float64, these exact floats): d/dp of the focal loss,
    # against plain BCE's.
    y, p = np.array([[1.0], [1.0], [0.0]]), np.array([[0.9], [0.1], [0.2]])
    _, grads = tfloss.value_and_gradient(K.losses.binary_focal_crossentropy, y_true=y, y_pred=p)
    assert grads["y_pred"].reshape(-1).tolist() == [-0.03218321424267635, -12.244653167389284, 0.13925742052568385]
    _, plain = tfloss.value_and_gradient(K.losses.binary_crossentropy, y_true=y, y_pred=p)
    assert plain["y_pred"].reshape(-1).tolist() == [-1.1111111111111112, -10.0, 1.25]
