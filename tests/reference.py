"""Independent reference values for the unit tests, and the tolerance check that uses them.

Every expected number in tests/ comes from here (mpmath at 60 significant digits, evaluating
the closed forms below on the exact input values) or from a closed form written in the test
itself. Nothing here calls tfloss, and nothing here (or anywhere in tests/) imports TensorFlow.

Closed forms, for logits x, labels z, positive weight q:

    sigmoid   L = max(x, 0) - x*z + log(1 + exp(-|x|))
    weighted  L = (1 - z)*x + (1 + (q - 1)*z) * (log(1 + exp(-|x|)) + max(-x, 0))
    softmax   L = sum_j z_j * (logsumexp(x) - x_j)
    sparse    L = logsumexp(x) - x_label

Tolerances are TensorFlow's own kernel-test tolerances (``assertAllCloseAccordingToType``):
1e-6 for float32/float64, 1e-3 for float16, 1e-2 for bfloat16, taken relative to the magnitude
of the terms that the op adds up (the caller passes that magnitude as ``scale``).
"""

from __future__ import annotations

import math

import ml_dtypes
import mpmath
import numpy as np

DIGITS = 60

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16), np.dtype(np.float32),
                np.dtype(np.float64))
DTYPE_IDS = [d.name for d in FLOAT_DTYPES]

# TF's assertAllCloseAccordingToType defaults.
RTOL = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-6, "float64": 1e-6}

# TF's CPU kernels run with flush-to-zero / denormals-are-zero for these two.
FTZ_DTYPES = ("float32", "float64")


def finfo(dtype):
    return ml_dtypes.finfo(np.dtype(dtype))


def smallest_normal(dtype) -> float:
    return float(finfo(dtype).tiny)


# --------------------------------------------------------------------------- input handling

def exact_inputs(values, dtype=None) -> np.ndarray:
    """The values an op sees, as exact float64 numbers.

    ``values`` is cast to ``dtype`` first (if given), so the reference is evaluated on the same
    rounded numbers the op receives. For float32/float64, denormal inputs count as (signed) zero,
    because TF's CPU runs with denormals-are-zero.
    """
    array = np.asarray(values)
    if dtype is not None:
        array = array.astype(dtype)
    as_double = array.astype(np.float64)
    if array.dtype.name in FTZ_DTYPES:
        denormal = np.abs(as_double) < smallest_normal(array.dtype)
        as_double = np.where(denormal, np.copysign(0.0, as_double), as_double)
    return as_double


def _mp(value) -> mpmath.mpf:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"reference formulas take finite inputs only, got {value!r}")
    return mpmath.mpf(value)


# --------------------------------------------------------------------------- closed forms

def _softplus_neg(x: mpmath.mpf) -> mpmath.mpf:
    """log(1 + exp(-x)) for any finite x, accurate at both ends."""
    if x >= 0:
        return mpmath.log1p(mpmath.exp(-x))
    return -x + mpmath.log1p(mpmath.exp(x))


def sigmoid_xent(x, z) -> mpmath.mpf:
    """-z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x)) = z*softplus(-x) + (1-z)*softplus(x)."""
    with mpmath.workdps(DIGITS):
        x, z = _mp(x), _mp(z)
        return z * _softplus_neg(x) + (1 - z) * _softplus_neg(-x)


def weighted_xent(x, z, q) -> mpmath.mpf:
    """-q*z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))."""
    with mpmath.workdps(DIGITS):
        x, z, q = _mp(x), _mp(z), _mp(q)
        return q * z * _softplus_neg(x) + (1 - z) * _softplus_neg(-x)


def _shifted(row):
    """x_j - max(x) at 60 digits: keeps logsumexp accurate even for logits near 1e308, where
    max(x) + log(...) would need more than 60 digits to hold the small part."""
    row = [_mp(v) for v in row]
    top = max(row)
    return [v - top for v in row]


def log_sum_exp_shifted(shifted) -> mpmath.mpf:
    """log(sum exp(shifted)) for shifted = x - max(x), so logsumexp(x) = max(x) + this."""
    return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in shifted))


def softmax_xent(x_row, z_row) -> mpmath.mpf:
    """sum_j z_j * (logsumexp(x) - x_j), evaluated as sum_j z_j * (log S - shifted_j)."""
    with mpmath.workdps(DIGITS):
        shifted = _shifted(x_row)
        log_sum = log_sum_exp_shifted(shifted)
        return mpmath.fsum(_mp(z) * (log_sum - s) for s, z in zip(shifted, z_row))


def sparse_xent(x_row, label: int) -> mpmath.mpf:
    """logsumexp(x) - x[label]."""
    with mpmath.workdps(DIGITS):
        shifted = _shifted(x_row)
        return log_sum_exp_shifted(shifted) - shifted[label]


