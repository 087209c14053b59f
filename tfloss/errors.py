"""Exception classes mirroring ``tf.errors``.

TensorFlow raises :class:`OpError` subclasses when a kernel rejects its inputs at run time
(``tf.errors.InvalidArgumentError`` for an out-of-range sparse label, say).  tfloss raises the
class of the same name with the same message, so ``except tf.errors.InvalidArgumentError`` code
ports by changing only the import.  Where TensorFlow raises a built-in ``ValueError`` or
``TypeError``, tfloss raises that same built-in.

Examples
--------
>>> import tfloss as tf
>>> try:
...     tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[3], logits=[[0.0, 1.0, 2.0]])
... except tf.errors.InvalidArgumentError as e:
...     print(e.message.split(" [Op:")[0])
Received a label value of 3 which is outside the valid range of [0, 3).  Label values: 3
"""

from __future__ import annotations

# Status codes, numbered as in TensorFlow's error_codes.proto.
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16


class OpError(Exception):
    """An operation rejected its inputs; the base of every error below.

    Parameters
    ----------
    node_def, op
        Kept for signature compatibility with ``tf.errors.OpError``; tfloss has no graph, so
        both are ``None``.
    message : str
        TensorFlow's message text (without the ``{{function_node ...}}`` prefix of eager mode).
    error_code : int
        The status code, as in ``tf.errors``.
    """

    def __init__(self, node_def, op, message, error_code=UNKNOWN, *args):
        super().__init__(message, *args)
        self._node_def = node_def
        self._op = op
        self._message = message
        self._error_code = error_code

    @property
    def message(self) -> str:
        return self._message

    @property
    def op(self):
        return self._op

    @property
    def node_def(self):
        return self._node_def

    @property
    def error_code(self) -> int:
        return self._error_code

    def __str__(self) -> str:
        return self._message


def _error_class(name: str, code: int, doc: str) -> type:
    def __init__(self, node_def, op, message, *args):
        OpError.__init__(self, node_def, op, message, code, *args)

    return type(name, (OpError,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


CancelledError = _error_class("CancelledError", CANCELLED, "An operation was cancelled.")
UnknownError = _error_class("UnknownError", UNKNOWN, "An unknown error occurred.")
InvalidArgumentError = _error_class(
    "InvalidArgumentError", INVALID_ARGUMENT, "An operation received an invalid argument."
)
DeadlineExceededError = _error_class(
    "DeadlineExceededError", DEADLINE_EXCEEDED, "A deadline expired before the operation finished."
)
NotFoundError = _error_class("NotFoundError", NOT_FOUND, "A requested entity was not found.")
AlreadyExistsError = _error_class(
    "AlreadyExistsError", ALREADY_EXISTS, "An entity that an operation tried to create exists."
)
PermissionDeniedError = _error_class(
    "PermissionDeniedError", PERMISSION_DENIED, "The caller may not run the operation."
)
UnauthenticatedError = _error_class(
    "UnauthenticatedError", UNAUTHENTICATED, "The request has no valid credentials."
)
ResourceExhaustedError = _error_class(
    "ResourceExhaustedError", RESOURCE_EXHAUSTED, "Some resource has been exhausted."
)
FailedPreconditionError = _error_class(
    "FailedPreconditionError", FAILED_PRECONDITION, "The system is not in a state to run the operation."
)
AbortedError = _error_class("AbortedError", ABORTED, "The operation was aborted.")
OutOfRangeError = _error_class("OutOfRangeError", OUT_OF_RANGE, "An operation went past the valid range.")
UnimplementedError = _error_class(
    "UnimplementedError", UNIMPLEMENTED, "The operation is not implemented for these inputs."
)
InternalError = _error_class("InternalError", INTERNAL, "An internal invariant was broken.")
UnavailableError = _error_class("UnavailableError", UNAVAILABLE, "The runtime is unavailable.")
DataLossError = _error_class("DataLossError", DATA_LOSS, "Unrecoverable data loss or corruption.")

__all__ = [
    "OpError",
    "CancelledError",
    "UnknownError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "AbortedError",
    "OutOfRangeError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "DataLossError",
]
