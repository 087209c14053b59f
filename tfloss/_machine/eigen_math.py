"""TensorFlow's CPU ``exp``, ``log``, ``log1p`` and ``pow`` for float32/float64, to the last bit.

This module exists only to reproduce TF's last bits.  NumPy's ``exp``/``log``/``log1p`` are
accurate, but TF 2.21's CPU kernels do not call them: Eigen evaluates a tensor in SIMD packets
(8 floats or 4 doubles with the AVX build of the official x86 wheel) using its own polynomial
approximations, and only the last ``N % packet_size`` elements of the flattened tensor go through
the scalar path (glibc's ``expf``/``exp``, ``logf``/``log``, ``log1pf``/``log1p``).  The
polynomials are within an ulp or two of the true value, so NumPy disagrees with TF on a large
share of inputs.

The algorithms, constants and evaluation order below follow Eigen's
``Eigen/src/Core/arch/Default/GenericPacketMathFunctions.h`` (functions ``pexp_float``,
``pexp_double``, ``plog_impl_float``, ``plog_impl_double``, ``generic_log1p``, ``pfrexp`` and
``pldexp``), as read in Eigen master of late 2024 (mirror eigen-mirror/eigen, commit 33f5f596),
re-expressed in NumPy.  That version agrees with TF 2.21 bit for bit.  Facts of the build that
matter for the bits, all checked against TF empirically:

* The wheel targets AVX without FMA, so Eigen's ``pmadd(a, b, c)`` is a rounded multiply followed
  by a rounded add.  NumPy's float32 and float64 arithmetic rounds each operation the same way.
* The scalar tail calls glibc through ctypes, at the symbol versions TF links (the double
  ``exp``/``log`` are glibc's old compatibility wrappers: their log of a negative is +NaN).
* NaN bits are reproduced too: Eigen's ``log`` ORs an all-ones mask into invalid lanes, glibc
  returns a quiet NaN, x86 propagates the first NaN operand (which for double ``log1p`` depends
  on which of Eigen's loops evaluated the element; see ``_split_apply``).

Measured against TF 2.21 on about 1e6 inputs per function and dtype (value regimes from tiny to
overflow, ulp-neighbourhoods of the range-reduction edges, special values and NaN payloads, tensor
sizes that are not multiples of 8): all six function/dtype pairs agree bit for bit.  With FMA
(one rounding per ``pmadd``) float32 exp would agree on only ~98.6%.  ``pow`` (Eigen's
``generic_pow``, at the end of this module) agrees bit for bit on 46.8 million float32/float64
inputs by 24 scalar exponents (uniform, log-uniform over the whole range, negative bases, the
special values), packet and tail.

Inputs are expected already flushed (subnormals read as zero, as TF's DAZ mode does); subnormal
results are flushed to zero here, as TF's FTZ mode does.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)

PACKET_SIZE = {F32: 8, F64: 4}  # AVX: 256-bit registers


# --------------------------------------------------------------------------------------------
# Helpers: Eigen's packet building blocks.


def _madd(a, b, c):
    """Eigen's ``pmadd(a, b, c)`` on a CPU without FMA: ``a * b`` rounded, then ``+ c`` rounded."""
    return a * b + c


def _bits(dtype):
    """(unsigned int type, signed int type, mantissa bits, exponent bias) of an IEEE dtype."""
    if dtype == F32:
        return np.uint32, np.int32, 23, 127
    return np.uint64, np.int64, 52, 1023


def _pow2(k, dtype):
    """2**k as a normal float of ``dtype``, built from its bits (k within the normal range)."""
    _, sint, mantissa_bits, bias = _bits(dtype)
    return ((k.astype(sint) + sint(bias)) << sint(mantissa_bits)).view(dtype)


def _ldexp(y, m):
    """Eigen's ``pldexp``: ``y * 2**m`` for a float array ``m`` of integers, without overflowing
    the scale factor.

    1. Clamp ``m`` to the range beyond which every finite ``y`` over/underflows (±278 for float,
       ±2099 for double).
    2. Split ``m = 3b + (m - 3b)`` with ``b = floor(m / 4)``; every factor 2**b is a normal number.
    3. Multiply ``y`` by 2**b three times, then by 2**(m - 3b).  Each product is exact unless the
       result leaves the normal range, so this is ``y * 2**m`` correctly rounded and saturated.
    """
    dtype = y.dtype
    _, sint, mantissa_bits, bias = _bits(dtype)
    limit = 2 * bias + 1 + mantissa_bits  # 278 for float, 2099 for double
    e = np.clip(np.nan_to_num(m), -limit, limit).astype(sint)
    b = e >> 2
    c = _pow2(b, dtype)
    return y * c * c * c * _pow2(e - 3 * b, dtype)


