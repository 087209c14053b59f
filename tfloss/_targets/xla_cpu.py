"""The ``"xla-cpu"`` target: the four losses as ``tf.function(jit_compile=True)`` runs them on CPU.

Under XLA, TF's Python wrappers still build the same graph (the conversions, checks, casts and
reshapes of :mod:`tfloss._frontend.wrappers` are unchanged), but the graph is then compiled by XLA:

* Each TF op becomes its tf2xla lowering.  The elementwise ops of the sigmoid and weighted losses
  map one to one; the softmax kernels become XLA's reductions and a ``select`` that zeroes the
  terms whose label is 0 (``tensorflow/compiler/tf2xla/kernels/softmax_op.cc``); the sparse
  kernel one-hot encodes its labels first, with a NaN row for a label outside ``[0, classes)``
  (XLA cannot raise at run time).
* XLA fuses the elementwise work into loops that call its own ``exp``/``log``/``log1p``
  (:mod:`tfloss._targets.xla_math`) and LLVM contracts a multiply feeding an add into one FMA.
  Each formula below writes those FMAs out.
* Storage types: float32 and float64 compute natively (with flush-to-zero, as in eager TF);
  float16 too, without flush, but only a CPU with AVX512-FP16 has a float16 FMA: there a
  multiply feeding an add rounds once, elsewhere (an EPYC, say) LLVM computes each float16 op
  in float32 and rounds it back, each on its own, so nothing is contracted
  (:func:`native_float16`); bfloat16 computes each op in float32 and rounds it back to
  bfloat16, so nothing is contracted either.

Reductions (the softmax losses): XLA's CPU reduction loop adds a row's elements in order into
one accumulator of the storage type, except 16-bit types, whose sums accumulate in float32
(``XlaHelpers::SumAccumulationType``); a row of more than 32 elements is split into windows of
32 first.  See :func:`row_sum`.  From 32768 input elements on, XLA hands a plain row max or sum
to YNNPACK instead: the float32 sum of the exponentials follows YNNPACK's order
(:func:`ynn_row_sum`); YNNPACK's NaN-ignoring max and its 16-bit sums are not reproduced
(docs/quirks.md, "What changes when you turn on ``jit_compile``").

Every function takes NumPy arrays already converted and checked by the wrappers, and returns
NumPy arrays.  The compiled engine (:mod:`tfloss._engine`) does not serve this target: these
NumPy functions run whether or not the engine is active.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .._machine.cpu import CpuTensor
from . import xla_math

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
BF16 = np.dtype(ml_dtypes.bfloat16)


def native_float16() -> bool:
    """Whether this CPU has AVX512-FP16, so that XLA's float16 multiply-adds are fused.

    Measured on TF 2.21 (tf.function(jit_compile=True)): on a Sapphire Rapids the float16 losses
    match the fused formulas bit for bit; on an EPYC (Zen 4, no AVX512-FP16) they match, on 20,000
    random elements each of the sigmoid and weighted losses, the same formulas with every
    multiply and add rounded to float16 separately, log1p's rational included.
    """
    from .._machine.math_ops import _cpu_flags

    return bool(_cpu_flags() & {"avx512fp16", "avx512_fp16"})


class Arithmetic:
    """One storage dtype's arithmetic inside an XLA CPU fusion: each method is one HLO op."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.compute = F32 if self.dtype == BF16 else self.dtype  # bfloat16: every op in float32
        # Where LLVM contracts a multiply feeding an add into one FMA (see the module docstring).
        self.fused = self.dtype != BF16 and (self.dtype != F16 or native_float16())

    def _wide(self, v):
        return np.asarray(v, self.compute) if not np.isscalar(v) else self.compute.type(v)

    def _done(self, v) -> np.ndarray:
        return xla_math.flush(np.asarray(v, self.compute)).astype(self.dtype)

    def const(self, value) -> np.ndarray:
        return np.asarray(value, self.dtype)

    def add(self, a, b):
        return self._done(self._wide(a) + self._wide(b))

    def sub(self, a, b):
        return self._done(self._wide(a) - self._wide(b))

    def mul(self, a, b):
        return self._done(self._wide(a) * self._wide(b))

    def div(self, a, b):
        return self._done(self._wide(a) / self._wide(b))

    def fma(self, a, b, c):
        """``a * b + c``, fused where LLVM fuses it (not for bfloat16, nor for float16 without
        AVX512-FP16: there each op is rounded)."""
        if not self.fused:
            return self.add(self.mul(a, b), c)
        a, b, c = (np.asarray(v, self.dtype) for v in (a, b, c))
        return xla_math.fma(*np.broadcast_arrays(a, b, c))

    def exp(self, x):
        return self._done(xla_math.exp(np.asarray(x, F32 if self.dtype != F64 else F64)))

    def log(self, x):
        return self._done(xla_math.log(np.asarray(x, F32 if self.dtype != F64 else F64)))

    def log1p(self, x):
        if self.dtype == F16:  # the rational in float16 itself
            return xla_math.log1p(np.asarray(x, F16), self.fused)
        return self._done(xla_math.log1p(self._wide(x)))


