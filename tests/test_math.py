"""The building blocks: tfloss.math (sigmoid, softplus, log_sigmoid, softmax, log_softmax,
reduce_sum, reduce_mean) and their tf.nn / top-level aliases.

Expected values: mpmath (high precision) and closed forms, or values recorded from TF 2.21.0
on x86-64 CPU where a test reproduces a quirk of TF (each says so).  ``parity/test_blocks.py``
checks every function bit for bit against real TF.
"""

import inspect

import mpmath
import numpy as np
import pytest

import tfloss
from tfloss import errors

mpmath.mp.dps = 50
F32 = np.float32


def test_signatures_are_tfs():
    # Signatures as printed by inspect.signature on TF 2.21's functions.
    expected = {
        tfloss.math.sigmoid: "(x, name=None)",
        tfloss.math.log_sigmoid: "(x, name=None)",
        tfloss.math.softplus: "(features, name=None)",
        tfloss.math.softmax: "(logits, axis=None, name=None)",
        tfloss.math.log_softmax: "(logits, axis=None, name=None)",
        tfloss.reduce_sum: "(input_tensor, axis=None, keepdims=False, name=None)",
        tfloss.reduce_mean: "(input_tensor, axis=None, keepdims=False, name=None)",
    }
    for function, signature in expected.items():
        assert str(inspect.signature(function)) == signature


def test_aliases_are_the_same_functions():
    # In TF 2.21, tf.nn.softmax is tf.math.softmax (and likewise below): checked with `is`.
    assert tfloss.nn.softmax is tfloss.math.softmax
    assert tfloss.nn.log_softmax is tfloss.math.log_softmax
    assert tfloss.nn.sigmoid is tfloss.math.sigmoid
    assert tfloss.nn.softplus is tfloss.math.softplus
    assert tfloss.reduce_sum is tfloss.math.reduce_sum
    assert tfloss.reduce_mean is tfloss.math.reduce_mean


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_match_high_precision(dtype):
    x = np.linspace(-30, 30, 301).astype(dtype)
    checks = {
        tfloss.math.sigmoid: lambda v: 1 / (1 + mpmath.exp(-v)),
        tfloss.math.softplus: lambda v: mpmath.log1p(mpmath.exp(v)),
        tfloss.math.log_sigmoid: lambda v: -mpmath.log1p(mpmath.exp(-v)),
    }
    for function, exact in checks.items():
        result = function(x)
        assert result.dtype == dtype and result.shape == x.shape
        for value, got in zip(x, result):
            want = exact(mpmath.mpf(float(value)))
            # Eigen's float32 logistic and softplus's shortcuts (x, exp(x)) are within a few
            # epsilons of the formula, not half an ulp.
            assert abs(mpmath.mpf(float(got)) - want) <= 4 * np.finfo(dtype).eps * abs(want), (function, value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [None, 0, 1, -2])
def test_softmax_and_log_softmax_match_high_precision(dtype, axis):
    x = np.random.default_rng(1).normal(scale=5, size=(4, 6)).astype(dtype)
    probabilities = tfloss.nn.softmax(x, axis=axis)
    log_probabilities = tfloss.nn.log_softmax(x, axis=axis)
    along = 1 if axis in (None, 1) else 0
    rows = np.moveaxis(x, along, -1)
    for index in np.ndindex(rows.shape[:-1]):
        row = [mpmath.mpf(float(v)) for v in rows[index]]
        log_sum = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
        for j, v in enumerate(row):
            position = (index[0], j) if along == 1 else (j, index[0])
            # exp(x - max) carries the rounding of x - max times |x - max|: a few ulps per unit.
            tolerance = 4 * np.finfo(dtype).eps * (1 + abs(float(v - max(row))))
            assert abs(float(probabilities[position]) - float(mpmath.exp(v - log_sum))) <= tolerance * float(mpmath.exp(v - log_sum))
            assert abs(float(log_probabilities[position]) - float(v - log_sum)) <= tolerance * max(1.0, abs(float(v - log_sum)))


