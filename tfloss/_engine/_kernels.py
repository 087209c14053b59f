"""The four ops compiled: :mod:`tfloss._kernels`, fused into one pass per element or per row.

Each function here is named like the kernel it reproduces and repeats that kernel's steps in
the same order, one TF op per line: ``op(value, out)`` ends an op (flush-to-zero, rounding to
the storage dtype, see :mod:`._float`), and ``exp``/``log``/``log1p`` are TF's (:mod:`._eigen`),
told whether Eigen evaluates that element in a packet or on the scalar path.  Where the NumPy
path materialises a whole tensor per op, these loops keep every intermediate in registers
(elementwise ops) or in two rows of scratch per thread (the row ops): nothing the size of the
input is allocated.

Arguments are flat (elementwise ops) or 2-D C-contiguous arrays in their storage dtype (16-bit
types as bits, see :mod:`._float`).  Only ``out`` (and ``backprop``) are written.  Each kernel
computes a range of elements or rows, so that :mod:`tfloss._engine` can run ranges on threads.
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

from ._eigen import exp, log, log1p
from ._float import (add, constant, div, ftz, jit, jit_borrowing, leaf_size, mul, op, packet_size, read, rounded, scratch, store, sub,
                     wide_vectors, widen, x86_nan)

# --------------------------------------------------------------------------------------------
# Elementwise: _kernels.sigmoid_cross_entropy, _kernels.weighted_cross_entropy
#
# One element each, stored values in and out (``kind``: the storage dtype); the caller says whether Eigen evaluates it in a packet (each TF op runs over
# the whole flattened tensor of n elements, so exp and log1p take the packet path below
# n - n % P, see tfloss._machine.eigen_math._split_apply) and whether it is in the 4-packet loop.


@jit(inline="always")  # into the loops of ._loops, so that the packet loop can be vectorised
def sigmoid_cross_entropy(z, x, kind, packet, unrolled):
    """``(relu(x) - x*z) + log1p(exp(-|x|))``, relu and -|x| from one ``x >= 0``."""
    x, z = read(x), read(z)
    zero = constant(x, 0.0)
    cond = x >= zero
    relu_logits = x if cond else zero
    neg_abs_logits = -x if cond else x
    difference = sub(relu_logits, mul(x, z, kind), kind)
    softplus = op(log1p(op(exp(neg_abs_logits, packet), kind), packet, unrolled), kind)
    return store(add(difference, softplus, kind), kind)


@jit(inline="always")
def weighted_cross_entropy(z, x, q1, kind, packet, unrolled):
    """``(1 - z)*x + (1 + (q - 1)*z) * (log1p(exp(-|x|)) + relu(-x))``, ``q1 = q - 1``."""
    x, z, q1 = read(x), read(z), read(q1)
    zero, one = constant(x, 0.0), constant(x, 1.0)
    log_weight = add(one, mul(q1, z, kind), kind)
    linear = mul(sub(one, z, kind), x, kind)
    softplus = op(log1p(op(exp(-abs(x), packet), kind), packet, unrolled), kind)
    neg_logits = -x
    relu_neg_logits = neg_logits if (neg_logits > zero or neg_logits != neg_logits) else zero
    softplus = add(softplus, relu_neg_logits, kind)
    return store(add(linear, mul(log_weight, softplus, kind), kind), kind)


# --------------------------------------------------------------------------------------------
# Row reductions: tfloss._machine.cpu.reduce_max and tfloss._machine.cpu._eigen_sum, for one row
#
# The rows are read where they are stored: a term is computed from the stored element when it
# is needed (``read``, and for SUM_EXP ``exp(x - shift)``), so that no copy of the row is made.


# What row_reduce computes: sum(x), sum(exp(x - shift)), max(x), and sum(x) without the NaN
# steps of its AddV2s (SUM_NUMBERS: exact unless the sum is a NaN, which the caller checks).
SUM, SUM_EXP, MAX, SUM_NUMBERS = 0, 1, 2, 3


@jit(inline="always")  # into _leaf_max, so that the stride is a constant
def _lanes_max(values, running, vectorized, stride):
    """The largest non-NaN number among ``values[:vectorized]`` (-inf if none), as running
    maxima with ``stride`` interleaved chains (each chain keeps the first of equal values)."""
    wide_vectors()
    lowest = constant(running, -np.inf)
    for j in range(min(vectorized, stride)):
        value = read(values[j])
        running[j] = value if value > lowest else lowest  # False for a NaN
    for j in range(vectorized - stride):
        ahead = read(values[j + stride])
        running[j + stride] = ahead if ahead > running[j] else running[j]
    packets = lowest
    for j in range(max(vectorized - stride, 0), vectorized):  # the chains, left to right
        if running[j] > packets:
            packets = running[j]
    return packets


@jit_borrowing
def _leaf_max(values, lo, n, shift, running, accumulators, kind):
    """``cpu._eigen_max`` for one leaf (called like the sums; ``shift``, ``accumulators`` and
    ``kind`` unused): the packet lanes skip NaNs, the tail takes
    ``std::max(t, accum)`` one by one (a NaN replaces the maximum, the next number replaces the
    NaN), and the result is ``std::max(tail, lanes)``.  NaN bits are moved, never recomputed.

    Lane ``l`` of Eigen's packet sees elements ``l, l + P, l + 2P, ...`` in turn, so the lanes
    are ``P`` chains of running maxima (``running`` is compute-dtype scratch as long as the
    leaf).  Their maximum is the largest number whatever the order, unless it is a zero, whose
    sign depends on which zero came first: so four times as many chains run first (the loop
    vectorises without waiting on the previous packet), and the lanes' own order only for a zero.
    """
    values = values[lo:lo + n]  # views from 0 (see _loops): the index is never negative
    running = running[lo:lo + n]
    lowest = constant(running, -np.inf)
    p = packet_size(lowest)
    vectorized = n // p * p
    packets = _lanes_max(values, running, vectorized, 4 * p)
    if packets == constant(running, 0.0):
        packets = _lanes_max(values, running, vectorized, p)
    tail = lowest
    for j in range(vectorized, n):
        value = read(values[j])
        tail = tail if value < tail else value
    return packets if tail < packets else tail


# The binary ops without x86's choice of NaN (``numbers``: the caller knows, or checks
# afterwards, that no operand was a NaN, and then the choice changes no bit).


@jit(inline="always")
def _plus(a, b, kind, numbers, flush=True):
    """TF's AddV2; with ``numbers`` without the NaN step, and without ``flush`` also without
    the flush (for a sum that cannot be subnormal)."""
    if not numbers:
        return add(a, b, kind)
    return op(a + b, kind) if flush else rounded(a + b, kind)


@jit(inline="always")
def _minus(a, b, kind, numbers):
    """TF's Sub; with ``numbers`` without the NaN step."""
    return op(a - b, kind) if numbers else sub(a, b, kind)


