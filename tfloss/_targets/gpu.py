"""The ``"gpu"`` target: TF 2.21's CUDA kernels, as far as their results are determined.

**Unverified.**  Everything here comes from reading TF's source and from the kernel registry of
the TF 2.21 wheel (a CUDA build); tfloss has never been run against a GPU.  docs/quirks.md
("On a GPU") cites the sources.

What tfloss reproduces under this target:

* **Bad sparse labels give NaN rows, not an error.**  The CUDA ``SparseSoftmaxCrossEntropyWithLogits``
  kernel skips the CPU kernel's label scan (``sparse_xent_op.cc`` runs ``CheckInvalidLabelIndex``
  on CPU devices only); its loss and gradient generators (``sparse_xent_op.h``) return NaN for
  every class of a row whose label is outside ``[0, classes)``, so that row's loss and its whole
  backprop row are NaN.  Other rows are unaffected.
* **float64 sparse losses still raise.**  That op has CUDA kernels for float16, bfloat16 and
  float32 only; a float64 call runs on the CPU kernel (eager TF places an op without a GPU kernel
  on the CPU), which checks labels as under ``"cpu"``.

The values are the CPU kernels'.  The CUDA kernels compute the same formulas with CUDA's
``expf``/``logf`` (libdevice) and reduce in an order that is not fixed, so TF's GPU results
differ from them in the last bits; the conformance ULP bound is what they are held to, not bits.
"""

from __future__ import annotations

import numpy as np

from .. import _engine

#: The logits dtypes for which TF 2.21 registers a CUDA ``SparseSoftmaxCrossEntropyWithLogits``
#: kernel (its CUDA wheel's kernel registry); a float64 call runs on the CPU kernel.
SPARSE_GPU_DTYPES = ("float16", "bfloat16", "float32")


def sparse_runs_on_gpu(dtype) -> bool:
    """Whether TF 2.21 runs the sparse kernel for ``dtype`` logits on the GPU."""
    return np.dtype(dtype).name in SPARSE_GPU_DTYPES


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray, with_backprop: bool = True, upstream=None):
    """The CUDA sparse kernel on 2-D logits and 1-D labels, unchecked: ``(loss, backprop)`` as
    :func:`tfloss._engine.sparse_softmax_cross_entropy` returns them, with the loss and the
    backprop row NaN where a label lies outside ``[0, classes)``."""
    bad = (labels < 0) | (labels >= logits.shape[1])
    if not bad.any():
        return _engine.sparse_softmax_cross_entropy(labels, logits, with_backprop, upstream)
    # Any in-range label works for the bad rows: every value they get is replaced by NaN.
    in_range = np.where(bad, 0, labels).astype(labels.dtype)
    loss, backprop = _engine.sparse_softmax_cross_entropy(in_range, logits, True, upstream)
    loss[bad] = np.nan
    backprop[bad] = np.nan
    return _engine.kept_backprop(loss, backprop, with_backprop)
