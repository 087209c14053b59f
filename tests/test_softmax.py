"""tfloss.nn.softmax_cross_entropy_with_logits: values, label casting, axis, broadcasting,
empty/zero-class shapes, special values.

Expected values: tests/reference.py (mpmath, closed form L = sum_j z_j*(logsumexp(x) - x_j)) or
the closed forms written below.
"""

import math

import numpy as np
import pytest

import tfloss
from tfloss._machine import cpu as _cpu
from tfloss._machine import eigen_math as _eigen_math
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


# --- Long rows: Eigen's tree sum splits on the tensor's index, not the row's ---------------------
# Above packet * leaf_size values (8192 float32, 4096 float64) Eigen sums a row as two halves split
# on a packet boundary of the whole [batch, classes] tensor; row r starts at index r * classes, so
# when classes is not a multiple of the packet the split column moves from row to row.


def test_long_row_sum_splits_on_the_tensor_index():
    # Two equal rows of 8193 float32: 2**24 at column 0 and 1.0 at columns 4103 and 8000.
    # Row 0 starts at index 0: split = 8 * ceil((0 + 4097) / 8) = 4104, so 2**24 and the first
    # 1.0 share the left half, 2**24 + 1 is a tie that rounds to even (2**24), and adding the
    # right half's 1.0 is another tie: 2**24.  Row 1 starts at index 8193: split =
    # 8 * ceil((8193 + 4097) / 8) = 12296, 4103 columns into the row, so both 1.0 fall in the
    # right half, which sums to 2 exactly, and the row sums to 2**24 + 2.  TF's reduce_sum gives
    # [16777216, 16777218] for these rows (checked on TF 2.21.0 CPU).
    values = np.zeros((2, 8193), np.float32)
    values[:, [0, 4103, 8000]] = [2.0 ** 24, 1.0, 1.0]
    total = _cpu.reduce_sum(_cpu.CpuTensor(values), axis=1).value
    assert total.tolist() == [2.0 ** 24, 2.0 ** 24 + 2]
    # float64, packet 4, rows of 4097: split 2052 for row 0, 2051 for row 1 (index 4097 = 1 mod 4).
    values = np.zeros((2, 4097))
    values[:, [0, 2051, 4000]] = [2.0 ** 53, 1.0, 1.0]
    total = _cpu.reduce_sum(_cpu.CpuTensor(values), axis=1).value
    assert total.tolist() == [2.0 ** 53, 2.0 ** 53 + 2]


def test_exp_inside_a_long_row_sum_takes_the_scalar_path_per_leaf():
    # In reduce_sum(exp(x)) each leaf of the tree evaluates its last (length % packet) elements
    # with the C library's exp.  float32 rows of 8193: row 0 (index 0) has leaves of 4104 and
    # 4089 columns, so only column 8192 is scalar; row 1 (index 8193 = 1 mod 8) has leaves of
    # 4103 and 4090, so columns 4096..4102 and 8191..8192 are.  -0.189453125 is a value whose
    # packet and C-library exp differ in the last bit.
    value = np.float32(-0.189453125)
    packet_exp = _eigen_math.exp(np.full(8, value))[0]
    scalar_exp = _eigen_math.scalar_exp(np.array([value]))[0]
    assert packet_exp != scalar_exp
    result = _cpu.exp_in_row_sum(_cpu.CpuTensor(np.full((2, 8193), value))).value
    scalar_columns = [np.nonzero(row == scalar_exp)[0].tolist() for row in result]
    assert scalar_columns == [[8192], list(range(4096, 4103)) + [8191, 8192]]
    assert np.all((result == packet_exp) | (result == scalar_exp))


def _long_row_logits(rows: int, classes: int, dtype: str) -> np.ndarray:
    """Logits in [-3.9, 3.9] from an integer formula (k / 256 is exact), so no RNG or libm."""
    i, r = np.arange(classes), np.arange(rows)[:, None]
    return (((i * 7919 + r * 104729) % 2001 - 1000) / 256).astype(dtype)


def _long_row_labels(rows: int, classes: int, dtype: str) -> np.ndarray:
    """Soft labels m * 2**-18, m in 1..97 (exact in float32), summing to about 1.5 per row."""
    i, r = np.arange(classes), np.arange(rows)[:, None]
    return (((i * 31 + r * 17) % 97 + 1) * 2.0 ** -18).astype(dtype)


def _leaf_tail_logits(dtype: str) -> np.ndarray:
    """Two rows whose loss shows which exp path one element took inside the sum of exp.

    Each row is 0 at column 0 and negligible elsewhere (its exp flushes to 0), except
    ``value`` at ``column``: sum_exp = 1 + exp(value), where Eigen's packet and the C library's
    exp of ``value`` round 1 + exp(value) differently.  ``column`` is scalar in row 1's first
    leaf (see the test above; for float64, rows of 4097 split at 2051 in row 1, and 2051 % 4 = 3
    makes columns 2048..2050 scalar) but packet for row 0 and for a per-row split.
    """
    classes, column, value, low = {"float32": (8193, 4100, -194 / 1024, -200.0),
                                   "float64": (4097, 2049, -5 / 1024, -1000.0)}[dtype]
    logits = np.full((2, classes), low)
    logits[:, 0] = 0.0
    logits[:, column] = value
    return logits.astype(dtype)


