"""value_and_gradient for the building blocks and tf.compat.v1.losses: closed-form derivatives.

Expected values are the analytic derivatives, computed in float64 here; tfloss's float32
results must agree within a few float32 epsilons.  ``parity/test_composite_gradients.py``
checks the bits against ``tf.GradientTape``.
"""

import numpy as np
import pytest

import tfloss

vg = tfloss.value_and_gradient
X = np.array([[2.0, -1.0, 0.5], [0.3, 1.0, -0.7]], np.float32)
G = np.array([[1.0, -0.5, 2.0], [0.25, 1.0, -1.0]], np.float32)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _close(actual, expected, tolerance=4e-7):
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


def test_activation_derivatives():
    x = X.astype(np.float64)
    s = _sigmoid(x)
    _close(vg(tfloss.math.sigmoid, x=X, grad_loss=G)[1]["x"], G * s * (1 - s))
    _close(vg(tfloss.math.softplus, features=X, grad_loss=G)[1]["features"], G * s)
    _close(vg(tfloss.math.log_sigmoid, x=X, grad_loss=G)[1]["x"], G * (1 - s))


@pytest.mark.parametrize("axis", [None, 0])
def test_softmax_derivatives(axis):
    x, g = X.astype(np.float64), G.astype(np.float64)
    if axis == 0:
        x, g = x.T, g.T
    p = _softmax(x)
    softmax_grad = (g - (g * p).sum(axis=-1, keepdims=True)) * p
    log_softmax_grad = g - g.sum(axis=-1, keepdims=True) * p
    if axis == 0:
        softmax_grad, log_softmax_grad = softmax_grad.T, log_softmax_grad.T
    kwargs = {} if axis is None else {"axis": axis}
    _close(vg(tfloss.nn.softmax, logits=X, grad_loss=G, **kwargs)[1]["logits"], softmax_grad)
    _close(vg(tfloss.nn.log_softmax, logits=X, grad_loss=G, **kwargs)[1]["logits"], log_softmax_grad)


def test_reduction_derivatives():
    _, grads = vg(tfloss.reduce_sum, input_tensor=X, axis=1, grad_loss=np.array([2.0, -1.0], np.float32))
    np.testing.assert_array_equal(grads["input_tensor"], [[2.0] * 3, [-1.0] * 3])
    _, grads = vg(tfloss.reduce_mean, input_tensor=X)
    np.testing.assert_array_equal(grads["input_tensor"], np.full(X.shape, np.float32(1) / np.float32(6)))
    _, grads = vg(tfloss.reduce_sum, input_tensor=np.array([1, 2], np.int32))
    assert grads["input_tensor"] is None  # the tape has no gradient for integers


LABELS = np.array([0, 2])
W = np.array([1.0, 3.0], np.float32)


def _rows():
    x = X.astype(np.float64)
    p = _softmax(x)
    onehot = np.eye(3)[LABELS]
    losses = -np.log(p[np.arange(2), LABELS])
    return losses, p - onehot


@pytest.mark.parametrize("reduction, scale", [("weighted_sum", 1.0), ("weighted_sum_over_batch_size", 0.5),
                                              ("weighted_sum_by_nonzero_weights", 0.5)])
def test_v1_sparse_derivatives(reduction, scale):
    losses, backprop = _rows()
    _, grads = vg(tfloss.compat.v1.losses.sparse_softmax_cross_entropy, labels=LABELS, logits=X, weights=W,
                  reduction=reduction)
    _close(grads["logits"], scale * W[:, None] * backprop)
    _close(grads["weights"], scale * losses)


def test_v1_mean_weights_derivative_includes_the_divisor():
    # loss = sum(w * l) / sum(w): d/dw_i = (l_i * sum(w) - sum(w * l)) / sum(w)**2
    losses, backprop = _rows()
    _, grads = vg(tfloss.compat.v1.losses.sparse_softmax_cross_entropy, labels=LABELS, logits=X, weights=W,
                  reduction="weighted_mean")
    total, weighted = W.sum(), (W * losses).sum()
    _close(grads["weights"], (losses * total - weighted) / total**2)
    _close(grads["logits"], (W / total)[:, None] * backprop)


def test_v1_softmax_labels_get_no_gradient_and_scalar_weights_none():
    _, grads = vg(tfloss.compat.v1.losses.softmax_cross_entropy, onehot_labels=np.eye(3, dtype=np.float32)[LABELS],
                  logits=X, label_smoothing=0.1)
    assert set(grads) == {"logits", "onehot_labels"}  # weights were not passed
    assert grads["onehot_labels"] is None  # TF wraps the labels in stop_gradient


def test_keras_binary_gradient_from_probabilities():
    # mean over the last axis of -(z log p + (1 - z) log(1 - p)): d/dp = (p - z) / (p (1 - p)) / C
    z = np.array([[0.0, 1.0, 1.0]], np.float32)
    p = np.array([[0.2, 0.7, 0.9]], np.float32)
    _, grads = vg(tfloss.keras.losses.binary_crossentropy, y_true=z, y_pred=p)
    p64, z64 = p.astype(np.float64), z.astype(np.float64)
    _close(grads["y_pred"], (p64 - z64) / (p64 * (1 - p64)) / 3, 1e-6)
    # d/dz = -(log p - log(1 - p)) / C; float32 like the labels
    assert grads["y_true"].dtype == np.float32
    _close(grads["y_true"], -(np.log(p64) - np.log(1 - p64)) / 3, 1e-6)


