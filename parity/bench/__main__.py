"""Command line of the bench: ``python -m parity.bench [--quick] [...]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# PyTorch's OpenMP workers spin while they wait by default; next to TF's and XLA's thread pools
# in one process, on few cores, a spinning worker can hold the core another library's thread
# needs (measured here: 7.7 ms instead of 17 us for a 32x10 PyTorch loss on a busy 2-core
# machine).  Passive waiting avoids that; set OMP_WAIT_POLICY yourself to time otherwise.
OMP_WAIT_POLICY = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import floor, impls, output  # noqa: E402
from .cases import value_cases  # noqa: E402
from .run import Bench, compile_times  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _environment() -> dict:
    try:
        from .. import report

        return report.environment()
    except Exception as exc:  # noqa: BLE001 - TF missing: still report the rest
        import datetime
        import platform

        import numpy as np

        return {"numpy": np.__version__, "python": sys.version.split()[0], "platform": platform.platform(),
                "tensorflow": f"not importable ({type(exc).__name__})",
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main(argv=None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m parity.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="few rounds and small shapes, to check the bench; writes reports/bench-quick.*")
    parser.add_argument("--rounds", type=int, help="rounds per case (default 15, quick 3)")
    parser.add_argument("--target-ms", type=float, help="length of one timed batch (default 25, quick 3)")
    parser.add_argument("--peers", help="comma-separated subset of: " + ",".join(impls.PEERS))
    parser.add_argument("--no-large", action="store_true", help="skip the shape larger than the caches")
    parser.add_argument("--out", default=str(ROOT / "reports"))
    parser.add_argument("--figure", help="figure path (default docs/figures/bench.png, quick reports/bench-quick.png)")
    opts = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show as they come, even into a file
    rounds = opts.rounds or (3 if opts.quick else 15)
    target_ms = opts.target_ms or (3.0 if opts.quick else 25.0)
    stem = "bench-quick" if opts.quick else "bench"
    figure_path = Path(opts.figure) if opts.figure else (
        Path(opts.out) / "bench-quick.png" if opts.quick else ROOT / "docs" / "figures" / "bench.png")

    load_start = os.getloadavg()[0]
    cores, l3 = floor.usable_cores(), floor.l3_bytes()
    env = _environment()
    loaded, skipped = impls.load(cores, None if not opts.peers else set(opts.peers.split(",")))
    print(f"bench: {', '.join(i.label for i in loaded)}; {cores} cores; largest cache {output.fmt_bytes(l3)}; "
          f"load {load_start:.2f}" + ("; QUICK" if opts.quick else ""))
    for key, reason in skipped.items():
        print(f"bench: skipped {key}: {reason}")
    config = impls.engine_config()
    previous_engine = config.get_engine() if config else None

    big = min(2 * l3, 1 << 30)
    bandwidth = {"bytes": big, "bytes_per_second": floor.copy_bandwidth(big, repeats=5)}
    print(f"bench: copy bandwidth from memory {bandwidth['bytes_per_second'] / 1e9:.1f} GB/s")
    bench = Bench(loaded, rounds, target_ms / 1e3, cores)
    try:
        values = [bench.value_case(case) for case in value_cases(opts.quick, l3, large=not opts.no_large)]
        gradients = bench.gradient_cases(opts.quick)
        scaling = bench.scaling(opts.quick)
        compiled = compile_times() if config else None
    finally:
        if config:
            config.set_engine(previous_engine)

    result = {
        "environment": env,
        "settings": {"quick": opts.quick, "rounds": rounds, "target_ms": target_ms, "cores": cores, "l3_bytes": l3,
                     "load_start": load_start, "load_end": os.getloadavg()[0],
                     "omp_wait_policy": OMP_WAIT_POLICY},
        "primary": bench.primary.key,
        "implementations": [{"key": i.key, "label": i.label, "role": i.role, "version": i.version,
                             "cores": i.cores} for i in loaded],
        "skipped": skipped,
        "memory_bandwidth": bandwidth,
        "values": values, "gradients": gradients, "scaling": scaling, "compile": compiled,
    }
    json_path, md_path = output.write(result, Path(opts.out), stem)
    try:
        output.figure(result, figure_path)
        print(f"bench: wrote {md_path}, {json_path} and {figure_path}")
    except ImportError as exc:
        print(f"bench: wrote {md_path} and {json_path}; no figure ({exc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
