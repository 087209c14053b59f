"""Implementations under test: how the checker calls tfloss, TensorFlow, a module or a framework.

An implementation is anything that provides TF's functions by name with TF's keyword arguments
(``nn.sigmoid_cross_entropy_with_logits(labels=..., logits=...)``, ``compat.v1.nn....``), and,
for the gradient runs, tfloss's ``value_and_gradient`` / ``hessian_vector_product``.  ``--impl``
takes

* a built-in name: ``tfloss`` (the default), ``tensorflow`` (live TF), ``torch``, ``jax``
  (optax), ``keras`` (``keras.ops`` on its configured backend) or ``onnxruntime``;
* ``MODULE``: an importable module laid out like ``tfloss`` (``MODULE.nn.sigmoid_...``);
* ``MODULE:OBJECT``: an attribute of a module laid out like that (a class, a namespace).

Every framework is imported only when it is asked for.  A function an implementation does not
have, or a case it cannot express (a dtype, an argument), is *not supported*, never a failure.
Errors are compared by class: an implementation's ``errors.InvalidArgumentError`` (any subclass
of its ``errors.OpError``) stands for TF's.
"""

from __future__ import annotations

import importlib
import importlib.util
import types

import numpy as np

from .compare import Outcome, call_outcome


class NotSupported(Exception):
    """Raised by an adapter for a call it cannot express; the run is reported as not supported."""


class UsageError(Exception):
    """A user's mistake on the command line (unknown implementation, missing function ...)."""


class Implementation:
    """The implementation under test, as the checker drives it.

    Parameters
    ----------
    name : str
        Shown in reports.
    namespace : object
        Mirrors tfloss's public API by attribute (``namespace.nn.sigmoid_...``).
    version : str
    errors : module, optional
        Where its ``OpError`` classes live (``namespace.errors`` by default).
    """

    #: True where tfloss's declared differences apply (only tfloss itself).
    declares_tfloss_differences = False
    #: True where the implementation runs the softmax kernels TF runs on this CPU (tfloss and
    #: live TF): a kernel-dependent run is judged against the recording made with this CPU's
    #: kernels, and is not supported where there is none (:func:`declared.kernel_gap`).
    follows_this_cpus_kernels = False

    def __init__(self, name, namespace, version="", errors=None):
        self.name = name
        self.namespace = namespace
        self.version = version or str(getattr(namespace, "__version__", ""))
        self.errors = errors if errors is not None else getattr(namespace, "errors", None)

    def supports(self, function, case) -> str:
        """Why this implementation cannot run ``function`` on ``case``, or ``""``."""
        try:
            function.bind(self.namespace)
        except AttributeError:
            what = function.op_name if function.mode else function.name
            if function.mode and _has(self.namespace, what):
                what = "value_and_gradient" if function.mode != "hvp" else "hessian_vector_product"
            return f"{self.name} has no {what}"
        return ""

    def to_tensor(self, value):
        """The implementation's own tensor for the ``tensor`` layout (a NumPy copy by default)."""
        return np.array(value, copy=True)

    def call(self, function, upstream=None):
        """``function`` as this implementation provides it."""
        return function.bind(self.namespace, upstream)

    def run(self, function, args, kwargs, upstream=None) -> Outcome:
        """Call ``function`` and record the outcome (NotSupported propagates)."""
        fn = self.call(function, upstream)
        unsupported = []

        def guarded(*a, **k):
            try:
                return fn(*a, **k)
            except NotSupported as exc:
                unsupported.append(exc)
                raise

        op_error = getattr(self.errors, "OpError", None)
        outcome = call_outcome(guarded, args, kwargs, op_error_base=op_error, namespace=self.errors,
                               convert=self.to_numpy)
        if unsupported:
            raise unsupported[0]
        return outcome

    def to_numpy(self, value):
        """An output as the checker compares it (NumPy arrays unchanged)."""
        return value


def _has(namespace, dotted):
    obj = namespace
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