def _frexp(x):
    """Eigen's ``pfrexp`` for positive normal ``x``: mantissa in [0.5, 1) and exponent (as float)."""
    mantissa, exponent = np.frexp(x)
    return mantissa, exponent.astype(x.dtype)


def _flush(values):
    """Subnormal results become zero of the same sign (TF's flush-to-zero mode)."""
    subnormal = np.abs(values) < np.finfo(values.dtype).tiny
    return np.copysign(np.zeros((), values.dtype), values, out=values, where=subnormal)


# --------------------------------------------------------------------------------------------
# The packet algorithms.


def _exp_float(x):
    """Eigen's ``pexp_float``: exp(x) = 2**m * exp(r) with a degree-6 polynomial for exp(r).

    1. Clamp: x < -104 gives 0; x is capped at 88.723 (so m <= 128 and 2**m * exp(r) overflows
       to inf just where exp does).
    2. m = floor(x * log2(e) + 1/2).
    3. r = x - m*ln2, with ln2 split as 0.693359375 - 2.12194440e-4 (Cody-Waite) so that the
       first product is exact; |r| <= ln2/2.
    4. exp(r) ~ 1 + r + r²(p2 + r p3 + r² p4 + r³ p5 + r⁴ p6), evaluated as even and odd parts in
       r²: y = r²·((r²·(r² p6 + p4) + p2) + r (r² p5 + p3)) + (r + 1).
    5. Return max(y * 2**m, x) (the max makes exp(+inf) = +inf), 0 where step 1 said so.
    """
    f = np.float32
    zero_mask = x < f(-104.0)
    xc = np.minimum(x, f(88.723))
    m = np.floor(_madd(xc, f(1.44269504088896341), f(0.5)))
    r = _madd(m, f(-0.693359375), xc)
    r = _madd(m, f(2.12194440e-4), r)
    r2 = r * r
    p_even = _madd(r2, f(1.37449637986719608306884765625e-3), f(4.166965186595916748046875e-2))
    p_odd = _madd(r2, f(8.36894474923610687255859375e-3), f(0.16666518151760101318359375))
    p_even = _madd(r2, p_even, f(0.49999988079071044921875))
    p_low = r + f(1.0)
    y = _madd(r, p_odd, p_even)
    y = _madd(r2, y, p_low)
    out = np.maximum(_ldexp(y, m), x)
    out[zero_mask] = 0
    return out


def _exp_double(x):
    """Eigen's ``pexp_double`` (Cephes' exp): exp(x) = 2**n * exp(g) with a Padé form for exp(g).

    1. Clamp: x < -745.519 gives 0; x is capped at 709.784.
    2. n = floor(x * log2(e) + 1/2).
    3. g = x - n*C1 - n*C2 with C1 + C2 = ln2 (C1 = 0.693145751953125 has few bits).
    4. With g² = g·g: P = g·((p0 g² + p1) g² + p2), Q = ((q0 g² + q1) g² + q2) g² + q3, and
       exp(g) ~ 1 + 2 P / (Q - P).
    5. Return max(exp(g) * 2**n, x), 0 where step 1 said so.
    """
    zero_mask = x < -745.519
    xc = np.minimum(x, 709.784)
    n = np.floor(_madd(1.4426950408889634073599, xc, 0.5))
    g = xc - n * 0.693145751953125
    g = g - n * 1.42860682030941723212e-6
    g2 = g * g
    p = _madd(1.26177193074810590878e-4, g2, 3.02994407707441961300e-2)
    p = _madd(p, g2, 9.99999999999999999910e-1)
    p = p * g
    q = _madd(3.00198505138664455042e-6, g2, 2.52448340349684104192e-3)
    q = _madd(q, g2, 2.27265548208155028766e-1)
    q = _madd(q, g2, 2.00000000000000000009e0)
    y = _madd(2.0, p / (q - p), 1.0)
    out = np.maximum(_ldexp(y, n), x)
    out[zero_mask] = 0
    return out


