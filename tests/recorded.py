"""TF runs recorded into tests/data (by parity/record_targets.py and parity/record_xla.py), read back."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np

DATA = Path(__file__).resolve().parent / "data"


class Recording:
    """One recording: ``NAME.json`` (the cases) and ``NAME.npz`` (their arrays)."""

    def __init__(self, name: str):
        self.record = json.loads((DATA / f"{name}.json").read_text())
        self.arrays = np.load(DATA / f"{name}.npz")
        self.cases = {case["name"]: case for case in self.record["cases"]}

    def array(self, key):
        value = self.arrays[key]
        return value.view(ml_dtypes.bfloat16) if key in self.record["bfloat16_keys"] else value

    def kwargs(self, case):
        kwargs = {name: self.array(key) for name, key in case["inputs"].items()}
        kwargs.update(case["options"])
        return kwargs


def bits(array):
    """What two results must share to be the same: dtype, shape and every byte."""
    array = np.asarray(array)
    return array.dtype, array.shape, array.tobytes()
