"""Error classes and messages: TF's class, TF's text (the part a user would search for).

Source of every message: /work/shared/tf-behaviour.md (TF 2.21 source and runs), section given
next to each case. Messages are matched as substrings (TF's eager prefix is not required).
"""

import re

import numpy as np
import pytest

import tfloss
from tfloss.errors import InvalidArgumentError, OpError

nn = tfloss.nn
v1 = tfloss.compat.v1.nn


def raises(cls, message):
    return pytest.raises(cls, match=re.escape(message))


# --------------------------------------------------------------------------- error classes

def test_invalid_argument_error_is_an_op_error():
    assert issubclass(OpError, Exception)
    assert issubclass(InvalidArgumentError, OpError)


def test_every_error_class_derives_from_op_error():
    classes = [getattr(tfloss.errors, name) for name in dir(tfloss.errors)
               if name.endswith("Error") and isinstance(getattr(tfloss.errors, name), type)]
    assert InvalidArgumentError in classes
    for cls in classes:
        assert issubclass(cls, OpError), cls


# Canonical error codes (tensorflow/core/protobuf/error_codes.proto = absl::StatusCode).
ERROR_CODES = {
    "CancelledError": 1, "UnknownError": 2, "InvalidArgumentError": 3,
    "DeadlineExceededError": 4, "NotFoundError": 5, "AlreadyExistsError": 6,
    "PermissionDeniedError": 7, "ResourceExhaustedError": 8, "FailedPreconditionError": 9,
    "AbortedError": 10, "OutOfRangeError": 11, "UnimplementedError": 12, "InternalError": 13,
    "UnavailableError": 14, "DataLossError": 15, "UnauthenticatedError": 16,
}


def test_error_codes_are_tfs():
    assert tfloss.errors.INVALID_ARGUMENT == 3
    with pytest.raises(InvalidArgumentError) as info:
        nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=np.zeros((2, 3)))
    assert info.value.error_code == 3
    for name, code in ERROR_CODES.items():
        cls = getattr(tfloss.errors, name, None)
        if cls is not None:
            assert cls(None, None, "m").error_code == code, name


def test_op_error_carries_its_message_like_tf():
    # tf.errors.OpError exposes .message (the text) like TF.
    with pytest.raises(InvalidArgumentError) as info:
        nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=np.zeros((2, 3)))
    assert "Received a label value of 3" in info.value.message


# --------------------------------------------------------------------------- sigmoid / weighted

@pytest.mark.parametrize("fn", [
    lambda labels, logits: nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
    lambda labels, logits: nn.weighted_cross_entropy_with_logits(labels=labels, logits=logits,
                                                                 pos_weight=2.0),
], ids=["sigmoid", "weighted"])
@pytest.mark.parametrize("logits_shape, labels_shape", [((3,), (1,)), ((3,), ()), ((2, 3), (3,))])
def test_elementwise_shapes_must_match(fn, logits_shape, labels_shape):
    # tf-behaviour.md 2.4: static shape check, logits shape printed first.
    message = (f"`logits` and `labels` must have the same shape, "
               f"received ({logits_shape} vs {labels_shape}).")
    with raises(ValueError, message):
        fn(np.zeros(labels_shape, np.float32), np.zeros(logits_shape, np.float32))


def test_sigmoid_int_labels_with_float_logits():
    # tf-behaviour.md 2.3: no casting; the first mixed op is Mul(logits, labels).
    with raises(InvalidArgumentError, "cannot compute Mul as input #1(zero-based) was expected "
                                      "to be a float tensor but is a int32 tensor"):
        nn.sigmoid_cross_entropy_with_logits(labels=[0, 1], logits=[0.5, 0.5])


def test_sigmoid_float32_labels_with_float64_logits():
    with raises(InvalidArgumentError, "cannot compute Mul as input #1(zero-based) was expected "
                                      "to be a double tensor but is a float tensor"):
        nn.sigmoid_cross_entropy_with_logits(labels=np.zeros(2, np.float32),
                                             logits=np.zeros(2, np.float64))


def test_sigmoid_int_logits_and_labels():
    with raises(InvalidArgumentError, "Value for attr 'T' of int32 is not in the list of allowed "
                                      "values: bfloat16, half, float, double, complex64, "
                                      "complex128"):
        nn.sigmoid_cross_entropy_with_logits(labels=[0, 1], logits=[1, 2])


def test_sigmoid_complex_logits():
    # tf-behaviour.md 2.3: complex -> InvalidArgumentError (from GreaterEqual).
    with pytest.raises(InvalidArgumentError):
        nn.sigmoid_cross_entropy_with_logits(labels=np.zeros(2, np.complex64),
                                             logits=np.zeros(2, np.complex64))