def _reduce_log_argument(x):
    """Eigen's log range reduction: x = 2**e * (1 + t) with 1 + t in [sqrt(1/2), sqrt(2)).

    1. frexp: x = 2**e * m with m in [0.5, 1).
    2. If m < sqrt(1/2): e -= 1 and t = (m - 1) + m (exact), else t = m - 1 (exact).
    """
    m, e = _frexp(x)
    dtype = x.dtype
    low = m < dtype.type(0.707106781186547524)
    t = m - dtype.type(1.0)
    e = e - low.astype(dtype)
    t = t + np.where(low, m, dtype.type(0.0))
    return t, e


def _log_special_values(x, y):
    """Eigen's log special cases: 0 -> -inf, +inf -> +inf, x < 0 or NaN -> all-ones NaN."""
    y[x == np.inf] = np.inf
    uint = _bits(x.dtype)[0]
    y.view(uint)[~(x >= 0)] = np.iinfo(uint).max
    y[x == 0] = -np.inf
    return y


def _log_float(x):
    """Eigen's ``plog_impl_float``: log(x) = e*ln2 + log(1 + t), log(1+t) by a (3,3) rational.

    1. Reduce x = 2**e * (1 + t), 1 + t in [sqrt(1/2), sqrt(2)) (see _reduce_log_argument).
    2. log(1 + t) ~ t·((a0 t + a1) t + a2) / (((b0 t + b1) t + b2) t + 1).
    3. Return e * ln2 + log(1 + t), ln2 rounded to float; then the special values.
    """
    f = np.float32
    t, e = _reduce_log_argument(x)
    p = _madd(_madd(t, f(0.18256296349849254), f(1.0000000190281063)), t, f(1.0000000190281136))
    p = t * p
    q = _madd(t, f(0.049616247954120038), f(0.59923249590823520))
    q = _madd(q, t, f(1.4999999999999927))
    q = _madd(q, t, f(1.0))
    y = _madd(e, f(0.693147180559945309), p / q)
    return _log_special_values(x, y)


def _log_double(x):
    """Eigen's ``plog_impl_double`` (Cephes' log): log(1+t) = t - t²/2 + t³ P(t)/Q(t).

    1. Reduce x = 2**e * (1 + t), 1 + t in [sqrt(1/2), sqrt(2)).
    2. With t2 = t·t and t3 = t2·t, the degree-5 polynomials P and Q are each evaluated as two
       halves joined by t3: P = (p0 t² + p1 t + p2) t3 + (p3 t² + p4 t + p5), likewise Q.
    3. log(1 + t) = t + (-0.5 t2 + t3·P / Q).
    4. Return e * ln2 + log(1 + t); then the special values.
    """
    t, e = _reduce_log_argument(x)
    t2 = t * t
    t3 = t2 * t
    y = _madd(1.01875663804580931796e-4, t, 4.97494994976747001425e-1)
    y1 = _madd(1.44989225341610930846e1, t, 1.79368678507819816313e1)
    y = _madd(y, t, 4.70579119878881725854e0)
    y1 = _madd(y1, t, 7.70838733755885391666e0)
    p = _madd(y, t3, y1)
    y = _madd(1.0, t, 1.12873587189167450590e1)
    y1 = _madd(8.29875266912776603211e1, t, 7.11544750618563894466e1)
    y = _madd(y, t, 4.52279145837532221105e1)
    y1 = _madd(y1, t, 2.31251620126765340583e1)
    q = _madd(y, t3, y1)
    y = (p * t3) / q
    y = _madd(-0.5, t2, y)
    y = t + y
    y = _madd(e, 0.693147180559945309417, y)
    return _log_special_values(x, y)


def _log1p_packet(x, log):
    """Eigen's ``generic_log1p`` (Kahan's trick): log1p(x) = x * log(u) / (u - 1), u = 1 + x.

    1. u = 1 + x (rounded).  The rounding error of u cancels in log(u) / (u - 1).
    2. If u == 1 (x tiny), return x; if log(u) == u (u = +inf), return x.
    3. Otherwise return x * (log(u) / (u - 1)), with ``log`` the packet log above.
    """
    one = x.dtype.type(1.0)
    u = x + one
    log_u = log(u)
    out = x * (log_u / (u - one))
    keep_x = (u == one) | (u == log_u)
    out[keep_x] = x[keep_x]
    return out


