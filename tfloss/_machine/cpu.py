"""TensorFlow's CPU arithmetic, emulated in NumPy.

The kernels in :mod:`tfloss._kernels` are written with :class:`CpuTensor` values and the functions
below, so that they read like TensorFlow's own Python (``relu_logits - logits * labels``) while every
step rounds the way TF's CPU kernels round.  This module has one job: make one NumPy operation
behave like one TF CPU operation.  Four platform facts are emulated:

* **Flush-to-zero and denormals-are-zero.**  TF runs its CPU kernels with the FTZ and DAZ bits
  set, so a float32/float64 operation whose exact result is subnormal returns a zero of the same
  sign, and a subnormal input is read as zero.  (float32 ``exp(-100)`` is ``0.0`` in TF, 3.7e-44
  in NumPy.)  Data movement (``where``, reshape, transpose) does not flush: only arithmetic.
* **16-bit types compute in float32.**  Eigen evaluates each float16/bfloat16 operation by
  widening to float32, computing, and rounding the result back to 16 bits (round to nearest
  even).  FTZ applies to the float32 intermediate, which is why a bfloat16 ``exp(-100)`` is 0.
* **Python scalars are constants of the tensor's dtype**, as ``1 - labels`` is in TF.
* **NaN bits are x86's.**  An SSE/AVX operation with a NaN operand returns that NaN, quieted; with
  two NaN operands, the first one; and an invalid operation on numbers (``inf - inf``,
  ``0 * inf``) the *default NaN*, whose sign bit is set (float32 ``0xffc00000``).  See
  :func:`x86_nan`.  Eigen's reductions add one more rule per step (which accumulator is "first"
  after compilation, and a maximum that skips NaNs in its SIMD lanes): see :func:`reduce_max`
  and :func:`_eigen_sum`.

Three more facts of the CPU are reproduced here and in :mod:`tfloss._machine.eigen_math`: the bits of Eigen's ``exp``/
``log``/``log1p`` (packet polynomials, and the C library for the elements Eigen evaluates one by
one; see :mod:`tfloss._machine.eigen_math`), Eigen's order of summation, including where its tree
reduction splits a long row (:func:`reduce_sum`), and Eigen's float32 ``reciprocal``, which refines
the CPU's own approximate ``rcpps`` (:func:`reciprocal`; the instruction is run, not emulated).

The compiled engine (:mod:`tfloss._engine`) computes the same thing one element at a time
(:mod:`tfloss._engine._float`); ``tests/test_engine.py`` holds the two to the same bits.
"""

from __future__ import annotations

import functools

import numpy as np
import ml_dtypes

from . import eigen_math as _eigen_math

bfloat16 = np.dtype(ml_dtypes.bfloat16)
HALF_TYPES = (np.dtype(np.float16), bfloat16)


def silent_floating_point(op):
    """TF returns inf and NaN without warnings; run ``op`` with NumPy's warnings off too."""

    @functools.wraps(op)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return op(*args, **kwargs)

    return run


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype Eigen computes in for values stored as ``dtype``: 16-bit floats widen to float32."""
    dtype = np.dtype(dtype)
    if dtype == np.float64 or dtype.kind == "c":
        return dtype
    return np.dtype(np.float32)


#: The smallest normal float32 and float64 (``np.finfo`` is slow to ask once per op).
_TINY = {np.dtype(t): np.finfo(t).tiny for t in (np.float32, np.float64)}


def flush_denormals(values: np.ndarray) -> np.ndarray:
    """Replace subnormal float32/float64 values by a zero of the same sign (FTZ/DAZ), in place."""
    tiny = _TINY.get(values.dtype)
    if tiny is not None and values.size:
        subnormal = np.abs(values) < tiny
        np.copysign(0, values, out=values, where=subnormal)
    return values


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def quiet(values: np.ndarray) -> np.ndarray:
    """``values`` with the quiet bit (the top mantissa bit) set on NaNs, as x86 returns them."""
    if values.dtype not in (np.float32, np.float64):
        return values
    uint = _UINT[values.dtype.itemsize]
    quiet_bit = uint(1) << uint(np.finfo(values.dtype).nmant - 1)
    bits = values.view(uint)
    return np.where(np.isnan(values), bits | quiet_bit, bits).view(values.dtype)


def default_nan(dtype: np.dtype):
    """x86's default NaN, the result of ``inf - inf``: sign bit set (float32 ``0xffc00000``)."""
    dtype = np.dtype(dtype)
    bits, mantissa_bits = dtype.itemsize * 8, np.finfo(dtype).nmant
    all_ones_exponent_and_sign = ((1 << (bits - mantissa_bits)) - 1) << mantissa_bits
    return np.array(all_ones_exponent_and_sign | 1 << (mantissa_bits - 1), _UINT[dtype.itemsize]).view(dtype)[()]


