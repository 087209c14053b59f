"""Parity of ``tf.compat.v1.losses`` and of Keras 3's losses (``tf.keras.losses``) with real TF.

Same rules as ``parity/test_blocks.py`` (bits, or TF's error class and message; NaN payloads
and a trailing ``" name: "`` not compared): :func:`parity.test_blocks.mismatch` judges.  For
Keras the warnings (SyntaxWarning, UserWarning) must match too, and the Keras release must be
the pinned one (3.15.1, ``pyproject.toml``'s ``parity`` extra).  Keras' invalid-reduction
message prints a Python set, whose order is not stable (it follows the hash seed and the order
the elements were inserted in; in one interpreter Keras' set and tfloss's were measured to print
in different orders): that message is compared with the set's elements in any order, the
declared difference ``keras-set-order`` (``tfloss/conformance/declared.py``).  The
focal losses are compared bit for bit too, whatever their gamma: their ``(1 - p)**gamma`` is TF's
Pow, reproduced as Eigen's packet pow and the C library's (``tfloss._machine.math_ops.pow_op``).
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


# --------------------------------------------------------------------------------------------
# Keras 3

import functools  # noqa: E402
import warnings  # noqa: E402

import tfloss  # noqa: E402
from tfloss.conformance import declared  # noqa: E402
from tfloss.conformance import tensorflow as tfref  # noqa: E402
from tfloss.conformance.impls import run_tfloss  # noqa: E402
from parity.losses_cases import Activation, keras_cases  # noqa: E402
from parity.test_blocks import compare, differing, resolve  # noqa: E402

KERAS_CASES = keras_cases()


def keras_version() -> str:
    import keras

    return keras.__version__


def _materialise(arg, side: str):
    if not isinstance(arg, Activation):
        return arg
    library, function = arg.kind.split(".")
    if side == "tf":
        t = tfref.tf()
        x = t.constant(arg.logits)
        if library == "keras":
            return getattr(t.keras.ops, function)(x) if function == "sigmoid" else t.keras.ops.softmax(x, axis=arg.axis)
        return t.math.sigmoid(x) if function == "sigmoid" else t.nn.softmax(x, axis=arg.axis)
    if library == "keras":
        return getattr(tfloss.keras.ops, function)(arg.logits) if function == "sigmoid" else tfloss.keras.ops.softmax(arg.logits, axis=arg.axis)
    return tfloss.math.sigmoid(arg.logits) if function == "sigmoid" else tfloss.nn.softmax(arg.logits, axis=arg.axis)


def _callable(module, target: str, init):
    if init is None:
        return resolve(module, target)

    def call(*args, **kwargs):
        return resolve(module, target)(**init)(*args, **kwargs)

    return call


def _with_warnings(run, fn, args, kwargs):
    """``run(fn, args, kwargs)`` and the (class, message) of the Keras warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run(fn, args, kwargs)
    return outcome, sorted({(w.category.__name__, str(w.message)) for w in caught
                            if w.category.__name__ in ("SyntaxWarning", "UserWarning")})


def keras_judged(target, args, kwargs, init):
    """``(problem or None, TF's outcome, tfloss's outcome)`` of one Keras case (the release
    matrix, :mod:`parity.matrix_worker`, keeps the outcomes)."""
    expected, expected_warnings = _with_warnings(tfref.run_tf, _callable(tfref.tf(), target, init),
                                                 tuple(_materialise(a, "tf") for a in args), kwargs)
    actual, actual_warnings = _with_warnings(run_tfloss, _callable(tfloss, target, init),
                                             tuple(_materialise(a, "tfloss") for a in args), kwargs)
    if expected_warnings != actual_warnings:
        return f"warnings: TF {expected_warnings}, tfloss {actual_warnings}", expected, actual
    return compare(target, args, kwargs, expected, actual, show_values=True), expected, actual


def keras_mismatch(target, args, kwargs, init):
    return keras_judged(target, args, kwargs, init)[0]


def test_keras_is_the_pinned_release():
    assert keras_version() == tfloss.keras.__version__ == "3.15.1"