def _arithmetic(dtype) -> Arithmetic:
    return Arithmetic(dtype)


def stored(*arrays: np.ndarray) -> tuple:
    """The inputs as XLA's float32/float64 (and bfloat16, computed in float32) arithmetic reads
    them: subnormals as zero (DAZ, as in eager TF), copied; float16 is read as it is."""
    return tuple(CpuTensor.from_input(a).value for a in arrays)


# --------------------------------------------------------------------------------------------
# The elementwise losses (notation: x = logits, z = labels, q1 = pos_weight - 1)


def sigmoid_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``max(x, 0) - x*z + log1p(exp(-|x|))``; the product is fused: ``fma(-x, z, relu(x))``."""
    a = _arithmetic(logits.dtype)
    x, z = logits, labels
    cond = x >= 0
    relu_logits = np.where(cond, x, a.const(0))
    neg_abs_logits = np.where(cond, -x, x)
    return a.add(a.fma(-x, z, relu_logits), a.log1p(a.exp(neg_abs_logits)))


def weighted_cross_entropy(labels: np.ndarray, logits: np.ndarray, pos_weight_minus_one: np.ndarray) -> np.ndarray:
    """``(1 - z)*x + (1 + q1*z) * (log1p(exp(-|x|)) + max(-x, 0))``, with two FMAs:
    ``1 + q1*z`` and the final ``(1 - z)*x + ...``."""
    a = _arithmetic(logits.dtype)
    x, z, q1 = logits, labels, pos_weight_minus_one
    log_weight = a.fma(q1, z, a.const(1))
    softplus = a.add(a.log1p(a.exp(-np.abs(x))), np.maximum(-x, a.const(0)))
    return a.fma(a.sub(a.const(1), z), x, a.mul(log_weight, softplus))


# --------------------------------------------------------------------------------------------
# Reductions


VECTORIZED_MIN = 30  # from this row length on (up to WINDOW), LLVM vectorizes a fused row sum
WINDOW = 32  # XLA's CPU pipeline splits a reduction over more elements into windows of 32


def _sequential(values: np.ndarray, init, combine) -> np.ndarray:
    """``acc = init; acc = combine(acc, v)`` for each column in order, as XLA's reduce loop does."""
    acc = np.full(values.shape[0], init, values.dtype)
    for column in range(values.shape[1]):
        acc = combine(acc, values[:, column])
    return acc


