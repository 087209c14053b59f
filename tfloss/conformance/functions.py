"""The functions under comparison: one :class:`Function` per public tfloss function.

A function knows how its family's case inputs map onto its keyword arguments, how to find
itself in an implementation that mirrors tfloss's public API (:meth:`Function.bind`), and how
large the terms of its computation are (the scale the error bound is measured in, see
:mod:`tfloss.conformance.compare`).  Nothing here imports TensorFlow: the TF side of each
function is in :mod:`tfloss.conformance.tensorflow`.

Cases are written per *family* with TF2-style argument names:

========== ===============================================
family     inputs
========== ===============================================
sigmoid    ``labels``, ``logits``
weighted   ``labels``, ``logits``, ``pos_weight``
softmax    ``labels``, ``logits``, optional ``axis``
sparse     ``labels`` (int), ``logits``
clipped    ``labels`` (``y_``), ``probs`` (``y``)
========== ===============================================

Term magnitudes (all in float64, per output element)
----------------------------------------------------
sigmoid
    ``max(|relu(x)|, |x*z|, log1p(exp(-|x|)))``: TF computes
    ``relu(x) - x*z + log1p(exp(-|x|))``.
weighted
    ``max(|(1-z)*x|, |l| * (log1p(exp(-|x|)) + relu(-x)), |(q-1)*z| * ...)``
    with ``l = 1 + (q-1)*z``: TF computes
    ``(1-z)*x + l*(log1p(exp(-|x|)) + relu(-x))``.
softmax
    ``sum_j |z_j| * (max(|log S|, 1) + |x_j - max x|)`` per row, ``S = sum exp(x - max x)``:
    the kernel sums ``z_j * (log S - shifted_j)``.  ``log S`` carries an absolute
    error of about the relative precision of ``S`` (``S >= 1``), hence the floor
    of 1.  Budget grows with ``log2(C)``.
sparse
    ``max(|log S|, 1) + |x_y - max x|`` per row.  Budget grows with ``log2(C)``.
naive sigmoid (textbook)
    ``|z| * (|log p| + 1) + |1-z| * (|log(1-p)| + p/(1-p) + 1)`` with
    ``p = sigmoid(x)``: rounding ``p`` by one ULP moves ``log(1-p)`` by
    ``eps * p/(1-p)``, so that is the scale the naive form is judged on.
naive softmax (textbook)
    ``sum_j |z_j| * (|log p_j| + 1)`` per row.
clipped (textbook)
    ``mean(|y_ * log(clip(y))|)``; budget grows with ``log2(N)``.

The term magnitude is never taken below ``|expected|``.
"""

from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


FAMILIES = ("sigmoid", "weighted", "softmax", "sparse", "clipped")


# --- term magnitudes -------------------------------------------------------------------------


def _f64(value):
    """float64 view for magnitudes; complex inputs count by their modulus (a looser bound)."""
    value = np.asarray(value)
    return (np.abs(value) if value.dtype.kind == "c" else value).astype(np.float64)


def _softplus_neg_abs(x):
    return np.log1p(np.exp(-np.abs(x)))


def magnitude_sigmoid(inputs, expected):
    x, z = np.broadcast_arrays(_f64(inputs["logits"]), _f64(inputs["labels"]))
    with np.errstate(all="ignore"):
        m = np.maximum.reduce([np.maximum(x, 0), np.abs(x * z), _softplus_neg_abs(x)])
    return m, 1


def magnitude_weighted(inputs, expected):
    x = _f64(inputs["logits"])
    z = _f64(inputs["labels"])
    q = _f64(inputs["pos_weight"])
    with np.errstate(all="ignore"):
        l = 1 + (q - 1) * z
        tail = _softplus_neg_abs(x) + np.maximum(-x, 0)
        m = np.maximum.reduce(
            np.broadcast_arrays(np.abs((1 - z) * x), np.abs(l) * tail, np.abs((q - 1) * z) * tail, np.abs(x))
        )
    return m, 1


def _rows(a, axis, ndim):
    """TF's view of softmax inputs: class axis moved last, outer dims flattened."""
    a = _f64(a)
    if a.ndim == 0:
        a = a.reshape(1)
    if axis not in (-1, None) and a.ndim == ndim and ndim > 1:
        a = np.moveaxis(a, axis, -1)
    return a.reshape(-1, a.shape[-1]) if a.size or a.ndim else a.reshape(0, 0)


