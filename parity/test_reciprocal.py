"""TF's float32 Reciprocal on this CPU against tfloss's (``tfloss._machine.cpu.reciprocal``), bit for bit.

TF refines the CPU's ``rcpps`` estimate by one Newton step on whole packets of 8 and divides on
the rest.  tfloss runs the same instruction, so on the machine the suite runs on the two must
agree to the bit: for the op itself, for Eigen's float32 softmax (its ``.inverse()`` of the row
sums, the kernel TF runs with oneDNN off), and for the tape's gradients of the sigmoid and
weighted losses and of Keras' probability losses (Log1p's and Log's gradients multiply by it),
at sizes well past the catalogue's.  Skipped where tfloss cannot run ``rcpps``.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tfloss._machine.cpu import CpuTensor, reciprocal
from tfloss.conformance import tensorflow as tfref

pytestmark = pytest.mark.skipif(not tfloss.config.reproduces_rcpps(), reason="tfloss cannot run rcpps on this machine")
F32 = np.float32


def _bits_equal(got, want) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got.view(np.uint8), want.view(np.uint8))


def _inputs(n: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    info = np.finfo(F32)
    specials = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, info.tiny, info.tiny / 4, -info.tiny / 8, info.max,
                -info.max, 1.5 * 2.0**120, 2.0**104, 3.0, 1 + info.eps]
    magnitudes = 2.0 ** rng.uniform(-127, 128, n)
    return np.concatenate([magnitudes * rng.choice([-1.0, 1.0], n), 1 + rng.random(n), specials]).astype(F32)


@pytest.mark.parametrize("size", [1, 7, 8, 9, 13, 64, 1003, 40016])
def test_tf_reciprocal_is_rcpps_and_a_newton_step(size):
    tf = tfref.tf()
    x = _inputs(20000)[-size:]
    want = tf.math.reciprocal(tf.constant(x)).numpy()
    got = reciprocal(CpuTensor.from_input(x)).value
    assert _bits_equal(got, want)


def test_tf_reciprocal_of_ones():
    tf = tfref.tf()
    for size in (7, 8, 16, 17):
        want = tf.math.reciprocal(tf.ones([size])).numpy()
        assert _bits_equal(reciprocal(CpuTensor(np.ones(size, F32))).value, want)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float64], ids=["float16", "bfloat16", "float64"])
def test_tf_reciprocal_of_other_dtypes_divides(dtype):
    tf = tfref.tf()
    x = (np.random.default_rng(2).standard_normal(4099) * 3).astype(dtype)
    assert _bits_equal(reciprocal(CpuTensor(x)).value, tf.math.reciprocal(tf.constant(x)).numpy())


@pytest.mark.skipif(tfloss.config.softmax_kernel("float32") != "Eigen", reason="TF runs oneDNN's float32 softmax here")
@pytest.mark.parametrize("shape", [(9, 5), (64, 1000), (1001, 3)])
def test_eigen_float32_softmax(shape):
    tf = tfref.tf()
    x = (np.random.default_rng(4).standard_normal(shape) * 4).astype(F32)
    assert _bits_equal(tfloss.math.softmax(x), tf.nn.softmax(x).numpy())


@pytest.mark.skipif(tfloss.config.softmax_kernel("float32") != "Eigen", reason="TF runs oneDNN's float32 softmax here")
@pytest.mark.parametrize("shape, axis", [((2, 3, 1, 5), 0), ((2, 41, 7), 0), ((5, 33, 4), 1)])
def test_eigen_float32_softmax_over_another_axis_swaps_it_with_the_last(shape, axis):
    # TF swaps the class axis with the last (not moves it), which decides the rows that share a
    # packet of the reciprocal: the textbook formula, which calls TF's Softmax op, swaps too.
    tf = tfref.tf()
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(shape) * 4).astype(F32)
    z = rng.random(shape).astype(F32)
    want = (-tf.reduce_sum(z * tf.math.log(tf.nn.softmax(x, axis=axis)), axis=axis)).numpy()
    assert _bits_equal(tfloss.textbook.naive_softmax_cross_entropy(labels=z, logits=x, axis=axis), want)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("op", ["sigmoid", "weighted"])
def test_large_sigmoid_and_weighted_gradients_are_the_tapes(engine, op):
    tf = tfref.tf()
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((257, 1003)) * 3).astype(F32)
    z = rng.random((257, 1003)).astype(F32)
    kwargs = {"labels": z, "logits": x}
    fn, ours = tf.nn.sigmoid_cross_entropy_with_logits, tfloss.nn.sigmoid_cross_entropy_with_logits
    if op == "weighted":
        kwargs["pos_weight"] = F32(2.5)
        fn, ours = tf.nn.weighted_cross_entropy_with_logits, tfloss.nn.weighted_cross_entropy_with_logits
    want = tfref.tf_value_and_gradient(fn, kwargs, ("labels", "logits"))
    previous = tfloss.config.get_engine()
    tfloss.config.set_engine(engine)
    try:
        loss, grads = tfloss.value_and_gradient(ours, **kwargs)
    finally:
        tfloss.config.set_engine(previous)
    assert _bits_equal(loss, tfref.to_numpy(want[0]))
    assert _bits_equal(grads["labels"], tfref.to_numpy(want[1]))
    assert _bits_equal(grads["logits"], tfref.to_numpy(want[2]))


def test_keras_probability_gradient_is_the_tapes():
    tf = tfref.tf()
    rng = np.random.default_rng(9)
    p = rng.dirichlet(np.ones(10), size=300).astype(F32)
    y = np.eye(10, dtype=F32)[rng.integers(0, 10, 300)]
    import keras

    want = tfref.tf_value_and_gradient(keras.losses.categorical_crossentropy, {"y_true": y, "y_pred": p}, ("y_pred",))
    loss, grads = tfloss.value_and_gradient(tfloss.keras.losses.categorical_crossentropy, y_true=y, y_pred=p)
    assert _bits_equal(loss, tfref.to_numpy(want[0]))
    assert _bits_equal(grads["y_pred"], tfref.to_numpy(want[1]))
