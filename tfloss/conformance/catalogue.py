"""The case catalogue: every input the suite runs, as data.

A :class:`Case` holds the inputs of one call, named as TF2 names them
(``labels``, ``logits``, ``pos_weight``, ``axis``; ``probs`` for the clipped
textbook formula), plus how to present them (``layout``) and which targets
run it.  Whether TF accepts a case or rejects it is *not* stored: the runner
asks real TF every time, then demands the same value or the same error from
tfloss.

The catalogue is the product of small tables:

* :data:`DTYPES` - float16, bfloat16, float32, float64 (labels int32/int64 for sparse);
* :data:`SHAPES` - ranks 0 to 4, zero-size dimensions, one class;
* :data:`SOFTMAX_AXES` / :data:`LABEL_BROADCASTS` - every axis of every rank,
  including negative ones (TF's broken negative axes are error cases), and the
  label shapes TF's kernel broadcasts;
* :data:`REGIMES` - value regimes from ordinary to dtype max, exp-overflow and
  subnormal-result edges, tiny/subnormal inputs, inf/NaN, labels outside [0, 1];

plus the hand-written :func:`error_cases`, the :func:`large_cases` and the
:data:`REGRESSIONS` found by hypothesis (encoded exactly, see :func:`decode`).

Every input is generated from a seed derived from the case's name, so the catalogue is the same
on every machine; :func:`runs` pairs each case with each function that runs it and gives the pair
its stable id, ``function:dtype:regime:n`` (``nn.softmax_cross_entropy_with_logits:float16:special:3``).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace

import ml_dtypes
import numpy as np

from .compare import FLOAT_DTYPES, float_format
from .functions import ALL_FUNCTIONS, applicable

DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class Case:
    """One call, run on TF and on tfloss.

    Attributes
    ----------
    id : str
        Unique, stable name (used for seeds, reports and pytest ids).
    family : str
        ``sigmoid``, ``weighted``, ``softmax``, ``sparse`` or ``clipped``.
    inputs : dict
        Keyword inputs in TF2 naming.  For ``raw`` cases: the exact keywords.
    dtype : str
        Logits dtype name, or ``"-"`` where it is not a float dtype.
    regime : str
        Value regime or error class.
    group : str
        ``values``, ``errors``, ``large``, ``layout``, ``hypothesis`` or ``regression``.
    args : tuple
        Positional arguments (positional-call cases).
    raw : bool
        Pass ``inputs`` unchanged instead of adapting them per target.
    only : tuple of str
        Restrict to these target names (empty: every target of the family).
    layout : str
        ``C`` (default), ``F`` (Fortran order), ``strided``, ``readonly``,
        ``tensor`` (the implementation's own tensor type: a tf.Tensor for TF) or ``list``
        (nested lists).
    """

    id: str
    family: str
    inputs: dict
    dtype: str = "-"
    regime: str = "-"
    group: str = "values"
    args: tuple = ()
    raw: bool = False
    only: tuple = ()
    layout: str = "C"
    note: str = field(default="", compare=False)


def case_rng(case_id: str) -> np.random.Generator:
    """Deterministic generator for a case, seeded from its id."""
    return np.random.default_rng(zlib.crc32(case_id.encode()))


# --- per-dtype edges -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edges:
    """Where a dtype's exp overflows and where results turn subnormal.

    Attributes
    ----------
    max : float
        Largest finite value.
    log_max : float
        ``log(max)``: ``exp(x)`` overflows just above it.
    log_tiny : float
        ``-log(smallest normal)``: ``exp(-x)`` is subnormal above it.
    log_subnormal : float
        ``-log(smallest subnormal)``: ``exp(-x)`` is 0 above it.
    tiny, subnormal : float
        Smallest normal and smallest subnormal.
    """

    max: float
    log_max: float
    log_tiny: float
    log_subnormal: float
    tiny: float
    subnormal: float


def edges(dtype: str) -> Edges:
    """The :class:`Edges` of a dtype name."""
    fmt = float_format(FLOAT_DTYPES[dtype])
    info = ml_dtypes.finfo(FLOAT_DTYPES[dtype]) if dtype == "bfloat16" else np.finfo(FLOAT_DTYPES[dtype])
    tiny = math.ldexp(1.0, fmt.minexp)
    sub = fmt.smallest_subnormal
    big = float(info.max)
    return Edges(big, math.log(big), -math.log(tiny), -math.log(sub), tiny, sub)


def cast(values, dtype: str) -> np.ndarray:
    """Round float64 values to ``dtype`` (saturating huge values to ±inf as C would)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values, dtype=np.float64).astype(FLOAT_DTYPES[dtype])


# --- value regimes ---------------------------------------------------------------------------------
# Each regime draws float64 logits of a shape for a dtype; labels come from the label regime.


def _ordinary(rng, dtype, shape):
    return rng.normal(0.0, 3.0, shape)


def _wide(rng, dtype, shape):
    e = edges(dtype)
    return rng.uniform(-0.95 * e.log_max, 0.95 * e.log_max, shape)


def _huge(rng, dtype, shape):
    """Magnitudes spread evenly over the binades from 1 to the largest finite value.

    Built exactly (a mantissa in [1, 2) times a power of two): NumPy's ``exp`` of float64 has a
    SIMD loop on AVX-512 CPUs that rounds differently from the scalar one elsewhere, and the
    catalogue must hold the same inputs on every machine.
    """
    e = edges(dtype)
    top = math.frexp(e.max)[1] - 1  # e.max lies in [2**top, 2**(top + 1))
    with np.errstate(over="ignore"):
        magnitude = np.ldexp(rng.uniform(1.0, 2.0, shape), rng.integers(0, top + 1, shape))
    magnitude = np.where(rng.random(shape) < 0.2, e.max, magnitude)
    return np.sign(rng.uniform(-1, 1, shape)) * np.minimum(magnitude, e.max)


