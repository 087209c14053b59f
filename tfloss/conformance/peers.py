"""Adapters for other frameworks: TF's call mapped onto theirs, and what they cannot express.

Each adapter builds a namespace shaped like ``tfloss`` (``nn.sigmoid_cross_entropy_with_logits``
...) from the framework's own functions, importing the framework only when it is asked for.
What a framework has no way to say (a ``pos_weight`` in Optax, the TF1 ``compat.v1`` names) is
left out, and the checker reports those runs as *not supported*.  Inputs go in as the framework's
tensors of the same dtype (bfloat16 through float32, exactly); outputs come back as NumPy arrays.

=============== ==================================================================================
``torch``       ``F.binary_cross_entropy_with_logits(logits, labels, pos_weight=..., reduction="none")``;
                ``F.cross_entropy`` with the class axis moved to 1, probability or index targets
``jax``         ``optax.sigmoid_binary_cross_entropy``, ``optax.softmax_cross_entropy(axis=)``,
                ``optax.softmax_cross_entropy_with_integer_labels`` (64-bit enabled)
``keras``       ``keras.ops.binary_crossentropy``, ``categorical_crossentropy``,
                ``sparse_categorical_crossentropy`` with ``from_logits=True``, on the configured backend
``onnxruntime`` ``SoftmaxCrossEntropyLoss`` (sparse); ``LogSoftmax``/``Mul``/``ReduceSum``/``Neg``
                (softmax) and ``Relu``/``Mul``/``Sub``/``Softplus`` (sigmoid) graphs, opset 13
=============== ==================================================================================
"""

from __future__ import annotations

import importlib

import ml_dtypes
import numpy as np

from .impls import Implementation, NotSupported, UsageError, namespace
from .impls import import_for as _need

_BF16 = np.dtype(ml_dtypes.bfloat16)


def _as_array(value):
    """A case input as a NumPy array: TF turns Python floats and lists of floats into float32."""
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype == np.float64 else array


#: Error cases about TF's Python signature itself (an unknown keyword, ``_sentinel``, positional
#: arguments): an adapter stands in for that signature, so what they would measure is the
#: adapter, not the framework.
SIGNATURE_REGIMES = ("keyword", "sentinel", "positional_call")


class _Peer(Implementation):
    def __init__(self, name, ns, version, errors=None):
        super().__init__(name, ns, version, errors=errors)

    def supports(self, function, case) -> str:
        missing = super().supports(function, case)
        if not missing and case is not None and case.group == "errors" and case.regime in SIGNATURE_REGIMES:
            return f"{self.name}: errors.{case.regime} checks TF's Python signature, which the adapter stands in for"
        return missing


# --- PyTorch ---------------------------------------------------------------------------------------


def torch() -> Implementation:
    torch_module = _need("torch", "torch")
    F = torch_module.nn.functional

    def tensor(value):
        array = _as_array(value)
        if array.dtype == _BF16:
            return torch_module.from_numpy(array.astype(np.float32)).to(torch_module.bfloat16)
        if array.dtype.kind not in "fiub":
            raise NotSupported(f"torch: no tensor for {array.dtype}")
        return torch_module.from_numpy(np.array(array, order="C"))  # a writable copy, 0-d kept 0-d

    def numpy(t):
        if t.dtype == torch_module.bfloat16:
            return t.to(torch_module.float32).numpy().astype(_BF16)
        return t.numpy()

    def sigmoid(labels=None, logits=None, name=None):
        return numpy(F.binary_cross_entropy_with_logits(tensor(logits), tensor(labels), reduction="none"))

    def weighted(labels, logits, pos_weight, name=None):
        x = tensor(logits)
        # TF takes a Python or NumPy scalar pos_weight in the logits' dtype (no float32 detour)
        q = tensor(pos_weight if isinstance(pos_weight, np.ndarray)
                   else np.asarray(pos_weight, dtype=_as_array(logits).dtype)).to(x.dtype)
        return numpy(F.binary_cross_entropy_with_logits(x, tensor(labels), pos_weight=q, reduction="none"))

    def softmax(labels, logits, axis=-1, name=None):
        x, z = tensor(logits), tensor(labels)
        if x.ndim >= 2:
            x, z = x.movedim(axis, 1), z.movedim(axis, 1)
        elif axis not in (-1, 0):
            raise NotSupported("torch: axis out of range for rank 1")
        return numpy(F.cross_entropy(x, z.to(x.dtype), reduction="none"))

    def sparse(labels=None, logits=None, name=None):
        x = tensor(logits)
        if x.ndim >= 2:
            x = x.movedim(-1, 1)
        return numpy(F.cross_entropy(x, tensor(labels).long(), reduction="none"))

    ns = namespace(**{"nn.sigmoid_cross_entropy_with_logits": sigmoid,
                      "nn.weighted_cross_entropy_with_logits": weighted,
                      "nn.softmax_cross_entropy_with_logits": softmax,
                      "nn.sparse_softmax_cross_entropy_with_logits": sparse})
    return _Peer("torch", ns, torch_module.__version__)


