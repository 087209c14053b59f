"""Parity of ``tf.compat.v1.losses`` (and Keras' losses, where tfloss has them) with real TF.

Same rules as ``parity/test_blocks.py`` (bits, or TF's error class and message; NaN payloads
and a trailing ``" name: "`` not compared): :func:`parity.test_blocks.mismatch` judges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.losses_cases import FLOATS, V1_REDUCTIONS, v1_cases
from parity.test_blocks import mismatch

V1_CASES = v1_cases()


@pytest.mark.parametrize("case", V1_CASES, ids=[c[0] for c in V1_CASES])
def test_v1_losses_match_tf(case):
    _, function, args, kwargs = case
    problem = mismatch(function, args, kwargs)
    assert problem is None, problem


@st.composite
def v1_draws(draw):
    loss = draw(st.sampled_from(["sigmoid", "softmax", "sparse"]))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1 if loss == "sigmoid" else 2, max_size=4)))
    dtype = FLOATS[draw(st.sampled_from(sorted(FLOATS)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 10.0]))).astype(dtype)
    loss_shape = shape if loss == "sigmoid" else shape[:-1]
    if loss == "sigmoid":
        labels = rng.uniform(size=shape).astype(np.float32)
    elif loss == "softmax":
        labels = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(np.float32)
    else:
        labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    weight_shape = tuple(draw(st.sampled_from([1, d])) for d in loss_shape)
    weights = draw(st.sampled_from([1.0, 0.0, "array"]))
    if weights == "array":
        weights = rng.uniform(size=weight_shape).astype(np.float32) * (rng.uniform(size=weight_shape) > 0.3)
    kwargs = {"weights": weights, "reduction": draw(st.sampled_from(V1_REDUCTIONS))}
    if loss != "sparse":
        kwargs["label_smoothing"] = draw(st.sampled_from([0, 0.1, -0.1]))
    name = "sparse_softmax" if loss == "sparse" else loss
    return f"compat.v1.losses.{name}_cross_entropy", (labels, logits), kwargs


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(v1_draws())
def test_v1_losses_hypothesis(drawn):
    function, args, kwargs = drawn
    problem = mismatch(function, args, kwargs)
    assert problem is None, problem
