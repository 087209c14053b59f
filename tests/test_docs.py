"""Every code example in the docs and in tfloss's docstrings runs, so none can rot.

What runs:

- every fenced block in ``README.md`` and ``docs/**/*.md`` whose info string starts with
  ``python``.  A block holding ``>>>`` prompts is a doctest (its printed output is checked); any
  other block is executed as a script.  All blocks of one file share one namespace, in document
  order, the way a reader would type them.
- ``python requires=torch,optax`` blocks run only where those modules import (the comparison
  page's other libraries); they are skipped, with the reason, elsewhere.  Blocks that require
  TensorFlow or Keras never run here: ``tests/`` does not use TensorFlow (their outputs were
  taken from TF 2.21 by hand and are re-checked by ``parity/``'s cases, not here).
- the doctests in every module of the ``tfloss`` package.

Doctest flags: ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``, nothing else, so outputs are compared
as written.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import tfloss

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
NEVER_RUN_HERE = {"tensorflow", "keras", "tf_keras"}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>```+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=ticks)[ \t]*$",
                   re.MULTILINE | re.DOTALL)


def markdown_files():
    files = [ROOT / "README.md"] + sorted(DOCS.rglob("*.md"))
    return [f for f in files if f.exists() and f.name != "FINDINGS.md"]


def code_blocks(text):
    """(line number, info words, body) of every ```python block, in order."""
    blocks = []
    for match in FENCE.finditer(text):
        words = match.group("info").split()
        if not words or words[0] not in ("python", "pycon", "py"):
            continue
        line = text.count("\n", 0, match.start("body")) + 1
        body = "\n".join(l[len(match.group("indent")):] for l in match.group("body").splitlines())
        blocks.append((line, words[1:], body))
    return blocks


def required_modules(words):
    for word in words:
        if word.startswith("requires="):
            return [m for m in word[len("requires="):].split(",") if m]
    return []


def _missing(modules):
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _fresh_namespace(name):
    return {"__name__": name, "np": np}


def _forbidden_imports(source):
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in NEVER_RUN_HERE]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in NEVER_RUN_HERE:
            found.append(node.module)
    return found


def _python_source(body):
    """The Python a block would execute (prompts stripped for doctest blocks)."""
    if ">>>" not in body:
        return body
    examples = doctest.DocTestParser().get_examples(body)
    return "\n".join(e.source for e in examples)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_examples_run(path):
    text = path.read_text(encoding="utf-8")
    blocks = code_blocks(text)
    globs = _fresh_namespace(path.stem)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    parser = doctest.DocTestParser()
    skipped, failed, ran = [], [], 0
    for line, words, body in blocks:
        modules = required_modules(words)
        if set(m.split(".")[0] for m in modules) & NEVER_RUN_HERE:
            continue
        missing = _missing(modules)
        if missing:
            skipped.append(f"line {line}: needs {', '.join(missing)}")
            continue
        source = _python_source(body)
        forbidden = _forbidden_imports(source)
        assert not forbidden, f"{path.name}:{line}: a block run by tests/ imports {forbidden}; tag it requires=tensorflow"
        name = f"{path.relative_to(ROOT)}:{line}"
        if ">>>" in body:
            test = parser.get_doctest(body, globs, name, str(path), line - 1)
            result = runner.run(test, clear_globs=False)
            globs.update(test.globs)  # DocTest works on a copy; later blocks see this one's names
            if result.failed:
                failed.append(f"{name}: {result.failed} example(s)")
        else:
            exec(compile(body, name, "exec"), globs)
        ran += 1
    assert not failed, "doctest failures (output above): " + "; ".join(failed)
    if skipped and not ran:
        pytest.skip("; ".join(skipped))


def test_markdown_files_have_examples():
    # Each lesson and the quirks / article pages must keep examples; an empty page is a regression.
    pages = [DOCS / "article.md", DOCS / "quirks.md"] + sorted((DOCS / "lessons").glob("*.md"))
    for page in pages:
        assert page.exists(), page
        assert any(">>>" in body for _, _, body in code_blocks(page.read_text(encoding="utf-8"))), page


def tfloss_modules():
    names = ["tfloss"]
    for info in pkgutil.walk_packages(tfloss.__path__, prefix="tfloss."):
        names.append(info.name)
    return sorted(set(names))


@pytest.mark.parametrize("module_name", tfloss_modules())
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    for test in tests:
        result = runner.run(test)
        assert result.failed == 0, f"{test.name}: {result.failed} doctest example(s) failed (output above)"


def test_public_docstrings_have_examples():
    # The house style (docs/../style.md): every public function shows a runnable example.
    from tfloss import nn, textbook
    from tfloss.compat.v1 import nn as v1_nn

    lacking = []
    for module in (nn, v1_nn, textbook):
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            obj = getattr(module, name)
            if callable(obj) and getattr(obj, "__module__", "").startswith("tfloss"):
                if ">>>" not in (obj.__doc__ or ""):
                    lacking.append(f"{module.__name__}.{name}")
    assert not lacking, lacking


def test_fence_parser_reads_tags_and_indentation():
    text = "x\n```python requires=torch\n>>> 1 + 1\n2\n```\n  ```python\n  a = 1\n  ```\n```text\nno\n```\n"
    blocks = code_blocks(text)
    assert [(w, b) for _, w, b in blocks] == [(["requires=torch"], ">>> 1 + 1\n2"), ([], "a = 1")]
    assert required_modules(["requires=torch,optax"]) == ["torch", "optax"]
