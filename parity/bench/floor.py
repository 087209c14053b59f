"""The floor: a lower bound on how fast any implementation of an op can run here.

Two bounds, both measured in the same run as the implementations:

memory
    Every input is read once and the loss is written once.  Moving those bytes
    takes at least as long as ``np.copyto`` needs to move the same number of
    bytes (a copy reads half and writes half), so the bound is
    ``traffic_bytes / copy_bandwidth``, with the bandwidth measured on a copy of
    that size: in cache for a small shape, from memory for a large one.
transcendental
    Each logit needs one ``exp`` (the softmax family) or one ``exp`` and one
    ``log1p`` (sigmoid and weighted).  NumPy's ``np.exp`` / ``np.log1p`` over
    the logits, on one core, divided by the cores the implementation uses, is
    the bound (it assumes a perfect split over the cores).

The floor is the larger of the two; ``tfloss / floor`` says how far tfloss is
from it.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

#: Families whose kernel needs a log1p per element besides the exp.
LOG1P_FAMILIES = ("sigmoid", "weighted")


def traffic_bytes(inputs: dict, output_nbytes: int) -> int:
    """Bytes an op must move: every array input read once, the loss written once."""
    read = sum(v.nbytes for v in inputs.values() if isinstance(v, np.ndarray))
    return int(read + output_nbytes)


def memory_floor_seconds(traffic: int, bandwidth: float) -> float:
    """Seconds to move ``traffic`` bytes at ``bandwidth`` bytes per second (read + write)."""
    return traffic / bandwidth


def transcendental_floor_seconds(pass_seconds: float, cores: int) -> float:
    """One-core time of the exp (and log1p) pass, split perfectly over ``cores``."""
    return pass_seconds / max(int(cores), 1)


def floor(memory_seconds: float, transcendental_seconds: float) -> dict:
    """The floor and which bound sets it."""
    bound = "memory" if memory_seconds >= transcendental_seconds else "transcendental"
    return {"seconds": max(memory_seconds, transcendental_seconds), "bound": bound,
            "memory_seconds": memory_seconds, "transcendental_seconds": transcendental_seconds}


def _median_seconds(fn, repeats: int, min_sample: float = 2e-3) -> float:
    """Median per-call time of ``fn``, in batches of at least ``min_sample`` seconds."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    calls = max(1, min(10_000, int(min_sample / once)))
    samples = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def copy_bandwidth(nbytes: int, repeats: int = 5) -> float:
    """Bytes per second (read + written) of ``np.copyto`` between two ``nbytes``/2 buffers."""
    half = max(int(nbytes) // 2, 8)
    src = np.ones(half // 8, dtype=np.float64)
    dst = np.empty_like(src)
    seconds = _median_seconds(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / seconds


def transcendental_pass_seconds(family: str, logits: np.ndarray, repeats: int = 5) -> float:
    """One-core seconds of ``np.exp`` over the logits, plus ``np.log1p`` for sigmoid/weighted.

    16-bit logits are timed in float32, the type TF computes their exp in (NumPy has no
    float16/bfloat16 exp of its own: it would time a conversion instead).
    """
    x = np.asarray(logits)
    if x.dtype.itemsize < 4:
        x = x.astype(np.float32)
    out = np.empty_like(x)
    if family in LOG1P_FAMILIES:
        with np.errstate(all="ignore"):
            tail = np.exp(-np.abs(x))  # log1p's argument in the stable formula, in (0, 1]

        def one_pass():
            np.exp(x, out=out)
            np.log1p(tail, out=out)
    else:
        def one_pass():
            np.exp(x, out=out)
    with np.errstate(all="ignore"):
        return _median_seconds(one_pass, repeats)


def l3_bytes(default: int = 32 << 20) -> int:
    """The largest cache's size, from sysfs (Linux), else ``default``."""
    best = 0
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        value = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        best = max(best, value)
    return best or default


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