def test_log_sigmoid_never_takes_the_log_of_zero():
    # log(sigmoid(-100)) in float32 is log(0) = -inf; -softplus(100) is exactly -100.
    assert tfloss.math.log_sigmoid(F32(-100.0)) == F32(-100.0)
    assert tfloss.math.log_sigmoid([-1000.0]).tolist() == [-1000.0]


def test_float16_softplus_threshold_is_eigen_epsilon_quirk():
    # Recorded from TF 2.21: Eigen's float16 epsilon is 2**-13, so log(eps) + 2 = -7.01 and
    # 6.402 still takes the log1p(exp(x)) path (6.40625, not 6.402), -7.04 takes exp(x).
    x = np.array([6.402, -7.04, 5.934, -5.785], np.float16)
    assert tfloss.math.softplus(x).tolist() == [6.40625, 0.0008769035339355469, 5.9375, 0.0030689239501953125]


def test_softmax_of_rank_0_is_an_error():
    with pytest.raises(errors.InvalidArgumentError, match=r"logits must have >= 1 dimension, got \[\]"):
        tfloss.nn.log_softmax(np.float64(1.0))


def test_softmax_axis_out_of_range_message():
    with pytest.raises(errors.InvalidArgumentError, match=r"`dim` must be in the range \[-2, 2\) where 2 is the "
                                                          r"number of dimensions in the input. Received: dim=2"):
        tfloss.nn.softmax(np.zeros((2, 3), F32), axis=2)


def test_reductions_small_exact_values():
    x = np.arange(6, dtype=F32).reshape(2, 3)
    assert tfloss.reduce_sum(x).tolist() == 15.0
    assert tfloss.reduce_sum(x, axis=0).tolist() == [3.0, 5.0, 7.0]
    assert tfloss.reduce_sum(x, axis=[0, 1], keepdims=True).tolist() == [[15.0]]
    assert tfloss.reduce_mean(x, axis=1).tolist() == [1.0, 4.0]
    assert tfloss.reduce_mean(x, axis=-1, keepdims=True).shape == (2, 1)
    assert tfloss.reduce_sum(x, axis=[]).tolist() == x.tolist()  # no axes: a copy


def test_reduce_sum_empty_and_mean_of_nothing():
    # Recorded from TF 2.21: a sum over nothing is 0, a float mean over nothing NaN, an integer one 0.
    assert tfloss.reduce_sum(np.zeros((0, 3), F32), axis=0).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(tfloss.reduce_mean(np.zeros((0, 3), F32), axis=0)).all()
    assert tfloss.reduce_mean(np.zeros((0, 3), np.int32), axis=0).tolist() == [0, 0, 0]


def test_reduce_sum_of_one_element_is_a_copy_quirk():
    # Recorded from TF 2.21: reducing only size-1 axes copies, so -0.0 stays -0.0 (0 + -0 is +0).
    result = tfloss.reduce_sum(np.array([[-0.0]], F32), axis=1)
    assert result.tolist() == [-0.0] and np.signbit(result[0])
    assert np.signbit(tfloss.reduce_mean(np.float32(-0.0)))


def test_integer_reductions_wrap_and_truncate_quirk():
    # Recorded from TF 2.21: int32 sums wrap; int means truncate toward zero, summed in int64.
    assert tfloss.reduce_sum(np.array([2**31 - 1, 1], np.int32)).tolist() == -2**31
    assert tfloss.reduce_mean(np.array([2**31 - 1, 1], np.int32)).tolist() == 2**30
    assert tfloss.reduce_mean(np.array([-7, 0], np.int32)).tolist() == -3
    assert tfloss.reduce_mean([1, 2, 4]).tolist() == 2
    assert tfloss.reduce_sum(np.array([100, 100, -7], np.int8)).tolist() == -63


def test_float16_mean_count_rounds_quirk():
    # Recorded from TF 2.21: the count is cast to float16: 2049 -> 2048 (and the float16 sum of
    # 2049 ones is 2048), so the mean is 1.0; 70000 is inf in float16: inf / inf = NaN.
    assert tfloss.reduce_mean(np.ones(2049, np.float16)).tolist() == 1.0
    assert np.isnan(tfloss.reduce_mean(np.ones(70000, np.float16)))