# --------------------------------------------------------------------------------------------
# The scalar path (glibc) and the packet/tail split.

try:
    _LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
except OSError:  # no C math library to load (Windows): fall back to NumPy, see _scalar
    _LIBM = None

# The symbol versions TF's libtensorflow_framework.so.2 imports (``nm -D``).  They matter: the
# double exp/log it links are glibc's pre-2.29 compatibility wrappers, whose log of a negative
# number is +NaN (0x7ff8...), where the current log returns -NaN (0xfff8...).
_GLIBC_VERSIONS = {
    "expf": "GLIBC_2.27",
    "logf": "GLIBC_2.27",
    "log1pf": "GLIBC_2.2.5",
    "exp": "GLIBC_2.2.5",
    "log": "GLIBC_2.2.5",
    "log1p": "GLIBC_2.2.5",
    "powf": "GLIBC_2.27",
    "pow": "GLIBC_2.2.5",
}


def _libm(name, ctype, arity=1):
    """The C library's ``name`` at the symbol version TF links, else its default version."""
    if _LIBM is None:
        return None
    prototype = ctypes.CFUNCTYPE(ctype, *[ctype] * arity)
    try:
        dlvsym = ctypes.CDLL(None).dlvsym
        dlvsym.restype = ctypes.c_void_p
        dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        address = dlvsym(_LIBM._handle, name.encode(), _GLIBC_VERSIONS[name].encode())
    except AttributeError:  # not glibc
        address = None
    if address:
        return prototype(address)
    return prototype(ctypes.cast(getattr(_LIBM, name), ctypes.c_void_p).value)


_SCALAR = {
    ("exp", F32): _libm("expf", ctypes.c_float),
    ("exp", F64): _libm("exp", ctypes.c_double),
    ("log", F32): _libm("logf", ctypes.c_float),
    ("log", F64): _libm("log", ctypes.c_double),
    ("log1p", F32): _libm("log1pf", ctypes.c_float),
    ("log1p", F64): _libm("log1p", ctypes.c_double),
}


_POW = {F32: _libm("powf", ctypes.c_float, 2), F64: _libm("pow", ctypes.c_double, 2)}


def _scalar(name, values):
    """The C library's function, element by element (as Eigen's scalar path calls std::exp etc.).

    Without a loadable C library, NumPy in double precision (rounded once for float32) stands in:
    glibc's functions are nearly correctly rounded, so this differs only in rare last bits.
    """
    function = _SCALAR[(name, values.dtype)]
    if function is None:
        return getattr(np, name)(values.astype(F64)).astype(values.dtype)
    return np.array([function(v) for v in values.tolist()], dtype=values.dtype)


def _nan_first_operand(x, out):
    """NaN inputs come back as themselves, quieted (x86 returns the first NaN operand)."""
    nan = np.isnan(x)
    uint, _, mantissa_bits, _ = _bits(x.dtype)
    quiet = uint(1) << uint(mantissa_bits - 1)
    out.view(uint)[nan] = x.view(uint)[nan] | quiet
    return out


def _exp_packets(x):
    out = _exp_float(x) if x.dtype == F32 else _exp_double(x)
    return _nan_first_operand(x, out)


def _log_packets(x):
    return _log_float(x) if x.dtype == F32 else _log_double(x)


def _log1p_packets(x):
    out = _log1p_packet(x, _log_packets)
    return _nan_first_operand(x, out)


