"""The implementations under comparison, each called from NumPy inputs to a NumPy result.

That is the contract tfloss offers, so every peer is timed the same way: TF eager
including ``.numpy()``, PyTorch through ``torch.from_numpy`` and ``.numpy()`` (no
copies), JAX's jitted function on NumPy arrays including the transfer back
(``np.asarray``, which waits for the result).  A peer that fails to import is
skipped and the report says why.

========== ======================================= ==============================================
family     PyTorch (CPU, ``reduction='none'``)     JAX (``jax.jit``)
========== ======================================= ==============================================
sigmoid    ``binary_cross_entropy_with_logits``    ``optax.sigmoid_binary_cross_entropy``
weighted   the same with ``pos_weight``            TF's formula in ``jnp`` (optax has none)
softmax    ``cross_entropy`` with soft labels      ``optax.softmax_cross_entropy``
sparse     ``cross_entropy`` with index labels     ``optax.softmax_cross_entropy_with_integer_labels``
========== ======================================= ==============================================

PyTorch wants int64 index labels; they are converted once, outside the timing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from tfloss.conformance import tensorflow as tfref
from .timing import Timed

#: tfloss function per family (the TF2 names; compat.v1 calls the same kernels).
OPS = {
    "sigmoid": "sigmoid_cross_entropy_with_logits",
    "weighted": "weighted_cross_entropy_with_logits",
    "softmax": "softmax_cross_entropy_with_logits",
    "sparse": "sparse_softmax_cross_entropy_with_logits",
}
FAMILIES = tuple(OPS)


# --- the plain NumPy formulas (stable, not TF's rounding) ---------------------------------------


def numpy_sigmoid(labels, logits):
    """``max(x, 0) - x z + log1p(exp(-|x|))``."""
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def numpy_weighted(labels, logits, pos_weight):
    """``(1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + max(-x, 0))``."""
    log_weight = 1 + (pos_weight - 1) * labels
    return (1 - labels) * logits + log_weight * (np.log1p(np.exp(-np.abs(logits))) + np.maximum(-logits, 0))


def numpy_softmax(labels, logits):
    """``sum_j z_j (log S - shifted_j)`` with ``shifted = x - max x``, ``S = sum exp(shifted)``."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_sum_exp = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return (labels * (log_sum_exp - shifted)).sum(axis=-1)


