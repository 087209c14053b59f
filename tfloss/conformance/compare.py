"""The comparison rules: outcomes, ULPs, special-value patterns, the error bound, and judging.

Everything here works for the four floating dtypes TensorFlow's cross-entropy
ops return (float16, bfloat16, float32, float64).  NumPy's ``np.spacing`` and
``np.nextafter`` reject ``ml_dtypes.bfloat16``, so ULPs are computed from the
integer bit patterns and from the format parameters (significand width and
minimum exponent), never from NumPy's float helpers.

The error bound
---------------
A finite result ``actual`` is accepted against TF's ``expected`` when::

    |actual - expected| <= min(budget * ulp(M), max(rtol * M, ulp(M)))

where

* ``M`` is the *term magnitude* of that output element: the largest magnitude
  of the terms the computation adds up (each op states its own, see
  :mod:`tfloss.conformance.functions`), never less than ``|expected|``.  A loss near 0 made
  of large cancelling terms is judged against the terms, not against 0.
* ``ulp(M)`` is the spacing of the output dtype at ``M`` (subnormal spacing
  below the smallest normal).
* ``budget`` is ``BASE_ULPS`` plus ``ceil(log2(n))`` for an output that sums
  ``n`` terms (a reduction in a different order may differ by about one ULP
  per level of a summation tree).
* ``rtol`` is TF's own per-dtype test tolerance (1e-6 float32/float64, 1e-3
  float16, 1e-2 bfloat16): the outer limit.  TF's ``assertAllClose`` also adds
  ``atol``; we use the stricter floor of one ULP of ``M`` instead, so that a
  one-ULP difference in a subnormal result is not rejected by a limit smaller
  than the format can express.

The NaN / +inf / -inf / zero pattern (including the sign of zero) must match
exactly; the bound applies only where both values are finite and non-zero.

Errors
------
Where TF raises, the implementation must raise the same class (``tf.errors.X`` and the
implementation's ``errors.X`` count as the same; built-ins by name) with the same message,
TF's eager ``{{function_node ...}}`` prefix removed.  :class:`Outcome` holds either side's
result in one form, so a recorded TF outcome and a live one are judged alike.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES = {
    "float16": np.dtype(np.float16),
    "bfloat16": BFLOAT16,
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}

#: TF's per-dtype test tolerances (xent_op_test_base / test_util.assertAllCloseAccordingToType).
RTOL = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-6, "float64": 1e-6}

#: ULPs of the term magnitude allowed for an element-wise result.
BASE_ULPS = 4

_UINT_FOR_SIZE = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_INT_FOR_SIZE = {2: np.int16, 4: np.int32, 8: np.int64}


@dataclass(frozen=True)
class FloatFormat:
    """Parameters of a binary floating-point format.

    Attributes
    ----------
    name : str
        Dtype name (``"bfloat16"``...).
    nmant : int
        Explicit significand bits (7 for bfloat16, 23 for float32...).
    minexp : int
        Exponent of the smallest normal number.
    bits : int
        Storage width in bits.
    """

    name: str
    nmant: int
    minexp: int
    bits: int

    @property
    def smallest_subnormal(self) -> float:
        """Spacing of the subnormal range, ``2**(minexp - nmant)``."""
        return math.ldexp(1.0, self.minexp - self.nmant)


def float_format(dtype) -> FloatFormat:
    """Return the :class:`FloatFormat` of a floating dtype (bfloat16 included).

    Parameters
    ----------
    dtype : dtype-like
        One of float16, bfloat16, float32, float64.
    """
    dtype = np.dtype(dtype)
    info = ml_dtypes.finfo(dtype) if dtype == BFLOAT16 else np.finfo(dtype)
    return FloatFormat(dtype.name, int(info.nmant), int(info.minexp), dtype.itemsize * 8)


def ordered_int(x: np.ndarray) -> np.ndarray:
    """Map floats to integers whose order and differences count ULPs.

    The bit pattern is read as a signed integer; negative floats (sign bit
    set) are mirrored so that ``-0.0`` and ``+0.0`` both map to 0 and
    adjacent floats differ by exactly 1.  Works for any 2-, 4- or 8-byte
    float, bfloat16 included.

    Parameters
    ----------
    x : numpy.ndarray
        Floating array.

    Returns
    -------
    numpy.ndarray of int64 (object-free; float64 results fit in int64 because
    the sign bit is folded away).
    """
    x = np.asarray(x)
    size = x.dtype.itemsize
    signed = x.view(_INT_FOR_SIZE[size]).astype(np.int64)
    magnitude_mask = (1 << (size * 8 - 1)) - 1
    magnitude = signed & magnitude_mask
    return np.where(signed < 0, -magnitude, magnitude)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of representable values between ``a`` and ``b`` (same dtype).

    Parameters
    ----------
    a, b : numpy.ndarray
        Arrays of one floating dtype (bfloat16 allowed).  Only meaningful where
        both are finite.

    Returns
    -------
    numpy.ndarray of float64
        ``|ordered_int(a) - ordered_int(b)|`` (float64 so that float64
        distances near 2**63 do not overflow).
    """
    ia = ordered_int(a)
    ib = ordered_int(b)
    same_sign = (ia >= 0) == (ib >= 0)
    # Same sign: the int64 difference is exact.  Opposite signs: |ia| + |ib| may exceed int64,
    # and such distances are astronomically large anyway, so float64 is precise enough.
    exact = np.abs(np.where(same_sign, ia - ib, 0)).astype(np.float64)
    across = np.abs(ia.astype(np.float64)) + np.abs(ib.astype(np.float64))
    return np.where(same_sign, exact, across)


