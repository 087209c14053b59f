"""The compiled engine gives the NumPy path's bits: conversions, math, and every catalogue case.

The NumPy path (:mod:`tfloss._kernels` on :mod:`tfloss._machine.cpu`) is the reference that the parity
suite holds to TF's bits; here the engine (:mod:`tfloss._engine`) is held to the NumPy path's
bits, NaN payloads and signed zeros included, and to the same error class and message.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import tfloss
from tfloss import _engine
from tfloss._machine import eigen_math as _eigen_math
from tfloss.conformance import catalogue
from tfloss.conformance.catalogue import present
from tfloss.conformance.functions import GRADIENT_FUNCTIONS, NN_FUNCTIONS, call_inputs, resolve, upstream_gradient

numba = pytest.importorskip("numba")
from tfloss._engine import _eigen, _float  # noqa: E402 - needs numba

BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(array):
    array = np.asarray(array)
    if array.dtype.kind == "f" or array.dtype == ml_dtypes.bfloat16:
        return array.view(BITS[array.dtype.itemsize])
    return array


@pytest.fixture
def engine():
    """Run a call under a chosen engine, restoring the selection afterwards."""
    before = _engine.get_engine()

    def run(name, call, *args, **kwargs):
        _engine.set_engine(name)
        try:
            return call(*args, **kwargs)
        finally:
            _engine.set_engine(before)

    return run


def _outcome(run, name, function, args, kwargs):
    try:
        return "value", run(name, function, *args, **kwargs)
    except Exception as error:  # noqa: BLE001 - errors are outcomes to compare
        return "error", (type(error), str(error))


def _same(expected, actual) -> bool:
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(_same(expected[k], actual[k]) for k in expected)
    if isinstance(expected, tuple):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual))
    if expected is None or actual is None:
        return expected is None and actual is None
    expected, actual = np.asarray(expected), np.asarray(actual)
    return (expected.dtype == actual.dtype and expected.shape == actual.shape
            and np.array_equal(bits(expected), bits(actual)))


# --------------------------------------------------------------------------------------------
# 16-bit conversions and TF's math, element by element


@numba.njit
def _convert(f16_bits, bf16_bits, floats, widened_f16, widened_bf16, to_f16, to_bf16):
    for i in range(f16_bits.size):
        widened_f16[i] = _float.half_to_float(f16_bits[i])
        widened_bf16[i] = _float.bfloat_to_float(bf16_bits[i])
    for i in range(floats.size):
        to_f16[i] = _float.float_to_half(floats[i])
        to_bf16[i] = _float.float_to_bfloat(floats[i])


def test_16_bit_conversions_match_numpy_and_ml_dtypes():
    patterns = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    rng = np.random.default_rng(0)
    # every float32 exponent with mantissas at the rounding edges, plus random patterns
    exponents = np.arange(512, dtype=np.uint32) << np.uint32(23)
    mantissas = np.array([0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x7FFF, 0x8000, 0x8001,
                          0xFFFF, 0x10000, 0x400000, 0x7FFFFF, 0x7FE000, 0x7FF000], np.uint32)
    edges = (exponents[:, None] | mantissas[None, :]).ravel()
    floats = np.concatenate([edges, rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32)]).view(np.float32)
    out = [np.empty(patterns.size, np.float32), np.empty(patterns.size, np.float32),
           np.empty(floats.size, np.uint16), np.empty(floats.size, np.int16)]
    _convert(patterns, patterns.view(np.int16), floats, *out)
    with np.errstate(all="ignore"):
        assert np.array_equal(bits(out[0]), bits(patterns.view(np.float16).astype(np.float32)))
        assert np.array_equal(bits(out[1]), bits(patterns.view(ml_dtypes.bfloat16).astype(np.float32)))
        assert np.array_equal(out[2], bits(floats.astype(np.float16)))
        assert np.array_equal(out[3].view(np.uint16), bits(floats.astype(ml_dtypes.bfloat16)))


@numba.njit
def _ops_end(floats, as_f16, as_bf16, out_f16, out_bf16):
    for i in range(floats.size):
        out_f16[i] = _float.op(floats[i], as_f16)
        out_bf16[i] = _float.op(floats[i], as_bf16)


def test_op_end_flushes_and_rounds_like_numpy():
    """``op`` (the end of one TF op on 16-bit tensors) is flush-to-zero, then NumPy's (or
    ml_dtypes') rounding to 16 bits and back, NaN payloads included."""
    rng = np.random.default_rng(4)
    exponents = np.arange(512, dtype=np.uint32) << np.uint32(23)
    mantissas = np.array([0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x7FFF, 0x8000, 0x8001, 0xFFFF,
                          0x10000, 0x400000, 0x7FFFFF, 0x7FE000, 0x7FF000, 0x002000, 0x001FFF], np.uint32)
    patterns = np.concatenate([(exponents[:, None] | mantissas[None, :]).ravel(),
                               rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32)])
    floats = patterns.view(np.float32)
    out_f16, out_bf16 = np.empty_like(floats), np.empty_like(floats)
    _ops_end(floats, np.empty(0, np.uint16), np.empty(0, np.int16), out_f16, out_bf16)
    tiny = np.finfo(np.float32).tiny
    with np.errstate(all="ignore"):
        flushed = np.where(np.abs(floats) < tiny, np.copysign(np.float32(0), floats), floats)
        assert np.array_equal(bits(out_f16), bits(flushed.astype(np.float16).astype(np.float32)))
        assert np.array_equal(bits(out_bf16), bits(flushed.astype(ml_dtypes.bfloat16).astype(np.float32)))


