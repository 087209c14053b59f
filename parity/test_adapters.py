"""The checker's built-in adapters, run for real on a small selection of the catalogue.

``--impl tensorflow`` (live TF 2.21) must reproduce TF's recorded results bit for bit, and
``--impl keras`` (``keras.ops`` on the TensorFlow backend here, on the numpy backend in a child
process) must run, map TF's calls onto Keras's, and report what it cannot express as *not
supported*.  The torch, jax and onnxruntime adapters need their frameworks, which only the
``make frameworks`` environment has; tests/test_conformance.py covers their framework-free parts.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tfloss.conformance import catalogue, check, declared, golden, impls

# A few runs of every kind: the four ops over each dtype, the gradients, compat.v1, the errors.
SELECTION = [
    "nn.*:float32:ordinary:[0-2]", "nn.*:float64:tiny:0", "nn.*:float16:special:[01]", "nn.*:bfloat16:ties:0",
    "nn.*:-:errors.*:0", "compat.v1.nn.*:float64:ordinary:0", "grad:nn.*:float32:ordinary:0",
    "grad_upstream:nn.*:float16:ordinary:0", "hvp:nn.*:float64:ordinary:0",
]


@pytest.fixture(scope="module")
def setup():
    # value and error cases only: their run ids are the full catalogue's (the counters run per
    # function, dtype and regime), and they are cheap to build
    runs = catalogue.runs(catalogue.value_cases() + catalogue.error_cases())
    reference = check.GoldenReference(golden.load(verify=False))
    return runs, reference, check.select(runs, cases=SELECTION)


def _check(name, setup):
    runs, reference, selected = setup
    checker = check.Checker(impls.load(name), reference, check.op_run_index(runs))
    return {r.id: r for r in map(checker.check, selected)}


def test_live_tensorflow_reproduces_its_recorded_results_bit_for_bit(setup):
    runs, reference, selected = setup
    results = _check("tensorflow", setup)
    assert len(results) == len(selected) > 60
    assert {r.id.split(":")[0] for r in selected} >= {"grad", "grad_upstream", "hvp", "compat.v1.nn.sigmoid_cross_entropy_with_logits"}
    # judged by the recording made with this CPU's softmax kernels; where none was, not supported
    comparable = [r for r in results.values() if r.outcome != check.NOT_SUPPORTED]
    assert comparable and all(r.detail.startswith(declared.PLATFORM_GAP) for r in results.values()
                              if r.outcome == check.NOT_SUPPORTED)
    assert {r.outcome for r in comparable} == {check.BIT_EXACT}, [
        (r.id, r.detail) for r in comparable if r.outcome != check.BIT_EXACT][:3]


def test_keras_on_tensorflow_maps_the_calls_and_says_what_it_cannot_express(setup):
    results = _check("keras", setup)
    by = Counter(r.outcome for r in results.values())
    assert by[check.FAIL] == 0  # Keras's TF backend calls tf.nn: the values are TF's
    # from_logits losses with the class axis, float and integer labels: TF's values bit for bit
    for op in ("sigmoid", "softmax", "sparse_softmax"):
        for dtype, regime in (("float32", "ordinary:0"), ("float16", "special:0"), ("bfloat16", "ties:0")):
            run_id = f"nn.{op}_cross_entropy_with_logits:{dtype}:{regime}"
            assert results[run_id].outcome == check.BIT_EXACT, (run_id, results[run_id].detail)
    # no pos_weight, no compat.v1, no gradient API: not supported, never a failure
    for run_id, result in results.items():
        if run_id.startswith(("nn.weighted", "compat.v1.", "grad:", "grad_upstream:", "hvp:")):
            assert result.outcome == check.NOT_SUPPORTED and "keras-tensorflow has no" in result.detail, run_id
    # TF's Python signature (unknown keywords, _sentinel) is the adapter's: not supported either
    keyword = results["nn.sigmoid_cross_entropy_with_logits:-:errors.keyword:0"]
    assert keyword.outcome == check.NOT_SUPPORTED and "signature" in keyword.detail
    # a missing argument: Keras raises TF's class with its own message
    none = results["nn.sigmoid_cross_entropy_with_logits:-:errors.none_argument:0"]
    assert none.outcome == check.ERROR_MISMATCH and none.detail.startswith("message:")


def test_keras_through_the_command_line_with_shard_and_expect(setup, tmp_path, capsys):
    # The adapter as a user runs it: --impl keras with --shard and --expect (Keras on whichever
    # backend is configured: TensorFlow here; the numpy backend would need SciPy).
    from tfloss.conformance import cli

    expect = tmp_path / "keras.expect"
    expect.write_text("# Keras raises its own message for a missing argument\n"
                      "nn.sigmoid*:-:errors.none_argument:*  Keras's own message\n"
                      "nn.*:float64:*  matches no run of this selection\n")
    selection = ["--cases", "nn.sigmoid*:float32:ordinary:[0-3]", "--cases", "nn.sigmoid*:-:errors.none_argument:*",
                 "--cases", "nn.weighted*:float32:ordinary:[01]"]
    listed = [r.id for r in check.select(setup[0], cases=selection[1::2])]  # what --list prints
    assert len(listed) == 9
    report = tmp_path / "r.json"
    status = cli.main(["--impl", "keras", *selection, "--shard", "2/2", "--expect", str(expect),
                       "--json", str(report), "--quiet"])
    err = capsys.readouterr().err
    assert status == 0, err
    data = json.loads(report.read_text())
    assert data["implementation"]["name"] == "keras-tensorflow"
    cases = {c["id"]: c for c in data["cases"]}
    assert list(cases) == listed[1::2]  # shard 2 of 2: every other run, from the second
    for run_id, c in cases.items():
        expected = {"ordinary": check.BIT_EXACT, "errors.none_argument": check.EXPECTED_FAIL}[run_id.split(":")[2]]
        if run_id.startswith("nn.weighted"):
            expected = check.NOT_SUPPORTED
        assert c["outcome"] == expected, (run_id, c)
    assert data["totals"]["expected_fail"] >= 1 and data["totals"]["not_supported"] == 1
    assert "warning: --expect line 3 'nn.*:float64:*' matches no run" in err
