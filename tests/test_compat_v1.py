"""tfloss.compat.v1.nn: TF1 argument guards (_sentinel, dim/axis, targets) and equality with v2.

Sources: issue 2 ("Public surface": _sentinel is TF 2.10/2.11 behaviour, kept on purpose) and
tf-behaviour.md 1.1, 1.2, 3.1, 4.1.
"""

import re

import numpy as np
import pytest

import tfloss
from tests.reference import assert_same_values, softmax_reference, assert_close

v1 = tfloss.compat.v1.nn
nn = tfloss.nn

LABELS = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], np.float32)
LOGITS = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)


# --------------------------------------------------------------------------- _sentinel

@pytest.mark.parametrize("name, args", [
    ("sigmoid_cross_entropy_with_logits", ([1.0, 0.0], [0.5, 0.5])),
    ("softmax_cross_entropy_with_logits", ([[1.0, 0.0]], [[0.5, 0.5]])),
    ("sparse_softmax_cross_entropy_with_logits", ([1, 0], [[0.5, 0.5], [0.1, 0.2]])),
])
def test_positional_call_raises_sentinel_error(name, args):
    # TF 2.10/2.11 text: f"Only call {name} with named arguments (labels=..., logits=..., ...). "
    #                    f"Received unnamed argument: {sentinel}"
    message = (f"Only call {name} with named arguments (labels=..., logits=..., ...). "
               f"Received unnamed argument: {args[0]}")
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(v1, name)(*args)


def test_single_positional_argument_is_also_rejected():
    with pytest.raises(ValueError, match=re.escape("Received unnamed argument: [0.5]")):
        v1.sigmoid_cross_entropy_with_logits([0.5], labels=[1.0], logits=[0.5])


def test_named_arguments_work():
    result = v1.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=LOGITS)
    assert_same_values(result, nn.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=LOGITS))


# --------------------------------------------------------------------------- dim / axis

def test_v1_softmax_axis_without_dim_none_is_rejected():
    # tf-behaviour.md 4.1: dim defaults to -1 (not None), so any axis, even -1, collides.
    for axis in (-1, 0):
        with pytest.raises(ValueError, match=re.escape("Cannot specify both 'dim' and 'axis'.")):
            v1.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, axis=axis)


def test_v1_softmax_dim_selects_the_axis():
    result = v1.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, dim=0)
    assert result.shape == (3,)
    exact, scale = softmax_reference(LABELS, LOGITS, np.float32, axis=0)
    assert_close(result, exact, np.float32, scale)


def test_v1_softmax_axis_with_dim_none():
    result = v1.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, dim=None, axis=0)
    expected = nn.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, axis=0)
    assert_same_values(result, expected)


def test_v1_softmax_v2_dim_alone_works():
    result = v1.softmax_cross_entropy_with_logits_v2(labels=LABELS, logits=LOGITS, dim=0)
    expected = nn.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, axis=0)
    assert_same_values(result, expected)


def test_v1_softmax_v2_dim_and_axis_are_rejected():
    with pytest.raises(ValueError, match=re.escape("Cannot specify both 'dim' and 'axis'.")):
        v1.softmax_cross_entropy_with_logits_v2(labels=LABELS, logits=LOGITS, axis=0, dim=0)


def test_v1_softmax_v2_default_is_last_axis():
    result = v1.softmax_cross_entropy_with_logits_v2(LABELS, LOGITS)
    assert_same_values(result, nn.softmax_cross_entropy_with_logits(LABELS, LOGITS))


# --------------------------------------------------------------------------- targets

def test_v1_weighted_targets_is_labels():
    result = v1.weighted_cross_entropy_with_logits(targets=LABELS, logits=LOGITS, pos_weight=2.0)
    expected = nn.weighted_cross_entropy_with_logits(LABELS, LOGITS, 2.0)
    assert_same_values(result, expected)


def test_v1_weighted_targets_and_labels_are_rejected():
    with pytest.raises(ValueError,
                       match=re.escape("Cannot specify both 'targets' and 'labels'.")):
        v1.weighted_cross_entropy_with_logits(labels=LABELS, targets=LABELS, logits=LOGITS,
                                              pos_weight=2.0)


# --------------------------------------------------------------------------- v1 == v2

def test_every_v1_function_equals_its_v2_counterpart():
    # TF's v1 functions delegate to the same kernels: identical results, bit for bit.
    sparse_labels = np.array([1, 2])
    pairs = [
        (v1.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=LOGITS),
         nn.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=LOGITS)),
        (v1.weighted_cross_entropy_with_logits(labels=LABELS, logits=LOGITS, pos_weight=0.5),
         nn.weighted_cross_entropy_with_logits(LABELS, LOGITS, 0.5)),
        (v1.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS),
         nn.softmax_cross_entropy_with_logits(LABELS, LOGITS)),
        (v1.softmax_cross_entropy_with_logits_v2(LABELS, LOGITS, axis=-1),
         nn.softmax_cross_entropy_with_logits(LABELS, LOGITS)),
        (v1.sparse_softmax_cross_entropy_with_logits(labels=sparse_labels, logits=LOGITS),
         nn.sparse_softmax_cross_entropy_with_logits(sparse_labels, LOGITS)),
    ]
    for v1_result, v2_result in pairs:
        assert_same_values(v1_result, v2_result)
