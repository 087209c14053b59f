"""Gradients of the building blocks and of ``tf.compat.v1.losses`` against ``tf.GradientTape``.

For each case tfloss's ``value_and_gradient`` must give TF's loss and TF's gradient for every
watched input, bit for bit (NaN payloads not compared, as in ``parity/test_blocks.py``), or
TF's None.

Where tfloss cannot run the CPU's ``rcpps`` (``tfloss.config.reproduces_rcpps()`` false: no
numba, or not an x86), one relaxation: float32 (and 16-bit) gradients through TF's float32
Reciprocal op, which on whole packets refines ``rcpps``'s estimate by a Newton step (a third of
``tf.math.reciprocal``'s results differ from ``1 / x`` in the last bit; float64 is exact), are
then judged by ``tfloss.conformance.compare.compare_arrays``'s ULP bound: the Keras probability
paths (Log's gradient is ``g * reciprocal(x)``), the focal losses, and the sigmoid
cross-entropy's gradient (Log1p's), which ``compat.v1.losses.sigmoid_cross_entropy`` inherits.
Where tfloss runs ``rcpps`` (every x86 with numba), everything is compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfloss
from tfloss.conformance import tensorflow as tfref
from parity.blocks_cases import FLOATS, _values
from tfloss.conformance.compare import compare_arrays
from parity.test_blocks import _softmax_gap, differing, resolve

#: (function, dtype, input) whose gradient is judged by the ULP bound instead of bits (see above).
ULP_BOUND = {("compat.v1.losses.sigmoid_cross_entropy", "float32", "logits")}

V1_REDUCTIONS = ("none", "weighted_sum", "weighted_mean", "weighted_sum_over_batch_size",
                 "weighted_sum_by_nonzero_weights")


def _cases() -> list:
    cases = []
    for dtype_name, dtype in FLOATS.items():
        for shape in [(7,), (3, 5), (4, 9, 3), (2, 17)]:
            name = f"{dtype_name}-{shape}"
            x = _values(name, shape, dtype, 4.0)
            g = _values(name + "g", shape, dtype, 1.0)
            cases.append((f"sigmoid-{name}", "math.sigmoid", {"x": x}, ("x",), g))
            cases.append((f"softplus-{name}", "math.softplus", {"features": x * np.asarray(5, dtype)}, ("features",), g))
            cases.append((f"log_sigmoid-{name}", "math.log_sigmoid", {"x": x * np.asarray(5, dtype)}, ("x",), g))
            for axis in (None, 0):
                kwargs = {"logits": x} if axis is None else {"logits": x, "axis": axis}
                cases.append((f"softmax-{name}-axis{axis}", "nn.softmax", kwargs, ("logits",), g))
                cases.append((f"log_softmax-{name}-axis{axis}", "nn.log_softmax", kwargs, ("logits",), g))
            for axis in (None, 0, -1, [0, -1]) if len(shape) > 1 else (None, 0):
                kwargs = {"input_tensor": x} if axis is None else {"input_tensor": x, "axis": axis}
                out = np.asarray(tfloss.reduce_sum(**kwargs))
                upstream = _values(name + "u", out.shape, dtype, 1.0)
                cases.append((f"reduce_sum-{name}-axis{axis}", "reduce_sum", kwargs, ("input_tensor",), upstream))
                cases.append((f"reduce_mean-{name}-axis{axis}", "reduce_mean", kwargs, ("input_tensor",), upstream))
                cases.append((f"reduce_mean-{name}-axis{axis}-keep", "reduce_mean", {**kwargs, "keepdims": True},
                              ("input_tensor",), None))
    # compat.v1.losses, w.r.t. the logits and the weights.
    rng = np.random.default_rng(5)
    for dtype_name, dtype in FLOATS.items():
        logits = (rng.standard_normal((4, 3)) * 3).astype(dtype)
        for reduction in V1_REDUCTIONS:
            for weight_kind, weights in [("scalar", 0.5), ("per-row", rng.uniform(size=(4, 1)).astype(np.float32)),
                                         ("per-element", (rng.uniform(size=(4, 3)) * (rng.uniform(size=(4, 3)) > 0.3)).astype(np.float32))]:
                name = f"{dtype_name}-{reduction}-{weight_kind}"
                wrt = ("logits",) if weight_kind == "scalar" else ("logits", "weights")
                labels = rng.uniform(size=(4, 3)).astype(np.float32)
                cases.append((f"v1-sigmoid-{name}", "compat.v1.losses.sigmoid_cross_entropy",
                              {"multi_class_labels": labels, "logits": logits, "weights": weights, "reduction": reduction,
                               "label_smoothing": 0.1}, wrt + ("multi_class_labels",), None))
                row_weights = weights if weight_kind == "scalar" else weights.reshape(4, -1)[:, 0]
                onehot = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
                cases.append((f"v1-softmax-{name}", "compat.v1.losses.softmax_cross_entropy",
                              {"onehot_labels": onehot, "logits": logits, "weights": row_weights, "reduction": reduction,
                               "label_smoothing": 0.2}, wrt + ("onehot_labels",), None))
                cases.append((f"v1-sparse-{name}", "compat.v1.losses.sparse_softmax_cross_entropy",
                              {"labels": np.array([0, 2, 1, 1]), "logits": logits, "weights": row_weights,
                               "reduction": reduction}, wrt, None))
        losses = (rng.uniform(size=(4, 3)) * 5).astype(dtype)
        for reduction in V1_REDUCTIONS:
            cases.append((f"v1-compute-{dtype_name}-{reduction}", "compat.v1.losses.compute_weighted_loss",
                          {"losses": losses, "weights": rng.uniform(size=(1, 3)).astype(np.float64), "reduction": reduction},
                          ("losses", "weights"), None))
    # A gradient summed over [reduced, kept, reduced] axes: pos_weight (1, C, 1) against (B, C, T).
    for dtype_name in ("float32", "float64"):
        shape = (40, 3, 33)
        cases.append((f"weighted-pos-weight-1C1-{dtype_name}", "nn.weighted_cross_entropy_with_logits",
                      {"labels": rng.uniform(size=shape).astype(dtype_name), "logits": rng.standard_normal(shape).astype(dtype_name),
                       "pos_weight": rng.uniform(1, 3, size=(1, 3, 1)).astype(dtype_name)}, ("pos_weight",), None))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_tape(case):
    _, function, kwargs, wrt, grad_loss = case
    gap = _softmax_gap(function, (kwargs.get("logits"),))
    if gap:
        pytest.skip(gap)
    expected = tfref.tf_value_and_gradient(resolve(tfref.tf(), function), kwargs, wrt, grad_loss)
    loss, grads = tfloss.value_and_gradient(resolve(tfloss, function), grad_loss=grad_loss, **kwargs)
    problems = []
    for name, want, got in [("loss", expected[0], loss)] + [(n, e, grads.get(n, "missing")) for n, e in zip(wrt, expected[1:])]:
        if want is None or (isinstance(got, str)) or got is None:
            if not (want is None and got is None):
                problems.append(f"{name}: TF {'None' if want is None else 'a tensor'}, tfloss {got if got is None or isinstance(got, str) else 'an array'}")
            continue
        want = tfref.to_numpy(want)
        if want.dtype != got.dtype or want.shape != got.shape:
            problems.append(f"{name}: TF {want.dtype}{want.shape}, tfloss {got.dtype}{got.shape}")
            continue
        bad = differing(got, want)
        if not tfloss.config.reproduces_rcpps() and (function, kwargs["logits"].dtype.name if "logits" in kwargs else "", name) in ULP_BOUND:
            # The gradient is u * (sigmoid(x) - z), u the upstream from the reduction: terms of
            # magnitude |u|, which sets the ULP bound (as the main suite's term magnitudes do).
            per_element = tfloss.compat.v1.losses.sigmoid_cross_entropy(**{**kwargs, "reduction": "none", "weights": 1.0})
            _, upstream = tfloss.value_and_gradient(tfloss.compat.v1.losses.compute_weighted_loss, losses=per_element,
                                                    weights=kwargs["weights"], reduction=kwargs["reduction"])
            comparison = compare_arrays(got, want, magnitude=np.abs(upstream["losses"]).astype(np.float64))
            if not comparison.ok:
                problems.append(f"{name}: {comparison.problems}")
            continue
        if bad.size:
            i = int(bad[0])
            problems.append(f"{name}: {bad.size} of {got.size} differ; first at {i}: tfloss {got.reshape(-1)[i]!r} "
                            f"vs TF {want.reshape(-1)[i]!r}")
    assert not problems, "; ".join(problems)


# --------------------------------------------------------------------------------------------
# Keras 3 losses w.r.t. y_pred, y_true (float labels; None for sparse ones, cast to int64) and sample_weight


def _keras_cases() -> list:
    cases = []
    rng = np.random.default_rng(11)
    for kind, fn, cls in [("binary", "binary_crossentropy", "BinaryCrossentropy"),
                          ("categorical", "categorical_crossentropy", "CategoricalCrossentropy"),
                          ("sparse", "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")]:
        for dtype_name, dtype in FLOATS.items():
            for from_logits in (False, True):
                shape = (4, 3)
                if from_logits:
                    p = (rng.standard_normal(shape) * 3).astype(dtype)
                elif kind == "binary":
                    p = rng.uniform(0.01, 0.99, size=shape).astype(dtype)
                else:
                    p = rng.dirichlet(np.ones(3), size=4).astype(dtype)
                if kind == "binary":
                    y = (rng.uniform(size=shape) > 0.5).astype(np.float32)
                elif kind == "categorical":
                    y = np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
                else:
                    y = np.array([0, 2, 1, 1])
                name = f"{kind}-{dtype_name}-logits{from_logits}"
                extra = {} if kind == "sparse" else {"label_smoothing": 0.1}
                cases.append((f"keras-fn-{name}", f"keras.losses.{fn}", None,
                              {"y_true": y, "y_pred": p, "from_logits": from_logits, **extra}, ("y_pred", "y_true")))
                for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", None):
                    init = {"from_logits": from_logits, "reduction": reduction}
                    sw = rng.uniform(size=(4,))
                    cases.append((f"keras-cls-{name}-{reduction}", f"keras.losses.{cls}", init,
                                  {"y_true": y, "y_pred": p, "sample_weight": sw}, ("y_pred", "sample_weight", "y_true")))
                    cases.append((f"keras-cls-{name}-{reduction}-nosw", f"keras.losses.{cls}", init,
                                  {"y_true": y, "y_pred": p}, ("y_pred", "y_true")))
                    if kind == "sparse":
                        cases.append((f"keras-cls-{name}-{reduction}-ignore", f"keras.losses.{cls}",
                                      {**init, "ignore_class": 1}, {"y_true": y, "y_pred": p, "sample_weight": sw},
                                      ("y_pred", "sample_weight")))
    # d/dy_true through Cast's gradient (labels of another float dtype) and label smoothing.
    for kind, fn, cls in [("binary", "binary_crossentropy", "BinaryCrossentropy"),
                          ("categorical", "categorical_crossentropy", "CategoricalCrossentropy")]:
        for label_dtype in ("float16", "float64"):
            for from_logits in (False, True):
                p = (rng.standard_normal((4, 3)) * 3).astype(np.float32) if from_logits else \
                    rng.dirichlet(np.ones(3), size=4).astype(np.float32)
                y = rng.dirichlet(np.ones(3), size=4).astype(label_dtype)
                name = f"{kind}-labels{label_dtype}-logits{from_logits}"
                cases.append((f"keras-fn-{name}", f"keras.losses.{fn}", None,
                              {"y_true": y, "y_pred": p, "from_logits": from_logits, "label_smoothing": 0.2},
                              ("y_pred", "y_true")))
                cases.append((f"keras-cls-{name}-smoothing", f"keras.losses.{cls}",
                              {"from_logits": from_logits, "label_smoothing": 0.2, "reduction": "sum"},
                              {"y_true": y, "y_pred": p, "sample_weight": rng.uniform(size=(4,))},
                              ("y_pred", "sample_weight", "y_true")))
    # The focal losses: gammas Keras users pick, class balancing, label smoothing, every reduction.
    gammas = (2.0, 0.5, 1.5, 2.5, 3.0, 5.0)
    for kind, fn, cls in [("binary", "binary_focal_crossentropy", "BinaryFocalCrossentropy"),
                          ("categorical", "categorical_focal_crossentropy", "CategoricalFocalCrossentropy")]:
        for dtype_name, dtype in FLOATS.items():
            for from_logits in (False, True):
                shape = (4, 3)
                if from_logits:
                    p = (rng.standard_normal(shape) * 3).astype(dtype)
                elif kind == "binary":
                    p = rng.uniform(0.01, 0.99, size=shape).astype(dtype)
                else:
                    p = rng.dirichlet(np.ones(3), size=4).astype(dtype)
                y = (rng.uniform(size=shape) > 0.5).astype(np.float32) if kind == "binary" else np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]
                name = f"focal-{kind}-{dtype_name}-logits{from_logits}"
                options = {"from_logits": from_logits, "label_smoothing": 0.1, "alpha": 0.4}
                if kind == "binary":
                    options["apply_class_balancing"] = True
                for gamma in gammas[:3]:
                    cases.append((f"keras-fn-{name}-gamma{gamma}", f"keras.losses.{fn}", None,
                                  {"y_true": y, "y_pred": p, **options, "gamma": gamma}, ("y_pred", "y_true")))
                for i, reduction in enumerate(("sum_over_batch_size", "sum", "mean_with_sample_weight", None)):
                    init = {**options, "gamma": gammas[i + 2], "reduction": reduction}
                    sw = rng.uniform(size=(4,))
                    cases.append((f"keras-cls-{name}-{reduction}", f"keras.losses.{cls}", init,
                                  {"y_true": y, "y_pred": p, "sample_weight": sw}, ("y_pred", "sample_weight", "y_true")))
                    cases.append((f"keras-cls-{name}-{reduction}-nosw", f"keras.losses.{cls}", init,
                                  {"y_true": y, "y_pred": p}, ("y_pred", "y_true")))
        # Soft labels of other float dtypes (Cast's gradient), without smoothing or balancing.
        for label_dtype in ("float16", "float64"):
            for from_logits in (False, True):
                p = (rng.standard_normal((4, 3)) * 3).astype(np.float32) if from_logits else \
                    rng.dirichlet(np.ones(3), size=4).astype(np.float32)
                y = rng.dirichlet(np.ones(3), size=4).astype(label_dtype)
                name = f"focal-{kind}-labels{label_dtype}-logits{from_logits}"
                cases.append((f"keras-fn-{name}", f"keras.losses.{fn}", None,
                              {"y_true": y, "y_pred": p, "from_logits": from_logits}, ("y_pred", "y_true")))
    return cases


KERAS_CASES = _keras_cases()


def _float32_reciprocal_path(function, init, kwargs) -> bool:
    """A float32 gradient through TF's float32 Reciprocal (rcpps-based on whole packets): through
    Log on the probability paths (the categorical focal loss always takes it, even from logits),
    through Log1p in the sigmoid cross-entropy's gradient."""
    from_logits = (init or kwargs).get("from_logits", False)
    return not from_logits or "binary" in function.lower() or "categoricalfocal" in function.lower().replace("_", "")