def _split_apply(name, packet_function, x):
    """Evaluate like Eigen's vectorised executor on the flattened tensor of N elements.

    1. Elements [0, N - N % P) go through ``packet_function`` (P = 8 floats or 4 doubles).
       Eigen's executor runs them 4 packets at a time, then one packet at a time for the last
       (N % 4P) // P packets (TF's thread blocks are multiples of 4P, so this holds for any
       split).  The two loops compute the same values; only NaN propagation can differ.
    2. The last N % P elements go through the C library, one by one.
    3. Subnormal results become zero (FTZ).
    """
    x = np.asarray(x)
    if x.dtype.kind == "c":
        # Only the textbook's sigmoid composition accepts complex tensors; its complex exp/log
        # are NumPy's (TF's complex Exp and Log are not reproduced bit for bit).
        with np.errstate(all="ignore"):
            return getattr(np, name)(x)
    if x.dtype not in PACKET_SIZE:
        raise TypeError(f"{name}: expected float32 or float64, got {x.dtype}")
    flat = np.ascontiguousarray(x).reshape(-1)
    packet = PACKET_SIZE[x.dtype]
    split = flat.size - flat.size % packet
    out = np.empty_like(flat)
    with np.errstate(all="ignore"):
        if split:
            out[:split] = packet_function(flat[:split])
        if split < flat.size:
            out[split:] = _scalar(name, flat[split:])
    if name == "log1p" and x.dtype == F64:
        # In the wheel's 4-packet loop for double log1p the compiler swapped the operands of
        # the final x * (log(u) / (u - 1)), so a NaN input returns the all-ones NaN of log(u)
        # there instead of itself (measured; the values of non-NaN inputs are unaffected).
        unrolled = flat[: flat.size - flat.size % (4 * packet)]
        out.view(np.uint64)[: unrolled.size][np.isnan(unrolled)] = np.iinfo(np.uint64).max
    return _flush(out).reshape(x.shape)


def scalar_exp(x: np.ndarray) -> np.ndarray:
    """The C library's ``exp`` (TF's scalar path) elementwise, subnormal results flushed."""
    flat = np.ascontiguousarray(x).reshape(-1)
    with np.errstate(all="ignore"):
        return _flush(_scalar("exp", flat)).reshape(np.shape(x))


def exp_packet_or_scalar(x: np.ndarray, scalar: np.ndarray) -> np.ndarray:
    """``exp`` of each element by the path Eigen takes for it: the C library where ``scalar`` is
    True, Eigen's packet polynomial elsewhere; subnormal results flushed.

    Eigen's executor decides the path by position in the flattened tensor (see :func:`exp`), but
    inside a reduction the reducer evaluates ``exp`` itself, leaf by leaf, so there the caller
    says which elements are scalar (see ``tfloss._machine.cpu.exp_in_row_sum``).
    """
    x = np.asarray(x)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        if (~scalar).any():
            out[~scalar] = _exp_packets(x[~scalar])
        if scalar.any():
            out[scalar] = _scalar("exp", x[scalar])
    return _flush(out)