#: Keras cases tfloss does not reproduce, each with what TF/Keras does instead.
KERAS_GAPS = {
    "cls-binary-ragged": "Python lists nested with different lengths: Keras' optree raises 'list arity mismatch; "
                         "expected: 1, got: 2; list: [[<tf.Tensor: ...>, ...]]', listing every element as a tensor; "
                         "tfloss raises the same class with 'Structures don't have the same nested structure.'",
}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason=KERAS_GAPS[c[0]], strict=True)) if c[0] in KERAS_GAPS else c
    for c in KERAS_CASES], ids=[c[0] for c in KERAS_CASES])
def test_keras_losses_match_tf(case):
    case_id, target, args, kwargs, init = case
    problem = keras_mismatch(target, args, kwargs, init)
    assert problem is None, problem


@st.composite
def keras_draws(draw):
    kind = draw(st.sampled_from(["binary", "categorical", "sparse", "binary_focal", "categorical_focal"]))
    focal = kind.endswith("_focal")
    kind = kind.removesuffix("_focal")
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=2, max_size=4)))
    dtype = FLOATS[draw(st.sampled_from(sorted(FLOATS)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    from_logits = draw(st.booleans())
    if from_logits:
        p = (rng.standard_normal(shape) * 4).astype(dtype)
    elif kind == "binary":
        p = rng.uniform(size=shape).astype(dtype)
    else:
        p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)
    if kind == "binary":
        y = (rng.uniform(size=shape) > 0.5).astype(np.float32)
    elif kind == "categorical":
        y = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], size=shape[:-1])]
    else:
        y = rng.integers(0, shape[-1], size=shape[:-1])
    loss_shape = shape[:-1]
    weight_shape = tuple(draw(st.sampled_from([1, d])) for d in loss_shape)
    sample_weight = draw(st.sampled_from([None, 0.5, "array"]))
    if sample_weight == "array":
        sample_weight = rng.uniform(size=weight_shape)
    init = {"from_logits": from_logits, "reduction": draw(st.sampled_from(["sum_over_batch_size", "sum", "mean_with_sample_weight", None]))}
    if kind == "sparse":
        init["ignore_class"] = draw(st.sampled_from([None, 0]))
    else:
        init["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, -0.1]))
    classes = {"binary": "BinaryCrossentropy", "categorical": "CategoricalCrossentropy", "sparse": "SparseCategoricalCrossentropy"}
    if focal:
        classes = {"binary": "BinaryFocalCrossentropy", "categorical": "CategoricalFocalCrossentropy"}
        init["gamma"] = draw(st.sampled_from([0.5, 1.5, 2.0, 2.5, 3.0, 5.0]))
        init["alpha"] = draw(st.sampled_from([0.25, 0.5]))
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    return f"keras.losses.{classes[kind]}", (y, p), kwargs, init


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(keras_draws())
def test_keras_losses_hypothesis(drawn):
    target, args, kwargs, init = drawn
    if target.endswith("CategoricalFocalCrossentropy") and init["from_logits"] \
            and declared.softmax_gap(getattr(args[1], "dtype", np.float64)):
        return  # its ops.softmax falls in this CPU's platform gap; the other draws are checked
    problem = keras_mismatch(target, args, kwargs, init)
    assert problem is None, problem


# --------------------------------------------------------------------------------------------
# Keras masks: not read by tfloss (a deliberate difference, see tfloss.keras.losses); the
# documented sample_weight gives Keras' masked result bit for bit, also AND-ed with ignore_class's.


def mask_weight(mask: np.ndarray, reduction) -> np.ndarray:
    """The sample weight that stands for a Keras mask, as ``tfloss.keras.losses`` documents it."""
    if reduction in ("sum_over_batch_size", "mean"):
        return np.where(mask, np.float32(mask.size) / np.float32(mask.sum()), np.float32(0))
    return mask.astype(np.float32)


@pytest.mark.parametrize("kind", ["binary", "categorical", "sparse"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_keras_mask_is_the_documented_sample_weight(kind, reduction, weighted):
    from keras.src import backend as keras_backend

    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=4).astype(np.float32)
    y = {"binary": (rng.uniform(size=(4, 3)) > 0.5).astype(np.float32),
         "categorical": np.eye(3, dtype=np.float32)[[0, 2, 1, 1]], "sparse": np.array([0, 2, 1, 1])}[kind]
    mask = np.array([True, False, True, True])
    sample_weight = rng.uniform(size=4).astype(np.float32) if weighted else None
    cls = {"binary": "BinaryCrossentropy", "categorical": "CategoricalCrossentropy",
           "sparse": "SparseCategoricalCrossentropy"}[kind]
    t = tfref.tf()
    masked = t.constant(p)
    keras_backend.set_keras_mask(masked, t.constant(mask))
    want = np.asarray(getattr(t.keras.losses, cls)(reduction=reduction)(y, masked, sample_weight=sample_weight))
    unmasked = np.asarray(getattr(t.keras.losses, cls)(reduction=reduction)(y, t.constant(p), sample_weight=sample_weight))
    weight = mask_weight(mask, reduction) if sample_weight is None else sample_weight * mask_weight(mask, reduction)
    got = getattr(tfloss.keras.losses, cls)(reduction=reduction)(y, p, sample_weight=weight)
    assert not np.array_equal(want, unmasked)  # Keras did read the mask
    assert got.dtype == want.dtype and got.shape == want.shape and differing(got, want).size == 0, (got, want)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_keras_mask_and_ignore_class_is_the_documented_recipe(from_logits, reduction, weighted):
    # Keras ANDs the mask on y_pred with ignore_class's; tfloss gets that by doing ignore_class's
    # where by hand and weighting the AND (tfloss.keras.losses' docstring).
    from keras.src import backend as keras_backend

    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(3), size=7).astype(np.float32)
    if from_logits:
        p = np.log(p) * np.float32(1.7)
        p[3, 1] = np.inf  # an ignored row that would be NaN if it were computed
    y = np.array([0, 2, 1, 1, 2, 0, 1])
    mask = np.array([True, False, True, True, True, False, True])
    sample_weight = rng.uniform(size=7).astype(np.float32) if weighted else None
    t = tfref.tf()
    masked = t.constant(p)
    keras_backend.set_keras_mask(masked, t.constant(mask))
    keras_loss = t.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=1, reduction=reduction)
    want = np.asarray(keras_loss(y, masked, sample_weight=sample_weight))
    only_ignore = np.asarray(keras_loss(y, t.constant(p), sample_weight=sample_weight))
    valid = y != 1
    weight = mask_weight(mask & valid, reduction)
    weight = weight if sample_weight is None else sample_weight * weight
    ours = tfloss.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction=reduction)
    got = ours(np.where(valid, y, 0), np.where(valid[:, None], p, np.float32(0)), sample_weight=weight)
    assert not np.array_equal(want, only_ignore)  # Keras did read the mask
    assert got.dtype == want.dtype and got.shape == want.shape and differing(got, want).size == 0, (got, want)


def test_focal_loss_under_tf_function_squares_quirk():
    # Eager TF runs Pow(1 - p_t, 2) (Eigen's packet pow); tf.function (and so model.fit) lets
    # Grappler rewrite it to Square.  tfloss is the eager result, bit for bit.
    tf = tfref.tf()
    p = np.array([0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9], np.float32)[:, None]
    z = np.zeros_like(p)

    def focal(a, b):
        return tf.keras.losses.binary_focal_crossentropy(a, b, gamma=2.0)

    eager = focal(z, p).numpy()
    graph = tf.function(focal)(z, p).numpy()
    bce = tf.keras.losses.binary_focal_crossentropy(z, p, gamma=0.0).numpy()
    ours = tfloss.keras.losses.binary_focal_crossentropy(z, p, gamma=2.0)
    assert ours.tobytes() == eager.tobytes()
    assert graph.tobytes() == (p[:, 0] * p[:, 0] * bce).tobytes()
    assert (eager != graph).sum() == 2
