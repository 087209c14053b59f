"""tfloss.conformance: check any implementation of TF's cross-entropy ops against TF's behaviour.

Without TensorFlow: the cases, TF 2.21's recorded outcome of each, and the rules that judge an
implementation's outcome against TF's ship inside tfloss.  ``python -m tfloss.conformance`` (or
``tfloss-conformance``) replays them against tfloss or any implementation (``--impl``); see
``docs/conformance.md``.

* :mod:`~tfloss.conformance.catalogue` - the cases, as data, and the runs' stable ids;
* :mod:`~tfloss.conformance.functions` - the public functions, their arguments and term magnitudes;
* :mod:`~tfloss.conformance.compare` - outcomes, ULPs, special-value patterns, the bound, judging;
* :mod:`~tfloss.conformance.declared` - tfloss's declared differences from TF, each with its reason;
* :mod:`~tfloss.conformance.golden` - TF's recorded results (``make golden``);
* :mod:`~tfloss.conformance.impls` - the implementations under test (``--impl``);
* :mod:`~tfloss.conformance.peers` - adapters for PyTorch, JAX/Optax and Keras 3 (imported on demand);
* :mod:`~tfloss.conformance.check` - running and classifying, expectations (``--expect``);
* :mod:`~tfloss.conformance.report` - the summary, JSON, Markdown and baseline diff;
* :mod:`~tfloss.conformance.cli` - the command line;
* :mod:`~tfloss.conformance.strategies` - hypothesis strategies for drawing more cases (needs hypothesis);
* :mod:`~tfloss.conformance.tensorflow` - the TF side (imports TensorFlow only when used).

Only tfloss's public API is used (``tfloss.nn``, ``tfloss.compat.v1.nn``, ``tfloss.errors``,
``tfloss.value_and_gradient`` ...), so the checker treats tfloss like any other implementation.
"""


def run_checks(implementation="tfloss", *, ops=(), dtypes=(), cases=(), against="golden"):
    """Check an implementation from Python; returns one :class:`~tfloss.conformance.check.Result` per run.

    Parameters
    ----------
    implementation : str or object
        What ``--impl`` takes (``"tfloss"``, ``"MODULE:OBJECT"`` ...), an
        :class:`~tfloss.conformance.impls.Implementation`, or any object laid out like ``tfloss``
        (``obj.nn.sigmoid_cross_entropy_with_logits`` ...).
    ops, dtypes, cases : sequence of str
        The selection, as ``--ops``, ``--dtypes`` and ``--cases`` take it.
    against : str
        ``"golden"`` (TF's recorded results), ``"tfloss"`` or ``"tensorflow"``.
    """
    from . import check, golden, impls
    from .catalogue import runs as catalogue_runs

    if isinstance(implementation, str):
        impl = impls.load(implementation)
    elif isinstance(implementation, impls.Implementation):
        impl = implementation
    else:
        impl = impls.Implementation(type(implementation).__name__, implementation)
    all_runs = catalogue_runs()
    reference = (check.GoldenReference(golden.load(all_runs)) if against == "golden"
                 else check.LiveReference(impls.load(against)))
    checker = check.Checker(impl, reference, check.op_run_index(all_runs))
    return [checker.check(run) for run in check.select(all_runs, list(ops), list(dtypes), list(cases))]
