"""Each declared difference happens exactly as declared, and nowhere else.

``compat-v1-sentinel``: tfloss's compat.v1 sigmoid / softmax / sparse keep
``_sentinel=None`` first (TF 2.10/2.11), TF 2.12+ dropped it.

``keras-set-order``: Keras' invalid-reduction message prints a Python set in an order that
changes with the hash seed; the elements are compared, not their order.
"""

import inspect
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import tfloss
from tfloss.conformance import declared
from tfloss.conformance.compare import Outcome, compare_arrays
from tfloss.conformance.impls import run_tfloss
from tfloss.conformance.tensorflow import run_tf

from parity import signatures
from parity.runner import run_cases
from parity.targets import NN_TARGETS, resolve

LOGITS = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)
LABELS = {
    "compat.v1.nn.sigmoid_cross_entropy_with_logits": np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]], np.float32),
    "compat.v1.nn.softmax_cross_entropy_with_logits": np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], np.float32),
    "compat.v1.nn.sparse_softmax_cross_entropy_with_logits": np.array([0, 2]),
}


def _named(name):
    return SimpleNamespace(name=name)


def test_declared_differences_are_well_formed():
    ids = [d.id for d in declared.DIFFERENCES]
    assert len(ids) == len(set(ids))
    names = {t.name for t in NN_TARGETS} | {f"keras.losses.{name}" for name in tfloss.keras.losses.__all__}
    for d in declared.DIFFERENCES:
        assert d.reason and d.functions and set(d.functions) <= names


