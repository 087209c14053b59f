"""Shared test setup: hypothesis profiles and the high-precision reference.

Profiles (selected at import, and applied explicitly in tests/test_properties.py so that another
suite loaded in the same session cannot override them):

- ``tfloss-ci`` when the environment variable ``CI`` is set: derandomized, so every CI run tries
  the same examples; no deadline (shared CI machines are slow).
- ``tfloss-dev`` otherwise: random examples, same budget.

TF picks some kernels by the CPU it runs on (oneDNN's softmax for float16 only with AVX512-FP16,
oneDNN at all only with neural-network features).  Every test here sees the same x86 CPU, an
AVX-512 machine with VNNI and BF16 but no FP16 (:data:`CPUS`), whatever machine runs it; a test
that is about the choice asks the ``x86_cpu`` fixture for another one.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests import reference

settings.register_profile(
    "tfloss-ci",
    derandomize=True,
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "tfloss-dev",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
HYPOTHESIS_PROFILE = "tfloss-ci" if os.environ.get("CI") else "tfloss-dev"
settings.load_profile(HYPOTHESIS_PROFILE)


# Feature flags as /proc/cpuinfo names them, for the CPUs whose TF kernel choices differ.
CPUS = {
    # AMD EPYC (Zen 4): oneDNN on by default; float32 and bfloat16 softmax in oneDNN, float16 in Eigen.
    "zen4": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}),
    # Intel Sapphire Rapids: also float16 softmax in oneDNN.
    "sapphire-rapids": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                                  "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"}),
    # Intel Skylake-SP: AVX-512 without neural-network features, so oneDNN is off by default.
    "skylake": frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    # Intel Alder Lake: AVX-VNNI without AVX-512, so oneDNN is on, on 8 lanes, for float32 only.
    "alder-lake": frozenset({"avx2", "fma", "f16c", "avx_vnni"}),
    # AMD EPYC (Zen 2/3): AVX2 only, oneDNN off by default; Eigen's softmax everywhere.
    "avx2-epyc": frozenset({"avx2", "fma", "f16c"}),
}


@pytest.fixture(autouse=True)
def x86_cpu(monkeypatch):
    """Pin the CPU tfloss sees; ``x86_cpu(name, onednn=None)`` switches it (and TF_ENABLE_ONEDNN_OPTS)."""
    from tfloss._machine import math_ops as _tf_math_ops

    def use(name, onednn=None):
        monkeypatch.setattr(_tf_math_ops, "_cpu_flags", lambda: CPUS[name])
        if onednn is None:
            monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
        else:
            monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)

    use("zen4")
    return use


@pytest.fixture(scope="session")
def mp_reference():
    """tests/reference.py: mpmath closed forms (60 digits) and the TF-tolerance checks."""
    return reference
