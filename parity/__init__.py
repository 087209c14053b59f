"""tfloss's parity suite: every public tfloss function against real TensorFlow.

``python -m parity`` (or ``make parity``) runs the catalogue and a hypothesis
pass and writes ``reports/parity.json`` and ``reports/parity.md``;
``pytest parity`` runs the same cases as tests.  What needs no TensorFlow (the catalogue,
the comparison rules, the declared differences, the hypothesis strategies) is in the installed
package, :mod:`tfloss.conformance`; this package binds it to real TF.  Modules:

* :mod:`parity.targets` - the functions compared, bound to TF and to tfloss;
* :mod:`parity.property` - hypothesis-drawn cases;
* :mod:`parity.runner` - runs and judges cases;
* :mod:`parity.record` - ``make golden``: TF's outcome of every run, recorded into the package;
* :mod:`parity.signatures` - ``inspect.signature`` parity;
* :mod:`parity.report` - the summary table, JSON and Markdown;
* :mod:`parity.bench` - speed against TF, PyTorch, JAX/optax and NumPy, and a measured floor
  (``make bench``, in its own environment).
"""
