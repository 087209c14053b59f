"""The bench's arithmetic and report, without timing anything and without PyTorch or JAX.

No assertion here is about speed: the bench measures, it never passes or fails on a time.
"""

import numpy as np
import pytest

import tfloss
from parity.bench import cases, floor, impls, output
from parity.bench.run import check_against, ratios
from parity.bench.timing import Timed, calls_per_batch, interleaved


def test_traffic_counts_array_inputs_and_the_output_once():
    inputs = {"labels": np.zeros((4, 5), np.float32), "logits": np.zeros((4, 5), np.float32), "pos_weight": 2.0}
    assert floor.traffic_bytes(inputs, output_nbytes=4 * 5 * 4) == 3 * 80


def test_floor_is_the_larger_bound_and_names_it():
    assert floor.floor(2e-3, 1e-3) == {"seconds": 2e-3, "bound": "memory", "memory_seconds": 2e-3,
                                       "transcendental_seconds": 1e-3}
    assert floor.floor(1e-3, 3e-3)["bound"] == "transcendental"


def test_floor_bounds_scale_with_bytes_and_cores():
    assert floor.memory_floor_seconds(10e9, 20e9) == 0.5
    assert floor.transcendental_floor_seconds(0.8, 4) == 0.2
    assert floor.transcendental_floor_seconds(0.8, 0) == 0.8  # an unknown core count counts as one


def test_beyond_cache_shape_exceeds_the_cache():
    l3 = 300 << 20
    rows, classes = cases.beyond_cache_shape(l3)
    assert classes == 1000 and rows % 1024 == 0
    assert 2 * 4 * rows * classes >= 1.5 * l3


def test_ratios_compare_tfloss_with_tf_the_fastest_other_and_the_floor():
    row = {"times": {"tfloss_numpy": {"ms": 6.0}, "tf": {"ms": 3.0}, "torch": {"ms": 2.0}, "numpy": {"ms": 4.0}},
           "floor": {"seconds": 1e-3}}
    assert ratios(row, "tfloss_numpy") == {"tf": 2.0, "best_peer": 3.0, "best_peer_key": "torch", "floor": 6.0}


def test_ratios_of_the_engine_also_give_the_numpy_path_against_tf():
    row = {"times": {"tfloss": {"ms": 1.0}, "tfloss_numpy": {"ms": 8.0}, "tf": {"ms": 2.0}}}
    r = ratios(row, "tfloss")
    assert r["tf"] == 0.5 and r["best_peer"] == 0.5 and r["best_peer_key"] == "tf" and r["numpy_path_tf"] == 4.0


def test_check_against_counts_bit_equal_elements():
    a = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    b = a.copy()
    b[0] = np.nextafter(b[0], np.float32(2))
    assert check_against(a, a)["bit_equal"]
    c = check_against(b, a)
    assert not c["bit_equal"] and c["bit_equal_share"] == 0.75
    assert c["max_rel_diff"] == pytest.approx(float(b[0] - a[0]) / 4.0)


def test_inputs_are_what_each_op_expects():
    soft = cases.make_inputs(cases.Case("softmax", "float32", (8, 30)))
    np.testing.assert_allclose(soft["labels"].sum(axis=-1), 1.0, rtol=1e-5)
    sparse = cases.make_inputs(cases.Case("sparse", "bfloat16", (8, 30)))
    assert sparse["labels"].dtype == np.int32 and sparse["labels"].max() < 30
    assert sparse["logits"].dtype.name == "bfloat16"
    assert cases.make_inputs(cases.Case("weighted", "float16", (2, 3)))["pos_weight"] == cases.POS_WEIGHT


@pytest.mark.parametrize("family", impls.FAMILIES)
def test_numpy_formulas_compute_the_same_loss_as_tfloss(family):
    inputs = cases.make_inputs(cases.Case(family, "float64", (16, 40)))
    expected = getattr(tfloss.nn, impls.OPS[family])(**inputs)
    np.testing.assert_allclose(impls.NUMPY_FORMULAS[family](**inputs), expected, rtol=1e-12, atol=1e-12)


class _FakeThreading:
    @staticmethod
    def get_intra_op_parallelism_threads():
        return 3


class _FakeConfig:
    """What the engine will expose: set_engine / get_engine / threading."""

    threading = _FakeThreading()

    def __init__(self):
        self.engine = "numpy"

    def set_engine(self, name):
        self.engine = name

    def get_engine(self):
        return self.engine


def test_without_an_engine_only_the_numpy_path_is_timed(monkeypatch):
    monkeypatch.delattr(tfloss, "config", raising=False)
    (only,) = impls.tfloss_impls(cores=2)
    assert only.key == "tfloss_numpy" and "no compiled engine" in only.label and only.cores == 1


