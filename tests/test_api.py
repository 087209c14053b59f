"""The public surface: `import tfloss as tf` exposes TF's names with TF's signatures.

Source: issue 2 ("Public surface") and tf-behaviour.md 2.1, 3.1, 4.1, 5.1.
"""

import inspect
import re

import numpy as np
import pytest

import tfloss

V2_SIGNATURES = {
    "sigmoid_cross_entropy_with_logits": "(labels=None, logits=None, name=None)",
    "weighted_cross_entropy_with_logits": "(labels, logits, pos_weight, name=None)",
    "softmax_cross_entropy_with_logits": "(labels, logits, axis=-1, name=None)",
    "sparse_softmax_cross_entropy_with_logits": "(labels, logits, name=None)",
}

# TF <= 2.11 v1 signatures (tfloss keeps `_sentinel` on purpose); the rest is TF 2.21.
V1_SIGNATURES = {
    "sigmoid_cross_entropy_with_logits":
        "(_sentinel=None, labels=None, logits=None, name=None)",
    "weighted_cross_entropy_with_logits":
        "(labels=None, logits=None, pos_weight=None, name=None, targets=None)",
    "softmax_cross_entropy_with_logits":
        "(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None)",
    "softmax_cross_entropy_with_logits_v2":
        "(labels, logits, axis=None, name=None, dim=None)",
    "sparse_softmax_cross_entropy_with_logits":
        "(_sentinel=None, labels=None, logits=None, name=None)",
}


def _parameters(function):
    """The signature without its return annotation: what binds the arguments."""
    signature = inspect.signature(function)
    return str(signature.replace(return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("name, signature", V2_SIGNATURES.items(), ids=list(V2_SIGNATURES))
def test_v2_signature(name, signature):
    assert _parameters(getattr(tfloss.nn, name)) == signature


@pytest.mark.parametrize("name, signature", V1_SIGNATURES.items(), ids=list(V1_SIGNATURES))
def test_v1_signature(name, signature):
    assert _parameters(getattr(tfloss.compat.v1.nn, name)) == signature


@pytest.mark.parametrize("module, name, signature",
                         [("nn", n, s) for n, s in V2_SIGNATURES.items()]
                         + [("compat.v1.nn", n, s) for n, s in V1_SIGNATURES.items()])
def test_signature_is_exactly_what_inspect_shows_for_tf(module, name, signature):
    # Issue 2: "exactly as inspect.signature shows them for TF 2.21's tf.nn" - TF's functions
    # carry no annotations, so neither does the printed signature.
    namespace = tfloss.nn if module == "nn" else tfloss.compat.v1.nn
    assert str(inspect.signature(getattr(namespace, name))) == signature


def test_import_as_tf_runs_tf_code_unchanged():
    import tfloss as tf
    labels = [[0.0, 1.0], [1.0, 0.0]]
    logits = [[2.0, 1.0], [0.5, 0.5]]
    assert tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits).shape == (2,)
    sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 0], logits=logits)
    assert sparse.shape == (2,)
    assert tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits).shape == (2, 2)
    assert tf.nn.weighted_cross_entropy_with_logits(labels, logits, 2.0).shape == (2, 2)
    assert tf.compat.v1.nn.softmax_cross_entropy_with_logits_v2(labels, logits).shape == (2,)
    assert issubclass(tf.errors.InvalidArgumentError, tf.errors.OpError)


def test_submodules_import_directly():
    import tfloss.compat.v1.nn
    import tfloss.errors
    import tfloss.nn
    assert callable(tfloss.nn.sigmoid_cross_entropy_with_logits)
    assert callable(tfloss.compat.v1.nn.sigmoid_cross_entropy_with_logits)


@pytest.mark.parametrize("name", list(V2_SIGNATURES))
def test_public_functions_have_docstrings(name):
    assert (getattr(tfloss.nn, name).__doc__ or "").strip()


@pytest.mark.parametrize("name", list(V2_SIGNATURES))
def test_v2_functions_reject_sentinel(name):
    # tf.nn never had `_sentinel`; TF's dispatch wrapper raises
    # TypeError "Got an unexpected keyword argument '_sentinel'" (tf-behaviour.md 1.1; the same
    # wrapper text for tf.nn was seen by parity/ against TF 2.21).
    message = "Got an unexpected keyword argument '_sentinel'"
    with pytest.raises(TypeError, match=re.escape(message)):
        getattr(tfloss.nn, name)(_sentinel=1, labels=[[0.0]], logits=[[0.0]])


def test_results_are_numpy_arrays_for_every_op():
    ops = [
        tfloss.nn.sigmoid_cross_entropy_with_logits(labels=0.0, logits=0.0),
        tfloss.nn.weighted_cross_entropy_with_logits(0.0, 0.0, 2.0),
        tfloss.nn.softmax_cross_entropy_with_logits(labels=[1.0], logits=[0.0]),
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=0, logits=[0.0]),
    ]
    for result in ops:
        assert isinstance(result, np.ndarray) and result.shape == ()
