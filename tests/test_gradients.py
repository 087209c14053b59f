"""tfloss.value_and_gradient / hessian_vector_product: closed forms, finite differences, TF's quirks.

Expected values come from closed forms evaluated with mpmath (60 digits) on the exact inputs,
or from central finite differences of the float64 loss; never from tfloss's own gradients.
Closed forms (x = logits, z = labels, q = pos_weight, g = upstream gradient, p = softmax(x)):

    sigmoid   d/dx = g*(sigmoid(x) - z)                  d/dz = -g*x
    weighted  d/dx = g*((1 - z) - l*(1 - sigmoid(x)))    d/dz = g*(-x + (q - 1)*s)    d/dq = sum g*z*s
              with l = 1 + (q - 1)*z and s = softplus(-x)
    softmax   d/dx = g*(p - z)  (TF's, = derivative only if sum(z) = 1)    d/dz = -g*log(p)
    sparse    d/dx = g*(p - onehot)
    second order, tangent v:  sigmoid  d/dx = g*sigmoid'(x)*v, d/dz = -g*v
                              softmax  d/dx = (u - <u, p>)*p with u = g*v; TF's d/dz = 0 (true: -u)

Each reproduced TF quirk has a test whose name ends in ``_quirk``.
"""

from __future__ import annotations

import ml_dtypes
import mpmath
import numpy as np
import pytest

import tfloss
from tfloss import errors

mpmath.mp.dps = 60

sigmoid_op = tfloss.nn.sigmoid_cross_entropy_with_logits
weighted_op = tfloss.nn.weighted_cross_entropy_with_logits
softmax_op = tfloss.nn.softmax_cross_entropy_with_logits
sparse_op = tfloss.nn.sparse_softmax_cross_entropy_with_logits
v1 = tfloss.compat.v1.nn

BF16 = np.dtype(ml_dtypes.bfloat16)
RNG = np.random.default_rng(20240604)


# --- closed forms in mpmath -------------------------------------------------------------------


def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-mpmath.mpf(x)))


def mp_softplus_neg(x):  # log(1 + exp(-x))
    return mpmath.log1p(mpmath.exp(-mpmath.mpf(x)))


def mp_softmax(row):
    row = [mpmath.mpf(v) for v in row]
    m = max(row)
    exps = [mpmath.exp(v - m) for v in row]
    total = mpmath.fsum(exps)
    return [e / total for e in exps]


def mp_log_softmax(row):
    row = [mpmath.mpf(v) for v in row]
    m = max(row)
    lse = m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in row))
    return [v - lse for v in row]


def as_float(values):
    return np.array([[float(v) for v in row] for row in values]) if isinstance(values[0], list) else np.array([float(v) for v in values])


