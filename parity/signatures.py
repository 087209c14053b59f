"""Signature parity: ``inspect.signature`` of tfloss against the installed TF.

``tfloss.nn.X`` must show exactly ``tf.nn.X``'s signature, and
``tfloss.compat.v1.nn.X`` exactly ``tf.compat.v1.nn.X``'s, except for the
parameters declared in :data:`tfloss.conformance.declared.SIGNATURE_EXTRAS` (``_sentinel``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import tensorflow

import tfloss
from tfloss.conformance import declared
from tfloss.conformance import tensorflow as tfref
from tfloss.conformance.functions import NN_NAMES, resolve


#: TF1's documented compat.v1 signatures (TF 2.10/2.11, the last releases with ``_sentinel``).
TF1_DOCUMENTED = {
    "compat.v1.nn.sigmoid_cross_entropy_with_logits": "(_sentinel=None, labels=None, logits=None, name=None)",
    "compat.v1.nn.weighted_cross_entropy_with_logits":
        "(labels=None, logits=None, pos_weight=None, name=None, targets=None)",
    "compat.v1.nn.softmax_cross_entropy_with_logits":
        "(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None)",
    "compat.v1.nn.softmax_cross_entropy_with_logits_v2": "(labels, logits, axis=None, name=None, dim=None)",
    "compat.v1.nn.sparse_softmax_cross_entropy_with_logits": "(_sentinel=None, labels=None, logits=None, name=None)",
}


@dataclass
class SignatureCheck:
    """Result for one public function."""

    name: str
    status: str  # pass | fail | declared | release | skip
    tf_signature: str
    tfloss_signature: str
    detail: str = ""

    def to_json(self) -> dict:
        """Plain-data form."""
        return dict(self.__dict__)


def expected_signature(name: str) -> inspect.Signature:
    """TF's signature with tfloss's declared extra parameters added."""
    sig = inspect.signature(resolve(tensorflow, name))
    extra = declared.SIGNATURE_EXTRAS.get(name)
    if extra is None:
        return sig
    param = inspect.Parameter(extra[0], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=extra[1])
    return sig.replace(parameters=[param, *sig.parameters.values()])


def check_signature(name: str) -> SignatureCheck:
    """Compare one function's signature."""
    tf_sig = inspect.signature(resolve("tensorflow", name))
    try:
        ours = inspect.signature(resolve(tfloss, name))
    except AttributeError as exc:
        return SignatureCheck(name, "skip", str(tf_sig), "-", f"tfloss lacks it ({exc})")
    want = expected_signature(name)
    documented = TF1_DOCUMENTED.get(name)
    if documented is not None and str(ours) != documented:
        return SignatureCheck(name, "fail", str(tf_sig), str(ours), f"TF1 documents {documented}")
    if str(ours) == str(tf_sig):
        if want is tf_sig or str(want) == str(tf_sig):
            return SignatureCheck(name, "pass", str(tf_sig), str(ours))
        return SignatureCheck(name, "fail", str(tf_sig), str(ours),
                              f"declared {declared.SIGNATURE_EXTRAS[name][0]} is missing")
    if str(ours) == str(want):
        return SignatureCheck(name, "declared", str(tf_sig), str(ours), "compat-v1-sentinel")
    status = "fail" if tfref.is_target_release() else "release"
    return SignatureCheck(name, status, str(tf_sig), str(ours), f"expected {want}")


def check_all() -> list:
    """Signature checks for every tf.nn / compat.v1.nn function tfloss mirrors."""
    return [check_signature(name) for name in NN_NAMES]
