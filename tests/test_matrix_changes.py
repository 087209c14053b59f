"""The TF release matrix's change table (parity.matrix_changes), on synthetic per-release results.

No TensorFlow: every observation is written out here, with the answer known by construction.
"""

from __future__ import annotations

import pytest

from parity import matrix
from parity import matrix_changes as mc


def raised(error="tf.errors.InvalidArgumentError", message="bad"):
    return {"raised": True, "error": error, "message": message}


def returned(*outputs):
    return {"raised": False, "outputs": [None if o is None else {"dtype": o[0], "shape": list(o[1]), "preview": "[]",
                                                                 "digest": o[2]} for o in outputs]}


def obs(function, case, status, tf=None, tfloss=None, detail="", inputs="x"):
    return {"function": function, "case": case, "status": status, "tf": tf, "tfloss": tfloss, "detail": detail,
            "inputs": inputs}


def results(**per_release):
    """``results(r2_12=[...], ...)`` -> ``{"2.12": {"observations": [...]}}``."""
    return {key[1:].replace("_", "."): {"observations": value} for key, value in per_release.items()}


def test_version_order_is_numeric():
    assert sorted(["2.21", "2.9", "2.12", "2.12.1"], key=mc.version_key) == ["2.9", "2.12", "2.12.1", "2.21"]


def test_passing_and_declared_releases_share_the_reference_signature():
    a = obs("f", "c", "pass", returned(("float32", (2,), "aaa")))
    b = obs("f", "c", "declared", returned(("float32", (2,), "bbb")))
    assert mc.signature(a) == mc.signature(b) == ("reference",)


def test_releases_that_differ_alike_share_a_signature_and_differently_do_not():
    a = obs("f", "c", "release", raised(message="old"))
    b = obs("f", "c", "release", raised(message="old"))
    c = obs("f", "c", "release", raised(message="older"))
    assert mc.signature(a) == mc.signature(b) != mc.signature(c)


@pytest.mark.parametrize("before, after, kind", [
    (obs("f", "c", "crash"), obs("f", "c", "pass", raised()), "crash"),
    (obs("f", "c", "unavailable", detail="tf.nn.f not available"), obs("f", "c", "pass", raised()), "availability"),
    (obs("f", "c", "error", detail="AttributeError: x"), obs("f", "c", "pass", raised()), "availability"),
    (obs("f", "c", "release", raised("builtins.ValueError", "Only call `f` with named arguments (labels=...)")),
     obs("f", "c", "pass", raised("builtins.TypeError", "f() takes 0 positional arguments")), "_sentinel handling"),
    (obs("f", "c", "release", raised("builtins.ValueError", "m")), obs("f", "c", "pass", raised("builtins.TypeError", "m")),
     "error class"),
    (obs("f", "c", "release", raised(message="old text")), obs("f", "c", "pass", raised(message="new text")),
     "error text"),
    (obs("f", "c", "release", raised(message="no [Op:Mul]")), obs("f", "c", "pass", raised(message="no [Op:Mul] name: ")),
     "error suffix"),
    (obs("f", "c", "release", raised()), obs("f", "c", "pass", returned(("float32", (1,), "d"))), "raises vs returns"),
    (obs("f", "c", "release", returned(("float32", (1,), "d"), None)),
     obs("f", "c", "pass", returned(("float32", (1,), "d"), ("float32", (1,), "e"))), "gradient structure"),
    (obs("f", "c", "release", returned(("float64", (1,), "d"))), obs("f", "c", "pass", returned(("float32", (1,), "d"))),
     "dtype rule"),
    (obs("f", "c", "release", returned(("float32", (2,), "d"))), obs("f", "c", "pass", returned(("float32", (1,), "d"))),
     "shape rule"),
    (obs("f", "c", "release", returned(("float32", (1,), "d"))), obs("f", "c", "pass", returned(("float32", (1,), "e"))),
     "values"),
    (obs("f", "c", "release", returned(("float32", (1,), "d"))), obs("f", "c", "pass", returned(("float32", (1,), "d"))),
     "tfloss side"),
])
def test_classify(before, after, kind):
    assert mc.classify(before, after) == kind