def x86_nan(result: np.ndarray, first, second) -> np.ndarray:
    """Give ``result = first (op) second`` the NaN bits one x86 SSE/AVX instruction gives, in place.

    The rule, for every NaN element of ``result``:

    1. ``first`` is a NaN: ``first``'s bits, quieted;
    2. else ``second`` is a NaN: ``second``'s bits, quieted;
    3. else (an invalid operation such as ``inf - inf``, ``0 * inf``, ``0 / 0``): the default NaN,
       sign bit set (``0xffc00000``, ``0xfff8000000000000``).

    NumPy on x86 already computes these bits (its loops are the same instructions, with the
    operands in order); the rule is applied explicitly so that the bits do not depend on the
    machine tfloss runs on.  float32/float64 only; other dtypes are returned unchanged.
    """
    if result.dtype not in (np.float32, np.float64) or not result.size:
        return result
    nan = np.isnan(result)
    if not nan.any():
        return result
    first, second = (np.broadcast_to(np.asarray(v, result.dtype), result.shape) for v in (first, second))
    chosen = np.where(np.isnan(first), first, np.where(np.isnan(second), second, default_nan(result.dtype)))
    np.copyto(result, quiet(chosen), where=nan)
    return result


class CpuTensor:
    """A value held in its storage dtype, whose arithmetic rounds like one TF CPU op each.

    Only what the cross-entropy kernels need is defined: ``+ - * /``, unary minus, comparisons
    (which return plain boolean arrays, as they involve no rounding) and indexing.
    """

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray):
        self.value = np.asarray(value)

    @classmethod
    def from_input(cls, array: np.ndarray) -> "CpuTensor":
        """Wrap a caller's array, reading subnormal float32/float64 inputs as zero (DAZ)."""
        value = np.array(array, copy=True)
        if value.dtype == bfloat16:
            # bfloat16 subnormals are float32 subnormals once widened, so DAZ reads them as 0.
            widened = flush_denormals(value.astype(np.float32))
            value = widened.astype(bfloat16)
        return cls(flush_denormals(value))

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def shape(self) -> tuple:
        return self.value.shape

    def astype(self, dtype) -> "CpuTensor":
        """TF's Cast: rounds to nearest even; no flush (a cast is not arithmetic in Eigen)."""
        return CpuTensor(self.value.astype(dtype))

    def __getitem__(self, index) -> "CpuTensor":
        return CpuTensor(self.value[index])

    def __neg__(self) -> "CpuTensor":
        return CpuTensor(-self.value)

    def __add__(self, other):
        return _apply(np.add, self, other)

    def __radd__(self, other):
        return _apply(np.add, other, self)

    def __sub__(self, other):
        return _apply(np.subtract, self, other)

    def __rsub__(self, other):
        return _apply(np.subtract, other, self)

    def __mul__(self, other):
        return _apply(np.multiply, self, other)

    def __rmul__(self, other):
        return _apply(np.multiply, other, self)

    def __truediv__(self, other):
        return _apply(np.divide, self, other)

    def __rtruediv__(self, other):
        return _apply(np.divide, other, self)

    def __ge__(self, other) -> np.ndarray:
        return _values(self) >= _values(other)

    def __gt__(self, other) -> np.ndarray:
        return _values(self) > _values(other)

    def __le__(self, other) -> np.ndarray:
        return _values(self) <= _values(other)

    def __lt__(self, other) -> np.ndarray:
        return _values(self) < _values(other)

    def __repr__(self) -> str:
        return f"CpuTensor({self.value!r})"


def _values(x) -> np.ndarray:
    return x.value if isinstance(x, CpuTensor) else np.asarray(x)


def _storage_dtype(operands) -> np.dtype:
    for x in operands:
        if isinstance(x, CpuTensor):
            return x.dtype
    raise TypeError("at least one operand must be a CpuTensor")