# TF 2.21.0's output bits (CPU, official x86-64 wheel), from the same calls with TensorFlow, e.g.
#   .venv-tf2.21.0/bin/python -c "import numpy as np, tensorflow as tf
#   from tests.test_softmax import _long_row_logits as x, _long_row_labels as z
#   loss = tf.nn.softmax_cross_entropy_with_logits(labels=z(7, 12289, 'float32'), logits=x(7, 12289, 'float32'))
#   print([hex(b) for b in loss.numpy().view(np.uint32).tolist()])"
# (sparse: labels=np.arange(rows) * 7 % classes; leaf-tail: labels [0, 0], one-hot on column 0 for softmax).
# Before tfloss split on the tensor index, rows 2 and 4 of the 7 x 12289 softmax and row 1 of both
# leaf-tail cases differed in the last bit.
_TF_LONG_ROW_BITS = {
    ("softmax", "float32", 7, 12289): [0x41CF0CF6, 0x41CF1AE7, 0x41CF31C2, 0x41CF1068, 0x41CF02F3,
                                       0x41CF031C, 0x41CF1306],
    ("sparse", "float32", 7, 12289): [0x4172C933, 0x416DAAB2, 0x416889B2, 0x416369BF, 0x415E48A8,
                                      0x41592A4A, 0x41540A5C],
    ("softmax", "float32", 3, 8193): [0x41850AE1, 0x41851686, 0x41852D98],
    ("softmax", "float64", 5, 6001): [0x4027ACF21E2D4444, 0x4027B34655326458, 0x4027B22843732BB3,
                                      0x4027A612B79B54E2, 0x4027A5CA93624C1C],
    ("sparse", "float64", 5, 6001): [0x402CEA69A729FCC2, 0x402C4666A4FEFED2, 0x402BA23C4995C7DA,
                                     0x402AFE699FD77316, 0x402A5A663DEAC640],
    ("leaf-tail", "float32"): [0x3F1A57B0, 0x3F1A57AF],
    ("leaf-tail", "float64"): [0x3FE61A493EF9D1C4, 0x3FE61A493EF9D1C5],
}


@pytest.mark.parametrize("key", list(_TF_LONG_ROW_BITS), ids=lambda key: "-".join(map(str, key)))
def test_long_rows_match_tf_bits(key):
    kind, dtype = key[0], key[1]
    uint = np.uint32 if dtype == "float32" else np.uint64
    if kind == "leaf-tail":
        logits = _leaf_tail_logits(dtype)
        onehot = np.zeros_like(logits)
        onehot[:, 0] = 1
        results = [tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 0], logits=logits),
                   softmax(labels=onehot, logits=logits)]
    else:
        rows, classes = key[2], key[3]
        logits = _long_row_logits(rows, classes, dtype)
        if kind == "sparse":
            labels = np.arange(rows) * 7 % classes
            results = [tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)]
        else:
            results = [softmax(labels=_long_row_labels(rows, classes, dtype), logits=logits)]
    for result in results:
        assert result.view(uint).tolist() == _TF_LONG_ROW_BITS[key]


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_softmax_loss_keeps_the_brackets_nan_when_the_label_is_a_nan_too(monkeypatch, engine):
    """``labels * (log(S) - shifted)``: where both factors are NaNs, TF's compiled Mul returns
    the bracket's NaN, not the first operand's as x86's rule alone would say.

    A label NaN ``0x7fc00001`` against a ``-inf`` logit: ``shifted = -inf - -inf`` is x86's
    default NaN ``0xffc00000``, so are ``S`` and (on the scalar path) ``log(S)`` and the bracket;
    on the packet path Eigen's ``plog`` ORs a NaN with an all-ones mask, ``0xffffffff``.  So the
    loss is ``0xffc00000`` for one row, and ``0xffffffff`` for the first 8 of 9 rows (their log
    runs in one packet), ``0xffc00000`` for the ninth; TF 2.21 returned exactly these (and
    ``0xffc00002`` for a NaN logit ``0xffc00002``, whatever the label's NaN).
    """
    monkeypatch.setenv("TFLOSS_ENGINE", engine)
    label = np.array([0x7FC00001], np.uint32).view(np.float32)
    one_row = tfloss.nn.softmax_cross_entropy_with_logits(labels=label.reshape(1, 1), logits=np.array([[-np.inf]], np.float32))
    assert [hex(b) for b in one_row.view(np.uint32)] == ["0xffc00000"]
    nine = tfloss.nn.softmax_cross_entropy_with_logits(labels=np.repeat(label.reshape(1, 1), 9, 0),
                                                       logits=np.full((9, 1), -np.inf, np.float32))
    assert [hex(b) for b in nine.view(np.uint32)] == ["0xffffffff"] * 8 + ["0xffc00000"]
    nan_logit = np.array([[0x3F800000, 0xFFC00002]], np.uint32).view(np.float32)  # [1, NaN]
    both = tfloss.nn.softmax_cross_entropy_with_logits(labels=np.array([[label[0], 0.5]], np.float32), logits=nan_logit)
    assert [hex(b) for b in both.view(np.uint32)] == ["0xffc00002"]
