"""Inputs are never modified; read-only, strided and Fortran-ordered arrays work; results are
independent arrays (no view of, and no memory shared with, any input)."""

import numpy as np
import pytest

import tfloss
from tests.reference import (assert_close, sigmoid_reference, softmax_reference, sparse_reference,
                             weighted_reference)

nn = tfloss.nn


def _inputs(layout):
    rng = np.random.default_rng(30)
    base_logits = rng.normal(scale=2.0, size=(4, 6))
    base_labels = rng.uniform(size=(4, 6))
    base_sparse = rng.integers(0, 3, size=8).astype(np.int64)
    if layout == "strided":
        return base_logits[:, ::2], base_labels[:, ::2], base_sparse[::2]
    if layout == "fortran":
        return (np.asfortranarray(base_logits[:, :3]), np.asfortranarray(base_labels[:, :3]),
                base_sparse[:4].copy())
    logits, labels = base_logits[:, :3].copy(), base_labels[:, :3].copy()
    sparse = base_sparse[:4].copy()
    if layout == "readonly":
        for array in (logits, labels, sparse):
            array.flags.writeable = False
    return logits, labels, sparse


LAYOUTS = ["contiguous", "readonly", "strided", "fortran"]


def _run_all(logits, labels, sparse_labels, pos_weight):
    return {
        "sigmoid": nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
        "weighted": nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight),
        "softmax": nn.softmax_cross_entropy_with_logits(labels, logits),
        "softmax_axis0": nn.softmax_cross_entropy_with_logits(labels, logits, axis=0),
        "sparse": nn.sparse_softmax_cross_entropy_with_logits(sparse_labels, logits),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_do_not_depend_on_memory_layout(layout):
    logits, labels, sparse_labels = _inputs(layout)
    pos_weight = np.array([0.5, 2.0, 3.0])
    results = _run_all(logits, labels, sparse_labels, pos_weight)

    exact, scale = sigmoid_reference(labels, logits, np.float64)
    assert_close(results["sigmoid"], exact, np.float64, scale)
    exact, scale = weighted_reference(labels, logits, pos_weight, np.float64)
    assert_close(results["weighted"], exact, np.float64, scale)
    exact, scale = softmax_reference(labels, logits, np.float64)
    assert_close(results["softmax"], exact, np.float64, scale)
    exact, scale = softmax_reference(labels, logits, np.float64, axis=0)
    assert_close(results["softmax_axis0"], exact, np.float64, scale)
    exact, scale = sparse_reference(sparse_labels, logits, np.float64)
    assert_close(results["sparse"], exact, np.float64, scale)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_inputs_are_not_modified(layout):
    logits, labels, sparse_labels = _inputs(layout)
    pos_weight = np.array([0.5, 2.0, 3.0])
    before = [a.copy() for a in (logits, labels, sparse_labels, pos_weight)]
    flags_before = [(a.flags.writeable, a.flags.c_contiguous, a.flags.f_contiguous)
                    for a in (logits, labels, sparse_labels)]

    _run_all(logits, labels, sparse_labels, pos_weight)

    for original, now in zip(before, (logits, labels, sparse_labels, pos_weight)):
        assert np.array_equal(original, now)
    assert flags_before == [(a.flags.writeable, a.flags.c_contiguous, a.flags.f_contiguous)
                            for a in (logits, labels, sparse_labels)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_inputs_with_special_values_are_not_modified(dtype):
    # nan/inf inputs (and denormals, which TF reads as 0) must come back untouched.
    logits = np.array([[np.inf, -np.inf, np.nan, 1e-40 if dtype != np.float16 else 1e-7]], dtype)
    labels = np.array([[0.0, 1.0, 0.5, 1e30 if dtype != np.float16 else 1e4]], dtype)
    before_logits, before_labels = logits.copy(), labels.copy()
    nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    nn.weighted_cross_entropy_with_logits(labels, logits, 2.0)
    nn.softmax_cross_entropy_with_logits(labels, logits)
    assert np.array_equal(logits.view(np.uint8), before_logits.view(np.uint8))
    assert np.array_equal(labels.view(np.uint8), before_labels.view(np.uint8))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_results_share_no_memory_with_inputs(layout):
    logits, labels, sparse_labels = _inputs(layout)
    pos_weight = np.array([0.5, 2.0, 3.0])
    for name, result in _run_all(logits, labels, sparse_labels, pos_weight).items():
        assert isinstance(result, np.ndarray), name
        for array in (logits, labels, sparse_labels, pos_weight):
            assert not np.shares_memory(result, array), name


def test_results_of_trivial_cases_are_fresh_arrays():
    # Cases where an implementation might be tempted to return a cached or shared array.
    no_classes = np.zeros((2, 0))
    first = nn.softmax_cross_entropy_with_logits(labels=no_classes, logits=no_classes)
    second = nn.softmax_cross_entropy_with_logits(labels=no_classes, logits=no_classes)
    assert first is not second and not np.shares_memory(first, second)
    one_class = np.zeros((2, 1))
    first = nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 0], logits=one_class)
    second = nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 0], logits=one_class)
    assert first is not second and not np.shares_memory(first, second)


def test_repeated_calls_give_identical_results():
    logits, labels, sparse_labels = _inputs("contiguous")
    first = _run_all(logits, labels, sparse_labels, 2.0)
    second = _run_all(logits, labels, sparse_labels, 2.0)
    for name in first:
        assert np.array_equal(first[name], second[name]), name