def _threads_case():
    i = np.arange(300001, dtype=np.int64)
    x = (((i * 7919) % 1000 - 500) / np.float32(7.0)).astype(F32)
    return (x * F32(1.000123)).astype(F32)


@pytest.mark.parametrize("threads, bits", [(1, 0xC6A7FD52), (2, 0xC6A7FD51)])
def test_full_reduce_sum_depends_on_thread_count_quirk(threads, bits):
    # Recorded from TF 2.21 with tf.config.threading.set_intra_op_parallelism_threads(threads):
    # Eigen cuts a full reduction of >= 108388 float32 elements into one shard per thread.
    x = _threads_case()
    tfloss.config.threading.set_intra_op_parallelism_threads(threads)
    try:
        assert tfloss.reduce_sum(x).view(np.uint32) == bits
    finally:
        tfloss.config.threading.set_intra_op_parallelism_threads(0)


def test_reduction_axis_errors_are_tfs():
    x = np.zeros((2, 3), F32)
    with pytest.raises(errors.InvalidArgumentError, match=r"Invalid reduction dimension \(2 for input with 2 dimension\(s\)"):
        tfloss.reduce_sum(x, axis=2)
    with pytest.raises(errors.InvalidArgumentError, match="Axes contains duplicate dimension: 0"):
        tfloss.reduce_mean(x, axis=[0, -2])
    with pytest.raises(TypeError, match="Cannot convert 1.5 to EagerTensor of dtype int32"):
        tfloss.reduce_sum(x, axis=1.5)
    with pytest.raises(errors.InvalidArgumentError, match="Value for attr 'Tidx' of float"):
        tfloss.reduce_sum(x, axis=[0, 1.0])
    with pytest.raises(errors.InvalidArgumentError, match="Value for attr 'T' of bool"):
        tfloss.reduce_sum([True, False])


def test_python_int_axis_wraps_to_32_bits_quirk():
    # Recorded from TF 2.21: a Python int axis is converted with an int32 hint and wraps, so
    # axis=2**40 is axis 0; inside a list it becomes int64 and is out of range.
    x = np.arange(6, dtype=F32).reshape(2, 3)
    assert tfloss.reduce_sum(x, axis=2**40).tolist() == [3.0, 5.0, 7.0]
    with pytest.raises(errors.InvalidArgumentError, match="Invalid reduction dimension"):
        tfloss.reduce_sum(x, axis=[0, 2**40])


def test_reductions_over_middle_and_outer_axes_agree_with_float64_sums():
    x = np.random.default_rng(2).normal(size=(5, 7, 3, 9)).astype(F32)
    for axes in [(0, 2), (1, 3), (0, 1, 2), (1,), (0, 3)]:
        result = tfloss.reduce_sum(x, axis=list(axes))
        exact = x.astype(np.float64).sum(axis=axes)
        assert result.shape == exact.shape and result.dtype == F32
        assert np.allclose(result, exact, rtol=1e-5, atol=1e-5)


def test_caller_arrays_are_not_modified():
    x = np.array([[1.0, -np.inf, 3.0], [np.nan, 0.0, -0.0]], F32)
    before = x.copy()
    for function in (tfloss.math.sigmoid, tfloss.math.softplus, tfloss.math.log_sigmoid, tfloss.nn.softmax,
                     tfloss.nn.log_softmax, tfloss.reduce_sum, tfloss.reduce_mean):
        function(x)
        assert np.array_equal(x, before, equal_nan=True)


# TF's Pow (tfloss._machine.eigen_math.pow): bits recorded from tf.pow on TF 2.21 CPU for an 11-element
# float32 tensor: elements 0-7 take Eigen's packet pow, 8-10 (the same three values as 0-2) the
# C library's powf.
_POW_X = np.array([1064522135, 1054391871, 1057796652], np.uint32).view(np.float32)
_POW_INPUT = np.concatenate([_POW_X, np.array([0.5, 0.25, 0.75, 1.0, 0.0], np.float32), _POW_X])
_POW_TF_BITS = {
    2.0: [1063732222, 1043825047, 1050322617, 1048576000, 1031798784, 1058013184, 1065353216, 0,
          1063732223, 1043825048, 1050322616],
    0.5: [1064932398, 1059491852, 1061013719, 1060439283, 1056964608, 1063105495, 1065353216, 0,
          1064932398, 1059491851, 1061013720],
    2.5: [1063352064, 1039059602, 1046826197, 1043662067, 1023410176, 1056533074, 1065353216, 0,
          1063352063, 1039059602, 1046826197],
}


