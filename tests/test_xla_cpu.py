"""The ``"xla-cpu"`` target against real TF runs under ``tf.function(jit_compile=True)``
(``python -m parity.record_xla`` wrote ``tests/data/xla_cpu_tf2.21.0.*``), and the XLA quirks of
docs/quirks.md ("What changes when you turn on jit_compile"), each pinned by a test named after it.
"""

from __future__ import annotations


import ml_dtypes
import numpy as np
import pytest

from tests.recorded import Recording, bits as _bits

import tfloss
from tfloss._targets import xla_cpu, xla_math

_RECORDING = Recording("xla_cpu_tf2.21.0")  # recorded on a Sapphire Rapids (AVX512-FP16)
RECORD, CASES = _RECORDING.record, _RECORDING.cases
FORWARD = [name for name, case in CASES.items() if not case["wrt"]]
GRADIENT = [name for name, case in CASES.items() if case["wrt"]]
# The float16 cases again, recorded on an EPYC (Zen 4: no AVX512-FP16)
_NO_FP16 = Recording("xla_cpu_float16_no_fp16_tf2.21.0")
# float32 softmax losses on either side of 32768 logits, recorded on an AMD EPYC (AVX2)
_YNN = Recording("xla_cpu_ynn_tf2.21.0")
# The sparse op's bfloat16 gradients, recorded on an AMD EPYC (AVX2)
_BF16_GRAD = Recording("xla_cpu_bfloat16_grad_tf2.21.0")
# The weighted op's gradients with a tensor pos_weight, recorded on an AMD EPYC (AVX2, no AVX512-FP16)
_PW_GRAD = Recording("xla_cpu_pos_weight_grad_tf2.21.0")
_PW_REFUSED = "grad_weighted_pw_vectorized_float32"


_array, _kwargs = _RECORDING.array, _RECORDING.kwargs


@pytest.fixture(autouse=True)
def _recording_cpu(x86_cpu):
    """The CPU the main recording was made on; the float16 tests without AVX512-FP16 switch."""
    x86_cpu("sapphire-rapids")


def _loss(name):
    case = CASES[name]
    with tfloss.target("xla-cpu"):
        return getattr(tfloss.nn, case["op"])(**_kwargs(case))


def _replay(recording, name):
    """``(loss, gradients)`` of a recorded case under the xla-cpu target (``{}`` for a forward
    case), with the recorded upstream gradient."""
    case = recording.cases[name]
    op, kwargs = getattr(tfloss.nn, case["op"]), recording.kwargs(case)
    with tfloss.target("xla-cpu"):
        if not case["wrt"]:
            return op(**kwargs), {}
        upstream = recording.array(case["grad_loss"]) if "grad_loss" in case else None
        return tfloss.value_and_gradient(op, grad_loss=upstream, **kwargs)


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _same_bits(a, b) -> np.ndarray:
    """Elementwise: the same bits, or both NaN."""
    a, b = np.asarray(a), np.asarray(b)
    uint = _UINT[a.dtype.itemsize]
    return (a.view(uint) == b.view(uint)) | (np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64)))


# --------------------------------------------------------------------------------------------
# Every recorded case, bit for bit (NaNs compared as NaN)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORWARD)
def test_xla_matches_recorded_tf(name):
    case = CASES[name]
    if "error" in case:
        with pytest.raises(Exception) as caught:
            _loss(name)
        assert [type(caught.value).__name__, str(caught.value)] == case["error"]
        return
    got, want = _loss(name), _array(case["loss"])
    assert got.dtype == want.dtype and got.shape == want.shape
    assert _same_bits(got, want).all()


@pytest.mark.parametrize("name", GRADIENT)
def test_xla_gradient_matches_recorded_tf(name):
    case = CASES[name]
    loss, grads = _replay(_RECORDING, name)
    assert _same_bits(loss, _array(case["loss"])).all()
    for key in case["wrt"]:
        want = _array(case[f"grad_{key}"])
        assert grads[key].dtype == want.dtype and _same_bits(grads[key], want).all(), key