@jit(inline="always")
def _times(a, b, kind, numbers):
    """TF's Mul; with ``numbers`` without the NaN step."""
    return op(a * b, kind) if numbers else mul(a, b, kind)


@jit(inline="always")
def _term(value, shift, kind, with_exp, numbers, packet):
    """One term of a row sum from its stored ``value``: the value, or with ``with_exp`` TF's Exp
    of TF's Sub ``value - shift`` (with ``numbers``, the Sub without its NaN step)."""
    if with_exp:
        return op(exp(_minus(read(value), shift, kind, numbers), packet), kind)
    return read(value)


def _leaf_of(with_exp, numbers):
    """The leaf ``_leaf_of(with_exp, numbers)(values, lo, n, shift, running, accumulators, kind)``,
    compiled with ``with_exp`` and ``numbers`` as constants (a function per pair rather than one
    inlined into each caller: numba copies an inlined function's IR once per call site, which for
    a function this size cost seconds of compile time per dtype)."""

    def leaf(values, lo, n, shift, running, accumulators, kind):
        """``cpu._eigen_sum`` for one leaf ``values[lo:lo+n]`` (``n`` at most packet * leaf size).

        Four packet accumulators while four packets remain, folded into the first; then whole
        packets; the tail one by one into a scalar; ``tail + horizontal_sum(packet)``, with the
        horizontal sum ``((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))`` in the compute dtype.  With
        ``with_exp`` the terms are ``exp(x - shift)``, in packets from the leaf's start and its
        last ``n % P`` elements on the scalar path, as Eigen's reducer evaluates ``sum(exp(x))``.
        Of two NaNs the accumulator's survives, except in the fold of accumulator k into the first
        (k = 2, 3 in float32; 1, 2, 3 in float64) and in the final ``tail + horizontal sum``, where
        TF's compiled code keeps the later operand's (``cpu._FOLD_LATER_NAN_WINS``).

        Lane ``l`` of accumulator ``k`` adds elements ``kP + l``, ``kP + l + 4P``, ... in turn,
        starting from zero: the four accumulators are a running sum with stride ``4P``, kept in
        ``running`` (compute-dtype scratch as long as the leaf), whose last ``4P`` values are the
        accumulators.  So the loop vectorises while keeping each lane's order.

        ``numbers`` leaves out the NaN steps of the Sub and of every AddV2, and with ``with_exp``
        the AddV2s' flush too (see :func:`_leaf_sum_exp` for when that is exact).
        """
        flush = not with_exp
        wide_vectors()
        values = values[lo:lo + n]  # views from 0 (see _loops): the index is never negative
        running = running[lo:lo + n]
        zero = constant(running, 0.0)
        p = packet_size(zero)
        vectorized = n // p * p
        unrolled = n // (4 * p) * (4 * p)
        for j in range(min(unrolled, 4 * p)):  # the first four packets onto the zero accumulators
            running[j] = _plus(zero, _term(values[j], shift, kind, with_exp, numbers, True), kind, numbers, flush)
        for j in range(unrolled - 4 * p):
            running[j + 4 * p] = _plus(running[j], _term(values[j + 4 * p], shift, kind, with_exp, numbers, True), kind,
                                       numbers, flush)
        if unrolled:
            for k in range(4):
                for lane in range(p):
                    accumulators[k, lane] = running[unrolled - 4 * p + k * p + lane]
            for k in range(1, 4):
                later_nan_wins = k > 1 or p == 4
                for lane in range(p):
                    a, b = accumulators[0, lane], accumulators[k, lane]
                    accumulators[0, lane] = _plus(b, a, kind, numbers, flush) if later_nan_wins else _plus(a, b, kind, numbers, flush)
        else:  # four zero accumulators: their fold is +0 in every lane
            for lane in range(p):
                accumulators[0, lane] = zero
        for j in range(unrolled, vectorized):  # the terms of the last few packets, in one vector loop
            running[j] = _term(values[j], shift, kind, with_exp, numbers, True)
        for start in range(unrolled, vectorized, p):
            for lane in range(p):
                accumulators[0, lane] = _plus(accumulators[0, lane], running[start + lane], kind, numbers, flush)
        tail = zero
        for j in range(vectorized, n):
            tail = _plus(tail, _term(values[j], shift, kind, with_exp, numbers, False), kind, numbers, flush)
        width = p
        while width > 1:
            width //= 2
            for lane in range(width):
                a, b = accumulators[0, lane], accumulators[0, lane + width]
                if numbers:
                    accumulators[0, lane] = ftz(a + b) if flush else a + b
                else:
                    accumulators[0, lane] = ftz(x86_nan(a, b, a + b))
        return _plus(rounded(accumulators[0, 0], kind), tail, kind, numbers, flush)

    # A name of its own: numba's disk cache keeps one index file per name, which two processes
    # compiling two of these leaves at once would each rewrite, losing the other's entry.
    leaf.__name__ = leaf.__qualname__ = f"leaf_{'exp' if with_exp else 'sum'}{'_numbers' if numbers else ''}"
    return jit_borrowing(leaf)