@pytest.mark.parametrize("fn_name", ["sigmoid_cross_entropy_with_logits",
                                     "sparse_softmax_cross_entropy_with_logits"])
def test_missing_labels(fn_name):
    # tf-behaviour.md 1.1 (TF 2.12+ text, no separator before "Received").
    logits = [0.0, 1.0]
    message = (f"Both `labels` and `logits` must be provided for {fn_name}"
               f"Received: labels=None and logits={logits}")
    with raises(ValueError, message):
        getattr(nn, fn_name)(labels=None, logits=logits)


def test_missing_logits():
    labels = [0.0, 1.0]
    message = ("Both `labels` and `logits` must be provided for "
               f"sigmoid_cross_entropy_with_logitsReceived: labels={labels} and logits=None")
    with raises(ValueError, message):
        nn.sigmoid_cross_entropy_with_logits(labels=labels)


def test_weighted_missing_labels():
    # tf-behaviour.md 3.1: weighted has no _ensure_xent_args; conversion of None fails.
    with raises(ValueError, "Attempt to convert a value (None) with an unsupported type "
                            "(<class 'NoneType'>) to a Tensor."):
        nn.weighted_cross_entropy_with_logits(labels=None, logits=[0.0], pos_weight=2.0)


def test_weighted_missing_pos_weight():
    with raises(TypeError, "unsupported operand type(s) for -: 'NoneType' and 'int'"):
        v1.weighted_cross_entropy_with_logits(labels=[1.0], logits=[0.0])


def test_weighted_int_labels_with_python_float_pos_weight():
    # tf-behaviour.md 3.2: (pos_weight - 1) = 0.0 meets int32 labels.
    with raises(TypeError, "Cannot convert 0.0 to EagerTensor of dtype int32"):
        nn.weighted_cross_entropy_with_logits(labels=[0, 1], logits=[0.5, 0.5], pos_weight=1.0)


# --------------------------------------------------------------------------- softmax

def test_softmax_class_dimension_mismatch():
    # tf-behaviour.md 4.5 (eager text).
    with raises(InvalidArgumentError, "logits and labels must be broadcastable: "
                                      "logits_size=[2,4] labels_size=[2,3]"):
        nn.softmax_cross_entropy_with_logits(labels=np.zeros((2, 3), np.float32),
                                             logits=np.zeros((2, 4), np.float32))


def test_softmax_rank3_labels_broadcast_only_after_flattening():
    # tf-behaviour.md 4.5: labels [1,3,4] vs logits [2,3,4] flatten to [3,4] vs [6,4].
    with raises(InvalidArgumentError, "logits and labels must be broadcastable: "
                                      "logits_size=[6,4] labels_size=[3,4]"):
        nn.softmax_cross_entropy_with_logits(labels=np.zeros((1, 3, 4), np.float32),
                                             logits=np.zeros((2, 3, 4), np.float32))


def test_softmax_labels_with_more_rows_than_logits():
    # tf-behaviour.md 4.5: labels [B,C] with logits [1,C] -> reshape error.
    with raises(InvalidArgumentError, "Input to reshape is a tensor with 2 values, "
                                      "but the requested shape has 1"):
        nn.softmax_cross_entropy_with_logits(labels=np.zeros((2, 3), np.float32),
                                             logits=np.zeros((1, 3), np.float32))


def test_softmax_scalar_logits():
    # tf-behaviour.md 4.5: rank 0 -> Slice error in eager mode.
    with raises(InvalidArgumentError, "Expected begin[0] == 0 (got -1) and size[0] == 0 (got 1) "
                                      "when input.dim_size(0) == 0"):
        nn.softmax_cross_entropy_with_logits(labels=1.0, logits=1.0)


@pytest.mark.parametrize("axis, rank, text", [
    (-2, 2, "0/-2"), (-2, 3, "0/-2"), (3, 3, "4/3")])
def test_softmax_negative_or_out_of_range_axis(axis, rank, text):
    # tf-behaviour.md 4.5: TF's _move_dim_to_end does not normalise negative axes.
    shape = (2, 3, 4)[:rank]
    with raises(InvalidArgumentError, f"Requires start <= limit when delta > 0: {text}"):
        nn.softmax_cross_entropy_with_logits(labels=np.zeros(shape, np.float32),
                                             logits=np.zeros(shape, np.float32), axis=axis)


