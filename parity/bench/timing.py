"""Interleaved timing and per-call peak memory.

Every implementation of one (op, dtype, shape) is timed in the same rounds: in each
round each one runs a batch of calls (enough for ``target_seconds``), in an order
shuffled per round, so a slow moment of the machine hits all of them alike.  The
result is the median per-call time over the rounds.  The garbage collector is off
while a batch runs, as in :mod:`timeit`.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable


@dataclass
class Timed:
    """One implementation ready to time: ``call()`` runs it once; ``before()`` runs untimed before each batch."""

    key: str
    call: Callable
    before: Callable = lambda: None


def _batch(timed: Timed, calls: int) -> float:
    timed.before()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            timed.call()
        return (time.perf_counter() - start) / calls
    finally:
        if enabled:
            gc.enable()


def calls_per_batch(seconds_per_call: float, target_seconds: float, cap: int = 10_000) -> int:
    """How many calls fill ``target_seconds`` (at least one)."""
    return max(1, min(cap, int(target_seconds / max(seconds_per_call, 1e-9))))


def interleaved(timed: list, rounds: int, target_seconds: float, warmup: int = 2, seed: int = 0,
                calibration: dict | None = None) -> dict:
    """Median per-call seconds of each :class:`Timed`, plus every round's sample.

    ``warmup`` untimed calls each, then one timed call sizes the batches, unless
    ``calibration`` gives a call's seconds already (a slow call need not run again).
    Returns ``{key: {"median": s, "samples": [...], "calls": n}}``.
    """
    calls = {}
    for t in timed:
        for _ in range(warmup):
            _batch(t, 1)
        known = (calibration or {}).get(t.key)
        calls[t.key] = calls_per_batch(known if known is not None else _batch(t, 1), target_seconds)
    samples = {t.key: [] for t in timed}
    order = list(timed)
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for t in order:
            samples[t.key].append(_batch(t, calls[t.key]))
    return {k: {"median": statistics.median(v), "samples": v, "calls": calls[k]} for k, v in samples.items()}


def peak_extra_bytes(timed: Timed) -> int:
    """Peak bytes allocated during one call (its result included), as :mod:`tracemalloc` sees them.

    tracemalloc sees what NumPy allocates; memory that TF, PyTorch, XLA or compiled
    (numba) code allocate by themselves is invisible to it.
    """
    timed.before()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = timed.call()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return max(int(peak - before), 0)