#: :func:`_leaf_of` of the values (``shift`` unused), and without the NaN steps (row_reduce's
#: SUM_NUMBERS: exact unless the sum is a NaN, which the caller checks).
_leaf_sum = _leaf_of(False, False)
_leaf_sum_numbers = _leaf_of(False, True)
_leaf_exp_numbers = _leaf_of(True, True)
_leaf_exp = _leaf_of(True, False)


@jit_borrowing
def _leaf_sum_exp(values, lo, n, shift, running, accumulators, kind):
    """:func:`_leaf_of` ``exp(values - shift)``, first without the NaN and flush steps.

    That is exact unless a NaN appears: every term is then a zero, a normal number or +inf
    (``op`` flushed it), so every partial sum is too, and neither step can change a bit.  A NaN
    term makes the sum a NaN whichever steps are left out; the leaf is then summed again with
    them, which chooses the NaN TF returns.
    """
    total = _leaf_exp_numbers(values, lo, n, shift, running, accumulators, kind)
    if total != total:
        total = _leaf_exp(values, lo, n, shift, running, accumulators, kind)
    return total


#: The leaf of each mode.  row_reduce is specialised on ``mode`` (a constant at every call), so
#: that a kernel compiles only the leaves (and trees) it uses.
_LEAVES = {SUM: _leaf_sum, SUM_EXP: _leaf_sum_exp, MAX: _leaf_max, SUM_NUMBERS: _leaf_sum_numbers}


