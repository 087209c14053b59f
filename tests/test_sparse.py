"""tfloss.nn.sparse_softmax_cross_entropy_with_logits: values, label dtypes, shapes, specials.

Expected values: tests/reference.py (mpmath, closed form L = logsumexp(x) - x[label]) or the
closed forms written below. Error cases (bad labels, bad shapes) are in tests/test_errors.py.
"""

import math

import numpy as np
import pytest

import tfloss
from tests.reference import DTYPE_IDS, FLOAT_DTYPES, assert_close, finfo, sparse_reference

sparse = tfloss.nn.sparse_softmax_cross_entropy_with_logits


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_moderate_logits_match_high_precision(dtype, label_dtype):
    rng = np.random.default_rng(20)
    logits = rng.normal(scale=3.0, size=(8, 4)).astype(dtype)
    labels = np.array([0, 1, 2, 3, 3, 2, 1, 0], dtype=label_dtype)

    result = sparse(labels=labels, logits=logits)

    exact, scale = sparse_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_extreme_logits_match_high_precision(dtype):
    largest = float(finfo(dtype).max)
    big = min(1e30, largest / 4)
    logits = np.array([
        [big, 0.0, -big],
        [big, 0.0, -big],
        [0.0, -200.0, -40.0],
        [0.0, -200.0, -40.0],
        [largest / 4, largest / 4, -largest / 4],
    ], dtype=dtype)
    labels = np.array([0, 2, 0, 1, 1], np.int32)

    result = sparse(labels=labels, logits=logits)

    exact, scale = sparse_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


# bfloat16 is left out: TF's sparse kernel sums 1000 bfloat16 terms natively (tf-behaviour.md
# 5.4), so TF itself is far from the exact value there; parity/ compares that case with TF.
@pytest.mark.parametrize("dtype", [d for d in FLOAT_DTYPES if d.name != "bfloat16"],
                         ids=[i for i in DTYPE_IDS if i != "bfloat16"])
def test_many_classes_match_high_precision(dtype):
    rng = np.random.default_rng(22)
    logits = rng.normal(scale=4.0, size=(3, 1000)).astype(dtype)
    labels = np.array([0, 500, 999])
    result = sparse(labels=labels, logits=logits)
    exact, scale = sparse_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


def test_huge_float32_logits_stay_finite():
    # tf-behaviour.md 5.7: [1e38, -1e38] with label 1 -> 2e38.
    result = sparse(labels=np.array([1]), logits=np.array([[1e38, -1e38]], np.float32))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.astype(np.float64), [2e38], rtol=1e-6)


def test_float32_loss_beyond_range_is_inf():
    result = sparse(labels=np.array([1]), logits=np.array([[3.4e38, -3.4e38]], np.float32))
    assert float(result[0]) == math.inf


def test_float16_is_computed_in_float32():
    # tf-behaviour.md 5.4: float16 logits are upcast. 3000 equal logits: loss log(3000) = 8.006;
    # a float16 running sum would stall at 2048 (log 2048 = 7.62).
    logits = np.zeros((1, 3000), np.float16)
    result = sparse(labels=np.array([7]), logits=logits)
    assert result.dtype == np.float16
    np.testing.assert_allclose(result.astype(np.float64), [math.log(3000)], rtol=1e-3)


def test_bfloat16_result_is_bfloat16():
    import ml_dtypes
    logits = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 4.0]], ml_dtypes.bfloat16)
    result = sparse(labels=np.array([1, 2]), logits=logits)
    assert result.dtype == np.dtype(ml_dtypes.bfloat16)
    exact, scale = sparse_reference(np.array([1, 2]), logits, ml_dtypes.bfloat16)
    assert_close(result, exact, ml_dtypes.bfloat16, scale)


# --------------------------------------------------------------------------- shapes

def test_rank1_logits_with_scalar_label_give_a_scalar():
    result = sparse(labels=2, logits=[1.0, 2.0, 3.0])
    assert isinstance(result, np.ndarray)
    assert result.shape == () and result.dtype == np.float32
    expected = math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3.0
    np.testing.assert_allclose(float(result), expected, rtol=1e-6)


@pytest.mark.parametrize("labels_shape", [(5,), (2, 3), (2, 1, 3), (1, 2, 2, 2)])
def test_output_shape_is_labels_shape(labels_shape):
    rng = np.random.default_rng(21)
    classes = 4
    logits = rng.normal(size=labels_shape + (classes,))
    labels = rng.integers(0, classes, size=labels_shape)
    result = sparse(labels=labels, logits=logits)
    assert result.shape == labels_shape and result.dtype == np.float64
    exact, scale = sparse_reference(labels, logits, np.float64)
    assert_close(result, exact, np.float64, scale)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_empty_batch(dtype):
    # tf-behaviour.md 5.5: [0, C] -> [0]; the label range check is skipped for an empty batch.
    result = sparse(labels=np.zeros(0, np.int32), logits=np.zeros((0, 3), dtype))
    assert isinstance(result, np.ndarray)
    assert result.shape == (0,) and result.dtype == dtype


def test_empty_middle_dimension():
    # tf-behaviour.md 5.5: logits [2, 0, 3] -> [2, 0].
    result = sparse(labels=np.zeros((2, 0), np.int64), logits=np.zeros((2, 0, 3), np.float32))
    assert result.shape == (2, 0) and result.dtype == np.float32


