"""Crash isolation: find the inputs on which the installed TF itself crashes (segfaults).

Some TF releases crash the interpreter on inputs TF 2.21 handles (TF 2.16.1, for
one, segfaults in ``SoftmaxCrossEntropyWithLogits`` on float16 logits with zero
classes).  A crash would end the whole run, so before the runner calls TF on a
risky case it asks :class:`CrashScreen`: a long-lived child process that makes
the same TF call first.  If the child dies, the case is reported as a TF crash
and the child is restarted for the next one.

Risky cases are those with a zero-size input; against a TF release other than
the target every case is screened, since nobody has checked what crashes there.

The child speaks a tiny protocol on its pipes: the parent writes a pickled
``(case, target_name)`` (length-prefixed), the child calls TF and answers ``ok``.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys

import numpy as np

from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.functions import call_inputs


def is_risky(case) -> bool:
    """True when a case has a zero-size array input (where TF crashes have been seen)."""
    values = list(case.inputs.values()) + list(case.args)
    return any(isinstance(v, np.ndarray) and v.size == 0 for v in values)


class CrashScreen:
    """Runs TF calls in a child process first; reports the ones that kill it."""

    def __init__(self):
        self.child = None
        self.crashed = []
        self.crash_signatures = set()

    @staticmethod
    def signature(case, target) -> tuple:
        """What a crash depends on in practice: function, layout, and each input's type, dtype and shape.

        TF's crashes seen so far are shape-driven, so once a signature has crashed, other values
        with the same signature are reported without paying for another child restart.
        """
        items = sorted(case.inputs.items()) + [(f"arg{i}", a) for i, a in enumerate(case.args)]
        return (target.name, case.layout, tuple(
            (name, type(value).__name__, str(getattr(value, "dtype", "")), getattr(value, "shape", None))
            for name, value in items))

    def _start(self):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.child = subprocess.Popen(
            [sys.executable, "-m", "parity.isolate"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, cwd=root, env=env)

    def crashes(self, case, target) -> bool:
        """True if TF crashes the interpreter on ``case`` for ``target``."""
        signature = self.signature(case, target)
        if signature in self.crash_signatures:
            self.crashed.append((case.id, target.name))
            return True
        if self.child is None or self.child.poll() is not None:
            self._start()
        payload = pickle.dumps((case, target.name))
        try:
            self.child.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self.child.stdin.flush()
            answer = self.child.stdout.read(2)
        except (BrokenPipeError, OSError):
            answer = b""
        if answer == b"ok":
            return False
        self.child.wait()
        self.child = None
        self.crashed.append((case.id, target.name))
        self.crash_signatures.add(signature)
        return True

    def close(self):
        """Stop the child."""
        if self.child is not None and self.child.poll() is None:
            self.child.stdin.close()
            self.child.wait(timeout=30)
        self.child = None


def _serve():
    """Child side: make each requested TF call, answer ``ok`` after it returns."""
    from .runner import tf_present
    from .targets import all_targets, gradient_targets

    by_name = {t.name: t for t in all_targets() + gradient_targets()}
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return
        (size,) = struct.unpack("<Q", header)
        case, target_name = pickle.loads(stdin.read(size))
        target = by_name[target_name]
        args, kwargs = call_inputs(case, target)
        tfref.run_tf(target.tf_callable(), tuple(tf_present(a, case.layout) for a in args),
                     {k: tf_present(v, case.layout) for k, v in kwargs.items()})
        stdout.write(b"ok")
        stdout.flush()


if __name__ == "__main__":
    _serve()
