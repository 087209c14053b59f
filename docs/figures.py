"""Draw the figures of the lessons into docs/figures/*.png (``make figures``).

Every curve comes from tfloss itself (the stable ops, the ``tfloss.textbook`` naive forms, and
``tfloss.value_and_gradient`` where it exists); the error figure comes from
``reports/parity.json`` (written by ``make parity``) and is skipped, with a message, if that
file is missing.  Needs matplotlib (``pip install -e ".[figures]"``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import tfloss  # noqa: E402

OUT = ROOT / "docs" / "figures"
REPORT = ROOT / "reports" / "parity.json"
DTYPES = [("float16", np.float16), ("bfloat16", ml_dtypes.bfloat16), ("float32", np.float32), ("float64", np.float64)]
DPI = 72
STYLE = dict(stable=dict(color="C0", lw=2), naive=dict(color="C3", lw=1.5, ls="--"))


def _f64(a):
    return np.asarray(a).astype(np.float64)


def _first_bad(xs, values):
    """First x (in the order given) where ``values`` is not finite, or None."""
    bad = ~np.isfinite(_f64(values))
    return xs[np.argmax(bad)] if bad.any() else None


def _panel(ax, title, xs, stable, naive, xlabel):
    ax.plot(xs, _f64(stable), label="stable (tfloss.nn)", **STYLE["stable"])
    ax.plot(xs, np.where(np.isfinite(_f64(naive)), _f64(naive), np.nan), label="naive (tfloss.textbook)", **STYLE["naive"])
    bad = _first_bad(xs, naive)
    if bad is not None:
        ax.axvline(bad, color="C3", lw=0.8, ls=":")
        right = (bad - xs.min()) > 0.6 * (xs.max() - xs.min())
        ax.annotate(f"naive not finite\nfrom {bad:.4g}", xy=(bad, 0.55), xycoords=("data", "axes fraction"),
                    xytext=(-4 if right else 4, 0), textcoords="offset points", fontsize=7, color="C3",
                    ha="right" if right else "left")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


def _grid(title):
    fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
    fig.suptitle(title, fontsize=10, y=1.04)
    return fig, axes


def naive_vs_stable_sigmoid():
    fig, axes = _grid("sigmoid cross-entropy, label 0: -log(1 - sigmoid(x)) naive vs max(x,0) - xz + log1p(exp(-|x|))")
    for ax, (name, dtype) in zip(axes, DTYPES):
        top = 50.0 if name != "float64" else 60.0
        xs = np.unique(np.linspace(0.0, top, 801).astype(dtype)).astype(np.float64)
        x = xs.astype(dtype)
        z = np.zeros_like(x)
        _panel(ax, name, xs, tfloss.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
               tfloss.textbook.naive_sigmoid_cross_entropy(labels=z, logits=x), "logit x")
    axes[0].legend(fontsize=7, loc="upper left")
    _save(fig, "naive_vs_stable_sigmoid.png")


def naive_vs_stable_weighted():
    q = 3.0
    fig, axes = _grid(f"weighted cross-entropy, label 1, pos_weight {q:g}: -q log(sigmoid(x)) naive vs stable")
    for ax, (name, dtype) in zip(axes, DTYPES):
        bottom = -120.0 if name != "float64" else -800.0
        xs = np.unique(np.linspace(bottom, 0.0, 801).astype(dtype)).astype(np.float64)[::-1]  # scan from 0 down
        x = xs.astype(dtype)
        ones = np.ones_like(x)
        naive = q * _f64(tfloss.textbook.naive_sigmoid_cross_entropy(labels=ones, logits=x))
        stable = tfloss.nn.weighted_cross_entropy_with_logits(labels=ones, logits=x, pos_weight=q)
        _panel(ax, name, xs, stable, naive.astype(dtype), "logit x")
    axes[0].legend(fontsize=7, loc="upper right")
    _save(fig, "naive_vs_stable_weighted.png")


def _two_class_gap(name, dtype, op):
    top = 120.0 if name != "float64" else 800.0
    gaps = np.unique(np.linspace(0.0, top, 801).astype(dtype)).astype(np.float64)
    logits = np.stack([np.zeros_like(gaps), -gaps], axis=1).astype(dtype)
    onehot = np.tile(np.array([0.0, 1.0], dtype), (len(gaps), 1))
    naive = tfloss.textbook.naive_softmax_cross_entropy(labels=onehot, logits=logits)
    if op == "sparse":
        stable = tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=np.ones(len(gaps), np.int32), logits=logits)
    else:
        stable = tfloss.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits)
    return gaps, stable, naive


def naive_vs_stable_softmax(op="softmax"):
    fig, axes = _grid(f"{op} cross-entropy, logits [0, -d], label on class 1: -log softmax naive vs log-sum-exp")
    for ax, (name, dtype) in zip(axes, DTYPES):
        gaps, stable, naive = _two_class_gap(name, dtype, op)
        _panel(ax, name, gaps, stable, naive, "gap d")
    axes[0].legend(fontsize=7, loc="upper left")
    _save(fig, f"naive_vs_stable_{op}.png")


def clipped():
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    p = np.logspace(-16, 0, 400).astype(np.float32)
    onehot = np.stack([np.ones_like(p), np.zeros_like(p)], axis=1)
    probs = np.stack([p, 1 - p], axis=1)
    clipped_loss = [float(tfloss.textbook.per_example_clipped_cross_entropy(labels=onehot[i:i + 1], probs=probs[i:i + 1]))
                    for i in range(len(p))]
    left.semilogx(p, -np.log(p.astype(np.float64)), label="exact -log p", **STYLE["stable"])
    left.semilogx(p, clipped_loss, label="clipped at 1e-10", **STYLE["naive"])
    left.set_xlabel("predicted probability of the true class", fontsize=8)
    left.set_ylabel("loss", fontsize=8)
    left.set_title("the clip caps the loss at -log(1e-10) = 23.03", fontsize=9)
    left.legend(fontsize=7)
    classes = np.arange(2, 21)
    rng = np.random.default_rng(0)
    whole, per = [], []
    for c in classes:
        logits = rng.normal(size=(64, c))
        probs_c = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
        labels = np.eye(c, dtype=np.float32)[rng.integers(c, size=64)]
        whole.append(float(tfloss.textbook.clipped_cross_entropy(labels=labels, probs=probs_c)))
        per.append(float(tfloss.textbook.per_example_clipped_cross_entropy(labels=labels, probs=probs_c)))
    right.plot(classes, per, "o-", ms=3, label="per-example mean (sum over classes)", **{k: v for k, v in STYLE["stable"].items() if k != "lw"})
    right.plot(classes, whole, "s--", ms=3, color="C3", label="reduce_mean over the whole matrix")
    right.set_xlabel("number of classes C (random logits, 64 examples)", fontsize=8)
    right.set_title("same predictions, two means: ratio is exactly C", fontsize=9)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    _save(fig, "clipped.png")


def keras_clip():
    """Keras' from_logits=False path: the loss and its gradient against the exact logits path."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    gaps = np.linspace(0.0, 50.0, 201).astype(np.float32)
    logits = np.stack([np.zeros_like(gaps), -gaps], axis=1)  # the true class is 1, `gap` below
    y_true = np.tile(np.array([[0.0, 1.0]], np.float32), (len(gaps), 1))
    cce = tfloss.keras.losses.categorical_crossentropy
    exact = cce(y_true, logits, from_logits=True)
    clipped = cce(y_true, tfloss.nn.softmax(logits))
    left.plot(gaps, _f64(exact), label="from_logits=True", **STYLE["stable"])
    left.plot(gaps, _f64(clipped), label="from_logits=False (probabilities)", **STYLE["naive"])
    left.axhline(-np.log(1e-7), color="C3", lw=0.8, ls=":")
    left.set_xlabel("logit gap of the true class (true loss ~ gap)", fontsize=8)
    left.set_ylabel("loss (float32)", fontsize=8)
    left.set_title("the 1e-7 clip caps the loss at 16.118", fontsize=9)
    left.legend(fontsize=7)
    probabilities = tfloss.nn.softmax(logits)
    _, grads = tfloss.value_and_gradient(cce, y_true=y_true, y_pred=probabilities)
    _, logit_grads = tfloss.value_and_gradient(tfloss.nn.softmax, logits=logits,
                                               grad_loss=np.nan_to_num(grads["y_pred"], posinf=0.0, neginf=0.0))
    _, exact_grads = tfloss.value_and_gradient(tfloss.nn.softmax_cross_entropy_with_logits, labels=y_true, logits=logits)
    right.plot(gaps, _f64(exact_grads["logits"][:, 1]), label="from_logits=True", **STYLE["stable"])
    right.plot(gaps, _f64(logit_grads["logits"][:, 1]), label="through softmax and the clip", **STYLE["naive"])
    right.set_xlabel("logit gap of the true class", fontsize=8)
    right.set_ylabel("d loss / d logit of the true class", fontsize=8)
    right.set_title("where the clip holds, the gradient is 0: the example stops teaching", fontsize=9)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    _save(fig, "keras_clip.png")