def test_one_event_where_a_release_stops_differing():
    old = raised(message="Both labels and logits must be provided.")
    new = raised(message="Both `labels` and `logits` must be provided for f")
    data = results(r2_12=[obs("f", "c", "release", old)], r2_13=[obs("f", "c", "release", old)],
                   r2_14=[obs("f", "c", "pass", new)], r2_15=[obs("f", "c", "pass", new)])
    events = mc.change_events(data)
    assert [(e["before"], e["after"], e["kind"]) for e in events] == [("2.13", "2.14", "error text")]


def test_a_release_without_the_case_is_passed_over():
    data = results(r2_12=[obs("f", "c", "release", raised())], r2_13=[],
                   r2_14=[obs("f", "c", "pass", returned(("float32", (1,), "d")))])
    events = mc.change_events(data)
    assert [(e["before"], e["after"], e["kind"]) for e in events] == [("2.12", "2.14", "raises vs returns")]


def test_no_event_when_every_release_agrees():
    same = raised(message="x")
    data = results(r2_12=[obs("f", "c", "release", same)], r2_13=[obs("f", "c", "release", same)])
    assert mc.change_events(data) == []


def test_a_change_back_and_forth_is_two_events():
    data = results(r2_12=[obs("f", "c", "pass", raised())], r2_13=[obs("f", "c", "crash")],
                   r2_14=[obs("f", "c", "pass", raised())])
    assert [(e["before"], e["after"], e["kind"]) for e in mc.change_events(data)] == [
        ("2.12", "2.13", "crash"), ("2.13", "2.14", "crash")]


def test_alike_changes_fold_into_one_row_with_the_briefest_example():
    data = results(
        r2_15=[obs("f", "c1", "release", raised(message="rank 3 given"), inputs="long inputs description"),
               obs("g", "c2", "release", raised(message="rank 4 given"), inputs="short"),
               obs("g", "c3", "release", returned(("float32", (1,), "d")))],
        r2_16=[obs("f", "c1", "pass", raised(message="got rank 3")),
               obs("g", "c2", "pass", raised(message="got rank 4")),
               obs("g", "c3", "pass", returned(("float32", (1,), "e")))])
    rows = mc.group_events(mc.change_events(data))
    assert [(r["kind"], r["count"], r["functions"]) for r in rows] == [("error text", 2, ["f", "g"]),
                                                                       ("values", 1, ["g"])]
    assert rows[0]["example"]["case"] == "c2"


def test_counts_per_release_and_function():
    data = results(r2_12=[obs("f", "a", "pass", raised()), obs("f", "b", "release", returned()),
                          obs("f", "c", "fail", returned()), obs("f", "d", "declared", returned()),
                          obs("f", "e", "error"), obs("f", "g", "crash"), obs("f", "h", "skip", raised()),
                          obs("k", "a", "unavailable")])
    row = mc.counts(data)["2.12"]["f"]
    assert row == {"cases": 7, "passed": 1, "failed": 2, "declared": 1, "errors": 1, "crashes": 1, "unavailable": 0,
                   "skipped": 1, "tf_raised": 2}
    assert mc.counts(data)["2.12"]["k"]["unavailable"] == 1


def test_versus_reference_uses_the_reference_release_or_tfloss():
    tfloss_says = raised("builtins.TypeError", "m")
    data = results(r2_12=[obs("f", "c", "release", raised("builtins.ValueError", "m"), tfloss_says),
                          obs("f", "d", "pass", raised(), raised())],
                   r2_21=[obs("f", "c", "pass", tfloss_says, tfloss_says), obs("f", "d", "pass", raised(), raised())])
    assert mc.versus_reference(data, "2.21") == {"2.12": {"error class": 1}, "2.21": {}}
    assert mc.versus_reference(data)["2.12"] == {"error class": 1}