# --------------------------------------------------------------------------- whole arrays

def sigmoid_reference(labels, logits, dtype):
    """Exact losses and term magnitudes for sigmoid_cross_entropy_with_logits."""
    x = exact_inputs(logits, dtype)
    z = exact_inputs(labels, dtype)
    x, z = np.broadcast_arrays(x, z)
    exact = np.array([sigmoid_xent(a, b) for a, b in zip(x.ravel(), z.ravel())],
                     dtype=object).reshape(x.shape)
    return exact, sigmoid_scale(x, z)


def sigmoid_scale(x, z):
    """Size of the terms TF adds for sigmoid, as float64 (x, z: exact input values).

    TF computes (max(x,0) - x*z) + log1p(exp(-|x|)). For labels 0 and 1 the bracket is exact and
    both parts are >= 0, so the result is accurate relative to itself (scale 0 = "use |exact|");
    for other labels x*z is rounded and max(x,0) - x*z may cancel, so the error scales with
    those terms. (The largest term stands for their sum: no overflow near the dtype's maximum.)
    """
    x, z = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(z, np.float64))
    exact_bracket = (z == 0) | (z == 1)
    with np.errstate(over="ignore"):
        largest_term = np.maximum(np.maximum(x, 0), np.abs(x * z))
        return np.where(exact_bracket, 0.0,
                        np.minimum(3 * np.maximum(largest_term, math.log(2)), np.finfo(float).max))


def weighted_reference(labels, logits, pos_weight, dtype):
    x = exact_inputs(logits, dtype)
    z = exact_inputs(labels, dtype)
    q = np.asarray(pos_weight, dtype=np.float64)
    x, z, q = np.broadcast_arrays(x, z, q)
    exact = np.array([weighted_xent(a, b, c) for a, b, c in zip(x.ravel(), z.ravel(), q.ravel())],
                     dtype=object).reshape(x.shape)
    return exact, weighted_scale(x, z, q)


def weighted_scale(x, z, q):
    """Size of the terms TF adds for weighted, as float64.

    TF computes (1-z)*x + log_weight*(log1p(exp(-|x|)) + max(-x,0)); the two products can cancel
    (x < 0, z = 0 is the common case), so the error scales with their sizes.
    """
    x, z, q = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (x, z, q)))
    with np.errstate(over="ignore"):
        log_weight = 1.0 + np.abs((q - 1.0) * z)
        return np.abs((1.0 - z) * x) + log_weight * (np.maximum(-x, 0)
                                                      + np.log1p(np.exp(-np.abs(x))))


def softmax_reference(labels, logits, dtype, axis=-1):
    """Exact losses for softmax_cross_entropy_with_logits along ``axis``.

    float16/bfloat16 logits are computed in float32 by TF, and labels are cast to that
    computation dtype, so labels are rounded to float32 for 16-bit logits.
    """
    x = exact_inputs(logits, dtype)
    label_dtype = np.float32 if np.dtype(dtype).name in ("float16", "bfloat16") else dtype
    z = exact_inputs(labels, label_dtype)
    z = np.broadcast_to(z, x.shape) if z.shape != x.shape else z
    x = np.moveaxis(x, axis, -1)
    z = np.moveaxis(z, axis, -1)
    out_shape = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    z2 = z.reshape(-1, z.shape[-1])
    exact = np.array([softmax_xent(xr, zr) for xr, zr in zip(x2, z2)], dtype=object)
    scale = np.array([softmax_scale(xr, zr) for xr, zr in zip(x2, z2)], dtype=np.float64)
    return exact.reshape(out_shape), scale.reshape(out_shape)


def softmax_scale(x_row, z_row) -> float:
    """Size of the terms TF's kernel adds: sum_j |z_j| * (log S - shifted_j), plus one unit per
    label weight for the absolute error of log S (S = sum exp(shifted) is rounded)."""
    x_row, z_row = np.asarray(x_row, np.float64), np.asarray(z_row, np.float64)
    if len(x_row) == 0:
        return 0.0
    shifted = x_row - np.max(x_row)
    log_sum = math.log(float(np.sum(np.exp(shifted))))
    return float(np.sum(np.abs(z_row) * (1.0 + abs(log_sum) + np.abs(shifted))))


def sparse_reference(labels, logits, dtype):
    x = exact_inputs(logits, dtype)
    y = np.asarray(labels)
    x2 = x.reshape(-1, x.shape[-1])
    y1 = y.reshape(-1)
    exact = np.array([sparse_xent(xr, int(k)) for xr, k in zip(x2, y1)], dtype=object)
    one_hot = np.eye(x.shape[-1])[y1]
    scale = np.array([softmax_scale(xr, zr) for xr, zr in zip(x2, one_hot)], dtype=np.float64)
    return exact.reshape(y.shape), scale.reshape(y.shape)


