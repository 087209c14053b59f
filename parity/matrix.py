"""``make matrix``: the parity suite against every TF release from 2.12 to 2.21 that installs here.

``python -m parity.matrix [--releases 2.12,2.13,...] [--sample N] [--report-only]`` (run by any
Python 3 with the standard library; each release runs in its own environment):

1. per release, one at a time, a cached virtual environment ``.venv-matrix/tf2.NN`` (gitignored)
   holding that release's latest patch of ``tensorflow-cpu`` (or of ``tensorflow`` where the CPU
   package is missing or not smaller: :func:`choose_package`), tfloss (editable) with its test
   extra, NumPy below 2 for releases before 2.18, and Keras 3.15.1 (the release tfloss
   reproduces) where ``tf.keras`` is Keras 3 (2.16 on); releases before 2.16 keep the Keras 2
   their TF pins.  Installs use ``pip --no-cache-dir``.
2. :mod:`parity.matrix_worker` inside it: the catalogue through the parity runner, and the Keras
   losses where ``tf.keras`` is Keras 3; its JSON is cached beside the environment
   (``.venv-matrix/results/``), keyed by release and sample, so a rerun only redoes what is missing
   (``--fresh`` redoes it all).
3. :mod:`parity.matrix_changes` folds the results into ``reports/matrix.md`` and
   ``reports/matrix.json``: per release the installed versions (or why it did not install or
   import), per release and function the case counts, and every behaviour that changed between
   releases with one example each.

tfloss reproduces TF 2.21, so a release's difference from tfloss is a behaviour change between
that release and 2.21.  Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import matrix_changes as mc

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv-matrix"
RESULTS = VENVS / "results"
RELEASES = tuple(f"2.{n}" for n in range(12, 22))
REFERENCE = "2.21"
KERAS3_FROM = (2, 16)
NUMPY2_FROM = (2, 18)
KERAS_PIN = "keras==3.15.1"
WORKER_TIMEOUT = 5400


def _pip(python, *args, log=None, timeout=3600):
    cmd = [str(python), "-m", "pip", *args]
    with open(log, "a") if log else open(os.devnull, "w") as out:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode


def _wheel_size(python, requirement: str):
    """(url, bytes) of the wheel pip would install for ``requirement``, or None."""
    proc = subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                           "--quiet", "--report", "-", requirement], capture_output=True, text=True, timeout=600)
    if proc.returncode:
        return None
    try:
        url = json.loads(proc.stdout)["install"][0]["download_info"]["url"]
    except (ValueError, KeyError, IndexError):
        return None
    head = subprocess.run(["curl", "-sIL", url], capture_output=True, text=True, timeout=120)
    sizes = [line.split(":", 1)[1].strip() for line in head.stdout.splitlines() if line.lower().startswith("content-length")]
    return (url, int(sizes[-1])) if sizes and sizes[-1].isdigit() else (url, None)


def choose_package(release: str) -> dict:
    """``tensorflow-cpu`` where it exists for this release and its wheel is smaller than
    ``tensorflow``'s, else ``tensorflow``; cached in ``.venv-matrix/packages.json``."""
    cache = VENVS / "packages.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if release in known:
        return known[release]
    sizes = {name: _wheel_size(sys.executable, f"{name}=={release}.*") for name in ("tensorflow-cpu", "tensorflow")}
    cpu, full = sizes["tensorflow-cpu"], sizes["tensorflow"]
    if cpu and (not full or (cpu[1] or 0) < (full[1] or float("inf"))):
        package = "tensorflow-cpu"
    else:
        package = "tensorflow"
    known[release] = {"package": package,
                      "wheel_bytes": {name: (s[1] if s else None) for name, s in sizes.items()},
                      "wheels": {name: (s[0].rsplit("/", 1)[-1] if s else None) for name, s in sizes.items()}}
    VENVS.mkdir(exist_ok=True)
    cache.write_text(json.dumps(known, indent=1))
    return known[release]


def requirements(release: str, package: str) -> list:
    """What the release's environment installs (besides pip itself)."""
    version = tuple(int(p) for p in release.split("."))
    reqs = ["-e", f"{ROOT}[test]", f"{package}=={release}.*"]
    if version < NUMPY2_FROM:
        reqs.append("numpy<2")
    if version >= KERAS3_FROM:
        reqs.append(KERAS_PIN)
    return reqs


