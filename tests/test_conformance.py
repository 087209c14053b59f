"""tfloss.conformance without TensorFlow: recorded results, the checker, and its command line.

The replay test is what makes ``make test`` prove TF parity without TF: a fresh interpreter in
which TensorFlow cannot be imported replays every run TF 2.21 recorded against tfloss, and must
pass.  The other tests show the checker can fail: a deliberately wrong implementation fails with
the right run ids and a reproduction line, mistakes in the command exit 2 in one line, stale or
damaged recorded results are refused.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tfloss.conformance import catalogue, check, golden, impls
from tfloss.conformance.compare import Digest, Outcome, compare_digest, digest, strip_function_node
from tfloss.conformance.functions import ALL_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tfloss" / "conformance"

# A fresh interpreter that cannot import TensorFlow, then runs the checker's command line.
HIDDEN_TF = textwrap.dedent("""
    import importlib.abc, sys

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorboard"):
                raise ImportError("blocked by tests/test_conformance.py: " + name)
            return None

    sys.meta_path.insert(0, Blocker())
    sys.argv = ["tfloss-conformance"] + sys.argv[1:]
    from tfloss.conformance.cli import main
    status = main()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
    assert not loaded, loaded
    sys.exit(status)
""")


def checker(*args, cwd=None, timeout=600):
    """Run the command line with TensorFlow hidden; (exit status, stdout, stderr)."""
    env_path = str(ROOT) if cwd is None else f"{cwd}:{ROOT}"
    run = subprocess.run([sys.executable, "-c", HIDDEN_TF, *args], capture_output=True, text=True,
                         timeout=timeout, cwd=cwd or ROOT, env={**_env(), "PYTHONPATH": env_path})
    return run.returncode, run.stdout, run.stderr


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def runs():
    return catalogue.runs()


# --- the recorded results ------------------------------------------------------------------------


def test_the_catalogue_does_not_depend_on_numpys_simd_loops(runs):
    # NumPy picks SIMD loops by the CPU (float64 exp has one only on AVX-512, which rounds
    # differently): a catalogue built from them held other inputs on another machine, and the
    # recorded results went stale there.  Build it again with every SIMD loop NumPy would
    # dispatch here turned off.
    umath = pytest.importorskip("numpy._core._multiarray_umath")
    features = [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]
    if not features:
        pytest.skip("NumPy dispatches no SIMD loop on this CPU")
    code = "from tfloss.conformance import catalogue, golden; print(golden.catalogue_hash(catalogue.runs()))"
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(features)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == golden.catalogue_hash(runs), features


def test_recorded_results_are_fresh_against_the_catalogue(runs):
    # Fails when the catalogue (its inputs, ids or runs) changed since `make golden`.
    recorded = golden.load(runs)
    assert golden.stale_reasons(recorded, runs) == []
    manifest = recorded.manifest
    assert manifest["tensorflow"] == golden.RECORDED_TF
    assert manifest["runs"] == len(runs) == len(recorded.run_ids)
    assert {f.name for f in ALL_FUNCTIONS} == set(manifest["counts"])  # every public function, gradients included
    assert set(manifest["softmax_kernels"]) == {"float16", "bfloat16", "float32", "float64"}
    assert manifest["mode"] and manifest["cpu"] and manifest["catalogue_hash"]


def test_recorded_results_fit_the_size_budget():
    # the main recording and its supplements, all the package ships
    files = list(golden.DATA_DIR.iterdir())
    assert set(golden.paths()) < set(files)
    assert sum(f.stat().st_size for f in files) < 3_000_000


def test_the_supplement_covers_exactly_the_kernel_dependent_runs_with_other_kernels(runs):
    from tfloss.conformance import declared

    recorded = golden.load(runs)  # checks each supplement's hash and counts too
    assert golden.supplements() == ["onednn"] and [s.name for s in recorded.supplements] == ["tf2.21.0-onednn"]
    supplement = recorded.supplements[0].manifest
    dependent = {f.name for f in ALL_FUNCTIONS} & set(declared.KERNEL_DEPENDENT)
    assert set(supplement["functions"]) == dependent == set(supplement["counts"])
    assert supplement["runs"] == sum(run.function.name in dependent for run in runs) > 6000
    assert supplement["tensorflow"] == recorded.manifest["tensorflow"]
    # recorded where TF runs oneDNN's float32 and bfloat16 softmax on 16 lanes, the main one Eigen's
    assert set(recorded.manifest["softmax_kernels"].values()) == {"Eigen"}
    assert supplement["softmax_kernels"] == {"float16": "Eigen", "bfloat16": "oneDNN", "float32": "oneDNN",
                                             "float64": "Eigen"}
    assert supplement["onednn_lanes"] == 16


def test_a_stale_supplement_is_refused(tmp_path, runs):
    from tfloss.conformance import declared

    for path in golden.paths():
        shutil.copy(path, tmp_path / path.name)
    dependent = [run for run in runs if run.function.name in declared.KERNEL_DEPENDENT]
    outcome = Outcome(values=(np.zeros(1, np.float32),))
    golden.write(tmp_path, dependent[:-1], [outcome] * (len(dependent) - 1), {"tensorflow": golden.RECORDED_TF},
                 supplement="test")
    with pytest.raises(golden.GoldenError, match="tf2.21.0-test are stale.*runs recorded"):
        golden.load(runs, directory=tmp_path)
    assert golden.load(runs, directory=tmp_path, verify=False).supplements[0].name == "tf2.21.0-test"


@pytest.mark.parametrize("cpu, lanes", [("zen4", 16), ("sapphire-rapids", 16), ("skylake", 16), ("alder-lake", 8),
                                         ("avx2-epyc", 8)])
def test_onednn_runs_on_16_lanes_only_with_avx512_core(x86_cpu, cpu, lanes):
    # oneDNN's avx512_core ISA needs AVX-512 F, BW, VL and DQ; below it, its AVX2 kernels (8 lanes)
    x86_cpu(cpu)
    assert tfloss.config.onednn_lanes() == lanes


def _run(runs, function, dtype):
    return next(r for r in runs if r.function.name == function and r.case.dtype == dtype and ":ordinary:" in r.id)


@pytest.mark.parametrize("cpu, onednn, function, dtype, recording, why", [
    # a Zen 4 with oneDNN on: the kernel-dependent runs from the supplement, the rest from the main
    ("zen4", None, "textbook.naive_softmax_cross_entropy", "float32", "tf2.21.0-onednn", ""),
    ("zen4", None, "hvp:nn.sparse_softmax_cross_entropy_with_logits", "float16", "tf2.21.0-onednn", ""),
    ("zen4", None, "textbook.naive_softmax_cross_entropy", "float64", "tf2.21.0", ""),
    ("zen4", None, "grad:nn.softmax_cross_entropy_with_logits", "float32", "tf2.21.0", ""),
    # oneDNN off, or an AVX2 EPYC like the recording CPU: Eigen's kernels, the main recording
    ("zen4", "0", "textbook.naive_softmax_cross_entropy", "float32", "tf2.21.0", ""),
    ("avx2-epyc", None, "hvp:nn.softmax_cross_entropy_with_logits", "bfloat16", "tf2.21.0", ""),
    # float16 in oneDNN (AVX512-FP16): neither recording ran that kernel
    ("sapphire-rapids", None, "textbook.naive_softmax_cross_entropy", "float16", None, "Eigen float16 softmax"),
    ("sapphire-rapids", None, "textbook.naive_softmax_cross_entropy", "float32", "tf2.21.0-onednn", ""),
    # oneDNN on 8 lanes (AVX-VNNI without AVX-512): the supplement ran 16
    ("alder-lake", None, "textbook.naive_softmax_cross_entropy", "float32", None, "on 16 float32 lanes"),
])
def test_a_replay_takes_each_run_from_the_recording_made_with_this_cpus_kernels(
        x86_cpu, runs, cpu, onednn, function, dtype, recording, why):
    from tfloss.conformance import declared

    x86_cpu(cpu, onednn)
    reference = check.GoldenReference(golden.load(verify=False))
    run = _run(runs, function, dtype)
    chosen, reason = reference.recording_for(run)
    assert (chosen.name if chosen else None) == recording
    assert (why in reason and reason.startswith(declared.PLATFORM_GAP)) if why else reason == ""
    # tfloss and live TF follow this CPU's kernels; any other implementation is judged by the main one
    assert impls.Tfloss.follows_this_cpus_kernels and impls.TensorFlow.follows_this_cpus_kernels
    assert check.Checker(impls.load("tfloss"), reference).recording(run) is chosen
    other = check.Checker(impls.Implementation("plain", tfloss), reference)
    assert other.recording(run) is None and other.unsupported(run) == ""
    if chosen is not None:
        bits = lambda outcome: outcome.message if outcome.raised else [  # noqa: E731
            (v.dtype, v.shape, v.tobytes()) for v in outcome.values]
        assert bits(reference.outcome(run, chosen)) == bits(chosen.outcome(run.id))
        if chosen is not reference.golden:  # a kernel-dependent run: recorded with each kernel, and they differ
            assert run.id in reference.golden


def test_a_changed_catalogue_makes_the_recorded_results_stale(runs):
    case = runs[0].case
    changed = dataclasses.replace(case, inputs={**case.inputs, "logits": case.inputs["logits"] + 1})
    altered = [catalogue.Run(r.id, changed if r.case is case else r.case, r.function) for r in runs]
    with pytest.raises(golden.GoldenError, match="stale.*catalogue hash"):
        golden.load(altered)
    with pytest.raises(golden.GoldenError, match="stale.*runs recorded"):
        golden.load(runs[:-1])


def test_damaged_recorded_results_are_refused(tmp_path):
    npz, manifest = golden.paths()
    shutil.copy(manifest, tmp_path / manifest.name)
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / npz.name).write_bytes(bytes(data))
    with pytest.raises(golden.GoldenError, match="checksum"):
        golden.load(directory=tmp_path, verify=False)


def test_bits_survive_the_round_trip(tmp_path):
    # NaN payloads and signs, signed zeros, subnormals, in every float width, bfloat16 included.
    f32 = np.array([0x7FA00001, 0xFFC00000, 0x80000000, 0x00000001], np.uint32).view(np.float32)
    bf16 = np.array([0x7FC1, 0x8000, 0x0001, 0xFF80], np.uint16).view(ml_dtypes.bfloat16)
    f16 = np.array([0x7E01, 0x8000, 0x0001], np.uint16).view(np.float16)
    f64 = np.array([0x7FF0000000000001, 0x8000000000000000], np.uint64).view(np.float64)
    scalar = np.float32(-0.0).reshape(())
    big = np.arange(5000, dtype=np.float32)
    case = catalogue.Case("roundtrip", "sigmoid", {}, dtype="float32")
    case_large = catalogue.Case("roundtrip/large", "sigmoid", {}, dtype="float32", group="large")
    function = ALL_FUNCTIONS[0]
    runs = [catalogue.Run(f"a:{i}", case, function) for i in range(3)] + [catalogue.Run("a:big", case_large, function)]
    outcomes = [Outcome(values=(f32, bf16, None)), Outcome(values=(f16, f64, scalar)),
                Outcome(error_kind="tf.errors", error_name="InvalidArgumentError", message="m [Op:X]"),
                Outcome(values=(big,))]
    golden.write(tmp_path, runs, outcomes, {"tensorflow": "0.test"})
    loaded = golden.load(runs, version="0.test", directory=tmp_path)
    got = [loaded.outcome(r.id) for r in runs]
    for want, have in zip(outcomes[:2], got[:2]):
        for w, h in zip(want.values, have.values):
            if w is None:
                assert h is None
            else:
                assert (h.dtype, h.shape) == (w.dtype, w.shape)
                assert h.tobytes() == w.tobytes()
    assert (got[2].error_name, got[2].message) == ("InvalidArgumentError", "m [Op:X]")
    assert isinstance(got[3].values[0], Digest) and got[3].values[0].shape == (5000,)


def test_a_large_result_is_bit_exact_by_digest_and_judged_on_its_sample_otherwise():
    expected = np.linspace(1.0, 2.0, 10_000).astype(np.float32)
    positions = np.unique(np.linspace(0, expected.size - 1, 64).astype(np.int64))
    recorded = Digest(expected.dtype, expected.shape, digest(expected), expected[positions])
    same = compare_digest(expected.copy(), recorded)
    assert same.ok and same.bit_exact and same.n_elements == expected.size
    one_ulp = (expected.view(np.uint32) + np.uint32(1)).view(np.float32)
    close = compare_digest(one_ulp, recorded)
    assert close.ok and not close.bit_exact and "sampled" in close.sampled
    wrong = compare_digest(expected * np.float32(1.01), recorded)
    assert not wrong.ok and "sampled elements" in wrong.problems[0]
    assert not compare_digest(expected[:-1], recorded).ok


# --- ids and selection -----------------------------------------------------------------------------


def test_run_ids_are_unique_hierarchical_and_stable(runs):
    ids = [r.id for r in runs]
    assert len(ids) == len(set(ids))
    assert all(len(i.rsplit(":", 3)) == 4 for i in ids)
    assert "nn.sigmoid_cross_entropy_with_logits:float32:ordinary:0" in ids
    assert any(i.startswith("grad_upstream:nn.sparse_softmax_cross_entropy_with_logits:") for i in ids)
    assert any(":errors.label_range:" in i for i in ids) and any(":large.wide:" in i for i in ids)


def test_shards_partition_the_selection(runs):
    parts = [check.select(runs, shard=(i, 3)) for i in (1, 2, 3)]
    assert sorted(r.id for part in parts for r in part) == sorted(r.id for r in runs)
    with pytest.raises(impls.UsageError):
        check.parse_shard("4/3")


def test_strip_function_node():
    text = "{{function_node __wrapped__Op_device_/job:localhost/replica:0/task:0/device:CPU:0}} bad [Op:X] name: "
    assert strip_function_node(text) == "bad [Op:X] name: "


def test_the_package_uses_only_tfloss_public_api_and_never_imports_tensorflow_at_import():
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                if node.level == 2 or (node.module or "").startswith("tfloss._") or (node.level == 0 and (
                        node.module or "").split(".")[0] == "tfloss" and "._" in (node.module or "")):
                    names.append(node.module or "..")
                if node.level == 0 and (node.module or "").split(".")[0] == "tensorflow":
                    names.append(node.module)
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names if a.name.startswith("tfloss._")]
            assert not names, f"{path.name}:{node.lineno} imports {names}"
        # TensorFlow is only ever imported inside a function (lazily), never at module level
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.split(".")[0] == "tensorflow" for m in modules), path.name


# --- the command line, with TensorFlow hidden --------------------------------------------------------


def test_every_recorded_run_replays_against_tfloss_without_tensorflow(tmp_path):
    # The whole recorded catalogue, gradients included: TF parity proven without TF.
    status, out, err = checker("--json", str(tmp_path / "report.json"), "--quiet")
    report = json.loads((tmp_path / "report.json").read_text())
    totals = report["totals"]
    assert status == 0, out[-3000:] + err[-2000:]
    assert totals["cases"] == report["recorded_results"]["runs"] == len(catalogue.runs())
    assert totals["failed"] == 0
    # tfloss's one declared difference (compat.v1's _sentinel) is the only expected failure
    assert totals["expected_fail"] > 0
    assert {c["reason"] for c in report["cases"] if c["outcome"] == "expected fail"} == {
        "declared difference compat-v1-sentinel"}
    # of the runs this CPU can compare (a CPU that runs other softmax kernels than every recording
    # leaves the kernel-dependent runs out: declared.kernel_gap)
    assert totals["outcomes"]["bit-exact"] > 0.9 * (totals["cases"] - totals["not_supported"])
    # where this CPU runs one recording's kernels (an AVX2 EPYC: the main one; a Zen 4: the
    # supplement), none of them is left out
    here = report["environment"]["softmax_kernels"], report["environment"]["onednn_lanes"]
    recordings = [report["recorded_results"]] + report["recorded_supplements"]
    if any(m["softmax_kernels"] == here[0] and m.get("onednn_lanes", here[1]) == here[1] for m in recordings):
        assert not [c["id"] for c in report["cases"] if "were recorded with" in c["detail"]]
    assert report["implementation"]["name"] == "tfloss" and report["against"]["name"] == "golden"


WRONG_MODULE = '''
"""tfloss, except that float32 sigmoid losses of +0.0 come back as -0.0 (a sign-of-zero bug)."""
import numpy as np
import tfloss
from tfloss import compat, errors, value_and_gradient, hessian_vector_product
from types import SimpleNamespace

def _sigmoid(labels=None, logits=None, name=None):
    out = tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return np.where(out == 0, np.float32(-0.0), out) if out.dtype == np.float32 else out

nn = SimpleNamespace(**{n: getattr(tfloss.nn, n) for n in dir(tfloss.nn) if not n.startswith("_")})
nn.sigmoid_cross_entropy_with_logits = _sigmoid
'''


@pytest.fixture(scope="module")
def wrong_impl(tmp_path_factory):
    folder = tmp_path_factory.mktemp("impl")
    (folder / "wrongxent.py").write_text(WRONG_MODULE)
    return folder


def test_a_wrong_implementation_fails_with_the_right_ids_and_a_reproduction_line(wrong_impl, tmp_path):
    status, out, err = checker("--impl", "wrongxent", "--ops", "nn.sigmoid_cross_entropy_with_logits",
                               "--dtypes", "float32,float16",
                               "--json", str(tmp_path / "r.json"), "--quiet", cwd=wrong_impl)
    assert status == 1, err
    report = json.loads((tmp_path / "r.json").read_text())
    failed = {c["id"] for c in report["cases"] if c["outcome"] in ("fail", "error mismatch")}
    # exactly the float32 runs in which TF's recorded loss has a +0.0 (read from its bits)
    recorded = golden.load(verify=False)

    def has_positive_zero(run_id):
        out = recorded.outcome(run_id)
        return not out.raised and bool(np.any(out.values[0].view(np.uint32) == 0))

    small = [c["id"] for c in report["cases"] if c["dtype"] == "float32" and ":large." not in c["id"]]
    assert failed - {c["id"] for c in report["cases"] if ":large." in c["id"]} == set(filter(has_positive_zero, small))
    assert "nn.sigmoid_cross_entropy_with_logits:float32:subnormal_edge:4" in failed  # flushed to +0 by TF
    assert not any(c["outcome"] in ("fail", "error mismatch") for c in report["cases"] if c["dtype"] == "float16")
    line = next(l for l in out.splitlines() if "reproduce:" in l)
    command = line.split("reproduce: ", 1)[1]
    assert command.startswith("python -m tfloss.conformance --impl wrongxent --cases 'nn.sigmoid_cross_entropy_with_logits:float32:")
    run_id = command.split("'")[1]
    assert run_id in failed
    # the reproduction line runs and prints the inputs, TF's outcome and the implementation's
    status, shown, err = checker("--impl", "wrongxent", "--cases", run_id, "--show", cwd=wrong_impl)
    assert status == 0, err
    assert "labels = array(" in shown and "TF output 0:" in shown and "wrongxent output 0:" in shown
    assert "verdict: fail" in shown


def test_reproduction_lines_name_the_tfloss_target_in_use():
    from tfloss.conformance.report import reproduce_command

    run_id = "nn.softmax_cross_entropy_with_logits:float32:ordinary:3"
    plain = "python -m tfloss.conformance --cases 'nn.softmax_cross_entropy_with_logits:float32:ordinary:3' --show"
    assert reproduce_command(run_id, "tfloss", "golden") == plain
    with tfloss.target("xla-cpu"):
        assert reproduce_command(run_id, "tfloss", "golden") == "TFLOSS_TARGET=xla-cpu " + plain
    assert reproduce_command(run_id, "torch", "tensorflow") == plain.replace(
        "conformance --cases", "conformance --impl torch --against tensorflow --cases")


def test_expectations_turn_known_failures_into_expected_ones(wrong_impl, tmp_path):
    expect = tmp_path / "wrongxent.expect"
    expect.write_text("# wrongxent's known differences\n"
                      "nn.sigmoid_cross_entropy_with_logits:float32:*  scaled by 1.001 on purpose\n"
                      "nn.sigmoid_cross_entropy_with_logits:float64:ordinary:0  claimed but not true\n"
                      "nn.no_such_function:*  matches nothing\n")
    status, out, err = checker("--impl", "wrongxent", "--ops", "nn.sigmoid_cross_entropy_with_logits",
                               "--dtypes", "float32,float64", "--expect", str(expect), "--json", str(tmp_path / "r.json"), "--quiet",
                               cwd=wrong_impl)
    assert status == 0, out[-2000:]
    totals = json.loads((tmp_path / "r.json").read_text())["totals"]
    assert totals["expected_fail"] > 0 and totals["failed"] == 0 and totals["unexpected_pass"] >= 1
    assert "warning: --expect line 4 'nn.no_such_function:*' matches no run" in err


def test_list_and_baseline(tmp_path):
    status, out, _ = checker("--list", "--ops", "nn.sparse_softmax_cross_entropy_with_logits", "--cases",
                             "*:errors.label_range:*")
    ids = out.split()
    assert status == 0 and ids and all(i.startswith("nn.sparse_softmax_cross_entropy_with_logits:-:errors.label_range:")
                                       for i in ids)
    first = tmp_path / "first.json"
    status, out, _ = checker("--cases", ids[0], "--json", str(first), "--quiet")
    assert status == 0
    data = json.loads(first.read_text())
    data["cases"][0]["outcome"] = "fail"
    first.write_text(json.dumps(data))
    status, out, _ = checker("--cases", ids[0], "--baseline", str(first), "--quiet")
    assert f"1x fail -> bit-exact: {ids[0]}" in out


@pytest.mark.parametrize("args, message", [
    (["--impl", "no_such_framework_xyz"], "no module named 'no_such_framework_xyz'"),
    (["--impl", "json"], "provides none of TF's functions"),
    (["--impl", "torch"], "cannot import torch; is it installed here?"),
    (["--impl", "tensorflow"], "TensorFlow is not installed here"),
    (["--against", "tensorflow"], "TensorFlow is not installed here"),
    (["--impl", "wrongxent", "--ops", "textbook.naive_sigmoid_cross_entropy"],
     "wrongxent has no textbook.naive_sigmoid_cross_entropy"),
    (["--shard", "3/2"], "--shard 3/2"),
    (["--shard", "x"], "--shard 'x'"),
    (["--expect", "MALFORMED"], "has no reason"),
    (["--against", "nowhere"], "invalid choice"),
    (["--cases", "nothing:matches:this:*"], "matches no run"),
])
def test_mistakes_are_one_line_and_exit_2(wrong_impl, args, message):
    if args == ["--expect", "MALFORMED"]:
        (wrong_impl / "MALFORMED").write_text("nn.sigmoid_cross_entropy_with_logits:*\n")
    if args == ["--impl", "torch"] and __import__("importlib").util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    status, out, err = checker(*args, cwd=wrong_impl)
    assert status == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err


# --- the framework adapters, without their frameworks --------------------------------------------


class _FakeTensor:
    """Just enough of a torch tensor for the torch adapter, in float64 NumPy."""

    def __init__(self, array):
        self.a = np.asarray(array)

    ndim = property(lambda self: self.a.ndim)
    dtype = property(lambda self: self.a.dtype)

    def movedim(self, source, destination):
        return _FakeTensor(np.moveaxis(self.a, source, destination))

    def to(self, dtype):
        return _FakeTensor(self.a.astype(dtype))

    def long(self):
        return _FakeTensor(self.a.astype(np.int64))

    def numpy(self):
        return self.a


def _fake_torch():
    """A stand-in ``torch`` whose two losses follow PyTorch's documented formulas (class axis 1,
    probability or index targets, ``pos_weight`` on the positive term), computed in float64."""
    import types

    def log_softmax(x, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def bce(x, z, pos_weight=None, reduction="mean"):
        assert reduction == "none"
        x, z = x.a.astype(np.float64), z.a.astype(np.float64)
        softplus = np.log1p(np.exp(-np.abs(x)))
        if pos_weight is None:
            return _FakeTensor(np.maximum(x, 0) - x * z + softplus)
        q = pos_weight.a.astype(np.float64)
        return _FakeTensor((1 - z) * x + (1 + (q - 1) * z) * (softplus + np.maximum(-x, 0)))

    def cross_entropy(x, target, reduction="mean"):
        assert reduction == "none"
        axis = 1 if x.ndim >= 2 else 0
        logp = log_softmax(x.a.astype(np.float64), axis)
        if target.dtype == np.int64:  # index targets
            picked = np.take_along_axis(logp, np.expand_dims(target.a, axis), axis)
            return _FakeTensor(-picked.squeeze(axis))
        return _FakeTensor(-(target.a * logp).sum(axis=axis))

    functional = types.SimpleNamespace(binary_cross_entropy_with_logits=bce, cross_entropy=cross_entropy)
    return types.SimpleNamespace(__version__="fake", nn=types.SimpleNamespace(functional=functional),
                                 from_numpy=_FakeTensor, bfloat16=np.dtype(ml_dtypes.bfloat16), float32=np.float32)


def test_the_torch_adapter_maps_tf_calls_onto_torch(runs, monkeypatch):
    # With PyTorch's formulas behind it, the adapter's mapping (argument order, TF's class axis to
    # torch's axis 1, probability and index labels, pos_weight) gives TF's float64 losses.
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    ops = ["nn.sigmoid_cross_entropy_with_logits", "nn.weighted_cross_entropy_with_logits",
           "nn.softmax_cross_entropy_with_logits", "nn.sparse_softmax_cross_entropy_with_logits"]
    reference = check.GoldenReference(golden.load(verify=False))
    checker = check.Checker(impls.load("torch"), reference, check.op_run_index(runs))
    selected = check.select(runs, ops=ops, dtypes=["float64"], cases=["*:float64:ordinary:*"])
    results = [checker.check(r) for r in selected]
    assert {r.function for r in results} == set(ops)
    # every axis the catalogue uses, softmax's non-last ones included
    assert len({r.case.inputs.get("axis", -1) for r in selected if "softmax_cross" in r.function.name}) > 1
    passed = [r for r in results if r.outcome in (check.BIT_EXACT, check.WITHIN)]
    assert len(passed) > 0.5 * len(results)
    # what fails is PyTorch's own behaviour (a -0 loss where TF's is +0; no error where TF's
    # axis handling raises; IndexError on an empty class axis), never a value, shape or dtype
    # that a wrong mapping would give
    mapping = [(r.id, r.detail) for r in results if r.outcome == check.FAIL and "special-value pattern" not in r.detail]
    assert not mapping, mapping[:3]
    # TF's compat.v1 names and the gradient API are not torch's: not supported, with the reason
    compat = check.select(runs, ops=["compat.v1.nn.sigmoid_cross_entropy_with_logits"], cases=["*:float64:ordinary:0"])
    assert checker.check(compat[0]).outcome == check.NOT_SUPPORTED
    assert checker.check(compat[0]).detail == "torch has no compat.v1.nn.sigmoid_cross_entropy_with_logits"


def test_adapters_leave_tf_signature_errors_unsupported(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    checker = check.Checker(impls.load("torch"), check.GoldenReference(golden.load(verify=False)))
    keyword = check.select(runs, cases=["nn.sigmoid_cross_entropy_with_logits:-:errors.keyword:0"])[0]
    result = checker.check(keyword)
    assert result.outcome == check.NOT_SUPPORTED and "TF's Python signature" in result.detail


def test_expect_files_are_parsed_strictly(tmp_path):
    path = tmp_path / "x.expect"
    path.write_text("# comment\n\nnn.sigmoid*:float32:*  a reason  # trailing comment\n")
    (entry,) = check.read_expectations(path)
    assert (entry.pattern, entry.reason, entry.line) == ("nn.sigmoid*:float32:*", "a reason", 3)
    for text, message in (("nn.sigmoid*:float32:*\n", "has no reason"),
                          ("a:b:c:d:e  too many parts\n", "is not a run id glob")):
        path.write_text(text)
        with pytest.raises(impls.UsageError, match=message):
            check.read_expectations(path)
    with pytest.raises(impls.UsageError, match="cannot read it"):
        check.read_expectations(tmp_path / "missing.expect")


def test_expectations_keep_not_supported_and_flag_stale_entries():
    def result(run_id, outcome):
        return check.Result(run_id, "c", run_id.split(":")[0], "float32", "ordinary", outcome)

    results = [result("a:float32:ordinary:0", check.FAIL), result("a:float32:ordinary:1", check.BIT_EXACT),
               result("b:float32:ordinary:0", check.NOT_SUPPORTED), result("c:float32:ordinary:0", check.FAIL)]
    entries = [check.Expectation("a:*", "known", 1), check.Expectation("b:*", "gap", 2),
               check.Expectation("z:*", "stale", 3)]
    unmatched = check.apply_expectations(results, entries)
    assert [r.outcome for r in results] == [check.EXPECTED_FAIL, check.UNEXPECTED_PASS, check.NOT_SUPPORTED, check.FAIL]
    assert results[0].reason == "known" and [e.pattern for e in unmatched] == ["z:*"]
    assert check.summarise_outcomes(results)["failed"] == 1


def test_jobs_split_the_replay_across_processes_with_the_same_outcomes():
    # More than 200 runs, large inputs (the engine's threaded kernels) among them.
    selection = ["--cases", "nn.sparse*:float32:*", "--cases", "nn.sigmoid*:float64:*"]
    results = {}
    for jobs in ("1", "2"):
        status, out, err = checker(*selection, "--jobs", jobs)
        assert status == 0, err
        results[jobs] = out.strip().splitlines()[-1].split(";")[0]  # "N runs: ... outcomes"
    assert results["1"] == results["2"] and int(results["1"].split()[0]) > 200


def test_each_dtypes_kernels_are_compiled_by_one_worker_before_the_rest_of_the_runs(runs):
    from tfloss.conformance import cli

    waves = cli._compile_waves(runs)
    tasks = [task for wave in waves for task in wave]
    dtypes = [{runs[i].case.dtype for i in task} for task in tasks]
    assert all(len(d) == 1 for d in dtypes)  # one dtype per task: one worker compiles its kernels
    order = [d.pop() for d in dtypes]
    assert len(order) == len(set(order)) == len({run.case.dtype for run in runs if run.case.group == "values"})
    # float32's kernels are compiled in a wave before the 16-bit types', which use some of them.
    wave_of = {runs[task[0]].case.dtype: w for w, wave in enumerate(waves) for task in wave}
    assert wave_of["float32"] < wave_of["float16"] and wave_of["float32"] < wave_of["bfloat16"]
    # Every function's first four value runs of each dtype are in its dtype's task, once each.
    assert cli._FIRST_RUNS == 4
    firsts = {}
    for i, run in enumerate(runs):
        if run.case.group == "values":
            firsts.setdefault((run.function.name, run.case.dtype), []).append(i)
    assert sorted(i for task in tasks for i in task) == sorted(i for ids in firsts.values() for i in ids[:4])


def test_the_engines_closures_keep_a_disk_cache_index_each():
    # numba names a function's cache index after its qualified name; leaves or trees sharing one
    # would rewrite each other's entries when two processes compile them at once.
    from tfloss._engine import _kernels

    functions = [_kernels._leaf_sum, _kernels._leaf_sum_numbers, _kernels._leaf_exp, _kernels._leaf_exp_numbers,
                 *_kernels._TREES.values()]
    names = [f.py_func.__qualname__ for f in functions]
    assert len(set(names)) == len(names) and not any("<locals>" in name for name in names)


def test_jobs_fall_back_to_one_process_where_forking_is_unsafe(monkeypatch):
    from tfloss.conformance import cli

    x = np.zeros((64, 1024), np.float32)
    tfloss.nn.softmax_cross_entropy_with_logits(labels=x, logits=x)  # large enough for the engine's threads
    for framework in ("tensorflow", "torch", "jax"):  # the parity suite imports TF into this session
        monkeypatch.delitem(sys.modules, framework, raising=False)
    assert cli._fork_is_safe()  # tfloss's threads start again in a forked child (tests/test_engine.py)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert not cli._fork_is_safe()




def test_term_magnitudes_are_computed_only_for_outputs_that_are_not_bit_exact():
    """The bound only matters where an output differs: an identical output (a NaN's payload
    included) is judged without its term magnitudes, a differing one with them."""
    from tfloss.conformance.compare import judge_values

    class Counting:
        calls = 0

        def magnitudes(self, inputs, expected):
            Counting.calls += 1
            return [(np.full(e.shape, 1e3), 1) for e in expected]

    expected = (np.array([1.0, np.float32(np.nan), -0.0], np.float32),)
    ok, comparisons, problems = judge_values(Counting(), {}, expected, (expected[0].copy(),))
    assert ok and not problems and Counting.calls == 0
    assert comparisons[0].n_bit_exact == 3 and comparisons[0].err_ulps.tolist() == [0.0]
    # 100 ULP off an element of 1 is outside the bound of |expected| (4 ULP of 1) and inside
    # that of the magnitude 1e3 (4 ULP of 1e3 is 2**-12): so the magnitudes were asked for and used.
    off = np.array([1 + 100 * 2.0**-23, np.nan, -0.0], np.float32)
    assert not judge_values(types.SimpleNamespace(magnitudes=None), {}, expected, (off,))[0]  # fallback: |expected|
    ok, comparisons, problems = judge_values(Counting(), {}, expected, (off,))
    assert Counting.calls == 1 and ok and comparisons[0].n_bit_exact == 2
    far = np.array([1.01, np.nan, -0.0], np.float32)
    ok, _, problems = judge_values(Counting(), {}, expected, (far,))
    assert Counting.calls == 2 and not ok and "outside the bound" in problems[0]


def test_an_identical_output_is_checked_once_and_judged_as_compare_arrays_judges_it(monkeypatch):
    """An output identical to TF's is judged by one bit comparison (or one digest), with the
    fields compare_arrays and compare_digest give it: every element bit-exact, 0 ULP at every
    finite non-zero."""
    from tfloss.conformance import compare

    expected = np.array([[1.5, np.inf], [-0.0, np.nan], [3.0, -2.0]], np.float32)
    full = compare.compare_arrays(expected.copy(), expected)
    big = np.arange(5000, dtype=np.float64) - 7.0
    recorded = compare.Digest(dtype=big.dtype, shape=big.shape, sha256=compare.digest(big),
                              sample=big[compare.sample_positions(big.size, 64)])
    calls = {"bits": 0, "digest": 0}
    same_bits, digest = compare._same_bits, compare.digest
    monkeypatch.setattr(compare, "_same_bits", lambda a, b: calls.__setitem__("bits", calls["bits"] + 1) or same_bits(a, b))
    monkeypatch.setattr(compare, "digest", lambda a: calls.__setitem__("digest", calls["digest"] + 1) or digest(a))
    ok, (small, large), problems = compare.judge_values(None, {}, (expected, recorded), (expected.copy(), big.copy()))
    assert ok and not problems and calls == {"bits": 1, "digest": 1}
    assert (small.ok, small.n_elements, small.n_bit_exact, small.err_ulps.tolist()) == (
        full.ok, full.n_elements, full.n_bit_exact, full.err_ulps.tolist()) == (True, 6, 6, [0.0] * 3)
    assert (large.ok, large.n_elements, large.n_bit_exact) == (True, 5000, 5000)
    # an output that differs still takes the full comparison
    off = expected.copy()
    off[2, 0] = 3.5
    ok, (cmp,), problems = compare.judge_values(types.SimpleNamespace(magnitudes=None), {}, (expected,), (off,))
    assert not ok and cmp.n_bit_exact == 5 and calls["bits"] == 3


EIGEN_EVERYWHERE = {"float16": "Eigen", "bfloat16": "Eigen", "float32": "Eigen", "float64": "Eigen"}


@pytest.mark.parametrize("function, dtype, gap", [
    # The float16 second-order term runs TF's float32 Softmax and batched matmul: oneDNN's on a Zen 4,
    # where float16's own softmax is still Eigen's.
    ("hvp:nn.softmax_cross_entropy_with_logits", "float16", "float32"),
    ("hvp:compat.v1.nn.sparse_softmax_cross_entropy_with_logits", "float16", "float32"),
    ("hvp:nn.softmax_cross_entropy_with_logits", "bfloat16", "bfloat16"),
    ("hvp:nn.sparse_softmax_cross_entropy_with_logits", "float32", "float32"),
    ("hvp:nn.softmax_cross_entropy_with_logits", "float64", ""),  # Eigen on every CPU
    ("textbook.naive_softmax_cross_entropy", "float16", ""),  # tf.nn.softmax in float16: Eigen's
    ("textbook.naive_softmax_cross_entropy", "bfloat16", "bfloat16"),
    ("grad:nn.softmax_cross_entropy_with_logits", "float32", ""),  # the xent kernel: no tf.nn.softmax
])
def test_results_recorded_on_an_avx2_cpu_are_a_platform_gap_where_a_zen4_runs_onednn(function, dtype, gap):
    from tfloss.conformance import declared

    case = catalogue.Case(f"gap/{dtype}", "softmax", {}, dtype=dtype)  # x86_cpu (conftest): a Zen 4
    reason = declared.kernel_gap(case, types.SimpleNamespace(name=function), EIGEN_EVERYWHERE)
    if gap:
        assert reason.startswith(declared.PLATFORM_GAP) and f"Eigen {gap} softmax" in reason, reason
    else:
        assert reason == ""
    # Recorded on a CPU like this one, nothing is a gap.
    here = {name: tfloss.config.softmax_kernel(name) for name in EIGEN_EVERYWHERE}
    assert declared.kernel_gap(case, types.SimpleNamespace(name=function), here) == ""



@pytest.mark.parametrize("function", ["textbook.naive_softmax_cross_entropy", "hvp:nn.softmax_cross_entropy_with_logits"])
def test_python_lists_are_kernel_dependent_as_float32_whatever_the_case_dtype(function):
    from tfloss.conformance import declared

    # TF converts Python lists of floats to float32, so a float64 case in the list layout, or an
    # error case given as lists, runs float32's softmax: oneDNN's on a Zen 4. (Measured: live TF on
    # a Zen 4 against the AVX2 recording differed by 1-3 ULP in 17 such runs.)
    listed = catalogue.Case("gap/list", "softmax", {}, dtype="float64", layout="list")
    lists = catalogue.Case("gap/lists", "softmax", {"labels": [[0.0, 1.0]], "logits": [[1.0, 2.0]]}, dtype="-")
    array = catalogue.Case("gap/array", "softmax", {}, dtype="float64")
    target = types.SimpleNamespace(name=function)
    for case in (listed, lists):
        assert "Eigen float32 softmax" in declared.kernel_gap(case, target, EIGEN_EVERYWHERE)
    assert declared.kernel_gap(array, target, EIGEN_EVERYWHERE) == ""