"""The bench's measurements: values, gradients, scaling with size, and the engine's first call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from tfloss.conformance.functions import gradient_wrt
from . import floor as floor_mod
from .cases import GRADIENT_SHAPES, QUICK_GRADIENT_SHAPES, QUICK_SCALING_ROWS, SCALING_ROWS, Case, make_inputs
from .impls import FAMILIES, OPS, gradient_impls
from .timing import interleaved, peak_extra_bytes

#: A call slower than this is timed in fewer rounds (one call per batch already).
SLOW_CALL_SECONDS = 0.5


def _as_f64(value):
    return np.asarray(value).astype(np.float64)


def check_against(result, reference) -> dict:
    """Whether ``result`` equals ``reference`` bit for bit, and the largest relative difference."""
    result, reference = np.asarray(result), np.asarray(reference)
    if result.shape != reference.shape:
        return {"shape": list(result.shape), "expected_shape": list(reference.shape), "bit_equal": False}
    bit_equal = result.dtype == reference.dtype and result.tobytes() == reference.tobytes()
    same_dtype = result.dtype == reference.dtype and result.dtype.itemsize in (2, 4, 8)
    if same_dtype and result.size:
        view = np.dtype(f"u{result.dtype.itemsize}")
        equal_share = float(np.mean(result.view(view) == reference.view(view)))
    else:
        equal_share = float(bit_equal)
    a, b = _as_f64(result), _as_f64(reference)
    with np.errstate(all="ignore"):
        scale = max(float(np.nanmax(np.abs(b))) if b.size else 0.0, np.finfo(np.float64).tiny)
        rel = float(np.nanmax(np.abs(a - b)) / scale) if a.size else 0.0
    return {"bit_equal": bool(bit_equal), "bit_equal_share": equal_share, "max_rel_diff": rel,
            "dtype": str(result.dtype)}


def _first_calls(timed: list) -> tuple:
    """Run each once (the first warm-up): outputs, seconds, and errors of those that fail."""
    outputs, seconds, errors = {}, {}, {}
    for t in timed:
        t.before()
        start = time.perf_counter()
        try:
            outputs[t.key] = t.call()
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run this case is reported, not timed
            errors[t.key] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            continue
        seconds[t.key] = time.perf_counter() - start
    return outputs, seconds, errors


def _timed_rounds(runnable: list, first_seconds: dict, rounds: int, target_seconds: float) -> dict:
    """Interleaved rounds after the first calls; slow cases get at most 5 rounds and no second warm-up."""
    if max(first_seconds.values(), default=0) < SLOW_CALL_SECONDS:
        return interleaved(runnable, rounds, target_seconds, warmup=1)
    return interleaved(runnable, min(rounds, 5), target_seconds, warmup=0, calibration=first_seconds)


def _medians(result: dict) -> dict:
    out = {}
    for key, r in result.items():
        q1, q3 = np.percentile(r["samples"], [25, 75])
        out[key] = {"ms": r["median"] * 1e3, "q1_ms": q1 * 1e3, "q3_ms": q3 * 1e3, "calls": r["calls"],
                    "rounds": len(r["samples"])}
    return out


class Bench:
    """Holds the implementations and the run's settings; each method measures one part."""

    def __init__(self, impls, rounds, target_seconds, cores, log=print):
        self.impls = impls
        self.rounds = rounds
        self.target_seconds = target_seconds
        self.cores = cores
        self.log = log
        self._bandwidth = {}
        self.primary = next(i for i in impls if i.role == "tfloss")

    def copy_bandwidth(self, nbytes: int) -> float:
        """Copy bandwidth at this size (cached per size)."""
        if nbytes not in self._bandwidth:
            self._bandwidth[nbytes] = floor_mod.copy_bandwidth(nbytes, repeats=max(self.rounds, 3))
        return self._bandwidth[nbytes]

    def value_case(self, case: Case) -> dict:
        inputs = make_inputs(case)
        impls = [i for i in self.impls if case.dtype == "float32" or i.role in ("tfloss", "tf")]
        timed = [i.timed(case.family, inputs) for i in impls]
        outputs, first, errors = _first_calls(timed)
        runnable = [t for t in timed if t.key in outputs]
        result = _timed_rounds(runnable, first, self.rounds, self.target_seconds)
        row = {"family": case.family, "op": OPS[case.family], "dtype": case.dtype, "shape": list(case.shape),
               "elements": int(inputs["logits"].size), "errors": errors, "times": _medians(result)}
        reference = outputs.get("tf")
        if reference is not None:
            row["check_vs_tf"] = {k: check_against(v, reference) for k, v in outputs.items() if k != "tf"}
        row["peak_bytes"] = {t.key: peak_extra_bytes(t) for t in runnable
                             if t.key.startswith("tfloss") or t.key == "numpy"}
        row["input_bytes"] = int(sum(v.nbytes for v in inputs.values() if isinstance(v, np.ndarray)))
        output_nbytes = np.asarray(outputs[self.primary.key]).nbytes
        traffic = floor_mod.traffic_bytes(inputs, output_nbytes)
        bandwidth = self.copy_bandwidth(traffic)
        transcendental = floor_mod.transcendental_pass_seconds(case.family, inputs["logits"], max(self.rounds, 3))
        row["floor"] = floor_mod.floor(floor_mod.memory_floor_seconds(traffic, bandwidth),
                                       floor_mod.transcendental_floor_seconds(transcendental, self.primary.cores))
        row["floor"].update(traffic_bytes=traffic, copy_bandwidth=bandwidth, one_core_pass_seconds=transcendental,
                            cores=self.primary.cores)
        row["ratios"] = ratios(row, self.primary.key)
        self._print(case, row)
        return row

    def _print(self, case, row, what="value"):
        times = row["times"]
        parts = " ".join(f"{k} {v['ms']:.3g}" for k, v in times.items())
        r = row["ratios"]
        vs_tf = f" /TF {r['tf']:.2f}" if r.get("tf") else ""
        vs_floor = f" /floor {r['floor']:.1f}" if r.get("floor") else ""
        self.log(f"{what:5s} {case.family:8s} {case.dtype:8s} {case.name:>11s}  ms: {parts}{vs_tf}{vs_floor}")

    def gradient_cases(self, quick: bool) -> list:
        impls = gradient_impls(self.impls)
        if not any(i.key == "tf" for i in impls):
            return []
        rows = []
        for shape in QUICK_GRADIENT_SHAPES if quick else GRADIENT_SHAPES:
            for family in FAMILIES:
                case = Case(family, "float32", shape)
                inputs = make_inputs(case)
                timed = [i.timed(family, inputs) for i in impls]
                outputs, first, errors = _first_calls(timed)
                runnable = [t for t in timed if t.key in outputs]
                result = _timed_rounds(runnable, first, self.rounds, self.target_seconds)
                row = {"family": family, "op": OPS[family], "dtype": "float32", "shape": list(shape),
                       "elements": int(inputs["logits"].size), "errors": errors, "times": _medians(result)}
                if "tf" in outputs:
                    tf_loss, tf_grads = outputs["tf"]
                    row["check_vs_tf"] = {}
                    for key, value in outputs.items():
                        if key == "tf":
                            continue
                        loss, grads = value
                        ours = [grads.get(name) for name in gradient_wrt(family, inputs)]
                        row["check_vs_tf"][key] = {
                            "loss": check_against(loss, tf_loss),
                            "grads": [None if a is None or b is None else check_against(a, b)
                                      for a, b in zip(ours, tf_grads)]}
                row["ratios"] = ratios(row, self.primary.key)
                self._print(case, row, "grad")
                rows.append(row)
        return rows

    def scaling(self, quick: bool) -> dict:
        """softmax float32 at growing batch sizes (1000 classes), tfloss only: time per element."""
        ours = [i for i in self.impls if i.role == "tfloss"]
        points = []
        for rows in QUICK_SCALING_ROWS if quick else SCALING_ROWS:
            case = Case("softmax", "float32", (rows, 1000))
            inputs = make_inputs(case)
            timed = [i.timed("softmax", inputs) for i in ours]
            _, first, _ = _first_calls(timed)
            result = _timed_rounds(timed, first, self.rounds, self.target_seconds)
            points.append({"shape": [rows, 1000], "elements": rows * 1000, "times": _medians(result)})
            self.log(f"size  softmax  float32  {case.name:>11s}  ms: "
                     + " ".join(f"{k} {v['ms']:.3g}" for k, v in points[-1]["times"].items()))
        fits = {}
        for impl in ours:
            n = np.array([p["elements"] for p in points], float)
            t = np.array([p["times"][impl.key]["ms"] for p in points], float)
            slope = float(np.polyfit(np.log(n), np.log(t), 1)[0]) if len(n) > 1 else float("nan")
            fits[impl.key] = {"log_log_slope": slope, "ns_per_element": list(t * 1e6 / n)}
        return {"op": OPS["softmax"], "dtype": "float32", "points": points, "fits": fits}