def _exp_overflow_edge(rng, dtype, shape):
    e = edges(dtype)
    return np.sign(rng.uniform(-1, 1, shape)) * (e.log_max + rng.uniform(-1.0, 1.0, shape))


def _subnormal_edge(rng, dtype, shape):
    """|x| where exp(-|x|) crosses into, through and out of the subnormal range."""
    e = edges(dtype)
    lo, hi = e.log_tiny - 1.0, e.log_subnormal + 1.0
    return np.sign(rng.uniform(-1, 1, shape)) * rng.uniform(lo, hi, shape)


def _tiny(rng, dtype, shape):
    e = edges(dtype)
    choices = np.array([e.subnormal, 3 * e.subnormal, e.tiny / 2, e.tiny, 4 * e.tiny, 0.0, 1e-30, 1e-5])
    return np.sign(rng.uniform(-1, 1, shape)) * rng.choice(choices, shape)


def _special(rng, dtype, shape):
    x = rng.normal(0.0, 3.0, shape)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])
    mask = rng.random(shape) < 0.3
    return np.where(mask, rng.choice(specials, shape), x)


def _ties(rng, dtype, shape):
    return rng.integers(-2, 3, shape).astype(np.float64)


LOGIT_REGIMES = {
    "ordinary": _ordinary,
    "wide": _wide,
    "huge": _huge,
    "exp_overflow_edge": _exp_overflow_edge,
    "subnormal_edge": _subnormal_edge,
    "tiny": _tiny,
    "special": _special,
    "ties": _ties,
}


def _prob_labels(rng, shape, axis=-1):
    """Rows that sum to 1 along ``axis``."""
    if not shape:
        return np.array(1.0)
    raw = rng.gamma(0.5, 1.0, shape)
    total = raw.sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, raw / np.where(total > 0, total, 1), 1.0 / max(shape[axis], 1))


def _label_values(rng, regime, shape, family, dtype, axis=-1):
    """Float labels for a regime (sigmoid/weighted/softmax/clipped)."""
    if regime == "labels_outside":
        return rng.uniform(-3.0, 4.0, shape)
    if regime == "special":
        z = rng.random(shape)
        mask = rng.random(shape) < 0.15
        return np.where(mask, rng.choice(np.array([np.inf, -np.inf, np.nan]), shape), z)
    if regime == "tiny":
        e = edges(dtype)
        return rng.choice(np.array([0.0, e.subnormal, e.tiny, 1.0 - 2.0**-11, 1.0]), shape)
    if regime == "onehot" or regime == "subnormal_edge":
        if family == "softmax" and shape:
            idx = rng.integers(0, max(shape[axis], 1), shape)
            pos = np.indices(shape)[axis % len(shape)]
            return (idx == pos).astype(np.float64)
        return rng.integers(0, 2, shape).astype(np.float64)
    if family == "softmax":
        if regime == "not_normalised":
            return rng.uniform(0.0, 2.0, shape)
        return _prob_labels(rng, shape, axis)
    return rng.random(shape)


#: Regime -> (logit regime, label regime).  Label-only regimes reuse ordinary logits.
REGIMES = {
    "ordinary": ("ordinary", "ordinary"),
    "wide": ("wide", "ordinary"),
    "huge": ("huge", "ordinary"),
    "exp_overflow_edge": ("exp_overflow_edge", "ordinary"),
    "subnormal_edge": ("subnormal_edge", "subnormal_edge"),
    "tiny": ("tiny", "tiny"),
    "special": ("special", "special"),
    "ties": ("ties", "onehot"),
    "labels_outside": ("ordinary", "labels_outside"),
    "not_normalised": ("wide", "not_normalised"),
}

#: Logit shapes for the element-wise ops (and the logits of sparse/softmax).
SHAPES = {
    "scalar": (),
    "empty": (0,),
    "vector": (7,),
    "one": (1, 1),
    "matrix": (3, 5),
    "empty_batch": (0, 4),
    "zero_classes": (4, 0),
    "rank3": (2, 3, 4),
    "rank3_empty": (2, 0, 3),
    "rank4": (2, 3, 1, 5),
    "rank4_ones": (1, 1, 1, 1),
    "one_class": (6, 1),
    "odd": (3, 2, 2, 3),
}

#: Axes run for softmax per rank: every axis, negative ones included.
SOFTMAX_AXES = {rank: tuple(range(-rank, rank)) for rank in range(1, 5)}

#: Label shapes broadcast against logits [B, C] by TF's softmax kernel (and ones it rejects).
LABEL_BROADCASTS = {
    "labels_1C": ((4, 5), (1, 5)),
    "labels_C": ((4, 5), (5,)),
    "labels_B1": ((4, 5), (4, 1)),
    "labels_11": ((4, 5), (1, 1)),
    "labels_scalar": ((4, 5), ()),
    "logits_1C": ((1, 5), (4, 5)),
    "logits_C": ((5,), (4, 5)),
    "rank3_1": ((2, 3, 4), (1, 3, 4)),
    "mismatch": ((2, 3), (2, 4)),
}

