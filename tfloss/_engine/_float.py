"""The engine's view of TF's CPU arithmetic: :mod:`tfloss._machine.cpu`, one element at a time.

numba has no bfloat16 and only partial float16, so 16-bit tensors travel through the engine as
their bits: float16 as ``uint16``, bfloat16 as ``int16`` (the integer type only tells the two
apart).  Every value is computed in the compute dtype (float32 for both 16-bit types) and
rounded back to 16 bits after each op, exactly where :func:`tfloss._machine.cpu._apply` rounds:

* :func:`read` reads one stored element as a compute-dtype value, subnormals read as zero (DAZ,
  :meth:`tfloss._machine.cpu.CpuTensor.from_input`);
* :func:`op` is the end of one TF op: flush a subnormal result to zero (FTZ), round to the
  storage dtype and widen again; :func:`add`, :func:`sub`, :func:`mul` and :func:`div` are the
  binary ops, ending the same way, with x86's choice of NaN made explicit;
* :func:`store` rounds a compute-dtype value to the storage dtype.

The conversions reproduce NumPy's (float16) and ml_dtypes' (bfloat16) to the bit, NaNs included,
because the NumPy path uses those; ``tests/test_engine.py`` checks them on every 16-bit pattern.
"""

from __future__ import annotations

import functools
import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

#: How every engine function is compiled: lazily, cached on disk, with IEEE division (x / 0 is
#: inf or NaN, as in TF, not ZeroDivisionError), and releasing the GIL when called from Python,
#: so that :mod:`tfloss._engine` can run ranges of one call on several threads.
jit = functools.partial(njit, cache=True, error_model="numpy", nogil=True)
#: For functions that allocate nothing and only read or write the arrays they are handed (the row
#: reductions' leaves, called once or twice per row): without numba's reference counting of
#: array arguments, whose atomic increments and decrements cost about 45 ns per call, more than
#: the arithmetic of a short row.  Allocating in such a function fails to compile.
jit_borrowing = functools.partial(njit, cache=True, error_model="numpy", nogil=True, _nrt=False)

F32 = np.float32
F64 = np.float64
U32 = np.uint32
U64 = np.uint64
TINY32 = np.float32(np.finfo(np.float32).tiny)
TINY64 = np.float64(np.finfo(np.float64).tiny)
ZERO32 = np.float32(0.0)
ZERO64 = np.float64(0.0)

# --------------------------------------------------------------------------------------------
# Bit casts (LLVM's bitcast: free, and what NumPy's .view does)


def _bitcast(source, target):
    """An intrinsic reinterpreting ``source`` bits as ``target``.  Integer operands may be wider
    (numba widens integer arithmetic to 64 bits) and are truncated first."""

    @intrinsic
    def cast(typingctx, x):
        if isinstance(source, types.Integer) and isinstance(x, types.Integer):
            pass
        elif x != source:
            return None

        def codegen(context, builder, signature, args):
            value = args[0]
            if isinstance(source, types.Integer) and x.bitwidth != source.bitwidth:
                value = builder.trunc(value, ir.IntType(source.bitwidth))
            return builder.bitcast(value, context.get_value_type(target))

        return target(x), codegen

    return cast


f32_bits = _bitcast(types.float32, types.uint32)
bits_f32 = _bitcast(types.uint32, types.float32)
f64_bits = _bitcast(types.float64, types.uint64)
bits_f64 = _bitcast(types.uint64, types.float64)


# --------------------------------------------------------------------------------------------
# Vector width


@intrinsic
def wide_vectors(typingctx):
    """Let the compiler vectorise the calling function's loops with the CPU's widest registers.

    On CPUs with AVX-512, LLVM prefers 256-bit vectors unless a function asks otherwise
    (``"prefer-vector-width"="512"``); this call asks, for the function it is written in.  It
    changes how many elements one instruction computes, never what each element is: every
    element is computed by the same operations in the same order.  Elsewhere it does nothing.
    """

    def codegen(context, builder, signature, args):
        # llvmlite checks attribute names against a list of keywords; a string attribute is
        # added to the underlying set directly.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


# --------------------------------------------------------------------------------------------
# The CPU's approximate reciprocal