@pytest.mark.parametrize("case", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_keras_gradient_matches_tape(case):
    _, target, init, kwargs, wrt = case
    tf_fn = resolve(tfref.tf(), target)
    ours = resolve(tfloss, target)
    if init is not None:
        tf_fn, ours = tf_fn(**init), ours(**init)
    expected = tfref.tf_value_and_gradient(tf_fn, kwargs, wrt)
    loss, grads = tfloss.value_and_gradient(ours, **kwargs)
    problems = []
    compute_dtype = np.float32 if init is not None else np.asarray(kwargs["y_pred"]).dtype
    for name, want, got in [("loss", expected[0], loss)] + [(n, e, grads.get(n, "missing")) for n, e in zip(wrt, expected[1:])]:
        if want is None or got is None or isinstance(got, str):
            if not (want is None and got is None):
                problems.append(f"{name}: TF {'None' if want is None else 'a tensor'}, tfloss {got if got is None or isinstance(got, str) else 'an array'}")
            continue
        want = tfref.to_numpy(want)
        if want.dtype != got.dtype or want.shape != got.shape:
            problems.append(f"{name}: TF {want.dtype}{want.shape}, tfloss {got.dtype}{got.shape}")
            continue
        if (not tfloss.config.reproduces_rcpps() and name not in ("loss", "y_true") and np.dtype(compute_dtype) != np.float64
                and _float32_reciprocal_path(target, init, kwargs)):
            # Judged in the compute dtype (a float64 input's gradient is a float32 one, cast).
            as_computed = np.dtype(compute_dtype) if np.dtype(compute_dtype) != want.dtype and want.dtype == np.float64 else want.dtype
            comparison = compare_arrays(got.astype(as_computed), want.astype(as_computed),
                                        magnitude=np.maximum(np.abs(want.astype(np.float64)), 1.0) if name == "y_pred" else None)
            if not comparison.ok:
                problems.append(f"{name}: {comparison.problems}")
            continue
        bad = differing(got, want)
        if bad.size:
            i = int(bad[0])
            problems.append(f"{name}: {bad.size} of {got.size} differ; first at {i}: tfloss {got.reshape(-1)[i]!r} vs TF {want.reshape(-1)[i]!r}")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("kind", ["binary", "categorical", "binary_focal"])
@pytest.mark.parametrize("loss_object", [False, True])
def test_keras_label_gradient_through_an_activation(kind, loss_object):
    # y_pred from Keras' own sigmoid/softmax: the cross-entropy is computed from its logits, so
    # y_pred has no gradient that way and d/dy_true is the logits path's.  The binary focal
    # loss also uses y_pred itself in p_t, so there y_pred has that gradient.
    rng = np.random.default_rng(17)
    x = (rng.standard_normal((4, 3)) * 3).astype(np.float32)
    y = rng.dirichlet(np.ones(3), size=4).astype(np.float32)
    fn = {"binary": "binary_crossentropy", "categorical": "categorical_crossentropy",
          "binary_focal": "binary_focal_crossentropy"}[kind]
    cls = {"binary": "BinaryCrossentropy", "categorical": "CategoricalCrossentropy",
           "binary_focal": "BinaryFocalCrossentropy"}[kind]
    activation = "softmax" if kind == "categorical" else "sigmoid"
    t = tfref.tf()
    y_pred_tf = getattr(t.keras.ops, activation)(t.constant(x))
    ours_fn = getattr(tfloss.keras.losses, cls)(label_smoothing=0.1) if loss_object else getattr(tfloss.keras.losses, fn)
    tf_fn = getattr(t.keras.losses, cls)(label_smoothing=0.1) if loss_object else getattr(t.keras.losses, fn)
    y_true_tf = t.constant(y)
    with t.GradientTape() as tape:
        tape.watch(y_true_tf)
        tape.watch(y_pred_tf)
        loss_tf = tf_fn(y_true_tf, y_pred_tf)
    want_true, want_pred = tape.gradient(loss_tf, [y_true_tf, y_pred_tf])
    loss, grads = tfloss.value_and_gradient(ours_fn, y_true=y, y_pred=getattr(tfloss.keras.ops, activation)(x))
    assert differing(loss, tfref.to_numpy(loss_tf)).size == 0
    if kind == "binary_focal":
        want_pred = tfref.to_numpy(want_pred)
        assert grads["y_pred"].dtype == want_pred.dtype and differing(grads["y_pred"], want_pred).size == 0
    else:
        assert want_pred is None and grads["y_pred"] is None
    want_true = tfref.to_numpy(want_true)
    assert grads["y_true"].dtype == want_true.dtype and differing(grads["y_true"], want_true).size == 0, (grads["y_true"], want_true)