def row_reduce(values, lo, n, first_index, shift, running, accumulators, kind, mode):
    """``cpu._eigen_sum`` (``mode`` SUM, or SUM_EXP for ``sum(exp(values - shift))``) or
    ``cpu._eigen_max`` (MAX) of ``values[lo:lo+n]``, a row starting at ``first_index`` in the
    flattened tensor: one leaf, or a tree of them (:func:`_tree_reduce`) above packet * leaf size.

    ``values`` (stored, or compute-dtype values) are only read; ``running`` (compute dtype, as
    long as ``values``, another array) is scratch for the running sums or maxima.  ``mode``
    must be one of the constants.
    """


@overload(row_reduce, prefer_literal=True, inline="always")  # most rows are one leaf: no call per row
def _row_reduce(values, lo, n, first_index, shift, running, accumulators, kind, mode):
    leaf, tree = _LEAVES[mode.literal_value], _TREES[mode.literal_value]

    def reduce(values, lo, n, first_index, shift, running, accumulators, kind, mode):
        lo = np.int64(lo)  # not a literal 0: one compiled leaf for every start
        if n <= packet_size(constant(running, 0.0)) * leaf_size(kind):
            return leaf(values, lo, n, shift, running, accumulators, kind)
        return tree(values, lo, np.int64(n), np.int64(first_index), shift, running, accumulators, kind)

    return reduce