def _apply(ufunc, *operands, **kwargs) -> CpuTensor:
    """Run ``ufunc`` as one TF CPU op: widen, compute, flush subnormals, round to storage dtype."""
    dtype = _storage_dtype(operands)
    wide = compute_dtype(dtype)
    values = [_values(x).astype(wide, copy=False) for x in operands]
    with np.errstate(all="ignore"):
        result = np.asarray(ufunc(*values, **kwargs), dtype=wide)
    if len(values) == 2:
        x86_nan(result, *values)
    result = flush_denormals(result)
    return CpuTensor(result.astype(dtype, copy=False))


def exp(x: CpuTensor) -> CpuTensor:
    """TF's Exp op: Eigen's packet polynomial, the C library for the tail (see ``_eigen_math``)."""
    return _apply(_eigen_math.exp, x)


def exp_in_row_sum(x: CpuTensor) -> CpuTensor:
    """``exp`` of a 2-D tensor as Eigen evaluates it inside ``reduce_sum(exp(x), axis=1)``.

    Same values as :func:`exp` up to the last bit.  Eigen fuses ``exp(x).sum(axis=1)``: the
    reducer evaluates ``exp`` itself, leaf by leaf (see :func:`_eigen_sum`).  Each leaf reads its
    elements in whole packets from its own first element, and its last ``length % packet``
    elements one at a time, through the C library's ``exp``.  So which elements take the scalar
    path depends on the leaves, which depend on where the row starts in the tensor
    (:func:`_row_leaves`); rows of at most ``packet * leaf_size`` elements are one leaf each, so
    there it is simply each row's last ``classes % packet`` elements.
    """
    rows, count = x.shape
    packet = _packet_size(x.dtype)
    residues = _row_first_indices(rows, count) % packet  # the leaves depend only on this
    scalar = np.zeros((rows, count), bool)
    for residue in np.unique(residues):
        for start, stop in _row_leaves(count, int(residue), x.dtype):
            scalar[residues == residue, stop - (stop - start) % packet : stop] = True
    return _apply(functools.partial(_eigen_math.exp_packet_or_scalar, scalar=scalar), x)


def log(x: CpuTensor) -> CpuTensor:
    """TF's Log op, with Eigen's and the C library's rounding (see ``_eigen_math``)."""
    return _apply(_eigen_math.log, x)


def scalar_log(x: CpuTensor) -> CpuTensor:
    """``log`` called one element at a time, as inside the sparse kernel's loss generator."""
    return _apply(_eigen_math.scalar_log, x)


def log1p(x: CpuTensor) -> CpuTensor:
    """TF's Log1p op, with Eigen's and the C library's rounding (see ``_eigen_math``)."""
    return _apply(_eigen_math.log1p, x)


def reciprocal(x: CpuTensor) -> CpuTensor:
    """TF's Reciprocal op (Eigen's ``scalar_inverse_op``; also Eigen's ``.inverse()``).

    float32 on whole packets of 8 (the tensor's first ``size - size % 8`` elements, as for
    :func:`exp`) is Eigen's ``preciprocal``: the CPU's approximate reciprocal ``r = rcpps(a)``
    (about 12 bits), refined by one Newton step ``r*(1 - a*r) + r``, four ops each rounded (TF's
    x86 build has no FMA), and ``r`` itself where ``1 - a*r`` is NaN (``a`` zero, infinite or
    NaN).  That is up to 2 ULP from ``1/a``; about a third of the packets' results differ from
    it in the last bit.  The last ``size % 8`` elements, and every other dtype, divide: ``1/a``
    (16-bit types in float32, rounded once).  ``rcpps``'s bits differ between Intel and AMD, so
    they are read from this CPU (:func:`rcpps`); where they cannot be, the packets divide too.
    """
    flat = x.value.reshape(-1)
    packets = flat.size - flat.size % _packet_size(x.dtype)
    estimate = rcpps(flat[:packets]) if x.dtype == np.float32 and packets else None
    if estimate is None:
        return 1 / x
    a, r = CpuTensor(flat[:packets]), CpuTensor(estimate)
    residual = 1 - a * r  # Eigen's pnmadd(a, r, 1)
    refined = where(np.isnan(residual.value), r, r * residual + r)
    tail = 1 / CpuTensor(flat[packets:])
    return CpuTensor(np.concatenate([refined.value, tail.value]).reshape(x.shape))


