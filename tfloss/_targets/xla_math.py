"""XLA CPU's own ``exp``, ``log`` and ``log1p``, and its fused multiply-adds, to the last bit.

Under ``tf.function(jit_compile=True)`` TF hands each function to XLA, whose CPU backend does
not call Eigen or the C library for most transcendentals: it inlines its own approximations into
the fused loop (``xla/codegen/intrinsic`` in the XLA that TF 2.21 ships; the older
``xla/service/cpu/llvm_ir_runtime.cc`` and ``polynomial_approximations.cc`` held the same
float32 algorithms), then LLVM compiles the loop for the host with FMA contraction on
(``cpu_compiler.cc``: ``AllowFPOpFusion = Fast``).  What each function is, as read from the
optimized LLVM IR and the machine code XLA emits for TF 2.21 on an AVX-512 x86 host:

* float32 ``exp``: the Cephes scheme.  Clamp ``x`` to [-87.8, 88.8], ``n = floor(x*log2(e) +
  1/2)`` clamped to [-127, 127], ``r = x - n*C1 - n*C2`` (C1 + C2 = ln 2), a degree-5
  polynomial ``p(r)``, ``1 + r + r^2 * p(r)``, scaled by ``2**n`` built from the exponent bits.
  ``n = -127`` builds the bit pattern 0: results below ``2**-126`` come out as 0.
* float32 ``log``: Cephes ``logf``: split into mantissa ``m`` in [sqrt(1/2), sqrt(2)) and
  exponent, a degree-8 polynomial in ``m - 1`` evaluated as three interleaved Horner chains.
* float64 ``exp``: ``xla.exp.f64``, a Pade-style rational ``1 + 2 g P(g^2) / (Q(g^2) - g P(g^2))``
  on ``g = x - n ln 2``, scaled by ``2**n`` in four factors; 0 below -708.396, inf above 709.78.
* float64 ``log``: the C library's ``log`` (LLVM's ``llvm.log.f64`` is not replaced).
* ``log1p`` (both types): for ``|x| < sqrt(2) - 1`` the Cephes rational
  ``x - x^2/2 + x^3 P(x)/Q(x)`` (degree 6 over degree 6), else ``log(1 + x)`` with the ``log``
  above.

Each multiply whose only use is an add or subtract is fused into one FMA, as LLVM's DAG
combiner does (for ``a*b + c*d`` the first product is fused).  :func:`fma` is an exact fused
multiply-add in NumPy.  Flush-to-zero and denormals-are-zero hold as in eager TF (XLA runs
inside TF's threads, which set both): inputs are expected flushed, results are flushed here.
"""

from __future__ import annotations

import numpy as np

from .._machine import eigen_math as _eigen_math

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
_UINT = {F32: np.uint32, F64: np.uint64}


def flush(values: np.ndarray) -> np.ndarray:
    """Subnormal float32/float64 results become a zero of the same sign (FTZ), in place."""
    values = np.asarray(values)
    if values.dtype in (F32, F64) and values.size:
        subnormal = np.abs(values) < np.finfo(values.dtype).tiny
        np.copysign(0, values, out=values, where=subnormal)
    return values


# --------------------------------------------------------------------------------------------
# An exact fused multiply-add


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _add_round_to_odd(a, b):
    """``a + b`` in float64 rounded to odd: the exact sum if representable, else the neighbour
    of the two around it whose last bit is 1 (so a second rounding to fewer bits is exact)."""
    s, err = _two_sum(a, b)
    inexact = (err != 0) & np.isfinite(err)
    even = (s.view(np.uint64) & np.uint64(1)) == 0
    bump = inexact & even
    if bump.any():
        s = np.where(bump, np.nextafter(s, np.copysign(np.inf, err)), s)
    return s


def _split(a):
    t = 134217729.0 * a  # 2**27 + 1: Dekker's split
    hi = t - (t - a)
    return hi, a - hi


def _two_prod(a, b):
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _fma64(a, b, c):
    """Boldo and Melquiond's float64 ``a * b + c`` (exact products, two error-free sums, one
    addition rounded to odd, one rounded to nearest), and its product ``a * b``."""
    u_hi, u_lo = _two_prod(a, b)
    t_hi, t_lo = _two_sum(c, u_lo)
    v_hi, v_lo = _two_sum(u_hi, t_hi)
    return v_hi + _add_round_to_odd(t_lo, v_lo), u_hi


#: A product or a factor this large is computed on scaled operands: Dekker's split of a factor
#: above about 1.3e300, or the error-free steps of a product near float64's largest numbers,
#: would overflow.
_HUGE_PRODUCT, _HUGE_FACTOR, _SCALE = 1e300, 1e299, 128