def ratios(row: dict, primary: str) -> dict:
    """tfloss / TF, tfloss / the fastest other implementation, tfloss / floor (each when measurable)."""
    times = {k: v["ms"] for k, v in row["times"].items()}
    if primary not in times:
        return {}
    ours = times[primary]
    out = {}
    if "tf" in times:
        out["tf"] = ours / times["tf"]
    others = {k: v for k, v in times.items() if not k.startswith("tfloss")}
    if others:
        best = min(others, key=others.get)
        out["best_peer"] = ours / others[best]
        out["best_peer_key"] = best
    if "tfloss_numpy" in times and primary != "tfloss_numpy" and "tf" in times:
        out["numpy_path_tf"] = times["tfloss_numpy"] / times["tf"]
    if "floor" in row:
        out["floor"] = ours / (row["floor"]["seconds"] * 1e3)
    return out


_COMPILE_SCRIPT = r"""
import json, sys, time
import numpy as np
start = time.perf_counter()
import tfloss
imported = time.perf_counter() - start
tfloss.config.set_engine("numba")
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 100)).astype(np.float32)
z = rng.random((64, 100)).astype(np.float32)
y = rng.integers(0, 100, 64).astype(np.int32)
calls = {
    "sigmoid_cross_entropy_with_logits": dict(labels=z, logits=x),
    "weighted_cross_entropy_with_logits": dict(labels=z, logits=x, pos_weight=2.0),
    "softmax_cross_entropy_with_logits": dict(labels=z / z.sum(-1, keepdims=True), logits=x),
    "sparse_softmax_cross_entropy_with_logits": dict(labels=y, logits=x),
}
out = {"import_seconds": imported, "engine": tfloss.config.get_engine(), "ops": {}}
for name, kwargs in calls.items():
    op = getattr(tfloss.nn, name)
    start = time.perf_counter(); op(**kwargs); first = time.perf_counter() - start
    start = time.perf_counter(); op(**kwargs); second = time.perf_counter() - start
    out["ops"][name] = {"first_seconds": first, "second_seconds": second}
print(json.dumps(out))
"""


def compile_times(log=print) -> dict:
    """First call of each op in a fresh process: with an empty numba cache, then with that cache filled."""
    runs = {}
    with tempfile.TemporaryDirectory(prefix="tfloss-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("empty_cache", "warm_cache"):
            proc = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True,
                                  timeout=900)
            if proc.returncode != 0:
                runs[label] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
                continue
            runs[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            total = sum(o["first_seconds"] for o in runs[label]["ops"].values())
            log(f"engine first calls ({label}): {total:.2f} s for the four ops")
    return runs