@pytest.mark.parametrize("name", [case["name"] for case in _NO_FP16.record["cases"]])
def test_xla_float16_without_avx512_fp16_matches_recorded_tf(name, x86_cpu):
    x86_cpu("zen4")
    assert "avx512_fp16" not in _NO_FP16.record["cpu_features"]
    case = _NO_FP16.cases[name]
    loss, grads = _replay(_NO_FP16, name)
    want = _NO_FP16.array(case["loss"])
    assert loss.dtype == want.dtype and _same_bits(loss, want).all()
    for key in case["wrt"]:
        assert _same_bits(grads[key], _NO_FP16.array(case[f"grad_{key}"])).all(), key


# --------------------------------------------------------------------------------------------
# The quirks, one test each
# --------------------------------------------------------------------------------------------


def test_xla_float16_multiply_adds_are_fused_only_with_avx512_fp16(x86_cpu):
    # The same float16 inputs, recorded by TF on both kinds of CPU: the results differ, and each
    # CPU's is reproduced only with its own rule (fused on the Sapphire Rapids, not on the EPYC).
    case = _NO_FP16.cases["weighted_float16_cancelling"]
    z, x = (_NO_FP16.array(case["inputs"][k]) for k in ("labels", "logits"))
    epyc = _NO_FP16.array(case["loss"])
    assert (epyc == 0).all()  # nothing fused: the two products cancel as in eager TF
    assert _bits(_NO_FP16.array(_NO_FP16.cases["sigmoid_float16"]["loss"])) != _bits(_array(CASES["sigmoid_float16"]["loss"]))
    for cpu, fused in (("zen4", False), ("sapphire-rapids", True)):
        x86_cpu(cpu)
        assert xla_cpu.Arithmetic(np.float16).fused is fused
        with tfloss.target("xla-cpu"):
            got = tfloss.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=0.0)
        assert bool((got == 0).all()) == (not fused), cpu


def test_xla_dense_zero_label_skips_minus_inf_logit():
    assert _loss("dense_zero_label_at_minus_inf").tolist() == [np.float32(1.3132616)]
    assert np.isnan(tfloss.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0.0, 0.0]], logits=[[0.0, -np.inf, 1.0]]))


def test_xla_sparse_out_of_range_label_gives_nan_row_not_error():
    loss = _loss("sparse_label_too_large")
    assert np.isnan(loss[1]) and loss[0] == loss[2] == np.float32(np.log(2))
    assert np.isnan(_loss("sparse_label_negative")[1])
    with pytest.raises(tfloss.errors.InvalidArgumentError, match="Received a label value of 2"):
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 2, 0], logits=np.zeros((3, 2), np.float32))


def test_xla_sparse_bad_label_gradient_row_is_nan():
    case = CASES["grad_sparse_bad_label"]
    with tfloss.target("xla-cpu"):
        _, grads = tfloss.value_and_gradient(tfloss.nn.sparse_softmax_cross_entropy_with_logits, **_kwargs(case))
    assert np.isnan(grads["logits"][1]).all() and np.isfinite(grads["logits"][[0, 2]]).all()


def test_xla_one_class_loss_keeps_negative_zero():
    # A reduction over one element is the element: -label * 0.0 stays -0.0 (eager: +0.0).
    for name in ("dense_one_class", "sparse_one_class"):
        loss = _loss(name)
        assert (loss == 0).all() and np.signbit(loss).all(), name
    eager = tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[2.0]])
    assert eager == 0 and not np.signbit(eager).any()


def test_xla_weighted_loss_that_cancels_to_zero_is_not_zero():
    # (On a CPU with AVX512-FP16.) pos_weight = 0 and a very negative x: (1 - z)*x + (1 - z)*(-x) cancels exactly in eager
    # TF; XLA fuses the first product into the add, so its rounding is missing and a residue
    # of the second product's rounding remains.
    z = np.float16([0.3, 0.7])
    x = np.float16([-20.0, -13.0])
    eager = tfloss.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=0.0)
    assert (eager == 0).all()
    with tfloss.target("xla-cpu"):
        xla = tfloss.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=0.0)
    assert (xla != 0).all()
    a = xla_cpu.Arithmetic(np.float16)
    log_weight = a.fma(np.float16(-1), z, np.float16(1))
    softplus = a.add(a.log1p(a.exp(-np.abs(x))), np.maximum(-x, np.float16(0)))
    fused = a.fma(a.sub(np.float16(1), z), x, a.mul(log_weight, softplus))
    unfused = a.add(a.mul(a.sub(np.float16(1), z), x), a.mul(log_weight, softplus))
    assert _bits(xla) == _bits(fused)
    assert (unfused != fused).any()


