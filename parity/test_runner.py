"""The runner judges correctly: fake tfloss functions that are wrong in one way each must fail."""

from dataclasses import dataclass

import numpy as np
import pytest

from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.catalogue import Case

from parity.runner import run_case
from parity.targets import Target, magnitude_sigmoid, resolve

LABELS = np.array([[0.0, 1.0, 0.25]], np.float32)
LOGITS = np.array([[-3.0, 0.5, 20.0]], np.float32)
CASE = Case("runner/sigmoid", "sigmoid", {"labels": LABELS, "logits": LOGITS}, dtype="float32")
BAD_CASE = Case("runner/sigmoid_mismatch", "sigmoid", {"labels": LABELS, "logits": LOGITS[:, :2]}, dtype="float32")


def tf_sigmoid(**kwargs):
    return tfref.to_numpy(resolve("tensorflow", "nn.sigmoid_cross_entropy_with_logits")(**kwargs))


@dataclass(frozen=True)
class Fake(Target):
    """A target whose 'tfloss' side is a given Python function."""

    fake: object = None

    def tfloss_callable(self):
        return self.fake

    def available(self):
        return True


def fake(fn):
    return Fake("nn.sigmoid_cross_entropy_with_logits", "sigmoid", magnitude=magnitude_sigmoid, fake=fn)


def test_tf_itself_passes():
    assert run_case(CASE, fake(tf_sigmoid)).status == "pass"


@pytest.mark.parametrize("wrong, why", [
    (lambda **kw: tf_sigmoid(**kw).astype(np.float64), "dtype"),
    (lambda **kw: tf_sigmoid(**kw)[0], "shape"),
    (lambda **kw: tf_sigmoid(**kw).tolist(), "result type"),
    (lambda **kw: np.where(np.arange(3) == 0, np.float32(np.nan), tf_sigmoid(**kw)), "pattern"),
    (lambda **kw: -tf_sigmoid(**kw) * 0 + tf_sigmoid(**kw) * np.float32(1 + 2e-6), "bound"),
])
def test_wrong_values_fail(wrong, why):
    record = run_case(CASE, fake(wrong))
    assert record.status == "fail", why


def test_a_few_ulps_pass_but_not_more():
    def nudge(k):
        def fn(**kw):
            out = tf_sigmoid(**kw)
            return (out.view(np.uint32) + np.uint32(k)).view(np.float32)
        return fn

    assert run_case(CASE, fake(nudge(2))).status == "pass"
    assert run_case(CASE, fake(nudge(64))).status == "fail"


def test_mutating_an_input_fails():
    def mutate(labels, logits, name=None):
        out = tf_sigmoid(labels=labels, logits=logits)
        logits[...] = 0
        return out

    record = run_case(CASE, fake(mutate))
    assert record.status == "fail" and "modified an input" in record.detail


def test_returning_a_view_of_an_input_fails():
    record = run_case(CASE, fake(lambda labels, logits, name=None: logits))
    assert record.status == "fail"


def test_errors_need_same_class_and_message():
    tf_out = tfref.run_tf(resolve("tensorflow", "nn.sigmoid_cross_entropy_with_logits"), (), BAD_CASE.inputs)
    assert tf_out.raised and tf_out.error_name == "ValueError"

    def same(**kw):
        raise ValueError(tf_out.message)

    def other_class(**kw):
        raise TypeError(tf_out.message)

    def other_text(**kw):
        raise ValueError(tf_out.message + " ")

    assert run_case(BAD_CASE, fake(same)).status == "pass"
    assert run_case(BAD_CASE, fake(other_class)).status == "fail"
    assert run_case(BAD_CASE, fake(other_text)).status == "fail"
    assert run_case(BAD_CASE, fake(tf_sigmoid)).status == "pass"  # TF itself raises the same
    assert run_case(CASE, fake(same)).status == "fail"  # raising where TF returns


def test_crash_screen_runs_tf_in_a_child_and_reports_no_crash_for_ordinary_input():
    from parity.isolate import CrashScreen, is_risky
    from parity.targets import NN_TARGETS

    screen = CrashScreen()
    try:
        target = next(t for t in NN_TARGETS if t.name == "nn.sigmoid_cross_entropy_with_logits")
        assert not screen.crashes(CASE, target)
        assert not screen.crashes(BAD_CASE, target)  # a Python exception in TF is not a crash
        assert screen.crashed == []
    finally:
        screen.close()
    empty = Case("runner/empty", "softmax", {"labels": np.zeros((0,), np.float16), "logits": np.zeros((0,), np.float16)})
    assert is_risky(empty) and not is_risky(CASE)