def _tree_reduce(leaf, maximum):
    """The reduction of a row longer than one leaf, compiled for one ``leaf``: split in two and
    the halves' results combined, recursively.  A sum splits on the tensor's packets
    (``cpu._tree_split``: the left half ends at ``P * ceil((first_index + ceil(n / 2)) / P)``)
    and adds ``(0 + left) + right``; the ``maximum`` splits at ``P * ceil(ceil(n / 2) / P)`` into
    the row and takes ``std::max(right, left)``.

    The recursion is written as a loop over an explicit stack (numba's cache does not keep
    recursive functions): ``stage`` 0 descends left, 1 descends right, 2 combines the two.
    (A function per leaf rather than an overload on ``mode``: the inlining of row_reduce types
    its callees twice, and each typing of an overload compiled it again.)
    """

    def tree(values, lo, n, first_index, shift, running, accumulators, kind):
        p = packet_size(constant(running, 0.0))
        limit = p * leaf_size(kind)
        starts, counts, stages = np.empty(64, np.int64), np.empty(64, np.int64), np.zeros(64, np.int64)
        results = scratch(kind, 64)
        depth, done = 0, 0
        starts[0], counts[0], stages[0] = lo, n, 0
        while depth >= 0:
            start, count = starts[depth], counts[depth]
            if count <= limit:
                results[done] = leaf(values, start, count, shift, running, accumulators, kind)
                done += 1
                depth -= 1
                continue
            if maximum:
                split = p * -(-((count + 1) // 2) // p)
            else:
                tensor_index = first_index + start - lo
                split = min(p * -(-(tensor_index + (count + 1) // 2) // p) - tensor_index, count)
            if stages[depth] == 2:  # both halves done
                done -= 1
                left, right = results[done - 1], results[done]
                if maximum:
                    results[done - 1] = left if right < left else right
                else:
                    results[done - 1] = add(add(constant(left, 0.0), left, kind), right, kind)
                depth -= 1
                continue
            child_start = start if stages[depth] == 0 else start + split
            child_count = split if stages[depth] == 0 else count - split
            stages[depth] += 1
            depth += 1
            starts[depth], counts[depth], stages[depth] = child_start, child_count, 0
        return results[0]

    tree.__name__ = tree.__qualname__ = f"tree_of_{leaf.__name__.lstrip('_')}"  # a cache index of its own, as for the leaves
    return jit(tree)


_TREES = {mode: _tree_reduce(leaf, mode == MAX) for mode, leaf in _LEAVES.items()}


# --------------------------------------------------------------------------------------------
# Row ops: _kernels.softmax_cross_entropy, _kernels.sparse_softmax_cross_entropy
#
# ``shifted = x - max(x)`` is never stored: each loop that needs it computes TF's Sub again from
# the stored logits (one rounded op, the same bits each time).


@jit(inline="always")
def _shifted(row, j, m, kind):
    """``shifted[j]``: TF's Sub of the row's maximum from stored logit ``j``."""
    return sub(read(row[j]), m, kind)


@jit_borrowing
def _tensor_exp(logits, r, m, out, size, kind):
    """``out = exp(x - m)`` for row ``r``, as TF's Exp over the whole ``[B, C]`` tensor
    evaluates it: packets up to the tensor's last whole packet, the C library after it (in two
    loops, so that the first vectorises)."""
    wide_vectors()
    row = logits[r]
    classes = row.size
    p = packet_size(constant(out, 0.0))
    packets = min(max(size - size % p - r * classes, 0), classes)
    for j in range(packets):
        out[j] = op(exp(_shifted(row, j, m, kind), True), kind)
    for j in range(packets, classes):
        out[j] = op(exp(_shifted(row, j, m, kind), False), kind)


@jit(inline="always")  # no call per row: that costs more than a short row's arithmetic
def _row_max_and_sum(logits, r, work, accumulators, kind):
    """The start both xent kernels share: row ``r``'s maximum ``m`` and ``sum(exp(x - m))``,
    the exp evaluated inside the sum (``work`` is scratch)."""
    classes = logits.shape[1]
    m = row_reduce(logits[r], 0, classes, r * classes, constant(work, 0.0), work, accumulators, kind, MAX)
    return m, row_reduce(logits[r], 0, classes, r * classes, m, work, accumulators, kind, SUM_EXP)


@jit(inline="always")  # with numbers a constant
def _label_sum(label_row, label_columns, row, r, m, log_sum_exp, work, partial, accumulators, kind, numbers):
    """Row ``r``'s loss ``sum_j z_j * (log_sum_exp - shifted_j)``; with ``numbers`` without the
    NaN steps, which is exact unless the loss is a NaN (a NaN anywhere makes it one).  The product
    keeps the bracket's NaN when both factors are NaNs, as TF's compiled Mul does (see
    :func:`tfloss._kernels.softmax_cross_entropy`)."""
    classes = row.size
    if label_columns:
        for j in range(classes):
            shifted = _minus(read(row[j]), m, kind, numbers)
            work[j] = _times(_minus(log_sum_exp, shifted, kind, numbers), read(label_row[j]), kind, numbers)
    else:  # one label for the whole row
        z = read(label_row[0])
        for j in range(classes):
            work[j] = _times(_minus(log_sum_exp, _minus(read(row[j]), m, kind, numbers), kind, numbers), z, kind, numbers)
    if numbers:
        return row_reduce(work, 0, classes, r * classes, constant(work, 0.0), partial, accumulators, kind, SUM_NUMBERS)
    return row_reduce(work, 0, classes, r * classes, constant(work, 0.0), partial, accumulators, kind, SUM)


@jit
def softmax_cross_entropy(labels, logits, out, backprop, with_backprop, upstream, start, stop):
    """Rows [start, stop) of ``sum_j z_j * (log(sum_k exp(x_k - m)) - (x_j - m))``, ``m = max x``.

    ``labels`` is ``[1 or B, 1 or C]`` and broadcast here; ``backprop = exp(x - m) / sum - z``
    is written only ``with_backprop``, times ``upstream[r]`` when an upstream gradient is given
    (``SoftmaxGradient.backward``'s ``grad_loss * backprop``).  ``log`` runs over the ``[B, 1]``
    sums and the backprop's ``exp`` over the whole ``[B, C]`` tensor: each has its own
    packet/scalar split.
    """
    wide_vectors()
    kind = out.dtype
    batch, classes = logits.shape
    label_rows = 1 if labels.shape[0] > 1 else 0
    label_columns = 1 if labels.shape[1] > 1 else 0
    work, partial, accumulators = scratch(kind, classes), scratch(kind, classes), scratch(kind, (4, 8))
    p = packet_size(constant(work, 0.0))
    size = batch * classes
    for r in range(start, stop):
        m, sum_exp = _row_max_and_sum(logits, r, work, accumulators, kind)
        log_sum_exp = op(log(sum_exp, r < batch - batch % p), kind)
        row, label_row = logits[r], labels[r * label_rows]
        loss = _label_sum(label_row, label_columns, row, r, m, log_sum_exp, work, partial, accumulators, kind, True)
        if loss != loss:  # a NaN appeared: again with x86's choice of NaN
            loss = _label_sum(label_row, label_columns, row, r, m, log_sum_exp, work, partial, accumulators, kind, False)
        out[r] = store(loss, kind)
        if with_backprop:
            _tensor_exp(logits, r, m, work, size, kind)
            g = widen(upstream[r]) if upstream.size else constant(work, 1.0)  # 1 * b is b, to the bit
            backprop_row = backprop[r]
            if label_columns:
                for j in range(classes):
                    backprop_row[j] = store(mul(g, sub(div(work[j], sum_exp, kind), read(label_row[j]), kind), kind), kind)
            else:
                z = read(label_row[0])
                for j in range(classes):
                    backprop_row[j] = store(mul(g, sub(div(work[j], sum_exp, kind), z, kind), kind), kind)


@jit
def sparse_softmax_cross_entropy(labels, logits, out, backprop, with_backprop, upstream, start, stop):
    """Rows [start, stop) of ``log(sum_k exp(x_k - m)) - (x_y - m)`` for class index ``y``.

    Labels are already checked to lie in ``[0, classes)``.  The row's ``log`` is the C
    library's (the kernel's loss generator calls it one element at a time); ``backprop =
    exp(x - m) / sum - onehot(y)`` is written only ``with_backprop``, times ``upstream[r]`` when
    an upstream gradient is given (``SparseGradient.backward``'s ``grad_loss * backprop``).
    """
    wide_vectors()
    kind = out.dtype
    batch, classes = logits.shape
    work, accumulators = scratch(kind, classes), scratch(kind, (4, 8))
    size = batch * classes
    for r in range(start, stop):
        m, sum_exp = _row_max_and_sum(logits, r, work, accumulators, kind)
        label = labels[r]
        out[r] = store(sub(op(log(sum_exp, False), kind), _shifted(logits[r], label, m, kind), kind), kind)
        if with_backprop:
            _tensor_exp(logits, r, m, work, size, kind)
            g = widen(upstream[r]) if upstream.size else constant(work, 1.0)  # 1 * b is b, to the bit
            backprop_row = backprop[r]
            for j in range(classes):
                probability = div(work[j], sum_exp, kind)
                if j == label:
                    probability = sub(probability, constant(probability, 1.0), kind)
                backprop_row[j] = store(mul(g, probability, kind), kind)


# --------------------------------------------------------------------------------------------
# Gradients: _gradients.SigmoidGradient.backward, one element at a time
#
# Each gradient's Reciprocal of ``1 + e`` (``e = exp(-|x|)``) is an argument, ``inverse``: the
# loops compute the ``*_denominator`` of a block of elements, their reciprocals
# (``_eigen.reciprocal``; float32's is the CPU's rcpps, a scalar instruction to numba, which would
# keep the whole loop from being vectorised), and then the gradients.


@jit(inline="always")
def _sigmoid_exp_neg_abs(x, kind, packet):
    """``exp(-|x|)`` of a read ``x``, with ``-|x|`` from ``x >= 0`` as the sigmoid loss forms it."""
    return op(exp(-x if x >= constant(x, 0.0) else x, packet), kind)


@jit(inline="always")
def sigmoid_grad_denominator(x, kind, packet):
    """``1 + exp(-|x|)`` of stored ``x``, whose Reciprocal :func:`sigmoid_cross_entropy_grad` takes."""
    x = read(x)
    return add(constant(x, 1.0), _sigmoid_exp_neg_abs(x, kind, packet), kind)


@jit(inline="always")
def sigmoid_cross_entropy_grad(z, x, g, kind, packet, inverse):
    """``(d/dlabels, d/dlogits)`` of element ``i`` as TF's tape chains the forward ops' gradients:
    ``d/dx = where(x >= 0, g, 0) + (-g)*z - where(x >= 0, g/(1+e)*e, 0) + where(x >= 0, 0, g/(1+e)*e)``
    with ``e = exp(-|x|)``, and ``d/dz = (-g) * x`` (``SigmoidGradient.backward``); ``inverse``
    is TF's Reciprocal of :func:`sigmoid_grad_denominator`."""
    x, z, g = read(x), read(z), widen(g)  # the upstream gradient is not read as an input (no DAZ)
    zero = constant(x, 0.0)
    cond = x >= zero
    exp_neg_abs = _sigmoid_exp_neg_abs(x, kind, packet)
    grad_product = -g
    from_product = mul(grad_product, z, kind)
    from_relu = g if cond else zero
    grad_neg_abs = mul(mul(g, inverse, kind), exp_neg_abs, kind)
    from_negated = -(grad_neg_abs if cond else zero)
    from_unnegated = zero if cond else grad_neg_abs
    grad_logits = add(add(add(from_relu, from_product, kind), from_negated, kind), from_unnegated, kind)
    return store(mul(grad_product, x, kind), kind), store(grad_logits, kind)


@jit(inline="always")
def _sign(x):
    """Eigen's sign, as ``_gradients._sign`` stores it: -1, +0 or 1, and the plain NaN for a NaN."""
    one = constant(x, 1.0)
    if x > constant(x, 0.0):
        return one
    if x < constant(x, 0.0):
        return -one
    return constant(x, np.nan) if x != x else constant(x, 0.0)


@jit(inline="always")
def weighted_grad_denominator(x, kind, packet):
    """``1 + exp(-|x|)`` of stored ``x``, whose Reciprocal :func:`weighted_cross_entropy_grad` takes."""
    x = read(x)
    return add(constant(x, 1.0), op(exp(-abs(x), packet), kind), kind)


@jit(inline="always")
def weighted_cross_entropy_grad(z, x, q1, g, kind, packet, unrolled, inverse):
    """``(d/dlabels, d/dlogits)`` of one element, the ops of ``WeightedGradient.backward`` for
    same-shape tensors: with ``l = 1 + (q - 1)*z`` and ``s = log1p(e) + relu(-x)``,
    ``e = exp(-|x|)``: ``d/dx = (g*(1 - z) - (l*g)*[relu(-x) > 0]) + (-(l*g)/(1+e)*e) * sign(x)``
    and ``d/dz = -(g*x) + (q - 1)*(g*s)``; ``inverse`` is TF's Reciprocal of
    :func:`weighted_grad_denominator`."""
    x, z, q1, g = read(x), read(z), read(q1), widen(g)  # the upstream gradient is not read as an input
    zero, one = constant(x, 0.0), constant(x, 1.0)
    log_weight = add(one, mul(q1, z, kind), kind)
    complement = sub(one, z, kind)
    exp_neg_abs = op(exp(-abs(x), packet), kind)
    neg_logits = -x
    relu_neg_logits = neg_logits if (neg_logits > zero or neg_logits != neg_logits) else zero
    softplus = add(op(log1p(exp_neg_abs, packet, unrolled), kind), relu_neg_logits, kind)
    from_linear = mul(g, complement, kind)
    grad_complement = mul(g, x, kind)
    grad_softplus = mul(log_weight, g, kind)
    grad_log_weight = mul(g, softplus, kind)
    from_relu = -mul(grad_softplus, one if relu_neg_logits > zero else zero, kind)
    grad_neg_abs = mul(mul(grad_softplus, inverse, kind), exp_neg_abs, kind)
    from_abs = mul(-grad_neg_abs, _sign(x), kind)
    grad_logits = add(add(from_linear, from_relu, kind), from_abs, kind)
    grad_labels = add(-grad_complement, mul(q1, grad_log_weight, kind), kind)
    return store(grad_labels, kind), store(grad_logits, kind)


@jit
def log_softmax(logits, out, upstream, start, stop):
    """Rows [start, stop) of ``_tf_math_ops.log_softmax``: ``shifted - log(sum(exp(shifted)))``,
    ``shifted = x - max(x)``, with ``exp`` evaluated inside the row sum as in the xent kernels
    (Eigen's LogSoftmax kernel reduces ``exp(shifted)``) and ``log`` over the ``[B, 1]`` sums.
    With an ``upstream`` gradient, ``upstream[r] * -log_softmax`` (the softmax labels' gradient
    in ``SoftmaxGradient.backward``: Neg, then Mul)."""
    wide_vectors()
    kind = out.dtype
    batch, classes = logits.shape
    work, accumulators = scratch(kind, classes), scratch(kind, (4, 8))
    p = packet_size(constant(work, 0.0))
    for r in range(start, stop):
        m, sum_exp = _row_max_and_sum(logits, r, work, accumulators, kind)
        log_sum_exp = op(log(sum_exp, r < batch - batch % p), kind)
        row, out_row = logits[r], out[r]
        if upstream.size:
            g = widen(upstream[r])
            for j in range(classes):
                out_row[j] = store(mul(g, -sub(_shifted(row, j, m, kind), log_sum_exp, kind), kind), kind)
        else:
            for j in range(classes):
                out_row[j] = store(sub(_shifted(row, j, m, kind), log_sum_exp, kind), kind)