def scalar_log(x: np.ndarray) -> np.ndarray:
    """The C library's ``log`` elementwise (Eigen's coefficient-wise generators call it)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    with np.errstate(all="ignore"):
        return _flush(_scalar("log", flat)).reshape(np.shape(x))


def exp(x: np.ndarray) -> np.ndarray:
    """TF CPU ``tf.math.exp`` of a float32/float64 array, bit for bit."""
    return _split_apply("exp", _exp_packets, x)


def log(x: np.ndarray) -> np.ndarray:
    """TF CPU ``tf.math.log`` of a float32/float64 array, bit for bit."""
    return _split_apply("log", _log_packets, x)


def log1p(x: np.ndarray) -> np.ndarray:
    """TF CPU ``tf.math.log1p`` of a float32/float64 array, bit for bit."""
    return _split_apply("log1p", _log1p_packets, x)


# --------------------------------------------------------------------------------------------
# Pow: Eigen's ``generic_pow`` (double-word log2, then exp2), the C library's pow on the tail.
#
# Eigen's packet pow works on x = 2**e * m as exp2(y * log2(x)) = exp2(y*e + y*log2(m)), keeping
# every product and sum as an unevaluated pair hi + lo ("double word") so that the error of
# log2(m) is not magnified by y.  Without FMA, the exact product of two floats is Dekker's
# (Veltkamp splitting); the sums are Fast2Sum.  Read in the Eigen headers shipped with the
# TF 2.21 wheel (include/Eigen/src/Core/arch/Default/GenericPacketMathFunctions.h: generic_pow,
# generic_pow_impl, accurate_log2, generic_exp2, twoprod, fast_twosum, veltkamp_splitting).


def _fast_two_sum(a, b):
    """a + b = s + t exactly, s = fl(a + b) (for |a| >= |b|)."""
    s = a + b
    return s, b - (s - a)


def _split(a):
    """Veltkamp's split: a = hi + lo, each half of a's significand (2**12 + 1 or 2**27 + 1)."""
    dtype = a.dtype.type
    gamma = dtype(4097.0 if a.dtype == F32 else 134217729.0) * a
    hi = (a - gamma) + gamma
    return hi, a - hi


def _two_prod(a, b):
    """a * b = p + e exactly, p = fl(a * b) (Dekker's product; each step rounded, no FMA)."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    p = a * b
    e = _madd(a_hi, b_hi, -p)
    e = _madd(a_hi, b_lo, e)
    e = _madd(a_lo, b_hi, e)
    return p, _madd(a_lo, b_lo, e)


def _dw_times(hi, lo, b):
    """The double word hi + lo times the float b (Muller's Algorithm 7)."""
    c_hi, c_lo1 = _two_prod(hi, b)
    t_hi, t_lo1 = _fast_two_sum(c_hi, lo * b)
    return _fast_two_sum(t_hi, t_lo1 + c_lo1)


def _dw_times_dw(a_hi, a_lo, b_hi, b_lo):
    """Double word times double word: (a * b_hi) + (a * b_lo), summed as double words."""
    p_hi, p_lo = _dw_times(a_hi, a_lo, b_hi)
    q_hi, q_lo = _dw_times(a_hi, a_lo, b_lo)
    return _dw_plus_dw(p_hi, p_lo, q_hi, q_lo)


def _dw_plus_dw(a_hi, a_lo, b_hi, b_lo):
    """Double word plus double word, |a_hi| >= |b_hi| assumed (Eigen's 4-argument fast_twosum)."""
    r_hi, r_lo = _fast_two_sum(a_hi, b_hi)
    return _fast_two_sum(r_hi, (b_lo + r_lo) + a_lo)


def _log2_float(m):
    """Eigen's ``accurate_log2<float>`` of m in [sqrt(1/2), sqrt(2)), as a double word.

    With t = m - 1: log2(m) = t * (c0 + t * (c1 + t * P(t))), P of degree 8 in plain float
    Horner, the last two Horner steps and the final product in double words; c0 and c1 are
    double constants split into float pairs.
    """
    f = np.float32
    c0, c1 = 1.442695041742110273474963832995854318141937255859375, -7.2134751588268664068692714863573201000690460205078125e-01
    coefficients = [9.7010828554630279541015625e-02, -1.6896486282348632812500000e-01, 1.7200836539268493652343750e-01,
                    -1.7892272770404815673828125e-01, 2.0505344867706298828125000e-01, -2.4046677350997924804687500e-01,
                    2.8857553005218505859375000e-01, -3.6067414283752441406250000e-01, 4.8089790344238281250000000e-01]
    t = m - f(1)
    p = np.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        p = _madd(p, t, f(c))
    hi, lo = _two_prod(t, p)
    hi, lo = _dw_plus_dw(np.full_like(t, c1), np.full_like(t, c1 - float(f(c1))), hi, lo)
    hi, lo = _dw_times(hi, lo, t)
    hi, lo = _dw_plus_dw(np.full_like(t, c0), np.full_like(t, c0 - float(f(c0))), hi, lo)
    return _dw_times(hi, lo, t)


def _log2_double(m):
    """Eigen's ``accurate_log2<double>`` of m in [sqrt(1/2), sqrt(2)), as a double word.

    r = (2/ln2) (m - 1) / (m + 1) in double words; log2(m) = r (1 + r² (C + r² Q(r²))), Q of
    degree 6 in plain double (even and odd halves in r⁴), C a double-word constant.
    """
    q12, q10, q8, q6, q4, q2, q0 = (2.87074255468000586e-9, 2.38957980901884082e-8, 2.31032094540014656e-7,
                                    2.27279857398537278e-6, 2.31271023278625638e-5, 2.47556738444535513e-4,
                                    2.88543873228900172e-3)
    ones = np.ones_like(m)
    t_hi, t_lo = _dw_times(2.88539008177792677 * ones, 4.07660016854549667e-17 * ones, m - 1.0)
    # The double word t over the double m + 1 (Joldes, Muller & Popescu, Algorithm 15).
    d = m + 1.0
    r_hi = t_hi / d
    pi_hi, pi_lo = _two_prod(r_hi, d)
    r_hi, r_lo = _fast_two_sum(r_hi, (((t_hi - pi_hi) - pi_lo) + t_lo) / d)
    r2_hi, r2_lo = _dw_times_dw(r_hi, r_lo, r_hi, r_lo)
    r4_hi, _ = _dw_times_dw(r2_hi, r2_lo, r2_hi, r2_lo)
    q_even = _madd(_madd(_madd(q12, r4_hi, q8), r4_hi, q4), r4_hi, q0)
    q_odd = _madd(_madd(q10, r4_hi, q6), r4_hi, q2)
    q = _madd(q_odd, r2_hi, q_even)
    p_hi, p_lo = _dw_times(r2_hi, r2_lo, q)
    p_hi, p_lo = _dw_plus_dw(0.0400377511598501157 * ones, -4.77726582251425391e-19 * ones, p_hi, p_lo)
    p_hi, p_lo = _dw_times_dw(r2_hi, r2_lo, p_hi, p_lo)
    s_hi, s_lo = _fast_two_sum(ones, p_hi)
    p_hi, p_lo = _fast_two_sum(s_hi, p_lo + s_lo)
    return _dw_times_dw(p_hi, p_lo, r_hi, r_lo)


def _round_half_away(a):
    """Eigen's AVX ``pround``: truncate a + copysign(0.5 - ulp/2, a) (the largest float below 1/2)."""
    below_half = np.nextafter(a.dtype.type(0.5), a.dtype.type(0))
    return np.trunc(a + np.copysign(below_half, a))


def _pow_positive(x, y):
    """Eigen's ``generic_pow_impl``: x**y for x > 0 as 2**(n + r), n an integer, |r| <= 1/2.

    1. x = 2**e * m with m in [sqrt(1/2), sqrt(2)) (frexp, then m doubled where below sqrt(1/2)).
    2. f = y*e + y*log2(m) as a double word (exact product y*e; log2(m) from accurate_log2).
    3. n = round(f_hi), r = (f_hi - n) + f_lo, rounded once more into n.
    4. 2**r = exp(p_hi) * (1 + p_lo) with p = ln2 * r a double word and Eigen's packet exp;
       then times 2**n (pldexp).
    """
    dtype = x.dtype.type
    m, e = _frexp(x)
    low = m < dtype(0.70710678118654752440)
    m = np.where(low, dtype(2) * m, m)
    e = np.where(low, e - dtype(1), e)
    log2_hi, log2_lo = (_log2_float if x.dtype == F32 else _log2_double)(m)
    f1_hi, f1_lo = _two_prod(e, y)
    f2_hi, f2_lo = _dw_times(log2_hi, log2_lo, y)
    f_hi, f_lo = _dw_plus_dw(f1_hi, f1_lo, f2_hi, f2_lo)
    n = _round_half_away(f_hi)
    r = (f_hi - n) + f_lo
    n_r = _round_half_away(r)
    r, n = r - n_r, n + n_r
    digits = np.finfo(x.dtype).nmant + 1
    max_exponent = np.finfo(x.dtype).maxexp
    r = np.maximum(np.minimum(r, dtype(max_exponent + 1)), dtype(-(max_exponent + digits - 1)))
    p_hi, p_lo = _two_prod(np.full_like(r, dtype(np.log(2.0))), r)
    exp_p_hi = _exp_float(p_hi) if x.dtype == F32 else _exp_double(p_hi)
    return _ldexp(exp_p_hi * (dtype(1) + p_lo), n)


def _pow_packets(x, y):
    """Eigen's ``generic_pow``: :func:`_pow_positive` of |x|, then C's special cases in order."""
    dtype = x.dtype.type
    zero, one, inf = dtype(0), dtype(1), dtype(np.inf)
    y = np.broadcast_to(y, x.shape).astype(x.dtype)
    x_given, x = x, _flush(x.copy())  # DAZ: subnormal inputs read as zero, except for y == 1
    x_abs, y_abs = np.abs(x), np.abs(y)
    out = _flush(_pow_positive(x_abs, y))
    y_is_int = (np.floor(y) == y) & (y_abs != inf)
    half_y = y * dtype(0.5)
    y_is_odd_int = y_is_int & ~(_round_half_away(half_y) == half_y)
    # The smallest |y| for which (1 + epsilon)**y overflows: 7.4e8 for float, 3.2e18 for double.
    huge = dtype(np.finfo(x.dtype).maxexp * np.log(2.0)) / np.finfo(x.dtype).eps
    y_negative = y < zero
    out = np.where((x < zero) & ~y_is_int, dtype(np.nan), out)
    out = np.where(x == zero, np.where(y_negative, inf, zero), out)
    out = np.where(np.signbit(x) & y_is_odd_int, -out, out)
    inf_y = np.where((y_negative & (x == zero)) | (y_negative ^ (x_abs > one)), inf, zero)
    out = np.where(huge <= y_abs, np.where(x == dtype(-1), one, inf_y), out)
    positive_inf_x = np.where(y_negative, zero, inf)
    negative_inf_x = np.where(y_is_odd_int, -positive_inf_x, positive_inf_x)
    out = np.where(x_abs == inf, np.where(x < zero, negative_inf_x, positive_inf_x), out)
    out = np.where(np.isnan(x) | np.isnan(y), dtype(np.nan), out)
    # A select, not arithmetic: y == 1 returns x's bits, a subnormal x unflushed.
    return np.where(y == one, x_given, np.where((x == one) | (y == zero), one, out))


def pow(x: np.ndarray, y) -> np.ndarray:
    """TF CPU ``tf.pow`` of a float32/float64 array by an exponent of the same dtype, bit for bit.

    ``y`` is a scalar or an array of ``x``'s shape.  Whole packets of the flattened tensor take
    :func:`_pow_packets`, the last ``size % packet`` elements the C library's ``powf``/``pow``.
    Subnormal results are flushed; a subnormal ``x`` reads as zero except where ``y`` is 1.
    """
    x = np.asarray(x)
    if x.dtype not in PACKET_SIZE:
        raise TypeError(f"pow: expected float32 or float64, got {x.dtype}")
    flat = np.ascontiguousarray(x).reshape(-1)
    exponent = np.broadcast_to(np.asarray(y, x.dtype), x.shape).reshape(-1)
    split = flat.size - flat.size % PACKET_SIZE[x.dtype]
    out = np.empty_like(flat)
    with np.errstate(all="ignore"):
        if split:
            out[:split] = _pow_packets(flat[:split], exponent[:split])
        if split < flat.size:
            out[split:] = _flush(_scalar_pow_daz(flat[split:], exponent[split:]))
    return out.reshape(x.shape)


def _scalar_pow_daz(x, y):
    """The C library's pow as TF calls it, in DAZ mode (subnormal inputs read as zero).

    glibc's ``powf``/``pow`` rescale a subnormal base by 2**23 (2**52) before taking its log;
    under DAZ the product is 0, and the log it then takes is exactly that of 2**-150 (2**-1075),
    whatever the base.  So the result is 2**(-150 y) (2**(-1075 y)), with the sign rules of a
    negative base (NaN for a non-integer ``y``: x86's default NaN).  For float32 it is
    ``powf(2**-75, 2 y)``, the same double ``y * log2(x)`` inside ``powf``, so the same bits.  For
    double, glibc's nearly correctly rounded 2**(-1075 y) is taken as the correctly rounded one,
    computed in x87 extended precision (where NumPy's longdouble is that: -1075 y is then exact).
    An infinite or NaN ``y`` takes glibc's own special cases, which read the bits, not the value.
    """
    out = scalar_pow(x, y)
    for i in np.flatnonzero((x != 0) & (np.abs(x) < np.finfo(x.dtype).tiny) & np.isfinite(y)):
        exponent = y[i]
        if x.dtype == F32:
            out[i] = scalar_pow(np.array([2.0 ** -75], F32), np.array([2 * exponent], F32))[0]
        else:
            t = np.longdouble(-1075) * np.longdouble(exponent)
            out[i] = np.ldexp(np.exp2(t - np.floor(t)), int(max(min(np.floor(t), 2000), -2000)))
        if x[i] < 0 and np.isfinite(exponent):
            if np.floor(exponent) != exponent:
                out[i:i + 1].view(_bits(x.dtype)[0])[0] = _DEFAULT_NAN[x.dtype]
            elif np.floor(exponent / 2) != exponent / 2:
                out[i] = -out[i]
    return out


_DEFAULT_NAN = {F32: 0xFFC00000, F64: 0xFFF8000000000000}  # x86's "real indefinite"


def scalar_pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The C library's ``powf``/``pow`` element by element (NumPy's power without one)."""
    function = _POW.get(x.dtype)
    if function is None:
        return np.power(x.astype(F64), y.astype(F64)).astype(x.dtype)
    return np.array([function(a, b) for a, b in zip(x.tolist(), y.tolist())], dtype=x.dtype)
