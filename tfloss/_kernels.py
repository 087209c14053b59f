"""The math: one short function per op, in TensorFlow's order of operations.

Each kernel receives :class:`~tfloss._machine.cpu.CpuTensor` values that have already been converted and
validated (see :mod:`tfloss._frontend.convert`) and returns ``CpuTensor`` results.  Every ``+ - * /``,
``exp`` and ``log`` below is one TensorFlow CPU op, rounded as TF rounds it; read them as plain
arithmetic.  (``exp_in_row_sum`` and ``scalar_log`` are ``exp`` and ``log`` too: they only say
where Eigen evaluates them, which decides the last bit.)  Notation: ``x`` = logits, ``z`` = labels, ``q`` = pos_weight.
"""

from __future__ import annotations

import numpy as np

from ._machine.cpu import (
    CpuTensor,
    abs,
    exp,
    exp_in_row_sum,
    log,
    log1p,
    reduce_max,
    reduce_sum,
    relu,
    scalar_log,
    where,
    zeros_like,
)


def sigmoid_cross_entropy(labels: CpuTensor, logits: CpuTensor) -> CpuTensor:
    """Logistic loss ``max(x, 0) - x*z + log(1 + exp(-|x|))``, elementwise.

    The textbook form ``-z*log(sigmoid(x)) - (1-z)*log(1-sigmoid(x))`` simplifies to
    ``x - x*z + log(1 + exp(-x))``, which overflows in ``exp(-x)`` for very negative ``x``.
    Rewriting ``log(1 + exp(-x)) = -x + log(1 + exp(x))`` for ``x < 0`` and merging both branches
    gives a form whose ``exp`` argument is never positive.  TF builds ``max`` and ``-|x|`` from
    one ``x >= 0`` condition (so the gradient at 0 is one-sided, ``sigmoid(0) - z``).
    """
    zeros = zeros_like(logits)
    cond = logits >= zeros
    relu_logits = where(cond, logits, zeros)
    neg_abs_logits = where(cond, -logits, logits)
    return (relu_logits - logits * labels) + log1p(exp(neg_abs_logits))


def weighted_cross_entropy(labels: CpuTensor, logits: CpuTensor, pos_weight_minus_one: CpuTensor) -> CpuTensor:
    """Weighted logistic loss ``(1 - z)*x + (1 + (q - 1)*z) * (log(1 + exp(-|x|)) + max(-x, 0))``.

    The positive term ``q*z*log(1 + exp(-x))`` is scaled by ``q``; collecting terms gives
    ``(1 - z)*x + l*log(1 + exp(-x))`` with ``l = 1 + (q - 1)*z``, and the same ``x < 0``
    rewrite as the sigmoid loss makes it stable.  TF computes ``q - 1`` before the tensors
    exist (in Python's double for a Python scalar), so it arrives here already subtracted.
    """
    log_weight = 1 + pos_weight_minus_one * labels
    return (1 - labels) * logits + log_weight * (log1p(exp(-abs(logits))) + relu(-logits))


def softmax_cross_entropy(labels: CpuTensor, logits: CpuTensor) -> tuple[CpuTensor, CpuTensor]:
    """Row-wise ``sum_j z_j * (log(sum_k exp(x_k - m)) - (x_j - m))`` with ``m = max_k x_k``.

    ``-sum(z * log(softmax(x)))`` written with the log-sum-exp trick: subtracting the row
    maximum ``m`` leaves softmax unchanged and keeps every ``exp`` argument at or below 0, so
    the sum cannot overflow and contains at least one term equal to 1.

    ``labels`` and ``logits`` are 2-D ``[batch, classes]`` and broadcast against each other
    (``[1, C]``, ``[B, 1]`` labels are allowed, as TF's kernel allows them).  Also returns the
    kernel's second output, ``backprop = softmax(x) - z``, which TF's gradient uses as is.
    """
    labels, logits = (CpuTensor(v) for v in np.broadcast_arrays(labels.value, logits.value))
    max_logits = reduce_max(logits, axis=1, keepdims=True)
    shifted_logits = logits - max_logits
    sum_exp = reduce_sum(exp_in_row_sum(shifted_logits), axis=1, keepdims=True)
    # labels * (log(sum_exp) - shifted_logits), written with the bracket first: where both are
    # NaNs, TF's compiled Mul keeps the bracket's NaN (measured), and x86's rule keeps the first's.
    loss = reduce_sum((log(sum_exp) - shifted_logits) * labels, axis=1)
    backprop = exp(shifted_logits) / sum_exp - labels
    return loss, backprop


def sparse_softmax_cross_entropy(labels: np.ndarray, logits: CpuTensor) -> tuple[CpuTensor, CpuTensor]:
    """Row-wise ``log(sum_k exp(x_k - m)) - (x_y - m)`` for class index ``y``, ``m = max_k x_k``.

    The softmax loss with a one-hot label: only the labelled class's term survives, so no
    ``0 * inf`` can appear for the other classes (a ``-inf`` logit elsewhere is harmless).
    ``labels`` are int32/int64 indices already checked to lie in ``[0, classes)``; ``logits``
    is ``[batch, classes]``.  Also returns ``backprop = softmax(x) - onehot(y)``.
    """
    rows = np.arange(logits.shape[0])
    max_logits = reduce_max(logits, axis=1, keepdims=True)
    shifted_logits = logits - max_logits
    sum_exp = reduce_sum(exp_in_row_sum(shifted_logits), axis=1, keepdims=True)
    loss = scalar_log(sum_exp)[:, 0] - shifted_logits[rows, labels]
    backprop = exp(shifted_logits) / sum_exp
    backprop.value[rows, labels] = (backprop[rows, labels] - 1).value
    return loss, backprop