@pytest.mark.parametrize("half", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_engine_cast_matches_astype(engine, half):
    """The casts around the softmax ops' float32 kernels: every 16-bit pattern, float32 rounding
    edges and random patterns, in a non-contiguous layout, against NumPy's / ml_dtypes' astype."""
    patterns = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(half).reshape(256, 256).T
    rng = np.random.default_rng(3)
    floats = rng.integers(0, 1 << 32, (512, 1024), dtype=np.uint64).astype(np.uint32).view(np.float32)
    floats[0, :32] = bits(np.array([0x7F800001, 0xFF800001, 0x7FC00001, 0x00000001, 0x80000001, 0x477FF000,
                                   0x477FEFFF, 0x387FC000, 0x33000000, 0x33000001, 0x7F7FFFFF, 0x3F808000,
                                   0x3F818000, 0x3F808001, 0x7F800000, 0xFF800000] * 2, np.uint32)).view(np.float32)
    with np.errstate(all="ignore"):
        for array, dtype in ((patterns, np.float32), (floats[:, ::2], half), (floats, half)):
            got = engine("numba", _engine.cast, array, np.dtype(dtype))
            want = array.astype(dtype)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(bits(got), bits(want))


@numba.njit
def _math(x, split, unrolled, out_exp, out_log, out_log1p):
    for i in range(x.size):
        out_exp[i] = _float.ftz(_eigen.exp(x[i], i < split))  # the flush is the caller's op()
        out_log[i] = _eigen.log(x[i], i < split)
        out_log1p[i] = _eigen.log1p(x[i], i < split, i < unrolled)


def test_exp_matches_eigen_math_on_every_float32_near_its_range_ends():
    # Every float32 in [-104, -86] (where Eigen's result turns subnormal and the flush zeroes it)
    # and in [86, 89] (where it reaches 2**128): the engine's one-product ldexp against Eigen's
    # four products, both flushed.
    low = np.arange(np.float32(-86.0).view(np.uint32), np.float32(-104.0).view(np.uint32) + 1, dtype=np.uint32)
    high = np.arange(np.float32(86.0).view(np.uint32), np.float32(89.0).view(np.uint32) + 1, dtype=np.uint32)
    x = np.concatenate([low, high]).view(np.float32)
    out = [np.empty_like(x) for _ in range(3)]
    with np.errstate(all="ignore"):
        _math(x, x.size, x.size, *out)
        expected = _eigen_math.exp(x)
    assert np.array_equal(bits(out[0]), bits(expected))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_log_log1p_match_eigen_math_on_both_paths(dtype):
    rng = np.random.default_rng(1)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1, -1, -2, 88.72, 88.73, -104, -103.9,
                709.78, 709.79, -745.5, -745.52, 1e-30, -0.5, -1.5,
                # where exp's result leaves the normal range (2**-126, 2**-1022) or reaches 2**128
                -87.33, -87.336, -87.34, -87.5, -88.0, -88.03, -88.7, 88.7228, 88.723, 88.7229,
                -708.39, -708.4, -708.5, -709.09, -744.44, 709.7827, 709.783]
    with np.errstate(all="ignore"):
        x = np.concatenate([rng.standard_normal(20000) * s for s in (1, 30, 300)]
                           + [np.exp(rng.uniform(-700, 700, 20000)), specials]).astype(dtype)
    x = _eigen_math._flush(x)
    payloads = {np.float32: [0x7FC12345, 0xFFA00001], np.float64: [0x7FF8000000012345, 0xFFF4000000000001]}[dtype]
    bits(x)[:2] = payloads
    n, packet = x.size, _eigen_math.PACKET_SIZE[x.dtype]
    for split in (n - n % packet, 0):  # the packet path for most, then the C library for all
        out = [np.empty_like(x) for _ in range(3)]
        _math(x, split, n - n % (4 * packet) if split else 0, *out)
        if split:
            expected = [_eigen_math.exp(x), _eigen_math.log(x), _eigen_math.log1p(x)]
        else:
            expected = [_eigen_math._flush(_eigen_math._scalar(name, x)) for name in ("exp", "log", "log1p")]
        for name, got, want in zip(("exp", "log", "log1p"), out, expected):
            assert np.array_equal(bits(got), bits(want)), f"{name} differs (split {split})"