def fma(a, b, c) -> np.ndarray:
    """``a * b + c`` rounded once, for float16, float32 or float64 arrays (the dtype of ``a``); a
    float32/float64 result is flushed to zero when subnormal, as the CPU's FTZ mode does.

    float16 and float32: the product is exact in float64 and the sum is rounded to odd there, so
    the final rounding to float32 is the single correct one.  float64: :func:`_fma64`.  Where a
    factor or the product is near float64's largest numbers, it runs on operands scaled by
    ``2**-128`` (the larger factor and ``c``; a ``c`` too small to scale keeps its sign, all it
    can change then) and the result is scaled back.  A product too small for the error-free
    steps, and non-finite operands, take ``a * b + c``, which gives the same infinities and NaNs,
    except that an infinite ``c`` with finite factors is the result whatever the product.
    """
    dtype = np.asarray(a).dtype
    with np.errstate(all="ignore"):
        if dtype != F64:  # float32, or float16 (AVX512-FP16's native FMA, no FTZ)
            wide = [np.asarray(v, F64) for v in (a, b, c)]
            out = _add_round_to_odd(wide[0] * wide[1], wide[2]).astype(dtype)
            return flush(np.asarray(out))
        a, b, c = np.broadcast_arrays(*(np.asarray(v, F64) for v in (a, b, c)))
        out, product = _fma64(a, b, c)
        finite_factors = np.isfinite(a) & np.isfinite(b)
        finite = finite_factors & np.isfinite(c)
        plain = np.where(np.isinf(c) & finite_factors, c, product + c)
        larger_a = np.abs(a) >= np.abs(b)
        larger = np.where(larger_a, np.abs(a), np.abs(b))
        huge = finite & ((larger >= _HUGE_FACTOR) | ~(np.abs(product) < _HUGE_PRODUCT))  # overflows included
        if huge.any():
            scaled_c = np.ldexp(c, -_SCALE)
            scaled_c = np.where((scaled_c == 0) & (c != 0), np.copysign(5e-324, c), scaled_c)
            scaled, _ = _fma64(np.where(larger_a, np.ldexp(a, -_SCALE), a),
                               np.where(larger_a, b, np.ldexp(b, -_SCALE)), scaled_c)
            out = np.where(huge, np.ldexp(scaled, _SCALE), out)
        # Zero results take the plain sum too: the error-free steps do not keep a zero's sign.
        ok = finite & (np.isfinite(out) | huge) & (out != 0) & (huge | (np.abs(product) > 1e-250) | (product == 0))
        return flush(np.asarray(np.where(ok, out, plain)))


def _mul(a, b):
    return flush(np.asarray(a * b))


def _add(a, b):
    return flush(np.asarray(a + b))


def _sub(a, b):
    return flush(np.asarray(a - b))


# --------------------------------------------------------------------------------------------
# float32


_F32_EXP = [np.float32(v) for v in (
    -87.8, 88.8, 1.44269504, 0.693359375, -2.12194440e-4,
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
)]


