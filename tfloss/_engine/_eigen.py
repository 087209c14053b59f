"""TF's CPU ``exp``, ``log``, ``log1p`` and ``reciprocal``, one element at a time: :mod:`tfloss._machine.eigen_math`
(and :func:`tfloss._machine.cpu.reciprocal`) compiled.

Each function takes one float32 or float64 value and a flag ``packet``: whether Eigen evaluates
this element in a SIMD packet (its polynomial) or on the scalar path (the C library).  Which
elements are which is the caller's business; it follows :func:`tfloss._machine.eigen_math._split_apply`
for an elementwise op and the reducer's leaves inside a reduction.  The polynomials are the ones
documented step by step in :mod:`tfloss._machine.eigen_math`, with the same constants in the same order
of operations, so the docstrings here only point there.

The scalar path calls the C library through numba's ``math`` functions, which link the
library's default symbols.  Two of them differ from the versions TF links, and only for
negative arguments of the double ``log``: the compatibility wrapper TF imports returns +NaN where
the default returns -NaN (see ``_eigen_math._GLIBC_VERSIONS``); :func:`scalar_log` applies that.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from ._float import (F32, F64, HAS_RCPPS, HAS_RCPPS_PACKET, U32, U64, add, bits_f32, bits_f64, constant, div, f32_bits, f64_bits, ftz32, ftz64, jit,
                     mul, quiet, rcpps, rcpps_packet, sub)

_NAN32_ALL_ONES = U32(0xFFFFFFFF)
_NAN64_ALL_ONES = U64(0xFFFFFFFFFFFFFFFF)


# Eigen computes the exponent's pieces in integers; here they stay integer-valued floats, which
# is exact at these magnitudes, because numba widens integer arithmetic to 64 bits and 64-bit
# integer vectors cost several times as many instructions.


@jit
def _pow2_32(k):
    """2**k as a float32 built from its bits ``(k + 127) << 23``, for an integer-valued float32
    ``k`` in the normal range, or +0 for k = -127 (the shift is a product by 2**23, exact)."""
    return bits_f32(np.int32((k + F32(127.0)) * F32(8388608.0)))


@jit
def _pow2_64(k):
    return bits_f64(np.int64((k + F64(1023.0)) * F64(4503599627370496.0)))


@jit
def _ldexp32(y, m):
    """``_eigen_math._ldexp`` for float32 as exp uses it, up to the flush that follows exp.

    Eigen clamps m to ±278 and multiplies by 2**b three times and by 2**(m - 3b), b = m >> 2.
    Where exp keeps the result (-104 <= x <= 88.723, so -150 <= m <= 128) the clamp does
    nothing and every product but the last is exact, so the result is ``y * 2**m`` rounded
    once.  As y lies in [0.7, 1.42], it is a subnormal or zero for m <= -127, which the flush
    makes +0: so one product by ``2**clamp(m, -127, 127)`` (2**-127 built from zero bits is +0),
    doubled again for m = 128.  A NaN m (x is a NaN, whose exp is x) clamps to 127.
    """
    e = m if m < F32(127.0) else F32(127.0)
    e = e if e > F32(-127.0) else F32(-127.0)
    scaled = y * _pow2_32(e)
    return scaled * F32(2.0) if m > F32(127.0) else scaled


@jit
def _ldexp64(y, m):
    """The float64 ``_ldexp32``: exp keeps -1076 <= m <= 1024, y lies in [0.7, 1.42]."""
    e = m if m < F64(1023.0) else F64(1023.0)
    e = e if e > F64(-1023.0) else F64(-1023.0)
    scaled = y * _pow2_64(e)
    return scaled * F64(2.0) if m > F64(1023.0) else scaled


# --------------------------------------------------------------------------------------------
# The packet algorithms (Eigen's pexp / plog / generic_log1p), see tfloss._machine.eigen_math


@jit
def exp_packet32(x):
    """``_eigen_math._exp_float`` for one element (then the NaN rule of ``_exp_packets``)."""
    xc = F32(88.723) if x > F32(88.723) else x
    m = np.floor(xc * F32(1.44269504088896341) + F32(0.5))
    r = m * F32(-0.693359375) + xc
    r = m * F32(2.12194440e-4) + r
    r2 = r * r
    p_even = r2 * F32(1.37449637986719608306884765625e-3) + F32(4.166965186595916748046875e-2)
    p_odd = r2 * F32(8.36894474923610687255859375e-3) + F32(0.16666518151760101318359375)
    p_even = r2 * p_even + F32(0.49999988079071044921875)
    p_low = r + F32(1.0)
    y = r * p_odd + p_even
    y = r2 * y + p_low
    scaled = _ldexp32(y, m)
    out = scaled if scaled > x else x
    if x < F32(-104.0):
        out = F32(0.0)
    if x != x:
        out = quiet(x)
    return out


@jit
def exp_packet64(x):
    """``_eigen_math._exp_double`` for one element."""
    xc = F64(709.784) if x > F64(709.784) else x
    n = np.floor(F64(1.4426950408889634073599) * xc + F64(0.5))
    g = xc - n * F64(0.693145751953125)
    g = g - n * F64(1.42860682030941723212e-6)
    g2 = g * g
    p = F64(1.26177193074810590878e-4) * g2 + F64(3.02994407707441961300e-2)
    p = p * g2 + F64(9.99999999999999999910e-1)
    p = p * g
    q = F64(3.00198505138664455042e-6) * g2 + F64(2.52448340349684104192e-3)
    q = q * g2 + F64(2.27265548208155028766e-1)
    q = q * g2 + F64(2.00000000000000000009e0)
    y = F64(2.0) * (p / (q - p)) + F64(1.0)
    scaled = _ldexp64(y, n)
    out = scaled if scaled > x else x
    if x < F64(-745.519):
        out = F64(0.0)
    if x != x:
        out = quiet(x)
    return out


@jit
def _frexp32(x):
    """Mantissa in [0.5, 1) and exponent (as float32) of a positive normal float32, from its bits."""
    bits = f32_bits(x)
    exponent = F32(np.int32((bits >> U32(23)) & U32(0xFF)) - np.int32(126))
    mantissa = bits_f32((bits & U32(0x807FFFFF)) | U32(0x3F000000))
    return mantissa, exponent


@jit
def _frexp64(x):
    bits = f64_bits(x)
    exponent = F64(np.int64((bits >> U64(52)) & U64(0x7FF)) - np.int64(1022))
    mantissa = bits_f64((bits & U64(0x800FFFFFFFFFFFFF)) | U64(0x3FE0000000000000))
    return mantissa, exponent


def _all_ones_nan(x):
    """The NaN Eigen's log makes (every bit set), in the dtype of ``x``."""