# --- JAX / Optax -----------------------------------------------------------------------------------


def jax() -> Implementation:
    jax_module = _need("jax", "jax")
    optax = _need("optax", "jax")
    jax_module.config.update("jax_enable_x64", True)  # else float64 silently becomes float32
    jnp = jax_module.numpy

    def array(value):
        a = _as_array(value)
        if a.dtype.kind not in "fiub" and a.dtype != _BF16:
            raise NotSupported(f"jax: no array for {a.dtype}")
        return jnp.asarray(a)

    def sigmoid(labels=None, logits=None, name=None):
        return np.asarray(optax.sigmoid_binary_cross_entropy(array(logits), array(labels)))

    def softmax(labels, logits, axis=-1, name=None):
        return np.asarray(optax.softmax_cross_entropy(array(logits), array(labels), axis=axis))

    def sparse(labels=None, logits=None, name=None):
        return np.asarray(optax.softmax_cross_entropy_with_integer_labels(array(logits), array(labels)))

    ns = namespace(**{"nn.sigmoid_cross_entropy_with_logits": sigmoid,
                      "nn.softmax_cross_entropy_with_logits": softmax,
                      "nn.sparse_softmax_cross_entropy_with_logits": sparse})
    return _Peer("jax", ns, f"jax {jax_module.__version__}, optax {optax.__version__}")


# --- Keras 3 ---------------------------------------------------------------------------------------


def keras() -> Implementation:
    keras_module = _need("keras", "keras")
    ops = keras_module.ops

    def out(t):
        # through rank 1: TF's EagerTensor.__array__ yields a scalar, not an array, for a 0-d
        # bfloat16 tensor, and convert_to_numpy then fails (reshaping changes no bits)
        shape = tuple(ops.shape(t))
        return np.asarray(ops.convert_to_numpy(ops.reshape(t, (-1,)))).reshape(shape)

    def sigmoid(labels=None, logits=None, name=None):
        return out(ops.binary_crossentropy(_as_array(labels), _as_array(logits), from_logits=True))

    def softmax(labels, logits, axis=-1, name=None):
        return out(ops.categorical_crossentropy(_as_array(labels), _as_array(logits), from_logits=True, axis=axis))

    def sparse(labels=None, logits=None, name=None):
        return out(ops.sparse_categorical_crossentropy(_as_array(labels), _as_array(logits), from_logits=True))

    ns = namespace(**{"nn.sigmoid_cross_entropy_with_logits": sigmoid,
                      "nn.softmax_cross_entropy_with_logits": softmax,
                      "nn.sparse_softmax_cross_entropy_with_logits": sparse})
    backend = keras_module.backend.backend()
    # On its TensorFlow backend Keras raises TF's own op errors; compare them as TF's.
    errors = importlib.import_module("tensorflow").errors if backend == "tensorflow" else None
    return _Peer(f"keras-{backend}", ns, keras_module.__version__, errors)


# --- ONNX Runtime ---------------------------------------------------------------------------------


