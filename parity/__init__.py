"""tfloss's parity suite: every public tfloss function against real TensorFlow.

``python -m parity`` (or ``make parity``) runs the catalogue and a hypothesis
pass and writes ``reports/parity.json`` and ``reports/parity.md``;
``pytest parity`` runs the same cases as tests.  Modules:

* :mod:`parity.catalogue` - the cases, as data;
* :mod:`parity.strategies`, :mod:`parity.property` - hypothesis-drawn cases;
* :mod:`parity.targets` - the functions compared and their term magnitudes;
* :mod:`parity.tfref` - the TF side (every expected value comes from real TF at run time);
* :mod:`parity.compare` - ULPs (bfloat16 included), special-value patterns, the error bound;
* :mod:`parity.runner` - runs and judges cases;
* :mod:`parity.declared` - the declared differences, each with its reason;
* :mod:`parity.signatures` - ``inspect.signature`` parity;
* :mod:`parity.report` - the summary table, JSON and Markdown;
* :mod:`parity.bench` - speed against TF, PyTorch, JAX/optax and NumPy, and a measured floor
  (``make bench``, in its own environment).
"""
