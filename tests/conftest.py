"""Shared test setup: hypothesis profiles and the high-precision reference.

Profiles (selected at import, and applied explicitly in tests/test_properties.py so that another
suite loaded in the same session cannot override them):

- ``tfloss-ci`` when the environment variable ``CI`` is set: derandomized, so every CI run tries
  the same examples; no deadline (shared CI machines are slow).
- ``tfloss-dev`` otherwise: random examples, same budget.
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


@pytest.fixture(scope="session")
def mp_reference():
    """tests/reference.py: mpmath closed forms (60 digits) and the TF-tolerance checks."""
    return reference
