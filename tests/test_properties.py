"""Property tests (hypothesis): identities the exact losses satisfy, which tfloss must keep
within TF's tolerance, plus random values against the mpmath reference.

- softmax is shift invariant:            L(x + c, z) = L(x, z)
- sigmoid is symmetric:                  L(x, z) = L(-x, 1 - z)
- sigmoid is affine, softmax linear in the labels
- sparse equals softmax with one-hot labels
- weighted with pos_weight = 1 equals sigmoid
- v1 and v2 give identical results
- losses are >= 0 for labels in [0, 1] (exactly, in TF's order of operations)

Settings come from the profile registered in tests/conftest.py (derandomized when CI is set).
"""

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tfloss
from tests.reference import (FLOAT_DTYPES, assert_agree, assert_close, assert_same_values,
                             sigmoid_reference, sigmoid_scale, softmax_reference, softmax_scale,
                             sparse_reference, weighted_scale)

PROFILE = settings.get_profile("tfloss-ci" if os.environ.get("CI") else "tfloss-dev")

nn = tfloss.nn
v1 = tfloss.compat.v1.nn

F32_F64 = [np.dtype(np.float32), np.dtype(np.float64)]


def dyadic(limit, denominator=1024):
    """Multiples of 1/denominator in [-limit, limit]: exact in float32 and float64, so sums of
    two of them are exact too and identities can be tested without input rounding."""
    return st.integers(-limit * denominator, limit * denominator).map(lambda k: k / denominator)


# Multiples of 1/128 in [0, 1]: exact in every float dtype, and so is 1 - z.
unit_interval = dyadic(1, denominator=128).map(abs)


@st.composite
def matrices(draw, elements, max_batch=4, max_classes=8, min_classes=1):
    batch = draw(st.integers(1, max_batch))
    classes = draw(st.integers(min_classes, max_classes))
    return draw(hnp.arrays(np.float64, (batch, classes), elements=elements))


@st.composite
def softmax_case(draw, logit_limit=30):
    logits = draw(matrices(dyadic(logit_limit)))
    labels = draw(hnp.arrays(np.float64, logits.shape, elements=unit_interval))
    return logits, labels


def _softmax_scales(logits, labels):
    return np.array([softmax_scale(x, z) for x, z in zip(logits, labels)])


# --------------------------------------------------------------------------- softmax

@PROFILE
@given(case=softmax_case(), shift=dyadic(50), dtype=st.sampled_from(F32_F64))
def test_softmax_is_shift_invariant(case, shift, dtype):
    logits, labels = case
    shifted = logits + shift                       # exact: dyadic values, few bits
    base = nn.softmax_cross_entropy_with_logits(labels.astype(dtype), logits.astype(dtype))
    moved = nn.softmax_cross_entropy_with_logits(labels.astype(dtype), shifted.astype(dtype))
    assert_agree(moved, base, dtype, _softmax_scales(logits, labels))


@PROFILE
@given(case=softmax_case(), a=dyadic(2), b=dyadic(2), dtype=st.sampled_from(F32_F64))
def test_softmax_is_linear_in_labels(case, a, b, dtype):
    logits, labels_1 = case
    labels_2 = labels_1[:, ::-1].copy()
    mixed = a * labels_1 + b * labels_2              # exact: dyadic values, few bits

    def loss(labels):
        return nn.softmax_cross_entropy_with_logits(labels.astype(dtype), logits.astype(dtype))

    combined = (a * loss(labels_1).astype(np.float64)
                + b * loss(labels_2).astype(np.float64)).astype(dtype)
    scale = (abs(a) * _softmax_scales(logits, labels_1) + abs(b) * _softmax_scales(logits, labels_2)
             + _softmax_scales(logits, mixed))
    assert_agree(loss(mixed), combined, dtype, scale)


