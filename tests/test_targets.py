"""Targets: the API (``tfloss.target``, ``set_target``, ``TFLOSS_TARGET``) and the
``"cpu-deterministic"`` target against real TF runs recorded with op determinism enabled
(``python -m parity.record_targets`` wrote ``tests/data/cpu_deterministic_tf2.21.0.*``).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.recorded import Recording, bits as _bits

import tfloss
from tfloss import _targets

_RECORDING = Recording("cpu_deterministic_tf2.21.0")
RECORD, CASES = _RECORDING.record, _RECORDING.cases
FORWARD = [name for name, case in CASES.items() if not case.get("gradient")]
GRADIENT = [name for name, case in CASES.items() if case.get("gradient")]


_array, _kwargs = _RECORDING.array, _RECORDING.kwargs


def _run(case, target):
    with tfloss.target(target):
        return getattr(tfloss.nn, case["op"])(**_kwargs(case))


# --------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------


def test_default_target_is_eager_cpu():
    assert tfloss.get_target() == "cpu"
    assert tfloss.TARGETS == ("cpu", "cpu-deterministic", "xla-cpu", "gpu")


def test_target_block_nests_and_restores():
    with tfloss.target("cpu-deterministic"):
        assert tfloss.get_target() == "cpu-deterministic"
        with tfloss.target("cpu"):
            assert tfloss.get_target() == "cpu"
        assert tfloss.get_target() == "cpu-deterministic"
    assert tfloss.get_target() == "cpu"


def test_target_block_restores_after_an_error():
    with pytest.raises(KeyError):
        with tfloss.target("cpu-deterministic"):
            raise KeyError("inside")
    assert tfloss.get_target() == "cpu"


def test_set_target_is_global_and_target_block_overrides_it():
    try:
        tfloss.set_target("cpu-deterministic")
        assert tfloss.get_target() == "cpu-deterministic"
        with tfloss.target("cpu"):
            assert tfloss.get_target() == "cpu"
        seen = []
        worker = threading.Thread(target=lambda: seen.append(tfloss.get_target()))
        worker.start()
        worker.join()
        assert seen == ["cpu-deterministic"]
    finally:
        tfloss.set_target("cpu")


def test_target_block_is_local_to_its_thread():
    seen = []
    with tfloss.target("cpu-deterministic"):
        worker = threading.Thread(target=lambda: seen.append(tfloss.get_target()))
        worker.start()
        worker.join()
    assert seen == ["cpu"]


@pytest.mark.parametrize("call", [tfloss.target, tfloss.set_target])
@pytest.mark.parametrize("name", ["tpu", "CPU", "", None, 3])
def test_unknown_target_is_a_one_line_value_error(call, name):
    with pytest.raises(ValueError) as caught:
        with call(name) if call is tfloss.target else _no_block(call(name)):
            pass
    message = str(caught.value)
    assert "\n" not in message
    for valid in tfloss.TARGETS:
        assert repr(valid) in message
    assert tfloss.get_target() == "cpu"


class _no_block:
    def __init__(self, _):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_environment_variable_chooses_the_target(monkeypatch):
    monkeypatch.setenv("TFLOSS_TARGET", "cpu-deterministic")
    assert _targets._from_environment() == "cpu-deterministic"
    monkeypatch.setenv("TFLOSS_TARGET", "")
    assert _targets._from_environment() == "cpu"
    monkeypatch.setenv("TFLOSS_TARGET", "tpu")
    with pytest.raises(ValueError, match="^TFLOSS_TARGET: unknown tfloss target 'tpu'"):
        _targets._from_environment()


_CALLS = {
    "nn.sparse": lambda: tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[0.0, 1.0]]),
    "nn.sigmoid": lambda: tfloss.nn.sigmoid_cross_entropy_with_logits(labels=[0.0], logits=[1.0]),
    "math.log_softmax": lambda: tfloss.math.log_softmax([[0.0, 1.0]]),
    "reduce_sum": lambda: tfloss.reduce_sum([1.0, 2.0]),
    "keras": lambda: tfloss.keras.losses.categorical_crossentropy([[0.0, 1.0]], [[0.3, 0.7]]),
    "v1.losses": lambda: tfloss.compat.v1.losses.sigmoid_cross_entropy([[1.0]], [[0.0]]),
    "gradient": lambda: tfloss.value_and_gradient(tfloss.nn.softmax_cross_entropy_with_logits,
                                                  labels=[[0.0, 1.0]], logits=[[0.0, 0.0]]),
}


# "xla-cpu" reproduces the four cross-entropy ops and their gradients only (tests/test_xla_cpu.py).
_XLA_CPU_CALLS = ("nn.sparse", "nn.sigmoid", "gradient")


@pytest.mark.parametrize("name", [t for t in tfloss.TARGETS if t not in _targets.IMPLEMENTED or t in _targets.PARTIAL])
@pytest.mark.parametrize("call", list(_CALLS))
def test_unimplemented_targets_raise_instead_of_computing_eager_results(name, call):
    if name == "xla-cpu" and call in _XLA_CPU_CALLS:
        pytest.skip("reproduced under xla-cpu")
    with tfloss.target(name), pytest.raises(NotImplementedError, match=f"target '{name}'"):
        _CALLS[call]()


def test_implemented_targets_compute():
    for name in _targets.IMPLEMENTED:
        with tfloss.target(name):
            assert np.isfinite(_CALLS["nn.sparse"]()).all()


# --------------------------------------------------------------------------------------------
# "cpu-deterministic" against TF with enable_op_determinism()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORWARD)
def test_deterministic_matches_recorded_tf(name):
    case = CASES[name]
    if "error" in case:
        with pytest.raises(Exception) as caught:
            _run(case, "cpu-deterministic")
        assert [type(caught.value).__name__, str(caught.value)] == case["error"]
    else:
        assert _bits(_run(case, "cpu-deterministic")) == _bits(_array(case["loss"]))


@pytest.mark.parametrize("name", GRADIENT)
def test_deterministic_gradient_matches_recorded_tf(name):
    case = CASES[name]
    upstream = _array(case["grad_loss"]) if "grad_loss" in case else None
    op = getattr(tfloss.nn, case["op"])
    with tfloss.target("cpu-deterministic"):
        loss, grads = tfloss.value_and_gradient(op, grad_loss=upstream, **_kwargs(case))
    assert _bits(loss) == _bits(_array(case["loss"]))
    assert _bits(grads["logits"]) == _bits(_array(case["grad_logits"]))
    if "grad_labels" in case:
        assert _bits(grads["labels"]) == _bits(_array(case["grad_labels"]))


def test_deterministic_sparse_rows_differ_from_the_fused_kernel():
    """Quirk: the log_softmax + gather path rounds some rows differently from the fused kernel
    (12 of 300 float32 rows in the recorded case), so the targets are not interchangeable."""
    case = CASES["sparse_float32_300x10"]
    expected = _array(case["loss"])
    eager = _run(case, "cpu")
    assert (eager != expected).sum() > 0
    assert _bits(_run(case, "cpu-deterministic")) == _bits(expected)


def test_deterministic_gradient_goes_through_log_softmax():
    """Quirk: the tape differentiates log_softmax and the gather, not the fused kernel's
    ``softmax - onehot``: most gradient elements differ in the last bits from eager TF's."""
    case = CASES["grad_sparse_float32"]
    op = getattr(tfloss.nn, case["op"])
    _, eager = tfloss.value_and_gradient(op, **_kwargs(case))
    assert (eager["logits"] != _array(case["grad_logits"])).mean() > 0.3