@pytest.mark.parametrize("logits, type_name", [
    ([[1, 2]], "int32"), (np.array([[1, 2]], np.int64), "int64")])
def test_softmax_integer_logits(logits, type_name):
    with raises(InvalidArgumentError, f"Value for attr 'T' of {type_name} is not in the list of "
                                      "allowed values: half, bfloat16, float, double"):
        nn.softmax_cross_entropy_with_logits(labels=[[0.0, 1.0]], logits=logits)


def test_softmax_v2_missing_labels():
    # tf-behaviour.md 1.1: the v2 softmax path does not call _ensure_xent_args.
    with raises(ValueError, "Attempt to convert a value (None) with an unsupported type "
                            "(<class 'NoneType'>) to a Tensor."):
        nn.softmax_cross_entropy_with_logits(labels=None, logits=[[0.0, 1.0]])


def test_softmax_v1_missing_labels():
    logits = [[0.0, 1.0]]
    with raises(ValueError, "Both `labels` and `logits` must be provided for "
                            f"softmax_cross_entropy_with_logitsReceived: labels=None and "
                            f"logits={logits}"):
        v1.softmax_cross_entropy_with_logits(labels=None, logits=logits)


# --------------------------------------------------------------------------- sparse

@pytest.mark.parametrize("labels, bad, listed", [
    ([0, 3], 3, "0 3"),
    ([2, -1, 5], -1, "2 -1 5"),    # the minimum is reported if any label is negative
    ([4, 1], 4, "4 1"),
])
def test_sparse_label_out_of_range(labels, bad, listed):
    # tf-behaviour.md 5.6 (CPU): two spaces before "Label values"; all labels listed.
    message = (f"Received a label value of {bad} which is outside the valid range of [0, 3).  "
               f"Label values: {listed}")
    with raises(InvalidArgumentError, message):
        nn.sparse_softmax_cross_entropy_with_logits(
            labels=np.array(labels), logits=np.zeros((len(labels), 3), np.float32))


def test_sparse_label_out_of_range_in_higher_rank():
    message = "Received a label value of 7 which is outside the valid range of [0, 3)."
    with raises(InvalidArgumentError, message):
        nn.sparse_softmax_cross_entropy_with_logits(
            labels=np.array([[0, 1], [7, 2]]), logits=np.zeros((2, 2, 3), np.float32))


def test_sparse_zero_classes():
    with raises(InvalidArgumentError, "Must have at least one class, but got logits shape [2,0]"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=np.zeros(2, np.int32),
                                                    logits=np.zeros((2, 0), np.float32))


def test_sparse_scalar_logits():
    with raises(ValueError, "`logits` cannot be a scalar. Received logits="):
        nn.sparse_softmax_cross_entropy_with_logits(labels=0, logits=1.0)


def test_sparse_rank_mismatch():
    with raises(ValueError, "`labels.shape.rank` must equal `logits.shape.rank - 1`. Received: "
                            "labels.shape=(1,) of rank 1 and logits.shape=(3,) of rank 1"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=[1], logits=[0.0, 1.0, 2.0])


def test_sparse_shape_mismatch():
    with raises(ValueError, "`labels.shape` must equal `logits.shape` except for the last "
                            "dimension. Received: labels.shape=(3,) and logits.shape=(2, 3)"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1, 2], logits=np.zeros((2, 3)))


@pytest.mark.parametrize("labels, type_name", [
    (np.array([0.0, 1.0], np.float32), "float"),
    (np.array([0.0, 1.0], np.float64), "double"),
    (np.array([0, 1], np.uint8), "uint8"),
    (np.array([0, 1], np.int16), "int16"),
])
def test_sparse_label_dtype(labels, type_name):
    # tf-behaviour.md 5.4: only int32/int64 labels, no casting.
    with raises(InvalidArgumentError, f"Value for attr 'Tlabels' of {type_name} is not in the "
                                      "list of allowed values: int32, int64"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                    logits=np.zeros((2, 3), np.float32))


def test_sparse_integer_logits():
    with raises(InvalidArgumentError, "Value for attr 'T' of int32 is not in the list of allowed "
                                      "values: half, bfloat16, float, double"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=[[1, 2]])


# --------------------------------------------------------------------------- conversion

def test_ragged_python_list_is_rejected():
    # tf.convert_to_tensor's text for non-rectangular sequences.
    with raises(ValueError, "Can't convert non-rectangular Python sequence to Tensor."):
        nn.sigmoid_cross_entropy_with_logits(labels=[[0.0, 1.0], [1.0]],
                                             logits=[[0.0, 1.0], [1.0]])
