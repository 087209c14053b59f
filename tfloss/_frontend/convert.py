"""Conversion and validation: TensorFlow's rules for what goes in, and its words for what it rejects.

Every public op passes its arguments through this module and nowhere else:

* :func:`convert_to_tensor` turns Python and NumPy values into arrays with the dtype
  ``tf.convert_to_tensor`` would give them (Python floats are float32, Python ints int32, NumPy
  arrays keep their dtype, anything with ``__array__`` is accepted).
* :func:`check_ops` replays the dtype checks of the TF ops a function executes, in the order it
  executes them, so that a bad dtype fails at the same op, with the same message, as in TF.
* The remaining helpers raise TF's shape and argument errors with TF's text.

Messages are TF 2.21's, minus the ``{{function_node ...}}`` prefix that eager TF adds.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence

import numpy as np
import ml_dtypes

from .. import _engine, errors
from .opdefs import OP_DEFS

_INT32 = np.iinfo(np.int32)

#: TF's name for each NumPy dtype (``DataTypeString``), as it appears in TF's messages.
_TF_NAMES = {
    np.dtype(np.float16): "half",
    np.dtype(ml_dtypes.bfloat16): "bfloat16",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.int8): "int8",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.uint64): "uint64",
    np.dtype(np.bool_): "bool",
    np.dtype(np.complex64): "complex64",
    np.dtype(np.complex128): "complex128",
}

FLOAT_DTYPES = tuple(np.dtype(t) for t in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64))


def tf_dtype_name(dtype: np.dtype) -> str:
    """TF's name for a dtype: ``float`` for float32, ``half`` for float16, ``string`` for text."""
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "string"
    return _TF_NAMES[dtype]


# --------------------------------------------------------------------------------------------
# convert_to_tensor
# --------------------------------------------------------------------------------------------


def _unsupported(value) -> ValueError:
    return ValueError(
        f"Attempt to convert a value ({value!r}) with an unsupported type ({type(value)!r}) to a Tensor."
    )


def _python_leaf_kind(leaf) -> str:
    if isinstance(leaf, (bool, np.bool_)):
        return "bool"
    if isinstance(leaf, numbers.Integral):
        return "int"
    if isinstance(leaf, numbers.Real):
        return "float"
    if isinstance(leaf, numbers.Complex):
        return "complex"
    if isinstance(leaf, (str, bytes)):
        return "string"
    raise _unsupported(leaf)


def _nested_shape_and_leaves(value, leaves: list) -> tuple:
    """Shape of a nested list/tuple; raises TF's error for ragged nesting."""
    if isinstance(value, (list, tuple)):
        shapes = [_nested_shape_and_leaves(item, leaves) for item in value]
        if any(s != shapes[0] for s in shapes[1:]):
            raise ValueError("Can't convert non-rectangular Python sequence to Tensor.")
        return (len(value),) + (shapes[0] if shapes else ())
    leaves.append(value)
    return ()


def _python_to_array(value) -> np.ndarray:
    """TF's dtype inference for Python scalars and (nested) lists."""
    leaves: list = []
    shape = _nested_shape_and_leaves(value, leaves)
    kinds = {_python_leaf_kind(leaf) for leaf in leaves}
    if not kinds:
        return np.zeros(shape, np.float32)
    if "string" in kinds:
        if kinds != {"string"}:
            raise TypeError(f"Failed to convert elements of {value} to Tensor. Consider casting elements to a supported type.")
        return np.array(value, dtype=object).reshape(shape)
    if "complex" in kinds:
        dtype = np.complex128
    elif "float" in kinds:
        dtype = np.float32
    elif "int" in kinds:
        small = all(_INT32.min <= int(leaf) <= _INT32.max for leaf in leaves)
        dtype = np.int32 if small else np.int64
        if kinds == {"int", "bool"}:
            dtype = np.int32
    else:
        dtype = np.bool_
    return np.array(value, dtype=dtype).reshape(shape)


def convert_to_tensor(value) -> np.ndarray:
    """Convert a value to an array following ``tf.convert_to_tensor``'s dtype rules.

    The caller's array is never copied needlessly and never written to: kernels only read it.
    """
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, np.generic):
        array = np.asarray(value)
    elif isinstance(value, (bool, numbers.Number, str, bytes, list, tuple)):
        array = _python_to_array(value)
    elif callable(getattr(value, "numpy", None)):  # a tf.Tensor, or anything shaped like one
        array = np.asarray(value.numpy())
    elif hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        raise _unsupported(value)
    if array.dtype.kind not in "USO" and array.dtype not in _TF_NAMES:
        raise _unsupported(value)
    return array


