"""The recorded results are what TF does: a sample replayed against live TF is bit-exact."""

from tfloss import conformance
from tfloss.conformance import catalogue, check, declared, golden
from tfloss.conformance import tensorflow as tfref

from parity.record import record, supplement_name


def test_recorded_outcomes_are_live_tf_outcomes():
    runs = catalogue.runs()
    reference = check.GoldenReference(golden.load(runs))
    assert reference.manifest["tensorflow"] == tfref.tf_version()
    # A run whose TF result depends on the softmax kernel (oneDNN's or Eigen's, chosen by the CPU:
    # float16 is oneDNN's only with AVX512-FP16) is compared with the recording made with this
    # CPU's kernels (the main one, or a supplement), where there is one.
    sample = [(r, reference.recording_for(r)[0]) for r in runs[::97] if r.case.group != "large"]
    sample = [(r, recording) for r, recording in sample if recording is not None]
    assert len(sample) > 250
    for (run, recording), live in zip(sample, record([r for r, _ in sample], progress=False)):
        stored = recording.outcome(run.id)
        assert stored.raised == live.raised, run.id
        if live.raised:
            assert (stored.error_kind, stored.error_name, stored.message) == (
                live.error_kind, live.error_name, live.message), run.id
        else:
            for a, b in zip(stored.values, live.values):
                assert (a is None) == (b is None), run.id
                if a is not None:
                    assert (a.dtype, a.shape, a.tobytes()) == (b.dtype, b.shape, b.tobytes()), (run.id, recording.name)


def test_tensorflow_as_the_implementation_is_bit_exact_with_its_recording():
    results = conformance.run_checks("tensorflow", cases=["nn.*:float16:special:*", "grad_upstream:nn.*:bfloat16:ordinary:*",
                                                         "hvp:nn.*:float32:tiny:*", "*:-:errors.label_range:*",
                                                         "nn.*:bfloat16:large.*:*"])
    # Live TF, like tfloss, is judged by the recording made with this CPU's softmax kernels; a
    # kernel-dependent run on a CPU that runs other kernels than every recording is not supported.
    compared = [r for r in results if r.outcome != "not supported"]
    assert compared and {r.outcome for r in compared} == {"bit-exact"}, [
        (r.id, r.outcome, r.detail) for r in compared if r.outcome != "bit-exact"][:5]
    assert all(r.detail.startswith(declared.PLATFORM_GAP) for r in results if r.outcome == "not supported")


def test_a_supplement_is_named_after_the_kernels_it_was_recorded_with():
    eigen = {"float16": "Eigen", "bfloat16": "Eigen", "float32": "Eigen", "float64": "Eigen"}
    zen4 = {**eigen, "bfloat16": "oneDNN", "float32": "oneDNN"}
    assert supplement_name(eigen, 16) == "eigen"
    assert supplement_name(zen4, 16) == "onednn"
    assert supplement_name({**zen4, "float16": "oneDNN"}, 16) == "onednn-fp16"
    assert supplement_name({**eigen, "float32": "oneDNN"}, 8) == "onednn-8lanes"