def magnitude_softmax(inputs, expected):
    x = _f64(inputs["logits"])
    axis = inputs.get("axis", -1)
    xr = _rows(x, axis, x.ndim)
    zr = _rows(inputs["labels"], axis, x.ndim)
    xr, zr = np.broadcast_arrays(xr, zr)
    with np.errstate(all="ignore"):
        shifted = xr - xr.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        # log(S) carries an absolute error of about S's relative precision, so it counts as >= 1.
        terms = np.where(zr == 0, 0.0, np.abs(zr) * (np.maximum(np.abs(log_sum), 1.0) + np.abs(shifted)))
        m = terms.sum(axis=1)
    expected = np.asarray(expected)
    return m.reshape(expected.shape), xr.shape[1]


def magnitude_sparse(inputs, expected):
    x = _f64(inputs["logits"])
    labels = np.asarray(inputs["labels"]).reshape(-1)
    xr = x.reshape(-1, x.shape[-1])
    with np.errstate(all="ignore"):
        shifted = xr - xr.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1))
        picked = shifted[np.arange(xr.shape[0]), np.clip(labels, 0, xr.shape[1] - 1)]
        m = np.maximum(np.abs(log_sum), 1.0) + np.abs(picked)
    return m.reshape(np.asarray(expected).shape), xr.shape[1]


def magnitude_naive_sigmoid(inputs, expected):
    x, z = np.broadcast_arrays(_f64(inputs["logits"]), _f64(inputs["labels"]))
    with np.errstate(all="ignore"):
        p = 1 / (1 + np.exp(-x))
        m = np.abs(z) * (np.abs(np.log(p)) + 1) + np.abs(1 - z) * (np.abs(np.log1p(-p)) + p / (1 - p) + 1)
    return m, 1


def magnitude_naive_softmax(inputs, expected):
    x = _f64(inputs["logits"])
    z = _f64(inputs["labels"])
    axis = inputs.get("axis", -1)
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=axis, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        terms = np.where(z == 0, 0.0, np.abs(z) * (np.abs(log_p) + 1))
        m = terms.sum(axis=axis)
    return m, x.shape[axis] if x.ndim else 1


def magnitude_clipped(inputs, expected):
    y_ = _f64(inputs["labels"])
    y = _f64(inputs["probs"])
    with np.errstate(all="ignore"):
        terms = np.abs(y_ * np.log(np.clip(y, 1e-10, 1.0)))
        m = terms.mean() if terms.size else 0.0
    return m, max(terms.size, 1)


# --- functions ------------------------------------------------------------------------------------


def resolve(namespace, dotted: str):
    """``getattr`` chain: ``resolve(tfloss, "compat.v1.nn.x")``; AttributeError if a link is missing.

    ``namespace`` is an object, or the name of a module to import.
    """
    obj = importlib.import_module(namespace) if isinstance(namespace, str) else namespace
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _keep_inputs(inputs):
    return dict(inputs)


def _no_magnitude(inputs, expected):
    return None, 1


