"""tfloss.textbook: the article's naive formulas, and where they break while tfloss.nn does not.

Expected values: closed forms with Python's math module, in the formulas' own terms:
- clipped_cross_entropy            -mean over all B*C elements of z * log(clip(p, 1e-10, 1))
- per_example_clipped_cross_entropy mean over B of -sum_j z_j * log(clip(p_j, 1e-10, 1))
- naive_sigmoid_cross_entropy       -z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))
- naive_softmax_cross_entropy       -sum_j z_j * log(softmax(x)_j)
"""

import math

import mpmath
import numpy as np
import pytest

import tfloss
from tfloss import textbook

LABELS = [[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]]
PROBS = [[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]]


def _clipped_terms(labels, probs):
    return [[-z * math.log(min(max(p, 1e-10), 1.0)) for z, p in zip(zr, pr)]
            for zr, pr in zip(labels, probs)]


def test_clipped_cross_entropy_averages_over_every_element():
    # The article's point: reduce_mean runs over batch AND classes, so the value is the
    # per-example loss divided by the number of classes.
    terms = _clipped_terms(LABELS, PROBS)
    expected = sum(map(sum, terms)) / 6
    result = textbook.clipped_cross_entropy(labels=LABELS, probs=PROBS)
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float32
    np.testing.assert_allclose(float(result), expected, rtol=1e-6)


def test_per_example_clipped_cross_entropy_sums_over_classes():
    terms = _clipped_terms(LABELS, PROBS)
    expected = sum(map(sum, terms)) / 2
    result = textbook.per_example_clipped_cross_entropy(labels=LABELS, probs=PROBS)
    assert result.shape == () and result.dtype == np.float32
    np.testing.assert_allclose(float(result), expected, rtol=1e-6)


def test_the_two_clipped_forms_differ_by_the_class_count():
    labels = np.array(LABELS, np.float64)
    probs = np.array(PROBS, np.float64)
    whole = textbook.clipped_cross_entropy(labels=labels, probs=probs)
    per_example = textbook.per_example_clipped_cross_entropy(labels=labels, probs=probs)
    assert whole.dtype == np.float64
    np.testing.assert_allclose(float(whole) * 3, float(per_example), rtol=1e-12)


def test_clipping_keeps_zero_probabilities_finite():
    # log(0) would be -inf; the clip at 1e-10 caps the term at -log(1e-10) = 23.03.
    labels = np.array([[0.0, 1.0]], np.float64)
    probs = np.array([[1.0, 0.0]], np.float64)
    result = textbook.clipped_cross_entropy(labels=labels, probs=probs)
    np.testing.assert_allclose(float(result), -math.log(1e-10) / 2, rtol=1e-12)


def test_clipping_caps_probabilities_above_one():
    labels = np.array([[1.0, 1.0]], np.float64)
    probs = np.array([[1.5, 0.5]], np.float64)      # 1.5 -> 1.0 -> log 0
    result = textbook.per_example_clipped_cross_entropy(labels=labels, probs=probs)
    np.testing.assert_allclose(float(result), -math.log(0.5), rtol=1e-12)


# --------------------------------------------------------------------------- naive sigmoid

def _sigmoid_closed_form(x, z):
    return z * math.log1p(math.exp(-x)) + (1 - z) * math.log1p(math.exp(x))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_naive_sigmoid_is_right_for_moderate_logits(dtype, rtol):
    logits = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype)
    labels = np.array([0.0, 0.3, 0.5, 0.8, 1.0], dtype)
    result = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=logits)
    assert result.dtype == dtype
    expected = [_sigmoid_closed_form(float(x), float(z)) for x, z in zip(logits, labels)]
    np.testing.assert_allclose(result.astype(np.float64), expected, rtol=rtol)


@pytest.mark.parametrize("dtype, x", [(np.float32, 200.0), (np.float64, 800.0)])
def test_naive_sigmoid_breaks_where_the_stable_form_does_not(dtype, x):
    # sigmoid(x) rounds to 1 and sigmoid(-x) underflows to 0, so a log(0) appears: the naive
    # loss is inf, while the exact (and tfloss.nn) loss is x.
    logits = np.array([x, -x], dtype)
    labels = np.array([0.0, 1.0], dtype)
    naive = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=logits)
    stable = tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    assert np.array_equal(naive.astype(np.float64), [math.inf, math.inf])
    np.testing.assert_allclose(stable.astype(np.float64), [x, x], rtol=1e-6)


# --------------------------------------------------------------------------- naive softmax