def rcpps(values: np.ndarray) -> np.ndarray | None:
    """The CPU's own approximate reciprocal (x86 ``rcpps``) of float32 ``values``, or None.

    The instruction's bits are a table inside the CPU, not a formula, and AMD's differs from
    Intel's; NumPy cannot run it, so it is run through the engine's compiled instruction
    (:func:`tfloss._engine.rcpps`, under either engine).  None where numba cannot be imported
    or the CPU is not an x86.
    """
    from .. import _engine

    return _engine.rcpps(values)


def abs(x: CpuTensor) -> CpuTensor:  # noqa: A001 - mirrors tf.math.abs
    return CpuTensor(np.abs(x.value))


def relu(x: CpuTensor) -> CpuTensor:
    """``max(x, 0)``; NaN stays NaN (TF's Relu propagates it)."""
    zero = np.zeros((), x.dtype)  # a typed zero: older NumPy cannot compare bfloat16 with int
    keep = (x.value > zero) | np.isnan(x.value)
    return CpuTensor(np.where(keep, x.value, zero))


def where(condition: np.ndarray, x: CpuTensor, y: CpuTensor) -> CpuTensor:
    """Select elements; data movement only, nothing is rounded or flushed."""
    return CpuTensor(np.where(condition, x.value, y.value))


def zeros_like(x: CpuTensor) -> CpuTensor:
    return CpuTensor(np.zeros_like(x.value))


def reduce_max(x: CpuTensor, axis: int, keepdims: bool = False) -> CpuTensor:
    """Maximum along ``axis`` as Eigen's vectorised reducer takes it, NaN bits included.

    See :func:`_eigen_max`.  An empty axis gives ``-inf`` (Eigen's initial value).
    """
    rows = np.moveaxis(x.value, axis, -1)
    flat = rows.reshape(int(np.prod(rows.shape[:-1])), rows.shape[-1])
    top = _eigen_max(flat, x.dtype).reshape(rows.shape[:-1])
    return CpuTensor(np.expand_dims(top, axis) if keepdims else top)


def _max_keeping_nan_of(t: np.ndarray, accum: np.ndarray) -> np.ndarray:
    """C++'s ``std::max(t, accum)``, i.e. ``t < accum ? accum : t``: ``t`` whenever either is NaN."""
    return np.where(t < accum, accum, t)