def ensure_venv(release: str) -> dict:
    """Create or update ``.venv-matrix/tf<release>``; returns ``{ok, python, reason, package...}``."""
    choice = choose_package(release)
    venv = VENVS / f"tf{release}"
    python = venv / "bin" / "python"
    reqs = requirements(release, choice["package"])
    stamp = venv / ".installed"
    wanted = " ".join(reqs)
    info = {"python": str(python), "package": choice["package"], "wheel_bytes": choice["wheel_bytes"],
            "requirements": wanted.replace(str(ROOT), ".")}
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return {**info, "ok": True}
    log = venv / "install.log"
    print(f"matrix: installing TF {release} ({wanted.replace(str(ROOT), '.')}) into {venv}", flush=True)
    if not python.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(python, "install", "--no-cache-dir", "--quiet", "--upgrade", "pip", log=log)
    rc = _pip(python, "install", "--no-cache-dir", "--quiet", *reqs, log=log)
    if rc:
        tail = [line for line in log.read_text().splitlines() if "is ignored" not in line][-6:]
        return {**info, "ok": False, "reason": f"pip install failed (exit {rc}): " + " | ".join(tail)[-600:]}
    stamp.write_text(wanted + "\n")
    return {**info, "ok": True}


def run_release(release: str, sample: int, fresh: bool = False) -> dict:
    """One release's result: the worker's JSON plus how it was installed, or why it is missing."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    cached = RESULTS / f"tf{release}-sample{sample}.json"
    if cached.exists() and not fresh:
        return json.loads(cached.read_text())
    try:
        env = ensure_venv(release)
    except Exception as exc:  # noqa: BLE001 - a row saying why
        env = {"ok": False, "reason": f"environment not created: {type(exc).__name__}: {exc}"}
    result = {"release": release, "install": {k: v for k, v in env.items() if k != "python"}}
    if not env["ok"]:
        result.update(status="not installed", reason=env["reason"])
        cached.write_text(json.dumps(result))
        return result
    out = RESULTS / f"tf{release}-sample{sample}.worker.json"
    log = RESULTS / f"tf{release}-sample{sample}.log"
    # One numba cache for every release: tfloss's kernels are the same, and numba drops entries
    # written by another numba version itself.
    worker_env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(VENVS / "numba-cache"),
                      TF_CPP_MIN_LOG_LEVEL="2")
    started = time.monotonic()
    print(f"matrix: running TF {release} (sample {sample}); log in {log}", flush=True)
    try:
        with open(log, "w") as f:
            rc = subprocess.run([env["python"], "-m", "parity.matrix_worker", "--out", str(out), "--sample", str(sample)],
                                cwd=ROOT, env=worker_env, stdout=f, stderr=subprocess.STDOUT,
                                timeout=WORKER_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc != 0 or not out.exists():
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-8:]
        status = "not importable" if any("ImportError" in line or "ModuleNotFoundError" in line for line in lines) else "run failed"
        result.update(status=status, reason=f"worker exit {rc}: " + " | ".join(lines)[-800:])
    else:
        result.update(json.loads(out.read_text()), status="ran")
        out.unlink()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["tfloss_commit"] = _commit()
    cached.write_text(json.dumps(result))
    return result


# --- the report ---------------------------------------------------------------------------------


def _releases_table(results) -> list:
    lines = ["| release | installed | package | tensorflow | numpy | keras | Keras losses | cases run | seconds |",
             "|---|---|---|---|---|---|---|---:|---:|"]
    for release in sorted(results, key=mc.version_key):
        r = results[release]
        install = r.get("install", {})
        package = install.get("package", "-")
        sizes = install.get("wheel_bytes") or {}
        if sizes.get("tensorflow-cpu") and sizes.get("tensorflow"):
            package += f" ({sizes['tensorflow-cpu'] / 1e6:.0f} MB wheel; tensorflow's {sizes['tensorflow'] / 1e6:.0f} MB)"
        if r["status"] != "ran":
            lines.append(f"| {release} | **{r['status']}**: {r.get('reason', '')[:300]} | {package} | - | - | - | - | - | - |")
            continue
        v = r["versions"]
        lines.append(f"| {release} | yes | {package} | {v['tensorflow']} | {v['numpy']} | {v['keras']} | "
                     f"{'compared (tf.keras is Keras 3)' if r['keras_compared'] else 'not compared (tf.keras is Keras 2)'} | "
                     f"{len(r['observations'])} | {r['seconds']:.0f} |")
    return lines


def _cell(row) -> str:
    if row is None:
        return "-"
    if row["unavailable"] == row["cases"]:
        return "n/a"
    text = f"{row['passed']}/{row['failed']}/{row['declared']}/{row['errors'] + row['crashes']}"
    return text + (f" +{row['skipped']}s" if row["skipped"] else "")


def _function_order(name: str) -> tuple:
    mode, _, base = name.rpartition(":")
    group = 2 if name.startswith("keras") else (1 if name.startswith("textbook") else 0)
    return (group, {"": 0, "grad": 1, "grad_upstream": 2, "hvp": 3}.get(mode, 4), base)


def _esc(text: str, limit: int = 400) -> str:
    text = (text or "").replace("\n", "\\n").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: What the tables cannot show by themselves (the NumPy probe was run by hand: see its text).
CAVEATS = [
    "- NumPy's major version changes with TF 2.18 (NumPy < 2 before it), so a change between 2.17 and 2.18 "
    "can be NumPy's rather than TF's. The `axis=np.int32(1)` rows are: TF 2.18.1 run by hand with NumPy 1.26.4 "
    "(and ml_dtypes 0.4.1) raises the same `ValueError: Tensor conversion requested dtype int32 for Tensor "
    "with dtype int64` as 2.12-2.17, and returns with NumPy 2.0.2. (The catalogue names such cases by the "
    "value's repr, `axis_1` under NumPy 1 and `axis_np.int32(1)` under NumPy 2; the matrix treats them as one "
    "case.)",
    "- TF 2.12 and 2.13 have their own bfloat16 type, not ml_dtypes', so the suite hands them bfloat16 inputs "
    "as tensors cast from float32 (`tfloss.conformance.tensorflow.to_tf_input`). Two bfloat16 rows between "
    "2.13 and 2.14 are likely that harness path rather than TF: the weighted loss's gradients with a bfloat16 "
    "array `pos_weight` (on 2.12/2.13 it arrives as a tensor, so `gradient_wrt` does not watch it and TF "
    "returns 3 outputs, not 4; read in the code, not run apart), and the scalar bfloat16 Hessian-vector "
    "products' `ValueError: object __array__ method not producing an array` (not traced to its source).",
    "- Keras is 3.15.1 in every release whose `tf.keras` is Keras 3, so a Keras-loss change is a change in the "
    "TF ops under Keras.",
    "- A release counts as behaving as 2.21 when it passes against tfloss, i.e. within the suite's bound "
    "(bits, or a bound in ULPs for values; error class and message exactly): value differences inside the "
    "bound are not counted as changes.",
]


def markdown(results, data) -> str:
    ran = {k: v for k, v in results.items() if v["status"] == "ran"}
    releases = sorted(results, key=mc.version_key)
    ran_order = [r for r in releases if r in ran]
    sample = data["sample"]
    lines = [
        "# TF release matrix",
        "",
        "The parity suite (`parity.runner` on the conformance catalogue; the Keras loss cases of "
        "`parity/test_losses.py`) run against every TensorFlow release 2.12-2.21 that installs on this machine "
        f"(Python {platform.python_version()}, {platform.machine()}), each release in its own environment "
        "(`make matrix`; `parity/matrix.py`). tfloss reproduces TF 2.21, so a case where a release differs "
        "from tfloss is a behaviour change between that release and 2.21; the change table below locates each "
        "change between consecutive installed releases.",
        "",
        (f"**Sampled run** (`make matrix SAMPLE={sample}`): every case of the catalogue's errors, layout and "
         f"regression groups, every {sample}th case of its values and large groups, every {sample}th Keras case. "
         "The full catalogue per release is `make matrix` (SAMPLE=1)." if sample > 1 else
         "Full catalogue (SAMPLE=1)."),
        "",
        f"Generated {data['date']}; CPU: {data['cpu']}; tfloss commit(s) of the runs: "
        + (", ".join(sorted({r.get("tfloss_commit", "not recorded") for r in ran.values()})) or "-") + ".",
        "",
        "## Releases",
        "",
        "The latest patch of each minor release; `tensorflow-cpu` where its wheel is smaller than "
        "`tensorflow`'s, NumPy < 2 before 2.18, Keras pinned to 3.15.1 (the release tfloss reproduces) from "
        "2.16, where `tf.keras` is Keras 3; before 2.16 `tf.keras` is the Keras 2 that TF pins and the Keras "
        "losses are not compared.",
        "",
        *_releases_table(results),
        "",
        "## Case counts per release and function",
        "",
        "Each cell: passed / failed (differs from tfloss, i.e. from TF 2.21) / declared (a declared tfloss "
        "difference, as against 2.21) / errors (the harness could not run the case there, or TF crashed); "
        "`+Ns` cases skipped (tfloss does not reproduce them against any release); `n/a` the function is "
        "not available in that release; `-` not compared there.",
        "",
        "| function | " + " | ".join(ran_order) + " |",
        "|---|" + "---:|" * len(ran_order),
    ]
    counts = data["counts"]
    functions = sorted({f for r in ran_order for f in counts[r]}, key=_function_order)
    for function in functions:
        lines.append(f"| `{function}` | " + " | ".join(_cell(counts[r].get(function)) for r in ran_order) + " |")
    notes = [f"- {r}: {ran[r]['keras_note']}" for r in ran_order if ran[r].get("keras_note")]
    if notes:
        lines += ["", "Keras losses not compared:", "", *notes]
    lines += ["", "## Caveats", "", *CAVEATS]
    lines += ["", "## How each release differs from TF 2.21, by kind", "",
              "Cases (function x input) where the release's outcome is not 2.21's, by kind of change.", "",
              "| release | " + " | ".join(k for k in mc.KINDS) + " | total |",
              "|---|" + "---:|" * (len(mc.KINDS) + 1)]
    for release in ran_order:
        kinds = data["versus_2.21"].get(release, {})
        lines.append(f"| {release} | " + " | ".join(str(kinds.get(k, 0) or "") for k in mc.KINDS)
                     + f" | {sum(kinds.values())} |")
    lines += ["", "## Behaviour changes between releases", "",
              "Every change of outcome of a (function, case) from one installed release to the next, folded into "
              "rows of alike changes (same kind, same releases, same outcomes once numbers are blanked). "
              "*as 2.21* marks the side that behaves as TF 2.21 (and tfloss). Each row has one concrete "
              "example: the inputs and what each release gave.", ""]
    if not data["changes"]:
        lines.append("None found.")
    for i, row in enumerate(data["changes"], 1):
        e = row["example"]
        functions = row["functions"]
        lines += [
            f"### {i}. {row['kind']}: {row['before']} -> {row['after']} ({row['count']} cases; "
            f"{', '.join(f'`{f}`' for f in functions[:4])}{' ...' if len(functions) > 4 else ''})",
            "",
            *([f"- {row['note']}"] if row.get("note") else []),
            f"- example: `{e['function']}`, case `{e['case']}`",
            f"- inputs: `{_esc(e['before_obs'].get('inputs', ''), 300)}`",
            f"- TF {e['before']}: {_esc(mc.said(e['before_obs']))}",
            f"- TF {e['after']}: {_esc(mc.said(e['after_obs']))}",
        ]
        for side in ("before", "after"):
            o = e[f"{side}_obs"]
            if o["status"] not in mc.AS_REFERENCE and o.get("detail") and o["status"] != "crash":
                lines.append(f"- TF {e[side]} against tfloss (2.21): {_esc(o['detail'], 300)}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    """The tfloss commit the run used (and whether the work tree had changes)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "tfloss", "parity"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build_report(results, sample: int) -> dict:
    """The matrix's JSON document from the per-release results."""
    ran = {k: v for k, v in results.items() if v["status"] == "ran"}
    events = mc.change_events(ran)
    rows = mc.group_events(events)
    reference = REFERENCE if REFERENCE in ran else None

    def slim(obs):
        return {k: obs.get(k) for k in ("status", "detail", "inputs", "tf")}

    changes = [{**row, "example": {**row["example"], "before_obs": slim(row["example"]["before_obs"]),
                                    "after_obs": slim(row["example"]["after_obs"])}} for row in rows]
    releases = {}
    for release, r in results.items():
        releases[release] = {k: r.get(k) for k in ("status", "reason", "install", "versions", "sample", "keras_compared",
                                                   "keras_note", "seconds", "wall_seconds") if k in r}
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu(),
        "python": platform.python_version(),
        "sample": sample,
        "reference": "tfloss (TF 2.21.0)" + ("; the 2.21 run itself too" if reference else ""),
        "releases": releases,
        "counts": mc.counts(ran),
        "versus_2.21": mc.versus_reference(ran, reference),
        "changes": changes,
        "change_events": len(events),
        "events": [{k: e[k] for k in ("function", "case", "kind", "before", "after")} for e in events],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--releases", default=",".join(RELEASES), help="comma-separated minor releases")
    parser.add_argument("--sample", type=int, default=1, help="see parity.matrix_worker (1: the whole catalogue)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report from cached results")
    parser.add_argument("--fresh", action="store_true", help="rerun releases whose results are cached")
    parser.add_argument("--out", default=str(ROOT / "reports"))
    opts = parser.parse_args(argv)
    releases = [r.strip() for r in opts.releases.split(",") if r.strip()]
    results = {}
    for release in releases:
        cached = RESULTS / f"tf{release}-sample{opts.sample}.json"
        if opts.report_only:
            if cached.exists():
                results[release] = json.loads(cached.read_text())
            continue
        results[release] = run_release(release, opts.sample, fresh=opts.fresh)
        r = results[release]
        print(f"matrix: TF {release}: {r['status']}" + (f" ({r.get('reason', '')[:200]})" if r["status"] != "ran" else
                                                        f", {len(r['observations'])} observations"), flush=True)
    data = build_report(results, opts.sample)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "matrix.json").write_text(json.dumps(data, indent=1, default=str))
    (out / "matrix.md").write_text(markdown(results, data))
    print(f"matrix: {len(results)} releases, {data['change_events']} change events in {len(data['changes'])} rows; "
          f"{out / 'matrix.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
