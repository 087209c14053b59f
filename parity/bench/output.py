"""The bench's report: ``bench.json`` for programs, ``bench.md`` for people, and the ratio figure."""

from __future__ import annotations

import json
from pathlib import Path

#: Column headers per implementation key, in table order.
HEADERS = {"tfloss": "tfloss engine", "tfloss_numpy": "tfloss NumPy path", "tf": "TF", "torch": "PyTorch",
           "jax": "JAX", "numpy": "NumPy formula"}


BOUNDS = {"memory": "memory", "transcendental": "exp"}


def fmt_ms(ms) -> str:
    """Milliseconds with three significant digits (microseconds below 0.1 ms)."""
    if ms is None:
        return "–"
    if ms < 0.1:
        return f"{ms * 1e3:.3g} µs"
    return f"{ms:.3g}"


def fmt_ratio(ratio) -> str:
    return "–" if ratio is None else f"{ratio:.2f}"


def fmt_bytes(n) -> str:
    """Bytes in KiB/MiB/GiB."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def _keys(rows) -> list:
    present = {k for r in rows for k in r["times"]}
    return [k for k in HEADERS if k in present]


def _shape(row) -> str:
    return "x".join(map(str, row["shape"]))


def _bits(row, key) -> str:
    check = row.get("check_vs_tf", {}).get(key)
    if check is None:
        return "–"
    return "yes" if check.get("bit_equal") else f"no ({check.get('max_rel_diff', float('nan')):.1e})"


def value_table(rows, primary) -> list:
    keys = _keys(rows)
    head = (["op", "dtype", "logits", *[f"{HEADERS[k]} ms" for k in keys], "tfloss/TF", "tfloss/best peer",
             "floor ms (bound)", "tfloss/floor", "tfloss peak memory", "tfloss = TF bits"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 4) + "---|"]
    for r in rows:
        ratio = r["ratios"]
        best = ratio.get("best_peer_key")
        floor = r["floor"]
        peak = r["peak_bytes"].get(primary)
        peak_text = "–" if peak is None else f"{fmt_bytes(peak)} ({peak / r['input_bytes']:.2f}x inputs)"
        cells = [f"`{r['family']}`", r["dtype"], _shape(r),
                 *[fmt_ms(r["times"].get(k, {}).get("ms")) for k in keys],
                 fmt_ratio(ratio.get("tf")),
                 f"{fmt_ratio(ratio.get('best_peer'))} ({HEADERS.get(best, best)})" if best else "–",
                 f"{fmt_ms(floor['seconds'] * 1e3)} ({BOUNDS[floor['bound']]})", fmt_ratio(ratio.get("floor")),
                 peak_text, _bits(r, primary)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def peer_check_table(rows) -> list:
    keys = [k for k in _keys(rows) if k != "tf"]
    lines = ["| op | logits | " + " | ".join(HEADERS[k] for k in keys) + " |", "|---|---|" + "---:|" * len(keys)]
    for r in rows:
        cells = []
        for k in keys:
            check = r.get("check_vs_tf", {}).get(k)
            cells.append("–" if check is None else ("bit-equal" if check.get("bit_equal")
                                                    else f"{check.get('max_rel_diff', float('nan')):.1e}"))
        lines.append(f"| `{r['family']}` | {_shape(r)} | " + " | ".join(cells) + " |")
    return lines


def gradient_table(rows) -> list:
    keys = _keys(rows)
    lines = ["| op | logits | " + " | ".join(f"{'GradientTape' if k == 'tf' else HEADERS[k]} ms" for k in keys)
             + " | tfloss/TF | tfloss loss = TF bits | gradient elements = TF bits |",
             "|---|---|" + "---:|" * (len(keys) + 1) + "---|---:|"]
    for r in rows:
        checks = r.get("check_vs_tf", {})
        primary = next((k for k in ("tfloss", "tfloss_numpy") if k in checks), None)
        loss_bits, grad_bits = "–", "–"
        if primary:
            c = checks[primary]
            loss_bits = "yes" if c["loss"].get("bit_equal") else "no"
            grads = [g for g in c["grads"] if g is not None]
            # gradients agree with the tape within a few ULP, not always bit for bit (see reports/parity.md)
            grad_bits = ", ".join(f"{100 * g.get('bit_equal_share', 0):.1f}%" for g in grads) or "–"
        cells = [fmt_ms(r["times"].get(k, {}).get("ms")) for k in keys]
        lines.append(f"| `{r['family']}` | {_shape(r)} | " + " | ".join(cells)
                     + f" | {fmt_ratio(r['ratios'].get('tf'))} | {loss_bits} | {grad_bits} |")
    return lines


def scaling_table(scaling) -> list:
    keys = [k for k in HEADERS if k in scaling["fits"]]
    lines = ["| logits | elements | " + " | ".join(f"{HEADERS[k]} ms | ns/element" for k in keys) + " |",
             "|---|---:|" + "---:|---:|" * len(keys)]
    for i, p in enumerate(scaling["points"]):
        cells = []
        for k in keys:
            cells += [fmt_ms(p["times"][k]["ms"]), f"{scaling['fits'][k]['ns_per_element'][i]:.3g}"]
        lines.append(f"| {'x'.join(map(str, p['shape']))} | {p['elements']} | " + " | ".join(cells) + " |")
    slopes = ", ".join(f"{HEADERS[k]} {scaling['fits'][k]['log_log_slope']:.2f}" for k in keys)
    lines += ["", f"Slope of log(time) against log(elements): {slopes} (1 means the cost grows linearly)."]
    return lines


def compile_lines(compile_times) -> list:
    if not compile_times:
        return ["Not measured: this build of tfloss has no compiled engine (`tfloss.config.set_engine` is absent)."]
    lines = ["First call of each op (64x100 float32) in a fresh process, `NUMBA_CACHE_DIR` pointing at an empty "
             "folder, then at the same folder in a second fresh process:", "",
             "| op | first call, empty cache | first call, warm cache | second call |", "|---|---:|---:|---:|"]
    cold, warm = compile_times.get("empty_cache", {}), compile_times.get("warm_cache", {})
    for name in cold.get("ops", {}):
        c = cold["ops"][name]
        w = warm.get("ops", {}).get(name, {})
        lines.append(f"| `{name}` | {c['first_seconds'] * 1e3:.0f} ms | "
                     f"{w.get('first_seconds', float('nan')) * 1e3:.1f} ms | {c['second_seconds'] * 1e3:.3f} ms |")
    for label, run in compile_times.items():
        if "error" in run:
            lines.append(f"\n{label}: failed: {run['error']}")
    return lines


def markdown(result: dict) -> str:
    env = result["environment"]
    settings = result["settings"]
    primary = result["primary"]
    lines = ["# tfloss speed against TensorFlow and its peers", ""]
    if settings["quick"]:
        lines += ["**Quick run (`--quick`): few rounds and small shapes, for checking the bench only. "
                  "Its numbers are not for publishing.**", ""]
    lines += [f"tfloss {env.get('tfloss')}, TensorFlow {env.get('tensorflow')}, NumPy {env.get('numpy')}, "
              f"Python {env.get('python')}, {env.get('platform')}; CPU {env.get('cpu')}, "
              f"{settings['cores']} usable cores, largest cache {fmt_bytes(settings['l3_bytes'])}; {env.get('date')}.",
              "",
              f"Load average (1 min) before the bench started {settings['load_start']:.2f}"
              + (" — **the machine was busy: expect noise**" if settings["load_start"] > 0.5 else "")
              + f"; at the end {settings['load_end']:.2f} (the bench's own threads included).", "",
              "## Implementations", "", "| column | implementation | threads |", "|---|---|---:|"]
    for impl in result["implementations"]:
        lines.append(f"| {HEADERS[impl['key']]} | {impl['label']} | {impl['cores']} |")
    if result["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in result["skipped"].items()) + "."]
    lines += [
        "", "## How it is measured", "",
        "Every implementation goes from NumPy inputs to a NumPy result (TF includes `.numpy()`, JAX the transfer "
        "back). The implementations of one case run in the same rounds, in a shuffled order each round, after a "
        f"warm-up; each round times a batch of calls lasting about {settings['target_ms']:g} ms (one call when a "
        f"call is longer), and the table gives the median over {settings['rounds']} rounds (5 for calls slower "
        "than 0.5 s). Ratios below 1 mean tfloss is faster.", "",
        "The floor is the larger of two bounds: moving the bytes (every input read once, the loss written once) at "
        "the `np.copyto` bandwidth measured at the same size, and one `np.exp` over the logits (plus `np.log1p` "
        "for sigmoid and weighted) on one core divided by the cores tfloss uses. "
        f"PyTorch's OpenMP threads ran with `OMP_WAIT_POLICY={settings['omp_wait_policy']}` (the bench sets "
        "PASSIVE unless told otherwise: spinning OpenMP workers starve the other libraries' threads on few "
        f"cores). Copy bandwidth from memory ({fmt_bytes(result['memory_bandwidth']['bytes'])} copied): "
        f"{result['memory_bandwidth']['bytes_per_second'] / 1e9:.1f} GB/s.", "",
        "Peak memory is what `tracemalloc` sees allocated during one call, the result included; it sees NumPy's "
        "allocations only, not those of compiled code, TF, PyTorch or XLA.", "",
        "## float32, the four ops", ""]
    f32 = [r for r in result["values"] if r["dtype"] == "float32"]
    lines += value_table(f32, primary)
    others = [r for r in result["values"] if r["dtype"] != "float32"]
    if others:
        lines += ["", "## float64, float16 and bfloat16, against TF", ""] + value_table(others, primary)
    if result["gradients"]:
        lines += ["", "## Gradients: `tfloss.value_and_gradient` against `tf.GradientTape`", "",
                  "Loss and the gradients TF's tape gives (labels and logits; logits only for sparse), float32, "
                  "including `.numpy()` of every output. The last column is the share of gradient elements "
                  "identical to the tape's (labels, logits); below 100% only where tfloss cannot run the CPU's "
                  "`rcpps` (`tfloss.config.reproduces_rcpps()`), which TF's float32 Reciprocal refines "
                  "([parity report](parity.md)).", ""] + gradient_table(result["gradients"])
    lines += ["", "## Cost against size", "", "`softmax_cross_entropy_with_logits`, float32, 1000 classes.", ""]
    lines += scaling_table(result["scaling"])
    lines += ["", "## First call of the compiled engine", ""] + compile_lines(result["compile"])
    lines += ["", "## Do the peers compute the same thing?", "",
              "Largest difference from TF relative to TF's largest loss (float32), from one call of each; "
              "tfloss should be bit-equal.", ""] + peer_check_table(f32)
    for r in result["values"] + result["gradients"]:
        for key, error in r.get("errors", {}).items():
            lines.append(f"\n{HEADERS.get(key, key)} failed on `{r['family']}` {r['dtype']} {_shape(r)}: {error}")
    return "\n".join(lines) + "\n"


def figure(result: dict, path: Path) -> None:
    """Bars of tfloss/TF, tfloss/best peer and tfloss/floor per op and float32 shape (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["values"] if r["dtype"] == "float32"]
    families = list(dict.fromkeys(r["family"] for r in rows))
    series = [("tf", "tfloss / TF"), ("best_peer", "tfloss / fastest other"), ("floor", "tfloss / floor")]
    if any("numpy_path_tf" in r["ratios"] for r in rows):
        series.append(("numpy_path_tf", "tfloss NumPy path / TF"))
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3.2), sharey=True, squeeze=False)
    for ax, family in zip(axes[0], families):
        mine = [r for r in rows if r["family"] == family]
        x = np.arange(len(mine))
        width = 0.8 / len(series)
        for j, (key, label) in enumerate(series):
            values = [r["ratios"].get(key, np.nan) for r in mine]
            ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width, label=label, color=f"C{j}")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(x, ["x".join(map(str, r["shape"])) for r in mine], rotation=45, ha="right", fontsize=7)
        ax.set_title(family, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    axes[0][0].set_ylabel("time ratio (below 1: tfloss faster)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(series), frameon=False)
    label = next(i["label"] for i in result["implementations"] if i["key"] == result["primary"])
    fig.suptitle(f"{label}, float32, {result['environment'].get('date', '')}"
                 + (" (quick run)" if result["settings"]["quick"] else ""), fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(result: dict, out: Path, stem: str) -> tuple:
    """Write ``{stem}.json`` and ``{stem}.md`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path