def numpy_sparse(labels, logits):
    """``log S - shifted_y``."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_sum_exp = np.log(np.exp(shifted).sum(axis=-1))
    return log_sum_exp - shifted[np.arange(shifted.shape[0]), labels]


NUMPY_FORMULAS = {"sigmoid": numpy_sigmoid, "weighted": numpy_weighted, "softmax": numpy_softmax,
                  "sparse": numpy_sparse}


# --- tfloss and its engine ------------------------------------------------------------------------


def engine_config():
    """``tfloss.config`` when this build has the compiled engine and it can be switched on, else None."""
    import tfloss

    config = getattr(tfloss, "config", None)
    if config is None or not all(hasattr(config, name) for name in ("set_engine", "get_engine")):
        return None
    previous = config.get_engine()
    try:
        config.set_engine("numba")
    except Exception:  # noqa: BLE001 - e.g. numba missing: the engine cannot run here
        return None
    finally:
        config.set_engine(previous)
    return config


def engine_threads(config, default: int) -> int:
    """Threads the engine runs on (0 or an absent setter means the default: every usable core)."""
    threading = getattr(config, "threading", None)
    getter = getattr(threading, "get_intra_op_parallelism_threads", None)
    threads = getter() if getter else 0
    return int(threads) if threads else default


@dataclass
class Impl:
    """One implementation: ``make(family, inputs)`` returns the zero-argument call to time."""

    key: str
    label: str
    role: str  # "tfloss", "tf" or "peer"
    make: object
    version: str = ""
    cores: int = 1
    before: object = field(default=lambda: None)

    def timed(self, family, inputs) -> Timed:
        return Timed(self.key, self.make(family, inputs), self.before)


def tfloss_impls(cores: int) -> list:
    """tfloss on its engine (when present) and on the NumPy path."""
    import tfloss

    def make(family, inputs):
        op = getattr(tfloss.nn, OPS[family])
        return lambda: op(**inputs)

    config = engine_config()
    if config is None:
        return [Impl("tfloss_numpy", "tfloss (NumPy path; this build has no compiled engine)", "tfloss", make,
                     tfloss.__version__, cores=1)]
    return [
        Impl("tfloss", "tfloss (numba engine)", "tfloss", make, tfloss.__version__,
             cores=engine_threads(config, cores), before=lambda: config.set_engine("numba")),
        Impl("tfloss_numpy", "tfloss (NumPy path)", "tfloss", make, tfloss.__version__, cores=1,
             before=lambda: config.set_engine("numpy")),
    ]


# --- the peers ---------------------------------------------------------------------------------------


def tf_impl(cores: int) -> Impl:
    t = tfref.tf()

    def make(family, inputs):
        op = getattr(t.nn, OPS[family])
        return lambda: op(**inputs).numpy()

    return Impl("tf", f"TF {t.__version__} eager (with .numpy())", "tf", make, t.__version__, cores=cores)


def torch_impl(cores: int) -> Impl:
    torch = importlib.import_module("torch")
    functional = torch.nn.functional

    def make(family, inputs):
        x = inputs["logits"]
        if family == "sparse":
            labels = torch.from_numpy(inputs["labels"].astype(np.int64))
            return lambda: functional.cross_entropy(torch.from_numpy(x), labels, reduction="none").numpy()
        z = inputs["labels"]
        if family == "sigmoid":
            return lambda: functional.binary_cross_entropy_with_logits(
                torch.from_numpy(x), torch.from_numpy(z), reduction="none").numpy()
        if family == "weighted":
            pos_weight = torch.tensor(inputs["pos_weight"], dtype=torch.from_numpy(x).dtype)
            return lambda: functional.binary_cross_entropy_with_logits(
                torch.from_numpy(x), torch.from_numpy(z), pos_weight=pos_weight, reduction="none").numpy()
        return lambda: functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(z), reduction="none").numpy()

    return Impl("torch", f"PyTorch {torch.__version__} CPU", "peer", make, torch.__version__,
                cores=torch.get_num_threads())


def jax_impl(cores: int) -> Impl:
    jax = importlib.import_module("jax")
    jnp = importlib.import_module("jax.numpy")
    optax = importlib.import_module("optax")

    def weighted(labels, logits, pos_weight):
        log_weight = 1 + (pos_weight - 1) * labels
        return (1 - labels) * logits + log_weight * (jnp.log1p(jnp.exp(-jnp.abs(logits))) + jnp.maximum(-logits, 0))

    kernels = {
        "sigmoid": jax.jit(lambda labels, logits: optax.sigmoid_binary_cross_entropy(logits, labels)),
        "weighted": jax.jit(weighted),
        "softmax": jax.jit(lambda labels, logits: optax.softmax_cross_entropy(logits, labels)),
        "sparse": jax.jit(lambda labels, logits: optax.softmax_cross_entropy_with_integer_labels(logits, labels)),
    }

    def make(family, inputs):
        kernel = kernels[family]
        return lambda: np.asarray(kernel(**inputs))

    return Impl("jax", f"JAX {jax.__version__} jit + optax {optax.__version__}", "peer", make,
                jax.__version__, cores=cores)


def numpy_impl(cores: int) -> Impl:
    def make(family, inputs):
        formula = NUMPY_FORMULAS[family]
        return lambda: formula(**inputs)

    return Impl("numpy", f"NumPy {np.__version__} formula", "peer", make, np.__version__, cores=1)


PEERS = {"tf": tf_impl, "torch": torch_impl, "jax": jax_impl, "numpy": numpy_impl}


def load(cores: int, wanted=None) -> tuple:
    """``(impls, skipped)``: the implementations that import, and ``{key: reason}`` for those that do not."""
    impls = tfloss_impls(cores)
    skipped = {}
    for key, factory in PEERS.items():
        if wanted is not None and key not in wanted:
            skipped[key] = "not requested (--peers)"
            continue
        try:
            impls.append(factory(cores))
        except Exception as exc:  # noqa: BLE001 - any import failure: skip the peer, say why
            skipped[key] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return impls, skipped


def gradient_impls(impls: list) -> list:
    """tfloss.value_and_gradient (per tfloss impl) and tf.GradientTape (when TF loaded)."""
    import tfloss

    from tfloss.conformance.functions import gradient_wrt

    out = []
    for impl in impls:
        if impl.role == "tfloss":
            def make(family, inputs):
                op = getattr(tfloss.nn, OPS[family])
                return lambda: tfloss.value_and_gradient(op, **inputs)

            out.append(Impl(impl.key, impl.label.replace("tfloss", "tfloss.value_and_gradient", 1), "tfloss", make,
                            impl.version, impl.cores, impl.before))
        elif impl.key == "tf":
            t = tfref.tf()

            def make(family, inputs):
                op = getattr(t.nn, OPS[family])
                wrt = gradient_wrt(family, inputs)

                def call():
                    loss, *grads = tfref.tf_value_and_gradient(op, inputs, wrt)
                    return loss.numpy(), [None if g is None else g.numpy() for g in grads]

                return call

            out.append(Impl("tf", f"TF {t.__version__} GradientTape (with .numpy())", "tf", make, impl.version,
                            impl.cores))
    return out