def exp_f32_factors(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``exp(x)`` as the two factors of its last multiply, ``y * 2**n``: a sum that adds
    ``exp`` fuses that multiply into its add."""
    low, high, log2e, c1, c2, p0, p1, p2, p3, p4 = _F32_EXP
    half, one = np.float32(0.5), np.float32(1)
    x = np.where(x < low, low, x)  # NaN passes both clamps
    x = np.where(x > high, high, x)
    n = np.floor(fma(x, log2e, half))
    n = np.where(n < -127, np.float32(-127), n)
    n = np.where(n > 127, np.float32(127), n)
    r = fma(-n, c1, x)
    r = fma(-n, c2, r)
    y = fma(r, p0, p1)
    for coefficient in (p2, p3, p4, half):
        y = fma(y, r, coefficient)
    y = _add(fma(y, _mul(r, r), r), one)
    exponent = np.nan_to_num(n, nan=0).astype(np.int32)
    scale = ((exponent << 23) + np.int32(0x3F800000)).view(F32)  # n = -127: the bits of 0.0
    return y, scale


def _exp_f32(x: np.ndarray) -> np.ndarray:
    return _mul(*exp_f32_factors(x))


_F32_LOG = [np.float32(v) for v in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
)]


def _log_f32(v: np.ndarray) -> np.ndarray:
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = _F32_LOG
    one = np.float32(1)
    invalid, zero, infinite = ~(v > 0), v == 0, v == np.inf
    bits = np.where(v > np.finfo(F32).tiny, v, np.finfo(F32).tiny).view(np.uint32)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(F32)  # in [0.5, 1)
    e = ((bits >> np.uint32(23)).astype(np.int32) - 127).astype(F32) + one
    small = m < np.float32(0.707106781186547524)
    e = e - np.where(small, one, np.float32(0))
    x = _add(m - one, np.where(small, m, np.float32(0)))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    y = fma(fma(x, p0, p1), x, p2)
    y1 = fma(fma(x, p3, p4), x, p5)
    y2 = fma(fma(x, p6, p7), x, p8)
    y = fma(y, x3, y1)
    y = fma(y, x3, y2)
    y = fma(y, x3, _mul(e, _F32_EXP[4]))  # y * x^3 + e * C2
    x = fma(-x2, np.float32(0.5), x)
    result = fma(e, _F32_EXP[3], _add(x, y))  # ... + e * C1
    result = np.where(invalid, np.uint32(0xFFFFFFFF).view(F32), result)  # NaN, all bits set
    result = np.where(zero, np.float32(-np.inf), result)
    return np.where(infinite, np.float32(np.inf), result)


# --------------------------------------------------------------------------------------------
# float64


_F64_EXP = (
    -708.39641853226408, 709.78271289338397, 1.4426950408889634, 0.693145751953125, 1.42860682030941723212e-6,
    1.26177193074810590878e-4, 3.02994407707441961300e-2,  # P
    3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,  # Q
)


def _exp_f64(x: np.ndarray) -> np.ndarray:
    low, high, log2e, c1, c2, p0, p1, q0, q1, q2 = _F64_EXP
    below, above = x < low, x > high
    clamped = np.maximum(np.minimum(x, high), low)  # NaN propagates
    n = np.floor(fma(clamped, log2e, 0.5))
    g = fma(-n, c1, clamped)
    g = fma(-n, c2, g)
    g2 = _mul(g, g)
    p = fma(fma(g2, p0, p1), g2, 1.0)
    pg = _mul(p, g)
    q = fma(fma(fma(g2, q0, q1), g2, q2), g2, 2.0)
    y = fma(flush(pg / _sub(q, pg)), 2.0, 1.0)
    k = np.clip(np.nan_to_num(n, nan=0, posinf=0, neginf=0), -2099, 2099).astype(np.int64)
    b = k >> 2
    factor = ((b << 52) + np.int64(0x3FF0000000000000)).view(F64)
    rest = ((((k - 3 * b) & 0xFFF) << 52) + np.int64(0x3FF0000000000000)).view(F64)
    y = _mul(_mul(_mul(_mul(y, factor), factor), factor), rest)
    y = np.where(below, 0.0, y)
    return np.where(above, np.inf, y)


def _log_f64(v: np.ndarray) -> np.ndarray:
    return _eigen_math._scalar("log", np.ascontiguousarray(v, F64).reshape(-1)).reshape(v.shape)


# --------------------------------------------------------------------------------------------
# log1p, both types: Cephes' rational near 0, log(1 + x) elsewhere


_LOG1P_P = (4.5270000862445199635215e-5, 4.9854102823193375972212e-1, 6.5787325942061044846969,
            2.9911919328553073277375e1, 6.0949667980987787057556e1, 5.7112963590585538103336e1,
            2.0039553499201281259648e1)
_LOG1P_Q = (1.0, 1.5062909083469192043167e1, 8.3047565967967209469434e1, 2.2176239823732856465394e2,
            3.0909872225312059774938e2, 2.1642788614495947685003e2, 6.0118660497603843919306e1)


def _log1p(x: np.ndarray, log, fused: bool = True) -> np.ndarray:
    dtype = x.dtype
    # Without ``fused`` (float16 on a CPU without AVX512-FP16) each multiply and add rounds.
    multiply_add = fma if fused else (lambda a, b, c: _add(_mul(a, b), c))
    x2 = _mul(x, x)
    zero_times_x = _mul(x, dtype.type(0))  # the Horner chains start at 0 * x + c
    numerator = _add(zero_times_x, dtype.type(_LOG1P_P[0]))
    for coefficient in _LOG1P_P[1:]:
        numerator = multiply_add(numerator, x, dtype.type(coefficient))
    denominator = _add(zero_times_x, dtype.type(_LOG1P_Q[0]))
    for coefficient in _LOG1P_Q[1:]:
        denominator = multiply_add(denominator, x, dtype.type(coefficient))
    ratio = flush(numerator / denominator)
    near_zero = _add(x, multiply_add(-x2, dtype.type(0.5), _mul(_mul(x, x2), ratio)))
    with np.errstate(all="ignore"):
        far = log(_add(x, dtype.type(1)))
    return np.where(np.abs(x) < dtype.type(0.41421356237309504880), near_zero, far)


# --------------------------------------------------------------------------------------------
# The public functions: float32 and float64 arrays, already flushed (DAZ)


def exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _exp_f32(x) if x.dtype == F32 else _exp_f64(x)


def log(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if x.dtype == F16:
            return _log_f32(x.astype(F32)).astype(F16)
        return _log_f32(x) if x.dtype == F32 else _log_f64(x)


def log1p(x: np.ndarray, fused: bool = True) -> np.ndarray:
    """XLA's log1p; ``fused=False`` leaves its multiply-adds unfused (float16 without AVX512-FP16)."""
    with np.errstate(all="ignore"):
        return _log1p(x, log, fused)
