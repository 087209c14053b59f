"""The ``"gpu"`` target against TF's own GPU kernel tests (no TensorFlow here, and no GPU).

Each expected value is the one TF's kernel tests expect when they run on a GPU, with that
test's tolerance; the file and test are named in each test.  TF's tests live in the TF 2.21
wheel (``tensorflow/python/kernel_tests/nn_ops/xent_op_test_base.py``,
``tensorflow/python/kernel_tests/sparse_ops/sparse_xent_op_test_base.py``); TF's
``assertAllClose`` treats NaN as equal to NaN, as ``equal_nan=True`` does here.  Values from
``assertAllCloseAccordingToType`` use its default tolerances for the dtype (float32 1e-6,
float16 1e-3, bfloat16 1e-2; TF's ``test_util``).

The target is unverified (never run against a GPU): these tests pin what TF's source and tests
say the CUDA kernels do.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tfloss import _targets

SPARSE = tfloss.nn.sparse_softmax_cross_entropy_with_logits
# xent_op_test_base.py's _opFwdBwd calls nn_ops.softmax_cross_entropy_with_logits, the TF1
# function (labels under stop_gradient): tfloss.compat.v1.nn's.
DENSE = tfloss.compat.v1.nn.softmax_cross_entropy_with_logits

# sparse_xent_op_test_base.py, _testInvalidLabelGPU: labels 4 and -1 are outside [0, 4).
BAD_LABELS = [4, 3, 0, -1]
BAD_LABEL_LOGITS = [[1., 1., 1., 1.], [1., 1., 1., 1.], [1., 2., 3., 4.], [1., 2., 3., 4.]]
BAD_LABEL_LOSS = [np.nan, 1.3862, 3.4420, np.nan]
BAD_LABEL_GRADIENT = [[np.nan] * 4, [0.25, 0.25, 0.25, -0.75], [-0.968, 0.087, 0.237, 0.6439], [np.nan] * 4]


def _close(actual, expected, tol):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=tol, atol=tol, equal_nan=True)


def _sparse_value_and_gradient(labels, logits):
    with tfloss.target("gpu"):
        loss, grads = tfloss.value_and_gradient(SPARSE, labels=np.asarray(labels), logits=np.asarray(logits))
    return loss, grads["logits"]


# --------------------------------------------------------------------------------------------
# Out-of-range sparse labels: NaN rows instead of an error
# --------------------------------------------------------------------------------------------


def test_gpu_out_of_range_sparse_labels_give_nan_losses():
    """sparse_xent_op_test_base.py, _testInvalidLabelGPU (rtol=atol=1e-3): no error, NaN where
    the label is outside [0, classes), the other rows as usual."""
    with tfloss.target("gpu"):
        loss = SPARSE(labels=BAD_LABELS, logits=BAD_LABEL_LOGITS)
    assert loss.dtype == np.float32
    _close(loss, BAD_LABEL_LOSS, 1e-3)
    assert np.isnan(loss).tolist() == [True, False, False, True]


def test_gpu_out_of_range_sparse_labels_give_nan_gradient_rows():
    """sparse_xent_op_test_base.py, _testInvalidLabelGPU (rtol=atol=1e-3): the whole gradient row
    of a bad label is NaN (the kernel's backprop generator), the other rows are softmax - onehot."""
    loss, gradient = _sparse_value_and_gradient(BAD_LABELS, np.array(BAD_LABEL_LOGITS, np.float32))
    _close(loss, BAD_LABEL_LOSS, 1e-3)
    _close(gradient, BAD_LABEL_GRADIENT, 1e-3)
    assert np.isnan(gradient).all(axis=1).tolist() == [True, False, False, True]


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_gpu_out_of_range_sparse_labels_give_nan_in_16_bit(dtype):
    """The CUDA kernel exists for bfloat16 (it runs natively) and float32 (float16 logits are
    cast to it by the wrapper), so both give NaN rows; the loss keeps the logits' dtype.
    Tolerances: TF's bfloat16/float16 defaults, around _testInvalidLabelGPU's values."""
    with tfloss.target("gpu"):
        loss = SPARSE(labels=BAD_LABELS, logits=np.array(BAD_LABEL_LOGITS, dtype))
    assert loss.dtype == np.dtype(dtype)
    _close(loss, BAD_LABEL_LOSS, 1e-2)
    assert np.isnan(np.asarray(loss, np.float32)).tolist() == [True, False, False, True]


def test_gpu_out_of_range_sparse_labels_in_higher_rank_give_nan():
    """Labels of any rank reach the kernel flattened: a bad label anywhere is a NaN there."""
    logits = np.zeros((2, 2, 3), np.float32)
    with tfloss.target("gpu"):
        loss = SPARSE(labels=[[0, 3], [-2, 2]], logits=logits)
    assert loss.shape == (2, 2)
    assert np.isnan(loss).tolist() == [[False, True], [True, False]]
    _close(loss[~np.isnan(loss)], [np.log(3.0)] * 2, 1e-6)


def test_gpu_out_of_range_keras_sparse_labels_give_nan():
    """Keras' TF backend calls tf.nn.sparse_softmax_cross_entropy_with_logits: the NaN reaches
    the Keras loss, and its mean."""
    with tfloss.target("gpu"):
        per_row = tfloss.keras.losses.sparse_categorical_crossentropy(
            np.array(BAD_LABELS), np.array(BAD_LABEL_LOGITS, np.float32), from_logits=True)
        mean = tfloss.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            np.array(BAD_LABELS), np.array(BAD_LABEL_LOGITS, np.float32))
    _close(per_row, BAD_LABEL_LOSS, 1e-3)
    assert np.isnan(mean)


