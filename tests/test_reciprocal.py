"""TF's float32 Reciprocal op: the CPU's ``rcpps`` estimate and one Newton step on whole packets.

``rcpps``'s bits are the CPU's own (Intel's and AMD's differ), so these tests take the estimate
from the CPU and check what TF's kernel does with it, in closed form; the live comparison with
TF's ``tf.math.reciprocal``, softmax and tape is ``parity/test_reciprocal.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfloss
from tfloss._machine.cpu import CpuTensor, rcpps, reciprocal

F32 = np.float32
needs_rcpps = pytest.mark.skipif(not tfloss.config.reproduces_rcpps(), reason="tfloss cannot run rcpps on this machine")


def _newton(a: float, estimate: float) -> np.float32:
    """``e*(1 - a*e) + e`` for float32 ``a`` and ``e`` with each op rounded once to float32, in
    float64 arithmetic that is exact for these operands (products of two floats, and sums whose
    exponents are a few bits apart), so that the only rounding is the float32 one."""
    product = F32(np.float64(a) * np.float64(estimate))
    residual = F32(1.0 - np.float64(product))
    step = F32(np.float64(estimate) * np.float64(residual))
    return F32(np.float64(step) + np.float64(estimate))


@needs_rcpps
def test_reciprocal_of_one_is_not_one_on_whole_packets_quirk():
    estimate = rcpps(np.ones(1, F32))[0]
    assert abs(float(estimate) - 1.0) <= 1.5 * 2.0**-12  # the instruction's documented bound
    result = reciprocal(CpuTensor(np.ones(9, F32))).value
    assert result.dtype == F32
    # The first 8 are a packet: the Newton step from the CPU's estimate, which is 1 - 2**-24
    # for the estimate 1 - 2**-12 of both Intel's and AMD's tables.
    assert np.array_equal(result[:8], np.full(8, _newton(1.0, float(estimate))))
    if estimate == F32(1 - 2.0**-12):
        assert result[0] == F32(1 - 2.0**-24) != F32(1)
    assert result[8] == F32(1)  # the ninth is the tail: an exact division
    assert np.array_equal(reciprocal(CpuTensor(np.ones(7, F32))).value, np.ones(7, F32))  # no packet at all


@needs_rcpps
def test_reciprocal_special_values_on_a_packet():
    values = CpuTensor.from_input(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 2.0], F32))
    result = reciprocal(values).value
    # Where 1 - a*r is NaN the estimate itself comes back: 1/0 = inf, 1/inf = 0, a subnormal
    # reads as zero (DAZ), a NaN stays NaN.
    assert np.array_equal(result[:7].view(np.uint32),
                          np.array([np.inf, -np.inf, 0.0, -0.0, np.nan, np.inf, -np.inf], F32).view(np.uint32))
    assert abs(float(result[7]) - 0.5) <= 2 * float(np.spacing(F32(0.5)))


@needs_rcpps
def test_reciprocal_is_within_two_ulp_on_packets_and_exact_on_the_tail():
    rng = np.random.default_rng(7)
    magnitudes = 2.0 ** rng.uniform(-100, 100, 20003)  # beyond 2**104 the Newton step can flush (below)
    a = (magnitudes * rng.choice([-1.0, 1.0], magnitudes.size)).astype(F32)
    result = reciprocal(CpuTensor(a)).value
    exact = (1.0 / a.astype(np.float64)).astype(F32)  # correctly rounded: a float64 quotient is
    packets = a.size - a.size % 8
    ulps = np.abs(result.view(np.int32).astype(np.int64) - exact.view(np.int32))
    assert ulps[:packets].max() <= 2  # Eigen's bound for one Newton step from rcpps
    assert 0 < np.count_nonzero(ulps[:packets]) < packets  # not 1/a: the Newton step's own bits
    assert np.array_equal(result[packets:], exact[packets:])


def test_reciprocal_divides_in_float64_and_16_bit_types():
    for dtype in (np.float64, np.float16, tfloss._machine.cpu.bfloat16):
        a = np.linspace(0.3, 7.0, 40).astype(dtype)
        expected = (1.0 / a.astype(np.float64)).astype(dtype) if dtype == np.float64 else \
            (F32(1) / a.astype(F32)).astype(dtype)
        assert np.array_equal(reciprocal(CpuTensor(a)).value, expected)


def test_without_rcpps_the_packets_divide(monkeypatch):
    from tfloss import _engine

    monkeypatch.setattr(_engine, "has_rcpps", lambda: False)  # as without numba, or on another CPU
    assert not tfloss.config.reproduces_rcpps()
    a = np.linspace(0.3, 7.0, 64).astype(F32)
    assert np.array_equal(reciprocal(CpuTensor(a)).value, F32(1) / a)


@needs_rcpps
def test_reciprocal_of_a_huge_value_is_the_bare_estimate_quirk():
    # From |a| ~ 2**104 on, the Newton step's correction r*(1 - a*r) falls below the smallest
    # normal float and is flushed to zero (FTZ), leaving rcpps's 12-bit estimate.
    a = np.full(8, F32(1.5 * 2.0**120))
    estimate = rcpps(a)
    result = reciprocal(CpuTensor(a)).value
    assert np.array_equal(result, estimate)
    exact = F32(1 / (1.5 * 2.0**120))
    ulps = abs(int(result[0].view(np.int32)) - int(exact.view(np.int32)))
    assert ulps > 100 or result[0] == exact  # the estimate is about 12 bits
    tail = reciprocal(CpuTensor(a[:7])).value  # no packet: exact
    assert np.array_equal(tail, np.full(7, exact))


@needs_rcpps
def test_keras_gradient_at_uniform_probabilities_depends_on_the_packet_quirk():
    # -y/p through Log's gradient, g * reciprocal(p): one row of 4 is the tail (exact), two rows
    # are a packet of 8 (the Newton step from the CPU's estimate of 1/0.25).
    def gradient(rows):
        y = np.tile(np.array([[0, 1, 0, 0]], F32), (rows, 1))
        return tfloss.value_and_gradient(tfloss.keras.losses.categorical_crossentropy, y_true=y,
                                         y_pred=np.full((rows, 4), 0.25, F32))[1]["y_pred"]

    assert gradient(1).tolist() == [[1.0, -3.0, 1.0, 1.0]]
    inverse = _newton(0.25, float(rcpps(np.full(1, F32(0.25)))[0]))  # 3.9999998 for the estimate 4 - 2**-10
    other = F32(np.float64(inverse) * 0.25)  # d/dp of the normalisation p / sum(p), with sum(p) = 1
    assert gradient(2).tolist() == [[other, F32(np.float64(other) - np.float64(inverse)), other, other]] * 2
    if inverse != F32(4):
        assert other != F32(1)


@pytest.mark.skipif(not tfloss.config.reproduces_rcpps(), reason="tfloss cannot run rcpps on this machine")
def test_the_packed_estimate_is_the_scalar_one():
    # The engine's gradient loops take rcpps 8 lanes at a time (vrcpps), the rest one by one
    # (vrcpss); the CPU uses one table for both, for every float32 bit pattern.
    from tfloss._engine import _float

    if not _float.HAS_RCPPS_PACKET:
        pytest.skip("no AVX: the engine takes the scalar estimate only")

    @_float.jit
    def packed(values, out):
        for k in range(0, values.size - values.size % 8, 8):
            _float.rcpps_packet(values, k, out)

    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32).view(F32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-39, 1.1754942e-38, 3.4e38, 2.0**126], F32)
    values = np.concatenate([values, specials, np.ones(6, F32)])  # a whole number of packets
    scalar, vector = np.empty_like(values), np.empty_like(values)
    _float.rcpps_array(values, scalar)
    packed(values, vector)
    assert np.array_equal(vector.view(np.uint32), scalar.view(np.uint32))
