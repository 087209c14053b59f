"""tests/ never uses TensorFlow, and tfloss never imports it.

Three checks, each able to fail:
1. no source file in tests/ imports tensorflow (or keras) - by reading the code (AST), not by
   grepping, so the word may appear in strings and comments like this one;
2. a fresh interpreter that imports tfloss (all public modules) and runs every op has no
   TensorFlow module loaded - and that interpreter blocks the import, so a lazy
   `import tensorflow` inside an op fails loudly instead of silently working;
3. the scanner itself finds the imports it is meant to find.

The fresh interpreter matters: `make test` runs tests/ and parity/ in one pytest session, and
parity/ imports TensorFlow on purpose, so this process's sys.modules proves nothing.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "tensorboard")


def _forbidden(module_name):
    return module_name is not None and module_name.split(".")[0] in FORBIDDEN


def forbidden_imports(source, filename="<source>"):
    """(line, module) for every import of a forbidden module in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if _forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _forbidden(node.module):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            # importlib.import_module("tensorflow"), __import__("tensorflow")
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                        and _forbidden(first.value):
                    found.append((node.lineno, first.value))
    return found


def test_scanner_finds_every_kind_of_import():
    source = textwrap.dedent("""
        import numpy
        import tensorflow as tf
        from tensorflow.python.ops import nn_ops
        import keras.losses
        import importlib
        importlib.import_module("tensorflow")
        __import__("tf_keras")
        def f():
            import tensorflow.compat.v1
        text = "import tensorflow"  # a string, not an import
    """)
    modules = sorted(module for _, module in forbidden_imports(source))
    assert modules == sorted(["tensorflow", "tensorflow.python.ops", "keras.losses",
                              "tensorflow", "tf_keras", "tensorflow.compat.v1"])


def test_no_test_source_imports_tensorflow():
    sources = sorted(TESTS_DIR.rglob("*.py"))
    assert Path(__file__).resolve() in sources  # the scan covers this directory
    offenders = []
    for path in sources:
        for line, module in forbidden_imports(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(TESTS_DIR)}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


FRESH_INTERPRETER = textwrap.dedent("""
    import importlib.abc, sys

    FORBIDDEN = {forbidden!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError("blocked by tests/test_no_tensorflow.py: " + name)
            return None

    sys.meta_path.insert(0, Blocker())

    import numpy as np
    import tfloss
    import tfloss.nn, tfloss.errors, tfloss.textbook
    import tfloss.compat.v1.nn
    # the conformance package: its TF side and its framework adapters import nothing at import time
    import tfloss.conformance.cli, tfloss.conformance.check, tfloss.conformance.golden
    import tfloss.conformance.impls, tfloss.conformance.peers, tfloss.conformance.tensorflow

    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    z = np.array([[0.0, 1.0, 0.0]], np.float32)
    tfloss.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    tfloss.nn.weighted_cross_entropy_with_logits(z, x, 2.0)
    tfloss.nn.softmax_cross_entropy_with_logits(z, x)
    tfloss.nn.sparse_softmax_cross_entropy_with_logits(np.array([1]), x)
    v1 = tfloss.compat.v1.nn
    v1.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    v1.weighted_cross_entropy_with_logits(targets=z, logits=x, pos_weight=2.0)
    v1.softmax_cross_entropy_with_logits(labels=z, logits=x)
    v1.softmax_cross_entropy_with_logits_v2(z, x)
    v1.sparse_softmax_cross_entropy_with_logits(labels=np.array([1]), logits=x)
    try:
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(np.array([5]), x)
    except tfloss.errors.InvalidArgumentError:
        pass

    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    print("LOADED:" + ",".join(loaded))
""")


def test_tfloss_never_imports_tensorflow():
    script = FRESH_INTERPRETER.format(forbidden=set(FORBIDDEN))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=TESTS_DIR.parent)
    assert run.returncode == 0, run.stderr
    assert "LOADED:\n" in run.stdout or run.stdout.strip() == "LOADED:", run.stdout


def test_this_process_did_not_load_tensorflow_through_tfloss():
    # Only meaningful when tests/ runs alone (parity/ imports TF on purpose); then no
    # TensorFlow module may be loaded at all.
    import tfloss  # noqa: F401
    loaded = [m for m in sys.modules if m.split(".")[0] in FORBIDDEN]
    if loaded and any(name.split(".")[0] == "parity" for name in sys.modules):
        pytest.skip("parity/ is collected in this session and imports TensorFlow by design")
    assert not loaded, loaded
