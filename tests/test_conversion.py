"""Input conversion like tf.convert_to_tensor, and the dtype of results.

Rules (issue 2, tf-behaviour.md 2.3, 4.4, 5.4, 8): Python floats and lists of floats become
float32, Python ints int32; NumPy arrays and scalars keep their dtype; bfloat16 is
ml_dtypes.bfloat16; anything with __array__ is accepted. Results are NumPy arrays whose dtype is
the logits dtype.
"""

import math

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tests.reference import DTYPE_IDS, FLOAT_DTYPES

nn = tfloss.nn


class ArrayLike:
    """Not an ndarray, not a list: only __array__ (like a tf.Tensor or a torch tensor)."""

    def __init__(self, values, dtype):
        self._values = np.asarray(values, dtype=dtype)

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


def _all_ops(labels, logits, sparse_labels):
    return {
        "sigmoid": nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
        "weighted": nn.weighted_cross_entropy_with_logits(labels, logits, 2.0),
        "softmax": nn.softmax_cross_entropy_with_logits(labels, logits),
        "sparse": nn.sparse_softmax_cross_entropy_with_logits(sparse_labels, logits),
    }


def test_python_float_lists_become_float32():
    results = _all_ops([[0.0, 1.0]], [[0.5, -0.5]], [1])
    for name, result in results.items():
        assert isinstance(result, np.ndarray), name
        assert result.dtype == np.float32, name


def test_mixed_int_and_float_lists_become_float32():
    result = nn.sigmoid_cross_entropy_with_logits(labels=[0.0, 1.0], logits=[1, 2.5])
    assert result.dtype == np.float32


def test_python_float_scalars_become_float32():
    result = nn.sigmoid_cross_entropy_with_logits(labels=0.0, logits=0.0)
    assert result.dtype == np.float32 and result.shape == ()


def test_python_ints_become_int32():
    # Observable through TF's dtype errors, which name the converted dtype.
    with pytest.raises(tfloss.errors.InvalidArgumentError, match="but is a int32 tensor"):
        nn.sigmoid_cross_entropy_with_logits(labels=[1], logits=[1.0])
    with pytest.raises(tfloss.errors.InvalidArgumentError, match="attr 'T' of int32 "):
        nn.softmax_cross_entropy_with_logits(labels=[[1]], logits=[[1]])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_numpy_arrays_keep_their_dtype(dtype):
    labels = np.array([[0.0, 1.0]], dtype)
    logits = np.array([[0.5, -0.5]], dtype)
    for name, result in _all_ops(labels, logits, np.array([1])).items():
        assert isinstance(result, np.ndarray), name
        assert result.dtype == dtype, name


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_numpy_scalars_keep_their_dtype(dtype):
    scalar = np.array(0.0, dtype)[()]
    assert not isinstance(scalar, np.ndarray)  # a NumPy scalar, not a 0-d array
    result = nn.sigmoid_cross_entropy_with_logits(labels=scalar, logits=scalar)
    assert isinstance(result, np.ndarray) and result.dtype == dtype and result.shape == ()


def test_bfloat16_results_are_ml_dtypes_bfloat16():
    logits = np.array([[1.0, 2.0]], ml_dtypes.bfloat16)
    result = nn.softmax_cross_entropy_with_logits(labels=[[0.0, 1.0]], logits=logits)
    assert result.dtype == np.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_objects_with_array_method_are_accepted(dtype):
    labels = ArrayLike([[0.0, 1.0]], dtype)
    logits = ArrayLike([[0.0, 0.0]], dtype)
    for name, result in _all_ops(labels, logits, ArrayLike([1], np.int32)).items():
        assert isinstance(result, np.ndarray), name
        assert result.dtype == dtype, name
    loss = nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    np.testing.assert_allclose(loss, [math.log(2.0)], rtol=1e-6)


def test_tuples_are_sequences_like_lists():
    result = nn.sigmoid_cross_entropy_with_logits(labels=(0.0, 1.0), logits=(0.0, 0.0))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [math.log(2.0)] * 2, rtol=1e-6)


def test_numpy_int64_labels_are_accepted_by_sparse():
    labels = np.array([0, 1], np.int64)
    result = nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=np.zeros((2, 2)))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, [math.log(2.0)] * 2, rtol=1e-12)