#: pos_weight variants of the weighted op, cycled over the catalogue.
POS_WEIGHTS = ("py_float", "py_int", "np_float64", "array_C", "array_dtype", "zero", "negative", "huge",
               "array_B1", "array_float64")


def _pos_weight(kind, rng, dtype, shape):
    if kind == "py_float":
        return 1.5
    if kind == "py_int":
        return 3
    if kind == "np_float64":
        return np.float64(0.7)
    if kind == "array_C":
        c = shape[-1] if shape else 1
        return cast(rng.uniform(0.1, 4.0, (c,)), dtype) if shape else cast(2.5, dtype)
    if kind == "array_dtype":
        return cast(rng.uniform(0.1, 4.0, shape), dtype)
    if kind == "zero":
        return 0.0
    if kind == "negative":
        return -2.0
    if kind == "array_B1":
        # broadcasts along the classes (rank >= 2) or against a vector
        b1 = shape[:-1] + (1,) if len(shape) >= 2 else shape[:1]
        return cast(rng.uniform(0.1, 4.0, b1), dtype)
    if kind == "array_float64":
        return rng.uniform(0.1, 4.0, shape[-1:] if shape else ())  # TF converts NumPy float64 silently
    return 1e30


def value_case(family, dtype, shape_name, regime, axis=None, index=0, group="values") -> Case:
    """Build one catalogue case (deterministic in its id).

    Parameters
    ----------
    family : str
    dtype : str
    shape_name : str
        Key of :data:`SHAPES` (or a literal ``"AxBxC"`` shape).
    regime : str
        Key of :data:`REGIMES`.
    axis : int, optional
        Softmax class axis.
    index : int
        Position in the catalogue, used to cycle pos_weight and label dtypes.
    """
    shape = SHAPES[shape_name] if shape_name in SHAPES else tuple(int(s) for s in shape_name.split("x") if s)
    suffix = "" if axis is None else f"/axis{axis}"
    case_id = f"{family}/{dtype}/{shape_name}/{regime}{suffix}"
    rng = case_rng(case_id)
    logit_regime, label_regime = REGIMES[regime]
    logits64 = LOGIT_REGIMES[logit_regime](rng, dtype, shape)
    logits = cast(logits64, dtype)
    inputs = {}
    if family == "sparse":
        classes = shape[-1] if shape else 1
        label_shape = shape[:-1]
        label_dtype = np.int32 if index % 2 else np.int64
        labels = rng.integers(0, max(classes, 1), label_shape).astype(label_dtype)
        if regime == "ties" and logits.ndim:
            logits = np.zeros_like(logits)  # every logit ties with the max
        inputs = {"labels": labels, "logits": logits}
    else:
        ax = -1 if axis is None else axis
        label_axis = ax if shape and -len(shape) <= ax < len(shape) else -1
        labels = cast(_label_values(rng, label_regime, shape, family, dtype, label_axis), dtype)
        inputs = {"labels": labels, "logits": logits}
        if family == "weighted":
            kind = POS_WEIGHTS[index % len(POS_WEIGHTS)]
            inputs["pos_weight"] = _pos_weight(kind, rng, dtype, shape)
            case_id += f"/pw_{kind}"
        if family == "softmax" and axis is not None:
            inputs["axis"] = axis
        if family == "softmax" and regime == "ties" and index % 3 == 0:
            # integer one-hot labels: TF casts them to the logits' (compute) dtype
            inputs["labels"] = labels.astype(np.float64).astype(np.int32)
            case_id += "/int_labels"
        if family == "softmax" and index % 5 == 4 and regime == "ordinary":
            # TF casts softmax labels to the logits' (compute) dtype: try another label dtype.
            inputs["labels"] = labels.astype(np.float64 if dtype != "float64" else np.float32)
            case_id += "/labels_other_dtype"
    return Case(case_id, family, inputs, dtype=dtype, regime=regime, group=group)


def value_cases() -> list:
    """The value catalogue: dtypes x shapes x regimes (x axes for softmax)."""
    cases = []
    index = 0
    for dtype in DTYPES:
        for regime in REGIMES:
            for family in ("sigmoid", "weighted"):
                for shape_name in SHAPES:
                    cases.append(value_case(family, dtype, shape_name, regime, index=index))
                    index += 1
            for shape_name, shape in SHAPES.items():
                if shape_name == "scalar":
                    continue
                cases.append(value_case("sparse", dtype, shape_name, regime, index=index))
                index += 1
                # softmax: default axis everywhere, every axis in the ordinary and special regimes
                cases.append(value_case("softmax", dtype, shape_name, regime, index=index))
                index += 1
                if regime in ("ordinary", "special", "subnormal_edge"):
                    for axis in SOFTMAX_AXES[len(shape)]:
                        cases.append(value_case("softmax", dtype, shape_name, regime, axis=axis, index=index))
                        index += 1
            for shape_name in ("vector", "matrix", "rank3", "empty_batch", "one_class"):
                cases.append(clipped_case(dtype, shape_name, regime))
        for name, (logit_shape, label_shape) in LABEL_BROADCASTS.items():
            rng = case_rng(f"softmax/{dtype}/{name}")
            cases.append(
                Case(
                    f"softmax/{dtype}/{name}",
                    "softmax",
                    {
                        "labels": cast(_prob_labels(rng, label_shape), dtype),
                        "logits": cast(rng.normal(0, 3, logit_shape), dtype),
                    },
                    dtype=dtype,
                    regime="label_broadcast",
                )
            )
        cases.append(value_case("softmax", dtype, "scalar", "ordinary"))
    return cases