#: Whether this machine has x86's ``rcpps`` (the engine is compiled for the machine it runs on).
HAS_RCPPS = platform.machine().lower() in ("x86_64", "amd64")


@intrinsic
def rcpps(typingctx, x):
    """The CPU's own ``rcpps`` estimate of ``1 / x`` for one float32 (``vrcpss``: the same table
    as the packed instruction).  Its bits are not specified: Intel and AMD differ, so they are
    read from the CPU, never computed.  Not affected by MXCSR: a subnormal ``x`` reads as zero
    (inf), a result too small for a normal float is zero.  On a CPU without it, the exact
    ``1 / x`` (``HAS_RCPPS`` is false there, and nothing in tfloss then asks for an estimate)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        if not HAS_RCPPS:
            return builder.fdiv(ir.Constant(ir.FloatType(), 1.0), args[0])
        vector = ir.VectorType(ir.FloatType(), 4)
        lane0 = ir.Constant(ir.IntType(32), 0)
        estimate = builder.module.declare_intrinsic("llvm.x86.sse.rcp.ss", fnty=ir.FunctionType(vector, [vector]))
        packed = builder.insert_element(ir.Constant(vector, None), args[0], lane0)
        return builder.extract_element(builder.call(estimate, [packed]), lane0)

    return types.float32(x), codegen


def _host_has(feature: str) -> bool:
    """Whether LLVM reports this machine's CPU feature (what numba compiles for)."""
    from llvmlite import binding

    return bool(binding.get_host_cpu_features().get(feature, False))


#: Whether :func:`rcpps_packet` can run here: the 8-lane ``vrcpps`` is an AVX instruction.
HAS_RCPPS_PACKET = HAS_RCPPS and _host_has("avx")