def _gradient(op, **inputs):
    """``tfloss.value_and_gradient`` if it exists, else the closed form (documented in the lessons)."""
    if hasattr(tfloss, "value_and_gradient"):
        _, grads = tfloss.value_and_gradient(op, **inputs)
        return _f64(grads["logits"])
    x, z = _f64(inputs["logits"]), _f64(inputs["labels"])
    sig = 1 / (1 + np.exp(-x))
    if op is tfloss.nn.sigmoid_cross_entropy_with_logits:
        return sig - z
    if op is tfloss.nn.weighted_cross_entropy_with_logits:
        q = inputs["pos_weight"]
        grad = (1 + (q - 1) * z) * sig - q * z
        return np.where(x == 0, 1 - z, grad)  # TF's autodiff at exactly 0 (abs and relu have slope 0 there)
    raise ValueError(op)


def gradients():
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
    x = np.concatenate([np.linspace(-6, 6, 241), [0.0]])
    x = np.sort(x)
    for z, color in ((0.0, "C0"), (1.0, "C1")):
        g = _gradient(tfloss.nn.sigmoid_cross_entropy_with_logits, labels=np.full_like(x, z), logits=x)
        axes[0].plot(x, g, color=color, label=f"label {z:g}")
        g = _gradient(tfloss.nn.weighted_cross_entropy_with_logits, labels=np.full_like(x, z), logits=x, pos_weight=3.0)
        axes[1].plot(x, g, color=color, label=f"label {z:g}")
        axes[1].plot([0.0], g[x == 0][:1], "o", color=color, ms=4)
    axes[0].set_title("sigmoid: dL/dx = sigmoid(x) - z", fontsize=9)
    axes[1].set_title("weighted (q=3): dL/dx = l*sigmoid(x) - q*z\n(dots: TF's value at exactly x = 0 is 1 - z)", fontsize=9)
    d = np.linspace(-6, 6, 241)
    logits = np.stack([d, np.zeros_like(d), np.zeros_like(d)], axis=1)
    s = np.exp(logits - logits.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    if hasattr(tfloss, "value_and_gradient"):
        _, grads = tfloss.value_and_gradient(tfloss.nn.sparse_softmax_cross_entropy_with_logits,
                                             labels=np.zeros(len(d), np.int32), logits=logits)
        g = _f64(grads["logits"])
    else:
        g = s - np.array([1.0, 0.0, 0.0])
    axes[2].plot(d, g[:, 0], color="C0", label="class 0 (labelled)")
    axes[2].plot(d, g[:, 1], color="C2", label="class 1 or 2")
    axes[2].set_title("softmax / sparse, logits [d, 0, 0], label 0:\ndL/dx = softmax(x) - onehot", fontsize=9)
    axes[2].set_xlabel("d", fontsize=8)
    for ax in axes:
        ax.axhline(0, color="0.7", lw=0.5)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_xlabel("logit x", fontsize=8)
    axes[1].set_xlabel("logit x", fontsize=8)
    _save(fig, "gradients.png")


def parity_errors():
    if not REPORT.exists():
        print(f"skipped parity_errors.png: {REPORT.relative_to(ROOT)} not found (run `make parity` first)")
        return
    report = json.loads(REPORT.read_text())
    rows = [r for r in report["summary"] if r["function"].startswith("nn.") and r["dtype"] != "-"]
    ops = sorted({r["function"] for r in rows})
    dtypes = [name for name, _ in DTYPES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3))
    width = 0.2
    for i, dtype in enumerate(dtypes):
        by_op = {r["function"]: r for r in rows if r["dtype"] == dtype}
        xs = np.arange(len(ops)) + (i - 1.5) * width
        exact = [100 * by_op[o]["bit_exact_elements"] if o in by_op else 0 for o in ops]
        p99 = [by_op[o]["p99_ulps"] if o in by_op else 0 for o in ops]
        mx = [by_op[o]["max_ulps"] if o in by_op else 0 for o in ops]
        left.bar(xs, exact, width, label=dtype)
        right.bar(xs, mx, width, color=f"C{i}", alpha=0.45)
        right.bar(xs, p99, width, color=f"C{i}", label=dtype)
    labels = [o.replace("nn.", "").replace("_cross_entropy_with_logits", "") for o in ops]
    for ax in (left, right):
        ax.set_xticks(np.arange(len(ops)), labels, fontsize=8)
        ax.tick_params(labelsize=7)
    lowest = min(100 * r["bit_exact_elements"] for r in rows)
    left.set_ylim(max(0, min(90, lowest - 2)), 100.5)
    left.set_title("elements bit-identical to TF (%)", fontsize=9)
    right.set_title("error in ULPs of the term magnitude: p99 (solid), max (light)", fontsize=9)
    left.legend(fontsize=7, loc="lower left", ncol=2)
    env = report["environment"]
    fig.suptitle(f"tfloss vs TensorFlow {env['tensorflow']} (reports/parity.json, {env['date']}, "
                 f"{report['totals']['cases']} cases)", fontsize=9, y=1.04)
    _save(fig, "parity_errors.png")


def main():
    plt.rcParams.update({"axes.spines.top": False, "axes.spines.right": False})
    with np.errstate(all="ignore"):
        naive_vs_stable_sigmoid()
        naive_vs_stable_weighted()
        naive_vs_stable_softmax("softmax")
        naive_vs_stable_softmax("sparse")
        clipped()
        keras_clip()
        gradients()
        parity_errors()


if __name__ == "__main__":
    main()
