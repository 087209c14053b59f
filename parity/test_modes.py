"""parity.modes: the error-text normalisation of the function mode, and the mode table."""

from __future__ import annotations

from parity import modes


def test_core_message_removes_graph_and_eager_decorations():
    eager = "Received a label value of 2 which is outside the valid range of [0, 2).  Label values: 1 2 0 [Op:SparseSoftmaxCrossEntropyWithLogits] name: "
    graph = ("Received a label value of 2 which is outside the valid range of [0, 2).  Label values: 1 2 0\n\t "
             "[[{{node SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits}}]] [Op:__inference_<lambda>_11]")
    outer = ("Graph execution error:\n\nDetected at node X defined at (most recent call last):\n  File \"a.py\", line 1\n\n"
             "  File \"b.py\", line 2\n\n" + graph.replace("__inference_<lambda>_11", "__forward_f_20"))
    core = "Received a label value of 2 which is outside the valid range of [0, 2).  Label values: 1 2 0"
    assert modes.core_message(eager) == modes.core_message(graph) == modes.core_message(outer) == core
    assert modes.core_message("`logits` cannot be a scalar.") == "`logits` cannot be a scalar."
    assert modes.core_message(None) is None


def test_modes_name_their_tfloss_target():
    import tfloss

    assert {m.name: m.target for m in modes.MODES.values()} == {
        "eager": "cpu", "function": "cpu", "deterministic": "cpu-deterministic", "xla": "xla-cpu"}
    assert all(m.target in tfloss.TARGETS for m in modes.MODES.values())


def test_xla_mode_runs_only_the_four_ops_and_their_gradients():
    xla = modes.MODES["xla"]
    assert modes.runs(xla, "nn.sparse_softmax_cross_entropy_with_logits")
    assert modes.runs(xla, "grad_upstream:compat.v1.nn.weighted_cross_entropy_with_logits")
    assert not modes.runs(xla, "math.softmax")
    assert not modes.runs(xla, "hvp:nn.sigmoid_cross_entropy_with_logits")
    assert modes.runs(modes.MODES["eager"], "math.softmax")


def test_core_message_drops_the_stack_trace_xla_appends():
    message = "Must have at least one class, but got logits shape [2,0]\n\nStack trace for op definition: \nFile ..."
    assert modes.core_message(message) == "Must have at least one class, but got logits shape [2,0]"


def _xla_in_this_process(cases, chosen):
    import tfloss
    from parity import runner

    runner.MODE = modes.MODES["xla"]
    try:
        with tfloss.target("xla-cpu"):
            return list(runner.run_cases(cases, chosen))
    finally:
        runner.MODE = modes.MODES["eager"]


def test_xla_mode_runs_in_fresh_processes_and_reports_what_one_process_would():
    # TF keeps every XLA program until its process ends; a whole xla run outgrew one process
    # (parity.processes), so the xla mode hands slices of its runs to children.
    import os
    from dataclasses import replace

    from parity import processes, targets
    from tfloss.conformance import catalogue

    xla = replace(modes.MODES["xla"], runs_per_process=5)
    chosen = [t for t in targets.all_targets() + targets.gradient_targets() if modes.runs(xla, t.name)]
    cases = [c for c in catalogue.all_cases(large=False) if c.family == "sparse" and c.dtype == "float32"][:4]
    seen = []
    children = list(processes.run_cases(cases, chosen, xla, large=False,
                                        progress=lambda done, total, record: seen.append((done, total))))
    alone = _xla_in_this_process(cases, chosen)
    assert len(alone) > xla.runs_per_process  # so the work took more than one child
    assert [r.to_json() for r in children] == [r.to_json() for r in alone]
    assert seen == [(i, len(alone)) for i in range(1, len(alone) + 1)]
    with processes._pool(xla, 1) as pool:  # one slice per child: no child lives on to a second
        assert len({pool.submit(os.getpid).result() for _ in range(2)}) == 2


def test_xla_mode_reproduces_the_gradient_of_a_tensor_pos_weight():
    # A NumPy pos_weight of the logits' dtype is a compiled function's argument that the tape
    # watches: tfloss's xla-cpu target returns its gradient (and the labels' and logits') with
    # TF's bits, in every dtype, for the catalogue's (C,), full and (B.., 1) shapes.  The tape in TF
    # watches it as in eager mode (parity.runner decides from the NumPy inputs).
    from parity import targets
    from tfloss.conformance import catalogue

    xla = modes.MODES["xla"]
    chosen = [t for t in targets.gradient_targets() if modes.runs(xla, t.name) and "nn.weighted" in t.name]
    cases = [c for c in catalogue.all_cases(large=False)
             if c.family == "weighted" and c.group == "values" and "/pw_array_" in c.id
             and c.id.split("/")[2] in ("matrix", "rank3", "one_class", "rank4")]
    assert {c.dtype for c in cases} == {"float16", "bfloat16", "float32", "float64"}
    records = _xla_in_this_process(cases, chosen)
    assert any(r.target.startswith("grad_upstream:") for r in records)
    assert all(r.status == "pass" for r in records), [(r.case_id, r.target, r.status, r.detail) for r in records
                                                      if r.status != "pass"][:5]
    # bit for bit, NaN payloads aside (the special regime's NaNs)
    assert all(r.n_bit_exact == r.n_elements for r in records if r.kind == "value" and "/special/" not in r.case_id)


def test_xla_mode_judges_a_grad_upstream_fallback_with_eager_tfs_upstream():
    # Under XLA a float16 NumPy pos_weight with float32 logits is a float16 argument: TF raises a
    # TypeError while tracing (Mul of float32 and float16), eager TF casts the array and returns
    # values, as tfloss does.  The checker's upstream then came from XLA's forward loss, which
    # raised; the eager fallback must judge tfloss with eager TF's upstream, so the run is a mode
    # difference, not a failure.
    from parity import targets
    from tfloss.conformance import catalogue

    chosen = [t for t in targets.gradient_targets() if t.name.startswith("grad_upstream:") and "nn.weighted" in t.name]
    cases = [c for c in catalogue.error_cases() if c.id == "errors/weighted/pos_weight_other_dtype"]
    assert len(cases) == 1 and len(chosen) == 2
    records = _xla_in_this_process(cases, chosen)
    assert [r.status for r in records] == ["mode", "mode"], [(r.target, r.status, r.detail) for r in records]
    assert all("TypeError" in r.detail for r in records)