def test_the_markdown_report_shows_each_change_with_its_example():
    data = results(r2_15=[obs("nn.f", "errors/x", "release", raised(message="old words"), inputs="logits=float32[2]")],
                   r2_16=[obs("nn.f", "errors/x", "pass", raised(message="new words"), inputs="logits=float32[2]")])
    for release, versions in (("2.15", "2.15.1"), ("2.16", "2.16.2")):
        data[release].update(status="ran", versions={"tensorflow": versions, "numpy": "1.26.4", "keras": "3.15.1",
                                                     "tf_keras": "3.15.1"},
                             keras_compared=True, keras_note="", seconds=1.0, install={"package": "tensorflow-cpu"})
    data["2.14"] = {"status": "not installed", "reason": "no wheel", "install": {"package": "tensorflow-cpu"}}
    report = matrix.build_report(data, sample=4)
    text = matrix.markdown(data, report)
    assert "error text: 2.15 -> 2.16 (1 cases; `nn.f`)" in text
    assert "- TF 2.15: tf.errors.InvalidArgumentError: old words" in text
    assert "- TF 2.16: tf.errors.InvalidArgumentError: new words" in text
    assert "| 2.14 | **not installed**: no wheel |" in text
    assert "every 4th case" in text
    assert "| `nn.f` | 0/1/0/0 | 1/0/0/0 |" in text


def test_a_change_in_the_name_suffix_alone_folds_across_ops():
    def pair(case, op, text):
        old = obs("f" + op, case, "release", raised(message=f"{text} [Op:{op}]"))
        new = obs("f" + op, case, "pass", raised(message=f"{text} [Op:{op}] name: "))
        return old, new
    a_old, a_new = pair("c1", "Mul", "Incompatible shapes: [4] vs. [2,3]")
    b_old, b_new = pair("c2", "Range", "Requires start <= limit when delta > 0: 0/-2")
    c_old = obs("fSub", "c3", "release", raised(message="cannot compute Sub as input #1 [Op:Sub]"))
    c_new = obs("fSub", "c3", "pass", raised(message="cannot compute Mul as input #1 [Op:Mul] name: "))
    rows = mc.group_events(mc.change_events(results(r2_12=[a_old, b_old, c_old], r2_13=[a_new, b_new, c_new])))
    assert [(r["kind"], r["count"], r["note"] != "") for r in rows] == [("error suffix", 2, True), ("error text", 1, False)]
    assert rows[0]["note"] == "only the end of the eager op error differs: '[Op:Name]' -> '[Op:Name] name: '"
    assert rows[1]["functions"] == ["fSub"]


def test_crashes_fold_by_release_pair_whatever_the_other_side_gave():
    data = results(r2_15=[obs("f", "a", "pass", raised()), obs("g", "b", "pass", returned(("float32", (2,), "d"))),
                          obs("g", "c", "pass", raised())],
                   r2_16=[obs("f", "a", "crash"), obs("g", "b", "crash"), obs("g", "c", "pass", raised())],
                   r2_17=[obs("f", "a", "pass", raised()), obs("g", "b", "crash"), obs("g", "c", "pass", raised())])
    rows = mc.group_events(mc.change_events(data))
    assert [(r["kind"], r["before"], r["after"], r["count"]) for r in rows] == [("crash", "2.15", "2.16", 2),
                                                                                ("crash", "2.16", "2.17", 1)]


def test_case_ids_written_by_numpy_1_and_2_are_one_case():
    assert mc.case_key("errors/softmax/axis_np.int32(1)") == "errors/softmax/axis_1"
    assert mc.case_key("errors/softmax/axis_np.float64(2.5)") == "errors/softmax/axis_2.5"
    data = results(r2_17=[obs("f", "errors/softmax/axis_1", "release", raised())],
                   r2_18=[obs("f", "errors/softmax/axis_np.int32(1)", "pass", returned(("float32", (2,), "d")))])
    assert [(e["before"], e["after"], e["kind"]) for e in mc.change_events(data)] == [("2.17", "2.18", "raises vs returns")]
