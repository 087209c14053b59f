"""pytest configuration for the parity suite (real TensorFlow is required).

``PARITY_EXAMPLES`` sets the hypothesis examples per family (default 100,
derandomized so CI is reproducible).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tfloss.conformance import tensorflow as tfref  # noqa: E402


@pytest.fixture(scope="session")
def tf():
    """The installed TensorFlow (the suite's source of truth)."""
    return tfref.tf()


def pytest_report_header(config):
    return f"parity: TensorFlow {tfref.tf_version()} (tfloss targets {tfref.TARGET_TF_VERSION})"