@PROFILE
@given(case=softmax_case(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_softmax_is_nonnegative_for_nonnegative_labels(case, dtype):
    # Each kernel term z_j * (log S - shifted_j) is >= 0: S >= 1 and shifted_j <= 0.
    logits, labels = case
    result = nn.softmax_cross_entropy_with_logits(labels.astype(dtype), logits.astype(dtype))
    assert (result.astype(np.float64) >= 0).all()


@PROFILE
@given(case=softmax_case(logit_limit=20), dtype=st.sampled_from(FLOAT_DTYPES))
def test_softmax_matches_high_precision(case, dtype):
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    result = nn.softmax_cross_entropy_with_logits(labels, logits)
    exact, scale = softmax_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


# --------------------------------------------------------------------------- sparse

@st.composite
def sparse_case(draw, logit_limit=30):
    logits = draw(matrices(dyadic(logit_limit)))
    classes = logits.shape[1]
    labels = draw(hnp.arrays(np.int64, logits.shape[0], elements=st.integers(0, classes - 1)))
    return logits, labels


@PROFILE
@given(case=sparse_case(), dtype=st.sampled_from(FLOAT_DTYPES),
       label_dtype=st.sampled_from([np.int32, np.int64]))
def test_sparse_equals_softmax_with_one_hot_labels(case, dtype, label_dtype):
    logits, labels = case
    one_hot = np.eye(logits.shape[1])[labels]
    sparse = nn.sparse_softmax_cross_entropy_with_logits(labels.astype(label_dtype),
                                                         logits.astype(dtype))
    dense = nn.softmax_cross_entropy_with_logits(one_hot.astype(dtype), logits.astype(dtype))
    assert_agree(sparse, dense, dtype, _softmax_scales(logits, one_hot))


@PROFILE
@given(case=sparse_case(logit_limit=20), dtype=st.sampled_from(FLOAT_DTYPES))
def test_sparse_matches_high_precision(case, dtype):
    logits, labels = case
    logits = logits.astype(dtype)
    result = nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    exact, scale = sparse_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


# --------------------------------------------------------------------------- sigmoid / weighted

@st.composite
def elementwise_case(draw, logit_limit=60):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    logits = draw(hnp.arrays(np.float64, shape, elements=dyadic(logit_limit)))
    labels = draw(hnp.arrays(np.float64, shape, elements=unit_interval))
    return logits, labels


@PROFILE
@given(case=elementwise_case(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_sigmoid_is_symmetric(case, dtype):
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    flipped_labels = (1 - labels.astype(np.float64)).astype(dtype)   # exact, see unit_interval
    direct = nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    mirrored = nn.sigmoid_cross_entropy_with_logits(labels=flipped_labels, logits=-logits)
    x, z = logits.astype(np.float64), labels.astype(np.float64)
    scale = np.maximum(sigmoid_scale(x, z), sigmoid_scale(-x, 1 - z))
    assert_agree(direct, mirrored, dtype, scale)


@PROFILE
@given(case=elementwise_case(), dtype=st.sampled_from(F32_F64))
def test_sigmoid_is_affine_in_labels(case, dtype):
    # L(x, z) = (1 - z) * L(x, 0) + z * L(x, 1)
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    at = {v: nn.sigmoid_cross_entropy_with_logits(labels=np.full_like(labels, v), logits=logits)
          for v in (0.0, 1.0)}
    z = labels.astype(np.float64)
    combined = ((1 - z) * at[0.0].astype(np.float64) + z * at[1.0].astype(np.float64))
    result = nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    scale = sigmoid_scale(logits.astype(np.float64), z) + np.abs(logits.astype(np.float64))
    assert_agree(result, np.asarray(combined).astype(dtype), dtype, scale)


@PROFILE
@given(case=elementwise_case(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_sigmoid_is_nonnegative_for_labels_in_unit_interval(case, dtype):
    # (max(x,0) - x*z) >= 0 for z in [0, 1] even after rounding, and log1p(...) >= 0.
    logits, labels = case
    result = nn.sigmoid_cross_entropy_with_logits(labels=labels.astype(dtype),
                                                  logits=logits.astype(dtype))
    assert (result.astype(np.float64) >= 0).all()


@PROFILE
@given(case=elementwise_case(logit_limit=100), dtype=st.sampled_from(FLOAT_DTYPES))
def test_sigmoid_matches_high_precision(case, dtype):
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    result = nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    exact, scale = sigmoid_reference(labels, logits, dtype)
    assert_close(result, exact, dtype, scale)


@PROFILE
@given(case=elementwise_case(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_weighted_with_unit_pos_weight_equals_sigmoid(case, dtype):
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    weighted = nn.weighted_cross_entropy_with_logits(labels, logits, 1.0)
    sigmoid = nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    x, z = logits.astype(np.float64), labels.astype(np.float64)
    scale = weighted_scale(x, z, 1.0) + sigmoid_scale(x, z)
    assert_agree(weighted, sigmoid, dtype, scale)


# --------------------------------------------------------------------------- v1 == v2

@PROFILE
@given(case=softmax_case(), dtype=st.sampled_from(FLOAT_DTYPES),
       pos_weight=st.sampled_from([0.25, 1.0, 3.0]))
def test_v1_equals_v2(case, dtype, pos_weight):
    logits, labels = case
    logits, labels = logits.astype(dtype), labels.astype(dtype)
    sparse_labels = np.argmax(labels.astype(np.float64), axis=-1)
    assert_same_values(v1.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
                       nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    assert_same_values(
        v1.weighted_cross_entropy_with_logits(targets=labels, logits=logits, pos_weight=pos_weight),
        nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight))
    assert_same_values(v1.softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                       nn.softmax_cross_entropy_with_logits(labels, logits))
    assert_same_values(v1.softmax_cross_entropy_with_logits_v2(labels, logits, dim=0),
                       nn.softmax_cross_entropy_with_logits(labels, logits, axis=0))
    assert_same_values(
        v1.sparse_softmax_cross_entropy_with_logits(labels=sparse_labels, logits=logits),
        nn.sparse_softmax_cross_entropy_with_logits(sparse_labels, logits))