def test_xla_sigmoid_fuses_the_product_into_one_fma():
    # Known from TF: XLA's sigmoid loss is fma(-x, z, relu(x)) + log1p(exp(-|x|)).
    case = CASES["sigmoid_float32"]
    z, x = _array(case["inputs"]["labels"]), _array(case["inputs"]["logits"])
    want = _array(case["loss"])
    a = xla_cpu.Arithmetic(np.float32)
    tail = a.log1p(a.exp(-np.abs(x)))
    relu = np.maximum(x, np.float32(0))
    fused = a.add(a.fma(-x, z, relu), tail)
    unfused = a.add(a.sub(relu, a.mul(x, z)), tail)
    assert _bits(fused) == _bits(want)
    assert (unfused != want).sum() > 0


def test_xla_fma_is_correctly_rounded():
    # Closed form: 1 + 2**-30 times itself, minus 1, is 2**-29 + 2**-60 exactly (one rounding).
    for dtype, eps in ((np.float32, 2.0 ** -13), (np.float64, 2.0 ** -30)):
        x = np.array([1 + eps], dtype)
        got = xla_math.fma(x, x, np.array([-1.0], dtype))
        assert got[0] == dtype(2 * eps + eps * eps)
        assert (x * x - 1)[0] != got[0]  # two roundings lose the eps**2


def test_xla_fma_keeps_the_sign_of_a_zero_result():
    for dtype in (np.float32, np.float64):
        minus_zero = xla_math.fma(np.array([2.0], dtype), np.array([-0.0], dtype), np.array([-0.0], dtype))
        assert minus_zero[0] == 0 and np.signbit(minus_zero[0])
        assert not np.signbit(xla_math.fma(np.array([2.0], dtype), np.array([-0.0], dtype), np.array([0.0], dtype))[0])


def test_xla_exp_float32_is_cephes_not_eigen():
    # XLA's exp differs from Eigen's (eager) in the last bit on some inputs; both are within 1 ulp.
    x = np.linspace(-80, 80, 20001, dtype=np.float32)
    with tfloss.target("xla-cpu"):
        xla = xla_math.exp(x)
    eager = tfloss._machine.eigen_math.exp(x)
    assert (xla != eager).any()
    assert np.all(np.abs(xla.astype(np.float64) / np.exp(x.astype(np.float64)) - 1) < 2.5e-7)


def test_xla_sums_rows_in_windows_of_32():
    # Rows over 32 classes are summed as windows of 32 (padded on both sides) and then the windows.
    values = np.float32([[1.0] + [2.0 ** -24] * 36])
    a = xla_cpu.Arithmetic(np.float32)
    # Padding 13 | 14: the first window holds 1.0 and 18 terms (each lost), the second the other
    # 18, summed exactly; then 1.0 + 18 * 2**-24.
    assert xla_cpu.row_sum(values, a)[0] == np.float32(1.0 + 18 * 2.0 ** -24)
    sequential = np.float32(1.0)
    for v in values[0, 1:]:
        sequential = np.float32(sequential + v)
    assert sequential == np.float32(1.0)  # one by one, each 2**-24 is lost
    for name in ("dense_float32_16x37", "dense_float32_6x100", "sparse_float32_6x100"):
        assert _bits(_loss(name)) == _bits(_array(CASES[name]["loss"])), name