@dataclass(frozen=True)
class Function:
    """One public function, as the catalogue's cases call it.

    Attributes
    ----------
    name : str
        Dotted path under ``tfloss`` (and, for nn / compat.v1.nn, under ``tf``); gradient
        functions are ``grad:``, ``grad_upstream:`` or ``hvp:`` followed by the op's name.
    family : str
        Which catalogue cases it runs (see the module docstring).
    adapt : callable
        Maps family inputs (dict) to this function's keyword arguments.
    magnitude : callable
        ``(inputs, expected) -> (M, n_terms)`` of the op's loss.
    op_name : str
        For gradient functions: the op differentiated.
    mode : str
        ``""`` for the op itself, else ``grad``, ``grad_upstream`` or ``hvp`` (see
        :meth:`bind`).
    """

    name: str
    family: str
    adapt: Callable = field(default=_keep_inputs)
    magnitude: Callable = field(default=_no_magnitude)
    op_name: str = ""
    mode: str = ""

    def magnitudes(self, inputs, expected) -> list:
        """Per-output ``(M, n_terms)`` for the output tuple ``expected``."""
        if self.mode == "grad":
            return gradient_magnitudes(self.family, inputs, expected)
        if self.mode == "grad_upstream":
            # d/dwrt scale with |upstream| <= 2: widen the unit-upstream magnitudes accordingly
            with np.errstate(over="ignore"):
                return [(None if m is None else 2 * m, n) if i else (m, n)
                        for i, (m, n) in enumerate(gradient_magnitudes(self.family, inputs, expected))]
        if self.mode == "hvp":
            return hvp_magnitudes(self.family, inputs, expected)
        return [self.magnitude(inputs, expected[0])]

    def bind(self, namespace, upstream=None):
        """This function as ``namespace`` provides it: a callable taking the adapted keywords.

        ``namespace`` mirrors tfloss's public API (``tfloss`` itself, or any object with the
        same dotted names).  Gradient functions need its ``value_and_gradient`` and
        ``hessian_vector_product`` and return ``(loss, d/d wrt...)`` or ``(d/d labels,
        d/d logits)``; ``upstream`` is the ``grad_loss`` of ``grad_upstream``.  Raises
        AttributeError where a name is missing.
        """
        if not self.mode:
            return resolve(namespace, self.name)
        op = resolve(namespace, self.op_name)
        family = self.family
        if self.mode in ("grad", "grad_upstream"):
            value_and_gradient = resolve(namespace, "value_and_gradient")

            def call(**kwargs):
                if self.mode == "grad":
                    loss, grads = value_and_gradient(op, **kwargs)
                else:
                    loss, grads = value_and_gradient(op, grad_loss=upstream, **kwargs)
                return (loss, *[grads.get(name) for name in gradient_wrt(family, kwargs)])

            return call
        hessian_vector_product = resolve(namespace, "hessian_vector_product")

        def call(**kwargs):
            out = hessian_vector_product(op, case_vector(kwargs), **kwargs)
            return (out.get("labels"), out.get("logits"))

        return call


def _rename(**mapping):
    def adapt(inputs):
        return {mapping.get(k, k): v for k, v in inputs.items()}

    return adapt


NN_FUNCTIONS = (
    Function("nn.sigmoid_cross_entropy_with_logits", "sigmoid", magnitude=magnitude_sigmoid),
    Function("compat.v1.nn.sigmoid_cross_entropy_with_logits", "sigmoid", magnitude=magnitude_sigmoid),
    Function("nn.weighted_cross_entropy_with_logits", "weighted", magnitude=magnitude_weighted),
    Function("compat.v1.nn.weighted_cross_entropy_with_logits", "weighted", magnitude=magnitude_weighted),
    Function("nn.softmax_cross_entropy_with_logits", "softmax", magnitude=magnitude_softmax),
    Function("compat.v1.nn.softmax_cross_entropy_with_logits", "softmax", adapt=_rename(axis="dim"),
             magnitude=magnitude_softmax),
    Function("compat.v1.nn.softmax_cross_entropy_with_logits_v2", "softmax", magnitude=magnitude_softmax),
    Function("nn.sparse_softmax_cross_entropy_with_logits", "sparse", magnitude=magnitude_sparse),
    Function("compat.v1.nn.sparse_softmax_cross_entropy_with_logits", "sparse", magnitude=magnitude_sparse),
)

#: Public TF names whose signatures tfloss must reproduce (see parity.signatures).
NN_NAMES = tuple(f.name for f in NN_FUNCTIONS)


# --- textbook formulas ---------------------------------------------------------------------------

def magnitude_per_example_clipped(inputs, expected):
    y_ = _f64(inputs["labels"])
    y = _f64(inputs["probs"])
    with np.errstate(all="ignore"):
        terms = np.abs(y_ * np.log(np.clip(y, 1e-10, 1.0)))
        rows = terms.reshape(-1, terms.shape[-1]).sum(axis=1) if terms.ndim else terms.reshape(1)
        m = rows.mean() if rows.size else 0.0
    return m, max(terms.size, 1)



#: The textbook formulas of ``tfloss.textbook``: family and term magnitude (their TF compositions
#: are in :mod:`tfloss.conformance.tensorflow`).
TEXTBOOK = {
    "clipped_cross_entropy": ("clipped", magnitude_clipped),
    "per_example_clipped_cross_entropy": ("clipped", magnitude_per_example_clipped),
    "naive_sigmoid_cross_entropy": ("sigmoid", magnitude_naive_sigmoid),
    "naive_softmax_cross_entropy": ("softmax", magnitude_naive_softmax),
}


def _textbook_adapter(inputs):
    """Family inputs -> the textbook functions' keywords (labels, logits/probs, axis)."""
    return {k: v for k, v in inputs.items() if k in ("labels", "logits", "probs", "axis")}