def test_with_an_engine_both_paths_are_timed_each_switched_on_before_its_batches(monkeypatch):
    config = _FakeConfig()
    monkeypatch.setattr(tfloss, "config", config, raising=False)
    engine, numpy_path = impls.tfloss_impls(cores=2)
    assert (engine.key, engine.cores, numpy_path.key, numpy_path.cores) == ("tfloss", 3, "tfloss_numpy", 1)
    assert config.get_engine() == "numpy"  # probing the engine leaves the setting as it was
    engine.before()
    assert config.get_engine() == "numba"
    numpy_path.before()
    assert config.get_engine() == "numpy"


def _result(quick=True):
    row = {"family": "sigmoid", "op": impls.OPS["sigmoid"], "dtype": "float32", "shape": [32, 10], "elements": 320,
           "errors": {}, "input_bytes": 2560, "peak_bytes": {"tfloss_numpy": 5120},
           "times": {"tfloss_numpy": {"ms": 0.2}, "tf": {"ms": 0.4}},
           "check_vs_tf": {"tfloss_numpy": {"bit_equal": True, "bit_equal_share": 1.0, "max_rel_diff": 0.0}},
           "floor": {"seconds": 2e-6, "bound": "transcendental"}}
    row["ratios"] = ratios(row, "tfloss_numpy")
    return {
        "environment": {"tfloss": "0.1.0", "tensorflow": "2.21.0", "numpy": np.__version__, "date": "today"},
        "settings": {"quick": quick, "rounds": 3, "target_ms": 3.0, "cores": 2, "l3_bytes": 1 << 25,
                     "load_start": 0.1, "load_end": 0.2, "omp_wait_policy": "PASSIVE"},
        "primary": "tfloss_numpy",
        "implementations": [{"key": "tfloss_numpy", "label": "tfloss (NumPy path)", "cores": 1},
                            {"key": "tf", "label": "TF 2.21.0 eager", "cores": 2}],
        "skipped": {"torch": "ModuleNotFoundError: No module named 'torch'"},
        "memory_bandwidth": {"bytes": 1 << 26, "bytes_per_second": 1e10},
        "values": [row], "gradients": [],
        "scaling": {"points": [{"shape": [32, 10], "elements": 320, "times": {"tfloss_numpy": {"ms": 0.2}}}],
                    "fits": {"tfloss_numpy": {"log_log_slope": float("nan"), "ns_per_element": [625.0]}}},
        "compile": None,
    }


def test_report_says_which_peers_ran_and_flags_a_quick_run():
    text = output.markdown(_result())
    assert "Quick run" in text and "not for publishing" in text
    assert "Skipped: torch (ModuleNotFoundError" in text
    assert "| `sigmoid` | float32 | 32x10 | 0.2 | 0.4 | 0.50 | 0.50 (TF) | 2 µs (exp) | 100.00 |" in text
    assert "no compiled engine" in text
    assert "Quick run" not in output.markdown(_result(quick=False))


def test_formatting():
    assert output.fmt_ms(0.0123) == "12.3 µs" and output.fmt_ms(12.34) == "12.3" and output.fmt_ms(None) == "–"
    assert output.fmt_bytes(3 << 20) == "3 MiB" and output.fmt_bytes(12) == "12 B"


def test_interleaved_runs_every_implementation_in_every_round():
    counts = {"a": 0, "b": 0}

    def counter(key):
        def call():
            counts[key] += 1
        return call

    prepared = []
    timed = [Timed("a", counter("a"), before=lambda: prepared.append("a")), Timed("b", counter("b"))]
    # "a" is known to be slow (1 s a call): no calibration call, one call per batch
    result = interleaved(timed, rounds=3, target_seconds=0.01, warmup=0, calibration={"a": 1.0})
    assert counts["a"] == 3 and result["a"]["calls"] == 1 and len(result["a"]["samples"]) == 3
    assert counts["b"] == 1 + 3 * result["b"]["calls"] and len(result["b"]["samples"]) == 3
    assert prepared == ["a"] * 3  # before() runs ahead of every batch


def test_calls_per_batch_fills_the_target_and_runs_at_least_once():
    assert calls_per_batch(1e-3, 0.025) == 25
    assert calls_per_batch(2.0, 0.025) == 1
    assert calls_per_batch(0.0, 1.0, cap=50) == 50


def test_engine_threads_zero_means_every_core():
    class Config:
        class threading:  # noqa: N801 - mirrors tfloss.config.threading
            @staticmethod
            def get_intra_op_parallelism_threads():
                return 0

    assert impls.engine_threads(Config, default=4) == 4
    assert impls.engine_threads(object(), default=2) == 2  # no threading settings at all


def test_compile_report_lists_cold_and_warm_first_calls():
    run = {"ops": {"sigmoid_cross_entropy_with_logits": {"first_seconds": 2.5, "second_seconds": 1e-5}}}
    warm = {"ops": {"sigmoid_cross_entropy_with_logits": {"first_seconds": 0.05, "second_seconds": 1e-5}}}
    lines = output.compile_lines({"empty_cache": run, "warm_cache": warm})
    assert "| `sigmoid_cross_entropy_with_logits` | 2500 ms | 50.0 ms | 0.010 ms |" in lines
    assert "failed" in "\n".join(output.compile_lines({"empty_cache": run, "warm_cache": {"error": "boom"}}))