@intrinsic
def rcpps_packet(typingctx, values, start, out):
    """:func:`rcpps` of the 8 float32 ``values[start:start + 8]`` into ``out[start:start + 8]``,
    with the packed ``vrcpps`` (the same estimates: one table serves both).  A loop can be
    vectorised around this, never around the scalar instruction.  Only where
    :data:`HAS_RCPPS_PACKET`; the caller keeps ``start + 8`` within both arrays."""
    if not (isinstance(values, types.Array) and isinstance(out, types.Array) and values.dtype == types.float32
            and out.dtype == types.float32 and isinstance(start, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        vector = ir.VectorType(ir.FloatType(), 8)
        source = context.make_array(signature.args[0])(context, builder, args[0]).data
        target = context.make_array(signature.args[2])(context, builder, args[2]).data
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        loaded = builder.load(builder.bitcast(builder.gep(source, [index]), vector.as_pointer()), align=4)
        estimate = builder.module.declare_intrinsic("llvm.x86.avx.rcp.ps.256", fnty=ir.FunctionType(vector, [vector]))
        builder.store(builder.call(estimate, [loaded]), builder.bitcast(builder.gep(target, [index]), vector.as_pointer()),
                      align=4)
        return context.get_dummy_value()

    return types.none(values, start, out), codegen


@jit
def rcpps_array(values, out):
    """:func:`rcpps` of every element of a flat float32 array (for :func:`tfloss._machine.cpu.rcpps`)."""
    for i in range(values.size):
        out[i] = rcpps(values[i])


# --------------------------------------------------------------------------------------------
# 16-bit <-> float32


@intrinsic
def _fpext_half(typingctx, bits):
    """The CPU's float16 -> float32 conversion (F16C ``vcvtph2ps``) of 16 bits."""
    def codegen(context, builder, signature, args):
        half = builder.bitcast(builder.trunc(args[0], ir.IntType(16)), ir.HalfType())
        return builder.fpext(half, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _fptrunc_half(typingctx, value):
    """The CPU's float32 -> float16 conversion (F16C ``vcvtps2ph``, round to nearest even), as bits."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        half = builder.fptrunc(args[0], ir.HalfType())
        return builder.bitcast(half, ir.IntType(16))

    return types.uint16(value), codegen


@jit
def half_to_float(h):
    """float16 bits to float32, exactly (NumPy's widening: a NaN keeps its payload, unquieted).

    Numbers go through the CPU's conversion; a NaN's bits are moved by hand (the CPU would
    quiet a signalling NaN), and the two are selected without a branch, so loops vectorise.
    """
    h = U32(h)
    nan = bits_f32(((h & U32(0x8000)) << U32(16)) | U32(0x7F800000) | ((h & U32(0x3FF)) << U32(13)))
    is_nan = ((h & U32(0x7C00)) == U32(0x7C00)) & ((h & U32(0x3FF)) != U32(0))
    return nan if is_nan else _fpext_half(h)


@jit
def float_to_half(x):
    """float32 to float16 bits, round to nearest even (NumPy's ``astype(float16)``, NaNs too).

    Numbers go through the CPU's conversion (overflow gives inf, below half the smallest
    subnormal a signed zero); a NaN keeps the top 10 bits of its payload, unquieted, with the
    lowest bit set if they are all zero, as NumPy does.  Selected without a branch.
    """
    f = f32_bits(x)
    payload = (f >> U32(13)) & U32(0x3FF)
    nan = ((f >> U32(16)) & U32(0x8000)) | U32(0x7C00) | (payload if payload else U32(1))
    return np.uint16(nan) if x != x else _fptrunc_half(x)


@jit
def bfloat_to_float(b):
    """bfloat16 bits (as int16) to float32: the 16 bits become the top half."""
    return bits_f32(U32(np.uint16(b)) << U32(16))


@jit
def float_to_bfloat(x):
    """float32 to bfloat16 bits (as int16), round to nearest even; a NaN becomes ±0x7fc0 (ml_dtypes)."""
    f = f32_bits(x)
    if x != x:
        return np.int16(np.uint16(((f >> U32(16)) & U32(0x8000)) | U32(0x7FC0)))
    rounded = f + U32(0x7FFF) + ((f >> U32(16)) & U32(1))
    return np.int16(np.uint16(rounded >> U32(16)))


# --------------------------------------------------------------------------------------------
# One TF op: widen, compute, flush, round (tfloss._machine.cpu._apply)


@jit
def ftz32(v):
    """Flush-to-zero: a subnormal float32 becomes a zero of its sign."""
    return bits_f32(f32_bits(v) & U32(0x80000000)) if abs(v) < TINY32 else v


@jit
def ftz64(v):
    return bits_f64(f64_bits(v) & U64(0x8000000000000000)) if abs(v) < TINY64 else v


def widen(stored):
    """A stored element as its compute-dtype value (no flush)."""


def narrow(value, like):
    """A compute-dtype value rounded to the storage dtype of the array ``like``."""


def ftz(value):
    """Flush-to-zero in the value's own dtype."""


@overload(widen)
def _widen(stored):
    if stored == types.uint16:
        return lambda stored: half_to_float(stored)
    if stored == types.int16:
        return lambda stored: bfloat_to_float(stored)
    return lambda stored: stored


@overload(narrow)
def _narrow(value, like):
    if like.dtype == types.uint16:
        return lambda value, like: float_to_half(value)
    if like.dtype == types.int16:
        return lambda value, like: float_to_bfloat(value)
    return lambda value, like: value


@overload(ftz)
def _ftz(value):
    if value == types.float64:
        return lambda value: ftz64(value)
    return lambda value: ftz32(value)


@jit
def read(stored):
    """A stored element as a compute-dtype value, subnormals read as zero (DAZ)."""
    return ftz(widen(stored))


@jit
def load(array, index):
    """Element ``index`` of a flat stored array, read as :func:`read` does."""
    return read(array[index])


@jit
def half_round_trip(x):
    """``half_to_float(float_to_half(x))`` in fewer steps: the CPU's two conversions for numbers,
    and for a NaN the payload cut to its top 10 bits (the lowest of them set if all are zero)."""
    f = f32_bits(x)
    kept = f & U32(0xFFFFE000)
    nan = bits_f32(kept if kept & U32(0x007FE000) else (f & U32(0xFF800000)) | U32(0x2000))
    return nan if x != x else _fpext_half(_fptrunc_half(x))


@jit
def bfloat_round_trip(x):
    """``bfloat_to_float(float_to_bfloat(x))`` in fewer steps: round the low 16 bits away to
    nearest even; a NaN becomes ±0x7fc00000."""
    f = f32_bits(x)
    if x != x:
        return bits_f32((f & U32(0x80000000)) | U32(0x7FC00000))
    return bits_f32((f + U32(0x7FFF) + ((f >> U32(16)) & U32(1))) & U32(0xFFFF0000))


def rounded(value, kind):
    """A compute-dtype value rounded to the storage dtype ``kind`` and widened again, without a
    flush: ``widen(narrow(value, kind))``."""


@overload(rounded)
def _rounded(value, kind):
    if kind.dtype == types.uint16:
        return lambda value, kind: half_round_trip(value)
    if kind.dtype == types.int16:
        return lambda value, kind: bfloat_round_trip(value)
    return lambda value, kind: value


def op(value, kind):
    """The end of one TF op on tensors of storage dtype ``kind``: flush, round to storage, widen.

    ``kind`` is anything with a ``dtype`` (an array's ``.dtype``, or the array itself).  For
    float16 the flush is left out: every float32 subnormal rounds to a float16 zero of its sign
    anyway.
    """


@overload(op)
def _op(value, kind):
    if kind.dtype == types.uint16:
        return lambda value, kind: half_round_trip(value)
    return lambda value, kind: rounded(ftz(value), kind)


@jit
def store(value, kind):
    """A compute-dtype value (already rounded by :func:`op`) in the storage dtype ``kind``."""
    return narrow(value, kind)


def quiet(value):
    """A NaN with its quiet bit set (what x86 returns for a NaN operand)."""


@overload(quiet)
def _quiet(value):
    if value == types.float64:
        return lambda value: bits_f64(f64_bits(value) | U64(0x0008000000000000))
    return lambda value: bits_f32(f32_bits(value) | U32(0x00400000))


@jit
def x86_nan(a, b, result):
    """x86's rule for a binary op: a NaN operand comes back quieted, the first one if both are.

    Written out because the compiler may swap the operands of ``+`` and ``*``; the NumPy path
    and TF's packets both follow the rule.  (An invalid op on numbers, such as ``inf - inf``,
    gives the default NaN by itself.)
    """
    if a != a:
        return quiet(a)
    if b != b:
        return quiet(b)
    return result


@jit
def add(a, b, kind):
    """TF's AddV2 of two compute-dtype values stored as ``kind``: one rounded op."""
    return op(x86_nan(a, b, a + b), kind)


@jit
def sub(a, b, kind):
    """TF's Sub."""
    return op(x86_nan(a, b, a - b), kind)


@jit
def mul(a, b, kind):
    """TF's Mul."""
    return op(x86_nan(a, b, a * b), kind)


@jit
def div(a, b, kind):
    """TF's RealDiv."""
    return op(x86_nan(a, b, a / b), kind)


def constant(like, value):
    """The Python number ``value`` in the compute dtype of ``like`` (a value or a compute-dtype array)."""


def packet_size(like):
    """Eigen's packet width for the compute dtype of ``like``: 8 floats or 4 doubles (AVX)."""


@overload(constant)
def _constant(like, value):
    if like == types.float64 or (isinstance(like, types.Array) and like.dtype == types.float64):
        return lambda like, value: np.float64(value)
    return lambda like, value: np.float32(value)


@overload(packet_size)
def _packet_size(like):
    if like == types.float64:
        return lambda like: 4
    return lambda like: 8


def leaf_size(like):
    """Eigen's leaf size for a row sum stored like the array ``like`` (``cpu._LEAF_SIZE``)."""


@overload(leaf_size)
def _leaf_size(like):
    if like.dtype == types.uint16:  # float16
        return lambda like: 200
    if like.dtype == types.int16:  # bfloat16
        return lambda like: 128
    return lambda like: 1024


def scratch(like, shape):
    """An uninitialised compute-dtype array for tensors stored like the array ``like``."""


@overload(scratch)
def _scratch(like, shape):
    if like.dtype == types.float64:
        return lambda like, shape: np.empty(shape, np.float64)
    return lambda like, shape: np.empty(shape, np.float32)