def to_python_scalar_tensor(value, dtype: np.dtype) -> np.ndarray:
    """Convert a Python scalar to a tensor of ``dtype``, as TF does for ``scalar * tensor``."""
    dtype = np.dtype(dtype)
    kind = _python_leaf_kind(value)
    fits = {
        "bool": dtype == np.bool_,
        "int": dtype.kind in "iuf" or dtype in FLOAT_DTYPES or dtype.kind == "c",
        "float": dtype in FLOAT_DTYPES or dtype.kind == "c",
        "complex": dtype.kind == "c",
        "string": dtype.kind in "USO",
    }[kind]
    if not fits:
        raise TypeError(f"Cannot convert {value!r} to EagerTensor of dtype {tf_dtype_name(dtype)}")
    return np.asarray(value, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Errors raised by TF ops
# --------------------------------------------------------------------------------------------


def op_error(error_class, op: str, message: str, named: bool = True) -> errors.OpError:
    """An error as eager TF raises it from op ``op`` (most, not all, end in ``name: ``)."""
    return error_class(None, None, f"{message} [Op:{op}]" + (" name: " if named else ""))


def check_op_dtype(op: str, dtype: np.dtype, attr: str = "T") -> None:
    """Raise TF's "Value for attr 'T' of X is not in the list of allowed values" for ``op``."""
    attr, allowed, summary = OP_DEFS[op if attr == "T" else f"{op}:{attr}"]
    name = tf_dtype_name(dtype)
    if name not in allowed:
        raise op_error(
            errors.InvalidArgumentError,
            op,
            f"Value for attr '{attr}' of {name} is not in the list of allowed values: "
            f"{', '.join(allowed)}\n\t; NodeDef: {{{{node {op}}}}}; {summary}",
        )


def check_same_dtype(op: str, x: np.dtype, y: np.dtype) -> None:
    """Raise TF's error for a binary op whose second input has another dtype than the first."""
    if np.dtype(x) != np.dtype(y) and not (np.dtype(x).kind in "USO" and np.dtype(y).kind in "USO"):
        raise op_error(
            errors.InvalidArgumentError,
            op,
            f"cannot compute {op} as input #1(zero-based) was expected to be a "
            f"{tf_dtype_name(x)} tensor but is a {tf_dtype_name(y)} tensor",
        )


def check_ops(sequence: Sequence[tuple], dtypes: dict) -> None:
    """Replay the dtype checks of a sequence of TF ops, tracking the dtype of each result.

    Each step is ``(op, input, ...)``, optionally ending in ``"->name"`` to name its result for
    later steps.  An input is a name in ``dtypes`` or a Python scalar, which TF converts to the
    other input's dtype (and fails to, e.g. ``1`` into a bool tensor).  A binary op first checks
    that its inputs agree, then that the dtype is one the op accepts.  Two of TF's Python-level
    dispatches are followed: ``*`` with a bool operand is ``logical_and`` (its result is bool,
    whatever the other dtype), and ``abs`` of a complex tensor is ``ComplexAbs`` (its result is
    real).
    """
    _check_ops_once(tuple(sequence), tuple(dtypes.items()))


@functools.lru_cache(maxsize=1024)
def _check_ops_once(sequence: tuple, dtype_items: tuple) -> None:
    """:func:`check_ops`, remembered: the checks depend only on the op sequence and the dtypes,
    so a combination that passed once passes again (one that fails is never cached, and raises
    its error every time)."""
    dtypes = dict(dtype_items)
    for op, *operands in sequence:
        output = operands.pop()[2:] if str(operands[-1]).startswith("->") else None
        named = [dtypes[x] for x in operands if isinstance(x, str)]
        for scalar in (x for x in operands if not isinstance(x, str)):
            to_python_scalar_tensor(scalar, named[0])
        result = named[0]
        if op == "Mul" and any(d == np.bool_ for d in named):
            result = np.dtype(np.bool_)
        elif op == "Abs" and result.kind == "c":
            result = np.dtype(np.float32 if result == np.complex64 else np.float64)
        else:
            for other in named[1:]:
                check_same_dtype(op, named[0], other)
            check_op_dtype(op, named[0])
        if output:
            dtypes[output] = result


def broadcast_shape(op: str, x_shape: tuple, y_shape: tuple) -> tuple:
    """The broadcast shape of a binary op's inputs, or TF's "Incompatible shapes" error."""
    try:
        return np.broadcast_shapes(x_shape, y_shape)
    except ValueError:
        raise op_error(
            errors.InvalidArgumentError,
            op,
            f"Incompatible shapes: {kernel_shape(x_shape)} vs. {kernel_shape(y_shape)}",
        ) from None


def check_cast(source: np.dtype, target: np.dtype) -> None:
    """TF has no Cast between text and numbers."""
    if (np.dtype(source).kind in "USO") != (np.dtype(target).kind in "USO"):
        raise op_error(
            errors.UnimplementedError,
            "Cast",
            f"Cast {tf_dtype_name(source)} to {tf_dtype_name(target)} is not supported",
        )


def cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """TF's Cast: complex to real keeps the real part; numbers to text is an error."""
    check_cast(array.dtype, dtype)
    if array.dtype == dtype:
        return array
    if array.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        array = array.real
    with np.errstate(all="ignore"):
        return _engine.cast(array, dtype)


# --------------------------------------------------------------------------------------------
# Shapes and arguments
# --------------------------------------------------------------------------------------------


def static_shape(shape: tuple) -> str:
    """A shape as ``TensorShape`` prints it in Python errors: ``(2, 3)``, ``(3,)``, ``()``."""
    return str(tuple(shape))


def kernel_shape(shape: tuple) -> str:
    """A shape as TF's C++ kernels print it: ``[2,3]``."""
    return "[" + ",".join(str(d) for d in shape) + "]"


def check_same_shape(labels: np.ndarray, logits: np.ndarray) -> None:
    """The sigmoid losses' static check: labels and logits must have identical shapes."""
    if labels.shape != logits.shape:
        raise ValueError(
            "`logits` and `labels` must have the same shape, "
            f"received ({static_shape(logits.shape)} vs {static_shape(labels.shape)})."
        )


def ensure_xent_args(name: str, labels, logits) -> None:
    """TF's ``_ensure_xent_args``: both must be given (TF's message has no space before Received)."""
    if labels is None or logits is None:
        raise ValueError(
            f"Both `labels` and `logits` must be provided for {name}"
            f"Received: labels={labels} and logits={logits}"
        )


def ensure_named_arguments(name: str, sentinel) -> None:
    """TF 1.x-2.11's ``_sentinel`` guard against positional calls (removed from TF in 2.12)."""
    if sentinel is not None:
        raise ValueError(
            f"Only call {name} with named arguments (labels=..., logits=..., ...). "
            f"Received unnamed argument: {sentinel}"
        )


def deprecated_argument_lookup(new_name: str, new_value, old_name: str, old_value):
    """TF's resolution of a renamed argument: the old name wins, giving both is an error."""
    if old_value is not None:
        if new_value is not None:
            raise ValueError(f"Cannot specify both '{old_name}' and '{new_name}'.")
        return old_value
    return new_value


# --------------------------------------------------------------------------------------------
# Axes: the reductions' ``reduction_indices`` and the softmax wrapper's ``dim``
# --------------------------------------------------------------------------------------------


def reduction_indices(axis, op: str) -> np.ndarray:
    """``axis`` as the int32/int64 tensor TF's Sum/Mean op receives (``None`` is every axis).

    TF converts it with an int32 hint: a Python int wraps to 32 bits, a Python float cannot be
    converted (TypeError), a list holding a float becomes a float tensor that the op's ``Tidx``
    rejects (checked after the input's ``T``).  NumPy values are cast to int32, truncating.
    Bools are 0 and 1.  (A Python float on the first call of the op in a TF process fails with
    the ``Tidx`` error instead: TF's eager fast path has not yet cached the attribute.)
    """
    if isinstance(axis, bool):
        return np.asarray(int(axis), np.int32)
    if isinstance(axis, numbers.Integral) and not isinstance(axis, np.generic):
        return np.asarray(axis & 0xFFFFFFFF, np.uint32).view(np.int32)
    if isinstance(axis, float):
        raise TypeError(f"Cannot convert {axis!r} to EagerTensor of dtype int32")
    if isinstance(axis, (list, tuple)):
        indices = convert_to_tensor(axis)
        if indices.dtype == np.bool_ or indices.size == 0:
            indices = indices.astype(np.int32)
    elif isinstance(axis, (np.ndarray, np.generic)):
        indices = np.asarray(axis)
        if indices.dtype.kind in "fub" or indices.dtype.kind == "i" and indices.dtype.itemsize < 4:
            indices = indices.astype(np.int32)
    else:
        indices = convert_to_tensor(axis)
    if indices.dtype not in (np.int32, np.int64):
        check_op_dtype(op, indices.dtype, attr="Tidx")
    return indices


def check_reduction_indices(indices: np.ndarray, rank: int, op: str) -> tuple:
    """The reduction kernel's checks (``ReductionHelper::Simplify``); returns the axes, in [0, rank)."""
    axes = []
    for index in indices.reshape(-1).tolist():
        if not -rank <= index < rank:
            raise op_error(errors.InvalidArgumentError, op,
                           f"Invalid reduction dimension ({index} for input with {rank} dimension(s)")
        index = (index + rank) % rank
        if index in axes:
            raise op_error(errors.InvalidArgumentError, op,
                           f"Invalid reduction arguments: Axes contains duplicate dimension: {index}")
        axes.append(index)
    return tuple(axes)


def softmax_axis(dim, rank: int) -> int:
    """``tf.nn.softmax``'s axis handling (``_wrap_2d_function`` in nn_ops.py), step by step.

    Returns -1 for the last axis (which goes straight to the kernel), else the axis made
    non-negative.  Any other axis is checked against the rank, made non-negative by adding the
    rank as an int32 tensor, and swapped with the last axis by a Transpose whose permutation is
    built from ``range`` ops, so a float axis fails in Range or Transpose: TF's own error for
    ``axis=1.5``.
    """
    if dim == -1 or dim == rank - 1:
        return -1
    if not -rank <= dim < rank:
        raise errors.InvalidArgumentError(
            None, None,
            f"`dim` must be in the range [{-rank}, {rank}) where {rank} is the number of dimensions "
            f"in the input. Received: dim={dim}")
    if isinstance(dim, numbers.Integral):
        return int(dim) % rank
    if dim < 0:
        raise TypeError(f"Cannot convert {dim} to EagerTensor of dtype int32")
    if dim + 1 > rank - 1:  # range(dim + 1, rank - 1)
        raise op_error(errors.InvalidArgumentError, "Range",
                       f"Requires start <= limit when delta > 0: {dim + 1:g}/{rank - 1}")
    # The permutation is a float tensor, which Transpose never accepts: this always raises.
    check_op_dtype("Transpose", np.dtype(np.float64 if isinstance(dim, np.float64) else np.float32))
    raise AssertionError("unreachable")


def check_softmax_rank(logits: np.ndarray, op: str) -> None:
    """The Softmax/LogSoftmax kernels' rank check: oneDNN's (1 to 5 dimensions, TF's Softmax
    where oneDNN runs it) or Eigen's (at least 1)."""
    from .._machine.math_ops import _onednn_runs

    if op == "Softmax" and _onednn_runs(logits.dtype):
        if not 1 <= logits.ndim <= 5:
            raise op_error(errors.AbortedError, op, "Input dims must be <= 5 and >=1")
    elif logits.ndim == 0:
        raise op_error(errors.InvalidArgumentError, op, "logits must have >= 1 dimension, got []")


def tf_dtype_python_name(dtype: np.dtype) -> str:
    """A dtype as TF's Python layer names it (``tf.float32.name``): NumPy's name, ``string`` for text."""
    dtype = np.dtype(dtype)
    return "string" if dtype.kind in "USO" else dtype.name


def check_compatible_shapes(first: tuple, second: tuple) -> None:
    """``TensorShape.assert_is_compatible_with``: same rank and equal dimensions."""
    if tuple(first) != tuple(second):
        raise ValueError(f"Shapes {static_shape(first)} and {static_shape(second)} are incompatible")


def check_weights_broadcastable(weights: np.ndarray, values: np.ndarray) -> None:
    """``weights_broadcast_ops.assert_broadcastable``: a scalar, or the same rank as ``values``
    with every dimension 1 or equal to the values' one.  The message shows both tensors."""
    prefix = "weights can not be broadcast to values."
    if weights.ndim == 0:
        return
    received = f"Received weights={weights}, values={values}"  # an f-string shows a tensor's values only
    if weights.ndim != values.ndim:
        raise ValueError(
            f"{prefix} values.rank={values.ndim}. weights.rank={weights.ndim}. "
            f"values.shape={static_shape(values.shape)}. weights.shape={static_shape(weights.shape)}. {received}")
    for i, (w, v) in enumerate(zip(weights.shape, values.shape)):
        if w not in (1, v):
            shapes = (np.array(values.shape, np.int32), np.array(weights.shape, np.int32))
            raise ValueError(
                f"{prefix} Mismatch at dim {i}. values.shape={shapes[0]}, weights.shape={shapes[1]}. {received}")