def test_deterministic_sparse_zero_loss_is_negative_zero():
    """Quirk: the loss is ``-(log_softmax at the label)``, so a certain row's loss is ``-0.0``."""
    logits = [[0.0, -np.inf], [-np.inf, 3.0]]
    with tfloss.target("cpu-deterministic"):
        loss = tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=logits)
    assert np.array_equal(loss, [0.0, 0.0]) and np.signbit(loss).all()
    eager = tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=logits)
    assert not np.signbit(eager).any()


def test_deterministic_dense_zero_classes_loss_is_negative_zero():
    """Quirk: with no classes the sum is empty and its negation ``-0.0``."""
    with tfloss.target("cpu-deterministic"):
        loss = tfloss.nn.softmax_cross_entropy_with_logits(labels=np.zeros((2, 0)), logits=np.zeros((2, 0)))
    assert loss.shape == (2,) and np.signbit(loss).all() and (loss == 0).all()


def test_deterministic_bad_sparse_label_raises_from_gather():
    """Quirk: a label outside [0, classes) fails in GatherV2, with GatherV2's text, and the
    error says which target raised it."""
    with tfloss.target("cpu-deterministic"), pytest.raises(tfloss.errors.InvalidArgumentError) as caught:
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 4, -1], logits=np.zeros((3, 4)))
    assert str(caught.value) == "indices[1] = 4 is not in [0, 4) [Op:GatherV2] name: "
    assert caught.value.target == "cpu-deterministic"
    assert any("target 'cpu-deterministic'" in note for note in getattr(caught.value, "__notes__", ["target 'cpu-deterministic'"]))


def test_eager_bad_sparse_label_error_names_its_target():
    with pytest.raises(tfloss.errors.InvalidArgumentError) as caught:
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 4], logits=np.zeros((2, 4)))
    assert str(caught.value).startswith("Received a label value of 4")
    assert caught.value.target == "cpu"


def test_deterministic_softmax_shape_mismatch_raises_from_mul():
    """Quirk: mismatched softmax shapes fail in Mul ("Incompatible shapes"), not in the kernel."""
    with tfloss.target("cpu-deterministic"), pytest.raises(tfloss.errors.InvalidArgumentError) as caught:
        tfloss.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0.0]], logits=[[0.0, 0.0, 0.0]])
    assert str(caught.value) == "Incompatible shapes: [1,2] vs. [1,3] [Op:Mul] name: "
    assert caught.value.target == "cpu-deterministic"


def test_deterministic_keras_sparse_loss_takes_the_gather_path():
    with tfloss.target("cpu-deterministic"), pytest.raises(tfloss.errors.InvalidArgumentError, match="GatherV2"):
        tfloss.keras.losses.sparse_categorical_crossentropy(np.array([3]), np.array([[0.0, 1.0]]), from_logits=True)


def test_deterministic_unreproduced_gradients_raise():
    with tfloss.target("cpu-deterministic"), pytest.raises(NotImplementedError, match="cpu-deterministic"):
        tfloss.hessian_vector_product(tfloss.nn.sparse_softmax_cross_entropy_with_logits, [[1.0, 0.0]],
                                      labels=[0], logits=[[0.0, 1.0]])
    with tfloss.target("cpu-deterministic"), pytest.raises(NotImplementedError, match="composite"):
        tfloss.value_and_gradient(tfloss.compat.v1.losses.sparse_softmax_cross_entropy,
                                  labels=np.array([0]), logits=np.array([[0.0, 1.0]]))
    # Losses that never reach the softmax kernels are the same on both targets, gradients too.
    with tfloss.target("cpu-deterministic"):
        _, grads = tfloss.value_and_gradient(tfloss.nn.sigmoid_cross_entropy_with_logits, labels=[1.0], logits=[0.0])
    assert grads["logits"].tolist() == [-0.5]