def test_gpu_float64_sparse_labels_still_raise():
    """TF 2.21 registers no float64 GPU kernel for SparseSoftmaxCrossEntropyWithLogits
    (sparse_xent_op.cc; the CUDA wheel's kernel registry): a float64 call runs on the CPU
    kernel, which scans the labels, so it raises the CPU error, and the error says which target
    raised it and that this target is unverified."""
    with tfloss.target("gpu"), pytest.raises(tfloss.errors.InvalidArgumentError) as caught:
        SPARSE(labels=BAD_LABELS, logits=np.array(BAD_LABEL_LOGITS, np.float64))
    assert str(caught.value).startswith("Received a label value of -1 which is outside the valid range of [0, 4).")
    assert caught.value.target == "gpu"
    notes = getattr(caught.value, "__notes__", None)
    if notes is not None:  # Python 3.11+
        assert "target 'gpu'" in notes[0] and "unverified" in notes[0]


def test_gpu_valid_labels_give_the_cpu_kernels_values():
    """Where the labels are valid the target returns the CPU kernels' bits (TF's GPU results are
    held to the ULP bound, not to bits); a bad row does not change the others."""
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(64, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=64)
    cpu = SPARSE(labels=labels, logits=logits)
    labels_with_bad = labels.copy()
    labels_with_bad[5] = 10
    with tfloss.target("gpu"):
        assert SPARSE(labels=labels, logits=logits).tobytes() == cpu.tobytes()
        with_bad = SPARSE(labels=labels_with_bad, logits=logits)
    assert np.isnan(with_bad[5]) and np.delete(with_bad, 5).tobytes() == np.delete(cpu, 5).tobytes()


# --------------------------------------------------------------------------------------------
# TF's device-independent kernel tests, which TF also runs on a GPU
# --------------------------------------------------------------------------------------------


def test_gpu_sparse_single_class():
    """sparse_xent_op_test_base.py, testSingleClass: loss and gradient 0 for one class."""
    for label_dtype in (np.int32, np.int64):
        loss, gradient = _sparse_value_and_gradient(np.array([0, 0, 0], label_dtype),
                                                    np.array([[1.], [-1.], [0.]], np.float32))
        _close(loss, [0.0, 0.0, 0.0], 1e-6)
        _close(gradient, [[0.0], [0.0], [0.0]], 1e-6)