def test_keras_label_gradients_with_smoothing_and_logits():
    # Labels z' = z (1 - ls) + ls / C. Categorical from logits: d/dz = -(1 - ls) * log_softmax(x),
    # in the labels' own dtype (Cast's gradient); binary from logits: d/dz = -(1 - ls) * x / C.
    x = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)
    z = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], np.float64)
    x64 = x.astype(np.float64)
    log_softmax = x64 - np.log(np.exp(x64).sum(axis=1, keepdims=True))
    _, grads = vg(tfloss.keras.losses.categorical_crossentropy, y_true=z, y_pred=x, from_logits=True,
                  label_smoothing=0.2)
    assert grads["y_true"].dtype == np.float64
    _close(grads["y_true"], -0.8 * log_softmax, 1e-6)
    _, grads = vg(tfloss.keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, reduction="sum"),
                  y_true=z, y_pred=x)
    _close(grads["y_true"], -0.8 * x64 / 3, 1e-6)
    # Integer labels have no gradient, as on TF's tape.
    _, grads = vg(tfloss.keras.losses.binary_crossentropy, y_true=z.astype(np.int32), y_pred=x, from_logits=True)
    assert grads["y_true"] is None


def test_keras_sparse_loss_object_gradients():
    # The loss is the sparse xent of logits log(p), i.e. -log(p_y / sum(p)), weighted, over N = 2:
    # d/dp_j = w / N * (1 / sum(p) - [j == y] / p_y); d/dw = loss / N.
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], np.float32)
    y, w = np.array([1, 0]), np.array([2.0, 0.5])
    _, grads = vg(tfloss.keras.losses.SparseCategoricalCrossentropy(), y_true=y, y_pred=p, sample_weight=w)
    p64 = p.astype(np.float64)
    onehot = np.eye(3)[y]
    expected = (w / 2)[:, None] * (1 / p64.sum(axis=1, keepdims=True) - onehot / p64[np.arange(2), y][:, None])
    _close(grads["y_pred"], expected, 1e-6)
    _close(grads["sample_weight"], [-np.log(0.5) / 2, -np.log(0.6) / 2], 1e-6)
    assert grads["y_true"] is None


def test_keras_logits_history_gradient_is_none():
    # The loss of a keras.ops.softmax output is computed from its logits: y_pred itself is unused.
    probabilities = tfloss.keras.ops.softmax(X)
    _, grads = vg(tfloss.keras.losses.categorical_crossentropy, y_true=np.eye(3, dtype=np.float32)[[0, 2]],
                  y_pred=probabilities)
    assert grads["y_pred"] is None


def test_keras_focal_label_gradients_closed_form():
    # Binary focal, per element L = w(z) (1 - p_t)**g bce with p_t = z p + (1 - z)(1 - p),
    # bce = -(z log p + (1 - z) log(1 - p)) and w(z) = a z + (1 - a)(1 - z), averaged over C:
    # dL/dz = (w' (1 - p_t)**g bce - w g (1 - p_t)**(g-1) (2p - 1) bce - w (1 - p_t)**g (log p - log(1 - p))) / C
    z = np.array([[0.0, 1.0, 0.3], [0.8, 0.5, 1.0]])
    p = np.array([[0.2, 0.7, 0.9], [0.6, 0.35, 0.05]])
    a, g = 0.3, 2.5
    p_t = z * p + (1 - z) * (1 - p)
    bce = -(z * np.log(p) + (1 - z) * np.log(1 - p))
    w = a * z + (1 - a) * (1 - z)
    expected = ((2 * a - 1) * (1 - p_t) ** g * bce - w * g * (1 - p_t) ** (g - 1) * (2 * p - 1) * bce
                - w * (1 - p_t) ** g * (np.log(p) - np.log(1 - p))) / 3
    _, grads = vg(tfloss.keras.losses.binary_focal_crossentropy, y_true=z, y_pred=p, gamma=g, alpha=a,
                  apply_class_balancing=True)
    assert grads["y_true"].dtype == np.float64
    _close(grads["y_true"], expected, 1e-12)
    # From logits, with smoothing (z' = 0.9 z + 0.05) and float16 labels cast to the float32 logits:
    # the same formula at p = sigmoid(x), times 0.9, with log p - log(1 - p) = x; float16 like the labels.
    x = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)
    z16 = z.astype(np.float16)
    zs, ps = 0.9 * z16.astype(np.float64) + 0.05, _sigmoid(x.astype(np.float64))
    p_t = zs * ps + (1 - zs) * (1 - ps)
    bce = -(zs * np.log(ps) + (1 - zs) * np.log(1 - ps))
    expected = 0.9 * (-g * (1 - p_t) ** (g - 1) * (2 * ps - 1) * bce - (1 - p_t) ** g * x) / 3
    _, grads = vg(tfloss.keras.losses.BinaryFocalCrossentropy(from_logits=True, gamma=g, label_smoothing=0.1,
                                                              reduction="sum"), y_true=z16, y_pred=x)
    assert grads["y_true"].dtype == np.float16
    _close(grads["y_true"], expected, 2e-3)
    # Categorical focal: L = -a sum_i (1 - o_i)**g z_i log o_i, so dL/dz_i = -a (1 - o_i)**g log o_i.
    o = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    _, grads = vg(tfloss.keras.losses.categorical_focal_crossentropy, y_true=z, y_pred=o, gamma=g, alpha=a)
    _close(grads["y_true"], -a * (1 - o) ** g * np.log(o), 1e-12)