@pytest.mark.parametrize("name", declared.SENTINEL_FUNCTIONS)
def test_sentinel_signature_is_tf_signature_plus_sentinel(name):
    ours = inspect.signature(resolve("tfloss", name))
    theirs = inspect.signature(resolve("tensorflow", name))
    first, *rest = ours.parameters.values()
    assert (first.name, first.default, first.kind) == ("_sentinel", None, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert str(ours.replace(parameters=rest)) == str(theirs)
    assert signatures.check_signature(name).status == "declared"


@pytest.mark.parametrize("name", declared.SENTINEL_FUNCTIONS)
def test_positional_call_raises_tf_2_10_error_where_tf_2_21_binds(name):
    labels = LABELS[name]
    tf_positional = run_tf(resolve("tensorflow", name), (labels, LOGITS))
    tf_keywords = run_tf(resolve("tensorflow", name), (), {"labels": labels, "logits": LOGITS})
    ours_positional = run_tfloss(resolve("tfloss", name), (labels, LOGITS))
    ours_keywords = run_tfloss(resolve("tfloss", name), (), {"labels": labels, "logits": LOGITS})
    # TF 2.21 binds positional arguments as (labels, logits).
    assert not tf_positional.raised
    np.testing.assert_array_equal(tf_positional.values[0], tf_keywords.values[0])
    # tfloss raises TF 2.10/2.11's ValueError instead, naming the first positional argument ...
    assert (ours_positional.error_kind, ours_positional.error_name) == ("builtins", "ValueError")
    assert ours_positional.message == declared.sentinel_message(name, labels)
    # ... and with keywords it is TF (within the suite's bound).
    target = next(t for t in NN_TARGETS if t.name == name)
    magnitude, n_terms = target.magnitude({"labels": labels, "logits": LOGITS}, tf_keywords.values[0])
    comparison = compare_arrays(ours_keywords.values[0], tf_keywords.values[0], magnitude, n_terms)
    assert comparison.ok, comparison.problems


@pytest.mark.parametrize("name", declared.SENTINEL_FUNCTIONS)
def test_sentinel_keyword_is_valueerror_where_tf_raises_typeerror(name):
    kwargs = {"_sentinel": 7, "labels": LABELS[name], "logits": LOGITS}
    theirs = run_tf(resolve("tensorflow", name), (), kwargs)
    ours = run_tfloss(resolve("tfloss", name), (), kwargs)
    assert (theirs.error_name, theirs.message) == ("TypeError", "Got an unexpected keyword argument '_sentinel'")
    assert (ours.error_name, ours.message) == ("ValueError", declared.sentinel_message(name, 7))


def test_sentinel_is_only_in_the_declared_functions():
    for target in NN_TARGETS:
        params = inspect.signature(resolve("tfloss", target.name)).parameters
        assert ("_sentinel" in params) == (target.name in declared.SENTINEL_FUNCTIONS), target.name


def test_every_declared_difference_is_exercised_by_the_catalogue():
    from tfloss.conformance import catalogue

    from parity import targets

    errors = [c for c in catalogue.error_cases() if c.regime in ("positional_call", "sentinel")]
    records = list(run_cases(errors, targets.all_targets()))
    seen = {r.declared_id for r in records if r.status == "declared"}
    nn_names = {t.name for t in NN_TARGETS}
    assert seen == {d.id for d in declared.DIFFERENCES if set(d.functions) <= nn_names}
    # and the declared difference never leaks into functions it does not name
    for r in records:
        if r.status == "declared":
            assert r.target in declared.by_id(r.declared_id).functions


# --- keras-set-order ----------------------------------------------------------------------------

#: Keras 3.15.1's own ``standardize_reduction``, compiled from its source and called with "auto"
#: in a fresh interpreter without importing Keras (whose import needs TF and takes seconds).
_KERAS_REDUCTION_MESSAGE = """
import importlib.util, pathlib, types
path = pathlib.Path(importlib.util.find_spec("keras").submodule_search_locations[0], "src", "losses", "loss.py")
module = compile(path.read_text(), str(path), "exec")
code = next(c for c in module.co_consts if getattr(c, "co_name", "") == "standardize_reduction")
try:
    types.FunctionType(code, {})("auto")
except ValueError as error:
    print(error)
"""


def _keras_reduction_error(seed: int) -> Outcome:
    printed = subprocess.run([sys.executable, "-c", _KERAS_REDUCTION_MESSAGE], capture_output=True, text=True,
                             check=True, env={"PYTHONHASHSEED": str(seed)}).stdout.strip()
    return Outcome(error_kind="builtins", error_name="ValueError", message=printed)


def test_keras_set_order_changes_with_the_hash_seed_and_is_declared():
    from parity.test_blocks import compare

    name = "keras.losses.BinaryCrossentropy"
    keras_errors = [_keras_reduction_error(seed) for seed in (0, 1)]
    assert keras_errors[0].message != keras_errors[1].message  # Keras' own message, two orders
    assert keras_errors[0].message.startswith("Invalid value for argument `reduction`. Expected one of {")
    ours = run_tfloss(tfloss.keras.losses.BinaryCrossentropy, (), {"reduction": "auto"})
    call = ((), {"reduction": "auto"})
    explained = [declared.explain(None, _named(name), keras, ours, call) for keras in keras_errors]
    # Our order cannot be both of Keras' orders; the one it differs from is the declared difference.
    assert "keras-set-order" in explained
    assert all(e == "keras-set-order" or keras.message == ours.message for e, keras in zip(explained, keras_errors))
    assert all(compare(name, *call, keras, ours) is None for keras in keras_errors)


def test_keras_set_order_accepts_only_a_reordered_set():
    name = "keras.losses.SparseCategoricalCrossentropy"
    ours = run_tfloss(tfloss.keras.losses.SparseCategoricalCrossentropy, (), {"reduction": "auto"})
    prefix, rest = ours.message.split("{", 1)
    elements, suffix = rest.split("}", 1)
    members = elements.split(", ")
    reordered = prefix + "{" + ", ".join(reversed(members)) + "}" + suffix
    # The set's printed order follows the hash seed, so 'mean' may stand anywhere in it.
    swapped = ["'average'" if m == "'mean'" else m for m in members]
    other_element = prefix + "{" + ", ".join(swapped) + "}" + suffix
    call = ((), {"reduction": "auto"})

    def explain(message, error_name="ValueError", function=name):
        theirs = Outcome(error_kind="builtins", error_name=error_name, message=message)
        return declared.explain(None, _named(function), theirs, ours, call)

    assert "'mean'" in members and len(members) > 1 and reordered != ours.message
    assert explain(reordered) == "keras-set-order"
    assert explain(ours.message) == ""  # the same message is no difference
    assert explain(other_element) == ""  # another element
    assert explain(reordered + " ") == ""  # more than the set
    assert explain(reordered, error_name="TypeError") == ""  # another error class
    assert explain(reordered, function="compat.v1.losses.sigmoid_cross_entropy") == ""  # not a Keras loss
    assert declared.sort_printed_sets(reordered) == declared.sort_printed_sets(ours.message)


# --- platform gaps: known CPUs where tfloss cannot reproduce TF, reported as skipped ----------

def _gap_case(dtype):
    from tfloss.conformance.catalogue import Case
    return Case(f"gap/{dtype}", "softmax", {}, dtype=dtype)


@pytest.mark.parametrize("rcpps", [True, False])
@pytest.mark.parametrize("onednn, name, dtype, in_gap", [
    # Eigen's float32 softmax needs the CPU's rcpps: a gap only where tfloss cannot run it.
    ("0", "textbook.naive_softmax_cross_entropy", "float32", "without rcpps"),
    ("0", "textbook.naive_softmax_cross_entropy", "float16", False),   # Eigen's float16 softmax is reproduced
    ("0", "hvp:nn.softmax_cross_entropy_with_logits", "float16", True),  # Eigen's matmul order
    ("0", "hvp:compat.v1.nn.sparse_softmax_cross_entropy_with_logits", "bfloat16", True),
    ("0", "hvp:nn.softmax_cross_entropy_with_logits", "float64", False),
    ("0", "nn.softmax_cross_entropy_with_logits", "float32", False),   # the ops never call tf.nn.softmax
    ("0", "grad:nn.softmax_cross_entropy_with_logits", "float32", False),
    ("1", "textbook.naive_softmax_cross_entropy", "float32", False),
    ("1", "hvp:nn.softmax_cross_entropy_with_logits", "float32", False),
])
def test_platform_gap_is_only_the_onednn_off_softmax_kernels(monkeypatch, onednn, name, dtype, in_gap, rcpps):
    import tfloss.config

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    monkeypatch.setattr(tfloss.config, "reproduces_rcpps", lambda: rcpps)
    gap = declared.platform_gap(_gap_case(dtype), _named(name))
    expected = (not rcpps) if in_gap == "without rcpps" else in_gap
    assert bool(gap) == expected and (not gap or gap.startswith(declared.PLATFORM_GAP))


def test_a_failure_in_a_platform_gap_is_skipped_never_passed(monkeypatch):
    # The runner runs the case; only a failure is reclassified, with the gap's reason first.
    import dataclasses

    from tfloss.conformance.catalogue import Case
    from parity.runner import run_case
    from parity.targets import textbook_targets
    target = next(t for t in textbook_targets() if t.name == "textbook.naive_softmax_cross_entropy")

    class Wrong(type(target)):
        def tfloss_callable(self):
            return lambda **kw: np.array([7.0], np.float32)

    wrong = Wrong(**{f.name: getattr(target, f.name) for f in dataclasses.fields(target)})
    case = Case("gap/wrong", "softmax", {"labels": np.array([[1.0, 0.0]], np.float32),
                                         "logits": np.array([[1.0, 2.0]], np.float32)}, dtype="float32")
    # Only tfloss's view of the CPU changes here; TF read TF_ENABLE_ONEDNN_OPTS at its start.
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert run_case(case, wrong).status == "fail"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    import tfloss.config

    monkeypatch.setattr(tfloss.config, "reproduces_rcpps", lambda: False)  # a machine without rcpps
    record = run_case(case, wrong)
    assert record.status == "skip" and record.detail.startswith(declared.PLATFORM_GAP)