@pytest.mark.parametrize("dtype, rtol", [(np.complex64, 1e-6), (np.complex128, 1e-13)])
def test_naive_sigmoid_of_complex_inputs_keeps_the_imaginary_part(dtype, rtol):
    # TF's Sigmoid, Log, Mul and Sub all accept complex tensors, so the composition does too.
    z = np.array([0.5 + 0.25j, 1.0, 0.0], dtype)
    x = np.array([1 + 1j, -2 + 0.5j, 3 - 2j], dtype)
    loss = textbook.naive_sigmoid_cross_entropy(labels=z, logits=x)
    assert loss.dtype == dtype
    for zi, xi, li in zip(z, x, loss):
        p = 1 / (1 + mpmath.exp(-mpmath.mpc(complex(xi))))
        exact = -mpmath.mpc(complex(zi)) * mpmath.log(p) - (1 - mpmath.mpc(complex(zi))) * mpmath.log(1 - p)
        assert abs(complex(li) - complex(exact)) <= rtol * abs(complex(exact))


def test_naive_softmax_is_right_for_moderate_logits():
    logits = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]], np.float64)
    labels = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]], np.float64)
    result = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits)
    expected = []
    for x_row, z_row in zip(logits.tolist(), labels.tolist()):
        lse = math.log(sum(math.exp(v) for v in x_row))
        expected.append(sum(z * (lse - v) for z, v in zip(z_row, x_row)))
    assert result.shape == (2,) and result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_naive_softmax_axis():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]], np.float64)
    labels = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float64)
    result = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits, axis=0)
    lse0 = math.log(math.exp(2.0) + math.exp(0.0) + math.exp(1.0))
    lse1 = math.log(math.exp(1.0) + math.exp(3.0) + math.exp(1.0))
    np.testing.assert_allclose(result, [lse0 - 2.0, lse1 - 3.0], rtol=1e-12)


def test_naive_softmax_breaks_where_the_stable_form_does_not():
    # softmax([0, -200]) underflows to [1, 0] in float32: log(0) = -inf, and a zero label
    # times -inf is nan. Exact losses: 200 and log(1 + e^-200) ~ 0.
    logits = np.array([[0.0, -200.0], [0.0, -200.0]], np.float32)
    labels = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    naive = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits)
    stable = tfloss.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert naive[0] == math.inf
    assert math.isnan(naive[1])
    np.testing.assert_allclose(stable.astype(np.float64), [200.0, 0.0], rtol=1e-6, atol=1e-30)


# --------------------------------------------------------------------------- where TF's ops round
# Thresholds below are derived from the formats, not read off tfloss: a p-bit significand makes
# 1 + e round to e once ulp(e) > 2, i.e. e >= 2**(p+1); then sigmoid = e / e = 1 exactly.

import ml_dtypes  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("dtype, bits", [(np.float16, 11), (BF16, 8)])
def test_sixteen_bit_sigmoid_rounds_each_step_so_it_saturates_early(dtype, bits):
    # TF's Sigmoid for 16-bit types is e / (1 + e) with every step rounded to 16 bits, so it is
    # exactly 1 once exp(x) >= 2**(bits+1): x >= (bits+1)*ln 2 (8.32 in float16, 6.24 in bfloat16),
    # and the naive loss of a zero label is log(1 - 1) = -inf -> inf.  Exact loss: ~x.
    x = (bits + 1) * math.log(2) + 0.2
    naive = textbook.naive_sigmoid_cross_entropy(labels=np.array([0.0], dtype), logits=np.array([x], dtype))
    assert naive.dtype == dtype and naive.astype(np.float64)[0] == math.inf


@pytest.mark.parametrize("dtype, bits", [(np.float32, 24), (np.float64, 53)])
def test_naive_sigmoid_is_inf_where_exp_minus_x_is_below_half_an_ulp_of_one(dtype, bits):
    # sigmoid(x) = 1 / (1 + e^-x) rounds to 1 once e^-x < 2**-(bits+1), i.e. x > (bits+1)*ln 2
    # (17.3 in float32, 37.4 in float64); then log(1 - sigmoid) = -inf.  Even a label of 1 does
    # not escape: its other term is (1 - 1) * -inf = 0 * -inf = nan.  Exact losses: ~x and ~e^-x.
    x = (bits + 1) * math.log(2) + 0.5
    naive = textbook.naive_sigmoid_cross_entropy(labels=np.array([0.0, 1.0], dtype), logits=np.array([x, x], dtype))
    assert naive[0] == math.inf
    assert math.isnan(naive[1])