def clipped_case(dtype, shape_name, regime) -> Case:
    """A case for the clipped textbook cross-entropy on probabilities."""
    shape = SHAPES[shape_name]
    case_id = f"clipped/{dtype}/{shape_name}/{regime}"
    rng = case_rng(case_id)
    logit_regime, label_regime = REGIMES[regime]
    probs = rng.random(shape)
    if logit_regime in ("tiny", "special", "huge", "subnormal_edge", "exp_overflow_edge"):
        probs = np.abs(LOGIT_REGIMES[logit_regime](rng, dtype, shape))
        probs = np.where(rng.random(shape) < 0.5, probs, rng.random(shape))
    labels = _label_values(rng, label_regime, shape, "clipped", dtype)
    return Case(
        case_id,
        "clipped",
        {"labels": cast(labels, dtype), "probs": cast(probs, dtype)},
        dtype=dtype,
        regime=regime,
    )


# --- layouts: read-only, Fortran-ordered, strided, tf.Tensor and list inputs ---------------------

LAYOUTS = ("F", "strided", "readonly", "tensor", "list")


def layout_cases() -> list:
    """Ordinary cases re-presented in every input layout."""
    cases = []
    for layout in LAYOUTS:
        for family, shape_name in (("sigmoid", "rank3"), ("weighted", "matrix"), ("softmax", "rank3"),
                                   ("sparse", "rank3"), ("clipped", "matrix")):
            for dtype in ("float32", "float64"):
                if family == "clipped":
                    base = clipped_case(dtype, shape_name, "ordinary")
                else:
                    base = value_case(family, dtype, shape_name, "ordinary")
                cases.append(replace(base, id=f"{base.id}/layout_{layout}", layout=layout, group="layout"))
    return cases


# --- large inputs ----------------------------------------------------------------------------------

LARGE_SHAPES = {
    "sigmoid": (613, 509),
    "weighted": (100003,),
    "softmax": (2053, 173),
    "sparse": (40009, 13),
    "clipped": (997, 331),
}


#: Vocabulary-sized rows (LLaMA-2 32000, GPT-2 50257, LLaMA-3 128256) and other lengths just past
#: Eigen's tree-sum leaf (8192 float32, 4096 float64, 1024 bfloat16) that are not multiples of the
#: packet: there the tree's split moves from row to row (docs/quirks.md, "Long rows ...").
#: Few rows, and only the forward op, so that they cost about a second in all.
VOCABULARY_CASES = (
    ("softmax", "float32", "2x32000"),
    ("softmax", "float32", "2x50257"),
    ("softmax", "float32", "1x128256"),
    ("softmax", "float32", "5x8193"),
    ("softmax", "float32", "3x12289"),
    ("softmax", "float64", "3x4097"),
    ("softmax", "float64", "2x50257"),
    ("sparse", "float32", "2x50257"),
    ("sparse", "float32", "1x128256"),
    ("sparse", "float32", "5x8193"),
    ("sparse", "float64", "5x6001"),
    ("sparse", "bfloat16", "5x1537"),
)
_FORWARD_TARGET = {"softmax": "nn.softmax_cross_entropy_with_logits",
                   "sparse": "nn.sparse_softmax_cross_entropy_with_logits"}


def large_cases(dtypes=DTYPES) -> list:
    """Hundreds of thousands of elements in shapes that match no block size, and long rows."""
    cases = []
    for family, dtype, shape_name in VOCABULARY_CASES:
        if dtype in dtypes:
            case = value_case(family, dtype, shape_name, "ordinary", index=1, group="large")
            cases.append(replace(case, id="large/" + case.id, only=(_FORWARD_TARGET[family],)))
    for dtype in dtypes:
        for family, shape in LARGE_SHAPES.items():
            name = "x".join(map(str, shape))
            if family == "clipped":
                base = clipped_case(dtype, "matrix", "ordinary")
                rng = case_rng(f"large/{family}/{dtype}")
                inputs = {"labels": cast(rng.random(shape), dtype), "probs": cast(rng.random(shape), dtype)}
                cases.append(replace(base, id=f"large/{family}/{dtype}/{name}", inputs=inputs, group="large"))
                continue
            case = value_case(family, dtype, name, "wide", index=3, group="large")
            cases.append(replace(case, id="large/" + case.id))
        # softmax over a non-last axis and with many classes
        case = value_case("softmax", dtype, "97x1031x3", "ordinary", axis=1, group="large")
        cases.append(replace(case, id="large/" + case.id))
        case = value_case("sparse", dtype, "37x5003", "wide", group="large")
        cases.append(replace(case, id="large/" + case.id))
    return cases


# --- the error catalogue ---------------------------------------------------------------------------


def _a(dtype, shape, value=0.5):
    return np.full(shape, value, dtype=FLOAT_DTYPES.get(dtype, dtype))


F23 = _a("float32", (2, 3))
F32 = _a("float32", (3, 2))
I23 = np.ones((2, 3), np.int32)
LBL2 = np.array([0, 2])

_V1_SOFTMAX = "compat.v1.nn.softmax_cross_entropy_with_logits"
_V1_SOFTMAX_V2 = "compat.v1.nn.softmax_cross_entropy_with_logits_v2"
_V1_WEIGHTED = "compat.v1.nn.weighted_cross_entropy_with_logits"
_V1_SIGMOID = "compat.v1.nn.sigmoid_cross_entropy_with_logits"
_V1_SPARSE = "compat.v1.nn.sparse_softmax_cross_entropy_with_logits"