# --------------------------------------------------------------------------------------------
# Every catalogue case, both engines


CASES = [c for c in catalogue.all_cases() if c.family in ("sigmoid", "weighted", "softmax", "sparse")]
_BY_FAMILY = {}
for _target in NN_FUNCTIONS:
    _BY_FAMILY.setdefault(_target.family, []).append(_target)


def _bind(function, kwargs):
    """tfloss's function; a grad_upstream's upstream gradient is shaped like tfloss's own loss."""
    if function.mode != "grad_upstream":
        return function.bind(tfloss)
    try:
        loss = resolve(tfloss, function.op_name)(**kwargs)
    except Exception:  # noqa: BLE001 - the op's own error is then what both engines give
        loss = None
    return function.bind(tfloss, upstream_gradient(function.op_name, loss))


def _replay(engine, case, targets):
    mismatches = []
    for target in targets:
        if case.only and target.name not in case.only:
            continue
        args, kwargs = call_inputs(case, target)
        function = _bind(target, kwargs)

        def call(*a, **k):
            return function(*[present(v, case.layout) for v in a],
                            **{n: present(v, case.layout) for n, v in k.items()})

        expected = _outcome(engine, "numpy", call, args, kwargs)
        actual = _outcome(engine, "numba", call, args, kwargs)
        if expected[0] != actual[0] or not (_same(expected[1], actual[1]) if expected[0] == "value"
                                             else expected[1] == actual[1]):
            mismatches.append(target.name)
    return mismatches


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_engine_matches_numpy_path_on_catalogue(engine, case):
    assert _replay(engine, case, _BY_FAMILY[case.family]) == []


# value_and_gradient and hessian_vector_product run the engine's kernels too (the softmax
# family's backprop, the sigmoid gradient): a random upstream gradient, and the HVP, on every
# case but the large ones (whose gradients the parity suite already compares with TF's).  With
# the default upstream gradient the softmax family keeps the forward kernel's backprop (as TF's
# tape keeps the op's second output): that path is replayed too.
_GRADIENT_BY_FAMILY = {}
for _target in GRADIENT_FUNCTIONS:
    if _target.name.startswith(("grad_upstream:", "hvp:")) or (
            _target.name.startswith("grad:") and _target.family in ("softmax", "sparse")):
        _GRADIENT_BY_FAMILY.setdefault(_target.family, []).append(_target)
GRADIENT_CASES = [c for c in CASES if c.group != "large"]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c.id for c in GRADIENT_CASES])
def test_engine_gradients_match_numpy_path_on_catalogue(engine, case):
    assert _replay(engine, case, _GRADIENT_BY_FAMILY[case.family]) == []


KEPT_CASES = [c for c in GRADIENT_CASES if c.family in ("softmax", "sparse")]