def _row_reduce(values: np.ndarray, init, combine) -> np.ndarray:
    """A row reduction (axis 1 of a 2-D array) in XLA CPU's order.

    XLA's tree reduction rewriter turns a reduction over more than 32 elements into a
    reduce-window of 32 (the row padded on both sides with the initial value to a multiple of 32,
    the smaller half of the padding first), then a reduction of the window results; each loop
    combines its elements in order, starting from the initial value.  A reduction over one
    element is a reshape (XLA's algebraic simplifier drops it): the element itself, so a
    ``-0.0`` stays ``-0.0``.
    """
    count = values.shape[1]
    if count == 1:
        return values[:, 0].copy()
    if count <= WINDOW:
        return _sequential(values, init, combine)
    windows = -(-count // WINDOW)
    low = (windows * WINDOW - count) // 2
    parts = [values[:, max(0, k * WINDOW - low):min(count, (k + 1) * WINDOW - low)] for k in range(windows)]
    partial = np.stack([_sequential(part, init, combine) for part in parts], axis=1)
    return _row_reduce(partial, init, combine)


def _maximum(a, b):
    """XLA's ``maximum``: NaN if either is NaN, and ``-0.0 < +0.0``."""
    larger = np.where((a > b) | ((a == b) & ~np.signbit(a)), a, b)
    return np.where(np.isnan(a), a, np.where(np.isnan(b), b, larger))


def row_max(values: np.ndarray) -> np.ndarray:
    return _row_reduce(values, -np.inf, _maximum)


def row_sum(values: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """The sum of each row, accumulated in ``arithmetic``'s dtype."""
    return _row_reduce(values, 0, arithmetic.add)


def fused_row_sum(left: np.ndarray, right: np.ndarray, arithmetic: Arithmetic, vectorized: bool = True) -> np.ndarray:
    """``sum(left * right)`` per row when the product is computed inside the reduce loop (rows of
    at most 32, which XLA does not split): each step is ``fma(left, right, acc)``.  A row of one
    element is that product alone."""
    count = left.shape[1]
    if count == 1:
        return arithmetic.mul(left[:, 0], right[:, 0])
    if count < VECTORIZED_MIN or not vectorized:
        acc = np.zeros(left.shape[0], arithmetic.dtype)
        for column in range(count):
            acc = arithmetic.fma(left[:, column], right[:, column], acc)
        return acc
    return _vectorized_fused_sum(left, right, arithmetic)


YNN_MIN_ELEMENTS = 32768  # from this many input elements on, XLA hands a float32 row sum to YNNPACK
YNN_LANES = 16  # YNNPACK's float32 sum accumulator: one row's 16 lanes, folded as 4 vectors of 4


def ynn_row_sum(values: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """A float32 row sum as YNNPACK adds it (XLA's ``__ynn_fusion`` for inputs of at least
    ``YNN_MIN_ELEMENTS`` elements).

    The row is read 16 elements at a time (the last block padded with zeros) into 16 lane
    accumulators, starting from ``+0``; the lanes are then folded as four vectors of 4,
    ``(v0 + v1) + (v2 + v3)``, that vector's lanes as ``(l0 + l1) + (l2 + l3)``, and the result is
    added to the initial value 0 (each add as XLA's, flushing subnormals).  Measured against TF
    2.21.0's ``reduce_sum`` under XLA on an AMD EPYC (AVX2): bit for bit on rows of 13 to 32768
    elements.
    """
    rows, count = values.shape
    blocks = -(-count // YNN_LANES)
    padded = np.zeros((rows, blocks * YNN_LANES), F32)
    padded[:, :count] = values
    lanes = np.zeros((rows, YNN_LANES), F32)
    for block in range(blocks):
        lanes = arithmetic.add(lanes, padded[:, block * YNN_LANES:(block + 1) * YNN_LANES])
    v = [lanes[:, 4 * j:4 * j + 4] for j in range(4)]
    four = arithmetic.add(arithmetic.add(v[0], v[1]), arithmetic.add(v[2], v[3]))
    one = arithmetic.add(arithmetic.add(four[:, 0], four[:, 1]), arithmetic.add(four[:, 2], four[:, 3]))
    return arithmetic.add(np.zeros(rows, F32), one)


# How LLVM's loop vectorizer splits a fused row sum of 30 to 32 elements (measured from the machine
# code XLA emits): (lanes per vector, interleaved vectors).
_VECTORIZATION = {(F32, 32): (8, 1), (F64, 32): (4, 4)}


def _vectorized_fused_sum(left: np.ndarray, right: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """``sum(left * right)`` as the vectorized loop adds it (XLA marks a reduction's adds
    reassociable, so LLVM may split the chain).

    ``k`` interleaved vectors of ``lanes`` elements cover whole blocks of ``k * lanes``
    elements, vector ``j`` taking lanes ``j*lanes ..`` of each block.  Vector 0 starts at
    ``(+0, -0, -0, ...)`` and fuses every product into it; each other vector starts from its
    first product fused onto its second, rounded, product.  The vectors are added in order, the
    lanes folded in halves (``lane i + lane i + lanes/2``, down to one), and the remaining
    elements added one by one, each product fused into the add.
    """
    rows, count = left.shape
    lanes, interleave = _VECTORIZATION.get((arithmetic.dtype, count), (4, 2))
    block = lanes * interleave
    blocks = count // block

    def chunk(i, j):  # the columns of vector j in block i
        start = i * block + j * lanes
        return left[:, start:start + lanes], right[:, start:start + lanes]

    total = np.full((rows, lanes), -0.0, arithmetic.dtype)
    total[:, 0] = 0
    for i in range(blocks):
        total = arithmetic.fma(*chunk(i, 0), total)
    for j in range(1, interleave):
        acc = arithmetic.mul(*chunk(1, j)) if blocks > 1 else np.full((rows, lanes), -0.0, arithmetic.dtype)
        acc = arithmetic.fma(*chunk(0, j), acc)
        for i in range(2, blocks):
            acc = arithmetic.fma(*chunk(i, j), acc)
        total = arithmetic.add(total, acc)
    while total.shape[1] > 1:
        half = total.shape[1] // 2
        total = arithmetic.add(total[:, :half], total[:, half:])
    acc = total[:, 0]
    for column in range(blocks * block, count):
        acc = arithmetic.fma(left[:, column], right[:, column], acc)
    return acc


# --------------------------------------------------------------------------------------------
# The softmax losses (tf2xla's CrossEntropyWithLogits), on 2-D [batch, classes] arrays


def _cross_entropy(labels: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tf2xla's ``CrossEntropyWithLogits`` for float32/float64: ``(loss, softmax numerators,
    their row sums)``.  ``loss = sum(-z * select(z == 0, 0, (x - max) - log(sum(exp(x - max)))))``:
    a zero label contributes 0 even where its log-probability is ``-inf``."""
    a = _arithmetic(logits.dtype)
    shifted = a.sub(logits, row_max(logits)[:, None])
    exp_shifted = a.exp(shifted)
    if logits.dtype == F32 and logits.size >= YNN_MIN_ELEMENTS:  # the exponentials stored, YNNPACK sums
        sum_exp = ynn_row_sum(exp_shifted, a)
    elif logits.shape[1] <= WINDOW and logits.dtype == F32:  # one loop: exp's last multiply fuses into the sum
        sum_exp = fused_row_sum(*xla_math.exp_f32_factors(shifted), a, vectorized=False)
    else:
        sum_exp = row_sum(exp_shifted, a)
    log_probs = a.sub(shifted, a.log(sum_exp)[:, None])
    safe = np.where(labels == 0, a.const(0), log_probs)
    if logits.shape[1] <= WINDOW:  # the products fuse into the sum's adds
        loss = fused_row_sum(-labels, safe, a)
    else:
        loss = row_sum(a.mul(-labels, safe), a)
    return loss, exp_shifted, sum_exp


def softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The SoftmaxCrossEntropyWithLogits lowering: labels broadcast to the logits' shape first."""
    labels, logits = (np.ascontiguousarray(v) for v in np.broadcast_arrays(labels, logits))
    return _cross_entropy(labels, logits)[0]


def one_hot_labels(labels: np.ndarray, classes: int, dtype) -> np.ndarray:
    """The sparse lowering's labels: one-hot rows, plus NaN in every class of a row whose label is
    outside ``[0, classes)`` (XLA cannot raise at run time)."""
    one_hot = (labels[:, None] == np.arange(classes)).astype(dtype)
    bad_row = np.where((labels >= 0) & (labels < classes), 0, np.nan).astype(dtype)
    return one_hot + bad_row[:, None]


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The SparseSoftmaxCrossEntropyWithLogits lowering: the dense one on one-hot labels."""
    if logits.dtype == BF16:
        return _sparse_bfloat16(labels, logits)
    return _cross_entropy(one_hot_labels(labels, logits.shape[1], logits.dtype), logits)[0]


def _sparse_bfloat16(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The sparse lowering on bfloat16 logits (the wrapper does not widen them): each op in
    float32, rounded to bfloat16, except where XLA keeps float32 (it may drop a round trip
    through bfloat16, ``xla_allow_excess_precision``): the exponentials feed the float32 sum
    unrounded, and the products feed the float32 loss sum unrounded."""
    a, wide = _arithmetic(BF16), _arithmetic(F32)
    z = one_hot_labels(labels, logits.shape[1], BF16)
    shifted, _, sum_exp = _bfloat16_exponentials(logits)
    log_sum = a.log(sum_exp.astype(BF16))
    safe = np.where(z == 0, a.const(0), a.sub(shifted, log_sum[:, None]))
    return row_sum(wide.mul(-z, safe), wide).astype(BF16)


# --------------------------------------------------------------------------------------------
# First-order gradients: TF's tape, compiled with the forward pass (g = the upstream gradient)


def _reciprocal_one_plus(a: Arithmetic, e: np.ndarray) -> np.ndarray:
    return a.div(a.const(1), a.add(a.const(1), e))


def sigmoid_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray) -> tuple:
    """``(d/dlabels, d/dlogits)``: the tape's ops for the sigmoid loss in XLA's order, the
    ``-g * z`` product fused into the first add."""
    a = _arithmetic(logits.dtype)
    x, z, g = logits, labels, upstream
    cond = x >= 0
    exp_neg_abs = a.exp(np.where(cond, -x, x))
    grad_neg_abs = a.mul(a.mul(g, _reciprocal_one_plus(a, exp_neg_abs)), exp_neg_abs)  # Log1p's, Exp's
    grad_logits = a.fma(-g, z, np.where(cond, g, a.const(0)))  # Select's + Mul's
    grad_logits = a.add(grad_logits, np.where(cond, a.const(0), grad_neg_abs))
    grad_logits = a.add(grad_logits, -np.where(cond, grad_neg_abs, a.const(0)))
    return a.mul(-g, x), grad_logits


def weighted_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, pos_weight_minus_one: np.ndarray,
                                upstream: np.ndarray) -> tuple:
    """``(d/dlabels, d/dlogits)`` for a ``pos_weight - 1`` that broadcasts to the logits without
    a gradient of its own.  Fused: ``1 + q1*z``, the sign term of the logits' gradient, and
    ``q1 * (g * softplus)`` onto ``-(g * x)`` for the labels (as measured; not ``g * (1 - z)``)."""
    a = _arithmetic(logits.dtype)
    x, z, q1, g = logits, labels, pos_weight_minus_one, upstream
    log_weight = a.fma(q1, z, a.const(1))
    exp_neg_abs = a.exp(-np.abs(x))
    relu_neg = np.maximum(-x, a.const(0))
    softplus = a.add(a.log1p(exp_neg_abs), relu_neg)
    grad_softplus = a.mul(g, log_weight)
    from_relu = -np.where(relu_neg > 0, grad_softplus, a.const(0))
    grad_neg_abs = a.mul(a.mul(grad_softplus, _reciprocal_one_plus(a, exp_neg_abs)), exp_neg_abs)
    grad_logits = a.add(a.mul(g, a.sub(a.const(1), z)), from_relu)
    sign = np.where(x == 0, x, np.sign(x))  # XLA's sign keeps the zero's sign (-0.0 for -0.0)
    grad_logits = a.fma(-grad_neg_abs, sign, grad_logits)
    if q1.size == 1 and abs(float(q1.reshape(-1)[0])) == 1:
        # A constant q1 = +-1 is folded: q1 * (g * softplus) becomes g * (q1 * softplus), a
        # product that is fused into the add onto -(g * x) (measured with random upstream
        # gradients; with the unit one both orders give the same bits).
        grad_labels = a.fma(g, (q1 * softplus).astype(softplus.dtype), -a.mul(g, x))
    else:
        grad_labels = a.fma(q1, a.mul(g, softplus), -a.mul(g, x))
    return grad_labels, grad_logits


def weighted_cross_entropy_grad_pos_weight(labels: np.ndarray, logits: np.ndarray, pos_weight: np.ndarray,
                                           upstream: np.ndarray) -> tuple:
    """``(d/dlabels, d/dlogits, d/dpos_weight)`` for a ``pos_weight`` tensor watched by the tape.

    ``pos_weight - 1`` is now computed inside the compiled function (an ``add`` of ``-1``), and
    XLA fuses the gradient differently from a constant ``pos_weight``
    (:func:`weighted_cross_entropy_grad`):

    * d/dlogits: where ``relu(-x) > 0`` the linear term's product is fused into the add of the
      relu's gradient, ``fma(g, 1 - z, -(g * (1 + q1*z)))``; the sign term is fused as before.
    * d/dlabels: ``fma(q1, g * softplus, -(g * x))``, as before (no constant to fold).
    * d/dpos_weight: ``sum(g * softplus * z)`` over the axes along which ``pos_weight``
      broadcasts (TF's Mul gradient, a ``reduce_sum``), in :func:`broadcast_sum`'s order; no
      reduction where ``pos_weight`` already has the logits' shape.

    Measured against TF 2.21 under ``tf.function(jit_compile=True)`` on an AMD EPYC (no
    AVX512-FP16): 400 random runs (float16, bfloat16, float32, float64; ``pos_weight`` shaped
    ``(C,)``, like the logits, ``(B.., 1)``, ``()`` or ``(1.., C)``; ranks 1 to 4, up to 90 x 90;
    unit and random upstream gradients): every d/dlabels and d/dlogits bit for bit, and every
    d/dpos_weight that :func:`reproduces_broadcast_sum` accepts.
    """
    a = _arithmetic(logits.dtype)
    x, z, g = logits, labels, upstream
    q1 = a.sub(pos_weight, a.const(1))
    log_weight = a.fma(q1, z, a.const(1))
    exp_neg_abs = a.exp(-np.abs(x))
    relu_neg = np.maximum(-x, a.const(0))
    softplus = a.add(a.log1p(exp_neg_abs), relu_neg)
    grad_softplus = a.mul(g, log_weight)
    complement = a.sub(a.const(1), z)
    from_linear = a.mul(g, complement)
    grad_logits = np.where(relu_neg > 0, a.fma(g, complement, -grad_softplus), from_linear)
    grad_neg_abs = a.mul(a.mul(grad_softplus, _reciprocal_one_plus(a, exp_neg_abs)), exp_neg_abs)
    sign = np.where(x == 0, x, np.sign(x))  # XLA's sign keeps the zero's sign (-0.0 for -0.0)
    grad_logits = a.fma(-grad_neg_abs, sign, grad_logits)
    grad_log_weight = a.mul(g, softplus)
    grad_labels = a.fma(q1, grad_log_weight, -a.mul(g, x))
    grad_pos_weight = broadcast_sum(grad_log_weight, z, pos_weight.shape, a)
    return grad_labels, grad_logits, grad_pos_weight


def _broadcast_axes(shape: tuple, full: tuple) -> tuple:
    """The axes of ``full`` along which an array of ``shape`` is broadcast (size-1 axes of
    ``full`` left out: summing over them changes nothing)."""
    padded = (1,) * (len(full) - len(shape)) + tuple(shape)
    return tuple(i for i, (n, m) in enumerate(zip(padded, full)) if n == 1 and m != 1)


SEQUENTIAL_MAX = 21  # the longest float32/float64 reduce loop that LLVM leaves in order (one axis)
SEQUENTIAL_MAX_NESTED = 6  # the most elements of a nest over several axes reproduced in order


def reproduces_broadcast_sum(shape: tuple, full: tuple, dtype) -> bool:
    """Whether :func:`broadcast_sum` follows XLA's order for this reduction.

    16-bit types accumulate in float32 and always do (200 of 200 random float16 and bfloat16 runs
    bit for bit, reductions of 2 to 90 x 90 elements).  For float32 and float64, LLVM's loop
    vectorizer splits a reduce loop into lanes (XLA marks a reduction's adds reassociable) in ways
    that depend on the trip count, the loop nest and the loop body; measured on TF 2.21 (AMD EPYC,
    AVX2): a loop over one axis stays in order up to 21 elements (rows and columns of 2 to 21, both
    dtypes, unit and random upstream: 160 of 160 bit for bit) and is split from 22 or so on; a
    nest over several axes stays in order in the 2 x 3 and 10 x 9 reductions measured, but not in
    4 x 3, 4 x 2 or (after the windows) 2 x 3 windows of 43 x 66.  Reproduced: a loop over one
    axis of at most ``SEQUENTIAL_MAX`` elements, after XLA's windows of 32 if an axis is longer
    (their loops read a stored product and stay in order), or an unwindowed nest of at most
    ``SEQUENTIAL_MAX_NESTED`` elements.
    """
    if np.dtype(dtype) in (F16, BF16):
        return True
    dims = [full[i] for i in _broadcast_axes(shape, full)]
    if 0 in dims or not dims:
        return True
    if len(dims) > 1:
        return all(n <= WINDOW for n in dims) and int(np.prod(dims)) <= SEQUENTIAL_MAX_NESTED
    count = dims[0]
    while count > WINDOW:
        count = -(-count // WINDOW)
    return count <= SEQUENTIAL_MAX


def broadcast_sum(left: np.ndarray, right: np.ndarray, shape: tuple, arithmetic: Arithmetic) -> np.ndarray:
    """``reduce_sum(left * right)`` back to ``shape``: TF's gradient of a broadcast multiply.

    XLA fuses the product into its reduce loop, which visits the reduced axes major to minor and
    adds each product into one accumulator (fused: ``acc = fma(left, right, acc)``); float16 and
    bfloat16 accumulate in float32 (a float16 product rounded to float16 first; a bfloat16 one,
    computed in float32, is not rounded: XLA keeps the excess precision).  A reduced axis of more
    than 32 elements goes through XLA's windows of 32 first (:func:`_row_reduce`'s padding), on
    every reduced axis at once; the products are then stored and added without FMA.
    """
    a = arithmetic
    full = np.broadcast_shapes(left.shape, right.shape)
    left, right = np.broadcast_to(left, full), np.broadcast_to(right, full)
    axes = _broadcast_axes(shape, full)
    if not axes:
        return a.mul(left, right).reshape(shape)
    sixteen = a.dtype in (F16, BF16)
    wide = _arithmetic(F32) if sixteen else a
    if a.dtype == F16:
        left, right = a.mul(left, right).astype(F32), np.ones(full, F32)  # the rounded product, times 1
    elif a.dtype == BF16:
        left, right = left.astype(F32), right.astype(F32)
    keep = [i for i in range(len(full)) if i not in axes]
    moved = [np.transpose(v, keep + list(axes)) for v in (left, right)]
    rows = int(np.prod([full[i] for i in keep]))
    left, right = (v.reshape((rows,) + tuple(full[i] for i in axes)) for v in moved)
    if left.size == 0:
        total = np.zeros(rows, wide.dtype)
    elif any(n > WINDOW for n in left.shape[1:]):
        total = _windowed_sum(wide.mul(left, right), wide)
    else:
        left, right = left.reshape(rows, -1), right.reshape(rows, -1)
        if left.shape[1] == 1:  # a reduction over one element is that element
            total = wide.mul(left[:, 0], right[:, 0])
        else:
            total = np.zeros(rows, wide.dtype)
            for column in range(left.shape[1]):
                total = wide.fma(left[:, column], right[:, column], total)
    return total.astype(a.dtype).reshape(shape)


def _windowed_sum(values: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """The sum over all but the first axis of stored ``values``, XLA's tree reduction on several
    axes at once: while an axis exceeds 32, a reduce-window of ``min(n, 32)`` on every reduced axis
    (padded as in :func:`_row_reduce`), each window added in order."""
    rows, dims = values.shape[0], values.shape[1:]
    if all(n <= WINDOW for n in dims):
        flat = values.reshape(rows, -1)
        return flat[:, 0].copy() if flat.shape[1] == 1 else _sequential(flat, 0, arithmetic.add)
    bounds = []
    for n in dims:
        width = min(n, WINDOW)
        count = -(-n // width)
        low = (count * width - n) // 2
        bounds.append([(max(0, k * width - low), min(n, (k + 1) * width - low)) for k in range(count)])
    out = np.zeros((rows,) + tuple(len(b) for b in bounds), values.dtype)
    for index in np.ndindex(*out.shape[1:]):
        block = values[(slice(None),) + tuple(slice(*bounds[d][k]) for d, k in enumerate(index))]
        out[(slice(None),) + index] = _sequential(block.reshape(rows, -1), 0, arithmetic.add)
    return _windowed_sum(out, arithmetic)


def softmax_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray,
                               with_labels: bool) -> tuple:
    """``(d/dlabels or None, d/dlogits)`` for 2-D float32/float64 inputs (labels broadcast to the
    logits), ``upstream`` one per row: ``g * (exp(x - max) / sum - z)``, the lowering's backprop,
    and ``g * -log_softmax(x)``."""
    labels, logits = (np.ascontiguousarray(v) for v in np.broadcast_arrays(labels, logits))
    a = _arithmetic(logits.dtype)
    _, exp_shifted, sum_exp = _cross_entropy(labels, logits)
    g = upstream[:, None]
    backprop = a.sub(a.div(exp_shifted, sum_exp[:, None]), labels)
    grad_labels = None
    if with_labels:
        shifted = a.sub(logits, row_max(logits)[:, None])
        grad_labels = a.mul(g, -a.sub(shifted, a.log(sum_exp)[:, None]))
    return grad_labels, a.mul(g, backprop)


def sparse_softmax_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """``g * (exp(x - max) / sum - onehot(labels))``, a NaN row for a bad label; float32/float64,
    and bfloat16 (:func:`_sparse_bfloat16_grad`)."""
    if logits.dtype == BF16:
        return _sparse_bfloat16_grad(labels, logits, upstream)
    one_hot = one_hot_labels(labels, logits.shape[1], logits.dtype)
    return softmax_cross_entropy_grad(one_hot, logits, upstream, with_labels=False)[1]


def _sparse_bfloat16_grad(labels: np.ndarray, logits: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """The bfloat16 backprop: the exponentials and their float32 sum, which the forward pass
    keeps unrounded (:func:`_sparse_bfloat16`), are both rounded to bfloat16 before the division,
    and every op after it rounds to bfloat16 (measured, TF 2.21 on an AMD EPYC: rows of 7 to
    8193 classes, unit and random upstream gradients, bit for bit but for NaN signs)."""
    a = _arithmetic(BF16)
    z = one_hot_labels(labels, logits.shape[1], BF16)
    _, exps, sum_exp = _bfloat16_exponentials(logits)
    probability = a.div(exps.astype(BF16), sum_exp.astype(BF16)[:, None])
    return a.mul(upstream[:, None], a.sub(probability, z))


def _bfloat16_exponentials(logits: np.ndarray) -> tuple:
    """``(shifted, exps, sum_exp)`` of bfloat16 logits, both passes' start: ``x - max`` in
    bfloat16, its exponentials in float32 and their float32 row sum, neither rounded."""
    wide = _arithmetic(F32)
    shifted = _arithmetic(BF16).sub(logits, row_max(logits)[:, None])
    exps = wide.exp(shifted)
    return shifted, exps, row_sum(exps, wide)