def test_xla_large_float32_row_sums_are_ynnpacks(monkeypatch):
    # From 32768 logits on, XLA stores the exponentials and hands their row sums to YNNPACK
    # (16 lanes, folded as 4 vectors of 4); below, its own loop fuses exp's last multiply into the
    # sum.  TF's losses and gradient are replayed bit for bit on both sides of the threshold.
    assert _YNN.record["tensorflow"] == "2.21.0"
    for name, case in _YNN.cases.items():
        loss, grads = _replay(_YNN, name)
        want = _YNN.array(case["loss"])
        assert loss.dtype == want.dtype and _same_bits(loss, want).all(), name
        for key in case["wrt"]:
            assert _same_bits(grads[key], _YNN.array(case[f"grad_{key}"])).all(), (name, key)
    # The threshold matters: summing the 32773-logit case in XLA's loop instead misses TF's bits.
    monkeypatch.setattr(xla_cpu, "YNN_MIN_ELEMENTS", 10 ** 9)
    name = "ynn_sparse_float32_2521x13"
    assert not _same_bits(_replay(_YNN, name)[0], _YNN.array(_YNN.cases[name]["loss"])).all()


@pytest.mark.parametrize("name", sorted(_BF16_GRAD.cases))
def test_xla_bfloat16_sparse_gradient_rounds_the_exponentials_and_their_sum(name):
    # The forward pass sums float32 exponentials unrounded; the backprop divides the two rounded
    # to bfloat16, and rounds every op after that (NaN rows for a bad label compared as NaN).
    case = _BF16_GRAD.cases[name]
    loss, grads = _replay(_BF16_GRAD, name)
    want_loss, want_grad = _BF16_GRAD.array(case["loss"]), _BF16_GRAD.array(case["grad_logits"])
    assert loss.dtype == want_loss.dtype and _same_bits(loss, want_loss).all()
    assert grads["logits"].dtype == want_grad.dtype == ml_dtypes.bfloat16 and grads["logits"].shape == want_grad.shape
    assert _same_bits(grads["logits"], want_grad).all()


@pytest.mark.parametrize("name", sorted(set(_PW_GRAD.cases) - {_PW_REFUSED}))
def test_xla_tensor_pos_weight_gradient_sums_the_fused_products_over_its_broadcast_axes(name, x86_cpu):
    # d/dpos_weight = sum(g * softplus * z) over the broadcast axes: one accumulator, each product
    # fused into it (float32 for 16-bit types, a bfloat16 product unrounded), XLA's windows of 32
    # for 40 rows; d/dlogits fuses the linear term's product where relu(-x) > 0.
    assert "avx512_fp16" not in _PW_GRAD.record["cpu_features"]
    x86_cpu("zen4")  # the recording CPU's kind: float16 multiply-adds not fused
    case = _PW_GRAD.cases[name]
    loss, grads = _replay(_PW_GRAD, name)
    want = _PW_GRAD.array(case["loss"])
    assert loss.dtype == want.dtype and _same_bits(loss, want).all()
    for key in case["wrt"]:
        want = _PW_GRAD.array(case[f"grad_{key}"])
        got = grads[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert _same_bits(got, want).all(), key


def test_xla_tensor_pos_weight_gradient_refuses_a_vectorized_float32_sum():
    # 27 float32 rows: LLVM splits XLA's reduce loop into vector lanes, and summing the fused
    # products in order misses TF's bits, so tfloss refuses instead of guessing.
    case = _PW_GRAD.cases[_PW_REFUSED]
    with pytest.raises(NotImplementedError, match="tensor|pos_weight"):
        _replay(_PW_GRAD, _PW_REFUSED)
    kwargs = _PW_GRAD.kwargs(case)
    assert not xla_cpu.reproduces_broadcast_sum(kwargs["pos_weight"].shape, kwargs["logits"].shape, np.float32)
    *_, in_order = xla_cpu.weighted_cross_entropy_grad_pos_weight(
        *xla_cpu.stored(kwargs["labels"], kwargs["logits"], kwargs["pos_weight"], _PW_GRAD.array(case["grad_loss"])))
    assert not _same_bits(in_order, _PW_GRAD.array(case["grad_pos_weight"])).all()


def test_xla_ynn_row_sum_order():
    # 16 lanes from +0, then (v0 + v1) + (v2 + v3) over four vectors of 4, then (l0 + l1) + (l2 + l3).
    a = xla_cpu.Arithmetic(np.float32)
    big, tiny = np.float32(2.0 ** 24), np.float32(1.0)
    row = np.zeros((1, 17), np.float32)
    row[0, 0], row[0, 16], row[0, 1] = big, tiny, tiny  # lane 0: 2**24 + 1 rounds to 2**24 (ties to even)
    assert xla_cpu.ynn_row_sum(row, a)[0] == big  # lane 0 lost its 1; lane 1's 1 is lost against 2**24
    row[0, 16] = 0
    row[0, 5] = tiny  # lanes 1 and 5 meet in (v0 + v1) before lane 0's 2**24: their 2 survives
    assert np.float32(np.float32(big + tiny) + tiny) == big  # added one by one, both would be lost
    assert xla_cpu.ynn_row_sum(row, a)[0] == big + 2
    assert xla_cpu.ynn_row_sum(np.full((1, 3), -0.0, np.float32), a)[0] == 0  # the initial +0 is added
    assert not np.signbit(xla_cpu.ynn_row_sum(np.full((1, 3), -0.0, np.float32), a)[0])


def test_xla_float32_subnormal_inputs_read_as_zero():
    loss = _loss("sigmoid_subnormal_float32")
    assert _bits(loss) == _bits(_array(CASES["sigmoid_subnormal_float32"]["loss"]))
    assert loss[0] == np.float32(np.log(2))  # logits 1e-39 is 0: log1p(exp(0))


def test_xla_float16_keeps_subnormals():
    case = CASES["sigmoid_subnormal_float16"]
    z, x = (_array(case["inputs"][k]) for k in ("labels", "logits"))
    assert (np.abs(x) < np.finfo(np.float16).tiny).any()
    assert _bits(_loss("sigmoid_subnormal_float16")) == _bits(_array(case["loss"]))


def test_xla_zero_classes_error_is_raised_at_compile_time():
    with tfloss.target("xla-cpu"), pytest.raises(tfloss.errors.InvalidArgumentError) as caught:
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 0], logits=np.zeros((2, 0), np.float32))
    assert str(caught.value) == "Must have at least one class, but got logits shape [2,0]"


