"""The recorded results are what TF does: a sample replayed against live TF is bit-exact."""

from tfloss import conformance
from tfloss.conformance import catalogue, golden
from tfloss.conformance import tensorflow as tfref

from parity.record import record


def test_recorded_outcomes_are_live_tf_outcomes():
    runs = catalogue.runs()
    recorded = golden.load(runs)
    assert recorded.manifest["tensorflow"] == tfref.tf_version()
    sample = [r for r in runs[::97] if r.case.group != "large"]
    for run, live in zip(sample, record(sample, progress=False)):
        stored = recorded.outcome(run.id)
        assert stored.raised == live.raised, run.id
        if live.raised:
            assert (stored.error_kind, stored.error_name, stored.message) == (
                live.error_kind, live.error_name, live.message), run.id
        else:
            for a, b in zip(stored.values, live.values):
                assert (a is None) == (b is None), run.id
                if a is not None:
                    assert (a.dtype, a.shape, a.tobytes()) == (b.dtype, b.shape, b.tobytes()), run.id


def test_tensorflow_as_the_implementation_is_bit_exact_with_its_recording():
    results = conformance.run_checks("tensorflow", cases=["nn.*:float16:special:*", "grad_upstream:nn.*:bfloat16:ordinary:*",
                                                         "hvp:nn.*:float32:tiny:*", "*:-:errors.label_range:*",
                                                         "nn.*:bfloat16:large.*:*"])
    assert results and {r.outcome for r in results} == {"bit-exact"}, [
        (r.id, r.outcome, r.detail) for r in results if r.outcome != "bit-exact"][:5]