def ulp_of(magnitude, dtype) -> np.ndarray:
    """Spacing of ``dtype`` at ``|magnitude|`` (float64 array).

    ``ulp(m) = 2**(max(e, minexp) - nmant)`` where ``2**e <= m < 2**(e+1)``;
    below the smallest normal the subnormal spacing is returned, and 0 maps to
    the subnormal spacing as well.

    Parameters
    ----------
    magnitude : array_like
        Non-negative float64 magnitudes (may exceed the dtype's range).
    dtype : dtype-like
        The output dtype the ULP is measured in.
    """
    fmt = float_format(dtype)
    m = np.abs(np.asarray(magnitude, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e = np.frexp(m)  # m = f * 2**e, 0.5 <= f < 1  ->  leading bit 2**(e-1)
    exponent = np.where(m > 0, np.maximum(e.astype(np.int64) - 1, fmt.minexp), fmt.minexp)
    return np.ldexp(1.0, (exponent - fmt.nmant).astype(np.int32))


def ulp_budget(n_terms) -> np.ndarray:
    """ULP budget for outputs that each sum ``n_terms`` terms.

    Parameters
    ----------
    n_terms : array_like of int
        Terms added for each output element (1 for element-wise ops).
    """
    n = np.maximum(np.asarray(n_terms, dtype=np.float64), 1.0)
    return BASE_ULPS + np.ceil(np.log2(n))


def special_class(x: np.ndarray) -> np.ndarray:
    """Classify each element: 0 finite non-zero, 1 +0, 2 -0, 3 +inf, 4 -inf, 5 NaN.

    Works on bfloat16 by going through float64 (exact for every format here).
    """
    v = np.asarray(x).astype(np.float64)
    out = np.zeros(v.shape, dtype=np.int8)
    out[(v == 0) & ~np.signbit(v)] = 1
    out[(v == 0) & np.signbit(v)] = 2
    out[np.isposinf(v)] = 3
    out[np.isneginf(v)] = 4
    out[np.isnan(v)] = 5
    return out


_CLASS_NAMES = {0: "finite", 1: "+0", 2: "-0", 3: "+inf", 4: "-inf", 5: "nan"}


@dataclass
class ValueComparison:
    """Outcome of comparing one output array with TF's.

    Attributes
    ----------
    ok : bool
        Dtype, shape, pattern and bound all hold.
    problems : list of str
        Human-readable reasons when ``ok`` is False.
    n_elements : int
        Elements compared.
    n_bit_exact : int
        Elements whose bit patterns are identical.  A NaN counts only if its sign and payload
        are TF's too: the pass/fail pattern treats every NaN alike, the bit-exact share does not.
    err_ulps : numpy.ndarray
        Error in ULPs of the term magnitude, for finite non-zero elements.
    max_value_ulps : float
        Largest plain ULP distance between the two values (finite elements).
    """

    ok: bool = True
    problems: list = field(default_factory=list)
    n_elements: int = 0
    n_bit_exact: int = 0
    err_ulps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    max_value_ulps: float = 0.0
    sampled: str = ""

    @property
    def bit_exact(self) -> bool:
        """All elements identical bit for bit."""
        return self.ok and self.n_bit_exact == self.n_elements


def _describe_index(shape, flat_index) -> str:
    if not shape:
        return "()"
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def _same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: identical bit patterns (for floats; NaN sign and payload included)."""
    if b.dtype.kind == "f" or b.dtype == BFLOAT16:
        uint = _UINT_FOR_SIZE[b.dtype.itemsize]
        return np.ascontiguousarray(a).view(uint) == np.ascontiguousarray(b).view(uint)
    return np.asarray(a == b)


def _compare_complex(actual, expected, magnitude, n_terms) -> ValueComparison:
    """Complex results (the textbook sigmoid accepts complex64/complex128): the real and the
    imaginary parts are each compared like float32/float64 values, against a term magnitude of
    at least ``|expected|``."""
    def parts(a):
        return np.stack([np.real(a), np.imag(a)], axis=-1)

    with np.errstate(all="ignore"):
        m = np.abs(expected).astype(np.float64)
        if magnitude is not None:
            m = np.fmax(m, np.broadcast_to(np.asarray(magnitude, np.float64), expected.shape))
    m = np.repeat(m[..., None], 2, axis=-1)
    by_part = compare_arrays(parts(actual), parts(expected), m, n_terms)
    both_exact = np.all(_same_bits(parts(actual), parts(expected)), axis=-1)
    by_part.n_elements = int(expected.size)
    by_part.n_bit_exact = int(np.count_nonzero(both_exact))
    return by_part


def _bit_exact(expected_flat: np.ndarray) -> ValueComparison:
    """The comparison of a float output identical to TF's bit for bit: the same pattern, and no
    error, 0 ULP at every finite non-zero element."""
    e64 = expected_flat.astype(np.float64)
    return ValueComparison(n_elements=int(expected_flat.size), n_bit_exact=int(expected_flat.size),
                           err_ulps=np.zeros(int(np.count_nonzero(np.isfinite(e64) & (e64 != 0)))))


def compare_arrays(actual, expected: np.ndarray, magnitude=None, n_terms=1) -> ValueComparison:
    """Compare tfloss's ``actual`` array with TF's ``expected`` one.

    Parameters
    ----------
    actual : object
        What tfloss returned; must be a ``numpy.ndarray``.
    expected : numpy.ndarray
        TF's result converted with ``.numpy()``.
    magnitude : array_like, optional
        Term magnitude ``M`` per element, broadcastable to ``expected``
        (float64).  Defaults to ``|expected|``.
    n_terms : array_like of int, optional
        Terms summed per element (sets the ULP budget).

    Returns
    -------
    ValueComparison
    """
    result = ValueComparison()
    expected = np.asarray(expected)
    if not isinstance(actual, np.ndarray):
        result.ok = False
        result.problems.append(f"result type {type(actual).__name__}, expected numpy.ndarray")
        actual = np.asarray(actual)
    if actual.dtype != expected.dtype:
        result.ok = False
        result.problems.append(f"dtype {actual.dtype} != TF {expected.dtype}")
        return result
    if actual.shape != expected.shape:
        result.ok = False
        result.problems.append(f"shape {actual.shape} != TF {expected.shape}")
        return result
    result.n_elements = int(expected.size)
    if expected.size == 0:
        return result
    if expected.dtype.kind == "c":
        return _compare_complex(actual, expected, magnitude, n_terms)
    if expected.dtype.name not in RTOL:
        # Not a float or complex dtype: demand identical values.
        same = _same_bits(actual, expected)
        result.n_bit_exact = int(np.count_nonzero(same))
        if not np.all(same):
            result.ok = False
            result.problems.append(f"{expected.dtype} values differ at {int(np.size(same) - np.count_nonzero(same))} element(s)")
        return result
    a_flat = np.ascontiguousarray(actual).reshape(-1)
    e_flat = np.ascontiguousarray(expected).reshape(-1)
    same = _same_bits(a_flat, e_flat)
    result.n_bit_exact = int(np.count_nonzero(same))
    if result.n_bit_exact == same.size:
        exact = _bit_exact(e_flat)
        exact.ok, exact.problems = result.ok, result.problems  # a non-array result stays a problem
        return exact
    a_class = special_class(a_flat)
    e_class = special_class(e_flat)

    pattern_bad = np.flatnonzero(a_class != e_class)
    if pattern_bad.size:
        result.ok = False
        i = int(pattern_bad[0])
        result.problems.append(
            f"special-value pattern differs at {pattern_bad.size} element(s); first at "
            f"{_describe_index(expected.shape, i)}: got {a_flat[i]!r} "
            f"({_CLASS_NAMES[int(a_class[i])]}) vs TF {e_flat[i]!r} ({_CLASS_NAMES[int(e_class[i])]})"
        )

    finite = (a_class == 0) & (e_class == 0)
    if not np.any(finite):
        return result
    a64 = a_flat[finite].astype(np.float64)
    e64 = e_flat[finite].astype(np.float64)
    if magnitude is None:
        m = np.abs(e64)
    else:
        m = np.broadcast_to(np.asarray(magnitude, np.float64), expected.shape).reshape(-1)[finite]
        m = np.where(np.isfinite(m), np.maximum(m, np.abs(e64)), np.abs(e64))
    budget = np.broadcast_to(ulp_budget(n_terms), expected.shape).reshape(-1)[finite]
    unit = ulp_of(m, expected.dtype)
    err = np.abs(a64 - e64)
    result.err_ulps = err / unit
    result.max_value_ulps = float(np.max(ulp_distance(a_flat[finite], e_flat[finite])))
    rtol = RTOL[expected.dtype.name]
    allowed = np.minimum(budget * unit, np.maximum(rtol * m, unit))
    over = np.flatnonzero(err > allowed)
    if over.size:
        result.ok = False
        j = int(over[np.argmax(result.err_ulps[over])])
        flat_positions = np.flatnonzero(finite)
        i = int(flat_positions[j])
        result.problems.append(
            f"{over.size} finite element(s) outside the bound; worst at "
            f"{_describe_index(expected.shape, i)}: got {a_flat[i]!r} vs TF {e_flat[i]!r}, "
            f"error {result.err_ulps[j]:.3g} ULP of term magnitude {m[j]:.6g} "
            f"(allowed {allowed[j] / unit[j]:.3g} ULP)"
        )
    return result


# --- outcomes -------------------------------------------------------------------------------------

# TF's eager errors start with "{{function_node __wrapped__Op_device_/job:...}} ".
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s?")


def strip_function_node(message: str) -> str:
    """Remove TF's eager ``{{function_node ...}}`` prefix from an error message."""
    return _FUNCTION_NODE.sub("", message)


@dataclass
class Outcome:
    """What one call produced.

    Attributes
    ----------
    values : tuple of object or None
        Output arrays (one per output) when the call returned.
    error_kind : str or None
        ``"tf.errors"`` for TF's op errors (and tfloss's mirrors of them),
        ``"builtins"`` for ValueError/TypeError/..., ``"other"`` otherwise.
    error_name : str or None
        Class name of the exception.
    message : str or None
        ``str(exception)`` with TF's function-node prefix stripped.
    """

    values: tuple | None = None
    error_kind: str | None = None
    error_name: str | None = None
    message: str | None = None

    @property
    def raised(self) -> bool:
        """True when the call raised."""
        return self.error_name is not None

    def describe(self) -> str:
        """One line for reports."""
        if self.raised:
            return f"{self.error_kind}.{self.error_name}: {self.message}"
        return "returned " + ", ".join(
            f"{getattr(v, 'dtype', type(v).__name__)}{getattr(v, 'shape', '')}" for v in self.values
        )


def _classify(exc: BaseException, op_error_base, namespace=None) -> tuple[str, str]:
    name = type(exc).__name__
    if op_error_base is not None and isinstance(exc, op_error_base):
        if namespace is not None and type(exc) is not getattr(namespace, name, None):
            return "other", f"{type(exc).__module__}.{name} (not tfloss.errors.{name})"
        return "tf.errors", name
    if type(exc).__module__ == "builtins":
        return "builtins", name
    return "other", f"{type(exc).__module__}.{name}"


def call_outcome(fn, args=(), kwargs=None, op_error_base=None, namespace=None, convert=None) -> Outcome:
    """Call ``fn`` and record what it produced as an :class:`Outcome`.

    Parameters
    ----------
    fn : callable
    args, kwargs
        Its inputs, passed unchanged.
    op_error_base : type, optional
        The implementation's ``OpError`` (TF's op errors); its subclasses classify as
        ``tf.errors``.
    namespace : module, optional
        Where those error classes must come from (``tfloss.errors``): an ``OpError`` of another
        module then classifies as ``other``.
    convert : callable, optional
        Applied to each returned output (TF tensors to NumPy, say).
    """
    try:
        out = fn(*args, **(kwargs or {}))
    except Exception as exc:  # noqa: BLE001 - every exception is an outcome
        kind, name = _classify(exc, op_error_base, namespace)
        return Outcome(error_kind=kind, error_name=name, message=strip_function_node(str(exc)))
    outs = out if isinstance(out, tuple) else (out,)
    return Outcome(values=tuple(convert(o) for o in outs) if convert else outs)


# --- large results: a digest and a sample ---------------------------------------------------------


def digest(array: np.ndarray) -> bytes:
    """sha256 of an array's dtype, shape and bytes."""
    array = np.asarray(array)
    h = hashlib.sha256(f"{array.dtype.name}{array.shape}".encode())
    h.update(array.tobytes())  # C order whatever the layout
    return h.digest()


@dataclass(frozen=True)
class Digest:
    """A large recorded output: dtype, shape, sha256, and the elements at :func:`sample_positions`."""

    dtype: np.dtype
    shape: tuple
    sha256: bytes
    sample: np.ndarray

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def sample_positions(size: int, n: int) -> np.ndarray:
    """``n`` flat positions of ``size`` elements, evenly spaced, both ends included."""
    return np.unique(np.linspace(0, size - 1, n).astype(np.int64)) if size else np.zeros(0, np.int64)


def compare_digest(actual, expected: Digest, magnitude=None, n_terms=1) -> ValueComparison:
    """Compare a result with a large recorded one: bit-exact by digest, else judged on the sample."""
    if not isinstance(actual, np.ndarray):
        return ValueComparison(ok=False, problems=[f"result type {type(actual).__name__}, expected numpy.ndarray"])
    if actual.dtype != expected.dtype:
        return ValueComparison(ok=False, problems=[f"dtype {actual.dtype} != TF {expected.dtype}"])
    if actual.shape != expected.shape:
        return ValueComparison(ok=False, problems=[f"shape {actual.shape} != TF {expected.shape}"])
    if digest(actual) == expected.sha256:
        return ValueComparison(n_elements=expected.size, n_bit_exact=expected.size)
    positions = sample_positions(expected.size, expected.sample.size)

    def pick(value):
        if value is None or np.ndim(value) == 0:
            return value
        return np.broadcast_to(np.asarray(value), expected.shape).reshape(-1)[positions]

    result = compare_arrays(np.ascontiguousarray(actual).reshape(-1)[positions], expected.sample,
                            pick(magnitude), pick(n_terms))
    note = (f"not bit-exact (digest differs); judged on {positions.size} sampled elements of "
            f"{expected.size}, the rest is recorded as a digest only")
    result.problems = [f"{p} [{note}]" for p in result.problems]
    result.sampled = note
    return result


# --- judging --------------------------------------------------------------------------------------


def _stand_in(expected):
    """What a term-magnitude function needs of a recorded output: its shape and dtype."""
    if isinstance(expected, Digest):
        return np.broadcast_to(np.zeros((), expected.dtype), expected.shape)
    return expected


def _identical(actual, expected) -> ValueComparison | None:
    """The comparison of ``actual`` where it is an array with ``expected``'s dtype, shape and
    bits (NaN payloads included; for a recorded digest, where the digests agree), else ``None``.
    Such an output compares the same whatever its term magnitudes, so they are computed only for
    the other outputs, and its bits are checked once."""
    if not isinstance(actual, np.ndarray) or actual.dtype != expected.dtype or actual.shape != expected.shape:
        return None
    if isinstance(expected, Digest):
        same = digest(actual) == expected.sha256
        return ValueComparison(n_elements=expected.size, n_bit_exact=expected.size) if same else None
    expected = np.asarray(expected)
    if expected.dtype.name not in RTOL or expected.size == 0:
        return None  # compare_arrays' own rules (integers, complex, empty)
    e_flat = np.ascontiguousarray(expected).reshape(-1)
    return _bit_exact(e_flat) if np.all(_same_bits(np.ascontiguousarray(actual).reshape(-1), e_flat)) else None


def judge_values(function, inputs, expected: tuple, actual: tuple):
    """Compare output tuples against the expected ones; returns (ok, comparisons, problems).

    ``function`` supplies the term magnitudes (:meth:`~tfloss.conformance.functions.Function.magnitudes`);
    where they cannot be computed (odd raw inputs) the bound falls back to ``|expected|``.
    """
    problems = []
    comparisons = []
    if len(expected) != len(actual):
        return False, comparisons, [f"{len(actual)} outputs, TF has {len(expected)}"]
    magnitudes = None
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e is None or a is None:
            if (e is None) != (a is None):
                problems.append(f"output {i}: got {'None' if a is None else 'array'}, TF {'None' if e is None else 'array'}")
            continue
        cmp = _identical(a, e)  # the bound cannot matter: no term magnitudes needed
        if cmp is None:
            if magnitudes is None:
                try:
                    magnitudes = function.magnitudes(inputs, tuple(_stand_in(e) for e in expected))
                except Exception:  # noqa: BLE001 - odd inputs: fall back to |expected|
                    magnitudes = [(None, 1)] * len(expected)
            magnitude, n_terms = magnitudes[i] if i < len(magnitudes) else (None, 1)
            cmp = compare_digest(a, e, magnitude, n_terms) if isinstance(e, Digest) else compare_arrays(
                a, e, magnitude, n_terms)
        comparisons.append(cmp)
        problems += [f"output {i}: {p}" if len(expected) > 1 else p for p in cmp.problems]
    return not problems, comparisons, problems


def judge(function, inputs, expected: Outcome, actual: Outcome):
    """Judge a pair of outcomes; returns (ok, kind, comparisons, problems).

    ``kind`` is ``error`` when TF raised, ``value`` when it returned.
    """
    kind = "error" if expected.raised else "value"
    if expected.raised or actual.raised:
        if not actual.raised:
            return False, kind, [], [f"TF raised {expected.describe()}; got {actual.describe()}"]
        if not expected.raised:
            return False, kind, [], [f"raised {actual.describe()}; TF {expected.describe()}"]
        problems = []
        if (expected.error_kind, expected.error_name) != (actual.error_kind, actual.error_name):
            problems.append(f"exception class: {actual.error_kind}.{actual.error_name} vs TF "
                            f"{expected.error_kind}.{expected.error_name}")
        if expected.message != actual.message:
            problems.append(f"message: {actual.message!r} vs TF {expected.message!r}")
        return not problems, kind, [], problems
    ok, comparisons, problems = judge_values(function, inputs, expected.values, actual.values)
    return ok, kind, comparisons, problems