@pytest.mark.parametrize("call", [
    lambda: tfloss.nn.softmax([[1.0, 2.0]]),
    lambda: tfloss.keras.losses.binary_crossentropy([[1.0]], [[0.3]]),
    lambda: tfloss.keras.losses.categorical_crossentropy(np.array([[0.0, 1.0]]), np.array([[1.0, 2.0]]), from_logits=True),
    lambda: tfloss.keras.losses.sparse_categorical_crossentropy(np.array([0]), np.array([[1.0, 2.0]]), from_logits=True),
    lambda: tfloss.compat.v1.losses.sigmoid_cross_entropy([[1.0]], [[0.0]]),
    lambda: tfloss.hessian_vector_product(tfloss.nn.sigmoid_cross_entropy_with_logits, [1.0], labels=[0.0], logits=[1.0]),
    # a float32 pos_weight's gradient summed over 27 rows, which XLA's vectorized loop reorders
    lambda: tfloss.value_and_gradient(tfloss.nn.weighted_cross_entropy_with_logits, labels=np.zeros((27, 3), np.float32),
                                      logits=np.zeros((27, 3), np.float32), pos_weight=np.ones(3, np.float32)),
])
def test_xla_unreproduced_functions_raise(call):
    with tfloss.target("xla-cpu"), pytest.raises(NotImplementedError, match="xla-cpu"):
        call()


