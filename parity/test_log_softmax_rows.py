"""TF's LogSoftmax kernel evaluates ``exp`` inside the row sum, also inside the softmax
cross-entropy's gradient.

``tf.nn.log_softmax`` and the labels' gradient of ``softmax_cross_entropy_with_logits``
(``-grad_loss * log_softmax(logits)``, from the same kernel) take ``sum(exp(shifted))`` as one
Eigen reduction: each row's last ``classes % P`` terms take the C library's ``exp``.  Taking
``exp`` as its own op over the whole tensor first puts other elements on the C library instead,
and at 200 rows of 7 classes that changed 11 float32 and 8 float64 gradient elements (measured
against TF 2.21 before tfloss used one rule for both).  Both engines are compared with TF here,
bit for bit, on row lengths that are not a multiple of the packet.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfloss
from tfloss import _engine

tf = pytest.importorskip("tensorflow")

SHAPES = [(200, 7), (37, 13), (64, 1001), (9, 3)]


def _bits(array):
    array = np.asarray(array)
    return array.view(f"u{array.dtype.itemsize}")


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{b}x{c}" for b, c in SHAPES])
def test_log_softmax_sums_exp_inside_the_row_sum(engine, dtype, shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    logits = (rng.standard_normal(shape) * 3).astype(dtype)
    labels = rng.random(shape).astype(dtype)
    upstream = rng.standard_normal(shape[0]).astype(dtype)
    labels_t, logits_t = tf.constant(labels), tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(labels_t)
        loss = tf.nn.softmax_cross_entropy_with_logits(labels=labels_t, logits=logits_t)
    tape_labels = tape.gradient(loss, labels_t, output_gradients=tf.constant(upstream)).numpy()
    before = _engine.get_engine()
    _engine.set_engine(engine)
    try:
        ours = tfloss.nn.log_softmax(logits)
        _, grads = tfloss.value_and_gradient(tfloss.nn.softmax_cross_entropy_with_logits, labels=labels, logits=logits,
                                             grad_loss=upstream)
    finally:
        _engine.set_engine(before)
    np.testing.assert_array_equal(_bits(ours), _bits(tf.nn.log_softmax(logits).numpy()))
    np.testing.assert_array_equal(_bits(grads["labels"]), _bits(tape_labels))