class Tfloss(Implementation):
    """tfloss itself (the default): its declared differences from TF count as expected."""

    declares_tfloss_differences = True
    follows_this_cpus_kernels = True

    def __init__(self):
        import tfloss

        super().__init__("tfloss", tfloss, tfloss.__version__, tfloss.errors)


class TensorFlow(Implementation):
    """Live TensorFlow: ``tf.nn``, TF compositions of the textbook formulas, and tapes."""

    follows_this_cpus_kernels = True

    def __init__(self):
        try:
            from . import tensorflow as tfref

            tf = tfref.tf()
        except ImportError as exc:
            raise UsageError(f"TensorFlow is not installed here, and tensorflow (--impl or --against) needs it ({exc})") from None
        self._tfref = tfref
        super().__init__("tensorflow", tf, tf.__version__, tf.errors)

    def supports(self, function, case) -> str:
        return ""

    def call(self, function, upstream=None):
        return self._tfref.bind(function, upstream)

    def run(self, function, args, kwargs, upstream=None) -> Outcome:
        return self._tfref.run_tf(self.call(function, upstream), args, kwargs)

    def to_tensor(self, value):
        return self._tfref.to_tensor(value)

    def to_numpy(self, value):
        return self._tfref.to_numpy(value)


def run_tfloss(fn, args=(), kwargs=None) -> Outcome:
    """Call a tfloss function and record the outcome (tfloss's errors classify as TF's)."""
    import tfloss.errors

    return call_outcome(fn, args, kwargs, op_error_base=tfloss.errors.OpError, namespace=tfloss.errors)


def import_for(module_name, impl_name):
    """Import what an implementation needs; a UsageError naming it where that fails."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--impl {impl_name}: cannot import {module_name}; is it installed here? ({exc})") from None


def _peer(name):
    from . import peers

    return getattr(peers, name)()


#: Built-in implementations by name.
BUILTIN = {
    "tfloss": Tfloss,
    "tensorflow": TensorFlow,
    "torch": lambda: _peer("torch"),
    "jax": lambda: _peer("jax"),
    "keras": lambda: _peer("keras"),
    "onnxruntime": lambda: _peer("onnxruntime"),
}


def load(spec: str) -> Implementation:
    """The implementation named by ``--impl``: a built-in name, ``MODULE`` or ``MODULE:OBJECT``.

    Raises
    ------
    UsageError
        Unknown name, a module that does not import, a missing object, or one that provides
        none of TF's functions.
    """
    if spec in BUILTIN:
        return BUILTIN[spec]()
    module_name, _, object_name = spec.partition(":")
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise UsageError(f"--impl {spec!r}: not a built-in ({', '.join(BUILTIN)}), MODULE or MODULE:OBJECT")
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        raise UsageError(f"--impl {spec}: no module named {module_name.split('.')[0]!r} "
                         f"(built-ins: {', '.join(BUILTIN)})")
    module = import_for(module_name, spec)
    namespace = module
    if object_name:
        try:
            for part in object_name.split("."):
                namespace = getattr(namespace, part)
        except AttributeError:
            raise UsageError(f"--impl {spec}: module {module_name} has no {object_name!r}") from None
    from .functions import NN_FUNCTIONS

    if not any(_has(namespace, f.name) for f in NN_FUNCTIONS):
        names = ", ".join(f.name for f in NN_FUNCTIONS[:2])
        raise UsageError(f"--impl {spec}: provides none of TF's functions (looked for {names}, ...)")
    if isinstance(namespace, type):
        namespace = namespace()
    name = spec
    version = str(getattr(namespace, "__version__", getattr(module, "__version__", "")))
    return Implementation(name, namespace, version)


def namespace(**functions) -> types.SimpleNamespace:
    """Build a tfloss-shaped namespace from dotted names: ``namespace(**{"nn.x": fn})``."""
    root = types.SimpleNamespace()
    for dotted, fn in functions.items():
        obj = root
        *parents, last = dotted.split(".")
        for part in parents:
            if not hasattr(obj, part):
                setattr(obj, part, types.SimpleNamespace())
            obj = getattr(obj, part)
        setattr(obj, last, fn)
    return root
