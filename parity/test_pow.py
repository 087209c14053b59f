"""TF's Pow on the CPU against tfloss's reproduction (``tfloss._machine.math_ops.pow_op``), bit for bit.

Not a public tfloss op: it is the focal losses' ``(1 - p)**gamma``.  Inputs cover the packet
path and the C library's tail (sizes that are not multiples of 8), values from subnormal to
overflow, negative bases, zeros, infinities and NaN, for the exponents Keras users pick and the
special ones.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tfloss._machine.cpu import CpuTensor
from tfloss._machine.math_ops import pow_op
from tfloss.conformance import tensorflow as tfref

EXPONENTS = [0.0, -0.0, 1.0, 2.0, 0.5, 1.5, 2.5, 3.0, 5.0, -1.0, -0.5, -3.0, 0.1, 7.3, 100.0, 1e9, np.inf, -np.inf, np.nan]


def _inputs(dtype, n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    span = 80 if dtype == np.float32 else 700
    specials = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.inf, -np.inf, np.nan, info.tiny, info.tiny / 4, -info.tiny / 8,
                info.max, -info.max, 1 + info.eps, 1 - info.epsneg, 1e-7, 1 - 1e-7, 3.0, -3.0]
    parts = [rng.random(n), 1 - rng.random(n), np.exp(rng.uniform(-span, span, n)), -10 * rng.random(n // 4), specials]
    return np.concatenate([np.asarray(part, dtype) for part in parts])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_pow_matches_tf_bit_for_bit(dtype):
    tf = tfref.tf()
    x = _inputs(dtype, 3000)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    for exponent in EXPONENTS:
        for size in (x.size, x.size - 3, x.size - 8):  # the last puts two subnormal bases on the tail
            want = tf.pow(tf.constant(x[:size]), tf.constant(exponent, dtype=dtype)).numpy()
            got = pow_op(CpuTensor(x[:size]), exponent).value
            differ = np.flatnonzero(want.view(uint) != got.view(uint))
            assert differ.size == 0, (exponent, size, x[differ[:3]], want[differ[:3]], got[differ[:3]])


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_16_bit_pow_is_powf_rounded(dtype):
    tf = tfref.tf()
    x = np.random.default_rng(8).random(5001).astype(dtype)
    for exponent in (2.0, 0.5, 2.5, 5.0):
        want = tf.pow(tf.constant(x), tf.constant(exponent, dtype=tf.as_dtype(dtype))).numpy()
        got = pow_op(CpuTensor(x), exponent).value
        assert want.view(np.uint16).tolist() == got.view(np.uint16).tolist(), exponent