def _err(case_id, family, inputs, regime, only=(), raw=False, args=(), dtype="-"):
    return Case(f"errors/{case_id}", family, inputs, dtype=dtype, regime=regime, group="errors",
                only=only, raw=raw or bool(only), args=args)


def error_cases() -> list:
    """Every bad-input class from the core issue, per family (TF decides the error)."""
    cases = []
    for family in ("sigmoid", "weighted", "softmax", "sparse"):
        good_labels = LBL2 if family == "sparse" else F23
        extra = {"pos_weight": 2.0} if family == "weighted" else {}
        cases += [
            _err(f"{family}/labels_none", family, {"labels": None, "logits": F23, **extra}, "none_argument"),
            _err(f"{family}/logits_none", family, {"labels": good_labels, "logits": None, **extra}, "none_argument"),
            _err(f"{family}/both_none", family, {"labels": None, "logits": None, **extra}, "none_argument"),
            _err(f"{family}/int_logits", family, {"labels": good_labels, "logits": I23, **extra}, "dtype"),
            _err(f"{family}/bool_logits", family,
                 {"labels": good_labels, "logits": np.ones((2, 3), bool), **extra}, "dtype"),
            _err(f"{family}/uint8_logits", family,
                 {"labels": good_labels, "logits": np.ones((2, 3), np.uint8), **extra}, "dtype"),
            _err(f"{family}/complex_logits", family,
                 {"labels": good_labels if family == "sparse" else F23.astype(np.complex64),
                  "logits": F23.astype(np.complex64), **extra}, "dtype"),
            _err(f"{family}/complex_values", family,
                 {"labels": good_labels if family == "sparse" else (F23 + 0.25j * I23).astype(np.complex64),
                  "logits": (np.arange(6).reshape(2, 3) - 2.5 + 1.5j * np.arange(-3, 3).reshape(2, 3))
                  .astype(np.complex128 if family == "softmax" else np.complex64), **extra}, "dtype"),
            _err(f"{family}/string_logits", family,
                 {"labels": good_labels, "logits": np.array([["a", "b", "c"]] * 2), **extra}, "dtype"),
            _err(f"{family}/ragged_logits", family,
                 {"labels": good_labels, "logits": [[1.0, 2.0, 3.0], [1.0]], **extra}, "ragged"),
            _err(f"{family}/ragged_labels", family,
                 {"labels": [[0.0, 1.0, 0.0], [1.0]] if family != "sparse" else [[0], [1, 2]],
                  "logits": F23, **extra}, "ragged"),
            _err(f"{family}/python_lists", family,
                 {"labels": [0, 2] if family == "sparse" else [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
                  "logits": [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], **extra}, "conversion"),
            _err(f"{family}/python_int_labels", family,
                 {"labels": [0, 2] if family == "sparse" else [[0, 1, 0], [1, 0, 0]],
                  "logits": [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], **extra}, "conversion"),
            _err(f"{family}/unknown_keyword", family,
                 {"labels": good_labels, "logits": F23, "foo": 1, **extra}, "keyword"),
            _err(f"{family}/name", family, {"labels": good_labels, "logits": F23, "name": "loss", **extra},
                 "keyword"),
        ]
        for dt in ("float16", "bfloat16", "float64"):
            if family == "sparse":
                continue
            cases.append(_err(f"{family}/mixed_f32_logits_{dt}_labels", family,
                              {"labels": F23.astype(FLOAT_DTYPES[dt]), "logits": F23, **extra}, "mixed_dtype"))
        if family != "sparse":
            cases += [
                _err(f"{family}/shape_mismatch", family, {"labels": F32, "logits": F23, **extra}, "shape"),
                _err(f"{family}/rank_mismatch", family, {"labels": F23[0], "logits": F23, **extra}, "shape"),
                _err(f"{family}/int_labels", family, {"labels": I23, "logits": F23, **extra}, "dtype"),
                _err(f"{family}/bool_labels", family,
                     {"labels": np.ones((2, 3), bool), "logits": F23, **extra}, "dtype"),
            ]
    # weighted specifics
    cases += [
        _err("weighted/pos_weight_none", "weighted", {"labels": F23, "logits": F23, "pos_weight": None}, "none_argument"),
        _err("weighted/pos_weight_bad_shape", "weighted",
             {"labels": F23, "logits": F23, "pos_weight": np.ones(4, np.float32)}, "shape"),
        _err("weighted/pos_weight_other_dtype", "weighted",
             {"labels": F23, "logits": F23, "pos_weight": np.ones(3, np.float16)}, "mixed_dtype"),
        _err("weighted/pos_weight_string", "weighted", {"labels": F23, "logits": F23, "pos_weight": "a"}, "dtype"),
        _err("weighted/int_labels_python_pos_weight", "weighted",
             {"labels": I23, "logits": F23, "pos_weight": 2.0}, "dtype"),
        _err("weighted/labels_broadcast", "weighted",
             {"labels": F23[0], "logits": F23, "pos_weight": 2.0}, "broadcast"),
        _err("v1/weighted_targets", "weighted", {"targets": F23, "logits": F23, "pos_weight": 2.0}, "v1_targets",
             only=(_V1_WEIGHTED,)),
        _err("v1/weighted_targets_and_labels", "weighted",
             {"targets": F23, "labels": F23, "logits": F23, "pos_weight": 2.0}, "v1_targets", only=(_V1_WEIGHTED,)),
    ]
    # softmax specifics: axis, scalars, zero classes, v1 dim/axis rules
    for axis in (2, 3, -3, -2, 5, 1.5, np.int64(0), np.int32(1)):
        cases.append(_err(f"softmax/axis_{axis!r}", "softmax", {"labels": F23, "logits": F23, "axis": axis}, "axis"))
    cases += [
        _err("softmax/scalar_logits", "softmax", {"labels": np.float32(1), "logits": np.float32(2)}, "shape"),
        _err("softmax/zero_classes", "softmax", {"labels": _a("float32", (2, 0)), "logits": _a("float32", (2, 0))},
             "shape"),
        _err("softmax/axis_none", "softmax", {"labels": F23, "logits": F23, "axis": None}, "axis",
             only=("nn.softmax_cross_entropy_with_logits", _V1_SOFTMAX_V2)),
        _err("v1/softmax_axis_only", "softmax", {"labels": F23, "logits": F23, "axis": -1}, "v1_dim_axis",
             only=(_V1_SOFTMAX,)),
        _err("v1/softmax_axis0_only", "softmax", {"labels": F23, "logits": F23, "axis": 0}, "v1_dim_axis",
             only=(_V1_SOFTMAX,)),
        _err("v1/softmax_dim_none_axis0", "softmax", {"labels": F23, "logits": F23, "dim": None, "axis": 0},
             "v1_dim_axis", only=(_V1_SOFTMAX,)),
        _err("v1/softmax_dim0", "softmax", {"labels": F23, "logits": F23, "dim": 0}, "v1_dim_axis",
             only=(_V1_SOFTMAX,)),
        _err("v1/softmax_dim_and_axis", "softmax", {"labels": F23, "logits": F23, "dim": 0, "axis": 0},
             "v1_dim_axis", only=(_V1_SOFTMAX, _V1_SOFTMAX_V2)),
        _err("v1/softmax_v2_dim_only", "softmax", {"labels": F23, "logits": F23, "dim": 0}, "v1_dim_axis",
             only=(_V1_SOFTMAX_V2,)),
        _err("v1/softmax_v2_dim_minus1_axis_none", "softmax", {"labels": F23, "logits": F23, "dim": -1, "axis": None},
             "v1_dim_axis", only=(_V1_SOFTMAX_V2,)),
    ]
    # sparse specifics: label dtypes, ranges, shapes
    cases += [
        _err("sparse/float_labels", "sparse", {"labels": np.array([0.0, 1.0], np.float32), "logits": F23}, "dtype"),
        _err("sparse/int16_labels", "sparse", {"labels": np.array([0, 1], np.int16), "logits": F23}, "dtype"),
        _err("sparse/uint8_labels", "sparse", {"labels": np.array([0, 1], np.uint8), "logits": F23}, "dtype"),
        _err("sparse/bool_labels", "sparse", {"labels": np.array([True, False]), "logits": F23}, "dtype"),
        _err("sparse/label_too_big", "sparse", {"labels": np.array([0, 3]), "logits": F23}, "label_range"),
        _err("sparse/label_negative", "sparse", {"labels": np.array([-1, 3]), "logits": F23}, "label_range"),
        _err("sparse/label_too_big_int32", "sparse", {"labels": np.array([5, 1], np.int32), "logits": F23},
             "label_range"),
        _err("sparse/label_range_rank3", "sparse",
             {"labels": np.array([[0, 1, 2], [3, 4, 9]]), "logits": _a("float32", (2, 3, 4))}, "label_range"),
        _err("sparse/label_range_many", "sparse",
             {"labels": np.arange(-1, 40), "logits": _a("float32", (41, 3))}, "label_range"),
        _err("sparse/label_range_empty_batch", "sparse",
             {"labels": np.zeros((0,), np.int64), "logits": _a("float32", (0, 3))}, "label_range"),
        _err("sparse/label_range_f16", "sparse", {"labels": np.array([0, 7]), "logits": F23.astype(np.float16)},
             "label_range"),
        _err("sparse/label_range_bf16", "sparse",
             {"labels": np.array([0, 7]), "logits": F23.astype(ml_dtypes.bfloat16)}, "label_range"),
        # -100 is PyTorch's default ignore_index: TF rejects it like any other negative label.
        _err("sparse/label_minus_100", "sparse", {"labels": np.array([-100, 1]), "logits": F23}, "label_range"),
        _err("sparse/scalar_logits", "sparse", {"labels": np.int64(0), "logits": np.float32(1.0)}, "shape"),
        _err("sparse/python_scalar_logits", "sparse", {"labels": 0, "logits": 1.0}, "shape"),
        _err("sparse/rank1_logits_scalar_label", "sparse", {"labels": np.int64(1), "logits": F23[0]}, "shape"),
        _err("sparse/rank1_logits_vector_label", "sparse", {"labels": np.array([1]), "logits": F23[0]}, "shape"),
        _err("sparse/label_rank_too_high", "sparse", {"labels": np.zeros((2, 3), np.int64), "logits": F23}, "shape"),
        _err("sparse/first_dim_mismatch", "sparse", {"labels": np.array([0, 1, 2]), "logits": F23}, "shape"),
        _err("sparse/rank3_shape_mismatch", "sparse",
             {"labels": np.zeros((2, 4), np.int64), "logits": _a("float32", (2, 3, 4))}, "shape"),
        _err("sparse/zero_classes", "sparse", {"labels": np.array([0, 0]), "logits": _a("float32", (2, 0))}, "shape"),
        _err("sparse/zero_classes_rank3", "sparse",
             {"labels": np.zeros((2, 0), np.int64), "logits": _a("float32", (2, 0, 3))}, "shape"),
        _err("sparse/zero_classes_empty_batch", "sparse",
             {"labels": np.zeros((0,), np.int64), "logits": _a("float32", (0, 0))}, "shape"),
    ]
    # v1 argument guards and positional calls (compat.v1 positional calls are a declared difference)
    for name in (_V1_SIGMOID, _V1_SOFTMAX, _V1_SPARSE):
        short = name.rsplit(".", 1)[1]
        labels = LBL2 if "sparse" in name else F23
        family = "sparse" if "sparse" in name else ("softmax" if "softmax" in name else "sigmoid")
        cases += [
            _err(f"v1/{short}/positional", family, {}, "positional_call", only=(name,), args=(labels, F23)),
            _err(f"v1/{short}/positional_one", family, {"logits": F23}, "positional_call", only=(name,),
                 args=(labels,)),
            _err(f"v1/{short}/sentinel_keyword", family, {"_sentinel": 1, "labels": labels, "logits": F23},
                 "sentinel", only=(name,)),
        ]
    for name, family, labels in (
        ("nn.sigmoid_cross_entropy_with_logits", "sigmoid", F23),
        ("nn.softmax_cross_entropy_with_logits", "softmax", F23),
        ("nn.sparse_softmax_cross_entropy_with_logits", "sparse", LBL2),
        ("nn.weighted_cross_entropy_with_logits", "weighted", F23),
        (_V1_SOFTMAX_V2, "softmax", F23),
        (_V1_WEIGHTED, "weighted", F23),
    ):
        args = (labels, F23, 2.0) if family == "weighted" else (labels, F23)
        cases.append(_err(f"{name}/positional", family, {}, "positional_call", only=(name,), args=args))
    for name, family, labels in (
        ("nn.sigmoid_cross_entropy_with_logits", "sigmoid", F23),
        ("nn.softmax_cross_entropy_with_logits", "softmax", F23),
        ("nn.sparse_softmax_cross_entropy_with_logits", "sparse", LBL2),
    ):
        cases.append(_err(f"{name}/sentinel_keyword", family, {"_sentinel": 1, "labels": labels, "logits": F23},
                          "sentinel", only=(name,)))
    return cases


# --- regressions: shrunk hypothesis counterexamples, encoded exactly ------------------------------


def encode(value):
    """Encode an input exactly as plain data (floats as ``float.hex``)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" or value.dtype == ml_dtypes.bfloat16:
            flat = [float(v).hex() for v in value.astype(np.float64).reshape(-1)]
        else:
            flat = [int(v) for v in value.reshape(-1)]
        return {"dtype": value.dtype.name, "shape": list(value.shape), "values": flat}
    return value


def decode(value):
    """Inverse of :func:`encode`."""
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "values"}:
        dtype = FLOAT_DTYPES.get(value["dtype"], np.dtype(value["dtype"]))
        if np.dtype(dtype).kind == "f" or np.dtype(dtype) == ml_dtypes.bfloat16:
            flat = np.array([float.fromhex(v) for v in value["values"]], np.float64)
        else:
            flat = np.array(value["values"], np.int64)
        return flat.astype(dtype).reshape(value["shape"])
    return value


def case_to_literal(case: Case) -> dict:
    """A catalogue entry for :data:`REGRESSIONS` reproducing ``case`` exactly."""
    return {
        "id": case.id.replace("hypothesis/", "regression/"),
        "family": case.family,
        "dtype": case.dtype,
        "inputs": {k: encode(v) for k, v in case.inputs.items()},
    }


#: Shrunk counterexamples from hypothesis runs (paste ``case_to_literal`` output here).
#: ``found`` records what differed when the case was found (for the reader; not checked).
REGRESSIONS: list = [
    {"id": "regression/clipped/float16/scalar_per_example", "family": "clipped", "dtype": "float16",
     "inputs": {"labels": {"dtype": "float16", "shape": [], "values": ["0x0.0p+0"]},
                "probs": {"dtype": "float16", "shape": [], "values": ["0x0.0p+0"]}},
     "found": "per_example_clipped_cross_entropy on scalars: TF InvalidArgumentError 'Invalid reduction "
              "dimension (-1 for input with 0 dimension(s) [Op:Sum]', tfloss numpy AxisError"},
    {"id": "regression/softmax/float16/all_zero_dims", "family": "softmax", "dtype": "float16",
     "inputs": {"labels": {"dtype": "float16", "shape": [0, 0, 0], "values": []},
                "logits": {"dtype": "float16", "shape": [0, 0, 0], "values": []}},
     "found": "TF InvalidArgumentError 'Input to reshape is a tensor with 1 values, but the requested shape "
              "has 0 [Op:Reshape]'; tfloss returned float16 (0, 0)"},
    {"id": "regression/sparse/float16/all_zero_dims", "family": "sparse", "dtype": "float16",
     "inputs": {"labels": {"dtype": "int32", "shape": [0, 0], "values": []},
                "logits": {"dtype": "float16", "shape": [0, 0, 0], "values": []}},
     "found": "TF 'logits and labels must have the same first dimension, got logits shape [1,0] and labels "
              "shape [0]'; tfloss 'Must have at least one class, but got logits shape [0,0]'"},
    {"id": "regression/sigmoid/float16/naive_minus12", "family": "sigmoid", "dtype": "float16",
     "inputs": {"labels": {"dtype": "float16", "shape": [], "values": ["0x0.0p+0"]},
                "logits": {"dtype": "float16", "shape": [], "values": ["-0x1.8000000000000p+3"]}},
     "found": "textbook.naive_sigmoid_cross_entropy(labels=0, logits=-12) float16: TF 0.0, tfloss nan"},
    {"id": "regression/softmax/float16/naive_minus_zero_label", "family": "softmax", "dtype": "float16",
     "inputs": {"labels": {"dtype": "float16", "shape": [1], "values": ["-0x0.0p+0"]},
                "logits": {"dtype": "float16", "shape": [1], "values": ["0x0.0p+0"]}},
     "found": "textbook.naive_softmax_cross_entropy(labels=[-0.], logits=[0.]): TF +0.0, tfloss -0.0"},
    {"id": "regression/softmax/float16/hvp_tiny", "family": "softmax", "dtype": "float16",
     "inputs": {"labels": {"dtype": "float16", "shape": [3], "values": ["0x0.0p+0", "0x0.0p+0", "0x0.0p+0"]},
                "logits": {"dtype": "float16", "shape": [3],
                           "values": ["0x1.0000000000000p-1", "0x1.0000000000000p-1", "0x1.1800000000000p+4"]}},
     "found": "hessian_vector_product: d/dlogits[2] TF 0.0, tfloss -6e-08 (float16)"},
    {"id": "regression/sparse/float16/hvp_tiny", "family": "sparse", "dtype": "float16",
     "inputs": {"labels": {"dtype": "int32", "shape": [], "values": [0]},
                "logits": {"dtype": "float16", "shape": [3],
                           "values": ["0x0.0p+0", "0x0.0p+0", "0x1.0a40000000000p+4"]}},
     "found": "hessian_vector_product: d/dlogits[2] TF 0.0, tfloss -6e-08 (float16)"},
]


def regression_cases() -> list:
    """:data:`REGRESSIONS` as cases."""
    return [
        Case(r["id"], r["family"], {k: decode(v) for k, v in r["inputs"].items()}, dtype=r["dtype"],
             regime="regression", group="regression")
        for r in REGRESSIONS
    ]


def all_cases(large: bool = True) -> list:
    """Everything the catalogue holds."""
    cases = value_cases() + layout_cases() + error_cases() + regression_cases()
    if large:
        cases += large_cases()
    duplicates = [i for i, n in Counter(c.id for c in cases).items() if n > 1]
    if duplicates:
        raise ValueError(f"duplicate case ids: {sorted(duplicates)[:5]}")
    return cases


# --- runs: (case, function) pairs and their stable ids -------------------------------------------


@dataclass(frozen=True)
class Run:
    """One case on one function, named ``function:dtype:regime:n``.

    ``regime`` is the case's value regime for the value catalogue and ``group.regime`` for the
    others (``errors.label_range``, ``large.wide``, ``layout.ordinary``, ``regression``); ``n``
    counts the runs of that function, dtype and regime in catalogue order.
    """

    id: str
    case: Case
    function: object


def id_regime(case: Case) -> str:
    """The regime part of a run id."""
    if case.group == "values":
        return case.regime
    if case.group == "regression":
        return "regression"
    return f"{case.group}.{case.regime}"


def runs(cases=None, functions=ALL_FUNCTIONS) -> list:
    """Every (case, function) pair of ``cases`` (default: the whole catalogue), with its id."""
    cases = all_cases() if cases is None else cases
    counters = Counter()
    out = []
    for case in cases:
        for function in applicable(case, functions):
            key = (function.name, case.dtype, id_regime(case))
            out.append(Run(f"{key[0]}:{key[1]}:{key[2]}:{counters[key]}", case, function))
            counters[key] += 1
    return out


# --- presenting inputs in a case's layout ----------------------------------------------------------


def _strided(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    view = big[..., ::2]
    view[...] = a
    return view


def present(value, layout: str, to_tensor=None):
    """One side's own copy of an input, in the case's layout.

    Parameters
    ----------
    value : object
        Catalogue input (NumPy arrays are copied; other objects pass through).
    layout : str
        See :class:`Case`.
    to_tensor : callable, optional
        Makes the implementation's tensor for the ``tensor`` layout (``tf.constant``);
        without it the layout is a plain C-ordered copy.
    """
    if not isinstance(value, np.ndarray):
        return value
    if layout == "tensor" and to_tensor is not None:
        return to_tensor(value)
    if layout == "list":
        return value.tolist()
    if layout == "F":
        return np.asfortranarray(value.copy())
    if layout == "strided":
        return _strided(value)
    a = value.copy()
    if layout == "readonly":
        a.flags.writeable = False
    return a


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical dtype, shape and bytes (for checking that an input was not written to)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "OUS":
        return bool(np.all(a == b))
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def independence_problems(originals, copies, outputs) -> list:
    """What an implementation did wrong with its inputs: wrote into them, or returned a view."""
    problems = []
    for original, copy in zip(originals, copies):
        if isinstance(original, np.ndarray) and isinstance(copy, np.ndarray) and not same_bits(original, copy):
            problems.append("the implementation modified an input array")
            break
    inputs = [c for c in copies if isinstance(c, np.ndarray)]
    for out in outputs or ():
        if isinstance(out, np.ndarray) and any(np.shares_memory(out, c) for c in inputs):
            problems.append("a result shares memory with an input (results must be independent arrays)")
            break
    return problems