def test_eigen_float32_sigmoid_is_exactly_one_from_its_cap():
    # Eigen's float32 logistic caps its argument at 16.6355324, "the first point where the
    # interpolant is exactly one": sigmoid(17) is 1 in TF although 1 - e^-17 = 1 - 4.1e-8 rounds
    # to 1 - 2**-24 in float32.  So the naive loss of a zero label is already inf at 17.
    labels = np.zeros(8, np.float32)  # 8 elements: one whole packet, Eigen's vectorised path
    naive = textbook.naive_sigmoid_cross_entropy(labels=labels, logits=np.full(8, 17.0, np.float32))
    assert np.all(naive == math.inf)


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float32])
def test_softmax_below_ln_flt_min_is_zero_so_the_naive_loss_is_inf(dtype):
    # oneDNN's exp (TF's float32/16-bit softmax on x86) returns 0 below ln(FLT_MIN) = -87.34, and
    # TF's CPU flushes denormals anyway: softmax([0, -90]) = [1, 0] and -log(0) = inf.
    naive = textbook.naive_softmax_cross_entropy(labels=np.array([[0.0, 1.0]], dtype),
                                                 logits=np.array([[0.0, -90.0]], dtype))
    assert naive.dtype == dtype and naive.astype(np.float64)[0] == math.inf


def test_float64_softmax_survives_where_float32_underflows():
    # float64 reaches 0 only below ln(2**-1022) = -708.4 (flush-to-zero): -90 is fine there.
    labels = np.array([[0.0, 1.0], [0.0, 1.0]])
    naive = textbook.naive_softmax_cross_entropy(labels=labels, logits=np.array([[0.0, -90.0], [0.0, -710.0]]))
    np.testing.assert_allclose(naive[0], 90.0 + math.log1p(math.exp(-90.0)), rtol=1e-12)
    assert naive[1] == math.inf


def test_onednn_softmax_nan_also_reaches_the_mirrored_lane_quirk():
    # oneDNN's maxps keeps a NaN only as its second operand, so its horizontal max fold (lanes i^8,
    # i^4, i^2, i^1) moves a NaN from lane k to lane 15 - k alone, and the folded vector is
    # subtracted lane by lane: class 15 - k sees a NaN maximum too.  exp(NaN) is clamped to
    # ln(FLT_MAX) and overflows, the sum is inf, and every other probability is 1/inf = 0.
    from tfloss._machine.cpu import CpuTensor
    from tfloss._machine.math_ops import softmax
    logits = np.zeros((1, 12), np.float32)
    logits[0, 4] = np.nan
    probabilities = softmax(CpuTensor(logits)).value[0]
    assert np.flatnonzero(np.isnan(probabilities)).tolist() == [4, 11]
    assert np.all(np.delete(probabilities, [4, 11]) == 0)


def test_mean_of_bfloat16_is_accumulated_in_float32():
    # TF's Mean (and Sum) on bfloat16 casts to float32 first (reduction_ops.h).  256 + 16 ones:
    # in bfloat16 each 256 + 1 would round back to 256; in float32 the sum is 272, the mean 16.
    from tfloss._machine.cpu import CpuTensor
    from tfloss._machine.math_ops import mean_op, sum_op
    values = CpuTensor(np.array([256.0] + [1.0] * 16, BF16))
    assert float(mean_op(values).value) == 16.0
    assert float(sum_op(values).value) == 272.0


def test_clipped_cross_entropy_passes_nan_through_the_clip():
    # tf.clip_by_value is minimum then maximum, and TF's Minimum/Maximum propagate NaN.
    result = textbook.clipped_cross_entropy(labels=[[1.0, 0.0]], probs=[[math.nan, 0.5]])
    assert math.isnan(float(result))


# --------------------------------------------------------------------------- TF's errors, TF's words
# Each composition fails at the first TF op that meets the problem, with that op's message.

from tfloss import errors  # noqa: E402
from tfloss._machine.cpu import CpuTensor  # noqa: E402
from tfloss._machine.math_ops import sum_op  # noqa: E402

_FUNCTIONS = [
    (textbook.clipped_cross_entropy, "probs"),
    (textbook.per_example_clipped_cross_entropy, "probs"),
    (textbook.naive_sigmoid_cross_entropy, "logits"),
    (textbook.naive_softmax_cross_entropy, "logits"),
]


@pytest.mark.parametrize("function, second", _FUNCTIONS)
def test_shape_mismatch_fails_in_the_first_mul_labels_first(function, second):
    # labels * f(x) is TF's Mul(labels, f(x)): its kernel prints both shapes, labels' first.
    with pytest.raises(errors.InvalidArgumentError, match=r"^Incompatible shapes: \[3,2\] vs\. \[2,3\] \[Op:Mul\]"):
        function(labels=np.zeros((3, 2), np.float32), **{second: np.ones((2, 3), np.float32)})