# --------------------------------------------------------------------------- comparison

def round_to_dtype(exact, dtype) -> np.ndarray:
    """Nearest ``dtype`` values of ``exact`` (as float64), with TF's flush-to-zero for f32/f64."""
    exact = np.asarray(exact, dtype=object)
    doubles = np.array([float(v) for v in exact.ravel()], dtype=np.float64).reshape(exact.shape)
    with np.errstate(over="ignore"):
        rounded = doubles.astype(dtype).astype(np.float64)
    if np.dtype(dtype).name in FTZ_DTYPES:
        rounded = np.where(np.abs(rounded) < smallest_normal(dtype), 0.0, rounded)
    return rounded


def assert_close(actual, exact, dtype, scale=None, context=""):
    """Check ``actual`` against exact values the way TF's kernel tests would.

    - ``actual`` is a NumPy array of ``dtype`` with the exact values' shape;
    - where the exact value rounds to +-inf in ``dtype``, ``actual`` is that inf;
    - float32/float64 results are never denormal (TF's flush-to-zero);
    - elsewhere |actual - exact| <= rtol * max(|exact|, scale) + atol, with TF's rtol per dtype,
      atol = rtol for the 16-bit types (as in TF) and the smallest normal for f32/f64 (the
      size of anything flush-to-zero may drop).
    """
    dtype = np.dtype(dtype)
    where = f" ({context})" if context else ""
    assert isinstance(actual, np.ndarray), f"result is {type(actual).__name__}, not ndarray{where}"
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}{where}"
    exact = np.asarray(exact, dtype=object)
    assert actual.shape == exact.shape, f"shape {actual.shape} != {exact.shape}{where}"

    got = actual.astype(np.float64)
    expected = round_to_dtype(exact, dtype)
    magnitude = np.abs(np.array([float(v) for v in exact.ravel()]).reshape(exact.shape))
    if scale is not None:
        magnitude = np.maximum(magnitude, np.broadcast_to(scale, exact.shape))

    overflow = np.isinf(expected)
    assert np.array_equal(got[overflow], expected[overflow]), \
        f"expected {expected[overflow]} got {got[overflow]}{where}"
    assert not np.isnan(got).any(), f"unexpected NaN in {got}{where}"

    if dtype.name in FTZ_DTYPES:
        tiny = smallest_normal(dtype)
        denormal = (got != 0) & (np.abs(got) < tiny)
        assert not denormal.any(), f"denormal results {got[denormal]} (TF flushes to zero){where}"
        atol = tiny
    else:
        atol = RTOL[dtype.name]
    rtol = RTOL[dtype.name]

    finite = ~overflow
    error = np.abs(got[finite] - expected[finite])
    allowed = rtol * magnitude[finite] + atol
    bad = ~(error <= allowed)
    assert not bad.any(), (
        f"{dtype.name}: got {got[finite][bad]}, exact {expected[finite][bad]}, "
        f"error {error[bad]} > allowed {allowed[bad]}{where}")


def assert_agree(a, b, dtype, scale, context=""):
    """Two tfloss results that must agree within TF's tolerance for ``dtype``: same dtype,
    shape, NaN and inf pattern; |a - b| <= 2 * (rtol * max(|a|, |b|, scale) + atol)."""
    dtype = np.dtype(dtype)
    assert a.dtype == dtype and b.dtype == dtype, (a.dtype, b.dtype, context)
    assert a.shape == b.shape, (a.shape, b.shape, context)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert np.array_equal(np.isnan(a64), np.isnan(b64)), (a64, b64, context)
    assert np.array_equal(a64[np.isinf(a64)], b64[np.isinf(a64)]), (a64, b64, context)
    finite = np.isfinite(a64) & np.isfinite(b64)
    rtol = RTOL[dtype.name]
    atol = smallest_normal(dtype) if dtype.name in FTZ_DTYPES else rtol
    magnitude = np.maximum(np.maximum(np.abs(a64), np.abs(b64)), np.broadcast_to(scale, a.shape))
    error = np.abs(a64 - b64)[finite]
    allowed = 2 * (rtol * magnitude[finite] + atol)
    bad = ~(error <= allowed)
    assert not bad.any(), (f"{dtype.name}: {a64[finite][bad]} vs {b64[finite][bad]}, "
                           f"error {error[bad]} > {allowed[bad]} {context}")


def assert_same_values(a, b, context=""):
    """Bitwise-equal results (NaN equal to NaN), same dtype and shape."""
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), context
    assert a.dtype == b.dtype, f"{a.dtype} != {b.dtype} {context}"
    assert a.shape == b.shape, f"{a.shape} != {b.shape} {context}"
    assert np.array_equal(a, b, equal_nan=True), f"{a} != {b} {context}"
