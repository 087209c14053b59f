"""Unit tests of the comparison machinery (ULPs, patterns, bound), bfloat16 included."""

import ml_dtypes
import numpy as np
import pytest

from tfloss.conformance.compare import (FLOAT_DTYPES, RTOL, compare_arrays, float_format, ordered_int, special_class,
                            ulp_distance, ulp_of)

BF16 = ml_dtypes.bfloat16


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_ulp_of_matches_numpy_spacing(dtype):
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    values = np.concatenate([
        np.exp(rng.uniform(np.log(float(info.tiny)), np.log(float(info.max)), 500)),
        [float(info.tiny), float(info.max) / 2, 1.0, 2.0, 3.0],
    ]).astype(dtype)
    np.testing.assert_array_equal(ulp_of(values.astype(np.float64), dtype), np.spacing(values).astype(np.float64))


def test_ulp_of_bfloat16_from_bits():
    values = np.array([1.0, 1.5, 2.0, 3.0e38, 1e-38, 1e-40, 0.0], BF16)
    bits = values.view(np.uint16)
    next_up = (bits + 1).view(BF16).astype(np.float64)
    expected = next_up - values.astype(np.float64)
    np.testing.assert_array_equal(ulp_of(values.astype(np.float64), BF16), expected)
    assert float_format(BF16).nmant == 7 and float_format(BF16).minexp == -126


@pytest.mark.parametrize("dtype", list(FLOAT_DTYPES))
def test_ulp_distance_counts_representable_values(dtype):
    dt = FLOAT_DTYPES[dtype]
    one = np.array([1.0], dt)
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    up3 = (one.view(uint) + 3).view(dt)
    assert ulp_distance(one, up3)[0] == 3
    # across zero: smallest subnormals of both signs are 2 apart, and +0 == -0
    sub = (np.array([0.0], dt).view(uint) + 1).view(dt)
    assert ulp_distance(sub, -sub)[0] == 2
    assert ulp_distance(np.array([0.0], dt), np.array([-0.0], dt))[0] == 0
    assert ordered_int(-sub)[0] == -1


def test_special_class_distinguishes_signed_zero_inf_nan():
    x = np.array([1.0, 0.0, -0.0, np.inf, -np.inf, np.nan], BF16)
    np.testing.assert_array_equal(special_class(x), [0, 1, 2, 3, 4, 5])


def test_compare_accepts_identical_and_rejects_pattern_dtype_shape():
    e = np.array([1.0, np.nan, np.inf, 0.0], np.float32)
    assert compare_arrays(e.copy(), e).bit_exact
    assert not compare_arrays(np.array([1.0, np.nan, np.inf, -0.0], np.float32), e).ok
    assert not compare_arrays(np.array([1.0, 0.0, np.inf, 0.0], np.float32), e).ok
    assert not compare_arrays(e.astype(np.float64), e).ok
    assert not compare_arrays(e[:3], e).ok
    assert not compare_arrays(list(e), e).ok  # results must be NumPy arrays


@pytest.mark.parametrize("dtype", list(FLOAT_DTYPES))
def test_bound_is_ulps_of_term_magnitude_capped_by_tf_rtol(dtype):
    dt = FLOAT_DTYPES[dtype]
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    expected = np.array([1.0e-3], dt)
    off_by = lambda k: (expected.view(uint) + k).view(dt)  # noqa: E731
    # One ULP of the value is always accepted.
    assert compare_arrays(off_by(1), expected).ok
    # Judged against a large term magnitude, 1000 ULPs of a small value can be fine ...
    far = off_by(1000)
    err = abs(float(far[0]) - float(expected[0]))
    ok_with_terms = compare_arrays(far, expected, magnitude=np.array([1e4]))
    assert ok_with_terms.ok == (err <= min(4 * ulp_of(1e4, dt), max(RTOL[dtype] * 1e4, ulp_of(1e4, dt))))
    # ... but never beyond TF's tolerance relative to the terms.
    assert not compare_arrays(np.array([2e-3], dt), expected, magnitude=np.array([0.05])).ok


def test_bound_for_bfloat16_is_measured_in_bfloat16_ulps():
    expected = np.array([1.0], BF16)
    one_up = (expected.view(np.uint16) + 1).view(BF16)
    three_up = (expected.view(np.uint16) + 3).view(BF16)
    cmp = compare_arrays(one_up, expected)
    assert cmp.ok and cmp.err_ulps[0] == 1
    assert not compare_arrays(three_up, expected).ok  # 3 ULP = 2.3e-2 > rtol 1e-2


def test_complex_results_are_judged_part_by_part():
    # The textbook sigmoid returns complex for complex inputs: a result with the right real part
    # but a lost imaginary part must fail; a 1e-7 relative error in both parts must pass.
    expected = np.array([1 + 1j, 2 - 0.5j], np.complex64)
    assert not compare_arrays(expected.real.astype(np.complex64), expected).ok
    assert compare_arrays((expected * np.float32(1 + 1e-7)).astype(np.complex64), expected).ok
    assert not compare_arrays((expected * np.float32(1 + 1e-5)).astype(np.complex64), expected).ok
    same = compare_arrays(expected.copy(), expected)
    assert same.ok and same.bit_exact and same.n_elements == 2


@pytest.mark.parametrize("dtype", list(FLOAT_DTYPES))
def test_bit_exact_count_distinguishes_nan_sign_and_payload(dtype):
    # Any NaN passes the pattern check, but only TF's own NaN bits count as bit-exact.
    dt = FLOAT_DTYPES[dtype]
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    nan = np.array([np.nan], dt)
    negative_nan = -nan
    other_payload = (nan.view(uint) | uint(1)).view(dt)
    expected = np.concatenate([nan, nan, nan, np.array([1.0], dt)])
    actual = np.concatenate([nan, negative_nan, other_payload, np.array([1.0], dt)])
    cmp = compare_arrays(actual, expected)
    assert cmp.ok and cmp.n_elements == 4
    assert cmp.n_bit_exact == 2 and not cmp.bit_exact
    assert compare_arrays(expected.copy(), expected).bit_exact


def test_bit_exact_count_of_complex_parts_distinguishes_nan_sign():
    expected = np.array([complex(np.nan, 1.0), 1 + 1j], np.complex64)
    actual = expected.copy()
    actual.real[0] = -actual.real[0]
    cmp = compare_arrays(actual, expected)
    assert cmp.ok and cmp.n_bit_exact == 1