def test_single_class_gives_zero_loss():
    result = sparse(labels=[0, 0], logits=[[5.0], [-7.0]])
    assert np.array_equal(result, np.zeros(2, np.float32))


def test_python_int_labels_are_accepted():
    # Python ints become int32, one of the two allowed label dtypes.
    result = sparse(labels=[0, 1], logits=[[0.0, 0.0], [1.0, 1.0]])
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [math.log(2.0)] * 2, rtol=1e-6)


# --------------------------------------------------------------------------- special values

inf, nan = math.inf, math.nan

# tf-behaviour.md 5.7. The sparse kernel only evaluates log S - shifted at the label, so a
# -inf logit elsewhere is harmless (unlike the dense op).
SPECIAL_ROWS = [
    ([-inf, 0.0, 1.0], 1, math.log(1.0 + math.e)),   # 1.3132616: the -inf class drops out
    ([-inf, 0.0, 1.0], 0, inf),                        # the labelled class has probability 0
    ([inf, 0.0, 1.0], 1, nan),                         # inf - inf in the shift
    ([0.0, 1.0, inf], 2, nan),
    ([nan, 0.0, 1.0], 1, nan),
    ([-inf, -inf, -inf], 1, nan),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_special_values(dtype):
    logits = np.array([row[0] for row in SPECIAL_ROWS], dtype=dtype)
    labels = np.array([row[1] for row in SPECIAL_ROWS], np.int64)

    result = sparse(labels=labels, logits=logits)

    assert result.dtype == dtype
    tolerance = {"float16": 1e-3, "bfloat16": 1e-2}.get(np.dtype(dtype).name, 1e-6)
    for (x, label, want), value in zip(SPECIAL_ROWS, result.astype(np.float64)):
        if math.isnan(want):
            assert math.isnan(value), f"logits={x}, label={label}: expected nan, got {value}"
        elif math.isinf(want):
            assert value == want, f"logits={x}, label={label}: expected {want}, got {value}"
        else:
            assert abs(value - want) <= tolerance * (1 + abs(want)), (x, label, value, want)


def _bits(array, uint=np.uint32):
    return [hex(v) for v in np.ascontiguousarray(array).view(uint).ravel()]


def _row_with_nans(dtype, classes, nans):
    """A row of ones with the NaN bit patterns ``nans`` (position -> bits) written in."""
    uint = {np.float32: np.uint32, np.float64: np.uint64}[dtype]
    row = np.ones((1, classes), dtype)
    for position, nan_bits in nans.items():
        row.view(uint)[0, position] = nan_bits
    return row


def test_sparse_nan_sign_follows_x86_default_nan():
    # Eigen's row max skips the NaN and returns inf, so inf - inf makes x86's default NaN, whose
    # sign bit is set; NumPy's max would return the NaN and give +NaN.  Expected bits from TF 2.21:
    #   tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[2], logits=np.array([[inf, nan, inf]], np.float32))
    #   tf.nn.softmax_cross_entropy_with_logits(labels=[[0., 0., 1.]], logits=<the same>)
    logits = np.array([[np.inf, np.nan, np.inf]], np.float32)
    assert _bits(sparse(labels=[2], logits=logits)) == ["0xffc00000"]
    dense = tfloss.nn.softmax_cross_entropy_with_logits(labels=np.array([[0.0, 0.0, 1.0]], np.float32), logits=logits)
    assert _bits(dense) == ["0xffc00000"]


def test_sparse_nan_payload_follows_eigen_reduction_order():
    # Which of several NaN payloads TF returns is decided by Eigen's max (a NaN in the 8-lane
    # part is skipped, the last tail element wins) and by which NaN each addition of the row sum
    # keeps.  Expected bits from TF 2.21 (x = ones with NaN bits written at the given columns):
    #   f32, 9 columns, 7: 0x7fc00001, 8: 0xffc00002, label 0: loss and tf.GradientTape gradient
    #   f32, 32 columns, 8: 0x7fc00001, 16: 0xffc00002, label 0 (the 4-accumulator fold)
    #   f64, 16 columns, 4: 0x7ff8000000000001, 8: 0xfff8000000000002, label 0
    tail_nan = _row_with_nans(np.float32, 9, {7: 0x7FC00001, 8: 0xFFC00002})
    loss, grads = tfloss.value_and_gradient(
        tfloss.nn.sparse_softmax_cross_entropy_with_logits, labels=np.array([0]), logits=tail_nan
    )
    assert _bits(loss) == ["0xffc00002"]
    assert _bits(grads["logits"]) == ["0xffc00002"] * 7 + ["0x7fc00001", "0xffc00002"]

    folded = _row_with_nans(np.float32, 32, {8: 0x7FC00001, 16: 0xFFC00002})
    assert _bits(sparse(labels=[0], logits=folded)) == ["0xffc00002"]

    folded64 = _row_with_nans(np.float64, 16, {4: 0x7FF8000000000001, 8: 0xFFF8000000000002})
    assert _bits(sparse(labels=[0], logits=folded64), np.uint64) == ["0xfff8000000000002"]