def test_gpu_sparse_np_xent():
    """sparse_xent_op_test_base.py, testNpXent's hand-computed values (rtol=atol=1e-3)."""
    loss, gradient = _sparse_value_and_gradient([3, 0], np.array([[1., 1., 1., 1.], [1., 2., 3., 4.]], np.float32))
    _close(loss, [1.3862, 3.4420], 1e-3)
    _close(gradient, [[0.25, 0.25, 0.25, -0.75], [-0.968, 0.087, 0.237, 0.6439]], 1e-3)


def test_gpu_dense_np_xent():
    """xent_op_test_base.py, testNpXent's hand-computed values (rtol=atol=1e-3)."""
    with tfloss.target("gpu"):
        loss, grads = tfloss.value_and_gradient(
            DENSE, labels=np.array([[0., 0., 0., 1.], [0., .5, .5, 0.]], np.float32),
            logits=np.array([[1., 1., 1., 1.], [1., 2., 3., 4.]], np.float32))
    _close(loss, [1.3862, 1.9401], 1e-3)
    _close(grads["logits"], [[0.25, 0.25, 0.25, -0.75], [0.0321, -0.4129, -0.2632, 0.6439]], 1e-3)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, ml_dtypes.bfloat16])
def test_gpu_dense_single_class(dtype):
    """xent_op_test_base.py, _testSingleClass: loss 0, gradient ``-labels + 1`` (TF's default
    assertAllClose tolerance, 1e-6)."""
    with tfloss.target("gpu"):
        loss, grads = tfloss.value_and_gradient(DENSE, labels=np.array([[-1.], [0.], [1.], [1.]], dtype),
                                                logits=np.array([[1.], [-1.], [0.], [1.]], dtype))
    _close(loss, [0.0, 0.0, 0.0, 0.0], 1e-6)
    _close(grads["logits"], [[2.0], [1.0], [0.0], [0.0]], 1e-6)


def test_gpu_dense_labels_broadcast():
    """xent_op_test_base.py, testLabelsBroadcast: float16 ``[3, 1]`` labels broadcast over the
    classes; the gradient TF expects (float16 tolerance, 1e-3)."""
    labels = np.array([[0.], [2.], [0.25]], np.float16)
    logits = np.array([[1., 1., 1., 1.], [1., 2., 3., 4.], [1., 2., 3., 4.]], np.float16)
    with tfloss.target("gpu"):
        _, grads = tfloss.value_and_gradient(DENSE, labels=labels, logits=logits)
    _close(grads["logits"], [[0.25, 0.25, 0.25, 0.25], [-1.968, -1.913, -1.763, -1.355],
                             [-0.218, -0.163, -0.013, 0.394]], 1e-3)


# --------------------------------------------------------------------------------------------
# The target is marked unverified wherever tfloss names it
# --------------------------------------------------------------------------------------------


def test_gpu_target_is_described_as_unverified():
    assert "gpu" in _targets.IMPLEMENTED and "gpu" in _targets.UNVERIFIED
    assert "unverified" in _targets.describe("gpu")
    assert "unverified" not in _targets.describe("cpu")
    for name in _targets.IMPLEMENTED:
        with tfloss.target(name):
            assert ("unverified" in _targets.describe()) == (name in _targets.UNVERIFIED)


def test_gpu_conformance_report_names_the_target_as_unverified():
    """A conformance report made under the target says which target ran and that it is unverified."""
    from tfloss.conformance import report
    from tfloss.conformance.check import summarise_outcomes

    with tfloss.target("gpu"):
        environment = report.environment()
    assert environment["target"] == tfloss.describe_target("gpu")
    data = {"totals": summarise_outcomes([]), "implementation": {"name": "tfloss", "version": "0"},
            "against": {"name": "golden", "version": "0"}, "environment": environment, "seconds": 0.0,
            "summary": [], "cases": []}
    header = report.markdown(data, "tfloss", "golden").splitlines()[2]
    assert "under target 'gpu'" in header and "unverified" in header