def finite_difference(loss_of, array, step=1e-6):
    """Central differences of ``sum(loss_of(array))`` for every element of a float64 array."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        up, down = array.copy(), array.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (np.sum(loss_of(up)) - np.sum(loss_of(down))) / (2 * step)
    return grad


def assert_close64(actual, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


# --- first order: closed forms and finite differences (float64) ----------------------------------


def test_sigmoid_gradient_matches_closed_form_and_finite_differences():
    x = RNG.normal(0, 3, (4, 5))
    z = RNG.uniform(-0.5, 1.5, (4, 5))
    _, grads = tfloss.value_and_gradient(sigmoid_op, labels=z, logits=x)
    closed_x = np.vectorize(lambda a, b: float(mp_sigmoid(a) - mpmath.mpf(b)))(x, z)
    assert_close64(grads["logits"], closed_x, rtol=1e-14, atol=1e-15)
    assert_close64(grads["labels"], -x, rtol=0, atol=0)
    assert_close64(closed_x, finite_difference(lambda v: sigmoid_op(labels=z, logits=v), x), rtol=1e-7, atol=1e-8)
    assert_close64(-x, finite_difference(lambda v: sigmoid_op(labels=v, logits=x), z), rtol=1e-7, atol=1e-8)


def test_weighted_gradient_matches_closed_form_and_finite_differences():
    x = RNG.normal(0, 3, (3, 4))
    z = RNG.uniform(0, 1, (3, 4))
    q = RNG.uniform(0.2, 4, (4,))
    _, grads = tfloss.value_and_gradient(weighted_op, labels=z, logits=x, pos_weight=q)

    def closed(a, b, w):
        a, b, w = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(w)
        log_weight = 1 + (w - 1) * b
        softplus = mp_softplus_neg(a)
        return (1 - b) - log_weight * (1 - mp_sigmoid(a)), -a + (w - 1) * softplus, b * softplus

    parts = [[closed(x[i, j], z[i, j], q[j]) for j in range(4)] for i in range(3)]
    d_x = np.array([[float(p[0]) for p in row] for row in parts])
    d_z = np.array([[float(p[1]) for p in row] for row in parts])
    d_q = np.array([float(mpmath.fsum(parts[i][j][2] for i in range(3))) for j in range(4)])
    assert_close64(grads["logits"], d_x, rtol=1e-13, atol=1e-14)
    assert_close64(grads["labels"], d_z, rtol=1e-13, atol=1e-14)
    assert grads["pos_weight"].shape == (4,)  # reduced over the broadcast batch axis, as TF does
    assert_close64(grads["pos_weight"], d_q, rtol=1e-13, atol=1e-14)
    assert_close64(d_x, finite_difference(lambda v: weighted_op(labels=z, logits=v, pos_weight=q), x), rtol=1e-7, atol=1e-8)
    assert_close64(d_z, finite_difference(lambda v: weighted_op(labels=v, logits=x, pos_weight=q), z), rtol=1e-7, atol=1e-8)
    assert_close64(d_q, finite_difference(lambda v: weighted_op(labels=z, logits=x, pos_weight=v), q), rtol=1e-7, atol=1e-8)


def test_softmax_gradient_matches_closed_form_and_finite_differences():
    x = RNG.normal(0, 3, (3, 5))
    z = RNG.dirichlet(np.ones(5), 3)  # rows sum to 1: here p - z is the true derivative
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=x)
    p = [mp_softmax(row) for row in x]
    closed_x = np.array([[float(p[i][j] - mpmath.mpf(z[i, j])) for j in range(5)] for i in range(3)])
    closed_z = -np.array([[float(v) for v in mp_log_softmax(row)] for row in x])
    assert_close64(grads["logits"], closed_x, rtol=1e-13, atol=1e-15)
    assert_close64(grads["labels"], closed_z, rtol=1e-13, atol=1e-15)
    assert_close64(closed_x, finite_difference(lambda v: softmax_op(labels=z, logits=v), x), rtol=1e-6, atol=1e-8)
    assert_close64(closed_z, finite_difference(lambda v: softmax_op(labels=v, logits=x), z), rtol=1e-7, atol=1e-8)


def test_sparse_gradient_is_softmax_minus_onehot():
    x = RNG.normal(0, 3, (4, 6))
    y = np.array([0, 5, 2, 2])
    _, grads = tfloss.value_and_gradient(sparse_op, labels=y, logits=x)
    p = [mp_softmax(row) for row in x]
    closed = np.array([[float(p[i][j] - (1 if j == y[i] else 0)) for j in range(6)] for i in range(4)])
    assert_close64(grads["logits"], closed, rtol=1e-13, atol=1e-15)
    assert_close64(closed, finite_difference(lambda v: sparse_op(labels=y, logits=v), x), rtol=1e-6, atol=1e-8)


def test_upstream_gradient_scales_every_gradient():
    x = RNG.normal(0, 2, (2, 3))
    z = RNG.dirichlet(np.ones(3), 2)
    upstream = np.array([2.0, -0.5])  # powers of two: scaling is exact
    _, plain = tfloss.value_and_gradient(softmax_op, labels=z, logits=x)
    _, scaled = tfloss.value_and_gradient(softmax_op, grad_loss=upstream, labels=z, logits=x)
    for name in ("labels", "logits"):
        np.testing.assert_array_equal(scaled[name], upstream[:, None] * plain[name])


# --- second order --------------------------------------------------------------------------------


def test_sigmoid_hessian_vector_product_matches_closed_form():
    x = RNG.normal(0, 3, (6,))
    z = RNG.uniform(0, 1, (6,))
    v = RNG.normal(0, 1, (6,))
    hvp = tfloss.hessian_vector_product(sigmoid_op, v, labels=z, logits=x)
    closed = np.array([float(mp_sigmoid(a) * (1 - mp_sigmoid(a)) * mpmath.mpf(b)) for a, b in zip(x, v)])
    assert_close64(hvp["logits"], closed, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(hvp["labels"], -v)
    gradient = lambda at: tfloss.value_and_gradient(sigmoid_op, labels=z, logits=at)[1]["logits"] * v
    assert_close64(closed, finite_difference(gradient, x), rtol=1e-6, atol=1e-8)


def test_weighted_hessian_vector_product_matches_finite_differences():
    x = RNG.normal(0, 3, (5,))
    z = RNG.uniform(0, 1, (5,))
    v = RNG.normal(0, 1, (5,))
    q = 2.5
    hvp = tfloss.hessian_vector_product(weighted_op, v, labels=z, logits=x, pos_weight=q)
    log_weight = 1 + (q - 1) * z
    sig = np.array([float(mp_sigmoid(a)) for a in x])
    assert_close64(hvp["logits"], log_weight * sig * (1 - sig) * v, rtol=1e-12, atol=1e-14)
    assert_close64(hvp["labels"], -(1 + (q - 1) * (1 - sig)) * v, rtol=1e-12, atol=1e-14)
    gradient = lambda at: tfloss.value_and_gradient(weighted_op, labels=z, logits=at, pos_weight=q)[1]["logits"] * v
    assert_close64(hvp["logits"], finite_difference(gradient, x), rtol=1e-6, atol=1e-8)


def test_softmax_hessian_vector_product_matches_closed_form():
    x = RNG.normal(0, 2, (3, 4))
    z = RNG.dirichlet(np.ones(4), 3)
    v = RNG.normal(0, 1, (3, 4))
    hvp = tfloss.hessian_vector_product(softmax_op, v, labels=z, logits=x)
    closed = []
    for row, vrow in zip(x, v):
        p = mp_softmax(row)
        dot = mpmath.fsum(mpmath.mpf(a) * b for a, b in zip(vrow, p))
        closed.append([float((mpmath.mpf(a) - dot) * b) for a, b in zip(vrow, p)])
    assert_close64(hvp["logits"], closed, rtol=1e-12, atol=1e-15)
    gradient = lambda at: tfloss.value_and_gradient(softmax_op, labels=z, logits=at)[1]["logits"] * v
    assert_close64(closed, finite_difference(gradient, x), rtol=1e-6, atol=1e-8)


def test_sparse_hessian_vector_product_matches_closed_form_and_labels_are_none():
    x = RNG.normal(0, 2, (2, 4))
    v = RNG.normal(0, 1, (2, 4))
    hvp = tfloss.hessian_vector_product(sparse_op, v, labels=[1, 3], logits=x)
    closed = []
    for row, vrow in zip(x, v):
        p = mp_softmax(row)
        dot = mpmath.fsum(mpmath.mpf(a) * b for a, b in zip(vrow, p))
        closed.append([float((mpmath.mpf(a) - dot) * b) for a, b in zip(vrow, p)])
    assert_close64(hvp["logits"], closed, rtol=1e-12, atol=1e-15)
    assert hvp["labels"] is None


# --- TF's quirks, reproduced -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float32, np.float64], ids=str)
def test_sigmoid_gradient_is_sigmoid_minus_labels_at_zero_quirk(dtype):
    # TF's where-based max/abs give a one-sided derivative that lands exactly on sigmoid(0) - z.
    z = np.array([0.0, 0.25, 0.5, 1.0, -1.0], dtype)  # exact in every dtype, as is 0.5 - z
    _, grads = tfloss.value_and_gradient(sigmoid_op, labels=z, logits=np.zeros(5, dtype))
    assert grads["logits"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(grads["logits"].astype(np.float64), 0.5 - z.astype(np.float64))


def test_sigmoid_label_gradient_is_minus_logits_quirk():
    x = np.array([-3.5, -0.0, 0.0, 2.0, 1e30, -np.inf, np.nan], np.float32)
    _, grads = tfloss.value_and_gradient(sigmoid_op, labels=np.full(7, 0.3, np.float32), logits=x)
    np.testing.assert_array_equal(grads["labels"], -x)
    assert np.signbit(grads["labels"][2]) and not np.signbit(grads["labels"][1])  # -x, sign of zero too


def test_sigmoid_gradient_special_values_quirk():
    # sigmoid(+inf) = 1, sigmoid(-inf) = 0, NaN propagates; the Hessian is 0 at +-inf.
    z = np.array([0.0, 0.25, 0.5], np.float32)
    x = np.array([np.inf, -np.inf, np.nan], np.float32)
    _, grads = tfloss.value_and_gradient(sigmoid_op, labels=z, logits=x)
    np.testing.assert_array_equal(grads["logits"], np.array([1.0, -0.25, np.nan], np.float32))
    hvp = tfloss.hessian_vector_product(sigmoid_op, np.ones(3, np.float32), labels=z, logits=x)
    np.testing.assert_array_equal(hvp["logits"], np.array([0.0, 0.0, np.nan], np.float32))


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float32, np.float64], ids=str)
def test_weighted_gradient_at_zero_is_one_minus_z_quirk(dtype):
    # abs and relu have derivative 0 at 0 in TF, so only the linear term (1 - z)*x is differentiated.
    z = np.array([0.0, 0.25, 0.5, 1.0], dtype)
    _, grads = tfloss.value_and_gradient(weighted_op, labels=z, logits=np.zeros(4, dtype), pos_weight=2.0)
    np.testing.assert_array_equal(grads["logits"].astype(np.float64), 1 - z.astype(np.float64))
    if dtype == np.float64:  # the true derivative is (1 - z) - l/2
        true = finite_difference(lambda v: weighted_op(labels=z, logits=v, pos_weight=2.0), np.zeros(4))
        assert_close64(true, (1 - z) - (1 + z) / 2, rtol=1e-7, atol=1e-8)


def test_weighted_second_order_at_zero_is_zero_quirk():
    # Same one-sidedness one order up: TF's Hessian at x = 0 is 0 (true: l/4), labels part -v.
    v = np.array([1.0, -2.0], np.float32)
    hvp = tfloss.hessian_vector_product(weighted_op, v, labels=np.array([0.0, 1.0], np.float32),
                                        logits=np.zeros(2, np.float32), pos_weight=3.0)
    np.testing.assert_array_equal(hvp["logits"], np.zeros(2, np.float32))
    np.testing.assert_array_equal(hvp["labels"], -v)


def test_weighted_gradient_special_values_quirk():
    # sigmoid(+inf) = 1: d/dx = 1 - z; sigmoid(-inf) = 0: d/dx = (1 - z) - l; NaN propagates.
    z = np.array([0.25, 0.25, 0.5], np.float32)
    q = 3.0
    _, grads = tfloss.value_and_gradient(weighted_op, labels=z, logits=np.array([np.inf, -np.inf, np.nan], np.float32),
                                         pos_weight=q)
    np.testing.assert_array_equal(grads["logits"], np.array([0.75, 0.75 - 1.5, np.nan], np.float32))


def test_weighted_pos_weight_gradient_is_reduced_over_broadcast_axes():
    x = RNG.normal(0, 2, (4, 3))
    z = RNG.uniform(0, 1, (4, 3))
    for shape, axes in (((4, 1), (1,)), ((1, 3), (0,)), ((), (0, 1))):
        q = RNG.uniform(0.5, 2, shape)
        _, grads = tfloss.value_and_gradient(weighted_op, labels=z, logits=x, pos_weight=q)
        softplus = np.vectorize(lambda a: float(mp_softplus_neg(a)))(x)
        assert grads["pos_weight"].shape == shape
        assert_close64(grads["pos_weight"], np.sum(z * softplus, axis=axes).reshape(shape), rtol=1e-13)


def test_weighted_scalar_pos_weight_has_no_gradient_and_targets_keep_their_name():
    z, x = np.array([0.5], np.float32), np.array([1.0], np.float32)
    _, grads = tfloss.value_and_gradient(v1.weighted_cross_entropy_with_logits, targets=z, logits=x, pos_weight=2.0)
    assert set(grads) == {"targets", "logits", "pos_weight"} and grads["pos_weight"] is None


def test_softmax_gradient_is_softmax_minus_labels_when_labels_do_not_sum_to_one_quirk():
    x = np.array([[4.0, 2.0, 1.0]])
    z = np.array([[2.0, 0.0, 0.0]])
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=x)
    p = mp_softmax(x[0])
    assert_close64(grads["logits"], [[float(p[0] - 2), float(p[1]), float(p[2])]], rtol=1e-14)
    # ... which is not the derivative of the returned loss, sum(z)*p - z.
    true = finite_difference(lambda v: softmax_op(labels=z, logits=v), x)
    assert_close64(true, [[float(2 * p[0] - 2), float(2 * p[1]), float(2 * p[2])]], rtol=1e-6, atol=1e-8)


def test_softmax_labels_gradient_is_minus_log_softmax_quirk():
    x = np.array([[1.0, 0.0, -np.inf]], np.float32)
    _, grads = tfloss.value_and_gradient(softmax_op, labels=np.array([[0.5, 0.5, 0.0]], np.float32), logits=x)
    expected = [-float(v) for v in mp_log_softmax([1.0, 0.0])] + [np.inf]
    np.testing.assert_allclose(grads["labels"][0], np.array(expected, np.float32), rtol=1e-6)
    assert np.isposinf(grads["labels"][0, 2])


def test_softmax_second_order_labels_part_is_zero_quirk():
    # TF's xent gradient multiplies the (zero) loss gradient by -log_softmax: 0 where -v is true.
    x = RNG.normal(0, 1, (2, 3)).astype(np.float32)
    v = np.ones((2, 3), np.float32)
    hvp = tfloss.hessian_vector_product(softmax_op, v, labels=np.full((2, 3), 1 / 3, np.float32), logits=x)
    np.testing.assert_array_equal(hvp["labels"], np.zeros((2, 3), np.float32))


def test_softmax_second_order_labels_part_is_nan_at_minus_inf_quirk():
    # ... and 0 * inf = NaN where a logit is -inf.
    hvp = tfloss.hessian_vector_product(softmax_op, np.ones((1, 3), np.float32),
                                        labels=np.array([[0.5, 0.5, 0.0]], np.float32),
                                        logits=np.array([[1.0, 0.0, -np.inf]], np.float32))
    np.testing.assert_array_equal(hvp["labels"], np.array([[0.0, 0.0, np.nan]], np.float32))


@pytest.mark.parametrize("op, labels", [(softmax_op, [[1.0, 0.0, 0.0, 0.0]]), (sparse_op, [0])])
def test_float32_second_order_is_zero_where_onednn_exp_underflows_quirk(op, labels):
    # TF's xent second-order term (u - <u, p>) * p takes p from the Softmax op, which in float32 is
    # oneDNN's: its exp scales by 2 * 2**(n-1) with denormals flushed, so p = 0 exactly where
    # x - max(x) < -125.5 * ln 2 (about -86.99), where the true p (about 1.9e-38 at -87.3) is normal.
    x = [[0.0, -86.5, -87.3, -100.0]]
    v = [[0.0, 4.0, 4.0, 4.0]]
    p = mp_softmax(x[0])
    dot = mpmath.fsum(vi * pi for vi, pi in zip(v[0], p))
    expected = [float((vi - dot) * pi) for vi, pi in zip(v[0], p)]
    assert expected[2] > 1e-38  # a normal float32 in exact arithmetic
    hvp32 = tfloss.hessian_vector_product(op, np.array(v, np.float32), labels=labels, logits=np.array(x, np.float32))
    np.testing.assert_allclose(hvp32["logits"][0, 1], expected[1], rtol=1e-5)  # above the cut: kept
    np.testing.assert_array_equal(hvp32["logits"][0, 2:], np.zeros(2, np.float32))
    # float64 runs Eigen's softmax, which keeps the tiny probabilities.
    labels64 = np.array(labels, np.float64) if op is softmax_op else labels
    hvp64 = tfloss.hessian_vector_product(op, np.array(v), labels=labels64, logits=np.array(x))
    np.testing.assert_allclose(hvp64["logits"][0, 1:], expected[1:], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16, np.float64])
@pytest.mark.parametrize("shape", [(0,), (0, 4), (4, 0)])
def test_second_order_of_empty_inputs_is_empty(dtype, shape):
    x = np.zeros(shape, dtype)
    hvp = tfloss.hessian_vector_product(softmax_op, x, labels=x, logits=x)
    assert hvp["logits"].shape == shape and hvp["logits"].dtype == dtype
    assert hvp["labels"].shape == shape and hvp["labels"].dtype == dtype
    if shape[-1]:  # the sparse op needs classes to index
        labels = np.zeros(shape[:-1], np.int32)
        hvp = tfloss.hessian_vector_product(sparse_op, x, labels=labels, logits=x)
        assert hvp["logits"].shape == shape and hvp["logits"].dtype == dtype and hvp["labels"] is None


def test_float32_second_order_dot_is_summed_in_blocks_of_512_classes_quirk():
    # TF computes <u, p> with a float32 matmul that sums 512 classes at a time, each block from
    # zero. Equal logits give p = 2**-10 exactly; with v = [2**24, 1, ..., 1] the first block's
    # 511 additions of 2**-10 to 2**14 are half-ulp ties (rounded to even: lost), the second
    # block sums to 0.5 exactly, so <u, p> = 16384.5 (in class order it would be 16384).
    classes = 1024
    x = np.zeros((1, classes), np.float32)
    v = np.ones((1, classes), np.float32)
    v[0, 0] = 2.0 ** 24
    labels = np.eye(1, classes, dtype=np.float32)
    hvp = tfloss.hessian_vector_product(softmax_op, v, labels=labels, logits=x)
    np.testing.assert_array_equal(hvp["logits"][0, 1:], np.float32((1 - 16384.5) / classes))


def test_softmax_gradient_special_values_quirk():
    # A -inf logit has probability 0 (gradient -z there); a +inf logit makes the row NaN (inf - inf).
    z = np.array([[0.5, 0.5, 0.0]], np.float32)
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=np.array([[0.0, 0.0, -np.inf]], np.float32))
    np.testing.assert_array_equal(grads["logits"], np.array([[0.0, 0.0, 0.0]], np.float32))
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=np.array([[0.0, np.inf, 0.0]], np.float32))
    assert np.isnan(grads["logits"]).all() and np.isnan(grads["labels"]).all()


def test_softmax_broadcast_labels_gradient_fails_like_tf_quirk():
    # The loss broadcasts [1, C] labels, but the labels gradient is [B, C] and TF's Reshape back fails.
    labels, logits = np.full((1, 3), 1 / 3, np.float32), np.zeros((2, 3), np.float32)
    with pytest.raises(errors.InvalidArgumentError) as raised:
        tfloss.value_and_gradient(softmax_op, labels=labels, logits=logits)
    assert str(raised.value) == "Input to reshape is a tensor with 6 values, but the requested shape has 3 [Op:Reshape] name: "
    # v1's labels are under stop_gradient: no labels gradient, so nothing fails.
    _, grads = tfloss.value_and_gradient(v1.softmax_cross_entropy_with_logits, labels=labels, logits=logits)
    assert grads["labels"] is None and grads["logits"].shape == (2, 3)


def test_v1_softmax_labels_gradient_is_none_stop_gradient_quirk():
    _, grads = tfloss.value_and_gradient(v1.softmax_cross_entropy_with_logits, labels=[[0.0, 1.0]], logits=[[1.0, 2.0]])
    assert grads["labels"] is None
    hvp = tfloss.hessian_vector_product(v1.softmax_cross_entropy_with_logits, [[1.0, 1.0]], labels=[[0.0, 1.0]], logits=[[1.0, 2.0]])
    assert hvp["labels"] is None


def test_integer_and_sparse_labels_have_no_gradient():
    _, grads = tfloss.value_and_gradient(softmax_op, labels=np.array([[0, 1]], np.int32), logits=[[1.0, 2.0]])
    assert grads["labels"] is None
    _, grads = tfloss.value_and_gradient(sparse_op, labels=[1], logits=[[1.0, 2.0]])
    assert grads["labels"] is None


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=str)
def test_half_precision_gradients_come_back_in_the_input_dtype_quirk(dtype):
    # TF computes softmax in float32 and the Cast's gradient casts back.
    x = np.array([[1.0, 2.0]], dtype)
    z = np.array([[0.25, 0.75]], dtype)
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=x)
    assert grads["logits"].dtype == np.dtype(dtype) and grads["labels"].dtype == np.dtype(dtype)
    p = mp_softmax([1.0, 2.0])
    expected = np.array([[float(p[0] - mpmath.mpf(0.25)), float(p[1] - mpmath.mpf(0.75))]]).astype(dtype)
    np.testing.assert_array_equal(grads["logits"], expected)  # one rounding from float32


def test_softmax_axis_gradient_is_transposed_back():
    x = RNG.normal(0, 1, (3, 2, 4))
    z = RNG.dirichlet(np.ones(3), (2, 4)).transpose(2, 0, 1)  # class axis 0
    _, grads = tfloss.value_and_gradient(softmax_op, labels=z, logits=x, axis=0)
    assert grads["logits"].shape == (3, 2, 4)
    for i in range(2):
        for j in range(4):
            p = mp_softmax(x[:, i, j])
            assert_close64(grads["logits"][:, i, j], [float(p[k] - mpmath.mpf(z[k, i, j])) for k in range(3)], rtol=1e-13)


# --- API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [tfloss.nn, tfloss.compat.v1.nn], ids=["nn", "compat.v1.nn"])
def test_every_public_op_has_a_gradient(namespace):
    for name in (n for n in namespace.__all__ if n.endswith("cross_entropy_with_logits") or n.endswith("_v2")):
        op = getattr(namespace, name)
        labels = [1] if "sparse" in name else [[0.25, 0.75]]
        extra = {"pos_weight": 2.0} if "weighted" in name else {}
        loss, grads = tfloss.value_and_gradient(op, labels=labels, logits=[[0.5, -0.5]], **extra)
        np.testing.assert_array_equal(loss, op(labels=labels, logits=[[0.5, -0.5]], **extra))
        assert grads["logits"].shape == (1, 2)


def test_unregistered_function_is_rejected():
    with pytest.raises(TypeError, match="no gradient is registered"):
        tfloss.value_and_gradient(np.add, labels=[1.0], logits=[1.0])


def test_forward_errors_come_first():
    with pytest.raises(ValueError, match="must have the same shape"):
        tfloss.value_and_gradient(sigmoid_op, labels=[1.0, 0.0], logits=[1.0])


def test_gradients_never_alias_or_modify_inputs():
    x = RNG.normal(0, 1, (2, 3)).astype(np.float32)
    z = RNG.uniform(0, 1, (2, 3)).astype(np.float32)
    x_copy, z_copy = x.copy(), z.copy()
    for op in (sigmoid_op, softmax_op):
        _, grads = tfloss.value_and_gradient(op, labels=z, logits=x)
        for grad in grads.values():
            assert not np.shares_memory(grad, x) and not np.shares_memory(grad, z)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(z, z_copy)
