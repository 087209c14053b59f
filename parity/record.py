"""``python -m parity.record`` (``make golden``): record TF's outcome of every catalogue run.

Every case of :mod:`tfloss.conformance.catalogue` on every public function it runs (ops,
textbook formulas, gradients and Hessian-vector products), called in the installed TensorFlow
exactly as the parity suite calls it, is stored in ``tfloss/conformance/golden/`` (see
:mod:`tfloss.conformance.golden`).  Only TF's outcomes are stored; tfloss is not called.

``--kernel-dependent`` (``make golden-kernels``) records only the runs whose TF result depends
on the softmax kernel TF picks by the CPU, as a supplement named after this CPU's kernels
(``tf2.21.0-onednn``): run it on a CPU that runs other kernels than the main recording's.  On an
AVX-512 CPU with oneDNN on, ``TF_ENABLE_ONEDNN_OPTS=0`` gives Eigen's kernels, so one such
machine can record both (``make golden``, then ``TF_ENABLE_ONEDNN_OPTS=0 make golden-kernels``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tfloss.config import onednn_lanes
from tfloss.conformance import catalogue, declared, golden
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.functions import call_inputs

from . import report
from .runner import _tf_crashes, tf_present
from .targets import _target

#: The CPU features TF's kernel choices depend on (oneDNN, its softmax, FTZ-relevant ISA).
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "avx512fp16", "avx_vnni", "avx_ne_convert", "amx_tile", "amx_bf16", "amx_int8",
                "amx_fp16")


def _cpu_features() -> list:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [name for name in CPU_FEATURES if name in flags]
    except OSError:
        pass
    return []


def manifest() -> dict:
    """What only the recorder knows: TF, the machine, and the mode TF ran in."""
    env = report.environment()
    tf = tfref.tf()
    return {
        "tensorflow": tf.__version__,
        "tensorflow_git_version": tf.version.GIT_VERSION,
        "mode": "eager, CPU, no jit_compile",
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF's default for the CPU)"),
        "cpu": env["cpu"],
        "cpu_features": _cpu_features(),
        "machine": env["machine"],
        "platform": env["platform"],
        "softmax_kernels": env["softmax_kernels"],
        "onednn_lanes": onednn_lanes(),
        "numpy": env["numpy"],
        "ml_dtypes": env["ml_dtypes"],
        "python": env["python"],
        "date": env["date"],
    }


def record(runs, progress=True):
    """TF's outcome of each run, in order."""
    outcomes = []
    started = time.monotonic()
    for i, run in enumerate(runs, 1):
        target = _target(run.function)
        if _tf_crashes(run.case, target):
            raise RuntimeError(f"TF {tfref.tf_version()} crashes on {run.id}; record with the target release")
        args, kwargs = call_inputs(run.case, target)
        outcomes.append(tfref.run_tf(target.tf_callable(), tuple(tf_present(a, run.case.layout) for a in args),
                                     {k: tf_present(v, run.case.layout) for k, v in kwargs.items()}))
        if progress and (i % 2000 == 0 or i == len(runs)):
            print(f"[record] {i}/{len(runs)} runs, {time.monotonic() - started:.0f}s", flush=True)
    return outcomes


def supplement_name(kernels: dict, lanes: int) -> str:
    """The supplement's name for a CPU whose TF runs ``kernels``: ``eigen``, ``onednn``
    (float32 and bfloat16), ``onednn-fp16`` (float16 too), with ``-8lanes`` on AVX2."""
    if "oneDNN" not in kernels.values():
        return "eigen"
    return "onednn" + ("-fp16" if kernels.get("float16") == "oneDNN" else "") + ("" if lanes == 16 else f"-{lanes}lanes")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.record", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(golden.DATA_DIR), help="directory for the npz and the manifest")
    parser.add_argument("--kernel-dependent", action="store_true",
                        help="record only the softmax-kernel-dependent runs, as a supplement named after this CPU's kernels")
    opts = parser.parse_args(argv)
    if not tfref.is_target_release():
        print(f"record: TF {tfref.tf_version()} is not tfloss's target release {tfref.TARGET_TF_VERSION}; "
              "recording it anyway under its own name", file=sys.stderr)
    runs = catalogue.runs()
    info = manifest()
    supplement = ""
    if opts.kernel_dependent:
        main_manifest = golden.load(runs, version=info["tensorflow"], directory=opts.out).manifest
        if (main_manifest.get("softmax_kernels") == info["softmax_kernels"]
                and main_manifest.get("onednn_lanes", info["onednn_lanes"]) == info["onednn_lanes"]):
            print(f"record: TF runs the softmax kernels of the main recording on this CPU "
                  f"({info['softmax_kernels']}); there is nothing to add", file=sys.stderr)
            return 2
        supplement = supplement_name(info["softmax_kernels"], info["onednn_lanes"])
        runs = [run for run in runs if run.function.name in declared.KERNEL_DEPENDENT]
    print(f"record: {len(runs)} runs of {len({r.case.id for r in runs})} cases on TF {tfref.tf_version()}"
          + (f" (supplement {supplement})" if supplement else ""))
    outcomes = record(runs)
    npz_path, json_path = golden.write(opts.out, runs, outcomes, info, supplement=supplement)
    print(f"record: wrote {npz_path} ({npz_path.stat().st_size / 1e6:.2f} MB) and {json_path}")
    if not supplement:
        try:
            golden.load(runs, version=tfref.tf_version(), directory=opts.out)
        except golden.GoldenError as exc:  # a supplement recorded for the old catalogue
            print(f"record: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