def _eigen_max(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Row maxima of a 2-D array in the order of Eigen's ``MaxReducer`` (``PropagateFast``).

    NaN rules (bits are moved, never recomputed, so a NaN keeps its sign and payload):

    1. The first ``C - C % P`` elements of a row (``P`` = 8 lanes, 4 for float64) are taken in
       packets with ``_mm256_max_ps(element, accum)``, which returns ``accum`` when either is NaN:
       the lanes skip NaNs entirely.
    2. The last ``C % P`` elements are taken one by one with ``accum = std::max(element, accum)``,
       which returns ``element`` when either is NaN: a NaN replaces the accumulator, and the next
       number replaces the NaN.
    3. The result is ``std::max(tail, max_of_lanes)``: the tail's value when it is NaN.
    4. Rows longer than ``P * leaf`` (leaf 1024; 200 float16, 128 bfloat16) are split at a packet
       boundary near the middle and the halves combined by rule 2: left, then right.

    So a row's maximum is NaN only when its tail's last NaN has no number after it in the tail,
    and a NaN in the packet part never becomes the maximum (``x - max`` is NaN there anyway).
    Ties between +0 and -0 are not ordered like Eigen's; no output of the ops can tell them apart.
    """
    packet = _PACKET_SIZE.get(dtype, 8)
    count = values.shape[-1]
    lowest = np.array(-np.inf, values.dtype)
    if count > packet * _LEAF_SIZE.get(dtype, 1024):
        split = packet * -(-((count + 1) // 2) // packet)
        left = _max_keeping_nan_of(_eigen_max(values[:, :split], dtype), lowest)
        return _max_keeping_nan_of(_eigen_max(values[:, split:], dtype), left)
    vectorized = count // packet * packet
    lanes = values[:, :vectorized]
    lanes_max = np.max(np.where(np.isnan(lanes), lowest, lanes), axis=1, initial=lowest)
    tail = np.full(values.shape[0], lowest)
    for column in range(vectorized, count):
        tail = _max_keeping_nan_of(values[:, column], tail)
    return np.where(tail < lanes_max, lanes_max, tail)


def reduce_sum(x: CpuTensor, axis: int | None, keepdims: bool = False) -> CpuTensor:
    """Sum along ``axis`` (all axes if None) in the order Eigen's vectorised reducer adds.

    Like TF's kernels, this reads the tensor as a contiguous 2-D ``[rows, count]`` tensor with the
    reduced axis innermost: row ``r`` is the elements ``[r * count, (r + 1) * count)`` of the
    flattened tensor, and that index decides where a long row is split (:func:`_eigen_sum`).
    ``axis=None`` sums one row starting at index 0.
    """
    if axis is None:
        values = x.value.reshape(1, x.value.size)
        total = _eigen_sum(values, x.dtype, _row_first_indices(*values.shape))[0]
        return CpuTensor(total.reshape((1,) * x.value.ndim) if keepdims else total)
    rows = np.moveaxis(x.value, axis, -1)
    flat = rows.reshape(int(np.prod(rows.shape[:-1])), rows.shape[-1])
    total = _eigen_sum(flat, x.dtype, _row_first_indices(*flat.shape)).reshape(rows.shape[:-1])
    return CpuTensor(np.expand_dims(total, axis) if keepdims else total)


# Eigen's packet width in elements for TF's official x86 wheel (built for AVX: 256-bit packets).
_PACKET_SIZE = {np.dtype(np.float64): 4}
# Above packet_size * leaf_size elements Eigen splits a sum in two halves and adds the halves.
_LEAF_SIZE = {np.dtype(np.float16): 200, bfloat16: 128}


# Which NaN survives when Eigen's row sum adds two NaNs, where the compiled code does not keep the
# source's operand order (measured on TF 2.21's wheel): folding accumulator k = 1, 2, 3 into
# accumulator 0, and adding the packets' horizontal sum to the tail's sum.
_FOLD_LATER_NAN_WINS = {np.dtype(np.float32): (False, True, True), np.dtype(np.float64): (True, True, True)}
_FINALIZE_LATER_NAN_WINS = {np.dtype(np.float32): True, np.dtype(np.float64): True}


def _packet_size(dtype: np.dtype) -> int:
    return _PACKET_SIZE.get(np.dtype(dtype), 8)


def _row_first_indices(rows: int, count: int) -> np.ndarray:
    """The index in the flattened ``[rows, count]`` tensor of each row's first element."""
    return np.arange(rows, dtype=np.int64) * count


def _tree_split(count: int, first_index: int, dtype: np.dtype) -> int | None:
    """How many of ``count`` values starting at tensor index ``first_index`` Eigen's tree puts in
    its left half, or None if they form one leaf (``count <= packet * leaf_size``).

    Eigen aligns the split on a packet boundary of the whole tensor, not of the row:
    ``split = packet * ceil((first_index + ceil(count / 2)) / packet)``, the left half is
    ``[first_index, split)`` and the right half ``[split, first_index + count)``.  So the left
    half has ``packet * ceil((m + ceil(count / 2)) / packet) - m`` values, with
    ``m = first_index % packet``: rows with the same ``m`` split alike, and a right half always
    starts on a packet boundary (``m = 0``).
    """
    packet = _packet_size(dtype)
    if count <= packet * _LEAF_SIZE.get(np.dtype(dtype), 1024):
        return None
    split = packet * _div_ceil(first_index + _div_ceil(count, 2), packet)
    return min(split - first_index, count)


def _div_ceil(a: int, b: int) -> int:
    return -(-a // b)


def _row_leaves(count: int, first_index: int, dtype: np.dtype) -> list:
    """The leaves of Eigen's tree over one row, as ``(start, stop)`` column ranges, left to right."""
    num_left = _tree_split(count, first_index, dtype)
    if num_left is None:
        return [(0, count)]
    right = _row_leaves(count - num_left, first_index + num_left, dtype)
    return _row_leaves(num_left, first_index, dtype) + [(num_left + a, num_left + b) for a, b in right]


def _eigen_sum(values: np.ndarray, dtype: np.dtype, first_indices: np.ndarray) -> np.ndarray:
    """Row sums of a 2-D array, added in Eigen's order and rounded as Eigen rounds.

    Row ``r`` holds the tensor elements ``[first_indices[r], first_indices[r] + count)``.  Eigen's
    inner-most-dimension reducer sums a row of more than ``packet * leaf_size`` elements (8192
    float32, 4096 float64, 1600 float16, 1024 bfloat16 on AVX) as a tree: it splits the row where
    :func:`_tree_split` says, sums each half the same way, and adds ``(0 + left) + right`` (its
    accumulator starts at zero).  A leaf is summed by :func:`_leaf_sum`.  Because the split is
    aligned on the tensor's packets, rows whose length is not a multiple of the packet split at
    different columns, and the same values can sum to different last bits in different rows.
    """
    totals = np.empty(values.shape[0], dtype)
    residues = first_indices % _packet_size(dtype)  # all the tree depends on (see _tree_split)
    for residue in np.unique(residues):
        rows = residues == residue
        totals[rows] = _tree_sum(values[rows], dtype, int(residue))
    return totals


def _tree_sum(values: np.ndarray, dtype: np.dtype, first_index: int) -> np.ndarray:
    """Eigen's tree sum of rows that all start at tensor index ``first_index`` (modulo the packet)."""
    num_left = _tree_split(values.shape[-1], first_index, dtype)
    if num_left is None:
        return _leaf_sum(values, dtype)
    wide = compute_dtype(dtype)
    left = _tree_sum(values[:, :num_left], dtype, first_index).astype(wide)
    right = _tree_sum(values[:, num_left:], dtype, first_index + num_left).astype(wide)
    accumulator = np.zeros(values.shape[0], wide)  # Eigen's reducer.initialize()
    return _add(_add(accumulator, left, dtype), right, dtype).astype(dtype)


def _leaf_sum(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Sums of rows short enough to be one leaf of Eigen's tree.

    Eigen's inner-most-dimension reducer keeps four packet accumulators while at least four
    packets remain, folds them into one, adds the remaining whole packets, adds the tail
    elements one by one into a scalar, and returns ``tail + horizontal_sum(packet)``, where the
    horizontal sum of ``[a0..a7]`` is ``((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))``.  Every packet
    addition on a 16-bit type rounds to 16 bits; the horizontal sum is done in float32 and
    rounded once.  This order makes a bfloat16 sum bit-identical to TF's.

    NaN bits: each addition follows :func:`x86_nan` (the accumulator is the first operand, so
    of two NaNs the one added earlier survives), except where TF's compiled code swapped the
    operands, measured on TF 2.21: the fold ``acc0 + acc_k`` keeps ``acc_k``'s NaN for k = 2, 3
    in float32 and k = 1, 2, 3 in float64; and ``tail + horizontal_sum`` keeps the horizontal
    sum's NaN (float32, float64).  16-bit types follow the float32 rule before rounding.
    """
    wide = compute_dtype(dtype)
    packet = _packet_size(dtype)
    count = values.shape[-1]
    values = values.astype(wide)
    vectorized = count // packet * packet
    unrolled = count // (4 * packet) * (4 * packet)
    accumulators = np.zeros((4, values.shape[0], packet), wide)
    for start in range(0, unrolled, 4 * packet):
        block = values[:, start : start + 4 * packet].reshape(values.shape[0], 4, packet)
        accumulators = _add(accumulators, np.moveaxis(block, 1, 0), dtype)
    folded = accumulators[0]
    fold_rule = _FOLD_LATER_NAN_WINS.get(wide, _FOLD_LATER_NAN_WINS[np.dtype(np.float32)])
    for other, later_nan_wins in zip(accumulators[1:], fold_rule):
        folded = _add(folded, other, dtype, later_nan_wins)
    for start in range(unrolled, vectorized, packet):
        folded = _add(folded, values[:, start : start + packet], dtype)
    tail = np.zeros(values.shape[0], wide)
    for column in range(vectorized, count):
        tail = _add(tail, values[:, column], dtype)
    while folded.shape[-1] > 1:  # the horizontal sum, in the compute dtype
        half = folded.shape[-1] // 2
        folded = flush_denormals(x86_nan(folded[:, :half] + folded[:, half:], folded[:, :half], folded[:, half:]))
    later_nan_wins = _FINALIZE_LATER_NAN_WINS.get(wide, True)
    return _add(tail, _round(folded[:, 0], dtype), dtype, later_nan_wins).astype(dtype)


def _round(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round compute-dtype values to the storage dtype and back."""
    return values.astype(dtype).astype(values.dtype)


def _add(a: np.ndarray, b: np.ndarray, dtype: np.dtype, later_nan_wins: bool = False) -> np.ndarray:
    """``a + b`` rounded to ``dtype``; of two NaNs ``a``'s survives (x86), or ``b``'s if asked."""
    with np.errstate(all="ignore"):
        total = a + b
    if later_nan_wins:
        x86_nan(total, b, a)
    else:
        x86_nan(total, a, b)
    return _round(flush_denormals(total), dtype)