@pytest.mark.parametrize("axis", [-3, 2, 5])
def test_naive_softmax_axis_out_of_range_is_tf_nn_softmax_error(axis):
    logits = np.zeros((2, 3), np.float32)
    expected = f"`dim` must be in the range [-2, 2) where 2 is the number of dimensions in the input. Received: dim={axis}"
    with pytest.raises(errors.InvalidArgumentError) as raised:
        textbook.naive_softmax_cross_entropy(labels=logits, logits=logits, axis=axis)
    assert raised.value.message == expected


def test_naive_softmax_fractional_axis_fails_in_range():
    # tf.nn.softmax swaps a non-last axis with the last one by a Transpose whose permutation is
    # concat(range(axis), [rank-1], range(axis + 1, rank - 1), [axis]): range(2.5, 1) is empty
    # the wrong way round.
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(errors.InvalidArgumentError, match=r"^Requires start <= limit when delta > 0: 2\.5/1 \[Op:Range\]"):
        textbook.naive_softmax_cross_entropy(labels=logits, logits=logits, axis=1.5)


@pytest.mark.parametrize("cpu, onednn, dtype, error, message", [
    ("zen4", None, np.float32, errors.AbortedError, "Input dims must be <= 5 and >=1"),
    ("zen4", None, BF16, errors.AbortedError, "Input dims must be <= 5 and >=1"),
    ("zen4", None, np.float16, errors.InvalidArgumentError, "logits must have >= 1 dimension, got []"),
    ("sapphire-rapids", None, np.float16, errors.AbortedError, "Input dims must be <= 5 and >=1"),
    ("sapphire-rapids", None, np.float64, errors.InvalidArgumentError, "logits must have >= 1 dimension, got []"),
    ("sapphire-rapids", "0", np.float32, errors.InvalidArgumentError, "logits must have >= 1 dimension, got []"),
    ("sapphire-rapids", "yes", np.float32, errors.AbortedError, "Input dims must be <= 5 and >=1"),
    ("skylake", None, np.float32, errors.InvalidArgumentError, "logits must have >= 1 dimension, got []"),
    ("skylake", "True", np.float32, errors.AbortedError, "Input dims must be <= 5 and >=1"),
    ("skylake", "maybe", np.float32, errors.InvalidArgumentError, "logits must have >= 1 dimension, got []"),
])
def test_naive_softmax_of_a_scalar_fails_in_the_softmax_kernel_tf_picks_for_the_cpu_quirk(
        x86_cpu, cpu, onednn, dtype, error, message):
    # TF turns oneDNN on by default only on CPUs with AVX512-VNNI/BF16, AVX-VNNI or AMX, and
    # TF_ENABLE_ONEDNN_OPTS (0/1/true/false, any case; anything else is ignored) overrides it.
    # oneDNN then runs float32, bfloat16 on AVX-512 and float16 only with AVX512-FP16; its
    # softmax takes ranks 1 to 5, Eigen's (float64 and the rest) any rank from 1.
    x86_cpu(cpu, onednn)
    with pytest.raises(error) as raised:
        textbook.naive_softmax_cross_entropy(labels=np.array(1.0, dtype), logits=np.array(1.0, dtype))
    assert type(raised.value) is error and raised.value.message == message + " [Op:Softmax] name: "


def test_float16_softmax_rounds_once_with_onednn_fp16_and_per_step_without(x86_cpu):
    # oneDNN computes the whole softmax in float32 and rounds once (here that is the exact value
    # rounded); Eigen's float16 kernel rounds exp(x - max), the running row sum, its reciprocal
    # and the product to float16, one step at a time.
    from tfloss._machine.math_ops import softmax
    logits = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], np.float16)
    exact = np.exp(logits.astype(np.float64) - 6)
    exact /= exact.sum()
    x86_cpu("sapphire-rapids")
    once = softmax(CpuTensor(logits)).value
    np.testing.assert_array_equal(once, exact.astype(np.float16))
    x86_cpu("zen4")
    stepwise = softmax(CpuTensor(logits)).value
    # Rounding at each step drifts by more than the once-rounded result's half ulp, but stays
    # within TF's float16 test tolerance of the exact softmax.
    assert not np.array_equal(stepwise, once)
    np.testing.assert_allclose(stepwise.astype(np.float64), exact, rtol=2e-3)