def onnxruntime() -> Implementation:
    """``SoftmaxCrossEntropyLoss`` for the sparse op; composed graphs (``LogSoftmax``, ``Mul``,
    ``ReduceSum``, ``Neg``; ``Relu``, ``Softplus``) for the softmax and sigmoid ones.  ONNX has
    no weighted loss; float16/bfloat16 graphs run only where the runtime has those kernels."""
    ort = _need("onnxruntime", "onnxruntime")
    onnx = _need("onnx", "onnxruntime")
    helper, TensorProto = onnx.helper, onnx.TensorProto
    elem = {np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.int32): TensorProto.INT32,
            np.dtype(np.int64): TensorProto.INT64}
    sessions = {}

    def session(key, nodes, inputs, output_type):
        if key not in sessions:
            graph = helper.make_graph(
                nodes, "tfloss_check",
                [helper.make_tensor_value_info(name, elem[dtype], None) for name, dtype in inputs],
                [helper.make_tensor_value_info("loss", output_type, None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            try:
                sessions[key] = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - no kernel for this dtype, say
                sessions[key] = NotSupported(f"onnxruntime: {str(exc).splitlines()[0][:160]}")
        if isinstance(sessions[key], NotSupported):
            raise sessions[key]
        return sessions[key]

    def floats(value):
        a = _as_array(value)
        if a.dtype not in elem or a.dtype.kind != "f":
            raise NotSupported(f"onnxruntime: no {a.dtype} tensors in these graphs")
        return np.array(a, order="C")

    def sigmoid(labels=None, logits=None, name=None):
        x, z = floats(logits), floats(labels)
        if z.dtype != x.dtype or z.shape != x.shape:
            raise NotSupported("onnxruntime: the composed graph takes labels of the logits' dtype and shape")
        nodes = [helper.make_node("Relu", ["x"], ["relu"]), helper.make_node("Mul", ["x", "z"], ["xz"]),
                 helper.make_node("Sub", ["relu", "xz"], ["lin"]), helper.make_node("Abs", ["x"], ["ax"]),
                 helper.make_node("Neg", ["ax"], ["nax"]), helper.make_node("Softplus", ["nax"], ["sp"]),
                 helper.make_node("Add", ["lin", "sp"], ["loss"])]
        s = session(("sigmoid", x.dtype), nodes, [("x", x.dtype), ("z", x.dtype)], elem[x.dtype])
        return s.run(None, {"x": x, "z": z})[0]

    def softmax(labels, logits, axis=-1, name=None):
        x, z = floats(logits), floats(labels)
        if z.dtype != x.dtype:
            raise NotSupported("onnxruntime: the composed graph takes labels of the logits' dtype")
        axis = -1 if axis is None else axis
        if x.ndim == 0 or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
            raise NotSupported("onnxruntime: axis out of range")
        axes = np.array([int(axis)], np.int64)
        nodes = [helper.make_node("LogSoftmax", ["x"], ["logp"], axis=int(axis)),
                 helper.make_node("Mul", ["z", "logp"], ["terms"]),
                 helper.make_node("ReduceSum", ["terms", "axes"], ["sum"], keepdims=0),
                 helper.make_node("Neg", ["sum"], ["loss"])]
        s = session(("softmax", x.dtype, int(axis)), nodes, [("x", x.dtype), ("z", x.dtype), ("axes", np.dtype(np.int64))],
                    elem[x.dtype])
        return s.run(None, {"x": x, "z": z, "axes": axes})[0]

    def sparse(labels=None, logits=None, name=None):
        x = floats(logits)
        y = np.array(_as_array(labels), order="C")
        if y.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise NotSupported(f"onnxruntime: labels of {y.dtype}")
        if x.ndim < 1 or y.shape != x.shape[:-1]:
            raise NotSupported("onnxruntime: labels must have the logits' shape without the class axis")
        # scores (N, C, d1, ...): move TF's last class axis to 1, and give rank-1 logits a batch of 1
        scores = x.reshape((1,) + x.shape) if x.ndim == 1 else np.moveaxis(x, -1, 1)
        index = y.reshape((1,)) if x.ndim == 1 else y
        nodes = [helper.make_node("SoftmaxCrossEntropyLoss", ["scores", "labels"], ["loss"], reduction="none")]
        s = session(("sparse", x.dtype, y.dtype), nodes, [("scores", x.dtype), ("labels", y.dtype)], elem[x.dtype])
        out = s.run(None, {"scores": np.ascontiguousarray(scores), "labels": index})[0]
        return out.reshape(()) if x.ndim == 1 else out

    ns = namespace(**{"nn.sigmoid_cross_entropy_with_logits": sigmoid,
                      "nn.softmax_cross_entropy_with_logits": softmax,
                      "nn.sparse_softmax_cross_entropy_with_logits": sparse})
    return _Peer("onnxruntime", ns, f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