@overload(_all_ones_nan)
def _all_ones_nan_of(x):
    if x == types.float64:
        return lambda x: bits_f64(_NAN64_ALL_ONES)
    return lambda x: bits_f32(_NAN32_ALL_ONES)


@jit
def _log_special(x, y):
    """``_log_special_values``: 0 -> -inf, x < 0 or NaN -> all-ones NaN, +inf -> +inf."""
    zero = constant(x, 0.0)
    if x == zero:
        return constant(x, -np.inf)
    if not x >= zero:
        return _all_ones_nan(x)
    if x == constant(x, np.inf):
        return x
    return y


@jit
def log_packet32(x):
    """``_eigen_math._log_float`` for one element (positive normal x, or a special value)."""
    m, e = _frexp32(x)
    low = m < F32(0.707106781186547524)
    t = m - F32(1.0)
    if low:
        e = e - F32(1.0)
        t = t + m
    else:
        t = t + F32(0.0)
    p = (t * F32(0.18256296349849254) + F32(1.0000000190281063)) * t + F32(1.0000000190281136)
    p = t * p
    q = t * F32(0.049616247954120038) + F32(0.59923249590823520)
    q = q * t + F32(1.4999999999999927)
    q = q * t + F32(1.0)
    y = e * F32(0.693147180559945309) + p / q
    return _log_special(x, y)


@jit
def log_packet64(x):
    """``_eigen_math._log_double`` for one element."""
    m, e = _frexp64(x)
    low = m < F64(0.707106781186547524)
    t = m - F64(1.0)
    if low:
        e = e - F64(1.0)
        t = t + m
    else:
        t = t + F64(0.0)
    t2 = t * t
    t3 = t2 * t
    y = F64(1.01875663804580931796e-4) * t + F64(4.97494994976747001425e-1)
    y1 = F64(1.44989225341610930846e1) * t + F64(1.79368678507819816313e1)
    y = y * t + F64(4.70579119878881725854e0)
    y1 = y1 * t + F64(7.70838733755885391666e0)
    p = y * t3 + y1
    y = F64(1.0) * t + F64(1.12873587189167450590e1)
    y1 = F64(8.29875266912776603211e1) * t + F64(7.11544750618563894466e1)
    y = y * t + F64(4.52279145837532221105e1)
    y1 = y1 * t + F64(2.31251620126765340583e1)
    q = y * t3 + y1
    y = (p * t3) / q
    y = F64(-0.5) * t2 + y
    y = t + y
    y = e * F64(0.693147180559945309417) + y
    return _log_special(x, y)


@jit
def log1p_packet32(x):
    """``_eigen_math._log1p_packet`` (Kahan's trick) for one element, then the NaN rule."""
    u = x + F32(1.0)
    log_u = log_packet32(u)
    out = x * (log_u / (u - F32(1.0)))
    if u == F32(1.0) or u == log_u:
        out = x
    if x != x:
        out = quiet(x)
    return out