@pytest.mark.parametrize("exponent", sorted(_POW_TF_BITS))
def test_pow_matches_recorded_tf_bits(exponent):
    from tfloss._machine import eigen_math as _eigen_math

    result = _eigen_math.pow(_POW_INPUT, np.float32(exponent))
    assert result.view(np.uint32).tolist() == _POW_TF_BITS[exponent]


def test_pow_of_two_is_not_a_square_on_whole_packets_quirk():
    from tfloss._machine import eigen_math as _eigen_math

    squared = _eigen_math.pow(_POW_INPUT, np.float32(2.0))
    # Eigen's packet pow is 1 ulp off the correctly rounded x*x here; the C library's is not.
    assert (squared[:3] != _POW_X * _POW_X).all()
    assert np.abs(squared[:3].view(np.int32) - (_POW_X * _POW_X).view(np.int32)).max() == 1
    assert (squared[8:] == _POW_X * _POW_X).all()


def test_pow_special_values_and_subnormal_bases_quirk():
    # tf.pow on TF 2.21 CPU, one packet of float32: a subnormal base reads as 0 (DAZ), except for
    # the exponent 1, which returns the base itself (a select, not arithmetic).
    from tfloss._machine import eigen_math as _eigen_math

    x = np.array([1.5e-39, -1.5e-39, 3.0, -8.0, -np.inf, np.nan, -0.0, 2.0], np.float32)
    expected = {1.0: [1070436, 2148554084, 1077936128, 3238002688, 4286578688, 2143289344, 2147483648, 1073741824],
                3.0: [0, 2147483648, 1104674816, 3288334336, 4286578688, 2143289344, 2147483648, 1090519040],
                -1.0: [2139095040, 4286578688, 1051372203, 3187671040, 2147483648, 2143289344, 4286578688, 1056964608],
                0.5: [0, 0, 1071494103, 2143289344, 2139095040, 2143289344, 0, 1068827891]}
    for exponent, bits in expected.items():
        assert _eigen_math.pow(x, np.float32(exponent)).view(np.uint32).tolist() == bits, exponent


def test_pow_agrees_with_high_precision_within_a_few_ulps():
    from tfloss._machine import eigen_math as _eigen_math

    rng = np.random.default_rng(3)
    x = rng.uniform(1e-7, 1.0, 4000).astype(np.float32)
    for exponent in (0.5, 1.5, 2.0, 2.5, 3.0, 5.0):
        result = _eigen_math.pow(x, np.float32(exponent))
        exact = np.array([float(mpmath.mpf(float(v)) ** exponent) for v in x[:200]])
        ulps = np.abs(result[:200].astype(np.float64) - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
        assert ulps.max() <= 3, (exponent, ulps.max())


def test_pow_of_a_subnormal_base_depends_on_its_place_quirk():
    # tf.pow on TF 2.21 CPU (DAZ mode): on whole packets a subnormal base reads as 0 (but y = 1
    # returns it); on the tail glibc's powf rescales it by 2**23, gets 0, and takes the log of
    # 2**-150 instead: pow = 2**(-150 y).  float64's tail: 2**(-1075 y).
    from tfloss._machine import eigen_math as _eigen_math

    x = np.full(9, np.finfo(np.float32).tiny / 4, np.float32)
    assert _eigen_math.pow(x, np.float32(0.5)).tolist() == [0.0] * 8 + [2.0 ** -75]
    assert _eigen_math.pow(x, np.float32(1.0)).view(np.uint32).tolist() == [2097152] * 8 + [0]
    x = np.full(5, np.finfo(np.float64).tiny / 4)
    assert _eigen_math.pow(x, 0.5).view(np.uint64).tolist() == [0] * 4 + [2186111271319845837]