def test_per_example_clipped_on_scalars_has_no_last_axis_to_sum():
    with pytest.raises(errors.InvalidArgumentError) as raised:
        textbook.per_example_clipped_cross_entropy(labels=np.float32(0.0), probs=np.float32(0.5))
    assert raised.value.message == "Invalid reduction dimension (-1 for input with 0 dimension(s) [Op:Sum] name: "


# --------------------------------------------------------------------------- empty inputs and signed zeros

@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float32, np.float64])
def test_naive_softmax_with_zero_classes_is_minus_an_empty_sum(dtype):
    # The sum of no terms is +0 (the reducer's initial value); the loss is its negation, -0.
    loss = textbook.naive_softmax_cross_entropy(labels=np.zeros((2, 0), dtype), logits=np.zeros((2, 0), dtype))
    assert loss.dtype == dtype and loss.shape == (2,)
    assert np.all(loss.astype(np.float64) == 0) and np.all(np.signbit(loss.astype(np.float64)))
    empty = textbook.naive_softmax_cross_entropy(labels=np.zeros((0, 0, 0), dtype), logits=np.zeros((0, 0, 0), dtype))
    assert empty.dtype == dtype and empty.shape == (0, 0)


def test_naive_softmax_one_class_negative_label_is_plus_zero():
    # softmax of one class is 1, log 1 = 0, and -1 * 0 = -0.  TF's reduction of a size-1 axis
    # reduces nothing (it copies), so the Sum is -0 and its negation +0; an addition 0 + -0 would
    # have given +0 and a loss of -0.
    loss = textbook.naive_softmax_cross_entropy(labels=np.array([[-1.0]]), logits=np.array([[0.0]]))
    assert loss[0] == 0 and not np.signbit(loss[0])


def test_clipped_mean_of_one_element_is_a_copy():
    # Same rule for Mean: one element is copied, not summed into 0 and divided by 1.
    loss = textbook.clipped_cross_entropy(labels=np.float32(-1.0), probs=np.float32(1.0))
    assert loss == 0 and not np.signbit(loss)


# --------------------------------------------------------------------------- order of a non-innermost sum
# 1 + 2**-24 is a tie in float32 and rounds to even, i.e. back to 1.  Adding fifteen 2**-24 to 1
# one at a time therefore leaves 1; adding the small terms among themselves first does not.

def _one_then_tiny(count: int, inner: int) -> CpuTensor:
    values = np.full((1, count, inner), 2.0 ** -24, np.float32)
    values[:, 0, :] = 1.0
    return CpuTensor(values)


def test_sum_over_a_middle_axis_adds_in_order_when_the_kept_axis_is_narrow():
    # Fewer kept elements than a packet (8 float32): Eigen computes each output alone, in order.
    total = sum_op(_one_then_tiny(16, 3), axis=1).value
    assert np.all(total == 1.0)


def test_sum_over_a_middle_axis_uses_four_accumulators_for_a_whole_packet():
    # 8 kept elements fill one packet; with 16 terms Eigen's InnerMostDimPreserver deals term j to
    # accumulator j % 4: a0 = 1 (three ties), a1 = a2 = a3 = 4 * 2**-24 = 2**-22 exactly, and
    # ((a0 + a1) + a2) + a3 = 1 + 3 * 2**-22, each step exact.  A ninth output falls outside the
    # packet and is added in order.
    total = sum_op(_one_then_tiny(16, 9), axis=1).value[0]
    assert np.all(total[:8] == np.float32(1 + 3 * 2.0 ** -22))
    assert total[8] == 1.0


def test_naive_softmax_over_a_middle_axis_sums_in_order():
    # Uniform logits over 16 classes: every term is z_j * log 16 (2.77, half an ulp 2**-23).
    # Labels (1, 2**-25, ..., 2**-25): each small term, 8.7e-8, is below half an ulp and is lost
    # when added in order, so the loss equals that of the one-hot label; summed among themselves
    # first, the fifteen small terms (1.3e-6) would not be lost.
    logits = np.zeros((1, 16, 3), np.float32)
    one_hot = np.zeros((1, 16, 3), np.float32)
    one_hot[:, 0, :] = 1.0
    labels = np.where(one_hot == 1.0, np.float32(1.0), np.float32(2.0 ** -25))
    log16 = np.float32(math.log(16))
    assert np.float32(log16 + np.float32(15 * 2.0 ** -25) * log16) != log16  # the premise
    loss = textbook.naive_softmax_cross_entropy(labels=labels, logits=logits, axis=1)
    reference = textbook.naive_softmax_cross_entropy(labels=one_hot, logits=logits, axis=1)
    assert loss.shape == (1, 3)
    np.testing.assert_array_equal(loss, reference)
    np.testing.assert_allclose(loss, math.log(16), rtol=1e-6)