@pytest.mark.parametrize("case", KEPT_CASES, ids=[c.id for c in KEPT_CASES])
def test_kept_backprop_equals_the_backward_kernel_times_ones(engine, case):
    """The kept backprop stands for ``1 * backprop``: equal bits to an explicit upstream of ones,
    which runs the backward kernel again with the multiply (NaN payloads included)."""
    for name in ("numba", "numpy"):
        for target in _BY_FAMILY[case.family]:
            if case.only and target.name not in case.only:
                continue
            args, kwargs = call_inputs(case, target)
            kwargs = {n: present(v, case.layout) for n, v in kwargs.items()}
            op = target.bind(tfloss)
            kept = _outcome(engine, name, tfloss.value_and_gradient, (op, *args), kwargs)
            if kept[0] == "error":
                continue
            ones = np.ones(np.shape(kept[1][0]), kept[1][0].dtype)
            rerun = _outcome(engine, name, tfloss.value_and_gradient, (op, *args), {**kwargs, "grad_loss": ones})
            assert rerun[0] == "value" and _same(kept[1], rerun[1]), (name, target.name)


def test_catalogue_replay_covers_every_op_and_dtype():
    covered = {(c.family, c.dtype) for c in CASES if c.group in ("values", "large")}
    for family in ("sigmoid", "weighted", "softmax", "sparse"):
        for dtype in catalogue.DTYPES:
            assert (family, dtype) in covered
    assert any(c.group == "large" for c in CASES)


# The softmax ops' 16-bit inputs read widened inside the float32 kernel (large calls, see
# _engine.widens_in_kernel), here on every small catalogue case too: the NumPy path's bits.
WIDENED_CASES = [c for c in CASES if c.family in ("softmax", "sparse") and c.dtype in ("float16", "bfloat16")]


@pytest.mark.parametrize("case", WIDENED_CASES, ids=[c.id for c in WIDENED_CASES])
def test_16_bit_inputs_read_widened_in_the_kernel_give_the_casts_bits(engine, monkeypatch, case):
    monkeypatch.setattr(_engine, "WIDEN_IN_KERNEL_MIN_ELEMENTS", 1)
    assert _replay(engine, case, [t for t in _BY_FAMILY[case.family] if not t.mode]) == []


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_large_16_bit_softmax_ops_make_no_float32_copy(dtype):
    """TF's wrapper casts 16-bit inputs to float32; the engine reads them widened instead, so a
    call allocates about its output, not twice its inputs (a copy would be 4 MiB here)."""
    import tracemalloc

    rng = np.random.default_rng(5)
    shape = (1024, _engine.WIDEN_IN_KERNEL_MIN_ELEMENTS // 1024)
    logits, labels = rng.standard_normal(shape).astype(dtype), rng.random(shape).astype(dtype)
    indices = rng.integers(0, shape[1], shape[0])
    calls = [lambda: tfloss.nn.softmax_cross_entropy_with_logits(labels, logits)]
    if dtype == np.float16:  # bfloat16's sparse kernel runs in bfloat16: nothing is cast
        calls.append(lambda: tfloss.nn.sparse_softmax_cross_entropy_with_logits(indices, logits))
    for call in calls:
        call()  # compiled, and the thread pool started
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 256 * 1024, peak


# --------------------------------------------------------------------------------------------
# The selection


def test_engine_selection(monkeypatch):
    before = _engine.get_engine()
    try:
        _engine.set_engine("numpy")
        assert _engine.get_engine() == "numpy"
        _engine.set_engine("numba")
        assert _engine.get_engine() == "numba"
        with pytest.raises(ValueError, match="engine must be one of numba, numpy"):
            _engine.set_engine("fast")
        monkeypatch.setattr(_engine, "_selected", None)
        monkeypatch.setenv("TFLOSS_ENGINE", "numpy")
        assert _engine.get_engine() == "numpy"
        monkeypatch.setattr(_engine, "_selected", None)
        monkeypatch.setenv("TFLOSS_ENGINE", "bogus")
        with pytest.raises(ValueError, match="TFLOSS_ENGINE must be one of numba, numpy; got 'bogus'"):
            _engine.get_engine()
    finally:
        _engine.set_engine(before)


def test_thread_count_does_not_change_the_bits(engine):
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((300, 700)) * 10).astype(np.float32)
    labels = rng.random((300, 700)).astype(np.float32)
    results = []
    for threads in (1, 0):
        _engine.set_num_threads(threads)
        try:
            results.append(engine("numba", tfloss.nn.sigmoid_cross_entropy_with_logits, labels=labels, logits=logits))
            results.append(engine("numba", tfloss.nn.softmax_cross_entropy_with_logits, labels=labels, logits=logits))
        finally:
            _engine.set_num_threads(0)
    assert _same(tuple(results[:2]), tuple(results[2:]))
    with pytest.raises(ValueError, match="non-negative int"):
        _engine.set_num_threads(-1)