TEXTBOOK_FUNCTIONS = tuple(Function(f"textbook.{name}", family, adapt=_textbook_adapter, magnitude=magnitude)
                           for name, (family, magnitude) in TEXTBOOK.items())


# --- gradients (tfloss.value_and_gradient, tfloss.hessian_vector_product) ---------------------------

#: Inputs each family is differentiated with respect to (as TF's tape sees them).
GRADIENT_WRT = {
    "sigmoid": ("labels", "logits"),
    "weighted": ("labels", "logits"),
    "softmax": ("labels", "logits"),
    "sparse": ("logits",),
}


def _sigmoid64(x):
    with np.errstate(all="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _softmax64(x, axis):
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=axis, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=axis, keepdims=True), shifted - np.log(e.sum(axis=axis, keepdims=True))


def gradient_magnitudes(family, inputs, expected):
    """Term magnitudes of ``(loss, d/dwrt...)`` for upstream gradient 1.

    * sigmoid: d/dx = sigmoid(x) - z -> ``sigmoid(x) + |z|``; d/dz = -x -> ``|x|``.
    * weighted: d/dx = (1-z) - l*(1-sigmoid(x)) -> ``|1-z| + |l|``;
      d/dz = -x + (q-1)*softplus(-x) -> ``|x| + |q-1|*(|x|+1)``.
    * softmax: d/dx = softmax - z (times sum z) -> ``p*sum|z| + |z|``; d/dz = -log_softmax = log S - shifted
      -> ``max(|log S|, 1) + |shifted|`` (as for the loss).
    * sparse: d/dx = softmax - onehot -> ``p + onehot``.
    """
    value_target = {f.family: f for f in NN_FUNCTIONS}[family]
    out = [value_target.magnitude(inputs, expected[0])]
    x = _f64(inputs["logits"])
    with np.errstate(all="ignore"):
        if family in ("sigmoid", "weighted"):
            z = _f64(inputs["labels"])
            if family == "sigmoid":
                mags = {"logits": _sigmoid64(x) + np.abs(z), "labels": np.abs(x) + 0 * z}
            else:
                q = _f64(inputs["pos_weight"])
                l = 1 + (q - 1) * z
                mags = {"logits": np.abs(1 - z) + np.abs(l) + 0 * x,
                        "labels": np.abs(x) + np.abs(q - 1) * (np.abs(x) + 1) + 0 * z}
        elif family == "softmax":
            axis = inputs.get("axis", -1)
            z = _f64(inputs["labels"])
            p, log_p = _softmax64(x, axis)
            zsum = np.abs(z).sum(axis=axis, keepdims=True) if z.shape == x.shape else np.abs(z).sum()
            # -log_softmax = log S - shifted: as in the forward loss, log S counts as >= 1
            shifted = x - x.max(axis=axis, keepdims=True)
            log_sum = shifted - log_p
            mags = {"logits": p * zsum + np.abs(z), "labels": np.maximum(np.abs(log_sum), 1.0) + np.abs(shifted)}
        else:
            p, _ = _softmax64(x, -1)
            mags = {"logits": p + 1.0}
    for name, grad in zip(gradient_wrt(family, inputs), expected[1:]):
        m = mags.get(name)
        if grad is None or m is None or np.shape(m) != np.shape(grad):
            out.append((None, 1))
        else:
            out.append((m, x.shape[-1] if family in ("softmax", "sparse") and x.ndim else 1))
    return out


def gradient_wrt(family, inputs):
    """Names differentiated for a case: the family's, plus an array ``pos_weight`` of the logits' dtype.

    A Python-scalar ``pos_weight`` stays a Python scalar (TF folds it in double), so it is
    not watched.
    """
    wrt = GRADIENT_WRT[family]
    pos_weight = inputs.get("pos_weight")
    logits = inputs.get("logits")
    if (family == "weighted" and isinstance(pos_weight, np.ndarray) and isinstance(logits, np.ndarray)
            and pos_weight.dtype == logits.dtype):
        # Only then is watching it (as a tensor) the same computation; a float64 NumPy
        # pos_weight with float32 logits is converted by TF's Mul, a float64 tensor is not.
        wrt = wrt + ("pos_weight",)
    return wrt


