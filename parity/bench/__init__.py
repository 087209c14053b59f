"""``python -m parity.bench`` (``make bench``): tfloss's speed against TF and its peers, in one run.

Times the four ops (float32 at five shapes, one of them larger than the caches;
float64, float16 and bfloat16 against TF), the gradients against
``tf.GradientTape``, the cost against size, and the compiled engine's first call,
on tfloss and on every peer that imports: TF 2.21 eager, PyTorch CPU, JAX jit with
optax, and the plain NumPy formulas.  Each case is set against a floor measured in
the same run (see :mod:`parity.bench.floor`).

Modules: :mod:`~parity.bench.cases` (what is timed), :mod:`~parity.bench.impls`
(who is timed), :mod:`~parity.bench.timing` (how), :mod:`~parity.bench.floor`
(against what bound), :mod:`~parity.bench.run` (the measurements),
:mod:`~parity.bench.output` (the report and figure).

Timings share one machine and one moment, so only the ratios from one run mean
anything.  Nothing here is a test: no timing is ever asserted.
"""