def _threaded_sigmoid_in_a_child(labels, logits):
    return tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def test_the_threads_start_again_in_a_forked_child():
    # The pool's threads do not exist in a child: without a new pool there the call would hang.
    import multiprocessing

    rng = np.random.default_rng(3)
    logits = rng.standard_normal((256, 1024)).astype(np.float32)
    labels = rng.random((256, 1024)).astype(np.float32)
    before = _engine.get_engine()
    _engine.set_engine("numba")
    _engine.set_num_threads(2)
    try:
        here = tfloss.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        assert _engine._pool is not None  # the call ran on the pool
        with multiprocessing.get_context("fork").Pool(1) as pool:
            there = pool.apply_async(_threaded_sigmoid_in_a_child, (labels, logits)).get(timeout=120)
    finally:
        _engine.set_num_threads(0)
        _engine.set_engine(before)
    assert _same(here, there)


# --- the small sparse call: one compiled call, the full path's bits ---------------------------

def _small_sparse_inputs():
    rng = np.random.default_rng(7)
    special = np.array([[np.inf, np.nan, np.inf], [-np.inf, 0.0, 1.0], [1e30, -1e30, 0.0], [np.nan, 1.0, 2.0]])
    for dtype in (np.float32, np.float64):
        for label_dtype in (np.int32, np.int64):
            yield rng.integers(0, 10, 32).astype(label_dtype), rng.standard_normal((32, 10)).astype(dtype) * 20
            yield np.array([2, 0, 1, 1], label_dtype), special.astype(dtype)
            yield np.array([5], label_dtype), rng.standard_normal((1, 1001)).astype(dtype)


def test_small_sparse_call_takes_one_compiled_call_with_the_full_paths_bits():
    from tfloss._frontend import wrappers

    for labels, logits in _small_sparse_inputs():
        before = (labels.copy(), logits.copy())
        small = _engine.small_sparse_softmax_cross_entropy(labels, logits)
        assert small is not None
        full = wrappers._sparse_softmax_cross_entropy_with_logits(labels, logits)
        public = tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        assert small.dtype == full.dtype == logits.dtype and small.shape == full.shape == labels.shape
        assert np.array_equal(bits(small), bits(full)) and np.array_equal(bits(public), bits(full))
        assert labels.flags.writeable and logits.flags.writeable  # the caller's arrays are left as they were
        assert np.array_equal(labels, before[0]) and np.array_equal(bits(logits), bits(before[1]))


def test_small_sparse_call_leaves_everything_else_to_the_full_path(engine):
    labels, logits = np.array([0, 1], np.int32), np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    assert _engine.small_sparse_softmax_cross_entropy(labels, logits) is not None
    others = [
        (labels.tolist(), logits),  # a list: converted first
        (labels, logits.astype(np.float16)),  # widened to float32 first
        (labels.astype(np.uint8), logits),  # a label dtype TF rejects
        (labels, np.asfortranarray(np.ones((2, 3), np.float32))[:, :2]),  # not C-contiguous
        (labels.reshape(2, 1), logits.reshape(2, 1, 2)),  # rank 3: flattened first
        (labels[:1], logits),  # one label short
        (np.array([0, 2], np.int64), logits),  # a label out of range: TF's error
        (np.array([0, -1], np.int32), logits),
        (labels, logits.astype(">f4")),  # big-endian
    ]
    for other in others:
        assert _engine.small_sparse_softmax_cross_entropy(*other) is None
    with _engine.keeping_backprop():  # the tape keeps the backprop: the full kernel runs
        assert _engine.small_sparse_softmax_cross_entropy(labels, logits) is None
    assert engine("numpy", _engine.small_sparse_softmax_cross_entropy, labels, logits) is None


def test_small_sparse_call_with_a_bad_label_raises_tfs_error():
    logits = np.zeros((3, 4), np.float32)
    with pytest.raises(tfloss.errors.InvalidArgumentError, match=r"Received a label value of 4 which is outside the valid range of \[0, 4\)"):
        tfloss.nn.sparse_softmax_cross_entropy_with_logits(labels=np.array([0, 4, 1], np.int64), logits=logits)