@jit
def log1p_packet64(x, unrolled):
    """The same for float64; ``unrolled``: the element is in the wheel's 4-packet loop, where a
    NaN input returns the all-ones NaN of ``log(u)`` (see ``_eigen_math._split_apply``)."""
    u = x + F64(1.0)
    log_u = log_packet64(u)
    out = x * (log_u / (u - F64(1.0)))
    if u == F64(1.0) or u == log_u:
        out = x
    if x != x:
        out = bits_f64(_NAN64_ALL_ONES) if unrolled else quiet(x)
    return out


# --------------------------------------------------------------------------------------------
# What the element functions of the kernels call: packet or scalar path, then FTZ


# exp, unlike log and log1p, can return a subnormal: its flush is left to the op() that every
# kernel applies to it (flushing twice costs a tenth of the packet loop).


@jit
def exp32(x, packet):
    return exp_packet32(x) if packet else math.exp(x)


@jit
def exp64(x, packet):
    return exp_packet64(x) if packet else math.exp(x)


@jit
def log32(x, packet):
    return ftz32(log_packet32(x) if packet else math.log(x))


@jit
def log64(x, packet):
    if packet:
        return ftz64(log_packet64(x))
    return scalar_log64(x)


@jit
def scalar_log64(x):
    """glibc's ``log@GLIBC_2.2.5``: the default ``log``, but +NaN for a negative argument."""
    if x < F64(0.0):
        return bits_f64(U64(0x7FF8000000000000))
    return ftz64(math.log(x))


@jit
def log1p32(x, packet):
    return ftz32(log1p_packet32(x) if packet else math.log1p(x))


@jit(inline="always")  # too large for LLVM to inline by itself, which stops the loops vectorising
def log1p64(x, packet, unrolled):
    return ftz64(log1p_packet64(x, unrolled) if packet else math.log1p(x))


# Generic over the compute dtype, for the kernels: ``exp(x, packet)`` etc.


def exp(x, packet):
    """TF's Exp of one compute-dtype element, on the packet or the scalar path, before its
    flush to zero: the caller's ``op()`` flushes."""


def log(x, packet):
    """TF's Log of one compute-dtype element, on the packet or the scalar path."""


def log1p(x, packet, unrolled):
    """TF's Log1p of one element; ``unrolled`` only matters for float64 NaNs."""


@overload(exp)
def _exp(x, packet):
    if x == types.float64:
        return lambda x, packet: exp64(x, packet)
    return lambda x, packet: exp32(x, packet)


@overload(log)
def _log(x, packet):
    if x == types.float64:
        return lambda x, packet: log64(x, packet)
    return lambda x, packet: log32(x, packet)


@overload(log1p, inline="always")
def _log1p(x, packet, unrolled):
    if x == types.float64:
        return lambda x, packet, unrolled: log1p64(x, packet, unrolled)
    return lambda x, packet, unrolled: log1p32(x, packet)


def reciprocal(a, packet, kind):
    """TF's Reciprocal (Eigen's ``scalar_inverse_op``) of one compute-dtype value stored as
    ``kind``: :func:`tfloss._machine.cpu.reciprocal`.  On the packet path of a float32 tensor,
    the CPU's ``rcpps`` estimate ``r`` refined by one Newton step, ``r*(1 - a*r) + r`` in four
    rounded ops, or ``r`` itself where ``1 - a*r`` is NaN (``a`` zero, infinite or NaN); else
    ``1 / a``."""


@overload(reciprocal)
def _reciprocal(a, packet, kind):
    if kind.dtype != types.float32 or not HAS_RCPPS:  # 16-bit and float64 divide (cpu.reciprocal)
        return lambda a, packet, kind: div(constant(a, 1.0), a, kind)

    def newton(a, packet, kind):
        if not packet:
            return div(F32(1.0), a, kind)
        return _refined(a, rcpps(a), kind)

    return newton


@jit(inline="always")
def _refined(a, estimate, kind):
    """Eigen's float32 packet reciprocal from the CPU's ``estimate`` of ``1 / a``: one Newton step."""
    one = F32(1.0)
    residual = sub(one, mul(a, estimate, kind), kind)
    if residual != residual:
        return estimate
    return add(mul(estimate, residual, kind), estimate, kind)


def reciprocals(values, estimates, count, kind):
    """:func:`reciprocal` on the packet path of each of ``values[:count]`` (compute dtype), in
    place; ``estimates`` is scratch as long.  For float32 the estimates come 8 at a time from the
    packed ``rcpps`` (:func:`._float.rcpps_packet`), so that both loops are vectorised."""


@overload(reciprocals)
def _reciprocals(values, estimates, count, kind):
    if kind.dtype != types.float32 or not HAS_RCPPS:
        def divide(values, estimates, count, kind):
            for k in range(count):
                values[k] = div(constant(values[k], 1.0), values[k], kind)

        return divide

    def refine(values, estimates, count, kind):
        packets = count - count % 8 if HAS_RCPPS_PACKET else 0
        for k in range(0, packets, 8):
            rcpps_packet(values, k, estimates)
        for k in range(packets, count):
            estimates[k] = rcpps(values[k])
        for k in range(count):
            values[k] = _refined(values[k], estimates[k], kind)

    return refine