def case_vector(inputs):
    """A deterministic tangent vector shaped like the logits (for Hessian-vector products)."""
    raw = inputs["logits"]
    logits = np.asarray(raw)
    # Python lists become float32 tensors in TF, so the tangent must be float32 too.
    dtype = np.dtype(np.float32) if isinstance(raw, (list, tuple, float, int)) else logits.dtype
    seed = zlib.crc32(repr((logits.shape, dtype.name)).encode())
    return np.random.default_rng(seed).normal(0.0, 1.0, logits.shape).astype(dtype)


def upstream_gradient(op_name: str, loss) -> np.ndarray | None:
    """The deterministic upstream gradient of ``grad_upstream``: shaped and typed like TF's loss.

    ``loss`` is the op's forward result on the reference (TF's, recorded or live), or ``None``
    where that call raised; then there is no upstream gradient and the op's own error is what
    both sides give.
    """
    if loss is None:
        return None
    seed = zlib.crc32(repr((tuple(loss.shape), loss.dtype.name, op_name)).encode())
    return np.random.default_rng(seed).uniform(-2.0, 2.0, loss.shape).astype(loss.dtype)


def hvp_magnitudes(family, inputs, expected):
    """Term magnitudes of ``(d/d labels, d/d logits)`` of ``<grad, v>`` (upstream gradient 1).

    * softmax / sparse: d/dlogits = (v - <v, p>) p -> ``p * (|v| + sum |v| p)``, n = C;
      d/dlabels -> ``|v|``.
    * sigmoid: d/dx = sigmoid'(x) v, computed as y - y*y -> ``|v| * sigmoid(x)``; d/dz = -v -> ``|v|``.
    * weighted: d/dx = l * sigmoid'(x) v through log1p(exp(-|x|)) -> ``2 |v| |l| e / (1 + e)``
      with ``e = exp(-|x|)``; d/dz -> ``|v| (1 + |q - 1|)``.
    """
    x = _f64(inputs["logits"])
    v = _f64(case_vector(inputs))
    with np.errstate(all="ignore"):
        if family in ("softmax", "sparse"):
            axis = inputs.get("axis", -1) if family == "softmax" else -1
            p, _ = _softmax64(x, axis)
            m_logits = p * (np.abs(v) + (np.abs(v) * p).sum(axis=axis, keepdims=True))
            m_labels = np.abs(v)
            n = x.shape[axis] if x.ndim else 1
        elif family == "sigmoid":
            m_logits = np.abs(v) * _sigmoid64(x)
            m_labels = np.abs(v)
            n = 1
        else:
            z = _f64(inputs["labels"])
            q = _f64(inputs["pos_weight"])
            e = np.exp(-np.abs(x))
            m_logits = 2 * np.abs(v) * np.abs(1 + (q - 1) * z) * e / (1 + e)
            m_labels = np.abs(v) * (1 + np.abs(q - 1)) + 0 * z
            n = 1
    out = []
    for m, grad in ((m_labels, expected[0]), (m_logits, expected[1])):
        if grad is None or np.shape(m) != np.shape(grad):
            out.append((None, 1))
        else:
            out.append((m, n))
    return out


GRADIENT_MODES = (("grad", "value_and_gradient"), ("grad_upstream", "value_and_gradient"),
                  ("hvp", "hessian_vector_product"))

GRADIENT_FUNCTIONS = tuple(
    Function(f"{mode}:{f.name}", f.family, adapt=f.adapt, magnitude=f.magnitude, op_name=f.name, mode=mode)
    for mode, _ in GRADIENT_MODES for f in NN_FUNCTIONS)

#: Every public function the catalogue runs, in a fixed order.
ALL_FUNCTIONS = NN_FUNCTIONS + TEXTBOOK_FUNCTIONS + GRADIENT_FUNCTIONS


def by_name(name: str) -> Function:
    """Look a function up by name (KeyError if unknown)."""
    for function in ALL_FUNCTIONS:
        if function.name == name:
            return function
    raise KeyError(name)


def functions_for(family: str, functions=ALL_FUNCTIONS) -> tuple:
    """The functions of one family."""
    return tuple(f for f in functions if f.family == family)


def applicable(case, functions=ALL_FUNCTIONS) -> list:
    """The functions that run ``case``: its family's, or those it names in ``only``."""
    if case.only:
        return [f for f in functions if f.name in case.only]
    return [f for f in functions if f.family == case.family]


def call_inputs(case, function) -> tuple[tuple, dict]:
    """Positional and keyword arguments of ``case`` for ``function``."""
    if case.raw:
        return tuple(case.args), dict(case.inputs)
    return tuple(case.args), function.adapt(case.inputs)