def test_xla_fma_is_correctly_rounded_near_the_largest_float64():
    # Dekker's split overflows above about 1.3e300 and the error-free sums near 1.8e308; the
    # residue of (1 - z) * x + round((1 - z) * -x) must survive (the weighted loss at
    # pos_weight = 0 and x = -max, where TF's XLA gives about 1e290, not 0). Expected values from
    # mpmath at 3000 bits.
    import mpmath

    mpmath.mp.prec = 3000
    rng = np.random.default_rng(7)
    with np.errstate(all="ignore"):
        a = rng.uniform(-1, 1, 300) * 10.0 ** rng.uniform(250, 308.25, 300)
        b = rng.uniform(-1, 1, 300) * 10.0 ** rng.uniform(-8, 0.2, 300)
        c = -(a * b) * (1 + rng.uniform(-1e-15, 1e-15, 300))
    c[::4] = rng.uniform(-1, 1, 75) * 10.0 ** rng.uniform(-320, 300, 75)
    got = xla_math.fma(a, b, c)
    for i in range(a.size):
        exact = mpmath.mpf(a[i]) * mpmath.mpf(b[i]) + mpmath.mpf(c[i])
        want = float(exact) if np.isfinite(c[i]) else c[i]
        if abs(want) < np.finfo(np.float64).tiny:
            want = np.copysign(0.0, want)
        assert got[i] == want, (a[i], b[i], c[i], got[i], want)
    z = np.float64([0.5364909])
    residue = xla_math.fma(1 - z, np.float64([-1.7976931348623157e308]), (1 - z) * 1.7976931348623157e308)
    assert residue[0] != 0 and abs(residue[0]) < 1e293


def test_xla_fma_of_finite_factors_and_an_infinite_addend_is_the_addend():
    # The product is exact inside an FMA, so an overflow there cannot meet the infinity.
    big = np.float64([1e308])
    assert xla_math.fma(big, np.float64([10.0]), np.float64([-np.inf]))[0] == -np.inf
    assert xla_math.fma(big, np.float64([-10.0]), np.float64([np.inf]))[0] == np.inf


def test_xla_sigmoid_gradient_of_one_element_flushes_the_subnormal_label_gradient():
    # Measured with TF 2.21 (tf.function(jit_compile=True), unit upstream, labels 0, logits
    # 5.877472e-39): d/dlabels is -0.0 for shapes (), (1,) and (1, 1, 1, 1), where XLA multiplies
    # by -1 and flushes; -5.877472e-39 for (2,), (3,), (8,), (3, 5) and (17,), where -1 * x is
    # folded into a negation, which keeps the subnormal.
    for shape, want in (((), -0.0), ((1,), -0.0), ((1, 1, 1, 1), -0.0), ((2,), -5.877472e-39), ((3, 5), -5.877472e-39)):
        x = np.full(shape, 5.877472e-39, np.float32)
        with tfloss.target("xla-cpu"):
            _, grads = tfloss.value_and_gradient(tfloss.nn.sigmoid_cross_entropy_with_logits,
                                                 labels=np.zeros(shape, np.float32), logits=x)
        got = grads["labels"].reshape(-1)
        assert (_bits(got) == _bits(np.full(got.shape, want, np.float32))), (shape, got)
    # bfloat16 computes in float32 without the flush: one element keeps its subnormal too (TF
    # 2.21's XLA gave -9.18355e-41 for the catalogue's sigmoid/bfloat16/scalar/tiny).
    x = np.array(9.18355e-41, ml_dtypes.bfloat16)
    with tfloss.target("xla-cpu"):
        _, grads = tfloss.value_and_gradient(tfloss.nn.sigmoid_cross_entropy_with_logits,
                                             labels=np.array(0, ml_dtypes.bfloat16), logits=x)
    assert _bits(grads["labels"]) == _bits(-x)


def test_xla_weighted_label_gradient_at_pos_weight_zero_fuses_the_softplus_product():
    # Measured with TF 2.21 (tf.function(jit_compile=True), pos_weight=0.0, these upstream
    # gradients): XLA folds q1 = -1 into g * (-softplus) and fuses that product into the add
    # onto -(g * x), leaving the rounding residue of g * x. Fusing g * x instead flips the sign.
    x = np.float32([-3.4028235e38, -1.8203876e09])
    z = np.float32([0.9998793, 0.19327208])
    g = np.float32([-0.53121465, -0.70110875])
    with tfloss.target("xla-cpu"):
        _, grads = tfloss.value_and_gradient(tfloss.nn.weighted_cross_entropy_with_logits, labels=z, logits=x,
                                             pos_weight=0.0, grad_loss=g)
    assert _bits(grads["labels"]) == _bits(np.float32([9.5080964e30, 6.2349396]))
    assert _bits(grads["logits"]) == _bits(np.float32([0.0, 0.0]))
